#!/usr/bin/env bash
# The whole test suite: Rust tests, then the browser tests (real headless Chromium) against
# a fresh wasm build and the native CLI. Needs Chromium at /usr/bin/chromium
# (`apt-get install chromium`); installs the rest (wasm target, wasm-bindgen CLI, npm packages).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

cargo test --workspace
scripts/web.sh build
cargo build -p t2i --bin t2i
[[ -x /usr/bin/chromium ]] || { echo "Chromium is missing: apt-get install -y chromium" >&2; exit 1; }
T2I_BIN="$TARGET_DIR/debug/t2i" node --test --test-concurrency=1 tests/browser/
