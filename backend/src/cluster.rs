//! What the split roles (`ROLE=gateway|web`) share through Redis: the one event Stream, the lease
//! that picks the gateway holder, and the state web instances must agree on (rate limits, who
//! watches which room, the hub's replay cache).
//!
//! [`Redis`] is the one handle every part takes: a self-reconnecting connection plus the key
//! namespace, so two deployments (or two tests) can share one `redis-server` without seeing each
//! other's keys.

pub mod lease;
pub mod stream;

use std::sync::Arc;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Why Redis could not be reached at startup.
#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    /// `REDIS_URL` is not a Redis URL.
    #[error("REDIS_URL is not a usable Redis URL")]
    Url(#[source] redis::RedisError),
    /// Nothing answered at `REDIS_URL` (or it refused us).
    #[error("cannot connect to Redis at REDIS_URL")]
    Connect(#[source] redis::RedisError),
}

/// A Redis connection and the namespace of this deployment's keys; cheap to clone (clones share
/// the connection, which reconnects by itself after Redis restarts).
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    connection: ConnectionManager,
    namespace: Arc<str>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// The namespace of production keys (`spellcoven:<name>`).
pub const DEFAULT_NAMESPACE: &str = "spellcoven";

impl Redis {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`); every key this handle names starts with
    /// `namespace:`.
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, RedisSetupError> {
        let client = redis::Client::open(url).map_err(RedisSetupError::Url)?;
        let connection = manager(&client).await?;
        Ok(Self {
            client,
            connection,
            namespace: namespace.into(),
        })
    }

    /// A connection of its own, for blocking reads (`XREAD BLOCK`): on the shared, multiplexed
    /// one they would hold up every command queued behind them.
    pub async fn dedicated(&self) -> Result<ConnectionManager, RedisSetupError> {
        manager(&self.client).await
    }

    /// A connection to run commands on (a cheap clone of the shared one).
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// The namespace every key starts with.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The full name of this deployment's key `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.namespace)
    }
}

/// A self-reconnecting connection whose every command has a deadline: a Redis that stops
/// answering fails calls instead of hanging the requests and tasks behind them. (Blocking reads
/// must block for less than [`RESPONSE_TIMEOUT`].)
async fn manager(client: &redis::Client) -> Result<ConnectionManager, RedisSetupError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(std::time::Duration::from_secs(5)))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    ConnectionManager::new_with_config(client.clone(), config)
        .await
        .map_err(RedisSetupError::Connect)
}

/// How long any one Redis command may take before it fails.
pub const RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// For tests: a handle on the local `redis-server` (`REDIS_URL`, else `redis://127.0.0.1:6379`)
/// in a namespace of its own, so tests running side by side never share a key.
///
/// # Panics
/// When Redis does not answer: the tests that call it need one (`scripts/test` starts it).
pub async fn test_redis() -> Redis {
    #[allow(
        clippy::disallowed_methods,
        reason = "tests choose their Redis server from the environment"
    )]
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let namespace = format!("test:{}", uuid::Uuid::new_v4().simple());
    Redis::connect(&url, &namespace)
        .await
        .expect("Redis answers on REDIS_URL or 127.0.0.1:6379 (scripts/test starts it)")
}
