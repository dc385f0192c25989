# The pinned versions of the build tools, sourced by scripts/install-tools.sh and scripts/dev.
# wasm-bindgen must equal the `=` pin in Cargo.toml: the CLI refuses a WASM file built by any other
# crate version.
WASM_BINDGEN_VERSION=0.2.130
CARGO_LEPTOS_VERSION=0.3.11
