/*
 * encoder.c - the public ctr_encoder handle: the layer list, the flat
 * parameter / gradient / statistics arrays, the workspace, forward and
 * backward driving, copies, the momentum update and checkpoints. The math of
 * each layer lives in layer_*.c behind encoder_layer.h.
 */
#include <math.h>
#include <string.h>

#include "common/persist.h"
#include "encoder/encoder_internal.h"
#include "encoder/layer.h"
#include "common/vec.h"

#define SECTION_ARCH CTR__FOURCC('A', 'R', 'C', 'H')
#define SECTION_PARAMS CTR__FOURCC('P', 'A', 'R', 'M')
#define SECTION_STATS CTR__FOURCC('S', 'T', 'A', 'T')
#define SECTION_PRNG CTR__FOURCC('P', 'R', 'N', 'G')

/* Largest accepted dimension, layer count and group count: far above any
 * real network, low enough that products of a few of them stay in int64. */
#define MAX_DIM ((int64_t)1 << 31)
#define MAX_LAYERS 65536
#define LAYER_RECORD_BYTES (4 + 8 * CTR__LAYER_NI + 8 * CTR__LAYER_NF)
#define WORK_ALIGN 16 /* floats: every workspace buffer starts on 64 bytes */

enum { STAGE_NONE = 0 };

struct ctr_encoder {
    ctr__alloc alloc;
    ctr__error err;
    ctr__prng gen;
    ctr__shape input;
    int64_t bn_groups;
    ctr__layer *layers;
    int64_t n_layers, cap_layers;
    float *params, *grads, *stats;
    int64_t n_params, n_stats;
    /* workspace for up to work_batch samples */
    float *work;
    size_t work_floats;
    int64_t work_batch;
    size_t in_copy_offset, grad_offset[2];
    int stage;     /* STAGE_NONE, CTR_ENCODER_TRAIN or CTR_ENCODER_EVAL */
    int64_t batch; /* samples of the last forward */
};

/* ---- shape helpers ------------------------------------------------------- */

int64_t ctr__shape_size(const ctr__shape *s)
{
    return s->d[0] * s->d[1] * s->d[2];
}

void ctr__shape_rows(const ctr__shape *s, int64_t *rows, int64_t *row_len)
{
    if (s->ndims == 2) {
        *rows = s->d[0];
        *row_len = s->d[1];
    } else {
        *rows = 1;
        *row_len = ctr__shape_size(s);
    }
}

void ctr__shape_channels(const ctr__shape *s, int64_t *outer,
                         int64_t *channels, int64_t *inner)
{
    *outer = s->ndims == 2 ? s->d[0] : 1;
    *channels = s->ndims == 2 ? s->d[1] : s->d[0];
    *inner = s->ndims == 3 ? s->d[1] * s->d[2] : 1;
}

float ctr__uniform_sym(ctr__prng *g, double bound)
{
    return (float)((2.0 * ctr__prng_uniform_f64(g) - 1.0) * bound);
}

int64_t ctr__window_count(int64_t len, int64_t kernel, int64_t stride, int64_t pad)
{
    if (len + 2 * pad < kernel)
        return 0;
    return (len + 2 * pad - kernel) / stride + 1;
}

const ctr__layer_ops *ctr__layer_ops_for(int32_t kind)
{
    switch (kind) {
    case CTR_LAYER_CONV2D: return &ctr__layer_conv2d_ops;
    case CTR_LAYER_CONV1D: return &ctr__layer_conv1d_ops;
    case CTR_LAYER_MAXPOOL2D: return &ctr__layer_maxpool2d_ops;
    case CTR_LAYER_AVGPOOL2D: return &ctr__layer_avgpool2d_ops;
    case CTR_LAYER_GLOBAL_AVGPOOL: return &ctr__layer_global_avgpool_ops;
    case CTR_LAYER_DROPOUT: return &ctr__layer_dropout_ops;
    case CTR_LAYER_GRU: return &ctr__layer_gru_ops;
    case CTR_LAYER_LINEAR: return &ctr__layer_linear_ops;
    case CTR_LAYER_BATCHNORM: return &ctr__layer_batchnorm_ops;
    case CTR_LAYER_LAYERNORM: return &ctr__layer_layernorm_ops;
    case CTR_LAYER_RELU: return &ctr__layer_relu_ops;
    case CTR_LAYER_GELU: return &ctr__layer_gelu_ops;
    case CTR_LAYER_TANH: return &ctr__layer_tanh_ops;
    case CTR_LAYER_L2NORM: return &ctr__layer_l2norm_ops;
    case CTR_LAYER_FLATTEN: return &ctr__layer_flatten_ops;
    default: return NULL;
    }
}

static const ctr__shape *current_shape(const ctr_encoder *enc)
{
    return enc->n_layers == 0 ? &enc->input : &enc->layers[enc->n_layers - 1].out;
}

static int64_t output_size(const ctr_encoder *enc)
{
    return ctr__shape_size(current_shape(enc));
}

/* Checks a per-sample shape: 1..3 dimensions, each in [1, MAX_DIM], and a
 * total size that fits. */
static int check_shape(const ctr__shape *s)
{
    int i;
    int64_t size = 1;
    if (s->ndims < 1 || s->ndims > 3)
        return CTR_E_INVALID_ARG;
    for (i = 0; i < 3; i++) {
        if (s->d[i] < 1 || s->d[i] > MAX_DIM)
            return CTR_E_INVALID_ARG;
        if (size > MAX_DIM / s->d[i])
            return CTR_E_OVERFLOW;
        size *= s->d[i];
    }
    return CTR_OK;
}

/* ---- lifecycle ----------------------------------------------------------- */

static void release_workspace(ctr_encoder *enc)
{
    ctr__free(&enc->alloc, enc->work, enc->work_floats * sizeof(float));
    enc->work = NULL;
    enc->work_floats = 0;
    enc->work_batch = 0;
    enc->stage = STAGE_NONE;
}

static int encoder_new(ctr_encoder **out, const ctr__shape *input, uint64_t seed,
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
    ctr__shape s = {0, {1, 1, 1}};
    int i, rc;
    if (out == NULL || dims == NULL || ctr__alloc_init(&a, alloc) != CTR_OK ||
        ndims < 1 || ndims > 3)
        return CTR_E_INVALID_ARG;
    s.ndims = ndims;
    for (i = 0; i < ndims; i++)
        s.d[i] = dims[i];
    rc = check_shape(&s);
    if (rc != CTR_OK)
        return rc;
    return encoder_new(out, &s, seed, &a);
}

CTR_API void ctr_encoder_destroy(ctr_encoder *enc)
{
    ctr__alloc a;
    if (enc == NULL)
        return;
    a = enc->alloc;
    release_workspace(enc);
    ctr__free(&a, enc->layers, (size_t)enc->cap_layers * sizeof(ctr__layer));
    ctr__free(&a, enc->params, (size_t)enc->n_params * sizeof(float));
    ctr__free(&a, enc->grads, (size_t)enc->n_params * sizeof(float));
    ctr__free(&a, enc->stats, (size_t)enc->n_stats * sizeof(float));
    ctr__free(&a, enc, sizeof(*enc));
}

/* ---- building ------------------------------------------------------------ */

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

/* Configures `l` on input shape `in` (output shape, parameter and
 * statistics counts), given the totals so far. Allocates nothing. */
static int configure_layer(ctr__layer *l, const ctr__shape *in, int64_t n_params,
                           int64_t n_stats, ctr__error *err)
{
    const ctr__layer_ops *ops = ctr__layer_ops_for(l->kind);
    int rc;
    if (ops == NULL)
        return ctr__fail(err, CTR_E_INVALID_ARG, "unknown layer kind %d", (int)l->kind);
    l->in = *in;
    l->out = *in;
    rc = ops->configure(l, err);
    if (rc == CTR_OK && check_shape(&l->out) != CTR_OK)
        rc = ctr__fail(err, CTR_E_OVERFLOW, "layer output too large");
    if (rc == CTR_OK && (l->param_count > INT64_MAX / 4 - n_params ||
                         l->stat_count > INT64_MAX / 4 - n_stats))
        rc = ctr__fail(err, CTR_E_OVERFLOW, "too many parameters");
    return rc;
}

/* Configures `tmpl` on the current output shape and appends it, drawing its
 * initial values from the encoder's generator. All-or-nothing. */
static int append_layer(ctr_encoder *enc, ctr__layer tmpl)
{
    const ctr__layer_ops *ops = ctr__layer_ops_for(tmpl.kind);
    ctr__layer *layers = enc->layers;
    float *params = NULL, *grads = NULL, *stats = NULL;
    int64_t cap = enc->cap_layers, np, ns;
    int rc;
    if (enc->n_layers >= MAX_LAYERS)
        return ctr__fail(&enc->err, CTR_E_INVALID_ARG, "too many layers (max %d)",
                         MAX_LAYERS);
    rc = configure_layer(&tmpl, current_shape(enc), enc->n_params, enc->n_stats, &enc->err);
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
    if (ops->init != NULL)
        ops->init(&tmpl, params != NULL ? params + tmpl.param_offset : NULL,
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
    release_workspace(enc);
    return CTR_OK;
}

static ctr__layer layer_template(int32_t kind)
{
    ctr__layer l;
    memset(&l, 0, sizeof(l));
    l.kind = kind;
    return l;
}

CTR_API int ctr_encoder_add_linear(ctr_encoder *enc, int64_t out_features,
                                   int32_t bias)
{
    ctr__layer l = layer_template(CTR_LAYER_LINEAR);
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    l.hi[0] = out_features;
    l.hi[1] = bias;
    return append_layer(enc, l);
}

CTR_API int ctr_encoder_add_batchnorm(ctr_encoder *enc, double eps,
                                      double momentum, int32_t affine)
{
    ctr__layer l = layer_template(CTR_LAYER_BATCHNORM);
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    l.hi[0] = affine;
    l.hf[0] = eps;
    l.hf[1] = momentum;
    return append_layer(enc, l);
}

CTR_API int ctr_encoder_add_layernorm(ctr_encoder *enc, double eps,
                                      int32_t affine)
{
    ctr__layer l = layer_template(CTR_LAYER_LAYERNORM);
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    l.hi[0] = affine;
    l.hf[0] = eps;
    return append_layer(enc, l);
}

CTR_API int ctr_encoder_add_activation(ctr_encoder *enc, int32_t kind)
{
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    if (kind != CTR_LAYER_RELU && kind != CTR_LAYER_GELU && kind != CTR_LAYER_TANH)
        return ctr__fail(&enc->err, CTR_E_INVALID_ARG,
                         "activation kind must be CTR_LAYER_RELU, _GELU or _TANH (got %d)",
                         (int)kind);
    return append_layer(enc, layer_template(kind));
}

CTR_API int ctr_encoder_add_l2norm(ctr_encoder *enc, double eps)
{
    ctr__layer l = layer_template(CTR_LAYER_L2NORM);
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    l.hf[0] = eps;
    return append_layer(enc, l);
}

CTR_API int ctr_encoder_add_flatten(ctr_encoder *enc)
{
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    return append_layer(enc, layer_template(CTR_LAYER_FLATTEN));
}

/* conv1d and conv2d share their hyper-parameters. */
static int add_conv(ctr_encoder *enc, int32_t kind, int64_t out_channels,
                    int64_t kernel, int64_t stride, int64_t padding, int32_t bias)
{
    ctr__layer l = layer_template(kind);
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    l.hi[0] = out_channels;
    l.hi[1] = kernel;
    l.hi[2] = stride;
    l.hi[3] = padding;
    l.hi[4] = bias;
    return append_layer(enc, l);
}

CTR_API int ctr_encoder_add_conv2d(ctr_encoder *enc, int64_t out_channels, int64_t kernel,
                                   int64_t stride, int64_t padding, int32_t bias)
{
    return add_conv(enc, CTR_LAYER_CONV2D, out_channels, kernel, stride, padding, bias);
}

CTR_API int ctr_encoder_add_conv1d(ctr_encoder *enc, int64_t out_channels, int64_t kernel,
                                   int64_t stride, int64_t padding, int32_t bias)
{
    return add_conv(enc, CTR_LAYER_CONV1D, out_channels, kernel, stride, padding, bias);
}

CTR_API int ctr_encoder_add_pool2d(ctr_encoder *enc, int32_t kind, int64_t kernel,
                                   int64_t stride, int64_t padding)
{
    ctr__layer l = layer_template(kind);
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    if (kind != CTR_LAYER_MAXPOOL2D && kind != CTR_LAYER_AVGPOOL2D)
        return ctr__fail(&enc->err, CTR_E_INVALID_ARG,
                         "pool kind must be CTR_LAYER_MAXPOOL2D or _AVGPOOL2D (got %d)",
                         (int)kind);
    l.hi[0] = kernel;
    l.hi[1] = stride;
    l.hi[2] = padding;
    return append_layer(enc, l);
}

CTR_API int ctr_encoder_add_global_avgpool(ctr_encoder *enc)
{
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    return append_layer(enc, layer_template(CTR_LAYER_GLOBAL_AVGPOOL));
}

CTR_API int ctr_encoder_add_dropout(ctr_encoder *enc, double p)
{
    ctr__layer l = layer_template(CTR_LAYER_DROPOUT);
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    l.hf[0] = p;
    return append_layer(enc, l);
}

CTR_API int ctr_encoder_add_gru(ctr_encoder *enc, int64_t hidden)
{
    ctr__layer l = layer_template(CTR_LAYER_GRU);
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    l.hi[0] = hidden;
    return append_layer(enc, l);
}

/* ---- workspace ----------------------------------------------------------- */

/* Reserves `floats` at *pos (rounded up to WORK_ALIGN), returning the offset. */
static int reserve(size_t *pos, size_t *offset, size_t floats)
{
    size_t p = (*pos + WORK_ALIGN - 1) / WORK_ALIGN * WORK_ALIGN;
    if (p < *pos || ctr__add_size(pos, p, floats) != CTR_OK)
        return CTR_E_OVERFLOW;
    *offset = p;
    return CTR_OK;
}

/* Lays out the workspace for n samples: the input copy, each layer's output
 * and cache, two gradient buffers. Writes offsets into the layers only when
 * `commit` is set; returns the total in *total. */
static int plan_workspace(ctr_encoder *enc, int64_t n, int commit, size_t *total)
{
    size_t pos = 0, off, floats, grads[2];
    int64_t i, widest = ctr__shape_size(&enc->input);
    int k;
    if (ctr__matrix_bytes(&floats, n, widest, 1) != CTR_OK ||
        reserve(&pos, &off, floats) != CTR_OK)
        return CTR_E_OVERFLOW;
    if (commit)
        enc->in_copy_offset = off;
    for (i = 0; i < enc->n_layers; i++) {
        ctr__layer *l = &enc->layers[i];
        const ctr__layer_ops *ops = ctr__layer_ops_for(l->kind);
        size_t out_off, cache_off, cache = 0;
        int64_t size = ctr__shape_size(&l->out);
        if (size > widest)
            widest = size;
        if (ctr__matrix_bytes(&floats, n, size, 1) != CTR_OK ||
            reserve(&pos, &out_off, floats) != CTR_OK)
            return CTR_E_OVERFLOW;
        if (ops->cache_floats != NULL &&
            ops->cache_floats(l, n, enc->bn_groups, &cache) != CTR_OK)
            return CTR_E_OVERFLOW;
        if (reserve(&pos, &cache_off, cache) != CTR_OK)
            return CTR_E_OVERFLOW;
        if (commit) {
            l->out_offset = out_off;
            l->cache_offset = cache_off;
        }
    }
    for (k = 0; k < 2; k++) {
        if (ctr__matrix_bytes(&floats, n, widest, 1) != CTR_OK ||
            reserve(&pos, &grads[k], floats) != CTR_OK)
            return CTR_E_OVERFLOW;
    }
    if (commit) {
        enc->grad_offset[0] = grads[0];
        enc->grad_offset[1] = grads[1];
    }
    if (pos > SIZE_MAX / sizeof(float))
        return CTR_E_OVERFLOW;
    *total = pos;
    return CTR_OK;
}

static int ensure_workspace(ctr_encoder *enc, int64_t n)
{
    size_t total;
    float *work;
    int rc;
    if (enc->work != NULL && n <= enc->work_batch)
        return CTR_OK;
    rc = plan_workspace(enc, n, 0, &total);
    if (rc != CTR_OK)
        return ctr__fail(&enc->err, rc, "workspace for %lld samples overflows",
                         (long long)n);
    work = (float *)ctr__malloc(&enc->alloc, total * sizeof(float));
    if (work == NULL)
        return ctr__fail(&enc->err, CTR_E_NOMEM,
                         "cannot allocate the workspace for %lld samples", (long long)n);
    release_workspace(enc);
    plan_workspace(enc, n, 1, &total);
    enc->work = work;
    enc->work_floats = total;
    enc->work_batch = n;
    return CTR_OK;
}

/* ---- forward / backward -------------------------------------------------- */

static int check_batch(ctr_encoder *enc, int64_t n, int train)
{
    int64_t i;
    for (i = 0; i < enc->n_layers; i++) {
        const ctr__layer *l = &enc->layers[i];
        const ctr__layer_ops *ops = ctr__layer_ops_for(l->kind);
        int rc = CTR_OK;
        if (ops->check_batch != NULL)
            rc = ops->check_batch(l, n, enc->bn_groups, train, &enc->err);
        if (rc != CTR_OK)
            return rc;
    }
    return CTR_OK;
}

static ctr__layer_run layer_run(ctr_encoder *enc, const ctr__layer *l)
{
    ctr__layer_run r;
    memset(&r, 0, sizeof(r));
    r.n = enc->batch;
    r.groups = enc->bn_groups;
    r.y = enc->work + l->out_offset;
    r.w = enc->params == NULL ? NULL : enc->params + l->param_offset;
    r.gw = enc->grads == NULL ? NULL : enc->grads + l->param_offset;
    r.stat = enc->stats == NULL ? NULL : enc->stats + l->stat_offset;
    r.cache = enc->work + l->cache_offset;
    r.rng = &enc->gen;
    return r;
}

CTR_API int ctr_encoder_forward(ctr_encoder *enc, float *y, const float *x,
                                int64_t n, int32_t mode)
{
    size_t in_floats;
    const float *cur;
    int64_t i;
    int rc;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    if ((rc = ctr__check_ptr(&enc->err, y, "y")) != CTR_OK ||
        (rc = ctr__check_ptr(&enc->err, x, "x")) != CTR_OK ||
        (rc = ctr__check_positive(&enc->err, n, "n")) != CTR_OK)
        return rc;
    if (mode != CTR_ENCODER_TRAIN && mode != CTR_ENCODER_EVAL)
        return ctr__fail(&enc->err, CTR_E_INVALID_ARG,
                         "mode must be CTR_ENCODER_TRAIN or CTR_ENCODER_EVAL (got %d)",
                         (int)mode);
    if (ctr__matrix_bytes(&in_floats, n, ctr__shape_size(&enc->input), sizeof(float)) != CTR_OK)
        return ctr__fail(&enc->err, CTR_E_OVERFLOW, "n = %lld is too large", (long long)n);
    in_floats /= sizeof(float);
    if ((rc = check_batch(enc, n, mode == CTR_ENCODER_TRAIN)) != CTR_OK ||
        (rc = ctr__check_finite(&enc->err, x, in_floats, "x")) != CTR_OK)
        return rc;
    if ((rc = ensure_workspace(enc, n)) != CTR_OK)
        return rc;
    enc->batch = n;
    cur = x;
    if (mode == CTR_ENCODER_TRAIN) {
        memcpy(enc->work + enc->in_copy_offset, x, in_floats * sizeof(float));
        cur = enc->work + enc->in_copy_offset;
    }
    for (i = 0; i < enc->n_layers; i++) {
        const ctr__layer *l = &enc->layers[i];
        ctr__layer_run r = layer_run(enc, l);
        r.train = mode == CTR_ENCODER_TRAIN;
        r.x = cur;
        ctr__layer_ops_for(l->kind)->forward(l, &r);
        cur = r.y;
    }
    memcpy(y, cur, (size_t)(n * output_size(enc)) * sizeof(float));
    enc->stage = mode;
    return CTR_OK;
}

/* The input of layer i in the last train forward. */
static const float *layer_input(const ctr_encoder *enc, int64_t i)
{
    if (i == 0)
        return enc->work + enc->in_copy_offset;
    return enc->work + enc->layers[i - 1].out_offset;
}

CTR_API int ctr_encoder_backward(ctr_encoder *enc, float *dx, const float *dy)
{
    const float *g;
    int64_t i;
    int rc, k = 0;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    if ((rc = ctr__check_ptr(&enc->err, dy, "dy")) != CTR_OK)
        return rc;
    if (enc->stage == STAGE_NONE)
        return ctr__fail(&enc->err, CTR_E_STAGE, "backward before any forward");
    if (enc->stage != CTR_ENCODER_TRAIN)
        return ctr__fail(&enc->err, CTR_E_STAGE,
                         "backward after an eval-mode forward (nothing cached)");
    rc = ctr__check_finite(&enc->err, dy, (size_t)(enc->batch * output_size(enc)), "dy");
    if (rc != CTR_OK)
        return rc;
    g = dy;
    for (i = enc->n_layers - 1; i >= 0; i--) {
        const ctr__layer *l = &enc->layers[i];
        ctr__layer_run r = layer_run(enc, l);
        r.x = layer_input(enc, i);
        r.dy = g;
        r.dx = i == 0 ? dx : enc->work + enc->grad_offset[k];
        ctr__layer_ops_for(l->kind)->backward(l, &r);
        g = r.dx;
        k ^= 1;
    }
    if (enc->n_layers == 0 && dx != NULL)
        memcpy(dx, dy, (size_t)(enc->batch * output_size(enc)) * sizeof(float));
    return CTR_OK;
}

CTR_API int ctr_encoder_zero_grad(ctr_encoder *enc)
{
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    if (enc->n_params > 0)
        memset(enc->grads, 0, (size_t)enc->n_params * sizeof(float));
    return CTR_OK;
}

CTR_API int ctr_encoder_layer_output(ctr_encoder *enc, float *out, int64_t layer)
{
    const ctr__layer *l;
    int rc;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    if ((rc = ctr__check_ptr(&enc->err, out, "out")) != CTR_OK)
        return rc;
    if (layer < 0 || layer >= enc->n_layers)
        return ctr__fail(&enc->err, CTR_E_INVALID_ARG,
                         "layer must be in [0, %lld) (got %lld)",
                         (long long)enc->n_layers, (long long)layer);
    if (enc->stage == STAGE_NONE)
        return ctr__fail(&enc->err, CTR_E_STAGE, "no forward has run");
    l = &enc->layers[layer];
    memcpy(out, enc->work + l->out_offset,
           (size_t)(enc->batch * ctr__shape_size(&l->out)) * sizeof(float));
    return CTR_OK;
}

/* ---- shapes and parameters ----------------------------------------------- */

CTR_API int ctr_encoder_num_layers(const ctr_encoder *enc, int64_t *out)
{
    if (enc == NULL || out == NULL)
        return CTR_E_INVALID_ARG;
    *out = enc->n_layers;
    return CTR_OK;
}

CTR_API int ctr_encoder_layer_kind(const ctr_encoder *enc, int32_t *kind,
                                   int64_t layer)
{
    if (enc == NULL || kind == NULL || layer < 0 || layer >= enc->n_layers)
        return CTR_E_INVALID_ARG;
    *kind = enc->layers[layer].kind;
    return CTR_OK;
}

CTR_API int ctr_encoder_shape(const ctr_encoder *enc, int64_t *dims,
                              int32_t *ndims, int64_t *size, int64_t layer)
{
    const ctr__shape *s;
    if (enc == NULL || dims == NULL || ndims == NULL || layer < -1 ||
        layer >= enc->n_layers)
        return CTR_E_INVALID_ARG;
    s = layer == -1 ? &enc->input : &enc->layers[layer].out;
    memcpy(dims, s->d, sizeof(s->d));
    *ndims = s->ndims;
    if (size != NULL)
        *size = ctr__shape_size(s);
    return CTR_OK;
}

CTR_API int ctr_encoder_num_params(const ctr_encoder *enc, int64_t *out)
{
    if (enc == NULL || out == NULL)
        return CTR_E_INVALID_ARG;
    *out = enc->n_params;
    return CTR_OK;
}

CTR_API int ctr_encoder_num_stats(const ctr_encoder *enc, int64_t *out)
{
    if (enc == NULL || out == NULL)
        return CTR_E_INVALID_ARG;
    *out = enc->n_stats;
    return CTR_OK;
}

/* Calls fn for every parameter tensor in order, until fn returns nonzero. */
typedef int (*tensor_visit_fn)(void *ctx, int64_t layer, int64_t offset,
                               const ctr__tensor_desc *d);

static void visit_tensors(const ctr_encoder *enc, tensor_visit_fn fn, void *ctx)
{
    int64_t i;
    for (i = 0; i < enc->n_layers; i++) {
        const ctr__layer *l = &enc->layers[i];
        const ctr__layer_ops *ops = ctr__layer_ops_for(l->kind);
        ctr__tensor_desc d[CTR__LAYER_MAX_TENSORS];
        int k, count = ops->tensors == NULL ? 0 : ops->tensors(l, d);
        int64_t off = l->param_offset;
        for (k = 0; k < count; k++) {
            if (fn(ctx, i, off, &d[k]))
                return;
            off += d[k].count;
        }
    }
}

typedef struct tensor_query {
    int64_t wanted, seen;
    int64_t layer, offset;
    ctr__tensor_desc desc;
} tensor_query;

static int find_tensor(void *ctx, int64_t layer, int64_t offset,
                       const ctr__tensor_desc *d)
{
    tensor_query *q = (tensor_query *)ctx;
    if (q->seen++ != q->wanted)
        return 0;
    q->layer = layer;
    q->offset = offset;
    q->desc = *d;
    return 1;
}

int64_t ctr__encoder_tensor_count(const ctr_encoder *enc)
{
    tensor_query q;
    q.wanted = -1;
    q.seen = 0;
    visit_tensors(enc, find_tensor, &q);
    return q.seen;
}

static int lookup_tensor(const ctr_encoder *enc, int64_t i, tensor_query *q)
{
    q->wanted = i;
    q->seen = 0;
    q->layer = -1;
    if (i < 0)
        return CTR_E_INVALID_ARG;
    visit_tensors(enc, find_tensor, q);
    return q->layer < 0 ? CTR_E_INVALID_ARG : CTR_OK;
}

void ctr__encoder_tensor(const ctr_encoder *enc, int64_t i, int64_t *offset,
                         int64_t *count, int32_t *role)
{
    tensor_query q;
    lookup_tensor(enc, i, &q);
    *offset = q.offset;
    *count = q.desc.count;
    *role = q.desc.role;
}

void ctr__encoder_arrays(ctr_encoder *enc, float **params, float **grads,
                         int64_t *n)
{
    *params = enc->params;
    *grads = enc->grads;
    *n = enc->n_params;
}

CTR_API int ctr_encoder_num_tensors(const ctr_encoder *enc, int64_t *out)
{
    if (enc == NULL || out == NULL)
        return CTR_E_INVALID_ARG;
    *out = ctr__encoder_tensor_count(enc);
    return CTR_OK;
}

CTR_API int ctr_encoder_tensor_info(const ctr_encoder *enc, int64_t *layer,
                                    int32_t *role, int64_t *offset,
                                    int64_t *dims, int32_t *ndims,
                                    int64_t tensor)
{
    tensor_query q;
    if (enc == NULL || lookup_tensor(enc, tensor, &q) != CTR_OK)
        return CTR_E_INVALID_ARG;
    if (layer != NULL)
        *layer = q.layer;
    if (role != NULL)
        *role = q.desc.role;
    if (offset != NULL)
        *offset = q.offset;
    if (dims != NULL)
        memcpy(dims, q.desc.dims, sizeof(q.desc.dims));
    if (ndims != NULL)
        *ndims = q.desc.ndims;
    return CTR_OK;
}

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

static ctr__error *mutable_err(const ctr_encoder *enc)
{
    return (ctr__error *)&((ctr_encoder *)enc)->err;
}

CTR_API int ctr_encoder_get_params(const ctr_encoder *enc, float *out, int64_t n)
{
    int rc;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(mutable_err(enc));
    rc = check_array_call(mutable_err(enc), out, n, enc->n_params, "out");
    if (rc == CTR_OK && n > 0)
        memcpy(out, enc->params, (size_t)n * sizeof(float));
    return rc;
}

CTR_API int ctr_encoder_get_grads(const ctr_encoder *enc, float *out, int64_t n)
{
    int rc;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(mutable_err(enc));
    rc = check_array_call(mutable_err(enc), out, n, enc->n_params, "out");
    if (rc == CTR_OK && n > 0)
        memcpy(out, enc->grads, (size_t)n * sizeof(float));
    return rc;
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
    int rc;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(mutable_err(enc));
    rc = check_array_call(mutable_err(enc), out, n, enc->n_stats, "out");
    if (rc == CTR_OK && n > 0)
        memcpy(out, enc->stats, (size_t)n * sizeof(float));
    return rc;
}

/* Running variances must be >= 0: the second half of each layer's block. */
static int check_stats_values(const ctr_encoder *enc, const float *s, ctr__error *err)
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
        rc = check_stats_values(enc, in, &enc->err);
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
    *hi = (double)MAX_DIM;
    return CTR_OK;
}

CTR_API int ctr_encoder_set_i64(ctr_encoder *enc, int32_t param, int64_t value)
{
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    if (param != CTR_ENCODER_P_BN_GROUPS)
        return ctr__fail(&enc->err, CTR_E_INVALID_ARG, "unknown parameter %d", (int)param);
    if (value < 1 || value > MAX_DIM)
        return ctr__fail(&enc->err, CTR_E_INVALID_ARG,
                         "bn groups must be in [1, %lld] (got %lld)", (long long)MAX_DIM,
                         (long long)value);
    if (value != enc->bn_groups) {
        enc->bn_groups = value;
        release_workspace(enc);
    }
    return CTR_OK;
}

CTR_API int ctr_encoder_get_i64(const ctr_encoder *enc, int32_t param, int64_t *value)
{
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(mutable_err(enc));
    if (value == NULL)
        return ctr__fail(mutable_err(enc), CTR_E_INVALID_ARG, "value is NULL");
    if (param != CTR_ENCODER_P_BN_GROUPS)
        return ctr__fail(mutable_err(enc), CTR_E_INVALID_ARG, "unknown parameter %d",
                         (int)param);
    *value = enc->bn_groups;
    return CTR_OK;
}

CTR_API int ctr_encoder_memory(const ctr_encoder *enc, size_t *bytes, int64_t batch)
{
    size_t work, fixed;
    int rc;
    if (enc == NULL || bytes == NULL || batch < 1)
        return CTR_E_INVALID_ARG;
    rc = plan_workspace((ctr_encoder *)enc, batch, 0, &work);
    if (rc != CTR_OK)
        return rc;
    fixed = (size_t)(2 * enc->n_params + enc->n_stats) * sizeof(float) +
            (size_t)enc->cap_layers * sizeof(ctr__layer) + sizeof(*enc);
    if (ctr__mul_size(&work, work, sizeof(float)) != CTR_OK ||
        ctr__add_size(bytes, work, fixed) != CTR_OK)
        return CTR_E_OVERFLOW;
    return CTR_OK;
}

/* ---- copies -------------------------------------------------------------- */

static int same_shape(const ctr__shape *a, const ctr__shape *b)
{
    return a->ndims == b->ndims && a->d[0] == b->d[0] && a->d[1] == b->d[1] &&
           a->d[2] == b->d[2];
}

static int same_architecture(const ctr_encoder *a, const ctr_encoder *b)
{
    int64_t i;
    if (a->n_layers != b->n_layers || a->n_params != b->n_params ||
        a->n_stats != b->n_stats || !same_shape(&a->input, &b->input))
        return 0;
    for (i = 0; i < a->n_layers; i++) {
        const ctr__layer *la = &a->layers[i], *lb = &b->layers[i];
        if (la->kind != lb->kind || memcmp(la->hi, lb->hi, sizeof(la->hi)) != 0 ||
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
    int rc = encoder_new(&enc, &src->input, 0, a);
    for (i = 0; rc == CTR_OK && i < src->n_layers; i++)
        rc = append_layer(enc, src->layers[i]);
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
    ctr__error_clear(mutable_err(src));
    if (out == NULL)
        return ctr__fail(mutable_err(src), CTR_E_INVALID_ARG, "out is NULL");
    rc = build_like(&enc, src, &src->alloc);
    if (rc != CTR_OK)
        return ctr__fail(mutable_err(src), rc, "cannot allocate the clone");
    copy_values(enc, src, 1);
    enc->gen = src->gen;
    enc->bn_groups = src->bn_groups;
    *out = enc;
    return CTR_OK;
}

static int check_pair(ctr_encoder *dst, const ctr_encoder *src, int32_t copy_stats)
{
    if (src == NULL)
        return ctr__fail(&dst->err, CTR_E_INVALID_ARG, "src is NULL");
    if (copy_stats != 0 && copy_stats != 1)
        return ctr__fail(&dst->err, CTR_E_INVALID_ARG, "copy_stats must be 0 or 1");
    if (!same_architecture(dst, src))
        return ctr__fail(&dst->err, CTR_E_SHAPE, "the encoders' architectures differ");
    return CTR_OK;
}

CTR_API int ctr_encoder_copy_params(ctr_encoder *dst, const ctr_encoder *src,
                                    int32_t copy_stats)
{
    int rc;
    if (dst == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&dst->err);
    if ((rc = check_pair(dst, src, copy_stats)) != CTR_OK)
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
    ctr__error_clear(&dst->err);
    if ((rc = check_pair(dst, src, copy_stats)) != CTR_OK)
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

/* ---- checkpoints --------------------------------------------------------- */

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
        ctr__ckw_put_u32(w, (uint32_t)l->kind);
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
    return ctr__persist_save(enc, write_encoder, CTR__CKPT_KIND_ENCODER, path,
                             &enc->alloc, mutable_err(enc));
}

CTR_API int ctr_encoder_save_buffer(const ctr_encoder *enc, void *buf, size_t cap,
                                    size_t *size_out)
{
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__persist_save_buffer(enc, write_encoder, CTR__CKPT_KIND_ENCODER,
                                    buf, cap, size_out, mutable_err(enc));
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
    ctr__shape shape;
    int64_t i;
    int k, rc = ctr__ckr_begin_section(r, SECTION_ARCH, NULL);
    if (rc != CTR_OK)
        return rc;
    sv->input.ndims = (int32_t)ctr__ckr_get_u32(r);
    for (k = 0; k < 3; k++)
        sv->input.d[k] = ctr__ckr_get_i64(r);
    sv->groups = ctr__ckr_get_i64(r);
    sv->n_layers = ctr__ckr_get_i64(r);
    if (r->status != CTR_OK || check_shape(&sv->input) != CTR_OK || sv->groups < 1 ||
        sv->groups > MAX_DIM || sv->n_layers < 0 || sv->n_layers > MAX_LAYERS ||
        (uint64_t)sv->n_layers * LAYER_RECORD_BYTES != ctr__ckr_remaining(r)) {
        sv->n_layers = 0;
        return CTR_E_CORRUPT;
    }
    if (sv->n_layers > 0) {
        sv->layers = (ctr__layer *)ctr__calloc(a, (size_t)sv->n_layers * sizeof(ctr__layer));
        if (sv->layers == NULL) {
            sv->n_layers = 0;
            return CTR_E_NOMEM;
        }
    }
    shape = sv->input;
    for (i = 0; i < sv->n_layers; i++) {
        ctr__layer *l = &sv->layers[i];
        l->kind = (int32_t)ctr__ckr_get_u32(r);
        for (k = 0; k < CTR__LAYER_NI; k++)
            l->hi[k] = ctr__ckr_get_i64(r);
        for (k = 0; k < CTR__LAYER_NF; k++)
            l->hf[k] = ctr__ckr_get_f64(r);
        if (configure_layer(l, &shape, sv->n_params, sv->n_stats, NULL) != CTR_OK)
            return CTR_E_CORRUPT;
        sv->n_params += l->param_count;
        sv->n_stats += l->stat_count;
        shape = l->out;
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
        return CTR_E_CORRUPT;
    if (count > 0 && (*out = (float *)ctr__malloc(a, (size_t)count * sizeof(float))) == NULL)
        return CTR_E_NOMEM;
    ctr__ckr_get_f32_array(r, *out, (size_t)count);
    rc = ctr__ckr_end_section(r);
    if (rc == CTR_OK && ctr__check_finite(NULL, *out, (size_t)count, "") != CTR_OK)
        rc = CTR_E_CORRUPT;
    return rc;
}

static int read_sections(ctr__ckr *r, saved_encoder *sv, const ctr__alloc *a)
{
    int k, rc = read_arch(r, sv, a);
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
        rc = CTR_E_CORRUPT; /* the all-zero state is a fixed point */
    if (rc == CTR_OK)
        rc = ctr__ckr_finish(r);
    return rc;
}

/* Builds the encoder a checked checkpoint describes. */
static int build_saved(ctr_encoder **out, const saved_encoder *sv, const ctr__alloc *a)
{
    ctr_encoder *enc = NULL;
    int64_t i;
    int rc = encoder_new(&enc, &sv->input, 0, a);
    for (i = 0; rc == CTR_OK && i < sv->n_layers; i++)
        rc = append_layer(enc, sv->layers[i]);
    if (rc == CTR_OK && check_stats_values(enc, sv->stats, NULL) != CTR_OK)
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
        rc = build_saved(out, &sv, a);
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

CTR_API const char *ctr_encoder_last_error(const ctr_encoder *enc)
{
    return ctr__error_message(enc == NULL ? NULL : &enc->err);
}
