//! Running a room: getting into its voice channel, the admitted players (the owner can remove
//! them), and leaving or closing it.

use leptos::prelude::*;
use leptos_router::{NavigateOptions, hooks::use_navigate};
use model::{
    ids::{ChannelId, UserId},
    room::{RoomDetails, VoiceConnect as Connect, discord_channel_link},
};

use crate::{
    recent_invites::RecentInvites,
    server_fns::rooms::{close_room, connect_user_to_voice_channel, leave_room, remove_player},
};

/// The controls for `details`' room, as its owner or one of its players sees them.
#[component]
pub fn RoomControls(details: RoomDetails) -> impl IntoView {
    let room = details.channel_id;
    let is_owner = details.is_owner;
    let deep_link = discord_channel_link(details.guild_id, room);
    let players = RwSignal::new(details.players);
    let failure = RwSignal::new(None::<String>);
    let navigate = use_navigate();

    let remove = Action::new(move |player: &UserId| {
        let player = *player;
        async move { remove_player(room, player).await.map(|()| player) }
    });
    Effect::new(move || match remove.value().get() {
        Some(Ok(player)) => players.update(|players| players.retain(|p| p.user_id != player)),
        Some(Err(err)) => failure.set(Some(err.to_string())),
        None => {}
    });
    // Leaving and closing both end on the home page.
    let depart = Action::new(move |(): &()| async move {
        if is_owner {
            close_room(room).await
        } else {
            leave_room(room).await
        }
    });
    let invites = RecentInvites::expect();
    Effect::new(move || match depart.value().get() {
        Some(Ok(())) => {
            invites.forget(room);
            navigate("/", NavigateOptions::default());
        }
        Some(Err(err)) => failure.set(Some(err.to_string())),
        None => {}
    });

    view! {
        <section class="room-controls">
            <VoiceConnect room deep_link />
            <h2 class="room-controls__title">"Players"</h2>
            <ul class="players">
                <For each=move || players.get() key=|player| player.user_id let:player>
                    <li class="player" data-user=player.user_id.to_string()>
                        <span class="player__name">{player.username.clone()}</span>
                        {(player.user_id == details.owner_id).then(|| view! { <span class="player__owner">"owner"</span> })}
                        {(is_owner && player.user_id != details.owner_id)
                            .then(|| {
                                let id = player.user_id;
                                view! {
                                    <button
                                        class="button button--small button--secondary player__remove"
                                        type="button"
                                        on:click=move |_| {
                                            remove.dispatch(id);
                                        }
                                    >
                                        "Remove"
                                    </button>
                                }
                            })}
                    </li>
                </For>
            </ul>
            <button
                class=if is_owner { "button button--danger room__close" } else { "button button--secondary room__leave" }
                type="button"
                disabled=move || depart.pending().get()
                on:click=move |_| {
                    if confirmed(is_owner) {
                        depart.dispatch(());
                    }
                }
            >
                {if is_owner { "Close room" } else { "Leave game" }}
            </button>
            {move || failure.get().map(|text| view! { <p class="form-error" role="alert">{text}</p> })}
        </section>
    }
}

/// "Put me in the voice channel", and what came of it: moved, or how to join from Discord when
/// the player is not in voice at all (Discord cannot move them then).
#[component]
fn VoiceConnect(room: ChannelId, deep_link: String) -> impl IntoView {
    let connect = Action::new(move |(): &()| connect_user_to_voice_channel(room));
    let connected = move || connect.value().get();
    view! {
            <div class="room-controls__voice">
                <button
                    class="button room__connect"
                    type="button"
                    disabled=move || connect.pending().get()
                    on:click=move |_| {
                        connect.dispatch(());
                    }
                >
                    "Put me in the voice channel"
                </button>
                {move || match connected() {
                    Some(Ok(Connect::Moved)) => {
                        view! { <p class="toast" role="status">"You're in the room's voice channel"</p> }.into_any()
                    }
                    Some(Ok(Connect::NotInVoice)) => {
                        view! {
                            <p class="room__guidance" role="status">
                                "You're not in a voice channel, so Discord can't move you. Join any voice channel in Discord first, then press again — or "
                                <a href=deep_link.clone() rel="external" target="_blank">"open the room's channel in Discord"</a>
                                "."
                            </p>
                        }
                            .into_any()
                    }
                    Some(Err(err)) => view! { <p class="form-error" role="alert">{err.to_string()}</p> }.into_any(),
                    None => ().into_any(),
                }}
            </div>
    }
}

/// Asks before closing a room (its voice channel is deleted for everyone) or leaving it (the seat
/// is given up); there is no undo for either.
fn confirmed(is_owner: bool) -> bool {
    let question = if is_owner {
        "Close this room? Its Discord voice channel is deleted for everyone."
    } else {
        "Leave this game? You will need a new invite to come back."
    };
    #[cfg(feature = "hydrate")]
    {
        window().confirm_with_message(question).unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = question;
        false
    }
}
