#!/usr/bin/python3
"""Golden values for tests/check_dcl.c, computed by PyTorch (float64).

  dcl_ntxent   the decoupled contrastive loss (Yeh et al. 2022, the
               authors' DCL module): NT-Xent over cat(z1, z2) with the self
               similarity and the positive both left out of the
               log-sum-exp; loss = mean over the 2B rows of
               logsumexp(negatives) - positive.
  dcl_infonce  in-batch InfoNCE with the diagonal out of the denominator,
               symmetric (mean of both directions), normalised rows.
  ntxent_tau   SimCLR's NT-Xent (masked self similarity, cross-entropy)
               with the temperature a leaf tensor: d loss / d tau.
  clip_tau     CLIP's loss (symmetric in-batch cross-entropy of
               normalised rows, logits * exp(t)) : d loss / d t with
               t = log(1 / tau), the form CLIP learns.
  moco_tau     MoCo's loss (positive key + queue, cross-entropy with
               label 0): d loss / d tau.
Every case also writes d loss / d tau (tau_grad) and the input gradients.
Inputs are drawn from a seeded generator and rounded to float32, so the C
test reads exactly these values.

Run: /usr/bin/python3 tests/gen_dcl.py > tests/data/dcl_golden.txt
"""
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
gen = torch.Generator().manual_seed(20220514)


def randn(*shape):
    return torch.randn(*shape, generator=gen).float().double()


def emit(prefix, **fields):
    # golden_util.h format: "name count v0 v1 ..." per array
    for key, value in fields.items():
        if isinstance(value, torch.Tensor):
            flat = value.detach().reshape(-1).tolist()
        else:
            flat = [value]
        print(prefix + "_" + key, len(flat), " ".join(repr(float(v)) for v in flat))


def leaf(x):
    return x.clone().requires_grad_()


def dcl_ntxent():
    b, d = 6, 8
    z1, z2 = leaf(randn(b, d)), leaf(randn(b, d))
    tau = torch.tensor(0.2, requires_grad=True)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.t() / tau
    n = 2 * b
    pos_idx = torch.cat([torch.arange(b) + b, torch.arange(b)])
    pos = sim[torch.arange(n), pos_idx]
    mask = torch.eye(n, dtype=torch.bool)
    mask[torch.arange(n), pos_idx] = True
    neg = sim.masked_fill(mask, float("-inf"))
    loss = (torch.logsumexp(neg, dim=1) - pos).mean()
    loss.backward()
    emit("dcl_ntxent", b=b, d=d, tau=tau, z1=z1, z2=z2, loss=loss,
         grad_z1=z1.grad, grad_z2=z2.grad, tau_grad=tau.grad)


def dcl_infonce():
    b, d = 7, 5
    a, p = leaf(randn(b, d)), leaf(randn(b, d))
    tau = torch.tensor(0.3, requires_grad=True)
    s = F.normalize(a, dim=1) @ F.normalize(p, dim=1).t() / tau
    eye = torch.eye(b, dtype=torch.bool)

    def direction(m):
        return (torch.logsumexp(m.masked_fill(eye, float("-inf")), dim=1)
                - m.diagonal()).mean()

    loss = 0.5 * (direction(s) + direction(s.t()))
    loss.backward()
    emit("dcl_infonce", b=b, d=d, tau=tau, a=a, p=p, loss=loss,
         grad_a=a.grad, grad_p=p.grad, tau_grad=tau.grad)


def ntxent_tau():
    b, d = 5, 6
    z1, z2 = leaf(randn(b, d)), leaf(randn(b, d))
    tau = torch.tensor(0.1, requires_grad=True)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.t() / tau).masked_fill(torch.eye(2 * b, dtype=torch.bool),
                                        float("-inf"))
    labels = torch.cat([torch.arange(b) + b, torch.arange(b)])
    loss = F.cross_entropy(sim, labels)
    loss.backward()
    emit("ntxent_tau", b=b, d=d, tau=tau, z1=z1, z2=z2, loss=loss,
         grad_z1=z1.grad, grad_z2=z2.grad, tau_grad=tau.grad)


def clip_tau():
    b, d = 8, 4
    img, txt = leaf(randn(b, d)), leaf(randn(b, d))
    t = torch.tensor(2.6592, requires_grad=True)  # CLIP's init log(1/0.07)
    logits = F.normalize(img, dim=1) @ F.normalize(txt, dim=1).t() * t.exp()
    labels = torch.arange(b)
    loss = 0.5 * (F.cross_entropy(logits, labels)
                  + F.cross_entropy(logits.t(), labels))
    loss.backward()
    emit("clip_tau", b=b, d=d, logit_scale=t, a=img, p=txt, loss=loss,
         grad_a=img.grad, grad_p=txt.grad, logit_scale_grad=t.grad)


def moco_tau():
    b, d, k = 4, 8, 30
    q, key = leaf(randn(b, d)), randn(b, d)
    queue = F.normalize(randn(k, d), dim=1).float().double()
    tau = torch.tensor(0.07, requires_grad=True)
    qn, kn = F.normalize(q, dim=1), F.normalize(key, dim=1)
    logits = torch.cat([(qn * kn).sum(1, keepdim=True), qn @ queue.t()], 1)
    loss = F.cross_entropy(logits / tau, torch.zeros(b, dtype=torch.long))
    loss.backward()
    emit("moco_tau", b=b, d=d, k=k, tau=tau, q=q, key=key, queue=queue,
         loss=loss, grad_q=q.grad, tau_grad=tau.grad)


if __name__ == "__main__":
    print("generated_by_gen_dcl.py_torch_" + torch.__version__, 0)
    dcl_ntxent()
    dcl_infonce()
    ntxent_tau()
    clip_tau()
    moco_tau()
