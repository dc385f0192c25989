//! The web role's end of the link: [`LinkClient`] runs bot-token commands on the gateway role and
//! follows its roster; [`LinkDriver`] owns the connection and keeps it up forever.
//!
//! A command is sent only while linked, waits at most [`LinkClientSettings::command_deadline`],
//! and fails at once with [`LinkError::ConnectionLost`] when the connection drops under it: a
//! click never hangs on a gateway that is gone. Reconnects follow [`Backoff`]: about 1 s, doubling
//! to 30 s, jittered so that a restarted gateway is not hit by every web instance at once, and
//! back to 1 s after a connection that stayed up.

use std::{collections::HashMap, time::Duration};

use futures::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng, rngs::StdRng};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::{
    net::TcpStream,
    sync::{mpsc, oneshot, watch},
    time::Instant,
};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{
        self, Message,
        client::IntoClientRequest,
        http::{HeaderValue, header::AUTHORIZATION},
        protocol::{CloseFrame, WebSocketConfig, frame::coding::CloseCode},
    },
};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::{Command, Envelope, ErrorBody, FrameKind, LinkRoster, MAX_FRAME_BYTES, ROSTER_EVENT, Request};
use crate::discord::rest::DiscordError;

/// Commands handed to the driver and not yet written; more fail at once ([`LinkError::Busy`]).
pub const MAX_QUEUED: usize = 256;

/// Where the gateway is and how to talk to it. [`LinkClientSettings::new`] has the production
/// values.
#[derive(Debug, Clone)]
pub struct LinkClientSettings {
    /// `GATEWAY_WS_URL`: every gateway process, e.g. `ws://gateway-a:8080/` (plain `ws://`: the
    /// link runs on the private network, no TLS stack is built in). Any of them serves the link,
    /// a standby too; after a failed attempt or a dropped link the next one is tried.
    pub urls: Vec<Url>,
    /// `LINK_TOKEN`.
    pub token: SecretString,
    /// How long a command may wait for its answer: the gateway's own 10 s deadline plus the trip,
    /// so that the gateway's `DEADLINE` normally arrives first.
    pub command_deadline: Duration,
    /// How long connecting (TCP and the WebSocket handshake) may take.
    pub connect_timeout: Duration,
    /// A connection silent this long is dropped (the gateway pings every 20 s).
    pub idle_timeout: Duration,
    /// How long writing one frame may take.
    pub write_timeout: Duration,
    /// The first reconnect delay.
    pub backoff_initial: Duration,
    /// The longest reconnect delay.
    pub backoff_cap: Duration,
    /// A connection that stayed up this long resets the backoff to its first delay.
    pub stable_after: Duration,
}

impl LinkClientSettings {
    /// The production settings for the gateway processes at `urls` (at least one).
    pub fn new(urls: impl IntoIterator<Item = Url>, token: SecretString) -> Self {
        Self {
            urls: urls.into_iter().collect(),
            token,
            command_deadline: Duration::from_secs(12),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(30),
            stable_after: Duration::from_secs(30),
        }
    }
}

/// Why a command over the link failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not connected to the gateway now; nothing was sent.
    #[error("not linked to the gateway")]
    Unlinked,
    /// More commands are waiting to be written than the client holds ([`MAX_QUEUED`]); nothing
    /// was sent.
    #[error("too many commands waiting for the link")]
    Busy,
    /// The connection dropped after the command was sent; it may or may not have run.
    #[error("the link dropped before the gateway answered")]
    ConnectionLost,
    /// No answer within the deadline; the command may or may not have run.
    #[error("no answer from the gateway within {0:?}")]
    Timeout(Duration),
    /// The gateway answered with an `error` (a Discord failure, or a link-level one).
    #[error("the gateway answered {:?}: {}", .0.code, .0.message)]
    Refused(ErrorBody),
    /// The gateway's `ack` did not have the shape the command's result has.
    #[error("unreadable answer from the gateway: {0}")]
    BadAnswer(String),
}

impl From<LinkError> for DiscordError {
    /// Discord failures come back as themselves; everything else is "unavailable" (a
    /// [`DiscordError::Failed`]), which rooms show as "Discord is unavailable" and which never
    /// claims a command did not run.
    fn from(err: LinkError) -> Self {
        match err {
            LinkError::Refused(body) => body.into_discord(),
            other => Self::Failed(other.to_string()),
        }
    }
}

/// A command on its way to the driver.
struct Pending {
    request_id: String,
    frame: String,
    reply: oneshot::Sender<Result<Value, LinkError>>,
}

/// Runs commands on the gateway role; cheap to clone. Made by [`LinkClient::new`] together with
/// the [`LinkDriver`] that must run for it to work.
#[derive(Debug, Clone)]
pub struct LinkClient {
    requests: mpsc::Sender<Pending>,
    linked: watch::Receiver<bool>,
    roster: watch::Receiver<Option<LinkRoster>>,
    deadline: Duration,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The frame may hold a user's access token.
        f.debug_struct("Pending")
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl LinkClient {
    /// A client and its driver; register [`LinkDriver::run`] as a supervised task.
    pub fn new(settings: LinkClientSettings) -> (Self, LinkDriver) {
        let (requests, requests_rx) = mpsc::channel(MAX_QUEUED);
        let (linked_tx, linked) = watch::channel(false);
        let (roster_tx, roster) = watch::channel(None);
        let client = Self {
            requests,
            linked,
            roster,
            deadline: settings.command_deadline,
        };
        let driver = LinkDriver {
            next_url: 0,
            backoff: Backoff::new(settings.backoff_initial, settings.backoff_cap),
            settings,
            requests: requests_rx,
            linked: linked_tx,
            roster: roster_tx,
        };
        (client, driver)
    }

    /// Whether the link is up, and every change of it.
    pub fn linked(&self) -> watch::Receiver<bool> {
        self.linked.clone()
    }

    /// The roster the gateway sent on the latest connect (`None` before the first).
    pub fn roster(&self) -> watch::Receiver<Option<LinkRoster>> {
        self.roster.clone()
    }

    /// Runs `command` on the gateway; the `Ok` value is the `ack`'s `data`.
    pub async fn command(&self, command: Command) -> Result<Value, LinkError> {
        self.request(Request::Discord(command)).await
    }

    async fn request(&self, request: Request) -> Result<Value, LinkError> {
        if !*self.linked.borrow() {
            return Err(LinkError::Unlinked);
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        let frame = Envelope::new(FrameKind::Command, request.to_data(), Some(request_id.clone())).to_text();
        let (reply, answer) = oneshot::channel();
        self.requests
            .try_send(Pending {
                request_id,
                frame,
                reply,
            })
            .map_err(|err| match err {
                mpsc::error::TrySendError::Full(_) => LinkError::Busy,
                // The driver has stopped.
                mpsc::error::TrySendError::Closed(_) => LinkError::Unlinked,
            })?;
        match tokio::time::timeout(self.deadline, answer).await {
            Ok(Ok(result)) => result,
            // The driver dropped the request without an answer: it stopped.
            Ok(Err(_)) => Err(LinkError::ConnectionLost),
            Err(_) => Err(LinkError::Timeout(self.deadline)),
        }
    }
}

/// Owns the link's connection: connects, reconnects, writes commands and routes answers. The one
/// owner of the pending commands.
#[derive(Debug)]
pub struct LinkDriver {
    settings: LinkClientSettings,
    /// Which of `settings.urls` is tried next.
    next_url: usize,
    backoff: Backoff,
    requests: mpsc::Receiver<Pending>,
    linked: watch::Sender<bool>,
    roster: watch::Sender<Option<LinkRoster>>,
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

impl LinkDriver {
    /// Keeps the link up until `shutdown`: connects, serves, and after every failure or drop
    /// waits [`Backoff::next_delay`] and tries again, forever.
    pub async fn run(mut self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match self.connect(&shutdown).await {
                Ok(socket) => {
                    let connected_at = Instant::now();
                    self.linked.send_replace(true);
                    tracing::info!(url = %self.url(), "linked to the gateway");
                    let reason = self.serve(socket, &shutdown).await;
                    self.linked.send_replace(false);
                    tracing::warn!(reason, "the link to the gateway dropped");
                    if connected_at.elapsed() >= self.settings.stable_after {
                        self.backoff.reset();
                    }
                }
                Err(reason) => {
                    tracing::warn!(%reason, url = %self.url(), "cannot link to the gateway");
                }
            }
            // The next attempt goes to the next gateway: this one may be the one that died.
            self.next_url = self.next_url.wrapping_add(1);
            let delay = self.backoff.next_delay();
            if !self.wait_unlinked(delay, &shutdown).await {
                break;
            }
        }
        self.linked.send_replace(false);
        self.requests.close();
        while let Ok(pending) = self.requests.try_recv() {
            let _ = pending.reply.send(Err(LinkError::Unlinked));
        }
    }

    /// Waits `delay` while unlinked, failing every command that arrives meanwhile (one sent just
    /// before the drop is among them). `false` on shutdown.
    async fn wait_unlinked(&mut self, delay: Duration, shutdown: &CancellationToken) -> bool {
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep_until(until) => return true,
                Some(pending) = self.requests.recv() => {
                    let _ = pending.reply.send(Err(LinkError::Unlinked));
                }
            }
        }
    }

    /// The gateway tried next.
    fn url(&self) -> &Url {
        &self.settings.urls[self.next_url % self.settings.urls.len().max(1)]
    }

    async fn connect(&self, shutdown: &CancellationToken) -> Result<Socket, String> {
        if self.settings.urls.is_empty() {
            return Err("GATEWAY_WS_URL names no gateway".to_owned());
        }
        let mut request = self
            .url()
            .as_str()
            .into_client_request()
            .map_err(|err| format!("bad GATEWAY_WS_URL: {err}"))?;
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", self.settings.token.expose_secret()))
            .map_err(|_| "LINK_TOKEN is not a valid header value".to_owned())?;
        bearer.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, bearer);
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES));
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
        tokio::select! {
            () = shutdown.cancelled() => Err("shutting down".to_owned()),
            connected = tokio::time::timeout(self.settings.connect_timeout, connect) => match connected {
                Ok(Ok((socket, _))) => Ok(socket),
                Ok(Err(tungstenite::Error::Http(response))) if response.status() == 401 => {
                    Err("the gateway refused LINK_TOKEN (401)".to_owned())
                }
                Ok(Err(err)) => Err(err.to_string()),
                Err(_) => Err(format!("no connection within {:?}", self.settings.connect_timeout)),
            },
        }
    }

    /// Serves one connection until it drops; every command still pending then fails at once.
    async fn serve(&mut self, mut socket: Socket, shutdown: &CancellationToken) -> &'static str {
        let mut pending: HashMap<String, oneshot::Sender<Result<Value, LinkError>>> = HashMap::new();
        let mut idle_deadline = Instant::now() + self.settings.idle_timeout;
        // Commands whose caller gave up (deadline) are forgotten on this beat, so that a gateway
        // that never answers cannot grow the map.
        let mut sweep = tokio::time::interval(self.settings.command_deadline.max(Duration::from_secs(1)));
        let reason = loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    let close = Message::Close(Some(CloseFrame {
                        code: CloseCode::Away,
                        reason: "shutting down".into(),
                    }));
                    let _ = tokio::time::timeout(self.settings.write_timeout, socket.send(close)).await;
                    break "shutting down";
                }
                () = tokio::time::sleep_until(idle_deadline) => break "the gateway fell silent",
                frame = socket.next() => {
                    idle_deadline = Instant::now() + self.settings.idle_timeout;
                    match frame {
                        None | Some(Err(_)) => break "the connection failed",
                        Some(Ok(Message::Close(_))) => break "closed by the gateway",
                        Some(Ok(Message::Text(text))) => self.on_frame(text.as_str(), &mut pending),
                        // Pings are answered by the socket itself while reading.
                        Some(Ok(_)) => {}
                    }
                }
                Some(request) = self.requests.recv() => {
                    let written = tokio::time::timeout(
                        self.settings.write_timeout,
                        socket.send(Message::Text(request.frame.into())),
                    )
                    .await;
                    if matches!(written, Ok(Ok(()))) {
                        pending.insert(request.request_id, request.reply);
                    } else {
                        let _ = request.reply.send(Err(LinkError::ConnectionLost));
                        break "a write failed";
                    }
                }
                _ = sweep.tick() => pending.retain(|_, reply| !reply.is_closed()),
            }
        };
        for (_, reply) in pending.drain() {
            let _ = reply.send(Err(LinkError::ConnectionLost));
        }
        reason
    }

    fn on_frame(&self, text: &str, pending: &mut HashMap<String, oneshot::Sender<Result<Value, LinkError>>>) {
        let envelope: Envelope = match serde_json::from_str(text) {
            Ok(envelope) => envelope,
            Err(err) => {
                tracing::warn!(error = %err, "unreadable frame from the gateway");
                return;
            }
        };
        match envelope.kind {
            FrameKind::Ack | FrameKind::Error => {
                let reply = envelope.request_id.as_deref().and_then(|id| pending.remove(id));
                let result = if envelope.kind == FrameKind::Ack {
                    Ok(envelope.data)
                } else {
                    Err(serde_json::from_value::<ErrorBody>(envelope.data)
                        .map_or_else(|err| LinkError::BadAnswer(err.to_string()), LinkError::Refused))
                };
                match reply {
                    Some(reply) => {
                        let _ = reply.send(result);
                    }
                    // An error about a frame of ours the gateway could not read: a bug on one side.
                    None if envelope.request_id.is_none() => {
                        tracing::error!(answer = ?result, "the gateway refused a frame");
                    }
                    // The caller gave up (deadline) before the answer came.
                    None => {}
                }
            }
            FrameKind::Event => {
                if envelope.data.get("event").and_then(Value::as_str) == Some(ROSTER_EVENT) {
                    let payload = envelope.data.get("payload").cloned().unwrap_or(Value::Null);
                    match serde_json::from_value::<LinkRoster>(payload) {
                        Ok(roster) => {
                            self.roster.send_replace(Some(roster));
                        }
                        Err(err) => tracing::warn!(error = %err, "unreadable roster from the gateway"),
                    }
                }
            }
            FrameKind::Command => tracing::warn!("the gateway sent a command; ignored"),
        }
    }
}

/// Reconnect delays: `initial`, doubling up to `cap`, each shortened by up to a quarter at random
/// so that web instances dropped together do not reconnect together. A pure step function:
/// [`Backoff::next_delay`] only computes; the driver sleeps.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    cap: Duration,
    attempt: u32,
    rng: StdRng,
}

impl Backoff {
    /// A backoff starting at `initial` and never above `cap`.
    pub fn new(initial: Duration, cap: Duration) -> Self {
        Self::with_rng(initial, cap, StdRng::from_rng(&mut rand::rng()))
    }

    /// The same with a seeded jitter, for tests.
    pub fn with_seed(initial: Duration, cap: Duration, seed: u64) -> Self {
        Self::with_rng(initial, cap, StdRng::seed_from_u64(seed))
    }

    fn with_rng(initial: Duration, cap: Duration, rng: StdRng) -> Self {
        Self {
            initial,
            cap: cap.max(initial),
            attempt: 0,
            rng,
        }
    }

    /// The nominal delay of the next attempt, before jitter.
    pub fn nominal(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.cap)
    }

    /// The delay before the next attempt, in `[¾ · nominal, nominal]`; then doubles the nominal
    /// delay, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self.nominal();
        self.attempt = self.attempt.saturating_add(1);
        nominal.mul_f64(self.rng.random_range(0.75..=1.0))
    }

    /// Back to the first delay (after a connection that stayed up).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_near_a_second_doubles_and_caps_at_thirty() {
        let mut backoff = Backoff::with_seed(Duration::from_secs(1), Duration::from_secs(30), 7);
        let nominal = [1, 2, 4, 8, 16, 30, 30, 30];
        for seconds in nominal {
            let delay = backoff.next_delay();
            let nominal = Duration::from_secs(seconds);
            assert!(
                delay <= nominal && delay >= nominal.mul_f64(0.75),
                "{delay:?} vs {nominal:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_secs(1));
    }

    #[test]
    fn backoff_jitter_spreads_instances_apart() {
        let delays: std::collections::HashSet<Duration> = (0..8)
            .map(|seed| {
                Backoff::with_seed(Duration::from_secs(1), Duration::from_secs(30), seed).next_delay()
            })
            .collect();
        assert!(
            delays.len() > 1,
            "every instance would reconnect at the same instant"
        );
    }

    #[test]
    fn backoff_never_overflows_after_many_failures() {
        let mut backoff = Backoff::with_seed(Duration::from_secs(1), Duration::from_secs(30), 1);
        for _ in 0..1000 {
            assert!(backoff.next_delay() <= Duration::from_secs(30));
        }
    }

    #[test]
    fn link_failures_become_the_discord_errors_rooms_understand() {
        assert!(matches!(
            DiscordError::from(LinkError::Unlinked),
            DiscordError::Failed(_)
        ));
        assert!(matches!(
            DiscordError::from(LinkError::Refused(ErrorBody {
                code: super::super::ErrorCode::UnknownChannel,
                message: String::new(),
            })),
            DiscordError::UnknownChannel
        ));
    }
}
