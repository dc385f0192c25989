#!/usr/bin/env bash
# Builds the browser side of the site into target/site exactly where cargo-leptos puts it
# (pkg/spell_coven.{js,wasm,css} plus public/), using plain cargo + the pinned wasm-bindgen CLI.
#
# The test command uses this instead of cargo-leptos so that a fresh CI machine need not spend
# 15-35 minutes compiling cargo-leptos just to run the tests. `cargo leptos watch` remains the way
# to develop (scripts/dev).
#
#   scripts/build-site.sh            debug WASM (fast to build, what the tests use)
#   scripts/build-site.sh --release  the production site: size-optimised WASM (profile
#                                    wasm-release, then wasm-opt -Oz from npm's binaryen, pinned;
#                                    never Debian's, which breaks it), fingerprinted file names
#                                    (pkg/spell_coven.<hash>.{js,wasm,css}, listed in hash.txt for
#                                    the server), and .br/.gz beside those three, compressed once
#                                    at the highest levels for the server to send as they are
#
# A debug build empties hash.txt, so a server links the plain names again.
set -euo pipefail
cd "$(dirname "$0")/.."

name=spell_coven
release=false
profile=dev; dir=debug
if [ "${1:-}" = "--release" ]; then
  release=true; profile=wasm-release; dir=wasm-release
  # binaryen (wasm-opt) and the brotli CLI, pinned in scripts/tool-versions.sh.
  scripts/install-tools.sh release
  source scripts/tool-versions.sh
fi

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

if $release; then
  # The features rustc's wasm32 output uses must be enabled, or wasm-opt rejects (or, in old
  # versions, silently breaks) the module; these are what cargo-leptos passes, plus the rest
  # of rustc's default feature set.
  "$WASM_OPT" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$staging/pkg/$name.wasm" -o "$staging/pkg/$name.opt.wasm"
  mv "$staging/pkg/$name.opt.wasm" "$staging/pkg/$name.wasm"

  # Fingerprints: the first 16 hex digits of each file's SHA-256. The JS names its WASM file
  # (as a fallback URL), so the WASM is hashed first and the JS after that edit.
  fingerprint() { sha256sum "$1" | cut -c1-16; }
  wasm_hash=$(fingerprint "$staging/pkg/$name.wasm")
  cp "$staging/pkg/$name.wasm" "$staging/pkg/$name.$wasm_hash.wasm"
  sed "s/${name}\.wasm/${name}.${wasm_hash}.wasm/g" "$staging/pkg/$name.js" >"$staging/pkg/$name.hashed.js"
  js_hash=$(fingerprint "$staging/pkg/$name.hashed.js")
  mv "$staging/pkg/$name.hashed.js" "$staging/pkg/$name.$js_hash.js"
  css_hash=$(fingerprint "$staging/pkg/$name.css")
  cp "$staging/pkg/$name.css" "$staging/pkg/$name.$css_hash.css"
  # The plain names stay too (not cached long): the server's own small pages (the 429 page, the
  # sign-in error) link /pkg/spell_coven.css.
  printf 'js: %s\nwasm: %s\ncss: %s\n' "$js_hash" "$wasm_hash" "$css_hash" >"$staging/hash.txt"

  # Only the fingerprinted files get compressed copies: a copy beside a plain name could outlive
  # its file (cargo-leptos rewrites the plain names in place and leaves a .br alone), and would
  # then be served instead of it. Those three are nearly all the bytes anyway.
  for file in "$name.$wasm_hash.wasm" "$name.$js_hash.js" "$name.$css_hash.css"; do
    brotli --quality=11 --keep --force "$staging/pkg/$file"
    gzip -9 --no-name --keep --force "$staging/pkg/$file"
  done
fi

# A file is never left beside a compressed copy of an older version of itself: its .br/.gz go
# first, then it is replaced, then its new .br/.gz arrive. hash.txt is switched last, when every
# file it names is in place.
previous_hashes=$(cat "$site/hash.txt" 2>/dev/null || true)
# A debug build empties hash.txt rather than deleting it: a server that found hashes when it started
# rereads the file for every page (and Leptos panics if it is gone); empty, it links the plain names.
$release || { mkdir -p "$site" && : >"$site/hash.txt"; }
place() { # file (relative to the staging folder)
  mkdir -p "$site/$(dirname "$1")"
  mv -f "$staging/$1" "$site/$1"
}
(cd "$staging" && find . -type f ! -name '*.br' ! -name '*.gz' ! -path ./hash.txt) | while read -r file; do
  rm -f "$site/$file.br" "$site/$file.gz"
  place "$file"
done
(cd "$staging" && find . -type f \( -name '*.br' -o -name '*.gz' \)) | while read -r file; do place "$file"; done
if $release; then
  place hash.txt
  # Fingerprinted files of older builds go, except the previous build's: a page rendered just
  # before the switch may still ask for them.
  keep=$(printf '%s\n%s\n' "$(cat "$site/hash.txt")" "$previous_hashes" | sed -nE 's/^[a-z]+: *([A-Za-z0-9_-]+)$/\1/p')
  for file in "$pkg/$name".*; do
    segment=$(basename "$file"); segment=${segment#"$name".}; segment=${segment%%.*}
    case "$segment" in js | wasm | css) continue ;; esac
    grep -qxF "$segment" <<<"$keep" || rm -f "$file"
  done
fi

size() { # file → "raw / gzip / brotli" in bytes
  printf '%s raw' "$(stat -c %s "$1")"
  [ -f "$1.gz" ] && printf ', %s gzip' "$(stat -c %s "$1.gz")"
  [ -f "$1.br" ] && printf ', %s brotli' "$(stat -c %s "$1.br")"
  printf '\n'
}
if $release; then
  echo "site built in $site (release; WASM pkg/$name.$wasm_hash.wasm: $(size "$pkg/$name.$wasm_hash.wasm"))"
else
  echo "site built in $site (debug; WASM: $(size "$pkg/$name.wasm"))"
fi
