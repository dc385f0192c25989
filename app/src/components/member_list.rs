//! The live member list of a game room: who is in its voice channel, updated in place.
//!
//! Names come from Discord and may hold anything, U+202E included: each is a `<bdi>`, so it cannot
//! reorder the text around it.

use leptos::prelude::*;
use model::{ids::ChannelId, stream::RoomMember, viewer::Viewer};

use crate::{
    components::dropout_modal::DropoutModal,
    roster_view::{
        DropoutWatch, ROOM_CAPACITY, RosterView, StreamStatus, avatar_url, discord_channel_link, empty_text,
        initial, shown_status,
    },
};

/// The room's voice channel members with `n/4` and the stream's status. The server renders it
/// empty and "Connecting…"; once hydrated it opens `/api/stream` and follows it. For a signed-in
/// `viewer` it also watches their own voice state and shows the dropout modal.
#[component]
pub fn MemberList(room: ChannelId, #[prop(into)] viewer: Signal<Option<Viewer>>) -> impl IntoView {
    let view = RwSignal::new(RosterView::default());
    let status = RwSignal::new(StreamStatus::Connecting);
    let watch = StoredValue::new(DropoutWatch::default());
    // Recomputed on every stream message, so the modal follows the event that changed it at once.
    let dropped = Memo::new(move |_| {
        let me = viewer.with(|viewer| viewer.as_ref().and_then(|viewer| viewer.user_id));
        // Not knowing (no viewer, or a roster still connecting to Discord) is not being absent.
        let present = match me {
            Some(me) => view.with(|view| view.presence(me)),
            None => Some(false),
        };
        let mut shown = false;
        watch.update_value(|watch| shown = watch.observe(present));
        shown
    });
    // The stream can be live while Discord is not: then the roster is frozen, and says so.
    let shown_status = move || view.with(|view| shown_status(status.get(), view));
    let rejoin = Signal::derive(move || {
        viewer.with(|viewer| viewer.as_ref().map(|v| discord_channel_link(v.guild_id, room)))
    });
    #[cfg(feature = "hydrate")]
    Effect::new(move || crate::live::connect(room, view, status));
    #[cfg(not(feature = "hydrate"))]
    let _ = room;

    view! {
        <section class="roster" data-status=move || shown_status().0 aria-live="polite">
            <header class="roster__header">
                <h2 class="roster__title">"At the table"</h2>
                <span class="roster__count">
                    {move || format!("{}/{ROOM_CAPACITY}", view.with(|view| view.members().len()))}
                </span>
                <span class="roster__status">{move || shown_status().1}</span>
            </header>
            <ul class="roster__list">
                <For
                    each=move || view.with(|view| view.members().to_vec())
                    key=|member| (member.user_id, member.username.clone(), member.avatar.clone())
                    children=|member| view! { <MemberItem member /> }
                />
            </ul>
            <Show when=move || view.with(|view| view.members().is_empty())>
                <p class="roster__empty">{move || view.with(empty_text)}</p>
            </Show>
            <DropoutModal open=dropped rejoin />
        </section>
    }
}

/// One player: avatar (or initial) and name.
#[component]
fn MemberItem(member: RoomMember) -> impl IntoView {
    let avatar = match avatar_url(&member) {
        Some(url) => view! { <img class="avatar" src=url alt="" width="40" height="40" /> }.into_any(),
        None => view! { <span class="avatar avatar--initial" aria-hidden="true">{initial(&member)}</span> }
            .into_any(),
    };
    view! {
        <li class="roster__member" data-user-id=member.user_id.to_string()>
            {avatar}
            <bdi class="roster__name">{member.username}</bdi>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_flips_text_direction_is_rendered_isolated() {
        let member = RoomMember {
            user_id: "11".parse().unwrap(),
            username: "\u{202E}nimda".to_owned(),
            avatar: None,
        };
        let html = view! { <MemberItem member /> }.to_html();
        assert!(
            html.contains("<bdi class=\"roster__name\">\u{202E}nimda</bdi>"),
            "{html}"
        );
    }
}
