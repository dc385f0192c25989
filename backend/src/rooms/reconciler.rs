//! The reconciler: compares what the database says with what Discord has, and repairs the
//! difference, at startup and then every `RECONCILE_EVERY_SECS`.
//!
//! * **Unfinished creations** ([`Repair::UnfinishedIntent`]): a creation older than the grace that
//!   never stored its room is undone: its channel deleted (the one recorded on it, or, when
//!   Discord's answer never came, the channel that matches it exactly: the bot's and the owner's
//!   overwrites, its name, and an id minted while it was running), then the intent dropped.
//! * **Orphan channels** ([`Repair::OrphanChannel`]): a voice channel older than the grace with no
//!   open room and no creation in flight is deleted, but only when the app recorded it as its own
//!   *and* it carries the bot's own overwrite. Nothing else is ever deleted: not a channel by its
//!   name, not one someone gave the bot an overwrite on.
//! * **Missing channels** ([`Repair::MissingChannel`]): an open room whose channel no longer exists
//!   is closed (`channel_gone`: its viewers get `room.deleted`). This is also what closes the
//!   rooms of an embedded simulator's previous life at startup.
//! * **Missing permissions** ([`Repair::MissingPermission`]): a seated player whose overwrite on the
//!   room's channel is gone gets it back (the call a join makes).
//!
//! It works from REST and the database only, never the gateway's roster, so it does not pause
//! while the gateway reconnects. The database is read *before* Discord is listed, so a room
//! created in between (whose channel the listing may show) is simply not considered, and a room
//! read from the database had its channel made before the listing. One item's failure is logged
//! and counted and never stops the others; the next run retries it.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use model::ids::{ChannelId, UserId};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{RoomError, Rooms};
use crate::{
    discord::rest::{self, GuildChannel, PLAYER_ALLOW},
    metric_names::{RECONCILER_FAILURES, RECONCILER_REPAIRS},
    store::{IntentRecord, RoomRecord, unix_millis},
};

/// Discord's epoch (2015-01-01), unix milliseconds: the top 42 bits of a snowflake count from it.
const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

/// One thing the reconciler repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// A channel the app made, with no room and no creation in flight, was deleted.
    OrphanChannel(ChannelId),
    /// A creation that never finished was undone (and its channel deleted, if it had one).
    UnfinishedIntent {
        /// The intent's id.
        intent: String,
        /// The channel deleted with it.
        channel: Option<ChannelId>,
    },
    /// An open room whose channel is gone was closed.
    MissingChannel(ChannelId),
    /// A seated player's permission on their room's channel was restored.
    MissingPermission {
        /// The room.
        channel: ChannelId,
        /// The player.
        user: UserId,
    },
}

impl Repair {
    /// The `kind` label of `spell_coven_reconciler_repairs_total`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::OrphanChannel(_) => "orphan_channel",
            Self::UnfinishedIntent { .. } => "unfinished_intent",
            Self::MissingChannel(_) => "missing_channel",
            Self::MissingPermission { .. } => "missing_permission",
        }
    }
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    /// What was repaired, in order.
    pub repairs: Vec<Repair>,
    /// Items whose repair failed (logged); the next run tries again.
    pub failures: usize,
}

impl Reconciliation {
    fn repaired(&mut self, repair: Repair) {
        tracing::info!(?repair, "reconciler repaired");
        metrics::counter!(RECONCILER_REPAIRS, "kind" => repair.kind()).increment(1);
        self.repairs.push(repair);
    }

    fn failed(&mut self, what: &str, err: &RoomError) {
        tracing::warn!(error = %err, what, "reconciler could not repair this; retrying at the next run");
        metrics::counter!(RECONCILER_FAILURES).increment(1);
        self.failures += 1;
    }
}

/// Finishes or undoes what interrupted operations left between the database and Discord.
#[derive(Debug)]
pub struct Reconciler {
    rooms: Rooms,
    /// `RECONCILE_GRACE_SECS`, in milliseconds.
    grace_ms: i64,
    /// How many runs of [`Reconciler::run`] have finished, for whoever waits for the first (tests
    /// start acting once the startup run is done).
    runs: watch::Sender<u64>,
}

impl Reconciler {
    /// A reconciler for `rooms` that leaves creations and channels younger than `grace` alone.
    pub fn new(rooms: Rooms, grace: Duration) -> Self {
        Self {
            rooms,
            grace_ms: i64::try_from(grace.as_millis()).unwrap_or(i64::MAX),
            runs: watch::channel(0).0,
        }
    }

    /// Follows how many runs of [`Reconciler::run`] have finished, successful or not.
    pub fn runs(&self) -> watch::Receiver<u64> {
        self.runs.subscribe()
    }

    /// One run at `now_ms` (unix milliseconds). Fails only when the database cannot be read or
    /// Discord cannot list the guild's channels; then nothing was decided.
    pub async fn reconcile(&self, now_ms: i64) -> Result<Reconciliation, RoomError> {
        let rooms = &self.rooms;
        let guild = rooms.guild_id;
        // The database first, then Discord (see the module docs).
        let intents = rooms.store.intents().await?;
        let open: Vec<RoomRecord> = rooms
            .store
            .all_rooms()
            .await?
            .into_iter()
            .filter(|room| room.guild_id == guild)
            .collect();
        let created: BTreeMap<ChannelId, i64> = rooms
            .store
            .created_channels(guild)
            .await?
            .into_iter()
            .map(|channel| (channel.channel_id, channel.created_at_ms))
            .collect();
        let bot = rooms.discord.bot_user_id().await?;
        let channels: BTreeMap<ChannelId, GuildChannel> = rooms
            .discord
            .guild_channels()
            .await?
            .into_iter()
            .map(|channel| (channel.id, channel))
            .collect();

        let mut done = Reconciliation::default();
        let open_channels: BTreeSet<ChannelId> = open.iter().map(|room| room.channel_id).collect();
        let settled = |at_ms: i64| now_ms.saturating_sub(at_ms) >= self.grace_ms;
        let mut deleted = BTreeSet::new();

        for intent in intents.iter().filter(|intent| intent.guild_id == guild) {
            if !settled(intent.created_at_ms) {
                continue;
            }
            let channel = intent
                .channel_id
                .or_else(|| unrecorded_channel_of(intent, bot, &channels, &open_channels, &created));
            match self.undo_intent(intent, channel, &open_channels).await {
                Ok(()) => {
                    deleted.extend(channel);
                    done.repaired(Repair::UnfinishedIntent {
                        intent: intent.id.clone(),
                        channel,
                    });
                }
                Err(err) => done.failed("unfinished room creation", &err),
            }
        }

        let in_flight: BTreeSet<ChannelId> = intents.iter().filter_map(|intent| intent.channel_id).collect();
        for channel in channels.values() {
            let orphan = channel.voice
                && channel.has_member_overwrite(bot)
                && created.get(&channel.id).is_some_and(|at_ms| settled(*at_ms))
                && !open_channels.contains(&channel.id)
                && !in_flight.contains(&channel.id)
                && !deleted.contains(&channel.id);
            if !orphan {
                continue;
            }
            match rooms.discord.delete_channel(channel.id).await {
                Ok(()) => done.repaired(Repair::OrphanChannel(channel.id)),
                Err(err) => done.failed("orphan channel", &err.into()),
            }
        }

        for room in &open {
            let Some(channel) = channels.get(&room.channel_id) else {
                match rooms.channel_gone(room.channel_id).await {
                    Ok(true) => done.repaired(Repair::MissingChannel(room.channel_id)),
                    // Closed meanwhile, by its owner or the janitor.
                    Ok(false) => {}
                    Err(err) => done.failed("room without a channel", &err),
                }
                continue;
            };
            let players = match rooms.store.players(room.channel_id).await {
                Ok(players) => players,
                Err(err) => {
                    done.failed("a room's players", &err.into());
                    continue;
                }
            };
            for player in players {
                if channel.allows(player.user_id, PLAYER_ALLOW) {
                    continue;
                }
                match self.restore_permission(room.channel_id, player.user_id).await {
                    Ok(true) => done.repaired(Repair::MissingPermission {
                        channel: room.channel_id,
                        user: player.user_id,
                    }),
                    Ok(false) => {}
                    Err(err) => done.failed("a player's channel permission", &err),
                }
            }
        }
        Ok(done)
    }

    /// Deletes the intent's channel (unless a room holds it) and then drops the intent.
    async fn undo_intent(
        &self,
        intent: &IntentRecord,
        channel: Option<ChannelId>,
        open: &BTreeSet<ChannelId>,
    ) -> Result<(), RoomError> {
        if let Some(channel) = channel.filter(|channel| !open.contains(channel)) {
            self.rooms.discord.delete_channel(channel).await?;
        }
        self.rooms.store.drop_intent(&intent.id).await?;
        Ok(())
    }

    /// Gives `user` their permission on the room's channel back, if they are still seated once no
    /// seat is changing. Returns whether it did.
    async fn restore_permission(&self, channel: ChannelId, user: UserId) -> Result<bool, RoomError> {
        let rooms = &self.rooms;
        let _no_seat_changes = rooms.seats.write().await;
        if !rooms.store.is_player(channel, user).await? || rooms.store.is_removed(channel, user).await? {
            return Ok(false);
        }
        rooms.discord.allow_player(channel, user).await?;
        Ok(true)
    }

    /// Runs at once, then every `every`, until `shutdown`.
    pub async fn run(self, every: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {
                    if let Err(err) = self.reconcile(unix_millis()).await {
                        metrics::counter!(RECONCILER_FAILURES).increment(1);
                        tracing::warn!(error = %err, "reconciler run failed; retrying at the next tick");
                    }
                    self.runs.send_modify(|runs| *runs += 1);
                }
            }
        }
    }
}

/// The channel a creation made when Discord's answer never reached it, if there is exactly one
/// that is unmistakably it: a voice channel with the bot's overwrite and one allowing the
/// owner in, the intent's name, no room and no record of the app's, and an id Discord minted
/// between the intent's start and the end of the REST deadline.
fn unrecorded_channel_of(
    intent: &IntentRecord,
    bot: UserId,
    channels: &BTreeMap<ChannelId, GuildChannel>,
    open: &BTreeSet<ChannelId>,
    created: &BTreeMap<ChannelId, i64>,
) -> Option<ChannelId> {
    let deadline_ms = i64::try_from(rest::DEFAULT_DEADLINE.as_millis()).unwrap_or(i64::MAX);
    // Clocks differ a little between us and Discord.
    let skew_ms = 5_000;
    let window = intent.created_at_ms - skew_ms..=intent.created_at_ms + deadline_ms + skew_ms;
    let mut matches = channels.values().filter(|channel| {
        channel.voice
            && channel.name == intent.name
            && channel.has_member_overwrite(bot)
            && channel.allows(intent.owner_id, PLAYER_ALLOW)
            && !open.contains(&channel.id)
            && !created.contains_key(&channel.id)
            && window.contains(&minted_at_ms(channel.id))
    });
    let found = matches.next()?;
    matches.next().is_none().then_some(found.id)
}

/// When Discord minted `id`, unix milliseconds.
fn minted_at_ms(id: ChannelId) -> i64 {
    i64::try_from(id.get() >> 22).unwrap_or(i64::MAX) + DISCORD_EPOCH_MS
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use super::*;

    fn id<T: std::str::FromStr>(text: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        text.parse().unwrap()
    }

    /// A channel with the bot's and `owner`'s overwrites, minted at `minted_ms`.
    fn channel(name: &str, minted_ms: i64, owner: &str) -> GuildChannel {
        let raw = u64::try_from(minted_ms - DISCORD_EPOCH_MS).unwrap() << 22;
        GuildChannel {
            id: ChannelId::new(NonZeroU64::new(raw + 1).unwrap()),
            voice: true,
            name: name.to_owned(),
            member_allows: vec![
                (id("1000000000000000001"), PLAYER_ALLOW),
                (id(owner), PLAYER_ALLOW),
            ],
        }
    }

    #[test]
    fn an_unrecorded_channel_is_found_only_when_it_is_unmistakable() {
        let start = 1_800_000_000_000;
        let intent = IntentRecord {
            id: "i".to_owned(),
            guild_id: id("2000000000000000001"),
            owner_id: id("3000000000000000001"),
            name: "Friday".to_owned(),
            channel_id: None,
            created_at_ms: start,
        };
        let bot = id("1000000000000000001");
        let find = |channels: Vec<GuildChannel>| {
            let channels = channels.into_iter().map(|c| (c.id, c)).collect();
            unrecorded_channel_of(&intent, bot, &channels, &BTreeSet::new(), &BTreeMap::new())
        };
        let made = channel("Friday", start + 300, "3000000000000000001");
        assert_eq!(find(vec![made.clone()]), Some(made.id));
        assert_eq!(
            find(vec![channel("Saturday", start + 300, "3000000000000000001")]),
            None
        );
        assert_eq!(
            find(vec![channel("Friday", start + 300, "3000000000000000002")]),
            None,
            "another owner"
        );
        assert_eq!(
            find(vec![channel("Friday", start + 60_000, "3000000000000000001")]),
            None,
            "made later"
        );
        let mut without_bot = made.clone();
        without_bot.member_allows.remove(0);
        assert_eq!(find(vec![without_bot]), None, "not the bot's");
        let twin = channel("Friday", start + 400, "3000000000000000001");
        assert_eq!(find(vec![made, twin]), None, "two candidates: neither is touched");
    }

    #[test]
    fn a_snowflake_says_when_it_was_minted() {
        // Discord's documented example: 175928847299117063 is 2016-04-30 11:18:25.796 UTC.
        let id = ChannelId::new(NonZeroU64::new(175_928_847_299_117_063).unwrap());
        assert_eq!(minted_at_ms(id), 1_462_015_105_796);
    }
}
