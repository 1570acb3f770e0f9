/*
 * bands.c - the FIR half-band split of cpc-speech (bands.h).
 */
#include "bands.h"

#include <math.h>
#include <stddef.h>

#define PI 3.14159265358979323846
#define HALF (BANDS_TAPS / 2)

/* Tap j of the low-pass: sinc at cut-off f (a fraction of the sampling
 * rate, 0.25 for 4 kHz at 16 kHz), Blackman window (the taps sum to about
 * 1; exactly 2 f at the centre). */
static double tap(int64_t j, double f)
{
    const double m = (double)(j - HALF), a = 2.0 * PI * (double)j / (BANDS_TAPS - 1);
    const double w = 0.42 - 0.5 * cos(a) + 0.08 * cos(2.0 * a);
    return (j == HALF ? 2.0 * f : sin(2.0 * PI * f * m) / (PI * m)) * w;
}

/* The low band at sample i, the taps that reach inside [0, n) only. */
static double low_at(const double *h, const float *x, int64_t n, int64_t i)
{
    const int64_t j0 = i + HALF - n + 1 > 0 ? i + HALF - n + 1 : 0;
    const int64_t j1 = i + HALF + 1 < BANDS_TAPS ? i + HALF + 1 : BANDS_TAPS;
    double lo = 0.0;
    int64_t j;
    for (j = j0; j < j1; j++)
        lo += h[j] * x[i + HALF - j];
    return lo;
}

/* The low band at samples i..i+BLOCK-1, all BLOCK sums in the order of
 * low_at's (the same bits): independent sums, so the adds overlap. */
#define BLOCK 4
static void low_block(const double *h, const float *x, int64_t i, double *lo)
{
    int64_t j, r;
    for (r = 0; r < BLOCK; r++)
        lo[r] = 0.0;
    for (j = 0; j < BANDS_TAPS; j++) {
        const float *xj = x + i + HALF - j;
        for (r = 0; r < BLOCK; r++)
            lo[r] += h[j] * xj[r];
    }
}

static void put(float *low, float *high, const float *x, int64_t i, double lo,
                double low_gain, double high_gain)
{
    if (low != NULL)
        low[i] = (float)(low_gain * lo);
    if (high != NULL)
        high[i] = (float)(high_gain * (x[i] - lo));
}

void bands_split(const float *x, int64_t n, double cut, float *low,
                 float *high, double low_gain, double high_gain)
{
    double h[BANDS_TAPS], lo[BLOCK];
    int64_t i = 0, j, r;
    for (j = 0; j < BANDS_TAPS; j++)
        h[j] = tap(j, cut);
    for (; i < n && i < HALF; i++)
        put(low, high, x, i, low_at(h, x, n, i), low_gain, high_gain);
    for (; i + BLOCK + HALF <= n; i += BLOCK) { /* every tap inside */
        low_block(h, x, i, lo);
        for (r = 0; r < BLOCK; r++)
            put(low, high, x, i + r, lo[r], low_gain, high_gain);
    }
    for (; i < n; i++)
        put(low, high, x, i, low_at(h, x, n, i), low_gain, high_gain);
}

double bands_high_gain(const float *const *xs, const int64_t *ns,
                       int64_t count, double cut, float *scratch)
{
    double ss = 0.0;
    int64_t i, k, n = 0;
    for (i = 0; i < count; i++) {
        bands_split(xs[i], ns[i], cut, NULL, scratch, 1.0, 1.0);
        for (k = 0; k < ns[i]; k++)
            ss += (double)scratch[k] * scratch[k];
        n += ns[i];
    }
    return ss > 0.0 && n > 0 ? 1.0 / sqrt(ss / (double)n) : 1.0;
}
