/*
 * utt.c - the utterance-level contrastive term of cpc-speech (utt.h).
 */
#include "utt.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t cap, int rc, const char *what)
{
    snprintf(err, cap, "utterance term: %s (%s)", what, ctr_strerror(rc));
    return rc;
}

int utt_create(utt_term *u, double weight, double tau, int64_t t, int64_t h,
               int64_t proj, int64_t cap, double lr, uint64_t seed,
               char *err, size_t errcap)
{
    const int64_t dims[1] = {h}, d = proj > 0 ? proj : h;
    int rc;
    memset(u, 0, sizeof(*u));
    u->weight = weight, u->t = t, u->h = h, u->proj = proj, u->cap = cap;
    u->pool = (float *)malloc((size_t)(cap * h) * sizeof(float));
    u->gx = (float *)malloc((size_t)(cap * h) * sizeof(float));
    u->y = (float *)malloc((size_t)(cap * d) * sizeof(float));
    u->gy = (float *)malloc((size_t)(cap * d) * sizeof(float));
    u->g2 = (float *)malloc((size_t)(cap * d) * sizeof(float));
    if (!u->pool || !u->gx || !u->y || !u->gy || !u->g2)
        return fail(err, errcap, CTR_E_NOMEM, "buffers");
    if ((rc = ctr_objective_create(&u->obj, CTR_OBJECTIVE_NTXENT, NULL)) != CTR_OK ||
        (rc = ctr_objective_set_f64(u->obj, CTR_OBJECTIVE_P_TEMPERATURE, tau)) != CTR_OK)
        return fail(err, errcap, rc, "NT-Xent");
    if (proj <= 0)
        return CTR_OK;
    if ((rc = ctr_encoder_create(&u->lin, dims, 1, seed, NULL)) != CTR_OK ||
        (rc = ctr_encoder_add_linear(u->lin, proj, 1)) != CTR_OK ||
        (rc = ctr_optimizer_create_for_encoder(&u->opt, CTR_OPTIMIZER_ADAMW, u->lin, NULL)) != CTR_OK ||
        (rc = ctr_optimizer_set_f64(u->opt, CTR_OPTIMIZER_P_LR, lr)) != CTR_OK)
        return fail(err, errcap, rc, "projection");
    return CTR_OK;
}

void utt_destroy(utt_term *u)
{
    ctr_objective_destroy(u->obj);
    ctr_optimizer_destroy(u->opt);
    ctr_encoder_destroy(u->lin);
    free(u->pool), free(u->gx), free(u->y), free(u->gy), free(u->g2);
    memset(u, 0, sizeof(*u));
}

/* pool[i] = mean over the t frames of window i's contexts. */
static void mean_pool(float *pool, const float *c, int64_t n, int64_t t, int64_t h)
{
    int64_t i, f, j;
    for (i = 0; i < n; i++)
        for (j = 0; j < h; j++) {
            double s = 0.0;
            for (f = 0; f < t; f++)
                s += c[(i * t + f) * h + j];
            pool[i * h + j] = (float)(s / (double)t);
        }
}

/* NT-Xent over the n / 2 pairs of rows of y (n x d): rows 2i and 2i + 1
 * are the two views of sentence i; the gradient into gy (n x d). */
static int pair_loss(utt_term *u, const float *y, float *gy, int64_t n, int64_t d)
{
    const int64_t b = n / 2;
    int64_t i;
    int rc = ctr_objective_ntxent(u->obj, &u->loss, y, 2 * d, y + d, 2 * d, b, d,
                                  NULL, u->g2, u->g2 + b * d);
    if (rc != CTR_OK)
        return rc;
    ctr_objective_stat(u->obj, CTR_OBJECTIVE_S_ACCURACY, &u->acc);
    for (i = 0; i < b; i++) {
        memcpy(gy + 2 * i * d, u->g2 + i * d, (size_t)d * sizeof(float));
        memcpy(gy + (2 * i + 1) * d, u->g2 + (b + i) * d, (size_t)d * sizeof(float));
    }
    return CTR_OK;
}

int utt_hook(void *user, const float *c, float *gc, int64_t n)
{
    utt_term *u = (utt_term *)user;
    const int64_t t = u->t, h = u->h, d = u->proj > 0 ? u->proj : h;
    const float scale = (float)(u->weight / (double)t);
    const float *gp = u->proj > 0 ? u->gx : u->gy; /* dL/dpool, n x h */
    int64_t i, f, j;
    int rc = CTR_OK;
    if (n % 2 != 0 || n > u->cap)
        return CTR_E_INVALID_ARG;
    mean_pool(u->pool, c, n, t, h);
    if (u->proj > 0) {
        if ((rc = ctr_encoder_zero_grad(u->lin)) == CTR_OK)
            rc = ctr_encoder_forward(u->lin, u->y, u->pool, n, CTR_ENCODER_TRAIN);
        if (rc == CTR_OK)
            rc = pair_loss(u, u->y, u->gy, n, d);
        if (rc == CTR_OK)
            rc = ctr_encoder_backward(u->lin, u->gx, u->gy);
        if (rc == CTR_OK)
            rc = ctr_optimizer_step(u->opt);
    } else {
        rc = pair_loss(u, u->pool, u->gy, n, h);
    }
    for (i = 0; rc == CTR_OK && i < n; i++)
        for (f = 0; f < t; f++)
            for (j = 0; j < h; j++)
                gc[(i * t + f) * h + j] += scale * gp[i * h + j];
    return rc;
}
