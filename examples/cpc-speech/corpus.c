/*
 * corpus.c - synthesis (espeak-ng), 22.05 -> 16 kHz resampling, WAV I/O
 * and trimming of the cpc-speech corpus (corpus.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "corpus.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PI 3.14159265358979323846

const char *const corpus_words[CORPUS_WORDS] = {
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
    "nine", "yes", "no", "up", "down", "left", "right", "on", "off", "stop",
    "go"};

/* accent + espeak-ng voice variant */
const char *const corpus_voices[CORPUS_VOICES] = {
    "en-us+m1", "en-us+f2", "en-gb+m3", "en-gb+f3", "en-gb-scotland+m4",
    "en-gb-x-rp+f4", "en-029+m6", "en-gb-x-gbclan+f1", "en-us+m7",
    "en-gb-x-gbcwmd+f5"};

/* speed (words per minute) and pitch (0-99) of the three settings */
static const int SPEED[CORPUS_SETTINGS] = {135, 165, 195};
static const int PITCH[CORPUS_SETTINGS] = {35, 50, 65};

static void wav_path(char *buf, size_t cap, const char *dir, int64_t w,
                     int64_t v, int64_t s)
{
    snprintf(buf, cap, "%s/%s-v%lld-s%lld.wav", dir, corpus_words[w],
             (long long)v, (long long)s);
}

/* ---- WAV (PCM 16-bit mono) -------------------------------------------- */

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* Reads a 16-bit mono PCM WAV; returns its samples in [-1, 1) and rate. */
static float *wav_read(const char *path, int64_t *count, int64_t *rate)
{
    FILE *f = fopen(path, "rb");
    unsigned char h[8], fmt[16];
    float *x = NULL;
    *count = 0;
    if (f == NULL || fread(h, 1, 4, f) != 4 || memcmp(h, "RIFF", 4) != 0 ||
        fseek(f, 8, SEEK_CUR) != 0)
        goto done;
    while (fread(h, 1, 8, f) == 8) {
        uint32_t size = le32(h + 4);
        if (memcmp(h, "fmt ", 4) == 0 && size >= 16) {
            if (fread(fmt, 1, 16, f) != 16 || fseek(f, size - 16, SEEK_CUR) != 0)
                goto done;
            *rate = le32(fmt + 4);
            if (fmt[0] != 1 || fmt[2] != 1 || fmt[14] != 16)
                goto done; /* PCM, mono, 16-bit only */
        } else if (memcmp(h, "data", 4) == 0) {
            int64_t i, n = size / 2;
            unsigned char *raw = (unsigned char *)malloc(size + 1);
            x = (float *)malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
            if (raw == NULL || x == NULL || fread(raw, 1, size, f) != size) {
                free(raw), free(x), x = NULL;
                goto done;
            }
            for (i = 0; i < n; i++)
                x[i] = (float)(int16_t)(raw[2 * i] | raw[2 * i + 1] << 8) / 32768.0f;
            free(raw);
            *count = n;
            goto done;
        } else if (fseek(f, size + (size & 1), SEEK_CUR) != 0) {
            goto done;
        }
    }
done:
    if (f != NULL)
        fclose(f);
    return x;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

static int wav_write(const char *path, const float *x, int64_t n)
{
    unsigned char h[44];
    FILE *f = fopen(path, "wb");
    int64_t i;
    if (f == NULL)
        return -1;
    memcpy(h, "RIFF", 4), put32(h + 4, (uint32_t)(36 + 2 * n));
    memcpy(h + 8, "WAVEfmt ", 8), put32(h + 16, 16);
    h[20] = 1, h[21] = 0, h[22] = 1, h[23] = 0; /* PCM, mono */
    put32(h + 24, CORPUS_RATE), put32(h + 28, 2 * CORPUS_RATE);
    h[32] = 2, h[33] = 0, h[34] = 16, h[35] = 0;
    memcpy(h + 36, "data", 4), put32(h + 40, (uint32_t)(2 * n));
    fwrite(h, 1, 44, f);
    for (i = 0; i < n; i++) {
        float v = x[i] * 32768.0f;
        int16_t s = (int16_t)(v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : lrintf(v));
        unsigned char b[2] = {(unsigned char)s, (unsigned char)((uint16_t)s >> 8)};
        fwrite(b, 1, 2, f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- resampling: Hann-windowed sinc, cut off at the lower Nyquist ----- */

static float *resample(const float *x, int64_t n, int64_t from, int64_t *out_n)
{
    const double ratio = (double)CORPUS_RATE / (double)from;
    const double fc = ratio < 1.0 ? ratio : 1.0;
    const int taps = 24;
    int64_t m = (int64_t)floor((double)n * ratio), j, i;
    float *y = (float *)malloc((size_t)(m > 0 ? m : 1) * sizeof(float));
    for (j = 0; y != NULL && j < m; j++) {
        const double t = (double)j / ratio;
        const int64_t c = (int64_t)floor(t);
        double acc = 0.0;
        for (i = c - taps + 1; i <= c + taps; i++) {
            double u = t - (double)i, s, win;
            if (i < 0 || i >= n)
                continue;
            s = fabs(u) < 1e-9 ? 1.0 : sin(PI * fc * u) / (PI * fc * u);
            win = 0.5 + 0.5 * cos(PI * u / (taps + 1));
            acc += x[i] * fc * s * win;
        }
        y[j] = (float)acc;
    }
    *out_n = m;
    return y;
}

/* ---- synthesis ----------------------------------------------------------- */

/* Synthesises the missing files: one shell script runs espeak-ng for each,
 * two at a time (xargs -P 2), then each is resampled to 16 kHz in place. */
static int synthesise(const char *dir, int64_t nw, int64_t nv, char *err,
                      size_t cap)
{
    char path[1100], cmd[1300], wav[1024];
    int64_t w, v, s, missing = 0;
    FILE *list;
    snprintf(path, sizeof(path), "%s/.todo", dir);
    if ((list = fopen(path, "w")) == NULL)
        return snprintf(err, cap, "cannot write %s", path), -1;
    for (w = 0; w < nw; w++)
        for (v = 0; v < nv; v++)
            for (s = 0; s < CORPUS_SETTINGS; s++) {
                struct stat st;
                wav_path(wav, sizeof(wav), dir, w, v, s);
                if (stat(wav, &st) == 0)
                    continue;
                fprintf(list, "%s %d %d %s.raw.wav %s\n", corpus_voices[v],
                        SPEED[s], PITCH[s], wav, corpus_words[w]);
                missing++;
            }
    fclose(list);
    if (missing == 0)
        return remove(path), 0;
    fprintf(stderr, "cpc-speech: synthesising %lld utterances with espeak-ng into %s\n",
            (long long)missing, dir);
    snprintf(cmd, sizeof(cmd),
             "xargs -P 2 -L 1 sh -c 'espeak-ng -v \"$0\" -s \"$1\" -p \"$2\" -w \"$3\" \"$4\"' < '%s'",
             path);
    if (system(cmd) != 0)
        return snprintf(err, cap, "espeak-ng failed (is it installed? apt-get install espeak-ng)"), -1;
    remove(path);
    for (w = 0; w < nw; w++)
        for (v = 0; v < nv; v++)
            for (s = 0; s < CORPUS_SETTINGS; s++) {
                int64_t n, rate = 0, m;
                float *x, *y;
                wav_path(wav, sizeof(wav), dir, w, v, s);
                snprintf(path, sizeof(path), "%s.raw.wav", wav);
                if ((x = wav_read(path, &n, &rate)) == NULL)
                    continue; /* already converted */
                y = resample(x, n, rate, &m);
                if (y == NULL || wav_write(wav, y, m) != 0)
                    return free(x), free(y), snprintf(err, cap, "cannot write %s", wav), -1;
                free(x), free(y);
                remove(path);
            }
    return 0;
}

/* Trims leading/trailing silence (below 2% of the peak in 10 ms frames)
 * and scales to unit RMS. */
static void trim_normalise(utterance *u)
{
    const int64_t hop = CORPUS_RATE / 100;
    float peak = 0.0f;
    int64_t i, a = 0, b = u->count;
    double ss = 0.0;
    for (i = 0; i < u->count; i++)
        peak = fmaxf(peak, fabsf(u->samples[i]));
    while (a + hop < b) {
        float m = 0.0f;
        for (i = a; i < a + hop; i++)
            m = fmaxf(m, fabsf(u->samples[i]));
        if (m > 0.02f * peak) break;
        a += hop;
    }
    while (b - hop > a) {
        float m = 0.0f;
        for (i = b - hop; i < b; i++)
            m = fmaxf(m, fabsf(u->samples[i]));
        if (m > 0.02f * peak) break;
        b -= hop;
    }
    memmove(u->samples, u->samples + a, (size_t)(b - a) * sizeof(float));
    u->count = b - a;
    for (i = 0; i < u->count; i++)
        ss += (double)u->samples[i] * u->samples[i];
    for (i = 0; ss > 0 && i < u->count; i++)
        u->samples[i] = (float)(u->samples[i] / sqrt(ss / (double)u->count));
}

int corpus_load(corpus *c, const char *dir, int64_t nw, int64_t nv,
                char *err, size_t cap)
{
    char wav[1024];
    int64_t w, v, s, n = 0;
    memset(c, 0, sizeof(*c));
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return snprintf(err, cap, "cannot create %s", dir), -1;
    if (synthesise(dir, nw, nv, err, cap) != 0)
        return -1;
    c->u = (utterance *)calloc(CORPUS_WORDS * CORPUS_VOICES * CORPUS_SETTINGS,
                               sizeof(utterance));
    for (w = 0; c->u != NULL && w < nw; w++)
        for (v = 0; v < nv; v++)
            for (s = 0; s < CORPUS_SETTINGS; s++) {
                utterance *u = &c->u[n];
                int64_t rate = 0;
                wav_path(wav, sizeof(wav), dir, w, v, s);
                u->samples = wav_read(wav, &u->count, &rate);
                if (u->samples == NULL || rate != CORPUS_RATE || u->count < 160) {
                    c->count = n;
                    return snprintf(err, cap, "cannot read %s (delete it to synthesise it again)", wav), -1;
                }
                u->word = w, u->voice = v, u->setting = s;
                u->test = s == (w + v) % CORPUS_SETTINGS;
                trim_normalise(u);
                n++;
            }
    c->count = n;
    return c->u == NULL ? (snprintf(err, cap, "out of memory"), -1) : 0;
}

void corpus_free(corpus *c)
{
    int64_t i;
    for (i = 0; i < c->count; i++)
        free(c->u[i].samples);
    free(c->u);
    memset(c, 0, sizeof(*c));
}
