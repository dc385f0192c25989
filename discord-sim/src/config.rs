//! Settings of one simulator instance. Defaults are Discord's real numbers; tests shrink the
//! intervals and windows so nothing has to sleep for long.

use std::net::SocketAddr;
use std::time::Duration;

/// At most `count` events per sliding window `per`: the gateway's client send limit (Discord:
/// 120 per 60 s, else close 4008) and the optional REST bucket limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    /// Messages allowed in one window.
    pub count: u32,
    /// The sliding window.
    pub per: Duration,
}

/// Configuration for [`crate::DiscordSim::start`].
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free port.
    pub bind: SocketAddr,
    /// The bot token clients must present (with or without the `Bot ` prefix).
    pub bot_token: String,
    /// The bot's username.
    pub bot_name: String,
    /// OAuth2 client id; Discord uses the application id, which is the bot's user id.
    pub client_id: String,
    /// OAuth2 client secret.
    pub client_secret: String,
    /// Redirect URIs the OAuth2 app accepts; empty accepts any (handy for local dev).
    pub redirect_uris: Vec<String>,
    /// Bearer token for the `/_sim` control endpoint.
    pub control_token: String,
    /// `heartbeat_interval` sent in HELLO.
    pub heartbeat_interval: Duration,
    /// Close a connection with 4000 (session kept) when no heartbeat arrives for this long;
    /// `None` never does.
    pub heartbeat_timeout: Option<Duration>,
    /// After sending op 7, close with 4000 this long later if the client has not gone (Discord
    /// closes "a few seconds" after a RECONNECT); `None` never does.
    pub reconnect_close_after: Option<Duration>,
    /// Client send limit per connection; `None` disables it.
    pub send_limit: Option<RateWindow>,
    /// IDENTIFYs allowed before Discord resets the token and ends every session.
    pub identify_budget: u32,
    /// IDENTIFYs allowed per `identify_window` (Discord's `max_concurrency` per 5 s).
    pub max_concurrency: u32,
    /// The window `max_concurrency` applies to; zero disables the check.
    pub identify_window: Duration,
    /// How long a disconnected session stays resumable.
    pub session_ttl: Duration,
    /// Dispatches kept per session for replay on RESUME.
    pub replay_capacity: usize,
    /// Privileged intents the application has enabled (`GUILD_MEMBERS` 2, `GUILD_PRESENCES` 256,
    /// `MESSAGE_CONTENT` 32768); asking for any other privileged intent closes with 4014.
    pub privileged_intents: u64,
    /// The bot's guild permissions besides `@everyone`'s; add `ADMINISTRATOR` (8) to make it
    /// see every channel regardless of overwrites.
    pub bot_permissions: u64,
    /// Enforce a per-bucket REST limit (real 429s with `X-RateLimit-Scope: user`); `None`
    /// answers every request (faults can still inject 429s).
    pub rest_bucket_limit: Option<RateWindow>,
    /// Whether 2xx REST responses carry `X-RateLimit-Scope: user` (an open question about real
    /// Discord; twilight-http only learns buckets when it is present).
    pub ratelimit_scope_on_success: bool,
    /// Lifetime of OAuth2 access tokens, reported as `expires_in`.
    pub access_token_ttl: Duration,
    /// Lifetime of authorization codes.
    pub code_ttl: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            bot_token: "sim-bot-token".to_owned(),
            bot_name: "fakebot".to_owned(),
            client_id: crate::world::BOT_ID.to_string(),
            client_secret: "sim-client-secret".to_owned(),
            redirect_uris: Vec::new(),
            control_token: "sim-control-token".to_owned(),
            heartbeat_interval: Duration::from_millis(41_250),
            heartbeat_timeout: Some(Duration::from_millis(41_250 * 2)),
            reconnect_close_after: Some(Duration::from_secs(5)),
            send_limit: Some(RateWindow {
                count: 120,
                per: Duration::from_secs(60),
            }),
            identify_budget: 1000,
            max_concurrency: 1,
            identify_window: Duration::from_secs(5),
            session_ttl: Duration::from_secs(180),
            replay_capacity: 1000,
            privileged_intents: 0,
            ratelimit_scope_on_success: false,
            rest_bucket_limit: None,
            bot_permissions: crate::world::DEFAULT_BOT_PERMISSIONS,
            access_token_ttl: Duration::from_secs(604_800),
            code_ttl: Duration::from_secs(600),
        }
    }
}

impl SimConfig {
    /// Settings for fast tests: the given heartbeat interval (timeout twice that), no identify
    /// window, and the send limit scaled down to the interval.
    pub fn fast(heartbeat_interval: Duration) -> Self {
        Self {
            heartbeat_interval,
            heartbeat_timeout: Some(heartbeat_interval * 3),
            identify_window: Duration::ZERO,
            ..Self::default()
        }
    }
}
