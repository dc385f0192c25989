//! The pod's life totals over HTTP and the stream: every change checked (table-driven, with the
//! status that says why not), undo for its author only, once, within 10 s of the server's clock,
//! simultaneous taps from two players that all count and reach every page in one order, a
//! reconnecting page that catches up exactly, totals that survive a restart, and the tap budget.

use futures::future::join_all;
use model::table::{LifeChanged, TableState};
use serde_json::Value;

use crate::{
    helpers::{SseReader, TestApp, spawn_app_on_real_discord},
    players::Player,
};

/// The owner, a seated player, a removed player and a stranger around a fresh room started at
/// `starting_life`.
struct Pod {
    owner: Player,
    owner_id: String,
    bob: Player,
    bob_id: String,
    removed: Player,
    stranger: Player,
    stranger_id: String,
    room: String,
}

async fn pod(app: &TestApp, starting_life: &str) -> Pod {
    let user = |name: &str| app.discord.create_user(name).to_string();
    let (owner_id, bob_id, removed_id, stranger_id) =
        (user("Alice"), user("Bob"), user("Mallory"), user("Eve"));
    let owner = Player::signed_in(app, &owner_id).await;
    let bob = Player::signed_in(app, &bob_id).await;
    let removed = Player::signed_in(app, &removed_id).await;
    let stranger = Player::signed_in(app, &stranger_id).await;
    let created = owner
        .call(
            "create",
            &[("name", "Friday pod"), ("starting_life", starting_life)],
        )
        .await
        .ok();
    let room = created["channelId"].as_str().unwrap().to_owned();
    let token = created["invite"]["token"].as_str().unwrap().to_owned();
    bob.call("join", &[("token", &token)]).await.ok();
    removed.call("join", &[("token", &token)]).await.ok();
    owner
        .call("remove_player", &[("channel", &room), ("player", &removed_id)])
        .await
        .ok();
    Pod {
        owner,
        owner_id,
        bob,
        bob_id,
        removed,
        stranger,
        stranger_id,
        room,
    }
}

/// `player` changes `target`'s `counter` by `delta` in `room`.
async fn change(
    player: &Player,
    room: &str,
    target: &str,
    counter: &str,
    delta: &str,
) -> crate::players::Answer {
    player
        .table(
            "change",
            &[
                ("channel", room),
                ("target", target),
                ("counter", counter),
                ("delta", delta),
            ],
        )
        .await
}

fn changed(body: Value) -> LifeChanged {
    serde_json::from_value(body).expect("a life.changed")
}

/// Opens `player`'s stream of `room` and reads up to its `table` message.
async fn open_table(player: &Player, room: &str) -> (SseReader, TableState) {
    let response = player.get(&format!("/api/stream?room={room}")).await;
    assert_eq!(response.status(), 200);
    let mut stream = SseReader::new(response);
    loop {
        let frame = stream.next_event().await;
        if frame.event.as_deref() == Some("table") {
            assert!(
                frame.id.is_none(),
                "the table carries no id: replay starts from the last event's"
            );
            return (stream, serde_json::from_str(&frame.data).unwrap());
        }
    }
}

/// Who changes whose `counter` by `delta`; the status; for a success, the target's life after.
type Case<'a> = (&'a Player, &'a str, &'a str, &'a str, u16, Option<i32>);

#[tokio::test]
async fn every_change_is_checked_and_refused_with_the_status_that_says_why() {
    let app = spawn_app_on_real_discord(&[("IP_RATE_BURST", "1000")]).await;
    let refused = app.discord.create_user("Zed").to_string();
    let zed = Player::signed_in(&app, &refused).await;
    zed.call("create", &[("name", "Odd"), ("starting_life", "41")])
        .await
        .err(400, "invalid_input");

    let pod = pod(&app, "30").await;
    let (owner, bob) = (pod.owner_id.as_str(), pod.bob_id.as_str());
    let (_, start) = open_table(&pod.owner, &pod.room).await;
    assert_eq!(start.starting_life, 30);
    assert_eq!(
        start.players.iter().map(|p| p.life).collect::<Vec<_>>(),
        vec![30, 30],
        "the owner and bob, at the room's starting life (the removed player holds no seat)"
    );

    let by_owner = format!("commander:{owner}:0");
    let by_bob = format!("commander:{bob}:0");
    let bob_partner = format!("commander:{bob}:1");
    let by_stranger = format!("commander:{}:0", pod.stranger_id);
    // (who, target, counter, delta) → status, and for a success bob's life after it.
    let cases: Vec<Case<'_>> = vec![
        (&pod.owner, bob, "life", "-3", 200, Some(27)),
        (&pod.bob, bob, "life", "100", 200, Some(127)),
        (&pod.bob, bob, "life", "-100", 200, Some(27)),
        (&pod.owner, bob, "life", "0", 400, None),
        (&pod.owner, bob, "life", "101", 400, None),
        (&pod.owner, bob, "life", "-101", 400, None),
        (&pod.owner, bob, "life", "two", 400, None),
        (&pod.owner, bob, "poison", "-1", 400, None),
        (&pod.owner, bob, "poison", "10", 200, Some(27)),
        (&pod.owner, bob, "poison", "90", 400, None),
        // Commander damage takes life with it.
        (&pod.owner, bob, &by_owner, "21", 200, Some(6)),
        (&pod.owner, bob, &by_owner, "-22", 400, None),
        (&pod.owner, bob, &by_bob, "1", 400, None),
        (&pod.owner, bob, &bob_partner, "1", 400, None),
        (&pod.owner, bob, &by_stranger, "1", 400, None),
        (&pod.owner, bob, "mana", "1", 400, None),
        (&pod.owner, bob, "commander:42:2", "1", 400, None),
        // A target without a seat, or that is no user id at all.
        (&pod.owner, &pod.stranger_id, "life", "-1", 400, None),
        (&pod.owner, "not-a-user", "life", "-1", 400, None),
        // Nobody without a seat changes anything.
        (&pod.stranger, bob, "life", "-1", 403, None),
        (&pod.removed, bob, "life", "-1", 403, None),
    ];
    for (who, target, counter, delta, status, life) in cases {
        let answer = change(who, &pod.room, target, counter, delta).await;
        assert_eq!(answer.status, status, "{counter} {delta} on {target}: {answer:?}");
        if let Some(life) = life {
            let changed = changed(answer.body);
            assert_eq!(changed.totals.life, life, "{counter} {delta}");
        } else if status == 400 {
            assert_eq!(answer.body["error"], "invalid_input");
            assert!(
                !answer.body["message"].as_str().unwrap_or_default().is_empty(),
                "it says why"
            );
        }
    }
    let anonymous = Player::anonymous(&app);
    change(&anonymous, &pod.room, bob, "life", "-1")
        .await
        .err(401, "unauthenticated");
    change(&pod.owner, "1234567890123456789", bob, "life", "-1")
        .await
        .err(404, "not_found");

    // Only the refused changes changed nothing: what the successes said is what a reader sees.
    let (_, now) = open_table(&pod.owner, &pod.room).await;
    let bob_totals = &now.players[1];
    assert_eq!((bob_totals.life, bob_totals.poison), (6, 10));
    assert!(bob_totals.is_lethal(), "10 poison and 21 from one commander");
    assert_eq!(now.history.len(), 5);
}

#[tokio::test]
async fn partners_are_named_by_their_player_or_the_owner_and_counted_apart() {
    let app = spawn_app_on_real_discord(&[("IP_RATE_BURST", "1000")]).await;
    let pod = pod(&app, "40").await;
    let (owner, bob) = (pod.owner_id.as_str(), pod.bob_id.as_str());
    let (by_bob, bob_partner) = (format!("commander:{bob}:0"), format!("commander:{bob}:1"));
    pod.stranger
        .table(
            "commanders",
            &[
                ("channel", &pod.room),
                ("player", bob),
                ("first", "X"),
                ("partner", ""),
            ],
        )
        .await
        .err(403, "forbidden");
    pod.bob
        .table(
            "commanders",
            &[
                ("channel", &pod.room),
                ("player", owner),
                ("first", "X"),
                ("partner", ""),
            ],
        )
        .await
        .err(403, "forbidden");
    pod.bob
        .table(
            "commanders",
            &[
                ("channel", &pod.room),
                ("player", bob),
                ("first", &"x".repeat(61)),
                ("partner", ""),
            ],
        )
        .await
        .err(400, "invalid_input");
    let named = pod
        .bob
        .table(
            "commanders",
            &[
                ("channel", &pod.room),
                ("player", bob),
                ("first", " Tymna "),
                ("partner", "Thrasios"),
            ],
        )
        .await
        .ok();
    assert_eq!(named["commanders"], serde_json::json!(["Tymna", "Thrasios"]));
    let from_partner = changed(change(&pod.bob, &pod.room, owner, &bob_partner, "4").await.ok());
    let from_first = changed(change(&pod.bob, &pod.room, owner, &by_bob, "2").await.ok());
    let bob_id: model::ids::UserId = bob.parse().unwrap();
    assert_eq!(
        (
            from_first.totals.damage_from(bob_id, 0),
            from_first.totals.damage_from(bob_id, 1)
        ),
        (2, 4),
        "damage from each partner is counted apart"
    );
    assert_eq!(from_partner.totals.life, 36);
}

/// `player` undoes their change `seq` in `room`.
async fn undo(room: &str, player: &Player, seq: i64) -> crate::players::Answer {
    player
        .table("undo", &[("channel", room), ("seq", &seq.to_string())])
        .await
}

#[tokio::test]
async fn undo_is_its_authors_only_once_and_within_ten_seconds_of_the_servers_clock() {
    let app = spawn_app_on_real_discord(&[("IP_RATE_BURST", "1000")]).await;
    let pod = pod(&app, "40").await;
    let (owner, bob) = (pod.owner_id.as_str(), pod.bob_id.as_str());

    let hit = changed(change(&pod.bob, &pod.room, owner, "life", "-3").await.ok());
    undo(&pod.room, &pod.owner, hit.change.seq)
        .await
        .err(403, "forbidden");
    undo(&pod.room, &pod.stranger, hit.change.seq)
        .await
        .err(403, "forbidden");
    let undone = changed(undo(&pod.room, &pod.bob, hit.change.seq).await.ok());
    assert_eq!(undone.totals.life, 40);
    assert_eq!(
        (undone.change.undo_of, undone.change.delta),
        (Some(hit.change.seq), 3)
    );
    assert_eq!(
        undone.change.author_id, hit.change.author_id,
        "attributed to its author"
    );
    undo(&pod.room, &pod.bob, hit.change.seq)
        .await
        .err(409, "conflict");

    // Only the last change can be undone.
    let first = changed(change(&pod.bob, &pod.room, owner, "life", "-2").await.ok());
    let last = changed(change(&pod.bob, &pod.room, owner, "poison", "1").await.ok());
    undo(&pod.room, &pod.bob, first.change.seq)
        .await
        .err(409, "conflict");

    // Ten seconds by the server's clock, and not a millisecond more.
    let channel = pod.room.parse().unwrap();
    let bob_id = bob.parse().unwrap();
    let late = app
        .state
        .table
        .undo_at(bob_id, channel, last.change.seq, last.change.at_ms + 10_001)
        .await;
    assert!(
        matches!(late, Err(backend::rooms::RoomError::Conflict(_))),
        "{late:?}"
    );
    let in_time = app
        .state
        .table
        .undo_at(bob_id, channel, last.change.seq, last.change.at_ms + 10_000)
        .await
        .expect("undone at 10.000 s");
    assert_eq!(in_time.totals.poison, 0);
    let (_, table) = open_table(&pod.owner, &pod.room).await;
    assert_eq!(
        table
            .history
            .iter()
            .filter(|change| change.undo_of.is_some())
            .count(),
        2,
        "each undo is a change of its own in the history"
    );
}

#[tokio::test]
async fn simultaneous_taps_all_count_reach_every_page_in_order_and_survive_a_restart() {
    let app = spawn_app_on_real_discord(&[("IP_RATE_BURST", "1000")]).await;
    let mut pod = pod(&app, "40").await;
    let owner = pod.owner_id.clone();
    let (mut owner_stream, _) = open_table(&pod.owner, &pod.room).await;
    let (mut bob_stream, _) = open_table(&pod.bob, &pod.room).await;

    // Ten "−1" from each player at once, all on the owner's life.
    let taps = (0..20).map(|n| {
        let player = if n % 2 == 0 { &pod.owner } else { &pod.bob };
        change(player, &pod.room, &owner, "life", "-1")
    });
    for answer in join_all(taps).await {
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let mut last_ids = Vec::new();
    for stream in [&mut owner_stream, &mut bob_stream] {
        let mut seen = Vec::new();
        while seen.len() < 20 {
            let frame = stream.next_event().await;
            if frame.event.as_deref() == Some("life.changed") {
                let changed: LifeChanged = serde_json::from_str(&frame.data).unwrap();
                seen.push((frame.id.clone().expect("an id"), changed));
            }
        }
        let newest = seen.iter().max_by_key(|(_, changed)| changed.change.seq).unwrap();
        assert_eq!(newest.1.totals.life, 20, "every tap counted, on every page");
        let mut seqs: Vec<i64> = seen.iter().map(|(_, changed)| changed.change.seq).collect();
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len(), 20, "twenty changes, each with its own place");
        last_ids.push(seen[9].0.clone());
    }

    // A page that reconnects after the tenth catches up with exactly the other ten (replayed
    // before its seats and table), then follows on.
    let response = pod
        .owner
        .client
        .get(format!("{}/api/stream?room={}", pod.owner.address, pod.room))
        .header("last-event-id", &last_ids[0])
        .send()
        .await
        .unwrap();
    let mut resumed = SseReader::new(response);
    let changed = pod.bob_id.clone();
    change(&pod.bob, &pod.room, &changed, "life", "-1").await.ok();
    let mut replayed = 0;
    loop {
        let frame = resumed.next_event().await;
        if frame.event.as_deref() != Some("life.changed") {
            continue;
        }
        let event: LifeChanged = serde_json::from_str(&frame.data).unwrap();
        if event.totals.user_id.to_string() == pod.bob_id {
            break;
        }
        replayed += 1;
    }
    assert_eq!(replayed, 10, "the missed changes, no more, no fewer");

    // A restart keeps every total and the history.
    let app = app.restart().await;
    for player in [&mut pod.owner, &mut pod.bob] {
        player.address.clone_from(&app.address);
    }
    let (_, table) = open_table(&pod.owner, &pod.room).await;
    assert_eq!(
        table.players.iter().map(|p| p.life).collect::<Vec<_>>(),
        vec![20, 39]
    );
    assert_eq!(table.history.len(), model::table::HISTORY_LEN);

    // The owner starts a new game; everyone's page hears it.
    let (mut bob_stream, _) = open_table(&pod.bob, &pod.room).await;
    pod.bob
        .table("reset", &[("channel", &pod.room), ("starting_life", "20")])
        .await
        .err(403, "forbidden");
    pod.owner
        .table("reset", &[("channel", &pod.room), ("starting_life", "21")])
        .await
        .err(400, "invalid_input");
    pod.owner
        .table("reset", &[("channel", &pod.room), ("starting_life", "20")])
        .await
        .ok();
    loop {
        let frame = bob_stream.next_event().await;
        if frame.event.as_deref() == Some("table.reset") {
            let reset: TableState = serde_json::from_str(&frame.data).unwrap();
            assert_eq!(
                reset.players.iter().map(|p| p.life).collect::<Vec<_>>(),
                vec![20, 20]
            );
            assert!(reset.history.is_empty());
            break;
        }
    }
}

#[tokio::test]
async fn taps_have_a_budget_of_their_own_sized_for_tapping() {
    let app = spawn_app_on_real_discord(&[("IP_RATE_BURST", "1000")]).await;
    let pod = pod(&app, "40").await;
    let owner = pod.owner_id.clone();
    // Thirty taps in a row (twenty damage and then some) all count…
    for _ in 0..30 {
        change(&pod.bob, &pod.room, &owner, "life", "-1").await.ok();
    }
    // …and a script tapping on is slowed down, with a hint of when to come back.
    let mut limited = None;
    for _ in 0..60 {
        let answer = change(&pod.bob, &pod.room, &owner, "life", "1").await;
        if answer.status == 429 {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("the tap budget runs out");
    assert!(limited.retry_after.is_some(), "{limited:?}");
    // The room actions' budget is another one: bob can still name his commander.
    pod.bob
        .table(
            "commanders",
            &[
                ("channel", &pod.room),
                ("player", &pod.bob_id),
                ("first", "Atraxa"),
                ("partner", ""),
            ],
        )
        .await
        .ok();
}
