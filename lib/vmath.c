/* vmath.c -- the vectorizing float32 rows of vmath.h.
 *
 * Each row is a plain loop over inline, branch-free element functions, so
 * the compiler vectorizes it; target_clones builds it three times
 * (AVX-512, AVX2 and the baseline SSE2) and the loader picks one for the
 * CPU. The Makefile builds
 * this file with -fno-trapping-math: without it GCC will not turn the
 * element functions' selects into vector blends. */
#include "vmath.h"

#include <math.h>

#define SQRT1_2_F 0.70710678118654752f      /* 1/sqrt(2) */
#define INV_SQRT_2PI_F 0.39894228040143268f /* 1/sqrt(2 pi) */


typedef union f32_bits {
    float f;
    int32_t i;
} f32_bits;

/* 2^n as a float for n in [-126, 127] (others give some float, with no
 * undefined shift: exp_elem's NaN lanes). */
static inline float pow2i(int32_t n) {
    f32_bits b;
    b.i = (int32_t)(((uint32_t)n + 127u) << 23);
    return b.f;
}

/* e^x: n = round(x / ln 2) by the 1.5 * 2^23 trick, r = x - n ln 2 in two
 * parts, Cephes' degree-6 polynomial for e^r, then 2^n in two factors so
 * that n in [-150, 129] neither wraps the exponent nor loses subnormals. */
static inline float exp_elem(float x) {
    float xc = x < -104.0f ? -104.0f : x;
    xc = xc > 89.0f ? 89.0f : xc; /* NaN passes both and is restored below */
    f32_bits t = {.f = xc * 1.44269504088896341f + 12582912.0f}; /* 1.5 * 2^23 + n: n in the low bits */
    float n = t.f - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    int32_t ni = t.i - 0x4B400000, n1 = ni >> 1, n2 = ni - n1; /* no float-to-int conversion of a NaN */
    float y = p * pow2i(n1) * pow2i(n2);
    return x != x ? x : y;
}

/* erf x = x P(x^2) / Q(x^2) for |x| <= 3.92, P of degree 6 and Q of
 * degree 4: a rational fit of erf(x)/x in x^2 made for this file (least
 * squares in relative error, reweighted by 1/Q until it settled; in
 * float32 arithmetic within 4e-7 absolute and relative of erf over
 * [-5, 5]). Beyond 3.92 erf is +-1 in float32 (erf(3.92) = 1 - 5e-8);
 * erf(-0) = -0 and NaN stays NaN (the comparisons fail, the fit passes
 * it on). One division and eleven multiply-adds: no exponential and no
 * branch to compute both sides of. */
static inline float erf_elem(float x) {
    float s = x * x;
    float p = 2.038901337e-08f;
    p = p * s - 1.971101216e-06f;
    p = p * s + 1.396440881e-04f;
    p = p * s + 3.572026560e-03f;
    p = p * s + 5.014162872e-02f;
    p = p * s + 1.966279731e-01f;
    p = p * s + 1.128379108e+00f;
    float q = 9.276060276e-04f;
    q = q * s + 1.407939725e-02f;
    q = q * s + 1.136415108e-01f;
    q = q * s + 5.075887237e-01f;
    q = q * s + 1.0f;
    float r = x * p / q;
    f32_bits one = {.f = 1.0f}, sign = {.f = x};
    one.i |= sign.i & (int32_t)0x80000000;
    return s > 3.92f * 3.92f ? one.f : r; /* also for x = +-inf (s = inf), where p / q is inf / inf */
}

GR_ROW_CLONES void gr_vexp_f32(const float *x, float *y, int64_t n, float shift) {
    for (int64_t i = 0; i < n; i++) y[i] = exp_elem(x[i] - shift);
}

GR_ROW_CLONES void gr_verf_f32(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = erf_elem(x[i]);
}

GR_ROW_CLONES void gr_vgelu_f32(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v * 0.5f * (1 + erf_elem(v * SQRT1_2_F));
    }
}

GR_ROW_CLONES void gr_vgelu_derivative_f32(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * (1 + erf_elem(v * SQRT1_2_F)) + v * (INV_SQRT_2PI_F * exp_elem(-0.5f * (v * v)));
    }
}

GR_ROW_CLONES void gr_vgelu_both_f32(const float *x, float *y, float *dy, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], e = erf_elem(v * SQRT1_2_F);
        y[i] = v * 0.5f * (1 + e);
        dy[i] = 0.5f * (1 + e) + v * (INV_SQRT_2PI_F * exp_elem(-0.5f * (v * v)));
    }
}

GR_ROW_CLONES float gr_vmax_f32(const float *x, int64_t n) {
    float m[8];
    for (int l = 0; l < 8; l++) m[l] = -INFINITY;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) m[l] = x[i + l] > m[l] ? x[i + l] : m[l];
    float r = -INFINITY;
    for (int l = 0; l < 8; l++) r = m[l] > r ? m[l] : r;
    for (; i < n; i++) r = x[i] > r ? x[i] : r;
    return r;
}

GR_ROW_CLONES double gr_vsum_f32(const float *x, int64_t n) {
    double s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) s[l] += x[i + l];
    double r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) r += x[i];
    return r;
}

GR_ROW_CLONES void gr_vscale_f32(float *y, int64_t n, float s) {
    for (int64_t i = 0; i < n; i++) y[i] *= s;
}

GR_ROW_CLONES void gr_vaffine_f32(const float *x, float *y, int64_t n, float a, float b) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * a + b;
}

double gr_vsoftmax_row_f32(const float *x, float *y, int64_t n) {
    float m = gr_vmax_f32(x, n);
    if (m == -INFINITY) m = 0;
    gr_vexp_f32(x, y, n, m);
    double sum = gr_vsum_f32(y, n);
    gr_vscale_f32(y, n, (float)(1.0 / sum));
    return sum;
}

GR_ROW_CLONES double gr_vsqdev_f32(const float *x, int64_t n, double mean) {
    double s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) {
            double d = x[i + l] - mean;
            s[l] += d * d;
        }
    double r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) r += (x[i] - mean) * (x[i] - mean);
    return r;
}

GR_ROW_CLONES void gr_vsum_dot_f32(const float *v, const float *x, int64_t n, double mean, double *vs, double *vx) {
    double s[8] = {0}, d[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) {
            s[l] += v[i + l];
            d[l] += v[i + l] * (x[i + l] - mean);
        }
    double rs = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    double rd = ((d[0] + d[1]) + (d[2] + d[3])) + ((d[4] + d[5]) + (d[6] + d[7]));
    for (; i < n; i++) {
        rs += v[i];
        rd += v[i] * (x[i] - mean);
    }
    *vs = rs;
    *vx = rd;
}

GR_ROW_CLONES void gr_vnorm_f32(const float *x, float *y, int64_t n, float mean, float rstd, const float *w,
                             const float *b) {
    if (w && b)
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd * w[i] + b[i];
    else if (w)
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd * w[i];
    else if (b)
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd + b[i];
    else
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd;
}

GR_ROW_CLONES void gr_vnormbw_f32(const float *x, const float *v, float *y, int64_t n, float mean, float rstd, float a,
                               float c) {
    float rc = rstd * c;
    for (int64_t i = 0; i < n; i++) y[i] = rstd * (v[i] - a - (x[i] - mean) * rc);
}
