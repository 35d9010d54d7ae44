#!/usr/bin/env bash
# Idempotent set-up of everything the tests need on a fresh machine:
# wasm32 target, wasm-bindgen-cli (pinned to the crate), nightly + cargo-fuzz, a Python venv with
# maturin/numpy/scipy/pytest/pyspark, npm dependencies of the JS packages and of the
# page tests, Debian's chromium for those page tests and Java 17 for pyspark.
# Only registries are used (crates.io, PyPI, npm, Debian); nothing else is downloaded.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WASM_BINDGEN_VERSION="0.2.130"   # must equal the `wasm-bindgen` pin in bindings/wasm/Cargo.toml
VENV="$ROOT/.venv"

log() { printf '\n== setup: %s\n' "$*"; }

if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (one-time, several minutes)"
  # Not --locked: the CLI's lock file pins a crate version the registry here lacks.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# The fuzz targets (fuzz/, scripts/fuzz.sh) build with libFuzzer's
# sanitizer flags, which need a nightly toolchain.
if ! rustup toolchain list | grep -q '^nightly'; then
  log "installing the nightly Rust toolchain (fuzzing)"
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  log "installing cargo-fuzz (one-time, about a minute)"
  cargo install cargo-fuzz --locked
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating Python venv at $VENV"
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import maturin, numpy, scipy, pytest, implicit, pyspark, pyarrow' 2>/dev/null; then
  log "installing Python build/test dependencies"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet -r "$ROOT/bindings/python/requirements-dev.txt"
fi

# Installs Debian package $2 when command $1 is missing ($3: what for).
apt_install() {
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing Debian $2 ($3)"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
}
apt_install java openjdk-17-jre-headless "pyspark's JVM for the Spark tests"

apt_install chromium chromium "page tests drive it with playwright-core"

for pkg in bindings/node bindings/wasm tests/browser; do
  if [ ! -d "$ROOT/$pkg/node_modules" ] || [ "$ROOT/$pkg/package.json" -nt "$ROOT/$pkg/node_modules" ]; then
    log "npm install in $pkg"
    (cd "$ROOT/$pkg" && npm install --no-audit --no-fund --loglevel=error && touch node_modules)
  fi
done
log "done"
