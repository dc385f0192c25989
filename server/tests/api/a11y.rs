//! Accessibility in a real browser: axe-core finds no serious or critical violation on any page
//! state a player meets (landing signed out and in, an invite and a dead one, the 404 page, a room
//! signed out, unknown, closed while watched and ended, the owner's table with its forms open, the
//! dropout modal); the modal takes the focus, keeps it, and leaves the page
//! behind it inert; joins and leaves are said in the table's polite live region.

use discord_sim::Snowflake;

use crate::{
    browser::{Page, browser_test},
    helpers::spawn_app,
    players::Player,
    table::sign_in_to,
};

/// axe's serious and critical findings on the page as it is now, each line prefixed by `state`.
async fn audit(page: &Page, state: &str) -> anyhow::Result<Vec<String>> {
    Ok(page
        .axe()
        .await?
        .into_iter()
        .map(|violation| format!("[{state}] {violation}"))
        .collect())
}

/// What the table's live region says now (visually hidden, so read from the DOM, not the screen).
async fn announced(page: &Page) -> anyhow::Result<String> {
    Ok(page
        .find(".roster__announcement")
        .await?
        .prop("textContent")
        .await?
        .unwrap_or_default())
}

async fn wait_for_announcement(page: &Page, expected: &str) -> anyhow::Result<()> {
    page.wait_for(
        &format!("the live region to say {expected:?}"),
        |page| async move { Ok(announced(&page).await? == expected) },
    )
    .await
}

/// Waits until the focus is inside the dropout modal.
async fn wait_for_focus_in_modal(page: &Page, after: &str) -> anyhow::Result<()> {
    page.wait_for(
        &format!("the focus inside the modal {after}"),
        |page| async move {
            let (inside, active) = page.focus_within(".dropout").await?;
            anyhow::ensure!(inside, "focused: {active}");
            Ok(true)
        },
    )
    .await
}

/// The pages a signed-out visitor meets, audited: home, an invite and a dead one, the 404 page,
/// a room's page and an unknown room's.
async fn audit_signed_out(
    page: &Page,
    base: &str,
    token: &str,
    channel: &str,
) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    page.goto(&format!("{base}/")).await?;
    page.wait_until_hydrated().await?;
    found.extend(audit(page, "landing, signed out").await?);

    page.goto(&format!("{base}/invite/{token}")).await?;
    page.wait_until_hydrated().await?;
    found.extend(audit(page, "invite, signed out").await?);

    page.goto(&format!("{base}/invite/not-a-real-token")).await?;
    page.wait_until_hydrated().await?;
    found.extend(audit(page, "dead invite link").await?);

    page.goto(&format!("{base}/no/such/page")).await?;
    page.find("main h1").await?;
    found.extend(audit(page, "404").await?);

    page.goto(&format!("{base}/game/{channel}")).await?;
    page.find("main h1").await?;
    found.extend(audit(page, "game room, signed out").await?);

    page.goto(&format!("{base}/game/4000000000000000999")).await?;
    page.find("main h1").await?;
    found.extend(audit(page, "unknown game room").await?);
    Ok(found)
}

#[tokio::test]
async fn every_page_state_passes_axe_and_the_dropout_modal_holds_the_focus() {
    let app = spawn_app().await;
    let discord = app.discord.clone();
    let demo = discord.demo();
    let owner = Player::signed_in(&app, &demo.alice.to_string()).await;
    let bob = Player::signed_in(&app, &demo.bob.to_string()).await;
    let (channel, token) = owner.create_room("Friday Commander").await;
    let room = Snowflake::parse(&channel).unwrap();
    bob.call("join", &[("token", &token)]).await.ok();
    let base = app.address.clone();
    browser_test("a11y", |page| async move {
        let mut found = Vec::new();

        found.extend(audit_signed_out(&page, &base, &token, &channel).await?);

        // The owner's table, with Bob seated (so "Remove Bob" is there) and the life totals.
        sign_in_to(&page, &base, demo.alice, &format!("/game/{channel}")).await?;
        page.find(".life").await?;
        page.find(".player__remove").await?;
        found.extend(audit(&page, "game room, owner").await?);
        page.click(&format!(
            r#".seat[data-user-id="{}"] .commanders__toggle"#,
            demo.alice
        ))
        .await?;
        page.find(".commanders__form").await?;
        page.click(".table__new-game").await?;
        page.find(".new-game").await?;
        found.extend(audit(&page, "game room, commander form and new-game question open").await?);
        page.click(".new-game__cancel").await?;

        discord.join_voice(demo.bob, room)?;
        wait_for_announcement(&page, "Bob joined the table").await?;
        discord.leave_voice(demo.bob)?;
        wait_for_announcement(&page, "Bob left voice").await?;
        assert_eq!(
            page.count(".roster[aria-live]").await?,
            0,
            "only the dedicated region is live, not the whole table"
        );

        // Alice's voice drops: the modal takes the focus, keeps it on Tab and Shift+Tab, and the
        // page behind it is inert until she is back.
        discord.join_voice(demo.alice, room)?;
        page.find(&format!(
            r#".seat[data-user-id="{}"][data-voice="in"]"#,
            demo.alice
        ))
        .await?;
        page.focus(".room__close").await?;
        discord.leave_voice(demo.alice)?;
        page.find(".dropout").await?;
        wait_for_focus_in_modal(&page, "when it opens").await?;
        assert_eq!(page.count("main[inert]").await?, 1, "the page behind is inert");
        for (step, backwards) in [false, false, false, true, true, true].into_iter().enumerate() {
            page.press_tab(backwards).await?;
            wait_for_focus_in_modal(&page, &format!("after Tab {step} (backwards: {backwards})")).await?;
        }
        found.extend(audit(&page, "dropout modal").await?);
        // The page's live region is inert behind the modal: the modal says the table's news.
        discord.join_voice(demo.bob, room)?;
        page.wait_for("the modal to say bob joined", |page| async move {
            let said = page
                .find(".dropout .dropout__announcement")
                .await?
                .prop("textContent")
                .await?
                .unwrap_or_default();
            Ok(said == "Bob joined the table")
        })
        .await?;
        page.screenshot("a11y-dropout-modal").await?;
        discord.join_voice(demo.alice, room)?;
        page.wait_for("the modal to close on return", |page| async move {
            Ok(page.count(".dropout").await? == 0)
        })
        .await?;
        assert_eq!(page.count("[inert]").await?, 0, "nothing stays inert");
        let (back, active) = page.focus_within(".room__close").await?;
        assert!(back, "the focus goes back where it was, not: {active}");

        page.goto(&format!("{base}/")).await?;
        page.wait_for("the signed-in name", |page| async move {
            Ok(page
                .text(".landing__actions")
                .await?
                .contains("Signed in as Alice"))
        })
        .await?;
        found.extend(audit(&page, "landing, signed in").await?);

        // The owner closes the room while watching it, then comes back to it.
        page.goto(&format!("{base}/game/{channel}")).await?;
        page.find(r#".roster[data-status="live"]"#).await?;
        owner.call("close", &[("channel", &channel)]).await.ok();
        page.find(".room-ended").await?;
        found.extend(audit(&page, "game room, closed while watched").await?);
        page.goto(&format!("{base}/game/{channel}")).await?;
        page.find(".game-over").await?;
        found.extend(audit(&page, "ended game room").await?);

        anyhow::ensure!(
            found.is_empty(),
            "axe-core found serious or critical violations:\n{}",
            found.join("\n")
        );
        Ok(())
    })
    .await;
}
