//! The `/_sim` HTTP control endpoint: token check, users, voice moves and faults, observed by a
//! real twilight shard.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Reader, app_intents, shard, start_sim};

#[tokio::test]
async fn control_endpoint_drives_users_voice_and_faults() {
    let sim = start_sim(Duration::from_millis(500)).await;
    let endpoints = sim.endpoints();
    let demo = sim.demo();
    let web = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", endpoints.control_url);

    let denied = web.get(url("/state")).send().await.expect("state");
    assert_eq!(denied.status(), 401);

    let mut reader = Reader::new(shard(&sim, app_intents()));
    reader.dispatch("GUILD_CREATE").await;

    let created: Value = web
        .post(url("/users"))
        .bearer_auth(&endpoints.control_token)
        .json(&json!({"username": "erin"}))
        .send()
        .await
        .expect("create user")
        .json()
        .await
        .expect("json");
    let erin = created["id"].as_str().expect("id").to_owned();

    let joined = web
        .post(url("/voice/join"))
        .bearer_auth(&endpoints.control_token)
        .json(&json!({"user_id": erin, "channel_id": demo.games.to_string()}))
        .send()
        .await
        .expect("join");
    assert_eq!(joined.status(), 204);
    let update = reader.dispatch("VOICE_STATE_UPDATE").await;
    assert_eq!(update.d["member"]["user"]["username"], "erin");

    let not_in_voice = web
        .post(url("/voice/move"))
        .bearer_auth(&endpoints.control_token)
        .json(&json!({"user_id": demo.bob.to_string(), "channel_id": demo.games.to_string()}))
        .send()
        .await
        .expect("move");
    assert_eq!(not_in_voice.status(), 409);

    let applied: Value = web
        .post(url("/gateway/faults"))
        .bearer_auth(&endpoints.control_token)
        .json(&json!({"fault": {"kind": "reconnect"}}))
        .send()
        .await
        .expect("fault")
        .json()
        .await
        .expect("json");
    assert_eq!(applied["applied"], 1);
    reader.dispatch("RESUMED").await;

    let state: Value = web
        .get(url("/state"))
        .bearer_auth(&endpoints.control_token)
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    assert_eq!(state["resumes"], 1);
    let erin_view = state["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "erin")
        .expect("erin listed")
        .clone();
    assert_eq!(erin_view["voice_channel_id"], demo.games.to_string().as_str());
}
