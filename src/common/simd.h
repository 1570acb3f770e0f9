/*
 * simd.h - what the CPU offers beyond the baseline, detected at run time.
 * The default build targets the architecture's baseline; kernels that want
 * more dispatch on these answers, so one binary runs on every machine.
 */
#ifndef CTR_SIMD_H
#define CTR_SIMD_H

/* The widest vector extension the CPU supports, e.g. "avx512f", "avx2",
 * "sse2", "neon", or "generic". */
const char *ctr__simd_cpu_level(void);
/* The objectives' vector kernels in use: "avx512f", "avx2+fma" or
 * "portable" (the baseline build of the same code). */
const char *ctr__simd_kernels(void);

#endif /* CTR_SIMD_H */
