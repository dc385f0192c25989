//! What the browser stream (`GET /api/stream`) sends besides [`crate::event::AppEvent`]s.

use serde::{Deserialize, Serialize};

use crate::{
    event::RosterStatus,
    ids::{ChannelId, UserId},
};

/// The SSE event name of a [`RoomSnapshot`].
pub const SNAPSHOT_EVENT: &str = "snapshot";
/// The SSE event name of [`TableSeats`].
pub const SEATS_EVENT: &str = "seats";

/// Someone in the room's voice channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomMember {
    /// Who.
    pub user_id: UserId,
    /// Display name.
    pub username: String,
    /// Avatar hash, if any.
    pub avatar: Option<String>,
}

/// The whole state of a room: the first message of every stream, and what a client gets instead
/// of a replay when it fell too far behind. A client replaces its member list with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomSnapshot {
    /// The room's voice channel.
    pub channel_id: ChannelId,
    /// Who is in it, in a stable order.
    pub members: Vec<RoomMember>,
    /// Whether `members` is Discord's truth or a roster still (re)connecting: an empty list then
    /// means "not known yet", never "nobody is here".
    pub discord: RosterStatus,
}

/// A player's seat at a room's table, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seat {
    /// Who sits there.
    pub user_id: UserId,
    /// Display name.
    pub username: String,
    /// Avatar hash, if any.
    pub avatar: Option<String>,
    /// Whether they own the room.
    pub owner: bool,
    /// When they last left the room's voice channel (unix milliseconds, server clock), while they
    /// stay out of it; `None` when they are in it or have not been in it yet.
    pub dropped_at_ms: Option<i64>,
}

/// A room's seats: sent on a room's stream right after its snapshot (or replay), and after every
/// resynchronisation. A client replaces its seats with it. Only game rooms have seats; a voice
/// channel that is no room (the demo Lobby) never gets this message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableSeats {
    /// The room's voice channel.
    pub channel_id: ChannelId,
    /// The seated players, in the order they were admitted (the owner first).
    pub seats: Vec<Seat>,
    /// The server's clock when this was sent (unix milliseconds): a client measures its own
    /// clock's skew with it, so "dropped m:ss ago" counts from the server's times.
    pub server_now_ms: i64,
}
