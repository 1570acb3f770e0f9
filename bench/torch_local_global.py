#!/usr/bin/python3
"""PyTorch counterpart of bench_local_global.c: the local-global InfoNCE
forward + backward (gradients to the global and the local features) at the
same shapes, written as DIM's reference code writes it (rdevon/DIM,
cortex_DIM/functions/dim_losses.py, infonce_loss, one global per image):
positive scores by a batched matmul, the negatives by one mm, the self
pairs masked with -10, the negatives expanded for every local position,
concatenated with the positive and log_softmax'ed; and (the _amdim case)
as AMDIM's code writes its NCE (Philip-Bachman/amdim-public, costs.py:
one mm, masks, a max-shifted sum of exps over the negatives, tanh clip and
the score penalty, on b x (b p) scores only). The functions themselves are
the ones tests/gen_local_global.py makes the goldens with.

  torch_local_global.py --threads T [--cases a,b] [--reps N] [--intra I]

Prints one JSON line per case: {"case", "threads", "torch_ms",
"torch_extra_mib"}; each case in its own process (bench/torch_harness.py).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import torch_harness  # noqa: E402

CASES = {
    "local_global_b256_p49": dict(b=256, p=49, d=128),
    "local_global_amdim_b256_p49": dict(b=256, p=49, d=128, amdim=True),
}


def make_step(torch, F, name):
    from gen_local_global import amdim_fn, dim_infonce
    g = torch.Generator().manual_seed(1)
    cs = CASES[name]
    b, p, d = cs["b"], cs["p"], cs["d"]
    glob = (0.1 * torch.randn(b, d, 1, generator=g)).requires_grad_()
    loc = (0.1 * torch.randn(b, d, p, generator=g)).requires_grad_()
    amdim = amdim_fn(p)

    def step():
        glob.grad = loc.grad = None
        if cs.get("amdim"):
            amdim(glob[:, :, 0], loc).backward()
        else:
            dim_infonce(loc, glob).backward()
    return step


if __name__ == "__main__":
    torch_harness.main(os.path.abspath(__file__), list(CASES), make_step)
