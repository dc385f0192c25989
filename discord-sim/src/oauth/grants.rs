//! Authorization codes, access and refresh tokens. Owned by `State::oauth`.
//!
//! One authorization ties a user and scopes to one access/refresh pair. Refreshing replaces the
//! pair (the old refresh token is consumed); revoking either token ends the authorization.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::id::Snowflake;

/// A code handed out by the consent page, redeemable once.
#[derive(Debug, Clone)]
pub(crate) struct PendingCode {
    pub(crate) user: Snowflake,
    pub(crate) scopes: Vec<String>,
    pub(crate) redirect_uri: Option<String>,
    /// PKCE S256 challenge, if the authorize request had one.
    pub(crate) challenge: Option<String>,
    pub(crate) expires: Instant,
}

#[derive(Debug, Clone)]
struct Authorization {
    user: Snowflake,
    scopes: Vec<String>,
    access: String,
    refresh: String,
    access_expires: Instant,
}

/// A freshly issued token pair.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub(crate) access: String,
    pub(crate) refresh: String,
    pub(crate) scopes: Vec<String>,
}

/// Why a grant was refused (`invalid_grant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GrantError {
    #[error("Invalid \"code\" in request.")]
    Code,
    #[error("Invalid \"code_verifier\" in request.")]
    Verifier,
    #[error("Invalid \"redirect_uri\" in request.")]
    RedirectUri,
    #[error("Invalid \"refresh_token\" in request")]
    Refresh,
}

/// Every OAuth2 secret the simulator has handed out.
#[derive(Debug, Default)]
pub(crate) struct OAuthState {
    codes: HashMap<String, PendingCode>,
    authorizations: Vec<Authorization>,
}

fn secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl OAuthState {
    /// Stores a code and returns it.
    pub(crate) fn issue_code(&mut self, code: PendingCode) -> String {
        let value = secret();
        self.codes.insert(value.clone(), code);
        value
    }

    /// Redeems a code (removing it whatever the outcome: codes are single-use).
    pub(crate) fn redeem_code(
        &mut self,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        ttl: Duration,
    ) -> Result<Issued, GrantError> {
        let pending = self.codes.remove(code).ok_or(GrantError::Code)?;
        if pending.expires <= Instant::now() {
            return Err(GrantError::Code);
        }
        if pending.redirect_uri.is_some() && pending.redirect_uri.as_deref() != redirect_uri {
            return Err(GrantError::RedirectUri);
        }
        if let Some(challenge) = &pending.challenge {
            let verifier = verifier.ok_or(GrantError::Verifier)?;
            if s256(verifier) != *challenge {
                return Err(GrantError::Verifier);
            }
        }
        Ok(self.authorize(pending.user, pending.scopes, ttl))
    }

    /// Swaps a refresh token for a new pair.
    pub(crate) fn refresh(&mut self, refresh: &str, ttl: Duration) -> Result<Issued, GrantError> {
        let index = self
            .authorizations
            .iter()
            .position(|auth| auth.refresh == refresh)
            .ok_or(GrantError::Refresh)?;
        let old = self.authorizations.swap_remove(index);
        Ok(self.authorize(old.user, old.scopes, ttl))
    }

    /// Ends the authorization holding `token` (access or refresh); unknown tokens are ignored,
    /// as RFC 7009 asks.
    pub(crate) fn revoke(&mut self, token: &str) {
        self.authorizations
            .retain(|auth| auth.access != token && auth.refresh != token);
    }

    /// The user and scopes behind a live access token.
    pub(crate) fn user_of(&self, access: &str) -> Option<(Snowflake, Vec<String>)> {
        let now = Instant::now();
        self.authorizations
            .iter()
            .find(|auth| auth.access == access && auth.access_expires > now)
            .map(|auth| (auth.user, auth.scopes.clone()))
    }

    fn authorize(&mut self, user: Snowflake, scopes: Vec<String>, ttl: Duration) -> Issued {
        let issued = Issued {
            access: secret(),
            refresh: secret(),
            scopes: scopes.clone(),
        };
        self.authorizations.push(Authorization {
            user,
            scopes,
            access: issued.access.clone(),
            refresh: issued.refresh.clone(),
            access_expires: crate::timestamp::instant_after(ttl),
        });
        issued
    }
}

/// PKCE S256: base64url (no padding) of the SHA-256 of the verifier.
pub(crate) fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            super::s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
