//! The demo guild every standalone run and most tests start from: a category, a text channel, two
//! voice channels and a few simulated people, one of them already in voice.

use super::{CHANNEL_CATEGORY, CHANNEL_TEXT, CHANNEL_VOICE, Channel, World};
use crate::id::Snowflake;

/// Ids of the demo world's pieces, so tests and the CLI can refer to them by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoIds {
    /// The "Voice" category.
    pub category: Snowflake,
    /// The "general" text channel.
    pub general: Snowflake,
    /// The "Lobby" voice channel.
    pub lobby: Snowflake,
    /// The "Games" voice channel.
    pub games: Snowflake,
    /// alice, in the Lobby from the start.
    pub alice: Snowflake,
    /// bob, a member not in voice.
    pub bob: Snowflake,
    /// carol, a member not in voice.
    pub carol: Snowflake,
}

impl World {
    /// The demo world, with its ids.
    pub fn demo(bot_name: &str) -> (Self, DemoIds) {
        let mut world = Self::new(bot_name);
        // Fixed ids, so that the CLI and docs can name them; everything made later gets a fresh
        // id from the clock (`World::fresh_id`), far from these.
        let channel_id = |n: u64| Snowflake::constant(4_000_000_000_000_000_000 + n);
        let user_id = |n: u64| Snowflake::constant(5_000_000_000_000_000_000 + n);
        let template =
            |id: Snowflake, kind: u8, name: &str, position: u32, parent: Option<Snowflake>| Channel {
                id,
                kind,
                name: name.to_owned(),
                position,
                parent_id: parent,
                overwrites: Vec::new(),
                bitrate: if kind == CHANNEL_VOICE { 64_000 } else { 0 },
                user_limit: 0,
            };
        let (category, _) =
            world.create_channel_as(template(channel_id(1), CHANNEL_CATEGORY, "Voice", 0, None));
        let (general, _) = world.create_channel_as(template(channel_id(2), CHANNEL_TEXT, "general", 0, None));
        let (lobby, _) = world.create_channel_as(template(
            channel_id(3),
            CHANNEL_VOICE,
            "Lobby",
            0,
            Some(category.id),
        ));
        let (games, _) = world.create_channel_as(template(
            channel_id(4),
            CHANNEL_VOICE,
            "Games",
            1,
            Some(category.id),
        ));
        let mut next_person = 0;
        let mut person = |name: &str, display: &str| {
            next_person += 1;
            let id = world.create_user_as(user_id(next_person), name, Some(display));
            world.add_member(id, "2025-06-01T12:00:00.000000+00:00".to_owned());
            id
        };
        let alice = person("alice", "Alice");
        let bob = person("bob", "Bob");
        let carol = person("carol", "Carol");
        // A member already in voice makes GUILD_CREATE's voice_states non-empty from the start.
        let _ = world.join_voice(alice, lobby.id);
        let ids = DemoIds {
            category: category.id,
            general: general.id,
            lobby: lobby.id,
            games: games.id,
            alice,
            bob,
            carol,
        };
        (world, ids)
    }
}
