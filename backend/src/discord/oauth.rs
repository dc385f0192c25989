//! Discord OAuth2 sign-in with the `oauth2` crate: authorization code + PKCE (S256) + `state`.
//!
//! Consent matches intent: signing in from the home page asks only `identify` (who the user is);
//! signing in to join a game (coming back to an invite) also asks `guilds.join`, the right to add
//! them to the server hosting the rooms. The scopes granted are kept with the tokens.

use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    HttpClientError, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    Scope, TokenResponse, TokenUrl,
    basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::session::{DiscordTokens, PendingSignIn, SignedInUser};

/// Who the user is: all a plain sign-in asks for.
pub const IDENTIFY: &str = "identify";
/// The right to add the user to the guild: asked only by a sign-in that joins a game.
pub const GUILDS_JOIN: &str = "guilds.join";

/// The scopes a sign-in coming back to `return_to` asks for: joining a game (an invite page)
/// needs `guilds.join`; anything else only `identify`.
pub fn scopes_for(return_to: &str) -> &'static [&'static str] {
    if return_to.starts_with("/invite/") {
        &[IDENTIFY, GUILDS_JOIN]
    } else {
        &[IDENTIFY]
    }
}

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Why a sign-in could not be finished. None of these is shown to the user verbatim.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// A configured URL is not usable.
    #[error("invalid OAuth2 URL")]
    Url(#[from] url::ParseError),
    /// Discord refused the grant itself (`invalid_grant` or `invalid_request`): a made-up,
    /// expired or reused code, a wrong verifier, a revoked refresh token. The user's problem (sign
    /// in again), not Discord's.
    #[error("Discord refused the grant: {0}")]
    Refused(String),
    /// The token request failed otherwise: Discord unreachable or answering 5xx or nonsense, or
    /// refusing our client credentials.
    #[error("the code exchange failed")]
    Exchange(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Fetching the user's profile failed.
    #[error("cannot fetch the Discord user")]
    Profile(#[source] reqwest::Error),
    /// Discord answered with an id that is not a snowflake.
    #[error("Discord returned a malformed user id")]
    MalformedUser,
    /// The tokens cannot be renewed: Discord gave no refresh token.
    #[error("no refresh token to renew the access token with")]
    NoRefreshToken,
}

/// The app's OAuth2 client for Discord.
#[derive(Debug, Clone)]
pub struct DiscordOAuth {
    client: Client,
    http: reqwest::Client,
    api_base: Url,
    revoke_url: Url,
    client_id: String,
    client_secret: SecretString,
}

/// Where each OAuth2 request goes, and who we are.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// The OAuth2 application id.
    pub client_id: String,
    /// Its secret.
    pub client_secret: SecretString,
    /// Discord's consent page.
    pub authorize_url: Url,
    /// The token endpoint.
    pub token_url: Url,
    /// The revocation endpoint.
    pub revoke_url: Url,
    /// REST base, for `/users/@me`.
    pub api_base: Url,
    /// Our callback, e.g. `https://spellcoven.example/auth/callback`.
    pub redirect_url: Url,
}

#[derive(Deserialize)]
struct MeResponse {
    id: String,
    username: String,
    global_name: Option<String>,
    avatar: Option<String>,
}

impl DiscordOAuth {
    /// A client for `settings`.
    pub fn new(settings: OAuthSettings) -> Result<Self, OAuthError> {
        let client = BasicClient::new(ClientId::new(settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                settings.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(AuthUrl::from_url(settings.authorize_url))
            .set_token_uri(TokenUrl::from_url(settings.token_url))
            .set_redirect_uri(RedirectUrl::from_url(settings.redirect_url));
        // No redirects: a token endpoint that redirects is an attack, not a feature.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(OAuthError::Profile)?;
        Ok(Self {
            client,
            http,
            api_base: settings.api_base,
            revoke_url: settings.revoke_url,
            client_id: settings.client_id,
            client_secret: settings.client_secret,
        })
    }

    /// The consent page URL to send the user to, and what to remember until they come back.
    pub fn begin(&self, return_to: String) -> (Url, PendingSignIn) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf) = self
            .client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(
                scopes_for(&return_to)
                    .iter()
                    .map(|scope| Scope::new((*scope).to_owned())),
            )
            .set_pkce_challenge(challenge)
            .url();
        let pending = PendingSignIn {
            csrf_state: csrf.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            return_to,
        };
        (url, pending)
    }

    /// Exchanges the callback's `code` and fetches who signed in.
    pub async fn finish(
        &self,
        code: String,
        pending: &PendingSignIn,
    ) -> Result<(SignedInUser, DiscordTokens), OAuthError> {
        let token = self
            .client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(exchange_failed)?;
        let tokens = tokens_from(&token, scopes_for(&pending.return_to));
        let access_token = tokens.access_token.clone();
        let me: MeResponse = self
            .http
            .get(format!(
                "{}/users/@me",
                self.api_base.as_str().trim_end_matches('/')
            ))
            .bearer_auth(&access_token)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(OAuthError::Profile)?
            .json()
            .await
            .map_err(OAuthError::Profile)?;
        let user = SignedInUser {
            id: me.id.parse().map_err(|_| OAuthError::MalformedUser)?,
            username: me.global_name.unwrap_or(me.username),
            avatar: me.avatar,
        };
        Ok((user, tokens))
    }

    /// Trades the refresh token for a new pair (Discord consumes the old refresh token).
    pub async fn refresh(&self, tokens: &DiscordTokens) -> Result<DiscordTokens, OAuthError> {
        let refresh = tokens.refresh_token.clone().ok_or(OAuthError::NoRefreshToken)?;
        let token = self
            .client
            .exchange_refresh_token(&RefreshToken::new(refresh))
            .request_async(&self.http)
            .await
            .map_err(exchange_failed)?;
        let granted: Vec<&str> = tokens.scopes.iter().map(String::as_str).collect();
        let mut renewed = tokens_from(&token, &granted);
        // Discord always sends a new refresh token, but keep the old one if a provider does not.
        renewed.refresh_token = renewed.refresh_token.or_else(|| tokens.refresh_token.clone());
        Ok(renewed)
    }

    /// Revokes the user's authorization (Discord revokes access and refresh token together).
    ///
    /// A plain form POST rather than the `oauth2` crate's revocation, which refuses non-https
    /// URLs and so could not talk to the embedded simulator.
    pub async fn revoke(&self, tokens: &DiscordTokens) -> Result<(), reqwest::Error> {
        self.http
            .post(self.revoke_url.clone())
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .form(&[
                ("token", tokens.access_token.as_str()),
                ("token_type_hint", "access_token"),
            ])
            .send()
            .await?
            .error_for_status()
            .map(drop)
    }
}

/// An RFC 6749 error answer about the grant is [`OAuthError::Refused`]; anything else (no answer,
/// a 5xx, an unreadable body, our credentials refused) is [`OAuthError::Exchange`].
fn exchange_failed(
    err: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>,
) -> OAuthError {
    match &err {
        RequestTokenError::ServerResponse(answer)
            if matches!(
                answer.error(),
                BasicErrorResponseType::InvalidGrant | BasicErrorResponseType::InvalidRequest
            ) =>
        {
            OAuthError::Refused(answer.error().to_string())
        }
        _ => OAuthError::Exchange(Box::new(err)),
    }
}

/// The tokens of a token response, with the expiry made absolute and the scopes it grants (those
/// `asked` when the response does not say, as OAuth2 allows when they are the same).
fn tokens_from(token: &impl TokenResponse, asked: &[&str]) -> DiscordTokens {
    let expires_at = token.expires_in().map(|ttl| {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        time::OffsetDateTime::now_utc()
            .unix_timestamp()
            .saturating_add(ttl)
    });
    DiscordTokens {
        access_token: token.access_token().secret().clone(),
        refresh_token: token.refresh_token().map(|token| token.secret().clone()),
        expires_at,
        scopes: token.scopes().map_or_else(
            || asked.iter().map(|scope| (*scope).to_owned()).collect(),
            |granted| granted.iter().map(|scope| scope.to_string()).collect(),
        ),
    }
}
