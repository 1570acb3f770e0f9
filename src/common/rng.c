/*
 * rng.c - the public ctr_rng handle: a ctr__prng with an allocator, an
 * error message and checkpointing.
 */
#include <math.h>
#include <string.h>

#include "common/persist.h"
#include "common/core.h"
#include "common/prng.h"

#define RNG_SECTION CTR__FOURCC('S', 'T', 'A', 'T')

struct ctr_rng {
    ctr__alloc alloc;
    ctr__error err;
    ctr__prng gen;
};

static int rng_new(ctr_rng **out, const ctr__alloc *alloc)
{
    ctr_rng *rng = (ctr_rng *)ctr__calloc(alloc, sizeof(*rng));
    if (rng == NULL)
        return CTR_E_NOMEM;
    rng->alloc = *alloc;
    *out = rng;
    return CTR_OK;
}

CTR_API int ctr_rng_create(ctr_rng **out, uint64_t seed,
                           const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr__error err;
    ctr_rng *rng = NULL;
    int rc = ctr__create_begin(&a, &err, alloc, out);
    if (rc == CTR_OK)
        rc = rng_new(&rng, &a);
    if (rc == CTR_OK) {
        ctr__prng_seed(&rng->gen, seed);
        *out = rng;
    }
    return ctr__create_report(alloc, rc, "ctr_rng_create", &err);
}

CTR_API void ctr_rng_destroy(ctr_rng *rng)
{
    if (rng != NULL) {
        ctr__alloc a = rng->alloc;
        ctr__free(&a, rng, sizeof(*rng));
    }
}

CTR_API int ctr_rng_split(ctr_rng *parent, ctr_rng **child)
{
    ctr_rng *c;
    int rc;
    if (parent == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&parent->err);
    if (child == NULL)
        return ctr__fail(&parent->err, CTR_E_INVALID_ARG, "child is NULL");
    rc = rng_new(&c, &parent->alloc);
    if (rc != CTR_OK)
        return ctr__fail(&parent->err, rc, "cannot allocate the child");
    ctr__prng_split(&parent->gen, &c->gen);
    *child = c;
    return CTR_OK;
}

/* The checks every fill call shares. */
static int check_fill(ctr_rng *rng, const void *out, int64_t n)
{
    if (rng == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&rng->err);
    if (n < 0)
        return ctr__fail(&rng->err, CTR_E_INVALID_ARG,
                         "n must be >= 0 (got %lld)", (long long)n);
    if (out == NULL && n > 0)
        return ctr__fail(&rng->err, CTR_E_INVALID_ARG, "out is NULL");
    return CTR_OK;
}

CTR_API int ctr_rng_uniform(ctr_rng *rng, float *out, int64_t n)
{
    int64_t i;
    int rc = check_fill(rng, out, n);
    if (rc != CTR_OK)
        return rc;
    for (i = 0; i < n; i++)
        out[i] = ctr__prng_uniform_f32(&rng->gen);
    return CTR_OK;
}

CTR_API int ctr_rng_normal(ctr_rng *rng, float *out, int64_t n, float mean,
                           float std)
{
    int64_t i;
    int rc = check_fill(rng, out, n);
    if (rc != CTR_OK)
        return rc;
    if (!isfinite(mean) || !isfinite(std))
        return ctr__fail(&rng->err, CTR_E_NUMERIC,
                         "mean and std must be finite");
    if (std < 0.0f)
        return ctr__fail(&rng->err, CTR_E_INVALID_ARG,
                         "std must be >= 0 (got %g)", (double)std);
    for (i = 0; i < n; i++)
        out[i] = (float)(mean + std * ctr__prng_normal(&rng->gen));
    return CTR_OK;
}

CTR_API int ctr_rng_below(ctr_rng *rng, int64_t *out, int64_t n,
                          int64_t bound)
{
    int64_t i;
    int rc = check_fill(rng, out, n);
    if (rc != CTR_OK)
        return rc;
    if (bound < 1)
        return ctr__fail(&rng->err, CTR_E_INVALID_ARG,
                         "bound must be >= 1 (got %lld)", (long long)bound);
    for (i = 0; i < n; i++)
        out[i] = (int64_t)ctr__prng_below(&rng->gen, (uint64_t)bound);
    return CTR_OK;
}

CTR_API int ctr_rng_permutation(ctr_rng *rng, int64_t *out, int64_t n)
{
    int64_t i;
    int rc = check_fill(rng, out, n);
    if (rc != CTR_OK)
        return rc;
    for (i = 0; i < n; i++)
        out[i] = i;
    for (i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ctr__prng_below(&rng->gen, (uint64_t)i + 1);
        int64_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
    return CTR_OK;
}

/* ---- checkpoints ---------------------------------------------------------- */

static void write_state(ctr__ckw *w, const void *obj)
{
    const ctr_rng *rng = (const ctr_rng *)obj;
    int i;
    ctr__ckw_begin_section(w, RNG_SECTION);
    for (i = 0; i < 4; i++)
        ctr__ckw_put_u64(w, rng->gen.s[i]);
    ctr__ckw_end_section(w);
}

CTR_API int ctr_rng_save(const ctr_rng *rng, const char *path)
{
    if (rng == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__persist_save_const(rng, write_state, CTR__CKPT_KIND_RNG, path,
                                   &rng->alloc, &rng->err);
}

CTR_API int ctr_rng_save_buffer(const ctr_rng *rng, void *buf, size_t cap,
                                size_t *size_out)
{
    if (rng == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__persist_save_buffer_const(rng, write_state, CTR__CKPT_KIND_RNG, buf,
                                          cap, size_out, &rng->err);
}

/* Reads the state section from an opened reader into a new handle. */
static int read_rng(ctr__ckr *r, void *out_ptr, const ctr__alloc *a, void *ctx)
{
    ctr_rng **out = (ctr_rng **)out_ptr;
    (void)ctx;
    ctr__prng gen;
    ctr_rng *rng;
    int i, rc;
    rc = ctr__ckr_begin_section(r, RNG_SECTION, NULL);
    for (i = 0; i < 4 && rc == CTR_OK; i++)
        gen.s[i] = ctr__ckr_get_u64(r);
    if (rc == CTR_OK)
        rc = ctr__ckr_end_section(r);
    if (rc == CTR_OK)
        rc = ctr__ckr_finish(r);
    if (rc == CTR_OK && (gen.s[0] | gen.s[1] | gen.s[2] | gen.s[3]) == 0)
        rc = CTR_E_CORRUPT; /* the all-zero state is a fixed point */
    if (rc == CTR_OK)
        rc = rng_new(&rng, a);
    if (rc == CTR_OK) {
        rng->gen = gen;
        *out = rng;
    }
    return rc;
}

CTR_API int ctr_rng_load(ctr_rng **out, const char *path,
                         const ctr_allocator *alloc)
{
    return ctr__persist_load(out, read_rng, NULL, CTR__CKPT_KIND_RNG, path,
                             alloc);
}

CTR_API int ctr_rng_load_buffer(ctr_rng **out, const void *buf, size_t len,
                                const ctr_allocator *alloc)
{
    return ctr__persist_load_buffer(out, read_rng, NULL, CTR__CKPT_KIND_RNG,
                                    buf, len, alloc);
}

CTR_API const char *ctr_rng_last_error(const ctr_rng *rng)
{
    return ctr__error_message(rng == NULL ? NULL : &rng->err);
}

/* ---- in a training-state file (state/state.c) ----------------------------- */

static const ctr__alloc *rng_alloc_of(const void *h)
{
    return &((const ctr_rng *)h)->alloc;
}

static void rng_exchange(void *a, void *b)
{
    ctr_rng t = *(ctr_rng *)a;
    *(ctr_rng *)a = *(ctr_rng *)b;
    *(ctr_rng *)b = t;
}

static void rng_destroy(void *h)
{
    ctr_rng_destroy((ctr_rng *)h);
}

const ctr__persist_ops ctr__rng_persist = {
    CTR__CKPT_KIND_RNG, "rng", write_state, read_rng, rng_alloc_of, NULL,
    NULL, rng_exchange, rng_destroy};
