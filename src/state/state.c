/*
 * state.c - a named set of objects saved into one checkpoint file and
 * restored all or nothing (include/contrastive/state.h; the file layout is
 * docs/file-format.md, "Training state").
 *
 * Save: a 'SHDR' section with the number of objects, then per object an
 * 'SENT' section (its kind and name), the object's own sections (its
 * writer, as its own save) and an empty 'SEND' section. Load: each object
 * is read by its own reader (the checkpoint reader in nested mode takes
 * 'SEND' as the object's end) into a new object made with the handle's
 * allocator; when every one is read and fits its handle, each handle's
 * content is exchanged with its new object's, and the new objects, now
 * holding the old contents, are destroyed.
 */
#include <stdio.h>
#include <string.h>

#include "common/persist.h"
#include "encoder/encoder.h"
#include "memories/persisted.h"
#include "objectives/kind.h"

#define TAG_HEADER CTR__FOURCC('S', 'H', 'D', 'R')

typedef struct entry {
    char name[CTR_STATE_NAME_MAX + 1];
    const ctr__persist_ops *ops;
    void *h;
} entry;

struct ctr_state {
    ctr__alloc alloc;
    ctr__error err;
    ctr__load_opts load;
    entry *entries;
    int64_t n, cap;
};

CTR_API int ctr_state_create(ctr_state **out, const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr__error err;
    ctr_state *st = NULL;
    int rc = ctr__create_begin(&a, &err, alloc, out);
    if (rc == CTR_OK && (st = (ctr_state *)ctr__calloc(&a, sizeof(*st))) == NULL)
        rc = CTR_E_NOMEM;
    if (rc == CTR_OK) {
        st->alloc = a;
        ctr__load_opts_init(&st->load, alloc);
        *out = st;
    }
    return ctr__create_report(alloc, rc, "ctr_state_create", &err);
}

CTR_API void ctr_state_destroy(ctr_state *st)
{
    if (st != NULL) {
        ctr__alloc a = st->alloc;
        ctr__free(&a, st->entries, (size_t)st->cap * sizeof(entry));
        ctr__free(&a, st, sizeof(*st));
    }
}

CTR_API int64_t ctr_state_count(const ctr_state *st)
{
    if (st == NULL)
        return 0;
    ctr__const_result(&st->err, CTR_OK, NULL);
    return st->n;
}

CTR_API const char *ctr_state_last_error(const ctr_state *st)
{
    return ctr__error_message(st == NULL ? NULL : &st->err);
}

/* ---- naming objects --------------------------------------------------------- */

static int name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/* The entry named name[0..len), or NULL. */
static entry *find_name(const ctr_state *st, const char *name, size_t len)
{
    int64_t i;
    for (i = 0; i < st->n; i++)
        if (strlen(st->entries[i].name) == len &&
            memcmp(st->entries[i].name, name, len) == 0)
            return &st->entries[i];
    return NULL;
}

static int check_name(ctr_state *st, const char *name)
{
    size_t len = strnlen(name, CTR_STATE_NAME_MAX + 1), i;
    if (len == 0 || len > CTR_STATE_NAME_MAX)
        return ctr__fail(&st->err, CTR_E_INVALID_ARG, "name: %s (1 to %d "
                         "bytes)", len == 0 ? "empty" : "too long",
                         CTR_STATE_NAME_MAX);
    for (i = 0; i < len; i++)
        if (!name_char_ok(name[i]))
            return ctr__fail(&st->err, CTR_E_INVALID_ARG, "name '%s': byte "
                             "%zu is not a letter, digit, '_', '-' or '.'",
                             name, i);
    if (find_name(st, name, len) != NULL)
        return ctr__fail(&st->err, CTR_E_INVALID_ARG, "name '%s' is already "
                         "in the state", name);
    return CTR_OK;
}

static int grow(ctr_state *st)
{
    int64_t cap = st->cap == 0 ? 8 : st->cap * 2;
    size_t bytes;
    entry *e;
    if (ctr__mul_size(&bytes, (size_t)cap, sizeof(entry)) != CTR_OK)
        return ctr__fail(&st->err, CTR_E_OVERFLOW, "too many objects");
    e = (entry *)ctr__malloc(&st->alloc, bytes);
    if (e == NULL)
        return ctr__fail(&st->err, CTR_E_NOMEM, "out of memory for %lld "
                         "entries", (long long)cap);
    if (st->n > 0)
        memcpy(e, st->entries, (size_t)st->n * sizeof(entry));
    ctr__free(&st->alloc, st->entries, (size_t)st->cap * sizeof(entry));
    st->entries = e;
    st->cap = cap;
    return CTR_OK;
}

static int add(ctr_state *st, const char *name, void *h,
               const ctr__persist_ops *ops)
{
    int64_t i;
    int rc;
    entry *e;
    if (st == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&st->err);
    if (name == NULL || h == NULL)
        return ctr__fail(&st->err, CTR_E_INVALID_ARG, "%s is NULL",
                         name == NULL ? "name" : ops->what);
    rc = check_name(st, name);
    for (i = 0; rc == CTR_OK && i < st->n; i++)
        if (st->entries[i].h == h)
            rc = ctr__fail(&st->err, CTR_E_INVALID_ARG, "this %s is already "
                           "in the state as '%s'", ops->what,
                           st->entries[i].name);
    if (rc == CTR_OK && st->n == st->cap)
        rc = grow(st);
    if (rc != CTR_OK)
        return rc;
    e = &st->entries[st->n++];
    memset(e->name, 0, sizeof(e->name));
    memcpy(e->name, name, strlen(name));
    e->ops = ops;
    e->h = h;
    return CTR_OK;
}

CTR_API int ctr_state_add_encoder(ctr_state *st, const char *name,
                                  ctr_encoder *enc)
{
    return add(st, name, enc, &ctr__encoder_persist);
}

CTR_API int ctr_state_add_optimizer(ctr_state *st, const char *name,
                                    ctr_optimizer *opt)
{
    return add(st, name, opt, &ctr__optimizer_persist);
}

CTR_API int ctr_state_add_objective(ctr_state *st, const char *name,
                                    ctr_objective *obj)
{
    return add(st, name, obj, &ctr__objective_persist);
}

CTR_API int ctr_state_add_queue(ctr_state *st, const char *name, ctr_queue *q)
{
    return add(st, name, q, &ctr__queue_persist);
}

CTR_API int ctr_state_add_bank(ctr_state *st, const char *name, ctr_bank *b)
{
    return add(st, name, b, &ctr__bank_persist);
}

CTR_API int ctr_state_add_rng(ctr_state *st, const char *name, ctr_rng *rng)
{
    return add(st, name, rng, &ctr__rng_persist);
}

/* ---- saving ------------------------------------------------------------------- */

static void write_all(ctr__ckw *w, const void *p)
{
    const ctr_state *st = (const ctr_state *)p;
    int64_t i;
    ctr__ckw_begin_section(w, TAG_HEADER);
    ctr__ckw_put_u64(w, (uint64_t)st->n);
    ctr__ckw_end_section(w);
    for (i = 0; i < st->n; i++) {
        const entry *e = &st->entries[i];
        size_t len = strlen(e->name);
        ctr__ckw_begin_section(w, CTR__CKPT_TAG_ENTRY);
        ctr__ckw_put_u32(w, e->ops->kind);
        ctr__ckw_put_u32(w, (uint32_t)len);
        ctr__ckw_put_bytes(w, e->name, len);
        ctr__ckw_end_section(w);
        e->ops->write(w, e->h);
        ctr__ckw_begin_section(w, CTR__CKPT_TAG_ENTRY_END);
        ctr__ckw_end_section(w);
    }
}

CTR_API int ctr_state_save(ctr_state *st, const char *path)
{
    if (st == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__persist_save(st, write_all, CTR__CKPT_KIND_STATE, path,
                             &st->alloc, &st->err);
}

CTR_API int ctr_state_save_buffer(ctr_state *st, void *buf, size_t cap,
                                  size_t *size_out)
{
    if (st == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__persist_save_buffer(st, write_all, CTR__CKPT_KIND_STATE, buf,
                                    cap, size_out, &st->err);
}

/* ---- loading ------------------------------------------------------------------ */

/* The objects read so far, one slot per entry (NULL: not yet). */
typedef struct staging {
    void **obj;
    size_t bytes;
} staging;

static void staging_release(ctr_state *st, staging *s)
{
    int64_t i;
    for (i = 0; s->obj != NULL && i < st->n; i++)
        if (s->obj[i] != NULL)
            st->entries[i].ops->destroy(s->obj[i]);
    ctr__free(&st->alloc, s->obj, s->bytes);
}

/* Prefixes the message of a failure inside object `name` with it. */
static int object_fail(ctr_state *st, int rc, const char *name,
                       const char *what)
{
    char inner[CTR__ERRMSG_CAP];
    snprintf(inner, sizeof(inner), "%s", st->err.msg[0] != '\0'
                                             ? st->err.msg
                                             : ctr_strerror(rc));
    return ctr__fail(&st->err, rc, "state: object '%s' (%s): %s", name, what,
                     inner);
}

/* Reads an 'SENT' section: the entry it names, which must be of the kind
 * it declares and not read before. */
static int read_entry_head(ctr_state *st, ctr__ckr *r, const staging *s,
                           int64_t *index)
{
    char name[CTR_STATE_NAME_MAX + 1];
    uint32_t kind, len;
    entry *e;
    if (ctr__ckr_begin_section(r, CTR__CKPT_TAG_ENTRY, NULL) != CTR_OK)
        return r->status;
    kind = ctr__ckr_get_u32(r);
    len = ctr__ckr_get_u32(r);
    if (r->status == CTR_OK && (len == 0 || len > CTR_STATE_NAME_MAX))
        return ctr__ckr_fail(r, CTR_E_CORRUPT, "state: an object's name "
                             "has %lu bytes", (unsigned long)len);
    memset(name, 0, sizeof(name));
    ctr__ckr_get_bytes(r, name, len);
    if (ctr__ckr_end_section(r) != CTR_OK)
        return r->status;
    e = find_name(st, name, len);
    if (e == NULL)
        return ctr__ckr_fail(r, CTR_E_INCOMPATIBLE, "state: the file holds "
                             "an object '%s' the state does not name", name);
    *index = e - st->entries;
    if (s->obj[*index] != NULL)
        return ctr__ckr_fail(r, CTR_E_CORRUPT, "state: the file holds "
                             "object '%s' twice", name);
    if (kind != e->ops->kind)
        return ctr__ckr_fail(r, CTR_E_INCOMPATIBLE, "state: object '%s' is "
                             "not a %s in the file", name, e->ops->what);
    return CTR_OK;
}

/* Reads one object into its slot and checks it fits its handle. */
static int read_object(ctr_state *st, ctr__ckr *r, staging *s, int64_t i)
{
    const entry *e = &st->entries[i];
    void *ctx = e->ops->ctx_of != NULL ? e->ops->ctx_of(e->h) : NULL;
    int rc;
    r->nested = 1;
    rc = e->ops->read(r, &s->obj[i], e->ops->alloc_of(e->h), ctx);
    r->nested = 0;
    if (rc == CTR_OK && e->ops->fits != NULL)
        rc = e->ops->fits(e->h, s->obj[i], &st->err);
    if (rc != CTR_OK)
        return object_fail(st, rc, e->name, e->ops->what);
    return CTR_OK;
}

static int read_all(ctr_state *st, ctr__ckr *r, staging *s)
{
    uint64_t count, k;
    int64_t i = 0;
    int rc = ctr__ckr_begin_section(r, TAG_HEADER, NULL);
    count = ctr__ckr_get_u64(r);
    if (rc == CTR_OK)
        rc = ctr__ckr_end_section(r);
    for (k = 0; rc == CTR_OK && k < count; k++) {
        rc = read_entry_head(st, r, s, &i);
        if (rc == CTR_OK)
            rc = read_object(st, r, s, i);
    }
    if (rc == CTR_OK)
        rc = ctr__ckr_finish(r);
    for (i = 0; rc == CTR_OK && i < st->n; i++)
        if (s->obj[i] == NULL)
            rc = ctr__fail(&st->err, CTR_E_INCOMPATIBLE, "state: the file "
                           "holds no object '%s'", st->entries[i].name);
    return rc;
}

/* Every handle takes its new content; the new objects, holding the old
 * contents, are destroyed with the staging. */
static void commit(ctr_state *st, staging *s)
{
    int64_t i;
    for (i = 0; i < st->n; i++)
        st->entries[i].ops->exchange(st->entries[i].h, s->obj[i]);
}

static void report(const ctr_state *st, int rc)
{
    if (st->load.message == NULL)
        return;
    snprintf(st->load.message, st->load.message_cap, "%s",
             rc == CTR_OK ? "" : st->err.msg[0] != '\0' ? st->err.msg
                                                         : ctr_strerror(rc));
}

static int load(ctr_state *st, int from_path, const char *path,
                const void *buf, size_t len)
{
    staging s = {NULL, 0};
    ctr__ckr r;
    int rc = CTR_OK;
    ctr__error_clear(&st->err);
    if (from_path ? path == NULL : buf == NULL)
        rc = ctr__fail(&st->err, CTR_E_INVALID_ARG, "%s is NULL",
                       from_path ? "path" : "buf");
    if (rc == CTR_OK && st->n > 0) {
        s.bytes = (size_t)st->n * sizeof(void *);
        s.obj = (void **)ctr__calloc(&st->alloc, s.bytes);
        if (s.obj == NULL)
            rc = ctr__fail(&st->err, CTR_E_NOMEM, "state: out of memory");
    }
    if (rc == CTR_OK) {
        rc = from_path ? ctr__ckr_open_path(&r, path, CTR__CKPT_KIND_STATE,
                                            &st->alloc, &st->err)
                       : ctr__ckr_open_buffer(&r, buf, len,
                                              CTR__CKPT_KIND_STATE,
                                              &st->alloc, &st->err);
        if (rc == CTR_OK) {
            ctr__ckr_set_limit(&r, st->load.max_bytes);
            rc = read_all(st, &r, &s);
        }
        ctr__ckr_close(&r);
    }
    if (rc == CTR_OK)
        commit(st, &s);
    staging_release(st, &s);
    report(st, rc);
    return rc;
}

CTR_API int ctr_state_load(ctr_state *st, const char *path)
{
    if (st == NULL)
        return CTR_E_INVALID_ARG;
    return load(st, 1, path, NULL, 0);
}

CTR_API int ctr_state_load_buffer(ctr_state *st, const void *buf, size_t len)
{
    if (st == NULL)
        return CTR_E_INVALID_ARG;
    return load(st, 0, NULL, buf, len);
}
