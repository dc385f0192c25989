//! Sessions: the tower-sessions store over the app's own database, and [`UserSession`], the typed
//! view of one session.
//!
//! The session keeps everything about the sign-in on the server: the pending OAuth2 exchange
//! (`state`, PKCE verifier, where to return) and, once signed in, the user and their Discord
//! tokens. The browser only ever holds the HTTP-only session cookie.

use serde::{Deserialize, Serialize};
use tower_sessions::{
    Session, SessionStore,
    session::{Id, Record},
    session_store,
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::Store;

/// The session store on whichever database the app uses.
#[derive(Debug, Clone)]
pub enum SessionBackend {
    /// Sessions in the SQLite file.
    Sqlite(SqliteStore),
    /// Sessions in PostgreSQL.
    Postgres(PostgresStore),
}

impl SessionBackend {
    /// The session table in `store`'s database, created if missing.
    pub async fn new(store: &Store) -> Result<Self, sqlx::Error> {
        let backend = match store {
            Store::Sqlite(pool) => Self::Sqlite(SqliteStore::new(pool.clone())),
            Store::Postgres(pool) => Self::Postgres(PostgresStore::new(pool.clone())),
        };
        match &backend {
            Self::Sqlite(store) => store.migrate().await?,
            Self::Postgres(store) => store.migrate().await?,
        }
        Ok(backend)
    }
}

#[async_trait::async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(store) => store.create(record).await,
            Self::Postgres(store) => store.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(store) => store.save(record).await,
            Self::Postgres(store) => store.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Sqlite(store) => store.load(id).await,
            Self::Postgres(store) => store.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Sqlite(store) => store.delete(id).await,
            Self::Postgres(store) => store.delete(id).await,
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

/// An OAuth2 exchange that has been started and not yet finished.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSignIn {
    /// The `state` sent to Discord; the callback must bring it back.
    pub csrf_state: String,
    /// The PKCE verifier matching the challenge sent to Discord.
    pub pkce_verifier: String,
    /// A same-site path to return to afterwards.
    pub return_to: String,
}

/// The user's Discord tokens; never sent to the browser.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiscordTokens {
    /// Bearer token for Discord on the user's behalf (`guilds.join`).
    pub access_token: String,
    /// To renew the access token.
    pub refresh_token: Option<String>,
    /// Unix seconds when the access token expires.
    pub expires_at: Option<i64>,
}

impl DiscordTokens {
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

    /// Remembers a started sign-in.
    pub async fn begin_sign_in(&self, pending: &PendingSignIn) -> Result<(), SessionError> {
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
    use super::DiscordTokens;

    #[test]
    fn tokens_are_renewed_in_their_last_five_minutes() {
        let tokens = |expires_at| DiscordTokens {
            access_token: "a".to_owned(),
            refresh_token: Some("r".to_owned()),
            expires_at,
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
