#!/usr/bin/python3
"""The PyTorch side of the parity experiment (train_stream.c is the other).

  /usr/bin/python3 scripts/parity/twin_stream.py export SEED EPOCHS PREFIX
  /usr/bin/python3 scripts/parity/twin_stream.py eval DIR
  option: --reference DIR (default reference/ beside this script: the twin and its helpers)

export writes the PyTorch twin's exact batch stream: the random draws follow
the order of `cnn_demo_torch.py --seed SEED` (the model's initialisation, then
per epoch a permutation and two augmented views per batch), so PREFIX.views is
the stream the twin trains on and PREFIX.init its initial weights (in
libcontrastive's flat order). Also the standardised train/test images (.xtr,
.xte) and labels (.ytr, .yte, int64) for the evaluation. float32, native byte
order; the views take EPOCHS x 234 x 512 x 784 x 4 bytes (1.9 GB for 5 epochs).

eval scores features dumped by train_stream.c (DIR/emb_train.bin ...
bb_test.bin) with the twin's kNN and linear probe, one JSON line: the same
figures train_stream.c computes with ctr_knn and ctr_probe.
"""
import argparse
import json
import os
import sys

ap = argparse.ArgumentParser()
ap.add_argument("command", choices=("export", "eval"))
ap.add_argument("args", nargs="+")
ap.add_argument("--reference", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "reference"))
a = ap.parse_args()
sys.path.insert(0, a.reference)
from common import init_threads  # noqa: E402

torch, _ = init_threads(2)
import numpy as np  # noqa: E402
import ssl_lib as L  # noqa: E402

B = 256


def export(seed, epochs, prefix):
    def save(t, ext):
        t.numpy().astype(np.float32 if t.is_floating_point() else np.int64).tofile(prefix + ext)

    torch.manual_seed(seed)
    xtr, ytr, xte, yte = L.load_tensors()
    model = L.DemoCNN()
    save(torch.cat([p.detach().reshape(-1) for p in model.parameters()]), ".init")
    aug = L.Aug(rrc_scale=(1.0, 1.0), flip=True, noise=0.03, erase_p=0.2)
    with open(prefix + ".views", "wb") as f:
        for _ in range(epochs):
            perm = torch.randperm(xtr.shape[0])
            for i in range(xtr.shape[0] // B):
                x = xtr[perm[i * B:(i + 1) * B]]
                torch.cat([aug(x), aug(x)]).numpy().astype(np.float32).tofile(f)
    save(L.plain(xtr), ".xtr")
    save(L.plain(xte), ".xte")
    save(ytr, ".ytr")
    save(yte, ".yte")


def evaluate(folder):
    def load(name, cols):
        path = os.path.join(folder, name + ".bin")
        return torch.from_numpy(np.fromfile(path, np.float32).reshape(-1, cols))

    _, ytr, _, yte = L.load_tensors()
    etr, ete = load("emb_train", 128), load("emb_test", 128)
    btr, bte = load("bb_train", 3136), load("bb_test", 3136)
    print(json.dumps({"knn_embedding": L.knn_wu(etr, ytr, ete, yte) / 100,
                      "knn_backbone": L.knn_wu(btr, ytr, bte, yte) / 100,
                      "linear_backbone": round(L.linear_probe(btr, ytr, bte, yte, wds=(1e-4,))[0] / 100, 4)}))


if a.command == "export":
    export(int(a.args[0]), int(a.args[1]), a.args[2])
else:
    evaluate(a.args[0])
