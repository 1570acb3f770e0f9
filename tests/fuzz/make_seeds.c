/*
 * make_seeds.c - writes the seed corpora of the fuzz targets:
 *   make_seeds DIR   ->   DIR/<target>/seed-<n> for every target
 * The seeds are made through the public API (tests/fuzz/seeds.c), so none
 * is committed; `make fuzz` and `make fuzz-smoke` run this first.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fuzz/fuzz.h"

typedef struct out_dir {
    char dir[512];
    int n, failed;
} out_dir;

static void write_seed(void *ctx, const uint8_t *data, size_t size)
{
    out_dir *o = (out_dir *)ctx;
    char path[600];
    FILE *f;
    snprintf(path, sizeof(path), "%s/seed-%d", o->dir, o->n++);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size)
        o->failed = 1;
    if (f != NULL && fclose(f) != 0)
        o->failed = 1;
}

int main(int argc, char **argv)
{
    const ctr_fuzz_target *t;
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    if (mkdir(argv[1], 0755) != 0 && errno != EEXIST) {
        perror(argv[1]);
        return 1;
    }
    for (t = ctr_fuzz_targets; t->name != NULL; t++) {
        out_dir o;
        o.n = 0;
        o.failed = 0;
        snprintf(o.dir, sizeof(o.dir), "%s/%s", argv[1], t->name);
        if (mkdir(o.dir, 0755) != 0 && errno != EEXIST) {
            perror(o.dir);
            return 1;
        }
        ctr_fuzz_seeds(t->name, write_seed, &o);
        if (o.failed || o.n == 0) {
            fprintf(stderr, "make_seeds: cannot write the seeds of %s\n", t->name);
            return 1;
        }
        printf("make_seeds: %d seeds for %s\n", o.n, t->name);
    }
    return 0;
}
