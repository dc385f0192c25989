//! Integration tests of the whole server: real HTTP on port 0, a real database, and headless
//! Chromium for what only a browser can prove (hydration).

#![allow(
    unreachable_pub,
    reason = "a test binary has no public API; `pub` marks what its modules share"
)]
#![allow(clippy::unwrap_used, reason = "a failed unwrap in a test is the assertion")]

mod a11y;
mod assets;
mod auth;
mod authz_matrix;
mod browser;
mod csrf;
mod dev_panel;
mod dropout;
mod fuzz;
mod game_room;
mod health;
mod helpers;
mod hub;
mod invite_preview;
mod ip_budget;
mod janitor;
mod landing;
mod life;
mod life_totals;
mod metrics;
mod no_script;
mod outage;
mod pages;
mod players;
mod process;
mod reconciler;
mod restart;
mod room_flow;
mod room_pages;
mod rooms;
mod security_headers;
mod sessions;
mod shutdown;
mod site_config;
mod stream;
mod stream_authz;
mod stream_limits;
mod table;
