/*
 * simd.c - run-time CPU feature detection.
 */
#include "common/simd.h"

#include "common/kernels.h"

const char *ctr__simd_cpu_level(void)
{
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return "avx512f";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "avx2+fma";
    if (__builtin_cpu_supports("avx"))
        return "avx";
    return "sse2";
#elif defined(__aarch64__)
    return "neon";
#else
    return "generic";
#endif
}

const char *ctr__simd_kernels(void)
{
    return ctr__math_isa_at(0)->name;
}
