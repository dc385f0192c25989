//! Requests that change something are refused unless they come from the site's own pages, and
//! server functions take only the body encoding the app sends. Non-browser clients (no `Origin`,
//! no `Sec-Fetch-Site`), like the other tests' reqwest clients, pass.

use reqwest::header::CONTENT_TYPE;
use serde_json::Value;

use crate::{
    browser::browser_test,
    helpers::{spawn_app, spawn_app_with},
    players::Player,
};

/// POSTs `body` to `path` as `player`, with extra headers; the status and the JSON body.
async fn post(
    player: &Player,
    path: &str,
    headers: &[(&str, &str)],
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let mut request = player
        .client
        .post(format!("{}{path}", player.address))
        .header(CONTENT_TYPE, content_type)
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn a_request_from_another_origin_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let alice = Player::signed_in(&app, &app.discord.demo().alice.to_string()).await;
    let own = app.address.as_str();
    for headers in [
        vec![("origin", "http://evil.example")],
        // Same host, another port: same *site*, so SameSite=Lax cookies would go along.
        vec![("origin", "http://127.0.0.1:1")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![("origin", own), ("sec-fetch-site", "same-site")],
    ] {
        let (status, body) = post(&alice, "/api/rooms/create", &headers, FORM, "name=Forged").await;
        assert_eq!(
            (status, &body["error"]),
            (403, &Value::from("forbidden")),
            "{headers:?}"
        );
        let (status, _) = post(&alice, "/auth/logout", &headers, FORM, "").await;
        assert_eq!(status, 403, "logout {headers:?}");
    }
    assert!(app.store.all_rooms().await.unwrap().is_empty(), "no forged room");
    assert_eq!(alice.get("/api/me").await.status(), 200, "still signed in");

    // The app's own pages send exactly this, and are served.
    let same = [("origin", own), ("sec-fetch-site", "same-origin")];
    let (status, body) = post(&alice, "/api/rooms/create", &same, FORM, "name=Mine").await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = post(&alice, "/auth/logout", &same, FORM, "").await;
    assert_eq!(status, 303);
    assert_eq!(alice.get("/api/me").await.status(), 401);
}

#[tokio::test]
async fn with_a_public_base_url_only_that_origin_counts() {
    let app = spawn_app_with(&[("VITE_BASE_URL", "https://play.example")]).await;
    let anonymous = Player::anonymous(&app);
    let own_host = [("origin", app.address.as_str())];
    let (status, _) = post(&anonymous, "/api/rooms/create", &own_host, FORM, "name=x").await;
    assert_eq!(status, 403, "the Host is not the public origin");
    let public = [("origin", "https://play.example")];
    let (status, body) = post(&anonymous, "/api/rooms/create", &public, FORM, "name=x").await;
    assert_eq!((status, &body["error"]), (401, &Value::from("unauthenticated")));
}

#[tokio::test]
async fn server_functions_refuse_bodies_the_app_never_sends() {
    let app = spawn_app().await;
    let alice = Player::signed_in(&app, &app.discord.demo().alice.to_string()).await;
    for content_type in [
        "text/plain",
        "application/json",
        "multipart/form-data; boundary=x",
        "",
    ] {
        let (status, body) = post(&alice, "/api/rooms/create", &[], content_type, "name=Sneaky").await;
        assert_eq!(
            (status, &body["error"]),
            (415, &Value::from("unsupported_media_type")),
            "{content_type:?}"
        );
    }
    assert!(app.store.all_rooms().await.unwrap().is_empty());
    let (status, _) = post(
        &alice,
        "/api/rooms/create",
        &[],
        "application/x-www-form-urlencoded; charset=UTF-8",
        "name=Fine",
    )
    .await;
    assert_eq!(status, 200);
}

/// A page on another origin (a second server, another port of the same host, so the session
/// cookie's SameSite=Lax does not stop it) that posts a form to the app as soon as it loads.
async fn attacker_site(target: String) -> (String, tokio::task::JoinHandle<()>) {
    let page = format!(
        r#"<!DOCTYPE html><html><body>
        <form id="forge" method="post" action="{target}"><input name="name" value="Forged"></form>
        <script>document.getElementById("forge").submit();</script></body></html>"#
    );
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(page) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (address, server)
}

#[tokio::test]
async fn a_form_on_another_origin_cannot_act_for_a_signed_in_player() {
    let app = spawn_app().await;
    let alice = app.discord.demo().alice;
    let (attacker, server) = attacker_site(app.url("/api/rooms/create")).await;
    let store = app.store.clone();
    browser_test("csrf_cross_origin_form", |page| async move {
        page.goto(&app.url("/auth/login?return_to=/")).await?;
        page.click(&format!(
            r#"form:has(input[name="user_id"][value="{alice}"]) button"#
        ))
        .await?;
        page.wait_until_hydrated().await?;

        page.goto(&attacker).await?;
        // The form lands on the app's answer: the refusal, not a redirect back.
        page.wait_for("the app's refusal", |page| async move {
            Ok(page.current_path().await? == "/api/rooms/create"
                && page.text("body").await?.contains("forbidden"))
        })
        .await?;
        assert!(store.all_rooms().await?.is_empty(), "the forged form made a room");
        Ok(())
    })
    .await;
    server.abort();
}
