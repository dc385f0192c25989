//! Game rooms and invites through the server functions, against the simulator's real REST API:
//! the private channel Discord gets, who may do what, and every error a user can run into.

use discord_sim::{RestFault, RestFaultRule, Snowflake};
use model::event::AppEvent;

use crate::{
    helpers::{SseReader, spawn_app, spawn_app_on_real_discord, spawn_app_with},
    players::Player,
};

const VIEW_CONNECT: u64 = (1 << 10) | (1 << 20);
const PLAYER: u64 = VIEW_CONNECT | (1 << 21) | (1 << 9);
const BOT: u64 = VIEW_CONNECT | (1 << 24) | (1 << 4);

fn flake(text: &str) -> Snowflake {
    Snowflake::parse(text).unwrap()
}

#[tokio::test]
async fn creating_a_room_makes_a_private_four_seat_voice_channel() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;

    let (channel, token) = alice.create_room("  Friday Commander ").await;
    assert_eq!(token.len(), 43, "256 random bits, base64url");

    let world = app.discord.world();
    let created = &world.channels[&flake(&channel)];
    assert_eq!((created.kind, created.user_limit), (2, 4));
    assert_eq!(created.name, "Friday Commander", "the name is trimmed");
    let mut overwrites: Vec<_> = created
        .overwrites
        .iter()
        .map(|o| (o.id, o.kind, o.allow, o.deny))
        .collect();
    overwrites.sort();
    let mut expected = vec![
        (world.guild_id, 0, 0, VIEW_CONNECT),
        (world.bot.id, 1, BOT, 0),
        (demo.alice, 1, PLAYER, 0),
    ];
    expected.sort();
    assert_eq!(overwrites, expected, "exactly the private-room overwrites");

    let details = alice.call("load", &[("channel", &channel)]).await.ok();
    assert_eq!(details["name"], "Friday Commander");
    assert_eq!(details["isOwner"], true);
    assert_eq!(details["players"][0]["username"], "Alice");
    assert!(details["inviteExpiresAtMs"].as_i64().unwrap() > 0);
    let mine = alice.call("mine", &[]).await.ok();
    assert_eq!(mine[0]["channelId"], channel.as_str());
}

#[tokio::test]
async fn every_room_function_needs_a_session() {
    let app = spawn_app().await;
    let nobody = Player::anonymous(&app);
    let room = ("channel", "4000000000000000001");
    for (endpoint, args) in [
        ("create", vec![("name", "x")]),
        ("mine", vec![]),
        ("load", vec![room]),
        ("join", vec![("token", "x")]),
        ("connect", vec![room]),
        ("refresh_invite", vec![room]),
        ("revoke_invite", vec![room]),
        ("close", vec![room]),
        ("remove_player", vec![room, ("player", "5")]),
        ("readmit_player", vec![room, ("player", "5")]),
        ("leave", vec![room]),
    ] {
        nobody.call(endpoint, &args).await.err(401, "unauthenticated");
    }
}

#[tokio::test]
async fn bad_names_and_ids_are_refused_with_a_reason() {
    let app = spawn_app().await;
    let alice = Player::signed_in(&app, &app.discord.demo().alice.to_string()).await;
    let long = "x".repeat(101);
    for (name, reason) in [
        ("", "needs a name"),
        ("   ", "needs a name"),
        (long.as_str(), "at most 100"),
        ("tab\there", "control characters"),
        ("bell\u{7}", "control characters"),
        ("Friday\u{202E}rednammoC", "text direction"),
        ("zero\u{200B}width", "invisible"),
    ] {
        let message = alice
            .call("create", &[("name", name)])
            .await
            .err(400, "invalid_input");
        assert!(message.contains(reason), "{name:?}: {message}");
    }
    assert!(
        app.discord.world().channels.values().all(|c| c.user_limit != 4),
        "no channel was made for a refused name"
    );
    alice.call("create", &[("name", &"é".repeat(100))]).await.ok();
    for bad in ["abc", "0", "-1", "12345678901234567890123"] {
        alice
            .call("load", &[("channel", bad)])
            .await
            .err(400, "invalid_input");
    }
    alice.call("load", &[]).await.err(400, "invalid_input");
}

#[tokio::test]
async fn an_invite_seats_four_players_and_refuses_the_fifth() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let (channel, token) = alice.create_room("Pod").await;

    // bob and carol are guild members; dave has never been in the guild (guilds.join adds him).
    let dave = app.discord.create_stranger("dave");
    let mut seated = Vec::new();
    for user in [demo.bob, demo.carol, dave] {
        let player = Player::signed_in(&app, &user.to_string()).await;
        let joined = player.call("join", &[("token", &token)]).await.ok();
        assert_eq!(joined["channelId"], channel.as_str());
        // Joining again is harmless.
        player.call("join", &[("token", &token)]).await.ok();
        seated.push(player);
    }
    let world = app.discord.world();
    assert!(world.members.contains_key(&dave), "dave was added to the guild");
    for user in [demo.bob, demo.carol, dave] {
        assert!(
            world.channels[&flake(&channel)]
                .overwrites
                .iter()
                .any(|o| o.id == user && o.allow == PLAYER),
            "{user} may enter the channel"
        );
    }
    let players = alice.call("load", &[("channel", &channel)]).await.ok()["players"].clone();
    assert_eq!(players.as_array().unwrap().len(), 4);

    let eve = app.discord.create_user("eve");
    let eve = Player::signed_in(&app, &eve.to_string()).await;
    let message = eve.call("join", &[("token", &token)]).await.err(409, "invite");
    assert_eq!(message, "ROOM_FULL");
    eve.call("load", &[("channel", &channel)])
        .await
        .err(403, "forbidden");
}

#[tokio::test]
async fn someone_in_the_channel_without_a_seat_still_takes_one() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let (channel, token) = alice.create_room("Crowded").await;
    // Three people are in the channel already (say, moderators moved in by hand), plus alice's seat.
    for name in ["mod1", "mod2", "mod3"] {
        let user = app.discord.create_user(name);
        app.discord.join_voice(user, flake(&channel)).unwrap();
    }
    wait_for_members(&app, &channel, 3).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let message = bob.call("join", &[("token", &token)]).await.err(409, "invite");
    assert_eq!(message, "ROOM_FULL", "the live roster counts");
}

#[tokio::test]
async fn tampered_revoked_replaced_expired_and_closed_invites_are_refused() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let (channel, token) = alice.create_room("Locked").await;
    let invite_error = |status, code: &'static str| {
        move |answer: crate::players::Answer| assert_eq!(answer.err(status, "invite"), code)
    };

    let mut tampered = token.clone();
    let last = if tampered.pop() == Some('A') { 'B' } else { 'A' };
    tampered.push(last);
    for bad in [tampered.as_str(), "", "not-a-token", &format!("{token}x")] {
        invite_error(400, "TOKEN_INVALID")(bob.call("join", &[("token", bad)]).await);
    }

    alice.call("revoke_invite", &[("channel", &channel)]).await.ok();
    invite_error(400, "TOKEN_INVALID")(bob.call("join", &[("token", &token)]).await);

    let fresh = alice.call("refresh_invite", &[("channel", &channel)]).await.ok();
    let fresh_token = fresh["token"].as_str().unwrap().to_owned();
    let replaced = alice.call("refresh_invite", &[("channel", &channel)]).await.ok();
    invite_error(400, "TOKEN_INVALID")(bob.call("join", &[("token", &fresh_token)]).await);
    let current = replaced["token"].as_str().unwrap().to_owned();

    // Age the invite past its 24 hours in the database.
    let backend::Store::Sqlite(pool) = &app.store else {
        panic!("tests run on SQLite")
    };
    sqlx::query("UPDATE invites SET expires_at = expires_at - 86400001")
        .execute(pool)
        .await
        .unwrap();
    invite_error(400, "TOKEN_EXPIRED")(bob.call("join", &[("token", &current)]).await);

    let last = alice.call("refresh_invite", &[("channel", &channel)]).await.ok()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    alice.call("close", &[("channel", &channel)]).await.ok();
    invite_error(404, "ROOM_NOT_FOUND")(bob.call("join", &[("token", &last)]).await);
    assert!(
        !app.discord.world().channels.contains_key(&flake(&channel)),
        "closing deleted the channel"
    );
}

#[tokio::test]
async fn only_the_owner_runs_the_room() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let carol = Player::signed_in(&app, &demo.carol.to_string()).await;
    let (channel, token) = alice.create_room("Mine").await;
    bob.call("join", &[("token", &token)]).await.ok();
    let room = ("channel", channel.as_str());
    let alice_id = demo.alice.to_string();

    for (endpoint, args) in [
        ("refresh_invite", vec![room]),
        ("revoke_invite", vec![room]),
        ("close", vec![room]),
        ("remove_player", vec![room, ("player", alice_id.as_str())]),
    ] {
        bob.call(endpoint, &args).await.err(403, "forbidden");
    }
    carol.call("load", &[room]).await.err(403, "forbidden");
    carol.call("connect", &[room]).await.err(403, "forbidden");
    carol.call("leave", &[room]).await.err(403, "forbidden");
    let unknown = ("channel", "4000000000000000099");
    alice.call("load", &[unknown]).await.err(404, "not_found");
    alice.call("close", &[unknown]).await.err(404, "not_found");

    alice
        .call("remove_player", &[room, ("player", &alice_id)])
        .await
        .err(400, "invalid_input");
    alice
        .call("remove_player", &[room, ("player", &demo.carol.to_string())])
        .await
        .err(404, "not_found");
    alice.call("leave", &[room]).await.err(409, "conflict");
    // The room is untouched by all of the above.
    assert_eq!(
        bob.call("load", &[room]).await.ok()["players"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn removed_and_leaving_players_lose_the_channel_and_their_voice_seat() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let carol = Player::signed_in(&app, &demo.carol.to_string()).await;
    let (channel, token) = alice.create_room("Table").await;
    bob.call("join", &[("token", &token)]).await.ok();
    carol.call("join", &[("token", &token)]).await.ok();
    app.discord.join_voice(demo.bob, flake(&channel)).unwrap();
    wait_for_members(&app, &channel, 1).await;

    alice
        .call(
            "remove_player",
            &[("channel", &channel), ("player", &demo.bob.to_string())],
        )
        .await
        .ok();
    let world = app.discord.world();
    assert!(!world.voice.contains_key(&demo.bob), "bob was disconnected");
    assert!(
        !world.channels[&flake(&channel)]
            .overwrites
            .iter()
            .any(|o| o.id == demo.bob),
        "bob's access is gone"
    );
    bob.call("load", &[("channel", &channel)])
        .await
        .err(403, "forbidden");

    carol.call("leave", &[("channel", &channel)]).await.ok();
    assert!(carol.call("mine", &[]).await.ok().as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_removed_player_stays_out_until_the_owner_lets_them_back_in() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let carol = Player::signed_in(&app, &demo.carol.to_string()).await;
    let (channel, token) = alice.create_room("Strict").await;
    let room = ("channel", channel.as_str());
    let bob_id = demo.bob.to_string();
    let carol_id = demo.carol.to_string();
    bob.call("join", &[("token", &token)]).await.ok();
    carol.call("join", &[("token", &token)]).await.ok();
    alice
        .call("remove_player", &[room, ("player", &bob_id)])
        .await
        .ok();

    // The invite bob already has no longer lets him in.
    let message = bob.call("join", &[("token", &token)]).await.err(403, "invite");
    assert_eq!(message, "REMOVED");
    bob.call("load", &[room]).await.err(403, "forbidden");
    let details = alice.call("load", &[room]).await.ok();
    assert_eq!(
        details["removedPlayers"],
        serde_json::json!([{"userId": bob_id, "username": "Bob"}]),
        "the owner sees whom they removed"
    );
    assert_eq!(
        carol.call("load", &[room]).await.ok()["removedPlayers"],
        serde_json::json!([]),
        "only the owner does"
    );

    // Only the owner lets people back in, and only people who were removed.
    for someone in [&bob, &carol] {
        someone
            .call("readmit_player", &[room, ("player", &bob_id)])
            .await
            .err(403, "forbidden");
    }
    alice
        .call("readmit_player", &[room, ("player", &carol_id)])
        .await
        .err(404, "not_found");
    alice
        .call(
            "readmit_player",
            &[("channel", "4000000000000000099"), ("player", &bob_id)],
        )
        .await
        .err(404, "not_found");
    alice
        .call("readmit_player", &[room, ("player", "bob")])
        .await
        .err(400, "invalid_input");

    // Let back in is not seated: the invite works again, and joining seats him.
    alice
        .call("readmit_player", &[room, ("player", &bob_id)])
        .await
        .ok();
    let details = alice.call("load", &[room]).await.ok();
    assert_eq!(details["removedPlayers"], serde_json::json!([]));
    assert_eq!(details["players"].as_array().unwrap().len(), 2, "alice and carol");
    bob.call("load", &[room]).await.err(403, "forbidden");
    bob.call("join", &[("token", &token)]).await.ok();
    bob.call("load", &[room]).await.ok();
    assert!(
        app.discord.world().channels[&flake(&channel)]
            .overwrites
            .iter()
            .any(|o| o.id == demo.bob && o.allow == PLAYER),
        "bob may enter the channel again"
    );
}

#[tokio::test]
async fn a_player_who_left_rejoins_with_the_same_invite() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let (channel, token) = alice.create_room("Open door").await;
    let room = ("channel", channel.as_str());
    bob.call("join", &[("token", &token)]).await.ok();
    bob.call("leave", &[room]).await.ok();
    bob.call("load", &[room]).await.err(403, "forbidden");
    bob.call("join", &[("token", &token)]).await.ok();
    bob.call("load", &[room]).await.ok();
    assert_eq!(
        alice.call("load", &[room]).await.ok()["removedPlayers"],
        serde_json::json!([]),
        "leaving is not being removed"
    );
}

#[tokio::test]
async fn connecting_moves_a_player_in_voice_and_explains_otherwise() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let (channel, token) = alice.create_room("Voice").await;
    bob.call("join", &[("token", &token)]).await.ok();

    // bob is in no voice channel: Discord answers 40032, which is guidance, not an error.
    let answer = bob.call("connect", &[("channel", &channel)]).await.ok();
    assert_eq!(answer, "not_in_voice");

    // alice is in the Lobby: she is moved.
    let answer = alice.call("connect", &[("channel", &channel)]).await.ok();
    assert_eq!(answer, "moved");
    assert_eq!(app.discord.world().voice[&demo.alice].channel_id, flake(&channel));
}

#[tokio::test]
async fn discord_failures_are_a_502_that_leaves_nothing_behind() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    app.discord.push_rest_fault(RestFaultRule {
        fault: RestFault::Status { status: 500 },
        path: "/channels".to_owned(),
        times: 1,
    });
    let message = alice
        .call("create", &[("name", "Doomed")])
        .await
        .err(502, "upstream");
    assert!(
        !message.contains("500") && !message.contains("api/v10"),
        "{message}"
    );
    assert!(alice.call("mine", &[]).await.ok().as_array().unwrap().is_empty());

    // Discord refusing to add someone to the guild is GUILD_JOIN_DENIED, and the seat is given back.
    let (channel, token) = alice.create_room("Open").await;
    let dave = app.discord.create_stranger("dave");
    let dave = Player::signed_in(&app, &dave.to_string()).await;
    app.discord.push_rest_fault(RestFaultRule {
        fault: RestFault::Status { status: 403 },
        path: "/members/".to_owned(),
        times: 1,
    });
    let message = dave.call("join", &[("token", &token)]).await.err(403, "invite");
    assert_eq!(message, "GUILD_JOIN_DENIED");
    let players = alice.call("load", &[("channel", &channel)]).await.ok()["players"].clone();
    assert_eq!(players.as_array().unwrap().len(), 1, "no seat kept for dave");
    dave.call("join", &[("token", &token)]).await.ok();
}

#[tokio::test]
async fn a_user_going_too_fast_gets_429_with_a_retry_hint() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let (channel, _) = alice.create_room("Busy").await;
    // create_room took one request of ten; nine more pass.
    for _ in 0..9 {
        alice.call("refresh_invite", &[("channel", &channel)]).await.ok();
    }
    let answer = alice.call("refresh_invite", &[("channel", &channel)]).await;
    let retry_after = answer.retry_after.clone();
    assert_eq!(answer.status, 429);
    let wait = answer.body["message"]["retry_after_ms"].as_u64().unwrap();
    assert!((1..=1000).contains(&wait), "{wait}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    // Reading is not limited, and other users have their own budget.
    alice.call("load", &[("channel", &channel)]).await.ok();
    bob.call("create", &[("name", "Mine")]).await.ok();
}

#[tokio::test]
async fn the_stream_is_for_the_rooms_players_only() {
    let app = spawn_app_with(&[("DEV_OPEN_STREAM", "false")]).await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let carol = Player::signed_in(&app, &demo.carol.to_string()).await;
    let (channel, _) = alice.create_room("Watched").await;
    let path = format!("/api/stream?room={channel}");

    assert_eq!(Player::anonymous(&app).get(&path).await.status(), 401);
    assert_eq!(carol.get(&path).await.status(), 403);
    assert_eq!(
        carol
            .get(&format!("/api/stream?room={}", demo.lobby))
            .await
            .status(),
        403,
        "a channel that is not a room is nobody's to watch"
    );
    let response = alice.get(&path).await;
    assert_eq!(response.status(), 200);
    let mut stream = SseReader::new(response);
    assert_eq!(stream.next_event().await.event.as_deref(), Some("snapshot"));

    // Closing the room tells its viewers, through the gateway's CHANNEL_DELETE.
    alice.call("close", &[("channel", &channel)]).await.ok();
    loop {
        // `room.created` may come first: the gateway's CHANNEL_CREATE can follow the snapshot.
        if stream.next_event().await.event.as_deref() == Some("room.deleted") {
            break;
        }
    }
}

#[tokio::test]
async fn a_restarted_server_keeps_rooms_invites_and_sessions() {
    // A deploy: Discord, and the room's channel, outlive the process (an embedded simulator's
    // world would not, and the room would close as its channel is gone).
    let app = spawn_app_on_real_discord(&[]).await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let (channel, token) = alice.create_room("Durable").await;
    let app = app.restart().await;
    let mut alice = alice;
    alice.address.clone_from(&app.address);

    let details = alice.call("load", &[("channel", &channel)]).await.ok();
    assert_eq!(
        details["name"], "Durable",
        "alice's session and her room survived"
    );
    assert_eq!(
        alice.call("mine", &[]).await.ok()[0]["channelId"],
        channel.as_str()
    );
    // The invite is still the room's.
    let invite = app
        .store
        .invite_by_hash(&backend::rooms::hash_token(&token))
        .await
        .unwrap()
        .expect("the invite survived");
    assert_eq!(invite.channel_id.to_string(), channel);
}

#[tokio::test]
async fn idle_rooms_are_warned_then_deleted_and_nothing_else_is() {
    use backend::{
        bus::BusMessage,
        rooms::janitor::{IDLE_LIMIT, Sweep, WARNING_AHEAD},
    };

    let app = spawn_app().await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let (idle, _) = alice.create_room("Forgotten").await;
    let (busy, _) = alice.create_room("In use").await;
    app.discord.join_voice(demo.bob, flake(&busy)).unwrap();
    wait_for_members(&app, &busy, 1).await;

    let mut events = app.bus.subscribe();
    let mut janitor = crate::janitor::janitor(&app);
    let start = backend::store::unix_millis();
    assert_eq!(janitor.sweep(start).await.unwrap(), Sweep::default());

    let warned = janitor
        .sweep(start + crate::janitor::ms(IDLE_LIMIT) - crate::janitor::ms(WARNING_AHEAD))
        .await
        .unwrap();
    assert_eq!(warned.warned, vec![idle.parse().unwrap()]);
    assert!(warned.deleted.is_empty());
    let warning = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if let BusMessage::Event(AppEvent::RoomInactive(event)) = events.recv().await {
                return event;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(warning.channel_id.to_string(), idle);

    // A stream that opened after the sweep looked ends with the room.
    let viewer = backend::live::Viewer {
        user: None,
        session: None,
        room: idle.parse().unwrap(),
    };
    let late = app
        .live
        .watchers()
        .open(viewer, 1, &tokio_util::sync::CancellationToken::new())
        .unwrap();
    let swept = janitor
        .sweep(start + crate::janitor::ms(IDLE_LIMIT))
        .await
        .unwrap();
    assert_eq!(swept.deleted, vec![idle.parse().unwrap()]);
    assert!(late.is_ended(), "the deleted room's streams end");
    let world = app.discord.world();
    assert!(!world.channels.contains_key(&flake(&idle)));
    assert!(world.channels.contains_key(&flake(&busy)), "the busy room stays");
    assert!(
        world.channels.contains_key(&demo.lobby),
        "channels the app did not make stay"
    );
    assert!(app.store.room(idle.parse().unwrap()).await.unwrap().is_none());
    let record = app
        .store
        .closed_room(idle.parse().unwrap())
        .await
        .unwrap()
        .expect("a deleted room stays as a record of a game that ended");
    assert_eq!(record.reason, backend::store::CloseReason::Idle);
}

/// Waits until the server's roster shows `count` people in `channel`: watches the room's frames,
/// which the fan-out sends after updating its roster.
async fn wait_for_members(app: &crate::helpers::TestApp, channel: &str, count: usize) {
    let channel = channel.parse().unwrap();
    let mut frames = app.live.subscribe(channel, None).receiver;
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while app.live.members_of(channel).len() < count {
            frames.recv().await.expect("the room's frames keep coming");
        }
    })
    .await
    .expect("the roster catches up");
}
