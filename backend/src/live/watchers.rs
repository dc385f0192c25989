//! [`Watchers`]: every open `GET /api/stream`, so that an open stream stays authorised only as
//! long as its viewer may watch.
//!
//! The stream handler checks the session and the room's players once, when a stream opens. Each
//! stream is then registered here with who opened it (user and session) and the room it watches,
//! and carries a [`CancellationToken`] that ends it. Whoever takes the right to watch away ends
//! the matching streams: the owner removing a player and a player leaving
//! ([`Revocation::Player`]), the room closing or being swept away ([`Watchers::end_room`]), and
//! signing out ([`Revocation::Session`]). A cancelled stream ends at its next poll, so at once;
//! its client may reconnect, and is then checked again like any new stream.
//!
//! The registry also counts each user's open streams, for the per-user cap.
//!
//! # Several instances
//!
//! With Redis, [`Watchers::share`] makes this process one of several web instances, and three
//! things then hold across all of them (see `presence` and `revoke`): a user's stream cap counts
//! their streams on every instance ([`Watchers::admit`]); who watches which room is registered
//! in Redis, so the janitor never deletes a room watched through another instance
//! ([`Watchers::watched_in_cluster`]); and a [`Revocation`] ends the matching streams on every
//! instance ([`Watchers::revoke`]). Without it (the embedded default) everything stays in this
//! process, with no Redis round trip anywhere.
//!
//! Owner: `Watchers` owns the map of this process' streams behind one `std::sync::Mutex`, held
//! only for short, non-async sections. An entry is added by [`Watchers::open`] (or
//! [`Watchers::admit`]) and removed by dropping the [`Watch`] it returns, which the stream holds:
//! whatever ends a stream (its client, a revocation, shutdown) also unregisters it. What Redis
//! holds about this process' streams is a copy, written by `admit` and kept (refreshed, then
//! withdrawn) by the [`SharedWatchers`] task.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, OnceLock},
    time::Duration,
};

use model::ids::{ChannelId, UserId};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tower_sessions::session::Id as SessionId;

use crate::cluster::Redis;

mod presence;
mod revoke;

pub use presence::VIEWER_TTL;
pub use revoke::Revocation;

/// Who opened a stream, and what it watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// The signed-in user; `None` for a stream served without a session (`DEV_OPEN_STREAM`),
    /// which no sign-out or removal concerns and no per-user cap counts.
    pub user: Option<UserId>,
    /// The session the stream was opened with, as it was then: signing out of that session ends
    /// the stream. (The id is cycled at sign-in, so a stream opened before is not a later
    /// session's.)
    pub session: Option<SessionId>,
    /// The room watched.
    pub room: ChannelId,
}

/// A user already has as many streams open as they may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this user already has {limit} streams open")]
pub struct TooManyStreams {
    /// The cap that was reached.
    pub limit: usize,
}

/// [`Watchers::share`] was called twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("these watchers are already shared through Redis")]
pub struct AlreadyShared;

/// The open streams; cheap to clone (all clones share them).
#[derive(Debug, Clone, Default)]
pub struct Watchers {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    registry: Mutex<Registry>,
    /// Set once, at startup, when instances share Redis; read-only after that.
    shared: OnceLock<Shared>,
}

/// The Redis side of shared watchers.
#[derive(Debug)]
struct Shared {
    presence: presence::Presence,
    revocations: revoke::Publisher,
}

#[derive(Debug, Default)]
struct Registry {
    /// Hands out entry keys; never reused within a process.
    next_key: u64,
    open: HashMap<u64, Entry>,
}

#[derive(Debug)]
struct Entry {
    viewer: Viewer,
    ended: CancellationToken,
}

/// One registered stream. Its stream ends when [`Watch::ended`] completes; dropping it unregisters
/// the stream.
#[derive(Debug)]
pub struct Watch {
    key: u64,
    ended: CancellationToken,
    watchers: Watchers,
}

impl Watch {
    /// Completes when the stream must end: its viewer lost the right to watch, or the `parent`
    /// it was opened under (the server's shutdown) was cancelled.
    pub fn ended(&self) -> WaitForCancellationFuture<'_> {
        self.ended.cancelled()
    }

    /// Whether the stream must end.
    pub fn is_ended(&self) -> bool {
        self.ended.is_cancelled()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let removed = self.watchers.registry().open.remove(&self.key);
        if let (Some(entry), Some(shared)) = (removed, self.watchers.inner.shared.get()) {
            shared.presence.forget(self.key, &entry.viewer);
        }
    }
}

impl Watchers {
    /// No streams open.
    pub fn new() -> Self {
        Self::default()
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // Every section under the lock leaves the map consistent, so a panic elsewhere while it
        // was held does not make it unusable.
        self.inner
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes these watchers one instance's among several sharing `redis` (see the module doc):
    /// streams are registered there with a time to live of `ttl` ([`VIEWER_TTL`] in production),
    /// which the returned task refreshes. Call once, at startup, before any stream opens; the
    /// returned [`SharedWatchers`] must run (under the supervisor) for as long as the server does.
    pub fn share(&self, redis: &Redis, ttl: Duration) -> Result<SharedWatchers, AlreadyShared> {
        let instance: Arc<str> = uuid::Uuid::new_v4().simple().to_string().into();
        let (presence, removals) = presence::Presence::new(redis.clone(), instance.clone(), ttl);
        let (publisher, listener) = revoke::channel(redis, instance);
        self.inner
            .shared
            .set(Shared {
                presence,
                revocations: publisher,
            })
            .map_err(|_| AlreadyShared)?;
        Ok(SharedWatchers {
            watchers: self.clone(),
            removals,
            listener,
        })
    }

    fn shared(&self) -> Option<&Shared> {
        self.inner.shared.get()
    }

    /// Registers a stream of `viewer`'s as [`Watchers::open`] does, with the cap counted across
    /// every instance when they share Redis: a signed-in user may hold `max_per_user` streams at
    /// once, wherever they are served. The stream is registered in Redis before this returns, so
    /// the other instances see its room watched at once.
    ///
    /// If Redis fails, the stream is admitted under this process' own count (the cap then holds
    /// per instance) and registered in Redis by the next heartbeat: refusing every stream while
    /// Redis restarts would take the live page down for everyone, and the connection cap still
    /// bounds what one client can hold.
    pub async fn admit(
        &self,
        viewer: Viewer,
        max_per_user: usize,
        parent: &CancellationToken,
    ) -> Result<Watch, TooManyStreams> {
        let watch = self.open(viewer, max_per_user, parent)?;
        let Some(shared) = self.shared() else {
            return Ok(watch);
        };
        match shared.presence.admit(watch.key, &viewer, max_per_user).await {
            Ok(true) => Ok(watch),
            // Dropping the watch withdraws whatever a heartbeat may have registered meanwhile.
            Ok(false) => Err(TooManyStreams { limit: max_per_user }),
            Err(err) => {
                shared.presence.failed(&err, "register a stream");
                Ok(watch)
            }
        }
    }

    /// Ends the streams `revocation` names, here at once and, when instances share Redis, on
    /// every other instance as soon as it reads the revocation; returns how many ended here.
    ///
    /// A revocation Redis cannot take now is kept and sent again until it can (see `revoke`):
    /// the change it follows (a removal, a sign-out) has happened, and the streams of a viewer
    /// who may no longer watch must end even if it is late.
    pub async fn revoke(&self, revocation: Revocation) -> usize {
        let ended = self.end(|viewer| revocation.matches(viewer));
        if let Some(shared) = self.shared() {
            shared.revocations.publish(&revocation).await;
        }
        ended
    }

    /// Whether any instance sharing Redis has registered a stream of `room` that has not expired
    /// (this one's included); always `false` without Redis, where the fan-out's own count of
    /// viewers is the whole truth.
    ///
    /// When Redis cannot answer this says `true`: it is asked before deleting a room, and a room
    /// kept one sweep longer is harmless where a watched room deleted is not.
    pub async fn watched_in_cluster(&self, room: ChannelId) -> bool {
        let Some(shared) = self.shared() else {
            return false;
        };
        match shared.presence.watched(room).await {
            Ok(watched) => watched,
            Err(err) => {
                shared.presence.failed(&err, "count a room's viewers");
                true
            }
        }
    }

    /// Registers a stream of `viewer`'s that ends when `parent` is cancelled or when the viewer's
    /// right to watch is taken away. A signed-in user may hold `max_per_user` streams at once in
    /// this process. With shared watchers this neither checks the other instances nor registers
    /// the stream in Redis before the next heartbeat: streams served to clients use
    /// [`Watchers::admit`].
    pub fn open(
        &self,
        viewer: Viewer,
        max_per_user: usize,
        parent: &CancellationToken,
    ) -> Result<Watch, TooManyStreams> {
        let mut registry = self.registry();
        if let Some(user) = viewer.user {
            let open = registry
                .open
                .values()
                .filter(|entry| entry.viewer.user == Some(user))
                .count();
            if open >= max_per_user {
                return Err(TooManyStreams { limit: max_per_user });
            }
        }
        registry.next_key += 1;
        let key = registry.next_key;
        let ended = parent.child_token();
        registry.open.insert(
            key,
            Entry {
                viewer,
                ended: ended.clone(),
            },
        );
        Ok(Watch {
            key,
            ended,
            watchers: self.clone(),
        })
    }

    /// Ends `user`'s streams of `room` in this process (they were removed, or left); returns how
    /// many. [`Watchers::revoke`] also ends those on the other instances.
    pub fn end_player(&self, room: ChannelId, user: UserId) -> usize {
        self.end(|viewer| viewer.room == room && viewer.user == Some(user))
    }

    /// Ends every stream of `room` in this process (it was closed or deleted); returns how many.
    /// Other instances hear of a closed room through its `room.deleted`, which ends their
    /// streams of it.
    pub fn end_room(&self, room: ChannelId) -> usize {
        self.end(|viewer| viewer.room == room)
    }

    /// Ends the streams opened with `session` in this process (it signed out); returns how many.
    /// [`Watchers::revoke`] also ends those on the other instances.
    pub fn end_session(&self, session: SessionId) -> usize {
        self.end(|viewer| viewer.session == Some(session))
    }

    /// Streams open now in this process.
    pub fn count(&self) -> usize {
        self.registry().open.len()
    }

    /// This process' open streams, by key: what a heartbeat refreshes in Redis.
    fn snapshot(&self) -> Vec<(u64, Viewer)> {
        self.registry()
            .open
            .iter()
            .map(|(key, entry)| (*key, entry.viewer))
            .collect()
    }

    fn end(&self, matches: impl Fn(&Viewer) -> bool) -> usize {
        let registry = self.registry();
        let mut ended = 0;
        for entry in registry.open.values().filter(|entry| matches(&entry.viewer)) {
            entry.ended.cancel();
            ended += 1;
        }
        ended
    }
}

/// The background work of shared watchers (see [`Watchers::share`]): keeps this process' streams
/// registered in Redis (refreshed every third of their time to live, withdrawn when they close
/// and at shutdown) and ends the local streams other instances revoke.
#[derive(Debug)]
pub struct SharedWatchers {
    watchers: Watchers,
    /// What closed streams left to withdraw from Redis, sent by [`Watch`]'s `Drop`.
    removals: tokio::sync::mpsc::Receiver<presence::Removal>,
    listener: revoke::Listener,
}

impl SharedWatchers {
    /// Runs until `shutdown`, then withdraws this process' streams from Redis (they are ending)
    /// so its users' caps and its rooms' viewers are not held for a time to live by an instance
    /// that is gone.
    pub async fn run(self, shutdown: CancellationToken) {
        let Self {
            watchers,
            removals,
            listener,
        } = self;
        let Some(shared) = watchers.shared() else {
            return;
        };
        tokio::join!(
            shared.presence.keep(&watchers, removals, &shutdown),
            listener.run(&watchers, &shared.revocations, &shutdown),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(id: u64) -> ChannelId {
        id.to_string().parse().unwrap()
    }

    fn viewer(user: Option<u64>, session: Option<i128>, room: u64) -> Viewer {
        Viewer {
            user: user.map(|user| user.to_string().parse().unwrap()),
            session: session.map(SessionId),
            room: room.to_string().parse().unwrap(),
        }
    }

    #[test]
    fn each_revocation_ends_exactly_the_matching_streams() {
        let watchers = Watchers::new();
        let shutdown = CancellationToken::new();
        let open = |user, session, room| watchers.open(viewer(user, session, room), 8, &shutdown).unwrap();
        let alice_here = open(Some(1), Some(10), 100);
        let alice_elsewhere = open(Some(1), Some(11), 200);
        let bob_here = open(Some(2), Some(20), 100);
        let anonymous = open(None, None, 100);

        assert_eq!(
            watchers.end_player("100".parse().unwrap(), "1".parse().unwrap()),
            1
        );
        assert!(alice_here.is_ended());
        assert!(!alice_elsewhere.is_ended() && !bob_here.is_ended() && !anonymous.is_ended());

        assert_eq!(watchers.end_session(SessionId(20)), 1);
        assert!(bob_here.is_ended());
        assert!(!alice_elsewhere.is_ended() && !anonymous.is_ended());

        assert_eq!(watchers.end_room("200".parse().unwrap()), 1);
        assert!(alice_elsewhere.is_ended() && !anonymous.is_ended());
        assert_eq!(
            watchers.end_room("100".parse().unwrap()),
            3,
            "the ended stay until dropped"
        );
        assert!(anonymous.is_ended());
    }

    #[test]
    fn a_user_holds_at_most_the_cap_and_a_dropped_stream_frees_its_place() {
        let watchers = Watchers::new();
        let shutdown = CancellationToken::new();
        let first = watchers
            .open(viewer(Some(1), Some(10), 100), 2, &shutdown)
            .unwrap();
        let _second = watchers
            .open(viewer(Some(1), Some(11), 200), 2, &shutdown)
            .unwrap();
        assert_eq!(
            watchers
                .open(viewer(Some(1), Some(10), 100), 2, &shutdown)
                .unwrap_err(),
            TooManyStreams { limit: 2 }
        );
        assert!(
            watchers
                .open(viewer(Some(2), Some(20), 100), 2, &shutdown)
                .is_ok()
        );
        // Streams without a user are not capped here (the connection cap bounds them).
        let anonymous: Vec<Watch> = (0..3)
            .map(|_| watchers.open(viewer(None, None, 100), 2, &shutdown).unwrap())
            .collect();
        assert_eq!(anonymous.len(), 3);
        drop(first);
        assert!(
            watchers
                .open(viewer(Some(1), Some(10), 100), 2, &shutdown)
                .is_ok()
        );
    }

    #[test]
    fn shutdown_ends_every_stream_and_dropping_unregisters() {
        let watchers = Watchers::new();
        let shutdown = CancellationToken::new();
        let watch = watchers.open(viewer(Some(1), None, 100), 8, &shutdown).unwrap();
        assert_eq!(watchers.count(), 1);
        shutdown.cancel();
        assert!(watch.is_ended());
        drop(watch);
        assert_eq!(watchers.count(), 0);
    }

    #[tokio::test]
    async fn without_redis_everything_stays_in_this_process() {
        let watchers = Watchers::new();
        let shutdown = CancellationToken::new();
        let first = watchers
            .admit(viewer(Some(1), Some(10), 100), 1, &shutdown)
            .await
            .unwrap();
        assert_eq!(
            watchers
                .admit(viewer(Some(1), Some(11), 200), 1, &shutdown)
                .await
                .unwrap_err(),
            TooManyStreams { limit: 1 }
        );
        assert!(!watchers.watched_in_cluster(room(100)).await);
        assert_eq!(watchers.revoke(Revocation::Session(SessionId(10))).await, 1);
        assert!(first.is_ended(), "ended before `revoke` returned");
    }

    mod shared {
        use std::{future::Future, time::Duration};

        use super::*;
        use crate::cluster::test_redis;

        const HOUR: Duration = Duration::from_secs(3600);

        /// Another handle on `redis`' namespace: what another instance of the deployment holds.
        #[expect(
            clippy::disallowed_methods,
            reason = "the same redis-server as cluster::test_redis"
        )]
        async fn same_namespace(redis: &Redis) -> Redis {
            let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
            Redis::connect(&url, redis.namespace()).await.unwrap()
        }

        /// An instance on `redis` whose task runs until `stop`.
        async fn running(
            redis: &Redis,
            ttl: Duration,
            stop: &CancellationToken,
        ) -> (Watchers, tokio::task::JoinHandle<()>) {
            let watchers = Watchers::new();
            let task = watchers.share(&same_namespace(redis).await, ttl).unwrap();
            (watchers, tokio::spawn(task.run(stop.clone())))
        }

        /// Waits (bounded) until `condition` holds. Redis' clock cannot be paused, so this polls.
        async fn eventually<F: Future<Output = bool>>(what: &str, condition: impl Fn() -> F) {
            tokio::time::timeout(Duration::from_secs(5), async {
                while !condition().await {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .unwrap_or_else(|_| panic!("{what}"));
        }

        /// Waits (bounded) until `watch` ends.
        async fn ends(watch: &Watch) -> Result<(), tokio::time::error::Elapsed> {
            tokio::time::timeout(Duration::from_secs(5), watch.ended()).await
        }

        /// Redis' clock, in milliseconds.
        async fn redis_now(redis: &Redis) -> i64 {
            let (seconds, micros): (i64, i64) = redis::cmd("TIME")
                .query_async(&mut redis.connection())
                .await
                .unwrap();
            seconds * 1000 + micros / 1000
        }

        #[tokio::test]
        async fn a_crashed_instances_viewers_and_places_expire_on_their_own() {
            let redis = test_redis().await;
            let ttl = Duration::from_millis(300);
            let crashed = Watchers::new();
            // Its task never runs: nothing refreshes or withdraws its streams.
            let _never_run = crashed.share(&redis, ttl).unwrap();
            let survivor = Watchers::new();
            let _idle = survivor.share(&same_namespace(&redis).await, ttl).unwrap();
            let shutdown = CancellationToken::new();
            let _stranded = crashed
                .admit(viewer(Some(1), Some(10), 100), 1, &shutdown)
                .await
                .unwrap();
            assert!(
                survivor.watched_in_cluster(room(100)).await,
                "registered as it opened, not at a heartbeat"
            );
            assert!(!survivor.watched_in_cluster(room(200)).await);
            eventually("the crashed instance's viewer expires", || async {
                !survivor.watched_in_cluster(room(100)).await
            })
            .await;
            assert!(
                survivor
                    .admit(viewer(Some(1), Some(11), 200), 1, &shutdown)
                    .await
                    .is_ok(),
                "and its user's place is free again"
            );
        }

        #[tokio::test]
        async fn a_heartbeat_keeps_a_viewer_registered_past_its_time_to_live() {
            let redis = test_redis().await;
            // Long enough that a busy machine still refreshes it in time (every third of it).
            let ttl = Duration::from_secs(1);
            let stop = CancellationToken::new();
            let (a, _task) = running(&redis, ttl, &stop).await;
            let b = Watchers::new();
            let _idle = b.share(&redis, ttl).unwrap();
            let _watch = a.admit(viewer(Some(1), None, 100), 8, &stop).await.unwrap();
            let first_expiry = redis_now(&redis).await + 1000;
            eventually("Redis' clock passes the first expiry", || async {
                redis_now(&redis).await > first_expiry + 100
            })
            .await;
            assert!(
                b.watched_in_cluster(room(100)).await,
                "the watching instance refreshed it"
            );
        }

        #[tokio::test]
        async fn closed_streams_and_at_shutdown_all_streams_are_withdrawn_at_once() {
            let redis = test_redis().await;
            let stop = CancellationToken::new();
            let (a, task) = running(&redis, HOUR, &stop).await;
            let b = Watchers::new();
            let _idle = b.share(&redis, HOUR).unwrap();
            let streams = CancellationToken::new();
            let here = a.admit(viewer(Some(1), None, 100), 8, &streams).await.unwrap();
            let _there = a.admit(viewer(None, None, 200), 8, &streams).await.unwrap();
            assert!(b.watched_in_cluster(room(100)).await && b.watched_in_cluster(room(200)).await);
            drop(here);
            // An hour to live: only the withdrawal can make it go within the wait.
            eventually("the closed stream is withdrawn", || async {
                !b.watched_in_cluster(room(100)).await
            })
            .await;
            assert!(b.watched_in_cluster(room(200)).await);
            stop.cancel();
            task.await.unwrap();
            assert!(
                !b.watched_in_cluster(room(200)).await,
                "a stopped instance leaves nothing behind"
            );
        }

        #[tokio::test]
        async fn a_users_stream_cap_holds_across_instances() {
            let redis = test_redis().await;
            let stop = CancellationToken::new();
            let (a, _a_task) = running(&redis, HOUR, &stop).await;
            let (b, _b_task) = running(&redis, HOUR, &stop).await;
            let first = a.admit(viewer(Some(1), Some(10), 100), 2, &stop).await.unwrap();
            let _second = b.admit(viewer(Some(1), Some(11), 200), 2, &stop).await.unwrap();
            for instance in [&a, &b] {
                assert_eq!(
                    instance
                        .admit(viewer(Some(1), Some(12), 100), 2, &stop)
                        .await
                        .unwrap_err(),
                    TooManyStreams { limit: 2 }
                );
            }
            let _bob = b.admit(viewer(Some(2), Some(20), 100), 2, &stop).await.unwrap();
            let _anonymous: Vec<Watch> =
                futures::future::join_all((0..3).map(|_| a.admit(viewer(None, None, 100), 2, &stop)))
                    .await
                    .into_iter()
                    .map(Result::unwrap)
                    .collect();
            drop(first);
            let admitted = std::sync::Mutex::new(Vec::new());
            eventually("a closed stream frees its place on every instance", || async {
                match b.admit(viewer(Some(1), Some(12), 300), 2, &stop).await {
                    Ok(watch) => {
                        admitted.lock().unwrap().push(watch);
                        true
                    }
                    Err(_) => false,
                }
            })
            .await;
        }

        #[tokio::test]
        async fn a_revocation_ends_the_matching_streams_on_every_instance() {
            let redis = test_redis().await;
            let stop = CancellationToken::new();
            let (a, _a_task) = running(&redis, HOUR, &stop).await;
            let (b, _b_task) = running(&redis, HOUR, &stop).await;
            let secret = 987_654_321_987_654_321_i128;
            let open = |user, session, room| b.admit(viewer(Some(user), Some(session), room), 8, &stop);
            let alice_here = open(1, 10, 100).await.unwrap();
            let alice_elsewhere = open(1, 11, 200).await.unwrap();
            let bob_here = open(2, secret, 100).await.unwrap();

            assert_eq!(
                a.revoke(Revocation::Player {
                    room: room(100),
                    user: "1".parse().unwrap()
                })
                .await,
                0,
                "none here"
            );
            ends(&alice_here)
                .await
                .expect("alice's stream of room 100 ends on b");
            assert!(!alice_elsewhere.is_ended() && !bob_here.is_ended());

            a.revoke(Revocation::Session(SessionId(secret))).await;
            ends(&bob_here)
                .await
                .expect("the signed-out session's stream ends on b");
            assert!(!alice_elsewhere.is_ended());

            a.revoke(Revocation::Room(room(200))).await;
            ends(&alice_elsewhere)
                .await
                .expect("the closed room's stream ends on b");

            let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
                .arg(redis.key("revoke"))
                .arg("-")
                .arg("+")
                .query_async(&mut redis.connection())
                .await
                .unwrap();
            let wire: Vec<String> = entries
                .ids
                .iter()
                .filter_map(|entry| entry.get::<String>("revoke"))
                .collect();
            assert_eq!(wire.len(), 3);
            let wire = wire.join("\n");
            assert!(
                !wire.contains(&secret.to_string()),
                "a session id never reaches Redis: {wire}"
            );
        }
    }
}
