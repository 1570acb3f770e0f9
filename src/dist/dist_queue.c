/*
 * dist_queue.c - MoCo's key gather: every rank's keys (and ids) are
 * all-gathered in rank order and enqueued on every rank, so that the
 * queues stay bit-identical across ranks (MoCo's concat_all_gather before
 * _dequeue_and_enqueue).
 */
#include <string.h>

#include "common/comm.h"
#include "common/kernels.h"

/* The queue's state every rank must share, read through the public API. */
enum { Q_N, Q_DIM, Q_CAP, Q_FLAGS, Q_POS, Q_TOTAL, Q_VALS };

static int queue_state(ctr_comm *c, const ctr_queue *q, int64_t n,
                       int64_t *vals)
{
    static const int32_t params[Q_VALS - 1] = {
        CTR_QUEUE_P_DIM, CTR_QUEUE_P_CAPACITY, CTR_QUEUE_P_FLAGS,
        CTR_QUEUE_P_WRITE_POS, CTR_QUEUE_P_TOTAL};
    int i;
    vals[Q_N] = n;
    for (i = 0; i < Q_VALS - 1; i++)
        if (ctr_queue_get_i64(q, params[i], &vals[i + 1]) != CTR_OK)
            return ctr__fail(&c->err, CTR_E_INVALID_ARG, "bad queue");
    return CTR_OK;
}

static int check_args(ctr_comm *c, const ctr_queue *q, const float *keys,
                      int64_t n, int64_t ld, const int64_t *ids,
                      int64_t *vals)
{
    size_t bytes, id_bytes;
    int rc;
    if (q == NULL)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG, "q is NULL");
    rc = queue_state(c, q, n, vals);
    if (rc == CTR_OK && (n < 0 || ld < vals[Q_DIM] || (n > 0 && keys == NULL)))
        rc = ctr__fail(&c->err, CTR_E_INVALID_ARG,
                       "n must be >= 0, ld >= d and keys set");
    if (rc == CTR_OK && ((ids != NULL) != ((vals[Q_FLAGS] & CTR_QUEUE_IDS) != 0)))
        rc = ctr__fail(&c->err, CTR_E_INVALID_ARG,
                       "ids must be given exactly when the queue has ids");
    if (rc == CTR_OK)
        rc = ctr__check_finite_matrix(&c->err, keys, n, vals[Q_DIM], ld, "keys");
    if (rc == CTR_OK &&
        (n > INT64_MAX / (c->size + 1) ||
         ctr__matrix_bytes(&bytes, n * (c->size + 1), vals[Q_DIM],
                           sizeof(float)) != CTR_OK ||
         ctr__matrix_bytes(&id_bytes, n, c->size + 1, sizeof(int64_t)) != CTR_OK ||
         ctr__add_size(&bytes, bytes, id_bytes) != CTR_OK))
        rc = ctr__fail(&c->err, CTR_E_OVERFLOW, "the gathered keys overflow");
    if (rc == CTR_OK)
        rc = ctr__comm_reserve(c, bytes);
    return rc;
}

/* Gathers keys (and ids) into the workspace and enqueues them. */
static int gather_enqueue(ctr_comm *c, ctr_queue *q, const float *keys,
                          int64_t n, int64_t ld, const int64_t *ids, int64_t d)
{
    const char *what = "ctr_comm_queue_enqueue";
    float *send = (float *)c->ws, *recv = send + n * d;
    int64_t *all_ids = (int64_t *)(void *)(recv + c->size * n * d);
    int64_t *send_ids = all_ids + c->size * n;
    int rc;
    ctr__copy_scaled(send, keys, n, d, ld, 1.0f);
    rc = ctr__comm_allgather_f32(c, send, recv, n * d, what);
    if (rc == CTR_OK && ids != NULL) {
        memcpy(send_ids, ids, (size_t)n * sizeof(int64_t));
        rc = ctr__comm_status(
            c, c->ops.allgather_i64(c->ops.user, send_ids, all_ids, n), what);
    }
    if (rc != CTR_OK)
        return rc;
    rc = ctr_queue_enqueue(q, recv, c->size * n, d, ids != NULL ? all_ids : NULL);
    if (rc != CTR_OK)
        return ctr__fail(&c->err, rc, "%s: %s", what, ctr_queue_last_error(q));
    return CTR_OK;
}

CTR_API int ctr_comm_queue_enqueue(ctr_comm *comm, ctr_queue *q,
                                   const float *keys, int64_t n, int64_t ld,
                                   const int64_t *ids)
{
    static const char *const names[Q_VALS] = {
        "n", "the queue's dim", "the queue's capacity", "the queue's flags",
        "the queue's write position", "the queue's total"};
    int64_t vals[Q_VALS];
    int rc;
    if (comm == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&comm->err);
    memset(vals, 0, sizeof(vals));
    rc = check_args(comm, q, keys, n, ld, ids, vals);
    rc = ctr__comm_agree(comm, rc, vals, Q_VALS, Q_VALS, names);
    if (rc != CTR_OK || n == 0)
        return rc;
    return gather_enqueue(comm, q, keys, n, ld, ids, vals[Q_DIM]);
}
