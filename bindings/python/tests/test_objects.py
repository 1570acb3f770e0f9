"""Every class: its calls, close() / with / finaliser, checkpoints, errors."""
import gc

import numpy as np
import pytest

import contrastive as ctr


def test_handle_lifecycle_close_with_finaliser():
    r = ctr.Rng(1)
    assert not r.closed and "open" in repr(r)
    r.close()
    r.close()  # idempotent
    assert r.closed
    with pytest.raises(ValueError, match="Rng is closed"):
        r.uniform(3)
    with ctr.Queue(4, 2) as q:
        assert len(q) == 0
    assert q.closed
    fin = ctr.Bank(8, 4)._finalizer  # dropped at once: the finaliser frees it
    gc.collect()
    assert not fin.alive


def test_rng_streams_split_and_checkpoint(tmp_path):
    with ctr.Rng(7) as a, ctr.Rng(7) as b:
        assert np.array_equal(a.uniform(5), b.uniform(5))
        u = a.uniform(100)
        assert u.dtype == np.float32 and ((u >= 0) & (u < 1)).all()
        n = a.normal(1000, mean=2.0, std=0.5)
        assert abs(float(n.mean()) - 2.0) < 0.1
        k = a.below(50, 3)
        assert k.dtype == np.int64 and set(k.tolist()) <= {0, 1, 2}
        assert sorted(a.permutation(6).tolist()) == list(range(6))
        out = np.empty((2, 3), np.float32)
        assert a.uniform(None, out=out) is out
        with a.split() as c:
            assert not np.array_equal(c.uniform(4), a.uniform(4))
        a.save(tmp_path / "r.ctr")
        with ctr.Rng.load(tmp_path / "r.ctr") as r2, ctr.Rng.from_bytes(a.to_bytes()) as r3:
            x = a.uniform(4)
            assert np.array_equal(x, r2.uniform(4)) and np.array_equal(x, r3.uniform(4))
        with pytest.raises(ctr.InvalidArgumentError):
            a.below(3, 0)
        with pytest.raises(ctr.InvalidArgumentError):
            a.normal(3, std=-1.0)
        with pytest.raises(ctr.IncompatibleError):
            ctr.Rng.from_bytes(ctr.Queue(2, 2).to_bytes())


def mlp(seed=1):
    return ctr.Encoder((6,), seed=seed).add_linear(8).add_batchnorm().relu() \
        .add_linear(4).add_l2norm()


def test_encoder_build_forward_backward_and_parameters():
    enc = mlp()
    assert enc.input_shape == (6,) and enc.output_shape == (4,)
    assert enc.num_layers == 5 and enc.last_layer == 4
    assert enc.layer_kind(0) == ctr.Layer.LINEAR and enc.layer_kind(2) == ctr.Layer.RELU
    assert enc.num_params == 6 * 8 + 8 + 8 + 8 + 8 * 4 + 4 and enc.num_tensors == 6
    info = enc.tensor_info(0)
    assert info["shape"] == (8, 6) and info["role"] == ctr.TensorRole.WEIGHT
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    y = enc.forward(x)
    assert y.shape == (5, 4) and np.allclose(np.linalg.norm(y, axis=1), 1, atol=1e-5)
    enc.zero_grad()
    dx = enc.backward(np.ones_like(y), dx=True)
    assert dx.shape == (5, 6) and np.abs(enc.get_grads()).sum() > 0
    assert enc.layer_output(1).shape == (5, 8)
    p = enc.get_params()
    p2 = p.copy()
    p2[0] += 1
    enc.set_params(p2)
    assert np.array_equal(enc.get_params(), p2)
    assert enc.num_stats == 16 and enc.get_stats().shape == (16,)
    enc.bn_groups = 1
    assert enc.bn_groups == 1 and enc.memory(5) > 0 and enc.workspace_size(5) > 0
    ye = enc.forward(x, mode=ctr.Mode.EVAL | ctr.Mode.NO_GRAD)
    with pytest.raises(ctr.StageError):
        enc.backward(np.ones_like(ye))
    with pytest.raises(ctr.ShapeError, match=r"x: expected shape \(n, 6\)"):
        enc.forward(np.zeros((5, 7), np.float32))
    with pytest.raises(ctr.ShapeError):
        enc.set_params(np.zeros(3, np.float32))
    with pytest.raises(ctr.NumericError):
        enc.forward(np.full((5, 6), np.inf, np.float32))
    with pytest.raises(ctr.ShapeError):
        ctr.Encoder((3, 8, 8)).add_linear(4)   # images need a flatten first
    enc.close()


def test_encoder_images_clone_momentum_and_checkpoint(tmp_path):
    enc = ctr.Encoder((1, 8, 8), seed=3).add_conv2d(4, 3, padding=1).relu() \
        .add_pool2d(ctr.Layer.MAXPOOL2D, 2).add_flatten().add_linear(5)
    x = np.random.default_rng(1).standard_normal((2, 1, 8, 8)).astype(np.float32)
    y = enc(x)
    assert y.shape == (2, 5)
    with enc.clone() as c:
        assert np.array_equal(c.forward(x), y)
        c.set_params(np.zeros(c.num_params, np.float32))
        c.momentum_update(enc, 0.5)
        assert np.allclose(c.get_params(), 0.5 * enc.get_params())
        c.copy_params_from(enc)
        assert np.array_equal(c.get_params(), enc.get_params())
    enc.save(tmp_path / "e.ctr")
    with ctr.Encoder.load(tmp_path / "e.ctr") as e2:
        assert e2.output_shape == (5,) and np.array_equal(e2.forward(x), y)
    with pytest.raises(ctr.LimitError):
        ctr.Encoder.from_bytes(enc.to_bytes(), max_load_bytes=64)


def test_optimizers():
    enc = mlp()
    with ctr.Optimizer.for_encoder(ctr.OptimizerKind.SGD, enc, lr=0.1, momentum=0.9) as opt:
        assert opt.lr == 0.1 and opt.momentum == 0.9
        x = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32)
        enc.forward(x)
        enc.zero_grad()
        enc.backward(np.ones((4, 4), np.float32))
        before = enc.get_params()
        opt.step()
        assert opt.steps == 1 and not np.array_equal(before, enc.get_params())
        data = opt.to_bytes()
    with ctr.Optimizer.from_bytes(data, encoder=enc) as o2:
        assert o2.steps == 1
    with ctr.Optimizer(ctr.OptimizerKind.ADAMW, 10, lr=0.01) as opt:
        p = np.ones(10, np.float32)
        opt.step_buffer(p, np.ones(10, np.float32))
        assert (p < 1).all()
        opt.set_segments([6, 4], [0, 1])
        with pytest.raises(ctr.ShapeError):
            opt.step_buffer(np.ones(9, np.float32), np.ones(9, np.float32))
        with pytest.raises(ctr.NumericError):
            opt.step_buffer(p, np.full(10, np.nan, np.float32))
        with pytest.raises(ctr.StageError):
            opt.step()
        with pytest.raises(ctr.InvalidArgumentError):
            opt.lr = -1.0
        opt.reset()
        assert opt.steps == 0
        with ctr.Optimizer.from_bytes(opt.to_bytes()) as o3:   # a buffer optimizer
            o3.step_buffer(p, np.ones(10, np.float32))
            assert o3.steps == 1
            with pytest.raises(ctr.ShapeError):
                o3.step_buffer(np.ones(9, np.float32), np.ones(9, np.float32))
    assert ctr.cosine_lr(0, 10, 100, 1.0) == pytest.approx(0.1)
    assert ctr.cosine_lr(100, 10, 100, 1.0, 0.0) == pytest.approx(0.0)
    assert ctr.Optimizer.bounds(ctr.OptimizerParam.LR)[0] == 0.0


def test_queue():
    with ctr.Queue(4, 3, flags=ctr.QueueFlag.IDS | ctr.QueueFlag.KEEP_NEWEST, seed=1) as q:
        assert q.capacity == 4 and q.dim == 3 and q.flags & ctr.QueueFlag.IDS
        keys = np.arange(18, dtype=np.float32).reshape(6, 3)
        q.enqueue(keys, ids=np.arange(6, dtype=np.int64))
        assert q.count == 4 and q.total == 6 and q.memory_bytes > 0
        assert set(q.ids().tolist()) == {2, 3, 4, 5}
        assert q.keys().shape == (4, 3)
        with pytest.raises(ctr.InvalidArgumentError):
            q.enqueue(keys)  # ids missing
        with pytest.raises(ctr.ShapeError, match="keys: expected 3 columns"):
            q.enqueue(np.zeros((2, 4), np.float32), ids=np.zeros(2, np.int64))
        with ctr.Queue.from_bytes(q.to_bytes()) as q2:
            assert np.array_equal(q2.keys(), q.keys())
    with ctr.Queue(2, 2) as q:
        with pytest.raises(ctr.ShapeError):
            q.enqueue(np.zeros((3, 2), np.float32))


def test_bank():
    with ctr.Bank(10, 4, seed=2, momentum=0.5) as b:
        assert b.n == 10 and b.dim == 4 and b.momentum == 0.5 and len(b) == 10
        rows = b.rows()
        assert np.allclose(np.linalg.norm(rows, axis=1), 1, atol=1e-5)
        idx = np.array([1, 3], np.int64)
        assert np.array_equal(b.gather(idx), rows[idx])
        b.set_rows(idx, np.ones((2, 4), np.float32))
        assert np.array_equal(b.gather(idx), np.ones((2, 4), np.float32))
        b.update(idx, np.ones((2, 4), np.float32))
        assert np.allclose(b.gather(idx), 0.5)
        w = np.zeros(10)
        w[7] = 1.0
        b.set_weights(w)
        assert b.weighted and (b.sample(3, 5) == 7).all()
        b.set_weights(None)
        assert not b.weighted
        s = b.sample(4, 6, exclude=np.arange(4, dtype=np.int64))
        assert s.shape == (4, 6) and all((s[i] != i).all() for i in range(4))
        with pytest.raises(ctr.InvalidArgumentError):
            b.gather(np.array([10], np.int64))
        with pytest.raises(ctr.NumericError):
            b.update(idx, np.full((2, 4), np.nan, np.float32))
        with pytest.raises(ctr.InvalidArgumentError):
            b.momentum = 2.0
        with ctr.Bank.from_bytes(b.to_bytes()) as b2:
            assert np.array_equal(b2.rows(), b.rows())


def clusters(n_per, classes, d, seed):
    r = np.random.default_rng(seed)
    centres = r.standard_normal((classes, d)) * 4
    y = np.repeat(np.arange(classes), n_per).astype(np.int64)
    x = (centres[y] + r.standard_normal((y.size, d))).astype(np.float32)
    return x, y


def test_knn_probe_ridge_and_metrics():
    x, y = clusters(30, 3, 5, 0)
    xt, yt = clusters(10, 3, 5, 0)
    with ctr.Knn(k=5, sigma=0.1) as knn:
        assert knn.k == 5 and knn.sigma == 0.1
        pred, scores = knn.classify(x, y, xt, 3, scores=True)
        assert (pred == yt).mean() > 0.9 and np.allclose(scores.sum(1), 1, atol=1e-5)
        assert knn.accuracy(x, y, xt, yt, 3) > 0.9
        assert knn.workspace_size(90, 30, 5, 3) > 0
        with pytest.raises(ctr.InvalidArgumentError):
            knn.classify(x, y, xt, 2)  # a label outside 0..1
    with ctr.Probe(5, 3, max_iter=100) as probe:
        with pytest.raises(ctr.StageError):
            probe.predict(xt)
        probe.fit(x, y)
        assert probe.accuracy(xt, yt) > 0.9
        pred, probs = probe.predict(xt, probs=True)
        assert probs.shape == (30, 3) and probe.fit_info()["iterations"] > 0
        w, b = probe.weights()
        assert w.shape == (3, 5) and b.shape == (3,)
    with ctr.Ridge(5, 2) as ridge:
        t = np.stack([x[:, 0] * 2 + 1, x[:, 1] - x[:, 2]], 1).astype(np.float32)
        ridge.fit(x, t, l2=1e-6)
        r2, mean = ridge.r2(x, t)
        assert mean > 0.999 and np.allclose(ridge.predict(x), t, atol=1e-2)
        assert ridge.weights()[0].shape == (2, 5)
        with pytest.raises(ctr.ShapeError, match="y: expected 2 columns"):
            ridge.fit(x, t[:, :1])
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert ctr.alignment(z, z) == 0.0
    assert ctr.uniformity(z) < 0
    with pytest.raises(ctr.InvalidArgumentError):
        ctr.alignment(z, z, alpha=-1.0)


def test_state_saves_and_restores_together(tmp_path):
    enc, rng = mlp(), ctr.Rng(5)
    opt = ctr.Optimizer.for_encoder(ctr.OptimizerKind.SGD, enc)
    q, bank = ctr.Queue(4, 4), ctr.Bank(6, 4)
    obj = ctr.Objective(ctr.ObjectiveKind.NTXENT)
    with ctr.State(enc=enc, opt=opt, q=q, bank=bank, rng=rng, obj=obj) as st:
        assert len(st) == 6 and st["enc"] is enc
        st.save(tmp_path / "s.ctr")
        data = st.to_bytes()
        p = enc.get_params()
        enc.set_params(p + 1)
        u = rng.uniform(3)
        st.load(tmp_path / "s.ctr")
        assert np.array_equal(enc.get_params(), p) and np.array_equal(rng.uniform(3), u)
        st.load_bytes(data)
        with pytest.raises(ctr.InvalidArgumentError):
            st.add("bad name!", ctr.Rng(1))
        with pytest.raises(TypeError):
            st.add("knn", ctr.Knn())
        with pytest.raises(ctr.CorruptError):
            st.load_bytes(data[:-5])


def test_comm_single_process_equals_the_local_objective():
    r = np.random.default_rng(3)
    z1 = r.standard_normal((6, 8)).astype(np.float32)
    z2 = r.standard_normal((6, 8)).astype(np.float32)
    with ctr.Comm.local() as comm, ctr.Objective(ctr.ObjectiveKind.NTXENT) as obj:
        assert comm.rank == 0 and comm.size == 1
        l1, g1, _ = comm.ntxent(obj, z1, z2)
        l2, h1, _ = obj.ntxent(z1, z2)
        assert l1 == pytest.approx(l2, rel=1e-6) and np.allclose(g1, h1, atol=1e-6)
        buf = np.arange(4, dtype=np.float32)
        assert np.array_equal(comm.allreduce(buf.copy()), buf)
        assert np.array_equal(comm.allgather(np.arange(3, dtype=np.int64)), np.arange(3))
        assert np.array_equal(comm.average(buf.copy(), 2.0), buf)
        with ctr.Objective(ctr.ObjectiveKind.INFONCE) as inf:
            assert comm.infonce(inf, z1, z2)[0] == pytest.approx(inf.infonce(z1, z2)[0],
                                                                rel=1e-6)
            with pytest.raises(ctr.InvalidArgumentError):
                comm.ntxent(inf, z1, z2)  # not an NT-Xent objective
        enc = mlp()
        comm.encoder_broadcast(enc)
        comm.encoder_grads(enc, ctr.CommOp.MEAN, 4.0)
        shuffled, perm = comm.shuffle_rows(ctr.Rng(1), z1)
        assert np.array_equal(comm.unshuffle_rows(perm, shuffled), z1)
        with ctr.Queue(8, 8) as q:
            comm.queue_enqueue(q, z1)
            assert q.count == 6


class FailingTransport(ctr.comm.LocalTransport):
    def allreduce(self, buf):
        raise RuntimeError("link down")


def test_comm_transport_failure_is_comm_error():
    with ctr.Comm(FailingTransport()) as comm:
        with pytest.raises(ctr.CommError):
            comm.allreduce(np.ones(3, np.float32))
