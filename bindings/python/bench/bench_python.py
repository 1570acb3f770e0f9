#!/usr/bin/env python3
"""bench_python.py - what the Python layer costs (docs/performance.md).

1. Call overhead at a small shape (NT-Xent, B = 8 pairs, d = 16, loss and
   both gradients), in one process: the median over back-to-back pairs of
   (Objective.ntxent) - (the same C call through ctypes with every argument
   prepared beforehand), plus the ctypes dispatch itself (the median of the
   same 11-argument call on a NULL handle, which returns at once). That is
   the time the Python layer adds above the C function.
2. The torch adapter against PyTorch's own NT-Xent at B = 2 x 1024 views,
   d = 128, tau = 0.5: forward + backward of each, interleaved in one run,
   median over repetitions; also the adapter's small-shape overhead.

Each thread count (--threads 1,2) runs in a child process with
OPENBLAS_NUM_THREADS set for it and PyTorch's intra-op threads equal.
Wall-clock figures on a shared machine: compare the ratios of one run.
  make bench-python      (or python3 bindings/python/bench/bench_python.py)
"""
import os
import ctypes
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(HERE, ".."))
os.environ.setdefault("CONTRASTIVE_LIBRARY", os.path.join(TOP, "lib", "libcontrastive.so.0"))

import numpy as np  # noqa: E402

import contrastive as ctr  # noqa: E402

def median_solo(f, n):
    pc, d = time.perf_counter, []
    for _ in range(n):
        t0 = pc()
        f()
        d.append(pc() - t0)
    return statistics.median(d)


def median_paired(base, f, n):
    """Median over n pairs of (time of f) - (time of base), the two calls
    back to back, so that load affects both alike."""
    pc, d = time.perf_counter, []
    for _ in range(n):
        t0 = pc()
        base()
        t1 = pc()
        f()
        t2 = pc()
        d.append((t2 - t1) - (t1 - t0))
    return statistics.median(d)


def per_call(fn, reps, rounds=5):
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        out.append((time.perf_counter() - t0) / reps)
    return min(out)


def main():
    cpu0 = time.process_time()
    print("build:", ctr.build_info())
    reps = 20000
    with ctr.Rng(1) as r:
        z1 = r.normal(8 * 16).reshape(8, 16)
        z2 = r.normal(8 * 16).reshape(8, 16)
    obj = ctr.Objective(ctr.ObjectiveKind.NTXENT)
    o1, o2 = np.empty_like(z1), np.empty_like(z2)
    raw = ctr.lib.ctr_objective_ntxent
    h, loss = obj.handle, ctypes.c_double()
    args = (h, ctypes.byref(loss), z1.ctypes.data, 16, z2.ctypes.data, 16, 8, 16, None,
            o1.ctypes.data, o2.ctypes.data)
    null = (None, None, None, 16, None, 16, 8, 16, None, None, None)
    t_null = median_solo(lambda: raw(*null), reps)
    t_raw = median_solo(lambda: raw(*args), reps)
    d_py = median_paired(lambda: raw(*args), lambda: obj.ntxent(z1, z2), reps)
    d_out = median_paired(lambda: raw(*args), lambda: obj.ntxent(z1, z2, out=(o1, o2)), reps)
    print("small NT-Xent (B=8 pairs, d=16), medians over %d calls:" % reps)
    print("  C call through ctypes %.2f us, of which ctypes dispatch %.2f us"
          % (t_raw * 1e6, t_null * 1e6))
    print("  Python overhead above the C call: Objective.ntxent %.2f us, with out= %.2f us"
          % ((d_py + t_null) * 1e6, (d_out + t_null) * 1e6))
    try:
        import torch
        import torch.nn.functional as F
        import contrastive.torch as ct
    except ImportError:
        print("torch not installed: adapter figures skipped")
        return
    # the same thread count on both sides: PyTorch's intra-op threads set to
    # the library's BLAS threads (build_info), as bench/torch_harness.py does
    import re
    m = re.search(r"blas_threads=(\d+)", ctr.build_info())
    threads = int(m.group(1)) if m else 1
    torch.set_num_threads(threads)
    print("torch %s, intra-op threads %d = library BLAS threads %d"
          % (torch.__version__, torch.get_num_threads(), threads))
    a1, a2 = torch.from_numpy(z1).requires_grad_(), torch.from_numpy(z2).requires_grad_()
    loss_fn = ct.NTXentLoss(temperature=0.5)

    def small():
        a1.grad = a2.grad = None
        loss_fn(a1, a2).backward()
    mask8 = torch.eye(16, dtype=torch.bool)
    lab8 = torch.cat([torch.arange(8) + 8, torch.arange(8)])

    def small_theirs():
        a1.grad = a2.grad = None
        z = F.normalize(torch.cat([a1, a2]), dim=1)
        F.cross_entropy((z @ z.t() / 0.5).masked_fill(mask8, float("-inf")), lab8).backward()
    t_ad = median_solo(small, reps // 10)
    t_pt = median_solo(small_theirs, reps // 10)
    print("small NT-Xent forward + backward (medians): adapter %.2f us, PyTorch %.2f us"
          % (t_ad * 1e6, t_pt * 1e6))

    b, d, tau = 1024, 128, 0.5
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(b, d, generator=g).requires_grad_()
    z2 = torch.randn(b, d, generator=g).requires_grad_()
    mask = torch.eye(2 * b, dtype=torch.bool)
    labels = torch.cat([torch.arange(b) + b, torch.arange(b)])

    def theirs():
        z1.grad = z2.grad = None
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        sim = (z @ z.t() / tau).masked_fill(mask, float("-inf"))
        F.cross_entropy(sim, labels).backward()

    def ours():
        z1.grad = z2.grad = None
        loss_fn(z1, z2).backward()
    for f in (theirs, ours):
        f()
    t_t, t_o, c_t, c_o = [], [], 0.0, 0.0
    for _ in range(15):
        c0 = time.process_time()
        t_t.append(per_call(theirs, 1, 1))
        c1 = time.process_time()
        t_o.append(per_call(ours, 1, 1))
        c_t, c_o = c_t + c1 - c0, c_o + time.process_time() - c1
    mt, mo = statistics.median(t_t), statistics.median(t_o)
    print("NT-Xent B=2x1024, d=128, forward+backward, median of 15 interleaved: "
          "PyTorch %.2f ms, adapter %.2f ms, ratio %.2fx; CPU time per call "
          "%.2f / %.2f ms, ratio %.2fx" % (mt * 1e3, mo * 1e3, mt / mo, c_t / 15 * 1e3,
                                           c_o / 15 * 1e3, c_t / c_o))
    print("process CPU time %.1f s" % (time.process_time() - cpu0))


def run_per_thread_count():
    """Each thread count in a child process whose BLAS threads are set at
    start (OPENBLAS_NUM_THREADS, as bench/torch_harness.py runs its torch
    processes); PyTorch's intra-op threads are set to the same count."""
    import argparse
    import subprocess
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    counts = ap.parse_args().threads.split(",")
    for t in counts:
        print("=== %s thread(s)" % t, flush=True)
        env = dict(os.environ, OPENBLAS_NUM_THREADS=t, CTR_BENCH_CHILD="1")
        subprocess.run([sys.executable, os.path.abspath(__file__)], env=env, check=True)


if __name__ == "__main__":
    if os.environ.get("CTR_BENCH_CHILD"):
        main()
    else:
        run_per_thread_count()
