//! `GET /api/stream` over real HTTP: headers, snapshot first, live events, per-room filtering,
//! `Last-Event-ID` replay, and the errors.

use crate::helpers::{LOUNGE, SseReader, TABLE, TestApp, joined, left, spawn_app, spawn_app_with};

async fn open(app: &TestApp, room: &str, last_event_id: Option<&str>) -> SseReader {
    let mut request = app.client.get(app.url(&format!("/api/stream?room={room}")));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    SseReader::new(response)
}

#[tokio::test]
async fn stream_has_the_sse_headers_and_opens_with_a_snapshot() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url(&format!("/api/stream?room={TABLE}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache, no-transform");
    let mut events = SseReader::new(response);
    let snapshot = events.next_event().await;
    assert_eq!(snapshot.event.as_deref(), Some("snapshot"));
    assert!(snapshot.id.is_some());
    assert_eq!(
        snapshot.data,
        format!(r#"{{"channelId":"{TABLE}","members":[],"discord":"ready"}}"#)
    );
}

#[tokio::test]
async fn live_events_reach_only_the_rooms_viewers() {
    let app = spawn_app().await;
    let mut table = open(&app, TABLE, None).await;
    let mut lounge = open(&app, LOUNGE, None).await;
    assert_eq!(table.next_event().await.event.as_deref(), Some("snapshot"));
    assert_eq!(lounge.next_event().await.event.as_deref(), Some("snapshot"));

    app.bus.publish(joined("10", "alice", LOUNGE));
    app.bus.publish(joined("11", "bob", TABLE));
    let frame = table.next_event().await;
    assert_eq!(frame.event.as_deref(), Some("voice.joined"));
    assert!(frame.data.contains(r#""username":"bob""#), "{}", frame.data);
    let frame = lounge.next_event().await;
    assert!(
        frame.data.contains(r#""username":"alice""#),
        "the lounge sees only alice: {}",
        frame.data
    );

    app.bus.publish(left("11", TABLE));
    let frame = table.next_event().await;
    assert_eq!(frame.event.as_deref(), Some("voice.left"));
    assert!(
        frame.data.contains(r#""channelId":null"#)
            && frame.data.contains(&format!(r#""leftChannelId":"{TABLE}""#))
    );

    // A new viewer of the lounge sees alice in its snapshot.
    let mut late = open(&app, LOUNGE, None).await;
    let snapshot = late.next_event().await;
    assert!(
        snapshot.data.contains(r#""username":"alice""#),
        "{}",
        snapshot.data
    );
}

#[tokio::test]
async fn reconnecting_with_last_event_id_replays_what_was_missed() {
    let app = spawn_app().await;
    let mut first = open(&app, TABLE, None).await;
    first.next_event().await;
    app.bus.publish(joined("10", "alice", TABLE));
    let seen = first.next_event().await.id.unwrap();
    drop(first);

    app.bus.publish(joined("11", "bob", TABLE));
    app.bus.publish(left("10", TABLE));
    // Wait until the fan-out has applied both (a fresh snapshot shows only bob).
    let mut probe = open(&app, TABLE, None).await;
    loop {
        match probe.next_event().await {
            frame if frame.event.as_deref() == Some("voice.left") => break,
            frame
                if frame.event.as_deref() == Some("snapshot")
                    && frame.data.contains("bob")
                    && !frame.data.contains("alice") =>
            {
                break;
            }
            _ => {}
        }
    }

    let mut again = open(&app, TABLE, Some(&seen)).await;
    let replayed = [again.next_event().await, again.next_event().await];
    assert_eq!(replayed[0].event.as_deref(), Some("voice.joined"));
    assert!(replayed[0].data.contains("bob"));
    assert_eq!(replayed[1].event.as_deref(), Some("voice.left"));

    let mut stale = open(&app, TABLE, Some("from-another-server.7")).await;
    assert_eq!(stale.next_event().await.event.as_deref(), Some("snapshot"));
}

#[tokio::test]
async fn a_missing_or_malformed_room_is_a_400_with_a_reason() {
    let app = spawn_app().await;
    for (query, reason) in [
        ("", "`room` is required"),
        ("?room=abc", "digits only"),
        ("?room=0", "must not be zero"),
    ] {
        let response = app.get(&format!("/api/stream{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_input");
        assert!(
            body["message"].as_str().unwrap().contains(reason),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn without_a_session_and_with_the_development_switch_off_the_stream_is_401() {
    let app = spawn_app_with(&[("DEV_OPEN_STREAM", "false")]).await;
    let response = app.get(&format!("/api/stream?room={TABLE}")).await;
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"error": "unauthenticated"}));
}

/// Writes `request` on a fresh connection and returns the connection and the start of the answer.
async fn raw(app: &TestApp, request: &str) -> (tokio::net::TcpStream, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let address = app.address.trim_start_matches("http://");
    let mut connection = tokio::net::TcpStream::connect(address).await.unwrap();
    connection.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0_u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), connection.read(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    (connection, String::from_utf8_lossy(&answer[..read]).into_owned())
}

#[tokio::test]
async fn a_viewer_that_hangs_up_is_forgotten() {
    let app = spawn_app().await;
    let room = TABLE.parse().unwrap();
    let (connection, answer) = raw(
        &app,
        &format!("GET /api/stream?room={TABLE} HTTP/1.1\r\nHost: x\r\n\r\n"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("transfer-encoding: chunked"), "{answer}");
    assert_eq!(app.live.viewer_count(room), 1);
    drop(connection);
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while app.live.viewer_count(room) > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the stream ends when its client hangs up");
}

#[tokio::test]
async fn stream_requests_the_stream_path_cannot_serve_are_refused_plainly() {
    let app = spawn_app().await;
    for (request, status) in [
        (
            format!("GET /api/stream?room={TABLE} HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
            "400",
        ),
        (
            format!(
                "GET /api/stream?room={TABLE} HTTP/1.1\r\nCookie: {}\r\n\r\n",
                "x".repeat(20_000)
            ),
            "431",
        ),
    ] {
        let (_, answer) = raw(&app, &request).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{status}: {answer}"
        );
    }
}

#[tokio::test]
async fn a_room_forgotten_while_its_viewer_was_away_reconnects_it_with_a_snapshot() {
    let app = spawn_app().await;
    let room = TABLE.parse().unwrap();
    let mut first = open(&app, TABLE, None).await;
    first.next_event().await;
    app.bus.publish(joined("10", "alice", TABLE));
    let seen = first.next_event().await.id.unwrap();
    drop(first);

    // While the viewer is away, alice leaves; with nobody in or watching the room, the server
    // forgets it (here when someone opens another room), and bob's arrival starts it afresh.
    app.bus.publish(left("10", TABLE));
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while app.live.viewer_count(room) > 0 || !app.live.members_of(room).is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("alice's leave is applied and the viewer is gone");
    let mut lounge = open(&app, LOUNGE, None).await;
    lounge.next_event().await;
    app.bus.publish(joined("11", "bob", TABLE));
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while app.live.members_of(room).is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("bob's join is applied");

    let mut again = open(&app, TABLE, Some(&seen)).await;
    let frame = again.next_event().await;
    assert_eq!(frame.event.as_deref(), Some("snapshot"), "{}", frame.raw);
    assert!(
        frame.data.contains("bob") && !frame.data.contains("alice"),
        "no ghost of alice: {}",
        frame.data
    );
}
