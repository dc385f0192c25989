//! The one event path of split deployments: every app event is appended to one Redis Stream, and
//! every process reads the Stream in order. The Stream id an event got is its SSE `id`, the same
//! on every web instance and across restarts, so a viewer may reconnect anywhere with
//! `Last-Event-ID`.
//!
//! Appending from a gateway process is *fenced*: one Lua script checks that the process still
//! holds the lease (see `lease`) and appends in the same atomic step, so a holder that lost its
//! lease (paused, partitioned, slow) can never publish after its successor started.

use std::{fmt, str::FromStr, time::Duration};

use model::event::AppEvent;
use redis::{AsyncCommands as _, aio::ConnectionManager, streams::StreamReadReply};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::Redis;
use crate::bus::Outgoing;

/// A Redis Stream entry id, `<unix ms>-<sequence>`: totally ordered, assigned by Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence within the millisecond.
    pub seq: u64,
}

impl StreamId {
    /// Before every entry (`0-0`): reading after it reads the whole Stream.
    pub const ZERO: Self = Self { ms: 0, seq: 0 };
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Text that is not a Stream id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a stream id (expected <ms>-<seq>)")]
pub struct BadStreamId;

impl FromStr for StreamId {
    type Err = BadStreamId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (ms, seq) = text.trim().split_once('-').ok_or(BadStreamId)?;
        let digits = |part: &str| {
            (!part.is_empty() && part.len() <= 20 && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u64>().ok())
                .flatten()
                .ok_or(BadStreamId)
        };
        Ok(Self {
            ms: digits(ms)?,
            seq: digits(seq)?,
        })
    }
}

/// An event as read back from the Stream, with the id Redis gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamped {
    /// Where it is in the Stream.
    pub id: StreamId,
    /// What happened.
    pub event: AppEvent,
}

/// Where a Discord dispatch was in its gateway session: `(session id, sequence)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchPosition {
    /// Discord's session id.
    pub session: String,
    /// The dispatch's sequence number in it.
    pub sequence: u64,
}

/// Who may append: the lease's key and the token this process holds it with.
#[derive(Debug, Clone)]
pub struct Fence {
    /// The lease key.
    pub key: String,
    /// This process's token.
    pub token: String,
}

/// Why an event could not be appended.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// This process does not hold the lease (any more): it must not publish.
    #[error("refused: this process does not hold the gateway lease")]
    Fenced,
    /// Redis failed or did not answer in time.
    #[error("Redis failed")]
    Redis(#[source] redis::RedisError),
}

/// Checks the fence (when there is one) and appends, atomically. `ARGV[1]` is the holder's token
/// (empty: not fenced), `ARGV[2]` the approximate length to trim to, `ARGV[3]` the event,
/// `ARGV[4]` the Discord dispatch it came from (`<session> <sequence>`, or empty), recorded in
/// `KEYS[3]` in the same step so it always names the newest dispatch that is published.
const APPEND: &str = r"
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('FENCED this process does not hold the lease')
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[3])
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[3], ARGV[4])
end
return id
";

/// Entries one read returns at most.
const READ_BATCH: usize = 512;
/// How long one read blocks waiting for entries (well below the connection's response timeout).
const READ_BLOCK: Duration = Duration::from_secs(1);
/// Between two attempts after Redis failed.
const RETRY_EVERY: Duration = Duration::from_millis(500);

/// The Stream of one deployment.
#[derive(Clone)]
pub struct EventStream {
    redis: Redis,
    key: String,
    max_len: u64,
    fence: Option<Fence>,
    append: redis::Script,
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("key", &self.key)
            .field("max_len", &self.max_len)
            .field("fenced", &self.fence.is_some())
            .finish_non_exhaustive()
    }
}

impl EventStream {
    /// The deployment's Stream (`<namespace>:events`), trimmed to about `max_len` entries.
    pub fn new(redis: Redis, max_len: u64) -> Self {
        Self {
            key: redis.key("events"),
            redis,
            max_len,
            fence: None,
            append: redis::Script::new(APPEND),
        }
    }

    /// Appends only while `fence` holds (every append of a gateway process).
    #[must_use]
    pub fn fenced(mut self, fence: Fence) -> Self {
        self.fence = Some(fence);
        self
    }

    /// Appends `event`, returning its id.
    pub async fn append(&self, event: &AppEvent) -> Result<StreamId, AppendError> {
        self.append_from(event, None).await
    }

    /// Appends `event`, recording that it came from the dispatch at `position`.
    pub async fn append_from(
        &self,
        event: &AppEvent,
        position: Option<&DispatchPosition>,
    ) -> Result<StreamId, AppendError> {
        let position = position.map_or_else(String::new, |at| format!("{} {}", at.session, at.sequence));
        // Plain enums, ids and strings cannot fail to serialise.
        let data = serde_json::to_string(event).unwrap_or_default();
        let (lease_key, token) = match &self.fence {
            Some(fence) => (fence.key.as_str(), fence.token.as_str()),
            // Never read when the token is empty; any key will do.
            None => (self.key.as_str(), ""),
        };
        let id: String = self
            .append
            .key(&self.key)
            .key(lease_key)
            .key(self.redis.key("dispatch-position"))
            .arg(token)
            .arg(self.max_len)
            .arg(data)
            .arg(position)
            .invoke_async(&mut self.redis.connection())
            .await
            .map_err(|err| {
                if err.code() == Some("FENCED") {
                    AppendError::Fenced
                } else {
                    AppendError::Redis(err)
                }
            })?;
        id.parse().map_err(|_| {
            AppendError::Redis(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "XADD returned something that is not an id",
            )))
        })
    }

    /// The newest Discord dispatch whose events are on the Stream, if any: a new lease holder
    /// resuming that session does not publish again what its predecessor already did.
    pub async fn dispatch_position(&self) -> Result<Option<DispatchPosition>, redis::RedisError> {
        let text: Option<String> = self
            .redis
            .connection()
            .get(self.redis.key("dispatch-position"))
            .await?;
        Ok(text.and_then(|text| {
            let (session, sequence) = text.split_once(' ')?;
            Some(DispatchPosition {
                session: session.to_owned(),
                sequence: sequence.parse().ok()?,
            })
        }))
    }

    /// The id of the newest entry ([`StreamId::ZERO`] when the Stream is empty): reading after it
    /// returns only what is appended from now on.
    pub async fn last_id(&self) -> Result<StreamId, redis::RedisError> {
        let mut connection = self.redis.connection();
        let newest: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
            .arg(&self.key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut connection)
            .await?;
        Ok(newest
            .first()
            .and_then(|(id, _)| id.parse().ok())
            .unwrap_or(StreamId::ZERO))
    }

    /// Every entry after `after` up to `upto` (inclusive), when the Stream still reaches back to
    /// `after` (nothing in between was trimmed) and there are at most `limit`; `None` otherwise,
    /// when only a snapshot can tell a viewer what it missed.
    pub async fn range(
        &self,
        after: StreamId,
        upto: StreamId,
        limit: usize,
    ) -> Result<Option<Vec<Stamped>>, redis::RedisError> {
        let mut connection = self.redis.connection();
        let oldest: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(&self.key)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut connection)
            .await?;
        let reaches_back = oldest
            .first()
            .and_then(|(id, _)| id.parse::<StreamId>().ok())
            .is_some_and(|oldest| oldest <= after);
        if !reaches_back {
            return Ok(None);
        }
        let entries: redis::streams::StreamRangeReply = connection
            .xrange_count(&self.key, format!("({after}"), upto.to_string(), limit + 1)
            .await?;
        if entries.ids.len() > limit {
            return Ok(None);
        }
        Ok(Some(
            entries
                .ids
                .into_iter()
                .filter_map(|entry| {
                    let id = entry.id.parse().ok()?;
                    let data = entry.get::<String>("e")?;
                    let event = serde_json::from_str(&data).ok()?;
                    Some(Stamped { id, event })
                })
                .collect(),
        ))
    }

    /// Up to [`READ_BATCH`] entries after `after`, waiting up to [`READ_BLOCK`] for the first.
    /// An entry that does not hold an app event (written by something else) is skipped, logged.
    pub async fn read_after(
        &self,
        connection: &mut ConnectionManager,
        after: StreamId,
    ) -> Result<Vec<Stamped>, redis::RedisError> {
        let options = redis::streams::StreamReadOptions::default()
            .count(READ_BATCH)
            .block(usize::try_from(READ_BLOCK.as_millis()).unwrap_or(1000));
        let reply: Option<StreamReadReply> = connection
            .xread_options(&[&self.key], &[after.to_string()], &options)
            .await?;
        let mut events = Vec::new();
        for entry in reply
            .into_iter()
            .flat_map(|reply| reply.keys)
            .flat_map(|key| key.ids)
        {
            let Ok(id) = entry.id.parse::<StreamId>() else {
                continue;
            };
            let decoded = entry
                .get::<String>("e")
                .and_then(|data| serde_json::from_str::<AppEvent>(&data).ok());
            if let Some(event) = decoded {
                events.push(Stamped { id, event });
            } else {
                tracing::warn!(%id, "a Stream entry that is not an app event; skipped");
            }
        }
        Ok(events)
    }

    /// Reads every entry after `after`, in order, into `events` until shutdown; after a Redis
    /// failure it retries from the last entry it delivered, so nothing is skipped or repeated.
    pub async fn run_reader(
        self,
        mut after: StreamId,
        events: broadcast::Sender<Stamped>,
        shutdown: CancellationToken,
    ) {
        let mut connection = loop {
            match self.redis.dedicated().await {
                Ok(connection) => break connection,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot open the Stream reader's connection; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(RETRY_EVERY) => {}
                    }
                }
            }
        };
        loop {
            let batch = tokio::select! {
                () = shutdown.cancelled() => return,
                batch = self.read_after(&mut connection, after) => batch,
            };
            match batch {
                Ok(batch) => {
                    for stamped in batch {
                        after = stamped.id;
                        // No subscriber (yet) is fine.
                        let _ = events.send(stamped);
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, %after, "reading the event Stream failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(RETRY_EVERY) => {}
                    }
                }
            }
        }
    }

    /// Appends the events `publish` queues, in order, until shutdown (then what is already queued).
    /// A Redis failure is retried (the queue holds what arrives meanwhile); a fenced append is
    /// dropped and logged: this process lost the lease and must not speak for Discord any more.
    pub async fn run_writer(self, mut queue: mpsc::Receiver<Outgoing>, shutdown: CancellationToken) {
        loop {
            let event = tokio::select! {
                biased;
                event = queue.recv() => event,
                () = shutdown.cancelled() => {
                    // Flush what was published before shutdown, without waiting for more.
                    queue.close();
                    queue.recv().await
                }
            };
            let Some(Outgoing { event, position }) = event else {
                return;
            };
            loop {
                match self.append_from(&event, position.as_ref()).await {
                    Ok(_) => break,
                    Err(AppendError::Fenced) => {
                        tracing::error!(
                            event = event.name(),
                            "not published: this process lost the gateway lease"
                        );
                        metrics::counter!(crate::metric_names::EVENTS_DROPPED, "reason" => "fenced")
                            .increment(1);
                        break;
                    }
                    Err(AppendError::Redis(err)) => {
                        tracing::warn!(error = %err, event = event.name(), "cannot append to the event Stream; retrying");
                        if shutdown.is_cancelled() {
                            metrics::counter!(crate::metric_names::EVENTS_DROPPED, "reason" => "shutdown")
                                .increment(1);
                            break;
                        }
                        tokio::select! {
                            () = shutdown.cancelled() => {}
                            () = tokio::time::sleep(RETRY_EVERY) => {}
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use model::event::{AppEvent, RoomDeleted};

    use super::*;
    use crate::{
        bus::{BusMessage, EventBus},
        cluster::test_redis,
    };

    fn deleted(channel: u64) -> AppEvent {
        AppEvent::RoomDeleted(RoomDeleted {
            guild_id: "2".parse().unwrap(),
            channel_id: channel.to_string().parse().unwrap(),
        })
    }

    #[test]
    fn stream_ids_parse_print_and_order() {
        let id: StreamId = "1700000000000-7".parse().unwrap();
        assert_eq!(
            id,
            StreamId {
                ms: 1_700_000_000_000,
                seq: 7
            }
        );
        assert_eq!(id.to_string(), "1700000000000-7");
        assert!(StreamId { ms: 1, seq: 9 } < StreamId { ms: 2, seq: 0 });
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-1",
            "1-2-3",
            "+1-2",
            "1.2",
            "999999999999999999999-0",
        ] {
            assert_eq!(bad.parse::<StreamId>(), Err(BadStreamId), "{bad:?}");
        }
    }

    /// Two processes on one Stream: what either publishes reaches both, once, in one order, with
    /// the same ids.
    #[tokio::test]
    async fn every_process_reads_every_event_once_in_one_order() {
        let redis = test_redis().await;
        let shutdown = CancellationToken::new();
        let mut processes = Vec::new();
        for _ in 0..2 {
            let (bus, ports) = EventBus::on_stream(64);
            let stream = EventStream::new(redis.clone(), 1_000);
            let subscription = bus.subscribe();
            tokio::spawn(stream.clone().run_writer(ports.queue, shutdown.clone()));
            tokio::spawn(stream.run_reader(StreamId::ZERO, ports.events, shutdown.clone()));
            processes.push((bus, subscription));
        }
        for channel in 1..=5 {
            processes[usize::from(channel % 2 == 0)]
                .0
                .publish(deleted(channel));
        }
        let mut seen = Vec::new();
        for (_, subscription) in &mut processes {
            let mut got = Vec::new();
            while got.len() < 5 {
                let (message, id) = tokio::time::timeout(Duration::from_secs(5), subscription.recv_stamped())
                    .await
                    .expect("the event comes back from the Stream");
                let BusMessage::Event(event) = message else {
                    panic!("{message:?}")
                };
                got.push((id.expect("a Stream id"), event));
            }
            seen.push(got);
        }
        assert_eq!(
            seen[0], seen[1],
            "both processes read the same events, ids and order"
        );
        assert!(seen[0].windows(2).all(|pair| pair[0].0 < pair[1].0));
        shutdown.cancel();
    }

    #[tokio::test]
    async fn the_newest_published_dispatch_is_recorded_with_its_event() {
        let redis = test_redis().await;
        let stream = EventStream::new(redis, 1_000);
        assert_eq!(stream.dispatch_position().await.unwrap(), None);
        let at = |sequence| DispatchPosition {
            session: "abc".to_owned(),
            sequence,
        };
        stream.append_from(&deleted(1), Some(&at(41))).await.unwrap();
        stream.append_from(&deleted(2), Some(&at(42))).await.unwrap();
        stream.append(&deleted(3)).await.unwrap();
        assert_eq!(stream.dispatch_position().await.unwrap(), Some(at(42)));
    }

    #[tokio::test]
    async fn the_stream_is_trimmed_and_last_id_points_at_the_newest_entry() {
        let redis = test_redis().await;
        let stream = EventStream::new(redis.clone(), 1_000);
        assert_eq!(stream.last_id().await.unwrap(), StreamId::ZERO);
        let mut last = StreamId::ZERO;
        for channel in 1..=3 {
            last = stream.append(&deleted(channel)).await.unwrap();
        }
        assert_eq!(stream.last_id().await.unwrap(), last);
        let mut connection = redis.connection();
        let first = stream.read_after(&mut connection, StreamId::ZERO).await.unwrap()[0].id;
        let after_first = stream.read_after(&mut connection, first).await.unwrap();
        assert_eq!(after_first.len(), 2);
        assert_eq!(after_first[1].id, last);
    }
}
