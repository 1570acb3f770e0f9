/*
 * persist.c - the shared save/load plumbing of stateful objects.
 */
#include "common/persist.h"

#include <stdio.h>

#include "common/checkpoint_format.h"

int ctr__persist_save(const void *obj, ctr__persist_write_fn write,
                      uint32_t kind, const char *path, const ctr__alloc *alloc,
                      ctr__error *err)
{
    ctr__ckw w;
    ctr__error_clear(err);
    if (path == NULL)
        return ctr__fail(err, CTR_E_INVALID_ARG, "path is NULL");
    ctr__ckw_to_path(&w, path, kind, alloc, err);
    write(&w, obj);
    return ctr__ckw_finish(&w, NULL);
}

int ctr__persist_save_buffer(const void *obj, ctr__persist_write_fn write,
                             uint32_t kind, void *buf, size_t cap,
                             size_t *size_out, ctr__error *err)
{
    ctr__ckw w;
    ctr__error_clear(err);
    if (size_out == NULL)
        return ctr__fail(err, CTR_E_INVALID_ARG, "size_out is NULL");
    if (buf == NULL && cap > 0)
        return ctr__fail(err, CTR_E_INVALID_ARG, "buf is NULL but cap > 0");
    if (buf == NULL)
        ctr__ckw_to_size(&w, kind, err);
    else
        ctr__ckw_to_buffer(&w, buf, cap, kind, err);
    write(&w, obj);
    return ctr__ckw_finish(&w, size_out);
}

int ctr__persist_save_const(const void *obj, ctr__persist_write_fn write,
                            uint32_t kind, const char *path,
                            const ctr__alloc *alloc, const ctr__error *slot)
{
    ctr__error e = CTR__ERROR_INIT;
    int rc = ctr__persist_save(obj, write, kind, path, alloc, &e);
    return ctr__const_result(slot, rc, &e);
}

int ctr__persist_save_buffer_const(const void *obj, ctr__persist_write_fn write,
                                   uint32_t kind, void *buf, size_t cap,
                                   size_t *size_out, const ctr__error *slot)
{
    ctr__error e = CTR__ERROR_INIT;
    int rc = ctr__persist_save_buffer(obj, write, kind, buf, cap, size_out, &e);
    return ctr__const_result(slot, rc, &e);
}

/* A failing load's message goes to the caller's buffer (the reader's own
 * message, or the status text when the object gave none). */
static void report(const ctr__load_opts *o, int rc, const ctr__error *err,
                   uint32_t kind)
{
    char name[16];
    if (o->message == NULL)
        return;
    if (rc == CTR_OK)
        o->message[0] = '\0';
    else if (err->msg[0] != '\0')
        snprintf(o->message, o->message_cap, "%s", err->msg);
    else
        snprintf(o->message, o->message_cap, "checkpoint '%s': %s",
                 ctr__ckpt_fourcc_text(name, kind), ctr_strerror(rc));
}

/* Opens the source (from_path: the file at path, else buf/len), applies
 * the caller's load limit, runs `read`. */
static int load(void *out, ctr__persist_read_fn read, void *ctx,
                uint32_t kind, int from_path, const char *path,
                const void *buf, size_t len, const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr__load_opts o;
    ctr__error err;
    ctr__ckr r;
    int rc;
    if (ctr__alloc_init(&a, alloc) != CTR_OK)
        return CTR_E_INVALID_ARG;
    ctr__load_opts_init(&o, alloc);
    ctr__error_clear(&err);
    if (out == NULL || (from_path ? path == NULL : buf == NULL)) {
        rc = ctr__fail(&err, CTR_E_INVALID_ARG, "load: %s is NULL",
                       out == NULL ? "out" : from_path ? "path" : "buf");
        report(&o, rc, &err, kind);
        return rc;
    }
    rc = from_path ? ctr__ckr_open_path(&r, path, kind, &a, &err)
                      : ctr__ckr_open_buffer(&r, buf, len, kind, &a, &err);
    if (rc == CTR_OK) {
        ctr__ckr_set_limit(&r, o.max_bytes);
        rc = read(&r, out, &a, ctx);
    }
    ctr__ckr_close(&r);
    report(&o, rc, &err, kind);
    return rc;
}

int ctr__persist_load(void *out, ctr__persist_read_fn read, void *ctx,
                      uint32_t kind, const char *path,
                      const ctr_allocator *alloc)
{
    return load(out, read, ctx, kind, 1, path, NULL, 0, alloc);
}

int ctr__persist_load_buffer(void *out, ctr__persist_read_fn read, void *ctx,
                             uint32_t kind, const void *buf, size_t len,
                             const ctr_allocator *alloc)
{
    return load(out, read, ctx, kind, 0, NULL, buf, len, alloc);
}
