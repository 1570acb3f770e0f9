#!/usr/bin/python3
"""Golden values for the local-global objective tests
(tests/check_local_global.c), computed by PyTorch in float64 in the
formulation of the reference codes:

  dim_infonce  DIM's infonce_loss (rdevon/DIM, cortex_DIM/functions/
               dim_losses.py) with one global per image (n_multis = 1):
               self pairs masked with -10 before the log-softmax
               (ctr: CTR_SELFPAIR_DIM).
  dim_jsd      DIM's fenchel_dual_loss with measure 'JSD' (gan_losses.py),
               plus 2 log 2 (ctr's softplus form has no constant).
  dim_dv       DIM's donsker_varadhan_loss, with the negatives' mean taken
               over the b (b - 1) p negative pairs and without its 1e-6
               inside the log (ctr's definition, docs/local-global.md).
  amdim        AMDIM's NCE (Philip-Bachman/amdim-public, costs.py,
               LossMultiNCE._loss_g2l / NCE_MI_MULTI): scores / sqrt(d),
               lgt_reg = 0.05 mean(s^2), tanh_clip at 20, self pairs
               excluded from the denominator; loss = -mean(nce) + lgt_reg.

Inputs are float32-representable and written beside the results, one array
per line: "<case>_<name> <count> v0 v1 ..." (tests/golden_util.h). g is
b x d, l is channels-first b x d x p (DIM's layout).

Run: /usr/bin/python3 tests/gen_local_global.py > tests/data/local_global_golden.txt
"""
import math

import torch
import torch.nn.functional as F

gen = torch.Generator().manual_seed(20190220)


def randn(*shape, scale=1.0):
    return (torch.randn(*shape, generator=gen) * scale).float().double()


def emit(case, name, value):
    flat = value.detach().reshape(-1).tolist()
    print("%s_%s %d %s" % (case, name, len(flat), " ".join(repr(float(v)) for v in flat)))


def dim_infonce(l, m):
    N, units, n_locals = l.size()
    _, _, n_multis = m.size()
    l_p = l.permute(0, 2, 1)
    m_p = m.permute(0, 2, 1)
    l_n = l_p.reshape(-1, units)
    m_n = m_p.reshape(-1, units)
    u_p = torch.matmul(l_p, m).unsqueeze(2)
    u_n = torch.mm(m_n, l_n.t())
    u_n = u_n.reshape(N, n_multis, N, n_locals).permute(0, 2, 3, 1)
    mask = torch.eye(N)[:, :, None, None]
    n_mask = 1 - mask
    u_n = (n_mask * u_n) - (10. * (1 - n_mask))
    u_n = u_n.reshape(N, N * n_locals, n_multis).unsqueeze(dim=1).expand(-1, n_locals, -1, -1)
    pred_lgt = torch.cat([u_p, u_n], dim=2)
    pred_log = F.log_softmax(pred_lgt, dim=2)
    return -pred_log[:, :, 0].mean()


def dim_jsd(l, m):
    N, units, n_locals = l.size()
    n_multis = m.size(2)
    l = l.permute(0, 2, 1).reshape(-1, units)
    m = m.permute(0, 2, 1).reshape(-1, units)
    u = torch.mm(m, l.t())
    u = u.reshape(N, n_multis, N, n_locals).permute(0, 2, 3, 1)
    mask = torch.eye(N)
    n_mask = 1 - mask
    log_2 = math.log(2.)
    e_pos = (log_2 - F.softplus(-u)).mean(2).mean(2)
    e_neg = (F.softplus(-u) + u - log_2).mean(2).mean(2)
    e_pos = (e_pos * mask).sum() / mask.sum()
    e_neg = (e_neg * n_mask).sum() / n_mask.sum()
    return e_neg - e_pos + 2 * log_2


def dim_dv(l, m):
    N, units, n_locals = l.size()
    l = l.permute(0, 2, 1).reshape(-1, units)
    m = m.permute(0, 2, 1).reshape(-1, units)
    u = torch.mm(m, l.t()).reshape(N, N, n_locals)
    mask = torch.eye(N)[:, :, None].expand(N, N, n_locals)
    n_mask = 1 - mask
    e_pos = (u * mask).sum() / mask.sum()
    u = u - 100 * (1 - n_mask)
    u_max = torch.max(u)
    e_neg = torch.log((n_mask * torch.exp(u - u_max)).sum()) + u_max - math.log(n_mask.sum())
    return e_neg - e_pos


def tanh_clip(x, clip_val=10.):
    return clip_val * torch.tanh((1. / clip_val) * x)


def amdim(r_src, r_trg, n_locs, tclip=20.):
    # r_src (n_batch, n_rkhs), r_trg (n_rkhs, n_batch * n_locs), as costs.py
    n_batch = r_src.size(0)
    n_rkhs = r_src.size(1)
    mask_mat = torch.eye(n_batch)
    mask_pos = mask_mat.unsqueeze(dim=2).expand(-1, -1, n_locs).to(r_src.dtype)
    mask_neg = 1. - mask_pos
    raw_scores = torch.mm(r_src, r_trg).reshape(n_batch, n_batch, n_locs)
    raw_scores = raw_scores / n_rkhs ** 0.5
    lgt_reg = 5e-2 * (raw_scores ** 2.).mean()
    raw_scores = tanh_clip(raw_scores, clip_val=tclip)
    pos_scores = (mask_pos * raw_scores).sum(dim=1)
    neg_scores = (mask_neg * raw_scores) - (tclip * mask_pos)
    neg_scores = neg_scores.reshape(n_batch, -1)
    mask_neg = mask_neg.reshape(n_batch, -1)
    neg_maxes = torch.max(neg_scores, dim=1, keepdim=True)[0]
    neg_sumexp = (mask_neg * torch.exp(neg_scores - neg_maxes)).sum(dim=1, keepdim=True)
    all_logsumexp = torch.log(torch.exp(pos_scores - neg_maxes) + neg_sumexp)
    pos_shiftexp = pos_scores - neg_maxes
    nce_scores = pos_shiftexp - all_logsumexp
    return -nce_scores.mean() + lgt_reg


def case(name, b, d, p, fn, scale=1.0):
    g = randn(b, d, scale=scale).requires_grad_()
    l = randn(b, d, p, scale=scale).requires_grad_()
    loss = fn(g, l)
    loss.backward()
    emit(name, "g", g)
    emit(name, "l", l)
    emit(name, "loss", loss.reshape(1))
    emit(name, "grad_g", g.grad)
    emit(name, "grad_l", l.grad)


def amdim_fn(p):
    def fn(g, l):
        r_trg = l.permute(1, 0, 2).reshape(l.size(1), -1)  # (d, b * p)
        return amdim(g, r_trg, p)
    return fn


def main():
    torch.set_default_dtype(torch.float64)
    case("infonce", 5, 7, 9, lambda g, l: dim_infonce(l, g.unsqueeze(2)), 0.6)
    case("jsd", 4, 6, 5, lambda g, l: dim_jsd(l, g.unsqueeze(2)), 0.6)
    case("dv", 4, 6, 5, lambda g, l: dim_dv(l, g.unsqueeze(2)), 0.6)
    case("amdim", 6, 16, 7, amdim_fn(7), 3.0)


if __name__ == "__main__":
    main()
