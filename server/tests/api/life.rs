//! The pod's life totals in two real browsers: both players tap the same counter at once and both
//! pages agree, only the author sees (and can use) the undo, commander damage from partners is
//! tracked per commander, a lethal total is highlighted on every page, a reload keeps it all, the
//! owner's new game starts everyone over, and a focused seat takes `+`/`-` from the keyboard.
//! Screenshots at 1280×800 and 390×844 are saved under `target/screenshots/`.

use discord_sim::Snowflake;
use fantoccini::Locator;

use crate::{
    browser::{Page, two_browser_test},
    helpers::spawn_app,
    players::Player,
    table::sign_in_to,
};

/// `user`'s seat.
fn seat(user: Snowflake) -> String {
    format!(r#".seat[data-user-id="{user}"]"#)
}

/// The button changing `user`'s `counter` by `delta`.
fn tap(user: Snowflake, counter: &str, delta: i32) -> String {
    format!(
        r#"{} .life__tap[data-counter="{counter}"][data-delta="{delta}"]"#,
        seat(user)
    )
}

/// `user`'s life, poison and the damage shown on each commander row, as `page` shows them.
async fn numbers(page: &Page, user: Snowflake) -> anyhow::Result<(String, String, Vec<String>)> {
    let life = page.find(&format!("{} .life", seat(user))).await?;
    let total = page.text(&format!("{} .life__total", seat(user))).await?;
    anyhow::ensure!(
        life.attr("data-life").await?.as_deref() == Some(total.as_str()),
        "data-life matches the number shown"
    );
    let mut damage = Vec::new();
    for row in page
        .find_all(&format!("{} .life__row--commander .life__value", seat(user)))
        .await?
    {
        damage.push(row.text().await?);
    }
    Ok((total, life.attr("data-poison").await?.unwrap_or_default(), damage))
}

async fn wait_for_life(page: &Page, user: Snowflake, expected: &str) -> anyhow::Result<()> {
    page.wait_for(&format!("{user}'s life to read {expected}"), |page| async move {
        Ok(numbers(&page, user).await?.0 == expected)
    })
    .await
}

/// The history's lines, newest first, each with whether it offers an undo.
async fn history(page: &Page) -> anyhow::Result<Vec<(String, bool)>> {
    let mut lines = Vec::new();
    for entry in page.find_all(".table__history .history__entry").await? {
        let undo = !entry.find_all(Locator::Css(".history__undo")).await?.is_empty();
        lines.push((entry.text().await?, undo));
    }
    Ok(lines)
}

#[tokio::test]
async fn life_totals_are_shared_undone_by_their_author_tracked_per_commander_and_kept() {
    let app = spawn_app().await;
    let demo = app.discord.demo();
    let (alice_id, bob_id) = (demo.alice, demo.bob);
    let owner = Player::signed_in(&app, &alice_id.to_string()).await;
    let bob = Player::signed_in(&app, &bob_id.to_string()).await;
    let (channel, token) = owner.create_room("Life").await;
    bob.call("join", &[("token", &token)]).await.ok();
    let path = format!("/game/{channel}");
    let base = app.address.clone();
    two_browser_test("life", |alice_page, bob_page| async move {
        let pages = [&alice_page, &bob_page];
        sign_in_to(&alice_page, &base, alice_id, &path).await?;
        sign_in_to(&bob_page, &base, bob_id, &path).await?;
        for page in pages {
            wait_for_life(page, alice_id, "40").await?;
            wait_for_life(page, bob_id, "40").await?;
        }

        both_tap_then_alice_undoes(&alice_page, &bob_page, alice_id).await?;
        partners_deal_damage_apart(&alice_page, &bob_page, alice_id, bob_id).await?;
        let tymna = format!("commander:{bob_id}:0");

        // 19 more from Tymna in one go is lethal: highlighted on both pages.
        bob.table(
            "change",
            &[
                ("channel", &channel),
                ("target", &alice_id.to_string()),
                ("counter", &tymna),
                ("delta", "19"),
            ],
        )
        .await
        .ok();
        let lethal = format!("{}.seat--lethal .life__lethal", seat(alice_id));
        for page in pages {
            page.wait_for("alice's seat to be lethal", |page| {
                let lethal = lethal.clone();
                async move { Ok(page.text(&lethal).await? == "lethal: 21 commander damage from Tymna") }
            })
            .await?;
            assert_eq!(page.count(&format!("{}.seat--lethal", seat(bob_id))).await?, 0);
        }
        assert_eq!(
            bob_page.count(&tap(alice_id, &tymna, -1)).await?,
            1,
            "damage can be taken back"
        );

        // A reload keeps every total.
        alice_page.goto(&format!("{base}{path}")).await?;
        alice_page
            .wait_for("the totals after a reload", |page| async move {
                Ok(numbers(&page, alice_id).await?
                    == (
                        "17".to_owned(),
                        "0".to_owned(),
                        vec!["21".to_owned(), "1".to_owned()],
                    )
                    && numbers(&page, bob_id).await?.0 == "40")
            })
            .await?;
        alice_page.find(&lethal).await?;
        alice_page.set_viewport_size(1280, 800).await?;
        alice_page.screenshot("life-1280x800").await?;
        alice_page.set_viewport_size(390, 844).await?;
        alice_page.screenshot("life-390x844").await?;
        new_game_then_keys(&alice_page, &bob_page, alice_id, bob_id).await
    })
    .await;
}

/// Alice and Bob both take a life from Alice at the same moment: both taps count on both pages;
/// each page offers an undo of its own player's change only, and Alice's undo reverts hers.
async fn both_tap_then_alice_undoes(
    alice_page: &Page,
    bob_page: &Page,
    alice_id: Snowflake,
) -> anyhow::Result<()> {
    let pages = [alice_page, bob_page];
    // Both take a life from alice at the same moment: both taps count, on both pages.
    let minus = tap(alice_id, "life", -1);
    let (a, b) = futures::join!(alice_page.click(&minus), bob_page.click(&minus));
    a?;
    b?;
    for page in pages {
        wait_for_life(page, alice_id, "38").await?;
    }
    // Each page offers an undo of its own player's change only.
    for (page, me, other) in [(alice_page, "Alice:", "Bob:"), (bob_page, "Bob:", "Alice:")] {
        page.wait_for("both changes in the history", |page| async move {
            Ok(history(&page).await?.len() == 2)
        })
        .await?;
        for (line, undo) in history(page).await? {
            if line.starts_with(other) {
                assert!(!undo, "no undo of someone else's change: {line}");
            } else {
                assert!(line.starts_with(me) && undo, "{line}");
            }
        }
    }
    let undo = alice_page
        .find_all(".table__history .history__entry")
        .await?
        .into_iter();
    let mut clicked = false;
    for entry in undo {
        if let Some(button) = entry.find_all(Locator::Css(".history__undo")).await?.pop() {
            button.click().await?;
            clicked = true;
        }
    }
    assert!(clicked, "alice's undo");
    for page in pages {
        wait_for_life(page, alice_id, "39").await?;
        page.wait_for("the undone change marked", |page| async move {
            let lines = history(&page).await?;
            Ok(lines
                .first()
                .is_some_and(|(line, _)| line.starts_with("Alice undid: Alice \u{2212}1"))
                && lines
                    .iter()
                    .any(|(line, _)| line.starts_with("Alice: Alice \u{2212}1") && line.contains("(undone)")))
        })
        .await?;
    }

    Ok(())
}

/// Bob names his partners on his own seat; Alice's page then tracks each one's damage apart.
async fn partners_deal_damage_apart(
    alice_page: &Page,
    bob_page: &Page,
    alice_id: Snowflake,
    bob_id: Snowflake,
) -> anyhow::Result<()> {
    let pages = [alice_page, bob_page];
    // Bob names his partners on his own seat; alice's page tracks their damage apart.
    bob_page
        .click(&format!("{} .commanders__toggle", seat(bob_id)))
        .await?;
    bob_page
        .find(&format!("{} .commanders__first", seat(bob_id)))
        .await?
        .send_keys("Tymna")
        .await?;
    bob_page
        .find(&format!("{} .commanders__partner", seat(bob_id)))
        .await?
        .send_keys("Thrasios")
        .await?;
    bob_page
        .click(&format!("{} .commanders__save", seat(bob_id)))
        .await?;
    let rows = format!("{} .life__row--commander .life__commander", seat(alice_id));
    alice_page
        .wait_for("bob's two commanders on alice's seat", |page| {
            let rows = rows.clone();
            async move {
                let mut names = Vec::new();
                for row in page.find_all(&rows).await? {
                    names.push(row.text().await?);
                }
                Ok(names == ["Tymna", "Thrasios"])
            }
        })
        .await?;
    let tymna = format!("commander:{bob_id}:0");
    let thrasios = format!("commander:{bob_id}:1");
    for counter in [&tymna, &tymna, &thrasios] {
        let before = numbers(alice_page, alice_id).await?.0;
        alice_page.click(&tap(alice_id, counter, 1)).await?;
        alice_page
            .wait_for("the hit to land", |page| {
                let before = before.clone();
                async move { Ok(numbers(&page, alice_id).await?.0 != before) }
            })
            .await?;
    }
    for page in pages {
        page.wait_for("2 from Tymna and 1 from Thrasios", |page| async move {
            Ok(numbers(&page, alice_id).await?
                == (
                    "36".to_owned(),
                    "0".to_owned(),
                    vec!["2".to_owned(), "1".to_owned()],
                ))
        })
        .await?;
    }

    Ok(())
}

/// Alice (the owner) starts a new game at 20 life: every page starts over, history and lethal
/// highlight gone. Then Bob, his seat focused, presses `+` and `-`.
async fn new_game_then_keys(
    alice_page: &Page,
    bob_page: &Page,
    alice_id: Snowflake,
    bob_id: Snowflake,
) -> anyhow::Result<()> {
    assert_eq!(bob_page.count(".table__new-game").await?, 0, "owner only");
    alice_page.click(".table__new-game").await?;
    alice_page.click(r#".new-game__life option[value="20"]"#).await?;
    alice_page.click(".new-game__confirm").await?;
    for page in [alice_page, bob_page] {
        wait_for_life(page, alice_id, "20").await?;
        wait_for_life(page, bob_id, "20").await?;
        page.wait_for("a fresh game", |page| async move {
            Ok(page.count(".seat--lethal").await? == 0 && history(&page).await?.is_empty())
        })
        .await?;
    }
    let bobs_seat = bob_page.find(&seat(bob_id)).await?;
    bobs_seat.send_keys("+").await?;
    wait_for_life(alice_page, bob_id, "21").await?;
    bobs_seat.send_keys("-").await?;
    wait_for_life(bob_page, bob_id, "20").await?;
    wait_for_life(alice_page, bob_id, "20").await
}
