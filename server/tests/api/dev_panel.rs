//! The development panel's server functions and the panel itself, on the embedded simulator; and
//! their absence everywhere else.

use crate::{
    browser::browser_test,
    helpers::{spawn_app, spawn_app_on_real_discord},
};

#[tokio::test]
async fn with_real_discord_the_development_aids_do_not_exist() {
    // Even in development: a bot token means a real guild, real people.
    let app = spawn_app_on_real_discord(&[]).await;
    let demo = app.discord.demo();
    let voice_before = app
        .discord
        .world()
        .voice
        .get(&demo.alice)
        .map(|state| state.channel_id);
    for (path, form) in [
        ("/api/dev/guild", vec![]),
        (
            "/api/dev/voice",
            vec![
                ("user", demo.alice.to_string()),
                ("channel", demo.games.to_string()),
            ],
        ),
    ] {
        let response = app.client.post(app.url(path)).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    assert_eq!(
        app.discord
            .world()
            .voice
            .get(&demo.alice)
            .map(|state| state.channel_id),
        voice_before,
        "nobody was moved"
    );
    // The open stream is a development aid too: without a session, no roster.
    let response = app.get(&format!("/api/stream?room={}", demo.lobby)).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn set_simulated_voice_moves_a_simulated_user_and_rejects_bad_ids() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let post = |form: Vec<(&'static str, String)>| {
        let request = app.client.post(app.url("/api/dev/voice")).form(&form);
        async move { request.send().await.unwrap() }
    };

    let response = post(vec![
        ("user", demo.alice.to_string()),
        ("channel", demo.lobby.to_string()),
    ])
    .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert_eq!(app.discord.world().voice[&demo.alice].channel_id, demo.lobby);

    let response = post(vec![
        ("user", demo.alice.to_string()),
        ("channel", demo.games.to_string()),
    ])
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        app.discord.world().voice[&demo.alice].channel_id,
        demo.games,
        "moved"
    );

    let response = post(vec![("user", demo.alice.to_string())]).await;
    assert_eq!(response.status(), 200);
    assert!(!app.discord.world().voice.contains_key(&demo.alice), "left voice");

    let response = post(vec![("user", "alice".to_owned())]).await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": "invalid_input", "message": "`user` must be a Discord ID"})
    );

    let response = post(vec![
        ("user", "3999999999999999999".to_owned()),
        ("channel", demo.lobby.to_string()),
    ])
    .await;
    assert_eq!(
        response.status(),
        409,
        "an unknown simulated user is a conflict with the world, not a crash"
    );

    let response = post(vec![]).await;
    assert_eq!(response.status(), 400, "missing argument");
}

#[tokio::test]
async fn the_dev_panel_makes_a_simulated_user_join_and_leave_the_room() {
    let app = spawn_app().await;
    let room = app.discord.demo().lobby;
    browser_test("dev_panel_join_leave", |page| async move {
        page.goto(&app.url(&format!("/game/{room}"))).await?;
        page.find(r#".roster[data-status="live"]"#).await?;
        page.click(r#".dev-panel__user[data-user="Bob"] .dev-join"#)
            .await?;
        page.wait_for("bob in the member list", |page| async move {
            Ok(page.count(".roster__member .roster__name").await? > 0
                && page.text(".roster__list").await?.contains("Bob"))
        })
        .await?;
        page.wait_for("the panel to show bob in the room", |page| async move {
            Ok(page
                .text(r#".dev-panel__user[data-user="Bob"] .dev-panel__where"#)
                .await?
                .starts_with("in "))
        })
        .await?;
        page.click(r#".dev-panel__user[data-user="Bob"] .dev-leave"#)
            .await?;
        // The list, not the whole section: its live region now says "Bob left voice".
        page.wait_for("bob gone", |page| async move {
            Ok(!page.text(".roster__list").await?.contains("Bob"))
        })
        .await?;
        assert_eq!(
            page.count(r#".roster[data-status="live"]"#).await?,
            1,
            "the stream stayed up throughout"
        );
        Ok(())
    })
    .await;
}
