#!/usr/bin/env bash
# Builds the browser side of the site into target/site exactly where cargo-leptos puts it
# (pkg/spell_coven.{js,wasm,css} plus public/), using plain cargo + the pinned wasm-bindgen CLI.
#
# The test command uses this instead of cargo-leptos so that a fresh CI machine need not spend
# 15-35 minutes compiling cargo-leptos just to run the tests. `cargo leptos watch` remains the way
# to develop (scripts/dev).
#
#   scripts/build-site.sh            debug WASM (fast to build, what the tests use)
#   scripts/build-site.sh --release  size-optimised WASM (profile wasm-release), without wasm-opt
set -euo pipefail
cd "$(dirname "$0")/.."

name=spell_coven
profile=dev; dir=debug
if [ "${1:-}" = "--release" ]; then profile=wasm-release; dir=wasm-release; fi

site=target/site
pkg=$site/pkg
cargo build -p frontend --lib --target wasm32-unknown-unknown --target-dir target/front --profile "$profile"
# Built aside, then renamed into place file by file: a server reading the site meanwhile (the tests
# run scripts/dev while browser tests load pages) sees the old file or the new one, never half.
mkdir -p target
staging=$(mktemp -d target/site-staging.XXXXXX)
trap 'rm -rf "$staging"' EXIT
wasm-bindgen --target web --no-typescript --out-dir "$staging/pkg" --out-name "$name" \
  "target/front/wasm32-unknown-unknown/$dir/frontend.wasm"
# Leptos asks for `<name>.wasm` when LEPTOS_OUTPUT_NAME is set at compile time (.cargo/config.toml).
mv "$staging/pkg/${name}_bg.wasm" "$staging/pkg/$name.wasm"
sed -i "s/${name}_bg\.wasm/${name}.wasm/g" "$staging/pkg/$name.js"
cp style/main.css "$staging/pkg/$name.css"
cp -r public/. "$staging/"
(cd "$staging" && find . -type f) | while read -r file; do
  mkdir -p "$site/$(dirname "$file")"
  mv -f "$staging/$file" "$site/$file"
done
echo "site built in $site ($(du -h "$pkg/$name.wasm" | cut -f1) WASM)"
