//! Reading the environment: each variable parsed and checked, every problem recorded (not just the
//! first) so that a misconfigured deployment is fixed in one round.

use std::{collections::HashMap, path::PathBuf, time::Duration};

use model::ids::GuildId;
use secrecy::SecretString;
use url::Url;

use super::{
    ConfigProblem, DEFAULT_SQLITE_PATH, DISCORD_API_BASE, DISCORD_AUTHORIZE_URL, DISCORD_GATEWAY_URL,
    DISCORD_REVOKE_URL, DISCORD_TOKEN_URL, DatabaseConfig, DiscordConfig, Environment, LimitsConfig,
    MIN_SESSION_SECRET_LEN, checked_url,
};

/// Reads variables and records problems instead of stopping at the first.
pub(super) struct Reader<'a> {
    pub(super) vars: &'a HashMap<String, String>,
    pub(super) problems: Vec<ConfigProblem>,
}

impl Reader<'_> {
    pub(super) fn problem(&mut self, variable: &'static str, message: &str) {
        self.problems.push(ConfigProblem {
            variable,
            message: message.to_owned(),
        });
    }

    /// `SESSION_SECRET_PREVIOUS` is as long as `SESSION_SECRET` must be in production, and only
    /// means something next to the current secret it was rotated to.
    pub(super) fn check_previous_session_secret(
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

    pub(super) fn text(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(|value| value.trim().to_owned())
    }

    pub(super) fn secret(&self, name: &str) -> Option<SecretString> {
        self.text(name).map(SecretString::from)
    }

    pub(super) fn parse_opt<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.text(name)?;
        parse(&text).map_err(|message| self.problem(name, &message)).ok()
    }

    pub(super) fn parse<T>(
        &mut self,
        name: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        self.parse_opt(name, parse).unwrap_or(default)
    }

    /// A comma-separated list of URLs (empty when unset), each checked like [`Reader::url_opt`].
    pub(super) fn url_list(&mut self, name: &'static str, schemes: &[&str]) -> Vec<Url> {
        self.parse_opt(name, |text| {
            text.split(',')
                .map(|one| checked_url(one.trim(), schemes))
                .collect::<Result<Vec<Url>, String>>()
        })
        .unwrap_or_default()
    }

    pub(super) fn url_opt(&mut self, name: &'static str, schemes: &[&str]) -> Option<Url> {
        self.parse_opt(name, |text| checked_url(text, schemes))
    }

    /// A whole number that must be at least 1, such as a cap or a number of seconds.
    pub(super) fn positive<T>(&mut self, name: &'static str, default: T) -> T
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

    pub(super) fn limits(&mut self) -> LimitsConfig {
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

    pub(super) fn url(&mut self, name: &'static str, default: &str, schemes: &[&str]) -> Url {
        self.url_opt(name, schemes)
            .unwrap_or_else(|| Url::parse(default).expect("the built-in default URLs are valid"))
    }

    pub(super) fn database(&mut self) -> DatabaseConfig {
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
    pub(super) fn dev_open_stream(&mut self, environment: Environment, real_discord: bool) -> bool {
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
    pub(super) fn require_public_setup(
        &mut self,
        session_secret: Option<&str>,
        public_base_url: Option<&Url>,
    ) {
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
    pub(super) fn require_real_discord(&mut self, discord: &DiscordConfig) {
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

    pub(super) fn discord(&mut self) -> DiscordConfig {
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
