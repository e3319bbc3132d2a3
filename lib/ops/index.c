/* index.c -- indexing: slice and slice_scatter (ONNX Slice's starts, ends,
 * axes, steps), take (NumPy's take: along an axis with an index tensor of
 * any shape), take_along_axis and scatter_add (index tensors of the data's
 * rank that broadcast against it), and embedding (take of rows with
 * torch's padding_idx).
 *
 * Indices are numbers of the graph's dtype. They must be whole numbers;
 * take, take_along_axis and scatter_add follow NumPy and count a negative
 * index from the end (-1 is the last), so an axis of size n takes indices
 * in [-n, n); embedding follows torch and takes [0, n) only. Any other
 * index is a run-time error (GR_E_VALUE) naming the node and the index
 * operand. Index operands get no gradient.
 *
 * Each op's derivative is another op of this file: the VJP of a gather
 * (take, take_along_axis, embedding) is a scatter_add into zeros, the VJP
 * of scatter_add gathers, the VJP of slice is a slice_scatter into zeros
 * and that of slice_scatter slices; all are linear in their data, so the
 * derivative graphs differentiate again (HVP). */
#include "ops.h"

#include <math.h>
#include <string.h>

/* ---- shared: run-time indices ----------------------------------------- */

/* Read element i of index operand `operand` as an index into an axis of
 * size n: a whole number in [-n, n) (negative counts from the end) when
 * allow_negative, else in [0, n). GR_E_VALUE naming the node otherwise. */
static gr_status read_index(const gr_kernel *k, int operand, int64_t i, int64_t n, int allow_negative, int64_t *out,
                            gr_error *err) {
    double v = k->dt == GR_F32 ? (double)((const float *)k->in[operand])[i] : ((const double *)k->in[operand])[i];
    double lo = allow_negative ? -(double)n : 0;
    if (v >= lo && v < (double)n && v == floor(v)) {
        int64_t j = (int64_t)v;
        *out = j < 0 ? j + n : j;
        return GR_OK;
    }
    char buf[32];
    if (allow_negative)
        return gr_fail(err, GR_E_VALUE, gr_node_name(k->g, (int)(k->n - k->g->nodes), buf, sizeof buf), operand,
                       "%s: index %g (element %lld of the indices) is not a whole number in [-%lld, %lld), the "
                       "range of an axis of size %lld", k->n->op->name, v, (long long)i, (long long)n, (long long)n,
                       (long long)n);
    return gr_fail(err, GR_E_VALUE, gr_node_name(k->g, (int)(k->n - k->g->nodes), buf, sizeof buf), operand,
                   "%s: index %g (element %lld of the indices) is not a whole number in [0, %lld)", k->n->op->name, v,
                   (long long)i, (long long)n);
}

/* ---- shared: the gather/scatter walk ----------------------------------- */

/* An iteration space of `rank` dims over which three tensors move: the
 * data x (indexed along axis by the index read at each point, stride 0
 * along axis and along its broadcast dims), the indices and the other
 * tensor u (the gather's output, the scatter's updates), each with stride
 * 0 where it broadcasts. */
typedef struct walk {
    int rank, axis;
    int64_t dims[GR_MAX_RANK];       /* the iteration space */
    int64_t xs[GR_MAX_RANK];         /* x's strides (0 along axis and broadcast dims) */
    int64_t is[GR_MAX_RANK];         /* the indices' strides */
    int64_t us[GR_MAX_RANK];         /* u's strides */
    int64_t x_axis_stride, n_axis;   /* x's stride and size along axis */
} walk;

/* Strides of s, 0 where s has size 1 (it broadcasts there). */
static void broadcast_strides(const gr_shape *s, int64_t *st) {
    gr_shape_strides(s, st);
    for (int d = 0; d < s->rank; d++)
        if (s->dims[d] == 1) st[d] = 0;
}

/* The walk over space of x (indexed along axis), indices idx and u; all
 * of space's rank. */
static void walk_init(walk *w, const gr_shape *space, const gr_shape *x, const gr_shape *idx, const gr_shape *u,
                      int axis) {
    int64_t xst[GR_MAX_RANK];
    memset(w, 0, sizeof *w);
    w->rank = space->rank;
    w->axis = axis;
    memcpy(w->dims, space->dims, sizeof w->dims);
    gr_shape_strides(x, xst);
    broadcast_strides(x, w->xs);
    broadcast_strides(idx, w->is);
    broadcast_strides(u, w->us);
    w->x_axis_stride = xst[axis];
    w->n_axis = x->dims[axis];
    w->xs[axis] = 0;
}

/* Number of points of w's space. */
static int64_t walk_count(const walk *w) {
    int64_t n = 1;
    for (int d = 0; d < w->rank; d++) n *= w->dims[d];
    return n;
}

/* 1 when w's last dim is a row: not the axis, one index for all of it,
 * x and u contiguous along it (take's and embedding's rows). */
static int walk_has_rows(const walk *w) {
    int d = w->rank - 1;
    return d != w->axis && w->is[d] == 0 && w->xs[d] == 1 && w->us[d] == 1 && w->dims[d] > 1;
}

/* gather: u[p] = x[p with axis = index[p]]; scatter: x[p with axis =
 * index[p]] += u[p], for every point p of the walk, a row of `row` points
 * at a time (walk_has_rows: the last dim's; else 1). x and u are T arrays;
 * the indices are read through read_index (operand idx_operand of k). */
#define WALK_IMPL(NAME, T, BODY)                                                                                      \
    static gr_status NAME(const gr_kernel *k, const walk *w, int idx_operand, int allow_negative, T *x, T *u,          \
                          gr_error *err) {                                                                            \
        int rows = walk_has_rows(w), rank = w->rank - rows;                                                           \
        int64_t row = rows ? w->dims[w->rank - 1] : 1;                                                                \
        int64_t total = walk_count(w) / (row ? row : 1), cnt[GR_MAX_RANK] = {0}, xo = 0, io = 0, uo = 0;              \
        if (row == 0) return GR_OK;                                                                                   \
        for (int64_t e = 0; e < total; e++) {                                                                         \
            if ((e & 0xffff) == 0xffff && gr_cancelled(k->cancel)) return GR_OK;                                      \
            int64_t j;                                                                                                \
            gr_status st = read_index(k, idx_operand, io, w->n_axis, allow_negative, &j, err);                        \
            if (st != GR_OK) return st;                                                                               \
            T *xp = x + xo + j * w->x_axis_stride;                                                                    \
            T *up = u + uo;                                                                                           \
            for (int64_t r = 0; r < row; r++, xp++, up++) BODY;                                                       \
            for (int d = rank - 1; d >= 0; d--) {                                                                     \
                xo += w->xs[d];                                                                                       \
                io += w->is[d];                                                                                       \
                uo += w->us[d];                                                                                       \
                if (++cnt[d] < w->dims[d]) break;                                                                     \
                xo -= w->xs[d] * w->dims[d];                                                                          \
                io -= w->is[d] * w->dims[d];                                                                          \
                uo -= w->us[d] * w->dims[d];                                                                          \
                cnt[d] = 0;                                                                                           \
            }                                                                                                         \
        }                                                                                                             \
        return GR_OK;                                                                                                 \
    }

WALK_IMPL(gather_f32, float, *up = *xp)
WALK_IMPL(gather_f64, double, *up = *xp)
WALK_IMPL(scatter_f32, float, *xp += *up)
WALK_IMPL(scatter_f64, double, *xp += *up)

/* Gather from operand 0 into k's output along w (indices: operand 1). */
static gr_status run_gather(const gr_kernel *k, const walk *w, int allow_negative, gr_error *err) {
    if (k->dt == GR_F32)
        return gather_f32(k, w, 1, allow_negative, (float *)(uintptr_t)k->in[0], (float *)k->out, err);
    return gather_f64(k, w, 1, allow_negative, (double *)(uintptr_t)k->in[0], (double *)k->out, err);
}

/* ---- shared: shapes ---------------------------------------------------- */

/* Size of a broadcast dim: the one of a and b that is not 1 (they are
 * equal or one is 1). */
static int64_t bdim(int64_t a, int64_t b) { return a == 1 ? b : a; }

/* 1 when dims a and b broadcast (equal, or one is 1). */
static int bcompat(int64_t a, int64_t b) { return a == b || a == 1 || b == 1; }

/* The 3-dim view [before axis, along axis, after axis] of s. */
static gr_shape view3(const gr_shape *s, int axis) {
    gr_shape v = {3, {1, s->dims[axis], 1}};
    for (int d = 0; d < axis; d++) v.dims[0] *= s->dims[d];
    for (int d = axis + 1; d < s->rank; d++) v.dims[2] *= s->dims[d];
    return v;
}

/* [1, n, 1]. */
static gr_shape col3(int64_t n) {
    gr_shape v = {3, {1, n, 1}};
    return v;
}

/* ---- take_along_axis(x, indices, axis) --------------------------------- */

/* The required axis of node id normalised against rank into *axis. */
static gr_status node_axis(gr_graph *g, int id, int rank, int *axis, gr_error *err) {
    int a = g->nodes[id].attrs->axis;
    if (!gr_axis_norm(a, rank, axis))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "axis", "axis %d is out of range for rank %d", a, rank);
    return GR_OK;
}

static gr_status take_along_axis_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0), *i = IN_SHAPE(g, id, 1);
    char a[160], b[160];
    int axis;
    if (x->rank < 1 || x->rank != i->rank)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL, "indices %s need the rank of x %s (at least 1)",
                          gr_shape_str(i, a, sizeof a), gr_shape_str(x, b, sizeof b));
    gr_status st = node_axis(g, id, x->rank, &axis, err);
    if (st != GR_OK) return st;
    gr_shape out = *i;
    for (int d = 0; d < x->rank; d++) {
        if (d == axis) continue;
        if (!bcompat(x->dims[d], i->dims[d]))
            return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL,
                              "indices %s do not broadcast against x %s outside axis %d",
                              gr_shape_str(i, a, sizeof a), gr_shape_str(x, b, sizeof b), axis);
        out.dims[d] = bdim(x->dims[d], i->dims[d]);
    }
    return gr_node_set_shape(g, id, &out, err);
}

static gr_status take_along_axis_forward(const gr_kernel *k, gr_error *err) {
    const gr_node *n = k->n;
    walk w;
    walk_init(&w, &n->shape, &k->g->nodes[n->in[0]].shape, &k->g->nodes[n->in[1]].shape, &n->shape,
              n->attrs->axis < 0 ? n->attrs->axis + n->shape.rank : n->attrs->axis);
    return run_gather(k, &w, 1, err);
}

/* scatter_add(zeros of shape xs, idx, u, axis): the adjoint of a gather. */
static int scatter_into_zeros(gr_graph *g, const gr_shape *xs, int idx, int u, int axis) {
    gr_attrs at;
    memset(&at, 0, sizeof at);
    at.set = A(GR_ATTR_AXIS);
    at.axis = axis;
    return gr_build_apply(g, &gr_op_scatter_add, gr_build_fill(g, xs, 0.0), idx, u, &at);
}

static void take_along_axis_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    if (!need[0]) return;
    gr_shape xs = *IN_SHAPE(g, id, 0);
    grads[0] = scatter_into_zeros(g, &xs, g->nodes[id].in[1], grad, g->nodes[id].attrs->axis);
}

/* The same op as node id over tangent t of operand 0 (its other operands
 * and attributes unchanged). */
static int same_op_on_tangent(gr_graph *g, int id, int t) {
    gr_attrs at = *g->nodes[id].attrs;
    return gr_build_apply(g, g->nodes[id].op, t, g->nodes[id].in[1], -1, &at);
}

static int gather_jvp(gr_graph *g, int id, const int *t) { return t[0] < 0 ? -1 : same_op_on_tangent(g, id, t[0]); }

const gr_op gr_op_take_along_axis = {
    .name = "take_along_axis", .arity = 2, .attrs = A(GR_ATTR_AXIS), .required = A(GR_ATTR_AXIS), .nondiff = 2,
    .doc = "y[p] = x[p with axis = indices[p]] (NumPy's take_along_axis, torch.take_along_dim / gather): indices "
           "have x's rank and broadcast against x outside axis; y has the broadcast shape with indices' size "
           "along axis. Indices are whole numbers in [-n, n) (negative from the end, NumPy's rule); others are a "
           "run-time error. dx = scatter_add(zeros, indices, g, axis): repeated indices accumulate; indices get no "
           "gradient",
    .infer = take_along_axis_infer, .forward = take_along_axis_forward, .vjp = take_along_axis_vjp,
    .jvp = gather_jvp,
};

/* ---- scatter_add(x, indices, updates, axis) ----------------------------- */

/* The iteration space of scatter_add node n: x, indices and updates
 * broadcast outside axis; indices and updates along it. */
static gr_shape scatter_space(const gr_shape *x, const gr_shape *i, const gr_shape *u, int axis) {
    gr_shape s = *u;
    for (int d = 0; d < u->rank; d++)
        s.dims[d] = d == axis ? bdim(i->dims[d], u->dims[d]) : bdim(bdim(x->dims[d], i->dims[d]), u->dims[d]);
    return s;
}

static gr_status scatter_add_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0), *i = IN_SHAPE(g, id, 1), *u = IN_SHAPE(g, id, 2);
    char a[160], b[160], c[160];
    int axis;
    if (x->rank < 1 || i->rank != x->rank || u->rank != x->rank)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL, "x %s, indices %s and updates %s need one rank >= 1",
                          gr_shape_str(x, a, sizeof a), gr_shape_str(i, b, sizeof b), gr_shape_str(u, c, sizeof c));
    gr_status st = node_axis(g, id, x->rank, &axis, err);
    if (st != GR_OK) return st;
    for (int d = 0; d < x->rank; d++) {
        int ok = bcompat(i->dims[d], u->dims[d]);
        if (d != axis) ok = ok && bcompat(x->dims[d], bdim(i->dims[d], u->dims[d]));
        if (!ok)
            return gr_fail_op(g, err, GR_E_SHAPE, id, 2, NULL,
                              "x %s, indices %s and updates %s do not broadcast at dim %d (along axis %d only "
                              "indices and updates must)",
                              gr_shape_str(x, a, sizeof a), gr_shape_str(i, b, sizeof b),
                              gr_shape_str(u, c, sizeof c), d, axis);
    }
    return gr_node_set_shape(g, id, x, err);
}

static gr_status scatter_add_forward(const gr_kernel *k, gr_error *err) {
    const gr_node *n = k->n;
    const gr_graph *g = k->g;
    const gr_shape *x = &g->nodes[n->in[0]].shape, *i = &g->nodes[n->in[1]].shape, *u = &g->nodes[n->in[2]].shape;
    int axis = n->attrs->axis < 0 ? n->attrs->axis + x->rank : n->attrs->axis;
    if (k->out != k->in[0]) gr_copy_chunked(k, k->out, k->in[0], n->numel);
    gr_shape space = scatter_space(x, i, u, axis);
    walk w;
    walk_init(&w, &space, x, i, u, axis);
    if (k->dt == GR_F32) return scatter_f32(k, &w, 1, 1, (float *)k->out, (float *)(uintptr_t)k->in[2], err);
    return scatter_f64(k, &w, 1, 1, (double *)k->out, (double *)(uintptr_t)k->in[2], err);
}

static void scatter_add_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    if (need[0]) grads[0] = grad;
    if (need[2]) {
        gr_attrs at = *g->nodes[id].attrs;
        int gathered = gr_build_apply(g, &gr_op_take_along_axis, grad, g->nodes[id].in[1], -1, &at);
        if (gathered < 0) return;
        /* up to the walk's space, so autodiff's sum down to updates is one sum_to */
        gr_shape gs = *gr_shape_of(g, gathered), us = *IN_SHAPE(g, id, 2), full;
        if (gr_shape_broadcast(&gs, &us, &full, NULL) == GR_OK) gathered = gr_build_expand(g, gathered, &full);
        grads[2] = gathered;
    }
}

static int scatter_add_jvp(gr_graph *g, int id, const int *t) {
    gr_shape xs = *IN_SHAPE(g, id, 0), us = *IN_SHAPE(g, id, 2);
    int tx = t[0] >= 0 ? t[0] : gr_build_fill(g, &xs, 0.0);
    int tu = t[2] >= 0 ? t[2] : gr_build_fill(g, &us, 0.0);
    gr_attrs at = *g->nodes[id].attrs;
    return gr_build_apply(g, &gr_op_scatter_add, tx, g->nodes[id].in[1], tu, &at);
}

const gr_op gr_op_scatter_add = {
    .name = "scatter_add", .arity = 3, .attrs = A(GR_ATTR_AXIS), .required = A(GR_ATTR_AXIS), .nondiff = 2,
    .doc = "y = x, then y[p with axis = indices[p]] += updates[p] for every p (torch.scatter_add, NumPy's "
           "add.at along an axis): x, indices and updates share one rank; indices and updates broadcast, and "
           "outside axis also against x (where x has size 1 the updates accumulate into it). Repeated indices "
           "accumulate; indices are whole numbers in [-n, n) (negative from the end). dx = g; dupdates = "
           "take_along_axis(g, indices, axis) summed to updates' shape; indices get no gradient",
    .infer = scatter_add_infer, .forward = scatter_add_forward, .vjp = scatter_add_vjp, .jvp = scatter_add_jvp,
};

/* ---- take(x, indices, axis) -------------------------------------------- */

/* take's axis for node n over x of rank r: the attribute normalised, or -1
 * when absent (take from the flattened x). */
static int take_axis(const gr_node *n, int r) {
    if (!(n->attrs->set & A(GR_ATTR_AXIS))) return -1;
    return n->attrs->axis < 0 ? n->attrs->axis + r : n->attrs->axis;
}

/* The [before, along, after] view of take's x (flattened: [1, numel, 1]). */
static gr_shape take_view(const gr_shape *x, int axis) {
    if (axis >= 0) return view3(x, axis);
    int64_t n = 1;
    for (int d = 0; d < x->rank; d++) n *= x->dims[d];
    return col3(n);
}

static gr_status take_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0), *i = IN_SHAPE(g, id, 1);
    if (!(g->nodes[id].attrs->set & A(GR_ATTR_AXIS))) return gr_node_set_shape(g, id, i, err);
    int axis;
    if (x->rank < 1)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, "axis", "x is a scalar: it has no axis to take along");
    gr_status st = node_axis(g, id, x->rank, &axis, err);
    if (st != GR_OK) return st;
    if (x->rank - 1 + i->rank > g->lim.max_rank)
        return gr_fail_op(g, err, GR_E_LIMIT, id, 1, NULL, "the result would have rank %d, over the limit of %d",
                          x->rank - 1 + i->rank, g->lim.max_rank);
    gr_shape out = {0, {0}};
    for (int d = 0; d < axis; d++) out.dims[out.rank++] = x->dims[d];
    for (int d = 0; d < i->rank; d++) out.dims[out.rank++] = i->dims[d];
    for (int d = axis + 1; d < x->rank; d++) out.dims[out.rank++] = x->dims[d];
    return gr_node_set_shape(g, id, &out, err);
}

/* Gather for take and embedding: x viewed as [before, n, after], the K
 * indices as [1, K, 1], the output as [before, K, after]. */
static gr_status take_run(const gr_kernel *k, gr_shape xv, int allow_negative, gr_error *err) {
    int64_t K = k->g->nodes[k->n->in[1]].numel;
    gr_shape iv = col3(K), ov = {3, {xv.dims[0], K, xv.dims[2]}};
    walk w;
    walk_init(&w, &ov, &xv, &iv, &ov, 1);
    return run_gather(k, &w, allow_negative, err);
}

static gr_status take_forward(const gr_kernel *k, gr_error *err) {
    const gr_shape *x = &k->g->nodes[k->n->in[0]].shape;
    return take_run(k, take_view(x, take_axis(k->n, x->rank)), 1, err);
}

/* dx of a gather through the view: scatter_add of g (as [before, K,
 * after]) into zeros of xv along the K indices, then x's shape. */
static int take_view_vjp(gr_graph *g, int grad, int idx, const gr_shape *x, gr_shape xv) {
    int64_t K = 1;
    const gr_shape *is = gr_shape_of(g, idx);
    for (int d = 0; d < is->rank; d++) K *= is->dims[d];
    gr_shape iv = col3(K), gv = {3, {xv.dims[0], K, xv.dims[2]}}, xs = *x;
    int gr = gr_build_reshape(g, grad, &gv), ir = gr_build_reshape(g, idx, &iv);
    return gr_build_reshape(g, scatter_into_zeros(g, &xv, ir, gr, 1), &xs);
}

static void take_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    if (!need[0]) return;
    gr_shape x = *IN_SHAPE(g, id, 0);
    grads[0] = take_view_vjp(g, grad, g->nodes[id].in[1], &x, take_view(&x, take_axis(&g->nodes[id], x.rank)));
}

const gr_op gr_op_take = {
    .name = "take", .arity = 2, .attrs = A(GR_ATTR_AXIS), .nondiff = 2,
    .doc = "y = x indexed along axis by an index tensor of any shape (NumPy's take; ONNX Gather): y's shape is "
           "x's before axis, then the indices', then x's after axis; without axis x is flattened first and y has "
           "the indices' shape (torch.take). Indices are whole numbers in [-n, n) (negative from the end, "
           "NumPy's rule); others are a run-time error. dx = scatter_add of g into zeros at the indices "
           "(repeated indices accumulate); indices get no gradient",
    .infer = take_infer, .forward = take_forward, .vjp = take_vjp, .jvp = gather_jvp,
};

/* ---- embedding(weight, indices, padding_idx) ---------------------------- */

static gr_status embedding_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *w = IN_SHAPE(g, id, 0), *i = IN_SHAPE(g, id, 1);
    const gr_attrs *at = g->nodes[id].attrs;
    if (w->rank < 1) return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "weight needs rank >= 1 (rows first)");
    if (i->rank + w->rank - 1 > g->lim.max_rank)
        return gr_fail_op(g, err, GR_E_LIMIT, id, 1, NULL, "the result would have rank %d, over the limit of %d",
                          i->rank + w->rank - 1, g->lim.max_rank);
    int64_t rows = w->dims[0];
    if ((at->set & A(GR_ATTR_PADDING_IDX)) && !(at->padding_idx >= -rows && at->padding_idx < rows))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "padding_idx",
                          "padding_idx %lld is outside [-%lld, %lld) for a weight of %lld rows",
                          (long long)at->padding_idx, (long long)rows, (long long)rows, (long long)rows);
    gr_shape out = *i;
    for (int d = 1; d < w->rank; d++) out.dims[out.rank++] = w->dims[d];
    return gr_node_set_shape(g, id, &out, err);
}

static gr_status embedding_forward(const gr_kernel *k, gr_error *err) {
    const gr_shape *w = &k->g->nodes[k->n->in[0]].shape;
    return take_run(k, view3(w, 0), 0, err);
}

static void embedding_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    if (!need[0]) return;
    gr_shape w = *IN_SHAPE(g, id, 0);
    int idx = g->nodes[id].in[1];
    const gr_attrs *at = g->nodes[id].attrs;
    if (at->set & A(GR_ATTR_PADDING_IDX)) {
        /* rows looked up at padding_idx send no gradient: g is 0 there */
        int64_t p = at->padding_idx < 0 ? at->padding_idx + w.dims[0] : at->padding_idx;
        gr_shape is = *gr_shape_of(g, idx);
        for (int d = 1; d < w.rank; d++) is.dims[is.rank++] = 1;
        int at_pad = gr_build_binary(g, &gr_op_equal, gr_build_reshape(g, idx, &is), gr_build_scalar(g, (double)p));
        grad = gr_build_apply(g, &gr_op_where, at_pad, gr_build_scalar(g, 0.0), grad, NULL);
    }
    grads[0] = take_view_vjp(g, grad, idx, &w, view3(&w, 0));
}

const gr_op gr_op_embedding = {
    .name = "embedding", .arity = 2, .attrs = A(GR_ATTR_PADDING_IDX), .nondiff = 2,
    .doc = "y[i..., :] = weight[indices[i...], :] (torch.embedding(weight, indices)): y's shape is the indices' "
           "then weight's after its first dim. Indices are whole numbers in [0, rows) as torch (negative ones are "
           "a run-time error). dweight = scatter_add of g into zeros at the indices (repeated indices "
           "accumulate), except that with padding_idx (negative counts from the end) the lookups of that row send "
           "no gradient, as torch; the tangent is the lookup of the weight's tangent (padding_idx plays no part, "
           "as torch's forward mode); indices get no gradient",
    .infer = embedding_infer, .forward = embedding_forward, .vjp = embedding_vjp, .jvp = gather_jvp,
};

/* ---- slice(x, starts, ends, axes, steps) and slice_scatter -------------- */

/* Where a slice of x reads: per dim of x its first index, its step and
 * its length (dims not sliced: 0, 1, the dim). */
typedef struct slice_plan {
    int64_t start[GR_MAX_RANK], step[GR_MAX_RANK];
    gr_shape out;   /* the lengths */
} slice_plan;

/* ONNX Slice's rule for one axis of size d: negative start and end count
 * from the end, then clamp to [0, d] (step > 0) or [0, d-1] and [-1, d-1]
 * (step < 0); the length is the count of start, start+step, ... before end. */
static void slice_axis(int64_t d, int64_t start, int64_t end, int64_t step, int64_t *first, int64_t *len) {
    if (start < 0) start += d;
    if (end < 0) end += d;
    if (step > 0) {
        start = start < 0 ? 0 : start > d ? d : start;
        end = end < 0 ? 0 : end > d ? d : end;
        *len = end > start ? (end - start - 1) / step + 1 : 0;
    } else {
        start = start < 0 ? 0 : start > d - 1 ? d - 1 : start;
        end = end < -1 ? -1 : end > d - 1 ? d - 1 : end;
        *len = start > end ? (start - end - 1) / -step + 1 : 0;
    }
    *first = *len > 0 ? start : 0;
}

/* The plan of a slice with attributes at over x; GR_E_ARG naming the
 * attribute for mismatched lists, a zero step, a bad or repeated axis. */
static gr_status slice_plan_make(gr_graph *g, int id, const gr_shape *x, const gr_attrs *at, slice_plan *p,
                                 gr_error *err) {
    int n = at->nstarts;
    if (at->nends != n)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "ends", "ends has %d entries; starts has %d", at->nends, n);
    if ((at->set & A(GR_ATTR_AXES)) && at->naxes != n)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "axes", "axes has %d entries; starts has %d", at->naxes, n);
    if ((at->set & A(GR_ATTR_STEPS)) && at->nsteps != n)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "steps", "steps has %d entries; starts has %d", at->nsteps, n);
    if (!(at->set & A(GR_ATTR_AXES)) && n > x->rank)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "starts", "starts has %d entries; x has rank %d", n, x->rank);
    p->out = *x;
    for (int d = 0; d < x->rank; d++) {
        p->start[d] = 0;
        p->step[d] = 1;
    }
    unsigned seen = 0;
    for (int e = 0; e < n; e++) {
        int axis = e;
        if ((at->set & A(GR_ATTR_AXES)) && !gr_axis_norm(at->axes[e], x->rank, &axis))
            return gr_fail_op(g, err, GR_E_ARG, id, -1, "axes", "axis %d is out of range for rank %d", at->axes[e],
                              x->rank);
        if (seen & (1u << axis))
            return gr_fail_op(g, err, GR_E_ARG, id, -1, "axes", "axis %d is sliced twice", axis);
        seen |= 1u << axis;
        int64_t step = (at->set & A(GR_ATTR_STEPS)) ? at->steps[e] : 1;
        if (step == 0) return gr_fail_op(g, err, GR_E_ARG, id, -1, "steps", "step %d is 0", e);
        p->step[axis] = step;
        slice_axis(x->dims[axis], at->starts[e], at->ends[e], step, &p->start[axis], &p->out.dims[axis]);
    }
    return GR_OK;
}

static gr_status slice_infer(gr_graph *g, int id, gr_error *err) {
    slice_plan p;
    gr_attrs at = *g->nodes[id].attrs;
    gr_status st = slice_plan_make(g, id, IN_SHAPE(g, id, 0), &at, &p, err);
    return st != GR_OK ? st : gr_node_set_shape(g, id, &p.out, err);
}

/* Copy between the contiguous tensor c of plan p's shape and the elements
 * of s (of shape xs) that the plan selects: c -> s when into_strided, else
 * s -> c. One strided loop shared by the kernel threads (dims the plan
 * takes whole merge into contiguous rows). */
static void slice_copy(const gr_kernel *k, const gr_shape *xs, const slice_plan *p, char *s, char *c,
                       int into_strided) {
    size_t esz = gr_dtype_size(k->dt);
    int64_t xst[GR_MAX_RANK], st[2][GR_MAX_RANK], so = 0;
    gr_shape_strides(xs, xst);
    gr_shape_strides(&p->out, st[into_strided ? 1 : 0]);
    for (int d = 0; d < xs->rank; d++) {
        st[into_strided ? 0 : 1][d] = xst[d] * p->step[d];
        so += xst[d] * p->start[d];
    }
    if (p->out.rank == 0) { /* one element */
        into_strided ? memcpy(s + (size_t)so * esz, c, esz) : memcpy(c, s + (size_t)so * esz, esz);
        return;
    }
    gr_loop L;
    gr_loop_strided(&L, &p->out, 2, (const int64_t(*)[GR_MAX_RANK])st);
    L.cancel = k->cancel;
    void *base[2] = {into_strided ? s + (size_t)so * esz : c, into_strided ? c : s + (size_t)so * esz};
    gr_loop_run_shared(&L, base, esz, gr_copy_row(k->dt), NULL);
}

/* The plan of slice or slice_scatter node n (already checked by infer). */
static void node_plan(const gr_kernel *k, slice_plan *p) {
    gr_attrs at = *k->n->attrs;
    slice_plan_make((gr_graph *)(uintptr_t)k->g, (int)(k->n - k->g->nodes), &k->g->nodes[k->n->in[0]].shape, &at,
                    p, NULL);
}

static gr_status slice_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    slice_plan p;
    node_plan(k, &p);
    slice_copy(k, &k->g->nodes[k->n->in[0]].shape, &p, (char *)(uintptr_t)k->in[0], k->out, 0);
    return GR_OK;
}

/* slice_scatter(x, src) with node id's slice attributes. */
static int build_slice_scatter(gr_graph *g, int id, int x, int src) {
    gr_attrs at = *g->nodes[id].attrs;
    return gr_build_apply(g, &gr_op_slice_scatter, x, src, -1, &at);
}

static int build_slice(gr_graph *g, int id, int x) {
    gr_attrs at = *g->nodes[id].attrs;
    return gr_build_apply(g, &gr_op_slice, x, -1, -1, &at);
}

static void slice_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_shape xs = *IN_SHAPE(g, id, 0);
    grads[0] = build_slice_scatter(g, id, gr_build_fill(g, &xs, 0.0), grad);
}

static int slice_jvp(gr_graph *g, int id, const int *t) { return build_slice(g, id, t[0]); }

const gr_op gr_op_slice = {
    .name = "slice", .arity = 1,
    .attrs = A(GR_ATTR_STARTS) | A(GR_ATTR_ENDS) | A(GR_ATTR_AXES) | A(GR_ATTR_STEPS),
    .required = A(GR_ATTR_STARTS) | A(GR_ATTR_ENDS),
    .doc = "y = x[start:end:step] along each axis of axes (absent: the first len(starts) axes), ONNX Slice's rule "
           "(NumPy's basic slicing): negative starts and ends count from the end and are then clamped to the dim "
           "(for a negative step to [0, d-1] and [-1, d-1], so the slice can run down to index 0); an empty range "
           "gives a dim of 0; steps are not 0. dx = g placed back into zeros (slice_scatter)",
    .infer = slice_infer, .forward = slice_forward, .vjp = slice_vjp, .jvp = slice_jvp,
};

static gr_status slice_scatter_infer(gr_graph *g, int id, gr_error *err) {
    slice_plan p;
    gr_attrs at = *g->nodes[id].attrs;
    const gr_shape *x = IN_SHAPE(g, id, 0), *src = IN_SHAPE(g, id, 1);
    gr_status st = slice_plan_make(g, id, x, &at, &p, err);
    if (st != GR_OK) return st;
    if (!gr_shape_equal(&p.out, src)) {
        char a[160], b[160];
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL, "src has shape %s; the slice it fills has shape %s",
                          gr_shape_str(src, a, sizeof a), gr_shape_str(&p.out, b, sizeof b));
    }
    return gr_node_set_shape(g, id, x, err);
}

static gr_status slice_scatter_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    slice_plan p;
    node_plan(k, &p);
    if (k->out != k->in[0]) gr_copy_chunked(k, k->out, k->in[0], k->n->numel);
    slice_copy(k, &k->n->shape, &p, k->out, (char *)(uintptr_t)k->in[1], 1);
    return GR_OK;
}

static void slice_scatter_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    if (need[0]) {
        gr_shape ss = *IN_SHAPE(g, id, 1);
        grads[0] = build_slice_scatter(g, id, grad, gr_build_fill(g, &ss, 0.0));
    }
    if (need[1]) grads[1] = build_slice(g, id, grad);
}

static int slice_scatter_jvp(gr_graph *g, int id, const int *t) {
    gr_shape xs = *IN_SHAPE(g, id, 0), ss = *IN_SHAPE(g, id, 1);
    int tx = t[0] >= 0 ? t[0] : gr_build_fill(g, &xs, 0.0);
    int ts = t[1] >= 0 ? t[1] : gr_build_fill(g, &ss, 0.0);
    return build_slice_scatter(g, id, tx, ts);
}

/* Summing the gradients of slices. The VJP of a step-1 slice along one
 * axis is src put into zeros; two such along one axis whose ranges meet sum
 * to the concat of their srcs put into zeros, or, covering the axis, to the
 * concat itself: the gradient of q, k and v sliced from one projection is
 * one concat, not three fills, three scatters and two adds. */
typedef struct padded_slice {
    int axis;
    int64_t start, len; /* the range along axis */
    int src;
} padded_slice;

/* 1 with *ps filled when node id is slice_scatter(zeros, src) along one
 * axis with step 1 and a nonempty range. */
static int padded_slice_of(gr_graph *g, int id, padded_slice *ps) {
    const gr_node *n = &g->nodes[id], *base = &g->nodes[n->in[0]];
    if (n->op != &gr_op_slice_scatter || base->kind != GR_OPNODE || base->op != &gr_op_fill ||
        base->attrs->value != 0)
        return 0;
    slice_plan p;
    gr_attrs at = *n->attrs;
    if (slice_plan_make(g, id, &n->shape, &at, &p, NULL) != GR_OK) return 0;
    ps->axis = -1;
    for (int d = 0; d < n->shape.rank; d++) {
        if (p.step[d] != 1) return 0;
        if (p.out.dims[d] == n->shape.dims[d]) continue;
        if (ps->axis >= 0) return 0;
        ps->axis = d;
    }
    if (ps->axis < 0 || p.out.dims[ps->axis] == 0) return 0;
    ps->start = p.start[ps->axis];
    ps->len = p.out.dims[ps->axis];
    ps->src = n->in[1];
    return 1;
}

enum { MERGE_MAX_PARTS = 64 }; /* most srcs one merged concat takes */

extern const gr_op gr_op_concat;

/* concat node c's axis attribute (default 0). */
static int join_axis_of(const gr_node *c) { return (c->attrs->set & A(GR_ATTR_AXIS)) ? c->attrs->axis : 0; }

/* Append src to parts (a concat along axis contributes its operands). */
static int add_part(const gr_graph *g, int src, int axis, int *parts, int n) {
    const gr_node *c = &g->nodes[src];
    int ax;
    if (c->kind == GR_OPNODE && c->op == &gr_op_concat && gr_axis_norm(join_axis_of(c), c->shape.rank, &ax) &&
        ax == axis) {
        const int *in = gr_node_inputs(c);
        if (n + c->n_in > MERGE_MAX_PARTS) return -1;
        for (int i = 0; i < c->n_in; i++) parts[n++] = in[i];
        return n;
    }
    if (n + 1 > MERGE_MAX_PARTS) return -1;
    parts[n++] = src;
    return n;
}

static int slice_scatter_add_merge(gr_graph *g, int a, int b) {
    padded_slice lo, hi;
    if (!padded_slice_of(g, a, &lo) || !padded_slice_of(g, b, &hi) || lo.axis != hi.axis) return -1;
    if (hi.start + hi.len == lo.start) {
        padded_slice t = lo;
        lo = hi;
        hi = t;
    } else if (lo.start + lo.len != hi.start) {
        return -1;
    }
    int parts[MERGE_MAX_PARTS], n = add_part(g, lo.src, lo.axis, parts, 0);
    if (n > 0) n = add_part(g, hi.src, lo.axis, parts, n);
    if (n < 0) return -1;
    gr_attrs cat = {0};
    cat.set = A(GR_ATTR_AXIS);
    cat.axis = lo.axis;
    int joined = gr_build_apply_n(g, &gr_op_concat, parts, n, &cat);
    gr_shape xs = g->nodes[a].shape;
    if (lo.start == 0 && lo.len + hi.len == xs.dims[lo.axis]) return joined;
    gr_attrs at = {0};
    at.set = A(GR_ATTR_STARTS) | A(GR_ATTR_ENDS) | A(GR_ATTR_AXES);
    at.nstarts = at.nends = at.naxes = 1;
    at.starts[0] = lo.start;
    at.ends[0] = lo.start + lo.len + hi.len;
    at.axes[0] = lo.axis;
    return gr_build_apply(g, &gr_op_slice_scatter, gr_build_fill(g, &xs, 0.0), joined, -1, &at);
}

const gr_op gr_op_slice_scatter = {
    .name = "slice_scatter", .arity = 2,
    .attrs = A(GR_ATTR_STARTS) | A(GR_ATTR_ENDS) | A(GR_ATTR_AXES) | A(GR_ATTR_STEPS),
    .required = A(GR_ATTR_STARTS) | A(GR_ATTR_ENDS),
    .doc = "y = x with the slice that slice(x, starts, ends, axes, steps) reads replaced by src (of that slice's "
           "shape; torch.slice_scatter over several axes). dx = g with the slice zeroed; dsrc = slice(g)",
    .infer = slice_scatter_infer, .forward = slice_scatter_forward, .vjp = slice_scatter_vjp,
    .jvp = slice_scatter_jvp, .add_merge = slice_scatter_add_merge,
};

const gr_op *const gr_ops_index[] = {&gr_op_slice,     &gr_op_slice_scatter, &gr_op_take, &gr_op_take_along_axis,
                                     &gr_op_scatter_add, &gr_op_embedding,   NULL};
