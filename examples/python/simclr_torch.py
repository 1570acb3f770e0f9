#!/usr/bin/env python3
"""SimCLR (Chen et al. 2020) on Fashion-MNIST: a small PyTorch model, the
library's NT-Xent as its loss through the adapter (contrastive.torch),
Adam; weighted kNN (the library's) on the backbone features at the end.
Prints `RESULT simclr knn_top1=... loss=...`. The only change from a plain
PyTorch SimCLR script is the loss line (see docs/python.md).

  python3 examples/python/simclr_torch.py [--steps 300] [--subset 10000]
"""
import argparse
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402

import contrastive as ctr  # noqa: E402
from contrastive.torch import NTXentLoss  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--subset", type=int, default=10000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    x, y = fmnist.load("train", a.subset)
    xt, yt = fmnist.load("test", a.test)

    backbone = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten())
    head = nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 64))
    params = list(backbone.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    loss_fn = NTXentLoss(temperature=0.5)     # was: the usual PyTorch NT-Xent
    loss = torch.tensor(float("nan"))
    for step in range(a.steps):
        idx = rng.integers(0, x.shape[0], a.batch)
        v1 = torch.from_numpy(fmnist.augment(rng, x[idx]))
        v2 = torch.from_numpy(fmnist.augment(rng, x[idx]))
        z1, z2 = head(backbone(v1)), head(backbone(v2))
        loss = loss_fn(z1, z2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == a.steps - 1:
            print("step %4d  loss %.4f  pretext acc %.3f"
                  % (step, loss.item(), loss_fn.stats()["accuracy"]))

    backbone.eval()
    with torch.no_grad():
        f_train = backbone(torch.from_numpy(x)).numpy()
        f_test = backbone(torch.from_numpy(xt)).numpy()
    with ctr.Knn(k=50, sigma=0.07) as knn:
        acc = knn.accuracy(f_train, y, f_test, yt, 10)
    print("RESULT simclr knn_top1=%.4f loss=%.4f steps=%d" % (acc, loss.item(), a.steps))


if __name__ == "__main__":
    main()
