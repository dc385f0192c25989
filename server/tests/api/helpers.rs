//! Starting the app for a test: `spawn_app()` builds it exactly as `main` does, on port 0 with a
//! fresh SQLite file, and stops it when the returned [`TestApp`] is dropped.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use backend::{Config, Store};
use leptos::config::LeptosOptions;
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
    /// A client that keeps cookies and does not follow redirects (so tests can see them).
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    _data: TempDir,
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

/// Builds the configuration a test app runs with: the embedded defaults and its own database.
pub fn test_config(data: &Path) -> Config {
    let path = data.join("app.db").to_string_lossy().into_owned();
    Config::from_vars([("SQLITE_PATH".to_owned(), path)]).expect("test configuration is valid")
}

pub async fn spawn_app() -> TestApp {
    let data = TempDir::new("app");
    let config = test_config(&data.0);
    let app = Application::build(config, leptos_options())
        .await
        .expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = app.shutdown_token();
    let store = app.store();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    TestApp {
        address,
        store,
        client,
        shutdown,
        _data: data,
    }
}
