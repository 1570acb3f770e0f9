/*
 * dist_encoder.c - an encoder across ranks: the gradient all-reduce before
 * the optimizer step (sum, or mean weighted by the ranks' sample counts)
 * and the broadcast of parameters and BatchNorm statistics.
 */
#include <math.h>

#include "common/comm.h"
#include "encoder/encoder.h"

static int check_op(ctr_comm *c, int32_t op, double weight)
{
    if (op != CTR_COMM_SUM && op != CTR_COMM_MEAN)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "op must be CTR_COMM_SUM or CTR_COMM_MEAN (got %d)",
                         (int)op);
    if (op == CTR_COMM_MEAN && !isfinite(weight))
        return ctr__fail(&c->err, CTR_E_NUMERIC, "weight is not finite");
    if (op == CTR_COMM_MEAN && weight < 0.0)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "weight must be >= 0 (got %g)", weight);
    return CTR_OK;
}

/* This rank's status for the gradient all-reduce. */
static int grads_status(ctr_comm *c, const ctr_encoder *enc, int32_t op,
                        double weight)
{
    int rc;
    if (enc == NULL)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG, "enc is NULL");
    rc = check_op(c, op, weight);
    if (rc != CTR_OK)
        return rc;
    return ctr__check_finite(&c->err, enc->grads, (size_t)enc->n_params,
                             "the encoder's gradients");
}

/* The scale of this rank's gradient before the sum. */
static int grads_scale(ctr_comm *c, int32_t op, double weight, float *scale)
{
    double total = 0.0;
    int64_t r;
    *scale = 1.0f;
    if (op != CTR_COMM_MEAN)
        return CTR_OK;
    for (r = 0; r < c->size; r++)
        total += ctr__comm_bits_f64(ctr__comm_agreed(c, r, 2));
    if (!(total > 0.0) || !isfinite(total))
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "the ranks' weights sum to %g (must be > 0)", total);
    *scale = (float)(weight / total);
    return CTR_OK;
}

CTR_API int ctr_comm_encoder_grads(ctr_comm *comm, ctr_encoder *enc,
                                   int32_t op, double weight)
{
    static const char *const names[] = {"the parameter count", "op"};
    int64_t vals[3] = {0, 0, 0}, i;
    float scale;
    int rc;
    if (comm == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&comm->err);
    rc = grads_status(comm, enc, op, weight);
    if (rc == CTR_OK) {
        vals[0] = enc->n_params;
        vals[1] = op;
        vals[2] = ctr__comm_f64_bits(op == CTR_COMM_MEAN ? weight : 0.0);
    }
    rc = ctr__comm_agree(comm, rc, vals, 3, 2, names);
    if (rc == CTR_OK)
        rc = grads_scale(comm, op, weight, &scale);
    if (rc != CTR_OK || enc->n_params == 0)
        return rc;
    for (i = 0; scale != 1.0f && i < enc->n_params; i++)
        enc->grads[i] *= scale;
    return ctr__comm_allreduce_f32(comm, enc->grads, enc->n_params,
                                   "ctr_comm_encoder_grads");
}

static int broadcast_status(ctr_comm *c, const ctr_encoder *enc, int64_t root)
{
    if (enc == NULL)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG, "enc is NULL");
    if (root < 0 || root >= c->size)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "root %lld is not a rank of %lld", (long long)root,
                         (long long)c->size);
    return CTR_OK;
}

CTR_API int ctr_comm_encoder_broadcast(ctr_comm *comm, ctr_encoder *enc,
                                       int64_t root)
{
    static const char *const names[] = {"the parameter count",
                                        "the statistics count", "root"};
    const char *what = "ctr_comm_encoder_broadcast";
    int64_t vals[3] = {0, 0, 0};
    int rc;
    if (comm == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&comm->err);
    rc = broadcast_status(comm, enc, root);
    if (rc == CTR_OK) {
        vals[0] = enc->n_params;
        vals[1] = enc->n_stats;
        vals[2] = root;
    }
    rc = ctr__comm_agree(comm, rc, vals, 3, 3, names);
    if (rc == CTR_OK && enc->n_params > 0)
        rc = ctr__comm_broadcast_f32(comm, enc->params, enc->n_params, root,
                                     what);
    if (rc == CTR_OK && enc->n_stats > 0)
        rc = ctr__comm_broadcast_f32(comm, enc->stats, enc->n_stats, root,
                                     what);
    return rc;
}

/* ---- synchronised batch norm ---------------------------------------------------- */

/* The comm's part of a synchronised call: CTR_OK to go on, or a NULL
 * encoder's error agreed by every rank. */
static int sync_begin(ctr_comm *comm, const ctr_encoder *enc)
{
    ctr__error_clear(&comm->err);
    if (enc != NULL)
        return CTR_OK;
    return ctr__comm_agree(comm, ctr__fail(&comm->err, CTR_E_INVALID_ARG,
                                           "enc is NULL"),
                           NULL, 0, 0, NULL);
}

CTR_API int ctr_comm_encoder_forward(ctr_comm *comm, ctr_encoder *enc,
                                     float *y, const float *x, int64_t n)
{
    int rc = comm == NULL ? CTR_E_INVALID_ARG : sync_begin(comm, enc);
    return rc != CTR_OK ? rc : ctr__encoder_forward_synced(enc, y, x, n, comm);
}

CTR_API int ctr_comm_encoder_backward(ctr_comm *comm, ctr_encoder *enc,
                                      float *dx, const float *dy)
{
    int rc = comm == NULL ? CTR_E_INVALID_ARG : sync_begin(comm, enc);
    return rc != CTR_OK ? rc : ctr__encoder_backward_synced(enc, dx, dy, comm);
}
