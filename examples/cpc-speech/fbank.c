/*
 * fbank.c - the initial filters of the learnable log-energy front end
 * (fbank.h).
 */
#include "fbank.h"

#include <math.h>
#include <stdlib.h>

#define PI 3.14159265358979323846

static double hz_to_mel(double hz) { return 2595.0 * log10(1.0 + hz / 700.0); }
static double mel_to_hz(double mel) { return 700.0 * (pow(10.0, mel / 2595.0) - 1.0); }

/* Centre frequency of band f of n (Hz), on the mel or the linear scale. */
static double centre(int kind, int64_t f, int64_t n, double rate)
{
    const double lo = 60.0, hi = rate * 0.4875; /* 7.8 kHz at 16 kHz */
    const double a = (double)f / (double)(n - 1);
    if (kind == FBANK_LINEAR)
        return rate * 0.5 * ((double)f + 0.5) / (double)n;
    return mel_to_hz(hz_to_mel(lo) + a * (hz_to_mel(hi) - hz_to_mel(lo)));
}

/* Filter pair f into re[0..taps), im[0..taps): a Hann window of len taps
 * (centred) times cos / sin at fc Hz, each scaled to unit L2 norm. */
static void pair(float *re, float *im, int64_t taps, int64_t len, double fc, double rate)
{
    const int64_t at = (taps - len) / 2;
    double sr = 0.0, si = 0.0;
    int64_t i;
    for (i = 0; i < taps; i++) {
        const int64_t j = i - at;
        const double w = j >= 0 && j < len ? 0.5 - 0.5 * cos(2.0 * PI * ((double)j + 0.5) / (double)len) : 0.0;
        const double ph = 2.0 * PI * fc * (double)(i - taps / 2) / rate;
        re[i] = (float)(w * cos(ph)), im[i] = (float)(w * sin(ph));
        sr += (double)re[i] * re[i], si += (double)im[i] * im[i];
    }
    for (i = 0; i < taps; i++) {
        re[i] = sr > 0.0 ? (float)(re[i] / sqrt(sr)) : 0.0f;
        im[i] = si > 0.0 ? (float)(im[i] / sqrt(si)) : 0.0f;
    }
}

int fbank_init(ctr_encoder *enc, int64_t pairs, int64_t taps, int kind, double rate)
{
    int64_t n = 0, f;
    float *p;
    int rc;
    if (kind == FBANK_RANDOM)
        return CTR_OK;
    if ((rc = ctr_encoder_num_params(enc, &n)) != CTR_OK)
        return rc;
    if (n < 2 * pairs * taps)
        return CTR_E_SHAPE;
    if ((p = (float *)malloc((size_t)n * sizeof(float))) == NULL)
        return CTR_E_NOMEM;
    rc = ctr_encoder_get_params(enc, p, n);
    for (f = 0; rc == CTR_OK && f < pairs; f++) {
        const double fc = centre(kind, f, pairs, rate);
        const double gap = f + 1 < pairs ? centre(kind, f + 1, pairs, rate) - fc
                                         : fc - centre(kind, f - 1, pairs, rate);
        /* a Hann window of len taps has its main lobe at +-2 rate / len */
        int64_t len = (int64_t)(2.0 * rate / (gap > 1.0 ? gap : 1.0));
        len = len > taps ? taps : len < 16 ? 16 : len;
        pair(p + f * taps, p + (pairs + f) * taps, taps, len, fc, rate);
    }
    if (rc == CTR_OK)
        rc = ctr_encoder_set_params(enc, p, n);
    free(p);
    return rc;
}
