//! [`HttpError`]: how plain axum routes (not server functions) answer with a [`model::error::AppError`].

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use model::error::AppError;

/// An [`AppError`] as an HTTP response: its status, and its JSON (`{"error": …, "message": …}`).
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
        (status, Json(self.0)).into_response()
    }
}
