//! The state every handler shares.

use axum::extract::FromRef;
use backend::{
    Store,
    bus::EventBus,
    config::LimitsConfig,
    discord::{gateway::GatewayState, oauth::DiscordOAuth},
    live::Live,
    rate_limit::RateLimiter,
    rooms::Rooms,
};
use discord_sim::SimHandle;
use leptos::config::LeptosOptions;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Cheap-clone handles only: each piece of mutable state has its own owner behind its handle.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    /// Site settings Leptos needs to render pages and serve `/pkg`.
    pub leptos_options: LeptosOptions,
    /// The database.
    pub store: Store,
    /// App events from their producer to the fan-out.
    pub bus: EventBus,
    /// The per-room fan-out behind `/api/stream`.
    pub live: Live,
    /// Cancelled at shutdown; long-lived responses (streams) end on it so shutdown is not held up.
    pub shutdown: CancellationToken,
    /// `DEV_OPEN_STREAM`: serve the stream without a session (development only).
    pub dev_open_stream: bool,
    /// Caps on streams and connections, and the stream write timeout.
    pub limits: LimitsConfig,
    /// The guild hosting the game rooms.
    pub guild_id: model::ids::GuildId,
    /// The gateway task's connection state.
    pub gateway: watch::Receiver<GatewayState>,
    /// Sign in with Discord.
    pub oauth: DiscordOAuth,
    /// Game rooms and invites.
    pub rooms: Rooms,
    /// Per-user request budgets for the server functions: in Redis when instances share one, so a
    /// user has one budget whichever instance serves them.
    pub limiter: RateLimiter,
    /// Per-user budgets for changes to the life totals (sized for tapping).
    #[from_ref(skip)]
    pub taps: RateLimiter,
    /// The rooms' life totals.
    pub table: backend::table::Table,
    /// The embedded Discord simulator, when no real Discord is configured.
    pub simulator: Option<SimHandle>,
    /// When the gateway stopped being connected (`None` while it is): readiness counts its grace
    /// period from here.
    pub gateway_down_since: watch::Receiver<Option<tokio::time::Instant>>,
    /// Readiness grace and the metrics listener's address.
    pub operations: backend::config::OperationsConfig,
    /// The background tasks' status: panics so far, and the failure the server is stopping for
    /// (for health and metrics).
    pub tasks: watch::Receiver<backend::supervisor::TaskStatus>,
    /// How many reconciler runs have finished (the first is at startup).
    pub reconciled: watch::Receiver<u64>,
    /// `REDIS_URL`'s server, when set (always in the split roles): where instances share the
    /// event Stream, rate limits, viewers and the hub's replay cache.
    pub redis: Option<backend::cluster::Redis>,
    /// The split roles' event Stream: where a viewer's missed events are replayed from when this
    /// instance's own log does not reach back to its `Last-Event-ID` (after a restart, say).
    pub stream: Option<backend::cluster::stream::EventStream>,
    /// The HMAC hub (`POST /api/internal/events`): `None` without `HUB_SECRET`, and on a gateway
    /// role (it serves no viewers), where the route answers 404.
    pub hub: Option<backend::hub::Hub>,
}

const _: fn() = || {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    assert_shareable::<AppState>();
};
