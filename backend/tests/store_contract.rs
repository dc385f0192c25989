//! The store contract: every operation behaves the same on SQLite and on PostgreSQL.
//!
//! Each test gets a fresh database: a SQLite file in a temporary folder, or a uniquely named
//! PostgreSQL database on the server named by `TEST_POSTGRES_URL` (default: the local one, as
//! `scripts/test` starts it). PostgreSQL being absent is a failure, not a skip: a contract that
//! silently runs on one engine proves nothing about the other.

#![allow(clippy::unwrap_used, reason = "a failed unwrap in a test is the assertion")]

use std::path::PathBuf;

use backend::{Store, config::DatabaseConfig, store::UserRecord};
use model::ids::UserId;
use secrecy::SecretString;
use sqlx::{Connection, Executor, PgConnection};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A store on a database nobody else uses; [`Fresh::finish`] removes the folder or database.
struct Fresh {
    store: Store,
    _dir: Option<TempDir>,
    /// The admin URL and the database's name, to drop it afterwards.
    postgres: Option<(String, String)>,
}

impl Fresh {
    async fn finish(self) {
        self.store.close().await;
        if let Some((admin_url, name)) = &self.postgres {
            let mut admin = PgConnection::connect(admin_url).await.expect("reconnect to drop");
            admin
                .execute(format!(r#"DROP DATABASE "{name}" WITH (FORCE)"#).as_str())
                .await
                .expect("drop test database");
        }
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn fresh_sqlite() -> Fresh {
    let dir = std::env::temp_dir().join(format!("spell-coven-store-{}", uuid::Uuid::new_v4()));
    // A nested path proves the folder is created on first run.
    let path = dir.join("nested").join("app.db");
    let store = Store::connect(&DatabaseConfig::Sqlite { path })
        .await
        .expect("sqlite store opens");
    Fresh {
        store,
        _dir: Some(TempDir(dir)),
        postgres: None,
    }
}

async fn fresh_postgres() -> Fresh {
    #[allow(
        clippy::disallowed_methods,
        reason = "tests choose their database server from the environment"
    )]
    let admin_url = std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|err| {
        panic!("PostgreSQL is needed for the store contract ({admin_url}): {err}; `scripts/test` starts it")
    });
    let name = format!("spell_coven_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin_url).expect("TEST_POSTGRES_URL is a URL");
    url.set_path(&name);
    let store = Store::connect(&DatabaseConfig::Postgres {
        url: SecretString::from(url.to_string()),
    })
    .await
    .expect("postgres store opens");
    Fresh {
        store,
        _dir: None,
        postgres: Some((admin_url, name)),
    }
}

fn user(id: &str, username: &str) -> UserRecord {
    UserRecord {
        id: id.parse().unwrap(),
        username: username.to_owned(),
        global_name: None,
        avatar: None,
    }
}

async fn ping_answers(store: &Store) {
    store.ping().await.expect("ping");
}

async fn migrations_are_idempotent(store: &Store) {
    store.migrate().await.expect("second migrate is a no-op");
    store.migrate().await.expect("third migrate is a no-op");
}

async fn unknown_user_is_none(store: &Store) {
    let id: UserId = "3000000000000000009".parse().unwrap();
    assert_eq!(store.user(id).await.unwrap(), None);
}

async fn upserted_user_reads_back(store: &Store) {
    let mut alice = user("3000000000000000001", "alice");
    alice.global_name = Some("Alice".to_owned());
    alice.avatar = Some("a_1269e74af4df7417b13759eae50c83dc".to_owned());
    store.upsert_user(&alice).await.unwrap();
    assert_eq!(store.user(alice.id).await.unwrap(), Some(alice));
}

async fn second_upsert_refreshes_the_profile(store: &Store) {
    let mut alice = user("3000000000000000001", "alice");
    store.upsert_user(&alice).await.unwrap();
    "alice_renamed".clone_into(&mut alice.username);
    alice.avatar = Some("abc".to_owned());
    store.upsert_user(&alice).await.unwrap();
    assert_eq!(store.user(alice.id).await.unwrap(), Some(alice));
}

async fn users_do_not_bleed_into_each_other(store: &Store) {
    let alice = user("3000000000000000001", "alice");
    let bob = user("18446744073709551615", "bob"); // u64::MAX survives the round trip
    store.upsert_user(&alice).await.unwrap();
    store.upsert_user(&bob).await.unwrap();
    assert_eq!(store.user(alice.id).await.unwrap(), Some(alice));
    assert_eq!(store.user(bob.id).await.unwrap(), Some(bob));
}

/// Runs each contract function once per engine, as `sqlite::name` and `postgres::name`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() {
                let fresh = super::fresh_sqlite().await;
                super::$name(&fresh.store).await;
                fresh.finish().await;
            })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() {
                let fresh = super::fresh_postgres().await;
                super::$name(&fresh.store).await;
                fresh.finish().await;
            })*
        }
    };
}

contract!(
    ping_answers,
    migrations_are_idempotent,
    unknown_user_is_none,
    upserted_user_reads_back,
    second_upsert_refreshes_the_profile,
    users_do_not_bleed_into_each_other,
);

#[tokio::test]
async fn sqlite_data_survives_reopening_the_file() {
    let dir = std::env::temp_dir().join(format!("spell-coven-store-{}", uuid::Uuid::new_v4()));
    let _guard = TempDir(dir.clone());
    let config = DatabaseConfig::Sqlite {
        path: dir.join("app.db"),
    };
    let alice = user("3000000000000000001", "alice");
    let store = Store::connect(&config).await.unwrap();
    store.upsert_user(&alice).await.unwrap();
    store.close().await;
    let reopened = Store::connect(&config).await.unwrap();
    assert_eq!(reopened.user(alice.id).await.unwrap(), Some(alice));
}
