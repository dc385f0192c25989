//! Starting the app for a test: `spawn_app()` builds it exactly as `main` does, on port 0 with a
//! fresh SQLite file, and stops it when the returned [`TestApp`] is dropped.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use backend::{Config, Store, bus::EventBus, live::Live};
use discord_sim::SimHandle;
use futures::StreamExt;
use leptos::config::LeptosOptions;
use model::event::{AppEvent, VoiceJoined, VoiceLeft};
use server::Application;
use tokio_util::sync::CancellationToken;

/// The repository root (tests run from `server/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("server/ has a parent")
        .to_path_buf()
}

/// A folder that is removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!("spell-coven-{label}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The server's own database handle (same pool).
    pub store: Store,
    /// The server's event bus: what the gateway task publishes on.
    pub bus: EventBus,
    /// The embedded Discord simulator the server is connected to.
    pub discord: SimHandle,
    /// The server's per-room fan-out (who is in voice, who is watching).
    pub live: Live,
    /// A client that keeps cookies and does not follow redirects (so tests can see them).
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<Result<(), server::RunError>>>,
    /// The extra configuration, kept for [`TestApp::restart`].
    extra: Vec<(String, String)>,
    /// The database folder, shared with a restarted server.
    data: Arc<TempDir>,
    /// Whether `discord` runs outside the app (real-Discord mode) rather than embedded in it.
    external_discord: bool,
    /// Where the app serves Prometheus metrics (`METRICS_ADDR` set).
    pub metrics_port: Option<u16>,
    /// Every handle the server runs on (its gateway state, among others).
    pub state: server::AppState,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request reaches the server")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The site settings from `Leptos.toml` (as a deployed binary reads them), serving the site that
/// `scripts/build-site.sh` built, on a free port.
pub fn leptos_options() -> LeptosOptions {
    let root = workspace_root();
    let mut options = leptos::config::get_configuration(Some(&root.join("Leptos.toml").to_string_lossy()))
        .expect("Leptos.toml is valid")
        .leptos_options;
    options.site_root = root.join(&*options.site_root).to_string_lossy().into();
    options.site_addr = "127.0.0.1:0".parse().expect("loopback address");
    options
}

/// Builds the configuration a test app runs with: the embedded defaults, its own database, and
/// `extra` variables on top.
pub fn test_config(data: &Path, extra: &[(&str, &str)]) -> Config {
    let path = data.join("app.db").to_string_lossy().into_owned();
    let vars = std::iter::once(("SQLITE_PATH".to_owned(), path)).chain(
        extra
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    Config::from_vars(vars).expect("test configuration is valid")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// [`spawn_app`] with extra configuration variables.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let client = test_client();
    let extra = extra
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    start(Arc::new(TempDir::new("app")), extra, client, None).await
}

/// [`spawn_app_with`] as a real deployment runs: `DISCORD_BOT_TOKEN` and every Discord URL set,
/// here pointing at a simulator started outside the app (so nothing is embedded).
pub async fn spawn_app_on_real_discord(extra: &[(&str, &str)]) -> TestApp {
    let discord = discord_sim::DiscordSim::start(discord_sim::SimConfig::default())
        .await
        .expect("simulator starts");
    let endpoints = discord.endpoints();
    let mut vars: Vec<(String, String)> = [
        ("DISCORD_BOT_TOKEN", endpoints.bot_token.clone()),
        ("DISCORD_GUILD_ID", endpoints.guild_id.to_string()),
        ("DISCORD_CLIENT_ID", endpoints.client_id.clone()),
        ("DISCORD_CLIENT_SECRET", endpoints.client_secret.clone()),
        ("DISCORD_GATEWAY_URL", endpoints.gateway_url.clone()),
        ("DISCORD_API_BASE", endpoints.api_base.clone()),
        (
            "DISCORD_OAUTH_AUTHORIZE_URL",
            endpoints.oauth_authorize_url.clone(),
        ),
        ("DISCORD_OAUTH_TOKEN_URL", endpoints.oauth_token_url.clone()),
        ("DISCORD_OAUTH_REVOKE_URL", endpoints.oauth_revoke_url.clone()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    vars.extend(
        extra
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    start(Arc::new(TempDir::new("app")), vars, test_client(), Some(discord)).await
}

fn test_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        // No total timeout: it would cut long-lived streams; reads are bounded where they happen.
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("http client")
}

/// Starts the app on `data`; `external` is the Discord it was configured to use, when that is not
/// an embedded simulator.
async fn start(
    data: Arc<TempDir>,
    extra: Vec<(String, String)>,
    client: reqwest::Client,
    external: Option<SimHandle>,
) -> TestApp {
    let vars: Vec<(&str, &str)> = extra
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let config = test_config(&data.0, &vars);
    // Boxed, as is the wait below: `start` is inside every restart's future, which clippy keeps
    // small.
    let app = Box::pin(Application::build(config, leptos_options()))
        .await
        .expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_port = app.metrics_port();
    let shutdown = app.shutdown_token();
    let state = app.state();
    let server = tokio::spawn(app.run_until_stopped());
    // Ready means the roster follows (simulated) Discord: connected, and the guild's voice states
    // have reached the fan-out, so seat checks and viewers see the truth.
    let mut roster = state.live.watch_roster_status();
    tokio::time::timeout(
        Duration::from_secs(20),
        roster.wait_for(|status| status.is_ready()),
    )
    .await
    .expect("the roster follows the simulator's guild")
    .expect("the fan-out is running");
    // The reconciler's startup run is done, so it never races a test's own setup.
    let mut reconciled = state.reconciled.clone();
    Box::pin(tokio::time::timeout(
        Duration::from_secs(20),
        reconciled.wait_for(|runs| *runs >= 1),
    ))
    .await
    .expect("the reconciler's startup run finishes")
    .expect("the reconciler task is running");
    let embedded = state.simulator.clone();
    assert_eq!(
        embedded.is_some(),
        external.is_none(),
        "the app embeds a simulator exactly when no real Discord is configured"
    );
    let external_discord = external.is_some();
    let discord = embedded.or(external).expect("a Discord to talk to");
    TestApp {
        address,
        store: state.store.clone(),
        bus: state.bus.clone(),
        live: state.live.clone(),
        discord,
        client,
        shutdown,
        server: Some(server),
        extra,
        data,
        external_discord,
        metrics_port,
        state,
    }
}

impl TestApp {
    /// [`TestApp::restart`] with different extra configuration (a rotated secret, say).
    pub async fn restart_with(mut self, extra: &[(&str, &str)]) -> TestApp {
        self.extra = extra
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        self.restart().await
    }

    /// Stops this server gracefully and waits until it has stopped.
    pub async fn stop(mut self) {
        self.halt().await;
    }

    async fn halt(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    /// Stops this server gracefully and starts a new one on the same database, keeping the
    /// client (and its cookies): what a deploy or a crash-restart looks like to a user.
    pub async fn restart(self) -> TestApp {
        self.restart_after(false, |_| {}).await
    }

    /// Stops this server, runs `while_down` against its Discord, and starts a new one on the same
    /// database. Graceful unless `crash`: then the server task is aborted, so nothing it would do
    /// on the way out (closing the gateway, saving its session) happens.
    pub async fn restart_after(mut self, crash: bool, while_down: impl FnOnce(&SimHandle)) -> TestApp {
        if crash && let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
        self.halt().await;
        while_down(&self.discord);
        let external = self.external_discord.then(|| self.discord.clone());
        start(
            self.data.clone(),
            std::mem::take(&mut self.extra),
            self.client.clone(),
            external,
        )
        .await
    }
}

/// Two voice channels that exist only on the bus (tests publish their events directly).
pub const TABLE: &str = "4000000000000000001";
pub const LOUNGE: &str = "4000000000000000002";

/// `voice.joined` for `user` (named `name`) in `channel`.
pub fn joined(user: &str, name: &str, channel: &str) -> AppEvent {
    AppEvent::VoiceJoined(VoiceJoined {
        guild_id: "2000000000000000001".parse().unwrap(),
        channel_id: channel.parse().unwrap(),
        user_id: user.parse().unwrap(),
        username: name.to_owned(),
        avatar: None,
    })
}

/// `voice.left` for `user`, out of `channel`.
pub fn left(user: &str, channel: &str) -> AppEvent {
    AppEvent::VoiceLeft(VoiceLeft {
        guild_id: "2000000000000000001".parse().unwrap(),
        channel_id: None,
        user_id: user.parse().unwrap(),
        left_channel_id: channel.parse().unwrap(),
    })
}

/// One server-sent event as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseFrame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
    /// The whole raw text, comments included (`: ping`).
    pub raw: String,
}

/// Reads an SSE response frame by frame; every read is bounded by a timeout.
pub struct SseReader {
    chunks: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            chunks: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next frame, or `None` when the server ended the stream.
    pub async fn next(&mut self) -> Option<SseFrame> {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let raw: String = self.buffer.drain(..end + 2).collect();
                    let mut frame = SseFrame {
                        id: None,
                        event: None,
                        data: String::new(),
                        raw: raw.clone(),
                    };
                    for line in raw.lines() {
                        if let Some(id) = line.strip_prefix("id: ") {
                            frame.id = Some(id.to_owned());
                        } else if let Some(event) = line.strip_prefix("event: ") {
                            frame.event = Some(event.to_owned());
                        } else if let Some(data) = line.strip_prefix("data: ") {
                            frame.data.push_str(data);
                        }
                    }
                    return Some(frame);
                }
                match self.chunks.next().await {
                    Some(Ok(chunk)) => self
                        .buffer
                        .push_str(std::str::from_utf8(&chunk).expect("SSE is UTF-8")),
                    Some(Err(err)) => panic!("stream failed: {err}"),
                    None => return None,
                }
            }
        })
        .await
        .expect("an SSE frame within 10 s")
    }

    /// The next frame that is an event (skipping `: ping` comments).
    pub async fn next_event(&mut self) -> SseFrame {
        loop {
            let frame = self.next().await.expect("the stream is still open");
            if frame.event.is_some() {
                return frame;
            }
        }
    }
}

/// The test PostgreSQL server's admin URL (`TEST_POSTGRES_URL`, default
/// `postgres://postgres@127.0.0.1:5432/test`) and a connection to it.
async fn postgres_admin() -> (String, sqlx::PgConnection) {
    use sqlx::Connection as _;

    #[allow(
        clippy::disallowed_methods,
        reason = "tests choose their database server from the environment"
    )]
    let admin_url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("PostgreSQL is needed; `scripts/test` starts it");
    (admin_url, admin)
}

/// A new, empty PostgreSQL database named `<prefix>_<uuid>` on the test server; its URL.
pub async fn fresh_postgres_database(prefix: &str) -> String {
    use sqlx::Executor as _;

    let (admin_url, mut admin) = postgres_admin().await;
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&name);
    url.to_string()
}

/// Drops the database [`fresh_postgres_database`] made at `url`, whoever is still connected.
pub async fn drop_postgres_database(url: &str) {
    use sqlx::Executor as _;

    let name = url::Url::parse(url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let (_, mut admin) = postgres_admin().await;
    admin
        .execute(format!(r#"DROP DATABASE "{name}" WITH (FORCE)"#).as_str())
        .await
        .unwrap();
}
