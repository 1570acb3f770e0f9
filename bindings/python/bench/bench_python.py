#!/usr/bin/env python3
"""bench_python.py - what the Python layer costs (docs/performance.md).

1. Call overhead at a small shape (NT-Xent, B = 8 pairs, d = 16, loss and
   both gradients), all in one process, interleaved: the time per
   Objective.ntxent call minus the time of the same C call made through
   ctypes with every argument prepared beforehand, plus the cost of the
   ctypes dispatch itself (the same 11-argument call on a NULL handle,
   which returns at once). That is the time the Python layer adds above
   the C function.
2. The torch adapter against PyTorch's own NT-Xent at B = 2 x 1024 views,
   d = 128, tau = 0.5: forward + backward of each, interleaved in one run,
   median over repetitions; also the adapter's small-shape overhead.

Wall-clock figures on a shared machine: compare the ratios of one run.
  CONTRASTIVE_LIBRARY=lib/libcontrastive.so.0 python3 bindings/python/bench/bench_python.py
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
    rounds = {"raw": [], "null": [], "py": [], "py_out": []}
    for _ in range(7):
        rounds["raw"].append(per_call(lambda: raw(*args), reps, 1))
        rounds["null"].append(per_call(lambda: raw(*null), reps, 1))
        rounds["py"].append(per_call(lambda: obj.ntxent(z1, z2), reps, 1))
        rounds["py_out"].append(per_call(lambda: obj.ntxent(z1, z2, out=(o1, o2)), reps, 1))
    t = {k: min(v) for k, v in rounds.items()}
    t_c = t["raw"] - t["null"]
    print("small NT-Xent (B=8 pairs, d=16), min of 7 interleaved rounds of %d calls:" % reps)
    print("  C call %.2f us (ctypes call %.2f us - dispatch %.2f us)"
          % (t_c * 1e6, t["raw"] * 1e6, t["null"] * 1e6))
    print("  Objective.ntxent %.2f us: overhead %.2f us; with out= %.2f us: overhead %.2f us"
          % (t["py"] * 1e6, (t["py"] - t_c) * 1e6, t["py_out"] * 1e6,
             (t["py_out"] - t_c) * 1e6))
    try:
        import torch
        import torch.nn.functional as F
        import contrastive.torch as ct
    except ImportError:
        print("torch not installed: adapter figures skipped")
        return
    print("torch %s, intra-op threads %d" % (torch.__version__, torch.get_num_threads()))
    a1, a2 = torch.from_numpy(z1).requires_grad_(), torch.from_numpy(z2).requires_grad_()
    loss_fn = ct.NTXentLoss(temperature=0.5)

    def small():
        a1.grad = a2.grad = None
        loss_fn(a1, a2).backward()
    t_ad = per_call(small, reps // 10)
    print("small NT-Xent through the adapter, forward + backward: %.2f us" % (t_ad * 1e6))

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
    t_t, t_o = [], []
    for _ in range(15):
        t_t.append(per_call(theirs, 1, 1))
        t_o.append(per_call(ours, 1, 1))
    mt, mo = statistics.median(t_t), statistics.median(t_o)
    print("NT-Xent B=2x1024, d=128, forward+backward: PyTorch %.2f ms, adapter %.2f ms, "
          "ratio %.2fx" % (mt * 1e3, mo * 1e3, mt / mo))
    print("process CPU time %.1f s" % (time.process_time() - cpu0))


if __name__ == "__main__":
    main()
