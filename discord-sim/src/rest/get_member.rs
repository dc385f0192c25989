//! `GET /api/v10/guilds/{guild.id}/members/{user.id}` —
//! <https://discord.com/developers/docs/resources/guild#get-guild-member>

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::{Bot, RestError, check_guild};
use crate::core::Core;
use crate::id::Snowflake;
use crate::wire;

pub(crate) async fn get(
    _bot: Bot,
    State(core): State<Arc<Core>>,
    Path((guild, user)): Path<(String, String)>,
) -> Result<impl IntoResponse, RestError> {
    check_guild(&core, &guild)?;
    let user = Snowflake::parse(&user).ok_or(RestError::UnknownMember)?;
    let body = wire::member(&core.lock().world, user, false).ok_or(RestError::UnknownMember)?;
    Ok(([(CONTENT_TYPE, "application/json")], body))
}
