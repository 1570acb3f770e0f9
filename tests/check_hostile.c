/*
 * check_hostile.c - the findings of issue 22, each as the attack that found
 * it: hostile files (fields changed, CRCs repaired so that the loader's own
 * validation is what meets them) and out-of-range arguments; the load
 * limit; saves killed midway, the modes of saved files; const calls that
 * must write nothing. docs/security.md lists what these guarantee.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "common/savefile.h"
#include "fuzz/ckpt_repair.h"
#include "test_util.h"

#define TAG(a, b, c, d) CTR__FOURCC(a, b, c, d)

/* ---- 1. optimizer loader: a segment count near 2^62 ---------------------- */

START_TEST(test_optimizer_segment_count_wrap)
{
    /* A valid one-segment file, then n and the segment count set to
     * 2^62 + 1: 16 bytes per segment wraps to the 16 bytes present, and the
     * table's 12 bytes per segment wrapped to 12 bytes allocated. */
    test_alloc_state st;
    ctr_allocator a;
    ctr_optimizer *opt = NULL;
    uint8_t buf[512];
    size_t size = 0, head;
    ck_assert_int_eq(ctr_optimizer_create(&opt, CTR_OPTIMIZER_SGD, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_save_buffer(opt, buf, sizeof(buf), &size), CTR_OK);
    ctr_optimizer_destroy(opt);
    opt = NULL;
    head = ckpt_payload(buf, size, TAG('O', 'P', 'T', 'H'));
    ck_assert_uint_gt(head, 0);
    ckpt_patch_i64(buf + head + 4, ((int64_t)1 << 62) + 1);       /* n */
    ckpt_patch_i64(buf + head + 4 + 24 + 64 + 16, ((int64_t)1 << 62) + 1); /* segments */
    ckpt_repair(buf, size);
    test_alloc_setup(&a, &st);
    a.max_load_bytes = UINT64_MAX; /* the size checks alone must hold */
    ck_assert_int_eq(ctr_optimizer_load_buffer(&opt, buf, size, NULL, &a), CTR_E_CORRUPT);
    ck_assert_ptr_null(opt);
    ck_assert_int_lt(st.peak_bytes, 1 << 16);
    ck_assert_int_eq(st.live_blocks, 0);
    /* with the default limit too */
    ck_assert_int_eq(ctr_optimizer_load_buffer(&opt, buf, size, NULL, NULL), CTR_E_CORRUPT);
}
END_TEST

/* ---- 2. pool padding: 2 * padding overflowed ------------------------------ */

START_TEST(test_pool_padding_int64_max)
{
    const int64_t dims[3] = {1, 4, 4};
    ctr_encoder *e = NULL, *loaded = NULL;
    uint8_t buf[1024];
    size_t size = 0, arch;
    ck_assert_int_eq(ctr_encoder_create(&e, dims, 3, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_pool2d(e, CTR_LAYER_MAXPOOL2D, 3, 2, INT64_MAX),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_pool2d(e, CTR_LAYER_AVGPOOL2D, 3, 2, INT64_MAX / 2 + 1),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_pool2d(e, CTR_LAYER_MAXPOOL2D, 3, 2, 2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_pool2d(e, CTR_LAYER_MAXPOOL2D, 3, 2, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_save_buffer(e, buf, sizeof(buf), &size), CTR_OK);
    /* the same padding in a file: ARCH is ndims, 3 dims, groups, layers,
     * then the layer's kind and hi[0..5] (padding is hi[2]) */
    arch = ckpt_payload(buf, size, TAG('A', 'R', 'C', 'H'));
    ck_assert_uint_gt(arch, 0);
    ckpt_patch_i64(buf + arch + 4 + 24 + 16 + 4 + 16, INT64_MAX);
    ckpt_repair(buf, size);
    ck_assert_int_eq(ctr_encoder_load_buffer(&loaded, buf, size, NULL), CTR_E_CORRUPT);
    ck_assert_ptr_null(loaded);
    ctr_encoder_destroy(e);
}
END_TEST

/* ---- 3. queue loader: the capacity is not in the file --------------------- */

/* A 180-byte file of an empty queue with ids, its capacity set to cap. */
static size_t hostile_queue(uint8_t *buf, size_t cap_bytes, int64_t capacity, int64_t dim)
{
    ctr_queue *q = NULL;
    size_t size = 0, h;
    ck_assert_int_eq(ctr_queue_create(&q, 4, 2, CTR_QUEUE_IDS, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_queue_save_buffer(q, buf, cap_bytes, &size), CTR_OK);
    ctr_queue_destroy(q);
    ck_assert_uint_eq(size, 180);
    h = ckpt_payload(buf, size, TAG('Q', 'H', 'D', 'R'));
    ckpt_patch_i64(buf + h, capacity);
    ckpt_patch_i64(buf + h + 8, dim);
    ckpt_repair(buf, size);
    return size;
}

START_TEST(test_queue_capacity_budget)
{
    test_alloc_state st;
    ctr_allocator a;
    ctr_queue *q = NULL;
    uint8_t buf[256];
    char msg[256];
    size_t size = hostile_queue(buf, sizeof(buf), (int64_t)12 << 30, 2);
    int64_t v;
    test_alloc_setup(&a, &st);
    a.message = msg;
    a.message_cap = sizeof(msg);
    /* 12 Gi keys of 2 floats and ids: 96 GiB + 96 GiB asked by 180 bytes */
    ck_assert_int_eq(ctr_queue_load_buffer(&q, buf, size, &a), CTR_E_LIMIT);
    ck_assert_ptr_null(q);
    ck_assert_int_eq(st.calls, 0); /* refused before anything is allocated */
    ck_assert_ptr_nonnull(strstr(msg, "capacity 12884901888 x dim 2"));
    ck_assert_ptr_nonnull(strstr(msg, "load limit of 4294967296 bytes"));
    /* the dimension too */
    size = hostile_queue(buf, sizeof(buf), 4, (int64_t)10 << 30);
    ck_assert_int_eq(ctr_queue_load_buffer(&q, buf, size, &a), CTR_E_LIMIT);
    ck_assert_ptr_nonnull(strstr(msg, "dim 10737418240"));
    ck_assert_int_eq(st.calls, 0);
    /* a large empty queue within the caller's limit loads */
    size = hostile_queue(buf, sizeof(buf), 1 << 16, 16);
    a.max_load_bytes = 1 << 20;
    ck_assert_int_eq(ctr_queue_load_buffer(&q, buf, size, &a), CTR_E_LIMIT);
    a.max_load_bytes = 8 << 20;
    ck_assert_int_eq(ctr_queue_load_buffer(&q, buf, size, &a), CTR_OK);
    ck_assert_str_eq(msg, "");
    ck_assert_int_eq(ctr_queue_get_i64(q, CTR_QUEUE_P_CAPACITY, &v), CTR_OK);
    ck_assert_int_eq(v, 1 << 16);
    ck_assert_int_le(st.peak_bytes, 8 << 20);
    ctr_queue_destroy(q);
    ck_assert_int_eq(st.live_blocks, 0);
}
END_TEST

/* ---- 4. bank loader: an alias table that makes sampling spin -------------- */

/* A weighted bank of 2 rows saved to buf; returns its size. */
static size_t weighted_bank(uint8_t *buf, size_t cap)
{
    const double w[2] = {1.0, 1.0};
    ctr_bank *b = NULL;
    size_t size = 0;
    ck_assert_int_eq(ctr_bank_create(&b, 2, 2, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_set_weights(b, w, 2), CTR_OK);
    ck_assert_int_eq(ctr_bank_save_buffer(b, buf, cap, &size), CTR_OK);
    ctr_bank_destroy(b);
    return size;
}

START_TEST(test_bank_alias_table_cannot_hang)
{
    uint8_t buf[512];
    size_t size = weighted_bank(buf, sizeof(buf)), t;
    ctr_bank *b = NULL;
    int64_t out[1000], exclude = 0, i;
    /* column 0 keeps row 0; column 1 gives 1 unit of its 2^32 to row 1 and
     * the rest to row 0: row 1 has 2^-33 of the mass */
    t = ckpt_payload(buf, size, TAG('B', 'A', 'L', 'I'));
    ck_assert_uint_gt(t, 0);
    ctr__store_u32(buf + t, 0);
    ctr__store_u32(buf + t + 4, 0);
    ctr__store_u32(buf + t + 8, 1);
    ctr__store_u32(buf + t + 12, 0);
    ckpt_repair(buf, size);
    ck_assert_int_eq(ctr_bank_load_buffer(&b, buf, size, NULL), CTR_OK);
    /* excluding row 0 leaves row 1 alone: every draw is 1, at once */
    ck_assert_int_eq(ctr_bank_sample(b, out, 1, 1000, &exclude), CTR_OK);
    for (i = 0; i < 1000; i++)
        ck_assert_int_eq(out[i], 1);
    ctr_bank_destroy(b);
    b = NULL;
    /* a table that its own masses would not build is refused */
    ctr__store_u32(buf + t, 7);
    ckpt_repair(buf, size);
    ck_assert_int_eq(ctr_bank_load_buffer(&b, buf, size, NULL), CTR_E_CORRUPT);
    ctr__store_u32(buf + t, 0);
    ctr__store_u32(buf + t + 4, 2); /* an alias past the rows */
    ckpt_repair(buf, size);
    ck_assert_int_eq(ctr_bank_load_buffer(&b, buf, size, NULL), CTR_E_CORRUPT);
    ck_assert_ptr_null(b);
}
END_TEST

START_TEST(test_bank_skewed_weights_sample_bounded)
{
    /* The same distribution through the API: weights whose second row gets
     * 2 units of 2^33. */
    const double w[2] = {1.0, 3.0 / 8589934592.0};
    ctr_bank *b = NULL;
    int64_t out[4000], exclude[4] = {0, 0, 1, 0}, i;
    ck_assert_int_eq(ctr_bank_create(&b, 2, 3, 5, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_set_weights(b, w, 2), CTR_OK);
    ck_assert_int_eq(ctr_bank_sample(b, out, 4, 1000, exclude), CTR_OK);
    for (i = 0; i < 4000; i++)
        ck_assert_int_eq(out[i], exclude[i / 1000] == 0 ? 1 : 0);
    ctr_bank_destroy(b);
}
END_TEST

START_TEST(test_bank_update_subnormal_rows)
{
    /* Found by the fuzz replay: a row of subnormals (a legal file or
     * set_rows) made 1 / norm overflow float, and the update wrote Inf. */
    const float tiny[3] = {1e-40f, -2e-40f, 3e-41f};
    const int64_t idx[1] = {1};
    ctr_bank *b = NULL;
    const float *rows;
    double sq = 0.0;
    int j;
    ck_assert_int_eq(ctr_bank_create(&b, 2, 3, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_set_rows(b, idx, 1, tiny, 3), CTR_OK);
    ck_assert_int_eq(ctr_bank_update(b, idx, 1, tiny, 3), CTR_OK);
    ck_assert_int_eq(ctr_bank_rows(b, &rows, NULL, NULL), CTR_OK);
    for (j = 0; j < 3; j++) {
        ck_assert(isfinite(rows[3 + j]));
        sq += (double)rows[3 + j] * rows[3 + j];
    }
    ck_assert_close(sq, 1.0, 1e-6, 0);
    ctr_bank_destroy(b);
}
END_TEST

START_TEST(test_encoder_forward_overflow_keeps_state)
{
    /* Found by fuzzing: finite but huge weights overflowed a train forward
     * and left Inf running statistics, which no load accepts. */
    const int64_t dims[1] = {4};
    ctr_encoder *e = NULL;
    float p[4 * 4 + 4], x[2 * 4] = {1, 2, 3, 4, 5, 6, 7, 8}, y[2 * 4], stats[8], after[8];
    int64_t np = 0, i;
    ck_assert_int_eq(ctr_encoder_create(&e, dims, 1, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(e, 4, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 0), CTR_OK);
    ck_assert_int_eq(ctr_encoder_num_params(e, &np), CTR_OK);
    ck_assert_int_eq(np, 20);
    for (i = 0; i < np; i++)
        p[i] = 3e37f;
    ck_assert_int_eq(ctr_encoder_set_params(e, p, np), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_stats(e, stats, 8), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(e, y, x, 2, CTR_ENCODER_TRAIN), CTR_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(ctr_encoder_last_error(e), "forward:"));
    ck_assert_int_eq(ctr_encoder_get_stats(e, after, 8), CTR_OK);
    ck_assert_mem_eq(stats, after, sizeof(stats));
    ck_assert_int_eq(ctr_encoder_backward(e, NULL, y), CTR_E_STAGE);
    ctr_encoder_destroy(e);
}
END_TEST

/* ---- 5. the smaller findings --------------------------------------------- */

START_TEST(test_encoder_memory_overflow)
{
    const int64_t dims[1] = {8};
    ctr_encoder *e = NULL;
    size_t bytes = 12345;
    ck_assert_int_eq(ctr_encoder_create(&e, dims, 1, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(e, 4, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_set_i64(e, 12345, 1), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_encoder_last_error(e), "unknown parameter 12345 (no CTR_ENCODER_P_* constant)");
    /* the bytes for INT64_MAX samples do not fit in size_t: a specific
     * code and message, nothing written */
    ck_assert_int_eq(ctr_encoder_memory(e, &bytes, INT64_MAX), CTR_E_OVERFLOW);
    ck_assert_uint_eq(bytes, 12345);
    ck_assert_str_eq(ctr_encoder_last_error(e),
                     "the sizes for a batch of 9223372036854775807 overflow");
    ck_assert_int_eq(ctr_encoder_memory(e, &bytes, 0), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_encoder_last_error(e), "batch must be >= 1, got 0");
    ck_assert_int_eq(ctr_encoder_memory(e, &bytes, 3), CTR_OK);
    ck_assert_uint_gt(bytes, 3 * 8 * sizeof(float));
    ck_assert_str_eq(ctr_encoder_last_error(e), "");
    ctr_encoder_destroy(e);
}
END_TEST

/* A clone is a const call on its source: its outcome is the source's
 * message, and the clone starts with none. */
START_TEST(test_clone_reports_on_source)
{
    const int64_t dims[1] = {3};
    ctr_encoder *src = NULL, *copy = NULL;
    ck_assert_int_eq(ctr_encoder_create(&src, dims, 1, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(src, 2, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(src, -1, 1), CTR_E_INVALID_ARG);
    ck_assert_str_ne(ctr_encoder_last_error(src), "");
    {
        char before[256];
        snprintf(before, sizeof(before), "%s", ctr_encoder_last_error(src));
        ck_assert_int_eq(ctr_encoder_clone(&copy, src), CTR_OK);
        ck_assert_str_eq(ctr_encoder_last_error(src), "");
        ck_assert_str_eq(ctr_encoder_last_error(copy), "");
        ck_assert_int_eq(ctr_encoder_clone(NULL, src), CTR_E_INVALID_ARG);
        ck_assert_str_eq(ctr_encoder_last_error(src), "out is NULL");
        ck_assert_str_ne(before, "");
    }
    ctr_encoder_destroy(copy);
    ctr_encoder_destroy(src);
}
END_TEST

/* Entries of dir whose names start with prefix. */
static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

typedef test_dir save_dir;

static void save_dir_setup(save_dir *s, const char *name)
{
    test_dir_setup(s, name, "ckpt");
}

START_TEST(test_save_leaves_no_temporary)
{
    save_dir s;
    ctr_rng *rng = NULL;
    char stale[400], held[400], other[400];
    int fd, lock_fd;
    save_dir_setup(&s, "stale");
    ck_assert_int_eq(ctr_rng_create(&rng, 3, NULL), CTR_OK);
    /* what a killed save leaves (no one holds it), one a live save holds,
     * and a file that only looks alike */
    snprintf(stale, sizeof(stale), "%s.tmp-Ab3dE9", s.path);
    snprintf(held, sizeof(held), "%s.tmp-HELD00", s.path);
    snprintf(other, sizeof(other), "%s.tmp-x", s.path);
    fd = open(stale, O_CREAT | O_WRONLY, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "partial", 7), 7);
    close(fd);
    lock_fd = open(held, O_CREAT | O_WRONLY, 0600);
    ck_assert_int_ge(lock_fd, 0);
    ck_assert_int_eq(flock(lock_fd, LOCK_EX), 0);
    fd = open(other, O_CREAT | O_WRONLY, 0600);
    close(fd);
    ck_assert_int_eq(ctr_rng_save(rng, s.path), CTR_OK);
    ck_assert_int_eq(access(stale, F_OK), -1);
    ck_assert_int_eq(access(held, F_OK), 0);
    ck_assert_int_eq(access(other, F_OK), 0);
    close(lock_fd);
    ck_assert_int_eq(ctr_rng_save(rng, s.path), CTR_OK);
    ck_assert_int_eq(access(held, F_OK), -1); /* its holder is gone */
    ck_assert_int_eq(count_entries(s.dir, "ckpt.tmp-"), 1); /* "other" */
    ctr_rng_destroy(rng);
    test_dir_remove_all(&s);
}
END_TEST

START_TEST(test_save_killed_midway)
{
    /* A child saves a 4 MiB bank over and over and is killed with SIGKILL;
     * whatever it left, the next save leaves only the target. */
    save_dir s;
    ctr_bank *b = NULL, *back = NULL;
    pid_t pid;
    int status, round;
    save_dir_setup(&s, "killed");
    ck_assert_int_eq(ctr_bank_create(&b, 1 << 14, 64, 1, NULL), CTR_OK);
    for (round = 0; round < 3; round++) {
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            for (;;)
                (void)ctr_bank_save(b, s.path);
        }
        {
            struct timespec ts = {0, 20000000L + 15000000L * round};
            nanosleep(&ts, NULL);
        }
        kill(pid, SIGKILL);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    }
    /* the target is whole (old or new) if it exists */
    if (access(s.path, F_OK) == 0) {
        ck_assert_int_eq(ctr_bank_load(&back, s.path, NULL), CTR_OK);
        ctr_bank_destroy(back);
    }
    ck_assert_int_eq(ctr_bank_save(b, s.path), CTR_OK);
    ck_assert_int_eq(count_entries(s.dir, "ckpt"), 1);
    ctr_bank_destroy(b);
    test_dir_remove_all(&s);
}
END_TEST

/* The way of systems without O_TMPFILE, forced: a named, locked temporary
 * that a concurrent save leaves alone, that a killed writer leaves behind
 * and the next save removes; its modes are those of the unnamed way. */
static void named_open(ctr__savefile *f, const char *path, const ctr__alloc *a)
{
    ctr__error err;
    ck_assert_int_eq(ctr__savefile_open_how(f, path, a, &err, CTR__SAVEFILE_NAMED), CTR_OK);
    ck_assert_int_eq(f->named, 1);
    ck_assert_int_eq(write(f->fd, "abc", 3), 3);
}

static void named_commit(ctr__savefile *f)
{
    ctr__error err;
    ck_assert_int_eq(ctr__savefile_commit(f, &err), CTR_OK);
    ctr__savefile_release(f, 1);
}

static void named_killed(const char *path, const ctr__alloc *a)
{
    int ready[2], status;
    char c;
    pid_t pid;
    ck_assert_int_eq(pipe(ready), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ctr__savefile f;
        ctr__error err;
        if (ctr__savefile_open_how(&f, path, a, &err, CTR__SAVEFILE_NAMED) != CTR_OK)
            _exit(1);
        if (write(ready[1], "r", 1) != 1)
            _exit(2);
        for (;;)
            pause();
    }
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    close(ready[0]);
    close(ready[1]);
}

START_TEST(test_save_named_temporaries)
{
    save_dir s;
    ctr__alloc a;
    ctr__savefile f;
    ctr_rng *rng = NULL;
    struct stat st;
    mode_t old = umask(022);
    save_dir_setup(&s, "named");
    ck_assert_int_eq(ctr__alloc_init(&a, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_create(&rng, 3, NULL), CTR_OK);
    named_open(&f, s.path, &a);
    ck_assert_int_eq(count_entries(s.dir, "ckpt.tmp-"), 1);
    ck_assert_int_eq(stat(f.tmp_path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    ck_assert_int_eq(ctr_rng_save(rng, s.path), CTR_OK); /* a save beside it */
    ck_assert_int_eq(access(f.tmp_path, F_OK), 0);      /* held: kept */
    named_commit(&f);                                   /* replaces that save */
    ck_assert_int_eq(count_entries(s.dir, "ckpt"), 1);
    ck_assert_int_eq(stat(s.path, &st), 0);
    ck_assert_int_eq(st.st_size, 3);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    ck_assert_int_eq(chmod(s.path, 0640), 0);
    named_open(&f, s.path, &a);
    named_commit(&f);
    ck_assert_int_eq(stat(s.path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640);
    named_killed(s.path, &a);
    ck_assert_int_eq(count_entries(s.dir, "ckpt.tmp-"), 1); /* left by the kill */
    ck_assert_int_eq(ctr_rng_save(rng, s.path), CTR_OK);
    ck_assert_int_eq(count_entries(s.dir, "ckpt"), 1);   /* removed by the save */
    umask(old);
    ctr_rng_destroy(rng);
    test_dir_remove_all(&s);
}
END_TEST

START_TEST(test_save_unnamed_while_writing)
{
    /* Where O_TMPFILE works, nothing is named while a save writes. */
    save_dir s;
    ctr__alloc a;
    ctr__savefile f;
    ctr__error err;
    save_dir_setup(&s, "unnamed");
    ck_assert_int_eq(ctr__alloc_init(&a, NULL), CTR_OK);
    ck_assert_int_eq(ctr__savefile_open(&f, s.path, &a, &err), CTR_OK);
    if (!f.named)
        ck_assert_int_eq(count_entries(s.dir, "ckpt"), 0);
    ck_assert_int_eq(write(f.fd, "abc", 3), 3);
    named_commit(&f);
    ck_assert_int_eq(count_entries(s.dir, "ckpt"), 1);
    test_dir_remove_all(&s);
}
END_TEST

START_TEST(test_saved_file_modes)
{
    save_dir s;
    ctr_queue *q = NULL;
    struct stat st;
    mode_t old = umask(022);
    save_dir_setup(&s, "modes");
    ck_assert_int_eq(ctr_queue_create(&q, 4, 2, 0, 1, NULL), CTR_OK);
    /* a new file: 0666 & ~umask, as fopen */
    ck_assert_int_eq(ctr_queue_save(q, s.path), CTR_OK);
    ck_assert_int_eq(stat(s.path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    umask(077);
    unlink(s.path);
    ck_assert_int_eq(ctr_queue_save(q, s.path), CTR_OK);
    ck_assert_int_eq(stat(s.path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    /* a file replaced keeps its mode, whatever the umask */
    ck_assert_int_eq(chmod(s.path, 0640), 0);
    ck_assert_int_eq(ctr_queue_save(q, s.path), CTR_OK);
    ck_assert_int_eq(stat(s.path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640);
    umask(022);
    ck_assert_int_eq(chmod(s.path, 0604), 0);
    ck_assert_int_eq(ctr_queue_save(q, s.path), CTR_OK);
    ck_assert_int_eq(stat(s.path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0604);
    umask(old);
    ctr_queue_destroy(q);
    test_dir_remove_all(&s);
}
END_TEST

START_TEST(test_huge_leading_dimensions)
{
    /* A leading dimension whose row offsets overflow is refused before an
     * offset is computed (it used to be added to the pointer). */
    ctr_queue *q = NULL;
    ctr_bank *b = NULL;
    float keys[2 * 3] = {1, 0, 0, 0, 1, 0}, out[6];
    const int64_t idx[2] = {0, 1};
    int64_t count = 0;
    ck_assert_int_eq(ctr_queue_create(&q, 4, 3, 0, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_queue_enqueue(q, keys, 2, INT64_MAX, NULL), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_queue_enqueue(q, keys, 2, (int64_t)1 << 62, NULL), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_queue_enqueue(q, keys, 2, 3, NULL), CTR_OK);
    ck_assert_int_eq(ctr_queue_copy(q, out, INT64_MAX, NULL, 2, &count), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_bank_create(&b, 2, 3, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_gather(b, idx, 2, out, INT64_MAX), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_bank_update(b, idx, 2, keys, INT64_MAX), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_bank_set_rows(b, idx, 2, keys, (int64_t)1 << 62), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_bank_gather(b, idx, 2, out, 3), CTR_OK);
    ctr_queue_destroy(q);
    ctr_bank_destroy(b);
}
END_TEST

/* ---- the load limit and load messages ------------------------------------ */

START_TEST(test_load_limit_and_messages)
{
    ctr_allocator a;
    ctr_rng *rng = NULL;
    char msg[64];
    uint8_t buf[128];
    size_t size = 0;
    ck_assert_int_eq(ctr_load_default_max_bytes(), CTR_LOAD_DEFAULT_MAX_BYTES);
    ck_assert_int_eq(ctr_rng_create(&rng, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_save_buffer(rng, buf, sizeof(buf), &size), CTR_OK);
    ctr_rng_destroy(rng);
    rng = NULL;
    ctr_allocator_init(&a);
    a.message = msg;
    a.message_cap = sizeof(msg);
    buf[45] ^= 1; /* a payload byte: the CRC fails */
    ck_assert_int_eq(ctr_rng_load_buffer(&rng, buf, size, &a), CTR_E_CORRUPT);
    ck_assert_str_eq(msg, "checkpoint: section 'STAT' fails its CRC check");
    ck_assert_int_eq(ctr_rng_load(&rng, "/nonexistent-dir/x", &a), CTR_E_IO);
    ck_assert_ptr_nonnull(strstr(msg, "cannot open"));
    ck_assert_int_eq(ctr_rng_load(&rng, NULL, &a), CTR_E_INVALID_ARG);
    ck_assert_str_eq(msg, "load: path is NULL");
    /* a struct that ends after `free` (as an older caller's) is accepted
     * and its load fields are not read */
    a.struct_size = (uint32_t)(offsetof(ctr_allocator, free) + sizeof(a.free));
    a.max_load_bytes = 1;
    msg[0] = 'x';
    buf[45] ^= 1;
    ck_assert_int_eq(ctr_rng_load_buffer(&rng, buf, size, &a), CTR_OK);
    ck_assert_int_eq(msg[0], 'x');
    ctr_rng_destroy(rng);
    rng = NULL;
    /* a tiny limit: even the reader's section buffer (from a file) counts */
    a.struct_size = (uint32_t)sizeof(a);
    {
        char path[256];
        FILE *f = fopen(test_temp_path(path, sizeof(path), "limit.ckpt"), "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(buf, 1, size, f), size);
        fclose(f);
        ck_assert_int_eq(ctr_rng_load(&rng, path, &a), CTR_E_LIMIT);
        ck_assert_ptr_nonnull(strstr(msg, "section 'STAT'"));
        a.max_load_bytes = 0; /* the default */
        ck_assert_int_eq(ctr_rng_load(&rng, path, &a), CTR_OK);
        ck_assert_str_eq(msg, "");
        unlink(path);
    }
    ctr_rng_destroy(rng);
}
END_TEST

Suite *ctr_test_hostile_suite(void);

Suite *ctr_test_hostile_suite(void)
{
    Suite *s = suite_create("hostile");
    TCase *t = tcase_create("findings");
    tcase_add_test(t, test_optimizer_segment_count_wrap);
    tcase_add_test(t, test_pool_padding_int64_max);
    tcase_add_test(t, test_queue_capacity_budget);
    tcase_add_test(t, test_bank_alias_table_cannot_hang);
    tcase_add_test(t, test_bank_skewed_weights_sample_bounded);
    tcase_add_test(t, test_bank_update_subnormal_rows);
    tcase_add_test(t, test_encoder_forward_overflow_keeps_state);
    tcase_add_test(t, test_encoder_memory_overflow);
    tcase_add_test(t, test_clone_reports_on_source);
    tcase_add_test(t, test_huge_leading_dimensions);
    suite_add_tcase(s, t);
    t = tcase_create("saves");
    tcase_add_test(t, test_save_leaves_no_temporary);
    tcase_add_test(t, test_save_killed_midway);
    tcase_add_test(t, test_saved_file_modes);
    tcase_add_test(t, test_save_named_temporaries);
    tcase_add_test(t, test_save_unnamed_while_writing);
    suite_add_tcase(s, t);
    t = tcase_create("limits");
    tcase_add_test(t, test_load_limit_and_messages);
    suite_add_tcase(s, t);
    return s;
}
