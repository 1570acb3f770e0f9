/*
 * probe_kernel.h - the linear probe's two products with a few classes
 * (C small: the skinny GEMMs x·Wᵀ and Gᵀx, where BLAS spends more time
 * packing x than multiplying), written for a row block that stays in cache
 * between them: probe.c computes a block's logits, its softmax gradient,
 * then accumulates the block into the gradient while the block is still in
 * L2, so x is read from memory once per function evaluation.
 *
 * Both are deterministic: every sum is taken in a fixed order that depends
 * only on the sizes (not on the thread or the call). They run on GCC/clang
 * vector extensions of 16 lanes, with AVX-512 and AVX2+FMA clones on
 * x86-64 chosen per call from the CPU's feature bits (as common/kernels.c).
 */
#ifndef CTR_PROBE_KERNEL_H
#define CTR_PROBE_KERNEL_H

#include <stdint.h>

/* z[r·C + c] = bias[c] + Σ_j x[r·ld + j]·w[c·d + j] for r < m, c < C
 * (w is C × d, row-major). */
void ctr__probe_logits(const float *x, int64_t m, int64_t ld, int64_t d,
                       const float *w, const float *bias, int64_t C,
                       float *z);

/* acc[c·d + j] += Σ_{r<m} g[r·C + c]·x[r·ld + j] for c < C, j < d: the
 * rows are added to each entry in order r = 0, 1, ... */
void ctr__probe_accumulate(const float *x, int64_t m, int64_t ld, int64_t d,
                           const float *g, int64_t C, float *acc);

/* The instruction set the calls above run on ("avx512f", "avx2+fma",
 * "portable"). */
const char *ctr__probe_kernel_isa(void);

/* The kernels of one instruction set. */
typedef struct ctr__probe_isa {
    const char *name;
    void (*logits)(const float *x, int64_t m, int64_t ld, int64_t d,
                   const float *w, const float *bias, int64_t C, float *z);
    void (*accumulate)(const float *x, int64_t m, int64_t ld, int64_t d,
                       const float *g, int64_t C, float *acc);
} ctr__probe_isa;

/* The i-th table this CPU can run, best first (0 is the one the calls
 * above use; the last is "portable"), or NULL past the last: the tests
 * check every one. */
const ctr__probe_isa *ctr__probe_isa_at(int i);

/* For the tests (defined in probe.c): on != 0 makes the probe fit with
 * the BLAS GEMMs whatever its class count, 0 restores the fused pass for
 * few classes. */
struct ctr_probe;
void ctr__probe_use_blas(struct ctr_probe *p, int on);

#endif /* CTR_PROBE_KERNEL_H */
