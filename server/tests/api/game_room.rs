//! The game room page in a real browser: the member list follows the room's voice channel live.

use crate::{
    browser::{Page, browser_test},
    helpers::{LOUNGE, TABLE, joined, left, spawn_app},
};

async fn names(page: &Page) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for element in page.find_all(".roster__name").await? {
        names.push(element.text().await?);
    }
    Ok(names)
}

async fn wait_for_names(page: &Page, expected: &[&str]) -> anyhow::Result<()> {
    let expected: Vec<String> = expected.iter().map(|name| (*name).to_owned()).collect();
    page.wait_for(&format!("members {expected:?}"), |page| {
        let expected = expected.clone();
        async move { Ok(names(&page).await? == expected) }
    })
    .await
}

#[tokio::test]
async fn members_appear_and_disappear_as_they_join_move_and_leave() {
    let app = spawn_app().await;
    app.bus.publish(joined("11", "bob", TABLE));
    let bus = app.bus.clone();
    browser_test("game_room_live_members", |page| async move {
        page.goto(&app.url(&format!("/game/{TABLE}"))).await?;
        page.find(r#".roster[data-status="live"]"#).await?;
        wait_for_names(&page, &["bob"]).await?;
        assert_eq!(page.text(".roster__count").await?, "1/4");

        bus.publish(joined("10", "alice", TABLE));
        wait_for_names(&page, &["alice", "bob"]).await?;
        assert_eq!(page.text(".roster__count").await?, "2/4");

        bus.publish(joined("12", "carol", LOUNGE));
        // bob moves to the lounge: left here, joined there.
        bus.publish(left("11", TABLE));
        bus.publish(joined("11", "bob", LOUNGE));
        wait_for_names(&page, &["alice"]).await?;

        bus.publish(left("10", TABLE));
        wait_for_names(&page, &[]).await?;
        assert_eq!(
            page.text(".roster__empty").await?,
            "Nobody is in the voice channel yet."
        );
        assert_eq!(page.text(".roster__count").await?, "0/4");
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_room_link_that_is_not_a_discord_id_is_a_404() {
    let app = spawn_app().await;
    let response = app.get("/game/not-a-room").await;
    assert_eq!(response.status(), 404);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This page does not exist")
    );
}

#[tokio::test]
async fn a_simulated_user_joining_voice_appears_and_moving_away_disappears() {
    let app = spawn_app().await;
    let discord = app.discord.clone();
    let demo = discord.demo();
    let dana = discord.create_user("dana");
    browser_test("game_room_simulated_voice", |page| async move {
        page.goto(&app.url(&format!("/game/{}", demo.lobby))).await?;
        page.find(r#".roster[data-status="live"]"#).await?;
        let before = names(&page).await?;
        assert!(!before.contains(&"dana".to_owned()), "{before:?}");

        discord.join_voice(dana, demo.lobby)?;
        page.wait_for("dana in the list", |page| async move {
            Ok(names(&page).await?.contains(&"dana".to_owned()))
        })
        .await?;
        discord.set_self_mute(dana, true)?;
        discord.move_voice(dana, demo.games)?;
        page.wait_for("dana gone", |page| async move {
            Ok(!names(&page).await?.contains(&"dana".to_owned()))
        })
        .await?;
        assert_eq!(names(&page).await?, before, "no ghost, no duplicate");
        Ok(())
    })
    .await;
}
