/*
 * check_create.c - a failed create has no handle, so its message goes to
 * the caller's allocator's message buffer (as a load's does): every
 * create names the call and the argument; success writes ""; out of
 * memory says so at every allocation.
 */
#include <string.h>

#include "test_util.h"

typedef struct msg_alloc {
    ctr_allocator a;
    char msg[256];
} msg_alloc;

static void with_message(msg_alloc *m, const ctr_allocator *base)
{
    if (base != NULL)
        m->a = *base;
    else
        ctr_allocator_init(&m->a);
    m->a.message = m->msg;
    m->a.message_cap = sizeof(m->msg);
    strcpy(m->msg, "stale");
}

#define EXPECT_MSG(call, code, words1, words2)                                 \
    do {                                                                       \
        ck_assert_int_eq(call, code);                                          \
        ck_assert_msg(strstr(m.msg, words1) != NULL &&                         \
                          strstr(m.msg, words2) != NULL,                       \
                      "message '%s' lacks '%s' / '%s'", m.msg, words1, words2); \
    } while (0)

START_TEST(test_bad_arguments_named)
{
    msg_alloc m;
    const int64_t dims[1] = {4}, zero[1] = {0};
    ctr_encoder *enc;
    ctr_optimizer *opt;
    ctr_queue *q;
    ctr_bank *b;
    ctr_objective *obj;
    ctr_probe *p;
    ctr_knn *k;
    ctr_rng *r;
    ctr_state *st;
    with_message(&m, NULL);
    EXPECT_MSG(ctr_rng_create(NULL, 1, &m.a), CTR_E_INVALID_ARG,
               "ctr_rng_create", "out is NULL");
    EXPECT_MSG(ctr_queue_create(&q, 0, 4, 0, 1, &m.a), CTR_E_INVALID_ARG,
               "ctr_queue_create", "capacity must be >= 1 (got 0)");
    EXPECT_MSG(ctr_queue_create(&q, 4, -2, 0, 1, &m.a), CTR_E_INVALID_ARG,
               "ctr_queue_create", "dim must be >= 1 (got -2)");
    EXPECT_MSG(ctr_queue_create(&q, 4, 2, 0x4000, 1, &m.a), CTR_E_INVALID_ARG,
               "ctr_queue_create", "flags");
    EXPECT_MSG(ctr_bank_create(&b, 0, 4, 1, &m.a), CTR_E_INVALID_ARG,
               "ctr_bank_create", "n must be >= 1");
    EXPECT_MSG(ctr_objective_create(&obj, 12345, &m.a), CTR_E_INVALID_ARG,
               "ctr_objective_create", "kind 12345");
    EXPECT_MSG(ctr_optimizer_create(&opt, 77, 4, &m.a), CTR_E_INVALID_ARG,
               "ctr_optimizer_create", "kind 77");
    EXPECT_MSG(ctr_optimizer_create(&opt, CTR_OPTIMIZER_SGD, 0, &m.a),
               CTR_E_INVALID_ARG, "ctr_optimizer_create", "n_params");
    EXPECT_MSG(ctr_optimizer_create_for_encoder(&opt, CTR_OPTIMIZER_SGD, NULL,
                                                &m.a),
               CTR_E_INVALID_ARG, "ctr_optimizer_create_for_encoder",
               "enc is NULL");
    ck_assert_int_eq(ctr_encoder_create(&enc, dims, 1, 1, NULL), CTR_OK);
    EXPECT_MSG(ctr_optimizer_create_for_encoder(&opt, CTR_OPTIMIZER_SGD, enc,
                                                &m.a),
               CTR_E_SHAPE, "ctr_optimizer_create_for_encoder", "parameters");
    ctr_encoder_destroy(enc);
    EXPECT_MSG(ctr_encoder_create(&enc, dims, 4, 1, &m.a), CTR_E_INVALID_ARG,
               "ctr_encoder_create", "ndims");
    EXPECT_MSG(ctr_encoder_create(&enc, zero, 1, 1, &m.a), CTR_E_INVALID_ARG,
               "ctr_encoder_create", "dims");
    EXPECT_MSG(ctr_probe_create(&p, 3, 1, &m.a), CTR_E_INVALID_ARG,
               "ctr_probe_create", "classes must be >= 2");
    EXPECT_MSG(ctr_knn_create(NULL, &m.a), CTR_E_INVALID_ARG, "ctr_knn_create",
               "out is NULL");
    EXPECT_MSG(ctr_state_create(NULL, &m.a), CTR_E_INVALID_ARG,
               "ctr_state_create", "out is NULL");
    /* success writes "" */
    ck_assert_int_eq(ctr_rng_create(&r, 1, &m.a), CTR_OK);
    ck_assert_str_eq(m.msg, "");
    ctr_rng_destroy(r);
    strcpy(m.msg, "stale");
    ck_assert_int_eq(ctr_knn_create(&k, &m.a), CTR_OK);
    ck_assert_str_eq(m.msg, "");
    ctr_knn_destroy(k);
    strcpy(m.msg, "stale");
    ck_assert_int_eq(ctr_state_create(&st, &m.a), CTR_OK);
    ck_assert_str_eq(m.msg, "");
    ctr_state_destroy(st);
}
END_TEST

/* Every create under a failing allocator: "out of memory" in the buffer. */
static int attempt_creates(const ctr_allocator *base, void *ctx)
{
    msg_alloc m;
    const int64_t dims[1] = {4};
    ctr_encoder *enc = NULL;
    ctr_optimizer *opt = NULL;
    ctr_queue *q = NULL;
    ctr_bank *b = NULL;
    ctr_objective *obj = NULL;
    ctr_probe *p = NULL;
    ctr_knn *k = NULL;
    ctr_rng *r = NULL;
    ctr_state *st = NULL;
    int rc;
    (void)ctx;
    with_message(&m, base);
    rc = ctr_rng_create(&r, 1, &m.a);
    if (rc == CTR_OK) rc = ctr_queue_create(&q, 4, 3, CTR_QUEUE_IDS, 1, &m.a);
    if (rc == CTR_OK) rc = ctr_bank_create(&b, 4, 3, 1, &m.a);
    if (rc == CTR_OK) rc = ctr_objective_create(&obj, CTR_OBJECTIVE_NTXENT, &m.a);
    if (rc == CTR_OK) rc = ctr_probe_create(&p, 3, 2, &m.a);
    if (rc == CTR_OK) rc = ctr_knn_create(&k, &m.a);
    if (rc == CTR_OK) rc = ctr_state_create(&st, &m.a);
    if (rc == CTR_OK) rc = ctr_encoder_create(&enc, dims, 1, 1, &m.a);
    if (rc == CTR_OK) {
        /* not a create: its failure is the handle's message, not ours */
        strcpy(m.msg, "stale");
        rc = ctr_encoder_add_linear(enc, 2, 1) >= 0 ? CTR_OK : CTR_E_NOMEM;
    }
    if (rc == CTR_OK)
        rc = ctr_optimizer_create_for_encoder(&opt, CTR_OPTIMIZER_ADAMW, enc, &m.a);
    if (rc == CTR_OK)
        ck_assert_str_eq(m.msg, "");
    else
        ck_assert_msg(strstr(m.msg, "out of memory") != NULL ||
                          strcmp(m.msg, "stale") == 0,
                      "message '%s'", m.msg);
    ctr_optimizer_destroy(opt);
    ctr_encoder_destroy(enc);
    ctr_state_destroy(st);
    ctr_knn_destroy(k);
    ctr_probe_destroy(p);
    ctr_objective_destroy(obj);
    ctr_bank_destroy(b);
    ctr_queue_destroy(q);
    ctr_rng_destroy(r);
    return rc;
}

START_TEST(test_out_of_memory_named)
{
    ck_assert_int_gt(test_every_alloc_failure(attempt_creates, NULL), 10);
}
END_TEST

Suite *ctr_test_create_suite(void);

Suite *ctr_test_create_suite(void)
{
    Suite *s = suite_create("create");
    TCase *tc = tcase_create("messages");
    tcase_add_test(tc, test_bad_arguments_named);
    tcase_add_test(tc, test_out_of_memory_named);
    suite_add_tcase(s, tc);
    return s;
}
