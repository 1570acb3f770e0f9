/*
 * comm_collect.c - the public collectives of ctr_comm: the transport's
 * calls with argument checks, and the weighted average of a buffer.
 */
#include <math.h>

#include "common/comm.h"

/* The checks every public collective shares; clears the message. */
static int check_call(ctr_comm *c, const void *buf, const void *buf2,
                      int64_t n, const char *what)
{
    if (c == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&c->err);
    if (n < 0)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "%s: n must be >= 0 (got %lld)", what, (long long)n);
    if (n > 0 && (buf == NULL || buf2 == NULL))
        return ctr__fail(&c->err, CTR_E_INVALID_ARG, "%s: a buffer is NULL",
                         what);
    return CTR_OK;
}

/* The six public collectives, by kind and element type. */
enum { REDUCE, GATHER, BCAST };

typedef struct coll_call {
    int kind, f32;
    const char *what;
    void *buf;        /* in place (reduce, broadcast) or recv (gather) */
    const void *send; /* gather only */
    int64_t n, root;
} coll_call;

static int check_coll(ctr_comm *c, const coll_call *k)
{
    size_t bytes;
    int rc = check_call(c, k->buf, k->kind == GATHER ? k->send : k->buf, k->n,
                        k->what);
    if (rc == CTR_OK && k->kind == BCAST && (k->root < 0 || k->root >= c->size))
        rc = ctr__fail(&c->err, CTR_E_INVALID_ARG,
                       "%s: root %lld is not a rank of %lld", k->what,
                       (long long)k->root, (long long)c->size);
    if (rc == CTR_OK && k->kind == GATHER &&
        ctr__matrix_bytes(&bytes, c->size, k->n, sizeof(int64_t)) != CTR_OK)
        rc = ctr__fail(&c->err, CTR_E_OVERFLOW, "%s: size x n overflows",
                       k->what);
    return rc;
}

static int transport(ctr_comm *c, const coll_call *k)
{
    const ctr_comm_ops *o = &c->ops;
    if (k->kind == REDUCE)
        return k->f32 ? o->allreduce_f32(o->user, (float *)k->buf, k->n)
                      : o->allreduce_i64(o->user, (int64_t *)k->buf, k->n);
    if (k->kind == GATHER)
        return k->f32 ? o->allgather_f32(o->user, (const float *)k->send,
                                         (float *)k->buf, k->n)
                      : o->allgather_i64(o->user, (const int64_t *)k->send,
                                         (int64_t *)k->buf, k->n);
    return k->f32 ? o->broadcast_f32(o->user, (float *)k->buf, k->n, k->root)
                  : o->broadcast_i64(o->user, (int64_t *)k->buf, k->n,
                                     k->root);
}

static int collective(ctr_comm *c, const coll_call *k)
{
    int rc = check_coll(c, k);
    if (rc != CTR_OK || k->n == 0)
        return rc;
    return ctr__comm_status(c, transport(c, k), k->what);
}

CTR_API int ctr_comm_allreduce_f32(ctr_comm *comm, float *buf, int64_t n)
{
    coll_call k = {REDUCE, 1, "ctr_comm_allreduce_f32", buf, NULL, n, 0};
    return collective(comm, &k);
}

CTR_API int ctr_comm_allreduce_i64(ctr_comm *comm, int64_t *buf, int64_t n)
{
    coll_call k = {REDUCE, 0, "ctr_comm_allreduce_i64", buf, NULL, n, 0};
    return collective(comm, &k);
}

CTR_API int ctr_comm_allgather_f32(ctr_comm *comm, float *recv,
                                   const float *send, int64_t n)
{
    coll_call k = {GATHER, 1, "ctr_comm_allgather_f32", recv, send, n, 0};
    return collective(comm, &k);
}

CTR_API int ctr_comm_allgather_i64(ctr_comm *comm, int64_t *recv,
                                   const int64_t *send, int64_t n)
{
    coll_call k = {GATHER, 0, "ctr_comm_allgather_i64", recv, send, n, 0};
    return collective(comm, &k);
}

CTR_API int ctr_comm_broadcast_f32(ctr_comm *comm, float *buf, int64_t n,
                                   int64_t root)
{
    coll_call k = {BCAST, 1, "ctr_comm_broadcast_f32", buf, NULL, n, root};
    return collective(comm, &k);
}

CTR_API int ctr_comm_broadcast_i64(ctr_comm *comm, int64_t *buf, int64_t n,
                                   int64_t root)
{
    coll_call k = {BCAST, 0, "ctr_comm_broadcast_i64", buf, NULL, n, root};
    return collective(comm, &k);
}

/* ---- the weighted average ------------------------------------------------------ */

/* This rank's status for the average: its own argument checks. */
static int average_status(ctr_comm *c, const float *buf, int64_t n,
                          double weight)
{
    if (n < 0 || (n > 0 && buf == NULL))
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "ctr_comm_average_f32: n < 0 or buf NULL");
    if (!isfinite(weight))
        return ctr__fail(&c->err, CTR_E_NUMERIC, "weight is not finite");
    if (weight < 0.0)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "weight must be >= 0 (got %g)", weight);
    return ctr__check_finite(&c->err, buf, (size_t)n, "buf");
}

/* The sum of the ranks' weights from the agreement record. */
static double total_weight(const ctr_comm *c)
{
    double w = 0.0;
    int64_t r;
    for (r = 0; r < c->size; r++)
        w += ctr__comm_bits_f64(ctr__comm_agreed(c, r, 1));
    return w;
}

/* Once every rank agrees: buf <- sum_r w_r buf_r / W. */
static int average_agreed(ctr_comm *c, float *buf, int64_t n, double weight)
{
    const double total = total_weight(c);
    float scale;
    int64_t i;
    if (!(total > 0.0) || !isfinite(total))
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "the ranks' weights sum to %g (must be > 0)", total);
    if (n == 0)
        return CTR_OK;
    scale = (float)(weight / total);
    for (i = 0; i < n; i++)
        buf[i] *= scale;
    return ctr__comm_allreduce_f32(c, buf, n, "ctr_comm_average_f32");
}

CTR_API int ctr_comm_average_f32(ctr_comm *comm, float *buf, int64_t n,
                                 double weight)
{
    static const char *const names[] = {"n"};
    int64_t vals[2];
    int rc;
    if (comm == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&comm->err);
    rc = average_status(comm, buf, n, weight);
    vals[0] = n;
    vals[1] = ctr__comm_f64_bits(rc == CTR_OK ? weight : 0.0);
    rc = ctr__comm_agree(comm, rc, vals, 2, 1, names);
    if (rc != CTR_OK)
        return rc;
    return average_agreed(comm, buf, n, weight);
}
