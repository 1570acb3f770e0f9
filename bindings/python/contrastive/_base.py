"""Shared machinery of the object classes: handle ownership (close, context
manager, finaliser), status checks, array validation and pointers."""
import ctypes
import weakref

import numpy as np

from ._lib import lib
from .errors import error_for, ShapeError

F32 = np.dtype(np.float32)
I64 = np.dtype(np.int64)
F64 = np.dtype(np.float64)
_addressof = ctypes.addressof
_from_buffer = ctypes.c_char.from_buffer


class Allocator(ctypes.Structure):
    """ctr_allocator (contrastive.h). The package uses the system allocator
    and this struct only for the load calls' limit and message buffer."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32), ("reserved", ctypes.c_uint32),
        ("user", ctypes.c_void_p), ("alloc", ctypes.c_void_p),
        ("free", ctypes.c_void_p), ("max_load_bytes", ctypes.c_uint64),
        ("message", ctypes.c_void_p), ("message_cap", ctypes.c_size_t),
    ]


def load_allocator(max_load_bytes=0):
    """An allocator struct with a message buffer (for create/load calls,
    which have no handle to keep their message). Returns (struct, buffer)."""
    a = Allocator()
    check(lib.ctr_allocator_init(ctypes.byref(a)))
    buf = ctypes.create_string_buffer(512)
    a.max_load_bytes = int(max_load_bytes)
    a.message = ctypes.addressof(buf)
    a.message_cap = len(buf)
    return a, buf


def check(rc, message=None):
    """Raise the exception of a negative status code."""
    if rc < 0:
        raise error_for(rc, message)
    return rc


def ptr(a):
    """The address of an array's first element (None passes through as
    NULL). Writable contiguous arrays take the fast path."""
    if a is None:
        return None
    try:
        return _addressof(_from_buffer(a))
    except (TypeError, ValueError, BufferError):
        return a.ctypes.data


def _where(name):
    return name


def matrix(name, a, rows=None, cols=None):
    """Validate a float32 matrix passed zero-copy: 2-D, unit stride along
    rows' elements, a row stride (leading dimension) that is a whole
    number of floats >= cols. Returns (rows, cols, ld)."""
    if not isinstance(a, np.ndarray):
        raise TypeError("%s: expected a numpy.ndarray of float32, got %s"
                        % (name, type(a).__name__))
    if a.dtype is not F32 and a.dtype != F32:
        raise TypeError("%s: expected dtype float32, got %s (pass "
                        "%s.astype(numpy.float32); the library never copies)"
                        % (name, a.dtype, name))
    if a.ndim != 2:
        raise ShapeError("%s: expected a 2-D array (rows x dim), got shape %s"
                         % (name, a.shape))
    r, c = a.shape
    if rows is not None and r != rows:
        raise ShapeError("%s: expected %d rows, got shape %s" % (name, rows, a.shape))
    if cols is not None and c != cols:
        raise ShapeError("%s: expected %d columns, got shape %s" % (name, cols, a.shape))
    s0, s1 = a.strides
    if c > 1 and s1 != 4:
        raise ShapeError("%s: the elements of a row must be contiguous (stride 4 "
                         "bytes, got %d); pass numpy.ascontiguousarray(%s)"
                         % (name, s1, name))
    if r <= 1:
        return r, c, max(c, 1)
    if s0 % 4 or s0 < 4 * c:
        raise ShapeError("%s: the row stride (%d bytes) must be a multiple of 4 "
                         "and at least a row (%d bytes)" % (name, s0, 4 * c))
    return r, c, s0 // 4


def output(name, out, shape, dtype=F32):
    """A new C-contiguous array of `shape`, or `out` checked to be one."""
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray) or out.dtype != dtype:
        raise TypeError("%s: expected a numpy.ndarray of %s" % (name, np.dtype(dtype)))
    if out.shape != tuple(shape):
        raise ShapeError("%s: expected shape %s, got %s" % (name, tuple(shape), out.shape))
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ShapeError("%s: must be C-contiguous and writeable" % name)
    return out


def vector(name, a, n=None, dtype=I64):
    """Validate a contiguous 1-D array of dtype (int64 indices by default)."""
    if not isinstance(a, np.ndarray) or a.dtype != dtype:
        raise TypeError("%s: expected a numpy.ndarray of %s, got %s"
                        % (name, np.dtype(dtype),
                           getattr(a, "dtype", type(a).__name__)))
    if a.ndim != 1:
        raise ShapeError("%s: expected a 1-D array, got shape %s" % (name, a.shape))
    if n is not None and a.shape[0] != n:
        raise ShapeError("%s: expected %d entries, got %d" % (name, n, a.shape[0]))
    if not a.flags.c_contiguous:
        raise ShapeError("%s: must be contiguous" % name)
    return a


def flat(name, a, n=None, dtype=F32):
    """A C-contiguous array of any shape viewed as n elements."""
    if not isinstance(a, np.ndarray) or a.dtype != dtype:
        raise TypeError("%s: expected a numpy.ndarray of %s, got %s"
                        % (name, np.dtype(dtype),
                           getattr(a, "dtype", type(a).__name__)))
    if not a.flags.c_contiguous:
        raise ShapeError("%s: must be C-contiguous" % name)
    if n is not None and a.size != n:
        raise ShapeError("%s: expected %d elements, got %d (shape %s)"
                         % (name, n, a.size, a.shape))
    return a


def _destroy(fn, handle):
    fn(handle)


class Handle:
    """An owned library handle: close() frees it (idempotent), `with`
    closes it on exit, and a finaliser frees it when the object is
    garbage-collected without close()."""
    _prefix = None  # "rng", "encoder", ...

    def _own(self, handle):
        self._h = handle
        destroy = getattr(lib, "ctr_%s_destroy" % self._prefix)
        self._finalizer = weakref.finalize(self, _destroy, destroy, handle)
        self._last_error = getattr(lib, "ctr_%s_last_error" % self._prefix)

    @property
    def handle(self):
        """The raw handle (an int) for the low-level functions."""
        h = self.__dict__.get("_h")
        if h is None:
            raise ValueError("%s is closed" % type(self).__name__)
        return h

    @property
    def closed(self):
        return self.__dict__.get("_h") is None

    def close(self):
        """Free the handle now. Later calls raise ValueError."""
        fin = self.__dict__.get("_finalizer")
        if fin is not None:
            fin()
        self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check(self, rc):
        """Raise the exception of status rc with this handle's message."""
        if rc < 0:
            msg = self._last_error(self._h)
            raise error_for(rc, msg.decode(errors="replace") if msg else None)
        return rc

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, "closed" if self.closed else "open")


def create(fn, *args, alloc_last=True):
    """Call a ctr_*_create(&out, ..., alloc) and return the new handle,
    raising with the allocator's message on failure."""
    out = ctypes.c_void_p()
    a, buf = load_allocator()
    rc = fn(ctypes.byref(out), *args, ctypes.byref(a))
    if rc < 0:
        raise error_for(rc, buf.value.decode(errors="replace"))
    return out.value


class Persistent:
    """save(path) / to_bytes() / cls.load(path) / cls.from_bytes(data) for
    the objects with checkpoints (ctr_<object>_save*, _load*)."""

    def save(self, path):
        """Save atomically to path (ctr_<object>_save)."""
        fn = getattr(lib, "ctr_%s_save" % self._prefix)
        self._check(fn(self.handle, _path(path)))

    def to_bytes(self):
        """The checkpoint as bytes (ctr_<object>_save_buffer)."""
        fn = getattr(lib, "ctr_%s_save_buffer" % self._prefix)
        size = ctypes.c_size_t()
        self._check(fn(self.handle, None, 0, ctypes.byref(size)))
        buf = ctypes.create_string_buffer(size.value)
        self._check(fn(self.handle, buf, size.value, ctypes.byref(size)))
        return buf.raw[:size.value]

    @classmethod
    def _load_call(cls, fn, *args, max_load_bytes=0):
        out = ctypes.c_void_p()
        a, buf = load_allocator(max_load_bytes)
        rc = fn(ctypes.byref(out), *args, ctypes.byref(a))
        if rc < 0:
            raise error_for(rc, buf.value.decode(errors="replace"))
        obj = cls.__new__(cls)
        obj._own(out.value)
        obj._loaded()
        return obj

    def _loaded(self):
        pass

    @classmethod
    def load(cls, path, max_load_bytes=0):
        """Create from a checkpoint file (ctr_<object>_load). max_load_bytes
        0 is the library's default limit (4 GiB)."""
        fn = getattr(lib, "ctr_%s_load" % cls._prefix)
        return cls._load_call(fn, _path(path), max_load_bytes=max_load_bytes)

    @classmethod
    def from_bytes(cls, data, max_load_bytes=0):
        """Create from a checkpoint in memory (ctr_<object>_load_buffer)."""
        fn = getattr(lib, "ctr_%s_load_buffer" % cls._prefix)
        data = bytes(data)
        return cls._load_call(fn, data, len(data), max_load_bytes=max_load_bytes)


def _path(path):
    import os
    return os.fsencode(path)


class Params:
    """get(param) / set(param, value) over ctr_<object>_get_f64/_i64,
    set_f64/_i64 and the class's bounds(param)."""

    def get(self, param):
        """A parameter's value: an int for integer parameters, else float."""
        v = ctypes.c_int64()
        fn = getattr(lib, "ctr_%s_get_i64" % self._prefix)
        if fn(self.handle, int(param), ctypes.byref(v)) == 0:
            return v.value
        d = ctypes.c_double()
        fn = getattr(lib, "ctr_%s_get_f64" % self._prefix)
        self._check(fn(self.handle, int(param), ctypes.byref(d)))
        return d.value

    def set(self, param, value):
        """Set a parameter (integers through set_i64, floats set_f64)."""
        if isinstance(value, (bool, int, np.integer)):
            fn = getattr(lib, "ctr_%s_set_i64" % self._prefix)
            self._check(fn(self.handle, int(param), int(value)))
        else:
            fn = getattr(lib, "ctr_%s_set_f64" % self._prefix)
            self._check(fn(self.handle, int(param), float(value)))
        return self

    @classmethod
    def bounds(cls, param):
        """The inclusive (lo, hi) bounds of a parameter."""
        lo, hi = ctypes.c_double(), ctypes.c_double()
        fn = getattr(lib, "ctr_%s_param_bounds" % cls._prefix)
        check(fn(int(param), ctypes.byref(lo), ctypes.byref(hi)))
        return lo.value, hi.value


def apply_params(obj, params):
    """Set keyword parameters through the class's parameter properties;
    a name that is not one is a TypeError (not a silently new attribute)."""
    for name, value in params.items():
        if not isinstance(getattr(type(obj), name, None), property) or name in (
                "handle", "closed"):
            raise TypeError("%s has no parameter %r" % (type(obj).__name__, name))
        setattr(obj, name, value)


def param_property(param, doc):
    def fget(self):
        return self.get(param)

    def fset(self, value):
        self.set(param, value)
    return property(fget, fset, doc=doc)
