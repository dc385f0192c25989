//! `PUT /api/v10/channels/{channel.id}/messages/{message.id}/reactions/{emoji}/@me` —
//! <https://discord.com/developers/docs/resources/message#create-reaction>
//!
//! Answers 204 (again 204 for a reaction the bot already made). `{emoji}` is a percent-encoded
//! Unicode emoji or `name:id` for a custom one; the simulated guild has no custom emoji, so those
//! are 400 10014, as is text that is not an emoji. 404 10003 for an unknown channel, 404 10008 for
//! an unknown message, 403 50001 / 50013 without `VIEW_CHANNEL` / `READ_MESSAGE_HISTORY` and
//! `ADD_REACTIONS`. No `MESSAGE_REACTION_ADD` is dispatched (the product has no
//! `GUILD_MESSAGE_REACTIONS` intent).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{Bot, RestError, require};
use crate::core::Core;
use crate::id::Snowflake;

/// `ADD_REACTIONS`.
const ADD_REACTIONS: u64 = 1 << 6;
/// `READ_MESSAGE_HISTORY`.
const READ_MESSAGE_HISTORY: u64 = 1 << 16;

pub(crate) async fn put(
    _bot: Bot,
    State(core): State<Arc<Core>>,
    Path((channel, message, emoji)): Path<(String, String, String)>,
) -> Result<StatusCode, RestError> {
    let channel = Snowflake::parse(&channel).ok_or(RestError::UnknownChannel)?;
    core.change(|world| {
        require(world, channel, 0)?;
        let message = Snowflake::parse(&message)
            .filter(|id| {
                world
                    .messages
                    .get(id)
                    .is_some_and(|found| found.channel_id == channel)
            })
            .ok_or(RestError::UnknownMessage)?;
        if !is_unicode_emoji(&emoji) {
            return Err(RestError::UnknownEmoji);
        }
        require(world, channel, READ_MESSAGE_HISTORY | ADD_REACTIONS)?;
        world.react(channel, message, &emoji);
        Ok::<_, RestError>(((), Vec::new()))
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// Close enough to Discord's check: emoji are short, contain no spaces or `:` (custom emoji),
/// and are made of non-ASCII code points, apart from keycap bases (`#️⃣`, `1️⃣`).
fn is_unicode_emoji(emoji: &str) -> bool {
    let chars = emoji.chars().count();
    (1..=16).contains(&chars)
        && !emoji.is_ascii()
        && emoji
            .chars()
            .all(|c| !c.is_ascii() || matches!(c, '#' | '*' | '0'..='9'))
}

#[cfg(test)]
mod tests {
    use super::is_unicode_emoji;

    #[test]
    fn emoji_are_told_from_text_and_custom_references() {
        for emoji in ["👍", "🏳️‍⚧️", "1️⃣", "❤️"] {
            assert!(is_unicode_emoji(emoji), "{emoji}");
        }
        for text in ["", "abc", "rarity:123", "👍 ", "thumbsup"] {
            assert!(!is_unicode_emoji(text), "{text}");
        }
    }
}
