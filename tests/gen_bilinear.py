#!/usr/bin/python3
"""Golden values for the bilinear critic tests (tests/check_bilinear.c),
computed by PyTorch in float64 in the form of CURL's reference code
(MishaLaskin/curl, curl_sac.py, CURL.compute_logits and update_cpc):

    Wz = torch.matmul(self.W, z_pos.T)                  # (d, B)
    logits = torch.matmul(z_a, Wz)                      # (B, B)
    logits = logits - torch.max(logits, 1)[0][:, None]
    loss = nn.CrossEntropyLoss()(logits, torch.arange(B))

(the max is not detached there either). Case "norm" adds the library's
options: F.normalize of the rows of z_a and z_pos and a temperature.

Inputs are float32-representable and written beside the results, one
array per line "<case>_<name> <count> v0 v1 ..." (tests/golden_util.h).

Run: /usr/bin/python3 tests/gen_bilinear.py > tests/data/bilinear_golden.txt
"""
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
gen = torch.Generator().manual_seed(20200408)


def randn(*shape, scale=1.0):
    return (torch.randn(*shape, generator=gen) * scale).float().double()


def emit(case, name, value):
    flat = value.detach().reshape(-1).tolist()
    print("%s_%s %d %s" % (case, name, len(flat), " ".join(repr(float(v)) for v in flat)))


def run(case, b, d, tau=1.0, normalize=False):
    q = randn(b, d).requires_grad_()
    k = randn(b, d).requires_grad_()
    w = randn(d, d, scale=0.7).requires_grad_()
    za = F.normalize(q, dim=1) if normalize else q
    zp = F.normalize(k, dim=1) if normalize else k
    wz = torch.matmul(w, zp.T)
    logits = torch.matmul(za, wz) / tau
    logits = logits - torch.max(logits, 1)[0][:, None]
    loss = F.cross_entropy(logits, torch.arange(b))
    loss.backward()
    emit(case, "q", q)
    emit(case, "k", k)
    emit(case, "w", w)
    emit(case, "loss", loss.reshape(1))
    emit(case, "grad_q", q.grad)
    emit(case, "grad_k", k.grad)
    emit(case, "grad_w", w.grad)


run("curl", 7, 5)
run("norm", 6, 4, tau=0.3, normalize=True)
