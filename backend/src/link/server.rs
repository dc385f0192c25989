//! The gateway role's end of the link: a WebSocket route that runs web instances' bot-token
//! commands, sends the roster on connect and, to clients that subscribe, every app event.
//!
//! Every command gets exactly one `ack` or `error`. Commands wait in one queue shared by all
//! connections ([`LinkSettings::queue_capacity`] places; a full queue is answered `QUEUE_FULL` at
//! once, never dropped) for one of [`LinkSettings::workers`] Discord calls, all within
//! [`LinkSettings::command_deadline`] (`DEADLINE` after it). A malformed frame is answered with an
//! `error` and the connection stays up, except a frame over [`MAX_FRAME_BYTES`], which closes it.
//!
//! Each connection is one task owning its socket; command tasks and bus events reach it through a
//! bounded outbound queue. A subscriber that lets that queue fill up (or falls behind the bus) is
//! closed with [`LAGGING`]: it reconnects and starts again from the roster, which is how a link
//! client resynchronises anyway, and nobody else waits for it.

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use axum::{
    Json, Router,
    extract::{
        State,
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use futures::FutureExt as _;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch},
    time::{Instant, MissedTickBehavior},
};
use tokio_util::sync::CancellationToken;

use super::{
    BotUser, ChannelCreated, Command, Envelope, ErrorBody, ErrorCode, FrameKind, GuildChannelWire,
    GuildChannels, LinkRoster, MAX_FRAME_BYTES, MessageSent, ROSTER_EVENT, Request, VoiceChannel, to_value,
};
use crate::{
    bus::{BusMessage, BusSubscription, EventBus},
    discord::rest::{DiscordError, DiscordRest},
};

/// Close code sent to a subscriber that fell behind (application range, 4000–4999).
pub const LAGGING: u16 = 4008;
/// Close code sent when the gateway asks every client to reconnect ([`LinkServer::disconnect_all`]).
pub const RECONNECT: u16 = 1012;

/// Longest `requestId` accepted (a UUID is 36 characters).
const MAX_REQUEST_ID: usize = 128;

/// How the link is served. [`LinkSettings::new`] has the production values.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// `LINK_TOKEN`: the bearer token every client must present.
    pub token: SecretString,
    /// Commands accepted and not yet answered, across all connections, before `QUEUE_FULL`.
    pub queue_capacity: usize,
    /// Discord calls run at once; the rest of the queue waits for one of them.
    pub workers: usize,
    /// How long a command may take from its arrival, queueing included, before `DEADLINE`.
    pub command_deadline: Duration,
    /// Link connections served at once; more are answered 503 before upgrading.
    pub max_connections: usize,
    /// How often the server pings each client.
    pub ping_interval: Duration,
    /// A connection that sends nothing (not even a pong) for this long is closed.
    pub idle_timeout: Duration,
    /// How long one write may wait for a client that stopped reading before it is closed.
    pub write_timeout: Duration,
    /// Frames waiting to be written to one connection before it counts as lagging.
    pub outbound_capacity: usize,
}

impl LinkSettings {
    /// The production settings, with `token`.
    pub fn new(token: SecretString) -> Self {
        Self {
            token,
            queue_capacity: 256,
            workers: 16,
            command_deadline: Duration::from_secs(10),
            max_connections: 64,
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            outbound_capacity: 256,
        }
    }
}

/// Runs one bot-token command. The gateway role's runner is [`DiscordRest`]; tests use fakes
/// that block, to fill the queue or outlast the deadline.
#[async_trait]
pub trait CommandRunner: Send + Sync + 'static {
    /// Runs `command`; the `Ok` value is the `ack`'s `data`.
    async fn run(&self, command: Command) -> Result<Value, DiscordError>;
}

/// Where the roster sent on connect comes from (the gateway task's snapshot on the gateway role).
#[async_trait]
pub trait RosterFeed: Send + Sync + 'static {
    /// The roster now.
    async fn roster(&self) -> LinkRoster;
}

#[async_trait]
impl<F> RosterFeed for F
where
    F: Fn() -> LinkRoster + Send + Sync + 'static,
{
    async fn roster(&self) -> LinkRoster {
        self()
    }
}

#[async_trait]
impl CommandRunner for DiscordRest {
    async fn run(&self, command: Command) -> Result<Value, DiscordError> {
        let empty = || json!({});
        Ok(match command {
            Command::SendMessage { channel_id, content } => to_value(&MessageSent {
                message_id: self.send_message(channel_id, &content).await?,
            }),
            Command::AddReaction {
                channel_id,
                message_id,
                emoji,
            } => {
                self.add_reaction(channel_id, message_id, &emoji).await?;
                empty()
            }
            Command::CreateRoomChannel { name, owner_id } => to_value(&ChannelCreated {
                channel_id: self.create_room_channel(&name, owner_id).await?,
            }),
            Command::AllowPlayer { channel_id, user_id } => {
                self.allow_player(channel_id, user_id).await?;
                empty()
            }
            Command::ForbidPlayer { channel_id, user_id } => {
                self.forbid_player(channel_id, user_id).await?;
                empty()
            }
            Command::AddToGuild {
                user_id,
                access_token,
            } => {
                self.add_to_guild(user_id, &access_token.0).await?;
                empty()
            }
            Command::MoveTo { user_id, channel_id } => {
                self.move_to(user_id, channel_id).await?;
                empty()
            }
            Command::Disconnect { user_id } => {
                self.disconnect(user_id).await?;
                empty()
            }
            Command::DeleteChannel { channel_id } => {
                self.delete_channel(channel_id).await?;
                empty()
            }
            Command::VoiceChannelOf { user_id } => to_value(&VoiceChannel {
                channel_id: self.voice_channel_of(user_id).await?,
            }),
            Command::GuildChannels => to_value(&GuildChannels {
                channels: self
                    .guild_channels()
                    .await?
                    .iter()
                    .map(GuildChannelWire::from)
                    .collect(),
            }),
            Command::BotUserId => to_value(&BotUser {
                user_id: self.bot_user_id().await?,
            }),
        })
    }
}

/// What the link is doing, for health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStats {
    /// Open link connections.
    pub connections: usize,
    /// Of which subscribed to events.
    pub subscribers: usize,
    /// Commands accepted and not yet answered.
    pub queue_depth: usize,
    /// The queue's size.
    pub queue_capacity: usize,
}

/// The link's server; cheap to clone. Build the routes with [`LinkServer::router`].
#[derive(Clone)]
pub struct LinkServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LinkServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkServer")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Shared by the routes and every connection task; the semaphores are the one owner of their
/// counts (a permit held is a connection open, a command queued, a Discord call running).
struct Inner {
    settings: LinkSettings,
    /// SHA-256 of the token: comparing digests in constant time also hides the token's length.
    token_digest: [u8; 32],
    runner: Arc<dyn CommandRunner>,
    roster: Arc<dyn RosterFeed>,
    bus: EventBus,
    connections: Arc<Semaphore>,
    queue: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    subscribers: AtomicUsize,
    shutdown: CancellationToken,
    /// Bumped by [`LinkServer::disconnect_all`]; every connection closes when it changes.
    kick: watch::Sender<u64>,
}

impl LinkServer {
    /// A server running commands with `runner`, sending `roster`'s roster on connect and `bus`'s
    /// events to subscribers; its connections close when `shutdown` is cancelled.
    pub fn new(
        settings: LinkSettings,
        runner: Arc<dyn CommandRunner>,
        roster: Arc<dyn RosterFeed>,
        bus: EventBus,
        shutdown: CancellationToken,
    ) -> Self {
        let token_digest = Sha256::digest(settings.token.expose_secret().as_bytes()).into();
        Self {
            inner: Arc::new(Inner {
                connections: Arc::new(Semaphore::new(settings.max_connections)),
                queue: Arc::new(Semaphore::new(settings.queue_capacity)),
                workers: Arc::new(Semaphore::new(settings.workers.max(1))),
                settings,
                token_digest,
                runner,
                roster,
                bus,
                subscribers: AtomicUsize::new(0),
                shutdown,
                kick: watch::Sender::new(0),
            }),
        }
    }

    /// `GET /` (the WebSocket, bearer token required) and `GET /health`.
    pub fn router(&self) -> Router {
        self.socket_router().merge(
            Router::new()
                .route("/health", get(health))
                .with_state(self.clone()),
        )
    }

    /// `GET /` alone, for a process that answers `/health` itself (with [`LinkServer::stats`]).
    pub fn socket_router(&self) -> Router {
        Router::new().route("/", get(upgrade)).with_state(self.clone())
    }

    /// What the link is doing now.
    pub fn stats(&self) -> LinkStats {
        let inner = &self.inner;
        LinkStats {
            connections: inner.settings.max_connections - inner.connections.available_permits(),
            subscribers: inner.subscribers.load(Ordering::Relaxed),
            queue_depth: inner.settings.queue_capacity - inner.queue.available_permits(),
            queue_capacity: inner.settings.queue_capacity,
        }
    }

    /// Closes every link connection (close code [`RECONNECT`]); clients reconnect. For a gateway
    /// that lost its lease, so that clients find the new holder.
    pub fn disconnect_all(&self) {
        self.inner
            .kick
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// Whether `headers` carry `Authorization: Bearer <LINK_TOKEN>`, compared in constant time.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        // The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
        let Some(presented) = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
        else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
        bool::from(digest.ct_eq(&self.inner.token_digest))
    }
}

/// `GET /`: checks the token (401 before any upgrade), the connection limit (503), then upgrades.
async fn upgrade(
    State(server): State<LinkServer>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if !server.authorized(&headers) {
        tracing::warn!("refused a link connection without the right token");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"code": "UNAUTHORIZED", "message": "a valid link token is required"})),
        )
            .into_response();
    }
    if server.inner.shutdown.is_cancelled() {
        return unavailable("the gateway is shutting down");
    }
    let Ok(permit) = server.inner.connections.clone().try_acquire_owned() else {
        tracing::warn!(
            max = server.inner.settings.max_connections,
            "refused a link connection: too many"
        );
        return unavailable("too many link connections");
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            Connection::new(server, socket).run().await;
            drop(permit);
        })
}

fn unavailable(message: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"code": "UNAVAILABLE", "message": message})),
    )
        .into_response()
}

/// `GET /health`.
async fn health(State(server): State<LinkServer>) -> Json<Value> {
    let stats = server.stats();
    Json(json!({
        "status": "ok",
        "connections": stats.connections,
        "subscribers": stats.subscribers,
        "queueDepth": stats.queue_depth,
        "queueCapacity": stats.queue_capacity,
    }))
}

/// Why a connection ends; `None` close code: the peer is gone, nothing to say.
struct Ending {
    code: Option<u16>,
    reason: &'static str,
}

impl Ending {
    const fn close(code: u16, reason: &'static str) -> Self {
        Self {
            code: Some(code),
            reason,
        }
    }

    const fn gone(reason: &'static str) -> Self {
        Self { code: None, reason }
    }
}

/// One link connection: owns its socket, its outbound queue and its subscription.
struct Connection {
    server: LinkServer,
    socket: WebSocket,
    outbound: mpsc::Sender<Envelope>,
    outbound_rx: mpsc::Receiver<Envelope>,
    subscription: Option<BusSubscription>,
}

impl Connection {
    fn new(server: LinkServer, socket: WebSocket) -> Self {
        let (outbound, outbound_rx) = mpsc::channel(server.inner.settings.outbound_capacity.max(1));
        Self {
            server,
            socket,
            outbound,
            outbound_rx,
            subscription: None,
        }
    }

    async fn run(mut self) {
        tracing::info!("a link client connected");
        let ending = match self.serve().await {
            Err(ending) => ending,
            Ok(never) => match never {},
        };
        if self.subscription.take().is_some() {
            self.server.inner.subscribers.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(code) = ending.code {
            let close = Message::Close(Some(CloseFrame {
                code,
                reason: ending.reason.into(),
            }));
            let write_timeout = self.server.inner.settings.write_timeout;
            // Best effort: the peer may be gone or not reading.
            let _ = tokio::time::timeout(write_timeout, self.socket.send(close)).await;
        }
        tracing::info!(reason = ending.reason, "a link client disconnected");
    }

    /// Serves until the connection must end; the `Err` says why.
    async fn serve(&mut self) -> Result<Infallible, Ending> {
        let settings = self.server.inner.settings.clone();
        let Ok(roster) =
            tokio::time::timeout(settings.write_timeout, self.server.inner.roster.roster()).await
        else {
            return Err(Ending::close(1011, "the roster is not available"));
        };
        let frame = Envelope::event(ROSTER_EVENT, to_value(&roster));
        self.write(Message::Text(frame.to_text().into()), settings.write_timeout)
            .await?;
        let mut ping =
            tokio::time::interval_at(Instant::now() + settings.ping_interval, settings.ping_interval);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut idle_deadline = Instant::now() + settings.idle_timeout;
        let mut kick = self.server.inner.kick.subscribe();
        let shutdown = self.server.inner.shutdown.clone();
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Err(Ending::close(1001, "the gateway is shutting down")),
                _ = kick.changed() => return Err(Ending::close(RECONNECT, "reconnect")),
                () = tokio::time::sleep_until(idle_deadline) => {
                    return Err(Ending::close(1001, "no frame within the idle timeout"));
                }
                // Answers and pings go out before more is read, so that a client sending without
                // pause cannot starve its own answers (and fill the outbound queue).
                Some(frame) = self.outbound_rx.recv() => {
                    self.write(Message::Text(frame.to_text().into()), settings.write_timeout).await?;
                }
                _ = ping.tick() => {
                    self.write(Message::Ping(axum::body::Bytes::new()), settings.write_timeout).await?;
                }
                frame = self.socket.recv() => {
                    idle_deadline = Instant::now() + settings.idle_timeout;
                    match frame {
                        None | Some(Ok(Message::Close(_))) => return Err(Ending::gone("closed by the client")),
                        Some(Err(err)) => {
                            tracing::debug!(error = %err, "link read failed");
                            // The one read error a client causes on purpose is an oversized frame
                            // (1009); any other means the socket is broken, and a close is moot.
                            return Err(Ending::close(1009, "frame too large or unreadable"));
                        }
                        Some(Ok(Message::Text(text))) => self.on_text(text.as_str())?,
                        Some(Ok(Message::Binary(_))) => {
                            self.queue(Envelope::error(None, ErrorCode::BadFrame, "binary frames are not part of the protocol"))?;
                        }
                        // Pongs only prove the peer is alive; pings are answered by the socket.
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    }
                }
                message = next_event(self.subscription.as_mut()) => match message {
                    BusMessage::Event(event) => {
                        let payload = serde_json::to_value(&event).unwrap_or(Value::Null);
                        self.queue(Envelope::new(FrameKind::Event, payload, None))?;
                    }
                    BusMessage::Lagged(missed) => {
                        tracing::warn!(missed, "a link subscriber fell behind the bus; closing it");
                        return Err(Ending::close(LAGGING, "fell behind; reconnect for a fresh roster"));
                    }
                    BusMessage::Closed => return Err(Ending::close(1001, "the event bus stopped")),
                },
            }
        }
    }

    /// Writes one message, or ends the connection if the client does not take it in time.
    async fn write(&mut self, message: Message, timeout: Duration) -> Result<(), Ending> {
        match tokio::time::timeout(timeout, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Ending::gone("write failed")),
            Err(_) => Err(Ending::close(LAGGING, "not reading")),
        }
    }

    /// Queues a frame this task produced (an event, an error about a frame). A full queue means
    /// the client is not keeping up: it is closed rather than allowed to hold memory.
    fn queue(&self, frame: Envelope) -> Result<(), Ending> {
        self.outbound
            .try_send(frame)
            .map_err(|_| Ending::close(LAGGING, "fell behind; reconnect for a fresh roster"))
    }

    fn on_text(&mut self, text: &str) -> Result<(), Ending> {
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(_) => return self.queue(Envelope::error(None, ErrorCode::BadFrame, "not JSON")),
        };
        // Best effort, so that even a malformed command's error can be matched to it.
        let request_id = value
            .get("requestId")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty() && id.len() <= MAX_REQUEST_ID)
            .map(str::to_owned);
        let envelope: Envelope = match serde_json::from_value(value) {
            Ok(envelope) => envelope,
            Err(_) => {
                return self.queue(Envelope::error(
                    request_id,
                    ErrorCode::BadFrame,
                    "not an envelope {type, data, requestId?, ts}",
                ));
            }
        };
        if envelope.kind != FrameKind::Command {
            return self.queue(Envelope::error(
                request_id,
                ErrorCode::BadFrame,
                "only commands are accepted",
            ));
        }
        let Some(request_id) = request_id else {
            return self.queue(Envelope::error(
                None,
                ErrorCode::BadFrame,
                format!("a command needs a requestId of 1 to {MAX_REQUEST_ID} characters"),
            ));
        };
        match Request::parse(envelope.data) {
            Err(err) => self.queue(Envelope::error(Some(request_id), err.code(), err.to_string())),
            Ok(Request::Subscribe) => {
                if self.subscription.is_none() {
                    self.subscription = Some(self.server.inner.bus.subscribe());
                    self.server.inner.subscribers.fetch_add(1, Ordering::Relaxed);
                }
                self.queue(Envelope::new(
                    FrameKind::Ack,
                    json!({"subscribed": true}),
                    Some(request_id),
                ))
            }
            Ok(Request::Discord(command)) => {
                let Ok(place) = self.server.inner.queue.clone().try_acquire_owned() else {
                    tracing::warn!(command = command.name(), "link command queue full");
                    return self.queue(Envelope::error(
                        Some(request_id),
                        ErrorCode::QueueFull,
                        "the gateway's command queue is full; retry later",
                    ));
                };
                tokio::spawn(execute(
                    self.server.inner.clone(),
                    command,
                    request_id,
                    place,
                    self.outbound.clone(),
                ));
                Ok(())
            }
        }
    }
}

/// The next bus message, or never without a subscription (so `select!` skips it).
async fn next_event(subscription: Option<&mut BusSubscription>) -> BusMessage {
    match subscription {
        Some(subscription) => subscription.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs one queued command under the deadline and sends its one answer. The answer waits for room
/// in the connection's outbound queue (it must not be dropped); if the connection has gone, the
/// client has already failed the command as "unavailable".
async fn execute(
    inner: Arc<Inner>,
    command: Command,
    request_id: String,
    place: OwnedSemaphorePermit,
    outbound: mpsc::Sender<Envelope>,
) {
    let name = command.name();
    let run = async {
        // The queue's place is held until the answer is known; a worker is held while Discord
        // is called. Neither semaphore is ever closed.
        let _worker = inner.workers.acquire().await;
        inner.runner.run(command).await
    };
    // Every command gets its one answer, even when running it panicked (a bug): the task is this
    // command's own, so nothing else would notice, and the client would wait out its deadline.
    let run = std::panic::AssertUnwindSafe(run).catch_unwind();
    let frame = match tokio::time::timeout(inner.settings.command_deadline, run).await {
        Ok(Err(_panic)) => {
            tracing::error!(command = name, "a link command panicked");
            Envelope::error(
                Some(request_id),
                ErrorCode::Other,
                "the gateway failed to run the command",
            )
        }
        Ok(Ok(Ok(result))) => Envelope::new(FrameKind::Ack, result, Some(request_id)),
        Ok(Ok(Err(err))) => {
            tracing::info!(command = name, error = %err, "a link command failed at Discord");
            let body = ErrorBody::of(&err);
            Envelope::new(FrameKind::Error, to_value(&body), Some(request_id))
        }
        Err(_) => {
            tracing::warn!(command = name, "a link command outlasted its deadline");
            Envelope::error(
                Some(request_id),
                ErrorCode::Deadline,
                format!("no result within {:?}", inner.settings.command_deadline),
            )
        }
    };
    drop(place);
    let _ = outbound.send(frame).await;
}
