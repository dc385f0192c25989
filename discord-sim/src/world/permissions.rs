//! Channel visibility for the bot, computed as Discord does: guild permissions, then the
//! `@everyone` overwrite, then the bot's member overwrite. Channel events only reach a session
//! whose user can see the channel, so a private channel must allow the bot explicitly.

use super::{Channel, World};

/// `ADMINISTRATOR`: sees everything, ignores overwrites.
pub const ADMINISTRATOR: u64 = 1 << 3;
/// `VIEW_CHANNEL`.
pub const VIEW_CHANNEL: u64 = 1 << 10;
/// `CREATE_INSTANT_INVITE`.
pub const CREATE_INSTANT_INVITE: u64 = 1;
/// `MANAGE_CHANNELS`.
pub const MANAGE_CHANNELS: u64 = 1 << 4;
/// `CONNECT`.
pub const CONNECT: u64 = 1 << 20;
/// `MOVE_MEMBERS`.
pub const MOVE_MEMBERS: u64 = 1 << 24;
/// `MANAGE_ROLES` (in overwrites: "manage permissions").
pub const MANAGE_ROLES: u64 = 1 << 28;
/// `@everyone`'s permissions in the reference example (includes `VIEW_CHANNEL` and `CONNECT`).
pub const EVERYONE_PERMISSIONS: u64 = 1_071_698_660_929;
/// The bot's role permissions by default: `CREATE_INSTANT_INVITE`, `MANAGE_CHANNELS`,
/// `VIEW_CHANNEL`, `CONNECT`, `MOVE_MEMBERS`, `MANAGE_ROLES` (no `ADMINISTRATOR`).
pub const DEFAULT_BOT_PERMISSIONS: u64 = 1 | 16 | 1024 | 1_048_576 | 16_777_216 | 268_435_456;

impl World {
    /// The bot's guild-level permissions (`@everyone` plus its own role).
    pub fn bot_guild_permissions(&self) -> u64 {
        EVERYONE_PERMISSIONS | self.bot_permissions
    }

    /// Whether the bot may write an overwrite with these bits: only permissions it has itself,
    /// and never `MANAGE_ROLES`, unless it is an administrator (Discord answers 50013).
    pub fn bot_may_set_overwrite(&self, allow: u64, deny: u64) -> bool {
        let own = self.bot_guild_permissions();
        own & ADMINISTRATOR != 0 || ((allow | deny) & !own == 0 && allow & MANAGE_ROLES == 0)
    }

    /// The bot's effective permissions in `channel`.
    pub fn bot_permissions_in(&self, channel: &Channel) -> u64 {
        let base = self.bot_guild_permissions();
        if base & ADMINISTRATOR != 0 {
            return u64::MAX;
        }
        let mut permissions = base;
        let everyone = channel
            .overwrites
            .iter()
            .find(|o| o.kind == 0 && o.id == self.guild_id);
        if let Some(overwrite) = everyone {
            permissions = (permissions & !overwrite.deny) | overwrite.allow;
        }
        let member = channel
            .overwrites
            .iter()
            .find(|o| o.kind == 1 && o.id == self.bot.id);
        if let Some(overwrite) = member {
            permissions = (permissions & !overwrite.deny) | overwrite.allow;
        }
        permissions
    }

    /// Whether channel events about `channel` reach the bot's sessions.
    pub fn bot_can_view(&self, channel: &Channel) -> bool {
        self.bot_permissions_in(channel) & VIEW_CHANNEL != 0
    }
}
