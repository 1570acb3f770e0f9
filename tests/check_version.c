/*
 * check_version.c - version macros, runtime twins and build information.
 */
#include <stdio.h>
#include <string.h>

#include "test_util.h"

START_TEST(test_version_macros_match_runtime)
{
    char expect[32];
    ck_assert_uint_eq(ctr_version_number(), CTR_VERSION_NUMBER);
    ck_assert_str_eq(ctr_version_string(), CTR_VERSION_STRING);
    snprintf(expect, sizeof(expect), "%d.%d.%d", CTR_VERSION_MAJOR,
             CTR_VERSION_MINOR, CTR_VERSION_PATCH);
    ck_assert_str_eq(ctr_version_string(), expect);
    ck_assert_int_eq(CTR_VERSION_NUMBER, CTR_VERSION_MAJOR * 10000 +
                                             CTR_VERSION_MINOR * 100 +
                                             CTR_VERSION_PATCH);
}
END_TEST

START_TEST(test_build_info_contents)
{
    char buf[1024];
    size_t needed = 0;
    ck_assert_int_eq(ctr_build_info(buf, sizeof(buf), &needed), CTR_OK);
    ck_assert_uint_eq(needed, strlen(buf));
    ck_assert_ptr_nonnull(strstr(buf, "libcontrastive " CTR_VERSION_STRING));
    ck_assert_ptr_nonnull(strstr(buf, "blas="));
    ck_assert_ptr_nonnull(strstr(buf, "cpu_simd="));
    ck_assert_ptr_nonnull(strstr(buf, "blas_threads="));
#if defined(CTR_OPENMP)
    ck_assert_ptr_nonnull(strstr(buf, "; threads=openmp"));
#else
    ck_assert_ptr_nonnull(strstr(buf, "; threads=caller+blas"));
#endif
}
END_TEST

START_TEST(test_build_info_truncates_like_snprintf)
{
    char full[1024], small[16];
    size_t needed = 0, needed_small = 0, query = 0;
    ck_assert_int_eq(ctr_build_info(full, sizeof(full), &needed), CTR_OK);
    memset(small, 'x', sizeof(small));
    ck_assert_int_eq(ctr_build_info(small, sizeof(small), &needed_small), CTR_OK);
    ck_assert_uint_eq(needed_small, needed);
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
    ck_assert_int_eq(strncmp(small, full, sizeof(small) - 1), 0);
    ck_assert_int_eq(ctr_build_info(NULL, 0, &query), CTR_OK);
    ck_assert_uint_eq(query, needed);
    ck_assert_int_eq(ctr_build_info(NULL, 4, &query), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_build_info(small, sizeof(small), NULL), CTR_OK);
}
END_TEST

Suite *ctr_test_version_suite(void);

Suite *ctr_test_version_suite(void)
{
    Suite *s = suite_create("version");
    TCase *tc = tcase_create("version");
    tcase_add_test(tc, test_version_macros_match_runtime);
    tcase_add_test(tc, test_build_info_contents);
    tcase_add_test(tc, test_build_info_truncates_like_snprintf);
    suite_add_tcase(s, tc);
    return s;
}
