/*
 * check_queue.c - the momentum queue: ring arithmetic against a naive
 * one-row-at-a-time model, initialisation, read access, bad input,
 * out-of-memory paths and exact resume from checkpoints.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/checkpoint.h"
#include "test_util.h"

/* The model: enqueue one row at a time into slot `pos`. */
typedef struct model {
    int64_t k, d, pos, count, total;
    float keys[64 * 8];
    int64_t ids[64];
} model;

static void model_push(model *m, const float *row, int64_t id)
{
    memcpy(m->keys + m->pos * m->d, row, (size_t)m->d * sizeof(float));
    m->ids[m->pos] = id;
    m->pos = (m->pos + 1) % m->k;
    if (m->count < m->k)
        m->count++;
    m->total++;
}

static int64_t get(const ctr_queue *q, int32_t p)
{
    int64_t v = -99;
    ck_assert_int_eq(ctr_queue_get_i64(q, p, &v), CTR_OK);
    return v;
}

static void assert_matches(const ctr_queue *q, const model *m)
{
    const float *keys = NULL;
    const int64_t *ids = NULL;
    int64_t count = -1, ld = -1, icount = -1;
    ck_assert_int_eq(ctr_queue_keys(q, &keys, &count, &ld), CTR_OK);
    ck_assert_int_eq(ctr_queue_ids(q, &ids, &icount), CTR_OK);
    ck_assert_int_eq(count, m->count);
    ck_assert_int_eq(icount, m->count);
    ck_assert_int_eq(ld, m->d);
    ck_assert_int_eq(get(q, CTR_QUEUE_P_WRITE_POS), m->pos);
    ck_assert_int_eq(get(q, CTR_QUEUE_P_TOTAL), m->total);
    ck_assert_int_eq(get(q, CTR_QUEUE_P_COUNT), m->count);
    ck_assert_int_eq(memcmp(keys, m->keys, (size_t)(count * ld) * sizeof(float)), 0);
    if (ids != NULL)
        ck_assert_int_eq(memcmp(ids, m->ids, (size_t)count * sizeof(int64_t)), 0);
}

/* A batch of n rows with stride ld whose values encode (step, row, col). */
static void make_batch(float *x, int64_t *ids, int64_t n, int64_t d,
                       int64_t ld, int step)
{
    int64_t i, j;
    for (i = 0; i < n; i++) {
        for (j = 0; j < ld; j++)
            x[i * ld + j] = j < d ? (float)(step * 1000 + i * 10 + j) : NAN;
        ids[i] = step * 100 + i;
    }
}

/* Snapshot of the whole state, for "unchanged" checks. */
static unsigned char *snapshot(const ctr_queue *q, size_t *size)
{
    unsigned char *buf;
    ck_assert_int_eq(ctr_queue_save_buffer(q, NULL, 0, size), CTR_OK);
    buf = (unsigned char *)malloc(*size);
    ck_assert_int_eq(ctr_queue_save_buffer(q, buf, *size, size), CTR_OK);
    return buf;
}

static void assert_unchanged(const ctr_queue *q, const unsigned char *before,
                             size_t size)
{
    size_t now_size;
    unsigned char *now = snapshot(q, &now_size);
    ck_assert_uint_eq(now_size, size);
    ck_assert_int_eq(memcmp(now, before, size), 0);
    free(now);
}

START_TEST(test_wraparound_matches_model)
{
    /* K = 10 and batches of 3 (does not divide K), then mixed sizes; the
     * batch has ld > d and NaN padding that must never be read. */
    static const int64_t sizes[] = {3, 3, 3, 3, 3, 3, 3, 0, 1, 4, 10, 7, 9, 2};
    ctr_queue *q = NULL;
    model m;
    float x[10 * 5];
    int64_t ids[10], i, step;
    memset(&m, 0, sizeof(m));
    m.k = 10;
    m.d = 3;
    ck_assert_int_eq(ctr_queue_create(&q, 10, 3, CTR_QUEUE_IDS, 1, NULL), CTR_OK);
    assert_matches(q, &m);
    for (step = 0; step < (int64_t)(sizeof(sizes) / sizeof(sizes[0])); step++) {
        int64_t n = sizes[step];
        make_batch(x, ids, n, 3, 5, (int)step + 1);
        ck_assert_int_eq(ctr_queue_enqueue(q, x, n, 5, ids), CTR_OK);
        for (i = 0; i < n; i++)
            model_push(&m, x + i * 5, ids[i]);
        assert_matches(q, &m);
        if (step == 3) /* 12 keys into K = 10: full, wrapped to slot 2 */
            ck_assert_int_eq(get(q, CTR_QUEUE_P_WRITE_POS), 2);
    }
    ck_assert_int_eq(get(q, CTR_QUEUE_P_TOTAL), 54);
    ctr_queue_destroy(q);
}
END_TEST

START_TEST(test_keep_newest)
{
    ctr_queue *q = NULL, *strict = NULL;
    model m;
    float x[12 * 2];
    int64_t ids[12], i;
    unsigned char *before;
    size_t size;
    memset(&m, 0, sizeof(m));
    m.k = 5;
    m.d = 2;
    ck_assert_int_eq(ctr_queue_create(&q, 5, 2, CTR_QUEUE_IDS | CTR_QUEUE_KEEP_NEWEST,
                                      1, NULL), CTR_OK);
    make_batch(x, ids, 3, 2, 2, 1);
    ck_assert_int_eq(ctr_queue_enqueue(q, x, 3, 2, ids), CTR_OK);
    for (i = 0; i < 3; i++)
        model_push(&m, x + i * 2, ids[i]);
    make_batch(x, ids, 12, 2, 2, 2);
    ck_assert_int_eq(ctr_queue_enqueue(q, x, 12, 2, ids), CTR_OK);
    for (i = 0; i < 12; i++)
        model_push(&m, x + i * 2, ids[i]);
    assert_matches(q, &m);

    ck_assert_int_eq(ctr_queue_create(&strict, 5, 2, 0, 1, NULL), CTR_OK);
    before = snapshot(strict, &size);
    ck_assert_int_eq(ctr_queue_enqueue(strict, x, 6, 2, NULL), CTR_E_SHAPE);
    ck_assert_uint_gt(strlen(ctr_queue_last_error(strict)), 0);
    assert_unchanged(strict, before, size);
    ck_assert_int_eq(ctr_queue_enqueue(strict, x, 5, 2, NULL), CTR_OK);
    ck_assert_str_eq(ctr_queue_last_error(strict), "");
    free(before);
    ctr_queue_destroy(strict);
    ctr_queue_destroy(q);
}
END_TEST

START_TEST(test_random_init)
{
    ctr_queue *a = NULL, *b = NULL, *c = NULL;
    const float *ka, *kb, *kc;
    const int64_t *ids;
    int64_t count, ld, i, j;
    double mean0 = 0;
    ck_assert_int_eq(ctr_queue_create(&a, 500, 16, CTR_QUEUE_INIT_RANDOM | CTR_QUEUE_IDS,
                                      9, NULL), CTR_OK);
    ck_assert_int_eq(ctr_queue_create(&b, 500, 16, CTR_QUEUE_INIT_RANDOM, 9, NULL), CTR_OK);
    ck_assert_int_eq(ctr_queue_create(&c, 500, 16, CTR_QUEUE_INIT_RANDOM, 10, NULL), CTR_OK);
    ck_assert_int_eq(ctr_queue_keys(a, &ka, &count, &ld), CTR_OK);
    ck_assert_int_eq(count, 500);
    ck_assert_int_eq(get(a, CTR_QUEUE_P_WRITE_POS), 0);
    ck_assert_int_eq(get(a, CTR_QUEUE_P_TOTAL), 0);
    ck_assert_int_eq(ctr_queue_keys(b, &kb, NULL, NULL), CTR_OK);
    ck_assert_int_eq(ctr_queue_keys(c, &kc, NULL, NULL), CTR_OK);
    ck_assert_int_eq(memcmp(ka, kb, 500 * 16 * sizeof(float)), 0);
    ck_assert_int_ne(memcmp(ka, kc, 500 * 16 * sizeof(float)), 0);
    ck_assert_int_eq(ctr_queue_ids(a, &ids, NULL), CTR_OK);
    for (i = 0; i < count; i++) {
        double sq = 0;
        for (j = 0; j < ld; j++)
            sq += (double)ka[i * ld + j] * ka[i * ld + j];
        ck_assert_close(sq, 1.0, 0, 1e-6);
        ck_assert_int_eq(ids[i], CTR_QUEUE_NO_ID);
        mean0 += ka[i * ld];
    }
    /* directions are isotropic: the first coordinate averages near 0
     * (standard deviation 1/sqrt(16 * 500)) */
    ck_assert_close(mean0 / 500, 0.0, 0, 0.05);
    ck_assert_int_eq(ctr_queue_ids(b, &ids, NULL), CTR_OK);
    ck_assert_ptr_null(ids);
    ctr_queue_destroy(a);
    ctr_queue_destroy(b);
    ctr_queue_destroy(c);
}
END_TEST

START_TEST(test_copy_out)
{
    ctr_queue *q = NULL;
    float x[4 * 3], out[8 * 4];
    int64_t ids[4], out_ids[8], count = -1, i, j;
    const float *keys;
    ck_assert_int_eq(ctr_queue_create(&q, 6, 3, 0, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_queue_copy(q, NULL, 3, NULL, 0, &count), CTR_OK);
    ck_assert_int_eq(count, 0);
    make_batch(x, ids, 4, 3, 3, 1);
    ck_assert_int_eq(ctr_queue_enqueue(q, x, 4, 3, NULL), CTR_OK);
    ck_assert_int_eq(ctr_queue_copy(q, out, 4, out_ids, 3, &count),
                     CTR_E_BUFFER_TOO_SMALL);
    ck_assert_int_eq(count, 4);
    ck_assert_int_eq(ctr_queue_copy(q, out, 4, out_ids, 8, &count), CTR_OK);
    ck_assert_int_eq(ctr_queue_keys(q, &keys, NULL, NULL), CTR_OK);
    for (i = 0; i < 4; i++) {
        for (j = 0; j < 3; j++)
            ck_assert(out[i * 4 + j] == keys[i * 3 + j]);
        ck_assert_int_eq(out_ids[i], CTR_QUEUE_NO_ID);
    }
    ck_assert_int_eq(ctr_queue_copy(q, out, 2, NULL, 8, &count), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_copy(q, NULL, 3, NULL, 8, &count), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_copy(q, out, 3, NULL, -1, &count), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_copy(q, out, 3, NULL, 8, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_copy(NULL, out, 3, NULL, 8, &count), CTR_E_INVALID_ARG);
    ctr_queue_destroy(q);
}
END_TEST

static void *bad_alloc(void *user, size_t size, size_t alignment)
{
    (void)user;
    (void)size;
    (void)alignment;
    return NULL;
}

START_TEST(test_bad_input_leaves_queue_unchanged)
{
    ctr_queue *q = NULL;
    float x[4 * 3];
    int64_t ids[4], v;
    unsigned char *before;
    size_t size;
    const float *k;
    const int64_t *ip;
    ctr_allocator bad;

    ck_assert_int_eq(ctr_queue_create(NULL, 4, 3, 0, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_create(&q, 0, 3, 0, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_create(&q, 4, 0, 0, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_create(&q, -4, 3, 0, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_create(&q, 4, 3, 0x100, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_create(&q, INT64_MAX / 2, 3, 0, 1, NULL), CTR_E_OVERFLOW);
    ctr_allocator_init(&bad);
    bad.alloc = bad_alloc; /* without a free function */
    ck_assert_int_eq(ctr_queue_create(&q, 4, 3, 0, 1, &bad), CTR_E_INVALID_ARG);
    ck_assert_ptr_null(q);

    ck_assert_int_eq(ctr_queue_create(&q, 4, 3, CTR_QUEUE_IDS, 1, NULL), CTR_OK);
    make_batch(x, ids, 4, 3, 3, 1);
    ck_assert_int_eq(ctr_queue_enqueue(q, x, 3, 3, ids), CTR_OK);
    before = snapshot(q, &size);

    x[2 * 3 + 1] = NAN; /* the last row of the batch */
    ck_assert_int_eq(ctr_queue_enqueue(q, x, 3, 3, ids), CTR_E_NUMERIC);
    ck_assert_str_eq(ctr_queue_last_error(q), "keys[2][1] is NaN");
    x[2 * 3 + 1] = INFINITY;
    ck_assert_int_eq(ctr_queue_enqueue(q, x, 3, 3, ids), CTR_E_NUMERIC);
    x[2 * 3 + 1] = 0.0f;
    ck_assert_int_eq(ctr_queue_enqueue(q, NULL, 3, 3, ids), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_enqueue(q, x, 3, 3, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_enqueue(q, x, -1, 3, ids), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_enqueue(q, x, 3, 2, ids), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_enqueue(q, x, 5, 3, ids), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_queue_enqueue(NULL, x, 3, 3, ids), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_enqueue(q, NULL, 0, 0, NULL), CTR_OK);
    assert_unchanged(q, before, size);

    ck_assert_int_eq(ctr_queue_keys(q, NULL, NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_keys(NULL, &k, NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_ids(q, NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_ids(NULL, &ip, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_get_i64(q, 12345, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_get_i64(q, CTR_QUEUE_P_DIM, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_get_i64(NULL, CTR_QUEUE_P_DIM, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(get(q, CTR_QUEUE_P_CAPACITY), 4);
    ck_assert_int_eq(get(q, CTR_QUEUE_P_DIM), 3);
    ck_assert_int_eq(get(q, CTR_QUEUE_P_FLAGS), CTR_QUEUE_IDS);
    ck_assert_int_ge(get(q, CTR_QUEUE_P_MEMORY_BYTES), 4 * 3 * 4 + 4 * 8);
    ck_assert_str_eq(ctr_queue_last_error(NULL), "invalid handle (NULL)");
    assert_unchanged(q, before, size);
    free(before);
    ctr_queue_destroy(q);
    ctr_queue_destroy(NULL);
}
END_TEST

/* ---- checkpoints ---- */

/* Runs steps [from, to) of a fixed sequence of odd-sized batches. */
static void run_steps(ctr_queue *q, int from, int to)
{
    float x[7 * 4];
    int64_t ids[7];
    int s;
    for (s = from; s < to; s++) {
        int64_t n = 1 + (s * 5) % 7;
        make_batch(x, ids, n, 4, 4, s);
        ck_assert_int_eq(ctr_queue_enqueue(q, x, n, 4, ids), CTR_OK);
    }
}

START_TEST(test_resume_exactly)
{
    static const int32_t flag_sets[] = {CTR_QUEUE_IDS,
                                        CTR_QUEUE_IDS | CTR_QUEUE_INIT_RANDOM};
    int f;
    for (f = 0; f < 2; f++) {
        ctr_queue *q = NULL, *from_buf = NULL, *from_path = NULL;
        unsigned char *saved, *a, *b, *c;
        size_t size, sa, sb, sc;
        char path[256];
        ck_assert_int_eq(ctr_queue_create(&q, 13, 4, flag_sets[f], 3, NULL), CTR_OK);
        run_steps(q, 0, 2); /* not yet full: 2 + 7 = 9 keys */
        saved = snapshot(q, &size);
        ck_assert_int_eq(ctr_queue_load_buffer(&from_buf, saved, size, NULL), CTR_OK);
        test_temp_path(path, sizeof(path), "queue.ckpt");
        ck_assert_int_eq(ctr_queue_save(q, path), CTR_OK);
        ck_assert_int_eq(ctr_queue_load(&from_path, path, NULL), CTR_OK);
        remove(path);
        run_steps(q, 2, 9);
        run_steps(from_buf, 2, 9);
        run_steps(from_path, 2, 9);
        a = snapshot(q, &sa);
        b = snapshot(from_buf, &sb);
        c = snapshot(from_path, &sc);
        ck_assert_uint_eq(sa, sb);
        ck_assert_uint_eq(sa, sc);
        ck_assert_int_eq(memcmp(a, b, sa), 0);
        ck_assert_int_eq(memcmp(a, c, sa), 0);
        free(saved);
        free(a);
        free(b);
        free(c);
        ctr_queue_destroy(q);
        ctr_queue_destroy(from_buf);
        ctr_queue_destroy(from_path);
    }
}
END_TEST

/* Writes a queue checkpoint with a hand-made header. */
static size_t craft(unsigned char *buf, size_t cap, int64_t k, int64_t d,
                    uint32_t flags, int64_t count, int64_t pos, int64_t total,
                    uint64_t s0, float key0)
{
    ctr__ckw w;
    size_t size = 0;
    int64_t i;
    ctr__ckw_to_buffer(&w, buf, cap, CTR__CKPT_KIND_QUEUE, NULL);
    ctr__ckw_begin_section(&w, CTR__FOURCC('Q', 'H', 'D', 'R'));
    ctr__ckw_put_i64(&w, k);
    ctr__ckw_put_i64(&w, d);
    ctr__ckw_put_u32(&w, flags);
    ctr__ckw_put_i64(&w, count);
    ctr__ckw_put_i64(&w, pos);
    ctr__ckw_put_i64(&w, total);
    ctr__ckw_put_u64(&w, s0);
    ctr__ckw_put_u64(&w, 0);
    ctr__ckw_put_u64(&w, 0);
    ctr__ckw_put_u64(&w, 0);
    ctr__ckw_end_section(&w);
    ctr__ckw_begin_section(&w, CTR__FOURCC('Q', 'K', 'E', 'Y'));
    for (i = 0; i < count * d; i++)
        ctr__ckw_put_f32_array(&w, i == 0 ? &key0 : &(float){0.5f}, 1);
    ctr__ckw_end_section(&w);
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_OK);
    return size;
}

START_TEST(test_load_rejects_corruption)
{
    ctr_queue *q = NULL, *loaded = NULL;
    unsigned char *buf, crafted[1024];
    size_t size, i, n;
    char path[256];
    ck_assert_int_eq(ctr_queue_create(&q, 4, 2, CTR_QUEUE_IDS, 1, NULL), CTR_OK);
    run_steps(q, 0, 1);
    buf = snapshot(q, &size);
    for (i = 0; i < size; i++)
        ck_assert_int_eq(ctr_queue_load_buffer(&loaded, buf, i, NULL), CTR_E_CORRUPT);
    for (i = 0; i < size * 8; i++) {
        int rc;
        buf[i / 8] ^= (unsigned char)(1u << (i % 8));
        rc = ctr_queue_load_buffer(&loaded, buf, size, NULL);
        ck_assert_msg(rc == CTR_E_CORRUPT || rc == CTR_E_INCOMPATIBLE,
                      "bit %zu: %d", i, rc);
        buf[i / 8] ^= (unsigned char)(1u << (i % 8));
    }
    /* the same truncation through a file */
    test_temp_path(path, sizeof(path), "queue-trunc.ckpt");
    {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(buf, 1, size - 3, f), size - 3);
        fclose(f);
    }
    ck_assert_int_eq(ctr_queue_load(&loaded, path, NULL), CTR_E_CORRUPT);
    remove(path);

    /* well-formed checksums, inconsistent content */
    n = craft(crafted, sizeof(crafted), 4, 2, 0, 2, 2, 2, 1, 1.0f);
    ck_assert_int_eq(ctr_queue_load_buffer(&loaded, crafted, n, NULL), CTR_OK);
    ctr_queue_destroy(loaded);
    loaded = NULL;
    n = craft(crafted, sizeof(crafted), 4, 2, 0, 2, 1, 2, 1, 1.0f); /* pos */
    ck_assert_int_eq(ctr_queue_load_buffer(&loaded, crafted, n, NULL), CTR_E_CORRUPT);
    n = craft(crafted, sizeof(crafted), 4, 2, 0, 3, 2, 2, 1, 1.0f); /* count */
    ck_assert_int_eq(ctr_queue_load_buffer(&loaded, crafted, n, NULL), CTR_E_CORRUPT);
    n = craft(crafted, sizeof(crafted), 4, 2, 0x80, 2, 2, 2, 1, 1.0f); /* flag */
    ck_assert_int_eq(ctr_queue_load_buffer(&loaded, crafted, n, NULL), CTR_E_CORRUPT);
    n = craft(crafted, sizeof(crafted), 0, 2, 0, 0, 0, 0, 1, 1.0f); /* K */
    ck_assert_int_eq(ctr_queue_load_buffer(&loaded, crafted, n, NULL), CTR_E_CORRUPT);
    n = craft(crafted, sizeof(crafted), 4, 2, 0, 2, 2, 2, 0, 1.0f); /* rng */
    ck_assert_int_eq(ctr_queue_load_buffer(&loaded, crafted, n, NULL), CTR_E_CORRUPT);
    n = craft(crafted, sizeof(crafted), 4, 2, 0, 2, 2, 2, 1, NAN); /* key */
    ck_assert_int_eq(ctr_queue_load_buffer(&loaded, crafted, n, NULL), CTR_E_CORRUPT);
    n = craft(crafted, sizeof(crafted), 4, 2, CTR_QUEUE_IDS, 2, 2, 2, 1, 1.0f);
    ck_assert_int_eq(ctr_queue_load_buffer(&loaded, crafted, n, NULL), CTR_E_CORRUPT);
    n = craft(crafted, sizeof(crafted), INT64_MAX / 4, 4, 0, 0, 0, 0, 1, 1.0f);
    ck_assert_int_eq(ctr_queue_load_buffer(&loaded, crafted, n, NULL), CTR_E_CORRUPT);
    ck_assert_ptr_null(loaded);

    ck_assert_int_eq(ctr_queue_load_buffer(NULL, buf, size, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_load_buffer(&loaded, NULL, size, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_load(&loaded, NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_save(q, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_save(NULL, path), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_save(q, "/nonexistent-dir/q.ckpt"), CTR_E_IO);
    ck_assert_int_eq(ctr_queue_save_buffer(q, NULL, 4, &size), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_save_buffer(q, buf, 10, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_queue_save_buffer(q, buf, 10, &n), CTR_E_BUFFER_TOO_SMALL);
    ck_assert_uint_eq(n, size);
    ck_assert_ptr_null(loaded);
    free(buf);
    ctr_queue_destroy(q);
}
END_TEST

/* ---- out of memory ---- */

static int attempt_create(const ctr_allocator *a, void *ctx)
{
    ctr_queue *q = NULL;
    float x[3 * 4] = {0};
    int64_t ids[3] = {0, 1, 2};
    int rc = ctr_queue_create(&q, 5, 4, CTR_QUEUE_IDS | CTR_QUEUE_INIT_RANDOM, 1, a);
    (void)ctx;
    if (rc != CTR_OK)
        return rc;
    ck_assert_int_eq(ctr_queue_enqueue(q, x, 3, 4, ids), CTR_OK);
    ctr_queue_destroy(q);
    return CTR_OK;
}

typedef struct ckpt_ctx {
    const unsigned char *buf;
    size_t size;
    const char *path;
} ckpt_ctx;

static int attempt_load_buffer(const ctr_allocator *a, void *ctx)
{
    ckpt_ctx *c = (ckpt_ctx *)ctx;
    ctr_queue *q = NULL;
    int rc = ctr_queue_load_buffer(&q, c->buf, c->size, a);
    ctr_queue_destroy(q);
    return rc;
}

static int attempt_load_path(const ctr_allocator *a, void *ctx)
{
    ckpt_ctx *c = (ckpt_ctx *)ctx;
    ctr_queue *q = NULL;
    int rc = ctr_queue_load(&q, c->path, a);
    ctr_queue_destroy(q);
    return rc;
}

static int attempt_save_path(const ctr_allocator *a, void *ctx)
{
    ckpt_ctx *c = (ckpt_ctx *)ctx;
    ctr_queue *q = NULL;
    int rc = ctr_queue_load_buffer(&q, c->buf, c->size, a);
    if (rc == CTR_OK)
        rc = ctr_queue_save(q, c->path);
    ctr_queue_destroy(q);
    return rc;
}

START_TEST(test_every_allocation_failure)
{
    ctr_queue *q = NULL;
    ckpt_ctx c;
    char path[256];
    unsigned char *buf;
    ck_assert_int_gt(test_every_alloc_failure(attempt_create, NULL), 1);
    ck_assert_int_eq(ctr_queue_create(&q, 7, 4, CTR_QUEUE_IDS, 1, NULL), CTR_OK);
    run_steps(q, 0, 3);
    buf = snapshot(q, &c.size);
    c.buf = buf;
    c.path = test_temp_path(path, sizeof(path), "queue-oom.ckpt");
    ck_assert_int_gt(test_every_alloc_failure(attempt_load_buffer, &c), 1);
    ck_assert_int_gt(test_every_alloc_failure(attempt_save_path, &c), 1);
    ck_assert_int_gt(test_every_alloc_failure(attempt_load_path, &c), 1);
    remove(path);
    free(buf);
    ctr_queue_destroy(q);
}
END_TEST

Suite *ctr_test_queue_suite(void);

Suite *ctr_test_queue_suite(void)
{
    Suite *s = suite_create("queue");
    TCase *ring = tcase_create("ring");
    TCase *errors = tcase_create("errors");
    TCase *ckpt = tcase_create("checkpoint");
    tcase_add_test(ring, test_wraparound_matches_model);
    tcase_add_test(ring, test_keep_newest);
    tcase_add_test(ring, test_random_init);
    tcase_add_test(ring, test_copy_out);
    tcase_add_test(errors, test_bad_input_leaves_queue_unchanged);
    tcase_add_test(errors, test_every_allocation_failure);
    tcase_add_test(ckpt, test_resume_exactly);
    tcase_add_test(ckpt, test_load_rejects_corruption);
    tcase_set_timeout(ckpt, 60);
    suite_add_tcase(s, ring);
    suite_add_tcase(s, errors);
    suite_add_tcase(s, ckpt);
    return s;
}
