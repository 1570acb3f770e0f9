/*
 * fmnist.h - loading Fashion-MNIST's IDX files (gzip-compressed, as
 * Debian's dataset-fashion-mnist installs them) with zlib.
 */
#ifndef DEMO_FMNIST_H
#define DEMO_FMNIST_H

#include <stddef.h>
#include <stdint.h>

#define FMNIST_SIDE 28
#define FMNIST_PIXELS (FMNIST_SIDE * FMNIST_SIDE)
#define FMNIST_CLASSES 10
#define FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

typedef struct fmnist_split {
    int64_t count;
    float *images;   /* count × 784, pixels scaled to [0, 1] */
    int64_t *labels; /* count, 0..9 */
} fmnist_split;

/* The ten class names, in label order. */
extern const char *const fmnist_class_names[FMNIST_CLASSES];

/* Loads "<dir>/<prefix>-images-idx3-ubyte.gz" and the matching labels
 * (prefix "train" or "t10k"). On failure writes a message into err (cap
 * bytes) and returns -1; the split is left empty. */
int fmnist_load(fmnist_split *out, const char *dir, const char *prefix,
                char *err, size_t cap);
void fmnist_free(fmnist_split *split);

#endif /* DEMO_FMNIST_H */
