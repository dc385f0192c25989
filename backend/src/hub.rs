//! The seeds' HMAC hub (seed 001, DESIGN.md §4.5): how `POST /api/internal/events` decides that
//! an event comes from the holder of `HUB_SECRET`, is fresh, is not a replay, and is one of the
//! four events the hub takes. HTTP lives in `server::routes::hub`; everything here is testable
//! without it (the clock is an argument).
//!
//! # The contract
//!
//! * `X-Hub-Timestamp`: unix time in plain digits, in **seconds or milliseconds**. The two cannot
//!   be confused: a value below 10^11 is seconds (10^11 s is the year 5138), from 10^11 on it is
//!   milliseconds (10^11 ms is March 1973). It must be within [`WINDOW`] of the server's clock,
//!   in the past or the future.
//! * `X-Hub-Signature: sha256=<hex>`: HMAC-SHA256 keyed with `HUB_SECRET` over the timestamp
//!   header's exact text, a `.`, and the raw body bytes; compared in constant time.
//! * The body: at most [`MAX_BODY`] bytes of `{"event": "voice.joined", "payload": {…}}`, the
//!   shape of [`AppEvent`], for `room.created`, `room.deleted`, `voice.joined` and `voice.left`
//!   only, about our guild only. Our `voice.left` also needs `leftChannelId` (the channel left,
//!   which routes it to a room); the seeds' shape, with `channelId: null` alone, is refused with
//!   `LEFT_CHANNEL_REQUIRED` rather than guessed at.
//! * A signed request is accepted once: its signature is remembered ([`ReplayCache`]) for twice
//!   the window, in Redis when the deployment has one, so a replay to another instance is
//!   refused too (409 `REPLAYED`).
//!
//! Checks run least trusting first: the signature (so all that someone without the secret ever
//! learns is `BAD_SIGNATURE`), its freshness, the event, and only then the replay cache, so a
//! forged or malformed request never costs a Redis round trip and only accepted requests are
//! remembered.

mod replay;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use model::{
    error::{AppError, HubError},
    event::{AppEvent, RoomCreated, RoomDeleted, VoiceJoined, VoiceLeft},
    ids::GuildId,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, de::DeserializeOwned};
use sha2::Sha256;

pub use replay::{MEMORY_CAPACITY, REMEMBER_FOR, ReplayCache, ReplayError, Seen};

/// How far `X-Hub-Timestamp` may be from the server's clock, either way.
pub const WINDOW: Duration = Duration::from_secs(60);
/// The largest body the hub reads; the seeds' events are a few hundred bytes.
pub const MAX_BODY: usize = 16 * 1024;
/// The header naming when the request was signed.
pub const TIMESTAMP_HEADER: &str = "x-hub-timestamp";
/// The header carrying `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-hub-signature";

/// From this value on, a timestamp is milliseconds; below it, seconds (see the module doc).
const MILLIS_FROM: u64 = 100_000_000_000;
/// Longest name (user or channel) an event may carry: Discord's own limit for channel names,
/// and above its limits for user and display names.
const MAX_NAME_CHARS: usize = 100;
/// Longest avatar hash (`a_` and 32 hex digits in practice).
const MAX_AVATAR_LEN: usize = 64;
/// Discord's largest voice channel user limit.
const MAX_USER_LIMIT: u32 = 99;

/// Checks signatures and timestamps with one secret. Pure: the clock is an argument.
#[derive(Clone)]
pub struct Verifier {
    /// Keyed once; cloned per request (cheaper than re-keying).
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier { .. }")
    }
}

/// A request's verified signature: what identifies it to the replay cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; 32]);

impl Signature {
    /// The signature in lowercase hex.
    pub fn hex(&self) -> String {
        use std::fmt::Write as _;
        self.0.iter().fold(String::with_capacity(64), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
    }
}

impl Verifier {
    /// A verifier for `secret` (`HUB_SECRET`).
    ///
    /// # Panics
    ///
    /// Never: HMAC takes a key of any length.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            mac: <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts any key length"),
        }
    }

    /// `X-Hub-Signature` for `body` sent at `timestamp` (`sha256=<hex>`): what a sender computes.
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        let tag = self.keyed(timestamp.as_bytes(), body).finalize().into_bytes();
        format!("sha256={}", Signature(tag.into()).hex())
    }

    /// Checks the two headers (`None` when absent) against `body` at time `now`.
    pub fn verify(
        &self,
        timestamp: Option<&[u8]>,
        signature: Option<&[u8]>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Signature, HubError> {
        let timestamp = timestamp.ok_or(HubError::MissingTimestamp)?;
        let signature = signature.ok_or(HubError::MissingSignature)?;
        let sent_at = parse_timestamp(timestamp)?;
        let claimed = parse_signature(signature)?;
        // `verify_slice` compares in constant time.
        self.keyed(timestamp, body)
            .verify_slice(&claimed)
            .map_err(|_| HubError::BadSignature)?;
        if !sent_at.is_within_window_of(now) {
            return Err(HubError::StaleTimestamp);
        }
        Ok(Signature(claimed))
    }

    /// The MAC over `timestamp` + `.` + `body`, not yet finalised.
    fn keyed(&self, timestamp: &[u8], body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(timestamp);
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// When a request says it was signed, in the unit it said it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SentAt {
    Secs(u64),
    Millis(u64),
}

impl SentAt {
    /// Seconds are compared with the clock's whole seconds: a sender truncates, so comparing
    /// them with milliseconds would shorten the window by up to a second.
    fn is_within_window_of(self, now: SystemTime) -> bool {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        match self {
            Self::Secs(secs) => now.as_secs().abs_diff(secs) <= WINDOW.as_secs(),
            Self::Millis(millis) => {
                let now = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
                now.abs_diff(millis) <= u64::try_from(WINDOW.as_millis()).unwrap_or(u64::MAX)
            }
        }
    }
}

/// Plain ASCII digits (no sign, no fraction, no spaces), at most 16 of them.
fn parse_timestamp(text: &[u8]) -> Result<SentAt, HubError> {
    if text.is_empty() || text.len() > 16 || !text.iter().all(u8::is_ascii_digit) {
        return Err(HubError::MalformedTimestamp);
    }
    let value = text
        .iter()
        .fold(0_u64, |value, digit| value * 10 + u64::from(digit - b'0'));
    Ok(if value < MILLIS_FROM {
        SentAt::Secs(value)
    } else {
        SentAt::Millis(value)
    })
}

/// `sha256=` and 64 hex digits (either case).
fn parse_signature(text: &[u8]) -> Result<[u8; 32], HubError> {
    let hex = text
        .strip_prefix(b"sha256=")
        .filter(|hex| hex.len() == 64)
        .ok_or(HubError::MalformedSignature)?;
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut bytes = [0_u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = match (nibble(pair[0]), nibble(pair[1])) {
            (Some(high), Some(low)) => (high << 4) | low,
            _ => return Err(HubError::MalformedSignature),
        };
    }
    Ok(bytes)
}

/// The body's outer shape; the payload is decoded once the event name is known.
#[derive(Deserialize)]
struct Envelope {
    event: String,
    payload: serde_json::Map<String, serde_json::Value>,
}

/// The body as one of the hub's four events about `guild_id`, validated.
pub fn decode_event(body: &[u8], guild_id: GuildId) -> Result<AppEvent, HubError> {
    let Envelope { event, payload } = serde_json::from_slice(body).map_err(|_| HubError::MalformedBody)?;
    let (event_guild, event) = match event.as_str() {
        "voice.joined" => {
            let joined: VoiceJoined = decode_payload(payload)?;
            check_name(&joined.username)?;
            if let Some(avatar) = &joined.avatar {
                check_avatar(avatar)?;
            }
            (joined.guild_id, AppEvent::VoiceJoined(joined))
        }
        "voice.left" => {
            if !payload.contains_key("leftChannelId") {
                return Err(HubError::LeftChannelRequired);
            }
            let left: VoiceLeft = decode_payload(payload)?;
            // Always null in the seeds' shape: the user is in no channel of the room any more.
            if left.channel_id.is_some() {
                return Err(HubError::InvalidPayload);
            }
            (left.guild_id, AppEvent::VoiceLeft(left))
        }
        "room.created" => {
            let created: RoomCreated = decode_payload(payload)?;
            check_name(&created.name)?;
            if created.user_limit > MAX_USER_LIMIT {
                return Err(HubError::InvalidPayload);
            }
            (created.guild_id, AppEvent::RoomCreated(created))
        }
        "room.deleted" => {
            let deleted: RoomDeleted = decode_payload(payload)?;
            (deleted.guild_id, AppEvent::RoomDeleted(deleted))
        }
        // Our own events (`seat.*`, `room.inactive`, `discord.status`) are not the hub's to send.
        _ => return Err(HubError::UnknownEvent),
    };
    if event_guild != guild_id {
        return Err(HubError::WrongGuild);
    }
    Ok(event)
}

fn decode_payload<T: DeserializeOwned>(
    payload: serde_json::Map<String, serde_json::Value>,
) -> Result<T, HubError> {
    serde_json::from_value(serde_json::Value::Object(payload)).map_err(|_| HubError::InvalidPayload)
}

/// Names are shown to every viewer: not empty, not a wall of text, no control characters.
fn check_name(name: &str) -> Result<(), HubError> {
    let fine = !name.trim().is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && !name.chars().any(char::is_control);
    fine.then_some(()).ok_or(HubError::InvalidPayload)
}

/// An avatar hash ends up in a CDN URL on every viewer's page: letters, digits and `_` only.
fn check_avatar(avatar: &str) -> Result<(), HubError> {
    let fine = !avatar.is_empty()
        && avatar.len() <= MAX_AVATAR_LEN
        && avatar.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    fine.then_some(()).ok_or(HubError::InvalidPayload)
}

/// Why the hub did not accept a request: the request's fault (the reason goes back to the
/// sender), or the replay cache's (logged; the sender is told to try again).
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The request is refused for this reason.
    #[error("hub request refused: {0:?}")]
    Refused(HubError),
    /// Whether the request is a replay could not be checked.
    #[error(transparent)]
    ReplayCache(#[from] ReplayError),
}

impl From<HubError> for AcceptError {
    fn from(reason: HubError) -> Self {
        Self::Refused(reason)
    }
}

impl AcceptError {
    /// The reason as the sender sees it.
    pub fn reason(&self) -> HubError {
        match self {
            Self::Refused(reason) => *reason,
            Self::ReplayCache(_) => HubError::Unavailable,
        }
    }
}

impl From<AcceptError> for AppError {
    fn from(err: AcceptError) -> Self {
        if let AcceptError::ReplayCache(source) = &err {
            tracing::error!(error = ?source, "the hub's replay cache failed; event refused");
        }
        Self::Hub(err.reason())
    }
}

/// The hub: the verifier, the replay cache and the guild events must be about. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    verifier: Verifier,
    replay: ReplayCache,
    guild_id: GuildId,
}

impl Hub {
    /// A hub keyed with `secret` (`HUB_SECRET`) taking events about `guild_id`, remembering
    /// accepted requests in `replay`.
    pub fn new(secret: &SecretString, guild_id: GuildId, replay: ReplayCache) -> Self {
        Self {
            verifier: Verifier::new(secret.expose_secret().as_bytes()),
            replay,
            guild_id,
        }
    }

    /// The event of a request with these headers (`None` when absent) and `body`, received at
    /// `now`, if it is signed, fresh, valid and seen for the first time (by any instance sharing
    /// the replay cache). Once this returns the event, the same request is refused until it is
    /// stale anyway.
    pub async fn accept(
        &self,
        timestamp: Option<&[u8]>,
        signature: Option<&[u8]>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<AppEvent, AcceptError> {
        let signature = self.verifier.verify(timestamp, signature, body, now)?;
        let event = decode_event(body, self.guild_id)?;
        if !self.replay.first_use(&signature).await? {
            return Err(HubError::Replayed.into());
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret";
    /// 2023-11-14T22:13:20Z.
    const NOW_SECS: u64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"event":"room.deleted","payload":{"guildId":"2","channelId":"3"}}"#;
    /// `printf '%s' "1700000000.$BODY" | openssl dgst -sha256 -hmac test-secret`, computed
    /// outside this code so that signer and verifier cannot agree on the same mistake.
    const OPENSSL_SIGNATURE: &str = "sha256=9c1e3ae87c67a71b140116097c12b0dad1226d403d3671386853c2cd8a6eaced";

    fn at(millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(millis)
    }

    fn now() -> SystemTime {
        at(NOW_SECS * 1000)
    }

    fn guild() -> GuildId {
        "2".parse().unwrap()
    }

    #[test]
    fn signing_matches_openssl() {
        let verifier = Verifier::new(SECRET);
        assert_eq!(verifier.sign("1700000000", BODY), OPENSSL_SIGNATURE);
        let signature = verifier
            .verify(
                Some(b"1700000000"),
                Some(OPENSSL_SIGNATURE.as_bytes()),
                BODY,
                now(),
            )
            .unwrap();
        assert_eq!(format!("sha256={}", signature.hex()), OPENSSL_SIGNATURE);
    }

    /// A case of the signature table: name, the two headers, the verdict.
    type SignatureCase = (&'static str, Option<String>, Option<String>, Result<(), HubError>);

    #[test]
    #[allow(clippy::too_many_lines, reason = "one table of cases")]
    fn signatures_and_timestamps_are_judged_as_documented() {
        let verifier = Verifier::new(SECRET);
        let signed = |ts: &str| verifier.sign(ts, BODY);
        let secs = |offset: i64| NOW_SECS.checked_add_signed(offset).unwrap().to_string();
        let millis = |offset: i64| (NOW_SECS * 1000).checked_add_signed(offset).unwrap().to_string();
        let upper = OPENSSL_SIGNATURE.replace("9c1e", "9C1E");
        let other_key = Verifier::new(b"another-secret").sign(&secs(0), BODY);
        let cases: Vec<SignatureCase> = vec![
            ("seconds, now", Some(secs(0)), Some(signed(&secs(0))), Ok(())),
            (
                "milliseconds, now",
                Some(millis(0)),
                Some(signed(&millis(0))),
                Ok(()),
            ),
            ("60 s old", Some(secs(-60)), Some(signed(&secs(-60))), Ok(())),
            ("60 s ahead", Some(secs(60)), Some(signed(&secs(60))), Ok(())),
            (
                "61 s old",
                Some(secs(-61)),
                Some(signed(&secs(-61))),
                Err(HubError::StaleTimestamp),
            ),
            (
                "61 s ahead",
                Some(secs(61)),
                Some(signed(&secs(61))),
                Err(HubError::StaleTimestamp),
            ),
            (
                "60 000 ms old",
                Some(millis(-60_000)),
                Some(signed(&millis(-60_000))),
                Ok(()),
            ),
            (
                "60 001 ms old",
                Some(millis(-60_001)),
                Some(signed(&millis(-60_001))),
                Err(HubError::StaleTimestamp),
            ),
            (
                "60 001 ms ahead",
                Some(millis(60_001)),
                Some(signed(&millis(60_001))),
                Err(HubError::StaleTimestamp),
            ),
            ("uppercase hex", Some(secs(0)), Some(upper), Ok(())),
            (
                "another key",
                Some(secs(0)),
                Some(other_key),
                Err(HubError::BadSignature),
            ),
            (
                "signed for another time",
                Some(secs(1)),
                Some(signed(&secs(0))),
                Err(HubError::BadSignature),
            ),
            // The signature covers the header's text, so "leading zeros" is another message.
            (
                "same time, other text",
                Some(format!("0{}", secs(0))),
                Some(signed(&secs(0))),
                Err(HubError::BadSignature),
            ),
            (
                "no timestamp",
                None,
                Some(signed(&secs(0))),
                Err(HubError::MissingTimestamp),
            ),
            (
                "no signature",
                Some(secs(0)),
                None,
                Err(HubError::MissingSignature),
            ),
            ("neither", None, None, Err(HubError::MissingTimestamp)),
            (
                "fractional seconds",
                Some(format!("{}.5", secs(0))),
                Some(signed(&secs(0))),
                Err(HubError::MalformedTimestamp),
            ),
            (
                "negative",
                Some("-1".to_owned()),
                Some(signed("-1")),
                Err(HubError::MalformedTimestamp),
            ),
            (
                "empty timestamp",
                Some(String::new()),
                Some(signed("")),
                Err(HubError::MalformedTimestamp),
            ),
            (
                "too many digits",
                Some("1".repeat(17)),
                Some(signed(&"1".repeat(17))),
                Err(HubError::MalformedTimestamp),
            ),
            (
                "ISO date",
                Some("2023-11-14T22:13:20Z".to_owned()),
                Some(signed("x")),
                Err(HubError::MalformedTimestamp),
            ),
            (
                "no prefix",
                Some(secs(0)),
                Some(signed(&secs(0))[7..].to_owned()),
                Err(HubError::MalformedSignature),
            ),
            (
                "sha1 prefix",
                Some(secs(0)),
                Some(signed(&secs(0)).replace("sha256", "sha1")),
                Err(HubError::MalformedSignature),
            ),
            (
                "short hex",
                Some(secs(0)),
                Some(signed(&secs(0))[..70].to_owned()),
                Err(HubError::MalformedSignature),
            ),
            (
                "not hex",
                Some(secs(0)),
                Some(format!("sha256={}", "zz".repeat(32))),
                Err(HubError::MalformedSignature),
            ),
        ];
        for (name, timestamp, signature, expected) in cases {
            let outcome = verifier
                .verify(
                    timestamp.as_deref().map(str::as_bytes),
                    signature.as_deref().map(str::as_bytes),
                    BODY,
                    now(),
                )
                .map(|_| ());
            assert_eq!(outcome, expected, "{name}");
        }
        let tampered = br#"{"event":"room.deleted","payload":{"guildId":"2","channelId":"4"}}"#;
        assert_eq!(
            verifier
                .verify(
                    Some(secs(0).as_bytes()),
                    Some(signed(&secs(0)).as_bytes()),
                    tampered,
                    now()
                )
                .map(|_| ()),
            Err(HubError::BadSignature),
            "a changed body"
        );
    }

    #[test]
    fn a_stale_request_is_refused_only_once_its_signature_holds() {
        // Someone without the secret learns nothing from the clock: forged is forged.
        let verifier = Verifier::new(SECRET);
        let old = (NOW_SECS - 3600).to_string();
        let forged = Verifier::new(b"guess").sign(&old, BODY);
        assert_eq!(
            verifier
                .verify(Some(old.as_bytes()), Some(forged.as_bytes()), BODY, now())
                .map(|_| ()),
            Err(HubError::BadSignature)
        );
    }

    #[test]
    fn the_unit_of_a_timestamp_follows_its_size() {
        assert_eq!(parse_timestamp(b"1700000000"), Ok(SentAt::Secs(1_700_000_000)));
        assert_eq!(parse_timestamp(b"99999999999"), Ok(SentAt::Secs(99_999_999_999)));
        assert_eq!(
            parse_timestamp(b"100000000000"),
            Ok(SentAt::Millis(100_000_000_000))
        );
        assert_eq!(
            parse_timestamp(b"1700000000000"),
            Ok(SentAt::Millis(1_700_000_000_000))
        );
        assert_eq!(
            parse_timestamp(b"9999999999999999"),
            Ok(SentAt::Millis(9_999_999_999_999_999))
        );
        assert!(!SentAt::Millis(9_999_999_999_999_999).is_within_window_of(now()));
    }

    #[test]
    #[allow(clippy::too_many_lines, reason = "one table of cases")]
    fn events_are_decoded_and_validated() {
        let cases: &[(&str, &str, Result<&str, HubError>)] = &[
            (
                "voice.joined",
                r#"{"event":"voice.joined","payload":{"guildId":"2","channelId":"3","userId":"4","username":"alice","avatar":null}}"#,
                Ok("voice.joined"),
            ),
            (
                "voice.joined with an avatar and extra fields",
                r#"{"event":"voice.joined","payload":{"guildId":"2","channelId":"3","userId":"4","username":"alice","avatar":"a_0123abcd","deaf":false},"ts":1}"#,
                Ok("voice.joined"),
            ),
            (
                "voice.left with the channel left",
                r#"{"event":"voice.left","payload":{"guildId":"2","channelId":null,"userId":"4","leftChannelId":"3"}}"#,
                Ok("voice.left"),
            ),
            (
                "room.created",
                r#"{"event":"room.created","payload":{"guildId":"2","channelId":"3","name":"Friday","parentId":"9","userLimit":4}}"#,
                Ok("room.created"),
            ),
            (
                "room.deleted",
                r#"{"event":"room.deleted","payload":{"guildId":"2","channelId":"3"}}"#,
                Ok("room.deleted"),
            ),
            (
                "the seeds' voice.left",
                r#"{"event":"voice.left","payload":{"guildId":"2","channelId":null,"userId":"4"}}"#,
                Err(HubError::LeftChannelRequired),
            ),
            (
                "voice.left still in a channel",
                r#"{"event":"voice.left","payload":{"guildId":"2","channelId":"5","userId":"4","leftChannelId":"3"}}"#,
                Err(HubError::InvalidPayload),
            ),
            (
                "our own event",
                r#"{"event":"seat.taken","payload":{"channelId":"3","userId":"4","username":"a","avatar":null,"owner":true}}"#,
                Err(HubError::UnknownEvent),
            ),
            (
                "discord.status",
                r#"{"event":"discord.status","payload":{"guildId":"2","status":"ready"}}"#,
                Err(HubError::UnknownEvent),
            ),
            (
                "made up",
                r#"{"event":"voice.muted","payload":{}}"#,
                Err(HubError::UnknownEvent),
            ),
            ("not JSON", "event=voice.joined", Err(HubError::MalformedBody)),
            (
                "no payload",
                r#"{"event":"room.deleted"}"#,
                Err(HubError::MalformedBody),
            ),
            (
                "payload not an object",
                r#"{"event":"room.deleted","payload":[]}"#,
                Err(HubError::MalformedBody),
            ),
            (
                "event not a string",
                r#"{"event":7,"payload":{}}"#,
                Err(HubError::MalformedBody),
            ),
            (
                "missing field",
                r#"{"event":"room.deleted","payload":{"guildId":"2"}}"#,
                Err(HubError::InvalidPayload),
            ),
            (
                "id as a number",
                r#"{"event":"room.deleted","payload":{"guildId":"2","channelId":3}}"#,
                Err(HubError::InvalidPayload),
            ),
            (
                "id zero",
                r#"{"event":"room.deleted","payload":{"guildId":"2","channelId":"0"}}"#,
                Err(HubError::InvalidPayload),
            ),
            (
                "empty username",
                r#"{"event":"voice.joined","payload":{"guildId":"2","channelId":"3","userId":"4","username":" ","avatar":null}}"#,
                Err(HubError::InvalidPayload),
            ),
            (
                "avatar that is not a hash",
                r#"{"event":"voice.joined","payload":{"guildId":"2","channelId":"3","userId":"4","username":"a","avatar":"../x?y"}}"#,
                Err(HubError::InvalidPayload),
            ),
            (
                "user limit over Discord's",
                r#"{"event":"room.created","payload":{"guildId":"2","channelId":"3","name":"F","userLimit":100}}"#,
                Err(HubError::InvalidPayload),
            ),
            (
                "another guild",
                r#"{"event":"room.deleted","payload":{"guildId":"7","channelId":"3"}}"#,
                Err(HubError::WrongGuild),
            ),
        ];
        for (name, body, expected) in cases {
            let outcome = decode_event(body.as_bytes(), guild()).map(|event| event.name());
            assert_eq!(&outcome, expected, "{name}");
        }
        let long_name = format!(
            r#"{{"event":"room.created","payload":{{"guildId":"2","channelId":"3","name":"{}","userLimit":0}}}}"#,
            "x".repeat(MAX_NAME_CHARS + 1)
        );
        assert_eq!(
            decode_event(long_name.as_bytes(), guild()),
            Err(HubError::InvalidPayload)
        );
    }

    #[test]
    fn a_failing_replay_cache_is_a_503_to_retry_and_never_an_acceptance() {
        let error = AppError::from(AcceptError::from(ReplayError::Full));
        assert_eq!(error, AppError::Hub(HubError::Unavailable));
        assert_eq!((error.status(), error.retry_after_secs()), (503, Some(1)));
        let refused = AppError::from(AcceptError::from(HubError::BadSignature));
        assert_eq!(refused.status(), 403);
    }

    #[tokio::test]
    async fn an_accepted_request_is_refused_when_sent_again() {
        let hub = Hub::new(&SecretString::from("test-secret"), guild(), ReplayCache::memory());
        let signature = Verifier::new(SECRET).sign("1700000000", BODY);
        let accept = || hub.accept(Some(b"1700000000"), Some(signature.as_bytes()), BODY, now());
        assert_eq!(accept().await.unwrap().name(), "room.deleted");
        assert_eq!(accept().await.unwrap_err().reason(), HubError::Replayed);
        // Once out of the window it is stale, whatever the cache still remembers.
        let stale = hub
            .accept(
                Some(b"1700000000"),
                Some(signature.as_bytes()),
                BODY,
                now() + Duration::from_secs(61),
            )
            .await;
        assert_eq!(stale.unwrap_err().reason(), HubError::StaleTimestamp);
    }
}
