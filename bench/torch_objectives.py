#!/usr/bin/python3
"""PyTorch counterparts of bench_objectives.c: the same cases, forward +
backward at the same shapes, in the formulation of each method's reference
code (MoCo's builder, SimCLR's NT-Xent, Sohn's N-pair, CLIP's symmetric
loss, lemniscate's NCEAverage/NCECriterion + memory update).

  torch_objectives.py --threads T [--cases a,b] [--reps N] [--intra I]

Prints one JSON line per case: {"case", "threads", "torch_ms",
"torch_extra_mib"}. Each case runs in its own process so that its peak
memory (ru_maxrss above the resident size once the inputs exist) is its own.
T is the BLAS thread count (OPENBLAS_NUM_THREADS of the child); I the
intra-op thread count (torch.set_num_threads), 1 by default: on the 2-core
machine of docs/performance.md that is PyTorch's fastest setting.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_harness  # noqa: E402

CASES = {
    "infonce_queue_k65536": dict(kind="queue", b=256, d=128, k=65536, tau=0.07),
    "infonce_queue_k16384": dict(kind="queue", b=256, d=128, k=16384, tau=0.07),
    "ntxent_b1024": dict(kind="ntxent", b=1024, d=128, tau=0.5),
    "ntxent_b256": dict(kind="ntxent", b=256, d=128, tau=0.5),
    "npair_b256": dict(kind="npair", b=256, d=128, lam=0.002),
    "infonce_sym_b256": dict(kind="clip", b=256, d=128, tau=0.07),
    "nce_bank_k4096": dict(kind="nce", b=256, d=128, n=60000, k=4096, tau=0.07),
}


def make_step(torch, F, c):
    g = torch.Generator().manual_seed(1)
    unit = lambda *s: F.normalize(torch.randn(*s, generator=g), dim=1)
    if c["kind"] == "queue":
        q = unit(c["b"], c["d"]).requires_grad_()
        k = unit(c["b"], c["d"])
        queue = unit(c["d"], c["k"])  # MoCo keeps the queue as C x K
        labels = torch.zeros(c["b"], dtype=torch.long)

        def step():
            q.grad = None
            l_pos = torch.einsum("nc,nc->n", [q, k]).unsqueeze(-1)
            l_neg = torch.einsum("nc,ck->nk", [q, queue])
            logits = torch.cat([l_pos, l_neg], dim=1) / c["tau"]
            F.cross_entropy(logits, labels).backward()
        return step
    if c["kind"] == "ntxent":
        b = c["b"]
        z1 = torch.randn(b, c["d"], generator=g).requires_grad_()
        z2 = torch.randn(b, c["d"], generator=g).requires_grad_()
        mask = torch.eye(2 * b, dtype=torch.bool)
        labels = torch.cat([torch.arange(b) + b, torch.arange(b)])

        def step():
            z1.grad = z2.grad = None
            z = F.normalize(torch.cat([z1, z2]), dim=1)
            sim = (z @ z.t() / c["tau"]).masked_fill(mask, float("-inf"))
            F.cross_entropy(sim, labels).backward()
        return step
    if c["kind"] == "clip":
        # symmetric in-batch InfoNCE as CLIP writes it: normalised
        # embeddings, logits a p^T / T, cross-entropy of rows and columns
        a = torch.randn(c["b"], c["d"], generator=g).requires_grad_()
        p = torch.randn(c["b"], c["d"], generator=g).requires_grad_()
        labels = torch.arange(c["b"])

        def step():
            a.grad = p.grad = None
            logits = F.normalize(a, dim=1) @ F.normalize(p, dim=1).t() / c["tau"]
            loss = 0.5 * (F.cross_entropy(logits, labels) +
                          F.cross_entropy(logits.t(), labels))
            loss.backward()
        return step
    if c["kind"] == "npair":
        a = torch.randn(c["b"], c["d"], generator=g).requires_grad_()
        p = torch.randn(c["b"], c["d"], generator=g).requires_grad_()
        labels = torch.arange(c["b"])

        def step():
            a.grad = p.grad = None
            loss = F.cross_entropy(a @ p.t(), labels) + c["lam"] * 0.5 * (
                (a * a).sum(1).mean() + (p * p).sum(1).mean())
            loss.backward()
        return step
    # nce: lemniscate's NCEAverage (uniform noise) + NCECriterion + update
    b, d, n, k, tau = c["b"], c["d"], c["n"], c["k"], c["tau"]
    memory = unit(n, d)
    x = unit(b, d).requires_grad_()
    y = torch.randint(n, (b,), generator=g)
    state = {"Z": None}
    eps, pn, m = 1e-7, 1.0 / n, 0.5

    def step():
        x.grad = None
        idx = torch.randint(n, (b, k + 1), generator=g)
        idx.select(1, 0).copy_(y)
        weight = torch.index_select(memory, 0, idx.view(-1)).view(b, k + 1, d)
        out = torch.exp(torch.bmm(weight, x.view(b, d, 1)) / tau)
        if state["Z"] is None:
            state["Z"] = (out.mean() * n).item()
        out = (out / state["Z"]).view(b, k + 1)
        p_pos = out.select(1, 0)
        ln_pmt = torch.div(p_pos, p_pos + k * pn + eps).log()
        p_neg = out.narrow(1, 1, k)
        ln_pon = torch.div(torch.full_like(p_neg, k * pn), p_neg + k * pn + eps).log()
        loss = -(ln_pmt.sum(0) + ln_pon.view(-1, 1).sum(0)) / b
        loss.backward()
        with torch.no_grad():
            pos = torch.index_select(memory, 0, y) * m + x * (1 - m)
            memory.index_copy_(0, y, pos / pos.pow(2).sum(1, keepdim=True).sqrt())
    return step


if __name__ == "__main__":
    torch_harness.main(__file__, list(CASES),
                       lambda torch, F, name: make_step(torch, F, CASES[name]),
                       default_reps=11)
