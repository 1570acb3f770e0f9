"""Encoder: small networks with exact backward passes (contrastive/encoder.h)."""
import ctypes

import numpy as np

from ._base import Handle, Persistent, check, create, flat, output, ptr, F32
from ._lib import lib
from .constants import EncoderParam, Layer, Mode, Shortcut, ENCODER_INPUT, ENCODER_OUTPUT
from .errors import ShapeError

__all__ = ["Encoder"]


class Encoder(Persistent, Handle):
    """A network built layer by layer from a per-sample input shape
    (F, T x F or C x H x W). The add_* methods return the encoder, so a
    model is one chained expression:

        enc = Encoder((784,), seed=1).add_linear(256).relu().add_linear(64)
    """
    _prefix = "encoder"

    def __init__(self, input_shape, seed=0):
        dims = np.array(tuple(input_shape), dtype=np.int64)
        if not 1 <= dims.size <= 3:
            raise ShapeError("input_shape must have 1 to 3 dimensions, got %s"
                             % (tuple(input_shape),))
        self._own(create(lib.ctr_encoder_create, ptr(dims), dims.size,
                         ctypes.c_uint64(seed % (1 << 64))))
        self._loaded()

    def _loaded(self):
        self._in_shape = self.shape(ENCODER_INPUT)
        self._out_shape = self.shape(ENCODER_OUTPUT)

    def _added(self, rc):
        self._check(rc)
        self._out_shape = self.shape(ENCODER_OUTPUT)
        return self

    # ---- building ---------------------------------------------------------
    def add_linear(self, out_features, bias=True):
        return self._added(lib.ctr_encoder_add_linear(self.handle, out_features, int(bias)))

    def add_batchnorm(self, eps=1e-5, momentum=0.1, affine=True):
        return self._added(lib.ctr_encoder_add_batchnorm(self.handle, eps, momentum,
                                                         int(affine)))

    def add_layernorm(self, eps=1e-5, affine=True):
        return self._added(lib.ctr_encoder_add_layernorm(self.handle, eps, int(affine)))

    def add_activation(self, kind):
        return self._added(lib.ctr_encoder_add_activation(self.handle, int(kind)))

    def relu(self):
        return self.add_activation(Layer.RELU)

    def gelu(self):
        return self.add_activation(Layer.GELU)

    def tanh(self):
        return self.add_activation(Layer.TANH)

    def add_l2norm(self, eps=1e-12):
        return self._added(lib.ctr_encoder_add_l2norm(self.handle, eps))

    def add_flatten(self):
        return self._added(lib.ctr_encoder_add_flatten(self.handle))

    def add_conv2d(self, out_channels, kernel, stride=1, padding=0, bias=True):
        return self._added(lib.ctr_encoder_add_conv2d(self.handle, out_channels, kernel,
                                                      stride, padding, int(bias)))

    def add_conv1d(self, out_channels, kernel, stride=1, padding=0, bias=True):
        return self._added(lib.ctr_encoder_add_conv1d(self.handle, out_channels, kernel,
                                                      stride, padding, int(bias)))

    def add_pool2d(self, kind, kernel, stride=None, padding=0):
        stride = kernel if stride is None else stride
        return self._added(lib.ctr_encoder_add_pool2d(self.handle, int(kind), kernel,
                                                      stride, padding))

    def add_global_avgpool(self):
        return self._added(lib.ctr_encoder_add_global_avgpool(self.handle))

    def add_dropout(self, p):
        return self._added(lib.ctr_encoder_add_dropout(self.handle, p))

    def add_gru(self, hidden):
        return self._added(lib.ctr_encoder_add_gru(self.handle, hidden))

    def add_residual(self, source, shortcut=Shortcut.IDENTITY, stride=1, eps=1e-5,
                     momentum=0.1):
        return self._added(lib.ctr_encoder_add_residual(self.handle, source, int(shortcut),
                                                        stride, eps, momentum))

    # ---- running ------------------------------------------------------------
    @property
    def input_shape(self):
        return self._in_shape

    @property
    def output_shape(self):
        return self._out_shape

    def _batch(self, name, x, shape):
        """x as (n, *shape) or (n, size), C-contiguous float32 -> n."""
        if not isinstance(x, np.ndarray) or x.dtype != F32:
            raise TypeError("%s: expected a numpy.ndarray of float32, got %s"
                            % (name, getattr(x, "dtype", type(x).__name__)))
        size = int(np.prod(shape))
        if x.ndim < 1 or (x.shape[1:] != tuple(shape) and x.shape[1:] != (size,)):
            raise ShapeError("%s: expected shape (n, %s) or (n, %d), got %s"
                             % (name, ", ".join(map(str, shape)), size, x.shape))
        if not x.flags.c_contiguous:
            raise ShapeError("%s: must be C-contiguous (numpy.ascontiguousarray)" % name)
        return x.shape[0]

    def forward(self, x, mode=Mode.TRAIN, out=None):
        """Run n samples: x is (n, *input_shape) or (n, input_size); returns
        (n, *output_shape) (or writes out)."""
        n = self._batch("x", x, self._in_shape)
        out = output("out", out, (n,) + self._out_shape)
        self._check(lib.ctr_encoder_forward(self.handle, ptr(out), ptr(x), n, int(mode)))
        self._n = n
        return out

    __call__ = forward

    def backward(self, dy, dx=False):
        """Back-propagate dy (the shape of the last forward's output): adds
        the parameter gradients. dx=True returns dL/dx as a new array; an
        array is filled; False computes none."""
        n = self._batch("dy", dy, self._out_shape)
        if n != getattr(self, "_n", n):
            raise ShapeError("dy: %d rows, the last forward had %d" % (n, self._n))
        if dx is True:
            dx = np.empty((n,) + self._in_shape, F32)
        elif dx is not False and dx is not None:
            dx = output("dx", dx, dx.shape)
            self._batch("dx", dx, self._in_shape)
        else:
            dx = None
        self._check(lib.ctr_encoder_backward(self.handle, ptr(dx), ptr(dy)))
        return dx

    def zero_grad(self):
        self._check(lib.ctr_encoder_zero_grad(self.handle))

    def layer_output(self, layer=ENCODER_OUTPUT):
        """A copy of layer `layer`'s output of the last forward."""
        shape = self.shape(layer)
        out = np.empty((getattr(self, "_n", 0),) + shape, F32)
        self._check(lib.ctr_encoder_layer_output(self.handle, ptr(out), layer))
        return out

    # ---- shapes and parameters --------------------------------------------
    def _i64(self, fn, *args):
        v = ctypes.c_int64()
        self._check(fn(self.handle, ctypes.byref(v), *args))
        return v.value

    @property
    def num_layers(self):
        return self._i64(lib.ctr_encoder_num_layers)

    @property
    def last_layer(self):
        return self._i64(lib.ctr_encoder_last_layer)

    @property
    def num_params(self):
        return self._i64(lib.ctr_encoder_num_params)

    @property
    def num_tensors(self):
        return self._i64(lib.ctr_encoder_num_tensors)

    @property
    def num_stats(self):
        return self._i64(lib.ctr_encoder_num_stats)

    def layer_kind(self, layer):
        k = ctypes.c_int32()
        self._check(lib.ctr_encoder_layer_kind(self.handle, ctypes.byref(k), layer))
        return Layer(k.value)

    def shape(self, layer=ENCODER_OUTPUT):
        """The per-sample shape after `layer` (ENCODER_INPUT: the input)."""
        dims = (ctypes.c_int64 * 3)()
        nd = ctypes.c_int32()
        self._check(lib.ctr_encoder_shape(self.handle, dims, ctypes.byref(nd), None, layer))
        return tuple(dims[i] for i in range(nd.value))

    def tensor_info(self, tensor):
        """dict(layer, role, offset, shape) of parameter tensor `tensor`."""
        layer, off = ctypes.c_int64(), ctypes.c_int64()
        role, nd = ctypes.c_int32(), ctypes.c_int32()
        dims = (ctypes.c_int64 * 4)()
        self._check(lib.ctr_encoder_tensor_info(
            self.handle, ctypes.byref(layer), ctypes.byref(role), ctypes.byref(off),
            dims, ctypes.byref(nd), tensor))
        from .constants import TensorRole
        return {"layer": layer.value, "role": TensorRole(role.value),
                "offset": off.value, "shape": tuple(dims[i] for i in range(nd.value))}

    def _get_flat(self, fn, n, out):
        out = output("out", out, (n,))
        self._check(fn(self.handle, ptr(out), n))
        return out

    def get_params(self, out=None):
        """All parameters as one flat float32 array (PyTorch's order)."""
        return self._get_flat(lib.ctr_encoder_get_params, self.num_params, out)

    def set_params(self, values):
        n = self.num_params
        flat("values", values, n)
        self._check(lib.ctr_encoder_set_params(self.handle, ptr(values), n))

    def get_grads(self, out=None):
        return self._get_flat(lib.ctr_encoder_get_grads, self.num_params, out)

    def get_stats(self, out=None):
        """The batch norm running statistics (mean then variance per layer)."""
        return self._get_flat(lib.ctr_encoder_get_stats, self.num_stats, out)

    def set_stats(self, values):
        n = self.num_stats
        flat("values", values, n)
        self._check(lib.ctr_encoder_set_stats(self.handle, ptr(values), n))

    @property
    def bn_groups(self):
        v = ctypes.c_int64()
        self._check(lib.ctr_encoder_get_i64(self.handle, EncoderParam.BN_GROUPS,
                                            ctypes.byref(v)))
        return v.value

    @bn_groups.setter
    def bn_groups(self, value):
        self._check(lib.ctr_encoder_set_i64(self.handle, EncoderParam.BN_GROUPS, value))

    @staticmethod
    def bounds(param):
        lo, hi = ctypes.c_double(), ctypes.c_double()
        check(lib.ctr_encoder_param_bounds(int(param), ctypes.byref(lo), ctypes.byref(hi)))
        return lo.value, hi.value

    def memory(self, batch):
        """Bytes needed for a batch (ctr_encoder_memory)."""
        v = ctypes.c_size_t()
        check(lib.ctr_encoder_memory(self.handle, ctypes.byref(v), batch))
        return v.value

    def workspace_size(self, batch, mode=Mode.TRAIN):
        v = ctypes.c_size_t()
        check(lib.ctr_encoder_workspace_size(self.handle, ctypes.byref(v), batch, int(mode)))
        return v.value

    # ---- copies -------------------------------------------------------------
    def clone(self):
        """A deep copy (ctr_encoder_clone)."""
        out = ctypes.c_void_p()
        check(lib.ctr_encoder_clone(ctypes.byref(out), self.handle))
        enc = Encoder.__new__(Encoder)
        enc._own(out.value)
        enc._loaded()
        return enc

    def copy_params_from(self, src, copy_stats=False):
        self._check(lib.ctr_encoder_copy_params(self.handle, src.handle, int(copy_stats)))

    def momentum_update(self, src, m, copy_stats=False):
        """theta <- m theta + (1 - m) theta_src (MoCo's key encoder)."""
        self._check(lib.ctr_encoder_momentum_update(self.handle, src.handle, m,
                                                    int(copy_stats)))
