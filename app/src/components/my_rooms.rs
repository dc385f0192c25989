//! "Your games": the rooms the signed-in player plays in.

use leptos::prelude::*;
use model::room::room_path;

use crate::server_fns::rooms::load_my_rooms;

/// The list on the home page of a signed-in player (loaded in the browser).
#[component]
pub fn MyRooms() -> impl IntoView {
    let rooms = LocalResource::new(load_my_rooms);
    view! {
        <section class="my-rooms">
            <h2 class="my-rooms__title">"Your games"</h2>
            {move || {
                rooms
                    .get()
                    .and_then(Result::ok)
                    .map(|rooms| {
                        if rooms.is_empty() {
                            view! { <p class="my-rooms__empty">"No games yet: create one above."</p> }.into_any()
                        } else {
                            view! {
                                <ul class="my-rooms__list">
                                    {rooms
                                        .into_iter()
                                        .map(|room| {
                                            view! {
                                                <li class="my-rooms__room">
                                                    <a href=room_path(room.channel_id)><bdi>{room.name}</bdi></a>
                                                    {room.is_owner.then(|| view! { <span class="my-rooms__owner">"you run it"</span> })}
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                            }
                                .into_any()
                        }
                    })
            }}
        </section>
    }
}
