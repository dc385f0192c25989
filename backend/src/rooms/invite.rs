//! Invite tokens: 256 random bits, URL-safe, stored only as their SHA-256.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// Random bytes in a token: unguessable, and long enough that hashing without a salt is safe.
const TOKEN_BYTES: usize = 32;
/// Their length in unpadded base64url.
const TOKEN_CHARS: usize = 43;

/// A well-formed invite token (which may or may not name a live invite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteToken(String);

impl InviteToken {
    /// A fresh random token.
    pub fn generate() -> Self {
        let bytes: [u8; TOKEN_BYTES] = rand::random();
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The token in `text`, if it has the shape of one; anything else cannot be an invite and is
    /// refused before touching the database.
    pub fn parse(text: &str) -> Option<Self> {
        let well_formed = text.len() == TOKEN_CHARS
            && URL_SAFE_NO_PAD
                .decode(text)
                .is_ok_and(|bytes| bytes.len() == TOKEN_BYTES);
        well_formed.then(|| Self(text.to_owned()))
    }

    /// What the database keeps.
    pub fn hash(&self) -> String {
        hash_token(&self.0)
    }

    /// The token, for the owner's link.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Hex SHA-256 of a token.
pub fn hash_token(token: &str) -> String {
    use std::fmt::Write;

    Sha256::digest(token.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_url_safe_and_parse_back() {
        let a = InviteToken::generate();
        let b = InviteToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.0.len(), TOKEN_CHARS);
        assert!(
            a.0.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(InviteToken::parse(&a.0), Some(a.clone()));
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = InviteToken::generate().into_string();
        let mut tampered = good.clone();
        tampered.pop();
        assert_eq!(InviteToken::parse(&tampered), None);
        assert_eq!(InviteToken::parse(&format!("{good}A")), None);
        assert_eq!(InviteToken::parse(&good.replace(|_| true, "!")), None);
        assert_eq!(InviteToken::parse(""), None);
    }
}
