/*
 * check_alloc.c - allocator validation and routing, overflow-checked
 * sizes, and out-of-memory on every fallible public call.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/core.h"
#include "test_util.h"

START_TEST(test_allocator_init)
{
    ctr_allocator a;
    memset(&a, 0xAB, sizeof(a));
    ck_assert_int_eq(ctr_allocator_init(&a), CTR_OK);
    ck_assert_uint_eq(a.struct_size, sizeof(ctr_allocator));
    ck_assert_uint_eq(ctr_allocator_struct_size(), sizeof(ctr_allocator));
    ck_assert_uint_eq(a.reserved, 0);
    ck_assert_ptr_null(a.user);
    ck_assert(a.alloc == NULL && a.free == NULL);
    ck_assert_int_eq(ctr_allocator_init(NULL), CTR_E_INVALID_ARG);
}
END_TEST

START_TEST(test_bad_allocators_are_rejected)
{
    ctr_allocator a;
    test_alloc_state s;
    ctr_rng *rng = NULL;
    ctr__alloc internal;

    test_alloc_setup(&a, &s);
    a.struct_size = 8; /* too old / garbage */
    ck_assert_int_eq(ctr_rng_create(&rng, 1, &a), CTR_E_INVALID_ARG);
    test_alloc_setup(&a, &s);
    a.reserved = 1;
    ck_assert_int_eq(ctr_rng_create(&rng, 1, &a), CTR_E_INVALID_ARG);
    test_alloc_setup(&a, &s);
    a.free = NULL; /* alloc without free */
    ck_assert_int_eq(ctr_rng_create(&rng, 1, &a), CTR_E_INVALID_ARG);
    ck_assert_ptr_null(rng);
    ck_assert_int_eq(s.calls, 0);
    /* an initialised struct with no functions is the system allocator */
    ctr_allocator_init(&a);
    ck_assert_int_eq(ctr__alloc_init(&internal, &a), CTR_OK);
    ck_assert_int_eq(ctr__alloc_init(&internal, NULL), CTR_OK);
    a.struct_size = 0;
    ck_assert_int_eq(ctr__alloc_init(&internal, &a), CTR_E_INVALID_ARG);
}
END_TEST

START_TEST(test_system_allocator_alignment)
{
    ctr__alloc a;
    size_t sizes[] = {1, 3, 64, 1000, 1 << 20};
    size_t i;
    ck_assert_int_eq(ctr__alloc_init(&a, NULL), CTR_OK);
    ck_assert_ptr_null(ctr__malloc(&a, 0));
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *p = (unsigned char *)ctr__calloc(&a, sizes[i]);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % CTR__ALIGN, 0);
        ck_assert_uint_eq(p[0], 0);
        ck_assert_uint_eq(p[sizes[i] - 1], 0);
        ctr__free(&a, p, sizes[i]);
    }
    ctr__free(&a, NULL, 0);
}
END_TEST

START_TEST(test_counting_allocator_sees_every_block)
{
    ctr_allocator a;
    test_alloc_state s;
    ctr_rng *rng = NULL, *child = NULL;
    test_alloc_setup(&a, &s);
    ck_assert_int_eq(ctr_rng_create(&rng, 5, &a), CTR_OK);
    ck_assert_int_eq(s.live_blocks, 1);
    ck_assert_int_eq(ctr_rng_split(rng, &child), CTR_OK);
    ck_assert_int_eq(s.live_blocks, 2); /* the child uses the parent's */
    ctr_rng_destroy(child);
    ctr_rng_destroy(rng);
    ck_assert_int_eq(s.live_blocks, 0);
    ck_assert_int_eq(s.live_bytes, 0);
    ck_assert_int_eq(s.bad_frees, 0);
    ctr_rng_destroy(NULL);
}
END_TEST

START_TEST(test_size_overflow)
{
    size_t out = 7;
    ck_assert_int_eq(ctr__mul_size(&out, SIZE_MAX / 2 + 1, 2), CTR_E_OVERFLOW);
    ck_assert_uint_eq(out, 7);
    ck_assert_int_eq(ctr__mul_size(&out, SIZE_MAX, 1), CTR_OK);
    ck_assert_uint_eq(out, SIZE_MAX);
    ck_assert_int_eq(ctr__mul_size(&out, 0, SIZE_MAX), CTR_OK);
    ck_assert_uint_eq(out, 0);
    ck_assert_int_eq(ctr__add_size(&out, SIZE_MAX, 1), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr__add_size(&out, SIZE_MAX - 1, 1), CTR_OK);
    ck_assert_int_eq(ctr__matrix_bytes(&out, 3, 5, 4), CTR_OK);
    ck_assert_uint_eq(out, 60);
    ck_assert_int_eq(ctr__matrix_bytes(&out, 0, 5, 4), CTR_OK);
    ck_assert_uint_eq(out, 0);
    ck_assert_int_eq(ctr__matrix_bytes(&out, -1, 5, 4), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr__matrix_bytes(&out, 5, -1, 4), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr__matrix_bytes(&out, INT64_MAX, 2, 4), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr__matrix_bytes(&out, (int64_t)1 << 31, (int64_t)1 << 31, 4),
                     CTR_E_OVERFLOW); /* 2^64 bytes */
    ck_assert_int_eq(ctr__matrix_bytes(&out, (int64_t)1 << 30, (int64_t)1 << 30, 8),
                     CTR_E_OVERFLOW); /* 2^63 bytes > INT64_MAX */
}
END_TEST

/* ---- out-of-memory on every fallible public call ---- */

static int attempt_create(const ctr_allocator *a, void *ctx)
{
    ctr_rng *rng = NULL;
    int rc = ctr_rng_create(&rng, 1, a);
    (void)ctx;
    if (rc != CTR_OK)
        ck_assert_ptr_null(rng);
    ctr_rng_destroy(rng);
    return rc;
}

static int attempt_split(const ctr_allocator *a, void *ctx)
{
    ctr_rng *rng = NULL, *child = NULL;
    int rc = ctr_rng_create(&rng, 1, a);
    (void)ctx;
    if (rc == CTR_OK) {
        int64_t before[2];
        int64_t after[2];
        rc = ctr_rng_split(rng, &child);
        if (rc != CTR_OK) {
            /* a failed split leaves the parent where it was */
            ctr_rng *ref = NULL;
            ck_assert_int_eq(ctr_rng_create(&ref, 1, NULL), CTR_OK);
            ck_assert_int_eq(ctr_rng_below(ref, before, 2, INT64_MAX), CTR_OK);
            ck_assert_int_eq(ctr_rng_below(rng, after, 2, INT64_MAX), CTR_OK);
            ck_assert_int_eq(memcmp(before, after, sizeof(after)), 0);
            ck_assert_ptr_null(child);
            ctr_rng_destroy(ref);
        }
    }
    ctr_rng_destroy(child);
    ctr_rng_destroy(rng);
    return rc;
}

static int attempt_load_path(const ctr_allocator *a, void *ctx)
{
    ctr_rng *rng = NULL;
    int rc = ctr_rng_load(&rng, (const char *)ctx, a);
    ctr_rng_destroy(rng);
    return rc;
}

static int attempt_load_buffer(const ctr_allocator *a, void *ctx)
{
    ctr_rng *rng = NULL;
    const unsigned char *buf = (const unsigned char *)ctx;
    size_t len;
    memcpy(&len, buf, sizeof(len));
    {
        int rc = ctr_rng_load_buffer(&rng, buf + sizeof(len), len, a);
        ctr_rng_destroy(rng);
        return rc;
    }
}

START_TEST(test_out_of_memory_everywhere)
{
    char path[256];
    unsigned char buf[512];
    size_t len = 0;
    ctr_rng *rng = NULL;
    ck_assert_int_eq(test_every_alloc_failure(attempt_create, NULL), 1);
    ck_assert_int_eq(test_every_alloc_failure(attempt_split, NULL), 2);

    test_temp_path(path, sizeof(path), "oom.ckpt");
    ck_assert_int_eq(ctr_rng_create(&rng, 9, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_save(rng, path), CTR_OK);
    ck_assert_int_eq(ctr_rng_save_buffer(rng, buf + sizeof(len),
                                         sizeof(buf) - sizeof(len), &len),
                     CTR_OK);
    memcpy(buf, &len, sizeof(len));
    ctr_rng_destroy(rng);
    ck_assert_int_ge(test_every_alloc_failure(attempt_load_path, path), 1);
    ck_assert_int_ge(test_every_alloc_failure(attempt_load_buffer, buf), 1);
    remove(path);
}
END_TEST

Suite *ctr_test_alloc_suite(void);

Suite *ctr_test_alloc_suite(void)
{
    Suite *s = suite_create("alloc");
    TCase *api = tcase_create("allocator");
    TCase *sizes = tcase_create("sizes");
    TCase *oom = tcase_create("out_of_memory");
    tcase_add_test(api, test_allocator_init);
    tcase_add_test(api, test_bad_allocators_are_rejected);
    tcase_add_test(api, test_system_allocator_alignment);
    tcase_add_test(api, test_counting_allocator_sees_every_block);
    tcase_add_test(sizes, test_size_overflow);
    tcase_add_test(oom, test_out_of_memory_everywhere);
    suite_add_tcase(s, api);
    suite_add_tcase(s, sizes);
    suite_add_tcase(s, oom);
    return s;
}
