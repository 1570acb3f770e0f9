/*
 * comm.c - the communicator handle: the host's collective callbacks behind
 * argument checks and error messages, the agreement record, the workspace
 * and the weighted average (contrastive/comm.h, docs/distributed.md).
 */
#include <math.h>
#include <string.h>

#include "common/comm.h"

/* The smallest struct_size accepted: a struct that ends after broadcast_i64
 * (describe and release are optional and read only when covered). */
#define OPS_MIN_SIZE                                                        \
    (offsetof(ctr_comm_ops, broadcast_i64) +                                \
     sizeof(((ctr_comm_ops *)0)->broadcast_i64))
#define OPS_COVERS(o, field)                                                \
    ((o)->struct_size >= offsetof(ctr_comm_ops, field) + sizeof((o)->field))

#define RECORD (1 + CTR__AGREE_MAX)

CTR_API int ctr_comm_ops_init(ctr_comm_ops *ops)
{
    if (ops == NULL)
        return CTR_E_INVALID_ARG;
    memset(ops, 0, sizeof(*ops));
    ops->struct_size = (uint32_t)sizeof(*ops);
    return CTR_OK;
}

CTR_API size_t ctr_comm_ops_struct_size(void)
{
    return sizeof(ctr_comm_ops);
}

/* Copies what the caller's struct covers; the rest stays NULL. */
static int copy_ops(ctr_comm_ops *dst, const ctr_comm_ops *src)
{
    memset(dst, 0, sizeof(*dst));
    if (src->struct_size < OPS_MIN_SIZE || src->reserved != 0)
        return CTR_E_INVALID_ARG;
    memcpy(dst, src, OPS_MIN_SIZE);
    if (OPS_COVERS(src, describe))
        dst->describe = src->describe;
    if (OPS_COVERS(src, release))
        dst->release = src->release;
    dst->struct_size = (uint32_t)sizeof(*dst);
    if (dst->rank == NULL || dst->size == NULL || dst->allreduce_f32 == NULL ||
        dst->allreduce_i64 == NULL || dst->allgather_f32 == NULL ||
        dst->allgather_i64 == NULL || dst->broadcast_f32 == NULL ||
        dst->broadcast_i64 == NULL)
        return CTR_E_INVALID_ARG;
    return CTR_OK;
}

/* The release of a create that fails: the ops as far as they were read. */
static int release_fail(const ctr_comm_ops *ops, int rc)
{
    if (ops->struct_size >= offsetof(ctr_comm_ops, release) +
                                sizeof(ops->release) &&
        ops->release != NULL)
        ops->release(ops->user);
    return rc;
}

static int query_shape(const ctr_comm_ops *ops, int64_t *rank, int64_t *size)
{
    if (ops->rank(ops->user, rank) != 0 || ops->size(ops->user, size) != 0)
        return CTR_E_COMM;
    if (*size < 1 || *rank < 0 || *rank >= *size)
        return CTR_E_INVALID_ARG;
    return CTR_OK;
}

CTR_API int ctr_comm_create(ctr_comm **out, const ctr_comm_ops *ops,
                            const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr_comm_ops copy;
    ctr_comm *c;
    size_t rec_bytes;
    int64_t rank = 0, size = 0;
    int rc;
    if (ops == NULL)
        return CTR_E_INVALID_ARG;
    if (out == NULL || ctr__alloc_init(&a, alloc) != CTR_OK)
        return release_fail(ops, CTR_E_INVALID_ARG);
    rc = copy_ops(&copy, ops);
    if (rc == CTR_OK)
        rc = query_shape(&copy, &rank, &size);
    if (rc == CTR_OK)
        rc = ctr__matrix_bytes(&rec_bytes, size, RECORD, sizeof(int64_t));
    if (rc != CTR_OK)
        return release_fail(ops, rc);
    c = (ctr_comm *)ctr__calloc(&a, sizeof(*c));
    if (c == NULL)
        return release_fail(ops, CTR_E_NOMEM);
    c->agreed = (int64_t *)ctr__calloc(&a, rec_bytes);
    if (c->agreed == NULL) {
        ctr__free(&a, c, sizeof(*c));
        return release_fail(ops, CTR_E_NOMEM);
    }
    c->alloc = a, c->ops = copy, c->rank = rank, c->size = size;
    *out = c;
    return CTR_OK;
}

CTR_API void ctr_comm_destroy(ctr_comm *comm)
{
    ctr__alloc a;
    if (comm == NULL)
        return;
    a = comm->alloc;
    if (comm->ops.release != NULL)
        comm->ops.release(comm->ops.user);
    ctr__free(&a, comm->ws, comm->ws_bytes);
    ctr__free(&a, comm->agreed,
              (size_t)comm->size * RECORD * sizeof(int64_t));
    ctr__free(&a, comm, sizeof(*comm));
}

CTR_API int ctr_comm_rank(const ctr_comm *comm, int64_t *rank)
{
    if (comm == NULL)
        return CTR_E_INVALID_ARG;
    if (rank == NULL)
        return ctr__const_fail(&comm->err, CTR_E_INVALID_ARG, "rank is NULL");
    *rank = comm->rank;
    return ctr__const_result(&comm->err, CTR_OK, NULL);
}

CTR_API int ctr_comm_size(const ctr_comm *comm, int64_t *size)
{
    if (comm == NULL)
        return CTR_E_INVALID_ARG;
    if (size == NULL)
        return ctr__const_fail(&comm->err, CTR_E_INVALID_ARG, "size is NULL");
    *size = comm->size;
    return ctr__const_result(&comm->err, CTR_OK, NULL);
}

CTR_API const char *ctr_comm_last_error(const ctr_comm *comm)
{
    return ctr__error_message(comm == NULL ? NULL : &comm->err);
}

/* ---- the callbacks, with messages ------------------------------------------ */

int ctr__comm_status(ctr_comm *c, int code, const char *what)
{
    const char *why;
    if (code == 0)
        return CTR_OK;
    why = c->ops.describe != NULL ? c->ops.describe(c->ops.user, code) : NULL;
    return ctr__fail(&c->err, CTR_E_COMM,
                     "%s: the transport failed on rank %lld (code %d%s%s)",
                     what, (long long)c->rank, code, why != NULL ? ": " : "",
                     why != NULL ? why : "");
}

int ctr__comm_allreduce_f32(ctr_comm *c, float *buf, int64_t n,
                            const char *what)
{
    int code = c->ops.allreduce_f32(c->ops.user, buf, n);
    return ctr__comm_status(c, code, what);
}

int ctr__comm_allgather_f32(ctr_comm *c, const float *send, float *recv,
                            int64_t n, const char *what)
{
    int code = c->ops.allgather_f32(c->ops.user, send, recv, n);
    return ctr__comm_status(c, code, what);
}

int ctr__comm_broadcast_f32(ctr_comm *c, float *buf, int64_t n, int64_t root,
                            const char *what)
{
    int code = c->ops.broadcast_f32(c->ops.user, buf, n, root);
    return ctr__comm_status(c, code, what);
}

/* ---- the agreement record ---------------------------------------------------- */

/* The first rank whose status is not CTR_OK, or -1. */
static int64_t failed_rank(const ctr_comm *c)
{
    int64_t r;
    for (r = 0; r < c->size; r++)
        if (c->agreed[r * RECORD] != CTR_OK)
            return r;
    return -1;
}

static int compare_values(ctr_comm *c, int n_equal, const char *const *names)
{
    int64_t r;
    int i;
    for (r = 1; r < c->size; r++)
        for (i = 0; i < n_equal; i++)
            if (ctr__comm_agreed(c, r, i) != ctr__comm_agreed(c, 0, i))
                return ctr__fail(
                    &c->err, CTR_E_SHAPE,
                    "%s is %lld on rank %lld but %lld on rank 0", names[i],
                    (long long)ctr__comm_agreed(c, r, i), (long long)r,
                    (long long)ctr__comm_agreed(c, 0, i));
    return CTR_OK;
}

int ctr__comm_agree(ctr_comm *c, int status, const int64_t *vals, int nvals,
                    int n_equal, const char *const *names)
{
    int64_t rec[RECORD];
    int64_t r;
    int code;
    memset(rec, 0, sizeof(rec));
    rec[0] = status;
    if (status == CTR_OK)
        memcpy(rec + 1, vals, (size_t)nvals * sizeof(int64_t));
    code = c->ops.allgather_i64(c->ops.user, rec, c->agreed, RECORD);
    if (code != 0)
        return ctr__comm_status(c, code, "agreement record");
    if (status != CTR_OK)
        return status;
    r = failed_rank(c);
    if (r >= 0) {
        int other = (int)c->agreed[r * RECORD];
        return ctr__fail(&c->err, other, "rank %lld failed: %s", (long long)r,
                         ctr_strerror(other));
    }
    return compare_values(c, n_equal, names);
}

int64_t ctr__comm_agreed(const ctr_comm *c, int64_t r, int i)
{
    return c->agreed[r * RECORD + 1 + i];
}

int64_t ctr__comm_f64_bits(double v)
{
    int64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return bits;
}

double ctr__comm_bits_f64(int64_t v)
{
    double d;
    memcpy(&d, &v, sizeof(d));
    return d;
}

int ctr__comm_reserve(ctr_comm *c, size_t bytes)
{
    void *p;
    if (bytes <= c->ws_bytes)
        return CTR_OK;
    p = ctr__malloc(&c->alloc, bytes);
    if (p == NULL)
        return ctr__fail(&c->err, CTR_E_NOMEM,
                         "cannot allocate a workspace of %zu bytes", bytes);
    ctr__free(&c->alloc, c->ws, c->ws_bytes);
    c->ws = p;
    c->ws_bytes = bytes;
    return CTR_OK;
}
