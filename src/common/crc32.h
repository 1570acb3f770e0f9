/*
 * crc32.h - CRC-32 (IEEE 802.3, as zlib and gzip compute it): the checksum
 * of every checkpoint header and section (docs/file-format.md).
 *
 * Our own code, not zlib's: the core library links only BLAS, libm and
 * pthreads, so that its pkg-config file and the shared object's needed
 * libraries stay as they are for every host; the 1 KiB table is generated
 * data in crc32.c.
 */
#ifndef CTR_CRC32_H
#define CTR_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 (reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF).
 * Continue a running crc by passing the previous result; start with 0. */
uint32_t ctr__crc32(uint32_t crc, const void *data, size_t len);

/* crc32(A || B) from crc1 = crc32(A), crc2 = crc32(B) and len2 = |B|,
 * without reading A or B. */
uint32_t ctr__crc32_combine(uint32_t crc1, uint32_t crc2, uint64_t len2);

#endif /* CTR_CRC32_H */
