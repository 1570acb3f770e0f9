/*
 * alias.c - Vose's alias method ("A linear algorithm for generating random
 * numbers with a given distribution", IEEE TSE 1991) over integer column
 * masses, so that the construction is exact: each column holds exactly
 * 2^32 units and the loop cannot be derailed by rounding.
 */
#include "memories/alias.h"

#include <math.h>

#define ONE (UINT64_C(1) << 32)

/* Checks the weights; on success *total is their (finite, positive) sum
 * and *argmax the index of the largest weight. */
static int check_weights(const double *w, int64_t n, double *total,
                         int64_t *argmax, ctr__error *e)
{
    double sum = 0.0;
    int64_t i, best = 0;
    for (i = 0; i < n; i++) {
        if (!isfinite(w[i]))
            return ctr__fail(e, CTR_E_NUMERIC, "weights[%lld] is %s",
                             (long long)i, isnan(w[i]) ? "NaN" : "Inf");
        if (w[i] < 0.0)
            return ctr__fail(e, CTR_E_INVALID_ARG,
                             "weights[%lld] is negative (%g)", (long long)i,
                             w[i]);
        sum += w[i];
        if (w[i] > w[best])
            best = i;
    }
    if (!isfinite(sum))
        return ctr__fail(e, CTR_E_NUMERIC, "the sum of the weights is Inf");
    if (sum <= 0.0)
        return ctr__fail(e, CTR_E_INVALID_ARG, "the weights sum to zero");
    *total = sum;
    *argmax = best;
    return CTR_OK;
}

/* Integer masses u[i] ~ w[i] / total * n * 2^32 summing to exactly
 * n * 2^32 (the rounding remainder goes to the largest weight). */
static int integer_masses(uint64_t *u, const double *w, int64_t n,
                          double total, int64_t argmax, ctr__error *e)
{
    const double scale = (double)n * (double)ONE / total;
    const uint64_t target = (uint64_t)n << 32;
    uint64_t sum = 0;
    int64_t i;
    for (i = 0; i < n; i++) {
        double v = floor(w[i] * scale);
        u[i] = v < (double)target ? (uint64_t)v : target;
        sum += u[i];
    }
    if (sum > target && sum - target > u[argmax])
        return ctr__fail(e, CTR_E_NUMERIC, "weights too extreme to tabulate");
    u[argmax] = u[argmax] + target - sum; /* modular: exact either way */
    return CTR_OK;
}

int ctr__alias_build(uint32_t *table, const double *w, int64_t n,
                     uint64_t *u, uint32_t *work, ctr__error *e)
{
    double total = 0.0;
    int64_t argmax = 0;
    int rc = check_weights(w, n, &total, &argmax, e);
    if (rc == CTR_OK)
        rc = integer_masses(u, w, n, total, argmax, e);
    if (rc == CTR_OK)
        ctr__alias_from_masses(table, u, n, work);
    return rc;
}

void ctr__alias_from_masses(uint32_t *table, uint64_t *u, int64_t n,
                            uint32_t *work)
{
    int64_t i, small = 0, large = 0;
    /* work[0..small) is the stack of columns below 2^32 units,
     * work[n-large..n) the stack of columns at or above. */
    for (i = 0; i < n; i++) {
        if (u[i] < ONE)
            work[small++] = (uint32_t)i;
        else
            work[n - 1 - large++] = (uint32_t)i;
    }
    while (small > 0 && large > 0) {
        uint32_t s = work[--small];
        uint32_t l = work[n - large];
        table[2 * (size_t)s] = (uint32_t)u[s];
        table[2 * (size_t)s + 1] = l;
        u[l] -= ONE - u[s];
        if (u[l] < ONE) {
            large--;
            work[small++] = l;
        }
    }
    /* The masses are exact, so every column left holds exactly 2^32
     * (the small stack is empty here; it is drained too for safety). */
    while (large > 0) {
        uint32_t l = work[n - large--];
        table[2 * (size_t)l] = 0;
        table[2 * (size_t)l + 1] = l;
    }
    while (small > 0) {
        uint32_t s = work[--small];
        table[2 * (size_t)s] = 0;
        table[2 * (size_t)s + 1] = s;
    }
}

void ctr__alias_masses(const uint32_t *table, int64_t n, uint64_t *u)
{
    int64_t c;
    for (c = 0; c < n; c++)
        u[c] = 0;
    /* Column c keeps c for `threshold` units of its 2^32 and gives the
     * rest to its alias. */
    for (c = 0; c < n; c++) {
        u[c] += table[2 * c];
        u[table[2 * c + 1]] += ONE - table[2 * c];
    }
}

int ctr__alias_verify(const uint32_t *table, int64_t n, uint64_t *u,
                      uint32_t *work, uint32_t *rebuilt, ctr__error *e)
{
    int64_t c;
    for (c = 0; c < n; c++)
        if ((int64_t)table[2 * c + 1] >= n)
            return ctr__fail(e, CTR_E_CORRUPT,
                             "bank: alias table: column %lld names row %lu "
                             "of %lld", (long long)c,
                             (unsigned long)table[2 * c + 1], (long long)n);
    ctr__alias_masses(table, n, u);
    ctr__alias_from_masses(rebuilt, u, n, work);
    for (c = 0; c < 2 * n; c++)
        if (rebuilt[c] != table[c])
            return ctr__fail(e, CTR_E_CORRUPT,
                             "bank: alias table: column %lld is not what its "
                             "row masses build", (long long)(c / 2));
    return CTR_OK;
}

void ctr__alias_cumulative(const uint32_t *table, int64_t n, uint64_t *cum)
{
    int64_t c;
    ctr__alias_masses(table, n, cum);
    for (c = 1; c < n; c++)
        cum[c] += cum[c - 1];
}

int64_t ctr__alias_draw_except(const uint32_t *table, const uint64_t *cum,
                               int64_t n, int64_t skip, ctr__prng *g)
{
    uint64_t start = skip > 0 ? cum[skip - 1] : 0, mass = cum[skip] - start, x;
    int64_t lo = 0, hi = n - 1, t;
    /* Rejection keeps the draws of the plain table for the usual case (the
     * excluded row holds little mass) ... */
    for (t = 0; t < CTR__ALIAS_MAX_REJECTS; t++) {
        int64_t i = ctr__alias_draw(table, n, g);
        if (i != skip)
            return i;
    }
    /* ... and when it has failed that often, one exact draw from the
     * distribution without the row (binary search over the cumulative
     * masses) bounds the worst case. Either way the result follows the
     * weights conditioned on not being `skip`. */
    x = ctr__prng_below(g, cum[n - 1] - mass);
    if (x >= start)
        x += mass;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int64_t ctr__alias_draw(const uint32_t *table, int64_t n, ctr__prng *g)
{
    uint64_t c = ctr__prng_below(g, (uint64_t)n);
    uint32_t bits = (uint32_t)(ctr__prng_next(g) >> 32);
    return bits < table[2 * c] ? (int64_t)c : (int64_t)table[2 * c + 1];
}

int ctr__alias_support(const uint32_t *table, int64_t n, int64_t *sole)
{
    /* Column c can yield c (threshold > 0) and always its alias, which
     * gets 2^32 - threshold > 0 units. */
    int64_t c, first = -1;
    for (c = 0; c < n; c++) {
        int64_t alias = (int64_t)table[2 * c + 1];
        if (table[2 * c] > 0) {
            if (first >= 0 && first != c)
                return 2;
            first = c;
        }
        if (first >= 0 && first != alias)
            return 2;
        first = alias;
    }
    *sole = first;
    return 1;
}
