//! The real twilight-http client against `/api/v10`, with REST changes seen on the gateway.

use std::time::Duration;

use discord_sim::{RestFault, RestFaultRule, SimHandle};
use twilight_http::Client;
use twilight_http::api_error::ApiError;
use twilight_http::error::ErrorType;
use twilight_http::request::channel::reaction::RequestReactionType;
use twilight_model::channel::ChannelType;
use twilight_model::channel::permission_overwrite::{PermissionOverwrite, PermissionOverwriteType};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;

use crate::support::{Reader, app_intents, shard, start_sim};

const HEARTBEAT: Duration = Duration::from_millis(500);

pub(crate) fn http(sim: &SimHandle, token: &str) -> Client {
    crate::support::install_crypto();
    Client::builder()
        .token(token.to_owned())
        .proxy(sim.endpoints().proxy_host, true)
        .timeout(Duration::from_secs(10))
        .build()
}

pub(crate) fn bot_http(sim: &SimHandle) -> Client {
    http(sim, &format!("Bot {}", sim.bot_token()))
}

/// The Discord error code of a failed request.
fn api_code(err: &twilight_http::Error) -> Option<(u16, u64)> {
    match err.kind() {
        ErrorType::Response {
            error: ApiError::General(general),
            status,
            ..
        } => Some((status.get(), general.code)),
        ErrorType::Response { status, .. } => Some((status.get(), 0)),
        _ => None,
    }
}

#[tokio::test]
async fn created_channel_arrives_as_channel_create_on_the_gateway() {
    let sim = start_sim(HEARTBEAT).await;
    let guild = Id::new(sim.endpoints().guild_id.get());
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    let client = bot_http(&sim);
    let overwrites = [
        PermissionOverwrite {
            allow: Permissions::empty(),
            deny: Permissions::VIEW_CHANNEL | Permissions::CONNECT,
            id: guild.cast(),
            kind: PermissionOverwriteType::Role,
        },
        PermissionOverwrite {
            allow: Permissions::VIEW_CHANNEL | Permissions::CONNECT,
            deny: Permissions::empty(),
            id: Id::new(sim.demo().alice.get()),
            kind: PermissionOverwriteType::Member,
        },
        // Without this the bot could not see its own channel and would get no CHANNEL_CREATE.
        PermissionOverwrite {
            allow: Permissions::from_bits_truncate(17_826_833),
            deny: Permissions::empty(),
            id: Id::new(discord_sim::world::BOT_ID.get()),
            kind: PermissionOverwriteType::Member,
        },
    ];
    let response = client
        .create_guild_channel(guild, "private-alice")
        .kind(ChannelType::GuildVoice)
        .user_limit(2)
        .permission_overwrites(&overwrites)
        .await
        .expect("create channel");
    assert_eq!(response.status().get(), 201);
    let channel = response.model().await.expect("channel decodes");
    assert_eq!(channel.user_limit, Some(2));
    let created = reader.dispatch("CHANNEL_CREATE").await;
    assert_eq!(created.d["id"], channel.id.to_string().as_str());
    assert_eq!(created.d["permission_overwrites"][0]["deny"], "1049600");
}

#[tokio::test]
async fn moving_members_follows_the_40032_rule_and_emits_voice_updates() {
    let sim = start_sim(HEARTBEAT).await;
    let demo = sim.demo();
    let guild = Id::new(sim.endpoints().guild_id.get());
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    let client = bot_http(&sim);

    let err = client
        .update_guild_member(guild, Id::new(demo.bob.get()))
        .channel_id(Some(Id::new(demo.games.get())))
        .await
        .expect_err("bob is not in voice");
    assert_eq!(api_code(&err), Some((400, 40_032)));

    let member = client
        .update_guild_member(guild, Id::new(demo.alice.get()))
        .channel_id(Some(Id::new(demo.games.get())))
        .await
        .expect("move alice")
        .model()
        .await
        .expect("member decodes");
    assert_eq!(member.user.name, "alice");
    let moved = reader.dispatch("VOICE_STATE_UPDATE").await;
    assert_eq!(moved.d["channel_id"], demo.games.to_string().as_str());

    client
        .update_guild_member(guild, Id::new(demo.alice.get()))
        .channel_id(None)
        .await
        .expect("disconnect alice");
    let left = reader.dispatch("VOICE_STATE_UPDATE").await;
    assert!(left.d["channel_id"].is_null());
    let err = client
        .user_voice_state(guild, Id::new(demo.alice.get()))
        .await
        .expect_err("no voice state any more");
    assert_eq!(api_code(&err), Some((404, 10_065)));
}

#[tokio::test]
async fn deleting_a_populated_channel_disconnects_its_members_first() {
    let sim = start_sim(HEARTBEAT).await;
    let demo = sim.demo();
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    let client = bot_http(&sim);
    let deleted = client
        .delete_channel(Id::new(demo.lobby.get()))
        .await
        .expect("delete")
        .model()
        .await
        .expect("channel decodes");
    assert_eq!(deleted.name.as_deref(), Some("Lobby"));
    let leave = reader.dispatch("VOICE_STATE_UPDATE").await;
    assert!(leave.d["channel_id"].is_null());
    assert_eq!(leave.d["user_id"], demo.alice.to_string().as_str());
    let gone = reader.dispatch("CHANNEL_DELETE").await;
    assert_eq!(gone.d["id"], demo.lobby.to_string().as_str());
    let err = client
        .create_invite(Id::new(demo.lobby.get()))
        .await
        .expect_err("channel is gone");
    assert_eq!(api_code(&err), Some((404, 10_003)));
}

#[tokio::test]
async fn read_endpoints_decode_with_twilight_models() {
    let sim = start_sim(HEARTBEAT).await;
    let demo = sim.demo();
    let guild = Id::new(sim.endpoints().guild_id.get());
    let client = bot_http(&sim);
    let me = client
        .current_user()
        .await
        .expect("me")
        .model()
        .await
        .expect("me decodes");
    assert!(me.bot);
    let gateway = client
        .gateway()
        .authed()
        .await
        .expect("gw")
        .model()
        .await
        .expect("gw decodes");
    assert_eq!(gateway.url, sim.endpoints().gateway_url);
    let member = client
        .guild_member(guild, Id::new(demo.carol.get()))
        .await
        .expect("member")
        .model()
        .await
        .expect("member decodes");
    assert_eq!(member.user.name, "carol");
    let voice = client
        .user_voice_state(guild, Id::new(demo.alice.get()))
        .await
        .expect("voice state")
        .model()
        .await
        .expect("voice state decodes");
    assert_eq!(voice.channel_id.map(Id::get), Some(demo.lobby.get()));
    let invite = client
        .create_invite(Id::new(demo.lobby.get()))
        .max_age(3600)
        .max_uses(1)
        .await
        .expect("invite")
        .model()
        .await
        .expect("invite decodes");
    assert_eq!(invite.max_uses, Some(1));
    let overwrite = twilight_model::http::permission_overwrite::PermissionOverwrite {
        allow: Some(Permissions::VIEW_CHANNEL),
        deny: None,
        id: Id::new(demo.bob.get()),
        kind: twilight_model::http::permission_overwrite::PermissionOverwriteType::Member,
    };
    let status = client
        .update_channel_permission(Id::new(demo.lobby.get()), &overwrite)
        .await
        .expect("permission")
        .status();
    assert_eq!(status.get(), 204);
    let err = client
        .guild_member(guild, Id::new(999))
        .await
        .expect_err("unknown member");
    assert_eq!(api_code(&err), Some((404, 10_007)));
}

#[tokio::test]
async fn user_scoped_429_is_retried_after_reset_after() {
    let sim = start_sim(HEARTBEAT).await;
    sim.push_rest_fault(RestFaultRule {
        fault: RestFault::RateLimit {
            global: false,
            retry_after: 0.2,
        },
        path: "/users/@me".to_owned(),
        times: 1,
    });
    let client = bot_http(&sim);
    let me = client.current_user().await.expect("retried after the 429");
    assert_eq!(me.status().get(), 200);
    let counters = sim.counters();
    assert_eq!((counters.rate_limited, counters.rest_requests), (1, 2));
}

#[tokio::test]
async fn global_429_is_retried_and_5xx_is_surfaced() {
    let sim = start_sim(HEARTBEAT).await;
    sim.push_rest_fault(RestFaultRule {
        fault: RestFault::RateLimit {
            global: true,
            retry_after: 0.1,
        },
        path: String::new(),
        times: 2,
    });
    let client = bot_http(&sim);
    client.current_user().await.expect("retried past the global 429s");
    assert_eq!(sim.counters().rate_limited, 2);
    sim.push_rest_fault(RestFaultRule {
        fault: RestFault::Status { status: 502 },
        path: String::new(),
        times: 1,
    });
    let err = client.current_user().await.expect_err("502");
    assert_eq!(api_code(&err).map(|(status, _)| status), Some(502));
}

#[tokio::test]
async fn wrong_bot_token_gets_401() {
    let sim = start_sim(HEARTBEAT).await;
    let client = http(&sim, "Bot wrong");
    let err = client.current_user().await.expect_err("401");
    assert!(matches!(err.kind(), ErrorType::Unauthorized) || api_code(&err) == Some((401, 0)));
}

#[tokio::test]
async fn private_channel_events_reach_the_bot_only_when_it_can_see_the_channel() {
    let sim = start_sim(HEARTBEAT).await;
    let guild = Id::new(sim.endpoints().guild_id.get());
    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;
    let client = bot_http(&sim);
    let hidden = [PermissionOverwrite {
        allow: Permissions::empty(),
        deny: Permissions::VIEW_CHANNEL | Permissions::CONNECT,
        id: guild.cast(),
        kind: PermissionOverwriteType::Role,
    }];
    let channel = client
        .create_guild_channel(guild, "no-bot")
        .kind(ChannelType::GuildVoice)
        .permission_overwrites(&hidden)
        .await
        .expect("create")
        .model()
        .await
        .expect("channel");
    reader.sync(&sim).await;
    assert!(
        reader.seen_dispatches("CHANNEL_CREATE").is_empty(),
        "the bot cannot see it"
    );

    // Without VIEW_CHANNEL every other permission is gone: Discord answers 50001.
    let allow_bot = twilight_model::http::permission_overwrite::PermissionOverwrite {
        allow: Some(Permissions::VIEW_CHANNEL | Permissions::CONNECT),
        deny: None,
        id: Id::new(discord_sim::world::BOT_ID.get()),
        kind: twilight_model::http::permission_overwrite::PermissionOverwriteType::Member,
    };
    let err = client
        .update_channel_permission(channel.id, &allow_bot)
        .await
        .expect_err("the bot cannot touch a channel it cannot see");
    assert_eq!(api_code(&err), Some((403, 50_001)));
    let grant_roles = [PermissionOverwrite {
        allow: Permissions::MANAGE_ROLES,
        deny: Permissions::empty(),
        id: Id::new(sim.demo().alice.get()),
        kind: PermissionOverwriteType::Member,
    }];
    let err = client
        .create_guild_channel(guild, "too-much")
        .kind(ChannelType::GuildVoice)
        .permission_overwrites(&grant_roles)
        .await
        .expect_err("granting MANAGE_ROLES needs ADMINISTRATOR");
    assert_eq!(api_code(&err), Some((403, 50_013)));
}

#[tokio::test]
async fn slow_answers_and_the_scope_header_switch() {
    let mut config = discord_sim::SimConfig::fast(HEARTBEAT);
    config.ratelimit_scope_on_success = true;
    let sim = crate::support::start_with(config).await;
    sim.push_rest_fault(RestFaultRule {
        fault: RestFault::Slow {
            delay: Duration::from_millis(50),
        },
        path: String::new(),
        times: 1,
    });
    let response = reqwest::Client::new()
        .get(format!("{}/users/@me", sim.endpoints().api_base))
        .header("authorization", format!("Bot {}", sim.bot_token()))
        .send()
        .await
        .expect("slow but answered");
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["x-ratelimit-scope"], "user");
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-reset-after",
        "x-ratelimit-bucket",
    ] {
        assert!(headers.contains_key(name), "{name}");
    }
}

#[tokio::test]
async fn an_enforced_bucket_answers_bursts_with_429s_that_twilight_waits_out() {
    let mut config = discord_sim::SimConfig::fast(HEARTBEAT);
    config.rest_bucket_limit = Some(discord_sim::RateWindow {
        count: 2,
        per: Duration::from_millis(300),
    });
    let sim = crate::support::start_with(config).await;
    let client = bot_http(&sim);
    let guild = Id::new(sim.endpoints().guild_id.get());
    let member = Id::new(sim.demo().bob.get());
    let burst = (0..5).map(|_| client.guild_member(guild, member).into_future());
    for result in futures::future::join_all(burst).await {
        assert_eq!(result.expect("eventually answered").status().get(), 200);
    }
    let counters = sim.counters();
    assert!(
        counters.rate_limited >= 1,
        "the burst hit the bucket: {counters:?}"
    );
}

#[tokio::test]
async fn channels_read_back_one_by_one_and_as_the_guild_list_agree() {
    let sim = start_sim(HEARTBEAT).await;
    let client = bot_http(&sim);
    let guild = Id::new(sim.endpoints().guild_id.get());
    let lobby = Id::new(sim.demo().lobby.get());
    let listed = client.guild_channels(guild).await.unwrap().model().await.unwrap();
    let one = client.channel(lobby).await.unwrap().model().await.unwrap();
    assert_eq!(one.kind, ChannelType::GuildVoice);
    assert_eq!(
        listed.iter().find(|channel| channel.id == lobby),
        Some(&one),
        "the list holds each channel as GET /channels/{{id}} answers it"
    );
    assert_eq!(
        listed.len(),
        sim.world().channels.len(),
        "every channel of the guild"
    );

    let unknown = client.channel(Id::new(1)).await.unwrap_err();
    assert_eq!(api_code(&unknown), Some((404, 10_003)));
    let other_guild = client.guild_channels(Id::new(1)).await.unwrap_err();
    assert_eq!(api_code(&other_guild), Some((404, 10_004)));
}

#[tokio::test]
async fn a_route_called_with_another_method_answers_405_with_discords_body() {
    let sim = start_sim(HEARTBEAT).await;
    let endpoints = sim.endpoints();
    let response = reqwest::Client::new()
        .delete(format!("{}/gateway/bot", endpoints.api_base))
        .header("authorization", format!("Bot {}", sim.bot_token()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"message": "405: Method Not Allowed", "code": 0})
    );
}

#[tokio::test]
async fn a_bot_message_decodes_with_twilight_and_the_bot_can_react_to_it() {
    let sim = start_sim(HEARTBEAT).await;
    let client = bot_http(&sim);
    let channel = Id::new(sim.demo().lobby.get());
    let response = client
        .create_message(channel)
        .content("Game night at 8")
        .await
        .expect("create message");
    assert_eq!(response.status().get(), 200);
    let message = response.model().await.expect("message decodes");
    assert_eq!(message.content, "Game night at 8");
    assert_eq!(message.channel_id, channel);
    assert_eq!(message.author.id.get(), discord_sim::world::BOT_ID.get());
    assert!(message.author.bot);

    let thumbs = RequestReactionType::Unicode { name: "👍" };
    let response = client
        .create_reaction(channel, message.id, &thumbs)
        .await
        .expect("react");
    assert_eq!(response.status().get(), 204);
    let id = discord_sim::Snowflake::new(message.id.get()).expect("non-zero");
    assert_eq!(sim.world().messages[&id].reactions, ["👍"]);

    let unknown = Id::new(4_999_999_999_999_999_999);
    let err = client
        .create_reaction(channel, unknown, &thumbs)
        .await
        .expect_err("unknown message");
    assert_eq!(api_code(&err), Some((404, 10_008)));
    let err = client
        .create_message(Id::new(4_999_999_999_999_999_999))
        .content("hi")
        .await
        .expect_err("unknown channel");
    assert_eq!(api_code(&err), Some((404, 10_003)));
}
