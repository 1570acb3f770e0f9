/*
 * main.c - cpc-speech: CPC (van den Oord et al. 2018) on real speech,
 * written against the public header only, like a host application.
 *
 * A corpus of 20 words x 10 voices x 3 speed/pitch settings is synthesised
 * by espeak-ng at the first run (corpus.h). A strided 1-D convolutional
 * encoder (CPC's strides 5, 4, 2, 2, 2: one latent every 10 ms) turns one
 * second of 16 kHz audio into 100 latents, a GRU summarises them into
 * contexts, and the CPC critic predicts K = 12 latents ahead with the other
 * windows of the batch as negatives. A training window is speech of one
 * voice end to end (words of that voice one after the other, from a random
 * point), as a sentence of a speech corpus. Then the library's linear probe is
 * fitted on frozen, mean-pooled contexts of the training utterances to
 * tell the word and the voice of the held-out ones, beside the same probe
 * on a randomly initialised encoder + context and on pooled log-spectrogram
 * frames. The defaults are the voice gap's best arm (docs/results.md, "the
 * voice gap, sixth pass"): two bands (`--front split`), each its own model
 * on a thread of its own, with the utterance-level term (`--utt-weight 0.3
 * --utt-proj 128`), trained for `--time-budget 270` seconds; `--front full
 * --utt-weight 0` is the single model of the first runs. `--pool meanstd`
 * appends the standard deviation over the frames to the mean, for all
 * three feature sets alike (docs/results.md: it does not close the voice
 * gap). The options of the voice-gap study
 * (docs/results.md, "the voice gap, second pass"), none of which closes it:
 * `--negatives other-voice` (the critic's negatives drawn from windows of
 * other voices at the positive's time), `same-window` (from the anchor's
 * own window at other times), `same-setting` (windows of one voice and one
 * speed/pitch setting, negatives from other voices at the same setting);
 * `--preemph A` (the encoders read x[n] - A x[n-1], unit RMS; the
 * spectrogram keeps the plain samples); `--kernel1 N` (the first conv
 * layer's kernel, default 10). The options of the third pass
 * (docs/results.md, "the voice gap, third pass"): `--front split`
 * (multi-band CPC: the waveform split at 4 kHz, bands.h, each band with
 * its own encoder + context + critic, trained on the same windows, the
 * probe on both models' pooled contexts side by side; the random baseline
 * is two random models the same way), `--front stack` (one encoder, the
 * waveform and its 4-8 kHz band as two input channels), `--split-hz F`
 * (where the two bands meet, default 4000), `--stride6 S`
 * (a sixth conv layer of stride S = 2 or 4: latents every 20 or 40 ms, so
 * that K spans 240 or 480 ms). The options of the fourth pass
 * (docs/results.md, "the voice gap, fourth pass"): `--utt-weight W`
 * (an utterance-level contrastive term, utt.h: the batch as pairs of
 * windows, the two halves of one two-second stream of one voice, their
 * mean-pooled contexts pulled together by NT-Xent against the other
 * streams, `--utt-tau T`, through a linear projection of `--utt-proj D`
 * dims or none; for every model, or `--utt-models high` the highest
 * band's only), `--compress log` (log(1 + |h|) of the first conv
 * layer's output, senc.h), `--front split3` (three bands, 0-2, 2-4 and
 * 4-8 kHz, each its own model). The option of the fifth pass
 * (docs/results.md, "the voice gap, fifth pass"): `--compress logpow`
 * (a learnable log-energy front end, senc.h: `--fb-pairs P` (64) pairs of
 * `--fb-taps N` (400, 25 ms) tap filters every 10 ms, the log of each
 * pair's energy, then a 1x1 and two 3-tap convs; `--fb-init random|mel|
 * linear`, fbank.h: the random baseline's filters are initialised the same
 * way); `--high-channels C`, `--high-context H` (with more than one band,
 * the highest band's model's encoder channels and GRU width, by default
 * those of the others). With more than one band, each band's model steps
 * on a thread of its own (`--threads N`, default 2; BLAS runs one thread
 * while they do; the numbers are those of one model after the other).
 * Progress on stderr; <out>/curve.csv,
 * <out>/curve.svg; the last stdout line is
 *   RESULT method=cpc-speech word_acc=... voice_acc=... random_word_acc=...
 *          random_voice_acc=... spectrogram_word_acc=... spectrogram_voice_acc=...
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../cpc-common/cpc_head.h"
#include "../cpc-common/cpc_probe.h"
#include "../cpc-common/cpc_report.h"
#include "corpus.h"
#include "fbank.h"
#include "front.h"
#include "senc.h"
#include "spectro.h"
#include "utt.h"

/* The host owns BLAS threads; these exist when the BLAS is linked. */
extern int openblas_get_num_threads(void) __attribute__((weak));
extern void openblas_set_num_threads(int) __attribute__((weak));
extern long bli_thread_get_num_threads(void) __attribute__((weak));
extern void bli_thread_set_num_threads(long) __attribute__((weak));

#define WINDOW 16000 /* one second */
#define HOP 160      /* samples per latent of the five layers (5 * 4 * 2 * 2 * 2) */

typedef struct options {
    const char *out_dir;
    double budget, lr, l2;
    int64_t max_steps, batch, channels, context, steps, words, voices;
    int64_t threads; /* host threads for the models' steps (--threads) */
    int64_t kernel1; /* the first conv layer's kernel (stride 5) */
    int pool_std; /* 1: mean and standard deviation over frames, 0: mean */
    int negatives; /* NEG_BATCH, NEG_OTHER_VOICE, NEG_SAME_WINDOW */
    double preemph; /* encoder input x[n] - a x[n-1], 0: none */
    int front; /* FRONT_FULL, FRONT_SPLIT, FRONT_STACK (front.h) */
    int64_t stride6; /* 1: five conv layers; > 1: a sixth, of this stride */
    double split_hz; /* where --front split|stack splits the bands */
    int64_t hop, frames; /* samples per latent, latents per window */
    double utt_weight, utt_tau; /* the utterance-level term (utt.h); 0: off */
    int64_t utt_proj; /* its projection's width, 0: none */
    int utt_high; /* 1: the term for the highest band's model only */
    int compress; /* SENC_LOG: log(1 + |h|) after the first conv layer, SENC_LOGPOW:
                     the learnable log-energy front end (senc.h) */
    int fb_init; /* SENC_LOGPOW: the filters' initialisation (FBANK_*) */
    int64_t fb_pairs, fb_taps; /* SENC_LOGPOW: its band-passes, their taps */
    int64_t high_channels, high_context; /* the highest band's model's widths (0: as the others') */
    uint64_t seed;
} options;

/* The negatives of the critic (--negatives). */
enum { NEG_BATCH, NEG_OTHER_VOICE, NEG_SAME_WINDOW, NEG_SAME_SETTING };
#define N_NEG 31 /* sampled negatives: as many as a batch of 32 gives */

typedef struct model {
    int64_t ch, ctx; /* its encoder's channels, its GRU's width */
    senc enc;
    cpc_head head;
    float *x, *z, *gz, *c;
    int64_t *neg_idx, *voice, *setting; /* sampled negatives; each window's voice, setting */
    utt_term utt; /* --utt-weight > 0 */
} model;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse(options *o, int argc, char **argv)
{
    int i;
    o->out_dir = "cpc-speech-out", o->budget = 270.0, o->lr = 1e-3, o->l2 = 0.0;
    o->max_steps = 0, o->batch = 32, o->channels = 64, o->context = 128;
    o->steps = 12, o->seed = 1, o->words = CORPUS_WORDS, o->voices = CORPUS_VOICES;
    o->kernel1 = 10, o->pool_std = 0, o->negatives = NEG_BATCH, o->preemph = 0.0;
    o->front = FRONT_SPLIT, o->stride6 = 1, o->split_hz = 4000.0;
    o->utt_weight = 0.3, o->utt_tau = 0.1, o->utt_proj = 128, o->compress = 0, o->utt_high = 0;
    o->fb_init = FBANK_RANDOM, o->fb_pairs = 64, o->fb_taps = 400;
    o->high_channels = 0, o->high_context = 0, o->threads = 2;
    for (i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--time-budget") == 0) o->budget = atof(v);
        else if (strcmp(a, "--max-steps") == 0) o->max_steps = atoll(v);
        else if (strcmp(a, "--threads") == 0) o->threads = atoll(v);
        else if (strcmp(a, "--batch") == 0) o->batch = atoll(v);
        else if (strcmp(a, "--channels") == 0) o->channels = atoll(v);
        else if (strcmp(a, "--context") == 0) o->context = atoll(v);
        else if (strcmp(a, "--steps") == 0) o->steps = atoll(v);
        else if (strcmp(a, "--lr") == 0) o->lr = atof(v);
        else if (strcmp(a, "--probe-l2") == 0) o->l2 = atof(v);
        else if (strcmp(a, "--seed") == 0) o->seed = (uint64_t)atoll(v);
        else if (strcmp(a, "--words") == 0) o->words = atoll(v);
        else if (strcmp(a, "--voices") == 0) o->voices = atoll(v);
        else if (strcmp(a, "--out") == 0) o->out_dir = v;
        else if (strcmp(a, "--pool") == 0 && strcmp(v, "mean") == 0) o->pool_std = 0;
        else if (strcmp(a, "--pool") == 0 && strcmp(v, "meanstd") == 0) o->pool_std = 1;
        else if (strcmp(a, "--negatives") == 0 && strcmp(v, "batch") == 0) o->negatives = NEG_BATCH;
        else if (strcmp(a, "--negatives") == 0 && strcmp(v, "other-voice") == 0)
            o->negatives = NEG_OTHER_VOICE;
        else if (strcmp(a, "--negatives") == 0 && strcmp(v, "same-window") == 0)
            o->negatives = NEG_SAME_WINDOW;
        else if (strcmp(a, "--negatives") == 0 && strcmp(v, "same-setting") == 0)
            o->negatives = NEG_SAME_SETTING;
        else if (strcmp(a, "--preemph") == 0) o->preemph = atof(v);
        else if (strcmp(a, "--kernel1") == 0) o->kernel1 = atoll(v);
        else if (strcmp(a, "--stride6") == 0) o->stride6 = atoll(v);
        else if (strcmp(a, "--split-hz") == 0) o->split_hz = atof(v);
        else if (strcmp(a, "--utt-weight") == 0) o->utt_weight = atof(v);
        else if (strcmp(a, "--utt-tau") == 0) o->utt_tau = atof(v);
        else if (strcmp(a, "--utt-proj") == 0) o->utt_proj = atoll(v);
        else if (strcmp(a, "--utt-models") == 0 && strcmp(v, "all") == 0) o->utt_high = 0;
        else if (strcmp(a, "--utt-models") == 0 && strcmp(v, "high") == 0) o->utt_high = 1;
        else if (strcmp(a, "--compress") == 0 && strcmp(v, "none") == 0) o->compress = 0;
        else if (strcmp(a, "--compress") == 0 && strcmp(v, "log") == 0) o->compress = SENC_LOG;
        else if (strcmp(a, "--compress") == 0 && strcmp(v, "logpow") == 0) o->compress = SENC_LOGPOW;
        else if (strcmp(a, "--fb-init") == 0 && strcmp(v, "random") == 0) o->fb_init = FBANK_RANDOM;
        else if (strcmp(a, "--fb-init") == 0 && strcmp(v, "mel") == 0) o->fb_init = FBANK_MEL;
        else if (strcmp(a, "--fb-init") == 0 && strcmp(v, "linear") == 0) o->fb_init = FBANK_LINEAR;
        else if (strcmp(a, "--fb-pairs") == 0) o->fb_pairs = atoll(v);
        else if (strcmp(a, "--fb-taps") == 0) o->fb_taps = atoll(v);
        else if (strcmp(a, "--high-channels") == 0) o->high_channels = atoll(v);
        else if (strcmp(a, "--high-context") == 0) o->high_context = atoll(v);
        else if (strcmp(a, "--front") == 0 && strcmp(v, "full") == 0) o->front = FRONT_FULL;
        else if (strcmp(a, "--front") == 0 && strcmp(v, "split") == 0) o->front = FRONT_SPLIT;
        else if (strcmp(a, "--front") == 0 && strcmp(v, "stack") == 0) o->front = FRONT_STACK;
        else if (strcmp(a, "--front") == 0 && strcmp(v, "split3") == 0) o->front = FRONT_SPLIT3;
        else break;
    }
    o->hop = HOP * o->stride6, o->frames = o->stride6 >= 1 ? WINDOW / o->hop : 0;
    if (i < argc || o->batch < 2 || o->batch > 256 || o->steps < 1 || o->steps >= o->frames ||
        o->steps > CPC_REPORT_MAX_STEPS || (o->stride6 != 1 && o->stride6 != 2 && o->stride6 != 4) ||
        o->words < 2 || o->words > CORPUS_WORDS || o->voices < 2 ||
        o->voices > CORPUS_VOICES || o->preemph < 0.0 || o->preemph >= 1.0 ||
        o->kernel1 < 5 || o->kernel1 > 400 || o->kernel1 % 2 != 0 ||
        !(o->split_hz >= 500.0 && o->split_hz <= 7500.0) ||
        !(o->utt_weight >= 0.0 && o->utt_weight <= 100.0) ||
        !(o->utt_tau >= 0.001 && o->utt_tau <= 1000.0) || o->utt_proj < 0 ||
        o->utt_proj > 4096 || (o->utt_weight > 0.0 && o->batch % 2 != 0) ||
        o->fb_pairs < 2 || o->fb_pairs > 512 || o->fb_taps < HOP || o->fb_taps > 1024 ||
        o->fb_taps % 2 != 0 || o->high_channels < 0 || o->high_channels > 1024 ||
        o->high_context < 0 || o->high_context > 1024 || o->threads < 1 || o->threads > 64) {
        fprintf(stderr, "usage: cpc-speech [--time-budget S] [--max-steps N] [--batch B]\n"
                        "  [--channels C] [--context H] [--steps K] [--lr LR] [--probe-l2 L]\n"
                        "  [--seed S] [--words W] [--voices V] [--pool mean|meanstd] [--out DIR]\n"
                        "  [--negatives batch|other-voice|same-window|same-setting]\n"
                        "  [--preemph A] [--kernel1 N] [--front full|split|stack|split3]\n"
                        "  [--stride6 1|2|4] [--split-hz F]\n"
                        "  [--utt-weight W] [--utt-tau T] [--utt-proj D]\n"
                        "  [--utt-models all|high] [--compress none|log|logpow]\n"
                        "  [--fb-init random|mel|linear] [--fb-pairs P] [--fb-taps N]\n"
                        "  [--high-channels C] [--high-context H] [--threads N]\n"
                        "  (--words, --voices: a smaller corpus, the first W words and V voices;\n"
                        "   --probe-l2 0, the default: chosen per probe on a held-out training setting;\n"
                        "   --pool: how every feature set is pooled over frames, default mean;\n"
                        "   --threads: with more than one band, each band's model steps on a\n"
                        "   thread of its own and BLAS runs one thread meanwhile, default 2)\n");
        return -1;
    }
    return 0;
}

/* The encoder: 1 s of audio (16000 x in_ch) -> 100 x channels, or with
 * --stride6 S a sixth conv layer (kernel 2S, stride S) -> 100 / S x
 * channels, one latent every 10 S ms. */
static int build_encoder(senc *enc, const options *o, int64_t in_ch, int64_t channels,
                         uint64_t seed)
{
    const int64_t k[6] = {o->kernel1, 8, 4, 4, 4, 2 * o->stride6},
                  s[6] = {5, 4, 2, 2, 2, o->stride6},
                  p[6] = {(o->kernel1 - 4) / 2, 2, 1, 1, 1, o->stride6 / 2};
    /* --compress logpow: fb_pairs band-passes of fb_taps taps every 10 ms,
     * their log energies, a 1x1 and two 3-tap convs (+ the sixth layer) */
    const int64_t kf[5] = {o->fb_taps, 1, 3, 3, 2 * o->stride6},
                  sf[5] = {HOP, 1, 1, 1, o->stride6},
                  pf[5] = {(o->fb_taps - HOP) / 2, 0, 1, 1, o->stride6 / 2};
    const int fb = o->compress == SENC_LOGPOW;
    senc_shape sh;
    sh.window = WINDOW, sh.in_ch = in_ch, sh.channels = channels;
    sh.layers = (o->stride6 > 1 ? 6 : 5) - fb, sh.k = fb ? kf : k, sh.s = fb ? sf : s;
    sh.p = fb ? pf : p, sh.pairs = o->fb_pairs, sh.fb_init = o->fb_init, sh.rate = CORPUS_RATE;
    return senc_create(enc, &sh, o->compress, o->batch, o->lr, seed);
}

static int model_create(model *m, const options *o, int64_t in_ch, int64_t ch, int64_t ctx,
                        uint64_t seed, char *err, size_t cap)
{
    const int64_t b = o->batch;
    int rc;
    memset(m, 0, sizeof(*m));
    m->ch = ch, m->ctx = ctx;
    if ((rc = build_encoder(&m->enc, o, in_ch, ch, seed)) != CTR_OK)
        return snprintf(err, cap, "encoder: %s (%s)", ctr_strerror(rc),
                        senc_last_error(&m->enc)), rc;
    m->x = (float *)calloc((size_t)(b * WINDOW * in_ch), sizeof(float));
    m->z = (float *)malloc((size_t)(b * o->frames * ch) * sizeof(float));
    m->gz = (float *)malloc((size_t)(b * o->frames * ch) * sizeof(float));
    m->c = (float *)malloc((size_t)(b * o->frames * ctx) * sizeof(float));
    m->voice = (int64_t *)malloc((size_t)b * sizeof(int64_t));
    m->setting = (int64_t *)malloc((size_t)b * sizeof(int64_t));
    if (o->negatives != NEG_BATCH)
        m->neg_idx = (int64_t *)malloc((size_t)(o->steps * b * o->frames * N_NEG) * sizeof(int64_t));
    if (!m->x || !m->z || !m->gz || !m->c || !m->voice || !m->setting || (o->negatives != NEG_BATCH && !m->neg_idx))
        return snprintf(err, cap, "out of memory"), CTR_E_NOMEM;
    rc = cpc_head_create(&m->head, o->frames, ch, ctx, o->steps,
                         o->negatives == NEG_BATCH ? CTR_CPC_NEG_BATCH : CTR_CPC_NEG_SAMPLED,
                         N_NEG, b, o->lr, seed + 10, err, cap);
    m->head.neg_idx = m->neg_idx;
    if (rc == CTR_OK && o->utt_weight > 0.0) {
        rc = utt_create(&m->utt, o->utt_weight, o->utt_tau, o->frames, ctx,
                        o->utt_proj, b, o->lr, seed + 20, err, cap);
        m->head.extra = utt_hook, m->head.extra_user = &m->utt;
    }
    return rc;
}

static void model_destroy(model *m)
{
    cpc_head_destroy(&m->head);
    utt_destroy(&m->utt);
    senc_destroy(&m->enc);
    free(m->x), free(m->z), free(m->gz), free(m->c), free(m->neg_idx), free(m->voice), free(m->setting);
}

/* The critic's negatives for a batch of b windows whose voices are
 * voice[]: for anchor (s, u) of step k, N_NEG latents at the positive's
 * time u + k of windows of other voices (NEG_OTHER_VOICE; drawn with
 * replacement), or of window s itself at other times (NEG_SAME_WINDOW). */
static void draw_negatives(int64_t *idx, const int64_t *voice,
                           const int64_t *setting, int64_t b, int64_t frames,
                           int64_t steps, int negatives, ctr_rng *g)
{
    int64_t k, s, u, j, other[256], n_other, r[N_NEG];
    for (s = 0; s < b; s++) {
        for (j = 0, n_other = 0; j < b; j++)
            if (voice[j] != voice[s] &&
                (negatives != NEG_SAME_SETTING || setting[j] == setting[s]))
                other[n_other++] = j;
        for (k = 1; k <= steps; k++)
            for (u = 0; u + k < frames; u++) {
                int64_t *dst = idx + (((k - 1) * b + s) * frames + u) * N_NEG;
                if (negatives == NEG_SAME_WINDOW) {
                    ctr_rng_below(g, r, N_NEG, frames - 1);
                    for (j = 0; j < N_NEG; j++)
                        dst[j] = s * frames + (r[j] >= u + k ? r[j] + 1 : r[j]);
                } else if (n_other > 0) {
                    ctr_rng_below(g, r, N_NEG, n_other);
                    for (j = 0; j < N_NEG; j++)
                        dst[j] = other[r[j]] * frames + u + k;
                } else { /* one voice in the batch: any other window */
                    ctr_rng_below(g, r, N_NEG, b - 1);
                    for (j = 0; j < N_NEG; j++)
                        dst[j] = (r[j] >= s ? r[j] + 1 : r[j]) * frames + u + k;
                }
            }
    }
}

/* Places u in a one-second window at offset `at` (cropping what does not
 * fit); returns the offset used. */
static int64_t place(float *x, const utterance *u, int64_t at)
{
    int64_t n = u->count, from = 0;
    memset(x, 0, WINDOW * sizeof(float));
    if (n > WINDOW)
        from = (n - WINDOW) / 2, n = WINDOW, at = 0;
    if (at + n > WINDOW)
        at = WINDOW - n;
    memcpy(x + at, u->samples + from, (size_t)n * sizeof(float));
    return at;
}

/* 1 when the training loop is about to end (log the last interval). */
static int stop_next(const options *o, int64_t step, double t0)
{
    return o->max_steps > 0 ? step >= o->max_steps : now_s() - t0 >= o->budget;
}

/* A training window of len samples: utterances of one voice (random
 * training words and settings) end to end, from a random point of the
 * first, so that every frame is speech and a sequence keeps one speaker,
 * as a sentence of a speech corpus does. (Padding with silence would give
 * every sequence the same latents there: positives tied with their batch
 * negatives.) With --utt-weight, len is two windows: the two halves of one
 * sentence. */
static int64_t fill_window(float *x, int64_t len, const corpus *c, const int64_t *idx,
                           int64_t n, int64_t setting, ctr_rng *g)
{
    int64_t r, from, filled = 0, voice;
    const utterance *u;
    do {
        ctr_rng_below(g, &r, 1, n);
        u = &c->u[idx[r]], voice = u->voice;
    } while (setting >= 0 && u->setting != setting);
    ctr_rng_below(g, &from, 1, u->count);
    while (filled < len) {
        const int64_t part = u->count - from < len - filled ? u->count - from
                                                            : len - filled;
        memcpy(x + filled, u->samples + from, (size_t)part * sizeof(float));
        filled += part, from = 0;
        do {
            ctr_rng_below(g, &r, 1, n);
            u = &c->u[idx[r]];
        } while (u->voice != voice || (setting >= 0 && u->setting != setting));
    }
    return voice;
}

/* One training step of model m on its input m->x (n windows): loss and
 * per-step accuracies into loss, acc. Returns 0, or -1 with a message. */
static int model_step(model *m, int64_t n, double *loss, double *acc)
{
    char err[256];
    int rc = senc_zero_grad(&m->enc);
    if (rc == CTR_OK)
        rc = senc_forward(&m->enc, m->z, m->x, n, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK &&
        cpc_head_step(&m->head, m->z, m->gz, n, loss, acc, err, sizeof(err)) != CTR_OK)
        return fprintf(stderr, "cpc-speech: %s\n", err), -1;
    if (rc == CTR_OK)
        rc = senc_backward(&m->enc, m->gz);
    if (rc == CTR_OK)
        rc = senc_step(&m->enc);
    if (rc != CTR_OK)
        return fprintf(stderr, "cpc-speech: %s (%s)\n", ctr_strerror(rc),
                       senc_last_error(&m->enc)), -1;
    return 0;
}

/* Sets the BLAS thread count to n (n <= 0: leaves it) and returns the one
 * it replaces (0: unknown). */
static int64_t blas_threads_set(int64_t n)
{
    int64_t was = 0;
    if (openblas_get_num_threads != NULL)
        was = openblas_get_num_threads();
    else if (bli_thread_get_num_threads != NULL)
        was = bli_thread_get_num_threads();
    if (n > 0 && openblas_set_num_threads != NULL)
        openblas_set_num_threads((int)n);
    if (n > 0 && bli_thread_set_num_threads != NULL)
        bli_thread_set_num_threads((long)n);
    return was;
}

/* One model's training step, run on a thread of its own when the models
 * step side by side (--threads). */
typedef struct step_job {
    model *m;
    int64_t n;
    double loss, acc[64];
    int rc;
} step_job;

static void *step_job_run(void *arg)
{
    step_job *j = (step_job *)arg;
    j->rc = model_step(j->m, j->n, &j->loss, j->acc);
    return NULL;
}

/* Steps the nm models: with threads > 1, models 1.. on threads of their
 * own beside model 0 on this one (their handles are distinct, so the
 * library allows it; each model's numbers are those of a sequential run). */
static int models_step(step_job *job, int64_t nm, int64_t threads)
{
    pthread_t th[FRONT_MAX_MODELS];
    int started[FRONT_MAX_MODELS] = {0}, rc = 0;
    int64_t j;
    for (j = 1; j < nm; j++)
        started[j] = threads > 1 && pthread_create(&th[j], NULL, step_job_run, &job[j]) == 0;
    for (j = 0; j < nm; j++)
        if (!started[j])
            step_job_run(&job[j]);
    for (j = 1; j < nm; j++)
        if (started[j])
            pthread_join(th[j], NULL);
    for (j = 0; j < nm; j++)
        rc |= job[j].rc;
    return rc;
}

/* A batch of training windows into win, through the front-end into the
 * inputs of the nm models; the sampled negatives into m[0]'s buffer (the
 * models share it). */
static void next_batch(model *m, int64_t nm, const front *f, float *win,
                       const options *o, const corpus *c, const int64_t *train_idx,
                       int64_t n_train, ctr_rng *g)
{
    const int64_t per = o->utt_weight > 0.0 ? 2 : 1; /* windows per sentence */
    float *x[FRONT_MAX_MODELS];
    int64_t i;
    for (i = 0; i < o->batch; i += per) {
        m->setting[i] = o->negatives == NEG_SAME_SETTING ? i % CORPUS_SETTINGS : -1;
        m->voice[i] = fill_window(win + i * WINDOW, per * WINDOW, c, train_idx, n_train,
                                  m->setting[i], g);
        if (per == 2)
            m->setting[i + 1] = m->setting[i], m->voice[i + 1] = m->voice[i];
    }
    if (o->negatives != NEG_BATCH)
        draw_negatives(m->neg_idx, m->voice, m->setting, o->batch, o->frames, o->steps, o->negatives, g);
    for (i = 0; i < nm; i++)
        x[i] = m[i].x;
    front_apply(f, win, o->batch, WINDOW, x);
}

/* Trains the nm models (one per band of the front-end) on the same
 * windows; the curve has their mean loss and accuracies. */
static int64_t train(model *m, int64_t nm, const front *f, float *win,
                     const options *o, const corpus *c,
                     const int64_t *train_idx, int64_t n_train, cpc_point *curve,
                     int64_t *npoints, int64_t cap)
{
    double t0 = now_s(), sum_loss = 0, sum_acc[64] = {0}, utt[3] = {0, 0, 0};
    int64_t step = 0, in_int = 0, j, k;
    step_job job[FRONT_MAX_MODELS];
    ctr_rng *g = NULL;
    for (j = 0; j < nm; j++)
        job[j].m = &m[j], job[j].n = o->batch;
    ctr_rng_create(&g, o->seed + 77, NULL);
    *npoints = 0;
    while (!stop_next(o, step, t0)) {
        next_batch(m, nm, f, win, o, c, train_idx, n_train, g);
        if (models_step(job, nm, o->threads) != 0) {
            ctr_rng_destroy(g);
            return -1;
        }
        for (j = 0; j < nm; j++) {
            const double loss = job[j].loss, *acc = job[j].acc;
            sum_loss += loss / (double)nm;
            if (m[j].head.extra != NULL)
                utt[0] += m[j].utt.loss, utt[1] += m[j].utt.acc, utt[2] += 1.0;
            for (k = 0; k < o->steps; k++)
                sum_acc[k] += acc[k] / (double)nm;
        }
        step++, in_int++;
        if ((in_int == 20 || stop_next(o, step, t0)) && in_int > 0 && *npoints < cap) {
            cpc_point *p = &curve[(*npoints)++];
            p->step = step, p->seconds = now_s() - t0, p->loss = sum_loss / in_int;
            p->chance = cpc_head_chance(&m->head), p->k = o->steps;
            for (k = 0; k < o->steps; k++)
                p->acc[k] = sum_acc[k] / in_int, sum_acc[k] = 0;
            fprintf(stderr, "step %5lld  %6.1fs  loss %.4f (chance %.4f)  acc k=1 %.3f  k=%lld %.3f\n",
                    (long long)step, p->seconds, p->loss, p->chance, p->acc[0],
                    (long long)o->steps, p->acc[o->steps - 1]);
            if (o->utt_weight > 0.0)
                fprintf(stderr, "           utterance term: loss %.4f  pair accuracy %.3f\n",
                        utt[0] / utt[2], utt[1] / utt[2]);
            sum_loss = 0, in_int = 0, utt[0] = utt[1] = utt[2] = 0;
        }
    }
    ctr_rng_destroy(g);
    return step;
}

/* Mean over the frames [f0, f1) of n-float rows into dst[0..n), and with
 * std != 0 their standard deviation into dst[n..2n). */
static void pool_frames(float *dst, const float *rows, int64_t f0, int64_t f1,
                        int64_t n, int std)
{
    int64_t f, j;
    for (j = 0; j < n; j++) {
        double sum = 0.0, sq = 0.0, mean, var;
        for (f = f0; f < f1; f++)
            sum += rows[f * n + j], sq += (double)rows[f * n + j] * rows[f * n + j];
        mean = sum / (double)(f1 - f0), var = sq / (double)(f1 - f0) - mean * mean;
        dst[j] = (float)mean;
        if (std)
            dst[n + j] = (float)sqrt(var > 0.0 ? var : 0.0);
    }
}

/* The widths of models [0, j): of their contexts (ctx != 0) or latents. */
static int64_t widths(const model *m, int64_t j, int ctx)
{
    int64_t k, sum = 0;
    for (k = 0; k < j; k++)
        sum += ctx ? m[k].ctx : m[k].ch;
    return sum;
}

/* Pooled contexts of every utterance (centred in the window; the frames
 * that cover its samples) of the nm models side by side, widths(m, nm, 1)
 * floats each (twice that with std: mean then standard deviation per
 * model); and, when zout is not NULL, the latents pooled the same way
 * (widths(m, nm, 0) floats each, or twice). */
static int features(model *m, int64_t nm, const front *f, float *win,
                    const options *o, const corpus *c, int std, float *out,
                    float *zout)
{
    const int64_t b = o->batch, w = 1 + std, dc = widths(m, nm, 1), dz = widths(m, nm, 0);
    int64_t i0, i, j, at[256];
    float *x[FRONT_MAX_MODELS];
    for (j = 0; j < nm; j++)
        x[j] = m[j].x;
    for (i0 = 0; i0 < c->count; i0 += b) {
        const int64_t cnt = c->count - i0 < b ? c->count - i0 : b;
        for (i = 0; i < cnt; i++)
            at[i] = place(win + i * WINDOW, &c->u[i0 + i], (WINDOW - c->u[i0 + i].count) / 2);
        front_apply(f, win, cnt, WINDOW, x);
        for (j = 0; j < nm; j++) {
            const int64_t h = m[j].ctx, ch = m[j].ch, oc = widths(m, j, 1), oz = widths(m, j, 0);
            int rc = senc_forward(&m[j].enc, m[j].z, m[j].x, cnt, CTR_ENCODER_EVAL);
            if (rc == CTR_OK)
                rc = cpc_head_context(&m[j].head, m[j].z, m[j].c, cnt);
            if (rc != CTR_OK)
                return rc;
            for (i = 0; i < cnt; i++) {
                const utterance *u = &c->u[i0 + i];
                int64_t f0 = at[i] / o->hop, f1 = (at[i] + (u->count < WINDOW ? u->count : WINDOW) + o->hop - 1) / o->hop;
                f1 = f1 > o->frames ? o->frames : f1 <= f0 ? f0 + 1 : f1;
                pool_frames(out + ((i0 + i) * dc + oc) * w, m[j].c + i * o->frames * h, f0, f1, h, std);
                if (zout != NULL)
                    pool_frames(zout + ((i0 + i) * dz + oz) * w, m[j].z + i * o->frames * ch, f0,
                                f1, ch, std);
            }
        }
    }
    return CTR_OK;
}

/* The encoder's input (--preemph a > 0): a copy of the corpus with each
 * utterance pre-emphasised, y[n] = x[n] - a x[n-1], and scaled back to unit
 * RMS; the spectrogram baseline keeps reading the corpus itself. */
static int preemphasise(corpus *dst, const corpus *src, double a)
{
    int64_t i, n;
    dst->count = src->count;
    dst->u = (utterance *)calloc((size_t)src->count, sizeof(utterance));
    for (i = 0; dst->u != NULL && i < src->count; i++) {
        const utterance *u = &src->u[i];
        double ss = 0.0, scale;
        dst->u[i] = *u;
        dst->u[i].samples = (float *)malloc((size_t)u->count * sizeof(float));
        if (dst->u[i].samples == NULL)
            return dst->count = i, -1;
        for (n = 0; n < u->count; n++) {
            const double y = u->samples[n] - (n > 0 ? a * u->samples[n - 1] : 0.0);
            dst->u[i].samples[n] = (float)y, ss += y * y;
        }
        scale = ss > 0.0 ? 1.0 / sqrt(ss / (double)u->count) : 1.0;
        for (n = 0; n < u->count; n++)
            dst->u[i].samples[n] = (float)(dst->u[i].samples[n] * scale);
    }
    return dst->u == NULL ? (dst->count = 0, -1) : 0;
}

/* The probe's penalties to choose from (--probe-l2 0, the default). */
static const double L2_GRID[] = {1e-4, 1e-3, 1e-2, 1e-1, 1.0};

/* One probe: fixed l2 > 0, or chosen on the training utterances of one
 * of the two training settings (val) fitted on the other, as the test
 * holds out a setting. */
static double probe(const float *tr, const int64_t *ytr, const int *val,
                    int64_t ntr, const float *te, const int64_t *yte,
                    int64_t nte, int64_t dim, int64_t classes, double l2,
                    const char *what)
{
    double acc;
    if (l2 > 0)
        return cpc_probe_accuracy(tr, ytr, ntr, te, yte, nte, dim, classes, l2);
    acc = cpc_probe_accuracy_select(tr, ytr, val, ntr, te, yte, nte, dim,
                                    classes, L2_GRID, 5, &l2);
    fprintf(stderr, "cpc-speech: %-19s probe lambda %-6g accuracy %.3f\n",
            what, l2, acc);
    return acc;
}

/* Probe accuracies for word and voice from per-utterance features. */
static void probe_both(const corpus *c, const float *feat, int64_t dim,
                       double l2, const char *what, double *word,
                       double *voice)
{
    const int64_t nwords = c->u[c->count - 1].word + 1;
    const int64_t nvoices = c->u[c->count - 1].voice + 1;
    float *tr = (float *)malloc((size_t)(c->count * dim) * sizeof(float));
    float *te = (float *)malloc((size_t)(c->count * dim) * sizeof(float));
    int64_t *y = (int64_t *)malloc((size_t)c->count * 4 * sizeof(int64_t));
    int *val = (int *)malloc((size_t)c->count * sizeof(int));
    int64_t *ytr = y, *yte = y + c->count, *vtr = y + 2 * c->count,
            *vte = y + 3 * c->count;
    int64_t i, ntr = 0, nte = 0;
    char label[64];
    for (i = 0; i < c->count; i++) {
        const utterance *u = &c->u[i];
        if (u->test) {
            memcpy(te + nte * dim, feat + i * dim, (size_t)dim * sizeof(float));
            yte[nte] = u->word, vte[nte++] = u->voice;
        } else {
            memcpy(tr + ntr * dim, feat + i * dim, (size_t)dim * sizeof(float));
            val[ntr] = u->setting == (u->word + u->voice + 1) % CORPUS_SETTINGS;
            ytr[ntr] = u->word, vtr[ntr++] = u->voice;
        }
    }
    snprintf(label, sizeof(label), "%s word", what);
    *word = probe(tr, ytr, val, ntr, te, yte, nte, dim, nwords, l2, label);
    snprintf(label, sizeof(label), "%s voice", what);
    *voice = probe(tr, vtr, val, ntr, te, vte, nte, dim, nvoices, l2, label);
    free(tr), free(te), free(y), free(val);
}

/* For the record (stderr only): the probe on the pooled contexts (dc
 * floats each) and latents (dz floats each) side by side. */
static void probe_cz(const corpus *c, const float *feat, int64_t dc,
                     const float *zfeat, int64_t dz, double l2)
{
    float *cz = (float *)malloc((size_t)(c->count * (dc + dz)) * sizeof(float));
    double cw, cv;
    int64_t i;
    for (i = 0; cz != NULL && i < c->count; i++) {
        memcpy(cz + i * (dc + dz), feat + i * dc, (size_t)dc * sizeof(float));
        memcpy(cz + i * (dc + dz) + dc, zfeat + i * dz, (size_t)dz * sizeof(float));
    }
    if (cz != NULL)
        probe_both(c, cz, dc + dz, l2, "CPC c+z", &cw, &cv);
    free(cz);
}

/* For the record (stderr only): the probe on each model's own pooled
 * contexts (block j of nm blocks of n floats a row): what each band's
 * model carries by itself. */
static void probe_bands(const corpus *c, const float *feat, const model *m, int64_t nm,
                        int64_t pw, double l2)
{
    const int64_t d = widths(m, nm, 1) * pw;
    float *one = (float *)malloc((size_t)(c->count * d) * sizeof(float));
    double bw, bv;
    int64_t i, j;
    char label[64];
    for (j = 0; one != NULL && nm > 1 && j < nm; j++) {
        const int64_t n = m[j].ctx * pw, off = widths(m, j, 1) * pw;
        for (i = 0; i < c->count; i++)
            memcpy(one + i * n, feat + i * d + off, (size_t)n * sizeof(float));
        snprintf(label, sizeof(label), "CPC c, model %lld", (long long)j);
        probe_both(c, one, n, l2, label, &bw, &bv);
    }
    free(one);
}

/* nm models for the front-end's inputs; model j's seed is o->seed + 1000 j
 * (so that the plain front-end's model is the one of before). */
static int models_create(model *m, int64_t nm, const front *f,
                         const options *o, char *err, size_t cap)
{
    int64_t j;
    for (j = 0; j < nm; j++) {
        const int high = nm > 1 && j + 1 == nm; /* the highest band's model */
        const int64_t ch = high && o->high_channels > 0 ? o->high_channels : o->channels;
        const int64_t ctx = high && o->high_context > 0 ? o->high_context : o->context;
        int rc = model_create(&m[j], o, f->in_ch, ch, ctx, o->seed + 1000 * (uint64_t)j, err, cap);
        if (rc != CTR_OK)
            return rc;
        m[j].head.neg_idx = m[0].neg_idx; /* the same windows, the same negatives */
        if (o->utt_high && j + 1 < nm)
            m[j].head.extra = NULL; /* --utt-models high: the last model's only */
    }
    return CTR_OK;
}

/* The trained models' probes: contexts c (the RESULT's, pooled as
 * o->pool_std says) into word/voice; for the record (stderr only) the
 * pooled latents z, c and z side by side, and c with mean + std pooling. */
static int probe_trained(model *m, int64_t nm, const front *f, float *win,
                         const options *o, const corpus *c, double *word,
                         double *voice)
{
    const int64_t dc = widths(m, nm, 1), dz = widths(m, nm, 0), pw = 1 + o->pool_std;
    float *both = (float *)malloc((size_t)(c->count * dc * 2) * sizeof(float));
    float *feat = (float *)malloc((size_t)(c->count * dc * pw) * sizeof(float));
    float *zfeat = (float *)malloc((size_t)(c->count * dz * pw) * sizeof(float));
    double zw, zv, sw, sv;
    int rc = both && feat && zfeat ? CTR_OK : CTR_E_NOMEM;
    if (rc == CTR_OK && !o->pool_std)
        rc = features(m, nm, f, win, o, c, 1, both, NULL);
    if (rc == CTR_OK)
        rc = features(m, nm, f, win, o, c, o->pool_std, feat, zfeat);
    if (rc == CTR_OK) {
        probe_both(c, feat, dc * pw, o->l2, "CPC", word, voice);
        probe_both(c, zfeat, dz * pw, o->l2, "CPC latents z", &zw, &zv);
        probe_cz(c, feat, dc * pw, zfeat, dz * pw, o->l2);
        probe_bands(c, feat, m, nm, pw, o->l2);
        if (!o->pool_std)
            probe_both(c, both, dc * 2, o->l2, "CPC c mean+std", &sw, &sv);
        fprintf(stderr, "cpc-speech: CPC latents z word/voice %.3f/%.3f\n", zw, zv);
    }
    free(both), free(feat), free(zfeat);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    corpus c, pre, *in = &c; /* in: what the encoders read */
    model m[FRONT_MAX_MODELS], rnd[FRONT_MAX_MODELS];
    front fr;
    static cpc_point curve[4096];
    int64_t npoints, i, *train_idx, n_train = 0, steps, nm, blas_threads;
    double w_acc, v_acc, rw, rv, sw, sv, t0 = now_s();
    int64_t pw;
    float *feat, *win;
    char err[256], path[1100];
    if (parse(&o, argc, argv) != 0)
        return 2;
    snprintf(path, sizeof(path), "%s/corpus", o.out_dir);
    if (cpc_make_dirs(o.out_dir) != 0) {
        fprintf(stderr, "cpc-speech: cannot create the output directory\n");
        return 1;
    }
    if (corpus_load(&c, path, o.words, o.voices, err, sizeof(err)) != 0) {
        fprintf(stderr, "cpc-speech: %s\n", err);
        return 1;
    }
    memset(&pre, 0, sizeof(pre));
    if (o.preemph > 0.0) {
        if (preemphasise(&pre, &c, o.preemph) != 0)
            return fprintf(stderr, "cpc-speech: out of memory\n"), 1;
        in = &pre;
    }
    train_idx = (int64_t *)malloc((size_t)c.count * sizeof(int64_t));
    pw = 1 + o.pool_std;
    for (i = 0; i < c.count; i++)
        if (!c.u[i].test)
            train_idx[n_train++] = i;
    if (front_init(&fr, o.front, o.split_hz / CORPUS_RATE, in, train_idx, n_train, WINDOW) != 0)
        return fprintf(stderr, "cpc-speech: out of memory\n"), 1;
    nm = fr.models;
    win = (float *)calloc((size_t)(o.batch * WINDOW), sizeof(float));
    if (win == NULL)
        return fprintf(stderr, "cpc-speech: out of memory\n"), 1;
    fprintf(stderr, "cpc-speech: %lld utterances (%lld train, %lld test), %lld words x %lld voices; "
                    "K=%lld, batch %lld, budget %.0fs; %lld model(s), %lld input channel(s), "
                    "high-band gain %.2f (middle %.2f)\n", (long long)c.count, (long long)n_train,
            (long long)(c.count - n_train), (long long)o.words, (long long)o.voices,
            (long long)o.steps, (long long)o.batch, o.budget, (long long)nm,
            (long long)fr.in_ch, fr.gain, fr.gain_mid);
    if (models_create(m, nm, &fr, &o, err, sizeof(err)) != CTR_OK ||
        models_create(rnd, nm, &fr, &o, err, sizeof(err)) != CTR_OK) {
        fprintf(stderr, "cpc-speech: %s\n", err);
        return 1;
    }
    feat = (float *)malloc((size_t)(c.count * pw * (widths(m, nm, 1) > SPECTRO_BANDS ? widths(m, nm, 1) : SPECTRO_BANDS)) * sizeof(float));
    if (feat == NULL)
        return fprintf(stderr, "cpc-speech: out of memory\n"), 1;
    blas_threads = blas_threads_set(nm > 1 && o.threads > 1 ? 1 : 0);
    steps = train(m, nm, &fr, win, &o, in, train_idx, n_train, curve, &npoints, 4096);
    blas_threads_set(blas_threads);
    if (steps < 0)
        return 1;
    snprintf(path, sizeof(path), "%s/curve.csv", o.out_dir);
    cpc_report_csv(path, curve, npoints);
    snprintf(path, sizeof(path), "%s/curve.svg", o.out_dir);
    cpc_report_chart(path, curve, npoints, "CPC on espeak-ng speech (K = 12, batch negatives)");
    if (probe_trained(m, nm, &fr, win, &o, in, &w_acc, &v_acc) != CTR_OK ||
        features(rnd, nm, &fr, win, &o, in, o.pool_std, feat, NULL) != CTR_OK)
        return fprintf(stderr, "cpc-speech: feature extraction failed\n"), 1;
    probe_both(&c, feat, widths(rnd, nm, 1) * pw, o.l2, "random", &rw, &rv);
    for (i = 0; i < c.count; i++)
        spectro_pooled(c.u[i].samples, c.u[i].count, o.pool_std, feat + i * SPECTRO_BANDS * pw);
    probe_both(&c, feat, SPECTRO_BANDS * pw, o.l2, "spectrogram", &sw, &sv);
    fprintf(stderr, "cpc-speech: %lld steps; word/voice accuracy: CPC %.3f/%.3f, "
                    "random %.3f/%.3f, spectrogram %.3f/%.3f (chance %.3f/%.3f); %.1fs in all\n",
            (long long)steps, w_acc, v_acc, rw, rv, sw, sv, 1.0 / (double)o.words,
            1.0 / (double)o.voices, now_s() - t0);
    printf("RESULT method=cpc-speech word_acc=%.4f voice_acc=%.4f random_word_acc=%.4f "
           "random_voice_acc=%.4f spectrogram_word_acc=%.4f spectrogram_voice_acc=%.4f\n",
           w_acc, v_acc, rw, rv, sw, sv);
    for (i = 0; i < nm; i++)
        model_destroy(&m[i]), model_destroy(&rnd[i]);
    corpus_free(&c);
    if (o.preemph > 0.0)
        corpus_free(&pre);
    front_free(&fr);
    free(train_idx), free(feat), free(win);
    return w_acc < 0 || v_acc < 0;
}
