//! Sessions at rest: a started sign-in is short-lived, Discord tokens are stored encrypted, the
//! session secret can be rotated without signing anyone out, and a code Discord refuses is the
//! user's problem (400), while Discord failing is a 502.

use backend::Store;
use discord_sim::{RestFault, RestFaultRule};
use reqwest::header::{LOCATION, SET_COOKIE};

use crate::{
    helpers::{TestApp, spawn_app, spawn_app_with},
    players::Player,
};

fn sqlite(app: &TestApp) -> &sqlx::SqlitePool {
    let Store::Sqlite(pool) = &app.store else {
        panic!("these tests run on SQLite")
    };
    pool
}

/// How many session rows expire later than `modifier` from now (an SQLite date modifier).
async fn rows_expiring_after(app: &TestApp, modifier: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM tower_sessions WHERE datetime(expiry_date) > datetime('now', ?)")
        .bind(modifier)
        .fetch_one(sqlite(app))
        .await
        .unwrap()
}

/// Starts a sign-in with `client`; returns the `state` Discord would bring back.
async fn start_sign_in(app: &TestApp, client: &reqwest::Client) -> String {
    let login = client.get(app.url("/auth/login")).send().await.unwrap();
    assert_eq!(login.status(), 303);
    url::Url::parse(login.headers()[LOCATION].to_str().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == "state")
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test]
async fn anonymous_logins_leave_sessions_that_expire_within_ten_minutes() {
    // Thirty visitors from one address: lift the per-address budget, which has its own test.
    let app = spawn_app_with(&[("IP_RATE_BURST", "1000")]).await;
    // No cookie jar: every request is a new visitor, as a script hammering the route would be.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for _ in 0..30 {
        let login = anonymous.get(app.url("/auth/login")).send().await.unwrap();
        assert_eq!(login.status(), 303);
        let cookie = login.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        let max_age: i64 = cookie
            .split("; ")
            .find_map(|part| part.strip_prefix("Max-Age="))
            .expect("the cookie expires")
            .parse()
            .unwrap();
        assert!(max_age <= 600, "{cookie}");
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tower_sessions")
        .fetch_one(sqlite(&app))
        .await
        .unwrap();
    assert_eq!(rows, 30);
    assert_eq!(
        rows_expiring_after(&app, "+10 minutes").await,
        0,
        "a pending sign-in lives 10 minutes"
    );

    // Signing in makes the session a long one.
    Player::signed_in(&app, &app.discord.demo().alice.to_string()).await;
    assert_eq!(rows_expiring_after(&app, "+13 days").await, 1);
}

#[tokio::test]
async fn a_signed_in_session_is_stored_without_its_tokens_in_the_clear() {
    let app = spawn_app().await;
    let alice = Player::signed_in(&app, &app.discord.demo().alice.to_string()).await;
    assert_eq!(alice.get("/api/me").await.status(), 200);
    let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT data FROM tower_sessions")
        .fetch_all(sqlite(&app))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let row = String::from_utf8_lossy(&rows[0]);
    for plain in ["discord_tokens", "access_token", "refresh_token", "Alice"] {
        assert!(!row.contains(plain), "`{plain}` is stored in the clear: {row}");
    }
}

#[tokio::test]
async fn rotating_the_session_secret_keeps_users_signed_in_and_an_unknown_secret_signs_them_out() {
    let old = "o".repeat(64);
    let new = "n".repeat(64);
    let app = spawn_app_with(&[("SESSION_SECRET", &old)]).await;
    let mut alice = Player::signed_in(&app, &app.discord.demo().alice.to_string()).await;

    let app =
        Box::pin(app.restart_with(&[("SESSION_SECRET", &new), ("SESSION_SECRET_PREVIOUS", &old)])).await;
    alice.address.clone_from(&app.address);
    assert_eq!(
        alice.get("/api/me").await.status(),
        200,
        "the previous secret still opens it"
    );

    // That read sealed the session again under the new secret: the old one can go.
    let app = Box::pin(app.restart_with(&[("SESSION_SECRET", &new)])).await;
    alice.address.clone_from(&app.address);
    assert_eq!(alice.get("/api/me").await.status(), 200, "re-encrypted when read");

    let app = Box::pin(app.restart_with(&[("SESSION_SECRET", &"u".repeat(64))])).await;
    alice.address.clone_from(&app.address);
    assert_eq!(
        alice.get("/api/me").await.status(),
        401,
        "a session under an unknown key is signed out, not an error"
    );
    assert_eq!(alice.get("/").await.status(), 200);
}

#[tokio::test]
async fn a_made_up_code_is_a_400_page_and_a_failing_discord_a_502() {
    let app = spawn_app().await;
    let state = start_sign_in(&app, &app.client).await;
    let response = app
        .get(&format!("/auth/callback?code=made-up-code&state={state}"))
        .await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(page.contains("Discord did not accept this sign-in"), "{page}");

    let state = start_sign_in(&app, &app.client).await;
    app.discord.push_rest_fault(RestFaultRule {
        fault: RestFault::Status { status: 503 },
        path: "oauth2/token".to_owned(),
        times: 1,
    });
    let response = app
        .get(&format!("/auth/callback?code=made-up-code&state={state}"))
        .await;
    assert_eq!(response.status(), 502, "Discord down is not the user's fault");
    assert_eq!(app.get("/api/me").await.status(), 401);
}
