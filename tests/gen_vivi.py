#!/usr/bin/python3
"""Golden values for the VIVI example's two-level loss (tests/check_vivi.c,
examples/vivi/vivi_loss.c), computed by PyTorch in float64. Each level is
written in the form of the supervised-contrastive reference code
(HobbitLong/SupContrast, losses.py, SupConLoss with contrast_mode "all",
one view, base_temperature = temperature so that no extra scale applies):

    anchor_dot_contrast = torch.div(torch.matmul(f, f.T), temperature)
    logits = anchor_dot_contrast - logits_max.detach()
    mask = eq(labels, labels.T) * logits_mask       # self excluded
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)
    loss = -mean_log_prob_pos.mean()

on F.normalize'd rows: frames grouped by shot (tau_frame), then shots -
the mean of their frames' embeddings, normalised after pooling - grouped
by video (tau_shot); loss = L_frame + lambda L_shot, autograd for the
gradient w.r.t. the frame embeddings.

One array per line "<case>_<name> <count> v0 v1 ..." (tests/golden_util.h);
labels are written as floats.

Run: /usr/bin/python3 tests/gen_vivi.py > tests/data/vivi_golden.txt
"""
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
gen = torch.Generator().manual_seed(20191205)


def emit(case, name, value):
    flat = value.detach().reshape(-1).tolist()
    print("%s_%s %d %s" % (case, name, len(flat), " ".join(repr(float(v)) for v in flat)))


def supcon(features, labels, temperature):
    n = features.shape[0]
    labels = labels.contiguous().view(-1, 1)
    mask = torch.eq(labels, labels.T).double()
    anchor_dot_contrast = torch.div(torch.matmul(features, features.T), temperature)
    logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
    logits = anchor_dot_contrast - logits_max.detach()
    logits_mask = torch.ones(n, n) - torch.eye(n)
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)
    return -mean_log_prob_pos.mean()


def run(case, frame_shot, shot_video, d, tau_frame, tau_shot, lam):
    frame_shot = torch.tensor(frame_shot)
    shot_video = torch.tensor(shot_video)
    n, k = frame_shot.shape[0], shot_video.shape[0]
    f = torch.randn(n, d, generator=gen).float().double().requires_grad_()
    lf = supcon(F.normalize(f, dim=1), frame_shot, tau_frame)
    counts = torch.zeros(k).index_add_(0, frame_shot, torch.ones(n))
    pooled = torch.zeros(k, d).index_add(0, frame_shot, f) / counts[:, None]
    ls = supcon(F.normalize(pooled, dim=1), shot_video, tau_shot)
    loss = lf + lam * ls
    loss.backward()
    emit(case, "f", f)
    emit(case, "frame_shot", frame_shot.double())
    emit(case, "shot_video", shot_video.double())
    emit(case, "params", torch.tensor([tau_frame, tau_shot, lam]))
    emit(case, "loss", loss.reshape(1))
    emit(case, "frame_loss", lf.reshape(1))
    emit(case, "shot_loss", ls.reshape(1))
    emit(case, "grad", f.grad)


# three videos of two 4-frame shots, in order
run("even", [i // 4 for i in range(24)], [i // 2 for i in range(6)], 8, 0.2, 0.5, 0.7)
# shots of 2-6 frames in shuffled order; videos of 2 and 4 shots
run("uneven", [3, 1, 2, 0, 5, 2, 1, 4, 2, 5, 0, 2, 1, 5, 2, 4, 3, 1, 5, 2],
    [1, 0, 1, 1, 0, 1], 6, 0.1, 0.3, 2.0)
