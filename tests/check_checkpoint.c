/*
 * check_checkpoint.c - the checkpoint container (src/common/checkpoint_*.c)
 * against its specification, docs/file-format.md: round trips through every
 * sink and source, the exact bytes on disk, every truncation and bit flip
 * of a small file, hostile lengths, the atomic write, and every allocation
 * failure.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdir, opendir, unlink, rmdir */
#endif

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/checkpoint.h"
#include "common/crc32.h"
#include "common/core.h"
#include "test_util.h"

#define TAG_A CTR__FOURCC('A', 'A', 'A', 'A')
#define TAG_B CTR__FOURCC('B', 'B', 'B', 'B')
#define TAG_C CTR__FOURCC('C', 'C', 'C', 'C')

/* ---- helpers -------------------------------------------------------------- */

/* Every kind of field, in three sections (one of them empty). Arrays are
 * long enough in the "large" sample to span several 4 KiB encoding chunks. */
#define MAX_F32 3000
#define MAX_I64 700
#define MAX_BYTES 300

typedef struct sample {
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    double f64;
    size_t nf, ni, nb;
    float f32[MAX_F32];
    int64_t i64s[MAX_I64];
    uint8_t bytes[MAX_BYTES];
    uint32_t tail;
} sample;

static void sample_fill(sample *s, size_t nf, size_t ni, size_t nb)
{
    size_t i;
    memset(s, 0, sizeof(*s));
    s->u32 = 0xdeadbeefu;
    s->u64 = UINT64_C(0xfedcba9876543210);
    s->i64 = INT64_MIN + 12345;
    s->f64 = -1.0 / 3.0;
    s->nf = nf;
    s->ni = ni;
    s->nb = nb;
    for (i = 0; i < nf; i++)
        s->f32[i] = (float)i * 0.37f - 100.25f;
    for (i = 0; i < ni; i++)
        s->i64s[i] = (int64_t)(i * i) * ((i & 1) ? -7919 : 104729);
    for (i = 0; i < nb; i++)
        s->bytes[i] = (uint8_t)(i * 31u + 7u);
    s->tail = 0x01020304u;
}

static void sample_write(ctr__ckw *w, const sample *s)
{
    ctr__ckw_begin_section(w, TAG_A);
    ctr__ckw_put_u32(w, s->u32);
    ctr__ckw_put_u64(w, s->u64);
    ctr__ckw_put_i64(w, s->i64);
    ctr__ckw_put_f64(w, s->f64);
    ctr__ckw_put_u64(w, (uint64_t)s->nf);
    ctr__ckw_put_f32_array(w, s->f32, s->nf);
    ctr__ckw_put_u64(w, (uint64_t)s->ni);
    ctr__ckw_put_i64_array(w, s->i64s, s->ni);
    ctr__ckw_put_u64(w, (uint64_t)s->nb);
    ctr__ckw_put_bytes(w, s->bytes, s->nb);
    ctr__ckw_end_section(w);
    ctr__ckw_begin_section(w, TAG_B);
    ctr__ckw_end_section(w);
    ctr__ckw_begin_section(w, TAG_C);
    ctr__ckw_put_u32(w, s->tail);
    ctr__ckw_end_section(w);
}

/* Reads a sample the way objects do: straight through, relying on the
 * sticky status, checking only at the end. Declared counts are validated
 * against ctr__ckr_remaining before they are used. */
static int sample_read(ctr__ckr *r, sample *s)
{
    uint64_t n;
    memset(s, 0, sizeof(*s));
    ctr__ckr_begin_section(r, TAG_A, NULL);
    s->u32 = ctr__ckr_get_u32(r);
    s->u64 = ctr__ckr_get_u64(r);
    s->i64 = ctr__ckr_get_i64(r);
    s->f64 = ctr__ckr_get_f64(r);
    n = ctr__ckr_get_u64(r);
    if (n > MAX_F32 || n * 4 > ctr__ckr_remaining(r))
        return CTR_E_CORRUPT;
    s->nf = (size_t)n;
    ctr__ckr_get_f32_array(r, s->f32, s->nf);
    n = ctr__ckr_get_u64(r);
    if (n > MAX_I64 || n * 8 > ctr__ckr_remaining(r))
        return CTR_E_CORRUPT;
    s->ni = (size_t)n;
    ctr__ckr_get_i64_array(r, s->i64s, s->ni);
    n = ctr__ckr_get_u64(r);
    if (n > MAX_BYTES || n > ctr__ckr_remaining(r))
        return CTR_E_CORRUPT;
    s->nb = (size_t)n;
    ctr__ckr_get_bytes(r, s->bytes, s->nb);
    ctr__ckr_end_section(r);
    ctr__ckr_begin_section(r, TAG_B, NULL);
    ctr__ckr_end_section(r);
    ctr__ckr_begin_section(r, TAG_C, NULL);
    s->tail = ctr__ckr_get_u32(r);
    ctr__ckr_end_section(r);
    return ctr__ckr_finish(r);
}

static void sample_check(const sample *got, const sample *want)
{
    ck_assert_uint_eq(got->u32, want->u32);
    ck_assert_uint_eq(got->u64, want->u64);
    ck_assert_int_eq(got->i64, want->i64);
    ck_assert(memcmp(&got->f64, &want->f64, sizeof(double)) == 0);
    ck_assert_uint_eq(got->nf, want->nf);
    ck_assert_uint_eq(got->ni, want->ni);
    ck_assert_uint_eq(got->nb, want->nb);
    ck_assert(memcmp(got->f32, want->f32, want->nf * sizeof(float)) == 0);
    ck_assert(memcmp(got->i64s, want->i64s, want->ni * sizeof(int64_t)) == 0);
    ck_assert(memcmp(got->bytes, want->bytes, want->nb) == 0);
    ck_assert_uint_eq(got->tail, want->tail);
}

/* The system allocator as the library sees it. */
static ctr__alloc sys_alloc(void)
{
    ctr__alloc a;
    ck_assert_int_eq(ctr__alloc_init(&a, NULL), CTR_OK);
    return a;
}

/* Serialises s into a malloc'ed buffer (via the size and buffer sinks). */
static uint8_t *sample_to_buffer(const sample *s, size_t *len)
{
    ctr__ckw w;
    size_t need = 0, got = 0;
    uint8_t *buf;
    ck_assert_int_eq(ctr__ckw_to_size(&w, CTR__CKPT_KIND_TEST, NULL), CTR_OK);
    sample_write(&w, s);
    ck_assert_int_eq(ctr__ckw_finish(&w, &need), CTR_OK);
    buf = malloc(need);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(ctr__ckw_to_buffer(&w, buf, need, CTR__CKPT_KIND_TEST,
                                        NULL), CTR_OK);
    sample_write(&w, s);
    ck_assert_int_eq(ctr__ckw_finish(&w, &got), CTR_OK);
    ck_assert_uint_eq(got, need);
    *len = need;
    return buf;
}

static int write_sample_path(const char *path, const sample *s,
                             const ctr__alloc *a, size_t *size_out)
{
    ctr__ckw w;
    ctr__ckw_to_path(&w, path, CTR__CKPT_KIND_TEST, a, NULL);
    sample_write(&w, s);
    return ctr__ckw_finish(&w, size_out);
}

static uint8_t *file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    buf = malloc(n > 0 ? (size_t)n : 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void file_write(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static int read_buffer(const uint8_t *buf, size_t len, sample *s)
{
    ctr__ckr r;
    ctr__alloc a = sys_alloc();
    int rc = ctr__ckr_open_buffer(&r, buf, len, CTR__CKPT_KIND_TEST, &a, NULL);
    if (rc == CTR_OK)
        rc = sample_read(&r, s);
    ctr__ckr_close(&r);
    return rc;
}

static int read_path(const char *path, const ctr__alloc *a, sample *s)
{
    ctr__ckr r;
    int rc = ctr__ckr_open_path(&r, path, CTR__CKPT_KIND_TEST, a, NULL);
    if (rc == CTR_OK)
        rc = sample_read(&r, s);
    ctr__ckr_close(&r);
    return rc;
}

/* Entries of a directory other than . and .. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void store_le64(uint8_t *p, uint64_t v)
{
    store_le32(p, (uint32_t)v);
    store_le32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* The 76-byte file of docs/file-format.md's example, computed
 * independently (Python's zlib.crc32): kind TEST, one section "ABCD" with
 * u32 0x11223344 and u64 0x0102030405060708, then END. */
static const uint8_t tiny_golden[76] = {
    0x89, 0x43, 0x54, 0x52, 0x0d, 0x0a, 0x1a, 0x0a, 0x01, 0x00, 0x00, 0x00,
    0x54, 0x45, 0x53, 0x54, 0x00, 0x00, 0x00, 0x00, 0xa5, 0x8c, 0x87, 0x88,
    0x41, 0x42, 0x43, 0x44, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x44, 0x33, 0x22, 0x11, 0x08, 0x07, 0x06, 0x05,
    0x04, 0x03, 0x02, 0x01, 0x10, 0x20, 0x3a, 0x84, 0x45, 0x4e, 0x44, 0x21,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x2b, 0xe9, 0xe9, 0xa9,
};
#define TAG_ABCD CTR__FOURCC('A', 'B', 'C', 'D')

static void tiny_write(ctr__ckw *w)
{
    ctr__ckw_begin_section(w, TAG_ABCD);
    ctr__ckw_put_u32(w, 0x11223344u);
    ctr__ckw_put_u64(w, UINT64_C(0x0102030405060708));
    ctr__ckw_end_section(w);
}

/* Reads the tiny file; returns the status. */
static int tiny_read(const uint8_t *buf, size_t len, uint32_t kind)
{
    ctr__ckr r;
    ctr__alloc a = sys_alloc();
    int rc = ctr__ckr_open_buffer(&r, buf, len, kind, &a, NULL);
    if (rc == CTR_OK) {
        uint32_t v;
        ctr__ckr_begin_section(&r, TAG_ABCD, NULL);
        v = ctr__ckr_get_u32(&r);
        if (r.status == CTR_OK)
            ck_assert_uint_eq(v, 0x11223344u);
        ctr__ckr_get_u64(&r);
        ctr__ckr_end_section(&r);
        rc = ctr__ckr_finish(&r);
    }
    ctr__ckr_close(&r);
    return rc;
}

/* Recomputes the header crc of a (modified) file image. */
static void fix_header_crc(uint8_t *buf)
{
    store_le32(buf + 20, ctr__crc32(0, buf, 20));
}

/* ---- CRC-32 ----------------------------------------------------------------- */

/* Bit-at-a-time reference. */
static uint32_t crc_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0xedb88320u : c >> 1;
    }
    return ~c;
}

START_TEST(crc_check_value)
{
    ck_assert_uint_eq(ctr__crc32(0, "123456789", 9), 0xcbf43926u);
    ck_assert_uint_eq(ctr__crc32(0, NULL, 0), 0u);
    ck_assert_uint_eq(ctr__crc32(0, "a", 1), 0xe8b7be43u);
    /* continuing a running crc equals one pass */
    ck_assert_uint_eq(ctr__crc32(ctr__crc32(0, "1234", 4), "56789", 5),
                      0xcbf43926u);
}
END_TEST

START_TEST(crc_matches_reference)
{
    uint8_t buf[300];
    size_t off, n, i;
    for (i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 151u + (i >> 3));
    for (off = 0; off < 4; off++)
        for (n = 0; n + off <= sizeof(buf); n += 7)
            ck_assert_uint_eq(ctr__crc32(0, buf + off, n),
                              crc_ref(buf + off, n));
}
END_TEST

/* ---- round trips ------------------------------------------------------------ */

START_TEST(roundtrip_path)
{
    static sample in, out;
    char path[256];
    ctr__alloc a = sys_alloc();
    size_t size = 0, flen;
    uint8_t *bytes;
    sample_fill(&in, MAX_F32, MAX_I64, MAX_BYTES);
    test_temp_path(path, sizeof(path), "rt.ckpt");
    ck_assert_int_eq(write_sample_path(path, &in, &a, &size), CTR_OK);
    bytes = file_read(path, &flen);
    ck_assert_uint_eq(flen, size);
    ck_assert_int_eq(read_path(path, &a, &out), CTR_OK);
    sample_check(&out, &in);
    /* the file's bytes through the buffer source */
    ck_assert_int_eq(read_buffer(bytes, flen, &out), CTR_OK);
    sample_check(&out, &in);
    free(bytes);
    unlink(path);
}
END_TEST

START_TEST(roundtrip_buffer_and_size)
{
    static sample in, out;
    char path[256];
    ctr__alloc a = sys_alloc();
    size_t len, flen, size = 0;
    uint8_t *buf, *fbytes;
    sample_fill(&in, MAX_F32, MAX_I64, MAX_BYTES);
    buf = sample_to_buffer(&in, &len); /* asserts size sink == buffer sink */
    ck_assert_uint_eq(len, 24u + (16 + 4 + 8 + 8 + 8 + 8 + 4 * MAX_F32 + 8 +
                                  8 * MAX_I64 + 8 + MAX_BYTES + 4) +
                               20 + (20 + 4) + 20);
    ck_assert_int_eq(read_buffer(buf, len, &out), CTR_OK);
    sample_check(&out, &in);
    /* the buffer's bytes through the path source; and identical to what the
     * path sink writes */
    test_temp_path(path, sizeof(path), "rtb.ckpt");
    file_write(path, buf, len);
    ck_assert_int_eq(read_path(path, &a, &out), CTR_OK);
    sample_check(&out, &in);
    ck_assert_int_eq(write_sample_path(path, &in, &a, &size), CTR_OK);
    ck_assert_uint_eq(size, len);
    fbytes = file_read(path, &flen);
    ck_assert_uint_eq(flen, len);
    ck_assert(memcmp(fbytes, buf, len) == 0);
    free(fbytes);
    free(buf);
    unlink(path);
}
END_TEST

START_TEST(roundtrip_special_values)
{
    const double dv[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 1e-310,
                         1.7976931348623157e308};
    const float fv[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f,
                        3.4028235e38f};
    const int64_t iv[] = {INT64_MIN, -1, 0, 1, INT64_MAX};
    const uint64_t uv[] = {0, 1, UINT64_MAX, UINT64_C(1) << 63};
    float fbits, fget[7];
    uint32_t nanbits = 0x7fc12345u; /* a NaN with a payload */
    int64_t iget[5];
    uint8_t buf[512];
    size_t i, size = 0;
    ctr__ckw w;
    ctr__ckr r;
    ctr__alloc a = sys_alloc();

    memcpy(&fbits, &nanbits, sizeof(fbits));
    ck_assert_int_eq(ctr__ckw_to_buffer(&w, buf, sizeof(buf),
                                        CTR__CKPT_KIND_TEST, NULL), CTR_OK);
    ctr__ckw_begin_section(&w, TAG_A);
    for (i = 0; i < sizeof(dv) / sizeof(dv[0]); i++)
        ctr__ckw_put_f64(&w, dv[i]);
    ctr__ckw_put_f32_array(&w, fv, 7);
    ctr__ckw_put_f32_array(&w, &fbits, 1);
    ctr__ckw_put_i64_array(&w, iv, 5);
    for (i = 0; i < 5; i++)
        ctr__ckw_put_i64(&w, iv[i]);
    for (i = 0; i < 4; i++)
        ctr__ckw_put_u64(&w, uv[i]);
    ctr__ckw_put_u32(&w, UINT32_MAX);
    ctr__ckw_put_f32_array(&w, NULL, 0); /* empty arrays are fine */
    ctr__ckw_put_i64_array(&w, NULL, 0);
    ctr__ckw_put_bytes(&w, NULL, 0);
    ctr__ckw_end_section(&w);
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_OK);

    ck_assert_int_eq(ctr__ckr_open_buffer(&r, buf, size, CTR__CKPT_KIND_TEST,
                                          &a, NULL), CTR_OK);
    ck_assert_int_eq(ctr__ckr_begin_section(&r, TAG_A, NULL), CTR_OK);
    for (i = 0; i < sizeof(dv) / sizeof(dv[0]); i++) {
        double d = ctr__ckr_get_f64(&r);
        ck_assert(memcmp(&d, &dv[i], sizeof(d)) == 0);
    }
    ctr__ckr_get_f32_array(&r, fget, 7);
    ck_assert(memcmp(fget, fv, sizeof(fv)) == 0);
    ctr__ckr_get_f32_array(&r, fget, 1);
    ck_assert(memcmp(&fget[0], &nanbits, 4) == 0);
    ctr__ckr_get_i64_array(&r, iget, 5);
    ck_assert(memcmp(iget, iv, sizeof(iv)) == 0);
    for (i = 0; i < 5; i++)
        ck_assert_int_eq(ctr__ckr_get_i64(&r), iv[i]);
    for (i = 0; i < 4; i++)
        ck_assert_uint_eq(ctr__ckr_get_u64(&r), uv[i]);
    ck_assert_uint_eq(ctr__ckr_get_u32(&r), UINT32_MAX);
    ctr__ckr_get_f32_array(&r, NULL, 0);
    ctr__ckr_get_i64_array(&r, NULL, 0);
    ctr__ckr_get_bytes(&r, NULL, 0);
    ck_assert_uint_eq(ctr__ckr_remaining(&r), 0);
    ck_assert_int_eq(ctr__ckr_end_section(&r), CTR_OK);
    ck_assert_int_eq(ctr__ckr_finish(&r), CTR_OK);
    ctr__ckr_close(&r);
}
END_TEST

START_TEST(roundtrip_empty_checkpoint)
{
    uint8_t buf[64];
    size_t size = 0;
    ctr__ckw w;
    ctr__ckr r;
    ctr__alloc a = sys_alloc();
    char path[256];
    ctr__ckw_to_size(&w, CTR__CKPT_KIND_RNG, NULL);
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_OK);
    ck_assert_uint_eq(size, CTR__CKPT_HEADER_BYTES + CTR__CKPT_SECTION_OVERHEAD);
    ctr__ckw_to_buffer(&w, buf, sizeof(buf), CTR__CKPT_KIND_RNG, NULL);
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_OK);
    ck_assert_uint_eq(size, 44);
    ck_assert_int_eq(ctr__ckr_open_buffer(&r, buf, size, CTR__CKPT_KIND_RNG,
                                          &a, NULL), CTR_OK);
    ck_assert_uint_eq(r.kind, CTR__CKPT_KIND_RNG);
    ck_assert_int_eq(ctr__ckr_finish(&r), CTR_OK);
    ctr__ckr_close(&r);
    /* through a file: the END section (length 0) allocates nothing */
    test_temp_path(path, sizeof(path), "empty.ckpt");
    file_write(path, buf, size);
    ck_assert_int_eq(ctr__ckr_open_path(&r, path, CTR__CKPT_KIND_RNG, &a,
                                        NULL), CTR_OK);
    ck_assert_int_eq(ctr__ckr_finish(&r), CTR_OK);
    ck_assert_ptr_null(r.section);
    ctr__ckr_close(&r);
    unlink(path);
}
END_TEST

START_TEST(roundtrip_lengths_and_remaining)
{
    uint8_t buf[256];
    size_t size;
    uint64_t len = 99;
    ctr__ckw w;
    ctr__ckr r;
    ctr__alloc a = sys_alloc();
    ctr__ckw_to_buffer(&w, buf, sizeof(buf), CTR__CKPT_KIND_TEST, NULL);
    tiny_write(&w);
    ctr__ckw_begin_section(&w, TAG_B);
    ctr__ckw_end_section(&w);
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_OK);
    ck_assert_int_eq(ctr__ckr_open_buffer(&r, buf, size, CTR__CKPT_KIND_TEST,
                                          &a, NULL), CTR_OK);
    ck_assert_uint_eq(ctr__ckr_remaining(&r), 0); /* no section open */
    ck_assert_int_eq(ctr__ckr_begin_section(&r, TAG_ABCD, &len), CTR_OK);
    ck_assert_uint_eq(len, 12);
    ck_assert_uint_eq(ctr__ckr_remaining(&r), 12);
    ctr__ckr_get_u32(&r);
    ck_assert_uint_eq(ctr__ckr_remaining(&r), 8);
    ctr__ckr_get_u64(&r);
    ck_assert_uint_eq(ctr__ckr_remaining(&r), 0);
    ck_assert_int_eq(ctr__ckr_end_section(&r), CTR_OK);
    ck_assert_int_eq(ctr__ckr_begin_section(&r, TAG_B, &len), CTR_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(ctr__ckr_end_section(&r), CTR_OK);
    ck_assert_int_eq(ctr__ckr_finish(&r), CTR_OK);
    ctr__ckr_close(&r);
    ctr__ckr_close(&r); /* twice is safe */
}
END_TEST

/* The reader allocates at most one section at a time, never more than the
 * file holds. */
START_TEST(roundtrip_path_allocation_bounded)
{
    static sample in, out;
    char path[256];
    ctr_allocator ca;
    test_alloc_state st;
    ctr__alloc a;
    size_t size;
    sample_fill(&in, MAX_F32, MAX_I64, MAX_BYTES);
    test_alloc_setup(&ca, &st);
    ck_assert_int_eq(ctr__alloc_init(&a, &ca), CTR_OK);
    test_temp_path(path, sizeof(path), "bounded.ckpt");
    ck_assert_int_eq(write_sample_path(path, &in, &a, &size), CTR_OK);
    ck_assert_int_eq(st.live_blocks, 0);
    test_alloc_setup(&ca, &st); /* fresh counters for the read */
    ck_assert_int_eq(read_path(path, &a, &out), CTR_OK);
    sample_check(&out, &in);
    ck_assert_int_eq(st.live_blocks, 0);
    ck_assert_int_eq(st.bad_frees, 0);
    ck_assert_int_gt(st.peak_bytes, 0);
    ck_assert_int_le(st.peak_bytes, (int64_t)size);
    unlink(path);
}
END_TEST

/* ---- the bytes on disk -------------------------------------------------- */

START_TEST(format_golden_bytes)
{
    uint8_t buf[128];
    size_t size = 0, flen;
    ctr__ckw w;
    char path[256];
    ctr__alloc a = sys_alloc();
    uint8_t *fbytes;

    ck_assert_int_eq(ctr__ckw_to_buffer(&w, buf, sizeof(buf),
                                        CTR__CKPT_KIND_TEST, NULL), CTR_OK);
    tiny_write(&w);
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_OK);
    ck_assert_uint_eq(size, sizeof(tiny_golden));
    ck_assert(memcmp(buf, tiny_golden, size) == 0);

    test_temp_path(path, sizeof(path), "golden.ckpt");
    ctr__ckw_to_path(&w, path, CTR__CKPT_KIND_TEST, &a, NULL);
    tiny_write(&w);
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_OK);
    fbytes = file_read(path, &flen);
    ck_assert_uint_eq(flen, sizeof(tiny_golden));
    ck_assert(memcmp(fbytes, tiny_golden, flen) == 0);
    free(fbytes);
    unlink(path);
    ck_assert_int_eq(tiny_read(tiny_golden, sizeof(tiny_golden),
                               CTR__CKPT_KIND_TEST), CTR_OK);
}
END_TEST

/* The same file, field by field, as docs/file-format.md describes it. */
START_TEST(format_fields_by_hand)
{
    const uint8_t *b = tiny_golden;
    const uint8_t magic[8] = {0x89, 'C', 'T', 'R', '\r', '\n', 0x1a, '\n'};
    ck_assert(memcmp(b, magic, 8) == 0);
    ck_assert_uint_eq(load_le32(b + 8), 1);                /* version */
    ck_assert(memcmp(b + 12, "TEST", 4) == 0);             /* kind */
    ck_assert_uint_eq(load_le32(b + 16), 0);               /* reserved */
    ck_assert_uint_eq(load_le32(b + 20), ctr__crc32(0, b, 20));
    ck_assert(memcmp(b + 24, "ABCD", 4) == 0);             /* tag */
    ck_assert_uint_eq(load_le32(b + 28), 0);               /* reserved */
    ck_assert_uint_eq(load_le32(b + 32), 12);              /* length lo */
    ck_assert_uint_eq(load_le32(b + 36), 0);               /* length hi */
    ck_assert_uint_eq(b[40], 0x44);                        /* u32 LSB first */
    ck_assert_uint_eq(b[43], 0x11);
    ck_assert_uint_eq(b[44], 0x08);                        /* u64 LSB first */
    ck_assert_uint_eq(b[51], 0x01);
    ck_assert_uint_eq(load_le32(b + 52), ctr__crc32(0, b + 24, 16 + 12));
    ck_assert(memcmp(b + 56, "END!", 4) == 0);
    ck_assert_uint_eq(load_le32(b + 72), ctr__crc32(0, b + 56, 16));
    ck_assert_uint_eq(CTR__CKPT_KIND_TEST, load_le32((const uint8_t *)"TEST"));
    ck_assert_uint_eq(CTR__CKPT_KIND_RNG, load_le32((const uint8_t *)"RNG_"));
    ck_assert_uint_eq(CTR__CKPT_TAG_END, load_le32((const uint8_t *)"END!"));
}
END_TEST

/* The section crc covers header then payload, for large payloads too (the
 * writer combines a running payload crc with the header's). */
START_TEST(format_section_crc_large)
{
    static sample in;
    size_t len, pos = CTR__CKPT_HEADER_BYTES, n = 0;
    uint8_t *buf;
    sample_fill(&in, MAX_F32, MAX_I64, MAX_BYTES);
    buf = sample_to_buffer(&in, &len);
    while (pos < len) {
        uint64_t plen = (uint64_t)load_le32(buf + pos + 8) |
                        ((uint64_t)load_le32(buf + pos + 12) << 32);
        ck_assert_uint_le(pos + 20 + plen, len);
        ck_assert_uint_eq(load_le32(buf + pos + 16 + plen),
                          crc_ref(buf + pos, 16 + (size_t)plen));
        pos += 20 + (size_t)plen;
        n++;
    }
    ck_assert_uint_eq(pos, len);
    ck_assert_uint_eq(n, 4); /* A, B, C, END */
    free(buf);
}
END_TEST

/* ---- corrupt and hostile input -------------------------------------------- */

START_TEST(corrupt_truncation_buffer)
{
    static sample in, out;
    size_t len, cut;
    uint8_t *buf;
    sample_fill(&in, 5, 3, 7);
    buf = sample_to_buffer(&in, &len);
    for (cut = 0; cut < len; cut++) {
        /* a fresh copy of exactly `cut` bytes, so ASan sees any over-read */
        uint8_t *part = malloc(cut > 0 ? cut : 1);
        ck_assert_ptr_nonnull(part);
        memcpy(part, buf, cut);
        ck_assert_msg(read_buffer(part, cut, &out) == CTR_E_CORRUPT,
                      "truncated at %zu of %zu", cut, len);
        free(part);
    }
    ck_assert_int_eq(read_buffer(buf, len, &out), CTR_OK);
    free(buf);
}
END_TEST

START_TEST(corrupt_truncation_path)
{
    static sample in, out;
    char path[256];
    ctr_allocator ca;
    test_alloc_state st;
    ctr__alloc a;
    size_t len, cut;
    uint8_t *buf;
    sample_fill(&in, 5, 3, 7);
    buf = sample_to_buffer(&in, &len);
    test_alloc_setup(&ca, &st);
    ck_assert_int_eq(ctr__alloc_init(&a, &ca), CTR_OK);
    test_temp_path(path, sizeof(path), "trunc.ckpt");
    for (cut = 0; cut < len; cut++) {
        file_write(path, buf, cut);
        test_alloc_setup(&ca, &st); /* fresh counters, same binding */
        ck_assert_msg(read_path(path, &a, &out) == CTR_E_CORRUPT,
                      "truncated at %zu of %zu", cut, len);
        ck_assert_int_eq(st.live_blocks, 0);
        ck_assert_int_le(st.peak_bytes, (int64_t)cut);
    }
    file_write(path, buf, len);
    ck_assert_int_eq(read_path(path, &a, &out), CTR_OK);
    free(buf);
    unlink(path);
}
END_TEST

START_TEST(corrupt_every_bit_flip)
{
    static sample in, out;
    size_t len, i;
    int bit, rc;
    uint8_t *buf;
    sample_fill(&in, 5, 3, 7);
    buf = sample_to_buffer(&in, &len);
    for (i = 0; i < len; i++) {
        for (bit = 0; bit < 8; bit++) {
            buf[i] ^= (uint8_t)(1u << bit);
            rc = read_buffer(buf, len, &out);
            ck_assert_msg(rc == CTR_E_CORRUPT || rc == CTR_E_INCOMPATIBLE,
                          "flip of byte %zu bit %d gave %d", i, bit, rc);
            buf[i] ^= (uint8_t)(1u << bit);
        }
    }
    ck_assert_int_eq(read_buffer(buf, len, &out), CTR_OK);
    free(buf);
}
END_TEST

START_TEST(corrupt_bit_flips_path)
{
    /* the path source too, on the tiny file (fewer bits, real files) */
    uint8_t buf[sizeof(tiny_golden)];
    char path[256];
    ctr__alloc a = sys_alloc();
    size_t i;
    int bit, rc;
    ctr__ckr r;
    test_temp_path(path, sizeof(path), "flip.ckpt");
    for (i = 0; i < sizeof(buf); i++) {
        for (bit = 0; bit < 8; bit += 3) {
            memcpy(buf, tiny_golden, sizeof(buf));
            buf[i] ^= (uint8_t)(1u << bit);
            file_write(path, buf, sizeof(buf));
            rc = ctr__ckr_open_path(&r, path, CTR__CKPT_KIND_TEST, &a, NULL);
            if (rc == CTR_OK) {
                ctr__ckr_begin_section(&r, TAG_ABCD, NULL);
                ctr__ckr_get_u32(&r);
                ctr__ckr_get_u64(&r);
                ctr__ckr_end_section(&r);
                rc = ctr__ckr_finish(&r);
            }
            ctr__ckr_close(&r);
            ck_assert_msg(rc == CTR_E_CORRUPT || rc == CTR_E_INCOMPATIBLE,
                          "flip of byte %zu bit %d gave %d", i, bit, rc);
        }
    }
    unlink(path);
}
END_TEST

START_TEST(corrupt_version_and_kind)
{
    uint8_t buf[sizeof(tiny_golden)];
    ctr__error err;
    ctr__ckr r;
    ctr__alloc a = sys_alloc();
    const uint32_t versions[] = {0, 2, 0xffffffffu};
    size_t i;
    for (i = 0; i < 3; i++) {
        memcpy(buf, tiny_golden, sizeof(buf));
        store_le32(buf + 8, versions[i]);
        fix_header_crc(buf);
        ck_assert_int_eq(tiny_read(buf, sizeof(buf), CTR__CKPT_KIND_TEST),
                         CTR_E_INCOMPATIBLE);
        /* a future version may change everything after the version field,
         * the header crc included: the version is checked first */
        store_le32(buf + 20, 0);
        ck_assert_int_eq(tiny_read(buf, sizeof(buf), CTR__CKPT_KIND_TEST),
                         CTR_E_INCOMPATIBLE);
    }
    /* a valid TEST file read as an RNG */
    err.msg[0] = '\0';
    ck_assert_int_eq(ctr__ckr_open_buffer(&r, tiny_golden, sizeof(tiny_golden),
                                          CTR__CKPT_KIND_RNG, &a, &err),
                     CTR_E_INCOMPATIBLE);
    ck_assert_ptr_nonnull(strstr(err.msg, "TEST"));
    ck_assert_ptr_nonnull(strstr(err.msg, "RNG_"));
    ctr__ckr_close(&r);
    /* a file of another kind, correctly checksummed */
    memcpy(buf, tiny_golden, sizeof(buf));
    store_le32(buf + 12, CTR__FOURCC('Z', 'Z', 'Z', 'Z'));
    fix_header_crc(buf);
    ck_assert_int_eq(tiny_read(buf, sizeof(buf), CTR__CKPT_KIND_TEST),
                     CTR_E_INCOMPATIBLE);
    ck_assert_int_eq(tiny_read(buf, sizeof(buf),
                               CTR__FOURCC('Z', 'Z', 'Z', 'Z')), CTR_OK);
}
END_TEST

START_TEST(corrupt_reserved_and_magic)
{
    uint8_t buf[sizeof(tiny_golden)];
    /* header reserved field, crc recomputed */
    memcpy(buf, tiny_golden, sizeof(buf));
    store_le32(buf + 16, 1);
    fix_header_crc(buf);
    ck_assert_int_eq(tiny_read(buf, sizeof(buf), CTR__CKPT_KIND_TEST),
                     CTR_E_CORRUPT);
    /* section reserved field, section crc recomputed */
    memcpy(buf, tiny_golden, sizeof(buf));
    store_le32(buf + 28, 0x80000000u);
    store_le32(buf + 52, ctr__crc32(0, buf + 24, 28));
    ck_assert_int_eq(tiny_read(buf, sizeof(buf), CTR__CKPT_KIND_TEST),
                     CTR_E_CORRUPT);
    /* END's reserved field */
    memcpy(buf, tiny_golden, sizeof(buf));
    buf[60] = 1;
    store_le32(buf + 72, ctr__crc32(0, buf + 56, 16));
    ck_assert_int_eq(tiny_read(buf, sizeof(buf), CTR__CKPT_KIND_TEST),
                     CTR_E_CORRUPT);
    /* magic: a PNG-like signature is not ours */
    memcpy(buf, tiny_golden, sizeof(buf));
    buf[1] = 'P';
    fix_header_crc(buf);
    ck_assert_int_eq(tiny_read(buf, sizeof(buf), CTR__CKPT_KIND_TEST),
                     CTR_E_CORRUPT);
    /* NULL / empty buffer sources */
    {
        ctr__ckr r;
        ctr__alloc a = sys_alloc();
        ck_assert_int_eq(ctr__ckr_open_buffer(&r, NULL, 0, CTR__CKPT_KIND_TEST,
                                              &a, NULL), CTR_E_CORRUPT);
        ctr__ckr_close(&r);
        ck_assert_int_eq(ctr__ckr_open_buffer(&r, NULL, 5, CTR__CKPT_KIND_TEST,
                                              &a, NULL), CTR_E_INVALID_ARG);
        ctr__ckr_close(&r);
    }
}
END_TEST

/* A section whose length field claims far more than the file holds, with
 * the crc recomputed as if the payload were empty: rejected from the length
 * alone, before anything is allocated for it. */
static void check_huge_length(uint64_t claim)
{
    uint8_t buf[sizeof(tiny_golden)];
    char path[256];
    ctr_allocator ca;
    test_alloc_state st;
    ctr__alloc a;
    ctr__ckr r;
    ctr__error err;
    uint64_t len = 7;
    memcpy(buf, tiny_golden, sizeof(buf));
    store_le64(buf + 32, claim);
    store_le32(buf + 40, ctr__crc32(0, buf + 24, 16));
    test_alloc_setup(&ca, &st);
    ck_assert_int_eq(ctr__alloc_init(&a, &ca), CTR_OK);
    test_temp_path(path, sizeof(path), "huge.ckpt");
    file_write(path, buf, sizeof(buf));
    ck_assert_int_eq(ctr__ckr_open_path(&r, path, CTR__CKPT_KIND_TEST, &a,
                                        &err), CTR_OK);
    ck_assert_int_eq(ctr__ckr_begin_section(&r, TAG_ABCD, &len),
                     CTR_E_CORRUPT);
    ck_assert_uint_eq(len, 7); /* not written on failure */
    ck_assert_ptr_nonnull(strstr(err.msg, "claims"));
    ck_assert_uint_eq(ctr__ckr_get_u32(&r), 0);
    ck_assert_int_eq(ctr__ckr_finish(&r), CTR_E_CORRUPT);
    ctr__ckr_close(&r);
    ck_assert_int_le(st.peak_bytes, (int64_t)sizeof(buf));
    ck_assert_int_eq(st.calls, 0);
    ck_assert_int_eq(st.live_blocks, 0);
    unlink(path);
    /* and from a buffer */
    ck_assert_int_eq(tiny_read(buf, sizeof(buf), CTR__CKPT_KIND_TEST),
                     CTR_E_CORRUPT);
}

START_TEST(corrupt_huge_section_length)
{
    check_huge_length(UINT64_C(1) << 63);
    check_huge_length(UINT64_C(1) << 40);
    check_huge_length(UINT64_MAX);
    check_huge_length(UINT64_MAX - 15);      /* wraps if added to 16 */
    check_huge_length(sizeof(tiny_golden)); /* merely too long */
    check_huge_length(12 + 20 + 1);         /* one byte past END */
}
END_TEST

START_TEST(corrupt_trailing_data)
{
    uint8_t buf[sizeof(tiny_golden) + 20];
    char path[256];
    ctr__alloc a = sys_alloc();
    ctr__ckr r;
    memcpy(buf, tiny_golden, sizeof(tiny_golden));
    buf[sizeof(tiny_golden)] = 0;
    ck_assert_int_eq(tiny_read(buf, sizeof(tiny_golden) + 1,
                               CTR__CKPT_KIND_TEST), CTR_E_CORRUPT);
    /* a second, valid END section */
    memcpy(buf + sizeof(tiny_golden), tiny_golden + 56, 20);
    ck_assert_int_eq(tiny_read(buf, sizeof(buf), CTR__CKPT_KIND_TEST),
                     CTR_E_CORRUPT);
    test_temp_path(path, sizeof(path), "trail.ckpt");
    file_write(path, buf, sizeof(tiny_golden) + 1);
    ck_assert_int_eq(ctr__ckr_open_path(&r, path, CTR__CKPT_KIND_TEST, &a,
                                        NULL), CTR_OK);
    ctr__ckr_begin_section(&r, TAG_ABCD, NULL);
    ctr__ckr_get_u32(&r);
    ctr__ckr_get_u64(&r);
    ck_assert_int_eq(ctr__ckr_end_section(&r), CTR_OK);
    ck_assert_int_eq(ctr__ckr_finish(&r), CTR_E_CORRUPT);
    ctr__ckr_close(&r);
    unlink(path);
}
END_TEST

START_TEST(corrupt_missing_or_bad_end)
{
    uint8_t buf[sizeof(tiny_golden) + 4];
    /* cut exactly before END: a complete-looking file without END */
    ck_assert_int_eq(tiny_read(tiny_golden, 56, CTR__CKPT_KIND_TEST),
                     CTR_E_CORRUPT);
    /* END with a 4-byte payload, correctly checksummed */
    memcpy(buf, tiny_golden, 56);
    memcpy(buf + 56, tiny_golden + 56, 16);
    store_le64(buf + 64, 4);
    store_le32(buf + 72, 0x01020304u);
    store_le32(buf + 76, ctr__crc32(0, buf + 56, 20));
    ck_assert_int_eq(tiny_read(buf, sizeof(buf), CTR__CKPT_KIND_TEST),
                     CTR_E_CORRUPT);
    /* a different section where END belongs */
    memcpy(buf, tiny_golden, sizeof(tiny_golden));
    memcpy(buf + 56, "XEND", 4);
    store_le32(buf + 72, ctr__crc32(0, buf + 56, 16));
    ck_assert_int_eq(tiny_read(buf, sizeof(tiny_golden), CTR__CKPT_KIND_TEST),
                     CTR_E_CORRUPT);
}
END_TEST

START_TEST(corrupt_read_past_section_end)
{
    ctr__ckr r;
    ctr__alloc a = sys_alloc();
    ctr__error err;
    float f[4] = {1, 2, 3, 4};
    int64_t iv[3] = {5, 6, 7};
    uint8_t by[3] = {8, 9, 10};
    ck_assert_int_eq(ctr__ckr_open_buffer(&r, tiny_golden, sizeof(tiny_golden),
                                          CTR__CKPT_KIND_TEST, &a, &err),
                     CTR_OK);
    ck_assert_int_eq(ctr__ckr_begin_section(&r, TAG_ABCD, NULL), CTR_OK);
    ck_assert_uint_eq(ctr__ckr_get_u64(&r), UINT64_C(0x0506070811223344));
    ck_assert_uint_eq(ctr__ckr_get_u64(&r), 0); /* 4 bytes left: past end */
    ck_assert_int_eq(r.status, CTR_E_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "past the end"));
    /* sticky: everything after yields zeros, even what would fit */
    ck_assert_uint_eq(ctr__ckr_get_u32(&r), 0);
    ck_assert_int_eq(ctr__ckr_get_i64(&r), 0);
    ck_assert(ctr__ckr_get_f64(&r) == 0.0);
    ctr__ckr_get_f32_array(&r, f, 4);
    ctr__ckr_get_i64_array(&r, iv, 3);
    ctr__ckr_get_bytes(&r, by, 3);
    ck_assert(f[0] == 0.0f && f[3] == 0.0f);
    ck_assert(iv[0] == 0 && iv[2] == 0);
    ck_assert(by[0] == 0 && by[2] == 0);
    ck_assert_int_eq(ctr__ckr_end_section(&r), CTR_E_CORRUPT);
    ck_assert_int_eq(ctr__ckr_finish(&r), CTR_E_CORRUPT);
    ctr__ckr_close(&r);

    /* arrays past the end, including a count whose byte size overflows */
    ck_assert_int_eq(ctr__ckr_open_buffer(&r, tiny_golden, sizeof(tiny_golden),
                                          CTR__CKPT_KIND_TEST, &a, NULL),
                     CTR_OK);
    ck_assert_int_eq(ctr__ckr_begin_section(&r, TAG_ABCD, NULL), CTR_OK);
    f[0] = 1.0f;
    ctr__ckr_get_f32_array(&r, f, 4); /* 16 bytes > 12 */
    ck_assert(f[0] == 0.0f);
    ck_assert_int_eq(ctr__ckr_end_section(&r), CTR_E_CORRUPT);
    ctr__ckr_close(&r);
    ck_assert_int_eq(ctr__ckr_open_buffer(&r, tiny_golden, sizeof(tiny_golden),
                                          CTR__CKPT_KIND_TEST, &a, NULL),
                     CTR_OK);
    ck_assert_int_eq(ctr__ckr_begin_section(&r, TAG_ABCD, NULL), CTR_OK);
    ctr__ckr_get_i64_array(&r, iv, SIZE_MAX / 4);
    ck_assert_int_eq(r.status, CTR_E_CORRUPT);
    ctr__ckr_close(&r);
}
END_TEST

START_TEST(corrupt_section_not_consumed)
{
    ctr__ckr r;
    ctr__alloc a = sys_alloc();
    ck_assert_int_eq(ctr__ckr_open_buffer(&r, tiny_golden, sizeof(tiny_golden),
                                          CTR__CKPT_KIND_TEST, &a, NULL),
                     CTR_OK);
    ck_assert_int_eq(ctr__ckr_begin_section(&r, TAG_ABCD, NULL), CTR_OK);
    ctr__ckr_get_u32(&r);
    ck_assert_int_eq(ctr__ckr_end_section(&r), CTR_E_CORRUPT);
    ck_assert_int_eq(ctr__ckr_finish(&r), CTR_E_CORRUPT);
    ctr__ckr_close(&r);
    /* the wrong section where another was expected */
    ck_assert_int_eq(ctr__ckr_open_buffer(&r, tiny_golden, sizeof(tiny_golden),
                                          CTR__CKPT_KIND_TEST, &a, NULL),
                     CTR_OK);
    ck_assert_int_eq(ctr__ckr_begin_section(&r, TAG_A, NULL), CTR_E_CORRUPT);
    ctr__ckr_close(&r);
    /* a section skipped entirely: finish finds it instead of END */
    ck_assert_int_eq(ctr__ckr_open_buffer(&r, tiny_golden, sizeof(tiny_golden),
                                          CTR__CKPT_KIND_TEST, &a, NULL),
                     CTR_OK);
    ck_assert_int_eq(ctr__ckr_finish(&r), CTR_E_CORRUPT);
    ctr__ckr_close(&r);
}
END_TEST

START_TEST(reader_misuse)
{
    ctr__ckr r;
    ctr__alloc a = sys_alloc();
    ck_assert_int_eq(ctr__ckr_open_buffer(&r, tiny_golden, sizeof(tiny_golden),
                                          CTR__CKPT_KIND_TEST, &a, NULL),
                     CTR_OK);
    ck_assert_uint_eq(ctr__ckr_get_u32(&r), 0); /* outside a section */
    ck_assert_int_eq(r.status, CTR_E_INVALID_ARG);
    ctr__ckr_close(&r);
    ck_assert_int_eq(ctr__ckr_open_buffer(&r, tiny_golden, sizeof(tiny_golden),
                                          CTR__CKPT_KIND_TEST, &a, NULL),
                     CTR_OK);
    ck_assert_int_eq(ctr__ckr_begin_section(&r, TAG_ABCD, NULL), CTR_OK);
    ck_assert_int_eq(ctr__ckr_begin_section(&r, TAG_ABCD, NULL),
                     CTR_E_INVALID_ARG);
    ctr__ckr_close(&r);
    ck_assert_int_eq(ctr__ckr_open_buffer(&r, tiny_golden, sizeof(tiny_golden),
                                          CTR__CKPT_KIND_TEST, &a, NULL),
                     CTR_OK);
    ck_assert_int_eq(ctr__ckr_end_section(&r), CTR_E_INVALID_ARG);
    ctr__ckr_close(&r);
    ck_assert_int_eq(ctr__ckr_open_path(&r, NULL, CTR__CKPT_KIND_TEST, &a,
                                        NULL), CTR_E_INVALID_ARG);
    ctr__ckr_close(&r);
    ck_assert_int_eq(ctr__ckr_open_buffer(NULL, tiny_golden, 1,
                                          CTR__CKPT_KIND_TEST, &a, NULL),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr__ckr_finish(NULL), CTR_E_INVALID_ARG);
    ctr__ckr_close(NULL);
}
END_TEST

/* ---- the buffer sink ---------------------------------------------------------- */

START_TEST(buffer_too_small_every_cap)
{
    static sample in;
    enum { GUARD = 64 };
    size_t len, cap, size, i;
    uint8_t *full, *buf;
    ctr__ckw w;
    ctr__error err;
    sample_fill(&in, 700, 20, 9); /* spans a chunk in the f32 array */
    full = sample_to_buffer(&in, &len);
    buf = malloc(len + GUARD);
    ck_assert_ptr_nonnull(buf);
    for (cap = 0; cap < len; cap++) {
        memset(buf, 0xa5, len + GUARD);
        size = 0;
        ck_assert_int_eq(ctr__ckw_to_buffer(&w, buf, cap, CTR__CKPT_KIND_TEST,
                                            &err), CTR_OK);
        sample_write(&w, &in);
        ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_E_BUFFER_TOO_SMALL);
        ck_assert_uint_eq(size, len);
        /* what was written is the true prefix; nothing past cap (the
         * scan asserts once: every ck_assert costs a write to Check) */
        ck_assert(memcmp(buf, full, cap) == 0);
        for (i = cap; i < len + GUARD && buf[i] == 0xa5; i++)
            ;
        ck_assert_msg(i == len + GUARD, "cap %zu: byte %zu written", cap, i);
        ctr__ckw_abort(&w); /* harmless after finish */
    }
    ck_assert_ptr_nonnull(strstr(err.msg, "needs"));
    /* exactly enough */
    ck_assert_int_eq(ctr__ckw_to_buffer(&w, buf, len, CTR__CKPT_KIND_TEST,
                                        NULL), CTR_OK);
    sample_write(&w, &in);
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_OK);
    ck_assert(memcmp(buf, full, len) == 0);
    ck_assert_uint_eq(buf[len], 0xa5);
    /* NULL with cap 0 is a size query that reports too small */
    ck_assert_int_eq(ctr__ckw_to_buffer(&w, NULL, 0, CTR__CKPT_KIND_TEST,
                                        NULL), CTR_OK);
    sample_write(&w, &in);
    size = 0;
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_E_BUFFER_TOO_SMALL);
    ck_assert_uint_eq(size, len);
    free(buf);
    free(full);
}
END_TEST

START_TEST(writer_misuse)
{
    uint8_t buf[128];
    size_t size = 1;
    ctr__ckw w;
    float f = 1.0f;
    /* NULL buffer with a capacity */
    ck_assert_int_eq(ctr__ckw_to_buffer(&w, NULL, 8, CTR__CKPT_KIND_TEST,
                                        NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_E_INVALID_ARG);
    ck_assert_uint_eq(size, 0);
    /* a field outside any section; then everything is a no-op */
    ctr__ckw_to_buffer(&w, buf, sizeof(buf), CTR__CKPT_KIND_TEST, NULL);
    ctr__ckw_put_u32(&w, 1);
    ck_assert_int_eq(w.status, CTR_E_INVALID_ARG);
    ctr__ckw_begin_section(&w, TAG_A);
    ctr__ckw_put_f32_array(&w, &f, 1);
    ctr__ckw_end_section(&w);
    ck_assert_int_eq(ctr__ckw_finish(&w, NULL), CTR_E_INVALID_ARG);
    /* nested sections */
    ctr__ckw_to_size(&w, CTR__CKPT_KIND_TEST, NULL);
    ctr__ckw_begin_section(&w, TAG_A);
    ctr__ckw_begin_section(&w, TAG_B);
    ck_assert_int_eq(ctr__ckw_finish(&w, NULL), CTR_E_INVALID_ARG);
    /* the END tag is the writer's own */
    ctr__ckw_to_size(&w, CTR__CKPT_KIND_TEST, NULL);
    ctr__ckw_begin_section(&w, CTR__CKPT_TAG_END);
    ck_assert_int_eq(ctr__ckw_finish(&w, NULL), CTR_E_INVALID_ARG);
    /* a section left open */
    ctr__ckw_to_size(&w, CTR__CKPT_KIND_TEST, NULL);
    ctr__ckw_begin_section(&w, TAG_A);
    ck_assert_int_eq(ctr__ckw_finish(&w, NULL), CTR_E_INVALID_ARG);
    /* ending a section that was not begun; NULL arrays with a count */
    ctr__ckw_to_size(&w, CTR__CKPT_KIND_TEST, NULL);
    ctr__ckw_end_section(&w);
    ck_assert_int_eq(ctr__ckw_finish(&w, NULL), CTR_E_INVALID_ARG);
    ctr__ckw_to_size(&w, CTR__CKPT_KIND_TEST, NULL);
    ctr__ckw_begin_section(&w, TAG_A);
    ctr__ckw_put_bytes(&w, NULL, 3);
    ck_assert_int_eq(ctr__ckw_finish(&w, NULL), CTR_E_INVALID_ARG);
    /* finishing twice */
    ctr__ckw_to_size(&w, CTR__CKPT_KIND_TEST, NULL);
    ck_assert_int_eq(ctr__ckw_finish(&w, NULL), CTR_OK);
    ck_assert_int_eq(ctr__ckw_finish(&w, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr__ckw_to_size(NULL, CTR__CKPT_KIND_TEST, NULL),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr__ckw_finish(NULL, NULL), CTR_E_INVALID_ARG);
    ctr__ckw_abort(NULL);
}
END_TEST

/* The size sink counts without encoding: a section of 2^40 floats is
 * measured instantly (the pointer is never read past its first chunk). */
START_TEST(size_sink_large)
{
    ctr__ckw w;
    size_t size = 0;
    float f = 0.0f;
    if (SIZE_MAX < UINT64_MAX)
        return; /* 32-bit hosts cannot express the size */
    ctr__ckw_to_size(&w, CTR__CKPT_KIND_TEST, NULL);
    ctr__ckw_begin_section(&w, TAG_A);
    ctr__ckw_put_f32_array(&w, &f, (size_t)(UINT64_C(1) << 40));
    ctr__ckw_end_section(&w);
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_OK);
    ck_assert_uint_eq((uint64_t)size, (UINT64_C(1) << 42) + 24 + 20 + 20);
    /* and one that does not fit in size_t */
    ctr__ckw_to_size(&w, CTR__CKPT_KIND_TEST, NULL);
    ctr__ckw_begin_section(&w, TAG_A);
    ctr__ckw_put_i64_array(&w, (const int64_t *)(const void *)&f, SIZE_MAX / 4);
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_E_OVERFLOW);
}
END_TEST

/* ---- atomic writes to a path ---------------------------------------------- */

typedef test_dir fixture_dir;

static void dir_setup(fixture_dir *fx, const char *name)
{
    test_dir_setup(fx, name, "state.ckpt");
}

#define dir_teardown test_dir_teardown

/* Writes the tiny file holding `value` and returns the status. */
static int tiny_value_to_path(const char *path, uint32_t value)
{
    ctr__ckw w;
    ctr__alloc a = sys_alloc();
    ctr__ckw_to_path(&w, path, CTR__CKPT_KIND_TEST, &a, NULL);
    ctr__ckw_begin_section(&w, TAG_A);
    ctr__ckw_put_u32(&w, value);
    ctr__ckw_end_section(&w);
    return ctr__ckw_finish(&w, NULL);
}

static uint32_t tiny_value_from_path(const char *path)
{
    ctr__ckr r;
    ctr__alloc a = sys_alloc();
    uint32_t v;
    ck_assert_int_eq(ctr__ckr_open_path(&r, path, CTR__CKPT_KIND_TEST, &a,
                                        NULL), CTR_OK);
    ck_assert_int_eq(ctr__ckr_begin_section(&r, TAG_A, NULL), CTR_OK);
    v = ctr__ckr_get_u32(&r);
    ck_assert_int_eq(ctr__ckr_end_section(&r), CTR_OK);
    ck_assert_int_eq(ctr__ckr_finish(&r), CTR_OK);
    ctr__ckr_close(&r);
    return v;
}

START_TEST(atomic_replace)
{
    fixture_dir fx;
    dir_setup(&fx, "atomic-replace");
    ck_assert_int_eq(tiny_value_to_path(fx.path, 1), CTR_OK);
    ck_assert_uint_eq(tiny_value_from_path(fx.path), 1);
    ck_assert_int_eq(tiny_value_to_path(fx.path, 2), CTR_OK);
    ck_assert_uint_eq(tiny_value_from_path(fx.path), 2);
    ck_assert_int_eq(dir_entries(fx.dir), 1);
    dir_teardown(&fx);
}
END_TEST

START_TEST(atomic_abort_keeps_old_file)
{
    fixture_dir fx;
    ctr__ckw w;
    ctr__alloc a = sys_alloc();
    static float big[5000];
    dir_setup(&fx, "atomic-abort");
    ck_assert_int_eq(tiny_value_to_path(fx.path, 1), CTR_OK);
    /* abort midway, after enough data that stdio has written some */
    ck_assert_int_eq(ctr__ckw_to_path(&w, fx.path, CTR__CKPT_KIND_TEST, &a,
                                      NULL), CTR_OK);
    ck_assert_int_ge(w.save.fd, 0);
    ck_assert_ptr_nonnull(w.save.tmp_path);
    if (w.save.named) { /* no O_TMPFILE here: the temporary has a name */
        ck_assert_int_eq(strncmp(w.save.tmp_path, fx.path, strlen(fx.path)), 0);
        ck_assert_int_eq(strncmp(w.save.tmp_path + strlen(fx.path), ".tmp-", 5), 0);
    }
    ctr__ckw_begin_section(&w, TAG_A);
    ctr__ckw_put_f32_array(&w, big, 5000);
    /* the temporary file, if it has a name */
    ck_assert_int_eq(dir_entries(fx.dir), 1 + w.save.named);
    ctr__ckw_abort(&w);
    ctr__ckw_abort(&w); /* twice is harmless */
    ck_assert_int_eq(dir_entries(fx.dir), 1);
    ck_assert_uint_eq(tiny_value_from_path(fx.path), 1);
    dir_teardown(&fx);
}
END_TEST

START_TEST(atomic_error_keeps_old_file)
{
    fixture_dir fx;
    ctr__ckw w;
    ctr__alloc a = sys_alloc();
    size_t size = 7;
    dir_setup(&fx, "atomic-error");
    ck_assert_int_eq(tiny_value_to_path(fx.path, 1), CTR_OK);
    /* a writer error midway (here: misuse) fails the finish */
    ctr__ckw_to_path(&w, fx.path, CTR__CKPT_KIND_TEST, &a, NULL);
    ctr__ckw_begin_section(&w, TAG_A);
    ctr__ckw_put_u32(&w, 2);
    ctr__ckw_end_section(&w);
    ctr__ckw_put_u32(&w, 3); /* outside a section */
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_E_INVALID_ARG);
    ck_assert_uint_eq(size, 0);
    ck_assert_int_eq(dir_entries(fx.dir), 1);
    ck_assert_uint_eq(tiny_value_from_path(fx.path), 1);
    /* a section left open */
    ctr__ckw_to_path(&w, fx.path, CTR__CKPT_KIND_TEST, &a, NULL);
    ctr__ckw_begin_section(&w, TAG_A);
    ck_assert_int_eq(ctr__ckw_finish(&w, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(dir_entries(fx.dir), 1);
    ck_assert_uint_eq(tiny_value_from_path(fx.path), 1);
    dir_teardown(&fx);
}
END_TEST

START_TEST(atomic_rename_failure)
{
    /* the target is a non-empty directory: everything succeeds up to the
     * rename, which fails; the temporary file must go */
    fixture_dir fx;
    char inner[400];
    ctr__error err;
    dir_setup(&fx, "atomic-rename");
    ck_assert_int_eq(mkdir(fx.path, 0700), 0);
    snprintf(inner, sizeof(inner), "%s/x", fx.path);
    file_write(inner, "x", 1);
    {
        ctr__ckw w;
        ctr__alloc a = sys_alloc();
        ctr__ckw_to_path(&w, fx.path, CTR__CKPT_KIND_TEST, &a, &err);
        tiny_write(&w);
        ck_assert_int_eq(ctr__ckw_finish(&w, NULL), CTR_E_IO);
        ck_assert_ptr_nonnull(strstr(err.msg, "rename"));
    }
    ck_assert_int_eq(dir_entries(fx.dir), 1);
    ck_assert_int_eq(unlink(inner), 0);
    ck_assert_int_eq(rmdir(fx.path), 0);
    ck_assert_int_eq(rmdir(fx.dir), 0);
}
END_TEST

START_TEST(io_missing_directory_and_file)
{
    char base[256], path[400];
    ctr__ckw w;
    ctr__ckr r;
    ctr__error err;
    ctr__alloc a = sys_alloc();
    size_t size = 5;
    test_temp_path(base, sizeof(base), "no-such-dir");
    snprintf(path, sizeof(path), "%s/state.ckpt", base);
    err.msg[0] = '\0';
    ck_assert_int_eq(ctr__ckw_to_path(&w, path, CTR__CKPT_KIND_TEST, &a, &err),
                     CTR_E_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, strerror(ENOENT)));
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    tiny_write(&w); /* no-ops */
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_E_IO);
    ck_assert_uint_eq(size, 0);
    ctr__ckw_abort(&w);
    /* loading a missing file */
    err.msg[0] = '\0';
    ck_assert_int_eq(ctr__ckr_open_path(&r, path, CTR__CKPT_KIND_TEST, &a,
                                        &err), CTR_E_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, strerror(ENOENT)));
    ck_assert_ptr_null(r.file);
    ck_assert_int_eq(ctr__ckr_begin_section(&r, TAG_A, NULL), CTR_E_IO);
    ctr__ckr_close(&r);
    /* loading a directory */
    ck_assert_int_eq(ctr__ckr_open_path(&r, ".", CTR__CKPT_KIND_TEST, &a,
                                        NULL), CTR_E_IO);
    ctr__ckr_close(&r);
    /* bad arguments */
    ck_assert_int_eq(ctr__ckw_to_path(&w, "", CTR__CKPT_KIND_TEST, &a, NULL),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr__ckw_finish(&w, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr__ckw_to_path(&w, NULL, CTR__CKPT_KIND_TEST, &a, NULL),
                     CTR_E_INVALID_ARG);
    ctr__ckw_abort(&w);
}
END_TEST

/* ---- allocation failures -------------------------------------------------- */

typedef struct nomem_ctx {
    const char *path;
    const sample *in;
} nomem_ctx;

static int attempt_write_read(const ctr_allocator *ca, void *vctx)
{
    static sample out;
    nomem_ctx *ctx = (nomem_ctx *)vctx;
    ctr__alloc a;
    int rc;
    ck_assert_int_eq(ctr__alloc_init(&a, ca), CTR_OK);
    unlink(ctx->path);
    rc = write_sample_path(ctx->path, ctx->in, &a, NULL);
    if (rc != CTR_OK) {
        ck_assert_int_ne(access(ctx->path, F_OK), 0); /* nothing written */
        return rc;
    }
    rc = read_path(ctx->path, &a, &out);
    if (rc == CTR_OK)
        sample_check(&out, ctx->in);
    return rc;
}

START_TEST(nomem_every_allocation)
{
    static sample in;
    fixture_dir fx;
    nomem_ctx ctx;
    int64_t failures;
    dir_setup(&fx, "nomem");
    sample_fill(&in, MAX_F32, MAX_I64, MAX_BYTES);
    ctx.path = fx.path;
    ctx.in = &in;
    failures = test_every_alloc_failure(attempt_write_read, &ctx);
    /* the temporary name, then the sections as they grow */
    ck_assert_int_ge(failures, 2);
    ck_assert_int_eq(dir_entries(fx.dir), 1);
    dir_teardown(&fx);
}
END_TEST

/* ---- the suite ------------------------------------------------------------- */

Suite *ctr_test_checkpoint_suite(void);

Suite *ctr_test_checkpoint_suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc;

    tc = tcase_create("crc");
    tcase_add_test(tc, crc_check_value);
    tcase_add_test(tc, crc_matches_reference);
    suite_add_tcase(s, tc);

    tc = tcase_create("roundtrip");
    tcase_add_test(tc, roundtrip_path);
    tcase_add_test(tc, roundtrip_buffer_and_size);
    tcase_add_test(tc, roundtrip_special_values);
    tcase_add_test(tc, roundtrip_empty_checkpoint);
    tcase_add_test(tc, roundtrip_lengths_and_remaining);
    tcase_add_test(tc, roundtrip_path_allocation_bounded);
    suite_add_tcase(s, tc);

    tc = tcase_create("format");
    tcase_add_test(tc, format_golden_bytes);
    tcase_add_test(tc, format_fields_by_hand);
    tcase_add_test(tc, format_section_crc_large);
    suite_add_tcase(s, tc);

    tc = tcase_create("corrupt");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, corrupt_truncation_buffer);
    tcase_add_test(tc, corrupt_truncation_path);
    tcase_add_test(tc, corrupt_every_bit_flip);
    tcase_add_test(tc, corrupt_bit_flips_path);
    tcase_add_test(tc, corrupt_version_and_kind);
    tcase_add_test(tc, corrupt_reserved_and_magic);
    tcase_add_test(tc, corrupt_huge_section_length);
    tcase_add_test(tc, corrupt_trailing_data);
    tcase_add_test(tc, corrupt_missing_or_bad_end);
    tcase_add_test(tc, corrupt_read_past_section_end);
    tcase_add_test(tc, corrupt_section_not_consumed);
    tcase_add_test(tc, reader_misuse);
    suite_add_tcase(s, tc);

    tc = tcase_create("sinks");
    tcase_add_test(tc, buffer_too_small_every_cap);
    tcase_add_test(tc, writer_misuse);
    tcase_add_test(tc, size_sink_large);
    suite_add_tcase(s, tc);

    tc = tcase_create("atomic");
    tcase_add_test(tc, atomic_replace);
    tcase_add_test(tc, atomic_abort_keeps_old_file);
    tcase_add_test(tc, atomic_error_keeps_old_file);
    tcase_add_test(tc, atomic_rename_failure);
    tcase_add_test(tc, io_missing_directory_and_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("nomem");
    tcase_add_test(tc, nomem_every_allocation);
    suite_add_tcase(s, tc);

    return s;
}
