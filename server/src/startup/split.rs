//! The roles' own wiring (DESIGN.md §4.5): how events travel in this process (in memory, or
//! through the Redis Stream both split roles read and write), the gateway role's lease, which
//! decides which gateway process holds the Discord connection, and the link between the roles.

use std::sync::Arc;

use axum::{Json, Router, extract::State, routing::get};
use backend::{
    Config, Store,
    bus::{self, EventBus},
    cluster::{
        Redis,
        lease::Lease,
        stream::{EventStream, Fence, Stamped, StreamId},
    },
    config::{GatewayConfig, ReconcileConfig, Role},
    discord::{
        gateway::{self, Gateway, GatewayState, SessionStore, ShardSettings},
        rest::DiscordRest,
    },
    link::{
        LinkRoster,
        client::{LinkClient, LinkClientSettings},
        server::{LinkServer, LinkSettings},
    },
    live::{self, Live},
    rooms::{Rooms, janitor::Janitor, reconciler::Reconciler, seats::DropClock},
    roster::{Roster, RosterSnapshot},
    supervisor::Supervisor,
};
use model::{
    event::{AppEvent, DiscordStatus, RosterStatus},
    ids::GuildId,
};
use serde_json::{Value, json};
use tokio::{
    sync::{broadcast, watch},
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use twilight_gateway::queue::InMemoryQueue;

use super::{DiscordLink, HolderSetup, StartupError, WebLink};
use crate::state::AppState;

/// Where a gateway process serves the link when `GATEWAY_WS_PORT` is unset (the seeds' port).
pub(super) const DEFAULT_GATEWAY_WS_PORT: u16 = 8080;

/// How events travel in this process: the bus and the fan-out it feeds, and on the split roles
/// the Redis Stream side and (on the gateway role) the lease its appends are fenced by.
pub(super) struct EventPath {
    pub(super) bus: EventBus,
    pub(super) live: Live,
    side: Option<StreamSide>,
    lease: Option<Lease>,
    /// `ROLE=all`: the fan-out's subscription, taken before anything can publish.
    local: Option<bus::BusSubscription>,
}

impl EventPath {
    /// The in-process bus (`ROLE=all`), or the Stream's (the split roles), with its writer and
    /// fan-out started.
    pub(super) fn build(
        config: &Config,
        redis: Option<&Redis>,
        tasks: &mut Supervisor,
        shutdown: &CancellationToken,
    ) -> Result<Self, StartupError> {
        let role = config.cluster.role;
        if !role.is_split() {
            let bus = EventBus::local(bus::DEFAULT_CAPACITY);
            return Ok(Self {
                local: Some(bus.subscribe()),
                bus,
                live: Live::new(),
                side: None,
                lease: None,
            });
        }
        // Config validation requires REDIS_URL for the split roles.
        let redis = redis.ok_or(StartupError::SplitWithoutRedis)?;
        let lease = (role == Role::Gateway).then(|| Lease::new(redis.clone(), config.cluster.lease_ttl));
        let side = stream_side(
            redis,
            config.cluster.stream_max_len,
            lease.as_ref().map(Lease::fence),
            tasks,
            shutdown,
        );
        Ok(Self {
            bus: side.bus.clone(),
            live: side.live.clone(),
            side: Some(side),
            lease,
            local: None,
        })
    }

    /// The split roles' event Stream.
    pub(super) fn stream(&self) -> Option<EventStream> {
        self.side.as_ref().map(|side| side.stream.clone())
    }

    /// Starts feeding the fan-out. `ROLE=all`: from the bus, resynchronising from the gateway
    /// task's roster. A gateway process: the Stream read from the start over the roster its last
    /// holder saved. A web instance: the Stream read after the roster the link brings first.
    pub(super) async fn start(
        &mut self,
        store: &Store,
        discord: &DiscordLink,
        tasks: &mut Supervisor,
        shutdown: &CancellationToken,
    ) {
        let Some(side) = &self.side else {
            if let Some(subscription) = self.local.take() {
                tasks.add(
                    "fanout",
                    live::run_fanout(
                        subscription,
                        self.live.clone(),
                        discord.roster_source.clone(),
                        shutdown.clone(),
                    ),
                );
            }
            return;
        };
        let (stream, events, live) = (side.stream.clone(), side.events.clone(), self.live.clone());
        if let Some(link) = &discord.link {
            let roster = link.client.roster();
            let seeded = link.seeded.clone();
            let shutdown = shutdown.clone();
            tasks.add("stream_reader", async move {
                let Some(at) = seed_from_link(roster, &live, &shutdown).await else {
                    return;
                };
                seeded.send_replace(true);
                stream.run_reader(at, events, shutdown).await;
            });
        } else {
            let from = warm_roster(store, discord.guild_id, &live).await;
            tasks.add("stream_reader", stream.run_reader(from, events, shutdown.clone()));
        }
    }
}

/// Waits for the first roster the link brings and seeds `live` with it; where in the Stream it
/// stands (`None`: shutdown came first).
async fn seed_from_link(
    mut roster: watch::Receiver<Option<LinkRoster>>,
    live: &Live,
    shutdown: &CancellationToken,
) -> Option<StreamId> {
    let first = tokio::select! {
        () = shutdown.cancelled() => return None,
        first = roster.wait_for(Option::is_some) => first.ok()?.clone()?,
    };
    // A gateway that does not know its position (never the case for ours) leaves the whole
    // Stream to replay over the roster, which changes nothing that is already true.
    let at = first
        .stream_id
        .as_deref()
        .and_then(|id| id.parse().ok())
        .unwrap_or(StreamId::ZERO);
    live.seed(&first.into_snapshot(), at);
    tracing::info!(%at, "roster received over the link; following the event Stream from there");
    Some(at)
}

/// A split role's event path: the bus whose events go to and come from the Stream, the fan-out
/// fed from it, and the Stream itself (the reader is started by the role, from the position it
/// was seeded at).
struct StreamSide {
    bus: EventBus,
    live: Live,
    stream: EventStream,
    /// Where the Stream reader delivers, once the role knows where to start reading.
    events: broadcast::Sender<Stamped>,
}

/// Builds the Stream side and starts its writer and the fan-out (fed by whatever the reader
/// will deliver). A gateway process appends only while it holds the lease (`fence`).
fn stream_side(
    redis: &Redis,
    max_len: u64,
    fence: Option<Fence>,
    tasks: &mut Supervisor,
    shutdown: &CancellationToken,
) -> StreamSide {
    let (bus, ports) = EventBus::on_stream(bus::DEFAULT_CAPACITY);
    let stream = EventStream::new(redis.clone(), max_len);
    let writer = match fence {
        Some(fence) => stream.clone().fenced(fence),
        None => stream.clone(),
    };
    tasks.add("stream_writer", writer.run_writer(ports.queue, shutdown.clone()));
    let live = Live::on_stream();
    tasks.add(
        "fanout",
        live::run_fanout(bus.subscribe(), live.clone(), None, shutdown.clone()),
    );
    StreamSide {
        bus,
        live,
        stream,
        events: ports.events,
    }
}

/// A gateway process's warm roster: the roster its last holder saved (if any) and then the whole
/// Stream read on top of it. Replaying events the saved roster already reflects changes nothing
/// (each sets where one user is), so the result is the roster as of the newest event as long as
/// the Stream still reaches back to the save.
async fn warm_roster(store: &Store, guild_id: GuildId, live: &Live) -> StreamId {
    match store.gateway_session(guild_id).await {
        Ok(Some(record)) => live.seed(
            &RosterSnapshot {
                guild_id,
                members: record.roster,
                status: RosterStatus::Connecting,
            },
            StreamId::ZERO,
        ),
        Ok(None) => {}
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the saved roster; starting from the Stream alone");
        }
    }
    StreamId::ZERO
}

/// Everything a gateway process runs while it holds the lease, and what it needs to start a term.
struct Holder {
    lease: Lease,
    settings: ShardSettings,
    store: Store,
    gateway_config: GatewayConfig,
    reconcile: ReconcileConfig,
    guild_id: GuildId,
    bus: EventBus,
    /// Where the previous holder's last published dispatch is recorded.
    stream: EventStream,
    rooms: Rooms,
    live: Live,
    /// Where every term's gateway reports its state, for health and metrics.
    state: watch::Sender<GatewayState>,
    down_since: watch::Sender<Option<Instant>>,
    /// True while this process holds the lease.
    held: watch::Sender<bool>,
}

impl Holder {
    /// Waits for the lease, holds the Discord connection (and the janitor, the reconciler and the
    /// drop clock) for as long as it keeps it, and waits again after losing it; until shutdown,
    /// when it lets the gateway save its session and then gives the lease up at once.
    async fn run(self, shutdown: CancellationToken) {
        loop {
            if !self.wait_for_lease(&shutdown).await {
                return;
            }
            tracing::info!("holding the gateway lease: connecting to Discord");
            metrics::counter!(backend::metric_names::LEASE_ACQUIRED).increment(1);
            metrics::gauge!(backend::metric_names::LEASE_HELD).set(1.0);
            self.held.send_replace(true);
            let term = shutdown.child_token();
            let work = self.term(term.clone());
            tokio::pin!(work);
            tokio::select! {
                () = &mut work => {}
                () = self.keep_lease(&term) => {
                    term.cancel();
                    work.await;
                }
            }
            self.held.send_replace(false);
            metrics::gauge!(backend::metric_names::LEASE_HELD).set(0.0);
            if shutdown.is_cancelled() {
                match self.lease.release().await {
                    Ok(_) => tracing::info!("gave the gateway lease up"),
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot give the gateway lease up; it expires by itself");
                    }
                }
                return;
            }
            tracing::warn!("lost the gateway lease: standing by");
        }
    }

    /// Polls for the lease every third of its TTL; false when shutdown came first.
    async fn wait_for_lease(&self, shutdown: &CancellationToken) -> bool {
        let mut poll = tokio::time::interval(self.lease.poll_every());
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return false,
                _ = poll.tick() => {}
            }
            match self.lease.try_acquire().await {
                Ok(true) => return true,
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "cannot reach Redis for the gateway lease"),
            }
        }
    }

    /// Renews the lease until it is lost (taken over, or not renewed within its TTL) or the term
    /// ends. The TTL is counted from when the last successful renewal was *sent*, so this side
    /// gives up no later than Redis lets the key expire.
    async fn keep_lease(&self, term: &CancellationToken) {
        let mut poll = tokio::time::interval(self.lease.poll_every());
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                () = term.cancelled() => return,
                _ = poll.tick() => {}
            }
            let sent = Instant::now();
            match self.lease.renew().await {
                Ok(true) => renewed = sent,
                Ok(false) => {
                    tracing::error!("the gateway lease was taken over");
                    return;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot renew the gateway lease");
                    if renewed.elapsed() >= self.lease.ttl() {
                        tracing::error!("the gateway lease could not be renewed within its TTL");
                        return;
                    }
                }
            }
        }
    }

    /// One term as holder: tells every instance the roster is frozen until the new connection
    /// has caught up, then runs the gateway (resuming the saved session), the janitor, the
    /// reconciler and the drop clock until `term` ends.
    fn term(&self, term: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
        self.bus.publish(AppEvent::DiscordStatus(DiscordStatus {
            guild_id: self.guild_id,
            status: RosterStatus::Connecting,
        }));
        let stream = self.stream.clone();
        let gateway = Gateway::new(Roster::new(self.guild_id), self.bus.clone())
            .with_session_store(SessionStore::new(
                self.store.clone(),
                &self.settings.token,
                &self.gateway_config,
            ))
            .reporting_to(self.state.clone(), self.down_since.clone());
        let settings = self.settings.clone();
        let connection = {
            let term = term.clone();
            async move {
                let published = match stream.dispatch_position().await {
                    Ok(published) => published,
                    Err(err) => {
                        // Then a resumed session's replay may repeat a few events: viewers apply
                        // them again, which changes nothing they show.
                        tracing::warn!(error = %err, "cannot read the last published dispatch");
                        None
                    }
                };
                let gateway = gateway.after_published(published);
                if let Err(err) = gateway::supervise(settings, InMemoryQueue::default(), gateway, term).await
                {
                    tracing::error!(error = %err, "the Discord gateway has stopped");
                }
            }
        };
        let janitor = Janitor::new(
            self.rooms.clone(),
            self.bus.clone(),
            self.live.watch_roster_status(),
        )
        .sweeping_every(self.reconcile.janitor_every)
        .run(term.clone());
        let reconciler =
            Reconciler::new(self.rooms.clone(), self.reconcile.grace).run(self.reconcile.every, term.clone());
        let drops = DropClock::new(self.store.clone(), self.bus.clone()).run(term);
        async move {
            tokio::join!(connection, janitor, reconciler, drops);
        }
    }
}

/// The background work on rooms: in one process (`ROLE=all`) the drop clock, the janitor and the
/// reconciler run for its whole life; on the gateway role they run on the lease holder only; a
/// web instance runs none of them.
pub(super) struct RoomTasks<'a> {
    pub(super) config: &'a Config,
    pub(super) store: &'a Store,
    pub(super) rooms: &'a Rooms,
    pub(super) path: &'a EventPath,
    pub(super) guild_id: GuildId,
}

impl RoomTasks<'_> {
    /// Registers them; returns how many reconciler runs finished (always 0 where it does not run
    /// for the process's life) and, on the gateway role, whether this process holds the lease.
    pub(super) fn start(
        self,
        holder: Option<HolderSetup>,
        tasks: &mut Supervisor,
        shutdown: &CancellationToken,
    ) -> Result<(watch::Receiver<u64>, Option<watch::Receiver<bool>>), StartupError> {
        let Self {
            config,
            store,
            rooms,
            path,
            guild_id,
        } = self;
        match config.cluster.role {
            Role::All => {
                let bus = &path.bus;
                tasks.add(
                    "drop_clock",
                    DropClock::new(store.clone(), bus.clone()).run(shutdown.clone()),
                );
                tasks.add(
                    "janitor",
                    Janitor::new(rooms.clone(), bus.clone(), path.live.watch_roster_status())
                        .sweeping_every(config.reconcile.janitor_every)
                        .run(shutdown.clone()),
                );
                let repairs = Reconciler::new(rooms.clone(), config.reconcile.grace);
                let reconciled = repairs.runs();
                tasks.add(
                    "reconciler",
                    repairs.run(config.reconcile.every, shutdown.clone()),
                );
                Ok((reconciled, None))
            }
            Role::Gateway => {
                let (Some(holder), Some(lease), Some(side)) = (holder, path.lease.clone(), &path.side) else {
                    return Err(StartupError::SplitWithoutRedis);
                };
                let held = holder.held.subscribe();
                tasks.add(
                    "lease",
                    Holder {
                        lease,
                        settings: holder.settings,
                        store: store.clone(),
                        gateway_config: config.gateway,
                        reconcile: config.reconcile,
                        guild_id,
                        bus: path.bus.clone(),
                        stream: side.stream.clone(),
                        rooms: rooms.clone(),
                        live: path.live.clone(),
                        state: holder.state,
                        down_since: holder.down_since,
                        held: holder.held,
                    }
                    .run(shutdown.clone()),
                );
                Ok((watch::channel(0).1, Some(held)))
            }
            Role::Web => Ok((watch::channel(0).1, None)),
        }
    }
}

/// A web instance's Discord: the link to the gateway processes (reconnecting forever), with the
/// link's state standing in for the gateway's in health and readiness.
pub(super) fn link_to_gateway(
    config: &Config,
    tasks: &mut Supervisor,
    shutdown: &CancellationToken,
) -> Result<DiscordLink, StartupError> {
    let (Some(token), Some(guild_id)) = (config.link.token.clone(), config.discord.guild_id) else {
        return Err(StartupError::WebWithoutLink);
    };
    if config.link.gateway_ws_urls.is_empty() {
        return Err(StartupError::WebWithoutLink);
    }
    let (client, driver) = LinkClient::new(LinkClientSettings::new(
        config.link.gateway_ws_urls.clone(),
        token,
    ));
    tasks.add("link", driver.run(shutdown.clone()));
    let state = watch::channel(GatewayState::Disconnected).0;
    let down_since = watch::channel(Some(Instant::now())).0;
    let (gateway, gateway_down_since) = (state.subscribe(), down_since.subscribe());
    let mut linked = client.linked();
    let seeded = watch::channel(false).0;
    let mut followed = seeded.subscribe();
    let shutdown = shutdown.clone();
    // Connected, for health and readiness, once the link is up and the instance has its first
    // roster (until then its viewers would only see an empty room).
    tasks.add("link_status", async move {
        loop {
            let up = *linked.borrow_and_update() && *followed.borrow_and_update();
            let now = if up {
                GatewayState::Connected
            } else {
                GatewayState::Reconnecting
            };
            let before = state.send_replace(now);
            if up {
                down_since.send_replace(None);
            } else if before == GatewayState::Connected {
                down_since.send_replace(Some(Instant::now()));
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = linked.changed() => if changed.is_err() { return },
                changed = followed.changed() => if changed.is_err() { return },
            }
        }
    });
    Ok(DiscordLink {
        guild_id,
        gateway,
        gateway_down_since,
        roster_source: None,
        rest: DiscordRest::link(client.clone()),
        simulator: None,
        holder: None,
        link: Some(WebLink { client, seeded }),
    })
}

/// What a gateway process answers: the link on `GET /`, and `GET /health` with whether it holds
/// the lease, its Discord connection and the link's load.
pub(super) fn gateway_router(
    config: &Config,
    state: &AppState,
    rest: DiscordRest,
    held: watch::Receiver<bool>,
) -> Result<Router, StartupError> {
    let token = config.link.token.clone().ok_or(StartupError::SplitWithoutRedis)?;
    let (live, guild_id) = (state.live.clone(), state.guild_id);
    // The roster this process follows from the Stream, and where in the Stream it stands: a web
    // instance seeds itself with it and reads on from there.
    let feed = move || {
        let (snapshot, at) = live.roster(guild_id);
        LinkRoster::from_snapshot(snapshot, Some(at.to_string()))
    };
    let link = LinkServer::new(
        LinkSettings::new(token),
        Arc::new(rest),
        Arc::new(feed),
        state.bus.clone(),
        state.shutdown.clone(),
    );
    let health = GatewayHealth {
        link: link.clone(),
        held,
        gateway: state.gateway.clone(),
        live: state.live.clone(),
    };
    Ok(link.socket_router().merge(
        Router::new()
            .route("/health", get(gateway_health))
            .with_state(health),
    ))
}

#[derive(Clone)]
struct GatewayHealth {
    link: LinkServer,
    held: watch::Receiver<bool>,
    gateway: watch::Receiver<GatewayState>,
    live: Live,
}

/// `GET /health` of a gateway process: 200 while it runs, holder or standby.
async fn gateway_health(State(health): State<GatewayHealth>) -> Json<Value> {
    let stats = health.link.stats();
    let held = *health.held.borrow();
    Json(json!({
        "status": "ok",
        "role": "gateway",
        "lease": if held { "held" } else { "standby" },
        "gateway": health.gateway.borrow().as_str(),
        "roster": health.live.roster_status(),
        "link": {
            "connections": stats.connections,
            "queueDepth": stats.queue_depth,
            "queueCapacity": stats.queue_capacity,
        },
    }))
}
