//! Game rooms: create, join by invite, get into voice, and what the owner runs them with.
//!
//! Every function takes the acting user from the session (401 without one); the ones that change
//! something also charge the user's request budget (429 when spent). Room ids are Discord
//! snowflakes: anything else is refused as a bad argument (400) before the body runs. The ones
//! that change Discord and the database together (create, join, remove, leave, close) run to
//! completion once started, even when the browser goes away mid-way (`ssr::to_completion`).

use leptos::prelude::*;
use model::{
    error::AppError,
    ids::{ChannelId, UserId},
    room::{Invite, InvitePreview, JoinedRoom, NewRoom, RoomDetails, RoomSummary, VoiceConnect},
};

/// Creates a game room named `name` (1–100 characters) owned by the caller, whose players start
/// with `starting_life` (40, 20, 25 or 30; 40 when not given).
#[server(prefix = "/api/rooms", endpoint = "create")]
pub async fn create_room(name: String, starting_life: Option<i32>) -> Result<NewRoom, AppError> {
    let starting_life =
        model::table::validate_starting_life(starting_life.unwrap_or(model::table::DEFAULT_STARTING_LIFE))
            .map_err(AppError::InvalidInput)?;
    let services = super::ssr::services()?;
    let caller = super::ssr::throttled_caller(&services).await?;
    let (rooms, user) = (services.rooms, caller.user.id);
    super::ssr::to_completion(async move { rooms.create(user, &name, starting_life).await }).await
}

/// The rooms the caller plays in.
#[server(prefix = "/api/rooms", endpoint = "mine")]
pub async fn load_my_rooms() -> Result<Vec<RoomSummary>, AppError> {
    let services = super::ssr::services()?;
    let caller = super::ssr::caller().await?;
    Ok(services.rooms.rooms_of(caller.user.id).await?)
}

/// Whether the room page's channel holds an open game, an ended one, or nothing. Anyone may ask:
/// it is what the page's address already says. On the embedded simulator, where anyone may watch
/// any voice channel (the dev panel's demo), a channel that is no room is a demo channel.
#[server(prefix = "/api/rooms", endpoint = "status")]
pub async fn load_room_status(channel: ChannelId) -> Result<model::room::RoomStatus, AppError> {
    use model::room::RoomStatus;

    let services = super::ssr::services()?;
    let status = services.rooms.status(channel).await?;
    let simulated = use_context::<super::ssr::DevSimulator>().is_some();
    Ok(if status == RoomStatus::Unknown && simulated {
        RoomStatus::DemoChannel
    } else {
        status
    })
}

/// A room's page data, for its players (403 for anyone else).
#[server(prefix = "/api/rooms", endpoint = "load")]
pub async fn load_room(channel: ChannelId) -> Result<RoomDetails, AppError> {
    let services = super::ssr::services()?;
    let caller = super::ssr::caller().await?;
    Ok(services.rooms.details(caller.user.id, channel).await?)
}

/// What the invite `token` invites to, for anyone holding the link (no session needed; the
/// per-address budget of anonymous routes applies): the game, its host, the seats taken, the
/// starting life and the expiry; or why the link does not work (`AppError::Invite`).
#[server(prefix = "/api/rooms", endpoint = "preview")]
pub async fn preview_invite(token: String) -> Result<InvitePreview, AppError> {
    let services = super::ssr::services()?;
    Ok(services.rooms.preview(&token).await?)
}

/// Joins the room an invite `token` is for: adds the caller to the guild if needed and lets them
/// into the room's channel.
#[server(prefix = "/api/rooms", endpoint = "join")]
pub async fn join_room(token: String) -> Result<JoinedRoom, AppError> {
    let services = super::ssr::services()?;
    let caller = super::ssr::throttled_caller(&services).await?;
    let access_token = caller.join_token(&services.oauth).await?;
    let (rooms, user) = (services.rooms, caller.user.id);
    super::ssr::to_completion(async move { rooms.join(user, &token, &access_token).await }).await
}

/// Moves the caller into the room's voice channel if they are in voice elsewhere; otherwise says
/// they need to join from Discord.
#[server(prefix = "/api/rooms", endpoint = "connect")]
pub async fn connect_user_to_voice_channel(channel: ChannelId) -> Result<VoiceConnect, AppError> {
    let services = super::ssr::services()?;
    let caller = super::ssr::throttled_caller(&services).await?;
    Ok(services.rooms.connect(caller.user.id, channel).await?)
}

/// Owner only: a new invite link; the old one stops working.
#[server(prefix = "/api/rooms", endpoint = "refresh_invite")]
pub async fn refresh_invite(channel: ChannelId) -> Result<Invite, AppError> {
    let services = super::ssr::services()?;
    let caller = super::ssr::throttled_caller(&services).await?;
    Ok(services.rooms.refresh_invite(caller.user.id, channel).await?)
}

/// Owner only: the invite link stops working.
#[server(prefix = "/api/rooms", endpoint = "revoke_invite")]
pub async fn revoke_invite(channel: ChannelId) -> Result<(), AppError> {
    let services = super::ssr::services()?;
    let caller = super::ssr::throttled_caller(&services).await?;
    Ok(services.rooms.revoke_invite(caller.user.id, channel).await?)
}

/// Owner only: deletes the room and its voice channel.
#[server(prefix = "/api/rooms", endpoint = "close")]
pub async fn close_room(channel: ChannelId) -> Result<(), AppError> {
    let services = super::ssr::services()?;
    let caller = super::ssr::throttled_caller(&services).await?;
    let (rooms, user) = (services.rooms, caller.user.id);
    super::ssr::to_completion(async move { rooms.close(user, channel).await }).await
}

/// Owner only: takes a player's seat away.
#[server(prefix = "/api/rooms", endpoint = "remove_player")]
pub async fn remove_player(channel: ChannelId, player: UserId) -> Result<(), AppError> {
    let services = super::ssr::services()?;
    let caller = super::ssr::throttled_caller(&services).await?;
    let (rooms, user) = (services.rooms, caller.user.id);
    super::ssr::to_completion(async move { rooms.remove_player(user, channel, player).await }).await
}

/// Owner only: lets a removed player back in, so that their invite works again (it does not seat
/// them). 404 when the player was not removed.
#[server(prefix = "/api/rooms", endpoint = "readmit_player")]
pub async fn readmit_player(channel: ChannelId, player: UserId) -> Result<(), AppError> {
    let services = super::ssr::services()?;
    let caller = super::ssr::throttled_caller(&services).await?;
    Ok(services
        .rooms
        .readmit_player(caller.user.id, channel, player)
        .await?)
}

/// A player gives up their seat.
#[server(prefix = "/api/rooms", endpoint = "leave")]
pub async fn leave_room(channel: ChannelId) -> Result<(), AppError> {
    let services = super::ssr::services()?;
    let caller = super::ssr::throttled_caller(&services).await?;
    let (rooms, user) = (services.rooms, caller.user.id);
    super::ssr::to_completion(async move { rooms.leave(user, channel).await }).await
}
