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

pub use cluster::{ClusterConfig, MIN_LINK_TOKEN_LEN, Role};
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

/// Reads variables and records problems instead of stopping at the first.
struct Reader<'a> {
    vars: &'a HashMap<String, String>,
    problems: Vec<ConfigProblem>,
}

impl Reader<'_> {
    fn problem(&mut self, variable: &'static str, message: &str) {
        self.problems.push(ConfigProblem {
            variable,
            message: message.to_owned(),
        });
    }

    /// `SESSION_SECRET_PREVIOUS` is as long as `SESSION_SECRET` must be in production, and only
    /// means something next to the current secret it was rotated to.
    fn check_previous_session_secret(
        &mut self,
        environment: Environment,
        current: Option<&str>,
        previous: Option<&str>,
    ) {
        let Some(previous) = previous else { return };
        if current.is_none() {
            self.problem(
                "SESSION_SECRET_PREVIOUS",
                "is only used together with SESSION_SECRET (the secret it was rotated to)",
            );
        } else if environment == Environment::Production && previous.len() < MIN_SESSION_SECRET_LEN {
            self.problem(
                "SESSION_SECRET_PREVIOUS",
                &format!("must be at least {MIN_SESSION_SECRET_LEN} characters long"),
            );
        }
    }

    fn text(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(|value| value.trim().to_owned())
    }

    fn secret(&self, name: &str) -> Option<SecretString> {
        self.text(name).map(SecretString::from)
    }

    fn parse_opt<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.text(name)?;
        parse(&text).map_err(|message| self.problem(name, &message)).ok()
    }

    fn parse<T>(
        &mut self,
        name: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        self.parse_opt(name, parse).unwrap_or(default)
    }

    /// A comma-separated list of URLs (empty when unset), each checked like [`Reader::url_opt`].
    fn url_list(&mut self, name: &'static str, schemes: &[&str]) -> Vec<Url> {
        self.parse_opt(name, |text| {
            text.split(',')
                .map(|one| checked_url(one.trim(), schemes))
                .collect::<Result<Vec<Url>, String>>()
        })
        .unwrap_or_default()
    }

    fn url_opt(&mut self, name: &'static str, schemes: &[&str]) -> Option<Url> {
        self.parse_opt(name, |text| checked_url(text, schemes))
    }

    /// A whole number that must be at least 1, such as a cap or a number of seconds.
    fn positive<T>(&mut self, name: &'static str, default: T) -> T
    where
        T: std::str::FromStr + PartialOrd + Default,
    {
        self.parse(name, default, |text| {
            text.parse::<T>()
                .ok()
                .filter(|number| *number > T::default())
                .ok_or_else(|| "must be a whole number of at least 1".to_owned())
        })
    }

    fn limits(&mut self) -> LimitsConfig {
        let default = LimitsConfig::default();
        LimitsConfig {
            max_streams_per_user: self.positive("MAX_STREAMS_PER_USER", default.max_streams_per_user),
            max_connections: self.positive("MAX_CONNECTIONS", default.max_connections),
            stream_write_timeout: Duration::from_secs(self.positive(
                "STREAM_WRITE_TIMEOUT_SECS",
                default.stream_write_timeout.as_secs(),
            )),
        }
    }

    fn url(&mut self, name: &'static str, default: &str, schemes: &[&str]) -> Url {
        self.url_opt(name, schemes)
            .unwrap_or_else(|| Url::parse(default).expect("the built-in default URLs are valid"))
    }

    fn database(&mut self) -> DatabaseConfig {
        let sqlite_default = || DatabaseConfig::Sqlite {
            path: PathBuf::from(DEFAULT_SQLITE_PATH),
        };
        let Some(text) = self.text("DATABASE_URL") else {
            return DatabaseConfig::Sqlite {
                path: self
                    .text("SQLITE_PATH")
                    .map_or_else(|| PathBuf::from(DEFAULT_SQLITE_PATH), PathBuf::from),
            };
        };
        // The URL usually holds a password, so no message below repeats it.
        if let Some(path) = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
        {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                self.problem(
                    "DATABASE_URL",
                    "a sqlite URL must name a file, e.g. sqlite://spell-coven.db",
                );
                return sqlite_default();
            }
            return DatabaseConfig::Sqlite {
                path: PathBuf::from(path),
            };
        }
        match Url::parse(&text) {
            Ok(url) if matches!(url.scheme(), "postgres" | "postgresql") => {
                if url.host_str().is_none_or(str::is_empty) {
                    self.problem(
                        "DATABASE_URL",
                        "a postgres URL must name a host, e.g. postgres://user@localhost/db",
                    );
                }
                DatabaseConfig::Postgres {
                    url: SecretString::from(text),
                }
            }
            Ok(url) => {
                let scheme = url.scheme().to_owned();
                self.problem(
                    "DATABASE_URL",
                    &format!("unsupported scheme `{scheme}`: use postgres:// or sqlite://"),
                );
                sqlite_default()
            }
            Err(err) => {
                self.problem(
                    "DATABASE_URL",
                    &format!("is not a valid URL ({err}); expected postgres://… or sqlite://…"),
                );
                sqlite_default()
            }
        }
    }

    /// `DEV_OPEN_STREAM`. Open only where it can do no harm: the embedded simulator's made-up
    /// guild in development. With a bot token the guild is real, so the switch stays off whatever
    /// `APP_ENV` says, and turning it on is refused (production refuses it on its own).
    fn dev_open_stream(&mut self, environment: Environment, real_discord: bool) -> bool {
        let open = self.parse(
            "DEV_OPEN_STREAM",
            environment == Environment::Development && !real_discord,
            |text| match text {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err("must be `true` or `false`".to_owned()),
            },
        );
        if open && real_discord && environment == Environment::Development {
            self.problem(
                "DEV_OPEN_STREAM",
                "must not be enabled when DISCORD_BOT_TOKEN is set (real Discord)",
            );
        }
        open
    }

    /// Production needs a long session secret and a public https URL.
    fn require_public_setup(&mut self, session_secret: Option<&str>, public_base_url: Option<&Url>) {
        match session_secret {
            None => self.problem("SESSION_SECRET", "is required when APP_ENV=production"),
            Some(secret) if secret.len() < MIN_SESSION_SECRET_LEN => self.problem(
                "SESSION_SECRET",
                &format!("must be at least {MIN_SESSION_SECRET_LEN} characters long"),
            ),
            Some(_) => {}
        }
        match public_base_url {
            Some(url) if url.scheme() != "https" => {
                self.problem("VITE_BASE_URL", "must be an https:// URL when APP_ENV=production");
            }
            // A set-but-invalid value was reported where it was read.
            None if !self.vars.contains_key("VITE_BASE_URL") => self.problem(
                "VITE_BASE_URL",
                "is required when APP_ENV=production: the public https:// URL of the site",
            ),
            _ => {}
        }
    }

    /// Production never falls back to the embedded simulator: its consent page signs anyone in as
    /// anyone, and its development aids would be live. Names every missing piece of the real setup.
    fn require_real_discord(&mut self, discord: &DiscordConfig) {
        if discord.uses_real_discord() {
            // `discord()` already named what a bot token needs alongside it.
            return;
        }
        self.problem(
            "DISCORD_BOT_TOKEN",
            "is required when APP_ENV=production (without it the server would start the embedded Discord simulator)",
        );
        let vars = self.vars;
        let set = |name: &str| vars.contains_key(name);
        if !set("VITE_DISCORD_GUILD_ID") && !set("DISCORD_GUILD_ID") {
            self.problem(
                "DISCORD_GUILD_ID",
                "is required when APP_ENV=production (or set VITE_DISCORD_GUILD_ID)",
            );
        }
        for name in ["DISCORD_CLIENT_ID", "DISCORD_CLIENT_SECRET"] {
            if !set(name) {
                self.problem(name, "is required when APP_ENV=production");
            }
        }
    }

    fn discord(&mut self) -> DiscordConfig {
        let parse_guild = |text: &str| text.parse::<GuildId>().map_err(|err| err.to_string());
        let guild_id = self
            .parse_opt("VITE_DISCORD_GUILD_ID", parse_guild)
            .or_else(|| self.parse_opt("DISCORD_GUILD_ID", parse_guild));
        let web = &["http", "https"];
        let config = DiscordConfig {
            bot_token: self.secret("DISCORD_BOT_TOKEN"),
            guild_id,
            client_id: self.parse_opt("DISCORD_CLIENT_ID", |text| {
                model::ids::parse_snowflake(text)
                    .map(|_| text.to_owned())
                    .map_err(|err| err.to_string())
            }),
            client_secret: self.secret("DISCORD_CLIENT_SECRET"),
            api_base: self.url("DISCORD_API_BASE", DISCORD_API_BASE, web),
            gateway_url: self.url("DISCORD_GATEWAY_URL", DISCORD_GATEWAY_URL, &["ws", "wss"]),
            oauth_authorize_url: self.url("DISCORD_OAUTH_AUTHORIZE_URL", DISCORD_AUTHORIZE_URL, web),
            oauth_token_url: self.url("DISCORD_OAUTH_TOKEN_URL", DISCORD_TOKEN_URL, web),
            oauth_revoke_url: self.url("DISCORD_OAUTH_REVOKE_URL", DISCORD_REVOKE_URL, web),
        };
        // A bot token alone is not enough to run against real Discord: name what else is missing.
        if config.uses_real_discord() {
            // A set-but-invalid variable was reported above; only report the ones left unset.
            let vars = self.vars;
            let set = |name: &str| vars.contains_key(name);
            if config.guild_id.is_none() && !set("VITE_DISCORD_GUILD_ID") && !set("DISCORD_GUILD_ID") {
                self.problem(
                    "DISCORD_GUILD_ID",
                    "is required when DISCORD_BOT_TOKEN is set (or set VITE_DISCORD_GUILD_ID)",
                );
            }
            if config.client_id.is_none() && !set("DISCORD_CLIENT_ID") {
                self.problem("DISCORD_CLIENT_ID", "is required when DISCORD_BOT_TOKEN is set");
            }
            if config.client_secret.is_none() {
                self.problem(
                    "DISCORD_CLIENT_SECRET",
                    "is required when DISCORD_BOT_TOKEN is set",
                );
            }
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
    }

    fn problems(vars: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        config(vars)
            .expect_err("configuration should be rejected")
            .problems
            .into_iter()
            .map(|problem| (problem.variable, problem.message))
            .collect()
    }

    fn names(problems: &[(&'static str, String)]) -> Vec<&'static str> {
        problems.iter().map(|(variable, _)| *variable).collect()
    }

    const PG: (&str, &str) = ("DATABASE_URL", "postgres://localhost/app");
    const REDIS: (&str, &str) = ("REDIS_URL", "redis://127.0.0.1:6379");
    const LINK: (&str, &str) = ("LINK_TOKEN", "a-link-token");

    #[test]
    fn the_default_role_is_all_and_needs_nothing_new() {
        let config = config(&[]).unwrap();
        assert_eq!(config.cluster, ClusterConfig::default());
        assert_eq!(config.cluster.role, Role::All);
        assert_eq!(config.cluster.lease_ttl, Duration::from_secs(10));
        assert_eq!(names(&problems(&[("ROLE", "both")])), ["ROLE"]);
    }

    #[test]
    fn split_roles_name_what_they_miss_and_refuse_sqlite() {
        for role in ["gateway", "web"] {
            let found = problems(&[("ROLE", role)]);
            for variable in ["REDIS_URL", "DATABASE_URL", "LINK_TOKEN"] {
                assert!(names(&found).contains(&variable), "{role}: {found:?}");
            }
            let sqlite = problems(&[("ROLE", role), ("DATABASE_URL", "sqlite://x.db"), REDIS, LINK]);
            assert!(
                sqlite
                    .iter()
                    .any(|(variable, message)| *variable == "DATABASE_URL" && message.contains("SQLite")),
                "{role}: {sqlite:?}"
            );
        }
    }

    #[test]
    fn only_the_gateway_role_holds_the_bot_token() {
        let gateway = [
            ("ROLE", "gateway"),
            PG,
            REDIS,
            LINK,
            ("DISCORD_BOT_TOKEN", "bot"),
            ("DISCORD_GUILD_ID", "2"),
            ("DISCORD_CLIENT_ID", "3"),
            ("DISCORD_CLIENT_SECRET", "s"),
            ("GATEWAY_WS_PORT", "8080"),
        ];
        assert_eq!(config(&gateway).unwrap().cluster.role, Role::Gateway);
        assert_eq!(names(&problems(&gateway[..4])), ["DISCORD_BOT_TOKEN"]);

        let web = [
            ("ROLE", "web"),
            PG,
            REDIS,
            LINK,
            ("DISCORD_GUILD_ID", "2"),
            ("DISCORD_CLIENT_ID", "3"),
            ("DISCORD_CLIENT_SECRET", "s"),
            ("GATEWAY_WS_URL", "ws://127.0.0.1:8080"),
        ];
        let mut several = web.to_vec();
        several[7] = ("GATEWAY_WS_URL", "ws://10.0.0.1:8080, ws://10.0.0.2:8080");
        assert_eq!(config(&several).unwrap().link.gateway_ws_urls.len(), 2);
        several[7] = ("GATEWAY_WS_URL", "ws://10.0.0.1:8080,http://10.0.0.2");
        assert_eq!(names(&problems(&several)), ["GATEWAY_WS_URL"]);
        assert!(
            !config(&web).unwrap().dev_open_stream,
            "a web instance serves a real guild"
        );
        let mut with_token = web.to_vec();
        with_token.push(("DISCORD_BOT_TOKEN", "bot"));
        assert_eq!(names(&problems(&with_token)), ["DISCORD_BOT_TOKEN"]);
        assert_eq!(
            names(&problems(&web[..4])),
            [
                "GATEWAY_WS_URL",
                "DISCORD_GUILD_ID",
                "DISCORD_CLIENT_ID",
                "DISCORD_CLIENT_SECRET"
            ]
        );
    }

    #[test]
    fn link_settings_of_another_role_are_contradictions() {
        assert_eq!(
            names(&problems(&[("GATEWAY_WS_URL", "ws://127.0.0.1:8080")])),
            ["GATEWAY_WS_URL"]
        );
        assert_eq!(
            names(&problems(&[("GATEWAY_WS_PORT", "8080")])),
            ["GATEWAY_WS_PORT"]
        );
        for (variable, value) in [
            ("LEASE_TTL_SECS", "1"),
            ("LEASE_TTL_SECS", "61"),
            ("REDIS_NAMESPACE", "a b"),
            ("EVENT_STREAM_MAX_LEN", "10"),
        ] {
            assert_eq!(names(&problems(&[(variable, value)])), [variable], "{value}");
        }
    }

    #[test]
    fn no_variables_give_the_embedded_default() {
        let config = config(&[]).unwrap();
        assert_eq!(config.environment, Environment::Development);
        assert_eq!(config.log.format, LogFormat::Human);
        assert!(
            matches!(config.database, DatabaseConfig::Sqlite { ref path } if path == &PathBuf::from("spell-coven.db"))
        );
        assert!(!config.discord.uses_real_discord());
        assert_eq!(config.discord.api_base.as_str(), "https://discord.com/api/v10");
        assert_eq!(config.discord.gateway_url.as_str(), "wss://gateway.discord.gg/");
    }

    #[test]
    fn malformed_database_url_names_the_variable_without_echoing_it() {
        let found = problems(&[("DATABASE_URL", "postgres//user:hunter2@db")]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "DATABASE_URL");
        assert!(found[0].1.contains("not a valid URL"), "{}", found[0].1);
        assert!(!found[0].1.contains("hunter2"));

        let found = problems(&[("DATABASE_URL", "mysql://root:hunter2@db/app")]);
        assert_eq!(found[0].0, "DATABASE_URL");
        assert!(found[0].1.contains("unsupported scheme `mysql`"));
    }

    #[test]
    fn database_url_selects_the_engine() {
        let config = config(&[("DATABASE_URL", "postgres://app:pw@127.0.0.1:5432/app")]).unwrap();
        assert!(
            matches!(config.database, DatabaseConfig::Postgres { ref url } if url.expose_secret().ends_with("/app"))
        );
        let config = config_ok(&[("DATABASE_URL", "sqlite://data/app.db?mode=rwc")]);
        assert!(
            matches!(config.database, DatabaseConfig::Sqlite { ref path } if path == &PathBuf::from("data/app.db"))
        );
        let config = config_ok(&[("SQLITE_PATH", "/tmp/x.db")]);
        assert!(
            matches!(config.database, DatabaseConfig::Sqlite { ref path } if path == &PathBuf::from("/tmp/x.db"))
        );
    }

    fn config_ok(vars: &[(&str, &str)]) -> Config {
        config(vars).unwrap()
    }

    #[test]
    fn unknown_log_format_is_rejected() {
        assert_eq!(
            problems(&[("LOG_FORMAT", "xml")]),
            vec![("LOG_FORMAT", "must be `human` or `json`".to_owned())]
        );
        assert_eq!(config_ok(&[("LOG_FORMAT", "json")]).log.format, LogFormat::Json);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let found = problems(&[
            ("LOG_FORMAT", "xml"),
            ("APP_ENV", "staging"),
            ("DISCORD_GUILD_ID", "abc"),
            ("DISCORD_API_BASE", "ftp://example.com"),
            ("GATEWAY_WS_PORT", "70000"),
        ]);
        let names: Vec<_> = found.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "APP_ENV",
                "LOG_FORMAT",
                "DISCORD_GUILD_ID",
                "DISCORD_API_BASE",
                "GATEWAY_WS_PORT"
            ]
        );
    }

    #[test]
    fn a_bot_token_requires_the_rest_of_the_discord_setup() {
        let found = problems(&[("DISCORD_BOT_TOKEN", "Bot secret-token")]);
        let names: Vec<_> = found.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            ["DISCORD_GUILD_ID", "DISCORD_CLIENT_ID", "DISCORD_CLIENT_SECRET"]
        );

        let config = config_ok(&[
            ("DISCORD_BOT_TOKEN", "secret-token"),
            ("VITE_DISCORD_GUILD_ID", "2000000000000000001"),
            ("DISCORD_CLIENT_ID", "1000000000000000001"),
            ("DISCORD_CLIENT_SECRET", "shh"),
        ]);
        assert!(config.discord.uses_real_discord());
        assert_eq!(
            config.discord.guild_id.map(GuildId::get),
            Some(2_000_000_000_000_000_001)
        );
    }

    /// A complete real-Discord setup, for tests that vary one thing.
    const REAL_DISCORD: [(&str, &str); 4] = [
        ("DISCORD_BOT_TOKEN", "secret-token"),
        ("DISCORD_GUILD_ID", "2000000000000000001"),
        ("DISCORD_CLIENT_ID", "1000000000000000001"),
        ("DISCORD_CLIENT_SECRET", "shh"),
    ];

    fn production(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let mut vars = vec![
            ("APP_ENV", "production"),
            ("SESSION_SECRET", SECRET),
            ("VITE_BASE_URL", "https://play.example.com"),
        ];
        vars.extend(REAL_DISCORD);
        vars.retain(|(name, _)| !extra.iter().any(|(other, _)| other == name));
        vars.extend(extra.iter().filter(|(_, value)| !value.is_empty()));
        vars
    }

    #[test]
    fn production_requires_a_long_session_secret_and_https() {
        let found = problems(&production(&[
            ("VITE_BASE_URL", "http://example.com"),
            ("SESSION_SECRET", ""),
        ]));
        let names: Vec<_> = found.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["SESSION_SECRET", "VITE_BASE_URL"]);
        let short = problems(&production(&[("SESSION_SECRET", "short")]));
        assert!(short[0].1.contains("at least 64"));
        assert!(config_ok(&production(&[])).discord.uses_real_discord());
    }

    #[test]
    fn production_never_falls_back_to_the_embedded_simulator() {
        // Nothing but APP_ENV: every missing piece is named, so one round fixes the deployment.
        let found = problems(&[("APP_ENV", "production")]);
        let names: Vec<_> = found.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "DISCORD_BOT_TOKEN",
                "DISCORD_GUILD_ID",
                "DISCORD_CLIENT_ID",
                "DISCORD_CLIENT_SECRET",
                "SESSION_SECRET",
                "VITE_BASE_URL"
            ]
        );
        assert!(
            found[0].1.contains("embedded Discord simulator"),
            "says why: {}",
            found[0].1
        );
        // Each one alone is refused too.
        for (missing, _) in REAL_DISCORD.iter().chain(&[("VITE_BASE_URL", "")]) {
            let found = problems(&production(&[(missing, "")]));
            assert_eq!(found.len(), 1, "{missing}: {found:?}");
            assert_eq!(found[0].0, *missing);
        }
    }

    #[test]
    fn the_previous_session_secret_is_optional_long_in_production_and_needs_a_current_one() {
        const PREVIOUS: &str = "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp";
        assert!(config_ok(&[]).session_secret_previous.is_none());
        let previous = PREVIOUS;
        let config = config_ok(&production(&[("SESSION_SECRET_PREVIOUS", PREVIOUS)]));
        assert_eq!(
            config
                .session_secret_previous
                .as_ref()
                .map(ExposeSecret::expose_secret),
            Some(previous)
        );

        let short = problems(&production(&[("SESSION_SECRET_PREVIOUS", "short")]));
        assert_eq!(
            short,
            vec![(
                "SESSION_SECRET_PREVIOUS",
                "must be at least 64 characters long".to_owned()
            )]
        );
        // Development takes any length, but not a previous secret without a current one.
        assert!(
            config_ok(&[("SESSION_SECRET", "dev"), ("SESSION_SECRET_PREVIOUS", "old")])
                .session_secret_previous
                .is_some()
        );
        let alone = problems(&[("SESSION_SECRET_PREVIOUS", "old")]);
        assert_eq!(alone.len(), 1);
        assert_eq!(alone[0].0, "SESSION_SECRET_PREVIOUS");
        assert!(alone[0].1.contains("SESSION_SECRET"), "{}", alone[0].1);
    }

    #[test]
    fn the_open_stream_switch_is_a_development_aid_only() {
        assert!(config_ok(&[]).dev_open_stream);
        assert!(!config_ok(&[("DEV_OPEN_STREAM", "false")]).dev_open_stream);
        assert!(
            !config_ok(&production(&[])).dev_open_stream,
            "off by default in production"
        );
        let found = problems(&production(&[("DEV_OPEN_STREAM", "true")]));
        assert_eq!(
            found,
            vec![(
                "DEV_OPEN_STREAM",
                "must not be enabled when APP_ENV=production".to_owned()
            )]
        );
    }

    #[test]
    fn real_discord_never_opens_the_stream_whatever_app_env_says() {
        // A real-Discord deployment that forgot APP_ENV: the roster of every voice channel in the
        // guild must not be open to anyone.
        assert!(!config_ok(&REAL_DISCORD).dev_open_stream);
        let mut open = REAL_DISCORD.to_vec();
        open.push(("DEV_OPEN_STREAM", "true"));
        assert_eq!(
            problems(&open),
            vec![(
                "DEV_OPEN_STREAM",
                "must not be enabled when DISCORD_BOT_TOKEN is set (real Discord)".to_owned()
            )]
        );
        open.pop();
        open.push(("DEV_OPEN_STREAM", "false"));
        assert!(!config_ok(&open).dev_open_stream);
    }

    #[test]
    fn limits_default_to_generous_caps_and_accept_positive_whole_numbers() {
        assert_eq!(config_ok(&[]).limits, LimitsConfig::default());
        assert_eq!(
            LimitsConfig::default(),
            LimitsConfig {
                max_streams_per_user: 8,
                max_connections: 10_000,
                stream_write_timeout: Duration::from_secs(30),
            }
        );
        let limits = config_ok(&[
            ("MAX_STREAMS_PER_USER", "2"),
            ("MAX_CONNECTIONS", "50000"),
            ("STREAM_WRITE_TIMEOUT_SECS", "1"),
        ])
        .limits;
        assert_eq!(
            limits,
            LimitsConfig {
                max_streams_per_user: 2,
                max_connections: 50_000,
                stream_write_timeout: Duration::from_secs(1),
            }
        );
    }

    #[test]
    fn limits_that_are_not_positive_whole_numbers_are_named() {
        let found = problems(&[
            ("MAX_STREAMS_PER_USER", "0"),
            ("MAX_CONNECTIONS", "-5"),
            ("STREAM_WRITE_TIMEOUT_SECS", "1.5"),
        ]);
        let expected = "must be a whole number of at least 1".to_owned();
        assert_eq!(
            found,
            vec![
                ("MAX_STREAMS_PER_USER", expected.clone()),
                ("MAX_CONNECTIONS", expected.clone()),
                ("STREAM_WRITE_TIMEOUT_SECS", expected),
            ]
        );
        assert_eq!(problems(&[("MAX_CONNECTIONS", "many")])[0].0, "MAX_CONNECTIONS");
    }

    #[test]
    fn the_shutdown_deadline_defaults_to_ten_seconds_and_must_be_positive() {
        assert_eq!(config_ok(&[]).shutdown_deadline, Duration::from_secs(10));
        assert_eq!(
            config_ok(&[("SHUTDOWN_DEADLINE_SECS", "2")]).shutdown_deadline,
            Duration::from_secs(2)
        );
        for bad in ["0", "-1", "1.5", "soon"] {
            assert_eq!(
                problems(&[("SHUTDOWN_DEADLINE_SECS", bad)]),
                vec![(
                    "SHUTDOWN_DEADLINE_SECS",
                    "must be a whole number of at least 1".to_owned()
                )],
                "{bad}"
            );
        }
    }

    #[test]
    fn secrets_never_print() {
        let config = config_ok(&[
            ("DISCORD_BOT_TOKEN", "very-secret-token"),
            ("DISCORD_GUILD_ID", "2000000000000000001"),
            ("DISCORD_CLIENT_ID", "1000000000000000001"),
            ("DISCORD_CLIENT_SECRET", "very-secret-client"),
            ("DATABASE_URL", "postgres://app:very-secret-pw@db/app"),
            ("SESSION_SECRET", "very-secret-session"),
            ("SESSION_SECRET_PREVIOUS", "very-secret-previous"),
        ]);
        let printed = format!("{config:?}");
        assert!(!printed.contains("very-secret"), "{printed}");
    }

    #[test]
    fn error_message_lists_one_line_per_problem() {
        let err = config(&[("LOG_FORMAT", "xml"), ("DATABASE_URL", "nope")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration\n  - LOG_FORMAT: must be `human` or `json`\n  - DATABASE_URL: is not a valid URL (relative URL without a base); expected postgres://… or sqlite://…"
        );
    }

    #[test]
    fn ip_budgets_default_and_validate() {
        let budget = config_ok(&[]).ip_budget;
        assert_eq!(budget.burst.get(), IpBudgetConfig::DEFAULT_BURST);
        assert_eq!(budget.per_minute.get(), IpBudgetConfig::DEFAULT_PER_MINUTE);
        assert!(
            budget.trusted_proxies.is_empty(),
            "no proxy is trusted unless named"
        );
        assert!(!budget.trusts("127.0.0.1".parse().unwrap()));

        let budget = config_ok(&[
            ("IP_RATE_BURST", "5"),
            ("IP_RATE_PER_MINUTE", "12"),
            ("TRUSTED_PROXIES", " 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32"),
        ])
        .ip_budget;
        assert_eq!((budget.burst.get(), budget.per_minute.get()), (5, 12));
        for (address, trusted) in [
            ("10.1.2.3", true),
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("2001:db8::1", true),
            ("2001:db9::1", false),
        ] {
            assert_eq!(budget.trusts(address.parse().unwrap()), trusted, "{address}");
        }

        let found = problems(&[
            ("IP_RATE_BURST", "0"),
            ("IP_RATE_PER_MINUTE", "lots"),
            ("TRUSTED_PROXIES", "10.0.0.1, proxy.internal"),
        ]);
        assert_eq!(
            found,
            vec![
                (
                    "IP_RATE_BURST",
                    "must be a whole number from 1 to 1000000".to_owned()
                ),
                (
                    "IP_RATE_PER_MINUTE",
                    "must be a whole number from 1 to 1000000".to_owned()
                ),
                (
                    "TRUSTED_PROXIES",
                    "`proxy.internal` is not an IP address or CIDR range".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn operations_default_to_a_30_s_grace_and_no_metrics_listener() {
        let config = config_ok(&[]);
        assert_eq!(config.operations.ready_grace, Duration::from_secs(30));
        assert_eq!(config.operations.metrics_addr, None);
        let config = config_ok(&[("READY_GRACE_SECS", "0"), ("METRICS_ADDR", "127.0.0.1:9100")]);
        assert_eq!(config.operations.ready_grace, Duration::ZERO);
        assert_eq!(
            config.operations.metrics_addr,
            Some("127.0.0.1:9100".parse().unwrap())
        );
        assert_eq!(
            problems(&[("READY_GRACE_SECS", "-1"), ("METRICS_ADDR", "localhost")]),
            vec![
                (
                    "READY_GRACE_SECS",
                    "must be a whole number of seconds from 0 to 3600".to_owned()
                ),
                (
                    "METRICS_ADDR",
                    "must be an IP address and port to listen on, such as 127.0.0.1:9100".to_owned()
                ),
            ]
        );
        assert_eq!(
            problems(&[("READY_GRACE_SECS", "3601")]).len(),
            1,
            "an hour at most"
        );
    }

    #[test]
    fn reconciler_settings_default_and_validate() {
        assert_eq!(
            config_ok(&[]).reconcile,
            ReconcileConfig {
                every: Duration::from_secs(60),
                grace: Duration::from_secs(120),
                janitor_every: Duration::from_secs(60),
            }
        );
        let reconcile = config_ok(&[
            ("RECONCILE_EVERY_SECS", "5"),
            ("RECONCILE_GRACE_SECS", "30"),
            ("JANITOR_SWEEP_SECS", "1"),
        ])
        .reconcile;
        assert_eq!(
            (reconcile.every, reconcile.grace, reconcile.janitor_every),
            (
                Duration::from_secs(5),
                Duration::from_secs(30),
                Duration::from_secs(1)
            )
        );
        let found = problems(&[
            ("RECONCILE_EVERY_SECS", "0"),
            ("RECONCILE_GRACE_SECS", "10"),
            ("JANITOR_SWEEP_SECS", "3601"),
        ]);
        assert_eq!(
            found.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
            [
                "RECONCILE_EVERY_SECS",
                "RECONCILE_GRACE_SECS",
                "JANITOR_SWEEP_SECS"
            ]
        );
        assert!(found[1].1.contains("from 30"), "{}", found[1].1);
    }

    #[test]
    fn gateway_settings_default_and_validate() {
        assert_eq!(config_ok(&[]).gateway, GatewayConfig::default());
        assert_eq!(
            GatewayConfig::default(),
            GatewayConfig {
                save_every: Duration::from_secs(5),
                resume_max_age: Duration::from_secs(300),
                reconnect_max: Duration::from_secs(15),
            }
        );
        let gateway = config_ok(&[
            ("GATEWAY_SAVE_EVERY_SECS", "1"),
            ("GATEWAY_RESUME_MAX_AGE_SECS", "600"),
            ("GATEWAY_RECONNECT_MAX_SECS", "30"),
        ])
        .gateway;
        assert_eq!(
            (gateway.save_every, gateway.resume_max_age, gateway.reconnect_max),
            (
                Duration::from_secs(1),
                Duration::from_secs(600),
                Duration::from_secs(30)
            )
        );
        let found = problems(&[
            ("GATEWAY_SAVE_EVERY_SECS", "0"),
            ("GATEWAY_RESUME_MAX_AGE_SECS", "soon"),
            ("GATEWAY_RECONNECT_MAX_SECS", "301"),
        ]);
        assert_eq!(
            found,
            vec![
                (
                    "GATEWAY_SAVE_EVERY_SECS",
                    "must be a whole number of seconds from 1 to 3600".to_owned()
                ),
                (
                    "GATEWAY_RESUME_MAX_AGE_SECS",
                    "must be a whole number of seconds from 1 to 86400".to_owned()
                ),
                (
                    "GATEWAY_RECONNECT_MAX_SECS",
                    "must be a whole number of seconds from 1 to 300".to_owned()
                ),
            ]
        );
    }
}
