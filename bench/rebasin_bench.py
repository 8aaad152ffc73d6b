#!/usr/bin/env python3
"""Weight matching (SPEC §2.3) timing: mote vs a numpy/scipy implementation on the same pair.

Usage (from the repository root, after building mote in release mode):

    cargo build --release -p mote-host
    pip install numpy scipy
    python3 bench/rebasin_bench.py A.safetensors B.safetensors [--mote target/release/mote] [--repeat 3]

Both sides run the same algorithm: identity start, a fresh random order of the hidden
permutations every sweep, an exact LAP per update (scipy.optimize.linear_sum_assignment on the
numpy side), always accept, stop after a sweep with no gain > 1e-12 or after 100 sweeps.
The numpy side computes the score matrices in float32, as the reference implementations do.
By default the numpy side takes its sweep orders from mote's JSON log (same orders, so the
same coordinate-descent path and comparable objectives); `--own-orders` draws them from numpy's
generator instead (a different local optimum, usually within 0.1% of the objective).
Reported: best-of-N wall time of the matching itself (model loading excluded on both sides:
mote's `seconds` field of `mote match --json`; the N runs of the two sides alternate), the
median and lowest speed-up of the N back-to-back pairs, sweeps, and the final objective
sum_l <W_l^A, pi(W_l^B)> + <b_l^A, pi(b_l^B)>, recomputed in float64 for both answers.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.optimize import linear_sum_assignment


# Seconds of rest before each timed run (see main).
PAUSE_S = 0.5


def load_mlp(path):
    """Reads an MLP safetensors file (f32/f16/bf16) into [(W, b)], layers ordered by index."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        buf = body[a:b]
        if info["dtype"] == "F32":
            x = np.frombuffer(buf, dtype="<f4")
        elif info["dtype"] == "F16":
            x = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif info["dtype"] == "BF16":
            x = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            sys.exit(f"{path}: tensor {name}: unsupported dtype {info['dtype']}")
        tensors[name] = x.reshape(info["shape"]).astype(np.float32)
    idx = sorted({int(k.split(".")[-2]) for k in tensors})
    prefix = "layers." if any(k.startswith("layers.") for k in tensors) else ""
    return [(tensors[f"{prefix}{i}.weight"], tensors[f"{prefix}{i}.bias"]) for i in idx]


def objective(A, B, perms):
    """sum <W^A, pi(W^B)> + <b^A, pi(b^B)> in float64."""
    total = 0.0
    h = len(perms)
    for l, ((wa, ba), (wb, bb)) in enumerate(zip(A, B)):
        w = wb
        if l < h:
            w = w[perms[l], :]
            bb = bb[perms[l]]
        if l > 0:
            w = w[:, perms[l - 1]]
        total += float(np.sum(wa.astype(np.float64) * w)) + float(np.sum(ba.astype(np.float64) * bb))
    return total


def weight_matching(A, B, seed=0, max_iter=100, orders=None):
    """SPEC §2.3, 'Algorithm 1'. perms[i][r] = c: unit r of aligned B is unit c of B.

    orders: optional list of sweep orders to follow (then the generator for later sweeps)."""
    rng = np.random.default_rng(seed)
    h = len(A) - 1
    perms = [np.arange(A[i][0].shape[0]) for i in range(h)]
    sweeps = 0
    for s in range(max_iter):
        sweeps += 1
        progress = False
        order = orders[s] if orders is not None and s < len(orders) else rng.permutation(h)
        for i in order:
            wa, ba = A[i]
            wb, bb = B[i]
            if i > 0:
                wb = wb[:, perms[i - 1]]
            c = wa @ wb.T + np.outer(ba, bb)
            wa2, _ = A[i + 1]
            wb2, _ = B[i + 1]
            if i + 1 < h:
                wb2 = wb2[perms[i + 1], :]
            c += wa2.T @ wb2
            _, new = linear_sum_assignment(c, maximize=True)
            old = perms[i]
            n = len(new)
            gain = float(c[np.arange(n), new].astype(np.float64).sum() - c[np.arange(n), old].astype(np.float64).sum())
            if gain > 1e-12:
                progress = True
            perms[i] = new
        if not progress:
            break
    return perms, sweeps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--mote", default="target/release/mote")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--own-orders", action="store_true",
                    help="numpy draws its own sweep orders instead of following mote's")
    args = ap.parse_args()

    A, B = load_mlp(args.a), load_mlp(args.b)
    widths = [A[0][0].shape[1]] + [w.shape[0] for w, _ in A]
    identity = objective(A, B, [np.arange(w.shape[0]) for w, _ in A[:-1]])

    # The two sides alternate (mote, numpy, mote, numpy, ...): on a shared or virtual machine the
    # speed drifts for minutes at a time, and back-to-back pairs see the same drift. A pause
    # before each run lets the other side's threads go idle (OpenBLAS workers keep spinning for
    # a while after a call returns, which would take a core from the next run).
    mote_times, mote_walls, py_times = [], [], []
    orders = None
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "b_aligned.safetensors")
        for r in range(args.repeat):
            time.sleep(PAUSE_S)
            t = time.perf_counter()
            run = subprocess.run([args.mote, "match", args.a, args.b, "-o", out, "--seed", str(args.seed), "--json"],
                                 check=True, capture_output=True, text=True)
            mote_walls.append(time.perf_counter() - t)
            rep = json.loads(run.stdout)
            mote_times.append(rep["seconds"])
            if r == 0:
                aligned = load_mlp(out)
                orders = None if args.own_orders else [s["order"] for s in rep["sweeps"]]
            time.sleep(PAUSE_S)
            t = time.perf_counter()
            perms, py_sweeps = weight_matching(A, B, seed=args.seed, orders=orders)
            py_times.append(time.perf_counter() - t)
    # The aligned file is pi(B); its plain inner product with A is mote's objective.
    mote_obj = objective(A, aligned, [np.arange(w.shape[0]) for w, _ in A[:-1]])
    mote_sweeps = len(rep["sweeps"])
    py_obj = objective(A, B, perms)
    paired = sorted(p / m for p, m in zip(py_times, mote_times))

    print(f"pair: {args.a} vs {args.b}, widths {widths}; identity objective {identity:.6f}")
    print(f"numpy {np.__version__}, threads: default BLAS; best of {args.repeat}, the sides alternating; "
          f"sweep orders: {'numpy generator' if args.own_orders else 'mote log'}")
    print()
    print("| implementation | matching time (s) | sweeps | final objective |")
    print("|---|---|---|---|")
    print(f"| numpy/scipy (SPEC §2.3) | {min(py_times):.3f} | {py_sweeps} | {py_obj:.6f} |")
    print(f"| mote match | {min(mote_times):.3f} (process wall {min(mote_walls):.3f}) | {mote_sweeps} | {mote_obj:.6f} |")
    print()
    print(f"speed-up (matching time): {min(py_times) / min(mote_times):.1f}x best vs best; "
          f"back-to-back pairs: median {paired[len(paired) // 2]:.1f}x, lowest {paired[0]:.1f}x; "
          f"objective difference mote - numpy: {mote_obj - py_obj:+.6f}")


if __name__ == "__main__":
    main()
