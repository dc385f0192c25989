//! The game room page, `/game/:channel_id`: the live table of a room first, and beside it (below
//! it on a phone) for its players the invite panel and the room's controls. Rendered whole by the
//! server, so its first paint is the truth: an ended or unknown game is a 404 saying which, a
//! signed-out visitor is offered to sign in (and comes back), a stranger is told the room is
//! private.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use model::{
    error::AppError,
    ids::ChannelId,
    room::{Player, RoomDetails, RoomStatus, room_path, sign_in_path},
    viewer::Viewer,
};

use crate::{
    components::{
        dev_panel::DevPanel, invite_panel::InvitePanel, member_list::MemberList, room_controls::RoomControls,
    },
    pages::not_found::{GoBack, NotFoundPage},
    roster_view::{RosterView, StreamStatus},
    server_fns::{
        rooms::{load_room, load_room_status},
        viewer::load_viewer,
    },
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

/// What is at the page's address decides the page, on the server's first answer (the route renders
/// in `SsrMode::Async`): an open game (or a demo voice channel) is the table; an ended or unknown
/// one is a 404 that says which.
#[component]
fn GameRoom(room: ChannelId) -> impl IntoView {
    // Made here, once: a resource made under the `Suspense` would be made again on each of its
    // renders.
    let status = Resource::new_blocking(move || room, load_room_status);
    let viewer = Resource::new_blocking(|| (), |()| load_viewer());
    let details = Resource::new_blocking(move || room, load_room);
    view! {
        <Suspense fallback=|| view! { <main class="page game-room"></main> }>
            {move || {
                status
                    .get()
                    .map(|status| match status {
                        Ok(RoomStatus::Ended) => view! { <GameOver ended=true /> }.into_any(),
                        Ok(RoomStatus::Unknown) => view! { <GameOver ended=false /> }.into_any(),
                        Ok(RoomStatus::DemoChannel) => view! { <OpenRoom room viewer details demo=true /> }.into_any(),
                        // Open, or not known right now: the live page says the rest.
                        _ => view! { <OpenRoom room viewer details demo=false /> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

/// A game that is over, or never was: answered 404, with the ways out.
#[component]
fn GameOver(ended: bool) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    let (headline, text) = if ended {
        (
            "This game has ended",
            "Its room was closed, and its voice channel is gone. Start a new game from the home page.",
        )
    } else {
        (
            "No such game",
            "There is no game room at this address. The link may be mistyped or incomplete.",
        )
    };
    view! {
        <main class="page page--centered game-over" data-ended=ended.to_string()>
            <h1>{headline}</h1>
            <p>{text}</p>
            <p class="game-over__actions">
                <a class="button" href="/">
                    "Return home"
                </a>
                <GoBack />
            </p>
        </main>
    }
}

/// The page of an open room (or a demo voice channel): the table, and beside it what the viewer
/// may do. Who is looking and what they may see are rendered by the server too, so a signed-out
/// visitor or a stranger sees their way in at once, and no stream is opened that would be refused.
#[component]
fn OpenRoom(
    room: ChannelId,
    viewer: Resource<Result<Viewer, AppError>>,
    details: Resource<Result<RoomDetails, AppError>>,
    demo: bool,
) -> impl IntoView {
    let viewer = Signal::derive(move || viewer.get().and_then(Result::ok));
    let private = move || matches!(details.get(), Some(Err(AppError::Forbidden)));
    // Players watch their room; on the embedded simulator anyone may watch a demo voice channel
    // (which is no room). Nobody else gets a stream the server would only refuse.
    let watches = move || demo || matches!(details.get(), Some(Ok(_)));
    // The table's state, shared by the table and the owner's controls (whose player list follows
    // the seats live).
    let table = RwSignal::new(RosterView::default());
    // How the stream is doing, shared with the side panel: once the viewer may no longer watch
    // (signed out, removed), there is nothing left for them to do there either.
    let stream = RwSignal::new(StreamStatus::Connecting);
    // Memos: the side panel is rebuilt when the room closes, not on every stream message.
    let closed = Signal::from(Memo::new(move |_| table.with(RosterView::is_closed)));
    let shut_out = Signal::from(Memo::new(move |_| {
        matches!(stream.get(), StreamStatus::SignedOut | StreamStatus::NotAPlayer)
    }));
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

    // Set once the browser has made the page live (the server's render has buttons that do
    // nothing until then); what tests wait for before pressing anything.
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move || set_hydrated.set(true));

    view! {
        <main class="page game-room" data-room=room.to_string() data-hydrated=move || hydrated.get().to_string()>
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
                    Some(Err(AppError::Unauthenticated)) if !demo => view! { <TableHeader signed_out=Some(room) /> }.into_any(),
                    _ => view! { <TableHeader signed_out=None /> }.into_any(),
                }}
                <Show when=watches>
                    {view! { <MemberList room viewer view=table status=stream /> }.into_any()}
                </Show>
            </div>
            <aside class="game-room__side">
                {move || match details.get() {
                    Some(Ok(details)) => Some(view! { <RoomSide details live_players closed shut_out /> }),
                    _ => None,
                }}
                <Show when=move || !private()>
                    <DevPanel room />
                </Show>
            </aside>
        </main>
    }
    .into_any()
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
/// room's controls (with the player list following `live_players`, the seats). Once the room has
/// `closed` while the page was open, there is nothing left to do in it, and it says so; once the
/// viewer is `shut_out` (signed out, removed: the table says which), the controls go too.
#[component]
fn RoomSide(
    details: RoomDetails,
    live_players: Signal<Option<Vec<Player>>>,
    closed: Signal<bool>,
    shut_out: Signal<bool>,
) -> impl IntoView {
    let owner_panel = details
        .is_owner
        .then(|| view! { <InvitePanel details=details.clone() /> });
    // The controls stay mounted but hidden once closed: the owner's own close still finishes
    // (it takes them home) after the room's `room.deleted` has arrived.
    view! {
        <Show when=move || closed.get()>
            <section class="room-ended" role="status">
                <h2>"This game has ended"</h2>
                <p>"The room was closed: its voice channel and invite link no longer work."</p>
                <a class="button" href="/">
                    "Return home"
                </a>
            </section>
        </Show>
        <div class="game-room__controls" hidden=move || closed.get() || shut_out.get()>
            {owner_panel}
            <RoomControls details live_players />
        </div>
    }
    // Erased: the page's whole view type is otherwise deep enough to overflow a debug stack.
    .into_any()
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
