//! `GET /health` and `GET /api/health`: the state of each part, as JSON.
//!
//! Parts: the database, and the Discord gateway (up once connected; otherwise its state, e.g.
//! `RECONNECTING` or `FATAL`). 200 when every part is up, 503 otherwise, so load balancers and uptime checks can use the status
//! alone. The body names parts and their state but never an internal error message.

use std::{collections::BTreeMap, time::Duration};

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use backend::discord::gateway::GatewayState;

use crate::state::AppState;
use model::health::{HealthReport, PartHealth, PartStatus};

/// A part that does not answer within this is reported down rather than holding the check open.
const PART_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let store = &state.store;
    let database = match tokio::time::timeout(PART_TIMEOUT, store.ping()).await {
        Ok(Ok(())) => PartHealth::up(),
        Ok(Err(err)) => {
            tracing::warn!(error = ?err, engine = store.engine(), "health: database check failed");
            PartHealth::down("database query failed")
        }
        Err(_) => PartHealth::down("database did not answer in time"),
    };
    let gateway = match *state.gateway.borrow() {
        GatewayState::Connected => PartHealth::up(),
        other => PartHealth::down(other.as_str()),
    };
    let report = HealthReport::new(
        env!("CARGO_PKG_VERSION"),
        BTreeMap::from([("database".to_owned(), database), ("gateway".to_owned(), gateway)]),
    );
    let status = match report.status {
        PartStatus::Up => StatusCode::OK,
        PartStatus::Down => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(report))
}
