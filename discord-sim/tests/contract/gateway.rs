//! The real twilight shard through identify, voice events, reconnects and fatal closes.

use std::time::Duration;

use discord_sim::GatewayFault;
use twilight_gateway::Intents;

use crate::support::{Item, Reader, app_intents, is_dispatch, shard, start_sim};

const HEARTBEAT: Duration = Duration::from_millis(500);

#[tokio::test]
async fn identify_yields_ready_then_guild_create_with_voice_states() {
    let sim = start_sim(HEARTBEAT).await;
    let mut reader = Reader::new(shard(&sim, app_intents()));
    let ready = reader.dispatch("READY").await;
    assert_eq!(ready.s, Some(1));
    assert!(ready.raw.starts_with(r#"{"t":"READY","s":1,"op":0,"d":{"#));
    let resume_url = ready.d["resume_gateway_url"].as_str().expect("resume url");
    assert_eq!(resume_url, format!("ws://{}/resume", sim.addr()));
    let guild = reader.dispatch("GUILD_CREATE").await;
    assert_eq!(guild.s, Some(2));
    let alice = sim.demo().alice.to_string();
    assert_eq!(guild.d["voice_states"][0]["user_id"], alice.as_str());
    assert!(guild.d["channels"].as_array().expect("channels").len() >= 4);
    assert_eq!(sim.counters().identifies, 1);
    let connections = sim.connections();
    assert_eq!(connections.len(), 1);
    assert_eq!(
        connections[0].compression,
        Some("zstd-stream"),
        "twilight's default feature asks for zstd-stream, so frames went out compressed"
    );
}

#[tokio::test]
async fn voice_join_move_leave_arrive_as_voice_state_updates() {
    let sim = start_sim(HEARTBEAT).await;
    let demo = sim.demo();
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;

    sim.join_voice(demo.bob, demo.lobby).expect("join");
    let join = reader.dispatch("VOICE_STATE_UPDATE").await;
    assert_eq!(join.d["channel_id"], demo.lobby.to_string().as_str());
    assert_eq!(join.d["member"]["user"]["username"], "bob");

    sim.move_voice(demo.bob, demo.games).expect("move");
    let moved = reader.dispatch("VOICE_STATE_UPDATE").await;
    assert_eq!(moved.d["channel_id"], demo.games.to_string().as_str());
    assert_eq!(moved.d["session_id"], join.d["session_id"]);

    sim.leave_voice(demo.bob).expect("leave");
    let left = reader.dispatch("VOICE_STATE_UPDATE").await;
    assert!(left.d["channel_id"].is_null());
    assert_eq!(left.s, Some(5));
}

#[tokio::test]
async fn intents_without_voice_states_get_no_voice_events() {
    let sim = start_sim(HEARTBEAT).await;
    let demo = sim.demo();
    let mut reader = Reader::new(shard(&sim, Intents::GUILDS));
    let guild = reader.dispatch("GUILD_CREATE").await;
    assert_eq!(guild.d["voice_states"].as_array().map(Vec::len), Some(0));
    sim.join_voice(demo.bob, demo.lobby).expect("join");
    sim.leave_voice(demo.alice).expect("leave");
    // A heartbeat round-trip after the changes proves nothing else was queued before it.
    let before = sim.counters().heartbeats;
    sim.fault_all(&GatewayFault::RequestHeartbeat);
    reader
        .until(
            "heartbeat ack",
            |item| matches!(item, Item::Frame(frame) if frame.op == 11),
        )
        .await;
    assert!(sim.counters().heartbeats > before);
    assert!(reader.seen_dispatches("VOICE_STATE_UPDATE").is_empty());
}

#[tokio::test]
async fn reconnect_resumes_and_replays_withheld_events_without_loss() {
    let sim = start_sim(HEARTBEAT).await;
    let demo = sim.demo();
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    assert_eq!(sim.fault_all(&GatewayFault::Withhold { count: 2 }), 1);
    sim.join_voice(demo.bob, demo.lobby).expect("join");
    sim.join_voice(demo.carol, demo.games).expect("join");
    sim.fault_all(&GatewayFault::Reconnect);
    let resumed = reader.dispatch("RESUMED").await;
    let updates = reader.seen_dispatches("VOICE_STATE_UPDATE");
    assert_eq!(updates.len(), 2, "both withheld events replayed before RESUMED");
    assert_eq!(updates[0].s, Some(3));
    assert_eq!(updates[1].s, Some(4));
    assert_eq!(resumed.s, Some(5));
    let counters = sim.counters();
    assert_eq!((counters.identifies, counters.resumes), (1, 1));
    assert_eq!(counters.resume_connections, 1);
    // Live again: a new change arrives after RESUMED.
    sim.leave_voice(demo.bob).expect("leave");
    let left = reader.dispatch("VOICE_STATE_UPDATE").await;
    assert_eq!(left.s, Some(6));
}

#[tokio::test]
async fn stopped_acks_make_twilight_detect_a_zombie_and_resume() {
    let sim = start_sim(Duration::from_millis(300)).await;
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    sim.fault_all(&GatewayFault::Acks { enabled: false });
    reader.dispatch("RESUMED").await;
    assert_eq!(sim.counters().resumes, 1);
    assert_eq!(sim.counters().identifies, 1);
}

#[tokio::test]
async fn black_hole_connection_is_abandoned_and_resumed() {
    let sim = start_sim(Duration::from_millis(300)).await;
    let demo = sim.demo();
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    sim.fault_all(&GatewayFault::BlackHole);
    sim.join_voice(demo.bob, demo.lobby)
        .expect("join while black-holed");
    reader.dispatch("RESUMED").await;
    let replayed = reader.seen_dispatches("VOICE_STATE_UPDATE");
    assert_eq!(
        replayed.len(),
        1,
        "the event sent into the black hole is replayed"
    );
}

#[tokio::test]
async fn invalid_session_false_makes_twilight_identify_again() {
    let sim = start_sim(HEARTBEAT).await;
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    sim.fault_all(&GatewayFault::InvalidSession { resumable: false });
    let ready = reader.dispatch("READY").await;
    assert_eq!(ready.s, Some(1));
    reader.dispatch("GUILD_CREATE").await;
    assert_eq!(sim.counters().identifies, 2);
    assert_eq!(sim.counters().resumes, 0);
}

#[tokio::test]
async fn bad_token_closes_4004_and_the_shard_stops() {
    let sim = start_sim(HEARTBEAT).await;
    let mut reader = Reader::new(crate::support::shard_with_token(&sim, "wrong", app_intents()));
    reader
        .until("close 4004", |item| matches!(item, Item::Close(Some(4004))))
        .await;
    assert!(reader.next().await.is_none(), "a 4004 is fatal for twilight");
    assert_eq!(sim.counters().connections, 1);
}

#[tokio::test]
async fn privileged_intent_closes_4014_and_the_shard_stops() {
    let sim = start_sim(HEARTBEAT).await;
    let mut reader = Reader::new(shard(&sim, app_intents() | Intents::GUILD_MEMBERS));
    reader
        .until("close 4014", |item| matches!(item, Item::Close(Some(4014))))
        .await;
    assert!(reader.next().await.is_none(), "a 4014 is fatal for twilight");
}

#[tokio::test]
async fn refused_resume_url_falls_back_to_the_base_url_and_still_resumes() {
    let sim = start_sim(HEARTBEAT).await;
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    sim.set_refuse_resume(true);
    sim.fault_all(&GatewayFault::Reconnect);
    reader.until("RESUMED", |item| is_dispatch(item, "RESUMED")).await;
    assert_eq!(sim.counters().identifies, 1);
    assert!(sim.counters().resume_connections >= 1);
}

#[tokio::test]
async fn wait_until_observes_a_background_shard_without_sleeping() {
    use futures::StreamExt;

    let sim = start_sim(HEARTBEAT).await;
    let mut background = shard(&sim, app_intents());
    let driver = tokio::spawn(async move { while background.next().await.is_some() {} });
    let identified = sim
        .wait_until(crate::support::WAIT, |counters, connections| {
            counters.identifies == 1 && connections.iter().any(|c| c.session_id.is_some())
        })
        .await;
    assert!(identified);
    let resumed = sim
        .wait_until(Duration::from_millis(50), |counters, _| counters.resumes > 0)
        .await;
    assert!(!resumed, "nothing made it resume");
    sim.fault_all(&GatewayFault::Reconnect);
    assert!(sim.wait_until(crate::support::WAIT, |c, _| c.resumes == 1).await);
    driver.abort();
}
