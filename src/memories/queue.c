/*
 * queue.c - the momentum queue: a K x d ring buffer of keys with optional
 * instance ids (include/contrastive/queue.h documents the semantics).
 */
#include <math.h>
#include <string.h>

#include "common/persist.h"
#include "memories/persisted.h"
#include "common/core.h"
#include "common/prng.h"

#define QUEUE_HEADER CTR__FOURCC('Q', 'H', 'D', 'R')
#define QUEUE_KEYS CTR__FOURCC('Q', 'K', 'E', 'Y')
#define QUEUE_IDS CTR__FOURCC('Q', 'I', 'D', 'S')

#define KNOWN_FLAGS (CTR_QUEUE_IDS | CTR_QUEUE_INIT_RANDOM | CTR_QUEUE_KEEP_NEWEST)

struct ctr_queue {
    ctr__alloc alloc;
    ctr__error err;
    ctr__prng gen;
    int64_t capacity;
    int64_t dim;
    int64_t count;
    int64_t pos;
    int64_t total;
    int32_t flags;
    float *keys;
    int64_t *ids;
    size_t keys_bytes;
    size_t ids_bytes;
};

static void queue_free(ctr_queue *q)
{
    ctr__alloc a = q->alloc;
    ctr__free(&a, q->keys, q->keys_bytes);
    ctr__free(&a, q->ids, q->ids_bytes);
    ctr__free(&a, q, sizeof(*q));
}

/* Allocates a queue of the given shape with unset content. */
static int queue_new(ctr_queue **out, int64_t capacity, int64_t dim,
                     int32_t flags, const ctr__alloc *a)
{
    ctr_queue *q;
    size_t keys_bytes, ids_bytes = 0;
    int rc = ctr__matrix_bytes(&keys_bytes, capacity, dim, sizeof(float));
    if (rc == CTR_OK && (flags & CTR_QUEUE_IDS))
        rc = ctr__matrix_bytes(&ids_bytes, capacity, 1, sizeof(int64_t));
    if (rc != CTR_OK)
        return rc;
    q = (ctr_queue *)ctr__calloc(a, sizeof(*q));
    if (q == NULL)
        return CTR_E_NOMEM;
    q->alloc = *a;
    q->capacity = capacity;
    q->dim = dim;
    q->flags = flags;
    q->keys = (float *)ctr__malloc(a, keys_bytes);
    q->keys_bytes = q->keys != NULL ? keys_bytes : 0;
    if (ids_bytes > 0) {
        q->ids = (int64_t *)ctr__malloc(a, ids_bytes);
        q->ids_bytes = q->ids != NULL ? ids_bytes : 0;
    }
    if (q->keys == NULL || (ids_bytes > 0 && q->ids == NULL)) {
        queue_free(q);
        return CTR_E_NOMEM;
    }
    *out = q;
    return CTR_OK;
}

/* Fills every slot with a random unit vector (normal draws, normalised in
 * double precision), id CTR_QUEUE_NO_ID. */
static void fill_random(ctr_queue *q)
{
    int64_t i, j;
    for (i = 0; i < q->capacity; i++) {
        float *row = q->keys + i * q->dim;
        double sq = 0.0, inv;
        int round = 0;
        /* An all-zero row has chance far below 1/2; after
         * CTR__MAX_REJECTS of them the row is the first unit vector. */
        do {
            sq = 0.0;
            for (j = 0; j < q->dim; j++) {
                double v = round < CTR__MAX_REJECTS ? ctr__prng_normal(&q->gen)
                                                     : (double)(j == 0);
                row[j] = (float)v;
                sq += (double)row[j] * row[j];
            }
        } while (sq == 0.0 && round++ < CTR__MAX_REJECTS);
        inv = 1.0 / sqrt(sq);
        for (j = 0; j < q->dim; j++)
            row[j] = (float)(row[j] * inv);
        if (q->ids != NULL)
            q->ids[i] = CTR_QUEUE_NO_ID;
    }
    q->count = q->capacity;
}

CTR_API int ctr_queue_create(ctr_queue **out, int64_t capacity, int64_t dim,
                             int32_t flags, uint64_t seed,
                             const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr__error err;
    ctr_queue *q = NULL;
    int rc = ctr__create_begin(&a, &err, alloc, out);
    if (rc == CTR_OK && (capacity < 1 || dim < 1))
        rc = ctr__fail(&err, CTR_E_INVALID_ARG, "%s must be >= 1 (got %lld)",
                       capacity < 1 ? "capacity" : "dim",
                       (long long)(capacity < 1 ? capacity : dim));
    else if (rc == CTR_OK && (flags & ~KNOWN_FLAGS) != 0)
        rc = ctr__fail(&err, CTR_E_INVALID_ARG, "flags: unknown bits 0x%lx",
                       (unsigned long)(flags & ~KNOWN_FLAGS));
    if (rc == CTR_OK)
        rc = queue_new(&q, capacity, dim, flags, &a);
    if (rc == CTR_OK) {
        ctr__prng_seed(&q->gen, seed);
        if (flags & CTR_QUEUE_INIT_RANDOM)
            fill_random(q);
        *out = q;
    }
    return ctr__create_report(alloc, rc, "ctr_queue_create", &err);
}

CTR_API void ctr_queue_destroy(ctr_queue *q)
{
    if (q != NULL)
        queue_free(q);
}

static int check_enqueue(ctr_queue *q, const float *keys, int64_t n,
                         int64_t ld, const int64_t *ids)
{
    ctr__error *e = &q->err;
    if (n < 0)
        return ctr__fail(e, CTR_E_INVALID_ARG, "n must be >= 0 (got %lld)",
                         (long long)n);
    if (n > q->capacity && !(q->flags & CTR_QUEUE_KEEP_NEWEST))
        return ctr__fail(e, CTR_E_SHAPE,
                         "batch of %lld keys exceeds the capacity %lld "
                         "(create with CTR_QUEUE_KEEP_NEWEST to keep the "
                         "newest)", (long long)n, (long long)q->capacity);
    if (n == 0)
        return CTR_OK;
    if (keys == NULL)
        return ctr__fail(e, CTR_E_INVALID_ARG, "keys is NULL");
    if (ld < q->dim)
        return ctr__fail(e, CTR_E_INVALID_ARG,
                         "ld must be >= dim %lld (got %lld)",
                         (long long)q->dim, (long long)ld);
    if ((q->ids != NULL) != (ids != NULL))
        return ctr__fail(e, CTR_E_INVALID_ARG,
                         q->ids != NULL ? "the queue stores ids: ids is NULL"
                                        : "the queue has no ids: ids must "
                                          "be NULL");
    return ctr__check_finite_matrix(e, keys, n, q->dim, ld, "keys");
}

/* Copies rows [first, first + rows) of the batch to slots starting at
 * `slot`, which must not pass the end of the buffer. */
static void write_rows(ctr_queue *q, int64_t slot, const float *keys,
                       int64_t ld, const int64_t *ids, int64_t first,
                       int64_t rows)
{
    int64_t i;
    if (ld == q->dim && rows > 0) /* contiguous batch: one copy */
        memcpy(q->keys + slot * q->dim, keys + first * ld,
               (size_t)(rows * q->dim) * sizeof(float));
    else
        for (i = 0; i < rows; i++)
            memcpy(q->keys + (slot + i) * q->dim, keys + (first + i) * ld,
                   (size_t)q->dim * sizeof(float));
    if (ids != NULL)
        memcpy(q->ids + slot, ids + first, (size_t)rows * sizeof(int64_t));
}

CTR_API int ctr_queue_enqueue(ctr_queue *q, const float *keys, int64_t n,
                              int64_t ld, const int64_t *ids)
{
    int64_t skip, rows, slot, head;
    int rc;
    if (q == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&q->err);
    rc = check_enqueue(q, keys, n, ld, ids);
    if (rc != CTR_OK || n == 0)
        return rc;
    /* Rows older than the newest K would be overwritten within this very
     * batch: skip them, landing the rest where sequential writes would. */
    skip = n > q->capacity ? n - q->capacity : 0;
    rows = n - skip;
    slot = (q->pos + skip) % q->capacity;
    head = q->capacity - slot < rows ? q->capacity - slot : rows;
    write_rows(q, slot, keys, ld, ids, skip, head);
    write_rows(q, 0, keys, ld, ids, skip + head, rows - head);
    q->pos = (slot + rows) % q->capacity;
    q->count = q->count + rows < q->capacity ? q->count + rows : q->capacity;
    q->total += n;
    return CTR_OK;
}

CTR_API int ctr_queue_keys(const ctr_queue *q, const float **keys,
                           int64_t *count, int64_t *ld)
{
    if (q == NULL)
        return CTR_E_INVALID_ARG;
    if (keys == NULL)
        return ctr__const_fail(&q->err, CTR_E_INVALID_ARG, "keys is NULL");
    *keys = q->keys;
    if (count != NULL)
        *count = q->count;
    if (ld != NULL)
        *ld = q->dim;
    return ctr__const_result(&q->err, CTR_OK, NULL);
}

CTR_API int ctr_queue_ids(const ctr_queue *q, const int64_t **ids,
                          int64_t *count)
{
    if (q == NULL)
        return CTR_E_INVALID_ARG;
    if (ids == NULL)
        return ctr__const_fail(&q->err, CTR_E_INVALID_ARG, "ids is NULL");
    *ids = q->ids;
    if (count != NULL)
        *count = q->count;
    return ctr__const_result(&q->err, CTR_OK, NULL);
}

static int copy_rows(const ctr_queue *q, ctr__error *e, float *keys, int64_t ld,
                     int64_t *ids, int64_t max_rows, int64_t *count)
{
    int64_t i;
    if (count == NULL)
        return ctr__fail(e, CTR_E_INVALID_ARG, "count is NULL");
    if (max_rows < 0)
        return ctr__fail(e, CTR_E_INVALID_ARG,
                         "max_rows must be >= 0 (got %lld)",
                         (long long)max_rows);
    *count = q->count;
    if (max_rows < q->count)
        return ctr__fail(e, CTR_E_BUFFER_TOO_SMALL,
                         "room for %lld rows, the queue holds %lld",
                         (long long)max_rows, (long long)q->count);
    if (q->count == 0)
        return CTR_OK;
    if (keys == NULL)
        return ctr__fail(e, CTR_E_INVALID_ARG, "keys is NULL");
    if (ld < q->dim)
        return ctr__fail(e, CTR_E_INVALID_ARG,
                         "ld must be >= dim %lld (got %lld)",
                         (long long)q->dim, (long long)ld);
    if (ctr__check_view(e, q->count, ld, "keys") != CTR_OK)
        return CTR_E_OVERFLOW;
    for (i = 0; i < q->count; i++) {
        memcpy(keys + i * ld, q->keys + i * q->dim,
               (size_t)q->dim * sizeof(float));
        if (ids != NULL)
            ids[i] = q->ids != NULL ? q->ids[i] : CTR_QUEUE_NO_ID;
    }
    return CTR_OK;
}

CTR_API int ctr_queue_copy(const ctr_queue *q, float *keys, int64_t ld,
                           int64_t *ids, int64_t max_rows, int64_t *count)
{
    ctr__error e = CTR__ERROR_INIT;
    if (q == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__const_result(&q->err, copy_rows(q, &e, keys, ld, ids, max_rows, count), &e);
}

CTR_API int ctr_queue_get_i64(const ctr_queue *q, int32_t param,
                              int64_t *value)
{
    int64_t v;
    if (q == NULL)
        return CTR_E_INVALID_ARG;
    if (value == NULL)
        return ctr__const_fail(&q->err, CTR_E_INVALID_ARG, "value is NULL");
    switch (param) {
    case CTR_QUEUE_P_CAPACITY: v = q->capacity; break;
    case CTR_QUEUE_P_DIM: v = q->dim; break;
    case CTR_QUEUE_P_COUNT: v = q->count; break;
    case CTR_QUEUE_P_WRITE_POS: v = q->pos; break;
    case CTR_QUEUE_P_TOTAL: v = q->total; break;
    case CTR_QUEUE_P_FLAGS: v = q->flags; break;
    case CTR_QUEUE_P_MEMORY_BYTES:
        v = (int64_t)(sizeof(*q) + q->keys_bytes + q->ids_bytes);
        break;
    default:
        return ctr__const_fail(&q->err, CTR_E_INVALID_ARG,
                               "unknown queue property %ld", (long)param);
    }
    *value = v;
    return ctr__const_result(&q->err, CTR_OK, NULL);
}

/* ---- checkpoints ---------------------------------------------------------- */

static void write_queue(ctr__ckw *w, const void *obj)
{
    const ctr_queue *q = (const ctr_queue *)obj;
    int i;
    ctr__ckw_begin_section(w, QUEUE_HEADER);
    ctr__ckw_put_i64(w, q->capacity);
    ctr__ckw_put_i64(w, q->dim);
    ctr__ckw_put_u32(w, (uint32_t)q->flags);
    ctr__ckw_put_i64(w, q->count);
    ctr__ckw_put_i64(w, q->pos);
    ctr__ckw_put_i64(w, q->total);
    for (i = 0; i < 4; i++)
        ctr__ckw_put_u64(w, q->gen.s[i]);
    ctr__ckw_end_section(w);
    ctr__ckw_begin_section(w, QUEUE_KEYS);
    ctr__ckw_put_f32_array(w, q->keys, (size_t)(q->count * q->dim));
    ctr__ckw_end_section(w);
    if (q->ids != NULL) {
        ctr__ckw_begin_section(w, QUEUE_IDS);
        ctr__ckw_put_i64_array(w, q->ids, (size_t)q->count);
        ctr__ckw_end_section(w);
    }
}

CTR_API int ctr_queue_save(const ctr_queue *q, const char *path)
{
    if (q == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__persist_save_const(q, write_queue, CTR__CKPT_KIND_QUEUE, path,
                                   &q->alloc, &q->err);
}

CTR_API int ctr_queue_save_buffer(const ctr_queue *q, void *buf, size_t cap,
                                  size_t *size_out)
{
    if (q == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__persist_save_buffer_const(q, write_queue, CTR__CKPT_KIND_QUEUE, buf,
                                          cap, size_out, &q->err);
}

/* The header fields, validated against each other. */
typedef struct queue_header {
    int64_t capacity, dim, count, pos, total;
    int32_t flags;
    ctr__prng gen;
} queue_header;

static int read_header(ctr__ckr *r, queue_header *h)
{
    uint32_t flags;
    int i, rc = ctr__ckr_begin_section(r, QUEUE_HEADER, NULL);
    int64_t expect_count;
    if (rc != CTR_OK)
        return rc;
    h->capacity = ctr__ckr_get_i64(r);
    h->dim = ctr__ckr_get_i64(r);
    flags = ctr__ckr_get_u32(r);
    h->count = ctr__ckr_get_i64(r);
    h->pos = ctr__ckr_get_i64(r);
    h->total = ctr__ckr_get_i64(r);
    for (i = 0; i < 4; i++)
        h->gen.s[i] = ctr__ckr_get_u64(r);
    rc = ctr__ckr_end_section(r);
    if (rc != CTR_OK)
        return rc;
    if (h->capacity < 1 || h->dim < 1 || (flags & ~(uint32_t)KNOWN_FLAGS) ||
        h->total < 0)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                             "queue: capacity %lld, dim %lld, flags 0x%lx or "
                             "total %lld out of range", (long long)h->capacity,
                             (long long)h->dim, (unsigned long)flags,
                             (long long)h->total);
    if ((h->gen.s[0] | h->gen.s[1] | h->gen.s[2] | h->gen.s[3]) == 0)
        return ctr__ckr_fail(r, CTR_E_CORRUPT, "queue: generator state is zero");
    h->flags = (int32_t)flags;
    expect_count = (h->flags & CTR_QUEUE_INIT_RANDOM) || h->total > h->capacity
                       ? h->capacity
                       : h->total;
    if (h->count != expect_count || h->pos != h->total % h->capacity)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                             "queue: count %lld or write position %lld does "
                             "not follow from total %lld and capacity %lld",
                             (long long)h->count, (long long)h->pos,
                             (long long)h->total, (long long)h->capacity);
    return CTR_OK;
}

/* What a queue of the header's shape allocates, taken from the load limit
 * before anything is allocated: a small file may declare a large empty
 * queue, so the bytes present cannot bound it. */
static int reserve_queue(ctr__ckr *r, const queue_header *h)
{
    size_t keys, ids = 0, total;
    if (ctr__matrix_bytes(&keys, h->capacity, h->dim, sizeof(float)) != CTR_OK ||
        ((h->flags & CTR_QUEUE_IDS) &&
         ctr__matrix_bytes(&ids, h->capacity, 1, sizeof(int64_t)) != CTR_OK) ||
        ctr__add_size(&total, keys, ids) != CTR_OK ||
        ctr__add_size(&total, total, sizeof(ctr_queue)) != CTR_OK)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                             "queue: capacity %lld x dim %lld overflows",
                             (long long)h->capacity, (long long)h->dim);
    return ctr__ckr_reserve(r, total, "queue: capacity %lld x dim %lld%s",
                            (long long)h->capacity, (long long)h->dim,
                            ids > 0 ? " with ids" : "");
}

/* Reads the keys (and ids) sections into a new queue. */
static int read_content(ctr__ckr *r, const queue_header *h, ctr_queue **out,
                        const ctr__alloc *a)
{
    ctr_queue *q = NULL;
    size_t key_bytes;
    uint64_t len;
    int rc = reserve_queue(r, h);
    if (rc == CTR_OK)
        rc = ctr__matrix_bytes(&key_bytes, h->count, h->dim, sizeof(float));
    if (rc == CTR_OK)
        rc = ctr__ckr_begin_section(r, QUEUE_KEYS, &len);
    if (rc == CTR_OK && len != key_bytes)
        rc = ctr__ckr_fail(r, CTR_E_CORRUPT,
                           "queue: section 'QKEY' holds %llu bytes, %lld keys "
                           "of dim %lld take %llu", (unsigned long long)len,
                           (long long)h->count, (long long)h->dim,
                           (unsigned long long)key_bytes);
    if (rc == CTR_OK)
        rc = queue_new(&q, h->capacity, h->dim, h->flags, a);
    if (rc != CTR_OK)
        return rc == CTR_E_OVERFLOW ? CTR_E_CORRUPT : rc;
    ctr__ckr_get_f32_array(r, q->keys, key_bytes / sizeof(float));
    rc = ctr__ckr_end_section(r);
    if (rc == CTR_OK && ctr__check_finite(r->err, q->keys,
                                          key_bytes / sizeof(float),
                                          "queue: keys") != CTR_OK)
        rc = CTR_E_CORRUPT;
    if (rc == CTR_OK && q->ids != NULL) {
        rc = ctr__ckr_begin_section(r, QUEUE_IDS, NULL);
        ctr__ckr_get_i64_array(r, q->ids, (size_t)h->count);
        if (rc == CTR_OK)
            rc = ctr__ckr_end_section(r);
    }
    if (rc == CTR_OK)
        rc = ctr__ckr_finish(r);
    if (rc != CTR_OK) {
        queue_free(q);
        return rc;
    }
    q->count = h->count;
    q->pos = h->pos;
    q->total = h->total;
    q->gen = h->gen;
    *out = q;
    return CTR_OK;
}

static int read_queue(ctr__ckr *r, void *out_ptr, const ctr__alloc *a, void *ctx)
{
    ctr_queue **out = (ctr_queue **)out_ptr;
    (void)ctx;
    queue_header h;
    int rc;
    memset(&h, 0, sizeof(h));
    rc = read_header(r, &h);
    if (rc == CTR_OK)
        rc = read_content(r, &h, out, a);
    return rc;
}

CTR_API int ctr_queue_load(ctr_queue **out, const char *path,
                           const ctr_allocator *alloc)
{
    return ctr__persist_load(out, read_queue, NULL, CTR__CKPT_KIND_QUEUE, path,
                             alloc);
}

CTR_API int ctr_queue_load_buffer(ctr_queue **out, const void *buf, size_t len,
                                  const ctr_allocator *alloc)
{
    return ctr__persist_load_buffer(out, read_queue, NULL, CTR__CKPT_KIND_QUEUE,
                                    buf, len, alloc);
}

CTR_API const char *ctr_queue_last_error(const ctr_queue *q)
{
    return ctr__error_message(q == NULL ? NULL : &q->err);
}

/* ---- in a training-state file (state/state.c) ----------------------------- */

static const ctr__alloc *queue_alloc_of(const void *h)
{
    return &((const ctr_queue *)h)->alloc;
}

static int queue_fits(const void *h, const void *loaded, ctr__error *err)
{
    const ctr_queue *a = (const ctr_queue *)h, *b = (const ctr_queue *)loaded;
    if (a->capacity == b->capacity && a->dim == b->dim && a->flags == b->flags)
        return CTR_OK;
    return ctr__fail(err, CTR_E_SHAPE, "it is a queue of capacity %lld, "
                     "dim %lld, flags %ld; the handle's: %lld, %lld, %ld",
                     (long long)b->capacity, (long long)b->dim,
                     (long)b->flags, (long long)a->capacity,
                     (long long)a->dim, (long)a->flags);
}

static void queue_exchange(void *a, void *b)
{
    ctr_queue t = *(ctr_queue *)a;
    *(ctr_queue *)a = *(ctr_queue *)b;
    *(ctr_queue *)b = t;
}

static void queue_destroy(void *h)
{
    ctr_queue_destroy((ctr_queue *)h);
}

const ctr__persist_ops ctr__queue_persist = {
    CTR__CKPT_KIND_QUEUE, "queue", write_queue, read_queue, queue_alloc_of,
    NULL, queue_fits, queue_exchange, queue_destroy};
