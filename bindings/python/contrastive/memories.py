"""Queue (MoCo's momentum queue) and Bank (Instance Discrimination's memory
bank): contrastive/queue.h, contrastive/bank.h."""
import ctypes

import numpy as np

from ._base import (Handle, Params, Persistent, check, create, matrix, output, ptr,
                    vector, F64, I64)
from ._lib import lib
from .constants import BankParam, QueueFlag, QueueProp

__all__ = ["Queue", "Bank"]


class Queue(Persistent, Handle):
    """A FIFO of `capacity` keys of `dim` floats (flags: QueueFlag)."""
    _prefix = "queue"

    def __init__(self, capacity, dim, flags=0, seed=0):
        self._own(create(lib.ctr_queue_create, capacity, dim, int(flags),
                         ctypes.c_uint64(seed % (1 << 64))))
        self._loaded()

    def _loaded(self):
        self.dim = self._prop(QueueProp.DIM)
        self.capacity = self._prop(QueueProp.CAPACITY)
        self.flags = QueueFlag(self._prop(QueueProp.FLAGS))

    def _prop(self, p):
        v = ctypes.c_int64()
        check(lib.ctr_queue_get_i64(self.handle, int(p), ctypes.byref(v)))
        return v.value

    @property
    def count(self):
        """Valid rows now."""
        return self._prop(QueueProp.COUNT)

    @property
    def total(self):
        return self._prop(QueueProp.TOTAL)

    @property
    def write_pos(self):
        return self._prop(QueueProp.WRITE_POS)

    @property
    def memory_bytes(self):
        return self._prop(QueueProp.MEMORY_BYTES)

    def __len__(self):
        return self.count

    def enqueue(self, keys, ids=None):
        """Enqueue (n, dim) keys (ids: (n,) int64, for a queue with IDS)."""
        n, _, ld = matrix("keys", keys, None, self.dim)
        if ids is not None:
            vector("ids", ids, n)
        self._check(lib.ctr_queue_enqueue(self.handle, ptr(keys), n, ld, ptr(ids)))

    def keys(self, out=None):
        """A copy of the valid keys in slot order, (count, dim) float32."""
        keys, _ = self._copy(out, False)
        return keys

    def ids(self):
        """A copy of the valid rows' ids (QUEUE_NO_ID without ids)."""
        return self._copy(None, True)[1]

    def _copy(self, out, want_ids):
        n = self.count
        keys = output("out", out, (n, self.dim))
        ids = np.empty(n, I64) if want_ids else None
        cnt = ctypes.c_int64()
        self._check(lib.ctr_queue_copy(self.handle, ptr(keys), self.dim, ptr(ids), n,
                                       ctypes.byref(cnt)))
        return keys, ids


class Bank(Params, Persistent, Handle):
    """n rows of dim floats updated by momentum, with seeded noise sampling."""
    _prefix = "bank"

    def __init__(self, n, dim, seed=0, momentum=None):
        self._own(create(lib.ctr_bank_create, n, dim, ctypes.c_uint64(seed % (1 << 64))))
        self._loaded()
        if momentum is not None:
            self.momentum = momentum

    def _loaded(self):
        self.n = self._prop(BankParam.ROWS)
        self.dim = self._prop(BankParam.DIM)

    def _prop(self, p):
        v = ctypes.c_int64()
        check(lib.ctr_bank_get_i64(self.handle, int(p), ctypes.byref(v)))
        return v.value

    def get(self, param):
        v = ctypes.c_double()
        check(lib.ctr_bank_get_f64(self.handle, int(param), ctypes.byref(v)))
        return v.value

    def set(self, param, value):
        self._check(lib.ctr_bank_set_f64(self.handle, int(param), float(value)))
        return self

    @property
    def momentum(self):
        return self.get(BankParam.MOMENTUM)

    @momentum.setter
    def momentum(self, value):
        self.set(BankParam.MOMENTUM, value)

    @property
    def weighted(self):
        return bool(self._prop(BankParam.WEIGHTED))

    @property
    def memory_bytes(self):
        return self._prop(BankParam.MEMORY_BYTES)

    def __len__(self):
        return self.n

    def _rows_pointer(self):
        p, n, ld = ctypes.c_void_p(), ctypes.c_int64(), ctypes.c_int64()
        check(lib.ctr_bank_rows(self.handle, ctypes.byref(p), ctypes.byref(n),
                                ctypes.byref(ld)))
        return p.value, n.value, ld.value

    def rows(self):
        """A copy of all n rows, (n, dim) float32."""
        p, n, ld = self._rows_pointer()
        view = np.ctypeslib.as_array((ctypes.c_float * (n * ld)).from_address(p))
        return view.reshape(n, ld)[:, :self.dim].copy()

    def gather(self, idx, out=None):
        """Rows idx (int64, may repeat) as (len(idx), dim)."""
        vector("idx", idx)
        out = output("out", out, (idx.size, self.dim))
        self._check(lib.ctr_bank_gather(self.handle, ptr(idx), idx.size, ptr(out),
                                        self.dim))
        return out

    def set_rows(self, idx, rows):
        vector("idx", idx)
        _, _, ld = matrix("rows", rows, idx.size, self.dim)
        self._check(lib.ctr_bank_set_rows(self.handle, ptr(idx), idx.size, ptr(rows), ld))

    def update(self, idx, feat):
        """Momentum update v_y <- normalize(m v_y + (1 - m) f)."""
        vector("idx", idx)
        _, _, ld = matrix("feat", feat, idx.size, self.dim)
        self._check(lib.ctr_bank_update(self.handle, ptr(idx), idx.size, ptr(feat), ld))

    def set_weights(self, weights):
        """Sampling weights (n float64), or None for uniform sampling."""
        if weights is None:
            self._check(lib.ctr_bank_set_weights(self.handle, None, 0))
            return
        vector("weights", weights, self.n, F64)
        self._check(lib.ctr_bank_set_weights(self.handle, ptr(weights), weights.size))

    def sample(self, n_anchors, k, exclude=None):
        """(n_anchors, k) int64 noise indices (exclude: (n_anchors,) int64)."""
        if exclude is not None:
            vector("exclude", exclude, n_anchors)
        if n_anchors < 0 or k < 0:
            raise ValueError("sample: n_anchors and k must be >= 0")
        out = np.empty((n_anchors, k), I64)
        self._check(lib.ctr_bank_sample(self.handle, ptr(out), n_anchors, k, ptr(exclude)))
        return out
