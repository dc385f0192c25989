//! Game rooms as the browser sees them, and the rules for what a user may type.
//!
//! The validation lives here so that the browser can check a name before sending it and the
//! server checks the very same rule again (it never trusts the browser).

use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, GuildId, UserId};

/// Seats in a game room: Discord's `user_limit` on the channel and the most players admitted.
pub const MAX_PLAYERS: usize = 4;

/// The longest room name, in characters after trimming (Discord's channel name limit).
pub const MAX_NAME_CHARS: usize = 100;

/// Why a room name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing but whitespace.
    #[error("the room needs a name")]
    Empty,
    /// Longer than [`MAX_NAME_CHARS`].
    #[error("the room name can be at most 100 characters")]
    TooLong,
    /// Contains a control character (a newline, a tab, an escape …).
    #[error("the room name cannot contain control characters")]
    ControlCharacter,
}

/// The name as it will be stored: trimmed, 1–100 characters, no control characters.
pub fn validate_room_name(name: &str) -> Result<String, NameError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter);
    }
    Ok(name.to_owned())
}

/// The room's Discord channel in the Discord app: `https://discord.com/channels/{guild}/{channel}`.
pub fn discord_channel_link(guild: GuildId, channel: ChannelId) -> String {
    format!("https://discord.com/channels/{guild}/{channel}")
}

/// The path of a room's page on this site.
pub fn room_path(channel: ChannelId) -> String {
    format!("/game/{channel}")
}

/// The path a friend opens to join with an invite token.
pub fn invite_path(token: &str) -> String {
    format!("/invite/{token}")
}

/// The sign-in link that comes back to `return_to` (a path on this site) afterwards, with the path
/// percent-encoded so that nothing in it (`&`, `#`, `?`) can leak into the link's own query.
pub fn sign_in_path(return_to: &str) -> String {
    use std::fmt::Write;

    let mut link = String::from("/auth/login?return_to=");
    for byte in return_to.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            link.push(char::from(byte));
        } else {
            let _ = write!(link, "%{byte:02X}");
        }
    }
    link
}

/// A room in a list ("my rooms").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomSummary {
    /// The room's voice channel, which is also its id.
    pub channel_id: ChannelId,
    /// Its name.
    pub name: String,
    /// Whether the viewer created it.
    pub is_owner: bool,
}

/// An invite as its room's owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invite {
    /// The secret part of the link; only its hash is stored, so it is shown only to the owner,
    /// right after it was made.
    pub token: String,
    /// When it stops working, unix milliseconds.
    pub expires_at_ms: i64,
}

/// A room's page: who runs it and who is admitted. The live voice roster comes from the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomDetails {
    /// The guild the room's channel lives in.
    pub guild_id: GuildId,
    /// The room's voice channel.
    pub channel_id: ChannelId,
    /// Its name.
    pub name: String,
    /// Who created it (and may run it).
    pub owner_id: UserId,
    /// Whether the viewer is the owner.
    pub is_owner: bool,
    /// Admitted players (the owner first), at most [`MAX_PLAYERS`].
    pub players: Vec<Player>,
    /// When the current invite expires (unix milliseconds), if there is one. The token itself is
    /// known only when it was just made.
    pub invite_expires_at_ms: Option<i64>,
}

/// An admitted player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Player {
    /// Discord id.
    pub user_id: UserId,
    /// Display name.
    pub username: String,
}

/// A room just created, with its first invite (the only time the owner sees its token, until
/// they refresh it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewRoom {
    /// The room's voice channel.
    pub channel_id: ChannelId,
    /// Its first invite.
    pub invite: Invite,
}

/// What a successful `join_room` gives back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinedRoom {
    /// The room's voice channel.
    pub channel_id: ChannelId,
    /// Its name.
    pub name: String,
}

/// What `connect_user_to_voice_channel` achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoiceConnect {
    /// The user was in another voice channel and has been moved into the room's.
    Moved,
    /// The user is not in voice at all, so they could not be moved (Discord's 40032): they join
    /// the channel themselves from Discord.
    NotInVoice,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_links_carry_the_return_path_encoded() {
        assert_eq!(sign_in_path("/game/42"), "/auth/login?return_to=/game/42");
        assert_eq!(
            sign_in_path("/invite/a&b?c#d é"),
            "/auth/login?return_to=/invite/a%26b%3Fc%23d%20%C3%A9"
        );
    }

    #[test]
    fn room_names_are_trimmed_and_bounded() {
        assert_eq!(
            validate_room_name("  Friday Commander "),
            Ok("Friday Commander".to_owned())
        );
        assert_eq!(validate_room_name(&"é".repeat(100)), Ok("é".repeat(100)));
        assert_eq!(validate_room_name(""), Err(NameError::Empty));
        assert_eq!(validate_room_name(" \t\n "), Err(NameError::Empty));
        assert_eq!(validate_room_name(&"x".repeat(101)), Err(NameError::TooLong));
        assert_eq!(validate_room_name("a\u{7}b"), Err(NameError::ControlCharacter));
        assert_eq!(
            validate_room_name("line\nbreak"),
            Err(NameError::ControlCharacter)
        );
    }
}
