//! The app's Discord calls against the simulator's real REST and OAuth2 endpoints: how Discord's
//! answers become outcomes, and how a user's tokens are renewed.

#![allow(clippy::unwrap_used, reason = "a failed unwrap in a test is the assertion")]

use std::time::Duration;

use backend::{
    discord::{
        oauth::{DiscordOAuth, OAuthSettings},
        rest::{DiscordError, DiscordRest, RestSettings},
    },
    session::DiscordTokens,
};
use discord_sim::{DiscordSim, RestFault, RestFaultRule, SimConfig, SimHandle};
use model::ids::UserId;
use url::Url;

async fn simulator(config: SimConfig) -> SimHandle {
    let _ = rustls::crypto::ring::default_provider().install_default();
    DiscordSim::start(config).await.unwrap()
}

fn rest(sim: &SimHandle, deadline: Duration) -> DiscordRest {
    let endpoints = sim.endpoints();
    DiscordRest::new(RestSettings {
        token: endpoints.bot_token,
        api_base: endpoints.api_base.parse().unwrap(),
        guild_id: endpoints.guild_id.to_string().parse().unwrap(),
        deadline,
    })
}

fn user(sim_id: discord_sim::Snowflake) -> UserId {
    sim_id.to_string().parse().unwrap()
}

#[tokio::test]
async fn a_rate_limit_that_outlasts_the_deadline_is_a_failure_not_a_hang() {
    let sim = simulator(SimConfig::default()).await;
    let discord = rest(&sim, Duration::from_millis(500));
    let alice = user(sim.demo().alice);
    sim.push_rest_fault(RestFaultRule {
        fault: RestFault::RateLimit {
            global: false,
            retry_after: 60.0,
        },
        path: "/channels".to_owned(),
        times: 1,
    });
    let err = discord.create_room_channel("Limited", alice).await.unwrap_err();
    assert!(matches!(err, DiscordError::Failed(_)), "{err:?}");

    // A short limit is waited out within the deadline, invisibly to the user.
    sim.push_rest_fault(RestFaultRule {
        fault: RestFault::RateLimit {
            global: false,
            retry_after: 0.05,
        },
        path: "/channels".to_owned(),
        times: 1,
    });
    let slow_but_fine = rest(&sim, Duration::from_secs(10));
    slow_but_fine.create_room_channel("Waited", alice).await.unwrap();
}

#[tokio::test]
async fn discord_answers_become_outcomes() {
    let sim = simulator(SimConfig::default()).await;
    let discord = rest(&sim, Duration::from_secs(10));
    let demo = sim.demo();
    let channel = discord
        .create_room_channel("Table", user(demo.alice))
        .await
        .unwrap();

    // bob is not in voice: 40032.
    let err = discord.move_to(user(demo.bob), channel).await.unwrap_err();
    assert!(matches!(err, DiscordError::NotInVoice), "{err:?}");
    // Disconnecting someone not in voice is nothing to report.
    discord.disconnect(user(demo.bob)).await.unwrap();
    // alice is in the Lobby: she moves.
    discord.move_to(user(demo.alice), channel).await.unwrap();
    assert_eq!(
        sim.world().voice[&demo.alice].channel_id.to_string(),
        channel.to_string()
    );

    sim.push_rest_fault(RestFaultRule {
        fault: RestFault::Status { status: 503 },
        path: String::new(),
        times: 1,
    });
    let err = discord.allow_player(channel, user(demo.bob)).await.unwrap_err();
    assert!(matches!(err, DiscordError::Failed(_)), "{err:?}");

    discord.delete_channel(channel).await.unwrap();
    discord
        .delete_channel(channel)
        .await
        .expect("a channel already gone counts as deleted");
}

#[tokio::test]
async fn tokens_near_expiry_are_renewed_and_the_old_refresh_token_is_spent() {
    let sim = simulator(SimConfig {
        // Inside the five-minute renewal window from the start.
        access_token_ttl: Duration::from_secs(120),
        ..SimConfig::default()
    })
    .await;
    let endpoints = sim.endpoints();
    let oauth = DiscordOAuth::new(OAuthSettings {
        client_id: endpoints.client_id.clone(),
        client_secret: endpoints.client_secret.clone().into(),
        authorize_url: endpoints.oauth_authorize_url.parse().unwrap(),
        token_url: endpoints.oauth_token_url.parse().unwrap(),
        revoke_url: endpoints.oauth_revoke_url.parse().unwrap(),
        api_base: endpoints.api_base.parse().unwrap(),
        redirect_url: "http://127.0.0.1:9/auth/callback".parse().unwrap(),
    })
    .unwrap();

    // Sign in as alice through the consent page, as a browser would.
    let (authorize, pending) = oauth.begin("/".to_owned());
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("user_id".to_owned(), sim.demo().alice.to_string()));
    let mut consent = authorize.clone();
    consent.set_query(None);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let decided = http.post(consent).form(&form).send().await.unwrap();
    let callback = Url::parse(decided.headers()["location"].to_str().unwrap()).unwrap();
    let code = callback
        .query_pairs()
        .find(|(key, _)| key == "code")
        .unwrap()
        .1
        .into_owned();
    let (_, tokens) = oauth.finish(code, &pending).await.unwrap();

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        tokens.needs_renewal(now),
        "{:?} is inside the window",
        tokens.expires_at
    );
    let renewed = oauth.refresh(&tokens).await.unwrap();
    assert_ne!(renewed.access_token, tokens.access_token);
    assert!(renewed.refresh_token.is_some());

    // The new access token works; the old refresh token was spent.
    let me = http
        .get(format!("{}/users/@me", endpoints.api_base))
        .bearer_auth(&renewed.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert!(oauth.refresh(&tokens).await.is_err());
    let no_refresh = DiscordTokens {
        refresh_token: None,
        ..renewed
    };
    assert!(oauth.refresh(&no_refresh).await.is_err());
}
