//! Accepting connections.
//!
//! Every request is answered by the one axum router, with the same middleware. How the bytes move
//! differs for one kind of connection: a held live stream. Through hyper, each open stream keeps
//! an 8 KiB read buffer and an 8 KiB write buffer for its whole life (hyper's minimum), which is
//! most of what a stream costs; with ten thousand viewers that is the server's memory. So a
//! connection whose first bytes are `GET /api/stream` takes the [`lean`] path: its request head is
//! read and parsed here, the router answers it, and the body is written straight to the socket in
//! chunked encoding. Everything else goes to hyper's HTTP/1.1 server, as `axum::serve` would.
//!
//! No client can take the accept loop down: at most `MAX_CONNECTIONS` connections are served at
//! once (the next gets a short 503, written without blocking the loop, and is closed), and when
//! accepting fails for want of file descriptors the loop backs off and says so once in a while,
//! instead of spinning on a listener that stays ready.
//!
//! Shutdown has two steps. When `shutdown` is cancelled, no connection is accepted any more,
//! idle connections and those that have not sent a request yet are closed, streams end (with a
//! reconnect hint) and requests in flight may finish. When `hard_stop` is cancelled (the
//! shutdown deadline), every connection still open is dropped, whatever it was doing: nothing a
//! client does can hold the server past the deadline.

mod lean;

use std::{io, sync::Arc, time::Duration};

use axum::{Extension, Router, extract::ConnectInfo};
use backend::config::LimitsConfig;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::Layer;

/// What a connection must start with to take the lean path.
const STREAM_REQUEST: &[u8] = b"GET /api/stream";
/// How long a new connection may take to send its first bytes before it is handed to hyper
/// (which then applies its own limits).
const FIRST_BYTES_WITHIN: Duration = Duration::from_secs(10);
/// What a connection beyond `MAX_CONNECTIONS` is told before it is closed.
const BUSY_BODY: &str = "The server is busy; try again shortly.\n";
/// How long a refused connection may take to receive its 503.
const REFUSE_WITHIN: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown`, then waits for open connections to finish
/// (streams end on the same token) until `hard_stop`, when the rest are dropped.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
    limits: LimitsConfig,
) {
    let connections = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.min(Semaphore::MAX_PERMITS)));
    let mut backoff = AcceptBackoff::default();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff.succeeded();
                    (stream, peer)
                }
                // The client gave up before it was accepted: nothing is wrong here.
                Err(err) if is_connection_error(&err) => continue,
                Err(err) => {
                    // Out of file descriptors and the like: the listener itself is fine, but it
                    // stays ready, so retrying at once would spin and flood the log.
                    let (pause, report) = backoff.failed(Instant::now());
                    if let Some(suppressed) = report {
                        tracing::warn!(error = %err, suppressed, retry_in = ?pause, "cannot accept a connection");
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(pause) => continue,
                    }
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            connections.spawn(until(hard_stop.clone(), refuse(stream)));
            continue;
        };
        let router = router.clone();
        let shutdown = shutdown.clone();
        let write_within = limits.stream_write_timeout;
        connections.spawn(until(hard_stop.clone(), async move {
            // Held for the connection's life.
            let _slot = slot;
            let is_stream = tokio::select! {
                is_stream = starts_a_stream(&stream) => is_stream,
                // Nothing was asked (a browser's speculative connection, say): just close.
                () = shutdown.cancelled() => return,
            };
            if is_stream {
                lean::serve_stream(stream, peer, router, shutdown, write_within).await;
                return;
            }
            let mut http = http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(FIRST_BYTES_WITHIN);
            let connection = http
                .serve_connection(
                    TokioIo::new(stream),
                    TowerToHyperService::new(
                        // Handlers see the peer as axum's `ConnectInfo`, as under `axum::serve`.
                        Extension(ConnectInfo(peer)).layer(router),
                    ),
                )
                // The gateway role's link is a WebSocket: its `GET /` upgrades the connection.
                .with_upgrades();
            tokio::pin!(connection);
            // At shutdown the connection finishes the request in flight and then closes (an
            // upgraded one is the WebSocket's to end: it closes on the same token).
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = ended {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        }));
    }
    drop(listener);
    connections.close();
    tokio::select! {
        () = connections.wait() => {}
        () = hard_stop.cancelled() => {
            tracing::warn!(
                open = connections.len(),
                "connections still open at the shutdown deadline; dropping them"
            );
            // Each connection's task ends at the hard stop, closing its socket.
            connections.wait().await;
        }
    }
}

/// Runs `connection` until it ends or `hard_stop`, when it is dropped (closing its socket).
async fn until(hard_stop: CancellationToken, connection: impl Future<Output = ()>) {
    tokio::select! {
        () = hard_stop.cancelled() => {}
        () = connection => {}
    }
}

/// Answers a connection beyond the cap with a minimal 503 and closes it, within
/// [`REFUSE_WITHIN`]: never served, and never in the accept loop's way.
async fn refuse(mut stream: TcpStream) {
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BUSY_BODY}",
        BUSY_BODY.len()
    );
    let _ = tokio::time::timeout(REFUSE_WITHIN, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Closing with the request unread would reset the connection, and a reset can destroy the
        // answer before the client reads it; so read until the client closes too.
        let mut sink = [0_u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
}

/// Errors that concern one connection only (the peer went away before it was accepted).
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// The first pause after a failed accept; it doubles with each failure in a row.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
/// The longest pause between accepts.
const MAX_PAUSE: Duration = Duration::from_secs(1);
/// At most one warning per this long; the next one counts those left out.
const WARN_EVERY: Duration = Duration::from_secs(5);

/// Pauses and warnings for failed accepts. Pure: the caller passes the time and does the sleeping.
#[derive(Debug, Default)]
struct AcceptBackoff {
    /// Failures in a row since the last success.
    failures: u32,
    /// When the last warning was logged.
    warned_at: Option<Instant>,
    /// Failures not logged since then.
    suppressed: u64,
}

impl AcceptBackoff {
    /// After a failed accept at `now`: how long to pause, and, if a warning is due, how many
    /// failures went unlogged before it.
    fn failed(&mut self, now: Instant) -> (Duration, Option<u64>) {
        let pause = FIRST_PAUSE
            .saturating_mul(2_u32.saturating_pow(self.failures))
            .min(MAX_PAUSE);
        self.failures = self.failures.saturating_add(1);
        let due = self
            .warned_at
            .is_none_or(|at| now.saturating_duration_since(at) >= WARN_EVERY);
        if due {
            self.warned_at = Some(now);
            (pause, Some(std::mem::take(&mut self.suppressed)))
        } else {
            self.suppressed += 1;
            (pause, None)
        }
    }

    /// After a successful accept: the next failure pauses briefly again. Warnings stay spaced, so
    /// a limit that is hit and freed over and over does not flood the log either.
    fn succeeded(&mut self) {
        self.failures = 0;
    }
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

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;

    /// A connection to `address` that has written `bytes`.
    async fn connect(address: std::net::SocketAddr, bytes: &str) -> TcpStream {
        let mut connection = TcpStream::connect(address).await.unwrap();
        connection.write_all(bytes.as_bytes()).await.unwrap();
        connection
    }

    /// Whether the server closed `connection` (it reads to the end within 10 s).
    async fn closed(connection: &mut TcpStream) -> bool {
        let mut sink = [0_u8; 1024];
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match connection.read(&mut sink).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => {}
                }
            }
        })
        .await
        .unwrap_or(false)
    }

    #[tokio::test]
    async fn shutdown_closes_unasked_connections_and_the_deadline_drops_the_rest() {
        let (hung, hang_started) = tokio::sync::mpsc::channel::<()>(1);
        let router = Router::new().route(
            "/hang",
            get(move || {
                let hung = hung.clone();
                async move {
                    let _ = hung.send(()).await;
                    std::future::pending::<()>().await;
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let hard_stop = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            router,
            shutdown.clone(),
            hard_stop.clone(),
            LimitsConfig::default(),
        ));

        let mut hang_started = hang_started;
        let mut hanging = connect(address, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n").await;
        tokio::time::timeout(Duration::from_secs(10), hang_started.recv())
            .await
            .expect("the handler runs");
        let mut silent = connect(address, "").await;
        let mut half_stream = connect(address, "GET /api/stream?room=1 HTTP/1.1\r\nHost").await;
        let mut half_page = connect(address, "GET / HTTP/1.1\r\nHost: x\r\nAcc").await;

        shutdown.cancel();
        assert!(
            closed(&mut silent).await,
            "a connection that asked nothing is closed"
        );
        assert!(
            closed(&mut half_stream).await,
            "a stream request still arriving is closed"
        );
        assert!(!server.is_finished(), "the hung request is still waited for");

        hard_stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("serve returns at the deadline")
            .unwrap();
        assert!(
            closed(&mut hanging).await,
            "the hung request's connection is dropped"
        );
        assert!(closed(&mut half_page).await);
    }

    #[test]
    fn failed_accepts_pause_longer_and_longer_up_to_a_second_and_warn_rarely() {
        let start = Instant::now();
        let mut backoff = AcceptBackoff::default();
        let mut now = start;
        let mut pauses = Vec::new();
        let mut warnings = Vec::new();
        // Ten seconds of failures, each retried after its pause.
        while now.duration_since(start) < Duration::from_secs(10) {
            let (pause, warning) = backoff.failed(now);
            pauses.push(pause);
            warnings.extend(warning);
            now += pause;
        }
        assert_eq!(
            pauses[..7].iter().map(Duration::as_millis).collect::<Vec<_>>(),
            [20, 40, 80, 160, 320, 640, 1000]
        );
        assert!(pauses.iter().all(|pause| *pause <= MAX_PAUSE));
        assert_eq!(pauses.len(), 15, "{pauses:?}");
        assert_eq!(
            warnings,
            [0, 9],
            "the first at once, then one per five seconds with the count left out"
        );

        backoff.succeeded();
        let (pause, warning) = backoff.failed(now);
        assert_eq!(pause, FIRST_PAUSE, "a success resets the pause");
        assert_eq!(warning, Some(4), "five seconds since the last warning");
        backoff.succeeded();
        assert_eq!(
            backoff.failed(now + FIRST_PAUSE).1,
            None,
            "a success does not reset the spacing of warnings"
        );
    }

    #[test]
    fn only_errors_of_one_connection_skip_the_backoff() {
        assert!(is_connection_error(&io::ErrorKind::ConnectionAborted.into()));
        assert!(!is_connection_error(&io::Error::from_raw_os_error(24)), "EMFILE");
    }
}
