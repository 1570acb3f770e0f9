#!/usr/bin/python3
"""PyTorch counterpart of bench_local_global.c: the local-global InfoNCE
forward + backward (gradients to the global and the local features) at the
same shapes, written as DIM's reference code writes it (rdevon/DIM,
cortex_DIM/functions/dim_losses.py, infonce_loss, one global per image):
positive scores by a batched matmul, the negatives by one mm, the self
pairs masked with -10, the negatives expanded for every local position,
concatenated with the positive and log_softmax'ed. The function itself is
the one tests/gen_local_global.py makes the goldens with.

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
}


def make_step(torch, F, name):
    from gen_local_global import dim_infonce
    g = torch.Generator().manual_seed(1)
    b, p, d = CASES[name]["b"], CASES[name]["p"], CASES[name]["d"]
    glob = (0.1 * torch.randn(b, d, 1, generator=g)).requires_grad_()
    loc = (0.1 * torch.randn(b, d, p, generator=g)).requires_grad_()

    def step():
        glob.grad = loc.grad = None
        dim_infonce(loc, glob).backward()
    return step


if __name__ == "__main__":
    torch_harness.main(os.path.abspath(__file__), list(CASES), make_step)
