//! `/health` and `/api/health` report each part's state; `/health/live` and `/health/ready` say
//! whether to restart the process and whether to send it traffic.

use std::time::Duration;

use backend::discord::gateway::GatewayState;
use discord_sim::GatewayFault;

use crate::{
    helpers::{spawn_app, spawn_app_with},
    metrics::{scrape, value},
};

#[tokio::test]
async fn health_reports_the_database_up_on_both_paths() {
    let app = spawn_app().await;
    for path in ["/health", "/api/health"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], "up", "{path}: {body}");
        assert_eq!(body["parts"]["database"]["status"], "up", "{path}: {body}");
        assert_eq!(body["parts"]["gateway"]["status"], "up", "{path}: {body}");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    }
}

#[tokio::test]
async fn health_is_503_and_says_which_part_is_down_when_the_database_fails() {
    let app = spawn_app().await;
    // Closing the server's own pool makes every query fail, as a lost database would.
    app.store.close().await;
    let response = app.get("/api/health").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "down", "{body}");
    assert_eq!(body["parts"]["database"]["status"], "down", "{body}");
    let text = body.to_string();
    assert!(
        !text.contains("sqlx") && !text.contains("PoolClosed"),
        "no internals leak: {text}"
    );
}

/// `/health/ready`'s status and body.
async fn ready(app: &crate::helpers::TestApp) -> (u16, serde_json::Value) {
    let response = app.get("/health/ready").await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn ready_degrades_during_a_gateway_outage_turns_503_beyond_the_grace_and_recovers() {
    const GRACE: Duration = Duration::from_secs(2);
    const WAIT: Duration = Duration::from_secs(30);
    let app = spawn_app_with(&[("READY_GRACE_SECS", "2"), ("METRICS_ADDR", "127.0.0.1:0")]).await;
    let live = app.get("/health/live").await;
    assert_eq!(live.status(), 200);
    assert_eq!(live.json::<serde_json::Value>().await.unwrap()["status"], "live");
    let (status, body) = ready(&app).await;
    assert_eq!((status, &body["status"]), (200, &"ready".into()), "{body}");

    // Discord goes away: the connection closes and every new one is refused.
    app.discord.set_refuse_gateway(true);
    let closed = GatewayFault::Close {
        code: 4000,
        reason: "outage".to_owned(),
        hold: false,
    };
    assert_eq!(app.discord.fault_all(&closed), 1);
    let mut gateway = app.state.gateway.clone();
    tokio::time::timeout(WAIT, gateway.wait_for(|state| *state != GatewayState::Connected))
        .await
        .expect("the gateway notices the outage")
        .unwrap();
    let (status, body) = ready(&app).await;
    assert_eq!((status, &body["status"]), (200, &"degraded".into()), "{body}");
    let during = scrape(&app).await;
    assert!(value(&during, "spell_coven_gateway_reconnects_total") >= 1.0);
    assert!(
        value(&during, r#"spell_coven_gateway_state{state="CONNECTED"}"#) < 0.5,
        "the state gauge follows the outage"
    );
    assert!(body["reason"].as_str().unwrap().contains("gateway"), "{body}");
    assert_eq!(
        app.get("/health").await.status(),
        503,
        "/health reports the part down at once"
    );

    // Past the grace (measured from the moment the gateway left CONNECTED) readiness turns.
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    let (status, body) = tokio::time::timeout(GRACE + WAIT, async {
        loop {
            poll.tick().await;
            let answer = ready(&app).await;
            if answer.0 != 200 {
                return answer;
            }
            assert_eq!(answer.1["status"], "degraded", "{}", answer.1);
        }
    })
    .await
    .expect("readiness turns once the grace is over");
    assert_eq!((status, &body["status"]), (503, &"unavailable".into()), "{body}");
    let down_since = app
        .state
        .gateway_down_since
        .borrow()
        .expect("the app knows since when the gateway is down");
    assert!(down_since.elapsed() >= GRACE, "not before the grace is over");
    assert!(body["reason"].as_str().unwrap().contains("beyond"), "{body}");
    assert_eq!(app.get("/health/live").await.status(), 200, "still alive");

    // Discord answers again: ready once the gateway is back.
    app.discord.set_refuse_gateway(false);
    tokio::time::timeout(
        Duration::from_secs(60),
        gateway.wait_for(|state| *state == GatewayState::Connected),
    )
    .await
    .expect("the gateway reconnects")
    .unwrap();
    let (status, body) = ready(&app).await;
    assert_eq!((status, &body["status"]), (200, &"ready".into()), "{body}");

    // A database that does not answer takes the instance out, whatever the gateway does.
    app.store.close().await;
    let (status, body) = ready(&app).await;
    assert_eq!((status, &body["status"]), (503, &"unavailable".into()), "{body}");
    assert!(body["reason"].as_str().unwrap().contains("database"), "{body}");
}
