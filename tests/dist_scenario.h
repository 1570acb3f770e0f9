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
    int sync_bn; /* synchronised BN: one BN group in the reference */
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
    int rc = s->sync_bn ? ctr_comm_encoder_forward(comm, s->dist, y, x, 2 * b)
                        : ctr_encoder_forward(s->dist, y, x, 2 * b, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = ctr_comm_ntxent(comm, s->obj, loss, y, SCEN_OUT,
                             y + b * SCEN_OUT, SCEN_OUT, b, SCEN_OUT, dy,
                             dy + b * SCEN_OUT);
    if (rc == CTR_OK)
        rc = ctr_encoder_zero_grad(s->dist);
    if (rc == CTR_OK)
        rc = s->sync_bn ? ctr_comm_encoder_backward(comm, s->dist, NULL, dy)
                        : ctr_encoder_backward(s->dist, NULL, dy);
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
    int rc = scen_encoder(&s->ref, 42, s->sync_bn ? 1 : s->size);
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
 * SCEN_STEPS steps of SGD with momentum; with sync_bn the ranks
 * synchronise BN (ctr_comm_encoder_forward / _backward) and the reference
 * normalises its whole batch in one group. */
static inline void scen_simclr_bn(ctr_comm *comm, int64_t b, int normalize,
                                  double tau, int sync_bn, scen_result *res)
{
    scen_state s;
    int64_t step;
    memset(&s, 0, sizeof(s));
    memset(res, 0, sizeof(*res));
    s.sync_bn = sync_bn;
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

static inline void scen_simclr(ctr_comm *comm, int64_t b, int normalize,
                               double tau, scen_result *res)
{
    scen_simclr_bn(comm, b, normalize, tau, 0, res);
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

/* ---- MoCo with shuffle BN ------------------------------------------------------ */

#define MOCO_K 16   /* queue capacity */
#define MOCO_M 0.9  /* key encoder momentum */

typedef struct moco_side {
    ctr_encoder *q, *k;
    ctr_optimizer *opt;
    ctr_queue *queue;
    ctr_rng *rng; /* the shuffle's permutations */
} moco_side;

static inline int moco_side_init(moco_side *m, int64_t groups, int with_rng)
{
    int rc = scen_encoder(&m->q, 42, groups);
    if (rc == CTR_OK) rc = scen_encoder(&m->k, 43, groups);
    if (rc == CTR_OK) rc = ctr_encoder_copy_params(m->k, m->q, 1);
    if (rc == CTR_OK) rc = scen_optimizer(&m->opt, m->q);
    if (rc == CTR_OK)
        rc = ctr_queue_create(&m->queue, MOCO_K, SCEN_OUT, CTR_QUEUE_INIT_RANDOM, 5, NULL);
    if (rc == CTR_OK && with_rng)
        rc = ctr_rng_create(&m->rng, 77, NULL);
    return rc;
}

static inline void moco_side_free(moco_side *m)
{
    ctr_rng_destroy(m->rng);
    ctr_queue_destroy(m->queue);
    ctr_optimizer_destroy(m->opt);
    ctr_encoder_destroy(m->k);
    ctr_encoder_destroy(m->q);
}

/* The update after backward: optimizer, key encoder EMA, enqueue. */
static inline int moco_finish(moco_side *m)
{
    int rc = ctr_optimizer_step(m->opt);
    if (rc == CTR_OK)
        rc = ctr_encoder_momentum_update(m->k, m->q, MOCO_M, 0);
    return rc;
}

typedef struct moco_bufs {
    int64_t b, big;
    float *xq, *xk, *xs, *q, *k, *ks, *gq;
    int64_t *perm;
} moco_bufs;

/* One process on the global batch: BN groups = ranks, the key batch
 * permuted by perm, keys put back, InfoNCE against the queue. */
static inline int moco_ref_step(moco_side *m, moco_bufs *w, ctr_objective *obj,
                                double *loss)
{
    const int64_t big = w->big;
    int64_t j;
    int rc = ctr_encoder_forward(m->q, w->q, w->xq, big, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK) rc = ctr_rng_permutation(m->rng, w->perm, big);
    for (j = 0; j < big && rc == CTR_OK; j++)
        memcpy(w->xs + j * SCEN_IN, w->xk + w->perm[j] * SCEN_IN, SCEN_IN * sizeof(float));
    if (rc == CTR_OK) rc = ctr_encoder_forward(m->k, w->ks, w->xs, big, CTR_ENCODER_TRAIN);
    for (j = 0; j < big && rc == CTR_OK; j++)
        memcpy(w->k + w->perm[j] * SCEN_OUT, w->ks + j * SCEN_OUT, SCEN_OUT * sizeof(float));
    if (rc == CTR_OK)
        rc = ctr_objective_infonce_queue(obj, loss, w->q, SCEN_OUT, w->k, SCEN_OUT, big,
                                         SCEN_OUT, m->queue, NULL, w->gq, NULL);
    if (rc == CTR_OK) rc = ctr_encoder_zero_grad(m->q);
    if (rc == CTR_OK) rc = ctr_encoder_backward(m->q, NULL, w->gq);
    if (rc == CTR_OK) rc = moco_finish(m);
    if (rc == CTR_OK) rc = ctr_queue_enqueue(m->queue, w->k, big, SCEN_OUT, NULL);
    return rc;
}

/* Rank r on its b rows: shuffle BN across ranks, its queries' mean loss,
 * gradients averaged by sample count, keys gathered into every queue. */
static inline int moco_dist_step(moco_side *m, moco_bufs *w, ctr_objective *obj,
                                 ctr_comm *comm, int64_t rank, double *loss)
{
    const int64_t b = w->b;
    float l = 0.0f;
    double local = 0.0;
    int rc = ctr_encoder_forward(m->q, w->q, w->xq + rank * b * SCEN_IN, b, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = ctr_comm_shuffle_rows(comm, m->rng, w->perm, w->xs,
                                   w->xk + rank * b * SCEN_IN, b, SCEN_IN);
    if (rc == CTR_OK) rc = ctr_encoder_forward(m->k, w->ks, w->xs, b, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK) rc = ctr_comm_unshuffle_rows(comm, w->perm, w->k, w->ks, b, SCEN_OUT);
    if (rc == CTR_OK)
        rc = ctr_objective_infonce_queue(obj, &local, w->q, SCEN_OUT, w->k, SCEN_OUT, b,
                                         SCEN_OUT, m->queue, NULL, w->gq, NULL);
    l = (float)local;
    if (rc == CTR_OK) rc = ctr_comm_average_f32(comm, &l, 1, (double)b);
    if (rc == CTR_OK) rc = ctr_encoder_zero_grad(m->q);
    if (rc == CTR_OK) rc = ctr_encoder_backward(m->q, NULL, w->gq);
    if (rc == CTR_OK) rc = ctr_comm_encoder_grads(comm, m->q, CTR_COMM_MEAN, (double)b);
    if (rc == CTR_OK) rc = moco_finish(m);
    if (rc == CTR_OK) rc = ctr_comm_queue_enqueue(comm, m->queue, w->k, b, SCEN_OUT, NULL);
    *loss = (double)l;
    return rc;
}

static inline void moco_fill(moco_bufs *w, int64_t step)
{
    int64_t i;
    for (i = 0; i < w->big * SCEN_IN; i++) {
        w->xq[i] = scen_input(step, 0, i / SCEN_IN, i % SCEN_IN);
        w->xk[i] = scen_input(step, 1, i / SCEN_IN, i % SCEN_IN);
    }
}

/* MoCo with shuffle BN: R ranks of b queries against one process with
 * B = R b, SCEN_STEPS steps; loss, query-encoder parameters and the queue
 * compared. */
static inline void scen_moco(ctr_comm *comm, int64_t b, scen_result *res)
{
    moco_side ref, dist;
    moco_bufs w, wd;
    ctr_objective *obj = NULL;
    int64_t rank = 0, size = 1, step, n = 0;
    const float *qa, *qb;
    float *pa = NULL, *pb = NULL;
    memset(res, 0, sizeof(*res));
    memset(&ref, 0, sizeof(ref));
    memset(&dist, 0, sizeof(dist));
    ctr_comm_rank(comm, &rank);
    ctr_comm_size(comm, &size);
    w.b = wd.b = b, w.big = wd.big = b * size;
    {
        float **fb[7] = {&w.xq, &w.xk, &w.xs, &w.q, &w.k, &w.ks, &w.gq};
        float **fd[7] = {&wd.xq, &wd.xk, &wd.xs, &wd.q, &wd.k, &wd.ks, &wd.gq};
        int i;
        for (i = 0; i < 7; i++) {
            *fb[i] = (float *)calloc((size_t)(w.big * (SCEN_IN + SCEN_OUT)), sizeof(float));
            *fd[i] = (float *)calloc((size_t)(w.big * (SCEN_IN + SCEN_OUT)), sizeof(float));
        }
        w.perm = (int64_t *)calloc((size_t)w.big, sizeof(int64_t));
        wd.perm = (int64_t *)calloc((size_t)w.big, sizeof(int64_t));
    }
    res->rc = moco_side_init(&ref, size, 1);
    if (res->rc == CTR_OK) res->rc = moco_side_init(&dist, 1, rank == 0);
    if (res->rc == CTR_OK) res->rc = ctr_objective_create(&obj, CTR_OBJECTIVE_INFONCE_SHARED, NULL);
    if (res->rc == CTR_OK) res->rc = ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE, 1);
    if (res->rc == CTR_OK) res->rc = ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, 0.2);
    for (step = 0; step < SCEN_STEPS && res->rc == CTR_OK; step++) {
        double lr = 0.0, ld = 0.0;
        moco_fill(&w, step);
        moco_fill(&wd, step);
        res->rc = moco_ref_step(&ref, &w, obj, &lr);
        if (res->rc == CTR_OK)
            res->rc = moco_dist_step(&dist, &wd, obj, comm, rank, &ld);
        if (res->rc != CTR_OK)
            snprintf(res->msg, sizeof(res->msg), "step %lld: %s", (long long)step,
                     ctr_comm_last_error(comm));
        else if (fabs(ld - lr) / fabs(lr) > res->loss_rel)
            res->loss_rel = fabs(ld - lr) / fabs(lr);
        res->loss_last = lr;
    }
    if (res->rc == CTR_OK) {
        ctr_encoder_num_params(ref.q, &n);
        pa = (float *)calloc((size_t)n, sizeof(float));
        pb = (float *)calloc((size_t)n, sizeof(float));
        ctr_encoder_get_params(ref.q, pa, n);
        ctr_encoder_get_params(dist.q, pb, n);
        res->param_rel = scen_rel(pb, pa, n);
        ctr_queue_keys(ref.queue, &qa, NULL, NULL);
        ctr_queue_keys(dist.queue, &qb, NULL, NULL);
        res->grad_rel = scen_rel(qb, qa, MOCO_K * SCEN_OUT); /* the queues */
    }
    free(pa), free(pb);
    {
        float *fb[7] = {w.xq, w.xk, w.xs, w.q, w.k, w.ks, w.gq};
        float *fd[7] = {wd.xq, wd.xk, wd.xs, wd.q, wd.k, wd.ks, wd.gq};
        int i;
        for (i = 0; i < 7; i++)
            free(fb[i]), free(fd[i]);
        free(w.perm), free(wd.perm);
    }
    ctr_objective_destroy(obj);
    moco_side_free(&ref);
    moco_side_free(&dist);
}

#endif /* CTR_TEST_DIST_SCENARIO_H */
