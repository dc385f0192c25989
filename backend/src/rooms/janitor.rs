//! Cleanup of idle rooms: a room with nobody in its voice channel and nobody watching its page for
//! an hour gets a `room.inactive` warning, then (at least five minutes after that warning went
//! out) its channel is deleted and the room is closed; viewers get `room.deleted`. The janitor also
//! closes rooms whose channel was deleted in Discord, outside the app.
//!
//! Only open rooms in the database are ever considered, so only channels the app created can be
//! deleted. Idle time lives in the database (`rooms.idle_since`, `rooms.warned_at`), not in this
//! process, so a deploy does not restart a room's hour. [`judge`] decides (pure, on explicit
//! instants); [`Janitor::sweep`] acts on its decisions one room at a time, and one room's failure
//! (a 403, a 5xx, a timeout, a database error) is logged and retried at the next sweep without
//! stopping the others; [`Janitor::run`] sweeps every minute and listens to the bus.
//!
//! When web instances share Redis, a page watched through any of them keeps its room: the open
//! streams are registered there, and those of an instance that crashed expire on their own.
//!
//! While the roster cannot be trusted (the gateway is not connected) nobody can tell an idle room
//! from a busy one: sweeps decide nothing, and that blind time is taken out of every idle clock
//! when the roster is back ([`Janitor::observe_roster`]).

use std::{collections::BTreeSet, time::Duration};

use model::{
    event::{AppEvent, RoomInactive, RosterStatus},
    ids::ChannelId,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{RoomError, Rooms};
use crate::{
    bus::{BusMessage, BusSubscription, EventBus},
    store::{CloseReason, Idleness, unix_millis},
};

/// Idle this long and the room is deleted.
pub const IDLE_LIMIT: Duration = Duration::from_secs(60 * 60);
/// The warning comes this long before the deletion.
pub const WARNING_AHEAD: Duration = Duration::from_secs(5 * 60);
/// How often [`Janitor::run`] sweeps.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// What to do about one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do or to remember.
    Leave,
    /// Someone is back: forget the idle time and any warning.
    Busy,
    /// Nobody is there: its idle time starts now.
    StartIdle,
    /// Warn that it will be deleted at `delete_at_ms` (unix milliseconds).
    Warn {
        /// When the deletion is due.
        delete_at_ms: i64,
    },
    /// Delete it.
    Delete,
}

/// Decides about one room at `now_ms` (unix milliseconds) from what is remembered of it and whether
/// anyone is there (`busy`: in its voice channel or watching its page). A room is deleted only when
/// it has been idle for [`IDLE_LIMIT`] *and* its warning was published at least [`WARNING_AHEAD`]
/// earlier, so nobody loses a room without notice, even after the app was down past the hour.
pub fn judge(now_ms: i64, busy: bool, idleness: Idleness) -> Verdict {
    if busy {
        return if idleness == Idleness::default() {
            Verdict::Leave
        } else {
            Verdict::Busy
        };
    }
    let Some(since) = idleness.idle_since_ms else {
        return Verdict::StartIdle;
    };
    let idle = now_ms.saturating_sub(since);
    let limit = millis(IDLE_LIMIT);
    let ahead = millis(WARNING_AHEAD);
    match idleness.warned_at_ms {
        Some(warned) if idle >= limit && now_ms.saturating_sub(warned) >= ahead => Verdict::Delete,
        None if idle >= limit - ahead => Verdict::Warn {
            delete_at_ms: since.saturating_add(limit).max(now_ms.saturating_add(ahead)),
        },
        Some(_) | None => Verdict::Leave,
    }
}

/// When a warned room is due to be deleted unless someone comes back (unix milliseconds): what its
/// warning announced. `None` for a room that was not warned.
pub fn deletion_due(idleness: Idleness) -> Option<i64> {
    let since = idleness.idle_since_ms?;
    let warned = idleness.warned_at_ms?;
    Some(
        since
            .saturating_add(millis(IDLE_LIMIT))
            .max(warned.saturating_add(millis(WARNING_AHEAD))),
    )
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sweep {
    /// Rooms warned.
    pub warned: Vec<ChannelId>,
    /// Rooms deleted (their channel) and closed.
    pub deleted: Vec<ChannelId>,
    /// Rooms whose turn failed; the next sweep tries again.
    pub failed: Vec<ChannelId>,
    /// The roster was not ready, so nothing was decided.
    pub paused: bool,
}

/// What happened to one room in a sweep.
enum Done {
    Nothing,
    Warned,
    Deleted,
}

/// Sweeps idle rooms away and closes rooms whose channel is gone.
#[derive(Debug)]
pub struct Janitor {
    rooms: Rooms,
    bus: EventBus,
    /// Where `room.deleted` comes from (the gateway's `CHANNEL_DELETE`); subscribed at
    /// construction so nothing published after it is missed.
    events: BusSubscription,
    roster: watch::Receiver<RosterStatus>,
    /// Since when (unix milliseconds) the roster has not been trustworthy, while it is not.
    blind_since: Option<i64>,
    /// Rooms whose channel was deleted but whose closing failed; retried at every sweep.
    gone: BTreeSet<ChannelId>,
    /// The time between two sweeps.
    every: Duration,
}

impl Janitor {
    /// A janitor for `rooms`, judging activity by their live roster (voice members and viewers),
    /// which it trusts only while `roster` says it follows Discord; warnings go out on `bus`.
    pub fn new(rooms: Rooms, bus: EventBus, roster: watch::Receiver<RosterStatus>) -> Self {
        Self {
            rooms,
            events: bus.subscribe(),
            bus,
            roster,
            blind_since: None,
            gone: BTreeSet::new(),
            every: SWEEP_EVERY,
        }
    }

    /// Sweeps every `every` instead of [`SWEEP_EVERY`] (`JANITOR_SWEEP_SECS`).
    #[must_use]
    pub fn sweeping_every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    fn roster_ready(&self) -> bool {
        self.roster.borrow().is_ready()
    }

    /// Takes note at `now_ms` of whether the roster can be trusted. When it comes back after a
    /// blind spell, that spell is taken out of every idle clock: a room is not deleted for time
    /// nobody could see it.
    pub async fn observe_roster(&mut self, ready: bool, now_ms: i64) -> Result<(), RoomError> {
        if !ready {
            self.blind_since.get_or_insert(now_ms);
            return Ok(());
        }
        if let Some(since) = self.blind_since {
            let blind = now_ms.saturating_sub(since);
            if blind > 0 {
                let moved = self.rooms.store.pause_idle_clocks(blind).await?;
                tracing::info!(
                    blind_ms = blind,
                    rooms = moved,
                    "roster back; idle clocks paused for the blind spell"
                );
            }
            self.blind_since = None;
        }
        Ok(())
    }

    /// One sweep at `now_ms` (unix milliseconds). Fails only when the rooms cannot be listed; a
    /// single room's failure is logged, reported in [`Sweep::failed`] and retried next time.
    pub async fn sweep(&mut self, now_ms: i64) -> Result<Sweep, RoomError> {
        let mut sweep = Sweep::default();
        // Invites of closed rooms are kept until they expire (to explain themselves); then they go.
        if let Err(err) = self.rooms.store.purge_expired_invites(now_ms).await {
            tracing::warn!(error = ?err, "cannot purge expired invites; retrying at the next sweep");
        }
        self.retry_gone().await;
        let ready = self.roster_ready();
        self.observe_roster(ready, now_ms).await?;
        if !ready {
            sweep.paused = true;
            return Ok(sweep);
        }
        for (room, idleness) in self.rooms.store.idleness().await? {
            let busy = !self.rooms.live.members_of(room).is_empty() || self.is_watched(room).await;
            match self
                .tend(room, judge(now_ms, busy, idleness), idleness, now_ms)
                .await
            {
                Ok(Done::Nothing) => {}
                Ok(Done::Warned) => {
                    sweep.warned.push(room);
                    metrics::counter!(crate::metric_names::JANITOR_WARNINGS).increment(1);
                }
                Ok(Done::Deleted) => {
                    sweep.deleted.push(room);
                    metrics::counter!(crate::metric_names::JANITOR_DELETIONS).increment(1);
                }
                Err(err) => {
                    metrics::counter!(crate::metric_names::JANITOR_FAILURES).increment(1);
                    tracing::warn!(%room, error = %err, "idle-room cleanup failed for this room; retrying at the next sweep");
                    sweep.failed.push(room);
                }
            }
        }
        Ok(sweep)
    }

    /// Whether anyone watches `room`'s page: through this process (the fan-out's viewers) or,
    /// when web instances share Redis, through any instance. A room Redis cannot vouch for counts
    /// as watched (see [`crate::live::Watchers::watched_in_cluster`]).
    async fn is_watched(&self, room: ChannelId) -> bool {
        self.rooms.live.viewer_count(room) > 0 || self.rooms.live.watchers().watched_in_cluster(room).await
    }

    /// Carries out one room's verdict.
    async fn tend(
        &self,
        room: ChannelId,
        verdict: Verdict,
        idleness: Idleness,
        now_ms: i64,
    ) -> Result<Done, RoomError> {
        let store = &self.rooms.store;
        match verdict {
            Verdict::Leave => return Ok(Done::Nothing),
            Verdict::Busy => {
                store.set_idleness(room, Idleness::default()).await?;
            }
            Verdict::StartIdle => {
                let started = Idleness {
                    idle_since_ms: Some(now_ms),
                    warned_at_ms: None,
                };
                store.set_idleness(room, started).await?;
            }
            Verdict::Warn { delete_at_ms } => {
                tracing::info!(%room, "room idle; it will be deleted unless someone comes back");
                self.bus.publish(AppEvent::RoomInactive(RoomInactive {
                    guild_id: self.rooms.guild_id,
                    channel_id: room,
                    delete_at_ms,
                }));
                // Remembered only once published: a warning that never went out is sent again.
                let warned = Idleness {
                    warned_at_ms: Some(now_ms),
                    ..idleness
                };
                store.set_idleness(room, warned).await?;
                return Ok(Done::Warned);
            }
            Verdict::Delete => {
                // A refused delete leaves the room open as it was, so the next sweep tries again;
                // a channel already gone counts as deleted.
                self.rooms.end(room, CloseReason::Idle, now_ms).await?;
                tracing::info!(%room, "idle room deleted");
                return Ok(Done::Deleted);
            }
        }
        Ok(Done::Nothing)
    }

    /// A voice channel was deleted in Discord: if it was an open room's, the room closes and its
    /// viewers are told. A failure is retried at every sweep.
    pub async fn channel_deleted(&mut self, channel: ChannelId) {
        if let Err(err) = self.rooms.channel_gone(channel).await {
            tracing::warn!(%channel, error = %err, "cannot close the room of a deleted channel; retrying at the next sweep");
            self.gone.insert(channel);
        }
    }

    async fn retry_gone(&mut self) {
        for channel in std::mem::take(&mut self.gone) {
            self.channel_deleted(channel).await;
        }
    }

    /// Sweeps every [`Janitor::sweeping_every`] ([`SWEEP_EVERY`] unless told) and closes the rooms of deleted channels as the gateway reports
    /// them, until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut listening = true;
        let mut watching = true;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {
                    if let Err(err) = self.sweep(unix_millis()).await {
                        metrics::counter!(crate::metric_names::JANITOR_FAILURES).increment(1);
                        tracing::warn!(error = %err, "idle-room sweep failed; retrying at the next tick");
                    }
                }
                changed = self.roster.changed(), if watching => {
                    watching = changed.is_ok();
                    let ready = self.roster_ready();
                    if let Err(err) = self.observe_roster(ready, unix_millis()).await {
                        tracing::warn!(error = %err, "cannot pause the idle clocks; the blind spell counts as idle");
                    }
                }
                message = self.events.recv(), if listening => match message {
                    BusMessage::Event(AppEvent::RoomDeleted(deleted)) => {
                        self.channel_deleted(deleted.channel_id).await;
                    }
                    BusMessage::Event(_) => {}
                    BusMessage::Lagged(missed) => {
                        // A lost `room.deleted` is caught later: a join answers ROOM_NOT_FOUND when
                        // Discord says the channel is unknown, and the sweep's delete finds it gone.
                        tracing::warn!(missed, "the janitor fell behind the event bus");
                    }
                    BusMessage::Closed => listening = false,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    /// Follows one room minute by minute as the sweeps would, remembering what the store would,
    /// and returns the minutes at which something was decided.
    fn minutes(count: i64, busy: impl Fn(i64) -> bool) -> Vec<(i64, Verdict)> {
        let mut idleness = Idleness::default();
        let mut decided = Vec::new();
        for minute in 0..count {
            let now = minute * MINUTE;
            let verdict = judge(now, busy(minute), idleness);
            idleness = match verdict {
                Verdict::Leave => idleness,
                // A deleted room is gone; following it on as a fresh room keeps the loop simple.
                Verdict::Busy | Verdict::Delete => Idleness::default(),
                Verdict::StartIdle => Idleness {
                    idle_since_ms: Some(now),
                    warned_at_ms: None,
                },
                Verdict::Warn { .. } => Idleness {
                    warned_at_ms: Some(now),
                    ..idleness
                },
            };
            if matches!(verdict, Verdict::Warn { .. } | Verdict::Delete) {
                decided.push((minute, verdict));
            }
        }
        decided
    }

    #[test]
    fn an_idle_room_is_warned_at_55_minutes_and_deleted_at_60() {
        assert_eq!(
            minutes(61, |_| false),
            vec![
                (
                    55,
                    Verdict::Warn {
                        delete_at_ms: 60 * MINUTE
                    }
                ),
                (60, Verdict::Delete)
            ]
        );
        assert!(minutes(120, |_| true).is_empty(), "a busy room is never touched");
    }

    #[test]
    fn activity_resets_the_idle_time_and_the_warning() {
        // Idle for 56 minutes (warned), someone there at minute 56, then idle again.
        let decided = minutes(120, |minute| minute == 56);
        assert_eq!(
            decided[..3],
            [
                (
                    55,
                    Verdict::Warn {
                        delete_at_ms: 60 * MINUTE
                    }
                ),
                (
                    112,
                    Verdict::Warn {
                        delete_at_ms: 117 * MINUTE
                    }
                ),
                (117, Verdict::Delete)
            ],
            "after the visit at minute 56 the hour starts again at 57: warned at 112, due at 117"
        );
    }

    #[test]
    fn no_room_is_deleted_without_a_warning_published_five_minutes_before() {
        // The app was down from minute 10 to minute 90: the hour has passed, but nobody was told.
        let idle = Idleness {
            idle_since_ms: Some(0),
            warned_at_ms: None,
        };
        assert_eq!(
            judge(90 * MINUTE, false, idle),
            Verdict::Warn {
                delete_at_ms: 95 * MINUTE
            },
            "warned first, with a deletion time that is still ahead"
        );
        let warned = Idleness {
            warned_at_ms: Some(90 * MINUTE),
            ..idle
        };
        assert_eq!(judge(94 * MINUTE, false, warned), Verdict::Leave);
        assert_eq!(judge(95 * MINUTE, false, warned), Verdict::Delete);
        assert_eq!(
            judge(95 * MINUTE, true, warned),
            Verdict::Busy,
            "unless someone came back"
        );
        assert_eq!(
            deletion_due(warned),
            Some(95 * MINUTE),
            "what the warning announced"
        );
    }

    #[test]
    fn a_room_is_due_for_deletion_only_once_warned() {
        let idle = Idleness {
            idle_since_ms: Some(0),
            warned_at_ms: None,
        };
        assert_eq!(deletion_due(Idleness::default()), None);
        assert_eq!(deletion_due(idle), None);
        let warned = Idleness {
            warned_at_ms: Some(55 * MINUTE),
            ..idle
        };
        assert_eq!(deletion_due(warned), Some(60 * MINUTE));
    }
}
