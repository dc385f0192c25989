//! Server-rendered pages, checked over plain HTTP (no browser needed).

use crate::helpers::spawn_app;

#[tokio::test]
async fn landing_page_is_rendered_on_the_server_and_loads_the_wasm_bundle() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    assert!(
        html.contains("<h1 class=\"hero__title\">Spell Coven</h1>"),
        "{html}"
    );
    // Not hydrated yet: the Effect that flips this only runs in a browser.
    assert!(html.contains("data-hydrated=\"false\""), "{html}");
    assert!(
        html.contains("/pkg/spell_coven.js"),
        "hydration script is linked: {html}"
    );
    assert!(
        html.contains("/pkg/spell_coven.wasm"),
        "the WASM file name matches the build: {html}"
    );
    assert!(
        html.contains("/pkg/spell_coven.css"),
        "stylesheet is linked: {html}"
    );
}

#[tokio::test]
async fn unknown_path_is_a_404_page_with_a_way_home() {
    let app = spawn_app().await;
    let response = app.get("/no/such/page").await;
    assert_eq!(response.status(), 404);
    let html = response.text().await.unwrap();
    assert!(html.contains("This page does not exist"), "{html}");
    assert!(
        html.contains(r#"<a class="button" href="/">Return home</a>"#),
        "{html}"
    );
}

#[tokio::test]
async fn static_assets_are_served_from_the_site_root() {
    let app = spawn_app().await;
    let css = app.get("/pkg/spell_coven.css").await;
    assert_eq!(
        css.status(),
        200,
        "run scripts/build-site.sh (scripts/test does) to build the site"
    );
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let icon = app.get("/favicon.svg").await;
    assert_eq!(icon.status(), 200);
}

#[tokio::test]
async fn a_name_that_flips_text_direction_is_rendered_isolated() {
    let app = spawn_app().await;
    app.discord.create_user("\u{202E}nimda");
    let html = app
        .get(&format!("/game/{}", app.discord.demo().lobby))
        .await
        .text()
        .await
        .unwrap();
    // The dev panel lists the simulator's people on the server; a bare U+202E would flip the
    // text after it.
    assert!(
        html.contains("<bdi class=\"dev-panel__name\">\u{202E}nimda</bdi>"),
        "{html}"
    );
}
