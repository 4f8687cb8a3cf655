"""Can a linear read of the text encoder's word features tell which side an object is on?

For every one-size pair caption "a {size} {c1} {s1} {relation} a {size} {c2} {s2}" with a
left/right relation, this takes the BiLSTM feature of each object's colour word and the side
that object stands on, fits a logistic regression on half of the colour pairs and reports its
accuracy on the other half: on the 256-d word features, and on what each word attention of the
generator compares with its queries (the projection U·e, `conv_context`). 50 % is chance.

    python scripts/word_role_probe.py MODEL_DIR      # an exported model (model.safetensors)

Needs numpy and torch (the PyTorch environment of the README's "Faster CPU training").
Measured on weights/shapes-attngan in docs/MODELS.md (2026-12-08).
"""
import itertools
import json
import struct
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
HIDDEN = 128
COLOURS = ["red", "green", "yellow", "blue", "gray", "black", "white", "purple", "pink", "cyan", "orange"]
SHAPES = ["circle", "square", "triangle", "star"]
# relation phrase -> side of the first-named object, side of the second
RELATIONS = {"to the right of": (1, 0), "to the left of": (0, 1), "right of": (1, 0), "left of": (0, 1)}


def load(path):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])

    def tensor(name):
        v = header[name]
        dtype = {"F32": np.float32, "F16": np.float16}[v["dtype"]]
        a, b = v["data_offsets"]
        return torch.tensor(np.frombuffer(raw[8 + n + a : 8 + n + b], dtype=dtype).astype(np.float32).reshape(v["shape"]))

    return header, tensor


def direction(tensor, name, x, reverse):
    """One LSTM direction, gates stacked (i, f, g, o) as in crate/src/nn/bilstm.rs."""
    wi, bi = tensor(f"text_encoder.rnn.{name}.input.weight"), tensor(f"text_encoder.rnn.{name}.input.bias")
    wh, bh = tensor(f"text_encoder.rnn.{name}.hidden.weight"), tensor(f"text_encoder.rnn.{name}.hidden.bias")
    h, c, out = torch.zeros(HIDDEN), torch.zeros(HIDDEN), [None] * len(x)
    for t in reversed(range(len(x))) if reverse else range(len(x)):
        g = x[t] @ wi + bi + h @ wh + bh
        i, f, u, o = g.split(HIDDEN)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(u)
        h = torch.sigmoid(o) * torch.tanh(c)
        out[t] = h
    return torch.stack(out)


def fit(x, y, train, steps=800):
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(x[train] @ w + b, y[train]).backward()
        opt.step()
    with torch.no_grad():
        return ((x[~train] @ w + b > 0).float() == y[~train]).float().mean().item()


def main():
    model = Path(sys.argv[1])
    header, tensor = load(model / "model.safetensors")
    ids = {w: i for i, w in enumerate(json.loads((model / "vocab.json").read_text())["words"])}
    embed = tensor("text_encoder.encoder.weight")
    feats, sides, pairs = [], [], []
    for size in ["small", "large"]:
        for c1, c2 in itertools.permutations(COLOURS, 2):
            for s1, s2 in list(itertools.product(SHAPES, SHAPES))[::3]:
                for rel, (side1, side2) in RELATIONS.items():
                    words = f"a {size} {c1} {s1} {rel} a {size} {c2} {s2}".split()
                    x = embed[[ids[w] for w in words]]
                    f = torch.cat([direction(tensor, "forward_dir", x, False), direction(tensor, "backward_dir", x, True)], 1)
                    second = len(words) - 1 - words[::-1].index(c2)
                    for idx, side in [(words.index(c1), side1), (second, side2)]:
                        feats.append(f[idx])
                        sides.append(side)
                        pairs.append((c1, c2))
    x, y = torch.stack(feats), torch.tensor(sides, dtype=torch.float32)
    keys = sorted(set(pairs))
    np.random.default_rng(0).shuffle(keys)
    train = torch.tensor([p in set(keys[: len(keys) // 2]) for p in pairs])
    print(f"{len(x)} colour words of one-size left/right pairs; side read on held-out colour pairs:")
    print(f"  word features e ({x.shape[1]}-d): {fit(x, y, train) * 100:.1f} %")
    for name in sorted(k for k in header if k.endswith("att.conv_context.weight")):
        u = tensor(name)[:, :, 0, 0]
        print(f"  {name} U·e ({u.shape[0]}-d): {fit(x @ u.T, y, train) * 100:.1f} %")


if __name__ == "__main__":
    main()
