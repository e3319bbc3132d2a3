/* movement.c -- ops that move data without arithmetic: reshape, expand
 * (explicit broadcasting, whose VJP is a sum), transpose, fill (a tensor of
 * one value, which autodiff uses for seeds and zeros), and the reshapes by
 * rule squeeze, expand_dims and flatten. */
#include "ops.h"

#include <string.h>

/* ---- reshape --------------------------------------------------------- */

static gr_status reshape_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0);
    gr_shape t = g->nodes[id].attrs->shape;
    int64_t known = 1, xn = g->nodes[g->nodes[id].in[0]].numel;
    int hole = -1;
    for (int i = 0; i < t.rank; i++) {
        if (t.dims[i] == -1) {
            if (hole >= 0) return gr_fail_op(g, err, GR_E_ARG, id, -1, "shape", "only one dimension may be -1");
            hole = i;
        } else if (t.dims[i] < 0) {
            return gr_fail_op(g, err, GR_E_ARG, id, -1, "shape", "dimension %d is %lld", i, (long long)t.dims[i]);
        } else if (!gr_mul_ok(known, t.dims[i], &known)) {
            return gr_fail_op(g, err, GR_E_OVERFLOW, id, -1, "shape", "the target shape overflows");
        }
    }
    if (hole >= 0) {
        if (known == 0)
            return gr_fail_op(g, err, GR_E_ARG, id, -1, "shape",
                              "-1 is ambiguous when the other dimensions hold 0 elements");
        t.dims[hole] = xn / known;
        known *= t.dims[hole];
    }
    if (known != xn) {
        char a[160], b[160];
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, "shape", "cannot reshape %s (%lld elements) to %s",
                       gr_shape_str(x, a, sizeof a), (long long)xn, gr_shape_str(&g->nodes[id].attrs->shape, b, sizeof b));
    }
    return gr_node_set_shape(g, id, &t, err);
}

static gr_status copy_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    if (k->out != k->in[0]) gr_copy_chunked(k, k->out, k->in[0], k->n->numel);
    return GR_OK;
}

static void reshape_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    grads[0] = gr_build_reshape(g, grad, IN_SHAPE(g, id, 0));
}

static int reshape_jvp(gr_graph *g, int id, const int *t) { return gr_build_reshape(g, t[0], &g->nodes[id].shape); }

const gr_op gr_op_reshape = {
    .name = "reshape", .arity = 1, .attrs = A(GR_ATTR_SHAPE), .required = A(GR_ATTR_SHAPE),
    .doc = "y = x with a new shape (one dimension may be -1); dx = g reshaped back",
    .infer = reshape_infer, .forward = copy_forward, .flags = GR_OPF_VIEW, .vjp = reshape_vjp, .jvp = reshape_jvp,
    .flops = NULL,
};

/* ---- expand ---------------------------------------------------------- */

static gr_status expand_infer(gr_graph *g, int id, gr_error *err) { return gr_infer_broadcast_attr(g, id, 1, err); }

static gr_status expand_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    gr_broadcast_copy(k->dt, &k->n->shape, k->out, &k->g->nodes[k->n->in[0]].shape, k->in[0], k->cancel);
    return GR_OK;
}

static void expand_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)g, (void)id, (void)need;
    grads[0] = grad; /* autodiff sums it down to the operand's shape */
}

static int expand_jvp(gr_graph *g, int id, const int *t) {
    (void)g, (void)id;
    return t[0]; /* autodiff expands it up to the output's shape */
}

const gr_op gr_op_expand = {
    .name = "expand", .arity = 1, .attrs = A(GR_ATTR_SHAPE), .required = A(GR_ATTR_SHAPE), .flags = GR_OPF_INTERNAL,
    .doc = "y = x broadcast to shape; dx = g summed over the broadcast axes",
    .infer = expand_infer, .forward = expand_forward, .vjp = expand_vjp, .jvp = expand_jvp,
};

/* ---- transpose ------------------------------------------------------- */

/* The permutation of node id (default: reversed axes), validated. */
static gr_status node_perm(const gr_graph *g, int id, int *perm, gr_error *err) {
    const gr_attrs *at = g->nodes[id].attrs;
    int r = g->nodes[g->nodes[id].in[0]].shape.rank;
    if (!(at->set & A(GR_ATTR_PERM))) {
        for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
        return GR_OK;
    }
    if (at->nperm != r)
        return gr_fail_op((gr_graph *)g, err, GR_E_ARG, id, -1, "perm", "perm has %d entries for an operand of rank %d",
                       at->nperm, r);
    unsigned seen = 0;
    for (int i = 0; i < r; i++) {
        int ax;
        if (!gr_axis_norm(at->perm[i], r, &ax) || (seen & (1u << ax)))
            return gr_fail_op((gr_graph *)g, err, GR_E_ARG, id, -1, "perm", "perm is not a permutation of 0..%d",
                              r - 1);
        seen |= 1u << ax;
        perm[i] = ax;
    }
    return GR_OK;
}

static gr_status transpose_infer(gr_graph *g, int id, gr_error *err) {
    int perm[GR_MAX_RANK];
    gr_status st = node_perm(g, id, perm, err);
    if (st != GR_OK) return st;
    const gr_shape *x = IN_SHAPE(g, id, 0);
    gr_shape s = *x;
    for (int i = 0; i < x->rank; i++) s.dims[i] = x->dims[perm[i]];
    return gr_node_set_shape(g, id, &s, err);
}

static gr_status transpose_forward(const gr_kernel *k, gr_error *err) {
    int perm[GR_MAX_RANK];
    const gr_shape *x = &k->g->nodes[k->n->in[0]].shape;
    int64_t xs[GR_MAX_RANK], st[2][GR_MAX_RANK];
    node_perm(k->g, (int)(k->n - k->g->nodes), perm, err);
    gr_shape_strides(x, xs);
    gr_shape_strides(&k->n->shape, st[0]);
    for (int i = 0; i < x->rank; i++) st[1][i] = xs[perm[i]];
    gr_loop L;
    gr_loop_strided(&L, &k->n->shape, 2, (const int64_t(*)[GR_MAX_RANK])st);
    L.cancel = k->cancel;
    void *base[2] = {k->out, (void *)(uintptr_t)k->in[0]};
    gr_loop_run_shared(&L, base, gr_dtype_size(k->dt), gr_copy_row(k->dt), NULL);
    return GR_OK;
}

static int transpose_by(gr_graph *g, int a, const int *perm, int r) {
    gr_attrs at = {0};
    at.set = A(GR_ATTR_PERM);
    at.nperm = r;
    memcpy(at.perm, perm, (size_t)r * sizeof *perm);
    return gr_build_apply(g, &gr_op_transpose, a, -1, -1, &at);
}

static void transpose_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    int perm[GR_MAX_RANK], inv[GR_MAX_RANK], r = IN_SHAPE(g, id, 0)->rank;
    node_perm(g, id, perm, NULL);
    for (int i = 0; i < r; i++) inv[perm[i]] = i;
    grads[0] = transpose_by(g, grad, inv, r);
}

static int transpose_jvp(gr_graph *g, int id, const int *t) {
    int perm[GR_MAX_RANK];
    node_perm(g, id, perm, NULL);
    return transpose_by(g, t[0], perm, IN_SHAPE(g, id, 0)->rank);
}

const gr_op gr_op_transpose = {
    .name = "transpose", .arity = 1, .attrs = A(GR_ATTR_PERM),
    .doc = "y = x with axes permuted by perm (default: reversed); dx = g permuted back",
    .infer = transpose_infer, .forward = transpose_forward, .vjp = transpose_vjp, .jvp = transpose_jvp,
};

/* ---- fill ------------------------------------------------------------ */

static gr_status fill_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *t = &g->nodes[id].attrs->shape;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0) return gr_fail_op(g, err, GR_E_ARG, id, -1, "shape", "dims must be >= 0");
    return gr_node_set_shape(g, id, t, err);
}

static gr_status fill_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    gr_fill_chunked(k, k->out, k->n->numel, k->n->attrs->value);
    return GR_OK;
}

const gr_op gr_op_fill = {
    .name = "fill", .arity = 0, .attrs = A(GR_ATTR_SHAPE) | A(GR_ATTR_VALUE),
    .required = A(GR_ATTR_SHAPE) | A(GR_ATTR_VALUE), .flags = GR_OPF_INTERNAL,
    .doc = "y = a tensor of shape filled with value; no operands, no gradient",
    .infer = fill_infer, .forward = fill_forward,
};

/* ---- squeeze, expand_dims, flatten: reshapes by rule ---------------- */

/* Their VJP reshapes g back to the operand's shape, their JVP reshapes the
 * tangent to the result's shape, and their kernel is a copy. */
static void view_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_shape x = *IN_SHAPE(g, id, 0);
    grads[0] = gr_build_reshape(g, grad, &x);
}

static int view_jvp(gr_graph *g, int id, const int *t) {
    gr_shape y = g->nodes[id].shape;
    return gr_build_reshape(g, t[0], &y);
}

static gr_status squeeze_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0);
    const gr_attrs *at = g->nodes[id].attrs;
    unsigned mask = 0;
    if (at->set & (A(GR_ATTR_AXES) | A(GR_ATTR_AXIS))) {
        char buf[32];
        gr_status st = gr_axes_mask(at, x->rank, &mask, err, gr_node_name(g, id, buf, sizeof buf));
        if (st != GR_OK) return st;
        for (int a = 0; a < x->rank; a++)
            if ((mask & (1u << a)) && x->dims[a] != 1)
                return gr_fail_op(g, err, GR_E_SHAPE, id, 0, (at->set & A(GR_ATTR_AXIS)) ? "axis" : "axes",
                                  "axis %d has size %lld, not 1 (NumPy refuses it; torch would leave it)", a,
                                  (long long)x->dims[a]);
    } else {
        for (int a = 0; a < x->rank; a++)
            if (x->dims[a] == 1) mask |= 1u << a;
    }
    gr_shape y = gr_shape_drop(x, mask);
    return gr_node_set_shape(g, id, &y, err);
}

const gr_op gr_op_squeeze = {
    .name = "squeeze", .arity = 1, .attrs = A(GR_ATTR_AXES) | A(GR_ATTR_AXIS),
    .doc = "y = x without the size-1 axes of axis or axes (absent: all of them), as np.squeeze: naming an axis "
           "whose size is not 1 is an error (torch.squeeze leaves it); dx = g reshaped to x's shape, dy = dx "
           "reshaped to y's",
    .infer = squeeze_infer, .forward = copy_forward, .flags = GR_OPF_VIEW, .vjp = view_vjp, .jvp = view_jvp,
};

static gr_status expand_dims_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0);
    const gr_attrs *at = g->nodes[id].attrs;
    int has_axis = (at->set & A(GR_ATTR_AXIS)) != 0, n = has_axis ? 1 : at->naxes, r = x->rank + n;
    const char *name = has_axis ? "axis" : "axes";
    if (has_axis && (at->set & A(GR_ATTR_AXES)))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "axis", "give either axis or axes, not both");
    if (!has_axis && !(at->set & A(GR_ATTR_AXES)))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "axis", "expand_dims needs axis (or axes)");
    if (r > g->lim.max_rank)
        return gr_fail_op(g, err, GR_E_LIMIT, id, -1, name, "the result would have rank %d, over %d", r,
                          g->lim.max_rank);
    unsigned mask = 0;
    for (int i = 0; i < n; i++) {
        int raw = has_axis ? at->axis : at->axes[i], ax;
        if (!gr_axis_norm(raw, r, &ax))
            return gr_fail_op(g, err, GR_E_ARG, id, 0, name, "axis %d is out of range for a result of rank %d", raw,
                              r);
        if (mask & (1u << ax)) return gr_fail_op(g, err, GR_E_ARG, id, 0, name, "axis %d is repeated", raw);
        mask |= 1u << ax;
    }
    gr_shape y = {0};
    y.rank = r;
    for (int a = 0, k = 0; a < r; a++) y.dims[a] = (mask & (1u << a)) ? 1 : x->dims[k++];
    return gr_node_set_shape(g, id, &y, err);
}

const gr_op gr_op_expand_dims = {
    .name = "expand_dims", .arity = 1, .attrs = A(GR_ATTR_AXIS) | A(GR_ATTR_AXES),
    .doc = "y = x with a new size-1 axis at axis (or at each of axes), counted in the result as np.expand_dims "
           "(torch.unsqueeze for one axis); dx = g reshaped to x's shape, dy = dx reshaped to y's",
    .infer = expand_dims_infer, .forward = copy_forward, .flags = GR_OPF_VIEW, .vjp = view_vjp, .jvp = view_jvp,
};

static gr_status flatten_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0);
    const gr_attrs *at = g->nodes[id].attrs;
    int r = x->rank ? x->rank : 1, s0 = (at->set & A(GR_ATTR_START_DIM)) ? at->start_dim : 0,
        e0 = (at->set & A(GR_ATTR_END_DIM)) ? at->end_dim : -1, s, e;
    if (!gr_axis_norm(s0, r, &s))
        return gr_fail_op(g, err, GR_E_ARG, id, 0, "start_dim", "start_dim %d is out of range for rank %d", s0,
                          x->rank);
    if (!gr_axis_norm(e0, r, &e))
        return gr_fail_op(g, err, GR_E_ARG, id, 0, "end_dim", "end_dim %d is out of range for rank %d", e0, x->rank);
    if (s > e)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "start_dim", "start_dim (axis %d) comes after end_dim (axis %d)",
                          s, e);
    gr_shape y = {0};
    if (x->rank == 0) { /* torch: a scalar flattens to one element */
        y.rank = 1;
        y.dims[0] = 1;
        return gr_node_set_shape(g, id, &y, err);
    }
    for (int a = 0; a < s; a++) y.dims[y.rank++] = x->dims[a];
    int64_t merged = 1;
    for (int a = s; a <= e; a++) merged *= x->dims[a]; /* <= numel(x): no overflow */
    y.dims[y.rank++] = merged;
    for (int a = e + 1; a < x->rank; a++) y.dims[y.rank++] = x->dims[a];
    return gr_node_set_shape(g, id, &y, err);
}

const gr_op gr_op_flatten = {
    .name = "flatten", .arity = 1, .attrs = A(GR_ATTR_START_DIM) | A(GR_ATTR_END_DIM),
    .doc = "y = x with axes start_dim..end_dim (defaults 0 and -1) merged into one, as torch.flatten (NumPy's "
           "flatten merges all); a scalar gives shape [1]; dx = g reshaped to x's shape, dy = dx reshaped to y's",
    .infer = flatten_infer, .forward = copy_forward, .flags = GR_OPF_VIEW, .vjp = view_vjp, .jvp = view_jvp,
};

const gr_op *const gr_ops_movement[] = {&gr_op_reshape,     &gr_op_expand,      &gr_op_transpose, &gr_op_fill,
                                        &gr_op_squeeze,     &gr_op_expand_dims, &gr_op_flatten,   NULL};
