/*
 * crd_part.c - the CRD term of examples/crd (crd_part.h), public API only.
 */
#include "crd_part.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int head(ctr_encoder **enc, ctr_optimizer **opt, int64_t d_in,
                int64_t e, uint64_t seed, double lr)
{
    int rc = ctr_encoder_create(enc, &d_in, 1, seed, NULL);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(*enc, e, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_l2norm(*enc, 1e-12);
    if (rc == CTR_OK) rc = ctr_optimizer_create_for_encoder(opt, CTR_OPTIMIZER_ADAMW, *enc, NULL);
    if (rc == CTR_OK) rc = ctr_optimizer_set_f64(*opt, CTR_OPTIMIZER_P_LR, lr);
    if (rc == CTR_OK) rc = ctr_optimizer_set_f64(*opt, CTR_OPTIMIZER_P_WEIGHT_DECAY, 0.0);
    return rc;
}

/* The training indices grouped by class: class c at order[start[c] ..
 * start[c] + count[c]). */
static int group_by_class(crd_part *p, int64_t classes)
{
    int64_t fill[16], i, c;
    p->order = (int64_t *)malloc((size_t)p->n * sizeof(int64_t));
    if (p->order == NULL)
        return CTR_E_NOMEM;
    memset(p->count, 0, sizeof(p->count));
    for (i = 0; i < p->n; i++)
        p->count[p->labels[i]]++;
    for (c = 0; c < classes; c++) {
        p->start[c] = c == 0 ? 0 : p->start[c - 1] + p->count[c - 1];
        fill[c] = p->start[c];
        if (p->count[c] == p->n)
            return CTR_E_INVALID_ARG; /* one class only: no negatives */
    }
    for (i = 0; i < p->n; i++)
        p->order[fill[p->labels[i]]++] = i;
    return CTR_OK;
}

static float *floats(int64_t n)
{
    return (float *)malloc((size_t)n * sizeof(float));
}

int crd_part_create(crd_part *p, int64_t ds, int64_t dt, int64_t n,
                    const int64_t *labels, int64_t classes, int64_t b,
                    int64_t k, int64_t e, double beta, double lr,
                    uint64_t seed, char *err, size_t cap)
{
    int rc;
    memset(p, 0, sizeof(*p));
    p->ds = ds, p->dt = dt, p->e = e, p->n = n, p->b = b, p->k = k;
    p->beta = beta, p->labels = labels;
    rc = classes <= 16 ? group_by_class(p, classes) : CTR_E_INVALID_ARG;
    if (rc == CTR_OK) rc = head(&p->es, &p->oes, ds, e, seed + 10, lr);
    if (rc == CTR_OK) rc = head(&p->et, &p->oet, dt, e, seed + 11, lr);
    if (rc == CTR_OK) rc = ctr_objective_create(&p->ns, CTR_OBJECTIVE_NCE, NULL);
    if (rc == CTR_OK) rc = ctr_objective_create(&p->nt, CTR_OBJECTIVE_NCE, NULL);
    if (rc == CTR_OK) rc = ctr_bank_create(&p->bs, n, e, seed + 12, NULL);
    if (rc == CTR_OK) rc = ctr_bank_create(&p->bt, n, e, seed + 13, NULL);
    if (rc == CTR_OK) rc = ctr_rng_create(&p->rng, seed + 14, NULL);
    p->noise = (int64_t *)malloc((size_t)(b * k) * sizeof(int64_t));
    p->zs = floats(b * e), p->zt = floats(b * e), p->gzs = floats(b * e);
    p->gzt = floats(b * e), p->dfs = floats(b * ds);
    if (rc == CTR_OK && (!p->noise || !p->zs || !p->zt || !p->gzs || !p->gzt || !p->dfs))
        rc = CTR_E_NOMEM;
    if (rc != CTR_OK)
        snprintf(err, cap, "crd: %s", ctr_strerror(rc));
    return rc;
}

void crd_part_destroy(crd_part *p)
{
    ctr_optimizer_destroy(p->oes), ctr_optimizer_destroy(p->oet);
    ctr_encoder_destroy(p->es), ctr_encoder_destroy(p->et);
    ctr_objective_destroy(p->ns), ctr_objective_destroy(p->nt);
    ctr_bank_destroy(p->bs), ctr_bank_destroy(p->bt);
    ctr_rng_destroy(p->rng);
    free(p->order), free(p->noise);
    free(p->zs), free(p->zt), free(p->gzs), free(p->gzt), free(p->dfs);
    memset(p, 0, sizeof(*p));
}

/* Uniform over the other classes' n - count[y] images: u in [0, n -
 * count[y]) skips class y's block of the grouped order. One draw of
 * ctr_rng_below per anchor row (its bound depends on the class). */
int crd_part_sample(crd_part *p, const int64_t *idx)
{
    int64_t i, j;
    for (i = 0; i < p->b; i++) {
        const int64_t y = p->labels[idx[i]];
        int64_t *row = p->noise + i * p->k;
        int rc = ctr_rng_below(p->rng, row, p->k, p->n - p->count[y]);
        if (rc != CTR_OK)
            return rc;
        for (j = 0; j < p->k; j++)
            row[j] = p->order[row[j] >= p->start[y] ? row[j] + p->count[y] : row[j]];
    }
    return CTR_OK;
}

static int fail(char *err, size_t cap, int rc, const char *what, const char *detail)
{
    snprintf(err, cap, "crd %s: %s (%s)", what, ctr_strerror(rc), detail);
    return rc;
}

int crd_part_step(crd_part *p, const float *fs, const float *ft,
                  const int64_t *idx, double *ls, double *lt, char *err,
                  size_t cap)
{
    const float *rows_s, *rows_t;
    const int64_t b = p->b, e = p->e;
    int64_t i;
    int rc = crd_part_sample(p, idx);
    if (rc == CTR_OK) rc = ctr_encoder_forward(p->es, p->zs, fs, b, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK) rc = ctr_encoder_forward(p->et, p->zt, ft, b, CTR_ENCODER_TRAIN);
    if (rc != CTR_OK)
        return fail(err, cap, rc, "heads", ctr_encoder_last_error(p->es));
    ctr_bank_rows(p->bs, &rows_s, NULL, NULL);
    ctr_bank_rows(p->bt, &rows_t, NULL, NULL);
    /* the student against the teacher bank, the teacher against the
     * student bank; the same anchors and noise both ways */
    rc = ctr_objective_nce(p->ns, ls, p->zs, e, b, e, rows_t, e, p->n, idx, p->noise, p->k,
                           p->gzs);
    if (rc != CTR_OK)
        return fail(err, cap, rc, "nce", ctr_objective_last_error(p->ns));
    rc = ctr_objective_nce(p->nt, lt, p->zt, e, b, e, rows_s, e, p->n, idx, p->noise, p->k,
                           p->gzt);
    if (rc != CTR_OK)
        return fail(err, cap, rc, "nce", ctr_objective_last_error(p->nt));
    for (i = 0; i < b * e; i++)
        p->gzs[i] *= (float)p->beta, p->gzt[i] *= (float)p->beta;
    rc = ctr_encoder_zero_grad(p->es);
    if (rc == CTR_OK) rc = ctr_encoder_zero_grad(p->et);
    if (rc == CTR_OK) rc = ctr_encoder_backward(p->es, p->dfs, p->gzs);
    if (rc == CTR_OK) rc = ctr_encoder_backward(p->et, NULL, p->gzt);
    if (rc == CTR_OK) rc = ctr_optimizer_step(p->oes);
    if (rc == CTR_OK) rc = ctr_optimizer_step(p->oet);
    if (rc == CTR_OK) rc = ctr_bank_update(p->bs, idx, b, p->zs, e);
    if (rc == CTR_OK) rc = ctr_bank_update(p->bt, idx, b, p->zt, e);
    return rc == CTR_OK ? rc : fail(err, cap, rc, "backward/update", "");
}
