//! Persistence: one [`Store`] over SQLite (the embedded default) or PostgreSQL.
//!
//! Both engines run the same SQL (`$n` placeholders, `ON CONFLICT … DO UPDATE`, which both speak),
//! so each query is written once; only connecting and the migration folders differ. The contract
//! test suite in `tests/store_contract.rs` runs every operation against both engines.

use std::{
    path::Path,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use model::ids::UserId;
use secrecy::ExposeSecret;
use sqlx::{
    PgPool, Row, SqlitePool,
    migrate::MigrateError,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};

use crate::config::DatabaseConfig;

/// How long a request waits for a pooled connection before the store reports an error.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors from the store. The variants keep their sources: what a client may see is decided once,
/// at the wire boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file's folder could not be created.
    #[error("cannot create the folder for the SQLite database {path}")]
    CreateDir {
        /// The folder.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be reached or opened.
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("cannot apply the database migrations")]
    Migrate(#[from] MigrateError),
    /// A query failed.
    #[error("database query failed")]
    Query(#[from] sqlx::Error),
    /// A row held a value the schema forbids (for example a malformed snowflake).
    #[error("corrupt row in {table}: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// A Discord user as the app remembers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Discord's id.
    pub id: UserId,
    /// The unique username.
    pub username: String,
    /// The display name, when the user set one.
    pub global_name: Option<String>,
    /// The avatar hash, when the user has one.
    pub avatar: Option<String>,
}

/// The database handle: a connection pool, cheap to clone.
#[derive(Debug, Clone)]
pub enum Store {
    /// The embedded default.
    Sqlite(SqlitePool),
    /// For multi-instance deployments.
    Postgres(PgPool),
}

/// Runs the same expression against whichever pool the store holds.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

mod gateway;
mod intents;
mod rooms;
mod table;

pub use gateway::GatewaySessionRecord;
pub use intents::{CreatedChannel, IntentRecord};
pub use rooms::{
    Admission, CloseReason, ClosedRoom, Idleness, InviteRecord, PlayerRecord, RemovalRecord, RoomRecord,
};
pub use table::{NewChange, TotalsChange};

impl Store {
    /// Connects (creating the SQLite file and its folder on first run) and applies the migrations.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let store = match config {
            DatabaseConfig::Sqlite { path } => Self::Sqlite(open_sqlite(path).await?),
            DatabaseConfig::Postgres { url } => Self::Postgres(
                PgPoolOptions::new()
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(url.expose_secret())
                    .await
                    .map_err(StoreError::Connect)?,
            ),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Brings the schema up to date; safe to run on every start.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Self::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// The engine's name, for logs and health.
    pub fn engine(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Checks that the database answers a query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Inserts the user, or refreshes their profile when they are already known.
    pub async fn upsert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO users (id, username, global_name, avatar, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (id) DO UPDATE SET username = excluded.username, \
             global_name = excluded.global_name, avatar = excluded.avatar, updated_at = excluded.updated_at";
        let now = unix_millis();
        on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(user.id.to_string())
                .bind(&user.username)
                .bind(&user.global_name)
                .bind(&user.avatar)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The user with this id, if they ever signed in.
    pub async fn user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        const SQL: &str = "SELECT id, username, global_name, avatar FROM users WHERE id = $1";
        let row = on_pool!(self, pool => {
            let row = sqlx::query(SQL).bind(id.to_string()).fetch_optional(pool).await?;
            row.map(|row| user_from_row(&row)).transpose()?
        });
        Ok(row)
    }

    /// Closes every pooled connection; used at shutdown so SQLite checkpoints its WAL.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}

/// Decodes a `users` row from either engine.
fn user_from_row<R>(row: &R) -> Result<UserRecord, StoreError>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database>,
{
    let id: String = row.try_get("id")?;
    Ok(UserRecord {
        id: id.parse().map_err(|err| StoreError::Corrupt {
            table: "users",
            reason: format!("id {err}"),
        })?,
        username: row.try_get("username")?,
        global_name: row.try_get("global_name")?,
        avatar: row.try_get("avatar")?,
    })
}

async fn open_sqlite(path: &Path) -> Result<SqlitePool, StoreError> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        // WAL lets readers (health checks, page loads) proceed while a write is in flight.
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(ACQUIRE_TIMEOUT);
    SqlitePoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(StoreError::Connect)
}

/// Now, in the unix milliseconds every table stores.
pub fn unix_millis() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}
