//! REST `/api/v10`: the endpoints the product calls, one per file under `rest/`, sharing Discord's
//! error bodies, bot authentication and the rate-limit/fault layer.

mod add_member;
mod auth;
mod create_channel;
mod create_invite;
mod create_message;
mod create_reaction;
mod delete_channel;
mod edit_permission;
mod error;
mod gateway_bot;
mod get_channel;
mod get_member;
mod guild_channels;
mod limits;
mod modify_member;
mod users_me;
mod users_me_guilds;
mod voice_state;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post, put};

pub(crate) use self::auth::{Bot, Caller};
pub(crate) use self::error::RestError;
use crate::core::Core;

/// The `/api/v10` router (nested by the caller), with the fault and rate-limit layer.
pub(crate) fn router(core: Arc<Core>) -> Router<Arc<Core>> {
    Router::new()
        .route("/gateway/bot", get(gateway_bot::get))
        .route("/users/@me", get(users_me::get))
        .route("/users/@me/guilds", get(users_me_guilds::get))
        .route(
            "/guilds/{guild}/channels",
            get(guild_channels::get).post(create_channel::post),
        )
        .route(
            "/channels/{channel}",
            get(get_channel::get).delete(delete_channel::delete),
        )
        .route(
            "/channels/{channel}/permissions/{overwrite}",
            put(edit_permission::put).delete(edit_permission::delete),
        )
        .route("/channels/{channel}/invites", post(create_invite::post))
        .route("/channels/{channel}/messages", post(create_message::post))
        .route(
            "/channels/{channel}/messages/{message}/reactions/{emoji}/@me",
            put(create_reaction::put),
        )
        .route(
            "/guilds/{guild}/members/{user}",
            get(get_member::get)
                .put(add_member::put)
                .patch(modify_member::patch),
        )
        .route("/guilds/{guild}/voice-states/{user}", get(voice_state::get))
        .merge(crate::oauth::api_router())
        .fallback(|| async { RestError::NotFound })
        .method_not_allowed_fallback(|| async { RestError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(core, limits::layer))
}

/// Parses a JSON request body; anything undecodable is Discord's 50035.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, RestError> {
    serde_json::from_slice(body).map_err(|_| RestError::InvalidForm("body"))
}

/// Checks a `{guild}` path segment against the one simulated guild.
pub(crate) fn check_guild(core: &Core, guild: &str) -> Result<(), RestError> {
    let guild_id = core.lock().world.guild_id;
    match crate::id::Snowflake::parse(guild) {
        Some(id) if id == guild_id => Ok(()),
        _ => Err(RestError::UnknownGuild),
    }
}

/// Checks the bot may act on a channel: 404 10003 if unknown, 403 50001 if it cannot see it
/// (no `VIEW_CHANNEL` denies everything else), 403 50013 if it lacks one of `needed`.
pub(crate) fn require(
    world: &crate::world::World,
    channel: crate::id::Snowflake,
    needed: u64,
) -> Result<(), RestError> {
    let found = world.channels.get(&channel).ok_or(RestError::UnknownChannel)?;
    if !world.bot_can_view(found) {
        return Err(RestError::MissingAccess);
    }
    if world.bot_permissions_in(found) & needed != needed {
        return Err(RestError::MissingPermissions);
    }
    Ok(())
}
