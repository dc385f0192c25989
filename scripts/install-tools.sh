#!/usr/bin/env bash
# Installs the pinned build tools the project needs, reusing what is already there.
#
#   scripts/install-tools.sh test   wasm32 target + wasm-bindgen CLI (what the test command needs)
#   scripts/install-tools.sh dev    the above + cargo-leptos (what `cargo leptos watch` needs)
#   scripts/install-tools.sh release  the test tools + wasm-opt (npm's binaryen, into target/tools)
#                                   and the brotli CLI (Debian): what `build-site.sh --release` needs
#
# Versions are pinned in scripts/tool-versions.sh and nowhere else.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/tool-versions.sh
mode=${1:-test}

log() { printf '\033[1;34m[install-tools]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# `cargo install --locked` of these two tools fails on this toolchain (a lock entry needs a newer rustc,
# or names a crate version the registry no longer serves), so copy the crate source, move that one
# dependency to a version that works, and install from the copy.
install_patched() { # crate version "pkg@precise ..." extra-args...
  local crate=$1 version=$2 pins=$3; shift 3
  cargo install "$crate" --version "$version" --locked "$@" >/dev/null 2>&1 && return 0
  local src work
  src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$crate-$version" 2>/dev/null | head -n1)
  [ -n "$src" ] || { log "no source for $crate $version in the cargo registry"; return 1; }
  work=$(mktemp -d)
  cp -r "$src" "$work/src"
  for pin in $pins; do
    (cd "$work/src" && cargo update -p "${pin%@*}" --precise "${pin#*@}")
  done
  (cd "$work/src" && cargo install --path . --locked "$@")
  rm -rf "$work"
}

for component in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$component"; then
    log "adding the $component component"
    rustup component add "$component"
  fi
done

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 10 minutes, once)"
  install_patched wasm-bindgen-cli "$WASM_BINDGEN_VERSION" "webpki-roots@1.0.10"
fi

if [ "$mode" = dev ] && [ "$(cargo leptos --version 2>/dev/null)" != "cargo-leptos $CARGO_LEPTOS_VERSION" ]; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION (15-35 minutes, once)"
  # no_downloads: every tool comes from PATH; cargo-leptos would otherwise try GitHub.
  # Thin, parallel codegen halves the install time of its fat-LTO release profile.
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    install_patched cargo-leptos "$CARGO_LEPTOS_VERSION" "cargo-util-schemas@0.14.1" --features no_downloads
fi

if [ "$mode" = release ]; then
  if ! "$WASM_OPT" --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}\b"; then
    log "installing wasm-opt (binaryen $BINARYEN_VERSION from npm) into target/tools"
    command -v npm >/dev/null || {
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends nodejs npm
    }
    prefix=${WASM_OPT%/node_modules/*}
    mkdir -p "$prefix"
    npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error "binaryen@$BINARYEN_VERSION"
  fi
  if ! command -v brotli >/dev/null || ! command -v gzip >/dev/null; then
    log "installing the brotli and gzip CLIs"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends brotli gzip
  fi
fi
log "tools ready"
