//! Benchmark of the live roster path: Discord dispatch → gateway task → bus → fan-out → SSE client.
//!
//! ```text
//! cargo bench -p server --bench stream [-- --clients 100 --rate 1000 --seconds 10 --streams 10000]
//! ```
//!
//! The Discord simulator runs in this process and stands in for Discord; the server is the real
//! release binary in a child process, pinned to one core (`taskset -c 0`) and configured as for
//! real Discord with the simulator's URLs, with the stream's development switch off. A player
//! signs in through the simulator's OAuth2 consent page and creates a game room; every client is
//! authenticated by that player's session cookie, so each stream pays for the session lookup and
//! the membership check. Two phases:
//!
//! 1. **Latency**: `--clients` streams on one room while voice joins and leaves are injected at the
//!    simulator at `--rate` events/s for `--seconds`. Every client sees every event in order, so
//!    the k-th event a client receives is the k-th injected: latency is measured from the moment
//!    the simulator emitted it to the moment the client parsed it.
//! 2. **Capacity**: `--streams` concurrent streams are opened and held; the server's resident
//!    memory before and after gives the memory per stream. A short burst of events must then reach
//!    every stream (errors = streams that failed or missed one).
//!
//! Results are printed as a table; nothing is asserted (speed is measured, not tested).

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![allow(clippy::unwrap_used, reason = "a benchmark fails loudly on setup errors")]
#![allow(clippy::cast_precision_loss, reason = "reporting ratios of counts")]

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use discord_sim::{DiscordSim, SimConfig, SimHandle, Snowflake};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::{Child, Command},
    sync::Barrier,
};

struct Options {
    clients: usize,
    rate: u64,
    seconds: u64,
    streams: usize,
}

impl Options {
    fn parse() -> Self {
        let mut options = Self {
            clients: 100,
            rate: 1000,
            seconds: 10,
            streams: 10_000,
        };
        let args: Vec<String> = std::env::args().collect();
        let mut index = 1;
        while index < args.len() {
            let value = || args.get(index + 1).and_then(|value| value.parse::<u64>().ok());
            match args[index].as_str() {
                "--clients" => options.clients = usize::try_from(value().unwrap()).unwrap(),
                "--rate" => options.rate = value().unwrap(),
                "--seconds" => options.seconds = value().unwrap(),
                "--streams" => options.streams = usize::try_from(value().unwrap()).unwrap(),
                _ => {
                    index += 1; // `--bench` and other flags cargo passes
                    continue;
                }
            }
            index += 2;
        }
        options
    }
}

/// The server child process and where it listens.
struct Server {
    child: Child,
    address: String,
    pid: u32,
}

/// Streams and connections the benchmark may hold at once: all of them belong to one user.
const STREAM_ALLOWANCE: &str = "1000000";

async fn start_server(sim: &SimHandle, data: &std::path::Path) -> Server {
    let endpoints = sim.endpoints();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let binary = env!("CARGO_BIN_EXE_server");
    let pinned = std::path::Path::new("/usr/bin/taskset").exists();
    let mut command = if pinned {
        let mut command = Command::new("/usr/bin/taskset");
        command.args(["-c", "0", binary]);
        command
    } else {
        Command::new(binary)
    };
    command
        .current_dir(root)
        .env("DISCORD_BOT_TOKEN", &endpoints.bot_token)
        .env("DISCORD_GUILD_ID", endpoints.guild_id.to_string())
        .env("DISCORD_CLIENT_ID", &endpoints.client_id)
        .env("DISCORD_CLIENT_SECRET", &endpoints.client_secret)
        .env("DISCORD_GATEWAY_URL", &endpoints.gateway_url)
        .env("DISCORD_API_BASE", &endpoints.api_base)
        .env("DISCORD_OAUTH_AUTHORIZE_URL", &endpoints.oauth_authorize_url)
        .env("DISCORD_OAUTH_TOKEN_URL", &endpoints.oauth_token_url)
        .env("DISCORD_OAUTH_REVOKE_URL", &endpoints.oauth_revoke_url)
        .env("DEV_OPEN_STREAM", "false")
        // Every client streams as the one signed-in player, far past the per-user cap a real
        // deployment keeps; and `--streams` may exceed the default connection cap.
        .env("MAX_STREAMS_PER_USER", STREAM_ALLOWANCE)
        .env("MAX_CONNECTIONS", STREAM_ALLOWANCE)
        .env("SQLITE_PATH", data.join("bench.db"))
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn,server::startup=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the server listens before exiting");
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
        if let Some(address) = entry["message"]
            .as_str()
            .and_then(|m| m.strip_prefix("listening on http://"))
        {
            break address.to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    // Ready once the gateway has connected (health turns 200).
    loop {
        if let Ok((status, _)) = get(&address, "/api/health").await
            && status == 200
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "server pid {pid} on {address}{}",
        if pinned { " (pinned to core 0)" } else { "" }
    );
    Server { child, address, pid }
}

/// A minimal HTTP/1.1 GET, for the health check.
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

/// A signed-in player's room: where the streams go and the cookie that lets them in.
struct Table {
    room: Snowflake,
    cookie: String,
}

/// Signs `user` in through `/auth/login` and the simulator's consent page, then creates a room.
async fn sit_down(address: &str, user: Snowflake) -> Table {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    let base: reqwest::Url = format!("http://{address}").parse().unwrap();
    let location = |response: &reqwest::Response| response.headers()["location"].to_str().unwrap().to_owned();
    let login = http.get(base.join("/auth/login").unwrap()).send().await.unwrap();
    let authorize = reqwest::Url::parse(&location(&login)).unwrap();
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("user_id".to_owned(), user.to_string()));
    let mut consent = authorize.clone();
    consent.set_query(None);
    let decided = http.post(consent).form(&form).send().await.unwrap();
    let callback = http.get(location(&decided)).send().await.unwrap();
    assert_eq!(callback.status(), 303, "signed in");
    let room: serde_json::Value = http
        .post(base.join("/api/rooms/create").unwrap())
        .form(&[("name", "Benchmark table")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cookie = reqwest::cookie::CookieStore::cookies(jar.as_ref(), &base)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    Table {
        room: Snowflake::parse(room["channelId"].as_str().unwrap()).unwrap(),
        cookie,
    }
}

/// One SSE client on a raw socket: it counts events and can timestamp them.
struct Client {
    stream: BufReader<TcpStream>,
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
        Ok(Self { stream })
    }

    /// The next SSE event name (chunked-encoding size lines, `data:`/`id:` lines and pings are
    /// skipped; the bench only needs to know which event arrived).
    async fn next_event(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::Error::other("stream ended"));
            }
            if let Some(name) = line.strip_prefix("event: ") {
                return Ok(name.trim_end().to_owned());
            }
        }
    }
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

/// Injects `count` voice events at `rate`/s into `room`: a pool of users join and leave in turn,
/// so each injection is exactly one `voice.joined` or `voice.left` for the room. Returns when each
/// was emitted.
async fn inject(
    sim: &SimHandle,
    users: &[Snowflake],
    room: Snowflake,
    count: usize,
    rate: u64,
    sent: &Mutex<Vec<Instant>>,
) {
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for k in 0..count {
        tick.tick().await;
        let user = users[(k / 2) % users.len()];
        sent.lock().unwrap().push(Instant::now());
        if k % 2 == 0 {
            sim.join_voice(user, room).unwrap();
        } else {
            sim.leave_voice(user).unwrap();
        }
    }
}

async fn latency_phase(
    sim: &SimHandle,
    server: &Server,
    table: &Table,
    users: &[Snowflake],
    options: &Options,
) {
    let room = table.room;
    let total = usize::try_from(options.rate * options.seconds).unwrap();
    let sent = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let ready = Arc::new(Barrier::new(options.clients + 1));
    let mut readers = Vec::new();
    for _ in 0..options.clients {
        let mut client = Client::open(&server.address, table).await.unwrap();
        let (sent, ready) = (sent.clone(), ready.clone());
        readers.push(tokio::spawn(async move {
            assert_eq!(client.next_event().await.unwrap(), "snapshot");
            ready.wait().await;
            let mut latencies = Vec::with_capacity(total);
            for k in 0..total {
                let Ok(event) = tokio::time::timeout(Duration::from_secs(10), client.next_event()).await
                else {
                    return (latencies, total - k);
                };
                if !matches!(event.as_deref(), Ok("voice.joined" | "voice.left")) {
                    return (latencies, total - k);
                }
                let now = Instant::now();
                let Some(emitted) = sent.lock().unwrap().get(k).copied() else {
                    return (latencies, total - k); // an event nobody injected
                };
                latencies.push(now - emitted);
            }
            (latencies, 0)
        }));
    }
    ready.wait().await;
    let started = Instant::now();
    inject(sim, users, room, total, options.rate, &sent).await;
    let mut all = Vec::with_capacity(total * options.clients);
    let mut missing = 0;
    for reader in readers {
        let (latencies, missed) = reader.await.unwrap();
        all.extend(latencies);
        missing += missed;
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    println!(
        "\n== latency: {} clients × {} events/s for {} s ==",
        options.clients, options.rate, options.seconds
    );
    println!("events injected        {total}");
    println!(
        "deliveries             {} ({:.0}/s)",
        all.len(),
        all.len() as f64 / elapsed.as_secs_f64()
    );
    println!("errors (missed events) {missing}");
    for (label, fraction) in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)] {
        println!(
            "latency {label:<14} {:.3} ms",
            percentile(&all, fraction).as_secs_f64() * 1000.0
        );
    }
}

async fn capacity_phase(
    sim: &SimHandle,
    server: &Server,
    table: &Table,
    users: &[Snowflake],
    options: &Options,
) {
    let room = table.room;
    let before = rss_kib(server.pid);
    let mut clients = Vec::with_capacity(options.streams);
    let mut refused = 0;
    for _ in 0..options.streams {
        match Client::open(&server.address, table).await {
            Ok(mut client) => {
                if client.next_event().await.is_ok() {
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
                for _ in 0..burst {
                    match tokio::time::timeout(Duration::from_secs(30), client.next_event()).await {
                        Ok(Ok(event)) if event.starts_with("voice.") => {}
                        _ => return false,
                    }
                }
                true
            })
        })
        .collect();
    inject(sim, users, room, burst, 20, &sent).await;
    let mut failed = 0;
    for reader in readers {
        if !reader.await.unwrap_or(false) {
            failed += 1;
        }
    }
    println!("\n== capacity: {} concurrent streams ==", options.streams);
    println!("streams opened         {}", options.streams - refused);
    println!("server RSS             {before} KiB → {after} KiB");
    println!("memory per stream      {per_stream:.0} B");
    println!(
        "errors                 {} (refused {refused}, missed one of {burst} events {failed})",
        refused + failed
    );
}

fn main() {
    let options = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = DiscordSim::start(SimConfig::default()).await.unwrap();
        let data = std::env::temp_dir().join(format!("spell-coven-bench-{}", std::process::id()));
        std::fs::create_dir_all(&data).unwrap();
        let mut server = start_server(&sim, &data).await;
        // A new room starts empty, so every event in it is one this benchmark injected.
        let table = sit_down(&server.address, sim.demo().carol).await;
        println!(
            "room {} (streams authenticated by a player's session)",
            table.room
        );
        let users: Vec<Snowflake> = (0..50).map(|n| sim.create_user(&format!("bench{n}"))).collect();

        latency_phase(&sim, &server, &table, &users, &options).await;
        capacity_phase(&sim, &server, &table, &users, &options).await;

        server.child.kill().await.ok();
        let _ = std::fs::remove_dir_all(&data);
    });
}
