//! A bare WebSocket client (tokio-websockets, no twilight) probing the gateway's validation:
//! Discord's close codes for malformed or forbidden input, limits, and zlib-stream framing.

use std::time::Duration;

use discord_sim::{RateWindow, SimConfig, SimHandle};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_websockets::{ClientBuilder, MaybeTlsStream, Message, WebSocketStream};

use crate::support::{WAIT, start_with};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the server sent next.
#[derive(Debug, PartialEq)]
enum Got {
    Json(Value),
    Close(u16),
    Ended,
}

struct Raw {
    ws: Socket,
    inflate: Option<flate2::Decompress>,
}

impl Raw {
    async fn connect(sim: &SimHandle, path_and_query: &str) -> Self {
        let uri = format!("ws://{}{path_and_query}", sim.addr());
        let (ws, _) = ClientBuilder::from_uri(uri.parse().expect("uri"))
            .connect()
            .await
            .expect("websocket connects");
        let inflate = path_and_query
            .contains("zlib-stream")
            .then(|| flate2::Decompress::new(true));
        Self { ws, inflate }
    }

    async fn gateway(sim: &SimHandle) -> Self {
        Self::connect(sim, "/?v=10&encoding=json").await
    }

    async fn next(&mut self) -> Got {
        let message = tokio::time::timeout(WAIT, self.ws.next())
            .await
            .expect("answer in time");
        let Some(Ok(message)) = message else {
            return Got::Ended;
        };
        if let Some((code, _)) = message.as_close() {
            return Got::Close(code.into());
        }
        let bytes = message.as_payload().to_vec();
        let text = match &mut self.inflate {
            Some(inflate) => {
                assert!(
                    bytes.ends_with(&[0, 0, 0xff, 0xff]),
                    "zlib frames end in a sync flush"
                );
                let mut out = Vec::with_capacity(bytes.len() * 20 + 1024);
                inflate
                    .decompress_vec(&bytes, &mut out, flate2::FlushDecompress::Sync)
                    .expect("inflates with the connection's one context");
                String::from_utf8(out).expect("utf8")
            }
            None => String::from_utf8(bytes).expect("text frame"),
        };
        Got::Json(serde_json::from_str(&text).expect("json"))
    }

    async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_owned())).await.expect("send");
    }

    /// Reads HELLO and returns its interval.
    async fn hello(&mut self) -> u64 {
        match self.next().await {
            Got::Json(v) if v["op"] == 10 => v["d"]["heartbeat_interval"].as_u64().expect("ms"),
            other => panic!("expected HELLO, got {other:?}"),
        }
    }

    /// Reads until a close (skipping dispatches) and returns its code.
    async fn close_code(&mut self) -> u16 {
        loop {
            match self.next().await {
                Got::Close(code) => return code,
                Got::Ended => panic!("connection ended without a close frame"),
                Got::Json(_) => {}
            }
        }
    }

    async fn op(&mut self, op: u64) -> Value {
        loop {
            match self.next().await {
                Got::Json(v) if v["op"] == op => return v,
                Got::Json(_) => {}
                other => panic!("expected op {op}, got {other:?}"),
            }
        }
    }
}

fn identify(token: &str, intents: u64, shard: [u64; 2]) -> String {
    json!({"op": 2, "d": {"token": token, "intents": intents, "shard": shard,
        "properties": {"os": "linux", "browser": "raw", "device": "raw"}}})
    .to_string()
}

async fn sim() -> SimHandle {
    start_with(SimConfig::fast(Duration::from_secs(1))).await
}

#[tokio::test]
async fn malformed_and_forbidden_input_gets_discords_close_codes() {
    let sim = sim().await;
    let token = format!("Bot {}", sim.bot_token());
    let big = format!(r#"{{"op":1,"d":null,"x":"{}"}}"#, "x".repeat(5000));
    let cases: Vec<(Vec<String>, u16)> = vec![
        (vec!["{not json".to_owned()], 4002),
        (vec![big], 4002),
        (vec![r#"{"op":99,"d":null}"#.to_owned()], 4001),
        (vec![r#"{"op":3,"d":{}}"#.to_owned()], 4003),
        (vec![identify("Bot wrong", 129, [0, 1])], 4004),
        (vec![identify(&token, 129, [1, 1])], 4010),
        (vec![identify(&token, 1 << 30, [0, 1])], 4013),
        (vec![identify(&token, 0x81 | 0x2, [0, 1])], 4014),
        (
            vec![identify(&token, 129, [0, 1]), identify(&token, 129, [0, 1])],
            4005,
        ),
    ];
    for (frames, expected) in cases {
        let mut raw = Raw::gateway(&sim).await;
        assert_eq!(raw.hello().await, 1000);
        for frame in &frames {
            raw.send(frame).await;
        }
        assert_eq!(raw.close_code().await, expected, "after {:.60?}", frames.last());
    }
}

#[tokio::test]
async fn bad_version_closes_4012_and_heartbeats_are_acked_before_identify() {
    let sim = sim().await;
    let mut raw = Raw::connect(&sim, "/?v=8&encoding=json").await;
    raw.hello().await;
    assert_eq!(raw.close_code().await, 4012);
    let mut raw = Raw::connect(&sim, "/resume/?encoding=json").await;
    raw.hello().await;
    assert_eq!(raw.close_code().await, 4012, "resume URL without v");
    let mut raw = Raw::gateway(&sim).await;
    raw.hello().await;
    raw.send(r#"{"op":1,"d":null}"#).await;
    assert_eq!(raw.op(11).await["d"], Value::Null);
}

#[tokio::test]
async fn too_many_sends_close_4008() {
    let mut config = SimConfig::fast(Duration::from_secs(1));
    config.send_limit = Some(RateWindow {
        count: 5,
        per: Duration::from_secs(60),
    });
    let sim = start_with(config).await;
    let mut raw = Raw::gateway(&sim).await;
    raw.hello().await;
    for _ in 0..6 {
        raw.send(r#"{"op":1,"d":null}"#).await;
    }
    assert_eq!(raw.close_code().await, 4008);
}

#[tokio::test]
async fn identify_concurrency_gets_op9_and_the_budget_resets_the_token() {
    let mut config = SimConfig::fast(Duration::from_secs(1));
    config.identify_window = Duration::from_secs(5);
    config.identify_budget = 2;
    let sim = start_with(config).await;
    let token = format!("Bot {}", sim.bot_token());
    let mut first = Raw::gateway(&sim).await;
    first.hello().await;
    first.send(&identify(&token, 129, [0, 1])).await;
    assert_eq!(first.op(0).await["t"], "READY");
    let mut second = Raw::gateway(&sim).await;
    second.hello().await;
    second.send(&identify(&token, 129, [0, 1])).await;
    assert_eq!(second.op(9).await["d"], false, "max_concurrency 1 per 5 s");

    let mut config = SimConfig::fast(Duration::from_secs(1));
    config.identify_budget = 1;
    let sim = start_with(config).await;
    let token = format!("Bot {}", sim.bot_token());
    let mut first = Raw::gateway(&sim).await;
    first.hello().await;
    first.send(&identify(&token, 129, [0, 1])).await;
    assert_eq!(first.op(0).await["t"], "READY");
    let mut second = Raw::gateway(&sim).await;
    second.hello().await;
    second.send(&identify(&token, 129, [0, 1])).await;
    assert_eq!(
        second.close_code().await,
        4004,
        "the budget is spent: token reset"
    );
    assert_eq!(first.close_code().await, 4004, "every session ends");
    assert_ne!(format!("Bot {}", sim.bot_token()), token);
}

#[tokio::test]
async fn resume_rules_unknown_session_bad_seq_and_expiry() {
    let mut config = SimConfig::fast(Duration::from_secs(1));
    config.session_ttl = Duration::ZERO;
    let sim = start_with(config).await;
    let token = format!("Bot {}", sim.bot_token());
    let resume = |session: &str, seq: u64| {
        json!({"op": 6, "d": {"token": token, "session_id": session, "seq": seq}}).to_string()
    };
    let mut raw = Raw::gateway(&sim).await;
    raw.hello().await;
    raw.send(&resume("nope", 1)).await;
    assert_eq!(raw.op(9).await["d"], false, "unknown session");

    let mut raw = Raw::gateway(&sim).await;
    raw.hello().await;
    raw.send(&identify(&token, 129, [0, 1])).await;
    let ready = raw.op(0).await;
    let session = ready["d"]["session_id"].as_str().expect("session").to_owned();
    raw.op(0).await; // GUILD_CREATE
    let mut other = Raw::connect(&sim, "/resume/?v=10&encoding=json").await;
    other.hello().await;
    other.send(&resume(&session, 99)).await;
    assert_eq!(other.close_code().await, 4007, "seq never sent");
    drop(raw);

    let mut again = Raw::gateway(&sim).await;
    again.hello().await;
    again.send(&resume(&session, 2)).await;
    assert_eq!(again.op(9).await["d"], false, "4007 destroyed the session");
}

#[tokio::test]
async fn zlib_stream_sends_binary_frames_from_one_context() {
    let sim = sim().await;
    let token = format!("Bot {}", sim.bot_token());
    let mut raw = Raw::connect(&sim, "/?v=10&encoding=json&compress=zlib-stream").await;
    raw.hello().await;
    raw.send(&identify(&token, 129, [0, 1])).await;
    assert_eq!(raw.op(0).await["t"], "READY");
    let guild = raw.op(0).await;
    assert_eq!(guild["t"], "GUILD_CREATE");
    raw.send(r#"{"op":1,"d":2}"#).await;
    raw.op(11).await;
}

#[tokio::test]
async fn garbage_frames_close_4002_and_the_server_stays_up() {
    let sim = sim().await;
    let garbage: [&[u8]; 4] = [b"\xff\xfe\x00garbage", b"", b"null", br#"{"op":1.5}"#];
    for frame in garbage {
        let mut raw = Raw::gateway(&sim).await;
        raw.hello().await;
        raw.ws.send(Message::binary(frame.to_vec())).await.expect("send");
        assert_eq!(raw.close_code().await, 4002, "for {frame:?}");
    }
    let mut raw = Raw::gateway(&sim).await;
    assert_eq!(raw.hello().await, 1000, "still serving");
}

#[tokio::test]
async fn missed_heartbeats_close_4000_but_keep_the_session_and_client_1000_ends_it() {
    let mut config = SimConfig::fast(Duration::from_secs(1));
    config.heartbeat_timeout = Some(Duration::from_millis(100));
    let sim = start_with(config).await;
    let token = format!("Bot {}", sim.bot_token());
    let mut raw = Raw::gateway(&sim).await;
    raw.hello().await;
    raw.send(&identify(&token, 129, [0, 1])).await;
    let session = raw.op(0).await["d"]["session_id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(raw.close_code().await, 4000, "no heartbeat within the timeout");
    let resume = json!({"op": 6, "d": {"token": token, "session_id": session, "seq": 2}}).to_string();
    let mut again = Raw::connect(&sim, "/resume/?v=10&encoding=json").await;
    again.hello().await;
    again.send(&resume).await;
    assert_eq!(again.op(0).await["t"], "RESUMED", "the session survived the 4000");
    again
        .ws
        .send(Message::close(
            Some(tokio_websockets::CloseCode::NORMAL_CLOSURE),
            "",
        ))
        .await
        .expect("close");
    let _ = again.next().await;
    let mut third = Raw::gateway(&sim).await;
    third.hello().await;
    third.send(&resume).await;
    assert_eq!(
        third.op(9).await["d"],
        false,
        "a client 1000 close invalidates the session"
    );
}

#[tokio::test]
async fn only_the_guilds_shard_gets_it() {
    let sim = sim().await;
    let token = format!("Bot {}", sim.bot_token());
    let mut guild_shard = None;
    for id in 0..2 {
        let mut raw = Raw::gateway(&sim).await;
        raw.hello().await;
        raw.send(&identify(&token, 129, [id, 2])).await;
        let ready = raw.op(0).await;
        let guilds = ready["d"]["guilds"].as_array().expect("guilds").len();
        if guilds == 1 {
            assert_eq!(raw.op(0).await["t"], "GUILD_CREATE");
            guild_shard = Some(id);
        }
    }
    let expected = (sim.endpoints().guild_id.get() >> 22) % 2;
    assert_eq!(guild_shard, Some(expected));
}

#[tokio::test]
async fn op7_is_followed_by_a_close_when_the_client_stays() {
    let mut config = SimConfig::fast(Duration::from_secs(1));
    config.reconnect_close_after = Some(Duration::from_millis(50));
    let sim = start_with(config).await;
    let token = format!("Bot {}", sim.bot_token());
    let mut raw = Raw::gateway(&sim).await;
    raw.hello().await;
    raw.send(&identify(&token, 129, [0, 1])).await;
    raw.op(0).await;
    assert_eq!(sim.fault_all(&discord_sim::GatewayFault::Reconnect), 1);
    raw.op(7).await;
    assert_eq!(raw.close_code().await, 4000);
    assert!(
        sim.wait_until(WAIT, |_, connections| connections.is_empty())
            .await
    );
}

#[tokio::test]
async fn resume_past_the_replay_buffer_or_after_expiry_gets_op9() {
    for (capacity, ttl, seq) in [(1, Duration::from_secs(60), 0), (100, Duration::ZERO, 2)] {
        let mut config = SimConfig::fast(Duration::from_secs(1));
        config.replay_capacity = capacity;
        config.session_ttl = ttl;
        let sim = start_with(config).await;
        let token = format!("Bot {}", sim.bot_token());
        let mut raw = Raw::gateway(&sim).await;
        raw.hello().await;
        raw.send(&identify(&token, 129, [0, 1])).await;
        let session = raw.op(0).await["d"]["session_id"]
            .as_str()
            .expect("id")
            .to_owned();
        raw.op(0).await; // GUILD_CREATE (s 2): with capacity 1 it evicts READY (s 1)
        drop(raw);
        assert!(
            sim.wait_until(WAIT, |_, connections| connections.is_empty())
                .await
        );
        let mut again = Raw::connect(&sim, "/resume/?v=10&encoding=json").await;
        again.hello().await;
        let resume = json!({"op": 6, "d": {"token": token, "session_id": session, "seq": seq}});
        again.send(&resume.to_string()).await;
        assert_eq!(again.op(9).await["d"], false, "capacity {capacity}, ttl {ttl:?}");
    }
}
