//! The development panel: on the embedded simulator, make simulated users join, leave or move, and
//! watch the member list follow. Renders nothing when the server talks to real Discord.

use leptos::prelude::*;
use model::{
    dev::{SimulatedChannel, SimulatedGuild, SimulatedUser},
    ids::ChannelId,
};

use crate::server_fns::dev::{load_simulated_guild, set_simulated_voice};

/// The panel for the room whose voice channel is `room`.
#[component]
pub fn DevPanel(room: ChannelId) -> impl IntoView {
    let guild = Resource::new(|| (), |()| load_simulated_guild());
    let set_voice = Action::new(|(user, channel): &(String, Option<String>)| {
        set_simulated_voice(user.clone(), channel.clone())
    });
    // Reload who is where after each change.
    Effect::new(move || {
        if set_voice.value().get().is_some() {
            guild.refetch();
        }
    });

    view! {
        <Transition fallback=|| ()>
            {move || {
                guild
                    .get()
                    .and_then(Result::ok)
                    .map(|guild| view! { <DevPanelBody guild room set_voice /> })
            }}
        </Transition>
    }
}

#[component]
fn DevPanelBody(
    guild: SimulatedGuild,
    room: ChannelId,
    set_voice: Action<(String, Option<String>), Result<(), model::error::AppError>>,
) -> impl IntoView {
    let channels = guild.channels;
    view! {
        // A section, not an `<aside>`: it sits inside the page's `<main>`, where a complementary
        // landmark does not belong.
        <section class="dev-panel" aria-label="Development panel">
            <h2 class="dev-panel__title">"Dev panel · simulated Discord"</h2>
            <ul class="dev-panel__users">
                {guild
                    .users
                    .into_iter()
                    .map(|user| view! { <DevUserRow user room channels=channels.clone() set_voice /> })
                    .collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn DevUserRow(
    user: SimulatedUser,
    room: ChannelId,
    channels: Vec<SimulatedChannel>,
    set_voice: Action<(String, Option<String>), Result<(), model::error::AppError>>,
) -> impl IntoView {
    let id = user.user_id.to_string();
    let location = user
        .channel_id
        .and_then(|current| channels.iter().find(|channel| channel.channel_id == current))
        .map(|channel| channel.name.clone());
    let elsewhere = channels.into_iter().find(|channel| channel.channel_id != room);
    let in_room = user.channel_id == Some(room);
    let in_voice = user.channel_id.is_some();
    let (join_id, leave_id, move_id) = (id.clone(), id.clone(), id.clone());
    let name = user.username;
    let data_user = name.clone();
    view! {
        <li class="dev-panel__user" data-user=data_user>
            <bdi class="dev-panel__name">{name}</bdi>
            <span class="dev-panel__where">
                {match location {
                    Some(channel) => view! { "in " <bdi>{channel}</bdi> }.into_any(),
                    None => "not in voice".into_any(),
                }}
            </span>
            <button
                class="button button--small dev-join"
                disabled=in_room
                on:click=move |_| {
                    set_voice.dispatch((join_id.clone(), Some(room.to_string())));
                }
            >
                "Join this room"
            </button>
            {elsewhere
                .map(|channel| {
                    let label = channel.name.clone();
                    view! {
                        <button
                            class="button button--small dev-move"
                            disabled=!in_room
                            on:click=move |_| {
                                set_voice
                                    .dispatch((move_id.clone(), Some(channel.channel_id.to_string())));
                            }
                        >
                            "Move to " <bdi>{label}</bdi>
                        </button>
                    }
                })}
            <button
                class="button button--small dev-leave"
                disabled=!in_voice
                on:click=move |_| {
                    set_voice.dispatch((leave_id.clone(), None));
                }
            >
                "Leave voice"
            </button>
        </li>
    }
}
