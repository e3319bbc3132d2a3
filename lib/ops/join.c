/* join.c -- ops over a list of tensors (variadic: any number of operands
 * from one up): concat joins them along an existing axis, stack along a new
 * one. Both only move data; their VJPs slice the gradient back apart and
 * their JVPs join the tangents the same way. */
#include "ops.h"

#include <stdlib.h>
#include <string.h>

/* The axis attribute of node n (default 0, NumPy's and torch's). */
static int join_axis(const gr_node *n) { return (n->attrs->set & A(GR_ATTR_AXIS)) ? n->attrs->axis : 0; }

/* A node of shape s holding zeros, for a missing tangent. */
static int zeros_like_shape(gr_graph *g, const gr_shape *s) { return gr_build_fill(g, s, 0.0); }

/* slice(x, starts=[start], ends=[end], axes=[axis]): one block of a joined
 * gradient. */
static int slice_block(gr_graph *g, int x, int axis, int64_t start, int64_t end) {
    gr_attrs at;
    memset(&at, 0, sizeof at);
    at.set = A(GR_ATTR_STARTS) | A(GR_ATTR_ENDS) | A(GR_ATTR_AXES);
    at.nstarts = at.nends = at.naxes = 1;
    at.starts[0] = start;
    at.ends[0] = end;
    at.axes[0] = axis;
    return gr_build_apply(g, &gr_op_slice, x, -1, -1, &at);
}

/* Elements operand j of join node n contributes per outer index: its
 * block along axis (stack: one index, inner elements). */
static int64_t join_width(const gr_kernel *k, int j, int axis, int64_t inner) {
    if (k->n->op == &gr_op_stack) return inner;
    return k->g->nodes[gr_node_inputs(k->n)[j]].shape.dims[axis] * inner;
}

typedef struct join_job {
    const gr_kernel *k;
    int axis;
    int64_t inner, row; /* elements after axis; of out per outer index */
} join_job;

/* Outer indices [o0, o1): each operand's join_width elements in operand
 * order. */
static void join_part(void *ctx, int64_t o0, int64_t o1) {
    const join_job *J = ctx;
    const gr_kernel *k = J->k;
    size_t esz = gr_dtype_size(k->dt);
    for (int64_t o = o0; o < o1; o++) {
        if (o > o0 && o % 1024 == 0 && gr_cancelled(k->cancel)) return;
        char *dst = (char *)k->out + (size_t)(o * J->row) * esz;
        for (int j = 0; j < k->n->n_in; j++) {
            size_t bytes = (size_t)join_width(k, j, J->axis, J->inner) * esz;
            if (bytes) memcpy(dst, (const char *)k->in_all[j] + (size_t)o * bytes, bytes);
            dst += bytes;
        }
    }
}

/* Copy the operands into out, which is [outer, row], the outer indices
 * shared by the threads. */
static void join_copy(const gr_kernel *k, int axis, int64_t outer, int64_t inner) {
    join_job J = {k, axis, inner, k->n->numel / outer};
    gr_parallel_for(outer, J.row > 0 ? (GR_PAR_GRAIN + J.row - 1) / J.row : outer, join_part, &J);
}

/* ---- concat(x_0, ..., x_{n-1}, axis) --------------------------------- */

static gr_status concat_infer(gr_graph *g, int id, gr_error *err) {
    const gr_node *n = &g->nodes[id];
    const int *in = gr_node_inputs(n);
    gr_shape out = g->nodes[in[0]].shape;
    int axis;
    if (out.rank == 0) return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "cannot concatenate scalars (rank 0)");
    if (!gr_axis_norm(join_axis(n), out.rank, &axis))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "axis", "axis %d is out of range for rank %d", join_axis(n),
                          out.rank);
    out.dims[axis] = 0;
    for (int j = 0; j < n->n_in; j++) {
        const gr_shape *s = &g->nodes[in[j]].shape;
        int same = s->rank == out.rank;
        for (int d = 0; same && d < s->rank; d++) same = d == axis || s->dims[d] == out.dims[d];
        if (!same) {
            char a[160], b[160];
            return gr_fail_op(g, err, GR_E_SHAPE, id, j, NULL,
                              "operand %d has shape %s; operand 0 has %s, and all must match except along axis %d",
                              j, gr_shape_str(s, a, sizeof a), gr_shape_str(&g->nodes[in[0]].shape, b, sizeof b),
                              axis);
        }
        if (!gr_add_ok(out.dims[axis], s->dims[axis], &out.dims[axis]))
            return gr_fail_op(g, err, GR_E_OVERFLOW, id, j, NULL, "the joined axis overflows");
    }
    return gr_node_set_shape(g, id, &out, err);
}

/* Elements of s after axis (the inner block of one index along it). */
static int64_t inner_numel(const gr_shape *s, int axis) {
    int64_t m = 1;
    for (int d = axis + 1; d < s->rank; d++) m *= s->dims[d];
    return m;
}

/* Elements of s before axis. */
static int64_t outer_numel(const gr_shape *s, int axis) {
    int64_t m = 1;
    for (int d = 0; d < axis; d++) m *= s->dims[d];
    return m;
}

static gr_status concat_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    const gr_node *n = k->n;
    int axis;
    gr_axis_norm(join_axis(n), n->shape.rank, &axis);
    int64_t outer = outer_numel(&n->shape, axis), inner = inner_numel(&n->shape, axis);
    if (n->numel == 0) return GR_OK;
    join_copy(k, axis, outer, inner);
    return GR_OK;
}

static void concat_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    int n_in = g->nodes[id].n_in, axis;
    gr_axis_norm(join_axis(&g->nodes[id]), g->nodes[id].shape.rank, &axis);
    int64_t off = 0;
    for (int j = 0; j < n_in; j++) {
        /* building nodes may move g->nodes: read the operand afresh */
        int64_t w = g->nodes[gr_node_inputs(&g->nodes[id])[j]].shape.dims[axis];
        if (need[j]) grads[j] = slice_block(g, grad, axis, off, off + w);
        off += w;
    }
}

/* The tangents of a join's operands, zeros where missing, into ts. */
static void join_tangents(gr_graph *g, int id, const int *t, int *ts) {
    for (int j = 0; j < g->nodes[id].n_in; j++) {
        if (t[j] >= 0) {
            ts[j] = t[j];
        } else {
            gr_shape s = g->nodes[gr_node_inputs(&g->nodes[id])[j]].shape;
            ts[j] = zeros_like_shape(g, &s);
        }
    }
}

/* op applied to the tangents with the node's attributes. */
static int join_jvp(gr_graph *g, int id, const int *t, const gr_op *op) {
    int n_in = g->nodes[id].n_in;
    int small[16] = {0}, *ts = n_in <= 16 ? small : malloc((size_t)n_in * sizeof *ts);
    if (!ts) {
        if (!g->failed) gr_fail(&g->berr, GR_E_NOMEM, NULL, -1, "out of memory building a tangent");
        g->failed = 1;
        return -1;
    }
    join_tangents(g, id, t, ts);
    gr_attrs at = *g->nodes[id].attrs;
    int r = gr_build_apply_n(g, op, ts, n_in, &at);
    if (ts != small) free(ts);
    return r;
}

static int concat_jvp(gr_graph *g, int id, const int *t) { return join_jvp(g, id, t, &gr_op_concat); }

const gr_op gr_op_concat = {
    .name = "concat", .arity = GR_VARIADIC, .min_operands = 1, .attrs = A(GR_ATTR_AXIS),
    .doc = "y = the operands joined along axis (default 0; NumPy's concatenate, torch.cat): all have one rank >= 1 "
           "and the same dims except along axis, where y's dim is their sum; a single operand is copied, empty "
           "operands add nothing. dx_k = the slice of g along axis that x_k filled; tangent = concat of the "
           "tangents (zeros for operands without one)",
    .infer = concat_infer, .forward = concat_forward, .vjp = concat_vjp, .jvp = concat_jvp,
};

/* ---- stack(x_0, ..., x_{n-1}, axis) ---------------------------------- */

static gr_status stack_infer(gr_graph *g, int id, gr_error *err) {
    const gr_node *n = &g->nodes[id];
    const int *in = gr_node_inputs(n);
    const gr_shape *s0 = &g->nodes[in[0]].shape;
    int axis;
    if (s0->rank >= GR_MAX_RANK)
        return gr_fail_op(g, err, GR_E_LIMIT, id, 0, NULL, "stacking rank-%d tensors gives more than %d dims",
                          s0->rank, GR_MAX_RANK);
    if (!gr_axis_norm(join_axis(n), s0->rank + 1, &axis))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "axis", "axis %d is out of range for the result's rank %d",
                          join_axis(n), s0->rank + 1);
    for (int j = 1; j < n->n_in; j++)
        if (!gr_shape_equal(&g->nodes[in[j]].shape, s0)) {
            char a[160], b[160];
            return gr_fail_op(g, err, GR_E_SHAPE, id, j, NULL, "operand %d has shape %s; stack needs every operand "
                              "of operand 0's shape %s", j, gr_shape_str(&g->nodes[in[j]].shape, a, sizeof a),
                              gr_shape_str(s0, b, sizeof b));
        }
    gr_shape out;
    out.rank = s0->rank + 1;
    for (int d = 0, src = 0; d < out.rank; d++) out.dims[d] = d == axis ? n->n_in : s0->dims[src++];
    return gr_node_set_shape(g, id, &out, err);
}

static gr_status stack_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    const gr_node *n = k->n;
    int axis;
    gr_axis_norm(join_axis(n), n->shape.rank, &axis);
    if (n->numel == 0) return GR_OK;
    int64_t outer = outer_numel(&n->shape, axis), inner = inner_numel(&n->shape, axis);
    join_copy(k, axis, outer, inner);
    return GR_OK;
}

static void stack_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    int n_in = g->nodes[id].n_in, axis;
    gr_axis_norm(join_axis(&g->nodes[id]), g->nodes[id].shape.rank, &axis);
    for (int j = 0; j < n_in; j++) {
        if (!need[j]) continue;
        gr_shape s = g->nodes[gr_node_inputs(&g->nodes[id])[j]].shape;
        grads[j] = gr_build_reshape(g, slice_block(g, grad, axis, j, j + 1), &s);
    }
}

static int stack_jvp(gr_graph *g, int id, const int *t) { return join_jvp(g, id, t, &gr_op_stack); }

const gr_op gr_op_stack = {
    .name = "stack", .arity = GR_VARIADIC, .min_operands = 1, .attrs = A(GR_ATTR_AXIS),
    .doc = "y = the operands, all of one shape, joined along a new axis (default 0; negative counts from the end "
           "of the result, as NumPy's stack and torch.stack): y[..., k, ...] = x_k. dx_k = g at index k of that "
           "axis; tangent = stack of the tangents (zeros for operands without one)",
    .infer = stack_infer, .forward = stack_forward, .vjp = stack_vjp, .jvp = stack_jvp,
};

const gr_op *const gr_ops_join[] = {&gr_op_concat, &gr_op_stack, NULL};
