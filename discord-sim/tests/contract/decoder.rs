//! Property tests: the gateway's inbound decoder never panics, and every malformed frame maps
//! to Discord's close codes (4001 bad op or op payload, 4002 undecodable or over 4096 bytes).

use discord_sim::{Command, GatewayClose, MAX_PAYLOAD, decode_client_frame};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Arbitrary JSON values, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn known_op(op: i64) -> bool {
    matches!(op, 1 | 2 | 3 | 4 | 6 | 8 | 31 | 43)
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..6000)) {
        let result = decode_client_frame(&bytes);
        if bytes.len() > MAX_PAYLOAD {
            prop_assert_eq!(result, Err(GatewayClose::DecodeError));
        }
    }

    #[test]
    fn envelopes_with_any_op_and_d_map_to_commands_or_discords_codes(
        op in prop_oneof![0i64..50, any::<i64>()],
        d in json_value(),
    ) {
        let text = json!({"op": op, "d": d}).to_string();
        match decode_client_frame(text.as_bytes()) {
            Ok(command) => prop_assert!(known_op(op), "accepted op {} as {:?}", op, command),
            Err(GatewayClose::DecodeError) => prop_assert!(
                text.len() > MAX_PAYLOAD || u8::try_from(op).is_err(),
                "4002 for a small envelope with op {}", op
            ),
            Err(GatewayClose::UnknownOpcode) => {}
            Err(other) => prop_assert!(false, "unexpected close {:?}", other),
        }
    }

    #[test]
    fn truncated_identify_is_never_accepted(cut in 0usize..200) {
        let identify = r#"{"op":2,"d":{"token":"Bot t","intents":129,"properties":{"os":"l","browser":"b","device":"d"},"shard":[0,1]}}"#;
        let cut = cut.min(identify.len() - 1);
        let result = decode_client_frame(&identify.as_bytes()[..cut]);
        prop_assert!(result.is_err());
    }
}

#[test]
fn heartbeat_and_identify_decode() {
    assert_eq!(
        decode_client_frame(br#"{"op":1,"d":null}"#),
        Ok(Command::Heartbeat(None))
    );
    let identify =
        br#"{"op":2,"d":{"token":"Bot t","intents":129,"properties":{"os":"l","browser":"b","device":"d"}}}"#;
    assert!(matches!(decode_client_frame(identify), Ok(Command::Identify(_))));
}
