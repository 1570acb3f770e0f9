/*
 * omp_regions.c - a diagnostic, not built by make: an LD_PRELOAD shim that
 * counts the OpenMP parallel regions a program opens outside BLAS (libgomp's
 * GOMP_parallel, which gcc's `omp parallel` calls), by the function that
 * runs in them, with their wall time, printed to stderr at exit (issue 17,
 * docs/performance.md: regions per mlp_simclr_step). Regions whose
 * function lives in a shared object named *blas* (OpenBLAS's, opened
 * inside its GEMMs) are not counted, nor regions opened inside a counted
 * one. Counting starts when the program sets OMP_REGIONS_ON in its
 * environment, or at once when it is set before the start; OMP_REGIONS_PER
 * divides the counts (the steps run). Names: `addr2line -f -e PROGRAM 0xOFFSET`.
 *
 *   cc -O2 -shared -fPIC -o omp_regions.so bench/omp_regions.c -ldl
 *   CTR_BENCH_DIAG=1 OMP_REGIONS_ON=1 OMP_REGIONS_PER=13 OMP_NUM_THREADS=2 \
 *       LD_PRELOAD=./omp_regions.so build/bench/bench_encoder --threads 2 \
 *       --reps 9 --cases mlp_simclr_step
 *
 * (bench_encoder runs two warm-up steps and at least reps more, more when
 * they take under 0.5 s; CTR_BENCH_DIAG=1 prints how many. Its floors open
 * no region outside their GEMMs. mlp_simclr_step: 23 regions per step
 * before this session's changes, 14 after.)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*parallel_fn)(void (*)(void *), void *, unsigned, unsigned);

#define MAX_REGIONS 256

static struct {
    void *fn;
    long count;
    double ns;
} regions[MAX_REGIONS];
static int n_regions;
static __thread int depth;

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void record(void *fn, double ns)
{
    Dl_info info;
    int i;
    if (dladdr(fn, &info) == 0 || (info.dli_fname != NULL && strstr(info.dli_fname, "blas")))
        return; /* OpenBLAS's, inside a GEMM */
    for (i = 0; i < n_regions && regions[i].fn != fn; i++)
        ;
    if (i == n_regions && n_regions == MAX_REGIONS)
        return;
    if (i == n_regions)
        regions[n_regions++].fn = fn;
    regions[i].count++;
    regions[i].ns += ns;
}

void GOMP_parallel(void (*fn)(void *), void *data, unsigned threads, unsigned flags)
{
    static parallel_fn real;
    double t0;
    if (real == NULL)
        real = (parallel_fn)dlsym(RTLD_NEXT, "GOMP_parallel");
    if (depth > 0 || getenv("OMP_REGIONS_ON") == NULL) {
        real(fn, data, threads, flags);
        return;
    }
    depth++;
    t0 = now_ns();
    real(fn, data, threads, flags);
    t0 = now_ns() - t0;
    depth--;
    record((void *)fn, t0);
}

__attribute__((destructor)) static void report(void)
{
    const char *per_env = getenv("OMP_REGIONS_PER");
    double per = per_env != NULL && atof(per_env) > 0 ? atof(per_env) : 1.0;
    long total = 0;
    int i;
    for (i = 0; i < n_regions; i++) {
        Dl_info info;
        unsigned long off = 0;
        if (dladdr(regions[i].fn, &info) != 0)
            off = (unsigned long)((char *)regions[i].fn - (char *)info.dli_fbase);
        fprintf(stderr, "region 0x%lx: %.2f per step, %.1f us per step (%.1f us each)\n", off,
                (double)regions[i].count / per, regions[i].ns / per / 1e3,
                regions[i].ns / (double)regions[i].count / 1e3);
        total += regions[i].count;
    }
    fprintf(stderr, "regions: %.2f per step\n", (double)total / per);
}
