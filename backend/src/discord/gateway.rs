//! The gateway task: the only producer of Discord-originated events.
//!
//! [`run`] owns a twilight `Shard` and polls it with twilight's loop; every event goes through
//! [`Gateway::handle`], a synchronous step that updates the connection state, applies the event to
//! the [`Roster`] and publishes the resulting app events on the bus. Tests drive that step directly
//! or run the task against the simulator.
//!
//! Reconnection is twilight's: it resumes after drops, op 7 and zombied connections and
//! re-identifies after op 9 `false`. A fatal close (4004, 4010–4014) ends the task with
//! [`GatewayError::Fatal`] instead of looping; [`supervise`] restarts a shard that ended for any
//! other reason, with capped backoff, so transient failures are never final.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use twilight_gateway::{
    CloseFrame, ConfigBuilder, EventTypeFlags, Intents, Shard, ShardId, StreamExt as _, queue::Queue,
};
use twilight_model::gateway::{CloseCode, event::Event};

use crate::{
    bus::EventBus,
    roster::{Roster, RosterSource, SnapshotRequests},
};

/// `GUILDS | GUILD_VOICE_STATES` (129): channels and voice states, nothing privileged.
pub const INTENTS: Intents = Intents::GUILDS.union(Intents::GUILD_VOICE_STATES);

/// The events the app depends on; twilight skips deserialising everything else. (Close frames
/// always arrive, as `Event::GatewayClose`.)
pub const EVENT_TYPES: EventTypeFlags = EventTypeFlags::READY
    .union(EventTypeFlags::RESUMED)
    .union(EventTypeFlags::GUILD_CREATE)
    .union(EventTypeFlags::VOICE_STATE_UPDATE)
    .union(EventTypeFlags::CHANNEL_CREATE)
    .union(EventTypeFlags::CHANNEL_DELETE)
    .union(EventTypeFlags::GATEWAY_HELLO)
    .union(EventTypeFlags::GATEWAY_RECONNECT)
    .union(EventTypeFlags::GATEWAY_INVALIDATE_SESSION);

/// Restart delays after a shard ends unexpectedly: doubling from the first, capped at the last.
const RESTART_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

/// The connection's state, as health and metrics report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayState {
    /// Not running (before start, after shutdown).
    Disconnected,
    /// Opening the WebSocket.
    Connecting,
    /// Connected, identifying or resuming.
    Identifying,
    /// Receiving events.
    Connected,
    /// Lost the connection; twilight is reconnecting.
    Reconnecting,
    /// Discord refused us for good (bad token, disallowed intents…); needs an operator.
    Fatal(u16),
}

impl GatewayState {
    /// The seeds' name for the state (`CONNECTED`, …; `FATAL` for a fatal close).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Disconnected => "DISCONNECTED",
            Self::Connecting => "CONNECTING",
            Self::Identifying => "IDENTIFYING",
            Self::Connected => "CONNECTED",
            Self::Reconnecting => "RECONNECTING",
            Self::Fatal(_) => "FATAL",
        }
    }
}

/// Why the gateway task stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// Discord closed with a code that must not be retried.
    #[error("Discord closed the gateway with fatal code {code}: {reason}")]
    Fatal {
        /// The close code.
        code: u16,
        /// Discord's name for it.
        reason: &'static str,
    },
    /// The shard's stream ended without a fatal close (should not happen; restarted).
    #[error("the gateway connection ended unexpectedly")]
    Ended,
}

/// The gateway task's state: the roster it owns and where it publishes.
#[derive(Debug)]
pub struct Gateway {
    roster: Roster,
    bus: EventBus,
    state: watch::Sender<GatewayState>,
    /// The last close code Discord sent, to tell a fatal end from any other.
    last_close: Option<u16>,
    /// Consumers that lost events ask here for the whole roster.
    requests: SnapshotRequests,
    source: RosterSource,
    /// When the connection stopped being CONNECTED (from creation until it first is); `None`
    /// while connected. Readiness counts its grace period from here (see [`Gateway::down_since`]).
    down_since: watch::Sender<Option<Instant>>,
}

impl Gateway {
    /// A gateway step for `roster`'s guild, publishing on `bus`.
    pub fn new(roster: Roster, bus: EventBus) -> Self {
        let (source, requests) = RosterSource::channel();
        Self {
            roster,
            bus,
            state: watch::channel(GatewayState::Disconnected).0,
            last_close: None,
            requests,
            source,
            down_since: watch::channel(Some(Instant::now())).0,
        }
    }

    /// Follows when the connection stopped being CONNECTED (`None` while it is).
    pub fn down_since(&self) -> watch::Receiver<Option<Instant>> {
        self.down_since.subscribe()
    }

    /// Keeps [`Gateway::down_since`] and the reconnect count in step with a state change.
    fn track_downtime(&self, previous: GatewayState, next: GatewayState) {
        if next == GatewayState::Connected {
            self.down_since.send_replace(None);
        } else if previous == GatewayState::Connected {
            self.down_since.send_replace(Some(Instant::now()));
            if next != GatewayState::Disconnected {
                metrics::counter!(crate::metric_names::GATEWAY_RECONNECTS).increment(1);
            }
        }
    }

    /// Where consumers of the bus get the whole roster after falling behind.
    pub fn roster_source(&self) -> RosterSource {
        self.source.clone()
    }

    /// Follows the connection state.
    pub fn state(&self) -> watch::Receiver<GatewayState> {
        self.state.subscribe()
    }

    /// The roster as the task knows it.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    fn set_state(&self, state: GatewayState) {
        self.track_downtime(*self.state.borrow(), state);
        self.state.send_if_modified(|current| {
            let changed = *current != state;
            *current = state;
            changed
        });
    }

    /// Handles one event: connection state, then the roster, then the bus.
    pub fn handle(&mut self, event: &Event) {
        if let Some(name) = event.kind().name() {
            metrics::counter!(crate::metric_names::GATEWAY_DISPATCHES, "type" => name).increment(1);
        }
        match event {
            Event::GatewayHello(_) => self.set_state(GatewayState::Identifying),
            Event::Ready(_) | Event::Resumed => {
                let how = if matches!(event, Event::Ready(_)) {
                    "identify"
                } else {
                    "resume"
                };
                metrics::counter!(crate::metric_names::GATEWAY_SESSIONS, "how" => how).increment(1);
                self.last_close = None;
                self.set_state(GatewayState::Connected);
            }
            Event::GatewayClose(frame) => {
                self.last_close = frame.as_ref().map(|frame| frame.code);
                tracing::warn!(code = ?self.last_close, "gateway connection closed");
                self.set_state(GatewayState::Reconnecting);
            }
            Event::GatewayReconnect => {
                tracing::info!("Discord asked for a reconnect (op 7); resuming");
                self.set_state(GatewayState::Reconnecting);
            }
            Event::GatewayInvalidateSession(resumable) => {
                tracing::info!(resumable, "session invalidated (op 9)");
                self.set_state(GatewayState::Reconnecting);
            }
            _ => {}
        }
        for app_event in self.roster.apply(event) {
            self.bus.publish(app_event);
        }
    }

    /// What ended the shard's stream.
    fn end_reason(&self) -> GatewayError {
        match self.last_close.map(|code| (code, CloseCode::try_from(code))) {
            Some((code, Ok(close))) if !close.can_reconnect() => GatewayError::Fatal {
                code,
                reason: close_reason(close),
            },
            _ => GatewayError::Ended,
        }
    }
}

fn close_reason(code: CloseCode) -> &'static str {
    match code {
        CloseCode::AuthenticationFailed => "the bot token is invalid",
        CloseCode::InvalidShard | CloseCode::ShardingRequired => "the shard configuration is invalid",
        CloseCode::InvalidApiVersion => "the gateway API version is invalid",
        CloseCode::InvalidIntents => "the intents are invalid",
        CloseCode::DisallowedIntents => "the intents are not enabled for this application",
        _ => "Discord refused the connection",
    }
}

/// Polls `shard` until shutdown (then closes it resumably) or until it ends.
pub async fn run<Q: Queue + Unpin>(
    shard: &mut Shard<Q>,
    gateway: &mut Gateway,
    shutdown: &CancellationToken,
) -> Result<(), GatewayError> {
    gateway.set_state(GatewayState::Connecting);
    loop {
        let item = tokio::select! {
            () = shutdown.cancelled() => {
                // Close resumably: Discord keeps the session, so a restart can resume it.
                shard.close(CloseFrame::RESUME);
                gateway.set_state(GatewayState::Disconnected);
                return Ok(());
            }
            Some(reply) = gateway.requests.recv() => {
                let _ = reply.send(gateway.roster.snapshot());
                continue;
            }
            item = shard.next_event(EVENT_TYPES) => item,
        };
        let Some(item) = item else {
            let reason = gateway.end_reason();
            if let GatewayError::Fatal { code, .. } = reason {
                gateway.set_state(GatewayState::Fatal(code));
            }
            return Err(reason);
        };
        match item {
            Ok(event) => gateway.handle(&event),
            Err(err) => tracing::warn!(error = %err, "gateway receive error; twilight recovers"),
        }
    }
}

/// Where and how to connect. `Debug` hides the token.
#[derive(Clone)]
pub struct ShardSettings {
    /// The bot token (without `Bot `; twilight adds it).
    pub token: String,
    /// The gateway URL (`wss://gateway.discord.gg` or the simulator's).
    pub gateway_url: String,
}

impl std::fmt::Debug for ShardSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardSettings")
            .field("token", &"[redacted]")
            .field("gateway_url", &self.gateway_url)
            .finish()
    }
}

/// Runs the gateway until shutdown, restarting the shard with capped backoff whenever it ends for
/// a reason other than a fatal close; a fatal close stops it and is returned.
pub async fn supervise<Q: Queue + Clone + Unpin>(
    settings: ShardSettings,
    queue: Q,
    mut gateway: Gateway,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    let mut delay = RESTART_BACKOFF.0;
    loop {
        let config = ConfigBuilder::new(settings.token.clone(), INTENTS)
            .proxy_url(settings.gateway_url.clone())
            .queue(queue.clone())
            .build();
        let mut shard = Shard::with_config(ShardId::ONE, config);
        match run(&mut shard, &mut gateway, &shutdown).await {
            Ok(()) => return Ok(()),
            Err(err @ GatewayError::Fatal { .. }) => {
                tracing::error!(error = %err, "the gateway stopped for good; fix the configuration");
                return Err(err);
            }
            Err(GatewayError::Ended) => {
                tracing::warn!(retry_in = ?delay, "the gateway ended unexpectedly; restarting");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(RESTART_BACKOFF.1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ShardSettings;

    #[test]
    fn settings_never_print_the_bot_token() {
        let settings = ShardSettings {
            token: "secret-bot-token".to_owned(),
            gateway_url: "wss://gateway.discord.gg".to_owned(),
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }
}
