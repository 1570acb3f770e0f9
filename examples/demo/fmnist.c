/*
 * fmnist.c - IDX reader over zlib's gzip stream, validating every header
 * field and length before trusting it.
 */
#include "fmnist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

const char *const fmnist_class_names[FMNIST_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Reads exactly n bytes; 0 on success. */
static int read_exact(gzFile f, void *dst, size_t n)
{
    unsigned char *p = (unsigned char *)dst;
    while (n > 0) {
        unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
        int got = gzread(f, p, chunk);
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Opens an IDX file, checks its magic (0x00000800 | dims) and reads the
 * dimension sizes. Returns the open file or NULL with a message. */
static gzFile open_idx(const char *path, int dims, uint32_t *sizes, char *err,
                       size_t cap)
{
    unsigned char head[16];
    gzFile f = gzopen(path, "rb");
    int i;
    if (f == NULL) {
        snprintf(err, cap, "cannot open %s (install Debian's dataset-fashion-mnist "
                           "or pass --data DIR)", path);
        return NULL;
    }
    if (read_exact(f, head, 4 + 4 * (size_t)dims) != 0 ||
        be32(head) != (0x00000800u | (uint32_t)dims)) {
        snprintf(err, cap, "%s is not an IDX file with %d dimensions of bytes",
                 path, dims);
        gzclose(f);
        return NULL;
    }
    for (i = 0; i < dims; i++)
        sizes[i] = be32(head + 4 + 4 * i);
    return f;
}

static int load_labels(fmnist_split *s, const char *path, char *err, size_t cap)
{
    uint32_t n;
    unsigned char *raw;
    gzFile f = open_idx(path, 1, &n, err, cap);
    int64_t i;
    if (f == NULL)
        return -1;
    raw = (unsigned char *)malloc(n ? n : 1);
    s->labels = (int64_t *)malloc((n ? n : 1) * sizeof(int64_t));
    if (raw == NULL || s->labels == NULL || read_exact(f, raw, n) != 0) {
        snprintf(err, cap, "%s: truncated or out of memory", path);
        free(raw);
        gzclose(f);
        return -1;
    }
    gzclose(f);
    for (i = 0; i < (int64_t)n; i++) {
        if (raw[i] >= FMNIST_CLASSES) {
            snprintf(err, cap, "%s: label %u out of range", path, raw[i]);
            free(raw);
            return -1;
        }
        s->labels[i] = raw[i];
    }
    free(raw);
    s->count = n;
    return 0;
}

static int load_images(fmnist_split *s, const char *path, char *err, size_t cap)
{
    uint32_t dims[3];
    unsigned char *raw;
    size_t n, i;
    gzFile f = open_idx(path, 3, dims, err, cap);
    if (f == NULL)
        return -1;
    if (dims[0] != (uint32_t)s->count || dims[1] != FMNIST_SIDE ||
        dims[2] != FMNIST_SIDE) {
        snprintf(err, cap, "%s: %u images of %ux%u, expected %lld of 28x28",
                 path, dims[0], dims[1], dims[2], (long long)s->count);
        gzclose(f);
        return -1;
    }
    n = (size_t)s->count * FMNIST_PIXELS;
    raw = (unsigned char *)malloc(n);
    s->images = (float *)malloc(n * sizeof(float));
    if (raw == NULL || s->images == NULL || read_exact(f, raw, n) != 0) {
        snprintf(err, cap, "%s: truncated or out of memory", path);
        free(raw);
        gzclose(f);
        return -1;
    }
    gzclose(f);
    for (i = 0; i < n; i++)
        s->images[i] = (float)raw[i] / 255.0f;
    free(raw);
    return 0;
}

int fmnist_load(fmnist_split *out, const char *dir, const char *prefix,
                char *err, size_t cap)
{
    char path[4096];
    memset(out, 0, sizeof(*out));
    snprintf(path, sizeof(path), "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    if (load_labels(out, path, err, cap) != 0) {
        fmnist_free(out);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    if (load_images(out, path, err, cap) != 0) {
        fmnist_free(out);
        return -1;
    }
    return 0;
}

void fmnist_free(fmnist_split *split)
{
    free(split->images);
    free(split->labels);
    memset(split, 0, sizeof(*split));
}
