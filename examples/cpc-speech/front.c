/*
 * front.c - the input front-end of cpc-speech (front.h).
 */
#include "front.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bands.h"

int front_init(front *f, int kind, double cut, const corpus *c,
               const int64_t *idx, int64_t n, int64_t window)
{
    const float **xs = (const float **)malloc((size_t)n * sizeof(*xs));
    int64_t *ns = (int64_t *)malloc((size_t)n * sizeof(int64_t)), i, longest = window;
    float *scratch = NULL;
    int ok;
    memset(f, 0, sizeof(*f));
    f->kind = kind, f->models = kind == FRONT_SPLIT ? 2 : kind == FRONT_SPLIT3 ? 3 : 1;
    f->in_ch = kind == FRONT_STACK ? 2 : 1, f->gain = 1.0, f->cut = cut;
    for (i = 0; xs != NULL && ns != NULL && i < n; i++) {
        xs[i] = c->u[idx[i]].samples, ns[i] = c->u[idx[i]].count;
        longest = ns[i] > longest ? ns[i] : longest;
    }
    f->tmp = (float *)malloc((size_t)window * sizeof(float));
    if (kind != FRONT_FULL)
        scratch = (float *)malloc((size_t)longest * sizeof(float));
    ok = xs != NULL && ns != NULL && f->tmp != NULL && (kind == FRONT_FULL || scratch != NULL);
    if (ok && kind != FRONT_FULL)
        f->gain = bands_high_gain(xs, ns, n, cut, scratch);
    if (ok && kind == FRONT_SPLIT3) {
        /* the 2-4 kHz band's mean square: that of 2-8 kHz minus that of
         * 4-8 kHz (the complementary FIR bands are near orthogonal) */
        const double g28 = bands_high_gain(xs, ns, n, cut / 2.0, scratch);
        const double ms = 1.0 / (g28 * g28) - 1.0 / (f->gain * f->gain);
        f->gain_mid = ms > 0.0 ? 1.0 / sqrt(ms) : 1.0;
    }
    free(xs), free(ns), free(scratch);
    return ok ? 0 : -1;
}

void front_free(front *f)
{
    free(f->tmp);
    memset(f, 0, sizeof(*f));
}

void front_apply(const front *f, const float *win, int64_t cnt,
                 int64_t window, float *const *x)
{
    int64_t i, t;
    for (i = 0; i < cnt; i++) {
        const float *w = win + i * window;
        if (f->kind == FRONT_FULL) {
            memcpy(x[0] + i * window, w, (size_t)window * sizeof(float));
        } else if (f->kind == FRONT_SPLIT3) {
            bands_split(w, window, f->cut, f->tmp, x[2] + i * window, 1.0, f->gain);
            bands_split(f->tmp, window, f->cut / 2.0, x[0] + i * window, x[1] + i * window,
                        1.0, f->gain_mid);
        } else if (f->kind == FRONT_SPLIT) {
            bands_split(w, window, f->cut, x[0] + i * window, x[1] + i * window, 1.0, f->gain);
        } else {
            float *dst = x[0] + i * window * 2;
            bands_split(w, window, f->cut, NULL, f->tmp, 1.0, f->gain);
            for (t = 0; t < window; t++)
                dst[2 * t] = w[t], dst[2 * t + 1] = f->tmp[t];
        }
    }
}
