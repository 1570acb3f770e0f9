/*
 * bench_util.h - what the bench programs share: the BLAS thread setter
 * (the bench program is the host, so it sets the thread count; the library
 * never does), a counting allocator for the library's peak memory, and the
 * timing loop. Header-only: each bench program is one translation unit.
 */
#ifndef CTR_BENCH_UTIL_H
#define CTR_BENCH_UTIL_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contrastive.h"

#if defined(CTR_OPENMP)
/* The OpenMP build (make OPENMP=1): one pool for the library's passes and
 * OpenBLAS, sized by the host's omp_set_num_threads. */
#include <omp.h>
void openblas_set_num_threads(int);
static inline void set_blas_threads(int t)
{
    omp_set_num_threads(t);
    openblas_set_num_threads(t);
}
#elif defined(CTR_BLAS_OPENBLAS)
void openblas_set_num_threads(int);
static inline void set_blas_threads(int t) { openblas_set_num_threads(t); }
#elif defined(CTR_BLAS_BLIS)
void bli_thread_set_num_threads(long);
static inline void set_blas_threads(int t) { bli_thread_set_num_threads(t); }
#else
static inline void set_blas_threads(int t) { (void)t; }
#endif

/* ---- a counting allocator: peak bytes the library holds ---------------- */

typedef struct counter {
    size_t live, peak;
} counter;

static inline void *count_alloc(void *user, size_t size, size_t align)
{
    counter *c = (counter *)user;
    void *p = NULL;
    if (posix_memalign(&p, align, size) != 0)
        return NULL;
    c->live += size;
    if (c->live > c->peak)
        c->peak = c->live;
    return p;
}

static inline void count_free(void *user, void *ptr, size_t size)
{
    counter *c = (counter *)user;
    c->live -= size;
    free(ptr);
}

/* a: an allocator that counts into c (reset). */
static inline void counting_allocator(ctr_allocator *a, counter *c)
{
    memset(c, 0, sizeof(*c));
    ctr_allocator_init(a);
    a->user = c;
    a->alloc = count_alloc;
    a->free = count_free;
}

static inline double peak_mib(const counter *c) { return (double)c->peak / (1024.0 * 1024.0); }

/* ---- timing ---------------------------------------------------------------- */

static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* The clock of median_ms: the wall clock, or with CTR_BENCH_CPU=1 in the
 * environment the process's CPU time (every thread's), which a loaded
 * machine disturbs less: a case's ours/floor ratio then compares the work
 * done, not how well it used the cores. */
static inline double bench_clock_ms(int cpu)
{
    struct timespec ts;
    if (!cpu)
        return now_ms();
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void (*bench_fn)(void *ctx);

/* Median time of one call of f: after two warm-up samples, at least `reps`
 * samples and, for short cases, 0.5 s of them (at most 4000) so that a
 * burst of load from other processes moves the median less; times are
 * CPU time with CTR_BENCH_CPU=1 (bench_clock_ms). A sample
 * times `inner` consecutive calls (for calls too short for the clock) and
 * divides. */
static inline double median_ms(bench_fn f, void *ctx, int reps, int inner)
{
    const int cap = reps > 4000 ? reps : 4000;
    double *t = (double *)malloc((size_t)cap * sizeof(double)), m, total = 0;
    const char *cpu_env = getenv("CTR_BENCH_CPU");
    int i = 0, k, cpu = cpu_env != NULL && strcmp(cpu_env, "1") == 0;
    if (t == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    for (k = 0; k < 2 * inner; k++)
        f(ctx);
    while (i < cap && (i < reps || total < 500.0)) {
        double t0 = bench_clock_ms(cpu), dt;
        for (k = 0; k < inner; k++)
            f(ctx);
        dt = bench_clock_ms(cpu) - t0;
        total += dt;
        t[i++] = dt / inner;
    }
    qsort(t, (size_t)i, sizeof(double), cmp_double);
    m = i % 2 ? t[i / 2] : 0.5 * (t[i / 2 - 1] + t[i / 2]);
    free(t);
    return m;
}

/* ---- a bench program's driver ------------------------------------------------ */

typedef struct bench_entry {
    const char *name;
    void (*run)(int threads, int reps);
} bench_entry;

/* 1 if `name` is in the comma-separated list (NULL or empty: every case). */
static inline int bench_selected(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;
    if (list == NULL || *list == '\0')
        return 1;
    while ((p = strstr(p, name)) != NULL) {
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
        p += n;
    }
    return 0;
}

/* main() of a bench program: --threads T [--cases a,b] [--reps N] [--list]. */
static inline int bench_main(int argc, char **argv, const bench_entry *cases, size_t count,
                             int default_reps)
{
    int threads = 1, reps = default_reps, i;
    const char *wanted = NULL;
    size_t c;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--cases") == 0 && i + 1 < argc)
            wanted = argv[++i];
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--list") == 0) {
            for (c = 0; c < count; c++)
                printf("%s\n", cases[c].name);
            return 0;
        } else {
            fprintf(stderr, "usage: %s --threads T [--cases a,b] [--reps N] [--list]\n",
                    argv[0]);
            return 2;
        }
    }
    if (threads < 1 || reps < 1)
        return 2;
    set_blas_threads(threads);
    for (c = 0; c < count; c++)
        if (bench_selected(wanted, cases[c].name))
            cases[c].run(threads, reps);
    return 0;
}

/* One case's JSON line: {"case", "threads", "ours_ms", "floor_ms",
 * "ours_extra_mib"}, flushed so that run.py sees it before a later case
 * can fail. */
static inline void bench_report(const char *name, int threads, double ours_ms, double floor_ms,
                                double extra_mib)
{
    printf("{\"case\":\"%s\",\"threads\":%d,\"ours_ms\":%.3f,\"floor_ms\":%.3f,"
           "\"ours_extra_mib\":%.3f}\n",
           name, threads, ours_ms, floor_ms, extra_mib);
    fflush(stdout);
}

/* ---- inputs and status ---------------------------------------------------- */

/* n floats drawn from N(0, std^2) by g (std 0: zeros); exits when out of
 * memory. */
static inline float *bench_randn(ctr_rng *g, int64_t n, float std)
{
    float *x = (float *)malloc((size_t)n * sizeof(float));
    if (x == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    ctr_rng_normal(g, x, n, 0.0f, std);
    return x;
}

/* Exits with the objective's message unless rc is CTR_OK. */
static inline void bench_check_objective(int rc, const ctr_objective *obj,
                                         const char *what)
{
    if (rc != CTR_OK) {
        fprintf(stderr, "%s: %s (%s)\n", what, ctr_strerror(rc),
                ctr_objective_last_error(obj));
        exit(1);
    }
}

#endif /* CTR_BENCH_UTIL_H */
