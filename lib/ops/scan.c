/* scan.c -- cumulative sums and products along one axis: cumsum, cumprod,
 * and cumsum_reverse (internal: the sum from each element to the end of
 * its row), which is cumsum's derivative and cumsum's is it. cumprod's
 * derivative is written with masks of the first zero of each row, so it is
 * exact where the input holds zeros (PyTorch's cumprod_backward). */
#include "groups.h"

#include <math.h>

static gr_status scan_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0);
    int ax, axis = g->nodes[id].attrs->axis;
    if (x->rank == 0 && (axis == 0 || axis == -1)) return gr_infer_same(g, id, err); /* a scalar: y = x (PyTorch) */
    if (!gr_axis_norm(axis, x->rank, &ax))
        return gr_fail_op(g, err, GR_E_ARG, id, 0, "axis", "axis %d is out of range for rank %d", axis, x->rank);
    return gr_infer_same(g, id, err);
}

typedef enum scan_kind { SCAN_SUM, SCAN_SUM_REVERSE, SCAN_PROD } scan_kind;

/* Run the scan of kind along node k's axis, accumulating in double. */
static gr_status scan_run(const gr_kernel *k, scan_kind kind) {
    const gr_shape *x = &k->g->nodes[k->n->in[0]].shape;
    int ax = 0;
    gr_groups G;
    gr_groups_init(&G, x, gr_axis_norm(k->n->attrs->axis, x->rank, &ax) ? 1u << ax : 0); /* 0: a scalar */
    int64_t stride = G.nred ? G.rstr[0] : 1;
    for (int64_t o = 0; o < G.n_groups; o++) {
        if ((o & 255) == 0 && gr_cancelled(k->cancel)) return GR_OK;
        int64_t base = gr_groups_base(&G, o);
        double acc = kind == SCAN_PROD ? 1 : 0;
        for (int64_t r = 0; r < G.len; r++) {
            int64_t off = base + (kind == SCAN_SUM_REVERSE ? G.len - 1 - r : r) * stride;
            double v = gr_get(k->dt, k->in[0], off);
            acc = kind == SCAN_PROD ? acc * v : acc + v;
            gr_put(k->dt, k->out, off, acc);
        }
    }
    return GR_OK;
}

static gr_status cumsum_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    return scan_run(k, SCAN_SUM);
}
static gr_status cumsum_reverse_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    return scan_run(k, SCAN_SUM_REVERSE);
}
static gr_status cumprod_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    return scan_run(k, SCAN_PROD);
}

extern const gr_op gr_op_cumsum, gr_op_cumsum_reverse, gr_op_cumprod;

/* op applied to a along node id's axis. */
static int scan_of(gr_graph *g, int id, const gr_op *op, int a) {
    gr_attrs at = {0};
    at.set = A(GR_ATTR_AXIS);
    at.axis = g->nodes[id].attrs->axis;
    return gr_build_apply(g, op, a, -1, -1, &at);
}

static void cumsum_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    grads[0] = scan_of(g, id, &gr_op_cumsum_reverse, grad);
}
static int cumsum_jvp(gr_graph *g, int id, const int *t) { return scan_of(g, id, &gr_op_cumsum, t[0]); }
static void cumsum_reverse_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    grads[0] = scan_of(g, id, &gr_op_cumsum, grad);
}
static int cumsum_reverse_jvp(gr_graph *g, int id, const int *t) {
    return scan_of(g, id, &gr_op_cumsum_reverse, t[0]);
}

/* The masks of cumprod node id's input x along its axis: before (1 where
 * no zero has come yet, the zero itself excluded), first (1 at the first
 * zero), and x1 = x with its first zero replaced by 1. */
typedef struct zero_masks {
    int before, first, x1;
} zero_masks;

static zero_masks cumprod_masks(gr_graph *g, int id) {
    int x = g->nodes[id].in[0], zero = gr_build_scalar(g, 0), one = gr_build_scalar(g, 1);
    int is_zero = gr_build_binary(g, &gr_op_equal, x, zero);
    int zeros_so_far = scan_of(g, id, &gr_op_cumsum, is_zero);
    zero_masks m;
    m.before = gr_build_binary(g, &gr_op_equal, zeros_so_far, zero);
    m.first = gr_build_binary(g, &gr_op_mul, is_zero, gr_build_binary(g, &gr_op_equal, zeros_so_far, one));
    m.x1 = gr_build_apply(g, &gr_op_where, m.first, one, x, NULL);
    return m;
}

/* dx_k = sum_{i>=k} g_i prod_{j<=i, j!=k} x_j: before the first zero
 * cumsum_reverse(g y) / x; at the first zero cumsum_reverse(g
 * cumprod(x1)); after it 0. */
static void cumprod_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    int x = g->nodes[id].in[0], zero = gr_build_scalar(g, 0), one = gr_build_scalar(g, 1);
    zero_masks m = cumprod_masks(g, id);
    int safe_x = gr_build_apply(g, &gr_op_where, m.before, x, one, NULL);
    int tail = scan_of(g, id, &gr_op_cumsum_reverse, gr_build_binary(g, &gr_op_mul, grad, id));
    int t1 = gr_build_apply(g, &gr_op_where, m.before, gr_build_binary(g, &gr_op_div, tail, safe_x), zero, NULL);
    int at_zero = scan_of(g, id, &gr_op_cumsum_reverse,
                          gr_build_binary(g, &gr_op_mul, grad, scan_of(g, id, &gr_op_cumprod, m.x1)));
    grads[0] = gr_build_binary(g, &gr_op_add, t1, gr_build_binary(g, &gr_op_mul, m.first, at_zero));
}

/* dy_i = sum_{k<=i} t_k prod_{j<=i, j!=k} x_j: before the first zero
 * y cumsum(t / x); from it on cumprod(x1) t[first zero]. */
static int cumprod_jvp(gr_graph *g, int id, const int *t) {
    int x = g->nodes[id].in[0], zero = gr_build_scalar(g, 0), one = gr_build_scalar(g, 1);
    zero_masks m = cumprod_masks(g, id);
    int safe_x = gr_build_apply(g, &gr_op_where, m.before, x, one, NULL);
    int run = scan_of(g, id, &gr_op_cumsum, gr_build_binary(g, &gr_op_div, t[0], safe_x));
    int t1 = gr_build_apply(g, &gr_op_where, m.before, gr_build_binary(g, &gr_op_mul, id, run), zero, NULL);
    int t2 = gr_build_binary(g, &gr_op_mul, scan_of(g, id, &gr_op_cumprod, m.x1),
                             scan_of(g, id, &gr_op_cumsum, gr_build_binary(g, &gr_op_mul, m.first, t[0])));
    return gr_build_binary(g, &gr_op_add, t1, t2);
}

const gr_op gr_op_cumsum = {
    .name = "cumsum", .arity = 1, .attrs = A(GR_ATTR_AXIS), .required = A(GR_ATTR_AXIS),
    .doc = "y_i = x_0 + ... + x_i along axis (required, as torch's dim); dx = cumsum_reverse(g) (the sum from "
           "each element to the end); the tangent is cumsum(t)",
    .infer = scan_infer, .forward = cumsum_forward, .vjp = cumsum_vjp, .jvp = cumsum_jvp,
};
const gr_op gr_op_cumsum_reverse = {
    .name = "cumsum_reverse", .arity = 1, .attrs = A(GR_ATTR_AXIS), .required = A(GR_ATTR_AXIS),
    .flags = GR_OPF_INTERNAL,
    .doc = "y_i = x_i + ... + x_last along axis (cumsum's derivative); dx = cumsum(g); the tangent is "
           "cumsum_reverse(t)",
    .infer = scan_infer, .forward = cumsum_reverse_forward, .vjp = cumsum_reverse_vjp, .jvp = cumsum_reverse_jvp,
};
const gr_op gr_op_cumprod = {
    .name = "cumprod", .arity = 1, .attrs = A(GR_ATTR_AXIS), .required = A(GR_ATTR_AXIS),
    .doc = "y_i = x_0 * ... * x_i along axis (required); dx_k = sum over i >= k of g_i times the product of x_0..x_i "
           "without x_k: cumsum_reverse(g y) / x before a row's first zero, cumsum_reverse(g cumprod(x with that "
           "zero set to 1)) at it, 0 after it (exact with zeros, as PyTorch's cumprod_backward)",
    .infer = scan_infer, .forward = cumprod_forward, .vjp = cumprod_vjp, .jvp = cumprod_jvp,
};

const gr_op *const gr_ops_scan[] = {&gr_op_cumsum, &gr_op_cumsum_reverse, &gr_op_cumprod, NULL};
