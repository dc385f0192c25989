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
