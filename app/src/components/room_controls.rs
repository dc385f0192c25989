//! Running a room: getting into its voice channel, the admitted players (the owner can remove
//! them, and let removed players back in), and leaving or closing it.
//!
//! Player names come from Discord and may hold anything, U+202E included: each is a `<bdi>`, so it
//! cannot reorder the text around it.

use leptos::prelude::*;
use leptos_router::{NavigateOptions, hooks::use_navigate};
use model::{
    error::AppError,
    ids::{ChannelId, UserId},
    room::{Player, RoomDetails, VoiceConnect as Connect, discord_channel_link},
};

use crate::{
    recent_invites::RecentInvites,
    server_fns::rooms::{
        close_room, connect_user_to_voice_channel, leave_room, readmit_player, remove_player,
    },
};

/// Removes a player; answers with the player, to move them to the removed list.
type RemoveAction = Action<Player, Result<Player, AppError>>;
/// Lets a removed player back in; answers with their id.
type ReadmitAction = Action<UserId, Result<UserId, AppError>>;

/// The controls for `details`' room, as its owner or one of its players sees them. The player
/// list starts from `details` and follows `live_players` (the room's seats, once the live stream
/// has them), so someone who sits down later can be removed without a reload.
#[component]
pub fn RoomControls(
    details: RoomDetails,
    #[prop(optional, into)] live_players: Option<Signal<Option<Vec<Player>>>>,
) -> impl IntoView {
    let room = details.channel_id;
    let is_owner = details.is_owner;
    let owner = details.owner_id;
    let deep_link = discord_channel_link(details.guild_id, room);
    let players = RwSignal::new(details.players);
    let removed = RwSignal::new(details.removed_players);
    if let Some(live_players) = live_players {
        Effect::new(move || {
            if let Some(live) = live_players.get() {
                players.set(live);
            }
        });
    }
    let failure = RwSignal::new(None::<String>);

    let remove: RemoveAction = Action::new(move |player: &Player| {
        let player = player.clone();
        async move { remove_player(room, player.user_id).await.map(|()| player) }
    });
    Effect::new(move || match remove.value().get() {
        Some(Ok(player)) => {
            players.update(|players| players.retain(|p| p.user_id != player.user_id));
            removed.update(|removed| {
                removed.retain(|p| p.user_id != player.user_id);
                removed.insert(0, player);
            });
        }
        Some(Err(err)) => failure.set(Some(err.to_string())),
        None => {}
    });
    let readmit: ReadmitAction = Action::new(move |player: &UserId| {
        let player = *player;
        async move { readmit_player(room, player).await.map(|()| player) }
    });
    Effect::new(move || match readmit.value().get() {
        Some(Ok(player)) => removed.update(|removed| removed.retain(|p| p.user_id != player)),
        Some(Err(err)) => failure.set(Some(err.to_string())),
        None => {}
    });
    // A new try clears the last one's error: it says what went wrong with that try only.
    Effect::new(move || {
        if remove.pending().get() || readmit.pending().get() {
            failure.set(None);
        }
    });

    view! {
        <section class="room-controls">
            <VoiceConnect room deep_link />
            <h2 class="room-controls__title">"Players"</h2>
            <ul class="players">
                <For each=move || players.get() key=|player| player.user_id let:player>
                    <PlayerItem player owner remove=is_owner.then_some(remove) />
                </For>
            </ul>
            <Show when=move || removed.with(|removed| !removed.is_empty())>
                <h3 class="room-controls__subtitle">"Removed"</h3>
                <p class="removed-players__hint">
                    "Their invite link does not let them in until you let them back in."
                </p>
                <ul class="removed-players">
                    <For each=move || removed.get() key=|player| player.user_id let:player>
                        <RemovedItem player readmit />
                    </For>
                </ul>
            </Show>
            <Depart room is_owner failure />
            {move || failure.get().map(|text| view! { <p class="form-error" role="alert">{text}</p> })}
        </section>
    }
}

/// The owner's "Close room" or a player's "Leave game", after confirming; both end on the home
/// page. Its error shows in the controls' `failure`.
#[component]
fn Depart(room: ChannelId, is_owner: bool, failure: RwSignal<Option<String>>) -> impl IntoView {
    let depart = Action::new(move |(): &()| async move {
        if is_owner {
            close_room(room).await
        } else {
            leave_room(room).await
        }
    });
    let invites = RecentInvites::expect();
    let navigate = use_navigate();
    Effect::new(move || match depart.value().get() {
        Some(Ok(())) => {
            invites.forget(room);
            navigate("/", NavigateOptions::default());
        }
        Some(Err(err)) => failure.set(Some(err.to_string())),
        None => {}
    });
    Effect::new(move || {
        if depart.pending().get() {
            failure.set(None);
        }
    });
    let question = if is_owner {
        "Close this room? Its Discord voice channel is deleted for everyone."
    } else {
        "Leave this game? You can come back later with a valid invite link."
    };
    view! {
        <button
            class=if is_owner { "button button--danger room__close" } else { "button button--secondary room__leave" }
            type="button"
            disabled=move || depart.pending().get()
            on:click=move |_| {
                if confirmed(question) {
                    depart.dispatch(());
                }
            }
        >
            {move || match (is_owner, depart.pending().get()) {
                (true, false) => "Close room",
                (true, true) => "Closing…",
                (false, false) => "Leave game",
                (false, true) => "Leaving…",
            }}
        </button>
    }
}

/// A seated player: their name, "owner" beside the owner, and for the owner's eyes (`remove`) a
/// button that removes anyone else after confirming.
#[component]
fn PlayerItem(player: Player, owner: UserId, remove: Option<RemoveAction>) -> impl IntoView {
    let is_room_owner = player.user_id == owner;
    let button = remove.filter(|_| !is_room_owner).map(|remove| {
        // U+2068 … U+2069 isolate the name inside the dialog's plain text, as `<bdi>` does on the page.
        let question = format!(
            "Remove \u{2068}{}\u{2069} from this game? They lose their seat, and their invite link \
             stops working for them until you let them back in.",
            player.username
        );
        let target = player.clone();
        let name = player.username.clone();
        view! {
            <button
                class="button button--small button--secondary player__remove"
                type="button"
                disabled=move || remove.pending().get()
                on:click=move |_| {
                    if confirmed(&question) {
                        remove.dispatch(target.clone());
                    }
                }
            >
                // Named for its player ("Remove Bob"): a list of bare "Remove" buttons says nothing
                // to a screen reader jumping between buttons.
                {move || if remove.pending().get() { "Removing…" } else { "Remove" }}
                <span class="sr-only">" " <bdi>{name}</bdi></span>
            </button>
        }
    });
    view! {
        <li class="player" data-user=player.user_id.to_string()>
            <bdi class="player__name">{player.username}</bdi>
            {is_room_owner.then(|| view! { <span class="player__owner">"owner"</span> })}
            {button}
        </li>
    }
}

/// A player the owner removed, with the button that lets them back in (their invite works again;
/// they are not seated until they use it).
#[component]
fn RemovedItem(player: Player, readmit: ReadmitAction) -> impl IntoView {
    let id = player.user_id;
    let name = player.username.clone();
    view! {
        <li class="removed-player" data-user=id.to_string()>
            <bdi class="player__name">{player.username}</bdi>
            <button
                class="button button--small button--secondary removed-player__readmit"
                type="button"
                disabled=move || readmit.pending().get()
                on:click=move |_| {
                    readmit.dispatch(id);
                }
            >
                {move || if readmit.pending().get() { "Letting back in…" } else { "Let back in" }}
                <span class="sr-only">" " <bdi>{name}</bdi></span>
            </button>
        </li>
    }
}

/// "Put me in the voice channel", and what came of it: moved, or how to join from Discord when
/// the player is not in voice at all (Discord cannot move them then).
#[component]
fn VoiceConnect(room: ChannelId, deep_link: String) -> impl IntoView {
    let connect = Action::new(move |(): &()| connect_user_to_voice_channel(room));
    // While a new try is on its way, the last one's outcome no longer holds.
    let connected = move || {
        (!connect.pending().get())
            .then(|| connect.value().get())
            .flatten()
    };
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
                    {move || if connect.pending().get() { "Moving you…" } else { "Put me in the voice channel" }}
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

/// Asks `question` before something without undo: closing a room (its voice channel is deleted
/// for everyone), leaving it (the seat is given up) or removing a player.
fn confirmed(question: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn player(name: &str) -> Player {
        Player {
            user_id: "11".parse().unwrap(),
            username: name.to_owned(),
        }
    }

    #[test]
    fn player_names_that_flip_text_direction_are_rendered_isolated() {
        let seated =
            view! { <PlayerItem player=player("\u{202E}nimda") owner="10".parse().unwrap() remove=None /> }
                .to_html();
        assert!(
            seated.contains("<bdi class=\"player__name\">\u{202E}nimda</bdi>"),
            "{seated}"
        );
        // An action lives in a reactive owner's arena.
        let removed = Owner::new().with(|| {
            let readmit: ReadmitAction = Action::new(|id: &UserId| {
                let id = *id;
                async move { Ok(id) }
            });
            view! { <RemovedItem player=player("\u{202E}nimda") readmit /> }.to_html()
        });
        assert!(
            removed.contains("<bdi class=\"player__name\">\u{202E}nimda</bdi>"),
            "{removed}"
        );
        assert!(
            removed.contains("Let back in<span class=\"sr-only\"> <bdi>\u{202E}nimda</bdi></span>"),
            "the button is named for its player: {removed}"
        );
    }

    #[test]
    fn the_owners_remove_button_is_named_for_its_player() {
        let html = Owner::new().with(|| {
            let remove: RemoveAction = Action::new(|player: &Player| {
                let player = player.clone();
                async move { Ok(player) }
            });
            view! { <PlayerItem player=player("Bob") owner="10".parse().unwrap() remove=Some(remove) /> }
                .to_html()
        });
        assert!(
            html.contains("Remove<span class=\"sr-only\"> <bdi>Bob</bdi></span>"),
            "{html}"
        );
    }
}
