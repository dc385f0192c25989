//! HTTP routes that are neither Leptos pages nor server functions, each beside its handler.

pub mod assets;
pub(crate) mod auth;
pub(crate) mod health;
pub mod hub;
pub(crate) mod server_fn_status;
pub mod stream;
