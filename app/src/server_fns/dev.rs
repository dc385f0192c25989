//! Development only: make the embedded simulator's users join, leave and move between voice
//! channels, so the live roster can be tried without Discord. Answers 404 when the server talks to
//! real Discord.

use leptos::prelude::*;
use model::{dev::SimulatedGuild, error::AppError};

/// The simulated guild: its users (with their voice channel) and voice channels.
#[allow(clippy::unused_async, reason = "server functions are async by contract")]
#[server(prefix = "/api/dev", endpoint = "guild")]
pub async fn load_simulated_guild() -> Result<SimulatedGuild, AppError> {
    use model::dev::{SimulatedChannel, SimulatedUser};

    let world = simulator()?.world();
    let mut users: Vec<SimulatedUser> = world
        .users
        .values()
        .filter(|user| !user.bot)
        .filter_map(|user| {
            Some(SimulatedUser {
                user_id: user.id.to_string().parse().ok()?,
                username: user.global_name.clone().unwrap_or_else(|| user.username.clone()),
                channel_id: world
                    .voice
                    .get(&user.id)
                    .and_then(|state| state.channel_id.to_string().parse().ok()),
            })
        })
        .collect();
    users.sort_by(|a, b| a.username.cmp(&b.username));
    let mut channels: Vec<_> = world
        .channels
        .values()
        .filter(|channel| channel.kind == 2)
        .collect();
    channels.sort_by_key(|channel| channel.position);
    let channels = channels
        .into_iter()
        .filter_map(|channel| {
            Some(SimulatedChannel {
                channel_id: channel.id.to_string().parse().ok()?,
                name: channel.name.clone(),
            })
        })
        .collect();
    Ok(SimulatedGuild { users, channels })
}

/// Puts a simulated user in `channel` (joining or moving), or takes them out of voice when
/// `channel` is absent.
#[allow(clippy::unused_async, reason = "server functions are async by contract")]
#[server(prefix = "/api/dev", endpoint = "voice")]
pub async fn set_simulated_voice(user: String, channel: Option<String>) -> Result<(), AppError> {
    let simulator = simulator()?;
    let snowflake = |name: &str, text: &str| {
        discord_sim::Snowflake::parse(text)
            .ok_or_else(|| AppError::InvalidInput(format!("`{name}` must be a Discord ID")))
    };
    let user = snowflake("user", &user)?;
    let result = match channel
        .as_deref()
        .map(|text| snowflake("channel", text))
        .transpose()?
    {
        Some(channel) if simulator.world().voice.contains_key(&user) => simulator.move_voice(user, channel),
        Some(channel) => simulator.join_voice(user, channel),
        None => simulator.leave_voice(user),
    };
    result.map_err(|err| AppError::Conflict(err.to_string()))
}

#[cfg(feature = "ssr")]
fn simulator() -> Result<discord_sim::SimHandle, AppError> {
    use_context::<super::ssr::DevSimulator>()
        .map(|dev| dev.0)
        .ok_or(AppError::NotFound)
}
