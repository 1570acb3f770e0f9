/*
 * bench_cpc.c - times the CPC critic (ctr_objective_cpc: loss and the
 * gradients to z, c and every W_k) against the bare cBLAS GEMMs of its
 * math ("floor") and reports the library's extra memory.
 *
 *   bench_cpc --threads T [--cases a,b] [--reps N]
 *   bench_cpc --list          (the case names, one a line)
 *
 * Prints one JSON object per case and line, as bench_objectives:
 *   {"case":..., "threads":T, "ours_ms":x, "floor_ms":y, "ours_extra_mib":z}
 * The floor: per step k (na = b (t - k) anchors), the predictions
 * na x d x dc, dW_k d x na x dc and dC na x dc x d, and per time step the
 * three b x b x d GEMMs of the batch scores, their dZ and dP; on contiguous
 * buffers, nothing else.
 */
#include <math.h>

#include <cblas.h>

#include "bench_util.h"

typedef struct bench_case {
    const char *name;
    int64_t b, t, dc, d, k;
    int32_t negatives;
} bench_case;

static const bench_case CASES[] = {
    {"cpc_b32_t128", 32, 128, 256, 512, 12, CTR_CPC_NEG_BATCH},
};

typedef struct run_ctx {
    const bench_case *c;
    ctr_objective *obj;
    float *z, *ctx, *w, *gz, *gc, *gw, *p, *s;
} run_ctx;

static void ours(void *p)
{
    run_ctx *r = (run_ctx *)p;
    const bench_case *c = r->c;
    ctr_cpc_args a;
    double loss;
    ctr_cpc_args_init(&a);
    a.z = r->z, a.c = r->ctx, a.b = c->b, a.t = c->t, a.d = c->d, a.dc = c->dc;
    a.w = r->w, a.steps = c->k, a.negatives = c->negatives;
    a.grad_z = r->gz, a.grad_c = r->gc, a.grad_w = r->gw;
    bench_check_objective(ctr_objective_cpc(r->obj, &a, &loss), r->obj, "cpc");
}

static void floor_gemms(void *p)
{
    run_ctx *r = (run_ctx *)p;
    const bench_case *c = r->c;
    const int b = (int)c->b, d = (int)c->d, dc = (int)c->dc;
    int64_t k, u;
    for (k = 1; k <= c->k; k++) {
        const int na = (int)((c->t - k) * c->b);
        const float *wk = r->w + (k - 1) * c->d * c->dc;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, na, d, dc, 1.0f,
                    r->ctx, dc, wk, dc, 0.0f, r->p, d);
        for (u = 0; u + k < c->t; u++) {
            float *pu = r->p + u * c->b * c->d;
            const float *zu = r->z + (u + k) * c->b * c->d;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, b, d, 1.0f,
                        pu, d, zu, d, 0.0f, r->s, b);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, b, d, b, 1.0f,
                        r->s, b, pu, d, 1.0f, r->gz + (u + k) * c->b * c->d, d);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, d, b,
                        1.0f, r->s, b, zu, d, 0.0f, pu, d);
        }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, dc, na, 1.0f,
                    r->p, d, r->ctx, dc, 0.0f, r->gw + (k - 1) * c->d * c->dc,
                    dc);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, na, dc, d, 1.0f,
                    r->p, d, wk, dc, 1.0f, r->gc, dc);
    }
}

static void run_case(const bench_case *c, int threads, int reps)
{
    run_ctx r;
    counter cnt;
    ctr_allocator a;
    ctr_rng *g = NULL;
    const int64_t n = c->b * c->t;
    double ours_ms, floor_ms;
    memset(&r, 0, sizeof(r));
    r.c = c;
    ctr_rng_create(&g, 12345, NULL);
    counting_allocator(&a, &cnt);
    bench_check_objective(ctr_objective_create(&r.obj, CTR_OBJECTIVE_CPC, &a), NULL,
                          "create");
    r.z = bench_randn(g, n * c->d, 0.05f);
    r.ctx = bench_randn(g, n * c->dc, 0.5f);
    r.w = bench_randn(g, c->k * c->d * c->dc, 0.06f);
    r.gz = bench_randn(g, n * c->d, 0.0f);
    r.gc = bench_randn(g, n * c->dc, 0.0f);
    r.gw = bench_randn(g, c->k * c->d * c->dc, 0.0f);
    r.p = bench_randn(g, n * c->d, 0.0f);
    r.s = bench_randn(g, c->b * c->b, 0.0f);
    ours_ms = median_ms(ours, &r, reps, 1);
    floor_ms = median_ms(floor_gemms, &r, reps, 1);
    bench_report(c->name, threads, ours_ms, floor_ms, peak_mib(&cnt));
    ctr_objective_destroy(r.obj);
    ctr_rng_destroy(g);
    free(r.z), free(r.ctx), free(r.w), free(r.gz), free(r.gc), free(r.gw);
    free(r.p), free(r.s);
}

static void run_cpc_b32_t128(int threads, int reps)
{
    run_case(&CASES[0], threads, reps);
}

int main(int argc, char **argv)
{
    static const bench_entry entries[] = {{"cpc_b32_t128", run_cpc_b32_t128}};
    return bench_main(argc, argv, entries, sizeof(entries) / sizeof(entries[0]), 5);
}
