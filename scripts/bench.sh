#!/usr/bin/env bash
# Speed table: t2i (burn) against the same networks in PyTorch on CPU, in one run.
# Usage: scripts/bench.sh [config] [repeats]. Needs python3 with torch and numpy; set PYTHON to
# the interpreter that has them. Run on an otherwise idle machine.
# With BACKENDS="cpu tch" it also times t2i on LibTorch's kernels (feature `tch`, built against
# that same PyTorch, which must then be 2.9.0: pip install torch==2.9.0 numpy).
set -euo pipefail
cd "$(dirname "$0")/.."
config="${1:-configs/cpu.toml}"
repeats="${2:-5}"
py="${PYTHON:-python3}"
backends="${BACKENDS:-cpu}"
threads="$(nproc)"
tmp="$(mktemp -d)"
features=()
if [[ " $backends " == *" tch "* ]]; then
  features=(--features tch)
  export LIBTORCH_USE_PYTORCH=1
  PATH="$(dirname "$("$py" -c 'import sys; print(sys.executable)')"):$PATH"
fi
cargo build --release --bin t2i "${features[@]}"
for b in $backends; do
  "${CARGO_TARGET_DIR:-target}/release/t2i" bench --device "$b" --config "$config" --repeats "$repeats" --json "$tmp/t2i-$b.json"
done
"$py" bench/pytorch_attngan.py --config "$config" --threads "$threads" --repeats "$repeats" --json "$tmp/torch.json"
"$py" - "$tmp/torch.json" "$tmp"/t2i-*.json <<'PY'
import json, os, sys
torch = json.load(open(sys.argv[1]))
for path in sys.argv[2:]:
    rust = json.load(open(path))
    name = os.path.basename(path)[4:-5]
    print(f"\nt2i --device {name}")
    print(f"{'measurement':<24}{'t2i ms':>12}{'PyTorch ms':>12}{'ratio':>8}")
    for k, v in rust.items():
        t = torch.get(k)
        print(f"{k:<24}{v:>12.1f}{(t if t else float('nan')):>12.1f}{(v / t if t else float('nan')):>8.2f}")
PY
rm -rf "$tmp"
