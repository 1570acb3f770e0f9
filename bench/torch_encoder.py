#!/usr/bin/python3
"""PyTorch counterpart of bench/bench_encoder.c (run with /usr/bin/python3).

    torch_encoder.py --threads T [--cases a,b] [--reps N]

Prints one JSON object per case and line:
    {"case":..., "threads":T, "torch_ms":x, "torch_extra_mib":y,
     "torch_peak_mib":z, "torch_intra_threads":k}
torch_ms is the median of N steps after two warm-up steps, with OpenBLAS
(PyTorch's CPU BLAS in this build) at T threads and the fastest intra-op
thread count k in 1..T ("PyTorch at its fastest setting for the same cores"). torch_extra_mib is the growth of the process's peak RSS during the
case (model, optimizer state, autograd buffers, allocator caches);
torch_peak_mib is the process's peak RSS (interpreter and libraries included).

mlp_simclr_step: the same step as the C program: MLP 784-512-512-128 with
BatchNorm1d + ReLU, L2-normalised output, the two views of a batch of 256 as
one batch of 512, backward from dL/dz = z - target (a fixed unit-norm
target), SGD with momentum 0.9 and weight decay 1e-6.
cnn_step: conv32-BN-ReLU, conv64/2-BN-ReLU, global pool, linear 128 on 1x28x28,
batch 256, backward from (y - target)/256, SGD step. gru_step: GRU 64 -> 128
over 32 steps, batch 64, forward + backward from a fixed dL/dh for all steps.
demo_cnn_step: the main demo's default step, as bench_encoder.c's: conv32 5x5/2
and conv64 3x3/2 (no bias) with BN + ReLU, flatten, linear 512 + BN + ReLU,
linear 128, L2 norm; 2 x 256 views as one batch; NT-Xent (tau 0.1) written as
SimCLR's reference code writes it (the 2N x 2N similarity matrix, the diagonal
masked, cross-entropy); AdamW (lr 2e-3, weight decay 1e-5).
"""
import argparse
import json
import os
import resource
import statistics
import time


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cases", default="")
    ap.add_argument("--reps", type=int, default=11)
    return ap.parse_args()


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    # PyTorch's CPU BLAS here is OpenBLAS, whose own thread pool ignores
    # torch.set_num_threads: give it the same T cores before torch loads.
    os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


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


def cnn_step(reps):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 128)).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = torch.randn(256, 1, 28, 28)
    target = torch.randn(256, 128)

    def step():
        opt.zero_grad(set_to_none=False)
        y = model(x)
        y.backward((y.detach() - target) / 256)
        opt.step()

    return time_steps(step, reps)


def gru_step(reps):
    torch.manual_seed(0)
    gru = nn.GRU(64, 128, batch_first=True)
    x = torch.randn(64, 32, 64)
    dy = 0.1 * torch.randn(64, 32, 128)

    def step():
        gru.zero_grad(set_to_none=False)
        y, _ = gru(x)
        y.backward(dy)

    return time_steps(step, reps)


def ntxent(z, tau):
    n = z.shape[0] // 2
    sim = z @ z.t() / tau
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def demo_cnn_step(reps):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Flatten(), nn.Linear(3136, 512), nn.BatchNorm1d(512), nn.ReLU(),
        nn.Linear(512, 128)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-5)
    x = torch.randn(512, 1, 28, 28)

    def step():
        opt.zero_grad(set_to_none=False)
        loss = ntxent(F.normalize(model(x), dim=1), 0.1)
        loss.backward()
        opt.step()

    return time_steps(step, reps)


CASES = {"mlp_simclr_step": mlp_simclr_step, "cnn_step": cnn_step, "gru_step": gru_step,
         "demo_cnn_step": demo_cnn_step}


def main():
    args = ARGS
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
