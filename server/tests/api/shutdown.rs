//! Graceful shutdown with a deadline: open streams are told when to reconnect, and nothing a
//! client does can hold the server open past `SHUTDOWN_DEADLINE_SECS`; a background task that
//! panics shuts the server down with an error that names it.

use std::time::{Duration, Instant};

use tokio::{io::AsyncWriteExt, net::TcpStream};

use crate::helpers::{SseReader, TABLE, spawn_app_with};

#[tokio::test]
async fn shutdown_tells_streams_to_reconnect_and_stuck_connections_cannot_outlast_the_deadline() {
    let app = spawn_app_with(&[("SHUTDOWN_DEADLINE_SECS", "1")]).await;
    let response = app
        .client
        .get(app.url(&format!("/api/stream?room={TABLE}")))
        .send()
        .await
        .unwrap();
    let mut viewer = SseReader::new(response);
    assert_eq!(viewer.next_event().await.event.as_deref(), Some("snapshot"));
    // Connections that are stuck: half a request head on the page path and on the stream path,
    // and one that never said anything.
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stuck = Vec::new();
    for bytes in [
        "GET / HTTP/1.1\r\nHost: x\r\nAcc".to_owned(),
        format!("GET /api/stream?room={TABLE} HTTP/1.1\r\nHo"),
        String::new(),
    ] {
        let mut connection = TcpStream::connect(&address).await.unwrap();
        connection.write_all(bytes.as_bytes()).await.unwrap();
        stuck.push(connection);
    }

    let start = Instant::now();
    let stopping = tokio::spawn(app.stop());
    let hint = viewer.next().await.expect("a last frame before the stream ends");
    assert!(hint.event.is_none(), "no event, only a hint: {}", hint.raw);
    let after: u64 = hint
        .raw
        .lines()
        .find_map(|line| line.strip_prefix("retry: "))
        .expect("a retry field")
        .parse()
        .unwrap();
    assert!((1_000..5_000).contains(&after), "{}", hint.raw);
    assert!(
        viewer.next().await.is_none(),
        "then the stream ends cleanly, so the browser reconnects"
    );
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("the server stops within the deadline")
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "stopped after {:?}, the deadline is 1 s",
        start.elapsed()
    );
    drop(stuck);
}

#[tokio::test]
async fn a_panicking_background_task_stops_the_server_with_an_error_that_names_it() {
    let data = crate::helpers::TempDir::new("panic");
    let config = crate::helpers::test_config(&data.0, &[("SHUTDOWN_DEADLINE_SECS", "5")]);
    let mut app = server::Application::build(config, crate::helpers::leptos_options())
        .await
        .unwrap();
    let state = app.state();
    let (go, started) = tokio::sync::oneshot::channel::<()>();
    app.add_task("doomed", async move {
        let _ = started.await;
        panic!("a bug in a background task");
    });
    let server = tokio::spawn(app.run_until_stopped());
    let mut tasks = state.tasks.clone();
    assert_eq!(tasks.borrow().panics, 0);
    go.send(()).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops by itself")
        .unwrap();
    match outcome {
        Err(server::RunError::TaskFailed(failure)) => {
            assert_eq!(failure.task, "doomed");
            assert_eq!(failure.message, "a bug in a background task");
        }
        other => panic!("expected the task's failure, got {other:?}"),
    }
    let status = tasks.borrow_and_update().clone();
    assert_eq!(status.panics, 1, "counted");
    assert_eq!(status.failed.map(|failure| failure.task), Some("doomed"));
    assert!(state.shutdown.is_cancelled(), "the whole server shut down");
}
