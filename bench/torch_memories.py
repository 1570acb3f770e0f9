#!/usr/bin/python3
"""PyTorch counterparts of bench_memories.c, printed in the bench driver's
format, one JSON object per case and line:

    {"case": ..., "threads": T, "torch_ms": x, "torch_extra_mib": y}

    /usr/bin/python3 bench/torch_memories.py --threads T [--cases a,b] [--reps N]

queue_enqueue  MoCo's _dequeue_and_enqueue on a K x d row-major queue
               (K=65536, d=128, B=256), with wrap-around for any B.
bank_update    Instance Discrimination's memory update (lemniscate.pytorch
               NCEAverage): index_select, m*v + (1-m)*f, L2 normalise,
               index_copy_ (N=60000, d=128, B=256, m=0.5).
knn_fmnist     The usual weighted-kNN monitor (Wu et al.; MoCo's knn_predict):
               features and bank L2-normalised, per test batch of 256
               sim = q @ bank.T, topk(200), exp(sim / 0.07) weights, one-hot
               class vote, argmax (60000 train x 10000 test x 128, 10
               classes, random features).

torch_ms is the median of N repetitions after one warm-up. torch_extra_mib
is the growth of the process's peak resident set during the timed runs
over its resident set before them (Linux /proc; the peak is reset through
/proc/self/clear_refs), i.e. the temporaries PyTorch allocates.
"""
import argparse
import json
import time

import torch


def rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def measure(step, reps, inner):
    for _ in range(inner):
        step()
    reset_peak()
    base = rss_kib("VmRSS")
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            step()
        times.append((time.perf_counter() - t0) * 1e3 / inner)
    times.sort()
    n = len(times)
    med = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    extra = max(0, rss_kib("VmHWM") - base) / 1024.0
    return med, extra


def queue_case(reps):
    K, D, B = 65536, 128, 256
    g = torch.Generator().manual_seed(1)
    queue = torch.nn.functional.normalize(torch.randn(K, D, generator=g), dim=1)
    keys = torch.randn(B, D, generator=g)
    state = {"ptr": 0}

    @torch.no_grad()
    def step():
        ptr = state["ptr"]
        head = min(B, K - ptr)
        queue[ptr:ptr + head] = keys[:head]
        if head < B:
            queue[:B - head] = keys[head:]
        state["ptr"] = (ptr + B) % K

    return measure(step, reps, 1000)


def bank_case(reps):
    N, D, B, m = 60000, 128, 256, 0.5
    g = torch.Generator().manual_seed(2)
    stdv = 1.0 / (D / 3) ** 0.5
    memory = torch.nn.functional.normalize(
        torch.rand(N, D, generator=g).mul_(2 * stdv).add_(-stdv), dim=1)
    feat = torch.randn(B, D, generator=g)
    state = {"step": 0}

    @torch.no_grad()
    def step():
        s = state["step"]
        idx = (torch.arange(B) * 7919 + s * B) % N
        state["step"] = s + 1
        pos = torch.index_select(memory, 0, idx)
        pos.mul_(m).add_(feat * (1 - m))
        norm = pos.pow(2).sum(1, keepdim=True).pow(0.5)
        memory.index_copy_(0, idx, pos.div(norm))

    return measure(step, reps, 200)


def knn_case(reps):
    NTR, NTE, D, C, K, T, BATCH = 60000, 10000, 128, 10, 200, 0.07, 256
    g = torch.Generator().manual_seed(3)
    train = torch.randn(NTR, D, generator=g)
    test = torch.randn(NTE, D, generator=g)
    labels = torch.arange(NTR) * 7 % C

    @torch.no_grad()
    def step():
        bank = torch.nn.functional.normalize(train, dim=1).t().contiguous()
        preds = []
        for i in range(0, NTE, BATCH):
            q = torch.nn.functional.normalize(test[i:i + BATCH], dim=1)
            sim = torch.mm(q, bank)
            w, idx = sim.topk(k=K, dim=-1)
            lab = torch.gather(labels.expand(q.size(0), -1), -1, idx)
            w = (w / T).exp()
            one_hot = torch.zeros(q.size(0) * K, C)
            one_hot.scatter_(-1, lab.view(-1, 1), 1.0)
            scores = (one_hot.view(q.size(0), -1, C) * w.unsqueeze(-1)).sum(1)
            preds.append(scores.argmax(-1))
        return torch.cat(preds)

    return measure(step, reps, 1)


CASES = {"queue_enqueue": queue_case, "bank_update": bank_case,
         "knn_fmnist": knn_case}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for name in a.cases.split(","):
        if name not in CASES:
            continue
        ms, extra = CASES[name](a.reps)
        print(json.dumps({"case": name, "threads": a.threads,
                          "torch_ms": round(ms, 6),
                          "torch_extra_mib": round(extra, 3)}), flush=True)


if __name__ == "__main__":
    main()
