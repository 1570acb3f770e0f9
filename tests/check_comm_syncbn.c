/*
 * check_comm_syncbn.c - synchronised BatchNorm's bad use, over the
 * in-process transport (comm_fake.h): a bad argument, a NaN, another
 * batch size or BN groups on one rank is the same error on every rank
 * with nothing written; a synchronised forward needs the synchronised
 * backward; a failing collective is CTR_E_COMM on its rank with the
 * running statistics restored; the failing allocator on one rank is
 * CTR_E_NOMEM on every rank. (The equivalence with one process is
 * check_comm_equiv.c's test_sync_bn_training_equal.)
 */
#include <string.h>

#include "comm_fake.h"
#include "dist_scenario.h"
#include "test_util.h"

#define SB_N 4

enum { SB_NONE, SB_N_OTHER, SB_NAN, SB_GROUPS, SB_PLAIN_BACKWARD, SB_NOMEM };

typedef struct sb_ctx {
    int bad;
    int64_t bad_rank;
} sb_ctx;

typedef struct sb_result {
    int rc[3]; /* forward, backward, plain backward or second forward */
    float y[SB_N * SCEN_OUT], stats_before[64], stats_after[64];
    int64_t n_stats;
    char msg[256];
} sb_result;

static void sb_rank(ctr_comm *comm, int64_t rank, int64_t size, void *ctx,
                    void *out)
{
    const sb_ctx *c = (const sb_ctx *)ctx;
    sb_result *res = (sb_result *)out;
    const int mine = rank == c->bad_rank;
    float x[SB_N * SCEN_IN], dy[SB_N * SCEN_OUT], dx[SB_N * SCEN_IN];
    test_alloc_state s;
    ctr_allocator a;
    ctr_encoder *e = NULL;
    const int64_t dims[1] = {SCEN_IN};
    int64_t i;
    (void)size;
    for (i = 0; i < SB_N * SCEN_IN; i++)
        x[i] = scen_input(2, 0, rank * SB_N + i / SCEN_IN, i % SCEN_IN);
    for (i = 0; i < SB_N * SCEN_OUT; i++)
        dy[i] = scen_input(3, 1, rank * SB_N + i / SCEN_OUT, i % SCEN_OUT);
    if (mine && c->bad == SB_NAN)
        x[3] = NAN;
    test_alloc_setup(&a, &s);
    if (mine && c->bad == SB_NOMEM) { /* the same encoder on the test allocator */
        ctr_encoder_create(&e, dims, 1, 42, &a);
        ctr_encoder_add_linear(e, SCEN_HID, 1);
        ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1);
        ctr_encoder_add_activation(e, CTR_LAYER_RELU);
        ctr_encoder_add_linear(e, SCEN_OUT, 1);
        test_alloc_fail_at(&s, 0, 1); /* the workspace */
    } else {
        scen_encoder(&e, 42, mine && c->bad == SB_GROUPS ? 2 : 1);
    }
    ctr_encoder_num_stats(e, &res->n_stats);
    ctr_encoder_get_stats(e, res->stats_before, res->n_stats);
    res->rc[0] = ctr_comm_encoder_forward(comm, e, res->y, x,
                                          mine && c->bad == SB_N_OTHER ? SB_N - 1 : SB_N);
    if (res->rc[0] != CTR_OK)
        snprintf(res->msg, sizeof(res->msg), "%s", ctr_comm_last_error(comm));
    ctr_encoder_get_stats(e, res->stats_after, res->n_stats);
    if (c->bad == SB_PLAIN_BACKWARD) {
        res->rc[2] = ctr_encoder_backward(e, dx, dy);
        ctr_comm_encoder_forward(comm, e, res->y, x, SB_N);
        res->rc[1] = ctr_comm_encoder_backward(comm, e, dx, dy);
    } else {
        res->rc[1] = ctr_comm_encoder_backward(comm, e, dx, dy);
    }
    ctr_encoder_destroy(e);
}

static void sb_check_bad(int bad, int64_t bad_rank, int want)
{
    static sb_result res[3];
    sb_ctx c = {bad, bad_rank};
    int64_t r, i;
    memset(res, 0, sizeof(res));
    ck_assert_int_eq(fake_run(3, sb_rank, &c, res, sizeof(res[0]), -1, -1), 3);
    for (r = 0; r < 3; r++) {
        ck_assert_msg(res[r].rc[0] == want, "bad %d rank %lld: %d %s", bad,
                      (long long)r, res[r].rc[0], res[r].msg);
        if (want == CTR_OK)
            continue;
        for (i = 0; i < SB_N * SCEN_OUT; i++)
            ck_assert_float_eq(res[r].y[i], 0.0f);
        ck_assert(memcmp(res[r].stats_before, res[r].stats_after,
                         sizeof(float) * (size_t)res[r].n_stats) == 0);
        if (r != bad_rank)
            ck_assert_msg(strstr(res[r].msg, "rank") != NULL, "%s", res[r].msg);
        /* no forward happened: the backward is refused everywhere too */
        ck_assert_int_ne(res[r].rc[1], CTR_OK);
    }
}

START_TEST(test_sync_bn_bad_use_everywhere)
{
    sb_check_bad(SB_NONE, -1, CTR_OK);
    sb_check_bad(SB_N_OTHER, 1, CTR_E_SHAPE);
    sb_check_bad(SB_NAN, 2, CTR_E_NUMERIC);
    sb_check_bad(SB_GROUPS, 0, CTR_E_INVALID_ARG);
    sb_check_bad(SB_NOMEM, 1, CTR_E_NOMEM);
}
END_TEST

/* A synchronised forward needs the synchronised backward. */
START_TEST(test_sync_bn_needs_its_backward)
{
    static sb_result res[2];
    sb_ctx c = {SB_PLAIN_BACKWARD, 1};
    int64_t r;
    memset(res, 0, sizeof(res));
    ck_assert_int_eq(fake_run(2, sb_rank, &c, res, sizeof(res[0]), -1, -1), 2);
    for (r = 0; r < 2; r++) {
        ck_assert_int_eq(res[r].rc[0], CTR_OK);
        ck_assert_int_eq(res[r].rc[2], CTR_E_STAGE);
        ck_assert_int_eq(res[r].rc[1], CTR_OK);
    }
}
END_TEST

/* Rank 0's callbacks: forward 0 (agreement), 1 and 2 (the BN sums);
 * backward 3 (agreement), 4 (the BN backward sums). A failure in the
 * forward's last is CTR_E_COMM there with the running statistics put
 * back (its backward then fails the stage check, on every rank); in the
 * backward's last, CTR_E_COMM there only. */
START_TEST(test_sync_bn_failing_callback)
{
    static sb_result res[2];
    sb_ctx c = {SB_NONE, -1};
    memset(res, 0, sizeof(res));
    ck_assert_int_eq(fake_run(2, sb_rank, &c, res, sizeof(res[0]), 0, 2), 2);
    ck_assert_int_eq(res[0].rc[0], CTR_E_COMM);
    ck_assert_int_eq(res[1].rc[0], CTR_OK);
    ck_assert(memcmp(res[0].stats_before, res[0].stats_after,
                     sizeof(float) * (size_t)res[0].n_stats) == 0);
    ck_assert_int_eq(res[0].rc[1], CTR_E_STAGE);
    ck_assert_int_eq(res[1].rc[1], CTR_E_STAGE);
    memset(res, 0, sizeof(res));
    ck_assert_int_eq(fake_run(2, sb_rank, &c, res, sizeof(res[0]), 0, 4), 2);
    ck_assert_int_eq(res[0].rc[0], CTR_OK);
    ck_assert_int_eq(res[0].rc[1], CTR_E_COMM);
    ck_assert_int_eq(res[1].rc[1], CTR_OK);
}
END_TEST

/* ---- a convolutional encoder: BN over channels of images ------------------------ */

#define CV_B 3   /* images per rank */
#define CV_IN (2 * 6 * 6)
#define CV_OUT 5

/* conv 3x3 (4 channels) - BN - ReLU - flatten - linear. */
static ctr_encoder *cv_encoder(void)
{
    const int64_t dims[3] = {2, 6, 6};
    ctr_encoder *e = NULL;
    ck_assert_int_eq(ctr_encoder_create(&e, dims, 3, 17, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv2d(e, 4, 3, 1, 1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(e, CTR_LAYER_RELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_flatten(e), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(e, CV_OUT, 1), CTR_OK);
    return e;
}

typedef struct cv_result {
    int rc;
    double y_rel, dx_rel, grad_rel, stat_rel;
} cv_result;

static float cv_x(int64_t i) { return scen_input(5, 0, i / CV_IN, i % CV_IN); }
static float cv_dy(int64_t i) { return scen_input(6, 1, i / CV_OUT, i % CV_OUT); }

/* Every rank: the whole batch through one process (one BN group), then its
 * images through the synchronised calls; forward outputs, input
 * gradients, parameter gradients (summed over ranks) and running
 * statistics compared. */
static void cv_rank(ctr_comm *comm, int64_t rank, int64_t size, void *ctx,
                    void *out)
{
    const int64_t big = CV_B * size;
    cv_result *res = (cv_result *)out;
    ctr_encoder *ref = cv_encoder(), *e = cv_encoder();
    float x[4 * CV_B * CV_IN], dy[4 * CV_B * CV_OUT], y[4 * CV_B * CV_OUT];
    float dx[4 * CV_B * CV_IN], yl[CV_B * CV_OUT], dxl[CV_B * CV_IN];
    float ga[1024], gb[1024], sa[64], sb[64];
    int64_t i, np = 0, ns = 0;
    (void)ctx;
    for (i = 0; i < big * CV_IN; i++)
        x[i] = cv_x(i);
    for (i = 0; i < big * CV_OUT; i++)
        dy[i] = cv_dy(i) / (float)big;
    ctr_encoder_num_params(ref, &np);
    ctr_encoder_num_stats(ref, &ns);
    ck_assert_int_le(np, 1024);
    ck_assert_int_le(ns, 64);
    res->rc = ctr_encoder_forward(ref, y, x, big, CTR_ENCODER_TRAIN);
    if (res->rc == CTR_OK)
        res->rc = ctr_encoder_backward(ref, dx, dy);
    if (res->rc == CTR_OK)
        res->rc = ctr_comm_encoder_forward(comm, e, yl, x + rank * CV_B * CV_IN, CV_B);
    if (res->rc == CTR_OK)
        res->rc = ctr_comm_encoder_backward(comm, e, dxl, dy + rank * CV_B * CV_OUT);
    if (res->rc == CTR_OK)
        res->rc = ctr_comm_encoder_grads(comm, e, CTR_COMM_SUM, 0.0);
    if (res->rc == CTR_OK) {
        res->y_rel = scen_rel(yl, y + rank * CV_B * CV_OUT, CV_B * CV_OUT);
        res->dx_rel = scen_rel(dxl, dx + rank * CV_B * CV_IN, CV_B * CV_IN);
        ctr_encoder_get_grads(ref, ga, np);
        ctr_encoder_get_grads(e, gb, np);
        res->grad_rel = scen_rel(gb, ga, np);
        ctr_encoder_get_stats(ref, sa, ns);
        ctr_encoder_get_stats(e, sb, ns);
        res->stat_rel = scen_rel(sb, sa, ns);
    }
    ctr_encoder_destroy(ref);
    ctr_encoder_destroy(e);
}

START_TEST(test_sync_bn_conv_equal)
{
    static cv_result res[4];
    int64_t size, r;
    for (size = 1; size <= 4; size++) {
        ck_assert_int_eq(fake_run(size, cv_rank, NULL, res, sizeof(res[0]), -1, -1), size);
        for (r = 0; r < size; r++) {
            ck_assert_int_eq(res[r].rc, CTR_OK);
            ck_assert_msg(res[r].y_rel <= 1e-5 && res[r].dx_rel <= 1e-5 &&
                              res[r].grad_rel <= 1e-5 && res[r].stat_rel <= 1e-5,
                          "R=%lld rank %lld: y %g dx %g grad %g stats %g",
                          (long long)size, (long long)r, res[r].y_rel,
                          res[r].dx_rel, res[r].grad_rel, res[r].stat_rel);
        }
    }
}
END_TEST

Suite *ctr_test_comm_syncbn_suite(void);
Suite *ctr_test_comm_syncbn_suite(void)
{
    Suite *s = suite_create("comm_syncbn");
    TCase *tc = tcase_create("syncbn");
    tcase_add_test(tc, test_sync_bn_bad_use_everywhere);
    tcase_add_test(tc, test_sync_bn_needs_its_backward);
    tcase_add_test(tc, test_sync_bn_failing_callback);
    tcase_add_test(tc, test_sync_bn_conv_equal);
    suite_add_tcase(s, tc);
    return s;
}
