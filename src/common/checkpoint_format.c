/*
 * checkpoint_format.c - what the checkpoint writer and reader share
 * (checkpoint_format.h): the magic bytes and how failures are reported.
 */
#ifndef _POSIX_C_SOURCE /* the Makefile may pass it too */
#define _POSIX_C_SOURCE 200809L /* the XSI strerror_r */
#endif

#include "common/checkpoint_format.h"

#include <stdio.h>
#include <string.h>

const uint8_t ctr__ckpt_magic[8] = {0x89, 'C', 'T', 'R', '\r', '\n', 0x1a,
                                    '\n'};

/* A printable name for a fourcc: "RNG_" or, if not printable, "0x12345678".
 * out must hold 16 bytes. */
const char *ctr__ckpt_fourcc_text(char *out, uint32_t v)
{
    int i;
    for (i = 0; i < 4; i++) {
        unsigned ch = (v >> (8 * i)) & 0xffu;
        if (ch < 0x20 || ch > 0x7e) {
            snprintf(out, 16, "0x%08lx", (unsigned long)v);
            return out;
        }
        out[i] = (char)ch;
    }
    out[4] = '\0';
    return out;
}

/* errno as text, thread-safely (strerror is not). This is the XSI
 * strerror_r, returning int, that _POSIX_C_SOURCE selects; should the file
 * ever be built with _GNU_SOURCE, glibc's variant returns a non-NULL char *
 * and the comparison below then safely falls back to the number. */
const char *ctr__ckpt_errno_text(char *buf, size_t cap, int e)
{
    buf[0] = '\0';
    if (strerror_r(e, buf, cap) != 0 || buf[0] == '\0')
        snprintf(buf, cap, "error %d", e);
    return buf;
}

/* Records the first failure of a writer or reader (sticky). */
int ctr__ckpt_vfail(int *status, ctr__error *err, int code,
                    const char *fmt, va_list ap)
{
    char msg[CTR__ERRMSG_CAP];
    if (*status != CTR_OK)
        return *status;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    *status = ctr__fail(err, code, "%s", msg);
    return *status;
}
