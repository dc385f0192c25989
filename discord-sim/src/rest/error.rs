//! Discord's JSON error bodies (`{"message","code"}`) with their HTTP statuses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::world::WorldError;

/// A REST failure, rendered as Discord renders it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RestError {
    /// 401, code 0.
    #[error("401: Unauthorized")]
    Unauthorized,
    /// 404, code 0 (no such route).
    #[error("404: Not Found")]
    NotFound,
    /// 405, code 0 (a route that exists, with another method).
    #[error("405: Method Not Allowed")]
    MethodNotAllowed,
    /// 404, 10003.
    #[error("Unknown Channel")]
    UnknownChannel,
    /// 404, 10004.
    #[error("Unknown Guild")]
    UnknownGuild,
    /// 404, 10007.
    #[error("Unknown Member")]
    UnknownMember,
    /// 404, 10008.
    #[error("Unknown Message")]
    UnknownMessage,
    /// 400, 10014.
    #[error("Unknown Emoji")]
    UnknownEmoji,
    /// 400, 50006.
    #[error("Cannot send an empty message")]
    EmptyMessage,
    /// 400, 50008.
    #[error("Cannot send messages in a non-text channel")]
    NonTextChannel,
    /// 404, 10013.
    #[error("Unknown User")]
    UnknownUser,
    /// 404, 10065.
    #[error("Unknown Voice State")]
    UnknownVoiceState,
    /// 400, 40032.
    #[error("Target user is not connected to voice.")]
    NotInVoice,
    /// 400, 30013.
    #[error("Maximum number of guild channels reached (500)")]
    TooManyChannels,
    /// 403, 50001.
    #[error("Missing Access")]
    MissingAccess,
    /// 403, 50013.
    #[error("Missing Permissions")]
    MissingPermissions,
    /// 400, 50035, naming the offending field.
    #[error("Invalid Form Body")]
    InvalidForm(&'static str),
    /// An injected error status (5xx) from a REST fault.
    #[error("injected failure")]
    Injected(StatusCode),
}

impl RestError {
    fn status_and_code(&self) -> (StatusCode, u32) {
        match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, 0),
            Self::NotFound => (StatusCode::NOT_FOUND, 0),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, 0),
            Self::UnknownChannel => (StatusCode::NOT_FOUND, 10_003),
            Self::UnknownGuild => (StatusCode::NOT_FOUND, 10_004),
            Self::UnknownMember => (StatusCode::NOT_FOUND, 10_007),
            Self::UnknownMessage => (StatusCode::NOT_FOUND, 10_008),
            Self::UnknownEmoji => (StatusCode::BAD_REQUEST, 10_014),
            Self::EmptyMessage => (StatusCode::BAD_REQUEST, 50_006),
            Self::NonTextChannel => (StatusCode::BAD_REQUEST, 50_008),
            Self::UnknownUser => (StatusCode::NOT_FOUND, 10_013),
            Self::UnknownVoiceState => (StatusCode::NOT_FOUND, 10_065),
            Self::NotInVoice => (StatusCode::BAD_REQUEST, 40_032),
            Self::TooManyChannels => (StatusCode::BAD_REQUEST, 30_013),
            Self::MissingAccess => (StatusCode::FORBIDDEN, 50_001),
            Self::MissingPermissions => (StatusCode::FORBIDDEN, 50_013),
            Self::InvalidForm(_) => (StatusCode::BAD_REQUEST, 50_035),
            Self::Injected(status) => (*status, 0),
        }
    }
}

impl From<WorldError> for RestError {
    fn from(err: WorldError) -> Self {
        match err {
            WorldError::UnknownUser(_) => Self::UnknownUser,
            WorldError::UnknownChannel(_) | WorldError::NotVoice(_) => Self::UnknownChannel,
            WorldError::UnknownMember(_) => Self::UnknownMember,
            WorldError::NotInVoice(_) => Self::NotInVoice,
            WorldError::MissingPermissions => Self::MissingPermissions,
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    message: &'a str,
    code: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<serde_json::Value>,
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = self.to_string();
        // 50035 names the field the way Discord's nested `errors` object does.
        let errors = match self {
            Self::InvalidForm(field) => Some(serde_json::json!({
                field: {"_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]}
            })),
            _ => None,
        };
        let body = Body {
            message: &message,
            code,
            errors,
        };
        (status, Json(body)).into_response()
    }
}
