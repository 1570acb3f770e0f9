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
once the inputs exist; bench/torch_harness.py). T is OpenBLAS's thread count, I PyTorch's intra-op
count (1 by default, its fastest setting on the 2-core machine of
docs/performance.md).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_harness  # noqa: E402

CASES = {
    "cpc_b32_t128": dict(b=32, t=128, c=256, d=512, k=12),
}


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


if __name__ == "__main__":
    torch_harness.main(__file__, list(CASES),
                       lambda torch, F, name: make_step(torch, F, CASES[name]))
