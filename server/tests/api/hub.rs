//! `POST /api/internal/events` (the seeds' HMAC hub) over real HTTP: every answer it can give,
//! a replay refused by another instance sharing Redis, and an accepted event reaching a viewer.

use std::time::{SystemTime, UNIX_EPOCH};

use backend::hub::Verifier;
use model::event::{AppEvent, RoomDeleted, VoiceJoined};
use serde_json::json;

use crate::helpers::{SseReader, TABLE, TestApp, spawn_app, spawn_app_with};

const SECRET: &str = "hub-test-secret-of-a-reasonable-length";
const PATH: &str = "/api/internal/events";

fn unix_secs(offset: i64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    now.checked_add_signed(offset).unwrap().to_string()
}

fn unix_millis() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string()
}

fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    Verifier::new(secret.as_bytes()).sign(timestamp, body.as_bytes())
}

/// `voice.joined` for `user` (`name`) in `channel` of the app's own guild, as the hub's JSON.
fn joined_body(app: &TestApp, user: &str, name: &str, channel: &str) -> String {
    serde_json::to_string(&AppEvent::VoiceJoined(VoiceJoined {
        guild_id: app.state.guild_id,
        channel_id: channel.parse().unwrap(),
        user_id: user.parse().unwrap(),
        username: name.to_owned(),
        avatar: None,
    }))
    .unwrap()
}

fn deleted_body(app: &TestApp, channel: &str) -> String {
    serde_json::to_string(&AppEvent::RoomDeleted(RoomDeleted {
        guild_id: app.state.guild_id,
        channel_id: channel.parse().unwrap(),
    }))
    .unwrap()
}

/// Posts `body` with exactly `headers` (as a program would: no Origin, JSON).
async fn post(app: &TestApp, headers: &[(&str, &str)], body: String) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(PATH))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// Posts `body` signed with `SECRET` now (in seconds).
async fn post_signed(app: &TestApp, body: String) -> reqwest::Response {
    let timestamp = unix_secs(0);
    let signature = sign(SECRET, &timestamp, &body);
    post(
        app,
        &[("x-hub-timestamp", &timestamp), ("x-hub-signature", &signature)],
        body,
    )
    .await
}

/// The status and the error's code, after checking the body is the app's one error shape.
async fn refusal(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "hub", "{body}");
    (status, body["message"].as_str().unwrap().to_owned())
}

async fn hub_app() -> TestApp {
    spawn_app_with(&[("HUB_SECRET", SECRET)]).await
}

#[tokio::test]
async fn a_signed_voice_joined_reaches_the_rooms_viewer() {
    let app = hub_app().await;
    let stream = app
        .client
        .get(app.url(&format!("/api/stream?room={TABLE}")))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut viewer = SseReader::new(stream);
    assert_eq!(viewer.next_event().await.event.as_deref(), Some("snapshot"));

    let response = post_signed(&app, joined_body(&app, "10", "alice from the hub", TABLE)).await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.text().await.unwrap(), "");
    let frame = viewer.next_event().await;
    assert_eq!(frame.event.as_deref(), Some("voice.joined"));
    assert!(
        frame.data.contains(r#""username":"alice from the hub""#),
        "{}",
        frame.data
    );

    // Milliseconds work as well, and so does the seeds' voice.left once it names the channel left.
    let left = json!({"event": "voice.left", "payload": {
        "guildId": app.state.guild_id.to_string(), "channelId": null, "userId": "10",
        "leftChannelId": TABLE,
    }})
    .to_string();
    let timestamp = unix_millis();
    let signature = sign(SECRET, &timestamp, &left);
    let response = post(
        &app,
        &[("x-hub-timestamp", &timestamp), ("x-hub-signature", &signature)],
        left,
    )
    .await;
    assert_eq!(response.status(), 202);
    assert_eq!(viewer.next_event().await.event.as_deref(), Some("voice.left"));
}

#[tokio::test]
async fn the_signature_replaces_the_origin_check_on_the_hub_path_only() {
    let app = hub_app().await;
    let body = deleted_body(&app, TABLE);
    let timestamp = unix_secs(0);
    let signature = sign(SECRET, &timestamp, &body);
    let cross_origin = |path: &str| {
        app.client
            .post(app.url(path))
            .header("origin", "https://elsewhere.example")
            .header("sec-fetch-site", "cross-site")
            .header("content-type", "application/json")
            .header("x-hub-timestamp", &timestamp)
            .header("x-hub-signature", &signature)
            .body(body.clone())
    };
    assert_eq!(cross_origin(PATH).send().await.unwrap().status(), 202);
    // A neighbour of the path is an ordinary route: still guarded.
    let neighbour = cross_origin("/api/internal/events/x").send().await.unwrap();
    assert_eq!(neighbour.status(), 403);
}

#[tokio::test]
async fn a_missing_header_is_400() {
    let app = hub_app().await;
    let body = deleted_body(&app, TABLE);
    let timestamp = unix_secs(0);
    let signature = sign(SECRET, &timestamp, &body);
    for (headers, code) in [
        (vec![("x-hub-signature", signature.as_str())], "MISSING_TIMESTAMP"),
        (vec![("x-hub-timestamp", timestamp.as_str())], "MISSING_SIGNATURE"),
        (vec![], "MISSING_TIMESTAMP"),
        (
            vec![
                ("x-hub-timestamp", "soon"),
                ("x-hub-signature", signature.as_str()),
            ],
            "MALFORMED_TIMESTAMP",
        ),
        (
            vec![
                ("x-hub-timestamp", timestamp.as_str()),
                ("x-hub-signature", "md5=abc"),
            ],
            "MALFORMED_SIGNATURE",
        ),
    ] {
        let answer = refusal(post(&app, &headers, body.clone()).await).await;
        assert_eq!(answer, (400, code.to_owned()), "{headers:?}");
    }
}

#[tokio::test]
async fn a_bad_signature_or_a_timestamp_over_a_minute_away_is_403() {
    let app = hub_app().await;
    let body = deleted_body(&app, TABLE);
    let now = unix_secs(0);
    let (old, ahead) = (unix_secs(-120), unix_secs(120));
    let cases = [
        (
            "another secret",
            &now,
            sign("not-the-secret", &now, &body),
            body.clone(),
        ),
        (
            "a changed body",
            &now,
            sign(SECRET, &now, &body),
            body.replace(TABLE, "4000000000000000009"),
        ),
        ("two minutes old", &old, sign(SECRET, &old, &body), body.clone()),
        (
            "two minutes ahead",
            &ahead,
            sign(SECRET, &ahead, &body),
            body.clone(),
        ),
    ];
    for (name, timestamp, signature, body) in cases {
        let response = post(
            &app,
            &[("x-hub-timestamp", timestamp), ("x-hub-signature", &signature)],
            body,
        )
        .await;
        let expected = if name.starts_with("two minutes") {
            "STALE_TIMESTAMP"
        } else {
            "BAD_SIGNATURE"
        };
        assert_eq!(refusal(response).await, (403, expected.to_owned()), "{name}");
    }
}

#[tokio::test]
async fn events_the_hub_does_not_take_are_400_with_the_reason() {
    let app = hub_app().await;
    let guild = app.state.guild_id.to_string();
    for (body, code) in [
        (
            json!({"event": "seat.taken", "payload": {"channelId": TABLE, "userId": "10",
                "username": "mallory", "avatar": null, "owner": true}}),
            "UNKNOWN_EVENT",
        ),
        (json!({"event": "voice.muted", "payload": {}}), "UNKNOWN_EVENT"),
        (
            json!({"event": "voice.joined", "payload": {"guildId": guild, "channelId": TABLE}}),
            "INVALID_PAYLOAD",
        ),
        (
            json!({"event": "voice.left", "payload": {"guildId": guild, "channelId": null, "userId": "10"}}),
            "LEFT_CHANNEL_REQUIRED",
        ),
        (
            json!({"event": "room.deleted", "payload": {"guildId": "2999999999999999999", "channelId": TABLE}}),
            "WRONG_GUILD",
        ),
        (json!(["voice.joined"]), "MALFORMED_BODY"),
    ] {
        let answer = refusal(post_signed(&app, body.to_string()).await).await;
        assert_eq!(answer, (400, code.to_owned()), "{body}");
    }
}

#[tokio::test]
async fn a_body_over_16_kib_is_413_whether_announced_or_not() {
    let app = hub_app().await;
    let padding = "x".repeat(17 * 1024);
    let body = json!({"event": "room.deleted", "payload": {
        "guildId": app.state.guild_id.to_string(), "channelId": TABLE, "padding": padding,
    }})
    .to_string();
    let timestamp = unix_secs(0);
    let signature = sign(SECRET, &timestamp, &body);
    // With Content-Length.
    let announced = post(
        &app,
        &[("x-hub-timestamp", &timestamp), ("x-hub-signature", &signature)],
        body.clone(),
    )
    .await;
    assert_eq!(refusal(announced).await, (413, "BODY_TOO_LARGE".to_owned()));
    // Chunked, so only counting the bytes can tell.
    let chunks: Vec<Result<String, std::io::Error>> = body
        .as_bytes()
        .chunks(1024)
        .map(|chunk| Ok(String::from_utf8(chunk.to_vec()).unwrap()))
        .collect();
    let chunked = app
        .client
        .post(app.url(PATH))
        .header("x-hub-timestamp", &timestamp)
        .header("x-hub-signature", &signature)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(chunked).await, (413, "BODY_TOO_LARGE".to_owned()));
}

#[tokio::test]
async fn without_hub_secret_the_route_does_not_exist() {
    let app = spawn_app().await;
    let body = deleted_body(&app, TABLE);
    let response = post_signed(&app, body).await;
    assert_eq!(response.status(), 404);
    // The site's own "not found", as for any path it does not serve.
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This page does not exist")
    );
}

#[tokio::test]
async fn a_request_is_accepted_once_by_a_lone_instance() {
    let app = hub_app().await;
    let body = deleted_body(&app, TABLE);
    let timestamp = unix_secs(0);
    let signature = sign(SECRET, &timestamp, &body);
    let headers = [
        ("x-hub-timestamp", timestamp.as_str()),
        ("x-hub-signature", signature.as_str()),
    ];
    assert_eq!(post(&app, &headers, body.clone()).await.status(), 202);
    let replay = post(&app, &headers, body).await;
    assert_eq!(refusal(replay).await, (409, "REPLAYED".to_owned()));
}

#[tokio::test]
async fn a_request_accepted_by_one_instance_is_refused_by_another() {
    let namespace = format!("test:hub:{}", uuid::Uuid::new_v4().simple());
    let shared = [
        ("HUB_SECRET", SECRET),
        ("REDIS_URL", "redis://127.0.0.1:6379"),
        ("REDIS_NAMESPACE", namespace.as_str()),
    ];
    let (first, second) = tokio::join!(spawn_app_with(&shared), spawn_app_with(&shared));
    // Each app has its own memory, so only the cache they share in Redis can refuse the replay.
    assert!(first.state.redis.is_some() && second.state.redis.is_some());
    // Both apps embed their own simulator, with the same demo guild.
    assert_eq!(first.state.guild_id, second.state.guild_id);
    let body = deleted_body(&first, TABLE);
    let timestamp = unix_secs(0);
    let signature = sign(SECRET, &timestamp, &body);
    let headers = [
        ("x-hub-timestamp", timestamp.as_str()),
        ("x-hub-signature", signature.as_str()),
    ];
    assert_eq!(post(&first, &headers, body.clone()).await.status(), 202);
    let replay = post(&second, &headers, body.clone()).await;
    assert_eq!(refusal(replay).await, (409, "REPLAYED".to_owned()));
    let replay = post(&first, &headers, body).await;
    assert_eq!(refusal(replay).await, (409, "REPLAYED".to_owned()));

    // Another request (another body, so another signature) is new to both.
    let body = deleted_body(&second, crate::helpers::LOUNGE);
    assert_eq!(post_signed(&second, body).await.status(), 202);
}

#[tokio::test]
async fn hub_requests_are_counted_by_outcome() {
    let app = spawn_app_with(&[("HUB_SECRET", SECRET), ("METRICS_ADDR", "127.0.0.1:0")]).await;
    let before = crate::metrics::scrape(&app).await;
    let body = deleted_body(&app, TABLE);
    assert_eq!(post_signed(&app, body.clone()).await.status(), 202);
    let forged = post(
        &app,
        &[
            ("x-hub-timestamp", &unix_secs(0)),
            ("x-hub-signature", &sign("guess", &unix_secs(0), &body)),
        ],
        body,
    )
    .await;
    assert_eq!(forged.status(), 403);
    let after = crate::metrics::scrape(&app).await;
    let moved = |series: &str| crate::metrics::value(&after, series) - crate::metrics::value(&before, series);
    // Counters are per process and tests run side by side: at least ours.
    assert!(moved(r#"spell_coven_hub_requests_total{outcome="accepted"}"#) >= 1.0);
    assert!(moved(r#"spell_coven_hub_requests_total{outcome="BAD_SIGNATURE"}"#) >= 1.0);
}

#[tokio::test]
async fn a_hub_event_reaches_a_room_page_in_the_browser() {
    let app = hub_app().await;
    let room = app.discord.demo().lobby.to_string();
    crate::browser::browser_test("hub_to_browser", |page| {
        let app = &app;
        let room = room.clone();
        async move {
            page.goto(&app.url(&format!("/game/{room}"))).await?;
            page.find(r#".roster[data-status="live"]"#).await?;
            let response = post_signed(app, joined_body(app, "77", "Hub Visitor", &room)).await;
            anyhow::ensure!(
                response.status() == 202,
                "the hub accepted it: {}",
                response.status()
            );
            page.wait_for("the hub's visitor in the member list", |page| async move {
                Ok(page.text(".roster").await?.contains("Hub Visitor"))
            })
            .await?;
            Ok(())
        }
    })
    .await;
}
