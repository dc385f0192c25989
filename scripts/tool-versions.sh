# The pinned versions of the build tools, sourced by scripts/install-tools.sh and scripts/dev.
# wasm-bindgen must equal the `=` pin in Cargo.toml: the CLI refuses a WASM file built by any other
# crate version.
WASM_BINDGEN_VERSION=0.2.130
CARGO_LEPTOS_VERSION=0.3.11
# wasm-opt for release builds of the site: binaryen from the npm registry, installed into the
# project (never Debian's binaryen 108, which silently breaks the WASM rustc makes today).
BINARYEN_VERSION=132.0.0
WASM_OPT=target/tools/binaryen-$BINARYEN_VERSION/node_modules/.bin/wasm-opt
