//! The life-change workload: the pod's shared life totals under a busy table.
//!
//! Four players sign in through the simulator's consent page; the first creates a room and the
//! others join it with its invite. Then every player taps at once, `rate` changes a second each
//! for `seconds`, each change one `POST /api/table/change` of ±1 on their own life (alternating,
//! so the totals stay in bounds), while `viewers` streams (spread over the players' sessions)
//! watch the room. Each answer carries the change's `seq`; each viewer notes when each
//! `life.changed` arrived. Measured: from the moment a server function's answer was read to the
//! moment a viewer read that change — what the issue asks for ("p99 ≤ 50 ms from the answer to
//! every viewer of the room") — and whether every viewer got every change exactly once.
//!
//! A change can reach a viewer before its author has read the answer (the event is published
//! before the answer is written): those count as 0 ms, and how many there were is printed.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use discord_sim::{SimHandle, Snowflake};

use super::{
    BENCH_LABEL, Client, Frame, REDIS_LABEL, Seated, Server, Table, cpu::CpuMeter, ms, percentile, sign_in,
};

/// The goal for this workload.
const GOAL_P99: Duration = Duration::from_millis(50);
/// Players at the table (a Commander pod).
const PLAYERS: usize = 4;

/// `--life-rate`, `--life-seconds`, `--life-viewers`.
pub(super) struct LifeOptions {
    /// Changes a second, per player.
    pub(super) rate: u64,
    pub(super) seconds: u64,
    /// Streams watching the room, over every player's session.
    pub(super) viewers: usize,
}

impl Default for LifeOptions {
    /// Eight taps a second per player stays inside the tap budget (a burst of 40, then 10 a
    /// second) for as long as the phase lasts, as a real table does.
    fn default() -> Self {
        Self {
            rate: 8,
            seconds: 10,
            viewers: 8,
        }
    }
}

/// Four players seated in a new room on `address`: the owner first.
async fn seat_pod(sim: &SimHandle, address: &str) -> (Snowflake, Vec<Seated>) {
    let mut players = Vec::with_capacity(PLAYERS);
    for n in 0..PLAYERS {
        // As from an invite, so the sign-in lets the app add them to the guild (`guilds.join`).
        players.push(sign_in(address, sim.create_user(&format!("life{n}")), "/invite/life").await);
    }
    let room: serde_json::Value = players[0]
        .http
        .post(format!("http://{address}/api/rooms/create"))
        .form(&[("name", "Life benchmark"), ("starting_life", "40")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = room["invite"]["token"].as_str().unwrap().to_owned();
    for player in &players[1..] {
        // A join answers 503 until the roster follows Discord (seats are counted on it): retry.
        let started = Instant::now();
        loop {
            let joined = player
                .http
                .post(format!("http://{address}/api/rooms/join"))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap();
            if joined.status() == 200 {
                break;
            }
            assert!(
                joined.status() == 503 && started.elapsed() < Duration::from_secs(30),
                "seated: {}",
                joined.status()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    (
        Snowflake::parse(room["channelId"].as_str().unwrap()).unwrap(),
        players,
    )
}

/// When a change's request went out, and when its answer was read.
#[derive(Clone, Copy)]
struct Answered {
    sent_at: Instant,
    read_at: Instant,
}

/// One player tapping: `count` changes at `rate`/s; each answer's `seq` with when it was read.
async fn tap(
    address: String,
    room: Snowflake,
    player: Arc<Seated>,
    count: usize,
    rate: u64,
    answered: Arc<Mutex<HashMap<i64, Answered>>>,
) -> usize {
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate.max(1)));
    let (room, target) = (room.to_string(), player.user.to_string());
    let mut refused = 0;
    for n in 0..count {
        tick.tick().await;
        let delta = if n % 2 == 0 { "-1" } else { "1" };
        let sent_at = Instant::now();
        let response = player
            .http
            .post(format!("http://{address}/api/table/change"))
            .form(&[
                ("channel", room.as_str()),
                ("target", target.as_str()),
                ("counter", "life"),
                ("delta", delta),
            ])
            .send()
            .await
            .unwrap();
        if response.status() != 200 {
            refused += 1;
            continue;
        }
        let body: serde_json::Value = response.json().await.unwrap();
        let read_at = Instant::now();
        let seq = body["change"]["seq"].as_i64().unwrap();
        answered
            .lock()
            .unwrap()
            .insert(seq, Answered { sent_at, read_at });
    }
    refused
}

/// One viewer: when each change arrived, until it has `total` of them or `quiet` passes.
async fn watch(mut client: Client, total: usize, quiet: Duration) -> Vec<(i64, Instant)> {
    let mut arrived = Vec::with_capacity(total);
    while arrived.len() < total {
        match tokio::time::timeout(quiet, client.next_frame()).await {
            Ok(Ok(Frame::Life { seq })) => arrived.push((seq, Instant::now())),
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => break,
        }
    }
    arrived
}

pub(super) async fn life_phase(sim: &SimHandle, server: &Server, redis: Option<u32>, options: &LifeOptions) {
    let (room, players) = seat_pod(sim, &server.address).await;
    let players: Vec<Arc<Seated>> = players.into_iter().map(Arc::new).collect();
    let per_player = usize::try_from(options.rate * options.seconds).unwrap();
    let total = per_player * players.len();
    let mut viewers = Vec::with_capacity(options.viewers);
    for n in 0..options.viewers {
        let table = Table {
            room,
            cookie: players[n % players.len()].cookie.clone(),
        };
        let mut client = Client::open(&server.address, &table).await.unwrap();
        // The stream opens with the snapshot, the seats and the table: read up to the table.
        loop {
            match client.next_frame().await.unwrap() {
                Frame::Other(name) if name == "table" => break,
                _ => {}
            }
        }
        viewers.push(tokio::spawn(watch(client, total, Duration::from_secs(10))));
    }
    let meter = CpuMeter::new(&[
        ("server (ROLE=all)", Some(server.pid)),
        (REDIS_LABEL, redis),
        (BENCH_LABEL, Some(std::process::id())),
    ]);
    let answered = Arc::new(Mutex::new(HashMap::with_capacity(total)));
    meter.start();
    let started = Instant::now();
    let tappers: Vec<_> = players
        .iter()
        .map(|player| {
            tokio::spawn(tap(
                server.address.clone(),
                room,
                player.clone(),
                per_player,
                options.rate,
                answered.clone(),
            ))
        })
        .collect();
    let mut refused = 0;
    for tapper in tappers {
        refused += tapper.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    let mut arrivals = Vec::with_capacity(viewers.len());
    for viewer in viewers {
        arrivals.push(viewer.await.unwrap());
    }
    let elapsed = started.elapsed();
    let cpu = meter.finish();
    let outcome = Outcome::of(&answered, arrivals);
    println!();
    println!(
        "life totals: {} players × {}/s for {} s = {} changes ({} refused), {} viewers, {:.1} s",
        players.len(),
        options.rate,
        options.seconds,
        answered.len(),
        refused,
        options.viewers,
        elapsed.as_secs_f64()
    );
    outcome.print(&cpu);
}

/// Every viewer's deliveries, matched with the answers.
struct Outcome {
    /// Answer → arrival, sorted.
    latencies: Vec<Duration>,
    /// Request → arrival (the whole path: HTTP, the database write, the fan-out), sorted.
    round_trips: Vec<Duration>,
    /// Arrivals before their answer was read (counted as 0 ms).
    early: usize,
    missed: usize,
    duplicated: usize,
}

impl Outcome {
    fn of(answered: &HashMap<i64, Answered>, arrivals: Vec<Vec<(i64, Instant)>>) -> Self {
        let mut latencies = Vec::with_capacity(answered.len() * arrivals.len());
        let mut round_trips = Vec::with_capacity(answered.len() * arrivals.len());
        let (mut early, mut missed, mut duplicated) = (0, 0, 0);
        for arrived in arrivals {
            let mut seen = std::collections::HashSet::with_capacity(arrived.len());
            for (seq, at) in arrived {
                if !seen.insert(seq) {
                    duplicated += 1;
                    continue;
                }
                let Some(answer) = answered.get(&seq) else {
                    continue;
                };
                if at < answer.read_at {
                    early += 1;
                }
                latencies.push(at.saturating_duration_since(answer.read_at));
                round_trips.push(at.saturating_duration_since(answer.sent_at));
            }
            missed += answered.keys().filter(|seq| !seen.contains(seq)).count();
        }
        latencies.sort_unstable();
        round_trips.sort_unstable();
        Self {
            latencies,
            round_trips,
            early,
            missed,
            duplicated,
        }
    }

    fn print(&self, cpu: &[super::CpuUse]) {
        let Self {
            latencies,
            round_trips,
            early,
            missed,
            duplicated,
        } = self;
        let p99 = percentile(latencies, 0.99);
        println!("| one process | p50 | p90 | p99 | max |");
        println!("|---|---|---|---|---|");
        for (label, sorted) in [("answer → viewer", latencies), ("request → viewer", round_trips)] {
            println!(
                "| {label} | {} | {} | {} | {} |",
                ms(percentile(sorted, 0.5)),
                ms(percentile(sorted, 0.9)),
                ms(percentile(sorted, 0.99)),
                ms(sorted.last().copied().unwrap_or_default()),
            );
        }
        println!(
            "deliveries {}, before their answer was read {early}, missed {missed}, duplicated {duplicated}",
            latencies.len()
        );
        let cpu: Vec<String> = cpu
            .iter()
            .map(|usage| match usage.percent {
                Some(percent) => format!("{} {percent:.0}%", usage.label),
                None => format!("{} n/a", usage.label),
            })
            .collect();
        println!("CPU (% of one core): {}", cpu.join(", "));
        println!(
            "goal p99 ≤ {}: {}",
            ms(GOAL_P99),
            if p99 <= GOAL_P99 { "met" } else { "NOT met" }
        );
    }
}
