//! Sessions: the tower-sessions store over the app's own database, and [`UserSession`], the typed
//! view of one session.
//!
//! The session keeps everything about the sign-in on the server: the pending OAuth2 exchange
//! (`state`, PKCE verifier, where to return) and, once signed in, the user and their Discord
//! tokens. The browser only ever holds the HTTP-only session cookie.
//!
//! At rest every record is sealed with [`keys::SessionKeys`] (authenticated encryption), so the
//! database never holds a Discord token in the clear, and a record that does not open (an unknown
//! key, tampering, a plaintext row) is a signed-out visitor, never an error. A sign-in that has
//! only started lives [`PENDING_SIGN_IN_LIFETIME`]; expired records are deleted by
//! [`SessionBackend::run_sweeper`].

pub mod keys;

use std::{fmt, str::FromStr as _, time::Duration};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tower_sessions::{
    Expiry, Session, SessionStore,
    session::{Id, Record},
    session_store::{self, ExpiredDeletion as _},
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use self::keys::{OpenedWith, SessionKeys};
use crate::{
    Store,
    discord::oauth::{GUILDS_JOIN, IDENTIFY},
};

/// How long a started sign-in may take: anonymous visits to `/auth/login` must not pile up
/// long-lived rows.
pub const PENDING_SIGN_IN_LIFETIME: time::Duration = time::Duration::minutes(10);
/// A signed-in session ends after this long without a change.
pub const SIGNED_IN_LIFETIME: time::Duration = time::Duration::days(14);
/// How often [`SessionBackend::run_sweeper`] deletes expired records.
pub const SWEEP_EVERY: Duration = Duration::from_secs(5 * 60);

/// The one key of a record's data at rest; its value is the sealed JSON of the real data.
const SEALED: &str = "sealed";

/// Why the session store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SessionSetupError {
    /// The session table could not be created or read.
    #[error("cannot create or read the session table")]
    Table(#[from] sqlx::Error),
    /// A record from before encryption could not be sealed.
    #[error("cannot encrypt the existing session records")]
    Seal(#[source] session_store::Error),
}

/// The session store on whichever database the app uses, sealing records on their way in and
/// opening them on their way out.
#[derive(Debug, Clone)]
pub struct SessionBackend {
    inner: Inner,
    keys: SessionKeys,
}

#[derive(Debug, Clone)]
enum Inner {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl SessionBackend {
    /// The session table in `store`'s database, created if missing; records written before
    /// sessions were encrypted are sealed now, so none stays in the clear.
    pub async fn new(store: &Store, keys: SessionKeys) -> Result<Self, SessionSetupError> {
        let (inner, ids): (Inner, Vec<String>) = match store {
            Store::Sqlite(pool) => {
                let inner = SqliteStore::new(pool.clone());
                inner.migrate().await?;
                let ids = sqlx::query_scalar("SELECT id FROM tower_sessions")
                    .fetch_all(pool)
                    .await?;
                (Inner::Sqlite(inner), ids)
            }
            Store::Postgres(pool) => {
                let inner = PostgresStore::new(pool.clone());
                inner.migrate().await?;
                let ids = sqlx::query_scalar(r#"SELECT id FROM "tower_sessions"."session""#)
                    .fetch_all(pool)
                    .await?;
                (Inner::Postgres(inner), ids)
            }
        };
        let backend = Self { inner, keys };
        let sealed = backend
            .seal_plaintext_records(&ids)
            .await
            .map_err(SessionSetupError::Seal)?;
        if sealed > 0 {
            tracing::info!(sealed, "encrypted session records written before encryption");
        }
        Ok(backend)
    }

    /// Seals every live record among `ids` that is still plaintext; returns how many.
    async fn seal_plaintext_records(&self, ids: &[String]) -> session_store::Result<usize> {
        let mut sealed = 0;
        for id in ids {
            let Ok(id) = Id::from_str(id) else { continue };
            if let Some(record) = self.inner.load(&id).await?
                && !is_sealed(&record)
            {
                self.inner.save(&self.seal(&record)?).await?;
                sealed += 1;
            }
        }
        Ok(sealed)
    }

    /// One sweep: deletes every expired record. [`Self::run_sweeper`] calls it periodically;
    /// tests call it directly.
    pub async fn delete_expired(&self) -> session_store::Result<()> {
        match &self.inner {
            Inner::Sqlite(store) => store.delete_expired().await,
            Inner::Postgres(store) => store.delete_expired().await,
        }
    }

    /// Deletes expired records every `every` until `shutdown` is cancelled. Its owner is
    /// `Application::run_until_stopped`.
    pub async fn run_sweeper(self, every: Duration, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(err) = self.delete_expired().await {
                        tracing::warn!(error = %err, "cannot delete expired sessions; trying again later");
                    }
                }
            }
        }
    }

    /// `record` as stored: its data replaced by one sealed value.
    fn seal(&self, record: &Record) -> session_store::Result<Record> {
        let plaintext =
            serde_json::to_vec(&record.data).map_err(|err| session_store::Error::Encode(err.to_string()))?;
        let sealed = self
            .keys
            .seal(&plaintext)
            .map_err(|err| session_store::Error::Encode(err.to_string()))?;
        Ok(Record {
            id: record.id,
            data: std::iter::once((SEALED.to_owned(), serde_json::Value::String(sealed))).collect(),
            expiry_date: record.expiry_date,
        })
    }

    /// The record as the app sees it, or `None` (signed out) when it does not open. A record
    /// opened with the previous key is sealed again under the current one.
    async fn open(&self, mut record: Record) -> session_store::Result<Option<Record>> {
        let opened = match record.data.get(SEALED) {
            Some(serde_json::Value::String(sealed)) if record.data.len() == 1 => {
                self.keys.open(sealed).map_err(|err| err.to_string())
            }
            _ => Err("a plaintext record".to_owned()),
        };
        let data = opened.and_then(|(plaintext, with)| {
            serde_json::from_slice(&plaintext)
                .map(|data| (data, with))
                .map_err(|err| err.to_string())
        });
        match data {
            Ok((data, with)) => {
                record.data = data;
                if with == OpenedWith::Previous {
                    self.inner.save(&self.seal(&record)?).await?;
                }
                Ok(Some(record))
            }
            Err(why) => {
                tracing::warn!(why = %why, "a session record does not open; treated as signed out");
                Ok(None)
            }
        }
    }
}

fn is_sealed(record: &Record) -> bool {
    record.data.len() == 1 && record.data.get(SEALED).is_some_and(serde_json::Value::is_string)
}

impl Inner {
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Sqlite(store) => store.load(id).await,
            Self::Postgres(store) => store.load(id).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(store) => store.save(record).await,
            Self::Postgres(store) => store.save(record).await,
        }
    }
}

#[async_trait::async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut sealed = self.seal(record)?;
        match &self.inner {
            Inner::Sqlite(store) => store.create(&mut sealed).await?,
            Inner::Postgres(store) => store.create(&mut sealed).await?,
        }
        // The store picks a new id if the first one was taken.
        record.id = sealed.id;
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.inner.save(&self.seal(record)?).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self.inner.load(id).await? {
            Some(record) => self.open(record).await,
            None => Ok(None),
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match &self.inner {
            Inner::Sqlite(store) => store.delete(id).await,
            Inner::Postgres(store) => store.delete(id).await,
        }
    }
}

/// The signed-in user, as the session remembers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInUser {
    /// Discord id.
    pub id: model::ids::UserId,
    /// Display name.
    pub username: String,
    /// Avatar hash.
    pub avatar: Option<String>,
}

/// An OAuth2 exchange that has been started and not yet finished. `Debug` shows only where it
/// returns to: the state and verifier are secrets.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingSignIn {
    /// The `state` sent to Discord; the callback must bring it back.
    pub csrf_state: String,
    /// The PKCE verifier matching the challenge sent to Discord.
    pub pkce_verifier: String,
    /// A same-site path to return to afterwards.
    pub return_to: String,
}

/// The user's Discord tokens; never sent to the browser, never printed (`Debug` shows only the
/// expiry).
#[derive(Clone, Serialize, Deserialize)]
pub struct DiscordTokens {
    /// Bearer token for Discord on the user's behalf (`guilds.join`).
    pub access_token: String,
    /// To renew the access token.
    pub refresh_token: Option<String>,
    /// Unix seconds when the access token expires.
    pub expires_at: Option<i64>,
    /// The scopes granted. Sessions signed in before they were kept asked for both.
    #[serde(default = "scopes_of_old_sign_ins")]
    pub scopes: Vec<String>,
}

fn scopes_of_old_sign_ins() -> Vec<String> {
    vec![IDENTIFY.to_owned(), GUILDS_JOIN.to_owned()]
}

impl fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("csrf_state", &"[redacted]")
            .field("pkce_verifier", &"[redacted]")
            .field("return_to", &self.return_to)
            .finish()
    }
}

impl fmt::Debug for DiscordTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordTokens")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl DiscordTokens {
    /// Whether the user let the app add them to the guild (`guilds.join`), which joining a game
    /// needs.
    pub fn may_join(&self) -> bool {
        self.scopes.iter().any(|scope| scope == GUILDS_JOIN)
    }

    /// Renew this long before expiry, so a token never runs out in the middle of a request.
    pub const RENEW_AHEAD_SECS: i64 = 5 * 60;

    /// Whether the access token expires within [`Self::RENEW_AHEAD_SECS`] of `now` (unix seconds).
    pub fn needs_renewal(&self, now: i64) -> bool {
        self.expires_at
            .is_some_and(|expires_at| expires_at.saturating_sub(now) <= Self::RENEW_AHEAD_SECS)
    }
}

const USER: &str = "user";
const PENDING: &str = "pending_sign_in";
const TOKENS: &str = "discord_tokens";

/// Errors reading or writing the session.
pub type SessionError = tower_sessions::session::Error;

/// A typed view of one [`Session`]: the only code that knows its keys.
#[derive(Debug, Clone)]
pub struct UserSession(pub Session);

impl UserSession {
    /// The signed-in user, if any.
    pub async fn user(&self) -> Result<Option<SignedInUser>, SessionError> {
        self.0.get(USER).await
    }

    /// Remembers a started sign-in, for [`PENDING_SIGN_IN_LIFETIME`] only.
    pub async fn begin_sign_in(&self, pending: &PendingSignIn) -> Result<(), SessionError> {
        self.0
            .set_expiry(Some(Expiry::OnInactivity(PENDING_SIGN_IN_LIFETIME)));
        self.0.insert(PENDING, pending).await
    }

    /// Takes the started sign-in (it can be finished once).
    pub async fn take_pending(&self) -> Result<Option<PendingSignIn>, SessionError> {
        self.0.remove(PENDING).await
    }

    /// Signs the user in: a new session id (so a session fixed before sign-in is useless), then
    /// the user and their tokens.
    pub async fn sign_in(&self, user: &SignedInUser, tokens: &DiscordTokens) -> Result<(), SessionError> {
        self.0.cycle_id().await?;
        self.0.set_expiry(Some(Expiry::OnInactivity(SIGNED_IN_LIFETIME)));
        self.0.insert(USER, user).await?;
        self.0.insert(TOKENS, tokens).await
    }

    /// The user's Discord tokens.
    pub async fn tokens(&self) -> Result<Option<DiscordTokens>, SessionError> {
        self.0.get(TOKENS).await
    }

    /// Replaces the user's Discord tokens (after a renewal).
    pub async fn set_tokens(&self, tokens: &DiscordTokens) -> Result<(), SessionError> {
        self.0.insert(TOKENS, tokens).await
    }

    /// Ends the session: everything in it is deleted and the cookie is cleared.
    pub async fn sign_out(&self) -> Result<(), SessionError> {
        self.0.flush().await
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;
    use tower_sessions::{SessionStore as _, session::Record};

    use super::*;
    use crate::config::DatabaseConfig;

    fn keys(current: &str, previous: Option<&str>) -> SessionKeys {
        SessionKeys::from_secrets(
            &SecretString::from(current.to_owned()),
            previous.map(|text| SecretString::from(text.to_owned())).as_ref(),
        )
    }

    /// A fresh SQLite database in its own folder (removed by the caller).
    async fn database() -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("spell-coven-sessions-{}", uuid::Uuid::new_v4()));
        let store = Store::connect(&DatabaseConfig::Sqlite {
            path: dir.join("app.db"),
        })
        .await
        .unwrap();
        (store, dir)
    }

    /// A signed-in record holding `access` as its access token, expiring `ttl` from now.
    fn signed_in_record(access: &str, ttl: time::Duration) -> Record {
        let tokens = DiscordTokens {
            access_token: access.to_owned(),
            refresh_token: Some(format!("{access}-refresh")),
            expires_at: Some(1),
            scopes: Vec::new(),
        };
        Record {
            id: Id::default(),
            data: [
                (
                    USER.to_owned(),
                    serde_json::json!({"id": "1000000000000000001", "username": "Alice", "avatar": null}),
                ),
                (TOKENS.to_owned(), serde_json::to_value(tokens).unwrap()),
            ]
            .into_iter()
            .collect(),
            expiry_date: time::OffsetDateTime::now_utc() + ttl,
        }
    }

    /// Every stored row's raw bytes, as a text search would see them.
    async fn raw_rows(store: &Store) -> Vec<String> {
        let Store::Sqlite(pool) = store else {
            unreachable!("these tests use SQLite")
        };
        let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT data FROM tower_sessions")
            .fetch_all(pool)
            .await
            .unwrap();
        rows.into_iter()
            .map(|row| String::from_utf8_lossy(&row).into_owned())
            .collect()
    }

    #[test]
    fn debug_output_never_shows_tokens_states_or_verifiers() {
        let tokens = DiscordTokens {
            access_token: "secret-access".to_owned(),
            refresh_token: Some("secret-refresh".to_owned()),
            expires_at: Some(42),
            scopes: Vec::new(),
        };
        let pending = PendingSignIn {
            csrf_state: "secret-state".to_owned(),
            pkce_verifier: "secret-verifier".to_owned(),
            return_to: "/game/1".to_owned(),
        };
        let printed = format!("{tokens:?} {pending:?} {tokens:#?} {pending:#?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("42") && printed.contains("/game/1"), "{printed}");
    }

    #[tokio::test]
    async fn stored_records_hold_no_token_text_and_load_back_whole() {
        let (store, dir) = database().await;
        let backend = SessionBackend::new(&store, keys("secret", None)).await.unwrap();
        let mut record = signed_in_record("access-TOKEN-text", time::Duration::hours(1));
        backend.create(&mut record).await.unwrap();

        let rows = raw_rows(&store).await;
        assert_eq!(rows.len(), 1);
        for needle in ["access-TOKEN-text", "access_token", "Alice"] {
            assert!(!rows[0].contains(needle), "{needle} is stored in the clear");
        }
        assert_eq!(backend.load(&record.id).await.unwrap(), Some(record));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn plaintext_records_from_before_encryption_are_sealed_at_startup_and_still_sign_in() {
        let (store, dir) = database().await;
        let Store::Sqlite(pool) = &store else {
            unreachable!()
        };
        // Written the old way: the plain sqlx store, as the app did before encryption.
        let old = SqliteStore::new(pool.clone());
        old.migrate().await.unwrap();
        let record = signed_in_record("old-plain-token", time::Duration::days(1));
        old.save(&record).await.unwrap();
        assert!(raw_rows(&store).await[0].contains("old-plain-token"));

        let backend = SessionBackend::new(&store, keys("secret", None)).await.unwrap();
        assert!(
            !raw_rows(&store).await[0].contains("old-plain-token"),
            "sealed at startup"
        );
        assert_eq!(
            backend.load(&record.id).await.unwrap(),
            Some(record),
            "the user stays signed in"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn after_a_rotation_records_open_and_are_resealed_and_unknown_keys_mean_signed_out() {
        let (store, dir) = database().await;
        let before = SessionBackend::new(&store, keys("old", None)).await.unwrap();
        let mut record = signed_in_record("rotating-token", time::Duration::hours(1));
        before.create(&mut record).await.unwrap();

        let rotated = SessionBackend::new(&store, keys("new", Some("old")))
            .await
            .unwrap();
        assert_eq!(rotated.load(&record.id).await.unwrap(), Some(record.clone()));
        // Read once under the rotation, the record no longer needs the old secret.
        let after = SessionBackend::new(&store, keys("new", None)).await.unwrap();
        assert_eq!(after.load(&record.id).await.unwrap(), Some(record.clone()));

        let stranger = SessionBackend::new(&store, keys("unknown", None)).await.unwrap();
        assert_eq!(
            stranger.load(&record.id).await.unwrap(),
            None,
            "signed out, not an error"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn one_deletion_step_removes_expired_records_and_keeps_live_ones() {
        let (store, dir) = database().await;
        let backend = SessionBackend::new(&store, keys("secret", None)).await.unwrap();
        let mut live = signed_in_record("live", time::Duration::minutes(5));
        backend.create(&mut live).await.unwrap();
        for _ in 0..3 {
            backend
                .save(&signed_in_record("expired", -time::Duration::minutes(1)))
                .await
                .unwrap();
        }
        assert_eq!(raw_rows(&store).await.len(), 4);

        backend.delete_expired().await.unwrap();
        assert_eq!(raw_rows(&store).await.len(), 1);
        assert_eq!(backend.load(&live.id).await.unwrap(), Some(live));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn joining_needs_guilds_join_and_old_sessions_had_it() {
        let old: DiscordTokens =
            serde_json::from_str(r#"{"access_token":"a","refresh_token":null,"expires_at":null}"#).unwrap();
        assert!(
            old.may_join(),
            "every sign-in asked for guilds.join before scopes were kept"
        );
        let identify_only = DiscordTokens {
            scopes: vec!["identify".to_owned()],
            ..old
        };
        assert!(!identify_only.may_join());
    }

    #[test]
    fn tokens_are_renewed_in_their_last_five_minutes() {
        let tokens = |expires_at| DiscordTokens {
            access_token: "a".to_owned(),
            refresh_token: Some("r".to_owned()),
            expires_at,
            scopes: Vec::new(),
        };
        let now = 1_000_000;
        assert!(!tokens(Some(now + 3600)).needs_renewal(now));
        assert!(!tokens(Some(now + 301)).needs_renewal(now));
        assert!(tokens(Some(now + 300)).needs_renewal(now));
        assert!(tokens(Some(now - 10)).needs_renewal(now));
        assert!(
            !tokens(None).needs_renewal(now),
            "no expiry given: use it until Discord says no"
        );
    }
}
