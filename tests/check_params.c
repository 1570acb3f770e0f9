/*
 * check_params.c - one rule for every object's typed setters and getters
 * (docs/conventions.md, "Parameters"): the value decides, not its C type;
 * NaN/Inf is CTR_E_NUMERIC; messages name the parameter's constant.
 */
#include <math.h>
#include <string.h>

#include "test_util.h"

#define BEYOND_2_53 (((int64_t)1 << 53) + 1)

/* The rule on one object with an integer parameter IP (lo <= 1 <= hi) and
 * a real parameter RP (1 in bounds): the same checks for every object. */
#define CHECK_RULE(h, T, IP, RP, IP_NAME)                                         \
    do {                                                                          \
        double d_;                                                                \
        int64_t v_;                                                               \
        /* an integral f64 sets an integer parameter; a fraction does not */      \
        ck_assert_int_eq(ctr_##T##_set_f64(h, IP, 1.0), CTR_OK);                  \
        ck_assert_str_eq(ctr_##T##_last_error(h), "");                            \
        ck_assert_int_eq(ctr_##T##_get_i64(h, IP, &v_), CTR_OK);                  \
        ck_assert_int_eq(v_, 1);                                                  \
        ck_assert_int_eq(ctr_##T##_set_f64(h, IP, 1.5), CTR_E_INVALID_ARG);       \
        ck_assert_ptr_nonnull(strstr(ctr_##T##_last_error(h), IP_NAME));          \
        ck_assert_ptr_nonnull(strstr(ctr_##T##_last_error(h), "integer"));        \
        ck_assert_int_eq(ctr_##T##_get_i64(h, IP, &v_), CTR_OK);                  \
        ck_assert_int_eq(v_, 1);                                                  \
        /* an i64 sets a real parameter, exactly */                               \
        ck_assert_int_eq(ctr_##T##_set_i64(h, RP, 1), CTR_OK);                    \
        ck_assert_int_eq(ctr_##T##_get_f64(h, RP, &d_), CTR_OK);                  \
        ck_assert(d_ == 1.0);                                                     \
        ck_assert_int_eq(ctr_##T##_set_i64(h, RP, BEYOND_2_53), CTR_E_INVALID_ARG); \
        ck_assert_int_eq(ctr_##T##_set_i64(h, IP, BEYOND_2_53), CTR_E_INVALID_ARG); \
        /* non-finite: CTR_E_NUMERIC for either kind of parameter */              \
        ck_assert_int_eq(ctr_##T##_set_f64(h, RP, NAN), CTR_E_NUMERIC);           \
        ck_assert_int_eq(ctr_##T##_set_f64(h, IP, INFINITY), CTR_E_NUMERIC);      \
        ck_assert_int_eq(ctr_##T##_get_f64(h, RP, &d_), CTR_OK);                  \
        ck_assert(d_ == 1.0);                                                     \
        /* reads: an integer as a double, never a real as an integer */           \
        ck_assert_int_eq(ctr_##T##_get_f64(h, IP, &d_), CTR_OK);                  \
        ck_assert(d_ == 1.0);                                                     \
        ck_assert_int_eq(ctr_##T##_get_i64(h, RP, &v_), CTR_E_INVALID_ARG);       \
        /* unknown parameters, NULL values */                                     \
        ck_assert_int_eq(ctr_##T##_set_f64(h, 987654, 1.0), CTR_E_INVALID_ARG);   \
        ck_assert_ptr_nonnull(strstr(ctr_##T##_last_error(h), "987654"));         \
        ck_assert_int_eq(ctr_##T##_set_i64(h, 987654, 1), CTR_E_INVALID_ARG);     \
        ck_assert_int_eq(ctr_##T##_get_f64(h, 987654, &d_), CTR_E_INVALID_ARG);   \
        ck_assert_int_eq(ctr_##T##_get_i64(h, 987654, &v_), CTR_E_INVALID_ARG);   \
        ck_assert_int_eq(ctr_##T##_get_f64(h, RP, NULL), CTR_E_INVALID_ARG);      \
        ck_assert_int_eq(ctr_##T##_get_i64(h, IP, NULL), CTR_E_INVALID_ARG);      \
    } while (0)

START_TEST(test_objective)
{
    ctr_objective *o;
    ck_assert_int_eq(ctr_objective_create(&o, CTR_OBJECTIVE_NTXENT, NULL), CTR_OK);
    CHECK_RULE(o, objective, CTR_OBJECTIVE_P_NORMALIZE,
               CTR_OBJECTIVE_P_TEMPERATURE, "CTR_OBJECTIVE_P_NORMALIZE");
    /* bounds and values in the fewest digits that read back exactly */
    ck_assert_int_eq(ctr_objective_set_f64(o, CTR_OBJECTIVE_P_TEMPERATURE, 0.0001),
                     CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_objective_last_error(o),
                     "CTR_OBJECTIVE_P_TEMPERATURE must be in [0.001, 1000] (got 0.0001)");
    ck_assert_int_eq(ctr_objective_set_f64(o, CTR_OBJECTIVE_P_TEMPERATURE, 1000.0000000000001),
                     CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_objective_last_error(o), "CTR_OBJECTIVE_P_TEMPERATURE must be in "
                                                  "[0.001, 1000] (got 1000.0000000000001)");
    ctr_objective_destroy(o);
}
END_TEST

START_TEST(test_optimizer)
{
    ctr_optimizer *o;
    double d;
    ck_assert_int_eq(ctr_optimizer_create(&o, CTR_OPTIMIZER_SGD, 4, NULL), CTR_OK);
    CHECK_RULE(o, optimizer, CTR_OPTIMIZER_P_NESTEROV, CTR_OPTIMIZER_P_LR,
               "CTR_OPTIMIZER_P_NESTEROV");
    /* a read-only parameter: readable either way, settable neither */
    ck_assert_int_eq(ctr_optimizer_set_i64(o, CTR_OPTIMIZER_P_STEP, 3),
                     CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_optimizer_last_error(o),
                     "CTR_OPTIMIZER_P_STEP is read-only");
    ck_assert_int_eq(ctr_optimizer_set_f64(o, CTR_OPTIMIZER_P_STEP, 3.0),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_get_f64(o, CTR_OPTIMIZER_P_STEP, &d), CTR_OK);
    ck_assert(d == 0.0);
    ctr_optimizer_destroy(o);
}
END_TEST

START_TEST(test_probe)
{
    ctr_probe *p;
    ck_assert_int_eq(ctr_probe_create(&p, 3, 2, NULL), CTR_OK);
    CHECK_RULE(p, probe, CTR_PROBE_P_STANDARDIZE, CTR_PROBE_P_L2,
               "CTR_PROBE_P_STANDARDIZE");
    ctr_probe_destroy(p);
}
END_TEST

START_TEST(test_knn)
{
    ctr_knn *k;
    int64_t v;
    ck_assert_int_eq(ctr_knn_create(&k, NULL), CTR_OK);
    CHECK_RULE(k, knn, CTR_KNN_P_K, CTR_KNN_P_SIGMA, "CTR_KNN_P_K");
    ck_assert_int_eq(ctr_knn_set_i64(k, CTR_KNN_P_WORKSPACE_BYTES, 1),
                     CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_knn_last_error(k), "read-only"));
    ck_assert_int_eq(ctr_knn_get_i64(k, CTR_KNN_P_WORKSPACE_BYTES, &v), CTR_OK);
    ctr_knn_destroy(k);
}
END_TEST

START_TEST(test_bank_and_encoder)
{
    /* objects with one kind of setter follow the same rule in it */
    ctr_bank *b;
    ctr_encoder *e;
    const int64_t dims[1] = {4};
    double d;
    int64_t v;
    ck_assert_int_eq(ctr_bank_create(&b, 5, 3, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_set_f64(b, CTR_BANK_P_MOMENTUM, NAN), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_bank_set_f64(b, CTR_BANK_P_MOMENTUM, 2.0),
                     CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_bank_last_error(b), "CTR_BANK_P_MOMENTUM"));
    ck_assert_int_eq(ctr_bank_set_f64(b, CTR_BANK_P_ROWS, 7.0), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_bank_last_error(b), "CTR_BANK_P_ROWS is read-only");
    ck_assert_int_eq(ctr_bank_get_f64(b, CTR_BANK_P_ROWS, &d), CTR_OK);
    ck_assert(d == 5.0);
    ck_assert_int_eq(ctr_bank_get_i64(b, CTR_BANK_P_ROWS, &v), CTR_OK);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(ctr_bank_get_i64(b, CTR_BANK_P_MOMENTUM, &v),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_set_f64(b, CTR_BANK_P_MOMENTUM, 1.0), CTR_OK);
    ck_assert_str_eq(ctr_bank_last_error(b), "");
    ctr_bank_destroy(b);

    ck_assert_int_eq(ctr_encoder_create(&e, dims, 1, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_set_i64(e, CTR_ENCODER_P_BN_GROUPS, 0),
                     CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_encoder_last_error(e),
                                 "CTR_ENCODER_P_BN_GROUPS must be in [1, "));
    ck_assert_int_eq(ctr_encoder_set_i64(e, CTR_ENCODER_P_BN_GROUPS, BEYOND_2_53),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_set_i64(e, CTR_ENCODER_P_BN_GROUPS, 2), CTR_OK);
    ck_assert_str_eq(ctr_encoder_last_error(e), "");
    ck_assert_int_eq(ctr_encoder_get_i64(e, CTR_ENCODER_P_BN_GROUPS, &v), CTR_OK);
    ck_assert_int_eq(v, 2);
    ctr_encoder_destroy(e);
}
END_TEST

Suite *ctr_test_params_suite(void);

Suite *ctr_test_params_suite(void)
{
    Suite *s = suite_create("params");
    TCase *tc = tcase_create("rule");
    tcase_add_test(tc, test_objective);
    tcase_add_test(tc, test_optimizer);
    tcase_add_test(tc, test_probe);
    tcase_add_test(tc, test_knn);
    tcase_add_test(tc, test_bank_and_encoder);
    suite_add_tcase(s, tc);
    return s;
}
