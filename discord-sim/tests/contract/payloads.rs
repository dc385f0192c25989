//! Every payload the simulator emits, decoded with twilight-model (which gives precise errors,
//! unlike the untagged `GuildCreate`) and checked against the reference examples' shapes in
//! `tests/fixtures/` (copied from `reference/discord-examples/`).

use std::time::Duration;

use discord_sim::{GatewayFault, RestFault, RestFaultRule, SimConfig, SimHandle};
use serde::de::DeserializeOwned;
use serde::de::DeserializeSeed;
use serde_json::{Value, json};
use twilight_gateway::Intents;
use twilight_model::gateway::event::GatewayEventDeserializer;
use twilight_model::gateway::payload::incoming::{
    ChannelCreate, ChannelDelete, ChannelUpdate, GuildCreate, GuildDelete, MemberAdd, MemberUpdate, Ready,
    VoiceStateUpdate,
};

use crate::support::{Item, Reader, shard, start_with};

fn fixture_text(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .expect("fixture exists")
        .trim()
        .to_owned()
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture exists");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// Keys the example has that ours lacks, recursively (arrays compare their first elements).
fn missing_keys(example: &Value, ours: &Value, path: &str) -> Vec<String> {
    match (example, ours) {
        (Value::Object(example), Value::Object(ours)) => example
            .iter()
            .flat_map(|(key, value)| match ours.get(key) {
                None => vec![format!("{path}.{key}")],
                Some(mine) => missing_keys(value, mine, &format!("{path}.{key}")),
            })
            .collect(),
        (Value::Array(example), Value::Array(ours)) => {
            // Compare like with like: the element of the same `type` (a voice channel with a
            // voice channel), else the first.
            let Some(example) = example.first() else {
                return Vec::new();
            };
            let mine = ours
                .iter()
                .find(|mine| example.get("type").is_some() && mine.get("type") == example.get("type"))
                .or_else(|| ours.first());
            mine.map_or_else(Vec::new, |mine| {
                missing_keys(example, mine, &format!("{path}[0]"))
            })
        }
        _ => Vec::new(),
    }
}

fn assert_shape(example_file: &str, ours: &Value) {
    let example = fixture(example_file);
    let missing = missing_keys(&example, ours, "");
    assert!(
        missing.is_empty(),
        "{example_file}: we lack {missing:?} in {ours}"
    );
}

/// Decodes a raw frame the way twilight does, then `d` into the specific type.
fn decode_dispatch<T: DeserializeOwned>(raw: &str) -> T {
    let deserializer = GatewayEventDeserializer::from_json(raw).expect("envelope scans");
    let mut json = serde_json::Deserializer::from_str(raw);
    deserializer
        .deserialize(&mut json)
        .unwrap_or_else(|err| panic!("twilight rejects {raw}: {err}"));
    let value: Value = serde_json::from_str(raw).expect("json");
    serde_json::from_value(value["d"].clone()).unwrap_or_else(|err| panic!("d does not decode: {err}\n{raw}"))
}

async fn rest(sim: &SimHandle, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", sim.endpoints().api_base))
        .header("authorization", format!("Bot {}", sim.bot_token()));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_gateway_payload_decodes_and_matches_the_examples() {
    let mut config = SimConfig::fast(Duration::from_millis(500));
    config.privileged_intents = 2;
    let sim = start_with(config).await;
    let demo = sim.demo();
    let mut reader = Reader::new(shard(
        &sim,
        Intents::GUILDS | Intents::GUILD_VOICE_STATES | Intents::GUILD_MEMBERS,
    ));
    let ready = reader.dispatch("READY").await;
    let _: Ready = decode_dispatch(&ready.raw);
    assert_shape("ready.json", &serde_json::from_str(&ready.raw).expect("json"));
    let guild = reader.dispatch("GUILD_CREATE").await;
    let decoded: GuildCreate = decode_dispatch(&guild.raw);
    assert!(matches!(decoded, GuildCreate::Available(_)));
    assert_shape(
        "guild_create.json",
        &serde_json::from_str(&guild.raw).expect("json"),
    );

    sim.join_voice(demo.bob, demo.lobby).expect("join");
    sim.move_voice(demo.bob, demo.games).expect("move");
    sim.leave_voice(demo.bob).expect("leave");
    for example in [
        "voice_state_update_join.json",
        "voice_state_update_move.json",
        "voice_state_update_leave.json",
    ] {
        let update = reader.dispatch("VOICE_STATE_UPDATE").await;
        let _: VoiceStateUpdate = decode_dispatch(&update.raw);
        assert_shape(example, &serde_json::from_str(&update.raw).expect("json"));
    }
    channel_payloads(&sim, &mut reader).await;

    sim.create_user("frank");
    let added = reader.dispatch("GUILD_MEMBER_ADD").await;
    let _: MemberAdd = decode_dispatch(&added.raw);

    sim.fault_all(&GatewayFault::RequestHeartbeat);
    sim.fault_all(&GatewayFault::Reconnect);
    let resumed = reader.dispatch("RESUMED").await;
    assert_shape("resumed.json", &serde_json::from_str(&resumed.raw).expect("json"));
    sim.fault_all(&GatewayFault::InvalidSession { resumable: false });
    reader.dispatch("READY").await;

    // Non-dispatch frames are byte-for-byte Discord's.
    let raw_frames: Vec<&str> = reader
        .seen
        .iter()
        .filter_map(|item| match item {
            Item::Frame(frame) if frame.op != 0 => Some(frame.raw.as_str()),
            _ => None,
        })
        .collect();
    for example in [
        "heartbeat_ack.json",
        "heartbeat_request.json",
        "reconnect.json",
        "invalid_session_false.json",
    ] {
        let expected = fixture_text(example);
        assert!(
            raw_frames.contains(&expected.as_str()),
            "{example} never seen: {raw_frames:?}"
        );
    }
    assert!(
        raw_frames
            .iter()
            .any(|f| f.starts_with(r#"{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":"#))
    );
}

/// `CHANNEL_CREATE`, `CHANNEL_UPDATE` and `CHANNEL_DELETE` caused through REST.
async fn channel_payloads(sim: &SimHandle, reader: &mut Reader) {
    let demo = sim.demo();
    let guild_id = sim.endpoints().guild_id;
    let body = json!({"name": "private-alice", "type": 2, "user_limit": 2,
        "permission_overwrites": [{"id": guild_id.to_string(), "type": 0, "deny": "1049600"},
            {"id": discord_sim::world::BOT_ID.to_string(), "type": 1, "allow": "17826833"}]});
    let (status, channel) = rest(
        sim,
        reqwest::Method::POST,
        &format!("/guilds/{guild_id}/channels"),
        Some(body),
    )
    .await;
    assert_eq!(status, 201);
    assert_shape("rest_channel.json", &channel);
    let created = reader.dispatch("CHANNEL_CREATE").await;
    let _: ChannelCreate = decode_dispatch(&created.raw);
    assert_shape(
        "channel_create.json",
        &serde_json::from_str(&created.raw).expect("json"),
    );
    let id = channel["id"].as_str().expect("id").to_owned();
    let overwrite = json!({"type": 1, "allow": "1049600", "deny": "0"});
    let (status, _) = rest(
        sim,
        reqwest::Method::PUT,
        &format!("/channels/{id}/permissions/{}", demo.alice),
        Some(overwrite),
    )
    .await;
    assert_eq!(status, 204);
    let updated = reader.dispatch("CHANNEL_UPDATE").await;
    let _: ChannelUpdate = decode_dispatch(&updated.raw);
    let (status, _) = rest(sim, reqwest::Method::DELETE, &format!("/channels/{id}"), None).await;
    assert_eq!(status, 200);
    let deleted = reader.dispatch("CHANNEL_DELETE").await;
    let _: ChannelDelete = decode_dispatch(&deleted.raw);
    assert_shape(
        "channel_delete.json",
        &serde_json::from_str(&deleted.raw).expect("json"),
    );
}

#[tokio::test]
async fn member_update_outage_and_injected_dispatches_decode() {
    let mut config = SimConfig::fast(Duration::from_millis(500));
    config.privileged_intents = 2;
    let sim = start_with(config).await;
    let demo = sim.demo();
    let guild_id = sim.endpoints().guild_id;
    let mut reader = Reader::new(shard(
        &sim,
        Intents::GUILDS | Intents::GUILD_VOICE_STATES | Intents::GUILD_MEMBERS,
    ));
    reader.dispatch("GUILD_CREATE").await;

    let patch = json!({"channel_id": demo.games.to_string()});
    let (status, _) = rest(
        &sim,
        reqwest::Method::PATCH,
        &format!("/guilds/{guild_id}/members/{}", demo.alice),
        Some(patch),
    )
    .await;
    assert_eq!(status, 200);
    let update = reader.dispatch("GUILD_MEMBER_UPDATE").await;
    let _: MemberUpdate = decode_dispatch(&update.raw);

    sim.guild_outage(true);
    let outage = reader.dispatch("GUILD_DELETE").await;
    let deleted: GuildDelete = decode_dispatch(&outage.raw);
    assert!(deleted.unavailable == Some(true));
    sim.guild_outage(false);
    let back = reader.dispatch("GUILD_CREATE").await;
    let _: GuildCreate = decode_dispatch(&back.raw);
    assert_eq!(
        back.d["voice_states"][0]["channel_id"],
        demo.games.to_string().as_str()
    );

    // A guest member (joined_at null, flags IS_GUEST) as anchor #7 asks for.
    let guest = format!(
        r#"{{"guild_id":"{guild_id}","channel_id":"{}","user_id":"{}","member":{{"user":{{"id":"{}","username":"guest","discriminator":"0","global_name":null,"avatar":null}},"nick":null,"avatar":null,"roles":[],"joined_at":null,"premium_since":null,"deaf":false,"mute":false,"flags":16,"pending":false,"communication_disabled_until":null}},"session_id":"g","deaf":false,"mute":false,"self_deaf":false,"self_mute":false,"self_stream":false,"self_video":false,"suppress":false,"request_to_speak_timestamp":null}}"#,
        demo.lobby, demo.carol, demo.carol
    );
    sim.dispatch("VOICE_STATE_UPDATE", 1 << 7, &guest);
    // The move's own VOICE_STATE_UPDATE came before GUILD_MEMBER_UPDATE, so this is ours.
    let injected = reader.dispatch("VOICE_STATE_UPDATE").await;
    assert_eq!(injected.d["session_id"], "g");
    let _: VoiceStateUpdate = decode_dispatch(&injected.raw);
}

#[tokio::test]
async fn every_rest_body_decodes_and_matches_the_examples() {
    let sim = start_with(SimConfig::fast(Duration::from_millis(500))).await;
    let demo = sim.demo();
    let guild = sim.endpoints().guild_id;
    let get = reqwest::Method::GET;

    let (_, body) = rest(&sim, get.clone(), "/gateway/bot", None).await;
    assert_shape("rest_gateway_bot.json", &body);
    let _: twilight_model::gateway::connection_info::BotConnectionInfo =
        serde_json::from_value(body).expect("gateway/bot decodes");

    let (_, body) = rest(
        &sim,
        get.clone(),
        &format!("/guilds/{guild}/members/{}", demo.alice),
        None,
    )
    .await;
    assert_shape("rest_member.json", &body);
    let _: twilight_model::guild::Member = serde_json::from_value(body).expect("member decodes");

    let (_, body) = rest(
        &sim,
        get.clone(),
        &format!("/guilds/{guild}/voice-states/{}", demo.alice),
        None,
    )
    .await;
    assert_shape("rest_voice_state.json", &body);
    let _: twilight_model::voice::VoiceState = serde_json::from_value(body).expect("voice state decodes");

    let (status, body) = rest(
        &sim,
        reqwest::Method::POST,
        &format!("/channels/{}/invites", demo.lobby),
        Some(json!({"max_age": 3600, "max_uses": 1})),
    )
    .await;
    assert_eq!(status, 200);
    assert_shape("rest_invite.json", &body);
    let _: twilight_model::guild::invite::Invite = serde_json::from_value(body).expect("invite decodes");

    let (_, body) = rest(&sim, get.clone(), "/users/@me", None).await;
    let _: twilight_model::user::CurrentUser = serde_json::from_value(body).expect("bot user decodes");

    let (status, body) = rest(
        &sim,
        reqwest::Method::PATCH,
        &format!("/guilds/{guild}/members/{}", demo.bob),
        Some(json!({"channel_id": demo.games.to_string()})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body, fixture("rest_error_40032.json"));

    sim.push_rest_fault(RestFaultRule {
        fault: RestFault::RateLimit {
            global: false,
            retry_after: 1.234,
        },
        path: String::new(),
        times: 1,
    });
    let (status, body) = rest(&sim, get, "/users/@me", None).await;
    assert_eq!(status, 429);
    assert_eq!(body, fixture("rest_429_user.json"));
}

#[tokio::test]
async fn messages_and_reactions_answer_as_discord_does() {
    let sim = start_with(SimConfig::fast(Duration::from_millis(500))).await;
    let demo = sim.demo();
    let post = reqwest::Method::POST;
    let put = reqwest::Method::PUT;

    let (status, body) = rest(
        &sim,
        post.clone(),
        &format!("/channels/{}/messages", demo.general),
        Some(json!({"content": "Game night at 8"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_shape("rest_message.json", &body);
    let message: twilight_model::channel::Message = serde_json::from_value(body).expect("message decodes");

    // 👍, percent-encoded as twilight and browsers send it.
    let thumbs = "%F0%9F%91%8D";
    let reaction = format!(
        "/channels/{}/messages/{}/reactions/{thumbs}/@me",
        demo.general, message.id
    );
    for _ in 0..2 {
        let (status, _) = rest(&sim, put.clone(), &reaction, None).await;
        assert_eq!(status, 204, "reacting again is fine too");
    }

    let unknown = "4999999999999999999";
    let (status, body) = rest(
        &sim,
        post.clone(),
        &format!("/channels/{unknown}/messages"),
        Some(json!({"content": "hi"})),
    )
    .await;
    assert_eq!(
        (status, body),
        (404, json!({"message": "Unknown Channel", "code": 10003}))
    );
    let (status, body) = rest(
        &sim,
        put.clone(),
        &format!(
            "/channels/{}/messages/{unknown}/reactions/{thumbs}/@me",
            demo.general
        ),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (404, json!({"message": "Unknown Message", "code": 10008}))
    );
    let (status, body) = rest(
        &sim,
        put.clone(),
        &format!(
            "/channels/{}/messages/{}/reactions/rarity:123/@me",
            demo.general, message.id
        ),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"message": "Unknown Emoji", "code": 10014}))
    );
    let (status, body) = rest(
        &sim,
        post.clone(),
        &format!("/channels/{}/messages", demo.general),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"message": "Cannot send an empty message", "code": 50006})
        )
    );
    let (status, body) = rest(
        &sim,
        post,
        &format!("/channels/{}/messages", demo.category),
        Some(json!({"content": "hi"})),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"message": "Cannot send messages in a non-text channel", "code": 50008})
        )
    );
}
