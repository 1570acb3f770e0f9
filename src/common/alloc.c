/*
 * alloc.c - allocation through an object's allocator and overflow-checked
 * size arithmetic; the public ctr_allocator helpers.
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */

#include "common/core.h"

#include <stdlib.h>
#include <string.h>

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
        if (user != NULL && user->struct_size < sizeof(ctr_allocator))
            return CTR_E_INVALID_ARG;
        out->user = NULL;
        out->alloc = system_alloc;
        out->free = system_free;
        return CTR_OK;
    }
    if (user->struct_size < sizeof(ctr_allocator) || user->reserved != 0 ||
        user->alloc == NULL || user->free == NULL)
        return CTR_E_INVALID_ARG;
    out->user = user->user;
    out->alloc = user->alloc;
    out->free = user->free;
    return CTR_OK;
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

