"""PyTorch twin of the demo's default run (SimCLR, small CNN), same budget.

Architecture (as docs/results.md of the project describes its default): conv 5x5/2 -> 32x14x14,
BN, ReLU; conv 3x3/2 -> 64x7x7, BN, ReLU; flatten 3136; head 3136-512 (BN, ReLU) -512->128,
L2-normalised. NT-Xent tau 0.1, AdamW lr 2e-3 wd 1e-5, cosine with 2 % warm-up, batch 256.
Augmentations: aspect 3/4-4/3 at area 1.0 with shift, flip, noise 0.03, erasing p 0.2.
Evaluation: kNN (k 200, sigma 0.07) on the normalised embedding and on the backbone, linear
probe on the backbone (ssl_lib.linear_probe).

usage: python3 cnn_demo_torch.py [--budget 300] [--epochs 10] [--threads 2] [--steps N]
                                 [--dump DIR]
  --steps N: time N training steps only (throughput), no evaluation.
  --dump DIR: also write the evaluated features and labels as raw arrays
              (float32 {emb,bb}_{train,test}.bin, int64 y_{train,test}.bin) for
              scripts/parity/eval_features.c, the library's evaluators.
"""
import argparse
import json
import math
import os
import sys
import time

from common import init_threads

ap = argparse.ArgumentParser()
ap.add_argument("--budget", type=float, default=300.0)
ap.add_argument("--epochs", type=int, default=10)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--steps", type=int, default=0)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--dump", default="")
a = ap.parse_args()
_torch, info = init_threads(a.threads)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import ssl_lib as L  # noqa: E402

torch.manual_seed(a.seed)


xtr, ytr, xte, yte = L.load_tensors()
model = L.DemoCNN()
opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-5)
aug = L.Aug(rrc_scale=(1.0, 1.0), flip=True, noise=0.03, erase_p=0.2)
B = 256
steps_per_epoch = xtr.shape[0] // B
total = steps_per_epoch * a.epochs if not a.steps else a.steps
warm = max(1, int(0.02 * total))


def lr_at(s):
    if s < warm:
        return 2e-3 * (s + 1) / warm
    return 2e-3 * 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm)))


t0 = time.perf_counter()
step = 0
done = False
ep = 0
while not done:
    perm = torch.randperm(xtr.shape[0])
    for i in range(steps_per_epoch):
        idx = perm[i * B:(i + 1) * B]
        x = xtr[idx]
        v = torch.cat([aug(x), aug(x)])
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        _, z = model(v)
        loss = L.nt_xent(z, 0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        el = time.perf_counter() - t0
        if step >= total or (not a.steps and el >= a.budget):
            done = True
            break
    ep += 1
    sys.stderr.write(f"epoch {ep} step {step} loss {loss.item():.4f} {time.perf_counter() - t0:.1f}s\n")
train_s = time.perf_counter() - t0
res = {"threads": info, "steps": step, "train_s": round(train_s, 2),
       "ms_per_step": round(1000 * train_s / step, 2), "epochs_done": round(step / steps_per_epoch, 2)}
if not a.steps:
    ftr = L.extract(model, xtr)
    fte = L.extract(model, xte)
    res["knn_embedding"] = L.knn_wu(ftr[1], ytr, fte[1], yte) / 100
    res["knn_backbone"] = L.knn_wu(ftr[0], ytr, fte[0], yte) / 100
    res["linear_backbone"] = L.linear_probe(ftr[0], ytr, fte[0], yte, wds=(1e-4,))[0] / 100
    if a.dump:
        os.makedirs(a.dump, exist_ok=True)
        arrays = {"emb_train": ftr[1], "emb_test": fte[1], "bb_train": ftr[0], "bb_test": fte[0]}
        for name, t in arrays.items():
            t.float().numpy().tofile(os.path.join(a.dump, name + ".bin"))
        ytr.long().numpy().tofile(os.path.join(a.dump, "y_train.bin"))
        yte.long().numpy().tofile(os.path.join(a.dump, "y_test.bin"))
print(json.dumps(res))
