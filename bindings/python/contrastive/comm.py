"""Comm: data-parallel collectives over a host transport
(contrastive/comm.h). The transport is a Python object whose methods the
library calls back (rank, size, allreduce, allgather, broadcast); Comm.local()
is the single-process transport (size 1), useful for tests and for code that
runs unchanged on one process. The MPI adapter of the C library
(make MPI=1) is not wrapped here."""
import ctypes

import numpy as np

from ._base import Handle, check, load_allocator, matrix, ptr, vector, F32, I64
from ._lib import lib
from .constants import CommOp
from .errors import error_for

__all__ = ["Comm", "CommOps", "LocalTransport"]

_I = ctypes.c_int
_P = ctypes.c_void_p
_Q = ctypes.c_int64
RANK_FN = ctypes.CFUNCTYPE(_I, _P, ctypes.POINTER(_Q))
REDUCE_FN = ctypes.CFUNCTYPE(_I, _P, _P, _Q)
GATHER_FN = ctypes.CFUNCTYPE(_I, _P, _P, _P, _Q)
BCAST_FN = ctypes.CFUNCTYPE(_I, _P, _P, _Q, _Q)
DESCRIBE_FN = ctypes.CFUNCTYPE(ctypes.c_char_p, _P, _I)
RELEASE_FN = ctypes.CFUNCTYPE(None, _P)


class CommOps(ctypes.Structure):
    """ctr_comm_ops: the transport's callbacks (contrastive/comm.h)."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32), ("reserved", ctypes.c_uint32),
        ("user", _P), ("rank", RANK_FN), ("size", RANK_FN),
        ("allreduce_f32", REDUCE_FN), ("allreduce_i64", REDUCE_FN),
        ("allgather_f32", GATHER_FN), ("allgather_i64", GATHER_FN),
        ("broadcast_f32", BCAST_FN), ("broadcast_i64", BCAST_FN),
        ("describe", DESCRIBE_FN), ("release", RELEASE_FN),
    ]


class LocalTransport:
    """One process: every collective is the identity (allgather copies)."""

    def rank(self):
        return 0

    def size(self):
        return 1

    def allreduce(self, buf):
        pass

    def allgather(self, send, recv):
        recv[:] = send

    def broadcast(self, buf, root):
        pass


def _arr(p, n, ctype):
    if n == 0:
        return np.empty(0, np.float32 if ctype is ctypes.c_float else np.int64)
    return np.ctypeslib.as_array((ctype * n).from_address(p))


def _callbacks(t):
    """CFUNCTYPE wrappers around transport t; exceptions become status -1."""
    def guard(f):
        def g(*a):
            try:
                f(*a)
                return 0
            except Exception:  # the library reports CTR_E_COMM
                return -1
        return g

    def rank(_u, out):
        out[0] = t.rank()

    def size(_u, out):
        out[0] = t.size()
    F, L = ctypes.c_float, ctypes.c_int64
    s = t.size()
    return dict(
        rank=RANK_FN(guard(rank)), size=RANK_FN(guard(size)),
        allreduce_f32=REDUCE_FN(guard(lambda _u, b, n: t.allreduce(_arr(b, n, F)))),
        allreduce_i64=REDUCE_FN(guard(lambda _u, b, n: t.allreduce(_arr(b, n, L)))),
        allgather_f32=GATHER_FN(guard(lambda _u, sd, rv, n: t.allgather(
            _arr(sd, n, F), _arr(rv, n * s, F)))),
        allgather_i64=GATHER_FN(guard(lambda _u, sd, rv, n: t.allgather(
            _arr(sd, n, L), _arr(rv, n * s, L)))),
        broadcast_f32=BCAST_FN(guard(lambda _u, b, n, r: t.broadcast(_arr(b, n, F), r))),
        broadcast_i64=BCAST_FN(guard(lambda _u, b, n, r: t.broadcast(_arr(b, n, L), r))),
    )


class Comm(Handle):
    """A communicator over a Python transport (see LocalTransport for the
    methods it needs). Collectives are called on every rank in the same
    order, as with any MPI-style API."""
    _prefix = "comm"

    def __init__(self, transport):
        ops = CommOps()
        check(lib.ctr_comm_ops_init(ctypes.byref(ops)))
        self._cbs = _callbacks(transport)  # must outlive the handle
        for k, v in self._cbs.items():
            setattr(ops, k, v)
        self._transport = transport
        out = ctypes.c_void_p()
        a, buf = load_allocator()
        rc = lib.ctr_comm_create(ctypes.byref(out), ctypes.byref(ops), ctypes.byref(a))
        if rc < 0:
            raise error_for(rc, buf.value.decode(errors="replace"))
        self._own(out.value)

    @classmethod
    def local(cls):
        return cls(LocalTransport())

    @property
    def rank(self):
        v = ctypes.c_int64()
        check(lib.ctr_comm_rank(self.handle, ctypes.byref(v)))
        return v.value

    @property
    def size(self):
        v = ctypes.c_int64()
        check(lib.ctr_comm_size(self.handle, ctypes.byref(v)))
        return v.value

    def allreduce(self, buf):
        """buf (float32 or int64, C-contiguous) <- the sum over ranks, in place."""
        fn = lib.ctr_comm_allreduce_i64 if buf.dtype == I64 else lib.ctr_comm_allreduce_f32
        _flat_inplace(buf)
        self._check(fn(self.handle, ptr(buf), buf.size))
        return buf

    def allgather(self, send):
        """Every rank's send (float32 or int64), in rank order: (size * n,)."""
        _flat_inplace(send)
        recv = np.empty(self.size * send.size, send.dtype)
        fn = lib.ctr_comm_allgather_i64 if send.dtype == I64 else lib.ctr_comm_allgather_f32
        self._check(fn(self.handle, ptr(recv), ptr(send), send.size))
        return recv

    def broadcast(self, buf, root=0):
        fn = lib.ctr_comm_broadcast_i64 if buf.dtype == I64 else lib.ctr_comm_broadcast_f32
        _flat_inplace(buf)
        self._check(fn(self.handle, ptr(buf), buf.size, root))
        return buf

    def average(self, buf, weight):
        """buf <- the weight-averaged buf over ranks (float32, in place)."""
        _flat_inplace(buf)
        self._check(lib.ctr_comm_average_f32(self.handle, ptr(buf), buf.size, weight))
        return buf

    def encoder_grads(self, encoder, op=CommOp.SUM, weight=1.0):
        self._check(lib.ctr_comm_encoder_grads(self.handle, encoder.handle, int(op), weight))

    def encoder_broadcast(self, encoder, root=0):
        self._check(lib.ctr_comm_encoder_broadcast(self.handle, encoder.handle, root))

    def _pair(self, fn, obj, a, p, grads):
        b, d, lda = matrix("a", a)
        _, _, ldp = matrix("p", p, b, d)
        ga = np.empty((b, d), F32) if grads else None
        gp = np.empty((b, d), F32) if grads else None
        loss = ctypes.c_double()
        self._check(fn(self.handle, obj.handle, ctypes.byref(loss), ptr(a), lda, ptr(p),
                       ldp, b, d, ptr(ga), ptr(gp)))
        return loss.value, ga, gp

    def ntxent(self, obj, z1, z2, grads=True):
        """NT-Xent over the global batch (ctr_comm_ntxent)."""
        return self._pair(lib.ctr_comm_ntxent, obj, z1, z2, grads)

    def infonce(self, obj, a, p, grads=True):
        """In-batch InfoNCE over the global batch (ctr_comm_infonce)."""
        return self._pair(lib.ctr_comm_infonce, obj, a, p, grads)

    def queue_enqueue(self, queue, keys, ids=None):
        """Enqueue every rank's keys, in rank order, into each rank's queue."""
        n, _, ld = matrix("keys", keys, None, queue.dim)
        if ids is not None:
            vector("ids", ids, n)
        self._check(lib.ctr_comm_queue_enqueue(self.handle, queue.handle, ptr(keys), n, ld,
                                               ptr(ids)))

    def shuffle_rows(self, rng, x):
        """MoCo's shuffle BN across ranks: returns (shuffled, perm)."""
        b = x.shape[0]
        cols = int(np.prod(x.shape[1:]))
        _flat_inplace(x)
        perm = np.empty(b * self.size, I64)
        out = np.empty_like(x)
        self._check(lib.ctr_comm_shuffle_rows(self.handle, rng.handle, ptr(perm), ptr(out),
                                              ptr(x), b, cols))
        return out, perm

    def unshuffle_rows(self, perm, x):
        b = x.shape[0]
        cols = int(np.prod(x.shape[1:]))
        _flat_inplace(x)
        vector("perm", perm, b * self.size)
        out = np.empty_like(x)
        self._check(lib.ctr_comm_unshuffle_rows(self.handle, ptr(perm), ptr(out), ptr(x),
                                                b, cols))
        return out


def _flat_inplace(a):
    if not isinstance(a, np.ndarray) or a.dtype not in (F32, I64) \
            or not a.flags.c_contiguous:
        raise TypeError("expected a C-contiguous float32 or int64 numpy array")
