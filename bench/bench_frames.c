/*
 * bench_frames.c - the objectives of issue 16 (learning from frames)
 * against the bare cBLAS GEMMs of their math ("floor"), with the
 * library's extra memory.
 *
 *   bench_frames --threads T [--cases a,b] [--reps N]
 *   bench_frames --list          (the case names, one a line)
 *
 * Prints one JSON object per case and line, as bench_objectives:
 *   {"case":..., "threads":T, "ours_ms":x, "floor_ms":y, "ours_extra_mib":z}
 *
 * bilinear_b512: CURL's bilinear critic (ctr_objective_bilinear), B = 512
 * anchors, D = 50 (CURL's encoder feature size), loss and the gradients
 * to q, k and W (CURL itself detaches k; both sides here compute all
 * three, as bench/torch_frames.py does). The floor is the six GEMMs of bilinear.c on contiguous buffers: K W^T,
 * S = Q (K W^T)^T, dS (K W^T), dS^T Q, (dS^T Q) W and (dS^T Q)^T K.
 *
 * affinity_64x64_r8: the windowed dense affinity of video correspondence
 * (ctr_affinity_reconstruct), B = 8 frame pairs of C = 64 channels on
 * 32 x 32 maps, window radius 8, cv = 3 values (colours), smooth-L1
 * against the target frame, forward and the gradients to both feature
 * maps (MAST's training step; the colours get none). The floor is the
 * five GEMMs per block of affinity_run.c on the same blocks (logits,
 * transport, dA, dFb, dFa), without the softmax, masks or loss.
 */
#include <math.h>

#include <cblas.h>

#include "bench_util.h"

typedef struct run_ctx {
    int64_t b, d;
    ctr_objective *obj;
    float *q, *k, *w, *gq, *gk, *gw, *kw, *s, *u;
} run_ctx;

/* Stops the program when a library call fails. */
static void must(int rc, const char *what, const ctr_objective *obj)
{
    if (rc == CTR_OK)
        return;
    fprintf(stderr, "bench_frames: %s: %s (%s)\n", what, ctr_strerror(rc),
            obj != NULL ? ctr_objective_last_error(obj) : "");
    exit(1);
}

static void ours(void *p)
{
    run_ctx *r = (run_ctx *)p;
    double loss;
    must(ctr_objective_bilinear(r->obj, &loss, r->q, r->d, r->k, r->d, r->b,
                                r->d, r->w, r->gq, r->gk, r->gw),
         "bilinear", r->obj);
}

static void floor_gemms(void *p)
{
    run_ctx *r = (run_ctx *)p;
    const int b = (int)r->b, d = (int)r->d;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, d, d, 1.0f, r->k,
                d, r->w, d, 0.0f, r->kw, d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, b, d, 1.0f, r->q,
                d, r->kw, d, 0.0f, r->s, b);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, d, b, 1.0f,
                r->s, b, r->kw, d, 0.0f, r->gq, d);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, b, d, b, 1.0f, r->s,
                b, r->q, d, 0.0f, r->u, d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, d, d, 1.0f,
                r->u, d, r->w, d, 0.0f, r->gk, d);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, b, 1.0f, r->u,
                d, r->k, d, 0.0f, r->gw, d);
}

static void run_bilinear_b512(int threads, int reps)
{
    run_ctx r;
    counter cnt;
    ctr_allocator a;
    ctr_rng *g = NULL;
    double ours_ms, floor_ms;
    memset(&r, 0, sizeof(r));
    r.b = 512, r.d = 50;
    ctr_rng_create(&g, 12345, NULL);
    counting_allocator(&a, &cnt);
    must(ctr_objective_create(&r.obj, CTR_OBJECTIVE_BILINEAR, &a), "create",
         NULL);
    r.q = bench_randn(g, r.b * r.d, 1.0f);
    r.k = bench_randn(g, r.b * r.d, 1.0f);
    r.w = bench_randn(g, r.d * r.d, 0.01f);
    r.gq = bench_randn(g, r.b * r.d, 0.0f);
    r.gk = bench_randn(g, r.b * r.d, 0.0f);
    r.gw = bench_randn(g, r.d * r.d, 0.0f);
    r.kw = bench_randn(g, r.b * r.d, 0.0f);
    r.u = bench_randn(g, r.b * r.d, 0.0f);
    r.s = bench_randn(g, r.b * r.b, 0.0f);
    ours_ms = median_ms(ours, &r, reps, 1);
    floor_ms = median_ms(floor_gemms, &r, reps, 1);
    printf("{\"case\":\"bilinear_b512\",\"threads\":%d,\"ours_ms\":%.3f,"
           "\"floor_ms\":%.3f,\"ours_extra_mib\":%.3f}\n",
           threads, ours_ms, floor_ms, peak_mib(&cnt));
    fflush(stdout);
    ctr_objective_destroy(r.obj);
    ctr_rng_destroy(g);
    free(r.q), free(r.k), free(r.w), free(r.gq), free(r.gk), free(r.gw);
    free(r.kw), free(r.u), free(r.s);
}

/* ---- affinity_64x64_r8 ------------------------------------------------------ */

enum { AB = 8, AC = 64, AH = 32, AW = 32, ACV = 3, AR = 8, AN = AH * AW };
/* The blocks of affinity_run.c: 2 target rows (64 positions) against the
 * reference rows within AR of them. */
enum { ATY = 2 };

typedef struct aff_ctx {
    ctr_affinity *aff;
    float *fa, *fb, *v, *t, *gfa, *gfb, *s, *o, *da;
} aff_ctx;

static void aff_must(int rc, const char *what, const ctr_affinity *aff)
{
    if (rc == CTR_OK)
        return;
    fprintf(stderr, "bench_frames: %s: %s (%s)\n", what, ctr_strerror(rc),
            ctr_affinity_last_error(aff));
    exit(1);
}

static void aff_ours(void *p)
{
    aff_ctx *r = (aff_ctx *)p;
    double loss;
    aff_must(ctr_affinity_reconstruct(r->aff, &loss, NULL, r->fa, r->fb, r->v, r->t, AB, AC,
                                      AH, AW, ACV, r->gfa, r->gfb, NULL),
             "reconstruct", r->aff);
}

static void aff_floor(void *p)
{
    aff_ctx *r = (aff_ctx *)p;
    int b, y0;
    for (b = 0; b < AB; b++)
        for (y0 = 0; y0 < AH; y0 += ATY) {
            const int s0 = y0 - AR > 0 ? y0 - AR : 0;
            const int s1 = y0 + ATY + AR < AH ? y0 + ATY + AR : AH;
            const int nt = ATY * AW, ns = (s1 - s0) * AW;
            const float *fa = r->fa + (size_t)b * AC * AN + s0 * AW;
            const float *fb = r->fb + (size_t)b * AC * AN + y0 * AW;
            const float *v = r->v + (size_t)b * ACV * AN + s0 * AW;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nt, ns, AC, 1.0f, fb, AN, fa,
                        AN, 0.0f, r->s, ns);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ACV, nt, ns, 1.0f, v, AN, r->s,
                        ns, 0.0f, r->o, nt);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nt, ns, ACV, 1.0f, r->o, nt, v,
                        AN, 0.0f, r->da, ns);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, AC, nt, ns, 1.0f, fa, AN, r->da,
                        ns, 0.0f, r->gfb + (size_t)b * AC * AN + y0 * AW, AN);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, AC, ns, nt, 1.0f, fb, AN,
                        r->da, ns, 1.0f, r->gfa + (size_t)b * AC * AN + s0 * AW, AN);
        }
}

static void run_affinity_64x64_r8(int threads, int reps)
{
    aff_ctx r;
    counter cnt;
    ctr_allocator a;
    ctr_rng *g = NULL;
    double ours_ms, floor_ms;
    memset(&r, 0, sizeof(r));
    ctr_rng_create(&g, 12345, NULL);
    counting_allocator(&a, &cnt);
    aff_must(ctr_affinity_create(&r.aff, &a), "create", NULL);
    aff_must(ctr_affinity_set_i64(r.aff, CTR_AFFINITY_P_RADIUS, AR), "radius", r.aff);
    aff_must(ctr_affinity_set_i64(r.aff, CTR_AFFINITY_P_LOSS, CTR_AFFINITY_LOSS_HUBER), "loss",
             r.aff);
    r.fa = bench_randn(g, AB * AC * AN, 0.125f);
    r.fb = bench_randn(g, AB * AC * AN, 0.125f);
    r.v = bench_randn(g, AB * ACV * AN, 1.0f);
    r.t = bench_randn(g, AB * ACV * AN, 1.0f);
    r.gfa = bench_randn(g, AB * AC * AN, 0.0f);
    r.gfb = bench_randn(g, AB * AC * AN, 0.0f);
    r.s = bench_randn(g, ATY * AW * AH * AW, 0.0f);
    r.da = bench_randn(g, ATY * AW * AH * AW, 0.0f);
    r.o = bench_randn(g, ACV * ATY * AW, 0.0f);
    ours_ms = median_ms(aff_ours, &r, reps, 1);
    floor_ms = median_ms(aff_floor, &r, reps, 1);
    printf("{\"case\":\"affinity_64x64_r8\",\"threads\":%d,\"ours_ms\":%.3f,"
           "\"floor_ms\":%.3f,\"ours_extra_mib\":%.3f}\n",
           threads, ours_ms, floor_ms, peak_mib(&cnt));
    fflush(stdout);
    ctr_affinity_destroy(r.aff);
    ctr_rng_destroy(g);
    free(r.fa), free(r.fb), free(r.v), free(r.t), free(r.gfa), free(r.gfb);
    free(r.s), free(r.da), free(r.o);
}

int main(int argc, char **argv)
{
    static const bench_entry entries[] = {
        {"bilinear_b512", run_bilinear_b512},
        {"affinity_64x64_r8", run_affinity_64x64_r8}};
    return bench_main(argc, argv, entries,
                      sizeof(entries) / sizeof(entries[0]), 20);
}
