//! Property tests of what a peer can send over HTTP: any server function body and any stream
//! query is answered with a status that says what was wrong — never a 500, never a panic.

use std::sync::Arc;

use proptest::{prelude::*, test_runner::TestRunner};
use reqwest::Method;

use crate::{
    helpers::{TestApp, spawn_app_with},
    players::Player,
};

/// Cases per property: enough to hit odd encodings, few enough for CI.
const CASES: u32 = 48;

/// Argument names the server functions take, plus one they do not.
fn arg_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name".to_owned()),
        Just("channel".to_owned()),
        Just("token".to_owned()),
        Just("player".to_owned()),
        Just("user".to_owned()),
        "[a-z_\\[\\]]{0,12}",
    ]
}

/// Values from plausible to hostile: snowflakes out of range, control and bidi characters, long
/// text, percent-escapes that decode to invalid UTF-8.
fn arg_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,25}",
        "-?[0-9]{1,20}",
        any::<String>(),
        "\\PC{0,300}",
        Just("%FF%FE".to_owned()),
        Just("\u{202e}evil".to_owned()),
    ]
}

/// A form body: well-formed pairs, or arbitrary bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec((arg_name(), arg_value()), 0..4).prop_map(|pairs| {
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
                .into_bytes()
        }),
        proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

/// Runs `property` for [`CASES`] generated values, each an HTTP exchange against the app.
fn check<S, F, Fut>(strategy: S, property: F)
where
    S: Strategy,
    S::Value: Clone + std::fmt::Debug,
    F: Fn(S::Value) -> Fut,
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    let runtime = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    tokio::task::block_in_place(|| {
        runner
            .run(&strategy, |value| runtime.block_on(property(value)))
            .unwrap();
    });
}

/// An app with the stream closed to strangers, and Alice signed in (once her request budget is
/// spent, 429 is a fine answer too).
async fn app_and_player() -> (Arc<TestApp>, Player) {
    let app = spawn_app_with(&[("DEV_OPEN_STREAM", "false")]).await;
    let player = Player::signed_in(&app, &app.discord.demo().alice.to_string()).await;
    (Arc::new(app), player)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_function_body_makes_the_server_fail() {
    let (app, player) = app_and_player().await;
    let functions: Vec<String> = server::route_table()
        .into_iter()
        .filter(|(method, path)| method == Method::POST && path.starts_with("/api/"))
        .map(|(_, path)| path)
        .collect();
    assert!(
        functions.len() > 5,
        "the server functions are registered: {functions:?}"
    );
    let anonymous = Player::anonymous(&app);
    check(
        (0..functions.len(), body(), any::<bool>()),
        |(function, body, signed_in)| {
            let caller = if signed_in { &player } else { &anonymous };
            let function = functions[function].clone();
            let request = caller
                .client
                .post(app.url(&function))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
            async move {
                let response = request.send().await.unwrap();
                let status = response.status();
                prop_assert!(
                    status.is_success() || status.is_client_error(),
                    "{function} answered {status}: {}",
                    response.text().await.unwrap_or_default()
                );
                Ok(())
            }
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stream_query_makes_the_server_fail() {
    let (app, player) = app_and_player().await;
    let query = prop_oneof![
        proptest::collection::vec((arg_name(), arg_value()), 0..3).prop_map(|pairs| {
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
        }),
        "[ -~]{0,100}".prop_map(|raw| raw.replace(['#', ' '], "")),
    ];
    check(query, |query| {
        let request = player.client.get(app.url(&format!("/api/stream?{query}")));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            prop_assert!(
                status.is_success() || status.is_client_error(),
                "/api/stream?{query} answered {status}"
            );
            Ok(())
        }
    });
}
