//! `GET /oauth2/authorize` and the consent decision —
//! <https://discord.com/developers/docs/topics/oauth2#authorization-code-grant>
//!
//! The page lists the simulated people to sign in as. Choosing one redirects to `redirect_uri`
//! with `code` and the untouched `state`; cancelling redirects with `error=access_denied`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::grants::PendingCode;
use crate::core::Core;
use crate::id::Snowflake;

/// The authorize request's parameters (query on GET, form on POST).
#[derive(Debug, Deserialize)]
pub(crate) struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    #[serde(default)]
    scope: String,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    /// POST only: the person chosen.
    user_id: Option<String>,
    /// POST only: present when the user cancelled.
    deny: Option<String>,
}

/// Problems shown on the page itself (Discord never redirects to an unverified URI).
fn reject(message: &str) -> Response {
    Rejection(message).into_response()
}

/// A refused authorize request, rendered as an error page.
struct Rejection<'a>(&'a str);

impl IntoResponse for Rejection<'_> {
    fn into_response(self) -> Response {
        (
            StatusCode::BAD_REQUEST,
            Html(format!(
                "<!doctype html><title>Authorization error</title><p>{}</p>",
                escape(self.0)
            )),
        )
            .into_response()
    }
}

fn validate(core: &Core, params: &AuthorizeParams) -> Result<String, Rejection<'static>> {
    if params.response_type.as_deref() != Some("code") {
        return Err(Rejection("response_type must be code"));
    }
    if params.client_id.as_deref() != Some(core.config.client_id.as_str()) {
        return Err(Rejection("Unknown application"));
    }
    let redirect = params
        .redirect_uri
        .clone()
        .ok_or(Rejection("redirect_uri is required"))?;
    let allowed = &core.config.redirect_uris;
    if !allowed.is_empty() && !allowed.contains(&redirect) {
        return Err(Rejection("Invalid OAuth2 redirect_uri"));
    }
    if url::Url::parse(&redirect).is_err() {
        return Err(Rejection("Invalid OAuth2 redirect_uri"));
    }
    if params.code_challenge.is_some() && params.code_challenge_method.as_deref().unwrap_or("plain") != "S256"
    {
        return Err(Rejection("Only the S256 code_challenge_method is supported"));
    }
    Ok(redirect)
}

/// The consent page.
pub(crate) async fn page(State(core): State<Arc<Core>>, Query(params): Query<AuthorizeParams>) -> Response {
    if let Err(rejection) = validate(&core, &params) {
        return rejection.into_response();
    }
    let people: Vec<(Snowflake, String)> = core
        .lock()
        .world
        .users
        .values()
        .filter(|user| !user.bot)
        .map(|user| {
            let name = user.global_name.clone().unwrap_or_else(|| user.username.clone());
            (user.id, name)
        })
        .collect();
    let mut hidden = String::new();
    let fields = [
        ("response_type", params.response_type.as_deref()),
        ("client_id", params.client_id.as_deref()),
        ("redirect_uri", params.redirect_uri.as_deref()),
        ("scope", Some(params.scope.as_str())),
        ("state", params.state.as_deref()),
        ("code_challenge", params.code_challenge.as_deref()),
        ("code_challenge_method", params.code_challenge_method.as_deref()),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            let _ = write!(
                hidden,
                r#"<input type="hidden" name="{name}" value="{}">"#,
                escape(value)
            );
        }
    }
    let mut html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Authorize - Discord \
         simulator</title></head><body><h1>Sign in to the Discord simulator</h1>\
         <p>The application asks for: <code>{}</code></p><ul>",
        escape(&params.scope)
    );
    for (id, name) in people {
        let _ = write!(
            html,
            r#"<li><form method="post" action="/oauth2/authorize">{hidden}<input type="hidden" name="user_id" value="{id}"><button type="submit">Sign in as {}</button></form></li>"#,
            escape(&name)
        );
    }
    let _ = write!(
        html,
        r#"</ul><form method="post" action="/oauth2/authorize">{hidden}<input type="hidden" name="deny" value="1"><button type="submit">Cancel</button></form></body></html>"#
    );
    Html(html).into_response()
}

/// The consent decision: redirect back with a code, or with `access_denied`.
pub(crate) async fn decide(State(core): State<Arc<Core>>, Form(params): Form<AuthorizeParams>) -> Response {
    let redirect = match validate(&core, &params) {
        Ok(redirect) => redirect,
        Err(rejection) => return rejection.into_response(),
    };
    let Ok(mut target) = url::Url::parse(&redirect) else {
        return reject("Invalid OAuth2 redirect_uri");
    };
    if params.deny.is_some() {
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair(
                "error_description",
                "The resource owner or authorization server denied the request",
            );
    } else {
        let Some(user) = params.user_id.as_deref().and_then(Snowflake::parse) else {
            return reject("Choose a user to sign in as");
        };
        let mut state = core.lock();
        if state.world.users.get(&user).is_none_or(|u| u.bot) {
            return reject("Unknown user");
        }
        let issued = state.oauth.issue_code(PendingCode {
            user,
            scopes: params.scope.split_whitespace().map(str::to_owned).collect(),
            redirect_uri: Some(redirect.clone()),
            challenge: params.code_challenge.clone(),
            expires: crate::timestamp::instant_after(core.config.code_ttl),
        });
        target.query_pairs_mut().append_pair("code", &issued);
    }
    if let Some(state) = &params.state {
        target.query_pairs_mut().append_pair("state", state);
    }
    (StatusCode::FOUND, [(LOCATION, target.to_string())]).into_response()
}

/// Minimal HTML escaping for text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}
