/*
 * encoder_copy.c - encoders from encoders: clone, parameter (and
 * statistics) copy between two of one architecture, and the momentum
 * (EMA) update of a key encoder from a query encoder.
 */
#include <string.h>

#include "encoder/encoder.h"
#include "encoder/encoder_build.h"

static int same_shape(const ctr__shape *a, const ctr__shape *b)
{
    return a->ndims == b->ndims && a->d[0] == b->d[0] && a->d[1] == b->d[1] &&
           a->d[2] == b->d[2];
}

int ctr__encoder_same_architecture(const ctr_encoder *a, const ctr_encoder *b)
{
    int64_t i;
    if (a->n_layers != b->n_layers || a->n_params != b->n_params ||
        a->n_stats != b->n_stats || !same_shape(&a->input, &b->input))
        return 0;
    for (i = 0; i < a->n_layers; i++) {
        const ctr__layer *la = &a->layers[i], *lb = &b->layers[i];
        if (la->ops != lb->ops || memcmp(la->hi, lb->hi, sizeof(la->hi)) != 0 ||
            !same_shape(&la->out, &lb->out))
            return 0;
    }
    return 1;
}

/* A new encoder with src's input shape and layers (fresh arrays), using
 * allocator a. */
static int build_like(ctr_encoder **out, const ctr_encoder *src, const ctr__alloc *a)
{
    ctr_encoder *enc = NULL;
    int64_t i;
    int rc = ctr__encoder_new(&enc, &src->input, 0, a);
    for (i = 0; rc == CTR_OK && i < src->n_layers; i++)
        rc = ctr__encoder_append(enc, src->layers[i]);
    if (rc != CTR_OK) {
        ctr_encoder_destroy(enc);
        return rc;
    }
    *out = enc;
    return CTR_OK;
}

static void copy_values(ctr_encoder *dst, const ctr_encoder *src, int copy_stats)
{
    if (src->n_params > 0)
        memcpy(dst->params, src->params, (size_t)src->n_params * sizeof(float));
    if (copy_stats && src->n_stats > 0)
        memcpy(dst->stats, src->stats, (size_t)src->n_stats * sizeof(float));
}

CTR_API int ctr_encoder_clone(ctr_encoder **out, const ctr_encoder *src)
{
    ctr_encoder *enc = NULL;
    int rc;
    if (src == NULL)
        return CTR_E_INVALID_ARG;
    if (out == NULL)
        return ctr__const_fail(&src->err, CTR_E_INVALID_ARG, "out is NULL");
    rc = build_like(&enc, src, &src->alloc);
    if (rc != CTR_OK)
        return ctr__const_fail(&src->err, rc, "cannot allocate the clone");
    copy_values(enc, src, 1);
    enc->gen = src->gen;
    enc->bn_groups = src->bn_groups;
    *out = enc;
    return ctr__const_result(&src->err, CTR_OK, NULL);
}

/* Starts a call that writes dst from src: clears dst's error, then checks
 * src, copy_stats and that the architectures match. */
static int begin_pair(ctr_encoder *dst, const ctr_encoder *src, int32_t copy_stats)
{
    ctr__error_clear(&dst->err);
    if (src == NULL)
        return ctr__fail(&dst->err, CTR_E_INVALID_ARG, "src is NULL");
    if (copy_stats != 0 && copy_stats != 1)
        return ctr__fail(&dst->err, CTR_E_INVALID_ARG, "copy_stats must be 0 or 1");
    if (!ctr__encoder_same_architecture(dst, src))
        return ctr__fail(&dst->err, CTR_E_SHAPE, "the encoders' architectures differ");
    return CTR_OK;
}

CTR_API int ctr_encoder_copy_params(ctr_encoder *dst, const ctr_encoder *src,
                                    int32_t copy_stats)
{
    int rc;
    if (dst == NULL)
        return CTR_E_INVALID_ARG;
    if ((rc = begin_pair(dst, src, copy_stats)) != CTR_OK)
        return rc;
    if (dst != src)
        copy_values(dst, src, copy_stats);
    return CTR_OK;
}

CTR_API int ctr_encoder_momentum_update(ctr_encoder *dst, const ctr_encoder *src,
                                        double m, int32_t copy_stats)
{
    int64_t i;
    float mf, rest;
    int rc;
    if (dst == NULL)
        return CTR_E_INVALID_ARG;
    if ((rc = begin_pair(dst, src, copy_stats)) != CTR_OK)
        return rc;
    if (!(m >= 0.0 && m <= 1.0))
        return ctr__fail(&dst->err, CTR_E_INVALID_ARG, "m must be in [0, 1] (got %g)", m);
    mf = (float)m;
    rest = (float)(1.0 - m);
    for (i = 0; i < dst->n_params; i++)
        dst->params[i] = mf * dst->params[i] + rest * src->params[i];
    if (copy_stats && dst != src && src->n_stats > 0)
        memcpy(dst->stats, src->stats, (size_t)src->n_stats * sizeof(float));
    return CTR_OK;
}
