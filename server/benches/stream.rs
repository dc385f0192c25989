//! Benchmark of the live roster path, in one process and split into roles.
//!
//! ```text
//! cargo bench -p server --bench stream [-- --clients 100 --rate 1000 --seconds 10 --streams 10000
//!     --phases latency,split,failover,capacity,life --failover-rate 200 --failover-seconds 15
//!     --kill-after 3 --lease-ttl 2 --postgres postgres://postgres@127.0.0.1:5432/test --no-pin
//!     --life-rate 8 --life-seconds 10 --life-viewers 8]
//! ```
//!
//! The Discord simulator runs in this process and stands in for Discord; the server is the real
//! release binary in child processes, configured as for real Discord with the simulator's URLs,
//! with the stream's development switch off. A player signs in through the simulator's OAuth2
//! consent page and creates a game room; every client is authenticated by that player's session
//! cookie, so each stream pays for the session lookup and the membership check.
//!
//! Every injected event is one voice join or leave of a user of its own (each user joins once and
//! leaves once per phase), so a viewer knows exactly which injected event each frame is: latency
//! is measured from the moment the simulator emitted it to the moment the client parsed it, and
//! missed, duplicated and out-of-order events are counted, not assumed away.
//!
//! Phases (`--phases`, all by default):
//!
//! 1. **latency**: one process (`ROLE=all`, SQLite); `--clients` streams on one room while events
//!    are injected at `--rate`/s for `--seconds`.
//! 2. **split**: the same load through the split roles — two gateway processes (one holds the
//!    lease, one stands by) and two web instances on a fresh PostgreSQL database and a Redis
//!    namespace of their own: gateway → Redis Stream → web → SSE, the viewers spread evenly over
//!    both web instances. Printed next to the one-process figures as one table.
//! 3. **failover**: viewers on both web instances, events at `--failover-rate`/s for
//!    `--failover-seconds`; `--kill-after` seconds in, the lease holder gets `SIGKILL`. Measured: the
//!    time until the standby's `/health` says it holds the lease and is CONNECTED, the largest gap
//!    between consecutive events at a viewer, and whether every viewer still received every event
//!    exactly once, in order.
//! 4. **capacity**: one process again; `--streams` concurrent streams are opened and held; the
//!    server's resident memory before and after gives the memory per stream. A short burst of
//!    events must then reach every stream (errors = streams that failed or missed one).
//!
//! CPU: every server process and `redis-server` run on core 0 (`taskset -c 0` for the children,
//! `taskset -apc 0` for Redis, whose affinity is restored at exit), this process — the clients and
//! the simulator — on core 1. Each process's CPU during a phase is its utime + stime delta from
//! `/proc/<pid>/stat` over the phase's wall time, in % of one core: which side saturates shows.
//!
//! 5. **life**: one process; four seated players each tap their life total (`--life-rate` changes
//!    a second each, for `--life-seconds`) through the `change_life` server function while
//!    `--life-viewers` streams watch the room: the latency from each server function's answer to
//!    each viewer's arrival of that change (see `stream/life.rs`).
//!
//! Results are printed as tables; nothing is asserted (speed is measured, not tested).

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![allow(clippy::unwrap_used, reason = "a benchmark fails loudly on setup errors")]
#![allow(clippy::cast_precision_loss, reason = "reporting ratios of counts")]

use std::{
    collections::HashMap,
    fmt::Write as _,
    future::Future,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use cpu::{CpuMeter, CpuUse, Pinning, SERVER_CORE, TASKSET};
use discord_sim::{DiscordSim, SimConfig, SimHandle, Snowflake};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::{Child, Command},
    sync::Barrier,
};

/// The issue's goal: p99 at most this at 100 viewers × 1,000 events/s across instances.
const GOAL_P99: Duration = Duration::from_millis(10);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Latency,
    Split,
    Failover,
    Capacity,
    Life,
}

struct Options {
    clients: usize,
    rate: u64,
    seconds: u64,
    streams: usize,
    phases: Vec<Phase>,
    failover_rate: u64,
    failover_seconds: u64,
    kill_after: u64,
    lease_ttl: u64,
    postgres: String,
    /// `--no-pin`: leave every process free to use both cores (to tell core 0's saturation apart
    /// from the pipeline's own latency).
    pin: bool,
    life: life::LifeOptions,
}

impl Options {
    fn parse() -> Self {
        let mut options = Self {
            clients: 100,
            rate: 1000,
            seconds: 10,
            streams: 10_000,
            phases: vec![
                Phase::Latency,
                Phase::Split,
                Phase::Failover,
                Phase::Capacity,
                Phase::Life,
            ],
            failover_rate: 200,
            failover_seconds: 15,
            kill_after: 3,
            lease_ttl: 2,
            postgres: "postgres://postgres@127.0.0.1:5432/test".to_owned(),
            pin: true,
            life: life::LifeOptions::default(),
        };
        let args: Vec<String> = std::env::args().collect();
        let mut index = 1;
        while index < args.len() {
            let text = || args.get(index + 1).cloned().unwrap();
            let value = || text().parse::<u64>().unwrap();
            match args[index].as_str() {
                "--clients" => options.clients = usize::try_from(value()).unwrap(),
                "--rate" => options.rate = value(),
                "--seconds" => options.seconds = value(),
                "--streams" => options.streams = usize::try_from(value()).unwrap(),
                "--failover-rate" => options.failover_rate = value(),
                "--failover-seconds" => options.failover_seconds = value(),
                "--kill-after" => options.kill_after = value(),
                "--lease-ttl" => options.lease_ttl = value(),
                "--postgres" => options.postgres = text(),
                "--life-rate" => options.life.rate = value(),
                "--life-seconds" => options.life.seconds = value(),
                "--life-viewers" => options.life.viewers = usize::try_from(value()).unwrap(),
                "--no-pin" => {
                    options.pin = false;
                    index += 1;
                    continue;
                }
                "--phases" => {
                    options.phases = text()
                        .split(',')
                        .map(|phase| match phase.trim() {
                            "latency" => Phase::Latency,
                            "split" => Phase::Split,
                            "failover" => Phase::Failover,
                            "capacity" => Phase::Capacity,
                            "life" => Phase::Life,
                            other => {
                                panic!("unknown phase {other:?}: latency, split, failover, capacity, life")
                            }
                        })
                        .collect();
                }
                _ => {
                    index += 1; // `--bench` and other flags cargo passes
                    continue;
                }
            }
            index += 2;
        }
        options
    }

    fn runs(&self, phase: Phase) -> bool {
        self.phases.contains(&phase)
    }

    /// Events in a latency phase (even: every user who joins also leaves).
    fn latency_events(&self) -> usize {
        even(self.rate * self.seconds)
    }

    fn failover_events(&self) -> usize {
        even(self.failover_rate * self.failover_seconds)
    }
}

fn even(count: u64) -> usize {
    usize::try_from(count + count % 2).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Server processes

/// A server child process and where it listens.
struct Server {
    child: Child,
    address: String,
    pid: u32,
}

impl Server {
    /// Starts the release binary with `vars` (and nothing else from this environment) on
    /// [`SERVER_CORE`], and waits until it listens.
    async fn spawn(name: &str, pinned: bool, vars: &[(&str, String)]) -> Self {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let binary = env!("CARGO_BIN_EXE_server");
        let mut command = if pinned {
            let mut command = Command::new(TASKSET);
            command.args(["-c", SERVER_CORE, binary]);
            command
        } else {
            Command::new(binary)
        };
        command
            .current_dir(root)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(vars.iter().map(|(key, value)| (*key, value.as_str())))
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn,server::startup=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap();
        // `taskset` execs the binary: the child's pid is the server's.
        let pid = child.id().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let address = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let line = lines
                    .next_line()
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("{name} listens before exiting"));
                let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if let Some(address) = entry["message"]
                    .as_str()
                    .and_then(|m| m.strip_prefix("listening on http://"))
                {
                    break address.to_owned();
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{name} listens within 60 s"));
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, address, pid }
    }

    /// `/health` (or another JSON health route) as JSON, `None` when it does not answer.
    async fn health(&self, path: &str) -> Option<serde_json::Value> {
        let (_, response) = tokio::time::timeout(Duration::from_secs(2), get(&self.address, path))
            .await
            .ok()?
            .ok()?;
        serde_json::from_str(response.split_once("\r\n\r\n")?.1).ok()
    }

    /// Polls `path` every 20 ms until its status is 200, at most `within`.
    async fn until_ok(&self, name: &str, path: &str, within: Duration) {
        let started = Instant::now();
        loop {
            let status = tokio::time::timeout(Duration::from_secs(2), get(&self.address, path)).await;
            if matches!(status, Ok(Ok((200, _)))) {
                return;
            }
            assert!(
                started.elapsed() < within,
                "{name}: {path} is 200 within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls `/health` every 10 ms until `wanted` holds; how long that took (`None`: not within).
    async fn until_health(
        &self,
        within: Duration,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<Duration> {
        let started = Instant::now();
        loop {
            if self.health("/health").await.is_some_and(|health| wanted(&health)) {
                return Some(started.elapsed());
            }
            if started.elapsed() >= within {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(mut self) {
        self.child.start_kill().ok();
        self.child.wait().await.ok();
    }
}

/// Streams and connections the benchmark may hold at once: all of them belong to one user.
const STREAM_ALLOWANCE: &str = "1000000";

fn discord_vars(sim: &SimHandle, bot: bool) -> Vec<(&'static str, String)> {
    let endpoints = sim.endpoints();
    let mut vars = vec![
        ("DISCORD_GUILD_ID", endpoints.guild_id.to_string()),
        ("DISCORD_CLIENT_ID", endpoints.client_id.clone()),
        ("DISCORD_CLIENT_SECRET", endpoints.client_secret.clone()),
        ("DISCORD_API_BASE", endpoints.api_base.clone()),
        (
            "DISCORD_OAUTH_AUTHORIZE_URL",
            endpoints.oauth_authorize_url.clone(),
        ),
        ("DISCORD_OAUTH_TOKEN_URL", endpoints.oauth_token_url.clone()),
        ("DISCORD_OAUTH_REVOKE_URL", endpoints.oauth_revoke_url.clone()),
        ("DEV_OPEN_STREAM", "false".to_owned()),
        // Every client streams as the one signed-in player, far past the per-user cap a real
        // deployment keeps; and `--streams` may exceed the default connection cap.
        ("MAX_STREAMS_PER_USER", STREAM_ALLOWANCE.to_owned()),
        ("MAX_CONNECTIONS", STREAM_ALLOWANCE.to_owned()),
    ];
    if bot {
        vars.push(("DISCORD_BOT_TOKEN", endpoints.bot_token.clone()));
        vars.push(("DISCORD_GATEWAY_URL", endpoints.gateway_url.clone()));
    }
    vars
}

/// The one-process server (`ROLE=all`, SQLite in `data`), ready once its gateway is connected.
async fn start_single(sim: &SimHandle, data: &std::path::Path, pinned: bool) -> Server {
    let mut vars = discord_vars(sim, true);
    vars.push(("SQLITE_PATH", data.join("bench.db").display().to_string()));
    let server = Server::spawn("server", pinned, &vars).await;
    server
        .until_ok("server", "/api/health", Duration::from_secs(60))
        .await;
    println!("server (ROLE=all) pid {} on {}", server.pid, server.address);
    server
}

fn holds_lease(health: &serde_json::Value) -> bool {
    health["lease"] == "held" && health["gateway"] == "CONNECTED"
}

/// Two gateway processes and two web instances on a fresh database and Redis namespace.
struct Cluster {
    holder: Server,
    standby: Server,
    webs: [Server; 2],
    admin_url: String,
    database: String,
    namespace: String,
}

impl Cluster {
    async fn start(sim: &SimHandle, options: &Options, pinned: bool) -> Self {
        let (admin_url, database, database_url) = fresh_database(&options.postgres).await;
        let namespace = format!("bench:stream:{}", uuid::Uuid::new_v4().simple());
        let mut shared = discord_vars(sim, false);
        shared.extend([
            ("DATABASE_URL", database_url),
            ("REDIS_URL", "redis://127.0.0.1:6379".to_owned()),
            ("REDIS_NAMESPACE", namespace.clone()),
            ("LINK_TOKEN", "a-link-token-for-the-stream-benchmark".to_owned()),
            ("SESSION_SECRET", "s".repeat(64)),
            ("LEASE_TTL_SECS", options.lease_ttl.to_string()),
            ("GATEWAY_SAVE_EVERY_SECS", "1".to_owned()),
            ("IP_RATE_BURST", "1000".to_owned()),
        ]);
        let mut gateway_vars = shared.clone();
        gateway_vars.extend(
            discord_vars(sim, true)
                .into_iter()
                .filter(|(key, _)| matches!(*key, "DISCORD_BOT_TOKEN" | "DISCORD_GATEWAY_URL")),
        );
        gateway_vars.extend([
            ("ROLE", "gateway".to_owned()),
            ("GATEWAY_WS_PORT", "0".to_owned()),
        ]);

        let holder = Server::spawn("gateway a", pinned, &gateway_vars).await;
        assert!(
            holder
                .until_health(Duration::from_secs(30), holds_lease)
                .await
                .is_some(),
            "gateway a holds the lease and is connected within 30 s"
        );
        let standby = Server::spawn("gateway b", pinned, &gateway_vars).await;
        assert!(
            standby
                .until_health(Duration::from_secs(20), |health| health["lease"] == "standby")
                .await
                .is_some(),
            "gateway b stands by within 20 s"
        );
        let links = [&holder, &standby]
            .map(|gateway| format!("ws://{}", gateway.address))
            .join(",");
        let mut web_vars = shared;
        web_vars.extend([("ROLE", "web".to_owned()), ("GATEWAY_WS_URL", links)]);
        let web_1 = Server::spawn("web 1", pinned, &web_vars).await;
        let web_2 = Server::spawn("web 2", pinned, &web_vars).await;
        for (name, web) in [("web 1", &web_1), ("web 2", &web_2)] {
            web.until_ok(name, "/health/ready", Duration::from_secs(30)).await;
        }
        println!(
            "cluster: gateway a (lease holder) pid {}, gateway b (standby) pid {}, web 1 pid {} on {}, web 2 pid {} on {}; Redis namespace {namespace}; LEASE_TTL_SECS={}",
            holder.pid, standby.pid, web_1.pid, web_1.address, web_2.pid, web_2.address, options.lease_ttl
        );
        Self {
            holder,
            standby,
            webs: [web_1, web_2],
            admin_url,
            database,
            namespace,
        }
    }

    /// Stops every process, then drops the database and the Redis namespace.
    async fn stop(self) {
        let Self {
            holder,
            standby,
            webs: [web_1, web_2],
            admin_url,
            database,
            namespace,
        } = self;
        for server in [web_1, web_2, holder, standby] {
            server.stop().await;
        }
        drop_database(&admin_url, &database).await;
        drop_namespace(&namespace);
    }
}

/// A fresh PostgreSQL database: (admin URL, its name, its URL).
async fn fresh_database(admin_url: &str) -> (String, String, String) {
    use sqlx::{Connection as _, Executor as _, PgConnection};

    let mut admin = PgConnection::connect(admin_url)
        .await
        .unwrap_or_else(|err| panic!("PostgreSQL at {admin_url} (--postgres): {err}"));
    let name = format!("spell_coven_bench_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .unwrap();
    let mut url = url::Url::parse(admin_url).unwrap();
    url.set_path(&name);
    (admin_url.to_owned(), name, url.to_string())
}

async fn drop_database(admin_url: &str, name: &str) {
    use sqlx::{Connection as _, Executor as _, PgConnection};

    if let Ok(mut admin) = PgConnection::connect(admin_url).await {
        let _ = admin
            .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
            .await;
    }
}

/// Deletes the run's Redis keys (best effort: a leftover namespace only costs memory).
fn drop_namespace(namespace: &str) {
    let keys = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "--scan", "--pattern"])
        .arg(format!("{namespace}:*"))
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .unwrap_or_default();
    let keys: Vec<&str> = keys.lines().filter(|key| !key.is_empty()).collect();
    for batch in keys.chunks(100) {
        let _ = std::process::Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", "6379", "del"])
            .args(batch)
            .stdout(Stdio::null())
            .status();
    }
}

/// A minimal HTTP/1.1 GET, for the health checks.
async fn get(address: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((status, response))
}

// ---------------------------------------------------------------------------------------------
// Players, viewers and events

/// A signed-in player's room: where the streams go and the cookie that lets them in.
struct Table {
    room: Snowflake,
    cookie: String,
}

/// A signed-in player: their HTTP client (with its cookie jar) and the session cookie as a header.
struct Seated {
    user: Snowflake,
    http: reqwest::Client,
    cookie: String,
}

/// Signs `user` in through `/auth/login?return_to=…` and the simulator's consent page (the return
/// path decides the scopes asked for: an invite's asks to add the user to the guild).
async fn sign_in(address: &str, user: Snowflake, return_to: &str) -> Seated {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    let base: reqwest::Url = format!("http://{address}").parse().unwrap();
    let location = |response: &reqwest::Response| response.headers()["location"].to_str().unwrap().to_owned();
    let login = http
        .get(base.join(&format!("/auth/login?return_to={return_to}")).unwrap())
        .send()
        .await
        .unwrap();
    let authorize = reqwest::Url::parse(&location(&login)).unwrap();
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("user_id".to_owned(), user.to_string()));
    let mut consent = authorize.clone();
    consent.set_query(None);
    let decided = http.post(consent).form(&form).send().await.unwrap();
    let callback = http.get(location(&decided)).send().await.unwrap();
    assert_eq!(callback.status(), 303, "signed in");
    let cookie = reqwest::cookie::CookieStore::cookies(jar.as_ref(), &base)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    Seated { user, http, cookie }
}

/// Signs `user` in, then creates a room.
async fn sit_down(address: &str, user: Snowflake) -> Table {
    let Seated { http, cookie, .. } = sign_in(address, user, "/").await;
    let room: serde_json::Value = http
        .post(format!("http://{address}/api/rooms/create"))
        .form(&[("name", "Benchmark table")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Table {
        room: Snowflake::parse(room["channelId"].as_str().unwrap()).unwrap(),
        cookie,
    }
}

/// What a viewer needs to know of one SSE frame.
enum Frame {
    /// `voice.joined` / `voice.left`, with the user's id as the JSON carries it.
    Voice { user: String, joined: bool },
    /// `life.changed`, with the change's place in the room's order.
    Life { seq: i64 },
    /// Any other event, by name (`snapshot`, `seats`, `seat.*`, …).
    Other(String),
}

/// One SSE client on a raw socket.
struct Client {
    stream: BufReader<TcpStream>,
    line: String,
}

impl Client {
    async fn open(address: &str, table: &Table) -> std::io::Result<Self> {
        let mut stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        let (room, cookie) = (table.room, &table.cookie);
        stream
            .write_all(
                format!(
                    "GET /api/stream?room={room} HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\nCookie: {cookie}\r\n\r\n"
                )
                .as_bytes(),
            )
            .await?;
        let mut stream = BufReader::new(stream);
        // Status line and headers.
        let mut line = String::new();
        stream.read_line(&mut line).await?;
        if !line.starts_with("HTTP/1.1 200") {
            return Err(std::io::Error::other(format!("stream refused: {line}")));
        }
        loop {
            line.clear();
            stream.read_line(&mut line).await?;
            if line == "\r\n" {
                break;
            }
        }
        Ok(Self { stream, line })
    }

    /// The next SSE frame. Frames are `id:`/`event:`/`data:` lines in that order, one frame per
    /// HTTP chunk; chunk-size lines, `id:` lines and pings are skipped. A frame is known by its
    /// `data:` line; only voice events' data is looked into, and only for `"userId"`.
    async fn next_frame(&mut self) -> std::io::Result<Frame> {
        let mut event: Option<String> = None;
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await? == 0 {
                return Err(std::io::Error::other("stream ended"));
            }
            if let Some(name) = self.line.strip_prefix("event: ") {
                event = Some(name.trim_end().to_owned());
            } else if let Some(data) = self.line.strip_prefix("data: ") {
                let Some(name) = event.take() else {
                    continue;
                };
                let joined = match name.as_str() {
                    "voice.joined" => true,
                    "voice.left" => false,
                    // The change's `seq` is the first one in the JSON (the totals' comes after).
                    "life.changed" => {
                        let seq = data
                            .split_once("\"seq\":")
                            .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
                            .and_then(|seq| seq.parse().ok())
                            .unwrap_or(-1);
                        return Ok(Frame::Life { seq });
                    }
                    _ => return Ok(Frame::Other(name)),
                };
                let user = data
                    .split_once("\"userId\":\"")
                    .and_then(|(_, rest)| rest.split_once('"'))
                    .map(|(user, _)| user.to_owned())
                    .unwrap_or_default();
                return Ok(Frame::Voice { user, joined });
            }
        }
    }
}

/// Which injected event is which: event `k` is user `k / 2` joining (even `k`) or leaving (odd).
/// Every user joins once and leaves once per phase, so a `(user, joined)` names one event.
struct Schedule {
    users: Vec<Snowflake>,
    index: HashMap<String, usize>,
}

impl Schedule {
    fn new(sim: &SimHandle, events: usize) -> Self {
        let users: Vec<Snowflake> = (0..events.div_ceil(2))
            .map(|n| sim.create_user(&format!("bench{n}")))
            .collect();
        let index = users
            .iter()
            .enumerate()
            .map(|(n, user)| (user.to_string(), n))
            .collect();
        Self { users, index }
    }

    fn index_of(&self, user: &str, joined: bool) -> Option<usize> {
        self.index.get(user).map(|n| 2 * n + usize::from(!joined))
    }
}

/// Injects events `0..count` of `schedule` at `rate`/s into `room`; `sent[k]` is when event `k`
/// was emitted.
async fn inject(
    sim: &SimHandle,
    schedule: &Schedule,
    room: Snowflake,
    count: usize,
    rate: u64,
    sent: &Mutex<Vec<Instant>>,
) {
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for k in 0..count {
        tick.tick().await;
        let user = schedule.users[k / 2];
        sent.lock().unwrap().push(Instant::now());
        if k % 2 == 0 {
            sim.join_voice(user, room).unwrap();
        } else {
            sim.leave_voice(user).unwrap();
        }
    }
}

/// What one viewer saw.
#[derive(Default)]
struct Tally {
    /// Emission → arrival, for the first arrival of each event.
    latencies: Vec<Duration>,
    /// Voice frames received, repeats included.
    received: usize,
    missed: usize,
    duplicated: usize,
    /// Events that arrived after a later one.
    out_of_order: usize,
    /// Voice events nobody injected in this phase.
    unexpected: usize,
    /// Fresh snapshots mid-stream (the viewer fell behind its buffer).
    resyncs: usize,
    /// The largest time between two consecutive voice frames.
    max_gap: Duration,
    /// The largest latency of the events injected in each second: a queue that builds up shows
    /// as a rising line, a stall as one bad second.
    by_second: Vec<Duration>,
    /// Why the stream stopped before the last event, if it did.
    ended: Option<String>,
}

impl Tally {
    fn perfect(&self) -> bool {
        self.missed + self.duplicated + self.out_of_order + self.unexpected == 0
    }
}

/// Reads `client` until it has the last of `total` events (or `quiet` passes without a frame).
async fn view(
    mut client: Client,
    schedule: Arc<Schedule>,
    sent: Arc<Mutex<Vec<Instant>>>,
    total: usize,
    quiet: Duration,
    rate: usize,
) -> Tally {
    let mut tally = Tally {
        latencies: Vec::with_capacity(total),
        by_second: vec![Duration::ZERO; total.div_ceil(rate.max(1))],
        ..Tally::default()
    };
    let mut seen = vec![false; total];
    let mut distinct = 0;
    let mut highest = None;
    let mut last_at: Option<Instant> = None;
    while distinct < total {
        let frame = match tokio::time::timeout(quiet, client.next_frame()).await {
            Ok(Ok(frame)) => frame,
            Ok(Err(err)) => {
                tally.ended = Some(err.to_string());
                break;
            }
            Err(_) => {
                tally.ended = Some(format!("nothing for {quiet:?}"));
                break;
            }
        };
        let now = Instant::now();
        let (user, joined) = match frame {
            Frame::Voice { user, joined } => (user, joined),
            Frame::Life { .. } => continue,
            Frame::Other(name) => {
                if name == "snapshot" {
                    tally.resyncs += 1;
                }
                continue;
            }
        };
        tally.received += 1;
        if let Some(last) = last_at {
            tally.max_gap = tally.max_gap.max(now - last);
        }
        last_at = Some(now);
        let Some(k) = schedule.index_of(&user, joined).filter(|&k| k < total) else {
            tally.unexpected += 1;
            continue;
        };
        if seen[k] {
            tally.duplicated += 1;
            continue;
        }
        seen[k] = true;
        distinct += 1;
        if highest.is_some_and(|highest| k < highest) {
            tally.out_of_order += 1;
        }
        highest = highest.max(Some(k));
        if let Some(emitted) = sent.lock().unwrap().get(k).copied() {
            let latency = now - emitted;
            tally.latencies.push(latency);
            let second = &mut tally.by_second[k / rate.max(1)];
            *second = (*second).max(latency);
        }
        // In order, the last event is the last to come: anything not seen by then is missing.
        if k + 1 == total {
            break;
        }
    }
    tally.missed = total - distinct;
    tally
}

/// A measured load: every viewer's tally, merged.
struct Run {
    viewers: usize,
    total: usize,
    elapsed: Duration,
    /// Sorted.
    latencies: Vec<Duration>,
    received: usize,
    missed: usize,
    duplicated: usize,
    out_of_order: usize,
    unexpected: usize,
    resyncs: usize,
    /// Streams that ended or went quiet before the last event.
    cut: usize,
    /// Viewers that received every event exactly once, in order.
    perfect: usize,
    /// Each viewer's largest gap, sorted.
    gaps: Vec<Duration>,
    /// The largest latency of the events injected in each second, over every viewer.
    by_second: Vec<Duration>,
    cpu: Vec<CpuUse>,
}

/// `clients` viewers of `table`'s room, viewer `i` on `addresses[i % len]`, while `total` events
/// are injected at `rate`/s and `alongside` runs; CPU of `meter`'s processes over the phase.
#[allow(
    clippy::too_many_arguments,
    reason = "one call per phase, every argument named there"
)]
async fn measure<T>(
    sim: &SimHandle,
    schedule: &Arc<Schedule>,
    table: &Table,
    addresses: &[&str],
    clients: usize,
    rate: u64,
    total: usize,
    quiet: Duration,
    meter: &CpuMeter,
    alongside: impl Future<Output = T>,
) -> (Run, T) {
    let sent = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let ready = Arc::new(Barrier::new(clients + 1));
    let per_second = usize::try_from(rate).unwrap();
    let mut readers = Vec::with_capacity(clients);
    for viewer in 0..clients {
        let mut client = Client::open(addresses[viewer % addresses.len()], table)
            .await
            .unwrap();
        let (schedule, sent, ready) = (schedule.clone(), sent.clone(), ready.clone());
        readers.push(tokio::spawn(async move {
            // The snapshot first (the room's seats follow; `view` skips them).
            match client.next_frame().await {
                Ok(Frame::Other(name)) if name == "snapshot" => {}
                _ => panic!("a stream starts with a snapshot"),
            }
            ready.wait().await;
            view(client, schedule, sent, total, quiet, per_second).await
        }));
    }
    ready.wait().await;
    meter.start();
    let started = Instant::now();
    let ((), side) = tokio::join!(inject(sim, schedule, table.room, total, rate, &sent), alongside);
    let mut run = Run {
        viewers: clients,
        total,
        elapsed: Duration::ZERO,
        latencies: Vec::with_capacity(total * clients),
        received: 0,
        missed: 0,
        duplicated: 0,
        out_of_order: 0,
        unexpected: 0,
        resyncs: 0,
        cut: 0,
        perfect: 0,
        gaps: Vec::with_capacity(clients),
        by_second: Vec::new(),
        cpu: Vec::new(),
    };
    for reader in readers {
        let tally = reader.await.unwrap();
        run.perfect += usize::from(tally.perfect());
        run.cut += usize::from(tally.ended.is_some());
        run.latencies.extend(tally.latencies);
        run.received += tally.received;
        run.missed += tally.missed;
        run.duplicated += tally.duplicated;
        run.out_of_order += tally.out_of_order;
        run.unexpected += tally.unexpected;
        run.resyncs += tally.resyncs;
        run.gaps.push(tally.max_gap);
        run.by_second
            .resize(tally.by_second.len().max(run.by_second.len()), Duration::ZERO);
        for (worst, latency) in run.by_second.iter_mut().zip(tally.by_second) {
            *worst = (*worst).max(latency);
        }
    }
    run.elapsed = started.elapsed();
    run.cpu = meter.finish();
    run.latencies.sort_unstable();
    run.gaps.sort_unstable();
    (run, side)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * fraction).round();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "rank is within the slice"
    )]
    sorted[rank as usize]
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------------------------------------
// Phases

const BENCH_LABEL: &str = "bench (clients + simulator)";
const REDIS_LABEL: &str = "redis-server";

async fn latency_phase(
    sim: &SimHandle,
    schedule: &Arc<Schedule>,
    server: &Server,
    table: &Table,
    redis: Option<u32>,
    options: &Options,
) -> Run {
    let meter = CpuMeter::new(&[
        ("server (ROLE=all)", Some(server.pid)),
        (REDIS_LABEL, redis),
        (BENCH_LABEL, Some(std::process::id())),
    ]);
    let (run, ()) = measure(
        sim,
        schedule,
        table,
        &[&server.address],
        options.clients,
        options.rate,
        options.latency_events(),
        Duration::from_secs(10),
        &meter,
        async {},
    )
    .await;
    run
}

async fn split_phase(
    sim: &SimHandle,
    schedule: &Arc<Schedule>,
    cluster: &Cluster,
    table: &Table,
    redis: Option<u32>,
    options: &Options,
) -> Run {
    let meter = CpuMeter::new(&[
        ("web 1", Some(cluster.webs[0].pid)),
        ("web 2", Some(cluster.webs[1].pid)),
        ("gateway (lease holder)", Some(cluster.holder.pid)),
        ("gateway (standby)", Some(cluster.standby.pid)),
        (REDIS_LABEL, redis),
        (BENCH_LABEL, Some(std::process::id())),
    ]);
    let (run, ()) = measure(
        sim,
        schedule,
        table,
        &[&cluster.webs[0].address, &cluster.webs[1].address],
        options.clients,
        options.rate,
        options.latency_events(),
        Duration::from_secs(10),
        &meter,
        async {},
    )
    .await;
    run
}

/// Prints the latency runs side by side, then each process's CPU in each.
fn print_latency(runs: &[(&str, &Run)], options: &Options) {
    println!(
        "\n== latency: {} viewers × {} events/s for {} s ==",
        options.clients, options.rate, options.seconds
    );
    let row = |label: &str, cell: &dyn Fn(&Run) -> String| {
        let mut line = format!("{label:<28}");
        for (_, run) in runs {
            let _ = write!(line, "{:>22}", cell(run));
        }
        println!("{line}");
    };
    let mut header = format!("{:<28}", "");
    for (name, _) in runs {
        let _ = write!(header, "{name:>22}");
    }
    println!("{header}");
    row("events injected", &|run| run.total.to_string());
    row("viewers", &|run| run.viewers.to_string());
    row("deliveries", &|run| run.received.to_string());
    row("deliveries/s", &|run| {
        format!("{:.0}", run.received as f64 / run.elapsed.as_secs_f64())
    });
    row("missed", &|run| run.missed.to_string());
    row("duplicated", &|run| run.duplicated.to_string());
    row("out of order", &|run| run.out_of_order.to_string());
    row("resyncs (fell behind)", &|run| run.resyncs.to_string());
    row("streams cut short", &|run| run.cut.to_string());
    for (label, fraction) in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)] {
        row(&format!("latency {label}"), &|run| {
            ms(percentile(&run.latencies, fraction))
        });
    }
    row(&format!("p99 ≤ {} ms (goal)", GOAL_P99.as_millis()), &|run| {
        let clean = run.missed + run.duplicated + run.out_of_order == 0;
        if clean && percentile(&run.latencies, 0.99) <= GOAL_P99 {
            "met".to_owned()
        } else {
            "not met".to_owned()
        }
    });
    println!("\nlargest latency of the events injected in each second (ms):");
    for (name, run) in runs {
        let seconds: Vec<String> = run
            .by_second
            .iter()
            .map(|worst| format!("{:.0}", worst.as_secs_f64() * 1000.0))
            .collect();
        println!("{name:<22} {}", seconds.join(" "));
    }
    print_cpu(runs);
}

/// One row per process, one column per run: % of one core over the phase's wall time.
fn print_cpu(runs: &[(&str, &Run)]) {
    println!("\nCPU (% of one core: utime+stime over the phase's wall time; cores as pinned above)");
    let mut labels: Vec<&str> = Vec::new();
    for (_, run) in runs {
        for usage in &run.cpu {
            if !labels.contains(&usage.label) {
                labels.push(usage.label);
            }
        }
    }
    let mut header = format!("{:<28}", "process");
    for (name, _) in runs {
        let _ = write!(header, "{name:>22}");
    }
    println!("{header}");
    for label in labels {
        let mut line = format!("{label:<28}");
        for (_, run) in runs {
            let cell = match run.cpu.iter().find(|usage| usage.label == label) {
                Some(CpuUse {
                    percent: Some(percent),
                    ..
                }) => format!("{percent:.1} %"),
                Some(_) => "n/a".to_owned(),
                None => "–".to_owned(),
            };
            let _ = write!(line, "{cell:>22}");
        }
        println!("{line}");
    }
    let mut line = format!("{:<28}", "server side total");
    for (_, run) in runs {
        let total: f64 = run
            .cpu
            .iter()
            .filter(|usage| usage.label != BENCH_LABEL)
            .filter_map(|usage| usage.percent)
            .sum();
        let _ = write!(line, "{:>22}", format!("{total:.1} %"));
    }
    println!("{line}");
}

/// What happened to the lease while the failover phase ran.
struct Takeover {
    /// Kill → the standby's `/health` says held + CONNECTED (`None`: not within 60 s).
    after: Option<Duration>,
}

async fn failover_phase(
    sim: &SimHandle,
    schedule: &Arc<Schedule>,
    cluster: &mut Cluster,
    table: &Table,
    redis: Option<u32>,
    options: &Options,
) {
    let total = options.failover_events();
    let meter = CpuMeter::new(&[
        ("web 1", Some(cluster.webs[0].pid)),
        ("web 2", Some(cluster.webs[1].pid)),
        ("gateway (killed holder)", Some(cluster.holder.pid)),
        ("gateway (standby → holder)", Some(cluster.standby.pid)),
        (REDIS_LABEL, redis),
        (BENCH_LABEL, Some(std::process::id())),
    ]);
    let kill_after = Duration::from_secs(options.kill_after);
    let addresses = [cluster.webs[0].address.clone(), cluster.webs[1].address.clone()];
    let (holder, standby) = (&mut cluster.holder, &cluster.standby);
    let meter_ref = &meter;
    let kill = async move {
        tokio::time::sleep(kill_after).await;
        meter_ref.freeze(holder.pid);
        let killed = Instant::now();
        holder.child.start_kill().unwrap();
        let held = standby.until_health(Duration::from_secs(60), holds_lease).await;
        holder.child.wait().await.ok();
        Takeover {
            after: held.map(|_| killed.elapsed()),
        }
    };
    let (run, takeover) = measure(
        sim,
        schedule,
        table,
        &[&addresses[0], &addresses[1]],
        options.clients,
        options.failover_rate,
        total,
        // The quiet time covers a takeover that outlasts the injection.
        Duration::from_secs(30),
        &meter,
        kill,
    )
    .await;
    // The standby holds the lease now (or nobody does): it is the one to stop last.
    std::mem::swap(&mut cluster.holder, &mut cluster.standby);

    println!(
        "\n== failover: {} viewers ({} per web instance) × {} events/s for {} s; lease holder SIGKILLed at {} s; LEASE_TTL_SECS={} ==",
        options.clients,
        options.clients.div_ceil(2),
        options.failover_rate,
        options.failover_seconds,
        options.kill_after,
        options.lease_ttl
    );
    match takeover.after {
        Some(after) => println!(
            "takeover (kill → standby /health held + CONNECTED)   {:.3} s",
            after.as_secs_f64()
        ),
        None => println!("takeover (kill → standby /health held + CONNECTED)   not within 60 s"),
    }
    println!(
        "largest gap between events at a viewer               max {:.3} s, median of viewers {:.3} s, min {:.3} s",
        percentile(&run.gaps, 1.0).as_secs_f64(),
        percentile(&run.gaps, 0.5).as_secs_f64(),
        percentile(&run.gaps, 0.0).as_secs_f64()
    );
    println!("events injected                                      {total}");
    println!(
        "viewers with every event exactly once, in order      {}/{}",
        run.perfect, run.viewers
    );
    println!(
        "missed / duplicated / out of order / unexpected      {} / {} / {} / {}",
        run.missed, run.duplicated, run.out_of_order, run.unexpected
    );
    println!(
        "resyncs / streams cut short                          {} / {}",
        run.resyncs, run.cut
    );
    println!(
        "latency p50 / p99 / max (the gap included)           {} / {} / {}",
        ms(percentile(&run.latencies, 0.5)),
        ms(percentile(&run.latencies, 0.99)),
        ms(percentile(&run.latencies, 1.0))
    );
    let seconds: Vec<String> = run
        .by_second
        .iter()
        .map(|worst| format!("{:.0}", worst.as_secs_f64() * 1000.0))
        .collect();
    println!(
        "largest latency by second of injection (ms)          {}",
        seconds.join(" ")
    );
    print_cpu(&[("failover", &run)]);
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

async fn capacity_phase(
    sim: &SimHandle,
    schedule: &Schedule,
    server: &Server,
    table: &Table,
    options: &Options,
) {
    let room = table.room;
    let before = rss_kib(server.pid);
    let mut clients = Vec::with_capacity(options.streams);
    let mut refused = 0;
    for _ in 0..options.streams {
        match Client::open(&server.address, table).await {
            Ok(mut client) => {
                if client.next_frame().await.is_ok() {
                    clients.push(client);
                } else {
                    refused += 1;
                }
            }
            Err(_) => refused += 1,
        }
    }
    let after = rss_kib(server.pid);
    let per_stream = (after.saturating_sub(before)) as f64 * 1024.0 / clients.len().max(1) as f64;

    let burst = 20;
    let sent = Mutex::new(Vec::new());
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let mut voice = 0;
                while voice < burst {
                    match tokio::time::timeout(Duration::from_secs(30), client.next_frame()).await {
                        Ok(Ok(Frame::Voice { .. })) => voice += 1,
                        Ok(Ok(Frame::Other(_) | Frame::Life { .. })) => {}
                        _ => return false,
                    }
                }
                true
            })
        })
        .collect();
    inject(sim, schedule, room, burst, 20, &sent).await;
    let mut failed = 0;
    for reader in readers {
        if !reader.await.unwrap_or(false) {
            failed += 1;
        }
    }
    println!(
        "\n== capacity: {} concurrent streams (one process) ==",
        options.streams
    );
    println!("streams opened         {}", options.streams - refused);
    println!("server RSS             {before} KiB → {after} KiB");
    println!("memory per stream      {per_stream:.0} B");
    println!(
        "errors                 {} (refused {refused}, missed one of {burst} events {failed})",
        refused + failed
    );
}

/// A scratch directory for a one-process server's SQLite database.
fn scratch(name: &str) -> std::path::PathBuf {
    let data = std::env::temp_dir().join(format!("spell-coven-bench-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    data
}

#[path = "stream/cpu.rs"]
mod cpu;
#[path = "stream/life.rs"]
mod life;

fn main() {
    let options = Options::parse();
    // Before the runtime exists, so its threads inherit this process's core.
    let pinning = Pinning::apply(options.pin);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = DiscordSim::start(SimConfig::default()).await.unwrap();
        let carol = sim.demo().carol;
        let pinned = pinning.available;
        let redis = pinning.redis;
        // Users exist before any server connects, so their creation costs no phase anything.
        let schedule = Arc::new(Schedule::new(
            &sim,
            options.latency_events().max(options.failover_events()),
        ));

        // The one process first, alone: it would otherwise receive every event the cluster's
        // rooms get too (one simulated guild).
        let single = if options.runs(Phase::Latency) {
            let data = scratch("latency");
            let server = start_single(&sim, &data, pinned).await;
            // A new room starts empty, so every event in it is one this benchmark injected.
            let table = sit_down(&server.address, carol).await;
            println!(
                "room {} (streams authenticated by a player's session)",
                table.room
            );
            let run = latency_phase(&sim, &schedule, &server, &table, redis, &options).await;
            server.stop().await;
            let _ = std::fs::remove_dir_all(&data);
            Some(run)
        } else {
            None
        };

        let mut split = None;
        if options.runs(Phase::Split) || options.runs(Phase::Failover) {
            let mut cluster = Cluster::start(&sim, &options, pinned).await;
            // Signed in on web 1; the session lives in PostgreSQL and the cookie is signed with
            // the shared secret, so the same Cookie header lets the viewers on web 2 in as well.
            let table = sit_down(&cluster.webs[0].address, carol).await;
            println!("room {} on the cluster", table.room);
            if options.runs(Phase::Split) {
                split = Some(split_phase(&sim, &schedule, &cluster, &table, redis, &options).await);
            }
            let mut runs: Vec<(&str, &Run)> = Vec::new();
            if let Some(run) = &single {
                runs.push(("one process", run));
            }
            if let Some(run) = &split {
                runs.push(("split (2 gw, 2 web)", run));
            }
            if !runs.is_empty() {
                print_latency(&runs, &options);
            }
            if options.runs(Phase::Failover) {
                failover_phase(&sim, &schedule, &mut cluster, &table, redis, &options).await;
            }
            cluster.stop().await;
        } else if let Some(run) = &single {
            print_latency(&[("one process", run)], &options);
        }

        if options.runs(Phase::Life) {
            let data = scratch("life");
            let server = start_single(&sim, &data, pinned).await;
            life::life_phase(&sim, &server, redis, &options.life).await;
            server.stop().await;
            let _ = std::fs::remove_dir_all(&data);
        }

        if options.runs(Phase::Capacity) {
            let data = scratch("capacity");
            let server = start_single(&sim, &data, pinned).await;
            let table = sit_down(&server.address, carol).await;
            capacity_phase(&sim, &schedule, &server, &table, &options).await;
            server.stop().await;
            let _ = std::fs::remove_dir_all(&data);
        }
    });
    drop(pinning);
}
