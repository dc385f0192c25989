//! Server functions (replacing the original product's `createServerFn`), one file per resource.
//!
//! Each body is an adapter: take state from context, call the backend, and return a
//! [`model::error::AppError`] on failure. The server answers such a failure with the error's own
//! HTTP status (a middleware in `server` sets it, also for argument errors the framework raises
//! before a body runs).

pub mod dev;
pub mod viewer;

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Server-side plumbing shared by the server functions.

    /// The embedded Discord simulator, provided as context only when the server runs on it.
    #[derive(Debug, Clone)]
    pub struct DevSimulator(pub discord_sim::SimHandle);

    /// The guild hosting the game rooms, provided as context to every page and server function.
    #[derive(Debug, Clone, Copy)]
    pub struct SiteGuild(pub model::ids::GuildId);
}
