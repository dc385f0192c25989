//! The pod's life totals as a page knows them, and how each stream message (or a server
//! function's answer) changes them.
//!
//! Messages may arrive out of order (a page's own answer races the stream), so every player's
//! totals carry the table's sequence number and the page keeps the highest it has seen. Pure, so it
//! is tested natively; `live` (browser only) feeds it from the `EventSource`.

use model::{
    ids::{ChannelId, UserId},
    stream::Seat,
    table::{
        CommandersNamed, Counter, DeltaError, HISTORY_LEN, LETHAL_POISON, LifeChange, LifeChanged,
        PlayerTotals, TABLE_EVENT, TableState, UNDO_WINDOW_MS,
    },
};

use crate::roster_view::ViewError;

/// `life.changed`: one change, with its target's totals after it.
pub const LIFE_CHANGED_EVENT: &str = "life.changed";
/// `commanders.named`: a player's commanders were (re)named.
pub const COMMANDERS_NAMED_EVENT: &str = "commanders.named";
/// `table.reset`: the owner started a new game.
pub const TABLE_RESET_EVENT: &str = "table.reset";

/// The table's totals and recent history, once the stream's `table` message has arrived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableView {
    /// The life a new game starts with; `None` until the first `table` message.
    starting_life: Option<i32>,
    /// Every seated player's numbers, in seat order (a player seated later is appended).
    players: Vec<PlayerTotals>,
    /// The last [`HISTORY_LEN`] changes, sorted by `seq`.
    history: Vec<LifeChange>,
    /// The `seq` of the last whole state applied: a change at or below it is already in that
    /// state's history (or was cleared by a reset), so a late copy is not added again.
    floor_seq: i64,
}

/// One line of the table's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The change's sequence number (what an undo names).
    pub seq: i64,
    /// Who made it.
    pub author_id: UserId,
    /// What a player reads: "Bob: Alice −3", "Bob undid: Alice −3".
    pub text: String,
    /// Whether a later change undid it.
    pub undone: bool,
    /// Whether it is itself an undo.
    pub is_undo: bool,
}

/// One commander damage counter a seat shows: an opponent's commander.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommanderRow {
    /// The counter to change.
    pub counter: Counter,
    /// The commander's name, or "Bob's commander".
    pub label: String,
    /// The damage taken from it so far.
    pub damage: i32,
}

impl TableView {
    /// Whether the table's state has arrived.
    pub const fn is_known(&self) -> bool {
        self.starting_life.is_some()
    }

    /// The life this game started with, once known.
    pub const fn starting_life(&self) -> Option<i32> {
        self.starting_life
    }

    /// `user`'s numbers: as last received, or a fresh player's for someone seated since the
    /// table's state arrived (nothing has changed them yet). `None` before the state arrives.
    pub fn totals(&self, user: UserId) -> Option<PlayerTotals> {
        let starting_life = self.starting_life?;
        Some(
            self.players
                .iter()
                .find(|totals| totals.user_id == user)
                .cloned()
                .unwrap_or_else(|| PlayerTotals::new(user, starting_life)),
        )
    }

    /// Whether changing `user`'s `counter` by `delta` keeps every rule (the server checks again).
    pub fn allows(&self, user: UserId, counter: Counter, delta: i32) -> bool {
        self.totals(user)
            .is_some_and(|mut totals| totals.apply(counter, delta).is_ok())
    }

    /// Why changing `user`'s `counter` by `delta` breaks a rule, if it does.
    pub fn refusal(&self, user: UserId, counter: Counter, delta: i32) -> Option<DeltaError> {
        self.totals(user)
            .and_then(|mut totals| totals.apply(counter, delta).err())
    }

    /// Applies one SSE message (`event:` name and `data:` JSON) for `room`; other events and
    /// other rooms' messages are ignored.
    pub fn apply(&mut self, room: ChannelId, event: &str, data: &str) -> Result<(), ViewError> {
        let malformed = |err: serde_json::Error| ViewError::Malformed {
            event: event.to_owned(),
            reason: err.to_string(),
        };
        match event {
            TABLE_EVENT | TABLE_RESET_EVENT => {
                let state: TableState = serde_json::from_str(data).map_err(malformed)?;
                if state.channel_id == room {
                    self.apply_state(state);
                }
            }
            LIFE_CHANGED_EVENT => {
                let changed: LifeChanged = serde_json::from_str(data).map_err(malformed)?;
                if changed.channel_id == room {
                    self.apply_changed(changed);
                }
            }
            COMMANDERS_NAMED_EVENT => {
                let named: CommandersNamed = serde_json::from_str(data).map_err(malformed)?;
                if named.channel_id == room {
                    self.apply_totals(named.totals);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A whole state (`table`, `table.reset`, or `reset_table`'s answer): it replaces the totals
    /// and history, except what this page already has that is newer than it.
    pub fn apply_state(&mut self, state: TableState) {
        let newer: Vec<PlayerTotals> = self
            .players
            .iter()
            .filter(|mine| mine.seq > state.seq)
            .cloned()
            .collect();
        let mut players = state.players;
        for mine in newer {
            match players.iter_mut().find(|theirs| theirs.user_id == mine.user_id) {
                Some(theirs) if theirs.seq < mine.seq => *theirs = mine,
                Some(_) => {}
                None => players.push(mine),
            }
        }
        let later: Vec<LifeChange> = self
            .history
            .iter()
            .filter(|change| change.seq > state.seq)
            .cloned()
            .collect();
        self.players = players;
        self.history = state.history;
        self.floor_seq = state.seq;
        self.starting_life = Some(state.starting_life);
        for change in later {
            self.remember(change);
        }
    }

    /// A change (`life.changed`, or `change_life`'s and `undo_life_change`'s answer).
    pub fn apply_changed(&mut self, changed: LifeChanged) {
        if changed.change.seq > self.floor_seq {
            self.remember(changed.change);
        }
        self.apply_totals(changed.totals);
    }

    /// A player's numbers (`commanders.named`, `name_commanders`' answer), unless this page has
    /// newer ones. The same `seq` replaces them: naming commanders changes no number.
    pub fn apply_totals(&mut self, totals: PlayerTotals) {
        match self
            .players
            .iter_mut()
            .find(|mine| mine.user_id == totals.user_id)
        {
            Some(mine) if mine.seq <= totals.seq => *mine = totals,
            Some(_) => {}
            None => self.players.push(totals),
        }
    }

    fn remember(&mut self, change: LifeChange) {
        if let Err(at) = self.history.binary_search_by_key(&change.seq, |known| known.seq) {
            self.history.insert(at, change);
        }
        let extra = self.history.len().saturating_sub(HISTORY_LEN);
        self.history.drain(..extra);
    }

    /// The history, newest first, in words; names are the seats' (`seats`).
    pub fn history(&self, seats: &[Seat]) -> Vec<HistoryEntry> {
        self.history
            .iter()
            .rev()
            .map(|change| HistoryEntry {
                seq: change.seq,
                author_id: change.author_id,
                text: self.describe(change, seats),
                undone: self.is_undone(change.seq),
                is_undo: change.undo_of.is_some(),
            })
            .collect()
    }

    fn is_undone(&self, seq: i64) -> bool {
        self.history.iter().any(|change| change.undo_of == Some(seq))
    }

    /// The change `viewer` may undo at `server_now_ms`: their most recent one, if it is no undo,
    /// has not been undone and is younger than [`UNDO_WINDOW_MS`] by the server's clock.
    pub fn undoable(&self, viewer: UserId, server_now_ms: i64) -> Option<i64> {
        let last = self
            .history
            .iter()
            .rev()
            .find(|change| change.author_id == viewer)?;
        (last.undo_of.is_none()
            && !self.is_undone(last.seq)
            && server_now_ms.saturating_sub(last.at_ms) < UNDO_WINDOW_MS)
            .then_some(last.seq)
    }

    /// The commander damage counters `user`'s seat shows: each other seated player's first
    /// commander, their partner once named, and any commander that has dealt damage.
    pub fn commander_rows(&self, user: UserId, seats: &[Seat]) -> Vec<CommanderRow> {
        let Some(totals) = self.totals(user) else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        for seat in seats.iter().filter(|seat| seat.user_id != user) {
            let named = self.totals(seat.user_id).map_or(0, |from| from.commanders.len());
            for commander in 0..=1u8 {
                let damage = totals.damage_from(seat.user_id, commander);
                if commander == 0 || usize::from(commander) < named || damage > 0 {
                    rows.push(CommanderRow {
                        counter: Counter::CommanderDamage {
                            from: seat.user_id,
                            commander,
                        },
                        label: self.commander_name(seat.user_id, commander, seats),
                        damage,
                    });
                }
            }
        }
        rows
    }

    /// What a lethal seat says ("lethal: 21 commander damage from Atraxa", "lethal: 10 poison",
    /// "lethal: life 0"), or `None` while `user` is alive.
    pub fn lethal_text(&self, user: UserId, seats: &[Seat]) -> Option<String> {
        let totals = self.totals(user)?;
        if let Some(damage) = totals.lethal_commander() {
            let name = self.commander_name(damage.from, damage.commander, seats);
            return Some(format!("lethal: {} commander damage from {name}", damage.damage));
        }
        if totals.poison >= LETHAL_POISON {
            return Some(format!("lethal: {} poison", totals.poison));
        }
        (totals.life <= 0).then(|| format!("lethal: life {}", signed_or_plain(totals.life)))
    }

    /// A commander's name, or "Bob's commander" ("Bob's partner") until it is named.
    fn commander_name(&self, from: UserId, commander: u8, seats: &[Seat]) -> String {
        self.players
            .iter()
            .find(|totals| totals.user_id == from)
            .and_then(|totals| totals.commanders.get(usize::from(commander)))
            .cloned()
            .unwrap_or_else(|| {
                let owner = name_of(from, seats);
                if commander == 0 {
                    format!("{owner}'s commander")
                } else {
                    format!("{owner}'s partner")
                }
            })
    }

    fn describe(&self, change: &LifeChange, seats: &[Seat]) -> String {
        let author = name_of(change.author_id, seats);
        let target = name_of(change.target_id, seats);
        // An undo carries the opposite delta; it reads as the change it took back.
        let (prefix, delta) = match change.undo_of {
            Some(_) => (format!("{author} undid"), -change.delta),
            None => (author, change.delta),
        };
        let what = match change.counter {
            Counter::Life => format!("{target} {}", signed(delta)),
            Counter::Poison => format!("{target} {} poison", signed(delta)),
            Counter::CommanderDamage { from, commander } => {
                let name = self.commander_name(from, commander, seats);
                if delta > 0 {
                    format!("{target} {} life, commander damage from {name}", signed(-delta))
                } else {
                    format!(
                        "{target} {} life, {} commander damage from {name} taken back",
                        signed(-delta),
                        -delta
                    )
                }
            }
        };
        format!("{prefix}: {what}")
    }
}

/// A seated (or formerly seated) player's name.
fn name_of(user: UserId, seats: &[Seat]) -> String {
    seats
        .iter()
        .find(|seat| seat.user_id == user)
        .map_or_else(|| "A former player".to_owned(), |seat| seat.username.clone())
}

/// `+3`, `−3` (a real minus sign, as printed).
pub fn signed(delta: i32) -> String {
    if delta < 0 {
        format!("\u{2212}{}", delta.unsigned_abs())
    } else {
        format!("+{delta}")
    }
}

/// `−3`, `0`, `12`: a total, with a real minus sign.
pub fn signed_or_plain(total: i32) -> String {
    if total < 0 {
        signed(total)
    } else {
        total.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: &str = "4000000000000000001";
    const ALICE: &str = "10";
    const BOB: &str = "11";

    fn room() -> ChannelId {
        ROOM.parse().unwrap()
    }

    fn id(n: &str) -> UserId {
        n.parse().unwrap()
    }

    fn seats() -> Vec<Seat> {
        [(ALICE, "Alice", true), (BOB, "Bob", false)]
            .into_iter()
            .map(|(user, name, owner)| Seat {
                user_id: id(user),
                username: name.to_owned(),
                avatar: None,
                owner,
                dropped_at_ms: None,
            })
            .collect()
    }

    fn state(seq: i64, starting_life: i32) -> TableState {
        TableState {
            channel_id: room(),
            starting_life,
            seq,
            players: vec![
                PlayerTotals {
                    seq,
                    ..PlayerTotals::new(id(ALICE), starting_life)
                },
                PlayerTotals {
                    seq,
                    ..PlayerTotals::new(id(BOB), starting_life)
                },
            ],
            history: Vec::new(),
        }
    }

    /// `author` changes `target`'s `counter` by `delta` as change `seq` (at `seq` seconds),
    /// starting from `before`.
    fn change(
        before: &PlayerTotals,
        seq: i64,
        author: &str,
        counter: Counter,
        delta: i32,
        undo_of: Option<i64>,
    ) -> LifeChanged {
        let mut totals = before.clone();
        totals.apply(counter, delta).unwrap();
        totals.seq = seq;
        LifeChanged {
            channel_id: room(),
            change: LifeChange {
                seq,
                author_id: id(author),
                target_id: before.user_id,
                counter,
                delta,
                undo_of,
                at_ms: seq * 1_000,
            },
            totals,
        }
    }

    fn json<T: serde::Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    fn life(view: &TableView, user: &str) -> i32 {
        view.totals(id(user)).unwrap().life
    }

    fn lines(view: &TableView) -> Vec<String> {
        view.history(&seats())
            .into_iter()
            .map(|entry| entry.text)
            .collect()
    }

    #[test]
    fn changes_apply_in_seq_order_whatever_order_they_arrive_in() {
        let mut view = TableView::default();
        assert_eq!(view.totals(id(ALICE)), None, "nothing before the table");
        view.apply(room(), "table", &json(&state(5, 40))).unwrap();
        let start = view.totals(id(ALICE)).unwrap();
        let first = change(&start, 6, BOB, Counter::Life, -1, None);
        let second = change(&first.totals, 7, ALICE, Counter::Life, -1, None);
        // The later one arrives first (a page's own answer racing the stream).
        view.apply(room(), "life.changed", &json(&second)).unwrap();
        view.apply(room(), "life.changed", &json(&first)).unwrap();
        assert_eq!(life(&view, ALICE), 38, "the older totals do not win");
        view.apply_changed(second.clone());
        assert_eq!(
            lines(&view),
            ["Alice: Alice \u{2212}1", "Bob: Alice \u{2212}1"],
            "newest first, once each"
        );
        // A `table` read before the second change keeps the newer totals and history.
        let mut stale = state(6, 40);
        stale.players[0] = first.totals.clone();
        stale.history = vec![first.change.clone()];
        view.apply(room(), "table", &json(&stale)).unwrap();
        assert_eq!(life(&view, ALICE), 38);
        assert_eq!(view.history(&seats()).len(), 2);
        // Another room's messages change nothing; bad data is an error, not a panic.
        let mut elsewhere = change(&second.totals, 8, BOB, Counter::Life, -5, None);
        elsewhere.channel_id = "4000000000000000002".parse().unwrap();
        view.apply(room(), "life.changed", &json(&elsewhere)).unwrap();
        assert_eq!(life(&view, ALICE), 38);
        assert!(matches!(
            view.apply(room(), "life.changed", "{"),
            Err(ViewError::Malformed { .. })
        ));
    }

    #[test]
    fn a_reset_starts_over_but_keeps_what_came_after_it() {
        let mut view = TableView::default();
        view.apply(room(), "table", &json(&state(1, 40))).unwrap();
        let hit = change(&view.totals(id(BOB)).unwrap(), 2, ALICE, Counter::Poison, 3, None);
        view.apply_changed(hit.clone());
        // The reset (seq 3), then a change after it that overtook it, then a late copy of `hit`.
        let after = change(&PlayerTotals::new(id(ALICE), 20), 4, BOB, Counter::Life, -2, None);
        view.apply_changed(after);
        view.apply(room(), "table.reset", &json(&state(3, 20))).unwrap();
        view.apply_changed(hit);
        assert_eq!(view.starting_life(), Some(20));
        assert_eq!((life(&view, ALICE), life(&view, BOB)), (18, 20));
        assert_eq!(
            view.totals(id(BOB)).unwrap().poison,
            0,
            "the old game's hit is gone"
        );
        assert_eq!(lines(&view), ["Bob: Alice \u{2212}2"]);
    }

    #[test]
    fn history_reads_as_sentences_and_keeps_the_last_few() {
        let mut view = TableView::default();
        view.apply(room(), "table", &json(&state(0, 40))).unwrap();
        let atraxa = Counter::CommanderDamage {
            from: id(BOB),
            commander: 0,
        };
        let partner = Counter::CommanderDamage {
            from: id(BOB),
            commander: 1,
        };
        let alice = view.totals(id(ALICE)).unwrap();
        let hit = change(&alice, 1, BOB, atraxa, 3, None);
        view.apply_changed(hit.clone());
        assert_eq!(
            lines(&view)[0],
            "Bob: Alice \u{2212}3 life, commander damage from Bob's commander"
        );
        let mut bob = view.totals(id(BOB)).unwrap();
        bob.commanders = vec!["Atraxa".to_owned(), "Thrasios".to_owned()];
        view.apply(
            room(),
            "commanders.named",
            &json(&CommandersNamed {
                channel_id: room(),
                author_id: id(BOB),
                totals: bob,
            }),
        )
        .unwrap();
        assert_eq!(
            lines(&view)[0],
            "Bob: Alice \u{2212}3 life, commander damage from Atraxa",
            "names are looked up when shown"
        );
        let rows = view.commander_rows(id(ALICE), &seats());
        assert_eq!(
            rows.iter()
                .map(|row| (row.label.as_str(), row.damage))
                .collect::<Vec<_>>(),
            [("Atraxa", 3), ("Thrasios", 0)]
        );
        assert_eq!(
            view.commander_rows(id(BOB), &seats())
                .iter()
                .map(|row| row.label.as_str())
                .collect::<Vec<_>>(),
            ["Alice's commander"]
        );
        let undo = change(&hit.totals, 2, BOB, atraxa, -3, Some(1));
        view.apply_changed(undo.clone());
        let history = view.history(&seats());
        assert_eq!(
            history[0].text,
            "Bob undid: Alice \u{2212}3 life, commander damage from Atraxa"
        );
        assert!(history[0].is_undo && !history[0].undone);
        assert!(history[1].undone);
        let healed = change(&undo.totals, 3, ALICE, partner, 2, None);
        let healed = change(&healed.totals, 4, ALICE, partner, -2, None);
        view.apply_changed(healed);
        assert_eq!(
            lines(&view)[0],
            "Alice: Alice +2 life, 2 commander damage from Thrasios taken back"
        );
        let mut totals = view.totals(id(BOB)).unwrap();
        for seq in 5..30 {
            let poison = change(&totals, seq, ALICE, Counter::Poison, 1, None);
            totals = poison.totals.clone();
            view.apply_changed(poison);
        }
        let history = view.history(&seats());
        assert_eq!(history.len(), HISTORY_LEN);
        assert_eq!(history[0].seq, 29);
        assert_eq!(history[0].text, "Alice: Bob +1 poison");
        assert_eq!(
            view.lethal_text(id(BOB), &seats()).as_deref(),
            Some("lethal: 25 poison")
        );
    }

    #[test]
    fn only_the_authors_latest_change_can_be_undone_within_the_window() {
        let mut view = TableView::default();
        view.apply(room(), "table", &json(&state(0, 40))).unwrap();
        let alice = view.totals(id(ALICE)).unwrap();
        let mine = change(&alice, 1, ALICE, Counter::Life, -1, None);
        view.apply_changed(mine.clone());
        let at = mine.change.at_ms;
        assert_eq!(view.undoable(id(ALICE), at + 9_999), Some(1));
        assert_eq!(view.undoable(id(ALICE), at + UNDO_WINDOW_MS), None, "too late");
        assert_eq!(view.undoable(id(BOB), at), None, "not his");
        let theirs = change(&mine.totals, 2, BOB, Counter::Life, -1, None);
        view.apply_changed(theirs.clone());
        assert_eq!(
            view.undoable(id(ALICE), at),
            Some(1),
            "someone else's change does not take it away"
        );
        let undo = change(&theirs.totals, 3, ALICE, Counter::Life, 1, Some(1));
        view.apply_changed(undo);
        assert_eq!(view.undoable(id(ALICE), at), None, "an undo is not undone");
        assert_eq!(view.undoable(id(BOB), 2_000), Some(2));
    }

    #[test]
    fn buttons_follow_the_rules_and_lethal_says_why() {
        let mut view = TableView::default();
        assert!(!view.allows(id(ALICE), Counter::Life, -1), "nothing is known yet");
        view.apply(room(), "table", &json(&state(0, 40))).unwrap();
        assert!(view.allows(id(ALICE), Counter::Life, -1));
        assert!(!view.allows(id(ALICE), Counter::Poison, -1));
        assert_eq!(
            view.refusal(id(ALICE), Counter::Poison, -1),
            Some(DeltaError::Poison)
        );
        let atraxa = Counter::CommanderDamage {
            from: id(BOB),
            commander: 0,
        };
        assert!(!view.allows(id(ALICE), atraxa, -1));
        assert_eq!(view.lethal_text(id(ALICE), &seats()), None);
        let hit = change(&view.totals(id(ALICE)).unwrap(), 1, BOB, atraxa, 21, None);
        view.apply_changed(hit.clone());
        assert_eq!(
            view.lethal_text(id(ALICE), &seats()).as_deref(),
            Some("lethal: 21 commander damage from Bob's commander")
        );
        let dead = change(&hit.totals, 2, BOB, Counter::Life, -19, None);
        view.apply_changed(dead);
        let down = change(&view.totals(id(BOB)).unwrap(), 3, BOB, Counter::Life, -41, None);
        view.apply_changed(down);
        assert_eq!(
            view.lethal_text(id(BOB), &seats()).as_deref(),
            Some("lethal: life \u{2212}1")
        );
        // Someone seated after the table arrived starts fresh.
        assert_eq!(view.totals(id("12")).unwrap().life, 40);
    }
}
