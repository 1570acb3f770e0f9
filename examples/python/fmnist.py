"""Fashion-MNIST from Debian's dataset-fashion-mnist package (idx files,
gzipped), as float32 images in [0, 1] and int64 labels."""
import gzip
import os

import numpy as np

DATA = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


def load(split="train", limit=None):
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(os.path.join(DATA, prefix + "-images-idx3-ubyte.gz")) as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16)
    with gzip.open(os.path.join(DATA, prefix + "-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    images = raw.reshape(-1, 1, 28, 28)
    if limit:
        images, labels = images[:limit], labels[:limit]
    return (images.astype(np.float32) / 255.0), labels


def augment(rng, x, pad=3):
    """Random crop (pad with zeros, crop back to 28 x 28), horizontal flip
    with probability 1/2 and a random brightness scale: numpy only."""
    n = x.shape[0]
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dy, dx = rng.integers(0, 2 * pad + 1, n), rng.integers(0, 2 * pad + 1, n)
    out = np.empty_like(x)
    for i in range(n):
        out[i] = padded[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28]
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, :, ::-1]
    out *= rng.uniform(0.6, 1.4, (n, 1, 1, 1)).astype(np.float32)
    return np.ascontiguousarray(out, dtype=np.float32)
