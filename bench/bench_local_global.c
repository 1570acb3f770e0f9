/*
 * bench_local_global.c - times the local-global objective
 * (ctr_objective_local_global: InfoNCE loss and the gradients to G and L)
 * against the bare cBLAS GEMMs of its math ("floor") and reports the
 * library's extra memory.
 *
 *   bench_local_global --threads T [--cases a,b] [--reps N]
 *   bench_local_global --list          (the case names, one a line)
 *
 * Prints one JSON object per case and line, as bench_objectives:
 *   {"case":..., "threads":T, "ours_ms":x, "floor_ms":y, "ours_extra_mib":z}
 * local_global_b256_p49 is what DIM's reference infonce_loss computes (and
 * what bench/torch_local_global.py times): L in DIM's channels-first
 * layout (b, d, p), self pairs masked with -10. local_global_amdim_b256_p49
 * is AMDIM's NCE (scores / sqrt(d), penalty 0.05, tanh clip 20, self pairs
 * excluded) on the same operands, against AMDIM's code. The floor: the
 * three GEMMs of
 * b x (b p) x d (scores S = G L^T, dG = dS L, dL = dS^T G) on contiguous
 * buffers, nothing else (no exp, no copy of L).
 */
#include <math.h>

#include <cblas.h>

#include "bench_util.h"

typedef struct bench_case {
    const char *name;
    int64_t b, p, d;
    int amdim; /* AMDIM's options and self exclusion instead of DIM's mask */
} bench_case;

static const bench_case CASES[] = {
    {"local_global_b256_p49", 256, 49, 128, 0},
    {"local_global_amdim_b256_p49", 256, 49, 128, 1},
};

typedef struct run_ctx {
    const bench_case *c;
    ctr_objective *obj;
    ctr_local_global_args args;
    float *g, *l, *gg, *gl, *s, *lc;
} run_ctx;

static void ours(void *p)
{
    run_ctx *r = (run_ctx *)p;
    double loss;
    bench_check_objective(ctr_objective_local_global(r->obj, &loss, &r->args),
                          r->obj, "local_global");
}

static void floor_gemms(void *p)
{
    run_ctx *r = (run_ctx *)p;
    const int b = (int)r->c->b, n = (int)(r->c->b * r->c->p), d = (int)r->c->d;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, n, d, 1.0f, r->g,
                d, r->lc, d, 0.0f, r->s, n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, d, n, 1.0f,
                r->s, n, r->lc, d, 0.0f, r->gg, d);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, d, b, 1.0f, r->s,
                n, r->g, d, 0.0f, r->gl, d);
}

static void run_case(const bench_case *c, int threads, int reps)
{
    run_ctx r;
    counter cnt;
    ctr_allocator a;
    ctr_rng *g = NULL;
    const int64_t n = c->b * c->p;
    double ours_ms, floor_ms;
    memset(&r, 0, sizeof(r));
    r.c = c;
    ctr_rng_create(&g, 12345, NULL);
    counting_allocator(&a, &cnt);
    bench_check_objective(
        ctr_objective_create(&r.obj, CTR_OBJECTIVE_LOCAL_GLOBAL, &a), NULL,
        "create");
    r.g = bench_randn(g, c->b * c->d, 0.1f);
    r.l = bench_randn(g, n * c->d, 0.1f);
    r.lc = bench_randn(g, n * c->d, 0.1f);
    r.gg = bench_randn(g, c->b * c->d, 0.0f);
    r.gl = bench_randn(g, n * c->d, 0.0f);
    r.s = bench_randn(g, c->b * n, 0.0f);
    ctr_local_global_args_init(&r.args);
    r.args.estimator = CTR_MI_INFONCE;
    r.args.self_mask = c->amdim ? CTR_SELFPAIR_EXCLUDE : CTR_SELFPAIR_DIM;
    if (c->amdim)
        r.args.scale_sqrt_d = 1, r.args.clip = 20.0, r.args.penalty = 0.05;
    r.args.b = c->b, r.args.p = c->p, r.args.d = c->d;
    r.args.g = r.g, r.args.ldg = c->d, r.args.l = r.l;
    r.args.l_batch_stride = c->d * c->p; /* DIM's (b, d, p) */
    r.args.l_pos_stride = 1, r.args.l_chan_stride = c->p;
    r.args.grad_g = r.gg, r.args.grad_l = r.gl;
    ours_ms = median_ms(ours, &r, reps, 1);
    floor_ms = median_ms(floor_gemms, &r, reps, 1);
    bench_report(c->name, threads, ours_ms, floor_ms, peak_mib(&cnt));
    ctr_objective_destroy(r.obj);
    ctr_rng_destroy(g);
    free(r.g), free(r.l), free(r.lc), free(r.gg), free(r.gl), free(r.s);
}

static void run_local_global_b256_p49(int threads, int reps)
{
    run_case(&CASES[0], threads, reps);
}

static void run_local_global_amdim_b256_p49(int threads, int reps)
{
    run_case(&CASES[1], threads, reps);
}

int main(int argc, char **argv)
{
    static const bench_entry entries[] = {
        {"local_global_b256_p49", run_local_global_b256_p49},
        {"local_global_amdim_b256_p49", run_local_global_amdim_b256_p49}};
    return bench_main(argc, argv, entries, sizeof(entries) / sizeof(entries[0]), 5);
}
