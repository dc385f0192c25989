//! The server binary as an operator runs it: bad configuration stops it with a clear message,
//! SIGTERM stops it gracefully, and a restart resumes its gateway session ([`restart`]).

use std::{process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::Command,
    sync::watch,
};

use crate::helpers::{TempDir, workspace_root};

mod cluster;
mod dev_script;
mod restart;

/// The server binary, started in an empty folder (so no developer `.env` leaks in) that holds a
/// copy of `Leptos.toml`, with only the given variables set.
fn server(dir: &TempDir, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    setup(&mut command, dir, vars);
    command
}

/// [`server`] under `prlimit`, able to hold at most `files` file descriptors.
fn server_with_fd_limit(dir: &TempDir, vars: &[(&str, &str)], files: u32) -> Command {
    let mut command = Command::new("prlimit");
    command
        .arg(format!("--nofile={files}:{files}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_server"));
    setup(&mut command, dir, vars);
    command
}

fn setup(command: &mut Command, dir: &TempDir, vars: &[(&str, &str)]) {
    std::fs::copy(workspace_root().join("Leptos.toml"), dir.0.join("Leptos.toml")).unwrap();
    command
        .current_dir(&dir.0)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
}

async fn fails_to_start(vars: &[(&str, &str)]) -> String {
    let dir = TempDir::new("bad-config");
    let output = tokio::time::timeout(Duration::from_secs(30), server(&dir, vars).output())
        .await
        .expect("a misconfigured server exits promptly")
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "exit code 2 for bad configuration");
    String::from_utf8(output.stderr).unwrap()
}

#[tokio::test]
async fn malformed_database_url_stops_startup_naming_the_variable() {
    let stderr = fails_to_start(&[("DATABASE_URL", "postgres//app:hunter2@db/app")]).await;
    assert!(stderr.starts_with("invalid configuration\n"), "{stderr}");
    assert!(
        stderr.contains("  - DATABASE_URL: is not a valid URL"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "the password must not be echoed: {stderr}"
    );
}

#[tokio::test]
async fn production_without_real_discord_refuses_to_start() {
    // Today's trap: production on the embedded simulator, where anyone signs in as anyone.
    let secret = "s".repeat(64);
    let stderr = fails_to_start(&[
        ("APP_ENV", "production"),
        ("SESSION_SECRET", &secret),
        ("VITE_BASE_URL", "https://play.example.com"),
    ])
    .await;
    assert_eq!(
        stderr,
        "invalid configuration\n  - DISCORD_BOT_TOKEN: is required when APP_ENV=production (without it the server would start the embedded Discord simulator)\n  - DISCORD_GUILD_ID: is required when APP_ENV=production (or set VITE_DISCORD_GUILD_ID)\n  - DISCORD_CLIENT_ID: is required when APP_ENV=production\n  - DISCORD_CLIENT_SECRET: is required when APP_ENV=production\n"
    );
}

#[tokio::test]
async fn unknown_log_format_stops_startup_naming_the_variable() {
    let stderr = fails_to_start(&[("LOG_FORMAT", "xml"), ("APP_ENV", "staging")]).await;
    assert_eq!(
        stderr,
        "invalid configuration\n  - APP_ENV: must be `development` or `production`\n  - LOG_FORMAT: must be `human` or `json`\n"
    );
}

#[tokio::test]
async fn sigterm_stops_a_running_server_gracefully() {
    let dir = TempDir::new("sigterm");
    let db = dir.0.join("app.db").to_string_lossy().into_owned();
    let mut child = server(
        &dir,
        &[
            ("SQLITE_PATH", db.as_str()),
            ("LOG_FORMAT", "json"),
            ("LEPTOS_SITE_ADDR", "127.0.0.1:0"),
        ],
    )
    .spawn()
    .unwrap();

    // JSON logs: wait for the line that says the server listens, and read the port from it.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let entry: serde_json::Value = serde_json::from_str(&line).expect("every log line is JSON");
            if let Some(message) = entry["message"]
                .as_str()
                .and_then(|m| m.strip_prefix("listening on "))
            {
                return message.to_owned();
            }
        }
        panic!("the server exited before listening");
    })
    .await
    .expect("the server starts listening");
    // Healthy once the gateway has connected to the embedded simulator.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let healthy = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            tick.tick().await;
            if reqwest::get(format!("{address}/health")).await.unwrap().status() == 200 {
                return;
            }
        }
    })
    .await;
    assert!(healthy.is_ok(), "the server became healthy");

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("the server exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "graceful exit, got {status}");
    let rest: Vec<String> = {
        let mut rest = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            rest.push(line);
        }
        rest
    };
    assert!(
        rest.iter().any(|line| line.contains("SIGTERM received")),
        "{rest:?}"
    );
}

/// What a running server has logged so far.
#[derive(Debug, Default)]
struct Log {
    /// `listening on http://…`, once seen.
    address: Option<String>,
    /// Warnings that a connection could not be accepted.
    accept_warnings: usize,
    /// The latest lines, for a failing test to show.
    recent: std::collections::VecDeque<String>,
}

/// Follows the child's stdout and stderr into a [`Log`].
fn follow(child: &mut tokio::process::Child) -> watch::Receiver<Log> {
    let (log, follower) = watch::channel(Log::default());
    tokio::spawn(pump(child.stdout.take().unwrap(), log.clone()));
    tokio::spawn(pump(child.stderr.take().unwrap(), log));
    follower
}

async fn pump(output: impl tokio::io::AsyncRead + Unpin, log: watch::Sender<Log>) {
    let mut lines = BufReader::new(output).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        log.send_modify(|log| {
            if log.recent.len() == 200 {
                log.recent.pop_front();
            }
            log.recent.push_back(line.clone());
            if line.contains("cannot accept") {
                log.accept_warnings += 1;
            }
            if let Some(at) = line.find("listening on http://") {
                let address = &line[at + "listening on ".len()..];
                let end = address
                    .find(|c: char| c == '"' || c.is_whitespace())
                    .unwrap_or(address.len());
                log.address = Some(address[..end].to_owned());
            }
        });
    }
}

/// Whether `/health` answers 200 within `within`.
async fn healthy_within(address: &str, within: Duration) -> bool {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tokio::time::timeout(within, async {
        loop {
            tick.tick().await;
            let request = reqwest::Client::new()
                .get(format!("{address}/health"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if request.is_ok_and(|response| response.status() == 200) {
                return;
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn out_of_file_descriptors_the_server_backs_off_quietly_and_recovers() {
    const FILES: u32 = 128;
    let dir = TempDir::new("emfile");
    let db = dir.0.join("app.db").to_string_lossy().into_owned();
    let mut child = server_with_fd_limit(
        &dir,
        &[
            ("SQLITE_PATH", db.as_str()),
            ("LOG_FORMAT", "json"),
            ("LEPTOS_SITE_ADDR", "127.0.0.1:0"),
        ],
        FILES,
    )
    .spawn()
    .unwrap();
    let mut log = follow(&mut child);
    let address = tokio::time::timeout(Duration::from_secs(30), log.wait_for(|log| log.address.is_some()))
        .await
        .expect("the server starts listening")
        .expect("the server is running")
        .address
        .clone()
        .unwrap();
    assert!(healthy_within(&address, Duration::from_secs(20)).await);

    // Open streams until the server cannot accept another connection; each one holds a descriptor.
    let mut held = Vec::new();
    let host = address.trim_start_matches("http://").to_owned();
    for _ in 0..FILES + 16 {
        let mut connection = TcpStream::connect(&host).await.unwrap();
        connection
            .write_all(b"GET /api/stream?room=4000000000000000001 HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        held.push(connection);
    }
    tokio::time::timeout(
        Duration::from_secs(20),
        log.wait_for(|log| log.accept_warnings > 0),
    )
    .await
    .expect("the server runs out of descriptors")
    .unwrap();
    // Held for two seconds, measured by /health going unanswered meanwhile.
    assert!(
        !healthy_within(&address, Duration::from_secs(2)).await,
        "no descriptor is free for /health"
    );
    let warnings = log.borrow().accept_warnings;
    assert!(
        warnings <= 5,
        "{warnings} accept warnings while out of descriptors"
    );

    drop(held);
    assert!(
        healthy_within(&address, Duration::from_secs(20)).await,
        "the server serves again once descriptors are free"
    );
}

#[tokio::test]
async fn request_logs_name_the_route_and_never_an_invite_token_or_an_oauth_code() {
    let dir = TempDir::new("logs");
    let db = dir.0.join("app.db").to_string_lossy().into_owned();
    let mut child = server(
        &dir,
        &[
            ("SQLITE_PATH", db.as_str()),
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "debug"),
            ("LEPTOS_SITE_ADDR", "127.0.0.1:0"),
        ],
    )
    .spawn()
    .unwrap();
    // Read both outputs all along: debug logs would otherwise fill the pipe and stall the server.
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let forward = |output: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
        let lines_tx = lines_tx.clone();
        tokio::spawn(async move {
            let mut output = BufReader::new(output).lines();
            while let Ok(Some(line)) = output.next_line().await {
                let _ = lines_tx.send(line);
            }
        })
    };
    forward(Box::new(stdout));
    forward(Box::new(stderr));
    drop(lines_tx);

    let mut log = Vec::new();
    let address = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.recv().await {
            let listening = serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|entry| {
                    entry["message"]
                        .as_str()
                        .and_then(|m| m.strip_prefix("listening on "))
                        .map(str::to_owned)
                });
            log.push(line);
            if let Some(address) = listening {
                return address;
            }
        }
        panic!("the server exited before listening: {log:#?}");
    })
    .await
    .expect("the server starts listening");

    let invite = reqwest::get(format!("{address}/invite/SECRETINVITETOKEN123"))
        .await
        .unwrap();
    assert!(invite.status().is_success() || invite.status().is_client_error());
    let callback = reqwest::get(format!("{address}/auth/callback?code=SECRETCODE&state=x"))
        .await
        .unwrap();
    assert_eq!(callback.status(), 400);

    let pid = child.id().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap()
            .success()
    );
    tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(line) = lines.recv().await {
            log.push(line);
        }
    })
    .await
    .expect("the server exits after SIGTERM");
    let log = log.join("\n");
    for secret in ["SECRETINVITETOKEN123", "SECRETCODE"] {
        let leaks: Vec<&str> = log.lines().filter(|line| line.contains(secret)).collect();
        assert!(leaks.is_empty(), "{secret} reached the log: {leaks:#?}");
    }
    assert!(
        log.contains("/invite/{token}") && log.contains("/auth/callback"),
        "requests are logged by their route: {log}"
    );
}
