//! `GET /api/v10/guilds/{guild.id}/voice-states/{user.id}` (and `@me`) —
//! <https://discord.com/developers/docs/resources/voice#get-user-voice-state>
//!
//! 404 10065 when the user is not connected.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::{Bot, RestError, check_guild};
use crate::core::Core;
use crate::id::Snowflake;

pub(crate) async fn get(
    _bot: Bot,
    State(core): State<Arc<Core>>,
    Path((guild, user)): Path<(String, String)>,
) -> Result<impl IntoResponse, RestError> {
    check_guild(&core, &guild)?;
    let state = core.lock();
    let user = if user == "@me" {
        state.world.bot.id
    } else {
        Snowflake::parse(&user).ok_or(RestError::UnknownVoiceState)?
    };
    let body = state
        .world
        .voice_state_json(user, true)
        .ok_or(RestError::UnknownVoiceState)?;
    Ok(([(CONTENT_TYPE, "application/json")], body))
}
