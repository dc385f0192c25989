//! Who watches which room, and how many streams each user holds, across every instance sharing
//! Redis.
//!
//! Each open stream is one member, `<instance>:<key>`, of two sorted sets: its room's
//! (`viewers:<room>`) and, for a signed-in viewer, its user's (`streams:<user>`). A member's score
//! is when it expires (Redis' clock, milliseconds): the instance holding the stream pushes it
//! forward every third of the time to live, so the streams of an instance that crashed expire on
//! their own within one time to live, and nothing ever has to clean up after it. Each key expires
//! with its last member, so rooms and users nobody watches cost Redis nothing.
//!
//! Admission (the cap check and both registrations) is one Lua script, so two instances admitting
//! the same user at once cannot both take the last place. All times are Redis' own, never the
//! instances' clocks, which may disagree.
//!
//! Owner: the [`super::SharedWatchers`] task writes refreshes and withdrawals; `admit` (in request
//! tasks) only adds. Both go over the one multiplexed connection, in order, so a withdrawal sent
//! after an admission is applied after it.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use model::ids::{ChannelId, UserId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Viewer, Watchers};
use crate::cluster::Redis;

/// How long a registered stream counts without being refreshed: the longest a crashed instance's
/// viewers keep a room watched and their users' places taken.
pub const VIEWER_TTL: Duration = Duration::from_secs(30);
/// Withdrawals waiting for the task; past this a closed stream is left to expire instead.
const REMOVALS_QUEUED: usize = 4096;
/// Streams refreshed per script call, so one call never holds Redis up for long.
const REFRESH_CHUNK: usize = 256;
/// How long the withdrawal at shutdown may take: the server's own deadline is longer.
const WITHDRAW_DEADLINE: Duration = Duration::from_secs(2);

/// The current time on Redis' clock, in milliseconds, as `now` (shared by every script).
const NOW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function touch(key)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then
    redis.call('PEXPIREAT', key, last[2])
  end
end
";

/// `KEYS[1]`: the room's set; `KEYS[2]` (signed-in viewers only): the user's set. `ARGV`: the
/// member, the time to live (ms), the user's cap. Returns 1 when admitted (and registered in both
/// sets), 0 when the user already holds the cap elsewhere.
const ADMIT: &str = r"
local ttl = tonumber(ARGV[2])
if KEYS[2] then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  local held = redis.call('ZCARD', KEYS[2])
  -- A heartbeat may have registered this very stream already: it does not count against itself.
  if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
    held = held - 1
  end
  if held >= tonumber(ARGV[3]) then
    return 0
  end
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
  touch(KEYS[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
touch(KEYS[1])
return 1
";

/// `KEYS[i]` gets member `ARGV[i + 1]`, expiring `ARGV[1]` ms from now.
const REFRESH: &str = r"
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, ARGV[i + 1])
  touch(key)
end
return #KEYS
";

/// How many members of `KEYS[1]` have not expired.
const COUNT: &str = r"
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
";

/// What a closed stream leaves to withdraw from Redis.
#[derive(Debug)]
pub(super) struct Removal {
    key: u64,
    room: ChannelId,
    user: Option<UserId>,
}

/// This process' streams as Redis knows them.
#[derive(Debug)]
pub(super) struct Presence {
    redis: Redis,
    /// This process among the instances; half of every member's name.
    instance: Arc<str>,
    ttl: Duration,
    admit: redis::Script,
    refresh: redis::Script,
    count: redis::Script,
    removals: mpsc::Sender<Removal>,
    /// Whether Redis failed last time, so an outage is logged when it starts and when it ends,
    /// not once per stream.
    degraded: AtomicBool,
}

impl Presence {
    /// The presence of `instance`'s streams in `redis`, and the queue its task withdraws closed
    /// streams from.
    pub(super) fn new(redis: Redis, instance: Arc<str>, ttl: Duration) -> (Self, mpsc::Receiver<Removal>) {
        let (removals, queued) = mpsc::channel(REMOVALS_QUEUED);
        let script = |body: &str| redis::Script::new(&format!("{NOW}{body}"));
        let presence = Self {
            redis,
            instance,
            ttl,
            admit: script(ADMIT),
            refresh: script(REFRESH),
            count: script(COUNT),
            removals,
            degraded: AtomicBool::new(false),
        };
        (presence, queued)
    }

    fn member(&self, key: u64) -> String {
        format!("{}:{key}", self.instance)
    }

    fn room_key(&self, room: ChannelId) -> String {
        self.redis.key(&format!("viewers:{room}"))
    }

    fn user_key(&self, user: UserId) -> String {
        self.redis.key(&format!("streams:{user}"))
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// Checks `viewer`'s user against `max_per_user` streams on every instance and registers
    /// stream `key` in its room's and user's sets, in one step. `Ok(false)`: over the cap.
    pub(super) async fn admit(
        &self,
        key: u64,
        viewer: &Viewer,
        max_per_user: usize,
    ) -> redis::RedisResult<bool> {
        let mut invocation = self.admit.key(self.room_key(viewer.room));
        if let Some(user) = viewer.user {
            invocation.key(self.user_key(user));
        }
        let admitted: i64 = invocation
            .arg(self.member(key))
            .arg(self.ttl_ms())
            .arg(max_per_user)
            .invoke_async(&mut self.redis.connection())
            .await?;
        self.recovered();
        Ok(admitted == 1)
    }

    /// Whether any instance's stream of `room` has not expired.
    pub(super) async fn watched(&self, room: ChannelId) -> redis::RedisResult<bool> {
        let viewers: u64 = self
            .count
            .key(self.room_key(room))
            .invoke_async(&mut self.redis.connection())
            .await?;
        self.recovered();
        Ok(viewers > 0)
    }

    /// Queues stream `key` of `viewer` for withdrawal (it closed). Never waits: when the queue
    /// is full the stream's entries simply expire, as a crashed instance's do.
    pub(super) fn forget(&self, key: u64, viewer: &Viewer) {
        let removal = Removal {
            key,
            room: viewer.room,
            user: viewer.user,
        };
        if self.removals.try_send(removal).is_err() {
            tracing::debug!("too many closed streams queued for withdrawal; this one expires instead");
        }
    }

    /// Takes note that Redis failed to `what`.
    pub(super) fn failed(&self, err: &redis::RedisError, what: &str) {
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %err, "Redis failed to {what}: stream caps hold per instance, and the janitor keeps rooms it cannot check, until it answers again");
        }
    }

    fn recovered(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("Redis answers again: stream caps and viewers are shared again");
        }
    }

    /// Re-registers `streams` for another time to live (and registers any that `admit` could
    /// not, while Redis was away).
    async fn refresh(&self, streams: &[(u64, Viewer)]) -> redis::RedisResult<()> {
        let mut connection = self.redis.connection();
        for chunk in streams.chunks(REFRESH_CHUNK) {
            let mut invocation = self.refresh.prepare_invoke();
            invocation.arg(self.ttl_ms());
            for (key, viewer) in chunk {
                let member = self.member(*key);
                invocation.key(self.room_key(viewer.room)).arg(&member);
                if let Some(user) = viewer.user {
                    invocation.key(self.user_key(user)).arg(&member);
                }
            }
            let _: i64 = invocation.invoke_async(&mut connection).await?;
        }
        self.recovered();
        Ok(())
    }

    /// Withdraws `streams` from their sets.
    async fn remove(&self, streams: &[Removal]) -> redis::RedisResult<()> {
        if streams.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for stream in streams {
            let member = self.member(stream.key);
            pipe.cmd("ZREM")
                .arg(self.room_key(stream.room))
                .arg(&member)
                .ignore();
            if let Some(user) = stream.user {
                pipe.cmd("ZREM").arg(self.user_key(user)).arg(&member).ignore();
            }
        }
        pipe.query_async::<()>(&mut self.redis.connection()).await?;
        self.recovered();
        Ok(())
    }

    /// The presence task: refreshes `watchers`' streams every third of the time to live and
    /// withdraws the closed ones as they close, one thing at a time (so a refresh never brings
    /// back a stream withdrawn after it); at `shutdown`, withdraws them all.
    pub(super) async fn keep(
        &self,
        watchers: &Watchers,
        mut removals: mpsc::Receiver<Removal>,
        shutdown: &CancellationToken,
    ) {
        let mut ticks = tokio::time::interval((self.ttl / 3).max(Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(first) = removals.recv() => {
                    let mut batch = vec![first];
                    while batch.len() < REFRESH_CHUNK
                        && let Ok(more) = removals.try_recv()
                    {
                        batch.push(more);
                    }
                    // On failure they expire within a time to live.
                    if let Err(err) = self.remove(&batch).await {
                        self.failed(&err, "withdraw closed streams");
                    }
                }
                _ = ticks.tick() => {
                    if let Err(err) = self.refresh(&watchers.snapshot()).await {
                        self.failed(&err, "refresh this instance's streams");
                    }
                }
            }
        }
        // Every stream of this process is ending with it, including those still open.
        let mut leaving: Vec<Removal> = watchers
            .snapshot()
            .into_iter()
            .map(|(key, viewer)| Removal {
                key,
                room: viewer.room,
                user: viewer.user,
            })
            .collect();
        while let Ok(closed) = removals.try_recv() {
            leaving.push(closed);
        }
        match tokio::time::timeout(WITHDRAW_DEADLINE, self.remove(&leaving)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "cannot withdraw this instance's streams at shutdown; they expire instead");
            }
            Err(_) => tracing::warn!(
                "withdrawing this instance's streams at shutdown timed out; they expire instead"
            ),
        }
    }
}
