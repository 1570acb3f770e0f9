"""PyTorch adapter: the library's objectives as differentiable losses.

    from contrastive.torch import NTXentLoss
    loss_fn = NTXentLoss(temperature=0.5)
    loss = loss_fn(z1, z2)          # z1, z2: (b, d) float32 CPU tensors
    loss.backward()

Each loss is a torch.autograd.Function: forward calls the C library once,
which returns the loss and the exact gradients of every input that
requires them (tensors are passed as numpy views, without copies); backward
scales the saved gradients by the incoming gradient. Only float32 CPU
tensors are accepted (TypeError otherwise). Importable only where torch is
installed (ImportError otherwise; CONTRASTIVE_NO_TORCH=1 simulates that).

Losses: NTXentLoss, InfoNCELoss (in-batch), InfoNCEQueueLoss (a Queue),
InfoNCESharedLoss (a negatives tensor), NPairLoss, NCELoss,
BankSoftmaxLoss; the functional forms ntxent, infonce, infonce_queue,
infonce_shared, npair, bank_softmax take the same hyper-parameters.
Each module owns one Objective handle (its workspace is reused across
calls; NCE's normaliser Z lives there); a module is used by one thread at
a time, like any handle.
"""
import os
import threading

if os.environ.get("CONTRASTIVE_NO_TORCH"):
    raise ImportError("contrastive.torch disabled by CONTRASTIVE_NO_TORCH")

import numpy as np
import torch

from .constants import ObjectiveKind as K
from .objective import Objective

__all__ = ["NTXentLoss", "InfoNCELoss", "InfoNCEQueueLoss", "InfoNCESharedLoss",
           "NPairLoss", "NCELoss", "BankSoftmaxLoss", "ntxent", "infonce",
           "infonce_queue", "infonce_shared", "npair", "bank_softmax"]


def _np(name, t):
    if not isinstance(t, torch.Tensor):
        raise TypeError("%s: expected a torch.Tensor, got %s" % (name, type(t).__name__))
    if t.dtype != torch.float32 or t.device.type != "cpu":
        raise TypeError("%s: expected a float32 CPU tensor, got %s on %s"
                        % (name, t.dtype, t.device))
    t = t.detach()
    if t.dim() == 2 and t.shape[1] > 1 and t.stride(1) != 1:
        t = t.contiguous()
    return t.numpy()


def _ids(name, t):
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        t = t.detach().to(torch.int64).contiguous().numpy()
    return np.ascontiguousarray(t, dtype=np.int64)


class _LibraryLoss(torch.autograd.Function):
    """forward(ctx, call, names, *tensors): call(arrays, need) -> (loss,
    grads) with grads[i] None where need[i] is False."""

    @staticmethod
    def forward(ctx, call, names, *tensors):
        arrays = [_np(n, t) for n, t in zip(names, tensors)]
        need = ctx.needs_input_grad[2:]
        loss, grads = call(arrays, need)
        ctx.save_for_backward(*[None if g is None else torch.from_numpy(g) for g in grads])
        return torch.tensor(loss, dtype=tensors[0].dtype)

    @staticmethod
    def backward(ctx, grad_out):
        out = []
        for g in ctx.saved_tensors:
            out.append(None if g is None else g * grad_out)
        return (None, None) + tuple(out)


def _out(arrays, need):
    return tuple(np.empty(a.shape, np.float32) if n else None
                 for a, n in zip(arrays, need))


class _Module(torch.nn.Module):
    kind = None
    defaults = {}

    def __init__(self, **params):
        super().__init__()
        p = dict(self.defaults)
        p.update(params)
        self.objective = Objective(self.kind, **p)

    def stats(self):
        """The library's statistics of the last call (accuracy, ...)."""
        return self.objective.stats()


class _PairLoss(_Module):
    """A loss of two (b, d) inputs computed by Objective.<method>."""
    method = None
    names = ("a", "p")

    def forward(self, a, p, groups=None):
        fn = getattr(self.objective, self.method)
        extra = {} if groups is None else {"groups": _ids("groups", groups)}

        def call(arr, need):
            loss, ga, gp = fn(arr[0], arr[1], grads=any(need), out=_out(arr, need), **extra)
            return loss, (ga, gp)
        return _LibraryLoss.apply(call, self.names, a, p)


class NTXentLoss(_PairLoss):
    """NT-Xent (SimCLR) over the 2b views [z1; z2]; temperature, normalize.
    forward(z1, z2, groups=None)."""
    kind, method, names = K.NTXENT, "ntxent", ("z1", "z2")
    defaults = {"temperature": 0.5}


class InfoNCELoss(_PairLoss):
    """InfoNCE with in-batch negatives; temperature, normalize, symmetric.
    forward(a, p, groups=None)."""
    kind, method = K.INFONCE, "infonce"


class NPairLoss(_PairLoss):
    """Multi-class N-pair loss; temperature, npair_lambda, normalize.
    forward(a, p)."""
    kind, method = K.NPAIR, "npair"


class InfoNCESharedLoss(_Module):
    """InfoNCE against shared negatives (kneg, d); the negatives get a
    gradient when they require one."""
    kind = K.INFONCE_SHARED

    def forward(self, q, k, neg, q_ids=None, neg_ids=None):
        obj = self.objective
        qi, ni = _ids("q_ids", q_ids), _ids("neg_ids", neg_ids)

        def call(arr, need):
            out = _out(arr, need)
            loss, gq, gk, gn = obj.infonce_shared(
                arr[0], arr[1], arr[2], q_ids=qi, neg_ids=ni, grads=any(need[:2]),
                grad_neg=bool(need[2]), out=out)
            return loss, (gq, gk, gn)
        return _LibraryLoss.apply(call, ("q", "k", "neg"), q, k, neg)


class InfoNCEQueueLoss(_Module):
    """InfoNCE with a contrastive.Queue's keys as negatives (MoCo)."""
    kind = K.INFONCE_SHARED

    def forward(self, q, k, queue, q_ids=None):
        obj, qi = self.objective, _ids("q_ids", q_ids)

        def call(arr, need):
            loss, gq, gk = obj.infonce_queue(arr[0], arr[1], queue, q_ids=qi,
                                             grads=any(need), out=_out(arr, need))
            return loss, (gq, gk)
        return _LibraryLoss.apply(call, ("q", "k"), q, k)


def _bank_array(bank):
    return bank if hasattr(bank, "_rows_pointer") else _np("bank", bank)


class NCELoss(_Module):
    """NCE against a memory bank (a contrastive.Bank or an (n, d) tensor,
    no gradient); self_idx (b,), noise_idx (b, kn) int64. The module keeps
    the normaliser Z (nce_z_mode, nce_momentum)."""
    kind = K.NCE

    def forward(self, z, bank, self_idx, noise_idx):
        obj, bank = self.objective, _bank_array(bank)
        si = _ids("self_idx", self_idx)
        ni = noise_idx.detach().to(torch.int64).contiguous().numpy() \
            if isinstance(noise_idx, torch.Tensor) else np.ascontiguousarray(noise_idx,
                                                                           np.int64)

        def call(arr, need):
            loss, gz = obj.nce(arr[0], bank, si, ni, grads=need[0], out=_out(arr, need))
            return loss, (gz,)
        return _LibraryLoss.apply(call, ("z",), z)


class BankSoftmaxLoss(_Module):
    """Full-softmax instance discrimination over a bank (no gradient to
    the bank)."""
    kind = K.BANK_SOFTMAX

    def forward(self, z, bank, self_idx):
        obj, bank = self.objective, _bank_array(bank)
        si = _ids("self_idx", self_idx)

        def call(arr, need):
            loss, gz = obj.bank_softmax(arr[0], bank, si, grads=need[0],
                                        out=_out(arr, need))
            return loss, (gz,)
        return _LibraryLoss.apply(call, ("z",), z)


_local = threading.local()


def _module(cls, **params):
    """One module per thread and hyper-parameters (workspace reuse)."""
    cache = _local.__dict__.setdefault("modules", {})
    key = (cls, tuple(sorted(params.items())))
    m = cache.get(key)
    if m is None:
        m = cache[key] = cls(**params)
    return m


def ntxent(z1, z2, temperature=0.5, normalize=1, groups=None):
    return _module(NTXentLoss, temperature=temperature, normalize=normalize)(z1, z2, groups)


def infonce(a, p, temperature=0.07, normalize=0, symmetric=0, groups=None):
    return _module(InfoNCELoss, temperature=temperature, normalize=normalize,
                   symmetric=symmetric)(a, p, groups)


def infonce_shared(q, k, neg, temperature=0.07, normalize=0, q_ids=None, neg_ids=None):
    return _module(InfoNCESharedLoss, temperature=temperature,
                   normalize=normalize)(q, k, neg, q_ids, neg_ids)


def infonce_queue(q, k, queue, temperature=0.07, normalize=0, q_ids=None):
    return _module(InfoNCEQueueLoss, temperature=temperature,
                   normalize=normalize)(q, k, queue, q_ids)


def npair(a, p, temperature=1.0, npair_lambda=0.002, normalize=0):
    return _module(NPairLoss, temperature=temperature, npair_lambda=npair_lambda,
                   normalize=normalize)(a, p)


def bank_softmax(z, bank, self_idx, temperature=0.07, normalize=0):
    return _module(BankSoftmaxLoss, temperature=temperature,
                   normalize=normalize)(z, bank, self_idx)
