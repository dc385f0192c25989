//! The invite page says what a link is for before anyone signs in, in the server's first answer
//! (no script needed): the game, its host, the seats left, the starting life and the expiry. A
//! dead link says so at once with its own headline, answered 404 (410 once expired).

use backend::rooms::InviteToken;

use crate::{helpers::spawn_app_on_real_discord, players::Player};

/// The page at `path` for someone who has not signed in: its status and HTML.
async fn page(anonymous: &Player, path: &str) -> (u16, String) {
    let response = anonymous.get(path).await;
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_link_shows_its_game_before_sign_in_and_a_dead_one_says_why() {
    let app = spawn_app_on_real_discord(&[("IP_RATE_BURST", "1000")]).await;
    let host = app.discord.create_user("Hostess");
    let owner = Player::signed_in(&app, &host.to_string()).await;
    let created = owner
        .call(
            "create",
            &[("name", "Friday <Commander>"), ("starting_life", "30")],
        )
        .await
        .ok();
    let room = created["channelId"].as_str().unwrap().to_owned();
    let token = created["invite"]["token"].as_str().unwrap().to_owned();
    let anonymous = Player::anonymous(&app);

    let (status, html) = page(&anonymous, &format!("/invite/{token}")).await;
    assert_eq!(status, 200);
    for shown in [
        "Friday &lt;Commander&gt;",
        "Hostess",
        "3 of 4 left",
        "Starting life",
        ">30<",
        "23 h 59 min",
        "Sign in with Discord to join",
    ] {
        assert!(html.contains(shown), "{shown:?} in the first paint: {html}");
    }
    let preview = anonymous.call("preview", &[("token", &token)]).await.ok();
    assert_eq!(
        (
            preview["name"].as_str(),
            preview["seatsTaken"].as_u64(),
            preview["seats"].as_u64()
        ),
        (Some("Friday <Commander>"), Some(1), Some(4))
    );
    assert!(
        preview.get("channelId").is_none() && preview.get("players").is_none(),
        "nothing beyond what the link invites to: {preview}"
    );

    // Dead links, each told before sign-in with one headline.
    let garbage = page(&anonymous, "/invite/not-a-real-token").await;
    let expired_token = InviteToken::generate();
    let past = backend::store::unix_millis() - 1;
    let expired_room = owner.call("create", &[("name", "Old news")]).await.ok();
    app.store
        .set_invite(
            expired_room["channelId"].as_str().unwrap().parse().unwrap(),
            &expired_token.hash(),
            past,
        )
        .await
        .unwrap();
    let expired = page(&anonymous, &format!("/invite/{}", expired_token.into_string())).await;
    owner.call("close", &[("channel", &room)]).await.ok();
    let closed = page(&anonymous, &format!("/invite/{token}")).await;
    for ((status, html), (expected, code, headline)) in [garbage, expired, closed].into_iter().zip([
        (404, "TOKEN_INVALID", "This invite link doesn&#x27;t work"),
        (410, "TOKEN_EXPIRED", "This invite has expired"),
        (404, "ROOM_NOT_FOUND", "This game has ended"),
    ]) {
        assert_eq!(status, expected, "{code}");
        assert!(html.contains(&format!(r#"data-code="{code}""#)), "{code}: {html}");
        assert!(
            html.contains(headline) || html.contains(&headline.replace("&#x27;", "'")),
            "{code}: {html}"
        );
        assert!(
            !html.contains("invited to"),
            "{code}: one headline, the link's problem"
        );
        assert!(
            !html.contains("Sign in with Discord to join"),
            "{code}: nothing to sign in for"
        );
    }
    anonymous
        .call("preview", &[("token", "not-a-real-token")])
        .await
        .err(400, "invite");
}

#[tokio::test]
async fn joining_asks_for_the_right_to_add_you_to_the_server_only_when_you_join() {
    let app = spawn_app_on_real_discord(&[("IP_RATE_BURST", "1000")]).await;
    let owner = Player::signed_in(&app, &app.discord.create_user("Host").to_string()).await;
    let (_, token) = owner.create_room("Consent").await;

    // Signed in from the home page: the app only knows who they are.
    let friend_id = app.discord.create_user("Friend").to_string();
    let friend = Player::anonymous(&app);
    friend.sign_in_from(&friend_id, "/").await;
    let refused = friend.call("join", &[("token", &token)]).await.err(403, "invite");
    assert_eq!(refused, "CONSENT_NEEDED");

    // Signing in again from the invite asks for `guilds.join`, and then the join works.
    friend.sign_in_from(&friend_id, &format!("/invite/{token}")).await;
    friend.call("join", &[("token", &token)]).await.ok();
}
