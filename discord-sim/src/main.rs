//! `cargo run -p discord-sim [-- PORT]`: the simulator standalone with the demo guild, printing
//! the environment to point the server at it.

use std::net::SocketAddr;

use anyhow::Context as _;
use discord_sim::{DiscordSim, SimConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    // The port is the only setting, so a positional argument is enough.
    let port: u16 = std::env::args()
        .nth(1)
        .map_or(Ok(8585), |p| p.parse())
        .context("PORT must be a number")?;
    let config = SimConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], port)),
        ..SimConfig::default()
    };
    let sim = DiscordSim::start(config)
        .await
        .context("starting the simulator")?;
    let endpoints = sim.endpoints();
    // The env block is this binary's output, meant for copying into `.env`, so it is stdout.
    #[allow(clippy::print_stdout)]
    {
        print!("{}", endpoints.env_block());
        println!(
            "# control: {} (Bearer {})",
            endpoints.control_url, endpoints.control_token
        );
    }
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    sim.shutdown();
    Ok(())
}
