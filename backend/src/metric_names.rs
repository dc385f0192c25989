//! The name and meaning of every Prometheus metric (DESIGN.md §7), so the one line that records
//! a metric and the exporter that describes it (`server::metrics`) cannot disagree on a name.
//!
//! Prometheus conventions: a `spell_coven_` prefix, `_total` on counters, base units (`_seconds`).

/// Gauge, one series per state (`state="CONNECTED"` …): 1 for the current state, 0 for the others.
pub const GATEWAY_STATE: &str = "spell_coven_gateway_state";
/// Counter by `type`: Discord dispatches the gateway received (`READY`, `VOICE_STATE_UPDATE`, …).
pub const GATEWAY_DISPATCHES: &str = "spell_coven_gateway_dispatches_total";
/// Counter by `how` (`identify`, `resume`): gateway sessions started or resumed.
pub const GATEWAY_SESSIONS: &str = "spell_coven_gateway_sessions_total";
/// Counter: times the gateway lost its connection and started reconnecting.
pub const GATEWAY_RECONNECTS: &str = "spell_coven_gateway_reconnects_total";
/// Counter by `event` (`voice.joined`, …): app events published on the bus.
pub const APP_EVENTS: &str = "spell_coven_app_events_published_total";
/// Gauge: live streams open now.
pub const STREAMS_OPEN: &str = "spell_coven_streams_open";
/// Counter: frames (snapshots, replays and events) handed to viewers' connections.
pub const STREAM_DELIVERIES: &str = "spell_coven_stream_deliveries_total";
/// Histogram: seconds from an event's publication to the room's viewers (right after the gateway
/// handled the Discord dispatch) to its hand-off to each viewer's connection.
pub const DISPATCH_TO_WRITE: &str = "spell_coven_dispatch_to_write_seconds";
/// Counter: viewers that fell behind their buffer and were resynchronised with a snapshot.
pub const STREAM_RESYNCS: &str = "spell_coven_stream_resyncs_total";
/// Counter by `function` (`rooms/create`, …) and `status` (the HTTP status answered).
pub const SERVER_FN_CALLS: &str = "spell_coven_server_fn_calls_total";
/// Counter by `scope` (`user`: server functions; `address`: anonymous routes; `streams`: the
/// per-user stream cap): requests answered 429.
pub const RATE_LIMITED: &str = "spell_coven_rate_limited_total";
/// Counter: idle rooms warned (`room.inactive`).
pub const JANITOR_WARNINGS: &str = "spell_coven_janitor_warnings_total";
/// Counter: idle rooms deleted.
pub const JANITOR_DELETIONS: &str = "spell_coven_janitor_deletions_total";
/// Counter: janitor sweeps (or rooms within one) that failed and are retried.
pub const JANITOR_FAILURES: &str = "spell_coven_janitor_failures_total";
/// Counter by `kind` (`orphan_channel`, `unfinished_intent`, `missing_channel`,
/// `missing_permission`): what the reconciler repaired.
pub const RECONCILER_REPAIRS: &str = "spell_coven_reconciler_repairs_total";
/// Counter: reconciler runs (or items within one) that failed and are retried at the next run.
pub const RECONCILER_FAILURES: &str = "spell_coven_reconciler_failures_total";
/// Counter by `outcome`: requests to the HMAC hub (`POST /api/internal/events`), `accepted` or
/// the refusal's code as the sender sees it (`BAD_SIGNATURE`, `REPLAYED`, …).
pub const HUB_REQUESTS: &str = "spell_coven_hub_requests_total";
/// Counter: background tasks restarted after they panicked or ended.
pub const TASK_PANICS: &str = "spell_coven_task_panics_total";

/// Every metric with its help text, in the order a scrape lists them.
pub const METRICS: &[(&str, &str)] = &[
    (GATEWAY_STATE, "Discord gateway connection state (1 = current)."),
    (
        GATEWAY_DISPATCHES,
        "Discord gateway dispatches received, by type.",
    ),
    (
        GATEWAY_SESSIONS,
        "Gateway sessions started, by identify or resume.",
    ),
    (
        GATEWAY_RECONNECTS,
        "Times the gateway connection was lost and reconnected.",
    ),
    (APP_EVENTS, "App events published on the event bus, by event."),
    (STREAMS_OPEN, "Live streams open now."),
    (STREAM_DELIVERIES, "Frames handed to live stream connections."),
    (
        DISPATCH_TO_WRITE,
        "Seconds from an event's publication to its hand-off to a viewer's connection.",
    ),
    (
        STREAM_RESYNCS,
        "Viewers resynchronised with a snapshot after lagging.",
    ),
    (
        SERVER_FN_CALLS,
        "Server function calls, by function and HTTP status.",
    ),
    (RATE_LIMITED, "Requests answered 429, by scope."),
    (JANITOR_WARNINGS, "Idle rooms warned."),
    (JANITOR_DELETIONS, "Idle rooms deleted."),
    (JANITOR_FAILURES, "Janitor failures (retried at the next sweep)."),
    (RECONCILER_REPAIRS, "Repairs made by the reconciler, by kind."),
    (
        RECONCILER_FAILURES,
        "Reconciler failures (retried at the next run).",
    ),
    (HUB_REQUESTS, "Requests to the HMAC hub, by outcome."),
    (
        EVENTS_DROPPED,
        "App events that never reached the Redis Stream, by reason.",
    ),
    (
        LEASE_HELD,
        "1 while this gateway process holds the lease, else 0.",
    ),
    (LEASE_ACQUIRED, "Times this gateway process took the lease."),
    (
        TASK_PANICS,
        "Background tasks that panicked (the process then stops, to be restarted whole).",
    ),
];
/// Counter by `reason` (`queue_full`, `stopped`, `fenced`, `shutdown`): app events that never
/// reached the Redis Stream (split roles only).
pub const EVENTS_DROPPED: &str = "spell_coven_events_dropped_total";
/// Gauge: 1 while this gateway process holds the lease (it runs the Discord connection), else 0.
pub const LEASE_HELD: &str = "spell_coven_lease_held";
/// Counter: times this gateway process took the lease (its first time included).
pub const LEASE_ACQUIRED: &str = "spell_coven_lease_acquired_total";
