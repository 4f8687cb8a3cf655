#!/usr/bin/env bash
# Speed table: t2i (burn, CPU) against the same networks in PyTorch on CPU, in one run.
# Usage: scripts/bench.sh [config] [repeats]. Needs python3 with torch (pip install torch numpy);
# set PYTHON to the interpreter that has it. Run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
config="${1:-configs/cpu.toml}"
repeats="${2:-5}"
py="${PYTHON:-python3}"
threads="$(nproc)"
tmp="$(mktemp -d)"
cargo build --release --bin t2i
"${CARGO_TARGET_DIR:-target}/release/t2i" bench --config "$config" --repeats "$repeats" --json "$tmp/rust.json"
"$py" bench/pytorch_attngan.py --config "$config" --threads "$threads" --repeats "$repeats" --json "$tmp/torch.json"
"$py" - "$tmp/rust.json" "$tmp/torch.json" <<'PY'
import json, sys
rust, torch = (json.load(open(p)) for p in sys.argv[1:3])
print(f"\n{'measurement':<20}{'t2i ms':>12}{'PyTorch ms':>12}{'ratio':>8}")
for k, v in rust.items():
    t = torch.get(k)
    print(f"{k:<20}{v:>12.1f}{(t if t else float('nan')):>12.1f}{(v / t if t else float('nan')):>8.2f}")
PY
rm -rf "$tmp"
