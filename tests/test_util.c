/*
 * test_util.c - the counting / failing allocator and small helpers.
 */
#define _POSIX_C_SOURCE 200809L

#include "test_util.h"

#include "common/prng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(CTR_OPENMP)
#include <omp.h>
#endif

/* Each block carries a header (64 bytes, so the payload keeps 64-byte
 * alignment) recording its size and a magic word. */
#define HDR 64
#define MAGIC 0x43545241u

typedef struct block_header {
    size_t size;
    uint32_t magic;
} block_header;

static void *test_alloc(void *user, size_t size, size_t alignment)
{
    test_alloc_state *s = (test_alloc_state *)user;
    int64_t call = s->calls++;
    void *raw = NULL;
    block_header *h;
    if (s->fail_at >= 0 && (call == s->fail_at || (s->sticky && call > s->fail_at)))
        return NULL;
    if (alignment > HDR || (alignment & (alignment - 1)) != 0)
        return NULL;
    if (posix_memalign(&raw, HDR, HDR + size) != 0)
        return NULL;
    h = (block_header *)raw;
    h->size = size;
    h->magic = MAGIC;
    s->live_blocks++;
    s->live_bytes += (int64_t)size;
    if (s->live_bytes > s->peak_bytes)
        s->peak_bytes = s->live_bytes;
    return (char *)raw + HDR;
}

static void test_free(void *user, void *ptr, size_t size)
{
    test_alloc_state *s = (test_alloc_state *)user;
    block_header *h = (block_header *)((char *)ptr - HDR);
    if (h->magic != MAGIC || h->size != size) {
        s->bad_frees++;
        return;
    }
    h->magic = 0;
    s->live_blocks--;
    s->live_bytes -= (int64_t)size;
    free(h);
}

void test_alloc_setup(ctr_allocator *a, test_alloc_state *s)
{
    memset(s, 0, sizeof(*s));
    s->fail_at = -1;
    ctr_allocator_init(a);
    a->user = s;
    a->alloc = test_alloc;
    a->free = test_free;
}

void test_alloc_fail_at(test_alloc_state *s, int64_t fail_at, int sticky)
{
    s->calls = 0;
    s->fail_at = fail_at;
    s->sticky = sticky;
}

int64_t test_every_alloc_failure(test_attempt_fn attempt, void *ctx)
{
    test_alloc_state s;
    ctr_allocator a;
    int64_t k;
    test_alloc_setup(&a, &s);
    for (k = 0; k < 100000; k++) {
        int rc;
        test_alloc_fail_at(&s, k, 0);
        rc = attempt(&a, ctx);
        ck_assert_int_eq(s.live_blocks, 0);
        ck_assert_int_eq(s.bad_frees, 0);
        if (rc == CTR_OK)
            return k;
        ck_assert_msg(rc == CTR_E_NOMEM,
                      "allocation %lld failed, call returned %d (%s)",
                      (long long)k, rc, ctr_strerror(rc));
    }
    ck_abort_msg("the call never succeeded");
    return -1;
}

const char *test_temp_path(char *buf, size_t cap, const char *name)
{
    static unsigned counter; /* test code only: one thread */
    const char *dir = getenv("TMPDIR");
    snprintf(buf, cap, "%s/ctr-test-%ld-%u-%s", dir != NULL ? dir : "/tmp",
             (long)getpid(), counter++, name);
    return buf;
}

void test_dir_setup(test_dir *d, const char *name, const char *file)
{
    test_temp_path(d->dir, sizeof(d->dir), name);
    ck_assert_int_eq(mkdir(d->dir, 0700), 0);
    snprintf(d->path, sizeof(d->path), "%s/%s", d->dir, file);
}

void test_dir_teardown(test_dir *d)
{
    unlink(d->path);
    ck_assert_int_eq(rmdir(d->dir), 0); /* fails if anything is left */
}

void test_dir_remove_all(test_dir *d)
{
    char p[600];
    DIR *dir = opendir(d->dir);
    struct dirent *e;
    while (dir != NULL && (e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", d->dir, e->d_name);
        unlink(p);
    }
    if (dir != NULL)
        closedir(dir);
    ck_assert_int_eq(rmdir(d->dir), 0);
}

float *test_randn(uint64_t seed, int64_t rows, int64_t ld, double scale)
{
    ctr__prng g;
    float *x = (float *)malloc((size_t)(rows * ld) * sizeof(float));
    int64_t i;
    ck_assert_ptr_nonnull(x);
    ctr__prng_seed(&g, seed);
    for (i = 0; i < rows * ld; i++)
        x[i] = (float)(scale * ctr__prng_normal(&g));
    return x;
}

int test_basic_block(ctr_encoder *enc, int64_t out, int64_t stride, double proj_eps,
                     double proj_momentum)
{
    int64_t source, d[3];
    int32_t nd;
    int rc;
    if ((rc = ctr_encoder_last_layer(enc, &source)) != CTR_OK ||
        (rc = ctr_encoder_shape(enc, d, &nd, NULL, CTR_ENCODER_OUTPUT)) != CTR_OK ||
        (rc = ctr_encoder_add_conv2d(enc, out, 3, stride, 1, 0)) != CTR_OK ||
        (rc = ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1)) != CTR_OK ||
        (rc = ctr_encoder_add_activation(enc, CTR_LAYER_RELU)) != CTR_OK ||
        (rc = ctr_encoder_add_conv2d(enc, out, 3, 1, 1, 0)) != CTR_OK ||
        (rc = ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1)) != CTR_OK)
        return rc;
    if (stride != 1 || d[0] != out)
        rc = ctr_encoder_add_residual(enc, source, CTR_SHORTCUT_PROJECTION, stride, proj_eps,
                                      proj_momentum);
    else
        rc = ctr_encoder_add_residual(enc, source, CTR_SHORTCUT_IDENTITY, 1, 0.0, 0.0);
    return rc != CTR_OK ? rc : ctr_encoder_add_activation(enc, CTR_LAYER_RELU);
}

int test_set_threads(int t)
{
#if defined(CTR_OPENMP)
    int before = omp_get_max_threads();
    omp_set_num_threads(t);
    return before;
#else
    (void)t;
    return 1;
#endif
}
