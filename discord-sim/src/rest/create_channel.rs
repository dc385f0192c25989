//! `POST /api/v10/guilds/{guild.id}/channels` —
//! <https://discord.com/developers/docs/resources/guild#create-guild-channel>
//!
//! Answers 201 with the channel and emits `CHANNEL_CREATE`. Overwrite `allow`/`deny` may be
//! strings, numbers, null or missing (Discord defaults them to `"0"`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::{Bot, RestError, check_guild, parse_body};
use crate::core::Core;
use crate::id::Snowflake;
use crate::wire;
use crate::world::{ADMINISTRATOR, CHANNEL_TEXT, CHANNEL_VOICE, Channel, MANAGE_CHANNELS, Overwrite};

/// Discord's cap on channels per guild.
const MAX_CHANNELS: usize = 500;

#[derive(Deserialize)]
struct CreateChannel {
    name: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<u8>,
    #[serde(default)]
    user_limit: Option<u32>,
    #[serde(default)]
    bitrate: Option<u32>,
    #[serde(default)]
    position: Option<u32>,
    #[serde(default)]
    parent_id: Option<Snowflake>,
    #[serde(default)]
    permission_overwrites: Option<Vec<OverwriteBody>>,
}

/// A permission overwrite as clients send it.
#[derive(Deserialize)]
pub(crate) struct OverwriteBody {
    pub(crate) id: Snowflake,
    #[serde(rename = "type")]
    pub(crate) kind: u8,
    #[serde(default)]
    pub(crate) allow: Option<Bits>,
    #[serde(default)]
    pub(crate) deny: Option<Bits>,
}

/// Permission bits sent as a string (Discord's form) or a number.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Bits {
    Text(String),
    Number(u64),
}

impl Bits {
    /// The bits; `None` for a string that is not a number.
    pub(crate) fn value(&self) -> Option<u64> {
        match self {
            Self::Text(text) => text.parse().ok(),
            Self::Number(number) => Some(*number),
        }
    }
}

/// Reads optional bits, 0 when absent; a non-numeric string is a form error.
pub(crate) fn bits(value: Option<&Bits>, field: &'static str) -> Result<u64, RestError> {
    value.map_or(Ok(0), |bits| bits.value().ok_or(RestError::InvalidForm(field)))
}

pub(crate) async fn post(
    _bot: Bot,
    State(core): State<Arc<Core>>,
    Path(guild): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, RestError> {
    check_guild(&core, &guild)?;
    let request: CreateChannel = parse_body(&body)?;
    let name = request
        .name
        .filter(|name| !name.is_empty() && name.chars().count() <= 100)
        .ok_or(RestError::InvalidForm("name"))?;
    let kind = request.kind.unwrap_or(CHANNEL_TEXT);
    let mut overwrites = Vec::new();
    for overwrite in request.permission_overwrites.unwrap_or_default() {
        if overwrite.kind > 1 {
            return Err(RestError::InvalidForm("permission_overwrites"));
        }
        overwrites.push(Overwrite {
            id: overwrite.id,
            kind: overwrite.kind,
            allow: bits(overwrite.allow.as_ref(), "allow")?,
            deny: bits(overwrite.deny.as_ref(), "deny")?,
        });
    }
    let voice = kind == CHANNEL_VOICE;
    let channel = Channel {
        // Replaced with a fresh id by `create_channel`.
        id: crate::world::GUILD_ID,
        kind,
        name,
        position: request.position.unwrap_or(0),
        parent_id: request.parent_id,
        overwrites,
        bitrate: if voice {
            request.bitrate.unwrap_or(64_000)
        } else {
            0
        },
        user_limit: request.user_limit.unwrap_or(0),
    };
    let body = core.change::<_, RestError>(|world| {
        let own = world.bot_guild_permissions();
        if own & (MANAGE_CHANNELS | ADMINISTRATOR) == 0
            || !channel
                .overwrites
                .iter()
                .all(|o| world.bot_may_set_overwrite(o.allow, o.deny))
        {
            return Err(RestError::MissingPermissions);
        }
        if world.channels.len() >= MAX_CHANNELS {
            return Err(RestError::TooManyChannels);
        }
        let (channel, dispatches) = world.create_channel(channel);
        Ok((wire::channel(world, &channel), dispatches))
    })?;
    Ok((StatusCode::CREATED, [(CONTENT_TYPE, "application/json")], body))
}
