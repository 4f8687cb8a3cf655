#!/usr/bin/env python3
"""Rough check that generated Shapes images put the caption's colours in the right places.

A stop-gap until the procedural judge (src/eval/judge.rs) exists. For N test scenes it samples
caption 0 with `t2i sample` and scores the final-stage image against the scene's ground truth:
- background: the median border pixel's nearest background colour;
- colour in place: inside each object's ground-truth box, the pixels that differ from the
  background are mapped to the nearest palette colour; the object counts as right when the
  most frequent one is its colour;
- the same scores on the real rendered images, as a ceiling.
Usage: scripts/color_check.py T2I_BINARY RUN_DIR [N] [--live]  (--live: the live generator weights)
"""
import json, os, subprocess, sys, tempfile
from collections import Counter

try:
    from PIL import Image
except ImportError:  # pragma: no cover
    sys.exit("needs Pillow: pip install pillow")

BG = {"white": (255, 255, 255), "black": (0, 0, 0), "gray": (128, 128, 128)}
COLORS = {"red": (220, 40, 40), "orange": (245, 140, 30), "yellow": (240, 210, 40), "green": (40, 170, 60),
          "cyan": (40, 200, 210), "blue": (40, 80, 220), "purple": (140, 60, 180), "pink": (240, 120, 190)}


def d2(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b))


def nearest(px, table):
    return min(table, key=lambda k: d2(px, table[k]))


def score(img, scene):
    w, h = img.size
    px = img.load()
    border = sorted([px[x, 0] for x in range(w)] + [px[x, h - 1] for x in range(w)], key=sum)
    bg_px = border[len(border) // 2]
    bg_ok = nearest(bg_px, BG) == scene["background"]
    obj_ok = []
    for o in scene["objects"]:
        x0, y0, x1, y1 = (int(v * w) for v in o["bbox"])
        votes = Counter()
        for y in range(max(y0, 0), min(y1, h)):
            for x in range(max(x0, 0), min(x1, w)):
                p = px[x, y]
                if d2(p, bg_px) > 60 ** 2:
                    votes[nearest(p, COLORS)] += 1
        obj_ok.append(bool(votes) and votes.most_common(1)[0][0] == o["color"])
    return bg_ok, obj_ok


def main():
    t2i, run = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    extra = ["--live"] if "--live" in sys.argv[4:] else []
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        subprocess.run([t2i, "data", "shapes", "--out", data, "--split", "test", "--count", str(n), "--size", "128"],
                       check=True, stdout=subprocess.DEVNULL)
        caps = [json.loads(l) for l in open(os.path.join(data, "captions.jsonl"))]
        gts = [json.loads(l) for l in open(os.path.join(data, "ground_truth.jsonl"))]
        rows = {"generated": [0, 0, 0, 0], "real": [0, 0, 0, 0]}  # bg ok, scenes, objects ok, objects
        for i, (c, g) in enumerate(zip(caps, gts)):
            out = os.path.join(tmp, f"s{i}")
            subprocess.run([t2i, "sample", "--model", run, c["captions"][0], "--seed", str(i), "--out", out] + extra,
                           check=True, stdout=subprocess.DEVNULL)
            final = sorted(f for f in os.listdir(out) if f.startswith("stage_"))[-1]
            for name, path in (("generated", os.path.join(out, final)), ("real", os.path.join(data, c["file"]))):
                img = Image.open(path).convert("RGB").resize((128, 128))
                bg_ok, obj_ok = score(img, g["scene"])
                r = rows[name]
                r[0] += bg_ok; r[1] += 1; r[2] += sum(obj_ok); r[3] += len(obj_ok)
        print(f"{'images':<10}{'background':>12}{'object colour in its box':>26}   (n = {n} test scenes)")
        for name, r in rows.items():
            print(f"{name:<10}{r[0] / r[1]:>12.1%}{r[2] / r[3]:>26.1%}")


if __name__ == "__main__":
    main()
