//! Every page in a real browser with JavaScript off: what the server sent is all there is, and it
//! is the truth. A visitor reads the invite (and a dead link says so), signs in (the consent page
//! is a plain form) and comes back signed in, with their games (and the idle one's warning); a
//! room's page shows its table; an ended or unknown game says which. No page ever hydrates.

use backend::{
    rooms::janitor::{IDLE_LIMIT, WARNING_AHEAD},
    store::unix_millis,
};

use crate::{
    browser::{Page, scriptless_browser_test},
    helpers::spawn_app_on_real_discord,
    janitor::{janitor, ms},
    players::Player,
};

/// The page at `path`, checked to be the server's render alone.
async fn open(page: &Page, url: String) -> anyhow::Result<()> {
    page.goto(&url).await?;
    page.find("main h1").await?;
    anyhow::ensure!(
        page.count(r#"[data-hydrated="true"]"#).await? == 0,
        "a page hydrated with JavaScript off: the test proves nothing"
    );
    Ok(())
}

#[tokio::test]
async fn every_page_tells_the_truth_with_javascript_off() {
    // As deployed (on the embedded simulator an unknown channel is a demo channel).
    let app = spawn_app_on_real_discord(&[("IP_RATE_BURST", "1000")]).await;
    let demo = app.discord.demo();
    let owner = Player::signed_in(&app, &demo.alice.to_string()).await;
    let (room, token) = owner.create_room("Friday Commander").await;
    let (ended, _) = owner.create_room("Last week").await;
    owner.call("close", &[("channel", &ended)]).await.ok();
    // Nobody has been at the table for 55 minutes: the janitor warns it will close.
    let mut janitor = janitor(&app);
    let now = unix_millis();
    janitor
        .sweep(now - ms(IDLE_LIMIT) + ms(WARNING_AHEAD))
        .await
        .unwrap();
    let warned = janitor.sweep(now).await.unwrap();
    assert_eq!(warned.warned.len(), 1, "{warned:?}");
    let base = app.address.clone();
    scriptless_browser_test("no_script", |page| async move {
        // Before signing in: what the invite is for, and a dead link said before any sign-in.
        open(&page, format!("{base}/invite/{token}")).await?;
        let invite = page.text("main").await?;
        for shown in [
            "Friday Commander",
            "Alice",
            "3 of 4 left",
            "Sign in with Discord to join",
        ] {
            anyhow::ensure!(invite.contains(shown), "{shown:?} on the invite page: {invite}");
        }
        open(&page, format!("{base}/invite/not-a-real-token")).await?;
        page.find(r#".invite-page__dead[data-code="TOKEN_INVALID"]"#)
            .await?;

        // A room's page, signed out: the way in, which comes back here.
        open(&page, format!("{base}/game/{room}")).await?;
        let sign_in = page.find(".game-room__signin a").await?;
        let href = sign_in.attr("href").await?.unwrap_or_default();
        anyhow::ensure!(href == format!("/auth/login?return_to=/game/{room}"), "{href}");

        // Ended and unknown games.
        open(&page, format!("{base}/game/{ended}")).await?;
        anyhow::ensure!(page.text("h1").await? == "This game has ended");
        open(&page, format!("{base}/game/4000000000000000999")).await?;
        anyhow::ensure!(page.text("h1").await? == "No such game");
        page.find(".game-over a.button").await?;

        // Signing in from the home page: the first paint is alice's, with her games.
        page.goto(&format!("{base}/auth/login?return_to=/")).await?;
        page.click(&format!(
            r#"form:has(input[name="user_id"][value="{}"]) button"#,
            demo.alice
        ))
        .await?;
        page.wait_for(
            "home",
            |page| async move { Ok(page.current_path().await? == "/") },
        )
        .await?;
        open(&page, format!("{base}/")).await?;
        let actions = page.text(".landing__actions").await?;
        anyhow::ensure!(actions.contains("Signed in as Alice"), "{actions}");
        page.find(".create-room #room-name").await?;
        let games = page.text(".my-rooms").await?;
        anyhow::ensure!(
            games.contains("Friday Commander") && !games.contains("Last week"),
            "her open games only: {games}"
        );
        let closing = page
            .text(r#".my-rooms__room[data-closing="true"] .my-rooms__closing"#)
            .await?;
        anyhow::ensure!(
            closing.starts_with("Idle: closes in")
                && closing.ends_with("unless someone opens it or joins its voice channel"),
            "the idle warning, where she sees it: {closing}"
        );
        page.screenshot("no-script-home-signed-in").await?;

        // Her room's page: its table and her controls, from the server alone.
        open(&page, format!("{base}/game/{room}")).await?;
        anyhow::ensure!(page.text(".game-room__name").await? == "Friday Commander");
        // WebDriver's visible text leaves a `<noscript>` out (it runs its own scripts); the
        // screenshot below shows the line.
        let why = page
            .find(".roster noscript")
            .await?
            .prop("textContent")
            .await?
            .unwrap_or_default();
        anyhow::ensure!(
            why.contains("turn it on to see the table"),
            "says why it is empty: {why}"
        );
        page.find(".room__close").await?;
        page.screenshot("no-script-game-room").await?;
        Ok(())
    })
    .await;
}
