//! "Create a game": names a new room and picks its starting life, creates it, and goes to its page with the invite ready.

use leptos::prelude::*;
use leptos_router::{NavigateOptions, hooks::use_navigate};
use model::{
    room::{room_path, validate_room_name},
    table::{DEFAULT_STARTING_LIFE, STARTING_LIFE_CHOICES},
};

use crate::{recent_invites::RecentInvites, server_fns::rooms::create_room};

/// The form on the home page of a signed-in player.
#[component]
pub fn CreateRoomForm() -> impl IntoView {
    let name = RwSignal::new(String::new());
    let starting_life = RwSignal::new(DEFAULT_STARTING_LIFE);
    let problem = RwSignal::new(None::<String>);
    let create = Action::new(|(name, life): &(String, i32)| create_room(name.clone(), Some(*life)));
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
                create.dispatch((valid, starting_life.get_untracked()));
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
                <label class="create-room__life">
                    <span class="create-room__life-label">"Starting life"</span>
                    <select
                        id="starting-life"
                        class="create-room__starting-life"
                        on:change=move |event| {
                            if let Ok(life) = event_target_value(&event).parse() {
                                starting_life.set(life);
                            }
                        }
                    >
                        {STARTING_LIFE_CHOICES
                            .iter()
                            .map(|&choice| {
                                let label = if choice == DEFAULT_STARTING_LIFE {
                                    format!("{choice} (Commander)")
                                } else {
                                    choice.to_string()
                                };
                                view! {
                                    <option value=choice.to_string() selected=choice == DEFAULT_STARTING_LIFE>
                                        {label}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <button class="button create-room__submit" type="submit" disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Creating…" } else { "Create game" }}
                </button>
            </div>
            {move || problem.get().map(|problem| view! { <p class="form-error" role="alert">{problem}</p> })}
        </form>
    }
    // Erased: the landing page's view type is otherwise deeper than rustc's default query depth.
    .into_any()
}
