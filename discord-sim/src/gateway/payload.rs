//! READY and `GUILD_CREATE` `d` bodies, built from the world at identify time.
//!
//! Shapes follow `ready.json` and `guild_create.json`; the members list holds only the bot and
//! users in voice, as Discord sends without `GUILD_PRESENCES`.

use serde::Serialize;

use crate::id::Snowflake;
use crate::wire::{self, BotUserWire, ChannelWire, MemberWire, VoiceStateWire};
use crate::world::{EVERYONE_PERMISSIONS, INTENT_GUILD_VOICE_STATES, World};

#[derive(Serialize)]
struct UnavailableGuild {
    id: Snowflake,
    unavailable: bool,
}

#[derive(Serialize)]
struct Application {
    id: Snowflake,
    flags: u64,
}

#[derive(Serialize)]
struct Ready<'a> {
    v: u8,
    user: BotUserWire<'a>,
    guilds: Vec<UnavailableGuild>,
    session_id: &'a str,
    resume_gateway_url: &'a str,
    shard: [u64; 2],
    application: Application,
}

/// READY's `d` for a new session; `with_guild` is false for a shard the guild is not on.
pub(crate) fn ready(
    world: &World,
    session_id: &str,
    resume_url: &str,
    shard: [u64; 2],
    with_guild: bool,
) -> String {
    wire::to_json(&Ready {
        v: 10,
        user: BotUserWire::new(&world.bot),
        guilds: with_guild
            .then_some(UnavailableGuild {
                id: world.guild_id,
                unavailable: true,
            })
            .into_iter()
            .collect(),
        session_id,
        resume_gateway_url: resume_url,
        shard,
        application: Application {
            id: world.bot.id,
            flags: 0,
        },
    })
}

// Field names are Discord's wire names.
#[allow(clippy::struct_field_names)]
#[derive(Serialize)]
struct RoleColors {
    primary_color: u32,
    secondary_color: Option<u32>,
    tertiary_color: Option<u32>,
}

#[derive(Serialize)]
struct Role {
    id: Snowflake,
    name: &'static str,
    color: u32,
    colors: RoleColors,
    hoist: bool,
    icon: Option<()>,
    unicode_emoji: Option<()>,
    position: u32,
    permissions: String,
    managed: bool,
    mentionable: bool,
    flags: u64,
}

// Field names are Discord's wire names.
#[allow(clippy::struct_field_names)]
#[derive(Serialize)]
struct Guild<'a> {
    id: Snowflake,
    name: &'a str,
    icon: Option<()>,
    splash: Option<()>,
    discovery_splash: Option<()>,
    banner: Option<()>,
    description: Option<()>,
    owner_id: Snowflake,
    application_id: Option<()>,
    afk_channel_id: Option<()>,
    afk_timeout: u32,
    verification_level: u8,
    default_message_notifications: u8,
    explicit_content_filter: u8,
    mfa_level: u8,
    nsfw_level: u8,
    features: [(); 0],
    roles: [Role; 1],
    emojis: [(); 0],
    stickers: [(); 0],
    system_channel_id: Option<()>,
    system_channel_flags: u64,
    rules_channel_id: Option<()>,
    public_updates_channel_id: Option<()>,
    safety_alerts_channel_id: Option<()>,
    vanity_url_code: Option<()>,
    premium_tier: u8,
    premium_subscription_count: u32,
    premium_progress_bar_enabled: bool,
    preferred_locale: &'static str,
    joined_at: &'a str,
    large: bool,
    unavailable: bool,
    member_count: usize,
    channels: Vec<ChannelWire<'a>>,
    threads: [(); 0],
    members: Vec<MemberWire<'a>>,
    voice_states: Vec<VoiceStateWire<'a>>,
    presences: [(); 0],
    stage_instances: [(); 0],
    guild_scheduled_events: [(); 0],
    soundboard_sounds: [(); 0],
}

/// `GUILD_CREATE`'s `d`. Voice states (and the voice members) only with `GUILD_VOICE_STATES`.
pub(crate) fn guild_create(world: &World, intents: u64) -> String {
    let with_voice = intents & INTENT_GUILD_VOICE_STATES != 0;
    let voice_states: Vec<VoiceStateWire<'_>> = if with_voice {
        world
            .voice
            .values()
            .filter_map(|state| {
                let member = world.members.get(&state.user_id)?;
                Some(VoiceStateWire::new(
                    state,
                    Some(state.channel_id),
                    member,
                    None,
                    None,
                ))
            })
            .collect()
    } else {
        Vec::new()
    };
    let members = world
        .members
        .values()
        .filter(|m| m.user_id == world.bot.id || (with_voice && world.voice.contains_key(&m.user_id)))
        .filter_map(|m| Some(MemberWire::new(m, world.users.get(&m.user_id)?, None)))
        .collect();
    let bot_joined = world
        .members
        .get(&world.bot.id)
        .map_or("2026-01-01T00:00:00.000000+00:00", |m| m.joined_at.as_str());
    wire::to_json(&Guild {
        id: world.guild_id,
        name: &world.guild_name,
        icon: None,
        splash: None,
        discovery_splash: None,
        banner: None,
        description: None,
        owner_id: world.owner_id,
        application_id: None,
        afk_channel_id: None,
        afk_timeout: 300,
        verification_level: 0,
        default_message_notifications: 0,
        explicit_content_filter: 0,
        mfa_level: 0,
        nsfw_level: 0,
        features: [],
        roles: [Role {
            id: world.guild_id,
            name: "@everyone",
            color: 0,
            colors: RoleColors {
                primary_color: 0,
                secondary_color: None,
                tertiary_color: None,
            },
            hoist: false,
            icon: None,
            unicode_emoji: None,
            position: 0,
            permissions: EVERYONE_PERMISSIONS.to_string(),
            managed: false,
            mentionable: false,
            flags: 0,
        }],
        emojis: [],
        stickers: [],
        system_channel_id: None,
        system_channel_flags: 0,
        rules_channel_id: None,
        public_updates_channel_id: None,
        safety_alerts_channel_id: None,
        vanity_url_code: None,
        premium_tier: 0,
        premium_subscription_count: 0,
        premium_progress_bar_enabled: false,
        preferred_locale: "en-US",
        joined_at: bot_joined,
        large: false,
        unavailable: false,
        member_count: world.members.len(),
        // Inside GUILD_CREATE channels carry no guild_id; twilight fills it in.
        channels: world
            .channels
            .values()
            .map(|c| ChannelWire::new(c, None))
            .collect(),
        threads: [],
        members,
        voice_states,
        presences: [],
        stage_instances: [],
        guild_scheduled_events: [],
        soundboard_sounds: [],
    })
}
