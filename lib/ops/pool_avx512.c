/* pool_avx512.c -- max pooling's most common case, 2x2 windows at stride
 * 2 inside the input, in float32 with AVX-512: pool.c's 2x2 rules (the
 * window's first maximum, NaN when the window holds one; the gradient to
 * that first maximum, or with a NaN to the last NaN; relu_mask) as selects on
 * 16 windows at a time. Each output row's windows are read as two input
 * rows whose even and odd elements are split by one permutation each, so
 * a row of 7 or 14 windows (cnn-step's) is one step, where the scalar
 * loops pool.c leaves to the compiler ran 4 windows a step (SSE) and
 * scalar tails. Only compares and selects: the results are pool.c's bit
 * for bit. pool.c calls these when gr_cpu_avx512() says the CPU has
 * AVX-512. */
#include "ops.h"

/* GCC on x86-64 only (clang, in the fuzz builds, takes the stubs). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw")

#include <immintrin.h>

#include "../avx512.h"

/* Windows [t, t + n) (n <= 16) of one input row r: its even elements into
 * *even, its odd ones into *odd (lane i: window t + i; lanes from n on
 * hold what follows in the plane, or 0). With end (the plane's end), plain
 * loads where the 32 floats lie before it; else, or at the plane's end,
 * masked loads. Measured in cnn-step (in units of its slowest kernel's
 * time, as the machine's speed drifts): the forward pass with masked
 * loads took 0.19 against the baseline's scalar loop's 0.10, with plain
 * ones 0.06; the backward took 0.16-0.18 with masked loads, 0.20-0.22
 * with plain ones, 0.24-0.27 in the scalar loop. */
static void split_row(const float *r, int64_t t, int64_t n, const float *end, __m512 *even, __m512 *odd) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const float *s = r + 2 * t;
    __m512 lo, hi;
    if (end && end - s >= 32) {
        lo = _mm512_loadu_ps(s);
        hi = _mm512_loadu_ps(s + 16);
    } else {
        lo = _mm512_maskz_loadu_ps(gr_lanes16(2 * n), s);
        hi = _mm512_maskz_loadu_ps(gr_lanes16(2 * n - 16), s + 16);
    }
    *even = _mm512_permutex2var_ps(lo, ie, hi);
    *odd = _mm512_permutex2var_ps(lo, io, hi);
}

/* The first maximum of v then w: w > v ? w : v, as pool.c writes it (v
 * on a tie, so -0 then +0 gives -0 as in PyTorch; v when either is NaN). */
static __m512 first_max(__m512 v, __m512 w) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(w, v, _CMP_GT_OQ), v, w); }

static __mmask16 is_nan(__m512 v) { return _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q); }

int gr_pool_max_2x2_f32(const float *x, int64_t h, int64_t w, int64_t oh, int64_t ow, float *y) {
    const float *end = x + h * w;
    for (int64_t oy = 0; oy < oh; oy++) {
        const float *r0 = x + 2 * oy * w, *r1 = r0 + w;
        for (int64_t t = 0; t < ow; t += 16) {
            int64_t n = ow - t < 16 ? ow - t : 16;
            __m512 a, b, d, e;
            split_row(r0, t, n, end, &a, &b);
            split_row(r1, t, n, end, &d, &e);
            __m512 m = first_max(first_max(a, b), first_max(d, e));
            __mmask16 nan = _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(d, e, _CMP_UNORD_Q);
            m = _mm512_mask_blend_ps(nan, m, _mm512_set1_ps(__builtin_nanf("")));
            _mm512_mask_storeu_ps(y + oy * ow + t, gr_lanes16(n), m);
        }
    }
    return 1;
}

/* Lanes of g0 and g1 (16 windows' even and odd elements) back into the
 * 2 n elements of an input row from window t on. */
static void merge_row(float *r, int64_t t, int64_t n, __m512 even, __m512 odd) {
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    _mm512_mask_storeu_ps(r + 2 * t, gr_lanes16(2 * n), _mm512_permutex2var_ps(even, il, odd));
    _mm512_mask_storeu_ps(r + 2 * t + 16, gr_lanes16(2 * n - 16), _mm512_permutex2var_ps(even, ih, odd));
}

int gr_pool_max_2x2_backward_f32(const float *x, const float *h, int64_t w, int64_t oh, int64_t ow, int relu_mask,
                                 float *g) {
    for (int64_t oy = 0; oy < oh; oy++) {
        const float *r0 = x + 2 * oy * w, *r1 = r0 + w, *hr = h + oy * ow;
        float *g0 = g + 2 * oy * w, *g1 = g0 + w;
        for (int64_t t = 0; t < ow; t += 16) {
            int64_t n = ow - t < 16 ? ow - t : 16;
            __m512 a, b, d, e;
            split_row(r0, t, n, NULL, &a, &b);
            split_row(r1, t, n, NULL, &d, &e);
            __m512 v = _mm512_maskz_loadu_ps(gr_lanes16(n), hr + t), zero = _mm512_setzero_ps();
            __m512 m = first_max(first_max(a, b), first_max(d, e));
            __mmask16 ea, eb, ed;
            if (_mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(d, e, _CMP_UNORD_Q)) {
                /* a NaN in some window: per lane, the last NaN, else the first maximum */
                __mmask16 na = is_nan(a), nb = is_nan(b), nd = is_nan(d), ne = is_nan(e), isn = na | nb | nd | ne;
                ea = (isn & na & ~nb & ~nd & ~ne) | (~isn & _mm512_cmp_ps_mask(a, m, _CMP_EQ_OQ));
                eb = (isn & nb & ~nd & ~ne) | (~isn & ~ea & _mm512_cmp_ps_mask(b, m, _CMP_EQ_OQ));
                ed = (isn & nd & ~ne) | (~isn & ~ea & ~eb & _mm512_cmp_ps_mask(d, m, _CMP_EQ_OQ));
                if (relu_mask) v = _mm512_maskz_mov_ps(isn | _mm512_cmp_ps_mask(m, zero, _CMP_GT_OQ), v);
            } else {
                ea = _mm512_cmp_ps_mask(a, m, _CMP_EQ_OQ);
                eb = _mm512_cmp_ps_mask(b, m, _CMP_EQ_OQ);
                ed = _mm512_cmp_ps_mask(d, m, _CMP_EQ_OQ);
                if (relu_mask) v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(m, zero, _CMP_GT_OQ), v);
            }
            /* the gradient goes to the first of a, b, d, e that ea, eb, ed
             * pick, else to e: each step passes on what the ones before
             * did not take */
            __m512 ga = _mm512_maskz_mov_ps(ea, v), rest = _mm512_mask_blend_ps(ea, v, zero);
            __m512 gb = _mm512_maskz_mov_ps(eb, rest);
            rest = _mm512_mask_blend_ps(eb, rest, zero);
            __m512 gd = _mm512_maskz_mov_ps(ed, rest);
            merge_row(g0, t, n, ga, gb);
            merge_row(g1, t, n, gd, _mm512_mask_blend_ps(ed, rest, zero));
        }
    }
    return 1;
}

#else

int gr_pool_max_2x2_f32(const float *x, int64_t h, int64_t w, int64_t oh, int64_t ow, float *y) {
    (void)x, (void)h, (void)w, (void)oh, (void)ow, (void)y;
    return 0;
}

int gr_pool_max_2x2_backward_f32(const float *x, const float *h, int64_t w, int64_t oh, int64_t ow, int relu_mask,
                                 float *g) {
    (void)x, (void)h, (void)w, (void)oh, (void)ow, (void)relu_mask, (void)g;
    return 0;
}

#endif
