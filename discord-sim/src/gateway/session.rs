//! Gateway sessions: sequence numbers, the replay buffer, and the IDENTIFY / RESUME rules.
//!
//! A session outlives its connections: it is kept (and keeps buffering) after a drop or any
//! close other than 1000/1001, until resumed, destroyed (op 9 false, 4007, 4009) or expired.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::close::GatewayClose;
use super::envelope;
use super::inbound::{Identify, Resume};
use super::payload;
use crate::config::SimConfig;
use crate::core::{Core, Outbound, State};
use crate::fault::GatewayFault;
use crate::world::INTENT_GUILDS;

/// Intent bits Discord defines; anything else closes with 4013.
const DEFINED_INTENTS: u64 = ((1 << 17) - 1) | (1 << 20) | (1 << 21) | (1 << 24) | (1 << 25);
/// Privileged intents: `GUILD_MEMBERS`, `GUILD_PRESENCES`, `MESSAGE_CONTENT`.
const PRIVILEGED_INTENTS: u64 = (1 << 1) | (1 << 8) | (1 << 15);

/// One gateway session. Owned by `State::sessions`.
#[derive(Debug)]
pub(crate) struct Session {
    /// Intents from IDENTIFY; dispatches without one of them are never sequenced here.
    pub(crate) intents: u64,
    /// The last sequence number used.
    pub(crate) seq: u64,
    /// Recent dispatch frames by sequence, oldest first, capped at `replay_capacity`.
    buffer: VecDeque<(u64, Arc<str>)>,
    /// Capacity of `buffer`.
    capacity: usize,
    /// The live connection attached to it.
    pub(crate) connection: Option<u64>,
    /// When it lost its connection, for expiry.
    pub(crate) detached_at: Option<Instant>,
    /// Invalidated: never resumable again.
    pub(crate) destroyed: bool,
}

impl Session {
    fn new(intents: u64, capacity: usize, connection: u64) -> Self {
        Self {
            intents,
            seq: 0,
            buffer: VecDeque::new(),
            capacity: capacity.max(1),
            connection: Some(connection),
            detached_at: None,
            destroyed: false,
        }
    }

    /// Gives a dispatch the next sequence number and buffers its frame.
    pub(crate) fn push(&mut self, name: &str, data: &str) -> Arc<str> {
        self.seq += 1;
        let frame: Arc<str> = envelope::dispatch(name, self.seq, data).into();
        if self.buffer.len() == self.capacity {
            self.buffer.pop_front();
        }
        self.buffer.push_back((self.seq, Arc::clone(&frame)));
        frame
    }
}

/// Why an IDENTIFY or RESUME did not start a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Close the connection with this code.
    Close(GatewayClose),
    /// Send op 9 `d:false`.
    InvalidSession,
}

impl State {
    /// Validates an IDENTIFY and starts a session; returns its id and the READY (and
    /// `GUILD_CREATE`) frames to send.
    pub(crate) fn identify(
        &mut self,
        config: &SimConfig,
        resume_url: &str,
        connection: u64,
        identify: &Identify,
    ) -> Result<(String, Vec<Arc<str>>), Refusal> {
        if !Core::bot_token_ok(self, &identify.token) {
            return Err(Refusal::Close(GatewayClose::AuthenticationFailed));
        }
        let shard = identify.shard.unwrap_or([0, 1]);
        if shard[1] == 0 || shard[0] >= shard[1] {
            return Err(Refusal::Close(GatewayClose::InvalidShard));
        }
        if identify.intents & !DEFINED_INTENTS != 0 {
            return Err(Refusal::Close(GatewayClose::InvalidIntents));
        }
        if identify.intents & PRIVILEGED_INTENTS & !config.privileged_intents != 0 {
            return Err(Refusal::Close(GatewayClose::DisallowedIntents));
        }
        if self.counters.identifies >= u64::from(config.identify_budget) {
            self.exhaust_identify_budget();
            return Err(Refusal::Close(GatewayClose::AuthenticationFailed));
        }
        let now = Instant::now();
        if !config.identify_window.is_zero() {
            while self
                .recent_identifies
                .front()
                .is_some_and(|at| now.duration_since(*at) >= config.identify_window)
            {
                self.recent_identifies.pop_front();
            }
            if self.recent_identifies.len() >= config.max_concurrency.max(1) as usize {
                return Err(Refusal::InvalidSession);
            }
            self.recent_identifies.push_back(now);
        }
        self.prune_sessions(config);
        self.counters.identifies += 1;

        let session_id = uuid::Uuid::new_v4().simple().to_string();
        // Discord puts a guild on shard `(guild_id >> 22) % shard_count`; other shards get no
        // guild and none of its events, which an intents mask of 0 expresses here.
        let owns_guild = (self.world.guild_id.get() >> 22) % shard[1] == shard[0];
        let intents = if owns_guild { identify.intents } else { 0 };
        let mut session = Session::new(intents, config.replay_capacity, connection);
        let ready = payload::ready(&self.world, &session_id, resume_url, shard, owns_guild);
        let mut frames = vec![session.push("READY", &ready)];
        if intents & INTENT_GUILDS != 0 {
            let guild = payload::guild_create(&self.world, intents);
            frames.push(session.push("GUILD_CREATE", &guild));
        }
        self.sessions.insert(session_id.clone(), session);
        if let Some(entry) = self.connections.get_mut(&connection) {
            entry.session = Some(session_id.clone());
        }
        Ok((session_id, frames))
    }

    /// Validates a RESUME, attaches the session to `connection` and returns the frames to send:
    /// every buffered dispatch after `seq`, then RESUMED with the next sequence number.
    pub(crate) fn resume(
        &mut self,
        config: &SimConfig,
        connection: u64,
        resume: &Resume,
    ) -> Result<Vec<Arc<str>>, Refusal> {
        if !Core::bot_token_ok(self, &resume.token) {
            return Err(Refusal::Close(GatewayClose::AuthenticationFailed));
        }
        self.prune_sessions(config);
        let Some(session) = self.sessions.get_mut(&resume.session_id) else {
            return Err(Refusal::InvalidSession);
        };
        if resume.seq > session.seq {
            session.destroyed = true;
            return Err(Refusal::Close(GatewayClose::InvalidSeq));
        }
        let oldest = session.buffer.front().map_or(session.seq + 1, |(seq, _)| *seq);
        if resume.seq + 1 < oldest {
            session.destroyed = true;
            return Err(Refusal::InvalidSession);
        }
        let previous = session.connection.replace(connection);
        session.detached_at = None;
        let mut frames: Vec<Arc<str>> = session
            .buffer
            .iter()
            .filter(|(seq, _)| *seq > resume.seq)
            .map(|(_, frame)| Arc::clone(frame))
            .collect();
        // RESUMED takes the next sequence number (twilight rejects `"s":null` on a dispatch) but
        // is not buffered: replaying it on a later resume would be meaningless.
        session.seq += 1;
        frames.push(envelope::dispatch("RESUMED", session.seq, "{}").into());
        if let Some(previous) = previous.filter(|previous| *previous != connection)
            && let Some(entry) = self.connections.get(&previous)
        {
            let _ = entry.tx.send(Outbound::Superseded);
        }
        if let Some(entry) = self.connections.get_mut(&connection) {
            entry.session = Some(resume.session_id.clone());
        }
        self.counters.resumes += 1;
        Ok(frames)
    }

    /// Detaches a session from a connection that ended; `destroy` for 1000/1001 client closes,
    /// op 9 false, 4007 and 4009.
    pub(crate) fn detach(&mut self, connection: u64, destroy: bool) {
        let Some(entry) = self.connections.remove(&connection) else {
            return;
        };
        if let Some(session) = entry.session.and_then(|id| self.sessions.get_mut(&id))
            && session.connection == Some(connection)
        {
            session.connection = None;
            session.detached_at = Some(Instant::now());
            session.destroyed |= destroy;
        }
    }

    /// Destroys the session of a connection without detaching it (op 9 false while connected).
    pub(crate) fn destroy_session_of(&mut self, connection: u64) {
        let id = self
            .connections
            .get(&connection)
            .and_then(|entry| entry.session.clone());
        if let Some(session) = id.and_then(|id| self.sessions.get_mut(&id)) {
            session.destroyed = true;
            session.connection = None;
        }
        if let Some(entry) = self.connections.get_mut(&connection) {
            entry.session = None;
        }
    }

    /// Discord's answer to the 1000-identifies-a-day limit: reset the token and end every
    /// session, so the old token fails with 4004 on the gateway and 401 on REST.
    fn exhaust_identify_budget(&mut self) {
        self.bot_token = uuid::Uuid::new_v4().simple().to_string();
        for session in self.sessions.values_mut() {
            session.destroyed = true;
        }
        for entry in self.connections.values() {
            let _ = entry.tx.send(Outbound::Fault(GatewayFault::Close {
                code: GatewayClose::AuthenticationFailed.code(),
                reason: GatewayClose::AuthenticationFailed.reason().to_owned(),
                hold: false,
            }));
        }
    }

    /// Forgets destroyed sessions and those detached longer than `session_ttl`.
    fn prune_sessions(&mut self, config: &SimConfig) {
        let now = Instant::now();
        self.sessions.retain(|_, session| {
            !session.destroyed
                && session
                    .detached_at
                    .is_none_or(|at| now.duration_since(at) < config.session_ttl)
        });
    }
}
