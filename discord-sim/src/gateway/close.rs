//! Discord's gateway close codes the simulator sends, with their numbers.

/// A gateway close code (Discord's table, `reference/discord-protocol.md` §1.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GatewayClose {
    /// 4000: unknown error; also used when a client stops heartbeating (session kept).
    UnknownError,
    /// 4001: unknown opcode or an invalid payload for an opcode.
    UnknownOpcode,
    /// 4002: undecodable payload or one over 4096 bytes.
    DecodeError,
    /// 4003: a payload before IDENTIFY or RESUME.
    NotAuthenticated,
    /// 4004: bad token (fatal for clients).
    AuthenticationFailed,
    /// 4005: a second IDENTIFY.
    AlreadyAuthenticated,
    /// 4007: RESUME with a sequence number never sent; destroys the session.
    InvalidSeq,
    /// 4008: more than the allowed sends per window.
    RateLimited,
    /// 4009: session timed out; destroys the session.
    SessionTimedOut,
    /// 4010: bad `shard` array (fatal).
    InvalidShard,
    /// 4012: bad `v` query parameter (fatal).
    InvalidApiVersion,
    /// 4013: undefined intent bits (fatal).
    InvalidIntents,
    /// 4014: privileged intents the app has not enabled (fatal).
    DisallowedIntents,
}

impl GatewayClose {
    /// The numeric code on the wire.
    pub fn code(self) -> u16 {
        match self {
            Self::UnknownError => 4000,
            Self::UnknownOpcode => 4001,
            Self::DecodeError => 4002,
            Self::NotAuthenticated => 4003,
            Self::AuthenticationFailed => 4004,
            Self::AlreadyAuthenticated => 4005,
            Self::InvalidSeq => 4007,
            Self::RateLimited => 4008,
            Self::SessionTimedOut => 4009,
            Self::InvalidShard => 4010,
            Self::InvalidApiVersion => 4012,
            Self::InvalidIntents => 4013,
            Self::DisallowedIntents => 4014,
        }
    }

    /// The reason text Discord sends with it.
    pub fn reason(self) -> &'static str {
        match self {
            Self::UnknownError => "Unknown error.",
            Self::UnknownOpcode => "Unknown opcode.",
            Self::DecodeError => "Error while decoding payload.",
            Self::NotAuthenticated => "Not authenticated.",
            Self::AuthenticationFailed => "Authentication failed.",
            Self::AlreadyAuthenticated => "Already authenticated.",
            Self::InvalidSeq => "Invalid seq.",
            Self::RateLimited => "Rate limited.",
            Self::SessionTimedOut => "Session timed out.",
            Self::InvalidShard => "Invalid shard.",
            Self::InvalidApiVersion => "Invalid API version.",
            Self::InvalidIntents => "Invalid intent(s).",
            Self::DisallowedIntents => "Disallowed intent(s).",
        }
    }
}
