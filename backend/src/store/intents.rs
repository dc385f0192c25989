//! Room creations in flight and the channels the app made: what the reconciler needs to finish or
//! undo a creation that stopped half-way (see the `room_intents` migration for why).

use model::ids::{ChannelId, GuildId, UserId};
use sqlx::Row;

use super::{Store, StoreError, rooms::parse};

/// A room creation that has started and not finished: written before Discord is asked for the
/// channel, given the channel as soon as Discord answers, deleted when the room is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentRecord {
    /// Random, chosen by the creating request.
    pub id: String,
    /// The guild the channel is made in.
    pub guild_id: GuildId,
    /// Who is creating the room.
    pub owner_id: UserId,
    /// The room's (validated) name.
    pub name: String,
    /// The channel, once Discord has made it.
    pub channel_id: Option<ChannelId>,
    /// When the creation started, unix milliseconds.
    pub created_at_ms: i64,
}

/// A channel the app made, as recorded the moment Discord answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatedChannel {
    /// The channel.
    pub channel_id: ChannelId,
    /// When it was made, unix milliseconds.
    pub created_at_ms: i64,
}

impl Store {
    /// Starts a room creation, unless its owner already has `limit` open rooms and creations in
    /// flight together; returns whether it started. Concurrent starts of one owner are serialised
    /// by first writing the owner's `users` row (a row lock on PostgreSQL, the write lock on
    /// SQLite) so that each counts the others': the limit holds however many arrive at once.
    pub async fn begin_room_intent(&self, intent: &IntentRecord, limit: usize) -> Result<bool, StoreError> {
        const LOCK: &str = "UPDATE users SET id = id WHERE id = $1";
        const INSERT: &str = "INSERT INTO room_intents (id, guild_id, owner_id, name, channel_id, created_at) \
             SELECT $2, $3, $1, $4, NULL, $5 WHERE \
             (SELECT COUNT(*) FROM rooms WHERE owner_id = $1 AND closed_at IS NULL) + \
             (SELECT COUNT(*) FROM room_intents WHERE owner_id = $1) < $6";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let owner = intent.owner_id.to_string();
        let started = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(LOCK).bind(&owner).execute(&mut *tx).await?;
            let inserted = sqlx::query(INSERT)
                .bind(&owner)
                .bind(&intent.id)
                .bind(intent.guild_id.to_string())
                .bind(&intent.name)
                .bind(intent.created_at_ms)
                .bind(limit)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            inserted > 0
        });
        Ok(started)
    }

    /// Records that Discord made `channel` for the creation `intent` at `at_ms`: on the intent, and
    /// for good among the channels the app created. Returns whether the intent was still there
    /// (the channel is recorded as the app's either way).
    pub async fn record_intent_channel(
        &self,
        intent: &str,
        guild: GuildId,
        channel: ChannelId,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        const CREATED: &str = "INSERT INTO created_channels (channel_id, guild_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (channel_id) DO NOTHING";
        const INTENT: &str = "UPDATE room_intents SET channel_id = $2 WHERE id = $1";
        let found = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(CREATED)
                .bind(channel.to_string())
                .bind(guild.to_string())
                .bind(at_ms)
                .execute(&mut *tx)
                .await?;
            let found = sqlx::query(INTENT)
                .bind(intent)
                .bind(channel.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            found > 0
        });
        Ok(found)
    }

    /// Deletes the creation `intent` (undone, or given up). Returns whether it was there.
    pub async fn drop_intent(&self, intent: &str) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => {
            sqlx::query("DELETE FROM room_intents WHERE id = $1")
                .bind(intent)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Every room creation in flight (or left unfinished), oldest first.
    pub async fn intents(&self) -> Result<Vec<IntentRecord>, StoreError> {
        const SQL: &str = "SELECT id, guild_id, owner_id, name, channel_id, created_at FROM room_intents \
             ORDER BY created_at, id";
        on_pool!(self, pool => {
            sqlx::query(SQL)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    let text = |column: &str| -> Result<String, StoreError> { Ok(row.try_get(column)?) };
                    let channel: Option<String> = row.try_get("channel_id")?;
                    Ok(IntentRecord {
                        id: text("id")?,
                        guild_id: parse(&text("guild_id")?, "room_intents")?,
                        owner_id: parse(&text("owner_id")?, "room_intents")?,
                        name: text("name")?,
                        channel_id: channel.map(|id| parse(&id, "room_intents")).transpose()?,
                        created_at_ms: row.try_get("created_at")?,
                    })
                })
                .collect()
        })
    }

    /// The channels the app created in `guild`, with or without a room now.
    pub async fn created_channels(&self, guild: GuildId) -> Result<Vec<CreatedChannel>, StoreError> {
        const SQL: &str = "SELECT channel_id, created_at FROM created_channels WHERE guild_id = $1 ORDER BY created_at, channel_id";
        on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(guild.to_string())
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    let id: String = row.try_get("channel_id")?;
                    Ok(CreatedChannel {
                        channel_id: parse(&id, "created_channels")?,
                        created_at_ms: row.try_get("created_at")?,
                    })
                })
                .collect()
        })
    }
}
