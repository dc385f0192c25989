//! `POST /api/v10/channels/{channel.id}/invites` —
//! <https://discord.com/developers/docs/resources/channel#create-channel-invite>
//!
//! Answers 200 with an invite plus metadata, shaped like `rest_invite.json`. The body must be
//! at least `{}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use super::{Bot, RestError, parse_body, require};
use crate::core::Core;
use crate::id::Snowflake;
use crate::timestamp;
use crate::wire::{self, UserWire};
use crate::world::CREATE_INSTANT_INVITE;

#[derive(Deserialize)]
struct CreateInvite {
    #[serde(default)]
    max_age: Option<u64>,
    #[serde(default)]
    max_uses: Option<u32>,
    #[serde(default)]
    temporary: Option<bool>,
}

#[derive(Serialize)]
struct InviteGuild<'a> {
    id: Snowflake,
    name: &'a str,
    splash: Option<()>,
    banner: Option<()>,
    description: Option<()>,
    icon: Option<()>,
    features: [(); 0],
    verification_level: u8,
    vanity_url_code: Option<()>,
    nsfw_level: u8,
    premium_subscription_count: u32,
}

#[derive(Serialize)]
struct InviteChannel<'a> {
    id: Snowflake,
    name: &'a str,
    #[serde(rename = "type")]
    kind: u8,
}

#[derive(Serialize)]
struct Invite<'a> {
    #[serde(rename = "type")]
    kind: u8,
    code: &'a str,
    guild: InviteGuild<'a>,
    channel: InviteChannel<'a>,
    inviter: UserWire<'a>,
    uses: u32,
    max_uses: u32,
    max_age: u64,
    temporary: bool,
    created_at: &'a str,
    expires_at: Option<&'a str>,
}

pub(crate) async fn post(
    _bot: Bot,
    State(core): State<Arc<Core>>,
    Path(channel): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, RestError> {
    let channel = Snowflake::parse(&channel).ok_or(RestError::UnknownChannel)?;
    let request: CreateInvite = parse_body(&body)?;
    let max_age = request.max_age.unwrap_or(86_400);
    let max_uses = request.max_uses.unwrap_or(0);
    if max_age > 604_800 {
        return Err(RestError::InvalidForm("max_age"));
    }
    if max_uses > 100 {
        return Err(RestError::InvalidForm("max_uses"));
    }
    let state = core.lock();
    let world = &state.world;
    require(world, channel, CREATE_INSTANT_INVITE)?;
    let channel = world.channels.get(&channel).ok_or(RestError::UnknownChannel)?;
    let invite_code: String = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .take(8)
        .collect();
    let now = timestamp::now_micros();
    let created_at = timestamp::format_unix_micros(now);
    let expires_at = (max_age > 0).then(|| timestamp::format_unix_micros(now + max_age * 1_000_000));
    let invite = Invite {
        kind: 0,
        code: &invite_code,
        guild: InviteGuild {
            id: world.guild_id,
            name: &world.guild_name,
            splash: None,
            banner: None,
            description: None,
            icon: None,
            features: [],
            verification_level: 0,
            vanity_url_code: None,
            nsfw_level: 0,
            premium_subscription_count: 0,
        },
        channel: InviteChannel {
            id: channel.id,
            name: &channel.name,
            kind: channel.kind,
        },
        inviter: UserWire::new(&world.bot),
        uses: 0,
        max_uses,
        max_age,
        temporary: request.temporary.unwrap_or(false),
        created_at: &created_at,
        expires_at: expires_at.as_deref(),
    };
    Ok(([(CONTENT_TYPE, "application/json")], wire::to_json(&invite)))
}
