/*
 * check_comm_equiv.c - data-parallel training equals one process: the
 * cross-replica NT-Xent of R ranks with b pairs each against
 * ctr_objective_ntxent on the B = R b pairs (loss and every gradient row,
 * including the terms other ranks' anchors send back), the encoder's
 * gradient sum and weighted mean, and 20 training steps of SimCLR
 * (dist_scenario.h) - all over the in-process transport (comm_fake.h),
 * ranks as threads. tests/mpi/ runs the same scenarios under mpirun.
 */
#include <stdio.h>
#include <string.h>

#include "comm_fake.h"
#include "dist_scenario.h"
#include "test_util.h"

#define NT_D 5
#define NT_LD 7 /* the global views are stored with a wider row */
#define NT_MAX_B 24

typedef struct nt_ctx {
    int64_t b; /* per rank */
    int normalize;
    double tau;
    float z1[NT_MAX_B * NT_LD], z2[NT_MAX_B * NT_LD];
    int64_t bad_rank; /* a rank that passes bad input, or -1 */
    int bad_kind;     /* 1: NaN, 2: other b, 3: wrong objective, 4: one grad */
    int32_t kind;     /* NTXENT (0 means NTXENT) or INFONCE */
    int symmetric;
    int decoupled;    /* CTR_OBJECTIVE_P_DECOUPLED */
} nt_ctx;

typedef struct nt_result {
    int rc;
    double loss;
    float g1[NT_MAX_B * NT_D], g2[NT_MAX_B * NT_D];
    char msg[256];
} nt_result;

static void nt_fill(nt_ctx *c, int64_t big)
{
    int64_t i;
    for (i = 0; i < big * NT_LD; i++) {
        c->z1[i] = scen_input(7, 0, i / NT_LD, i % NT_LD) * 2.0f;
        c->z2[i] = c->z1[i] + 0.5f * scen_input(7, 1, i / NT_LD, i % NT_LD);
    }
}

static ctr_objective *nt_objective(int32_t kind, int normalize, double tau)
{
    ctr_objective *obj = NULL;
    ck_assert_int_eq(ctr_objective_create(&obj, kind, NULL), CTR_OK);
    if (kind == CTR_OBJECTIVE_NTXENT) {
        ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE, normalize), CTR_OK);
        ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, tau), CTR_OK);
    }
    return obj;
}

static void nt_rank(ctr_comm *comm, int64_t rank, int64_t size, void *ctxp,
                    void *out)
{
    nt_ctx *c = (nt_ctx *)ctxp;
    nt_result *res = (nt_result *)out;
    const int bad = rank == c->bad_rank ? c->bad_kind : 0;
    ctr_objective *obj = NULL;
    float z1[NT_MAX_B * NT_LD];
    int64_t b = c->b;
    (void)size;
    memcpy(z1, c->z1 + rank * b * NT_LD, (size_t)(b * NT_LD) * sizeof(float));
    if (bad == 1)
        z1[NT_LD + 1] = NAN;
    if (bad == 2)
        b = b - 1;
    const int32_t kind = c->kind == CTR_OBJECTIVE_INFONCE ? CTR_OBJECTIVE_INFONCE
                                                          : CTR_OBJECTIVE_NTXENT;
    ctr_objective_create(&obj, bad == 3 ? CTR_OBJECTIVE_NPAIR : kind, NULL);
    ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE, c->normalize);
    ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, c->tau);
    ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_SYMMETRIC, c->symmetric);
    ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_DECOUPLED, c->decoupled);
    res->loss = -1.0;
    res->rc = (kind == CTR_OBJECTIVE_INFONCE ? ctr_comm_infonce : ctr_comm_ntxent)(
        comm, obj, &res->loss, z1, NT_LD, c->z2 + rank * c->b * NT_LD, NT_LD,
        b, NT_D, res->g1, bad == 4 ? NULL : res->g2);
    snprintf(res->msg, sizeof(res->msg), "%s", ctr_comm_last_error(comm));
    ctr_objective_destroy(obj);
}

/* R ranks of b pairs against one call on R b pairs (kind NTXENT, or
 * INFONCE with symmetric 0/1), with the decoupled loss (DCL) or not. */
static void check_dcl_equal(int32_t kind, int symmetric, int decoupled,
                            int64_t size, int64_t b, int normalize, double tau)
{
    static nt_ctx c;
    static nt_result res[FAKE_MAX_RANKS];
    const int64_t big = size * b;
    float g1[NT_MAX_B * NT_D], g2[NT_MAX_B * NT_D];
    ctr_objective *obj = nt_objective(kind, normalize, tau);
    double loss = 0.0;
    int64_t r;
    ck_assert_int_le(big, NT_MAX_B);
    memset(&c, 0, sizeof(c));
    c.b = b, c.normalize = normalize, c.tau = tau, c.bad_rank = -1;
    c.kind = kind, c.symmetric = symmetric, c.decoupled = decoupled;
    nt_fill(&c, big);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_DECOUPLED, decoupled), CTR_OK);
    if (kind == CTR_OBJECTIVE_INFONCE) {
        ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE, normalize), CTR_OK);
        ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, tau), CTR_OK);
        ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_SYMMETRIC, symmetric), CTR_OK);
        ck_assert_int_eq(ctr_objective_infonce(obj, &loss, c.z1, NT_LD, c.z2,
                                               NT_LD, big, NT_D, NULL, g1, g2),
                         CTR_OK);
    } else {
        ck_assert_int_eq(ctr_objective_ntxent(obj, &loss, c.z1, NT_LD, c.z2,
                                              NT_LD, big, NT_D, NULL, g1, g2),
                         CTR_OK);
    }
    ck_assert_int_eq(fake_run(size, nt_rank, &c, res, sizeof(res[0]), -1, -1), size);
    for (r = 0; r < size; r++) {
        ck_assert_msg(res[r].rc == CTR_OK, "rank %lld: %s", (long long)r, res[r].msg);
        ck_assert_close(res[r].loss, loss, 1e-5, 0.0);
        ck_assert_double_le(scen_rel(res[r].g1, g1 + r * b * NT_D, b * NT_D), 1e-5);
        ck_assert_double_le(scen_rel(res[r].g2, g2 + r * b * NT_D, b * NT_D), 1e-5);
    }
    ctr_objective_destroy(obj);
}

static void check_kind_equal(int32_t kind, int symmetric, int64_t size,
                             int64_t b, int normalize, double tau)
{
    check_dcl_equal(kind, symmetric, 0, size, b, normalize, tau);
}

static void check_ntxent_equal(int64_t size, int64_t b, int normalize,
                               double tau)
{
    check_kind_equal(CTR_OBJECTIVE_NTXENT, 0, size, b, normalize, tau);
}

/* In-batch InfoNCE (CPC, CURL) across ranks, one and both directions. */
START_TEST(test_infonce_equal)
{
    check_kind_equal(CTR_OBJECTIVE_INFONCE, 0, 2, 4, 1, 0.1);
    check_kind_equal(CTR_OBJECTIVE_INFONCE, 1, 3, 4, 1, 0.2);
    check_kind_equal(CTR_OBJECTIVE_INFONCE, 0, 4, 3, 0, 0.5);
    check_kind_equal(CTR_OBJECTIVE_INFONCE, 1, 4, 6, 0, 1.0);
}
END_TEST

/* The decoupled contrastive loss (DCL): the positive out of the softmax,
 * across ranks as in one process; a global batch of one pair has no
 * negative and is refused on every rank. */
START_TEST(test_decoupled_equal)
{
    static nt_ctx c;
    static nt_result res[FAKE_MAX_RANKS];
    check_dcl_equal(CTR_OBJECTIVE_NTXENT, 0, 1, 2, 4, 1, 0.5);
    check_dcl_equal(CTR_OBJECTIVE_NTXENT, 0, 1, 4, 1, 1, 0.1);
    check_dcl_equal(CTR_OBJECTIVE_NTXENT, 0, 1, 3, 4, 0, 0.2);
    check_dcl_equal(CTR_OBJECTIVE_INFONCE, 1, 1, 2, 3, 1, 0.2);
    check_dcl_equal(CTR_OBJECTIVE_INFONCE, 0, 1, 4, 2, 0, 0.5);
    memset(&c, 0, sizeof(c));
    c.b = 1, c.normalize = 1, c.tau = 0.5, c.bad_rank = -1, c.decoupled = 1;
    nt_fill(&c, 1);
    ck_assert_int_eq(fake_run(1, nt_rank, &c, res, sizeof(res[0]), -1, -1), 1);
    ck_assert_int_eq(res[0].rc, CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(res[0].msg, "DECOUPLED"));
}
END_TEST

START_TEST(test_ntxent_two_ranks)
{
    check_ntxent_equal(2, 4, 1, 0.5);
    check_ntxent_equal(2, 1, 1, 0.1);
}
END_TEST

START_TEST(test_ntxent_more_ranks)
{
    check_ntxent_equal(3, 4, 1, 0.2);
    check_ntxent_equal(4, 3, 0, 0.5); /* without normalisation */
    check_ntxent_equal(4, 6, 1, 0.07);
    check_ntxent_equal(1, 8, 1, 0.5); /* one rank: the plain call */
}
END_TEST

/* Without the all-reduce of the key terms (the common bug) a rank's
 * gradient would be only its anchors' part: check that the part other
 * ranks send back is not small, so the test above would catch the bug. */
START_TEST(test_ntxent_remote_terms_matter)
{
    static nt_ctx c;
    const int64_t b = 4, big = 8;
    float g1[NT_MAX_B * NT_D], g2[NT_MAX_B * NT_D];
    float h1[NT_MAX_B * NT_D], h2[NT_MAX_B * NT_D];
    ctr_objective *obj = nt_objective(CTR_OBJECTIVE_NTXENT, 1, 0.5);
    double loss = 0.0, loss0 = 0.0;
    memset(&c, 0, sizeof(c));
    nt_fill(&c, big);
    ck_assert_int_eq(ctr_objective_ntxent(obj, &loss, c.z1, NT_LD, c.z2,
                                          NT_LD, big, NT_D, NULL, g1, g2), CTR_OK);
    /* rank 0's rows alone, as a rank that dropped the others' terms sees */
    ck_assert_int_eq(ctr_objective_ntxent(obj, &loss0, c.z1, NT_LD, c.z2,
                                          NT_LD, b, NT_D, NULL, h1, h2), CTR_OK);
    ck_assert_double_gt(scen_rel(h1, g1, b * NT_D), 1e-2);
    ctr_objective_destroy(obj);
}
END_TEST

/* Bad input on one rank: the same error on every rank, nothing written. */
static void check_bad(int bad_kind, int64_t bad_rank, int want)
{
    static nt_ctx c;
    static nt_result res[3];
    int64_t r;
    memset(&c, 0, sizeof(c));
    memset(res, 0, sizeof(res));
    c.b = 4, c.normalize = 1, c.tau = 0.5;
    c.bad_rank = bad_rank, c.bad_kind = bad_kind;
    nt_fill(&c, 12);
    ck_assert_int_eq(fake_run(3, nt_rank, &c, res, sizeof(res[0]), -1, -1), 3);
    for (r = 0; r < 3; r++) {
        ck_assert_msg(res[r].rc == want, "kind %d rank %lld: %d %s", bad_kind,
                      (long long)r, res[r].rc, res[r].msg);
        ck_assert_double_eq(res[r].loss, -1.0);
        ck_assert_float_eq(res[r].g1[0], 0.0f);
        if (r != bad_rank)
            ck_assert_msg(strstr(res[r].msg, "rank") != NULL, "%s", res[r].msg);
    }
}

START_TEST(test_ntxent_bad_input_everywhere)
{
    check_bad(1, 1, CTR_E_NUMERIC);
    check_bad(2, 2, CTR_E_SHAPE);
    check_bad(3, 0, CTR_E_INVALID_ARG);
    check_bad(4, 1, CTR_E_INVALID_ARG);
}
END_TEST

START_TEST(test_ntxent_failing_allocator)
{
    static nt_ctx c;
    static nt_result res[2];
    test_alloc_state s;
    ctr_allocator a;
    memset(&c, 0, sizeof(c));
    c.b = 3, c.normalize = 1, c.tau = 0.5, c.bad_rank = -1;
    nt_fill(&c, 6);
    test_alloc_setup(&a, &s);
    test_alloc_fail_at(&s, 2, 0); /* create takes two blocks; the workspace */
    ck_assert_int_eq(fake_run_alloc(2, nt_rank, &c, res, sizeof(res[0]), -1,
                                    -1, &a, 1), 2);
    ck_assert_int_eq(res[0].rc, CTR_E_NOMEM);
    ck_assert_int_eq(res[1].rc, CTR_E_NOMEM);
    ck_assert_msg(strstr(res[0].msg, "rank 1 failed") != NULL, "%s", res[0].msg);
    ck_assert_int_eq(s.live_blocks, 0);
}
END_TEST

START_TEST(test_ntxent_failing_callback)
{
    static nt_ctx c;
    static nt_result res[2];
    memset(&c, 0, sizeof(c));
    c.b = 3, c.normalize = 1, c.tau = 0.5, c.bad_rank = -1;
    nt_fill(&c, 6);
    /* rank 0's third callback is the all-reduce of the gradients, the
     * call's last: the fake still takes part, so rank 1 finishes (a
     * transport that fails earlier on one rank leaves the others waiting
     * in the next collective, as MPI would: docs/distributed.md) */
    ck_assert_int_eq(fake_run(2, nt_rank, &c, res, sizeof(res[0]), 0, 2), 2);
    ck_assert_int_eq(res[0].rc, CTR_E_COMM);
    ck_assert_double_eq(res[0].loss, -1.0);
    ck_assert_ptr_nonnull(strstr(res[0].msg, "ctr_comm_ntxent"));
}
END_TEST

/* ---- the encoder ------------------------------------------------------------------ */

typedef struct mean_result {
    int rc[3];
    float grads[512];
    int64_t n;
    char msg[256];
} mean_result;

/* loss = mean over the rank's samples of |f(x)|^2 / 2; rank r has r + 2
 * samples (unequal), CTR_COMM_MEAN weighted by them. */
static void mean_rank(ctr_comm *comm, int64_t rank, int64_t size, void *ctx,
                      void *out)
{
    mean_result *res = (mean_result *)out;
    const int64_t dims[1] = {SCEN_IN}, n = rank + 2;
    int64_t first = 0, r, i;
    ctr_encoder *e = NULL;
    float x[16 * SCEN_IN], y[16 * SCEN_OUT];
    (void)ctx;
    for (r = 0; r < rank; r++)
        first += r + 2;
    for (i = 0; i < n * SCEN_IN; i++)
        x[i] = scen_input(3, 0, first + i / SCEN_IN, i % SCEN_IN);
    ctr_encoder_create(&e, dims, 1, 5, NULL);
    ctr_encoder_add_linear(e, SCEN_HID, 1);
    ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    ctr_encoder_add_linear(e, SCEN_OUT, 1);
    res->rc[0] = ctr_encoder_forward(e, y, x, n, CTR_ENCODER_TRAIN);
    for (i = 0; i < n * SCEN_OUT; i++)
        y[i] /= (float)n;
    res->rc[1] = ctr_encoder_backward(e, NULL, y);
    res->rc[2] = ctr_comm_encoder_grads(comm, e, CTR_COMM_MEAN, (double)n);
    ctr_encoder_num_params(e, &res->n);
    ctr_encoder_get_grads(e, res->grads, res->n);
    snprintf(res->msg, sizeof(res->msg), "%s", ctr_comm_last_error(comm));
    (void)size;
    ctr_encoder_destroy(e);
}

START_TEST(test_encoder_grads_weighted_mean)
{
    static mean_result res[3];
    const int64_t dims[1] = {SCEN_IN}, total = 2 + 3 + 4;
    ctr_encoder *e = NULL;
    float x[16 * SCEN_IN], y[16 * SCEN_OUT], g[512];
    int64_t i, r, n;
    for (i = 0; i < total * SCEN_IN; i++)
        x[i] = scen_input(3, 0, i / SCEN_IN, i % SCEN_IN);
    ck_assert_int_eq(ctr_encoder_create(&e, dims, 1, 5, NULL), CTR_OK);
    ctr_encoder_add_linear(e, SCEN_HID, 1);
    ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    ctr_encoder_add_linear(e, SCEN_OUT, 1);
    ck_assert_int_eq(ctr_encoder_forward(e, y, x, total, CTR_ENCODER_TRAIN), CTR_OK);
    for (i = 0; i < total * SCEN_OUT; i++)
        y[i] /= (float)total;
    ck_assert_int_eq(ctr_encoder_backward(e, NULL, y), CTR_OK);
    ctr_encoder_num_params(e, &n);
    ck_assert_int_le(n, 512);
    ctr_encoder_get_grads(e, g, n);
    ck_assert_int_eq(fake_run(3, mean_rank, NULL, res, sizeof(res[0]), -1, -1), 3);
    for (r = 0; r < 3; r++) {
        ck_assert_msg(res[r].rc[2] == CTR_OK, "%s", res[r].msg);
        ck_assert_int_eq(res[r].n, n);
        ck_assert_msg(scen_rel(res[r].grads, g, n) <= 1e-6, "rank %lld: %g; %g %g %g vs %g %g %g", (long long)r, scen_rel(res[r].grads, g, n), res[r].grads[0], res[r].grads[1], res[r].grads[n-1], g[0], g[1], g[n-1]);
    }
    ctr_encoder_destroy(e);
}
END_TEST

static void grads_bad_rank(ctr_comm *comm, int64_t rank, int64_t size,
                           void *ctx, void *out)
{
    mean_result *res = (mean_result *)out;
    const int64_t dims[1] = {SCEN_IN};
    ctr_encoder *e = NULL;
    (void)ctx;
    (void)size;
    ctr_encoder_create(&e, dims, 1, 5, NULL);
    ctr_encoder_add_linear(e, rank == 1 ? SCEN_HID + 1 : SCEN_HID, 1);
    res->rc[0] = ctr_comm_encoder_grads(comm, e, CTR_COMM_SUM, 0.0);
    res->rc[1] = ctr_comm_encoder_broadcast(comm, e, 0);
    res->rc[2] = ctr_comm_encoder_grads(comm, e, rank == 0 ? 3 : CTR_COMM_SUM, 0.0);
    snprintf(res->msg, sizeof(res->msg), "%s", ctr_comm_last_error(comm));
    ctr_encoder_destroy(e);
}

START_TEST(test_encoder_mismatch_everywhere)
{
    static mean_result res[2];
    int64_t r;
    ck_assert_int_eq(fake_run(2, grads_bad_rank, NULL, res, sizeof(res[0]), -1, -1), 2);
    for (r = 0; r < 2; r++) {
        ck_assert_int_eq(res[r].rc[0], CTR_E_SHAPE);
        ck_assert_int_eq(res[r].rc[1], CTR_E_SHAPE);
        ck_assert_int_eq(res[r].rc[2], CTR_E_INVALID_ARG);
    }
}
END_TEST

/* ---- MoCo: keys gathered before the enqueue ------------------------------------------ */

#define QK 10 /* capacity: the 3 steps of 3 x 2 keys wrap around */
#define QD 4
#define QN 2

typedef struct queue_result {
    int rc[4];
    float keys[QK * QD];
    int64_t ids[QK];
    char msg[256];
} queue_result;

static float queue_key(int64_t step, int64_t row, int64_t j)
{
    return scen_input(step, 2, row, j);
}

static void queue_rank(ctr_comm *comm, int64_t rank, int64_t size, void *ctx,
                       void *out)
{
    queue_result *res = (queue_result *)out;
    const int *diverge = (const int *)ctx;
    ctr_queue *q = NULL;
    float keys[QN * (QD + 1)];
    int64_t ids[QN], step, i, j;
    const float *qk;
    const int64_t *qi;
    (void)size;
    ctr_queue_create(&q, QK, QD, CTR_QUEUE_IDS, 1, NULL);
    for (step = 0; step < 3; step++) {
        for (i = 0; i < QN; i++) {
            for (j = 0; j < QD; j++)
                keys[i * (QD + 1) + j] = queue_key(step, rank * QN + i, j);
            ids[i] = 100 * step + rank * QN + i;
        }
        if (*diverge && rank == 1 && step == 0) /* one key more here */
            ctr_queue_enqueue(q, keys, 1, QD + 1, ids);
        res->rc[step] = ctr_comm_queue_enqueue(comm, q, keys, QN, QD + 1, ids);
    }
    ctr_queue_keys(q, &qk, NULL, NULL);
    ctr_queue_ids(q, &qi, NULL);
    memcpy(res->keys, qk, sizeof(res->keys));
    memcpy(res->ids, qi, sizeof(res->ids));
    snprintf(res->msg, sizeof(res->msg), "%s", ctr_comm_last_error(comm));
    ctr_queue_destroy(q);
}

START_TEST(test_queue_gather_bit_identical)
{
    static queue_result res[3];
    ctr_queue *q = NULL;
    float keys[3 * QN * QD];
    int64_t ids[3 * QN], step, i, j, r;
    const float *qk;
    const int64_t *qi;
    int diverge = 0;
    ck_assert_int_eq(ctr_queue_create(&q, QK, QD, CTR_QUEUE_IDS, 1, NULL), CTR_OK);
    for (step = 0; step < 3; step++) {
        for (i = 0; i < 3 * QN; i++) {
            for (j = 0; j < QD; j++)
                keys[i * QD + j] = queue_key(step, i, j);
            ids[i] = 100 * step + i;
        }
        ck_assert_int_eq(ctr_queue_enqueue(q, keys, 3 * QN, QD, ids), CTR_OK);
    }
    ctr_queue_keys(q, &qk, NULL, NULL);
    ctr_queue_ids(q, &qi, NULL);
    ck_assert_int_eq(fake_run(3, queue_rank, &diverge, res, sizeof(res[0]), -1, -1), 3);
    for (r = 0; r < 3; r++) {
        for (step = 0; step < 3; step++)
            ck_assert_msg(res[r].rc[step] == CTR_OK, "%s", res[r].msg);
        ck_assert_int_eq(memcmp(res[r].keys, qk, sizeof(res[r].keys)), 0);
        ck_assert_int_eq(memcmp(res[r].ids, qi, sizeof(res[r].ids)), 0);
    }
    /* a queue that diverged on one rank: CTR_E_SHAPE on every rank */
    diverge = 1;
    ck_assert_int_eq(fake_run(3, queue_rank, &diverge, res, sizeof(res[0]), -1, -1), 3);
    for (r = 0; r < 3; r++)
        ck_assert_int_eq(res[r].rc[0], CTR_E_SHAPE);
    ck_assert_msg(strstr(res[0].msg, "the queue's") != NULL, "%s", res[0].msg);
    ctr_queue_destroy(q);
}
END_TEST

/* ---- MoCo: shuffle BN across ranks ---------------------------------------------------- */

#define SH_B 4 /* rows per rank */

typedef struct shuffle_result {
    int rc[3];
    float k[SH_B * SCEN_OUT];
    char msg[256];
} shuffle_result;

static float shuffle_input(int64_t row, int64_t j)
{
    return scen_input(11, 0, row, j);
}

static void shuffle_rank(ctr_comm *comm, int64_t rank, int64_t size, void *ctx,
                         void *out)
{
    shuffle_result *res = (shuffle_result *)out;
    const int *bad_perm = (const int *)ctx;
    ctr_encoder *e = NULL;
    ctr_rng *rng = NULL;
    float x[SH_B * SCEN_IN], xs[SH_B * SCEN_IN], ks[SH_B * SCEN_OUT];
    int64_t perm[FAKE_MAX_RANKS * SH_B], i;
    (void)size;
    for (i = 0; i < SH_B * SCEN_IN; i++)
        x[i] = shuffle_input(rank * SH_B + i / SCEN_IN, i % SCEN_IN);
    scen_encoder(&e, 9, 1);
    if (rank == 0)
        ctr_rng_create(&rng, 77, NULL);
    res->rc[0] = ctr_comm_shuffle_rows(comm, rng, perm, xs, x, SH_B, SCEN_IN);
    res->rc[1] = ctr_encoder_forward(e, ks, xs, SH_B, CTR_ENCODER_TRAIN);
    if (*bad_perm && rank == 1)
        perm[0] = perm[1];
    res->rc[2] = ctr_comm_unshuffle_rows(comm, perm, res->k, ks, SH_B, SCEN_OUT);
    snprintf(res->msg, sizeof(res->msg), "%s", ctr_comm_last_error(comm));
    ctr_rng_destroy(rng);
    ctr_encoder_destroy(e);
}

/* R ranks shuffling, encoding with per-rank BN, unshuffling equal one
 * process permuting, encoding with BN groups = R, unpermuting. */
static void check_shuffle(int64_t size)
{
    static shuffle_result res[FAKE_MAX_RANKS];
    const int64_t big = size * SH_B;
    float x[FAKE_MAX_RANKS * SH_B * SCEN_IN], xs[FAKE_MAX_RANKS * SH_B * SCEN_IN];
    float ks[FAKE_MAX_RANKS * SH_B * SCEN_OUT], k[FAKE_MAX_RANKS * SH_B * SCEN_OUT];
    int64_t perm[FAKE_MAX_RANKS * SH_B], i, r;
    ctr_encoder *e = NULL;
    ctr_rng *rng = NULL;
    int bad = 0;
    for (i = 0; i < big * SCEN_IN; i++)
        x[i] = shuffle_input(i / SCEN_IN, i % SCEN_IN);
    ck_assert_int_eq(ctr_rng_create(&rng, 77, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_permutation(rng, perm, big), CTR_OK);
    for (i = 0; i < big; i++)
        memcpy(xs + i * SCEN_IN, x + perm[i] * SCEN_IN, SCEN_IN * sizeof(float));
    ck_assert_int_eq(scen_encoder(&e, 9, size), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(e, ks, xs, big, CTR_ENCODER_TRAIN), CTR_OK);
    for (i = 0; i < big; i++)
        memcpy(k + perm[i] * SCEN_OUT, ks + i * SCEN_OUT, SCEN_OUT * sizeof(float));
    ck_assert_int_eq(fake_run(size, shuffle_rank, &bad, res, sizeof(res[0]), -1, -1), size);
    for (r = 0; r < size; r++) {
        ck_assert_msg(res[r].rc[0] == CTR_OK && res[r].rc[1] == CTR_OK &&
                          res[r].rc[2] == CTR_OK, "rank %lld: %s", (long long)r, res[r].msg);
        ck_assert_double_le(scen_rel(res[r].k, k + r * SH_B * SCEN_OUT, SH_B * SCEN_OUT), 1e-5);
    }
    bad = 1; /* rank 1 passes a broken permutation to the unshuffle */
    ck_assert_int_eq(fake_run(size, shuffle_rank, &bad, res, sizeof(res[0]), -1, -1), size);
    for (r = 0; r < size; r++)
        ck_assert_int_eq(res[r].rc[2], CTR_E_INVALID_ARG);
    ctr_encoder_destroy(e);
    ctr_rng_destroy(rng);
}

START_TEST(test_shuffle_bn_equal)
{
    check_shuffle(2);
    check_shuffle(4);
}
END_TEST

/* ---- SimCLR training: 20 steps ----------------------------------------------------- */

static void simclr_rank(ctr_comm *comm, int64_t rank, int64_t size, void *ctx,
                        void *out)
{
    const int64_t *b = (const int64_t *)ctx;
    (void)rank;
    (void)size;
    scen_simclr(comm, *b, 1, 0.5, (scen_result *)out);
}

static void check_training(int64_t size, int64_t b)
{
    static scen_result res[FAKE_MAX_RANKS];
    int64_t r;
    ck_assert_int_eq(fake_run(size, simclr_rank, &b, res, sizeof(res[0]), -1, -1), size);
    for (r = 0; r < size; r++) {
        ck_assert_msg(res[r].rc == CTR_OK, "rank %lld: %s", (long long)r, res[r].msg);
        ck_assert_msg(res[r].loss_rel <= 1e-5 && res[r].grad_rel <= 1e-5 &&
                          res[r].param_rel <= 1e-5,
                      "rank %lld: loss %g grad %g param %g", (long long)r,
                      res[r].loss_rel, res[r].grad_rel, res[r].param_rel);
    }
}

typedef struct resume_ctx {
    int64_t b;
    char enc[320], opt[320];
} resume_ctx;

static void resume_rank(ctr_comm *comm, int64_t rank, int64_t size, void *ctx,
                        void *out)
{
    const resume_ctx *c = (const resume_ctx *)ctx;
    (void)rank;
    (void)size;
    scen_simclr_resume(comm, c->b, c->enc, c->opt, (scen_result *)out);
}

/* Rank 0 saves at step 10, every rank resumes from its files: the 20
 * steps still end where one process ends. */
START_TEST(test_simclr_checkpoint_resume)
{
    static scen_result res[FAKE_MAX_RANKS];
    static resume_ctx c;
    test_dir d;
    int64_t r;
    test_dir_setup(&d, "comm-resume", "enc.ckpt");
    c.b = 3;
    snprintf(c.enc, sizeof(c.enc), "%s", d.path);
    snprintf(c.opt, sizeof(c.opt), "%s/opt.ckpt", d.dir);
    ck_assert_int_eq(fake_run(3, resume_rank, &c, res, sizeof(res[0]), -1, -1), 3);
    for (r = 0; r < 3; r++) {
        ck_assert_msg(res[r].rc == CTR_OK, "rank %lld: %s", (long long)r, res[r].msg);
        ck_assert_msg(res[r].loss_rel <= 1e-5 && res[r].param_rel <= 1e-5,
                      "rank %lld: loss %g param %g", (long long)r,
                      res[r].loss_rel, res[r].param_rel);
    }
    test_dir_remove_all(&d);
}
END_TEST

static void moco_rank(ctr_comm *comm, int64_t rank, int64_t size, void *ctx,
                      void *out)
{
    (void)rank;
    (void)size;
    scen_moco(comm, *(const int64_t *)ctx, (scen_result *)out);
}

/* Runs fn on sizes[i] ranks with b = bs[i] (i < count): every rank's
 * losses, gradients (or queue) and parameters within 1e-5. */
static void check_runs(fake_rank_fn fn, const int64_t *sizes, int64_t *bs,
                       int64_t count)
{
    static scen_result res[FAKE_MAX_RANKS];
    int64_t i, r;
    for (i = 0; i < count; i++) {
        ck_assert_int_eq(fake_run(sizes[i], fn, &bs[i], res, sizeof(res[0]), -1, -1),
                         sizes[i]);
        for (r = 0; r < sizes[i]; r++) {
            ck_assert_msg(res[r].rc == CTR_OK, "rank %lld: %s", (long long)r, res[r].msg);
            ck_assert_msg(res[r].loss_rel <= 1e-5 && res[r].param_rel <= 1e-5 &&
                              res[r].grad_rel <= 1e-5,
                          "R=%lld rank %lld: loss %g param %g grad/queue %g",
                          (long long)sizes[i], (long long)r, res[r].loss_rel,
                          res[r].param_rel, res[r].grad_rel);
        }
    }
}

/* MoCo with shuffle BN across ranks: losses, query-encoder parameters
 * after 20 steps and the queue (in grad_rel) equal one process's. */
START_TEST(test_moco_training_equal)
{
    const int64_t sizes[2] = {2, 4};
    int64_t bs[2] = {4, 4}; /* (BN over 2 rows amplifies rounding) */
    check_runs(moco_rank, sizes, bs, 2);
}
END_TEST

static void sync_rank(ctr_comm *comm, int64_t rank, int64_t size, void *ctx,
                      void *out)
{
    (void)rank;
    (void)size;
    scen_simclr_bn(comm, *(const int64_t *)ctx, 1, 0.5, 1, (scen_result *)out);
}

/* Synchronised BN: R ranks x b pairs equal one process whose BN sees the
 * whole 2B-row batch in one group (losses, step-0 gradients, parameters
 * after 20 steps). */
START_TEST(test_sync_bn_training_equal)
{
    const int64_t sizes[3] = {2, 3, 4};
    int64_t bs[3] = {4, 2, 1};
    check_runs(sync_rank, sizes, bs, 3);
}
END_TEST

START_TEST(test_simclr_training_equal)
{
    check_training(2, 4);
    check_training(4, 2);
}
END_TEST

Suite *ctr_test_comm_equiv_suite(void);
Suite *ctr_test_comm_equiv_suite(void)
{
    Suite *s = suite_create("comm_equiv");
    TCase *tc = tcase_create("ntxent");
    tcase_add_test(tc, test_ntxent_two_ranks);
    tcase_add_test(tc, test_ntxent_more_ranks);
    tcase_add_test(tc, test_infonce_equal);
    tcase_add_test(tc, test_decoupled_equal);
    tcase_add_test(tc, test_ntxent_remote_terms_matter);
    tcase_add_test(tc, test_ntxent_bad_input_everywhere);
    tcase_add_test(tc, test_ntxent_failing_allocator);
    tcase_add_test(tc, test_ntxent_failing_callback);
    suite_add_tcase(s, tc);
    tc = tcase_create("encoder");
    tcase_add_test(tc, test_encoder_grads_weighted_mean);
    tcase_add_test(tc, test_encoder_mismatch_everywhere);
    suite_add_tcase(s, tc);
    tc = tcase_create("queue");
    tcase_add_test(tc, test_queue_gather_bit_identical);
    tcase_add_test(tc, test_shuffle_bn_equal);
    suite_add_tcase(s, tc);
    tc = tcase_create("training");
    tcase_add_test(tc, test_simclr_training_equal);
    tcase_add_test(tc, test_simclr_checkpoint_resume);
    tcase_add_test(tc, test_moco_training_equal);
    tcase_add_test(tc, test_sync_bn_training_equal);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
