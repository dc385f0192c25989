//! An independent client peer: discord.js's `@discordjs/ws` and `@discordjs/rest` (Node) through
//! `/gateway/bot`, zlib-stream, identify, a voice event, op 7 and RESUME. Agreeing with twilight
//! alone could hide a shape both get wrong; a second implementation guards against that.
//!
//! Needs Node 20 and `npm ci` in `tests/peer`, so it is ignored by default:
//! `cargo nextest run -p discord-sim --run-ignored only`.

use std::time::Duration;

use crate::support::start_sim;

#[tokio::test]
#[ignore = "needs node and `npm ci` in discord-sim/tests/peer"]
async fn discord_js_gateway_and_rest_work_against_the_simulator() {
    let sim = start_sim(Duration::from_secs(1)).await;
    let endpoints = sim.endpoints();
    let demo = sim.demo();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peer");
    let run = tokio::process::Command::new("node")
        .arg("peer.mjs")
        .current_dir(dir)
        .env("SIM_BASE", format!("http://{}", sim.addr()))
        .env("SIM_CONTROL_TOKEN", &endpoints.control_token)
        .env("SIM_BOT_TOKEN", &endpoints.bot_token)
        .env("SIM_BOB", demo.bob.to_string())
        .env("SIM_LOBBY", demo.lobby.to_string())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("peer finished")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "peer failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("PEER OK"), "{stdout}");
    let connection = sim.counters();
    assert_eq!((connection.identifies, connection.resumes), (1, 1));
}
