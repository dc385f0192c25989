//! Per-address budgets on the routes anyone can reach without signing in. Two addresses are
//! real: the whole of 127.0.0.0/8 is loopback, so a client bound to 127.0.0.2 is another peer.

use std::net::IpAddr;

use reqwest::header::{ACCEPT, RETRY_AFTER};

use crate::helpers::{TestApp, spawn_app_with};

/// A cookie-less client whose connections come from `local`.
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(local.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// The status of `GET /auth/login` from `client`, claiming to be `forwarded_for` if given.
async fn login_status(app: &TestApp, client: &reqwest::Client, forwarded_for: Option<&str>) -> u16 {
    let mut request = client.get(app.url("/auth/login"));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn an_address_over_its_budget_gets_429_while_another_still_signs_in() {
    let app = spawn_app_with(&[("IP_RATE_BURST", "3"), ("IP_RATE_PER_MINUTE", "1")]).await;
    let first = client_from("127.0.0.1");
    for _ in 0..3 {
        assert_eq!(login_status(&app, &first, None).await, 303);
    }
    let refused = first.get(app.url("/auth/login")).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");

    // The invite page and the callback share the budget; a browser gets a page, not JSON.
    let page = first
        .get(app.url("/invite/some-token"))
        .header(ACCEPT, "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key(RETRY_AFTER));
    assert!(page.text().await.unwrap().contains("Slow down"));
    assert_eq!(
        first
            .get(app.url("/auth/callback"))
            .send()
            .await
            .unwrap()
            .status(),
        429
    );
    // Routes for signed-in work and static pages are not charged.
    assert_eq!(first.get(app.url("/")).send().await.unwrap().status(), 200);

    let second = client_from("127.0.0.2");
    assert_eq!(
        login_status(&app, &second, None).await,
        303,
        "another address has its own budget"
    );
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_an_untrusted_peer() {
    let app = spawn_app_with(&[("IP_RATE_BURST", "1"), ("IP_RATE_PER_MINUTE", "1")]).await;
    let client = client_from("127.0.0.1");
    assert_eq!(login_status(&app, &client, Some("203.0.113.1")).await, 303);
    assert_eq!(
        login_status(&app, &client, Some("203.0.113.2")).await,
        429,
        "a made-up X-Forwarded-For does not buy a fresh budget"
    );
}

#[tokio::test]
async fn forwarded_for_names_the_client_behind_a_trusted_proxy() {
    let app = spawn_app_with(&[
        ("IP_RATE_BURST", "1"),
        ("IP_RATE_PER_MINUTE", "1"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let proxy = client_from("127.0.0.1");
    assert_eq!(login_status(&app, &proxy, Some("203.0.113.1")).await, 303);
    assert_eq!(login_status(&app, &proxy, Some("203.0.113.1")).await, 429);
    assert_eq!(
        login_status(&app, &proxy, Some("203.0.113.2")).await,
        303,
        "each client behind the proxy has its own budget"
    );
    // A client cannot prepend its way out: the proxy's own entry is what counts.
    assert_eq!(
        login_status(&app, &proxy, Some("198.51.100.7, 203.0.113.1")).await,
        429
    );
}
