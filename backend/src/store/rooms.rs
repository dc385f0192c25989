//! Rooms, their players and their invite, in the same SQL on both engines.

use model::ids::{ChannelId, GuildId, UserId};
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

const ROOM_COLUMNS: &str = "rooms.channel_id, rooms.guild_id, rooms.owner_id, rooms.name, rooms.created_at";

impl Store {
    /// Stores a new room with its owner as the first player.
    pub async fn create_room(&self, room: &RoomRecord) -> Result<(), StoreError> {
        const ROOM: &str = "INSERT INTO rooms (channel_id, guild_id, owner_id, name, created_at) VALUES ($1, $2, $3, $4, $5)";
        const OWNER: &str = "INSERT INTO memberships (channel_id, user_id, joined_at) VALUES ($1, $2, $3)";
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(ROOM)
                .bind(room.channel_id.to_string())
                .bind(room.guild_id.to_string())
                .bind(room.owner_id.to_string())
                .bind(&room.name)
                .bind(room.created_at_ms)
                .execute(&mut *tx)
                .await?;
            sqlx::query(OWNER)
                .bind(room.channel_id.to_string())
                .bind(room.owner_id.to_string())
                .bind(room.created_at_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The room on this channel, if the app created one there.
    pub async fn room(&self, channel: ChannelId) -> Result<Option<RoomRecord>, StoreError> {
        let sql = format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE channel_id = $1");
        on_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(channel.to_string())
                .fetch_optional(pool)
                .await?
                .map(|row| room_from_row(&row))
                .transpose()
        })
    }

    /// The rooms `user` plays in, newest first.
    pub async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomRecord>, StoreError> {
        let sql = format!(
            "SELECT {ROOM_COLUMNS} FROM rooms JOIN memberships ON memberships.channel_id = rooms.channel_id \
             WHERE memberships.user_id = $1 ORDER BY rooms.created_at DESC, rooms.channel_id"
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

    /// Every room, oldest first (for the idle-room cleanup).
    pub async fn all_rooms(&self) -> Result<Vec<RoomRecord>, StoreError> {
        let sql = format!("SELECT {ROOM_COLUMNS} FROM rooms ORDER BY created_at, channel_id");
        on_pool!(self, pool => {
            sqlx::query(&sql)
                .fetch_all(pool)
                .await?
                .iter()
                .map(room_from_row)
                .collect()
        })
    }

    /// Forgets a room with its players and removals. Its invite stays until it expires (see the migration).
    pub async fn delete_room(&self, channel: ChannelId) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => {
            sqlx::query("DELETE FROM rooms WHERE channel_id = $1")
                .bind(channel.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// The room's players, in the order they were admitted (the owner first).
    pub async fn players(&self, channel: ChannelId) -> Result<Vec<PlayerRecord>, StoreError> {
        const SQL: &str = "SELECT users.id, COALESCE(users.global_name, users.username) AS name \
             FROM memberships JOIN users ON users.id = memberships.user_id \
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

    /// Whether `user` is a player of the room.
    pub async fn is_player(&self, channel: ChannelId, user: UserId) -> Result<bool, StoreError> {
        const SQL: &str = "SELECT 1 FROM memberships WHERE channel_id = $1 AND user_id = $2";
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
        const LOCK: &str = "UPDATE rooms SET channel_id = channel_id WHERE channel_id = $1";
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

    /// Takes `user` out of the room's players. Returns whether they were one.
    pub async fn remove_player(&self, channel: ChannelId, user: UserId) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM memberships WHERE channel_id = $1 AND user_id = $2";
        let done = on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(channel.to_string())
                .bind(user.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Records that `by` (the owner) removed `user` from the room, so that its invite no longer
    /// lets them in. Recording it again refreshes who and when. Returns whether the room exists.
    pub async fn record_removal(
        &self,
        channel: ChannelId,
        user: UserId,
        by: UserId,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "INSERT INTO room_removals (channel_id, user_id, removed_at, removed_by) \
             SELECT channel_id, $2, $3, $4 FROM rooms WHERE channel_id = $1 \
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
        let done = on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(channel.to_string())
                .bind(user.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
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

fn room_from_row<R>(row: &R) -> Result<RoomRecord, StoreError>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let text = |column: &str| -> Result<String, StoreError> { Ok(row.try_get(column)?) };
    Ok(RoomRecord {
        channel_id: parse(&text("channel_id")?, "rooms")?,
        guild_id: parse(&text("guild_id")?, "rooms")?,
        owner_id: parse(&text("owner_id")?, "rooms")?,
        name: text("name")?,
        created_at_ms: row.try_get("created_at")?,
    })
}

fn parse<T>(text: &str, table: &'static str) -> Result<T, StoreError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|err| StoreError::Corrupt {
        table,
        reason: format!("{err}"),
    })
}
