//! Who is calling: the bot (`Authorization: Bot <token>`) or a user (`Bearer <access token>`).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::RestError;
use crate::core::Core;
use crate::id::Snowflake;

/// The caller of a bot-only endpoint; rejects anything but the current bot token with 401.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bot;

/// The caller of an endpoint open to bots and OAuth2 users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// The bot.
    Bot,
    /// A user through an OAuth2 access token, with its scopes.
    User {
        /// The user.
        id: Snowflake,
        /// Granted scopes.
        scopes: Vec<String>,
    },
}

fn authorization(parts: &Parts) -> Option<&str> {
    parts.headers.get(AUTHORIZATION)?.to_str().ok()
}

impl FromRequestParts<Arc<Core>> for Caller {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, core: &Arc<Core>) -> Result<Self, RestError> {
        let header = authorization(parts).ok_or(RestError::Unauthorized)?;
        if let Some(token) = header.strip_prefix("Bearer ") {
            let state = core.lock();
            let (id, scopes) = state.oauth.user_of(token.trim()).ok_or(RestError::Unauthorized)?;
            return Ok(Self::User { id, scopes });
        }
        let token = header.strip_prefix("Bot ").ok_or(RestError::Unauthorized)?;
        if Core::bot_token_ok(&core.lock(), token.trim()) {
            Ok(Self::Bot)
        } else {
            Err(RestError::Unauthorized)
        }
    }
}

impl FromRequestParts<Arc<Core>> for Bot {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, core: &Arc<Core>) -> Result<Self, RestError> {
        match Caller::from_request_parts(parts, core).await? {
            Caller::Bot => Ok(Self),
            Caller::User { .. } => Err(RestError::MissingAccess),
        }
    }
}
