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
    /// Contains a character that changes the direction of the text around it (U+202E and
    /// friends): it would make the name, and the page around it, read as something else.
    #[error("the room name cannot contain characters that change the text direction (such as U+202E)")]
    DirectionControl,
    /// Contains an invisible character (zero-width space, soft hyphen …): two names that look
    /// the same must be the same.
    #[error("the room name cannot contain invisible characters (such as a zero-width space)")]
    Invisible,
}

/// The name as it will be stored: trimmed, 1–100 characters, no control characters, nothing that
/// changes the text direction and nothing invisible. A room name is shown to other people (in the
/// app and as the Discord channel's name), so it must read as what it is.
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
    if name.chars().any(is_direction_control) {
        return Err(NameError::DirectionControl);
    }
    if name.chars().any(is_invisible) {
        return Err(NameError::Invisible);
    }
    Ok(name.to_owned())
}

/// The bidirectional formatting characters: marks, embeddings, overrides and isolates (Unicode
/// UAX #9). Any of them can make text read in an order other than the one it is stored in.
const fn is_direction_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that draw nothing: the invisible format characters (general category Cf; the
/// visible ones, such as the Arabic number signs, stay allowed), plus the fillers and joiners that
/// render blank. Variation selectors (U+FE00–U+FE0F) are not among them: emoji need them.
const fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'                      // soft hyphen
            | '\u{034F}'                // combining grapheme joiner
            | '\u{115F}' | '\u{1160}'   // Hangul fillers
            | '\u{17B4}' | '\u{17B5}'   // Khmer inherent vowels
            | '\u{180E}'                // Mongolian vowel separator
            | '\u{200B}'..='\u{200D}'   // zero-width space, non-joiner, joiner
            | '\u{2060}'..='\u{2064}'   // word joiner, invisible operators
            | '\u{206A}'..='\u{206F}'   // deprecated format characters
            | '\u{3164}' | '\u{FFA0}'   // Hangul fillers
            | '\u{FEFF}'                // zero-width no-break space (byte order mark)
            | '\u{FFF9}'..='\u{FFFB}'   // interlinear annotation
            | '\u{1BCA0}'..='\u{1BCA3}' // shorthand format controls
            | '\u{1D173}'..='\u{1D17A}' // musical symbol format controls
            | '\u{E0000}'..='\u{E007F}' // tags
    )
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
    /// When it closes for idleness (unix milliseconds), once it was warned: nobody has been in its
    /// voice channel or on its page for most of an hour.
    #[serde(default)]
    pub closes_at_ms: Option<i64>,
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
    /// Players the owner removed and has not let back in (their invite does not work), most
    /// recently removed first. Filled only for the owner; empty for everyone else.
    pub removed_players: Vec<Player>,
    /// When the current invite expires (unix milliseconds), if there is one. The token itself is
    /// known only when it was just made.
    pub invite_expires_at_ms: Option<i64>,
}

/// A player of a room (admitted, or removed by the owner).
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

/// What an invite link shows before anyone signs in: what the holder is invited to. A link is a
/// bearer invitation to this game, so its holder may see the game's name, its host's display name,
/// how many seats are taken, the starting life and when the link expires — and nothing else (not
/// who the other players are, nor the room's channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvitePreview {
    /// The game's name.
    pub name: String,
    /// The host's display name.
    pub host: String,
    /// Seats taken (the host's included).
    pub seats_taken: u32,
    /// Seats in all ([`MAX_PLAYERS`]).
    pub seats: u32,
    /// The life each player starts with.
    pub starting_life: i32,
    /// When the link stops working, unix milliseconds.
    pub expires_at_ms: i64,
}

/// What a room page's address points at, for anyone who opens it (signed in or not): the page
/// renders the right thing on the server's first answer, and a game that is over or never was is
/// a 404, not an empty table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomStatus {
    /// A game room that is open.
    Open,
    /// A game room that was closed (by its owner, for idleness, or in Discord).
    Ended,
    /// No game room was ever on this channel.
    Unknown,
    /// One of the embedded simulator's demo voice channels (development only): its live roster.
    DemoChannel,
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
    fn names_with_direction_controls_or_invisible_characters_are_refused() {
        use NameError::{DirectionControl, Invisible};
        let cases: &[(&str, Result<&str, NameError>)] = &[
            ("Friday\u{202E}rednammoC", Err(DirectionControl)), // right-to-left override
            ("\u{202A}Pod", Err(DirectionControl)),             // left-to-right embedding
            ("Pod\u{202C}", Err(DirectionControl)),             // pop directional formatting
            ("a\u{200E}b", Err(DirectionControl)),              // left-to-right mark
            ("a\u{200F}b", Err(DirectionControl)),              // right-to-left mark
            ("a\u{061C}b", Err(DirectionControl)),              // Arabic letter mark
            ("a\u{2066}b\u{2069}", Err(DirectionControl)),      // isolates
            ("a\u{2068}b", Err(DirectionControl)),              // first strong isolate
            ("a\u{200B}b", Err(Invisible)),                     // zero-width space
            ("a\u{200C}b", Err(Invisible)),                     // zero-width non-joiner
            ("a\u{200D}b", Err(Invisible)),                     // zero-width joiner
            ("a\u{2060}b", Err(Invisible)),                     // word joiner
            ("a\u{2064}b", Err(Invisible)),                     // invisible plus
            ("\u{FEFF}Pod", Err(Invisible)),                    // byte order mark
            ("Po\u{00AD}d", Err(Invisible)),                    // soft hyphen
            ("a\u{180E}b", Err(Invisible)),                     // Mongolian vowel separator
            ("a\u{034F}b", Err(Invisible)),                     // combining grapheme joiner
            ("a\u{3164}b", Err(Invisible)),                     // Hangul filler
            ("a\u{E0041}b", Err(Invisible)),                    // tag character
            ("\u{200B}", Err(Invisible)),                       // invisible only: not "empty"
            // Names in right-to-left scripts, accents and emoji stay welcome.
            ("ליל קסמים", Ok("ליל קסמים")),
            ("سحر الجمعة", Ok("سحر الجمعة")),
            ("Café Commander ❤\u{FE0F} 🐉", Ok("Café Commander ❤\u{FE0F} 🐉")),
        ];
        for (name, expected) in cases {
            assert_eq!(validate_room_name(name), expected.map(str::to_owned), "{name:?}");
        }
        assert!(
            NameError::DirectionControl.to_string().contains("text direction"),
            "the message says what is wrong"
        );
        assert!(NameError::Invisible.to_string().contains("invisible"));
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
