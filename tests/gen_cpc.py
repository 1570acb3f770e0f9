#!/usr/bin/python3
"""Golden values for the CPC critic tests (tests/check_cpc.c), computed by
PyTorch in float64, in the formulation of the reference codes:

  batch    CPC as the PyTorch ports write it for every valid t: per step k
           a bias-carrying nn.Linear W_k on the contexts c[:, :T-k], scores
           against the latents of all B sequences at t+k, log_softmax over
           the candidate latents (dim=-1: the paper's normalisation, not the
           over-contexts one of a missing `dim`), the diagonal as target;
           mean over positions, then over steps.
  sampled  Greedy InfoMax's audio loss: per step the positive z[:, t+k]
           and n latents gathered by index (here given, never the
           positive), scores = (W_k c) . z, log_softmax with the positive
           first.
  all      CPC v2 on a patch grid: every latent position of the batch is a
           candidate; cross-entropy with the positive's index.

Inputs are float32-representable and written beside the results, so the C
test reads everything from tests/data/cpc_golden.txt, one array per line:
"<case>_<name> <count> v0 v1 ..." (tests/golden_util.h).

Run: /usr/bin/python3 tests/gen_cpc.py > tests/data/cpc_golden.txt
"""
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
gen = torch.Generator().manual_seed(20181012)


def randn(*shape, scale=1.0):
    return (torch.randn(*shape, generator=gen) * scale).float().double()


def emit(case, name, value):
    flat = value.detach().reshape(-1).tolist()
    print("%s_%s %d %s" % (case, name, len(flat), " ".join(repr(float(v)) for v in flat)))


def inputs(b, t, d, c, k, bias=True):
    z = randn(b, t, d).requires_grad_()
    ctx = randn(b, t, c).requires_grad_()
    w = randn(k, d, c, scale=0.5).requires_grad_()
    bb = randn(k, d, scale=0.5).requires_grad_() if bias else None
    return z, ctx, w, bb


def finish(case, loss, accs, z, ctx, w, bb, extra=()):
    loss.backward()
    for name, v in [("z", z), ("c", ctx), ("w", w)] + ([("bias", bb)] if bb is not None else []):
        emit(case, name, v)
    for name, v in extra:
        emit(case, name, v)
    emit(case, "loss", loss.reshape(1))
    emit(case, "step_acc", torch.tensor(accs))
    emit(case, "grad_z", z.grad)
    emit(case, "grad_c", ctx.grad)
    emit(case, "grad_w", w.grad)
    if bb is not None:
        emit(case, "grad_bias", bb.grad)


def batch():
    b, t, d, c, k = 3, 5, 4, 6, 3
    z, ctx, w, bb = inputs(b, t, d, c, k)
    loss, accs = 0.0, []
    for s in range(1, k + 1):
        pred = F.linear(ctx[:, : t - s], w[s - 1], bb[s - 1])     # B, T-s, D
        logits = torch.einsum("btd,ctd->tbc", pred, z[:, s:])     # T-s, B, B
        lsm = F.log_softmax(logits, dim=-1)
        loss = loss - lsm.diagonal(dim1=-2, dim2=-1).mean()
        accs.append((logits.argmax(-1) == torch.arange(b)).double().mean().item())
    finish("batch", loss / k, accs, z, ctx, w, bb)


def sampled():
    b, t, d, c, k, n = 2, 4, 3, 5, 2, 3
    z, ctx, w, bb = inputs(b, t, d, c, k, bias=False)
    idx = torch.zeros(k, b, t, n, dtype=torch.long)
    for s in range(1, k + 1):
        for i in range(b):
            for u in range(t - s):
                pos = i * t + u + s
                r = torch.randint(b * t - 1, (n,), generator=gen)
                idx[s - 1, i, u] = r + (r >= pos).long()
    flat = z.reshape(b * t, d)
    loss, accs = 0.0, []
    for s in range(1, k + 1):
        pred = F.linear(ctx[:, : t - s], w[s - 1])                # B, T-s, D
        pos = (pred * z[:, s:]).sum(-1, keepdim=True)             # B, T-s, 1
        neg = torch.einsum("btd,btnd->btn", pred, flat[idx[s - 1, :, : t - s]])
        logits = torch.cat([pos, neg], -1)
        loss = loss - F.log_softmax(logits, -1)[..., 0].mean()
        accs.append((pos[..., 0] > neg.max(-1).values).double().mean().item())
    finish("sampled", loss / k, accs, z, ctx, w, None, [("idx", idx.double())])


def all_negatives():
    b, t, d, c, k = 2, 3, 5, 3, 2
    z, ctx, w, bb = inputs(b, t, d, c, k)
    flat = z.reshape(b * t, d)
    loss, accs = 0.0, []
    for s in range(1, k + 1):
        pred = F.linear(ctx[:, : t - s], w[s - 1], bb[s - 1]).reshape(-1, d)
        target = (torch.arange(b)[:, None] * t + torch.arange(t - s)[None, :] + s).reshape(-1)
        logits = pred @ flat.t()
        loss = loss + F.cross_entropy(logits, target)
        accs.append((logits.argmax(-1) == target).double().mean().item())
    finish("all", loss / k, accs, z, ctx, w, bb)


batch()
sampled()
all_negatives()
