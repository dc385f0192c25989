//! What the server does before (and after) any route runs, to keep browsers and strangers in
//! their lane: security headers and the CSP nonce ([`headers`]), cross-origin refusal
//! ([`csrf`]), and per-address budgets on the anonymous routes ([`ip_budget`]), which need to
//! know who the client is (`client_ip`).

mod client_ip;
pub mod csrf;
pub mod headers;
pub mod ip_budget;

use axum::{Router, middleware::from_fn_with_state};
use backend::{Config, config::Environment};
use leptos::config::LeptosOptions;

/// The guards, configured; [`Guards::around`] puts them around a router.
#[derive(Debug, Clone)]
pub struct Guards {
    headers: headers::SecurityHeaders,
    same_origin: csrf::SameOrigin,
    ip_budget: ip_budget::IpBudget,
}

impl Guards {
    /// Guards for this deployment (production sends HSTS; development allows cargo-leptos'
    /// live-reload socket).
    pub fn new(config: &Config, leptos_options: &LeptosOptions) -> Self {
        Self {
            headers: headers::SecurityHeaders::new(
                config.environment == Environment::Production,
                leptos_options
                    .reload_external_port
                    .unwrap_or(leptos_options.reload_port),
            ),
            same_origin: csrf::SameOrigin::new(config.public_base_url.as_ref()),
            ip_budget: ip_budget::IpBudget::new(config.ip_budget.clone()),
        }
    }

    /// `router` behind the guards. The headers go on last, so that every response carries them,
    /// the guards' own refusals included.
    pub fn around<S: Clone + Send + Sync + 'static>(self, router: Router<S>) -> Router<S> {
        router
            .layer(from_fn_with_state(self.ip_budget, ip_budget::ip_budget))
            .layer(from_fn_with_state(self.same_origin, csrf::same_origin))
            .layer(from_fn_with_state(self.headers, headers::security_headers))
    }
}
