//! JSON shapes of Discord objects, serialised compactly with the fields the reference examples
//! carry (`reference/discord-examples/`), including every field twilight-model requires.
//!
//! Field order follows Discord's examples. Objects are plain serde structs borrowed from the
//! world, never `serde_json::Value`, so key order is stable.

use serde::Serialize;

use crate::id::Snowflake;
use crate::world::{CHANNEL_VOICE, Channel, Member, Message, User, VoiceState, World};

/// A field that is present but `null` (`rtc_region` of a voice channel).
pub(crate) struct Null;

impl Serialize for Null {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_none()
    }
}

/// A user as embedded in members and invites.
#[derive(Serialize)]
pub(crate) struct UserWire<'a> {
    id: Snowflake,
    username: &'a str,
    discriminator: &'static str,
    global_name: Option<&'a str>,
    avatar: Option<()>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    bot: bool,
}

impl<'a> UserWire<'a> {
    pub(crate) fn new(user: &'a User) -> Self {
        Self {
            id: user.id,
            username: &user.username,
            discriminator: "0",
            global_name: user.global_name.as_deref(),
            avatar: None,
            bot: user.bot,
        }
    }
}

/// The bot's own user as READY and `GET /users/@me` (Bot) carry it: a twilight `CurrentUser`
/// needs `mfa_enabled`.
#[derive(Serialize)]
pub(crate) struct BotUserWire<'a> {
    #[serde(flatten)]
    user: UserWire<'a>,
    mfa_enabled: bool,
    verified: bool,
    flags: u64,
}

impl<'a> BotUserWire<'a> {
    pub(crate) fn new(user: &'a User) -> Self {
        Self {
            user: UserWire::new(user),
            mfa_enabled: false,
            verified: true,
            flags: 0,
        }
    }
}

/// `GET /users/@me` with a user's Bearer token (`rest_users_me_bearer.json`).
#[derive(Serialize)]
pub(crate) struct OAuthUserWire<'a> {
    id: Snowflake,
    username: &'a str,
    discriminator: &'static str,
    global_name: Option<&'a str>,
    avatar: Option<()>,
    banner: Option<()>,
    accent_color: Option<()>,
    public_flags: u64,
    flags: u64,
    mfa_enabled: bool,
    locale: &'static str,
    premium_type: u8,
}

impl<'a> OAuthUserWire<'a> {
    pub(crate) fn new(user: &'a User) -> Self {
        Self {
            id: user.id,
            username: &user.username,
            discriminator: "0",
            global_name: user.global_name.as_deref(),
            avatar: None,
            banner: None,
            accent_color: None,
            public_flags: 0,
            flags: 0,
            mfa_enabled: false,
            locale: "en-US",
            premium_type: 0,
        }
    }
}

/// A guild member (`rest_member.json`); `guild_id` only where Discord adds it (member events).
#[derive(Serialize)]
pub(crate) struct MemberWire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    guild_id: Option<Snowflake>,
    user: UserWire<'a>,
    nick: Option<()>,
    avatar: Option<()>,
    banner: Option<()>,
    roles: [Snowflake; 0],
    joined_at: &'a str,
    premium_since: Option<()>,
    deaf: bool,
    mute: bool,
    flags: u64,
    pending: bool,
    communication_disabled_until: Option<()>,
}

impl<'a> MemberWire<'a> {
    pub(crate) fn new(member: &'a Member, user: &'a User, guild_id: Option<Snowflake>) -> Self {
        Self {
            guild_id,
            user: UserWire::new(user),
            nick: None,
            avatar: None,
            banner: None,
            roles: [],
            joined_at: &member.joined_at,
            premium_since: None,
            deaf: member.deaf,
            mute: member.mute,
            flags: 0,
            pending: false,
            communication_disabled_until: None,
        }
    }
}

#[derive(Serialize)]
struct OverwriteWire {
    id: Snowflake,
    #[serde(rename = "type")]
    kind: u8,
    allow: String,
    deny: String,
}

/// A guild channel (`rest_channel.json`).
#[derive(Serialize)]
pub(crate) struct ChannelWire<'a> {
    id: Snowflake,
    #[serde(rename = "type")]
    kind: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    guild_id: Option<Snowflake>,
    name: &'a str,
    position: u32,
    parent_id: Option<Snowflake>,
    permission_overwrites: Vec<OverwriteWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bitrate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtc_region: Option<Null>,
    nsfw: bool,
    rate_limit_per_user: u32,
    last_message_id: Option<()>,
    flags: u64,
}

impl<'a> ChannelWire<'a> {
    pub(crate) fn new(channel: &'a Channel, guild_id: Option<Snowflake>) -> Self {
        let voice = channel.kind == CHANNEL_VOICE;
        Self {
            id: channel.id,
            kind: channel.kind,
            guild_id,
            name: &channel.name,
            position: channel.position,
            parent_id: channel.parent_id,
            permission_overwrites: channel
                .overwrites
                .iter()
                .map(|o| OverwriteWire {
                    id: o.id,
                    kind: o.kind,
                    allow: o.allow.to_string(),
                    deny: o.deny.to_string(),
                })
                .collect(),
            bitrate: voice.then_some(channel.bitrate),
            user_limit: voice.then_some(channel.user_limit),
            rtc_region: voice.then_some(Null),
            nsfw: false,
            rate_limit_per_user: 0,
            last_message_id: None,
            flags: 0,
        }
    }
}

/// A voice state: in `GUILD_CREATE` (no `guild_id`, no `member`), in REST (with `guild_id`) and in
/// `VOICE_STATE_UPDATE` (with both). `channel_id` is `null` for a leave.
// Discord's voice state is this many flags.
#[allow(clippy::struct_excessive_bools)]
#[derive(Serialize)]
pub(crate) struct VoiceStateWire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    guild_id: Option<Snowflake>,
    channel_id: Option<Snowflake>,
    user_id: Snowflake,
    #[serde(skip_serializing_if = "Option::is_none")]
    member: Option<MemberWire<'a>>,
    session_id: &'a str,
    deaf: bool,
    mute: bool,
    self_deaf: bool,
    self_mute: bool,
    self_stream: bool,
    self_video: bool,
    suppress: bool,
    request_to_speak_timestamp: Option<()>,
}

impl<'a> VoiceStateWire<'a> {
    /// `member`, when given, is embedded (without `guild_id`, as Discord sends it).
    pub(crate) fn new(
        state: &'a VoiceState,
        channel_id: Option<Snowflake>,
        flags: &Member,
        guild_id: Option<Snowflake>,
        member: Option<MemberWire<'a>>,
    ) -> Self {
        Self {
            guild_id,
            channel_id,
            user_id: state.user_id,
            member,
            session_id: &state.session_id,
            deaf: flags.deaf,
            mute: flags.mute,
            self_deaf: state.self_deaf,
            self_mute: state.self_mute,
            self_stream: false,
            self_video: false,
            suppress: false,
            request_to_speak_timestamp: None,
        }
    }
}

/// Serialises a wire struct. Our structs hold only strings, numbers and options, for which
/// `serde_json` cannot fail, so an error here is a bug worth seeing in the payload itself.
/// A message as `POST /channels/{channel.id}/messages` answers it (`rest_message.json`), with
/// every field twilight-model's `Message` requires (`attachments`, `embeds`, `mentions`,
/// `mention_roles`, `mention_everyone`, `pinned`, `tts`, `timestamp`, `type`, ...).
#[derive(Serialize)]
pub(crate) struct MessageWire<'a> {
    #[serde(rename = "type")]
    kind: u8,
    content: &'a str,
    mentions: [Snowflake; 0],
    mention_roles: [Snowflake; 0],
    attachments: [Snowflake; 0],
    embeds: [Snowflake; 0],
    timestamp: &'a str,
    edited_timestamp: Null,
    flags: u64,
    components: [Snowflake; 0],
    id: Snowflake,
    channel_id: Snowflake,
    author: UserWire<'a>,
    pinned: bool,
    mention_everyone: bool,
    tts: bool,
}

impl<'a> MessageWire<'a> {
    pub(crate) fn new(message: &'a Message, author: &'a User) -> Self {
        Self {
            kind: 0,
            content: &message.content,
            mentions: [],
            mention_roles: [],
            attachments: [],
            embeds: [],
            timestamp: &message.timestamp,
            edited_timestamp: Null,
            flags: 0,
            components: [],
            id: message.id,
            channel_id: message.channel_id,
            author: UserWire::new(author),
            pinned: false,
            mention_everyone: false,
            tts: false,
        }
    }
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|err| format!("{{\"serialize_error\":\"{err}\"}}"))
}

/// A member of `world`, as REST and member events carry it.
pub(crate) fn member(world: &World, user_id: Snowflake, with_guild: bool) -> Option<String> {
    let member = world.members.get(&user_id)?;
    let user = world.users.get(&user_id)?;
    Some(to_json(&MemberWire::new(
        member,
        user,
        with_guild.then_some(world.guild_id),
    )))
}

/// A channel of `world` with its `guild_id`.
pub(crate) fn channel(world: &World, channel: &Channel) -> String {
    to_json(&ChannelWire::new(channel, Some(world.guild_id)))
}
