"""Model, augmentations, losses and evaluation for cnn_demo_torch.py (the twin).

Import only after common.init_threads() has imported torch with the thread settings.
"""
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import load_fmnist

FM_MEAN, FM_STD = 0.2860, 0.3530  # Fashion-MNIST train-set pixel mean/std (pixels in [0,1])


def load_tensors():
    xtr, ytr, xte, yte = load_fmnist()
    xtr = torch.from_numpy(xtr.copy()).float().div_(255).unsqueeze(1)  # (60000,1,28,28)
    xte = torch.from_numpy(xte.copy()).float().div_(255).unsqueeze(1)
    return xtr, torch.from_numpy(ytr.astype(np.int64)), xte, torch.from_numpy(yte.astype(np.int64))


# ----------------------------------------------------------------------------
# augmentations: all batched, all simple enough to re-implement in plain C
# ----------------------------------------------------------------------------
class Aug:
    """Per-image random augmentation of a (B,1,28,28) batch in [0,1].

    rrc_scale: random-resized-crop area fraction range (None = no RRC); aspect
        ratio log-uniform in [3/4, 4/3]; crop resampled to 28x28 with bilinear
        interpolation (zero outside the image, never happens for RRC).
    pad: random crop with zero padding of `pad` pixels (integer shift in
        [-pad, pad]^2), used when rrc_scale is None.
    flip: horizontal flip with probability 0.5.
    jitter: brightness b ~ U(-j, j) added and contrast c ~ U(1-j, 1+j)
        around the image mean, then clamp to [0,1] (0 = off).
    noise: additive Gaussian noise sigma (0 = off), after clamp, no clamp.
    erase_p: random erasing probability; rectangle area in erase_scale of the
        image, aspect in [0.3, 3.3], filled with 0 (in normalised units ->
        dataset mean).
    """

    def __init__(self, rrc_scale=(0.2, 1.0), pad=0, flip=True, jitter=0.0, noise=0.0,
                 erase_p=0.0, erase_scale=(0.02, 0.25)):
        self.rrc_scale, self.pad, self.flip = rrc_scale, pad, flip
        self.jitter, self.noise = jitter, noise
        self.erase_p, self.erase_scale = erase_p, erase_scale

    def describe(self):
        return dict(rrc_scale=self.rrc_scale, pad=self.pad, flip=self.flip, jitter=self.jitter,
                    noise=self.noise, erase_p=self.erase_p, erase_scale=self.erase_scale)

    def __call__(self, x):
        B = x.shape[0]
        if self.rrc_scale is not None:
            s = torch.empty(B).uniform_(*self.rrc_scale)
            logr = torch.empty(B).uniform_(math.log(3 / 4), math.log(4 / 3))
            r = torch.exp(logr)
            w = torch.sqrt(s * r).clamp(max=1.0)   # half-width in normalised coords (1 = full)
            h = torch.sqrt(s / r).clamp(max=1.0)
            cx = (torch.rand(B) * 2 - 1) * (1 - w)
            cy = (torch.rand(B) * 2 - 1) * (1 - h)
            sx = w
            if self.flip:
                sx = torch.where(torch.rand(B) < 0.5, -w, w)
            theta = torch.zeros(B, 2, 3)
            theta[:, 0, 0] = sx
            theta[:, 0, 2] = cx
            theta[:, 1, 1] = h
            theta[:, 1, 2] = cy
            grid = F.affine_grid(theta, (B, 1, 28, 28), align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        else:
            if self.pad > 0:
                p = self.pad
                xp = F.pad(x, (p, p, p, p))
                dx = torch.randint(0, 2 * p + 1, (B,))
                dy = torch.randint(0, 2 * p + 1, (B,))
                ar = torch.arange(28)
                rows = (dy[:, None] + ar[None, :])            # (B,28)
                cols = (dx[:, None] + ar[None, :])
                x = xp[torch.arange(B)[:, None, None], 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)
            if self.flip:
                m = torch.rand(B) < 0.5
                x = torch.where(m[:, None, None, None], x.flip(3), x)
        if self.jitter > 0:
            j = self.jitter
            c = torch.empty(B, 1, 1, 1).uniform_(1 - j, 1 + j)
            b = torch.empty(B, 1, 1, 1).uniform_(-j, j)
            mu = x.mean(dim=(2, 3), keepdim=True)
            x = ((x - mu) * c + mu + b).clamp_(0, 1)
        x = (x - FM_MEAN) / FM_STD
        if self.noise > 0:
            x = x + (self.noise / FM_STD) * torch.randn_like(x)
        if self.erase_p > 0:
            area = torch.empty(B).uniform_(*self.erase_scale) * 784
            logr = torch.empty(B).uniform_(math.log(0.3), math.log(3.3))
            r = torch.exp(logr)
            eh = torch.sqrt(area * r).round().clamp(1, 28)
            ew = torch.sqrt(area / r).round().clamp(1, 28)
            y0 = (torch.rand(B) * (29 - eh)).floor()
            x0 = (torch.rand(B) * (29 - ew)).floor()
            ar = torch.arange(28).float()
            my = (ar[None, :] >= y0[:, None]) & (ar[None, :] < (y0 + eh)[:, None])
            mx = (ar[None, :] >= x0[:, None]) & (ar[None, :] < (x0 + ew)[:, None])
            m = my[:, :, None] & mx[:, None, :] & (torch.rand(B) < self.erase_p)[:, None, None]
            x = x.masked_fill(m.unsqueeze(1), 0.0)
        return x


def plain(x):
    return (x - FM_MEAN) / FM_STD


# ----------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------
class MLP(nn.Module):
    """784-512-512-128: Linear+BN+ReLU hidden layers, last layer linear.

    forward returns the list of hidden activations [h1, h2, ...] and the
    un-normalised output z; the objective L2-normalises z.
    """

    def __init__(self, dims=(784, 512, 512, 128), out_bn=False, head=0):
        super().__init__()
        self.hidden = nn.ModuleList()
        for a, b in zip(dims[:-2], dims[1:-1]):
            self.hidden.append(nn.Sequential(nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(inplace=True)))
        self.out = nn.Linear(dims[-2], dims[-1])
        self.out_bn = nn.BatchNorm1d(dims[-1], affine=False) if out_bn else None
        # optional SimCLR-style projection head used only by the loss:
        # z -> BN -> ReLU -> Linear(d, head) -> BN -> ReLU -> Linear(head, d)
        d = dims[-1]
        self.head = (nn.Sequential(nn.BatchNorm1d(d), nn.ReLU(inplace=True), nn.Linear(d, head),
                                   nn.BatchNorm1d(head), nn.ReLU(inplace=True), nn.Linear(head, d))
                     if head else None)

    def project(self, z):
        return z if self.head is None else self.head(z)

    def forward(self, x):
        h = x.flatten(1)
        hs = []
        for layer in self.hidden:
            h = layer(h)
            hs.append(h)
        z = self.out(h)
        if self.out_bn is not None:
            z = self.out_bn(z)
        return hs, z


class SmallCNN(nn.Module):
    """conv32-pool-conv64-pool-conv128-GAP (BN+ReLU each), then 128-128 linear out."""

    def __init__(self, out_dim=128, width=32):
        super().__init__()
        w = width

        def blk(a, b):
            return nn.Sequential(nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b),
                                 nn.ReLU(inplace=True))
        self.f = nn.Sequential(blk(1, w), nn.MaxPool2d(2), blk(w, 2 * w), nn.MaxPool2d(2),
                               blk(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.proj = nn.Sequential(nn.Linear(4 * w, 4 * w), nn.BatchNorm1d(4 * w), nn.ReLU(inplace=True))
        self.out = nn.Linear(4 * w, out_dim)

    def project(self, z):
        return z

    def forward(self, x):
        h1 = self.f(x)
        h2 = self.proj(h1)
        return [h1, h2], self.out(h2)


class DemoCNN(nn.Module):
    """The demo's default network: conv 5x5/2 32, BN, ReLU; conv 3x3/2 64, BN, ReLU;
    flatten 3136; head 3136-512 (BN, ReLU) - 512->128. Returns ([backbone], embedding)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Sequential(nn.Conv2d(1, 32, 5, 2, 2), nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        self.c2 = nn.Sequential(nn.Conv2d(32, 64, 3, 2, 1), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Linear(3136, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
                                  nn.Linear(512, 128))

    def forward(self, x):
        h = self.c2(self.c1(x)).flatten(1)
        return [h], self.head(h)


# ----------------------------------------------------------------------------
# objectives
# ----------------------------------------------------------------------------
def nt_xent(z, tau):
    """z: (2N, D) un-normalised, rows i and i+N are the two views of image i."""
    z = F.normalize(z, dim=1)
    n2 = z.shape[0]
    N = n2 // 2
    sim = (z @ z.t()) / tau
    sim = sim.masked_fill(torch.eye(n2, dtype=torch.bool), float("-inf"))
    labels = torch.cat([torch.arange(N) + N, torch.arange(N)])
    return F.cross_entropy(sim, labels)


def infonce_queue(q, k, queue, tau):
    """MoCo: q (N,D) normalised, k (N,D) normalised & detached, queue (K,D)."""
    l_pos = (q * k).sum(1, keepdim=True)
    l_neg = q @ queue.t()
    logits = torch.cat([l_pos, l_neg], 1) / tau
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))


# ----------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------
@torch.no_grad()
def extract(model, x, bs=2000):
    model.eval()
    feats = None
    for i in range(0, x.shape[0], bs):
        hs, z = model(plain(x[i:i + bs]))
        outs = [h.clone() for h in hs] + [F.normalize(z, dim=1)]
        if feats is None:
            feats = [[] for _ in outs]
        for f, o in zip(feats, outs):
            f.append(o)
    model.train()
    return [torch.cat(f) for f in feats]


@torch.no_grad()
def knn_wu(ftr, ytr, fte, yte, k=200, sigma=0.07, nclass=10, bs=500):
    """Weighted kNN of Wu et al. 2018 on cosine similarity. Returns top-1 accuracy (%)."""
    ftr = F.normalize(ftr, dim=1)
    fte = F.normalize(fte, dim=1)
    correct = 0
    for i in range(0, fte.shape[0], bs):
        sim = fte[i:i + bs] @ ftr.t()
        sv, si = sim.topk(k, dim=1)
        w = (sv / sigma).exp()
        votes = torch.zeros(sim.shape[0], nclass)
        votes.scatter_add_(1, ytr[si], w)
        correct += (votes.argmax(1) == yte[i:i + bs]).sum().item()
    return 100.0 * correct / fte.shape[0]


def _fit_logreg(X, y, wd, nclass=10, iters=150):
    W = torch.zeros(X.shape[1], nclass, requires_grad=True)
    b = torch.zeros(nclass, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1, max_iter=iters, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-6, tolerance_change=1e-9)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(X @ W + b, y) + 0.5 * wd * (W * W).sum()
        loss.backward()
        return loss
    opt.step(closure)
    return W.detach(), b.detach()


def linear_probe(ftr, ytr, fte, yte, wds=(1e-5, 1e-4, 1e-3), iters=150, nval=10000, seed=0):
    """Multinomial logistic regression (L-BFGS, full batch) on standardised frozen features.

    L2 strength chosen on a held-out split of the train set (last `nval` of a fixed
    permutation), then refit on all 60k.  Returns (test acc %, chosen wd).
    """
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
    Xtr, Xte = (ftr - mu) / sd, (fte - mu) / sd
    best = (None, -1.0)
    if len(wds) > 1:
        perm = torch.randperm(Xtr.shape[0], generator=torch.Generator().manual_seed(seed))
        tr, va = perm[:-nval], perm[-nval:]
        for wd in wds:
            W, b = _fit_logreg(Xtr[tr], ytr[tr], wd, iters=iters)
            acc = ((Xtr[va] @ W + b).argmax(1) == ytr[va]).float().mean().item()
            if acc > best[1]:
                best = (wd, acc)
    else:
        best = (wds[0], None)
    W, b = _fit_logreg(Xtr, ytr, best[0], iters=iters)
    acc = 100.0 * ((Xte @ W + b).argmax(1) == yte).float().mean().item()
    return acc, best[0]


def evaluate(model, xtr, ytr, xte, yte, which=None, probe_wds=(1e-5, 1e-4, 1e-3)):
    """Linear probe + kNN on each feature level. which: list of level names to keep."""
    t0 = time.perf_counter()
    ftr = extract(model, xtr)
    fte = extract(model, xte)
    names = [f"h{i+1}" for i in range(len(ftr) - 1)] + ["z"]
    res = {}
    for name, a, b in zip(names, ftr, fte):
        if which and name not in which:
            continue
        lp, wd = linear_probe(a, ytr, b, yte, wds=probe_wds)
        res[name] = {"linear": lp, "linear_wd": wd, "knn": knn_wu(a, ytr, b, yte), "dim": a.shape[1]}
    res["eval_s"] = time.perf_counter() - t0
    return res
