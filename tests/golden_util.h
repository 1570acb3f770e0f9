/*
 * golden_util.h - reads tests/data/<file> written by a tests/gen_*.py
 * script: one array per line, "name count v0 v1 ...". Header-only (static
 * functions) so that suites can share it without touching the harness.
 */
#ifndef CTR_GOLDEN_UTIL_H
#define CTR_GOLDEN_UTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns a malloc'ed array named `name` from data file `file` and its
 * length in *count; fails the test if it is missing. */
static float *golden_read(const char *file, const char *name, long *count)
{
    const char *dir = getenv("CTR_TEST_DATA");
    char path[512], word[128];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : "tests/data", file);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    while (fscanf(f, "%127s %ld", word, count) == 2) {
        float *v = (float *)malloc((size_t)(*count > 0 ? *count : 1) * sizeof(float));
        long i;
        ck_assert_ptr_nonnull(v);
        for (i = 0; i < *count; i++)
            ck_assert_int_eq(fscanf(f, "%f", &v[i]), 1);
        if (strcmp(word, name) == 0) {
            fclose(f);
            return v;
        }
        free(v);
    }
    fclose(f);
    ck_abort_msg("%s has no array %s", path, name);
    return NULL;
}

/* golden_read of the array "<prefix>_<field>": a case's named operand. */
static inline float *golden_read_field(const char *file, const char *prefix, const char *field,
                                       long *count)
{
    char name[128];
    snprintf(name, sizeof(name), "%s_%s", prefix, field);
    return golden_read(file, name, count);
}

#endif /* CTR_GOLDEN_UTIL_H */
