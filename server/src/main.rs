//! The server binary: configuration → telemetry → `Application` → serve until a signal.
//!
//! Exits 0 after a requested shutdown, 2 on invalid configuration, 1 on any other failure
//! (a background task that panicked among them, for the service manager to restart it).

use std::{process::ExitCode, time::Duration};

use anyhow::Context;
use backend::Config;
use server::{Application, shutdown, telemetry};

fn main() -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let outcome = runtime.block_on(run());
    // Blocking work still running (a DNS lookup that hangs, say) must not hold the process open
    // past the shutdown deadline, as dropping the runtime would.
    runtime.shutdown_timeout(Duration::from_secs(1));
    outcome
}

async fn run() -> anyhow::Result<ExitCode> {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            // One line per problem, each naming its variable; nothing else is useful here.
            eprintln!("{err}");
            return Ok(ExitCode::from(2));
        }
    };
    telemetry::init(&config.log)?;
    // cargo-leptos passes the site settings as LEPTOS_* variables, which override the file.
    let leptos = leptos::config::get_configuration(Some("Leptos.toml"))
        .context("cannot read the site settings in Leptos.toml (run from the repository root)")?
        .leptos_options;

    let app = Application::build(config, leptos).await?;
    tokio::spawn(shutdown::cancel_on_signal(app.shutdown_token()));
    app.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}
