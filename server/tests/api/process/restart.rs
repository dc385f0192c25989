//! Issue #9's restart scenario with the real binary: stop the server (SIGTERM, or SIGKILL after
//! the last periodic save), change voice at Discord while it is down, start it again on the same
//! database. It must RESUME (no second IDENTIFY) and a viewer's stream must show exactly
//! Discord's truth. `restart.rs` proves the same in-process; this proves it as an operator runs it.

use std::{collections::BTreeSet, path::Path, time::Duration};

use backend::{Store, config::DatabaseConfig};
use discord_sim::{DiscordSim, SimConfig, SimHandle, Snowflake};
use model::stream::RoomSnapshot;
use serde_json::Value;
use tokio::process::{Child, Command};

use super::{follow, healthy_within, server};
use crate::{
    helpers::{SseReader, TempDir},
    players::Player,
};

/// How the first server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGTERM: a deploy. It saves its session on the way out and exits 0.
    Term,
    /// SIGKILL: a crash. Only what the periodic save wrote survives.
    Kill,
}

/// A server binary and the address it listens on.
struct Running {
    child: Child,
    address: String,
}

/// Starts the server binary in `dir` (its SQLite file lives there, so every start shares it)
/// against `discord` configured as real Discord, and waits until it is healthy, which means its
/// gateway has connected.
async fn start(dir: &TempDir, discord: &SimHandle) -> Running {
    let endpoints = discord.endpoints();
    let db = dir.0.join("app.db").to_string_lossy().into_owned();
    let guild = endpoints.guild_id.to_string();
    let vars = [
        ("SQLITE_PATH", db.as_str()),
        ("LEPTOS_SITE_ADDR", "127.0.0.1:0"),
        ("GATEWAY_SAVE_EVERY_SECS", "1"),
        ("IP_RATE_BURST", "1000"),
        // What `spawn_app_on_real_discord` sets: a bot token and every Discord URL.
        ("DISCORD_BOT_TOKEN", endpoints.bot_token.as_str()),
        ("DISCORD_GUILD_ID", guild.as_str()),
        ("DISCORD_CLIENT_ID", endpoints.client_id.as_str()),
        ("DISCORD_CLIENT_SECRET", endpoints.client_secret.as_str()),
        ("DISCORD_GATEWAY_URL", endpoints.gateway_url.as_str()),
        ("DISCORD_API_BASE", endpoints.api_base.as_str()),
        (
            "DISCORD_OAUTH_AUTHORIZE_URL",
            endpoints.oauth_authorize_url.as_str(),
        ),
        ("DISCORD_OAUTH_TOKEN_URL", endpoints.oauth_token_url.as_str()),
        ("DISCORD_OAUTH_REVOKE_URL", endpoints.oauth_revoke_url.as_str()),
    ];
    let mut child = server(dir, &vars).spawn().unwrap();
    let mut log = follow(&mut child);
    let address = tokio::time::timeout(Duration::from_secs(30), log.wait_for(|log| log.address.is_some()))
        .await
        .expect("the server starts listening within 30 s")
        .expect("the server is running")
        .address
        .clone()
        .unwrap();
    assert!(
        healthy_within(&address, Duration::from_secs(20)).await,
        "the server's gateway connects within 20 s"
    );
    Running { child, address }
}

/// Who is in `channel` according to the simulator.
fn truth(discord: &SimHandle, channel: Snowflake) -> BTreeSet<u64> {
    discord
        .world()
        .voice
        .values()
        .filter(|state| state.channel_id == channel)
        .map(|state| state.user_id.get())
        .collect()
}

/// A viewer's open stream of one room, the member list it shows, and whether the server says
/// that list follows Discord.
struct Viewer {
    frames: SseReader,
    shows: BTreeSet<u64>,
    ready: bool,
}

impl Viewer {
    /// Opens `room`'s stream as `player` and reads its snapshot.
    async fn open(player: &Player, room: &str) -> Self {
        let response = player.get(&format!("/api/stream?room={room}")).await;
        assert_eq!(response.status(), 200, "the viewer may watch the room");
        let mut frames = SseReader::new(response);
        let frame = frames.next_event().await;
        assert_eq!(frame.event.as_deref(), Some("snapshot"), "{frame:?}");
        let snapshot: RoomSnapshot = serde_json::from_str(&frame.data).unwrap();
        let shows = snapshot
            .members
            .iter()
            .map(|member| member.user_id.get())
            .collect();
        Self {
            frames,
            shows,
            ready: snapshot.discord.is_ready(),
        }
    }

    /// Applies live events, as the page does, until the server says the list follows Discord and
    /// it is `expected`. (A list not yet following Discord may lag; the page says so meanwhile.)
    async fn until_shows(&mut self, expected: &BTreeSet<u64>) {
        let caught_up = tokio::time::timeout(Duration::from_secs(5), async {
            while !(self.ready && self.shows == *expected) {
                let frame = self.frames.next_event().await;
                let event: Value = serde_json::from_str(&frame.data).unwrap();
                let user = event["userId"].as_str().and_then(|id| id.parse().ok());
                match (frame.event.as_deref(), user) {
                    (Some("voice.joined"), Some(user)) => {
                        self.shows.insert(user);
                    }
                    (Some("voice.left"), Some(user)) => {
                        self.shows.remove(&user);
                    }
                    (Some("discord.status"), _) => self.ready = event["status"] == "ready",
                    _ => {}
                }
            }
        })
        .await;
        assert!(
            caught_up.is_ok(),
            "the viewer sees {:?} (following Discord: {}), Discord has {expected:?}",
            self.shows,
            self.ready
        );
    }
}

/// Waits until the database holds a saved gateway session whose roster has `user` in `channel`.
async fn saved_with(db: &Path, discord: &SimHandle, user: Snowflake, channel: Snowflake) {
    let store = Store::connect(&DatabaseConfig::Sqlite { path: db.to_owned() })
        .await
        .unwrap();
    let guild = discord.endpoints().guild_id.to_string().parse().unwrap();
    let saved = tokio::time::timeout(Duration::from_secs(10), async {
        // Polled: the database has no change notification to wait on.
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            poll.tick().await;
            let record = store.gateway_session(guild).await.unwrap();
            if record.is_some_and(|record| {
                record
                    .roster
                    .iter()
                    .any(|m| m.user_id.get() == user.get() && m.channel_id.get() == channel.get())
            }) {
                return;
            }
        }
    })
    .await;
    store.close().await;
    assert!(saved.is_ok(), "a periodic save holds the roster within 10 s");
}

async fn restarted_binary_resumes_and_viewers_see_discords_truth(stop: Stop) {
    let discord = DiscordSim::start(SimConfig::default()).await.unwrap();
    let demo = discord.demo();
    let dir = TempDir::new("restart");
    let Running { mut child, address } = start(&dir, &discord).await;

    let alice = Player::signed_in_at(&address, &demo.alice.to_string()).await;
    let mut bob = Player::signed_in_at(&address, &demo.bob.to_string()).await;
    let (channel, token) = alice.create_room("Resumed").await;
    bob.call("join", &[("token", &token)]).await.ok();
    let room = Snowflake::parse(&channel).unwrap();

    // Bob watches alice come in: the running server's roster has her.
    let mut viewer = Viewer::open(&bob, &channel).await;
    discord.join_voice(demo.alice, room).unwrap();
    viewer.until_shows(&truth(&discord, room)).await;
    drop(viewer);
    if stop == Stop::Kill {
        saved_with(&dir.0.join("app.db"), &discord, demo.alice, room).await;
    }
    let before = discord.counters();

    match stop {
        Stop::Term => {
            let pid = child.id().unwrap().to_string();
            let signalled = Command::new("kill").args(["-TERM", &pid]).status().await;
            assert!(signalled.unwrap().success());
        }
        Stop::Kill => child.start_kill().unwrap(),
    }
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("the server exits within 15 s")
        .unwrap();
    if stop == Stop::Term {
        assert!(status.success(), "graceful exit, got {status}");
    }

    // While the server is down, alice leaves the room and bob comes in.
    discord.move_voice(demo.alice, demo.lobby).unwrap();
    discord.join_voice(demo.bob, room).unwrap();
    let expected = truth(&discord, room);
    assert_eq!(expected, BTreeSet::from([demo.bob.get()]));

    let again = start(&dir, &discord).await;
    let after = discord.counters();
    assert_eq!(after.identifies, before.identifies, "no second IDENTIFY");
    assert_eq!(after.resumes, before.resumes + 1, "one RESUME");

    bob.address = again.address.clone();
    Viewer::open(&bob, &channel).await.until_shows(&expected).await;
}

#[tokio::test]
async fn after_sigterm_the_binary_resumes_and_viewers_see_discords_truth() {
    restarted_binary_resumes_and_viewers_see_discords_truth(Stop::Term).await;
}

#[tokio::test]
async fn after_sigkill_past_a_periodic_save_the_binary_resumes_and_viewers_see_discords_truth() {
    restarted_binary_resumes_and_viewers_see_discords_truth(Stop::Kill).await;
}
