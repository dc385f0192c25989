//! The landing page: what Spell Coven is, and the way in (sign in with Discord); for a signed-in
//! player, creating a game and their games.

use leptos::prelude::*;

use model::{error::AppError, room::RoomSummary};

use crate::{
    components::{create_room::CreateRoomForm, my_rooms::MyRooms},
    server_fns::{rooms::load_my_rooms, viewer::load_viewer},
};

/// The steps of a game night, shown by the "How it works" toggle.
const STEPS: [(&str, &str); 3] = [
    (
        "Sign in with Discord",
        "Your Discord account is your player identity; no new password.",
    ),
    (
        "Create a game room",
        "A private voice channel for up to four players, made for you.",
    ),
    (
        "Share the invite",
        "Friends open the link, join the voice channel, and the table is set.",
    ),
];

/// The home page. Rendered whole by the server (`SsrMode::Async`), so a signed-in player's first
/// paint is theirs (who they are, "Create a game", their games) before any WASM arrives.
///
/// The "How it works" button is the page's first interactive element: it only works once the WASM
/// bundle has hydrated the page, and `data-hydrated` on the root says when that has happened (the
/// browser tests wait on it before clicking).
#[component]
pub fn LandingPage() -> impl IntoView {
    let (hydrated, set_hydrated) = signal(false);
    // Effects never run on the server, so this flips only in a hydrated browser.
    Effect::new(move || set_hydrated.set(true));
    let (show_steps, set_show_steps) = signal(false);
    // Made here, once, and awaited by the server's render; the browser reads what it sent.
    let viewer = Resource::new_blocking(|| (), |()| load_viewer());
    let rooms = Resource::new_blocking(|| (), |()| load_my_rooms());

    view! {
        <main class="page landing" data-hydrated=move || hydrated.get().to_string()>
            <header class="hero">
                <p class="hero__eyebrow">"Paper Magic, together, over Discord"</p>
                <h1 class="hero__title">"Spell Coven"</h1>
                <p class="hero__lede">
                    "Gather up to four players in a private Discord voice channel and see, live, who
                    is at the table."
                </p>
            </header>
            <Suspense fallback=|| view! { <p class="landing__actions"></p> }>
                {move || {
                    viewer
                        .get()
                        .map(|viewer| {
                            match viewer.ok().and_then(|viewer| viewer.username) {
                                Some(name) => view! { <SignedIn name rooms /> }.into_any(),
                                None => {
                                    view! {
                                        <p class="landing__actions">
                                            <a class="button" href="/auth/login" rel="external">
                                                "Sign in with Discord"
                                            </a>
                                        </p>
                                    }
                                        .into_any()
                                }
                            }
                        })
                }}
            </Suspense>
            <section class="how">
                <button
                    id="how-it-works"
                    class="button"
                    aria-expanded=move || show_steps.get().to_string()
                    aria-controls="how-steps"
                    on:click=move |_| set_show_steps.update(|shown| *shown = !*shown)
                >
                    {move || if show_steps.get() { "Hide how it works" } else { "How it works" }}
                </button>
                <Show when=move || show_steps.get()>
                    <ol id="how-steps" class="how__steps">
                        {STEPS
                            .iter()
                            .map(|(title, text)| {
                                view! {
                                    <li class="how__step">
                                        <strong>{*title}</strong>
                                        <span>{*text}</span>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ol>
                </Show>
            </section>
        </main>
    }
}

/// What a signed-in player has on the home page: who they are (and the way out), a new game, and
/// their games.
#[component]
fn SignedIn(name: String, rooms: Resource<Result<Vec<RoomSummary>, AppError>>) -> impl IntoView {
    view! {
        // A `div`, not a `p`: a `<form>` closes an open `<p>` when the browser parses the server's
        // HTML, and the page would then not hydrate (its DOM would not be the one rendered).
        <div class="landing__actions">
            <span class="landing__user">"Signed in as " <strong><bdi>{name}</bdi></strong></span>
            <form method="post" action="/auth/logout" class="landing__logout">
                <button class="button button--secondary" type="submit">"Sign out"</button>
            </form>
        </div>
        <CreateRoomForm />
        <MyRooms rooms />
    }
}
