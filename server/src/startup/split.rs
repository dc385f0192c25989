//! The split roles' own wiring (DESIGN.md §4.5): the event Stream both roles read and write, and
//! the gateway role's lease, which decides which gateway process holds the Discord connection.

use backend::{
    Store,
    bus::{self, EventBus},
    cluster::{
        Redis,
        lease::Lease,
        stream::{EventStream, Fence, StreamId},
    },
    config::{GatewayConfig, ReconcileConfig},
    discord::gateway::{self, Gateway, GatewayState, SessionStore, ShardSettings},
    live::{self, Live},
    rooms::{Rooms, janitor::Janitor, reconciler::Reconciler, seats::DropClock},
    roster::{Roster, RosterSnapshot},
    supervisor::Supervisor,
};
use model::{
    event::{AppEvent, DiscordStatus, RosterStatus},
    ids::GuildId,
};
use tokio::{sync::watch, time::Instant};
use tokio_util::sync::CancellationToken;
use twilight_gateway::queue::InMemoryQueue;

/// A split role's event path: the bus whose events go to and come from the Stream, the fan-out
/// fed from it, and the Stream itself (the reader is started by the role, from the position it
/// was seeded at).
pub(super) struct StreamSide {
    pub bus: EventBus,
    pub live: Live,
    pub stream: EventStream,
    /// Where the Stream reader delivers, once the role knows where to start reading.
    pub events: tokio::sync::broadcast::Sender<backend::cluster::stream::Stamped>,
}

/// Builds the Stream side and starts its writer and the fan-out (fed by whatever the reader
/// will deliver). A gateway process appends only while it holds the lease (`fence`).
pub(super) fn stream_side(
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
pub(super) async fn warm_roster(store: &Store, guild_id: GuildId, live: &Live) -> StreamId {
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
pub(super) struct Holder {
    pub lease: Lease,
    pub settings: ShardSettings,
    pub store: Store,
    pub gateway_config: GatewayConfig,
    pub reconcile: ReconcileConfig,
    pub guild_id: GuildId,
    pub bus: EventBus,
    /// Where the previous holder's last published dispatch is recorded.
    pub stream: EventStream,
    pub rooms: Rooms,
    pub live: Live,
    /// Where every term's gateway reports its state, for health and metrics.
    pub state: watch::Sender<GatewayState>,
    pub down_since: watch::Sender<Option<Instant>>,
    /// True while this process holds the lease.
    pub held: watch::Sender<bool>,
}

impl Holder {
    /// Waits for the lease, holds the Discord connection (and the janitor, the reconciler and the
    /// drop clock) for as long as it keeps it, and waits again after losing it; until shutdown,
    /// when it lets the gateway save its session and then gives the lease up at once.
    pub(super) async fn run(self, shutdown: CancellationToken) {
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
        .run(term.clone());
        let reconciler =
            Reconciler::new(self.rooms.clone(), self.reconcile.grace).run(self.reconcile.every, term.clone());
        let drops = DropClock::new(self.store.clone(), self.bus.clone()).run(term);
        async move {
            tokio::join!(connection, janitor, reconciler, drops);
        }
    }
}
