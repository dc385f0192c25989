//! The gateway task: the only producer of Discord-originated events.
//!
//! [`run`] owns a twilight `Shard` and polls it with twilight's loop; every event goes through
//! [`Gateway::handle`], a synchronous step that updates the connection state, applies the event to
//! the [`Roster`] and publishes the resulting app events on the bus. Tests drive that step directly
//! or run the task against the simulator.
//!
//! Reconnection: twilight resumes after drops, op 7 and zombied connections and re-identifies after
//! op 9 `false`. When a connection cannot even be opened, twilight 0.17 would wait 2^attempt
//! seconds (up to 255 s) before the next try; instead [`supervise`] rebuilds the shard from its
//! session on its own [`ReconnectSchedule`] (jittered, capped at `GATEWAY_RECONNECT_MAX_SECS`,
//! never giving up), so the app is back soon after Discord answers again. A fatal close (4004,
//! 4010–4014) ends the task with [`GatewayError::Fatal`] instead of looping.
//!
//! Restarts: with a [`SessionStore`], the session (id, sequence, resume URL) is saved together with
//! the roster it is valid at, periodically and on shutdown (after the resumable close frame has
//! really been sent). The next process hands a plausible saved session to twilight, which RESUMEs:
//! Discord replays what happened since and the roster catches up. A refused resume (op 9 false)
//! falls back to identify, whose `GUILD_CREATE` corrects the roster by difference.

use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};
use tokio::{sync::watch, time::Instant};
use tokio_util::sync::CancellationToken;
use twilight_gateway::{
    CloseFrame, ConfigBuilder, EventTypeFlags, Intents, Session, Shard, ShardId, StreamExt as _,
    error::ReceiveMessageErrorType, queue::Queue,
};
use twilight_model::gateway::{CloseCode, event::Event};

use crate::{
    Store,
    bus::EventBus,
    cluster::stream::DispatchPosition,
    config::GatewayConfig,
    roster::{Roster, RosterSource, SnapshotRequests},
    store::{GatewaySessionRecord, unix_millis},
};

/// `GUILDS | GUILD_VOICE_STATES` (129): channels and voice states, nothing privileged.
pub const INTENTS: Intents = Intents::GUILDS.union(Intents::GUILD_VOICE_STATES);

/// The events the app depends on; twilight skips deserialising everything else. (Close frames
/// always arrive, as `Event::GatewayClose`.)
pub const EVENT_TYPES: EventTypeFlags = EventTypeFlags::READY
    .union(EventTypeFlags::RESUMED)
    .union(EventTypeFlags::GUILD_CREATE)
    .union(EventTypeFlags::GUILD_DELETE)
    .union(EventTypeFlags::VOICE_STATE_UPDATE)
    .union(EventTypeFlags::CHANNEL_CREATE)
    .union(EventTypeFlags::CHANNEL_DELETE)
    .union(EventTypeFlags::GATEWAY_HELLO)
    .union(EventTypeFlags::GATEWAY_RECONNECT)
    .union(EventTypeFlags::GATEWAY_INVALIDATE_SESSION);

/// The first wait of the reconnect schedule (before jitter).
const RECONNECT_FIRST: Duration = Duration::from_secs(1);

/// After a roster change the session is saved this soon (or at `save_every`, if sooner), so the
/// saved roster trails the live one by little even between periodic saves.
const SAVE_SOON: Duration = Duration::from_millis(250);

/// How long a graceful stop waits for the resumable close frame to be sent and answered.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

/// How long one save may take before it is abandoned (and retried at the next one).
const SAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// When to try again after a connection could not be opened: jittered exponential backoff from
/// 1 s, every wait within `[d, 2d)` and never above the cap, without end. twilight 0.17 adds its
/// own 1 s before every connect of a fresh shard, on top of these.
#[derive(Debug)]
pub struct ReconnectSchedule {
    builder: ExponentialBuilder,
    backoff: ExponentialBackoff,
    cap: Duration,
}

impl ReconnectSchedule {
    /// A schedule whose waits never exceed `cap`.
    pub fn new(cap: Duration) -> Self {
        Self::with_builder(Self::builder(cap), cap)
    }

    /// The same schedule with a fixed jitter seed, for reproducible tests.
    pub fn seeded(cap: Duration, seed: u64) -> Self {
        Self::with_builder(Self::builder(cap).with_jitter_seed(seed), cap)
    }

    fn builder(cap: Duration) -> ExponentialBuilder {
        // backon's jitter adds up to 100 % of the delay, so the plateau is half the cap: waits
        // there spread over [cap/2, cap) instead of every client retrying in lockstep.
        ExponentialBuilder::new()
            .with_min_delay(RECONNECT_FIRST.min(cap / 2))
            .with_max_delay(cap / 2)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
    }

    fn with_builder(builder: ExponentialBuilder, cap: Duration) -> Self {
        Self {
            backoff: builder.build(),
            builder,
            cap,
        }
    }

    /// The wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.backoff.next().unwrap_or(self.cap).min(self.cap)
    }

    /// Starts over from the first wait: the connection is up again.
    pub fn reset(&mut self) {
        self.backoff = self.builder.build();
    }
}

/// Where the gateway keeps its session and roster between processes, and how it decides whether a
/// saved one may be resumed.
#[derive(Clone)]
pub struct SessionStore {
    store: Store,
    /// Hex SHA-256 of the bot token: a session is only resumed with the token it belongs to.
    token_hash: String,
    save_every: Duration,
    resume_max_age: Duration,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("save_every", &self.save_every)
            .field("resume_max_age", &self.resume_max_age)
            .finish_non_exhaustive()
    }
}

impl SessionStore {
    /// Saves to `store` the sessions of the bot with `token`, as `config` says.
    pub fn new(store: Store, token: &str, config: &GatewayConfig) -> Self {
        Self {
            store,
            token_hash: token_hash(token),
            save_every: config.save_every,
            resume_max_age: config.resume_max_age,
        }
    }

    /// Whether `record` may be resumed now: same bot, same intents, young enough.
    fn plausible(&self, record: &GatewaySessionRecord, now_ms: i64) -> Result<(), &'static str> {
        if record.token_hash != self.token_hash {
            return Err("it belongs to another bot token");
        }
        if record.intents != INTENTS.bits() {
            return Err("it was identified with other intents");
        }
        let age_ms = now_ms.saturating_sub(record.saved_at_ms);
        let max_ms = i64::try_from(self.resume_max_age.as_millis()).unwrap_or(i64::MAX);
        if !(0..=max_ms).contains(&age_ms) {
            return Err("it is older than GATEWAY_RESUME_MAX_AGE_SECS");
        }
        Ok(())
    }
}

/// Hex SHA-256 of a bot token, as saved next to its session (the invite tokens' hash).
fn token_hash(token: &str) -> String {
    crate::rooms::hash_token(token.strip_prefix("Bot ").unwrap_or(token))
}

/// Whether a saved resume URL may receive the bot token (RESUME carries it): a `wss://` host of
/// Discord's, or the configured gateway's own scheme, host and port (the simulator's). Anything
/// else in the database was not written by this app and is ignored.
fn trusted_resume_url(resume_url: &str, gateway_url: &str) -> bool {
    let Ok(resume) = url::Url::parse(resume_url) else {
        return false;
    };
    let discords = resume.scheme() == "wss"
        && resume
            .host_str()
            .is_some_and(|host| host == "discord.gg" || host.ends_with(".discord.gg"));
    let configured = url::Url::parse(gateway_url).is_ok_and(|gateway| {
        gateway.scheme() == resume.scheme()
            && gateway.host_str() == resume.host_str()
            && gateway.port_or_known_default() == resume.port_or_known_default()
    });
    discords || configured
}

/// A session to hand to the next shard.
#[derive(Debug, Clone)]
struct Resume {
    session: Session,
    url: Option<String>,
}

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
    /// A connection could not be opened; the shard is rebuilt on the reconnect schedule.
    #[error("Discord's gateway could not be reached")]
    Unreachable,
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
    /// Where the session is saved for the next process, if anywhere.
    saved: Option<SessionStore>,
    /// When the next save is due (set by events, cleared by a save).
    save_due: Option<Instant>,
    /// The sequence last saved, so an idle connection is not saved again and again.
    saved_sequence: Option<(String, u64)>,
    /// Whether the current shard got as far as READY or RESUMED (the reconnect schedule then
    /// starts over).
    reached_discord: bool,
    /// Split roles: the newest dispatch a previous lease holder already published to the Stream.
    /// Resuming its session replays dispatches up to there; they update the roster but are not
    /// published again, and neither is the saved roster this term starts from.
    published: Option<DispatchPosition>,
    /// Whether restoring the saved roster is kept from the bus (see [`Gateway::after_published`]).
    quiet_restore: bool,
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
            saved: None,
            save_due: None,
            saved_sequence: None,
            reached_discord: false,
            down_since: watch::channel(Some(Instant::now())).0,
            published: None,
            quiet_restore: false,
        }
    }

    /// Starts a lease holder's term after `published` (see the field): what the Stream already
    /// carries is not published twice.
    #[must_use]
    pub fn after_published(mut self, published: Option<DispatchPosition>) -> Self {
        self.published = published;
        self.quiet_restore = true;
        self
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

    /// Saves the session and roster to `sessions` while running and on shutdown, and resumes a
    /// plausible saved one on start.
    #[must_use]
    pub fn with_session_store(mut self, sessions: SessionStore) -> Self {
        self.saved = Some(sessions);
        self
    }

    /// Reports the connection state and downtime on the given channels instead of its own: a
    /// gateway process runs one `Gateway` per term as lease holder, and its health follows them
    /// all on the same two channels.
    #[must_use]
    pub fn reporting_to(
        mut self,
        state: watch::Sender<GatewayState>,
        down_since: watch::Sender<Option<Instant>>,
    ) -> Self {
        state.send_replace(*self.state.borrow());
        down_since.send_replace(*self.down_since.borrow());
        self.state = state;
        self.down_since = down_since;
        self
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

    /// Moves to `state`. Any state but CONNECTED means the roster stops following Discord, which
    /// viewers are told at once (`discord.status`); only a `RESUMED` or the guild's `GUILD_CREATE`
    /// makes it the truth again (see [`Roster::apply`]).
    fn set_state(&mut self, state: GatewayState) {
        self.track_downtime(*self.state.borrow(), state);
        if state != GatewayState::Connected
            && let Some(lost) = self.roster.lost()
        {
            self.bus.publish(lost);
        }
        self.state.send_if_modified(|current| {
            let changed = *current != state;
            *current = state;
            changed
        });
    }

    /// Handles one event: connection state, then the roster, then the bus.
    pub fn handle(&mut self, event: &Event) {
        self.handle_at(event, None);
    }

    /// [`Gateway::handle`] for a dispatch received in `session` (its sequence is the dispatch's).
    pub fn handle_at(&mut self, event: &Event, session: Option<&Session>) {
        let position = session.map(|session| DispatchPosition {
            session: session.id().to_owned(),
            sequence: session.sequence(),
        });
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
                self.reached_discord = true;
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
        let app_events = self.roster.apply(event);
        if let Some(saved) = &self.saved
            && (matches!(event, Event::Ready(_) | Event::Resumed | Event::GuildCreate(_))
                || !app_events.is_empty())
        {
            // A roster change (or a new session) is saved soon; plain progress at `save_every`.
            let soon = Instant::now() + SAVE_SOON.min(saved.save_every);
            self.save_due = Some(self.save_due.map_or(soon, |due| due.min(soon)));
        } else if let Some(saved) = &self.saved
            && self.save_due.is_none()
        {
            self.save_due = Some(Instant::now() + saved.save_every);
        }
        let already_published = match (&position, &self.published) {
            (Some(at), Some(published)) => {
                at.session == published.session && at.sequence <= published.sequence
            }
            _ => false,
        };
        if already_published {
            return;
        }
        for app_event in app_events {
            self.bus.publish_from(app_event, position.clone());
        }
    }

    /// Loads the saved session if it may be resumed, restoring its roster (and telling viewers).
    /// `gateway_url` is the configured gateway, the only place besides Discord's own hosts a saved
    /// resume URL may point to.
    async fn load(&mut self, gateway_url: &str) -> Option<Resume> {
        let saved = self.saved.as_ref()?;
        let record =
            match tokio::time::timeout(SAVE_TIMEOUT, saved.store.gateway_session(self.roster.guild_id()))
                .await
            {
                Ok(Ok(Some(record))) => record,
                Ok(Ok(None)) => return None,
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "cannot read the saved gateway session; identifying");
                    return None;
                }
                Err(_) => {
                    tracing::warn!("reading the saved gateway session timed out; identifying");
                    return None;
                }
            };
        if let Err(why) = saved.plausible(&record, unix_millis()) {
            tracing::info!(why, "not resuming the saved gateway session; identifying");
            return None;
        }
        tracing::info!(
            sequence = record.sequence,
            members = record.roster.len(),
            "resuming the saved gateway session"
        );
        let restored = self.roster.restore(&record.roster);
        // A lease holder's viewers have this roster already: it came from the Stream.
        if !self.quiet_restore {
            for app_event in restored {
                self.bus.publish(app_event);
            }
        }
        self.saved_sequence = Some((record.session_id.clone(), record.sequence));
        let url = record.resume_url.filter(|url| {
            let trusted = trusted_resume_url(url, gateway_url);
            if !trusted {
                tracing::warn!("the saved resume URL is not Discord's; resuming at the gateway URL");
            }
            trusted
        });
        Some(Resume {
            session: Session::new(record.sequence, record.session_id),
            url,
        })
    }

    /// Saves the shard's session (see [`resume_of`]) with the roster as it is now, and waits for
    /// the write: the last save, at shutdown.
    async fn save(&mut self, current: Option<Resume>) {
        if let Some(write) = self.begin_save(current) {
            let outcome = write.await;
            self.saved(outcome);
        }
    }

    /// Takes what is to be saved now — the session with the roster as it is, which reflects
    /// exactly the dispatches up to the session's sequence — and returns the write, which owns
    /// everything it needs. [`run`] keeps applying dispatches while it runs: a database that takes
    /// tens of milliseconds to commit must not hold up the live roster.
    fn begin_save(&mut self, current: Option<Resume>) -> Option<SaveWrite> {
        self.save_due = None;
        let (Some(saved), Some(Resume { session, url })) = (&self.saved, current) else {
            return None;
        };
        let key = (session.id().to_owned(), session.sequence());
        let store = saved.store.clone();
        if self.saved_sequence.as_ref() == Some(&key) {
            if *self.state.borrow() != GatewayState::Connected {
                return None;
            }
            // Nothing new, but the session is alive: keep its age honest for the next start.
            let guild = self.roster.guild_id();
            return Some(Box::pin(async move {
                let touch = store.touch_gateway_session(guild, &key.0, unix_millis());
                if let Ok(Err(err)) = tokio::time::timeout(SAVE_TIMEOUT, touch).await {
                    tracing::warn!(error = %err, "cannot refresh the saved gateway session");
                }
                SaveOutcome::Touched
            }));
        }
        let record = GatewaySessionRecord {
            guild_id: self.roster.guild_id(),
            session_id: key.0.clone(),
            sequence: key.1,
            resume_url: url,
            token_hash: saved.token_hash.clone(),
            intents: INTENTS.bits(),
            saved_at_ms: unix_millis(),
            roster: self.roster.snapshot().members,
        };
        Some(Box::pin(async move {
            match tokio::time::timeout(SAVE_TIMEOUT, store.save_gateway_session(&record)).await {
                Ok(Ok(())) => {
                    tracing::debug!(sequence = key.1, "gateway session saved");
                    SaveOutcome::Saved(key)
                }
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "cannot save the gateway session; retrying");
                    SaveOutcome::Failed
                }
                Err(_) => {
                    tracing::warn!("saving the gateway session timed out; retrying");
                    SaveOutcome::Failed
                }
            }
        }))
    }

    /// Books a finished write and schedules the next save.
    fn saved(&mut self, outcome: SaveOutcome) {
        let Some(saved) = &self.saved else { return };
        let next = Instant::now() + saved.save_every;
        match outcome {
            SaveOutcome::Saved(key) => {
                self.saved_sequence = Some(key);
                if *self.state.borrow() == GatewayState::Connected {
                    self.save_due = Some(self.save_due.map_or(next, |due| due.min(next)));
                }
            }
            // A change that arrived during the write has already asked for a save sooner.
            SaveOutcome::Touched | SaveOutcome::Failed => {
                self.save_due = Some(self.save_due.map_or(next, |due| due.min(next)));
            }
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

/// A save's database write, run beside the event loop (see [`Gateway::begin_save`]).
type SaveWrite = std::pin::Pin<Box<dyn Future<Output = SaveOutcome> + Send>>;

/// How a save's write ended.
#[derive(Debug)]
enum SaveOutcome {
    /// The session and roster at this (session id, sequence) are stored.
    Saved((String, u64)),
    /// Nothing new: only the saved session's age was refreshed (or trying to failed).
    Touched,
    /// The write failed or timed out; the next save retries.
    Failed,
}

/// Waits for the write in flight, if there is one.
async fn write_finished(write: &mut Option<SaveWrite>) -> SaveOutcome {
    match write {
        Some(write) => write.await,
        None => std::future::pending().await,
    }
}

/// Polls `shard` until shutdown (then closes it resumably, lets the close frame go out and saves
/// the session) or until it ends. A connection that cannot be opened ends it with
/// [`GatewayError::Unreachable`], for [`supervise`] to retry on its own schedule.
pub async fn run<Q: Queue + Unpin>(
    shard: &mut Shard<Q>,
    gateway: &mut Gateway,
    shutdown: &CancellationToken,
) -> Result<(), GatewayError> {
    gateway.set_state(GatewayState::Connecting);
    // At most one write at a time, so saves land in the order they were taken.
    let mut writing: Option<SaveWrite> = None;
    loop {
        let save_due = if writing.is_some() { None } else { gateway.save_due };
        let item = tokio::select! {
            () = shutdown.cancelled() => {
                if let Some(write) = writing.take() {
                    gateway.saved(write.await);
                }
                close_resumably(shard, gateway).await;
                gateway.save(resume_of(shard)).await;
                gateway.set_state(GatewayState::Disconnected);
                return Ok(());
            }
            Some(reply) = gateway.requests.recv() => {
                let _ = reply.send(gateway.roster.snapshot());
                continue;
            }
            outcome = write_finished(&mut writing) => {
                writing = None;
                gateway.saved(outcome);
                continue;
            }
            () = sleep_until_some(save_due) => {
                writing = gateway.begin_save(resume_of(shard));
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
            Ok(event) => gateway.handle_at(&event, shard.session()),
            Err(err) if matches!(err.kind(), ReceiveMessageErrorType::Reconnect) => {
                tracing::warn!(error = %err, "cannot connect to Discord's gateway");
                gateway.set_state(GatewayState::Reconnecting);
                return Err(GatewayError::Unreachable);
            }
            Err(err) => tracing::warn!(error = %err, "gateway receive error; twilight recovers"),
        }
    }
}

/// Sends the resumable close frame (Discord keeps the session, so the next process can resume it)
/// and polls the shard until the close has gone out and been answered, or briefly at most: twilight
/// only writes the frame while it is polled. Dispatches that still arrive are applied, so the roster
/// keeps matching the sequence.
async fn close_resumably<Q: Queue + Unpin>(shard: &mut Shard<Q>, gateway: &mut Gateway) {
    if shard.state().is_identified() {
        shard.close(CloseFrame::RESUME);
    } else {
        // Not connected: polling would only open a connection.
        return;
    }
    let flushed = tokio::time::timeout(CLOSE_FLUSH, async {
        while let Some(item) = shard.next_event(EVENT_TYPES).await {
            match item {
                Ok(Event::GatewayClose(_)) | Err(_) => return,
                Ok(event) => gateway.handle(&event),
            }
        }
    })
    .await;
    if flushed.is_err() {
        tracing::warn!("the gateway close frame was not answered in time");
    }
}

/// The shard's session and resume URL, to save or to hand to the next shard.
fn resume_of<Q>(shard: &Shard<Q>) -> Option<Resume> {
    shard.session().cloned().map(|session| Resume {
        session,
        url: shard.resume_url().map(str::to_owned),
    })
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Where and how to connect. `Debug` hides the token.
#[derive(Clone)]
pub struct ShardSettings {
    /// The bot token (without `Bot `; twilight adds it).
    pub token: String,
    /// The gateway URL (`wss://gateway.discord.gg` or the simulator's).
    pub gateway_url: String,
    /// The longest wait between reconnect attempts (`GATEWAY_RECONNECT_MAX_SECS`).
    pub reconnect_max: Duration,
}

impl std::fmt::Debug for ShardSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardSettings")
            .field("token", &"[redacted]")
            .field("gateway_url", &self.gateway_url)
            .field("reconnect_max", &self.reconnect_max)
            .finish()
    }
}

/// Runs the gateway until shutdown, rebuilding the shard from its session on the
/// [`ReconnectSchedule`] whenever it ends for a reason other than a fatal close; a fatal close
/// stops it and is returned. Starts by resuming the saved session, when there is a plausible one.
pub async fn supervise<Q: Queue + Clone + Unpin>(
    settings: ShardSettings,
    queue: Q,
    mut gateway: Gateway,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    let mut schedule = ReconnectSchedule::new(settings.reconnect_max);
    let mut resume = gateway.load(&settings.gateway_url).await;
    loop {
        let mut config = ConfigBuilder::new(settings.token.clone(), INTENTS)
            .proxy_url(settings.gateway_url.clone())
            .queue(queue.clone());
        if let Some(Resume { session, url }) = resume.take() {
            config = config.session(session);
            if let Some(url) = url {
                config = config.resume_url(url);
            }
        }
        let mut shard = Shard::with_config(ShardId::ONE, config.build());
        gateway.reached_discord = false;
        let outcome = run(&mut shard, &mut gateway, &shutdown).await;
        if gateway.reached_discord {
            // Discord answered since the last failure: the next wait is the first one again.
            schedule.reset();
        }
        match outcome {
            Ok(()) => return Ok(()),
            Err(err @ GatewayError::Fatal { .. }) => {
                tracing::error!(error = %err, "the gateway stopped for good; fix the configuration");
                return Err(err);
            }
            Err(err @ (GatewayError::Ended | GatewayError::Unreachable)) => {
                resume = resume_of(&shard);
                drop(shard);
                let delay = schedule.next_delay();
                tracing::warn!(error = %err, retry_in = ?delay, "reconnecting to the gateway");
                gateway.set_state(GatewayState::Reconnecting);
                tokio::select! {
                    () = shutdown.cancelled() => {
                        gateway.save(resume.clone()).await;
                        gateway.set_state(GatewayState::Disconnected);
                        return Ok(());
                    }
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::{ReconnectSchedule, ShardSettings, trusted_resume_url};

    #[test]
    fn a_saved_resume_url_must_be_discords_or_the_configured_gateways() {
        let discord = "wss://gateway.discord.gg";
        let sim = "ws://127.0.0.1:38001";
        for (resume, gateway, trusted) in [
            ("wss://gateway-us-east1-b.discord.gg", discord, true),
            ("ws://127.0.0.1:38001/resume", sim, true),
            ("wss://gateway-us-east1-b.discord.gg", sim, true),
            ("wss://discord.gg.attacker.example", discord, false),
            ("ws://gateway-us-east1-b.discord.gg", discord, false),
            ("wss://attacker.example/discord.gg", discord, false),
            ("ws://127.0.0.1:9999/resume", sim, false),
            ("not a url", sim, false),
        ] {
            assert_eq!(
                trusted_resume_url(resume, gateway),
                trusted,
                "{resume} with {gateway}"
            );
        }
    }

    const CAP: Duration = Duration::from_secs(15);
    /// What twilight 0.17 waits before every connect of a fresh shard.
    const TWILIGHT_FIRST_CONNECT: Duration = Duration::from_secs(1);

    #[test]
    fn the_schedule_grows_with_jitter_stays_under_the_cap_and_never_gives_up() {
        let mut schedule = ReconnectSchedule::seeded(CAP, 7);
        let delays: Vec<Duration> = (0..1000).map(|_| schedule.next_delay()).collect();
        assert!(
            delays[0] >= Duration::from_secs(1) && delays[0] < Duration::from_secs(2),
            "{delays:?}"
        );
        assert!(
            delays[1] >= Duration::from_secs(2) && delays[1] < Duration::from_secs(4),
            "{delays:?}"
        );
        assert!(delays.iter().all(|delay| *delay <= CAP), "capped at 15 s");
        assert!(
            delays[10..].iter().all(|delay| *delay >= CAP / 2),
            "stays on the plateau"
        );
        assert!(
            delays[10..].windows(2).any(|pair| pair[0] != pair[1]),
            "jittered, not in lockstep"
        );
        schedule.reset();
        assert!(
            schedule.next_delay() < Duration::from_secs(2),
            "starts over once connected"
        );
    }

    /// The outage the issue measured (130 s, roster back 125 s after it ended with twilight's own
    /// schedule) and others: whatever the jitter, the first attempt after Discord answers again
    /// comes within 30 s (on paused time: every attempt during the outage fails at once).
    #[tokio::test(start_paused = true)]
    async fn after_any_outage_the_next_attempt_comes_within_30_s() {
        for outage in [5, 31, 130, 600, 3600].map(Duration::from_secs) {
            for seed in 0..50 {
                let mut schedule = ReconnectSchedule::seeded(CAP, seed);
                let answering_again = Instant::now() + outage;
                loop {
                    tokio::time::sleep(TWILIGHT_FIRST_CONNECT).await;
                    if Instant::now() >= answering_again {
                        break;
                    }
                    tokio::time::sleep(schedule.next_delay()).await;
                }
                let late = Instant::now() - answering_again;
                assert!(
                    late <= Duration::from_secs(30),
                    "{outage:?}, seed {seed}: {late:?} late"
                );
            }
        }
    }

    #[test]
    fn settings_never_print_the_bot_token() {
        let settings = ShardSettings {
            token: "secret-bot-token".to_owned(),
            gateway_url: "wss://gateway.discord.gg".to_owned(),
            reconnect_max: std::time::Duration::from_secs(15),
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }
}
