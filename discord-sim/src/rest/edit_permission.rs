//! `PUT /api/v10/channels/{channel.id}/permissions/{overwrite.id}` —
//! <https://discord.com/developers/docs/resources/channel#edit-channel-permissions>
//!
//! Answers 204 and emits `CHANNEL_UPDATE`. `DELETE` on the same path removes the overwrite
//! (<https://discord.com/developers/docs/resources/channel#delete-channel-permission>).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::create_channel::{Bits, bits};
use super::{Bot, RestError, parse_body, require};
use crate::core::Core;
use crate::id::Snowflake;
use crate::world::{MANAGE_ROLES, Overwrite};

#[derive(Deserialize)]
struct EditPermission {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    allow: Option<Bits>,
    #[serde(default)]
    deny: Option<Bits>,
}

pub(crate) async fn put(
    _bot: Bot,
    State(core): State<Arc<Core>>,
    Path((channel, target)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, RestError> {
    let channel = Snowflake::parse(&channel).ok_or(RestError::UnknownChannel)?;
    let target = Snowflake::parse(&target).ok_or(RestError::InvalidForm("id"))?;
    let request: EditPermission = parse_body(&body)?;
    if request.kind > 1 {
        return Err(RestError::InvalidForm("type"));
    }
    let overwrite = Overwrite {
        id: target,
        kind: request.kind,
        allow: bits(request.allow.as_ref(), "allow")?,
        deny: bits(request.deny.as_ref(), "deny")?,
    };
    core.change(|world| {
        require(world, channel, MANAGE_ROLES)?;
        if !world.bot_may_set_overwrite(overwrite.allow, overwrite.deny) {
            return Err(RestError::MissingPermissions);
        }
        let dispatches = world.set_overwrite(channel, overwrite)?;
        Ok::<_, RestError>(((), dispatches))
    })?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn delete(
    _bot: Bot,
    State(core): State<Arc<Core>>,
    Path((channel, target)): Path<(String, String)>,
) -> Result<StatusCode, RestError> {
    let channel = Snowflake::parse(&channel).ok_or(RestError::UnknownChannel)?;
    let target = Snowflake::parse(&target).ok_or(RestError::InvalidForm("id"))?;
    core.change(|world| {
        require(world, channel, MANAGE_ROLES)?;
        let dispatches = world.remove_overwrite(channel, target)?;
        Ok::<_, RestError>(((), dispatches))
    })?;
    Ok(StatusCode::NO_CONTENT)
}
