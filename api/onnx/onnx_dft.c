/* onnx_dft.c -- lowering ONNX's DFT (opset 17) to two products with
 * constant cosine and sine matrices: a signal of n points along `axis`
 * (the last dim holds 1 real or 2, real and imaginary, components) gives
 * K = n (or n / 2 + 1 with onesided) frequencies,
 *   forward:  Y_k = sum_j X_j e^(-2 pi i j k / n)
 *   inverse:  Y_k = 1/n sum_j X_j e^(+2 pi i j k / n)
 * as NumPy's fft and ifft. dft_length (a constant) zero-pads or cuts the
 * signal first. An O(n^2) product rather than an FFT: exact in float64,
 * differentiable through matmul, and as fast as a GEMM for the short
 * signals models carry; the matrices count against the element limit. */
#include "onnx_more.h"
#include "onnx_nn.h"

#include <math.h>
#include <stdlib.h>

#define TWO_PI 6.283185307179586476925286766559
/* The [n, K] matrix of cos (sine: sin) of 2 pi j k / n, as a constant. */
static int twiddles(ox_low *L, int64_t n, int64_t K, int sine) {
    ox_tensor *t = gd_ox_tensor_new(2, (int64_t[]){n, K});
    if (!t) return gd_ox_fail(L, "out of memory");
    for (int64_t j = 0; j < n; j++)
        for (int64_t k = 0; k < K; k++) {
            double a = TWO_PI * (double)((j * k) % n) / (double)n; /* reduced: exact angles for large j k */
            t->v[j * K + k] = sine ? sin(a) : cos(a);
        }
    int id = gd_ox_const(L, t);
    gd_ox_tensor_free(t), free(t);
    return id;
}

int gd_ox_lw_DFT(ox_low *L) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    const gr_shape *xs = gd_ox_shape(L, x);
    int rank = xs->rank;
    int64_t axis = gd_ox_ai(L, "axis", 1), inverse = gd_ox_ai(L, "inverse", 0), onesided = gd_ox_ai(L, "onesided", 0);
    if (axis < 0) axis += rank;
    if (rank < 2 || axis < 0 || axis >= rank - 1) return gd_ox_fail(L, "axis must name a dim before the last");
    int64_t comps = xs->dims[rank - 1];
    if (comps != 1 && comps != 2) return gd_ox_fail(L, "the last dim must be 1 (real) or 2 (complex), not %lld", (long long)comps);
    if (inverse && onesided) return gd_ox_fail(L, "onesided inverse DFT is not supported");
    /* the signal dim last, the components before it: [..., comps, n] */
    int64_t perm[GR_MAX_RANK], back[GR_MAX_RANK];
    int p = 0;
    for (int i = 0; i < rank - 1; i++)
        if (i != axis) perm[p++] = i;
    perm[p++] = rank - 1;
    perm[p++] = axis;
    gr_attrs at = {0};
    gd_ox_set_ints(&at, GR_ATTR_PERM, perm, rank);
    int s = gd_ox_un(L, "transpose", x, &at);
    int64_t n = xs->dims[axis];
    if (gd_ox_has(L, 1)) {
        int64_t len;
        if (gd_ox_ints_in(L, 1, &len, 1) != 1) return -1;
        if (len < 1) return gd_ox_fail(L, "dft_length must be at least 1");
        if (len < n) s = gd_ox_slice1(L, s, rank - 1, 0, len);
        if (len > n) {
            gr_attrs pa = {0};
            int64_t ax = rank - 1, pads[2] = {0, len - n};
            gd_ox_set_ints(&pa, GR_ATTR_AXES, &ax, 1);
            gd_ox_set_ints(&pa, GR_ATTR_PADS, pads, 2);
            s = gd_ox_un(L, "pad", s, &pa);
        }
        n = len;
    }
    int64_t K = onesided ? n / 2 + 1 : n;
    if ((double)n * (double)K > (double)L->r->lim.max_elements)
        return gd_ox_fail(L, "a %lld-point DFT's matrices would exceed the element limit", (long long)n);
    int c = twiddles(L, n, K, 0), sn = twiddles(L, n, K, 1);
    int re = gd_ox_slice1(L, s, rank - 2, 0, 1), im = comps == 2 ? gd_ox_slice1(L, s, rank - 2, 1, 2) : -1;
    /* forward: re' = re C + im S, im' = im C - re S; inverse: the signs of S flip, then 1/n */
    int yre = gd_ox_op(L, "matmul", (int[]){re, c}, 2, NULL);
    int yim = gd_ox_bin(L, "mul", gd_ox_op(L, "matmul", (int[]){re, sn}, 2, NULL), gd_ox_scalar(L, inverse ? 1 : -1));
    if (im >= 0) {
        yre = gd_ox_bin(L, "add", yre, gd_ox_bin(L, "mul", gd_ox_op(L, "matmul", (int[]){im, sn}, 2, NULL),
                                                 gd_ox_scalar(L, inverse ? -1 : 1)));
        yim = gd_ox_bin(L, "add", yim, gd_ox_op(L, "matmul", (int[]){im, c}, 2, NULL));
    }
    if (inverse) {
        yre = gd_ox_bin(L, "mul", yre, gd_ox_scalar(L, 1.0 / (double)n));
        yim = gd_ox_bin(L, "mul", yim, gd_ox_scalar(L, 1.0 / (double)n));
    }
    gr_attrs cat = {0};
    gr_attrs_set_int(&cat, GR_ATTR_AXIS, rank - 2);
    int y = gd_ox_op(L, "concat", (int[]){yre, yim}, 2, &cat); /* [..., 2, K] */
    for (int i = 0; i < rank; i++) back[perm[i]] = i;               /* the inverse permutation */
    gr_attrs bt = {0};
    gd_ox_set_ints(&bt, GR_ATTR_PERM, back, rank);
    y = gd_ox_un(L, "transpose", y, &bt);
    if (y < 0) return -1;
    L->out_int[0] = 0;
    gd_ox_out(L, 0, y);
    return 0;
}
