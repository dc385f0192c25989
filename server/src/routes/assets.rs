//! Static files: what `scripts/build-site.sh` (or cargo-leptos) put in the site root — the WASM
//! bundle, its JS loader and the CSS under `/pkg`, and everything from `public/`. Any path no
//! route answers comes here first; a path with no file gets the app's 404 page.
//!
//! * **Compression, done once at build time.** A release build writes `<file>.br` and
//!   `<file>.gz` beside each file; a client whose `Accept-Encoding` takes one gets it (brotli
//!   first), with its `Content-Encoding`, and every static answer says `Vary: Accept-Encoding`
//!   so a shared cache keeps the variants apart. Nothing is compressed per request, and no other
//!   response is compressed at all: not the live stream (`text/event-stream` must reach the
//!   browser event by event; its lean path writes straight to the socket), not the server
//!   functions, and not the pages (they are small, streamed, and carry secrets such as invite
//!   links next to text an attacker can choose, which is what compression-oracle attacks need).
//! * **Caching.** A fingerprinted file (`/pkg/<output-name>.<hash>.<ext>`, named after its
//!   contents) never changes, so browsers keep it for a year without asking (`immutable`).
//!   Everything else is `no-cache`: kept, but revalidated on each use (`If-Modified-Since`), so a
//!   rebuilt debug site or a new `favicon.svg` is seen at once.
//! * **Fingerprints.** Leptos names the files in the page from a hash file (`js: <hash>` lines)
//!   when `hash_files` is on. A release build of the site writes that file into the site root;
//!   [`with_fingerprints`] turns hashing on when it is there, so the server always links the
//!   site it serves, and a debug build (its hash file empty) keeps the plain names the tests and
//!   `cargo leptos watch` use.

use std::path::Path;

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use leptos::config::LeptosOptions;
use tower::ServiceExt as _;
use tower_http::services::ServeDir;

/// The hash file's name in the site root (Leptos' default name, as cargo-leptos writes it).
pub const HASH_FILE: &str = "hash.txt";

/// For fingerprinted files: a year, the longest lifetime caches honour, and never revalidated.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For everything else: may be kept, but must be revalidated before each use.
const REVALIDATE: &str = "no-cache";
/// Shortest hash taken as a fingerprint (ours are 16 hex digits; cargo-leptos' are 11 or more).
const MIN_HASH_LEN: usize = 8;

/// `options` with file hashing on when the site root holds a hash file that names hashes (a
/// release build of the site), pointing Leptos at that file. Leptos looks for the hash file beside the server binary
/// unless its name is absolute, so the absolute path is given. An explicit `LEPTOS_HASH_FILES`
/// wins: cargo-leptos always sets it, and its own build (`cargo leptos watch`) must not be linked
/// to the bundle a release build of `scripts/build-site.sh` left in the same folder.
pub fn with_fingerprints(mut options: LeptosOptions) -> LeptosOptions {
    if options.hash_files || std::env::var_os("LEPTOS_HASH_FILES").is_some() {
        return options;
    }
    let hash_file = Path::new(&*options.site_root).join(HASH_FILE);
    // A debug build leaves the file empty (see scripts/build-site.sh).
    let hashes = std::fs::read_to_string(&hash_file).unwrap_or_default();
    if !hashes.trim().is_empty() {
        let absolute = std::path::absolute(&hash_file).unwrap_or(hash_file);
        tracing::info!(hash_file = %absolute.display(), "serving fingerprinted site files");
        options.hash_files = true;
        options.hash_file = absolute.to_string_lossy().into();
    }
    options
}

/// Serves `request` from the site root (`GET` and `HEAD` only); `None` when there is no such file,
/// for the caller to answer with the 404 page.
pub(crate) async fn serve_file(options: &LeptosOptions, request: Request) -> Option<Response> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return None;
    }
    let fingerprinted = is_fingerprinted(request.uri().path(), options);
    let files = ServeDir::new(&*options.site_root)
        .precompressed_br()
        .precompressed_gzip()
        // A directory is not a page: no `index.html`, no redirect to `dir/`, just the 404 page.
        .append_index_html_on_directories(false);
    let mut response = match files.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    };
    if response.status() == StatusCode::NOT_FOUND {
        return None;
    }
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if fingerprinted { IMMUTABLE } else { REVALIDATE }),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    Some(response.into_response())
}

/// Whether `path` names a fingerprinted file: `/<pkg dir>/<output name>.<hash>.<extension>`,
/// the hash being letters, digits, `-` or `_` (ours are hex; cargo-leptos' are base64url).
fn is_fingerprinted(path: &str, options: &LeptosOptions) -> bool {
    let pkg = format!("/{}/", options.site_pkg_dir.trim_matches('/'));
    let Some(file) = path.strip_prefix(&pkg) else {
        return false;
    };
    let Some(rest) = file
        .strip_prefix(&*options.output_name)
        .and_then(|rest| rest.strip_prefix('.'))
    else {
        return false;
    };
    let Some((hash, extension)) = rest.split_once('.') else {
        return false;
    };
    hash.len() >= MIN_HASH_LEN
        && hash
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        && !extension.is_empty()
        && !extension.contains('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> LeptosOptions {
        LeptosOptions::builder()
            .output_name("spell_coven")
            .site_pkg_dir("pkg")
            .build()
    }

    #[test]
    fn only_hashed_bundle_files_are_fingerprinted() {
        let options = options();
        for path in [
            "/pkg/spell_coven.0123456789abcdef.wasm",
            "/pkg/spell_coven.0123456789abcdef.js",
            "/pkg/spell_coven.Ygx2nQ1W5iM.css",
        ] {
            assert!(is_fingerprinted(path, &options), "{path}");
        }
        for path in [
            "/pkg/spell_coven.wasm",
            "/pkg/spell_coven.js",
            "/pkg/spell_coven.css",
            "/favicon.svg",
            "/spell_coven.0123456789abcdef.js",
            "/pkg/other.0123456789abcdef.js",
            "/pkg/spell_coven.short.js",
            "/pkg/spell_coven.0123456789abcdef",
            "/pkg/spell_coven.0123456789abcdef./x",
            "/pkg/spell_coven.01234567.89/x.js",
        ] {
            assert!(!is_fingerprinted(path, &options), "{path}");
        }
    }
}
