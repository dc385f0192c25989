//! Building and running the server: `Application::build` → `port()` → `run_until_stopped()`.
//!
//! Tests start the app exactly like `main` does, on port 0, and read the real port back.
//!
//! `build` prepares everything, background tasks included, without starting any; they all start
//! in `run_until_stopped`, under one [`Supervisor`], and stop with the server.

use std::net::SocketAddr;

use app::{
    App,
    server_fns::ssr::{DevSimulator, RoomServices, SiteGuild},
    shell,
};
use axum::{
    Router,
    body::Body,
    extract::{MatchedPath, Request, State},
    handler::Handler,
    http::Method,
    response::Response,
    routing::{MethodFilter, MethodRouter, on},
};
use backend::{
    Config, Store,
    bus::EventBus,
    cluster::Redis,
    config::Environment,
    config::Role,
    discord::gateway::{self, Gateway, GatewayState, SessionStore, ShardSettings},
    discord::oauth::{DiscordOAuth, OAuthError, OAuthSettings},
    discord::rest::{self, DiscordRest, RestSettings},
    link::client::LinkClient,
    live::{self, Live},
    rate_limit::RateLimiter,
    rooms::Rooms,
    roster::{Roster, RosterSource},
    session::{self, SessionBackend, SessionSetupError, keys::SessionKeys},
    store::StoreError,
    supervisor::{Supervisor, TaskFailure},
    table::Table,
};
use discord_sim::{DiscordSim, SimConfig, SimHandle};
use leptos::{config::LeptosOptions, context::provide_context};
use leptos_axum::{LeptosRoutes, file_and_error_handler_with_context, generate_route_list};
use model::ids::GuildId;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite};
use twilight_gateway::queue::InMemoryQueue;
use url::Url;

mod split;

use crate::{
    guard::{Guards, headers},
    metrics::MetricsListener,
    routes::{
        assets, auth,
        health::{self, health},
        hub, server_fn_status,
        stream::stream,
    },
    state::AppState,
};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error("cannot open the database")]
    Store(#[from] StoreError),
    /// The embedded simulator reported a guild id or URL that is unusable (a bug in the simulator).
    #[error("the embedded Discord simulator reported an unusable guild id or URL")]
    SimulatorGuild,
    /// The embedded Discord simulator could not start.
    #[error("cannot start the embedded Discord simulator")]
    Simulator(#[from] discord_sim::StartError),
    /// The OAuth2 client could not be built (a URL is unusable).
    #[error("cannot set up sign-in with Discord")]
    OAuth(#[from] backend::discord::oauth::OAuthError),
    /// The session table could not be created.
    #[error("cannot set up the session store")]
    Sessions(#[from] SessionSetupError),
    /// The key that encrypts sessions could not be read or made.
    #[error("cannot set up the session encryption key")]
    SessionKeys(#[from] session::keys::KeyError),
    /// The open streams were shared through Redis twice (a wiring bug).
    #[error(transparent)]
    SharedWatchers(#[from] live::AlreadyShared),
    /// Redis (`REDIS_URL`) could not be reached.
    #[error(transparent)]
    Redis(#[from] backend::cluster::RedisSetupError),
    /// `GATEWAY_WS_URL` or `LINK_TOKEN` missing on a web instance (validation prevents it).
    #[error("ROLE=web needs GATEWAY_WS_URL, LINK_TOKEN and the guild id")]
    WebWithoutLink,
    /// A split role without Redis (configuration validation prevents it).
    #[error("ROLE=gateway and ROLE=web need REDIS_URL")]
    SplitWithoutRedis,
    /// The metrics address (`METRICS_ADDR`) could not be bound.
    #[error("cannot serve metrics on {addr}")]
    MetricsBind {
        /// `METRICS_ADDR`.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
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

/// Why a running server stopped other than by being asked to.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The listener's address could not be read.
    #[error("cannot read the listening address")]
    Listener(#[from] std::io::Error),
    /// A background task panicked; the server shut down because of it (see `supervisor`).
    #[error("the background task `{}` panicked: {}", .0.task, .0.message)]
    TaskFailed(TaskFailure),
}

/// A built server: bound, connected and migrated, not yet serving.
pub struct Application {
    listener: TcpListener,
    port: u16,
    router: Router,
    state: AppState,
    /// The background tasks, registered by `build`, started by `run_until_stopped`.
    tasks: Supervisor,
    /// `SHUTDOWN_DEADLINE_SECS`: from shutdown's start to `run_until_stopped` returning.
    shutdown_deadline: std::time::Duration,
    /// The port Prometheus metrics are served on, when `METRICS_ADDR` is set.
    metrics_port: Option<u16>,
}

impl Application {
    /// Connects the store (migrating it), binds `leptos_options.site_addr` (port 0 picks a free
    /// port) and assembles the router.
    pub async fn build(config: Config, leptos_options: LeptosOptions) -> Result<Self, StartupError> {
        let leptos_options = assets::with_fingerprints(leptos_options);
        let store = Store::connect(&config.database).await?;
        tracing::info!(engine = store.engine(), "database ready");
        let redis = connect_redis(&config).await?;
        let role = config.cluster.role;
        let (listener, addr, port) = bind(&config, &leptos_options).await?;

        let shutdown = CancellationToken::new();
        let mut tasks = Supervisor::new(shutdown.clone());
        let mut path = split::EventPath::build(&config, redis.as_ref(), &mut tasks, &shutdown)?;
        let (bus, live) = (path.bus.clone(), path.live.clone());
        let (limiter, taps) = shared_state(redis.as_ref(), &live, &mut tasks, &shutdown)?;
        let discord = connect_discord(&config, &store, bus.clone(), shutdown.clone(), &mut tasks).await?;
        path.start(&store, &discord, &mut tasks, &shutdown).await;

        if let Some(simulator) = &discord.simulator {
            let ip = addr.ip();
            tracing::info!(
                "embedded Discord: try the live roster at http://{ip}:{port}/game/{} (dev panel below the list)",
                simulator.demo().lobby
            );
        }
        let oauth = oauth_client(&config, discord.simulator.as_ref(), addr.ip(), port)?;
        let (sessions, session_store) = session_layer(&config, &store).await?;
        tasks.add(
            "session_sweeper",
            session_store.run_sweeper(session::SWEEP_EVERY, shutdown.clone()),
        );
        let guards = Guards::new(&config, &leptos_options);
        let rooms = Rooms::new(
            store.clone(),
            discord.rest.clone(),
            live.clone(),
            bus.clone(),
            discord.guild_id,
        );
        let room_tasks = split::RoomTasks {
            config: &config,
            store: &store,
            rooms: &rooms,
            path: &path,
            guild_id: discord.guild_id,
        };
        let (reconciled, lease_held) = room_tasks.start(discord.holder, &mut tasks, &shutdown)?;
        let table = Table::new(store.clone(), bus.clone());
        let state = AppState {
            leptos_options,
            store,
            bus,
            live,
            shutdown,
            dev_open_stream: config.dev_open_stream,
            limits: config.limits,
            guild_id: discord.guild_id,
            gateway: discord.gateway,
            oauth,
            rooms,
            limiter,
            taps,
            table,
            simulator: discord.simulator,
            gateway_down_since: discord.gateway_down_since,
            operations: config.operations,
            tasks: tasks.status(),
            reconciled,
            hub: hub_for(&config, discord.guild_id, redis.as_ref()),
            redis,
            stream: path.stream(),
        };
        let metrics = match config.operations.metrics_addr {
            Some(addr) => MetricsListener::bind(addr)
                .await
                .map_err(|source| StartupError::MetricsBind { addr, source })?,
            None => None,
        };
        let metrics_port = metrics.as_ref().and_then(|metrics| metrics.port().ok());
        if let Some(metrics) = metrics {
            // Stops with the server (same token); a scrape never holds shutdown up.
            tasks.add("metrics", metrics.serve(state.clone(), state.shutdown.clone()));
        }
        let router = match (role, lease_held) {
            (Role::Gateway, Some(held)) => split::gateway_router(&config, &state, discord.rest, held)?,
            _ => router(state.clone(), sessions, guards),
        };
        Ok(Self {
            listener,
            port,
            router,
            state,
            tasks,
            shutdown_deadline: config.shutdown_deadline,
            metrics_port,
        })
    }

    /// The port Prometheus metrics are served on (`GET /metrics`), when `METRICS_ADDR` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// The port the server listens on (the real one when the configuration asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The handles the server runs on (tests reach its database and bus through them).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Adds a background task, owned by the same supervisor as the server's own: started by
    /// [`Application::run_until_stopped`], expected to end soon after the shutdown token is
    /// cancelled; its panic stops the server (see `backend::supervisor`).
    pub fn add_task(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.add(name, task);
    }

    /// Cancelling this token stops the server gracefully: no new connections, open requests and
    /// streams end, the database closes.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// Starts the background tasks and serves until the shutdown token is cancelled (by a
    /// signal, a test, or a task that failed), then stops within the shutdown deadline: streams
    /// are told to reconnect, requests in flight and the tasks finish, the database closes.
    /// Whatever is still running at the deadline is dropped.
    pub async fn run_until_stopped(self) -> Result<(), RunError> {
        let Self {
            listener,
            port,
            router,
            state,
            mut tasks,
            shutdown_deadline,
            metrics_port: _,
        } = self;
        tracing::info!(port, "listening on http://{}", listener.local_addr()?);
        let shutdown = state.shutdown.clone();
        let hard_stop = CancellationToken::new();
        let deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(shutdown_deadline).await;
            hard_stop.cancel();
        };
        let stopped = async {
            tasks.start();
            let ((), failure) = tokio::join!(
                crate::serve::serve(
                    listener,
                    router,
                    shutdown.clone(),
                    hard_stop.clone(),
                    state.limits
                ),
                // The tasks stop on the same token. The gateway's is where the Discord session is
                // saved for the next start to resume: it does so before its task ends, so this
                // waits for it (within the deadline), and the database is still open meanwhile.
                tasks.run(&hard_stop),
            );
            tokio::select! {
                () = state.store.close() => {}
                () = hard_stop.cancelled() => tracing::warn!("the database did not close before the shutdown deadline"),
            }
            failure
        };
        tokio::pin!(deadline, stopped);
        let failure = tokio::select! {
            failure = &mut stopped => failure,
            // Everything still running ends at the hard stop, promptly.
            () = &mut deadline => stopped.await,
        };
        match failure {
            None => {
                tracing::info!("stopped");
                Ok(())
            }
            Some(failure) => Err(RunError::TaskFailed(failure)),
        }
    }
}

/// The state web instances must agree on: per-user request budgets and the open streams (who
/// watches which room, each user's stream cap, revocations). In Redis when it is configured, so
/// every instance sees the same (the task keeping this process' streams there is registered on
/// `tasks`); otherwise in this process, exactly as a single instance needs.
/// The listener: the site's address, or on a gateway process `GATEWAY_WS_PORT` (the link and its
/// health are all it serves). Port 0 picks a free port; the real one is returned.
async fn bind(
    config: &Config,
    leptos_options: &LeptosOptions,
) -> Result<(TcpListener, SocketAddr, u16), StartupError> {
    let addr = match config.cluster.role {
        Role::Gateway => SocketAddr::new(
            leptos_options.site_addr.ip(),
            config
                .link
                .gateway_ws_port
                .unwrap_or(split::DEFAULT_GATEWAY_WS_PORT),
        ),
        Role::All | Role::Web => leptos_options.site_addr,
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    let port = listener
        .local_addr()
        .map_err(|source| StartupError::Bind { addr, source })?
        .port();
    Ok((listener, addr, port))
}

/// `REDIS_URL`'s server, when set.
async fn connect_redis(config: &Config) -> Result<Option<Redis>, StartupError> {
    let Some(url) = &config.redis_url else {
        return Ok(None);
    };
    let redis = Redis::connect(url.expose_secret(), &config.cluster.redis_namespace).await?;
    tracing::info!(namespace = redis.namespace(), "Redis ready");
    Ok(Some(redis))
}

/// The state instances share through Redis when there is one: who watches which stream, and the
/// per-user budgets (of requests, and of life-total taps).
fn shared_state(
    redis: Option<&Redis>,
    live: &Live,
    tasks: &mut Supervisor,
    shutdown: &CancellationToken,
) -> Result<(RateLimiter, RateLimiter), StartupError> {
    let Some(redis) = redis else {
        return Ok((RateLimiter::default(), RateLimiter::taps()));
    };
    let watchers = live.watchers().share(redis, live::VIEWER_TTL)?;
    tasks.add("shared_watchers", watchers.run(shutdown.clone()));
    Ok((
        RateLimiter::shared(redis.clone()),
        RateLimiter::shared_taps(redis.clone()),
    ))
}

/// The Discord side as the rest of the server sees it.
struct DiscordLink {
    guild_id: GuildId,
    gateway: watch::Receiver<GatewayState>,
    gateway_down_since: watch::Receiver<Option<tokio::time::Instant>>,
    /// The gateway task's roster, when it runs for the whole life of the process (`ROLE=all`).
    roster_source: Option<RosterSource>,
    rest: DiscordRest,
    simulator: Option<SimHandle>,
    /// `ROLE=gateway`: what the lease holder's terms connect with and report to; the connection
    /// starts only once the lease is held.
    holder: Option<HolderSetup>,
    /// `ROLE=web`: the link every Discord call goes through, and where the first roster comes
    /// from.
    link: Option<WebLink>,
}

/// A web instance's link to the gateway processes.
struct WebLink {
    client: LinkClient,
    /// Set once the first roster has seeded the fan-out: only then is the instance ready.
    seeded: watch::Sender<bool>,
}

/// What a gateway process's terms as lease holder share.
struct HolderSetup {
    settings: ShardSettings,
    state: watch::Sender<GatewayState>,
    down_since: watch::Sender<Option<tokio::time::Instant>>,
    held: watch::Sender<bool>,
}

/// Starts the gateway task against real Discord when a bot token is configured, otherwise against
/// a simulator started in-process with its demo guild (the embedded default).
async fn connect_discord(
    config: &Config,
    store: &Store,
    bus: EventBus,
    shutdown: CancellationToken,
    tasks: &mut Supervisor,
) -> Result<DiscordLink, StartupError> {
    // twilight builds a TLS connector even for ws://; one process-wide provider must exist.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if config.cluster.role == Role::Web {
        return split::link_to_gateway(config, tasks, &shutdown);
    }
    // Config validation guarantees a guild id whenever a token is set.
    let (settings, guild_id, rest, simulator) =
        if let (Some(token), Some(guild_id)) = (&config.discord.bot_token, config.discord.guild_id) {
            let settings = ShardSettings {
                token: token.expose_secret().to_owned(),
                gateway_url: config
                    .discord
                    .gateway_url
                    .as_str()
                    .trim_end_matches('/')
                    .to_owned(),
                reconnect_max: config.gateway.reconnect_max,
            };
            let rest = DiscordRest::new(RestSettings {
                token: token.expose_secret().to_owned(),
                api_base: config.discord.api_base.clone(),
                guild_id,
                deadline: rest::DEFAULT_DEADLINE,
            });
            (settings, guild_id, rest, None)
        } else {
            let simulator = DiscordSim::start(SimConfig::default()).await?;
            let endpoints = simulator.endpoints();
            tracing::info!(
                address = %simulator.addr(),
                "no DISCORD_BOT_TOKEN: using the embedded Discord simulator"
            );
            let guild_id = endpoints
                .guild_id
                .to_string()
                .parse()
                .map_err(|_| StartupError::SimulatorGuild)?;
            let rest = DiscordRest::new(RestSettings {
                token: endpoints.bot_token.clone(),
                api_base: Url::parse(&endpoints.api_base).map_err(|_| StartupError::SimulatorGuild)?,
                guild_id,
                deadline: rest::DEFAULT_DEADLINE,
            });
            let settings = ShardSettings {
                token: endpoints.bot_token,
                gateway_url: endpoints.gateway_url,
                reconnect_max: config.gateway.reconnect_max,
            };
            (settings, guild_id, rest, Some(simulator))
        };
    if config.cluster.role == Role::Gateway {
        let state = watch::channel(GatewayState::Disconnected).0;
        let down_since = watch::channel(Some(tokio::time::Instant::now())).0;
        return Ok(DiscordLink {
            guild_id,
            gateway: state.subscribe(),
            gateway_down_since: down_since.subscribe(),
            roster_source: None,
            rest,
            simulator,
            holder: Some(HolderSetup {
                settings,
                state,
                down_since,
                held: watch::channel(false).0,
            }),
            link: None,
        });
    }
    let mut gateway = Gateway::new(Roster::new(guild_id), bus);
    if simulator.is_none() {
        // Only real Discord outlives this process; an embedded simulator's sessions die with it.
        gateway =
            gateway.with_session_store(SessionStore::new(store.clone(), &settings.token, &config.gateway));
    }
    let state = gateway.state();
    let gateway_down_since = gateway.down_since();
    let roster_source = gateway.roster_source();
    tasks.add("gateway", async move {
        if let Err(err) = gateway::supervise(settings, InMemoryQueue::default(), gateway, shutdown).await {
            tracing::error!(error = %err, "the Discord gateway has stopped");
        }
    });
    Ok(DiscordLink {
        guild_id,
        gateway: state,
        gateway_down_since,
        roster_source: Some(roster_source),
        rest,
        simulator,
        holder: None,
        link: None,
    })
}

/// The HMAC hub when `HUB_SECRET` is set, on the roles that serve viewers; its replay cache is in
/// Redis when the deployment has one, so every instance refuses a request another accepted.
fn hub_for(config: &Config, guild_id: GuildId, redis: Option<&Redis>) -> Option<backend::hub::Hub> {
    if config.cluster.role == backend::config::Role::Gateway {
        return None;
    }
    let secret = config.link.hub_secret.as_ref()?;
    let replay = redis.map_or_else(backend::hub::ReplayCache::memory, |redis| {
        backend::hub::ReplayCache::redis(redis.clone())
    });
    Some(backend::hub::Hub::new(secret, guild_id, replay))
}

/// Sign-in against the simulator's OAuth2 endpoints when it is embedded, else the configured ones.
/// Discord redirects back to `VITE_BASE_URL` when set, else to the address the server listens on.
fn oauth_client(
    config: &Config,
    simulator: Option<&SimHandle>,
    ip: std::net::IpAddr,
    port: u16,
) -> Result<DiscordOAuth, StartupError> {
    let base = match &config.public_base_url {
        Some(url) => url.clone(),
        None => Url::parse(&format!("http://{ip}:{port}")).map_err(OAuthError::from)?,
    };
    let redirect_url = base.join("/auth/callback").map_err(OAuthError::from)?;
    let settings = if let Some(simulator) = simulator {
        let endpoints = simulator.endpoints();
        let url = |text: &str| Url::parse(text).map_err(OAuthError::from);
        OAuthSettings {
            client_id: endpoints.client_id,
            client_secret: endpoints.client_secret.into(),
            authorize_url: url(&endpoints.oauth_authorize_url)?,
            token_url: url(&endpoints.oauth_token_url)?,
            revoke_url: url(&endpoints.oauth_revoke_url)?,
            api_base: url(&endpoints.api_base)?,
            redirect_url,
        }
    } else {
        let discord = &config.discord;
        OAuthSettings {
            // Config validation requires both whenever real Discord is configured.
            client_id: discord.client_id.clone().unwrap_or_default(),
            client_secret: discord
                .client_secret
                .clone()
                .unwrap_or_else(|| SecretString::from(String::new())),
            authorize_url: discord.oauth_authorize_url.clone(),
            token_url: discord.oauth_token_url.clone(),
            revoke_url: discord.oauth_revoke_url.clone(),
            api_base: discord.api_base.clone(),
            redirect_url,
        }
    };
    Ok(DiscordOAuth::new(settings)?)
}

/// HTTP-only, SameSite=Lax session cookies kept (encrypted) in the app's database; `Secure` in
/// production. Also returns the store, for the sweeper.
async fn session_layer(
    config: &Config,
    store: &Store,
) -> Result<(SessionManagerLayer<SessionBackend>, SessionBackend), StartupError> {
    let backend = SessionBackend::new(store, SessionKeys::for_config(config)?).await?;
    let layer = SessionManagerLayer::new(backend.clone())
        .with_name("spell_coven_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.environment == Environment::Production)
        .with_expiry(Expiry::OnInactivity(session::SIGNED_IN_LIFETIME));
    Ok((layer, backend))
}

/// The span of one request names its route template (`/invite/{token}`), never the URI itself:
/// paths carry invite tokens and query strings carry OAuth2 codes, and neither may reach a log.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", MatchedPath::as_str);
    tracing::debug_span!(
        "request",
        method = %request.method(),
        route,
        version = ?request.version()
    )
}

/// One plain (non-Leptos) route: the router is built from a list of these, and the same list
/// tells [`route_table`] what exists, so a route cannot be served without being listed.
struct Endpoint {
    method: Method,
    path: &'static str,
    handler: MethodRouter<AppState>,
}

impl Endpoint {
    fn new<H, T>(method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a method axum can route");
        Self {
            method,
            path,
            handler: on(filter, handler),
        }
    }
}

/// The operational and sign-in routes (pages and server functions are Leptos').
fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::GET, "/health", health),
        Endpoint::new(Method::GET, "/api/health", health),
        Endpoint::new(Method::GET, "/health/live", health::live),
        Endpoint::new(Method::GET, "/health/ready", health::ready),
        Endpoint::new(Method::GET, "/api/stream", stream),
        Endpoint::new(Method::POST, hub::PATH, hub::events),
        Endpoint::new(Method::GET, "/api/me", auth::me),
        Endpoint::new(Method::GET, "/auth/login", auth::login),
        Endpoint::new(Method::GET, "/auth/callback", auth::callback),
        Endpoint::new(Method::POST, "/auth/logout", auth::logout),
    ]
}

/// Every route the server answers, as `(method, path)`: the plain endpoints, the Leptos pages
/// (`/game/:channel_id` style paths) and every registered server function. The authorisation
/// matrix test is built from this, so a new route without an expectation fails it.
pub fn route_table() -> Vec<(Method, String)> {
    let mut table: Vec<(Method, String)> = endpoints()
        .into_iter()
        .map(|endpoint| (endpoint.method, endpoint.path.to_owned()))
        .collect();
    table.extend(
        generate_route_list(App)
            .iter()
            .map(|route| (Method::GET, route.path().to_owned())),
    );
    table.extend(leptos::server_fn::axum::server_fn_paths().map(|(path, method)| (method, path.to_owned())));
    table.sort_by(|(a_method, a_path), (b_method, b_path)| {
        (a_path, a_method.as_str()).cmp(&(b_path, b_method.as_str()))
    });
    table.dedup();
    table
}

/// A handler that panics answers 500 (`AppError::Internal`, the panic logged) instead of
/// dropping the connection; the layers outside (security headers, tracing) still apply to it.
fn catch_panics<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(CatchPanicLayer::custom(
        |panic: Box<dyn std::any::Any + Send + 'static>| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %message, "a request handler panicked");
            axum::response::IntoResponse::into_response(crate::error::HttpError(
                model::error::AppError::Internal,
            ))
        },
    ))
}

/// What answers a path no route knows: the site's static file of that name (see [`assets`]),
/// else the app's 404 page.
async fn static_file_or_not_found(State(state): State<AppState>, request: Request) -> Response {
    // The file service gets what it needs to choose an encoding and revalidate; the request
    // itself (with the nonce and session in its extensions) is kept for the 404 page.
    let mut probe = Request::new(Body::empty());
    *probe.method_mut() = request.method().clone();
    *probe.uri_mut() = request.uri().clone();
    *probe.headers_mut() = request.headers().clone();
    if let Some(file) = assets::serve_file(&state.leptos_options, probe).await {
        return file;
    }
    let not_found = file_and_error_handler_with_context::<AppState, _>(headers::provide_nonce, shell);
    not_found(request.uri().clone(), State(state), request).await
}

/// The whole HTTP surface: operational routes, then the Leptos pages, then static files and the
/// 404 page for everything else.
fn router(state: AppState, sessions: SessionManagerLayer<SessionBackend>, guards: Guards) -> Router {
    let routes = generate_route_list(App);
    let unguarded = endpoints()
        .into_iter()
        // Without `HUB_SECRET` the hub is not mounted: its path is any unknown path's 404.
        .filter(|endpoint| endpoint.path != hub::PATH || state.hub.is_some())
        .fold(Router::new(), |router, endpoint| {
            router.route(endpoint.path, endpoint.handler)
        })
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let simulator = state.simulator.clone().map(DevSimulator);
                let guild = SiteGuild(state.guild_id);
                let services = RoomServices {
                    rooms: state.rooms.clone(),
                    table: state.table.clone(),
                    limiter: state.limiter.clone(),
                    taps: state.taps.clone(),
                    oauth: state.oauth.clone(),
                };
                move || {
                    headers::provide_nonce();
                    provide_context(guild);
                    provide_context(services.clone());
                    if let Some(simulator) = simulator.clone() {
                        provide_context(simulator);
                    }
                }
            },
            {
                let options = state.leptos_options.clone();
                move || shell(options.clone())
            },
        )
        .fallback(static_file_or_not_found)
        .layer(axum::middleware::from_fn(server_fn_status::status_from_app_error))
        .layer(sessions);
    let unguarded = catch_panics(unguarded);
    // Outside the sessions (a refused request never loads or creates one), inside the tracing.
    guards
        .around(unguarded)
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request, routing::get};
    use tower::ServiceExt as _;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_app_error() {
        async fn boom() -> &'static str {
            panic!("a bug in a handler")
        }
        let router = catch_panics(
            Router::new()
                .route("/boom", get(boom))
                .route("/fine", get(|| async { "ok" })),
        );
        let response = router
            .clone()
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        let body = String::from_utf8_lossy(&body);
        assert_eq!(body, r#"{"error":"internal"}"#);
        assert!(!body.contains("a bug"), "the panic stays in the log: {body}");
        let response = router
            .oneshot(Request::get("/fine").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "the router keeps serving");
    }
}
