//! Issue "Scale out" as operators run it: the real binary in its split roles, two gateway
//! processes and two web instances, on a real Redis and PostgreSQL, against the simulator.
//!
//! One scenario, because every step builds on the one before and the cluster costs seconds to
//! start: viewers on both web instances see Discord; the lease holder dies and the standby takes
//! over, and what happened meanwhile reaches both viewers once each, in order; a web instance
//! dies and its viewer carries on at the other with `Last-Event-ID`, missing nothing; the rate
//! limit is one budget across instances; a holder that stalls past its lease is replaced and,
//! once awake, cannot publish.

use std::time::{Duration, Instant};

use discord_sim::{DiscordSim, SimConfig, SimHandle, Snowflake};
use serde_json::Value;
use tokio::{process::Child, sync::watch};

use super::{Log, follow, server};
use crate::{
    helpers::{SseReader, TempDir},
    players::Player,
};

/// The lease TTL the gateways run with: short, so a takeover is quick to wait for.
const LEASE_TTL_SECS: &str = "2";

/// One running binary.
struct Node {
    child: Child,
    address: String,
    log: watch::Receiver<Log>,
    _dir: TempDir,
}

impl Node {
    async fn start(name: &str, vars: &[(String, String)]) -> Self {
        let dir = TempDir::new(name);
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut child = server(&dir, &vars).spawn().unwrap();
        let mut log = follow(&mut child);
        let address =
            tokio::time::timeout(Duration::from_secs(30), log.wait_for(|log| log.address.is_some()))
                .await
                .unwrap_or_else(|_| panic!("{name} starts listening within 30 s"))
                .unwrap_or_else(|_| panic!("{name} is running"))
                .address
                .clone()
                .unwrap();
        Self {
            child,
            address,
            log,
            _dir: dir,
        }
    }

    /// `ws://…` of a gateway process.
    fn link_url(&self) -> String {
        self.address.replacen("http://", "ws://", 1)
    }

    async fn health(&self) -> Option<Value> {
        let response = reqwest::Client::new()
            .get(format!("{}/health", self.address))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// Waits until `/health` satisfies `wanted`; how long that took.
    async fn until_health(&self, within: Duration, wanted: impl Fn(&Value) -> bool) -> Duration {
        let started = Instant::now();
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        let reached = tokio::time::timeout(within, async {
            loop {
                poll.tick().await;
                if self.health().await.is_some_and(|health| wanted(&health)) {
                    return;
                }
            }
        })
        .await;
        assert!(
            reached.is_ok(),
            "{} health within {within:?}: {:?}\n{}",
            self.address,
            self.health().await,
            self.tail()
        );
        started.elapsed()
    }

    /// Waits until `/health/ready` answers 200 (a web instance: linked, roster followed).
    async fn until_ready(&self) {
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        let ready = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                poll.tick().await;
                let response = reqwest::get(format!("{}/health/ready", self.address)).await;
                if response.is_ok_and(|response| response.status() == 200) {
                    return;
                }
            }
        })
        .await;
        assert!(
            ready.is_ok(),
            "{} becomes ready within 20 s\n{}",
            self.address,
            self.tail()
        );
    }

    /// Sends `signal` (`-STOP`, `-CONT`, …) to the process.
    async fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let sent = tokio::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success(), "kill {signal} {pid}");
    }

    /// Waits until the process has logged a line containing `text`.
    async fn until_logged(&self, within: Duration, text: &str) {
        let mut log = self.log.clone();
        let logged = tokio::time::timeout(
            within,
            log.wait_for(|log| log.recent.iter().any(|line| line.contains(text))),
        )
        .await;
        assert!(
            logged.is_ok_and(|seen| seen.is_ok()),
            "{} logs {text:?} within {within:?}\n{}",
            self.address,
            self.tail()
        );
    }

    /// The process's latest log lines, for a failure message.
    fn tail(&self) -> String {
        self.log
            .borrow()
            .recent
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn kill(mut self) {
        self.child.start_kill().unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("a killed process exits")
            .unwrap();
    }
}

fn holds_lease(health: &Value) -> bool {
    health["lease"] == "held" && health["gateway"] == "CONNECTED"
}

/// What every node shares: the database, Redis namespace, link token, session secret, Discord.
fn shared_vars(discord: &SimHandle, database: &str, namespace: &str) -> Vec<(String, String)> {
    let endpoints = discord.endpoints();
    [
        ("DATABASE_URL", database),
        ("REDIS_URL", "redis://127.0.0.1:6379"),
        ("REDIS_NAMESPACE", namespace),
        ("LINK_TOKEN", "a-link-token-for-the-cluster-test"),
        ("SESSION_SECRET", &"s".repeat(64)),
        ("LEASE_TTL_SECS", LEASE_TTL_SECS),
        ("GATEWAY_SAVE_EVERY_SECS", "1"),
        ("IP_RATE_BURST", "1000"),
        ("LEPTOS_SITE_ADDR", "127.0.0.1:0"),
        ("LOG_FORMAT", "json"),
        ("DISCORD_GUILD_ID", &endpoints.guild_id.to_string()),
        ("DISCORD_CLIENT_ID", &endpoints.client_id),
        ("DISCORD_CLIENT_SECRET", &endpoints.client_secret),
        ("DISCORD_API_BASE", &endpoints.api_base),
        ("DISCORD_OAUTH_AUTHORIZE_URL", &endpoints.oauth_authorize_url),
        ("DISCORD_OAUTH_TOKEN_URL", &endpoints.oauth_token_url),
        ("DISCORD_OAUTH_REVOKE_URL", &endpoints.oauth_revoke_url),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

async fn start_gateway(name: &str, shared: &[(String, String)], discord: &SimHandle) -> Node {
    let endpoints = discord.endpoints();
    let mut vars = shared.to_vec();
    vars.extend(
        [
            ("ROLE", "gateway"),
            ("GATEWAY_WS_PORT", "0"),
            // The lease holder's janitor sweeps every second here (every minute by default).
            ("JANITOR_SWEEP_SECS", "1"),
            ("DISCORD_BOT_TOKEN", endpoints.bot_token.as_str()),
            ("DISCORD_GATEWAY_URL", endpoints.gateway_url.as_str()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    Node::start(name, &vars).await
}

async fn start_web(name: &str, shared: &[(String, String)], gateways: &str) -> Node {
    let mut vars = shared.to_vec();
    vars.push(("ROLE".to_owned(), "web".to_owned()));
    vars.push(("GATEWAY_WS_URL".to_owned(), gateways.to_owned()));
    let node = Node::start(name, &vars).await;
    node.until_ready().await;
    // Linked, and seeded with the roster the link brought (not merely within the startup grace).
    node.until_health(Duration::from_secs(20), |health| {
        health["parts"]["gateway"]["status"] == "up"
    })
    .await;
    node
}

/// A viewer's stream of one room: the voice events it received, in order, and the last id.
struct Viewer {
    frames: SseReader,
    last_id: Option<String>,
    /// `joined:<user>` / `left:<user>`, in the order received.
    voice: Vec<String>,
}

impl Viewer {
    async fn open(player: &Player, room: &str, last_event_id: Option<&str>) -> (Self, String) {
        let mut request = player
            .client
            .get(format!("{}/api/stream?room={room}", player.address));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "the player may watch the room");
        let mut viewer = Self {
            frames: SseReader::new(response),
            last_id: last_event_id.map(str::to_owned),
            voice: Vec::new(),
        };
        let first = viewer.frames.next_event().await;
        let kind = first.event.clone().unwrap_or_default();
        viewer.take(first);
        (viewer, kind)
    }

    fn take(&mut self, frame: crate::helpers::SseFrame) {
        if frame.id.is_some() {
            self.last_id.clone_from(&frame.id);
        }
        let event: Value = serde_json::from_str(&frame.data).unwrap_or(Value::Null);
        let user = event["userId"].as_str().unwrap_or_default();
        match frame.event.as_deref() {
            Some("voice.joined") => self.voice.push(format!("joined:{user}")),
            Some("voice.left") => self.voice.push(format!("left:{user}")),
            _ => {}
        }
    }

    /// Reads until the voice events received end with `sentinel`.
    async fn until(&mut self, sentinel: &str) {
        let reached = tokio::time::timeout(Duration::from_secs(20), async {
            while self.voice.last().map(String::as_str) != Some(sentinel) {
                let frame = self.frames.next_event().await;
                self.take(frame);
            }
        })
        .await;
        assert!(reached.is_ok(), "saw {:?}, waiting for {sentinel}", self.voice);
    }
}

#[tokio::test]
async fn two_gateways_and_two_web_instances_fail_over_without_losing_or_repeating_an_event() {
    let discord = DiscordSim::start(SimConfig::default()).await.unwrap();
    let demo = discord.demo();
    let (alice, bob, carol) = (demo.alice, demo.bob, demo.carol);
    let database = crate::helpers::fresh_postgres_database("spell_coven_cluster").await;
    let namespace = format!("test:cluster:{}", uuid::Uuid::new_v4().simple());
    let shared = shared_vars(&discord, &database, &namespace);

    let gateway_a = start_gateway("gateway-a", &shared, &discord).await;
    gateway_a.until_health(Duration::from_secs(20), holds_lease).await;
    let gateway_b = start_gateway("gateway-b", &shared, &discord).await;
    gateway_b
        .until_health(Duration::from_secs(10), |health| health["lease"] == "standby")
        .await;
    let gateways = format!("{},{}", gateway_a.link_url(), gateway_b.link_url());
    let web_1 = start_web("web-1", &shared, &gateways).await;
    let web_2 = start_web("web-2", &shared, &gateways).await;

    // Alice creates a room on web 1; bob joins it on web 2. Each watches on their instance.
    let owner = Player::signed_in_at(&web_1.address, &alice.to_string()).await;
    let guest = Player::signed_in_at(&web_2.address, &bob.to_string()).await;
    let (channel, token) = owner.create_room("Scaled out").await;
    guest.call("join", &[("token", &token)]).await.ok();
    let room = Snowflake::parse(&channel).unwrap();
    let (mut on_1, _) = Viewer::open(&owner, &channel, None).await;
    let (mut on_2, _) = Viewer::open(&guest, &channel, None).await;

    discord.join_voice(alice, room).unwrap();
    let first = format!("joined:{alice}");
    on_1.until(&first).await;
    on_2.until(&first).await;

    // The lease holder dies. While nobody holds Discord, bob comes and alice goes.
    let before = discord.counters();
    gateway_a.kill().await;
    let killed = Instant::now();
    discord.join_voice(bob, room).unwrap();
    discord.move_voice(alice, demo.lobby).unwrap();
    gateway_b.until_health(Duration::from_secs(15), holds_lease).await;
    let takeover = killed.elapsed();
    let after = discord.counters();
    assert_eq!(
        (after.identifies, after.resumes),
        (before.identifies, before.resumes + 1),
        "the standby RESUMEd the holder's saved session"
    );
    assert!(
        takeover <= Duration::from_secs(15),
        "the standby took over in {takeover:?}"
    );
    // A sentinel after the gap: everything before it has arrived once it has.
    discord.join_voice(carol, room).unwrap();
    let sentinel = format!("joined:{carol}");
    let expected = [
        first.clone(),
        format!("joined:{bob}"),
        format!("left:{alice}"),
        sentinel.clone(),
    ];
    for viewer in [&mut on_1, &mut on_2] {
        viewer.until(&sentinel).await;
        assert_eq!(viewer.voice, expected, "no gap, no duplicate across the takeover");
    }

    one_budget_across_instances(&owner, &web_2, &channel).await;

    // Web 1 dies; alice's page reconnects to web 2 with the last id it saw and misses nothing.
    let seen = on_1.last_id.clone().expect("the stream carries ids");
    drop(on_1);
    web_1.kill().await;
    discord.move_voice(carol, demo.lobby).unwrap();
    on_2.until(&format!("left:{carol}")).await;
    let mut owner = owner;
    owner.address.clone_from(&web_2.address);
    let (mut resumed, first_kind) = Viewer::open(&owner, &channel, Some(&seen)).await;
    // The first frame replayed may be a seat's drop (a player left voice meanwhile): any event
    // but a snapshot proves the instance replayed from the id.
    assert_ne!(
        first_kind, "snapshot",
        "a replay of what it missed, not a snapshot"
    );
    resumed.until(&format!("left:{carol}")).await;
    assert_eq!(resumed.voice, [format!("left:{carol}")], "exactly what it missed");
    discord.join_voice(alice, room).unwrap();
    resumed.until(&format!("joined:{alice}")).await;
    assert_eq!(
        resumed.voice,
        [format!("left:{carol}"), format!("joined:{alice}")]
    );

    let (web_3, guest) =
        a_new_web_instance_replays_from_the_stream(&mut on_2, guest, &shared, &gateways, &discord, &channel)
            .await;

    let gateway_c = a_stalled_holder_is_replaced_and_fenced(&gateway_b, &shared, &discord).await;
    // The cluster still works under its third holder.
    discord.move_voice(alice, demo.lobby).unwrap();
    resumed.until(&format!("left:{alice}")).await;
    the_janitor_spares_a_room_watched_only_elsewhere(&database, &discord, &guest, &channel).await;

    drop(guest);
    web_3.kill().await;
    web_2.kill().await;
    gateway_b.kill().await;
    gateway_c.kill().await;
    crate::helpers::drop_postgres_database(&database).await;
    eprintln!("takeover after the holder was killed: {takeover:?}");
}

/// The owner's budget, spent on web 1, is spent on web 2 too.
async fn one_budget_across_instances(owner: &Player, web_2: &Node, channel: &str) {
    let mut spent = 0;
    while owner.call("refresh_invite", &[("channel", channel)]).await.status != 429 {
        spent += 1;
        assert!(spent <= 12, "the budget is a burst of 10");
    }
    let mut elsewhere = Player::anonymous_at(&web_2.address);
    elsewhere.client = owner.client.clone();
    let answer = elsewhere.call("refresh_invite", &[("channel", channel)]).await;
    assert_eq!(
        answer.status, 429,
        "the other instance draws on the same budget: {answer:?}"
    );
}

/// A holder that stalls past its lease (paused, partitioned) is replaced by a new standby, and
/// once awake it may not publish: its appends are fenced. Returns the new holder.
async fn a_stalled_holder_is_replaced_and_fenced(
    holder: &Node,
    shared: &[(String, String)],
    discord: &SimHandle,
) -> Node {
    let successor = start_gateway("gateway-c", shared, discord).await;
    successor
        .until_health(Duration::from_secs(10), |health| health["lease"] == "standby")
        .await;
    holder.signal("-STOP").await;
    successor.until_health(Duration::from_secs(15), holds_lease).await;
    holder.signal("-CONT").await;
    holder
        .until_health(Duration::from_secs(10), |health| health["lease"] == "standby")
        .await;
    holder
        .until_logged(
            Duration::from_secs(10),
            "not published: this process lost the gateway lease",
        )
        .await;
    successor
}

/// A web instance started now has no log of its own: bob's page (`on_2`, on web 2, caught up),
/// reconnecting to it with the last id it saw, is replayed what it missed from the Stream.
/// Returns the new instance and bob, now using it.
async fn a_new_web_instance_replays_from_the_stream(
    on_2: &mut Viewer,
    mut guest: Player,
    shared: &[(String, String)],
    gateways: &str,
    discord: &SimHandle,
    channel: &str,
) -> (Node, Player) {
    let demo = discord.demo();
    let room = Snowflake::parse(channel).unwrap();
    on_2.until(&format!("joined:{}", demo.alice)).await;
    let seen = on_2.last_id.clone().expect("the stream carries ids");
    discord.join_voice(demo.carol, room).unwrap();
    let carol_joined = format!("joined:{}", demo.carol);
    on_2.until(&carol_joined).await;
    let web_3 = start_web("web-3", shared, gateways).await;
    guest.address.clone_from(&web_3.address);
    let (mut on_3, first_kind) = Viewer::open(&guest, channel, Some(&seen)).await;
    assert_ne!(first_kind, "snapshot", "replayed from the Stream, not a snapshot");
    on_3.until(&carol_joined).await;
    assert_eq!(on_3.voice, [carol_joined], "exactly what it missed");
    (web_3, guest)
}

/// The janitor runs on the lease holder, which has no viewers of its own: of two rooms idle past
/// the hour and warned long ago, it deletes the one nobody watches (which shows it swept) and
/// spares the one watched only through web instances.
async fn the_janitor_spares_a_room_watched_only_elsewhere(
    database: &str,
    discord: &SimHandle,
    player: &Player,
    watched: &str,
) {
    use sqlx::{Connection as _, PgConnection};

    let demo = discord.demo();
    for user in [demo.alice, demo.bob, demo.carol] {
        discord.leave_voice(user).ok();
    }
    let (unwatched, _) = player.create_room("Nobody watches").await;
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let mut db = PgConnection::connect(database).await.unwrap();
    sqlx::query("UPDATE rooms SET idle_since = $1, warned_at = $2 WHERE channel_id IN ($3, $4)")
        .bind(now_ms - 2 * 3_600_000)
        .bind(now_ms - 10 * 60_000)
        .bind(watched)
        .bind(&unwatched)
        .execute(&mut db)
        .await
        .unwrap();
    let exists = |channel: &str| {
        discord
            .world()
            .channels
            .contains_key(&Snowflake::parse(channel).unwrap())
    };
    let mut poll = tokio::time::interval(Duration::from_millis(50));
    let swept = tokio::time::timeout(Duration::from_secs(15), async {
        while exists(&unwatched) {
            poll.tick().await;
        }
    })
    .await;
    assert!(swept.is_ok(), "the janitor deletes the idle room nobody watches");
    assert!(
        exists(watched),
        "and spares the one watched through a web instance"
    );
}
