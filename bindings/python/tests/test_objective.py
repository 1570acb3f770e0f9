"""Objectives: values against float64 numpy references, zero-copy views,
out=, shape and dtype checks before the call, error codes -> exceptions."""
import numpy as np
import pytest

import contrastive as ctr

K = ctr.ObjectiveKind


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def lse(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def ntxent_ref(z1, z2, tau):
    z = np.concatenate([z1, z2]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    s = z @ z.T / tau
    np.fill_diagonal(s, -np.inf)
    b = z1.shape[0]
    pos = np.concatenate([np.arange(b, 2 * b), np.arange(b)])
    return float(np.mean(lse(s, 1) - s[np.arange(2 * b), pos]))


def infonce_ref(a, p, tau):
    s = a.astype(np.float64) @ p.astype(np.float64).T / tau
    return float(np.mean(lse(s, 1) - np.diag(s)))


def fd_grad(f, x, coords, h=1e-3):
    out = []
    for c in coords:
        xp = x.astype(np.float64).copy()
        xm = xp.copy()
        xp[c] += h
        xm[c] -= h
        out.append((f(xp) - f(xm)) / (2 * h))
    return np.array(out)


def test_ntxent_matches_reference_and_finite_differences():
    r = np.random.default_rng(1)
    z1, z2 = randn(r, 8, 16), randn(r, 8, 16)
    with ctr.Objective(K.NTXENT, temperature=0.5) as obj:
        loss, g1, g2 = obj.ntxent(z1, z2)
        assert obj.kind == K.NTXENT
        assert obj.stat(ctr.ObjectiveStat.LOSS) == loss
    assert loss == pytest.approx(ntxent_ref(z1, z2, 0.5), rel=1e-6)
    coords = [(0, 0), (3, 5), (7, 15)]
    fd = fd_grad(lambda x: ntxent_ref(x, z2, 0.5), z1, coords)
    assert np.allclose([g1[c] for c in coords], fd, atol=1e-4)
    fd = fd_grad(lambda x: ntxent_ref(z1, x, 0.5), z2, coords)
    assert np.allclose([g2[c] for c in coords], fd, atol=1e-4)


def test_infonce_and_npair():
    r = np.random.default_rng(2)
    a, p = randn(r, 6, 5), randn(r, 6, 5)
    with ctr.Objective(K.INFONCE, temperature=0.2) as obj:
        loss, ga, gp = obj.infonce(a, p)
    assert loss == pytest.approx(infonce_ref(a, p, 0.2), rel=1e-6)
    fd = fd_grad(lambda x: infonce_ref(x, p, 0.2), a, [(1, 2), (5, 4)])
    assert np.allclose([ga[1, 2], ga[5, 4]], fd, atol=1e-4)
    with ctr.Objective(K.NPAIR, npair_lambda=0.0) as obj:
        loss, _, _ = obj.npair(a, p)
    assert loss == pytest.approx(infonce_ref(a, p, 1.0), rel=1e-6)


def test_groups_and_symmetric():
    r = np.random.default_rng(3)
    a, p = randn(r, 6, 4), randn(r, 6, 4)
    groups = np.array([0, 0, 1, 1, 2, 2], np.int64)
    with ctr.Objective(K.INFONCE, symmetric=1) as obj:
        l1 = obj.infonce(a, p)[0]
        l2 = obj.infonce(a, p, groups=groups)[0]
        assert obj.symmetric == 1
    assert l1 != l2
    with ctr.Objective(K.INFONCE) as obj:
        with pytest.raises(TypeError, match="groups"):
            obj.infonce(a, p, groups=groups.astype(np.int32))


def test_strided_views_are_zero_copy_and_equal():
    r = np.random.default_rng(4)
    big = randn(r, 8, 40)
    z1, z2 = big[:, :16], big[:, 20:36]          # leading dimension 40
    assert not z1.flags.c_contiguous
    with ctr.Objective(K.NTXENT) as obj:
        la, a1, a2 = obj.ntxent(z1, z2)
        lb, b1, b2 = obj.ntxent(np.ascontiguousarray(z1), np.ascontiguousarray(z2))
    assert la == lb and np.array_equal(a1, b1) and np.array_equal(a2, b2)


def test_out_arrays_and_no_grads():
    r = np.random.default_rng(5)
    z1, z2 = randn(r, 4, 8), randn(r, 4, 8)
    o1, o2 = np.zeros((4, 8), np.float32), np.zeros((4, 8), np.float32)
    with ctr.Objective(K.NTXENT) as obj:
        loss, g1, g2 = obj.ntxent(z1, z2, out=(o1, o2))
        assert g1 is o1 and g2 is o2 and np.abs(o1).sum() > 0
        loss2, n1, n2 = obj.ntxent(z1, z2, grads=False)
        assert loss2 == loss and n1 is None and n2 is None
        with pytest.raises(ctr.ShapeError, match=r"out\[0\]"):
            obj.ntxent(z1, z2, out=(np.zeros((4, 7), np.float32), o2))
        with pytest.raises(ValueError, match="overlaps"):
            obj.ntxent(z1, z2, out=(o1, z2))
        buf = np.zeros((8, 8), np.float32)
        buf[:4] = z1
        with pytest.raises(ValueError, match="overlaps"):
            obj.ntxent(buf[:4], z2, out=(buf[2:6], o2))      # partial overlap
        with pytest.raises(ValueError, match="overlaps"):
            obj.ntxent(z1, z2, groups=np.zeros(4, np.int64), out=(o1, z2))


def test_shape_and_dtype_errors_before_the_call():
    with ctr.Objective(K.NTXENT) as obj:
        z = np.zeros((4, 8), np.float32)
        with pytest.raises(TypeError, match="float32"):
            obj.ntxent(z.astype(np.float64), z)
        with pytest.raises(ctr.ShapeError, match="z2: expected 8 columns"):
            obj.ntxent(z, np.zeros((4, 9), np.float32))
        with pytest.raises(ctr.ShapeError, match="2-D"):
            obj.ntxent(z.ravel(), z)
        with pytest.raises(ctr.ShapeError, match="contiguous"):
            obj.ntxent(np.asfortranarray(np.ones((4, 8), np.float32)), z)
        assert obj.stats() == {"calls": 0.0}  # nothing reached the library


def test_library_errors_carry_the_handle_message():
    z = np.ones((4, 8), np.float32)
    bad = z.copy()
    bad[1, 2] = np.nan
    with ctr.Objective(K.NTXENT) as obj:
        with pytest.raises(ctr.NumericError) as e:
            obj.ntxent(bad, z)
        assert e.value.code == ctr.Status.NUMERIC and "NaN" in str(e.value) \
            or "finite" in str(e.value)
        with pytest.raises(ctr.InvalidArgumentError, match="kind|NTXENT|INFONCE"):
            obj.infonce(z, z)      # wrong kind for this handle
        with pytest.raises(ctr.StageError):
            ctr.Objective(K.NCE).stat(ctr.ObjectiveStat.NCE_Z)


def test_infonce_shared_queue_and_ids():
    r = np.random.default_rng(6)
    q, k, neg = randn(r, 4, 8), randn(r, 4, 8), randn(r, 10, 8)
    with ctr.Objective(K.INFONCE_SHARED, temperature=0.1) as obj, \
            ctr.Queue(16, 8, flags=ctr.QueueFlag.IDS) as queue:
        loss, gq, gk, gn = obj.infonce_shared(q, k, neg, grad_neg=True)
        assert gn.shape == (10, 8)
        queue.enqueue(neg, ids=np.arange(10, dtype=np.int64))
        lq, gq2, gk2 = obj.infonce_queue(q, k, queue)
        assert lq == pytest.approx(loss, rel=1e-6) and np.allclose(gq, gq2, atol=1e-6)
        ids = np.array([0, 1, 2, 3], np.int64)
        lm = obj.infonce_queue(q, k, queue, q_ids=ids)[0]
        lm2 = obj.infonce_shared(q, k, neg, q_ids=ids,
                                 neg_ids=np.arange(10, dtype=np.int64))[0]
        assert lm == pytest.approx(lm2, rel=1e-6) and lm != lq
        with pytest.raises(ValueError, match="both or neither"):
            obj.infonce_shared(q, k, neg, q_ids=ids)
        with pytest.raises(ctr.ShapeError):
            obj.infonce_queue(q[:, :4], k[:, :4], queue)


def test_bank_objectives_accept_a_bank_or_a_matrix():
    r = np.random.default_rng(7)
    z = randn(r, 4, 8)
    self_idx = np.array([0, 5, 9, 3], np.int64)
    with ctr.Bank(32, 8, seed=3) as bank, ctr.Objective(K.BANK_SOFTMAX) as obj:
        l1, g1 = obj.bank_softmax(z, bank, self_idx)
        l2, g2 = obj.bank_softmax(z, bank.rows(), self_idx)
        assert l1 == l2 and np.array_equal(g1, g2)
        noise = bank.sample(4, 6, exclude=self_idx)
        with ctr.Objective(K.NCE, nce_z_mode=ctr.NceZMode.Z_EXACT) as nce:
            ln, gz = nce.nce(z, bank, self_idx, noise)
            assert np.isfinite(ln) and gz.shape == (4, 8)
            assert nce.stat(ctr.ObjectiveStat.NCE_Z) > 0
            with pytest.raises(ctr.ShapeError, match="noise_idx"):
                nce.nce(z, bank, self_idx, noise[:3])
        with pytest.raises(ctr.InvalidArgumentError):
            obj.bank_softmax(z, bank, np.array([0, 1, 2, 99], np.int64))


def test_bilinear():
    r = np.random.default_rng(8)
    q, k, w = randn(r, 5, 4), randn(r, 5, 4), randn(r, 4, 4)
    with ctr.Objective(K.BILINEAR) as obj:
        loss, gq, gk, gw = obj.bilinear(q, k, w)
        s = q.astype(np.float64) @ w @ k.T.astype(np.float64)
        assert loss == pytest.approx(float(np.mean(lse(s, 1) - np.diag(s))), rel=1e-5)
        _, _, none, _ = obj.bilinear(q, k, w, grad_k=False)
        assert none is None and gw.shape == (4, 4)


def test_cpc_and_local_global_structs():
    assert ctypes_size(ctr.CpcArgs) == ctr.lib.ctr_cpc_args_struct_size()
    a = ctr.CpcArgs.new()
    assert a.struct_size == ctr.lib.ctr_cpc_args_struct_size()
    r = np.random.default_rng(9)
    b, t, d, dc, steps = 3, 5, 4, 6, 2
    z, c, w = randn(r, b, t, d), randn(r, b, t, dc), randn(r, steps, d, dc) * 0.1
    gz = np.zeros_like(z)
    a.b, a.t, a.d, a.dc, a.steps = b, t, d, dc, steps
    a.z, a.c, a.w, a.grad_z = z.ctypes.data, c.ctypes.data, w.ctypes.data, gz.ctypes.data
    with ctr.Objective(K.CPC) as obj:
        loss = obj.cpc(a)
    assert np.isfinite(loss) and np.abs(gz).sum() > 0
    lg = ctr.LocalGlobalArgs.new()
    assert lg.struct_size > 0 and lg.estimator in (0, 1, 2, 3)
    g, l_ = randn(r, 2, 4), randn(r, 2, 3, 4)
    lg.estimator, lg.b, lg.p, lg.d = ctr.MiEstimator.INFONCE, 2, 3, 4
    lg.g, lg.ldg, lg.l = g.ctypes.data, 4, l_.ctypes.data
    lg.l_batch_stride, lg.l_pos_stride, lg.l_chan_stride = 12, 4, 1
    with ctr.Objective(K.LOCAL_GLOBAL) as obj:
        assert np.isfinite(obj.local_global(lg))


def ctypes_size(cls):
    import ctypes
    return ctypes.sizeof(cls)


def test_parameters_bounds_and_checkpoints(tmp_path):
    with ctr.Objective(K.NCE) as obj:
        obj.temperature = 0.25
        obj.nce_z_mode = ctr.NceZMode.Z_EMA
        assert obj.temperature == 0.25 and obj.get(ctr.ObjectiveParam.NCE_Z_MODE) == 1
        assert ctr.Objective.bounds(ctr.ObjectiveParam.TEMPERATURE) == (0.001, 1000.0)
        assert obj.workspace_size(8, 16, 4) > 0
        obj.save(tmp_path / "o.ctr")
        data = obj.to_bytes()
    for o in (ctr.Objective.load(tmp_path / "o.ctr"), ctr.Objective.from_bytes(data)):
        with o:
            assert o.temperature == 0.25 and o.kind == K.NCE
    with pytest.raises(ctr.CorruptError):
        ctr.Objective.from_bytes(data[:-3])
    with pytest.raises(ctr.ContrastiveIOError, match="nope"):
        ctr.Objective.load(tmp_path / "nope" / "o.ctr")


def test_unknown_keyword_parameter_is_an_error():
    with pytest.raises(TypeError, match="no parameter 'temprature'"):
        ctr.Objective(K.NTXENT, temprature=0.5)
    with pytest.raises(TypeError, match="no parameter"):
        ctr.Optimizer(ctr.OptimizerKind.SGD, 4, learning_rate=0.1)
    with pytest.raises(TypeError, match="no parameter"):
        ctr.Knn(kk=3)
