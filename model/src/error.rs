//! [`AppError`]: the one error type that crosses the wire to the browser.
//!
//! Its variants are reasons, not sources: what went wrong inside the server is logged there and
//! never shown. Each maps to exactly one HTTP status ([`AppError::status`]).

use serde::{Deserialize, Serialize};
use server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};

/// Why a request failed, in terms the client can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", content = "message", rename_all = "snake_case")]
pub enum AppError {
    /// The request itself is wrong (400); the text says what to fix.
    #[error("{0}")]
    InvalidInput(String),
    /// No session (401).
    #[error("sign in first")]
    Unauthenticated,
    /// Signed in, but not allowed (403).
    #[error("not allowed")]
    Forbidden,
    /// No such thing (404).
    #[error("not found")]
    NotFound,
    /// Conflicts with the current state, e.g. a full room (409).
    #[error("{0}")]
    Conflict(String),
    /// An invite cannot be used; the code says why and picks the status.
    #[error("{0}")]
    Invite(InviteError),
    /// The HMAC hub (`POST /api/internal/events`) refused an event; the code says why and picks
    /// the status.
    #[error("{0}")]
    Hub(HubError),
    /// A server function was called with a body encoding the app never sends (415).
    #[error("send the arguments form-encoded")]
    UnsupportedMediaType,
    /// Too many requests from this user (429).
    #[error("Too many requests — try again in {}", wait_in_words(*retry_after_ms))]
    RateLimited {
        /// When the client may try again.
        retry_after_ms: u64,
    },
    /// Discord is failing or refusing us (502).
    #[error("Discord is unavailable, please try again")]
    Upstream,
    /// Anything else (500); the details are in the server's log only.
    #[error("something went wrong")]
    Internal,
}

/// "a second", "3 seconds", "2 minutes": a wait a person reads at a glance (rounded up).
fn wait_in_words(ms: u64) -> String {
    match ms.div_ceil(1000) {
        0 | 1 => "a second".to_owned(),
        seconds @ 2..=90 => format!("{seconds} seconds"),
        seconds => format!("{} minutes", seconds.div_ceil(60)),
    }
}

impl AppError {
    /// The HTTP status this error is answered with.
    pub const fn status(&self) -> u16 {
        match self {
            Self::InvalidInput(_) => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict(_) => 409,
            Self::Invite(reason) => reason.status(),
            Self::Hub(reason) => reason.status(),
            Self::UnsupportedMediaType => 415,
            Self::RateLimited { .. } => 429,
            Self::Upstream => 502,
            Self::Internal => 500,
        }
    }

    /// HTTP's `Retry-After` for this error, in whole seconds: for a 429, and for a 503 that passes
    /// by itself. Rounded up, so a client never retries too early.
    pub const fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_ms } => Some(retry_after_ms.div_ceil(1000)),
            Self::Invite(reason) => reason.retry_after_secs(),
            Self::Hub(reason) => reason.retry_after_secs(),
            _ => None,
        }
    }
}

/// Why an invite link did not let the user in: the codes of DESIGN.md §4.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InviteError {
    /// No such invite: mistyped, tampered with, revoked or replaced by a newer one (400).
    #[error("this invite link is not valid; ask the room's owner for a new one")]
    TokenInvalid,
    /// The invite is older than its 24 hours (400).
    #[error("this invite link has expired; ask the room's owner for a new one")]
    TokenExpired,
    /// The room already has four players (409).
    #[error("this game room is full")]
    RoomFull,
    /// The room has been closed (404).
    #[error("this game room no longer exists")]
    RoomNotFound,
    /// Discord would not add the user to the server hosting the rooms (403).
    #[error("Discord did not let you join the server hosting this game")]
    GuildJoinDenied,
    /// The room's owner removed the user, and has not let them back in (403).
    #[error("The host removed you from this game. Ask them to let you back in.")]
    Removed,
    /// The user signed in without letting the app add them to the server hosting the rooms (the
    /// home page's sign-in asks only who they are): they sign in again from the invite (403).
    #[error("To join, sign in with Discord again and allow Spell Coven to add you to its server.")]
    ConsentNeeded,
    /// The app is (re)connecting to Discord, so who sits in the room cannot be counted (503,
    /// with `Retry-After`).
    #[error("Spell Coven is reconnecting to Discord; try again in a few seconds")]
    DiscordUnavailable,
}

impl InviteError {
    /// The code on the wire (`TOKEN_EXPIRED`, …).
    pub const fn code(self) -> &'static str {
        match self {
            Self::TokenInvalid => "TOKEN_INVALID",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::RoomFull => "ROOM_FULL",
            Self::RoomNotFound => "ROOM_NOT_FOUND",
            Self::GuildJoinDenied => "GUILD_JOIN_DENIED",
            Self::Removed => "REMOVED",
            Self::ConsentNeeded => "CONSENT_NEEDED",
            Self::DiscordUnavailable => "DISCORD_UNAVAILABLE",
        }
    }

    /// A short headline for the reason, for the invite page.
    pub const fn headline(self) -> &'static str {
        match self {
            Self::TokenInvalid => "This invite link doesn't work",
            Self::TokenExpired => "This invite has expired",
            Self::RoomFull => "This game is full",
            Self::RoomNotFound => "This game has ended",
            Self::GuildJoinDenied => "Discord didn't let you in",
            Self::Removed => "You were removed from this game",
            Self::ConsentNeeded => "One more step to join",
            Self::DiscordUnavailable => "Reconnecting to Discord",
        }
    }

    /// The HTTP status this reason is answered with.
    pub const fn status(self) -> u16 {
        match self {
            Self::TokenInvalid | Self::TokenExpired => 400,
            Self::RoomFull => 409,
            Self::RoomNotFound => 404,
            Self::GuildJoinDenied | Self::Removed | Self::ConsentNeeded => 403,
            Self::DiscordUnavailable => 503,
        }
    }

    /// When to try again, in seconds, for a reason that passes by itself.
    pub const fn retry_after_secs(self) -> Option<u64> {
        match self {
            // About one reconnect attempt: a client retrying sooner would only be refused again.
            Self::DiscordUnavailable => Some(5),
            _ => None,
        }
    }
}

/// Why the HMAC hub (`POST /api/internal/events`, seed 001) refused an event. The sender is a
/// program, not a person: each code names exactly what to fix, and the status says whether
/// sending the same request again can ever help (only for a 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HubError {
    /// No `X-Hub-Timestamp` header (400).
    #[error("X-Hub-Timestamp is required")]
    MissingTimestamp,
    /// No `X-Hub-Signature` header (400).
    #[error("X-Hub-Signature is required")]
    MissingSignature,
    /// `X-Hub-Timestamp` is not unix seconds or milliseconds in plain digits (400).
    #[error("X-Hub-Timestamp must be unix seconds or milliseconds")]
    MalformedTimestamp,
    /// `X-Hub-Signature` is not `sha256=` and 64 hex digits (400).
    #[error("X-Hub-Signature must be sha256=<64 hex digits>")]
    MalformedSignature,
    /// The timestamp is more than the allowed window away from the server's clock (403).
    #[error("X-Hub-Timestamp is too far from the server's clock")]
    StaleTimestamp,
    /// The signature does not match the timestamp and body (403).
    #[error("the signature does not match")]
    BadSignature,
    /// This exact signed request was already accepted (409).
    #[error("this request was already accepted")]
    Replayed,
    /// The body is over the hub's size limit (413).
    #[error("the body is too large")]
    BodyTooLarge,
    /// The body did not arrive in time (408).
    #[error("the body did not arrive in time")]
    BodyTimeout,
    /// The body is not `{"event": …, "payload": {…}}` JSON (400).
    #[error("the body must be JSON naming an event and its payload")]
    MalformedBody,
    /// The event is not one the hub takes (`room.created`, `room.deleted`, `voice.joined`,
    /// `voice.left`) (400).
    #[error("unknown event")]
    UnknownEvent,
    /// The payload lacks a field, has one of the wrong type, or a value out of range (400).
    #[error("the payload is not valid for its event")]
    InvalidPayload,
    /// A `voice.left` without `leftChannelId`: the channel left is what routes it to a room (400).
    #[error("voice.left needs leftChannelId")]
    LeftChannelRequired,
    /// The event is about another guild than the one hosting the game rooms (400).
    #[error("the event is for another guild")]
    WrongGuild,
    /// Whether the request is a replay cannot be checked right now (503, with `Retry-After`); the
    /// same request may be sent again.
    #[error("the hub cannot take events right now; try again")]
    Unavailable,
}

impl HubError {
    /// The code on the wire (`BAD_SIGNATURE`, …).
    pub const fn code(self) -> &'static str {
        match self {
            Self::MissingTimestamp => "MISSING_TIMESTAMP",
            Self::MissingSignature => "MISSING_SIGNATURE",
            Self::MalformedTimestamp => "MALFORMED_TIMESTAMP",
            Self::MalformedSignature => "MALFORMED_SIGNATURE",
            Self::StaleTimestamp => "STALE_TIMESTAMP",
            Self::BadSignature => "BAD_SIGNATURE",
            Self::Replayed => "REPLAYED",
            Self::BodyTooLarge => "BODY_TOO_LARGE",
            Self::BodyTimeout => "BODY_TIMEOUT",
            Self::MalformedBody => "MALFORMED_BODY",
            Self::UnknownEvent => "UNKNOWN_EVENT",
            Self::InvalidPayload => "INVALID_PAYLOAD",
            Self::LeftChannelRequired => "LEFT_CHANNEL_REQUIRED",
            Self::WrongGuild => "WRONG_GUILD",
            Self::Unavailable => "UNAVAILABLE",
        }
    }

    /// The HTTP status this reason is answered with: 400 for a request that is malformed, 403 for
    /// one that is not proven to come from the secret's holder, 409 for a replay.
    pub const fn status(self) -> u16 {
        match self {
            Self::MissingTimestamp
            | Self::MissingSignature
            | Self::MalformedTimestamp
            | Self::MalformedSignature
            | Self::MalformedBody
            | Self::UnknownEvent
            | Self::InvalidPayload
            | Self::LeftChannelRequired
            | Self::WrongGuild => 400,
            Self::StaleTimestamp | Self::BadSignature => 403,
            Self::BodyTimeout => 408,
            Self::Replayed => 409,
            Self::BodyTooLarge => 413,
            Self::Unavailable => 503,
        }
    }

    /// When to try again, in seconds, for a reason that passes by itself.
    pub const fn retry_after_secs(self) -> Option<u64> {
        match self {
            // Redis reconnects within about a second; the request stays valid for the window.
            Self::Unavailable => Some(1),
            _ => None,
        }
    }
}

/// How server functions carry an `AppError`: as its JSON. The framework's own failures become
/// reasons too: arguments that do not decode are the client's mistake (400), anything else is ours.
impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(message)
            | ServerFnErrorErr::MissingArg(message)
            | ServerFnErrorErr::Deserialization(message) => Self::InvalidInput(message),
            _ => Self::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_says_how_long_in_words() {
        let text = |ms| AppError::RateLimited { retry_after_ms: ms }.to_string();
        assert_eq!(text(1000), "Too many requests — try again in a second");
        assert_eq!(text(1), "Too many requests — try again in a second");
        assert_eq!(text(2500), "Too many requests — try again in 3 seconds");
        assert_eq!(text(120_000), "Too many requests — try again in 2 minutes");
    }

    #[test]
    fn every_reason_has_its_status_and_a_stable_json_shape() {
        let cases = [
            (
                AppError::InvalidInput("room must be a Discord ID".to_owned()),
                400,
            ),
            (AppError::Unauthenticated, 401),
            (AppError::Forbidden, 403),
            (AppError::NotFound, 404),
            (AppError::Conflict("room is full".to_owned()), 409),
            (AppError::Invite(InviteError::TokenInvalid), 400),
            (AppError::Invite(InviteError::TokenExpired), 400),
            (AppError::Invite(InviteError::RoomFull), 409),
            (AppError::Invite(InviteError::RoomNotFound), 404),
            (AppError::Invite(InviteError::GuildJoinDenied), 403),
            (AppError::Invite(InviteError::Removed), 403),
            (AppError::Invite(InviteError::ConsentNeeded), 403),
            (AppError::Invite(InviteError::DiscordUnavailable), 503),
            (AppError::Hub(HubError::MissingSignature), 400),
            (AppError::Hub(HubError::UnknownEvent), 400),
            (AppError::Hub(HubError::BadSignature), 403),
            (AppError::Hub(HubError::StaleTimestamp), 403),
            (AppError::Hub(HubError::BodyTimeout), 408),
            (AppError::Hub(HubError::Replayed), 409),
            (AppError::Hub(HubError::BodyTooLarge), 413),
            (AppError::Hub(HubError::Unavailable), 503),
            (AppError::UnsupportedMediaType, 415),
            (AppError::RateLimited { retry_after_ms: 1200 }, 429),
            (AppError::Upstream, 502),
            (AppError::Internal, 500),
        ];
        for (error, status) in cases {
            assert_eq!(error.status(), status, "{error:?}");
            let json = serde_json::to_string(&error).unwrap();
            assert_eq!(serde_json::from_str::<AppError>(&json).unwrap(), error);
        }
        assert_eq!(
            serde_json::to_value(AppError::Unauthenticated).unwrap(),
            serde_json::json!({"error": "unauthenticated"})
        );
        assert_eq!(
            serde_json::to_value(AppError::Invite(InviteError::TokenExpired)).unwrap(),
            serde_json::json!({"error": "invite", "message": "TOKEN_EXPIRED"})
        );
        assert_eq!(
            serde_json::to_value(AppError::Invite(InviteError::Removed)).unwrap(),
            serde_json::json!({"error": "invite", "message": "REMOVED"})
        );
        for reason in [
            InviteError::TokenInvalid,
            InviteError::TokenExpired,
            InviteError::RoomFull,
            InviteError::RoomNotFound,
            InviteError::GuildJoinDenied,
            InviteError::Removed,
            InviteError::DiscordUnavailable,
        ] {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                reason.code(),
                "code() matches the wire"
            );
        }
        assert_eq!(
            AppError::Invite(InviteError::DiscordUnavailable).retry_after_secs(),
            Some(5)
        );
        assert_eq!(
            AppError::RateLimited { retry_after_ms: 1200 }.retry_after_secs(),
            Some(2)
        );
        assert_eq!(AppError::Invite(InviteError::RoomFull).retry_after_secs(), None);
        assert_eq!(
            serde_json::to_value(AppError::Hub(HubError::UnknownEvent)).unwrap(),
            serde_json::json!({"error": "hub", "message": "UNKNOWN_EVENT"})
        );
        for reason in [
            HubError::MissingTimestamp,
            HubError::MissingSignature,
            HubError::MalformedTimestamp,
            HubError::MalformedSignature,
            HubError::StaleTimestamp,
            HubError::BadSignature,
            HubError::Replayed,
            HubError::BodyTooLarge,
            HubError::BodyTimeout,
            HubError::MalformedBody,
            HubError::UnknownEvent,
            HubError::InvalidPayload,
            HubError::LeftChannelRequired,
            HubError::WrongGuild,
            HubError::Unavailable,
        ] {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                reason.code(),
                "code() matches the wire"
            );
        }
        assert_eq!(AppError::Hub(HubError::Unavailable).retry_after_secs(), Some(1));
    }
}
