//! The gateway WebSocket, served on the same port as REST: `/` for new sessions and `/resume`
//! (the `resume_gateway_url` READY advertises) for resumes.
//!
//! The upgrade is done by hand over hyper's upgrade API so the socket can be handed to
//! tokio-websockets (the library twilight itself uses), which lets the simulator pick the
//! outgoing frame size and hold a socket open without polling it.

pub(crate) mod close;
pub(crate) mod compress;
pub(crate) mod connection;
pub(crate) mod envelope;
pub(crate) mod inbound;
pub(crate) mod payload;
pub(crate) mod session;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio_websockets::{Config, Limits, ServerBuilder};

use self::close::GatewayClose;
use self::compress::Compressor;
use self::connection::Connection;
use crate::core::{ConnectionEntry, Core};

/// The GUID RFC 6455 appends to `Sec-WebSocket-Key`.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `GET /` (and `/?v=10…`): a new gateway connection, or a short notice for plain browsers.
pub(crate) async fn base(
    State(core): State<Arc<Core>>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    upgrade(core, &query, request, false)
}

/// `GET /resume` (twilight connects to `/resume/?v=10…`).
pub(crate) async fn resume(
    State(core): State<Arc<Core>>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    upgrade(core, &query, request, true)
}

fn upgrade(
    core: Arc<Core>,
    query: &HashMap<String, String>,
    mut request: Request,
    via_resume_url: bool,
) -> Response {
    let Some(accept) = websocket_accept(request.headers()) else {
        return (
            StatusCode::OK,
            "discord-sim: connect a WebSocket here (?v=10&encoding=json)\n",
        )
            .into_response();
    };
    let compressor = Compressor::for_query(query.get("compress").map(String::as_str));
    let (id, rx, frame_size) = {
        let mut state = core.lock();
        if via_resume_url {
            // Counted even when refused: tests assert the client tried the resume URL.
            state.counters.resume_connections += 1;
            if state.refuse_resume {
                state.counters.refused_upgrades += 1;
                return (StatusCode::SERVICE_UNAVAILABLE, "resume refused").into_response();
            }
        }
        if state.refuse_gateway {
            state.counters.refused_upgrades += 1;
            return (StatusCode::SERVICE_UNAVAILABLE, "gateway refused").into_response();
        }
        let id = state.next_connection;
        state.next_connection += 1;
        state.counters.connections += 1;
        let (tx, rx) = mpsc::unbounded_channel();
        state.connections.insert(
            id,
            ConnectionEntry {
                tx,
                session: None,
                via_resume_url,
                compression: compressor.name(),
            },
        );
        (id, rx, state.frame_size)
    };
    let close_at_once = match (query.get("v").map(String::as_str), query.get("encoding")) {
        (Some("9" | "10"), None) => None,
        (Some("9" | "10"), Some(encoding)) if encoding == "json" => None,
        (Some("9" | "10"), Some(_)) => Some(GatewayClose::DecodeError),
        _ => Some(GatewayClose::InvalidApiVersion),
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    let task_core = Arc::clone(&core);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            task_core.lock().detach(id, false);
            return;
        };
        let mut config = Config::default();
        if let Some(size) = frame_size.filter(|size| *size > 0) {
            config = config.frame_size(size);
        }
        // Frames over Discord's 4096-byte limit must reach the decoder (to close with 4002)
        // instead of failing inside the WebSocket layer, so the transport limit is far above it.
        let limits = Limits::default().max_payload_len(Some(1 << 20));
        let ws = ServerBuilder::new()
            .config(config)
            .limits(limits)
            .serve(TokioIo::new(upgraded));
        Connection::new(id, task_core, ws, rx, compressor, close_at_once)
            .run()
            .await;
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(value) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    response
}

/// The `Sec-WebSocket-Accept` value for a WebSocket upgrade request, or `None` if it is not one.
fn websocket_accept(headers: &HeaderMap) -> Option<String> {
    let upgrade = headers.get(header::UPGRADE)?.to_str().ok()?;
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return None;
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY)?.to_str().ok()?;
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(WS_GUID.as_bytes());
    Some(base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes()))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        assert_eq!(
            super::websocket_accept(&headers).as_deref(),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
    }
}
