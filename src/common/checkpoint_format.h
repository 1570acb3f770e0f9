/*
 * checkpoint_format.h - what the checkpoint writer (checkpoint_write.c)
 * and reader (checkpoint_read.c) share: the magic, the little-endian
 * encoding of integers (by shifts, whatever the host; floats travel as
 * their IEEE-754 bit patterns) and the messages of their sticky failures.
 * Only those two files include it; objects use checkpoint.h.
 */
#ifndef CTR_CHECKPOINT_FORMAT_H
#define CTR_CHECKPOINT_FORMAT_H

#include <stdarg.h>

#include "common/checkpoint.h"

/* The first 8 bytes of every checkpoint. */
extern const uint8_t ctr__ckpt_magic[8];

static inline void ctr__store_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void ctr__store_u64(uint8_t *p, uint64_t v)
{
    ctr__store_u32(p, (uint32_t)v);
    ctr__store_u32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t ctr__load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline uint64_t ctr__load_u64(const uint8_t *p)
{
    return (uint64_t)ctr__load_u32(p) | ((uint64_t)ctr__load_u32(p + 4) << 32);
}

/* A printable name for a fourcc: "RNG_" or, if not printable, "0x12345678".
 * out must hold 16 bytes. */
const char *ctr__ckpt_fourcc_text(char *out, uint32_t v);
/* errno e as text in buf (cap bytes), thread-safely. */
const char *ctr__ckpt_errno_text(char *buf, size_t cap, int e);
/* Records the first failure of a writer or reader in *status and err
 * (sticky: a later failure keeps the first); returns *status. */
int ctr__ckpt_vfail(int *status, ctr__error *err, int code, const char *fmt,
                    va_list ap);

#endif /* CTR_CHECKPOINT_FORMAT_H */
