//! HTTP routes that are neither Leptos pages nor server functions, each beside its handler.

pub(crate) mod health;
pub mod stream;
