//! "Your games": the rooms the signed-in player plays in, each saying when it closes if it sat
//! idle long enough to be warned.

use leptos::prelude::*;
use model::{
    error::AppError,
    room::{RoomSummary, room_path},
};

use crate::countdown::{now_ms, remaining};

/// The list on the home page of a signed-in player, from `rooms` (loaded with the page).
#[component]
pub fn MyRooms(rooms: Resource<Result<Vec<RoomSummary>, AppError>>) -> impl IntoView {
    view! {
        <section class="my-rooms">
            <h2 class="my-rooms__title">"Your games"</h2>
            {move || {
                rooms
                    .get()
                    .map(|rooms| match rooms {
                        Ok(rooms) if rooms.is_empty() => {
                            view! { <p class="my-rooms__empty">"No games yet: create one above."</p> }.into_any()
                        }
                        Ok(rooms) => {
                            view! {
                                <ul class="my-rooms__list">
                                    {rooms.into_iter().map(|room| view! { <RoomItem room /> }).collect_view()}
                                </ul>
                            }
                                .into_any()
                        }
                        Err(err) => view! { <p class="form-error" role="alert">{err.to_string()}</p> }.into_any(),
                    })
            }}
        </section>
    }
}

/// One game: its name (the way in), whether the player runs it, and its idle warning.
#[component]
fn RoomItem(room: RoomSummary) -> impl IntoView {
    // Nobody can be on an idle room's page or in its voice channel, so this is where its warning
    // is seen; opening the room is enough to keep it.
    let closing = room.closes_at_ms.map(|closes_at| {
        view! {
            <span class="my-rooms__closing" role="note">
                {format!(
                    "Idle: closes in {} unless someone opens it or joins its voice channel",
                    remaining(closes_at - now_ms()),
                )}
            </span>
        }
    });
    view! {
        <li class="my-rooms__room" data-closing=room.closes_at_ms.is_some().to_string()>
            <a href=room_path(room.channel_id)>
                <bdi>{room.name}</bdi>
            </a>
            {room.is_owner.then(|| view! { <span class="my-rooms__owner">"you run it"</span> })}
            {closing}
        </li>
    }
}
