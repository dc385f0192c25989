//! [`AppEvent`]: the one event type carried by the bus, Redis, the gateway link and the browser
//! stream.
//!
//! Serialised as `{"event": "voice.joined", "payload": {…}}`, the `data` of the seeds' gateway
//! link envelope; the browser stream sends `event: <name>` with the payload alone as `data:`.
//! Payload fields are camelCase and snowflakes are strings, as the seeds specify.

use serde::{Deserialize, Serialize};

use crate::{
    ids::{ChannelId, GuildId, UserId},
    table::{CommandersNamed, LifeChanged, TableState},
};

/// Something that happened in the guild that viewers of a game room care about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", content = "payload")]
pub enum AppEvent {
    /// A user is now in a voice channel (joined it, or moved into it).
    #[serde(rename = "voice.joined")]
    VoiceJoined(VoiceJoined),
    /// A user is no longer in a voice channel (left voice, or moved out of it).
    #[serde(rename = "voice.left")]
    VoiceLeft(VoiceLeft),
    /// A voice channel was created in the guild.
    #[serde(rename = "room.created")]
    RoomCreated(RoomCreated),
    /// A voice channel was deleted from the guild.
    #[serde(rename = "room.deleted")]
    RoomDeleted(RoomDeleted),
    /// A game room has been idle (nobody in voice, nobody watching) and will be deleted unless
    /// someone comes back before `deleteAtMs`.
    #[serde(rename = "room.inactive")]
    RoomInactive(RoomInactive),
    /// Whether the roster follows Discord right now. Sent to every room's viewers when it changes:
    /// while the connection is lost (or a fresh one has not yet received the guild), the roster
    /// is frozen and a page must say so instead of "Live".
    #[serde(rename = "discord.status")]
    DiscordStatus(DiscordStatus),
    /// A player took a seat in a game room (joined it with an invite).
    #[serde(rename = "seat.taken")]
    SeatTaken(SeatTaken),
    /// A seat was freed: its player left the game on purpose, or the owner removed them.
    #[serde(rename = "seat.freed")]
    SeatFreed(SeatFreed),
    /// A seated player left the room's voice channel: their seat is held, and this is when (server
    /// time, as stored) they dropped.
    #[serde(rename = "seat.dropped")]
    SeatDropped(SeatDropped),
    /// A player's life, poison or commander damage changed (or a change was undone).
    #[serde(rename = "life.changed")]
    LifeChanged(LifeChanged),
    /// A player's commanders were named.
    #[serde(rename = "commanders.named")]
    CommandersNamed(CommandersNamed),
    /// The owner started a new game: every total is back at the start.
    #[serde(rename = "table.reset")]
    TableReset(TableState),
}

impl AppEvent {
    /// The event's name on the wire (`voice.joined`, …), used as the SSE `event:` field.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::VoiceJoined(_) => "voice.joined",
            Self::VoiceLeft(_) => "voice.left",
            Self::RoomCreated(_) => "room.created",
            Self::RoomDeleted(_) => "room.deleted",
            Self::RoomInactive(_) => "room.inactive",
            Self::DiscordStatus(_) => "discord.status",
            Self::SeatTaken(_) => "seat.taken",
            Self::SeatFreed(_) => "seat.freed",
            Self::SeatDropped(_) => "seat.dropped",
            Self::LifeChanged(_) => "life.changed",
            Self::CommandersNamed(_) => "commanders.named",
            Self::TableReset(_) => "table.reset",
        }
    }

    /// The voice channel the event concerns, which is how it is routed to a room's viewers. A
    /// `voice.left` concerns the channel that was left; `discord.status` concerns every room
    /// (`None`).
    pub const fn channel_id(&self) -> Option<ChannelId> {
        match self {
            Self::VoiceJoined(event) => Some(event.channel_id),
            Self::VoiceLeft(event) => Some(event.left_channel_id),
            Self::RoomCreated(event) => Some(event.channel_id),
            Self::RoomDeleted(event) => Some(event.channel_id),
            Self::RoomInactive(event) => Some(event.channel_id),
            Self::DiscordStatus(_) => None,
            Self::SeatTaken(event) => Some(event.channel_id),
            Self::SeatFreed(event) => Some(event.channel_id),
            Self::SeatDropped(event) => Some(event.channel_id),
            Self::LifeChanged(event) => Some(event.channel_id),
            Self::CommandersNamed(event) => Some(event.channel_id),
            Self::TableReset(event) => Some(event.channel_id),
        }
    }
}

/// `voice.joined`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceJoined {
    /// The guild.
    pub guild_id: GuildId,
    /// The channel the user is now in.
    pub channel_id: ChannelId,
    /// Who.
    pub user_id: UserId,
    /// Their display name (global name, else username).
    pub username: String,
    /// Their avatar hash, if they have one.
    pub avatar: Option<String>,
}

/// `voice.left`. `channelId` is always `null` (the seeds' shape: the user is in no channel of this
/// room any more); `leftChannelId` says which channel was left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceLeft {
    /// The guild.
    pub guild_id: GuildId,
    /// Always `None`; kept for the seeds' payload shape.
    pub channel_id: Option<ChannelId>,
    /// Who.
    pub user_id: UserId,
    /// The channel the user was in.
    pub left_channel_id: ChannelId,
}

/// `room.created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomCreated {
    /// The guild.
    pub guild_id: GuildId,
    /// The new voice channel.
    pub channel_id: ChannelId,
    /// Its name.
    pub name: String,
    /// Its category, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<ChannelId>,
    /// At most this many users (0 means no limit).
    pub user_limit: u32,
}

/// `room.deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomDeleted {
    /// The guild.
    pub guild_id: GuildId,
    /// The deleted voice channel.
    pub channel_id: ChannelId,
}

/// `room.inactive`: the warning before an idle room is cleaned up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomInactive {
    /// The guild.
    pub guild_id: GuildId,
    /// The idle room's voice channel.
    pub channel_id: ChannelId,
    /// When the room will be deleted if it stays idle, unix milliseconds.
    pub delete_at_ms: i64,
}

/// `discord.status`: whether the roster follows Discord now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscordStatus {
    /// The guild.
    pub guild_id: GuildId,
    /// The roster's state.
    pub status: RosterStatus,
}

/// `seat.taken`: a player was admitted to a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatTaken {
    /// The room's voice channel.
    pub channel_id: ChannelId,
    /// Who sits down.
    pub user_id: UserId,
    /// Their display name.
    pub username: String,
    /// Their avatar hash, if they have one.
    pub avatar: Option<String>,
    /// Whether they own the room.
    pub owner: bool,
}

/// `seat.freed`: a player is no longer seated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatFreed {
    /// The room's voice channel.
    pub channel_id: ChannelId,
    /// Who got up.
    pub user_id: UserId,
    /// Why.
    pub reason: SeatFreedReason,
}

/// Why a seat was freed. (A closed room frees every seat at once: that is `room.deleted`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatFreedReason {
    /// The player left the game on purpose ("Leave game").
    Left,
    /// The owner removed them.
    Removed,
}

/// `seat.dropped`: a seated player left the room's voice channel; the seat is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatDropped {
    /// The room's voice channel.
    pub channel_id: ChannelId,
    /// Who dropped.
    pub user_id: UserId,
    /// When, unix milliseconds on the server's clock, as stored.
    pub dropped_at_ms: i64,
}

/// Whether the voice roster can be trusted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RosterStatus {
    /// Connected, and the roster is Discord's truth: after `READY` and the guild's `GUILD_CREATE`,
    /// or after `RESUMED` on a roster that was already the truth (or the one saved with the
    /// session).
    Ready,
    /// Not (yet) following Discord: the roster is empty or frozen. Nobody may be judged absent
    /// on it.
    #[default]
    Connecting,
}

impl RosterStatus {
    /// Whether the roster is the truth.
    pub const fn is_ready(self) -> bool {
        matches!(self, Self::Ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id<T: std::str::FromStr>(text: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        text.parse().unwrap()
    }

    #[test]
    fn voice_joined_has_the_seed_shape() {
        let event = AppEvent::VoiceJoined(VoiceJoined {
            guild_id: id("2"),
            channel_id: id("3"),
            user_id: id("4"),
            username: "alice".to_owned(),
            avatar: None,
        });
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"event": "voice.joined", "payload": {
                "guildId": "2", "channelId": "3", "userId": "4", "username": "alice", "avatar": null
            }})
        );
        assert_eq!(serde_json::from_value::<AppEvent>(json).unwrap(), event);
        assert_eq!(event.name(), "voice.joined");
    }

    #[test]
    fn voice_left_has_a_null_channel_and_names_the_channel_left() {
        let event = AppEvent::VoiceLeft(VoiceLeft {
            guild_id: id("2"),
            channel_id: None,
            user_id: id("4"),
            left_channel_id: id("3"),
        });
        assert_eq!(event.channel_id(), Some(id("3")));
        assert_eq!(
            serde_json::to_value(&event).unwrap()["payload"],
            serde_json::json!({"guildId": "2", "channelId": null, "userId": "4", "leftChannelId": "3"})
        );
    }

    #[test]
    fn discord_status_names_the_state_and_concerns_every_room() {
        let event = AppEvent::DiscordStatus(DiscordStatus {
            guild_id: id("2"),
            status: RosterStatus::Ready,
        });
        assert_eq!(event.channel_id(), None);
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            serde_json::json!({"event": "discord.status", "payload": {"guildId": "2", "status": "ready"}})
        );
    }

    #[test]
    fn seat_events_are_routed_to_their_room_and_round_trip() {
        let events = [
            AppEvent::SeatTaken(SeatTaken {
                channel_id: id("3"),
                user_id: id("4"),
                username: "bob".to_owned(),
                avatar: None,
                owner: false,
            }),
            AppEvent::SeatFreed(SeatFreed {
                channel_id: id("3"),
                user_id: id("4"),
                reason: SeatFreedReason::Left,
            }),
            AppEvent::SeatDropped(SeatDropped {
                channel_id: id("3"),
                user_id: id("4"),
                dropped_at_ms: 1_700_000_000_000,
            }),
        ];
        for event in events {
            assert_eq!(event.channel_id(), Some(id("3")));
            let text = serde_json::to_string(&event).unwrap();
            assert_eq!(serde_json::from_str::<AppEvent>(&text).unwrap(), event);
        }
        assert_eq!(
            serde_json::to_value(AppEvent::SeatFreed(SeatFreed {
                channel_id: id("3"),
                user_id: id("4"),
                reason: SeatFreedReason::Removed,
            }))
            .unwrap(),
            serde_json::json!({"event": "seat.freed", "payload": {"channelId": "3", "userId": "4", "reason": "removed"}})
        );
    }

    #[test]
    fn room_events_round_trip() {
        for event in [
            AppEvent::RoomCreated(RoomCreated {
                guild_id: id("2"),
                channel_id: id("3"),
                name: "Friday Commander".to_owned(),
                parent_id: None,
                user_limit: 4,
            }),
            AppEvent::RoomDeleted(RoomDeleted {
                guild_id: id("2"),
                channel_id: id("3"),
            }),
            AppEvent::RoomInactive(RoomInactive {
                guild_id: id("2"),
                channel_id: id("3"),
                delete_at_ms: 1_700_000_000_000,
            }),
            AppEvent::DiscordStatus(DiscordStatus {
                guild_id: id("2"),
                status: RosterStatus::Connecting,
            }),
        ] {
            let text = serde_json::to_string(&event).unwrap();
            assert!(!text.contains("parentId"), "absent parent is omitted: {text}");
            assert_eq!(serde_json::from_str::<AppEvent>(&text).unwrap(), event);
        }
    }
}
