"""examples/python on a tiny subset: each runs, trains a few steps and
prints its RESULT line with a finite loss."""
import os
import re
import subprocess
import sys

import pytest

from conftest import PKG, TOP

DATA = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
pytestmark = pytest.mark.skipif(
    not os.path.exists(os.path.join(DATA, "train-images-idx3-ubyte.gz")),
    reason="Fashion-MNIST not installed (Debian dataset-fashion-mnist)")


def run(script, *args):
    env = dict(os.environ, PYTHONPATH=PKG)
    r = subprocess.run([sys.executable, os.path.join(TOP, "examples", "python", script),
                        "--steps", "3", "--subset", "256", "--test", "128", *args],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    m = re.search(r"^RESULT (\w+) knn_top1=([0-9.]+) loss=([0-9.]+) steps=3$", r.stdout, re.M)
    assert m, r.stdout
    assert 0.0 <= float(m.group(2)) <= 1.0 and float(m.group(3)) > 0
    return m.group(1)


def test_moco_numpy():
    assert run("moco_numpy.py", "--batch", "32", "--queue", "64") == "moco"


def test_simclr_torch():
    pytest.importorskip("contrastive.torch")
    assert run("simclr_torch.py", "--batch", "32") == "simclr"
