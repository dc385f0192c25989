//! [`AppError`]: the one error type that crosses the wire to the browser.
//!
//! Its variants are reasons, not sources: what went wrong inside the server is logged there and
//! never shown. Each maps to exactly one HTTP status ([`AppError::status`]).

use serde::{Deserialize, Serialize};
use server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};

/// Why a request failed, in terms the client can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", content = "message", rename_all = "snake_case")]
pub enum AppError {
    /// The request itself is wrong (400); the text says what to fix.
    #[error("{0}")]
    InvalidInput(String),
    /// No session (401).
    #[error("sign in first")]
    Unauthenticated,
    /// Signed in, but not allowed (403).
    #[error("not allowed")]
    Forbidden,
    /// No such thing (404).
    #[error("not found")]
    NotFound,
    /// Conflicts with the current state, e.g. a full room (409).
    #[error("{0}")]
    Conflict(String),
    /// Too many requests from this user (429).
    #[error("slow down: try again in {retry_after_ms} ms")]
    RateLimited {
        /// When the client may try again.
        retry_after_ms: u64,
    },
    /// Discord is failing or refusing us (502).
    #[error("Discord is unavailable, please try again")]
    Upstream,
    /// Anything else (500); the details are in the server's log only.
    #[error("something went wrong")]
    Internal,
}

impl AppError {
    /// The HTTP status this error is answered with.
    pub const fn status(&self) -> u16 {
        match self {
            Self::InvalidInput(_) => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict(_) => 409,
            Self::RateLimited { .. } => 429,
            Self::Upstream => 502,
            Self::Internal => 500,
        }
    }
}

/// How server functions carry an `AppError`: as its JSON. The framework's own failures become
/// reasons too: arguments that do not decode are the client's mistake (400), anything else is ours.
impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(message)
            | ServerFnErrorErr::MissingArg(message)
            | ServerFnErrorErr::Deserialization(message) => Self::InvalidInput(message),
            _ => Self::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_status_and_a_stable_json_shape() {
        let cases = [
            (
                AppError::InvalidInput("room must be a Discord ID".to_owned()),
                400,
            ),
            (AppError::Unauthenticated, 401),
            (AppError::Forbidden, 403),
            (AppError::NotFound, 404),
            (AppError::Conflict("room is full".to_owned()), 409),
            (AppError::RateLimited { retry_after_ms: 1200 }, 429),
            (AppError::Upstream, 502),
            (AppError::Internal, 500),
        ];
        for (error, status) in cases {
            assert_eq!(error.status(), status, "{error:?}");
            let json = serde_json::to_string(&error).unwrap();
            assert_eq!(serde_json::from_str::<AppError>(&json).unwrap(), error);
        }
        assert_eq!(
            serde_json::to_value(AppError::Unauthenticated).unwrap(),
            serde_json::json!({"error": "unauthenticated"})
        );
    }
}
