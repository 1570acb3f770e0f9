/*
 * senc_gradcheck.c - finite-difference check of the learnable log-energy
 * front end's gradient (senc.c, SENC_LOGPOW): L = sum(r * z) over a small
 * encoder (2 x 4 filters of 400 taps at stride 160, log energies, a 1x1
 * and a 3-tap conv) on random input; the gradient of L w.r.t. a sample of
 * the filter taps (the parameters reached only through the log) against
 * central differences, the error relative to the largest gradient entry
 * (float32 differences: single small entries are noise-dominated). Not part of the build; from the repository root:
 *   cc -O2 -Iinclude -o /tmp/senc_gradcheck examples/cpc-speech/tools/senc_gradcheck.c \
 *      examples/cpc-speech/senc.c examples/cpc-speech/fbank.c lib/libcontrastive.a \
 *      -lopenblas -lm -lpthread && /tmp/senc_gradcheck
 * Prints the largest error and exits 1 above 1e-2; GC_VERBOSE=1 prints
 * every sampled tap.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../fbank.h"
#include "../senc.h"

#define WIN 800
#define N 2

static double loss(senc *e, const float *x, const float *r, float *z, int64_t nz)
{
    double s = 0.0;
    int64_t i;
    senc_forward(e, z, x, N, CTR_ENCODER_TRAIN);
    for (i = 0; i < nz; i++)
        s += (double)r[i] * z[i];
    return s;
}

int main(void)
{
    const int64_t k[3] = {400, 1, 3}, s[3] = {160, 1, 1}, p[3] = {120, 0, 1};
    senc_shape sh = {WIN, 1, 4, 3, k, s, p, 4, FBANK_MEL, 16000.0};
    senc e;
    float x[N * WIN], z[N * 5 * 4], r[N * 5 * 4], *w, *g;
    int64_t np = 0, i, j;
    double worst = 0.0, gmax;
    int kind;
    for (kind = FBANK_RANDOM; kind <= FBANK_MEL; kind++) {
        sh.fb_init = kind;
        if (senc_create(&e, &sh, SENC_LOGPOW, N, 1e-3, 7) != CTR_OK)
            return fprintf(stderr, "create failed\n"), 1;
        srand(3);
        for (i = 0; i < N * WIN; i++)
            x[i] = (float)rand() / RAND_MAX - 0.5f;
        for (i = 0; i < N * 5 * 4; i++)
            r[i] = (float)rand() / RAND_MAX - 0.5f;
        ctr_encoder_num_params(e.a, &np);
        w = (float *)malloc((size_t)np * sizeof(float));
        g = (float *)malloc((size_t)np * sizeof(float));
        ctr_encoder_get_params(e.a, w, np);
        senc_zero_grad(&e);
        loss(&e, x, r, z, N * 5 * 4);
        senc_backward(&e, r);
        ctr_encoder_get_grads(e.a, g, np);
        for (j = 0, gmax = 0.0; j < np; j++)
            gmax = fabs(g[j]) > gmax ? fabs(g[j]) : gmax;
        for (j = 0; j < np; j += 97) {
            const float w0 = w[j], h = 1e-2f * (fabsf(w0) > 1e-2f ? fabsf(w0) : 1e-2f);
            double lp, lm, fd, rel;
            w[j] = w0 + h, ctr_encoder_set_params(e.a, w, np), lp = loss(&e, x, r, z, N * 5 * 4);
            w[j] = w0 - h, ctr_encoder_set_params(e.a, w, np), lm = loss(&e, x, r, z, N * 5 * 4);
            w[j] = w0, ctr_encoder_set_params(e.a, w, np);
            fd = (lp - lm) / (2.0 * (double)h);
            rel = fabs(fd - g[j]) / gmax;
            worst = rel > worst ? rel : worst;
            if (getenv("GC_VERBOSE")) printf("%d %lld fd %.6g an %.6g rel %.2e\n", kind, (long long)j, fd, (double)g[j], rel);
        }
        free(w), free(g);
        senc_destroy(&e);
    }
    printf("senc_gradcheck: largest relative error %.2e over the sampled filter taps\n", worst);
    return worst > 1e-2;
}
