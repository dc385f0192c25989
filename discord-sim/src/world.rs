//! The simulator's one in-memory Discord: users, a guild, its channels, members and voice states.
//!
//! Gateway and REST both read and change this model, so a REST move and a control-panel move look
//! the same to every client. Each change returns the [`Dispatch`]es it causes; the caller (the
//! `Core` lock holder) hands them to the live gateway sessions while still holding the lock, which
//! keeps the dispatch order equal to the order of changes.

mod demo;
mod messages;
mod permissions;
mod voice;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

pub use demo::DemoIds;
pub use messages::{MAX_MESSAGES, Message};
pub use permissions::{
    ADMINISTRATOR, CONNECT, CREATE_INSTANT_INVITE, DEFAULT_BOT_PERMISSIONS, EVERYONE_PERMISSIONS,
    MANAGE_CHANNELS, MANAGE_ROLES, MOVE_MEMBERS, VIEW_CHANNEL,
};

use crate::id::Snowflake;
use crate::timestamp;
use crate::wire;

/// Gateway intent bit for guild and channel events.
pub const INTENT_GUILDS: u64 = 1;
/// Gateway intent bit for member events (privileged).
pub const INTENT_GUILD_MEMBERS: u64 = 1 << 1;
/// Gateway intent bit for voice state events.
pub const INTENT_GUILD_VOICE_STATES: u64 = 1 << 7;

/// The bot's user id (also the application id), as in the reference examples.
pub const BOT_ID: Snowflake = Snowflake::constant(1_000_000_000_000_000_001);
/// The guild's id, which is also its `@everyone` role id.
pub const GUILD_ID: Snowflake = Snowflake::constant(2_000_000_000_000_000_001);
/// The guild owner's id (a user outside the simulation, as in the reference examples).
pub const OWNER_ID: Snowflake = Snowflake::constant(3_000_000_000_000_000_001);

/// Channel type of a guild voice channel.
pub const CHANNEL_VOICE: u8 = 2;
/// Channel type of a category.
pub const CHANNEL_CATEGORY: u8 = 4;
/// Channel type of a text channel.
pub const CHANNEL_TEXT: u8 = 0;

/// A user account: the bot or a simulated person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's id.
    pub id: Snowflake,
    /// Unique handle (`alice`).
    pub username: String,
    /// Display name (`Alice`).
    pub global_name: Option<String>,
    /// Whether this is the bot account.
    pub bot: bool,
}

/// One permission overwrite on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overwrite {
    /// Role or member id.
    pub id: Snowflake,
    /// 0 = role, 1 = member.
    pub kind: u8,
    /// Allowed permission bits.
    pub allow: u64,
    /// Denied permission bits.
    pub deny: u64,
}

/// A guild channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// The channel's id.
    pub id: Snowflake,
    /// Discord channel type (2 voice, 4 category, 0 text).
    pub kind: u8,
    /// The channel's name.
    pub name: String,
    /// Sort position.
    pub position: u32,
    /// The category it sits in.
    pub parent_id: Option<Snowflake>,
    /// Permission overwrites.
    pub overwrites: Vec<Overwrite>,
    /// Voice bitrate (voice channels only).
    pub bitrate: u32,
    /// Voice user limit, 0 = unlimited.
    pub user_limit: u32,
}

/// A guild member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's user id.
    pub user_id: Snowflake,
    /// When they joined, in Discord's timestamp form.
    pub joined_at: String,
    /// Server-muted.
    pub mute: bool,
    /// Server-deafened.
    pub deaf: bool,
}

/// A member connected to a voice channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceState {
    /// Who is connected.
    pub user_id: Snowflake,
    /// Where; never `None` while stored (leaving removes the state).
    pub channel_id: Snowflake,
    /// Voice session id; stays the same across moves.
    pub session_id: String,
    /// Muted by themselves.
    pub self_mute: bool,
    /// Deafened by themselves.
    pub self_deaf: bool,
}

/// A gateway dispatch caused by a change, before it is given a sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    /// The event name (`VOICE_STATE_UPDATE`).
    pub name: Cow<'static, str>,
    /// The intent a session needs to receive it.
    pub intent: u64,
    /// The compact JSON of `d`.
    pub data: String,
}

/// Why a change to the world was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorldError {
    /// No such user.
    #[error("unknown user {0}")]
    UnknownUser(Snowflake),
    /// No such channel.
    #[error("unknown channel {0}")]
    UnknownChannel(Snowflake),
    /// The user is not a member of the guild.
    #[error("unknown member {0}")]
    UnknownMember(Snowflake),
    /// The channel exists but is not a voice channel.
    #[error("channel {0} is not a voice channel")]
    NotVoice(Snowflake),
    /// The bot lacks a permission the change needs (Discord error 50013).
    #[error("missing permissions")]
    MissingPermissions,
    /// The user is not connected to voice (Discord error 40032).
    #[error("user {0} is not connected to voice")]
    NotInVoice(Snowflake),
}

/// The whole simulated Discord. Owned by `Core` behind its mutex; never shared otherwise.
#[derive(Debug, Clone)]
pub struct World {
    /// The bot account the gateway and REST act as.
    pub bot: User,
    /// The one guild's id (also the `@everyone` role id).
    pub guild_id: Snowflake,
    /// The guild's name.
    pub guild_name: String,
    /// The bot's guild-level permissions besides `@everyone`'s.
    pub bot_permissions: u64,
    /// The guild owner's user id.
    pub owner_id: Snowflake,
    /// Every known user, including the bot.
    pub users: BTreeMap<Snowflake, User>,
    /// The guild's channels.
    pub channels: BTreeMap<Snowflake, Channel>,
    /// The guild's members.
    pub members: BTreeMap<Snowflake, Member>,
    /// Voice connections by user.
    pub voice: BTreeMap<Snowflake, VoiceState>,
    /// Messages the bot posted, by id (at most [`MAX_MESSAGES`]).
    pub messages: BTreeMap<Snowflake, Message>,
}

/// The last id handed out in this process, by any world (see [`World::fresh_id`]).
static LAST_ID: AtomicU64 = AtomicU64::new(0);

/// Discord's epoch (the first second of 2015), in unix milliseconds: a snowflake's top 42 bits
/// count milliseconds since it.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

impl World {
    /// An empty guild with only the bot in it.
    pub fn new(bot_name: &str) -> Self {
        let bot_id = BOT_ID;
        let bot = User {
            id: bot_id,
            username: bot_name.to_owned(),
            global_name: None,
            bot: true,
        };
        let mut world = Self {
            bot: bot.clone(),
            guild_id: GUILD_ID,
            guild_name: "Fake Guild".to_owned(),
            bot_permissions: DEFAULT_BOT_PERMISSIONS,
            owner_id: OWNER_ID,
            users: BTreeMap::new(),
            channels: BTreeMap::new(),
            members: BTreeMap::new(),
            voice: BTreeMap::new(),
            messages: BTreeMap::new(),
        };
        world.users.insert(bot_id, bot);
        world.add_member(bot_id, "2026-01-01T00:00:00.000000+00:00".to_owned());
        world
    }

    /// Adds a user (not yet a guild member) and returns its id.
    pub fn create_user(&mut self, username: &str, global_name: Option<&str>) -> Snowflake {
        let id = Self::fresh_id();
        self.create_user_as(id, username, global_name)
    }

    /// Adds a user with a chosen id (the demo's fixed people).
    fn create_user_as(&mut self, id: Snowflake, username: &str, global_name: Option<&str>) -> Snowflake {
        self.users.insert(
            id,
            User {
                id,
                username: username.to_owned(),
                global_name: global_name.map(str::to_owned),
                bot: false,
            },
        );
        id
    }

    /// Makes an existing user a member. Returns the `GUILD_MEMBER_ADD` dispatch, or nothing if they
    /// already were one.
    pub fn add_member(&mut self, user_id: Snowflake, joined_at: String) -> Vec<Dispatch> {
        if self.members.contains_key(&user_id) {
            return Vec::new();
        }
        self.members.insert(
            user_id,
            Member {
                user_id,
                joined_at,
                mute: false,
                deaf: false,
            },
        );
        self.member_json(user_id, true)
            .map(|data| Dispatch {
                name: "GUILD_MEMBER_ADD".into(),
                intent: INTENT_GUILD_MEMBERS,
                data,
            })
            .into_iter()
            .collect()
    }

    /// Creates a channel and returns it with its `CHANNEL_CREATE` dispatch.
    pub fn create_channel(&mut self, mut channel: Channel) -> (Channel, Vec<Dispatch>) {
        channel.id = Self::fresh_id();
        self.create_channel_as(channel)
    }

    /// Creates `channel` under the id it already has (the demo's fixed channels).
    fn create_channel_as(&mut self, channel: Channel) -> (Channel, Vec<Dispatch>) {
        self.channels.insert(channel.id, channel.clone());
        let dispatches = self.channel_event("CHANNEL_CREATE", &channel);
        (channel, dispatches)
    }

    /// Deletes a channel. Members connected to it are disconnected first, each with a
    /// `VOICE_STATE_UPDATE` `channel_id:null`, then `CHANNEL_DELETE` follows.
    pub fn delete_channel(&mut self, id: Snowflake) -> Result<(Channel, Vec<Dispatch>), WorldError> {
        if !self.channels.contains_key(&id) {
            return Err(WorldError::UnknownChannel(id));
        }
        let connected: Vec<Snowflake> = self
            .voice
            .values()
            .filter(|state| state.channel_id == id)
            .map(|state| state.user_id)
            .collect();
        let mut dispatches = Vec::new();
        for user in connected {
            dispatches.extend(self.leave_voice(user)?);
        }
        let channel = self.channels.remove(&id).ok_or(WorldError::UnknownChannel(id))?;
        self.messages.retain(|_, message| message.channel_id != id);
        dispatches.extend(self.channel_event("CHANNEL_DELETE", &channel));
        Ok((channel, dispatches))
    }

    /// Sets (replaces) one permission overwrite. Returns `CHANNEL_UPDATE`, or `CHANNEL_CREATE` /
    /// `CHANNEL_DELETE` when the change shows or hides the channel from the bot, as Discord does.
    pub fn set_overwrite(
        &mut self,
        channel_id: Snowflake,
        overwrite: Overwrite,
    ) -> Result<Vec<Dispatch>, WorldError> {
        self.change_overwrites(channel_id, |overwrites| {
            overwrites.retain(|existing| existing.id != overwrite.id);
            overwrites.push(overwrite);
        })
    }

    /// Removes the overwrite for `target` (a user or role); removing one that is not there is not
    /// an error, as on Discord. Returns the same events as [`World::set_overwrite`].
    pub fn remove_overwrite(
        &mut self,
        channel_id: Snowflake,
        target: Snowflake,
    ) -> Result<Vec<Dispatch>, WorldError> {
        self.change_overwrites(channel_id, |overwrites| {
            overwrites.retain(|existing| existing.id != target);
        })
    }

    fn change_overwrites(
        &mut self,
        channel_id: Snowflake,
        change: impl FnOnce(&mut Vec<Overwrite>),
    ) -> Result<Vec<Dispatch>, WorldError> {
        let before = self
            .channels
            .get(&channel_id)
            .ok_or(WorldError::UnknownChannel(channel_id))?;
        let was_visible = self.bot_can_view(before);
        let mut channel = before.clone();
        change(&mut channel.overwrites);
        self.channels.insert(channel_id, channel.clone());
        let name = match (was_visible, self.bot_can_view(&channel)) {
            (true, true) => "CHANNEL_UPDATE",
            (false, true) => "CHANNEL_CREATE",
            (true, false) => "CHANNEL_DELETE",
            (false, false) => return Ok(Vec::new()),
        };
        Ok(vec![Dispatch {
            name: name.into(),
            intent: INTENT_GUILDS,
            data: wire::channel(self, &channel),
        }])
    }

    /// A channel event, or nothing when the bot cannot see the channel.
    fn channel_event(&self, name: &'static str, channel: &Channel) -> Vec<Dispatch> {
        if !self.bot_can_view(channel) {
            return Vec::new();
        }
        vec![Dispatch {
            name: name.into(),
            intent: INTENT_GUILDS,
            data: wire::channel(self, channel),
        }]
    }

    /// The member's JSON (with `user`), optionally with `guild_id` as `GUILD_MEMBER_ADD` carries it.
    pub fn member_json(&self, user_id: Snowflake, with_guild: bool) -> Option<String> {
        wire::member(self, user_id, with_guild)
    }

    /// A new id made as Discord makes them, from the clock: milliseconds since
    /// [`DISCORD_EPOCH_MS`] in the top bits, then an increment. So ids never repeat, not even in
    /// a simulator started afresh next to a database that remembers an earlier one's channels
    /// and users (the embedded default after a restart); and, as in Discord, a channel's id says
    /// when it was made.
    /// Within one process the ids also keep growing across worlds (tests start many simulators
    /// within a millisecond); a restarted process is milliseconds later.
    fn fresh_id() -> Snowflake {
        let since_epoch = timestamp::now_micros() / 1000;
        let from_clock = since_epoch.saturating_sub(DISCORD_EPOCH_MS) << 22;
        let previous = LAST_ID
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(from_clock.max(last.saturating_add(1)))
            })
            .unwrap_or_default();
        Snowflake::new(from_clock.max(previous.saturating_add(1))).unwrap_or(Snowflake::constant(1))
    }

    /// A voice session id for a new connection.
    fn fresh_voice_session() -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }

    /// Now, for `joined_at` of members added at run time.
    pub fn now() -> String {
        timestamp::now()
    }
}

impl World {
    /// An outage: `GUILD_DELETE` with `unavailable: true` (the guild is not left).
    pub fn guild_outage(&self) -> Vec<Dispatch> {
        vec![Dispatch {
            name: "GUILD_DELETE".into(),
            intent: INTENT_GUILDS,
            data: format!(r#"{{"id":"{}","unavailable":true}}"#, self.guild_id),
        }]
    }

    /// The end of an outage: a fresh `GUILD_CREATE` (built per session from the current world).
    pub fn guild_recovered(&self) -> Vec<Dispatch> {
        vec![Dispatch {
            name: "GUILD_CREATE".into(),
            intent: INTENT_GUILDS,
            data: String::new(),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice(name: &str) -> Channel {
        Channel {
            id: GUILD_ID,
            kind: CHANNEL_VOICE,
            name: name.to_owned(),
            position: 0,
            parent_id: None,
            overwrites: Vec::new(),
            bitrate: 64_000,
            user_limit: 4,
        }
    }

    #[test]
    fn a_world_started_afresh_never_reissues_an_earlier_worlds_ids() {
        let (mut first, demo) = World::demo("bot");
        let (made_first, _) = first.create_channel(voice("table"));
        let dave = first.create_user("dave", None);
        let (mut second, again) = World::demo("bot");
        assert_eq!(demo, again, "the demo's own ids are fixed");
        let (made_second, _) = second.create_channel(voice("table"));
        let erin = second.create_user("erin", None);
        assert!(made_second.id > made_first.id, "ids only grow, across worlds too");
        assert!(erin > dave);
        assert_ne!(made_first.id, dave, "one id space for channels and users");
        // Like Discord's, the id says when it was made.
        let minted_ms = (made_second.id.get() >> 22) + DISCORD_EPOCH_MS;
        let now_ms = timestamp::now_micros() / 1000;
        assert!(minted_ms <= now_ms && now_ms - minted_ms < 60_000);
    }
}
