/*
 * encoder.c - the public ctr_encoder handle (encoder.h lists its files):
 * lifecycle, the layer list's shapes and kinds, the flat parameter,
 * gradient and statistics arrays, tunables. The math of each layer kind
 * lives in its layer_*.c behind layer.h.
 */
#include "encoder/encoder.h"
#include "common/params.h"

#include <string.h>

/* ---- lifecycle ----------------------------------------------------------- */

void ctr__encoder_release_workspace(ctr_encoder *enc)
{
    ctr__free(&enc->alloc, enc->work, enc->work_floats * sizeof(float));
    enc->work = NULL;
    enc->work_floats = 0;
    enc->work_batch = 0;
    enc->stage = CTR__STAGE_NONE;
    ctr__free(&enc->alloc, enc->infer_work, enc->infer_floats * sizeof(float));
    enc->infer_work = NULL;
    enc->infer_floats = 0;
    enc->infer_batch = 0;
}

int ctr__encoder_new(ctr_encoder **out, const ctr__shape *input, uint64_t seed,
                     const ctr__alloc *a)
{
    ctr_encoder *enc = (ctr_encoder *)ctr__calloc(a, sizeof(*enc));
    if (enc == NULL)
        return CTR_E_NOMEM;
    enc->alloc = *a;
    enc->input = *input;
    enc->bn_groups = 1;
    ctr__prng_seed(&enc->gen, seed);
    *out = enc;
    return CTR_OK;
}

CTR_API int ctr_encoder_create(ctr_encoder **out, const int64_t *dims,
                               int32_t ndims, uint64_t seed,
                               const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr__error err;
    ctr__shape s = {0, {1, 1, 1}};
    int i, rc = CTR_OK;
    if (ctr__alloc_init(&a, alloc) != CTR_OK)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&err);
    if (out == NULL || dims == NULL)
        rc = ctr__fail(&err, CTR_E_INVALID_ARG, "%s is NULL",
                       out == NULL ? "out" : "dims");
    else if (ndims < 1 || ndims > 3)
        rc = ctr__fail(&err, CTR_E_INVALID_ARG, "ndims must be 1, 2 or 3 "
                       "(got %ld)", (long)ndims);
    for (i = 0; rc == CTR_OK && i < ndims; i++)
        s.d[i] = dims[i];
    s.ndims = ndims;
    if (rc == CTR_OK && (rc = ctr__shape_check(&s)) != CTR_OK)
        ctr__fail(&err, rc, "dims: each in [1, %lld] and their product at "
                  "most %lld", (long long)CTR__SHAPE_MAX_DIM,
                  (long long)CTR__SHAPE_MAX_DIM);
    if (rc == CTR_OK)
        rc = ctr__encoder_new(out, &s, seed, &a);
    return ctr__create_report(alloc, rc, "ctr_encoder_create", &err);
}

CTR_API void ctr_encoder_destroy(ctr_encoder *enc)
{
    ctr__alloc a;
    if (enc == NULL)
        return;
    a = enc->alloc;
    ctr__encoder_release_workspace(enc);
    ctr__free(&a, enc->layers, (size_t)enc->cap_layers * sizeof(ctr__layer));
    ctr__free(&a, enc->params, (size_t)enc->n_params * sizeof(float));
    ctr__free(&a, enc->grads, (size_t)enc->n_params * sizeof(float));
    ctr__free(&a, enc->stats, (size_t)enc->n_stats * sizeof(float));
    ctr__free(&a, enc, sizeof(*enc));
}

const ctr__shape *ctr__encoder_output_shape(const ctr_encoder *enc)
{
    return enc->n_layers == 0 ? &enc->input : &enc->layers[enc->n_layers - 1].out;
}

/* ---- shapes -------------------------------------------------------------- */

/* *out = value, for the count queries: "<what> is NULL" if out is. */
static int get_count(const ctr_encoder *enc, int64_t *out, int64_t value,
                     const char *what)
{
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    if (out == NULL)
        return ctr__const_fail(&enc->err, CTR_E_INVALID_ARG, "%s is NULL", what);
    *out = value;
    return ctr__const_result(&enc->err, CTR_OK, NULL);
}

CTR_API int ctr_encoder_num_layers(const ctr_encoder *enc, int64_t *out)
{
    return get_count(enc, out, enc == NULL ? 0 : enc->n_layers, "out");
}

CTR_API int ctr_encoder_last_layer(const ctr_encoder *enc, int64_t *layer)
{
    return get_count(enc, layer, enc == NULL ? 0 : enc->n_layers - 1, "layer");
}

int64_t ctr__encoder_layer_index(const ctr_encoder *enc, int64_t layer)
{
    return layer == CTR_ENCODER_OUTPUT ? enc->n_layers - 1 : layer;
}

/* CTR_OK if `layer` (after CTR_ENCODER_OUTPUT is resolved) names a layer,
 * or the input when lowest is CTR_ENCODER_INPUT. */
static int check_layer(const ctr_encoder *enc, ctr__error *e, int64_t layer,
                       int64_t lowest)
{
    if (layer < lowest || layer >= enc->n_layers)
        return ctr__fail(e, CTR_E_INVALID_ARG,
                         "layer %lld out of range (the encoder has %lld layers)",
                         (long long)layer, (long long)enc->n_layers);
    return CTR_OK;
}

CTR_API int ctr_encoder_layer_kind(const ctr_encoder *enc, int32_t *kind,
                                   int64_t layer)
{
    ctr__error e = CTR__ERROR_INIT;
    int rc;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    layer = ctr__encoder_layer_index(enc, layer);
    rc = ctr__check_ptr(&e, kind, "kind");
    if (rc == CTR_OK)
        rc = check_layer(enc, &e, layer, 0);
    if (rc == CTR_OK)
        *kind = enc->layers[layer].ops->kind;
    return ctr__const_result(&enc->err, rc, &e);
}

CTR_API int ctr_encoder_shape(const ctr_encoder *enc, int64_t *dims,
                              int32_t *ndims, int64_t *size, int64_t layer)
{
    ctr__error e = CTR__ERROR_INIT;
    const ctr__shape *s;
    int rc;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    layer = ctr__encoder_layer_index(enc, layer);
    rc = ctr__check_ptr(&e, dims, "dims");
    if (rc == CTR_OK)
        rc = ctr__check_ptr(&e, ndims, "ndims");
    if (rc == CTR_OK)
        rc = check_layer(enc, &e, layer, CTR_ENCODER_INPUT);
    if (rc == CTR_OK) {
        s = layer == CTR_ENCODER_INPUT ? &enc->input : &enc->layers[layer].out;
        memcpy(dims, s->d, sizeof(s->d));
        *ndims = s->ndims;
        if (size != NULL)
            *size = ctr__shape_size(s);
    }
    return ctr__const_result(&enc->err, rc, &e);
}

CTR_API int ctr_encoder_num_params(const ctr_encoder *enc, int64_t *out)
{
    return get_count(enc, out, enc == NULL ? 0 : enc->n_params, "out");
}

CTR_API int ctr_encoder_num_stats(const ctr_encoder *enc, int64_t *out)
{
    return get_count(enc, out, enc == NULL ? 0 : enc->n_stats, "out");
}

/* ---- parameter, gradient and statistics arrays --------------------------- */

/* Shared checks of the get/set calls over an array of `have` floats. */
static int check_array_call(ctr__error *err, const void *p, int64_t n,
                            int64_t have, const char *what)
{
    int rc = n == 0 ? CTR_OK : ctr__check_ptr(err, p, what);
    if (rc != CTR_OK)
        return rc;
    if (n != have)
        return ctr__fail(err, CTR_E_SHAPE, "%s: expected %lld floats, got %lld", what,
                         (long long)have, (long long)n);
    return CTR_OK;
}

/* Copies the `have` floats of `from` to out (n must equal have). */
static int get_array(const ctr_encoder *enc, float *out, int64_t n,
                     const float *from, int64_t have)
{
    ctr__error e = CTR__ERROR_INIT;
    int rc;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    rc = check_array_call(&e, out, n, have, "out");
    if (rc == CTR_OK && n > 0)
        memcpy(out, from, (size_t)n * sizeof(float));
    return ctr__const_result(&enc->err, rc, &e);
}

CTR_API int ctr_encoder_get_params(const ctr_encoder *enc, float *out, int64_t n)
{
    return get_array(enc, out, n, enc == NULL ? NULL : enc->params,
                     enc == NULL ? 0 : enc->n_params);
}

CTR_API int ctr_encoder_get_grads(const ctr_encoder *enc, float *out, int64_t n)
{
    return get_array(enc, out, n, enc == NULL ? NULL : enc->grads,
                     enc == NULL ? 0 : enc->n_params);
}

CTR_API int ctr_encoder_set_params(ctr_encoder *enc, const float *in, int64_t n)
{
    int rc;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    rc = check_array_call(&enc->err, in, n, enc->n_params, "in");
    if (rc == CTR_OK)
        rc = ctr__check_finite(&enc->err, in, (size_t)n, "in");
    if (rc == CTR_OK && n > 0)
        memcpy(enc->params, in, (size_t)n * sizeof(float));
    return rc;
}

CTR_API int ctr_encoder_get_stats(const ctr_encoder *enc, float *out, int64_t n)
{
    return get_array(enc, out, n, enc == NULL ? NULL : enc->stats,
                     enc == NULL ? 0 : enc->n_stats);
}

/* Running variances must be >= 0: the second half of each layer's block. */
int ctr__encoder_check_stats(const ctr_encoder *enc, const float *s, ctr__error *err)
{
    int64_t i, j;
    for (i = 0; i < enc->n_layers; i++) {
        const ctr__layer *l = &enc->layers[i];
        int64_t c = l->stat_count / 2;
        for (j = 0; j < c; j++) {
            if (s[l->stat_offset + c + j] < 0.0f)
                return ctr__fail(err, CTR_E_INVALID_ARG,
                                 "running variance %lld of layer %lld is negative",
                                 (long long)j, (long long)i);
        }
    }
    return CTR_OK;
}

CTR_API int ctr_encoder_set_stats(ctr_encoder *enc, const float *in, int64_t n)
{
    int rc;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    rc = check_array_call(&enc->err, in, n, enc->n_stats, "in");
    if (rc == CTR_OK)
        rc = ctr__check_finite(&enc->err, in, (size_t)n, "in");
    if (rc == CTR_OK)
        rc = ctr__encoder_check_stats(enc, in, &enc->err);
    if (rc == CTR_OK && n > 0)
        memcpy(enc->stats, in, (size_t)n * sizeof(float));
    return rc;
}

/* ---- tunables ------------------------------------------------------------ */

CTR_API int ctr_encoder_param_bounds(int32_t param, double *lo, double *hi)
{
    if (lo == NULL || hi == NULL || param != CTR_ENCODER_P_BN_GROUPS)
        return CTR_E_INVALID_ARG;
    *lo = 1.0;
    *hi = (double)CTR__SHAPE_MAX_DIM;
    return CTR_OK;
}

#define GROUP "CTR_ENCODER_P_"

/* The parameter as common/params.h describes it (*out), or NULL. */
static const ctr__param *describe(int32_t param, ctr__param *out)
{
    out->id = param;
    out->is_int = 1;
    out->read_only = 0;
    return ctr_encoder_param_bounds(param, &out->lo, &out->hi) == CTR_OK ? out
                                                                         : NULL;
}

CTR_API int ctr_encoder_set_i64(ctr_encoder *enc, int32_t param, int64_t value)
{
    ctr__param d;
    double v;
    int rc;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    rc = ctr__param_set_i64(&enc->err, GROUP, param, describe(param, &d), value,
                            &v);
    if (rc == CTR_OK && value != enc->bn_groups) {
        enc->bn_groups = value;
        ctr__encoder_release_workspace(enc);
    }
    return rc;
}

CTR_API int ctr_encoder_get_i64(const ctr_encoder *enc, int32_t param, int64_t *value)
{
    ctr__param d;
    int rc;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__param_get(&enc->err, GROUP, param, describe(param, &d), value, 1);
    if (rc == CTR_OK)
        *value = enc->bn_groups;
    return rc;
}

CTR_API const char *ctr_encoder_last_error(const ctr_encoder *enc)
{
    return ctr__error_message(enc == NULL ? NULL : &enc->err);
}
