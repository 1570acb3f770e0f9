"""Rng: the library's seeded, splittable generator (contrastive/rng.h)."""
import ctypes

import numpy as np

from ._base import Handle, Persistent, create, output, ptr, I64
from ._lib import lib

__all__ = ["Rng"]


class Rng(Persistent, Handle):
    """xoshiro256** seeded through SplitMix64: the same seed gives the same
    stream on every platform."""
    _prefix = "rng"

    def __init__(self, seed=0):
        self._own(create(lib.ctr_rng_create, ctypes.c_uint64(seed % (1 << 64))))

    def split(self):
        """A new independent generator (the parent jumps too)."""
        out = ctypes.c_void_p()
        self._check(lib.ctr_rng_split(self.handle, ctypes.byref(out)))
        child = Rng.__new__(Rng)
        child._own(out.value)
        return child

    def uniform(self, n, out=None):
        """n floats uniform in [0, 1) (float32), or fill `out` (any shape,
        C-contiguous float32; n is then out.size and may be None)."""
        out = _fill_target(out, n, np.float32)
        self._check(lib.ctr_rng_uniform(self.handle, ptr(out), out.size))
        return out

    def normal(self, n, mean=0.0, std=1.0, out=None):
        """n normal draws (float32), or fill `out`."""
        out = _fill_target(out, n, np.float32)
        self._check(lib.ctr_rng_normal(self.handle, ptr(out), out.size, mean, std))
        return out

    def below(self, n, bound, out=None):
        """n integers uniform in [0, bound) (int64), without modulo bias."""
        out = _fill_target(out, n, np.int64)
        self._check(lib.ctr_rng_below(self.handle, ptr(out), out.size, bound))
        return out

    def permutation(self, n):
        """A random permutation of 0..n-1 (int64)."""
        if n < 0:
            raise ValueError("permutation: n must be >= 0, got %d" % n)
        out = np.empty(n, I64)
        self._check(lib.ctr_rng_permutation(self.handle, ptr(out), n))
        return out


def _fill_target(out, n, dtype):
    if out is None:
        if n is None or n < 0:
            raise ValueError("n must be >= 0 (got %r)" % (n,))
        return np.empty(int(n), dtype)
    out = output("out", out, out.shape, dtype)
    if n is not None and out.size != n:
        raise ValueError("out has %d elements, n is %d" % (out.size, n))
    return out
