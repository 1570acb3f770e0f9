/*
 * vivi_loss.c - the two-level VIVI loss of vivi_loss.h: two NT-Xent calls
 * with groups and a mean-pooling step between them.
 */
#include "vivi_loss.h"

#include <stdlib.h>
#include <string.h>

int vivi_loss_init(vivi_loss *v, double tau_frame, double tau_shot, double lambda)
{
    int rc;
    memset(v, 0, sizeof(*v));
    if (!(lambda >= 0.0))
        return CTR_E_INVALID_ARG;
    v->lambda = lambda;
    rc = ctr_objective_create(&v->frame, CTR_OBJECTIVE_NTXENT, NULL);
    if (rc == CTR_OK) rc = ctr_objective_create(&v->shot, CTR_OBJECTIVE_NTXENT, NULL);
    if (rc == CTR_OK) rc = ctr_objective_set_f64(v->frame, CTR_OBJECTIVE_P_TEMPERATURE, tau_frame);
    if (rc == CTR_OK) rc = ctr_objective_set_f64(v->shot, CTR_OBJECTIVE_P_TEMPERATURE, tau_shot);
    if (rc == CTR_OK) rc = ctr_objective_set_i64(v->frame, CTR_OBJECTIVE_P_NORMALIZE, 1);
    if (rc == CTR_OK) rc = ctr_objective_set_i64(v->shot, CTR_OBJECTIVE_P_NORMALIZE, 1);
    if (rc != CTR_OK)
        vivi_loss_free(v);
    return rc;
}

static void free_buffers(vivi_loss *v)
{
    free(v->v1), free(v->v2), free(v->g1), free(v->g2);
    free(v->pool), free(v->gpool), free(v->gacc);
    free(v->idx), free(v->lab), free(v->cnt), free(v->off), free(v->shot_n);
    v->v1 = v->v2 = v->g1 = v->g2 = v->pool = v->gpool = v->gacc = NULL;
    v->idx = v->lab = v->cnt = v->off = v->shot_n = NULL;
    v->cap_rows = v->cap_dim = 0;
}

void vivi_loss_free(vivi_loss *v)
{
    ctr_objective_destroy(v->frame);
    ctr_objective_destroy(v->shot);
    free_buffers(v);
    memset(v, 0, sizeof(*v));
}

/* Buffers for n rows of d floats (kept when big enough). */
static int grow(vivi_loss *v, int64_t n, int64_t d)
{
    const size_t nd = (size_t)(n * d) * sizeof(float), ni = (size_t)(n + 1) * sizeof(int64_t);
    if (n <= v->cap_rows && d <= v->cap_dim)
        return CTR_OK;
    free_buffers(v);
    v->v1 = malloc(nd), v->v2 = malloc(nd), v->g1 = malloc(nd), v->g2 = malloc(nd);
    v->pool = malloc(nd), v->gpool = malloc(nd), v->gacc = malloc(nd);
    v->idx = malloc(3 * ni), v->lab = malloc(ni), v->cnt = malloc(ni), v->off = malloc(ni);
    v->shot_n = malloc(ni);
    if (!v->v1 || !v->v2 || !v->g1 || !v->g2 || !v->pool || !v->gpool || !v->gacc ||
        !v->idx || !v->lab || !v->cnt || !v->off || !v->shot_n) {
        free_buffers(v);
        return CTR_E_NOMEM;
    }
    v->cap_rows = n, v->cap_dim = d;
    return CTR_OK;
}

/* Pairs the m rows (labels in [0, nlab)): rows of each group sorted into
 * v->idx, then pair p joins the t-th row of its group's first half (view
 * 1, v->idx[m + p]) with the t-th of the second half (view 2,
 * v->idx[2m + p]); v->lab[p] its group. CTR_E_INVALID_ARG when a group's
 * count is odd or zero. */
static int pair_rows(vivi_loss *v, const int64_t *label, int64_t m, int64_t nlab)
{
    int64_t g, i, t, p = 0;
    int64_t *sorted = v->idx, *first = v->idx + m, *second = v->idx + 2 * m;
    memset(v->cnt, 0, (size_t)nlab * sizeof(int64_t));
    for (i = 0; i < m; i++)
        v->cnt[label[i]]++;
    for (g = 0; g < nlab; g++)
        if (v->cnt[g] == 0 || v->cnt[g] % 2 != 0)
            return CTR_E_INVALID_ARG;
    for (g = 0, v->off[0] = 0; g < nlab; g++)
        v->off[g + 1] = v->off[g] + v->cnt[g];
    for (i = 0; i < m; i++)
        sorted[v->off[label[i]]++] = i;
    for (g = 0; g < nlab; g++) {
        const int64_t start = v->off[g] - v->cnt[g], half = v->cnt[g] / 2;
        for (t = 0; t < half; t++, p++) {
            first[p] = sorted[start + t];
            second[p] = sorted[start + half + t];
            v->lab[p] = g;
        }
    }
    return CTR_OK;
}

/* One level: NT-Xent with groups over the m rows of x, gradient to gx
 * (m x d, overwritten). */
static int level(vivi_loss *v, ctr_objective *obj, double *loss, const float *x, int64_t m,
                 int64_t d, const int64_t *label, int64_t nlab, float *gx)
{
    const int64_t b = m / 2, *first = v->idx + m, *second = v->idx + 2 * m;
    int64_t p;
    int rc = pair_rows(v, label, m, nlab);
    if (rc != CTR_OK)
        return rc;
    for (p = 0; p < b; p++) {
        memcpy(v->v1 + p * d, x + first[p] * d, (size_t)d * sizeof(float));
        memcpy(v->v2 + p * d, x + second[p] * d, (size_t)d * sizeof(float));
    }
    rc = ctr_objective_ntxent(obj, loss, v->v1, d, v->v2, d, b, d, v->lab, v->g1, v->g2);
    for (p = 0; rc == CTR_OK && p < b; p++) {
        memcpy(gx + first[p] * d, v->g1 + p * d, (size_t)d * sizeof(float));
        memcpy(gx + second[p] * d, v->g2 + p * d, (size_t)d * sizeof(float));
    }
    return rc;
}

/* Shot embeddings: the mean of each shot's frames (v->shot_n counts). */
static void pool_shots(vivi_loss *v, const float *f, int64_t n, int64_t d,
                       const int64_t *frame_shot, int64_t n_shots)
{
    int64_t i, j, k;
    memset(v->pool, 0, (size_t)(n_shots * d) * sizeof(float));
    memset(v->shot_n, 0, (size_t)n_shots * sizeof(int64_t));
    for (i = 0; i < n; i++) {
        float *s = v->pool + frame_shot[i] * d;
        for (j = 0; j < d; j++)
            s[j] += f[i * d + j];
        v->shot_n[frame_shot[i]]++;
    }
    for (k = 0; k < n_shots; k++)
        for (j = 0; j < d; j++)
            v->pool[k * d + j] /= (float)v->shot_n[k];
}

/* gacc += lambda * d L_shot / d s_k / |shot k| for every frame of shot k. */
static void unpool(vivi_loss *v, int64_t n, int64_t d, const int64_t *frame_shot)
{
    int64_t i, j;
    for (i = 0; i < n; i++) {
        const int64_t k = frame_shot[i];
        const float w = (float)(v->lambda / (double)v->shot_n[k]);
        for (j = 0; j < d; j++)
            v->gacc[i * d + j] += w * v->gpool[k * d + j];
    }
}

static int labels_ok(const int64_t *label, int64_t m, int64_t nlab)
{
    int64_t i;
    for (i = 0; i < m; i++)
        if (label[i] < 0 || label[i] >= nlab)
            return 0;
    return 1;
}

int vivi_loss_compute(vivi_loss *v, double *loss, const float *f, int64_t n, int64_t d,
                      const int64_t *frame_shot, int64_t n_shots, const int64_t *shot_video,
                      int64_t n_videos, float *grad)
{
    double lf = 0.0, ls = 0.0;
    int rc;
    if (v == NULL || v->frame == NULL || loss == NULL || f == NULL || frame_shot == NULL ||
        shot_video == NULL || n < 2 || d < 1 || d > INT32_MAX / n || n_shots < 1 ||
        2 * n_shots > n || n_videos < 1 || 2 * n_videos > n_shots ||
        !labels_ok(frame_shot, n, n_shots) || !labels_ok(shot_video, n_shots, n_videos))
        return CTR_E_INVALID_ARG;
    rc = grow(v, n, d);
    if (rc == CTR_OK)
        rc = level(v, v->frame, &lf, f, n, d, frame_shot, n_shots, v->gacc);
    if (rc == CTR_OK) {
        pool_shots(v, f, n, d, frame_shot, n_shots);
        rc = level(v, v->shot, &ls, v->pool, n_shots, d, shot_video, n_videos, v->gpool);
    }
    if (rc != CTR_OK)
        return rc;
    unpool(v, n, d, frame_shot);
    v->frame_loss = lf, v->shot_loss = ls;
    *loss = lf + v->lambda * ls;
    if (grad != NULL)
        memcpy(grad, v->gacc, (size_t)(n * d) * sizeof(float));
    return CTR_OK;
}
