//! The pod's shared life totals, in the same SQL on both engines.
//!
//! Every write to a room's table first bumps `rooms.table_seq` in its transaction: that number is
//! the change's place in the room's order, and the write itself serialises the room's changes (a
//! row lock on PostgreSQL, the write lock on SQLite). A change then reads its target's numbers,
//! applies the rules ([`PlayerTotals::apply`]) and writes them back, so two players pressing "−1"
//! at once both count, whichever instance serves them.

use model::{
    ids::{ChannelId, UserId},
    table::{
        CommanderDamage, Counter, DeltaError, HISTORY_LEN, LifeChange, LifeChanged, MAX_COMMANDERS,
        PlayerTotals, TableState,
    },
};
use sqlx::Row;

use super::{Store, StoreError, rooms::parse};

/// A change to be made to a room's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewChange {
    /// The room.
    pub channel: ChannelId,
    /// Who makes it.
    pub author: UserId,
    /// Whose number.
    pub target: UserId,
    /// Which number.
    pub counter: Counter,
    /// By how much.
    pub delta: i32,
    /// The change it undoes, if it is an undo.
    pub undo_of: Option<i64>,
    /// When, unix milliseconds.
    pub at_ms: i64,
}

/// What [`Store::change_totals`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TotalsChange {
    /// Made and stored.
    Applied(LifeChanged),
    /// No open room on the channel.
    NoRoom,
    /// The author holds no seat in the room.
    NotPlayer,
    /// The target (or the commander's owner) holds no seat in the room.
    UnknownSeat,
    /// The commander's owner has no partner commander named.
    UnknownCommander,
    /// The change breaks a rule; nothing changed.
    Refused(DeltaError),
    /// The change it undoes was already undone.
    AlreadyUndone,
}

const LOCK: &str = "UPDATE rooms SET table_seq = table_seq + 1 \
     WHERE channel_id = $1 AND closed_at IS NULL RETURNING table_seq, starting_life";
const SEATED: &str = "SELECT user_id FROM memberships WHERE channel_id = $1";
const TOTALS: &str = "SELECT user_id, life, poison, commander_1, commander_2, seq \
     FROM life_totals WHERE channel_id = $1 AND user_id = $2";
const DAMAGE_OF: &str = "SELECT target_id, source_id, commander, damage FROM commander_damage \
     WHERE channel_id = $1 AND target_id = $2";
const SAVE_TOTALS: &str = "INSERT INTO life_totals \
     (channel_id, user_id, life, poison, commander_1, commander_2, seq) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (channel_id, user_id) DO UPDATE SET \
     life = excluded.life, poison = excluded.poison, commander_1 = excluded.commander_1, \
     commander_2 = excluded.commander_2, seq = excluded.seq";
const SAVE_DAMAGE: &str = "INSERT INTO commander_damage \
     (channel_id, target_id, source_id, commander, damage) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (channel_id, target_id, source_id, commander) DO UPDATE SET damage = excluded.damage";
const RECORD: &str = "INSERT INTO life_changes \
     (channel_id, seq, author_id, target_id, counter, delta, undo_of, at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const CHANGE_COLUMNS: &str = "seq, author_id, target_id, counter, delta, undo_of, at";

/// Reads `user`'s numbers in the room inside transaction `tx` (the start of a game when they have
/// none yet, at `starting_life`).
macro_rules! totals_in {
    ($tx:expr, $channel:expr, $user:expr, $starting_life:expr) => {{
        let row = sqlx::query(TOTALS)
            .bind($channel)
            .bind($user.to_string())
            .fetch_optional(&mut *$tx)
            .await?;
        let mut totals = match row {
            Some(row) => totals_from_row(&row)?,
            None => PlayerTotals::new($user, $starting_life),
        };
        for row in sqlx::query(DAMAGE_OF)
            .bind($channel)
            .bind($user.to_string())
            .fetch_all(&mut *$tx)
            .await?
        {
            totals.damage.push(damage_from_row(&row)?.1);
        }
        totals
            .damage
            .sort_by_key(|damage| (damage.from, damage.commander));
        totals
    }};
}

/// Writes `totals` (not their damage) inside transaction `tx`.
macro_rules! save_totals {
    ($tx:expr, $channel:expr, $totals:expr) => {{
        let totals: &PlayerTotals = $totals;
        sqlx::query(SAVE_TOTALS)
            .bind($channel)
            .bind(totals.user_id.to_string())
            .bind(totals.life)
            .bind(totals.poison)
            .bind(totals.commanders.first())
            .bind(totals.commanders.get(1))
            .bind(totals.seq)
            .execute(&mut *$tx)
            .await?;
    }};
}

impl Store {
    /// The open room's table: its starting life and sequence number, the seated players' numbers
    /// in seat order (a player without any has the starting life), and the game's last
    /// [`HISTORY_LEN`] changes. `None` when no open room is on the channel.
    pub async fn table(&self, channel: ChannelId) -> Result<Option<TableState>, StoreError> {
        const ROOM: &str =
            "SELECT starting_life, table_seq FROM rooms WHERE channel_id = $1 AND closed_at IS NULL";
        const PLAYERS: &str = "SELECT memberships.user_id, life_totals.life, life_totals.poison, \
             life_totals.commander_1, life_totals.commander_2, life_totals.seq \
             FROM memberships LEFT JOIN life_totals ON life_totals.channel_id = memberships.channel_id \
             AND life_totals.user_id = memberships.user_id \
             WHERE memberships.channel_id = $1 ORDER BY memberships.joined_at, memberships.user_id";
        const DAMAGE: &str = "SELECT target_id, source_id, commander, damage FROM commander_damage \
             WHERE channel_id = $1";
        let history_sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM life_changes WHERE channel_id = $1 ORDER BY seq DESC LIMIT $2"
        );
        let channel_text = channel.to_string();
        let history_len = i64::try_from(HISTORY_LEN).unwrap_or(i64::MAX);
        on_pool!(self, pool => {
            let Some(room) = sqlx::query(ROOM).bind(&channel_text).fetch_optional(pool).await? else {
                return Ok(None);
            };
            let starting_life: i32 = room.try_get("starting_life")?;
            let mut players = Vec::new();
            for row in sqlx::query(PLAYERS).bind(&channel_text).fetch_all(pool).await? {
                let user: String = row.try_get("user_id")?;
                let user = parse(&user, "memberships")?;
                let totals = match row.try_get::<Option<i32>, _>("life")? {
                    Some(_) => totals_from_row(&row)?,
                    None => PlayerTotals::new(user, starting_life),
                };
                players.push(totals);
            }
            for row in sqlx::query(DAMAGE).bind(&channel_text).fetch_all(pool).await? {
                let (target, damage) = damage_from_row(&row)?;
                if let Some(player) = players.iter_mut().find(|player| player.user_id == target) {
                    player.damage.push(damage);
                }
            }
            for player in &mut players {
                player.damage.sort_by_key(|damage| (damage.from, damage.commander));
            }
            let mut history = sqlx::query(&history_sql)
                .bind(&channel_text)
                .bind(history_len)
                .fetch_all(pool)
                .await?
                .iter()
                .map(change_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            history.reverse();
            Ok(Some(TableState {
                channel_id: channel,
                starting_life,
                seq: room.try_get("table_seq")?,
                players,
                history,
            }))
        })
    }

    /// Makes `change` if its room is open, its author and target are seated there (and, for
    /// commander damage, the commander's owner too) and the rules hold; otherwise changes nothing
    /// and says why.
    pub async fn change_totals(&self, change: &NewChange) -> Result<TotalsChange, StoreError> {
        const PARTNER: &str = "SELECT commander_2 FROM life_totals WHERE channel_id = $1 AND user_id = $2";
        let channel = change.channel.to_string();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let Some(room) = sqlx::query(LOCK).bind(&channel).fetch_optional(&mut *tx).await? else {
                return Ok(TotalsChange::NoRoom);
            };
            let seq: i64 = room.try_get("table_seq")?;
            let starting_life: i32 = room.try_get("starting_life")?;
            let seated = seated_in(sqlx::query(SEATED).bind(&channel).fetch_all(&mut *tx).await?)?;
            if !seated.contains(&change.author) {
                return Ok(TotalsChange::NotPlayer);
            }
            if !seated.contains(&change.target) {
                return Ok(TotalsChange::UnknownSeat);
            }
            if let Counter::CommanderDamage { from, commander } = change.counter {
                if !seated.contains(&from) {
                    return Ok(TotalsChange::UnknownSeat);
                }
                if commander > 0 {
                    let partner: Option<String> = sqlx::query(PARTNER)
                        .bind(&channel)
                        .bind(from.to_string())
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|row| row.try_get("commander_2"))
                        .transpose()?
                        .flatten();
                    if partner.is_none() {
                        return Ok(TotalsChange::UnknownCommander);
                    }
                }
            }
            let mut totals = totals_in!(tx, &channel, change.target, starting_life);
            if let Err(refused) = totals.apply(change.counter, change.delta) {
                return Ok(TotalsChange::Refused(refused));
            }
            totals.seq = seq;
            save_totals!(tx, &channel, &totals);
            if let Counter::CommanderDamage { from, commander } = change.counter {
                sqlx::query(SAVE_DAMAGE)
                    .bind(&channel)
                    .bind(change.target.to_string())
                    .bind(from.to_string())
                    .bind(i32::from(commander))
                    .bind(totals.damage_from(from, commander))
                    .execute(&mut *tx)
                    .await?;
            }
            let recorded = sqlx::query(RECORD)
                .bind(&channel)
                .bind(seq)
                .bind(change.author.to_string())
                .bind(change.target.to_string())
                .bind(change.counter.to_string())
                .bind(change.delta)
                .bind(change.undo_of)
                .bind(change.at_ms)
                .execute(&mut *tx)
                .await;
            match recorded {
                Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
                    return Ok(TotalsChange::AlreadyUndone);
                }
                recorded => recorded?,
            };
            tx.commit().await?;
            Ok(TotalsChange::Applied(LifeChanged {
                channel_id: change.channel,
                change: LifeChange {
                    seq,
                    author_id: change.author,
                    target_id: change.target,
                    counter: change.counter,
                    delta: change.delta,
                    undo_of: change.undo_of,
                    at_ms: change.at_ms,
                },
                totals,
            }))
        })
    }

    /// `author`'s most recent change in the room's current game, if any.
    pub async fn last_change_by(
        &self,
        channel: ChannelId,
        author: UserId,
    ) -> Result<Option<LifeChange>, StoreError> {
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM life_changes WHERE channel_id = $1 AND author_id = $2 \
             ORDER BY seq DESC LIMIT 1"
        );
        on_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(channel.to_string())
                .bind(author.to_string())
                .fetch_optional(pool)
                .await?
                .as_ref()
                .map(change_from_row)
                .transpose()
        })
    }

    /// The room's change `seq` in the current game, if any.
    pub async fn life_change(&self, channel: ChannelId, seq: i64) -> Result<Option<LifeChange>, StoreError> {
        let sql = format!("SELECT {CHANGE_COLUMNS} FROM life_changes WHERE channel_id = $1 AND seq = $2");
        on_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(channel.to_string())
                .bind(seq)
                .fetch_optional(pool)
                .await?
                .as_ref()
                .map(change_from_row)
                .transpose()
        })
    }

    /// Sets `player`'s commanders' names (at most two; the rest are dropped) if the open room
    /// seats them. Returns their numbers, or `None` when the room or the seat is not there.
    pub async fn name_commanders(
        &self,
        channel: ChannelId,
        player: UserId,
        names: &[String],
    ) -> Result<Option<PlayerTotals>, StoreError> {
        let channel_text = channel.to_string();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let Some(room) = sqlx::query(LOCK).bind(&channel_text).fetch_optional(&mut *tx).await? else {
                return Ok(None);
            };
            let seated = seated_in(sqlx::query(SEATED).bind(&channel_text).fetch_all(&mut *tx).await?)?;
            if !seated.contains(&player) {
                return Ok(None);
            }
            let mut totals = totals_in!(tx, &channel_text, player, room.try_get("starting_life")?);
            totals.commanders = names.iter().take(MAX_COMMANDERS).cloned().collect();
            totals.seq = room.try_get("table_seq")?;
            save_totals!(tx, &channel_text, &totals);
            tx.commit().await?;
            Ok(Some(totals))
        })
    }

    /// Starts a new game in the open room: `starting_life` for everyone from now on, every
    /// seated player back at it with no poison, no commander damage taken anywhere, and an empty
    /// history. Commander names stay (a rematch is usually the same decks). Returns whether the
    /// room is open.
    pub async fn reset_table(&self, channel: ChannelId, starting_life: i32) -> Result<bool, StoreError> {
        const STARTING: &str = "UPDATE rooms SET starting_life = $2 WHERE channel_id = $1";
        const TOTALS: &str = "UPDATE life_totals SET life = $2, poison = 0, seq = $3 WHERE channel_id = $1";
        const FRESH: &str = "INSERT INTO life_totals (channel_id, user_id, life, poison, seq) \
             SELECT channel_id, user_id, $2, 0, $3 FROM memberships WHERE channel_id = $1 \
             ON CONFLICT (channel_id, user_id) DO NOTHING";
        const DAMAGE: &str = "DELETE FROM commander_damage WHERE channel_id = $1";
        const HISTORY: &str = "DELETE FROM life_changes WHERE channel_id = $1";
        let channel = channel.to_string();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let Some(room) = sqlx::query(LOCK).bind(&channel).fetch_optional(&mut *tx).await? else {
                return Ok(false);
            };
            let seq: i64 = room.try_get("table_seq")?;
            sqlx::query(STARTING).bind(&channel).bind(starting_life).execute(&mut *tx).await?;
            for sql in [TOTALS, FRESH] {
                sqlx::query(sql)
                    .bind(&channel)
                    .bind(starting_life)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
            }
            for sql in [DAMAGE, HISTORY] {
                sqlx::query(sql).bind(&channel).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }
}

/// The user ids of `rows` (each with a `user_id`).
fn seated_in<R>(rows: Vec<R>) -> Result<Vec<UserId>, StoreError>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    rows.iter()
        .map(|row| parse(&row.try_get::<String, _>("user_id")?, "memberships"))
        .collect()
}

/// Decodes a `life_totals` row (without damage) from either engine.
fn totals_from_row<R>(row: &R) -> Result<PlayerTotals, StoreError>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let user: String = row.try_get("user_id")?;
    let commanders = [
        row.try_get::<Option<String>, _>("commander_1")?,
        row.try_get("commander_2")?,
    ];
    Ok(PlayerTotals {
        user_id: parse(&user, "life_totals")?,
        life: row.try_get("life")?,
        poison: row.try_get("poison")?,
        commanders: commanders.into_iter().flatten().collect(),
        damage: Vec::new(),
        seq: row.try_get("seq")?,
    })
}

/// Decodes a `commander_damage` row: whose damage, and from which commander.
fn damage_from_row<R>(row: &R) -> Result<(UserId, CommanderDamage), StoreError>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let target: String = row.try_get("target_id")?;
    let source: String = row.try_get("source_id")?;
    let commander: i32 = row.try_get("commander")?;
    Ok((
        parse(&target, "commander_damage")?,
        CommanderDamage {
            from: parse(&source, "commander_damage")?,
            commander: u8::try_from(commander).map_err(|err| StoreError::Corrupt {
                table: "commander_damage",
                reason: format!("commander {commander}: {err}"),
            })?,
            damage: row.try_get("damage")?,
        },
    ))
}

/// Decodes a `life_changes` row from either engine.
fn change_from_row<R>(row: &R) -> Result<LifeChange, StoreError>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let author: String = row.try_get("author_id")?;
    let target: String = row.try_get("target_id")?;
    let counter: String = row.try_get("counter")?;
    Ok(LifeChange {
        seq: row.try_get("seq")?,
        author_id: parse(&author, "life_changes")?,
        target_id: parse(&target, "life_changes")?,
        counter: parse(&counter, "life_changes")?,
        delta: row.try_get("delta")?,
        undo_of: row.try_get("undo_of")?,
        at_ms: row.try_get("at")?,
    })
}
