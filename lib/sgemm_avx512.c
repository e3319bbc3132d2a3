/* sgemm_avx512.c -- C = alpha op(A) op(B) + beta C in float32 with
 * AVX-512, for CPUs that have it while OpenBLAS runs kernels written for
 * less there (sgemm.c chooses).
 *
 * The classic blocking of Goto's GEMM (as in BLIS): for each block of
 * KC_BLOCK of the shared dim and NC_BLOCK columns, op(B) is packed in
 * panels of NR columns ([kc, NR] each, zeros past n); for each block of
 * MC_BLOCK rows, op(A) is packed in panels of MR rows ([kc, MR] each,
 * zeros past m); the micro-kernel then computes each MR x NR tile of C
 * in 24 zmm accumulators, one rank-1 update per k: two loads of B's
 * panel and MR broadcasts of A's. Every element of C is one sum over k in
 * order within a block of KC_BLOCK, added to C block by block: its value
 * does not depend on how the rows or columns of C are shared out, nor on
 * the thread that computes it. */
#include "internal.h"

/* GCC on x86-64 only (clang, in the fuzz builds, takes the stub at the
 * end; sgemm.c then never asks for the kernel). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,fma,avx2")

#include <immintrin.h>

#include "avx512.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MR 12
#define NR 32
/* A's block [MC, KC] (147 KiB) stays in the L2 cache, a panel of B
 * [KC, NR] (32 KiB) in the L1 cache while the tiles of a column pass. */
#define KC_BLOCK 256
#define MC_BLOCK (MR * 12)
#define NC_BLOCK 2048

/* One thread's packing buffers, A's block then B's, in one allocation
 * made on the thread's first product and kept while the thread lives
 * (like OpenBLAS's own buffers; freed when it ends). */
#define PACK_A_FLOATS (MC_BLOCK * KC_BLOCK)
#define PACK_FLOATS (PACK_A_FLOATS + KC_BLOCK * NC_BLOCK)
static _Thread_local float *pack;
static pthread_key_t pack_key;
static pthread_once_t pack_once = PTHREAD_ONCE_INIT;
static int pack_key_ok;

static void make_pack_key(void) { pack_key_ok = pthread_key_create(&pack_key, free) == 0; }

/* This thread's packing buffers, or NULL when they cannot be had. */
static float *pack_buffers(void) {
    if (pack) return pack;
    pthread_once(&pack_once, make_pack_key);
    if (!pack_key_ok) return NULL;
    float *p = aligned_alloc(64, sizeof(float) * PACK_FLOATS);
    if (!p) return NULL;
    if (pthread_setspecific(pack_key, p) != 0) {
        free(p);
        return NULL;
    }
    return pack = p;
}

/* col[j] = (r[0][j], ..., r[15][j]): the 16 x 16 transpose, as 64
 * shuffles (in-lane unpacks of floats, then of float pairs, then two
 * rounds of 128-bit lane shuffles). */
static void transpose_16x16(const __m512 r[16], __m512 col[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4 i + c], 128-bit lane L: rows 4 i .. 4 i + 3 of column 4 L + c */
    for (int i = 0; i < 4; i++)
        for (int h = 0; h < 2; h++) {
            __m512d a = _mm512_castps_pd(t[4 * i + h]), b = _mm512_castps_pd(t[4 * i + 2 + h]);
            u[4 * i + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            u[4 * i + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        }
    for (int c = 0; c < 4; c++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), w0 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        __m512 v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xdd), w1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xdd);
        col[c] = _mm512_shuffle_f32x4(v0, w0, 0x88);
        col[8 + c] = _mm512_shuffle_f32x4(v0, w0, 0xdd);
        col[4 + c] = _mm512_shuffle_f32x4(v1, w1, 0x88);
        col[12 + c] = _mm512_shuffle_f32x4(v1, w1, 0xdd);
    }
}

/* Lines of a panel from up to 16 contiguous runs of kc (run i at
 * s + i * ld, `runs` of them (none: s may be NULL), zeros for the
 * others): line i of the panel takes run i, `width` apart, at column
 * `at`; `store` lanes of each k written (12 for A's panels, 16 for a half
 * of B's). In 16 x 16 blocks through transpose_16x16. */
static void pack_runs(float *panel, int64_t width, int64_t at, const float *s, int64_t ld, int64_t runs, int64_t kc,
                      __mmask16 store) {
    for (int64_t k = 0; k < kc; k += 16) {
        __mmask16 m = gr_lanes16(kc - k);
        __m512 r[16], col[16];
        for (int i = 0; i < 16; i++) r[i] = i < runs ? _mm512_maskz_loadu_ps(m, s + i * ld + k) : _mm512_setzero_ps();
        transpose_16x16(r, col);
        int64_t n = kc - k < 16 ? kc - k : 16;
        for (int64_t j = 0; j < n; j++) _mm512_mask_storeu_ps(panel + (k + j) * width + at, store, col[j]);
    }
}

/* Rows [i0, i0 + mc) and k [k0, k0 + kc) of op(A) as panels of MR rows:
 * panel p holds [kc, MR], row r of the panel at r (zeros past the rows). */
static void pack_a_block(const float *a, int64_t lda, int ta, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
                         float *dst) {
    for (int64_t p = 0; p < mc; p += MR) {
        int64_t rows = mc - p < MR ? mc - p : MR;
        float *d = dst + p * kc;
        if (ta) { /* op(A)'s rows are A's columns: each k a contiguous run of MR */
            for (int64_t k = 0; k < kc; k++) {
                const float *s = a + (k0 + k) * lda + i0 + p;
                int64_t r = 0;
                for (; r < rows; r++) d[k * MR + r] = s[r];
                for (; r < MR; r++) d[k * MR + r] = 0;
            }
            continue;
        }
        pack_runs(d, MR, 0, a + (i0 + p) * lda + k0, lda, rows, kc, (__mmask16)((1u << MR) - 1));
    }
}

/* Columns [j0, j0 + nc) and k [k0, k0 + kc) of op(B) as panels of NR
 * columns: panel q holds [kc, NR] (zeros past the columns). */
static void pack_b_block(const float *b, int64_t ldb, int tb, int64_t j0, int64_t nc, int64_t k0, int64_t kc,
                         float *dst) {
    for (int64_t q = 0; q < nc; q += NR) {
        int64_t cols = nc - q < NR ? nc - q : NR;
        float *d = dst + q * kc;
        if (!tb) {
            __mmask16 m0 = gr_lanes16(cols), m1 = gr_lanes16(cols - 16);
            for (int64_t k = 0; k < kc; k++) {
                const float *s = b + (k0 + k) * ldb + j0 + q;
                _mm512_store_ps(d + k * NR, _mm512_maskz_loadu_ps(m0, s));
                _mm512_store_ps(d + k * NR + 16, _mm512_maskz_loadu_ps(m1, s + 16));
            }
            continue;
        }
        /* op(B)'s columns are B's rows: column c of the panel is a
         * contiguous run of B's row j0 + q + c */
        for (int h = 0; h < NR / 16; h++)
            pack_runs(d, NR, 16 * h, cols > 16 * h ? b + (j0 + q + 16 * h) * ldb + k0 : NULL, ldb, cols - 16 * h, kc,
                      0xffff);
    }
}

/* The MR x NR tile at c (rows x cols of it in C, leading dim ldc) from
 * panels ap [kc, MR] and bp [kc, NR], acc their product (times alpha):
 * c = acc (first block of k, beta 0), beta c + acc (first), or c + acc
 * (a later block). halves: the 16-column halves of the tile computed
 * (1 when cols <= 16: the other half is the panel's zeros), a constant
 * in each of the two kernels below. */
static inline __attribute__((always_inline)) void tile(int halves, int64_t kc, const float *ap, const float *bp, float *c,
                                                       int64_t ldc, int64_t rows, int64_t cols, int first, float alpha,
                                                       float beta) {
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++)
        for (int h = 0; h < halves; h++) acc[r][h] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        __m512 bk[2];
        for (int h = 0; h < halves; h++) bk[h] = _mm512_load_ps(bp + k * NR + 16 * h);
        const float *ak = ap + k * MR;
        for (int r = 0; r < MR; r++) {
            __m512 av = _mm512_set1_ps(ak[r]);
            for (int h = 0; h < halves; h++) acc[r][h] = _mm512_fmadd_ps(av, bk[h], acc[r][h]);
        }
    }
    __mmask16 mask[2] = {gr_lanes16(cols), gr_lanes16(cols - 16)};
    __m512 vb = _mm512_set1_ps(beta), va = _mm512_set1_ps(alpha);
    for (int r = 0; r < MR; r++) {
        if (r >= rows) break;
        for (int h = 0; h < halves; h++) {
            float *cr = c + r * ldc + 16 * h;
            __m512 x = acc[r][h];
            if (alpha != 1) x = _mm512_mul_ps(va, x);
            if (!first || beta != 0) {
                __m512 old = _mm512_maskz_loadu_ps(mask[h], cr);
                x = first && beta != 1 ? _mm512_fmadd_ps(vb, old, x) : _mm512_add_ps(old, x);
            }
            _mm512_mask_storeu_ps(cr, mask[h], x);
        }
    }
}

static void tile_32(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int64_t rows, int64_t cols,
                    int first, float alpha, float beta) {
    tile(2, kc, ap, bp, c, ldc, rows, cols, first, alpha, beta);
}

static void tile_16(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int64_t rows, int64_t cols,
                    int first, float alpha, float beta) {
    tile(1, kc, ap, bp, c, ldc, rows, cols, first, alpha, beta);
}

/* The tiles of a block of C [mc, nc] at c from A's packed block pa [mc,
 * kc] and B's panels pb [nc, kc] (first: the first block of k). */
static void block_tiles(int64_t mc, int64_t nc, int64_t kc, const float *pa, const float *pb, float *c, int64_t ldc,
                        int first, float alpha, float beta) {
    for (int64_t q = 0; q < nc; q += NR)
        for (int64_t p = 0; p < mc; p += MR) {
            int64_t cols = nc - q < NR ? nc - q : NR;
            (cols > 16 ? tile_32 : tile_16)(kc, pa + p * kc, pb + q * kc, c + p * ldc + q, ldc, mc - p < MR ? mc - p : MR,
                                            cols, first, alpha, beta);
        }
}

int gr_sgemm_avx512(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    float *pack_a = pack_buffers();
    if (!pack_a) return 0;
    float *pack_b = pack_a + PACK_A_FLOATS;
    for (int64_t j0 = 0; j0 < n; j0 += NC_BLOCK) {
        int64_t nc = n - j0 < NC_BLOCK ? n - j0 : NC_BLOCK;
        for (int64_t k0 = 0; k0 < k; k0 += KC_BLOCK) {
            int64_t kc = k - k0 < KC_BLOCK ? k - k0 : KC_BLOCK;
            pack_b_block(b, ldb, tb, j0, nc, k0, kc, pack_b);
            for (int64_t i0 = 0; i0 < m; i0 += MC_BLOCK) {
                int64_t mc = m - i0 < MC_BLOCK ? m - i0 : MC_BLOCK;
                pack_a_block(a, lda, ta, i0, mc, k0, kc, pack_a);
                block_tiles(mc, nc, kc, pack_a, pack_b, c + i0 * ldc + j0, ldc, k0 == 0, alpha, beta);
            }
        }
    }
    return 1;
}

/* ---- op(B) packed once, for products that threads share by blocks ------
 * Each block of C would pack its own columns of op(B) again; packed once
 * (the threads sharing the panels), the blocks can be small enough to
 * balance the threads without that cost. Layout: k block kb (from k0 =
 * kb * KC_BLOCK, kc deep) at k0 * n_pad, its panel of columns [q, q + NR)
 * at q * kc after that. */
static int64_t padded_cols(int64_t n) { return (n + NR - 1) / NR * NR; }

int64_t gr_sgemm_avx512_packed_floats(int64_t n, int64_t k) { return k * padded_cols(n); }

int64_t gr_sgemm_avx512_pack_units(int64_t n, int64_t k) {
    return (k + KC_BLOCK - 1) / KC_BLOCK * (padded_cols(n) / NR);
}

void gr_sgemm_avx512_pack_b(int tb, int64_t n, int64_t k, const float *b, int64_t ldb, float *packed, int64_t u0,
                            int64_t u1) {
    int64_t panels = padded_cols(n) / NR;
    for (int64_t u = u0; u < u1; u++) {
        int64_t k0 = u / panels * KC_BLOCK, q = u % panels * NR;
        int64_t kc = k - k0 < KC_BLOCK ? k - k0 : KC_BLOCK;
        pack_b_block(b, ldb, tb, q, n - q < NR ? n - q : NR, k0, kc, packed + k0 * padded_cols(n) + q * kc);
    }
}

int gr_sgemm_avx512_packed(int ta, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *packed,
                           int64_t n_all, int64_t j0, float beta, float *c, int64_t ldc) {
    float *pack_a = pack_buffers();
    if (!pack_a) return 0;
    for (int64_t k0 = 0; k0 < k; k0 += KC_BLOCK) {
        int64_t kc = k - k0 < KC_BLOCK ? k - k0 : KC_BLOCK;
        const float *pb = packed + k0 * padded_cols(n_all) + j0 * kc;
        for (int64_t i0 = 0; i0 < m; i0 += MC_BLOCK) {
            int64_t mc = m - i0 < MC_BLOCK ? m - i0 : MC_BLOCK;
            pack_a_block(a, lda, ta, i0, mc, k0, kc, pack_a);
            block_tiles(mc, n, kc, pack_a, pb, c + i0 * ldc, ldc, k0 == 0, 1.0f, beta);
        }
    }
    return 1;
}

#else

int64_t gr_sgemm_avx512_packed_floats(int64_t n, int64_t k) {
    (void)n, (void)k;
    return 0;
}

int64_t gr_sgemm_avx512_pack_units(int64_t n, int64_t k) {
    (void)n, (void)k;
    return 0;
}

void gr_sgemm_avx512_pack_b(int tb, int64_t n, int64_t k, const float *b, int64_t ldb, float *packed, int64_t u0,
                            int64_t u1) {
    (void)tb, (void)n, (void)k, (void)b, (void)ldb, (void)packed, (void)u0, (void)u1;
}

int gr_sgemm_avx512_packed(int ta, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *packed,
                           int64_t n_all, int64_t j0, float beta, float *c, int64_t ldc) {
    (void)ta, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)packed, (void)n_all, (void)j0, (void)beta, (void)c;
    (void)ldc;
    return 0;
}

int gr_sgemm_avx512(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)b, (void)ldb, (void)beta;
    (void)c, (void)ldc;
    return 0;
}

#endif
