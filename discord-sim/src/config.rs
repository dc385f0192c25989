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

/// Configuration for [`crate::DiscordSim::start`]. Its `Debug` hides the bot token, client secret
/// and control token, like every secret in the project, even though the defaults are fake.
#[derive(Clone)]
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

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const HIDDEN: &str = "[hidden]";
        f.debug_struct("SimConfig")
            .field("bind", &self.bind)
            .field("bot_token", &HIDDEN)
            .field("bot_name", &self.bot_name)
            .field("client_id", &self.client_id)
            .field("client_secret", &HIDDEN)
            .field("redirect_uris", &self.redirect_uris)
            .field("control_token", &HIDDEN)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("reconnect_close_after", &self.reconnect_close_after)
            .field("send_limit", &self.send_limit)
            .field("identify_budget", &self.identify_budget)
            .field("max_concurrency", &self.max_concurrency)
            .field("identify_window", &self.identify_window)
            .field("session_ttl", &self.session_ttl)
            .field("replay_capacity", &self.replay_capacity)
            .field("privileged_intents", &self.privileged_intents)
            .field("bot_permissions", &self.bot_permissions)
            .field("rest_bucket_limit", &self.rest_bucket_limit)
            .field("ratelimit_scope_on_success", &self.ratelimit_scope_on_success)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("code_ttl", &self.code_ttl)
            .finish()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_secrets() {
        let printed = format!("{:?}", SimConfig::default());
        for secret in ["sim-bot-token", "sim-client-secret", "sim-control-token"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("heartbeat_interval"));
    }
}
