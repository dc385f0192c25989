//! [`Revocation`]s between instances: when one instance takes someone's right to watch away, every
//! instance ends the matching streams.
//!
//! Revocations go on a Redis Stream (`<namespace>:revoke`), not a pub/sub channel: pub/sub drops
//! whatever is published while a subscriber reconnects, and a revocation lost that way would let
//! a removed player or a signed-out session keep watching on that instance for as long as its
//! stream lasts. Each instance reads the Stream from where it left off, so a reconnect loses
//! nothing (the Stream keeps the last [`KEPT`] entries, far more than an outage produces).
//!
//! An entry is `origin` (the instance that revoked, which skips its own: it ended those streams
//! already) and `revoke`, JSON: `{"room": "<id>", "user": "<id>"}`, `{"room": "<id>"}` or
//! `{"session": "<hex>"}`. A session travels as a hash, never as its id: Redis, its backups and
//! anyone reading them must not learn ids that would sign them in. Entries are checked (size,
//! shape) before use, and a malformed one is logged and skipped.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use model::ids::{ChannelId, UserId};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;
use tower_sessions::session::Id as SessionId;

use super::{Viewer, Watchers};
use crate::cluster::Redis;

/// Entries the Stream keeps (approximately; Redis trims in whole nodes).
const KEPT: usize = 10_000;
/// The largest `revoke` field read; a real one is under 100 bytes.
const MAX_ENTRY: usize = 512;
/// How long one read waits for new entries: well under the connection's response timeout.
const BLOCK_MS: usize = 1_000;
/// Entries read at once.
const READ_COUNT: usize = 100;
/// Revocations kept for sending again while Redis does not take them; past this the oldest is
/// dropped (and logged).
const PENDING_MAX: usize = 1_024;
/// The first wait after a failed read, doubled up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(250);
/// See [`RETRY_MIN`].
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How far before its start an instance begins reading: revocations published while it was
/// starting are applied, whatever the clocks' skew. (Older ones cannot match its streams: a
/// removed player or a signed-out session is refused a new stream.)
const READ_FROM_BEFORE_START_MS: i64 = 10_000;

/// Whose right to watch was taken away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// `user` may no longer watch `room`: the owner removed them, or they left.
    Player {
        /// The room.
        room: ChannelId,
        /// The player.
        user: UserId,
    },
    /// Nobody may watch the room any more: it was closed or deleted.
    Room(ChannelId),
    /// The session signed out: the streams opened with it end.
    Session(SessionId),
}

impl Revocation {
    /// Whether `viewer`'s stream must end.
    pub(super) fn matches(&self, viewer: &Viewer) -> bool {
        match *self {
            Self::Player { room, user } => viewer.room == room && viewer.user == Some(user),
            Self::Room(room) => viewer.room == room,
            Self::Session(session) => viewer.session == Some(session),
        }
    }

    fn to_wire(self) -> Wire {
        match self {
            Self::Player { room, user } => Wire {
                room: Some(room),
                user: Some(user),
                session: None,
            },
            Self::Room(room) => Wire {
                room: Some(room),
                user: None,
                session: None,
            },
            Self::Session(session) => Wire {
                room: None,
                user: None,
                session: Some(session_hash(session)),
            },
        }
    }
}

/// A revocation as it travels: what another instance needs to find the streams, nothing more.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    room: Option<ChannelId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<String>,
}

/// A revocation read from another instance.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Remote {
    Player {
        room: ChannelId,
        user: UserId,
    },
    Room(ChannelId),
    /// The [`session_hash`] of the session that signed out.
    Session(String),
}

impl Remote {
    /// The revocation in `text`, if it is one.
    fn parse(text: &[u8]) -> Option<Self> {
        if text.len() > MAX_ENTRY {
            return None;
        }
        let wire: Wire = serde_json::from_slice(text).ok()?;
        match wire {
            Wire {
                room: Some(room),
                user: Some(user),
                session: None,
            } => Some(Self::Player { room, user }),
            Wire {
                room: Some(room),
                user: None,
                session: None,
            } => Some(Self::Room(room)),
            Wire {
                room: None,
                user: None,
                session: Some(hash),
            } if hash.len() == 64 && hash.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')) => {
                Some(Self::Session(hash))
            }
            Wire { .. } => None,
        }
    }

    fn matches(&self, viewer: &Viewer) -> bool {
        match self {
            Self::Player { room, user } => viewer.room == *room && viewer.user == Some(*user),
            Self::Room(room) => viewer.room == *room,
            Self::Session(hash) => viewer
                .session
                .is_some_and(|session| session_hash(session) == *hash),
        }
    }
}

/// How a session is named between instances: SHA-256 over a label and its 128 random bits, in
/// hex. The id cannot be recovered from it, and equal ids give equal hashes on every instance.
fn session_hash(session: SessionId) -> String {
    let digest = Sha256::new()
        .chain_update(b"spell-coven stream session\0")
        .chain_update(session.0.to_le_bytes())
        .finalize();
    digest.iter().fold(String::with_capacity(64), |mut hex, byte| {
        use std::fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// The publishing side, which every instance holds.
#[derive(Debug)]
pub(super) struct Publisher {
    redis: Redis,
    key: String,
    instance: Arc<str>,
    /// Revocations Redis did not take, oldest first; sent again by the listener's task.
    pending: Mutex<VecDeque<String>>,
}

/// The reading side: the task that applies the other instances' revocations.
#[derive(Debug)]
pub(super) struct Listener {
    redis: Redis,
    key: String,
    instance: Arc<str>,
    /// The id of the last entry read (an entry id, or a time to start from).
    last_id: String,
}

/// Both sides of `redis`' revocation Stream for `instance`.
pub(super) fn channel(redis: &Redis, instance: Arc<str>) -> (Publisher, Listener) {
    let key = redis.key("revoke");
    let start = crate::store::unix_millis().saturating_sub(READ_FROM_BEFORE_START_MS);
    let publisher = Publisher {
        redis: redis.clone(),
        key: key.clone(),
        instance: instance.clone(),
        pending: Mutex::new(VecDeque::new()),
    };
    let listener = Listener {
        redis: redis.clone(),
        key,
        instance,
        last_id: format!("{start}-0"),
    };
    (publisher, listener)
}

impl Publisher {
    /// Tells every instance; on failure, keeps it for the listener's task to send again.
    pub(super) async fn publish(&self, revocation: &Revocation) {
        // Ids and a hex string cannot fail to serialise.
        let Ok(text) = serde_json::to_string(&revocation.to_wire()) else {
            return;
        };
        if let Err(err) = self.send(&text).await {
            tracing::warn!(error = %err, "cannot publish a stream revocation to the other instances; sending it again when Redis answers");
            self.keep(text);
        }
    }

    async fn send(&self, text: &str) -> redis::RedisResult<()> {
        redis::cmd("XADD")
            .arg(&self.key)
            .arg("MAXLEN")
            .arg("~")
            .arg(KEPT)
            .arg("*")
            .arg("origin")
            .arg(&*self.instance)
            .arg("revoke")
            .arg(text)
            .query_async::<()>(&mut self.redis.connection())
            .await
    }

    fn keep(&self, text: String) {
        let mut pending = self.pending();
        if pending.len() == PENDING_MAX {
            pending.pop_front();
            tracing::error!("too many stream revocations waiting for Redis; the oldest is dropped");
        }
        pending.push_back(text);
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        // Push and pop leave the queue whole whatever panics.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends the kept revocations again, oldest first, until one fails.
    async fn resend(&self) {
        loop {
            let Some(text) = self.pending().pop_front() else {
                return;
            };
            if self.send(&text).await.is_err() {
                self.pending().push_front(text);
                return;
            }
            tracing::info!("a delayed stream revocation reached the other instances");
        }
    }
}

impl Listener {
    /// Applies the other instances' revocations to `watchers` and sends `publisher`'s delayed
    /// ones again, until `shutdown`.
    pub(super) async fn run(
        mut self,
        watchers: &Watchers,
        publisher: &Publisher,
        shutdown: &CancellationToken,
    ) {
        let mut connection: Option<ConnectionManager> = None;
        let mut retry = RETRY_MIN;
        loop {
            let read = tokio::select! {
                () = shutdown.cancelled() => return,
                read = self.read(&mut connection) => read,
            };
            match read {
                Ok(entries) => {
                    retry = RETRY_MIN;
                    for (id, origin, revoke) in entries {
                        self.last_id = id;
                        if origin.as_deref() == Some(&*self.instance) {
                            continue;
                        }
                        match revoke.as_deref().and_then(Remote::parse) {
                            Some(remote) => {
                                let ended = watchers.end(|viewer| remote.matches(viewer));
                                tracing::debug!(ended, "applied another instance's stream revocation");
                            }
                            None => {
                                tracing::warn!(id = %self.last_id, "skipped a malformed stream revocation");
                            }
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read stream revocations from Redis; retrying");
                    connection = None;
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(retry) => {}
                    }
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
            publisher.resend().await;
        }
    }

    /// The next entries after `last_id` (waiting up to [`BLOCK_MS`] for some), as
    /// `(id, origin, revoke)`, on a connection of its own (a blocking read would hold up every
    /// command queued behind it on the shared one).
    async fn read(
        &self,
        connection: &mut Option<ConnectionManager>,
    ) -> Result<Vec<(String, Option<String>, Option<Vec<u8>>)>, ReadError> {
        let connection = match connection {
            Some(connection) => connection,
            None => connection.insert(self.redis.dedicated().await?),
        };
        let reply: Option<redis::streams::StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(BLOCK_MS)
            .arg("STREAMS")
            .arg(&self.key)
            .arg(&self.last_id)
            .query_async(connection)
            .await?;
        Ok(reply
            .into_iter()
            .flat_map(|reply| reply.keys)
            .flat_map(|key| key.ids)
            .map(|entry| {
                let origin = entry.get::<String>("origin");
                let revoke = entry.get::<Vec<u8>>("revoke");
                (entry.id, origin, revoke)
            })
            .collect())
    }
}

/// Why revocations could not be read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("cannot connect")]
    Connect(#[from] crate::cluster::RedisSetupError),
    #[error("the read failed")]
    Read(#[from] redis::RedisError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_revocations_are_read() {
        let room: ChannelId = "4000000000000000001".parse().unwrap();
        let user: UserId = "7".parse().unwrap();
        let hash = session_hash(SessionId(42));
        for (text, expected) in [
            (
                r#"{"room":"4000000000000000001","user":"7"}"#.to_owned(),
                Some(Remote::Player { room, user }),
            ),
            (
                r#"{"room":"4000000000000000001"}"#.to_owned(),
                Some(Remote::Room(room)),
            ),
            (
                format!(r#"{{"session":"{hash}"}}"#),
                Some(Remote::Session(hash.clone())),
            ),
            (r#"{"user":"7"}"#.to_owned(), None),
            (r#"{"session":"42"}"#.to_owned(), None),
            (format!(r#"{{"session":"{}"}}"#, hash.to_uppercase()), None),
            (
                format!(r#"{{"room":"4000000000000000001","session":"{hash}"}}"#),
                None,
            ),
            (r#"{"room":"4000000000000000001","admin":true}"#.to_owned(), None),
            (r#"{"room":"not a snowflake"}"#.to_owned(), None),
            ("not json".to_owned(), None),
            (
                format!(r#"{{"room":"4000000000000000001","pad":"{}"}}"#, "x".repeat(600)),
                None,
            ),
        ] {
            assert_eq!(Remote::parse(text.as_bytes()), expected, "{text}");
        }
    }

    #[test]
    fn a_session_travels_as_a_hash_that_names_it_on_every_instance() {
        let wire = serde_json::to_string(&Revocation::Session(SessionId(123_456_789)).to_wire()).unwrap();
        assert!(!wire.contains("123456789"), "{wire}");
        let remote = Remote::parse(wire.as_bytes()).unwrap();
        let viewer = |session| Viewer {
            user: Some("7".parse().unwrap()),
            session: Some(SessionId(session)),
            room: "3".parse().unwrap(),
        };
        assert!(remote.matches(&viewer(123_456_789)));
        assert!(!remote.matches(&viewer(123_456_788)));
    }
}
