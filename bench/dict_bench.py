#!/usr/bin/env python3
"""Benchmark: mote's online orthogonal dictionary learning vs scikit-learn's
MiniBatchDictionaryLearning.partial_fit, on the same machine.

  pip install numpy scipy scikit-learn
  cargo build --release -p mote-host
  python3 bench/dict_bench.py [--sizes 16 32 64] [--samples 10000] [--skip-ecg] [--json out.json]

Synthetic (SPEC §4.5 model, θ = 0.3, mini-batch 10): for each n, both learners see the same number
of samples (drawn from the same distribution; mote generates its own stream with its seeded
generator, sklearn gets a numpy stream). Reported: time per update (one mini-batch: mote `update`,
sklearn `partial_fit`) and the recovery error err(A) = | ||A D||_4^4 / n - 1 | after all samples,
with A = mote's dictionary, or sklearn's `components_` (unit-norm atoms, ≈ Dᵀ up to a signed
permutation, not orthogonal).

ECG (MIT-BIH 208, (v - 1024) / 200 mV): mote's stream settings (n = 32 windows every 8 samples over
the first 80 % of the record, mini-batches of 10, one pass), the same windows in the same order
for sklearn's partial_fit; top-k RMSE on the non-overlapping windows of the last 20 %: mote learned
(its own top-k), mote DCT, a numpy/scipy DCT cross-check, and sklearn with OMP (k non-zeros).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from scipy.fft import dct
from sklearn.decomposition import MiniBatchDictionaryLearning

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mote(args, mote_bin):
    out = subprocess.run([mote_bin, "dict", *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def ortho_err(a, d):
    p = a @ d
    return abs(np.sum(p**4) / a.shape[0] - 1.0)


def synthetic(n, samples, batch, theta, seed, alpha):
    rng = np.random.default_rng(seed)
    d, _ = np.linalg.qr(rng.standard_normal((n, n)))
    x = rng.standard_normal((samples, n)) * (rng.random((samples, n)) < theta)
    y = x @ d.T  # rows are samples y = D x
    model = MiniBatchDictionaryLearning(n_components=n, batch_size=batch, alpha=alpha, random_state=seed)
    t = 0.0
    calls = 0
    for i in range(0, samples - batch + 1, batch):
        t0 = time.perf_counter()
        model.partial_fit(y[i : i + batch])
        t += time.perf_counter() - t0
        calls += 1
    return t / calls * 1e6, ortho_err(model.components_, d)


def ecg_windows(n, hop):
    raw = np.fromfile(os.path.join(ROOT, "data/ecg/mitbih208_mlii_360hz.u16le"), dtype="<u2")
    mv = (raw.astype(np.float32) - 1024.0) / 200.0
    train_end = len(mv) // 5 * 4
    starts = range(0, train_end - n + 1, hop)
    train = np.stack([mv[s : s + n] for s in starts])
    test = mv[train_end:]
    test = test[: len(test) // n * n].reshape(-1, n)
    return train, test


def topk_rmse_orthogonal(basis_rows, test, k):
    code = test @ basis_rows.T
    idx = np.argsort(-np.abs(code), axis=1, kind="stable")[:, k:]
    np.put_along_axis(code, idx, 0.0, axis=1)
    rec = code @ basis_rows
    return float(np.sqrt(np.mean((test - rec) ** 2)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mote", default=os.path.join(ROOT, "target/release/mote"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--theta", type=float, default=0.3)
    ap.add_argument("--alpha", type=float, default=0.1, help="sklearn sparsity penalty")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ecg-n", type=int, default=32)
    ap.add_argument("--skip-ecg", action="store_true")
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    if not os.path.exists(a.mote):
        sys.exit(f"{a.mote} not found: run `cargo build --release -p mote-host` first")

    results = {"synthetic": [], "ecg": None}
    print(f"synthetic, θ = {a.theta}, mini-batch {a.batch}, {a.samples} samples per learner")
    print(f"{'n':>3} | {'mote µs/update':>14} | {'sklearn µs/partial_fit':>22} | {'speed-up':>8} | {'mote err':>9} | {'sklearn err':>11}")
    for n in a.sizes:
        iters = a.samples // a.batch
        r = mote(["--data", "synthetic", "--n", str(n), "--batch", str(a.batch), "--theta", str(a.theta),
                  "--iters", str(iters), "--trials", "1", "--gpm-samples", "0", "--seed", str(a.seed)], a.mote)
        m_us = r["noncvx_sfw"]["us_per_update"]
        m_err = r["noncvx_sfw"]["median_final_err"]
        s_us, s_err = synthetic(n, iters * a.batch, a.batch, a.theta, a.seed, a.alpha)
        results["synthetic"].append(dict(n=n, samples=iters * a.batch, mote_us_per_update=m_us, sklearn_us_per_update=s_us,
                                         speedup=s_us / m_us, mote_err=m_err, sklearn_err=s_err))
        print(f"{n:>3} | {m_us:>14.1f} | {s_us:>22.1f} | {s_us / m_us:>7.1f}× | {m_err:>9.2e} | {s_err:>11.2e}")

    if not a.skip_ecg:
        n = a.ecg_n
        r = mote(["--data", "ecg", "--n", str(n), "--batch", str(a.batch)], a.mote)
        cfg = r["config"]
        k = cfg["k"]
        train, test = ecg_windows(n, cfg["hop"])
        assert len(test) == r["test_windows"], (len(test), r["test_windows"])
        model = MiniBatchDictionaryLearning(n_components=n, batch_size=a.batch, alpha=a.alpha, random_state=a.seed,
                                            transform_algorithm="omp", transform_n_nonzero_coefs=k)
        t = 0.0
        calls = 0
        for i in range(0, len(train) - a.batch + 1, a.batch):
            t0 = time.perf_counter()
            model.partial_fit(train[i : i + a.batch])
            t += time.perf_counter() - t0
            calls += 1
        code = model.transform(test)
        sk_rmse = float(np.sqrt(np.mean((test - code @ model.components_) ** 2)))
        dct_rows = dct(np.eye(n), norm="ortho", axis=0)  # rows are DCT-II atoms
        np_dct = topk_rmse_orthogonal(dct_rows, test, k)
        results["ecg"] = dict(n=n, k=k, hop=cfg["hop"], updates=r["updates"], test_windows=len(test),
                              mote_learned_rmse=r["rmse_learned"], mote_dct_rmse=r["rmse_dct"], numpy_dct_rmse=np_dct,
                              sklearn_rmse=sk_rmse, mote_us_per_update=r["us_per_update"],
                              sklearn_us_per_partial_fit=t / calls * 1e6, sklearn_updates=calls)
        print(f"\nECG, n = {n}, top-{k}, {r['updates']} updates of {a.batch} windows, {len(test)} test windows (RMSE, mV)")
        print(f"  mote learned (online ODL)  {r['rmse_learned']:.4f}   ({r['us_per_update']:.1f} µs/update)")
        print(f"  mote DCT-II                {r['rmse_dct']:.4f}   (numpy/scipy DCT cross-check {np_dct:.4f})")
        print(f"  sklearn MiniBatchDL + OMP  {sk_rmse:.4f}   ({t / calls * 1e6:.1f} µs/partial_fit, alpha {a.alpha})")

    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
