//! The one owner of all mutable simulator state: world, gateway sessions, live connections,
//! OAuth grants and queued faults, behind a single `std::sync::Mutex`.
//!
//! One lock (never held across `.await`) makes "change the world, then queue its dispatches to
//! every session" atomic, so dispatch order always equals change order and a `GUILD_CREATE`
//! snapshot can never miss or duplicate a concurrent change.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::SimConfig;
use crate::fault::{GatewayFault, RestFaultRule};
use crate::gateway::payload;
use crate::gateway::session::Session;
use crate::oauth::OAuthState;
use crate::world::{Dispatch, World};

/// The one dispatch whose body `publish` builds per session.
const GUILD_CREATE: &str = "GUILD_CREATE";

/// What the simulator counts, for tests to assert on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// WebSocket connections accepted (base and resume URL).
    pub connections: u64,
    /// Connections to the resume URL.
    pub resume_connections: u64,
    /// WebSocket upgrades answered 503 because of `refuse_resume` / `refuse_gateway`.
    pub refused_upgrades: u64,
    /// Successful IDENTIFYs.
    pub identifies: u64,
    /// Successful RESUMEs.
    pub resumes: u64,
    /// op 9 frames sent.
    pub invalid_sessions: u64,
    /// Heartbeats received.
    pub heartbeats: u64,
    /// REST requests received under `/api/v10`.
    pub rest_requests: u64,
    /// 429 responses sent.
    pub rate_limited: u64,
    /// Close frames from clients with a code that keeps the session (not 1000/1001): a client
    /// stopping so that it can resume later.
    pub resumable_closes: u64,
}

/// A message from the simulator to one connection's task.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    /// A dispatch frame (already sequenced and buffered for replay).
    Dispatch(Arc<str>),
    /// A fault to perform.
    Fault(GatewayFault),
    /// Another connection resumed this session: end quietly.
    Superseded,
}

/// A live connection, as the rest of the simulator sees it.
#[derive(Debug)]
pub(crate) struct ConnectionEntry {
    /// The task's inbox.
    pub(crate) tx: mpsc::UnboundedSender<Outbound>,
    /// The session it identified or resumed, if any.
    pub(crate) session: Option<String>,
    /// Whether it came in through the resume URL.
    pub(crate) via_resume_url: bool,
    /// The `compress` query value honoured (`zstd-stream`, `zlib-stream`), if any.
    pub(crate) compression: Option<&'static str>,
}

/// Public description of a live connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Connection id, for targeting faults.
    pub id: u64,
    /// Its session, once identified or resumed.
    pub session_id: Option<String>,
    /// Whether it came in through the resume URL.
    pub via_resume_url: bool,
    /// The transport compression in use (`zstd-stream`, `zlib-stream`), if any.
    pub compression: Option<&'static str>,
}

/// Everything mutable. Owned by [`Core`]'s mutex.
#[derive(Debug)]
pub(crate) struct State {
    /// The simulated Discord.
    pub(crate) world: World,
    /// The current bot token; replaced when the identify budget runs out.
    pub(crate) bot_token: String,
    /// Gateway sessions by id, resumable until destroyed or expired.
    pub(crate) sessions: HashMap<String, Session>,
    /// Live connections by id.
    pub(crate) connections: BTreeMap<u64, ConnectionEntry>,
    /// Next connection id.
    pub(crate) next_connection: u64,
    /// Times of recent IDENTIFYs, for `max_concurrency`.
    pub(crate) recent_identifies: VecDeque<Instant>,
    /// Counters for tests.
    pub(crate) counters: Counters,
    /// Refuse WebSocket upgrades on the resume URL (HTTP 503).
    pub(crate) refuse_resume: bool,
    /// Refuse every WebSocket upgrade (HTTP 503): the gateway is down.
    pub(crate) refuse_gateway: bool,
    /// Outgoing frame size for new connections (forces continuation frames).
    pub(crate) frame_size: Option<usize>,
    /// Recent request times per REST bucket, for `rest_bucket_limit`.
    pub(crate) buckets: HashMap<String, VecDeque<Instant>>,
    /// REST faults still to apply, in order.
    pub(crate) rest_faults: VecDeque<RestFaultRule>,
    /// OAuth2 codes and tokens.
    pub(crate) oauth: OAuthState,
}

/// Shared by every task of one simulator.
#[derive(Debug)]
pub(crate) struct Core {
    /// Immutable settings.
    pub(crate) config: SimConfig,
    /// The bound address.
    pub(crate) addr: SocketAddr,
    /// Cancelled when the simulator stops; every task watches it.
    pub(crate) shutdown: CancellationToken,
    /// Notified whenever the state may have changed, for `SimHandle::wait_until`.
    pub(crate) changed: Notify,
    state: Mutex<State>,
}

/// The locked state; wakes `changed` waiters when released so they re-check their condition.
pub(crate) struct StateGuard<'a> {
    guard: MutexGuard<'a, State>,
    changed: &'a Notify,
}

impl Deref for StateGuard<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        &self.guard
    }
}

impl DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        // Waiters are tasks: they run after this guard (and the mutex) is released.
        self.changed.notify_waiters();
    }
}

impl Core {
    pub(crate) fn new(config: SimConfig, addr: SocketAddr, world: World) -> Self {
        let state = State {
            world,
            bot_token: config.bot_token.clone(),
            sessions: HashMap::new(),
            connections: BTreeMap::new(),
            next_connection: 1,
            recent_identifies: VecDeque::new(),
            counters: Counters::default(),
            refuse_resume: false,
            refuse_gateway: false,
            frame_size: None,
            buckets: HashMap::new(),
            rest_faults: VecDeque::new(),
            oauth: OAuthState::default(),
        };
        Self {
            config,
            addr,
            shutdown: CancellationToken::new(),
            changed: Notify::new(),
            state: Mutex::new(state),
        }
    }

    /// Locks the state. A panic elsewhere while locked must not take the simulator down with
    /// it, so a poisoned lock is used as is. Releasing the guard wakes [`Core::changed`] waiters.
    pub(crate) fn lock(&self) -> StateGuard<'_> {
        StateGuard {
            guard: self.state.lock().unwrap_or_else(PoisonError::into_inner),
            changed: &self.changed,
        }
    }

    /// Locks the state for reading only: releasing it wakes nobody (a waiter that re-checks
    /// its condition must not wake itself).
    pub(crate) fn read(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the world and publishes the resulting dispatches, atomically.
    pub(crate) fn change<T, E>(
        &self,
        change: impl FnOnce(&mut World) -> Result<(T, Vec<Dispatch>), E>,
    ) -> Result<T, E> {
        let mut state = self.lock();
        let (value, dispatches) = change(&mut state.world)?;
        state.publish(&dispatches);
        Ok(value)
    }

    /// The resume URL READY advertises; no trailing slash (twilight appends `/?v=…`).
    pub(crate) fn resume_url(&self) -> String {
        format!("ws://{}/resume", self.addr)
    }

    /// The base gateway URL.
    pub(crate) fn gateway_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Whether `token` (with or without `Bot `) is the current bot token.
    pub(crate) fn bot_token_ok(state: &State, token: &str) -> bool {
        let bare = token.strip_prefix("Bot ").unwrap_or(token);
        bare == state.bot_token
    }
}

impl State {
    /// Sequences each dispatch for every session whose intents ask for it, buffers it for
    /// replay and hands it to the session's live connection, if any.
    pub(crate) fn publish(&mut self, dispatches: &[Dispatch]) {
        for dispatch in dispatches {
            for session in self.sessions.values_mut() {
                if session.destroyed || session.intents & dispatch.intent == 0 {
                    continue;
                }
                // GUILD_CREATE depends on the receiver's intents (voice states), so it is built per session.
                let frame = if dispatch.name == GUILD_CREATE {
                    let data = payload::guild_create(&self.world, session.intents);
                    session.push(&dispatch.name, &data)
                } else {
                    session.push(&dispatch.name, &dispatch.data)
                };
                if let Some(conn) = session.connection
                    && let Some(entry) = self.connections.get(&conn)
                {
                    // A closed inbox means the task is ending; the frame stays in the buffer.
                    let _ = entry.tx.send(Outbound::Dispatch(frame));
                }
            }
        }
    }

    /// Applies a fault to every live connection that has a session; returns how many.
    pub(crate) fn fault_sessions(&self, fault: &GatewayFault) -> usize {
        self.connections
            .values()
            .filter(|entry| entry.session.is_some())
            .filter(|entry| entry.tx.send(Outbound::Fault(fault.clone())).is_ok())
            .count()
    }

    /// Starts (`down`) or ends a guild outage for every session.
    pub(crate) fn guild_outage(&mut self, down: bool) {
        let dispatches = if down {
            self.world.guild_outage()
        } else {
            self.world.guild_recovered()
        };
        self.publish(&dispatches);
    }

    /// Sends a frame-less instruction to a connection; false when it is gone.
    pub(crate) fn send_fault(&self, connection: u64, fault: GatewayFault) -> bool {
        self.connections
            .get(&connection)
            .is_some_and(|entry| entry.tx.send(Outbound::Fault(fault)).is_ok())
    }
}
