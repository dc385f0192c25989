//! The WASM entry point: `hydrate()` takes over the server-rendered page in the browser.
//!
//! Everything else lives in `app`; this crate exists so that the browser bundle is a separate
//! cdylib that can only ever see `app`'s `hydrate` side.

use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the generated JS loader once the WASM module is instantiated.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
