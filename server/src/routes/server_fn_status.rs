//! Server functions answer with the HTTP status of their [`AppError`].
//!
//! Leptos answers every failing server function with 500, including its own failures to decode
//! the arguments, which happen before the function body runs. Every server function's error type
//! is `AppError`, whose body is its JSON, so this one middleware reads a 500's body back as an
//! `AppError` and sets the status that error names (400 for bad input, 404, 409, …), with a
//! `Retry-After` header on a 429 or a 503 that passes by itself. Responses
//! that are not an `AppError` (an HTML error page) pass through untouched.
//!
//! Being the one place that knows a server function's final status, it also counts each call by
//! function and status (the `spell_coven_server_fn_calls_total` metric).

use axum::{
    body::{Body, to_bytes},
    extract::Request,
    http::{HeaderValue, StatusCode, header::RETRY_AFTER},
    middleware::Next,
    response::Response,
};
use model::error::AppError;
use std::{collections::HashMap, sync::LazyLock};

/// An `AppError` body is a few hundred bytes; anything far larger is not one.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Registered server functions by path, each with its metric label (`/api/rooms/create` →
/// `rooms/create`). Only these are counted, so a client cannot mint label values.
static SERVER_FNS: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| (path, path.strip_prefix("/api/").unwrap_or(path)))
        .collect()
});

pub(crate) async fn status_from_app_error(request: Request, next: Next) -> Response {
    let function = SERVER_FNS.get(request.uri().path()).copied();
    let response = with_status_of_app_error(next.run(request).await).await;
    if let Some(function) = function {
        crate::metrics::server_fn_called(function, response.status().as_u16());
    }
    response
}

async fn with_status_of_app_error(response: Response) -> Response {
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ERROR_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let Some(seconds) = error.retry_after_secs() {
            parts.headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}
