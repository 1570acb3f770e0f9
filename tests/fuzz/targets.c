/*
 * targets.c - the fuzz targets (fuzz.h): load, repair, load again from a
 * buffer and a path, use, save, reload, compare.
 */
#define _GNU_SOURCE /* memfd_create */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "contrastive.h"
#include "fuzz/ckpt_repair.h"
#include "fuzz/fuzz.h"

/* ---- a counting allocator --------------------------------------------- */

typedef struct counter {
    uint64_t live, peak;
    int64_t blocks;
} counter;

static void *count_alloc(void *user, size_t size, size_t align)
{
    counter *c = (counter *)user;
    void *p = NULL;
    if (posix_memalign(&p, align, size) != 0)
        return NULL;
    c->live += size;
    c->blocks++;
    if (c->live > c->peak)
        c->peak = c->live;
    return p;
}

static void count_free(void *user, void *ptr, size_t size)
{
    counter *c = (counter *)user;
    c->live -= size;
    c->blocks--;
    free(ptr);
}

static void counting(ctr_allocator *a, counter *c, uint64_t limit)
{
    memset(c, 0, sizeof(*c));
    ctr_allocator_init(a);
    a->user = c;
    a->alloc = count_alloc;
    a->free = count_free;
    a->max_load_bytes = limit;
}

static int violation(const char *target, const char *what, int rc)
{
    fprintf(stderr, "fuzz %s: %s (status %d, %s)\n", target, what, rc, ctr_strerror(rc));
    return 1;
}

/* ---- the kinds --------------------------------------------------------- */

typedef struct kind {
    const char *name;
    int (*load_buffer)(void **out, const void *buf, size_t len, const ctr_allocator *a);
    int (*load_path)(void **out, const char *path, const ctr_allocator *a);
    int (*save_buffer)(const void *obj, void *buf, size_t cap, size_t *size);
    void (*destroy)(void *obj);
    void (*use)(void *obj);
} kind;

#define KIND_IO(T)                                                                 \
    static int T##_lb(void **out, const void *buf, size_t len, const ctr_allocator *a) \
    {                                                                              \
        return ctr_##T##_load_buffer((ctr_##T **)out, buf, len, a);                \
    }                                                                              \
    static int T##_lp(void **out, const char *path, const ctr_allocator *a)        \
    {                                                                              \
        return ctr_##T##_load((ctr_##T **)out, path, a);                           \
    }                                                                              \
    static int T##_sb(const void *obj, void *buf, size_t cap, size_t *size)        \
    {                                                                              \
        return ctr_##T##_save_buffer((const ctr_##T *)obj, buf, cap, size);        \
    }                                                                              \
    static void T##_free(void *obj)                                                \
    {                                                                              \
        ctr_##T##_destroy((ctr_##T *)obj);                                         \
    }

KIND_IO(rng)
KIND_IO(queue)
KIND_IO(bank)
KIND_IO(encoder)
KIND_IO(objective)

static int optimizer_lb(void **out, const void *buf, size_t len, const ctr_allocator *a)
{
    return ctr_optimizer_load_buffer((ctr_optimizer **)out, buf, len, NULL, a);
}
static int optimizer_lp(void **out, const char *path, const ctr_allocator *a)
{
    return ctr_optimizer_load((ctr_optimizer **)out, path, NULL, a);
}
static int optimizer_sb(const void *obj, void *buf, size_t cap, size_t *size)
{
    return ctr_optimizer_save_buffer((const ctr_optimizer *)obj, buf, cap, size);
}
static void optimizer_free(void *obj)
{
    ctr_optimizer_destroy((ctr_optimizer *)obj);
}

/* Small inputs for the uses (sizes are capped before they are used). */
#define MAX_FLOATS ((int64_t)1 << 16)

static float *floats(int64_t n, float v)
{
    float *p = (float *)malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    int64_t i;
    for (i = 0; p != NULL && i < n; i++)
        p[i] = v * (float)((i % 7) - 3);
    return p;
}

static void rng_use(void *obj)
{
    ctr_rng *r = (ctr_rng *)obj;
    float u[8];
    int64_t k[8];
    (void)ctr_rng_uniform(r, u, 8);
    (void)ctr_rng_below(r, k, 8, 3);
    (void)ctr_rng_permutation(r, k, 8);
}

static void queue_use(void *obj)
{
    ctr_queue *q = (ctr_queue *)obj;
    int64_t dim = 0, flags = 0, count = 0, ld = 0, ids[2] = {4, 5};
    const float *keys;
    float *x;
    (void)ctr_queue_get_i64(q, CTR_QUEUE_P_DIM, &dim);
    (void)ctr_queue_get_i64(q, CTR_QUEUE_P_FLAGS, &flags);
    if (dim > MAX_FLOATS / 2 || (x = floats(2 * dim, 0.25f)) == NULL)
        return;
    (void)ctr_queue_enqueue(q, x, 2, dim, (flags & CTR_QUEUE_IDS) ? ids : NULL);
    (void)ctr_queue_keys(q, &keys, &count, &ld);
    free(x);
}

static void bank_use(void *obj)
{
    ctr_bank *b = (ctr_bank *)obj;
    int64_t n = 0, dim = 0, idx[2], out[6];
    float *x;
    (void)ctr_bank_get_i64(b, CTR_BANK_P_ROWS, &n);
    (void)ctr_bank_get_i64(b, CTR_BANK_P_DIM, &dim);
    if (dim > MAX_FLOATS / 2 || (x = floats(2 * dim, 0.5f)) == NULL)
        return;
    idx[0] = 0;
    idx[1] = n - 1;
    (void)ctr_bank_gather(b, idx, 2, x, dim);
    (void)ctr_bank_update(b, idx, 1, x, dim);
    (void)ctr_bank_sample(b, out, 2, 3, NULL);
    (void)ctr_bank_sample(b, out, 2, 3, idx); /* may leave nothing: an error */
    free(x);
}

static void encoder_use(void *obj)
{
    ctr_encoder *e = (ctr_encoder *)obj;
    int64_t dims[3], in_size = 0, out_size = 0;
    int32_t nd;
    size_t bytes = 0;
    float *x, *y, *dy, *dx;
    if (ctr_encoder_memory(e, &bytes, 2) != CTR_OK || bytes > ((size_t)1 << 20) ||
        ctr_encoder_shape(e, dims, &nd, &in_size, -1) != CTR_OK)
        return;
    out_size = in_size;
    {
        int64_t layers = 0;
        (void)ctr_encoder_num_layers(e, &layers);
        if (layers > 0)
            (void)ctr_encoder_shape(e, dims, &nd, &out_size, layers - 1);
    }
    if (in_size > MAX_FLOATS || out_size > MAX_FLOATS)
        return;
    x = floats(2 * in_size, 0.1f);
    dx = floats(2 * in_size, 0.0f);
    y = floats(2 * out_size, 0.0f);
    dy = floats(2 * out_size, 0.01f);
    if (x != NULL && dx != NULL && y != NULL && dy != NULL &&
        ctr_encoder_forward(e, y, x, 2, CTR_ENCODER_TRAIN) == CTR_OK) {
        (void)ctr_encoder_backward(e, dx, dy);
        (void)ctr_encoder_forward(e, y, x, 2, CTR_ENCODER_EVAL);
    }
    free(x);
    free(dx);
    free(y);
    free(dy);
}

/* The parameter count of an optimizer: the field after its kind in the
 * head section of its save (no query gives it). */
static int64_t optimizer_count(const ctr_optimizer *o)
{
    size_t size = 0, head;
    uint8_t *buf;
    int64_t n = -1;
    (void)ctr_optimizer_save_buffer(o, NULL, 0, &size);
    buf = (uint8_t *)malloc(size > 0 ? size : 1);
    if (buf != NULL && ctr_optimizer_save_buffer(o, buf, size, &size) == CTR_OK &&
        (head = ckpt_payload(buf, size, CTR__FOURCC('O', 'P', 'T', 'H'))) > 0)
        n = (int64_t)ctr__load_u64(buf + head + 4);
    free(buf);
    return n;
}

static void optimizer_use(void *obj)
{
    ctr_optimizer *o = (ctr_optimizer *)obj;
    int64_t n = optimizer_count(o);
    float *p, *g;
    if (n < 1 || n > MAX_FLOATS)
        return;
    p = floats(n, 0.5f);
    g = floats(n, 0.01f);
    if (p != NULL && g != NULL) {
        (void)ctr_optimizer_step_buffer(o, p, g, n);
        (void)ctr_optimizer_step_buffer(o, p, g, n);
    }
    free(p);
    free(g);
}

static void objective_use(void *obj)
{
    enum { B = 4, D = 3, K = 6 };
    ctr_objective *o = (ctr_objective *)obj;
    float a[B * D], p[B * D], neg[K * D], ga[B * D], gp[B * D], gn[K * D];
    int64_t self[B] = {0, 1, 2, 3}, noise[B * 2] = {4, 5, 4, 5, 5, 4, 5, 4};
    double loss, v;
    int i;
    for (i = 0; i < B * D; i++) {
        a[i] = (float)((i * 7) % 5) * 0.2f - 0.4f;
        p[i] = (float)((i * 3) % 5) * 0.2f - 0.3f;
    }
    for (i = 0; i < K * D; i++)
        neg[i] = (float)((i * 5) % 7) * 0.1f - 0.3f;
    switch (ctr_objective_kind(o)) {
    case CTR_OBJECTIVE_INFONCE:
        (void)ctr_objective_infonce(o, &loss, a, D, p, D, B, D, NULL, ga, gp);
        break;
    case CTR_OBJECTIVE_NTXENT:
        (void)ctr_objective_ntxent(o, &loss, a, D, p, D, B, D, NULL, ga, gp);
        break;
    case CTR_OBJECTIVE_NPAIR:
        (void)ctr_objective_npair(o, &loss, a, D, p, D, B, D, ga, gp);
        break;
    case CTR_OBJECTIVE_INFONCE_SHARED:
        (void)ctr_objective_infonce_shared(o, &loss, a, D, p, D, B, D, neg, D, K, NULL,
                                           NULL, ga, gp, gn);
        break;
    case CTR_OBJECTIVE_BANK_SOFTMAX:
        (void)ctr_objective_bank_softmax(o, &loss, a, D, B, D, neg, D, K, self, ga);
        break;
    case CTR_OBJECTIVE_NCE:
        (void)ctr_objective_nce(o, &loss, a, D, B, D, neg, D, K, self, noise, 2, ga);
        break;
    default:
        break;
    }
    (void)ctr_objective_stat(o, CTR_OBJECTIVE_S_LOSS, &v);
}

/* The state target: the fixed set of ctr_fuzz_state_build, loaded all or
 * nothing from the input. */
void ctr_fuzz_state_free(ctr_fuzz_state *s)
{
    if (s == NULL)
        return;
    ctr_state_destroy(s->st);
    ctr_optimizer_destroy(s->opt);
    ctr_encoder_destroy(s->enc);
    ctr_queue_destroy(s->queue);
    ctr_rng_destroy(s->rng);
    free(s);
}

int ctr_fuzz_state_build(ctr_fuzz_state **out, const ctr_allocator *a)
{
    const int64_t dims[1] = {4};
    ctr_fuzz_state *s = (ctr_fuzz_state *)calloc(1, sizeof(*s));
    int rc = s == NULL ? CTR_E_NOMEM : ctr_rng_create(&s->rng, 3, a);
    if (rc == CTR_OK) rc = ctr_queue_create(&s->queue, 6, 3, CTR_QUEUE_IDS, 3, a);
    if (rc == CTR_OK) rc = ctr_encoder_create(&s->enc, dims, 1, 3, a);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(s->enc, 3, 1) < 0 ? CTR_E_NOMEM : CTR_OK;
    if (rc == CTR_OK)
        rc = ctr_optimizer_create_for_encoder(&s->opt, CTR_OPTIMIZER_ADAMW, s->enc, a);
    if (rc == CTR_OK) rc = ctr_state_create(&s->st, a);
    if (rc == CTR_OK) rc = ctr_state_add_rng(s->st, "rng", s->rng);
    if (rc == CTR_OK) rc = ctr_state_add_queue(s->st, "queue", s->queue);
    if (rc == CTR_OK) rc = ctr_state_add_encoder(s->st, "encoder", s->enc);
    if (rc == CTR_OK) rc = ctr_state_add_optimizer(s->st, "optimizer", s->opt);
    if (rc != CTR_OK) {
        ctr_fuzz_state_free(s);
        return rc;
    }
    *out = s;
    return CTR_OK;
}

/* Builds the set, then loads into it (from a buffer, or path when buf is
 * NULL); on failure the set is freed. */
static int state_load(void **out, const void *buf, size_t len, const char *path,
                      const ctr_allocator *a)
{
    ctr_fuzz_state *s = NULL;
    int rc = ctr_fuzz_state_build(&s, a);
    if (rc == CTR_OK)
        rc = buf != NULL ? ctr_state_load_buffer(s->st, buf, len)
                         : ctr_state_load(s->st, path);
    if (rc != CTR_OK) {
        ctr_fuzz_state_free(s);
        return rc;
    }
    *out = s;
    return CTR_OK;
}
static int state_lb(void **out, const void *buf, size_t len, const ctr_allocator *a)
{
    return state_load(out, buf, len, NULL, a);
}
static int state_lp(void **out, const char *path, const ctr_allocator *a)
{
    return state_load(out, NULL, 0, path, a);
}
static int state_sb(const void *obj, void *buf, size_t cap, size_t *size)
{
    return ctr_state_save_buffer(((const ctr_fuzz_state *)obj)->st, buf, cap, size);
}
static void state_free(void *obj)
{
    ctr_fuzz_state_free((ctr_fuzz_state *)obj);
}
/* No optimizer step: on a loaded encoder's finite but huge values AdamW's
 * second moment overflows (inf / inf), which a later load rightly refuses. */
static void state_use(void *obj)
{
    ctr_fuzz_state *s = (ctr_fuzz_state *)obj;
    rng_use(s->rng);
    queue_use(s->queue);
    encoder_use(s->enc);
}

static const kind KINDS[] = {
    {"rng", rng_lb, rng_lp, rng_sb, rng_free, rng_use},
    {"queue", queue_lb, queue_lp, queue_sb, queue_free, queue_use},
    {"bank", bank_lb, bank_lp, bank_sb, bank_free, bank_use},
    {"encoder", encoder_lb, encoder_lp, encoder_sb, encoder_free, encoder_use},
    {"optimizer", optimizer_lb, optimizer_lp, optimizer_sb, optimizer_free, optimizer_use},
    {"objective", objective_lb, objective_lp, objective_sb, objective_free, objective_use},
    {"state", state_lb, state_lp, state_sb, state_free, state_use},
};

/* ---- the steps ----------------------------------------------------------- */

/* A state load may also find an object that does not fit its handle
 * (CTR_E_SHAPE, documented in state.h). */
static int allowed(const kind *k, int rc, int from_path)
{
    return rc == CTR_OK || rc == CTR_E_CORRUPT || rc == CTR_E_INCOMPATIBLE ||
           rc == CTR_E_LIMIT || (from_path && rc == CTR_E_IO) ||
           (rc == CTR_E_SHAPE && strcmp(k->name, "state") == 0);
}

/* A file at a path holding data (a memfd where there is one). */
static const char *as_path(const uint8_t *data, size_t size, char *path, size_t cap)
{
    static int fd = -1; /* test code: one per process, reused */
    if (fd < 0) {
#ifdef MFD_CLOEXEC
        fd = memfd_create("ctr-fuzz", MFD_CLOEXEC);
#endif
        if (fd < 0) {
            char tmpl[] = "/tmp/ctr-fuzz-XXXXXX";
            fd = mkstemp(tmpl);
            if (fd >= 0)
                unlink(tmpl);
        }
        if (fd < 0)
            return NULL;
    }
    if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
        return NULL;
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return path;
}

/* Saves obj, reloads the save, saves again: the bytes must agree. */
static int round_trip(const kind *k, void *obj)
{
    size_t size = 0, size2 = 0;
    uint8_t *a = NULL, *b = NULL;
    void *back = NULL;
    ctr_allocator al;
    char msg[256];
    int rc = k->save_buffer(obj, NULL, 0, &size), bad = 0;
    ctr_allocator_init(&al);
    al.max_load_bytes = UINT64_MAX;
    al.message = msg;
    al.message_cap = sizeof(msg);
    if (rc != CTR_E_BUFFER_TOO_SMALL && rc != CTR_OK)
        return violation(k->name, "size query of a loaded object failed", rc);
    a = (uint8_t *)malloc(size);
    b = (uint8_t *)malloc(size);
    if (a == NULL || b == NULL)
        bad = violation(k->name, "out of memory in the harness", 0);
    else if ((rc = k->save_buffer(obj, a, size, &size)) != CTR_OK)
        bad = violation(k->name, "a loaded object does not save", rc);
    else if ((rc = k->load_buffer(&back, a, size, &al)) != CTR_OK)
        bad = violation(k->name, msg, rc);
    else if ((rc = k->save_buffer(back, b, size, &size2)) != CTR_OK || size2 != size ||
             memcmp(a, b, size) != 0)
        bad = violation(k->name, "save, load, save changes the bytes", rc);
    if (back != NULL)
        k->destroy(back);
    free(a);
    free(b);
    return bad;
}

/* One load (from a buffer, or a path), checked; the object is used and
 * round-tripped if it loads. */
static int load_once(const kind *k, const uint8_t *data, size_t size, int from_path)
{
    ctr_allocator a;
    counter c;
    void *obj = NULL;
    char path[64];
    char msg[256];
    int rc, bad = 0;
    counting(&a, &c, CTR_FUZZ_LOAD_LIMIT);
    a.message = msg;
    a.message_cap = sizeof(msg);
    if (from_path) {
        const char *p = as_path(data, size, path, sizeof(path));
        if (p == NULL)
            return 0; /* no place for the file: nothing to learn */
        rc = k->load_path(&obj, p, &a);
    } else {
        rc = k->load_buffer(&obj, size > 0 ? data : (const uint8_t *)"", size, &a);
    }
    if (!allowed(k, rc, from_path))
        bad = violation(k->name, "undocumented status from a load", rc);
    if (c.peak > CTR_FUZZ_LOAD_LIMIT + CTR_FUZZ_SLACK)
        bad = violation(k->name, "a load allocated past its limit", rc);
    if (rc != CTR_OK && obj != NULL)
        bad = violation(k->name, "a failed load returned an object", rc);
    if (rc != CTR_OK && msg[0] == '\0')
        bad = violation(k->name, "a failed load gave no message", rc);
    if (rc == CTR_OK) {
        k->use(obj);
        bad |= round_trip(k, obj);
        k->destroy(obj);
    }
    if (c.blocks != 0 || c.live != 0)
        bad = violation(k->name, "a load left blocks behind", rc);
    return bad;
}

static int run(const kind *k, const uint8_t *data, size_t size)
{
    uint8_t *fixed;
    int bad = load_once(k, data, size, 0);
    fixed = (uint8_t *)malloc(size > 0 ? size : 1);
    if (fixed == NULL)
        return bad;
    if (size > 0)
        memcpy(fixed, data, size);
    ckpt_repair(fixed, size);
    bad |= load_once(k, fixed, size, 0);
    bad |= load_once(k, fixed, size, 1);
    free(fixed);
    return bad;
}

#define TARGET(i, T)                                       \
    static int T##_target(const uint8_t *data, size_t size) \
    {                                                      \
        return run(&KINDS[i], data, size);                 \
    }
TARGET(0, rng)
TARGET(1, queue)
TARGET(2, bank)
TARGET(3, encoder)
TARGET(4, optimizer)
TARGET(5, objective)
TARGET(6, state)

const ctr_fuzz_target ctr_fuzz_targets[] = {
    {"rng", rng_target},
    {"queue", queue_target},
    {"bank", bank_target},
    {"encoder", encoder_target},
    {"optimizer", optimizer_target},
    {"objective", objective_target},
    {"state", state_target},
    {NULL, NULL},
};

const ctr_fuzz_target *ctr_fuzz_find(const char *name)
{
    const ctr_fuzz_target *t;
    for (t = ctr_fuzz_targets; t->name != NULL; t++)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}
