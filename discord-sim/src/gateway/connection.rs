//! One gateway WebSocket connection: HELLO, then a loop over client frames, simulator messages
//! (dispatches and faults) and the heartbeat deadline.
//!
//! The task owns the socket and the compression context. It never holds the core lock across an
//! `.await`: it takes the lock, computes the frames to send, releases it, then sends.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_websockets::{CloseCode, Message, WebSocketStream};

use super::close::GatewayClose;
use super::compress::Compressor;
use super::envelope;
use super::inbound::{self, Command};
use super::session::Refusal;
use crate::core::{Core, Outbound};
use crate::fault::GatewayFault;

/// How long a black-holed socket is held open at most.
const BLACK_HOLE_HOLD: Duration = Duration::from_secs(600);
/// How long to try to finish a closing handshake before dropping the socket.
const CLOSE_FLUSH: Duration = Duration::from_secs(1);

/// How a connection ended, which decides what happens to its session.
enum End {
    /// Keep the session resumable.
    Keep,
    /// Destroy the session (client close 1000/1001, op 9 false, 4007, 4009).
    Destroy,
    /// Stop touching the socket but keep it open until shutdown (black hole); `destroy` as
    /// for the other ends.
    BlackHole {
        /// Destroy the session too.
        destroy: bool,
    },
}

/// Per-connection state owned by the task.
pub(crate) struct Connection<S> {
    pub(crate) id: u64,
    pub(crate) core: Arc<Core>,
    pub(crate) ws: WebSocketStream<S>,
    pub(crate) rx: mpsc::UnboundedReceiver<Outbound>,
    pub(crate) compressor: Compressor,
    /// Close right after HELLO with this code (bad query parameters).
    pub(crate) close_at_once: Option<GatewayClose>,
    authenticated: bool,
    acks: bool,
    withhold: usize,
    held: Vec<Arc<str>>,
    last_heartbeat: Instant,
    recent_sends: VecDeque<Instant>,
    /// Set by op 7: when to close if the client is still here.
    reconnect_deadline: Option<Instant>,
    /// Delay before each dispatch (the `Delay` fault).
    dispatch_delay: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Connection<S> {
    pub(crate) fn new(
        id: u64,
        core: Arc<Core>,
        ws: WebSocketStream<S>,
        rx: mpsc::UnboundedReceiver<Outbound>,
        compressor: Compressor,
        close_at_once: Option<GatewayClose>,
    ) -> Self {
        Self {
            id,
            core,
            ws,
            rx,
            compressor,
            close_at_once,
            authenticated: false,
            acks: true,
            withhold: 0,
            held: Vec::new(),
            last_heartbeat: Instant::now(),
            recent_sends: VecDeque::new(),
            reconnect_deadline: None,
            dispatch_delay: Duration::ZERO,
        }
    }

    /// Runs the connection to its end and settles its session.
    pub(crate) async fn run(mut self) {
        let end = self.serve().await;
        let destroy = matches!(end, End::Destroy | End::BlackHole { destroy: true });
        self.core.lock().detach(self.id, destroy);
        if matches!(end, End::BlackHole { .. }) {
            // Holding the socket without polling it: no FIN, no data, like a dead path. Bounded,
            // so a long-running dev simulator does not collect dead sockets forever.
            let _ = tokio::time::timeout(BLACK_HOLE_HOLD, self.core.shutdown.cancelled()).await;
        }
    }

    async fn serve(&mut self) -> End {
        let hello = envelope::hello(self.core.config.heartbeat_interval.as_millis());
        if self.send_text(&hello).await.is_err() {
            return End::Keep;
        }
        if let Some(code) = self.close_at_once {
            return self.close(code.code(), code.reason()).await;
        }
        loop {
            let timeout = self.core.config.heartbeat_timeout;
            let deadline = timeout
                .and_then(|t| self.last_heartbeat.checked_add(t))
                .unwrap_or_else(far_future);
            tokio::select! {
                message = self.ws.next() => {
                    let Some(Ok(message)) = message else { return End::Keep };
                    if let Some((code, _)) = message.as_close() {
                        let code = u16::from(code);
                        let resumable = code != 1000 && code != 1001;
                        if resumable {
                            self.core.lock().counters.resumable_closes += 1;
                        }
                        // Complete the closing handshake (tokio-websockets queued the echo).
                        let _ = tokio::time::timeout(CLOSE_FLUSH, self.ws.close()).await;
                        return if resumable { End::Keep } else { End::Destroy };
                    }
                    if (message.is_text() || message.is_binary())
                        && let Some(end) = self.on_client_frame(message.as_payload()).await
                    {
                        return end;
                    }
                }
                outbound = self.rx.recv() => {
                    let Some(outbound) = outbound else { return End::Keep };
                    if let Some(end) = self.on_outbound(outbound).await {
                        return end;
                    }
                }
                () = tokio::time::sleep_until(deadline.into()), if timeout.is_some() => {
                    let code = GatewayClose::UnknownError;
                    return self.close(code.code(), "Heartbeat timed out.").await;
                }
                () = tokio::time::sleep_until(
                    self.reconnect_deadline.unwrap_or_else(far_future).into()
                ), if self.reconnect_deadline.is_some() => {
                    let code = GatewayClose::UnknownError;
                    return self.close(code.code(), "Reconnect requested.").await;
                }
                () = self.core.shutdown.cancelled() => return End::Keep,
            }
        }
    }

    async fn on_client_frame(&mut self, payload: &[u8]) -> Option<End> {
        if let Some(limit) = self.core.config.send_limit {
            let now = Instant::now();
            while self
                .recent_sends
                .front()
                .is_some_and(|at| now.duration_since(*at) >= limit.per)
            {
                self.recent_sends.pop_front();
            }
            self.recent_sends.push_back(now);
            if self.recent_sends.len() > limit.count as usize {
                return Some(self.close_with(GatewayClose::RateLimited).await);
            }
        }
        let command = match inbound::decode(payload) {
            Ok(command) => command,
            Err(code) => return Some(self.close_with(code).await),
        };
        match command {
            Command::Heartbeat(_) => {
                self.last_heartbeat = Instant::now();
                self.core.lock().counters.heartbeats += 1;
                if self.acks && self.send_text(envelope::HEARTBEAT_ACK).await.is_err() {
                    return Some(End::Keep);
                }
                None
            }
            Command::Identify(identify) => {
                if self.authenticated {
                    return Some(self.close_with(GatewayClose::AlreadyAuthenticated).await);
                }
                let result = {
                    let core = &self.core;
                    let mut state = core.lock();
                    state.identify(&core.config, &core.resume_url(), self.id, &identify)
                };
                self.start(result.map(|(_, frames)| frames)).await
            }
            Command::Resume(resume) => {
                if self.authenticated {
                    return Some(self.close_with(GatewayClose::AlreadyAuthenticated).await);
                }
                let result = self.core.lock().resume(&self.core.config, self.id, &resume);
                self.start(result).await
            }
            Command::Ignored(_) if !self.authenticated => {
                Some(self.close_with(GatewayClose::NotAuthenticated).await)
            }
            Command::Ignored(_) => None,
        }
    }

    /// Sends the frames that start (or restart) a session, or the refusal.
    async fn start(&mut self, result: Result<Vec<Arc<str>>, Refusal>) -> Option<End> {
        match result {
            Ok(frames) => {
                self.authenticated = true;
                for frame in frames {
                    if self.send_text(&frame).await.is_err() {
                        return Some(End::Keep);
                    }
                }
                None
            }
            Err(Refusal::Close(code)) => Some(self.close_with(code).await),
            Err(Refusal::InvalidSession) => {
                self.core.lock().counters.invalid_sessions += 1;
                let frame = envelope::invalid_session(false);
                if self.send_text(&frame).await.is_err() {
                    return Some(End::Keep);
                }
                None
            }
        }
    }

    async fn on_outbound(&mut self, outbound: Outbound) -> Option<End> {
        match outbound {
            Outbound::Dispatch(frame) => {
                if self.withhold > 0 {
                    self.withhold -= 1;
                    self.held.push(frame);
                    return None;
                }
                if !self.dispatch_delay.is_zero() {
                    tokio::time::sleep(self.dispatch_delay).await;
                }
                self.send_text(&frame).await.err().map(|()| End::Keep)
            }
            Outbound::Superseded => Some(End::Keep),
            Outbound::Fault(fault) => self.on_fault(fault).await,
        }
    }

    async fn on_fault(&mut self, fault: GatewayFault) -> Option<End> {
        let sent = match fault {
            GatewayFault::Drop => return Some(End::Keep),
            GatewayFault::BlackHole => return Some(End::BlackHole { destroy: false }),
            GatewayFault::Delay { delay } => {
                self.dispatch_delay = delay;
                Ok(())
            }
            GatewayFault::Acks { enabled } => {
                self.acks = enabled;
                Ok(())
            }
            GatewayFault::Reconnect => {
                self.reconnect_deadline = self
                    .core
                    .config
                    .reconnect_close_after
                    .and_then(|after| Instant::now().checked_add(after));
                self.send_text(envelope::RECONNECT).await
            }
            GatewayFault::RequestHeartbeat => self.send_text(envelope::HEARTBEAT_REQUEST).await,
            GatewayFault::InvalidSession { resumable } => {
                {
                    let mut state = self.core.lock();
                    state.counters.invalid_sessions += 1;
                    if !resumable {
                        state.destroy_session_of(self.id);
                    }
                }
                self.authenticated = false;
                self.send_text(&envelope::invalid_session(resumable)).await
            }
            GatewayFault::Close { code, reason, hold } => {
                let end = self.close(code, &reason).await;
                return Some(if hold {
                    End::BlackHole {
                        destroy: matches!(end, End::Destroy),
                    }
                } else {
                    end
                });
            }
            GatewayFault::Withhold { count } => {
                self.withhold += count;
                Ok(())
            }
            GatewayFault::Release => {
                self.withhold = 0;
                let mut result = Ok(());
                for frame in std::mem::take(&mut self.held) {
                    result = result.and(self.send_text(&frame).await);
                }
                result
            }
            GatewayFault::Corrupt => self
                .ws
                .send(Message::binary(&b"\xde\xad\xbe\xef not a gateway frame"[..]))
                .await
                .map_err(drop),
        };
        sent.err().map(|()| End::Keep)
    }

    async fn close_with(&mut self, code: GatewayClose) -> End {
        self.close(code.code(), code.reason()).await
    }

    /// Sends a close frame and ends; 4007 and 4009 destroy the session as Discord's do.
    async fn close(&mut self, code: u16, reason: &str) -> End {
        let reason = truncate(reason, 123);
        if let Some(code) = CloseCode::try_from(code).ok().filter(|c| !c.is_reserved()) {
            let _ = self.ws.send(Message::close(Some(code), reason)).await;
        }
        let _ = self.ws.flush().await;
        if code == 4007 || code == 4009 {
            End::Destroy
        } else {
            End::Keep
        }
    }

    async fn send_text(&mut self, text: &str) -> Result<(), ()> {
        let message = match self.compressor.compress(text) {
            Ok(Some(bytes)) => Message::binary(bytes),
            Ok(None) => Message::text(text.to_owned()),
            Err(err) => {
                tracing::warn!(%err, "compression failed; dropping connection");
                return Err(());
            }
        };
        self.ws.send(message).await.map_err(drop)
    }
}

/// A deadline that never comes, for when heartbeat timeouts are off.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}
