//! `GET /api/v10/users/@me/guilds` —
//! <https://discord.com/developers/docs/resources/user#get-current-user-guilds>
//!
//! With a user's Bearer token (scope `guilds`) or the bot token: the simulated guild when the
//! caller is a member, else an empty list.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::Serialize;

use super::{Caller, RestError};
use crate::core::Core;
use crate::id::Snowflake;
use crate::wire;

#[derive(Serialize)]
struct PartialGuild<'a> {
    id: Snowflake,
    name: &'a str,
    icon: Option<()>,
    banner: Option<()>,
    owner: bool,
    permissions: String,
    features: [(); 0],
}

pub(crate) async fn get(
    caller: Caller,
    State(core): State<Arc<Core>>,
) -> Result<impl IntoResponse, RestError> {
    let state = core.lock();
    let world = &state.world;
    let user = match caller {
        Caller::Bot => world.bot.id,
        Caller::User { id, scopes } => {
            if !scopes.iter().any(|scope| scope == "guilds") {
                return Err(RestError::Unauthorized);
            }
            id
        }
    };
    let guilds: Vec<PartialGuild<'_>> = world
        .members
        .contains_key(&user)
        .then(|| PartialGuild {
            id: world.guild_id,
            name: &world.guild_name,
            icon: None,
            banner: None,
            owner: world.owner_id == user,
            permissions: crate::world::EVERYONE_PERMISSIONS.to_string(),
            features: [],
        })
        .into_iter()
        .collect();
    Ok(([(CONTENT_TYPE, "application/json")], wire::to_json(&guilds)))
}
