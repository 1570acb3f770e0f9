/*
 * core.h - the internal runtime every object uses: allocation through the
 * object's allocator, overflow-checked sizes, the per-handle error message
 * and input validation. Nothing here is exported from the shared library
 * (internal non-static symbols are named ctr__*).
 */
#ifndef CTR_CORE_H
#define CTR_CORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "contrastive.h"

#if defined(__GNUC__)
#  define CTR__PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#  define CTR__PRINTF(fmt, args)
#endif

/* Every block the library allocates is aligned to this (a cache line and
 * the widest SIMD register, as BLAS kernels like). */
#define CTR__ALIGN 64

/* ---- allocation --------------------------------------------------------- */

/* A validated copy of the caller's allocator (system allocator if none). */
typedef struct ctr__alloc {
    void *user;
    void *(*alloc)(void *user, size_t size, size_t alignment);
    void (*free)(void *user, void *ptr, size_t size);
} ctr__alloc;

/* Copies *user (NULL = system allocator) into *out after checking
 * struct_size, reserved == 0 and that alloc/free are both set or both NULL.
 * Returns CTR_OK or CTR_E_INVALID_ARG. */
int ctr__alloc_init(ctr__alloc *out, const ctr_allocator *user);

/* size bytes aligned to CTR__ALIGN, or NULL. size 0 returns NULL. */
void *ctr__malloc(const ctr__alloc *a, size_t size);
/* As ctr__malloc, zero-filled. */
void *ctr__calloc(const ctr__alloc *a, size_t size);
/* Frees a block of the given (requested) size. ptr may be NULL. */
void ctr__free(const ctr__alloc *a, void *ptr, size_t size);

/* What a load may allocate and where its message goes, from the caller's
 * allocator struct (NULL: the defaults): max_bytes is never 0. */
typedef struct ctr__load_opts {
    uint64_t max_bytes;
    char *message; /* NULL or message_cap > 0 bytes */
    size_t message_cap;
} ctr__load_opts;

/* Reads the load fields the caller's struct_size covers (user may be NULL;
 * it has passed ctr__alloc_init). */
void ctr__load_opts_init(ctr__load_opts *out, const ctr_allocator *user);

/* The end of a ctr_<object>_create: a create has no handle to keep its
 * message, so, as a load, it writes it to the caller's allocator's message
 * buffer (when the struct is valid and its struct_size covers the field):
 * "<call>: <err's message, or the status text>" on failure, "" on success.
 * err may be NULL. Returns rc. */
struct ctr__error;
/* The start of a create: copies the caller's allocator into *a (a bad one
 * is CTR_E_INVALID_ARG, and no message can be written), clears err and
 * requires out. CTR_OK or the code, with err's message. */
int ctr__create_begin(ctr__alloc *a, struct ctr__error *err,
                      const ctr_allocator *user, const void *out);
int ctr__create_report(const ctr_allocator *user, int rc, const char *call,
                       const struct ctr__error *err);

/* ---- overflow-checked sizes --------------------------------------------- */
/* The one place sizes are multiplied and added: every loader and every
 * public call that multiplies sizes goes through these (or
 * ctr__matrix_bytes, built on them), never through a bare * or +. */

/* *out = a * b; returns CTR_OK or CTR_E_OVERFLOW (out untouched). */
int ctr__mul_size(size_t *out, size_t a, size_t b);
/* *out = a + b; returns CTR_OK or CTR_E_OVERFLOW (out untouched). */
int ctr__add_size(size_t *out, size_t a, size_t b);
/* Element counts (int64_t, as the API's sizes): *out = a * b or a + b for
 * a, b >= 0; CTR_E_OVERFLOW (out untouched) for a negative operand or a
 * result above INT64_MAX. */
int ctr__mul_count(int64_t *out, int64_t a, int64_t b);
int ctr__add_count(int64_t *out, int64_t a, int64_t b);
/* Bytes of a rows x cols matrix of elem-byte elements. rows and cols must
 * be >= 0 (CTR_E_INVALID_ARG otherwise); CTR_E_OVERFLOW if the product
 * does not fit in size_t or int64_t. */
int ctr__matrix_bytes(size_t *out, int64_t rows, int64_t cols, size_t elem);

/* ---- the per-handle error message --------------------------------------- */

#define CTR__ERRMSG_CAP 256

/* msg is written by the calls that change the handle (one thread at a time,
 * docs/threading.md). Calls on a const handle may run on many threads at
 * once: they record their message in a local ctr__error, then publish it
 * with ctr__const_result, which writes msg only while it holds `writing`
 * (a try-lock: a call that finds it held leaves the message to the holder)
 * and reads `has_message` to skip clearing an empty message. */
typedef struct ctr__error {
    char msg[CTR__ERRMSG_CAP];
    atomic_int has_message; /* msg[0] != '\0' */
    atomic_int writing;     /* a const call is writing msg */
} ctr__error;

/* A local record for a const call's message (see ctr__const_result). */
#define CTR__ERROR_INIT {"", 0, 0}

/* The error record of a call that keeps no message (internal probes whose
 * caller reports its own). */
#define CTR__NO_MESSAGE ((ctr__error *)NULL)

/* The end of a call on a const handle: publishes its outcome to the
 * handle's slot (a message for a failure: local's, or the status text if
 * local has none; "" for success) and returns rc. slot may be NULL. */
int ctr__const_result(const ctr__error *slot, int rc, const ctr__error *local);
/* A const call's failure with a formatted message: ctr__fail into a local
 * record, then ctr__const_result. */
int ctr__const_fail(const ctr__error *slot, int code, const char *fmt, ...)
    CTR__PRINTF(3, 4);

/* Records "<message>" in e (truncated to fit) and returns code, so that a
 * failing function can `return ctr__fail(&h->err, CTR_E_X, "...", ...);`.
 * e may be NULL (nothing recorded). */
int ctr__fail(ctr__error *e, int code, const char *fmt, ...) CTR__PRINTF(3, 4);
/* Clears the message (called at the start of each public call). */
void ctr__error_clear(ctr__error *e);
/* The message, "" if none; for NULL handles a static text. */
const char *ctr__error_message(const ctr__error *e);

/* ---- input validation ---------------------------------------------------- */

/* CTR_OK if every element of x[0..n) is finite, else CTR_E_NUMERIC with a
 * message naming `what` and the first bad index. x may be NULL when n == 0. */
int ctr__check_finite(ctr__error *e, const float *x, size_t n,
                      const char *what);
/* CTR_E_OVERFLOW (message naming `what`) unless rows x ld floats fit in
 * size_t and int64_t: the offsets of a caller's strided view are then
 * safe to compute. rows and ld must be >= 0. */
int ctr__check_view(ctr__error *e, int64_t rows, int64_t ld, const char *what);
/* Strided variant for a rows x cols view with leading dimension ld
 * (checked by ctr__check_view first). */
int ctr__check_finite_matrix(ctr__error *e, const float *x, int64_t rows,
                             int64_t cols, int64_t ld, const char *what);
/* CTR_E_INVALID_ARG with "<what> is NULL" if p is NULL. */
int ctr__check_ptr(ctr__error *e, const void *p, const char *what);
/* CTR_E_INVALID_ARG unless v >= 1. */
int ctr__check_positive(ctr__error *e, int64_t v, const char *what);
/* CTR_E_INVALID_ARG unless v >= 0. */
int ctr__check_nonnegative(ctr__error *e, int64_t v, const char *what);

#endif /* CTR_CORE_H */
