//! The gateway session and the voice roster it is valid at, kept so a restart can RESUME.
//!
//! Both are written in one transaction: a roster that is newer or older than its sequence would
//! make Discord's replay either miss changes or repeat them.

use model::ids::GuildId;
use sqlx::Row;

use super::{Store, StoreError};
use crate::roster::VoiceMember;

/// A gateway session as saved: enough for twilight to RESUME it, what it is valid for, and the
/// roster as it stood at `sequence`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySessionRecord {
    /// The guild the roster follows (one shard, one guild).
    pub guild_id: GuildId,
    /// Discord's session id.
    pub session_id: String,
    /// The last dispatch sequence the roster reflects.
    pub sequence: u64,
    /// Where Discord asked the session to be resumed, if it said.
    pub resume_url: Option<String>,
    /// Hex SHA-256 of the bot token the session belongs to (never the token itself).
    pub token_hash: String,
    /// The intents it was identified with.
    pub intents: u64,
    /// When it was saved, unix milliseconds.
    pub saved_at_ms: i64,
    /// Everyone in voice at `sequence`.
    pub roster: Vec<VoiceMember>,
}

impl Store {
    /// Replaces the saved session and roster of `record.guild_id`, atomically.
    pub async fn save_gateway_session(&self, record: &GatewaySessionRecord) -> Result<(), StoreError> {
        const SESSION: &str = "INSERT INTO gateway_sessions \
             (guild_id, session_id, sequence, resume_url, token_hash, intents, saved_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (guild_id) DO UPDATE SET session_id = excluded.session_id, \
             sequence = excluded.sequence, resume_url = excluded.resume_url, \
             token_hash = excluded.token_hash, intents = excluded.intents, saved_at = excluded.saved_at";
        const CLEAR: &str = "DELETE FROM gateway_voice_states WHERE guild_id = $1";
        const MEMBER: &str = "INSERT INTO gateway_voice_states (guild_id, user_id, channel_id, username, avatar) \
             VALUES ($1, $2, $3, $4, $5)";
        let guild = record.guild_id.to_string();
        let sequence = i64::try_from(record.sequence).map_err(|_| corrupt("sequence out of range"))?;
        let intents = i64::try_from(record.intents).map_err(|_| corrupt("intents out of range"))?;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(SESSION)
                .bind(&guild)
                .bind(&record.session_id)
                .bind(sequence)
                .bind(&record.resume_url)
                .bind(&record.token_hash)
                .bind(intents)
                .bind(record.saved_at_ms)
                .execute(&mut *tx)
                .await?;
            sqlx::query(CLEAR).bind(&guild).execute(&mut *tx).await?;
            for member in &record.roster {
                sqlx::query(MEMBER)
                    .bind(&guild)
                    .bind(member.user_id.to_string())
                    .bind(member.channel_id.to_string())
                    .bind(&member.username)
                    .bind(&member.avatar)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records that the saved session of `guild` is still alive at `saved_at_ms` (a quiet guild
    /// sends no dispatches, so nothing else would be saved); false when no such session is saved.
    pub async fn touch_gateway_session(
        &self,
        guild: GuildId,
        session_id: &str,
        saved_at_ms: i64,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE gateway_sessions SET saved_at = $3 WHERE guild_id = $1 AND session_id = $2";
        let touched = on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(guild.to_string())
                .bind(session_id)
                .bind(saved_at_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(touched == 1)
    }

    /// The saved session and roster of `guild`, if any.
    pub async fn gateway_session(&self, guild: GuildId) -> Result<Option<GatewaySessionRecord>, StoreError> {
        const SESSION: &str = "SELECT session_id, sequence, resume_url, token_hash, intents, saved_at \
             FROM gateway_sessions WHERE guild_id = $1";
        const MEMBERS: &str = "SELECT user_id, channel_id, username, avatar FROM gateway_voice_states \
             WHERE guild_id = $1 ORDER BY user_id";
        let key = guild.to_string();
        on_pool!(self, pool => {
            // One transaction, so a save in between cannot pair a session with another roster.
            let mut tx = pool.begin().await?;
            let Some(row) = sqlx::query(SESSION).bind(&key).fetch_optional(&mut *tx).await? else {
                return Ok(None);
            };
            let sequence: i64 = row.try_get("sequence")?;
            let intents: i64 = row.try_get("intents")?;
            let mut record = GatewaySessionRecord {
                guild_id: guild,
                session_id: row.try_get("session_id")?,
                sequence: u64::try_from(sequence).map_err(|_| corrupt("negative sequence"))?,
                resume_url: row.try_get("resume_url")?,
                token_hash: row.try_get("token_hash")?,
                intents: u64::try_from(intents).map_err(|_| corrupt("negative intents"))?,
                saved_at_ms: row.try_get("saved_at")?,
                roster: Vec::new(),
            };
            for row in sqlx::query(MEMBERS).bind(&key).fetch_all(&mut *tx).await? {
                let user_id: String = row.try_get("user_id")?;
                let channel_id: String = row.try_get("channel_id")?;
                record.roster.push(VoiceMember {
                    user_id: user_id.parse().map_err(|err| corrupt(&format!("user_id {err}")))?,
                    channel_id: channel_id.parse().map_err(|err| corrupt(&format!("channel_id {err}")))?,
                    username: row.try_get("username")?,
                    avatar: row.try_get("avatar")?,
                });
            }
            tx.commit().await?;
            Ok(Some(record))
        })
    }
}

fn corrupt(reason: &str) -> StoreError {
    StoreError::Corrupt {
        table: "gateway_sessions",
        reason: reason.to_owned(),
    }
}
