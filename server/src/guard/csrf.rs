//! Cross-site request forgery: a request that changes something must come from our own pages.
//!
//! The session cookie is `SameSite=Lax`, which keeps it off cross-*site* POSTs but not off
//! cross-*origin* ones from the same site (another port of the same host, a sibling subdomain).
//! So every request other than GET/HEAD/OPTIONS is checked against what the browser says about
//! where it came from:
//!
//! * `Origin`, when present, must be the site's own origin: `VITE_BASE_URL`'s when set, else
//!   `http://` plus the request's `Host` (development and tests, where the address is whatever
//!   was bound). `Origin: null` passes only with `Sec-Fetch-Site: same-origin` (see
//!   `SameOrigin::allows` for why a same-origin form post carries it).
//! * `Sec-Fetch-Site`, when present, must be `same-origin`. `same-site` is refused for the reason
//!   above. `none` (a request the user started from the address bar or a bookmark) is refused
//!   too: every non-GET request of this app comes from one of its pages, so a `none` one has no
//!   legitimate source, and refusing it costs nothing.
//!
//! The HMAC hub (`POST /api/internal/events`) is exempt from all of this: its sender is a program
//! that proves itself with a signature over the body (`routes::hub`), not a browser with cookies.
//!
//! Requests with neither header are not from a browser (browsers send `Origin` on every
//! non-GET request) and pass: they cannot carry a victim's cookies.
//!
//! Server functions (under `/api/`) also accept only the body encoding the Leptos client sends
//! (`application/x-www-form-urlencoded`, the `PostUrl` default every one of ours uses). Anything
//! else is 415: in particular `text/plain`, which a cross-site `<form>` can send without a CORS
//! preflight, and which the framework would otherwise decode as if it were form data.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use model::error::AppError;
use url::{Origin, Url};

use crate::error::HttpError;

/// The only body encoding server functions accept.
const FORM: &str = "application/x-www-form-urlencoded";

/// The site's own origin, when the configuration names it; cheap to clone.
#[derive(Debug, Clone)]
pub struct SameOrigin {
    /// `VITE_BASE_URL`'s origin; `None` means "whatever `Host` the request names".
    configured: Option<Arc<Origin>>,
}

impl SameOrigin {
    /// The check for a site served at `public_base_url` (or at whatever host it is asked for).
    pub fn new(public_base_url: Option<&Url>) -> Self {
        Self {
            configured: public_base_url.map(|url| Arc::new(url.origin())),
        }
    }

    /// Whether a request with `headers` may change something.
    fn allows(&self, headers: &HeaderMap) -> bool {
        let text = |name| headers.get(name).map(|value| value.to_str().unwrap_or(""));
        let fetch_site = text("sec-fetch-site");
        if fetch_site.is_some_and(|site| site != "same-origin") {
            return false;
        }
        let Some(origin) = text(header::ORIGIN.as_str()) else {
            return true;
        };
        if origin == "null" {
            // Our own `Referrer-Policy: no-referrer` makes a browser send `Origin: null` on form
            // posts (logout), even to the same origin. Only `Sec-Fetch-Site`, which pages cannot
            // set, can vouch for such a request; without it, `null` is anyone (a sandboxed frame).
            return fetch_site == Some("same-origin");
        }
        let Ok(origin) = Url::parse(origin).map(|url| url.origin()) else {
            return false;
        };
        match &self.configured {
            Some(own) => origin == **own,
            None => text(header::HOST.as_str())
                .and_then(|host| Url::parse(&format!("http://{host}")).ok())
                .is_some_and(|own| own.origin() == origin),
        }
    }
}

/// Whether `method` only reads.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a server-function request's `Content-Type` is the one the Leptos client sends
/// (parameters such as `charset` aside).
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(FORM))
}

/// Middleware: 403 for a cross-origin request that would change something, 415 for a server
/// function called with a body encoding the app never sends.
pub(crate) async fn same_origin(State(check): State<SameOrigin>, request: Request, next: Next) -> Response {
    // Exactly the hub's path: its signature, not the browser's word, says who sent it.
    if is_safe(request.method()) || request.uri().path() == crate::routes::hub::PATH {
        return next.run(request).await;
    }
    if !check.allows(request.headers()) {
        tracing::warn!(
            method = %request.method(),
            path = request.uri().path(),
            origin = ?request.headers().get(header::ORIGIN),
            fetch_site = ?request.headers().get("sec-fetch-site"),
            "refused a cross-origin request"
        );
        return HttpError(AppError::Forbidden).into_response();
    }
    if request.uri().path().starts_with("/api/") && !is_form(request.headers()) {
        return HttpError(AppError::UnsupportedMediaType).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn only_the_sites_own_origin_may_change_things() {
        let by_host = SameOrigin::new(None);
        let host = ("host", "127.0.0.1:3000");
        for (pairs, allowed) in [
            (vec![host], true),
            (vec![host, ("origin", "http://127.0.0.1:3000")], true),
            (
                vec![
                    host,
                    ("origin", "http://127.0.0.1:3000"),
                    ("sec-fetch-site", "same-origin"),
                ],
                true,
            ),
            (vec![host, ("origin", "http://127.0.0.1:4000")], false),
            (vec![host, ("origin", "https://127.0.0.1:3000")], false),
            (vec![host, ("origin", "null")], false),
            (
                vec![host, ("origin", "null"), ("sec-fetch-site", "same-origin")],
                true,
            ),
            (
                vec![host, ("origin", "null"), ("sec-fetch-site", "cross-site")],
                false,
            ),
            (vec![("origin", "http://127.0.0.1:3000")], false),
            (vec![host, ("sec-fetch-site", "same-site")], false),
            (vec![host, ("sec-fetch-site", "cross-site")], false),
            (vec![host, ("sec-fetch-site", "none")], false),
            (
                vec![
                    host,
                    ("origin", "http://127.0.0.1:3000"),
                    ("sec-fetch-site", "same-site"),
                ],
                false,
            ),
        ] {
            assert_eq!(by_host.allows(&headers(&pairs)), allowed, "{pairs:?}");
        }

        let base = Url::parse("https://play.example.com/").unwrap();
        let configured = SameOrigin::new(Some(&base));
        for (origin, allowed) in [
            ("https://play.example.com", true),
            ("https://play.example.com:443", true),
            ("http://play.example.com", false),
            ("https://evil.example.com", false),
        ] {
            // The Host header does not matter once the origin is configured.
            let pairs = [("host", "play.example.com"), ("origin", origin)];
            assert_eq!(configured.allows(&headers(&pairs)), allowed, "{origin}");
        }
    }

    #[test]
    fn server_functions_take_form_bodies_only() {
        for (content_type, form) in [
            ("application/x-www-form-urlencoded", true),
            ("application/x-www-form-urlencoded; charset=UTF-8", true),
            ("Application/X-WWW-Form-Urlencoded", true),
            ("text/plain", false),
            ("application/json", false),
            ("multipart/form-data; boundary=x", false),
        ] {
            assert_eq!(
                is_form(&headers(&[("content-type", content_type)])),
                form,
                "{content_type}"
            );
        }
        assert!(!is_form(&HeaderMap::new()));
    }
}
