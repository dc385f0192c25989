//! Wire types shared by the browser (WASM) and the server.
//!
//! # Layout
//!
//! * [`dev`]: what the development panel shows of the embedded simulator.
//! * [`error`]: [`error::AppError`], the one error type at the wire, with its HTTP status.
//! * [`event`]: [`event::AppEvent`], the one event type of the bus and the browser stream.
//! * [`health`]: the body of `/health` and `/api/health`.
//! * [`ids`]: typed Discord snowflakes, strings on the wire.
//! * [`room`]: game rooms and invites as the browser sees them, and the room name rule.
//! * [`viewer`]: who is looking at a page (the signed-in user and the guild).
//! * [`stream`]: the room snapshot that opens every browser stream.
//! * [`table`]: the pod's shared life totals and the rules a change follows.
//!
//! Nothing here performs I/O, so the crate builds for `wasm32-unknown-unknown` and the server alike;
//! server-only dependencies (sqlx, twilight-gateway, tokio) can never reach the WASM bundle through
//! it.
#![warn(missing_docs)]

pub mod dev;
pub mod error;
pub mod event;
pub mod health;
pub mod ids;
pub mod room;
pub mod stream;
pub mod table;
pub mod viewer;
