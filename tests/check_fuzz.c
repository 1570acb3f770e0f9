/*
 * check_fuzz.c - the fuzz targets (tests/fuzz/) as part of make check, in
 * every configuration (gcc, clang, sanitizers, valgrind): each target runs
 * on its seed corpus, on a few hundred deterministic mutations of it (with
 * and without CRC repair), and on every input kept under
 * tests/fuzz/regress/<target>/ (each crash a fuzzing campaign found,
 * minimised).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "test_util.h"

typedef struct replay {
    const ctr_fuzz_target *t;
    int mutations; /* per seed */
    int inputs;
} replay;

/* splitmix64, for the mutations */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static void run_input(replay *r, const uint8_t *data, size_t size)
{
    ck_assert_msg(r->t->run(data, size) == 0, "fuzz target %s broke a promise (stderr)",
                  r->t->name);
    r->inputs++;
}

/* The seed, then mutations: bytes set to boundary values, 8-byte fields
 * set to large or negative numbers, truncations. */
static void on_seed(void *ctx, const uint8_t *data, size_t size)
{
    static const uint64_t values[] = {0, 1, 0x7fffffffffffffffULL, 0x8000000000000000ULL,
                                      0xffffffffffffffffULL, (uint64_t)1 << 31,
                                      ((uint64_t)1 << 62) + 1, 0x100000000ULL};
    replay *r = (replay *)ctx;
    uint8_t *m = (uint8_t *)malloc(size);
    uint64_t s = size * 2654435761u + (uint64_t)r->inputs;
    int k;
    ck_assert_ptr_nonnull(m);
    run_input(r, data, size);
    for (k = 0; k < r->mutations; k++) {
        size_t at = size > 0 ? (size_t)(next(&s) % size) : 0;
        memcpy(m, data, size);
        switch (k % 3) {
        case 0:
            if (size > 0)
                m[at] = (uint8_t)next(&s);
            break;
        case 1:
            if (size >= 8) {
                uint64_t v = values[next(&s) % (sizeof(values) / sizeof(values[0]))];
                int b;
                at = at > size - 8 ? size - 8 : at;
                for (b = 0; b < 8; b++)
                    m[at + b] = (uint8_t)(v >> (8 * b));
            }
            break;
        default:
            run_input(r, m, at); /* truncated */
            continue;
        }
        run_input(r, m, size);
    }
    free(m);
}

/* tests/fuzz/regress/<target>/: next to the test data directory. */
static void replay_regress(replay *r)
{
    const char *data = getenv("CTR_TEST_DATA");
    char dir[512], path[1024];
    DIR *d;
    struct dirent *e;
    /* the kept inputs must be found: a wrong CTR_TEST_DATA fails */
    snprintf(dir, sizeof(dir), "%s/../fuzz/regress", data != NULL ? data : "tests/data");
    d = opendir(dir);
    ck_assert_msg(d != NULL, "no %s: the regress corpus is not replayed", dir);
    closedir(d);
    snprintf(dir, sizeof(dir), "%s/../fuzz/regress/%s", data != NULL ? data : "tests/data",
             r->t->name);
    d = opendir(dir);
    if (d == NULL)
        return; /* nothing kept for this target */
    while ((e = readdir(d)) != NULL) {
        FILE *f;
        long n;
        uint8_t *buf;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        rewind(f);
        buf = (uint8_t *)malloc((size_t)n + 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        run_input(r, buf, (size_t)n);
        free(buf);
    }
    closedir(d);
}

START_TEST(test_fuzz_target)
{
    replay r;
    r.t = &ctr_fuzz_targets[_i];
    r.mutations = getenv("CTR_TEST_VALGRIND") != NULL ? 6 : 60;
    r.inputs = 0;
    ck_assert_int_eq(ctr_fuzz_seeds(r.t->name, on_seed, &r), 0);
    ck_assert_int_gt(r.inputs, r.mutations);
    replay_regress(&r);
}
END_TEST

Suite *ctr_test_fuzz_suite(void);

Suite *ctr_test_fuzz_suite(void)
{
    Suite *s = suite_create("fuzz");
    TCase *t = tcase_create("replay");
    int n = 0;
    while (ctr_fuzz_targets[n].name != NULL)
        n++;
    tcase_set_timeout(t, 600);
    tcase_add_loop_test(t, test_fuzz_target, 0, n);
    suite_add_tcase(s, t);
    return s;
}
