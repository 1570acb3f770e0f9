/*
 * alloc.c - allocation through an object's allocator and overflow-checked
 * size arithmetic; the public ctr_allocator helpers.
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */

#include "common/core.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The smallest struct_size accepted: a struct that ends after `free`. The
 * load fields after it are read only when struct_size covers them. */
#define ALLOC_MIN_SIZE (offsetof(ctr_allocator, free) + sizeof(((ctr_allocator *)0)->free))

/* ---- allocation --------------------------------------------------------- */

static void *system_alloc(void *user, size_t size, size_t alignment)
{
    void *p = NULL;
    (void)user;
    if (posix_memalign(&p, alignment, size) != 0)
        return NULL;
    return p;
}

static void system_free(void *user, void *ptr, size_t size)
{
    (void)user;
    (void)size;
    free(ptr);
}

int ctr__alloc_init(ctr__alloc *out, const ctr_allocator *user)
{
    if (out == NULL)
        return CTR_E_INVALID_ARG;
    if (user == NULL || (user->alloc == NULL && user->free == NULL)) {
        if (user != NULL && (user->struct_size < ALLOC_MIN_SIZE || user->reserved != 0))
            return CTR_E_INVALID_ARG;
        out->user = NULL;
        out->alloc = system_alloc;
        out->free = system_free;
        return CTR_OK;
    }
    if (user->struct_size < ALLOC_MIN_SIZE || user->reserved != 0 ||
        user->alloc == NULL || user->free == NULL)
        return CTR_E_INVALID_ARG;
    out->user = user->user;
    out->alloc = user->alloc;
    out->free = user->free;
    return CTR_OK;
}

/* 1 if the caller's struct reaches past `field_end` bytes. */
static int covers(const ctr_allocator *user, size_t field_end)
{
    return user != NULL && user->struct_size >= field_end;
}

#define FIELD_END(f) (offsetof(ctr_allocator, f) + sizeof(((ctr_allocator *)0)->f))

void ctr__load_opts_init(ctr__load_opts *out, const ctr_allocator *user)
{
    out->max_bytes = CTR_LOAD_DEFAULT_MAX_BYTES;
    out->message = NULL;
    out->message_cap = 0;
    if (covers(user, FIELD_END(max_load_bytes)) && user->max_load_bytes != 0)
        out->max_bytes = user->max_load_bytes;
    if (covers(user, FIELD_END(message_cap)) && user->message != NULL &&
        user->message_cap > 0) {
        out->message = user->message;
        out->message_cap = user->message_cap;
    }
}

void *ctr__malloc(const ctr__alloc *a, size_t size)
{
    if (size == 0)
        return NULL;
    return a->alloc(a->user, size, CTR__ALIGN);
}

void *ctr__calloc(const ctr__alloc *a, size_t size)
{
    void *p = ctr__malloc(a, size);
    if (p != NULL)
        memset(p, 0, size);
    return p;
}

void ctr__free(const ctr__alloc *a, void *ptr, size_t size)
{
    if (ptr != NULL)
        a->free(a->user, ptr, size);
}

/* ---- public allocator helpers ------------------------------------------- */

CTR_API int ctr_allocator_init(ctr_allocator *a)
{
    if (a == NULL)
        return CTR_E_INVALID_ARG;
    memset(a, 0, sizeof(*a));
    a->struct_size = (uint32_t)sizeof(ctr_allocator);
    return CTR_OK;
}

CTR_API size_t ctr_allocator_struct_size(void)
{
    return sizeof(ctr_allocator);
}

CTR_API uint64_t ctr_load_default_max_bytes(void)
{
    return CTR_LOAD_DEFAULT_MAX_BYTES;
}

/* ---- sizes --------------------------------------------------------------- */

int ctr__mul_size(size_t *out, size_t a, size_t b)
{
    if (a != 0 && b > SIZE_MAX / a)
        return CTR_E_OVERFLOW;
    *out = a * b;
    return CTR_OK;
}

int ctr__add_size(size_t *out, size_t a, size_t b)
{
    if (b > SIZE_MAX - a)
        return CTR_E_OVERFLOW;
    *out = a + b;
    return CTR_OK;
}

int ctr__mul_count(int64_t *out, int64_t a, int64_t b)
{
    if (a < 0 || b < 0 || (a != 0 && b > INT64_MAX / a))
        return CTR_E_OVERFLOW;
    *out = a * b;
    return CTR_OK;
}

int ctr__add_count(int64_t *out, int64_t a, int64_t b)
{
    if (a < 0 || b < 0 || b > INT64_MAX - a)
        return CTR_E_OVERFLOW;
    *out = a + b;
    return CTR_OK;
}

int ctr__matrix_bytes(size_t *out, int64_t rows, int64_t cols, size_t elem)
{
    size_t n, bytes;
    if (rows < 0 || cols < 0)
        return CTR_E_INVALID_ARG;
    if ((uint64_t)rows > SIZE_MAX || (uint64_t)cols > SIZE_MAX)
        return CTR_E_OVERFLOW;
    if (ctr__mul_size(&n, (size_t)rows, (size_t)cols) != CTR_OK ||
        ctr__mul_size(&bytes, n, elem) != CTR_OK || (uint64_t)bytes > INT64_MAX)
        return CTR_E_OVERFLOW;
    *out = bytes;
    return CTR_OK;
}


int ctr__create_report(const ctr_allocator *user, int rc, const char *call,
                       const ctr__error *err)
{
    ctr__alloc a;
    ctr__load_opts o;
    if (user == NULL || ctr__alloc_init(&a, user) != CTR_OK)
        return rc;
    ctr__load_opts_init(&o, user);
    if (o.message == NULL)
        return rc;
    if (rc == CTR_OK)
        o.message[0] = '\0';
    else
        snprintf(o.message, o.message_cap, "%s: %s", call,
                 err != NULL && err->msg[0] != '\0' ? err->msg
                                                     : ctr_strerror(rc));
    return rc;
}

int ctr__create_begin(ctr__alloc *a, ctr__error *err,
                      const ctr_allocator *user, const void *out)
{
    ctr__error_clear(err);
    if (ctr__alloc_init(a, user) != CTR_OK)
        return CTR_E_INVALID_ARG;
    if (out == NULL)
        return ctr__fail(err, CTR_E_INVALID_ARG, "out is NULL");
    return CTR_OK;
}
