//! Game rooms: each one a private Discord voice channel the app created, with up to four players
//! admitted by invite.
//!
//! [`Rooms`] is the one place that decides who may do what to a room. The database remembers rooms,
//! players and invites; Discord holds the channel and its permission overwrites; the live roster
//! says who is in voice right now. Every operation takes the acting user from the caller (the
//! session, in the server functions), never from the request.

mod invite;
pub mod janitor;
pub mod reconciler;
pub mod seats;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use model::{
    error::{AppError, InviteError},
    event::{AppEvent, SeatFreed, SeatFreedReason, SeatTaken},
    ids::{ChannelId, GuildId, UserId},
    room::{
        self, Invite, InvitePreview, JoinedRoom, MAX_PLAYERS, NewRoom, Player, RoomDetails, RoomStatus,
        RoomSummary, VoiceConnect,
    },
};

use crate::{
    bus::EventBus,
    discord::rest::{DiscordError, DiscordRest},
    live::Live,
    store::{Admission, CloseReason, IntentRecord, InviteRecord, RoomRecord, Store, StoreError, unix_millis},
};

pub use invite::{InviteToken, hash_token};

/// How long an invite link works.
pub const INVITE_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How many rooms one person may own at a time; more is a sign of a script, not of a game night.
pub const MAX_OWNED_ROOMS: usize = 5;

fn invite_ttl_ms() -> i64 {
    i64::try_from(INVITE_TTL.as_millis()).unwrap_or(i64::MAX)
}

/// Why a room operation failed. Store and Discord failures keep their source for the log; the
/// browser only ever sees the [`AppError`] they map to.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// The request is wrong; the text says how.
    #[error("{0}")]
    InvalidInput(String),
    /// No such room (or the user may not know of it).
    #[error("no such room")]
    NotFound,
    /// Only the owner (or a player) may do this.
    #[error("not allowed")]
    Forbidden,
    /// The room's state does not allow it.
    #[error("{0}")]
    Conflict(String),
    /// The invite cannot be used.
    #[error("invite refused: {0:?}")]
    Invite(InviteError),
    /// Discord failed or refused.
    #[error(transparent)]
    Discord(#[from] DiscordError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RoomError> for AppError {
    fn from(err: RoomError) -> Self {
        match err {
            RoomError::InvalidInput(message) => Self::InvalidInput(message),
            RoomError::NotFound => Self::NotFound,
            RoomError::Forbidden => Self::Forbidden,
            RoomError::Conflict(message) => Self::Conflict(message),
            RoomError::Invite(reason) => Self::Invite(reason),
            RoomError::Discord(err) => {
                tracing::warn!(error = %err, "a Discord call for a room failed");
                Self::Upstream
            }
            RoomError::Store(err) => {
                tracing::error!(error = ?err, "the store failed during a room operation");
                Self::Internal
            }
        }
    }
}

/// Rooms, cheap to clone.
#[derive(Debug, Clone)]
pub struct Rooms {
    store: Store,
    discord: DiscordRest,
    live: Live,
    /// Where seat changes are published (after the database has them), so every page of the room
    /// updates live.
    bus: EventBus,
    guild_id: GuildId,
    /// Held shared by every change of a seat together with its channel permission (a join from
    /// reserving the seat to allowing the player in; a leave or removal from forbidding to
    /// freeing the seat), and exclusively by the reconciler while it repairs a seat's permission,
    /// so that it never sees a seat half-changed and re-opens a channel to someone on their way
    /// out. Owned by `Rooms` (all clones share it); one process runs the reconciler.
    seats: Arc<tokio::sync::RwLock<()>>,
}

impl Rooms {
    /// Rooms in `guild_id`, kept in `store`, made on Discord through `discord`, with `live` as the
    /// voice roster for seat checks; seat changes go out on `bus`.
    pub fn new(store: Store, discord: DiscordRest, live: Live, bus: EventBus, guild_id: GuildId) -> Self {
        Self {
            store,
            discord,
            live,
            bus,
            guild_id,
            seats: Arc::default(),
        }
    }

    /// Tells the room's pages that `user` sat down (read back from the store, so the event says
    /// what a reload would show). The seat is taken either way: a failed read costs the pages the
    /// live update (they get it with their next snapshot), not the player their seat.
    async fn publish_seat_taken(&self, channel: ChannelId, user: UserId) {
        let seats = match self.store.seats(channel).await {
            Ok(seats) => seats,
            Err(err) => {
                tracing::warn!(error = ?err, %channel, "cannot announce a new seat; pages see it on their next snapshot");
                return;
            }
        };
        if let Some(seat) = seats.into_iter().find(|seat| seat.user_id == user) {
            self.bus.publish(AppEvent::SeatTaken(SeatTaken {
                channel_id: channel,
                user_id: user,
                username: seat.username,
                avatar: seat.avatar,
                owner: seat.owner,
            }));
        }
    }

    /// Creates a room owned by `owner`, whose players start with `starting_life`: its private voice
    /// channel, then its record and invite.
    ///
    /// The creation is written down before Discord is asked (an intent, which also holds the
    /// owner's place under [`MAX_OWNED_ROOMS`] however many creates race), and the channel is
    /// recorded as the app's the moment Discord answers. A failure undoes only what this call did:
    /// its own channel and its own intent, never a row that was already there. Whatever it cannot
    /// undo (the process dies, Discord or the database fails during the cleanup, or Discord's answer
    /// never came) the reconciler finishes or undoes after its grace period.
    pub async fn create(&self, owner: UserId, name: &str, starting_life: i32) -> Result<NewRoom, RoomError> {
        let name = room::validate_room_name(name).map_err(|err| RoomError::InvalidInput(err.to_string()))?;
        let starting_life =
            model::table::validate_starting_life(starting_life).map_err(RoomError::InvalidInput)?;
        self.reachable()?;
        let intent = IntentRecord {
            id: uuid::Uuid::new_v4().to_string(),
            guild_id: self.guild_id,
            owner_id: owner,
            name: name.clone(),
            channel_id: None,
            created_at_ms: unix_millis(),
        };
        if !self.store.begin_room_intent(&intent, MAX_OWNED_ROOMS).await? {
            return Err(RoomError::Conflict(format!(
                "you already run {MAX_OWNED_ROOMS} rooms; close one first"
            )));
        }
        let channel_id = match self.discord.create_room_channel(&name, owner).await {
            Ok(channel_id) => channel_id,
            Err(err) => {
                // No answer (a timeout, a 5xx) may still mean the channel was made: the intent
                // stays for the reconciler, which looks for it. A clear refusal made nothing.
                if !matches!(err, DiscordError::Failed(_)) {
                    self.drop_intent(&intent.id).await;
                }
                return Err(err.into());
            }
        };
        let recorded = self
            .store
            .record_intent_channel(&intent.id, self.guild_id, channel_id, unix_millis())
            .await;
        if let Err(err) = recorded {
            self.undo_create(&intent.id, channel_id).await;
            return Err(err.into());
        }
        let record = RoomRecord {
            channel_id,
            guild_id: self.guild_id,
            owner_id: owner,
            name,
            created_at_ms: unix_millis(),
            starting_life,
        };
        let token = InviteToken::generate();
        let expires_at_ms = record.created_at_ms.saturating_add(invite_ttl_ms());
        match self
            .store
            .complete_room(&intent.id, &record, &token.hash(), expires_at_ms)
            .await
        {
            Ok(true) => Ok(NewRoom {
                channel_id,
                invite: Invite {
                    token: token.into_string(),
                    expires_at_ms,
                },
            }),
            Ok(false) => {
                // Outlived the reconciler's grace: it has given this creation up (and deleted the
                // channel, which deleting again confirms).
                self.discard_channel(channel_id).await;
                Err(RoomError::Discord(DiscordError::Failed(
                    "the room took too long to create".to_owned(),
                )))
            }
            Err(err) => {
                self.undo_create(&intent.id, channel_id).await;
                Err(err.into())
            }
        }
    }

    /// Undoes this creation's own work: its channel, then its intent (kept if the channel could not
    /// be deleted, so that the reconciler finishes the job).
    async fn undo_create(&self, intent: &str, channel_id: ChannelId) {
        if self.discard_channel(channel_id).await {
            self.drop_intent(intent).await;
        }
    }

    async fn drop_intent(&self, intent: &str) {
        if let Err(err) = self.store.drop_intent(intent).await {
            tracing::warn!(error = ?err, "cannot drop the intent of a failed room creation; the reconciler will");
        }
    }

    /// Deletes the channel of a room whose creation failed; returns whether it is gone.
    async fn discard_channel(&self, channel_id: ChannelId) -> bool {
        match self.discord.delete_channel(channel_id).await {
            Ok(()) => true,
            Err(cleanup) => {
                tracing::error!(error = %cleanup, %channel_id, "cannot remove the channel of a room that failed to save; the reconciler will");
                false
            }
        }
    }

    /// The rooms `user` plays in, newest first, each with when it closes for idleness if it was
    /// warned (nobody in its voice channel or on its page is there to see the warning, but its
    /// players see their list).
    pub async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomSummary>, RoomError> {
        let closing: BTreeMap<ChannelId, i64> = self
            .store
            .warned_rooms_of(user)
            .await?
            .into_iter()
            .filter_map(|(channel, idleness)| Some((channel, janitor::deletion_due(idleness)?)))
            .collect();
        Ok(self
            .store
            .rooms_of(user)
            .await?
            .into_iter()
            .map(|room| RoomSummary {
                closes_at_ms: closing.get(&room.channel_id).copied(),
                channel_id: room.channel_id,
                name: room.name,
                is_owner: room.owner_id == user,
            })
            .collect())
    }

    /// The room's page for one of its players.
    pub async fn details(&self, viewer: UserId, channel: ChannelId) -> Result<RoomDetails, RoomError> {
        let room = self.room(channel).await?;
        let players = self.store.players(channel).await?;
        if !players.iter().any(|player| player.user_id == viewer) {
            return Err(RoomError::Forbidden);
        }
        let invite = self.store.invite_of(channel).await?;
        let removed_players = if room.owner_id == viewer {
            self.removed_players(channel, &players).await?
        } else {
            Vec::new()
        };
        Ok(RoomDetails {
            guild_id: room.guild_id,
            channel_id: room.channel_id,
            name: room.name,
            owner_id: room.owner_id,
            is_owner: room.owner_id == viewer,
            players: players
                .into_iter()
                .map(|player| Player {
                    user_id: player.user_id,
                    username: player.username,
                })
                .collect(),
            removed_players,
            invite_expires_at_ms: invite.map(|invite| invite.expires_at_ms),
        })
    }

    /// The room's removed players who are not seated. (A removal whose Discord half failed leaves
    /// the player seated and removed at once until the owner retries; they show as seated.)
    async fn removed_players(
        &self,
        channel: ChannelId,
        seated: &[crate::store::PlayerRecord],
    ) -> Result<Vec<Player>, RoomError> {
        Ok(self
            .store
            .removed_players(channel)
            .await?
            .into_iter()
            .filter(|removed| !seated.iter().any(|player| player.user_id == removed.user_id))
            .map(|removed| Player {
                user_id: removed.user_id,
                username: removed.username,
            })
            .collect())
    }

    /// Whether `user` may watch the room's live roster: only its players may.
    pub async fn may_watch(&self, user: UserId, channel: ChannelId) -> Result<bool, RoomError> {
        Ok(self.store.is_player(channel, user).await?)
    }

    /// Whether a game room is open on `channel`, was closed, or never was (what anyone opening its
    /// page may learn: room ids are Discord's channel ids, not secrets).
    pub async fn status(&self, channel: ChannelId) -> Result<RoomStatus, RoomError> {
        if self.store.room(channel).await?.is_some() {
            return Ok(RoomStatus::Open);
        }
        Ok(if self.store.closed_room(channel).await?.is_some() {
            RoomStatus::Ended
        } else {
            RoomStatus::Unknown
        })
    }

    /// The live invite `token` and its open room, or why the link does not work.
    async fn invited_to(&self, token: &str) -> Result<(InviteRecord, RoomRecord), RoomError> {
        let token = InviteToken::parse(token).ok_or(RoomError::Invite(InviteError::TokenInvalid))?;
        let invite = self
            .store
            .invite_by_hash(&token.hash())
            .await?
            .ok_or(RoomError::Invite(InviteError::TokenInvalid))?;
        if invite.expires_at_ms <= unix_millis() {
            return Err(RoomError::Invite(InviteError::TokenExpired));
        }
        let room = self
            .store
            .room(invite.channel_id)
            .await?
            .ok_or(RoomError::Invite(InviteError::RoomNotFound))?;
        Ok((invite, room))
    }

    /// What the invite `token` invites its holder to (see [`InvitePreview`] for what that shows),
    /// for anyone holding the link, signed in or not; or why the link does not work.
    pub async fn preview(&self, token: &str) -> Result<InvitePreview, RoomError> {
        let (invite, room) = self.invited_to(token).await?;
        let players = self.store.players(invite.channel_id).await?;
        let host = players
            .iter()
            .find(|player| player.user_id == room.owner_id)
            .map_or_else(|| "the host".to_owned(), |player| player.username.clone());
        Ok(InvitePreview {
            name: room.name,
            host,
            seats_taken: u32::try_from(players.len()).unwrap_or(u32::MAX),
            seats: u32::try_from(MAX_PLAYERS).unwrap_or(u32::MAX),
            starting_life: room.starting_life,
            expires_at_ms: invite.expires_at_ms,
        })
    }

    /// Lets `user` into the room the invite `token` is for: checks the invite and the seats, adds
    /// the user to the guild if needed (with their `access_token`), and allows them into the
    /// channel. Joining a room one already plays in is fine.
    pub async fn join(&self, user: UserId, token: &str, access_token: &str) -> Result<JoinedRoom, RoomError> {
        let (invite, room) = self.invited_to(token).await?;
        let channel = invite.channel_id;
        let joined = JoinedRoom {
            channel_id: channel,
            name: room.name,
        };
        // One read gives both answers: is the user in already, and how many seats are taken.
        let players = self.store.players(channel).await?;
        if players.iter().any(|player| player.user_id == user) {
            return Ok(joined);
        }
        // Asked before the seats, so that a removed player hears why even when the room is full.
        if self.store.is_removed(channel, user).await? {
            return Err(RoomError::Invite(InviteError::Removed));
        }
        // Seats count admitted players and anyone else in the channel right now (a moderator, say),
        // which only a roster that follows Discord can tell: an empty one is not an empty channel.
        if !self.live.roster_status().is_ready() {
            return Err(RoomError::Invite(InviteError::DiscordUnavailable));
        }
        self.reachable()?;
        let occupants: BTreeSet<UserId> = players
            .iter()
            .map(|player| player.user_id)
            .chain(self.live.members_of(channel).iter().map(|member| member.user_id))
            .collect();
        if occupants.len() >= MAX_PLAYERS {
            return Err(RoomError::Invite(InviteError::RoomFull));
        }
        let _seat_change = self.seats.read().await;
        match self.store.admit_player(channel, user, MAX_PLAYERS).await? {
            Admission::Admitted => {}
            // A second request of the same user's won the race: they are in.
            Admission::AlreadyPlayer => return Ok(joined),
            Admission::Full => return Err(RoomError::Invite(InviteError::RoomFull)),
            Admission::NoRoom => return Err(RoomError::Invite(InviteError::RoomNotFound)),
            Admission::Removed => return Err(RoomError::Invite(InviteError::Removed)),
        }
        let admitted = async {
            match self.discord.add_to_guild(user, access_token).await {
                Err(DiscordError::Denied(reason)) => {
                    tracing::info!(%user, %reason, "Discord refused to add a user to the guild");
                    return Err(RoomError::Invite(InviteError::GuildJoinDenied));
                }
                other => other?,
            }
            self.discord.allow_player(channel, user).await?;
            Ok(())
        }
        .await;
        if let Err(err) = admitted {
            // The seat was reserved first so that two friends cannot race for it; give it back.
            self.store.remove_player(channel, user).await?;
            if matches!(err, RoomError::Discord(DiscordError::UnknownChannel)) {
                // Deleted in Discord and the gateway's word has not arrived (or was lost): the
                // game is over, which is what the person with the invite should hear.
                self.channel_gone(channel).await?;
                return Err(RoomError::Invite(InviteError::RoomNotFound));
            }
            return Err(err);
        }
        // Announced only once the seat is certain (a failed Discord half gives it back above).
        self.publish_seat_taken(channel, user).await;
        Ok(joined)
    }

    /// Moves `user`, a player, into the room's voice channel. A user who is not in voice anywhere
    /// cannot be moved (Discord's 40032): that is an answer, not an error.
    pub async fn connect(&self, user: UserId, channel: ChannelId) -> Result<VoiceConnect, RoomError> {
        self.reachable()?;
        self.room(channel).await?;
        if !self.store.is_player(channel, user).await? {
            return Err(RoomError::Forbidden);
        }
        if self.in_channel(user, channel) {
            return Ok(VoiceConnect::Moved);
        }
        match self.discord.move_to(user, channel).await {
            Ok(()) => Ok(VoiceConnect::Moved),
            Err(DiscordError::NotInVoice) => Ok(VoiceConnect::NotInVoice),
            Err(err) => Err(err.into()),
        }
    }

    /// A new invite for the owner's room; the previous link stops working.
    pub async fn refresh_invite(&self, owner: UserId, channel: ChannelId) -> Result<Invite, RoomError> {
        self.owned(owner, channel).await?;
        self.new_invite(channel).await
    }

    /// Ends the owner's invite link; nobody can join until it is refreshed.
    pub async fn revoke_invite(&self, owner: UserId, channel: ChannelId) -> Result<(), RoomError> {
        self.owned(owner, channel).await?;
        self.store.delete_invite(channel).await?;
        Ok(())
    }

    /// Closes the owner's room: its channel is deleted, it is kept only as a record of a game that
    /// ended, and its viewers get `room.deleted` and their streams end at once (not only when the
    /// gateway reports it).
    pub async fn close(&self, owner: UserId, channel: ChannelId) -> Result<(), RoomError> {
        self.reachable()?;
        self.owned(owner, channel).await?;
        self.end(channel, CloseReason::Owner, unix_millis()).await
    }

    /// Closes the room for `reason` and deletes its channel. The close is recorded first, so the
    /// gateway's echo of the deletion finds the room already closed (and cannot record another
    /// reason); when Discord refuses, the close is undone and the room stays as it was.
    async fn end(&self, channel: ChannelId, reason: CloseReason, now_ms: i64) -> Result<(), RoomError> {
        let closed_here = self.store.close_room(channel, reason, now_ms).await?;
        if let Err(err) = self.discord.delete_channel(channel).await {
            // Only this close is undone; a room someone else closed meanwhile stays closed.
            if closed_here && let Err(undo) = self.store.reopen_room(channel, reason, now_ms).await {
                tracing::error!(error = ?undo, %channel, "cannot reopen a room whose channel could not be deleted; its channel stays without a room");
            }
            return Err(err.into());
        }
        self.live.close_room(self.guild_id, channel);
        Ok(())
    }

    /// The room's channel no longer exists in Discord (deleted outside the app): the room closes,
    /// and its viewers are told. Returns whether it was open; a channel that was no room, or a room
    /// already closed (the echo of the app's own deletion), changes nothing.
    pub async fn channel_gone(&self, channel: ChannelId) -> Result<bool, RoomError> {
        let closed = self
            .store
            .close_room(channel, CloseReason::ChannelGone, unix_millis())
            .await?;
        if closed {
            tracing::info!(%channel, "a room's channel was deleted in Discord; the room is closed");
            self.live.close_room(self.guild_id, channel);
        }
        Ok(closed)
    }

    /// The owner takes `player`'s seat away: no more access to the channel, and out of its voice.
    /// The removal is recorded, so the invite they have no longer lets them back in
    /// ([`Self::readmit_player`] lifts it).
    pub async fn remove_player(
        &self,
        owner: UserId,
        channel: ChannelId,
        player: UserId,
    ) -> Result<(), RoomError> {
        self.owned(owner, channel).await?;
        if player == owner {
            return Err(RoomError::InvalidInput(
                "the owner cannot be removed; close the room instead".to_owned(),
            ));
        }
        if !self.store.is_player(channel, player).await? {
            return Err(RoomError::NotFound);
        }
        // Recorded before the seat goes, so no rejoin can slip in between (see `Store::admit_player`).
        self.store.record_removal(channel, player, owner).await?;
        self.unseat(channel, player, SeatFreedReason::Removed).await
    }

    /// The owner lets a removed `player` back in: the invite works for them again. It does not seat
    /// them; they join with the invite like anyone else. 404 when they were not removed.
    pub async fn readmit_player(
        &self,
        owner: UserId,
        channel: ChannelId,
        player: UserId,
    ) -> Result<(), RoomError> {
        self.owned(owner, channel).await?;
        if !self.store.lift_removal(channel, player).await? {
            return Err(RoomError::NotFound);
        }
        Ok(())
    }

    /// A player leaves the room. The owner closes it instead.
    pub async fn leave(&self, user: UserId, channel: ChannelId) -> Result<(), RoomError> {
        let room = self.room(channel).await?;
        if room.owner_id == user {
            return Err(RoomError::Conflict(
                "the owner cannot leave their own room; close it instead".to_owned(),
            ));
        }
        if !self.store.is_player(channel, user).await? {
            return Err(RoomError::Forbidden);
        }
        self.unseat(channel, user, SeatFreedReason::Left).await
    }

    async fn unseat(
        &self,
        channel: ChannelId,
        user: UserId,
        reason: SeatFreedReason,
    ) -> Result<(), RoomError> {
        self.reachable()?;
        let _seat_change = self.seats.read().await;
        self.discord.forbid_player(channel, user).await?;
        if self.in_channel(user, channel) {
            self.discord.disconnect(user).await?;
        } else if !self.live.roster_status().is_ready() {
            // The roster cannot say where they are: ask Discord to drop them from voice only if
            // they are in this channel.
            self.disconnect_if_in(channel, user).await?;
        }
        self.store.remove_player(channel, user).await?;
        self.bus.publish(AppEvent::SeatFreed(SeatFreed {
            channel_id: channel,
            user_id: user,
            reason,
        }));
        self.live
            .watchers()
            .revoke(crate::live::Revocation::Player { room: channel, user })
            .await;
        Ok(())
    }

    /// Disconnects `user` from voice if Discord says they are in `channel`.
    async fn disconnect_if_in(&self, channel: ChannelId, user: UserId) -> Result<(), RoomError> {
        if self.discord.voice_channel_of(user).await? == Some(channel) {
            self.discord.disconnect(user).await?;
        }
        Ok(())
    }

    fn in_channel(&self, user: UserId, channel: ChannelId) -> bool {
        self.live
            .members_of(channel)
            .iter()
            .any(|member| member.user_id == user)
    }

    /// A web instance whose link to the gateway is down cannot reach Discord at all: say so
    /// (503, retry) before anything is written, instead of failing halfway.
    fn reachable(&self) -> Result<(), RoomError> {
        if self.discord.available() {
            Ok(())
        } else {
            Err(RoomError::Invite(InviteError::DiscordUnavailable))
        }
    }

    async fn room(&self, channel: ChannelId) -> Result<RoomRecord, RoomError> {
        self.store.room(channel).await?.ok_or(RoomError::NotFound)
    }

    /// The room, if `user` owns it: 404 when there is no such room, 403 when it is someone else's.
    async fn owned(&self, user: UserId, channel: ChannelId) -> Result<RoomRecord, RoomError> {
        let room = self.room(channel).await?;
        if room.owner_id != user {
            return Err(RoomError::Forbidden);
        }
        Ok(room)
    }

    async fn new_invite(&self, channel: ChannelId) -> Result<Invite, RoomError> {
        let token = InviteToken::generate();
        let expires_at_ms = unix_millis().saturating_add(invite_ttl_ms());
        self.store
            .set_invite(channel, &token.hash(), expires_at_ms)
            .await?;
        Ok(Invite {
            token: token.into_string(),
            expires_at_ms,
        })
    }
}
