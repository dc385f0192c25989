//! `POST /api/v10/oauth2/token` and `POST /api/v10/oauth2/token/revoke` —
//! <https://discord.com/developers/docs/topics/oauth2#authorization-code-grant-access-token-exchange-example>
//!
//! Form-encoded requests; client credentials by HTTP Basic (id and secret url-encoded before
//! base64, as the `oauth2` crate sends them) or in the body. Success is exactly 200 with JSON;
//! errors are RFC 6749 JSON (`invalid_grant`, `invalid_client`, ...).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Serialize;

use super::grants::Issued;
use crate::core::Core;

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: &'a str,
    scope: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    error_description: &'a str,
}

fn error(status: StatusCode, error: &'static str, description: &str) -> Response {
    (
        status,
        Json(ErrorBody {
            error,
            error_description: description,
        }),
    )
        .into_response()
}

/// The client id and secret from Basic auth or the form; `None` if neither is present.
fn client_credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> Option<(String, String)> {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            Some((form_decode(id)?, form_decode(secret)?))
        });
    basic.or_else(|| Some((form.get("client_id")?.clone(), form.get("client_secret")?.clone())))
}

/// Undoes `application/x-www-form-urlencoded` escaping (`+` is a space).
fn form_decode(text: &str) -> Option<String> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

fn authenticate(core: &Core, headers: &HeaderMap, form: &HashMap<String, String>) -> Option<Response> {
    match client_credentials(headers, form) {
        Some((id, secret)) if id == core.config.client_id && secret == core.config.client_secret => None,
        _ => Some(error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client credentials",
        )),
    }
}

/// The token exchange: `authorization_code` and `refresh_token` grants.
pub(crate) async fn exchange(
    State(core): State<Arc<Core>>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    // Discord only takes form bodies; anything else is an RFC 6749 error, not axum's text.
    let Ok(Form(form)) = form else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "Expected a form body");
    };
    if let Some(rejection) = authenticate(&core, &headers, &form) {
        return rejection;
    }
    let ttl = core.config.access_token_ttl;
    let field = |name: &str| form.get(name).map(String::as_str);
    let issued: Result<Issued, _> = match field("grant_type") {
        Some("authorization_code") => {
            let Some(grant_code) = field("code") else {
                return error(StatusCode::BAD_REQUEST, "invalid_request", "Missing \"code\"");
            };
            core.lock()
                .oauth
                .redeem_code(grant_code, field("redirect_uri"), field("code_verifier"), ttl)
        }
        Some("refresh_token") => {
            let Some(refresh) = field("refresh_token") else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Missing \"refresh_token\"",
                );
            };
            core.lock().oauth.refresh(refresh, ttl)
        }
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant type",
            );
        }
        None => return error(StatusCode::BAD_REQUEST, "invalid_request", "Missing grant_type"),
    };
    match issued {
        Ok(issued) => (
            StatusCode::OK,
            Json(TokenResponse {
                access_token: &issued.access,
                token_type: "Bearer",
                expires_in: ttl.as_secs(),
                refresh_token: &issued.refresh,
                scope: issued.scopes.join(" "),
            }),
        )
            .into_response(),
        Err(grant) => error(StatusCode::BAD_REQUEST, "invalid_grant", &grant.to_string()),
    }
}

/// Revocation: revoking either token ends the whole authorization. Always 200 for a known
/// client, as RFC 7009 asks even for unknown tokens.
pub(crate) async fn revoke(
    State(core): State<Arc<Core>>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "Expected a form body");
    };
    if let Some(rejection) = authenticate(&core, &headers, &form) {
        return rejection;
    }
    let Some(token) = form.get("token") else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "Missing \"token\"");
    };
    core.lock().oauth.revoke(token);
    (StatusCode::OK, Json(serde_json::json!({}))).into_response()
}
