//! The room page's first answer is the truth, with no script run (what a browser with JavaScript
//! off shows): an open room's header for its players, a sign-in that comes back for a signed-out visitor (and no stream opened that would be
//! refused), "private" for a stranger, and a 404 that says "This game has ended" or "No such game"
//! for a closed or unknown room, with the ways out.

use crate::{helpers::spawn_app_on_real_discord, players::Player};

/// `player`'s page at `path`: status and HTML, as a browser without JavaScript gets it.
async fn page(player: &Player, path: &str) -> (u16, String) {
    let response = player.get(path).await;
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn each_room_state_is_rendered_by_the_server() {
    let app = spawn_app_on_real_discord(&[("IP_RATE_BURST", "1000")]).await;
    let owner = Player::signed_in(&app, &app.discord.create_user("Hostess").to_string()).await;
    let stranger = Player::signed_in(&app, &app.discord.create_user("Eve").to_string()).await;
    let anonymous = Player::anonymous(&app);
    let (room, _) = owner.create_room("Friday <Commander>").await;
    let path = format!("/game/{room}");

    let (status, html) = page(&owner, &path).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Friday &lt;Commander&gt;"),
        "the room's name: {html}"
    );
    assert!(html.contains("At the table"), "the table: {html}");
    assert!(
        html.contains("room__close"),
        "the owner's controls, before any script: {html}"
    );

    let (status, html) = page(&anonymous, &path).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("/auth/login?return_to=/game/{room}")),
        "a sign-in that comes back here: {html}"
    );
    assert!(
        !html.contains("At the table"),
        "no table (and no stream) for a visitor: {html}"
    );

    let (status, html) = page(&stranger, &path).await;
    assert_eq!(status, 200);
    assert!(html.contains("This room is private"), "{html}");
    assert!(!html.contains("At the table"), "{html}");

    let (status, html) = page(&anonymous, "/game/1234567890123456789").await;
    assert_eq!(status, 404);
    assert!(
        html.contains("No such game") && html.contains("Return home") && html.contains("Go back"),
        "{html}"
    );

    owner.call("close", &[("channel", &room)]).await.ok();
    for player in [&owner, &anonymous] {
        let (status, html) = page(player, &path).await;
        assert_eq!(status, 404);
        assert!(html.contains("This game has ended"), "{html}");
        assert!(!html.contains("At the table"), "{html}");
    }
}
