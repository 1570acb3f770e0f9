"""Two threads with separate handles, a leak check (RSS flat over a
create/destroy loop), and results bit-equal to a C program's."""
import os
import shutil
import subprocess
import threading

import numpy as np
import pytest

import contrastive as ctr
from conftest import TOP


def work(seed, results):
    r = np.random.default_rng(seed)
    z1 = r.standard_normal((32, 16)).astype(np.float32)
    z2 = r.standard_normal((32, 16)).astype(np.float32)
    with ctr.Objective(ctr.ObjectiveKind.NTXENT) as obj, ctr.Rng(seed) as rng:
        out = [(obj.ntxent(z1, z2)[0], rng.uniform(8).tobytes()) for _ in range(200)]
    results[seed] = out


def test_two_threads_with_separate_handles_match_one_thread():
    threaded = {}
    ts = [threading.Thread(target=work, args=(s, threaded)) for s in (1, 2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for s in (1, 2):
        alone = {}
        work(s, alone)
        assert threaded[s] == alone[s]


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    pytest.skip("no /proc/self/status")


def churn(n):
    z = np.ones((16, 32), np.float32)
    for i in range(n):
        with ctr.Objective(ctr.ObjectiveKind.NTXENT) as obj:
            obj.ntxent(z, z)
        enc = ctr.Encoder((32,), seed=i).add_linear(64).relu().add_linear(16)
        enc.forward(z)
        opt = ctr.Optimizer.for_encoder(ctr.OptimizerKind.SGD, enc)
        q = ctr.Queue(256, 32)
        q.enqueue(z)
        b = ctr.Bank(256, 32)
        st = ctr.State(enc=enc, q=q, b=b)
        st.to_bytes()
        for o in (st, opt, enc, q, b):   # half closed, half left to the finaliser
            if i % 2:
                o.close()
        del enc, opt, q, b, st
        try:
            ctr.Rng.from_bytes(b"garbage")
        except ctr.ContrastiveError:
            pass


def test_create_destroy_loop_keeps_rss_flat():
    churn(300)                     # warm up allocator pools and caches
    before = rss_kib()
    churn(1500)
    grown = rss_kib() - before
    # each round allocates ~100 KiB; a leak of one object per round would be
    # > 30 MiB over 1500 rounds
    assert grown < 4096, "RSS grew by %d KiB over 1500 create/destroy rounds" % grown


C_PROGRAM = r"""
#include <contrastive.h>
#include <stdio.h>
int main(void) {
    enum { B = 8, D = 16 };
    float z1[B * D], z2[B * D], g1[B * D], g2[B * D];
    ctr_rng *rng; ctr_objective *obj; double loss;
    if (ctr_rng_create(&rng, 42, NULL) || ctr_rng_normal(rng, z1, B * D, 0, 1) ||
        ctr_rng_normal(rng, z2, B * D, 0, 1)) return 1;
    if (ctr_objective_create(&obj, CTR_OBJECTIVE_NTXENT, NULL) ||
        ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, 0.2) ||
        ctr_objective_ntxent(obj, &loss, z1, D, z2, D, B, D, NULL, g1, g2)) return 1;
    printf("%a\n", loss);
    for (int i = 0; i < B * D; i++) printf("%a %a\n", (double)g1[i], (double)g2[i]);
    ctr_objective_destroy(obj); ctr_rng_destroy(rng);
    return 0;
}
"""


def test_results_bit_equal_to_the_c_library(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    src, exe = tmp_path / "c.c", tmp_path / "c"
    src.write_text(C_PROGRAM)
    libdir = os.path.dirname(os.path.realpath(os.environ["CONTRASTIVE_LIBRARY"]))
    subprocess.run([cc, "-std=c99", "-I", os.path.join(TOP, "include"), str(src), "-o",
                    str(exe), "-L", libdir, "-l:libcontrastive.so.0"], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True,
                         env=dict(os.environ, LD_LIBRARY_PATH=libdir)).stdout.split()
    c_loss = float.fromhex(out[0])
    c_g = np.array([float.fromhex(v) for v in out[1:]]).reshape(-1, 2)
    with ctr.Rng(42) as rng, ctr.Objective(ctr.ObjectiveKind.NTXENT, temperature=0.2) as o:
        z1, z2 = rng.normal(8 * 16).reshape(8, 16), rng.normal(8 * 16).reshape(8, 16)
        loss, g1, g2 = o.ntxent(z1, z2)
    assert loss == c_loss
    assert np.array_equal(g1.ravel(), c_g[:, 0].astype(np.float32))
    assert np.array_equal(g2.ravel(), c_g[:, 1].astype(np.float32))
