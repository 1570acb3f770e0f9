"""Objective: contrastive losses with exact gradients in one call
(contrastive/objective.h, bilinear.h, cpc.h, local_global.h).

Every compute method takes float32 matrices (rows x d; C-contiguous or with
a row stride: slices of a larger array pass without a copy) and returns
(loss, grad, ...): the mean loss as a float and the gradients as new
float32 arrays (or written into `out=`, a tuple of arrays of the inputs'
shapes), or None for each gradient with grads=False."""
import ctypes

import numpy as np

from ._base import (apply_params, Handle, Params, Persistent, check, create, matrix,
                    output, ptr, vector, F32)
from ._lib import lib
from .constants import ObjectiveKind, ObjectiveParam as P, ObjectiveStat as S
from .errors import ShapeError

__all__ = ["Objective", "CpcArgs", "LocalGlobalArgs"]

_byref = ctypes.byref
_c_double = ctypes.c_double
_nd = np.ndarray
_empty = np.empty


def _outs(out, n, shapes, grads, ins=()):
    if not grads:
        return (None,) * n
    if out is None:
        return tuple(np.empty(s, F32) for s in shapes)
    if len(out) != n:
        raise ValueError("out: expected a tuple of %d arrays" % n)
    res = tuple(None if o is None else output("out[%d]" % i, o, s)
                for i, (o, s) in enumerate(zip(out, shapes)))
    _no_overlap(res, ins)
    return res


def _no_overlap(outs, ins):
    """The library's rule: gradient outputs must not overlap an input."""
    for i, o in enumerate(outs):
        if o is None:
            continue
        for x in ins:
            if isinstance(x, np.ndarray) and np.may_share_memory(o, x):
                raise ValueError("out[%d] overlaps an input: gradients need their "
                                 "own memory" % i)


def _fast_out(out, shape):
    """out is a pair of new-looking C-contiguous writeable float32 arrays."""
    if type(out) is not tuple or len(out) != 2:
        return False
    for o in out:
        if type(o) is not _nd or o.dtype is not F32 or o.shape != shape:
            return False
        f = o.flags
        if not (f.c_contiguous and f.writeable):
            return False
    return True


def _ids(name, ids, n):
    return None if ids is None else vector(name, ids, n)


class Objective(Params, Persistent, Handle):
    """An objective of one kind (ObjectiveKind) with its hyper-parameters:

        obj = Objective(ObjectiveKind.NTXENT, temperature=0.5)
        loss, g1, g2 = obj.ntxent(z1, z2)
    """
    _prefix = "objective"

    def __init__(self, kind, **params):
        self._own(create(lib.ctr_objective_create, int(kind)))
        apply_params(self, params)

    @property
    def kind(self):
        return ObjectiveKind(lib.ctr_objective_kind(self.handle))

    def stat(self, stat):
        """A statistic (ObjectiveStat) of the last successful call."""
        v = _c_double()
        check(lib.ctr_objective_stat(self.handle, int(stat), _byref(v)))
        return v.value

    def stats(self):
        """Every statistic available now, as a dict by lower-case name."""
        out = {}
        for s in S:
            v = _c_double()
            if lib.ctr_objective_stat(self.handle, int(s), _byref(v)) == 0:
                out[s.name.lower()] = v.value
        return out

    def workspace_size(self, b, d, k=0):
        v = ctypes.c_size_t()
        check(lib.ctr_objective_workspace_size(self.handle, _byref(v), b, d, k))
        return v.value

    def reset(self):
        self._check(lib.ctr_objective_reset(self.handle))

    # ---- in-batch kinds ------------------------------------------------------
    def _inbatch(self, fn, a, p, groups, grads, out, names, npair=False):
        h = self._h
        if (type(a) is _nd and type(p) is _nd and a.dtype is F32
                and p.dtype is F32 and a.ndim == 2 and a.shape == p.shape
                and a.flags.c_contiguous and p.flags.c_contiguous and h is not None
                and (out is None or (grads and _fast_out(out, a.shape)))):
            # the common case, kept short: contiguous float32 pairs, new
            # gradients in one block (docs/python.md, call overhead)
            b, d = a.shape
            lda = ldp = d
            if out is not None:
                ga, gp = out
                pa, pp = ptr(ga), ptr(gp)
                n = 4 * b * d   # all four are contiguous blocks of n bytes
                x, y = ptr(a), ptr(p)
                for o in (pa, pp):
                    if (o < x + n and x < o + n) or (o < y + n and y < o + n):
                        _no_overlap(out, (a, p))   # raises with the message
            elif grads and b and d:
                block = _empty((2, b, d), F32)
                base = ptr(block)
                ga, gp = block[0], block[1]
                pa, pp = base, base + 4 * b * d
            else:
                ga = gp = pa = pp = None
        else:
            b, d, lda = matrix(names[0], a)
            _, _, ldp = matrix(names[1], p, b, d)
            ga, gp = _outs(out, 2, ((b, d), (b, d)), grads, (a, p))
            pa, pp = ptr(ga), ptr(gp)
            h = self.handle
        loss = _c_double()
        if npair:
            rc = fn(h, _byref(loss), ptr(a), lda, ptr(p), ldp, b, d, pa, pp)
        else:
            g = None if groups is None else ptr(vector("groups", groups, b))
            rc = fn(h, _byref(loss), ptr(a), lda, ptr(p), ldp, b, d, g, pa, pp)
        if rc:
            self._check(rc)
        return loss.value, ga, gp

    def ntxent(self, z1, z2, groups=None, grads=True, out=None):
        """NT-Xent (SimCLR) over the 2b views [z1; z2] (kind NTXENT).
        Returns (loss, grad_z1, grad_z2)."""
        return self._inbatch(lib.ctr_objective_ntxent, z1, z2, groups, grads, out,
                             ("z1", "z2"))

    def infonce(self, a, p, groups=None, grads=True, out=None):
        """InfoNCE with in-batch negatives (kind INFONCE).
        Returns (loss, grad_a, grad_p)."""
        return self._inbatch(lib.ctr_objective_infonce, a, p, groups, grads, out,
                             ("a", "p"))

    def npair(self, a, p, grads=True, out=None):
        """Multi-class N-pair loss (kind NPAIR). Returns (loss, grad_a, grad_p)."""
        return self._inbatch(lib.ctr_objective_npair, a, p, None, grads, out,
                             ("a", "p"), npair=True)

    # ---- shared negatives ------------------------------------------------------
    def infonce_shared(self, q, k, neg, q_ids=None, neg_ids=None, grads=True,
                       grad_neg=False, out=None):
        """InfoNCE against negatives shared by all anchors (kind
        INFONCE_SHARED): neg is (kneg, d). Returns (loss, grad_q, grad_k,
        grad_neg); grad_neg is None unless grad_neg=True."""
        b, d, ldq = matrix("q", q)
        _, _, ldk = matrix("k", k, b, d)
        kneg, _, ldn = matrix("neg", neg, None, d)
        if (q_ids is None) != (neg_ids is None):
            raise ValueError("q_ids and neg_ids: give both or neither")
        gq, gk = _outs(out[:2] if out else None, 2, ((b, d), (b, d)), grads, (q, k, neg))
        gn = None
        if grad_neg:
            gn = _outs(out[2:] if out and len(out) > 2 else None, 1, ((kneg, d),), True,
                      (q, k, neg))[0]
        loss = _c_double()
        self._check(lib.ctr_objective_infonce_shared(
            self.handle, _byref(loss), ptr(q), ldq, ptr(k), ldk, b, d, ptr(neg), ldn, kneg,
            ptr(_ids("q_ids", q_ids, b)), ptr(_ids("neg_ids", neg_ids, kneg)),
            ptr(gq), ptr(gk), ptr(gn)))
        return loss.value, gq, gk, gn

    def infonce_queue(self, q, k, queue, q_ids=None, grads=True, out=None):
        """InfoNCE with a Queue's valid rows as the negatives (MoCo).
        Returns (loss, grad_q, grad_k)."""
        b, d, ldq = matrix("q", q)
        _, _, ldk = matrix("k", k, b, d)
        if queue.dim != d:
            raise ShapeError("queue: keys of dimension %d, q has %d" % (queue.dim, d))
        gq, gk = _outs(out, 2, ((b, d), (b, d)), grads, (q, k))
        loss = _c_double()
        self._check(lib.ctr_objective_infonce_queue(
            self.handle, _byref(loss), ptr(q), ldq, ptr(k), ldk, b, d, queue.handle,
            ptr(_ids("q_ids", q_ids, b)), ptr(gq), ptr(gk)))
        return loss.value, gq, gk

    # ---- memory bank kinds -----------------------------------------------------
    @staticmethod
    def _bank(bank, d):
        """(pointer, n, ld) of a Bank object or a (n, d) float32 matrix."""
        if hasattr(bank, "_rows_pointer"):
            p, n, ld = bank._rows_pointer()
            if bank.dim != d:
                raise ShapeError("bank: rows of dimension %d, z has %d" % (bank.dim, d))
            return p, n, ld
        n, _, ld = matrix("bank", bank, None, d)
        return ptr(bank), n, ld

    def nce(self, z, bank, self_idx, noise_idx, grads=True, out=None):
        """NCE against a memory bank (kind NCE): bank is a Bank or an (n, d)
        matrix, self_idx (b,) int64, noise_idx (b, kn) int64.
        Returns (loss, grad_z)."""
        b, d, ldz = matrix("z", z)
        bp, n, ldb = self._bank(bank, d)
        vector("self_idx", self_idx, b)
        if not isinstance(noise_idx, np.ndarray) or noise_idx.dtype != np.int64 \
                or noise_idx.ndim != 2 or noise_idx.shape[0] != b \
                or not noise_idx.flags.c_contiguous:
            raise ShapeError("noise_idx: expected a C-contiguous int64 array of shape "
                             "(%d, kn), got %s" % (b, getattr(noise_idx, "shape", None)))
        (gz,) = _outs(out, 1, ((b, d),), grads, (z, bank))
        loss = _c_double()
        self._check(lib.ctr_objective_nce(
            self.handle, _byref(loss), ptr(z), ldz, b, d, bp, ldb, n, ptr(self_idx),
            ptr(noise_idx), noise_idx.shape[1], ptr(gz)))
        return loss.value, gz

    def bank_softmax(self, z, bank, self_idx, grads=True, out=None):
        """Full-softmax instance discrimination over a bank (kind
        BANK_SOFTMAX). Returns (loss, grad_z)."""
        b, d, ldz = matrix("z", z)
        bp, n, ldb = self._bank(bank, d)
        vector("self_idx", self_idx, b)
        (gz,) = _outs(out, 1, ((b, d),), grads, (z, bank))
        loss = _c_double()
        self._check(lib.ctr_objective_bank_softmax(
            self.handle, _byref(loss), ptr(z), ldz, b, d, bp, ldb, n, ptr(self_idx),
            ptr(gz)))
        return loss.value, gz

    # ---- CURL's bilinear critic -----------------------------------------------
    def bilinear(self, q, k, w, grads=True, grad_k=True, out=None):
        """CURL's bilinear critic (kind BILINEAR): w is (d, d) C-contiguous.
        Returns (loss, grad_q, grad_k, grad_w); grad_k None with
        grad_k=False (CURL's EMA key encoder)."""
        b, d, ldq = matrix("q", q)
        _, _, ldk = matrix("k", k, b, d)
        matrix("w", w, d, d)
        if not w.flags.c_contiguous:
            raise ShapeError("w: must be C-contiguous (d x d)")
        gq, gk, gw = _outs(out, 3, ((b, d), (b, d), (d, d)), grads, (q, k, w))
        if not grad_k:
            gk = None
        loss = _c_double()
        self._check(lib.ctr_objective_bilinear(
            self.handle, _byref(loss), ptr(q), ldq, ptr(k), ldk, b, d, ptr(w),
            ptr(gq), ptr(gk), ptr(gw)))
        return loss.value, gq, gk, gw

    # ---- struct-argument kinds (low level) -------------------------------------
    def cpc(self, args):
        """The CPC critic (kind CPC) on a filled CpcArgs struct (the
        caller keeps the arrays its pointers name alive). Returns the loss."""
        loss = _c_double()
        self._check(lib.ctr_objective_cpc(self.handle, _byref(args), _byref(loss)))
        return loss.value

    def local_global(self, args):
        """The DIM / AMDIM local-global objective (kind LOCAL_GLOBAL) on a
        filled LocalGlobalArgs struct. Returns the loss."""
        loss = _c_double()
        self._check(lib.ctr_objective_local_global(self.handle, _byref(loss),
                                                   _byref(args)))
        return loss.value


for _name, _param, _doc in (
        ("temperature", P.TEMPERATURE, "temperature tau"),
        ("normalize", P.NORMALIZE, "L2-normalise rows inside the call (0/1)"),
        ("symmetric", P.SYMMETRIC, "symmetric loss (INFONCE, NPAIR; 0/1)"),
        ("tile", P.TILE, "negatives per tile"),
        ("npair_lambda", P.NPAIR_LAMBDA, "N-pair regulariser weight"),
        ("nce_z_mode", P.NCE_Z_MODE, "NCE normaliser mode (NceZMode)"),
        ("nce_momentum", P.NCE_MOMENTUM, "NCE EMA momentum")):
    from ._base import param_property as _pp
    setattr(Objective, _name, _pp(_param, _doc))


_p = ctypes.c_void_p
_i64 = ctypes.c_int64


class CpcArgs(ctypes.Structure):
    """ctr_cpc_args (contrastive/cpc.h); create with CpcArgs.new() so that
    struct_size and the defaults are set by ctr_cpc_args_init."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32), ("negatives", ctypes.c_int32),
        ("b", _i64), ("t", _i64), ("d", _i64), ("dc", _i64), ("steps", _i64),
        ("z", _p), ("z_seq_stride", _i64), ("z_time_stride", _i64),
        ("c", _p), ("c_seq_stride", _i64), ("c_time_stride", _i64),
        ("w", _p), ("bias", _p), ("n_neg", _i64), ("rng", _p), ("neg_idx", _p),
        ("grad_z", _p), ("grad_c", _p), ("grad_w", _p), ("grad_bias", _p),
        ("step_acc", _p),
    ]

    @classmethod
    def new(cls):
        a = cls()
        check(lib.ctr_cpc_args_init(_byref(a)))
        return a


class LocalGlobalArgs(ctypes.Structure):
    """ctr_local_global_args (contrastive/local_global.h); create with
    LocalGlobalArgs.new() (ctr_local_global_args_init's defaults)."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32), ("estimator", ctypes.c_int32),
        ("b", _i64), ("p", _i64), ("d", _i64), ("g", _p), ("ldg", _i64),
        ("l", _p), ("l_batch_stride", _i64), ("l_pos_stride", _i64),
        ("l_chan_stride", _i64), ("self_mask", ctypes.c_int32),
        ("scale_sqrt_d", ctypes.c_int32), ("clip", ctypes.c_double),
        ("penalty", ctypes.c_double), ("grad_g", _p), ("grad_l", _p),
    ]

    @classmethod
    def new(cls):
        a = cls()
        check(lib.ctr_local_global_args_init(_byref(a)))
        return a
