//! Per-address budgets on the routes anyone can reach without signing in: `/auth/login`,
//! `/auth/callback` and the invite page `/invite/{token}`.
//!
//! Signed-in work is limited per user; before sign-in there is no user, only an address. Each
//! sign-in costs a Discord code exchange and a session row, and each invite page a database
//! look-up, so one address gets `IP_RATE_BURST` of these at once and `IP_RATE_PER_MINUTE` after.
//! Over budget is a 429 with `Retry-After`: a short page for a browser, the usual JSON otherwise.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};
use backend::{
    config::IpBudgetConfig,
    rate_limit::{Budget, Quota},
};
use model::error::AppError;

use super::client_ip::{budget_key, client_ip};
use crate::error::HttpError;

/// The budgets and how to tell clients apart; cheap to clone.
#[derive(Debug, Clone)]
pub struct IpBudget {
    budget: Budget<IpAddr>,
    config: Arc<IpBudgetConfig>,
}

impl IpBudget {
    /// Budgets as configured.
    pub fn new(config: IpBudgetConfig) -> Self {
        Self {
            budget: Budget::new(Quota::per_minute(config.per_minute).allow_burst(config.burst)),
            config: Arc::new(config),
        }
    }
}

/// Whether `path` is one of the anonymous routes this budget guards.
fn is_budgeted(path: &str) -> bool {
    matches!(
        path,
        "/auth/login" | "/auth/callback" | "/api/rooms/preview" | "/api/rooms/status"
    ) || path.starts_with("/invite/")
}

/// Middleware: charges the client's address for a budgeted route, or answers 429.
pub(crate) async fn ip_budget(State(guard): State<IpBudget>, request: Request, next: Next) -> Response {
    if !is_budgeted(request.uri().path()) {
        return next.run(request).await;
    }
    // Both connection paths insert the peer (crate::serve); a router driven some other way
    // shares one budget rather than going unlimited.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    let client = client_ip(peer, request.headers(), &guard.config);
    match guard.budget.check(&budget_key(client)) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            metrics::counter!(backend::metric_names::RATE_LIMITED, "scope" => "address").increment(1);
            tracing::info!(%client, path = request.uri().path(), "per-address budget spent");
            too_many(&request, wait)
        }
    }
}

/// The 429: a page for a browser navigating here, the JSON error for anything else; both say when
/// to come back.
fn too_many(request: &Request, wait: Duration) -> Response {
    let retry_after_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
    let seconds = retry_after_ms.div_ceil(1000);
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let mut response = if wants_html {
        let page = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Slow down · Spell Coven</title><link rel=\"stylesheet\" href=\"/pkg/spell_coven.css\">\
             </head><body><main class=\"page page--centered\"><h1>Slow down a little</h1>\
             <p>Too many requests came from your network just now. Please try again in {seconds} \
             second{plural}.</p><p><a href=\"/\">Return home</a></p></main></body></html>",
            plural = if seconds == 1 { "" } else { "s" },
        );
        (StatusCode::TOO_MANY_REQUESTS, Html(page)).into_response()
    } else {
        HttpError(AppError::RateLimited { retry_after_ms }).into_response()
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

#[cfg(test)]
mod tests {
    use super::is_budgeted;

    #[test]
    fn only_the_anonymous_routes_are_budgeted() {
        for path in [
            "/auth/login",
            "/auth/callback",
            "/invite/abc",
            "/api/rooms/preview",
        ] {
            assert!(is_budgeted(path), "{path}");
        }
        for path in [
            "/",
            "/auth/logout",
            "/api/me",
            "/game/1",
            "/invite",
            "/pkg/spell_coven.js",
        ] {
            assert!(!is_budgeted(path), "{path}");
        }
    }
}
