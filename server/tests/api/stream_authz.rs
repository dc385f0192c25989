//! An open `GET /api/stream` stays authorised only as long as its viewer may watch: removal,
//! leaving, closing the room and signing out each end the affected streams within a second, and
//! nobody else's.

use std::time::Duration;

use discord_sim::GatewayFault;

use crate::{
    helpers::{SseReader, TestApp, joined, spawn_app_with},
    players::Player,
};

/// How soon an affected stream must end.
const ENDS_WITHIN: Duration = Duration::from_secs(1);

/// An authorised stream of `room` for `player`, past its snapshot.
async fn watch(player: &Player, room: &str) -> SseReader {
    let response = player.get(&format!("/api/stream?room={room}")).await;
    assert_eq!(response.status(), 200);
    let mut stream = SseReader::new(response);
    assert_eq!(stream.next_event().await.event.as_deref(), Some("snapshot"));
    stream
}

/// Asserts the server ends `stream` within [`ENDS_WITHIN`] (frames still in flight are skipped).
async fn assert_ends(stream: &mut SseReader, who: &str) {
    tokio::time::timeout(ENDS_WITHIN, async { while stream.next().await.is_some() {} })
        .await
        .unwrap_or_else(|_| panic!("{who}'s stream is still open after {ENDS_WITHIN:?}"));
}

/// Asserts `stream` of `room` is still open: a new event in the room reaches it.
async fn assert_open(app: &TestApp, stream: &mut SseReader, room: &str, who: &str) {
    app.bus.publish(joined("4100000000000000001", "probe", room));
    loop {
        let frame = stream
            .next()
            .await
            .unwrap_or_else(|| panic!("{who}'s stream ended"));
        if frame.data.contains("\"probe\"") {
            return;
        }
    }
}

/// alice's room with bob and carol seated, each of the three watching it; `DEV_OPEN_STREAM` off.
struct Table {
    app: TestApp,
    channel: String,
    alice: Player,
    bob: Player,
    carol: Player,
}

async fn table() -> Table {
    let app = spawn_app_with(&[("DEV_OPEN_STREAM", "false")]).await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let carol = Player::signed_in(&app, &demo.carol.to_string()).await;
    let (channel, token) = alice.create_room("Watched").await;
    bob.call("join", &[("token", &token)]).await.ok();
    carol.call("join", &[("token", &token)]).await.ok();
    Table {
        app,
        channel,
        alice,
        bob,
        carol,
    }
}

#[tokio::test]
async fn a_removed_players_stream_ends_and_the_others_stay_open() {
    let Table {
        app,
        channel,
        alice,
        bob,
        carol,
    } = table().await;
    let mut bobs = watch(&bob, &channel).await;
    let mut carols = watch(&carol, &channel).await;

    let bob_id = app.discord.demo().bob.to_string();
    alice
        .call("remove_player", &[("channel", &channel), ("player", &bob_id)])
        .await
        .ok();
    assert_ends(&mut bobs, "bob").await;
    assert_open(&app, &mut carols, &channel, "carol").await;
    let again = bob.get(&format!("/api/stream?room={channel}")).await;
    assert_eq!(again.status(), 403, "and bob cannot reopen it");
}

#[tokio::test]
async fn a_leaving_players_stream_ends_and_the_others_stay_open() {
    let Table {
        app,
        channel,
        bob,
        carol,
        ..
    } = table().await;
    let mut bobs = watch(&bob, &channel).await;
    let mut carols = watch(&carol, &channel).await;

    carol.call("leave", &[("channel", &channel)]).await.ok();
    assert_ends(&mut carols, "carol").await;
    assert_open(&app, &mut bobs, &channel, "bob").await;
}

#[tokio::test]
async fn signing_out_ends_the_streams_of_that_session_only() {
    let Table {
        app, channel, bob, ..
    } = table().await;
    // bob on a second device: the same user, another session.
    let bob_elsewhere = Player::signed_in(&app, &app.discord.demo().bob.to_string()).await;
    let mut here = watch(&bob, &channel).await;
    let mut elsewhere = watch(&bob_elsewhere, &channel).await;

    let logout = bob
        .client
        .post(app.url("/auth/logout"))
        .header("Origin", &app.address)
        .send()
        .await
        .unwrap();
    assert!(logout.status().is_redirection(), "{}", logout.status());
    assert_ends(&mut here, "the signed-out session").await;
    assert_open(&app, &mut elsewhere, &channel, "bob's other session").await;
}

#[tokio::test]
async fn closing_a_room_ends_its_streams_without_waiting_for_discord() {
    let Table {
        app,
        channel,
        alice,
        bob,
        ..
    } = table().await;
    let (other_room, _) = alice.create_room("Still open").await;
    let mut bobs = watch(&bob, &channel).await;
    let mut alices = watch(&alice, &channel).await;
    let mut elsewhere = watch(&alice, &other_room).await;

    // Discord's CHANNEL_DELETE never arrives: the close itself must end the streams.
    assert!(app.discord.fault_all(&GatewayFault::BlackHole) > 0);
    alice.call("close", &[("channel", &channel)]).await.ok();
    assert_ends(&mut bobs, "bob").await;
    assert_ends(&mut alices, "alice").await;
    assert_open(&app, &mut elsewhere, &other_room, "alice's other room").await;
}
