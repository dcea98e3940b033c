#!/usr/bin/env python3
"""PyTorch side of the README's performance table (optional; not part of the tests).

Times the PyTorch equivalents of what `autosam bench heads|baselines|encoder` time, at the same
shapes, fp32 on CPU with the same thread count, so the two columns come from one machine and one
session:

  python3 scripts/bench_pytorch.py --threads 2            # CNN, linear, UNet steps; ViT-B encoder
  python3 scripts/bench_pytorch.py --only cnn,linear

A training step is: forward, bilinear resize of the logits to the labels (heads), cross-entropy +
batch soft-Dice, backward, Adam step. Needs `torch` (a CPU wheel: pip install torch --index-url
https://download.pytorch.org/whl/cpu, or a wheel already on the machine). The AutoSAM head is
SAM's mask decoder run once per (image, class) row as AutoSAM's `predict_masks_1` does (the image
embedding repeated per class), with the IoU token and head frozen.
"""
import argparse
import platform
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cnn_head(c, k, t, classes):
    """AutoSAM's SegDecoderCNN (num_depth k, top_channel t), as Sources/Heads/CNNHead.swift."""
    top = t << k
    layers = [nn.Conv2d(c, top, 1), nn.ReLU(), nn.Conv2d(top, top, 1), nn.ReLU()]
    for i in range(k):
        ch = t << (k - i)
        if k > 2 and i < 2:
            layers += [nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(), nn.Conv2d(ch, ch // 2, 3, padding=1), nn.ReLU()]
        else:
            layers += [nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(), nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(),
                       nn.ConvTranspose2d(ch, ch // 2, 2, stride=2)]
    layers += [nn.Conv2d(t, t, 3, padding=1), nn.Conv2d(t, classes, 1)]
    return nn.Sequential(*layers)


class LayerNorm2d(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c))

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + 1e-6)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


def linear_head(c, classes):
    """AutoSAM's SegDecoderLinear, as Sources/Heads/LinearHead.swift."""
    return nn.Sequential(nn.ConvTranspose2d(c, c // 4, 2, stride=2), LayerNorm2d(c // 4), nn.GELU(),
                         nn.ConvTranspose2d(c // 4, c // 8, 2, stride=2), nn.GELU(),
                         nn.Conv2d(c // 8, c // 8, 1), nn.ReLU(), nn.Conv2d(c // 8, classes, 1), nn.ReLU())


class UNet(nn.Module):
    """The UNet baseline of Sources/Heads/UNet.swift (width w, L levels, InstanceNorm, no conv bias)."""

    def __init__(self, w=64, levels=4, classes=4):
        super().__init__()

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.InstanceNorm2d(o, affine=True), nn.ReLU(),
                                 nn.Conv2d(o, o, 3, padding=1, bias=False), nn.InstanceNorm2d(o, affine=True), nn.ReLU())
        self.encoders = nn.ModuleList([block(3, w)] + [block(w << (l - 1), w << l) for l in range(1, levels + 1)])
        self.ups = nn.ModuleList([nn.ConvTranspose2d(w << (l + 1), w << l, 2, stride=2) for l in range(levels)])
        self.decoders = nn.ModuleList([block(2 * (w << l), w << l) for l in range(levels)])
        self.final = nn.Conv2d(w, classes, 1)

    def forward(self, x):
        skips = []
        for i, e in enumerate(self.encoders):
            x = e(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for l in reversed(range(len(self.ups))):
            x = self.decoders[l](torch.cat([skips[l], self.ups[l](x)], 1))
        return self.final(x)


def loss_fn(logits, labels, classes):
    if logits.shape[-1] != labels.shape[-1]:
        logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
    ce = F.cross_entropy(logits, labels)
    p = logits.softmax(1)
    onehot = F.one_hot(labels, classes).permute(0, 3, 1, 2).float()
    inter, denom = (p * onehot).sum((0, 2, 3)), (p + onehot).sum((0, 2, 3))
    return ce + (1 - (2 * inter[1:] + 1e-5) / (denom[1:] + 1e-5)).mean()


def time_steps(model, x, labels, classes, steps):
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), labels, classes).backward()
        opt.step()
        if i > 0:
            times.append(time.perf_counter() - t0)
    return sum(times) / len(times)


class Attention(nn.Module):
    """SAM's decoder attention: q/k/v projections to dim / downsample, heads, output projection."""

    def __init__(self, dim, heads, downsample=1):
        super().__init__()
        inner = dim // downsample
        self.q, self.k, self.v, self.out = (nn.Linear(dim, inner), nn.Linear(dim, inner), nn.Linear(dim, inner),
                                            nn.Linear(inner, dim))
        self.heads = heads

    def forward(self, q, k, v):
        def split(x):
            b, n, c = x.shape
            return x.reshape(b, n, self.heads, c // self.heads).transpose(1, 2)
        q, k, v = split(self.q(q)), split(self.k(k)), split(self.v(v))
        attn = (q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5)).softmax(-1)
        x = (attn @ v).transpose(1, 2)
        return self.out(x.reshape(x.shape[0], x.shape[1], -1))


class TwoWayBlock(nn.Module):
    def __init__(self, d, heads, mlp, skip_pe):
        super().__init__()
        self.self_attn, self.t2i, self.i2t = Attention(d, heads), Attention(d, heads, 2), Attention(d, heads, 2)
        self.norms = nn.ModuleList([nn.LayerNorm(d) for _ in range(4)])
        self.mlp = nn.Sequential(nn.Linear(d, mlp), nn.ReLU(), nn.Linear(mlp, d))
        self.skip_pe = skip_pe

    def forward(self, queries, keys, qpe, kpe):
        if self.skip_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + qpe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norms[0](queries)
        queries = self.norms[1](queries + self.t2i(queries + qpe, keys + kpe, keys))
        queries = self.norms[2](queries + self.mlp(queries))
        keys = self.norms[3](keys + self.i2t(keys + kpe, queries + qpe, queries))
        return queries, keys


class AutoSAMHeadTwin(nn.Module):
    """AutoSAM's decoder head (Sources/Heads/AutoSAMHead.swift): per (image, class) row, tokens
    [iou_token[c], mask_tokens[2c], mask_tokens[2c + 1]], SAM's two-way transformer (depth 2, 8 heads,
    MLP 2048), output upscaling, hypernetwork 0 dotted with the upscaled embedding."""

    def __init__(self, d=256, classes=4, depth=2):
        super().__init__()
        self.k = classes
        self.iou_token = nn.Embedding(classes, d)
        self.mask_tokens = nn.Embedding(2 * classes, d)
        self.blocks = nn.ModuleList([TwoWayBlock(d, 8, 2048, i == 0) for i in range(depth)])
        self.final = Attention(d, 8, 2)
        self.norm_final = nn.LayerNorm(d)
        self.upscale = nn.Sequential(nn.ConvTranspose2d(d, d // 4, 2, stride=2), LayerNorm2d(d // 4), nn.GELU(),
                                     nn.ConvTranspose2d(d // 4, d // 8, 2, stride=2), nn.GELU())

        def mlp(o):
            return nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU(), nn.Linear(d, o))
        self.hyper = nn.ModuleList([mlp(d // 8) for _ in range(2)])
        self.iou_head = mlp(2)
        for p in list(self.iou_token.parameters()) + list(self.iou_head.parameters()):
            p.requires_grad_(False)

    def forward(self, x):
        b, d, h, w = x.shape
        k = self.k
        tokens = torch.cat([self.iou_token.weight[:, None], self.mask_tokens.weight.view(k, 2, d)], 1)
        tokens = tokens.repeat(b, 1, 1)                                       # (B K, 3, D)
        src = torch.repeat_interleave(x, k, dim=0)                            # (B K, D, h, w)
        pe = self.pe if hasattr(self, "pe") else torch.randn(1, d, h, w)
        self.pe = pe
        keys, kpe = src.flatten(2).transpose(1, 2), pe.flatten(2).transpose(1, 2).expand(b * k, -1, -1)
        queries = tokens
        for blk in self.blocks:
            queries, keys = blk(queries, keys, tokens, kpe)
        queries = self.norm_final(queries + self.final(queries + tokens, keys + kpe, keys))
        up = self.upscale(keys.transpose(1, 2).reshape(b * k, d, h, w))
        hyper = torch.stack([self.hyper[i](queries[:, 1 + i]) for i in range(2)], 1)
        self.iou = self.iou_head(queries[:, 0])
        masks = (hyper @ up.flatten(2)).view(b * k, 2, 4 * h, 4 * w)
        return masks[:, 0].reshape(b, k, 4 * h, 4 * w)


class Block(nn.Module):
    """SAM ViT block: (windowed) attention with decomposed relative positions, MLP."""

    def __init__(self, dim, heads, window, size):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.heads, self.window = heads, window
        s = window if window > 0 else size
        self.rel_h = nn.Parameter(torch.zeros(2 * s - 1, dim // heads))
        self.rel_w = nn.Parameter(torch.zeros(2 * s - 1, dim // heads))

    def attention(self, x):
        b, h, w, d = x.shape
        n, hd = self.heads, d // self.heads
        qkv = self.qkv(x).reshape(b, h * w, 3, n, hd).permute(2, 0, 3, 1, 4).reshape(3, b * n, h * w, hd)
        q, k, v = qkv.unbind(0)
        attn = (q * hd ** -0.5) @ k.transpose(-2, -1)
        coords = torch.arange(h)[:, None] - torch.arange(h)[None, :] + h - 1
        rh, rw = self.rel_h[coords], self.rel_w[coords]
        rq = q.reshape(b * n, h, w, hd)
        attn = (attn.view(b * n, h, w, h, w) + torch.einsum("bhwc,hkc->bhwk", rq, rh)[:, :, :, :, None]
                + torch.einsum("bhwc,wkc->bhwk", rq, rw)[:, :, :, None, :]).view(b * n, h * w, h * w)
        x = (attn.softmax(-1) @ v).view(b, n, h, w, hd).permute(0, 2, 3, 1, 4).reshape(b, h, w, d)
        return self.proj(x)

    def forward(self, x):
        shortcut, x = x, self.norm1(x)
        if self.window > 0:
            b, h, w, d = x.shape
            s = self.window
            x = x.view(b, h // s, s, w // s, s, d).permute(0, 1, 3, 2, 4, 5).reshape(-1, s, s, d)
            x = self.attention(x)
            x = x.view(b, h // s, w // s, s, s, d).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, d)
        else:
            x = self.attention(x)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


def vit_b(image=1024):
    """SAM ViT-B image encoder (random weights: shapes are what matter). 1024 / 16 = 64: windows of 14
    need padding in SAM; here the grid is padded to 70 as SAM does."""
    g = image // 16

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch = nn.Conv2d(3, 768, 16, stride=16)
            self.pos = nn.Parameter(torch.zeros(1, g, g, 768))
            self.blocks = nn.ModuleList([Block(768, 12, 0 if i in (2, 5, 8, 11) else 14, g) for i in range(12)])
            self.neck = nn.Sequential(nn.Conv2d(768, 256, 1, bias=False), LayerNorm2d(256),
                                      nn.Conv2d(256, 256, 3, padding=1, bias=False), LayerNorm2d(256))

        def forward(self, x):
            x = self.patch(x).permute(0, 2, 3, 1) + self.pos
            for blk in self.blocks:
                if blk.window > 0:
                    pad = (-g) % blk.window
                    y = F.pad(x, (0, 0, 0, pad, 0, pad))
                    x = blk(y)[:, :g, :g, :] if pad else blk(y)
                else:
                    x = blk(x)
            return self.neck(x.permute(0, 3, 1, 2))
    return Encoder()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--only", default="autosam,cnn,linear,unet,encoder")
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"CPU: {cpu_model()}; PyTorch {torch.__version__}, {torch.get_num_threads()} thread(s), fp32")
    only = set(args.only.split(","))
    b, c, g, k, lab = 4, 256, 64, 4, 224
    emb = torch.randn(b, c, g, g)
    labels = torch.randint(0, k, (b, lab, lab))
    if "autosam" in only:
        print(f"autosam head step (B4 K4)   {time_steps(AutoSAMHeadTwin(c, k), emb, labels, k, args.steps) * 1000:9.1f} ms")
    if "cnn" in only:
        print(f"cnn k=4 t=64 head step      {time_steps(cnn_head(c, 4, 64, k), emb, labels, k, args.steps) * 1000:9.1f} ms")
    if "linear" in only:
        print(f"linear head step            {time_steps(linear_head(c, k), emb, labels, k, args.steps) * 1000:9.1f} ms")
    if "unet" in only:
        x = torch.randn(4, 3, 224, 224)
        print(f"UNet w=64 L=4 step (B4)     {time_steps(UNet(), x, labels, k, args.steps) * 1000:9.1f} ms")
    if "encoder" in only:
        enc = vit_b().eval()
        x = torch.randn(1, 3, 1024, 1024)
        with torch.no_grad():
            enc(x)
            t0 = time.perf_counter()
            for _ in range(2):
                enc(x)
        print(f"ViT-B encoder, 1024^2       {(time.perf_counter() - t0) / 2:9.2f} s/image")


if __name__ == "__main__":
    main()
