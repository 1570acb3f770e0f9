/*
 * gemm_calls.c - a diagnostic, not built by make: an LD_PRELOAD shim that
 * lists every cblas_sgemm call of a program by its exact arguments
 * (transpositions, m, n, k, lda, ldb, ldc, beta) with their count, wall
 * and process CPU time and GFLOP/s, printed to stderr at exit. It answers
 * "do our GEMMs cost more than the floor's?" call by call (issue 17,
 * docs/performance.md):
 *
 *   cc -O2 -shared -fPIC -I/usr/include/x86_64-linux-gnu/openblas-openmp \
 *       -o gemm_calls.so bench/gemm_calls.c -ldl
 *   OMP_NUM_THREADS=2 LD_PRELOAD=./gemm_calls.so \
 *       build/bench/bench_encoder --threads 2 --reps 7 --cases cnn_step
 *
 * The library and the bench call the shared OpenBLAS, so both go through
 * the shim; the floor's calls are the ones with the whole batch in n or k.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>

#include <cblas.h>

typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE,
                         const enum CBLAS_TRANSPOSE, const blasint, const blasint,
                         const blasint, const float, const float *, const blasint,
                         const float *, const blasint, const float, float *, const blasint);

#define MAX_SHAPES 256

typedef struct shape {
    int ta, tb, m, n, k, lda, ldb, ldc;
    float beta;
    long count;
    double wall_ns, cpu_ns;
} shape;

static shape shapes[MAX_SHAPES];
static int n_shapes;

static double clock_ns(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static shape *find(const shape *key)
{
    int i;
    for (i = 0; i < n_shapes; i++) {
        const shape *s = &shapes[i];
        if (s->ta == key->ta && s->tb == key->tb && s->m == key->m && s->n == key->n &&
            s->k == key->k && s->lda == key->lda && s->ldb == key->ldb &&
            s->ldc == key->ldc && s->beta == key->beta)
            return &shapes[i];
    }
    if (n_shapes == MAX_SHAPES)
        return NULL;
    shapes[n_shapes] = *key;
    return &shapes[n_shapes++];
}

void cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                 const enum CBLAS_TRANSPOSE tb, const blasint m, const blasint n,
                 const blasint k, const float alpha, const float *a, const blasint lda,
                 const float *b, const blasint ldb, const float beta, float *c,
                 const blasint ldc)
{
    static sgemm_fn real;
    shape key = {ta == CblasTrans, tb == CblasTrans, m, n, k, lda, ldb, ldc, beta, 0, 0, 0};
    shape *s;
    double w0, c0;
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "cblas_sgemm");
    w0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    real(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    s = find(&key);
    if (s == NULL)
        return;
    s->count++;
    s->wall_ns += clock_ns(CLOCK_MONOTONIC) - w0;
    s->cpu_ns += clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
}

__attribute__((destructor)) static void report(void)
{
    int i;
    for (i = 0; i < n_shapes; i++) {
        const shape *s = &shapes[i];
        double flop = 2.0 * s->m * s->n * s->k * (double)s->count;
        fprintf(stderr,
                "%c%c m=%6d n=%7d k=%7d lda=%7d ldb=%7d ldc=%7d beta=%g calls=%5ld "
                "wall=%8.1f ms cpu=%8.1f ms GFLOP/s wall=%6.1f cpu=%6.1f\n",
                s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->m, s->n, s->k, s->lda, s->ldb, s->ldc,
                (double)s->beta, s->count, s->wall_ns / 1e6, s->cpu_ns / 1e6,
                flop / s->wall_ns, flop / s->cpu_ns);
    }
}
