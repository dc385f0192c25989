//! Sign in with Discord: `GET /auth/login`, `GET /auth/callback`, `POST /auth/logout`, and
//! `GET /api/me` (who is signed in).
//!
//! Failures on the way back from Discord (the user cancelled, a tampered or replayed callback, a
//! code Discord refuses) end on a friendly page with a way to try again, never a 500.

use axum::{
    Json,
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use backend::{
    discord::oauth::{GUILDS_JOIN, OAuthError, scopes_for},
    session::{SignedInUser, UserSession},
};
use model::error::AppError;
use serde::Deserialize;
use tower_sessions::Session;

use crate::{error::HttpError, state::AppState};

#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    return_to: Option<String>,
}

/// What Discord sends back. `Debug` hides the code and state: both are credentials.
#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

impl std::fmt::Debug for CallbackQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackQuery")
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .field("state", &self.state.as_ref().map(|_| "[redacted]"))
            .field("error", &self.error)
            .finish()
    }
}

/// Only a path on this site is a place to return to: `/game/1` yes; `//evil.example`,
/// `/\evil.example`, `https://evil.example` and anything with control characters no.
pub(crate) fn safe_return_to(requested: Option<&str>) -> String {
    requested
        .filter(|path| {
            path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(|c| c.is_control() || c == '\\')
        })
        .unwrap_or("/")
        .to_owned()
}

pub(crate) async fn login(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<LoginQuery>,
) -> Result<Response, HttpError> {
    let session = UserSession(session);
    let return_to = safe_return_to(query.return_to.as_deref());
    // Signed in already: straight back, unless the page needs a consent the session lacks (a
    // player signed in from the home page who now joins a game from an invite).
    if session.user().await.map_err(internal)?.is_some() {
        let granted = session.tokens().await.map_err(internal)?;
        let needs_join = scopes_for(&return_to).contains(&GUILDS_JOIN);
        if !needs_join || granted.is_none_or(|tokens| tokens.may_join()) {
            return Ok(Redirect::to(&return_to).into_response());
        }
    }
    let (url, pending) = state.oauth.begin(return_to);
    session.begin_sign_in(&pending).await.map_err(internal)?;
    Ok(Redirect::to(url.as_str()).into_response())
}

pub(crate) async fn callback(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, HttpError> {
    let session = UserSession(session);
    let pending = session.take_pending().await.map_err(internal)?;
    if query.error.is_some() {
        return Ok(problem_page(
            StatusCode::BAD_REQUEST,
            "Sign-in cancelled",
            "Discord did not sign you in. You can try again whenever you like.",
        ));
    }
    let (Some(pending), Some(code)) = (pending, query.code) else {
        return Ok(problem_page(
            StatusCode::BAD_REQUEST,
            "This sign-in link has expired",
            "Start again from the sign-in button; each link works once, in the browser that opened it.",
        ));
    };
    if query.state.as_deref() != Some(pending.csrf_state.as_str()) {
        tracing::warn!("OAuth2 callback with a state that does not match the session");
        return Ok(problem_page(
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid",
            "It did not come from the sign-in you started. Please sign in again.",
        ));
    }
    let (user, tokens) = match state.oauth.finish(code, &pending).await {
        Ok(signed_in) => signed_in,
        // A made-up, expired or reused code: the user's problem, and theirs to retry.
        Err(err @ OAuthError::Refused(_)) => {
            tracing::info!(error = %err, "Discord refused the sign-in code");
            return Ok(problem_page(
                StatusCode::BAD_REQUEST,
                "Discord did not accept this sign-in",
                "The sign-in code was already used or has expired. Please sign in again.",
            ));
        }
        Err(err) => {
            // Display, not Debug: a token response that fails to parse carries its body (tokens)
            // in its Debug output.
            tracing::warn!(error = %error_chain(&err), "OAuth2 sign-in failed");
            return Ok(problem_page(
                StatusCode::BAD_GATEWAY,
                "Discord could not finish this sign-in",
                "Discord did not answer properly. Please try signing in again in a moment.",
            ));
        }
    };
    state
        .store
        .upsert_user(&backend::store::UserRecord {
            id: user.id,
            username: user.username.clone(),
            global_name: None,
            avatar: user.avatar.clone(),
        })
        .await
        .map_err(|err| {
            tracing::error!(error = ?err, "cannot record the signed-in user");
            HttpError(AppError::Internal)
        })?;
    session.sign_in(&user, &tokens).await.map_err(internal)?;
    tracing::info!(user = %user.id, "signed in");
    Ok(Redirect::to(&pending.return_to).into_response())
}

pub(crate) async fn logout(State(state): State<AppState>, session: Session) -> Result<Response, HttpError> {
    let session = UserSession(session);
    if let Some(tokens) = session.tokens().await.map_err(internal)?
        && let Err(err) = state.oauth.revoke(&tokens).await
    {
        // Signing out locally still happens; the token expires on its own.
        tracing::warn!(error = %err, "could not revoke the Discord token at logout");
    }
    // The streams opened with this session end with it (read before signing out clears the id).
    let opened_with = session.0.id();
    session.sign_out().await.map_err(internal)?;
    if let Some(id) = opened_with {
        state
            .live
            .watchers()
            .revoke(backend::live::Revocation::Session(id))
            .await;
    }
    Ok(Redirect::to("/").into_response())
}

pub(crate) async fn me(session: Session) -> Result<Json<SignedInUser>, HttpError> {
    UserSession(session)
        .user()
        .await
        .map_err(internal)?
        .map(Json)
        .ok_or(HttpError(AppError::Unauthenticated))
}

/// An error and its sources, each by its `Display`.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn internal(err: tower_sessions::session::Error) -> HttpError {
    tracing::error!(error = ?err, "session store failed");
    HttpError(AppError::Internal)
}

fn problem_page(status: StatusCode, title: &str, text: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · Spell Coven</title>\
         <link rel=\"stylesheet\" href=\"/pkg/spell_coven.css\"></head><body><main class=\"page page--centered\">\
         <h1>{title}</h1><p>{text}</p><p><a class=\"button\" href=\"/auth/login\">Sign in again</a> \
         <a href=\"/\">Return home</a></p></main></body></html>"
    );
    (status, Html(page)).into_response()
}

#[cfg(test)]
mod tests {
    use super::{CallbackQuery, safe_return_to};

    #[test]
    fn a_callback_query_never_prints_its_code_or_state() {
        let query = CallbackQuery {
            code: Some("secret-code".to_owned()),
            state: Some("secret-state".to_owned()),
            error: None,
        };
        let printed = format!("{query:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }

    #[test]
    fn only_same_site_paths_are_returned_to() {
        for (requested, expected) in [
            (Some("/game/123"), "/game/123"),
            (Some("/game/123?x=1#y"), "/game/123?x=1#y"),
            (None, "/"),
            (Some(""), "/"),
            (Some("//evil.example"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("https://evil.example/"), "/"),
            (Some("javascript:alert(1)"), "/"),
            (Some("/ok\r\nSet-Cookie: x"), "/"),
            (Some("game/123"), "/"),
        ] {
            assert_eq!(safe_return_to(requested), expected, "{requested:?}");
        }
    }
}
