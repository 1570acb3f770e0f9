/*
 * checkpoint.h - the sectioned binary container every stateful object saves
 * itself in (docs/file-format.md is the specification).
 *
 * Layout, all integers little-endian:
 *   file header, 24 bytes:
 *     magic      8 bytes  "\x89" "CTR\r\n\x1a\n"
 *     version    u32      CTR__CKPT_FORMAT_VERSION
 *     kind       u32      object kind tag (CTR__CKPT_KIND_*), fourcc
 *     reserved   u32      0
 *     crc        u32      CRC-32 (IEEE 802.3, as zlib) of the 20 bytes above
 *   then sections, each:
 *     tag        u32      fourcc chosen by the object
 *     reserved   u32      0
 *     length     u64      payload bytes
 *     payload    length bytes
 *     crc        u32      CRC-32 of tag..payload (16 + length bytes)
 *   and a final section with tag CTR__CKPT_TAG_END and length 0, after which
 *   the file must end.
 *
 * Writing: ctr__ckw_* stream into one of three sinks (a path written
 * atomically through a temporary file + fsync + rename, a caller buffer,
 * or a size counter). Errors are sticky: after the first failure every
 * put is a no-op and ctr__ckw_finish returns that failure, so objects can
 * write a whole section without checking each put.
 *
 * Reading: ctr__ckr_* validate the header, then load one whole section at a
 * time, checking its length against the bytes that remain and its CRC
 * before any field is handed out. Getters are bounds-checked and sticky
 * too: reading past the section's end yields zeros and CTR_E_CORRUPT at
 * ctr__ckr_end_section.
 */
#ifndef CTR_CHECKPOINT_H
#define CTR_CHECKPOINT_H

#include <stdio.h>

#include "common/core.h"
#include "common/savefile.h"

#define CTR__CKPT_FORMAT_VERSION 1u
#define CTR__CKPT_HEADER_BYTES 24u
#define CTR__CKPT_SECTION_OVERHEAD 20u /* 16-byte section header + crc */

/* Four characters as a little-endian u32: CTR__FOURCC('R','N','G',' '). */
#define CTR__FOURCC(a, b, c, d)                                     \
    ((uint32_t)(uint8_t)(a) | ((uint32_t)(uint8_t)(b) << 8) |       \
     ((uint32_t)(uint8_t)(c) << 16) | ((uint32_t)(uint8_t)(d) << 24))

#define CTR__CKPT_TAG_END CTR__FOURCC('E', 'N', 'D', '!')

/* Object kinds: pinned values, never reused. */
#define CTR__CKPT_KIND_TEST CTR__FOURCC('T', 'E', 'S', 'T')
#define CTR__CKPT_KIND_RNG CTR__FOURCC('R', 'N', 'G', '_')
#define CTR__CKPT_KIND_QUEUE CTR__FOURCC('Q', 'U', 'E', 'U')
#define CTR__CKPT_KIND_BANK CTR__FOURCC('B', 'A', 'N', 'K')
#define CTR__CKPT_KIND_ENCODER CTR__FOURCC('E', 'N', 'C', 'O')
#define CTR__CKPT_KIND_OPTIMIZER CTR__FOURCC('O', 'P', 'T', 'M')
#define CTR__CKPT_KIND_OBJECTIVE CTR__FOURCC('O', 'B', 'J', '_')
#define CTR__CKPT_KIND_STATE CTR__FOURCC('S', 'T', 'A', 'T')

/* A training-state file (ctr_state, docs/file-format.md) holds several
 * objects: each is an 'SENT' section (its kind and name), the object's own
 * sections, and an empty 'SEND' section where a file of its own would
 * have its END. */
#define CTR__CKPT_TAG_ENTRY CTR__FOURCC('S', 'E', 'N', 'T')
#define CTR__CKPT_TAG_ENTRY_END CTR__FOURCC('S', 'E', 'N', 'D')

/* ---- writer -------------------------------------------------------------- */

typedef struct ctr__ckw {
    int status;          /* first error, sticky */
    int sink;            /* internal: which sink */
    FILE *file;          /* path sink: the temporary file */
    ctr__savefile save;  /* path sink: the atomic replacement */
    const char *path;    /* path sink: final name (caller's string) */
    uint8_t *buf;        /* buffer sink */
    size_t cap;          /* buffer sink capacity */
    size_t pos;          /* bytes produced so far (all sinks) */
    size_t section_start; /* offset of the open section's header */
    int in_section;
    uint32_t crc;        /* running crc of the open section */
    uint8_t header[16];  /* open section's header, patched at its end */
    ctr__error *err;
} ctr__ckw;

/* Start writing a checkpoint of the given object kind. `err` receives
 * messages (may be NULL); `alloc` is used for the temporary file name.
 *  - to_path:   a temporary file beside path (common/savefile.h).
 *  - to_buffer: buf may be NULL only with cap 0; overflow gives
 *               CTR_E_BUFFER_TOO_SMALL at finish, with the full size known.
 *  - to_size:   counts bytes only.
 * Each returns the sticky status (CTR_OK or an error; the writer must still
 * be passed to ctr__ckw_finish or ctr__ckw_abort to release resources). */
int ctr__ckw_to_path(ctr__ckw *w, const char *path, uint32_t kind,
                     const ctr__alloc *alloc, ctr__error *err);
int ctr__ckw_to_buffer(ctr__ckw *w, void *buf, size_t cap, uint32_t kind,
                       ctr__error *err);
int ctr__ckw_to_size(ctr__ckw *w, uint32_t kind, ctr__error *err);

void ctr__ckw_begin_section(ctr__ckw *w, uint32_t tag);
void ctr__ckw_put_u32(ctr__ckw *w, uint32_t v);
void ctr__ckw_put_u64(ctr__ckw *w, uint64_t v);
void ctr__ckw_put_i64(ctr__ckw *w, int64_t v);
void ctr__ckw_put_f64(ctr__ckw *w, double v);
void ctr__ckw_put_f32_array(ctr__ckw *w, const float *v, size_t n);
void ctr__ckw_put_i64_array(ctr__ckw *w, const int64_t *v, size_t n);
void ctr__ckw_put_bytes(ctr__ckw *w, const void *p, size_t n);
void ctr__ckw_end_section(ctr__ckw *w);

/* Writes the END section and completes the sink: for a path, flush, fsync,
 * close, rename over the target (the temporary file is removed on any
 * failure). *size_out (may be NULL) receives the total size, also when the
 * status is CTR_E_BUFFER_TOO_SMALL. Returns the final status. */
int ctr__ckw_finish(ctr__ckw *w, size_t *size_out);
/* Abandons a write: closes and removes any temporary file. */
void ctr__ckw_abort(ctr__ckw *w);

/* ---- reader -------------------------------------------------------------- */

typedef struct ctr__ckr {
    int status;            /* first error, sticky */
    FILE *file;            /* path source */
    const uint8_t *src;    /* buffer source */
    uint64_t src_len;      /* total bytes of the source */
    uint64_t src_pos;      /* next unread byte of the source */
    uint8_t *section;      /* current payload (owned when from a file) */
    size_t section_cap;    /* allocated bytes of `section` */
    const uint8_t *payload; /* current payload (points into src or section) */
    uint64_t payload_len;
    uint64_t payload_pos;
    uint32_t kind;
    uint64_t max_bytes;    /* the load limit (UINT64_MAX: none) */
    uint64_t reserved_bytes; /* taken from it so far */
    const ctr__alloc *alloc;
    ctr__error *err;
    int nested;            /* reading one object of a state file: finish
                            * takes its SEND section instead of END */
} ctr__ckr;

/* Open a source and validate its header: magic (CTR_E_CORRUPT), version
 * (CTR_E_INCOMPATIBLE), header CRC (CTR_E_CORRUPT), and that the kind
 * equals `kind` (CTR_E_INCOMPATIBLE). Paths that cannot be opened or read
 * give CTR_E_IO. On failure the reader holds nothing (close is still safe). */
int ctr__ckr_open_path(ctr__ckr *r, const char *path, uint32_t kind,
                       const ctr__alloc *alloc, ctr__error *err);
int ctr__ckr_open_buffer(ctr__ckr *r, const void *buf, size_t len,
                         uint32_t kind, const ctr__alloc *alloc,
                         ctr__error *err);

/* Sets the load limit: from here on, ctr__ckr_reserve and the reader's own
 * section buffer may take at most max_bytes in all. (Open sets none.) */
void ctr__ckr_set_limit(ctr__ckr *r, uint64_t max_bytes);
/* Takes `bytes` from the load limit before an object allocates them:
 * CTR_OK, or CTR_E_LIMIT with the message "<what> need(s) N bytes, over
 * the load limit of L bytes" (what is printf-formatted, naming the field
 * and its size). Sticky like every reader failure. */
int ctr__ckr_reserve(ctr__ckr *r, uint64_t bytes, const char *fmt, ...)
    CTR__PRINTF(3, 4);
/* Records a failure of the object's own validation (a field out of
 * range): sets the sticky status and the message, returns code. */
int ctr__ckr_fail(ctr__ckr *r, int code, const char *fmt, ...)
    CTR__PRINTF(3, 4);

/* Loads the next section, which must carry `tag` (CTR_E_CORRUPT if not, if
 * its length exceeds the bytes left, or if its CRC fails). *len_out (may be
 * NULL) receives the payload length. */
int ctr__ckr_begin_section(ctr__ckr *r, uint32_t tag, uint64_t *len_out);
uint32_t ctr__ckr_get_u32(ctr__ckr *r);
uint64_t ctr__ckr_get_u64(ctr__ckr *r);
int64_t ctr__ckr_get_i64(ctr__ckr *r);
double ctr__ckr_get_f64(ctr__ckr *r);
void ctr__ckr_get_f32_array(ctr__ckr *r, float *v, size_t n);
void ctr__ckr_get_i64_array(ctr__ckr *r, int64_t *v, size_t n);
void ctr__ckr_get_bytes(ctr__ckr *r, void *p, size_t n);
/* Bytes of the current payload not yet read: lets an object check that a
 * declared shape fits before it allocates for it. */
uint64_t ctr__ckr_remaining(const ctr__ckr *r);
/* The payload must have been consumed exactly (CTR_E_CORRUPT otherwise). */
int ctr__ckr_end_section(ctr__ckr *r);
/* Requires the END section and the end of the source; with r->nested set,
 * the object's empty SEND section instead (more may follow). Returns the
 * status. */
int ctr__ckr_finish(ctr__ckr *r);
/* Releases the reader's resources. Safe after any failure. */
void ctr__ckr_close(ctr__ckr *r);

#endif /* CTR_CHECKPOINT_H */
