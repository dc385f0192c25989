//! Security headers on every response, and the per-response script nonce behind the CSP.
//!
//! * `Content-Security-Policy`: scripts only from this site or inline with this response's nonce
//!   (Leptos's hydration and streaming scripts carry it), WebAssembly compiled from those
//!   (`'wasm-unsafe-eval'`), no plugins, no `<base>` rewriting, forms posting only here, and
//!   `frame-ancestors 'none'` so no other site can frame a page to trick clicks out of it.
//! * `Referrer-Policy: no-referrer`: an invite link carries its token in the path, and must not
//!   leak to Discord's CDN or any site a player follows a link to. (A side effect: browsers send
//!   `Origin: null` on form posts to this very site; see [`super::csrf`].)
//! * `X-Content-Type-Options: nosniff`: a response is only ever what its type says.
//! * `Strict-Transport-Security` in production, where `VITE_BASE_URL` is https.
//!
//! The nonce is made here, before the request reaches Leptos, and travels in the request's
//! extensions; [`provide_nonce`] (part of the context every page render gets) hands the same
//! one to Leptos, so the header and the page cannot disagree.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderName, HeaderValue, header, request::Parts},
    middleware::Next,
    response::Response,
};
use leptos::{
    context::{provide_context, use_context},
    nonce::Nonce,
};

/// A year: long enough that browsers keep using https between visits.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// What varies between deployments in the headers; cheap to clone.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    /// Send `Strict-Transport-Security` (production only: a development server on http must not
    /// teach the browser to insist on https for `localhost`).
    hsts: bool,
    /// The CSP with `{nonce}` where each response's nonce goes.
    policy: Arc<str>,
}

impl SecurityHeaders {
    /// Headers for a production deployment (with HSTS), or for development, where cargo-leptos'
    /// live-reload WebSocket on `reload_port` is allowed too.
    pub fn new(production: bool, reload_port: u32) -> Self {
        let live_reload = if production {
            String::new()
        } else {
            format!(" ws://*:{reload_port} wss://*:{reload_port}")
        };
        let policy = format!(
            "default-src 'self'; script-src 'self' 'nonce-{{nonce}}' 'wasm-unsafe-eval'; \
             style-src 'self'; img-src 'self' data: https://cdn.discordapp.com; \
             connect-src 'self'{live_reload}; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'"
        );
        Self {
            hsts: production,
            policy: policy.into(),
        }
    }
}

/// Middleware: mints this response's nonce for Leptos, then sets the headers on the response,
/// whoever produced it (pages, server functions, static files, guards' refusals).
pub(crate) async fn security_headers(
    State(headers): State<SecurityHeaders>,
    mut request: Request,
    next: Next,
) -> Response {
    let nonce = Nonce::new();
    let policy = headers.policy.replace("{nonce}", &nonce);
    request.extensions_mut().insert(nonce);
    let mut response = next.run(request).await;
    let set = response.headers_mut();
    let mut put = |name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            set.insert(name, value);
        }
    };
    put(header::CONTENT_SECURITY_POLICY, &policy);
    put(header::REFERRER_POLICY, "no-referrer");
    put(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if headers.hsts {
        put(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    response
}

/// Leptos context: replaces the nonce Leptos made for this render with the one in the CSP
/// header. Outside a page render (no request parts) it does nothing.
pub fn provide_nonce() {
    if let Some(nonce) = use_context::<Parts>().and_then(|parts| parts.extensions.get::<Nonce>().cloned()) {
        provide_context(nonce);
    }
}

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, http::Request, middleware::from_fn_with_state, routing::get};
    use tower::ServiceExt;

    use super::*;

    async fn headers_of(headers: SecurityHeaders) -> axum::http::HeaderMap {
        let router = Router::new()
            .route("/", get(|| async { "ok" }))
            .layer(from_fn_with_state(headers, security_headers));
        let request = Request::builder().uri("/").body(Body::empty()).unwrap();
        router.oneshot(request).await.unwrap().headers().clone()
    }

    #[tokio::test]
    async fn hsts_and_no_live_reload_in_production_only() {
        let development = headers_of(SecurityHeaders::new(false, 3001)).await;
        assert!(!development.contains_key(header::STRICT_TRANSPORT_SECURITY));
        let policy = development[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            policy.contains("connect-src 'self' ws://*:3001 wss://*:3001;"),
            "{policy}"
        );

        let production = headers_of(SecurityHeaders::new(true, 3001)).await;
        assert_eq!(production[header::STRICT_TRANSPORT_SECURITY], HSTS);
        let policy = production[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains("connect-src 'self';"), "{policy}");
        assert!(!policy.contains("{nonce}"), "the nonce is filled in: {policy}");
    }
}
