"""The process and timing harness of a bench/torch_<group>.py script
(every bench/torch_*.py but the encoder ones uses it): each case in its own process with
OpenBLAS's and PyTorch's thread counts set, two warm-up steps, then the
median of at least `reps` steps and 0.5 s of them, and the peak RSS above
the size once the inputs exist. Prints one JSON line per case:
{"case", "threads", "torch_ms", "torch_extra_mib"}.

main(script, names, make_step, default_reps): make_step(torch, F, name)
returns the step to time (forward + backward of the case); default_reps is
--reps when not given.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def time_case(name, threads, reps, intra, make_step):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(intra)
    step = make_step(torch, F, name)
    base = rss_mib()
    for _ in range(2):
        step()
    times = []
    while len(times) < 4000 and (len(times) < reps or sum(times) < 500.0):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"case": name, "threads": threads, "torch_ms": round(median(times), 3),
                      "torch_extra_mib": round(max(peak - base, 0.0), 3)}))


def main(script, names, make_step, default_reps=5):
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cases", default="")
    ap.add_argument("--reps", type=int, default=default_reps)
    ap.add_argument("--intra", type=int, default=1)
    ap.add_argument("--one", default="")
    args = ap.parse_args()
    if args.one:
        time_case(args.one, args.threads, args.reps, args.intra, make_step)
        return
    wanted = [c for c in args.cases.split(",") if c in names] if args.cases else names
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads),
               OMP_NUM_THREADS=str(args.intra))
    for name in wanted:
        out = subprocess.run([sys.executable, script, "--one", name, "--threads",
                              str(args.threads), "--reps", str(args.reps), "--intra",
                              str(args.intra)], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            continue
        sys.stdout.write(out.stdout)
        sys.stdout.flush()
