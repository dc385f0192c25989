//! The keys session records are encrypted with: XChaCha20-Poly1305, a fresh random nonce per
//! encryption, keys derived with HKDF-SHA256 from `SESSION_SECRET` (and `SESSION_SECRET_PREVIOUS`,
//! accepted for opening only, so a rotation signs nobody out).
//!
//! Without `SESSION_SECRET` (development only; production refuses to start without it) a random
//! secret is generated once and kept in `session.key` beside the SQLite file, or in the working
//! directory on PostgreSQL, readable by its owner only, so restarts keep everyone signed in.

use std::{
    fmt,
    io::Write as _,
    path::{Path, PathBuf},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    Key, XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::config::{Config, DatabaseConfig};

/// The development key file's name.
pub const KEY_FILE_NAME: &str = "session.key";

/// Fixed HKDF salt and info: they separate these keys from any other use of the same secret.
const HKDF_SALT: &[u8] = b"spell-coven/session-keys";
const HKDF_INFO: &[u8] = b"session record encryption v1";
/// Additional data bound to every ciphertext, so a value sealed for something else never opens here.
const AAD: &[u8] = b"spell-coven session record v1";
/// Sealed values start with this, naming the format (a future change of format or cipher gets `v2.`).
const PREFIX: &str = "v1.";
const NONCE_LEN: usize = 24;

/// Why the session keys could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The development key file could not be read or written.
    #[error("cannot use the session key file {path}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The development key file exists but does not hold a key (it was edited or truncated).
    #[error(
        "the session key file {0} does not hold a key; delete it to make a new one (everyone is signed out)"
    )]
    Malformed(PathBuf),
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Not something [`SessionKeys::seal`] produced (a plaintext record, a truncated value).
    #[error("not a sealed value")]
    Malformed,
    /// Sealed under a key we no longer have (or tampered with): treat it as signed out.
    #[error("sealed under an unknown key")]
    UnknownKey,
}

/// Encryption failed (the AEAD refuses only messages beyond 256 GiB, so this is a bug).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot encrypt the session record")]
pub struct SealError;

/// Which key opened a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenedWith {
    /// The current key: nothing to do.
    Current,
    /// The previous key: the value should be sealed again under the current one.
    Previous,
}

/// The current key (seals and opens) and, during a rotation, the previous one (opens only).
#[derive(Clone)]
pub struct SessionKeys {
    current: XChaCha20Poly1305,
    previous: Option<XChaCha20Poly1305>,
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys")
            .field("current", &"[redacted]")
            .field("previous", &self.previous.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl SessionKeys {
    /// Keys derived from a secret and, during a rotation, the secret before it.
    pub fn from_secrets(current: &SecretString, previous: Option<&SecretString>) -> Self {
        Self {
            current: cipher(current),
            previous: previous.map(cipher),
        }
    }

    /// The keys `config` asks for: from `SESSION_SECRET` (and `SESSION_SECRET_PREVIOUS`) when set,
    /// else from the development key file (see [`key_file_path`]), created on first use.
    pub fn for_config(config: &Config) -> Result<Self, KeyError> {
        if let Some(secret) = &config.session_secret {
            return Ok(Self::from_secrets(
                secret,
                config.session_secret_previous.as_ref(),
            ));
        }
        let path = key_file_path(&config.database);
        let secret = load_or_create_key_file(&path)?;
        tracing::info!(
            path = %path.display(),
            "no SESSION_SECRET: sessions are encrypted with the key in this file"
        );
        Ok(Self::from_secrets(&secret, None))
    }

    /// Encrypts `plaintext` under the current key with a fresh random nonce: `v1.` and the
    /// URL-safe base64 of nonce and ciphertext.
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, SealError> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let ciphertext = self
            .current
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: AAD,
                },
            )
            .map_err(|_| SealError)?;
        let mut bytes = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Decrypts a value [`Self::seal`] produced, with the current key or else the previous one.
    pub fn open(&self, sealed: &str) -> Result<(Vec<u8>, OpenedWith), OpenError> {
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|encoded| URL_SAFE_NO_PAD.decode(encoded).ok())
            .filter(|bytes| bytes.len() > NONCE_LEN)
            .ok_or(OpenError::Malformed)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = XNonce::from_slice(nonce);
        let payload = || Payload {
            msg: ciphertext,
            aad: AAD,
        };
        if let Ok(plaintext) = self.current.decrypt(nonce, payload()) {
            return Ok((plaintext, OpenedWith::Current));
        }
        self.previous
            .as_ref()
            .and_then(|previous| previous.decrypt(nonce, payload()).ok())
            .map(|plaintext| (plaintext, OpenedWith::Previous))
            .ok_or(OpenError::UnknownKey)
    }
}

/// HKDF-SHA256 turns a secret of any length and quality into a uniform 256-bit key.
fn cipher(secret: &SecretString) -> XChaCha20Poly1305 {
    let mut key = [0u8; 32];
    // `expand` fails only when asked for more than 255 × 32 bytes.
    let _ =
        Hkdf::<Sha256>::new(Some(HKDF_SALT), secret.expose_secret().as_bytes()).expand(HKDF_INFO, &mut key);
    XChaCha20Poly1305::new(&Key::from(key))
}

/// Where development keeps its generated secret: beside the SQLite file, or in the working
/// directory on PostgreSQL.
pub fn key_file_path(database: &DatabaseConfig) -> PathBuf {
    match database {
        DatabaseConfig::Sqlite { path } => path
            .parent()
            .map_or_else(|| PathBuf::from(KEY_FILE_NAME), |dir| dir.join(KEY_FILE_NAME)),
        DatabaseConfig::Postgres { .. } => PathBuf::from(KEY_FILE_NAME),
    }
}

/// Reads the secret in `path`, or creates the file (owner read/write only) with 256 random bits.
///
/// The file appears atomically under its final name (written aside, then hard-linked, which fails
/// if another process got there first), so two servers starting together agree on one key.
pub fn load_or_create_key_file(path: &Path) -> Result<SecretString, KeyError> {
    let file_error = |source| KeyError::File {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => return parse_key_file(path, &text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(file_error(err)),
    }
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(file_error)?;
    }
    let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let aside = path.with_extension(format!("key.{}", uuid::Uuid::new_v4().simple()));
    let written = write_owner_only(&aside, &secret).and_then(|()| std::fs::hard_link(&aside, path));
    let _ = std::fs::remove_file(&aside);
    match written {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a session key file");
            Ok(SecretString::from(secret))
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(file_error)?;
            parse_key_file(path, &text)
        }
        Err(err) => Err(file_error(err)),
    }
}

fn parse_key_file(path: &Path, text: &str) -> Result<SecretString, KeyError> {
    let text = text.trim();
    match URL_SAFE_NO_PAD.decode(text) {
        Ok(bytes) if bytes.len() == 32 => Ok(SecretString::from(text.to_owned())),
        _ => Err(KeyError::Malformed(path.to_path_buf())),
    }
}

#[cfg(unix)]
fn write_owner_only(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{secret}")?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_owner_only(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    writeln!(file, "{secret}")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(current: &str, previous: Option<&str>) -> SessionKeys {
        SessionKeys::from_secrets(
            &SecretString::from(current.to_owned()),
            previous.map(|text| SecretString::from(text.to_owned())).as_ref(),
        )
    }

    #[test]
    fn a_sealed_value_opens_and_hides_its_text_behind_a_fresh_nonce() {
        let keys = keys("current secret", None);
        let first = keys.seal(b"access-token-123").unwrap();
        let second = keys.seal(b"access-token-123").unwrap();
        assert_ne!(first, second, "a fresh nonce each time");
        assert!(!first.contains("access-token-123"));
        assert_eq!(
            keys.open(&first),
            Ok((b"access-token-123".to_vec(), OpenedWith::Current))
        );
    }

    #[test]
    fn after_a_rotation_values_sealed_under_the_previous_secret_still_open() {
        let sealed = keys("old secret", None).seal(b"tokens").unwrap();
        let rotated = keys("new secret", Some("old secret"));
        assert_eq!(
            rotated.open(&sealed),
            Ok((b"tokens".to_vec(), OpenedWith::Previous))
        );
        let resealed = rotated.seal(b"tokens").unwrap();
        assert_eq!(
            keys("new secret", None).open(&resealed),
            Ok((b"tokens".to_vec(), OpenedWith::Current)),
            "new values are sealed under the current secret"
        );
    }

    #[test]
    fn values_from_an_unknown_key_or_tampered_or_plain_do_not_open() {
        let keys = keys("current secret", Some("previous secret"));
        let foreign = super::tests::keys("someone else's secret", None)
            .seal(b"tokens")
            .unwrap();
        assert_eq!(keys.open(&foreign), Err(OpenError::UnknownKey));

        let mut tampered = keys.seal(b"tokens").unwrap().into_bytes();
        // A character inside the ciphertext (not the last, whose low bits base64 may ignore).
        let inside = tampered.len() - 10;
        tampered[inside] = if tampered[inside] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(keys.open(&tampered), Err(OpenError::UnknownKey));

        assert_eq!(keys.open("{\"access_token\":\"x\"}"), Err(OpenError::Malformed));
        assert_eq!(keys.open("v1.AAAA"), Err(OpenError::Malformed));
    }

    #[test]
    fn keys_never_print() {
        let printed = format!("{:?}", keys("very-secret", Some("very-old")));
        assert!(!printed.contains("very"), "{printed}");
    }

    #[test]
    fn the_development_key_file_is_made_once_readable_by_its_owner_only() {
        let dir = std::env::temp_dir().join(format!("spell-coven-keys-{}", uuid::Uuid::new_v4()));
        let database = DatabaseConfig::Sqlite {
            path: dir.join("data").join("app.db"),
        };
        let path = key_file_path(&database);
        assert_eq!(path, dir.join("data").join(KEY_FILE_NAME));

        let first = load_or_create_key_file(&path).unwrap();
        let again = load_or_create_key_file(&path).unwrap();
        assert_eq!(
            first.expose_secret(),
            again.expose_secret(),
            "kept across restarts"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("data")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");

        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(
            load_or_create_key_file(&path),
            Err(KeyError::Malformed(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
