/*
 * dist_shuffle.c - MoCo's shuffle BN across ranks (batch_shuffle_ddp,
 * batch_unshuffle_ddp): the key inputs are gathered, permuted by one
 * permutation drawn on rank 0 and broadcast, each rank encodes its slice
 * of the permuted batch (its BN statistics then mix samples of every
 * rank), and the keys are gathered and put back in the original order.
 */
#include <string.h>

#include "common/comm.h"

/* Gathers the b x cols rows of every rank into the workspace (rank
 * order), after the agreement record; *all receives the B x cols block. */
static int gather_rows(ctr_comm *c, int status, const float *in, int64_t b,
                       int64_t cols, float **all, const char *what)
{
    static const char *const names[] = {"b", "cols"};
    int64_t vals[2] = {b, cols};
    size_t bytes = 0;
    if (status == CTR_OK &&
        (b > INT64_MAX / c->size ||
         ctr__matrix_bytes(&bytes, b * c->size, cols + 1, sizeof(float)) !=
             CTR_OK))
        status = ctr__fail(&c->err, CTR_E_OVERFLOW, "%s: sizes overflow", what);
    if (status == CTR_OK)
        status = ctr__comm_reserve(c, bytes);
    status = ctr__comm_agree(c, status, vals, 2, 2, names);
    if (status != CTR_OK)
        return status;
    *all = (float *)c->ws;
    return ctr__comm_allgather_f32(c, in, *all, b * cols, what);
}

static int check_rows(ctr_comm *c, const float *out, const float *in,
                      const int64_t *perm, int64_t b, int64_t cols)
{
    if (out == NULL || in == NULL || perm == NULL)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG, "out, in or perm is NULL");
    if (b < 1 || cols < 1)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "b and cols must be >= 1");
    return ctr__check_finite(&c->err, in, (size_t)(b * cols), "in");
}

CTR_API int ctr_comm_shuffle_rows(ctr_comm *comm, ctr_rng *rng, int64_t *perm,
                                  float *out, const float *in, int64_t b,
                                  int64_t cols)
{
    const char *what = "ctr_comm_shuffle_rows";
    float *all = NULL;
    int64_t i, big;
    int rc;
    if (comm == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&comm->err);
    rc = check_rows(comm, out, in, perm, b, cols);
    if (rc == CTR_OK && comm->rank == 0 && rng == NULL)
        rc = ctr__fail(&comm->err, CTR_E_INVALID_ARG, "rank 0 needs rng");
    rc = gather_rows(comm, rc, in, b, cols, &all, what);
    if (rc != CTR_OK)
        return rc;
    big = b * comm->size;
    if (comm->rank == 0 && ctr_rng_permutation(rng, perm, big) != CTR_OK)
        return ctr__fail(&comm->err, CTR_E_INVALID_ARG, "%s: no permutation",
                         what);
    rc = ctr__comm_status(
        comm, comm->ops.broadcast_i64(comm->ops.user, perm, big, 0), what);
    for (i = 0; i < b && rc == CTR_OK; i++)
        memcpy(out + i * cols, all + perm[comm->rank * b + i] * cols,
               (size_t)cols * sizeof(float));
    return rc;
}

/* CTR_OK if perm is a permutation of 0 .. n-1 (mark: n floats of scratch
 * past the gathered rows). */
static int check_perm(ctr_comm *c, const int64_t *perm, int64_t n)
{
    unsigned char *seen;
    int64_t i;
    int rc = CTR_OK;
    seen = (unsigned char *)c->ws; /* before the gather: scratch */
    memset(seen, 0, (size_t)n);
    for (i = 0; i < n && rc == CTR_OK; i++) {
        if (perm[i] < 0 || perm[i] >= n || seen[perm[i]])
            rc = ctr__fail(&c->err, CTR_E_INVALID_ARG,
                           "perm is not a permutation (entry %lld)",
                           (long long)i);
        else
            seen[perm[i]] = 1;
    }
    return rc;
}

CTR_API int ctr_comm_unshuffle_rows(ctr_comm *comm, const int64_t *perm,
                                    float *out, const float *in, int64_t b,
                                    int64_t cols)
{
    const char *what = "ctr_comm_unshuffle_rows";
    float *all = NULL;
    int64_t j, big, first;
    size_t bytes;
    int rc;
    if (comm == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&comm->err);
    rc = check_rows(comm, out, in, perm, b, cols);
    if (rc == CTR_OK && (b > INT64_MAX / comm->size ||
                         ctr__matrix_bytes(&bytes, b * comm->size, cols + 1,
                                           sizeof(float)) != CTR_OK))
        rc = ctr__fail(&comm->err, CTR_E_OVERFLOW, "%s: sizes overflow", what);
    if (rc == CTR_OK)
        rc = ctr__comm_reserve(comm, bytes);
    if (rc == CTR_OK)
        rc = check_perm(comm, perm, b * comm->size);
    rc = gather_rows(comm, rc, in, b, cols, &all, what);
    if (rc != CTR_OK)
        return rc;
    big = b * comm->size, first = comm->rank * b;
    for (j = 0; j < big; j++) /* row j of the shuffled batch is perm[j] */
        if (perm[j] >= first && perm[j] < first + b)
            memcpy(out + (perm[j] - first) * cols, all + j * cols,
                   (size_t)cols * sizeof(float));
    return CTR_OK;
}
