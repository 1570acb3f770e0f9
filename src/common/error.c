/*
 * error.c - status-code strings and the per-handle error message.
 */
#include "common/core.h"

#include <stdarg.h>
#include <stdio.h>

/* ---- errors --------------------------------------------------------------- */

int ctr__fail(ctr__error *e, int code, const char *fmt, ...)
{
    if (e != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void ctr__error_clear(ctr__error *e)
{
    if (e != NULL)
        e->msg[0] = '\0';
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

