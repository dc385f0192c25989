//! Decodes what a client sends into a [`Command`], or the close code Discord answers with.
//!
//! This is the only code that touches untrusted gateway input, so it is total: every byte string
//! maps to a command or a close code, never a panic (property-tested in `tests/contract`).

use serde::Deserialize;
use serde_json::Value;

use super::close::GatewayClose;

/// Discord's limit on one client payload.
pub const MAX_PAYLOAD: usize = 4096;

/// A decoded client payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// op 1 with the client's last sequence (not validated, like Discord).
    Heartbeat(Option<u64>),
    /// op 2.
    Identify(Identify),
    /// op 6.
    Resume(Resume),
    /// A known op the simulator accepts and ignores (3, 4, 8, 31, 43).
    Ignored(u8),
}

/// IDENTIFY's fields the simulator checks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Identify {
    /// Bot token, with or without `Bot `.
    pub token: String,
    /// Requested intents.
    pub intents: u64,
    /// `[shard_id, shard_count]`.
    #[serde(default)]
    pub shard: Option<[u64; 2]>,
    /// Connection properties; required by Discord, content unchecked.
    pub properties: Properties,
}

/// IDENTIFY `properties`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Properties {
    /// Operating system.
    pub os: String,
    /// Library name.
    pub browser: String,
    /// Library name again.
    pub device: String,
}

/// RESUME's fields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Resume {
    /// Bot token, with or without `Bot `.
    pub token: String,
    /// The session to resume.
    pub session_id: String,
    /// The last sequence number the client saw.
    pub seq: u64,
}

#[derive(Deserialize)]
struct Envelope {
    op: Value,
    #[serde(default)]
    d: Value,
}

/// Decodes one client frame's payload (text frames; binary frames are passed as bytes too).
pub fn decode(payload: &[u8]) -> Result<Command, GatewayClose> {
    if payload.len() > MAX_PAYLOAD {
        return Err(GatewayClose::DecodeError);
    }
    let envelope: Envelope = serde_json::from_slice(payload).map_err(|_| GatewayClose::DecodeError)?;
    let op = envelope
        .op
        .as_u64()
        .and_then(|op| u8::try_from(op).ok())
        .ok_or(GatewayClose::DecodeError)?;
    let shape = |_| GatewayClose::UnknownOpcode;
    match op {
        1 => match envelope.d {
            Value::Null => Ok(Command::Heartbeat(None)),
            Value::Number(n) => n
                .as_u64()
                .map(|seq| Command::Heartbeat(Some(seq)))
                .ok_or(GatewayClose::UnknownOpcode),
            _ => Err(GatewayClose::UnknownOpcode),
        },
        2 => serde_json::from_value(envelope.d)
            .map(Command::Identify)
            .map_err(shape),
        6 => serde_json::from_value(envelope.d)
            .map(Command::Resume)
            .map_err(shape),
        3 | 4 | 8 | 31 | 43 => Ok(Command::Ignored(op)),
        _ => Err(GatewayClose::UnknownOpcode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilights_identify_decodes() {
        let text = br#"{"op":2,"d":{"compress":false,"intents":129,"large_threshold":50,"presence":null,"properties":{"browser":"twilight.rs","device":"twilight.rs","os":"linux"},"shard":[0,1],"token":"Bot faketoken"}}"#;
        let Ok(Command::Identify(identify)) = decode(text) else {
            panic!("identify did not decode");
        };
        assert_eq!(identify.intents, 129);
        assert_eq!(identify.shard, Some([0, 1]));
    }

    #[test]
    fn malformed_input_maps_to_discords_codes() {
        assert_eq!(decode(b"{"), Err(GatewayClose::DecodeError));
        assert_eq!(decode(b"[]"), Err(GatewayClose::DecodeError));
        assert_eq!(decode(br#"{"op":"1"}"#), Err(GatewayClose::DecodeError));
        assert_eq!(decode(br#"{"op":99,"d":null}"#), Err(GatewayClose::UnknownOpcode));
        assert_eq!(decode(br#"{"op":2,"d":{}}"#), Err(GatewayClose::UnknownOpcode));
        assert_eq!(decode(br#"{"op":1,"d":"x"}"#), Err(GatewayClose::UnknownOpcode));
        let big = format!(r#"{{"op":1,"d":null,"pad":"{}"}}"#, "x".repeat(MAX_PAYLOAD));
        assert_eq!(decode(big.as_bytes()), Err(GatewayClose::DecodeError));
        assert_eq!(decode(br#"{"op":1,"d":7}"#), Ok(Command::Heartbeat(Some(7))));
        assert_eq!(decode(br#"{"op":3,"d":{}}"#), Ok(Command::Ignored(3)));
    }
}
