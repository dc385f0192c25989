//! One client cannot take the server down through its streams: a per-user stream cap (held across
//! web instances sharing Redis), a cap on connections, a timeout on every stream write; and the
//! lean stream path speaks plain HTTP to HTTP/1.0 and LF-only clients.

use std::time::{Duration, Instant};

use model::event::{AppEvent, RoomDeleted, VoiceJoined};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

use crate::{
    helpers::{LOUNGE, TABLE, TestApp, spawn_app, spawn_app_with},
    players::Player,
};

fn stream_request(room: &str) -> String {
    format!("GET /api/stream?room={room} HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// Sends `request` on a new connection and returns it with the first bytes of the answer.
async fn raw(app: &TestApp, request: &str) -> (TcpStream, String) {
    let mut connection = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    connection.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0_u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), connection.read(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    (connection, String::from_utf8_lossy(&answer[..read]).into_owned())
}

/// Everything the server sends on `connection` until it closes it (bounded).
async fn read_to_close(connection: &mut TcpStream) -> String {
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), connection.read_to_end(&mut all))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8_lossy(&all).into_owned()
}

/// Waits (bounded) until `room` has `count` viewers.
async fn viewers(app: &TestApp, room: &str, count: usize) {
    let room = room.parse().unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while app.live.viewer_count(room) != count {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{count} viewers, not {}", app.live.viewer_count(room)));
}

#[tokio::test]
async fn a_user_past_their_stream_cap_gets_429_and_nobody_else_does() {
    let app = spawn_app_with(&[("MAX_STREAMS_PER_USER", "2")]).await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let path = |room: &str| format!("/api/stream?room={room}");

    let first = alice.get(&path(TABLE)).await;
    assert_eq!(first.status(), 200);
    let second = alice.get(&path(LOUNGE)).await;
    assert_eq!(second.status(), 200);
    let third = alice.get(&path(LOUNGE)).await;
    assert_eq!(third.status(), 429);
    let retry_after: u64 = third.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    let body: serde_json::Value = third.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited", "{body}");

    assert_eq!(bob.get(&path(LOUNGE)).await.status(), 200, "bob has his own cap");
    // The cap is on streams open at once: closing one makes room for another.
    drop(first);
    viewers(&app, TABLE, 0).await;
    assert_eq!(alice.get(&path(TABLE)).await.status(), 200);
}

/// Two instances of one deployment: each its own process state, database and simulator, sharing
/// the local `redis-server` under a namespace of their own.
async fn two_instances(extra: &[(&str, &str)]) -> (TestApp, TestApp) {
    #[expect(
        clippy::disallowed_methods,
        reason = "the same redis-server as backend::cluster::test_redis"
    )]
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let namespace = format!("test:{}", uuid::Uuid::new_v4().simple());
    let mut vars = vec![
        ("REDIS_URL", url.as_str()),
        ("REDIS_NAMESPACE", namespace.as_str()),
    ];
    vars.extend_from_slice(extra);
    (spawn_app_with(&vars).await, spawn_app_with(&vars).await)
}

#[tokio::test]
async fn instances_sharing_redis_hold_one_stream_cap_viewers_and_budget_per_user() {
    let (a, b) = two_instances(&[("MAX_STREAMS_PER_USER", "2")]).await;
    // The simulators' demo users have fixed ids: the same alice on both instances.
    let alice = a.discord.demo().alice.to_string();
    let on_a = Player::signed_in(&a, &alice).await;
    let on_b = Player::signed_in(&b, &alice).await;
    let path = |room: &str| format!("/api/stream?room={room}");

    let first = on_a.get(&path(TABLE)).await;
    assert_eq!(first.status(), 200);
    let second = on_b.get(&path(LOUNGE)).await;
    assert_eq!(second.status(), 200);
    // What a's janitor asks: the lounge is watched, through b only.
    let lounge = LOUNGE.parse().unwrap();
    assert_eq!(a.live.viewer_count(lounge), 0);
    assert!(a.live.watchers().watched_in_cluster(lounge).await);
    for (instance, player) in [("a", &on_a), ("b", &on_b)] {
        let refused = player.get(&path(LOUNGE)).await;
        assert_eq!(refused.status(), 429, "a third stream on {instance}");
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "rate_limited", "{body}");
    }
    // Closing the stream on a frees its place on b.
    drop(first);
    let reopened = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let response = on_b.get(&path(TABLE)).await;
            if response.status() == 200 {
                return response;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the place freed on a is free on b");

    // The budget spent on a is spent on b.
    let (channel, _) = on_a.create_room("Shared").await;
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let answer = on_a.call("refresh_invite", &[("channel", &channel)]).await;
            // Refused with most of a second to wait: the last token was just spent, so none comes
            // back before b is asked.
            if answer.status == 429 && answer.body["message"]["retry_after_ms"].as_u64() > Some(500) {
                return;
            }
        }
    })
    .await
    .expect("the budget runs out on a");
    let answer = on_b.call("refresh_invite", &[("channel", &channel)]).await;
    assert_eq!(answer.status, 429, "{:?}", answer.body);
    drop((second, reopened));
}

#[tokio::test]
async fn connections_past_the_cap_get_a_503_and_are_closed_until_one_ends() {
    let app = spawn_app_with(&[("MAX_CONNECTIONS", "2")]).await;
    let (first, answer) = raw(&app, &stream_request(TABLE)).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let (_second, answer) = raw(&app, &stream_request(LOUNGE)).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");

    let (mut third, mut refused) = raw(&app, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    refused.push_str(&read_to_close(&mut third).await);
    assert!(
        refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{refused}"
    );
    assert!(
        refused.to_ascii_lowercase().contains("\r\nconnection: close\r\n"),
        "{refused}"
    );

    // One connection ends: the next is served again.
    drop(first);
    viewers(&app, TABLE, 0).await;
    let served = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (_, answer) = raw(&app, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
            if answer.starts_with("HTTP/1.1 200 OK") {
                return;
            }
            // The finished connection's slot is released just after its stream is dropped.
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(served.is_ok(), "a freed slot is used again");
}

/// A stream request on a connection with a small receive window that never reads its answer.
async fn stalled_reader(app: &TestApp) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut connection = socket
        .connect(app.address.trim_start_matches("http://").parse().unwrap())
        .await
        .unwrap();
    connection
        .write_all(stream_request(TABLE).as_bytes())
        .await
        .unwrap();
    connection
}

/// A `voice.joined` of about 16 KiB: the same user each time, so the room does not grow.
fn big_event() -> AppEvent {
    AppEvent::VoiceJoined(VoiceJoined {
        guild_id: "2000000000000000001".parse().unwrap(),
        channel_id: TABLE.parse().unwrap(),
        user_id: "42".parse().unwrap(),
        username: "x".repeat(16 * 1024),
        avatar: None,
    })
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_dropped_and_never_holds_up_shutdown() {
    let app = spawn_app_with(&[("STREAM_WRITE_TIMEOUT_SECS", "1")]).await;
    let _stalled = stalled_reader(&app).await;
    viewers(&app, TABLE, 1).await;
    // Publish until the socket buffers are full and the blocked write has timed out.
    let mut published = 0_usize;
    let dropped = tokio::time::timeout(Duration::from_secs(20), async {
        while app.live.viewer_count(TABLE.parse().unwrap()) > 0 {
            for _ in 0..64 {
                app.live.publish(&big_event());
                published += 1;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        dropped.is_ok(),
        "a reader stalled for {published} events is still being written to"
    );

    // Another stalled reader, as much published again, then a shutdown: it is not held up.
    let _stalled = stalled_reader(&app).await;
    viewers(&app, TABLE, 1).await;
    for _ in 0..published {
        app.live.publish(&big_event());
    }
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), app.stop())
        .await
        .expect("the server stops within its write timeout plus slack");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_lean_stream_path_serves_http_1_0_and_lf_only_heads_and_says_close() {
    let app = spawn_app().await;
    let (_, answer) = raw(&app, &stream_request(TABLE)).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let head = answer.to_ascii_lowercase();
    assert!(head.contains("\r\nconnection: close\r\n"), "{answer}");
    assert!(!head.contains("keep-alive"), "{answer}");

    let (_, answer) = raw(
        &app,
        &format!("GET /api/stream?room={TABLE} HTTP/1.1\nHost: x\n\n"),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 200 OK\r\n"),
        "LF-only head: {answer}"
    );

    // HTTP/1.0 has no chunked encoding: the body is the bytes until the connection closes.
    let (mut old, mut answer) = raw(&app, &format!("GET /api/stream?room={LOUNGE} HTTP/1.0\r\n\r\n")).await;
    viewers(&app, LOUNGE, 1).await;
    app.live.publish(&AppEvent::RoomDeleted(RoomDeleted {
        guild_id: "2000000000000000001".parse().unwrap(),
        channel_id: LOUNGE.parse().unwrap(),
    }));
    answer.push_str(&read_to_close(&mut old).await);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(!head.contains("transfer-encoding"), "{answer}");
    assert!(head.contains("\r\nconnection: close"), "{answer}");
    assert!(
        body.starts_with("id: "),
        "the body is the event stream itself: {body}"
    );
    assert!(
        body.ends_with("\n\n") && body.contains("event: room.deleted"),
        "{body}"
    );
}
