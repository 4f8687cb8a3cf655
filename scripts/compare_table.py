#!/usr/bin/env python3
"""Print the model-zoo comparison (docs/MODELS.md) as a Markdown table from the eval.json,
bench.json and metrics.jsonl that scripts/compare.sh leaves in each run directory.

    scripts/compare_table.py RUNS_DIR [VARIANT ...]
"""
import json
import statistics
import sys
from pathlib import Path


def pct(x):
    return "—" if x is None else f"{100 * x:.1f} %"


def row(run: Path):
    ev = json.loads((run / "eval.json").read_text())
    bench = json.loads((run / "bench.json").read_text())
    last = ev["stages"][-1]
    # R-precision and FID must come from one set of DAMSM encoders to compare: a run with its own
    # DAMSM (CAE-GAN) is re-scored with the shared BiLSTM one (compare.sh writes that file).
    shared = run / "eval-shared-damsm.json"
    scored = json.loads(shared.read_text())["stages"][-1] if shared.is_file() else last
    steps = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
    rates = [s["images_per_s"] for s in steps if "images_per_s" in s]
    batch = next(
        int(l.split("=")[1]) for l in (run / "config.toml").read_text().splitlines() if l.startswith("batch_size")
    )
    step_s = batch / statistics.median(rates) if rates else float("nan")
    a, held, seen = last["all"], last["held_out"], last["seen"]
    return [
        run.name,
        f"{last['size']} px",
        pct(a["all_correct"]),
        pct(a["color"]),
        pct(a["shape"]),
        pct(a["background"]),
        pct(a["attributes"]),
        f"{pct(held['color'])} / {pct(seen['color'])}",
        pct(scored["r_precision"]),
        f"{scored['fid_damsm']:.1f}",
        f"{last['diversity']:.3f}",
        f"{int(bench['generator_parameters']):,}",
        f"{bench['g_forward_b1']:.0f} / {bench['g_forward_b16']:.0f} ms",
        f"{step_s:.1f} s",
    ]


def layout_rows(runs: Path, names):
    """Box-level scores of the layout model's inferred layouts (eval/layout_scores.rs)."""
    out = []
    for n in names:
        f = runs / n / "eval.json"
        lay = json.loads(f.read_text()).get("layout") if f.is_file() else None
        if lay:
            out.append(
                f"| {n} | {pct(lay['count'])} | {pct(lay['classes'])} | {pct(lay['sizes'])} | "
                f"{pct(lay['placement'])} | {pct(lay['all_correct'])} | {lay['mean_boxes']:.2f} |"
            )
    if out:
        print()
        print("| layout model | box count | box classes | box sizes | position / relation | all right | boxes per caption |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(out))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    runs = Path(sys.argv[1])
    names = sys.argv[2:] or sorted(p.name for p in runs.iterdir() if (p / "eval.json").is_file())
    head = [
        "variant", "final image", "all attributes right", "color", "shape", "background", "attributes (mean)",
        "color held-out / seen", "R-precision", "FID (DAMSM)", "diversity", "generator parameters",
        "CPU forward b1 / b16", "train step (median)",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for n in names:
        if (runs / n / "eval.json").is_file() and (runs / n / "bench.json").is_file():
            print("| " + " | ".join(row(runs / n)) + " |")
        else:
            print(f"| {n} | not finished |" + " |" * (len(head) - 2))
    layout_rows(runs, names)


if __name__ == "__main__":
    main()
