//! The page for any path the app does not know.

use leptos::prelude::*;

/// "Not found", with a way back home. The server answers it with status 404.
#[component]
pub fn NotFoundPage() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="page page--centered">
            <h1>"This page does not exist"</h1>
            <p>"The link may be mistyped, or the game room it pointed to has closed."</p>
            <p class="game-over__actions">
                <a class="button" href="/">"Return home"</a>
                <GoBack />
            </p>
        </main>
    }
}

/// "Go back" to the previous page (a button the browser runs once the page is live).
#[component]
pub fn GoBack() -> impl IntoView {
    view! {
        <button
            class="button button--secondary go-back"
            type="button"
            on:click=move |_| {
                #[cfg(feature = "hydrate")]
                if let Ok(history) = window().history() {
                    let _ = history.back();
                }
            }
        >
            "Go back"
        </button>
    }
}
