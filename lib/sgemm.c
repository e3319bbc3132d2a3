/* sgemm.c -- libgrad's float32 GEMM: C = alpha op(A) op(B) + beta C,
 * row-major, the one call every float32 product goes through.
 *
 * OpenBLAS by default. But Debian's OpenBLAS (0.3.21) picks its kernels
 * from the CPU's family and model when it loads, and CPUs newer than it
 * get an older set: on AMD's Zen 4 and Zen 5 it runs its 256-bit
 * "Haswell" kernels (this project's VMs set OPENBLAS_CORETYPE=Haswell
 * themselves: left to choose, that build is said to compute wrong results
 * or crash on these CPUs).
 * Where the CPU has AVX-512 and OpenBLAS runs a set written for less,
 * libgrad's own AVX-512 kernel (sgemm_avx512.c) does the product instead:
 * 1.6-1.9x OpenBLAS's Haswell set on this project's VMs for the products
 * of the example models (170-200 GFLOP/s on one thread against 100). */
#include "internal.h"

#include <cblas.h>
#include <strings.h>

char *openblas_get_corename(void);

/* Which of OpenBLAS's sets this process runs, chosen when OpenBLAS loads
 * (from the CPU's family and model, or OPENBLAS_CORETYPE): a figure means
 * little without it, so the start-up line and the benchmarks print it. */
const char *gr_blas_core(void) { return openblas_get_corename(); }

/* OpenBLAS's sets written for AVX-512 (as of 0.3.21). */
static int is_avx512_set(const char *name) {
    return name && (!strcasecmp(name, "SkylakeX") || !strcasecmp(name, "Cooperlake") ||
                    !strcasecmp(name, "SapphireRapids"));
}

/* The AVX-512 subsets sgemm_avx512.c and ops/pool_avx512.c are built for,
 * with the OS saving the registers (GCC's check reads XCR0 as well as
 * CPUID). */
static int cpu_avx512(void) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static _Atomic int avx512 = -1; /* -1: not asked yet */

int gr_cpu_avx512(void) {
    int has = avx512;
    if (has < 0) avx512 = has = cpu_avx512();
    return has;
}

static _Atomic int own_kernel = -1; /* -1: not decided yet (deciding twice gives the same) */

int gr_sgemm_own(void) {
    int own = own_kernel;
    if (own < 0) own_kernel = own = gr_cpu_avx512() && !is_avx512_set(gr_blas_core());
    return own;
}

const char *gr_sgemm_kernel(void) { return gr_sgemm_own() ? "libgrad AVX-512" : "OpenBLAS"; }

/* Products the AVX-512 kernel does well: its tiles are 12 rows by 16 or
 * 32 columns, padded with zeros, so a product of fewer than 8 rows, or of
 * 16 columns or fewer (half a tile at best, its time mostly packing),
 * stays with OpenBLAS. One thread, B transposed, over 112 of the shared
 * dim: [32, 8] 1.9 us against OpenBLAS's 1.2, [32, 16] 1.9 against 2.0,
 * [16, 32] 1.85 against 2.15 (which is how conv_winograd.c now asks for
 * its weight gradient's blocks). */
static int suits_own(int64_t m, int64_t n, int64_t k) { return m >= 8 && n > 16 && k > 0; }

void gr_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
              const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (suits_own(m, n, k) && gr_sgemm_own() &&
        gr_sgemm_avx512(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
        return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (blasint)m,
                (blasint)n, (blasint)k, alpha, a, (blasint)(lda > 0 ? lda : 1), b, (blasint)(ldb > 0 ? ldb : 1), beta, c,
                (blasint)(ldc > 0 ? ldc : 1));
}
