//! The pod's shared life totals: change a number, undo one's own last change, name commanders, and
//! (the owner) start a new game.
//!
//! Every function takes the acting user from the session (401 without one). Changes charge a
//! budget of their own, sized for tapping a counter (a burst of [`backend::rate_limit::TAP_BURST`]),
//! not the room actions' one: a player taking 20 damage taps twenty times. The answer is the same
//! message every page of the room receives on its stream, so the caller's page applies it at once.
//! Like the room operations, each runs to completion once started, so a change the database has
//! is always announced to the room's pages, even when the browser went away.

use leptos::prelude::*;
use model::{
    error::AppError,
    ids::{ChannelId, UserId},
    table::{Counter, LifeChanged, PlayerTotals, TableState},
};

/// Changes `target`'s `counter` (`life`, `poison` or `commander:<player>:<0|1>`) by `delta`
/// (−100…100, not 0). Any seated player may change anyone's numbers, as at a real table: 400 for a
/// broken rule or a target without a seat, 403 for anyone who is not seated.
#[server(prefix = "/api/table", endpoint = "change")]
pub async fn change_life(
    channel: ChannelId,
    target: UserId,
    counter: Counter,
    delta: i32,
) -> Result<LifeChanged, AppError> {
    let services = super::ssr::services()?;
    let caller = super::ssr::tapping_caller(&services).await?;
    let (table, author) = (services.table, caller.user.id);
    super::ssr::to_completion(async move { table.change(author, channel, target, counter, delta).await })
        .await
}

/// Undoes the caller's own change `seq`, if it is their last one and at most
/// [`model::table::UNDO_WINDOW_MS`] old by the server's clock (409 otherwise; 403 for someone
/// else's change).
#[server(prefix = "/api/table", endpoint = "undo")]
pub async fn undo_life_change(channel: ChannelId, seq: i64) -> Result<LifeChanged, AppError> {
    let services = super::ssr::services()?;
    let caller = super::ssr::tapping_caller(&services).await?;
    let (table, author) = (services.table, caller.user.id);
    super::ssr::to_completion(async move { table.undo(author, channel, seq).await }).await
}

/// Names `player`'s commanders: `first`, and `partner` for a second one (an empty name is none).
/// A player names their own; the owner may name anyone's.
#[server(prefix = "/api/table", endpoint = "commanders")]
pub async fn name_commanders(
    channel: ChannelId,
    player: UserId,
    first: String,
    partner: String,
) -> Result<PlayerTotals, AppError> {
    let services = super::ssr::services()?;
    let caller = super::ssr::throttled_caller(&services).await?;
    let (table, author) = (services.table, caller.user.id);
    super::ssr::to_completion(async move {
        table
            .name_commanders(author, channel, player, &first, &partner)
            .await
    })
    .await
}

/// Owner only: a new game. Every seated player's life goes back to `starting_life` (one of 40,
/// 20, 25, 30), poison and commander damage to 0, and the history is cleared.
#[server(prefix = "/api/table", endpoint = "reset")]
pub async fn reset_table(channel: ChannelId, starting_life: i32) -> Result<TableState, AppError> {
    let services = super::ssr::services()?;
    let caller = super::ssr::throttled_caller(&services).await?;
    let (table, owner) = (services.table, caller.user.id);
    super::ssr::to_completion(async move { table.reset(owner, channel, starting_life).await }).await
}
