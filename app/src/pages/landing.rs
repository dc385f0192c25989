//! The landing page: what Spell Coven is, and the way in (sign in with Discord); for a signed-in
//! player, creating a game and their games.

use leptos::prelude::*;

use crate::{
    components::{create_room::CreateRoomForm, my_rooms::MyRooms},
    server_fns::viewer::load_viewer,
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

/// The home page.
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
    // Only the browser asks who is signed in; the server renders the signed-out state.
    let viewer = LocalResource::new(load_viewer);

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
            <p class="landing__actions">
                {move || match viewer.get().and_then(Result::ok).and_then(|viewer| viewer.username) {
                    Some(name) => {
                        view! {
                            <span class="landing__user">"Signed in as " <strong><bdi>{name}</bdi></strong></span>
                            <form method="post" action="/auth/logout" class="landing__logout">
                                <button class="button button--secondary" type="submit">"Sign out"</button>
                            </form>
                        }
                            .into_any()
                    }
                    None => {
                        view! {
                            <a class="button" href="/auth/login" rel="external">"Sign in with Discord"</a>
                        }
                            .into_any()
                    }
                }}
            </p>
            <Show when=move || {
                viewer.get().and_then(Result::ok).is_some_and(|viewer| viewer.user_id.is_some())
            }>
                <CreateRoomForm />
                <MyRooms />
            </Show>
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
