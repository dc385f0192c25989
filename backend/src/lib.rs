//! Server-only logic that knows nothing about HTTP.
//!
//! # Layout
//!
//! * [`config`]: the one typed configuration, read from the environment at startup.
//! * [`roster`]: who is in which voice channel, and gateway events → app events.
//! * [`store`]: persistence over SQLite (embedded default) or PostgreSQL.
//!
//! The WASM bundle never depends on this crate, so sqlx (and later twilight) cannot reach it.
#![warn(missing_docs)]

pub mod config;
pub mod roster;
pub mod store;

pub use config::Config;
pub use store::Store;
