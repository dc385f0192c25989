//! The game room page, `/game/:channel_id`: the live table of a room.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use model::ids::ChannelId;

use crate::{
    components::{dev_panel::DevPanel, member_list::MemberList},
    pages::not_found::NotFoundPage,
    server_fns::viewer::load_viewer,
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
    // Who is looking only matters in the browser (the dropout modal), so it is loaded there.
    let viewer = LocalResource::new(load_viewer);
    let viewer = Signal::derive(move || viewer.get().and_then(Result::ok));
    match room {
        Some(room) => view! {
            <main class="page game-room" data-room=room.to_string()>
                <header class="game-room__header">
                    <p class="hero__eyebrow">"Game room"</p>
                    <h1>"Your table"</h1>
                    <p class="game-room__hint">
                        "Join the room's voice channel in Discord; players appear here as they connect."
                    </p>
                </header>
                <MemberList room viewer />
                <DevPanel room />
            </main>
        }
        .into_any(),
        None => view! { <NotFoundPage /> }.into_any(),
    }
}
