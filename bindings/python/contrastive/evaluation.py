"""Evaluation: weighted kNN, the linear probe, the ridge regression probe
and Wang & Isola's metrics (contrastive/knn.h, probe.h, ridge.h)."""
import ctypes

import numpy as np

from ._base import (apply_params, Handle, Params, check, create, matrix, output,
                    param_property, ptr, vector, F32, F64, I64)
from ._lib import lib
from .constants import KnnParam, ProbeParam

__all__ = ["Knn", "Probe", "Ridge", "alignment", "uniformity"]


class Knn(Params, Handle):
    """Weighted k-nearest-neighbour classification (Wu et al. 2018)."""
    _prefix = "knn"

    def __init__(self, **params):
        self._own(create(lib.ctr_knn_create))
        apply_params(self, params)

    k = param_property(KnnParam.K, "neighbours")
    sigma = param_property(KnnParam.SIGMA, "temperature")
    metric = param_property(KnnParam.METRIC, "KnnMetric")
    block_rows = param_property(KnnParam.BLOCK_ROWS, "test rows per block")
    tile_rows = param_property(KnnParam.TILE_ROWS, "train rows per tile")

    def workspace_size(self, n_train, n_test, dim, n_classes):
        v = ctypes.c_size_t()
        check(lib.ctr_knn_workspace_size(self.handle, n_train, n_test, dim, n_classes,
                                         ctypes.byref(v)))
        return v.value

    def _args(self, train, train_labels, test):
        n_train, dim, ld_train = matrix("train", train)
        vector("train_labels", train_labels, n_train)
        n_test, _, ld_test = matrix("test", test, None, dim)
        return n_train, ld_train, n_test, ld_test, dim

    def classify(self, train, train_labels, test, n_classes, scores=False):
        """Predictions (n_test,) int64, and with scores=True also the
        (n_test, n_classes) vote shares: returns pred or (pred, scores)."""
        n_train, ld_train, n_test, ld_test, dim = self._args(train, train_labels, test)
        pred = np.empty(n_test, I64)
        sc = np.empty((n_test, n_classes), F32) if scores else None
        self._check(lib.ctr_knn_classify(self.handle, ptr(train), n_train, ld_train,
                                         ptr(train_labels), ptr(test), n_test, ld_test, dim,
                                         n_classes, ptr(pred), ptr(sc)))
        return (pred, sc) if scores else pred

    def accuracy(self, train, train_labels, test, test_labels, n_classes):
        n_train, ld_train, n_test, ld_test, dim = self._args(train, train_labels, test)
        vector("test_labels", test_labels, n_test)
        acc = ctypes.c_double()
        self._check(lib.ctr_knn_accuracy(self.handle, ptr(train), n_train, ld_train,
                                         ptr(train_labels), ptr(test), n_test, ld_test, dim,
                                         n_classes, ptr(test_labels), ctypes.byref(acc)))
        return acc.value


class Probe(Params, Handle):
    """The linear probe: multinomial logistic regression by L-BFGS."""
    _prefix = "probe"

    def __init__(self, dim, classes, **params):
        self._own(create(lib.ctr_probe_create, dim, classes))
        self.dim, self.classes = dim, classes
        apply_params(self, params)

    l2 = param_property(ProbeParam.L2, "L2 penalty on W")
    max_iter = param_property(ProbeParam.MAX_ITER, "L-BFGS iterations")
    tolerance = param_property(ProbeParam.TOLERANCE, "gradient max-norm to stop")
    history = param_property(ProbeParam.HISTORY, "L-BFGS history")
    standardize = param_property(ProbeParam.STANDARDIZE, "standardise features (0/1)")
    block_rows = param_property(ProbeParam.BLOCK_ROWS, "rows per GEMM block")

    def fit(self, x, labels):
        n, _, ld = matrix("x", x, None, self.dim)
        vector("labels", labels, n)
        self._check(lib.ctr_probe_fit(self.handle, ptr(x), n, ld, ptr(labels)))
        return self

    def predict(self, x, probs=False):
        """pred (n,) int64, or (pred, probs (n, classes)) with probs=True."""
        n, _, ld = matrix("x", x, None, self.dim)
        pred = np.empty(n, I64)
        pr = np.empty((n, self.classes), F32) if probs else None
        self._check(lib.ctr_probe_predict(self.handle, ptr(x), n, ld, ptr(pred), ptr(pr)))
        return (pred, pr) if probs else pred

    def accuracy(self, x, labels):
        n, _, ld = matrix("x", x, None, self.dim)
        vector("labels", labels, n)
        acc = ctypes.c_double()
        self._check(lib.ctr_probe_accuracy(self.handle, ptr(x), n, ld, ptr(labels),
                                           ctypes.byref(acc)))
        return acc.value

    def fit_info(self):
        """dict(loss, iterations, converged) of the last fit."""
        loss, it, conv = ctypes.c_double(), ctypes.c_int64(), ctypes.c_int32()
        check(lib.ctr_probe_fit_info(self.handle, ctypes.byref(loss), ctypes.byref(it),
                                     ctypes.byref(conv)))
        return {"loss": loss.value, "iterations": it.value, "converged": bool(conv.value)}

    def weights(self):
        """(weight (classes, dim), bias (classes,)) in raw feature space."""
        w = np.empty((self.classes, self.dim), F32)
        b = np.empty(self.classes, F32)
        check(lib.ctr_probe_get_weights(self.handle, ptr(w), ptr(b)))
        return w, b


class Ridge(Handle):
    """Ridge regression on frozen features, scored by R^2 per target."""
    _prefix = "ridge"

    def __init__(self, dim, targets):
        self._own(create(lib.ctr_ridge_create, dim, targets))
        self.dim, self.targets = dim, targets

    def fit(self, x, y, l2=1e-3, standardize=True):
        n, _, ldx = matrix("x", x, None, self.dim)
        _, _, ldy = matrix("y", y, n, self.targets)
        self._check(lib.ctr_ridge_fit(self.handle, ptr(x), n, ldx, ptr(y), ldy, l2,
                                      int(standardize)))
        return self

    def predict(self, x, out=None):
        n, _, ldx = matrix("x", x, None, self.dim)
        out = output("out", out, (n, self.targets))
        self._check(lib.ctr_ridge_predict(self.handle, ptr(x), n, ldx, ptr(out)))
        return out

    def r2(self, x, y):
        """(r2 per target (targets,) float64, mean r2)."""
        n, _, ldx = matrix("x", x, None, self.dim)
        _, _, ldy = matrix("y", y, n, self.targets)
        r2 = np.empty(self.targets, F64)
        mean = ctypes.c_double()
        self._check(lib.ctr_ridge_r2(self.handle, ptr(x), n, ldx, ptr(y), ldy, ptr(r2),
                                     ctypes.byref(mean)))
        return r2, mean.value

    def weights(self):
        w = np.empty((self.targets, self.dim), F32)
        b = np.empty(self.targets, F32)
        check(lib.ctr_ridge_get_weights(self.handle, ptr(w), ptr(b)))
        return w, b


def alignment(x, y, alpha=2.0):
    """Wang & Isola's alignment: mean ||x_i - y_i||^alpha."""
    n, d, ldx = matrix("x", x)
    _, _, ldy = matrix("y", y, n, d)
    v = ctypes.c_double()
    check(lib.ctr_alignment(ctypes.byref(v), ptr(x), ldx, ptr(y), ldy, n, d, alpha))
    return v.value


def uniformity(x, t=2.0):
    """Wang & Isola's uniformity: log mean exp(-t ||x_i - x_j||^2), i < j."""
    n, d, ld = matrix("x", x)
    v = ctypes.c_double()
    check(lib.ctr_uniformity(ctypes.byref(v), ptr(x), ld, n, d, t))
    return v.value
