/*
 * dist_bank.c - a memory bank sharded over the ranks (Instance
 * Discrimination, CMC, CRD at a size one process cannot hold): the row
 * ranges, the shards' creation (each equal to its slice of the one bank
 * ctr_bank_create would make), noise draws over the whole bank agreed by
 * every rank, and momentum updates applied by the rows' owners.
 */
#include <string.h>

#include "common/kernels.h"
#include "dist/dist_bank.h"
#include "memories/bank_shard.h"

void ctr__shard_range(const ctr_comm *c, int64_t n, int64_t r, int64_t *first,
                      int64_t *count)
{
    const int64_t q = n / c->size, rem = n % c->size;
    *first = r * q + (r < rem ? r : rem);
    *count = q + (r < rem);
}

int ctr__shard_check(ctr_comm *c, const ctr_bank *shard, int64_t n, int64_t d)
{
    int64_t first, count, rows = 0, dim = 0;
    if (shard == NULL)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG, "the bank is NULL");
    if (n < c->size)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "n = %lld rows cannot be sharded over %lld ranks",
                         (long long)n, (long long)c->size);
    ctr__shard_range(c, n, c->rank, &first, &count);
    ctr_bank_get_i64(shard, CTR_BANK_P_ROWS, &rows);
    ctr_bank_get_i64(shard, CTR_BANK_P_DIM, &dim);
    if (rows != count)
        return ctr__fail(&c->err, CTR_E_SHAPE,
                         "rank %lld's bank has %lld rows, but its shard of "
                         "n = %lld is %lld rows",
                         (long long)c->rank, (long long)rows, (long long)n,
                         (long long)count);
    if (d >= 0 && dim != d)
        return ctr__fail(&c->err, CTR_E_SHAPE,
                         "d is %lld but the bank's dim is %lld", (long long)d,
                         (long long)dim);
    return CTR_OK;
}

int ctr__shard_check_indices(ctr_comm *c, const int64_t *idx, int64_t count,
                             int64_t n, const char *what)
{
    int64_t i;
    if (count > 0 && idx == NULL)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG, "%s is NULL", what);
    for (i = 0; i < count; i++)
        if (idx[i] < 0 || idx[i] >= n)
            return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                             "%s[%lld] = %lld is outside 0..%lld", what,
                             (long long)i, (long long)idx[i],
                             (long long)(n - 1));
    return CTR_OK;
}

int ctr__shard_gather_i64(ctr_comm *c, const int64_t *send, int64_t *work,
                          int64_t *recv, int64_t count, const char *what)
{
    memcpy(work, send, (size_t)count * sizeof(int64_t));
    return ctr__comm_status(
        c, c->ops.allgather_i64(c->ops.user, work, recv, count), what);
}

CTR_API int ctr_comm_bank_range(const ctr_comm *comm, int64_t n, int64_t rank,
                                int64_t *first, int64_t *count)
{
    if (comm == NULL)
        return CTR_E_INVALID_ARG;
    if (first == NULL || count == NULL)
        return ctr__const_fail(&comm->err, CTR_E_INVALID_ARG, "%s is NULL",
                               first == NULL ? "first" : "count");
    if (n < comm->size || rank < 0 || rank >= comm->size)
        return ctr__const_fail(&comm->err, CTR_E_INVALID_ARG,
                               "n must be >= the number of ranks %lld and rank in "
                               "[0, %lld) (got n %lld, rank %lld)",
                               (long long)comm->size, (long long)comm->size,
                               (long long)n, (long long)rank);
    ctr__shard_range(comm, n, rank, first, count);
    return ctr__const_result(&comm->err, CTR_OK, NULL);
}

/* ---- creation ----------------------------------------------------------------- */

static int create_shard(ctr_comm *c, ctr_bank **b, int64_t n, int64_t dim,
                        uint64_t seed, const ctr_allocator *alloc)
{
    int64_t first, count;
    int rc;
    if (n < c->size || dim < 1)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "n must be >= the number of ranks (%lld) and dim >= "
                         "1 (got %lld, %lld)",
                         (long long)c->size, (long long)n, (long long)dim);
    ctr__shard_range(c, n, c->rank, &first, &count);
    rc = ctr_bank_create(b, count, dim, seed, alloc);
    if (rc != CTR_OK)
        return ctr__fail(&c->err, rc, "rank %lld's shard of %lld rows: %s",
                         (long long)c->rank, (long long)count,
                         ctr_strerror(rc));
    ctr__bank_init_shard(*b, seed, n, first);
    return CTR_OK;
}

CTR_API int ctr_comm_bank_create(ctr_comm *comm, ctr_bank **out, int64_t n,
                                 int64_t dim, uint64_t seed,
                                 const ctr_allocator *alloc)
{
    static const char *const names[] = {"n", "dim", "seed"};
    ctr_bank *b = NULL;
    int64_t vals[3];
    int rc;
    if (comm == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&comm->err);
    rc = out == NULL ? ctr__fail(&comm->err, CTR_E_INVALID_ARG, "out is NULL")
                     : create_shard(comm, &b, n, dim, seed, alloc);
    vals[0] = n, vals[1] = dim;
    memcpy(&vals[2], &seed, sizeof(seed));
    rc = ctr__comm_agree(comm, rc, vals, 3, 3, names);
    if (rc != CTR_OK) {
        ctr_bank_destroy(b);
        return rc;
    }
    *out = b;
    return CTR_OK;
}

/* ---- noise draws ----------------------------------------------------------------- */

enum { S_N, S_B, S_K, S_EXCL, S_GEN, S_VALS };

static int sample_status(ctr_comm *c, const ctr_bank *shard, int64_t n,
                         const int64_t *out, int64_t b, int64_t k,
                         const int64_t *exclude)
{
    int64_t weighted = 0;
    size_t bytes;
    int rc = ctr__shard_check(c, shard, n, -1);
    if (rc == CTR_OK && ctr_bank_get_i64(shard, CTR_BANK_P_WEIGHTED,
                                         &weighted) == CTR_OK && weighted)
        rc = ctr__fail(&c->err, CTR_E_INVALID_ARG,
                       "a sharded bank draws uniformly (sampling weights set)");
    if (rc == CTR_OK && (b < 1 || k < 1 || out == NULL))
        rc = ctr__fail(&c->err, CTR_E_INVALID_ARG,
                       "b and k must be >= 1 and out set");
    if (rc == CTR_OK && exclude != NULL && n < 2)
        rc = ctr__fail(&c->err, CTR_E_INVALID_ARG,
                       "excluding an index of a 1-row bank leaves nothing");
    if (rc == CTR_OK)
        rc = ctr__shard_check_indices(c, exclude, exclude ? b : 0, n,
                                      "exclude");
    if (rc == CTR_OK && (b > INT64_MAX / c->size / 2 ||
                         ctr__matrix_bytes(&bytes, b * c->size, k,
                                           sizeof(int64_t)) != CTR_OK))
        rc = ctr__fail(&c->err, CTR_E_OVERFLOW, "size x b x k overflows");
    if (rc == CTR_OK && exclude != NULL)
        rc = ctr__comm_reserve(c, (size_t)(b * (c->size + 1)) * sizeof(int64_t));
    return rc;
}

/* Every rank draws the global B x k block; this rank keeps its b rows. */
static void draw_all(ctr_comm *c, ctr_bank *shard, int64_t n, int64_t *out,
                     int64_t b, int64_t k, const int64_t *skips)
{
    const int64_t mine = c->rank * b;
    int64_t a, j;
    for (a = 0; a < b * c->size; a++)
        for (j = 0; j < k; j++) {
            int64_t x = ctr__bank_draw_uniform(shard, n, skips ? skips[a] : -1);
            if (a >= mine && a < mine + b)
                out[(a - mine) * k + j] = x;
        }
}

CTR_API int ctr_comm_bank_sample(ctr_comm *comm, ctr_bank *shard, int64_t n,
                                 int64_t *out, int64_t b, int64_t k,
                                 const int64_t *exclude)
{
    static const char *const names[S_VALS] = {
        "n", "b", "k", "the use of exclude", "the bank's generator state"};
    const char *what = "ctr_comm_bank_sample";
    int64_t vals[S_VALS], *skips = NULL;
    int rc;
    if (comm == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&comm->err);
    rc = sample_status(comm, shard, n, out, b, k, exclude);
    vals[S_N] = n, vals[S_B] = b, vals[S_K] = k;
    vals[S_EXCL] = exclude != NULL;
    vals[S_GEN] = rc == CTR_OK ? ctr__bank_gen_fingerprint(shard) : 0;
    rc = ctr__comm_agree(comm, rc, vals, S_VALS, S_VALS, names);
    if (rc == CTR_OK && exclude != NULL) {
        skips = (int64_t *)comm->ws + b;
        rc = ctr__shard_gather_i64(comm, exclude, (int64_t *)comm->ws, skips,
                                   b, what);
    }
    if (rc == CTR_OK)
        draw_all(comm, shard, n, out, b, k, skips);
    return rc;
}

/* ---- momentum updates --------------------------------------------------------------- */

enum { U_N, U_B, U_D, U_M, U_VALS };

static int update_status(ctr_comm *c, const ctr_bank *shard, int64_t n,
                         const int64_t *idx, int64_t b, const float *feat,
                         int64_t ld, int64_t *d)
{
    size_t bytes, ibytes;
    int rc = ctr__shard_check(c, shard, n, -1);
    if (rc == CTR_OK)
        ctr_bank_get_i64(shard, CTR_BANK_P_DIM, d);
    if (rc == CTR_OK && (b < 1 || feat == NULL || ld < *d))
        rc = ctr__fail(&c->err, CTR_E_INVALID_ARG,
                       "b must be >= 1, feat set and ld >= dim");
    if (rc == CTR_OK)
        rc = ctr__shard_check_indices(c, idx, b, n, "idx");
    if (rc == CTR_OK)
        rc = ctr__check_finite_matrix(&c->err, feat, b, *d, ld, "feat");
    if (rc == CTR_OK &&
        (b > INT64_MAX / (c->size + 2) ||
         ctr__matrix_bytes(&bytes, b * (c->size * 2 + 1), *d, sizeof(float)) !=
             CTR_OK ||
         ctr__matrix_bytes(&ibytes, b, c->size * 2 + 1, sizeof(int64_t)) !=
             CTR_OK ||
         ctr__add_size(&bytes, bytes, ibytes) != CTR_OK))
        rc = ctr__fail(&c->err, CTR_E_OVERFLOW, "size x b x dim overflows");
    if (rc == CTR_OK)
        rc = ctr__comm_reserve(c, bytes);
    return rc;
}

/* The workspace of an update: B ids, b + B + B rows, b ids, B local ids. */
typedef struct update_ws {
    int64_t *all_idx, *send_idx, *local_idx;
    float *send, *all, *mine;
} update_ws;

static void update_carve(ctr_comm *c, update_ws *w, int64_t b, int64_t d)
{
    const int64_t big = b * c->size;
    w->all_idx = (int64_t *)c->ws;
    w->send_idx = w->all_idx + big;
    w->local_idx = w->send_idx + b;
    w->send = (float *)(void *)(w->local_idx + big);
    w->all = w->send + b * d;
    w->mine = w->all + big * d;
}

/* Gathers every rank's ids and rows, then applies the owned ones in the
 * global order (so each row sees the sequence one process would). */
static int update_owned(ctr_comm *c, ctr_bank *shard, int64_t n,
                        const int64_t *idx, int64_t b, const float *feat,
                        int64_t ld, int64_t d)
{
    const char *what = "ctr_comm_bank_update";
    int64_t first, count, g, cnt = 0;
    update_ws w;
    int rc;
    update_carve(c, &w, b, d);
    ctr__copy_scaled(w.send, feat, b, d, ld, 1.0f);
    rc = ctr__comm_allgather_f32(c, w.send, w.all, b * d, what);
    if (rc == CTR_OK)
        rc = ctr__shard_gather_i64(c, idx, w.send_idx, w.all_idx, b, what);
    if (rc != CTR_OK)
        return rc;
    ctr__shard_range(c, n, c->rank, &first, &count);
    for (g = 0; g < b * c->size; g++)
        if (w.all_idx[g] >= first && w.all_idx[g] < first + count) {
            w.local_idx[cnt] = w.all_idx[g] - first;
            memcpy(w.mine + cnt * d, w.all + g * d, (size_t)d * sizeof(float));
            cnt++;
        }
    rc = ctr_bank_update(shard, w.local_idx, cnt, w.mine, d);
    if (rc != CTR_OK)
        return ctr__fail(&c->err, rc, "%s: %s", what, ctr_bank_last_error(shard));
    return CTR_OK;
}

CTR_API int ctr_comm_bank_update(ctr_comm *comm, ctr_bank *shard, int64_t n,
                                 const int64_t *idx, int64_t b,
                                 const float *feat, int64_t ld)
{
    static const char *const names[U_VALS] = {"n", "b", "the bank's dim",
                                              "the bank's momentum"};
    int64_t vals[U_VALS] = {n, b, 0, 0}, d = 0;
    double m = 0.0;
    int rc;
    if (comm == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&comm->err);
    rc = update_status(comm, shard, n, idx, b, feat, ld, &d);
    if (rc == CTR_OK)
        ctr_bank_get_f64(shard, CTR_BANK_P_MOMENTUM, &m);
    vals[U_D] = d;
    vals[U_M] = ctr__comm_f64_bits(m);
    rc = ctr__comm_agree(comm, rc, vals, U_VALS, U_VALS, names);
    if (rc != CTR_OK)
        return rc;
    return update_owned(comm, shard, n, idx, b, feat, ld, d);
}
