/* avx512.h -- what libgrad's AVX-512 kernels share (sgemm_avx512.c,
 * ops/pool_avx512.c). Include it after their #pragma GCC target and
 * <immintrin.h>. */
#ifndef GRAD_AVX512_H
#define GRAD_AVX512_H

#include <stdint.h>

/* The first n of 16 lanes (none for n <= 0). */
static inline __mmask16 gr_lanes16(int64_t n) {
    return (__mmask16)(n >= 16 ? 0xffff : n <= 0 ? 0 : (1u << n) - 1);
}

#endif
