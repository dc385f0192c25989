//! Building and running the server: `Application::build` → `port()` → `run_until_stopped()`.
//!
//! Tests start the app exactly like `main` does, on port 0, and read the real port back.

use std::net::SocketAddr;

use app::{App, shell};
use axum::{Router, routing::get};
use backend::{
    Config, Store,
    bus::{self, EventBus},
    live::{self, Live},
    store::StoreError,
};
use leptos::config::LeptosOptions;
use leptos_axum::{LeptosRoutes, file_and_error_handler, generate_route_list};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

use crate::{
    routes::{health::health, stream::stream},
    state::AppState,
};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error("cannot open the database")]
    Store(#[from] StoreError),
    /// The listening address could not be bound (in use, or not permitted).
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address from the site settings.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A built server: bound, connected and migrated, not yet serving.
pub struct Application {
    listener: TcpListener,
    port: u16,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects the store (migrating it), binds `leptos_options.site_addr` (port 0 picks a free
    /// port) and assembles the router.
    pub async fn build(config: Config, leptos_options: LeptosOptions) -> Result<Self, StartupError> {
        let store = Store::connect(&config.database).await?;
        tracing::info!(engine = store.engine(), "database ready");

        let addr = leptos_options.site_addr;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?
            .port();

        let shutdown = CancellationToken::new();
        let bus = EventBus::local(bus::DEFAULT_CAPACITY);
        let live = Live::new();
        tokio::spawn(live::run_fanout(bus.subscribe(), live.clone(), shutdown.clone()));

        let state = AppState {
            leptos_options,
            store,
            bus,
            live,
            shutdown,
            dev_open_stream: config.dev_open_stream,
        };
        Ok(Self {
            listener,
            port,
            router: router(state.clone()),
            state,
        })
    }

    /// The port the server listens on (the real one when the configuration asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The handles the server runs on (tests reach its database and bus through them).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Cancelling this token stops the server gracefully: no new connections, open requests and
    /// streams end, the database closes.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then closes the database.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tracing::info!(
            port = self.port,
            "listening on http://{}",
            self.listener.local_addr()?
        );
        let shutdown = self.state.shutdown.clone();
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        self.state.store.close().await;
        tracing::info!("stopped");
        served
    }
}

/// The whole HTTP surface: operational routes, then the Leptos pages, then static files and the
/// 404 page for everything else.
fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    Router::new()
        .route("/health", get(health))
        .route("/api/health", get(health))
        .route("/api/stream", get(stream))
        .leptos_routes(&state, routes, {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(file_and_error_handler::<AppState, _>(shell))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
