/*
 * infonce_shared.c - the INFONCE_SHARED kind: InfoNCE against negatives
 * shared by all anchors, given as a caller matrix (a queue's rows, bank
 * rows, any matrix: ctr_objective_infonce_shared) or as a momentum queue
 * itself (ctr_objective_infonce_queue). The math is tiled_infonce.c's.
 */
#include <string.h>

#include "objectives/tiled_infonce.h"

/* A call's operands: the matrix form fills `a`; the queue form names the
 * queue, whose valid rows (and ids, for q_ids) the check resolves into a. */
typedef struct shared_call {
    ctr__shared_args a;
    int from_queue;
    const ctr_queue *queue;
    const int64_t *q_ids;
} shared_call;

static const int32_t PARAMS[] = {CTR_OBJECTIVE_P_TEMPERATURE,
                                 CTR_OBJECTIVE_P_NORMALIZE,
                                 CTR_OBJECTIVE_P_TILE, 0};

/* The queue's valid rows (and ids, when q_ids asks for masking) as the
 * negatives of c->a. */
static int queue_negatives(ctr_objective *obj, shared_call *c)
{
    ctr__shared_args *a = &c->a;
    const int64_t *ids = NULL;
    int64_t dim = 0;
    if (c->queue == NULL)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG, "queue is NULL");
    if (ctr_queue_get_i64(c->queue, CTR_QUEUE_P_DIM, &dim) != CTR_OK ||
        ctr_queue_keys(c->queue, &a->neg, &a->kneg, &a->ldn) != CTR_OK ||
        ctr_queue_ids(c->queue, &ids, NULL) != CTR_OK)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                         "queue cannot be read: %s",
                         ctr_queue_last_error(c->queue));
    if (dim != a->d)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                         "queue keys have dimension %lld, d is %lld",
                         (long long)dim, (long long)a->d);
    if (c->q_ids != NULL && ids == NULL)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                         "q_ids given but the queue holds no ids");
    if (c->q_ids != NULL && a->kneg > 0)
        a->q_ids = c->q_ids, a->neg_ids = ids;
    return CTR_OK;
}

static int shared_check(ctr_objective *obj, void *args, ctr__obj_dims *dims)
{
    shared_call *c = (shared_call *)args;
    const ctr__shared_args *a = &c->a;
    int rc = c->from_queue ? queue_negatives(obj, c) : CTR_OK;
    if (rc == CTR_OK)
        rc = ctr__obj_check_sizes(obj, a->b, a->d);
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->q, a->b, a->d, a->ldq, "q");
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->k, a->b, a->d, a->ldk, "k");
    if (rc == CTR_OK)
        rc = ctr__check_nonnegative(&obj->err, a->kneg, "kneg");
    if (rc == CTR_OK)
        rc = ctr__obj_check_keys(obj, a->neg, a->kneg, a->d, a->ldn, "neg");
    if (rc == CTR_OK && a->neg_ids != NULL && a->q_ids == NULL)
        rc = ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                       "neg_ids given without q_ids");
    if (rc == CTR_OK && a->q_ids != NULL && a->neg_ids == NULL && a->kneg > 0)
        rc = ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                       "q_ids given without neg_ids");
    dims->b = a->b;
    dims->d = a->d;
    dims->k = a->kneg;
    return rc;
}

static int shared_run(ctr_objective *obj, const void *args,
                      ctr__obj_stats *st)
{
    return ctr__shared_run(obj, &((const shared_call *)args)->a, st);
}

/* Listed in registry.c. */
const ctr__obj_kind ctr__obj_infonce_shared = {
    .id = CTR_OBJECTIVE_INFONCE_SHARED,
    .name = "INFONCE_SHARED",
    .params = PARAMS,
    .check = shared_check,
    .workspace = ctr__shared_workspace,
    .run = shared_run,
};

CTR_API int ctr_objective_infonce_shared(
    ctr_objective *obj, double *loss, const float *q, int64_t ldq,
    const float *k, int64_t ldk, int64_t b, int64_t d, const float *neg,
    int64_t ldn, int64_t kneg, const int64_t *q_ids, const int64_t *neg_ids,
    float *grad_q, float *grad_k, float *grad_neg)
{
    shared_call c;
    ctr__shared_args *a = &c.a;
    memset(&c, 0, sizeof(c));
    a->q = q, a->ldq = ldq, a->k = k, a->ldk = ldk, a->b = b, a->d = d;
    a->neg = neg, a->ldn = ldn, a->kneg = kneg;
    a->q_ids = kneg > 0 ? q_ids : NULL;
    a->neg_ids = kneg > 0 ? neg_ids : NULL;
    a->grad_q = grad_q, a->grad_k = grad_k, a->grad_neg = grad_neg;
    return ctr__obj_call(obj, &ctr__obj_infonce_shared,
                         "ctr_objective_infonce_shared", &c, loss);
}

CTR_API int ctr_objective_infonce_queue(ctr_objective *obj, double *loss,
                                        const float *q, int64_t ldq,
                                        const float *k, int64_t ldk,
                                        int64_t b, int64_t d,
                                        const ctr_queue *queue,
                                        const int64_t *q_ids, float *grad_q,
                                        float *grad_k)
{
    shared_call c;
    ctr__shared_args *a = &c.a;
    memset(&c, 0, sizeof(c));
    a->q = q, a->ldq = ldq, a->k = k, a->ldk = ldk, a->b = b, a->d = d;
    a->grad_q = grad_q, a->grad_k = grad_k;
    c.from_queue = 1;
    c.queue = queue;
    c.q_ids = q_ids;
    return ctr__obj_call(obj, &ctr__obj_infonce_shared,
                         "ctr_objective_infonce_queue", &c, loss);
}
