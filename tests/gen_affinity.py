#!/usr/bin/python3
"""Golden values for the dense affinity tests (tests/check_affinity.c),
computed by PyTorch in float64 in the form of the windowed-correlation
codes (MAST's colorizer, CorrFlow): the reference frame's features and
values are unfolded into (2r+1)^2 shifted copies (F.unfold with zero
padding), the correlation with the target features is the sum over
channels, softmax over the window, and the transport is the weighted sum
of the unfolded values; the loss is F.mse_loss or F.smooth_l1_loss
against the target frame. Out-of-map window positions are masked with
-inf before the softmax (the library leaves them out; MAST's zero padding
would give them logit 0 instead, docs/frames.md). "full" is the dense
affinity of every position of frame a for each of frame b (TimeCycle's
form: a bmm of the flattened maps, softmax over the reference positions).

Inputs are float32-representable and written beside the results, one
array per line "<case>_<name> <count> v0 v1 ..." (tests/golden_util.h).

Run: /usr/bin/python3 tests/gen_affinity.py > tests/data/affinity_golden.txt
"""
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
gen = torch.Generator().manual_seed(20201216)


def randn(*shape, scale=1.0):
    return (torch.randn(*shape, generator=gen) * scale).float().double()


def emit(case, name, value):
    flat = value.detach().reshape(-1).tolist()
    print("%s_%s %d %s" % (case, name, len(flat), " ".join(repr(float(v)) for v in flat)))


def windowed(fa, fb, v, r, tau):
    b, c, h, w = fa.shape
    k = 2 * r + 1
    ua = F.unfold(fa, k, padding=r).view(b, c, k * k, h * w)
    uv = F.unfold(v, k, padding=r).view(b, v.shape[1], k * k, h * w)
    inside = F.unfold(torch.ones(1, 1, h, w), k, padding=r).view(1, k * k, h * w) > 0
    corr = (ua * fb.view(b, c, 1, h * w)).sum(1) / tau
    corr = corr.masked_fill(~inside, float("-inf"))
    att = F.softmax(corr, dim=1)
    return (uv * att.unsqueeze(1)).sum(2).view(b, -1, h, w)


def full(fa, fb, v, tau):
    b, c, h, w = fa.shape
    corr = torch.bmm(fb.view(b, c, -1).transpose(1, 2), fa.view(b, c, -1)) / tau
    att = F.softmax(corr, dim=2)
    return torch.bmm(v.view(b, v.shape[1], -1), att.transpose(1, 2)).view(b, -1, h, w)


def run(case, b, c, h, w, cv, r, tau, loss, beta=1.0):
    fa = randn(b, c, h, w).requires_grad_()
    fb = randn(b, c, h, w).requires_grad_()
    v = randn(b, cv, h, w).requires_grad_()
    target = randn(b, cv, h, w)
    out = full(fa, fb, v, tau) if r < 0 else windowed(fa, fb, v, r, tau)
    if loss == "mse":
        value = F.mse_loss(out, target)
    else:
        value = F.smooth_l1_loss(out, target, beta=beta)
    value.backward()
    for name, x in (("fa", fa), ("fb", fb), ("v", v), ("target", target),
                    ("out", out), ("loss", value.reshape(1)), ("grad_fa", fa.grad),
                    ("grad_fb", fb.grad), ("grad_v", v.grad)):
        emit(case, name, x)


run("full", 2, 4, 5, 3, 3, -1, 1.0, "mse")
run("window", 2, 5, 7, 6, 2, 2, 0.5, "huber", beta=0.7)
