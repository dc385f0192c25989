//! The voice dropout modal in a real browser, for a user signed in through the simulator's
//! consent page.

use crate::{browser::browser_test, helpers::spawn_app};

#[tokio::test]
async fn leaving_or_moving_out_of_the_room_opens_the_dropout_modal_and_returning_closes_it() {
    let app = spawn_app().await;
    let discord = app.discord.clone();
    let demo = discord.demo();
    let guild = discord.endpoints().guild_id;
    browser_test("voice_dropout_modal", |page| async move {
        // Sign in as alice (who starts in the Lobby) and come back to the Lobby's game room.
        page.goto(&app.url(&format!("/auth/login?return_to=/game/{}", demo.lobby)))
            .await?;
        page.click(&format!(
            r#"form:has(input[name="user_id"][value="{}"]) button"#,
            demo.alice
        ))
        .await?;
        page.find(r#".roster[data-status="live"]"#).await?;
        page.wait_for("alice in the list", |page| async move {
            Ok(page.text(".roster__list").await?.contains("Alice"))
        })
        .await?;
        assert_eq!(page.count(".dropout").await?, 0, "no modal while in the room");

        discord.leave_voice(demo.alice)?;
        page.find(".dropout").await?;
        let rejoin = page.find(".dropout__rejoin").await?.attr("href").await?;
        assert_eq!(
            rejoin.as_deref(),
            Some(format!("https://discord.com/channels/{guild}/{}", demo.lobby).as_str())
        );
        assert!(page.find(".dropout__leave").await?.attr("href").await?.as_deref() == Some("/"));

        // Not dismissible: Escape and a click outside leave it open.
        page.press_escape().await?;
        page.click(".modal-backdrop").await?;
        assert_eq!(page.count(".dropout").await?, 1);

        discord.join_voice(demo.alice, demo.lobby)?;
        page.wait_for("the modal to close on return", |page| async move {
            Ok(page.count(".dropout").await? == 0)
        })
        .await?;

        discord.move_voice(demo.alice, demo.games)?;
        page.find(".dropout").await?;

        // Home shows who is signed in, with a way out.
        page.goto(&app.url("/")).await?;
        page.wait_for("the signed-in name", |page| async move {
            Ok(page
                .text(".landing__actions")
                .await?
                .contains("Signed in as Alice"))
        })
        .await?;
        page.click(".landing__logout button").await?;
        page.wait_for("the sign-in button again", |page| async move {
            Ok(page
                .text(".landing__actions")
                .await?
                .contains("Sign in with Discord"))
        })
        .await?;
        Ok(())
    })
    .await;
}
