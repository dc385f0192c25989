//! Rooms, their players and their invite, in the same SQL on both engines.
//!
//! A room is open until it is closed (by its owner, by the idle-room janitor, or because its
//! channel was deleted in Discord); a closed room keeps its row with `closed_at` as a record. Every
//! query here that finds, lists or admits to rooms reads open rooms only, so a closed room is
//! "not found" everywhere except [`Store::closed_room`].

use model::{
    ids::{ChannelId, GuildId, UserId},
    stream::Seat,
};
use sqlx::Row;

use super::{Store, StoreError, unix_millis};

/// A game room as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    /// The voice channel the app created for it; also the room's id.
    pub channel_id: ChannelId,
    /// The guild of the channel.
    pub guild_id: GuildId,
    /// Who created it.
    pub owner_id: UserId,
    /// Its name.
    pub name: String,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// The life each player starts a game with.
    pub starting_life: i32,
}

/// A player admitted to a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerRecord {
    /// Discord id.
    pub user_id: UserId,
    /// Display name (global name, else username).
    pub username: String,
}

/// A room's live invite (its token is only ever known to the owner's browser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InviteRecord {
    /// The room.
    pub channel_id: ChannelId,
    /// When it stops working, unix milliseconds.
    pub expires_at_ms: i64,
}

/// What [`Store::admit_player`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The user is now a player.
    Admitted,
    /// The user already was one.
    AlreadyPlayer,
    /// The room has no seat left.
    Full,
    /// There is no such room.
    NoRoom,
    /// The owner removed the user and has not let them back in.
    Removed,
}

/// A player the owner removed from a room, who cannot rejoin until the owner lets them back in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovalRecord {
    /// Discord id.
    pub user_id: UserId,
    /// Display name (global name, else username).
    pub username: String,
    /// When they were removed, unix milliseconds.
    pub removed_at_ms: i64,
}

/// Why a room closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Its owner closed it.
    Owner,
    /// The janitor closed it after an hour with nobody in it.
    Idle,
    /// Its voice channel was deleted in Discord, outside the app.
    ChannelGone,
}

impl CloseReason {
    /// As stored in `rooms.closed_reason`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Idle => "idle",
            Self::ChannelGone => "channel_gone",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Owner, Self::Idle, Self::ChannelGone]
            .into_iter()
            .find(|reason| reason.as_str() == text)
    }
}

/// A room that has ended: what its page can still tell its players.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedRoom {
    /// The room as it was.
    pub room: RoomRecord,
    /// When it closed, unix milliseconds.
    pub closed_at_ms: i64,
    /// Why.
    pub reason: CloseReason,
}

/// What the idle-room janitor remembers of an open room, in unix milliseconds. Both are `None`
/// while someone is in the room or on its page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Idleness {
    /// Since when nobody has been there.
    pub idle_since_ms: Option<i64>,
    /// When its people were told it will close (only once that was published).
    pub warned_at_ms: Option<i64>,
}

/// Inserts a room and its owner's seat inside the transaction `$tx` (either engine's).
macro_rules! insert_room {
    ($tx:expr, $room:expr) => {{
        const ROOM: &str =
            "INSERT INTO rooms (channel_id, guild_id, owner_id, name, created_at, starting_life) \
             VALUES ($1, $2, $3, $4, $5, $6)";
        const OWNER: &str = "INSERT INTO memberships (channel_id, user_id, joined_at) VALUES ($1, $2, $3)";
        let room: &RoomRecord = $room;
        sqlx::query(ROOM)
            .bind(room.channel_id.to_string())
            .bind(room.guild_id.to_string())
            .bind(room.owner_id.to_string())
            .bind(&room.name)
            .bind(room.created_at_ms)
            .bind(room.starting_life)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(OWNER)
            .bind(room.channel_id.to_string())
            .bind(room.owner_id.to_string())
            .bind(room.created_at_ms)
            .execute(&mut *$tx)
            .await?;
    }};
}

const ROOM_COLUMNS: &str =
    "rooms.channel_id, rooms.guild_id, rooms.owner_id, rooms.name, rooms.created_at, rooms.starting_life";

impl Store {
    /// Runs `sql`, which names the room as `$1` and a user as `$2`; returns the rows it changed.
    async fn change_for(
        &self,
        sql: &'static str,
        channel: ChannelId,
        user: UserId,
    ) -> Result<u64, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(channel.to_string())
                .bind(user.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    /// Stores a new room with its owner as the first player. A room already on the channel, open or
    /// closed, is a conflict: the insert fails and nothing changes (a closed room is a record of a
    /// game, and nobody else's failure may erase it).
    pub async fn create_room(&self, room: &RoomRecord) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            insert_room!(tx, room);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Finishes the room creation `intent`: in one transaction the intent goes and the room is
    /// stored with its owner as first player and its invite (`token_hash`, expiring at
    /// `expires_at_ms`). Returns `false`, changing nothing, when the intent is no longer there (the
    /// reconciler gave up on it and deleted its channel); fails, changing nothing, when a room
    /// already holds the channel.
    pub async fn complete_room(
        &self,
        intent: &str,
        room: &RoomRecord,
        token_hash: &str,
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        const INTENT: &str = "DELETE FROM room_intents WHERE id = $1";
        const INVITE: &str = "INSERT INTO invites (channel_id, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (channel_id) DO UPDATE SET \
             token_hash = excluded.token_hash, created_at = excluded.created_at, expires_at = excluded.expires_at";
        let done = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let found = sqlx::query(INTENT).bind(intent).execute(&mut *tx).await?.rows_affected();
            if found == 0 {
                tx.rollback().await?;
                false
            } else {
                insert_room!(tx, room);
                sqlx::query(INVITE)
                    .bind(room.channel_id.to_string())
                    .bind(token_hash)
                    .bind(room.created_at_ms)
                    .bind(expires_at_ms)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                true
            }
        });
        Ok(done)
    }

    /// The open room on this channel, if the app created one there.
    pub async fn room(&self, channel: ChannelId) -> Result<Option<RoomRecord>, StoreError> {
        let sql = format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE channel_id = $1 AND closed_at IS NULL");
        on_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(channel.to_string())
                .fetch_optional(pool)
                .await?
                .map(|row| room_from_row(&row))
                .transpose()
        })
    }

    /// The open rooms `user` plays in, newest first.
    pub async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomRecord>, StoreError> {
        let sql = format!(
            "SELECT {ROOM_COLUMNS} FROM rooms JOIN memberships ON memberships.channel_id = rooms.channel_id \
             WHERE memberships.user_id = $1 AND rooms.closed_at IS NULL \
             ORDER BY rooms.created_at DESC, rooms.channel_id"
        );
        on_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(user.to_string())
                .fetch_all(pool)
                .await?
                .iter()
                .map(room_from_row)
                .collect()
        })
    }

    /// The open rooms `user` plays in that were warned they will close for idleness, with what the
    /// janitor remembers of them.
    pub async fn warned_rooms_of(&self, user: UserId) -> Result<Vec<(ChannelId, Idleness)>, StoreError> {
        const SQL: &str = "SELECT rooms.channel_id, rooms.idle_since, rooms.warned_at FROM rooms \
             JOIN memberships ON memberships.channel_id = rooms.channel_id \
             WHERE memberships.user_id = $1 AND rooms.closed_at IS NULL AND rooms.warned_at IS NOT NULL";
        on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(user.to_string())
                .fetch_all(pool)
                .await?
                .iter()
                .map(idleness_from_row)
                .collect()
        })
    }

    /// Every open room, oldest first.
    pub async fn all_rooms(&self) -> Result<Vec<RoomRecord>, StoreError> {
        let sql = format!(
            "SELECT {ROOM_COLUMNS} FROM rooms WHERE closed_at IS NULL ORDER BY created_at, channel_id"
        );
        on_pool!(self, pool => {
            sqlx::query(&sql)
                .fetch_all(pool)
                .await?
                .iter()
                .map(room_from_row)
                .collect()
        })
    }

    /// Every open room with what the idle-room janitor remembers of it, oldest first.
    pub async fn idleness(&self) -> Result<Vec<(ChannelId, Idleness)>, StoreError> {
        const SQL: &str = "SELECT channel_id, idle_since, warned_at FROM rooms WHERE closed_at IS NULL \
             ORDER BY created_at, channel_id";
        on_pool!(self, pool => {
            sqlx::query(SQL)
                .fetch_all(pool)
                .await?
                .iter()
                .map(idleness_from_row)
                .collect()
        })
    }

    /// Remembers the open room's idleness. Returns whether the room is open.
    pub async fn set_idleness(&self, channel: ChannelId, idleness: Idleness) -> Result<bool, StoreError> {
        const SQL: &str =
            "UPDATE rooms SET idle_since = $2, warned_at = $3 WHERE channel_id = $1 AND closed_at IS NULL";
        let done = on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(channel.to_string())
                .bind(idleness.idle_since_ms)
                .bind(idleness.warned_at_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Stops the idle clocks for `blind_ms` (the app could not see who was in voice, so that time
    /// counts as neither idle nor busy): every idle open room's `idle_since`, and its warning's
    /// time, move forward by it. A warned room is then deleted that much later than announced,
    /// never earlier. Returns how many rooms it moved.
    pub async fn pause_idle_clocks(&self, blind_ms: i64) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE rooms SET idle_since = idle_since + $1, warned_at = warned_at + $1 \
             WHERE idle_since IS NOT NULL AND closed_at IS NULL";
        let done = on_pool!(self, pool => {
            sqlx::query(SQL).bind(blind_ms).execute(pool).await?.rows_affected()
        });
        Ok(done)
    }

    /// Closes the room at `at_ms`: it stays as a record ([`Store::closed_room`]), its memberships
    /// and removals with it, and every query about open rooms skips it. Returns whether it was open
    /// (closing a closed room changes nothing, so the first reason stays).
    ///
    /// Callers that are about to delete the channel close first, so the gateway's echo of their own
    /// deletion finds the room closed and cannot record a different reason; if Discord then refuses,
    /// [`Store::reopen_room`] undoes exactly this close.
    pub async fn close_room(
        &self,
        channel: ChannelId,
        reason: CloseReason,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        const SQL: &str =
            "UPDATE rooms SET closed_at = $2, closed_reason = $3 WHERE channel_id = $1 AND closed_at IS NULL";
        let done = on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(channel.to_string())
                .bind(at_ms)
                .bind(reason.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Undoes a [`Store::close_room`] made at `closed_at_ms` for `reason` (the channel could not be
    /// deleted after all): the room is open again as it was, idle time and all. A later close is
    /// someone else's and stays. Returns whether it reopened.
    pub async fn reopen_room(
        &self,
        channel: ChannelId,
        reason: CloseReason,
        closed_at_ms: i64,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE rooms SET closed_at = NULL, closed_reason = NULL \
             WHERE channel_id = $1 AND closed_at = $2 AND closed_reason = $3";
        let done = on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(channel.to_string())
                .bind(closed_at_ms)
                .bind(reason.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// The closed room on this channel, if there is one.
    pub async fn closed_room(&self, channel: ChannelId) -> Result<Option<ClosedRoom>, StoreError> {
        let sql = format!(
            "SELECT {ROOM_COLUMNS}, rooms.closed_at, rooms.closed_reason FROM rooms \
             WHERE channel_id = $1 AND closed_at IS NOT NULL"
        );
        on_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(channel.to_string())
                .fetch_optional(pool)
                .await?
                .map(|row| {
                    let reason: String = row.try_get("closed_reason")?;
                    Ok(ClosedRoom {
                        room: room_from_row(&row)?,
                        closed_at_ms: row.try_get("closed_at")?,
                        reason: CloseReason::parse(&reason).ok_or_else(|| StoreError::Corrupt {
                            table: "rooms",
                            reason: format!("closed_reason {reason:?}"),
                        })?,
                    })
                })
                .transpose()
        })
    }

    /// The open room's players, in the order they were admitted (the owner first).
    pub async fn players(&self, channel: ChannelId) -> Result<Vec<PlayerRecord>, StoreError> {
        const SQL: &str = "SELECT users.id, COALESCE(users.global_name, users.username) AS name \
             FROM memberships JOIN users ON users.id = memberships.user_id \
             JOIN rooms ON rooms.channel_id = memberships.channel_id AND rooms.closed_at IS NULL \
             WHERE memberships.channel_id = $1 ORDER BY memberships.joined_at, users.id";
        on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(channel.to_string())
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    let id: String = row.try_get("id")?;
                    Ok(PlayerRecord {
                        user_id: parse(&id, "memberships")?,
                        username: row.try_get("name")?,
                    })
                })
                .collect()
        })
    }

    /// Whether `user` is a player of the open room.
    pub async fn is_player(&self, channel: ChannelId, user: UserId) -> Result<bool, StoreError> {
        const SQL: &str = "SELECT 1 FROM memberships \
             JOIN rooms ON rooms.channel_id = memberships.channel_id AND rooms.closed_at IS NULL \
             WHERE memberships.channel_id = $1 AND memberships.user_id = $2";
        let found = on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(channel.to_string())
                .bind(user.to_string())
                .fetch_optional(pool)
                .await?
                .is_some()
        });
        Ok(found)
    }

    /// The open room's seats, in the order their players were admitted (the owner first), with
    /// when each last dropped out of voice.
    pub async fn seats(&self, channel: ChannelId) -> Result<Vec<Seat>, StoreError> {
        const SQL: &str = "SELECT users.id, COALESCE(users.global_name, users.username) AS name, \
             users.avatar, memberships.dropped_at, rooms.owner_id \
             FROM memberships JOIN users ON users.id = memberships.user_id \
             JOIN rooms ON rooms.channel_id = memberships.channel_id AND rooms.closed_at IS NULL \
             WHERE memberships.channel_id = $1 ORDER BY memberships.joined_at, users.id";
        on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(channel.to_string())
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    let id: String = row.try_get("id")?;
                    let owner: String = row.try_get("owner_id")?;
                    Ok(Seat {
                        owner: owner == id,
                        user_id: parse(&id, "memberships")?,
                        username: row.try_get("name")?,
                        avatar: row.try_get("avatar")?,
                        dropped_at_ms: row.try_get("dropped_at")?,
                    })
                })
                .collect()
        })
    }

    /// Records that `user`, seated in the open room, left its voice channel at `at_ms` (a later
    /// drop replaces an earlier one). Returns whether they are seated there.
    pub async fn mark_dropped(
        &self,
        channel: ChannelId,
        user: UserId,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE memberships SET dropped_at = $3 \
             WHERE channel_id = $1 AND user_id = $2 \
             AND EXISTS (SELECT 1 FROM rooms WHERE rooms.channel_id = $1 AND rooms.closed_at IS NULL)";
        let changed = on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(channel.to_string())
                .bind(user.to_string())
                .bind(at_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(changed > 0)
    }

    /// `user` is back in the room's voice channel: their drop is forgotten. Returns whether there
    /// was one.
    pub async fn clear_dropped(&self, channel: ChannelId, user: UserId) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE memberships SET dropped_at = NULL \
             WHERE channel_id = $1 AND user_id = $2 AND dropped_at IS NOT NULL";
        Ok(self.change_for(SQL, channel, user).await? > 0)
    }

    /// Admits `user` unless the room already has `seats` players or the owner removed them.
    /// Concurrent admissions to one room are serialised by first writing the room's row (a row
    /// lock on PostgreSQL, the write lock on SQLite), so two friends racing for the last seat
    /// cannot both get it. The removal is read inside the same transaction: a removal recorded
    /// before the player's seat was deleted is always seen, so a rejoin cannot slip between the two.
    pub async fn admit_player(
        &self,
        channel: ChannelId,
        user: UserId,
        seats: usize,
    ) -> Result<Admission, StoreError> {
        // A closed room locks nothing, so it reads as no room.
        const LOCK: &str =
            "UPDATE rooms SET channel_id = channel_id WHERE channel_id = $1 AND closed_at IS NULL";
        const EXISTING: &str = "SELECT user_id FROM memberships WHERE channel_id = $1";
        const REMOVED: &str = "SELECT 1 FROM room_removals WHERE channel_id = $1 AND user_id = $2";
        const ADMIT: &str = "INSERT INTO memberships (channel_id, user_id, joined_at) VALUES ($1, $2, $3)";
        let channel_text = channel.to_string();
        let user_text = user.to_string();
        let admission = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let locked = sqlx::query(LOCK).bind(&channel_text).execute(&mut *tx).await?;
            if locked.rows_affected() == 0 {
                Admission::NoRoom
            } else {
                let players: Vec<String> = sqlx::query(EXISTING)
                    .bind(&channel_text)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|row| row.try_get("user_id"))
                    .collect::<Result<_, _>>()?;
                let removed = sqlx::query(REMOVED)
                    .bind(&channel_text)
                    .bind(&user_text)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
                let admission = if players.contains(&user_text) {
                    Admission::AlreadyPlayer
                } else if removed {
                    Admission::Removed
                } else if players.len() >= seats {
                    Admission::Full
                } else {
                    sqlx::query(ADMIT)
                        .bind(&channel_text)
                        .bind(&user_text)
                        .bind(unix_millis())
                        .execute(&mut *tx)
                        .await?;
                    Admission::Admitted
                };
                tx.commit().await?;
                admission
            }
        });
        Ok(admission)
    }

    /// Takes `user` out of the room's players. Returns whether they were one. Not limited to open
    /// rooms: it also undoes a seat reserved by a join that failed while the room was closing.
    pub async fn remove_player(&self, channel: ChannelId, user: UserId) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM memberships WHERE channel_id = $1 AND user_id = $2";
        Ok(self.change_for(SQL, channel, user).await? > 0)
    }

    /// Records that `by` (the owner) removed `user` from the room, so that its invite no longer
    /// lets them in. Recording it again refreshes who and when. Returns whether the room is open.
    pub async fn record_removal(
        &self,
        channel: ChannelId,
        user: UserId,
        by: UserId,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "INSERT INTO room_removals (channel_id, user_id, removed_at, removed_by) \
             SELECT channel_id, $2, $3, $4 FROM rooms WHERE channel_id = $1 AND closed_at IS NULL \
             ON CONFLICT (channel_id, user_id) DO UPDATE SET \
             removed_at = excluded.removed_at, removed_by = excluded.removed_by";
        let done = on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(channel.to_string())
                .bind(user.to_string())
                .bind(unix_millis())
                .bind(by.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Whether the owner removed `user` from the room and has not let them back in.
    pub async fn is_removed(&self, channel: ChannelId, user: UserId) -> Result<bool, StoreError> {
        const SQL: &str = "SELECT 1 FROM room_removals WHERE channel_id = $1 AND user_id = $2";
        let found = on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(channel.to_string())
                .bind(user.to_string())
                .fetch_optional(pool)
                .await?
                .is_some()
        });
        Ok(found)
    }

    /// The players removed from the room, most recently removed first.
    pub async fn removed_players(&self, channel: ChannelId) -> Result<Vec<RemovalRecord>, StoreError> {
        const SQL: &str = "SELECT users.id, COALESCE(users.global_name, users.username) AS name, \
             room_removals.removed_at FROM room_removals JOIN users ON users.id = room_removals.user_id \
             WHERE room_removals.channel_id = $1 ORDER BY room_removals.removed_at DESC, users.id";
        on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(channel.to_string())
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    let id: String = row.try_get("id")?;
                    Ok(RemovalRecord {
                        user_id: parse(&id, "room_removals")?,
                        username: row.try_get("name")?,
                        removed_at_ms: row.try_get("removed_at")?,
                    })
                })
                .collect()
        })
    }

    /// Lifts `user`'s removal from the room (the owner lets them back in; it does not seat them).
    /// Returns whether they were removed.
    pub async fn lift_removal(&self, channel: ChannelId, user: UserId) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM room_removals WHERE channel_id = $1 AND user_id = $2";
        Ok(self.change_for(SQL, channel, user).await? > 0)
    }

    /// Makes `token_hash` the room's one invite, replacing any earlier one (which stops working).
    pub async fn set_invite(
        &self,
        channel: ChannelId,
        token_hash: &str,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO invites (channel_id, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (channel_id) DO UPDATE SET \
             token_hash = excluded.token_hash, created_at = excluded.created_at, expires_at = excluded.expires_at";
        on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(channel.to_string())
                .bind(token_hash)
                .bind(unix_millis())
                .bind(expires_at_ms)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Removes the room's invite. Returns whether there was one.
    pub async fn delete_invite(&self, channel: ChannelId) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => {
            sqlx::query("DELETE FROM invites WHERE channel_id = $1")
                .bind(channel.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Deletes invites that expired before `now_ms`. Returns how many.
    pub async fn purge_expired_invites(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = on_pool!(self, pool => {
            sqlx::query("DELETE FROM invites WHERE expires_at < $1")
                .bind(now_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done)
    }

    /// The invite whose token hashes to `token_hash`.
    pub async fn invite_by_hash(&self, token_hash: &str) -> Result<Option<InviteRecord>, StoreError> {
        self.invite_where("token_hash", token_hash).await
    }

    /// The room's current invite.
    pub async fn invite_of(&self, channel: ChannelId) -> Result<Option<InviteRecord>, StoreError> {
        self.invite_where("channel_id", &channel.to_string()).await
    }

    async fn invite_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<InviteRecord>, StoreError> {
        let sql = format!("SELECT channel_id, expires_at FROM invites WHERE {column} = $1");
        on_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(value)
                .fetch_optional(pool)
                .await?
                .map(|row| {
                    let id: String = row.try_get("channel_id")?;
                    Ok(InviteRecord {
                        channel_id: parse(&id, "invites")?,
                        expires_at_ms: row.try_get("expires_at")?,
                    })
                })
                .transpose()
        })
    }
}

/// A room's channel and idleness from a row with `channel_id`, `idle_since` and `warned_at`.
fn idleness_from_row<R>(row: &R) -> Result<(ChannelId, Idleness), StoreError>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let id: String = row.try_get("channel_id")?;
    Ok((
        parse(&id, "rooms")?,
        Idleness {
            idle_since_ms: row.try_get("idle_since")?,
            warned_at_ms: row.try_get("warned_at")?,
        },
    ))
}

fn room_from_row<R>(row: &R) -> Result<RoomRecord, StoreError>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let text = |column: &str| -> Result<String, StoreError> { Ok(row.try_get(column)?) };
    Ok(RoomRecord {
        channel_id: parse(&text("channel_id")?, "rooms")?,
        guild_id: parse(&text("guild_id")?, "rooms")?,
        owner_id: parse(&text("owner_id")?, "rooms")?,
        name: text("name")?,
        created_at_ms: row.try_get("created_at")?,
        starting_life: row.try_get("starting_life")?,
    })
}

pub(super) fn parse<T>(text: &str, table: &'static str) -> Result<T, StoreError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|err| StoreError::Corrupt {
        table,
        reason: format!("{err}"),
    })
}
