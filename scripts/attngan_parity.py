#!/usr/bin/env python3
"""Write the AttnGAN / DM-GAN parity fixtures (tests/fixtures/{attngan,dmgan}_parity/).

Builds a tiny text encoder and generator in PyTorch whose state-dict names and forward
semantics are those of the official code (RNN_ENCODER, G_NET with CA_NET, INIT_STAGE_G,
NEXT_STAGE_G, GET_IMAGE_G; word attention as GlobalAttentionGeneral for AttnGAN, Xu et al.
2018, or the dynamic memory for DM-GAN, Zhu et al. 2019), written from the papers and the
official module names, fills it with random weights (BatchNorm running statistics
included), saves it with torch.save in both the zip and the legacy format, and saves fixed
inputs and the outputs as .npy. The Rust tests (crate/tests/attngan_parity.rs) import the
.pth files with `t2i import` and must match every output to 1e-4.

Not run by CI (it needs PyTorch):
    python3 scripts/attngan_parity.py [--variant attngan|dmgan] [--out DIR]
"""

import argparse
import json
import os
import pickle

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

# Tiny widths (the paper's birds model: 300, 256, 100, 100, 32, 2, 3 stages).
VOCAB = ["<end>", "a", "bird", "with", "red", "wings", "and", "small", "beak", "this", "has", "yellow",
         "belly", "black", "crown", "white", "long", "tail", "blue", "head"]
NINPUT, NEF, Z_DIM, COND_DIM, GF, R_NUM, STAGES = 12, 16, 8, 6, 4, 2, 3


class Glu(nn.Module):
    """First half of the channels gated by the sigmoid of the second half."""

    def forward(self, x):
        half = x.size(1) // 2
        return x[:, :half] * torch.sigmoid(x[:, half:])


def conv3(cin, cout):
    return nn.Conv2d(cin, cout, 3, 1, 1, bias=False)


def up_block(cin, cout):
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv3(cin, 2 * cout), nn.BatchNorm2d(2 * cout), Glu())


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block = nn.Sequential(conv3(c, 2 * c), nn.BatchNorm2d(2 * c), Glu(), conv3(c, c), nn.BatchNorm2d(c))

    def forward(self, x):
        return self.block(x) + x


class RnnEncoder(nn.Module):
    """Embedding, dropout, one bidirectional LSTM layer over packed captions."""

    def __init__(self, ntoken, ninput, nhidden):
        super().__init__()
        self.nhidden = nhidden
        self.encoder = nn.Embedding(ntoken, ninput)
        self.drop = nn.Dropout(0.5)
        self.rnn = nn.LSTM(ninput, nhidden // 2, 1, batch_first=True, bidirectional=True)

    def forward(self, captions, lengths):
        emb = self.drop(self.encoder(captions))
        packed = pack_padded_sequence(emb, lengths, batch_first=True)
        out, (h_n, _) = self.rnn(packed)
        out = pad_packed_sequence(out, batch_first=True)[0]
        words = out.transpose(1, 2)
        sentence = h_n.transpose(0, 1).contiguous().view(-1, self.nhidden)
        return words, sentence


class CaNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(NEF, COND_DIM * 4, bias=True)
        self.relu = Glu()

    def forward(self, sentence):
        x = self.relu(self.fc(sentence))
        return x[:, :COND_DIM], x[:, COND_DIM:]


class InitStage(nn.Module):
    def __init__(self, ngf):
        super().__init__()
        self.ngf = ngf
        self.fc = nn.Sequential(nn.Linear(Z_DIM + COND_DIM, ngf * 4 * 4 * 2, bias=False),
                                nn.BatchNorm1d(ngf * 4 * 4 * 2), Glu())
        self.upsample1 = up_block(ngf, ngf // 2)
        self.upsample2 = up_block(ngf // 2, ngf // 4)
        self.upsample3 = up_block(ngf // 4, ngf // 8)
        self.upsample4 = up_block(ngf // 8, ngf // 16)

    def forward(self, z, c):
        h = self.fc(torch.cat((c, z), 1)).view(-1, self.ngf, 4, 4)
        return self.upsample4(self.upsample3(self.upsample2(self.upsample1(h))))


class WordAttention(nn.Module):
    """Each region attends over the words (AttnGAN Eq. 2); masked words get no weight."""

    def __init__(self, idf, cdf):
        super().__init__()
        self.conv_context = nn.Conv2d(cdf, idf, 1, 1, 0, bias=False)

    def forward(self, h, words, mask):
        b, c, ih, iw = h.shape
        query = h.view(b, c, ih * iw).transpose(1, 2)
        source = self.conv_context(words.unsqueeze(3)).squeeze(3)
        logits = torch.bmm(query, source)
        # Per-sample mask. (The official code repeats the [B, T] mask queryL times, which
        # lines rows up with the wrong samples when B > 1 and lengths differ; the fixture
        # uses equal lengths, where both agree.)
        logits = logits.masked_fill(mask.unsqueeze(1), float("-inf"))
        attn = F.softmax(logits, dim=2).transpose(1, 2).contiguous()
        context = torch.bmm(source, attn).view(b, c, ih, iw)
        return context, attn.view(b, -1, ih, iw)


class NextStage(nn.Module):
    def __init__(self, ngf):
        super().__init__()
        self.att = WordAttention(ngf, NEF)
        self.residual = nn.Sequential(*[ResBlock(ngf * 2) for _ in range(R_NUM)])
        self.upsample = up_block(ngf * 2, ngf)

    def forward(self, h, words, mask):
        context, attn = self.att(h, words, mask)
        return self.upsample(self.residual(torch.cat((h, context), 1))), attn


def conv1(cin, cout):
    """A 1×1 Conv1d with bias, then ReLU (DM-GAN's memory maps)."""
    return nn.Sequential(nn.Conv1d(cin, cout, 1, 1, 0), nn.ReLU())


class MemoryStage(nn.Module):
    """DM-GAN refinement: memory writing, key addressing, value reading, response gate."""

    def __init__(self, ngf):
        super().__init__()
        self.A = nn.Linear(NEF, 1, bias=False)
        self.B = nn.Linear(ngf, 1, bias=False)
        self.M_r = conv1(ngf, ngf * 2)
        self.M_w = conv1(NEF, ngf * 2)
        self.key = conv1(ngf * 2, ngf)
        self.value = conv1(ngf * 2, ngf)
        self.response_gate = nn.Sequential(nn.Conv2d(ngf * 2, 1, 1, 1, 0), nn.Sigmoid())
        self.residual = nn.Sequential(*[ResBlock(ngf * 2) for _ in range(R_NUM)])
        self.upsample = up_block(ngf * 2, ngf)

    def memory(self, h, words):
        t = words.size(2)
        mean = h.mean(dim=(2, 3)).unsqueeze(2).detach()  # B x C x 1
        gate = torch.sigmoid(self.A(words.transpose(1, 2)).transpose(1, 2) + self.B(mean.transpose(1, 2)))
        return self.M_w(words) * gate + self.M_r(mean.repeat(1, 1, t)) * (1 - gate)

    def logits(self, h, words):
        b, c = h.shape[:2]
        return torch.bmm(h.view(b, c, -1).transpose(1, 2), self.key(self.memory(h, words)))

    def forward(self, h, words, mask):
        b, c, ih, iw = h.shape
        memory = self.memory(h, words)
        logits = self.logits(h, words).masked_fill(mask.unsqueeze(1), float("-inf"))
        attn = F.softmax(logits, dim=2).transpose(1, 2).contiguous()  # B x T x Q
        read = torch.bmm(self.value(memory), attn).view(b, c, ih, iw)
        g = self.response_gate(torch.cat((h, read), 1))
        refined = h * (1 - g) + g * read
        return self.upsample(self.residual(torch.cat((refined, refined), 1))), attn.view(b, -1, ih, iw)


class ImageHead(nn.Module):
    def __init__(self, ngf):
        super().__init__()
        self.img = nn.Sequential(conv3(ngf, 3), nn.Tanh())

    def forward(self, h):
        return self.img(h)


class Generator(nn.Module):
    def __init__(self, stage):
        super().__init__()
        self.ca_net = CaNet()
        self.h_net1 = InitStage(GF * 16)
        self.img_net1 = ImageHead(GF)
        self.h_net2 = stage(GF)
        self.img_net2 = ImageHead(GF)
        self.h_net3 = stage(GF)
        self.img_net3 = ImageHead(GF)

    def forward(self, z, sentence, words, mask):
        """c = μ (the `--use-mean` of `t2i sample`), so the output is deterministic."""
        mu, _ = self.ca_net(sentence)
        h = self.h_net1(z, mu)
        images, maps = [self.img_net1(h)], []
        for net, head in ((self.h_net2, self.img_net2), (self.h_net3, self.img_net3)):
            h, attn = net(h, words, mask)
            images.append(head(h))
            maps.append(attn)
        return images, maps


def randomise(module, gen):
    """Random BatchNorm affine parameters and running statistics."""
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.weight.data = 0.5 + torch.rand(n, generator=gen)
            m.bias.data = 0.2 * torch.randn(n, generator=gen)
            m.running_mean.data = 0.2 * torch.randn(n, generator=gen)
            m.running_var.data = 0.5 + torch.rand(n, generator=gen)
            m.num_batches_tracked.fill_(1000)


def calibrate(netg, z, sentence, words, mask):
    """Rescale, stage by stage, the word projections so attention logits have std 2 and the
    image heads so pre-tanh values have std 0.6: attention is then far from uniform and images
    span much of [-1, 1] without saturating, so a 1e-4 tolerance means something."""
    with torch.no_grad():
        mu, _ = netg.ca_net(sentence)
        h = netg.h_net1(z, mu)
        for net, head in ((None, netg.img_net1), (netg.h_net2, netg.img_net2), (netg.h_net3, netg.img_net3)):
            if isinstance(net, NextStage):
                b, c = h.shape[:2]
                source = net.att.conv_context(words.unsqueeze(3)).squeeze(3)
                logits = torch.bmm(h.view(b, c, -1).transpose(1, 2), source)
                net.att.conv_context.weight.data *= 2.0 / logits.std()
            if isinstance(net, MemoryStage):
                # Keys are ReLU(W m + b): scaling W and b scales the logits.
                scale = 2.0 / net.logits(h, words).std()
                net.key[0].weight.data *= scale
                net.key[0].bias.data *= scale
            if net is not None:
                h, _ = net(h, words, mask)
            head.img[0].weight.data *= 0.6 / head.img[0](h).std()


def save(path, array):
    np.save(path, np.ascontiguousarray(array.detach().numpy().astype(np.float32)))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=["attngan", "dmgan"], default="attngan")
    parser.add_argument("--out", help="default: tests/fixtures/<variant>_parity")
    args = parser.parse_args()
    args.out = args.out or os.path.join(here, "..", "tests", "fixtures", f"{args.variant}_parity")
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)

    text = RnnEncoder(len(VOCAB), NINPUT, NEF).eval()
    netg = Generator(MemoryStage if args.variant == "dmgan" else NextStage).eval()
    randomise(netg, gen)

    ixtoword = dict(enumerate(VOCAB))
    wordtoix = {w: i for i, w in ixtoword.items()}
    # Text encoder: three captions of different lengths, longest first (pack_padded_sequence).
    te_caps = [[9, 2, 10, 4, 5, 6, 1, 7, 8], [1, 2, 3, 15, 12, 19], [11, 17, 13]]
    # Generator: two captions of equal length.
    g_caps = [[1, 2, 3, 4, 5, 6, 11, 12], [9, 2, 10, 16, 18, 17, 13, 14]]
    with open(os.path.join(args.out, "captions.pickle"), "wb") as f:
        pickle.dump([te_caps + g_caps, g_caps, ixtoword, wordtoix], f, protocol=2)

    with torch.no_grad():
        t = max(len(c) for c in te_caps)
        tokens = torch.tensor([c + [0] * (t - len(c)) for c in te_caps])
        words, sentence = text(tokens, [len(c) for c in te_caps])
        save(os.path.join(args.out, "te_tokens.npy"), tokens.float())
        save(os.path.join(args.out, "te_words.npy"), words)
        save(os.path.join(args.out, "te_sentence.npy"), sentence)

        tokens = torch.tensor(g_caps)
        words, sentence = text(tokens, [len(c) for c in g_caps])
        z = torch.randn(len(g_caps), Z_DIM, generator=gen)
        calibrate(netg, z, sentence, words, tokens == 0)
        for name, module in (("text_encoder", text), ("netG", netg)):
            torch.save(module.state_dict(), os.path.join(args.out, f"{name}.pth"))
            torch.save(module.state_dict(), os.path.join(args.out, f"{name}_legacy.pth"),
                       _use_new_zipfile_serialization=False)
        images, maps = netg(z, sentence, words, tokens == 0)
        save(os.path.join(args.out, "z.npy"), z)
        for img in images:
            save(os.path.join(args.out, f"stage_{img.shape[-1]}.npy"), img)
        for attn, img in zip(maps, images[1:]):
            save(os.path.join(args.out, f"attention_{img.shape[-1]}.npy"), attn)

    meta = {
        "captions": [" ".join(VOCAB[i] for i in c) for c in g_caps],
        "words": VOCAB,
        "widths": {"ninput": NINPUT, "nef": NEF, "z_dim": Z_DIM, "cond_dim": COND_DIM, "gf": GF,
                   "r_num": R_NUM, "stages": STAGES, "vocab": len(VOCAB)},
        "variant": args.variant,
        "torch": torch.__version__,
    }
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print("wrote", os.path.abspath(args.out))


if __name__ == "__main__":
    main()
