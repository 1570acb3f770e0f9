/*
 * senc.c - the waveform encoder of cpc-speech (senc.h).
 */
#include "senc.h"

#include "fbank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Layers [l0, l1) of sh into a new encoder reading in_dims; ReLU after
 * every layer but, when first_act is 0, the first; the first of
 * first_out channels (0: sh->channels), without a bias when first_act is
 * 0 and first_out > 0 (a filterbank). */
static int build(ctr_encoder **enc, const senc_shape *sh, const int64_t *in_dims,
                 int64_t l0, int64_t l1, int first_act, int64_t first_out, uint64_t seed)
{
    int rc = ctr_encoder_create(enc, in_dims, 2, seed, NULL);
    int64_t l;
    for (l = l0; rc == CTR_OK && l < l1; l++) {
        const int fb = l == l0 && first_out > 0;
        rc = ctr_encoder_add_conv1d(*enc, fb ? first_out : sh->channels, sh->k[l], sh->s[l],
                                    sh->p[l], fb && !first_act ? 0 : 1);
        if (rc == CTR_OK && (l > l0 || first_act))
            rc = ctr_encoder_add_activation(*enc, CTR_LAYER_RELU);
    }
    return rc;
}

static int optimizer(ctr_optimizer **opt, ctr_encoder *enc, double lr)
{
    int rc = ctr_optimizer_create_for_encoder(opt, CTR_OPTIMIZER_ADAMW, enc, NULL);
    return rc == CTR_OK ? ctr_optimizer_set_f64(*opt, CTR_OPTIMIZER_P_LR, lr) : rc;
}

int senc_create(senc *e, const senc_shape *sh, int compress, int64_t cap,
                double lr, uint64_t seed)
{
    const int64_t in_dims[2] = {sh->window, sh->in_ch};
    const int pow2 = compress == SENC_LOGPOW;
    int64_t mid[8] = {0}, size = 0;
    int32_t nd = 0;
    int rc;
    memset(e, 0, sizeof(*e));
    e->compress = compress;
    if (compress == SENC_PLAIN) {
        rc = build(&e->a, sh, in_dims, 0, sh->layers, 1, 0, seed);
        return rc == CTR_OK ? optimizer(&e->oa, e->a, lr) : rc;
    }
    if ((rc = build(&e->a, sh, in_dims, 0, 1, 0, pow2 ? 2 * sh->pairs : 0, seed)) != CTR_OK ||
        (rc = ctr_encoder_shape(e->a, mid, &nd, &size, CTR_ENCODER_OUTPUT)) != CTR_OK ||
        (pow2 && (rc = fbank_init(e->a, sh->pairs, sh->k[0], sh->fb_init, sh->rate)) != CTR_OK))
        return rc;
    e->hsize = size, e->cap = cap, e->pairs = pow2 ? sh->pairs : 0;
    if (pow2)
        mid[1] = sh->pairs; /* b reads frames x P log energies */
    if ((rc = build(&e->b, sh, mid, 1, sh->layers, 1, 0, seed + 1)) != CTR_OK ||
        (rc = optimizer(&e->oa, e->a, lr)) != CTR_OK ||
        (rc = optimizer(&e->ob, e->b, lr)) != CTR_OK)
        return rc;
    e->h = (float *)malloc((size_t)(cap * e->hsize) * sizeof(float));
    e->y = (float *)malloc((size_t)(cap * e->hsize) * sizeof(float));
    e->gy = (float *)malloc((size_t)(cap * e->hsize) * sizeof(float));
    e->gh = (float *)malloc((size_t)(cap * e->hsize) * sizeof(float));
    return e->h && e->y && e->gy && e->gh ? CTR_OK : CTR_E_NOMEM;
}

void senc_destroy(senc *e)
{
    ctr_optimizer_destroy(e->oa), ctr_optimizer_destroy(e->ob);
    ctr_encoder_destroy(e->a), ctr_encoder_destroy(e->b);
    free(e->h), free(e->y), free(e->gy), free(e->gh);
    memset(e, 0, sizeof(*e));
}

/* y = log(eps + h_f^2 + h_{P+f}^2) of the n x frames rows of 2P floats of
 * h into rows of P floats. */
static void logpow(float *y, const float *h, int64_t rows, int64_t pairs)
{
    int64_t r, f;
    for (r = 0; r < rows; r++)
        for (f = 0; f < pairs; f++) {
            const float re = h[r * 2 * pairs + f], im = h[r * 2 * pairs + pairs + f];
            y[r * pairs + f] = logf(SENC_EPS + re * re + im * im);
        }
}

/* dL/dh from dL/dy of logpow: 2 h / (eps + h_f^2 + h_{P+f}^2) times dL/dy_f. */
static void logpow_backward(float *gh, const float *gy, const float *h, int64_t rows,
                            int64_t pairs)
{
    int64_t r, f;
    for (r = 0; r < rows; r++)
        for (f = 0; f < pairs; f++) {
            const float re = h[r * 2 * pairs + f], im = h[r * 2 * pairs + pairs + f];
            const float g = 2.0f * gy[r * pairs + f] / (SENC_EPS + re * re + im * im);
            gh[r * 2 * pairs + f] = g * re, gh[r * 2 * pairs + pairs + f] = g * im;
        }
}

int senc_forward(senc *e, float *z, const float *x, int64_t n, int32_t mode)
{
    int64_t i;
    int rc;
    if (e->b == NULL)
        return ctr_encoder_forward(e->a, z, x, n, mode);
    if (n > e->cap)
        return CTR_E_INVALID_ARG;
    e->n = n;
    if ((rc = ctr_encoder_forward(e->a, e->h, x, n, mode)) != CTR_OK)
        return rc;
    if (e->compress == SENC_LOGPOW)
        logpow(e->y, e->h, n * e->hsize / (2 * e->pairs), e->pairs);
    for (i = 0; e->compress == SENC_LOG && i < n * e->hsize; i++)
        e->y[i] = log1pf(fabsf(e->h[i]));
    return ctr_encoder_forward(e->b, z, e->y, n, mode);
}

int senc_backward(senc *e, const float *gz)
{
    int64_t i, n = e->n;
    int rc;
    if (e->b == NULL)
        return ctr_encoder_backward(e->a, NULL, gz);
    if ((rc = ctr_encoder_backward(e->b, e->gy, gz)) != CTR_OK)
        return rc;
    if (e->compress == SENC_LOGPOW) {
        logpow_backward(e->gh, e->gy, e->h, n * e->hsize / (2 * e->pairs), e->pairs);
        return ctr_encoder_backward(e->a, NULL, e->gh);
    }
    for (i = 0; i < n * e->hsize; i++) {
        const float h = e->h[i];
        e->gy[i] = h > 0.0f ? e->gy[i] / (1.0f + h) : h < 0.0f ? -e->gy[i] / (1.0f - h) : 0.0f;
    }
    return ctr_encoder_backward(e->a, NULL, e->gy);
}

int senc_zero_grad(senc *e)
{
    int rc = ctr_encoder_zero_grad(e->a);
    return rc == CTR_OK && e->b != NULL ? ctr_encoder_zero_grad(e->b) : rc;
}

int senc_step(senc *e)
{
    int rc = ctr_optimizer_step(e->oa);
    return rc == CTR_OK && e->ob != NULL ? ctr_optimizer_step(e->ob) : rc;
}

const char *senc_last_error(const senc *e)
{
    const char *msg = e->b != NULL ? ctr_encoder_last_error(e->b) : NULL;
    return msg != NULL && msg[0] != '\0' ? msg : ctr_encoder_last_error(e->a);
}
