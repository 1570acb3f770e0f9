#!/usr/bin/python3
"""PyTorch counterpart of bench/bench_encoder.c (run with /usr/bin/python3).

    torch_encoder.py --threads T [--cases a,b] [--reps N]

Prints one JSON object per case and line:
    {"case":..., "threads":T, "torch_ms":x, "torch_extra_mib":y,
     "torch_peak_mib":z, "torch_intra_threads":k}
torch_ms is the median of N steps after two warm-up steps, at the fastest
intra-op thread count k in 1..T ("PyTorch at its fastest setting for the same
cores"). torch_extra_mib is the growth of the process's peak RSS during the
case (model, optimizer state, autograd buffers, allocator caches);
torch_peak_mib is the process's peak RSS (interpreter and libraries included).

mlp_simclr_step: the same step as the C program: MLP 784-512-512-128 with
BatchNorm1d + ReLU, L2-normalised output, the two views of a batch of 256 as
one batch of 512, backward from dL/dz = z - target (a fixed unit-norm
target), SGD with momentum 0.9 and weight decay 1e-6.
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(784, 512), nn.BatchNorm1d(512), nn.ReLU(),
            nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(),
            nn.Linear(512, 128))

    def forward(self, x):
        return F.normalize(self.net(x), dim=1)


def mlp_simclr_step(reps):
    torch.manual_seed(0)
    model = MLP().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-6)
    x = torch.randn(512, 784)
    target = F.normalize(torch.randn(512, 128), dim=1)

    def step():
        opt.zero_grad(set_to_none=False)
        z = model(x)
        z.backward(z.detach() - target)
        opt.step()

    return time_steps(step, reps)


def time_steps(step, reps):
    step()
    step()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


CASES = {"mlp_simclr_step": mlp_simclr_step}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cases", default="")
    ap.add_argument("--reps", type=int, default=11)
    args = ap.parse_args()
    wanted = [c for c in args.cases.split(",") if c] or list(CASES)
    for name in wanted:
        if name not in CASES:
            continue
        before = peak_rss_mib()
        best = None
        for k in range(1, args.threads + 1):
            torch.set_num_threads(k)
            ms = CASES[name](args.reps)
            if best is None or ms < best[0]:
                best = (ms, k)
        print(json.dumps({"case": name, "threads": args.threads,
                          "torch_ms": round(best[0], 3),
                          "torch_extra_mib": round(peak_rss_mib() - before, 3),
                          "torch_peak_mib": round(peak_rss_mib(), 3),
                          "torch_intra_threads": best[1]}), flush=True)


if __name__ == "__main__":
    main()
