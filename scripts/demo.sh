#!/usr/bin/env bash
# Quick demo: trains a tiny DAMSM + AttnGAN on procedural Shapes for a few dozen steps
# (about a minute on 2 CPU cores) and samples a caption. The images are blurry: the tiny
# preset shows the pipeline working end to end, not image quality (see configs/cpu.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
caption="${1:-a small red circle above a large blue square}"
run="${T2I_DEMO_DIR:-runs/demo}"
# The dev profile is optimised (see Cargo.toml) and shares its build with the tests.
cargo build --bin t2i
bin="${CARGO_TARGET_DIR:-target}/debug/t2i"
rm -rf "$run"
"$bin" train damsm --config tiny --out "$run/damsm"
"$bin" train gan --config tiny --damsm "$run/damsm" --out "$run/gan"
"$bin" sample --model "$run/gan" "$caption" --seed 7 --out "$run/sample"
echo "open $run/sample/stage_128.png and $run/sample/attention.png"
