/* arg.c -- argmax and argmin: the index of the largest (smallest) element
 * along one axis, or of the flattened tensor when no axis is given, as a
 * number of the graph's dtype. They have no gradient. */
#include "groups.h"

#include <math.h>

/* One axis (attribute axis) or none (the whole tensor); the reduced axis
 * must not be empty. */
static gr_status arg_infer(gr_graph *g, int id, gr_error *err) {
    const gr_attrs *at = g->nodes[id].attrs;
    const gr_shape *x = IN_SHAPE(g, id, 0);
    unsigned mask = x->rank ? (1u << x->rank) - 1 : 0;
    int64_t len = 1;
    if (at->set & A(GR_ATTR_AXIS)) {
        int ax;
        if (!gr_axis_norm(at->axis, x->rank, &ax))
            return gr_fail_op(g, err, GR_E_ARG, id, 0, "axis", "axis %d is out of range for rank %d", at->axis,
                              x->rank);
        mask = 1u << ax;
        len = x->dims[ax];
    } else {
        for (int i = 0; i < x->rank; i++) len *= x->dims[i];
    }
    if (len == 0)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, (at->set & A(GR_ATTR_AXIS)) ? "axis" : NULL,
                          "%s of an empty %s is undefined", g->nodes[id].op->name,
                          (at->set & A(GR_ATTR_AXIS)) ? "axis" : "tensor");
    gr_shape s = at->keepdims ? gr_shape_keep(x, mask) : gr_shape_drop(x, mask);
    return gr_node_set_shape(g, id, &s, err);
}

/* Index of the first largest (sign 1) or smallest (sign -1) element of each
 * group; the first NaN wins over any number, as in NumPy and PyTorch. */
static gr_status arg_run(const gr_kernel *k, double sign) {
    const gr_shape *x = &k->g->nodes[k->n->in[0]].shape;
    unsigned mask = x->rank ? (1u << x->rank) - 1 : 0;
    int ax;
    if ((k->n->attrs->set & A(GR_ATTR_AXIS)) && gr_axis_norm(k->n->attrs->axis, x->rank, &ax)) mask = 1u << ax;
    gr_groups G;
    gr_groups_init(&G, x, mask);
    for (int64_t o = 0; o < G.n_groups; o++) {
        if ((o & 255) == 0 && gr_cancelled(k->cancel)) return GR_OK;
        double best = 0;
        int64_t at = -1;
        GROUP_FOR(&G, gr_groups_base(&G, o), r, off, {
            double v = sign * gr_get(k->dt, k->in[0], off);
            if (at < 0 || (best == best && (v > best || v != v))) {
                best = v;
                at = r;
            }
        });
        gr_put(k->dt, k->out, o, (double)at);
    }
    return GR_OK;
}

static gr_status argmax_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    return arg_run(k, 1);
}

static gr_status argmin_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    return arg_run(k, -1);
}

static int64_t arg_flops(const gr_graph *g, const gr_node *n) { return g->nodes[n->in[0]].numel; }

const gr_op gr_op_argmax = {
    .name = "argmax", .arity = 1, .nondiff = 1, .attrs = A(GR_ATTR_AXIS) | A(GR_ATTR_KEEPDIMS),
    .doc = "y = index of the largest x along axis (absent: of the flattened x), the first on ties and the first "
           "NaN if any (NumPy and PyTorch agree); an empty axis is an error; no gradient",
    .infer = arg_infer, .forward = argmax_forward, .flops = arg_flops,
};
const gr_op gr_op_argmin = {
    .name = "argmin", .arity = 1, .nondiff = 1, .attrs = A(GR_ATTR_AXIS) | A(GR_ATTR_KEEPDIMS),
    .doc = "y = index of the smallest x along axis (absent: of the flattened x), the first on ties and the first "
           "NaN if any (NumPy and PyTorch agree); an empty axis is an error; no gradient",
    .infer = arg_infer, .forward = argmin_forward, .flops = arg_flops,
};

const gr_op *const gr_ops_arg[] = {&gr_op_argmax, &gr_op_argmin, NULL};
