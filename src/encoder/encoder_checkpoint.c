/*
 * encoder_checkpoint.c - an encoder's checkpoint: its architecture (input
 * shape, groups, each layer's kind and hyper-parameters), parameters,
 * statistics and generator, in the format of docs/file-format.md. Loading
 * finds each layer's kind in layer_registry.c and rebuilds the encoder
 * through encoder_build.c.
 */
#include <string.h>

#include "common/persist.h"
#include "encoder/encoder.h"
#include "encoder/encoder_build.h"
#include "encoder/layer_registry.h"

#define SECTION_ARCH CTR__FOURCC('A', 'R', 'C', 'H')
#define SECTION_PARAMS CTR__FOURCC('P', 'A', 'R', 'M')
#define SECTION_STATS CTR__FOURCC('S', 'T', 'A', 'T')
#define SECTION_PRNG CTR__FOURCC('P', 'R', 'N', 'G')

#define LAYER_RECORD_BYTES (4 + 8 * CTR__LAYER_NI + 8 * CTR__LAYER_NF)

static void write_encoder(ctr__ckw *w, const void *obj)
{
    const ctr_encoder *enc = (const ctr_encoder *)obj;
    int64_t i;
    int k;
    ctr__ckw_begin_section(w, SECTION_ARCH);
    ctr__ckw_put_u32(w, (uint32_t)enc->input.ndims);
    for (k = 0; k < 3; k++)
        ctr__ckw_put_i64(w, enc->input.d[k]);
    ctr__ckw_put_i64(w, enc->bn_groups);
    ctr__ckw_put_i64(w, enc->n_layers);
    for (i = 0; i < enc->n_layers; i++) {
        const ctr__layer *l = &enc->layers[i];
        ctr__ckw_put_u32(w, (uint32_t)l->ops->kind);
        for (k = 0; k < CTR__LAYER_NI; k++)
            ctr__ckw_put_i64(w, l->hi[k]);
        for (k = 0; k < CTR__LAYER_NF; k++)
            ctr__ckw_put_f64(w, l->hf[k]);
    }
    ctr__ckw_end_section(w);
    ctr__ckw_begin_section(w, SECTION_PARAMS);
    ctr__ckw_put_i64(w, enc->n_params);
    ctr__ckw_put_f32_array(w, enc->params, (size_t)enc->n_params);
    ctr__ckw_end_section(w);
    ctr__ckw_begin_section(w, SECTION_STATS);
    ctr__ckw_put_i64(w, enc->n_stats);
    ctr__ckw_put_f32_array(w, enc->stats, (size_t)enc->n_stats);
    ctr__ckw_end_section(w);
    ctr__ckw_begin_section(w, SECTION_PRNG);
    for (k = 0; k < 4; k++)
        ctr__ckw_put_u64(w, enc->gen.s[k]);
    ctr__ckw_end_section(w);
}

CTR_API int ctr_encoder_save(const ctr_encoder *enc, const char *path)
{
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__persist_save_const(enc, write_encoder, CTR__CKPT_KIND_ENCODER, path,
                                   &enc->alloc, &enc->err);
}

CTR_API int ctr_encoder_save_buffer(const ctr_encoder *enc, void *buf, size_t cap,
                                    size_t *size_out)
{
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__persist_save_buffer_const(enc, write_encoder, CTR__CKPT_KIND_ENCODER,
                                          buf, cap, size_out, &enc->err);
}

/* What a checkpoint declares, read and checked before the encoder is
 * built: every allocation made while loading is bounded by the bytes the
 * sections really hold, so a hostile file cannot ask for gigabytes. */
typedef struct saved_encoder {
    ctr__shape input;
    int64_t groups, n_layers, n_params, n_stats;
    ctr__layer *layers; /* n_layers templates */
    float *params, *stats;
    ctr__prng gen;
} saved_encoder;

static void saved_release(saved_encoder *sv, const ctr__alloc *a)
{
    ctr__free(a, sv->layers, (size_t)sv->n_layers * sizeof(ctr__layer));
    ctr__free(a, sv->params, (size_t)sv->n_params * sizeof(float));
    ctr__free(a, sv->stats, (size_t)sv->n_stats * sizeof(float));
}

/* The ARCH section: input shape, groups, layer templates (configured here,
 * without allocating, to learn the parameter and statistics counts). */
static int read_arch(ctr__ckr *r, saved_encoder *sv, const ctr__alloc *a)
{
    int64_t i;
    int k, rc = ctr__ckr_begin_section(r, SECTION_ARCH, NULL);
    if (rc != CTR_OK)
        return rc;
    sv->input.ndims = (int32_t)ctr__ckr_get_u32(r);
    for (k = 0; k < 3; k++)
        sv->input.d[k] = ctr__ckr_get_i64(r);
    sv->groups = ctr__ckr_get_i64(r);
    sv->n_layers = ctr__ckr_get_i64(r);
    if (r->status != CTR_OK || ctr__shape_check(&sv->input) != CTR_OK ||
        sv->groups < 1 || sv->groups > CTR__SHAPE_MAX_DIM || sv->n_layers < 0 ||
        sv->n_layers > CTR__ENCODER_MAX_LAYERS ||
        (uint64_t)sv->n_layers * LAYER_RECORD_BYTES != ctr__ckr_remaining(r)) {
        sv->n_layers = 0;
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                             "encoder: input shape, %lld groups or %lld layers out of "
                             "range or not what section 'ARCH' holds",
                             (long long)sv->groups, (long long)sv->n_layers);
    }
    if (sv->n_layers > 0 &&
        ctr__ckr_reserve(r, (uint64_t)sv->n_layers * sizeof(ctr__layer),
                         "encoder: %lld layers", (long long)sv->n_layers) != CTR_OK) {
        sv->n_layers = 0;
        return r->status;
    }
    if (sv->n_layers > 0) {
        sv->layers = (ctr__layer *)ctr__calloc(a, (size_t)sv->n_layers * sizeof(ctr__layer));
        if (sv->layers == NULL) {
            sv->n_layers = 0;
            return CTR_E_NOMEM;
        }
    }
    for (i = 0; i < sv->n_layers; i++) {
        ctr__layer *l = &sv->layers[i];
        l->ops = ctr__layer_find((int32_t)ctr__ckr_get_u32(r));
        for (k = 0; k < CTR__LAYER_NI; k++)
            l->hi[k] = ctr__ckr_get_i64(r);
        for (k = 0; k < CTR__LAYER_NF; k++)
            l->hf[k] = ctr__ckr_get_f64(r);
        if (l->ops == NULL)
            return ctr__ckr_fail(r, CTR_E_CORRUPT, "encoder: layer %lld has no kind "
                                 "this library knows", (long long)i);
        if (ctr__layer_configure(l, sv->layers, i, &sv->input, sv->n_params, sv->n_stats,
                                 r->err) != CTR_OK)
            return ctr__ckr_fail(r, CTR_E_CORRUPT, "encoder: layer %lld: %s",
                                 (long long)i, r->err != NULL ? r->err->msg : "");
        sv->n_params += l->param_count;
        sv->n_stats += l->stat_count;
    }
    return ctr__ckr_end_section(r);
}

/* A section holding a count then that many floats; the count must be
 * `expected` and fill the section exactly, the values finite. *out is
 * allocated (NULL when the count is 0). */
static int read_floats(ctr__ckr *r, uint32_t tag, float **out, int64_t expected,
                       const ctr__alloc *a)
{
    int64_t count;
    int rc = ctr__ckr_begin_section(r, tag, NULL);
    if (rc != CTR_OK)
        return rc;
    count = ctr__ckr_get_i64(r);
    if (r->status != CTR_OK || count != expected ||
        ctr__ckr_remaining(r) != (uint64_t)count * 4)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                             "encoder: a section declares %lld floats, the layers "
                             "need %lld", (long long)count, (long long)expected);
    if (count > 0 && (*out = (float *)ctr__malloc(a, (size_t)count * sizeof(float))) == NULL)
        return CTR_E_NOMEM;
    ctr__ckr_get_f32_array(r, *out, (size_t)count);
    rc = ctr__ckr_end_section(r);
    if (rc == CTR_OK && ctr__check_finite(r->err, *out, (size_t)count,
                                          "encoder: parameters or statistics") != CTR_OK)
        rc = CTR_E_CORRUPT;
    return rc;
}

/* What building the encoder the ARCH section describes allocates besides
 * the templates (taken in read_arch): the saved parameters and statistics,
 * the encoder's layer list (up to twice the layers) and its parameter,
 * gradient and statistics arrays, twice over while a layer is appended. */
static int reserve_encoder(ctr__ckr *r, const saved_encoder *sv)
{
    int64_t floats, layers;
    size_t bytes;
    if (ctr__mul_count(&floats, sv->n_params, 5) != CTR_OK ||
        ctr__mul_count(&layers, sv->n_stats, 3) != CTR_OK ||
        ctr__add_count(&floats, floats, layers) != CTR_OK ||
        ctr__matrix_bytes(&bytes, floats, 1, sizeof(float)) != CTR_OK ||
        ctr__mul_count(&layers, sv->n_layers, 2) != CTR_OK ||
        ctr__add_size(&bytes, bytes, (size_t)layers * sizeof(ctr__layer)) != CTR_OK)
        return ctr__ckr_fail(r, CTR_E_CORRUPT, "encoder: %lld parameters overflow",
                             (long long)sv->n_params);
    return ctr__ckr_reserve(r, bytes,
                            "encoder: %lld layers, %lld parameters, %lld statistics",
                            (long long)sv->n_layers, (long long)sv->n_params,
                            (long long)sv->n_stats);
}

static int read_sections(ctr__ckr *r, saved_encoder *sv, const ctr__alloc *a)
{
    int k, rc = read_arch(r, sv, a);
    if (rc == CTR_OK)
        rc = reserve_encoder(r, sv);
    if (rc == CTR_OK)
        rc = read_floats(r, SECTION_PARAMS, &sv->params, sv->n_params, a);
    if (rc == CTR_OK)
        rc = read_floats(r, SECTION_STATS, &sv->stats, sv->n_stats, a);
    if (rc == CTR_OK)
        rc = ctr__ckr_begin_section(r, SECTION_PRNG, NULL);
    for (k = 0; k < 4 && rc == CTR_OK; k++)
        sv->gen.s[k] = ctr__ckr_get_u64(r);
    if (rc == CTR_OK)
        rc = ctr__ckr_end_section(r);
    if (rc == CTR_OK && (sv->gen.s[0] | sv->gen.s[1] | sv->gen.s[2] | sv->gen.s[3]) == 0)
        rc = ctr__ckr_fail(r, CTR_E_CORRUPT, /* the all-zero state is a fixed point */
                           "encoder: generator state is zero");
    if (rc == CTR_OK)
        rc = ctr__ckr_finish(r);
    return rc;
}

/* Builds the encoder a checked checkpoint describes. */
static int build_saved(ctr_encoder **out, const saved_encoder *sv, ctr__ckr *r,
                       const ctr__alloc *a)
{
    ctr_encoder *enc = NULL;
    int64_t i;
    int rc = ctr__encoder_new(&enc, &sv->input, 0, a);
    for (i = 0; rc == CTR_OK && i < sv->n_layers; i++)
        rc = ctr__encoder_append(enc, sv->layers[i]);
    if (rc == CTR_OK && ctr__encoder_check_stats(enc, sv->stats, r->err) != CTR_OK)
        rc = CTR_E_CORRUPT;
    if (rc != CTR_OK) {
        ctr_encoder_destroy(enc);
        return rc == CTR_E_NOMEM ? rc : CTR_E_CORRUPT;
    }
    if (sv->n_params > 0)
        memcpy(enc->params, sv->params, (size_t)sv->n_params * sizeof(float));
    if (sv->n_stats > 0)
        memcpy(enc->stats, sv->stats, (size_t)sv->n_stats * sizeof(float));
    enc->gen = sv->gen;
    enc->bn_groups = sv->groups;
    *out = enc;
    return CTR_OK;
}

static int read_encoder(ctr__ckr *r, void *out_ptr, const ctr__alloc *a, void *ctx)
{
    ctr_encoder **out = (ctr_encoder **)out_ptr;
    (void)ctx;
    saved_encoder sv;
    int rc;
    memset(&sv, 0, sizeof(sv));
    rc = read_sections(r, &sv, a);
    if (rc == CTR_OK)
        rc = build_saved(out, &sv, r, a);
    saved_release(&sv, a);
    return rc;
}

CTR_API int ctr_encoder_load(ctr_encoder **out, const char *path,
                             const ctr_allocator *alloc)
{
    return ctr__persist_load(out, read_encoder, NULL, CTR__CKPT_KIND_ENCODER,
                             path, alloc);
}

CTR_API int ctr_encoder_load_buffer(ctr_encoder **out, const void *buf, size_t len,
                                    const ctr_allocator *alloc)
{
    return ctr__persist_load_buffer(out, read_encoder, NULL,
                                    CTR__CKPT_KIND_ENCODER, buf, len, alloc);
}

/* ---- in a training-state file (state/state.c) ----------------------------- */

static const ctr__alloc *encoder_alloc_of(const void *h)
{
    return &((const ctr_encoder *)h)->alloc;
}

/* Optimizers may be bound to the handle: only an encoder of the same
 * architecture may replace its content. */
static int encoder_fits(const void *h, const void *loaded, ctr__error *err)
{
    if (ctr__encoder_same_architecture((const ctr_encoder *)h,
                                       (const ctr_encoder *)loaded))
        return CTR_OK;
    return ctr__fail(err, CTR_E_SHAPE, "its architecture differs from the "
                     "encoder's (input shape, layers or their shapes)");
}

static void encoder_exchange(void *a, void *b)
{
    ctr_encoder t = *(ctr_encoder *)a;
    *(ctr_encoder *)a = *(ctr_encoder *)b;
    *(ctr_encoder *)b = t;
}

static void encoder_destroy(void *h)
{
    ctr_encoder_destroy((ctr_encoder *)h);
}

const ctr__persist_ops ctr__encoder_persist = {
    CTR__CKPT_KIND_ENCODER, "encoder", write_encoder, read_encoder,
    encoder_alloc_of, NULL, encoder_fits, encoder_exchange, encoder_destroy};
