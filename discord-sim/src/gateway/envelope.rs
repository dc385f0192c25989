//! Outbound gateway frames. twilight finds `"op":`, `"s":` and `"t":` by scanning the raw text, so
//! the envelope is written compactly in Discord's order `t, s, op, d` with `d` last, never through
//! `serde_json::Value` (which would sort the keys).

/// A dispatch (op 0) with its sequence number; `data` is compact JSON.
pub(crate) fn dispatch(name: &str, seq: u64, data: &str) -> String {
    format!(r#"{{"t":"{name}","s":{seq},"op":0,"d":{data}}}"#)
}

/// HELLO (op 10).
pub(crate) fn hello(heartbeat_interval_ms: u128) -> String {
    format!(r#"{{"t":null,"s":null,"op":10,"d":{{"heartbeat_interval":{heartbeat_interval_ms}}}}}"#)
}

/// HEARTBEAT ACK (op 11).
pub(crate) const HEARTBEAT_ACK: &str = r#"{"t":null,"s":null,"op":11,"d":null}"#;

/// A server heartbeat request (op 1): the client must heartbeat at once.
pub(crate) const HEARTBEAT_REQUEST: &str = r#"{"t":null,"s":null,"op":1,"d":null}"#;

/// RECONNECT (op 7).
pub(crate) const RECONNECT: &str = r#"{"t":null,"s":null,"op":7,"d":null}"#;

/// INVALID SESSION (op 9); `d` says whether the session may be resumed.
pub(crate) fn invalid_session(resumable: bool) -> String {
    format!(r#"{{"t":null,"s":null,"op":9,"d":{resumable}}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_match_the_reference_examples_byte_for_byte() {
        assert_eq!(
            hello(41_250),
            r#"{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":41250}}"#
        );
        assert_eq!(invalid_session(false), r#"{"t":null,"s":null,"op":9,"d":false}"#);
        assert_eq!(
            dispatch("RESUMED", 8, "{}"),
            r#"{"t":"RESUMED","s":8,"op":0,"d":{}}"#
        );
    }
}
