//! A protocol-faithful Discord simulator: gateway WebSocket, REST and OAuth2 on one loopback port.
//!
//! It is the product's embedded default when no Discord credentials are configured, and the peer
//! every integration test talks to. The real twilight and `oauth2` clients work against it
//! unchanged (see `reference/discord-protocol.md`).
//!
//! # Layout
//! * [`world`]: the one in-memory Discord (users, guild, channels, members, voice states).
//! * `core`: the single owner of all mutable state; changes publish dispatches atomically.
//! * `gateway`: HELLO, IDENTIFY, READY, heartbeats, RESUME, compression, faults.
//! * `rest`: `/api/v10`, one endpoint per file; `oauth`: authorize, token, revoke.
//! * `control`: the `/_sim` HTTP control endpoint; [`SimHandle`] is the same for Rust callers.

#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod config;
mod control;
mod core;
mod fault;
mod gateway;
mod handle;
mod id;
mod oauth;
mod rest;
mod router;
mod timestamp;
mod wire;
pub mod world;

pub use crate::config::{RateWindow, SimConfig};
pub use crate::core::{ConnectionInfo, Counters};
pub use crate::fault::{GatewayFault, RestFault, RestFaultRule};
pub use crate::gateway::close::GatewayClose;
pub use crate::gateway::inbound::{Command, MAX_PAYLOAD, decode as decode_client_frame};
pub use crate::handle::{DiscordSim, Endpoints, SimHandle, StartError};
pub use crate::id::Snowflake;
pub use crate::timestamp::format_unix_micros;
