//! More chaos against the real twilight shard: fragmented frames, a corrupt compressed frame,
//! session-destroying closes and repeated reconnects (`discord-protocol.md` §5 anchors).

use std::time::Duration;

use discord_sim::GatewayFault;

use crate::support::{Item, Reader, app_intents, shard, start_sim};

const HEARTBEAT: Duration = Duration::from_millis(500);

#[tokio::test]
async fn fragmented_frames_are_reassembled_by_the_client() {
    let sim = start_sim(HEARTBEAT).await;
    sim.set_frame_size(Some(16));
    let mut reader = Reader::new(shard(&sim, app_intents()));
    let guild = reader.dispatch("GUILD_CREATE").await;
    assert!(
        guild.raw.len() > 16 * 10,
        "GUILD_CREATE spans many continuation frames"
    );
}

#[tokio::test]
async fn corrupt_compressed_frame_makes_twilight_resume() {
    let sim = start_sim(HEARTBEAT).await;
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    sim.fault_all(&GatewayFault::Corrupt);
    reader.dispatch("RESUMED").await;
    assert!(reader.seen.iter().any(|item| matches!(item, Item::Error(_))));
    assert_eq!(sim.counters().identifies, 1);
}

#[tokio::test]
async fn close_4009_destroys_the_session_so_the_resume_gets_op9_and_twilight_identifies() {
    let sim = start_sim(HEARTBEAT).await;
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    sim.fault_all(&GatewayFault::Close {
        code: 4009,
        reason: "Session timed out.".to_owned(),
        hold: false,
    });
    let ready = reader.dispatch("READY").await;
    assert_eq!(ready.s, Some(1));
    let counters = sim.counters();
    assert_eq!((counters.identifies, counters.invalid_sessions), (2, 1));
}

#[tokio::test]
async fn five_reconnect_cycles_each_resume_the_current_session() {
    let sim = start_sim(HEARTBEAT).await;
    let demo = sim.demo();
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    for cycle in 0..5 {
        sim.fault_all(&GatewayFault::Reconnect);
        reader.dispatch("RESUMED").await;
        sim.set_mute(demo.alice, cycle % 2 == 0).expect("mute");
        reader.dispatch("VOICE_STATE_UPDATE").await;
    }
    let counters = sim.counters();
    assert_eq!((counters.identifies, counters.resumes), (1, 5));
}

#[tokio::test]
async fn zombie_right_after_resumed_is_survived() {
    let sim = start_sim(Duration::from_millis(300)).await;
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    sim.fault_all(&GatewayFault::Reconnect);
    reader.dispatch("RESUMED").await;
    sim.fault_all(&GatewayFault::BlackHole);
    reader.dispatch("RESUMED").await;
    assert_eq!(sim.counters().resumes, 2);
}

#[tokio::test]
async fn invalid_session_true_makes_twilight_resume() {
    let sim = start_sim(HEARTBEAT).await;
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    sim.fault_all(&GatewayFault::InvalidSession { resumable: true });
    reader.dispatch("RESUMED").await;
    let counters = sim.counters();
    assert_eq!((counters.identifies, counters.resumes), (1, 1));
}

#[tokio::test]
async fn dropped_connection_is_resumed_with_nothing_lost() {
    let sim = start_sim(HEARTBEAT).await;
    let demo = sim.demo();
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    sim.fault_all(&GatewayFault::Drop);
    sim.join_voice(demo.carol, demo.lobby)
        .expect("join while dropped");
    reader.dispatch("RESUMED").await;
    assert_eq!(reader.seen_dispatches("VOICE_STATE_UPDATE").len(), 1);
    assert_eq!(sim.counters().identifies, 1);
}

#[tokio::test]
async fn withheld_dispatches_arrive_on_release_in_order() {
    let sim = start_sim(HEARTBEAT).await;
    let demo = sim.demo();
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    sim.fault_all(&GatewayFault::Withhold { count: 2 });
    sim.join_voice(demo.bob, demo.lobby).expect("join");
    sim.join_voice(demo.carol, demo.lobby).expect("join");
    reader.sync(&sim).await;
    assert!(
        reader.seen_dispatches("VOICE_STATE_UPDATE").is_empty(),
        "held back"
    );
    sim.fault_all(&GatewayFault::Release);
    reader.dispatch("VOICE_STATE_UPDATE").await;
    reader.dispatch("VOICE_STATE_UPDATE").await;
    let seqs: Vec<Option<u64>> = reader
        .seen_dispatches("VOICE_STATE_UPDATE")
        .iter()
        .map(|frame| frame.s)
        .collect();
    assert_eq!(seqs, [Some(3), Some(4)]);
}

#[tokio::test]
async fn a_guild_create_over_64_kib_in_continuation_frames_decodes() {
    let sim = start_sim(HEARTBEAT).await;
    let lobby = sim.demo().lobby;
    for n in 0..400 {
        let user = sim.create_user(&format!("listener{n}"));
        sim.join_voice(user, lobby).expect("join");
    }
    sim.set_frame_size(Some(1024));
    let mut reader = Reader::new(shard(&sim, app_intents()));
    let guild = reader.dispatch("GUILD_CREATE").await;
    assert!(guild.raw.len() > 64 * 1024, "{} bytes", guild.raw.len());
    assert_eq!(guild.d["voice_states"].as_array().map(Vec::len), Some(401));
}

#[tokio::test]
async fn a_restarted_client_resumes_a_persisted_session_without_ready() {
    use twilight_gateway::{CloseFrame, ConfigBuilder, Shard, ShardId};

    let sim = start_sim(HEARTBEAT).await;
    let demo = sim.demo();
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    let session = reader.shard.session().cloned().expect("session after READY");
    let resume_url = reader.shard.resume_url().expect("resume url").to_owned();
    reader.shard.close(CloseFrame::RESUME);
    reader
        .until("our close", |item| matches!(item, Item::Close(_)))
        .await;
    drop(reader);
    sim.join_voice(demo.bob, demo.lobby)
        .expect("join while the app restarts");

    let config = ConfigBuilder::new(sim.bot_token(), app_intents())
        .proxy_url(sim.endpoints().gateway_url)
        .queue(crate::support::NoDelayQueue)
        .session(session)
        .resume_url(resume_url)
        .build();
    let mut restarted = Reader::new(Shard::with_config(ShardId::ONE, config));
    restarted.dispatch("RESUMED").await;
    assert_eq!(restarted.seen_dispatches("READY").len(), 0);
    assert_eq!(
        restarted.seen_dispatches("VOICE_STATE_UPDATE").len(),
        1,
        "missed event replayed"
    );
    assert_eq!(sim.counters().identifies, 1);
}

#[tokio::test]
async fn close_4009_without_fin_still_gets_a_reconnect_and_identify() {
    let sim = start_sim(HEARTBEAT).await;
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    sim.fault_all(&GatewayFault::Close {
        code: 4009,
        reason: "Session timed out.".to_owned(),
        hold: true,
    });
    reader.dispatch("READY").await;
    assert_eq!(sim.counters().identifies, 2);
}

#[tokio::test]
async fn delayed_dispatches_still_arrive_in_order() {
    let sim = start_sim(HEARTBEAT).await;
    let demo = sim.demo();
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    sim.fault_all(&GatewayFault::Delay {
        delay: Duration::from_millis(20),
    });
    sim.join_voice(demo.bob, demo.lobby).expect("join");
    sim.leave_voice(demo.bob).expect("leave");
    reader.dispatch("VOICE_STATE_UPDATE").await;
    let left = reader.dispatch("VOICE_STATE_UPDATE").await;
    assert!(left.d["channel_id"].is_null());
}

#[tokio::test]
async fn a_gateway_outage_is_retried_with_backoff_then_resumed() {
    let sim = start_sim(HEARTBEAT).await;
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    sim.set_refuse_gateway(true);
    sim.fault_all(&GatewayFault::Drop);
    // Poll the shard in the background while waiting: it only reconnects while polled.
    let refused = tokio::select! {
        refused = sim.wait_until(crate::support::WAIT, |c, _| c.refused_upgrades >= 2) => refused,
        () = async { loop { reader.next().await; } } => unreachable!(),
    };
    assert!(refused, "twilight retried while the gateway was down");
    sim.set_refuse_gateway(false);
    reader.dispatch("RESUMED").await;
    assert_eq!(sim.counters().identifies, 1, "the session survived the outage");
}
