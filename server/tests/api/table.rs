//! The table in two real browsers: seats fill live as people join, a drop shows on the other
//! page with a timer taken from the server (and kept across a reload) and clears on return,
//! someone in the channel without a seat is shown apart, and leaving on purpose is told apart
//! from a drop. Screenshots of the table at 1280×800 and 390×844 are saved under
//! `target/screenshots/`.

use discord_sim::Snowflake;
use model::{
    event::{SeatDropped, SeatFreed, SeatFreedReason, SeatTaken},
    stream::TableSeats,
};

use crate::{
    browser::{Page, two_browser_test},
    helpers::{SseReader, spawn_app, spawn_app_on_real_discord},
    players::Player,
};

/// Reads `stream` until an event named `name`, and decodes it.
async fn next_named<T: serde::de::DeserializeOwned>(stream: &mut SseReader, name: &str) -> T {
    loop {
        let frame = stream.next_event().await;
        if frame.event.as_deref() == Some(name) {
            return serde_json::from_str(&frame.data)
                .unwrap_or_else(|err| panic!("{name}: {err}: {}", frame.data));
        }
    }
}

/// Opens `player`'s stream of `channel`, and returns it with the seats it opened with (right
/// after the snapshot).
async fn open_table(player: &Player, channel: &str) -> (SseReader, TableSeats) {
    let response = player.get(&format!("/api/stream?room={channel}")).await;
    assert_eq!(response.status(), 200);
    let mut stream = SseReader::new(response);
    assert_eq!(stream.next_event().await.event.as_deref(), Some("snapshot"));
    let seats = stream.next_event().await;
    assert_eq!(seats.event.as_deref(), Some("seats"), "{}", seats.raw);
    assert!(
        seats.id.is_none(),
        "seats carry no id: replay starts from the last event's"
    );
    let seats = serde_json::from_str(&seats.data).unwrap();
    (stream, seats)
}

#[tokio::test]
async fn the_stream_carries_seats_their_changes_and_drop_times_that_survive_a_restart() {
    let app = spawn_app_on_real_discord(&[("IP_RATE_BURST", "1000")]).await;
    let demo = app.discord.demo();
    let mut alice = Player::signed_in(&app, &demo.alice.to_string()).await;
    let mut bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let (channel, token) = alice.create_room("Seats").await;
    let room = Snowflake::parse(&channel).unwrap();

    let (mut stream, table) = open_table(&alice, &channel).await;
    assert_eq!(table.seats.len(), 1);
    assert!(table.seats[0].owner && table.seats[0].dropped_at_ms.is_none());
    let skew = table.server_now_ms - backend::store::unix_millis();
    assert!(skew.abs() < 5_000, "serverNowMs is the server's clock: {skew}");

    bob.call("join", &[("token", &token)]).await.ok();
    let seated: SeatTaken = next_named(&mut stream, "seat.taken").await;
    assert_eq!((seated.user_id.get(), seated.owner), (demo.bob.get(), false));
    assert_eq!(seated.username, "Bob");

    app.discord.join_voice(demo.bob, room).unwrap();
    app.discord.leave_voice(demo.bob).unwrap();
    let dropped: SeatDropped = next_named(&mut stream, "seat.dropped").await;
    assert_eq!(dropped.user_id.get(), demo.bob.get());

    // A reload, and a restart, show the stored time.
    let app = app.restart().await;
    alice.address.clone_from(&app.address);
    bob.address.clone_from(&app.address);
    let (_, table) = open_table(&alice, &channel).await;
    let seat = |table: &TableSeats| {
        table
            .seats
            .iter()
            .find(|seat| seat.user_id.get() == demo.bob.get())
            .cloned()
            .expect("bob's seat")
    };
    assert_eq!(seat(&table).dropped_at_ms, Some(dropped.dropped_at_ms));

    // Back in voice: the drop is forgotten (stored too). Then he leaves the game on purpose.
    let (mut stream, _) = open_table(&alice, &channel).await;
    app.discord.join_voice(demo.bob, room).unwrap();
    let mut poll = tokio::time::interval(std::time::Duration::from_millis(20));
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            poll.tick().await;
            let seats = app.store.seats(channel.parse().unwrap()).await.unwrap();
            if seats.iter().all(|seat| seat.dropped_at_ms.is_none()) {
                break;
            }
        }
    })
    .await
    .expect("the drop is cleared on return");
    bob.call("leave", &[("channel", &channel)]).await.ok();
    let freed: SeatFreed = next_named(&mut stream, "seat.freed").await;
    assert_eq!(
        (freed.user_id.get(), freed.reason),
        (demo.bob.get(), SeatFreedReason::Left)
    );
    let (_, table) = open_table(&alice, &channel).await;
    assert_eq!(table.seats.len(), 1);
}

/// Signs `page` in as the simulator's `user` and lands on `path`.
pub async fn sign_in_to(page: &Page, app_url: &str, user: Snowflake, path: &str) -> anyhow::Result<()> {
    page.goto(&format!("{app_url}/auth/login?return_to={path}"))
        .await?;
    page.click(&format!(
        r#"form:has(input[name="user_id"][value="{user}"]) button"#
    ))
    .await?;
    page.find(r#".roster[data-status="live"] .seats"#).await?;
    Ok(())
}

/// The `data-voice` of `user`'s seat, or `None` when they hold no seat.
async fn voice_of(page: &Page, user: Snowflake) -> anyhow::Result<Option<String>> {
    match page
        .find_all(&format!(r#".seat[data-user-id="{user}"]"#))
        .await?
        .first()
    {
        Some(seat) => Ok(seat.attr("data-voice").await?),
        None => Ok(None),
    }
}

async fn wait_for_voice(page: &Page, user: Snowflake, expected: &str) -> anyhow::Result<()> {
    page.wait_for(&format!("{user}'s seat to say {expected}"), |page| async move {
        Ok(voice_of(&page, user).await?.as_deref() == Some(expected))
    })
    .await
}

/// The drop timer's seconds on `user`'s seat ("dropped 1:05 ago" → 65).
async fn dropped_seconds(page: &Page, user: Snowflake) -> anyhow::Result<Option<u64>> {
    let text = page
        .text(&format!(r#".seat[data-user-id="{user}"] .seat__voice"#))
        .await?;
    Ok(text
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .strip_prefix("dropped ")
        .and_then(|rest| rest.strip_suffix(" ago"))
        .and_then(|clock| clock.split_once(':'))
        .and_then(|(m, s)| Some(m.parse::<u64>().ok()? * 60 + s.parse::<u64>().ok()?)))
}

#[tokio::test]
async fn seats_fill_live_a_drop_is_timed_by_the_server_and_clears_on_return() {
    let app = spawn_app().await;
    let discord = app.discord.clone();
    let demo = discord.demo();
    let owner = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let (channel, token) = owner.create_room("Friday Commander").await;
    let room = Snowflake::parse(&channel).expect("a snowflake");
    let path = format!("/game/{channel}");
    let base = app.address.clone();
    two_browser_test("table", |alice_page, bob_page| async move {
        sign_in_to(&alice_page, &base, demo.alice, &path).await?;
        wait_for_voice(&alice_page, demo.alice, "waiting").await?;
        assert_eq!(alice_page.text(".roster__count").await?, "1/4");
        assert_eq!(alice_page.count(".seat--empty").await?, 3);
        assert_eq!(
            alice_page
                .count(&format!(r#".seat[data-user-id="{}"] .seat__owner"#, demo.alice))
                .await?,
            1,
            "the owner's badge"
        );

        // Bob joins with the invite: his seat appears on alice's page without a reload.
        bob.call("join", &[("token", &token)]).await.ok();
        wait_for_voice(&alice_page, demo.bob, "waiting").await?;
        assert_eq!(alice_page.text(".roster__count").await?, "2/4");
        sign_in_to(&bob_page, &base, demo.bob, &path).await?;

        discord.join_voice(demo.alice, room)?;
        discord.join_voice(demo.bob, room)?;
        for page in [&alice_page, &bob_page] {
            wait_for_voice(page, demo.alice, "in").await?;
            wait_for_voice(page, demo.bob, "in").await?;
        }
        // Carol is let into the channel by someone, without a seat: shown apart, never counted.
        discord.join_voice(demo.carol, room)?;
        alice_page
            .wait_for("carol in the channel, not seated", |page| async move {
                Ok(page.text(".roster__unseated").await?.contains("Carol"))
            })
            .await?;
        assert_eq!(alice_page.text(".roster__count").await?, "2/4");
        alice_page.set_viewport_size(1280, 800).await?;
        alice_page.screenshot("table-1280x800").await?;

        // Bob drops: alice's page shows it with a timer that counts; the time is stored.
        discord.leave_voice(demo.bob)?;
        wait_for_voice(&alice_page, demo.bob, "dropped").await?;
        alice_page
            .wait_for("the drop timer to count", |page| async move {
                Ok(dropped_seconds(&page, demo.bob).await? >= Some(1))
            })
            .await?;
        let stored = app
            .store
            .seats(channel.parse()?)
            .await?
            .into_iter()
            .find(|seat| seat.user_id.get() == demo.bob.get())
            .and_then(|seat| seat.dropped_at_ms);
        assert!(stored.is_some(), "the drop time is stored");
        // A reload shows the same drop, timed from the stored moment (not from the reload).
        alice_page.goto(&format!("{base}{path}")).await?;
        wait_for_voice(&alice_page, demo.bob, "dropped").await?;
        assert!(dropped_seconds(&alice_page, demo.bob).await? >= Some(1));
        alice_page.set_viewport_size(390, 844).await?;
        alice_page.screenshot("table-390x844").await?;

        // Bob is back: the timer goes, on both pages.
        discord.join_voice(demo.bob, room)?;
        wait_for_voice(&alice_page, demo.bob, "in").await?;
        wait_for_voice(&bob_page, demo.bob, "in").await?;

        // Bob leaves the game on purpose: his seat goes, and the table says he left.
        bob.call("leave", &[("channel", &channel)]).await.ok();
        alice_page
            .wait_for("bob's departure", |page| async move {
                Ok(page.count(r#".table__departure[data-reason="left"]"#).await? == 1
                    && voice_of(&page, demo.bob).await?.is_none())
            })
            .await?;
        assert!(
            alice_page
                .text(".table__departure")
                .await?
                .contains("Bob left the game")
        );
        assert_eq!(alice_page.text(".roster__count").await?, "1/4");
        Ok(())
    })
    .await;
}
