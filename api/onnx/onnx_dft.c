/* onnx_dft.c -- lowering ONNX's DFT and STFT (opset 17) to products with
 * constant cosine and sine matrices: a signal of n points along `axis`
 * (the last dim holds 1 real or 2, real and imaginary, components) gives
 * K = n (or n / 2 + 1 with onesided) frequencies,
 *   forward:  Y_k = sum_j X_j e^(-2 pi i j k / n)
 *   inverse:  Y_k = 1/n sum_j X_j e^(+2 pi i j k / n)
 * as NumPy's fft and ifft. dft_length (a constant) zero-pads or cuts the
 * signal first. An O(n^2) product rather than an FFT: exact in float64,
 * differentiable through matmul, and as fast as a GEMM for the short
 * signals models carry; the matrices count against the element limit.
 * STFT cuts the signal into frames with one gather (constant offsets),
 * multiplies the window and takes each frame's DFT. MelWeightMatrix is a
 * constant: ONNX's triangular filters over the mel scale. */
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

/* The DFT of s [..., comps, n] (comps 1: real, 2: real and imaginary)
 * along its last dim: [..., 2, K], K frequencies (n or n / 2 + 1). */
static int dft_last(ox_low *L, int s, int rank, int64_t comps, int64_t n, int64_t K, int inverse) {
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
    return gd_ox_op(L, "concat", (int[]){yre, yim}, 2, &cat);
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
        if (len < 1 || len > L->r->lim.max_elements)
            return gd_ox_fail(L, "dft_length must be in [1, %lld]", (long long)L->r->lim.max_elements);
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
    int y = dft_last(L, s, rank, comps, n, K, (int)inverse); /* [..., 2, K] */
    for (int i = 0; i < rank; i++) back[perm[i]] = i;               /* the inverse permutation */
    gr_attrs bt = {0};
    gd_ox_set_ints(&bt, GR_ATTR_PERM, back, rank);
    y = gd_ox_un(L, "transpose", y, &bt);
    return gd_ox_out_typed(L, 0, y, 0);
}

/* STFT(signal [B, length, comps], frame_step, window?, frame_length?;
 * onesided = 1): [B, frames, K, 2], frames = 1 + (length - frame_length)
 * / frame_step, each frame's DFT after the window (frame_length: the
 * window's, or the input). */
int gd_ox_lw_STFT(ox_low *L) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    const gr_shape *xs = gd_ox_shape(L, x);
    if (xs->rank != 3 || (xs->dims[2] != 1 && xs->dims[2] != 2))
        return gd_ox_fail(L, "signal must be [batch, length, 1 or 2]");
    int64_t step, fl = -1, B = xs->dims[0], len = xs->dims[1], comps = xs->dims[2];
    if (gd_ox_ints_in(L, 1, &step, 1) != 1) return -1;
    int win = gd_ox_has(L, 2) ? gd_ox_in(L, 2) : -1;
    if (gd_ox_has(L, 2) && win < 0) return -1;
    if (win >= 0) {
        const gr_shape *w = gd_ox_shape(L, win);
        if (w->rank != 1) return gd_ox_fail(L, "window must be 1-D");
        fl = w->dims[0];
    }
    if (gd_ox_has(L, 3)) {
        int64_t f;
        if (gd_ox_ints_in(L, 3, &f, 1) != 1) return -1;
        if (fl >= 0 && f != fl) return gd_ox_fail(L, "frame_length %lld differs from the window's %lld", (long long)f, (long long)fl);
        fl = f;
    }
    if (fl < 1 || step < 1 || fl > len) return gd_ox_fail(L, "frame_length and frame_step must be in [1, length]");
    int64_t frames = 1 + (len - fl) / step, total = frames * fl;
    if ((double)frames * (double)fl > (double)L->r->lim.max_elements)
        return gd_ox_fail(L, "%lld frames of %lld exceed the element limit", (long long)frames, (long long)fl);
    ox_tensor *idx = gd_ox_tensor_new(1, &total);
    if (!idx) return gd_ox_fail(L, "out of memory");
    for (int64_t f = 0; f < frames; f++)
        for (int64_t j = 0; j < fl; j++) idx->v[f * fl + j] = (double)(f * step + j);
    int off = gd_ox_const(L, idx);
    gd_ox_tensor_free(idx), free(idx);
    gr_attrs ax = {0};
    gr_attrs_set_int(&ax, GR_ATTR_AXIS, 1);
    int fr = gd_ox_op(L, "take", (int[]){x, off}, 2, &ax); /* [B, frames fl, comps] */
    fr = gd_ox_reshape(L, fr, (int64_t[]){B, frames, fl, comps}, 4);
    if (win >= 0) fr = gd_ox_bin(L, "mul", fr, gd_ox_reshape(L, win, (int64_t[]){fl, 1}, 2));
    gr_attrs to = {0}, from = {0};
    gd_ox_set_ints(&to, GR_ATTR_PERM, (int64_t[]){0, 1, 3, 2}, 4);
    fr = gd_ox_un(L, "transpose", fr, &to); /* [B, frames, comps, fl] */
    int onesided = (int)gd_ox_ai(L, "onesided", 1);
    int y = dft_last(L, fr, 4, comps, fl, onesided ? fl / 2 + 1 : fl, 0);
    gd_ox_set_ints(&from, GR_ATTR_PERM, (int64_t[]){0, 1, 3, 2}, 4);
    y = gd_ox_un(L, "transpose", y, &from); /* [B, frames, K, 2] */
    return gd_ox_out_typed(L, 0, y, 0);
}

/* One integer input k (a scalar constant), or -1 with the error set. */
static int scalar_in(ox_low *L, int k, double *v) {
    const ox_tensor *t = gd_ox_cin_value(L, k);
    if (!t || t->n != 1) return gd_ox_fail(L, "input %d must be a known scalar", k);
    *v = t->v[0];
    return 0;
}

/* MelWeightMatrix(num_mel_bins, dft_length, sample_rate, lower_edge_hertz,
 * upper_edge_hertz): [dft_length / 2 + 1, num_mel_bins], ONNX's filters:
 * num_mel_bins + 2 points spaced evenly on the mel scale m(f) = 2595
 * log10(1 + f / 700) from the lower edge (the step is the mel range over
 * their count), each as the spectrogram bin floor((dft_length + 1) f /
 * sample_rate); filter i rises linearly from point i to point i + 1 (1
 * there; a single 1 when they coincide) and falls to 0 at point i + 2. */
int gd_ox_lw_MelWeightMatrix(ox_low *L) {
    double mels = 0, dft = 0, rate = 0, lo = 0, hi = 0;
    if (scalar_in(L, 0, &mels) < 0 || scalar_in(L, 1, &dft) < 0 || scalar_in(L, 2, &rate) < 0 ||
        scalar_in(L, 3, &lo) < 0 || scalar_in(L, 4, &hi) < 0)
        return -1;
    /* written so that NaN fails too */
    if (!(mels >= 1) || !(dft >= 1) || !(rate > 0) || !(lo >= 0) || !(hi >= lo) || !(hi <= 1e12) ||
        !((floor(dft) / 2 + 1) * floor(mels) <= (double)L->r->lim.max_elements))
        return gd_ox_fail(L, "num_mel_bins, dft_length and sample_rate must be positive, 0 <= lower <= upper edge");
    int64_t M = (int64_t)mels, bins = (int64_t)dft / 2 + 1, npts = M + 2;
    int64_t *pt = malloc((size_t)npts * sizeof *pt);
    ox_tensor *t = gd_ox_tensor_new(2, (int64_t[]){bins, M});
    if (!pt || !t) {
        free(pt);
        if (t) gd_ox_tensor_free(t), free(t);
        return gd_ox_fail(L, "out of memory");
    }
    double mlo = 2595 * log10(1 + lo / 700), mhi = 2595 * log10(1 + hi / 700), step = (mhi - mlo) / (double)npts;
    int bad = 0;
    for (int64_t i = 0; i < npts; i++) {
        double f = 700 * (pow(10, ((double)i * step + mlo) / 2595) - 1), b = floor((floor(dft) + 1) * f / rate);
        bad |= !(b >= 0 && b < (double)bins);
        pt[i] = bad ? 0 : (int64_t)b;
    }
    for (int64_t i = 0; i < M && !bad; i++) {
        int64_t a = pt[i], c = pt[i + 1], b = pt[i + 2];
        bad = a > c || c > b;
        if (bad) break;
        if (c == a) t->v[c * M + i] = 1;
        else
            for (int64_t j = a; j <= c; j++) t->v[j * M + i] = (double)(j - a) / (double)(c - a);
        for (int64_t j = c; j < b; j++) t->v[j * M + i] = (double)(b - j) / (double)(b - c);
    }
    free(pt);
    int id = bad ? gd_ox_fail(L, "the mel points fall outside the %lld spectrogram bins", (long long)bins) : gd_ox_const(L, t);
    gd_ox_tensor_free(t), free(t);
    return gd_ox_out_typed(L, 0, id, 0);
}
