/* topk.c -- topk and topk_indices: the k largest (or smallest) elements
 * along one axis, sorted, and where they were (torch.topk's values and
 * indices; ONNX TopK's two outputs).
 *
 * Order: descending for largest (ascending for smallest); NaN counts as
 * larger than every number (torch's rule: NaNs come first among the
 * largest, last among the smallest). Among equal values the lower index
 * comes first (ONNX's rule, a stable sort): torch leaves that order
 * unspecified, so its values always equal these and its indices do where
 * there are no ties. The result is always sorted (torch's sorted=False
 * and ONNX's sorted=0 leave the order free, so sorted is one valid
 * answer). Both ops run one stable merge sort of each group (O(n log n)
 * per group, in the node's planned workspace). */
#include "groups.h"

#include <math.h>
#include <string.h>

/* The node's axis (default -1) normalised against x's rank, k, and the
 * direction (largest, default true). */
typedef struct topk_spec {
    int axis;
    int64_t k;
    int largest;
} topk_spec;

static topk_spec spec_of(const gr_graph *g, const gr_node *n) {
    const gr_attrs *at = n->attrs;
    int rank = g->nodes[n->in[0]].shape.rank, ax = -1;
    topk_spec s = {.k = at->k, .largest = (at->set & A(GR_ATTR_LARGEST)) ? at->largest : 1};
    if (!gr_axis_norm((at->set & A(GR_ATTR_AXIS)) ? at->axis : -1, rank, &ax)) ax = rank - 1;
    s.axis = ax;
    return s;
}

/* x of rank >= 1, axis in range, 0 <= k <= the axis' size; y is x with k
 * along axis. */
static gr_status topk_infer(gr_graph *g, int id, gr_error *err) {
    const gr_attrs *at = g->nodes[id].attrs;
    const gr_shape *x = IN_SHAPE(g, id, 0);
    if (x->rank < 1) return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "x is a scalar: it has no axis to sort");
    int ax;
    int axis = (at->set & A(GR_ATTR_AXIS)) ? at->axis : -1;
    if (!gr_axis_norm(axis, x->rank, &ax))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "axis", "axis %d is out of range for rank %d", axis, x->rank);
    if (at->k < 0 || at->k > x->dims[ax])
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "k", "k %lld is outside [0, %lld], the size of axis %d",
                          (long long)at->k, (long long)x->dims[ax], ax);
    gr_shape y = *x;
    y.dims[ax] = at->k;
    return gr_node_set_shape(g, id, &y, err);
}

/* Scratch: the group's values, its order and the merge buffer. */
static int64_t topk_workspace(const gr_graph *g, const gr_node *n) {
    topk_spec s = spec_of(g, n);
    int64_t len = g->nodes[n->in[0]].shape.dims[s.axis];
    return len * (int64_t)(sizeof(double) + 2 * sizeof(int64_t));
}

/* a comes before b in the order (strictly), values v. */
static int before(const double *v, int64_t a, int64_t b, int largest) {
    double x = v[a], y = v[b];
    if (x != x || y != y) /* NaN is the largest: first among the largest, last among the smallest */
        return largest ? x != x && y == y : x == x && y != y;
    return largest ? x > y : x < y;
}

/* Stable merge sort of ord[0..n) by before() (tmp: n scratch entries):
 * ties keep their input order, the lower index first. Bottom-up. */
static void sort_order(const double *v, int64_t *ord, int64_t *tmp, int64_t n, int largest) {
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) tmp[o++] = before(v, ord[j], ord[i], largest) ? ord[j++] : ord[i++];
            while (i < mid) tmp[o++] = ord[i++];
            while (j < hi) tmp[o++] = ord[j++];
        }
        memcpy(ord, tmp, (size_t)n * sizeof *ord);
    }
}

/* For each group along the axis: sort, then write the first k values
 * (want_indices 0) or their indices (1) along y's axis. */
static gr_status topk_run(const gr_kernel *k, int want_indices) {
    const gr_node *n = k->n;
    const gr_shape *x = &k->g->nodes[n->in[0]].shape;
    topk_spec s = spec_of(k->g, n);
    int64_t len = x->dims[s.axis];
    double *v = k->work;
    int64_t *ord = (int64_t *)(v + len), *tmp = ord + len;
    gr_groups G, Y;
    gr_groups_init(&G, x, 1u << s.axis);
    gr_groups_init(&Y, &n->shape, 1u << s.axis);
    int64_t ystride = Y.nred ? Y.rstr[0] : 1;
    if (n->numel == 0) return GR_OK;
    for (int64_t o = 0; o < G.n_groups; o++) {
        if ((o & 255) == 0 && gr_cancelled(k->cancel)) return GR_OK;
        GROUP_FOR(&G, gr_groups_base(&G, o), r, off, {
            v[r] = gr_get(k->dt, k->in[0], off);
            ord[r] = r;
        });
        sort_order(v, ord, tmp, len, s.largest);
        int64_t yb = gr_groups_base(&Y, o);
        for (int64_t j = 0; j < s.k; j++)
            gr_put(k->dt, k->out, yb + j * ystride, want_indices ? (double)ord[j] : v[ord[j]]);
    }
    return GR_OK;
}

static gr_status topk_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    return topk_run(k, 0);
}

static gr_status topk_indices_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    return topk_run(k, 1);
}

static int64_t topk_flops(const gr_graph *g, const gr_node *n) {
    const gr_node *x = &g->nodes[n->in[0]];
    int64_t len = x->shape.dims[spec_of(g, n).axis], lg = 1;
    while (((int64_t)1 << lg) < len) lg++;
    return x->numel * lg;
}

/* topk_indices(x) with node id's attributes, its axis made explicit. */
static int indices_of(gr_graph *g, int id, int *axis) {
    gr_attrs at = *g->nodes[id].attrs;
    topk_spec s = spec_of(g, &g->nodes[id]);
    at.set |= A(GR_ATTR_AXIS);
    at.axis = s.axis;
    *axis = s.axis;
    return gr_build_apply(g, &gr_op_topk_indices, g->nodes[id].in[0], -1, -1, &at);
}

/* dx = scatter_add(zeros like x, indices, g, axis): each selected element
 * gets its value's gradient (torch's value_selecting_reduction_backward). */
static void topk_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    if (!need[0]) return;
    gr_shape xs = *IN_SHAPE(g, id, 0);
    int axis, idx = indices_of(g, id, &axis);
    gr_attrs at;
    memset(&at, 0, sizeof at);
    at.set = A(GR_ATTR_AXIS);
    at.axis = axis;
    grads[0] = gr_build_apply(g, &gr_op_scatter_add, gr_build_fill(g, &xs, 0.0), idx, grad, &at);
}

/* dy = take_along_axis(t, indices, axis). */
static int topk_jvp(gr_graph *g, int id, const int *t) {
    if (t[0] < 0) return -1;
    int axis, idx = indices_of(g, id, &axis);
    gr_attrs at;
    memset(&at, 0, sizeof at);
    at.set = A(GR_ATTR_AXIS);
    at.axis = axis;
    return gr_build_apply(g, &gr_op_take_along_axis, t[0], idx, -1, &at);
}

const gr_op gr_op_topk = {
    .name = "topk", .arity = 1, .attrs = A(GR_ATTR_K) | A(GR_ATTR_AXIS) | A(GR_ATTR_LARGEST),
    .required = A(GR_ATTR_K),
    .doc = "y = the k largest x along axis (default -1; largest=false: the k smallest), sorted: descending "
           "(ascending), as torch.topk's values and ONNX TopK's first output; 0 <= k <= the axis' size. NaN is "
           "larger than every number (torch's rule). Ties: the lower index first (ONNX's rule; torch leaves it "
           "unspecified, so torch's values equal these and its gradient differs only in which of equal elements "
           "receives it). Always sorted (torch's sorted=False allows any order). dx = scatter_add(zeros, "
           "topk_indices(x), g, axis): each selected element gets its value's gradient, the others 0 (torch's "
           "rule); the JVP is take_along_axis(t, topk_indices(x), axis)",
    .infer = topk_infer, .forward = topk_forward, .vjp = topk_vjp, .jvp = topk_jvp, .flops = topk_flops,
    .workspace = topk_workspace,
};

const gr_op gr_op_topk_indices = {
    .name = "topk_indices", .arity = 1, .nondiff = 1, .attrs = A(GR_ATTR_K) | A(GR_ATTR_AXIS) | A(GR_ATTR_LARGEST),
    .required = A(GR_ATTR_K),
    .doc = "y = the indices along axis of topk(x, k, axis, largest), in its order (torch.topk's indices, ONNX "
           "TopK's second output): on ties the lower index first, NaN as the largest; no gradient",
    .infer = topk_infer, .forward = topk_indices_forward, .flops = topk_flops, .workspace = topk_workspace,
};

const gr_op *const gr_ops_topk[] = {&gr_op_topk, &gr_op_topk_indices, NULL};
