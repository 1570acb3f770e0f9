#!/usr/bin/python3
"""Golden values for CMC's cross-view objective (tests/check_cmc.c),
computed by PyTorch in float64 as the reference code writes it
(HobbitLong/CMC, NCE/NCEAverage.py and NCE/NCECriterion.py):

  nce      NCEAverage.forward with use_softmax=False: view l scored against
           memory_ab and view ab against memory_l with one index matrix
           (column 0 the instance, then K noise indices); out = exp(s / T)
           / Z with Z_l, Z_ab each set from its first batch (mean * N) and
           then kept; NCECriterion on each (eps 1e-7 inside the logs, as
           CMC; the library has none: the difference is at most
           1e-7 / (K / N) per term, 2.2e-7 here); loss = the sum; then the
           memories' momentum update (0.5) with renormalisation.
  softmax  the same two banks with the non-parametric softmax over all N
           rows (lemniscate's LinearAverage path; CMC's own softmax
           variant samples K + 1 rows, docs/cmc.md), cross-entropy summed
           over the two directions; the second step has batch 1.

Memories start as CMC's: uniform in +-1/sqrt(d/3), not normalised. Two
steps per case, gradients w.r.t. l and ab by autograd. Inputs are float32-
representable and written beside the results, one array per line:
"<case>_<name> <count> v0 v1 ..." (tests/golden_util.h).

Run: /usr/bin/python3 tests/gen_cmc.py > tests/data/cmc_golden.txt
"""
import math

import torch
import torch.nn.functional as F

gen = torch.Generator().manual_seed(20191206)
EPS = 1e-7


def emit(case, name, value):
    flat = value.detach().reshape(-1).tolist()
    print("%s_%s %d %s" % (case, name, len(flat), " ".join(repr(float(v)) for v in flat)))


def unit_rows(b, d):
    z = torch.randn(b, d, generator=gen).float().double()
    return F.normalize(z, dim=1).float().double()


def memory(n, d):
    stdv = 1.0 / math.sqrt(d / 3)
    return (torch.rand(n, d, generator=gen) * 2 * stdv - stdv).float().double()


def nce_criterion(x, n_data):
    bsz = x.shape[0]
    m = x.size(1) - 1
    pn = 1.0 / float(n_data)
    p_pos = x.select(1, 0)
    log_d1 = torch.div(p_pos, p_pos.add(m * pn + EPS)).log()
    p_neg = x.narrow(1, 1, m)
    log_d0 = torch.div(p_neg.clone().fill_(m * pn), p_neg.add(m * pn + EPS)).log()
    return -(log_d1.sum(0) + log_d0.reshape(-1, 1).sum(0)) / bsz


def update(mem, z, y, momentum=0.5):
    with torch.no_grad():
        for i in range(z.shape[0]):  # in batch order (index_copy_ with distinct y)
            row = mem[y[i]] * momentum + z[i] * (1 - momentum)
            mem[y[i]] = row / row.pow(2).sum().pow(0.5)


def case_nce(case, n, d, k, t, batches):
    mem_l, mem_ab = memory(n, d), memory(n, d)
    emit(case, "init_bank1", mem_l)
    emit(case, "init_bank2", mem_ab)
    z_l = z_ab = None
    for s, b in enumerate(batches):
        y = torch.randperm(n, generator=gen)[:b]
        noise = torch.randint(0, n, (b, k), generator=gen)
        idx = torch.cat([y[:, None], noise], 1)
        l, ab = unit_rows(b, d).requires_grad_(), unit_rows(b, d).requires_grad_()
        w_l = mem_l[idx.reshape(-1)].reshape(b, k + 1, d)
        w_ab = mem_ab[idx.reshape(-1)].reshape(b, k + 1, d)
        out_l = torch.exp(torch.bmm(w_ab, l.reshape(b, d, 1)).squeeze(2) / t)
        out_ab = torch.exp(torch.bmm(w_l, ab.reshape(b, d, 1)).squeeze(2) / t)
        if z_l is None:
            z_l = out_l.mean().item() * n
            z_ab = out_ab.mean().item() * n
        loss = nce_criterion(out_l / z_l, n) + nce_criterion(out_ab / z_ab, n)
        loss.sum().backward()
        for name, v in (("idx", y), ("noise", noise), ("z1", l), ("z2", ab),
                        ("loss", loss.reshape(1)), ("g1", l.grad), ("g2", ab.grad)):
            emit(case, "s%d_%s" % (s, name), v.double() if v.dtype != torch.float64 else v)
        update(mem_l, l.detach(), y)
        update(mem_ab, ab.detach(), y)
    emit(case, "z", torch.tensor([z_l, z_ab]))
    emit(case, "bank1", mem_l)
    emit(case, "bank2", mem_ab)


def case_softmax(case, n, d, t, batches):
    mem_l, mem_ab = memory(n, d), memory(n, d)
    emit(case, "init_bank1", mem_l)
    emit(case, "init_bank2", mem_ab)
    for s, b in enumerate(batches):
        y = torch.randperm(n, generator=gen)[:b]
        l, ab = unit_rows(b, d).requires_grad_(), unit_rows(b, d).requires_grad_()
        loss = (F.cross_entropy(l @ mem_ab.t() / t, y) +
                F.cross_entropy(ab @ mem_l.t() / t, y))
        loss.backward()
        for name, v in (("idx", y), ("z1", l), ("z2", ab), ("loss", loss.reshape(1)),
                        ("g1", l.grad), ("g2", ab.grad)):
            emit(case, "s%d_%s" % (s, name), v.double() if v.dtype != torch.float64 else v)
        update(mem_l, l.detach(), y)
        update(mem_ab, ab.detach(), y)
    emit(case, "bank1", mem_l)
    emit(case, "bank2", mem_ab)


torch.set_default_dtype(torch.float64)
case_nce("nce", 20, 7, 9, 0.07, [5, 3])
case_softmax("softmax", 19, 5, 0.1, [4, 1])
