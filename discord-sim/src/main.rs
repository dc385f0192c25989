//! `cargo run -p discord-sim`: the simulator standalone with the demo guild, printing the
//! environment to point the server at it.

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
    let mut config = SimConfig::default();
    // The port is the only setting, so a positional argument is enough (`-- 9000`).
    let port: u16 = match std::env::args().nth(1) {
        Some(port) => port.parse().context("the port must be a number")?,
        None => 8585,
    };
    config.bind = SocketAddr::from(([127, 0, 0, 1], port));
    let sim = DiscordSim::start(config)
        .await
        .context("starting the simulator")?;
    let e = sim.endpoints();
    let env = format!(
        "DISCORD_API_BASE={}\nDISCORD_GATEWAY_URL={}\nDISCORD_OAUTH_AUTHORIZE_URL={}\n\
         DISCORD_OAUTH_TOKEN_URL={}\nDISCORD_BOT_TOKEN={}\nDISCORD_GUILD_ID={}\n\
         DISCORD_CLIENT_ID={}\nDISCORD_CLIENT_SECRET={}\n# control: {} (Bearer {})\n",
        e.api_base,
        e.gateway_url,
        e.oauth_authorize_url,
        e.oauth_token_url,
        e.bot_token,
        e.guild_id,
        e.client_id,
        e.client_secret,
        e.control_url,
        e.control_token,
    );
    // The env block is the binary's output, meant for `eval`/copying, so it goes to stdout.
    #[allow(clippy::print_stdout)]
    {
        print!("{env}");
    }
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    sim.shutdown();
    Ok(())
}
