//! `PUT /api/v10/guilds/{guild.id}/members/{user.id}` —
//! <https://discord.com/developers/docs/resources/guild#add-guild-member>
//!
//! Needs the user's OAuth2 access token with `guilds.join` in the body (sent with the bot token).
//! 201 with the member when added, 204 when they already were one.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Bot, RestError, check_guild, parse_body};
use crate::core::Core;
use crate::id::Snowflake;
use crate::wire;
use crate::world::World;

#[derive(Deserialize)]
struct AddMember {
    access_token: Option<String>,
}

pub(crate) async fn put(
    _bot: Bot,
    State(core): State<Arc<Core>>,
    Path((guild, user)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, RestError> {
    check_guild(&core, &guild)?;
    let user = Snowflake::parse(&user).ok_or(RestError::UnknownUser)?;
    let request: AddMember = parse_body(&body)?;
    let token = request
        .access_token
        .ok_or(RestError::InvalidForm("access_token"))?;
    let mut state = core.lock();
    let granted = state.oauth.user_of(&token);
    let allowed =
        granted.is_some_and(|(id, scopes)| id == user && scopes.iter().any(|scope| scope == "guilds.join"));
    if !allowed {
        return Err(RestError::InvalidForm("access_token"));
    }
    if state.world.members.contains_key(&user) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let dispatches = state.world.add_member(user, World::now());
    state.publish(&dispatches);
    let body = wire::member(&state.world, user, false).ok_or(RestError::UnknownUser)?;
    Ok((StatusCode::CREATED, [(CONTENT_TYPE, "application/json")], body).into_response())
}
