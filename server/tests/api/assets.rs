//! Static files as a release build leaves them: sent precompressed by `Accept-Encoding`,
//! fingerprinted ones cached for a year, the rest revalidated; the pages link the fingerprinted
//! names; and the live stream is never compressed.
//!
//! The site here is a small one made by the test (marker bytes stand in for the compressed
//! files, which the server sends as they are), so it needs no release build.

use std::{path::Path, time::Duration};

use reqwest::{StatusCode, header};
use server::Application;
use tokio_util::sync::CancellationToken;

use crate::helpers::{TABLE, TempDir, leptos_options, test_config};

const HASH: &str = "0123456789abcdef";

/// A server on a site of its own; stops when dropped.
struct SiteApp {
    address: String,
    shutdown: CancellationToken,
    _site: TempDir,
    _data: TempDir,
}

impl Drop for SiteApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl SiteApp {
    async fn get(&self, path: &str, headers: &[(header::HeaderName, &str)]) -> reqwest::Response {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.address));
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        request.send().await.unwrap()
    }
}

fn write(root: &Path, file: &str, contents: &str) {
    let path = root.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// A release-shaped site: fingerprinted bundle files with `.br`/`.gz` beside them, the plain
/// stylesheet, a public file, and the hash file naming the fingerprints.
async fn spawn_on_release_site() -> SiteApp {
    let site = TempDir::new("site");
    for extension in ["wasm", "js", "css"] {
        let file = format!("pkg/spell_coven.{HASH}.{extension}");
        write(&site.0, &file, &format!("plain {extension}"));
        write(&site.0, &format!("{file}.br"), &format!("brotli {extension}"));
        write(&site.0, &format!("{file}.gz"), &format!("gzip {extension}"));
    }
    write(&site.0, "pkg/spell_coven.css", "plain css");
    write(&site.0, "favicon.svg", "<svg/>");
    write(
        &site.0,
        "hash.txt",
        &format!("js: {HASH}\nwasm: {HASH}\ncss: {HASH}\n"),
    );

    let data = TempDir::new("app");
    let mut options = leptos_options();
    options.site_root = site.0.to_string_lossy().into();
    let app = Application::build(test_config(&data.0, &[]), options)
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = app.shutdown_token();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    // The stream needs the roster to follow (simulated) Discord.
    tokio::time::timeout(
        Duration::from_secs(20),
        state
            .live
            .watch_roster_status()
            .wait_for(|status| status.is_ready()),
    )
    .await
    .unwrap()
    .unwrap();
    SiteApp {
        address,
        shutdown,
        _site: site,
        _data: data,
    }
}

#[tokio::test]
async fn static_files_are_sent_precompressed_and_cached_by_fingerprint() {
    let app = spawn_on_release_site().await;
    let wasm = format!("/pkg/spell_coven.{HASH}.wasm");

    for (accept, encoding, body) in [
        ("br", Some("br"), "brotli wasm"),
        ("gzip", Some("gzip"), "gzip wasm"),
        ("identity", None, "plain wasm"),
    ] {
        let response = app.get(&wasm, &[(header::ACCEPT_ENCODING, accept)]).await;
        assert_eq!(response.status(), StatusCode::OK, "{accept}");
        let headers = response.headers().clone();
        assert_eq!(
            headers
                .get(header::CONTENT_ENCODING)
                .map(|value| value.to_str().unwrap()),
            encoding,
            "{accept}"
        );
        assert_eq!(headers[header::CONTENT_TYPE], "application/wasm", "{accept}");
        assert_eq!(headers[header::VARY], "accept-encoding", "{accept}");
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable",
            "{accept}"
        );
        assert_eq!(response.text().await.unwrap(), body, "{accept}");
    }

    // Files without a fingerprint may change under the same name: revalidated on each use.
    for path in ["/pkg/spell_coven.css", "/favicon.svg"] {
        let response = app.get(path, &[(header::ACCEPT_ENCODING, "br")]).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache", "{path}");
        assert!(
            response.headers().get(header::CONTENT_ENCODING).is_none(),
            "{path}: no .br beside it"
        );
        // ...and revalidation works.
        let modified = response.headers()[header::LAST_MODIFIED]
            .to_str()
            .unwrap()
            .to_owned();
        let again = app.get(path, &[(header::IF_MODIFIED_SINCE, &modified)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }

    // A page links the fingerprinted names from the hash file.
    let html = app.get("/", &[]).await.text().await.unwrap();
    for extension in ["js", "wasm", "css"] {
        assert!(
            html.contains(&format!("/pkg/spell_coven.{HASH}.{extension}")),
            "{extension}: {html}"
        );
    }

    // No such file (and a directory is none) is the app's 404 page.
    for path in ["/pkg/spell_coven.0000000000000000.js", "/pkg"] {
        let response = app.get(path, &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("This page does not exist"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_live_stream_is_never_compressed() {
    let app = spawn_on_release_site().await;
    let response = app
        .get(
            &format!("/api/stream?room={TABLE}"),
            &[(header::ACCEPT_ENCODING, "br, gzip, deflate, zstd")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/event-stream");
    assert!(
        response.headers().get(header::CONTENT_ENCODING).is_none(),
        "{:?}",
        response.headers()
    );
}
