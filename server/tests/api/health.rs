//! `/health` and `/api/health` report each part's state.

use crate::helpers::spawn_app;

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
