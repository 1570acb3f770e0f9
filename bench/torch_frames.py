#!/usr/bin/python3
"""PyTorch counterpart of bench_frames.c, each case written the way its
reference code writes it.

  bilinear_b512  CURL's bilinear critic (MishaLaskin/curl, curl_sac.py,
                 CURL.compute_logits + update_cpc): Wz = W @ z_pos.T,
                 logits = z_a @ Wz minus the row maximum, CrossEntropyLoss
                 with the diagonal as labels; backward to z_a, z_pos and W
                 (CURL detaches z_pos; the C side computes that gradient
                 too, so both do the same work).

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


MAKERS = {"bilinear_b512": make_bilinear}


def make_step(torch, F, name):
    return MAKERS[name](torch, F, CASES[name])


if __name__ == "__main__":
    torch_harness.main(__file__, list(CASES), make_step)
