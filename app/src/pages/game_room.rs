//! The game room page, `/game/:channel_id`: the live table of a room first, and beside it (below
//! it on a phone) for its players the invite panel and the room's controls.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use model::{
    error::AppError,
    ids::ChannelId,
    room::{Player, RoomDetails, room_path, sign_in_path},
};

use crate::{
    components::{
        dev_panel::DevPanel, invite_panel::InvitePanel, member_list::MemberList, room_controls::RoomControls,
    },
    pages::not_found::NotFoundPage,
    roster_view::RosterView,
    server_fns::{rooms::load_room, viewer::load_viewer},
};

/// A game room. An id that is not a snowflake is answered like any unknown page.
#[component]
pub fn GameRoomPage() -> impl IntoView {
    let params = use_params_map();
    let room = params.with_untracked(|params| {
        params
            .get("channel_id")
            .and_then(|id| id.parse::<ChannelId>().ok())
    });
    match room {
        Some(room) => view! { <GameRoom room /> }.into_any(),
        None => view! { <NotFoundPage /> }.into_any(),
    }
}

#[component]
fn GameRoom(room: ChannelId) -> impl IntoView {
    // Who is looking and what the room is only matter in the browser, so both load there.
    let viewer = LocalResource::new(load_viewer);
    let viewer = Signal::derive(move || viewer.get().and_then(Result::ok));
    let details = LocalResource::new(move || load_room(room));
    let private = move || matches!(details.get(), Some(Err(AppError::Forbidden)));
    // The table's state, shared by the table and the owner's controls (whose player list follows
    // the seats live).
    let table = RwSignal::new(RosterView::default());
    let live_players = Signal::derive(move || {
        table.with(|table| {
            table.seats().map(|seats| {
                seats
                    .iter()
                    .map(|seat| Player {
                        user_id: seat.user_id,
                        username: seat.username.clone(),
                    })
                    .collect::<Vec<_>>()
            })
        })
    });

    view! {
        <main class="page game-room" data-room=room.to_string()>
            <div class="game-room__table">
                {move || match details.get() {
                    Some(Ok(details)) => view! { <RoomHeader details /> }.into_any(),
                    Some(Err(AppError::Forbidden)) => {
                        view! {
                            <header class="game-room__header">
                                <p class="hero__eyebrow">"Game room"</p>
                                <h1>"This room is private"</h1>
                                <p class="room__private">
                                    "Only its players can see it. Ask the owner for an invite link."
                                </p>
                                <a class="button" href="/">
                                    "Return home"
                                </a>
                            </header>
                        }
                            .into_any()
                    }
                    Some(Err(AppError::Unauthenticated)) => view! { <TableHeader signed_out=Some(room) /> }.into_any(),
                    _ => view! { <TableHeader signed_out=None /> }.into_any(),
                }}
                <Show when=move || !private()>
                    <MemberList room viewer view=table />
                </Show>
            </div>
            <aside class="game-room__side">
                {move || match details.get() {
                    Some(Ok(details)) => Some(view! { <RoomSide details live_players /> }),
                    _ => None,
                }}
                <Show when=move || !private()>
                    <DevPanel room />
                </Show>
            </aside>
        </main>
    }
}

/// The header of a room the viewer plays in.
#[component]
fn RoomHeader(details: RoomDetails) -> impl IntoView {
    view! {
        <header class="game-room__header">
            <p class="hero__eyebrow">"Game room"</p>
            <h1 class="game-room__name">
                <bdi>{details.name}</bdi>
            </h1>
            <p class="game-room__hint">"Join the room's voice channel in Discord to take your seat at the table."</p>
        </header>
    }
}

/// What the viewer can do in the room, secondary to the table: the owner's invite panel, and the
/// room's controls (with the player list following `live_players`, the seats).
#[component]
fn RoomSide(details: RoomDetails, live_players: Signal<Option<Vec<Player>>>) -> impl IntoView {
    let owner_panel = details
        .is_owner
        .then(|| view! { <InvitePanel details=details.clone() /> });
    view! {
        {owner_panel}
        <RoomControls details live_players />
    }
}

/// The header while the room loads, of a voice channel that is not a room (the demo Lobby), or for
/// a visitor who is not signed in (`signed_out`: the room to come back to after signing in).
#[component]
fn TableHeader(signed_out: Option<ChannelId>) -> impl IntoView {
    let sign_in = signed_out.map(|room| {
        let href = sign_in_path(&room_path(room));
        view! {
            <p class="game-room__signin">
                "Players of this room: "
                <a href=href rel="external">
                    "sign in with Discord"
                </a>
                " to see it and take your seat."
            </p>
        }
    });
    view! {
        <header class="game-room__header">
            <p class="hero__eyebrow">"Game room"</p>
            <h1>"Your table"</h1>
            <p class="game-room__hint">
                "Join the room's voice channel in Discord; players appear here as they connect."
            </p>
            {sign_in}
        </header>
    }
}
