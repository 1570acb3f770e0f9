/*
 * check_constants.c - the public constants by name (ctr_constant_value,
 * ctr_constant_name, ctr_constant_at): every #define of the headers is
 * listed with the value the compiler gives it, and the groups resolve back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define NAMED(macro) {#macro, (int64_t)(macro)}

/* One or more constants of each group, with the value this test was
 * compiled with. */
static const struct {
    const char *name;
    int64_t value;
} samples[] = {
    NAMED(CTR_OK), NAMED(CTR_E_INVALID_ARG), NAMED(CTR_E_BUFFER_TOO_SMALL),
    NAMED(CTR_VERSION_NUMBER), NAMED(CTR_LAYER_CONV2D), NAMED(CTR_LAYER_GRU),
    NAMED(CTR_ENCODER_EVAL), NAMED(CTR_TENSOR_NORM_BIAS), NAMED(CTR_ENCODER_P_BN_GROUPS),
    NAMED(CTR_OBJECTIVE_NTXENT), NAMED(CTR_OBJECTIVE_P_TEMPERATURE),
    NAMED(CTR_OBJECTIVE_S_ACCURACY), NAMED(CTR_NCE_Z_EXACT), NAMED(CTR_OPTIMIZER_ADAMW),
    NAMED(CTR_OPTIMIZER_P_WEIGHT_DECAY), NAMED(CTR_KNN_P_SIGMA), NAMED(CTR_KNN_DOT),
    NAMED(CTR_PROBE_P_L2), NAMED(CTR_QUEUE_NO_ID), NAMED(CTR_QUEUE_KEEP_NEWEST),
    NAMED(CTR_QUEUE_P_CAPACITY), NAMED(CTR_BANK_P_MOMENTUM),
    NAMED(CTR_BANK_MAX_WEIGHTED_ROWS),
};

START_TEST(test_value_by_name)
{
    size_t i;
    for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        int64_t value = 12345;
        ck_assert_msg(ctr_constant_value(samples[i].name, &value) == CTR_OK, "%s",
                      samples[i].name);
        ck_assert_int_eq(value, samples[i].value);
    }
}
END_TEST

START_TEST(test_unknown_names_and_null)
{
    int64_t value = 7;
    const char *name = "x";
    ck_assert_int_eq(ctr_constant_value("CTR_OBJECTIVE_P_TEMPERATUR", &value),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_constant_value("ctr_objective_p_temperature", &value),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_constant_value("CTR_API", &value), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_constant_value("CTR_VERSION_STRING", &value), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_constant_value("", &value), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_constant_value(NULL, &value), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_constant_value("CTR_OK", NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(value, 7);
    ck_assert_int_eq(ctr_constant_at(-1, &name, &value), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_constant_at(0, NULL, &value), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_constant_at(0, &name, NULL), CTR_E_INVALID_ARG);
    ck_assert_str_eq(name, "x");
    ck_assert_int_eq(value, 7);
    ck_assert_ptr_null(ctr_constant_name(NULL, 0));
}
END_TEST

START_TEST(test_name_by_group_and_value)
{
    ck_assert_str_eq(ctr_constant_name("CTR_OBJECTIVE_P_", CTR_OBJECTIVE_P_TEMPERATURE),
                     "CTR_OBJECTIVE_P_TEMPERATURE");
    ck_assert_str_eq(ctr_constant_name("CTR_OBJECTIVE_", CTR_OBJECTIVE_NTXENT),
                     "CTR_OBJECTIVE_NTXENT");
    ck_assert_str_eq(ctr_constant_name("CTR_OBJECTIVE_S_", CTR_OBJECTIVE_S_LOSS),
                     "CTR_OBJECTIVE_S_LOSS");
    ck_assert_str_eq(ctr_constant_name("CTR_LAYER_", CTR_LAYER_RELU), "CTR_LAYER_RELU");
    ck_assert_str_eq(ctr_constant_name("CTR_E_", CTR_E_SHAPE), "CTR_E_SHAPE");
    ck_assert_str_eq(ctr_constant_name("CTR_E_", CTR_OK), "CTR_OK");
    ck_assert_str_eq(ctr_constant_name("CTR_NCE_", CTR_NCE_Z_EMA), "CTR_NCE_Z_EMA");
    ck_assert_str_eq(ctr_constant_name("CTR_QUEUE_", CTR_QUEUE_NO_ID), "CTR_QUEUE_NO_ID");
    /* a group is the whole prefix: a kind's group does not reach its
       parameters, and a part of a group is no group */
    ck_assert_ptr_null(ctr_constant_name("CTR_OBJECTIVE_", CTR_OBJECTIVE_P_TEMPERATURE));
    ck_assert_ptr_null(ctr_constant_name("CTR_OBJECTIVE", CTR_OBJECTIVE_NTXENT));
    ck_assert_ptr_null(ctr_constant_name("CTR_", CTR_OK));
    ck_assert_ptr_null(ctr_constant_name("CTR_LAYER_", -12345));
}
END_TEST

/* Length of a constant's group as the header documents it. */
static size_t group_of(const char *name)
{
    const char *p = strstr(name + 4, "_P_"), *s = strstr(name + 4, "_S_");
    const char *mark = p != NULL && (s == NULL || p < s) ? p : s;
    if (mark != NULL)
        return (size_t)(mark - name) + 3;
    return (size_t)(strchr(name + 4, '_') - name) + 1;
}

/* Every listed constant is found by its name and found again from its group
 * and value: names and (outside the version numbers) values are unique
 * within a group. */
START_TEST(test_listing_round_trips)
{
    int64_t i, value, again;
    const char *name;
    for (i = 0; ctr_constant_at(i, &name, &value) == CTR_OK; i++) {
        char group[64];
        size_t len = strcmp(name, "CTR_OK") == 0 ? 6 : group_of(name);
        ck_assert_int_eq(strncmp(name, "CTR_", 4), 0);
        ck_assert_int_eq(ctr_constant_value(name, &again), CTR_OK);
        ck_assert_int_eq(again, value);
        if (strncmp(name, "CTR_VERSION_", 12) == 0)
            continue;
        ck_assert_uint_lt(len, sizeof(group));
        memcpy(group, strcmp(name, "CTR_OK") == 0 ? "CTR_E_" : name, len);
        group[len] = '\0';
        ck_assert_msg(ctr_constant_name(group, value) == name, "%s in %s", name, group);
    }
    ck_assert_int_ge(i, 100);
    ck_assert_int_eq(ctr_constant_at(i, &name, &value), CTR_E_INVALID_ARG);
}
END_TEST

/* Reads the public headers themselves (not the generator's output) and
 * checks that each object-like CTR_ macro is listed, bar the two that are
 * not integers. */
static int check_header_file(const char *path)
{
    char line[512];
    int found = 0;
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    while (fgets(line, sizeof(line), f) != NULL) {
        char name[128];
        int64_t value;
        size_t n;
        if (strncmp(line, "#define CTR_", 12) != 0)
            continue;
        n = strspn(line + 8, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        if (line[8 + n] == '(' || n >= sizeof(name))
            continue;
        memcpy(name, line + 8, n);
        name[n] = '\0';
        if (strcmp(name, "CTR_VERSION_STRING") == 0)
            continue;
        ck_assert_msg(ctr_constant_value(name, &value) == CTR_OK, "%s of %s", name, path);
        found++;
    }
    fclose(f);
    return found;
}

START_TEST(test_every_header_constant_listed)
{
    static const char *headers[] = {"contrastive.h", "contrastive/rng.h",
                                    "contrastive/probe.h", "contrastive/queue.h",
                                    "contrastive/bank.h", "contrastive/knn.h",
                                    "contrastive/encoder.h", "contrastive/optimizer.h",
                                    "contrastive/objective.h"};
    const char *data = getenv("CTR_TEST_DATA");
    char path[1024];
    int64_t value, listed = 0;
    const char *name;
    int found = 0;
    size_t i;
    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        snprintf(path, sizeof(path), "%s/../../include/%s", data ? data : "tests/data",
                 headers[i]);
        found += check_header_file(path);
    }
    while (ctr_constant_at(listed, &name, &value) == CTR_OK)
        listed++;
    ck_assert_int_eq(listed, found);
}
END_TEST

Suite *ctr_test_constants_suite(void);

Suite *ctr_test_constants_suite(void)
{
    Suite *s = suite_create("constants");
    TCase *tc = tcase_create("constants");
    tcase_add_test(tc, test_value_by_name);
    tcase_add_test(tc, test_unknown_names_and_null);
    tcase_add_test(tc, test_name_by_group_and_value);
    tcase_add_test(tc, test_listing_round_trips);
    tcase_add_test(tc, test_every_header_constant_listed);
    suite_add_tcase(s, tc);
    return s;
}
