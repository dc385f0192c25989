//! `GET /api/v10/guilds/{guild.id}/channels` —
//! <https://discord.com/developers/docs/resources/guild#get-guild-channels>
//!
//! Every channel of the guild (threads excluded, which the simulator has none of), each as
//! `GET /channels/{id}` answers it, in position order. Discord documents no order; sorting keeps
//! the answer stable.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::{Bot, RestError, check_guild};
use crate::core::Core;
use crate::wire;

pub(crate) async fn get(
    _bot: Bot,
    State(core): State<Arc<Core>>,
    Path(guild): Path<String>,
) -> Result<impl IntoResponse, RestError> {
    check_guild(&core, &guild)?;
    let state = core.lock();
    let world = &state.world;
    let mut channels: Vec<_> = world.channels.values().collect();
    channels.sort_by_key(|channel| (channel.position, channel.id));
    let body = format!(
        "[{}]",
        channels
            .into_iter()
            .map(|channel| wire::channel(world, channel))
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok(([(CONTENT_TYPE, "application/json")], body))
}
