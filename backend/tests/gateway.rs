//! The gateway task against the Discord simulator, with the real twilight shard: the roster follows
//! Discord's truth through joins, moves, leaves and the chaos scenarios of
//! `reference/discord-protocol.md` §5, with no lost and no duplicated member; across a restart
//! (graceful or not) the saved session is resumed; and the app reconnects on its own schedule.

#![allow(clippy::unwrap_used, reason = "a failed unwrap in a test is the assertion")]

use std::{collections::BTreeMap, time::Duration};

use backend::{
    Store,
    bus::{BusMessage, BusSubscription, EventBus},
    config::{DatabaseConfig, GatewayConfig},
    discord::gateway::{self, Gateway, GatewayError, GatewayState, SessionStore, ShardSettings},
    roster::Roster,
};
use discord_sim::{DiscordSim, GatewayFault, SimConfig, SimHandle, Snowflake};
use model::{event::AppEvent, ids::GuildId};
use tokio::{sync::oneshot, sync::watch, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use twilight_gateway::queue::Queue;

const WAIT: Duration = Duration::from_secs(20);

/// twilight's default queue spaces identifies 5 s apart; tests need no such delay.
#[derive(Debug, Clone, Copy)]
struct NoDelayQueue;

impl Queue for NoDelayQueue {
    fn enqueue(&self, _shard: u32) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(());
        rx
    }
}

struct Harness {
    sim: SimHandle,
    events: BusSubscription,
    state: watch::Receiver<GatewayState>,
    /// The roster as the app events describe it: user → channel.
    seen: BTreeMap<u64, u64>,
    task: JoinHandle<Result<(), GatewayError>>,
    shutdown: CancellationToken,
}

async fn start(config: SimConfig) -> Harness {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = DiscordSim::start(config).await.unwrap();
    start_with(sim, None)
}

fn start_with(sim: SimHandle, token: Option<&str>) -> Harness {
    start_full(sim, token, None, Duration::from_secs(15))
}

/// Saving every second, resuming sessions up to the default age.
const SAVING: GatewayConfig = GatewayConfig {
    save_every: Duration::from_secs(1),
    resume_max_age: Duration::from_secs(300),
    reconnect_max: Duration::from_secs(15),
};

/// A gateway that saves its session to `store` (and resumes the one saved there).
fn start_saving(sim: SimHandle, store: &Store) -> Harness {
    start_full(sim, None, Some((store, SAVING)), Duration::from_secs(15))
}

fn start_full(
    sim: SimHandle,
    token: Option<&str>,
    store: Option<(&Store, GatewayConfig)>,
    reconnect_max: Duration,
) -> Harness {
    let endpoints = sim.endpoints();
    let bus = EventBus::local(1024);
    let events = bus.subscribe();
    let guild: GuildId = endpoints.guild_id.to_string().parse().unwrap();
    let token = token.map_or(endpoints.bot_token, str::to_owned);
    let mut gateway = Gateway::new(Roster::new(guild), bus);
    if let Some((store, config)) = store {
        gateway = gateway.with_session_store(SessionStore::new(store.clone(), &token, &config));
    }
    let state = gateway.state();
    let shutdown = CancellationToken::new();
    let settings = ShardSettings {
        token,
        gateway_url: endpoints.gateway_url,
        reconnect_max,
    };
    let task = tokio::spawn(gateway::supervise(
        settings,
        NoDelayQueue,
        gateway,
        shutdown.clone(),
    ));
    Harness {
        sim,
        events,
        state,
        seen: BTreeMap::new(),
        task,
        shutdown,
    }
}

fn fast() -> SimConfig {
    SimConfig::fast(Duration::from_millis(400))
}

impl Harness {
    async fn wait_state(&mut self, wanted: GatewayState) {
        let reached = tokio::time::timeout(WAIT, self.state.wait_for(|state| *state == wanted))
            .await
            .is_ok();
        assert!(
            reached,
            "state {wanted:?} within {WAIT:?}; is {:?}",
            *self.state.borrow()
        );
    }

    /// Applies app events to `seen` until it equals the simulator's voice truth, failing on a
    /// duplicate join (joined while already in that channel) or a leave of someone not there.
    async fn converge(&mut self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let truth = self.truth();
            if self.seen == truth {
                return;
            }
            let message = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("roster converges: seen {:?}, truth {truth:?}", self.seen));
            match message {
                BusMessage::Event(AppEvent::VoiceJoined(joined)) => {
                    let before = self.seen.insert(joined.user_id.get(), joined.channel_id.get());
                    assert_ne!(
                        before,
                        Some(joined.channel_id.get()),
                        "duplicated join of {}",
                        joined.user_id
                    );
                    assert_eq!(before, None, "joined without leaving first: {}", joined.user_id);
                }
                BusMessage::Event(AppEvent::VoiceLeft(left)) => {
                    let before = self.seen.remove(&left.user_id.get());
                    assert_eq!(
                        before,
                        Some(left.left_channel_id.get()),
                        "left a channel it was not in"
                    );
                }
                BusMessage::Event(_) => {}
                other => panic!("unexpected bus message {other:?}"),
            }
        }
    }

    fn truth(&self) -> BTreeMap<u64, u64> {
        self.sim
            .world()
            .voice
            .values()
            .map(|state| (state.user_id.get(), state.channel_id.get()))
            .collect()
    }

    fn fault(&self, fault: &GatewayFault) {
        assert_eq!(
            self.sim.fault_all(fault),
            1,
            "one live connection takes the fault"
        );
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(WAIT, self.task).await.unwrap().unwrap();
        assert_eq!(result, Ok(()));
    }
}

fn user(sim: &SimHandle, name: &str) -> Snowflake {
    sim.create_user(name)
}

#[tokio::test]
async fn identify_then_joins_moves_and_leaves_follow_the_simulator() {
    let mut harness = start(fast()).await;
    harness.wait_state(GatewayState::Connected).await;
    harness.converge().await;

    let demo = harness.sim.demo();
    let dana = user(&harness.sim, "dana");
    harness.sim.join_voice(dana, demo.lobby).unwrap();
    harness.converge().await;
    harness.sim.move_voice(dana, demo.games).unwrap();
    harness.converge().await;
    harness.sim.set_self_mute(dana, true).unwrap();
    harness.sim.leave_voice(dana).unwrap();
    harness.converge().await;
    assert!(!harness.seen.contains_key(&dana.get()));
    harness.stop().await;
}

#[tokio::test]
async fn op7_five_times_resumes_with_nothing_lost_or_duplicated() {
    let mut harness = start(fast()).await;
    harness.wait_state(GatewayState::Connected).await;
    harness.converge().await;
    let demo = harness.sim.demo();
    let resumes_before = harness.sim.counters();
    for round in 0..5 {
        let player = user(&harness.sim, &format!("player{round}"));
        harness.fault(&GatewayFault::Reconnect);
        // Happens while the client reconnects: must be replayed on RESUME.
        harness
            .sim
            .join_voice(player, if round % 2 == 0 { demo.lobby } else { demo.games })
            .unwrap();
        harness.converge().await;
        harness.wait_state(GatewayState::Connected).await;
    }
    let counters = harness.sim.counters();
    assert_eq!(
        counters.identifies, resumes_before.identifies,
        "resumed, never re-identified"
    );
    harness.stop().await;
}

#[tokio::test]
async fn withheld_then_replayed_events_arrive_once() {
    let mut harness = start(fast()).await;
    harness.wait_state(GatewayState::Connected).await;
    harness.converge().await;
    let demo = harness.sim.demo();
    let erin = user(&harness.sim, "erin");
    harness.fault(&GatewayFault::Withhold { count: 2 });
    harness.sim.join_voice(erin, demo.lobby).unwrap();
    harness.sim.move_voice(erin, demo.games).unwrap();
    harness.fault(&GatewayFault::Drop);
    harness.converge().await;
    harness.stop().await;
}

#[tokio::test]
async fn op9_false_reidentifies_and_rebuilds_the_roster() {
    let mut harness = start(fast()).await;
    harness.wait_state(GatewayState::Connected).await;
    harness.converge().await;
    let demo = harness.sim.demo();
    let fern = user(&harness.sim, "fern");
    harness.sim.join_voice(fern, demo.lobby).unwrap();
    harness.converge().await;
    let identifies = harness.sim.counters().identifies;

    harness.fault(&GatewayFault::Withhold { count: 10 });
    harness.sim.move_voice(fern, demo.games).unwrap();
    harness.fault(&GatewayFault::InvalidSession { resumable: false });
    harness.converge().await;
    assert_eq!(
        harness.sim.counters().identifies,
        identifies + 1,
        "exactly one re-identify"
    );
    harness.stop().await;
}

#[tokio::test]
async fn a_black_holed_connection_is_detected_as_a_zombie_and_resumed() {
    let mut harness = start(fast()).await;
    harness.wait_state(GatewayState::Connected).await;
    harness.converge().await;
    let gwen = user(&harness.sim, "gwen");
    harness.fault(&GatewayFault::BlackHole);
    harness.sim.join_voice(gwen, harness.sim.demo().lobby).unwrap();
    harness.converge().await;
    harness.stop().await;
}

#[tokio::test]
async fn stopped_acks_make_a_zombie_that_resumes() {
    let mut harness = start(fast()).await;
    harness.wait_state(GatewayState::Connected).await;
    harness.converge().await;
    let hana = user(&harness.sim, "hana");
    harness.fault(&GatewayFault::Acks { enabled: false });
    harness.wait_state(GatewayState::Reconnecting).await;
    harness.sim.join_voice(hana, harness.sim.demo().games).unwrap();
    harness.converge().await;
    harness.stop().await;
}

#[tokio::test]
async fn a_bad_token_is_fatal_4004_and_is_not_retried() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = DiscordSim::start(fast()).await.unwrap();
    let mut harness = start_with(sim, Some("not-the-token"));
    let result = tokio::time::timeout(WAIT, &mut harness.task)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(result, Err(GatewayError::Fatal { code: 4004, .. })),
        "{result:?}"
    );
    assert_eq!(*harness.state.borrow(), GatewayState::Fatal(4004));
    assert_eq!(
        harness.sim.counters().connections,
        1,
        "one attempt, no reconnect loop"
    );
}

#[tokio::test]
async fn disallowed_intents_close_4014_is_fatal() {
    let mut harness = start(fast()).await;
    harness.wait_state(GatewayState::Connected).await;
    harness.fault(&GatewayFault::Close {
        code: 4014,
        reason: "Disallowed intent(s).".to_owned(),
        hold: false,
    });
    let result = tokio::time::timeout(WAIT, &mut harness.task)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(result, Err(GatewayError::Fatal { code: 4014, .. })),
        "{result:?}"
    );
    assert_eq!(*harness.state.borrow(), GatewayState::Fatal(4014));
}

/// A SQLite store in a folder removed with it.
struct TempStore {
    store: Store,
    dir: std::path::PathBuf,
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn temp_store() -> TempStore {
    let dir = std::env::temp_dir().join(format!("spell-coven-gateway-{}", uuid::Uuid::new_v4()));
    let store = Store::connect(&DatabaseConfig::Sqlite {
        path: dir.join("app.db"),
    })
    .await
    .unwrap();
    TempStore { store, dir }
}

/// Waits until the saved roster holds `user` (a periodic save happened after their join).
async fn wait_saved_with(store: &Store, guild: Snowflake, user: Snowflake) {
    let guild: GuildId = guild.to_string().parse().unwrap();
    let saved = tokio::time::timeout(WAIT, async {
        // Polled: the database has no change notification to wait on.
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            poll.tick().await;
            if let Some(record) = store.gateway_session(guild).await.unwrap()
                && record
                    .roster
                    .iter()
                    .any(|member| member.user_id.get() == user.get())
            {
                return;
            }
        }
    })
    .await;
    assert!(saved.is_ok(), "a periodic save within {WAIT:?}");
}

#[tokio::test]
async fn a_graceful_restart_resumes_and_catches_up_on_what_happened_meanwhile() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = DiscordSim::start(fast()).await.unwrap();
    let db = temp_store().await;
    let demo = sim.demo();
    let mut first = start_saving(sim.clone(), &db.store);
    first.wait_state(GatewayState::Connected).await;
    let dana = user(&sim, "dana");
    sim.join_voice(dana, demo.lobby).unwrap();
    first.converge().await;
    let closes_before = sim.counters().resumable_closes;
    first.stop().await;
    let closed = sim
        .wait_until(Duration::from_secs(2), |counters, _| {
            counters.resumable_closes == closes_before + 1
        })
        .await;
    assert!(closed, "the resumable close frame went out");

    // While the app is down: a join, a move.
    let erin = user(&sim, "erin");
    sim.join_voice(erin, demo.games).unwrap();
    sim.move_voice(dana, demo.games).unwrap();
    let before = sim.counters();

    let mut second = start_saving(sim.clone(), &db.store);
    second.wait_state(GatewayState::Connected).await;
    second.converge().await;
    let after = sim.counters();
    assert_eq!(after.identifies, before.identifies, "no second IDENTIFY");
    assert_eq!(after.resumes, before.resumes + 1, "one RESUME");
    second.stop().await;
}

#[tokio::test]
async fn a_crash_after_a_periodic_save_resumes_too() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = DiscordSim::start(fast()).await.unwrap();
    let db = temp_store().await;
    let demo = sim.demo();
    let mut first = start_saving(sim.clone(), &db.store);
    first.wait_state(GatewayState::Connected).await;
    let fern = user(&sim, "fern");
    sim.join_voice(fern, demo.lobby).unwrap();
    first.converge().await;
    wait_saved_with(&db.store, sim.endpoints().guild_id, fern).await;
    // No graceful shutdown: no close frame, no final save.
    first.task.abort();
    let _ = first.task.await;

    sim.leave_voice(fern).unwrap();
    let before = sim.counters();
    let mut second = start_saving(sim.clone(), &db.store);
    second.wait_state(GatewayState::Connected).await;
    second.converge().await;
    assert!(!second.seen.contains_key(&fern.get()), "no ghost");
    let after = sim.counters();
    assert_eq!(after.identifies, before.identifies, "no second IDENTIFY");
    assert_eq!(after.resumes, before.resumes + 1, "one RESUME");
    second.stop().await;
}

#[tokio::test]
async fn a_refused_resume_identifies_and_corrects_the_saved_roster() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let old = DiscordSim::start(fast()).await.unwrap();
    let db = temp_store().await;
    let mut first = start_saving(old.clone(), &db.store);
    first.wait_state(GatewayState::Connected).await;
    let gail = user(&old, "gail");
    old.join_voice(gail, old.demo().lobby).unwrap();
    first.converge().await;
    first.stop().await;
    old.shutdown();

    // A Discord that does not know the saved session (same bot, same guild): op 9 false.
    let new = DiscordSim::start(fast()).await.unwrap();
    let mut second = start_saving(new.clone(), &db.store);
    second.wait_state(GatewayState::Connected).await;
    second.converge().await;
    let counters = new.counters();
    assert!(
        counters.invalid_sessions >= 1,
        "the saved session was tried: {counters:?}"
    );
    assert_eq!(counters.identifies, 1, "then identified once");
    second.stop().await;
}

/// twilight 0.17 alone waits 1, 2, 4, 8 … s between failed connects: after three refusals the
/// next try would be 8 s away. The app's own schedule (capped at 1 s here) comes back at once.
#[tokio::test]
async fn reconnects_on_the_apps_schedule_not_twilights() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = DiscordSim::start(fast()).await.unwrap();
    let mut harness = start_full(sim.clone(), None, None, Duration::from_secs(1));
    harness.wait_state(GatewayState::Connected).await;
    sim.set_refuse_gateway(true);
    harness.fault(&GatewayFault::Drop);
    let refused = sim
        .wait_until(WAIT, |counters, _| counters.refused_upgrades >= 3)
        .await;
    assert!(refused, "three refused connects");
    sim.set_refuse_gateway(false);
    let back = sim
        .wait_until(Duration::from_secs(4), |counters, _| counters.resumes >= 1)
        .await;
    assert!(back, "resumed within 4 s of the gateway answering again");
    harness.wait_state(GatewayState::Connected).await;
    harness.stop().await;
}

/// A quiet guild sends no dispatches for minutes; the saved session must not look older than it
/// is, or a restart after a quiet spell would identify again.
#[tokio::test]
async fn a_quiet_session_stays_young_enough_to_resume() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = DiscordSim::start(fast()).await.unwrap();
    let db = temp_store().await;
    let config = GatewayConfig {
        resume_max_age: Duration::from_secs(2),
        ..SAVING
    };
    let mut first = start_full(
        sim.clone(),
        None,
        Some((&db.store, config)),
        Duration::from_secs(15),
    );
    first.wait_state(GatewayState::Connected).await;
    first.converge().await;
    let guild: GuildId = sim.endpoints().guild_id.to_string().parse().unwrap();
    // Quiet for longer than the maximum age, with the session still alive.
    let mut first_saved = None;
    let refreshed = tokio::time::timeout(WAIT, async {
        // Polled: the database has no change notification to wait on.
        let mut poll = tokio::time::interval(Duration::from_millis(100));
        loop {
            poll.tick().await;
            if let Some(record) = db.store.gateway_session(guild).await.unwrap() {
                let since = *first_saved.get_or_insert(record.saved_at_ms);
                if record.saved_at_ms > since + 2500 {
                    return;
                }
            }
        }
    })
    .await;
    assert!(refreshed.is_ok(), "the saved session is refreshed while quiet");
    first.task.abort();
    let _ = first.task.await;

    let before = sim.counters();
    let mut second = start_full(
        sim.clone(),
        None,
        Some((&db.store, config)),
        Duration::from_secs(15),
    );
    second.wait_state(GatewayState::Connected).await;
    second.converge().await;
    assert_eq!(
        sim.counters().identifies,
        before.identifies,
        "resumed after the quiet spell"
    );
    second.stop().await;
}
