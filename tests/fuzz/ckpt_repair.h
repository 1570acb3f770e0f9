/*
 * ckpt_repair.h - recomputes the CRCs of a checkpoint in place, so that a
 * test or a fuzz target can change a field and still reach the loader's
 * own validation (rather than stopping at the checksum). Shared by the
 * Check suites and the fuzz targets; uses the library's internal CRC.
 */
#ifndef CTR_CKPT_REPAIR_H
#define CTR_CKPT_REPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "common/checkpoint.h"
#include "common/checkpoint_format.h"
#include "common/crc32.h"

/* The header's CRC, then each section's as long as its length fits what
 * is left (the walk stops at the first one that does not). */
static inline void ckpt_repair(uint8_t *p, size_t n)
{
    size_t pos = CTR__CKPT_HEADER_BYTES;
    if (n < CTR__CKPT_HEADER_BYTES)
        return;
    ctr__store_u32(p + 20, ctr__crc32(0, p, 20));
    while (n - pos >= CTR__CKPT_SECTION_OVERHEAD) {
        uint64_t len = ctr__load_u64(p + pos + 8);
        if (len > n - pos - CTR__CKPT_SECTION_OVERHEAD)
            break;
        ctr__store_u32(p + pos + 16 + len, ctr__crc32(0, p + pos, 16 + (size_t)len));
        pos += CTR__CKPT_SECTION_OVERHEAD + (size_t)len;
    }
}

/* The offset of the payload of the first section tagged `tag`, or 0. */
static inline size_t ckpt_payload(const uint8_t *p, size_t n, uint32_t tag)
{
    size_t pos = CTR__CKPT_HEADER_BYTES;
    while (n >= pos && n - pos >= CTR__CKPT_SECTION_OVERHEAD) {
        uint64_t len = ctr__load_u64(p + pos + 8);
        if (ctr__load_u32(p + pos) == tag)
            return pos + 16;
        if (len > n - pos - CTR__CKPT_SECTION_OVERHEAD)
            break;
        pos += CTR__CKPT_SECTION_OVERHEAD + (size_t)len;
    }
    return 0;
}

/* Writes v little-endian at p (a test's patch of an i64 field). */
static inline void ckpt_patch_i64(uint8_t *p, int64_t v)
{
    ctr__store_u64(p, (uint64_t)v);
}

#endif /* CTR_CKPT_REPAIR_H */
