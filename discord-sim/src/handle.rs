//! Starting a simulator and controlling it from Rust: [`DiscordSim::start`] returns a
//! [`SimHandle`] with the URLs to point clients at, voice controls, faults and counters.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::SimConfig;
use crate::core::{ConnectionInfo, Core, Counters};
use crate::fault::{GatewayFault, RestFaultRule};
use crate::id::Snowflake;
use crate::router;
use crate::world::{Channel, DemoIds, Dispatch, Overwrite, World, WorldError};

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding the listener failed.
    #[error("binding {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Entry point.
#[derive(Debug, Clone, Copy)]
pub struct DiscordSim;

impl DiscordSim {
    /// Binds `config.bind`, seeds the demo guild and serves until every handle is dropped.
    pub async fn start(config: SimConfig) -> Result<SimHandle, StartError> {
        let (mut world, demo) = World::demo(&config.bot_name);
        world.bot_permissions = config.bot_permissions;
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
        let core = Arc::new(Core::new(config, addr, world));
        let app = router::router(Arc::clone(&core));
        let shutdown = core.shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
            if let Err(err) = served {
                tracing::error!(%err, "discord-sim server stopped");
            }
        });
        Ok(SimHandle {
            core: Arc::clone(&core),
            demo,
            _guard: Arc::new(StopOnDrop(core)),
        })
    }
}

/// Cancels the simulator when the last [`SimHandle`] clone is dropped.
#[derive(Debug)]
struct StopOnDrop(Arc<Core>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.shutdown.cancel();
    }
}

/// The URLs and credentials to configure a client with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `127.0.0.1:PORT`, for `twilight_http::Client::builder().proxy(.., true)`.
    pub proxy_host: String,
    /// `http://127.0.0.1:PORT/api/v10`.
    pub api_base: String,
    /// `ws://127.0.0.1:PORT`, for `twilight_gateway::ConfigBuilder::proxy_url`.
    pub gateway_url: String,
    /// The OAuth2 consent page.
    pub oauth_authorize_url: String,
    /// The OAuth2 token endpoint.
    pub oauth_token_url: String,
    /// The OAuth2 revocation endpoint.
    pub oauth_revoke_url: String,
    /// Base of the `/_sim` control endpoint.
    pub control_url: String,
    /// Bearer token for the control endpoint.
    pub control_token: String,
    /// The bot token (without `Bot `).
    pub bot_token: String,
    /// OAuth2 client id.
    pub client_id: String,
    /// OAuth2 client secret.
    pub client_secret: String,
    /// The simulated guild's id.
    pub guild_id: Snowflake,
}

impl Endpoints {
    /// The environment block to configure the server with (`KEY=value` lines).
    pub fn env_block(&self) -> String {
        format!(
            "DISCORD_API_BASE={}\nDISCORD_GATEWAY_URL={}\nDISCORD_OAUTH_AUTHORIZE_URL={}\n\
             DISCORD_OAUTH_TOKEN_URL={}\nDISCORD_OAUTH_REVOKE_URL={}\nDISCORD_BOT_TOKEN={}\n\
             DISCORD_GUILD_ID={}\nDISCORD_CLIENT_ID={}\nDISCORD_CLIENT_SECRET={}\n",
            self.api_base,
            self.gateway_url,
            self.oauth_authorize_url,
            self.oauth_token_url,
            self.oauth_revoke_url,
            self.bot_token,
            self.guild_id,
            self.client_id,
            self.client_secret,
        )
    }
}

/// A running simulator. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct SimHandle {
    core: Arc<Core>,
    demo: DemoIds,
    _guard: Arc<StopOnDrop>,
}

impl SimHandle {
    /// Where clients should connect.
    pub fn endpoints(&self) -> Endpoints {
        let addr = self.core.addr;
        let config = &self.core.config;
        let http = format!("http://{addr}");
        // One lock for both fields: a second `lock()` in the same expression would deadlock.
        let (bot_token, guild_id) = {
            let state = self.core.read();
            (state.bot_token.clone(), state.world.guild_id)
        };
        Endpoints {
            proxy_host: addr.to_string(),
            api_base: format!("{http}/api/v10"),
            gateway_url: self.core.gateway_url(),
            oauth_authorize_url: format!("{http}/oauth2/authorize"),
            oauth_token_url: format!("{http}/api/v10/oauth2/token"),
            oauth_revoke_url: format!("{http}/api/v10/oauth2/token/revoke"),
            control_url: format!("{http}/_sim"),
            control_token: config.control_token.clone(),
            bot_token,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            guild_id,
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.core.addr
    }

    /// Ids of the demo guild's channels and people.
    pub fn demo(&self) -> DemoIds {
        self.demo
    }

    /// A copy of the world as it is now.
    pub fn world(&self) -> World {
        self.core.read().world.clone()
    }

    /// Waits until `condition` holds for the counters (re-checked after every state change), at
    /// most `timeout`; returns whether it held. Lets tests wait without sleeping, e.g. for the
    /// app's shard to identify.
    pub async fn wait_until(
        &self,
        timeout: std::time::Duration,
        condition: impl Fn(&Counters, &[ConnectionInfo]) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.core.changed.notified();
            tokio::pin!(notified);
            // Register before checking, so a change between check and wait is not missed.
            notified.as_mut().enable();
            if condition(&self.counters(), &self.connections()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return condition(&self.counters(), &self.connections());
            }
        }
    }

    /// Counters for assertions.
    pub fn counters(&self) -> Counters {
        self.core.read().counters
    }

    /// Creates a simulated person and makes them a guild member.
    pub fn create_user(&self, username: &str) -> Snowflake {
        self.core
            .change::<_, Infallible>(|world| {
                let id = world.create_user(username, Some(username));
                let dispatches = world.add_member(id, World::now());
                Ok((id, dispatches))
            })
            .unwrap_or_else(|never| match never {})
    }

    /// Creates a simulated person who is not a guild member (for `PUT /guilds/{g}/members/{u}`).
    pub fn create_stranger(&self, username: &str) -> Snowflake {
        self.core.lock().world.create_user(username, Some(username))
    }

    /// Connects `user` to a voice channel (or moves them).
    pub fn join_voice(&self, user: Snowflake, channel: Snowflake) -> Result<(), WorldError> {
        self.core
            .change(|world| world.join_voice(user, channel).map(|d| ((), d)))
    }

    /// Moves a connected user.
    pub fn move_voice(&self, user: Snowflake, channel: Snowflake) -> Result<(), WorldError> {
        self.core
            .change(|world| world.move_voice(user, channel).map(|d| ((), d)))
    }

    /// Disconnects a user from voice.
    pub fn leave_voice(&self, user: Snowflake) -> Result<(), WorldError> {
        self.core.change(|world| world.leave_voice(user).map(|d| ((), d)))
    }

    /// Creates a voice channel as a moderator would in Discord's own client, outside any app, with
    /// these permission overwrites; every session gets `CHANNEL_CREATE` it may see. Returns its id.
    pub fn create_voice_channel(&self, name: &str, overwrites: Vec<Overwrite>) -> Snowflake {
        let channel = Channel {
            // Replaced with a fresh id by `create_channel`.
            id: crate::world::GUILD_ID,
            kind: crate::world::CHANNEL_VOICE,
            name: name.to_owned(),
            position: 0,
            parent_id: None,
            overwrites,
            bitrate: 64_000,
            user_limit: 0,
        };
        self.core
            .change::<_, Infallible>(|world| {
                let (channel, dispatches) = world.create_channel(channel);
                Ok((channel.id, dispatches))
            })
            .unwrap_or_else(|never| match never {})
    }

    /// Deletes a channel as a moderator would in Discord's own client, outside any app: members
    /// in it are disconnected, then every session gets `CHANNEL_DELETE`.
    pub fn delete_channel(&self, channel: Snowflake) -> Result<(), WorldError> {
        self.core
            .change(|world| world.delete_channel(channel).map(|(_, d)| ((), d)))
    }

    /// Server-mutes or unmutes a member.
    pub fn set_mute(&self, user: Snowflake, mute: bool) -> Result<(), WorldError> {
        self.core
            .change(|world| world.set_mute(user, mute).map(|d| ((), d)))
    }

    /// Sets a connected user's self-mute.
    pub fn set_self_mute(&self, user: Snowflake, mute: bool) -> Result<(), WorldError> {
        self.core
            .change(|world| world.set_self_mute(user, mute).map(|d| ((), d)))
    }

    /// Starts (`true`) or ends a guild outage: `GUILD_DELETE {unavailable:true}`, later a fresh
    /// `GUILD_CREATE`, to every session.
    pub fn guild_outage(&self, down: bool) {
        self.core.lock().guild_outage(down);
    }

    /// Sends any dispatch to every session with `intent` (e.g. payload variants such as a guest
    /// member with `joined_at: null`); `data` must be compact JSON.
    pub fn dispatch(&self, name: &str, intent: u64, data: &str) {
        let dispatch = Dispatch {
            name: name.to_owned().into(),
            intent,
            data: data.to_owned(),
        };
        self.core.lock().publish(&[dispatch]);
    }

    /// The live gateway connections.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.core
            .read()
            .connections
            .iter()
            .map(|(id, entry)| ConnectionInfo {
                id: *id,
                session_id: entry.session.clone(),
                via_resume_url: entry.via_resume_url,
                compression: entry.compression,
            })
            .collect()
    }

    /// Applies a fault to one connection; false if it is gone.
    pub fn fault(&self, connection: u64, fault: GatewayFault) -> bool {
        self.core.lock().send_fault(connection, fault)
    }

    /// Applies a fault to every live connection that has a session; returns how many.
    pub fn fault_all(&self, fault: &GatewayFault) -> usize {
        self.core.lock().fault_sessions(fault)
    }

    /// Refuses (HTTP 503) or accepts WebSocket upgrades on the resume URL.
    pub fn set_refuse_resume(&self, refuse: bool) {
        self.core.lock().refuse_resume = refuse;
    }

    /// Refuses (HTTP 503) or accepts every gateway WebSocket upgrade: a gateway outage.
    pub fn set_refuse_gateway(&self, refuse: bool) {
        self.core.lock().refuse_gateway = refuse;
    }

    /// Splits outgoing frames of connections opened from now on into continuation frames of at
    /// most `size` bytes (`None` restores whole frames).
    pub fn set_frame_size(&self, size: Option<usize>) {
        self.core.lock().frame_size = size;
    }

    /// Queues a REST fault.
    pub fn push_rest_fault(&self, rule: RestFaultRule) {
        self.core.lock().rest_faults.push_back(rule);
    }

    /// The current bot token (it changes when the identify budget runs out).
    pub fn bot_token(&self) -> String {
        self.core.read().bot_token.clone()
    }

    /// Stops the server and every connection now.
    pub fn shutdown(&self) {
        self.core.shutdown.cancel();
    }
}

#[cfg(test)]
mod tests {
    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn handle_can_live_in_shared_app_state() {
        assert_send_sync_clone::<super::SimHandle>();
    }
}
