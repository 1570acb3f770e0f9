/*
 * affinity_run.c - the arithmetic of the dense affinity
 * (contrastive/affinity.h; docs/frames.md). Per batch item, the target
 * rows of frame b go in blocks of ty rows (about 64 positions); a block's
 * windows reach reference rows s0..s1 of frame a. On the NCHW maps, read
 * in place with leading dimension h*w, one block is
 *   S  (nt x ns) = Fb_blk^T Fa_rows / tau          logits
 *   A  = masked row softmax of S                   (outside the window: 0)
 *   O  (cv x nt) = V_rows A^T                      transport
 * and backward, with G = dL/dO:
 *   dV_rows += G A,  dA = G^T V_rows,  dS = A o (dA - rowsum(A o dA)) / tau,
 *   dFb_blk = Fa_rows dS^T,  dFa_rows += Fb_blk dS.
 * The window test is per row of S, so the GEMMs also compute the logits
 * of reference positions outside the window but in the rows it reaches
 * (their weight is exactly 0).
 */
#include "objectives/affinity_run.h"

#include <math.h>
#include <string.h>

#include "common/blas.h"
#include "common/core.h"
#include "common/kernels.h"

/* Target positions per block, about. */
#define BLOCK_TARGETS 64

typedef struct geom {
    int64_t h, w, n;  /* n = h * w */
    int64_t rr, rc;   /* window radius in rows and in columns, clamped */
    int64_t ty;       /* target rows per block */
    int64_t nt, ns;   /* the largest block's targets and references */
    int windowed;
} geom;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static void geom_init(geom *g, const ctr__aff_cfg *cfg, int64_t h,
                      int64_t w)
{
    g->h = h, g->w = w, g->n = h * w;
    g->windowed = cfg->radius >= 0 && (cfg->radius < h - 1 ||
                                       cfg->radius < w - 1);
    g->rr = g->windowed ? min64(cfg->radius, h) : h;
    g->rc = g->windowed ? min64(cfg->radius, w) : w;
    g->ty = min64((BLOCK_TARGETS + w - 1) / w, h);
    g->nt = g->ty * w;
    g->ns = g->windowed ? min64(h, g->ty + 2 * g->rr) * w : g->n;
}

int ctr__aff_ws_floats(const ctr__aff_cfg *cfg, int64_t c, int64_t h,
                       int64_t w, int64_t cv, int64_t topk, size_t *floats)
{
    geom g;
    int64_t s, o, total;
    (void)c;
    geom_init(&g, cfg, h, w);
    if (ctr__mul_count(&s, g.nt, g.ns) != CTR_OK ||
        ctr__mul_count(&o, cv, g.nt) != CTR_OK ||
        ctr__add_count(&total, s, s) != CTR_OK ||
        ctr__add_count(&total, total, o) != CTR_OK ||
        ctr__add_count(&total, total, o) != CTR_OK ||
        ctr__add_count(&total, total, topk) != CTR_OK ||
        (uint64_t)total > SIZE_MAX / sizeof(float))
        return CTR_E_OVERFLOW;
    *floats = (size_t)total;
    return CTR_OK;
}

/* One block: target rows y0..y1 of item `item`, reference rows s0..s1. */
typedef struct blk {
    int64_t item, y0, y1, s0, s1, nt, ns;
} blk;

/* The workspace, carved. */
typedef struct bufs {
    float *s, *da, *o, *g, *best;
} bufs;

/* Entries of row (target yt, xt) outside its window become -inf. */
static void mask_row(float *row, const geom *g, const blk *k, int64_t yt,
                     int64_t xt)
{
    const float ninf = -INFINITY;
    int64_t ys, x;
    for (ys = k->s0; ys < k->s1; ys++) {
        float *seg = row + (ys - k->s0) * g->w;
        if (ys < yt - g->rr || ys > yt + g->rr) {
            for (x = 0; x < g->w; x++)
                seg[x] = ninf;
            continue;
        }
        for (x = 0; x < xt - g->rc; x++)
            seg[x] = ninf;
        for (x = xt + g->rc + 1; x < g->w; x++)
            seg[x] = ninf;
    }
}

/* Keeps the k largest finite entries of row (n), the lower index first on
 * a tie, and sets the others to -inf; best holds k floats. */
static void keep_topk(float *row, int64_t n, int64_t k, float *best)
{
    int64_t m = 0, i, j, budget;
    float thr;
    for (i = 0; i < n; i++) {
        const float x = row[i];
        if (x == -INFINITY || (m == k && !(x > best[k - 1])))
            continue;
        j = m < k ? m++ : k - 1;
        for (; j > 0 && best[j - 1] < x; j--)
            best[j] = best[j - 1];
        best[j] = x;
    }
    if (m < k)
        return;
    thr = best[k - 1];
    for (budget = k; budget > 0 && best[k - budget] > thr; budget--)
        ;
    for (i = 0; i < n; i++) {
        if (row[i] > thr)
            continue;
        if (row[i] == thr && budget > 0)
            budget--;
        else
            row[i] = -INFINITY;
    }
}

/* S -> A in place, row by row. */
static void softmax_rows(float *s, const geom *g, const blk *k,
                         int64_t topk, float *best)
{
    int64_t t;
    for (t = 0; t < k->nt; t++) {
        float *row = s + t * k->ns;
        float m, sum;
        if (g->windowed)
            mask_row(row, g, k, k->y0 + t / g->w, t % g->w);
        if (topk > 0 && topk < k->ns)
            keep_topk(row, k->ns, topk, best);
        m = ctr__vmax(row, k->ns);
        sum = ctr__vexp_shift_sum(row, k->ns, m);
        ctr__vscale(row, 1.0f / sum, k->ns);
    }
}

/* dA -> dS in place: dS = A o (dA - rowsum(A o dA)) / tau. */
static void softmax_backward(float *da, const float *a, int64_t nt,
                             int64_t ns, float inv_tau)
{
    int64_t t, i;
    for (t = 0; t < nt; t++) {
        float *d = da + t * ns;
        const float *p = a + t * ns;
        const float dot = ctr__vdot(p, d, ns);
        for (i = 0; i < ns; i++)
            d[i] = p[i] * (d[i] - dot) * inv_tau;
    }
}

/* The loss's gradient G (cv x nt) of the block's transport O against
 * target rows (leading dimension n); returns the block's loss sum. */
static double loss_grad(const ctr__aff_cfg *cfg, const float *o,
                        const float *target, int64_t n, float *gr,
                        int64_t cv, int64_t nt, double inv_m)
{
    double sum = 0.0;
    const double beta = cfg->beta;
    int64_t ch, t;
    for (ch = 0; ch < cv; ch++)
        for (t = 0; t < nt; t++) {
            const double d = (double)o[ch * nt + t] - target[ch * n + t];
            double gd;
            if (cfg->loss == CTR_AFFINITY_LOSS_MSE) {
                sum += d * d;
                gd = 2.0 * d;
            } else if (fabs(d) < beta) {
                sum += 0.5 * d * d / beta;
                gd = d / beta;
            } else {
                sum += fabs(d) - 0.5 * beta;
                gd = d > 0 ? 1.0 : -1.0;
            }
            gr[ch * nt + t] = (float)(gd * inv_m);
        }
    return sum;
}

/* Forward of one block: A in b->s and, when wanted, O in b->o. */
static void block_forward(const ctr__aff_cfg *cfg, const ctr__aff_job *j,
                          const geom *g, const blk *k, const bufs *b)
{
    const int n = (int)g->n, nt = (int)k->nt, ns = (int)k->ns;
    const float *fa = j->fa + k->item * j->c * g->n + k->s0 * g->w;
    const float *fb = j->fb + k->item * j->c * g->n + k->y0 * g->w;
    const float *v = j->v + k->item * j->cv * g->n + k->s0 * g->w;
    int64_t ch;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nt, ns, (int)j->c,
                (float)(1.0 / cfg->tau), fb, n, fa, n, 0.0f, b->s, ns);
    softmax_rows(b->s, g, k, j->topk, b->best);
    if (j->out == NULL && j->target == NULL)
        return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->cv, nt, ns,
                1.0f, v, n, b->s, ns, 0.0f, b->o, nt);
    if (j->out != NULL)
        for (ch = 0; ch < j->cv; ch++)
            memcpy(j->out + (k->item * j->cv + ch) * g->n + k->y0 * g->w,
                   b->o + ch * k->nt, (size_t)k->nt * sizeof(float));
}

/* Backward of one block from G (cv x nt, leading dimension ldg). */
static void block_backward(const ctr__aff_cfg *cfg, const ctr__aff_job *j,
                           const geom *g, const blk *k, const bufs *b,
                           const float *gr, int ldg)
{
    const int n = (int)g->n, nt = (int)k->nt, ns = (int)k->ns;
    const int c = (int)j->c, cv = (int)j->cv;
    const int64_t fo = k->item * j->c * g->n, vo = k->item * j->cv * g->n;
    const float *fa = j->fa + fo + k->s0 * g->w;
    const float *fb = j->fb + fo + k->y0 * g->w;
    const float *v = j->v + vo + k->s0 * g->w;
    if (j->gv != NULL)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cv, ns, nt,
                    1.0f, gr, ldg, b->s, ns, 1.0f, j->gv + vo + k->s0 * g->w,
                    n);
    if (j->gfa == NULL && j->gfb == NULL)
        return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nt, ns, cv, 1.0f,
                gr, ldg, v, n, 0.0f, b->da, ns);
    softmax_backward(b->da, b->s, k->nt, k->ns, (float)(1.0 / cfg->tau));
    if (j->gfb != NULL)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c, nt, ns, 1.0f,
                    fa, n, b->da, ns, 0.0f, j->gfb + fo + k->y0 * g->w, n);
    if (j->gfa != NULL)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c, ns, nt,
                    1.0f, fb, n, b->da, ns, 1.0f, j->gfa + fo + k->s0 * g->w,
                    n);
}

static void zero(float *x, int64_t count)
{
    if (x != NULL)
        memset(x, 0, (size_t)count * sizeof(float));
}

void ctr__aff_run(const ctr__aff_cfg *cfg, ctr__aff_job *j, float *ws)
{
    geom g;
    bufs b;
    blk k;
    double loss = 0.0, inv_m;
    geom_init(&g, cfg, j->h, j->w);
    inv_m = 1.0 / ((double)j->b * (double)j->cv * (double)g.n);
    b.s = ws;
    b.da = b.s + g.nt * g.ns;
    b.o = b.da + g.nt * g.ns;
    b.g = b.o + j->cv * g.nt;
    b.best = b.g + j->cv * g.nt;
    zero(j->gfa, j->b * j->c * g.n);
    zero(j->gv, j->b * j->cv * g.n);
    for (k.item = 0; k.item < j->b; k.item++)
        for (k.y0 = 0; k.y0 < g.h; k.y0 += g.ty) {
            k.y1 = min64(k.y0 + g.ty, g.h);
            k.s0 = k.y0 - g.rr > 0 ? k.y0 - g.rr : 0;
            k.s1 = min64(k.y1 + g.rr, g.h);
            k.nt = (k.y1 - k.y0) * g.w;
            k.ns = (k.s1 - k.s0) * g.w;
            block_forward(cfg, j, &g, &k, &b);
            if (j->target != NULL) {
                loss += loss_grad(cfg, b.o, j->target + (k.item * j->cv) *
                                  g.n + k.y0 * g.w, g.n, b.g, j->cv, k.nt,
                                  inv_m);
                block_backward(cfg, j, &g, &k, &b, b.g, (int)k.nt);
            } else if (j->grad_out != NULL) {
                block_backward(cfg, j, &g, &k, &b, j->grad_out +
                               k.item * j->cv * g.n + k.y0 * g.w, (int)g.n);
            }
        }
    j->loss = loss * inv_m;
}
