/* onnx_more.c -- the ONNX op types of the indexing and selection family:
 * TopK, ScatterElements (and the deprecated Scatter), ScatterND,
 * GatherND, OneHot, ReverseSequence and Compress, each lowered to libgrad
 * ops (topk, take, take_along_axis, scatter_add, where, ...), so their
 * gradients are libgrad's. The value-shaped ops (NonZero, Unique) and the
 * window generators, LRN and MeanVarianceNormalization are in
 * onnx_more_fold.c.
 *
 * Scatters and ND gathers work on the flattened data: each element of
 * the indices (of ScatterND's and GatherND's index tuples, times the
 * trailing slice) becomes one offset into the data's elements. With
 * constant indices the offsets are computed here; with indices computed
 * at run time they are graph nodes (index arithmetic in the float type,
 * exact below 2^24 in float32). Negative indices count from the end
 * (ONNX's rule); out-of-range constant indices are a 422 naming the node,
 * run-time ones a run-time error (each index component goes through a
 * take of arange(n), whose kernel checks it). */
#include "onnx_more.h"

#include "onnx_nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int out0(ox_low *L, int id) {
    if (id < 0) return -1;
    gd_ox_out(L, 0, id);
    return 0;
}

/* Row-major strides of dims (rank r), in elements. */
static void strides_of(const int64_t *dims, int r, int64_t *st) {
    int64_t s = 1;
    for (int d = r - 1; d >= 0; d--) {
        st[d] = s;
        s *= dims[d];
    }
}

static int64_t count_of(const int64_t *dims, int r) {
    int64_t n = 1;
    for (int d = 0; d < r; d++) n *= dims[d];
    return n;
}

/* Host index v into an axis of size n: negative from the end; -1 when
 * outside [-n, n) or not whole. */
static int64_t norm_index(double v, int64_t n) {
    if (!(v >= -(double)n && v < (double)n) || v != floor(v)) return -1;
    int64_t j = (int64_t)v;
    return j < 0 ? j + n : j;
}

/* x flattened to [n]. */
static int flat(ox_low *L, int x) {
    if (x < 0) return -1;
    const gr_shape *s = gd_ox_shape(L, x);
    int64_t n = count_of(s->dims, s->rank);
    return gd_ox_reshape(L, x, &n, 1);
}

/* A constant node of the n offsets (a 1-D host tensor, or of rank r
 * with dims when dims is given). */
static int offsets_const(ox_low *L, const int64_t *off, int64_t n, int r, const int64_t *dims) {
    ox_tensor *t = dims ? gd_ox_tensor_new(r, dims) : gd_ox_tensor_new(1, &n);
    if (!t) return gd_ox_fail(L, "out of memory");
    for (int64_t i = 0; i < n; i++) t->v[i] = (double)off[i];
    int id = gd_ox_const(L, t);
    gd_ox_tensor_free(t), free(t);
    return id;
}

/* Run-time indices i into an axis of size n as [0, n): take(arange(n), i),
 * whose kernel refuses an index outside [-n, n) (a run-time error naming
 * the node) and counts negative ones from the end. */
static int checked_index(ox_low *L, int i, int64_t n) {
    ox_tensor *t = gd_ox_tensor_new(1, &n);
    if (!t) return gd_ox_fail(L, "out of memory");
    for (int64_t k = 0; k < n; k++) t->v[k] = (double)k;
    int ar = gd_ox_const(L, t);
    gd_ox_tensor_free(t), free(t);
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_AXIS, 0);
    return gd_ox_op(L, "take", (int[]){ar, i}, 2, &at);
}

/* i + n where i < 0: ONNX's negative indices as a graph (run-time indices). */
static int wrap_node(ox_low *L, int i, int64_t n) {
    int neg = gd_ox_bin(L, "less", i, gd_ox_scalar(L, 0));
    return gd_ox_bin(L, "add", i, gd_ox_bin(L, "mul", neg, gd_ox_scalar(L, (double)n)));
}

/* ---- TopK ----------------------------------------------------------------- */

/* TopK(X, K) -> Values, Indices: libgrad's topk and topk_indices (sorted,
 * ties to the lower index: ONNX's rule; sorted=0 leaves the order free). */
int gd_ox_lw_TopK(ox_low *L) {
    int64_t k;
    if (L->m->opset < 10) {
        k = gd_ox_ai(L, "k", -1);
        if (k < 0) return gd_ox_fail(L, "TopK needs k");
    } else if (gd_ox_ints_in(L, 1, &k, 1) != 1) {
        return L->err[0] ? -1 : gd_ox_fail(L, "K must hold one integer");
    }
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_K, k);
    gr_attrs_set_int(&at, GR_ATTR_AXIS, gd_ox_ai(L, "axis", -1));
    gr_attrs_set_int(&at, GR_ATTR_LARGEST, gd_ox_ai(L, "largest", 1) != 0);
    int v = gd_ox_un(L, "topk", x, &at);
    if (v < 0) return -1;
    gd_ox_out(L, 0, v);
    L->out_int[0] = gd_ox_in_int(L, 0);
    if (L->nout > 1 && L->node->output[1][0]) {
        int i = gd_ox_un(L, "topk_indices", x, &at);
        if (i < 0) return -1;
        gd_ox_out(L, 1, i);
        L->out_int[1] = 1;
    }
    return 0;
}

/* ---- scatters on flattened data ------------------------------------------ */

typedef enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN } reduction;

static int reduction_of(ox_low *L, reduction *red) {
    char buf[16];
    const char *s = gd_ox_as(L, "reduction", "none", buf, sizeof buf);
    static const char *const names[] = {"none", "add", "mul", "max", "min"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i])) {
            *red = (reduction)i;
            return 0;
        }
    return gd_ox_fail(L, "reduction \"%s\" is not one of none, add, mul, max, min", s);
}

/* out where mask, else base, combined by the reduction: none takes
 * placed, mul, max, min combine it with base. */
static int combine(ox_low *L, reduction red, int mask, int base, int placed) {
    int v = red == RED_NONE  ? placed
            : red == RED_MUL ? gd_ox_bin(L, "mul", base, placed)
            : red == RED_MAX ? gd_ox_bin(L, "maximum", base, placed)
                             : gd_ox_bin(L, "minimum", base, placed);
    return gd_ox_op(L, "where", (int[]){mask, v, base}, 3, NULL);
}

/* data (flat, [n]) with the m flat updates u scattered to the constant
 * offsets off (each in [0, n)) by the reduction, in the indices' order:
 * repeated offsets are applied one after another (ONNX's reference loop),
 * a round of distinct offsets at a time (none keeps each offset's last
 * update: one round). The rounds' constants are bounded: so many repeats
 * that they would hold more than the element limit is a 422. */
static int scatter_const(ox_low *L, int data, int u, const int64_t *off, int64_t m, int64_t n, reduction red) {
    int idx = offsets_const(L, off, m, 1, NULL);
    if (idx < 0 || data < 0 || u < 0) return -1;
    gr_attrs ax = {0};
    gr_attrs_set_int(&ax, GR_ATTR_AXIS, 0);
    if (red == RED_ADD) return gd_ox_op(L, "scatter_add", (int[]){data, idx, u}, 3, &ax);
    int *seen = calloc((size_t)(n ? n : 1), sizeof *seen), *round = malloc((size_t)(m ? m : 1) * sizeof *round);
    ox_tensor *sel = gd_ox_tensor_new(1, &m), *hit = gd_ox_tensor_new(1, &n);
    int rounds = 0, y = data;
    if (!seen || !round || !sel || !hit) {
        y = gd_ox_fail(L, "out of memory");
        goto out;
    }
    for (int64_t i = 0; i < m; i++) {
        round[i] = seen[off[i]]++;
        if (round[i] + 1 > rounds) rounds = round[i] + 1;
    }
    if (red == RED_NONE && rounds > 1) { /* only the last update of each offset stays: round 0 */
        for (int64_t i = 0; i < m; i++) round[i] = round[i] == seen[off[i]] - 1 ? 0 : -1;
        rounds = 2; /* not 1: the updates of other rounds must be masked out */
    }
    if (red != RED_NONE && (double)rounds * (double)(n + m) > (double)L->r->lim.max_elements) {
        y = gd_ox_fail(L, "indices repeat an element %d times: too many rounds of %s", rounds,
                       red == RED_MUL ? "mul" : red == RED_MAX ? "max" : "min");
        goto out;
    }
    int zeros = gd_ox_un(L, "zeros_like", data, NULL);
    for (int r = 0; r < (red == RED_NONE ? 1 : rounds) && y >= 0; r++) {
        memset(hit->v, 0, (size_t)n * sizeof *hit->v);
        for (int64_t i = 0; i < m; i++) {
            sel->v[i] = round[i] == r;
            if (round[i] == r) hit->v[off[i]] = 1;
        }
        int ur = rounds == 1 ? u : gd_ox_bin(L, "mul", u, gd_ox_const(L, sel));
        int placed = gd_ox_op(L, "scatter_add", (int[]){zeros, idx, ur}, 3, &ax);
        y = combine(L, red, gd_ox_const(L, hit), y, placed);
    }
out:
    free(seen), free(round);
    if (sel) gd_ox_tensor_free(sel), free(sel);
    if (hit) gd_ox_tensor_free(hit), free(hit);
    return y;
}

/* The same with offsets computed at run time (node idx, [m]): add is
 * exact; none, mul, max and min hold for distinct offsets (repeated ones
 * accumulate their updates first, as add). */
static int scatter_node(ox_low *L, int data, int u, int idx, reduction red) {
    gr_attrs ax = {0};
    gr_attrs_set_int(&ax, GR_ATTR_AXIS, 0);
    if (red == RED_ADD) return gd_ox_op(L, "scatter_add", (int[]){data, idx, u}, 3, &ax);
    int zeros = gd_ox_un(L, "zeros_like", data, NULL);
    int count = gd_ox_op(L, "scatter_add", (int[]){zeros, idx, gd_ox_un(L, "ones_like", u, NULL)}, 3, &ax);
    int placed = gd_ox_op(L, "scatter_add", (int[]){zeros, idx, u}, 3, &ax);
    return combine(L, red, gd_ox_bin(L, "greater", count, gd_ox_scalar(L, 0)), data, placed);
}

/* Scatter the flattened updates of node into data's flat elements at the
 * offsets (constant off, or node idx when off is NULL), and reshape back. */
static int scatter_flat(ox_low *L, int data, int upd, const int64_t *off, int idx, int64_t m, reduction red) {
    const gr_shape *ds = gd_ox_shape(L, data);
    gr_shape back = *ds;
    int64_t n = count_of(ds->dims, ds->rank);
    if (count_of(gd_ox_shape(L, upd)->dims, gd_ox_shape(L, upd)->rank) != m)
        return gd_ox_fail(L, "updates have %lld elements where the indices address %lld",
                          (long long)count_of(gd_ox_shape(L, upd)->dims, gd_ox_shape(L, upd)->rank), (long long)m);
    int fd = flat(L, data), fu = flat(L, upd);
    int y = off ? scatter_const(L, fd, fu, off, m, n, red) : scatter_node(L, fd, fu, idx, red);
    return y < 0 ? -1 : gd_ox_reshape(L, y, back.dims, back.rank);
}

/* ScatterElements(data, indices, updates; axis, reduction) and Scatter:
 * data[indices[p] along axis, p elsewhere] = updates[p] (reduced). */
int gd_ox_lw_ScatterElements(ox_low *L) {
    reduction red = RED_NONE;
    if (gd_ox_attr(L->node, "reduction") && reduction_of(L, &red) < 0) return -1;
    int data = gd_ox_in(L, 0), upd = gd_ox_in(L, 2);
    if (data < 0 || upd < 0) return -1;
    gr_shape ds = *gd_ox_shape(L, data), us = *gd_ox_shape(L, upd);
    int64_t axis = gd_ox_ai(L, "axis", 0);
    if (axis < 0) axis += ds.rank;
    if (axis < 0 || axis >= ds.rank) return gd_ox_fail(L, "axis is out of range");
    if (us.rank != ds.rank) return gd_ox_fail(L, "updates need the rank of data");
    for (int d = 0; d < ds.rank; d++)
        if (d != axis && us.dims[d] > ds.dims[d]) return gd_ox_fail(L, "indices are larger than data at dim %d", d);
    int64_t dst[GR_MAX_RANK], m = count_of(us.dims, us.rank), cnt[GR_MAX_RANK] = {0};
    strides_of(ds.dims, ds.rank, dst);
    const ox_tensor *ic = gd_ox_cin(L, 1);
    if (ic && ic->n != m) return gd_ox_fail(L, "indices and updates differ in shape");
    /* base[p]: p's offset in data without its axis coordinate */
    int64_t *base = malloc((size_t)(m ? m : 1) * sizeof *base);
    if (!base) return gd_ox_fail(L, "out of memory");
    for (int64_t p = 0; p < m; p++) {
        base[p] = 0;
        for (int d = 0; d < ds.rank; d++)
            if (d != axis) base[p] += cnt[d] * dst[d];
        for (int d = ds.rank - 1; d >= 0; d--) {
            if (++cnt[d] < us.dims[d]) break;
            cnt[d] = 0;
        }
    }
    int y;
    if (ic) {
        for (int64_t p = 0; p < m; p++) {
            int64_t j = norm_index(ic->v[p], ds.dims[axis]);
            if (j < 0) {
                free(base);
                return gd_ox_fail(L, "index %g (element %lld) is outside [-%lld, %lld)", ic->v[p], (long long)p,
                                  (long long)ds.dims[axis], (long long)ds.dims[axis]);
            }
            base[p] += j * dst[axis];
        }
        y = scatter_flat(L, data, upd, base, -1, m, red);
    } else {
        if (red != RED_NONE && red != RED_ADD) {
            free(base);
            return gd_ox_fail(L, "reduction %s needs constant indices", red == RED_MUL ? "mul" : "max or min");
        }
        int i = flat(L, checked_index(L, gd_ox_in(L, 1), ds.dims[axis]));
        int off = gd_ox_bin(L, "add", gd_ox_bin(L, "mul", i, gd_ox_scalar(L, (double)dst[axis])),
                            offsets_const(L, base, m, 1, NULL));
        y = off < 0 ? -1 : scatter_flat(L, data, upd, NULL, off, m, red);
    }
    free(base);
    return out0(L, y);
}

int gd_ox_lw_Scatter(ox_low *L) { return gd_ox_lw_ScatterElements(L); }

/* MaxUnpool(X, I, output_shape?): X's values placed at I's offsets,
 * flattened over the whole unpooled tensor [N, C, spatial...] (MaxPool's
 * Indices), zeros elsewhere. Its spatial size is (in - 1) * stride +
 * kernel - pads per dim; output_shape (a constant, or a graph input whose
 * request value is read) may make it larger, by zeros at the end of each
 * dim, as ONNX's reference and test do (the offsets stay the unpooled
 * tensor's). Offsets are distinct in
 * MaxPool's indices; a repeated one keeps its last value, as ONNX's
 * reference loop (constant indices) or sums them (run-time indices).
 * Differentiable in X: the gradient gathers at the offsets. */
int gd_ox_lw_MaxUnpool(ox_low *L) {
    int x = gd_ox_in(L, 0), ind = gd_ox_in(L, 1);
    if (x < 0 || ind < 0) return -1;
    const gr_shape *xs = gd_ox_shape(L, x);
    int nsp = xs->rank - 2;
    if (nsp < 1 || nsp > GR_MAX_RANK - 2) return gd_ox_fail(L, "X must have rank 3 or more");
    if (!gr_shape_equal(gd_ox_shape(L, ind), xs)) return gd_ox_fail(L, "I must have X's shape");
    int64_t k[GR_MAX_RANK], st[GR_MAX_RANK], pads[2 * GR_MAX_RANK], out[GR_MAX_RANK];
    if (gd_ox_aints(L, "kernel_shape", k, GR_MAX_RANK) != nsp)
        return gd_ox_fail(L, "kernel_shape must have %d entries", nsp);
    int ns = gd_ox_aints(L, "strides", st, GR_MAX_RANK), np = gd_ox_aints(L, "pads", pads, 2 * GR_MAX_RANK);
    if (ns < -1 || np < -1 || (ns >= 0 && ns != nsp) || (np >= 0 && np != 2 * nsp))
        return ns < -1 || np < -1 ? -1 : gd_ox_fail(L, "strides and pads must have %d and %d entries", nsp, 2 * nsp);
    out[0] = xs->dims[0], out[1] = xs->dims[1];
    for (int i = 0; i < nsp; i++) /* bounded: the sizes below cannot overflow */
        if (k[i] < 1 || k[i] > INT32_MAX || (ns > 0 && (st[i] < 1 || st[i] > INT32_MAX)) ||
            (np > 0 && (pads[i] < 0 || pads[i] > INT32_MAX || pads[nsp + i] < 0 || pads[nsp + i] > INT32_MAX)))
            return gd_ox_fail(L, "kernel_shape, strides and pads must be in [1, 2^31) (pads from 0)");
    for (int i = 0; i < nsp; i++)
        out[2 + i] = (xs->dims[2 + i] - 1) * (ns > 0 ? st[i] : 1) + k[i] - (np > 0 ? pads[i] + pads[nsp + i] : 0);
    int64_t grow[2 * GR_MAX_RANK] = {0}, axes[GR_MAX_RANK]; /* output_shape's zeros after each spatial dim */
    if (gd_ox_has(L, 2)) {
        const ox_tensor *os = gd_ox_cin_value(L, 2);
        if (!os) return gd_ox_fail(L, "output_shape must be known when the graph is built");
        if (os->n != xs->rank) return gd_ox_fail(L, "output_shape must have %d entries", xs->rank);
        for (int i = 0; i < xs->rank; i++)
            if (!(os->v[i] >= (double)out[i] && os->v[i] <= (double)L->r->lim.max_elements) || (i < 2 && os->v[i] != out[i]))
                return gd_ox_fail(L, "output_shape[%d] is %g: it keeps X's batch and channels and is at least %lld", i,
                                  os->v[i], (long long)out[i]);
        for (int i = 0; i < nsp; i++) axes[i] = 2 + i, grow[2 * i + 1] = (int64_t)os->v[2 + i] - out[2 + i];
    }
    int64_t n = 1, m = count_of(xs->dims, xs->rank);
    for (int i = 0; i < xs->rank; i++) {
        if (out[i] < 1 || out[i] > L->r->lim.max_elements) return gd_ox_fail(L, "the output's dim %d would be %lld", i, (long long)out[i]);
        n *= out[i];
        if (n > L->r->lim.max_elements) return gd_ox_fail(L, "the output would have more than %lld elements", (long long)L->r->lim.max_elements);
    }
    gr_attrs at = {0};
    gd_ox_set_ints(&at, GR_ATTR_SHAPE, out, xs->rank);
    int data = gd_ox_op(L, "zeros", NULL, 0, &at);
    const ox_tensor *ic = gd_ox_cin(L, 1);
    int64_t *off = NULL;
    if (ic) {
        if (!(off = malloc((size_t)(m ? m : 1) * sizeof *off))) return gd_ox_fail(L, "out of memory");
        for (int64_t i = 0; i < m; i++) {
            if (ic->v[i] < 0 || ic->v[i] >= (double)n) {
                free(off);
                return gd_ox_fail(L, "index %lld (%g) is outside the output's %lld elements", (long long)i, ic->v[i],
                                  (long long)n);
            }
            off[i] = (int64_t)ic->v[i];
        }
    }
    int y = scatter_flat(L, data, x, off, off ? -1 : checked_index(L, flat(L, ind), n), m, RED_NONE);
    free(off);
    if (gd_ox_has(L, 2) && y >= 0) {
        gr_attrs pa = {0};
        gd_ox_set_ints(&pa, GR_ATTR_AXES, axes, nsp);
        gd_ox_set_ints(&pa, GR_ATTR_PADS, grow, 2 * nsp);
        y = gd_ox_un(L, "pad", y, &pa);
    }
    return out0(L, y);
}

/* ---- ND indexing ----------------------------------------------------------- */

/* The element offsets of GatherND / ScatterND: indices [I..., k] address
 * data [B..., D_1..D_k, R...] (b batch dims shared with the indices'
 * leading ones); each index tuple picks a slice of R elements. Sets
 * *mt (tuples, prod I incl. batch), *rt (prod R); returns the offsets
 * ([mt * rt], host, malloc'd) for constant indices, or NULL with *node
 * set to the offsets' node ([I..., R...] flattened) otherwise; NULL with
 * *node -1 on failure. */
static int64_t *nd_offsets(ox_low *L, const gr_shape *ds, int ix, int b, int64_t *mt, int64_t *rt, int *node) {
    *node = -1;
    const gr_shape isv = *gd_ox_shape(L, ix), *is = &isv; /* a copy: building nodes may move the graph's shapes */
    if (is->rank < 1) return gd_ox_fail(L, "indices need rank >= 1"), NULL;
    int k = (int)is->dims[is->rank - 1];
    if (b < 0 || b >= is->rank || b + k > ds->rank)
        return gd_ox_fail(L, "indices of %d components with %d batch dims do not fit data of rank %d", k, b, ds->rank),
               NULL;
    for (int d = 0; d < b; d++)
        if (is->dims[d] != ds->dims[d]) return gd_ox_fail(L, "batch dim %d differs between data and indices", d), NULL;
    int64_t dst[GR_MAX_RANK], per_batch = 1, inner = 1;
    strides_of(ds->dims, ds->rank, dst);
    for (int d = b; d < ds->rank; d++) per_batch *= ds->dims[d];
    int64_t m = count_of(is->dims, is->rank - 1), r = count_of(ds->dims + b + k, ds->rank - b - k);
    for (int d = b; d < is->rank - 1; d++) inner *= is->dims[d];
    *mt = m, *rt = r;
    if (r && m > L->r->lim.max_elements / r)
        return gd_ox_fail(L, "the indices address %lld slices of %lld elements: over the element limit", (long long)m,
                          (long long)r),
               NULL;
    const ox_tensor *ic = gd_ox_cin(L, 1);
    if (ic) {
        int64_t *off = malloc((size_t)(m * r > 0 ? m * r : 1) * sizeof *off);
        if (!off) return gd_ox_fail(L, "out of memory"), NULL;
        for (int64_t t = 0; t < m; t++) {
            int64_t o = (inner ? t / inner : 0) * per_batch;
            for (int j = 0; j < k; j++) {
                double v = ic->v[t * k + j];
                int64_t q = norm_index(v, ds->dims[b + j]);
                if (q < 0) {
                    free(off);
                    return gd_ox_fail(L, "index %g (tuple %lld) is outside [-%lld, %lld)", v, (long long)t,
                                      (long long)ds->dims[b + j], (long long)ds->dims[b + j]),
                           NULL;
                }
                o += q * dst[b + j];
            }
            for (int64_t e = 0; e < r; e++) off[t * r + e] = o + e;
        }
        return off;
    }
    /* run time: sum_j wrap(indices[..., j]) * stride + batch offset, then + [0, r) */
    int64_t tdims[GR_MAX_RANK + 1];
    memcpy(tdims, is->dims, (size_t)(is->rank - 1) * sizeof *tdims);
    int o = -1;
    for (int j = 0; j < k; j++) {
        int c = gd_ox_reshape(L, gd_ox_slice1(L, ix, is->rank - 1, j, j + 1), tdims, is->rank - 1);
        int term = gd_ox_bin(L, "mul", checked_index(L, c, ds->dims[b + j]), gd_ox_scalar(L, (double)dst[b + j]));
        o = j ? gd_ox_bin(L, "add", o, term) : term;
    }
    if (k == 0) o = gd_ox_scalar(L, 0);
    int64_t *bo = malloc((size_t)(m ? m : 1) * sizeof *bo), col[2] = {m, 1}, row[2] = {1, r};
    int64_t *ar = malloc((size_t)(r ? r : 1) * sizeof *ar);
    if (!bo || !ar) {
        free(bo), free(ar);
        return gd_ox_fail(L, "out of memory"), NULL;
    }
    for (int64_t t = 0; t < m; t++) bo[t] = (inner ? t / inner : 0) * per_batch;
    for (int64_t e = 0; e < r; e++) ar[e] = e;
    int full = gd_ox_reshape(L, gd_ox_bin(L, "add", o, offsets_const(L, bo, m, (int)(is->rank - 1), tdims)), col, 2);
    full = gd_ox_bin(L, "add", full, offsets_const(L, ar, r, 2, row));
    free(bo), free(ar);
    *node = flat(L, full);
    return NULL;
}

/* GatherND(data, indices; batch_dims): y[I..., R...] = data[B, indices[I], R]. */
int gd_ox_lw_GatherND(ox_low *L) {
    int data = gd_ox_in(L, 0), ix = gd_ox_in(L, 1);
    if (data < 0 || ix < 0) return -1;
    gr_shape ds = *gd_ox_shape(L, data), is = *gd_ox_shape(L, ix);
    int b = (int)gd_ox_ai(L, "batch_dims", 0), node;
    int64_t m, r;
    int64_t *off = nd_offsets(L, &ds, ix, b, &m, &r, &node);
    if (!off && node < 0) return -1;
    int idx = off ? offsets_const(L, off, m * r, 1, NULL) : node;
    free(off);
    int64_t ydims[2 * GR_MAX_RANK];
    int yr = 0, k = (int)is.dims[is.rank - 1];
    for (int d = 0; d < is.rank - 1; d++) ydims[yr++] = is.dims[d];
    for (int d = b + k; d < ds.rank; d++) ydims[yr++] = ds.dims[d];
    if (yr > GR_MAX_RANK) return gd_ox_fail(L, "the result would have rank %d", yr);
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_AXIS, 0);
    int y = gd_ox_op(L, "take", (int[]){flat(L, data), idx}, 2, &at);
    return out0(L, y < 0 ? -1 : gd_ox_reshape(L, y, ydims, yr));
}

/* ScatterND(data, indices, updates; reduction). */
int gd_ox_lw_ScatterND(ox_low *L) {
    reduction red = RED_NONE;
    if (gd_ox_attr(L->node, "reduction") && reduction_of(L, &red) < 0) return -1;
    int data = gd_ox_in(L, 0), ix = gd_ox_in(L, 1), upd = gd_ox_in(L, 2);
    if (data < 0 || ix < 0 || upd < 0) return -1;
    gr_shape ds = *gd_ox_shape(L, data);
    int node;
    int64_t m, r;
    if (!gd_ox_cin(L, 1) && red != RED_NONE && red != RED_ADD)
        return gd_ox_fail(L, "reduction %s needs constant indices", red == RED_MUL ? "mul" : "max or min");
    int64_t *off = nd_offsets(L, &ds, ix, 0, &m, &r, &node);
    if (!off && node < 0) return -1;
    int y = scatter_flat(L, data, upd, off, node, m * r, red);
    free(off);
    return out0(L, y);
}

/* ---- OneHot, ReverseSequence, Compress ------------------------------------ */

/* OneHot(indices, depth, values [off, on]; axis): on where the class
 * along axis equals the index (negative indices count from depth; others
 * out of range are all off), else off. Differentiable in values. */
int gd_ox_lw_OneHot(ox_low *L) {
    const ox_tensor *dc = gd_ox_cin_value(L, 1);
    if (!dc || dc->n != 1) return gd_ox_fail(L, "depth must be a constant scalar");
    double depth = floor(dc->v[0]);
    if (!(depth >= 1 && depth <= (double)L->r->lim.max_elements))
        return gd_ox_fail(L, "depth %g is outside [1, %lld]", depth, (long long)L->r->lim.max_elements);
    int idx = gd_ox_in(L, 0), vals = gd_ox_in(L, 2);
    if (idx < 0 || vals < 0) return -1;
    if (count_of(gd_ox_shape(L, vals)->dims, gd_ox_shape(L, vals)->rank) != 2)
        return gd_ox_fail(L, "values must hold [off, on]");
    int rank = gd_ox_shape(L, idx)->rank;
    int64_t axis = gd_ox_ai(L, "axis", -1);
    if (axis < 0) axis += rank + 1;
    if (axis < 0 || axis > rank) return gd_ox_fail(L, "axis is out of range");
    if (!gd_ox_in_int(L, 0)) idx = gd_ox_un(L, "trunc", idx, NULL);
    idx = wrap_node(L, idx, (int64_t)depth);
    gr_attrs ed = {0};
    int64_t ax = axis;
    gd_ox_set_ints(&ed, GR_ATTR_AXES, &ax, 1);
    idx = gd_ox_un(L, "expand_dims", idx, &ed);
    int64_t cdims[GR_MAX_RANK + 1];
    int cr = 0;
    cdims[cr++] = (int64_t)depth;
    for (int d = (int)axis; d < rank; d++) cdims[cr++] = 1;
    ox_tensor *cls = gd_ox_tensor_new(cr, cdims);
    if (!cls) return gd_ox_fail(L, "out of memory");
    for (int64_t c = 0; c < cls->n; c++) cls->v[c] = (double)c;
    int classes = gd_ox_const(L, cls);
    gd_ox_tensor_free(cls), free(cls);
    int hot = gd_ox_bin(L, "equal", idx, classes);
    int fv = flat(L, vals);
    int64_t scalar[1] = {0};
    int off = gd_ox_reshape(L, gd_ox_slice1(L, fv, 0, 0, 1), scalar, 0);
    int on = gd_ox_reshape(L, gd_ox_slice1(L, fv, 0, 1, 2), scalar, 0);
    L->out_int[0] = gd_ox_in_int(L, 2);
    return out0(L, gd_ox_op(L, "where", (int[]){hot, on, off}, 3, NULL));
}

/* ReverseSequence(input, sequence_lens; batch_axis, time_axis): the first
 * sequence_lens[b] steps of batch b reversed along time_axis, the rest as
 * they are. A take_along_axis with constant indices. */
int gd_ox_lw_ReverseSequence(ox_low *L) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    const ox_tensor *lens = gd_ox_cin_value(L, 1);
    if (!lens) return gd_ox_fail(L, "sequence_lens must be a constant");
    gr_shape xs = *gd_ox_shape(L, x);
    int64_t ba = gd_ox_ai(L, "batch_axis", 1), ta = gd_ox_ai(L, "time_axis", 0);
    if (ba < 0) ba += xs.rank;
    if (ta < 0) ta += xs.rank;
    if (ba < 0 || ta < 0 || ba >= xs.rank || ta >= xs.rank || ba == ta || xs.rank < 2)
        return gd_ox_fail(L, "batch_axis and time_axis must be two axes of the input");
    int64_t B = xs.dims[ba], T = xs.dims[ta], dims[GR_MAX_RANK];
    if (lens->n != B) return gd_ox_fail(L, "sequence_lens has %lld entries for a batch of %lld", (long long)lens->n,
                                        (long long)B);
    for (int d = 0; d < xs.rank; d++) dims[d] = d == ba ? B : d == ta ? T : 1;
    ox_tensor *t = gd_ox_tensor_new(xs.rank, dims);
    if (!t) return gd_ox_fail(L, "out of memory");
    for (int64_t b = 0; b < B; b++) {
        int64_t n = (int64_t)lens->v[b];
        if (n < 0 || n > T) {
            gd_ox_tensor_free(t), free(t);
            return gd_ox_fail(L, "sequence length %lld is outside [0, %lld]", (long long)n, (long long)T);
        }
        for (int64_t s = 0; s < T; s++) t->v[ba < ta ? b * T + s : s * B + b] = (double)(s < n ? n - 1 - s : s);
    }
    int idx = gd_ox_const(L, t);
    gd_ox_tensor_free(t), free(t);
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_AXIS, ta);
    return out0(L, gd_ox_op(L, "take_along_axis", (int[]){x, idx}, 2, &at));
}

/* Compress(input, condition; axis): the slices along axis (of the
 * flattened input without axis) where condition is true; a condition
 * shorter than the axis drops the rest. The condition must be constant
 * (the output's shape depends on it); the input may be computed. */
int gd_ox_lw_Compress(ox_low *L) {
    const ox_tensor *c = gd_ox_cin_value(L, 1);
    if (!c) return gd_ox_fail(L, "condition must be a constant: the output's shape depends on it");
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    const Onnx__AttributeProto *a = gd_ox_attr(L->node, "axis");
    int64_t axis = a ? gd_ox_ai(L, "axis", 0) : 0;
    if (!a) x = flat(L, x);
    const gr_shape *xs = gd_ox_shape(L, x);
    if (axis < 0) axis += xs->rank;
    if (axis < 0 || axis >= xs->rank) return gd_ox_fail(L, "axis is out of range");
    if (c->n > xs->dims[axis]) return gd_ox_fail(L, "condition is longer than the axis");
    int64_t n = 0;
    for (int64_t i = 0; i < c->n; i++) n += c->v[i] != 0;
    ox_tensor *t = gd_ox_tensor_new(1, &n);
    if (!t) return gd_ox_fail(L, "out of memory");
    for (int64_t i = 0, j = 0; i < c->n; i++)
        if (c->v[i] != 0) t->v[j++] = (double)i;
    int idx = gd_ox_const(L, t);
    gd_ox_tensor_free(t), free(t);
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_AXIS, axis);
    L->out_int[0] = gd_ox_in_int(L, 0);
    return out0(L, gd_ox_op(L, "take", (int[]){x, idx}, 2, &at));
}

/* Det(X [..., n, n]): libgrad's det (LU in float64; its gradient is 0 at a
 * singular matrix, as torch's). */
int gd_ox_lw_Det(ox_low *L) { return out0(L, gd_ox_un(L, "det", gd_ox_in(L, 0), NULL)); }

/* ---- the table -------------------------------------------------------------- */

#define H(T) {#T, gd_ox_lw_##T}
static const ox_handler handlers[] = {
    H(TopK), H(ScatterElements), H(Scatter), H(ScatterND), H(GatherND), H(OneHot), H(ReverseSequence), H(Compress),
    H(NonZero), H(Unique), H(LRN), H(MeanVarianceNormalization), H(HannWindow), H(HammingWindow), H(BlackmanWindow),
    H(Det), H(MaxUnpool), H(RNN), H(GRU), H(LSTM), H(QuantizeLinear), H(DequantizeLinear), H(DynamicQuantizeLinear), H(DFT), H(MatMulInteger),
    H(ConvInteger), H(QLinearMatMul), H(QLinearConv), H(STFT), H(MelWeightMatrix),
    H(GridSample),
    {NULL, NULL}};

const ox_handler *gd_ox_more_handler(const char *type) {
    for (const ox_handler *h = handlers; type && h->type; h++)
        if (!strcmp(h->type, type)) return h;
    return NULL;
}
