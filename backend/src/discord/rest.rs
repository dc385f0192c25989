//! The Discord REST calls that running game rooms needs, through twilight-http, with Discord's
//! answers turned into the few outcomes the rooms logic acts on.
//!
//! [`DiscordRest`] makes these calls either itself over HTTP ([`HttpRest`], the gateway and `all`
//! roles, which hold the bot token) or through the gateway link ([`LinkRest`], the web role);
//! `Rooms`, the janitor and the reconciler see the same methods and the same [`DiscordError`]s
//! either way.
//!
//! Every call has a deadline. twilight-http retries a 429 by itself until it succeeds, so without
//! one a rate-limited Discord would hang a user's click for as long as Discord likes; with it, the
//! user gets "Discord is unavailable" (502) and never our own 429, which means "you, slow down".

use std::{future::Future, num::NonZeroU64, sync::Arc, time::Duration};

use model::ids::{ChannelId, GuildId, UserId};
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;
use twilight_http::{
    Client,
    api_error::ApiError,
    error::{Error as HttpError, ErrorType},
    request::channel::reaction::RequestReactionType,
};
use twilight_model::{
    channel::{
        ChannelType,
        permission_overwrite::{
            PermissionOverwrite as ChannelOverwrite, PermissionOverwriteType as ChannelOverwriteType,
        },
    },
    guild::Permissions,
    http::permission_overwrite::{PermissionOverwrite, PermissionOverwriteType},
    id::{
        Id,
        marker::{GenericMarker, GuildMarker, MessageMarker, UserMarker},
    },
};
use url::Url;

use crate::link::{
    AccessToken, BotUser, ChannelCreated, Command, GuildChannels, MessageSent, VoiceChannel,
    client::{LinkClient, LinkError},
};

/// What a player may do in their room's channel.
pub const PLAYER_ALLOW: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::CONNECT)
    .union(Permissions::SPEAK)
    .union(Permissions::STREAM);
/// What everybody else is denied: seeing and joining the channel.
pub const EVERYONE_DENY: Permissions = Permissions::VIEW_CHANNEL.union(Permissions::CONNECT);
/// What the bot needs in a room's channel: see it (to get its events), move players in, and delete
/// it when the room closes.
pub const BOT_ALLOW: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::CONNECT)
    .union(Permissions::MOVE_MEMBERS)
    .union(Permissions::MANAGE_CHANNELS);

/// Discord's JSON error code for "Target user is not connected to voice".
const NOT_IN_VOICE: u64 = 40032;
/// Discord's JSON error code for "Unknown Channel".
const UNKNOWN_CHANNEL: u64 = 10003;
/// How long one call may take, retries of rate-limited requests included.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// How a call went wrong, in the terms the rooms logic cares about.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    /// 40032: the user is not in any voice channel, so they cannot be moved.
    #[error("the user is not connected to voice")]
    NotInVoice,
    /// Discord refused (403), e.g. the user may not join the guild.
    #[error("Discord refused: {0}")]
    Denied(String),
    /// 10003: the channel is gone (deleted, maybe outside the app).
    #[error("the channel no longer exists")]
    UnknownChannel,
    /// Discord does not know something else (a member, a route) any more (404).
    #[error("Discord does not know it: {0}")]
    Unknown(String),
    /// Anything else: 5xx, a rate limit that outlasted the deadline, a timeout, a bad answer.
    #[error("Discord call failed: {0}")]
    Failed(String),
}

/// A guild channel as the reconciler needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuildChannel {
    /// The channel.
    pub id: ChannelId,
    /// Whether it is a voice channel (the only kind the app makes).
    pub voice: bool,
    /// Its name.
    pub name: String,
    /// Its member permission overwrites: who, and the permission bits they are allowed.
    pub member_allows: Vec<(UserId, Permissions)>,
}

impl GuildChannel {
    /// Whether `user` has a member overwrite allowing at least `wanted`.
    pub fn allows(&self, user: UserId, wanted: Permissions) -> bool {
        self.member_allows
            .iter()
            .any(|(id, allow)| *id == user && allow.contains(wanted))
    }

    /// Whether `user` has a member overwrite at all (the bot's mark on the channels it made).
    pub fn has_member_overwrite(&self, user: UserId) -> bool {
        self.member_allows.iter().any(|(id, _)| *id == user)
    }
}

/// Where the REST API is and who the bot is. `Debug` hides the token.
#[derive(Clone)]
pub struct RestSettings {
    /// The bot token.
    pub token: String,
    /// The API base, e.g. `https://discord.com/api/v10` (or a simulator's).
    pub api_base: Url,
    /// The guild the rooms live in.
    pub guild_id: GuildId,
    /// Per-call deadline ([`DEFAULT_DEADLINE`] in production).
    pub deadline: Duration,
}

impl std::fmt::Debug for RestSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestSettings")
            .field("token", &"[redacted]")
            .field("api_base", &self.api_base)
            .field("guild_id", &self.guild_id)
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// The bot's REST client, cheap to clone: over HTTP with the bot token, or over the gateway link.
#[derive(Debug, Clone)]
pub enum DiscordRest {
    /// Calls Discord itself (holds the bot token).
    Http(HttpRest),
    /// Asks the gateway role to call Discord (the web role).
    Link(LinkRest),
}

impl DiscordRest {
    /// A client calling Discord over HTTP; see [`HttpRest::new`].
    pub fn new(settings: RestSettings) -> Self {
        Self::Http(HttpRest::new(settings))
    }

    /// A client running every call on the gateway role through `link`.
    pub fn link(link: LinkClient) -> Self {
        Self::Link(LinkRest::new(link))
    }

    /// Whether a call can go out now: always over HTTP; over the link only while it is up (a
    /// command sent while unlinked certainly did not run, so rooms refuse it up front).
    pub fn available(&self) -> bool {
        match self {
            Self::Http(_) => true,
            Self::Link(link) => link.is_linked(),
        }
    }

    /// See [`HttpRest::create_room_channel`].
    pub async fn create_room_channel(&self, name: &str, owner: UserId) -> Result<ChannelId, DiscordError> {
        match self {
            Self::Http(http) => http.create_room_channel(name, owner).await,
            Self::Link(link) => link.create_room_channel(name, owner).await,
        }
    }

    /// See [`HttpRest::allow_player`].
    pub async fn allow_player(&self, channel: ChannelId, user: UserId) -> Result<(), DiscordError> {
        match self {
            Self::Http(http) => http.allow_player(channel, user).await,
            Self::Link(link) => {
                link.unit(Command::AllowPlayer {
                    channel_id: channel,
                    user_id: user,
                })
                .await
            }
        }
    }

    /// See [`HttpRest::forbid_player`].
    pub async fn forbid_player(&self, channel: ChannelId, user: UserId) -> Result<(), DiscordError> {
        match self {
            Self::Http(http) => http.forbid_player(channel, user).await,
            Self::Link(link) => {
                link.unit(Command::ForbidPlayer {
                    channel_id: channel,
                    user_id: user,
                })
                .await
            }
        }
    }

    /// See [`HttpRest::delete_channel`].
    pub async fn delete_channel(&self, channel: ChannelId) -> Result<(), DiscordError> {
        match self {
            Self::Http(http) => http.delete_channel(channel).await,
            Self::Link(link) => link.unit(Command::DeleteChannel { channel_id: channel }).await,
        }
    }

    /// See [`HttpRest::add_to_guild`].
    pub async fn add_to_guild(&self, user: UserId, access_token: &str) -> Result<(), DiscordError> {
        match self {
            Self::Http(http) => http.add_to_guild(user, access_token).await,
            Self::Link(link) => {
                link.unit(Command::AddToGuild {
                    user_id: user,
                    access_token: AccessToken(access_token.to_owned()),
                })
                .await
            }
        }
    }

    /// See [`HttpRest::move_to`].
    pub async fn move_to(&self, user: UserId, channel: ChannelId) -> Result<(), DiscordError> {
        match self {
            Self::Http(http) => http.move_to(user, channel).await,
            Self::Link(link) => {
                link.unit(Command::MoveTo {
                    user_id: user,
                    channel_id: channel,
                })
                .await
            }
        }
    }

    /// See [`HttpRest::disconnect`].
    pub async fn disconnect(&self, user: UserId) -> Result<(), DiscordError> {
        match self {
            Self::Http(http) => http.disconnect(user).await,
            Self::Link(link) => link.unit(Command::Disconnect { user_id: user }).await,
        }
    }

    /// See [`HttpRest::voice_channel_of`].
    pub async fn voice_channel_of(&self, user: UserId) -> Result<Option<ChannelId>, DiscordError> {
        match self {
            Self::Http(http) => http.voice_channel_of(user).await,
            Self::Link(link) => Ok(link
                .typed::<VoiceChannel>(Command::VoiceChannelOf { user_id: user })
                .await?
                .channel_id),
        }
    }

    /// See [`HttpRest::guild_channels`].
    pub async fn guild_channels(&self) -> Result<Vec<GuildChannel>, DiscordError> {
        match self {
            Self::Http(http) => http.guild_channels().await,
            Self::Link(link) => link
                .typed::<GuildChannels>(Command::GuildChannels)
                .await?
                .channels
                .into_iter()
                .map(|channel| {
                    GuildChannel::try_from(channel).map_err(|err| {
                        DiscordError::Failed(format!("unreadable answer from the gateway: {err}"))
                    })
                })
                .collect(),
        }
    }

    /// See [`HttpRest::bot_user_id`].
    pub async fn bot_user_id(&self) -> Result<UserId, DiscordError> {
        match self {
            Self::Http(http) => http.bot_user_id().await,
            Self::Link(link) => link.bot_user_id().await,
        }
    }

    /// See [`HttpRest::send_message`].
    pub async fn send_message(
        &self,
        channel: ChannelId,
        content: &str,
    ) -> Result<Id<MessageMarker>, DiscordError> {
        match self {
            Self::Http(http) => http.send_message(channel, content).await,
            Self::Link(link) => Ok(link
                .typed::<MessageSent>(Command::SendMessage {
                    channel_id: channel,
                    content: content.to_owned(),
                })
                .await?
                .message_id),
        }
    }

    /// See [`HttpRest::add_reaction`].
    pub async fn add_reaction(
        &self,
        channel: ChannelId,
        message: Id<MessageMarker>,
        emoji: &str,
    ) -> Result<(), DiscordError> {
        match self {
            Self::Http(http) => http.add_reaction(channel, message, emoji).await,
            Self::Link(link) => {
                link.unit(Command::AddReaction {
                    channel_id: channel,
                    message_id: message,
                    emoji: emoji.to_owned(),
                })
                .await
            }
        }
    }
}

/// [`DiscordRest`] over the gateway link: each call is one link [`Command`]; the gateway role's
/// answers (the same outcomes [`HttpRest`] gives, e.g. a deleted channel that was already gone is
/// success) and failures come back as they were.
#[derive(Debug, Clone)]
pub struct LinkRest {
    link: LinkClient,
    /// The bot's id, asked once (the bot does not change while the process runs).
    bot_id: Arc<OnceCell<UserId>>,
}

impl LinkRest {
    /// Whether the link is up.
    pub fn is_linked(&self) -> bool {
        *self.link.linked().borrow()
    }

    /// Calls through `link`.
    pub fn new(link: LinkClient) -> Self {
        Self {
            link,
            bot_id: Arc::new(OnceCell::new()),
        }
    }

    async fn create_room_channel(&self, name: &str, owner: UserId) -> Result<ChannelId, DiscordError> {
        let created: ChannelCreated = self
            .typed(Command::CreateRoomChannel {
                name: name.to_owned(),
                owner_id: owner,
            })
            .await?;
        Ok(created.channel_id)
    }

    async fn bot_user_id(&self) -> Result<UserId, DiscordError> {
        self.bot_id
            .get_or_try_init(|| async { Ok(self.typed::<BotUser>(Command::BotUserId).await?.user_id) })
            .await
            .copied()
    }

    /// Runs a command whose answer carries nothing.
    async fn unit(&self, command: Command) -> Result<(), DiscordError> {
        self.link
            .command(command)
            .await
            .map(drop)
            .map_err(DiscordError::from)
    }

    /// Runs a command and reads its answer as `T`.
    async fn typed<T: DeserializeOwned>(&self, command: Command) -> Result<T, DiscordError> {
        let value = self.link.command(command).await.map_err(DiscordError::from)?;
        serde_json::from_value(value).map_err(|err| DiscordError::from(LinkError::BadAnswer(err.to_string())))
    }
}

/// The bot's REST client over HTTP (twilight-http), cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpRest {
    client: Arc<Client>,
    guild: Id<GuildMarker>,
    deadline: Duration,
    bot_id: Arc<OnceCell<Id<UserMarker>>>,
}

impl HttpRest {
    /// A client for `settings.api_base`. twilight always talks to `https://discord.com/api/v10`
    /// unless proxied, so any other host becomes its proxy (plain http when the base is http).
    pub fn new(settings: RestSettings) -> Self {
        let mut builder = Client::builder()
            .token(settings.token)
            .timeout(settings.deadline)
            // A 401 must not poison the client for every later call: the bot token is fixed, and a
            // failed call is reported, not remembered.
            .remember_invalid_token(false);
        let host = settings.api_base.host_str().unwrap_or_default();
        if host != "discord.com" {
            let port = settings
                .api_base
                .port_or_known_default()
                .map(|port| format!(":{port}"))
                .unwrap_or_default();
            builder = builder.proxy(format!("{host}{port}"), settings.api_base.scheme() == "http");
        }
        Self {
            client: Arc::new(builder.build()),
            guild: snowflake(settings.guild_id.get()),
            deadline: settings.deadline,
            bot_id: Arc::new(OnceCell::new()),
        }
    }

    /// Creates the private voice channel for a room: nobody but the bot and `owner` can see or
    /// join it; at most four people fit.
    pub async fn create_room_channel(&self, name: &str, owner: UserId) -> Result<ChannelId, DiscordError> {
        let bot = self.bot_id().await?;
        let overwrite = |id: Id<GenericMarker>, kind, allow, deny| ChannelOverwrite {
            allow,
            deny,
            id,
            kind,
        };
        let overwrites = [
            overwrite(
                self.guild.cast(),
                ChannelOverwriteType::Role,
                Permissions::empty(),
                EVERYONE_DENY,
            ),
            overwrite(
                bot.cast(),
                ChannelOverwriteType::Member,
                BOT_ALLOW,
                Permissions::empty(),
            ),
            overwrite(
                snowflake(owner.get()),
                ChannelOverwriteType::Member,
                PLAYER_ALLOW,
                Permissions::empty(),
            ),
        ];
        let seats = u16::try_from(model::room::MAX_PLAYERS).unwrap_or(u16::MAX);
        let channel = self
            .call(async {
                self.client
                    .create_guild_channel(self.guild, name)
                    .kind(ChannelType::GuildVoice)
                    .user_limit(seats)
                    .permission_overwrites(&overwrites)
                    .await
                    .map_err(CallError::from)?
                    .model()
                    .await
                    .map_err(CallError::from)
            })
            .await?;
        Ok(ChannelId::new(channel.id.into_nonzero()))
    }

    /// Lets `user` see, join and speak in the room's channel.
    pub async fn allow_player(&self, channel: ChannelId, user: UserId) -> Result<(), DiscordError> {
        let overwrite = member_overwrite(snowflake(user.get()), PLAYER_ALLOW);
        self.call(async {
            self.client
                .update_channel_permission(snowflake(channel.get()), &overwrite)
                .await
        })
        .await
        .map(drop)
    }

    /// Takes away `user`'s access to the room's channel.
    pub async fn forbid_player(&self, channel: ChannelId, user: UserId) -> Result<(), DiscordError> {
        self.call(async {
            self.client
                .delete_channel_permission(snowflake(channel.get()))
                .member(snowflake(user.get()))
                .await
        })
        .await
        .map(drop)
    }

    /// Deletes a room's channel; one that is already gone counts as deleted.
    pub async fn delete_channel(&self, channel: ChannelId) -> Result<(), DiscordError> {
        match self
            .call(async { self.client.delete_channel(snowflake(channel.get())).await })
            .await
        {
            Ok(_) | Err(DiscordError::UnknownChannel | DiscordError::Unknown(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Adds `user` to the guild with their OAuth2 access token (`guilds.join`); being a member
    /// already (204) is success too.
    pub async fn add_to_guild(&self, user: UserId, access_token: &str) -> Result<(), DiscordError> {
        self.call(async {
            self.client
                .add_guild_member(self.guild, snowflake(user.get()), access_token)
                .await
        })
        .await
        .map(drop)
    }

    /// Moves `user`, who must be in some voice channel already, into `channel`.
    pub async fn move_to(&self, user: UserId, channel: ChannelId) -> Result<(), DiscordError> {
        self.call(async {
            self.client
                .update_guild_member(self.guild, snowflake(user.get()))
                .channel_id(Some(snowflake(channel.get())))
                .await
        })
        .await
        .map(drop)
    }

    /// Disconnects `user` from voice; a user not in voice is fine.
    pub async fn disconnect(&self, user: UserId) -> Result<(), DiscordError> {
        match self
            .call(async {
                self.client
                    .update_guild_member(self.guild, snowflake(user.get()))
                    .channel_id(None)
                    .await
            })
            .await
        {
            Ok(_) | Err(DiscordError::NotInVoice) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// The voice channel `user` is in, asked of Discord itself (for when the roster cannot say);
    /// `None` when they are not in voice (Discord's 404 "Unknown voice state").
    pub async fn voice_channel_of(&self, user: UserId) -> Result<Option<ChannelId>, DiscordError> {
        let state = self
            .call(async {
                self.client
                    .user_voice_state(self.guild, snowflake(user.get()))
                    .await
                    .map_err(CallError::from)?
                    .model()
                    .await
                    .map_err(CallError::from)
            })
            .await;
        match state {
            Ok(state) => Ok(state
                .channel_id
                .map(|channel| ChannelId::new(channel.into_nonzero()))),
            Err(DiscordError::Unknown(_) | DiscordError::NotInVoice) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Every channel of the guild (`GET /guilds/{guild}/channels`).
    pub async fn guild_channels(&self) -> Result<Vec<GuildChannel>, DiscordError> {
        let channels = self
            .call(async {
                self.client
                    .guild_channels(self.guild)
                    .await
                    .map_err(CallError::from)?
                    .model()
                    .await
                    .map_err(CallError::from)
            })
            .await?;
        Ok(channels
            .into_iter()
            .map(|channel| GuildChannel {
                id: ChannelId::new(channel.id.into_nonzero()),
                voice: channel.kind == ChannelType::GuildVoice,
                name: channel.name.unwrap_or_default(),
                member_allows: channel
                    .permission_overwrites
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|overwrite| overwrite.kind == ChannelOverwriteType::Member)
                    .map(|overwrite| (UserId::new(overwrite.id.into_nonzero()), overwrite.allow))
                    .collect(),
            })
            .collect())
    }

    /// The bot's own user id (asked once, then remembered).
    pub async fn bot_user_id(&self) -> Result<UserId, DiscordError> {
        Ok(UserId::new(self.bot_id().await?.into_nonzero()))
    }

    /// Posts `content` in `channel` (`POST /channels/{channel}/messages`); the new message's id.
    pub async fn send_message(
        &self,
        channel: ChannelId,
        content: &str,
    ) -> Result<Id<MessageMarker>, DiscordError> {
        let message = self
            .call(async {
                self.client
                    .create_message(snowflake(channel.get()))
                    .content(content)
                    .await
                    .map_err(CallError::from)?
                    .model()
                    .await
                    .map_err(CallError::from)
            })
            .await?;
        Ok(message.id)
    }

    /// Reacts to a message as the bot (`PUT /channels/{c}/messages/{m}/reactions/{emoji}/@me`).
    /// `emoji` is a Unicode emoji, or a custom one as `name:id`.
    pub async fn add_reaction(
        &self,
        channel: ChannelId,
        message: Id<MessageMarker>,
        emoji: &str,
    ) -> Result<(), DiscordError> {
        let reaction = reaction_type(emoji);
        self.call(async {
            self.client
                .create_reaction(snowflake(channel.get()), message, &reaction)
                .await
        })
        .await
        .map(drop)
    }

    /// The bot's own user id, asked once.
    async fn bot_id(&self) -> Result<Id<UserMarker>, DiscordError> {
        self.bot_id
            .get_or_try_init(|| async {
                let me = self
                    .call(async {
                        self.client
                            .current_user()
                            .await
                            .map_err(CallError::from)?
                            .model()
                            .await
                            .map_err(CallError::from)
                    })
                    .await?;
                Ok(me.id)
            })
            .await
            .copied()
    }

    /// Runs one call under the deadline and classifies its failure.
    async fn call<T, E>(&self, request: impl Future<Output = Result<T, E>>) -> Result<T, DiscordError>
    where
        E: Into<CallError>,
    {
        match tokio::time::timeout(self.deadline, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(classify(err.into())),
            Err(_) => Err(DiscordError::Failed(format!(
                "no answer within {:?} (rate limited or unreachable)",
                self.deadline
            ))),
        }
    }
}

/// A failed request or a failed decoding of its answer.
enum CallError {
    /// The request failed.
    Http(HttpError),
    /// The answer could not be read.
    Body(twilight_http::response::DeserializeBodyError),
}

impl From<HttpError> for CallError {
    fn from(err: HttpError) -> Self {
        Self::Http(err)
    }
}

impl From<twilight_http::response::DeserializeBodyError> for CallError {
    fn from(err: twilight_http::response::DeserializeBodyError) -> Self {
        Self::Body(err)
    }
}

fn classify(err: CallError) -> DiscordError {
    let err = match err {
        CallError::Http(err) => err,
        CallError::Body(err) => return DiscordError::Failed(format!("unreadable answer: {err}")),
    };
    if let ErrorType::Response { error, status, .. } = err.kind() {
        let code = match error {
            ApiError::General(general) => Some(general.code),
            _ => None,
        };
        return match (status.get(), code) {
            (_, Some(NOT_IN_VOICE)) => DiscordError::NotInVoice,
            (404, Some(UNKNOWN_CHANNEL)) => DiscordError::UnknownChannel,
            (403, _) => DiscordError::Denied(error.to_string()),
            (404, _) => DiscordError::Unknown(error.to_string()),
            (status, _) => DiscordError::Failed(format!("status {status}: {error}")),
        };
    }
    DiscordError::Failed(err.to_string())
}

/// `name:id` is a custom emoji (as Discord writes it in reaction routes); anything else is Unicode.
fn reaction_type(emoji: &str) -> RequestReactionType<'_> {
    if let Some((name, id)) = emoji.rsplit_once(':')
        && let Ok(id) = id.parse::<NonZeroU64>()
    {
        return RequestReactionType::Custom {
            id: Id::from(id),
            name: Some(name).filter(|name| !name.is_empty()),
        };
    }
    RequestReactionType::Unicode { name: emoji }
}

fn member_overwrite(id: Id<GenericMarker>, allow: Permissions) -> PermissionOverwrite {
    PermissionOverwrite {
        id,
        kind: PermissionOverwriteType::Member,
        allow: Some(allow),
        deny: None,
    }
}

/// Our snowflakes are non-zero by construction, as twilight's ids are.
fn snowflake<T>(id: u64) -> Id<T> {
    Id::new(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_never_print_the_bot_token() {
        let settings = RestSettings {
            token: "secret-bot-token".to_owned(),
            api_base: Url::parse("https://discord.com/api/v10").unwrap(),
            guild_id: "2000000000000000001".parse().unwrap(),
            deadline: DEFAULT_DEADLINE,
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }
}
