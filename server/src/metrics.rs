//! Prometheus metrics (DESIGN.md §7): the name and meaning of every metric, the process's
//! recorder, and the listener of their own that serves them (`GET /metrics`) when `METRICS_ADDR`
//! is set.
//!
//! Code anywhere records through the `metrics` facade in one line
//! (`metrics::counter!(…).increment(1)`), naming the metric by its constant in
//! `backend::metric_names`; without a recorder those lines cost next to nothing.
//! The facade's recorder is process-wide and can be installed only once, while tests start many
//! applications in one process: so [`install`] installs it once per process (a `OnceLock`) and
//! every application that asks for metrics binds its own listener rendering that same handle.
//! Counters are therefore per process (what Prometheus expects of a process); the gauges that
//! describe one application's state (gateway state, open streams) are set from that
//! application's own state just before each scrape, so they need no task to keep them current.
//!
//! Names follow Prometheus conventions: a `spell_coven_` prefix, `_total` on counters, base
//! units (`_seconds`). Everything listed in [`METRICS`] is registered at zero when the recorder is
//! installed, so a scrape shows every metric (including the reconciler's and the supervisor's)
//! before its first event; those labelled by what happened (dispatch type, server function) appear
//! with the first one.

use std::{
    net::SocketAddr,
    sync::OnceLock,
    time::{Duration, Instant},
};

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};
use backend::discord::gateway::GatewayState;
use metrics::{Counter, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

pub use backend::metric_names::METRICS;
use backend::metric_names::{
    APP_EVENTS, DISPATCH_TO_WRITE, EVENTS_DROPPED, GATEWAY_RECONNECTS, GATEWAY_SESSIONS, GATEWAY_STATE,
    HUB_REQUESTS, JANITOR_DELETIONS, JANITOR_FAILURES, JANITOR_WARNINGS, LEASE_ACQUIRED, LEASE_HELD,
    RATE_LIMITED, RECONCILER_FAILURES, RECONCILER_REPAIRS, SERVER_FN_CALLS, STREAM_DELIVERIES,
    STREAM_RESYNCS, STREAMS_OPEN, TASK_PANICS,
};

/// Buckets of [`DISPATCH_TO_WRITE`]: the aim is single-digit milliseconds on loopback (DESIGN.md
/// §8) and the seeds' bar is 300 ms, so both ends are resolved.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.3, 1.0, 2.5,
];

/// How often histogram samples are folded in even when nobody scrapes, so they never pile up.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

const GATEWAY_STATES: [GatewayState; 6] = [
    GatewayState::Disconnected,
    GatewayState::Connecting,
    GatewayState::Identifying,
    GatewayState::Connected,
    GatewayState::Reconnecting,
    GatewayState::Fatal(0),
];

/// The process's recorder, installed by the first application that asks for metrics; `None` when
/// something else had installed a recorder first (then this process has no Prometheus metrics).
static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder for this process (once; later calls return the same handle)
/// and registers every metric at zero.
pub fn install() -> Option<PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(DISPATCH_TO_WRITE.to_owned()), LATENCY_BUCKETS);
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => {
                    register();
                    Some(handle)
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot install the metrics recorder; no metrics");
                    None
                }
            }
        })
        .clone()
}

/// Describes every metric and creates the series known in advance, at zero.
fn register() {
    for (name, help) in METRICS {
        let unit = if *name == DISPATCH_TO_WRITE {
            Unit::Seconds
        } else {
            Unit::Count
        };
        match *name {
            GATEWAY_STATE | STREAMS_OPEN | LEASE_HELD => metrics::describe_gauge!(*name, unit, *help),
            DISPATCH_TO_WRITE => metrics::describe_histogram!(*name, unit, *help),
            _ => metrics::describe_counter!(*name, unit, *help),
        }
    }
    for name in [
        GATEWAY_RECONNECTS,
        STREAM_DELIVERIES,
        STREAM_RESYNCS,
        JANITOR_WARNINGS,
        JANITOR_DELETIONS,
        JANITOR_FAILURES,
        RECONCILER_FAILURES,
        TASK_PANICS,
        LEASE_ACQUIRED,
    ] {
        metrics::counter!(name).increment(0);
    }
    // Only the split roles publish through the Stream or hold a lease; the series exist everywhere
    // so an alert on them has something to read.
    for reason in ["queue_full", "stopped", "fenced", "shutdown"] {
        metrics::counter!(EVENTS_DROPPED, "reason" => reason).increment(0);
    }
    metrics::gauge!(LEASE_HELD).set(0.0);
    for kind in [
        "orphan_channel",
        "unfinished_intent",
        "missing_channel",
        "missing_permission",
    ] {
        metrics::counter!(RECONCILER_REPAIRS, "kind" => kind).increment(0);
    }
    for how in ["identify", "resume"] {
        metrics::counter!(GATEWAY_SESSIONS, "how" => how).increment(0);
    }
    for event in [
        "voice.joined",
        "voice.left",
        "room.created",
        "room.deleted",
        "room.inactive",
    ] {
        metrics::counter!(APP_EVENTS, "event" => event).increment(0);
    }
    for scope in ["user", "address", "streams"] {
        metrics::counter!(RATE_LIMITED, "scope" => scope).increment(0);
    }
    // Only a deployment with `HUB_SECRET` sees hub requests; the series exists everywhere so an
    // alert on it has something to read.
    metrics::counter!(HUB_REQUESTS, "outcome" => "accepted").increment(0);
    metrics::gauge!(STREAMS_OPEN).set(0.0);
    // A histogram shows once it has a sample; a zero-latency one would skew it, so it appears with
    // the first delivery instead (the scrape test delivers one).
}

/// One server function call answered `status`.
pub(crate) fn server_fn_called(function: &'static str, status: u16) {
    metrics::counter!(SERVER_FN_CALLS, "function" => function, "status" => status.to_string()).increment(1);
    if status == 429 {
        metrics::counter!(RATE_LIMITED, "scope" => "user").increment(1);
    }
}

/// One stream's counters, taken once when it opens so each frame costs an atomic add, not a
/// registry lookup.
pub(crate) struct StreamMetrics {
    deliveries: Counter,
    latency: Histogram,
    resyncs: Counter,
}

impl StreamMetrics {
    pub(crate) fn new() -> Self {
        Self {
            deliveries: metrics::counter!(STREAM_DELIVERIES),
            latency: metrics::histogram!(DISPATCH_TO_WRITE),
            resyncs: metrics::counter!(STREAM_RESYNCS),
        }
    }

    /// A frame goes to the connection; `published_at` for a live event (not a snapshot or replay).
    pub(crate) fn delivered(&self, published_at: Option<Instant>) {
        self.deliveries.increment(1);
        if let Some(published_at) = published_at {
            self.latency.record(published_at.elapsed());
        }
    }

    /// The viewer lagged and is resynchronised.
    pub(crate) fn resynced(&self) {
        self.resyncs.increment(1);
    }
}

/// The metrics listener of one application: bound at build (so its port is known), served by
/// [`MetricsListener::serve`].
pub(crate) struct MetricsListener {
    listener: TcpListener,
    handle: PrometheusHandle,
}

impl MetricsListener {
    /// Installs the recorder (once per process) and binds `addr`.
    pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<Option<Self>> {
        let Some(handle) = install() else {
            return Ok(None);
        };
        let listener = TcpListener::bind(addr).await?;
        Ok(Some(Self { listener, handle }))
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> std::io::Result<u16> {
        Ok(self.listener.local_addr()?.port())
    }

    /// Serves `GET /metrics` (and runs the recorder's upkeep) until `shutdown`.
    pub(crate) async fn serve(self, state: AppState, shutdown: CancellationToken) {
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!("Prometheus metrics at http://{addr}/metrics");
        }
        let upkeep = {
            let handle = self.handle.clone();
            let shutdown = shutdown.clone();
            async move {
                let mut ticks = tokio::time::interval(UPKEEP_EVERY);
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        _ = ticks.tick() => handle.run_upkeep(),
                    }
                }
            }
        };
        let router = Router::new().route("/metrics", get(scrape)).with_state(Scrape {
            handle: self.handle,
            state,
        });
        let server = axum::serve(self.listener, router).with_graceful_shutdown(shutdown.cancelled_owned());
        let (result, ()) = tokio::join!(async { server.await }, upkeep);
        if let Err(err) = result {
            tracing::error!(error = %err, "the metrics listener failed");
        }
    }
}

#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    state: AppState,
}

/// Sets the gauges that describe this application, then renders everything.
async fn scrape(State(scrape): State<Scrape>) -> impl IntoResponse {
    let current = *scrape.state.gateway.borrow();
    for state in GATEWAY_STATES {
        let value = if state.as_str() == current.as_str() {
            1.0
        } else {
            0.0
        };
        metrics::gauge!(GATEWAY_STATE, "state" => state.as_str()).set(value);
    }
    #[allow(clippy::cast_precision_loss, reason = "a count of streams is far below 2^52")]
    metrics::gauge!(STREAMS_OPEN).set(scrape.state.live.watchers().count() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        scrape.handle.render(),
    )
}
