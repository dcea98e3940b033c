#!/usr/bin/env python3
"""The README's performance table in one command: autosam and PyTorch, alternating, same machine.

Runs `scripts/bench_pytorch.py` and the matching `autosam bench` commands in turn for --rounds
rounds (PyTorch first, then autosam, then PyTorch again, ...), so a drift of a shared machine's speed
between minutes hits both columns alike, and prints per workload the fastest time of each side over
the rounds, the range, and the ratio of the fastest times. Standard library only; PyTorch is needed by
the interpreter given with --python (a CPU wheel; not part of the tests or the product).

  python3 scripts/side_by_side.py --python /path/to/venv/bin/python --rounds 2
  python3 scripts/side_by_side.py --only encoder,linear --threads 2

The autosam binary is the release build (`swift build -c release`). OMP_WAIT_POLICY=PASSIVE is set
for autosam unless already set, as launch.sh does.
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ["autosam", "cnn", "linear", "unet", "encoder"]
# PyTorch's output line per workload (bench_pytorch.py) and its unit.
TORCH_LINES = {
    "autosam": (r"^autosam head step \(B4 K4\)\s+([\d.]+) ms", 1e-3),
    "cnn": (r"^cnn k=4 t=64 head step\s+([\d.]+) ms", 1e-3),
    "linear": (r"^linear head step\s+([\d.]+) ms", 1e-3),
    "unet": (r"^UNet w=64 L=4 step \(B4\)\s+([\d.]+) ms", 1e-3),
    "encoder": (r"^ViT-B encoder, 1024\^2\s+([\d.]+) s/image", 1.0),
}
LABELS = {
    "autosam": "AutoSAM head step (B4, K4, labels 224)",
    "cnn": "CNN head step (k=4, t=64, B4)",
    "linear": "linear head step",
    "unet": "UNet step (w=64, 4 levels, B4, 224 px)",
    "encoder": "ViT-B encoder, 1024x1024, fp32",
}


def run(command, env=None):
    """Runs a command, returns its standard output; exits with its message if it fails."""
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"side_by_side: {' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def torch_times(args, only):
    out = run([args.python, os.path.join(HERE, "bench_pytorch.py"), "--threads", str(args.threads),
               "--only", ",".join(only)])
    times = {}
    for name in only:
        pattern, unit = TORCH_LINES[name]
        match = re.search(pattern, out, re.MULTILINE)
        if not match:
            sys.exit(f"side_by_side: no '{name}' line in bench_pytorch.py's output:\n{out}")
        times[name] = float(match.group(1)) * unit
    return times


def last_number(line, from_right):
    """The from_right-th whitespace-separated field of a table row, counted from the right (1: last)."""
    return float(line.split()[-from_right])


def autosam_times(args, only):
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    binary, threads, times = args.autosam, str(args.threads), {}
    heads = [name for name in only if name in ("autosam", "cnn", "linear")]
    if heads:
        out = run([binary, "bench", "heads", "--heads", ",".join(heads), "--steps", "3", "--threads", threads], env)
        for name in heads:
            # A row: name, params, logits, fwd, loss, bwd, adam, step ms, GFLOP/s, peak RSS MB.
            rows = [l for l in out.splitlines() if re.match(rf"^{name}\b.*\d+x\d+x\d+", l)]
            if not rows:
                sys.exit(f"side_by_side: no '{name}' row in autosam bench heads' output:\n{out}")
            times[name] = last_number(rows[0], 3) * 1e-3
    if "unet" in only:
        out = run([binary, "bench", "baselines", "--steps", "2", "--threads", threads], env)
        rows = [l for l in out.splitlines() if l.startswith("unet ")]
        if not rows:
            sys.exit(f"side_by_side: no UNet row in autosam bench baselines' output:\n{out}")
        times["unet"] = last_number(rows[0], 3) * 1e-3
    if "encoder" in only:
        out = run([binary, "bench", "encoder", "--threads", threads, "--repeats", "2", "--precision", "fp32"], env)
        match = re.search(r"fastest ([\d.]+)\)", out)
        if not match:
            sys.exit(f"side_by_side: no timing line in autosam bench encoder's output:\n{out}")
        times["encoder"] = float(match.group(1))
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default=sys.executable, help="an interpreter with torch (default: this one)")
    ap.add_argument("--autosam", default=os.path.join(HERE, "..", ".build", "release", "autosam"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", default=",".join(WORKLOADS))
    args = ap.parse_args()
    only = [name for name in args.only.split(",") if name]
    unknown = [name for name in only if name not in WORKLOADS]
    if unknown or args.rounds < 1:
        sys.exit(f"side_by_side: unknown workload(s) {unknown} (known: {WORKLOADS}) or --rounds < 1")
    if not os.access(args.autosam, os.X_OK):
        sys.exit(f"side_by_side: no autosam binary at {args.autosam} (swift build -c release)")
    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "unknown CPU")
    info = run([args.autosam, "info"]).splitlines()
    kernels = [" ".join(l.split()) for l in info if l.startswith(("OpenBLAS core", "encoder attention"))]
    print(f"CPU: {model}; " + "; ".join(kernels))
    ours, theirs = {n: [] for n in only}, {n: [] for n in only}
    for r in range(args.rounds):
        for name, t in torch_times(args, only).items():
            theirs[name].append(t)
        for name, t in autosam_times(args, only).items():
            ours[name].append(t)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{n} {ours[n][-1]:.3f} s vs {theirs[n][-1]:.3f} s" for n in only), flush=True)
    print(f"\n{args.threads} thread(s), {args.rounds} round(s) alternating; fastest (range), seconds\n")
    print("| what | autosam | PyTorch fp32 | ratio |")
    print("| --- | --- | --- | --- |")
    for name in only:
        a, b = ours[name], theirs[name]
        print(f"| {LABELS[name]} | {min(a):.3f} ({min(a):.3f}-{max(a):.3f}) | {min(b):.3f} ({min(b):.3f}-{max(b):.3f}) "
              f"| {min(b) / min(a):.2f}x |")


if __name__ == "__main__":
    main()
