//! The pod's shared life totals, owned by the server: [`Table`] decides who may change what, the
//! store keeps the numbers and their order (see `store/table.rs`), and every change goes out on the
//! bus as an event with who made it, so every page of the room (on every instance) follows.

use model::{
    event::AppEvent,
    ids::{ChannelId, UserId},
    table::{
        Counter, DeltaError, LifeChanged, MAX_STEP, PlayerTotals, TableState, UNDO_WINDOW_MS,
        validate_commander_name, validate_starting_life,
    },
};

use crate::{
    bus::EventBus,
    rooms::RoomError,
    store::{NewChange, Store, TotalsChange, unix_millis},
};

/// The life totals of every room, cheap to clone.
#[derive(Debug, Clone)]
pub struct Table {
    store: Store,
    /// Where changes are published, after the database has them.
    bus: EventBus,
}

impl Table {
    /// Totals kept in `store`; changes go out on `bus`.
    pub const fn new(store: Store, bus: EventBus) -> Self {
        Self { store, bus }
    }

    /// `author` changes `target`'s `counter` by `delta`, now. 400 for a broken rule or a target
    /// (or commander) without a seat, 403 when the author holds no seat (never had one, got up,
    /// or was removed), 404 when the room is not open.
    pub async fn change(
        &self,
        author: UserId,
        channel: ChannelId,
        target: UserId,
        counter: Counter,
        delta: i32,
    ) -> Result<LifeChanged, RoomError> {
        // Checked before the database is asked, so a bad request costs nothing.
        if delta == 0 || !(-MAX_STEP..=MAX_STEP).contains(&delta) {
            return Err(RoomError::InvalidInput(DeltaError::Step.to_string()));
        }
        self.apply(NewChange {
            channel,
            author,
            target,
            counter,
            delta,
            undo_of: None,
            at_ms: unix_millis(),
        })
        .await
    }

    /// `author` undoes their change `seq` with the opposite change, attributed as an undo, now.
    pub async fn undo(&self, author: UserId, channel: ChannelId, seq: i64) -> Result<LifeChanged, RoomError> {
        self.undo_at(author, channel, seq, unix_millis()).await
    }

    /// [`Self::undo`] at `now_ms` on the server's clock: allowed for the author's own last change
    /// (not itself an undo) made at most [`UNDO_WINDOW_MS`] before. 403 for someone else's
    /// change; 409 when it is not their last, is too old, or was undone already.
    pub async fn undo_at(
        &self,
        author: UserId,
        channel: ChannelId,
        seq: i64,
        now_ms: i64,
    ) -> Result<LifeChanged, RoomError> {
        self.authorise(author, channel, |_| true).await?;
        let last = self.store.last_change_by(channel, author).await?;
        let Some(last) = last.filter(|last| last.seq == seq) else {
            return Err(match self.store.life_change(channel, seq).await? {
                Some(change) if change.author_id != author => RoomError::Forbidden,
                Some(_) => RoomError::Conflict("only your last change can be undone".to_owned()),
                None => RoomError::Conflict("there is no such change in this game".to_owned()),
            });
        };
        if last.undo_of.is_some() {
            return Err(RoomError::Conflict("that change was already undone".to_owned()));
        }
        if now_ms.saturating_sub(last.at_ms) > UNDO_WINDOW_MS {
            return Err(RoomError::Conflict(
                "a change can only be undone within 10 seconds".to_owned(),
            ));
        }
        self.apply(NewChange {
            channel,
            author,
            target: last.target_id,
            counter: last.counter,
            delta: -last.delta,
            undo_of: Some(last.seq),
            at_ms: now_ms,
        })
        .await
        .map_err(|err| match err {
            // The numbers moved on since (someone else's change): undoing would break a rule.
            RoomError::InvalidInput(reason) => RoomError::Conflict(format!("cannot undo: {reason}")),
            other => other,
        })
    }

    async fn apply(&self, change: NewChange) -> Result<LifeChanged, RoomError> {
        match self.store.change_totals(&change).await? {
            TotalsChange::Applied(changed) => {
                self.bus.publish(AppEvent::LifeChanged(changed.clone()));
                Ok(changed)
            }
            TotalsChange::NoRoom => Err(RoomError::NotFound),
            TotalsChange::NotPlayer => Err(RoomError::Forbidden),
            TotalsChange::UnknownSeat => Err(RoomError::InvalidInput(
                "nobody sits in that seat in this room".to_owned(),
            )),
            TotalsChange::UnknownCommander => Err(RoomError::InvalidInput(
                "that player has no partner commander".to_owned(),
            )),
            TotalsChange::Refused(rule) => Err(RoomError::InvalidInput(rule.to_string())),
            TotalsChange::AlreadyUndone => {
                Err(RoomError::Conflict("that change was already undone".to_owned()))
            }
        }
    }

    /// `author` names `player`'s commanders (`partner` empty for one commander; both empty for
    /// none). A player names their own; the owner may name anyone's (a table's host often does
    /// it for everyone).
    pub async fn name_commanders(
        &self,
        author: UserId,
        channel: ChannelId,
        player: UserId,
        first: &str,
        partner: &str,
    ) -> Result<PlayerTotals, RoomError> {
        let first = validate_commander_name(first).map_err(RoomError::InvalidInput)?;
        let partner = validate_commander_name(partner).map_err(RoomError::InvalidInput)?;
        if first.is_none() && partner.is_some() {
            return Err(RoomError::InvalidInput(
                "name the first commander before the partner".to_owned(),
            ));
        }
        self.authorise(author, channel, |owner| author == player || author == owner)
            .await?;
        let names: Vec<String> = first.into_iter().chain(partner).collect();
        let totals = self
            .store
            .name_commanders(channel, player, &names)
            .await?
            .ok_or_else(|| RoomError::InvalidInput("nobody sits in that seat in this room".to_owned()))?;
        self.bus
            .publish(AppEvent::CommandersNamed(model::table::CommandersNamed {
                channel_id: channel,
                author_id: author,
                totals: totals.clone(),
            }));
        Ok(totals)
    }

    /// The owner starts a new game with `starting_life` (see [`Store::reset_table`]).
    pub async fn reset(
        &self,
        owner: UserId,
        channel: ChannelId,
        starting_life: i32,
    ) -> Result<TableState, RoomError> {
        let starting_life = validate_starting_life(starting_life).map_err(RoomError::InvalidInput)?;
        self.authorise(owner, channel, |room_owner| owner == room_owner)
            .await?;
        if !self.store.reset_table(channel, starting_life).await? {
            return Err(RoomError::NotFound);
        }
        let state = self.store.table(channel).await?.ok_or(RoomError::NotFound)?;
        self.bus.publish(AppEvent::TableReset(state.clone()));
        Ok(state)
    }

    /// The room's table, or `None` when no open room is on the channel.
    pub async fn state(&self, channel: ChannelId) -> Result<Option<TableState>, RoomError> {
        Ok(self.store.table(channel).await?)
    }

    /// 404 unless the room is open; 403 unless `user` is seated in it and `allowed` says yes for
    /// the room's owner.
    async fn authorise(
        &self,
        user: UserId,
        channel: ChannelId,
        allowed: impl FnOnce(UserId) -> bool,
    ) -> Result<(), RoomError> {
        let room = self.store.room(channel).await?.ok_or(RoomError::NotFound)?;
        if !self.store.is_player(channel, user).await? || !allowed(room.owner_id) {
            return Err(RoomError::Forbidden);
        }
        Ok(())
    }
}
