/*
 * encoder_build.c - appending layers to an encoder (encoder_build.h): each
 * layer kind's ctr_encoder_add_* call ends here, and so do the handle's
 * copies and checkpoints. The layer's own table configures it.
 */
#include "encoder/encoder_build.h"

#include <string.h>

#include "encoder/encoder.h"

/* A copy of `old` (old_n floats) grown to new_n floats, the new part zero.
 * *out is NULL when new_n is 0. */
static int grow_floats(const ctr__alloc *a, float **out, const float *old,
                       int64_t old_n, int64_t new_n)
{
    float *p;
    if (new_n == 0) {
        *out = NULL;
        return CTR_OK;
    }
    if ((uint64_t)new_n > SIZE_MAX / sizeof(float))
        return CTR_E_OVERFLOW;
    p = (float *)ctr__calloc(a, (size_t)new_n * sizeof(float));
    if (p == NULL)
        return CTR_E_NOMEM;
    if (old_n > 0)
        memcpy(p, old, (size_t)old_n * sizeof(float));
    *out = p;
    return CTR_OK;
}

/* Configures `tmpl` on the current output shape and appends it, drawing its
 * initial values from the encoder's generator. All-or-nothing. */
int ctr__encoder_append(ctr_encoder *enc, ctr__layer tmpl)
{
    ctr__layer *layers = enc->layers;
    float *params = NULL, *grads = NULL, *stats = NULL;
    int64_t cap = enc->cap_layers, np, ns;
    int rc;
    if (enc->n_layers >= CTR__ENCODER_MAX_LAYERS)
        return ctr__fail(&enc->err, CTR_E_INVALID_ARG, "too many layers (max %d)",
                         CTR__ENCODER_MAX_LAYERS);
    rc = ctr__layer_configure(&tmpl, enc->layers, enc->n_layers, &enc->input,
                              enc->n_params, enc->n_stats, &enc->err);
    if (rc != CTR_OK)
        return rc;
    np = enc->n_params + tmpl.param_count;
    ns = enc->n_stats + tmpl.stat_count;
    if (enc->n_layers == cap) {
        cap = cap == 0 ? 8 : 2 * cap;
        layers = (ctr__layer *)ctr__malloc(&enc->alloc, (size_t)cap * sizeof(ctr__layer));
        if (layers == NULL)
            return ctr__fail(&enc->err, CTR_E_NOMEM, "cannot grow the layer list");
        if (enc->n_layers > 0)
            memcpy(layers, enc->layers, (size_t)enc->n_layers * sizeof(ctr__layer));
    }
    rc = grow_floats(&enc->alloc, &params, enc->params, enc->n_params, np);
    if (rc == CTR_OK)
        rc = grow_floats(&enc->alloc, &grads, enc->grads, enc->n_params, np);
    if (rc == CTR_OK)
        rc = grow_floats(&enc->alloc, &stats, enc->stats, enc->n_stats, ns);
    if (rc != CTR_OK) {
        if (layers != enc->layers)
            ctr__free(&enc->alloc, layers, (size_t)cap * sizeof(ctr__layer));
        ctr__free(&enc->alloc, params, (size_t)np * sizeof(float));
        ctr__free(&enc->alloc, grads, (size_t)np * sizeof(float));
        ctr__free(&enc->alloc, stats, (size_t)ns * sizeof(float));
        return ctr__fail(&enc->err, rc, "cannot grow the parameter arrays");
    }
    tmpl.param_offset = enc->n_params;
    tmpl.stat_offset = enc->n_stats;
    /* A network without parameters or statistics so far has NULL arrays,
     * and NULL + 0 is undefined behaviour. */
    if (tmpl.ops->init != NULL)
        tmpl.ops->init(&tmpl, params != NULL ? params + tmpl.param_offset : NULL,
                  stats != NULL ? stats + tmpl.stat_offset : NULL, &enc->gen);
    if (layers != enc->layers)
        ctr__free(&enc->alloc, enc->layers, (size_t)enc->cap_layers * sizeof(ctr__layer));
    ctr__free(&enc->alloc, enc->params, (size_t)enc->n_params * sizeof(float));
    ctr__free(&enc->alloc, enc->grads, (size_t)enc->n_params * sizeof(float));
    ctr__free(&enc->alloc, enc->stats, (size_t)enc->n_stats * sizeof(float));
    enc->layers = layers;
    enc->cap_layers = cap;
    enc->params = params;
    enc->grads = grads;
    enc->stats = stats;
    enc->n_params = np;
    enc->n_stats = ns;
    enc->layers[enc->n_layers++] = tmpl;
    ctr__encoder_release_workspace(enc);
    ctr__encoder_plan_slots(enc);
    return CTR_OK;
}

int ctr__encoder_add(ctr_encoder *enc, const ctr__layer *l)
{
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    return ctr__encoder_append(enc, *l);
}

int ctr__encoder_add_kind(ctr_encoder *enc, const ctr__layer *l,
                          int32_t kind, const char *rule)
{
    if (enc != NULL && l->ops == NULL)
        return ctr__fail(&enc->err, CTR_E_INVALID_ARG, "%s (got %d)", rule,
                         (int)kind);
    return ctr__encoder_add(enc, l);
}
