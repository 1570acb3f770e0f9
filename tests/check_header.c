/*
 * check_header.c - the public header compiles as C99, C11 and C++ (the
 * objects are built with strict flags by the Makefile) and works from each.
 */
#include "test_util.h"

int ctr_header_test_c99(void);
int ctr_header_test_c11(void);
int ctr_header_test_cxx(void);

START_TEST(test_header_languages)
{
    ck_assert_int_eq(ctr_header_test_c99(), CTR_VERSION_NUMBER);
    ck_assert_int_eq(ctr_header_test_c11(), CTR_VERSION_NUMBER);
    ck_assert_int_eq(ctr_header_test_cxx(), CTR_VERSION_NUMBER);
}
END_TEST

Suite *ctr_test_header_suite(void);

Suite *ctr_test_header_suite(void)
{
    Suite *s = suite_create("header");
    TCase *tc = tcase_create("languages");
    tcase_add_test(tc, test_header_languages);
    suite_add_tcase(s, tc);
    return s;
}
