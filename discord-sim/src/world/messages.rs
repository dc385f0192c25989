//! Messages the bot posted, so that a later reaction can find them (Discord answers 10008 for a
//! message it does not know). Only the bot posts through the REST API the product uses, and the
//! product's gateway intents (129) carry no message events, so none are dispatched.

use super::World;
use crate::id::Snowflake;
use crate::timestamp;

/// Messages kept at most; the oldest are forgotten first (the simulator is long-running in the
/// embedded default, and nothing reads old messages).
pub const MAX_MESSAGES: usize = 10_000;

/// A message in a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The message's id.
    pub id: Snowflake,
    /// Its channel.
    pub channel_id: Snowflake,
    /// Who wrote it (the bot).
    pub author_id: Snowflake,
    /// Its text.
    pub content: String,
    /// When it was posted, in Discord's timestamp form.
    pub timestamp: String,
    /// Emoji the bot reacted with, in the order it did.
    pub reactions: Vec<String>,
}

impl World {
    /// Posts `content` in `channel_id` as the bot and returns the message. The caller has checked
    /// the channel and the bot's permissions.
    pub fn post_message(&mut self, channel_id: Snowflake, content: String) -> Message {
        let message = Message {
            id: Self::fresh_id(),
            channel_id,
            author_id: self.bot.id,
            content,
            timestamp: timestamp::now(),
            reactions: Vec::new(),
        };
        while self.messages.len() >= MAX_MESSAGES {
            self.messages.pop_first();
        }
        self.messages.insert(message.id, message.clone());
        message
    }

    /// Records the bot's reaction; reacting twice with one emoji changes nothing, as on Discord.
    /// `false` if the message is not in `channel_id`.
    pub fn react(&mut self, channel_id: Snowflake, message_id: Snowflake, emoji: &str) -> bool {
        match self.messages.get_mut(&message_id) {
            Some(message) if message.channel_id == channel_id => {
                if !message.reactions.iter().any(|known| known == emoji) {
                    message.reactions.push(emoji.to_owned());
                }
                true
            }
            _ => false,
        }
    }
}
