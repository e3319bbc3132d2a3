/* movement.c -- ops that move data without arithmetic: reshape, expand
 * (explicit broadcasting, whose VJP is a sum), transpose, and fill (a
 * tensor of one value, which autodiff uses for seeds and zeros). */
#include "ops.h"

#include <string.h>

/* ---- reshape --------------------------------------------------------- */

static gr_status reshape_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0);
    gr_shape t = g->nodes[id].attrs.shape;
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
                       gr_shape_str(x, a, sizeof a), (long long)xn, gr_shape_str(&g->nodes[id].attrs.shape, b, sizeof b));
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
    .infer = reshape_infer, .forward = copy_forward, .vjp = reshape_vjp, .jvp = reshape_jvp,
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
    const gr_attrs *at = &g->nodes[id].attrs;
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
    gr_loop_run(&L, base, gr_dtype_size(k->dt), gr_copy_row(k->dt), NULL);
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
    const gr_shape *t = &g->nodes[id].attrs.shape;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0) return gr_fail_op(g, err, GR_E_ARG, id, -1, "shape", "dims must be >= 0");
    return gr_node_set_shape(g, id, t, err);
}

static gr_status fill_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    gr_fill_chunked(k, k->out, k->n->numel, k->n->attrs.value);
    return GR_OK;
}

const gr_op gr_op_fill = {
    .name = "fill", .arity = 0, .attrs = A(GR_ATTR_SHAPE) | A(GR_ATTR_VALUE),
    .required = A(GR_ATTR_SHAPE) | A(GR_ATTR_VALUE), .flags = GR_OPF_INTERNAL,
    .doc = "y = a tensor of shape filled with value; no operands, no gradient",
    .infer = fill_infer, .forward = fill_forward,
};

const gr_op *const gr_ops_movement[] = {&gr_op_reshape, &gr_op_expand, &gr_op_transpose, &gr_op_fill, NULL};
