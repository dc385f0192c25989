//! Server-only logic that knows nothing about HTTP.
//!
//! # Layout
//!
//! * [`bus`]: [`bus::EventBus`], app events from their producers to every fan-out.
//! * [`cluster`]: what the split roles share through Redis: the event Stream, the gateway lease.
//! * [`discord`]: the gateway task (the only producer of Discord events).
//! * [`hub`]: [`hub::Hub`], the seeds' HMAC hub: signed events from outside, replays refused.
//! * [`config`]: the one typed configuration, read from the environment at startup.
//! * [`metric_names`]: the name and meaning of every Prometheus metric.
//! * [`link`]: the gateway link (seeds 000/002): [`link::server::LinkServer`] on the gateway role,
//!   [`link::client::LinkClient`] on web instances, carrying every bot-token call.
//! * [`live`]: [`live::Live`], the per-room fan-out: snapshots, replay, SSE frames.
//! * [`rate_limit`]: [`rate_limit::RateLimiter`], per-user request budgets for server functions,
//!   and [`rate_limit::Budget`], the same kept per any key (client addresses).
//! * [`rooms`]: [`rooms::Rooms`], game rooms and invites, and the idle-room janitor.
//! * [`roster`]: who is in which voice channel, and gateway events → app events.
//! * [`session`]: the session store (records encrypted at rest, expired ones swept) and
//!   [`session::UserSession`], the typed view of a session.
//! * [`store`]: persistence over SQLite (embedded default) or PostgreSQL.
//! * [`supervisor`]: [`supervisor::Supervisor`], the one owner of every background task.
//! * [`table`]: [`table::Table`], the pod's shared life totals: who may change what, and the
//!   events every page follows.
//!
//! The WASM bundle never depends on this crate, so sqlx (and later twilight) cannot reach it.
#![warn(missing_docs)]

pub mod bus;
pub mod cluster;
pub mod config;
pub mod discord;
pub mod hub;
pub mod link;
pub mod live;
pub mod metric_names;
pub mod rate_limit;
pub mod rooms;
pub mod roster;
pub mod session;
pub mod store;
pub mod supervisor;
pub mod table;

pub use config::Config;
pub use store::Store;
