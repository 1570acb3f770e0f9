/*
 * check_math.c - the objectives' vector kernels, every instruction-set
 * table this CPU can run (not only the one the library picks): each kernel
 * against a double-precision reference at every length 0..70 (so every
 * tail path runs), NT-Xent's passes over the upper triangle (row and
 * column sums, maxima and exps from one read), the double-lane kernels of row
 * normalisation, the online softmax row's moving reference, -inf and
 * underflow in the exp, the finite scan at every position, and the FMA
 * tables (AVX-512, AVX2+FMA) bit-identical to each other.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/kernels.h"
#include "common/prng.h"
#include "common/vec.h"
#include "test_util.h"

#define MAXN 70

static void fill(float *x, int64_t n, uint64_t seed, double lo, double hi)
{
    ctr__prng g;
    int64_t i;
    ctr__prng_seed(&g, seed);
    for (i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * ctr__prng_uniform_f64(&g));
}

/* exp(x - shift) as the kernels define it: the difference rounded to
 * float, 0 below CTR__EXP_LO */
static double ref_exp(float x, float shift)
{
    float e = x - shift;
    return e < CTR__EXP_LO ? 0.0 : exp((double)e);
}

START_TEST(test_table_list)
{
    const ctr__math_isa *isa;
    int i = 0;
    ck_assert_ptr_nonnull(ctr__math_isa_at(0));
    while ((isa = ctr__math_isa_at(i)) != NULL) {
        ck_assert_ptr_nonnull(isa->name);
        i++;
    }
    ck_assert_int_ge(i, 1);
    ck_assert_str_eq(ctr__math_isa_at(i - 1)->name, "portable");
    ck_assert_ptr_null(ctr__math_isa_at(i + 1));
}
END_TEST

START_TEST(test_exp_kernels)
{
    const ctr__math_isa *isa = ctr__math_isa_at(_i);
    float x[MAXN], y[MAXN];
    int64_t n, i;
    if (isa == NULL)
        return;
    for (n = 0; n <= MAXN; n++) {
        double want = 0.0;
        float got;
        fill(x, n, 100 + (uint64_t)n, -100.0, 8.0);
        if (n > 2)
            x[n / 2] = -INFINITY;
        memcpy(y, x, sizeof(x));
        got = isa->vexp_shift_sum(y, n, 2.5f);
        for (i = 0; i < n; i++) {
            double e = ref_exp(x[i], 2.5f);
            ck_assert_close(y[i], e, 4e-7, 1e-37);
            want += e;
        }
        ck_assert_close(got, want, 1e-6, 1e-37);
    }
}
END_TEST

/* exp((x - m) - l) as the pair kernel defines it: both steps in float */
static double ref_exp2(float x, float m, float l)
{
    float e = (x - m) - l;
    return e < CTR__EXP_LO ? 0.0 : exp((double)e);
}

/* vexp_scan on x (copied in y) against double precision: y = exp(x - 10),
 * col (|col0| before) += y, mx (col0 before) = max(col0, x). */
static void check_scan(const ctr__math_isa *isa, const float *x, float *y,
                       float *col, float *mx, const float *col0, int64_t n)
{
    ctr__online_row o = {0.0f, 0.0f, 0.0f};
    double want = 0.0, raw = 0.0;
    float best = -INFINITY, got = isa->vexp_scan(y, n, 10.0f, col, mx, &o);
    int64_t i;
    for (i = 0; i < n; i++) {
        double e = ref_exp(x[i], 10.0f);
        ck_assert_close(y[i], e, 4e-6, 1e-37);
        ck_assert_close(col[i], fabsf(col0[i]) + e, 1e-6, 1e-37);
        ck_assert(mx[i] == (x[i] > col0[i] ? x[i] : col0[i]));
        best = x[i] > best ? x[i] : best;
        raw += x[i] > -INFINITY ? x[i] : 0.0;
        want += e;
    }
    ck_assert(o.shift == 10.0f && o.max == best);
    ck_assert_close(o.raw, raw, 1e-6, 1e-4);
    ck_assert_close(got, want, 1e-5, 1e-37);
    ck_assert(y[n] == 42.0f);
}

/* NT-Xent's passes over a row's part of the upper triangle: every kernel
 * against double precision at every length, -inf entries included. */
START_TEST(test_sym_kernels)
{
    const ctr__math_isa *isa = ctr__math_isa_at(_i);
    float x[MAXN + 1], y[MAXN + 1], a[MAXN], f[MAXN], col[MAXN + 1];
    float col0[MAXN], mx[MAXN], raw;
    int64_t n, i;
    if (isa == NULL)
        return;
    for (n = 0; n <= MAXN; n++) {
        double want = 0.0, wraw = 0.0;
        float best = -INFINITY, got;
        fill(x, n, 1100 + (uint64_t)n, -60.0, 10.0);
        fill(a, n, 1200 + (uint64_t)n, 0.0, 20.0);
        fill(f, n, 1300 + (uint64_t)n, 0.01, 1.0);
        fill(col0, n, 1400 + (uint64_t)n, -30.0, 30.0);
        if (n > 2)
            x[n / 2] = -INFINITY;
        x[n] = y[n] = col[n] = 42.0f; /* nothing past n is written */
        /* max into the columns, max and raw sum of the row */
        memcpy(col, col0, (size_t)n * sizeof(float));
        got = isa->vmax_col(x, n, col, &raw);
        for (i = 0; i < n; i++) {
            best = x[i] > best ? x[i] : best;
            wraw += x[i] > -INFINITY ? x[i] : 0.0;
            ck_assert(col[i] == (x[i] > col0[i] ? x[i] : col0[i]));
        }
        ck_assert(got == best && col[n] == 42.0f);
        ck_assert_close(raw, wraw, 1e-6, 1e-4);
        /* E = exp((x - 10) + (5 - a)), row sum of E f, columns += E fr */
        memcpy(y, x, (size_t)n * sizeof(float));
        memcpy(col, col0, (size_t)n * sizeof(float));
        for (i = 0; i < n; i++)
            col[i] = fabsf(col[i]);
        got = isa->vexp_sym(y, n, 10.0f, 5.0f, 0.5f, a, f, col);
        for (i = 0; i < n; i++) {
            double e = ref_exp2(x[i], 10.0f, a[i] - 5.0f);
            ck_assert_close(y[i], e, 4e-6, 1e-37);
            ck_assert_close(col[i], fabsf(col0[i]) + 0.5 * e, 1e-6, 1e-37);
            want += e * f[i];
        }
        ck_assert(y[n] == 42.0f && col[n] == 42.0f);
        ck_assert_close(got, want, 1e-5, 1e-37);
        /* one shift: exp, row and column sums, maxima, raw sum */
        memcpy(y, x, (size_t)n * sizeof(float));
        memcpy(col, col0, (size_t)n * sizeof(float));
        memcpy(mx, col0, (size_t)n * sizeof(float));
        for (i = 0; i < n; i++)
            col[i] = fabsf(col[i]);
        check_scan(isa, x, y, col, mx, col0, n);
        /* both exps of each entry: the row's sum, the columns' sums */
        memcpy(col, col0, (size_t)n * sizeof(float));
        for (i = 0; i < n; i++)
            col[i] = fabsf(col[i]);
        want = 0.0;
        got = isa->vexp_rowcol(x, n, 3.0f, a, col);
        for (i = 0; i < n; i++) {
            want += ref_exp(x[i], 3.0f);
            ck_assert_close(col[i], fabsf(col0[i]) + ref_exp(x[i], a[i]),
                            1e-6, 1e-37);
        }
        ck_assert(col[n] == 42.0f);
        ck_assert_close(got, want, 1e-5, 1e-37);
        /* the row's and the column's softmax entries */
        memcpy(y, x, (size_t)n * sizeof(float));
        isa->vexp_pair(y, n, 1.5f, 0.25f, a, f, 0.5f);
        for (i = 0; i < n; i++)
            ck_assert_close(y[i],
                            0.5 * (ref_exp2(x[i], 1.5f, 0.25f) +
                                   ref_exp2(x[i], a[i], f[i])),
                            6e-7, 1e-37);
        ck_assert(y[n] == 42.0f);
    }
}
END_TEST

/* x[i] = -50 + 0.5 i: the max climbs 32 per 64-entry block, past the
 * slack, so the online kernel moves its reference and rescales. */
static void ramp(float *x, int64_t n)
{
    int64_t i;
    for (i = 0; i < n; i++)
        x[i] = -50.0f + 0.5f * (float)i;
}

#define ONLINE_MAXN 260
#define SLACK 16.0f

static void check_online(const ctr__math_isa *isa, const float *x, int64_t n,
                         float shift)
{
    float y[ONLINE_MAXN];
    ctr__online_row o;
    double want = 0.0, raw = 0.0;
    float best = -INFINITY, got;
    int64_t i;
    memcpy(y, x, (size_t)n * sizeof(float));
    o.shift = shift;
    got = isa->vexp_online(y, n, SLACK, &o);
    for (i = 0; i < n; i++) {
        best = x[i] > best ? x[i] : best;
        raw += x[i] == -INFINITY ? 0.0 : x[i];
    }
    ck_assert(o.max == best);
    ck_assert_close(o.raw, raw, 1e-6, 1e-4);
    if (best > -INFINITY) { /* the reference ends within slack of the max */
        ck_assert(o.shift >= best - SLACK);
        ck_assert(o.shift <= (best > shift ? best : shift));
    }
    for (i = 0; i < n; i++) {
        double e = ref_exp(x[i], o.shift == -INFINITY ? 0.0f : o.shift);
        ck_assert_close(y[i], e, 4e-6, 1e-37);
        ck_assert(y[i] <= expf(SLACK) * 1.000001f);
        want += e;
    }
    ck_assert_close(got, want, 1e-5, 1e-37);
}

START_TEST(test_exp_online)
{
    const ctr__math_isa *isa = ctr__math_isa_at(_i);
    const int64_t lengths[] = {0, 1, 5, 16, 17, 63, 64, 65, 100, 128, 129,
                               200, 257};
    float x[ONLINE_MAXN];
    int64_t i;
    size_t k;
    if (isa == NULL)
        return;
    for (k = 0; k < sizeof(lengths) / sizeof(lengths[0]); k++) {
        const int64_t n = lengths[k];
        fill(x, n, 1000 + (uint64_t)n, -20.0, 5.0);
        check_online(isa, x, n, 2.5f);    /* no move: max < 2.5 + slack */
        check_online(isa, x, n, -30.0f);  /* one move in the first block */
        check_online(isa, x, n, -INFINITY);
        if (n > 3)
            x[1] = x[n - 2] = -INFINITY;  /* masked entries */
        check_online(isa, x, n, -INFINITY);
        ramp(x, n);                       /* a move in every block */
        check_online(isa, x, n, -INFINITY);
        check_online(isa, x, n, 0.0f);
        for (i = 0; i < n; i++)           /* all masked */
            x[i] = -INFINITY;
        check_online(isa, x, n, -INFINITY);
        check_online(isa, x, n, 1.0f);
    }
}
END_TEST

START_TEST(test_reductions)
{
    const ctr__math_isa *isa = ctr__math_isa_at(_i);
    float x[MAXN], y[MAXN];
    int64_t n, i;
    if (isa == NULL)
        return;
    for (n = 0; n <= MAXN; n++) {
        double sum = 0.0, dot = 0.0;
        float best = -INFINITY, s2;
        fill(x, n, 300 + (uint64_t)n, -4.0, 4.0);
        fill(y, n, 400 + (uint64_t)n, -4.0, 4.0);
        for (i = 0; i < n; i++) {
            sum += x[i];
            dot += (double)x[i] * y[i];
            best = x[i] > best ? x[i] : best;
        }
        ck_assert(isa->vmax(x, n) == best);
        ck_assert(isa->vmax_sum(x, n, &s2) == best);
        ck_assert_close(s2, sum, 1e-6, 1e-5);
        ck_assert_close(isa->vsum(x, n), sum, 1e-6, 1e-5);
        ck_assert_close(isa->vdot(x, y, n), dot, 1e-6, 1e-5);
    }
}
END_TEST

/* The double-lane kernels of row normalisation: the dot product of
 * float rows in double (each product exact, so the sum is within a few
 * double ulps of the exact one) and the affine map rounded once to float,
 * in place as well. */
START_TEST(test_f64_kernels)
{
    const ctr__math_isa *isa = ctr__math_isa_at(_i);
    float x[MAXN + 1], y[MAXN], out[MAXN + 1];
    int64_t n, i;
    if (isa == NULL)
        return;
    for (n = 0; n <= MAXN; n++) {
        long double dot = 0.0L, mag = 0.0L;
        fill(x, n, 1500 + (uint64_t)n, -300.0, 300.0);
        fill(y, n, 1600 + (uint64_t)n, -3e-3, 3e-3);
        for (i = 0; i < n; i++) {
            dot += (long double)x[i] * (long double)y[i];
            mag += fabsl((long double)x[i] * (long double)y[i]);
        }
        ck_assert_close(isa->vdot_f64(x, y, n), (double)dot, 0.0,
                        1e-15 * (double)mag);
        out[n] = x[n] = 9.0f; /* nothing past n is written */
        isa->vaffine_f64(out, x, y, 1e4, -0.125, n);
        for (i = 0; i < n; i++)
            ck_assert_close(out[i],
                            ((double)x[i] - 1e4 * (double)y[i]) * -0.125,
                            1.2e-7, 1e-12);
        ck_assert(out[n] == 9.0f);
        memcpy(y, x, (size_t)n * sizeof(float));
        isa->vaffine_f64(x, x, x, 0.0, 3.0, n); /* in place, as normalising */
        for (i = 0; i < n; i++)
            ck_assert(x[i] == (float)(3.0 * (double)y[i])); /* one rounding */
        ck_assert(x[n] == 9.0f);
    }
}
END_TEST

START_TEST(test_elementwise)
{
    const ctr__math_isa *isa = ctr__math_isa_at(_i);
    float x[MAXN], v[MAXN], y[MAXN + 1], z[MAXN + 1];
    int64_t n, i;
    if (isa == NULL)
        return;
    for (n = 0; n <= MAXN; n++) {
        fill(x, n, 500 + (uint64_t)n, -2.0, 2.0);
        fill(v, n, 600 + (uint64_t)n, -2.0, 2.0);
        memcpy(y, x, sizeof(x));
        isa->vaxpy(y, v, 0.75f, n);
        for (i = 0; i < n; i++)
            ck_assert_close(y[i], x[i] + 0.75 * v[i], 1e-6, 1e-6);
        memcpy(y, x, sizeof(x));
        isa->vscale(y, -1.5f, n);
        for (i = 0; i < n; i++)
            ck_assert(y[i] == -1.5f * x[i]);
        z[n] = 7.0f;
        isa->vcopy_scaled(z, x, 3.0f, n);
        for (i = 0; i < n; i++)
            ck_assert(z[i] == 3.0f * x[i]);
        ck_assert(z[n] == 7.0f); /* nothing past n */
        memcpy(y, x, sizeof(x));
        isa->vmul(y, v, n);
        for (i = 0; i < n; i++)
            ck_assert(y[i] == x[i] * v[i]);
        memcpy(y, x, sizeof(x));
        y[n] = 7.0f;
        isa->vmul_mix(y, v, x, 0.5f, 2.0f, n);
        for (i = 0; i < n; i++)
            ck_assert_close(y[i], x[i] * (0.5 * v[i] + 2.0 * x[i]), 1e-6,
                            1e-6);
        ck_assert(y[n] == 7.0f);
    }
}
END_TEST

START_TEST(test_finite_scan_every_position)
{
    const ctr__math_isa *isa = ctr__math_isa_at(_i);
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    float x[MAXN];
    int64_t n, pos;
    int k;
    if (isa == NULL)
        return;
    for (n = 0; n <= MAXN; n++) {
        fill(x, n, 700 + (uint64_t)n, -3e38, 3e38);
        ck_assert_int_eq(isa->vfinite(x, n), 1);
        for (pos = 0; pos < n; pos++)
            for (k = 0; k < 3; k++) {
                float saved = x[pos];
                x[pos] = bad[k];
                ck_assert_int_eq(isa->vfinite(x, n), 0);
                x[pos] = saved;
            }
    }
}
END_TEST

/* The online kernel's moves and rescales happen at the same entries in
 * every FMA table, so its results agree to the bit too. */
static void online_tables_agree(const ctr__math_isa *one,
                                const ctr__math_isa *two, int64_t n)
{
    float x[ONLINE_MAXN], a[ONLINE_MAXN], b[ONLINE_MAXN], s1, s2;
    ctr__online_row o1 = {-INFINITY, 0.0f, 0.0f}, o2 = o1;
    ramp(x, n);
    if (n > 7)
        x[7] = -INFINITY;
    memcpy(a, x, (size_t)n * sizeof(float));
    memcpy(b, x, (size_t)n * sizeof(float));
    s1 = one->vexp_online(a, n, SLACK, &o1);
    s2 = two->vexp_online(b, n, SLACK, &o2);
    ck_assert(memcmp(a, b, (size_t)n * sizeof(float)) == 0);
    ck_assert(memcmp(&s1, &s2, sizeof(s1)) == 0);
    ck_assert(memcmp(&o1, &o2, sizeof(o1)) == 0);
}

/* vexp_scan, one table against another, to the bit. */
static void scan_tables_agree(const ctr__math_isa *one,
                              const ctr__math_isa *two, const float *x,
                              int64_t n)
{
    float a[MAXN], b[MAXN], ca[MAXN], cb[MAXN], ma[MAXN], mb[MAXN], s1, s2;
    ctr__online_row o1, o2;
    memcpy(a, x, (size_t)n * sizeof(float));
    memcpy(b, x, (size_t)n * sizeof(float));
    memset(ca, 0, sizeof(ca));
    memset(cb, 0, sizeof(cb));
    memcpy(ma, x, (size_t)n * sizeof(float));
    memcpy(mb, x, (size_t)n * sizeof(float));
    memset(&o1, 0, sizeof(o1));
    memset(&o2, 0, sizeof(o2));
    s1 = one->vexp_scan(a, n, 1.5f, ca, ma, &o1);
    s2 = two->vexp_scan(b, n, 1.5f, cb, mb, &o2);
    ck_assert(memcmp(a, b, (size_t)n * sizeof(float)) == 0);
    ck_assert(memcmp(ca, cb, (size_t)n * sizeof(float)) == 0);
    ck_assert(memcmp(ma, mb, (size_t)n * sizeof(float)) == 0);
    ck_assert(memcmp(&s1, &s2, sizeof(s1)) == 0);
    ck_assert(memcmp(&o1, &o2, sizeof(o1)) == 0);
}

/* The symmetric passes, one table against another, to the bit. */
static void sym_tables_agree(const ctr__math_isa *one,
                             const ctr__math_isa *two, const float *x,
                             const float *w, int64_t n)
{
    float a[MAXN], b[MAXN], ca[MAXN], cb[MAXN], s1, s2, r1, r2;
    memcpy(a, x, (size_t)n * sizeof(float));
    memcpy(b, x, (size_t)n * sizeof(float));
    memset(ca, 0, sizeof(ca));
    memset(cb, 0, sizeof(cb));
    s1 = one->vexp_sym(a, n, 2.0f, 1.0f, 0.5f, w, w, ca);
    s2 = two->vexp_sym(b, n, 2.0f, 1.0f, 0.5f, w, w, cb);
    ck_assert(memcmp(a, b, (size_t)n * sizeof(float)) == 0);
    ck_assert(memcmp(ca, cb, (size_t)n * sizeof(float)) == 0);
    ck_assert(memcmp(&s1, &s2, sizeof(s1)) == 0);
    s1 = one->vexp_rowcol(x, n, 0.5f, w, ca);
    s2 = two->vexp_rowcol(x, n, 0.5f, w, cb);
    ck_assert(memcmp(ca, cb, (size_t)n * sizeof(float)) == 0);
    ck_assert(memcmp(&s1, &s2, sizeof(s1)) == 0);
    s1 = one->vmax_col(x, n, ca, &r1);
    s2 = two->vmax_col(x, n, cb, &r2);
    ck_assert(s1 == s2 && memcmp(&r1, &r2, sizeof(r1)) == 0);
    ck_assert(memcmp(ca, cb, (size_t)n * sizeof(float)) == 0);
    one->vmul_mix(a, w, x, 0.5f, 0.25f, n);
    two->vmul_mix(b, w, x, 0.5f, 0.25f, n);
    ck_assert(memcmp(a, b, (size_t)n * sizeof(float)) == 0);
    scan_tables_agree(one, two, x, n);
}

/* The double-lane kernels, one table against another, to the bit. */
static void f64_tables_agree(const ctr__math_isa *one,
                             const ctr__math_isa *two, const float *x,
                             const float *w, int64_t n)
{
    float a[MAXN], b[MAXN];
    double d1 = one->vdot_f64(x, w, n), d2 = two->vdot_f64(x, w, n);
    ck_assert(memcmp(&d1, &d2, sizeof(d1)) == 0);
    one->vaffine_f64(a, x, w, 0.75, -3.0, n);
    two->vaffine_f64(b, x, w, 0.75, -3.0, n);
    ck_assert(memcmp(a, b, (size_t)n * sizeof(float)) == 0);
}

/* The tables that fuse multiply-adds run the same operations in the same
 * order, so their results agree to the bit whatever the vector width. */
START_TEST(test_fma_tables_agree)
{
    const ctr__math_isa *first = NULL, *isa;
    float x[MAXN], w[MAXN], a[MAXN], b[MAXN];
    int i;
    int64_t n;
    for (i = 0; (isa = ctr__math_isa_at(i)) != NULL; i++) {
        if (strcmp(isa->name, "portable") == 0)
            continue;
        if (first == NULL) {
            first = isa;
            continue;
        }
        for (n = 0; n <= MAXN; n++) {
            float s1, s2, m1, m2;
            fill(x, n, 800 + (uint64_t)n, -95.0, 5.0);
            fill(w, n, 900 + (uint64_t)n, -2.0, 2.0);
            memcpy(a, x, sizeof(x));
            memcpy(b, x, sizeof(x));
            s1 = first->vexp_shift_sum(a, n, 0.5f);
            s2 = isa->vexp_shift_sum(b, n, 0.5f);
            ck_assert(memcmp(a, b, (size_t)n * sizeof(float)) == 0);
            ck_assert(memcmp(&s1, &s2, sizeof(s1)) == 0);
            memcpy(a, x, sizeof(x));
            memcpy(b, x, sizeof(x));
            first->vexp_pair(a, n, 1.0f, 0.5f, w, w, 0.5f);
            isa->vexp_pair(b, n, 1.0f, 0.5f, w, w, 0.5f);
            ck_assert(memcmp(a, b, (size_t)n * sizeof(float)) == 0);
            sym_tables_agree(first, isa, x, w, n);
            m1 = first->vmax_sum(x, n, &s1);
            m2 = isa->vmax_sum(x, n, &s2);
            ck_assert(m1 == m2 && memcmp(&s1, &s2, sizeof(s1)) == 0);
            s1 = first->vdot(x, w, n);
            s2 = isa->vdot(x, w, n);
            ck_assert(memcmp(&s1, &s2, sizeof(s1)) == 0);
            f64_tables_agree(first, isa, x, w, n);
        }
        for (n = 0; n <= ONLINE_MAXN; n += 13)
            online_tables_agree(first, isa, n);
    }
}
END_TEST

/* vec.h's lane sums as plain lane arrays (their definition): lane j takes
 * x[j], x[j + 16], ..., then the lanes are added in order. */
static float lane_sum_ref(const float *x, int64_t n, float c, int sq)
{
    float lane[16] = {0}, s = 0.0f;
    int64_t i;
    for (i = 0; i < n; i++)
        lane[i % 16] += sq ? (x[i] - c) * (x[i] - c) : x[i];
    for (i = 0; i < 16; i++)
        s += lane[i];
    return s;
}

static void assert_same_float(float a, float b, const char *what, int64_t n)
{
    ck_assert_msg((isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof(a)) == 0,
                  "%s, n = %lld: %a against the lane array's %a", what, (long long)n,
                  (double)a, (double)b);
}

/* ctr__sum and ctr__sum_sq_dev (vector lanes above CTR__VSUM_MIN values,
 * an array below) give the lane array's bits at every length and tail,
 * with signed zeros, infinities and NaN among the values. */
START_TEST(test_lane_sums_bits)
{
    const int64_t lanes_n = 300;
    float *x = test_randn(41, 1, lanes_n, 1.0);
    int64_t n, k;
    for (k = 0; k < 3; k++) {
        if (k == 1) /* zeros of both signs: the lanes' sign of zero */
            for (n = 0; n < lanes_n; n++)
                x[n] = n % 3 == 0 ? -0.0f : (n % 3 == 1 ? 0.0f : x[n]);
        if (k == 2) {
            x[70] = INFINITY;
            x[133] = -INFINITY;
            x[250] = NAN;
        }
        for (n = 0; n <= lanes_n; n++) {
            float c = n > 0 ? x[0] : 0.5f;
            assert_same_float(ctr__sum(x, n), lane_sum_ref(x, n, 0.0f, 0), "sum", n);
            assert_same_float(ctr__sum_sq_dev(x, c, n), lane_sum_ref(x, n, c, 1), "sum_sq_dev",
                              n);
        }
    }
    for (n = 0; n < lanes_n; n++) /* all negative zeros: the total is +0 */
        x[n] = -0.0f;
    for (n = 0; n <= lanes_n; n++)
        assert_same_float(ctr__sum(x, n), lane_sum_ref(x, n, 0.0f, 0), "sum of -0", n);
    free(x);
}
END_TEST

Suite *ctr_test_math_suite(void);

Suite *ctr_test_math_suite(void)
{
    Suite *s = suite_create("math");
    TCase *tc = tcase_create("kernels");
    tcase_add_test(tc, test_table_list);
    /* one loop index per possible table; absent tables return at once */
    tcase_add_loop_test(tc, test_exp_kernels, 0, 3);
    tcase_add_loop_test(tc, test_exp_online, 0, 3);
    tcase_add_loop_test(tc, test_sym_kernels, 0, 3);
    tcase_add_loop_test(tc, test_reductions, 0, 3);
    tcase_add_loop_test(tc, test_f64_kernels, 0, 3);
    tcase_add_loop_test(tc, test_elementwise, 0, 3);
    tcase_add_loop_test(tc, test_finite_scan_every_position, 0, 3);
    tcase_add_test(tc, test_fma_tables_agree);
    tcase_add_test(tc, test_lane_sums_bits);
    suite_add_tcase(s, tc);
    return s;
}
