//! The gateway link (seeds 000/002, DESIGN.md §4.5): the WebSocket the gateway role serves and
//! web instances use to run every bot-token Discord call, so that the bot token lives in one
//! process only.
//!
//! # Layout
//!
//! * This file: the wire protocol both ends share. Every frame is a JSON text [`Envelope`]
//!   `{type: "event"|"command"|"ack"|"error", data, requestId?, ts}`; a [`Command`] travels as
//!   `data: {command, payload}` and is answered by exactly one `ack` (its result as `data`) or one
//!   `error` (`data: {code, message}`, see [`ErrorCode`]).
//! * [`server`]: the gateway role's end: authentication, the bounded command queue, deadlines,
//!   the roster on connect and event subscriptions.
//! * [`client`]: the web role's end: [`client::LinkClient`], reconnecting forever with jittered
//!   backoff, every pending command failed at once when the connection drops.
//!
//! Discord failures cross the link as error codes that map one to one onto
//! [`DiscordError`](crate::discord::rest::DiscordError), so `Rooms` behaves the same whether its
//! Discord calls run here or on the gateway role.

pub mod client;
pub mod server;

use std::fmt;

use model::{
    event::RosterStatus,
    ids::{ChannelId, GuildId, UserId},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use twilight_model::{
    guild::Permissions,
    id::{Id, marker::MessageMarker},
};

use crate::{
    discord::rest::{DiscordError, GuildChannel},
    roster::{RosterSnapshot, VoiceMember},
};

/// The largest frame either end accepts. Commands are small (a message is at most 2000
/// characters); the roster is the one big frame, and 64 KiB holds about 500 people in voice.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Discord's limit on a message's content, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// The kind of an [`Envelope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrameKind {
    /// Gateway → client: the roster on connect, and app events for subscribers.
    Event,
    /// Client → gateway: a command to run, with a `requestId`.
    Command,
    /// Gateway → client: a command succeeded; `data` is its result.
    Ack,
    /// Gateway → client: a command (or a frame) failed; `data` is an [`ErrorBody`].
    Error,
}

/// One frame of the link, as the seeds define it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// What the frame is.
    #[serde(rename = "type")]
    pub kind: FrameKind,
    /// The payload; its shape depends on `kind`.
    #[serde(default)]
    pub data: Value,
    /// Ties a command to its `ack` or `error`. Required on commands; an `error` about a frame
    /// that had none (not JSON, say) carries none.
    #[serde(rename = "requestId", default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When the frame was sent, unix milliseconds (informational: clocks differ).
    #[serde(default)]
    pub ts: i64,
}

impl Envelope {
    /// A frame of `kind` stamped now.
    pub fn new(kind: FrameKind, data: Value, request_id: Option<String>) -> Self {
        Self {
            kind,
            data,
            request_id,
            ts: crate::store::unix_millis(),
        }
    }

    /// An `event` frame: `data: {event, payload}`.
    pub fn event(name: &str, payload: Value) -> Self {
        Self::new(
            FrameKind::Event,
            serde_json::json!({ "event": name, "payload": payload }),
            None,
        )
    }

    /// An `error` frame with `code` and a message safe to show the peer.
    pub fn error(request_id: Option<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        let body = ErrorBody {
            code,
            message: message.into(),
        };
        Self::new(FrameKind::Error, to_value(&body), request_id)
    }

    /// The frame as JSON text.
    pub fn to_text(&self) -> String {
        // An envelope is a struct of strings, numbers and `Value`s: it always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why a command or a frame failed: the `code` of an `error` frame.
///
/// The Discord codes map one to one onto [`DiscordError`] (see [`ErrorCode::of`] and
/// [`ErrorBody::into_discord`]), so a web instance rebuilds the very error the gateway role saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// Not a frame this protocol knows: not JSON, binary, an unknown `type`, a command without
    /// `requestId`.
    BadFrame,
    /// A command name this gateway does not know.
    UnknownCommand,
    /// A known command whose payload is missing, malformed or out of bounds.
    BadPayload,
    /// The gateway's command queue is full; nothing was run. Retry later.
    QueueFull,
    /// The command did not finish within the gateway's deadline; it may or may not have run.
    Deadline,
    /// [`DiscordError::NotInVoice`].
    NotInVoice,
    /// [`DiscordError::Denied`].
    DiscordRejected,
    /// [`DiscordError::UnknownChannel`].
    UnknownChannel,
    /// [`DiscordError::Unknown`].
    NotFound,
    /// [`DiscordError::Failed`]: Discord failed, timed out or answered something unreadable.
    DiscordUnavailable,
    /// A code this side does not know (a newer peer); treated as "unavailable".
    #[serde(other)]
    Other,
}

impl ErrorCode {
    /// The code a Discord failure travels as.
    pub fn of(err: &DiscordError) -> Self {
        match err {
            DiscordError::NotInVoice => Self::NotInVoice,
            DiscordError::Denied(_) => Self::DiscordRejected,
            DiscordError::UnknownChannel => Self::UnknownChannel,
            DiscordError::Unknown(_) => Self::NotFound,
            DiscordError::Failed(_) => Self::DiscordUnavailable,
        }
    }
}

/// The `data` of an `error` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Why, for programs.
    pub code: ErrorCode,
    /// Why, for people reading logs.
    #[serde(default)]
    pub message: String,
}

impl ErrorBody {
    /// The body a Discord failure travels as; the message keeps Discord's reason.
    pub fn of(err: &DiscordError) -> Self {
        let message = match err {
            DiscordError::Denied(reason) | DiscordError::Unknown(reason) | DiscordError::Failed(reason) => {
                reason.clone()
            }
            DiscordError::NotInVoice | DiscordError::UnknownChannel => err.to_string(),
        };
        Self {
            code: ErrorCode::of(err),
            message,
        }
    }

    /// The [`DiscordError`] this body stands for: the inverse of [`ErrorBody::of`]. Link-level
    /// failures (queue full, deadline, a malformed command) become [`DiscordError::Failed`], which
    /// rooms report as "Discord is unavailable" and which never claims nothing happened.
    pub fn into_discord(self) -> DiscordError {
        match self.code {
            ErrorCode::NotInVoice => DiscordError::NotInVoice,
            ErrorCode::DiscordRejected => DiscordError::Denied(self.message),
            ErrorCode::UnknownChannel => DiscordError::UnknownChannel,
            ErrorCode::NotFound => DiscordError::Unknown(self.message),
            ErrorCode::DiscordUnavailable => DiscordError::Failed(self.message),
            code @ (ErrorCode::BadFrame
            | ErrorCode::UnknownCommand
            | ErrorCode::BadPayload
            | ErrorCode::QueueFull
            | ErrorCode::Deadline
            | ErrorCode::Other) => DiscordError::Failed(format!("gateway link: {code:?}: {}", self.message)),
        }
    }
}

/// A user's OAuth2 access token, on its way to `PUT /guilds/{g}/members/{u}`. `Debug` hides it:
/// it must never reach a log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccessToken(pub String);

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

/// Every bot-token call a web instance can ask of the gateway role: the seeds' `sendMessage` and
/// `addReaction`, and one per method of [`DiscordRest`](crate::discord::rest::DiscordRest).
/// On the wire: `data: {"command": "<name>", "payload": {...}}`, fields camelCase, snowflakes as
/// strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `sendMessage {channelId, content}` → `{messageId}`.
    SendMessage {
        /// Where.
        channel_id: ChannelId,
        /// What, 1 to [`MAX_MESSAGE_CHARS`] characters.
        content: String,
    },
    /// `addReaction {channelId, messageId, emoji}` → `{}`. `emoji` is a Unicode emoji or a custom
    /// one as `name:id`.
    AddReaction {
        /// The message's channel.
        channel_id: ChannelId,
        /// The message.
        message_id: Id<MessageMarker>,
        /// The emoji.
        emoji: String,
    },
    /// `createRoomChannel {name, ownerId}` → `{channelId}`.
    CreateRoomChannel {
        /// The channel's name.
        name: String,
        /// The room's owner, the one player allowed in at first.
        owner_id: UserId,
    },
    /// `allowPlayer {channelId, userId}` → `{}`.
    AllowPlayer {
        /// The room's channel.
        channel_id: ChannelId,
        /// The player.
        user_id: UserId,
    },
    /// `forbidPlayer {channelId, userId}` → `{}`.
    ForbidPlayer {
        /// The room's channel.
        channel_id: ChannelId,
        /// The player.
        user_id: UserId,
    },
    /// `addToGuild {userId, accessToken}` → `{}`.
    AddToGuild {
        /// Who joins the guild.
        user_id: UserId,
        /// Their OAuth2 token with `guilds.join`.
        access_token: AccessToken,
    },
    /// `moveTo {userId, channelId}` → `{}`.
    MoveTo {
        /// Who is moved (they must be in voice).
        user_id: UserId,
        /// Where to.
        channel_id: ChannelId,
    },
    /// `disconnect {userId}` → `{}`.
    Disconnect {
        /// Who is disconnected from voice.
        user_id: UserId,
    },
    /// `deleteChannel {channelId}` → `{}`.
    DeleteChannel {
        /// The channel.
        channel_id: ChannelId,
    },
    /// `voiceChannelOf {userId}` → `{channelId: string | null}`.
    VoiceChannelOf {
        /// Whose voice channel.
        user_id: UserId,
    },
    /// `guildChannels` → `{channels: [...]}` (see [`GuildChannelWire`]).
    GuildChannels,
    /// `botUserId` → `{userId}`.
    BotUserId,
}

/// What the client sends: a Discord [`Command`], or a request about the link itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `subscribe` → `{subscribed: true}`: from now on, send me every app event.
    Subscribe,
    /// A bot-token call.
    Discord(Command),
}

/// Why a command's `data` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// `data` is not `{command: string, payload?: object}`.
    #[error("data must be {{\"command\": string, \"payload\": object}}")]
    Shape,
    /// No such command.
    #[error("unknown command `{0}`")]
    Unknown(String),
    /// The payload does not fit the command.
    #[error("bad payload for `{command}`: {reason}")]
    Payload {
        /// The command.
        command: &'static str,
        /// What is wrong, safe to show the peer.
        reason: String,
    },
}

impl CommandError {
    /// The `error` code it is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Shape => ErrorCode::BadFrame,
            Self::Unknown(_) => ErrorCode::UnknownCommand,
            Self::Payload { .. } => ErrorCode::BadPayload,
        }
    }
}

/// `data` of a command frame, before its payload is read.
#[derive(Deserialize)]
struct RawCommand {
    command: String,
    #[serde(default)]
    payload: Value,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendMessagePayload {
    channel_id: ChannelId,
    content: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddReactionPayload {
    channel_id: ChannelId,
    message_id: Id<MessageMarker>,
    emoji: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRoomChannelPayload {
    name: String,
    owner_id: UserId,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChannelUserPayload {
    channel_id: ChannelId,
    user_id: UserId,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddToGuildPayload {
    user_id: UserId,
    access_token: AccessToken,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserPayload {
    user_id: UserId,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChannelPayload {
    channel_id: ChannelId,
}

/// Longest custom emoji reference (`name:id`, a 32-character name and a snowflake) with room.
const MAX_EMOJI_CHARS: usize = 64;
/// Discord's limit on a channel name.
const MAX_CHANNEL_NAME_CHARS: usize = 100;
/// OAuth2 access tokens are about 30 characters; anything much longer is not one.
const MAX_ACCESS_TOKEN_CHARS: usize = 512;

impl Request {
    /// Reads a command frame's `data`.
    pub fn parse(data: Value) -> Result<Self, CommandError> {
        let raw: RawCommand = serde_json::from_value(data).map_err(|_| CommandError::Shape)?;
        // Commands without arguments accept a missing, null or empty payload alike.
        let payload = if raw.payload.is_null() {
            Value::Object(serde_json::Map::new())
        } else {
            raw.payload
        };
        let command = match raw.command.as_str() {
            "subscribe" => return Ok(Self::Subscribe),
            "sendMessage" => {
                let p: SendMessagePayload = payload_of("sendMessage", payload)?;
                let chars = p.content.chars().count();
                if chars == 0 || chars > MAX_MESSAGE_CHARS {
                    return Err(bad(
                        "sendMessage",
                        format!("content must be 1 to {MAX_MESSAGE_CHARS} characters"),
                    ));
                }
                Command::SendMessage {
                    channel_id: p.channel_id,
                    content: p.content,
                }
            }
            "addReaction" => {
                let p: AddReactionPayload = payload_of("addReaction", payload)?;
                let chars = p.emoji.chars().count();
                if chars == 0 || chars > MAX_EMOJI_CHARS {
                    return Err(bad(
                        "addReaction",
                        format!("emoji must be 1 to {MAX_EMOJI_CHARS} characters"),
                    ));
                }
                Command::AddReaction {
                    channel_id: p.channel_id,
                    message_id: p.message_id,
                    emoji: p.emoji,
                }
            }
            "createRoomChannel" => {
                let p: CreateRoomChannelPayload = payload_of("createRoomChannel", payload)?;
                let chars = p.name.chars().count();
                if chars == 0 || chars > MAX_CHANNEL_NAME_CHARS {
                    return Err(bad(
                        "createRoomChannel",
                        format!("name must be 1 to {MAX_CHANNEL_NAME_CHARS} characters"),
                    ));
                }
                Command::CreateRoomChannel {
                    name: p.name,
                    owner_id: p.owner_id,
                }
            }
            "allowPlayer" => {
                let p: ChannelUserPayload = payload_of("allowPlayer", payload)?;
                Command::AllowPlayer {
                    channel_id: p.channel_id,
                    user_id: p.user_id,
                }
            }
            "forbidPlayer" => {
                let p: ChannelUserPayload = payload_of("forbidPlayer", payload)?;
                Command::ForbidPlayer {
                    channel_id: p.channel_id,
                    user_id: p.user_id,
                }
            }
            "addToGuild" => {
                let p: AddToGuildPayload = payload_of("addToGuild", payload)?;
                let chars = p.access_token.0.chars().count();
                if chars == 0 || chars > MAX_ACCESS_TOKEN_CHARS {
                    return Err(bad("addToGuild", "accessToken is not an access token".to_owned()));
                }
                Command::AddToGuild {
                    user_id: p.user_id,
                    access_token: p.access_token,
                }
            }
            "moveTo" => {
                let p: ChannelUserPayload = payload_of("moveTo", payload)?;
                Command::MoveTo {
                    user_id: p.user_id,
                    channel_id: p.channel_id,
                }
            }
            "disconnect" => Command::Disconnect {
                user_id: payload_of::<UserPayload>("disconnect", payload)?.user_id,
            },
            "deleteChannel" => Command::DeleteChannel {
                channel_id: payload_of::<ChannelPayload>("deleteChannel", payload)?.channel_id,
            },
            "voiceChannelOf" => Command::VoiceChannelOf {
                user_id: payload_of::<UserPayload>("voiceChannelOf", payload)?.user_id,
            },
            "guildChannels" => Command::GuildChannels,
            "botUserId" => Command::BotUserId,
            _ => return Err(CommandError::Unknown(truncate(&raw.command, 64))),
        };
        Ok(Self::Discord(command))
    }

    /// The command's `data` on the wire: `{command, payload}`.
    pub fn to_data(&self) -> Value {
        let (name, payload) = match self {
            Self::Subscribe => ("subscribe", Value::Object(serde_json::Map::new())),
            Self::Discord(command) => (command.name(), command.payload()),
        };
        serde_json::json!({ "command": name, "payload": payload })
    }
}

impl Command {
    /// The command's name on the wire.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::SendMessage { .. } => "sendMessage",
            Self::AddReaction { .. } => "addReaction",
            Self::CreateRoomChannel { .. } => "createRoomChannel",
            Self::AllowPlayer { .. } => "allowPlayer",
            Self::ForbidPlayer { .. } => "forbidPlayer",
            Self::AddToGuild { .. } => "addToGuild",
            Self::MoveTo { .. } => "moveTo",
            Self::Disconnect { .. } => "disconnect",
            Self::DeleteChannel { .. } => "deleteChannel",
            Self::VoiceChannelOf { .. } => "voiceChannelOf",
            Self::GuildChannels => "guildChannels",
            Self::BotUserId => "botUserId",
        }
    }

    fn payload(&self) -> Value {
        match self {
            Self::SendMessage { channel_id, content } => to_value(&SendMessagePayload {
                channel_id: *channel_id,
                content: content.clone(),
            }),
            Self::AddReaction {
                channel_id,
                message_id,
                emoji,
            } => to_value(&AddReactionPayload {
                channel_id: *channel_id,
                message_id: *message_id,
                emoji: emoji.clone(),
            }),
            Self::CreateRoomChannel { name, owner_id } => to_value(&CreateRoomChannelPayload {
                name: name.clone(),
                owner_id: *owner_id,
            }),
            Self::AllowPlayer { channel_id, user_id }
            | Self::ForbidPlayer { channel_id, user_id }
            | Self::MoveTo { user_id, channel_id } => to_value(&ChannelUserPayload {
                channel_id: *channel_id,
                user_id: *user_id,
            }),
            Self::AddToGuild {
                user_id,
                access_token,
            } => to_value(&AddToGuildPayload {
                user_id: *user_id,
                access_token: access_token.clone(),
            }),
            Self::Disconnect { user_id } | Self::VoiceChannelOf { user_id } => {
                to_value(&UserPayload { user_id: *user_id })
            }
            Self::DeleteChannel { channel_id } => to_value(&ChannelPayload {
                channel_id: *channel_id,
            }),
            Self::GuildChannels | Self::BotUserId => Value::Object(serde_json::Map::new()),
        }
    }
}

fn payload_of<T: DeserializeOwned>(command: &'static str, payload: Value) -> Result<T, CommandError> {
    serde_json::from_value(payload).map_err(|err| bad(command, truncate(&err.to_string(), 200)))
}

fn bad(command: &'static str, reason: String) -> CommandError {
    CommandError::Payload { command, reason }
}

/// At most `max` characters of a peer's text, for echoing it back without echoing a megabyte.
fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Serialises a value made of strings, numbers and ids, which cannot fail.
pub(crate) fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The `ack` of `createRoomChannel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelCreated {
    /// The new channel.
    pub channel_id: ChannelId,
}

/// The `ack` of `voiceChannelOf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceChannel {
    /// The channel the user is in; `null` when not in voice.
    pub channel_id: Option<ChannelId>,
}

/// The `ack` of `botUserId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BotUser {
    /// The bot's user id.
    pub user_id: UserId,
}

/// The `ack` of `sendMessage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSent {
    /// The new message.
    pub message_id: Id<MessageMarker>,
}

/// The `ack` of `guildChannels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuildChannels {
    /// Every channel of the guild.
    pub channels: Vec<GuildChannelWire>,
}

/// A [`GuildChannel`] on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuildChannelWire {
    /// The channel.
    pub id: ChannelId,
    /// Whether it is a voice channel.
    pub voice: bool,
    /// Its name.
    pub name: String,
    /// Its member overwrites.
    pub member_allows: Vec<MemberAllow>,
}

/// One member overwrite of a [`GuildChannelWire`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberAllow {
    /// Whom the overwrite is for.
    pub user_id: UserId,
    /// The allowed permission bits as a decimal string, as Discord writes them.
    pub allow: String,
}

impl From<&GuildChannel> for GuildChannelWire {
    fn from(channel: &GuildChannel) -> Self {
        Self {
            id: channel.id,
            voice: channel.voice,
            name: channel.name.clone(),
            member_allows: channel
                .member_allows
                .iter()
                .map(|(user_id, allow)| MemberAllow {
                    user_id: *user_id,
                    allow: allow.bits().to_string(),
                })
                .collect(),
        }
    }
}

impl TryFrom<GuildChannelWire> for GuildChannel {
    type Error = std::num::ParseIntError;

    fn try_from(wire: GuildChannelWire) -> Result<Self, Self::Error> {
        let member_allows = wire
            .member_allows
            .into_iter()
            .map(|allow| {
                allow
                    .allow
                    .parse::<u64>()
                    .map(|bits| (allow.user_id, Permissions::from_bits_truncate(bits)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            id: wire.id,
            voice: wire.voice,
            name: wire.name,
            member_allows,
        })
    }
}

/// The roster a link client receives on every connect: `event` `roster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRoster {
    /// The guild.
    pub guild_id: GuildId,
    /// Everyone in voice.
    pub members: Vec<LinkMember>,
    /// Whether `members` is Discord's truth now.
    pub status: RosterStatus,
    /// The event stream position the roster is current at (the Redis Stream id), when the
    /// gateway role knows it: a client replays events after it.
    #[serde(default)]
    pub stream_id: Option<String>,
}

/// Someone in voice, in a [`LinkRoster`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkMember {
    /// Who.
    pub user_id: UserId,
    /// Where.
    pub channel_id: ChannelId,
    /// Display name.
    pub username: String,
    /// Avatar hash, if any.
    pub avatar: Option<String>,
}

impl From<VoiceMember> for LinkMember {
    fn from(member: VoiceMember) -> Self {
        Self {
            user_id: member.user_id,
            channel_id: member.channel_id,
            username: member.username,
            avatar: member.avatar,
        }
    }
}

impl From<LinkMember> for VoiceMember {
    fn from(member: LinkMember) -> Self {
        Self {
            user_id: member.user_id,
            channel_id: member.channel_id,
            username: member.username,
            avatar: member.avatar,
        }
    }
}

impl LinkRoster {
    /// The roster of a snapshot, at `stream_id` if known.
    pub fn from_snapshot(snapshot: RosterSnapshot, stream_id: Option<String>) -> Self {
        Self {
            guild_id: snapshot.guild_id,
            members: snapshot.members.into_iter().map(LinkMember::from).collect(),
            status: snapshot.status,
            stream_id,
        }
    }

    /// Back into the roster's own snapshot type.
    pub fn into_snapshot(self) -> RosterSnapshot {
        RosterSnapshot {
            guild_id: self.guild_id,
            members: self.members.into_iter().map(VoiceMember::from).collect(),
            status: self.status,
        }
    }
}

/// The name of the `event` that carries a [`LinkRoster`].
pub const ROSTER_EVENT: &str = "roster";

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn commands_round_trip_through_their_wire_form() {
        let commands = [
            Command::SendMessage {
                channel_id: "3".parse().unwrap(),
                content: "hello".to_owned(),
            },
            Command::AddReaction {
                channel_id: "3".parse().unwrap(),
                message_id: Id::new(9),
                emoji: "👍".to_owned(),
            },
            Command::CreateRoomChannel {
                name: "room".to_owned(),
                owner_id: "4".parse().unwrap(),
            },
            Command::AllowPlayer {
                channel_id: "3".parse().unwrap(),
                user_id: "4".parse().unwrap(),
            },
            Command::ForbidPlayer {
                channel_id: "3".parse().unwrap(),
                user_id: "4".parse().unwrap(),
            },
            Command::AddToGuild {
                user_id: "4".parse().unwrap(),
                access_token: AccessToken("tok".to_owned()),
            },
            Command::MoveTo {
                user_id: "4".parse().unwrap(),
                channel_id: "3".parse().unwrap(),
            },
            Command::Disconnect {
                user_id: "4".parse().unwrap(),
            },
            Command::DeleteChannel {
                channel_id: "3".parse().unwrap(),
            },
            Command::VoiceChannelOf {
                user_id: "4".parse().unwrap(),
            },
            Command::GuildChannels,
            Command::BotUserId,
        ];
        for command in commands {
            let request = Request::Discord(command);
            assert_eq!(
                Request::parse(request.to_data()),
                Ok(request.clone()),
                "{request:?}"
            );
        }
        assert_eq!(
            Request::parse(Request::Subscribe.to_data()),
            Ok(Request::Subscribe)
        );
    }

    #[test]
    fn seed_commands_read_camel_case_string_snowflakes() {
        let data =
            json!({"command": "sendMessage", "payload": {"channelId": "123456789", "content": "Hello"}});
        assert_eq!(
            Request::parse(data),
            Ok(Request::Discord(Command::SendMessage {
                channel_id: "123456789".parse().unwrap(),
                content: "Hello".to_owned(),
            }))
        );
        let bare = json!({"command": "guildChannels"});
        assert_eq!(Request::parse(bare), Ok(Request::Discord(Command::GuildChannels)));
    }

    #[test]
    fn bad_commands_get_the_code_that_says_why() {
        let cases = [
            (json!("sendMessage"), ErrorCode::BadFrame),
            (json!({"command": "launchMissiles"}), ErrorCode::UnknownCommand),
            (
                json!({"command": "sendMessage", "payload": {"channelId": 3}}),
                ErrorCode::BadPayload,
            ),
            (
                json!({"command": "sendMessage", "payload": {"channelId": "0", "content": "x"}}),
                ErrorCode::BadPayload,
            ),
            (
                json!({"command": "sendMessage", "payload": {"channelId": "3", "content": ""}}),
                ErrorCode::BadPayload,
            ),
            (
                json!({"command": "sendMessage", "payload": {"channelId": "3", "content": "x".repeat(2001)}}),
                ErrorCode::BadPayload,
            ),
        ];
        for (data, code) in cases {
            let err = Request::parse(data.clone()).expect_err("refused");
            assert_eq!(err.code(), code, "{data}");
        }
    }

    #[test]
    fn discord_errors_survive_the_link() {
        let errors = [
            DiscordError::NotInVoice,
            DiscordError::Denied("Missing Access".to_owned()),
            DiscordError::UnknownChannel,
            DiscordError::Unknown("Unknown Member".to_owned()),
            DiscordError::Failed("status 502".to_owned()),
        ];
        for err in errors {
            let body: ErrorBody = serde_json::from_value(to_value(&ErrorBody::of(&err))).unwrap();
            assert_eq!(format!("{:?}", body.into_discord()), format!("{err:?}"));
        }
    }

    #[test]
    fn an_unknown_error_code_from_a_newer_peer_reads_as_unavailable() {
        let body: ErrorBody =
            serde_json::from_value(json!({"code": "SOMETHING_NEW", "message": "x"})).unwrap();
        assert_eq!(body.code, ErrorCode::Other);
        assert!(matches!(body.into_discord(), DiscordError::Failed(_)));
    }

    #[test]
    fn access_tokens_never_print() {
        let command = Command::AddToGuild {
            user_id: "4".parse().unwrap(),
            access_token: AccessToken("very-secret".to_owned()),
        };
        assert!(!format!("{command:?}").contains("very-secret"));
    }

    #[test]
    fn envelopes_have_the_seed_shape() {
        let frame = Envelope::error(Some("r1".to_owned()), ErrorCode::QueueFull, "busy");
        let json: Value = serde_json::from_str(&frame.to_text()).unwrap();
        assert_eq!(json["type"], "error");
        assert_eq!(json["requestId"], "r1");
        assert_eq!(json["data"], json!({"code": "QUEUE_FULL", "message": "busy"}));
        assert!(json["ts"].as_i64().unwrap() > 0);
    }
}
