//! What the browser stream (`GET /api/stream`) sends besides [`crate::event::AppEvent`]s.

use serde::{Deserialize, Serialize};

use crate::{
    event::RosterStatus,
    ids::{ChannelId, UserId},
};

/// The SSE event name of a [`RoomSnapshot`].
pub const SNAPSHOT_EVENT: &str = "snapshot";

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
