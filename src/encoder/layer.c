/*
 * layer.c - what every layer kind shares (layer.h): shapes and their
 * views, window arithmetic, the initialisation draw, a bias's rows (fill,
 * gradient), and configuring a layer through its kind's table. Knows no
 * kind and no handle.
 */
#include "encoder/layer.h"

#include <string.h>

#include "common/parallel.h"
#include "common/vec.h"

ctr__layer ctr__layer_template(const ctr__layer_ops *ops)
{
    ctr__layer l;
    memset(&l, 0, sizeof(l));
    l.ops = ops;
    return l;
}

/* A kind with a skip input: its source layer hi[0] must come before the
 * layer's input (at least one layer between them). */
static int link_skip(ctr__layer *l, const ctr__layer *prev, int64_t count,
                     const ctr__shape *input, ctr__error *err)
{
    int64_t source = l->hi[0];
    if (!l->ops->has_skip)
        return CTR_OK;
    if (source < -1 || source > count - 2)
        return ctr__fail(err, CTR_E_INVALID_ARG,
                         "source must be in [-1, %lld], a layer before the last (got %lld)",
                         (long long)(count - 2), (long long)source);
    l->skip = source == -1 ? *input : prev[source].out;
    return CTR_OK;
}

int ctr__layer_configure(ctr__layer *l, const ctr__layer *prev, int64_t count,
                         const ctr__shape *input, int64_t n_params,
                         int64_t n_stats, ctr__error *err)
{
    int rc;
    l->in = count == 0 ? *input : prev[count - 1].out;
    l->out = l->in;
    rc = link_skip(l, prev, count, input, err);
    if (rc == CTR_OK)
        rc = l->ops->configure(l, err);
    if (rc == CTR_OK && ctr__shape_check(&l->out) != CTR_OK)
        rc = ctr__fail(err, CTR_E_OVERFLOW, "layer output too large");
    if (rc == CTR_OK && (l->param_count > INT64_MAX / 4 - n_params ||
                         l->stat_count > INT64_MAX / 4 - n_stats))
        rc = ctr__fail(err, CTR_E_OVERFLOW, "too many parameters");
    return rc;
}

int ctr__layer_cache_floats(const ctr__layer *l, int64_t n, int64_t groups,
                            int nograd, size_t *out)
{
    *out = 0;
    if (nograd && l->ops->infer_floats != NULL)
        return l->ops->infer_floats(l, n, groups, out);
    if (l->ops->cache_floats != NULL)
        return l->ops->cache_floats(l, n, groups, out);
    return CTR_OK;
}

/* ---- shape helpers ------------------------------------------------------- */

int ctr__shape_check(const ctr__shape *s)
{
    int i;
    int64_t size = 1;
    if (s->ndims < 1 || s->ndims > 3)
        return CTR_E_INVALID_ARG;
    for (i = 0; i < 3; i++) {
        if (s->d[i] < 1 || s->d[i] > CTR__SHAPE_MAX_DIM)
            return CTR_E_INVALID_ARG;
        if (size > CTR__SHAPE_MAX_DIM / s->d[i])
            return CTR_E_OVERFLOW;
        size *= s->d[i];
    }
    return CTR_OK;
}

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

void ctr__fill_rows(float *y, const float *b, int64_t rows, int64_t cols)
{
    int64_t i;
    CTR__PARALLEL_FOR(rows * cols)
    for (i = 0; i < rows; i++)
        memcpy(y + i * cols, b, (size_t)cols * sizeof(float));
}

#define ADD_ROWS_COLUMNS 64 /* columns per block: one thread's share */

static void add_rows_block(float *restrict acc, const float *restrict d, int64_t rows,
                           int64_t cols, int64_t width)
{
    int64_t i, j;
    for (i = 0; i < rows; i++)
        CTR__VEC_FOR(j, width, acc[j] += d[i * cols + j]);
}

void ctr__add_rows(float *acc, const float *d, int64_t rows, int64_t cols)
{
    int64_t b, blocks = (cols + ADD_ROWS_COLUMNS - 1) / ADD_ROWS_COLUMNS;
    CTR__PARALLEL_FOR(rows * cols)
    for (b = 0; b < blocks; b++) {
        int64_t j0 = b * ADD_ROWS_COLUMNS;
        add_rows_block(acc + j0, d + j0, rows, cols,
                       cols - j0 < ADD_ROWS_COLUMNS ? cols - j0 : ADD_ROWS_COLUMNS);
    }
}
