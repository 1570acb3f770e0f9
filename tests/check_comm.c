/*
 * check_comm.c - the communicator (contrastive/comm.h) over the in-process
 * transport of comm_fake.h: lifecycle and the ops struct, the collectives,
 * the agreement record (a bad argument or a shape mismatch on one rank is
 * an error on every rank), failing callbacks and a failing allocator.
 */
#include <stdio.h>
#include <string.h>

#include "comm_fake.h"
#include "test_util.h"

/* ---- lifecycle ------------------------------------------------------------- */

static int count_release_calls;
static void count_release(void *user)
{
    (void)user;
    count_release_calls++;
}

static int fail_rank_cb(void *user, int64_t *rank)
{
    (void)user;
    (void)rank;
    return 3;
}

static int rank_five(void *user, int64_t *rank)
{
    (void)user;
    *rank = 5;
    return 0;
}

/* A one-rank world's ops over a static fake (no threads needed). */
static fake_world one_world;
static fake_rank one_rank;
static void one_ops(ctr_comm_ops *ops)
{
    memset(&one_world, 0, sizeof(one_world));
    one_world.size = 1;
    one_world.fail_rank = -1;
    pthread_barrier_init(&one_world.bar, NULL, 1);
    pthread_mutex_init(&one_world.mu, NULL);
    one_rank.w = &one_world;
    one_rank.rank = 0;
    one_rank.calls = 0;
    fake_ops(ops, &one_rank);
    ops->release = count_release;
}

START_TEST(test_ops_init)
{
    ctr_comm_ops ops;
    memset(&ops, 0xff, sizeof(ops));
    ck_assert_int_eq(ctr_comm_ops_init(&ops), CTR_OK);
    ck_assert_uint_eq(ops.struct_size, sizeof(ops));
    ck_assert(ops.allreduce_f32 == NULL);
    ck_assert(ops.release == NULL);
    ck_assert_uint_eq(ctr_comm_ops_struct_size(), sizeof(ctr_comm_ops));
    ck_assert_int_eq(ctr_comm_ops_init(NULL), CTR_E_INVALID_ARG);
}
END_TEST

START_TEST(test_create_refuses)
{
    ctr_comm_ops ops;
    ctr_comm *c = NULL;
    int64_t v;
    one_ops(&ops);
    count_release_calls = 0;
    ck_assert_int_eq(ctr_comm_create(&c, NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_comm_create(NULL, &ops, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(count_release_calls, 1); /* create released the state */
    ops.allgather_i64 = NULL;
    ck_assert_int_eq(ctr_comm_create(&c, &ops, NULL), CTR_E_INVALID_ARG);
    one_ops(&ops);
    ops.reserved = 1;
    ck_assert_int_eq(ctr_comm_create(&c, &ops, NULL), CTR_E_INVALID_ARG);
    one_ops(&ops);
    ops.struct_size = 8;
    ck_assert_int_eq(ctr_comm_create(&c, &ops, NULL), CTR_E_INVALID_ARG);
    one_ops(&ops);
    ops.rank = fail_rank_cb;
    ck_assert_int_eq(ctr_comm_create(&c, &ops, NULL), CTR_E_COMM);
    ops.rank = rank_five;
    ck_assert_int_eq(ctr_comm_create(&c, &ops, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(count_release_calls, 5); /* not for struct_size 8 */
    ck_assert_ptr_null(c);
    ck_assert_int_eq(ctr_comm_rank(NULL, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_comm_size(NULL, &v), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_comm_last_error(NULL), "invalid handle (NULL)");
    ctr_comm_destroy(NULL);
}
END_TEST

/* A struct_size that ends before describe/release: both stay unset. */
START_TEST(test_create_short_struct)
{
    ctr_comm_ops ops;
    ctr_comm *c = NULL;
    one_ops(&ops);
    count_release_calls = 0;
    ops.struct_size = (uint32_t)offsetof(ctr_comm_ops, describe);
    ck_assert_int_eq(ctr_comm_create(&c, &ops, NULL), CTR_OK);
    ctr_comm_destroy(c);
    ck_assert_int_eq(count_release_calls, 0);
}
END_TEST

START_TEST(test_single_rank)
{
    ctr_comm_ops ops;
    ctr_comm *c = NULL;
    float f[3] = {1.0f, 2.0f, 3.0f}, g[3];
    int64_t i[2] = {4, 5}, j[2], v;
    one_ops(&ops);
    count_release_calls = 0;
    ck_assert_int_eq(ctr_comm_create(&c, &ops, NULL), CTR_OK);
    ck_assert_int_eq(ctr_comm_rank(c, &v), CTR_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(ctr_comm_size(c, &v), CTR_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(ctr_comm_allreduce_f32(c, f, 3), CTR_OK);
    ck_assert_float_eq(f[2], 3.0f);
    ck_assert_int_eq(ctr_comm_allreduce_i64(c, i, 2), CTR_OK);
    ck_assert_int_eq(ctr_comm_allgather_f32(c, g, f, 3), CTR_OK);
    ck_assert_float_eq(g[1], 2.0f);
    ck_assert_int_eq(ctr_comm_allgather_i64(c, j, i, 2), CTR_OK);
    ck_assert_int_eq(j[1], 5);
    ck_assert_int_eq(ctr_comm_broadcast_f32(c, f, 3, 0), CTR_OK);
    ck_assert_int_eq(ctr_comm_broadcast_i64(c, i, 2, 0), CTR_OK);
    ck_assert_int_eq(ctr_comm_average_f32(c, f, 3, 2.0), CTR_OK);
    ck_assert_float_eq_tol(f[1], 2.0f, 1e-6f);
    /* zero elements: no callback */
    v = one_rank.calls;
    ck_assert_int_eq(ctr_comm_allreduce_f32(c, NULL, 0), CTR_OK);
    ck_assert_int_eq(one_rank.calls, v);
    /* bad arguments */
    ck_assert_int_eq(ctr_comm_allreduce_f32(c, NULL, 3), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_comm_allreduce_i64(c, i, -1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_comm_allgather_f32(c, NULL, f, 3), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_comm_allgather_i64(c, j, i, INT64_MAX), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_comm_broadcast_f32(c, f, 3, 1), CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_comm_last_error(c), "root 1"));
    ck_assert_int_eq(ctr_comm_broadcast_i64(c, i, 2, -1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_comm_allreduce_f32(NULL, f, 3), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_comm_average_f32(c, f, 3, -1.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_comm_average_f32(c, f, 3, NAN), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_comm_average_f32(c, f, 3, 0.0), CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_comm_last_error(c), "sum to 0"));
    ck_assert_int_eq(ctr_comm_average_f32(NULL, f, 3, 1.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_comm_allreduce_f32(c, f, 3), CTR_OK);
    ck_assert_str_eq(ctr_comm_last_error(c), "");
    ctr_comm_destroy(c);
    ck_assert_int_eq(count_release_calls, 1);
}
END_TEST

static int create_attempt(const ctr_allocator *a, void *ctx)
{
    ctr_comm_ops ops;
    ctr_comm *c = NULL;
    float f[2] = {1.0f, 2.0f};
    int rc;
    (void)ctx;
    one_ops(&ops);
    rc = ctr_comm_create(&c, &ops, a);
    if (rc == CTR_OK)
        rc = ctr_comm_average_f32(c, f, 2, 1.0);
    ctr_comm_destroy(c);
    return rc;
}

START_TEST(test_create_failing_allocator)
{
    count_release_calls = 0;
    ck_assert_int_ge(test_every_alloc_failure(create_attempt, NULL), 2);
}
END_TEST

/* ---- collectives over 3 ranks --------------------------------------------------- */

typedef struct coll_result {
    int rc[8];
    float f[12];
    int64_t i[6];
    char msg[256];
} coll_result;

static void coll_rank(ctr_comm *c, int64_t rank, int64_t size, void *ctx,
                      void *out)
{
    coll_result *res = (coll_result *)out;
    float f[2] = {(float)rank + 1.0f, 10.0f * (float)rank};
    int64_t i[2] = {rank, 100}, j[6];
    float g[6];
    (void)ctx;
    (void)size;
    res->rc[0] = ctr_comm_allreduce_f32(c, f, 2);
    res->f[0] = f[0], res->f[1] = f[1];
    res->rc[1] = ctr_comm_allreduce_i64(c, i, 2);
    res->i[0] = i[0], res->i[1] = i[1];
    f[0] = (float)rank, f[1] = -(float)rank;
    res->rc[2] = ctr_comm_allgather_f32(c, g, f, 2);
    memcpy(res->f + 2, g, sizeof(g));
    i[0] = rank * 7;
    res->rc[3] = ctr_comm_allgather_i64(c, j, i, 1);
    memcpy(res->i + 2, j, 3 * sizeof(int64_t));
    f[0] = (float)rank + 5.0f;
    res->rc[4] = ctr_comm_broadcast_f32(c, f, 1, 2);
    res->f[8] = f[0];
    i[0] = rank + 50;
    res->rc[5] = ctr_comm_broadcast_i64(c, i, 1, 1);
    res->i[5] = i[0];
    /* weights 1, 2, 3 of values 1, 2, 3: (1 + 4 + 9) / 6 */
    f[0] = (float)rank + 1.0f;
    res->rc[6] = ctr_comm_average_f32(c, f, 1, (double)rank + 1.0);
    res->f[9] = f[0];
}

START_TEST(test_collectives)
{
    coll_result res[3];
    int64_t r, k;
    memset(res, 0, sizeof(res));
    ck_assert_int_eq(fake_run(3, coll_rank, NULL, res, sizeof(res[0]), -1, -1), 3);
    for (r = 0; r < 3; r++) {
        for (k = 0; k < 7; k++)
            ck_assert_int_eq(res[r].rc[k], CTR_OK);
        ck_assert_float_eq(res[r].f[0], 6.0f);
        ck_assert_float_eq(res[r].f[1], 30.0f);
        ck_assert_int_eq(res[r].i[0], 3);
        ck_assert_int_eq(res[r].i[1], 300);
        for (k = 0; k < 3; k++) {
            ck_assert_float_eq(res[r].f[2 + 2 * k], (float)k);
            ck_assert_float_eq(res[r].f[3 + 2 * k], -(float)k);
            ck_assert_int_eq(res[r].i[2 + k], 7 * k);
        }
        ck_assert_float_eq(res[r].f[8], 7.0f);
        ck_assert_int_eq(res[r].i[5], 51);
        ck_assert_float_eq_tol(res[r].f[9], 14.0f / 6.0f, 1e-6f);
    }
}
END_TEST

/* ---- agreement and failures ---------------------------------------------------- */

static void agree_rank(ctr_comm *c, int64_t rank, int64_t size, void *ctx,
                       void *out)
{
    coll_result *res = (coll_result *)out;
    float f[3] = {1.0f, 2.0f, 3.0f};
    (void)ctx;
    (void)size;
    /* rank 1 passes a shorter buffer: CTR_E_SHAPE everywhere, unchanged */
    res->rc[0] = ctr_comm_average_f32(c, f, rank == 1 ? 2 : 3, 1.0);
    res->f[0] = f[0];
    /* rank 2 has a NaN: CTR_E_NUMERIC everywhere */
    if (rank == 2)
        f[1] = NAN;
    res->rc[1] = ctr_comm_average_f32(c, f, 3, 1.0);
    res->f[1] = f[0];
    if (rank == 0)
        snprintf(res->msg, sizeof(res->msg), "%s", ctr_comm_last_error(c));
    /* rank 0 gives a negative weight */
    f[1] = 2.0f;
    res->rc[2] = ctr_comm_average_f32(c, f, 3, rank == 0 ? -1.0 : 1.0);
    /* and all is well afterwards */
    res->rc[3] = ctr_comm_average_f32(c, f, 3, 1.0);
}

START_TEST(test_agreement)
{
    coll_result res[3];
    int64_t r;
    memset(res, 0, sizeof(res));
    ck_assert_int_eq(fake_run(3, agree_rank, NULL, res, sizeof(res[0]), -1, -1), 3);
    for (r = 0; r < 3; r++) {
        ck_assert_int_eq(res[r].rc[0], CTR_E_SHAPE);
        ck_assert_float_eq(res[r].f[0], 1.0f);
        ck_assert_int_eq(res[r].rc[1], CTR_E_NUMERIC);
        ck_assert_float_eq(res[r].f[1], 1.0f);
        ck_assert_int_eq(res[r].rc[2], CTR_E_INVALID_ARG);
        ck_assert_int_eq(res[r].rc[3], CTR_OK);
    }
    ck_assert_msg(strstr(res[0].msg, "rank 2 failed") != NULL, "%s", res[0].msg);
}
END_TEST

static void fail_rank(ctr_comm *c, int64_t rank, int64_t size, void *ctx,
                      void *out)
{
    coll_result *res = (coll_result *)out;
    float f[2] = {1.0f, 2.0f};
    (void)ctx;
    (void)size;
    (void)rank;
    res->rc[0] = ctr_comm_allreduce_f32(c, f, 2);
    res->rc[1] = ctr_comm_allreduce_f32(c, f, 2);
    snprintf(res->msg, sizeof(res->msg), "%s", ctr_comm_last_error(c));
}

START_TEST(test_failing_callback)
{
    coll_result res[2];
    memset(res, 0, sizeof(res));
    /* rank 1's second callback fails (its first is the first allreduce) */
    ck_assert_int_eq(fake_run(2, fail_rank, NULL, res, sizeof(res[0]), 1, 1), 2);
    ck_assert_int_eq(res[0].rc[0], CTR_OK);
    ck_assert_int_eq(res[0].rc[1], CTR_OK);
    ck_assert_int_eq(res[1].rc[0], CTR_OK);
    ck_assert_int_eq(res[1].rc[1], CTR_E_COMM);
    ck_assert_msg(strstr(res[1].msg, "fake transport failure") != NULL &&
                      strstr(res[1].msg, "code 7") != NULL,
                  "%s", res[1].msg);
}
END_TEST

Suite *ctr_test_comm_suite(void);
Suite *ctr_test_comm_suite(void)
{
    Suite *s = suite_create("comm");
    TCase *tc = tcase_create("lifecycle");
    tcase_add_test(tc, test_ops_init);
    tcase_add_test(tc, test_create_refuses);
    tcase_add_test(tc, test_create_short_struct);
    tcase_add_test(tc, test_single_rank);
    tcase_add_test(tc, test_create_failing_allocator);
    suite_add_tcase(s, tc);
    tc = tcase_create("collectives");
    tcase_add_test(tc, test_collectives);
    tcase_add_test(tc, test_agreement);
    tcase_add_test(tc, test_failing_callback);
    suite_add_tcase(s, tc);
    return s;
}
