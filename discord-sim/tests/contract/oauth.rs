//! The real `oauth2` client through the consent page, code exchange with PKCE, code reuse,
//! refresh and revocation; the Bearer token then used with twilight-http.

use discord_sim::SimHandle;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, RequestTokenError, RevocationUrl, Scope, StandardRevocableToken,
    TokenResponse, TokenUrl,
};
use twilight_model::id::Id;

use crate::rest::{bot_http, http};
use crate::support::start_sim;

const REDIRECT: &str = "http://127.0.0.1:9/callback";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// Walks the consent page as `user_id` and returns the code and echoed state.
async fn consent(sim: &SimHandle, auth_url: &url::Url, user_id: &str) -> (String, String) {
    let web = no_redirects();
    let page = web.get(auth_url.clone()).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("Sign in as Alice"),
        "consent page lists people: {html}"
    );
    let mut form: Vec<(String, String)> = auth_url.query_pairs().into_owned().collect();
    form.push(("user_id".to_owned(), user_id.to_owned()));
    let answer = web
        .post(sim.endpoints().oauth_authorize_url)
        .form(&form)
        .send()
        .await
        .expect("decision");
    assert_eq!(answer.status(), 302);
    let location = answer.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.starts_with(REDIRECT));
    let back = url::Url::parse(&location).expect("redirect url");
    let get = |key: &str| {
        back.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
            .expect(key)
    };
    (get("code"), get("state"))
}

type Client = oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
    oauth2::EndpointSet,
>;

fn oauth_client(sim: &SimHandle) -> Client {
    let endpoints = sim.endpoints();
    BasicClient::new(ClientId::new(endpoints.client_id.clone()))
        .set_client_secret(ClientSecret::new(endpoints.client_secret.clone()))
        .set_auth_uri(AuthUrl::new(endpoints.oauth_authorize_url.clone()).expect("auth url"))
        .set_token_uri(TokenUrl::new(endpoints.oauth_token_url.clone()).expect("token url"))
        .set_revocation_url(RevocationUrl::new(endpoints.oauth_revoke_url).expect("revoke"))
        .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).expect("redirect"))
}

/// Starts an authorization with PKCE, consents as `user` and returns the code and verifier.
async fn authorize(sim: &SimHandle, client: &Client, user: &str) -> (String, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("identify".to_owned()))
        .add_scope(Scope::new("guilds.join".to_owned()))
        .add_scope(Scope::new("guilds".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let (code, echoed) = consent(sim, &auth_url, user).await;
    assert_eq!(&echoed, csrf.secret());
    (code, verifier)
}

fn is_invalid_grant<T>(
    result: &Result<T, RequestTokenError<impl std::error::Error, oauth2::basic::BasicErrorResponse>>,
) -> bool {
    matches!(result, Err(RequestTokenError::ServerResponse(e)) if *e.error() == BasicErrorResponseType::InvalidGrant)
}

#[tokio::test]
async fn code_flow_with_pkce_rejects_wrong_verifiers_and_reused_codes() {
    let sim = start_sim(std::time::Duration::from_millis(500)).await;
    let client = oauth_client(&sim);
    let web = no_redirects();
    let stranger = sim.create_stranger("dave");

    // A wrong verifier is refused, and burns the code (codes are single-use).
    let (code, _) = authorize(&sim, &client, &stranger.to_string()).await;
    let wrong = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new("x".repeat(43)))
        .request_async(&web)
        .await;
    assert!(is_invalid_grant(&wrong));

    let (code, verifier) = authorize(&sim, &client, &stranger.to_string()).await;
    let token = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&web)
        .await
        .expect("token");
    let scopes: Vec<String> = token
        .scopes()
        .expect("scopes")
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["identify", "guilds.join", "guilds"]);
    let reused = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new("y".repeat(43)))
        .request_async(&web)
        .await;
    assert!(is_invalid_grant(&reused));

    // The Bearer token works with twilight-http's users/@me and for adding the user to the guild.
    let as_user = http(&sim, &format!("Bearer {}", token.access_token().secret()));
    let me = as_user
        .current_user()
        .await
        .expect("me")
        .model()
        .await
        .expect("decodes");
    assert_eq!(me.id.get(), stranger.get());
    let guild = Id::new(sim.endpoints().guild_id.get());
    let bot = bot_http(&sim);
    let secret = token.access_token().secret();
    let added = bot
        .add_guild_member(guild, Id::new(stranger.get()), secret)
        .await
        .expect("add member");
    assert_eq!(added.status().get(), 201);
    let again = bot
        .add_guild_member(guild, Id::new(stranger.get()), secret)
        .await
        .expect("already a member");
    assert_eq!(again.status().get(), 204);
    let guilds = as_user
        .current_user_guilds()
        .await
        .expect("guilds")
        .models()
        .await
        .expect("guilds decode");
    assert_eq!(guilds.len(), 1, "a member now");
}

#[tokio::test]
async fn refresh_consumes_the_old_token_and_revoke_ends_the_grant() {
    let sim = start_sim(std::time::Duration::from_millis(500)).await;
    let endpoints = sim.endpoints();
    let client = oauth_client(&sim);
    let web = no_redirects();
    let (code, verifier) = authorize(&sim, &client, &sim.demo().alice.to_string()).await;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&web)
        .await
        .expect("token");
    let refresh = token.refresh_token().expect("refresh token").clone();
    let refreshed = client
        .exchange_refresh_token(&refresh)
        .request_async(&web)
        .await
        .expect("refresh");
    let consumed = client.exchange_refresh_token(&refresh).request_async(&web).await;
    assert!(is_invalid_grant(&consumed), "old refresh token is consumed");

    // The `oauth2` crate refuses a plain-http revocation URL (`InsecureUrl`), so revoke the way
    // it would over https: a form POST with Basic client auth.
    let access = refreshed.access_token().clone();
    assert!(
        client
            .revoke_token(StandardRevocableToken::AccessToken(access.clone()))
            .is_err(),
        "oauth2 only revokes over https"
    );
    let revoked = web
        .post(&endpoints.oauth_revoke_url)
        .basic_auth(&endpoints.client_id, Some(&endpoints.client_secret))
        .form(&[
            ("token", access.secret().as_str()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);
    let after = client
        .exchange_refresh_token(&RefreshToken::new(
            refreshed.refresh_token().expect("refresh").secret().clone(),
        ))
        .request_async(&web)
        .await;
    assert!(
        is_invalid_grant(&after),
        "revoking the access token ends the refresh token too"
    );
    let as_user = http(&sim, &format!("Bearer {}", access.secret()));
    assert!(
        as_user.current_user().await.is_err(),
        "revoked access token gets 401"
    );
}

#[tokio::test]
async fn bad_client_secret_is_invalid_client() {
    let sim = start_sim(std::time::Duration::from_millis(500)).await;
    let endpoints = sim.endpoints();
    let client = BasicClient::new(ClientId::new(endpoints.client_id.clone()))
        .set_client_secret(ClientSecret::new("nope".to_owned()))
        .set_token_uri(TokenUrl::new(endpoints.oauth_token_url.clone()).expect("token url"));
    let result = client
        .exchange_code(AuthorizationCode::new("whatever".to_owned()))
        .request_async(&no_redirects())
        .await;
    assert!(
        matches!(result, Err(RequestTokenError::ServerResponse(ref e)) if *e.error() == BasicErrorResponseType::InvalidClient)
    );
}

#[tokio::test]
async fn consent_page_validates_client_and_redirect_and_honours_cancel() {
    let mut config = discord_sim::SimConfig::fast(std::time::Duration::from_millis(500));
    config.redirect_uris = vec![REDIRECT.to_owned()];
    let sim = crate::support::start_with(config).await;
    let endpoints = sim.endpoints();
    let web = no_redirects();
    let page = |client_id: &str, redirect: &str| {
        let mut url = url::Url::parse(&endpoints.oauth_authorize_url).expect("url");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "identify")
            .append_pair("state", "xyz");
        url
    };
    let unknown = web.get(page("123", REDIRECT)).send().await.expect("page");
    assert_eq!(unknown.status(), 400, "unknown client id");
    let unregistered = web
        .get(page(&endpoints.client_id, "http://evil.example/cb"))
        .send()
        .await
        .expect("page");
    assert_eq!(
        unregistered.status(),
        400,
        "unregistered redirect_uri is never redirected to"
    );

    let good = page(&endpoints.client_id, REDIRECT);
    let mut form: Vec<(String, String)> = good.query_pairs().into_owned().collect();
    form.push(("deny".to_owned(), "1".to_owned()));
    let cancelled = web
        .post(&endpoints.oauth_authorize_url)
        .form(&form)
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancelled.status(), 302);
    let location = cancelled.headers()["location"].to_str().expect("location");
    assert!(location.starts_with(REDIRECT), "{location}");
    assert!(location.contains("error=access_denied") && location.contains("state=xyz"));
}
