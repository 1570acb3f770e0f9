#!/usr/bin/python3
"""PyTorch counterpart of bench_cpc.c: the CPC critic's forward + backward
(gradients to z, c and every W_k) at the same shapes, written the way the
reference CPC repositories write it: one bias-free nn.Linear W_k per step
applied to the contexts, a matmul of the predictions with the candidate
latents, log_softmax over the candidates (dim=-1) and the positive's entry,
averaged over positions then steps; here over every valid t at once.

  torch_cpc.py --threads T [--cases a,b] [--reps N] [--intra I]

Prints one JSON line per case: {"case", "threads", "torch_ms",
"torch_extra_mib"}; each case in its own process (peak RSS above the size
once the inputs exist). T is OpenBLAS's thread count, I PyTorch's intra-op
count (1 by default, its fastest setting on the 2-core machine of
docs/performance.md).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

CASES = {
    "cpc_b32_t128": dict(b=32, t=128, c=256, d=512, k=12),
}


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def make_step(torch, F, cs):
    g = torch.Generator().manual_seed(1)
    b, t, c, d, k = cs["b"], cs["t"], cs["c"], cs["d"], cs["k"]
    z = (0.05 * torch.randn(b, t, d, generator=g)).requires_grad_()
    ctx = (0.5 * torch.randn(b, t, c, generator=g)).requires_grad_()
    wk = torch.nn.ModuleList([torch.nn.Linear(c, d, bias=False) for _ in range(k)])

    def step():
        z.grad = ctx.grad = None
        for lin in wk:
            lin.weight.grad = None
        loss = 0.0
        for s in range(1, k + 1):
            pred = wk[s - 1](ctx[:, : t - s])                        # B, T-s, D
            logits = torch.einsum("btd,ctd->tbc", pred, z[:, s:])    # T-s, B, B
            lsm = F.log_softmax(logits, dim=-1)
            loss = loss - lsm.diagonal(dim1=-2, dim2=-1).mean()
        (loss / k).backward()
    return step


def run_one(name, threads, reps, intra):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(intra)
    step = make_step(torch, F, CASES[name])
    base = rss_mib()
    step()
    step()
    times = []
    while len(times) < 4000 and (len(times) < reps or sum(times) < 500.0):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    n = len(times)
    med = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"case": name, "threads": threads, "torch_ms": round(med, 3),
                      "torch_extra_mib": round(max(peak - base, 0.0), 3)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cases", default="")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--intra", type=int, default=1)
    ap.add_argument("--one", default="")
    args = ap.parse_args()
    if args.one:
        run_one(args.one, args.threads, args.reps, args.intra)
        return
    wanted = [c for c in args.cases.split(",") if c] or list(CASES)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads),
               OMP_NUM_THREADS=str(args.intra))
    for name in wanted:
        if name not in CASES:
            continue
        out = subprocess.run([sys.executable, __file__, "--one", name,
                              "--threads", str(args.threads), "--reps", str(args.reps),
                              "--intra", str(args.intra)],
                             env=env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            continue
        sys.stdout.write(out.stdout)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
