//! The state every handler shares.

use axum::extract::FromRef;
use backend::Store;
use leptos::config::LeptosOptions;

/// Cheap-clone handles only: each piece of mutable state has its own owner behind its handle.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    /// Site settings Leptos needs to render pages and serve `/pkg`.
    pub leptos_options: LeptosOptions,
    /// The database.
    pub store: Store,
}

const _: fn() = || {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    assert_shareable::<AppState>();
};
