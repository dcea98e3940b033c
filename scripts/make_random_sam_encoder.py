#!/usr/bin/env python3
"""Writes a SAM image-encoder checkpoint with random weights in SAM's state-dict layout
(`image_encoder.*`, torch.save zip format), for loading and memory benchmarks where the real
checkpoints cannot be downloaded (optional; needs torch; not part of the tests):

  python3 scripts/make_random_sam_encoder.py vit_h /tmp/sam_vit_h_random.pth
  /usr/bin/time -v autosam inspect /tmp/sam_vit_h_random.pth      # peak RSS: "Maximum resident set size"
"""
import sys

import torch

PRESETS = {  # embed dim, depth, heads, global-attention blocks
    "vit_b": (768, 12, 12, (2, 5, 8, 11)),
    "vit_l": (1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": (1280, 32, 16, (7, 15, 23, 31)),
}


def main():
    preset, out = sys.argv[1], sys.argv[2]
    e, depth, heads, global_blocks = PRESETS[preset]
    g, window, hd, o = 64, 14, e // heads, 256
    sd = {}

    def put(name, *shape):
        sd["image_encoder." + name] = torch.randn(*shape) * 0.02

    put("pos_embed", 1, g, g, e)
    put("patch_embed.proj.weight", e, 3, 16, 16)
    put("patch_embed.proj.bias", e)
    for i in range(depth):
        p, s = f"blocks.{i}.", g if i in global_blocks else window
        for n in ("norm1", "norm2"):
            put(p + n + ".weight", e)
            put(p + n + ".bias", e)
        put(p + "attn.rel_pos_h", 2 * s - 1, hd)
        put(p + "attn.rel_pos_w", 2 * s - 1, hd)
        put(p + "attn.qkv.weight", 3 * e, e)
        put(p + "attn.qkv.bias", 3 * e)
        put(p + "attn.proj.weight", e, e)
        put(p + "attn.proj.bias", e)
        put(p + "mlp.lin1.weight", 4 * e, e)
        put(p + "mlp.lin1.bias", 4 * e)
        put(p + "mlp.lin2.weight", e, 4 * e)
        put(p + "mlp.lin2.bias", e)
    put("neck.0.weight", o, e, 1, 1)
    put("neck.1.weight", o)
    put("neck.1.bias", o)
    put("neck.2.weight", o, o, 3, 3)
    put("neck.3.weight", o)
    put("neck.3.bias", o)
    torch.save(sd, out)
    print(f"{out}: {sum(t.numel() for t in sd.values()) / 1e6:.1f} M parameters")


if __name__ == "__main__":
    main()
