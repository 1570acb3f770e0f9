/*
 * lbfgs.c - L-BFGS two-loop recursion with an Armijo backtracking search.
 */
#include "eval/lbfgs.h"

#include <math.h>
#include <string.h>

#define ARMIJO_C1 1e-4
#define MAX_BACKTRACKS 40

/* The workspace, carved out of one block of doubles. */
typedef struct lbfgs_state {
    double *s, *y;  /* history x history*n each: s_k = Δw, y_k = Δgrad */
    double *rho;    /* history: 1 / (y_k · s_k) */
    double *alpha;  /* history: two-loop coefficients */
    double *grad, *dir, *w_new, *grad_new; /* n each */
    size_t n, history, count, newest;
} lbfgs_state;

size_t ctr__lbfgs_workspace_doubles(size_t n, size_t history)
{
    return 2 * history * n + 2 * history + 4 * n;
}

static double dot(const double *a, const double *b, size_t n)
{
    double sum = 0.0;
    size_t i;
    for (i = 0; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

static double max_abs(const double *a, size_t n)
{
    double m = 0.0;
    size_t i;
    for (i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

/* dir = -H·grad by the two-loop recursion over the stored pairs, with the
 * initial Hessian scaled by s·y / y·y of the newest pair. */
static void search_direction(lbfgs_state *st)
{
    size_t n = st->n, k, j;
    double gamma = 1.0;
    for (j = 0; j < n; j++)
        st->dir[j] = -st->grad[j];
    for (k = 0; k < st->count; k++) { /* newest to oldest */
        size_t i = (st->newest + st->history - k) % st->history;
        const double *s = st->s + i * n, *y = st->y + i * n;
        double a = st->rho[i] * dot(s, st->dir, n);
        st->alpha[i] = a;
        for (j = 0; j < n; j++)
            st->dir[j] -= a * y[j];
    }
    if (st->count > 0) {
        const double *y = st->y + st->newest * n;
        gamma = 1.0 / (st->rho[st->newest] * dot(y, y, n));
    }
    for (j = 0; j < n; j++)
        st->dir[j] *= gamma;
    for (k = st->count; k-- > 0;) { /* oldest to newest */
        size_t i = (st->newest + st->history - k) % st->history;
        const double *s = st->s + i * n, *y = st->y + i * n;
        double b = st->rho[i] * dot(y, st->dir, n);
        for (j = 0; j < n; j++)
            st->dir[j] += (st->alpha[i] - b) * s[j];
    }
}

/* Stores the pair (w_new - w, grad_new - grad) if it keeps H positive
 * definite (y·s clearly > 0); otherwise the update is skipped and the
 * history is left as it was. */
static void remember_pair(lbfgs_state *st, const double *w)
{
    size_t n = st->n, j, slot;
    double ys = 0.0, yy = 0.0, ss = 0.0, *s, *y;
    for (j = 0; j < n; j++) {
        double dw = st->w_new[j] - w[j], dg = st->grad_new[j] - st->grad[j];
        ys += dw * dg;
        yy += dg * dg;
        ss += dw * dw;
    }
    if (!(ys > 1e-12 * sqrt(yy * ss)))
        return;
    slot = st->count == 0 ? 0 : (st->newest + 1) % st->history;
    s = st->s + slot * n;
    y = st->y + slot * n;
    for (j = 0; j < n; j++) {
        s[j] = st->w_new[j] - w[j];
        y[j] = st->grad_new[j] - st->grad[j];
    }
    st->rho[slot] = 1.0 / ys;
    st->newest = slot;
    if (st->count < st->history)
        st->count++;
}

ctr__lbfgs_result ctr__lbfgs_minimize(ctr__lbfgs_objective fn, void *ctx,
                                      double *w, size_t n, size_t history,
                                      int64_t max_iter, double tolerance,
                                      double *work)
{
    lbfgs_state st;
    ctr__lbfgs_result res;
    double f;

    st.s = work;
    st.y = st.s + history * n;
    st.rho = st.y + history * n;
    st.alpha = st.rho + history;
    st.grad = st.alpha + history;
    st.dir = st.grad + n;
    st.w_new = st.dir + n;
    st.grad_new = st.w_new + n;
    st.n = n;
    st.history = history;
    st.count = 0;
    st.newest = 0;

    f = fn(ctx, w, st.grad);
    res.converged = 0;
    for (res.iterations = 0; res.iterations < max_iter; res.iterations++) {
        double slope, step, f_new = f;
        int tries;
        if (max_abs(st.grad, n) <= tolerance) {
            res.converged = 1;
            break;
        }
        search_direction(&st);
        slope = dot(st.grad, st.dir, n);
        if (!(slope < 0.0)) { /* not a descent direction: restart */
            size_t j;
            st.count = 0;
            for (j = 0; j < n; j++)
                st.dir[j] = -st.grad[j];
            slope = dot(st.grad, st.dir, n);
        }
        /* The first step has no curvature estimate: keep it short. */
        step = st.count == 0 ? fmin(1.0, 1.0 / sqrt(-slope)) : 1.0;
        for (tries = 0; tries < MAX_BACKTRACKS; tries++, step *= 0.5) {
            size_t j;
            for (j = 0; j < n; j++)
                st.w_new[j] = w[j] + step * st.dir[j];
            f_new = fn(ctx, st.w_new, st.grad_new);
            if (f_new <= f + ARMIJO_C1 * step * slope)
                break;
        }
        if (tries == MAX_BACKTRACKS)
            break; /* no decrease at float precision: we are done */
        remember_pair(&st, w);
        memcpy(w, st.w_new, n * sizeof(double));
        memcpy(st.grad, st.grad_new, n * sizeof(double));
        f = f_new;
    }
    res.f = f;
    return res;
}
