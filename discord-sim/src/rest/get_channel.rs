//! `GET /api/v10/channels/{channel.id}` —
//! <https://discord.com/developers/docs/resources/channel#get-channel>
//!
//! The channel object, as `CHANNEL_CREATE` carries it. 404 10003 for an unknown channel, 403 50001
//! for one the bot cannot see.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::{Bot, RestError, require};
use crate::core::Core;
use crate::id::Snowflake;
use crate::wire;

pub(crate) async fn get(
    _bot: Bot,
    State(core): State<Arc<Core>>,
    Path(channel): Path<String>,
) -> Result<impl IntoResponse, RestError> {
    let channel = Snowflake::parse(&channel).ok_or(RestError::UnknownChannel)?;
    let state = core.lock();
    let world = &state.world;
    require(world, channel, 0)?;
    let found = world.channels.get(&channel).ok_or(RestError::UnknownChannel)?;
    Ok(([(CONTENT_TYPE, "application/json")], wire::channel(world, found)))
}
