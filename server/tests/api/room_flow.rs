//! The whole invite flow in two independent browsers: alice creates a room and copies its invite;
//! bob opens it signed out, signs in, joins, and both see each other at the table once they are in
//! the room's voice channel. Closing the room tells bob's page. And the owner removes a player,
//! then lets them back in.

use crate::{
    browser::{Page, browser_test, two_browser_test},
    helpers::{spawn_app, spawn_app_on_real_discord},
    players::Player,
};

#[tokio::test]
async fn a_friend_joins_by_invite_and_both_see_each_other_at_the_table() {
    let app = spawn_app().await;
    let discord = app.discord.clone();
    let demo = discord.demo();
    two_browser_test("room_flow", |alice, bob| async move {
        // Alice signs in, creates a room and lands on it with the invite link ready.
        alice.goto(&app.url("/auth/login?return_to=/")).await?;
        alice
            .click(&format!(
                r#"form:has(input[name="user_id"][value="{}"]) button"#,
                demo.alice
            ))
            .await?;
        alice.wait_until_hydrated().await?;
        alice
            .find("#room-name")
            .await?
            .send_keys("Friday Commander")
            .await?;
        alice.click(".create-room__submit").await?;
        let link = alice
            .find(".invite__link input")
            .await?
            .prop("value")
            .await?
            .unwrap_or_default();
        let room_path = alice.current_path().await?;
        let channel = room_path.trim_start_matches("/game/").to_owned();
        assert!(link.starts_with(&app.url("/invite/")), "{link}");
        assert_eq!(alice.text(".game-room__name").await?, "Friday Commander");
        alice.click(".invite__copy").await?;
        alice.find(".toast").await?;
        // The link survives a reload of the owner's tab (the server could not show it again).
        alice.goto(&app.url(&room_path)).await?;
        alice
            .wait_for("the link back after a reload", |page| {
                let link = link.clone();
                async move {
                    Ok(match page.find_all(".invite__link input").await?.first() {
                        Some(field) => field.prop("value").await?.as_deref() == Some(link.as_str()),
                        None => false,
                    })
                }
            })
            .await?;
        assert!(
            alice
                .text(".invite__expiry")
                .await?
                .starts_with("Expires in 23 h 59 min")
        );

        // Bob opens the link signed out, signs in, and comes back to the invite to join.
        bob.goto(&link).await?;
        bob.wait_until_hydrated().await?;
        bob.click(".invite-page__signin").await?;
        bob.click(&format!(
            r#"form:has(input[name="user_id"][value="{}"]) button"#,
            demo.bob
        ))
        .await?;
        bob.wait_until_hydrated().await?;
        bob.click(".invite-page__join").await?;
        bob.wait_for("bob on the room's page", |page| {
            let room_path = room_path.clone();
            async move { Ok(page.current_path().await? == room_path) }
        })
        .await?;
        assert_eq!(bob.text(".game-room__name").await?, "Friday Commander");
        assert_eq!(
            bob.count(".invite").await?,
            0,
            "only the owner sees the invite panel"
        );

        // Both connect to the room's voice channel in Discord and see each other.
        let channel = discord_sim::Snowflake::parse(&channel).expect("the room id is a snowflake");
        discord.join_voice(demo.alice, channel)?;
        discord.join_voice(demo.bob, channel)?;
        for page in [&alice, &bob] {
            page.wait_for("Alice and Bob at the table", |page| async move {
                let names = page.text(".seats").await?;
                Ok(names.contains("Alice") && names.contains("Bob"))
            })
            .await?;
            assert_eq!(page.text(".roster__count").await?, "2/4");
        }
        // After a reload the owner sees bob among the players, and still the link (kept by her
        // tab: the server stores only its hash).
        alice.goto(&app.url(&room_path)).await?;
        alice
            .wait_for("bob among the players", |page| async move {
                Ok(page.text(".players").await?.contains("Bob"))
            })
            .await?;
        alice.wait_until_hydrated().await?;
        alice.find(".invite__link input").await?;

        // Alice closes the room (after confirming): she is home, and bob's table says it closed.
        alice.click(".room__close").await?;
        alice.accept_dialog().await?;
        alice
            .wait_for("alice back home", |page| async move {
                Ok(page.current_path().await? == "/")
            })
            .await?;
        bob.find(r#".roster[data-status="closed"]"#).await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_broken_invite_explains_itself_and_offers_the_way_home() {
    let app = spawn_app().await;
    let bob = app.discord.demo().bob;
    browser_test("broken_invite", |page| async move {
        let invite = "/invite/not-a-real-token";
        page.goto(&app.url(&format!("/auth/login?return_to={invite}")))
            .await?;
        page.click(&format!(
            r#"form:has(input[name="user_id"][value="{bob}"]) button"#
        ))
        .await?;
        page.wait_until_hydrated().await?;
        // Told before anything is pressed (it was told before signing in, too).
        let problem = page
            .find(r#".invite-page__dead[data-code="TOKEN_INVALID"]"#)
            .await?;
        assert!(problem.text().await?.contains("This invite link doesn't work"));
        assert_eq!(
            page.count(".invite-page__join").await?,
            0,
            "no join for a link that cannot work"
        );
        assert!(
            !page.text("h1").await?.contains("invited"),
            "one headline: the link's problem"
        );
        page.click(".invite-page__dead a.button--secondary").await?;
        page.wait_for(
            "home",
            |page| async move { Ok(page.current_path().await? == "/") },
        )
        .await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn the_owner_sees_a_removed_player_and_lets_them_back_in() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    // The room and bob's seat are set up over HTTP; the browser is alice's.
    let owner = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let (channel, token) = owner.create_room("Strict table").await;
    bob.call("join", &[("token", &token)]).await.ok();
    let room_path = format!("/game/{channel}");
    let bob_row = format!(r#".player[data-user="{}"]"#, demo.bob);
    let bob_removed = format!(r#".removed-player[data-user="{}"]"#, demo.bob);
    browser_test("readmit", |page| async move {
        page.goto(&app.url(&format!("/auth/login?return_to={room_path}")))
            .await?;
        page.click(&format!(
            r#"form:has(input[name="user_id"][value="{}"]) button"#,
            demo.alice
        ))
        .await?;
        // Names are isolated: `<bdi>`, not spans.
        page.find(".game-room__name bdi").await?;
        page.wait_until_hydrated().await?;
        assert_eq!(page.text(&format!("{bob_row} bdi.player__name")).await?, "Bob");

        page.click(&format!("{bob_row} .player__remove")).await?;
        page.accept_dialog().await?;
        assert_eq!(
            page.text(&format!("{bob_removed} bdi.player__name")).await?,
            "Bob"
        );
        assert_eq!(page.count(&bob_row).await?, 0, "bob lost his seat");
        let answer = bob.call("join", &[("token", &token)]).await;
        assert_eq!(answer.err(403, "invite"), "REMOVED");

        page.click(&format!("{bob_removed} .removed-player__readmit"))
            .await?;
        page.wait_for("bob off the removed list", |page| {
            let bob_removed = bob_removed.clone();
            async move { Ok(page.count(&bob_removed).await? == 0) }
        })
        .await?;
        bob.call("join", &[("token", &token)]).await.ok();
        Ok(())
    })
    .await;
}

/// Nothing on a table that stopped following is left to press: no life button, no room controls.
async fn assert_shut_out(page: &Page) -> anyhow::Result<()> {
    page.wait_for("the table's buttons to go quiet", |page| async move {
        Ok(page.count(".life__tap:not([disabled])").await? == 0
            && page.count(".game-room__controls[hidden]").await? == 1)
    })
    .await
}

/// Bob joins from the invite page and lands on the room's page with its table live.
async fn join_by_invite(page: &Page, base: &str, token: &str, room: &str) -> anyhow::Result<()> {
    page.goto(&format!("{base}/invite/{token}")).await?;
    page.wait_until_hydrated().await?;
    page.click(".invite-page__join").await?;
    page.wait_for("bob on the room's page", |page| async move {
        Ok(page.current_path().await? == format!("/game/{room}"))
    })
    .await?;
    page.find(r#".roster[data-status="live"]"#).await?;
    Ok(())
}

#[tokio::test]
async fn a_refused_table_stops_and_says_why_instead_of_reconnecting_forever() {
    // Not on the embedded simulator, whose development switch lets anyone watch any channel.
    let app = spawn_app_on_real_discord(&[("IP_RATE_BURST", "1000")]).await;
    let demo = app.discord.demo();
    let owner = Player::signed_in(&app, &demo.alice.to_string()).await;
    let (room, token) = owner.create_room("Strict table").await;
    let base = app.address.clone();
    browser_test("refused_stream", |page| async move {
        page.goto(&format!("{base}/auth/login?return_to=/invite/{token}"))
            .await?;
        page.click(&format!(
            r#"form:has(input[name="user_id"][value="{}"]) button"#,
            demo.bob
        ))
        .await?;
        join_by_invite(&page, &base, &token, &room).await?;

        // Removed while watching: the server ends the stream and refuses it from then on.
        let bob_id = demo.bob.to_string();
        owner
            .call("remove_player", &[("channel", &room), ("player", &bob_id)])
            .await
            .ok();
        page.find(r#".roster[data-status="not-a-player"]"#).await?;
        assert!(page.text(".roster__ended").await?.contains("no longer a player"));
        assert_shut_out(&page).await?;
        let violations = page.axe().await?;
        assert!(violations.is_empty(), "axe, not a player: {violations:?}");

        // Let back in; then signed out (in another tab, say) while watching: the way back in.
        owner
            .call("readmit_player", &[("channel", &room), ("player", &bob_id)])
            .await
            .ok();
        join_by_invite(&page, &base, &token, &room).await?;
        page.run("fetch('/auth/logout', { method: 'POST' });").await?;
        page.find(r#".roster[data-status="signed-out"]"#).await?;
        let again = page.find(".roster__ended a").await?;
        assert_eq!(
            again.attr("href").await?.as_deref(),
            Some(format!("/auth/login?return_to=/game/{room}").as_str())
        );
        assert_shut_out(&page).await?;
        let violations = page.axe().await?;
        assert!(violations.is_empty(), "axe, signed out: {violations:?}");
        page.screenshot("refused-stream-signed-out").await?;
        Ok(())
    })
    .await;
}
