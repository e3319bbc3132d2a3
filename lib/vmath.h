/* vmath.h -- float32 rows of exp, erf and gelu that vectorize (AVX-512 or
 * AVX2 where the CPU has it, chosen at load time), for the kernels whose
 * time is mostly libm calls one element at a time: softmax, attention,
 * cross entropy, gelu and its derivative. float64 kernels keep libm.
 *
 * Accuracy: exp is Cephes' expf (within 2 ulp); erf within 4e-7 absolute
 * and relative (a rational fit, vmath.c); far inside float32's parity
 * tolerance against PyTorch (1e-5 absolute + 1e-4 relative), whose
 * vectorized CPU kernels approximate the same way. Special points as
 * libm: exp(+inf) = +inf,
 * exp(-inf) = 0, overflow to +inf above 88.72, subnormal results down to
 * -103.9 and 0 below; erf(+-inf) = +-1, erf(-0) = -0; NaN gives NaN. */
#ifndef GRAD_VMATH_H
#define GRAD_VMATH_H

#include <stdint.h>

/* A function built three times, for AVX-512 (x86-64-v4), AVX2 and the
 * baseline, the loader picking one for the CPU (GCC's clones only:
 * clang's, in the fuzz and sanitizer builds, leave the resolvers
 * unresolved when built with the fuzzer). The clones may differ in the
 * last bits, as the baseline (no fused multiply-add) always did from the
 * AVX2 clone; within one process every call runs the same clone, so a
 * kernel and its fused form still agree bit for bit (test_exec). The
 * AVX-512 clone halved float32 gelu on this project's Zen 5 VMs (0.30 ->
 * 0.16 ms on gpt-step's [8, 64, 512]). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GR_ROW_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define GR_ROW_CLONES
#endif

/* y[i] = e^(x[i] - shift) for i < n (y may be x). */
void gr_vexp_f32(const float *x, float *y, int64_t n, float shift);
/* y[i] = erf(x[i]) for i < n. */
void gr_verf_f32(const float *x, float *y, int64_t n);
/* y[i] = x Phi(x) = x/2 (1 + erf(x/sqrt 2)), gelu's exact form. */
void gr_vgelu_f32(const float *x, float *y, int64_t n);
/* y[i] = Phi(x) + x phi(x), gelu's exact derivative. */
void gr_vgelu_derivative_f32(const float *x, float *y, int64_t n);
/* Both at once, erf taken once: y as gr_vgelu_f32, dy as
 * gr_vgelu_derivative_f32 (the same bits). */
void gr_vgelu_both_f32(const float *x, float *y, float *dy, int64_t n);

/* The largest x[i] for i < n, -inf for none; NaN elements are passed over
 * (the softmax rows built on it still give NaN: e^(NaN - max) reaches
 * their sum). */
float gr_vmax_f32(const float *x, int64_t n);
/* The sum of x[i] for i < n, accumulated in double in 8 interleaved
 * partial sums (the order differs from a plain loop by double rounding). */
double gr_vsum_f32(const float *x, int64_t n);
/* y[i] *= s for i < n. */
void gr_vscale_f32(float *y, int64_t n, float s);
/* y[i] = x[i] * a + b for i < n. */
void gr_vaffine_f32(const float *x, float *y, int64_t n, float a, float b);
/* sum (x[i] - mean)^2 for i < n, in double in 8 partial sums. */
double gr_vsqdev_f32(const float *x, int64_t n, double mean);
/* *vs = sum v[i], *vx = sum v[i] (x[i] - mean), in double in 8 partial
 * sums each. */
void gr_vsum_dot_f32(const float *v, const float *x, int64_t n, double mean, double *vs, double *vx);
/* A normaliser's row in float: y[i] = (x[i] - mean) * rstd, times w[i]
 * and plus b[i] when they are given (NULL: not). */
void gr_vnorm_f32(const float *x, float *y, int64_t n, float mean, float rstd, const float *w, const float *b);
/* Its Jacobian applied to v: y[i] = rstd (v[i] - a - (x[i] - mean) rstd c). */
void gr_vnormbw_f32(const float *x, const float *v, float *y, int64_t n, float mean, float rstd, float a, float c);

/* A softmax row: y[i] = e^(x[i] - m) / sum_j e^(x[j] - m), m the row's
 * max (0 when every x is -inf, so such a row is 0/0 = NaN, as torch);
 * returns the sum (y may be x). */
double gr_vsoftmax_row_f32(const float *x, float *y, int64_t n);

#endif
