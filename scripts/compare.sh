#!/usr/bin/env bash
# The model-zoo comparison of docs/MODELS.md: every variant in configs/compare/ trained on Shapes
# with the same GAN budget and seed, then `t2i eval` and `t2i bench --forward-only` on each.
#
#   scripts/compare.sh RUNS_DIR [VARIANT ...]     (default: every configs/compare/*.toml)
#
# Resumable: a finished step (DAMSM run, GAN run, eval.json, bench.json) is skipped on re-run.
# DAMSM runs are shared by the variants whose text/image/data config match: the BiLSTM one is
# shapes.toml's (link an existing run as RUNS_DIR/damsm-bilstm to reuse it); CAE-GAN's is its own.
# Set T2I to the binary (default: target/debug/t2i), SCENES to the eval size (default 500).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:?usage: scripts/compare.sh RUNS_DIR [VARIANT ...]}
shift
T2I=${T2I:-target/debug/t2i}
SCENES=${SCENES:-500}
variants=("$@")
if [[ ${#variants[@]} -eq 0 ]]; then
  for f in configs/compare/*.toml; do variants+=("$(basename "$f" .toml)"); done
fi
mkdir -p "$RUNS"

done_steps() { # run dir, wanted steps: true when metrics.jsonl has reached them
  [[ -f $1/metrics.jsonl ]] && grep -q "\"step\":$2[,}]" "$1/metrics.jsonl"
}

for v in "${variants[@]}"; do
  cfg=configs/compare/$v.toml
  [[ -f $cfg ]] || { echo "no $cfg" >&2; exit 1; }
  if grep -q '^encoder = "cae"' "$cfg"; then damsm=$RUNS/damsm-$v; dcfg=$cfg; else damsm=$RUNS/damsm-bilstm; dcfg=configs/shapes.toml; fi
  dsteps=$(sed -n 's/^damsm_steps = //p' "$dcfg")
  if ! done_steps "$damsm" "$dsteps"; then
    if [[ -f $damsm/checkpoint.t2i ]]; then "$T2I" train damsm --out "$damsm" --resume --quiet
    else "$T2I" train damsm --config "$dcfg" --out "$damsm" --quiet; fi
  fi
  run=$RUNS/$v
  gsteps=$(sed -n 's/^gan_steps = //p' "$cfg")
  if ! done_steps "$run" "$gsteps"; then
    start=$(date +%s)
    if [[ -f $run/checkpoint.t2i ]]; then "$T2I" train gan --out "$run" --resume --quiet
    else "$T2I" train gan --config "$cfg" --damsm "$damsm" --out "$run" --quiet; fi
    echo "$(( $(date +%s) - start ))" >> "$run/wall_seconds"
  fi
  [[ -f $run/eval.json ]] || "$T2I" eval --model "$run" --scenes "$SCENES" --json "$run/eval.json" | tee "$run/eval.txt"
  # A run with its own DAMSM (CAE-GAN) is also scored by the shared BiLSTM encoders, so that
  # R-precision and FID compare across variants (compare_table.py prefers this file).
  if [[ $damsm != "$RUNS/damsm-bilstm" && ! -f $run/eval-shared-damsm.json ]]; then
    "$T2I" eval --model "$run" --damsm "$RUNS/damsm-bilstm" --scenes "$SCENES" --json "$run/eval-shared-damsm.json" \
      > "$run/eval-shared-damsm.txt"
  fi
  [[ -f $run/bench.json ]] || "$T2I" bench --config "$cfg" --forward-only --json "$run/bench.json" | tee "$run/bench.txt"
done
for v in "${variants[@]}"; do
  echo "== $v"; cat "$RUNS/$v/eval.txt" "$RUNS/$v/bench.txt" 2>/dev/null || true
done
