//! `scripts/dev` without cargo-leptos (issue #14): it serves the app with plain cargo on the builds
//! the test command already made, the landing page hydrates, and Ctrl-C stops everything it
//! started. This is the path a newcomer takes on a fresh machine, so it must not rot.

use std::{process::Stdio, time::Duration};

use tokio::process::Command;

use super::follow;
use crate::{
    browser::browser_test,
    helpers::{TempDir, workspace_root},
};

#[tokio::test]
async fn without_cargo_leptos_scripts_dev_serves_a_hydrating_site_and_ctrl_c_stops_it() {
    let dir = TempDir::new("dev-script");
    let db = dir.0.join("dev.db").to_string_lossy().into_owned();
    let mut command = Command::new("bash");
    // A developer's shell, not this test's: cargo would take the `CARGO_PKG_*` and
    // `CARGO_MANIFEST_DIR` the test runner sets for tests as a changed environment and rebuild
    // dependencies whose build scripts watch them (ring does).
    command.env_clear();
    for name in [
        "PATH",
        "HOME",
        "USER",
        "LANG",
        "TMPDIR",
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
    ] {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    let mut child = command
        .arg(workspace_root().join("scripts/dev"))
        // As if cargo-leptos were not installed, and without starting its background install.
        .env("DEV_PLAIN", "1")
        .env("DEV_INSTALL_CARGO_LEPTOS", "0")
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("SQLITE_PATH", &db)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so Ctrl-C can be sent to it as a terminal would.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut log = follow(&mut child);
    let address = tokio::time::timeout(
        Duration::from_secs(180),
        log.wait_for(|log| log.address.is_some()),
    )
    .await
    .expect("scripts/dev serves within 3 minutes on builds that exist")
    .expect("scripts/dev is running")
    .address
    .clone()
    .unwrap();

    let landing = format!("{address}/");
    browser_test("dev_script_landing", |page| async move {
        page.goto(&landing).await?;
        page.wait_until_hydrated().await?;
        Ok(())
    })
    .await;

    let group = child.id().unwrap().to_string();
    let interrupted = Command::new("kill")
        .args(["-INT", "--", &format!("-{group}")])
        .status()
        .await
        .unwrap();
    assert!(interrupted.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("scripts/dev stops within 20 s of Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(130), "the exit code of an interrupted script");
    let after = reqwest::Client::new()
        .get(format!("{address}/health/live"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(after.is_err(), "the server it started has stopped too");
}
