//! Every response carries the security headers, and a page's inline scripts carry the nonce its
//! Content-Security-Policy names (hydration under that policy is proved by the browser tests).

use crate::helpers::{spawn_app, spawn_app_on_real_discord};

/// The nonce a CSP allows (`'nonce-…'`).
fn csp_nonce(policy: &str) -> Option<&str> {
    let start = policy.find("'nonce-")? + "'nonce-".len();
    policy[start..].split('\'').next()
}

#[tokio::test]
async fn pages_errors_and_api_answers_all_carry_the_security_headers() {
    let app = spawn_app().await;
    let mut nonces = Vec::new();
    for (path, status) in [
        ("/", 200),
        ("/invite/not-a-real-token", 404),
        ("/no/such/page", 404),
        ("/api/me", 401),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), status, "{path}");
        let headers = response.headers().clone();
        let header = |name: &str| {
            headers
                .get(name)
                .unwrap_or_else(|| panic!("{path} has no {name}"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        let policy = header("content-security-policy");
        for directive in [
            "default-src 'self'",
            "'wasm-unsafe-eval'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert!(
            headers.get("strict-transport-security").is_none(),
            "{path}: HSTS only in production"
        );
        let nonce = csp_nonce(&policy)
            .unwrap_or_else(|| panic!("{path}: no nonce in {policy}"))
            .to_owned();
        assert!(nonce.len() >= 16, "{path}: {nonce}");
        let body = response.text().await.unwrap();
        if status != 401 {
            // Leptos's inline hydration script must carry exactly the header's nonce.
            assert!(
                body.contains(&format!(r#"<script type="module" nonce="{nonce}">"#)),
                "{path}: the hydration script does not carry the CSP nonce {nonce}: {body}"
            );
        }
        nonces.push(nonce);
    }
    let mut distinct = nonces.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        nonces.len(),
        "a fresh nonce per response: {nonces:?}"
    );
}

#[tokio::test]
async fn production_adds_strict_transport_security() {
    let secret = "s".repeat(64);
    let app = spawn_app_on_real_discord(&[
        ("APP_ENV", "production"),
        ("SESSION_SECRET", &secret),
        ("VITE_BASE_URL", "https://play.example.com"),
    ])
    .await;
    for path in ["/", "/api/me"] {
        let response = app.get(path).await;
        let hsts = response
            .headers()
            .get("strict-transport-security")
            .unwrap_or_else(|| panic!("{path} has no HSTS in production"))
            .to_str()
            .unwrap();
        assert!(hsts.contains("max-age="), "{path}: {hsts}");
    }
}
