//! Accepting connections.
//!
//! Every request is answered by the one axum router, with the same middleware. How the bytes move
//! differs for one kind of connection: a held live stream. Through hyper, each open stream keeps
//! an 8 KiB read buffer and an 8 KiB write buffer for its whole life (hyper's minimum), which is
//! most of what a stream costs; with ten thousand viewers that is the server's memory. So a
//! connection whose first bytes are `GET /api/stream` takes the [`lean`] path: its request head is
//! read and parsed here, the router answers it, and the body is written straight to the socket in
//! chunked encoding. Everything else goes to hyper's HTTP/1.1 server, as `axum::serve` would.

mod lean;

use std::time::Duration;

use axum::{Extension, Router, extract::ConnectInfo};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::Layer;

/// What a connection must start with to take the lean path.
const STREAM_REQUEST: &[u8] = b"GET /api/stream";
/// How long a new connection may take to send its first bytes before it is handed to hyper
/// (which then applies its own limits).
const FIRST_BYTES_WITHIN: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown`, then waits for open connections to finish
/// (streams end on the same token).
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    let graceful = GracefulShutdown::new();
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: the listener itself is fine.
                    tracing::warn!(error = %err, "cannot accept a connection");
                    continue;
                }
            },
        };
        let router = router.clone();
        let watcher = graceful.watcher();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            if starts_a_stream(&stream).await {
                lean::serve_stream(stream, peer, router, shutdown).await;
                return;
            }
            let mut http = http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(FIRST_BYTES_WITHIN);
            let connection = http.serve_connection(
                TokioIo::new(stream),
                TowerToHyperService::new(
                    // Handlers see the peer as axum's `ConnectInfo`, as under `axum::serve`.
                    Extension(ConnectInfo(peer)).layer(router),
                ),
            );
            if let Err(err) = watcher.watch(connection).await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    graceful.shutdown().await;
    connections.wait().await;
}

/// Whether the connection's first bytes are a live-stream request. Peeking leaves them in the
/// socket for whichever path reads the request.
async fn starts_a_stream(stream: &TcpStream) -> bool {
    let mut first = [0_u8; STREAM_REQUEST.len()];
    match tokio::time::timeout(FIRST_BYTES_WITHIN, stream.peek(&mut first)).await {
        Ok(Ok(read)) => read == first.len() && first == STREAM_REQUEST,
        // Slow or failing clients are hyper's to time out and report.
        _ => false,
    }
}
