//! The live table of a game room: its four seats, each merging a player with their voice status,
//! and apart from them whoever is in the voice channel without a seat; updated in place. A voice
//! channel that is no room (the demo Lobby) shows the plain list of who is in it.
//!
//! Each seated player's life totals sit in their seat (see `life_counters`); the table's history
//! and the owner's "New game" sit under the seats.
//!
//! Names come from Discord and may hold anything, U+202E included: each is a `<bdi>`, so it cannot
//! reorder the text around it.

use leptos::prelude::*;
use model::{
    event::SeatFreedReason,
    ids::ChannelId,
    room::{room_path, sign_in_path},
    stream::RoomMember,
    table::Counter,
    viewer::Viewer,
};

use crate::{
    components::{
        dropout_modal::DropoutModal,
        life_counters::{LifeCounters, LifeTable, TableFooter},
    },
    countdown::now_ms,
    roster_view::{
        DropoutWatch, ROOM_CAPACITY, RosterView, SeatView, StreamStatus, Voice, avatar_url,
        discord_channel_link, empty_text, initial, shown_status,
    },
    table_view::TableView,
};

/// How often the drop timers move.
const TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// The room's table (or a channel's members) with `n/4` and the stream's status. The server
/// renders it empty and "Connecting…"; once hydrated it opens `/api/stream` and follows it into
/// `view` (the page's, when it shares the table with other parts). For a signed-in `viewer` it also
/// watches their own voice state and shows the dropout modal. In a game room each seat shows its
/// player's life totals, followed into `table` (the page's, when shared).
#[component]
pub fn MemberList(
    room: ChannelId,
    #[prop(into)] viewer: Signal<Option<Viewer>>,
    #[prop(optional)] view: Option<RwSignal<RosterView>>,
    #[prop(optional)] table: Option<RwSignal<TableView>>,
    #[prop(optional)] status: Option<RwSignal<StreamStatus>>,
) -> impl IntoView {
    let view = view.unwrap_or_else(|| RwSignal::new(RosterView::default()));
    let table = table.unwrap_or_else(|| RwSignal::new(TableView::default()));
    // The browser's clock, moved every second so drop timers count; corrected by the server's.
    let now = RwSignal::new(now_ms());
    #[cfg(feature = "hydrate")]
    {
        let ticking = set_interval_with_handle(move || now.set(now_ms()), TICK);
        on_cleanup(move || {
            if let Ok(handle) = ticking {
                handle.clear();
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = TICK;
    let server_now = Signal::derive(move || view.with(|view| view.server_now(now.get())));
    let status = status.unwrap_or_else(|| RwSignal::new(StreamStatus::Connecting));
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
    Effect::new(move || crate::live::connect(room, view, table, status));
    let life = LifeTable {
        room,
        table,
        roster: view,
        me: Signal::derive(move || viewer.with(|viewer| viewer.as_ref().and_then(|viewer| viewer.user_id))),
        server_now,
        problem: RwSignal::new(None),
        following: Signal::derive(move || !status.get().is_final()),
    };

    let is_table = move || view.with(|view| view.seats().is_some());
    view! {
        <section class="roster" data-status=move || shown_status().0>
            // Joins and leaves, heard rather than seen; rendered empty by the server so that the
            // region exists before its first message (a region added with its text is not read).
            <p class="sr-only roster__announcement" aria-live="polite" role="status">
                {move || view.with(|view| view.last_announcement().map(|said| said.text.clone()))}
            </p>
            <header class="roster__header">
                <h2 class="roster__title">"At the table"</h2>
                <span class="roster__count">
                    {move || format!("{}/{ROOM_CAPACITY}", view.with(RosterView::count).min(ROOM_CAPACITY))}
                </span>
                <span class="roster__status">{move || shown_status().1}</span>
            </header>
            <StreamEnded status room />
            // Text only: a browser running scripts keeps a `<noscript>`'s content as one text node,
            // as one without them does, so the page hydrates the same either way.
            <noscript class="roster__noscript">
                "Who sits where comes live from Discord, which needs JavaScript: turn it on to see the table."
            </noscript>
            <Show when=is_table fallback=move || view! { <ChannelList view /> }>
                <SeatTable view server_now life />
            </Show>
            <DropoutModal open=dropped rejoin announcement=move || view.with(|view| view.last_announcement().map(|said| said.text.clone())) />
        </section>
    }
}

/// Why the table stopped following, when the server will not let this viewer follow it again:
/// their session ended (with the way back in), or they are no longer one of its players.
#[component]
fn StreamEnded(status: RwSignal<StreamStatus>, room: ChannelId) -> impl IntoView {
    move || match status.get() {
        StreamStatus::SignedOut => Some(
            view! {
                <p class="roster__ended" role="alert">
                    "You were signed out, so this table stopped following Discord. "
                    <a href=sign_in_path(&room_path(room)) rel="external">
                        "Sign in again"
                    </a>
                </p>
            }
            .into_any(),
        ),
        StreamStatus::NotAPlayer => Some(
            view! {
                <p class="roster__ended" role="alert">
                    "You are no longer a player at this table, so it stopped following Discord."
                </p>
            }
            .into_any(),
        ),
        _ => None,
    }
}

/// Who is in a voice channel that is no room (the demo Lobby): a plain list.
#[component]
fn ChannelList(view: RwSignal<RosterView>) -> impl IntoView {
    view! {
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
    }
}

/// A room's four seats, the table's history, the last departure, and who is in the channel
/// without a seat.
#[component]
fn SeatTable(view: RwSignal<RosterView>, server_now: Signal<i64>, life: LifeTable) -> impl IntoView {
    let unseated = move || view.with(RosterView::unseated);
    view! {
        <ol class="seats">
            // Keyed, so a seat (with its focus and an open form) is rebuilt only when it changes.
            <For
                each=move || view.with(RosterView::seat_views).unwrap_or_default()
                key=|seat| {
                    (seat.seat.user_id, seat.seat.username.clone(), seat.avatar.clone(), seat.seat.owner, seat.voice)
                }
                children=move |seat| view! { <SeatItem seat server_now life /> }
            />
            {move || {
                let empty = ROOM_CAPACITY.saturating_sub(view.with(|view| view.seats().map_or(0, <[_]>::len)));
                (0..empty)
                    .map(|_| {
                        view! {
                            <li class="seat seat--empty">
                                <span class="seat__empty">"Empty seat"</span>
                            </li>
                        }
                    })
                    .collect_view()
            }}
        </ol>
        <TableFooter life />
        {move || {
            view.with(|view| view.departure().cloned())
                .map(|gone| {
                    let (reason, text) = match gone.reason {
                        SeatFreedReason::Left => ("left", " left the game"),
                        SeatFreedReason::Removed => ("removed", " was removed by the host"),
                    };
                    view! {
                        <p class="table__departure" data-reason=reason>
                            <bdi>{gone.username}</bdi>
                            {text}
                        </p>
                    }
                })
        }}
        <Show when=move || !unseated().is_empty()>
            <div class="roster__unseated">
                <h3 class="roster__subtitle">"In the channel, not seated"</h3>
                <ul class="roster__list">
                    <For
                        each=unseated
                        key=|member| (member.user_id, member.username.clone(), member.avatar.clone())
                        children=|member| view! { <MemberItem member /> }
                    />
                </ul>
            </div>
        </Show>
    }
}

/// One seat: avatar (or initial), name, the owner's badge and the voice status, whose drop timer
/// counts on `server_now`; with `life`, the player's life totals. Such a seat takes the keyboard
/// focus, and `+` (or `=`, the same key unshifted) and `-` then change their life by one.
#[component]
fn SeatItem(
    seat: SeatView,
    #[prop(into)] server_now: Signal<i64>,
    #[prop(optional)] life: Option<LifeTable>,
) -> impl IntoView {
    let SeatView { seat, avatar, voice } = seat;
    let user = seat.user_id;
    let member = RoomMember {
        user_id: seat.user_id,
        username: seat.username.clone(),
        avatar,
    };
    let picture = match avatar_url(&member) {
        Some(url) => {
            view! { <img class="avatar seat__avatar" src=url alt="" width="56" height="56" /> }.into_any()
        }
        None => view! {
            <span class="avatar avatar--initial seat__avatar" aria-hidden="true">
                {initial(&member)}
            </span>
        }
        .into_any(),
    };
    let badge = seat
        .owner
        .then(|| view! { <span class="seat__owner">"Host"</span> });
    let lethal = move || {
        life.is_some_and(|life| {
            life.table
                .with(|table| table.totals(user).is_some_and(|totals| totals.is_lethal()))
        })
    };
    let on_key = move |event: leptos::ev::KeyboardEvent| {
        let Some(life) = life else { return };
        if typing(&event) {
            return;
        }
        let delta = match event.key().as_str() {
            "+" | "=" => 1,
            "-" => -1,
            _ => return,
        };
        event.prevent_default();
        life.change(user, Counter::Life, delta);
    };
    let counters = life.map(|life| view! { <LifeCounters life user /> });
    view! {
        <li
            class=move || if lethal() { "seat seat--lethal" } else { "seat" }
            data-user-id=seat.user_id.to_string()
            data-voice=voice.as_str()
            tabindex=life.map(|_| "0")
            on:keydown=on_key
        >
            {picture}
            <span class="seat__who">
                <bdi class="seat__name">{seat.username}</bdi>
                {badge}
            </span>
            <span class="seat__voice">
                {move || voice.label(server_now.get())}
                {matches!(voice, Voice::Dropped { .. }).then(|| view! { <span class="seat__held">"seat held"</span> })}
            </span>
            {counters}
        </li>
    }
}

/// Whether a key press is typing into a field (a commander's name), not a shortcut.
fn typing(event: &leptos::ev::KeyboardEvent) -> bool {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|element| matches!(element.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = event;
        false
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
    fn a_seat_shows_its_players_totals_with_stable_selectors_and_why_they_are_lethal() {
        let room: ChannelId = "4000000000000000001".parse().unwrap();
        let seat = |user: &str, name: &str| {
            format!(
                r#"{{"userId":"{user}","username":"{name}","avatar":null,"owner":false,"droppedAtMs":null}}"#
            )
        };
        let seats = format!(
            r#"{{"channelId":"{room}","seats":[{},{}],"serverNowMs":0}}"#,
            seat("10", "Alice"),
            seat("11", "Bob")
        );
        let totals = |user: &str, poison: i32| {
            format!(
                r#"{{"userId":"{user}","life":40,"poison":{poison},"commanders":["Tymna"],"damage":[],"seq":1}}"#
            )
        };
        let state = format!(
            r#"{{"channelId":"{room}","startingLife":40,"seq":1,"players":[{},{}],"history":[]}}"#,
            totals("10", 10),
            totals("11", 0)
        );
        let html = Owner::new().with(|| {
            let roster = RwSignal::new(RosterView::default());
            roster.update(|roster| {
                roster.apply(room, "seats", &seats).unwrap();
            });
            let table = RwSignal::new(TableView::default());
            table.update(|table| table.apply(room, "table", &state).unwrap());
            let life = LifeTable {
                room,
                table,
                roster,
                me: Signal::derive(|| "11".parse().ok()),
                server_now: Signal::derive(|| 0),
                problem: RwSignal::new(None),
                following: Signal::derive(|| true),
            };
            let seat = roster.with_untracked(|roster| roster.seat_views().unwrap().remove(0));
            view! { <SeatItem seat server_now=Signal::derive(|| 0) life /> }.to_html()
        });
        assert!(html.contains(r#"class="seat seat--lethal""#), "{html}");
        assert!(html.contains(r#"tabindex="0""#), "{html}");
        assert!(
            html.contains(r#"data-life="40""#) && html.contains(r#"data-poison="10""#),
            "{html}"
        );
        assert!(html.contains("lethal: 10 poison"), "{html}");
        assert!(
            html.contains(r#"data-counter="commander:11:0" data-delta="1""#),
            "a row for Bob's commander: {html}"
        );
        assert!(html.contains(">Tymna</bdi>"), "{html}");
        assert!(
            !html.contains("commanders__toggle"),
            "Bob names only his own: {html}"
        );
    }

    #[test]
    fn a_seat_shows_its_owner_badge_its_drop_and_an_isolated_name() {
        let seat = SeatView {
            seat: model::stream::Seat {
                user_id: "11".parse().unwrap(),
                username: "\u{202E}nimda".to_owned(),
                avatar: None,
                owner: true,
                dropped_at_ms: Some(1_000),
            },
            avatar: None,
            voice: Voice::Dropped { since_ms: 1_000 },
        };
        // Signals live in a reactive owner's arena.
        let html =
            Owner::new().with(|| view! { <SeatItem seat server_now=Signal::derive(|| 126_000) /> }.to_html());
        assert!(
            html.contains("<bdi class=\"seat__name\">\u{202E}nimda</bdi>"),
            "{html}"
        );
        assert!(html.contains("data-voice=\"dropped\""), "{html}");
        assert!(html.contains("dropped 2:05 ago"), "{html}");
        assert!(html.contains("seat__owner"), "{html}");
    }

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
