//! The gateway link end to end: the real server on a loopback port (0) and the real client, or a
//! raw WebSocket where a test needs to send what the client never would.

#![allow(clippy::unwrap_used, reason = "a failed unwrap in a test is the assertion")]

use std::{
    future::IntoFuture,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use backend::{
    bus::EventBus,
    discord::rest::{DiscordError, DiscordRest},
    link::{
        Command, LinkMember, LinkRoster,
        client::{LinkClient, LinkClientSettings, LinkDriver, LinkError},
        server::{CommandRunner, LinkServer, LinkSettings},
    },
};
use futures::{SinkExt, StreamExt};
use model::{
    event::{AppEvent, RoomDeleted, RosterStatus},
    ids::{ChannelId, UserId},
};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::{net::TcpStream, sync::Notify, time::Instant};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message, client::IntoClientRequest, http::HeaderValue},
};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "a-link-token-long-enough-for-production-use";

/// Stands in for Discord: answers by command, and blocks on `sendMessage "block"` until released.
#[derive(Default)]
struct FakeRunner {
    release: Notify,
    calls: AtomicUsize,
}

#[async_trait]
impl CommandRunner for FakeRunner {
    async fn run(&self, command: Command) -> Result<Value, DiscordError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match command {
            Command::SendMessage { content, .. } if content == "block" => {
                self.release.notified().await;
                Ok(json!({"messageId": "5"}))
            }
            Command::SendMessage { content, .. } if content == "panic" => {
                panic!("a bug while running a command")
            }
            Command::SendMessage { .. } => Ok(json!({"messageId": "6"})),
            Command::CreateRoomChannel { .. } => Ok(json!({"channelId": "77"})),
            Command::MoveTo { .. } => Err(DiscordError::NotInVoice),
            Command::AllowPlayer { .. } => Err(DiscordError::Denied("Missing Access".to_owned())),
            Command::DeleteChannel { .. } => Err(DiscordError::Failed("status 502".to_owned())),
            Command::VoiceChannelOf { .. } => Ok(json!({"channelId": null})),
            Command::BotUserId => Ok(json!({"userId": "1"})),
            Command::GuildChannels => Ok(json!({"channels": [
                {"id": "3", "voice": true, "name": "room", "memberAllows": [{"userId": "4", "allow": "3147264"}]}
            ]})),
            _ => Ok(json!({})),
        }
    }
}

fn roster() -> LinkRoster {
    LinkRoster {
        guild_id: "2".parse().unwrap(),
        members: vec![LinkMember {
            user_id: "4".parse().unwrap(),
            channel_id: "3".parse().unwrap(),
            username: "alice".to_owned(),
            avatar: None,
        }],
        status: RosterStatus::Ready,
        stream_id: Some("1-0".to_owned()),
    }
}

struct TestGateway {
    addr: std::net::SocketAddr,
    server: LinkServer,
    runner: Arc<FakeRunner>,
    bus: EventBus,
    shutdown: CancellationToken,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn spawn_gateway(tune: impl FnOnce(&mut LinkSettings)) -> TestGateway {
    let mut settings = LinkSettings::new(SecretString::from(TOKEN));
    tune(&mut settings);
    let runner = Arc::new(FakeRunner::default());
    let bus = EventBus::local(16);
    let shutdown = CancellationToken::new();
    let server = LinkServer::new(
        settings,
        runner.clone(),
        Arc::new(roster),
        bus.clone(),
        shutdown.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = server.router();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .unwrap();
    });
    TestGateway {
        addr,
        server,
        runner,
        bus,
        shutdown,
    }
}

fn client_settings(gateway: &TestGateway) -> LinkClientSettings {
    let url = format!("ws://{}/", gateway.addr).parse().unwrap();
    LinkClientSettings::new([url], SecretString::from(TOKEN))
}

/// A client whose driver runs until the gateway's shutdown.
fn spawn_client(gateway: &TestGateway, settings: LinkClientSettings) -> LinkClient {
    let (client, driver): (LinkClient, LinkDriver) = LinkClient::new(settings);
    tokio::spawn(driver.run(gateway.shutdown.clone()));
    client
}

async fn until(receiver: &mut tokio::sync::watch::Receiver<bool>, wanted: bool) {
    tokio::time::timeout(
        Duration::from_secs(120),
        receiver.wait_for(|linked| *linked == wanted),
    )
    .await
    .expect("link state in time")
    .expect("driver alive");
}

type Raw = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn raw_connect(gateway: &TestGateway, token: Option<&str>) -> Result<Raw, tungstenite::Error> {
    let mut request = format!("ws://{}/", gateway.addr).into_client_request().unwrap();
    if let Some(token) = token {
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

/// The next text frame as JSON (pings skipped).
async fn next_json(socket: &mut Raw) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame reads");
        match frame {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("frames are JSON"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// A connected raw socket, past the roster.
async fn raw_linked(gateway: &TestGateway) -> Raw {
    let mut socket = raw_connect(gateway, Some(TOKEN)).await.expect("token accepted");
    let roster = next_json(&mut socket).await;
    assert_eq!(roster["data"]["event"], "roster");
    socket
}

fn command(request_id: &str, name: &str, payload: Value) -> Message {
    let frame = json!({"type": "command", "data": {"command": name, "payload": payload}, "requestId": request_id, "ts": 1});
    Message::Text(frame.to_string().into())
}

#[tokio::test]
async fn a_missing_or_wrong_token_gets_401_and_no_socket() {
    let gateway = spawn_gateway(|_| {}).await;
    for token in [None, Some("wrong"), Some("")] {
        match raw_connect(&gateway, token).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401, "{token:?}"),
            other => panic!("{token:?} got {other:?}"),
        }
    }
    // Not even a plain GET learns more than 401.
    let response = reqwest::get(format!("http://{}/", gateway.addr)).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(gateway.server.stats().connections, 0);
}

#[tokio::test]
async fn the_roster_arrives_on_connect_and_health_counts_the_link() {
    let gateway = spawn_gateway(|_| {}).await;
    let client = spawn_client(&gateway, client_settings(&gateway));
    let mut roster = client.roster();
    let received = tokio::time::timeout(Duration::from_secs(30), roster.wait_for(Option::is_some))
        .await
        .expect("roster in time")
        .expect("driver alive")
        .clone();
    assert_eq!(received, Some(self::roster()));
    assert!(*client.linked().borrow());
    let health: Value = reqwest::get(format!("http://{}/health", gateway.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["connections"], 1);
    assert_eq!(health["queueDepth"], 0);
}

#[tokio::test]
async fn discord_rest_over_the_link_gets_results_and_the_same_discord_errors() {
    let gateway = spawn_gateway(|_| {}).await;
    let client = spawn_client(&gateway, client_settings(&gateway));
    until(&mut client.linked(), true).await;
    let rest = DiscordRest::link(client);
    let user: UserId = "4".parse().unwrap();
    let channel: ChannelId = "3".parse().unwrap();
    assert_eq!(
        rest.create_room_channel("room", user).await.unwrap(),
        "77".parse().unwrap()
    );
    assert!(matches!(
        rest.move_to(user, channel).await,
        Err(DiscordError::NotInVoice)
    ));
    assert!(
        matches!(rest.allow_player(channel, user).await, Err(DiscordError::Denied(reason)) if reason == "Missing Access")
    );
    assert!(matches!(
        rest.delete_channel(channel).await,
        Err(DiscordError::Failed(_))
    ));
    assert_eq!(rest.voice_channel_of(user).await.unwrap(), None);
    assert_eq!(rest.bot_user_id().await.unwrap(), "1".parse().unwrap());
    let channels = rest.guild_channels().await.unwrap();
    assert!(channels[0].allows(user, backend::discord::rest::PLAYER_ALLOW));
    assert_eq!(rest.send_message(channel, "hello").await.unwrap().get(), 6);
    rest.add_reaction(channel, twilight_model::id::Id::new(6), "👍")
        .await
        .unwrap();
    rest.add_to_guild(user, "user-access-token").await.unwrap();
}

#[tokio::test]
async fn every_envelope_type_round_trips_on_a_raw_socket() {
    let gateway = spawn_gateway(|_| {}).await;
    let mut socket = raw_connect(&gateway, Some(TOKEN)).await.unwrap();
    let roster = next_json(&mut socket).await;
    assert_eq!(roster["type"], "event");
    assert_eq!(roster["data"]["payload"]["members"][0]["userId"], "4");
    assert!(roster["ts"].as_i64().unwrap() > 0);
    socket
        .send(command(
            "r1",
            "sendMessage",
            json!({"channelId": "3", "content": "hi"}),
        ))
        .await
        .unwrap();
    let ack = next_json(&mut socket).await;
    assert_eq!(
        (ack["type"].as_str(), ack["requestId"].as_str()),
        (Some("ack"), Some("r1"))
    );
    assert_eq!(ack["data"], json!({"messageId": "6"}));
    socket
        .send(command("r2", "moveTo", json!({"userId": "4", "channelId": "3"})))
        .await
        .unwrap();
    let error = next_json(&mut socket).await;
    assert_eq!(
        (error["type"].as_str(), error["requestId"].as_str()),
        (Some("error"), Some("r2"))
    );
    assert_eq!(error["data"]["code"], "NOT_IN_VOICE");
}

#[tokio::test]
async fn a_command_that_panics_still_gets_its_one_answer_and_the_link_stays_up() {
    let gateway = spawn_gateway(|_| {}).await;
    let mut socket = raw_linked(&gateway).await;
    socket
        .send(command(
            "p1",
            "sendMessage",
            json!({"channelId": "3", "content": "panic"}),
        ))
        .await
        .unwrap();
    let error = next_json(&mut socket).await;
    assert_eq!(
        (
            error["type"].as_str(),
            error["requestId"].as_str(),
            error["data"]["code"].as_str()
        ),
        (Some("error"), Some("p1"), Some("OTHER"))
    );
    socket
        .send(command(
            "p2",
            "sendMessage",
            json!({"channelId": "3", "content": "hi"}),
        ))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await["requestId"], "p2");
}

#[tokio::test]
async fn malformed_frames_get_error_frames_and_the_connection_stays_up() {
    let gateway = spawn_gateway(|_| {}).await;
    let mut socket = raw_linked(&gateway).await;
    let cases = [
        (Message::Text("not json".into()), "BAD_FRAME", None),
        (Message::Binary(vec![1, 2, 3].into()), "BAD_FRAME", None),
        (
            Message::Text(r#"{"type":"shout","data":{}}"#.into()),
            "BAD_FRAME",
            None,
        ),
        (
            Message::Text(r#"{"type":"ack","data":{},"requestId":"x1"}"#.into()),
            "BAD_FRAME",
            Some("x1"),
        ),
        (
            Message::Text(r#"{"type":"command","data":{"command":"botUserId"}}"#.into()),
            "BAD_FRAME",
            None,
        ),
        (
            command("x2", "launchMissiles", json!({})),
            "UNKNOWN_COMMAND",
            Some("x2"),
        ),
        (
            command("x3", "sendMessage", json!({"channelId": 3})),
            "BAD_PAYLOAD",
            Some("x3"),
        ),
        (
            command("x4", "addToGuild", json!({"userId": "4"})),
            "BAD_PAYLOAD",
            Some("x4"),
        ),
    ];
    for (frame, code, request_id) in cases {
        let shown = format!("{frame:?}");
        socket.send(frame).await.unwrap();
        let error = next_json(&mut socket).await;
        assert_eq!(error["type"], "error", "{shown}");
        assert_eq!(error["data"]["code"], code, "{shown}");
        assert_eq!(error["requestId"].as_str(), request_id, "{shown}");
    }
    // Still up, and still serving.
    socket.send(command("ok", "botUserId", json!({}))).await.unwrap();
    let ack = next_json(&mut socket).await;
    assert_eq!(
        (ack["type"].as_str(), ack["requestId"].as_str()),
        (Some("ack"), Some("ok"))
    );
}

#[tokio::test]
async fn an_oversized_frame_closes_the_connection() {
    let gateway = spawn_gateway(|_| {}).await;
    let mut socket = raw_linked(&gateway).await;
    let huge = "x".repeat(backend::link::MAX_FRAME_BYTES + 1);
    let _ = socket.send(Message::Text(huge.into())).await;
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match socket.next().await {
                None | Some(Err(_) | Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection must close");
}

#[tokio::test]
async fn a_full_queue_answers_queue_full_at_once_and_never_drops_a_command() {
    let gateway = spawn_gateway(|settings| {
        settings.queue_capacity = 2;
        settings.workers = 1;
    })
    .await;
    let mut socket = raw_linked(&gateway).await;
    for id in ["b1", "b2", "b3"] {
        socket
            .send(command(
                id,
                "sendMessage",
                json!({"channelId": "3", "content": "block"}),
            ))
            .await
            .unwrap();
    }
    let refused = next_json(&mut socket).await;
    assert_eq!(refused["requestId"], "b3");
    assert_eq!(refused["data"]["code"], "QUEUE_FULL");
    assert_eq!(gateway.server.stats().queue_depth, 2);
    // The two queued ones are answered once Discord answers: one worker, one at a time.
    gateway.runner.release.notify_one();
    let first = next_json(&mut socket).await;
    gateway.runner.release.notify_one();
    let second = next_json(&mut socket).await;
    let mut answered = [first["requestId"].clone(), second["requestId"].clone()];
    answered.sort_by_key(ToString::to_string);
    assert_eq!(answered, [json!("b1"), json!("b2")]);
    assert_eq!(
        (first["type"].as_str(), second["type"].as_str()),
        (Some("ack"), Some("ack"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_command_past_its_deadline_gets_deadline() {
    let gateway = spawn_gateway(|settings| settings.command_deadline = Duration::from_secs(10)).await;
    let mut socket = raw_linked(&gateway).await;
    let started = Instant::now();
    socket
        .send(command(
            "slow",
            "sendMessage",
            json!({"channelId": "3", "content": "block"}),
        ))
        .await
        .unwrap();
    let error = next_json(&mut socket).await;
    assert_eq!(error["requestId"], "slow");
    assert_eq!(error["data"]["code"], "DEADLINE");
    assert!(started.elapsed() >= Duration::from_secs(10));
    assert_eq!(gateway.server.stats().queue_depth, 0, "the place is given back");
}

#[tokio::test]
async fn subscribers_receive_bus_events_and_others_do_not() {
    let gateway = spawn_gateway(|_| {}).await;
    let mut quiet = raw_linked(&gateway).await;
    let mut subscriber = raw_linked(&gateway).await;
    subscriber
        .send(command("s1", "subscribe", json!({})))
        .await
        .unwrap();
    let ack = next_json(&mut subscriber).await;
    assert_eq!(
        (ack["type"].as_str(), ack["requestId"].as_str()),
        (Some("ack"), Some("s1"))
    );
    assert_eq!(gateway.server.stats().subscribers, 1);
    gateway.bus.publish(AppEvent::RoomDeleted(RoomDeleted {
        guild_id: "2".parse().unwrap(),
        channel_id: "3".parse().unwrap(),
    }));
    let event = next_json(&mut subscriber).await;
    assert_eq!(event["type"], "event");
    assert_eq!(
        event["data"],
        json!({"event": "room.deleted", "payload": {"guildId": "2", "channelId": "3"}})
    );
    // The other connection got nothing but what it asks for.
    quiet.send(command("q1", "botUserId", json!({}))).await.unwrap();
    assert_eq!(next_json(&mut quiet).await["requestId"], "q1");
}

#[tokio::test]
async fn an_unlinked_client_fails_commands_at_once() {
    let gateway = spawn_gateway(|_| {}).await;
    // The driver never runs: nothing is linked.
    let (client, _driver) = LinkClient::new(client_settings(&gateway));
    assert_eq!(client.command(Command::BotUserId).await, Err(LinkError::Unlinked));
    let rest = DiscordRest::link(client);
    assert!(matches!(rest.bot_user_id().await, Err(DiscordError::Failed(_))));
}

#[tokio::test]
async fn pending_commands_fail_at_once_when_the_link_drops() {
    let gateway = spawn_gateway(|_| {}).await;
    let client = spawn_client(&gateway, client_settings(&gateway));
    until(&mut client.linked(), true).await;
    let blocked = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .command(Command::SendMessage {
                    channel_id: "3".parse().unwrap(),
                    content: "block".to_owned(),
                })
                .await
        }
    });
    // Wait until the gateway runs it, then drop every link.
    tokio::time::timeout(Duration::from_secs(30), async {
        while gateway.runner.calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the command reached the gateway");
    let dropped_at = std::time::Instant::now();
    gateway.server.disconnect_all();
    let result = tokio::time::timeout(Duration::from_secs(5), blocked)
        .await
        .expect("failed long before the deadline")
        .unwrap();
    assert_eq!(result, Err(LinkError::ConnectionLost));
    assert!(dropped_at.elapsed() < Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn the_client_reconnects_with_backoff_after_the_server_drops_it() {
    let gateway = spawn_gateway(|_| {}).await;
    let client = spawn_client(&gateway, client_settings(&gateway));
    let mut linked = client.linked();
    until(&mut linked, true).await;
    let mut roster = client.roster();
    roster.borrow_and_update();
    gateway.server.disconnect_all();
    until(&mut linked, false).await;
    let dropped = Instant::now();
    until(&mut linked, true).await;
    let waited = dropped.elapsed();
    // The first retry comes after about a second (¾ s to 1 s with jitter), not at once.
    assert!(waited >= Duration::from_millis(750), "{waited:?}");
    assert!(waited <= Duration::from_millis(1500), "{waited:?}");
    // A fresh roster comes with the new connection, and commands work again.
    tokio::time::timeout(Duration::from_secs(30), roster.changed())
        .await
        .expect("roster in time")
        .unwrap();
    assert_eq!(
        client.command(Command::BotUserId).await.unwrap(),
        json!({"userId": "1"})
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_that_answers_pings_stays_and_a_silent_one_is_closed() {
    let gateway = spawn_gateway(|_| {}).await;
    let mut alive = raw_linked(&gateway).await;
    let _silent = raw_linked(&gateway).await;
    assert_eq!(gateway.server.stats().connections, 2);
    // Reading answers the gateway's pings (tungstenite pongs by itself); the silent socket never
    // reads, so never pongs.
    let mut pings = 0;
    let until = Instant::now() + Duration::from_secs(130);
    while Instant::now() < until {
        match tokio::time::timeout_at(until, alive.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(other) => panic!("the answering client got {other:?}"),
            Err(_) => break,
        }
    }
    assert!(pings >= 5, "a ping about every 20 s, got {pings}");
    assert_eq!(
        gateway.server.stats().connections,
        1,
        "only the silent one was closed"
    );
}

#[tokio::test]
async fn connections_beyond_the_limit_get_503_before_upgrading() {
    let gateway = spawn_gateway(|settings| settings.max_connections = 1).await;
    let _first = raw_linked(&gateway).await;
    match raw_connect(&gateway, Some(TOKEN)).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("second connection got {other:?}"),
    }
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_closed_and_others_carry_on() {
    let gateway = spawn_gateway(|_| {}).await;
    let mut subscriber = raw_linked(&gateway).await;
    subscriber
        .send(command("s1", "subscribe", json!({})))
        .await
        .unwrap();
    assert_eq!(next_json(&mut subscriber).await["type"], "ack");
    // More events than the bus keeps (16), published before the connection can take any.
    for channel in 3..40u64 {
        gateway.bus.publish(AppEvent::RoomDeleted(RoomDeleted {
            guild_id: "2".parse().unwrap(),
            channel_id: channel.to_string().parse().unwrap(),
        }));
    }
    let close = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match subscriber.next().await {
                Some(Ok(Message::Close(frame))) => break frame,
                Some(Ok(_)) => {}
                other => panic!("expected a close, got {other:?}"),
            }
        }
    })
    .await
    .expect("closed in time");
    assert_eq!(
        close.map(|frame| u16::from(frame.code)),
        Some(backend::link::server::LAGGING)
    );
    // The gateway itself is fine.
    let mut other = raw_linked(&gateway).await;
    other.send(command("o1", "botUserId", json!({}))).await.unwrap();
    assert_eq!(next_json(&mut other).await["requestId"], "o1");
}

/// The whole path a web instance's call takes: `DiscordRest::link` → link client → link server →
/// `DiscordRest` over HTTP → the simulator, and Discord's answer all the way back.
#[tokio::test]
async fn discord_calls_over_the_link_reach_the_simulator_and_its_errors_come_back() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = discord_sim::DiscordSim::start(discord_sim::SimConfig::default())
        .await
        .unwrap();
    let endpoints = sim.endpoints();
    let http = DiscordRest::new(backend::discord::rest::RestSettings {
        token: endpoints.bot_token.clone(),
        api_base: endpoints.api_base.parse().unwrap(),
        guild_id: endpoints.guild_id.to_string().parse().unwrap(),
        deadline: Duration::from_secs(10),
    });
    let shutdown = CancellationToken::new();
    let server = LinkServer::new(
        LinkSettings::new(SecretString::from(TOKEN)),
        Arc::new(http),
        Arc::new(roster),
        EventBus::local(16),
        shutdown.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    tokio::spawn(
        axum::serve(listener, server.router())
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .into_future(),
    );
    let (client, driver) = LinkClient::new(LinkClientSettings::new([url], SecretString::from(TOKEN)));
    tokio::spawn(driver.run(shutdown.clone()));
    until(&mut client.linked(), true).await;
    let discord = DiscordRest::link(client);

    let demo = sim.demo();
    let alice: UserId = demo.alice.to_string().parse().unwrap();
    let lobby: ChannelId = demo.lobby.to_string().parse().unwrap();
    let room = discord.create_room_channel("game night", alice).await.unwrap();
    assert!(
        sim.world()
            .channels
            .contains_key(&discord_sim::Snowflake::new(room.get()).unwrap())
    );
    let message = discord.send_message(lobby, "Game night at 8").await.unwrap();
    discord.add_reaction(lobby, message, "👍").await.unwrap();
    let stored = &sim.world().messages[&discord_sim::Snowflake::new(message.get()).unwrap()];
    assert_eq!(
        (stored.content.as_str(), stored.reactions.as_slice()),
        ("Game night at 8", &["👍".to_owned()][..])
    );
    assert_eq!(discord.voice_channel_of(alice).await.unwrap(), Some(lobby));
    // Discord's refusals arrive as the same DiscordError the HTTP client gives.
    let bob: UserId = demo.bob.to_string().parse().unwrap();
    assert!(matches!(
        discord.move_to(bob, room).await,
        Err(DiscordError::NotInVoice)
    ));
    let gone: ChannelId = "4999999999999999999".parse().unwrap();
    assert!(matches!(
        discord.send_message(gone, "hi").await,
        Err(DiscordError::UnknownChannel)
    ));
    assert!(matches!(
        discord
            .add_reaction(
                lobby,
                twilight_model::id::Id::new(4_999_999_999_999_999_999),
                "👍"
            )
            .await,
        Err(DiscordError::Unknown(_))
    ));
    discord.delete_channel(room).await.unwrap();
    shutdown.cancel();
}
