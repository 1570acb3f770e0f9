/*
 * check_errors.c - status codes: pinned values, a distinct string for each.
 */
#include <string.h>

#include "test_util.h"

START_TEST(test_codes_are_pinned)
{
    /* These values are the ABI: a failing line here is an ABI break. */
    ck_assert_int_eq(CTR_OK, 0);
    ck_assert_int_eq(CTR_E_INVALID_ARG, -1);
    ck_assert_int_eq(CTR_E_NOMEM, -2);
    ck_assert_int_eq(CTR_E_OVERFLOW, -3);
    ck_assert_int_eq(CTR_E_NUMERIC, -4);
    ck_assert_int_eq(CTR_E_IO, -5);
    ck_assert_int_eq(CTR_E_CORRUPT, -6);
    ck_assert_int_eq(CTR_E_INCOMPATIBLE, -7);
    ck_assert_int_eq(CTR_E_STAGE, -8);
    ck_assert_int_eq(CTR_E_UNSUPPORTED, -9);
    ck_assert_int_eq(CTR_E_SHAPE, -10);
    ck_assert_int_eq(CTR_E_BUFFER_TOO_SMALL, -11);
    ck_assert_int_eq(CTR_E_LIMIT, -12);
    ck_assert_int_eq(CTR_E_COMM, -13);
}
END_TEST

START_TEST(test_every_code_has_its_own_string)
{
    const char *unknown = ctr_strerror(12345);
    int a, b;
    ck_assert_str_eq(unknown, "unknown error");
    ck_assert_str_eq(ctr_strerror(1), "unknown error");
    ck_assert_str_eq(ctr_strerror(CTR_E_COMM - 1), "unknown error");
    for (a = CTR_E_COMM; a <= CTR_OK; a++) {
        const char *s = ctr_strerror(a);
        ck_assert_ptr_nonnull(s);
        ck_assert_uint_gt(strlen(s), 0);
        ck_assert_str_ne(s, unknown);
        for (b = CTR_E_COMM; b < a; b++)
            ck_assert_str_ne(s, ctr_strerror(b));
    }
}
END_TEST

START_TEST(test_handle_messages)
{
    ctr_rng *rng = NULL;
    ck_assert_int_eq(ctr_rng_create(&rng, 7, NULL), CTR_OK);
    ck_assert_str_eq(ctr_rng_last_error(rng), "");
    ck_assert_int_eq(ctr_rng_below(rng, NULL, 3, 10), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_rng_last_error(rng), "out is NULL");
    /* a successful call clears the message */
    ck_assert_int_eq(ctr_rng_below(rng, NULL, 0, 10), CTR_OK);
    ck_assert_str_eq(ctr_rng_last_error(rng), "");
    ck_assert_ptr_nonnull(ctr_rng_last_error(NULL));
    ctr_rng_destroy(rng);
}
END_TEST

Suite *ctr_test_errors_suite(void);

Suite *ctr_test_errors_suite(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("codes");
    tcase_add_test(tc, test_codes_are_pinned);
    tcase_add_test(tc, test_every_code_has_its_own_string);
    tcase_add_test(tc, test_handle_messages);
    suite_add_tcase(s, tc);
    return s;
}
