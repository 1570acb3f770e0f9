/*
 * check_state.c - the one-file training state (ctr_state): round trips,
 * names missing, extra or twice, objects of the wrong kind or shape,
 * corrupt files (every truncation, every flipped byte, another object's
 * file), a failing allocator at every allocation of a load (nothing
 * changed) and of a save (the old file intact).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32.h"
#include "test_util.h"

/* A training run's objects, named in one state. */
typedef struct run {
    ctr_encoder *query, *key;
    ctr_optimizer *opt;
    ctr_objective *obj;
    ctr_queue *queue;
    ctr_bank *bank;
    ctr_rng *rng;
    ctr_state *st;
} run;

/* Each object's own checkpoint, concatenated: equal snapshots mean equal
 * objects. */
typedef struct snapshot {
    unsigned char *bytes;
    size_t size;
} snapshot;

static void run_destroy(run *r)
{
    ctr_state_destroy(r->st);
    ctr_optimizer_destroy(r->opt);
    ctr_encoder_destroy(r->query);
    ctr_encoder_destroy(r->key);
    ctr_objective_destroy(r->obj);
    ctr_queue_destroy(r->queue);
    ctr_bank_destroy(r->bank);
    ctr_rng_destroy(r->rng);
    memset(r, 0, sizeof(*r));
}

static int make_encoder(ctr_encoder **enc, uint64_t seed, int64_t hidden,
                        const ctr_allocator *a)
{
    const int64_t dims[1] = {6};
    int rc = ctr_encoder_create(enc, dims, 1, seed, a);
    if (rc == CTR_OK)
        rc = ctr_encoder_add_linear(*enc, hidden, 1);
    if (rc >= 0)
        rc = ctr_encoder_add_batchnorm(*enc, 1e-5, 0.1, 1);
    if (rc >= 0)
        rc = ctr_encoder_add_activation(*enc, CTR_LAYER_RELU);
    if (rc >= 0)
        rc = ctr_encoder_add_linear(*enc, 4, 1);
    return rc < 0 ? rc : CTR_OK;
}

/* Names r's objects in st (r's state or another): the names of a run. */
static int name_objects(ctr_state *st, const run *r)
{
    int rc = ctr_state_add_encoder(st, "query", r->query);
    if (rc == CTR_OK)
        rc = ctr_state_add_encoder(st, "key", r->key);
    if (rc == CTR_OK)
        rc = ctr_state_add_optimizer(st, "optimizer", r->opt);
    if (rc == CTR_OK)
        rc = ctr_state_add_objective(st, "objective", r->obj);
    if (rc == CTR_OK)
        rc = ctr_state_add_queue(st, "queue", r->queue);
    if (rc == CTR_OK)
        rc = ctr_state_add_bank(st, "bank", r->bank);
    if (rc == CTR_OK)
        rc = ctr_state_add_rng(st, "rng.host", r->rng);
    return rc;
}

/* Builds the objects (seeded by seed) with allocator a; with named set, the
 * state names them. Returns the first failure (everything built so far
 * stays in r, for run_destroy). */
static int run_build(run *r, uint64_t seed, const ctr_allocator *a, int named)
{
    int rc;
    memset(r, 0, sizeof(*r));
    rc = make_encoder(&r->query, seed, 5, a);
    if (rc == CTR_OK)
        rc = make_encoder(&r->key, seed + 1, 5, a);
    if (rc == CTR_OK)
        rc = ctr_optimizer_create_for_encoder(&r->opt, CTR_OPTIMIZER_ADAMW,
                                              r->query, a);
    if (rc == CTR_OK)
        rc = ctr_objective_create(&r->obj, CTR_OBJECTIVE_NTXENT, a);
    if (rc == CTR_OK)
        rc = ctr_queue_create(&r->queue, 10, 4, CTR_QUEUE_IDS, seed, a);
    if (rc == CTR_OK)
        rc = ctr_bank_create(&r->bank, 12, 4, seed, a);
    if (rc == CTR_OK)
        rc = ctr_rng_create(&r->rng, seed, a);
    if (rc == CTR_OK)
        rc = ctr_state_create(&r->st, a);
    if (rc != CTR_OK || !named)
        return rc;
    return name_objects(r->st, r);
}

/* One training step of every object: the state all of them change. */
static void run_step(run *r, float salt)
{
    float x[8 * 6], y[8 * 4], dy[8 * 4], keys[3 * 4], u[4];
    int64_t ids[3] = {1, 2, 3}, rows[2] = {0, 5}, draw;
    double loss;
    int i;
    for (i = 0; i < 8 * 6; i++)
        x[i] = (float)((i * 37 % 11) - 5) * 0.1f + salt;
    ck_assert_int_eq(ctr_encoder_forward(r->query, y, x, 8, CTR_ENCODER_TRAIN),
                     CTR_OK);
    for (i = 0; i < 8 * 4; i++)
        dy[i] = 0.01f * (float)(i % 7) - 0.02f;
    ck_assert_int_eq(ctr_encoder_zero_grad(r->query), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(r->query, NULL, dy), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_step(r->opt), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(r->key, y, x, 8, CTR_ENCODER_TRAIN),
                     CTR_OK);
    ck_assert_int_eq(ctr_objective_set_f64(r->obj, CTR_OBJECTIVE_P_TEMPERATURE,
                                           0.2 + salt), CTR_OK);
    ck_assert_int_eq(ctr_objective_ntxent(r->obj, &loss, y, 4, y + 16, 4, 4, 4,
                                          NULL, dy, dy + 16), CTR_OK);
    for (i = 0; i < 3 * 4; i++)
        keys[i] = (float)i * 0.1f + salt;
    ck_assert_int_eq(ctr_queue_enqueue(r->queue, keys, 3, 4, ids), CTR_OK);
    ck_assert_int_eq(ctr_bank_update(r->bank, rows, 2, keys, 4), CTR_OK);
    ck_assert_int_eq(ctr_rng_uniform(r->rng, u, 4), CTR_OK);
    ck_assert_int_eq(ctr_rng_below(r->rng, &draw, 1, 1000), CTR_OK);
}

static void append(snapshot *s, int (*save)(const void *, void *, size_t,
                                            size_t *), const void *h)
{
    size_t need = 0;
    ck_assert_int_eq(save(h, NULL, 0, &need), CTR_OK);
    s->bytes = (unsigned char *)realloc(s->bytes, s->size + need);
    ck_assert_ptr_nonnull(s->bytes);
    ck_assert_int_eq(save(h, s->bytes + s->size, need, &need), CTR_OK);
    s->size += need;
}

/* The typed save_buffer calls through one signature. */
#define SAVER(type, fn)                                                       \
    static int save_##type(const void *h, void *b, size_t c, size_t *n)       \
    {                                                                         \
        return fn((const ctr_##type *)h, b, c, n);                            \
    }
SAVER(encoder, ctr_encoder_save_buffer)
SAVER(optimizer, ctr_optimizer_save_buffer)
SAVER(objective, ctr_objective_save_buffer)
SAVER(queue, ctr_queue_save_buffer)
SAVER(bank, ctr_bank_save_buffer)
SAVER(rng, ctr_rng_save_buffer)

static snapshot take(const run *r)
{
    snapshot s = {NULL, 0};
    append(&s, save_encoder, r->query);
    append(&s, save_encoder, r->key);
    append(&s, save_optimizer, r->opt);
    append(&s, save_objective, r->obj);
    append(&s, save_queue, r->queue);
    append(&s, save_bank, r->bank);
    append(&s, save_rng, r->rng);
    return s;
}

static int same(const snapshot *a, const snapshot *b)
{
    return a->size == b->size && memcmp(a->bytes, b->bytes, a->size) == 0;
}

static void expect_same(const run *r, const snapshot *want)
{
    snapshot now = take(r);
    ck_assert_msg(same(&now, want), "the objects changed");
    free(now.bytes);
}

/* The state's file in a malloc'd buffer. */
static unsigned char *save_to_buffer(ctr_state *st, size_t *size)
{
    unsigned char *buf;
    ck_assert_int_eq(ctr_state_save_buffer(st, NULL, 0, size), CTR_OK);
    buf = (unsigned char *)malloc(*size);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(ctr_state_save_buffer(st, buf, *size, size), CTR_OK);
    return buf;
}

START_TEST(test_round_trip_path)
{
    run r;
    snapshot saved, later;
    char path[256];
    ck_assert_int_eq(run_build(&r, 7, NULL, 1), CTR_OK);
    ck_assert_int_eq(ctr_state_count(r.st), 7);
    run_step(&r, 0.0f);
    saved = take(&r);
    test_temp_path(path, sizeof(path), "state.ctr");
    ck_assert_int_eq(ctr_state_save(r.st, path), CTR_OK);
    ck_assert_str_eq(ctr_state_last_error(r.st), "");
    run_step(&r, 0.3f);
    later = take(&r);
    ck_assert(!same(&saved, &later));
    ck_assert_int_eq(ctr_state_load(r.st, path), CTR_OK);
    ck_assert_str_eq(ctr_state_last_error(r.st), "");
    expect_same(&r, &saved);
    /* training resumes exactly: the same step from the restored state
     * gives what it gave the first time */
    run_step(&r, 0.3f);
    expect_same(&r, &later);
    remove(path);
    free(saved.bytes);
    free(later.bytes);
    run_destroy(&r);
}
END_TEST

START_TEST(test_round_trip_other_handles)
{
    /* a second program (other handles, other seeds, same architecture)
     * resumes from the first's file */
    run a, b;
    snapshot sa;
    unsigned char *buf;
    size_t size;
    ck_assert_int_eq(run_build(&a, 7, NULL, 1), CTR_OK);
    ck_assert_int_eq(run_build(&b, 99, NULL, 1), CTR_OK);
    run_step(&a, 0.1f);
    sa = take(&a);
    buf = save_to_buffer(a.st, &size);
    ck_assert_int_eq(ctr_state_load_buffer(b.st, buf, size), CTR_OK);
    expect_same(&b, &sa);
    /* the optimizer stays bound to b's own query encoder */
    run_step(&a, 0.2f);
    run_step(&b, 0.2f);
    free(sa.bytes);
    sa = take(&a);
    expect_same(&b, &sa);
    free(sa.bytes);
    free(buf);
    run_destroy(&a);
    run_destroy(&b);
}
END_TEST

START_TEST(test_add_errors)
{
    run r;
    ctr_queue *q2;
    ck_assert_int_eq(run_build(&r, 3, NULL, 1), CTR_OK);
    ck_assert_int_eq(ctr_state_add_queue(NULL, "q", r.queue), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_state_add_queue(r.st, NULL, r.queue), CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_state_last_error(r.st), "name"));
    ck_assert_int_eq(ctr_state_add_queue(r.st, "q2", NULL), CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_state_last_error(r.st), "queue"));
    ck_assert_int_eq(ctr_queue_create(&q2, 4, 4, 0, 1, NULL), CTR_OK);
    /* a name twice, an object twice, names empty, too long, bad bytes */
    ck_assert_int_eq(ctr_state_add_queue(r.st, "queue", q2), CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_state_last_error(r.st), "already"));
    ck_assert_int_eq(ctr_state_add_queue(r.st, "other", r.queue),
                     CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_state_last_error(r.st), "'queue'"));
    ck_assert_int_eq(ctr_state_add_queue(r.st, "", q2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_state_add_queue(r.st, "a b", q2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_state_add_queue(r.st, "a/b", q2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_state_add_queue(
                         r.st, "0123456789012345678901234567890123456789"
                               "012345678901234567890123", q2),
                     CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_state_last_error(r.st), "too long"));
    ck_assert_int_eq(ctr_state_count(r.st), 7);
    /* 63 bytes is the limit; success clears the message */
    ck_assert_int_eq(ctr_state_add_queue(
                         r.st, "0123456789012345678901234567890123456789"
                               "01234567890123456789012", q2), CTR_OK);
    ck_assert_str_eq(ctr_state_last_error(r.st), "");
    ck_assert_int_eq(ctr_state_count(r.st), 8);
    ck_assert_int_eq(ctr_state_count(NULL), 0);
    ck_assert_int_eq(ctr_state_save(NULL, "x"), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_state_save(r.st, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_state_load(NULL, "x"), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_state_load(r.st, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_state_load_buffer(r.st, NULL, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_state_create(NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_state_last_error(NULL), "invalid handle (NULL)");
    ctr_state_destroy(NULL);
    run_destroy(&r);
    ctr_queue_destroy(q2);
}
END_TEST

/* Loads buf into r's state, expecting code and a message holding `word`,
 * and nothing changed. */
static void expect_refused(run *r, const unsigned char *buf, size_t size,
                           int code, const char *word)
{
    snapshot before = take(r);
    ck_assert_int_eq(ctr_state_load_buffer(r->st, buf, size), code);
    ck_assert_msg(strstr(ctr_state_last_error(r->st), word) != NULL,
                  "message '%s' lacks '%s'", ctr_state_last_error(r->st), word);
    expect_same(r, &before);
    free(before.bytes);
}

START_TEST(test_missing_and_extra_names)
{
    run full, fewer, more;
    ctr_rng *extra;
    unsigned char *buf_full, *buf_fewer;
    size_t n_full, n_fewer;
    ck_assert_int_eq(run_build(&full, 1, NULL, 1), CTR_OK);
    ck_assert_int_eq(run_build(&fewer, 2, NULL, 0), CTR_OK);
    ck_assert_int_eq(ctr_state_add_queue(fewer.st, "queue", fewer.queue), CTR_OK);
    ck_assert_int_eq(ctr_state_add_encoder(fewer.st, "query", fewer.query),
                     CTR_OK);
    ck_assert_int_eq(run_build(&more, 3, NULL, 1), CTR_OK);
    ck_assert_int_eq(ctr_rng_create(&extra, 5, NULL), CTR_OK);
    ck_assert_int_eq(ctr_state_add_rng(more.st, "extra", extra), CTR_OK);
    run_step(&full, 0.5f);
    buf_full = save_to_buffer(full.st, &n_full);
    buf_fewer = save_to_buffer(fewer.st, &n_fewer);
    /* the file names an object the state does not */
    expect_refused(&fewer, buf_full, n_full, CTR_E_INCOMPATIBLE, "'key'");
    /* the state names an object the file does not hold */
    expect_refused(&more, buf_full, n_full, CTR_E_INCOMPATIBLE, "'extra'");
    expect_refused(&full, buf_fewer, n_fewer, CTR_E_INCOMPATIBLE, "'key'");
    /* the order of adding does not matter */
    ck_assert_int_eq(ctr_state_load_buffer(fewer.st, buf_fewer, n_fewer), CTR_OK);
    free(buf_full);
    free(buf_fewer);
    ctr_rng_destroy(extra);
    run_destroy(&full);
    run_destroy(&fewer);
    run_destroy(&more);
}
END_TEST

/* Recomputes the CRC of the section whose payload starts at p (len bytes). */
static void fix_section_crc(unsigned char *p, size_t len)
{
    uint32_t c = ctr__crc32(0, p - 16, 16 + len);
    int i;
    for (i = 0; i < 4; i++)
        p[len + (size_t)i] = (unsigned char)(c >> (8 * i));
}

/* The payload of the SENT section naming `name`, or NULL. */
static unsigned char *find_entry(unsigned char *buf, size_t size,
                                 const char *name)
{
    size_t i, len = strlen(name);
    for (i = 0; i + 24 + len <= size; i++)
        if (memcmp(buf + i, "SENT", 4) == 0 &&
            buf[i + 20] == (unsigned char)len &&
            memcmp(buf + i + 24, name, len) == 0)
            return buf + i + 16;
    return NULL;
}

START_TEST(test_name_twice_in_file)
{
    run r;
    ctr_rng *r1, *r2;
    unsigned char *buf, *p;
    size_t size;
    ck_assert_int_eq(run_build(&r, 1, NULL, 0), CTR_OK);
    ck_assert_int_eq(ctr_rng_create(&r1, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_create(&r2, 2, NULL), CTR_OK);
    ck_assert_int_eq(ctr_state_add_rng(r.st, "aa", r1), CTR_OK);
    ck_assert_int_eq(ctr_state_add_rng(r.st, "ab", r2), CTR_OK);
    buf = save_to_buffer(r.st, &size);
    p = find_entry(buf, size, "ab");
    ck_assert_ptr_nonnull(p);
    p[9] = 'a'; /* "ab" -> "aa", with a valid CRC */
    fix_section_crc(p, 10);
    ck_assert_int_eq(ctr_state_load_buffer(r.st, buf, size), CTR_E_CORRUPT);
    ck_assert_ptr_nonnull(strstr(ctr_state_last_error(r.st), "twice"));
    free(buf);
    ctr_rng_destroy(r1);
    ctr_rng_destroy(r2);
    run_destroy(&r);
}
END_TEST

/* Loads buf into a state naming `parts`' objects: refused with code and
 * a message holding word, nothing changed. */
static void expect_refused_as(const run *parts, const unsigned char *buf,
                              size_t size, int code, const char *word)
{
    run c = *parts;
    ck_assert_int_eq(ctr_state_create(&c.st, NULL), CTR_OK);
    ck_assert_int_eq(name_objects(c.st, &c), CTR_OK);
    expect_refused(&c, buf, size, code, word);
    ctr_state_destroy(c.st);
}

START_TEST(test_wrong_kind_and_shape)
{
    run a, b, c;
    ctr_queue *q_small;
    ctr_objective *infonce;
    ctr_encoder *wide;
    ctr_optimizer *sgd;
    ctr_bank *bank2;
    unsigned char *buf;
    size_t size;
    ck_assert_int_eq(run_build(&a, 1, NULL, 1), CTR_OK);
    run_step(&a, 0.1f);
    buf = save_to_buffer(a.st, &size);
    ck_assert_int_eq(run_build(&b, 2, NULL, 0), CTR_OK);
    ck_assert_int_eq(ctr_queue_create(&q_small, 9, 4, CTR_QUEUE_IDS, 1, NULL),
                     CTR_OK);
    ck_assert_int_eq(ctr_objective_create(&infonce, CTR_OBJECTIVE_INFONCE, NULL),
                     CTR_OK);
    ck_assert_int_eq(make_encoder(&wide, 1, 6, NULL), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_create_for_encoder(&sgd, CTR_OPTIMIZER_SGD,
                                                      b.query, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_create(&bank2, 10, 4, 1, NULL), CTR_OK);

    /* a name held by another kind of object: "queue" is a bank here */
    ck_assert_int_eq(ctr_state_add_bank(b.st, "queue", bank2), CTR_OK);
    ck_assert_int_eq(ctr_state_add_encoder(b.st, "query", b.query), CTR_OK);
    ck_assert_int_eq(ctr_state_add_encoder(b.st, "key", b.key), CTR_OK);
    ck_assert_int_eq(ctr_state_add_optimizer(b.st, "optimizer", b.opt), CTR_OK);
    ck_assert_int_eq(ctr_state_add_objective(b.st, "objective", b.obj), CTR_OK);
    ck_assert_int_eq(ctr_state_add_bank(b.st, "bank", b.bank), CTR_OK);
    ck_assert_int_eq(ctr_state_add_rng(b.st, "rng.host", b.rng), CTR_OK);
    expect_refused(&b, buf, size, CTR_E_INCOMPATIBLE, "'queue' is not a bank");
    ctr_state_destroy(b.st);
    b.st = NULL;

    /* full sets where one object does not fit its handle */
    c = b;
    c.obj = infonce;
    expect_refused_as(&c, buf, size, CTR_E_INCOMPATIBLE, "objective of kind");
    c = b;
    c.key = wide;
    expect_refused_as(&c, buf, size, CTR_E_SHAPE, "'key' (encoder)");
    c = b;
    c.opt = sgd;
    expect_refused_as(&c, buf, size, CTR_E_INCOMPATIBLE, "optimizer of kind");
    c = b;
    c.queue = q_small;
    expect_refused_as(&c, buf, size, CTR_E_SHAPE, "capacity 10");
    /* and the set that fits loads */
    ck_assert_int_eq(ctr_state_create(&b.st, NULL), CTR_OK);
    ck_assert_int_eq(name_objects(b.st, &b), CTR_OK);
    ck_assert_int_eq(ctr_state_load_buffer(b.st, buf, size), CTR_OK);
    ctr_optimizer_destroy(sgd);
    ctr_bank_destroy(bank2);
    ctr_queue_destroy(q_small);
    ctr_objective_destroy(infonce);
    ctr_encoder_destroy(wide);
    run_destroy(&b);
    free(buf);
    run_destroy(&a);
}
END_TEST

START_TEST(test_corrupt_files)
{
    run a, b;
    unsigned char *buf, *enc_buf;
    size_t size, enc_size, i;
    snapshot before;
    ck_assert_int_eq(run_build(&a, 1, NULL, 1), CTR_OK);
    ck_assert_int_eq(run_build(&b, 2, NULL, 1), CTR_OK);
    run_step(&a, 0.1f);
    buf = save_to_buffer(a.st, &size);
    before = take(&b);
    /* every truncation */
    for (i = 0; i < size; i++) {
        int rc = ctr_state_load_buffer(b.st, buf, i);
        ck_assert_msg(rc == CTR_E_CORRUPT, "truncated to %zu: %d", i, rc);
    }
    expect_same(&b, &before);
    /* every flipped byte */
    for (i = 0; i < size; i++) {
        int rc;
        buf[i] ^= 0x20;
        rc = ctr_state_load_buffer(b.st, buf, size);
        buf[i] ^= 0x20;
        ck_assert_msg(rc != CTR_OK, "byte %zu flipped: loaded", i);
    }
    expect_same(&b, &before);
    /* one byte more */
    {
        unsigned char *longer = (unsigned char *)malloc(size + 1);
        memcpy(longer, buf, size);
        longer[size] = 0;
        expect_refused(&b, longer, size + 1, CTR_E_CORRUPT, "after the END");
        free(longer);
    }
    /* another object's file */
    ck_assert_int_eq(ctr_encoder_save_buffer(a.query, NULL, 0, &enc_size), CTR_OK);
    enc_buf = (unsigned char *)malloc(enc_size);
    ck_assert_int_eq(ctr_encoder_save_buffer(a.query, enc_buf, enc_size,
                                             &enc_size), CTR_OK);
    expect_refused(&b, enc_buf, enc_size, CTR_E_INCOMPATIBLE, "kind");
    /* the intact file still loads */
    ck_assert_int_eq(ctr_state_load_buffer(b.st, buf, size), CTR_OK);
    free(before.bytes);
    free(enc_buf);
    free(buf);
    run_destroy(&a);
    run_destroy(&b);
}
END_TEST

START_TEST(test_io_errors_and_old_file_intact)
{
    run a;
    char path[256], bad[300];
    unsigned char *first, *now;
    size_t n_first, n_now;
    FILE *f;
    ck_assert_int_eq(run_build(&a, 1, NULL, 1), CTR_OK);
    test_temp_path(path, sizeof(path), "intact.ctr");
    ck_assert_int_eq(ctr_state_save(a.st, path), CTR_OK);
    first = save_to_buffer(a.st, &n_first);
    /* a load from a missing file names the path and the reason */
    snprintf(bad, sizeof(bad), "%s.missing/x", path);
    ck_assert_int_eq(ctr_state_load(a.st, bad), CTR_E_IO);
    ck_assert_ptr_nonnull(strstr(ctr_state_last_error(a.st), bad));
    ck_assert_ptr_nonnull(strstr(ctr_state_last_error(a.st), "No such file"));
    ck_assert_int_eq(ctr_state_save(a.st, bad), CTR_E_IO);
    ck_assert_ptr_nonnull(strstr(ctr_state_last_error(a.st), "No such file"));
    /* a save that cannot replace its target (a directory) */
    run_step(&a, 0.2f);
    ck_assert_int_eq(ctr_state_save(a.st, "/"), CTR_E_IO);
    ck_assert_str_ne(ctr_state_last_error(a.st), "");
    /* the failed saves left the old file as it was */
    f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    now = (unsigned char *)malloc(n_first + 1);
    n_now = fread(now, 1, n_first + 1, f);
    fclose(f);
    ck_assert_uint_eq(n_now, n_first);
    ck_assert_int_eq(memcmp(now, first, n_first), 0);
    remove(path);
    free(first);
    free(now);
    run_destroy(&a);
}
END_TEST

/* ---- a failing allocator at every allocation -------------------------------- */

typedef struct load_ctx {
    const unsigned char *buf;
    size_t size;
    int64_t nomem_loads; /* loads that failed with the objects built */
} load_ctx;

static int attempt_load(const ctr_allocator *al, void *p)
{
    load_ctx *c = (load_ctx *)p;
    run r;
    snapshot before;
    int rc = run_build(&r, 5, al, 1);
    if (rc != CTR_OK) {
        run_destroy(&r);
        return rc;
    }
    before = take(&r);
    rc = ctr_state_load_buffer(r.st, c->buf, c->size);
    if (rc != CTR_OK) {
        expect_same(&r, &before);
        ck_assert_ptr_nonnull(strstr(ctr_state_last_error(r.st), "memory"));
        c->nomem_loads++;
    }
    free(before.bytes);
    run_destroy(&r);
    return rc;
}

START_TEST(test_failing_allocator_load)
{
    run a;
    load_ctx c = {NULL, 0, 0};
    ck_assert_int_eq(run_build(&a, 1, NULL, 1), CTR_OK);
    run_step(&a, 0.1f);
    c.buf = save_to_buffer(a.st, &c.size);
    ck_assert_int_gt(test_every_alloc_failure(attempt_load, &c), 0);
    /* the reader's sections, the staging table and every object */
    ck_assert_int_ge(c.nomem_loads, 8);
    free((void *)c.buf);
    run_destroy(&a);
}
END_TEST

typedef struct save_ctx {
    const char *path;
    const unsigned char *old;
    size_t old_size;
} save_ctx;

static void expect_file(const char *path, const unsigned char *want, size_t n)
{
    unsigned char *got = (unsigned char *)malloc(n + 1);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(got, 1, n + 1, f), n);
    fclose(f);
    ck_assert_int_eq(memcmp(got, want, n), 0);
    free(got);
}

static int attempt_save(const ctr_allocator *al, void *p)
{
    save_ctx *c = (save_ctx *)p;
    run r;
    int rc = run_build(&r, 5, al, 1);
    if (rc == CTR_OK) {
        rc = ctr_state_save(r.st, c->path);
        if (rc != CTR_OK)
            expect_file(c->path, c->old, c->old_size);
    }
    run_destroy(&r);
    return rc;
}

START_TEST(test_failing_allocator_save)
{
    run a;
    char path[256];
    save_ctx c;
    size_t size;
    ck_assert_int_eq(run_build(&a, 1, NULL, 1), CTR_OK);
    test_temp_path(path, sizeof(path), "oom.ctr");
    ck_assert_int_eq(ctr_state_save(a.st, path), CTR_OK);
    c.path = path;
    c.old = save_to_buffer(a.st, &size);
    c.old_size = size;
    ck_assert_int_gt(test_every_alloc_failure(attempt_save, &c), 0);
    remove(path);
    free((void *)c.old);
    run_destroy(&a);
}
END_TEST

START_TEST(test_load_message_in_allocator)
{
    ctr_allocator al;
    ctr_state *st;
    ctr_rng *rng;
    char msg[200];
    ctr_allocator_init(&al);
    al.message = msg;
    al.message_cap = sizeof(msg);
    ck_assert_int_eq(ctr_state_create(&st, &al), CTR_OK);
    ck_assert_int_eq(ctr_rng_create(&rng, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_state_add_rng(st, "rng", rng), CTR_OK);
    ck_assert_int_eq(ctr_state_load(st, "/nonexistent/state.ctr"), CTR_E_IO);
    ck_assert_ptr_nonnull(strstr(msg, "/nonexistent/state.ctr"));
    ck_assert_str_eq(msg, ctr_state_last_error(st));
    /* a successful load writes "" */
    {
        unsigned char *buf;
        size_t size;
        buf = save_to_buffer(st, &size);
        ck_assert_int_eq(ctr_state_load_buffer(st, buf, size), CTR_OK);
        ck_assert_str_eq(msg, "");
        free(buf);
    }
    ctr_state_destroy(st);
    ctr_rng_destroy(rng);
}
END_TEST

Suite *ctr_test_state_suite(void);

Suite *ctr_test_state_suite(void)
{
    Suite *s = suite_create("state");
    TCase *tc = tcase_create("round_trip");
    tcase_add_test(tc, test_round_trip_path);
    tcase_add_test(tc, test_round_trip_other_handles);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_add_errors);
    tcase_add_test(tc, test_missing_and_extra_names);
    tcase_add_test(tc, test_name_twice_in_file);
    tcase_add_test(tc, test_wrong_kind_and_shape);
    tcase_add_test(tc, test_io_errors_and_old_file_intact);
    tcase_add_test(tc, test_load_message_in_allocator);
    suite_add_tcase(s, tc);
    tc = tcase_create("corrupt");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_corrupt_files);
    suite_add_tcase(s, tc);
    tc = tcase_create("failing_alloc");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_failing_allocator_load);
    tcase_add_test(tc, test_failing_allocator_save);
    suite_add_tcase(s, tc);
    return s;
}
