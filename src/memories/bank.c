/*
 * bank.c - the memory bank: N x d rows, momentum updates, seeded noise
 * sampling (include/contrastive/bank.h documents the semantics).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "memories/alias.h"
#include "common/persist.h"
#include "memories/persisted.h"
#include "common/core.h"
#include "common/params.h"
#include "common/prng.h"
#include "memories/bank_shard.h"

#define BANK_HEADER CTR__FOURCC('B', 'H', 'D', 'R')
#define BANK_ROWS CTR__FOURCC('B', 'R', 'O', 'W')
#define BANK_ALIAS CTR__FOURCC('B', 'A', 'L', 'I')

/* Rows per checkpoint section: sections stay near 4 MiB, so a load from a
 * file buffers at most that much beyond the bank. */
#define SECTION_BYTES (4u << 20)

#define DEFAULT_MOMENTUM 0.5

/* Rows touched by a batch are scattered over the bank, so their loads miss
 * the cache; the loop asks for rows a few indices ahead. */
#define PREFETCH_AHEAD 4
#define PREFETCH_MAX_FLOATS 1024
#if defined(__GNUC__)
#  define PREFETCH(p) __builtin_prefetch(p)
#else
#  define PREFETCH(p) ((void)(p))
#endif

struct ctr_bank {
    ctr__alloc alloc;
    ctr__error err;
    ctr__prng gen;
    int64_t n;
    int64_t dim;
    double momentum;
    float *rows;
    size_t rows_bytes;
    uint32_t *alias;    /* NULL: uniform sampling */
    size_t alias_bytes;
    uint64_t *cum;      /* with alias: cumulative row masses (n) */
    size_t cum_bytes;
    int64_t support;    /* 1 or 2 (= at least 2) drawable indices */
    int64_t sole;       /* the drawable index when support == 1 */
};

static void bank_free(ctr_bank *b)
{
    ctr__alloc a = b->alloc;
    ctr__free(&a, b->rows, b->rows_bytes);
    ctr__free(&a, b->alias, b->alias_bytes);
    ctr__free(&a, b->cum, b->cum_bytes);
    ctr__free(&a, b, sizeof(*b));
}

static int bank_new(ctr_bank **out, int64_t n, int64_t dim,
                    const ctr__alloc *a)
{
    ctr_bank *b;
    size_t bytes;
    int rc = ctr__matrix_bytes(&bytes, n, dim, sizeof(float));
    if (rc != CTR_OK)
        return rc;
    b = (ctr_bank *)ctr__calloc(a, sizeof(*b));
    if (b == NULL)
        return CTR_E_NOMEM;
    b->alloc = *a;
    b->n = n;
    b->dim = dim;
    b->momentum = DEFAULT_MOMENTUM;
    b->support = n > 1 ? 2 : 1;
    b->rows = (float *)ctr__malloc(a, bytes);
    if (b->rows == NULL) {
        bank_free(b);
        return CTR_E_NOMEM;
    }
    b->rows_bytes = bytes;
    *out = b;
    return CTR_OK;
}

/* One row of Wu et al.'s init from gen: uniform in [-s, s), then
 * L2-normalised. row NULL: the draws are made (the generator advances as
 * for a stored row) and nothing is written. */
static void init_row(ctr__prng *gen, float *row, int64_t dim, double s)
{
    double sq, inv;
    int64_t j;
    int round = 0;
    /* An all-zero row has chance far below 1/2; after CTR__MAX_REJECTS of
     * them the row is the first unit vector. */
    do {
        sq = 0.0;
        for (j = 0; j < dim; j++) {
            float v = round < CTR__MAX_REJECTS
                          ? (float)((2.0 * ctr__prng_uniform_f32(gen) - 1.0) * s)
                          : (float)(j == 0);
            if (row != NULL)
                row[j] = v;
            sq += (double)v * v;
        }
    } while (sq == 0.0 && round++ < CTR__MAX_REJECTS);
    inv = 1.0 / sqrt(sq);
    for (j = 0; row != NULL && j < dim; j++)
        row[j] = (float)(row[j] * inv);
}

/* The rows first .. first + b->n - 1 of the n_total-row bank seeded with
 * seed; the generator ends where that bank's would. */
static void init_rows_of(ctr_bank *b, uint64_t seed, int64_t n_total,
                         int64_t first)
{
    const double s = 1.0 / sqrt((double)b->dim / 3.0);
    int64_t i;
    ctr__prng_seed(&b->gen, seed);
    for (i = 0; i < n_total; i++)
        init_row(&b->gen, i >= first && i < first + b->n
                              ? b->rows + (i - first) * b->dim
                              : NULL,
                 b->dim, s);
}

static void init_rows(ctr_bank *b, uint64_t seed)
{
    init_rows_of(b, seed, b->n, 0);
}

void ctr__bank_init_shard(ctr_bank *b, uint64_t seed, int64_t n_total,
                          int64_t first)
{
    init_rows_of(b, seed, n_total, first);
}

int64_t ctr__bank_draw_uniform(ctr_bank *b, int64_t n, int64_t skip)
{
    int64_t x;
    if (skip < 0)
        return (int64_t)ctr__prng_below(&b->gen, (uint64_t)n);
    x = (int64_t)ctr__prng_below(&b->gen, (uint64_t)(n - 1));
    return x >= skip ? x + 1 : x;
}

int64_t ctr__bank_gen_fingerprint(const ctr_bank *b)
{
    uint64_t h = b->gen.s[0] ^ (b->gen.s[1] * 0x9e3779b97f4a7c15ull) ^
                 (b->gen.s[2] << 17 | b->gen.s[2] >> 47) ^ ~b->gen.s[3];
    return (int64_t)(h >> 1);
}

CTR_API int ctr_bank_create(ctr_bank **out, int64_t n, int64_t dim,
                            uint64_t seed, const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr__error err;
    ctr_bank *b = NULL;
    int rc = ctr__create_begin(&a, &err, alloc, out);
    if (rc == CTR_OK && (n < 1 || dim < 1))
        rc = ctr__fail(&err, CTR_E_INVALID_ARG, "%s must be >= 1 (got %lld)",
                       n < 1 ? "n" : "dim", (long long)(n < 1 ? n : dim));
    if (rc == CTR_OK)
        rc = bank_new(&b, n, dim, &a);
    if (rc == CTR_OK) {
        init_rows(b, seed);
        *out = b;
    }
    return ctr__create_report(alloc, rc, "ctr_bank_create", &err);
}

CTR_API void ctr_bank_destroy(ctr_bank *b)
{
    if (b != NULL)
        bank_free(b);
}

CTR_API int ctr_bank_rows(const ctr_bank *b, const float **rows, int64_t *n,
                          int64_t *ld)
{
    if (b == NULL)
        return CTR_E_INVALID_ARG;
    if (rows == NULL)
        return ctr__const_fail(&b->err, CTR_E_INVALID_ARG, "rows is NULL");
    *rows = b->rows;
    if (n != NULL)
        *n = b->n;
    if (ld != NULL)
        *ld = b->dim;
    return ctr__const_result(&b->err, CTR_OK, NULL);
}

static void prefetch_row(const float *row, int64_t d)
{
    int64_t j, n = d < PREFETCH_MAX_FLOATS ? d : PREFETCH_MAX_FLOATS;
    for (j = 0; j < n; j += 64 / (int64_t)sizeof(float))
        PREFETCH(row + j);
}

/* The checks gather, set_rows and update share: sizes, pointers, indices. */
static int check_batch(ctr_bank *b, const int64_t *idx, int64_t count,
                       const float *data, int64_t ld, const char *what)
{
    int64_t i;
    if (count < 0)
        return ctr__fail(&b->err, CTR_E_INVALID_ARG,
                         "count must be >= 0 (got %lld)", (long long)count);
    if (count == 0)
        return CTR_OK;
    if (idx == NULL)
        return ctr__fail(&b->err, CTR_E_INVALID_ARG, "idx is NULL");
    if (data == NULL)
        return ctr__fail(&b->err, CTR_E_INVALID_ARG, "%s is NULL", what);
    if (ld < b->dim)
        return ctr__fail(&b->err, CTR_E_INVALID_ARG,
                         "ld must be >= dim %lld (got %lld)",
                         (long long)b->dim, (long long)ld);
    if (ctr__check_view(&b->err, count, ld, what) != CTR_OK)
        return CTR_E_OVERFLOW;
    for (i = 0; i < count; i++)
        if (idx[i] < 0 || idx[i] >= b->n)
            return ctr__fail(&b->err, CTR_E_INVALID_ARG,
                             "idx[%lld] = %lld is outside 0..%lld",
                             (long long)i, (long long)idx[i],
                             (long long)(b->n - 1));
    return CTR_OK;
}

CTR_API int ctr_bank_gather(ctr_bank *b, const int64_t *idx, int64_t count,
                            float *out, int64_t ld)
{
    int64_t i;
    int rc;
    if (b == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&b->err);
    rc = check_batch(b, idx, count, out, ld, "out");
    if (rc != CTR_OK)
        return rc;
    for (i = 0; i < count && i < PREFETCH_AHEAD; i++)
        prefetch_row(b->rows + idx[i] * b->dim, b->dim);
    for (i = 0; i < count; i++) {
        if (i + PREFETCH_AHEAD < count)
            prefetch_row(b->rows + idx[i + PREFETCH_AHEAD] * b->dim, b->dim);
        memcpy(out + i * ld, b->rows + idx[i] * b->dim,
               (size_t)b->dim * sizeof(float));
    }
    return CTR_OK;
}

CTR_API int ctr_bank_set_rows(ctr_bank *b, const int64_t *idx, int64_t count,
                              const float *rows, int64_t ld)
{
    int64_t i;
    int rc;
    if (b == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&b->err);
    rc = check_batch(b, idx, count, rows, ld, "rows");
    if (rc == CTR_OK && count > 0)
        rc = ctr__check_finite_matrix(&b->err, rows, count, b->dim, ld, "rows");
    if (rc != CTR_OK)
        return rc;
    for (i = 0; i < count; i++)
        memcpy(b->rows + idx[i] * b->dim, rows + i * ld,
               (size_t)b->dim * sizeof(float));
    return CTR_OK;
}

/* Sum of squares of m v + c f in double, with eight independent partial
 * sums (a fixed order, so the result is reproducible, without the latency
 * chain of a single accumulator). */
static double mixture_sq(const float *v, const float *f, int64_t d, float m,
                         float c)
{
    double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    int p;
    for (; j + 8 <= d; j += 8) {
        for (p = 0; p < 8; p++) {
            double x = m * v[j + p] + c * f[j + p];
            part[p] += x * x;
        }
    }
    for (p = 0; j < d; j++, p++) {
        double x = m * v[j] + c * f[j];
        part[p] += x * x;
    }
    return ((part[0] + part[1]) + (part[2] + part[3])) +
           ((part[4] + part[5]) + (part[6] + part[7]));
}

/* v <- normalize(m v + (1 - m) f); a zero mixture leaves v as it was. */
static void update_row(float *v, const float *f, int64_t d, float m)
{
    const float c = 1.0f - m;
    double sq = mixture_sq(v, f, d, m, c), inv;
    int64_t j;
    if (sq == 0.0)
        return;
    inv = 1.0 / sqrt(sq);
    if (inv <= FLT_MAX) {
        const float inv_f = (float)inv;
        for (j = 0; j < d; j++)
            v[j] = (m * v[j] + c * f[j]) * inv_f;
    } else { /* a mixture of subnormals: 1 / norm passes FLT_MAX */
        for (j = 0; j < d; j++)
            v[j] = (float)((double)(m * v[j] + c * f[j]) * inv);
    }
}

CTR_API int ctr_bank_update(ctr_bank *b, const int64_t *idx, int64_t count,
                            const float *feat, int64_t ld)
{
    int64_t i;
    int rc;
    if (b == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&b->err);
    rc = check_batch(b, idx, count, feat, ld, "feat");
    if (rc == CTR_OK)
        rc = ctr__check_finite_matrix(&b->err, feat, count, b->dim, ld, "feat");
    if (rc != CTR_OK)
        return rc;
    for (i = 0; i < count && i < PREFETCH_AHEAD; i++)
        prefetch_row(b->rows + idx[i] * b->dim, b->dim);
    for (i = 0; i < count; i++) {
        if (i + PREFETCH_AHEAD < count)
            prefetch_row(b->rows + idx[i + PREFETCH_AHEAD] * b->dim, b->dim);
        update_row(b->rows + idx[i] * b->dim, feat + i * ld, b->dim,
                   (float)b->momentum);
    }
    return CTR_OK;
}

/* ---- sampling -------------------------------------------------------------- */

/* Bytes of the weighted-sampling blocks of n rows: the table (2n uint32),
 * the cumulative masses (n uint64) and the scratch of building or
 * verifying a table (n uint64, n uint32, 2n uint32). */
typedef struct alias_sizes {
    size_t table, cum, u, idx, total;
} alias_sizes;

static int alias_sizes_for(alias_sizes *z, int64_t n)
{
    if (ctr__matrix_bytes(&z->table, n, 2, sizeof(uint32_t)) != CTR_OK ||
        ctr__matrix_bytes(&z->cum, n, 1, sizeof(uint64_t)) != CTR_OK ||
        ctr__matrix_bytes(&z->u, n, 1, sizeof(uint64_t)) != CTR_OK ||
        ctr__matrix_bytes(&z->idx, n, 1, sizeof(uint32_t)) != CTR_OK ||
        ctr__add_size(&z->total, z->table, z->cum) != CTR_OK ||
        ctr__add_size(&z->total, z->total, z->u) != CTR_OK ||
        ctr__add_size(&z->total, z->total, z->idx) != CTR_OK ||
        ctr__add_size(&z->total, z->total, z->table) != CTR_OK)
        return CTR_E_OVERFLOW;
    return CTR_OK;
}

/* Makes `table` (z->table bytes, owned from here) the bank's alias table,
 * with its cumulative masses; CTR_E_NOMEM leaves the bank as it was and
 * frees table. */
static int install_table(ctr_bank *b, uint32_t *table, const alias_sizes *z)
{
    uint64_t *cum = (uint64_t *)ctr__malloc(&b->alloc, z->cum);
    if (cum == NULL) {
        ctr__free(&b->alloc, table, z->table);
        return ctr__fail(&b->err, CTR_E_NOMEM,
                         "cannot allocate the alias table for %lld rows",
                         (long long)b->n);
    }
    ctr__alias_cumulative(table, b->n, cum);
    ctr__free(&b->alloc, b->alias, b->alias_bytes);
    ctr__free(&b->alloc, b->cum, b->cum_bytes);
    b->alias = table;
    b->alias_bytes = z->table;
    b->cum = cum;
    b->cum_bytes = z->cum;
    b->support = ctr__alias_support(table, b->n, &b->sole);
    return CTR_OK;
}

CTR_API int ctr_bank_set_weights(ctr_bank *b, const double *weights,
                                 int64_t n)
{
    alias_sizes z;
    uint32_t *table, *work_idx;
    uint64_t *work_u;
    int rc;
    if (b == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&b->err);
    if (weights == NULL && n == 0) {
        ctr__free(&b->alloc, b->alias, b->alias_bytes);
        ctr__free(&b->alloc, b->cum, b->cum_bytes);
        b->alias = NULL;
        b->alias_bytes = 0;
        b->cum = NULL;
        b->cum_bytes = 0;
        b->support = b->n > 1 ? 2 : 1;
        return CTR_OK;
    }
    if (weights == NULL)
        return ctr__fail(&b->err, CTR_E_INVALID_ARG, "weights is NULL");
    if (n != b->n)
        return ctr__fail(&b->err, CTR_E_INVALID_ARG,
                         "%lld weights for a bank of %lld rows",
                         (long long)n, (long long)b->n);
    if (n > CTR_BANK_MAX_WEIGHTED_ROWS)
        return ctr__fail(&b->err, CTR_E_INVALID_ARG,
                         "weighted sampling needs N <= 2^31 - 1");
    if (alias_sizes_for(&z, n) != CTR_OK)
        return ctr__fail(&b->err, CTR_E_OVERFLOW,
                         "the alias table for %lld rows overflows",
                         (long long)n);
    table = (uint32_t *)ctr__malloc(&b->alloc, z.table);
    work_u = (uint64_t *)ctr__malloc(&b->alloc, z.u);
    work_idx = (uint32_t *)ctr__malloc(&b->alloc, z.idx);
    if (table == NULL || work_u == NULL || work_idx == NULL)
        rc = ctr__fail(&b->err, CTR_E_NOMEM,
                       "cannot allocate the alias table for %lld rows",
                       (long long)n);
    else
        rc = ctr__alias_build(table, weights, n, work_u, work_idx, &b->err);
    ctr__free(&b->alloc, work_u, z.u);
    ctr__free(&b->alloc, work_idx, z.idx);
    if (rc != CTR_OK) {
        ctr__free(&b->alloc, table, z.table);
        return rc;
    }
    return install_table(b, table, &z);
}

static int check_sample(ctr_bank *b, const int64_t *out, int64_t n_anchors,
                        int64_t k, const int64_t *exclude)
{
    size_t total;
    int64_t a;
    if (n_anchors < 0 || k < 0)
        return ctr__fail(&b->err, CTR_E_INVALID_ARG,
                         "n_anchors and k must be >= 0 (got %lld, %lld)",
                         (long long)n_anchors, (long long)k);
    if (ctr__matrix_bytes(&total, n_anchors, k, sizeof(int64_t)) != CTR_OK)
        return ctr__fail(&b->err, CTR_E_OVERFLOW,
                         "n_anchors x k overflows");
    if (total == 0)
        return CTR_OK;
    if (out == NULL)
        return ctr__fail(&b->err, CTR_E_INVALID_ARG, "out is NULL");
    if (exclude == NULL)
        return CTR_OK;
    for (a = 0; a < n_anchors; a++) {
        if (exclude[a] < 0 || exclude[a] >= b->n)
            return ctr__fail(&b->err, CTR_E_INVALID_ARG,
                             "exclude[%lld] = %lld is outside 0..%lld",
                             (long long)a, (long long)exclude[a],
                             (long long)(b->n - 1));
        if (b->support < 2 && (b->alias == NULL || exclude[a] == b->sole))
            return ctr__fail(&b->err, CTR_E_INVALID_ARG,
                             "excluding index %lld leaves nothing to draw",
                             (long long)exclude[a]);
    }
    return CTR_OK;
}

/* One draw that is not `skip` (skip < 0: any index). */
static int64_t draw_one(ctr_bank *b, int64_t skip)
{
    if (b->alias == NULL)
        return ctr__bank_draw_uniform(b, b->n, skip);
    if (skip < 0)
        return ctr__alias_draw(b->alias, b->n, &b->gen);
    return ctr__alias_draw_except(b->alias, b->cum, b->n, skip, &b->gen);
}

CTR_API int ctr_bank_sample(ctr_bank *b, int64_t *out, int64_t n_anchors,
                            int64_t k, const int64_t *exclude)
{
    int64_t a, j;
    int rc;
    if (b == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&b->err);
    rc = check_sample(b, out, n_anchors, k, exclude);
    if (rc != CTR_OK || n_anchors == 0 || k == 0)
        return rc;
    for (a = 0; a < n_anchors; a++) {
        int64_t skip = exclude != NULL ? exclude[a] : -1;
        for (j = 0; j < k; j++)
            out[a * k + j] = draw_one(b, skip);
    }
    return CTR_OK;
}

/* ---- parameters ------------------------------------------------------------ */

CTR_API int ctr_bank_param_bounds(int32_t param, double *lo, double *hi)
{
    if (param != CTR_BANK_P_MOMENTUM || lo == NULL || hi == NULL)
        return CTR_E_INVALID_ARG;
    *lo = 0.0;
    *hi = 1.0;
    return CTR_OK;
}

#define GROUP "CTR_BANK_P_"

/* The parameter as common/params.h describes it (*out), or NULL: the
 * momentum, and four read-only integer properties. */
static const ctr__param *describe(int32_t param, ctr__param *out)
{
    out->id = param;
    out->is_int = param != CTR_BANK_P_MOMENTUM;
    out->read_only = out->is_int;
    out->lo = 0.0;
    out->hi = out->is_int ? 9.2e18 : 1.0;
    return param == CTR_BANK_P_MOMENTUM || param == CTR_BANK_P_ROWS ||
                   param == CTR_BANK_P_DIM || param == CTR_BANK_P_WEIGHTED ||
                   param == CTR_BANK_P_MEMORY_BYTES
               ? out
               : NULL;
}

CTR_API int ctr_bank_set_f64(ctr_bank *b, int32_t param, double value)
{
    ctr__param d;
    int rc;
    if (b == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&b->err);
    rc = ctr__param_set_f64(&b->err, GROUP, param, describe(param, &d), value);
    if (rc == CTR_OK)
        b->momentum = value;
    return rc;
}

static int64_t read_int(const ctr_bank *b, int32_t param)
{
    switch (param) {
    case CTR_BANK_P_ROWS: return b->n;
    case CTR_BANK_P_DIM: return b->dim;
    case CTR_BANK_P_WEIGHTED: return b->alias != NULL;
    default:
        return (int64_t)(sizeof(*b) + b->rows_bytes + b->alias_bytes +
                         b->cum_bytes);
    }
}

CTR_API int ctr_bank_get_f64(const ctr_bank *b, int32_t param, double *value)
{
    ctr__param d;
    const ctr__param *dp = describe(param, &d);
    int rc;
    if (b == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__param_get(&b->err, GROUP, param, dp, value, 0);
    if (rc == CTR_OK)
        *value = dp->is_int ? (double)read_int(b, param) : b->momentum;
    return rc;
}

CTR_API int ctr_bank_get_i64(const ctr_bank *b, int32_t param,
                             int64_t *value)
{
    ctr__param d;
    int rc;
    if (b == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__param_get(&b->err, GROUP, param, describe(param, &d),
                        value, 1);
    if (rc == CTR_OK)
        *value = read_int(b, param);
    return rc;
}

/* ---- checkpoints ------------------------------------------------------------ */

static int64_t rows_per_section(int64_t dim)
{
    int64_t r = (int64_t)(SECTION_BYTES / sizeof(float)) / dim;
    return r > 0 ? r : 1;
}

static void write_bank(ctr__ckw *w, const void *obj)
{
    const ctr_bank *b = (const ctr_bank *)obj;
    const int64_t step = rows_per_section(b->dim);
    int64_t i;
    ctr__ckw_begin_section(w, BANK_HEADER);
    ctr__ckw_put_i64(w, b->n);
    ctr__ckw_put_i64(w, b->dim);
    ctr__ckw_put_f64(w, b->momentum);
    ctr__ckw_put_u32(w, b->alias != NULL);
    for (i = 0; i < 4; i++)
        ctr__ckw_put_u64(w, b->gen.s[i]);
    ctr__ckw_end_section(w);
    for (i = 0; i < b->n; i += step) {
        int64_t rows = b->n - i < step ? b->n - i : step;
        ctr__ckw_begin_section(w, BANK_ROWS);
        ctr__ckw_put_f32_array(w, b->rows + i * b->dim, (size_t)(rows * b->dim));
        ctr__ckw_end_section(w);
    }
    if (b->alias != NULL) {
        ctr__ckw_begin_section(w, BANK_ALIAS);
        for (i = 0; i < 2 * b->n; i++)
            ctr__ckw_put_u32(w, b->alias[i]);
        ctr__ckw_end_section(w);
    }
}

CTR_API int ctr_bank_save(const ctr_bank *b, const char *path)
{
    if (b == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__persist_save_const(b, write_bank, CTR__CKPT_KIND_BANK, path, &b->alloc,
                                   &b->err);
}

CTR_API int ctr_bank_save_buffer(const ctr_bank *b, void *buf, size_t cap,
                                 size_t *size_out)
{
    if (b == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__persist_save_buffer_const(b, write_bank, CTR__CKPT_KIND_BANK, buf, cap,
                                          size_out, &b->err);
}

typedef struct bank_header {
    int64_t n, dim;
    double momentum;
    uint32_t weighted;
    ctr__prng gen;
} bank_header;

static int read_header(ctr__ckr *r, bank_header *h)
{
    int i, rc = ctr__ckr_begin_section(r, BANK_HEADER, NULL);
    size_t bytes;
    if (rc != CTR_OK)
        return rc;
    h->n = ctr__ckr_get_i64(r);
    h->dim = ctr__ckr_get_i64(r);
    h->momentum = ctr__ckr_get_f64(r);
    h->weighted = ctr__ckr_get_u32(r);
    for (i = 0; i < 4; i++)
        h->gen.s[i] = ctr__ckr_get_u64(r);
    rc = ctr__ckr_end_section(r);
    if (rc != CTR_OK)
        return rc;
    if (h->n < 1 || h->dim < 1 || h->weighted > 1 ||
        (h->weighted && h->n > CTR_BANK_MAX_WEIGHTED_ROWS))
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                             "bank: %lld rows, dim %lld or weighted flag %lu "
                             "out of range", (long long)h->n, (long long)h->dim,
                             (unsigned long)h->weighted);
    if (!(h->momentum >= 0.0 && h->momentum <= 1.0))
        return ctr__ckr_fail(r, CTR_E_CORRUPT, "bank: momentum %g outside [0, 1]",
                             h->momentum);
    if ((h->gen.s[0] | h->gen.s[1] | h->gen.s[2] | h->gen.s[3]) == 0)
        return ctr__ckr_fail(r, CTR_E_CORRUPT, "bank: generator state is zero");
    /* The rows must really be there before they are allocated. */
    if (ctr__matrix_bytes(&bytes, h->n, h->dim, sizeof(float)) != CTR_OK ||
        (uint64_t)bytes > r->src_len - r->src_pos)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                             "bank: %lld rows x dim %lld are more than the "
                             "%llu bytes left", (long long)h->n,
                             (long long)h->dim,
                             (unsigned long long)(r->src_len - r->src_pos));
    return CTR_OK;
}

static int read_rows(ctr__ckr *r, ctr_bank *b)
{
    const int64_t step = rows_per_section(b->dim);
    int64_t i;
    for (i = 0; i < b->n; i += step) {
        int64_t rows = b->n - i < step ? b->n - i : step;
        uint64_t len;
        int rc = ctr__ckr_begin_section(r, BANK_ROWS, &len);
        if (rc != CTR_OK)
            return rc;
        if (len != (uint64_t)(rows * b->dim) * sizeof(float))
            return CTR_E_CORRUPT;
        ctr__ckr_get_f32_array(r, b->rows + i * b->dim, (size_t)(rows * b->dim));
        rc = ctr__ckr_end_section(r);
        if (rc != CTR_OK)
            return rc;
        if (ctr__check_finite(NULL, b->rows + i * b->dim,
                              (size_t)(rows * b->dim), "rows") != CTR_OK)
            return CTR_E_CORRUPT;
    }
    return CTR_OK;
}

/* The stored table is used only if it is exactly what set_weights builds
 * from the row masses it implies: a table is derived data, never trusted
 * because it came from a file. */
static int read_alias(ctr__ckr *r, ctr_bank *b, const alias_sizes *z)
{
    uint64_t len, *u;
    uint32_t *work, *table, *rebuilt;
    int64_t i;
    int rc = ctr__ckr_begin_section(r, BANK_ALIAS, &len);
    if (rc != CTR_OK)
        return rc;
    if (len != z->table)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                             "bank: section 'BALI' holds %llu bytes, the "
                             "alias table of %lld rows takes %zu",
                             (unsigned long long)len, (long long)b->n, z->table);
    table = (uint32_t *)ctr__malloc(&b->alloc, z->table);
    rebuilt = (uint32_t *)ctr__malloc(&b->alloc, z->table);
    u = (uint64_t *)ctr__malloc(&b->alloc, z->u);
    work = (uint32_t *)ctr__malloc(&b->alloc, z->idx);
    if (table == NULL || rebuilt == NULL || u == NULL || work == NULL) {
        rc = CTR_E_NOMEM;
    } else {
        for (i = 0; i < 2 * b->n; i++)
            table[i] = ctr__ckr_get_u32(r);
        rc = ctr__ckr_end_section(r);
    }
    if (rc == CTR_OK)
        rc = ctr__alias_verify(table, b->n, u, work, rebuilt, r->err);
    ctr__free(&b->alloc, rebuilt, z->table);
    ctr__free(&b->alloc, u, z->u);
    ctr__free(&b->alloc, work, z->idx);
    if (rc != CTR_OK) {
        ctr__free(&b->alloc, table, z->table);
        return rc;
    }
    return install_table(b, table, z);
}

/* What the bank the header declares allocates while it loads: the rows
 * (whose bytes the file must hold too), and for a weighted bank the table,
 * its cumulative masses and the scratch of verifying it. */
static int reserve_bank(ctr__ckr *r, const bank_header *h, alias_sizes *z)
{
    size_t rows;
    if (ctr__matrix_bytes(&rows, h->n, h->dim, sizeof(float)) != CTR_OK ||
        ctr__add_size(&rows, rows, sizeof(ctr_bank)) != CTR_OK ||
        (h->weighted && alias_sizes_for(z, h->n) != CTR_OK))
        return ctr__ckr_fail(r, CTR_E_CORRUPT, "bank: %lld rows x dim %lld overflows",
                             (long long)h->n, (long long)h->dim);
    if (ctr__ckr_reserve(r, rows, "bank: %lld rows x dim %lld", (long long)h->n,
                         (long long)h->dim) != CTR_OK)
        return r->status;
    if (h->weighted)
        return ctr__ckr_reserve(r, z->total,
                                "bank: the alias table of %lld rows", (long long)h->n);
    return CTR_OK;
}

static int read_bank(ctr__ckr *r, void *out_ptr, const ctr__alloc *a, void *ctx)
{
    ctr_bank **out = (ctr_bank **)out_ptr;
    bank_header h;
    alias_sizes z;
    ctr_bank *b = NULL;
    int rc;
    (void)ctx;
    memset(&h, 0, sizeof(h));
    rc = read_header(r, &h);
    if (rc == CTR_OK)
        rc = reserve_bank(r, &h, &z);
    if (rc == CTR_OK)
        rc = bank_new(&b, h.n, h.dim, a);
    if (rc != CTR_OK)
        return rc;
    b->momentum = h.momentum;
    b->gen = h.gen;
    rc = read_rows(r, b);
    if (rc == CTR_OK && h.weighted)
        rc = read_alias(r, b, &z);
    if (rc == CTR_OK)
        rc = ctr__ckr_finish(r);
    if (rc != CTR_OK) {
        bank_free(b);
        return rc;
    }
    *out = b;
    return CTR_OK;
}

CTR_API int ctr_bank_load(ctr_bank **out, const char *path,
                          const ctr_allocator *alloc)
{
    return ctr__persist_load(out, read_bank, NULL, CTR__CKPT_KIND_BANK, path,
                             alloc);
}

CTR_API int ctr_bank_load_buffer(ctr_bank **out, const void *buf, size_t len,
                                 const ctr_allocator *alloc)
{
    return ctr__persist_load_buffer(out, read_bank, NULL, CTR__CKPT_KIND_BANK,
                                    buf, len, alloc);
}

CTR_API const char *ctr_bank_last_error(const ctr_bank *b)
{
    return ctr__error_message(b == NULL ? NULL : &b->err);
}

/* ---- in a training-state file (state/state.c) ----------------------------- */

static const ctr__alloc *bank_alloc_of(const void *h)
{
    return &((const ctr_bank *)h)->alloc;
}

static int bank_fits(const void *h, const void *loaded, ctr__error *err)
{
    const ctr_bank *a = (const ctr_bank *)h, *b = (const ctr_bank *)loaded;
    if (a->n == b->n && a->dim == b->dim)
        return CTR_OK;
    return ctr__fail(err, CTR_E_SHAPE, "it is a bank of %lld rows of dim "
                     "%lld, the handle's has %lld of dim %lld",
                     (long long)b->n, (long long)b->dim, (long long)a->n,
                     (long long)a->dim);
}

static void bank_exchange(void *a, void *b)
{
    ctr_bank t = *(ctr_bank *)a;
    *(ctr_bank *)a = *(ctr_bank *)b;
    *(ctr_bank *)b = t;
}

static void bank_destroy(void *h)
{
    ctr_bank_destroy((ctr_bank *)h);
}

const ctr__persist_ops ctr__bank_persist = {
    CTR__CKPT_KIND_BANK, "bank", write_bank, read_bank, bank_alloc_of, NULL,
    bank_fits, bank_exchange, bank_destroy};
