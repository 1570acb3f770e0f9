/*
 * persist.c - the shared save/load plumbing of stateful objects.
 */
#include "common/persist.h"

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

int ctr__persist_load(void *out, ctr__persist_read_fn read, void *ctx,
                      uint32_t kind, const char *path,
                      const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr__ckr r;
    int rc;
    if (out == NULL || path == NULL || ctr__alloc_init(&a, alloc) != CTR_OK)
        return CTR_E_INVALID_ARG;
    rc = ctr__ckr_open_path(&r, path, kind, &a, NULL);
    if (rc == CTR_OK)
        rc = read(&r, out, &a, ctx);
    ctr__ckr_close(&r);
    return rc;
}

int ctr__persist_load_buffer(void *out, ctr__persist_read_fn read, void *ctx,
                             uint32_t kind, const void *buf, size_t len,
                             const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr__ckr r;
    int rc;
    if (out == NULL || buf == NULL || ctr__alloc_init(&a, alloc) != CTR_OK)
        return CTR_E_INVALID_ARG;
    rc = ctr__ckr_open_buffer(&r, buf, len, kind, &a, NULL);
    if (rc == CTR_OK)
        rc = read(&r, out, &a, ctx);
    ctr__ckr_close(&r);
    return rc;
}
