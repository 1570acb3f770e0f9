"""The torch adapter: loss and gradients against PyTorch's own
implementations (float64 references on the same float32 inputs), within
1e-5. Skipped where torch is not installed."""
import pytest

ct = pytest.importorskip("contrastive.torch")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import contrastive as ctr  # noqa: E402

TOL = 1e-5


def leaves(*shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g).requires_grad_() for s in shapes]


def compare(ours, ref, inputs):
    """ours/ref: callables of the inputs returning the loss."""
    lo = ours(*inputs)
    go = torch.autograd.grad(lo, [t for t in inputs if t.requires_grad])
    ref_in = [t.detach().double().requires_grad_(t.requires_grad) for t in inputs]
    lr = ref(*ref_in)
    gr = torch.autograd.grad(lr, [t for t in ref_in if t.requires_grad])
    assert abs(lo.item() - lr.item()) <= TOL * max(1.0, abs(lr.item()))
    for a, b in zip(go, gr):
        assert torch.allclose(a.double(), b, atol=TOL, rtol=0), (a - b).abs().max()
    return lo


def torch_ntxent(z1, z2, tau):
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.t() / tau).masked_fill(torch.eye(2 * b, dtype=torch.bool), float("-inf"))
    labels = torch.cat([torch.arange(b) + b, torch.arange(b)])
    return F.cross_entropy(sim, labels)


def test_ntxent_module_and_functional():
    z1, z2 = leaves((16, 32), (16, 32))
    loss_fn = ct.NTXentLoss(temperature=0.2)
    compare(loss_fn, lambda a, b: torch_ntxent(a, b, 0.2), [z1, z2])
    compare(lambda a, b: ct.ntxent(a, b, temperature=0.5),
            lambda a, b: torch_ntxent(a, b, 0.5), [z1, z2])
    assert "accuracy" in loss_fn.stats()


def test_infonce_in_batch_symmetric_and_npair():
    a, p = leaves((12, 8), (12, 8), seed=1)
    labels = torch.arange(12)
    compare(lambda x, y: ct.infonce(x, y, temperature=0.1),
            lambda x, y: F.cross_entropy(x @ y.t() / 0.1, labels), [a, p])

    def clip(x, y):
        logits = F.normalize(x, dim=1) @ F.normalize(y, dim=1).t() / 0.07
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))
    compare(lambda x, y: ct.infonce(x, y, temperature=0.07, normalize=1, symmetric=1),
            clip, [a, p])
    lam = 0.002
    compare(lambda x, y: ct.npair(x, y, npair_lambda=lam),
            lambda x, y: F.cross_entropy(x @ y.t(), labels) + lam * 0.5 * (
                (x * x).sum(1).mean() + (y * y).sum(1).mean()), [a, p])


def moco_ref(q, k, neg, tau):
    l_pos = (q * k).sum(1, keepdim=True)
    logits = torch.cat([l_pos, q @ neg.t()], 1) / tau
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))


def test_infonce_queue_and_shared():
    q, k, neg = leaves((8, 16), (8, 16), (40, 16), seed=2)
    k = k.detach()  # MoCo's key encoder gets no gradient
    neg_d = neg.detach()
    with ctr.Queue(64, 16) as queue:
        queue.enqueue(neg_d.numpy())
        compare(lambda a, b: ct.infonce_queue(a, b, queue, temperature=0.2),
                lambda a, b: moco_ref(a, b, neg_d.double(), 0.2), [q, k])
    compare(lambda a, b, n: ct.infonce_shared(a, b, n, temperature=0.2),
            lambda a, b, n: moco_ref(a, b, n, 0.2), [q, k, neg])


def test_bank_softmax_and_nce():
    z, = leaves((6, 8), seed=3)
    bank = F.normalize(torch.randn(50, 8, generator=torch.Generator().manual_seed(4)), dim=1)
    idx = torch.tensor([0, 7, 9, 3, 30, 49])
    compare(lambda x: ct.bank_softmax(x, bank, idx, temperature=0.1),
            lambda x: F.cross_entropy(x @ bank.double().t() / 0.1, idx), [z])
    noise = torch.randint(50, (6, 5), generator=torch.Generator().manual_seed(5))
    n, kn, tau = 50, 5, 0.1
    nce = ct.NCELoss(temperature=tau)    # Z fixed from this first batch

    def nce_ref(x):
        bd = bank.double()
        pos = torch.exp((x * bd[idx]).sum(1) / tau)
        neg = torch.exp(torch.einsum("bd,bkd->bk", x, bd[noise]) / tau)
        z_norm = (n * torch.cat([pos[:, None], neg], 1).mean()).detach()
        pos, neg = pos / z_norm, neg / z_norm
        c = kn / n
        return (-torch.log(pos / (pos + c)) - torch.log(1 - neg / (neg + c)).sum(1)).mean()
    compare(lambda x: nce(x, bank, idx, noise), nce_ref, [z])


def test_only_requested_gradients_and_scaled_backward():
    z1, z2 = leaves((4, 8), (4, 8), seed=6)
    z2 = z2.detach()
    loss = 3.0 * ct.ntxent(z1, z2)
    loss.backward()
    ref = leaves((4, 8), seed=6)[0]
    (3.0 * torch_ntxent(ref, z2, 0.5)).backward()
    assert torch.allclose(z1.grad, ref.grad, atol=1e-5) and z2.grad is None


def test_views_and_errors():
    big, = leaves((8, 40), seed=7)
    z1, z2 = big[:, :16], big[:, 20:36]    # strided views: passed as they are
    compare(lambda a, b: ct.ntxent(a, b), lambda a, b: torch_ntxent(a, b, 0.5), [z1, z2])
    l1 = ct.ntxent(z1, z2)
    l2 = ct.ntxent(z1.contiguous(), z2.contiguous())
    assert l1.item() == l2.item()
    with pytest.raises(TypeError, match="float32"):
        ct.ntxent(z1.double(), z2.double())
    with pytest.raises(ctr.ShapeError):
        ct.ntxent(z1, z2[:4])
    with pytest.raises(ctr.NumericError):
        ct.ntxent(torch.full((4, 8), float("nan")), torch.ones(4, 8))
