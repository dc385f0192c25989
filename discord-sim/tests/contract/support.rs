//! Shared test plumbing: start a simulator, build a real twilight shard with a zero-delay
//! identify queue, and wait for frames with timeouts instead of sleeping.

use std::time::Duration;

use discord_sim::{DiscordSim, SimConfig, SimHandle};
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::oneshot;
use twilight_gateway::queue::Queue;
use twilight_gateway::{ConfigBuilder, Intents, Message, Shard, ShardId};

/// How long any single wait may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// The intents the product uses: GUILDS | `GUILD_VOICE_STATES`.
pub(crate) fn app_intents() -> Intents {
    Intents::GUILDS | Intents::GUILD_VOICE_STATES
}

/// An identify queue that never waits (twilight's default spaces identifies 5 s apart).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoDelayQueue;

impl Queue for NoDelayQueue {
    fn enqueue(&self, _id: u32) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(());
        rx
    }
}

/// Installs the rustls provider twilight needs even for `ws://` (ignored if already set).
pub(crate) fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A simulator with a short heartbeat interval.
pub(crate) async fn start_sim(heartbeat: Duration) -> SimHandle {
    start_with(SimConfig::fast(heartbeat)).await
}

/// A simulator with the given config.
pub(crate) async fn start_with(config: SimConfig) -> SimHandle {
    install_crypto();
    DiscordSim::start(config).await.expect("simulator starts")
}

/// A real twilight shard pointed at the simulator.
pub(crate) fn shard(sim: &SimHandle, intents: Intents) -> Shard<NoDelayQueue> {
    shard_with_token(sim, &sim.bot_token(), intents)
}

/// A real twilight shard with a chosen token.
pub(crate) fn shard_with_token(sim: &SimHandle, token: &str, intents: Intents) -> Shard<NoDelayQueue> {
    let config = ConfigBuilder::new(token.to_owned(), intents)
        .proxy_url(sim.endpoints().gateway_url)
        .queue(NoDelayQueue)
        .build();
    Shard::with_config(ShardId::ONE, config)
}

/// One received gateway frame, decoded loosely for assertions.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    /// The raw JSON text (after decompression).
    pub(crate) raw: String,
    /// `op`.
    pub(crate) op: u64,
    /// `t`, for dispatches.
    pub(crate) t: Option<String>,
    /// `s`, for dispatches.
    pub(crate) s: Option<u64>,
    /// `d`.
    pub(crate) d: Value,
}

/// What the shard yielded.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    /// A text frame.
    Frame(Frame),
    /// A close (from the server, or 1006 for a transport loss).
    Close(Option<u16>),
    /// A receive error (twilight could not process a frame).
    Error(#[allow(dead_code, reason = "shown through Debug when a test fails")] String),
}

/// Reads shard items, recording all frames, until `matches` accepts one.
pub(crate) struct Reader {
    /// The shard under test.
    pub(crate) shard: Shard<NoDelayQueue>,
    /// Every item seen so far.
    pub(crate) seen: Vec<Item>,
}

impl Reader {
    pub(crate) fn new(shard: Shard<NoDelayQueue>) -> Self {
        Self {
            shard,
            seen: Vec::new(),
        }
    }

    /// The next item, or `None` when the shard ended (fatal close).
    pub(crate) async fn next(&mut self) -> Option<Item> {
        let item = tokio::time::timeout(WAIT, self.shard.next())
            .await
            .expect("shard yielded within the timeout")?;
        let item = match item {
            Ok(Message::Text(raw)) => {
                let value: Value = serde_json::from_str(&raw).expect("frame is JSON");
                Item::Frame(Frame {
                    op: value["op"].as_u64().expect("op"),
                    t: value["t"].as_str().map(str::to_owned),
                    s: value["s"].as_u64(),
                    d: value["d"].clone(),
                    raw,
                })
            }
            Ok(Message::Close(frame)) => Item::Close(frame.map(|f| f.code)),
            Err(err) => Item::Error(err.to_string()),
        };
        self.seen.push(item.clone());
        Some(item)
    }

    /// Reads until a frame matches; panics on timeout or shard end.
    pub(crate) async fn until(&mut self, what: &str, matches: impl Fn(&Item) -> bool) -> Item {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; saw {:#?}",
                self.seen
            );
            match self.next().await {
                Some(item) if matches(&item) => return item,
                Some(_) => {}
                None => panic!("shard ended while waiting for {what}; saw {:?}", self.seen),
            }
        }
    }

    /// Reads until a dispatch named `t`; returns it.
    pub(crate) async fn dispatch(&mut self, t: &str) -> Frame {
        match self.until(t, |item| is_dispatch(item, t)).await {
            Item::Frame(frame) => frame,
            _ => unreachable!(),
        }
    }

    /// A barrier: asks the server for a heartbeat request (op 1) and waits for it, so every
    /// frame the server queued before is in `seen` afterwards.
    pub(crate) async fn sync(&mut self, sim: &discord_sim::SimHandle) {
        let before = self.seen.len();
        assert_eq!(sim.fault_all(&discord_sim::GatewayFault::RequestHeartbeat), 1);
        loop {
            self.until("op 1", |item| matches!(item, Item::Frame(frame) if frame.op == 1))
                .await;
            if self.seen.len() > before {
                return;
            }
        }
    }

    /// Dispatch frames seen so far named `t`.
    pub(crate) fn seen_dispatches(&self, t: &str) -> Vec<Frame> {
        self.seen
            .iter()
            .filter_map(|item| match item {
                Item::Frame(frame) if frame.t.as_deref() == Some(t) => Some(frame.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Whether `item` is a dispatch named `t`.
pub(crate) fn is_dispatch(item: &Item, t: &str) -> bool {
    matches!(item, Item::Frame(frame) if frame.t.as_deref() == Some(t))
}
