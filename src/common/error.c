/*
 * error.c - status-code strings and the per-handle error message.
 */
#include "common/core.h"

#include <stdarg.h>
#include <stdio.h>

/* ---- errors --------------------------------------------------------------- */

static void record(ctr__error *e, const char *fmt, va_list ap)
{
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    atomic_store_explicit(&e->has_message, e->msg[0] != '\0', memory_order_relaxed);
}

int ctr__fail(ctr__error *e, int code, const char *fmt, ...)
{
    if (e != NULL) {
        va_list ap;
        va_start(ap, fmt);
        record(e, fmt, ap);
        va_end(ap);
    }
    return code;
}

void ctr__error_clear(ctr__error *e)
{
    if (e != NULL) {
        e->msg[0] = '\0';
        atomic_store_explicit(&e->has_message, 0, memory_order_relaxed);
    }
}

int ctr__const_result(const ctr__error *slot, int rc, const ctr__error *local)
{
    /* The handle is not const storage: its calls are const so that threads
     * may share it, and the message slot is guarded for exactly that. */
    ctr__error *s = (ctr__error *)(uintptr_t)slot;
    if (s == NULL)
        return rc;
    if (rc == CTR_OK && atomic_load_explicit(&s->has_message, memory_order_relaxed) == 0)
        return rc;
    if (atomic_exchange_explicit(&s->writing, 1, memory_order_acquire) != 0)
        return rc;
    if (rc == CTR_OK)
        s->msg[0] = '\0';
    else
        snprintf(s->msg, sizeof(s->msg), "%s",
                 local != NULL && local->msg[0] != '\0' ? local->msg : ctr_strerror(rc));
    atomic_store_explicit(&s->has_message, rc != CTR_OK, memory_order_relaxed);
    atomic_store_explicit(&s->writing, 0, memory_order_release);
    return rc;
}

int ctr__const_fail(const ctr__error *slot, int code, const char *fmt, ...)
{
    ctr__error local = CTR__ERROR_INIT;
    va_list ap;
    va_start(ap, fmt);
    record(&local, fmt, ap);
    va_end(ap);
    return ctr__const_result(slot, code, &local);
}

const char *ctr__error_message(const ctr__error *e)
{
    return e == NULL ? "invalid handle (NULL)" : e->msg;
}

CTR_API const char *ctr_strerror(int code)
{
    switch (code) {
    case CTR_OK: return "success";
    case CTR_E_INVALID_ARG: return "invalid argument";
    case CTR_E_NOMEM: return "out of memory";
    case CTR_E_OVERFLOW: return "size overflow";
    case CTR_E_NUMERIC: return "non-finite value (NaN or Inf)";
    case CTR_E_IO: return "input/output error";
    case CTR_E_CORRUPT: return "corrupt or truncated data";
    case CTR_E_INCOMPATIBLE: return "incompatible format version or object kind";
    case CTR_E_STAGE: return "call not valid in the object's current state";
    case CTR_E_UNSUPPORTED: return "not supported by this build";
    case CTR_E_SHAPE: return "shape mismatch";
    case CTR_E_BUFFER_TOO_SMALL: return "buffer too small";
    case CTR_E_LIMIT: return "over the load limit (ctr_allocator.max_load_bytes)";
    case CTR_E_COMM: return "communicator (transport) failure";
    default: return "unknown error";
    }
}

