/*
 * checkpoint_read.c - the checkpoint reader (checkpoint.h; docs/file-format.md
 * is the specification): the header is validated on open, then each
 * section is loaded whole and its length and CRC checked before any field
 * is handed out; getters are bounds-checked and sticky.
 */
#ifndef _POSIX_C_SOURCE /* the Makefile may pass it too */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */
#endif
#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64 /* off_t is 64 bits on 32-bit hosts too */
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/checkpoint_format.h"
#include "common/crc32.h"

/* A non-NULL address for a zero-length payload read from a file: the
 * reader's `payload` is non-NULL exactly while a section is open. */
static const uint8_t empty_payload[1] = {0};

int ctr__ckr_fail(ctr__ckr *r, int code, const char *fmt, ...)
{
    int rc;
    va_list ap;
    va_start(ap, fmt);
    rc = ctr__ckpt_vfail(&r->status, r->err, code, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- the load limit ------------------------------------------------------- */

void ctr__ckr_set_limit(ctr__ckr *r, uint64_t max_bytes)
{
    r->max_bytes = max_bytes;
}

int ctr__ckr_reserve(ctr__ckr *r, uint64_t bytes, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    if (r->status != CTR_OK)
        return r->status;
    if (bytes <= r->max_bytes - r->reserved_bytes) {
        r->reserved_bytes += bytes;
        return CTR_OK;
    }
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return ctr__ckr_fail(r, CTR_E_LIMIT,
                    "%s: %llu bytes%s, over the load limit of %llu bytes "
                    "(ctr_allocator.max_load_bytes)", what,
                    (unsigned long long)bytes,
                    r->reserved_bytes > 0 ? " more" : "",
                    (unsigned long long)r->max_bytes);
}

/* ---- reader ----------------------------------------------------------------- */

/* Copies the next n bytes of the source into dst (n small, or a payload
 * buffer). The caller has checked that they exist. */
static int ckr_read(ctr__ckr *r, uint8_t *dst, size_t n)
{
    if (n == 0)
        return CTR_OK;
    if (r->file != NULL) {
        if (fread(dst, 1, n, r->file) != n) {
            char buf[128];
            int e = errno;
            if (ferror(r->file))
                return ctr__ckr_fail(r, CTR_E_IO, "checkpoint: read error: %s",
                                ctr__ckpt_errno_text(buf, sizeof(buf), e));
            return ctr__ckr_fail(r, CTR_E_CORRUPT,
                            "checkpoint: file shrank while being read");
        }
    } else {
        memcpy(dst, r->src + r->src_pos, n);
    }
    r->src_pos += n;
    return CTR_OK;
}

/* Validates the 24-byte file header at the start of the source. */
static int ckr_header(ctr__ckr *r, uint32_t kind)
{
    uint8_t h[CTR__CKPT_HEADER_BYTES];
    char a[16], b[16];
    uint32_t version, found;
    if (r->src_len < CTR__CKPT_HEADER_BYTES)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                        "checkpoint: truncated (%llu bytes, the header alone "
                        "takes 24)", (unsigned long long)r->src_len);
    if (ckr_read(r, h, sizeof(h)) != CTR_OK)
        return r->status;
    if (memcmp(h, ctr__ckpt_magic, sizeof(ctr__ckpt_magic)) != 0)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                        "checkpoint: not a libcontrastive checkpoint "
                        "(bad magic)");
    version = ctr__load_u32(h + 8);
    if (version != CTR__CKPT_FORMAT_VERSION)
        return ctr__ckr_fail(r, CTR_E_INCOMPATIBLE,
                        "checkpoint: format version %lu, this library "
                        "reads version %lu", (unsigned long)version,
                        (unsigned long)CTR__CKPT_FORMAT_VERSION);
    if (ctr__load_u32(h + 20) != ctr__crc32(0, h, 20))
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                        "checkpoint: file header fails its CRC check");
    if (ctr__load_u32(h + 16) != 0)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                        "checkpoint: reserved header field is not zero");
    found = ctr__load_u32(h + 12);
    if (found != kind)
        return ctr__ckr_fail(r, CTR_E_INCOMPATIBLE,
                        "checkpoint: holds an object of kind '%s', "
                        "expected '%s'", ctr__ckpt_fourcc_text(a, found),
                        ctr__ckpt_fourcc_text(b, kind));
    r->kind = found;
    return CTR_OK;
}

int ctr__ckr_open_path(ctr__ckr *r, const char *path, uint32_t kind,
                       const ctr__alloc *alloc, ctr__error *err)
{
    struct stat st;
    char buf[128];
    int e;
    if (r == NULL)
        return CTR_E_INVALID_ARG;
    memset(r, 0, sizeof(*r));
    r->alloc = alloc;
    r->err = err;
    r->max_bytes = UINT64_MAX;
    if (path == NULL || alloc == NULL)
        return ctr__ckr_fail(r, CTR_E_INVALID_ARG,
                        "checkpoint: path is NULL or no allocator");
    r->file = fopen(path, "rb");
    if (r->file == NULL) {
        e = errno;
        return ctr__ckr_fail(r, CTR_E_IO, "checkpoint: cannot open '%s': %s", path,
                        ctr__ckpt_errno_text(buf, sizeof(buf), e));
    }
    if (fstat(fileno(r->file), &st) != 0) {
        e = errno;
        ctr__ckr_fail(r, CTR_E_IO, "checkpoint: cannot stat '%s': %s", path,
                 ctr__ckpt_errno_text(buf, sizeof(buf), e));
    } else if (!S_ISREG(st.st_mode) || st.st_size < 0) {
        ctr__ckr_fail(r, CTR_E_IO, "checkpoint: '%s' is not a regular file", path);
    } else {
        r->src_len = (uint64_t)st.st_size;
        ckr_header(r, kind);
    }
    if (r->status != CTR_OK) {
        (void)fclose(r->file);
        r->file = NULL;
    }
    return r->status;
}

int ctr__ckr_open_buffer(ctr__ckr *r, const void *buf, size_t len,
                         uint32_t kind, const ctr__alloc *alloc,
                         ctr__error *err)
{
    if (r == NULL)
        return CTR_E_INVALID_ARG;
    memset(r, 0, sizeof(*r));
    r->alloc = alloc;
    r->err = err;
    r->max_bytes = UINT64_MAX;
    if (buf == NULL && len > 0)
        return ctr__ckr_fail(r, CTR_E_INVALID_ARG,
                        "checkpoint: buffer is NULL but len > 0");
    r->src = (const uint8_t *)buf;
    r->src_len = (uint64_t)len;
    if (ckr_header(r, kind) != CTR_OK) {
        r->src = NULL;
        r->src_len = 0;
    }
    return r->status;
}

/* Loads the next section, which must carry `tag`: bounds first, then the
 * payload (file: into r->section), then the CRC. */
static int ckr_load(ctr__ckr *r, uint32_t tag)
{
    uint8_t h[16], tail[4];
    char a[16], b[16];
    uint64_t left = r->src_len - r->src_pos, len;
    uint32_t found;
    const uint8_t *payload;
    if (left < CTR__CKPT_SECTION_OVERHEAD)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                        "checkpoint: truncated before section '%s'",
                        ctr__ckpt_fourcc_text(a, tag));
    if (ckr_read(r, h, sizeof(h)) != CTR_OK)
        return r->status;
    found = ctr__load_u32(h);
    len = ctr__load_u64(h + 8);
    if (ctr__load_u32(h + 4) != 0)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                        "checkpoint: reserved field of section '%s' is not "
                        "zero", ctr__ckpt_fourcc_text(a, found));
    if (len > left - CTR__CKPT_SECTION_OVERHEAD)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                        "checkpoint: section '%s' claims %llu bytes, only "
                        "%llu remain", ctr__ckpt_fourcc_text(a, found),
                        (unsigned long long)len,
                        (unsigned long long)(left - CTR__CKPT_SECTION_OVERHEAD));
#if SIZE_MAX < UINT64_MAX
    if (len > SIZE_MAX)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                        "checkpoint: section '%s' too large for this host",
                        ctr__ckpt_fourcc_text(a, found));
#endif
    if (found != tag)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                        "checkpoint: found section '%s' where '%s' was "
                        "expected", ctr__ckpt_fourcc_text(a, found),
                        ctr__ckpt_fourcc_text(b, tag));
    if (r->file == NULL) {
        payload = r->src + r->src_pos;
        r->src_pos += len;
    } else if (len == 0) {
        payload = empty_payload;
    } else {
        if (len > r->section_cap) {
            if (ctr__ckr_reserve(r, len - r->section_cap,
                                 "checkpoint: the buffer for section '%s'",
                                 ctr__ckpt_fourcc_text(a, found)) != CTR_OK)
                return r->status;
            ctr__free(r->alloc, r->section, r->section_cap);
            r->section_cap = 0;
            r->section = (uint8_t *)ctr__malloc(r->alloc, (size_t)len);
            if (r->section == NULL)
                return ctr__ckr_fail(r, CTR_E_NOMEM,
                                "checkpoint: out of memory for section '%s' "
                                "(%llu bytes)", ctr__ckpt_fourcc_text(a, found),
                                (unsigned long long)len);
            r->section_cap = (size_t)len;
        }
        if (ckr_read(r, r->section, (size_t)len) != CTR_OK)
            return r->status;
        payload = r->section;
    }
    if (ckr_read(r, tail, sizeof(tail)) != CTR_OK)
        return r->status;
    if (ctr__load_u32(tail) !=
        ctr__crc32(ctr__crc32(0, h, sizeof(h)), payload, (size_t)len))
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                        "checkpoint: section '%s' fails its CRC check",
                        ctr__ckpt_fourcc_text(a, found));
    r->payload = payload;
    r->payload_len = len;
    r->payload_pos = 0;
    return CTR_OK;
}

int ctr__ckr_begin_section(ctr__ckr *r, uint32_t tag, uint64_t *len_out)
{
    if (r == NULL)
        return CTR_E_INVALID_ARG;
    if (r->status != CTR_OK)
        return r->status;
    if (r->payload != NULL)
        return ctr__ckr_fail(r, CTR_E_INVALID_ARG,
                        "checkpoint: section begun before the previous one "
                        "ended");
    if (r->file == NULL && r->src == NULL)
        return ctr__ckr_fail(r, CTR_E_INVALID_ARG, "checkpoint: reader not open");
    if (ckr_load(r, tag) != CTR_OK)
        return r->status;
    if (len_out != NULL)
        *len_out = r->payload_len;
    return CTR_OK;
}

/* The next n bytes of the open payload, or NULL (status set) if the read
 * would pass its end. */
static const uint8_t *ckr_take(ctr__ckr *r, size_t n)
{
    const uint8_t *p;
    if (r->status != CTR_OK)
        return NULL;
    if (r->payload == NULL) {
        ctr__ckr_fail(r, CTR_E_INVALID_ARG,
                 "checkpoint: field read outside a section");
        return NULL;
    }
    if ((uint64_t)n > r->payload_len - r->payload_pos) {
        ctr__ckr_fail(r, CTR_E_CORRUPT,
                 "checkpoint: read of %zu bytes past the end of a section "
                 "(%llu left)", n,
                 (unsigned long long)(r->payload_len - r->payload_pos));
        return NULL;
    }
    p = r->payload + r->payload_pos;
    r->payload_pos += n;
    return p;
}

uint32_t ctr__ckr_get_u32(ctr__ckr *r)
{
    const uint8_t *p = r != NULL ? ckr_take(r, 4) : NULL;
    return p != NULL ? ctr__load_u32(p) : 0;
}

uint64_t ctr__ckr_get_u64(ctr__ckr *r)
{
    const uint8_t *p = r != NULL ? ckr_take(r, 8) : NULL;
    return p != NULL ? ctr__load_u64(p) : 0;
}

int64_t ctr__ckr_get_i64(ctr__ckr *r)
{
    uint64_t u = ctr__ckr_get_u64(r);
    int64_t v;
    memcpy(&v, &u, sizeof(v)); /* two's complement, no implementation-
                                  defined conversion */
    return v;
}

double ctr__ckr_get_f64(ctr__ckr *r)
{
    uint64_t u = ctr__ckr_get_u64(r);
    double v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

/* Takes n elements of elem bytes; on failure zero-fills dst (if it can be
 * addressed) and returns NULL. */
static const uint8_t *ckr_take_array(ctr__ckr *r, void *dst, size_t n,
                                     size_t elem)
{
    size_t bytes;
    const uint8_t *p = NULL;
    int sized = ctr__mul_size(&bytes, n, elem) == CTR_OK;
    if (r == NULL)
        return NULL;
    if (dst == NULL && n > 0) {
        ctr__ckr_fail(r, CTR_E_INVALID_ARG, "checkpoint: array is NULL");
        return NULL;
    }
    if (!sized)
        ctr__ckr_fail(r, CTR_E_CORRUPT,
                 "checkpoint: array of %zu elements past the end of a section",
                 n);
    else
        p = ckr_take(r, bytes);
    if (p == NULL && sized && bytes > 0)
        memset(dst, 0, bytes);
    return p;
}

void ctr__ckr_get_f32_array(ctr__ckr *r, float *v, size_t n)
{
    const uint8_t *p = ckr_take_array(r, v, n, 4);
    size_t i;
    if (p == NULL)
        return;
    for (i = 0; i < n; i++) {
        uint32_t u = ctr__load_u32(p + 4 * i);
        memcpy(&v[i], &u, sizeof(u));
    }
}

void ctr__ckr_get_i64_array(ctr__ckr *r, int64_t *v, size_t n)
{
    const uint8_t *p = ckr_take_array(r, v, n, 8);
    size_t i;
    if (p == NULL)
        return;
    for (i = 0; i < n; i++) {
        uint64_t u = ctr__load_u64(p + 8 * i);
        memcpy(&v[i], &u, sizeof(u));
    }
}

void ctr__ckr_get_bytes(ctr__ckr *r, void *p, size_t n)
{
    const uint8_t *src = ckr_take_array(r, p, n, 1);
    if (src != NULL && n > 0)
        memcpy(p, src, n);
}

uint64_t ctr__ckr_remaining(const ctr__ckr *r)
{
    if (r == NULL || r->payload == NULL || r->status != CTR_OK)
        return 0;
    return r->payload_len - r->payload_pos;
}

int ctr__ckr_end_section(ctr__ckr *r)
{
    if (r == NULL)
        return CTR_E_INVALID_ARG;
    if (r->status == CTR_OK) {
        if (r->payload == NULL)
            ctr__ckr_fail(r, CTR_E_INVALID_ARG, "checkpoint: no section to end");
        else if (r->payload_pos != r->payload_len)
            ctr__ckr_fail(r, CTR_E_CORRUPT,
                     "checkpoint: section has %llu unread bytes",
                     (unsigned long long)(r->payload_len - r->payload_pos));
    }
    r->payload = NULL;
    r->payload_len = 0;
    r->payload_pos = 0;
    return r->status;
}

int ctr__ckr_finish(ctr__ckr *r)
{
    if (r == NULL)
        return CTR_E_INVALID_ARG;
    if (r->status != CTR_OK)
        return r->status;
    if (r->payload != NULL)
        return ctr__ckr_fail(r, CTR_E_INVALID_ARG,
                        "checkpoint: a section is still open");
    if (r->file == NULL && r->src == NULL)
        return ctr__ckr_fail(r, CTR_E_INVALID_ARG, "checkpoint: reader not open");
    if (ckr_load(r, r->nested ? CTR__CKPT_TAG_ENTRY_END : CTR__CKPT_TAG_END)
        != CTR_OK)
        return r->status;
    r->payload = NULL;
    if (r->payload_len != 0)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                        "checkpoint: the %s section has a payload",
                        r->nested ? "SEND" : "END");
    if (r->nested)
        return CTR_OK;
    if (r->src_pos != r->src_len ||
        (r->file != NULL && fgetc(r->file) != EOF))
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                        "checkpoint: data after the END section");
    return CTR_OK;
}

void ctr__ckr_close(ctr__ckr *r)
{
    if (r == NULL)
        return;
    if (r->file != NULL) {
        (void)fclose(r->file);
        r->file = NULL;
    }
    ctr__free(r->alloc, r->section, r->section_cap);
    r->section = NULL;
    r->section_cap = 0;
    r->payload = NULL;
    r->src = NULL;
}
