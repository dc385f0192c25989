//! The Leptos application, rendered on the server (`ssr`) and hydrated in the browser (`hydrate`).
//!
//! # Layout
//!
//! * [`shell`]: the HTML document around the app (server side only).
//! * [`App`]: the route table.
//! * [`pages`]: one file per route, each a `*Page` component.
//! * [`components`]: reusable view pieces (the live member list).
//! * [`recent_invites`]: invite links this browser was just given (the server keeps only hashes).
//! * [`countdown`]: time left, in words.
//! * [`roster_view`]: the member list's state and how stream messages change it (pure).
//! * [`table_view`]: the pod's life totals and how stream messages change them (pure).
//! * `live` (browser only): the `EventSource` that feeds both.
//! * [`server_fns`]: server functions, one file per resource.

// Leptos encodes a page's whole view tree in its type; the game room's is deeper than rustc's default
// query depth allows when it computes the layout of the hydrating future.
#![recursion_limit = "256"]

pub mod components;
pub mod countdown;
#[cfg(feature = "hydrate")]
mod live;
pub mod pages;
pub mod recent_invites;
pub mod roster_view;
pub mod server_fns;
pub mod table_view;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, Link, MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Route, Router, Routes},
    path,
};

use crate::pages::{
    game_room::GameRoomPage, invite::InvitePage, landing::LandingPage, not_found::NotFoundPage,
};

/// The whole HTML document; the server renders it around [`App`] for every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                // The stylesheet's name comes from the site build's hash file when the server
                // serves a fingerprinted (release) site, so it is linked here, on the server.
                <HashedStylesheet id="leptos" options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The application: metadata and the route table.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    recent_invites::RecentInvites::provide();
    view! {
        <Title text="Spell Coven" />
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Router>
            <Routes fallback=NotFoundPage>
                // Rendered whole before it is sent: a signed-in player's first paint is theirs.
                <Route path=path!("/") view=LandingPage ssr=SsrMode::Async />
                // Rendered whole before it is sent: the first paint is the room's true state.
                <Route path=path!("/game/:channel_id") view=GameRoomPage ssr=SsrMode::Async />
                // Rendered whole before it is sent: the first paint says what the link is for.
                <Route path=path!("/invite/:token") view=InvitePage ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}
