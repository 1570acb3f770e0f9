/*
 * dist_scenario.h - the equivalence scenarios of data-parallel training,
 * shared by the in-process suite (tests/check_comm_equiv.c, ranks as
 * threads over comm_fake.h) and the MPI test (tests/mpi/mpi_equiv.c, ranks
 * as processes). Each rank runs the distributed training AND the
 * single-process reference on the whole batch itself, and reports how far
 * apart they are; nothing here knows the transport.
 */
#ifndef CTR_TEST_DIST_SCENARIO_H
#define CTR_TEST_DIST_SCENARIO_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contrastive.h"

#define SCEN_IN 6
#define SCEN_HID 16
#define SCEN_OUT 8
#define SCEN_STEPS 20

typedef struct scen_result {
    int rc;             /* CTR_OK, or the first failing call's code */
    char msg[256];      /* what failed */
    double loss_rel;    /* max over steps of |loss_dist - loss_ref| / |ref| */
    double grad_rel;    /* step 0: max |g_dist - g_ref| / max |g_ref| */
    double param_rel;   /* after the last step, the same for parameters */
    double loss_last;   /* the reference's last loss */
} scen_result;

/* Deterministic inputs of step `step`, global row i, feature j. */
static inline float scen_input(int64_t step, int64_t view, int64_t i,
                               int64_t j)
{
    uint64_t h = (uint64_t)(step * 1000003 + view * 7919 + i * 131 + j + 1);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (float)((double)(h >> 40) / (double)(1 << 24) * 2.0 - 1.0) +
           (view == 1 ? 0.1f * (float)j : 0.0f);
}

/* linear - batchnorm - relu - linear; BN in `groups` groups. */
static inline int scen_encoder(ctr_encoder **out, uint64_t seed,
                               int64_t groups)
{
    const int64_t dims[1] = {SCEN_IN};
    ctr_encoder *e = NULL;
    int rc = ctr_encoder_create(&e, dims, 1, seed, NULL);
    if (rc == CTR_OK)
        rc = ctr_encoder_add_linear(e, SCEN_HID, 1);
    if (rc == CTR_OK)
        rc = ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1);
    if (rc == CTR_OK)
        rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    if (rc == CTR_OK)
        rc = ctr_encoder_add_linear(e, SCEN_OUT, 1);
    if (rc == CTR_OK)
        rc = ctr_encoder_set_i64(e, CTR_ENCODER_P_BN_GROUPS, groups);
    if (rc != CTR_OK) {
        ctr_encoder_destroy(e);
        return rc;
    }
    *out = e;
    return CTR_OK;
}

static inline int scen_optimizer(ctr_optimizer **out, ctr_encoder *e)
{
    int rc = ctr_optimizer_create_for_encoder(out, CTR_OPTIMIZER_SGD, e, NULL);
    if (rc == CTR_OK)
        rc = ctr_optimizer_set_f64(*out, CTR_OPTIMIZER_P_LR, 0.5);
    if (rc == CTR_OK)
        rc = ctr_optimizer_set_f64(*out, CTR_OPTIMIZER_P_MOMENTUM, 0.9);
    return rc;
}

/* max |a - b| / max |b| over n floats. */
static inline double scen_rel(const float *a, const float *b, int64_t n)
{
    double num = 0.0, den = 0.0;
    int64_t i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        num = e > num ? e : num;
        den = fabs((double)b[i]) > den ? fabs((double)b[i]) : den;
    }
    return den > 0.0 ? num / den : num;
}

/* Everything one rank holds. x is the global batch in rank blocks
 * [x1_r; x2_r] (2B x IN); the rank's part is block `rank`. */
typedef struct scen_state {
    int64_t rank, size, b, big_b;
    ctr_encoder *ref, *dist;
    ctr_optimizer *ref_opt, *dist_opt;
    ctr_objective *obj;
    float *x, *y, *z1, *z2, *g1, *g2, *dy, *grads_ref, *grads_dist;
    int64_t n_params;
} scen_state;

static inline void scen_fill(scen_state *s, int64_t step)
{
    int64_t r, v, i, j;
    for (r = 0; r < s->size; r++)
        for (v = 0; v < 2; v++)
            for (i = 0; i < s->b; i++)
                for (j = 0; j < SCEN_IN; j++)
                    s->x[((r * 2 + v) * s->b + i) * SCEN_IN + j] =
                        scen_input(step, v, r * s->b + i, j);
}

/* The reference's step on the whole batch (BN groups = ranks); y holds the
 * rank blocks of outputs, z1/z2 the views in global order. */
static inline int scen_ref_step(scen_state *s, double *loss)
{
    const int64_t b = s->b, big = s->big_b;
    int64_t r, v;
    int rc = ctr_encoder_forward(s->ref, s->y, s->x, 2 * big, CTR_ENCODER_TRAIN);
    for (r = 0; r < s->size && rc == CTR_OK; r++)
        for (v = 0; v < 2; v++)
            memcpy((v == 0 ? s->z1 : s->z2) + r * b * SCEN_OUT,
                   s->y + (r * 2 + v) * b * SCEN_OUT,
                   (size_t)(b * SCEN_OUT) * sizeof(float));
    if (rc == CTR_OK)
        rc = ctr_objective_ntxent(s->obj, loss, s->z1, SCEN_OUT, s->z2,
                                  SCEN_OUT, big, SCEN_OUT, NULL, s->g1, s->g2);
    for (r = 0; r < s->size && rc == CTR_OK; r++)
        for (v = 0; v < 2; v++)
            memcpy(s->dy + (r * 2 + v) * b * SCEN_OUT,
                   (v == 0 ? s->g1 : s->g2) + r * b * SCEN_OUT,
                   (size_t)(b * SCEN_OUT) * sizeof(float));
    if (rc == CTR_OK)
        rc = ctr_encoder_zero_grad(s->ref);
    if (rc == CTR_OK)
        rc = ctr_encoder_backward(s->ref, NULL, s->dy);
    return rc;
}

/* The rank's distributed step on its block: cross-replica NT-Xent, the
 * gradient sum. */
static inline int scen_dist_step(scen_state *s, ctr_comm *comm, double *loss)
{
    const int64_t b = s->b;
    const float *x = s->x + s->rank * 2 * b * SCEN_IN;
    float *y = s->y, *dy = s->dy;
    int rc = ctr_encoder_forward(s->dist, y, x, 2 * b, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = ctr_comm_ntxent(comm, s->obj, loss, y, SCEN_OUT,
                             y + b * SCEN_OUT, SCEN_OUT, b, SCEN_OUT, dy,
                             dy + b * SCEN_OUT);
    if (rc == CTR_OK)
        rc = ctr_encoder_zero_grad(s->dist);
    if (rc == CTR_OK)
        rc = ctr_encoder_backward(s->dist, NULL, dy);
    if (rc == CTR_OK)
        rc = ctr_comm_encoder_grads(comm, s->dist, CTR_COMM_SUM, 0.0);
    return rc;
}

static inline void scen_free(scen_state *s)
{
    float *bufs[9] = {s->x, s->y, s->z1, s->z2, s->g1, s->g2, s->dy,
                      s->grads_ref, s->grads_dist};
    int i;
    for (i = 0; i < 9; i++)
        free(bufs[i]);
    ctr_optimizer_destroy(s->ref_opt);
    ctr_optimizer_destroy(s->dist_opt);
    ctr_encoder_destroy(s->ref);
    ctr_encoder_destroy(s->dist);
    ctr_objective_destroy(s->obj);
}

/* The distributed replica starts from another seed on every rank but the
 * root: ctr_comm_encoder_broadcast must make them equal to the reference. */
static inline int scen_setup(scen_state *s, ctr_comm *comm, int64_t b,
                             int normalize, double tau)
{
    const int64_t big = b * s->size;
    int rc = scen_encoder(&s->ref, 42, s->size);
    if (rc == CTR_OK)
        rc = scen_encoder(&s->dist, s->rank == 0 ? 42 : 1000 + (uint64_t)s->rank, 1);
    if (rc == CTR_OK)
        rc = ctr_comm_encoder_broadcast(comm, s->dist, 0);
    if (rc == CTR_OK)
        rc = scen_optimizer(&s->ref_opt, s->ref);
    if (rc == CTR_OK)
        rc = scen_optimizer(&s->dist_opt, s->dist);
    if (rc == CTR_OK)
        rc = ctr_objective_create(&s->obj, CTR_OBJECTIVE_NTXENT, NULL);
    if (rc == CTR_OK)
        rc = ctr_objective_set_i64(s->obj, CTR_OBJECTIVE_P_NORMALIZE, normalize);
    if (rc == CTR_OK)
        rc = ctr_objective_set_f64(s->obj, CTR_OBJECTIVE_P_TEMPERATURE, tau);
    if (rc == CTR_OK)
        rc = ctr_encoder_num_params(s->ref, &s->n_params);
    s->b = b, s->big_b = big;
    s->x = (float *)calloc((size_t)(2 * big * SCEN_IN), sizeof(float));
    s->y = (float *)calloc((size_t)(2 * big * SCEN_OUT), sizeof(float));
    s->dy = (float *)calloc((size_t)(2 * big * SCEN_OUT), sizeof(float));
    s->z1 = (float *)calloc((size_t)(big * SCEN_OUT), sizeof(float));
    s->z2 = (float *)calloc((size_t)(big * SCEN_OUT), sizeof(float));
    s->g1 = (float *)calloc((size_t)(big * SCEN_OUT), sizeof(float));
    s->g2 = (float *)calloc((size_t)(big * SCEN_OUT), sizeof(float));
    s->grads_ref = (float *)calloc((size_t)s->n_params + 1, sizeof(float));
    s->grads_dist = (float *)calloc((size_t)s->n_params + 1, sizeof(float));
    return rc;
}

/* One step of both; records the loss and (step 0) gradient distances. */
static inline int scen_step(scen_state *s, ctr_comm *comm, int64_t step,
                            scen_result *res)
{
    double lr = 0.0, ld = 0.0;
    int rc;
    scen_fill(s, step);
    rc = scen_ref_step(s, &lr);
    if (rc != CTR_OK)
        return snprintf(res->msg, sizeof(res->msg), "reference step %lld: %s",
                        (long long)step, ctr_encoder_last_error(s->ref)), rc;
    rc = scen_dist_step(s, comm, &ld);
    if (rc != CTR_OK)
        return snprintf(res->msg, sizeof(res->msg), "distributed step %lld: %s",
                        (long long)step, ctr_comm_last_error(comm)), rc;
    if (fabs(ld - lr) / fabs(lr) > res->loss_rel)
        res->loss_rel = fabs(ld - lr) / fabs(lr);
    res->loss_last = lr;
    if (step == 0) {
        ctr_encoder_get_grads(s->ref, s->grads_ref, s->n_params);
        ctr_encoder_get_grads(s->dist, s->grads_dist, s->n_params);
        res->grad_rel = scen_rel(s->grads_dist, s->grads_ref, s->n_params);
    }
    rc = ctr_optimizer_step(s->ref_opt);
    if (rc == CTR_OK)
        rc = ctr_optimizer_step(s->dist_opt);
    return rc;
}

/* SimCLR: R ranks with b pairs each against one process with B = R b,
 * SCEN_STEPS steps of SGD with momentum. */
static inline void scen_simclr(ctr_comm *comm, int64_t b, int normalize,
                               double tau, scen_result *res)
{
    scen_state s;
    int64_t step;
    memset(&s, 0, sizeof(s));
    memset(res, 0, sizeof(*res));
    ctr_comm_rank(comm, &s.rank);
    ctr_comm_size(comm, &s.size);
    res->rc = scen_setup(&s, comm, b, normalize, tau);
    if (res->rc != CTR_OK)
        snprintf(res->msg, sizeof(res->msg), "setup: %s",
                 ctr_comm_last_error(comm));
    for (step = 0; step < SCEN_STEPS && res->rc == CTR_OK; step++)
        res->rc = scen_step(&s, comm, step, res);
    if (res->rc == CTR_OK) {
        ctr_encoder_get_params(s.ref, s.grads_ref, s.n_params);
        ctr_encoder_get_params(s.dist, s.grads_dist, s.n_params);
        res->param_rel = scen_rel(s.grads_dist, s.grads_ref, s.n_params);
    }
    scen_free(&s);
}

/* A barrier through the communicator (a one-element all-reduce). */
static inline int scen_barrier(ctr_comm *comm)
{
    int64_t one = 1;
    return ctr_comm_allreduce_i64(comm, &one, 1);
}

/* The distributed checkpoint: rank 0 saves its replica's encoder and
 * optimizer (the replicas are identical), every rank loads them. */
static inline int scen_checkpoint(scen_state *s, ctr_comm *comm,
                                  const char *enc_path, const char *opt_path)
{
    int rc = CTR_OK;
    if (s->rank == 0) {
        rc = ctr_encoder_save(s->dist, enc_path);
        if (rc == CTR_OK)
            rc = ctr_optimizer_save(s->dist_opt, opt_path);
    }
    if (scen_barrier(comm) != CTR_OK || rc != CTR_OK)
        return rc != CTR_OK ? rc : CTR_E_COMM;
    ctr_optimizer_destroy(s->dist_opt);
    ctr_encoder_destroy(s->dist);
    s->dist_opt = NULL;
    rc = ctr_encoder_load(&s->dist, enc_path, NULL);
    if (rc == CTR_OK)
        rc = ctr_optimizer_load(&s->dist_opt, opt_path, s->dist, NULL);
    if (scen_barrier(comm) != CTR_OK) /* all have read before any rewrite */
        return CTR_E_COMM;
    return rc;
}

/* scen_simclr with a save at step SCEN_STEPS / 2 and every replica
 * replaced by the loaded one: the run must end where the uninterrupted
 * single-process run ends. */
static inline void scen_simclr_resume(ctr_comm *comm, int64_t b,
                                      const char *enc_path,
                                      const char *opt_path, scen_result *res)
{
    scen_state s;
    int64_t step;
    memset(&s, 0, sizeof(s));
    memset(res, 0, sizeof(*res));
    ctr_comm_rank(comm, &s.rank);
    ctr_comm_size(comm, &s.size);
    res->rc = scen_setup(&s, comm, b, 1, 0.5);
    for (step = 0; step < SCEN_STEPS && res->rc == CTR_OK; step++) {
        if (step == SCEN_STEPS / 2) {
            res->rc = scen_checkpoint(&s, comm, enc_path, opt_path);
            if (res->rc != CTR_OK) {
                snprintf(res->msg, sizeof(res->msg), "checkpoint: %s",
                         ctr_strerror(res->rc));
                break;
            }
        }
        res->rc = scen_step(&s, comm, step, res);
    }
    if (res->rc == CTR_OK) {
        ctr_encoder_get_params(s.ref, s.grads_ref, s.n_params);
        ctr_encoder_get_params(s.dist, s.grads_dist, s.n_params);
        res->param_rel = scen_rel(s.grads_dist, s.grads_ref, s.n_params);
    }
    scen_free(&s);
}

#endif /* CTR_TEST_DIST_SCENARIO_H */
