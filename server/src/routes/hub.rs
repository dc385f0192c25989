//! `POST /api/internal/events`: the seeds' HMAC hub (seed 001, DESIGN.md §4.5), where a trusted
//! program (the seeds' gateway worker) posts guild events signed with `HUB_SECRET`.
//!
//! The contract (headers, signature, timestamp window, events) is `backend::hub`'s. This adapter
//! reads the body with a size limit and a deadline, hands it over, and publishes an accepted event
//! on the bus like a gateway event (202, empty body). A refusal is the usual JSON error,
//! `{"error": "hub", "message": "<CODE>"}`, with the status the code names (400, 403, 408, 409,
//! 413, 503). Without `HUB_SECRET` (and on a gateway-role process, which serves no viewers) the
//! route is not mounted: its path is answered like any unknown path (404).
//!
//! The signature replaces the cross-origin check for this path alone (`guard::csrf`): the sender
//! is not a browser, sends JSON, and proves itself with the secret instead.

use std::time::{Duration, SystemTime};

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header::CONTENT_LENGTH},
    response::{IntoResponse, Response},
};
use backend::hub::{AcceptError, Hub, MAX_BODY, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use bytes::Bytes;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use model::{
    error::{AppError, HubError},
    event::AppEvent,
};

use crate::{error::HttpError, state::AppState};

/// The hub's path.
pub const PATH: &str = "/api/internal/events";
/// How long the whole body may take to arrive: a few hundred bytes from a program on a nearby
/// network, so a sender still dribbling after this long is holding a connection, not sending.
const BODY_WITHIN: Duration = Duration::from_secs(10);

pub(crate) async fn events(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    // Not mounted without a hub (see `startup::router`); should it be reached anyway, it still
    // does not exist.
    let Some(hub) = &state.hub else {
        return HttpError(AppError::NotFound).into_response();
    };
    let outcome = receive(hub, &headers, body).await;
    let label = match &outcome {
        Ok(_) => "accepted",
        Err(err) => err.reason().code(),
    };
    metrics::counter!(backend::metric_names::HUB_REQUESTS, "outcome" => label).increment(1);
    match outcome {
        Ok(event) => {
            tracing::info!(event = event.name(), "hub event accepted");
            state.bus.publish(event);
            StatusCode::ACCEPTED.into_response()
        }
        Err(err) => {
            if let AcceptError::Refused(reason) = &err {
                // Not a warning: the sender is told exactly why, and the metric counts refusals.
                tracing::info!(reason = reason.code(), "hub request refused");
            }
            HttpError(AppError::from(err)).into_response()
        }
    }
}

/// The event of a signed request. The headers are looked at before the body is read, so a
/// request that cannot be signed is refused without waiting for it.
async fn receive(hub: &Hub, headers: &HeaderMap, body: Body) -> Result<AppEvent, AcceptError> {
    let timestamp = headers.get(TIMESTAMP_HEADER).map(HeaderValue::as_bytes);
    let signature = headers.get(SIGNATURE_HEADER).map(HeaderValue::as_bytes);
    if timestamp.is_none() {
        return Err(HubError::MissingTimestamp.into());
    }
    if signature.is_none() {
        return Err(HubError::MissingSignature.into());
    }
    let body = read_body(headers, body).await?;
    hub.accept(timestamp, signature, &body, SystemTime::now()).await
}

/// At most [`MAX_BODY`] bytes within [`BODY_WITHIN`]. `Content-Length` refuses an announced big
/// body early; the limit itself is counted on the bytes read, whatever the header says
/// (chunked, or lying).
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, HubError> {
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|length| usize::try_from(length).map_or(true, |length| length > MAX_BODY)) {
        return Err(HubError::BodyTooLarge);
    }
    match tokio::time::timeout(BODY_WITHIN, Limited::new(body, MAX_BODY).collect()).await {
        Err(_) => Err(HubError::BodyTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => Err(HubError::BodyTooLarge),
        // The client hung up or sent a broken chunked encoding: nothing to accept.
        Ok(Err(_)) => Err(HubError::MalformedBody),
    }
}
