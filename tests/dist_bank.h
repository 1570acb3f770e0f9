/*
 * dist_bank.h - the equivalence scenario of Instance Discrimination with a
 * memory bank sharded over the ranks, shared by the in-process suite
 * (tests/check_comm_bank.c) and the MPI test (tests/mpi/mpi_equiv.c).
 * Each rank trains its replica with its shard (ctr_comm_bank_create,
 * _sample, ctr_comm_nce or ctr_comm_bank_softmax, CTR_COMM_SUM,
 * ctr_comm_bank_update) AND one process's run on the global batch with the
 * whole bank (ctr_bank_*, ctr_objective_nce / _bank_softmax, BN groups =
 * ranks), and reports how far apart they are.
 */
#ifndef CTR_TEST_DIST_BANK_H
#define CTR_TEST_DIST_BANK_H

#include "dist_scenario.h"

#define BANK_N 37 /* not a multiple of 2, 3 or 4: uneven shards */
#define BANK_KN 6
#define BANK_SEED 5
#ifndef BANK_LR
#define BANK_LR 0.1
#endif
#define BANK_NOISE_DIFFERS (-1000) /* the shards drew other noise */

/* What the scenario trains: NCE (Z fixed or EMA) or the full softmax. */
typedef struct bank_cfg {
    int32_t kind;   /* CTR_OBJECTIVE_NCE or CTR_OBJECTIVE_BANK_SOFTMAX */
    int64_t z_mode; /* CTR_NCE_Z_FIXED or CTR_NCE_Z_EMA */
    int64_t b;      /* per rank */
} bank_cfg;

typedef struct bank_state {
    bank_cfg cfg;
    int64_t rank, size, big, first, count, n_params;
    ctr_encoder *ref, *dist;
    ctr_optimizer *ref_opt, *dist_opt;
    ctr_objective *ref_obj, *dist_obj;
    ctr_bank *whole, *shard;
    float *x, *y, *gy, *yl, *gyl, *pa, *pb;
    int64_t *idx, *noise, *noise_l;
} bank_state;

static inline int bank_objective(ctr_objective **o, const bank_cfg *c)
{
    int rc = ctr_objective_create(o, c->kind, NULL);
    if (rc == CTR_OK)
        rc = ctr_objective_set_f64(*o, CTR_OBJECTIVE_P_TEMPERATURE, 0.2);
    if (rc == CTR_OK)
        rc = ctr_objective_set_i64(*o, CTR_OBJECTIVE_P_NORMALIZE, 1);
    if (rc == CTR_OK)
        rc = ctr_objective_set_i64(*o, CTR_OBJECTIVE_P_TILE, 8);
    if (rc == CTR_OK && c->kind == CTR_OBJECTIVE_NCE)
        rc = ctr_objective_set_i64(*o, CTR_OBJECTIVE_P_NCE_Z_MODE, c->z_mode);
    return rc;
}

static inline int bank_setup(bank_state *s, ctr_comm *comm, const bank_cfg *c)
{
    int rc;
    s->cfg = *c;
    ctr_comm_rank(comm, &s->rank);
    ctr_comm_size(comm, &s->size);
    s->big = c->b * s->size;
    rc = scen_encoder(&s->ref, 42, s->size);
    if (rc == CTR_OK)
        rc = scen_encoder(&s->dist, 42, 1);
    if (rc == CTR_OK)
        rc = scen_optimizer(&s->ref_opt, s->ref);
    if (rc == CTR_OK)
        rc = scen_optimizer(&s->dist_opt, s->dist);
    if (rc == CTR_OK) /* SimCLR's 0.5 amplifies rounding chaotically here */
        rc = ctr_optimizer_set_f64(s->ref_opt, CTR_OPTIMIZER_P_LR, BANK_LR);
    if (rc == CTR_OK)
        rc = ctr_optimizer_set_f64(s->dist_opt, CTR_OPTIMIZER_P_LR, BANK_LR);
    if (rc == CTR_OK)
        rc = bank_objective(&s->ref_obj, c);
    if (rc == CTR_OK)
        rc = bank_objective(&s->dist_obj, c);
    if (rc == CTR_OK)
        rc = ctr_bank_create(&s->whole, BANK_N, SCEN_OUT, BANK_SEED, NULL);
    if (rc == CTR_OK)
        rc = ctr_comm_bank_create(comm, &s->shard, BANK_N, SCEN_OUT, BANK_SEED, NULL);
    if (rc == CTR_OK)
        rc = ctr_comm_bank_range(comm, BANK_N, s->rank, &s->first, &s->count);
    if (rc == CTR_OK)
        rc = ctr_encoder_num_params(s->ref, &s->n_params);
    s->x = (float *)calloc((size_t)(s->big * SCEN_IN), sizeof(float));
    s->y = (float *)calloc((size_t)(s->big * SCEN_OUT), sizeof(float));
    s->gy = (float *)calloc((size_t)(s->big * SCEN_OUT), sizeof(float));
    s->yl = (float *)calloc((size_t)(c->b * SCEN_OUT), sizeof(float));
    s->gyl = (float *)calloc((size_t)(c->b * SCEN_OUT), sizeof(float));
    s->pa = (float *)calloc((size_t)s->n_params + BANK_N * SCEN_OUT, sizeof(float));
    s->pb = (float *)calloc((size_t)s->n_params + BANK_N * SCEN_OUT, sizeof(float));
    s->idx = (int64_t *)calloc((size_t)s->big, sizeof(int64_t));
    s->noise = (int64_t *)calloc((size_t)(s->big * BANK_KN), sizeof(int64_t));
    s->noise_l = (int64_t *)calloc((size_t)(c->b * BANK_KN), sizeof(int64_t));
    return rc;
}

static inline void bank_free(bank_state *s)
{
    float *f[7] = {s->x, s->y, s->gy, s->yl, s->gyl, s->pa, s->pb};
    int i;
    for (i = 0; i < 7; i++)
        free(f[i]);
    free(s->idx), free(s->noise), free(s->noise_l);
    ctr_optimizer_destroy(s->ref_opt), ctr_optimizer_destroy(s->dist_opt);
    ctr_encoder_destroy(s->ref), ctr_encoder_destroy(s->dist);
    ctr_objective_destroy(s->ref_obj), ctr_objective_destroy(s->dist_obj);
    ctr_bank_destroy(s->whole), ctr_bank_destroy(s->shard);
}

/* Step inputs: instance ids (repeats inside a batch included) and x. */
static inline void bank_fill(bank_state *s, int64_t step)
{
    int64_t g, j;
    for (g = 0; g < s->big; g++) {
        s->idx[g] = (step * 11 + g * 3 + (g == 1 ? 0 : g / 2)) % BANK_N;
        for (j = 0; j < SCEN_IN; j++)
            s->x[g * SCEN_IN + j] = scen_input(step, 0, s->idx[g], j);
    }
    if (s->big > 2) /* one instance twice in the batch (two updates) */
        s->idx[s->big - 1] = s->idx[0];
}

static inline int bank_loss_ref(bank_state *s, double *loss)
{
    const float *rows = NULL;
    int rc = ctr_bank_rows(s->whole, &rows, NULL, NULL);
    if (rc == CTR_OK && s->cfg.kind == CTR_OBJECTIVE_NCE)
        rc = ctr_bank_sample(s->whole, s->noise, s->big, BANK_KN, s->idx);
    if (rc == CTR_OK && s->cfg.kind == CTR_OBJECTIVE_NCE)
        return ctr_objective_nce(s->ref_obj, loss, s->y, SCEN_OUT, s->big,
                                 SCEN_OUT, rows, SCEN_OUT, BANK_N, s->idx,
                                 s->noise, BANK_KN, s->gy);
    if (rc == CTR_OK)
        rc = ctr_objective_bank_softmax(s->ref_obj, loss, s->y, SCEN_OUT,
                                        s->big, SCEN_OUT, rows, SCEN_OUT,
                                        BANK_N, s->idx, s->gy);
    return rc;
}

/* One process: the whole batch, the whole bank. */
static inline int bank_ref_step(bank_state *s, double *loss)
{
    int rc = ctr_encoder_forward(s->ref, s->y, s->x, s->big, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = bank_loss_ref(s, loss);
    if (rc == CTR_OK)
        rc = ctr_encoder_zero_grad(s->ref);
    if (rc == CTR_OK)
        rc = ctr_encoder_backward(s->ref, NULL, s->gy);
    if (rc == CTR_OK)
        rc = ctr_optimizer_step(s->ref_opt);
    if (rc == CTR_OK) /* the raw outputs: the update normalises the mix */
        rc = ctr_bank_update(s->whole, s->idx, s->big, s->y, SCEN_OUT);
    return rc;
}

static inline int bank_loss_dist(bank_state *s, ctr_comm *comm, double *loss)
{
    const int64_t b = s->cfg.b, *idx = s->idx + s->rank * b;
    int rc = CTR_OK;
    if (s->cfg.kind == CTR_OBJECTIVE_NCE) {
        rc = ctr_comm_bank_sample(comm, s->shard, BANK_N, s->noise_l, b,
                                  BANK_KN, idx);
        if (rc == CTR_OK && memcmp(s->noise_l, s->noise + s->rank * b * BANK_KN,
                                   sizeof(int64_t) * (size_t)(b * BANK_KN)) != 0)
            return BANK_NOISE_DIFFERS;
        if (rc == CTR_OK)
            rc = ctr_comm_nce(comm, s->dist_obj, loss, s->yl, SCEN_OUT, b,
                              SCEN_OUT, s->shard, BANK_N, idx, s->noise_l,
                              BANK_KN, s->gyl);
        return rc;
    }
    return ctr_comm_bank_softmax(comm, s->dist_obj, loss, s->yl, SCEN_OUT, b,
                                 SCEN_OUT, s->shard, BANK_N, idx, s->gyl);
}

/* R ranks: the rank's block, its shard. */
static inline int bank_dist_step(bank_state *s, ctr_comm *comm, double *loss)
{
    const int64_t b = s->cfg.b;
    int rc = ctr_encoder_forward(s->dist, s->yl, s->x + s->rank * b * SCEN_IN,
                                 b, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = bank_loss_dist(s, comm, loss);
    if (rc == CTR_OK)
        rc = ctr_encoder_zero_grad(s->dist);
    if (rc == CTR_OK)
        rc = ctr_encoder_backward(s->dist, NULL, s->gyl);
    if (rc == CTR_OK)
        rc = ctr_comm_encoder_grads(comm, s->dist, CTR_COMM_SUM, 0.0);
    if (rc == CTR_OK)
        rc = ctr_optimizer_step(s->dist_opt);
    if (rc == CTR_OK)
        rc = ctr_comm_bank_update(comm, s->shard, BANK_N, s->idx + s->rank * b,
                                  b, s->yl, SCEN_OUT);
    return rc;
}

/* The final distance: parameters, and this rank's shard against its rows
 * of the whole bank (both into param_rel). */
static inline void bank_final(bank_state *s, scen_result *res)
{
    const float *whole = NULL, *mine = NULL;
    ctr_encoder_get_params(s->ref, s->pa, s->n_params);
    ctr_encoder_get_params(s->dist, s->pb, s->n_params);
    res->param_rel = scen_rel(s->pb, s->pa, s->n_params);
    ctr_bank_rows(s->whole, &whole, NULL, NULL);
    ctr_bank_rows(s->shard, &mine, NULL, NULL);
    res->grad_rel = fmax(res->grad_rel,
                         scen_rel(mine, whole + s->first * SCEN_OUT,
                                  s->count * SCEN_OUT));
}

/* Instance Discrimination: SCEN_STEPS steps, R ranks x b against one
 * process x R b. loss_rel: every step's loss; grad_rel: the step-0
 * encoder gradients and the final bank rows; param_rel: the final
 * parameters. */
static inline void scen_bank(ctr_comm *comm, const bank_cfg *c, scen_result *res)
{
    bank_state s;
    int64_t step;
    double lr = 0.0, ld = 0.0;
    memset(&s, 0, sizeof(s));
    memset(res, 0, sizeof(*res));
    res->rc = bank_setup(&s, comm, c);
    if (res->rc != CTR_OK)
        snprintf(res->msg, sizeof(res->msg), "setup: %s", ctr_comm_last_error(comm));
    for (step = 0; step < SCEN_STEPS && res->rc == CTR_OK; step++) {
        bank_fill(&s, step);
        res->rc = bank_ref_step(&s, &lr);
        if (res->rc == CTR_OK && step == 0)
            ctr_encoder_get_grads(s.ref, s.pa, s.n_params);
        if (res->rc == CTR_OK)
            res->rc = bank_dist_step(&s, comm, &ld);
        if (res->rc != CTR_OK) {
            snprintf(res->msg, sizeof(res->msg), "step %lld: %s",
                     (long long)step, ctr_comm_last_error(comm));
            break;
        }
        if (step == 0) {
            ctr_encoder_get_grads(s.dist, s.pb, s.n_params);
            res->grad_rel = scen_rel(s.pb, s.pa, s.n_params);
        }
        res->loss_rel = fmax(res->loss_rel, fabs(ld - lr) / fabs(lr));
        res->loss_last = lr;
    }
    if (res->rc == CTR_OK)
        bank_final(&s, res);
    bank_free(&s);
}

#endif /* CTR_TEST_DIST_BANK_H */
