//! [`HttpError`]: how plain axum routes (not server functions) answer with a [`model::error::AppError`].

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header::RETRY_AFTER},
    response::{IntoResponse, Response},
};
use model::error::AppError;

/// An [`AppError`] as an HTTP response: its status, its JSON (`{"error": …, "message": …}`), and
/// with a `Retry-After` where the error has one (see [`AppError::retry_after_secs`]).
/// A local wrapper because the orphan rule forbids `impl IntoResponse for AppError` here.
#[derive(Debug)]
pub struct HttpError(pub AppError);

impl From<AppError> for HttpError {
    fn from(error: AppError) -> Self {
        Self(error)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.0.retry_after_secs();
        let mut response = (status, Json(self.0)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
