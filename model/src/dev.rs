//! What the development panel shows: the embedded simulator's people and voice channels.

use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, UserId};

/// A simulated Discord user and where they are in voice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedUser {
    /// Their id.
    pub user_id: UserId,
    /// Their display name.
    pub username: String,
    /// The voice channel they are in, if any.
    pub channel_id: Option<ChannelId>,
}

/// A voice channel of the simulated guild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedChannel {
    /// Its id.
    pub channel_id: ChannelId,
    /// Its name.
    pub name: String,
}

/// The simulated guild as the panel needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedGuild {
    /// Every non-bot user, by name.
    pub users: Vec<SimulatedUser>,
    /// Every voice channel, by position.
    pub channels: Vec<SimulatedChannel>,
}
