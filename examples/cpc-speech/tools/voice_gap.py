#!/usr/bin/env python3
"""voice_gap.py CORPUS_DIR [FEATURES.f32] - the diagnostics of docs/results.md,
"cpc-speech: the voice gap, second pass" (run with /usr/bin/python3: numpy, torch).

Re-implements the example's pooled log-spectrogram baseline in numpy (trim at
2 % of the peak, unit RMS, Hann 400 / hop 160 / 512-point FFT, 64 bands of 4
bins) and its probe protocol (standardised features, multinomial logistic
regression with an L2 penalty chosen among 1e-4..1 on the held-out setting of
the training utterances, then refitted on all of them; test = the rotating
held-out setting), and prints the voice/word accuracy of
  - the spectrogram by frequency range and by compression (log, magnitude,
    power, cube root) and by band count (4..64 bands over 0-8 kHz);
  - with FEATURES.f32 (600 x 128 pooled contexts c then 600 x 64 pooled
    latents z, float32, corpus order word-voice-setting: what a throwaway
    build of cpc-speech wrote after training), the same probe on c and z for
    word, voice and the speed/pitch setting, and for voice on a random
    400/200 split (no held-out setting).
This is an analysis script, not part of the example or of CI.
"""
import sys
import wave

import numpy as np
import torch

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
         "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


def load(path):
    w = wave.open(path)
    x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64) / 32768
    peak, hop, a, b = np.abs(x).max(), 160, 0, len(x)
    while a + hop < b and np.abs(x[a:a + hop]).max() <= 0.02 * peak:
        a += hop
    while b - hop > a and np.abs(x[b - hop:b]).max() <= 0.02 * peak:
        b -= hop
    x = x[a:b]
    return x / np.sqrt((x * x).mean())


WIN = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 399)


def band_energies(x):
    frames = (len(x) - 400) // 160 + 1
    fr = np.stack([x[f * 160:f * 160 + 400] * WIN for f in range(frames)])
    p = np.abs(np.fft.rfft(fr, 512, axis=1))[:, :256] ** 2
    return p.reshape(frames, 64, 4).sum(2)


def probe(x, y, tr, va, te):
    x, y = torch.tensor(x, dtype=torch.float64), torch.tensor(y)

    def fit(idx, lam):
        z = (x - x[idx].mean(0)) / (x[idx].std(0) + 1e-8)
        zb = torch.cat([z, torch.ones(len(z), 1, dtype=torch.float64)], 1)
        w = torch.zeros(zb.shape[1], int(y.max()) + 1, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w], max_iter=500, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(zb[idx] @ w, y[idx]) + lam * (w[:-1] ** 2).sum()
            loss.backward()
            return loss
        opt.step(closure)
        return zb, w

    def acc(zb, w, idx):
        return ((zb[idx] @ w).argmax(1) == y[idx]).double().mean().item()
    fit_idx = [i for i in tr if i not in set(va)]
    lam = max([1e-4, 1e-3, 1e-2, 1e-1, 1.0], key=lambda l: acc(*fit(fit_idx, l), va))
    return acc(*fit(tr, lam), te)


def main():
    meta = [(w, v, s) for w in range(20) for v in range(10) for s in range(3)]
    te = [i for i, (w, v, s) in enumerate(meta) if s == (w + v) % 3]
    tr = [i for i in range(600) if i not in set(te)]
    va = [i for i in tr if meta[i][2] == (meta[i][0] + meta[i][1] + 1) % 3]
    yw, yv, ys = (np.array([m[j] for m in meta]) for j in range(3))
    perm = np.random.default_rng(0).permutation(600)
    rte, rtr = list(perm[:200]), list(perm[200:])
    rva = rtr[:130]
    e = [band_energies(load(f"{sys.argv[1]}/{WORDS[w]}-v{v}-s{s}.wav")) for w, v, s in meta]
    comp = {"log": lambda p: np.log(p + 1e-6), "magnitude": np.sqrt, "power": lambda p: p,
            "cube root": np.cbrt}
    for name, f in comp.items():
        for rng, sl in [("0-8k", slice(0, 64)), ("0-2k", slice(0, 16)), ("2-4k", slice(16, 32)),
                        ("4-8k", slice(32, 64))]:
            x = np.stack([f(p[:, sl]).mean(0) for p in e])
            print(f"spectrogram {name:9s} {rng}: word {probe(x, yw, tr, va, te):.3f} "
                  f"voice {probe(x, yv, tr, va, te):.3f}", flush=True)
    for nb in [4, 8, 16, 32]:
        x = np.stack([np.log(p.reshape(len(p), nb, 64 // nb).sum(2) + 1e-6).mean(0) for p in e])
        print(f"spectrogram log {nb} bands: word {probe(x, yw, tr, va, te):.3f} "
              f"voice {probe(x, yv, tr, va, te):.3f}", flush=True)
    sets = [("spectrogram log 64", np.stack([np.log(p + 1e-6).mean(0) for p in e]))]
    if len(sys.argv) > 2:
        a = np.fromfile(sys.argv[2], dtype=np.float32)
        sets += [("CPC c", a[:600 * 128].reshape(600, 128)), ("CPC z", a[600 * 128:].reshape(600, 64))]
    for name, x in sets:
        print(f"{name}: word {probe(x, yw, tr, va, te):.3f} voice {probe(x, yv, tr, va, te):.3f} "
              f"setting {probe(x, ys, tr, va, te):.3f} voice on a random split "
              f"{probe(x, yv, rtr, rva, rte):.3f}", flush=True)


if __name__ == "__main__":
    main()
