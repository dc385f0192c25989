//! Faults tests and the dev panel can inject: per live gateway connection, and into REST replies.

use std::time::Duration;

/// Something to do to one live gateway connection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GatewayFault {
    /// Drop the TCP connection without a close frame; the session stays resumable.
    Drop,
    /// Stop reading and writing but keep the socket open (no FIN), like a dead network path.
    BlackHole,
    /// Stop answering heartbeats with op 11 (`false`), or answer again (`true`).
    Acks {
        /// Whether to ACK.
        enabled: bool,
    },
    /// Send op 7 RECONNECT.
    Reconnect,
    /// Send op 9 with `d` = `resumable`; `false` also destroys the session.
    InvalidSession {
        /// The `d` value.
        resumable: bool,
    },
    /// Send op 1, asking for an immediate heartbeat.
    RequestHeartbeat,
    /// Close with this code and reason. 4007 and 4009 destroy the session. Codes that cannot go
    /// on the wire (below 1000, or reserved: 1005, 1006, 1015) drop the connection instead.
    Close {
        /// Close code (1000-4999, not a reserved one).
        code: u16,
        /// Reason text, at most 123 bytes.
        reason: String,
        /// Keep the socket open afterwards, never finishing the closing handshake nor sending
        /// a FIN (a peer stuck in CLOSING must still reconnect).
        #[serde(default)]
        hold: bool,
    },
    /// Delay every later dispatch on this connection by this long (a slow link).
    Delay {
        /// The delay per dispatch.
        #[serde(with = "millis")]
        delay: Duration,
    },
    /// Hold back the next `count` dispatches (they stay in the replay buffer).
    Withhold {
        /// How many.
        count: usize,
    },
    /// Send the withheld dispatches now.
    Release,
    /// Send one binary frame of garbage (a broken compressed frame or undecodable data).
    Corrupt,
}

/// What the next REST request(s) should get instead of (or before) a normal answer.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RestFault {
    /// A 429 with Discord's headers and body.
    RateLimit {
        /// `true` for a global limit (`X-RateLimit-Global`, scope `global`), else scope `user`.
        global: bool,
        /// Seconds until the bucket resets (`Retry-After` is this rounded up).
        retry_after: f64,
    },
    /// An error status with a Discord error body (500, 502, 503 ...).
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// Answer normally but only after this delay.
    Slow {
        /// The delay.
        #[serde(with = "millis")]
        delay: Duration,
    },
}

/// A queued REST fault: applies to the next `times` requests whose path contains `path`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct RestFaultRule {
    /// The fault.
    pub fault: RestFault,
    /// Only requests whose path contains this (empty matches all `/api/v10` requests).
    #[serde(default)]
    pub path: String,
    /// How many matching requests it applies to.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
