//! A restart of the server, graceful or a crash after the last periodic save, RESUMEs the gateway
//! session instead of identifying again: Discord replays what happened while the app was down,
//! and a viewer's stream opens on exactly Discord's truth (no ghost, no missing member).

use std::{collections::BTreeSet, time::Duration};

use discord_sim::Snowflake;
use model::{ids::ChannelId, stream::RoomSnapshot};

use crate::{
    helpers::{SseReader, TestApp, spawn_app_on_real_discord},
    players::Player,
};

/// Who is in `channel` according to the simulator.
fn truth(app: &TestApp, channel: Snowflake) -> BTreeSet<u64> {
    app.discord
        .world()
        .voice
        .values()
        .filter(|state| state.channel_id == channel)
        .map(|state| state.user_id.get())
        .collect()
}

/// Waits until the server's fan-out shows exactly `expected` in `channel`.
async fn wait_for_roster(app: &TestApp, channel: ChannelId, expected: &BTreeSet<u64>) {
    let mut frames = app.live.subscribe(channel, None).receiver;
    let shown = |app: &TestApp| -> BTreeSet<u64> {
        app.live
            .members_of(channel)
            .iter()
            .map(|member| member.user_id.get())
            .collect()
    };
    let caught_up = tokio::time::timeout(Duration::from_secs(10), async {
        while shown(app) != *expected {
            frames.recv().await.expect("the room's frames keep coming");
        }
    })
    .await;
    assert!(
        caught_up.is_ok(),
        "roster {:?}, expected {expected:?}",
        shown(app)
    );
}

async fn restart_resumes_and_viewers_see_discords_truth(crash: bool) {
    let app = spawn_app_on_real_discord(&[("GATEWAY_SAVE_EVERY_SECS", "1"), ("IP_RATE_BURST", "1000")]).await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let mut bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let (channel, token) = alice.create_room("Resumed").await;
    bob.call("join", &[("token", &token)]).await.ok();
    let room = Snowflake::parse(&channel).unwrap();
    let room_id: ChannelId = channel.parse().unwrap();

    app.discord.join_voice(demo.alice, room).unwrap();
    wait_for_roster(&app, room_id, &truth(&app, room)).await;
    if crash {
        // The last periodic save holds alice in the room.
        let guild = app.discord.endpoints().guild_id.to_string().parse().unwrap();
        let saved = tokio::time::timeout(Duration::from_secs(10), async {
            // Polled: the database has no change notification to wait on.
            let mut poll = tokio::time::interval(Duration::from_millis(50));
            loop {
                poll.tick().await;
                let record = app.store.gateway_session(guild).await.unwrap();
                if record
                    .is_some_and(|record| record.roster.iter().any(|m| m.user_id.get() == demo.alice.get()))
                {
                    return;
                }
            }
        })
        .await;
        assert!(saved.is_ok(), "a periodic save within 10 s");
    }
    let before = app.discord.counters();

    // While the server is down, alice leaves the room and bob comes in.
    let app = app
        .restart_after(crash, |discord| {
            discord.move_voice(demo.alice, demo.lobby).unwrap();
            discord.join_voice(demo.bob, room).unwrap();
        })
        .await;
    let after = app.discord.counters();
    assert_eq!(after.identifies, before.identifies, "no second IDENTIFY");
    assert_eq!(after.resumes, before.resumes + 1, "one RESUME");

    let expected = truth(&app, room);
    assert_eq!(expected, BTreeSet::from([demo.bob.get()]));
    wait_for_roster(&app, room_id, &expected).await;
    bob.address.clone_from(&app.address);
    let response = bob.get(&format!("/api/stream?room={channel}")).await;
    assert_eq!(response.status(), 200);
    let frame = SseReader::new(response).next_event().await;
    assert_eq!(frame.event.as_deref(), Some("snapshot"));
    let snapshot: RoomSnapshot = serde_json::from_str(&frame.data).unwrap();
    let shown: BTreeSet<u64> = snapshot
        .members
        .iter()
        .map(|member| member.user_id.get())
        .collect();
    assert_eq!(shown, expected, "the viewer sees exactly Discord's truth");
}

#[tokio::test]
async fn a_graceful_restart_resumes_and_viewers_see_discords_truth() {
    Box::pin(restart_resumes_and_viewers_see_discords_truth(false)).await;
}

#[tokio::test]
async fn a_crash_after_a_periodic_save_resumes_and_viewers_see_discords_truth() {
    Box::pin(restart_resumes_and_viewers_see_discords_truth(true)).await;
}
