//! `GET /api/v10/gateway/bot` — <https://discord.com/developers/docs/events/gateway#get-gateway-bot>

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::Bot;
use crate::core::Core;

#[derive(Serialize)]
pub(crate) struct GatewayBot {
    url: String,
    shards: u32,
    session_start_limit: SessionStartLimit,
}

#[derive(Serialize)]
struct SessionStartLimit {
    total: u32,
    remaining: u64,
    reset_after: u64,
    max_concurrency: u32,
}

/// The simulator's own `ws://` URL and the identify budget left.
pub(crate) async fn get(_bot: Bot, State(core): State<Arc<Core>>) -> Json<GatewayBot> {
    let used = core.lock().counters.identifies;
    let total = core.config.identify_budget;
    Json(GatewayBot {
        url: core.gateway_url(),
        shards: 1,
        session_start_limit: SessionStartLimit {
            total,
            remaining: u64::from(total).saturating_sub(used),
            reset_after: 14_400_000,
            max_concurrency: core.config.max_concurrency,
        },
    })
}
