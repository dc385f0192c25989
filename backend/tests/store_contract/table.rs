//! The table's life totals, on both engines: starting life, changes in the room's order with
//! their rules, who may make them, undo once, names, reset, and changes racing on one room.

use backend::{
    Store,
    store::{NewChange, TotalsChange},
};
use model::{
    ids::{ChannelId, UserId},
    table::{Counter, DeltaError, TableState},
};

use super::{a_room_with_people, room};

const ALICE: &str = "3000000000000000001";
const BOB: &str = "3000000000000000002";
const CAROL: &str = "3000000000000000003";

fn id(text: &str) -> UserId {
    text.parse().unwrap()
}

/// Alice's room at `starting_life`, with bob seated next to her (carol is not seated).
async fn a_table(store: &Store, starting_life: i32) -> ChannelId {
    a_room_with_people(store).await;
    let table = super::RoomRecord {
        starting_life,
        ..room("4000000000000000002", ALICE, 1_500)
    };
    store.create_room(&table).await.unwrap();
    store.admit_player(table.channel_id, id(BOB), 4).await.unwrap();
    table.channel_id
}

fn change(channel: ChannelId, author: &str, target: &str, counter: Counter, delta: i32) -> NewChange {
    NewChange {
        channel,
        author: id(author),
        target: id(target),
        counter,
        delta,
        undo_of: None,
        at_ms: 5_000,
    }
}

async fn applied(store: &Store, change: &NewChange) -> model::table::LifeChanged {
    match store.change_totals(change).await.unwrap() {
        TotalsChange::Applied(changed) => changed,
        other => panic!("{change:?} was not applied: {other:?}"),
    }
}

async fn table(store: &Store, channel: ChannelId) -> TableState {
    store
        .table(channel)
        .await
        .unwrap()
        .expect("an open room has a table")
}

pub(super) async fn a_table_starts_at_its_starting_life_and_keeps_changes_in_order(store: &Store) {
    let channel = a_table(store, 30).await;
    let start = table(store, channel).await;
    assert_eq!((start.starting_life, start.seq), (30, 0));
    assert_eq!(
        start
            .players
            .iter()
            .map(|p| (p.user_id, p.life, p.poison))
            .collect::<Vec<_>>(),
        vec![(id(ALICE), 30, 0), (id(BOB), 30, 0)],
        "seat order, everyone at the starting life"
    );
    assert!(start.history.is_empty());

    let first = applied(store, &change(channel, BOB, ALICE, Counter::Life, -3)).await;
    assert_eq!(
        (first.change.seq, first.totals.life, first.totals.seq),
        (1, 27, 1)
    );
    let atraxa = Counter::CommanderDamage {
        from: id(BOB),
        commander: 0,
    };
    let second = applied(store, &change(channel, ALICE, ALICE, atraxa, 5)).await;
    assert_eq!(
        (second.change.seq, second.totals.life),
        (2, 22),
        "commander damage takes life"
    );
    assert_eq!(second.totals.damage_from(id(BOB), 0), 5);
    applied(store, &change(channel, ALICE, BOB, Counter::Poison, 2)).await;

    let now = table(store, channel).await;
    assert_eq!(now.seq, 3);
    assert_eq!(
        now.players[0], second.totals,
        "what a reader sees is what the change said"
    );
    assert_eq!((now.players[1].poison, now.players[1].seq), (2, 3));
    assert_eq!(
        now.history
            .iter()
            .map(|c| (c.seq, c.author_id, c.delta))
            .collect::<Vec<_>>(),
        vec![(1, id(BOB), -3), (2, id(ALICE), 5), (3, id(ALICE), 2)],
        "oldest first, with their authors"
    );
    assert_eq!(now.history[1].counter, atraxa);
    assert_eq!(
        store
            .last_change_by(channel, id(ALICE))
            .await
            .unwrap()
            .map(|c| c.seq),
        Some(3)
    );
    assert_eq!(store.life_change(channel, 1).await.unwrap(), Some(first.change));
}

pub(super) async fn only_seated_players_change_seated_players_within_the_rules(store: &Store) {
    let channel = a_table(store, 40).await;
    let cases: Vec<(NewChange, TotalsChange)> = vec![
        (
            change(channel, CAROL, ALICE, Counter::Life, -1),
            TotalsChange::NotPlayer,
        ),
        (
            change(channel, ALICE, CAROL, Counter::Life, -1),
            TotalsChange::UnknownSeat,
        ),
        (
            change(
                channel,
                ALICE,
                ALICE,
                Counter::CommanderDamage {
                    from: id(CAROL),
                    commander: 0,
                },
                1,
            ),
            TotalsChange::UnknownSeat,
        ),
        (
            change(
                channel,
                ALICE,
                ALICE,
                Counter::CommanderDamage {
                    from: id(BOB),
                    commander: 1,
                },
                1,
            ),
            TotalsChange::UnknownCommander,
        ),
        (
            change(channel, ALICE, BOB, Counter::Poison, -1),
            TotalsChange::Refused(DeltaError::Poison),
        ),
        (
            change(
                "4000000000000000009".parse().unwrap(),
                ALICE,
                ALICE,
                Counter::Life,
                -1,
            ),
            TotalsChange::NoRoom,
        ),
    ];
    for (change, expected) in cases {
        assert_eq!(
            store.change_totals(&change).await.unwrap(),
            expected,
            "{change:?}"
        );
    }
    let untouched = table(store, channel).await;
    assert_eq!(untouched.seq, 0, "a refused change takes no place in the order");
    assert!(untouched.history.is_empty());

    // A player who got up changes nothing any more; one let back in finds their numbers.
    applied(store, &change(channel, BOB, BOB, Counter::Life, -7)).await;
    store.remove_player(channel, id(BOB)).await.unwrap();
    assert_eq!(
        store
            .change_totals(&change(channel, BOB, ALICE, Counter::Life, -1))
            .await
            .unwrap(),
        TotalsChange::NotPlayer
    );
    assert_eq!(table(store, channel).await.players.len(), 1);
    store.admit_player(channel, id(BOB), 4).await.unwrap();
    assert_eq!(table(store, channel).await.players[1].life, 33);

    // A closed room has no table.
    store
        .close_room(channel, backend::store::CloseReason::Owner, 9_000)
        .await
        .unwrap();
    assert!(store.table(channel).await.unwrap().is_none());
    assert_eq!(
        store
            .change_totals(&change(channel, ALICE, ALICE, Counter::Life, -1))
            .await
            .unwrap(),
        TotalsChange::NoRoom
    );
}

pub(super) async fn a_change_is_undone_once_and_a_reset_starts_a_new_game(store: &Store) {
    let channel = a_table(store, 40).await;
    let hit = applied(store, &change(channel, BOB, ALICE, Counter::Life, -4)).await;
    let undo = NewChange {
        undo_of: Some(hit.change.seq),
        ..change(channel, BOB, ALICE, Counter::Life, 4)
    };
    let undone = applied(store, &undo).await;
    assert_eq!((undone.totals.life, undone.change.undo_of), (40, Some(1)));
    assert_eq!(
        store.change_totals(&undo).await.unwrap(),
        TotalsChange::AlreadyUndone
    );
    assert_eq!(
        table(store, channel).await.players[0].life,
        40,
        "undone once, not twice"
    );

    assert_eq!(
        store
            .name_commanders(channel, id(BOB), &["Tymna".to_owned(), "Thrasios".to_owned()])
            .await
            .unwrap()
            .map(|totals| totals.commanders),
        Some(vec!["Tymna".to_owned(), "Thrasios".to_owned()])
    );
    assert_eq!(
        store.name_commanders(channel, id(CAROL), &[]).await.unwrap(),
        None
    );
    let partner = Counter::CommanderDamage {
        from: id(BOB),
        commander: 1,
    };
    applied(store, &change(channel, ALICE, ALICE, partner, 9)).await;
    applied(store, &change(channel, ALICE, BOB, Counter::Poison, 3)).await;

    assert!(store.reset_table(channel, 20).await.unwrap());
    let fresh = table(store, channel).await;
    assert_eq!(fresh.starting_life, 20);
    assert!(fresh.history.is_empty(), "a new game has no history");
    for player in &fresh.players {
        assert_eq!((player.life, player.poison, player.damage.len()), (20, 0, 0));
        assert_eq!(
            player.seq, fresh.seq,
            "a reset is newer than every change before it"
        );
    }
    assert_eq!(
        fresh.players[1].commanders.len(),
        2,
        "the names stay for a rematch"
    );
    assert!(
        !store
            .reset_table("4000000000000000009".parse().unwrap(), 20)
            .await
            .unwrap()
    );
}

pub(super) async fn changes_racing_on_one_room_all_count_in_one_order(store: &Store) {
    let channel = a_table(store, 40).await;
    let mut racers = Vec::new();
    for n in 0..20 {
        let store = store.clone();
        let author = if n % 2 == 0 { ALICE } else { BOB };
        let change = change(channel, author, ALICE, Counter::Life, -1);
        racers.push(tokio::spawn(async move {
            store.change_totals(&change).await.unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for racer in racers {
        match racer.await.unwrap() {
            TotalsChange::Applied(changed) => seqs.push(changed.change.seq),
            other => panic!("a racing change was lost: {other:?}"),
        }
    }
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=20).collect::<Vec<_>>(),
        "one order, no gaps, no duplicates"
    );
    let after = table(store, channel).await;
    assert_eq!(after.players[0].life, 20, "every −1 counted");
    assert_eq!(after.seq, 20);
}
