/*
 * check_validate.c - the shared argument checks: NULL, sizes, NaN/Inf scans
 * (dense and strided), and the messages they record.
 */
#include <math.h>
#include <string.h>

#include "common/core.h"
#include "test_util.h"

START_TEST(test_finite_scan)
{
    ctr__error e;
    float x[5] = {0.0f, -1.0f, 3.5f, 1e30f, -1e-30f};
    ctr__error_clear(&e);
    ck_assert_int_eq(ctr__check_finite(&e, x, 5, "x"), CTR_OK);
    ck_assert_int_eq(ctr__check_finite(&e, NULL, 0, "x"), CTR_OK);
    ck_assert_str_eq(ctr__error_message(&e), "");
    x[3] = NAN;
    ck_assert_int_eq(ctr__check_finite(&e, x, 5, "keys"), CTR_E_NUMERIC);
    ck_assert_str_eq(ctr__error_message(&e), "keys[3] is NaN");
    x[3] = 1.0f;
    x[4] = -INFINITY;
    ck_assert_int_eq(ctr__check_finite(&e, x, 5, "keys"), CTR_E_NUMERIC);
    ck_assert_str_eq(ctr__error_message(&e), "keys[4] is Inf");
    ck_assert_int_eq(ctr__check_finite(NULL, x, 5, "keys"), CTR_E_NUMERIC);
}
END_TEST

START_TEST(test_finite_scan_strided)
{
    ctr__error e;
    /* a 2 x 3 view with ld 4: the padding column holds NaN and is skipped */
    float x[8] = {1, 2, 3, NAN, 4, 5, 6, NAN};
    ctr__error_clear(&e);
    ck_assert_int_eq(ctr__check_finite_matrix(&e, x, 2, 3, 4, "q"), CTR_OK);
    x[5] = INFINITY;
    ck_assert_int_eq(ctr__check_finite_matrix(&e, x, 2, 3, 4, "q"), CTR_E_NUMERIC);
    ck_assert_str_eq(ctr__error_message(&e), "q[1][1] is Inf");
}
END_TEST

START_TEST(test_pointer_and_size_checks)
{
    ctr__error e;
    int v = 0;
    ctr__error_clear(&e);
    ck_assert_int_eq(ctr__check_ptr(&e, &v, "out"), CTR_OK);
    ck_assert_int_eq(ctr__check_ptr(&e, NULL, "out"), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr__error_message(&e), "out is NULL");
    ck_assert_int_eq(ctr__check_positive(&e, 1, "batch"), CTR_OK);
    ck_assert_int_eq(ctr__check_positive(&e, 0, "batch"), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr__error_message(&e), "batch must be >= 1 (got 0)");
    ck_assert_int_eq(ctr__check_positive(&e, INT64_MIN, "batch"), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr__check_nonnegative(&e, 0, "n"), CTR_OK);
    ck_assert_int_eq(ctr__check_nonnegative(&e, -3, "n"), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr__error_message(&e), "n must be >= 0 (got -3)");
    ck_assert_ptr_nonnull(ctr__error_message(NULL));
}
END_TEST

START_TEST(test_long_messages_are_truncated)
{
    ctr__error e;
    char name[600];
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    ck_assert_int_eq(ctr__fail(&e, CTR_E_SHAPE, "%s", name), CTR_E_SHAPE);
    ck_assert_uint_eq(strlen(ctr__error_message(&e)), CTR__ERRMSG_CAP - 1);
}
END_TEST

Suite *ctr_test_validate_suite(void);

Suite *ctr_test_validate_suite(void)
{
    Suite *s = suite_create("validate");
    TCase *tc = tcase_create("checks");
    tcase_add_test(tc, test_finite_scan);
    tcase_add_test(tc, test_finite_scan_strided);
    tcase_add_test(tc, test_pointer_and_size_checks);
    tcase_add_test(tc, test_long_messages_are_truncated);
    suite_add_tcase(s, tc);
    return s;
}
