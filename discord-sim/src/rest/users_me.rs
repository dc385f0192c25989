//! `GET /api/v10/users/@me` — <https://discord.com/developers/docs/resources/user#get-current-user>
//!
//! With the bot token it answers the bot (a twilight `CurrentUser`); with a user's OAuth2 Bearer
//! token (scope `identify`) it answers that user, shaped like `rest_users_me_bearer.json`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::{Caller, RestError};
use crate::core::Core;
use crate::wire::{self, BotUserWire, OAuthUserWire};

pub(crate) async fn get(
    caller: Caller,
    State(core): State<Arc<Core>>,
) -> Result<impl IntoResponse, RestError> {
    let state = core.lock();
    let body = match caller {
        Caller::Bot => wire::to_json(&BotUserWire::new(&state.world.bot)),
        Caller::User { id, scopes } => {
            if !scopes.iter().any(|scope| scope == "identify") {
                return Err(RestError::Unauthorized);
            }
            let user = state.world.users.get(&id).ok_or(RestError::UnknownUser)?;
            wire::to_json(&OAuthUserWire::new(user))
        }
    };
    Ok(([(CONTENT_TYPE, "application/json")], body))
}
