#!/usr/bin/python3
"""Golden values for tests/check_distill.c (ctr_objective_distill) and
tests/check_crd.c (the CRD recipe of docs/crd.md), computed by PyTorch in
float64 in the form of RepDistiller's reference code (HobbitLong/
RepDistiller, Tian et al. ICLR 2020), written here from its formulas:

  distiller_zoo/KD.py, DistillKL:
      p_s = F.log_softmax(y_s / T, dim=1); p_t = F.softmax(y_t / T, dim=1)
      loss = F.kl_div(p_s, p_t, size_average=False) * T**2 / y_s.shape[0]
  train_student.py: loss = gamma * CE(logit_s, target) + alpha * loss_div

  crd/criterion.py, CRDLoss: Embed = Linear + x / ||x|| (no eps) on the
  student and the teacher features; crd/memory.py, ContrastMemory: two
  banks, memory_v1 (student) and memory_v2 (teacher), contrast_idx whose
  column 0 is the anchor's own index, out_v1 = exp(bmm(memory_v2[idx],
  v1) / T) (the student against the teacher bank), out_v2 = exp(bmm(
  memory_v1[idx], v2) / T); Z_v1, Z_v2 = out.mean() * n_data from the
  first batch (detached), then fixed; out / Z; the positives' rows then
  updated as normalize(m * row + (1 - m) * v) with m = 0.5 (no gradient).
  ContrastLoss (eps = 1e-7, noise Pn = 1 / n_data, m = K):
      log_D1 = log(P_pos / (P_pos + m Pn + eps))
      log_D0 = log(m Pn / (P_neg + m Pn + eps))
      loss = -(log_D1.sum(0) + log_D0.view(-1, 1).sum(0)) / bsz
  and the CRD loss is the sum of the two directions. Two steps are run,
  the second with Z of the first and the banks the first updated; the
  embedding weights do not move between them (no optimizer step).

Inputs are float32-representable and written beside the results, one
array per line "<case>_<name> <count> v0 v1 ..." (tests/golden_util.h).

Run: /usr/bin/python3 tests/gen_crd.py > tests/data/crd_golden.txt
"""
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
gen = torch.Generator().manual_seed(20200301)
EPS = 1e-7


def randn(*shape, scale=1.0):
    return (torch.randn(*shape, generator=gen) * scale).float().double()


def emit(case, name, value):
    flat = value.detach().reshape(-1).tolist()
    print("%s_%s %d %s" % (case, name, len(flat), " ".join(repr(float(v)) for v in flat)))


def distill(case, b, c, t, ce_weight, kd_weight):
    s = randn(b, c, scale=3.0).requires_grad_()
    te = randn(b, c, scale=3.0)
    y = torch.randint(0, c, (b,), generator=gen)
    p_s = F.log_softmax(s / t, dim=1)
    p_t = F.softmax(te / t, dim=1)
    kd = F.kl_div(p_s, p_t, reduction="sum") * t ** 2 / b
    loss = ce_weight * F.cross_entropy(s, y) + kd_weight * kd
    loss.backward()
    emit(case, "student", s)
    emit(case, "teacher", te)
    emit(case, "labels", y.double())
    emit(case, "loss", loss.reshape(1))
    emit(case, "grad", s.grad)


def l2norm(x):
    return x.div(x.pow(2).sum(1, keepdim=True).pow(0.5))


def contrast_loss(x, n_data):
    bsz, m = x.shape[0], x.shape[1] - 1
    pn = 1.0 / n_data
    p_pos = x.select(1, 0)
    log_d1 = torch.div(p_pos, p_pos.add(m * pn + EPS)).log()
    p_neg = x.narrow(1, 1, m)
    log_d0 = torch.div(p_neg.clone().fill_(m * pn), p_neg.add(m * pn + EPS)).log()
    return -(log_d1.sum(0) + log_d0.view(-1, 1).sum(0)) / bsz


def crd(case, b, ds, dt, e, n, k, tau=0.07, mom=0.5):
    ws = randn(e, ds, scale=0.5).requires_grad_()
    bs = randn(e, scale=0.1).requires_grad_()
    wt = randn(e, dt, scale=0.5).requires_grad_()
    bt = randn(e, scale=0.1).requires_grad_()
    mem_s = l2norm(randn(n, e))
    mem_t = l2norm(randn(n, e))
    emit(case, "w_s", ws)
    emit(case, "b_s", bs)
    emit(case, "w_t", wt)
    emit(case, "b_t", bt)
    emit(case, "bank_s", mem_s)
    emit(case, "bank_t", mem_t)
    z = None
    for step in (1, 2):
        fs = randn(b, ds).requires_grad_()
        ft = randn(b, dt).requires_grad_()
        idx = torch.randperm(n, generator=gen)[:b]
        noise = torch.randint(0, n, (b, k), generator=gen)
        cidx = torch.cat([idx.view(-1, 1), noise], 1)
        for p in (ws, bs, wt, bt):
            p.grad = None
        v1 = l2norm(F.linear(fs, ws, bs))
        v2 = l2norm(F.linear(ft, wt, bt))
        w_t = torch.index_select(mem_t, 0, cidx.view(-1)).view(b, k + 1, e)
        out_v1 = torch.exp(torch.bmm(w_t, v1.view(b, e, 1)).squeeze(2) / tau)
        w_s = torch.index_select(mem_s, 0, cidx.view(-1)).view(b, k + 1, e)
        out_v2 = torch.exp(torch.bmm(w_s, v2.view(b, e, 1)).squeeze(2) / tau)
        if z is None:
            z = ((out_v1.mean() * n).detach().item(), (out_v2.mean() * n).detach().item())
        loss_s = contrast_loss(out_v1 / z[0], n)
        loss_t = contrast_loss(out_v2 / z[1], n)
        loss = loss_s + loss_t
        loss.backward()
        with torch.no_grad():
            for mem, v in ((mem_s, v1), (mem_t, v2)):
                pos = torch.index_select(mem, 0, idx) * mom + v * (1 - mom)
                mem.index_copy_(0, idx, l2norm(pos))
        tag = "%s%d" % (case, step)
        emit(tag, "f_s", fs)
        emit(tag, "f_t", ft)
        emit(tag, "idx", idx.double())
        emit(tag, "noise", noise.double())
        emit(tag, "loss_s", loss_s.reshape(1))
        emit(tag, "loss_t", loss_t.reshape(1))
        emit(tag, "grad_f_s", fs.grad)
        emit(tag, "grad_f_t", ft.grad)
        emit(tag, "grad_w_s", ws.grad)
        emit(tag, "grad_b_s", bs.grad)
        emit(tag, "grad_w_t", wt.grad)
        emit(tag, "grad_b_t", bt.grad)
        emit(tag, "bank_s", mem_s)
        emit(tag, "bank_t", mem_t)
    emit(case, "z", torch.tensor([z[0], z[1]]))


distill("kd", 7, 5, 4.0, 1.0, 0.9)
distill("kdonly", 3, 11, 2.0, 0.0, 1.0)
distill("ce", 4, 3, 4.0, 0.7, 0.0)
crd("crd", 6, 7, 9, 5, 20, 4)
