//! The one typed configuration, read once at startup from the environment and an optional `.env`.
//!
//! Every problem is collected (not just the first) and reported with the variable's name, so a
//! misconfigured deployment is fixed in one round. Secrets are [`SecretString`]s and never print.
//! This is the only place that reads process variables (`std::env::var` is banned elsewhere by
//! `clippy.toml`).

use std::{collections::HashMap, fmt, net::IpAddr, num::NonZeroU32, path::PathBuf, time::Duration};

use ipnet::IpNet;

use model::ids::GuildId;
use secrecy::SecretString;

mod cluster;
mod reader;

pub use cluster::{ClusterConfig, MIN_LINK_TOKEN_LEN, Role};
use reader::Reader;
use url::Url;

/// Where the server runs; production turns on the strict checks (secure cookies, required secrets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Local development and tests (the default).
    Development,
    /// A real deployment.
    Production,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines for a terminal (the default).
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logging settings.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `LOG_FORMAT`: `human` or `json`.
    pub format: LogFormat,
    /// `RUST_LOG`: an `EnvFilter` directive; validated by the telemetry setup that parses it.
    pub filter: String,
}

/// Which database the store uses.
#[derive(Debug, Clone)]
pub enum DatabaseConfig {
    /// The embedded default: a SQLite file, created on first run.
    Sqlite {
        /// `SQLITE_PATH`, or the path of a `sqlite://` `DATABASE_URL`.
        path: PathBuf,
    },
    /// `DATABASE_URL=postgres://…`, for deployments with several instances.
    Postgres {
        /// The full URL; secret because it usually carries a password.
        url: SecretString,
    },
}

/// Discord's endpoints and the app's credentials.
///
/// Every URL defaults to Discord's own; the embedded simulator (and tests) replace them, which is
/// the one seam that makes running without Discord possible.
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// `DISCORD_BOT_TOKEN`. Absent means the embedded simulator is the Discord the app talks to.
    pub bot_token: Option<SecretString>,
    /// `VITE_DISCORD_GUILD_ID` or `DISCORD_GUILD_ID`: the guild that hosts the game rooms.
    pub guild_id: Option<GuildId>,
    /// `DISCORD_CLIENT_ID`: the OAuth2 application.
    pub client_id: Option<String>,
    /// `DISCORD_CLIENT_SECRET`.
    pub client_secret: Option<SecretString>,
    /// `DISCORD_API_BASE`: REST base, up to and including `/api/v10`.
    pub api_base: Url,
    /// `DISCORD_GATEWAY_URL`: the gateway WebSocket.
    pub gateway_url: Url,
    /// `DISCORD_OAUTH_AUTHORIZE_URL`: the consent page users are sent to.
    pub oauth_authorize_url: Url,
    /// `DISCORD_OAUTH_TOKEN_URL`: code and refresh exchanges.
    pub oauth_token_url: Url,
    /// `DISCORD_OAUTH_REVOKE_URL`: token revocation at logout.
    pub oauth_revoke_url: Url,
}

impl DiscordConfig {
    /// True when real Discord credentials are configured; otherwise the server embeds the simulator.
    pub fn uses_real_discord(&self) -> bool {
        self.bot_token.is_some()
    }
}

/// The split-deployment link between a gateway role and web roles (DESIGN.md §4.5).
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// `LINK_TOKEN`: the bearer token web roles present to the gateway role.
    pub token: Option<SecretString>,
    /// `GATEWAY_WS_PORT`: where a gateway role serves the link (8080 when unset; 0 picks a free
    /// port, which the log names).
    pub gateway_ws_port: Option<u16>,
    /// `GATEWAY_WS_URL`: where a web role finds the gateway processes, comma-separated. Any of
    /// them serves the link (a standby too); a web instance that loses one links to the next.
    pub gateway_ws_urls: Vec<Url>,
    /// `HUB_SECRET`: HMAC key of `POST /api/internal/events`.
    pub hub_secret: Option<SecretString>,
}

/// Limits that keep one client from taking the server down (DESIGN.md §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// `MAX_STREAMS_PER_USER`: live streams one signed-in user may hold open at once; the next
    /// is answered 429. A browser needs one per open room tab.
    pub max_streams_per_user: usize,
    /// `MAX_CONNECTIONS`: connections served at once; beyond it a new connection gets a short
    /// 503 and is closed. Keep it below the process's file-descriptor limit.
    pub max_connections: usize,
    /// `STREAM_WRITE_TIMEOUT_SECS`: how long one write to a stream may wait for a client that
    /// has stopped reading before the stream is dropped.
    pub stream_write_timeout: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_streams_per_user: 8,
            max_connections: 10_000,
            stream_write_timeout: Duration::from_secs(30),
        }
    }
}

/// Everything the server needs to start. Built once by [`Config::from_env`].
#[derive(Debug, Clone)]
pub struct Config {
    /// `APP_ENV`: `development` (default) or `production`.
    pub environment: Environment,
    /// Logging.
    pub log: LogConfig,
    /// Persistence.
    pub database: DatabaseConfig,
    /// Discord.
    pub discord: DiscordConfig,
    /// Gateway/web split.
    pub link: LinkConfig,
    /// `ROLE`, and what the roles share through Redis.
    pub cluster: ClusterConfig,
    /// `SESSION_SECRET`: the key material session records are encrypted with (the Discord tokens
    /// in them above all); required in production. Without it, development keeps a random key in
    /// a file (see `session::keys`).
    pub session_secret: Option<SecretString>,
    /// `SESSION_SECRET_PREVIOUS`: the secret before the last rotation. Records it encrypted still
    /// open, and are re-encrypted under `SESSION_SECRET` when read, so rotating signs nobody out.
    pub session_secret_previous: Option<SecretString>,
    /// `VITE_BASE_URL`: the public URL of the site (OAuth redirect and invite links are built on it).
    pub public_base_url: Option<Url>,
    /// `REDIS_URL`: the event bus and lock for multi-instance deployments.
    pub redis_url: Option<SecretString>,
    /// `DEV_OPEN_STREAM`: lets `GET /api/stream` also serve viewers who are not signed in. A
    /// development aid for the embedded simulator: on by default there, off by default and refused
    /// in production and whenever a bot token points the app at a real guild.
    pub dev_open_stream: bool,
    /// Per-user and per-process caps on streams and connections.
    pub limits: LimitsConfig,
    /// Per-IP budgets on the routes anyone can reach without signing in.
    pub ip_budget: IpBudgetConfig,
    /// What operators watch: readiness and metrics.
    pub operations: OperationsConfig,
    /// Keeping the gateway session across restarts, and reconnecting.
    pub gateway: GatewayConfig,
    /// How often the reconciler runs and how long it leaves a creation in flight alone.
    pub reconcile: ReconcileConfig,
    /// `SHUTDOWN_DEADLINE_SECS`: how long a graceful shutdown may take, from the signal to the
    /// process ending. Streams are told to reconnect, requests in flight finish and background
    /// tasks stop (the gateway saving its session) within it; whatever is still running then (a
    /// stuck connection, a hung request, a slow task) is dropped.
    pub shutdown_deadline: Duration,
}

/// Health and metrics for operators (DESIGN.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationsConfig {
    /// `READY_GRACE_SECS`: how long `/health/ready` answers 200 `degraded` while the gateway is
    /// reconnecting, counted from when it stopped being connected; beyond it, 503. A reconnect
    /// normally takes seconds, and taking an instance out of rotation for one would only move its
    /// viewers onto another instance with the same outage.
    pub ready_grace: Duration,
    /// `METRICS_ADDR`: where Prometheus metrics are served (`GET /metrics`), on a listener of
    /// their own so they never share the public site's address. Unset: no metrics listener.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl OperationsConfig {
    /// `READY_GRACE_SECS` when unset.
    pub const DEFAULT_READY_GRACE: Duration = Duration::from_secs(30);
    /// The longest grace accepted: beyond an hour a dead gateway would look ready for too long.
    const MAX_READY_GRACE_SECS: u64 = 3600;

    fn read(reader: &mut Reader<'_>) -> Self {
        Self {
            ready_grace: reader.parse("READY_GRACE_SECS", Self::DEFAULT_READY_GRACE, |text| {
                text.parse::<u64>()
                    .ok()
                    .filter(|secs| *secs <= Self::MAX_READY_GRACE_SECS)
                    .map(Duration::from_secs)
                    .ok_or_else(|| {
                        format!(
                            "must be a whole number of seconds from 0 to {}",
                            Self::MAX_READY_GRACE_SECS
                        )
                    })
            }),
            metrics_addr: reader.parse_opt("METRICS_ADDR", |text| {
                text.parse().map_err(|_| {
                    "must be an IP address and port to listen on, such as 127.0.0.1:9100".to_owned()
                })
            }),
        }
    }
}

/// `SHUTDOWN_DEADLINE_SECS` when unset: within the 30 s most service managers wait before a
/// SIGKILL, and ample for streams to hear the reconnect hint.
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// Per-IP request budgets on the anonymous routes (`/auth/login`, `/auth/callback`,
/// `/invite/{token}`): what one address may ask of the server (and, through sign-in, of Discord)
/// before it has an account to be limited by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpBudgetConfig {
    /// `IP_RATE_BURST`: requests one address may make at once.
    pub burst: NonZeroU32,
    /// `IP_RATE_PER_MINUTE`: requests regained per minute once the burst is spent.
    pub per_minute: NonZeroU32,
    /// `TRUSTED_PROXIES`: peers (IPs or CIDRs) whose `X-Forwarded-For` names the client. From
    /// anyone else the header is ignored, since a client can write whatever it likes there.
    pub trusted_proxies: Vec<IpNet>,
}

impl IpBudgetConfig {
    /// `IP_RATE_BURST` when unset: enough for a household behind one address to open invites and
    /// sign in together (three requests each).
    pub const DEFAULT_BURST: u32 = 30;
    /// `IP_RATE_PER_MINUTE` when unset.
    pub const DEFAULT_PER_MINUTE: u32 = 30;
    /// The largest value either number may take; beyond it the budget is no limit at all.
    const MAX: u32 = 1_000_000;

    /// Whether `peer` is a configured proxy.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }

    fn read(reader: &mut Reader<'_>) -> Self {
        let count = |text: &str| {
            text.parse::<u32>()
                .ok()
                .filter(|n| *n <= Self::MAX)
                .and_then(NonZeroU32::new)
                .ok_or_else(|| format!("must be a whole number from 1 to {}", Self::MAX))
        };
        let default = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self {
            burst: reader.parse("IP_RATE_BURST", default(Self::DEFAULT_BURST), count),
            per_minute: reader.parse("IP_RATE_PER_MINUTE", default(Self::DEFAULT_PER_MINUTE), count),
            trusted_proxies: reader
                .parse_opt("TRUSTED_PROXIES", |text| {
                    text.split(',')
                        .map(str::trim)
                        .filter(|entry| !entry.is_empty())
                        .map(|entry| {
                            entry
                                .parse::<IpNet>()
                                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                                .map_err(|_| format!("`{entry}` is not an IP address or CIDR range"))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// The Discord gateway: how its session is kept across restarts and how fast it reconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayConfig {
    /// `GATEWAY_SAVE_EVERY_SECS`: the session and roster are saved at least this often while
    /// events arrive (sooner after a roster change), so even a crash resumes.
    pub save_every: Duration,
    /// `GATEWAY_RESUME_MAX_AGE_SECS`: a saved session older than this is not resumed (Discord
    /// keeps a disconnected session only a few minutes); the app identifies afresh instead.
    pub resume_max_age: Duration,
    /// `GATEWAY_RECONNECT_MAX_SECS`: the longest wait between reconnect attempts (jittered
    /// exponential backoff up to it), so the app is back soon after Discord answers again.
    pub reconnect_max: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            save_every: Duration::from_secs(5),
            resume_max_age: Duration::from_secs(300),
            reconnect_max: Duration::from_secs(15),
        }
    }
}

impl GatewayConfig {
    fn read(reader: &mut Reader<'_>) -> Self {
        let default = Self::default();
        let mut seconds = |name: &'static str, default: Duration, max: u64| {
            Duration::from_secs(reader.parse(name, default.as_secs(), |text| {
                text.parse::<u64>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| format!("must be a whole number of seconds from 1 to {max}"))
            }))
        };
        Self {
            save_every: seconds("GATEWAY_SAVE_EVERY_SECS", default.save_every, 3600),
            resume_max_age: seconds("GATEWAY_RESUME_MAX_AGE_SECS", default.resume_max_age, 86_400),
            reconnect_max: seconds("GATEWAY_RECONNECT_MAX_SECS", default.reconnect_max, 300),
        }
    }
}

/// The background upkeep of rooms: the reconciler (`rooms::reconciler`) — how often it compares
/// the database with Discord, and how old an unfinished creation or an orphan channel must be
/// before it is undone — and how often the janitor (`rooms::janitor`) sweeps idle rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileConfig {
    /// `RECONCILE_EVERY_SECS`: the time between two runs (the first is at startup).
    pub every: Duration,
    /// `RECONCILE_GRACE_SECS`: a room creation younger than this may still be running, so neither
    /// it nor its channel is touched. Longer than any one creation can take (Discord calls have a
    /// 10 s deadline).
    pub grace: Duration,
    /// `JANITOR_SWEEP_SECS`: the time between two janitor sweeps (the first is at startup, and at
    /// every new lease holder's start).
    pub janitor_every: Duration,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(60),
            grace: Duration::from_secs(120),
            janitor_every: crate::rooms::janitor::SWEEP_EVERY,
        }
    }
}

impl ReconcileConfig {
    /// The shortest grace accepted: a creation makes two Discord calls with a 10 s deadline each.
    const MIN_GRACE_SECS: u64 = 30;

    fn read(reader: &mut Reader<'_>) -> Self {
        let default = Self::default();
        let every = reader.parse("RECONCILE_EVERY_SECS", default.every, |text| {
            text.parse::<u64>()
                .ok()
                .filter(|n| (1..=86_400).contains(n))
                .map(Duration::from_secs)
                .ok_or_else(|| "must be a whole number of seconds from 1 to 86400".to_owned())
        });
        let grace = reader.parse("RECONCILE_GRACE_SECS", default.grace, |text| {
            text.parse::<u64>()
                .ok()
                .filter(|n| (Self::MIN_GRACE_SECS..=86_400).contains(n))
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    format!(
                        "must be a whole number of seconds from {} to 86400",
                        Self::MIN_GRACE_SECS
                    )
                })
        });
        let janitor_every = reader.parse("JANITOR_SWEEP_SECS", default.janitor_every, |text| {
            text.parse::<u64>()
                .ok()
                .filter(|n| (1..=3_600).contains(n))
                .map(Duration::from_secs)
                .ok_or_else(|| "must be a whole number of seconds from 1 to 3600".to_owned())
        });
        Self {
            every,
            grace,
            janitor_every,
        }
    }
}

/// One thing wrong with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The variable's name, as the operator would set it.
    pub variable: &'static str,
    /// What is wrong, without echoing a secret value.
    pub message: String,
}

/// Every problem found in the configuration; startup stops with this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// At least one problem, in the order the variables are read.
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration")?;
        for problem in &self.problems {
            write!(f, "\n  - {}: {}", problem.variable, problem.message)?;
        }
        Ok(())
    }
}

const DEFAULT_SQLITE_PATH: &str = "spell-coven.db";
const DISCORD_API_BASE: &str = "https://discord.com/api/v10";
const DISCORD_GATEWAY_URL: &str = "wss://gateway.discord.gg";
const DISCORD_AUTHORIZE_URL: &str = "https://discord.com/oauth2/authorize";
const DISCORD_TOKEN_URL: &str = "https://discord.com/api/v10/oauth2/token";
const DISCORD_REVOKE_URL: &str = "https://discord.com/api/v10/oauth2/token/revoke";
/// A session key shorter than this is guessable; production refuses it.
pub(crate) const MIN_SESSION_SECRET_LEN: usize = 64;

impl Config {
    /// Reads the process environment, with a `.env` file in the working directory underneath it
    /// (a variable set in the process wins over the file).
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut vars = HashMap::new();
        let mut problems = Vec::new();
        match dotenvy::dotenv_iter() {
            Ok(entries) => {
                for entry in entries {
                    match entry {
                        Ok((key, value)) => {
                            vars.insert(key, value);
                        }
                        Err(err) => problems.push(ConfigProblem {
                            variable: ".env",
                            message: format!("cannot be read: {err}"),
                        }),
                    }
                }
            }
            Err(err) if err.not_found() => {}
            Err(err) => problems.push(ConfigProblem {
                variable: ".env",
                message: format!("cannot be read: {err}"),
            }),
        }
        vars.extend(std::env::vars());
        let mut config = Self::from_vars(vars);
        if let Err(err) = &mut config {
            problems.append(&mut err.problems);
            err.problems = problems;
        } else if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        config
    }

    /// Builds the configuration from explicit variables (what [`Config::from_env`] gathers); tests
    /// call this directly. Empty values count as unset, as they do in most `.env` files.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .collect();
        let mut reader = Reader {
            vars: &vars,
            problems: Vec::new(),
        };

        let environment = reader.parse("APP_ENV", Environment::Development, |text| match text {
            "development" | "dev" => Ok(Environment::Development),
            "production" | "prod" => Ok(Environment::Production),
            _ => Err("must be `development` or `production`".to_owned()),
        });
        let log = LogConfig {
            format: reader.parse("LOG_FORMAT", LogFormat::Human, |text| match text {
                "human" | "pretty" | "text" => Ok(LogFormat::Human),
                "json" => Ok(LogFormat::Json),
                _ => Err("must be `human` or `json`".to_owned()),
            }),
            filter: reader.text("RUST_LOG").unwrap_or_else(|| "info".to_owned()),
        };
        let database = reader.database();
        let discord = reader.discord();
        let link = LinkConfig {
            token: reader.secret("LINK_TOKEN"),
            gateway_ws_port: reader.parse_opt("GATEWAY_WS_PORT", |text| {
                text.parse::<u16>()
                    .map_err(|_| "must be a port number from 0 to 65535".to_owned())
            }),
            gateway_ws_urls: reader.url_list("GATEWAY_WS_URL", &["ws", "wss"]),
            hub_secret: reader.secret("HUB_SECRET"),
        };
        // Kept as text until its length is checked, then wrapped.
        let session_secret = reader.text("SESSION_SECRET");
        let session_secret_previous = reader.text("SESSION_SECRET_PREVIOUS");
        let public_base_url = reader.url_opt("VITE_BASE_URL", &["http", "https"]);
        let redis_url = reader.text("REDIS_URL").map(|text| {
            match Url::parse(&text) {
                Ok(url) if matches!(url.scheme(), "redis" | "rediss") => {}
                _ => reader.problem("REDIS_URL", "must be a redis:// or rediss:// URL"),
            }
            SecretString::from(text)
        });

        let cluster = ClusterConfig::read(&mut reader);
        cluster::check_role(
            &mut reader,
            cluster.role,
            &database,
            &discord,
            &link,
            redis_url.is_some(),
            environment == Environment::Production,
        );

        // A web instance reaches a real guild through the link, as if it held the token itself.
        let real_discord = discord.uses_real_discord() || cluster.role == Role::Web;
        let dev_open_stream = reader.dev_open_stream(environment, real_discord);
        let limits = reader.limits();

        let ip_budget = IpBudgetConfig::read(&mut reader);
        let operations = OperationsConfig::read(&mut reader);
        let gateway = GatewayConfig::read(&mut reader);
        let reconcile = ReconcileConfig::read(&mut reader);
        let shutdown_deadline = Duration::from_secs(
            reader.positive("SHUTDOWN_DEADLINE_SECS", DEFAULT_SHUTDOWN_DEADLINE.as_secs()),
        );

        if environment == Environment::Production {
            if dev_open_stream {
                reader.problem("DEV_OPEN_STREAM", "must not be enabled when APP_ENV=production");
            }
            if cluster.role != Role::Web {
                reader.require_real_discord(&discord);
            }
            reader.require_public_setup(session_secret.as_deref(), public_base_url.as_ref());
        }

        reader.check_previous_session_secret(
            environment,
            session_secret.as_deref(),
            session_secret_previous.as_deref(),
        );

        if !reader.problems.is_empty() {
            return Err(ConfigError {
                problems: reader.problems,
            });
        }
        Ok(Self {
            environment,
            log,
            database,
            discord,
            link,
            cluster,
            session_secret: session_secret.map(SecretString::from),
            session_secret_previous: session_secret_previous.map(SecretString::from),
            public_base_url,
            redis_url,
            dev_open_stream,
            limits,
            ip_budget,
            operations,
            gateway,
            reconcile,
            shutdown_deadline,
        })
    }
}

/// `text` as a URL with one of `schemes` and a host.
fn checked_url(text: &str, schemes: &[&str]) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|err| format!("is not a valid URL ({err})"))?;
    if !schemes.contains(&url.scheme()) {
        let expected: Vec<String> = schemes.iter().map(|scheme| format!("{scheme}://")).collect();
        return Err(format!("must start with {}", expected.join(" or ")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".to_owned());
    }
    Ok(url)
}

#[cfg(test)]
mod tests;
