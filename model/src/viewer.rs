//! Who is looking at a page, as the page needs to know it.

use serde::{Deserialize, Serialize};

use crate::ids::{GuildId, UserId};

/// The signed-in user and the guild the rooms live in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Viewer {
    /// The signed-in user, if any.
    pub user_id: Option<UserId>,
    /// Their display name.
    pub username: Option<String>,
    /// The guild hosting the game rooms (for Discord deep links).
    pub guild_id: GuildId,
}
