//! [`Watchers`]: every open `GET /api/stream`, so that an open stream stays authorised only as
//! long as its viewer may watch.
//!
//! The stream handler checks the session and the room's players once, when a stream opens. Each
//! stream is then registered here with who opened it (user and session) and the room it watches,
//! and carries a [`CancellationToken`] that ends it. Whoever takes the right to watch away ends
//! the matching streams: the owner removing a player and a player leaving
//! ([`Watchers::end_player`]), the room closing or being swept away ([`Watchers::end_room`]), and
//! signing out ([`Watchers::end_session`]). A cancelled stream ends at its next poll, so at once;
//! its client may reconnect, and is then checked again like any new stream.
//!
//! The registry also counts each user's open streams, for the per-user cap.
//!
//! Owner: `Watchers` owns the map behind one `std::sync::Mutex`, held only for short, non-async
//! sections. An entry is added by [`Watchers::open`] and removed by dropping the [`Watch`] it
//! returns, which the stream holds: whatever ends a stream (its client, a revocation, shutdown)
//! also unregisters it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use model::ids::{ChannelId, UserId};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tower_sessions::session::Id as SessionId;

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

/// The open streams; cheap to clone (all clones share them).
#[derive(Debug, Clone, Default)]
pub struct Watchers {
    inner: Arc<Mutex<Registry>>,
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
        self.watchers.registry().open.remove(&self.key);
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
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a stream of `viewer`'s that ends when `parent` is cancelled or when the viewer's
    /// right to watch is taken away. A signed-in user may hold `max_per_user` streams at once.
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

    /// Ends `user`'s streams of `room` (they were removed, or left); returns how many.
    pub fn end_player(&self, room: ChannelId, user: UserId) -> usize {
        self.end(|viewer| viewer.room == room && viewer.user == Some(user))
    }

    /// Ends every stream of `room` (it was closed or deleted); returns how many.
    pub fn end_room(&self, room: ChannelId) -> usize {
        self.end(|viewer| viewer.room == room)
    }

    /// Ends the streams opened with `session` (it signed out); returns how many.
    pub fn end_session(&self, session: SessionId) -> usize {
        self.end(|viewer| viewer.session == Some(session))
    }

    /// Streams open now.
    pub fn count(&self) -> usize {
        self.registry().open.len()
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
