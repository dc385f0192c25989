//! Cleanup of idle rooms: a room with nobody in its voice channel and nobody watching its page for
//! an hour gets a `room.inactive` warning, then five minutes later its channel is deleted (the
//! gateway then tells viewers `room.deleted`) and it is forgotten.
//!
//! Only rooms in the database are ever considered, so only channels the app created can be
//! deleted. [`IdleClock`] decides (pure, driven by the caller's clock); [`Janitor`] acts on its
//! decisions, one [`Janitor::sweep`] at a time; [`Janitor::run`] sweeps every minute.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use model::{
    event::{AppEvent, RoomInactive},
    ids::{ChannelId, GuildId},
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::RoomError;
use crate::{bus::EventBus, discord::rest::DiscordRest, live::Live, store::Store, store::unix_millis};

/// Idle this long and the room is deleted.
pub const IDLE_LIMIT: Duration = Duration::from_secs(60 * 60);
/// The warning comes this long before the deletion.
pub const WARNING_AHEAD: Duration = Duration::from_secs(5 * 60);
/// Idle this long and the room is warned about.
const WARN_AFTER: Duration = Duration::from_secs(IDLE_LIMIT.as_secs() - WARNING_AHEAD.as_secs());
/// How often [`Janitor::run`] sweeps.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// What to do about one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Warn that it will be deleted in [`WARNING_AHEAD`].
    Warn,
    /// Delete it.
    Delete,
}

/// When each room went idle; the one owner of that knowledge.
#[derive(Debug, Default)]
pub struct IdleClock {
    idle_since: HashMap<ChannelId, Instant>,
    warned: HashSet<ChannelId>,
}

impl IdleClock {
    /// Takes note of every current room (`busy`: someone in voice or watching) at `now`, forgets
    /// rooms that no longer exist, and says which rooms to warn about or delete. A room seen for
    /// the first time (or after a restart) starts its idle time now.
    pub fn observe(&mut self, now: Instant, rooms: &[(ChannelId, bool)]) -> Vec<(ChannelId, Verdict)> {
        let current: HashSet<ChannelId> = rooms.iter().map(|(room, _)| *room).collect();
        self.idle_since.retain(|room, _| current.contains(room));
        self.warned.retain(|room| current.contains(room));
        let mut verdicts = Vec::new();
        for &(room, busy) in rooms {
            if busy {
                self.idle_since.remove(&room);
                self.warned.remove(&room);
                continue;
            }
            let idle = now.saturating_duration_since(*self.idle_since.entry(room).or_insert(now));
            if idle >= IDLE_LIMIT {
                verdicts.push((room, Verdict::Delete));
            } else if idle >= WARN_AFTER && self.warned.insert(room) {
                verdicts.push((room, Verdict::Warn));
            }
        }
        verdicts
    }

    /// Forgets a room that has been deleted.
    pub fn forget(&mut self, room: ChannelId) {
        self.idle_since.remove(&room);
        self.warned.remove(&room);
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sweep {
    /// Rooms warned.
    pub warned: Vec<ChannelId>,
    /// Rooms deleted.
    pub deleted: Vec<ChannelId>,
}

/// Sweeps idle rooms away.
#[derive(Debug)]
pub struct Janitor {
    store: Store,
    discord: DiscordRest,
    live: Live,
    bus: EventBus,
    guild_id: GuildId,
    clock: IdleClock,
}

impl Janitor {
    /// A janitor for the rooms in `store`, judging activity by `live` (voice members and viewers).
    pub fn new(store: Store, discord: DiscordRest, live: Live, bus: EventBus, guild_id: GuildId) -> Self {
        Self {
            store,
            discord,
            live,
            bus,
            guild_id,
            clock: IdleClock::default(),
        }
    }

    /// One sweep at `now`.
    pub async fn sweep(&mut self, now: Instant) -> Result<Sweep, RoomError> {
        let rooms: Vec<(ChannelId, bool)> = self
            .store
            .all_rooms()
            .await?
            .iter()
            .map(|room| {
                let channel = room.channel_id;
                let busy = !self.live.members_of(channel).is_empty() || self.live.viewer_count(channel) > 0;
                (channel, busy)
            })
            .collect();
        // Invites of closed rooms are kept until they expire (to explain themselves); then they go.
        self.store.purge_expired_invites(unix_millis()).await?;
        let mut sweep = Sweep::default();
        for (room, verdict) in self.clock.observe(now, &rooms) {
            match verdict {
                Verdict::Warn => {
                    let ahead = i64::try_from(WARNING_AHEAD.as_millis()).unwrap_or(i64::MAX);
                    tracing::info!(%room, "room idle; it will be deleted unless someone comes back");
                    self.bus.publish(AppEvent::RoomInactive(RoomInactive {
                        guild_id: self.guild_id,
                        channel_id: room,
                        delete_at_ms: unix_millis().saturating_add(ahead),
                    }));
                    sweep.warned.push(room);
                    metrics::counter!(crate::metric_names::JANITOR_WARNINGS).increment(1);
                }
                Verdict::Delete => {
                    self.discord.delete_channel(room).await?;
                    self.store.delete_room(room).await?;
                    self.live.close_room(self.guild_id, room);
                    self.clock.forget(room);
                    tracing::info!(%room, "idle room deleted");
                    sweep.deleted.push(room);
                    metrics::counter!(crate::metric_names::JANITOR_DELETIONS).increment(1);
                }
            }
        }
        Ok(sweep)
    }

    /// Sweeps every [`SWEEP_EVERY`] until `shutdown`; a failed sweep is logged and retried at the
    /// next tick.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(SWEEP_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                now = ticks.tick() => {
                    if let Err(err) = self.sweep(now).await {
                        metrics::counter!(crate::metric_names::JANITOR_FAILURES).increment(1);
                        tracing::warn!(error = %err, "idle-room sweep failed; retrying at the next tick");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(n: u64) -> ChannelId {
        ChannelId::new(std::num::NonZeroU64::new(n).unwrap_or(std::num::NonZeroU64::MIN))
    }

    /// Advances paused time by whole minutes, observing each minute as the janitor's ticks would,
    /// and returns what was decided at which minute.
    async fn minutes(
        clock: &mut IdleClock,
        count: u64,
        busy: impl Fn(u64) -> bool,
        from: u64,
    ) -> Vec<(u64, ChannelId, Verdict)> {
        let mut decided = Vec::new();
        for minute in from..from + count {
            let now = Instant::now();
            for (room, verdict) in clock.observe(now, &[(room(1), busy(minute)), (room(2), false)]) {
                decided.push((minute, room, verdict));
            }
            tokio::time::advance(SWEEP_EVERY).await;
        }
        decided
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_room_is_warned_at_55_minutes_and_deleted_at_60() {
        let mut clock = IdleClock::default();
        let decided = minutes(&mut clock, 61, |_| true, 0).await;
        assert_eq!(
            decided,
            vec![(55, room(2), Verdict::Warn), (60, room(2), Verdict::Delete)],
            "the busy room is never touched; the idle one is warned once, then deleted"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn activity_resets_the_idle_time_and_the_warning() {
        let mut clock = IdleClock::default();
        // Room 1 idles for 56 minutes (warned), someone joins at minute 56, then it idles again.
        let decided = minutes(&mut clock, 120, |minute| minute == 56, 0).await;
        let room_one: Vec<_> = decided
            .iter()
            .filter(|(_, room_id, _)| *room_id == room(1))
            .map(|(minute, _, verdict)| (*minute, *verdict))
            .collect();
        assert_eq!(
            room_one[..3],
            [(55, Verdict::Warn), (112, Verdict::Warn), (117, Verdict::Delete)],
            "after the visit at minute 56 the hour starts again at 57: warned at 112, due at 117"
        );
        let room_two: Vec<_> = decided
            .iter()
            .filter(|(_, room_id, _)| *room_id == room(2))
            .map(|(minute, _, verdict)| (*minute, *verdict))
            .collect();
        assert_eq!(room_two[..2], [(55, Verdict::Warn), (60, Verdict::Delete)]);
    }

    #[tokio::test(start_paused = true)]
    async fn rooms_that_disappear_are_forgotten() {
        let mut clock = IdleClock::default();
        clock.observe(Instant::now(), &[(room(1), false)]);
        tokio::time::advance(IDLE_LIMIT).await;
        // Closed by its owner meanwhile: nothing to decide, and nothing remembered.
        assert!(clock.observe(Instant::now(), &[]).is_empty());
        // A room with the same id later (it cannot happen on Discord, but the clock must not care)
        // starts from zero.
        assert!(clock.observe(Instant::now(), &[(room(1), false)]).is_empty());
    }
}
