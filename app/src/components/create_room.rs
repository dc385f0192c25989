//! "Create a game": names a new room, creates it, and goes to its page with the invite ready.

use leptos::prelude::*;
use leptos_router::{NavigateOptions, hooks::use_navigate};
use model::room::{room_path, validate_room_name};

use crate::{recent_invites::RecentInvites, server_fns::rooms::create_room};

/// The form on the home page of a signed-in player.
#[component]
pub fn CreateRoomForm() -> impl IntoView {
    let name = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let create = Action::new(|name: &String| create_room(name.clone(), None));
    let invites = RecentInvites::expect();
    let navigate = use_navigate();
    Effect::new(move || match create.value().get() {
        Some(Ok(room)) => {
            invites.remember(room.channel_id, room.invite);
            navigate(&room_path(room.channel_id), NavigateOptions::default());
        }
        Some(Err(err)) => problem.set(Some(err.to_string())),
        None => {}
    });
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        // The server checks the same rule again; checking here saves a round trip.
        match validate_room_name(&name.get_untracked()) {
            Ok(valid) => {
                problem.set(None);
                create.dispatch(valid);
            }
            Err(err) => problem.set(Some(err.to_string())),
        }
    };

    view! {
        <form class="create-room" on:submit=submit>
            <label class="create-room__label" for="room-name">
                "Name your game"
            </label>
            <div class="create-room__row">
                <input
                    id="room-name"
                    class="create-room__name"
                    type="text"
                    placeholder="Friday Commander"
                    prop:value=move || name.get()
                    on:input=move |event| name.set(event_target_value(&event))
                />
                <button class="button create-room__submit" type="submit" disabled=move || create.pending().get()>
                    "Create game"
                </button>
            </div>
            {move || problem.get().map(|problem| view! { <p class="form-error" role="alert">{problem}</p> })}
        </form>
    }
}
