//! Health for operators: `GET /health` and `GET /api/health` (the state of each part),
//! `GET /health/live` (the process answers) and `GET /health/ready` (send it traffic or not).
//!
//! Parts: the database, and the Discord gateway (up once connected; otherwise its state, e.g.
//! `RECONNECTING` or `FATAL`). `/health` is 200 when every part is up, 503 otherwise, so load balancers and uptime checks can use the status
//! alone. The body names parts and their state but never an internal error message.
//!
//! `/health/ready` tolerates what heals by itself: while the gateway reconnects it answers 200
//! `degraded` for `READY_GRACE_SECS` (counted from when it stopped being connected), because a
//! reconnect takes seconds and every instance would be in the same outage; beyond the grace, with
//! the database down, with the gateway `FATAL` (an operator must act) or while shutting down, 503.

use std::{collections::BTreeMap, time::Duration};

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use backend::discord::gateway::GatewayState;
use serde::Serialize;
use tokio::time::Instant;

use crate::state::AppState;
use model::health::{HealthReport, PartHealth, PartStatus};

/// A part that does not answer within this is reported down rather than holding the check open.
const PART_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let database = database(&state).await;
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

/// The database's answer to a ping, within [`PART_TIMEOUT`].
async fn database(state: &AppState) -> PartHealth {
    let store = &state.store;
    match tokio::time::timeout(PART_TIMEOUT, store.ping()).await {
        Ok(Ok(())) => PartHealth::up(),
        Ok(Err(err)) => {
            tracing::warn!(error = ?err, engine = store.engine(), "health: database check failed");
            PartHealth::down("database query failed")
        }
        Err(_) => PartHealth::down("database did not answer in time"),
    }
}

/// `GET /health/live`: 200 whenever the process answers; nothing else is checked, so an
/// orchestrator restarts the process only when it is truly stuck.
pub(crate) async fn live() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "live" }))
}

/// `GET /health/ready`: whether this instance should receive traffic (see the module doc).
pub(crate) async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let database_up = database(&state).await.status == PartStatus::Up;
    let gateway = *state.gateway.borrow();
    let down_since = *state.gateway_down_since.borrow();
    let task_failed = state.tasks.borrow().failed.as_ref().map(|failure| failure.task);
    let verdict = readiness(&Inputs {
        task_failed,
        shutting_down: state.shutdown.is_cancelled(),
        database_up,
        gateway,
        down_for: down_since.map(|since| Instant::now().saturating_duration_since(since)),
        grace: state.operations.ready_grace,
    });
    let status = if verdict.status == Status::Unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(verdict))
}

/// What readiness is decided from, sampled once per request.
#[derive(Debug, Clone, Copy)]
struct Inputs {
    /// The background task whose panic is stopping the process, if one did.
    task_failed: Option<&'static str>,
    shutting_down: bool,
    database_up: bool,
    gateway: GatewayState,
    /// How long the gateway has not been connected (`None`: it is connected).
    down_for: Option<Duration>,
    grace: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Ready,
    Degraded,
    Unavailable,
}

/// The body of `/health/ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Readiness {
    status: Status,
    /// Why it is not `ready`, for the operator reading it.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The gateway's state (`CONNECTED`, `RECONNECTING`, …).
    gateway: &'static str,
    /// Whole seconds the gateway has not been connected (absent while it is).
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway_down_secs: Option<u64>,
}

/// The pure decision, so every boundary is tested on explicit durations.
fn readiness(inputs: &Inputs) -> Readiness {
    let gateway = inputs.gateway.as_str();
    let down_secs = inputs.down_for.map(|down| down.as_secs());
    let verdict = |status, reason: Option<String>| Readiness {
        status,
        reason,
        gateway,
        gateway_down_secs: down_secs,
    };
    if let Some(task) = inputs.task_failed {
        return verdict(
            Status::Unavailable,
            Some(format!("the background task `{task}` failed; shutting down")),
        );
    }
    if inputs.shutting_down {
        return verdict(Status::Unavailable, Some("shutting down".to_owned()));
    }
    if !inputs.database_up {
        return verdict(
            Status::Unavailable,
            Some("the database does not answer".to_owned()),
        );
    }
    if let GatewayState::Fatal(code) = inputs.gateway {
        return verdict(
            Status::Unavailable,
            Some(format!(
                "Discord refused the bot for good (close code {code}); the configuration needs fixing"
            )),
        );
    }
    match inputs.down_for {
        None if inputs.gateway == GatewayState::Connected => verdict(Status::Ready, None),
        down_for => {
            let down_for = down_for.unwrap_or_default();
            let secs = down_for.as_secs();
            if down_for <= inputs.grace {
                verdict(
                    Status::Degraded,
                    Some(format!(
                        "the Discord gateway is {gateway} (not connected for {secs} s, within the {} s grace)",
                        inputs.grace.as_secs()
                    )),
                )
            } else {
                verdict(
                    Status::Unavailable,
                    Some(format!(
                        "the Discord gateway is {gateway} (not connected for {secs} s, beyond the {} s grace)",
                        inputs.grace.as_secs()
                    )),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(30);

    fn inputs(gateway: GatewayState, down_for: Option<u64>) -> Inputs {
        Inputs {
            task_failed: None,
            shutting_down: false,
            database_up: true,
            gateway,
            down_for: down_for.map(Duration::from_secs),
            grace: GRACE,
        }
    }

    fn status(inputs: &Inputs) -> Status {
        readiness(inputs).status
    }

    #[test]
    fn a_failed_background_task_takes_the_instance_out_and_is_named() {
        let verdict = readiness(&Inputs {
            task_failed: Some("janitor"),
            shutting_down: true,
            ..inputs(GatewayState::Connected, None)
        });
        assert_eq!(verdict.status, Status::Unavailable);
        assert!(verdict.reason.unwrap().contains("`janitor`"));
    }

    #[test]
    fn connected_with_a_database_is_ready_without_a_reason() {
        let verdict = readiness(&inputs(GatewayState::Connected, None));
        assert_eq!(verdict.status, Status::Ready);
        assert_eq!(verdict.reason, None);
        assert_eq!(
            serde_json::to_value(&verdict).unwrap(),
            serde_json::json!({"status": "ready", "gateway": "CONNECTED"})
        );
    }

    #[test]
    fn reconnecting_is_degraded_up_to_the_grace_then_unavailable() {
        for state in [
            GatewayState::Reconnecting,
            GatewayState::Connecting,
            GatewayState::Identifying,
            GatewayState::Disconnected,
        ] {
            assert_eq!(status(&inputs(state, Some(0))), Status::Degraded, "{state:?}");
            assert_eq!(status(&inputs(state, Some(30))), Status::Degraded, "{state:?}");
            assert_eq!(status(&inputs(state, Some(31))), Status::Unavailable, "{state:?}");
        }
        let verdict = readiness(&inputs(GatewayState::Reconnecting, Some(4)));
        assert_eq!(verdict.gateway_down_secs, Some(4));
        assert!(
            verdict.reason.as_deref().unwrap().contains("RECONNECTING"),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_grace_of_zero_takes_an_instance_out_as_soon_as_a_second_passes() {
        let mut zero = inputs(GatewayState::Reconnecting, Some(1));
        zero.grace = Duration::ZERO;
        assert_eq!(status(&zero), Status::Unavailable);
    }

    #[test]
    fn fatal_a_lost_database_and_shutting_down_are_unavailable_at_once() {
        assert_eq!(
            status(&inputs(GatewayState::Fatal(4004), Some(0))),
            Status::Unavailable
        );
        let mut no_database = inputs(GatewayState::Connected, None);
        no_database.database_up = false;
        assert_eq!(status(&no_database), Status::Unavailable);
        let mut stopping = inputs(GatewayState::Connected, None);
        stopping.shutting_down = true;
        assert_eq!(status(&stopping), Status::Unavailable);
    }
}
