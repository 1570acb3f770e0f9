/*
 * distill.c - the DISTILL kind: softmax cross-entropy on labels plus
 * Hinton et al.'s KD term against a frozen teacher (RepDistiller's
 * DistillKL: KL(p_t^T || p_s^T) summed over the batch, times T^2, over b),
 * with the gradient w.r.t. the student logits. One row at a time, in
 * double precision: c is a number of classes, so the work is O(b c) and
 * no GEMM is involved.
 */
#include "objectives/kind.h"

#include <math.h>
#include <string.h>

typedef struct distill_args {
    const float *s, *t;
    const int64_t *labels;
    int64_t lds, ldt, b, c;
    double ce_weight, kd_weight;
    float *grad;
} distill_args;

static const int32_t PARAMS[] = {CTR_OBJECTIVE_P_TEMPERATURE, 0};

/* Hinton et al. / RepDistiller / CRD: T = 4. */
static void distill_defaults(ctr_objective *obj)
{
    obj->temperature = 4.0;
}

static int check_weight(ctr_objective *obj, double w, const char *what)
{
    if (!isfinite(w))
        return ctr__fail(&obj->err, CTR_E_NUMERIC, "%s is not finite", what);
    if (w < 0.0 || w > 1e6)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                         "%s = %g is outside [0, 1e6]", what, w);
    return CTR_OK;
}

static int distill_check(ctr_objective *obj, void *args, ctr__obj_dims *dims)
{
    const distill_args *a = (const distill_args *)args;
    int rc = ctr__obj_check_sizes(obj, a->b, a->c);
    if (rc == CTR_OK)
        rc = check_weight(obj, a->ce_weight, "ce_weight");
    if (rc == CTR_OK)
        rc = check_weight(obj, a->kd_weight, "kd_weight");
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->s, a->b, a->c, a->lds, "student");
    if (rc == CTR_OK && a->kd_weight > 0.0)
        rc = ctr__obj_check_matrix(obj, a->t, a->b, a->c, a->ldt, "teacher");
    if (rc == CTR_OK && a->ce_weight > 0.0)
        rc = ctr__obj_check_indices(obj, a->labels, a->b, a->c, "labels");
    dims->b = a->b;
    dims->d = a->c;
    return rc;
}

/* Three rows of c doubles. */
static int distill_workspace(const ctr_objective *obj, size_t *bytes,
                             int64_t b, int64_t d, int64_t k)
{
    size_t n = 0;
    int rc = CTR_OK, i;
    (void)obj, (void)b, (void)k;
    if (d > INT64_MAX / 2)
        return CTR_E_OVERFLOW;
    for (i = 0; i < 3 && rc == CTR_OK; i++)
        rc = ctr__obj_ws_add(&n, 2 * d);
    if (rc == CTR_OK)
        *bytes = n;
    return rc;
}

/* out = log softmax(x / T) of one row, in double. */
static void log_softmax(double *out, const float *x, int64_t c, double inv_t)
{
    double m = -INFINITY, s = 0.0;
    int64_t j;
    for (j = 0; j < c; j++) {
        out[j] = (double)x[j] * inv_t;
        m = out[j] > m ? out[j] : m;
    }
    for (j = 0; j < c; j++)
        s += exp(out[j] - m);
    s = m + log(s);
    for (j = 0; j < c; j++)
        out[j] -= s;
}

/* The row's target: its label, else the teacher's first top class. */
static int64_t row_target(const distill_args *a, int64_t i)
{
    const float *t;
    int64_t j, best = 0;
    if (a->ce_weight > 0.0)
        return a->labels[i];
    t = a->t + i * a->ldt; /* only now: without KD the teacher may be NULL */
    for (j = 1; j < a->c; j++)
        best = t[j] > t[best] ? j : best;
    return best;
}

static void row_stats(const distill_args *a, int64_t i, ctr__obj_stats *st)
{
    const float *s = a->s + i * a->lds;
    const int64_t y = row_target(a, i);
    double others = 0.0;
    int64_t j, correct = 1;
    for (j = 0; j < a->c; j++) {
        if (j == y)
            continue;
        others += s[j];
        correct &= s[j] < s[y];
    }
    st->accuracy += (double)correct;
    st->pos_sim += s[y];
    if (a->c > 1)
        st->neg_sim += others / (double)(a->c - 1);
}

/* Loss of row i (unscaled by 1/b); its gradient row when grad is set. */
static double distill_row(const ctr_objective *obj, const distill_args *a,
                          int64_t i, double *ls, double *lst, double *ltt)
{
    const float *s = a->s + i * a->lds;
    const double t = obj->temperature, inv_b = 1.0 / (double)a->b;
    const double kd_scale = a->kd_weight * t * t;
    double loss = 0.0;
    int64_t j;
    if (a->ce_weight > 0.0) {
        log_softmax(ls, s, a->c, 1.0);
        loss += -a->ce_weight * ls[a->labels[i]];
    }
    if (a->kd_weight > 0.0) {
        double kl = 0.0;
        log_softmax(lst, s, a->c, 1.0 / t);
        log_softmax(ltt, a->t + i * a->ldt, a->c, 1.0 / t);
        for (j = 0; j < a->c; j++) {
            double pt = exp(ltt[j]);
            if (pt > 0.0)
                kl += pt * (ltt[j] - lst[j]);
        }
        loss += kd_scale * kl;
    }
    if (a->grad != NULL) {
        float *gr = a->grad + i * a->c;
        for (j = 0; j < a->c; j++) {
            double v = 0.0;
            if (a->ce_weight > 0.0)
                v += a->ce_weight * (exp(ls[j]) - (j == a->labels[i]));
            if (a->kd_weight > 0.0)
                v += a->kd_weight * t * (exp(lst[j]) - exp(ltt[j]));
            gr[j] = (float)(v * inv_b);
        }
    }
    return loss;
}

static int distill_run(ctr_objective *obj, const void *args,
                       ctr__obj_stats *st)
{
    const distill_args *a = (const distill_args *)args;
    ctr__carve cv = {(char *)obj->ws, 0};
    double *ls = (double *)(void *)ctr__carve_floats(&cv, (size_t)(2 * a->c));
    double *lst = (double *)(void *)ctr__carve_floats(&cv, (size_t)(2 * a->c));
    double *ltt = (double *)(void *)ctr__carve_floats(&cv, (size_t)(2 * a->c));
    double loss = 0.0;
    int64_t i;
    memset(st, 0, sizeof(*st));
    for (i = 0; i < a->b; i++) {
        loss += distill_row(obj, a, i, ls, lst, ltt);
        if (a->ce_weight > 0.0 || a->kd_weight > 0.0)
            row_stats(a, i, st);
    }
    st->loss = loss / (double)a->b;
    st->accuracy /= (double)a->b;
    st->pos_sim /= (double)a->b;
    st->neg_sim /= (double)a->b;
    st->chance_loss = log((double)a->c);
    return CTR_OK;
}

/* Listed in registry.c. */
const ctr__obj_kind ctr__obj_distill = {
    .id = CTR_OBJECTIVE_DISTILL,
    .name = "DISTILL",
    .params = PARAMS,
    .defaults = distill_defaults,
    .check = distill_check,
    .workspace = distill_workspace,
    .run = distill_run,
};

CTR_API int ctr_objective_distill(ctr_objective *obj, double *loss,
                                  const float *student, int64_t lds,
                                  const float *teacher, int64_t ldt,
                                  const int64_t *labels, int64_t b, int64_t c,
                                  double ce_weight, double kd_weight,
                                  float *grad_student)
{
    distill_args args = {student, teacher, labels, lds, ldt, b, c,
                         ce_weight, kd_weight, grad_student};
    return ctr__obj_call(obj, &ctr__obj_distill, "ctr_objective_distill",
                         &args, loss);
}
