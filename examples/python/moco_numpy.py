#!/usr/bin/env python3
"""MoCo (He et al. 2020) on Fashion-MNIST with numpy and the library only:
the library's encoder (query) and its momentum copy (key), a momentum queue,
InfoNCE against the queue, SGD; weighted kNN on the frozen features at the
end. Prints `RESULT moco knn_top1=... loss=...`.

  python3 examples/python/moco_numpy.py [--steps 300] [--subset 10000]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402

import contrastive as ctr  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--subset", type=int, default=10000, help="training images used")
    ap.add_argument("--test", type=int, default=2000, help="test images for kNN")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--queue", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    x, y = fmnist.load("train", a.subset)
    xt, yt = fmnist.load("test", a.test)
    rng = np.random.default_rng(a.seed)

    # query encoder: conv -> pool -> MLP head, L2-normalised output
    q_enc = ctr.Encoder((1, 28, 28), seed=a.seed) \
        .add_conv2d(16, 3, stride=1, padding=1).add_batchnorm().relu() \
        .add_pool2d(ctr.Layer.MAXPOOL2D, 2).add_conv2d(32, 3, padding=1) \
        .add_batchnorm().relu().add_global_avgpool() \
        .add_linear(128).relu().add_linear(64).add_l2norm()
    backbone = q_enc.num_layers - 5          # global_avgpool: the features
    k_enc = q_enc.clone()                    # the key encoder starts equal
    opt = ctr.Optimizer.for_encoder(ctr.OptimizerKind.SGD, q_enc, lr=0.06,
                                    momentum=0.9, weight_decay=5e-4)
    queue = ctr.Queue(a.queue, 64, flags=ctr.QueueFlag.INIT_RANDOM, seed=a.seed)
    loss_fn = ctr.Objective(ctr.ObjectiveKind.INFONCE_SHARED, temperature=0.2)
    loss = float("nan")
    for step in range(a.steps):
        idx = rng.integers(0, x.shape[0], a.batch)
        x_q, x_k = fmnist.augment(rng, x[idx]), fmnist.augment(rng, x[idx])
        opt.lr = ctr.cosine_lr(step, min(10, a.steps - 1), a.steps, 0.06)
        q = q_enc.forward(x_q)
        k = k_enc.forward(x_k, mode=ctr.Mode.TRAIN | ctr.Mode.NO_GRAD)
        loss, grad_q, _ = loss_fn.infonce_queue(q, k, queue)
        q_enc.zero_grad()
        q_enc.backward(grad_q)
        opt.step()
        k_enc.momentum_update(q_enc, 0.99)
        queue.enqueue(k)
        if step % 50 == 0 or step == a.steps - 1:
            print("step %4d  loss %.4f  pretext acc %.3f" % (
                step, loss, loss_fn.stat(ctr.ObjectiveStat.ACCURACY)))

    def features(images):
        out = []
        for i in range(0, images.shape[0], 500):
            q_enc.forward(np.ascontiguousarray(images[i:i + 500]), mode=ctr.Mode.EVAL)
            out.append(q_enc.layer_output(backbone))
        return np.concatenate(out)
    with ctr.Knn(k=50, sigma=0.07) as knn:
        acc = knn.accuracy(features(x), y, features(xt), yt, 10)
    print("RESULT moco knn_top1=%.4f loss=%.4f steps=%d" % (acc, loss, a.steps))
    for o in (queue, opt, loss_fn, k_enc, q_enc):
        o.close()


if __name__ == "__main__":
    main()
