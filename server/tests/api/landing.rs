//! The landing page in a real browser: it hydrates, and then its button works.

use crate::{browser::browser_test, helpers::spawn_app};

#[tokio::test]
async fn landing_page_hydrates_and_its_toggle_then_works() {
    let app = spawn_app().await;
    browser_test("landing_hydrates", |page| async move {
        page.goto(&app.url("/")).await?;
        page.wait_until_hydrated().await?;
        assert_eq!(page.count("#how-steps").await?, 0, "steps start hidden");
        assert_eq!(page.text("#how-it-works").await?, "How it works");

        page.click("#how-it-works").await?;
        page.wait_for("the three steps", |page| async move {
            Ok(page.count("#how-steps li").await? == 3)
        })
        .await?;
        assert_eq!(page.text("#how-it-works").await?, "Hide how it works");

        page.click("#how-it-works").await?;
        page.wait_for("the steps to hide", |page| async move {
            Ok(page.count("#how-steps").await? == 0)
        })
        .await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn not_found_page_leads_back_home() {
    let app = spawn_app().await;
    browser_test("not_found_return_home", |page| async move {
        page.goto(&app.url("/nowhere")).await?;
        assert_eq!(page.text("h1").await?, "This page does not exist");
        page.click("a.button").await?;
        page.wait_for("the landing page", |page| async move {
            Ok(page.current_path().await? == "/")
        })
        .await?;
        page.wait_until_hydrated().await?;
        Ok(())
    })
    .await;
}
