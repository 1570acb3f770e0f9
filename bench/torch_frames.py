#!/usr/bin/python3
"""PyTorch counterpart of bench_frames.c, each case written the way its
reference code writes it.

  bilinear_b512  CURL's bilinear critic (MishaLaskin/curl, curl_sac.py,
                 CURL.compute_logits + update_cpc): Wz = W @ z_pos.T,
                 logits = z_a @ Wz minus the row maximum, CrossEntropyLoss
                 with the diagonal as labels; backward to z_a, z_pos and W
                 (CURL detaches z_pos; the C side computes that gradient
                 too, so both do the same work).
  affinity_64x64_r8
                 the windowed affinity of video correspondence in the
                 form of MAST's colorizer (zlai0/MAST, models/colorizer.py)
                 on CPU: the local correlation as SpatialCorrelationSampler
                 computes it on CPU (one channel sum per displacement of
                 the zero-padded reference features; the package itself is
                 a CUDA/C++ extension not installed here), out-of-map
                 positions masked with -inf as the library leaves them
                 out, softmax over the (2r+1)^2 window, the reference
                 colours unfolded (F.unfold, MAST's im2col) and weighted,
                 F.smooth_l1_loss against the target, backward to both
                 feature maps. B 8, C 64, 32 x 32, r 8, 3 colour channels.

  torch_frames.py --threads T [--cases a,b] [--reps N] [--intra I]

Prints one JSON line per case: {"case", "threads", "torch_ms",
"torch_extra_mib"}; each case in its own process (peak RSS above the size
once the inputs exist). T is OpenBLAS's thread count, I PyTorch's intra-op
count (1 by default, as bench/torch_cpc.py).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_harness  # noqa: E402

CASES = {
    "bilinear_b512": dict(b=512, d=50),
    "affinity_64x64_r8": dict(b=8, c=64, h=32, w=32, r=8, cv=3),
}


def make_bilinear(torch, F, cs):
    g = torch.Generator().manual_seed(1)
    b, d = cs["b"], cs["d"]
    z_a = torch.randn(b, d, generator=g).requires_grad_()
    z_pos = torch.randn(b, d, generator=g).requires_grad_()
    W = torch.nn.Parameter(0.01 * torch.rand(d, d, generator=g))
    labels = torch.arange(b)
    ce = torch.nn.CrossEntropyLoss()

    def step():
        z_a.grad = z_pos.grad = W.grad = None
        Wz = torch.matmul(W, z_pos.T)
        logits = torch.matmul(z_a, Wz)
        logits = logits - torch.max(logits, 1)[0][:, None]
        ce(logits, labels).backward()
    return step


def make_affinity(torch, F, cs):
    g = torch.Generator().manual_seed(1)
    b, c, h, w, r, cv = cs["b"], cs["c"], cs["h"], cs["w"], cs["r"], cs["cv"]
    k = 2 * r + 1
    fa = (0.125 * torch.randn(b, c, h, w, generator=g)).requires_grad_()
    fb = (0.125 * torch.randn(b, c, h, w, generator=g)).requires_grad_()
    v = torch.randn(b, cv, h, w, generator=g)
    target = torch.randn(b, cv, h, w, generator=g)
    inside = F.unfold(torch.ones(1, 1, h, w), k, padding=r).view(1, k * k, h, w) > 0

    def step():
        fa.grad = fb.grad = None
        pa = F.pad(fa, (r, r, r, r))
        corr = torch.stack([(fb * pa[:, :, dy:dy + h, dx:dx + w]).sum(1)
                            for dy in range(k) for dx in range(k)], 1)
        corr = corr.masked_fill(~inside, float("-inf"))
        att = F.softmax(corr, dim=1).view(b, 1, k * k, h * w)
        uv = F.unfold(v, k, padding=r).view(b, cv, k * k, h * w)
        out = (uv * att).sum(2).view(b, cv, h, w)
        F.smooth_l1_loss(out, target).backward()
    return step


MAKERS = {"bilinear_b512": make_bilinear, "affinity_64x64_r8": make_affinity}


def make_step(torch, F, name):
    return MAKERS[name](torch, F, CASES[name])


if __name__ == "__main__":
    torch_harness.main(__file__, list(CASES), make_step)
