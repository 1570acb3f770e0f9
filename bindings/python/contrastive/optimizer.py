"""Optimizer: SGD, AdamW, LARS on an encoder or a flat buffer
(contrastive/optimizer.h)."""
import ctypes

import numpy as np

from ._base import (apply_params, Handle, Params, Persistent, check, create, flat,
                    param_property, ptr)
from ._lib import lib
from .constants import OptimizerParam as P

__all__ = ["Optimizer", "cosine_lr"]


class Optimizer(Params, Persistent, Handle):
    """Optimizer(kind, n_params) steps a caller buffer (step_buffer);
    Optimizer.for_encoder(kind, enc) steps enc's parameters (step). Tunables
    as properties (lr, momentum, weight_decay, ...) or get/set(param)."""
    _prefix = "optimizer"

    def __init__(self, kind, n_params, **params):
        self._own(create(lib.ctr_optimizer_create, int(kind), n_params))
        self._enc = None
        self._n = n_params
        apply_params(self, params)

    @classmethod
    def for_encoder(cls, kind, encoder, **params):
        self = cls.__new__(cls)
        self._own(create(lib.ctr_optimizer_create_for_encoder, int(kind), encoder.handle))
        self._enc = encoder  # keeps the encoder alive while bound
        self._n = encoder.num_params
        apply_params(self, params)
        return self

    @classmethod
    def load(cls, path, encoder=None, max_load_bytes=0):
        import os
        obj = cls._load_call(lib.ctr_optimizer_load, os.fsencode(path),
                             encoder.handle if encoder else None,
                             max_load_bytes=max_load_bytes)
        obj._enc = encoder
        return obj

    @classmethod
    def from_bytes(cls, data, encoder=None, max_load_bytes=0):
        data = bytes(data)
        obj = cls._load_call(lib.ctr_optimizer_load_buffer, data, len(data),
                             encoder.handle if encoder else None,
                             max_load_bytes=max_load_bytes)
        obj._enc = encoder
        return obj

    lr = param_property(P.LR, "learning rate")
    momentum = param_property(P.MOMENTUM, "momentum mu")
    dampening = param_property(P.DAMPENING, "SGD dampening")
    weight_decay = param_property(P.WEIGHT_DECAY, "weight decay")
    nesterov = param_property(P.NESTEROV, "Nesterov momentum (0/1)")
    beta1 = param_property(P.BETA1, "AdamW beta1")
    beta2 = param_property(P.BETA2, "AdamW beta2")
    eps = param_property(P.EPS, "AdamW eps")
    trust_coef = param_property(P.TRUST_COEF, "LARS eta")
    exclude_bias_norm = param_property(P.EXCLUDE_BIAS_NORM,
                                       "no decay/adaptation for biases and norms")

    def _loaded(self):
        self._n = None   # a loaded buffer optimizer: the library checks n

    @property
    def steps(self):
        """Steps taken (CTR_OPTIMIZER_P_STEP, read-only)."""
        return self.get(P.STEP)

    def set_segments(self, sizes, excluded):
        sizes = np.ascontiguousarray(sizes, dtype=np.int64)
        excluded = np.ascontiguousarray(excluded, dtype=np.int32)
        if sizes.shape != excluded.shape or sizes.ndim != 1:
            raise ValueError("sizes and excluded must be 1-D of the same length")
        self._check(lib.ctr_optimizer_set_segments(self.handle, ptr(sizes), ptr(excluded),
                                                   sizes.size))

    def step(self):
        """One step of the bound encoder from its gradients."""
        self._check(lib.ctr_optimizer_step(self.handle))

    def step_buffer(self, params, grads):
        """One step on params (float32, updated in place) from grads."""
        flat("params", params, self._n)
        flat("grads", grads, params.size)
        if not params.flags.writeable:
            raise ValueError("params: must be writeable (updated in place)")
        self._check(lib.ctr_optimizer_step_buffer(self.handle, ptr(params), ptr(grads),
                                                  params.size))

    def reset(self):
        self._check(lib.ctr_optimizer_reset(self.handle))


def cosine_lr(step, warmup_steps, total_steps, base_lr, final_lr=0.0):
    """Linear warm-up then cosine decay (ctr_optimizer_cosine_lr)."""
    v = ctypes.c_double()
    check(lib.ctr_optimizer_cosine_lr(ctypes.byref(v), step, warmup_steps, total_steps,
                                      base_lr, final_lr))
    return v.value
