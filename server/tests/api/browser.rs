//! The browser harness: headless Chromium driven over WebDriver (chromedriver), one fresh profile
//! per browser, and a screenshot plus the page source saved whenever a browser test fails.
//!
//! ```ignore
//! let app = spawn_app().await;
//! browser_test("landing", |page| async move {
//!     page.goto(&app.url("/")).await?;
//!     page.wait_until_hydrated().await?;
//!     page.click("#how-it-works").await?;
//!     Ok(())
//! }).await;
//! ```

use std::{future::Future, panic::AssertUnwindSafe, path::PathBuf, process::Stdio, time::Duration};

use anyhow::{Context, anyhow, bail};
use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use futures::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use crate::helpers::{TempDir, workspace_root};

/// How long any single wait in a browser test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// The flags that keep Chromium from stalling on this closed network, plus a fixed window size so
/// screenshots and layouts are stable.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// One browser with its own chromedriver and profile; all three go away when it is dropped.
pub struct Browser {
    client: Client,
    _chromedriver: Child,
    _profile: TempDir,
}

/// Whether the browser runs the pages' scripts (the app's WASM among them).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scripts {
    On,
    /// JavaScript off, as a user may set it: pages are only what the server sent. (WebDriver's own
    /// probes still work: they do not run as page scripts.)
    Off,
}

impl Browser {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(Scripts::On).await
    }

    pub async fn start_with(scripts: Scripts) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut chromedriver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start chromedriver: install chromium-driver (scripts/test does)")?;
        // chromedriver says when it listens; waiting for that line avoids polling its port.
        let stdout = chromedriver.stdout.take().context("chromedriver stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.next_line().await? {
                if line.contains("started successfully") {
                    return Ok(());
                }
            }
            bail!("chromedriver exited before it was ready")
        })
        .await
        .context("chromedriver did not start in time")??;
        // Keep draining its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let profile = TempDir::new("chromium-profile");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|flag| (*flag).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.0.display()));
        let mut capabilities = serde_json::Map::new();
        let mut options = serde_json::json!({ "binary": chromium_binary(), "args": args });
        if scripts == Scripts::Off {
            // Chromium's own "Don't allow sites to use JavaScript" setting.
            options["prefs"] =
                serde_json::json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .context("cannot open a Chromium session through chromedriver")?;
        Ok(Self {
            client,
            _chromedriver: chromedriver,
            _profile: profile,
        })
    }

    /// A handle on the browser's current tab.
    pub fn page(&self) -> Page {
        Page {
            client: self.client.clone(),
        }
    }
}

fn chromium_binary() -> &'static str {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .find(|path| std::path::Path::new(path).exists())
    .unwrap_or("/usr/bin/chromium")
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Page-level verbs for tests; every wait is bounded by [`WAIT`].
#[derive(Clone)]
pub struct Page {
    client: Client,
}

impl Page {
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client.goto(url).await.with_context(|| format!("open {url}"))
    }

    /// Waits for an element matching `css`.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("no element matches `{css}`"))
    }

    /// Waits until the WASM bundle has hydrated the page (the app sets `data-hydrated="true"`).
    pub async fn wait_until_hydrated(&self) -> anyhow::Result<()> {
        self.find(r#"[data-hydrated="true"]"#)
            .await
            .map(drop)
            .context("the page never hydrated: is the WASM bundle built and loading?")
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.find(css)
            .await?
            .click()
            .await
            .with_context(|| format!("click `{css}`"))
    }

    /// Presses Escape in the page.
    pub async fn press_escape(&self) -> anyhow::Result<()> {
        let escape = String::from(char::from(fantoccini::key::Key::Escape));
        self.client
            .find(Locator::Css("body"))
            .await?
            .send_keys(&escape)
            .await?;
        Ok(())
    }

    /// Presses Tab (Shift+Tab when `backwards`) in the focused element, as a keyboard user would.
    pub async fn press_tab(&self, backwards: bool) -> anyhow::Result<()> {
        let mut keys = String::new();
        if backwards {
            keys.push(char::from(fantoccini::key::Key::Shift));
        }
        keys.push(char::from(fantoccini::key::Key::Tab));
        self.client
            .active_element()
            .await?
            .send_keys(&keys)
            .await
            .context("press Tab")
    }

    /// Runs `script` in the page, as the page itself would (its `fetch` carries the page's
    /// cookies and origin).
    pub async fn run(&self, script: &str) -> anyhow::Result<()> {
        self.client
            .execute(script, Vec::new())
            .await
            .with_context(|| format!("run `{script}`"))?;
        Ok(())
    }

    /// Puts the focus on the element matching `css`, as a keyboard user tabbing to it would.
    pub async fn focus(&self, css: &str) -> anyhow::Result<()> {
        self.find(css).await?;
        self.client
            .execute(
                "document.querySelector(arguments[0]).focus();",
                vec![serde_json::json!(css)],
            )
            .await
            .with_context(|| format!("focus `{css}`"))?;
        Ok(())
    }

    /// Whether the focused element is inside an element matching `css`, and its outer HTML's
    /// first 120 characters (what the failure message shows).
    pub async fn focus_within(&self, css: &str) -> anyhow::Result<(bool, String)> {
        let answer = self
            .client
            .execute(
                "const active = document.activeElement;
                 return [!!(active && active.closest(arguments[0])),
                         active ? active.outerHTML.slice(0, 120) : 'nothing'];",
                vec![serde_json::json!(css)],
            )
            .await?;
        Ok((
            answer
                .get(0)
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            answer
                .get(1)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_owned(),
        ))
    }

    /// Runs axe-core on the page as it is now and returns its serious and critical violations
    /// (minor and moderate ones are left to people). axe is injected through WebDriver's execute
    /// script, which the page's CSP does not govern (no `<script>` element is added), from the
    /// pinned copy `scripts/test` installs (`tests/axe/package.json`).
    pub async fn axe(&self) -> anyhow::Result<Vec<Violation>> {
        let source = std::fs::read_to_string(axe_path()).with_context(|| {
            format!(
                "no axe-core at {}: run scripts/test, or `mkdir -p target/axe && cp tests/axe/package*.json \
                 target/axe && npm ci --prefix target/axe`",
                axe_path().display()
            )
        })?;
        self.client
            .execute(&format!("{source}\nreturn typeof window.axe;"), Vec::new())
            .await
            .context("inject axe-core")?;
        let answer = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then((results) => done({ passes: results.passes.length,
                     violations: results.violations.map((v) => ({
                       id: v.id, impact: v.impact, help: v.help,
                       nodes: v.nodes.map((n) => n.target.join(' ') + ' — ' + n.failureSummary),
                   })) }))
                   .catch((err) => done({ error: String(err) }));",
                Vec::new(),
            )
            .await
            .context("run axe-core")?;
        if let Some(error) = answer.get("error") {
            bail!("axe-core failed: {error}");
        }
        // A run that checked nothing (axe not really in the page) must not pass for a clean one.
        let passes = answer
            .get("passes")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        anyhow::ensure!(passes > 0, "axe-core checked nothing: {answer}");
        let violations: Vec<Violation> =
            serde_json::from_value(answer.get("violations").cloned().unwrap_or_default())
                .context("read axe-core's violations")?;
        Ok(violations
            .into_iter()
            .filter(|violation| matches!(violation.impact.as_deref(), Some("serious" | "critical")))
            .collect())
    }

    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        Ok(self.find(css).await?.text().await?)
    }

    /// Every element matching `css` right now (no waiting).
    pub async fn find_all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        Ok(self.client.find_all(Locator::Css(css)).await?)
    }

    /// How many elements match `css` right now (no waiting).
    pub async fn count(&self, css: &str) -> anyhow::Result<usize> {
        Ok(self.client.find_all(Locator::Css(css)).await?.len())
    }

    /// Waits until `check` holds for the page, re-checking as the DOM changes. An error from a
    /// check (an element replaced between finding and reading it) counts as "not yet"; the last
    /// one is reported if time runs out.
    pub async fn wait_for<F, Fut>(&self, what: &str, mut check: F) -> anyhow::Result<()>
    where
        F: FnMut(Page) -> Fut,
        Fut: Future<Output = anyhow::Result<bool>>,
    {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let mut last_error = None;
        loop {
            tick.tick().await;
            match check(self.clone()).await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(err) => last_error = Some(err),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(match last_error {
                    Some(err) => err.context(format!("timed out waiting for {what}")),
                    None => anyhow!("timed out waiting for {what}"),
                });
            }
        }
    }

    /// Accepts the open `confirm()` dialog.
    pub async fn accept_dialog(&self) -> anyhow::Result<()> {
        self.client.accept_alert().await.context("accept the dialog")
    }

    pub async fn current_path(&self) -> anyhow::Result<String> {
        Ok(self.client.current_url().await?.path().to_owned())
    }

    /// Resizes the window so that the page's viewport is `width` × `height` CSS pixels (the
    /// window's own frame, which headless Chromium keeps too, is measured and added).
    pub async fn set_viewport_size(&self, width: u32, height: u32) -> anyhow::Result<()> {
        let resize = |w: u32, h: u32| async move {
            self.client
                .set_window_size(w, h)
                .await
                .with_context(|| format!("resize the window to {w}x{h}"))
        };
        resize(width, height).await?;
        let inner = self
            .client
            .execute("return [window.innerWidth, window.innerHeight];", Vec::new())
            .await?;
        let measured = |index: usize| inner.get(index).and_then(serde_json::Value::as_u64).unwrap_or(0);
        let frame_width = u64::from(width).saturating_sub(measured(0));
        let frame_height = u64::from(height).saturating_sub(measured(1));
        if frame_width > 0 || frame_height > 0 {
            let grow = |size: u32, frame: u64| u32::try_from(u64::from(size) + frame).unwrap_or(size);
            resize(grow(width, frame_width), grow(height, frame_height)).await?;
        }
        Ok(())
    }

    /// Saves a screenshot of the page as `target/screenshots/<name>.png`, an artifact for people
    /// to look at; returns its path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = workspace_root().join("target").join("screenshots");
        std::fs::create_dir_all(&dir)?;
        let png = dir.join(format!("{name}.png"));
        std::fs::write(&png, self.client.screenshot().await?)?;
        Ok(png)
    }

    async fn save_evidence(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = workspace_root().join("target").join("browser-failures");
        std::fs::create_dir_all(&dir)?;
        let png = dir.join(format!("{name}.png"));
        std::fs::write(&png, self.client.screenshot().await?)?;
        std::fs::write(dir.join(format!("{name}.html")), self.client.source().await?)?;
        Ok(png)
    }
}

/// One axe-core rule the page breaks, with where.
#[derive(Debug, serde::Deserialize)]
pub struct Violation {
    /// The rule (`color-contrast`, `label`, …).
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    /// What the rule asks for.
    pub help: String,
    /// Each offending element's selector and axe's summary of what to fix.
    pub nodes: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let impact = self.impact.as_deref().unwrap_or("?");
        writeln!(f, "{} ({impact}): {}", self.id, self.help)?;
        for node in &self.nodes {
            writeln!(f, "    {node}")?;
        }
        Ok(())
    }
}

/// Where `scripts/test` installs the pinned axe-core.
fn axe_path() -> PathBuf {
    workspace_root().join("target/axe/node_modules/axe-core/axe.min.js")
}

/// Runs a browser test in a fresh browser. On failure (an error or a panic) it saves a screenshot
/// and the page source under `target/browser-failures/<name>.*`, then fails the test.
pub async fn browser_test<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Page) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let browser = Browser::start().await.expect("headless Chromium starts");
    let page = browser.page();
    run_with_evidence(name, &[("", page.clone())], test(page)).await;
}

/// [`browser_test`] in a browser with JavaScript off.
pub async fn scriptless_browser_test<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Page) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let browser = Browser::start_with(Scripts::Off)
        .await
        .expect("headless Chromium starts with JavaScript off");
    let page = browser.page();
    run_with_evidence(name, &[("", page.clone())], test(page)).await;
}

/// [`browser_test`] with two independent browsers (separate profiles, so separate cookies): two
/// people using the app at once. Evidence is saved for both, as `<name>-a.*` and `<name>-b.*`.
pub async fn two_browser_test<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Page, Page) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    // Both browsers (and their chromedrivers) live until the end of this function.
    let (first, second) = tokio::join!(Browser::start(), Browser::start());
    let first = first.expect("headless Chromium starts");
    let second = second.expect("a second headless Chromium starts");
    let pages = [("-a", first.page()), ("-b", second.page())];
    run_with_evidence(name, &pages, test(first.page(), second.page())).await;
}

async fn run_with_evidence<Fut>(name: &str, pages: &[(&str, Page)], test: Fut)
where
    Fut: Future<Output = anyhow::Result<()>>,
{
    let outcome = AssertUnwindSafe(test).catch_unwind().await;
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(format!("{err:#}")),
        Err(panic) => Some(
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                .unwrap_or_else(|| "panicked".to_owned()),
        ),
    };
    if let Some(failure) = failure {
        let mut evidence = Vec::new();
        for (suffix, page) in pages {
            evidence.push(page.save_evidence(&format!("{name}{suffix}")).await.map_or_else(
                |err| format!("(no screenshot: {err})"),
                |png| format!("screenshot: {}", png.display()),
            ));
        }
        panic!("browser test `{name}` failed: {failure}\n{}", evidence.join("\n"));
    }
    for (_, page) in pages {
        if let Err(err) = page.client.clone().close().await {
            eprintln!("closing the browser session failed: {}", anyhow!(err));
        }
    }
}
