/*
 * spectro.c - pooled log-spectrogram features (spectro.h).
 */
#include "spectro.h"

#include <math.h>
#include <string.h>

#define PI 3.14159265358979323846
#define NFFT 512
#define WIN 400
#define HOP 160

/* In-place radix-2 complex FFT of NFFT points. */
static void fft(double *re, double *im)
{
    int i, j, len, k;
    for (i = 1, j = 0; i < NFFT; i++) {
        int bit = NFFT >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j) {
            double t = re[i]; re[i] = re[j]; re[j] = t;
            t = im[i]; im[i] = im[j]; im[j] = t;
        }
    }
    for (len = 2; len <= NFFT; len <<= 1) {
        const double ang = -2.0 * PI / len;
        for (i = 0; i < NFFT; i += len)
            for (k = 0; k < len / 2; k++) {
                const double wr = cos(ang * k), wi = sin(ang * k);
                double *a_re = re + i + k, *a_im = im + i + k;
                double *b_re = a_re + len / 2, *b_im = a_im + len / 2;
                const double tr = *b_re * wr - *b_im * wi, ti = *b_re * wi + *b_im * wr;
                *b_re = *a_re - tr, *b_im = *a_im - ti;
                *a_re += tr, *a_im += ti;
            }
    }
}

void spectro_pooled(const float *x, int64_t n, int with_std, float *out)
{
    double re[NFFT], im[NFFT], acc[SPECTRO_BANDS], sq[SPECTRO_BANDS];
    int64_t f, frames = n >= WIN ? (n - WIN) / HOP + 1 : 0, i, b;
    memset(acc, 0, sizeof(acc));
    memset(sq, 0, sizeof(sq));
    for (f = 0; f < frames; f++) {
        memset(im, 0, sizeof(im));
        for (i = 0; i < NFFT; i++)
            re[i] = i < WIN ? x[f * HOP + i] * (0.5 - 0.5 * cos(2 * PI * i / (WIN - 1))) : 0.0;
        fft(re, im);
        for (b = 0; b < SPECTRO_BANDS; b++) {
            const int per = (NFFT / 2) / SPECTRO_BANDS;
            double e = 0.0;
            for (i = b * per; i < (b + 1) * per; i++)
                e += re[i] * re[i] + im[i] * im[i];
            e = log(e + 1e-6);
            acc[b] += e, sq[b] += e * e;
        }
    }
    for (b = 0; b < SPECTRO_BANDS; b++) {
        const double mean = frames > 0 ? acc[b] / (double)frames : 0.0;
        const double var = frames > 0 ? sq[b] / (double)frames - mean * mean : 0.0;
        out[b] = (float)mean;
        if (with_std)
            out[SPECTRO_BANDS + b] = (float)sqrt(var > 0.0 ? var : 0.0);
    }
}
