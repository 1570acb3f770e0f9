/*
 * checkpoint_write.c - the checkpoint writer (checkpoint.h; docs/file-format.md
 * is the specification): three sinks (a path written atomically through a
 * temporary file, fsync and rename; a caller buffer; a size counter),
 * sections and fields, completion.
 *
 * Section CRC. The stored crc is, as checkpoint.h says, the CRC-32 of the
 * 16-byte section header followed by the payload, in that order. The writer
 * streams the payload before its length (and so its header) is known, so it
 * keeps a running CRC of the payload alone and, when the section ends,
 * computes crc32(header || payload) = combine(crc32(header), crc32(payload),
 * length) (crc32.h). No second pass over the data is needed, for any sink.
 */
#ifndef _POSIX_C_SOURCE /* the Makefile may pass it too */
#define _POSIX_C_SOURCE 200809L /* fileno, fdopen, fseeko */
#endif
#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64 /* off_t is 64 bits on 32-bit hosts too */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/checkpoint_format.h"
#include "common/crc32.h"
#include "common/savefile.h"

enum { SINK_NONE = 0, SINK_PATH, SINK_BUFFER, SINK_SIZE };

/* Bytes encoded at a time for arrays (through a stack buffer). */
#define CHUNK_BYTES 4096u

static int ckw_fail(ctr__ckw *w, int code, const char *fmt, ...)
    CTR__PRINTF(3, 4);
static int ckw_fail(ctr__ckw *w, int code, const char *fmt, ...)
{
    int rc;
    va_list ap;
    va_start(ap, fmt);
    rc = ctr__ckpt_vfail(&w->status, w->err, code, fmt, ap);
    va_end(ap);
    return rc;
}

/* The writer's failure for a refused file operation, with errno's text. */
static void ckw_fail_io(ctr__ckw *w, const char *what)
{
    char buf[128];
    int e = errno;
    ckw_fail(w, CTR_E_IO, "checkpoint: cannot %s '%s': %s", what,
             w->path != NULL ? w->path : "",
             ctr__ckpt_errno_text(buf, sizeof(buf), e));
}

/* ---- writer: the sinks ---------------------------------------------------- */

/* Appends n bytes to the sink and to the running crc. */
static void ckw_emit(ctr__ckw *w, const uint8_t *p, size_t n)
{
    size_t end;
    if (w->status != CTR_OK || n == 0)
        return;
    if (ctr__add_size(&end, w->pos, n) != CTR_OK) {
        ckw_fail(w, CTR_E_OVERFLOW, "checkpoint: size exceeds SIZE_MAX");
        return;
    }
    switch (w->sink) {
    case SINK_PATH:
        if (fwrite(p, 1, n, w->file) != n) {
            ckw_fail_io(w, "write checkpoint");
            return;
        }
        w->crc = ctr__crc32(w->crc, p, n);
        break;
    case SINK_BUFFER:
        if (w->pos < w->cap) {
            size_t k = w->cap - w->pos < n ? w->cap - w->pos : n;
            memcpy(w->buf + w->pos, p, k);
        }
        w->crc = ctr__crc32(w->crc, p, n);
        break;
    default: /* SINK_SIZE: count only */
        break;
    }
    w->pos = end;
}

/* For sinks that only count (the size sink, or a buffer already too small):
 * adds count * elem bytes without encoding them and returns 1; else 0. */
static int ckw_count_only(ctr__ckw *w, size_t count, size_t elem)
{
    size_t bytes, end;
    if (!(w->sink == SINK_SIZE || (w->sink == SINK_BUFFER && w->pos >= w->cap)))
        return 0;
    if (ctr__mul_size(&bytes, count, elem) != CTR_OK ||
        ctr__add_size(&end, w->pos, bytes) != CTR_OK) {
        ckw_fail(w, CTR_E_OVERFLOW, "checkpoint: size exceeds SIZE_MAX");
        return 1;
    }
    w->pos = end;
    return 1;
}

/* Overwrites the 16-byte header of the open section with w->header. */
static void ckw_patch_header(ctr__ckw *w)
{
    size_t i;
    if (w->sink == SINK_BUFFER) {
        for (i = 0; i < 16 && w->section_start + i < w->cap; i++)
            w->buf[w->section_start + i] = w->header[i];
    } else if (w->sink == SINK_PATH) {
        if ((uint64_t)w->pos > (uint64_t)INT64_MAX) {
            ckw_fail(w, CTR_E_OVERFLOW, "checkpoint: file offset overflow");
            return;
        }
        if (fseeko(w->file, (off_t)w->section_start, SEEK_SET) != 0 ||
            fwrite(w->header, 1, 16, w->file) != 16 ||
            fseeko(w->file, (off_t)w->pos, SEEK_SET) != 0)
            ckw_fail_io(w, "write checkpoint");
    }
}

static void ckw_open_section(ctr__ckw *w, uint32_t tag)
{
    ctr__store_u32(w->header, tag);
    ctr__store_u32(w->header + 4, 0);
    ctr__store_u64(w->header + 8, 0); /* length, patched at the end */
    w->section_start = w->pos;
    ckw_emit(w, w->header, 16);
    w->crc = 0; /* from here: the crc of the payload alone */
    w->in_section = 1;
}

static void ckw_close_section(ctr__ckw *w)
{
    uint8_t tail[4];
    uint64_t len;
    uint32_t crc;
    w->in_section = 0;
    if (w->status != CTR_OK)
        return;
    len = (uint64_t)(w->pos - w->section_start - 16);
    ctr__store_u64(w->header + 8, len);
    ckw_patch_header(w);
    crc = ctr__crc32_combine(ctr__crc32(0, w->header, 16), w->crc, len);
    ctr__store_u32(tail, crc);
    ckw_emit(w, tail, 4);
}

/* Common start of every sink (then the sink's setup, then the header). */
static void ckw_init(ctr__ckw *w, int sink, ctr__error *err)
{
    memset(w, 0, sizeof(*w));
    w->sink = sink;
    w->err = err;
}

static void ckw_file_header(ctr__ckw *w, uint32_t kind)
{
    uint8_t h[CTR__CKPT_HEADER_BYTES];
    memcpy(h, ctr__ckpt_magic, 8);
    ctr__store_u32(h + 8, CTR__CKPT_FORMAT_VERSION);
    ctr__store_u32(h + 12, kind);
    ctr__store_u32(h + 16, 0);
    ctr__store_u32(h + 20, ctr__crc32(0, h, 20));
    ckw_emit(w, h, sizeof(h));
}

int ctr__ckw_to_path(ctr__ckw *w, const char *path, uint32_t kind,
                     const ctr__alloc *alloc, ctr__error *err)
{
    if (w == NULL)
        return CTR_E_INVALID_ARG;
    ckw_init(w, SINK_PATH, err);
    w->path = path;
    if (path == NULL || path[0] == '\0' || alloc == NULL)
        return ckw_fail(w, CTR_E_INVALID_ARG,
                        "checkpoint: path is NULL or empty, or no allocator");
    /* Invariant from here: save.fd >= 0 iff the temporary file exists and
     * w->file is open on it. */
    w->status = ctr__savefile_open(&w->save, path, alloc, err);
    if (w->status != CTR_OK)
        return w->status;
    w->file = fdopen(w->save.fd, "wb");
    if (w->file == NULL) {
        ckw_fail_io(w, "open a temporary file beside");
        ctr__savefile_release(&w->save, 1);
        return w->status;
    }
    ckw_file_header(w, kind);
    return w->status;
}

int ctr__ckw_to_buffer(ctr__ckw *w, void *buf, size_t cap, uint32_t kind,
                       ctr__error *err)
{
    if (w == NULL)
        return CTR_E_INVALID_ARG;
    ckw_init(w, SINK_BUFFER, err);
    if (buf == NULL && cap > 0)
        return ckw_fail(w, CTR_E_INVALID_ARG,
                        "checkpoint: buffer is NULL but cap > 0");
    w->buf = (uint8_t *)buf;
    w->cap = cap;
    ckw_file_header(w, kind);
    return w->status;
}

int ctr__ckw_to_size(ctr__ckw *w, uint32_t kind, ctr__error *err)
{
    if (w == NULL)
        return CTR_E_INVALID_ARG;
    ckw_init(w, SINK_SIZE, err);
    ckw_file_header(w, kind);
    return w->status;
}

/* ---- writer: sections and fields ---------------------------------------- */

/* 1 if a field may be written now; else records the misuse. */
static int ckw_can_put(ctr__ckw *w)
{
    if (w->status != CTR_OK)
        return 0;
    if (!w->in_section) {
        ckw_fail(w, CTR_E_INVALID_ARG,
                 "checkpoint: field written outside a section");
        return 0;
    }
    return 1;
}

void ctr__ckw_begin_section(ctr__ckw *w, uint32_t tag)
{
    char name[16];
    if (w == NULL || w->status != CTR_OK)
        return;
    if (w->in_section) {
        ckw_fail(w, CTR_E_INVALID_ARG,
                 "checkpoint: section '%s' begun inside another",
                 ctr__ckpt_fourcc_text(name, tag));
        return;
    }
    if (tag == CTR__CKPT_TAG_END) {
        ckw_fail(w, CTR_E_INVALID_ARG,
                 "checkpoint: the END tag is reserved for ctr__ckw_finish");
        return;
    }
    ckw_open_section(w, tag);
}

void ctr__ckw_end_section(ctr__ckw *w)
{
    if (w == NULL || w->status != CTR_OK)
        return;
    if (!w->in_section) {
        ckw_fail(w, CTR_E_INVALID_ARG, "checkpoint: no section to end");
        return;
    }
    ckw_close_section(w);
}

void ctr__ckw_put_u32(ctr__ckw *w, uint32_t v)
{
    uint8_t b[4];
    if (w == NULL || !ckw_can_put(w))
        return;
    ctr__store_u32(b, v);
    ckw_emit(w, b, sizeof(b));
}

void ctr__ckw_put_u64(ctr__ckw *w, uint64_t v)
{
    uint8_t b[8];
    if (w == NULL || !ckw_can_put(w))
        return;
    ctr__store_u64(b, v);
    ckw_emit(w, b, sizeof(b));
}

void ctr__ckw_put_i64(ctr__ckw *w, int64_t v)
{
    /* two's complement bits (int64_t is two's complement by definition) */
    ctr__ckw_put_u64(w, (uint64_t)v);
}

void ctr__ckw_put_f64(ctr__ckw *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    ctr__ckw_put_u64(w, u);
}

void ctr__ckw_put_f32_array(ctr__ckw *w, const float *v, size_t n)
{
    uint8_t chunk[CHUNK_BYTES];
    if (w == NULL || !ckw_can_put(w))
        return;
    if (v == NULL && n > 0) {
        ckw_fail(w, CTR_E_INVALID_ARG, "checkpoint: f32 array is NULL");
        return;
    }
    if (ckw_count_only(w, n, 4))
        return;
    while (n > 0 && w->status == CTR_OK) {
        size_t k = n < CHUNK_BYTES / 4 ? n : CHUNK_BYTES / 4, i;
        for (i = 0; i < k; i++) {
            uint32_t u;
            memcpy(&u, &v[i], sizeof(u));
            ctr__store_u32(chunk + 4 * i, u);
        }
        ckw_emit(w, chunk, 4 * k);
        v += k;
        n -= k;
    }
}

void ctr__ckw_put_i64_array(ctr__ckw *w, const int64_t *v, size_t n)
{
    uint8_t chunk[CHUNK_BYTES];
    if (w == NULL || !ckw_can_put(w))
        return;
    if (v == NULL && n > 0) {
        ckw_fail(w, CTR_E_INVALID_ARG, "checkpoint: i64 array is NULL");
        return;
    }
    if (ckw_count_only(w, n, 8))
        return;
    while (n > 0 && w->status == CTR_OK) {
        size_t k = n < CHUNK_BYTES / 8 ? n : CHUNK_BYTES / 8, i;
        for (i = 0; i < k; i++)
            ctr__store_u64(chunk + 8 * i, (uint64_t)v[i]);
        ckw_emit(w, chunk, 8 * k);
        v += k;
        n -= k;
    }
}

void ctr__ckw_put_bytes(ctr__ckw *w, const void *p, size_t n)
{
    if (w == NULL || !ckw_can_put(w))
        return;
    if (p == NULL && n > 0) {
        ckw_fail(w, CTR_E_INVALID_ARG, "checkpoint: byte array is NULL");
        return;
    }
    if (ckw_count_only(w, n, 1))
        return;
    ckw_emit(w, (const uint8_t *)p, n);
}

/* ---- writer: completion ------------------------------------------------- */

/* Flushes and closes the temporary file; renames it over the target if all
 * went well, removes it otherwise. */
static void ckw_complete_path(ctr__ckw *w)
{
    if (w->file == NULL)
        return; /* the temporary file was never created */
    if (w->status == CTR_OK && fflush(w->file) != 0)
        ckw_fail_io(w, "write checkpoint");
    if (w->status == CTR_OK)
        w->status = ctr__savefile_commit(&w->save, w->err);
    ctr__savefile_release(&w->save, 0); /* the file owns the descriptor */
    if (fclose(w->file) != 0 && w->status == CTR_OK)
        ckw_fail_io(w, "close checkpoint");
    w->file = NULL;
}

int ctr__ckw_finish(ctr__ckw *w, size_t *size_out)
{
    int sink;
    if (w == NULL)
        return CTR_E_INVALID_ARG;
    sink = w->sink;
    if (w->status == CTR_OK && sink == SINK_NONE)
        ckw_fail(w, CTR_E_INVALID_ARG, "checkpoint: writer already finished");
    if (w->status == CTR_OK && w->in_section)
        ckw_fail(w, CTR_E_INVALID_ARG, "checkpoint: a section is still open");
    if (w->status == CTR_OK) {
        ckw_open_section(w, CTR__CKPT_TAG_END);
        ckw_close_section(w);
    }
    if (sink == SINK_PATH)
        ckw_complete_path(w);
    if (w->status == CTR_OK && sink == SINK_BUFFER && w->pos > w->cap)
        ckw_fail(w, CTR_E_BUFFER_TOO_SMALL,
                 "checkpoint needs %zu bytes, the buffer holds %zu", w->pos,
                 w->cap);
    if (size_out != NULL)
        *size_out = (w->status == CTR_OK ||
                     w->status == CTR_E_BUFFER_TOO_SMALL) ? w->pos : 0;
    w->sink = SINK_NONE;
    w->in_section = 0;
    return w->status;
}

void ctr__ckw_abort(ctr__ckw *w)
{
    if (w == NULL)
        return;
    if (w->file != NULL) {
        ctr__savefile_release(&w->save, 0);
        (void)fclose(w->file);
        w->file = NULL;
    }
    w->sink = SINK_NONE;
    w->in_section = 0;
}
