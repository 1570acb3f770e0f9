#!/usr/bin/python3
"""Golden training trajectory for tests/check_trajectory.c.

Run with /usr/bin/python3 (torch 1.13):  /usr/bin/python3 tests/gen_trajectory.py
Writes tests/data/trajectory_golden.txt, one array per line: "name count v0 v1 ...".

SimCLR on a small CNN, 30 steps, as the demo trains it: the two views of B
samples in one batch of 2B (BatchNorm statistics over both views), NT-Xent
tau 0.1, AdamW (lr 1e-2, weight decay 1e-3 on every tensor) under the
library's cosine schedule with warm-up. The network, in libcontrastive's
layer order (= PyTorch's parameter order):

  conv 3x3/2 pad 1 (1 -> 6), BN2d, ReLU,
  conv 3x3/2 pad 1 (6 -> 8), BN2d, ReLU, flatten (8x3x3 = 72),
  linear 72 -> 32, BN1d, ReLU, linear 32 -> 16 (bias), L2-normalise.

No bias before a batch norm: its true gradient is zero, and Adam scales the
rounding noise that stands in for it up to full-size steps, so no two
implementations (nor PyTorch in float32 and float64) agree on it.

The inputs are not stored: both sides compute them from an integer hash
(murmur3's finaliser), so they are the same floats bit for bit. The
reference trajectory runs in float64; the same run in float32 shows how far
float rounding alone carries a trajectory (f32_param_dev, f32_loss_dev), which
is what the test's tolerances are scaled by.
"""
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

B, SIDE, STEPS, WARMUP = 12, 12, 30, 3
LR, WD, TAU = 1e-2, 1e-3, 0.1
NOISE = 1.5  # view = base image + NOISE * (u - 0.5)


def fmix32(h):
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h


def uniform(stream, n):
    """n floats in [0, 1): (fmix32(stream * 0x9E3779B1 + i) >> 8) / 2^24, exact in float32."""
    base = (stream * 0x9E3779B1) & 0xFFFFFFFF
    return np.array([(fmix32((base + i) & 0xFFFFFFFF) >> 8) / 16777216.0 for i in range(n)],
                    dtype=np.float32)


def batch_views(step):
    """2B x 1 x SIDE x SIDE, float32: view v of sample i at row v*B + i."""
    px = SIDE * SIDE
    base = uniform(1, B * px)
    out = np.empty((2 * B, px), dtype=np.float32)
    for v in range(2):
        u = uniform(1000 + 2 * step + v, B * px)
        out[v * B:(v + 1) * B] = (base + np.float32(NOISE) * (u - np.float32(0.5))).reshape(B, px)
    return out.reshape(2 * B, 1, SIDE, SIDE)


def cosine_lr(step):
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    t = (step - WARMUP) / (STEPS - WARMUP)
    return LR * 0.5 * (1.0 + math.cos(math.pi * t))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 3, 2, 1, bias=False)
        self.b1 = nn.BatchNorm2d(6)
        self.c2 = nn.Conv2d(6, 8, 3, 2, 1, bias=False)
        self.b2 = nn.BatchNorm2d(8)
        self.l1 = nn.Linear(72, 32, bias=False)
        self.b3 = nn.BatchNorm1d(32)
        self.l2 = nn.Linear(32, 16)

    def forward(self, x):
        h = F.relu(self.b1(self.c1(x)))
        h = F.relu(self.b2(self.c2(h))).flatten(1)
        h = F.relu(self.b3(self.l1(h)))
        return F.normalize(self.l2(h), dim=1, eps=1e-12)

    def stats(self):
        return torch.cat([t.reshape(-1) for bn in (self.b1, self.b2, self.b3)
                          for t in (bn.running_mean, bn.running_var)])


def nt_xent(z, tau):
    z = F.normalize(z, dim=1)
    n2 = z.shape[0]
    sim = (z @ z.t()) / tau
    sim = sim.masked_fill(torch.eye(n2, dtype=torch.bool), float("-inf"))
    labels = torch.cat([torch.arange(n2 // 2) + n2 // 2, torch.arange(n2 // 2)])
    return F.cross_entropy(sim, labels)


def flat(net):
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def train(init, dtype):
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        for p, v in zip(net.parameters(), init):
            p.copy_(v)
    net = net.to(dtype)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WD)
    losses = []
    for s in range(STEPS):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(s)
        loss = nt_xent(net(torch.from_numpy(batch_views(s)).to(dtype)), TAU)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return net, torch.tensor(losses, dtype=torch.float64)


def main():
    torch.manual_seed(0)
    init = [p.detach().clone() for p in Net().parameters()]
    ref, ref_loss = train(init, torch.float64)
    f32, f32_loss = train(init, torch.float32)
    start = torch.cat([v.reshape(-1) for v in init]).double()
    step_ref = flat(ref) - start
    f32_dev = (flat(f32).double() - flat(ref)).norm() / step_ref.norm()
    lines = []

    def emit(name, t):
        v = t.detach().double().reshape(-1).tolist()
        lines.append(name + " " + str(len(v)) + " " + " ".join("%.9g" % x for x in v))

    emit("params0", start)
    emit("loss", ref_loss)
    emit("params", flat(ref))
    emit("stats", ref.stats())
    emit("f32_param_dev", f32_dev.reshape(1))
    emit("f32_loss_dev", (f32_loss - ref_loss).abs().max().reshape(1))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "trajectory_golden.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("loss %.5f -> %.5f; float32 vs float64: params %.2e of the step, loss %.2e"
          % (ref_loss[0], ref_loss[-1], f32_dev, (f32_loss - ref_loss).abs().max()))


if __name__ == "__main__":
    main()
