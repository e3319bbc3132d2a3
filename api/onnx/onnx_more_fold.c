/* onnx_more_fold.c -- ONNX op types computed here from constants (the
 * window generators; NonZero and Unique, whose output shapes depend on
 * their input's values) and two normalisations composed of libgrad ops
 * (LRN, MeanVarianceNormalization).
 *
 * NonZero and Unique need their input's values when the model is lowered:
 * a constant, or a graph input of the request (read as a constant, so such
 * a request is not cached: its program depends on the value); a value
 * computed by the model is a 422 naming the node. Unique's Y is a take of
 * the input at the first occurrences, so it stays differentiable in it. */
#include "onnx_more.h"

#include "onnx_nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define OX_PI 3.14159265358979323846

static int out0(ox_low *L, int id) {
    if (id < 0) return -1;
    gd_ox_out(L, 0, id);
    return 0;
}

/* ---- windows ---------------------------------------------------------------- */

/* w[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N), n in [0, size), N =
 * size (periodic, the default) or size - 1 (symmetric); a window of one
 * element is [1] (torch's rule; ONNX's formula divides by 0 there). */
static int window(ox_low *L, double a0, double a1, double a2) {
    const ox_tensor *s = gd_ox_cin_value(L, 0);
    if (!s || s->n != 1) return gd_ox_fail(L, "size must be a constant scalar");
    double size = floor(s->v[0]);
    if (!(size >= 0 && size <= (double)L->r->lim.max_elements)) return gd_ox_fail(L, "size %g is out of range", size);
    int64_t n = (int64_t)size;
    ox_tensor *t = gd_ox_tensor_new(1, &n);
    if (!t) return gd_ox_fail(L, "out of memory");
    double N = gd_ox_ai(L, "periodic", 1) ? size : size - 1;
    for (int64_t i = 0; i < n; i++)
        t->v[i] = N == 0 ? 1 : a0 - a1 * cos(2 * OX_PI * (double)i / N) + a2 * cos(4 * OX_PI * (double)i / N);
    int64_t dt = gd_ox_ai(L, "output_datatype", 1);
    t->is_int = !gd_ox_is_float_type((int32_t)dt);
    for (int64_t i = 0; t->is_int && i < n; i++) t->v[i] = trunc(t->v[i]);
    gd_ox_out_const(L, 0, t);
    return 0;
}

int gd_ox_lw_HannWindow(ox_low *L) { return window(L, 0.5, 0.5, 0); }
int gd_ox_lw_HammingWindow(ox_low *L) { return window(L, 25.0 / 46, 21.0 / 46, 0); }
int gd_ox_lw_BlackmanWindow(ox_low *L) { return window(L, 0.42, 0.5, 0.08); }

/* ---- NonZero -------------------------------------------------------------------- */

/* NonZero(X): [rank, count] the coordinates of X's nonzero elements in
 * row-major order (a scalar gives [0, count], ONNX's rule). */
int gd_ox_lw_NonZero(ox_low *L) {
    const ox_tensor *x = gd_ox_cin_value(L, 0);
    if (!x) return gd_ox_fail(L, "X must be a constant or a graph input: the output's shape depends on its values");
    int64_t cnt = 0, st[GR_MAX_RANK], s = 1;
    for (int64_t i = 0; i < x->n; i++) cnt += x->v[i] != 0;
    for (int d = x->rank - 1; d >= 0; d--) st[d] = s, s *= x->dims[d];
    int64_t dims[2] = {x->rank, cnt};
    ox_tensor *t = gd_ox_tensor_new(2, dims);
    if (!t) return gd_ox_fail(L, "out of memory");
    for (int64_t i = 0, j = 0; i < x->n; i++) {
        if (x->v[i] == 0) continue;
        for (int d = 0; d < x->rank; d++) t->v[d * cnt + j] = (double)((i / st[d]) % x->dims[d]);
        j++;
    }
    t->is_int = 1;
    gd_ox_out_const(L, 0, t);
    return 0;
}

/* ---- Unique --------------------------------------------------------------------- */

/* The input as slices along an axis: n slices of len elements, slice i's
 * element e at v[(i / 1) ...] read through (outer, n, inner). */
typedef struct slices {
    const double *v;
    int64_t n, outer, inner;
} slices;

static double slice_at(const slices *S, int64_t i, int64_t e) {
    int64_t o = e / S->inner, r = e % S->inner;
    return S->v[(o * S->n + i) * S->inner + r];
}

/* -1, 0, 1: slice a against b, lexicographically (NumPy's order: NaN
 * after every number, and NaNs equal to each other, np.unique's
 * equal_nan). */
static int slice_cmp(const slices *S, int64_t a, int64_t b) {
    for (int64_t e = 0; e < S->outer * S->inner; e++) {
        double x = slice_at(S, a, e), y = slice_at(S, b, e);
        if (x != x || y != y) {
            if (x == x) return -1;
            if (y == y) return 1;
            continue;
        }
        if (x < y) return -1;
        if (x > y) return 1;
    }
    return 0;
}

/* Stable merge sort of ord[0..n) by slice_cmp. */
static void sort_slices(const slices *S, int64_t *ord, int64_t *tmp, int64_t n) {
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, i = lo, j = mid, o = lo;
            while (i < mid && j < hi) tmp[o++] = slice_cmp(S, ord[j], ord[i]) < 0 ? ord[j++] : ord[i++];
            while (i < mid) tmp[o++] = ord[i++];
            while (j < hi) tmp[o++] = ord[j++];
        }
        memcpy(ord, tmp, (size_t)n * sizeof *ord);
    }
}

static ox_tensor *int_tensor(const int64_t *v, int64_t n) {
    ox_tensor *t = gd_ox_tensor_new(1, &n);
    for (int64_t i = 0; t && i < n; i++) t->v[i] = (double)v[i];
    if (t) t->is_int = 1;
    return t;
}

/* Unique(X; axis, sorted) -> Y, indices, inverse_indices, counts: the
 * distinct values (slices along axis; absent: of the flattened X),
 * ascending when sorted (default), else in order of first occurrence. */
int gd_ox_lw_Unique(ox_low *L) {
    const ox_tensor *x = gd_ox_cin_value(L, 0);
    if (!x) return gd_ox_fail(L, "X must be a constant or a graph input: the output's shape depends on its values");
    const Onnx__AttributeProto *aa = gd_ox_attr(L->node, "axis");
    int64_t axis = aa ? gd_ox_ai(L, "axis", 0) : 0;
    slices S = {x->v, x->n, 1, 1};
    if (aa) {
        if (axis < 0) axis += x->rank;
        if (axis < 0 || axis >= x->rank) return gd_ox_fail(L, "axis is out of range");
        S.n = x->dims[axis];
        for (int d = 0; d < axis; d++) S.outer *= x->dims[d];
        for (int d = (int)axis + 1; d < x->rank; d++) S.inner *= x->dims[d];
    }
    int64_t n = S.n, nu = 0;
    int64_t *ord = malloc((size_t)(3 * n + 1) * sizeof *ord), *tmp = ord ? ord + n : NULL, *inv = tmp ? tmp + n : NULL;
    int64_t *first = malloc((size_t)(2 * n + 1) * sizeof *first), *cnt = first ? first + n : NULL;
    int64_t *rank_of = malloc((size_t)(n + 1) * sizeof *rank_of);
    int rc = -1;
    if (!ord || !first || !rank_of) {
        gd_ox_fail(L, "out of memory");
        goto out;
    }
    for (int64_t i = 0; i < n; i++) ord[i] = i;
    sort_slices(&S, ord, tmp, n);
    /* groups of equal slices in sorted order; the stable sort puts each group's first occurrence first */
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || slice_cmp(&S, ord[i - 1], ord[i]) != 0) {
            first[nu] = ord[i];
            cnt[nu++] = 0;
        }
        cnt[nu - 1]++;
        inv[ord[i]] = nu - 1;
    }
    if (!gd_ox_ai(L, "sorted", 1)) { /* renumber the groups by first occurrence */
        for (int64_t i = 0; i < n; i++) tmp[i] = -1;
        for (int64_t g = 0; g < nu; g++) tmp[first[g]] = g;
        for (int64_t i = 0, k = 0; i < n; i++)
            if (tmp[i] >= 0) rank_of[tmp[i]] = k++;
        for (int64_t g = 0; g < nu; g++) ord[rank_of[g]] = first[g]; /* ord is free once grouped */
        memcpy(first, ord, (size_t)nu * sizeof *first);
        for (int64_t g = 0; g < nu; g++) ord[rank_of[g]] = cnt[g];
        memcpy(cnt, ord, (size_t)nu * sizeof *cnt);
        for (int64_t i = 0; i < n; i++) inv[i] = rank_of[inv[i]];
    }
    int xid = gd_ox_in(L, 0);
    ox_tensor *fi = int_tensor(first, nu), *ii = int_tensor(inv, n), *ci = int_tensor(cnt, nu);
    int idx = fi ? gd_ox_const(L, fi) : -1;
    if (!fi || !ii || !ci || idx < 0 || xid < 0) {
        if (fi) gd_ox_tensor_free(fi), free(fi);
        if (ii) gd_ox_tensor_free(ii), free(ii);
        if (ci) gd_ox_tensor_free(ci), free(ci);
        if (!L->err[0]) gd_ox_fail(L, "out of memory");
        goto out;
    }
    gr_attrs at = {0};
    if (aa) gr_attrs_set_int(&at, GR_ATTR_AXIS, axis);
    int y = gd_ox_op(L, "take", (int[]){xid, idx}, 2, aa ? &at : NULL);
    if (y >= 0) {
        gd_ox_out(L, 0, y);
        L->out_int[0] = x->is_int;
        gd_ox_out_const(L, 1, fi);
        gd_ox_out_const(L, 2, ii);
        gd_ox_out_const(L, 3, ci);
        rc = 0;
    } else {
        gd_ox_tensor_free(fi), free(fi), gd_ox_tensor_free(ii), free(ii), gd_ox_tensor_free(ci), free(ci);
    }
out:
    free(ord), free(first), free(rank_of);
    return rc;
}

/* ---- LRN and MeanVarianceNormalization ------------------------------------------ */

/* LRN(X [N, C, ...]; alpha, beta, bias, size): X / (bias + alpha / size *
 * square_sum)^beta, square_sum over the channels c - floor((size-1)/2) ..
 * c + ceil((size-1)/2) that exist: X^2 zero-padded along C, summed over
 * size shifted slices. */
int gd_ox_lw_LRN(ox_low *L) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    gr_shape xs = *gd_ox_shape(L, x);
    int64_t size = gd_ox_ai(L, "size", 0);
    if (xs.rank < 2) return gd_ox_fail(L, "the input must be [N, C, ...]");
    if (size < 1) return gd_ox_fail(L, "size must be >= 1");
    double alpha = gd_ox_af(L, "alpha", 0.0001), beta = gd_ox_af(L, "beta", 0.75), bias = gd_ox_af(L, "bias", 1);
    int64_t lo = (size - 1) / 2, hi = size - 1 - lo, C = xs.dims[1], ch = 1;
    /* the window beyond the channels adds zeros: pad at most C - 1 each side */
    if (lo > C - 1) lo = C > 0 ? C - 1 : 0;
    if (hi > C - 1) hi = C > 0 ? C - 1 : 0;
    gr_attrs pa = {0};
    int64_t pads[2] = {lo, hi};
    gd_ox_set_ints(&pa, GR_ATTR_PADS, pads, 2);
    gd_ox_set_ints(&pa, GR_ATTR_AXES, &ch, 1);
    int sq = gd_ox_un(L, "pad", gd_ox_un(L, "square", x, NULL), &pa);
    int s = -1;
    for (int64_t i = 0; i < lo + hi + 1 && sq >= 0; i++) {
        int part = gd_ox_slice1(L, sq, 1, i, i + C);
        s = i ? gd_ox_bin(L, "add", s, part) : part;
    }
    int den = gd_ox_bin(L, "add", gd_ox_bin(L, "mul", s, gd_ox_scalar(L, alpha / (double)size)), gd_ox_scalar(L, bias));
    den = gd_ox_bin(L, "pow", den, gd_ox_scalar(L, -beta));
    return out0(L, gd_ox_bin(L, "mul", x, den));
}

/* MeanVarianceNormalization(X; axes [0, 2, 3]): (X - E[X]) / (sqrt(E[(X -
 * E[X])^2]) + 1e-9), the means over axes (ONNX's function, its epsilon
 * included; it writes the variance as E[X^2] - E[X]^2, equal up to
 * rounding). */
int gd_ox_lw_MeanVarianceNormalization(ox_low *L) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    int64_t axes[GR_MAX_RANK] = {0, 2, 3};
    int n = gd_ox_aints(L, "axes", axes, GR_MAX_RANK);
    if (n < -1) return -1;
    if (n == -1) n = 3;
    gr_attrs at = {0};
    gd_ox_set_ints(&at, GR_ATTR_AXES, axes, n);
    gr_attrs_set_int(&at, GR_ATTR_KEEPDIMS, 1);
    int d = gd_ox_bin(L, "sub", x, gd_ox_un(L, "mean", x, &at));
    int sd = gd_ox_un(L, "sqrt", gd_ox_un(L, "mean", gd_ox_un(L, "square", d, NULL), &at), NULL);
    return out0(L, gd_ox_bin(L, "div", d, gd_ox_bin(L, "add", sd, gd_ox_scalar(L, 1e-9))));
}
