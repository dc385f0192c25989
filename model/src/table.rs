//! The pod's shared life totals: what the server keeps per seated player, the rules a change must
//! follow, and the messages that carry them to every page of the room.
//!
//! The rules live here so that the page can grey out a button that would break one and the server
//! checks the very same rule again (it never trusts the browser).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{
    ids::{ChannelId, UserId},
    room::{NameError, validate_room_name},
};

/// The starting life totals a room can be created (or reset) with, the default first: Commander's
/// 40, then 20 (constructed formats), 25 (Brawl, Oathbreaker) and 30 (two-headed giant's half).
pub const STARTING_LIFE_CHOICES: [i32; 4] = [40, 20, 25, 30];
/// The starting life when the owner picks none.
pub const DEFAULT_STARTING_LIFE: i32 = STARTING_LIFE_CHOICES[0];
/// The lowest and highest life a player can have.
pub const LIFE_BOUNDS: (i32, i32) = (-999, 999);
/// The fewest and most poison counters.
pub const POISON_BOUNDS: (i32, i32) = (0, 99);
/// The least and most commander damage from one commander.
pub const COMMANDER_DAMAGE_BOUNDS: (i32, i32) = (0, 999);
/// The most one change may add or take away.
pub const MAX_STEP: i32 = 100;
/// Poison counters that lose the game.
pub const LETHAL_POISON: i32 = 10;
/// Commander damage from one commander that loses the game.
pub const LETHAL_COMMANDER_DAMAGE: i32 = 21;
/// Commanders per player: one, or two partners.
pub const MAX_COMMANDERS: usize = 2;
/// The longest commander name, in characters after trimming.
pub const MAX_COMMANDER_NAME_CHARS: usize = 60;
/// How long (server clock) the author of a change may undo it.
pub const UNDO_WINDOW_MS: i64 = 10_000;
/// How many changes the table's history keeps (and a page shows).
pub const HISTORY_LEN: usize = 12;

/// Whether `life` is one of [`STARTING_LIFE_CHOICES`].
pub fn validate_starting_life(life: i32) -> Result<i32, String> {
    if STARTING_LIFE_CHOICES.contains(&life) {
        Ok(life)
    } else {
        Err(format!(
            "the starting life must be one of 40, 20, 25 or 30, not {life}"
        ))
    }
}

/// A commander's name as it will be stored: the room-name rules (trimmed, no control, direction
/// or invisible characters), at most [`MAX_COMMANDER_NAME_CHARS`]. An empty name is no commander.
pub fn validate_commander_name(name: &str) -> Result<Option<String>, String> {
    if name.trim().is_empty() {
        return Ok(None);
    }
    if name.trim().chars().count() > MAX_COMMANDER_NAME_CHARS {
        return Err("a commander's name can be at most 60 characters".to_owned());
    }
    validate_room_name(name)
        .map(Some)
        .map_err(|err: NameError| err.to_string().replace("the room name", "a commander's name"))
}

/// Which number of a player a change is to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Counter {
    /// Their life total.
    Life,
    /// Their poison counters.
    Poison,
    /// The damage dealt to them by one commander: `from`'s first (0) or partner (1) commander. A
    /// change to it also changes their life by the opposite amount, as the damage does in a game.
    CommanderDamage {
        /// Whose commander.
        from: UserId,
        /// Which of their commanders: 0 or 1.
        commander: u8,
    },
}

impl fmt::Display for Counter {
    /// `life`, `poison` or `commander:<from>:<index>`: also how it travels in a form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Life => f.write_str("life"),
            Self::Poison => f.write_str("poison"),
            Self::CommanderDamage { from, commander } => write!(f, "commander:{from}:{commander}"),
        }
    }
}

impl FromStr for Counter {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{text}` is no counter: expected life, poison or commander:<player>:<0|1>");
        match text {
            "life" => Ok(Self::Life),
            "poison" => Ok(Self::Poison),
            _ => {
                let rest = text.strip_prefix("commander:").ok_or_else(bad)?;
                let (from, commander) = rest.split_once(':').ok_or_else(bad)?;
                let commander: u8 = commander.parse().map_err(|_| bad())?;
                if usize::from(commander) >= MAX_COMMANDERS {
                    return Err(bad());
                }
                Ok(Self::CommanderDamage {
                    from: from.parse().map_err(|_| bad())?,
                    commander,
                })
            }
        }
    }
}

impl From<Counter> for String {
    fn from(counter: Counter) -> Self {
        counter.to_string()
    }
}

impl TryFrom<String> for Counter {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

/// The commander damage one player has taken from one commander.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommanderDamage {
    /// Whose commander dealt it.
    pub from: UserId,
    /// Which of their commanders: 0 or 1.
    pub commander: u8,
    /// How much, in total this game.
    pub damage: i32,
}

/// One seated player's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayerTotals {
    /// Whose.
    pub user_id: UserId,
    /// Life total.
    pub life: i32,
    /// Poison counters.
    pub poison: i32,
    /// Their commanders' names (none, one, or two partners).
    pub commanders: Vec<String>,
    /// Commander damage taken, per commander that dealt any, in a stable order.
    pub damage: Vec<CommanderDamage>,
    /// The table's sequence number of the last change to them: a page keeps the totals with the
    /// highest, so messages that arrive out of order cannot undo a newer state.
    pub seq: i64,
}

/// Why a change breaks the rules (a 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    /// Zero changes nothing, and more than [`MAX_STEP`] at once is no tap.
    #[error("a change must be between -100 and 100, and not 0")]
    Step,
    /// Life would leave −999…999.
    #[error("life must stay between -999 and 999")]
    Life,
    /// Poison would leave 0…99.
    #[error("poison must stay between 0 and 99")]
    Poison,
    /// Commander damage would leave 0…999.
    #[error("commander damage must stay between 0 and 999")]
    CommanderDamage,
    /// Commander damage from oneself.
    #[error("a player's own commander deals them no commander damage")]
    OwnCommander,
}

impl PlayerTotals {
    /// A player at the start of a game.
    pub const fn new(user_id: UserId, starting_life: i32) -> Self {
        Self {
            user_id,
            life: starting_life,
            poison: 0,
            commanders: Vec::new(),
            damage: Vec::new(),
            seq: 0,
        }
    }

    /// The damage taken from `from`'s `commander` (0 when none).
    pub fn damage_from(&self, from: UserId, commander: u8) -> i32 {
        self.damage
            .iter()
            .find(|damage| damage.from == from && damage.commander == commander)
            .map_or(0, |damage| damage.damage)
    }

    /// Changes `counter` by `delta` if every rule holds; otherwise changes nothing. Commander
    /// damage moves life the other way, so both must stay in bounds.
    pub fn apply(&mut self, counter: Counter, delta: i32) -> Result<(), DeltaError> {
        if delta == 0 || !(-MAX_STEP..=MAX_STEP).contains(&delta) {
            return Err(DeltaError::Step);
        }
        let within = |value: i32, (low, high): (i32, i32)| (low..=high).contains(&value);
        match counter {
            Counter::Life => {
                let life = self.life + delta;
                if !within(life, LIFE_BOUNDS) {
                    return Err(DeltaError::Life);
                }
                self.life = life;
            }
            Counter::Poison => {
                let poison = self.poison + delta;
                if !within(poison, POISON_BOUNDS) {
                    return Err(DeltaError::Poison);
                }
                self.poison = poison;
            }
            Counter::CommanderDamage { from, commander } => {
                if from == self.user_id {
                    return Err(DeltaError::OwnCommander);
                }
                let damage = self.damage_from(from, commander) + delta;
                if !within(damage, COMMANDER_DAMAGE_BOUNDS) {
                    return Err(DeltaError::CommanderDamage);
                }
                let life = self.life - delta;
                if !within(life, LIFE_BOUNDS) {
                    return Err(DeltaError::Life);
                }
                self.life = life;
                if let Some(entry) = self
                    .damage
                    .iter_mut()
                    .find(|entry| entry.from == from && entry.commander == commander)
                {
                    entry.damage = damage;
                } else {
                    self.damage.push(CommanderDamage {
                        from,
                        commander,
                        damage,
                    });
                    self.damage.sort_by_key(|entry| (entry.from, entry.commander));
                }
            }
        }
        Ok(())
    }

    /// Whether these numbers lose the game: life at or below 0, [`LETHAL_POISON`] poison, or
    /// [`LETHAL_COMMANDER_DAMAGE`] from one commander.
    pub fn is_lethal(&self) -> bool {
        self.life <= 0 || self.poison >= LETHAL_POISON || self.lethal_commander().is_some()
    }

    /// The first commander whose damage alone is lethal.
    pub fn lethal_commander(&self) -> Option<&CommanderDamage> {
        self.damage
            .iter()
            .find(|damage| damage.damage >= LETHAL_COMMANDER_DAMAGE)
    }
}

/// One change to the table, as kept in its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifeChange {
    /// Its place in the room's order (the database's per-room sequence).
    pub seq: i64,
    /// Who made it.
    pub author_id: UserId,
    /// Whose number changed.
    pub target_id: UserId,
    /// Which number.
    pub counter: Counter,
    /// By how much.
    pub delta: i32,
    /// When this change undoes an earlier one: that one's `seq`.
    pub undo_of: Option<i64>,
    /// When, unix milliseconds on the server's clock.
    pub at_ms: i64,
}

/// `life.changed`: a change was made; `totals` are its target's numbers right after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifeChanged {
    /// The room's voice channel.
    pub channel_id: ChannelId,
    /// The change.
    pub change: LifeChange,
    /// Its target's numbers after it.
    pub totals: PlayerTotals,
}

/// `commanders.named`: a player's commanders were (re)named; `totals` carry the new names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandersNamed {
    /// The room's voice channel.
    pub channel_id: ChannelId,
    /// Who named them.
    pub author_id: UserId,
    /// The player's numbers, with the new names.
    pub totals: PlayerTotals,
}

/// The whole table: sent as `table` on a room's stream after its seats (and after every
/// resynchronisation), and as `table.reset` when the owner starts a new game. A page replaces its
/// totals with it, keeping any player's totals it already has with a higher `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableState {
    /// The room's voice channel.
    pub channel_id: ChannelId,
    /// The life each player started this game with.
    pub starting_life: i32,
    /// The room's sequence number when this was read.
    pub seq: i64,
    /// The seated players' numbers, in seat order.
    pub players: Vec<PlayerTotals>,
    /// The last [`HISTORY_LEN`] changes of this game, oldest first.
    pub history: Vec<LifeChange>,
}

/// The SSE event name of a [`TableState`] read for a new (or resynchronised) viewer.
pub const TABLE_EVENT: &str = "table";

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: &str) -> UserId {
        n.parse().unwrap()
    }

    /// Life, poison and damage from bob's first commander before; the change; the outcome.
    type Case = ((i32, i32, i32), Counter, i32, Result<(i32, i32, i32), DeltaError>);

    #[test]
    fn deltas_follow_the_table_rules() {
        let alice = id("1");
        let bob = id("2");
        let atraxa = Counter::CommanderDamage {
            from: bob,
            commander: 0,
        };
        let partner = Counter::CommanderDamage {
            from: bob,
            commander: 1,
        };
        let cases: &[Case] = &[
            ((40, 0, 0), Counter::Life, -3, Ok((37, 0, 0))),
            ((40, 0, 0), Counter::Life, 100, Ok((140, 0, 0))),
            ((40, 0, 0), Counter::Life, 101, Err(DeltaError::Step)),
            ((40, 0, 0), Counter::Life, -101, Err(DeltaError::Step)),
            ((40, 0, 0), Counter::Life, 0, Err(DeltaError::Step)),
            ((-950, 0, 0), Counter::Life, -49, Ok((-999, 0, 0))),
            ((-950, 0, 0), Counter::Life, -50, Err(DeltaError::Life)),
            ((950, 0, 0), Counter::Life, 50, Err(DeltaError::Life)),
            ((40, 0, 0), Counter::Poison, -1, Err(DeltaError::Poison)),
            ((40, 9, 0), Counter::Poison, 1, Ok((40, 10, 0))),
            ((40, 99, 0), Counter::Poison, 1, Err(DeltaError::Poison)),
            // Commander damage also takes life.
            ((40, 0, 0), atraxa, 7, Ok((33, 0, 7))),
            ((33, 0, 7), atraxa, -7, Ok((40, 0, 0))),
            ((40, 0, 0), atraxa, -1, Err(DeltaError::CommanderDamage)),
            ((-990, 0, 0), atraxa, 10, Err(DeltaError::Life)),
            (
                (40, 0, 0),
                Counter::CommanderDamage {
                    from: alice,
                    commander: 0,
                },
                1,
                Err(DeltaError::OwnCommander),
            ),
        ];
        for ((life, poison, damage), counter, delta, expected) in cases {
            let mut totals = PlayerTotals::new(alice, *life);
            totals.poison = *poison;
            if *damage > 0 {
                totals.apply(atraxa, *damage).unwrap();
                totals.life = *life;
            }
            let before = totals.clone();
            let outcome = totals
                .apply(*counter, *delta)
                .map(|()| (totals.life, totals.poison, totals.damage_from(bob, 0)));
            assert_eq!(outcome, *expected, "{counter} {delta:+} from {before:?}");
            if expected.is_err() {
                assert_eq!(totals, before, "a refused change changes nothing");
            }
        }
        // Partners are counted apart.
        let mut totals = PlayerTotals::new(alice, 40);
        totals.apply(atraxa, 15).unwrap();
        totals.apply(partner, 15).unwrap();
        assert_eq!(
            (
                totals.life,
                totals.damage_from(bob, 0),
                totals.damage_from(bob, 1)
            ),
            (10, 15, 15)
        );
        assert!(!totals.is_lethal(), "30 damage from two partners is not lethal");
        totals.apply(partner, 6).unwrap();
        assert_eq!(totals.lethal_commander().map(|damage| damage.commander), Some(1));
    }

    #[test]
    fn lethal_is_zero_life_ten_poison_or_21_from_one_commander() {
        let mut totals = PlayerTotals::new(id("1"), 40);
        assert!(!totals.is_lethal());
        totals.life = 0;
        assert!(totals.is_lethal());
        totals.life = 1;
        totals.poison = LETHAL_POISON;
        assert!(totals.is_lethal());
    }

    #[test]
    fn counters_travel_as_text_and_bad_ones_are_refused() {
        for counter in [
            Counter::Life,
            Counter::Poison,
            Counter::CommanderDamage {
                from: id("42"),
                commander: 1,
            },
        ] {
            assert_eq!(counter.to_string().parse::<Counter>(), Ok(counter));
            let json = serde_json::to_string(&counter).unwrap();
            assert_eq!(serde_json::from_str::<Counter>(&json).unwrap(), counter);
        }
        for bad in [
            "",
            "Life",
            "commander",
            "commander:42",
            "commander:42:2",
            "commander:x:0",
            "commander:0:0",
        ] {
            assert!(bad.parse::<Counter>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn starting_life_and_commander_names_are_checked() {
        assert_eq!(validate_starting_life(40), Ok(40));
        assert!(validate_starting_life(41).is_err());
        assert_eq!(
            validate_commander_name("  Atraxa "),
            Ok(Some("Atraxa".to_owned()))
        );
        assert_eq!(validate_commander_name("   "), Ok(None));
        assert!(validate_commander_name(&"x".repeat(61)).is_err());
        assert!(validate_commander_name(&"é".repeat(60)).is_ok());
        let refused = validate_commander_name("Tymna\u{202E}").unwrap_err();
        assert!(refused.contains("commander"), "{refused}");
    }
}
