#!/usr/bin/python3
"""PyTorch counterpart of bench/bench_resnet.c (run with /usr/bin/python3).

    torch_resnet.py --threads T [--cases a,b] [--reps N]

Prints one JSON object per case and line:
    {"case":..., "threads":T, "torch_ms":x, "torch_extra_mib":y,
     "torch_peak_mib":z, "torch_intra_threads":k}
as bench/torch_encoder.py (median of N steps after two warm-up steps, the
fastest intra-op thread count k in 1..T, OpenBLAS at T threads).

The network is bench_resnet.c's: the CIFAR ResNet-18 (3x3 stem, no
max-pool, basic blocks 64, 128/2, 256/2, 512/2 with 1x1 conv + BN
projection shortcuts), global average pool, head Linear(512, 512) +
BatchNorm1d + ReLU + Linear(512, 128).
resnet18_cifar_step: SimCLR step on 64 images x 2 views as one batch of
128: NT-Xent (tau 0.5, normalised rows, cross-entropy over the 2B - 1
others), backward, SGD (momentum 0.9, weight decay 5e-4).
resnet18_key_forward: MoCo's key encoder, a train-mode forward of the 128
images under torch.no_grad().
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
    ap.add_argument("--reps", type=int, default=7)
    return ap.parse_args()


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.down is None else self.down(x)))


def resnet18_simclr():
    layers = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for stage in range(4):
        for b in range(2):
            cout = 64 << stage
            layers.append(Block(cin, cout, 2 if stage > 0 and b == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 512),
               nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 128)]
    return nn.Sequential(*layers)


def ntxent(z, tau=0.5):
    z = F.normalize(z, dim=1)
    n = z.shape[0]
    s = z @ z.t() / tau
    s = s.masked_fill(torch.eye(n, dtype=torch.bool), float("-inf"))
    target = (torch.arange(n) + n // 2) % n
    return F.cross_entropy(s, target)


CPU_MS = {}


def time_steps(step, reps):
    """Median wall time of a step; its median CPU time (the process's,
    all threads) goes to CPU_MS["last"]."""
    step()
    step()
    times, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    CPU_MS["last"] = statistics.median(cpu)
    return statistics.median(times)


def resnet18_cifar_step(reps):
    torch.manual_seed(0)
    model = resnet18_simclr().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(128, 3, 32, 32)

    def step():
        opt.zero_grad(set_to_none=False)
        ntxent(model(x)).backward()
        opt.step()

    return time_steps(step, reps)


def resnet18_key_forward(reps):
    torch.manual_seed(0)
    model = resnet18_simclr().train()
    x = torch.randn(128, 3, 32, 32)

    def step():
        with torch.no_grad():
            model(x)

    return time_steps(step, reps)


CASES = {"resnet18_cifar_step": resnet18_cifar_step,
         "resnet18_key_forward": resnet18_key_forward}


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
                best = (ms, k, CPU_MS["last"])
        print(json.dumps({"case": name, "threads": args.threads,
                          "torch_ms": round(best[0], 3),
                          "torch_cpu_ms": round(best[2], 3),
                          "torch_extra_mib": round(peak_rss_mib() - before, 3),
                          "torch_peak_mib": round(peak_rss_mib(), 3),
                          "torch_intra_threads": best[1]}), flush=True)


if __name__ == "__main__":
    main()
