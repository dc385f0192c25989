//! The store contract: every operation behaves the same on SQLite and on PostgreSQL.
//!
//! Each test gets a fresh database: a SQLite file in a temporary folder, or a uniquely named
//! PostgreSQL database on the server named by `TEST_POSTGRES_URL` (default: the local one, as
//! `scripts/test` starts it). PostgreSQL being absent is a failure, not a skip: a contract that
//! silently runs on one engine proves nothing about the other.

#![allow(clippy::unwrap_used, reason = "a failed unwrap in a test is the assertion")]

use std::path::PathBuf;

use backend::{
    Store,
    config::DatabaseConfig,
    roster::VoiceMember,
    store::{
        Admission, CloseReason, CreatedChannel, GatewaySessionRecord, Idleness, IntentRecord, RoomRecord,
        UserRecord,
    },
};
use model::ids::{ChannelId, UserId};
use secrecy::SecretString;
use sqlx::{Connection, Executor, PgConnection};

#[path = "store_contract/table.rs"]
mod table;

use table::{
    a_change_is_undone_once_and_a_reset_starts_a_new_game,
    a_table_starts_at_its_starting_life_and_keeps_changes_in_order,
    changes_racing_on_one_room_all_count_in_one_order,
    only_seated_players_change_seated_players_within_the_rules,
};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A store on a database nobody else uses; [`Fresh::finish`] removes the folder or database.
struct Fresh {
    store: Store,
    _dir: Option<TempDir>,
    /// The admin URL and the database's name, to drop it afterwards.
    postgres: Option<(String, String)>,
}

impl Fresh {
    async fn finish(self) {
        self.store.close().await;
        if let Some((admin_url, name)) = &self.postgres {
            let mut admin = PgConnection::connect(admin_url).await.expect("reconnect to drop");
            admin
                .execute(format!(r#"DROP DATABASE "{name}" WITH (FORCE)"#).as_str())
                .await
                .expect("drop test database");
        }
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn fresh_sqlite() -> Fresh {
    let dir = std::env::temp_dir().join(format!("spell-coven-store-{}", uuid::Uuid::new_v4()));
    // A nested path proves the folder is created on first run.
    let path = dir.join("nested").join("app.db");
    let store = Store::connect(&DatabaseConfig::Sqlite { path })
        .await
        .expect("sqlite store opens");
    Fresh {
        store,
        _dir: Some(TempDir(dir)),
        postgres: None,
    }
}

async fn fresh_postgres() -> Fresh {
    #[allow(
        clippy::disallowed_methods,
        reason = "tests choose their database server from the environment"
    )]
    let admin_url = std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|err| {
        panic!("PostgreSQL is needed for the store contract ({admin_url}): {err}; `scripts/test` starts it")
    });
    let name = format!("spell_coven_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin_url).expect("TEST_POSTGRES_URL is a URL");
    url.set_path(&name);
    let store = Store::connect(&DatabaseConfig::Postgres {
        url: SecretString::from(url.to_string()),
    })
    .await
    .expect("postgres store opens");
    Fresh {
        store,
        _dir: None,
        postgres: Some((admin_url, name)),
    }
}

fn user(id: &str, username: &str) -> UserRecord {
    UserRecord {
        id: id.parse().unwrap(),
        username: username.to_owned(),
        global_name: None,
        avatar: None,
    }
}

async fn ping_answers(store: &Store) {
    store.ping().await.expect("ping");
}

async fn migrations_are_idempotent(store: &Store) {
    store.migrate().await.expect("second migrate is a no-op");
    store.migrate().await.expect("third migrate is a no-op");
}

async fn unknown_user_is_none(store: &Store) {
    let id: UserId = "3000000000000000009".parse().unwrap();
    assert_eq!(store.user(id).await.unwrap(), None);
}

async fn upserted_user_reads_back(store: &Store) {
    let mut alice = user("3000000000000000001", "alice");
    alice.global_name = Some("Alice".to_owned());
    alice.avatar = Some("a_1269e74af4df7417b13759eae50c83dc".to_owned());
    store.upsert_user(&alice).await.unwrap();
    assert_eq!(store.user(alice.id).await.unwrap(), Some(alice));
}

async fn second_upsert_refreshes_the_profile(store: &Store) {
    let mut alice = user("3000000000000000001", "alice");
    store.upsert_user(&alice).await.unwrap();
    "alice_renamed".clone_into(&mut alice.username);
    alice.avatar = Some("abc".to_owned());
    store.upsert_user(&alice).await.unwrap();
    assert_eq!(store.user(alice.id).await.unwrap(), Some(alice));
}

async fn users_do_not_bleed_into_each_other(store: &Store) {
    let alice = user("3000000000000000001", "alice");
    let bob = user("18446744073709551615", "bob"); // u64::MAX survives the round trip
    store.upsert_user(&alice).await.unwrap();
    store.upsert_user(&bob).await.unwrap();
    assert_eq!(store.user(alice.id).await.unwrap(), Some(alice));
    assert_eq!(store.user(bob.id).await.unwrap(), Some(bob));
}

fn room(channel: &str, owner: &str, created_at_ms: i64) -> RoomRecord {
    RoomRecord {
        channel_id: channel.parse().unwrap(),
        guild_id: "2000000000000000001".parse().unwrap(),
        owner_id: owner.parse().unwrap(),
        name: format!("room {channel}"),
        created_at_ms,
        starting_life: 40,
    }
}

/// Three users and alice's room with her as its only player.
async fn a_room_with_people(store: &Store) -> RoomRecord {
    for (id, name) in [
        ("3000000000000000001", "alice"),
        ("3000000000000000002", "bob"),
        ("3000000000000000003", "carol"),
    ] {
        store.upsert_user(&user(id, name)).await.unwrap();
    }
    let table = room("4000000000000000001", "3000000000000000001", 1_000);
    store.create_room(&table).await.unwrap();
    table
}

async fn a_room_reads_back_with_its_owner_as_first_player(store: &Store) {
    let table = a_room_with_people(store).await;
    assert_eq!(store.room(table.channel_id).await.unwrap(), Some(table.clone()));
    let players = store.players(table.channel_id).await.unwrap();
    assert_eq!(players.len(), 1);
    assert_eq!(
        (players[0].user_id, players[0].username.as_str()),
        (table.owner_id, "alice")
    );
    assert_eq!(store.rooms_of(table.owner_id).await.unwrap(), vec![table.clone()]);
    assert_eq!(store.all_rooms().await.unwrap(), vec![table.clone()]);
    assert!(
        store
            .room("4000000000000000009".parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

async fn admissions_stop_at_the_seat_count(store: &Store) {
    let table = a_room_with_people(store).await;
    let bob: UserId = "3000000000000000002".parse().unwrap();
    let carol: UserId = "3000000000000000003".parse().unwrap();
    let channel = table.channel_id;
    assert_eq!(
        store.admit_player(channel, bob, 2).await.unwrap(),
        Admission::Admitted
    );
    assert_eq!(
        store.admit_player(channel, bob, 2).await.unwrap(),
        Admission::AlreadyPlayer
    );
    assert_eq!(
        store.admit_player(channel, carol, 2).await.unwrap(),
        Admission::Full
    );
    let nowhere = "4000000000000000009".parse().unwrap();
    assert_eq!(
        store.admit_player(nowhere, carol, 2).await.unwrap(),
        Admission::NoRoom
    );
    assert!(store.is_player(channel, bob).await.unwrap());
    assert!(store.remove_player(channel, bob).await.unwrap());
    assert!(!store.remove_player(channel, bob).await.unwrap());
    assert_eq!(
        store.admit_player(channel, carol, 2).await.unwrap(),
        Admission::Admitted
    );
    assert_eq!(store.rooms_of(carol).await.unwrap(), vec![table]);
}

async fn concurrent_admissions_never_overfill_a_room(store: &Store) {
    let table = a_room_with_people(store).await;
    let mut racers = Vec::new();
    for n in 10..20 {
        let id = format!("30000000000000000{n}");
        store.upsert_user(&user(&id, "racer")).await.unwrap();
        let store = store.clone();
        racers.push(tokio::spawn(async move {
            store
                .admit_player(table.channel_id, id.parse().unwrap(), 4)
                .await
                .unwrap()
        }));
    }
    let mut admitted = 0;
    for racer in racers {
        if racer.await.unwrap() == Admission::Admitted {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 3, "three seats were left next to the owner");
    assert_eq!(store.players(table.channel_id).await.unwrap().len(), 4);
}

fn intent(id: &str, owner: &str, created_at_ms: i64) -> IntentRecord {
    IntentRecord {
        id: id.to_owned(),
        guild_id: "2000000000000000001".parse().unwrap(),
        owner_id: owner.parse().unwrap(),
        name: format!("intent {id}"),
        channel_id: None,
        created_at_ms,
    }
}

async fn a_creation_is_an_intent_until_its_room_is_stored(store: &Store) {
    let table = a_room_with_people(store).await;
    let guild = table.guild_id;
    let mut started = intent("one", "3000000000000000001", 2_000);
    assert!(store.begin_room_intent(&started, 5).await.unwrap());
    assert_eq!(store.intents().await.unwrap(), vec![started.clone()]);

    let channel: ChannelId = "4000000000000000002".parse().unwrap();
    assert!(
        store
            .record_intent_channel("one", guild, channel, 2_100)
            .await
            .unwrap()
    );
    started.channel_id = Some(channel);
    assert_eq!(store.intents().await.unwrap(), vec![started.clone()]);
    assert_eq!(
        store.created_channels(guild).await.unwrap(),
        vec![CreatedChannel {
            channel_id: channel,
            created_at_ms: 2_100
        }]
    );

    let new = RoomRecord {
        name: "intent one".to_owned(),
        ..room("4000000000000000002", "3000000000000000001", 2_200)
    };
    assert!(store.complete_room("one", &new, "hash", 9_000).await.unwrap());
    assert!(
        store.intents().await.unwrap().is_empty(),
        "the intent went with it"
    );
    assert_eq!(store.room(channel).await.unwrap(), Some(new.clone()));
    assert_eq!(store.players(channel).await.unwrap().len(), 1, "its owner");
    assert_eq!(
        store.invite_by_hash("hash").await.unwrap().map(|i| i.channel_id),
        Some(channel)
    );
    assert!(
        !store.complete_room("one", &new, "hash-2", 9_000).await.unwrap(),
        "an intent given up (or finished) completes nothing"
    );

    // A channel id some room already holds (open or closed) fails the completion and changes
    // nothing: neither that room nor the intent.
    assert!(
        store
            .close_room(channel, CloseReason::Owner, 3_000)
            .await
            .unwrap()
    );
    assert!(
        store
            .begin_room_intent(&intent("two", "3000000000000000002", 4_000), 5)
            .await
            .unwrap()
    );
    let clash = room("4000000000000000002", "3000000000000000002", 4_100);
    assert!(store.complete_room("two", &clash, "hash-3", 9_000).await.is_err());
    assert_eq!(
        store.closed_room(channel).await.unwrap().map(|c| c.room),
        Some(new)
    );
    assert_eq!(
        store.intents().await.unwrap().len(),
        1,
        "the intent is left to undo"
    );
    assert!(store.drop_intent("two").await.unwrap());
    assert!(!store.drop_intent("two").await.unwrap());
    assert_eq!(
        store.created_channels(guild).await.unwrap().len(),
        1,
        "the app's record of its channel outlives the room"
    );
}

async fn the_owned_rooms_limit_counts_rooms_and_creations_in_flight(store: &Store) {
    a_room_with_people(store).await;
    // alice has one open room; four creations more are allowed, the fifth is not.
    for n in 0..4 {
        assert!(
            store
                .begin_room_intent(&intent(&format!("i{n}"), "3000000000000000001", 5_000), 5)
                .await
                .unwrap()
        );
    }
    assert!(
        !store
            .begin_room_intent(&intent("i4", "3000000000000000001", 5_000), 5)
            .await
            .unwrap()
    );
    assert!(
        store
            .begin_room_intent(&intent("b0", "3000000000000000002", 5_000), 5)
            .await
            .unwrap(),
        "per owner"
    );
    assert!(store.drop_intent("i0").await.unwrap());
    assert!(
        store
            .begin_room_intent(&intent("i5", "3000000000000000001", 5_000), 5)
            .await
            .unwrap(),
        "a creation undone frees its place"
    );
}

async fn concurrent_creations_never_exceed_the_owned_rooms_limit(store: &Store) {
    store
        .upsert_user(&user("3000000000000000001", "alice"))
        .await
        .unwrap();
    let racers: Vec<_> = (0..10)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .begin_room_intent(&intent(&format!("race{n}"), "3000000000000000001", 1_000), 5)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut started = 0;
    for racer in racers {
        if racer.await.unwrap() {
            started += 1;
        }
    }
    assert_eq!(started, 5);
    assert_eq!(store.intents().await.unwrap().len(), 5);
}

async fn an_invite_is_replaced_revoked_and_outlives_its_room(store: &Store) {
    let table = a_room_with_people(store).await;
    let channel = table.channel_id;
    store.set_invite(channel, "hash-one", 5_000).await.unwrap();
    assert_eq!(
        store
            .invite_by_hash("hash-one")
            .await
            .unwrap()
            .map(|i| i.expires_at_ms),
        Some(5_000)
    );
    store.set_invite(channel, "hash-two", 6_000).await.unwrap();
    assert!(
        store.invite_by_hash("hash-one").await.unwrap().is_none(),
        "replaced"
    );
    assert_eq!(
        store.invite_of(channel).await.unwrap().map(|i| i.expires_at_ms),
        Some(6_000)
    );
    assert!(store.delete_invite(channel).await.unwrap());
    assert!(
        store.invite_by_hash("hash-two").await.unwrap().is_none(),
        "revoked"
    );

    store.set_invite(channel, "hash-three", 7_000).await.unwrap();
    assert!(
        store
            .close_room(channel, CloseReason::Owner, 6_500)
            .await
            .unwrap()
    );
    assert!(
        store.invite_by_hash("hash-three").await.unwrap().is_some(),
        "the invite stays to explain that the room is gone"
    );
    assert_eq!(store.purge_expired_invites(6_999).await.unwrap(), 0);
    assert_eq!(store.purge_expired_invites(7_001).await.unwrap(), 1);
    assert!(store.invite_by_hash("hash-three").await.unwrap().is_none());
}

async fn a_removed_player_stays_out_until_let_back_in(store: &Store) {
    let table = a_room_with_people(store).await;
    let channel = table.channel_id;
    let bob: UserId = "3000000000000000002".parse().unwrap();
    let carol: UserId = "3000000000000000003".parse().unwrap();
    assert_eq!(
        store.admit_player(channel, bob, 4).await.unwrap(),
        Admission::Admitted
    );
    assert!(!store.is_removed(channel, bob).await.unwrap());
    assert!(store.record_removal(channel, bob, table.owner_id).await.unwrap());
    assert!(
        store.record_removal(channel, bob, table.owner_id).await.unwrap(),
        "recording it again is harmless"
    );
    assert!(store.remove_player(channel, bob).await.unwrap());
    assert!(store.is_removed(channel, bob).await.unwrap());
    assert_eq!(
        store.admit_player(channel, bob, 4).await.unwrap(),
        Admission::Removed
    );
    assert!(!store.is_player(channel, bob).await.unwrap());
    let removed = store.removed_players(channel).await.unwrap();
    assert_eq!(
        removed
            .iter()
            .map(|r| (r.user_id, r.username.as_str()))
            .collect::<Vec<_>>(),
        vec![(bob, "bob")]
    );
    assert!(removed[0].removed_at_ms > 0);
    assert_eq!(
        store.admit_player(channel, carol, 4).await.unwrap(),
        Admission::Admitted,
        "only bob is kept out"
    );
    assert!(
        !store.lift_removal(channel, carol).await.unwrap(),
        "carol was never removed"
    );
    let nowhere = "4000000000000000009".parse().unwrap();
    assert!(!store.record_removal(nowhere, bob, table.owner_id).await.unwrap());

    assert!(store.lift_removal(channel, bob).await.unwrap());
    assert!(!store.lift_removal(channel, bob).await.unwrap());
    assert!(!store.is_removed(channel, bob).await.unwrap());
    assert!(store.removed_players(channel).await.unwrap().is_empty());
    assert_eq!(
        store.admit_player(channel, bob, 4).await.unwrap(),
        Admission::Admitted,
        "let back in, the invite works again"
    );
}

async fn a_closed_room_is_a_record_that_no_open_room_query_finds(store: &Store) {
    let table = a_room_with_people(store).await;
    let channel = table.channel_id;
    let alice = table.owner_id;
    let bob: UserId = "3000000000000000002".parse().unwrap();
    let carol: UserId = "3000000000000000003".parse().unwrap();
    assert_eq!(
        store.admit_player(channel, bob, 4).await.unwrap(),
        Admission::Admitted
    );
    assert!(store.record_removal(channel, carol, alice).await.unwrap());
    let busy = Idleness {
        idle_since_ms: Some(2_000),
        warned_at_ms: Some(3_000),
    };
    assert!(store.set_idleness(channel, busy).await.unwrap());

    assert!(store.close_room(channel, CloseReason::Idle, 4_000).await.unwrap());
    assert!(
        !store
            .close_room(channel, CloseReason::ChannelGone, 5_000)
            .await
            .unwrap(),
        "closing twice keeps the first close"
    );
    let record = store
        .closed_room(channel)
        .await
        .unwrap()
        .expect("a record, not gone");
    assert_eq!(
        (record.room, record.closed_at_ms, record.reason),
        (table.clone(), 4_000, CloseReason::Idle)
    );
    // Nothing that looks for open rooms sees it.
    assert_eq!(store.room(channel).await.unwrap(), None);
    assert!(
        store.rooms_of(alice).await.unwrap().is_empty(),
        "nor counts toward the owned-rooms limit"
    );
    assert!(store.rooms_of(bob).await.unwrap().is_empty());
    assert!(store.all_rooms().await.unwrap().is_empty());
    assert!(store.idleness().await.unwrap().is_empty());
    assert!(store.players(channel).await.unwrap().is_empty());
    assert!(!store.is_player(channel, bob).await.unwrap());
    assert_eq!(
        store.admit_player(channel, carol, 4).await.unwrap(),
        Admission::NoRoom
    );
    assert!(!store.record_removal(channel, bob, alice).await.unwrap());
    assert!(!store.set_idleness(channel, Idleness::default()).await.unwrap());

    // A close undone (Discord refused the delete) restores the room exactly; only that close.
    assert!(
        !store
            .reopen_room(channel, CloseReason::Idle, 4_001)
            .await
            .unwrap()
    );
    assert!(
        !store
            .reopen_room(channel, CloseReason::Owner, 4_000)
            .await
            .unwrap()
    );
    assert!(
        store
            .reopen_room(channel, CloseReason::Idle, 4_000)
            .await
            .unwrap()
    );
    assert_eq!(store.room(channel).await.unwrap(), Some(table.clone()));
    assert!(store.is_player(channel, bob).await.unwrap(), "memberships stayed");
    assert!(store.is_removed(channel, carol).await.unwrap(), "removals stayed");
    assert_eq!(store.idleness().await.unwrap(), vec![(channel, busy)]);
    assert_eq!(store.closed_room(channel).await.unwrap(), None);

    // A closed room's id handed out again (Discord never does; a simulator restarted without its
    // world once did) is refused: the closed room is a record of a game and keeps its row.
    assert!(
        store
            .close_room(channel, CloseReason::Owner, 6_000)
            .await
            .unwrap()
    );
    let closed = store.closed_room(channel).await.unwrap();
    let mut reused = room("4000000000000000001", "3000000000000000002", 7_000);
    "a new game".clone_into(&mut reused.name);
    assert!(
        store.create_room(&reused).await.is_err(),
        "a closed room keeps its id"
    );
    assert_eq!(
        store.closed_room(channel).await.unwrap(),
        closed,
        "and its record"
    );
    assert_eq!(store.room(channel).await.unwrap(), None);
}

async fn idle_time_is_remembered_and_paused_for_open_rooms(store: &Store) {
    let table = a_room_with_people(store).await;
    let mut other = room("4000000000000000002", "3000000000000000001", 2_000);
    store.create_room(&other).await.unwrap();
    assert_eq!(
        store.idleness().await.unwrap(),
        vec![
            (table.channel_id, Idleness::default()),
            (other.channel_id, Idleness::default())
        ],
        "a new room is busy until the janitor sees it empty"
    );
    let warned = Idleness {
        idle_since_ms: Some(10_000),
        warned_at_ms: Some(20_000),
    };
    assert!(store.set_idleness(table.channel_id, warned).await.unwrap());
    assert_eq!(
        store.pause_idle_clocks(5_000).await.unwrap(),
        1,
        "only idle rooms move"
    );
    let paused = Idleness {
        idle_since_ms: Some(15_000),
        warned_at_ms: Some(25_000),
    };
    assert_eq!(
        store.idleness().await.unwrap(),
        vec![
            (table.channel_id, paused),
            (other.channel_id, Idleness::default())
        ],
        "the idle time and the warning move forward together"
    );
    other.channel_id = "4000000000000000009".parse().unwrap();
    assert!(
        !store.set_idleness(other.channel_id, warned).await.unwrap(),
        "no such room"
    );
}

fn voice(user: &str, channel: &str, name: &str) -> VoiceMember {
    VoiceMember {
        user_id: user.parse().unwrap(),
        channel_id: channel.parse().unwrap(),
        username: name.to_owned(),
        avatar: None,
    }
}

async fn a_gateway_session_is_saved_with_its_roster_and_replaced_whole(store: &Store) {
    let guild = "2000000000000000001".parse().unwrap();
    assert_eq!(store.gateway_session(guild).await.unwrap(), None);
    let mut record = GatewaySessionRecord {
        guild_id: guild,
        session_id: "8b5e3c1f0a9d4e2b".to_owned(),
        sequence: 41,
        resume_url: Some("wss://gateway-us-east1-b.discord.gg".to_owned()),
        token_hash: "ab".repeat(32),
        intents: 129,
        saved_at_ms: 1_764_000_000_000,
        roster: vec![
            voice("3000000000000000001", "4000000000000000001", "alice"),
            VoiceMember {
                avatar: Some("a_1269e74af4df7417b13759eae50c83dc".to_owned()),
                ..voice("3000000000000000002", "4000000000000000002", "bob")
            },
        ],
    };
    store.save_gateway_session(&record).await.unwrap();
    assert_eq!(store.gateway_session(guild).await.unwrap(), Some(record.clone()));

    // The next save replaces session and roster together: nobody who left lingers.
    record.sequence = u64::from(u32::MAX) + 7;
    record.resume_url = None;
    record.roster = vec![voice("3000000000000000003", "4000000000000000001", "carol")];
    store.save_gateway_session(&record).await.unwrap();
    assert_eq!(store.gateway_session(guild).await.unwrap(), Some(record.clone()));
    record.roster.clear();
    store.save_gateway_session(&record).await.unwrap();
    assert_eq!(store.gateway_session(guild).await.unwrap(), Some(record.clone()));
    let other = "2000000000000000009".parse().unwrap();
    assert_eq!(store.gateway_session(other).await.unwrap(), None, "per guild");

    // A quiet session is kept young without rewriting it; another session's id touches nothing.
    assert!(
        store
            .touch_gateway_session(guild, &record.session_id, record.saved_at_ms + 5000)
            .await
            .unwrap()
    );
    assert!(!store.touch_gateway_session(guild, "another", 0).await.unwrap());
    assert!(
        !store
            .touch_gateway_session(other, &record.session_id, 0)
            .await
            .unwrap()
    );
    record.saved_at_ms += 5000;
    assert_eq!(store.gateway_session(guild).await.unwrap(), Some(record));
}

async fn seats_carry_the_owner_and_drop_times_of_open_rooms_only(store: &Store) {
    let table = a_room_with_people(store).await;
    let channel = table.channel_id;
    let bob: UserId = "3000000000000000002".parse().unwrap();
    let carol: UserId = "3000000000000000003".parse().unwrap();
    store.admit_player(channel, bob, 4).await.unwrap();
    let seats = store.seats(channel).await.unwrap();
    let shown: Vec<(UserId, bool, Option<i64>)> = seats
        .iter()
        .map(|seat| (seat.user_id, seat.owner, seat.dropped_at_ms))
        .collect();
    assert_eq!(shown, [(table.owner_id, true, None), (bob, false, None)]);
    assert_eq!(seats[1].username, "bob");

    assert!(store.mark_dropped(channel, bob, 5_000).await.unwrap());
    assert!(
        store.mark_dropped(channel, bob, 6_000).await.unwrap(),
        "a later drop replaces it"
    );
    assert!(
        !store.mark_dropped(channel, carol, 6_000).await.unwrap(),
        "carol holds no seat"
    );
    assert_eq!(store.seats(channel).await.unwrap()[1].dropped_at_ms, Some(6_000));
    assert!(store.clear_dropped(channel, bob).await.unwrap());
    assert!(
        !store.clear_dropped(channel, bob).await.unwrap(),
        "nothing left to clear"
    );
    assert_eq!(store.seats(channel).await.unwrap()[1].dropped_at_ms, None);

    assert!(
        store
            .close_room(channel, CloseReason::Owner, 7_000)
            .await
            .unwrap()
    );
    assert!(
        store.seats(channel).await.unwrap().is_empty(),
        "a closed room seats nobody"
    );
    assert!(!store.mark_dropped(channel, bob, 8_000).await.unwrap());
}

/// Runs each contract function once per engine, as `sqlite::name` and `postgres::name`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() {
                let fresh = super::fresh_sqlite().await;
                super::$name(&fresh.store).await;
                fresh.finish().await;
            })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() {
                let fresh = super::fresh_postgres().await;
                super::$name(&fresh.store).await;
                fresh.finish().await;
            })*
        }
    };
}

contract!(
    ping_answers,
    migrations_are_idempotent,
    unknown_user_is_none,
    upserted_user_reads_back,
    second_upsert_refreshes_the_profile,
    users_do_not_bleed_into_each_other,
    a_room_reads_back_with_its_owner_as_first_player,
    admissions_stop_at_the_seat_count,
    concurrent_admissions_never_overfill_a_room,
    a_creation_is_an_intent_until_its_room_is_stored,
    the_owned_rooms_limit_counts_rooms_and_creations_in_flight,
    concurrent_creations_never_exceed_the_owned_rooms_limit,
    an_invite_is_replaced_revoked_and_outlives_its_room,
    a_removed_player_stays_out_until_let_back_in,
    a_closed_room_is_a_record_that_no_open_room_query_finds,
    idle_time_is_remembered_and_paused_for_open_rooms,
    a_gateway_session_is_saved_with_its_roster_and_replaced_whole,
    seats_carry_the_owner_and_drop_times_of_open_rooms_only,
    a_table_starts_at_its_starting_life_and_keeps_changes_in_order,
    only_seated_players_change_seated_players_within_the_rules,
    a_change_is_undone_once_and_a_reset_starts_a_new_game,
    changes_racing_on_one_room_all_count_in_one_order,
);

#[tokio::test]
async fn sqlite_data_survives_reopening_the_file() {
    let dir = std::env::temp_dir().join(format!("spell-coven-store-{}", uuid::Uuid::new_v4()));
    let _guard = TempDir(dir.clone());
    let config = DatabaseConfig::Sqlite {
        path: dir.join("app.db"),
    };
    let alice = user("3000000000000000001", "alice");
    let store = Store::connect(&config).await.unwrap();
    store.upsert_user(&alice).await.unwrap();
    store.close().await;
    let reopened = Store::connect(&config).await.unwrap();
    assert_eq!(reopened.user(alice.id).await.unwrap(), Some(alice));
}
