/* pad.c -- pad (constant, reflect, edge) and its adjoint pad_backward,
 * which folds a padded gradient back onto the operand: a border element
 * that copies x[i] (reflect, edge) adds its gradient to x[i], and a
 * constant border gets none. Both are gathers and scatter-adds through
 * per-axis index maps (index_map.h), and each is the other's transpose, so
 * the derivatives of either are the two ops again. */
#include "index_map.h"

#include <string.h>

extern const gr_op gr_op_pad, gr_op_pad_backward;

typedef enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE } pad_mode;

/* The mode of node id (the table admits only the three names). */
static pad_mode node_mode(const gr_graph *g, int id) {
    const gr_attrs *at = g->nodes[id].attrs;
    if (!(at->set & A(GR_ATTR_MODE))) return PAD_CONSTANT;
    if (!strcmp(at->mode, "reflect")) return PAD_REFLECT;
    if (!strcmp(at->mode, "edge")) return PAD_EDGE;
    return PAD_CONSTANT;
}

/* The padding of node id before and after each of rank axes (0 on axes not
 * padded): pads holds (before, after) pairs for the axes of axes, or else
 * for the last len(pads)/2 axes. */
static gr_status pad_amounts(gr_graph *g, int id, int rank, int64_t *before, int64_t *after, gr_error *err) {
    const gr_attrs *at = g->nodes[id].attrs;
    int np = at->npads;
    for (int a = 0; a < GR_MAX_RANK; a++) before[a] = after[a] = 0;
    if ((at->set & A(GR_ATTR_MODE)) && strcmp(at->mode, "constant") && strcmp(at->mode, "reflect") &&
        strcmp(at->mode, "edge")) /* the table's other modes are interpolate's */
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "mode", "pad's mode is 'constant', 'reflect' or 'edge', not '%s'",
                          at->mode);
    if (np % 2)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "pads", "pads holds (before, after) pairs but has %d entries", np);
    np /= 2;
    if (at->set & A(GR_ATTR_AXES)) {
        if (at->naxes != np)
            return gr_fail_op(g, err, GR_E_ARG, id, -1, "axes", "axes has %d entries for %d pairs of pads", at->naxes,
                              np);
        unsigned seen = 0;
        for (int i = 0; i < np; i++) {
            int ax;
            if (!gr_axis_norm(at->axes[i], rank, &ax))
                return gr_fail_op(g, err, GR_E_ARG, id, 0, "axes", "axis %d is out of range for rank %d", at->axes[i],
                                  rank);
            if (seen & (1u << ax)) return gr_fail_op(g, err, GR_E_ARG, id, 0, "axes", "axis %d is repeated", at->axes[i]);
            seen |= 1u << ax;
            before[ax] = at->pads[2 * i];
            after[ax] = at->pads[2 * i + 1];
        }
        return GR_OK;
    }
    if (np > rank)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, "pads", "%d pairs of pads for an operand of rank %d", np, rank);
    for (int i = 0; i < np; i++) {
        before[rank - np + i] = at->pads[2 * i];
        after[rank - np + i] = at->pads[2 * i + 1];
    }
    return GR_OK;
}

/* Check that mode can pad x (the unpadded shape) by before/after: reflect
 * needs each padding below the axis length, edge a non-empty axis. */
static gr_status pad_fits(gr_graph *g, int id, pad_mode mode, const gr_shape *x, const int64_t *before,
                          const int64_t *after, gr_error *err) {
    if (mode == PAD_CONSTANT) return GR_OK;
    for (int a = 0; a < x->rank; a++) {
        int64_t d = x->dims[a], most = before[a] > after[a] ? before[a] : after[a];
        if (most == 0) continue;
        if (mode == PAD_REFLECT && most >= d)
            return gr_fail_op(g, err, GR_E_SHAPE, id, 0, "pads",
                              "reflect padding of %lld on axis %d needs more than %lld elements there (torch and "
                              "NumPy refuse it too)",
                              (long long)most, a, (long long)d);
        if (mode == PAD_EDGE && d == 0)
            return gr_fail_op(g, err, GR_E_SHAPE, id, 0, "pads", "edge padding cannot extend the empty axis %d", a);
    }
    return GR_OK;
}

/* The index maps of the padded shape from x. */
static void pad_maps(pad_mode mode, const gr_shape *x, const int64_t *before, const int64_t *after,
                     gr_axis_map *maps) {
    static const gr_map_kind kind[] = {GR_MAP_PAD_CONSTANT, GR_MAP_PAD_REFLECT, GR_MAP_PAD_EDGE};
    for (int a = 0; a < x->rank; a++)
        maps[a] = (gr_axis_map){before[a] || after[a] ? kind[mode] : GR_MAP_IDENT, x->dims[a], before[a]};
}

/* ---- pad ------------------------------------------------------------- */

static gr_status pad_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape x = *IN_SHAPE(g, id, 0);
    int64_t before[GR_MAX_RANK], after[GR_MAX_RANK];
    pad_mode mode = node_mode(g, id);
    gr_status st = pad_amounts(g, id, x.rank, before, after, err);
    if (st != GR_OK) return st;
    if ((g->nodes[id].attrs->set & A(GR_ATTR_VALUE)) && mode != PAD_CONSTANT)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "value", "value is for mode 'constant' only (as NumPy)");
    if ((st = pad_fits(g, id, mode, &x, before, after, err)) != GR_OK) return st;
    gr_shape y = x;
    for (int a = 0; a < x.rank; a++)
        if (!gr_add_ok(x.dims[a], before[a], &y.dims[a]) || !gr_add_ok(y.dims[a], after[a], &y.dims[a]))
            return gr_fail_op(g, err, GR_E_OVERFLOW, id, -1, "pads", "the padded shape overflows");
    return gr_node_set_shape(g, id, &y, err);
}

static gr_status pad_forward(const gr_kernel *k, gr_error *err) {
    gr_graph *g = (gr_graph *)k->g;
    int id = (int)(k->n - g->nodes);
    const gr_shape *x = &g->nodes[k->n->in[0]].shape;
    int64_t before[GR_MAX_RANK], after[GR_MAX_RANK];
    gr_axis_map maps[GR_MAX_RANK];
    pad_amounts(g, id, x->rank, before, after, err); /* validated at inference */
    pad_maps(node_mode(g, id), x, before, after, maps);
    gr_gather_maps(k, &k->n->shape, k->out, x, k->in[0], maps, k->n->attrs->value);
    return GR_OK;
}

/* The attributes of node id without value: the pad of a tangent or of a
 * gradient has a zero border. */
static gr_attrs zero_border(const gr_graph *g, int id) {
    gr_attrs at = *g->nodes[id].attrs;
    at.set &= ~A(GR_ATTR_VALUE);
    at.value = 0;
    return at;
}

static void pad_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_attrs at = zero_border(g, id);
    grads[0] = gr_build_apply(g, &gr_op_pad_backward, grad, -1, -1, &at);
}

static int pad_jvp(gr_graph *g, int id, const int *t) {
    gr_attrs at = zero_border(g, id);
    return gr_build_apply(g, &gr_op_pad, t[0], -1, -1, &at);
}

#define PAD_ATTRS (A(GR_ATTR_PADS) | A(GR_ATTR_MODE) | A(GR_ATTR_AXES))

const gr_op gr_op_pad = {
    .name = "pad", .arity = 1, .attrs = PAD_ATTRS | A(GR_ATTR_VALUE), .required = A(GR_ATTR_PADS),
    .doc = "y = x padded by pads, (before, after) pairs in axis order for the axes of axes or else the last "
           "len(pads)/2 axes, at most 4 pairs (np.pad's pairs, flattened, where NumPy would broadcast one pair "
           "to every axis; torch's F.pad lists pairs from the last axis back). "
           "mode 'constant' fills value (default 0); 'reflect' mirrors without repeating the edge element "
           "(torch 'reflect', NumPy 'reflect'); 'edge' repeats it (torch 'replicate'). Padding must be >= 0; "
           "reflect padding must be less than the axis length and edge cannot extend an empty axis (errors, as "
           "torch; NumPy would reflect repeatedly). dx = pad_backward(g): the interior of g plus, for reflect "
           "and edge, each border element's gradient added to the element it copies. dy = pad(dx) with a zero "
           "border.",
    .infer = pad_infer, .forward = pad_forward, .vjp = pad_vjp, .jvp = pad_jvp,
};

/* ---- pad_backward ---------------------------------------------------- */

/* The unpadded shape of node id (its result) from its padded operand. */
static gr_status unpadded_shape(gr_graph *g, int id, gr_shape *x, int64_t *before, int64_t *after, gr_error *err) {
    const gr_shape *y = IN_SHAPE(g, id, 0);
    gr_status st = pad_amounts(g, id, y->rank, before, after, err);
    if (st != GR_OK) return st;
    *x = *y;
    for (int a = 0; a < y->rank; a++) {
        x->dims[a] = y->dims[a] - before[a] - after[a]; /* each <= INT32_MAX: no overflow */
        if (x->dims[a] < 0)
            return gr_fail_op(g, err, GR_E_SHAPE, id, 0, "pads", "axis %d has %lld elements, fewer than its padding",
                              a, (long long)y->dims[a]);
    }
    return GR_OK;
}

static gr_status pad_backward_infer(gr_graph *g, int id, gr_error *err) {
    gr_shape x;
    int64_t before[GR_MAX_RANK], after[GR_MAX_RANK];
    gr_status st = unpadded_shape(g, id, &x, before, after, err);
    if (st != GR_OK) return st;
    if ((st = pad_fits(g, id, node_mode(g, id), &x, before, after, err)) != GR_OK) return st;
    return gr_node_set_shape(g, id, &x, err);
}

static gr_status pad_backward_forward(const gr_kernel *k, gr_error *err) {
    gr_graph *g = (gr_graph *)k->g;
    int id = (int)(k->n - g->nodes);
    gr_shape x;
    int64_t before[GR_MAX_RANK], after[GR_MAX_RANK];
    gr_axis_map maps[GR_MAX_RANK];
    unpadded_shape(g, id, &x, before, after, err); /* validated at inference */
    pad_maps(node_mode(g, id), &x, before, after, maps);
    gr_scatter_add_maps(k, &g->nodes[k->n->in[0]].shape, k->in[0], &x, k->out, maps);
    return GR_OK;
}

/* pad_backward is the transpose of pad with a zero border, and linear. */
static void pad_backward_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_attrs at = *g->nodes[id].attrs;
    grads[0] = gr_build_apply(g, &gr_op_pad, grad, -1, -1, &at);
}

static int pad_backward_jvp(gr_graph *g, int id, const int *t) {
    gr_attrs at = *g->nodes[id].attrs;
    return gr_build_apply(g, &gr_op_pad_backward, t[0], -1, -1, &at);
}

const gr_op gr_op_pad_backward = {
    .name = "pad_backward", .arity = 1, .attrs = PAD_ATTRS, .required = A(GR_ATTR_PADS), .flags = GR_OPF_INTERNAL,
    .doc = "y = the gradient of pad folded back onto the unpadded operand (pad's VJP; attributes as pad's): "
           "the interior of g, plus for reflect and edge each border element added to the element it copies. "
           "Linear: dg = pad(gy) with a zero border, dy = pad_backward(dg).",
    .infer = pad_backward_infer, .forward = pad_backward_forward, .vjp = pad_backward_vjp, .jvp = pad_backward_jvp,
};

const gr_op *const gr_ops_pad[] = {&gr_op_pad, &gr_op_pad_backward, NULL};
