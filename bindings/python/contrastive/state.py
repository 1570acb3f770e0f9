"""State: a named set of objects saved and restored together
(contrastive/state.h)."""
import ctypes
import os

from ._base import Handle, create, load_allocator
from ._lib import lib

__all__ = ["State"]


class State(Handle):
    """A training run's state in one checkpoint file. The state refers to
    the objects it names (and keeps them alive); it never copies them."""
    _prefix = "state"

    def __init__(self, **objects):
        self._alloc = load_allocator()
        self._own(create(lib.ctr_state_create))
        self._objects = {}
        for name, obj in objects.items():
            self.add(name, obj)

    def add(self, name, obj):
        """Name an Encoder, Optimizer, Objective, Queue, Bank or Rng."""
        kind = getattr(obj, "_prefix", None)
        if kind not in ("encoder", "optimizer", "objective", "queue", "bank", "rng"):
            raise TypeError("State.add: cannot hold a %s" % type(obj).__name__)
        fn = getattr(lib, "ctr_state_add_" + kind)
        self._check(fn(self.handle, name.encode(), obj.handle))
        self._objects[name] = obj
        return self

    def __len__(self):
        return int(lib.ctr_state_count(self.handle))

    def __getitem__(self, name):
        return self._objects[name]

    def save(self, path):
        self._check(lib.ctr_state_save(self.handle, os.fsencode(path)))

    def to_bytes(self):
        size = ctypes.c_size_t()
        self._check(lib.ctr_state_save_buffer(self.handle, None, 0, ctypes.byref(size)))
        buf = ctypes.create_string_buffer(size.value)
        self._check(lib.ctr_state_save_buffer(self.handle, buf, size.value,
                                              ctypes.byref(size)))
        return buf.raw[:size.value]

    def load(self, path):
        """Restore every named object from a file (all or nothing)."""
        self._check(lib.ctr_state_load(self.handle, os.fsencode(path)))
        self._reloaded()

    def load_bytes(self, data):
        data = bytes(data)
        self._check(lib.ctr_state_load_buffer(self.handle, data, len(data)))
        self._reloaded()

    def _reloaded(self):
        for obj in self._objects.values():
            obj._loaded()
