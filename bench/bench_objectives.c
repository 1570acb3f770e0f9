/*
 * bench_objectives.c - times the objectives against the bare cBLAS GEMMs
 * their math needs ("floor") and reports the library's extra memory.
 *
 *   bench_objectives --threads T [--cases a,b] [--reps N]
 *   bench_objectives --list          (the case names, one a line)
 *
 * Prints one JSON object per case and line:
 *   {"case":..., "threads":T, "ours_ms":x, "floor_ms":y, "ours_extra_mib":z}
 * and for NT-Xent also "sym_floor_ms": the BLAS calls of the symmetric
 * algorithm alone (floor_ms keeps the two GEMMs of the textbook form, so
 * the gain of computing each similarity once stays visible).
 * Times are medians of at least N runs (and 0.5 s of runs) after two
 * warm-up runs. The program is the
 * host: it sets the BLAS thread count itself (the library never does).
 */
#include <math.h>

#include <cblas.h>

#include "bench_util.h"

static float *unit_matrix(ctr_rng *rng, int64_t rows, int64_t d)
{
    float *x = (float *)malloc((size_t)(rows * d) * sizeof(float));
    int64_t i, j;
    ctr_rng_normal(rng, x, rows * d, 0.0f, 1.0f);
    for (i = 0; i < rows; i++) {
        double s = 0;
        for (j = 0; j < d; j++)
            s += (double)x[i * d + j] * x[i * d + j];
        for (j = 0; j < d; j++)
            x[i * d + j] = (float)(x[i * d + j] / sqrt(s));
    }
    return x;
}

static void check(int rc, const ctr_objective *obj, const char *what)
{
    if (rc != CTR_OK) {
        fprintf(stderr, "%s: %s (%s)\n", what, ctr_strerror(rc),
                ctr_objective_last_error(obj));
        exit(1);
    }
}

/* ---- the cases --------------------------------------------------------------- */

typedef struct bench_case {
    const char *name;
    int32_t kind;
    int64_t b, d, k;   /* k: negatives (queue), bank rows (nce) */
    int64_t kn;        /* nce noise per anchor */
    double tau;
    int normalize;
    int symmetric; /* in-batch InfoNCE: the loss on S and on S^T (CLIP) */
} bench_case;

static const bench_case CASES[] = {
    {"infonce_queue_k65536", CTR_OBJECTIVE_INFONCE_SHARED, 256, 128, 65536, 0, 0.07, 0, 0},
    {"infonce_queue_k16384", CTR_OBJECTIVE_INFONCE_SHARED, 256, 128, 16384, 0, 0.07, 0, 0},
    {"ntxent_b1024", CTR_OBJECTIVE_NTXENT, 1024, 128, 0, 0, 0.5, 1, 0},
    {"ntxent_b256", CTR_OBJECTIVE_NTXENT, 256, 128, 0, 0, 0.5, 1, 0},
    /* P_DECOUPLED (DCL): named *_dcl_* */
    {"ntxent_dcl_b1024", CTR_OBJECTIVE_NTXENT, 1024, 128, 0, 0, 0.5, 1, 0},
    {"npair_b256", CTR_OBJECTIVE_NPAIR, 256, 128, 0, 0, 1.0, 0, 0},
    {"infonce_sym_b256", CTR_OBJECTIVE_INFONCE, 256, 128, 0, 0, 0.07, 1, 1},
    {"nce_bank_k4096", CTR_OBJECTIVE_NCE, 256, 128, 60000, 4096, 0.07, 0, 0},
};

typedef struct run_ctx {
    const bench_case *c;
    ctr_objective *obj;
    ctr_rng *rng;
    float *x, *y, *keys, *gx, *gy, *scratch;
    int64_t *self_idx, *noise_idx;
    int zero_fill; /* floor: C zeroed by memset, then beta = 1 */
} run_ctx;

/* A floor GEMM that overwrites C (m x n, contiguous): beta = 0, or, with
 * zero_fill, memset and beta = 1 (faster on OpenBLAS 0.3, whose beta = 0
 * pass is slow; the library picks the faster per backend). */
static void gemm_set(const run_ctx *r, enum CBLAS_TRANSPOSE ta,
                     enum CBLAS_TRANSPOSE tb, int m, int n, int k,
                     const float *a, int lda, const float *b, int ldb,
                     float *c)
{
    if (r->zero_fill)
        memset(c, 0, (size_t)m * (size_t)n * sizeof(float));
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb,
                r->zero_fill ? 1.0f : 0.0f, c, n);
}

/* NCE step as a host runs it: draw noise, loss + gradient, bank update
 * v_y <- normalize(0.5 v_y + 0.5 z) (Wu et al., m = 0.5). */
static void nce_step(run_ctx *r)
{
    const bench_case *c = r->c;
    int64_t i, j;
    double loss;
    ctr_rng_below(r->rng, r->noise_idx, c->b * c->kn, c->k);
    check(ctr_objective_nce(r->obj, &loss, r->x, c->d, c->b, c->d, r->keys,
                            c->d, c->k, r->self_idx, r->noise_idx, c->kn,
                            r->gx), r->obj, "nce");
    for (i = 0; i < c->b; i++) {
        float *v = r->keys + r->self_idx[i] * c->d;
        double s = 0;
        for (j = 0; j < c->d; j++) {
            v[j] = 0.5f * v[j] + 0.5f * r->x[i * c->d + j];
            s += (double)v[j] * v[j];
        }
        for (j = 0; j < c->d; j++)
            v[j] = (float)(v[j] / sqrt(s));
    }
}

static void ours(void *p)
{
    run_ctx *r = (run_ctx *)p;
    const bench_case *c = r->c;
    double loss;
    switch (c->kind) {
    case CTR_OBJECTIVE_INFONCE_SHARED:
        check(ctr_objective_infonce_shared(r->obj, &loss, r->x, c->d, r->y,
                                           c->d, c->b, c->d, r->keys, c->d,
                                           c->k, NULL, NULL, r->gx, NULL,
                                           NULL), r->obj, "infonce_shared");
        break;
    case CTR_OBJECTIVE_NTXENT:
        check(ctr_objective_ntxent(r->obj, &loss, r->x, c->d, r->y, c->d,
                                   c->b, c->d, NULL, r->gx, r->gy),
              r->obj, "ntxent");
        break;
    case CTR_OBJECTIVE_NPAIR:
        check(ctr_objective_npair(r->obj, &loss, r->x, c->d, r->y, c->d, c->b,
                                  c->d, r->gx, r->gy), r->obj, "npair");
        break;
    case CTR_OBJECTIVE_INFONCE:
        check(ctr_objective_infonce(r->obj, &loss, r->x, c->d, r->y, c->d,
                                    c->b, c->d, NULL, r->gx, r->gy),
              r->obj, "infonce");
        break;
    default:
        nce_step(r);
        break;
    }
}

/* The GEMMs of the math, on contiguous buffers, nothing else:
 * queue: logits B x K (B.d.K) and dQ = P K (B.K.d), untiled or in
 * 1024-row tiles, whichever is faster;
 * NT-Xent: S = Z Z^T (2B.d.2B) and dZ = M Z (2B.2B.d);
 * N-pair and in-batch InfoNCE (also symmetric): S = A P^T, dA = S P,
 * dP = S^T A;
 * NCE: the same flops as the two GEMMs B x (K+1) x d on contiguous rows
 * (a lower bound: the real work gathers rows from the bank). */
static void floor_gemms(void *p)
{
    run_ctx *r = (run_ctx *)p;
    const bench_case *c = r->c;
    const int b = (int)c->b, d = (int)c->d;
    int n;
    switch (c->kind) {
    case CTR_OBJECTIVE_INFONCE_SHARED:
        n = (int)c->k;
        gemm_set(r, CblasNoTrans, CblasTrans, b, n, d, r->x, d, r->keys, d,
                 r->scratch);
        gemm_set(r, CblasNoTrans, CblasNoTrans, b, d, n, r->scratch, n,
                 r->keys, d, r->gx);
        break;
    case CTR_OBJECTIVE_NTXENT:
        n = 2 * b;
        gemm_set(r, CblasNoTrans, CblasTrans, n, n, d, r->keys, d, r->keys, d,
                 r->scratch);
        gemm_set(r, CblasNoTrans, CblasNoTrans, n, d, n, r->scratch, n,
                 r->keys, d, r->keys + n * d);
        break;
    case CTR_OBJECTIVE_NPAIR:
    case CTR_OBJECTIVE_INFONCE:
        gemm_set(r, CblasNoTrans, CblasTrans, b, b, d, r->x, d, r->y, d,
                 r->scratch);
        gemm_set(r, CblasNoTrans, CblasNoTrans, b, d, b, r->scratch, b, r->y,
                 d, r->gx);
        gemm_set(r, CblasTrans, CblasNoTrans, b, d, b, r->scratch, b, r->x, d,
                 r->gy);
        break;
    default:
        n = (int)c->kn + 1;
        gemm_set(r, CblasNoTrans, CblasTrans, b, n, d, r->x, d, r->keys, d,
                 r->scratch);
        gemm_set(r, CblasNoTrans, CblasNoTrans, b, d, n, r->scratch, n,
                 r->keys, d, r->gx);
        break;
    }
}

/* NT-Xent's BLAS calls as the library makes them, nothing else: S = Z Z^T
 * as the upper triangle of ssyrk (half a GEMM), and per view
 * M_vv Z_v (ssymm on a diagonal block) + M_12 Z_o or M_12^T Z_o (sgemm) -
 * three quarters of floor_gemms' NT-Xent work. */
static void floor_sym(void *p)
{
    run_ctx *r = (run_ctx *)p;
    const int b = (int)r->c->b, d = (int)r->c->d, n = 2 * b;
    const float beta = r->zero_fill ? 1.0f : 0.0f;
    float *s = r->scratch, *z = r->keys, *g[2] = {r->gx, r->gy};
    int i, v;
    if (r->zero_fill)
        for (i = 0; i < n; i++)
            memset(s + (size_t)i * n + i, 0, (size_t)(n - i) * sizeof(float));
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, d, 1.0f, z, d,
                beta, s, n);
    for (v = 0; v < 2; v++) {
        if (r->zero_fill)
            memset(g[v], 0, (size_t)b * (size_t)d * sizeof(float));
        cblas_ssymm(CblasRowMajor, CblasLeft, CblasUpper, b, d, 1.0f,
                    s + (size_t)v * b * (n + 1), n, z + (size_t)v * b * d, d,
                    beta, g[v], d);
        cblas_sgemm(CblasRowMajor, v == 0 ? CblasNoTrans : CblasTrans,
                    CblasNoTrans, b, d, b, 1.0f, s + b, n,
                    z + (size_t)(1 - v) * b * d, d, 1.0f, g[v], d);
    }
}

static double fastest_sym_floor(run_ctx *r, int reps)
{
    double best = INFINITY, t;
    for (r->zero_fill = 0; r->zero_fill < 2; r->zero_fill++) {
        t = median_ms(floor_sym, r, reps, 1);
        best = t < best ? t : best;
    }
    return best;
}

/* The queue's two GEMMs again, in the tiles the library uses (1024 rows):
 * the floor is the faster of this and the untiled form. */
static void floor_tiled(void *p)
{
    run_ctx *r = (run_ctx *)p;
    const bench_case *c = r->c;
    const int b = (int)c->b, d = (int)c->d, tile = 1024;
    int j0;
    for (j0 = 0; j0 < (int)c->k; j0 += tile) {
        int w = (int)c->k - j0 < tile ? (int)c->k - j0 : tile;
        const float *kt = r->keys + (size_t)j0 * (size_t)d;
        gemm_set(r, CblasNoTrans, CblasTrans, b, w, d, r->x, d, kt, d,
                 r->scratch);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, d, w, 1.0f,
                    r->scratch, w, kt, d, 1.0f, r->gx, d);
    }
}

/* The floor: the fastest of beta = 0 and zero-fill GEMMs, untiled and (for
 * the queue) tiled. */
static double fastest_floor(run_ctx *r, int reps)
{
    double best = INFINITY, t;
    for (r->zero_fill = 0; r->zero_fill < 2; r->zero_fill++) {
        t = median_ms(floor_gemms, r, reps, 1);
        best = t < best ? t : best;
        if (r->c->kind == CTR_OBJECTIVE_INFONCE_SHARED) {
            t = median_ms(floor_tiled, r, reps, 1);
            best = t < best ? t : best;
        }
    }
    return best;
}

/* Floats of the floor's logits buffer. */
static int64_t scratch_floats(const bench_case *c)
{
    switch (c->kind) {
    case CTR_OBJECTIVE_INFONCE_SHARED:
        return c->b * c->k;
    case CTR_OBJECTIVE_NTXENT:
        return 4 * c->b * c->b;
    case CTR_OBJECTIVE_NPAIR:
    case CTR_OBJECTIVE_INFONCE:
        return c->b * c->b;
    default:
        return c->b * (c->kn + 1);
    }
}

static void run_case(const bench_case *c, int threads, int reps)
{
    run_ctx r;
    counter cnt;
    ctr_allocator a;
    int64_t i, scratch;
    double ours_ms, floor_ms;
    memset(&r, 0, sizeof(r));
    r.c = c;
    ctr_rng_create(&r.rng, 12345, NULL);
    counting_allocator(&a, &cnt);
    check(ctr_objective_create(&r.obj, c->kind, &a), NULL, "create");
    ctr_objective_set_f64(r.obj, CTR_OBJECTIVE_P_TEMPERATURE, c->tau);
    ctr_objective_set_i64(r.obj, CTR_OBJECTIVE_P_NORMALIZE, c->normalize);
    ctr_objective_set_i64(r.obj, CTR_OBJECTIVE_P_SYMMETRIC, c->symmetric);
    ctr_objective_set_i64(r.obj, CTR_OBJECTIVE_P_DECOUPLED,
                          strstr(c->name, "_dcl_") != NULL);
    if (getenv("CTR_BENCH_TILE") != NULL) /* for tuning the default */
        ctr_objective_set_i64(r.obj, CTR_OBJECTIVE_P_TILE,
                              atoll(getenv("CTR_BENCH_TILE")));
    r.x = unit_matrix(r.rng, c->b, c->d);
    r.y = unit_matrix(r.rng, c->b, c->d);
    r.gx = (float *)malloc((size_t)(c->b * c->d) * sizeof(float));
    r.gy = (float *)malloc((size_t)(c->b * c->d) * sizeof(float));
    if (c->kind == CTR_OBJECTIVE_NTXENT)
        r.keys = unit_matrix(r.rng, 4 * c->b, c->d);
    else
        r.keys = unit_matrix(r.rng, c->k > 0 ? c->k : 1, c->d);
    scratch = scratch_floats(c);
    r.scratch = (float *)malloc((size_t)scratch * sizeof(float));
    r.self_idx = (int64_t *)malloc((size_t)c->b * sizeof(int64_t));
    r.noise_idx = (int64_t *)malloc((size_t)(c->b * (c->kn + 1)) * sizeof(int64_t));
    for (i = 0; i < c->b; i++)
        r.self_idx[i] = (i * 7919) % (c->k > 0 ? c->k : 1);
    ours_ms = median_ms(ours, &r, reps, 1);
    floor_ms = fastest_floor(&r, reps);
    printf("{\"case\":\"%s\",\"threads\":%d,\"ours_ms\":%.3f,\"floor_ms\":%.3f,"
           "\"ours_extra_mib\":%.3f",
           c->name, threads, ours_ms, floor_ms,
           peak_mib(&cnt));
    if (c->kind == CTR_OBJECTIVE_NTXENT)
        printf(",\"sym_floor_ms\":%.3f", fastest_sym_floor(&r, reps));
    printf("}\n");
    fflush(stdout);
    ctr_objective_destroy(r.obj);
    ctr_rng_destroy(r.rng);
    free(r.x), free(r.y), free(r.gx), free(r.gy), free(r.keys);
    free(r.scratch), free(r.self_idx), free(r.noise_idx);
}

int main(int argc, char **argv)
{
    int threads = 1, reps = 11, i;
    const char *cases = NULL;
    size_t c;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--cases") == 0 && i + 1 < argc)
            cases = argv[++i];
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--list") == 0) {
            for (c = 0; c < sizeof(CASES) / sizeof(CASES[0]); c++)
                printf("%s\n", CASES[c].name);
            return 0;
        }
        else {
            fprintf(stderr, "usage: %s --threads T [--cases a,b] [--reps N]\n",
                    argv[0]);
            return 2;
        }
    }
    if (threads < 1 || reps < 1)
        return 2;
    set_blas_threads(threads);
    for (c = 0; c < sizeof(CASES) / sizeof(CASES[0]); c++)
        if (bench_selected(cases, CASES[c].name))
            run_case(&CASES[c], threads, reps);
    return 0;
}
