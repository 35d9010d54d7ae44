#!/usr/bin/env bash
# Runs every test of every runtime, installing what a fresh machine lacks
# first (scripts/setup.sh). Exits non-zero on the first failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"
# shellcheck disable=SC1091
source "$ROOT/.venv/bin/activate"
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n== test: %s\n' "$*"; }
SECONDS=0

step "lint: rustfmt and clippy (warnings are errors) over the workspace"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "Rust core: unit, integration and doc tests (release: the quality test trains on 1M events)"
cargo test --release -p sightline

step "cross-runtime fixture: a Rust-trained model file and its expected answers"
MODEL="$ROOT/target/sightline-test-model.slm"
EXPECTED="$ROOT/target/sightline-test-expected.json"
cargo run --release --quiet --example cross_runtime_fixture -- "$MODEL" "$EXPECTED"
export SIGHTLINE_TEST_MODEL="$MODEL" SIGHTLINE_TEST_EXPECTED="$EXPECTED"

step "Python binding (maturin build, pip install the wheel, pytest against it)"
WHEELS="$ROOT/target/wheels"
rm -rf "$WHEELS"
(cd bindings/python && maturin build --release --quiet --out "$WHEELS")
WHEEL="$(ls "$WHEELS"/sightline-*.whl)"
pip install --quiet --force-reinstall --no-deps "$WHEEL"
python -m pytest -q bindings/python/tests

step "the wheel in a clean venv: dependencies from the registry, no pandas or tqdm"
CLEAN="$ROOT/target/wheel-venv"
rm -rf "$CLEAN"
python3 -m venv "$CLEAN"
"$CLEAN/bin/pip" install --quiet "$WHEEL"
VERSION="$(cargo metadata --no-deps --format-version 1 | python -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "sightline-python"))')"
(cd "$CLEAN" && "$CLEAN/bin/python" "$ROOT/tests/wheel/check_wheel.py" "$VERSION")

step "Node binding (napi build + node --test)"
(cd bindings/node && npm run --silent build && npm test)

step "WASM binding (wasm-bindgen for Node + node --test)"
(cd bindings/wasm && npm run --silent build && npm test)

step "cross-runtime: one model file, four runtimes, same answers"
python tests/cross_runtime/check_python.py "$MODEL" "$EXPECTED"
# Node addon and WASM module side by side against the shared JS contract
# (tests/cross_runtime/model_contract.js; fixture from SIGHTLINE_TEST_* above)
node --test tests/cross_runtime/

step "benchmarks build and the side-by-side scripts run (smoke sizes; nothing timed is asserted)"
cargo bench -p sightline --no-run --quiet
python3 benches/compare/als_vs_implicit.py --quick > /dev/null
python3 benches/compare/ml100k.py --quick > /dev/null
python3 benches/compare/ann_vs_hnswlib.py --quick > /dev/null

printf '\n== all tests passed in %dm%02ds\n' $((SECONDS / 60)) $((SECONDS % 60))
