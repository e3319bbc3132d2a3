/* onnx_nn.c -- lowering ONNX's neural-network ops (Gemm, Conv,
 * ConvTranspose, pooling, normalisations, Softmax), its reductions and
 * Pad to libgrad ops. ONNX's conventions are mapped here: pads as
 * [begins..., ends...] (asymmetric ones become an explicit pad node),
 * auto_pad, pooling's stride default of 1 and count_include_pad default
 * of 0, 1-D pooling as 2-D over a size-1 axis, BatchNormalization's
 * training mode with its running-statistics outputs (ONNX's rule: the
 * biased batch variance, input * momentum + batch * (1 - momentum)) and,
 * for running statistics that are buffers, the nodes "<buffer>#next" that
 * step copies into them (PyTorch's rule: the unbiased batch variance). */
#include "onnx_nn.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int out0(ox_low *L, int id) {
    if (id < 0) return -1;
    gd_ox_out(L, 0, id);
    return 0;
}

/* Y = alpha * op(A) @ op(B) + beta * C */
int gd_ox_lw_Gemm(ox_low *L) {
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_TRANSPOSE_A, gd_ox_ai(L, "transA", 0) != 0);
    gr_attrs_set_int(&at, GR_ATTR_TRANSPOSE_B, gd_ox_ai(L, "transB", 0) != 0);
    int y = gd_ox_op(L, "matmul", (int[]){gd_ox_in(L, 0), gd_ox_in(L, 1)}, 2, &at);
    double alpha = gd_ox_af(L, "alpha", 1), beta = gd_ox_af(L, "beta", 1);
    if (alpha != 1) y = gd_ox_bin(L, "mul", y, gd_ox_scalar(L, alpha));
    if (gd_ox_has(L, 2) && beta != 0) {
        int c = gd_ox_in(L, 2);
        if (beta != 1) c = gd_ox_bin(L, "mul", c, gd_ox_scalar(L, beta));
        y = gd_ox_bin(L, "add", y, c);
    }
    return out0(L, y);
}

/* ---- spatial attributes ------------------------------------------------- */

typedef struct spatial {
    int n;                          /* spatial dims */
    int64_t k[2], st[2], dil[2];    /* kernel, strides, dilations */
    int64_t pb[2], pe[2];           /* pads at the begin and end of each */
} spatial;

/* Read kernel_shape (or take kernel), strides, dilations, pads and
 * auto_pad for n spatial dims of sizes in. */
static int read_spatial(ox_low *L, int n, const int64_t *in, const int64_t *kernel, spatial *s) {
    int64_t v[4];
    s->n = n;
    if (n < 1 || n > 2) return gd_ox_fail(L, "only 1-D and 2-D windows are supported");
    int nk = gd_ox_aints(L, "kernel_shape", v, 2);
    if (nk < -1) return -1;
    for (int i = 0; i < n; i++) s->k[i] = nk == n ? v[i] : kernel ? kernel[i] : 0;
    if (!kernel && nk != n) return gd_ox_fail(L, "kernel_shape must have %d entries", n);
    int ns = gd_ox_aints(L, "strides", v, 2);
    for (int i = 0; i < n; i++) s->st[i] = ns == n ? v[i] : 1;
    int nd = gd_ox_aints(L, "dilations", v, 2);
    for (int i = 0; i < n; i++) s->dil[i] = nd == n ? v[i] : 1;
    int np = gd_ox_aints(L, "pads", v, 4);
    if (np < -1 || (np >= 0 && np != 2 * n)) return np < -1 ? -1 : gd_ox_fail(L, "pads must have %d entries", 2 * n);
    for (int i = 0; i < n; i++) {
        s->pb[i] = np > 0 ? v[i] : 0;
        s->pe[i] = np > 0 ? v[n + i] : 0;
        if (s->pb[i] < 0 || s->pe[i] < 0) return gd_ox_fail(L, "negative pads are not supported");
    }
    char buf[32];
    const char *ap = gd_ox_as(L, "auto_pad", "NOTSET", buf, sizeof buf);
    if (!strcmp(ap, "VALID")) {
        for (int i = 0; i < n; i++) s->pb[i] = s->pe[i] = 0;
    } else if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
        for (int i = 0; i < n; i++) {
            int64_t out = (in[i] + s->st[i] - 1) / s->st[i];
            int64_t total = (out - 1) * s->st[i] + (s->k[i] - 1) * s->dil[i] + 1 - in[i];
            if (total < 0) total = 0;
            s->pb[i] = ap[5] == 'U' ? total / 2 : total - total / 2;
            s->pe[i] = total - s->pb[i];
        }
    } else if (strcmp(ap, "NOTSET")) {
        return gd_ox_fail(L, "auto_pad %.16s is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER", ap);
    }
    return 0;
}

static int symmetric(const spatial *s, int at_most_half) {
    for (int i = 0; i < s->n; i++)
        if (s->pb[i] != s->pe[i] || (at_most_half && s->pb[i] > s->k[i] / 2)) return 0;
    return 1;
}

/* x padded explicitly on its last s->n axes with value; the spatial pads
 * are then 0. */
static int pad_explicit(ox_low *L, int x, spatial *s, double value) {
    int rank = gd_ox_shape(L, x)->rank;
    int64_t axes[2], pads[4];
    for (int i = 0; i < s->n; i++) {
        axes[i] = rank - s->n + i;
        pads[2 * i] = s->pb[i];
        pads[2 * i + 1] = s->pe[i];
        s->pb[i] = s->pe[i] = 0;
    }
    gr_attrs at = {0};
    gd_ox_set_ints(&at, GR_ATTR_AXES, axes, s->n);
    gd_ox_set_ints(&at, GR_ATTR_PADS, pads, 2 * s->n);
    if (value != 0) gr_attrs_set_number(&at, GR_ATTR_VALUE, value);
    return gd_ox_un(L, "pad", x, &at);
}

static void set_window(gr_attrs *at, const spatial *s, int kernel) {
    gd_ox_set_ints(at, GR_ATTR_STRIDE, s->st, s->n);
    gd_ox_set_ints(at, GR_ATTR_PADDING, s->pb, s->n);
    if (kernel) gd_ox_set_ints(at, GR_ATTR_KERNEL_SIZE, s->k, s->n);
}

/* bias [C] added to y [N, C, spatial...] */
static int add_bias(ox_low *L, int y, int k) {
    if (y < 0 || !gd_ox_has(L, k)) return y;
    int b = gd_ox_in(L, k);
    if (b < 0) return -1;
    int rank = gd_ox_shape(L, y)->rank;
    const gr_shape *bs = gd_ox_shape(L, b);
    int64_t shape[GR_MAX_RANK] = {bs->rank == 1 ? bs->dims[0] : -1};
    for (int i = 1; i < rank - 1; i++) shape[i] = 1;
    return gd_ox_bin(L, "add", y, gd_ox_reshape(L, b, shape, rank - 1));
}

int gd_ox_lw_Conv(ox_low *L) { return out0(L, add_bias(L, gd_ox_conv(L, gd_ox_in(L, 0), gd_ox_in(L, 1)), 2)); }

int gd_ox_conv(ox_low *L, int x, int w) {
    if (x < 0 || w < 0) return -1;
    const gr_shape *xs = gd_ox_shape(L, x), *ws = gd_ox_shape(L, w);
    if (xs->rank != 3 && xs->rank != 4) return gd_ox_fail(L, "only 1-D and 2-D convolutions are supported");
    spatial s;
    if (read_spatial(L, xs->rank - 2, xs->dims + 2, ws->dims + 2, &s) < 0) return -1;
    gr_attrs at = {0};
    if (!symmetric(&s, 0)) x = pad_explicit(L, x, &s, 0);
    set_window(&at, &s, 0);
    gd_ox_set_ints(&at, GR_ATTR_DILATION, s.dil, s.n);
    gr_attrs_set_int(&at, GR_ATTR_GROUPS, gd_ox_ai(L, "group", 1));
    return gd_ox_op(L, s.n == 1 ? "conv1d" : "conv2d", (int[]){x, w}, 2, &at);
}

/* ConvTranspose: the full transposed convolution (no padding), then its
 * pads cropped off each end, which also covers asymmetric pads; with
 * output_shape or auto_pad SAME the pads are what makes that size (SAME:
 * the input's size times the stride), split as ONNX says. */
int gd_ox_lw_ConvTranspose(ox_low *L) {
    int x = gd_ox_in(L, 0), w = gd_ox_in(L, 1);
    if (x < 0 || w < 0) return -1;
    const gr_shape *xs = gd_ox_shape(L, x), *ws = gd_ox_shape(L, w);
    if (xs->rank != 3 && xs->rank != 4) return gd_ox_fail(L, "only 1-D and 2-D convolutions are supported");
    int n = xs->rank - 2;
    int64_t k[2], st[2] = {1, 1}, dil[2] = {1, 1}, op[2] = {0, 0}, pads[4] = {0, 0, 0, 0}, shape[2], v[4];
    for (int i = 0; i < n; i++) k[i] = ws->dims[2 + i];
    if (gd_ox_aints(L, "strides", v, 2) == n) memcpy(st, v, sizeof st);
    if (gd_ox_aints(L, "dilations", v, 2) == n) memcpy(dil, v, sizeof dil);
    if (gd_ox_aints(L, "output_padding", v, 2) == n) memcpy(op, v, sizeof op);
    if (gd_ox_aints(L, "pads", v, 4) == 2 * n) memcpy(pads, v, sizeof pads);
    char buf[32];
    const char *ap = gd_ox_as(L, "auto_pad", "NOTSET", buf, sizeof buf);
    int nshape = gd_ox_aints(L, "output_shape", shape, 2);
    if (nshape >= 0 && nshape != n) return gd_ox_fail(L, "output_shape must have %d entries", n);
    int same = !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER");
    for (int i = 0; i < n; i++) {
        int64_t full = (xs->dims[2 + i] - 1) * st[i] + (k[i] - 1) * dil[i] + 1 + op[i];
        if (nshape == n || same) {
            int64_t want = nshape == n ? shape[i] : xs->dims[2 + i] * st[i], total = full - want;
            if (total < 0) { /* a larger output: the extra at the end, as output_padding */
                op[i] -= total;
                total = 0;
            }
            pads[i] = !strcmp(ap, "SAME_UPPER") ? total / 2 : total - total / 2;
            pads[n + i] = total - pads[i];
        } else if (!strcmp(ap, "VALID")) {
            pads[i] = pads[n + i] = 0;
        }
        if (pads[i] < 0 || pads[n + i] < 0 || pads[i] + pads[n + i] > full) return gd_ox_fail(L, "bad pads");
    }
    gr_attrs at = {0};
    int64_t zero[2] = {0, 0};
    gd_ox_set_ints(&at, GR_ATTR_STRIDE, st, n);
    gd_ox_set_ints(&at, GR_ATTR_PADDING, zero, n);
    gd_ox_set_ints(&at, GR_ATTR_DILATION, dil, n);
    gd_ox_set_ints(&at, GR_ATTR_OUTPUT_PADDING, op, n);
    gr_attrs_set_int(&at, GR_ATTR_GROUPS, gd_ox_ai(L, "group", 1));
    int y = gd_ox_op(L, n == 1 ? "conv_transpose1d" : "conv_transpose2d", (int[]){x, w}, 2, &at);
    for (int i = 0; i < n && y >= 0; i++) {
        int64_t full = gd_ox_shape(L, y)->dims[2 + i];
        if (pads[i] || pads[n + i]) y = gd_ox_slice1(L, y, 2 + i, pads[i], full - pads[n + i]);
    }
    return out0(L, add_bias(L, y, 2));
}

/* MaxPool's Indices output of x [N, C, H, W] pooled with attributes at:
 * each maximum's index into x flattened, its plane's offset plus its
 * index in the plane, h * W + w (max_pool2d_indices) with storage_order
 * 0 (row-major), w * H + h with 1 (column-major). The indices are values
 * of the graph's dtype: exact in float32 up to 2^24 elements of x (use
 * "dtype": "float64" beyond). */
static int pool_indices(ox_low *L, int x, const gr_attrs *at, int column_major) {
    const gr_shape *xs = gd_ox_shape(L, x);
    int64_t dims[GR_MAX_RANK] = {xs->dims[0], xs->dims[1], 1, 1}, h = xs->dims[2], w = xs->dims[3];
    ox_tensor *off = gd_ox_tensor_new(4, dims);
    if (!off) return gd_ox_fail(L, "out of memory");
    for (int64_t i = 0; i < off->n; i++) off->v[i] = (double)(i * h * w);
    int offsets = gd_ox_const(L, off);
    gd_ox_tensor_free(off), free(off);
    int idx = gd_ox_un(L, "max_pool2d_indices", x, at);
    if (offsets < 0 || idx < 0) return -1;
    if (column_major) { /* row r = idx // W, column idx - r W: index column * H + row */
        int row = gd_ox_bin(L, "floor_divide", idx, gd_ox_scalar(L, (double)w));
        int col = gd_ox_bin(L, "sub", idx, gd_ox_bin(L, "mul", row, gd_ox_scalar(L, (double)w)));
        idx = gd_ox_bin(L, "add", gd_ox_bin(L, "mul", col, gd_ox_scalar(L, (double)h)), row);
        if (idx < 0) return -1;
    }
    return gd_ox_bin(L, "add", idx, offsets);
}

/* MaxPool and AveragePool over [N, C, W] (as [N, C, 1, W]) or [N, C, H, W];
 * MaxPool's Indices output too, over [N, C, H, W]. */
static int pool(ox_low *L, int is_max) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    const gr_shape *xs = gd_ox_shape(L, x);
    int rank = xs->rank;
    if (rank != 3 && rank != 4) return gd_ox_fail(L, "only 1-D and 2-D pooling over [N, C, ...] is supported");
    int indices = is_max && L->nout > 1 && L->node->output[1][0];
    int64_t storage_order = gd_ox_ai(L, "storage_order", 0);
    if (indices && rank != 4) return gd_ox_fail(L, "the Indices output is supported over [N, C, H, W]");
    if (indices && storage_order != 0 && storage_order != 1)
        return gd_ox_fail(L, "storage_order is %lld; it must be 0 or 1", (long long)storage_order);
    spatial s;
    if (read_spatial(L, rank - 2, xs->dims + 2, NULL, &s) < 0) return -1;
    if (indices && !symmetric(&s, 1))
        return gd_ox_fail(L, "the Indices output is supported with pads equal on both sides and at most half the "
                             "kernel");
    int cip = (int)gd_ox_ai(L, "count_include_pad", 0);
    int counts = -1; /* average pooling over explicit pads without them: the window's count of input elements */
    if (!symmetric(&s, 1)) {
        if (!is_max && !cip) {
            int64_t one_dims[GR_MAX_RANK] = {1, 1};
            for (int i = 2; i < rank; i++) one_dims[i] = xs->dims[i];
            ox_tensor *ones = gd_ox_tensor_new(rank, one_dims);
            if (!ones) return gd_ox_fail(L, "out of memory");
            for (int64_t i = 0; i < ones->n; i++) ones->v[i] = 1;
            counts = gd_ox_const(L, ones);
            gd_ox_tensor_free(ones), free(ones);
            spatial s2 = s;
            counts = counts < 0 ? -1 : pad_explicit(L, counts, &s2, 0);
            if (counts < 0) return -1;
            cip = 1;
        }
        x = pad_explicit(L, x, &s, is_max ? -FLT_MAX : 0);
    }
    if (rank == 3) { /* a size-1 axis in front of W */
        int64_t ax = 2;
        gr_attrs e = {0};
        gd_ox_set_ints(&e, GR_ATTR_AXES, &ax, 1);
        x = gd_ox_un(L, "expand_dims", x, &e);
        s.n = 2;
        s.k[1] = s.k[0], s.st[1] = s.st[0], s.dil[1] = s.dil[0], s.pb[1] = s.pb[0];
        s.k[0] = s.st[0] = s.dil[0] = 1, s.pb[0] = 0;
    }
    gr_attrs at = {0};
    set_window(&at, &s, 1);
    gr_attrs_set_int(&at, GR_ATTR_CEIL_MODE, gd_ox_ai(L, "ceil_mode", 0) != 0);
    if (is_max) gd_ox_set_ints(&at, GR_ATTR_DILATION, s.dil, 2);
    else gr_attrs_set_int(&at, GR_ATTR_COUNT_INCLUDE_PAD, cip != 0);
    if (!is_max && (s.dil[0] != 1 || s.dil[1] != 1)) return gd_ox_fail(L, "dilated average pooling is not supported");
    int y = gd_ox_un(L, is_max ? "max_pool2d" : "avg_pool2d", x, &at);
    if (indices) {
        int ix = pool_indices(L, x, &at, storage_order == 1);
        if (ix < 0) return -1;
        gd_ox_out(L, 1, ix);
    }
    if (counts >= 0 && rank == 4) y = gd_ox_bin(L, "div", y, gd_ox_un(L, "avg_pool2d", counts, &at));
    else if (counts >= 0) return gd_ox_fail(L, "1-D average pooling over asymmetric pads is not supported");
    if (y >= 0 && rank == 3) {
        int64_t ax = 2;
        gr_attrs q = {0};
        gd_ox_set_ints(&q, GR_ATTR_AXES, &ax, 1);
        y = gd_ox_un(L, "squeeze", y, &q);
    }
    return out0(L, y);
}

int gd_ox_lw_MaxPool(ox_low *L) { return pool(L, 1); }
int gd_ox_lw_AveragePool(ox_low *L) { return pool(L, 0); }

/* A reduction of x over axes (count n; all when n < 0). */
static int reduce_axes(ox_low *L, const char *op, int x, const int64_t *axes, int n, int keepdims) {
    gr_attrs at = {0};
    if (n >= 0) gd_ox_set_ints(&at, GR_ATTR_AXES, axes, n);
    gr_attrs_set_int(&at, GR_ATTR_KEEPDIMS, keepdims);
    return gd_ox_un(L, op, x, &at);
}

static int global_pool(ox_low *L, const char *op) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    int rank = gd_ox_shape(L, x)->rank;
    int64_t axes[GR_MAX_RANK];
    for (int i = 2; i < rank; i++) axes[i - 2] = i;
    return out0(L, reduce_axes(L, op, x, axes, rank - 2, 1));
}

int gd_ox_lw_GlobalAveragePool(ox_low *L) { return global_pool(L, "mean"); }
int gd_ox_lw_GlobalMaxPool(ox_low *L) { return global_pool(L, "max"); }

/* ---- normalisation -------------------------------------------------------- */

/* The scratch node named name, or -1. A scan, made only for a buffer two
 * BatchNormalization nodes share. */
static int find_named(const ox_low *L, const char *name) {
    for (int i = 0; i < L->cap_names; i++)
        if (L->names[i] && !strcmp(L->names[i], name)) return i;
    return -1;
}

/* When input k (3: running mean, 4: running var) is a buffer: the node
 * "<buffer>#next" holding its value after this training step, PyTorch's
 * rule (1 - m) * running + m * batch statistic, m = 1 - ONNX's momentum,
 * the batch variance over axes unbiased (divided by n - 1; the one that
 * normalises is biased). step (api/step.c) computes it with the
 * gradients and copies it into the buffer. A buffer several nodes share
 * (a module torch runs twice) is updated by each in turn, as PyTorch
 * does: the name moves to the last update. */
static int buffer_next(ox_low *L, int x, int k, double momentum, const int64_t *axes, int naxes) {
    char name[GR_NAME_MAX];
    if (L->folding || !gd_ox_has(L, k) || !gd_onnx_is_buffer(L->r, L->node->input[k]) ||
        gd_onnx_buffer_next_name(L->node->input[k], name, sizeof name) < 0)
        return 0;
    int prev = gd_ox_nameset_count(&L->m->bn_stats, L->node->input[k]) > 1 ? find_named(L, name) : -1;
    gr_attrs v = {0};
    gd_ox_set_ints(&v, GR_ATTR_AXES, axes, naxes);
    if (k == 4) gr_attrs_set_number(&v, GR_ATTR_CORRECTION, 1);
    int batch = gd_ox_un(L, k == 3 ? "mean" : "var", x, &v);
    int old = gd_ox_bin(L, "mul", prev >= 0 ? prev : gd_ox_in(L, k), gd_ox_scalar(L, momentum));
    int y = gd_ox_bin(L, "add", old, gd_ox_bin(L, "mul", batch, gd_ox_scalar(L, 1 - momentum)));
    if (y < 0) return -1;
    if (prev >= 0) { /* the earlier update becomes anonymous (onnx#<id>) */
        free(L->names[prev]);
        L->names[prev] = NULL;
    }
    return gd_ox_name(L, y, name) < 0 ? gd_ox_fail(L, "out of memory") : 0;
}

int gd_ox_lw_BatchNormalization(ox_low *L) {
    int x = gd_ox_in(L, 0), scale = gd_ox_in(L, 1), bias = gd_ox_in(L, 2);
    if (x < 0 || scale < 0 || bias < 0) return -1;
    double eps = gd_ox_af(L, "epsilon", 1e-5), momentum = gd_ox_af(L, "momentum", 0.9);
    int training = L->m->opset >= 14 && gd_ox_ai(L, "training_mode", 0);
    gr_attrs at = {0};
    gr_attrs_set_number(&at, GR_ATTR_EPS, eps);
    gr_attrs_set_int(&at, GR_ATTR_TRAINING, training);
    if (!training) {
        for (int k = 1; k < L->nout; k++)
            if (L->node->output[k][0]) return gd_ox_fail(L, "outputs past Y need training_mode=1");
        int ids[5] = {x, scale, bias, gd_ox_in(L, 3), gd_ox_in(L, 4)};
        return out0(L, gd_ox_op(L, "batch_norm", ids, 5, &at));
    }
    if (out0(L, gd_ox_op(L, "batch_norm", (int[]){x, scale, bias}, 3, &at)) < 0) return -1;
    int rank = gd_ox_shape(L, x)->rank;
    int64_t axes[GR_MAX_RANK] = {0};
    for (int i = 2; i < rank; i++) axes[i - 1] = i;
    if (buffer_next(L, x, 3, momentum, axes, rank - 1) < 0 || buffer_next(L, x, 4, momentum, axes, rank - 1) < 0)
        return -1;
    for (int k = 1; k <= 2 && k < L->nout; k++) { /* running mean and var */
        if (!L->node->output[k][0]) continue;
        gr_attrs v = {0};
        gd_ox_set_ints(&v, GR_ATTR_AXES, axes, rank - 1);
        if (k == 2) gr_attrs_set_number(&v, GR_ATTR_CORRECTION, 0);
        int batch = gd_ox_un(L, k == 1 ? "mean" : "var", x, &v);
        int old = gd_ox_bin(L, "mul", gd_ox_in(L, 2 + k), gd_ox_scalar(L, momentum));
        int y = gd_ox_bin(L, "add", old, gd_ox_bin(L, "mul", batch, gd_ox_scalar(L, 1 - momentum)));
        if (y < 0) return -1;
        gd_ox_out(L, k, y);
    }
    return 0;
}

int gd_ox_lw_LayerNormalization(ox_low *L) {
    int x = gd_ox_in(L, 0), scale = gd_ox_in(L, 1);
    if (x < 0 || scale < 0) return -1;
    const gr_shape *xs = gd_ox_shape(L, x);
    int64_t axis = gd_ox_ai(L, "axis", -1);
    if (axis < 0) axis += xs->rank;
    if (axis < 0 || axis >= xs->rank) return gd_ox_fail(L, "axis is out of range");
    int n = xs->rank - (int)axis;
    const int64_t *norm = xs->dims + axis;
    gr_shape want;
    gr_error ge;
    if (gr_shape_make(&want, n, norm, &ge) != GR_OK) return gd_ox_fail(L, "%s", ge.message);
    int ids[3] = {scale, gd_ox_has(L, 2) ? gd_ox_in(L, 2) : -1, -1};
    for (int k = 0; k < 2; k++) { /* Scale and B broadcast to the normalised shape */
        if (ids[k] < 0 || gr_shape_equal(gd_ox_shape(L, ids[k]), &want)) continue;
        gr_attrs e = {0};
        gd_ox_set_ints(&e, GR_ATTR_SHAPE, norm, n);
        ids[k] = gd_ox_un(L, "expand", ids[k], &e);
        if (ids[k] >= 0 && gd_ox_shape(L, ids[k])->rank != n) return gd_ox_fail(L, "Scale and B must broadcast");
    }
    gr_attrs at = {0};
    double eps = gd_ox_af(L, "epsilon", 1e-5);
    gr_attrs_set_number(&at, GR_ATTR_EPS, eps);
    gd_ox_set_ints(&at, GR_ATTR_NORMALIZED_SHAPE, norm, n);
    int all[4] = {x, ids[0], ids[1]};
    if (out0(L, gd_ox_op(L, "layer_norm", all, gd_ox_has(L, 2) ? 3 : 2, &at)) < 0) return -1;
    int64_t axes[GR_MAX_RANK];
    for (int i = 0; i < n; i++) axes[i] = axis + i;
    for (int k = 1; k <= 2 && k < L->nout; k++) { /* Mean, InvStdDev */
        if (!L->node->output[k][0]) continue;
        gr_attrs v = {0};
        gd_ox_set_ints(&v, GR_ATTR_AXES, axes, n);
        gr_attrs_set_int(&v, GR_ATTR_KEEPDIMS, 1);
        if (k == 2) gr_attrs_set_number(&v, GR_ATTR_CORRECTION, 0);
        int y = gd_ox_un(L, k == 1 ? "mean" : "var", x, &v);
        if (k == 2) y = gd_ox_un(L, "rsqrt", gd_ox_bin(L, "add", y, gd_ox_scalar(L, eps)), NULL);
        if (y < 0) return -1;
        gd_ox_out(L, k, y);
    }
    return 0;
}

/* group_norm with one group per channel. */
int gd_ox_lw_InstanceNormalization(ox_low *L) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    const gr_shape *xs = gd_ox_shape(L, x);
    if (xs->rank < 3) return gd_ox_fail(L, "the input must be [N, C, ...]");
    gr_attrs at = {0};
    gr_attrs_set_number(&at, GR_ATTR_EPS, gd_ox_af(L, "epsilon", 1e-5));
    gr_attrs_set_int(&at, GR_ATTR_NUM_GROUPS, xs->dims[1]);
    return out0(L, gd_ox_op(L, "group_norm", (int[]){x, gd_ox_in(L, 1), gd_ox_in(L, 2)}, 3, &at));
}

/* Softmax, LogSoftmax: over axis (opset >= 13, default -1), or over the
 * input coerced to 2-D at axis (before 13, default 1). */
static int softmax_like(ox_low *L, const char *op) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    const gr_shape *xs = gd_ox_shape(L, x);
    gr_attrs at = {0};
    if (L->m->opset >= 13) {
        gr_attrs_set_int(&at, GR_ATTR_AXIS, gd_ox_ai(L, "axis", -1));
        return out0(L, gd_ox_un(L, op, x, &at));
    }
    int64_t axis = gd_ox_ai(L, "axis", 1);
    if (axis < 0) axis += xs->rank;
    if (axis < 0 || axis > xs->rank) return gd_ox_fail(L, "axis is out of range");
    int64_t two[2] = {1, 1}, back[GR_MAX_RANK];
    int rank = xs->rank;
    for (int i = 0; i < rank; i++) two[i >= axis] *= back[i] = xs->dims[i];
    gr_attrs_set_int(&at, GR_ATTR_AXIS, -1);
    int y = gd_ox_un(L, op, gd_ox_reshape(L, x, two, 2), &at);
    return out0(L, gd_ox_reshape(L, y, back, rank));
}

/* Hardmax: 1 at the first maximum along axis, as one_hot(argmax) with
 * the class axis moved back from last. Before opset 13 over the input
 * coerced to 2-D at axis (default 1). */
int gd_ox_lw_Hardmax(ox_low *L) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    const gr_shape *xs = gd_ox_shape(L, x);
    int rank = xs->rank;
    int64_t back[GR_MAX_RANK], axis = gd_ox_ai(L, "axis", L->m->opset >= 13 ? -1 : 1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return gd_ox_fail(L, "axis is out of range");
    memcpy(back, xs->dims, (size_t)rank * sizeof *back);
    if (L->m->opset < 13) { /* [prod(dims before axis), prod(dims from axis)] */
        int64_t two[2] = {1, 1};
        for (int i = 0; i < rank; i++) two[i >= axis] *= xs->dims[i];
        x = gd_ox_reshape(L, x, two, 2);
    }
    int r = L->m->opset < 13 ? 2 : rank, ax = L->m->opset < 13 ? 1 : (int)axis;
    gr_attrs am = {0};
    gr_attrs_set_int(&am, GR_ATTR_AXIS, ax);
    int idx = gd_ox_un(L, "argmax", x, &am);
    if (idx < 0) return -1;
    gr_attrs oh = {0};
    gr_attrs_set_int(&oh, GR_ATTR_NUM_CLASSES, gd_ox_shape(L, x)->dims[ax]);
    int y = gd_ox_un(L, "one_hot", idx, &oh);
    if (y >= 0 && ax != r - 1) { /* classes from last back to ax */
        int64_t perm[GR_MAX_RANK];
        for (int i = 0, j = 0; i < r; i++) perm[i] = i == ax ? r - 1 : j++;
        gr_attrs at = {0};
        gd_ox_set_ints(&at, GR_ATTR_PERM, perm, r);
        y = gd_ox_un(L, "transpose", y, &at);
    }
    if (y >= 0 && L->m->opset < 13) y = gd_ox_reshape(L, y, back, rank);
    return out0(L, y);
}

/* EyeLike: ones on diagonal k of a matrix shaped as the input. */
int gd_ox_lw_EyeLike(ox_low *L) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    const gr_shape *s = gd_ox_shape(L, x);
    if (s->rank != 2) return gd_ox_fail(L, "the input must be 2-D");
    int64_t dt = gd_ox_ai(L, "dtype", -1);
    L->out_int[0] = dt >= 0 ? !gd_ox_is_float_type((int32_t)dt) : gd_ox_in_int(L, 0);
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_N, s->dims[0]);
    gr_attrs_set_int(&at, GR_ATTR_M, s->dims[1]);
    gr_attrs_set_int(&at, GR_ATTR_K, gd_ox_ai(L, "k", 0));
    return out0(L, gd_ox_op(L, "eye", NULL, 0, &at));
}

int gd_ox_lw_Softmax(ox_low *L) { return softmax_like(L, "softmax"); }
int gd_ox_lw_LogSoftmax(ox_low *L) { return softmax_like(L, "log_softmax"); }

/* ---- reductions ---------------------------------------------------------------- */

/* The node's reduction of x: axes from the attribute (before opset
 * since) or input 1; none means all, or nothing with
 * noop_with_empty_axes. *keep the keepdims (default 1). Returns the id,
 * or x itself for a no-op. */
static int reduce(ox_low *L, const char *op, int64_t since, int x, const gr_attrs *extra) {
    int64_t axes[GR_MAX_RANK];
    int n = gd_ox_axes(L, since, 1, axes);
    if (x < 0 || n < -1) return -1;
    if (n <= 0 && gd_ox_ai(L, "noop_with_empty_axes", 0)) return x;
    gr_attrs at = extra ? *extra : (gr_attrs){0};
    if (n > 0) gd_ox_set_ints(&at, GR_ATTR_AXES, axes, n);
    gr_attrs_set_int(&at, GR_ATTR_KEEPDIMS, gd_ox_ai(L, "keepdims", 1) != 0);
    return gd_ox_un(L, op, x, &at);
}

int gd_ox_lw_ReduceSum(ox_low *L) { return out0(L, reduce(L, "sum", 13, gd_ox_in(L, 0), NULL)); }
int gd_ox_lw_ReduceMean(ox_low *L) { return out0(L, reduce(L, "mean", 18, gd_ox_in(L, 0), NULL)); }
int gd_ox_lw_ReduceMax(ox_low *L) { return out0(L, reduce(L, "max", 18, gd_ox_in(L, 0), NULL)); }
int gd_ox_lw_ReduceMin(ox_low *L) { return out0(L, reduce(L, "min", 18, gd_ox_in(L, 0), NULL)); }
int gd_ox_lw_ReduceProd(ox_low *L) { return out0(L, reduce(L, "prod", 18, gd_ox_in(L, 0), NULL)); }
int gd_ox_lw_ReduceLogSumExp(ox_low *L) { return out0(L, reduce(L, "logsumexp", 18, gd_ox_in(L, 0), NULL)); }

static int norm_reduce(ox_low *L, double ord) {
    gr_attrs at = {0};
    gr_attrs_set_number(&at, GR_ATTR_ORD, ord);
    return out0(L, reduce(L, "norm", 18, gd_ox_in(L, 0), &at));
}
int gd_ox_lw_ReduceL1(ox_low *L) { return norm_reduce(L, 1); }
int gd_ox_lw_ReduceL2(ox_low *L) { return norm_reduce(L, 2); }

int gd_ox_lw_ReduceSumSquare(ox_low *L) {
    return out0(L, reduce(L, "sum", 18, gd_ox_un(L, "square", gd_ox_in(L, 0), NULL), NULL));
}

int gd_ox_lw_ReduceLogSum(ox_low *L) {
    int s = reduce(L, "sum", 18, gd_ox_in(L, 0), NULL);
    return out0(L, s < 0 ? -1 : gd_ox_un(L, "log", s, NULL));
}

/* ArgMax, ArgMin; the last of tied indices as (n - 1) - the first of the
 * tensor flipped along axis. */
static int arg(ox_low *L, const char *op) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    int64_t axis = gd_ox_ai(L, "axis", 0), rank = gd_ox_shape(L, x)->rank;
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return gd_ox_fail(L, "axis is out of range");
    int64_t n = gd_ox_shape(L, x)->dims[axis];
    int last = gd_ox_ai(L, "select_last_index", 0) != 0;
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_AXIS, axis);
    gr_attrs_set_int(&at, GR_ATTR_KEEPDIMS, gd_ox_ai(L, "keepdims", 1) != 0);
    L->out_int[0] = 1;
    if (last) {
        gr_attrs f = {0};
        gd_ox_set_ints(&f, GR_ATTR_AXES, &axis, 1);
        x = gd_ox_un(L, "flip", x, &f);
    }
    int y = gd_ox_un(L, op, x, &at);
    if (last) y = gd_ox_bin(L, "sub", gd_ox_scalar(L, (double)(n - 1)), y);
    return out0(L, y);
}

int gd_ox_lw_ArgMax(ox_low *L) { return arg(L, "argmax"); }
int gd_ox_lw_ArgMin(ox_low *L) { return arg(L, "argmin"); }

/* ---- losses ---------------------------------------------------------------- */

/* x [N, C, d...] with its classes moved last: [N, d..., C]. */
static int classes_last(ox_low *L, int x) {
    int rank = gd_ox_shape(L, x)->rank;
    if (rank <= 2) return x;
    int64_t perm[GR_MAX_RANK];
    perm[0] = 0;
    for (int i = 2; i < rank; i++) perm[i - 1] = i;
    perm[rank - 1] = 1;
    gr_attrs at = {0};
    gd_ox_set_ints(&at, GR_ATTR_PERM, perm, rank);
    return gd_ox_un(L, "transpose", x, &at);
}

/* With class weights w: each row's loss times w[label] (0 for an ignored
 * label); 'mean' divides by the sum of those weights (ONNX's rule). */
static int weighted(ox_low *L, int per_row, int t, const char *reduction) {
    int w = gd_ox_in(L, 2);
    if (w < 0) return -1;
    int64_t ignore = gd_ox_ai(L, "ignore_index", INT64_MIN);
    int kept = gd_ox_scalar(L, 1), safe = t;
    if (gd_ox_attr(L->node, "ignore_index")) { /* ignored labels may be out of range: take row 0's weight, times 0 */
        int is_ignored = gd_ox_bin(L, "equal", t, gd_ox_scalar(L, (double)ignore));
        kept = gd_ox_un(L, "logical_not", is_ignored, NULL);
        safe = gd_ox_op(L, "where", (int[]){is_ignored, gd_ox_scalar(L, 0), t}, 3, NULL);
    }
    gr_attrs ax = {0};
    gr_attrs_set_int(&ax, GR_ATTR_AXIS, 0);
    int wt = gd_ox_bin(L, "mul", gd_ox_op(L, "take", (int[]){w, safe}, 2, &ax), kept);
    int y = gd_ox_bin(L, "mul", per_row, wt);
    if (!strcmp(reduction, "none")) return y;
    int s = gd_ox_un(L, "sum", y, NULL);
    return strcmp(reduction, "mean") ? s : gd_ox_bin(L, "div", s, gd_ox_un(L, "sum", wt, NULL));
}

/* NegativeLogLikelihoodLoss (op "nll_loss") and SoftmaxCrossEntropyLoss
 * ("cross_entropy", and its log_prob output): classes on axis 1 as
 * ONNX's, reduction, ignore_index and class weights as given. */
static int class_loss(ox_low *L, const char *op) {
    int x = gd_ox_in(L, 0), t = gd_ox_in(L, 1);
    if (x < 0 || t < 0) return -1;
    char buf[16];
    const char *reduction = gd_ox_as(L, "reduction", "mean", buf, sizeof buf);
    int has_w = gd_ox_has(L, 2);
    gr_attrs at = {0};
    gd_ox_set_str(&at, GR_ATTR_REDUCTION, has_w ? "none" : reduction);
    if (gd_ox_attr(L->node, "ignore_index")) gr_attrs_set_int(&at, GR_ATTR_IGNORE_INDEX, gd_ox_ai(L, "ignore_index", 0));
    else gr_attrs_set_int(&at, GR_ATTR_IGNORE_INDEX, INT64_MIN); /* none: no label is ignored */
    int y = gd_ox_op(L, op, (int[]){classes_last(L, x), t}, 2, &at);
    if (has_w && y >= 0) y = weighted(L, y, t, reduction);
    if (y < 0 || out0(L, y) < 0) return -1;
    if (L->nout > 1 && L->node->output[1][0]) { /* log_prob */
        gr_attrs a = {0};
        gr_attrs_set_int(&a, GR_ATTR_AXIS, 1);
        int lp = gd_ox_un(L, "log_softmax", x, &a);
        if (lp < 0) return -1;
        gd_ox_out(L, 1, lp);
    }
    return 0;
}

int gd_ox_lw_NegativeLogLikelihoodLoss(ox_low *L) { return class_loss(L, "nll_loss"); }
int gd_ox_lw_SoftmaxCrossEntropyLoss(ox_low *L) { return class_loss(L, "cross_entropy"); }

/* ---- Pad -------------------------------------------------------------------- */

/* pads [begin_0.., end_0..] for the axes given (input 3, opset 18) or all
 * axes; only the padded axes go to the pad op (at most 4). */
int gd_ox_lw_Pad(ox_low *L) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    int rank = gd_ox_shape(L, x)->rank;
    int64_t pads[2 * GR_MAX_RANK], axes[GR_MAX_RANK];
    double value = 0;
    int np, na = -1;
    if (L->m->opset < 11) {
        np = gd_ox_aints(L, "pads", pads, 2 * GR_MAX_RANK);
        value = gd_ox_af(L, "value", 0);
    } else {
        np = gd_ox_ints_in(L, 1, pads, 2 * GR_MAX_RANK);
        if (gd_ox_has(L, 2)) {
            const ox_tensor *c = gd_ox_cin_value(L, 2);
            if (!c || c->n != 1) return gd_ox_fail(L, "constant_value must be a constant scalar");
            value = c->v[0];
        }
        if (gd_ox_has(L, 3) && (na = gd_ox_ints_in(L, 3, axes, GR_MAX_RANK)) < 0) return -1;
    }
    if (np < 0) return np == -1 ? gd_ox_fail(L, "pads are needed") : -1;
    if (na < 0) {
        na = rank;
        for (int i = 0; i < rank; i++) axes[i] = i;
    }
    if (np != 2 * na) return gd_ox_fail(L, "pads has %d entries for %d axes", np, na);
    int64_t use_axes[GR_MAX_RANK], use_pads[2 * GR_MAX_RANK];
    int nu = 0;
    for (int i = 0; i < na; i++) {
        if (pads[i] < 0 || pads[na + i] < 0) return gd_ox_fail(L, "negative pads are not supported");
        if (!pads[i] && !pads[na + i]) continue;
        use_axes[nu] = axes[i] < 0 ? axes[i] + rank : axes[i];
        use_pads[2 * nu] = pads[i];
        use_pads[2 * nu + 1] = pads[na + i];
        nu++;
    }
    if (nu == 0) return out0(L, x);
    char buf[16];
    const char *mode = gd_ox_as(L, "mode", "constant", buf, sizeof buf);
    gr_attrs at = {0};
    gd_ox_set_ints(&at, GR_ATTR_AXES, use_axes, nu);
    gd_ox_set_ints(&at, GR_ATTR_PADS, use_pads, 2 * nu);
    gd_ox_set_str(&at, GR_ATTR_MODE, mode);
    if (value != 0) gr_attrs_set_number(&at, GR_ATTR_VALUE, value);
    return out0(L, gd_ox_un(L, "pad", x, &at));
}
