#!/usr/bin/env bash
# Build the browser wasm and serve the demo page.
#
#   scripts/web.sh            build, then serve the repo root on http://127.0.0.1:8080/
#   scripts/web.sh build      build web/pkg/ only
#   scripts/web.sh serve      serve without building (PORT=8080 by default)
#   scripts/web.sh dist [DIR] build, then copy a self-contained static site to DIR (default dist/)
#
# Installs what is missing: the wasm32 target (rustup), the wasm-bindgen CLI of the version
# in Cargo.lock (cargo install), and the npm packages (binaryen's wasm-opt). Honours
# CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PORT=${PORT:-8080}

need_wasm_bindgen() {
  local want have
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [[ "$have" != "$want" ]]; then
    echo "installing wasm-bindgen-cli $want (found: ${have:-none})" >&2
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

build() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  need_wasm_bindgen
  [[ -x node_modules/.bin/wasm-opt && -d node_modules/playwright-core ]] || npm install --no-audit --no-fund
  echo "building the wasm (first build: ~15 min on 2 cores)" >&2
  cargo build --target wasm32-unknown-unknown --profile web -p t2i --lib --no-default-features --features web
  local wasm=$TARGET_DIR/wasm32-unknown-unknown/web/t2i.wasm
  local stamp
  stamp="$(cksum < "$wasm") $(wasm-bindgen --version)"
  if [[ -f web/pkg/t2i_bg.wasm && "$(cat web/pkg/.source 2>/dev/null)" == "$stamp" ]]; then
    echo "web/pkg is up to date" >&2
    sizes web/pkg/t2i_bg.wasm web/pkg/t2i.js
    return
  fi
  rm -rf web/pkg.tmp && mkdir -p web/pkg.tmp
  wasm-bindgen --target web --no-typescript --remove-name-section --out-dir web/pkg.tmp --out-name t2i "$wasm"
  if [[ -x node_modules/.bin/wasm-opt ]]; then
    # -O3, not -Oz: size-optimised code made the CPU matmul several times slower.
    node_modules/.bin/wasm-opt -O3 \
      --enable-bulk-memory --enable-bulk-memory-opt --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-reference-types --enable-multivalue --enable-simd \
      --enable-call-indirect-overlong \
      web/pkg.tmp/t2i_bg.wasm -o web/pkg.tmp/t2i_bg.opt.wasm
    mv web/pkg.tmp/t2i_bg.opt.wasm web/pkg.tmp/t2i_bg.wasm
  else
    echo "wasm-opt not found (npm install provides it); the wasm is larger" >&2
  fi
  echo "$stamp" > web/pkg.tmp/.source
  rm -rf web/pkg && mv web/pkg.tmp web/pkg
  sizes web/pkg/t2i_bg.wasm web/pkg/t2i.js
}

sizes() {
  node -e '
    const fs = require("fs"), zlib = require("zlib");
    for (const f of process.argv.slice(1)) {
      const b = fs.readFileSync(f);
      const gz = zlib.gzipSync(b, { level: 9 }).length;
      const br = zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
      const mb = (n) => (n / 1048576).toFixed(2) + " MiB";
      console.log(`${f}: raw ${mb(b.length)}, gzip ${mb(gz)}, brotli ${mb(br)}`);
    }' "$@"
}

dist() {
  local out=${1:-dist}
  build
  rm -rf "$out" && mkdir -p "$out/web/pkg"
  cp index.html "$out/"
  cp web/*.js web/*.css web/embed-example.html "$out/web/"
  cp web/pkg/t2i.js web/pkg/t2i_bg.wasm "$out/web/pkg/"
  cp -r weights "$out/"
  echo "static site in $out/ ($(du -sh "$out" | cut -f1)); serve it from any static host" >&2
}

case "${1:-all}" in
  build) build ;;
  serve) exec node web/serve.mjs --root "$ROOT" --port "$PORT" ;;
  dist) dist "${2:-dist}" ;;
  all) build && exec node web/serve.mjs --root "$ROOT" --port "$PORT" ;;
  *) echo "usage: scripts/web.sh [build|serve|dist [DIR]]" >&2; exit 2 ;;
esac
