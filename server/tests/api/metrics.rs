//! Prometheus metrics on their own listener (`METRICS_ADDR`): every metric is there, and the
//! counters move when the things they count happen.

use std::collections::BTreeMap;

use discord_sim::Snowflake;

use crate::{
    helpers::{SseReader, TestApp, spawn_app, spawn_app_with},
    players::Player,
};

/// One scrape: `name{labels}` → value.
pub async fn scrape(app: &TestApp) -> BTreeMap<String, f64> {
    let port = app.metrics_port.expect("METRICS_ADDR is set");
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
    );
    let text = response.text().await.unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse().unwrap())
        })
        .collect()
}

/// The value of one series (0 when absent).
pub fn value(scrape: &BTreeMap<String, f64>, series: &str) -> f64 {
    scrape.get(series).copied().unwrap_or(0.0)
}

/// Whether some series of metric `name` is present.
fn has(scrape: &BTreeMap<String, f64>, name: &str) -> bool {
    scrape.keys().any(|series| {
        series == name || series.starts_with(&format!("{name}{{")) || series.starts_with(&format!("{name}_"))
    })
}

#[tokio::test]
async fn metrics_are_off_unless_an_address_is_set() {
    let app = spawn_app().await;
    assert_eq!(app.metrics_port, None);
    // And never on the public site.
    assert_eq!(app.get("/metrics").await.status(), 404);
}

#[tokio::test]
#[allow(clippy::float_cmp, reason = "the gateway state gauges hold exactly 0 or 1")]
async fn every_metric_is_scraped_and_moves_with_joins_calls_and_429s() {
    let app = spawn_app_with(&[("METRICS_ADDR", "127.0.0.1:0"), ("IP_RATE_BURST", "1000")]).await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let (channel, _token) = alice.create_room("Metrics table").await;

    let before = scrape(&app).await;
    assert_eq!(
        value(&before, r#"spell_coven_gateway_state{state="CONNECTED"}"#),
        1.0
    );
    assert_eq!(
        value(&before, r#"spell_coven_gateway_state{state="RECONNECTING"}"#),
        0.0
    );
    assert!(value(&before, r#"spell_coven_gateway_sessions_total{how="identify"}"#) >= 1.0);
    assert!(
        value(
            &before,
            r#"spell_coven_server_fn_calls_total{function="rooms/create",status="200"}"#
        ) >= 1.0,
        "the create call was counted"
    );

    // A viewer watches the room, then alice joins its voice channel at "Discord".
    let stream = alice
        .client
        .get(format!("{}/api/stream?room={channel}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut events = SseReader::new(stream);
    assert_eq!(events.next_event().await.event.as_deref(), Some("snapshot"));
    app.discord
        .join_voice(demo.alice, Snowflake::parse(&channel).unwrap())
        .unwrap();
    // The room's own `room.created` may still be on its way; the join follows it.
    let mut joined = false;
    for _ in 0..5 {
        if events.next_event().await.event.as_deref() == Some("voice.joined") {
            joined = true;
            break;
        }
    }
    assert!(joined, "the viewer sees the join");

    // Someone spends their budget: the 429s are counted as rate-limited calls.
    let mut limited = false;
    for _ in 0..30 {
        let answer = alice.call("refresh_invite", &[("channel", &channel)]).await;
        if answer.status == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "the per-user budget runs out");

    let after = scrape(&app).await;
    for (name, _) in server::metrics::METRICS {
        assert!(has(&after, name), "{name} is scraped");
    }
    let moved = |series: &str| value(&after, series) - value(&before, series);
    assert!(moved(r#"spell_coven_gateway_dispatches_total{type="VOICE_STATE_UPDATE"}"#) >= 1.0);
    assert!(moved(r#"spell_coven_app_events_published_total{event="voice.joined"}"#) >= 1.0);
    assert!(
        moved("spell_coven_stream_deliveries_total") >= 2.0,
        "snapshot and join"
    );
    assert!(moved("spell_coven_dispatch_to_write_seconds_count") >= 1.0);
    assert!(value(&after, "spell_coven_streams_open") >= 1.0);
    assert!(
        moved(r#"spell_coven_server_fn_calls_total{function="rooms/refresh_invite",status="200"}"#) >= 1.0
    );
    assert!(
        moved(r#"spell_coven_server_fn_calls_total{function="rooms/refresh_invite",status="429"}"#) >= 1.0
    );
    assert!(moved(r#"spell_coven_rate_limited_total{scope="user"}"#) >= 1.0);
    // Registered before anything happened to them.
    for series in [
        r#"spell_coven_reconciler_repairs_total{kind="orphan_channel"}"#,
        r#"spell_coven_reconciler_repairs_total{kind="missing_permission"}"#,
        "spell_coven_reconciler_failures_total",
        "spell_coven_task_panics_total",
        "spell_coven_janitor_failures_total",
        r#"spell_coven_gateway_sessions_total{how="resume"}"#,
    ] {
        assert!(after.contains_key(series), "{series} is registered");
    }
}
