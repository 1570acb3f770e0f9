/*
 * lbfgs.h - limited-memory BFGS for smooth unconstrained minimisation
 * (Nocedal & Wright, Numerical Optimization, Algorithm 7.4 / 7.5), with a
 * backtracking Armijo line search. Used by the linear probe; the caller
 * owns all memory (ctr__lbfgs_workspace_doubles tells how much).
 */
#ifndef CTR_LBFGS_H
#define CTR_LBFGS_H

#include <stddef.h>
#include <stdint.h>

/* Evaluates the objective at w (n values): returns f(w) and writes the
 * gradient into grad. */
typedef double (*ctr__lbfgs_objective)(void *ctx, const double *w,
                                       double *grad);

typedef struct ctr__lbfgs_result {
    double f;          /* objective at the returned point */
    int64_t iterations;
    int converged;     /* gradient max-norm reached the tolerance */
} ctr__lbfgs_result;

/* Doubles of workspace for n variables and `history` correction pairs. */
size_t ctr__lbfgs_workspace_doubles(size_t n, size_t history);

/* Minimises from the starting point in w (overwritten by the result).
 * work holds ctr__lbfgs_workspace_doubles(n, history) doubles. */
ctr__lbfgs_result ctr__lbfgs_minimize(ctr__lbfgs_objective fn, void *ctx,
                                      double *w, size_t n, size_t history,
                                      int64_t max_iter, double tolerance,
                                      double *work);

#endif /* CTR_LBFGS_H */
