//! Sign in with Discord against the simulator's real OAuth2 endpoints: the happy path, and every
//! way the callback can go wrong.

use reqwest::{Response, header::LOCATION};

use crate::{
    helpers::{TestApp, spawn_app, spawn_app_on_real_discord, spawn_app_with},
    players::Player,
};

fn location(response: &Response) -> String {
    response.headers()[LOCATION].to_str().unwrap().to_owned()
}

fn session_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .find(|cookie| cookie.starts_with("spell_coven_session="))
}

/// Starts a sign-in and answers the simulator's consent page as `user`; returns the callback URL
/// Discord sends the browser back to.
async fn consent(app: &TestApp, return_to: &str, user: &str) -> String {
    let login = app
        .get(&format!("/auth/login?return_to={}", urlencode(return_to)))
        .await;
    assert_eq!(login.status(), 303);
    let authorize = url::Url::parse(&location(&login)).unwrap();
    let params: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    let get = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    // Consent matches intent: only a sign-in to join a game asks to add the user to the guild.
    let expected = if return_to.starts_with("/invite/") {
        "identify guilds.join"
    } else {
        "identify"
    };
    assert_eq!(get("scope").as_deref(), Some(expected), "{return_to}");
    assert_eq!(get("code_challenge_method").as_deref(), Some("S256"));
    assert!(
        get("state").is_some_and(|state| state.len() >= 16),
        "an unguessable state"
    );
    let mut form = params.clone();
    form.push(("user_id".to_owned(), user.to_owned()));
    // The consent page posts its own parameters back with the person chosen.
    let mut consent_url = authorize.clone();
    consent_url.set_query(None);
    let decided = app.client.post(consent_url).form(&form).send().await.unwrap();
    assert!(decided.status().is_redirection(), "{}", decided.status());
    location(&decided)
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn signing_in_returns_to_the_page_and_identifies_the_user() {
    let app = spawn_app().await;
    let alice = app.discord.demo().alice.to_string();
    assert_eq!(app.get("/api/me").await.status(), 401);

    let before = {
        let response = app.get("/auth/login").await;
        session_cookie(&response).expect("a session starts at login")
    };
    assert!(
        before.contains("HttpOnly") && before.contains("SameSite=Lax"),
        "{before}"
    );

    let callback = consent(&app, "/game/4000000000000000001", &alice).await;
    let response = app.client.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/game/4000000000000000001");
    let after = session_cookie(&response).expect("the session id is rotated at sign-in");
    assert_ne!(before.split(';').next(), after.split(';').next());

    let me: serde_json::Value = app.get("/api/me").await.json().await.unwrap();
    assert_eq!(me["id"], alice.as_str());
    assert_eq!(me["username"], "Alice");
    let stored = app.store.user(alice.parse().unwrap()).await.unwrap();
    assert!(stored.is_some(), "the user is recorded");

    // Replaying the callback (code reuse) fails politely.
    let replay = app.client.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    assert!(
        replay
            .text()
            .await
            .unwrap()
            .contains("This sign-in link has expired")
    );

    let logout = app.client.post(app.url("/auth/logout")).send().await.unwrap();
    assert_eq!(logout.status(), 303);
    assert_eq!(app.get("/api/me").await.status(), 401);
}

#[tokio::test]
async fn a_callback_with_a_foreign_state_is_refused_with_a_friendly_page() {
    let app = spawn_app().await;
    let alice = app.discord.demo().alice.to_string();
    let callback = consent(&app, "/", &alice).await;
    let mut tampered = url::Url::parse(&callback).unwrap();
    let code = tampered
        .query_pairs()
        .find(|(key, _)| key == "code")
        .unwrap()
        .1
        .into_owned();
    tampered.set_query(Some(&format!("code={code}&state=not-the-state")));
    let response = app.client.get(tampered.as_str()).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("This sign-in link is not valid") && page.contains("Sign in again"),
        "{page}"
    );
    assert_eq!(app.get("/api/me").await.status(), 401);
}

#[tokio::test]
async fn cancelling_at_discord_ends_on_a_friendly_page() {
    let app = spawn_app().await;
    app.get("/auth/login").await;
    let response = app.get("/auth/callback?error=access_denied&state=x").await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("Sign-in cancelled"));
}

#[tokio::test]
async fn an_open_redirect_attempt_returns_home_instead() {
    let app = spawn_app().await;
    let alice = app.discord.demo().alice.to_string();
    let callback = consent(&app, "//evil.example/phish", &alice).await;
    let response = app.client.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/");
}

#[tokio::test]
async fn with_the_development_switch_off_the_stream_knows_who_is_signed_in() {
    let app = spawn_app_with(&[("DEV_OPEN_STREAM", "false")]).await;
    let room = app.discord.demo().lobby;
    assert_eq!(app.get(&format!("/api/stream?room={room}")).await.status(), 401);
    let callback = consent(&app, "/", &app.discord.demo().bob.to_string()).await;
    assert_eq!(app.client.get(&callback).send().await.unwrap().status(), 303);
    // Signed in now, but the Lobby is not a room bob plays in (rooms.rs covers the players' 200).
    let response = app.get(&format!("/api/stream?room={room}")).await;
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"error": "forbidden"}));
}

#[tokio::test]
async fn a_restarted_server_keeps_sessions_and_users() {
    let app = spawn_app().await;
    let alice = app.discord.demo().alice.to_string();
    let callback = consent(&app, "/", &alice).await;
    assert_eq!(app.client.get(&callback).send().await.unwrap().status(), 303);

    let app = app.restart().await;
    let me = app.get("/api/me").await;
    assert_eq!(me.status(), 200, "the session cookie still names a live session");
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["id"], alice.as_str());
    assert!(app.store.user(alice.parse().unwrap()).await.unwrap().is_some());
}

#[tokio::test]
async fn sessions_and_rooms_live_in_postgresql_when_it_is_configured() {
    let url = crate::helpers::fresh_postgres_database("spell_coven_app").await;

    // With a secret, so no development key file is written into the working directory.
    let secret = "s".repeat(64);
    // Against a Discord that outlives the restart, as a deploy's does (an embedded simulator's
    // world would start afresh, without the room's channel, and the room would close).
    let app = spawn_app_on_real_discord(&[("DATABASE_URL", &url), ("SESSION_SECRET", &secret)]).await;
    assert_eq!(app.store.engine(), "postgres");
    let mut alice = Player::signed_in(&app, &app.discord.demo().alice.to_string()).await;
    let (channel, _) = alice.create_room("Stored in PostgreSQL").await;
    let app = app.restart().await;
    alice.address.clone_from(&app.address);
    assert_eq!(
        alice.get("/api/me").await.status(),
        200,
        "the session is in PostgreSQL, not in the process"
    );
    let mine = alice.call("mine", &[]).await.ok();
    assert_eq!(mine[0]["channelId"], channel.as_str(), "the room too");
    let backend::Store::Postgres(pool) = &app.store else {
        panic!("still PostgreSQL")
    };
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tower_sessions.session")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(sessions >= 1);

    drop(app);
    crate::helpers::drop_postgres_database(&url).await;
}

#[tokio::test]
async fn a_code_discord_already_exchanged_is_refused_by_discord_politely() {
    let app = spawn_app().await;
    let alice = app.discord.demo().alice.to_string();
    let callback = consent(&app, "/", &alice).await;
    assert_eq!(app.client.get(&callback).send().await.unwrap().status(), 303);
    let used_code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == "code")
        .unwrap()
        .1
        .into_owned();
    app.client.post(app.url("/auth/logout")).send().await.unwrap();

    // A fresh sign-in, answered with the old code under the new state: the state check passes, so
    // the code reaches Discord, which refuses it (invalid_grant).
    let login = app.get("/auth/login").await;
    let state = url::Url::parse(&location(&login))
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == "state")
        .unwrap()
        .1
        .into_owned();
    let response = app
        .get(&format!("/auth/callback?code={used_code}&state={state}"))
        .await;
    assert_eq!(
        response.status(),
        400,
        "a used code is the user's problem, not Discord's"
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("Discord did not accept this sign-in"), "{page}");
    assert_eq!(app.get("/api/me").await.status(), 401);
}
