#!/usr/bin/env python3
"""PyTorch CPU reference benchmark for the t2i AttnGAN modules.

Mirrors the Rust/burn modules of this repository (widths read from a TOML
config) so that per-step timings can be compared. Random init, random inputs.

    python3 bench/pytorch_attngan.py --config configs/cpu.toml \
        [--threads 2] [--repeats 5] [--json out.json]
"""
import argparse
import json
import math
import statistics
import time
import tomllib

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB = 60
CAP_LEN = 12
SHORT_LEN = 9
LR_GAN = 2e-4
LR_DAMSM = 2e-3
RNN_CLIP = 0.25


# ----------------------------------------------------------------- layers
def conv3x3(cin, cout):
    return nn.Conv2d(cin, cout, 3, 1, 1, bias=False)


def conv1x1(cin, cout):
    return nn.Conv2d(cin, cout, 1, 1, 0, bias=False)


def conv4x4_down(cin, cout):
    return nn.Conv2d(cin, cout, 4, 2, 1, bias=False)


def glu(x):
    n = x.shape[1] // 2
    return x[:, :n] * torch.sigmoid(x[:, n:])


def lrelu(x):
    return F.leaky_relu(x, 0.2)


class UpBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = conv3x3(cin, 2 * cout)
        self.bn = nn.BatchNorm2d(2 * cout)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return glu(self.bn(self.conv(x)))


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = conv3x3(c, 2 * c)
        self.bn1 = nn.BatchNorm2d(2 * c)
        self.conv2 = conv3x3(c, c)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        y = glu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(y)) + x


# -------------------------------------------------------------- generator
class CondAug(nn.Module):
    def __init__(self, nef, cond):
        super().__init__()
        self.cond = cond
        self.fc = nn.Linear(nef, cond * 4, bias=True)

    def forward(self, sent):
        x = glu(self.fc(sent))
        mu, logvar = x[:, : self.cond], x[:, self.cond:]
        c = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return c, mu, logvar


class InitStage(nn.Module):
    def __init__(self, ngf, cin):
        super().__init__()
        self.ngf = ngf
        self.fc = nn.Linear(cin, ngf * 16 * 2, bias=False)
        self.bn = nn.BatchNorm1d(ngf * 16 * 2)
        self.ups = nn.ModuleList([UpBlock(ngf // 2 ** k, ngf // 2 ** (k + 1)) for k in range(4)])

    def forward(self, x):
        h = glu(self.bn(self.fc(x))).view(x.shape[0], self.ngf, 4, 4)
        for up in self.ups:
            h = up(h)
        return h


class WordAttention(nn.Module):
    def __init__(self, idf, cdf):
        super().__init__()
        self.proj = conv1x1(cdf, idf)

    def forward(self, h, words, mask):
        # h [B,idf,H,W]; words [B,cdf,T]; mask [B,T] True = padding
        b, idf, hh, ww = h.shape
        t = words.shape[2]
        source = self.proj(words.unsqueeze(3)).squeeze(3)  # [B,idf,T]
        target = h.view(b, idf, hh * ww).transpose(1, 2)  # [B,Q,idf]
        logits = torch.bmm(target, source)  # [B,Q,T]
        logits = logits.masked_fill(mask.unsqueeze(1), -1e9)
        attn = torch.softmax(logits, dim=2)
        context = torch.bmm(source, attn.transpose(1, 2))  # [B,idf,Q]
        return context.view(b, idf, hh, ww), attn.transpose(1, 2).reshape(b, t, hh, ww)


class NextStage(nn.Module):
    def __init__(self, gf, nef, res_blocks):
        super().__init__()
        self.att = WordAttention(gf, nef)
        self.res = nn.ModuleList([ResBlock(2 * gf) for _ in range(res_blocks)])
        self.up = UpBlock(2 * gf, gf)

    def forward(self, h, words, mask):
        context, attn = self.att(h, words, mask)
        x = torch.cat([h, context], 1)
        for r in self.res:
            x = r(x)
        return self.up(x), attn


class ImageHead(nn.Module):
    def __init__(self, gf):
        super().__init__()
        self.conv = conv3x3(gf, 3)

    def forward(self, h):
        return torch.tanh(self.conv(h))


class Generator(nn.Module):
    def __init__(self, g, nef):
        super().__init__()
        self.z_dim = g["z_dim"]
        gf = g["gf"]
        self.ca = CondAug(nef, g["cond_dim"])
        self.init = InitStage(16 * gf, g["z_dim"] + g["cond_dim"])
        self.heads = nn.ModuleList([ImageHead(gf) for _ in range(g["stages"])])
        self.nexts = nn.ModuleList([NextStage(gf, nef, g["res_blocks"]) for _ in range(g["stages"] - 1)])

    def forward(self, sent, words, mask):
        c, mu, logvar = self.ca(sent)
        z = torch.randn(sent.shape[0], self.z_dim)
        h = self.init(torch.cat([c, z], 1))
        images = [self.heads[0](h)]
        for i, nxt in enumerate(self.nexts):
            h, _ = nxt(h, words, mask)
            images.append(self.heads[i + 1](h))
        return images, mu, logvar


# ---------------------------------------------------------- discriminator
class ConvBnLrelu(nn.Module):
    def __init__(self, conv, c):
        super().__init__()
        self.conv = conv
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return lrelu(self.bn(self.conv(x)))


class Discriminator(nn.Module):
    def __init__(self, stage, df, nef):
        super().__init__()
        self.first = conv4x4_down(3, df)
        blocks = [ConvBnLrelu(conv4x4_down(df * 2 ** k, df * 2 ** (k + 1)), df * 2 ** (k + 1)) for k in range(3)]
        for k in range(stage):
            blocks.append(ConvBnLrelu(conv4x4_down(df * 8 * 2 ** k, df * 16 * 2 ** k), df * 16 * 2 ** k))
        for k in reversed(range(stage)):
            blocks.append(ConvBnLrelu(conv3x3(df * 16 * 2 ** k, df * 8 * 2 ** k), df * 8 * 2 ** k))
        self.blocks = nn.ModuleList(blocks)
        self.uncond_out = nn.Conv2d(8 * df, 1, 4, 4, bias=True)
        self.joint = ConvBnLrelu(conv3x3(8 * df + nef, 8 * df), 8 * df)
        self.cond_out = nn.Conv2d(8 * df, 1, 4, 4, bias=True)

    def encode(self, img):
        x = lrelu(self.first(img))
        for b in self.blocks:
            x = b(x)
        return x  # [B,8df,4,4]

    def uncond(self, feat):
        return self.uncond_out(feat).view(-1)

    def cond(self, feat, sent):
        s = sent.view(sent.shape[0], -1, 1, 1).expand(-1, -1, 4, 4)
        return self.cond_out(self.joint(torch.cat([feat, s], 1))).view(-1)


def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def d_loss_stage(d, real, fake, sent):
    b = real.shape[0]
    fr = d.encode(real)
    ff = d.encode(fake)
    real_l = (bce(d.uncond(fr), 1.0) + bce(d.cond(fr, sent), 1.0)) / 2
    fake_l = (bce(d.uncond(ff), 0.0) + bce(d.cond(ff, sent), 0.0)
              + bce(d.cond(fr[: b - 1], sent[1:]), 0.0)) / 3
    return real_l + fake_l


def g_adv_stage(d, fake, sent):
    ff = d.encode(fake)
    return bce(d.uncond(ff), 1.0) + bce(d.cond(ff, sent), 1.0)


def kl_loss(mu, logvar):
    return -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())


# ------------------------------------------------------------------ DAMSM
class ImageEncoder(nn.Module):
    def __init__(self, image_size, w, nef):
        super().__init__()
        self.image_size = image_size
        self.stem = nn.Conv2d(3, w, 3, 1, 1, bias=True)
        n_down = max(3, int(round(math.log2(image_size))) - 4)
        blocks = []
        for i in range(n_down):
            cin, cout = w * 2 ** min(i, 3), w * 2 ** min(i + 1, 3)
            blocks += [conv4x4_down(cin, cout), nn.GroupNorm(8 if cout % 8 == 0 else 1, cout), nn.LeakyReLU(0.2)]
        self.down = nn.Sequential(*blocks)
        top = w * 2 ** min(n_down, 3)
        self.regions = conv1x1(top, nef)
        self.tail = nn.Sequential(conv4x4_down(top, 2 * top),
                                  nn.GroupNorm(8 if (2 * top) % 8 == 0 else 1, 2 * top), nn.LeakyReLU(0.2))
        self.fc = nn.Linear(2 * top, nef)

    def forward(self, img):
        side = img.shape[-1]
        if side > self.image_size:
            img = F.avg_pool2d(img, side // self.image_size)
        x = self.down(lrelu(self.stem(img)))
        regions = self.regions(x)  # [B,nef,r,r]
        glob = self.fc(self.tail(x).mean(dim=(2, 3)))
        return regions, glob


class TextEncoder(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, t["embedding_dim"])
        self.drop = nn.Dropout(t["dropout"])
        self.rnn = nn.LSTM(t["embedding_dim"], t["hidden_dim"], batch_first=True, bidirectional=True)

    def forward(self, tokens, lengths):
        x = self.drop(self.emb(tokens))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, (h, _) = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        words = out.transpose(1, 2)  # [B,2H,T]
        sent = torch.cat([h[0], h[1]], 1)  # [B,2H]
        return words, sent


def word_scores(regions, words, mask, g1, g2, g3):
    # regions [Bi,D,r,r]; words [Bj,D,T]; mask [Bj,T] True = padding
    bi, d = regions.shape[:2]
    ctx = regions.reshape(bi, d, -1)  # [Bi,D,S]
    logits = torch.einsum("ids,jdt->ijst", ctx, words)  # [Bi,Bj,S,T]
    logits = logits.masked_fill(mask[None, :, None, :], -1e9)
    attn = torch.softmax(logits, dim=3)
    attn = torch.softmax(attn.transpose(2, 3) * g1, dim=3)  # [Bi,Bj,T,S]
    context = torch.matmul(attn, ctx.transpose(1, 2).unsqueeze(1))  # [Bi,Bj,T,D]
    w = words.transpose(1, 2).unsqueeze(0)  # [1,Bj,T,D]
    dot = (context * w).sum(-1)
    denom = torch.sqrt(torch.clamp((context * context).sum(-1) * (w * w).sum(-1), min=1e-16))
    cos = dot / denom  # [Bi,Bj,T]
    valid = (~mask).to(cos.dtype).unsqueeze(0)
    return torch.log((torch.exp(g2 * cos) * valid).sum(-1)) * g3


def sent_scores(glob, sent, g3):
    dot = glob @ sent.t()
    denom = torch.clamp(glob.norm(dim=1, keepdim=True) * sent.norm(dim=1).unsqueeze(0), min=1e-8)
    return dot / denom * g3


def pair_loss(scores):
    labels = torch.arange(scores.shape[0])
    return F.cross_entropy(scores, labels) + F.cross_entropy(scores.t(), labels)


def damsm_losses(regions, glob, words, sent, mask, dm):
    w = pair_loss(word_scores(regions, words, mask, dm["gamma1"], dm["gamma2"], dm["gamma3"]))
    s = pair_loss(sent_scores(glob, sent, dm["gamma3"]))
    return w, s


# ------------------------------------------------------------------ bench
def make_captions(b):
    lengths = torch.full((b,), CAP_LEN, dtype=torch.long)
    lengths[max(0, b - 4):] = SHORT_LEN
    tokens = torch.randint(1, VOCAB, (b, CAP_LEN))
    mask = torch.arange(CAP_LEN)[None, :] >= lengths[:, None]  # True = padding
    tokens = tokens.masked_fill(mask, 0)
    return tokens, lengths, mask


def text_feats(b, nef):
    _, _, mask = make_captions(b)
    words = torch.randn(b, nef, CAP_LEN).masked_fill(mask.unsqueeze(1), 0.0)
    return words, torch.randn(b, nef), mask


def timeit(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def nparams(m):
    return sum(p.numel() for p in m.parameters())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    with open(args.config, "rb") as f:
        cfg = tomllib.load(f)
    tc, dm, g, tr = cfg["model"]["text"], cfg["model"]["damsm"], cfg["model"]["gan"], cfg["train"]
    nef = 2 * tc["hidden_dim"]
    bsz = tr["batch_size"]
    betas = tuple(tr["betas"])
    lam, decay = tr["lambda"], tr["ema_decay"]
    stages = g["stages"]

    gen = Generator(g, nef)
    ds = nn.ModuleList([Discriminator(i, g["df"], nef) for i in range(stages)])
    img_enc = ImageEncoder(dm["image_size"], dm["width"], nef)
    txt_enc = TextEncoder(tc)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, config {args.config}")
    print(f"params: G {nparams(gen)}, D {[nparams(d) for d in ds]}, "
          f"image enc {nparams(img_enc)}, text enc {nparams(txt_enc)}")

    results = {}

    # --- generator inference
    gen.eval()
    for b in (1, 16):
        words, sent, mask = text_feats(b, nef)

        def fwd():
            with torch.no_grad():
                gen(sent, words, mask)
        results[f"g_forward_b{b}"] = timeit(fwd, args.repeats)

    # --- GAN training step
    gen.train()
    ds.train()
    ema = [p.detach().clone() for p in gen.parameters()]
    frozen_enc = ImageEncoder(dm["image_size"], dm["width"], nef)
    frozen_enc.eval()
    for p in frozen_enc.parameters():
        p.requires_grad_(False)
    opt_g = torch.optim.Adam(gen.parameters(), lr=LR_GAN, betas=betas, eps=1e-8)
    opt_d = torch.optim.Adam(ds.parameters(), lr=LR_GAN, betas=betas, eps=1e-8)
    words, sent, mask = text_feats(bsz, nef)
    reals = [torch.rand(bsz, 3, 64 * 2 ** i, 64 * 2 ** i) * 2 - 1 for i in range(stages)]

    def train_step():
        fakes, mu, logvar = gen(sent, words, mask)
        # D step on detached fakes
        opt_d.zero_grad(set_to_none=True)
        d_loss = sum(d_loss_stage(ds[i], reals[i], fakes[i].detach(), sent) for i in range(stages))
        d_loss.backward()
        opt_d.step()
        # G step
        opt_g.zero_grad(set_to_none=True)
        adv = sum(g_adv_stage(ds[i], fakes[i], sent) for i in range(stages))
        regions, glob = frozen_enc(fakes[-1])
        w_l, s_l = damsm_losses(regions, glob, words, sent, mask, dm)
        g_loss = adv + lam * (w_l + s_l) + kl_loss(mu, logvar)
        g_loss.backward()
        opt_g.step()
        with torch.no_grad():
            for e, p in zip(ema, gen.parameters()):
                e.mul_(decay).add_(p, alpha=1 - decay)
    results[f"train_step_b{bsz}"] = timeit(train_step, args.repeats)

    # --- DAMSM training step
    txt_enc.train()
    img_enc.train()
    opt_t = torch.optim.Adam(txt_enc.parameters(), lr=LR_DAMSM, betas=betas, eps=1e-8)
    opt_i = torch.optim.Adam(img_enc.parameters(), lr=LR_DAMSM, betas=betas, eps=1e-8)
    tokens, lengths, mask = make_captions(bsz)
    imgs = torch.rand(bsz, 3, dm["image_size"], dm["image_size"]) * 2 - 1

    def damsm_step():
        opt_t.zero_grad(set_to_none=True)
        opt_i.zero_grad(set_to_none=True)
        words, sent = txt_enc(tokens, lengths)
        regions, glob = img_enc(imgs)
        w_l, s_l = damsm_losses(regions, glob, words, sent, mask, dm)
        (w_l + s_l).backward()
        nn.utils.clip_grad_norm_(txt_enc.rnn.parameters(), RNN_CLIP)
        opt_t.step()
        opt_i.step()
    results[f"damsm_step_b{bsz}"] = timeit(damsm_step, args.repeats)

    print(f"{'name':<20} {'median ms':>12}")
    for k, v in results.items():
        print(f"{k:<20} {v:>12.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
