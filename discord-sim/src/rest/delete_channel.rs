//! `DELETE /api/v10/channels/{channel.id}` —
//! <https://discord.com/developers/docs/resources/channel#deleteclose-channel>
//!
//! Members still connected are disconnected first (a `VOICE_STATE_UPDATE` with
//! `channel_id:null` each), then `CHANNEL_DELETE` follows; the order is undocumented.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::{Bot, RestError, require};
use crate::core::Core;
use crate::id::Snowflake;
use crate::wire;
use crate::world::MANAGE_CHANNELS;

pub(crate) async fn delete(
    _bot: Bot,
    State(core): State<Arc<Core>>,
    Path(channel): Path<String>,
) -> Result<impl IntoResponse, RestError> {
    let channel = Snowflake::parse(&channel).ok_or(RestError::UnknownChannel)?;
    let body = core.change(|world| {
        require(world, channel, MANAGE_CHANNELS)?;
        let (channel, dispatches) = world.delete_channel(channel)?;
        Ok::<_, RestError>((wire::channel(world, &channel), dispatches))
    })?;
    Ok(([(CONTENT_TYPE, "application/json")], body))
}
