//! A gateway-wide Discord outage and its end, as players see it: the page says "Connecting to
//! Discord…" instead of showing a frozen roster as live, a join is told to come back instead of
//! counting seats on a roster nobody can see, the janitor neither warns nor deletes, and once
//! Discord answers again every viewer has exactly Discord's truth.
//!
//! (`/health/ready` through the same outage — degraded, then 503 beyond the grace — is
//! `health::ready_degrades_during_a_gateway_outage_turns_503_beyond_the_grace_and_recovers`; the
//! reconnect schedule on paused time is `backend::discord::gateway::tests`.)

use std::collections::BTreeSet;

use backend::{
    rooms::janitor::{IDLE_LIMIT, WARNING_AHEAD},
    store::unix_millis,
};
use discord_sim::{GatewayFault, Snowflake};
use model::{
    event::{DiscordStatus, RosterStatus},
    stream::RoomSnapshot,
};

use crate::{
    helpers::{SseReader, spawn_app_with},
    janitor::{janitor_watching, ms},
    players::Player,
};

/// Reads the stream until a `discord.status` frame, checking each frame's event is known.
async fn next_status(stream: &mut SseReader) -> RosterStatus {
    loop {
        let frame = stream.next_event().await;
        if frame.event.as_deref() == Some("discord.status") {
            return serde_json::from_str::<DiscordStatus>(&frame.data)
                .expect("a discord.status payload")
                .status;
        }
    }
}

#[tokio::test]
async fn a_discord_outage_is_shown_joins_wait_nothing_is_swept_and_the_roster_comes_back_exact() {
    // Reconnect attempts at most a second apart, so the recovery is quick.
    let app = spawn_app_with(&[("GATEWAY_RECONNECT_MAX_SECS", "1")]).await;
    let demo = app.discord.demo();
    let alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let (channel, token) = alice.create_room("Outage").await;
    let room = Snowflake::parse(&channel).unwrap();
    app.discord.join_voice(demo.alice, room).unwrap();

    let response = alice.get(&format!("/api/stream?room={channel}")).await;
    assert_eq!(response.status(), 200);
    let mut stream = SseReader::new(response);
    let first = stream.next_event().await;
    assert_eq!(first.event.as_deref(), Some("snapshot"));
    let snapshot: RoomSnapshot = serde_json::from_str(&first.data).unwrap();
    assert_eq!(snapshot.discord, RosterStatus::Ready, "{snapshot:?}");

    // Discord goes away: the connection drops and every new one (resume included) is refused.
    app.discord.set_refuse_gateway(true);
    assert_eq!(app.discord.fault_all(&GatewayFault::Drop), 1);
    assert_eq!(
        next_status(&mut stream).await,
        RosterStatus::Connecting,
        "the page is told at once"
    );
    // A page opened now says so too, rather than showing the frozen roster as the truth.
    let late = alice.get(&format!("/api/stream?room={channel}")).await;
    let late: RoomSnapshot = serde_json::from_str(&SseReader::new(late).next_event().await.data).unwrap();
    assert_eq!(late.discord, RosterStatus::Connecting);

    // A join cannot count seats: it is asked to come back, and nothing is taken.
    let refused = bob.call("join", &[("token", &token)]).await;
    assert_eq!(refused.retry_after.as_deref(), Some("5"), "{refused:?}");
    assert_eq!(refused.err(503, "invite"), "DISCORD_UNAVAILABLE");
    assert!(
        !app.store
            .is_player(channel.parse().unwrap(), demo.bob.to_string().parse().unwrap())
            .await
            .unwrap()
    );

    // The janitor, however late the clock, neither warns nor deletes while it cannot see.
    let mut janitor = janitor_watching(&app, app.live.watch_roster_status());
    let now = unix_millis();
    janitor.sweep(now).await.unwrap();
    let blind = janitor
        .sweep(now + ms(IDLE_LIMIT) - ms(WARNING_AHEAD) + 1)
        .await
        .unwrap();
    assert!(blind.paused, "{blind:?}");
    let blind = janitor.sweep(now + 2 * ms(IDLE_LIMIT)).await.unwrap();
    assert!(
        blind.paused && blind.warned.is_empty() && blind.deleted.is_empty(),
        "{blind:?}"
    );
    assert!(app.store.room(channel.parse().unwrap()).await.unwrap().is_some());

    // While the app cannot hear it, the table changes: alice leaves, carol (a moderator) comes in.
    app.discord.leave_voice(demo.alice).unwrap();
    app.discord.join_voice(demo.carol, room).unwrap();

    // Discord answers again: the session resumes, the missed events replay, then "ready".
    app.discord.set_refuse_gateway(false);
    assert_eq!(next_status(&mut stream).await, RosterStatus::Ready);
    let truth: BTreeSet<u64> = app
        .discord
        .world()
        .voice
        .values()
        .filter(|state| state.channel_id == room)
        .map(|state| state.user_id.get())
        .collect();
    assert_eq!(truth, BTreeSet::from([demo.carol.get()]));
    let shown: BTreeSet<u64> = app
        .live
        .members_of(channel.parse().unwrap())
        .iter()
        .map(|member| member.user_id.get())
        .collect();
    assert_eq!(shown, truth, "exactly Discord's truth once ready");
    let fresh = alice.get(&format!("/api/stream?room={channel}")).await;
    let fresh: RoomSnapshot = serde_json::from_str(&SseReader::new(fresh).next_event().await.data).unwrap();
    assert_eq!(fresh.discord, RosterStatus::Ready);
    assert_eq!(fresh.members.len(), 1, "{fresh:?}");

    // And the join goes through now.
    bob.call("join", &[("token", &token)]).await.ok();
}
