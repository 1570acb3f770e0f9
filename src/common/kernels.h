/*
 * kernels.h - the library's vector kernels (the objectives' hot loops,
 * the BLAS wrapper's fill and axpy): an exp that vectorises (Cephes-style
 * polynomial, about 2 ulp on the range used), reductions, row
 * normalisation and its backward, and a finite scan.
 * They run on GCC/clang vector extensions, with AVX-512 and AVX2+FMA
 * clones on x86-64 chosen per call from the CPU's feature bits.
 */
#ifndef CTR_KERNELS_H
#define CTR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Below this a shifted logit's exp is flushed to 0 (exp(-87.3) ~ FLT_MIN). */
#define CTR__EXP_LO (-87.3f)

/* x[i] = exp(x[i] - shift) in place; returns the sum of the results
 * (float, summed in 16 lanes). -inf entries give 0. */
float ctr__vexp_shift_sum(float *x, int64_t n, float shift);
/* One row of an online softmax in one pass. In: o->shift, the reference r
 * (-inf for none yet). x[i] = exp(x[i] - r) in place, where r rises to the
 * max of a block of 64 entries whenever that max exceeds r + slack (the
 * entries already written are rescaled then), so every result is at most
 * exp(slack) and r is within slack of the row's max. Returns the sum of
 * the results; out: o->shift = the final r, o->max = max of x (-inf for
 * n == 0), o->raw = sum of the entries of x that are not -inf. */
typedef struct ctr__online_row {
    float shift, max, raw;
} ctr__online_row;
float ctr__vexp_online(float *x, int64_t n, float slack, ctr__online_row *o);
/* NT-Xent's passes over the part of a row of S right of its diagonal, x
 * (n entries), with arrays of the same columns beside it, so that one
 * read of the similarity S_rc serves row r and (through the column
 * arrays) row c:
 * colmax[i] = max(colmax[i], x[i]); returns max x (-inf for n == 0) and in
 * *raw the sum of the entries that are not -inf. */
float ctr__vmax_col(const float *x, int64_t n, float *colmax, float *raw);
/* x[i] = e_i = exp((x[i] - m) + (ar - a[i])) in place (the similarity
 * minus half of its row's and half of its column's max, m = 2 ar);
 * colacc[i] += e_i * fr; returns the sum of e_i * f[i]. */
float ctr__vexp_sym(float *x, int64_t n, float m, float ar, float fr,
                    const float *a, const float *f, float *colacc);
/* One shift m for the row and every column: x[i] = e_i = exp(x[i] - m)
 * in place, colacc[i] += e_i, colmax[i] = max(colmax[i], x[i]) (the
 * entry before the exp); returns the sum of e_i; out: o->shift = m,
 * o->max = max of x (-inf for n == 0), o->raw = sum of the entries that
 * are not -inf (-inf entries give e_i = 0). */
float ctr__vexp_scan(float *x, int64_t n, float m, float *colacc,
                     float *colmax, ctr__online_row *o);
/* colacc[i] += exp(x[i] - mc[i]); returns the sum of exp(x[i] - m). */
float ctr__vexp_rowcol(const float *x, int64_t n, float m, const float *mc,
                       float *colacc);
/* x[i] = scale * (exp((x[i] - m) - ls) + exp((x[i] - mc[i]) - lsc[i])):
 * a softmax entry of the row plus that of the column, each log-sum-exp
 * kept as a max and a log of a sum so that no large number is rounded. */
void ctr__vexp_pair(float *x, int64_t n, float m, float ls, const float *mc,
                    const float *lsc, float scale);
/* x[i] *= alpha * u[i] + beta * v[i]. */
void ctr__vmul_mix(float *x, const float *u, const float *v, float alpha,
                   float beta, int64_t n);
/* max of x[0..n) (-inf for n == 0), and in *sum their sum: one pass. */
float ctr__vmax_sum(const float *x, int64_t n, float *sum);
/* max of x[0..n), -inf for n == 0. */
float ctr__vmax(const float *x, int64_t n);
/* sum of x[0..n). */
float ctr__vsum(const float *x, int64_t n);
/* sum of a[i] * b[i]. */
float ctr__vdot(const float *a, const float *b, int64_t n);
/* y[i] += alpha * x[i]. */
void ctr__vaxpy(float *y, const float *x, float alpha, int64_t n);
/* x[i] *= alpha. */
void ctr__vscale(float *x, float alpha, int64_t n);
/* out[i] = alpha * x[i]. */
void ctr__vcopy_scaled(float *out, const float *x, float alpha, int64_t n);
/* x[i] *= s[i]. */
void ctr__vmul(float *x, const float *s, int64_t n);
/* sum of a[i] * b[i] in double (each product exact). */
double ctr__vdot_f64(const float *a, const float *b, int64_t n);
/* out[i] = (float)((x[i] - a * y[i]) * sc), in double; out may be x. */
void ctr__vaffine_f64(float *out, const float *x, const float *y, double a,
                      double sc, int64_t n);
/* 1 if every x[i] is finite, else 0. */
int ctr__vfinite(const float *x, int64_t n);
/* 1 if every element of the rows x cols view is finite, else 0. */
int ctr__all_finite(const float *x, int64_t rows, int64_t cols, int64_t ld);

/* out = rows of x scaled by scale / max(|x_r|, 1e-12) (out contiguous,
 * leading dimension cols; out may equal x only when ld == cols);
 * inv_norm[r] (may be NULL) receives 1 / max(|x_r|, 1e-12). */
void ctr__normalize_rows(float *out, const float *x, int64_t rows,
                         int64_t cols, int64_t ld, float scale,
                         float *inv_norm);
/* Backward of y = x / max(|x|, eps) for each row, in place on g (contiguous
 * rows x cols): g <- (g - y (y . g)) * inv_norm, or g * inv_norm where the
 * norm was clamped to eps. y is the normalised row (leading dimension
 * ldy), y_scale the factor it was stored with (y_stored = y_scale * y). */
void ctr__normalize_backward(float *g, const float *y_stored, int64_t ldy,
                             float y_scale, const float *inv_norm,
                             int64_t rows, int64_t cols);

/* sum over rows of x_r . y_r (row-major views), accumulated in double. */
double ctr__rows_dot(const float *x, int64_t ldx, const float *y,
                     int64_t ldy, int64_t rows, int64_t cols);

/* The vector kernels above compiled for one instruction set. */
typedef struct ctr__math_isa {
    const char *name; /* "avx512f", "avx2+fma" or "portable" */
    float (*vexp_shift_sum)(float *x, int64_t n, float shift);
    float (*vexp_online)(float *x, int64_t n, float slack,
                         ctr__online_row *o);
    float (*vmax_col)(const float *x, int64_t n, float *colmax, float *raw);
    float (*vexp_sym)(float *x, int64_t n, float m, float ar, float fr,
                      const float *a, const float *f, float *colacc);
    float (*vexp_scan)(float *x, int64_t n, float m, float *colacc,
                       float *colmax, ctr__online_row *o);
    float (*vexp_rowcol)(const float *x, int64_t n, float m, const float *mc,
                         float *colacc);
    void (*vexp_pair)(float *x, int64_t n, float m, float ls,
                      const float *mc, const float *lsc, float scale);
    void (*vmul_mix)(float *x, const float *u, const float *v, float alpha,
                     float beta, int64_t n);
    float (*vmax_sum)(const float *x, int64_t n, float *sum);
    float (*vmax)(const float *x, int64_t n);
    float (*vsum)(const float *x, int64_t n);
    float (*vdot)(const float *a, const float *b, int64_t n);
    void (*vaxpy)(float *y, const float *x, float alpha, int64_t n);
    void (*vscale)(float *x, float alpha, int64_t n);
    void (*vcopy_scaled)(float *out, const float *x, float alpha, int64_t n);
    void (*vmul)(float *x, const float *s, int64_t n);
    int (*vfinite)(const float *x, int64_t n);
    double (*vdot_f64)(const float *a, const float *b, int64_t n);
    void (*vaffine_f64)(float *out, const float *x, const float *y, double a,
                        double sc, int64_t n);
} ctr__math_isa;

/* The i-th kernel table this CPU can run, the widest first (i = 0 is the
 * one the ctr__v* calls use); NULL past the last. The tables are
 * constant, so tests can run every one. */
const ctr__math_isa *ctr__math_isa_at(int i);

/* Copies a rows x cols view into a contiguous block, times scale. */
void ctr__copy_scaled(float *out, const float *x, int64_t rows, int64_t cols,
                      int64_t ld, float scale);

/* log(1 + exp(x)) without overflow. */
double ctr__softplus(double x);

#endif /* CTR_KERNELS_H */
