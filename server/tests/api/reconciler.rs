//! Operations that stop half-way are finished or undone: a create whose request was dropped still
//! completes; the reconciler deletes the channels of creations that never finished and orphan
//! channels the app made (and nothing else), closes rooms whose channel is gone, and gives seated
//! players their lost permission back; an embedded simulator restarted on the same database never
//! costs an old room its record.

use std::time::Duration;

use backend::{
    discord::rest::{DEFAULT_DEADLINE, DiscordRest, RestSettings},
    rooms::reconciler::{Reconciler, Reconciliation, Repair},
    store::{CloseReason, IntentRecord, RoomRecord, unix_millis},
};
use discord_sim::{
    RestFault, RestFaultRule, Snowflake,
    world::{BOT_ID, CONNECT, MANAGE_CHANNELS, Overwrite, VIEW_CHANNEL},
};
use model::ids::{ChannelId, UserId};

use crate::{
    helpers::{TestApp, spawn_app, spawn_app_with},
    metrics::{scrape, value},
    players::Player,
};

/// The grace the tests' reconciler runs with (the app's default).
const GRACE: Duration = Duration::from_secs(120);

/// The bot's REST client, as the app builds it.
fn rest(app: &TestApp) -> DiscordRest {
    let endpoints = app.discord.endpoints();
    DiscordRest::new(RestSettings {
        token: endpoints.bot_token.clone(),
        api_base: endpoints.api_base.parse().unwrap(),
        guild_id: endpoints.guild_id.to_string().parse().unwrap(),
        deadline: DEFAULT_DEADLINE,
    })
}

/// A reconciler of the test's own on the app's rooms, driven by the test's clock.
fn reconciler(app: &TestApp) -> Reconciler {
    Reconciler::new(app.state.rooms.clone(), GRACE)
}

fn later() -> i64 {
    unix_millis() + i64::try_from(GRACE.as_millis()).unwrap() + 1_000
}

fn exists(app: &TestApp, channel: ChannelId) -> bool {
    app.discord
        .world()
        .channels
        .contains_key(&Snowflake::new(channel.get()).unwrap())
}

/// A room creation started at `created_at_ms` by `owner`, as `Rooms::create` writes it.
fn intent(app: &TestApp, owner: UserId, name: &str) -> IntentRecord {
    IntentRecord {
        id: uuid::Uuid::new_v4().to_string(),
        guild_id: app.state.guild_id,
        owner_id: owner,
        name: name.to_owned(),
        channel_id: None,
        created_at_ms: unix_millis(),
    }
}

fn repair_series(kind: &str) -> String {
    format!(r#"spell_coven_reconciler_repairs_total{{kind="{kind}"}}"#)
}

#[tokio::test]
async fn creations_dropped_half_way_and_orphans_are_cleaned_up_and_nothing_else_is_touched() {
    let app = spawn_app_with(&[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let demo = app.discord.demo();
    let alice_id: UserId = demo.alice.to_string().parse().unwrap();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let rest = rest(&app);
    let store = &app.store;
    let before = scrape(&app).await;

    // A create dropped right after Discord made its channel (recorded on its intent) ...
    let recorded = intent(&app, alice_id, "Dropped after the channel");
    assert!(store.begin_room_intent(&recorded, 5).await.unwrap());
    let recorded_channel = rest.create_room_channel(&recorded.name, alice_id).await.unwrap();
    store
        .record_intent_channel(&recorded.id, app.state.guild_id, recorded_channel, unix_millis())
        .await
        .unwrap();
    // ... and one dropped before Discord's answer could be written down.
    let unrecorded = intent(&app, alice_id, "Dropped before the answer");
    assert!(store.begin_room_intent(&unrecorded, 5).await.unwrap());
    let unrecorded_channel = rest
        .create_room_channel(&unrecorded.name, alice_id)
        .await
        .unwrap();
    // A creation that never reached Discord at all.
    let never_asked = intent(&app, alice_id, "Never asked");
    assert!(store.begin_room_intent(&never_asked, 5).await.unwrap());
    // An orphan: a room of the app's that was closed while its channel stayed.
    let (orphan, _) = alice.create_room("Closed, channel left").await;
    let orphan: ChannelId = orphan.parse().unwrap();
    assert!(
        store
            .close_room(orphan, CloseReason::Owner, unix_millis())
            .await
            .unwrap()
    );
    // Channels the app did not create: one with the bot's overwrite, one of a moderator's.
    let bots_overwrite = Overwrite {
        id: BOT_ID,
        kind: 1,
        allow: VIEW_CHANNEL | CONNECT | MANAGE_CHANNELS,
        deny: 0,
    };
    let not_ours = app
        .discord
        .create_voice_channel("Dropped before the answer", vec![bots_overwrite]);
    let moderators = app.discord.create_voice_channel("Moderators", Vec::new());
    let not_ours: ChannelId = not_ours.to_string().parse().unwrap();
    let moderators: ChannelId = moderators.to_string().parse().unwrap();
    // An open room, which stays as it is.
    let (open, _) = alice.create_room("Still playing").await;
    let open: ChannelId = open.parse().unwrap();

    let reconciler = reconciler(&app);
    let early = reconciler.reconcile(unix_millis()).await.unwrap();
    assert_eq!(
        early,
        Reconciliation::default(),
        "within the grace a creation may still be running"
    );
    for channel in [recorded_channel, unrecorded_channel, orphan] {
        assert!(exists(&app, channel), "nothing deleted before the grace");
    }
    assert_eq!(store.intents().await.unwrap().len(), 3);

    let done = reconciler.reconcile(later()).await.unwrap();
    assert_eq!(done.failures, 0, "{done:?}");
    let mut undone: Vec<_> = done
        .repairs
        .iter()
        .filter_map(|repair| match repair {
            Repair::UnfinishedIntent { intent, channel } => Some((intent.clone(), *channel)),
            _ => None,
        })
        .collect();
    undone.sort();
    let mut expected = vec![
        (recorded.id.clone(), Some(recorded_channel)),
        (unrecorded.id.clone(), Some(unrecorded_channel)),
        (never_asked.id.clone(), None),
    ];
    expected.sort();
    assert_eq!(undone, expected);
    assert!(done.repairs.contains(&Repair::OrphanChannel(orphan)), "{done:?}");
    for channel in [recorded_channel, unrecorded_channel, orphan] {
        assert!(!exists(&app, channel), "{channel} was deleted");
    }
    for channel in [not_ours, moderators, open] {
        assert!(exists(&app, channel), "{channel} was not the app's to delete");
    }
    assert!(store.intents().await.unwrap().is_empty());
    assert!(store.room(open).await.unwrap().is_some());
    assert!(
        store.closed_room(orphan).await.unwrap().is_some(),
        "the closed room keeps its record"
    );

    let again = reconciler.reconcile(later()).await.unwrap();
    assert!(again.repairs.is_empty(), "nothing left to repair: {again:?}");

    let after = scrape(&app).await;
    let moved = |kind: &str| value(&after, &repair_series(kind)) - value(&before, &repair_series(kind));
    assert!(moved("unfinished_intent") >= 3.0);
    assert!(moved("orphan_channel") >= 1.0);
    assert!(
        moved("missing_channel") == 0.0 && moved("missing_permission") == 0.0,
        "only what was repaired moves"
    );
}

#[tokio::test]
async fn rooms_without_a_channel_close_and_lost_permissions_come_back() {
    let app = spawn_app_with(&[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let demo = app.discord.demo();
    let alice_id: UserId = demo.alice.to_string().parse().unwrap();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let before = scrape(&app).await;

    // A room whose channel does not exist (made by an earlier Discord, say).
    let vanished: ChannelId = "1234567890123456789".parse().unwrap();
    app.store
        .create_room(&RoomRecord {
            channel_id: vanished,
            guild_id: app.state.guild_id,
            owner_id: alice_id,
            name: "Vanished".to_owned(),
            created_at_ms: unix_millis(),
            starting_life: 40,
        })
        .await
        .unwrap();
    // A room whose owner lost their overwrite on its channel.
    let (room, _) = alice.create_room("Lost permission").await;
    let room: ChannelId = room.parse().unwrap();
    rest(&app).forbid_player(room, alice_id).await.unwrap();
    let allowed = |app: &TestApp| {
        app.discord.world().channels[&Snowflake::new(room.get()).unwrap()]
            .overwrites
            .iter()
            .any(|overwrite| overwrite.id == demo.alice)
    };
    assert!(!allowed(&app));

    // No grace for these: the database is read before Discord is listed, so a room read had its
    // channel made before the listing.
    let done = reconciler(&app).reconcile(unix_millis()).await.unwrap();
    assert_eq!(done.failures, 0, "{done:?}");
    assert_eq!(
        done.repairs,
        vec![
            Repair::MissingChannel(vanished),
            Repair::MissingPermission {
                channel: room,
                user: alice_id
            }
        ]
    );
    assert!(allowed(&app), "the owner's overwrite is back");
    assert_eq!(
        app.store
            .closed_room(vanished)
            .await
            .unwrap()
            .map(|closed| closed.reason),
        Some(CloseReason::ChannelGone)
    );
    assert!(
        app.store.room(room).await.unwrap().is_some(),
        "the healthy room stays open"
    );
    let again = reconciler(&app).reconcile(unix_millis()).await.unwrap();
    assert!(again.repairs.is_empty(), "{again:?}");

    let after = scrape(&app).await;
    let moved = |kind: &str| value(&after, &repair_series(kind)) - value(&before, &repair_series(kind));
    assert!(moved("missing_channel") >= 1.0);
    assert!(moved("missing_permission") >= 1.0);
    assert!(moved("orphan_channel") == 0.0 && moved("unfinished_intent") == 0.0);
    assert!(after.contains_key("spell_coven_reconciler_failures_total"));
}

#[tokio::test]
async fn a_create_finishes_after_its_request_was_dropped() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice_id: UserId = demo.alice.to_string().parse().unwrap();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    // Discord takes its time making the channel; the browser gives up long before.
    app.discord.push_rest_fault(RestFaultRule {
        fault: RestFault::Slow {
            delay: Duration::from_millis(1500),
        },
        path: "/channels".to_owned(),
        times: 1,
    });
    let dropped = alice
        .client
        .post(format!("{}/api/rooms/create", app.address))
        .form(&[("name", "Patience")])
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(dropped.is_err(), "the request was dropped: {dropped:?}");

    let store = app.store.clone();
    let rooms = tokio::time::timeout(Duration::from_secs(10), async {
        let mut poll = tokio::time::interval(Duration::from_millis(20));
        loop {
            poll.tick().await;
            let rooms = store.rooms_of(alice_id).await.unwrap();
            if !rooms.is_empty() {
                return rooms;
            }
        }
    })
    .await
    .expect("the room is created although nobody waits for it");
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].name, "Patience");
    assert!(
        app.store.intents().await.unwrap().is_empty(),
        "its intent is done"
    );
    assert!(app.store.invite_of(rooms[0].channel_id).await.unwrap().is_some());
}

#[tokio::test]
async fn ten_concurrent_creates_give_exactly_the_owned_rooms_limit() {
    let app = spawn_app_with(&[("IP_RATE_BURST", "1000")]).await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let calls = (0..10).map(|n| {
        let alice = &alice;
        async move { alice.call("create", &[("name", &format!("Race {n}"))]).await }
    });
    let answers = futures::future::join_all(calls).await;
    let created = answers.iter().filter(|answer| answer.status == 200).count();
    let refused = answers.iter().filter(|answer| answer.status == 409).count();
    assert_eq!((created, refused), (5, 5), "{answers:?}");
}

#[tokio::test]
async fn restarting_the_embedded_simulator_keeps_every_old_room() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice_id: UserId = demo.alice.to_string().parse().unwrap();
    let mut alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let (old, _) = alice.create_room("Before the restart").await;
    let old: ChannelId = old.parse().unwrap();

    // `scripts/dev` restarted: a fresh embedded simulator, the same SQLite file.
    let app = app.restart().await;
    alice.address.clone_from(&app.address);
    let (new, _) = alice.create_room("After the restart").await;
    let new: ChannelId = new.parse().unwrap();
    assert_ne!(new, old, "the fresh simulator never hands out an old id");

    // The old room's channel is not in the new simulator: the startup run closes it, keeping it.
    let store = app.store.clone();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut poll = tokio::time::interval(Duration::from_millis(20));
        loop {
            poll.tick().await;
            if let Some(closed) = store.closed_room(old).await.unwrap() {
                return closed;
            }
        }
    })
    .await
    .expect("the old room is closed at startup");
    assert_eq!(closed.reason, CloseReason::ChannelGone);
    assert_eq!(closed.room.name, "Before the restart");
    assert_eq!(closed.room.owner_id, alice_id);
    assert!(app.store.room(new).await.unwrap().is_some());
}
