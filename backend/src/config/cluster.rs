//! `ROLE` and the settings of split deployments (DESIGN.md §4.5): which part of the product this
//! process runs, and what the roles share through Redis.

use std::time::Duration;

use super::{DatabaseConfig, DiscordConfig, LinkConfig, Reader};

/// What this process runs (`ROLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Everything in one process: the embedded default and small deployments.
    #[default]
    All,
    /// The Discord connection (when it holds the lease), the link web instances command it over,
    /// the janitor and the reconciler. Holds the bot token.
    Gateway,
    /// Pages, sign-in, server functions and viewers' streams; Discord only through the link.
    Web,
}

impl Role {
    /// As `ROLE` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Gateway => "gateway",
            Self::Web => "web",
        }
    }

    /// A split role: one of several processes sharing Redis and PostgreSQL.
    pub fn is_split(self) -> bool {
        self != Self::All
    }
}

/// What the roles share through Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `ROLE`: `all` (default), `gateway` or `web`.
    pub role: Role,
    /// `REDIS_NAMESPACE`: the prefix of every Redis key, so deployments can share a server.
    pub redis_namespace: String,
    /// `LEASE_TTL_SECS`: how long the gateway holder's lease lasts without renewal. A standby
    /// takes over at most this long (plus one poll, a third of it) after the holder dies.
    pub lease_ttl: Duration,
    /// `EVENT_STREAM_MAX_LEN`: about how many events the Redis Stream keeps; a viewer further
    /// behind than that gets a snapshot instead of a replay.
    pub stream_max_len: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            role: Role::All,
            redis_namespace: crate::cluster::DEFAULT_NAMESPACE.to_owned(),
            lease_ttl: Duration::from_secs(10),
            stream_max_len: 100_000,
        }
    }
}

/// The link token is a shared secret over the network: in production, at least this long.
pub const MIN_LINK_TOKEN_LEN: usize = 32;

impl ClusterConfig {
    pub(super) fn read(reader: &mut Reader<'_>) -> Self {
        let default = Self::default();
        let role = reader.parse("ROLE", default.role, |text| match text {
            "all" => Ok(Role::All),
            "gateway" => Ok(Role::Gateway),
            "web" => Ok(Role::Web),
            _ => Err("must be `all`, `gateway` or `web`".to_owned()),
        });
        let redis_namespace = reader.parse("REDIS_NAMESPACE", default.redis_namespace, |text| {
            let fine = !text.is_empty()
                && text.len() <= 64
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-' | '.'));
            if fine {
                Ok(text.to_owned())
            } else {
                Err("must be 1 to 64 letters, digits, `:`, `_`, `-` or `.`".to_owned())
            }
        });
        let lease_ttl = reader.parse("LEASE_TTL_SECS", default.lease_ttl, |text| {
            text.parse::<u64>()
                .ok()
                .filter(|n| (2..=60).contains(n))
                .map(Duration::from_secs)
                .ok_or_else(|| "must be a whole number of seconds from 2 to 60".to_owned())
        });
        let stream_max_len = reader.parse("EVENT_STREAM_MAX_LEN", default.stream_max_len, |text| {
            text.parse::<u64>()
                .ok()
                .filter(|n| (1_000..=10_000_000).contains(n))
                .ok_or_else(|| "must be a whole number from 1000 to 10000000".to_owned())
        });
        Self {
            role,
            redis_namespace,
            lease_ttl,
            stream_max_len,
        }
    }
}

/// Everything a role needs is set, and nothing that contradicts it (and the hub's secret is long
/// enough in production): split roles share Redis and
/// PostgreSQL; only the gateway role holds the bot token; only the web role links to a gateway.
pub(super) fn check_role(
    reader: &mut Reader<'_>,
    role: Role,
    database: &DatabaseConfig,
    discord: &DiscordConfig,
    link: &LinkConfig,
    redis_url_set: bool,
    production: bool,
) {
    let name = role.as_str();
    let min_hub_secret = super::MIN_SESSION_SECRET_LEN;
    if production
        && let Some(secret) = &link.hub_secret
        && secrecy::ExposeSecret::expose_secret(secret).len() < min_hub_secret
    {
        reader.problem(
            "HUB_SECRET",
            &format!("must be at least {min_hub_secret} characters long when APP_ENV=production"),
        );
    }
    if role.is_split() {
        if !redis_url_set && !reader.vars.contains_key("REDIS_URL") {
            reader.problem("REDIS_URL", &format!("is required when ROLE={name}"));
        }
        if !matches!(database, DatabaseConfig::Postgres { .. }) {
            reader.problem(
                "DATABASE_URL",
                &format!("must be a postgres:// URL when ROLE={name}: the roles share one database, which SQLite cannot be"),
            );
        }
        match &link.token {
            None => reader.problem("LINK_TOKEN", &format!("is required when ROLE={name}")),
            Some(token)
                if production && secrecy::ExposeSecret::expose_secret(token).len() < MIN_LINK_TOKEN_LEN =>
            {
                reader.problem(
                    "LINK_TOKEN",
                    &format!("must be at least {MIN_LINK_TOKEN_LEN} characters long when APP_ENV=production"),
                );
            }
            Some(_) => {}
        }
    }
    match role {
        Role::Gateway => {
            if !discord.uses_real_discord() && !reader.vars.contains_key("DISCORD_BOT_TOKEN") {
                reader.problem(
                    "DISCORD_BOT_TOKEN",
                    "is required when ROLE=gateway (point DISCORD_API_BASE and DISCORD_GATEWAY_URL at a simulator to run without Discord)",
                );
            }
            if !link.gateway_ws_urls.is_empty() {
                reader.problem(
                    "GATEWAY_WS_URL",
                    "is for ROLE=web; the gateway serves the link on GATEWAY_WS_PORT",
                );
            }
        }
        Role::Web => check_web(reader, discord, link),
        Role::All => {
            for (variable, set) in [
                ("GATEWAY_WS_URL", !link.gateway_ws_urls.is_empty()),
                ("GATEWAY_WS_PORT", link.gateway_ws_port.is_some()),
            ] {
                if set {
                    reader.problem(
                        variable,
                        "only means something with ROLE=gateway or ROLE=web; ROLE is all",
                    );
                }
            }
        }
    }
}

/// A web instance reaches Discord only through the link, and signs players in itself.
fn check_web(reader: &mut Reader<'_>, discord: &DiscordConfig, link: &LinkConfig) {
    if discord.bot_token.is_some() {
        reader.problem(
            "DISCORD_BOT_TOKEN",
            "must not be set when ROLE=web: only the gateway role holds the bot token",
        );
    }
    if link.gateway_ws_urls.is_empty() && !reader.vars.contains_key("GATEWAY_WS_URL") {
        reader.problem(
            "GATEWAY_WS_URL",
            "is required when ROLE=web (e.g. ws://127.0.0.1:8080)",
        );
    }
    if link.gateway_ws_port.is_some() {
        reader.problem(
            "GATEWAY_WS_PORT",
            "is for ROLE=gateway; a web instance links with GATEWAY_WS_URL",
        );
    }
    let vars = reader.vars;
    if discord.guild_id.is_none()
        && !vars.contains_key("VITE_DISCORD_GUILD_ID")
        && !vars.contains_key("DISCORD_GUILD_ID")
    {
        reader.problem(
            "DISCORD_GUILD_ID",
            "is required when ROLE=web (or set VITE_DISCORD_GUILD_ID)",
        );
    }
    for (variable, set) in [
        (
            "DISCORD_CLIENT_ID",
            discord.client_id.is_some() || vars.contains_key("DISCORD_CLIENT_ID"),
        ),
        ("DISCORD_CLIENT_SECRET", discord.client_secret.is_some()),
    ] {
        if !set {
            reader.problem(variable, "is required when ROLE=web (sign-in with Discord)");
        }
    }
}
