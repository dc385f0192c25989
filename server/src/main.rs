//! The server binary: configuration → telemetry → `Application` → serve until a signal.

use std::process::ExitCode;

use anyhow::Context;
use backend::Config;
use server::{Application, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
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
