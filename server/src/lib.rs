//! The Spell Coven server as a library, so tests start exactly what `main` starts.
//!
//! # Layout
//!
//! * [`startup`]: [`Application`] — build (bind, connect, migrate), report the port, run until
//!   stopped.
//! * [`state`]: [`AppState`], the cheap-clone handles every handler shares.
//! * [`routes`]: HTTP routes that are not Leptos pages or server functions (health, stream).
//! * [`serve`]: accepting connections; live streams take a lean path around hyper's buffers.
//! * [`error`]: [`error::HttpError`], an `AppError` as an HTTP response.
//! * [`guard`]: security headers and CSP nonce, cross-origin refusal, per-address budgets.
//! * [`telemetry`]: the `tracing` subscriber.
//! * [`metrics`]: Prometheus metrics and their own listener (`METRICS_ADDR`).
//! * [`shutdown`]: turning SIGINT/SIGTERM into one cancellation.
#![warn(missing_docs)]

pub mod error;
pub mod guard;
pub mod metrics;
pub mod routes;
pub mod serve;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use startup::{Application, RunError, StartupError, route_table};
pub use state::AppState;
