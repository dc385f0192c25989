//! The idle-room janitor against the simulator's real REST API and a real database: one room's
//! failure never stops the others, idle time outlives the process, and a channel deleted in
//! Discord closes its room.

use std::time::Duration;

use backend::{
    discord::rest::{DEFAULT_DEADLINE, DiscordRest, RestSettings},
    rooms::{
        Rooms,
        janitor::{IDLE_LIMIT, Janitor, SWEEP_EVERY, WARNING_AHEAD},
    },
    store::{CloseReason, unix_millis},
};
use discord_sim::{GatewayFault, RestFault, RestFaultRule, Snowflake};
use model::{event::RosterStatus, ids::ChannelId};
use tokio::sync::watch;

use crate::{
    helpers::{SseReader, TestApp, spawn_app, spawn_app_on_real_discord},
    players::Player,
};

/// A janitor of its own on the app's database, bus and roster, driven by the test's clock (the
/// app's own janitor sweeps on wall-clock minutes, which a test never reaches), with a roster that
/// is ready.
pub fn janitor(app: &TestApp) -> Janitor {
    janitor_watching(app, watch::channel(RosterStatus::Ready).1)
}

/// [`janitor`] that trusts the roster only while `roster` says it is ready.
pub fn janitor_watching(app: &TestApp, roster: watch::Receiver<RosterStatus>) -> Janitor {
    let endpoints = app.discord.endpoints();
    let guild = endpoints.guild_id.to_string().parse().unwrap();
    let rest = DiscordRest::new(RestSettings {
        token: endpoints.bot_token.clone(),
        api_base: endpoints.api_base.parse().unwrap(),
        guild_id: guild,
        deadline: DEFAULT_DEADLINE,
    });
    let rooms = Rooms::new(app.store.clone(), rest, app.live.clone(), app.bus.clone(), guild);
    Janitor::new(rooms, app.bus.clone(), roster)
}

/// A duration in the janitor's milliseconds.
pub fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap()
}

fn id(text: &str) -> ChannelId {
    text.parse().unwrap()
}

fn flake(text: &str) -> Snowflake {
    Snowflake::parse(text).unwrap()
}

#[tokio::test]
async fn a_room_whose_delete_fails_is_retried_and_the_other_idle_room_still_goes() {
    let app = spawn_app().await;
    let alice = Player::signed_in(&app, &app.discord.demo().alice.to_string()).await;
    let (broken, _) = alice.create_room("Refused").await;
    let (plain, _) = alice.create_room("Plain").await;
    let mut janitor = janitor(&app);
    let start = unix_millis();
    janitor.sweep(start).await.unwrap();
    let warned = janitor
        .sweep(start + ms(IDLE_LIMIT) - ms(WARNING_AHEAD))
        .await
        .unwrap();
    assert_eq!(warned.warned.len(), 2, "{warned:?}");

    // Discord fails the first room's delete once (a 5xx; a 403 or a timeout is handled alike).
    app.discord.push_rest_fault(RestFaultRule {
        fault: RestFault::Status { status: 500 },
        path: format!("/channels/{broken}"),
        times: 1,
    });
    let swept = janitor
        .sweep(start + ms(IDLE_LIMIT))
        .await
        .expect("one room's failure is not the sweep's");
    assert_eq!(swept.deleted, vec![id(&plain)], "the other idle room still goes");
    assert_eq!(swept.failed, vec![id(&broken)]);
    assert!(
        app.store.room(id(&broken)).await.unwrap().is_some(),
        "a refused delete leaves the room open, idle time and warning kept"
    );
    let world = app.discord.world();
    assert!(world.channels.contains_key(&flake(&broken)));
    assert!(!world.channels.contains_key(&flake(&plain)));

    let retried = janitor.sweep(start + ms(IDLE_LIMIT + SWEEP_EVERY)).await.unwrap();
    assert_eq!(retried.deleted, vec![id(&broken)], "retried at the next sweep");
    assert!(!app.discord.world().channels.contains_key(&flake(&broken)));
    assert!(app.store.all_rooms().await.unwrap().is_empty());
    for room in [&broken, &plain] {
        let record = app.store.closed_room(id(room)).await.unwrap().unwrap();
        assert_eq!(record.reason, CloseReason::Idle);
    }
}

#[tokio::test]
async fn idle_time_survives_a_restart_so_a_deploy_does_not_restart_the_hour() {
    // A deploy keeps Discord (and the room's channel); an embedded simulator would not.
    let app = spawn_app_on_real_discord(&[]).await;
    let alice = Player::signed_in(&app, &app.discord.demo().alice.to_string()).await;
    let (room, _) = alice.create_room("Forgotten").await;
    let start = unix_millis();
    janitor(&app).sweep(start).await.unwrap();

    // A deploy: a new process with a new janitor, on the same database. (The new process leaves
    // the second or so before its roster was ready out of the idle time: hence a minute's slack.)
    let app = app.restart().await;
    let mut after_deploy = janitor(&app);
    let warned = after_deploy
        .sweep(start + ms(IDLE_LIMIT) - ms(WARNING_AHEAD) + ms(SWEEP_EVERY))
        .await
        .unwrap();
    assert_eq!(
        warned.warned,
        vec![id(&room)],
        "the hour kept running across the deploy"
    );
    let swept = after_deploy
        .sweep(start + ms(IDLE_LIMIT + 2 * SWEEP_EVERY))
        .await
        .unwrap();
    assert_eq!(swept.deleted, vec![id(&room)]);
}

#[tokio::test]
async fn time_without_a_trustworthy_roster_is_not_idle_time() {
    let app = spawn_app().await;
    let alice = Player::signed_in(&app, &app.discord.demo().alice.to_string()).await;
    let (room, _) = alice.create_room("Unseen").await;
    let (roster, watching) = watch::channel(RosterStatus::Ready);
    let mut janitor = janitor_watching(&app, watching);
    let start = unix_millis();
    let minutes = |count: i64| start + count * 60_000;
    janitor.sweep(minutes(0)).await.unwrap();

    // Discord is unreachable from minute 10 to minute 40: an empty roster proves nothing.
    roster.send_replace(RosterStatus::Connecting);
    janitor.observe_roster(false, minutes(10)).await.unwrap();
    let blind = janitor.sweep(minutes(30)).await.unwrap();
    assert!(blind.paused && blind.warned.is_empty(), "{blind:?}");
    roster.send_replace(RosterStatus::Ready);
    janitor.observe_roster(true, minutes(40)).await.unwrap();

    let back = janitor.sweep(minutes(55)).await.unwrap();
    assert!(back.warned.is_empty(), "25 idle minutes, not 55: {back:?}");
    let due = janitor.sweep(minutes(85)).await.unwrap();
    assert_eq!(
        due.warned,
        vec![id(&room)],
        "55 idle minutes once the blind half hour is left out"
    );
}

#[tokio::test]
async fn a_channel_deleted_in_discord_closes_its_room_and_a_join_hears_it_ended() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let (channel, token) = alice.create_room("Deleted by a moderator").await;
    let response = alice.get(&format!("/api/stream?room={channel}")).await;
    assert_eq!(response.status(), 200);
    let mut stream = SseReader::new(response);
    assert_eq!(stream.next_event().await.event.as_deref(), Some("snapshot"));

    app.discord.delete_channel(flake(&channel)).unwrap();
    loop {
        // `room.created` may come first: the gateway's CHANNEL_CREATE can follow the snapshot.
        if stream.next_event().await.event.as_deref() == Some("room.deleted") {
            break;
        }
    }
    let owner = demo.alice.to_string().parse().unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !app.store.rooms_of(owner).await.unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the room is closed in the database");
    assert!(alice.call("mine", &[]).await.ok().as_array().unwrap().is_empty());
    let answer = bob.call("join", &[("token", &token)]).await;
    assert_eq!(answer.err(404, "invite"), "ROOM_NOT_FOUND");
    let record = app.store.closed_room(id(&channel)).await.unwrap().unwrap();
    assert_eq!(record.reason, CloseReason::ChannelGone);
}

#[tokio::test]
async fn a_warned_room_shows_when_it_closes_in_its_players_list() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let (idle, token) = alice.create_room("Idle").await;
    let (busy, _) = alice.create_room("Busy").await;
    bob.call("join", &[("token", &token)]).await.ok();
    let closes_at = |mine: serde_json::Value, room: &str| {
        let rooms = mine.as_array().unwrap().clone();
        let entry = rooms.iter().find(|entry| entry["channelId"] == room).unwrap();
        entry["closesAtMs"].as_i64()
    };
    let mut janitor = janitor(&app);
    let start = unix_millis();
    janitor.sweep(start).await.unwrap();
    assert_eq!(
        closes_at(alice.call("mine", &[]).await.ok(), &idle),
        None,
        "idle, not warned"
    );

    // Someone opens the busy room's page before the warning comes: only the idle room is warned.
    let _watching = alice.get(&format!("/api/stream?room={busy}")).await;
    let warn_at = start + ms(IDLE_LIMIT) - ms(WARNING_AHEAD);
    let swept = janitor.sweep(warn_at).await.unwrap();
    assert_eq!(swept.warned, vec![id(&idle)]);
    let due = start + ms(IDLE_LIMIT);
    for player in [&alice, &bob] {
        let mine = player.call("mine", &[]).await.ok();
        assert_eq!(
            closes_at(mine.clone(), &idle),
            Some(due),
            "every player sees it: {mine}"
        );
    }
    assert_eq!(closes_at(alice.call("mine", &[]).await.ok(), &busy), None);
}

#[tokio::test]
async fn a_join_on_a_channel_deleted_unseen_closes_the_room_and_answers_room_not_found() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let (channel, token) = alice.create_room("Gone unseen").await;

    // The gateway's CHANNEL_DELETE never reaches the app (lost, or from before a restart).
    assert_eq!(app.discord.fault_all(&GatewayFault::Withhold { count: 1 }), 1);
    app.discord.delete_channel(flake(&channel)).unwrap();
    let answer = bob.call("join", &[("token", &token)]).await;
    assert_eq!(answer.err(404, "invite"), "ROOM_NOT_FOUND", "not a 502");
    let record = app.store.closed_room(id(&channel)).await.unwrap().unwrap();
    assert_eq!(record.reason, CloseReason::ChannelGone);
    assert!(
        !app.store
            .is_player(id(&channel), demo.bob.to_string().parse().unwrap())
            .await
            .unwrap(),
        "the seat reserved for bob was given back"
    );
}
