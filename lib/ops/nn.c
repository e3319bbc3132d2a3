/* nn.c -- the losses and normalisers of a classifier: softmax and
 * log_softmax over an axis, cross_entropy (fused and stable, integer
 * labels, the mean over the batch or, with reduction='sum', the sum), mse, and one_hot, which cross_entropy's
 * gradient is built from. */
#include "ops.h"

#include <math.h>
#include <string.h>

/* ---- softmax / log_softmax ------------------------------------------- */

static gr_status softmax_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0);
    int ax, axis = (g->nodes[id].attrs.set & A(GR_ATTR_AXIS)) ? g->nodes[id].attrs.axis : -1;
    if (!gr_axis_norm(axis, x->rank, &ax))
        return gr_fail_op(g, err, GR_E_ARG, id, 0, "axis", "axis %d is out of range for rank %d", axis, x->rank);
    return gr_infer_same(g, id, err);
}

/* View x as (outer, n, inner) around the softmax axis. */
static void axis_view(const gr_node *n, const gr_shape *x, int64_t *outer, int64_t *len, int64_t *inner) {
    int ax = 0, axis = (n->attrs.set & A(GR_ATTR_AXIS)) ? n->attrs.axis : -1;
    gr_axis_norm(axis, x->rank, &ax);
    *outer = *inner = 1;
    for (int i = 0; i < ax; i++) *outer *= x->dims[i];
    for (int i = ax + 1; i < x->rank; i++) *inner *= x->dims[i];
    *len = x->dims[ax];
}

/* for j in [0, count): BODY, in pieces of GR_CHUNK_ELEMS in order, with a
 * look at kernel k's cancel flag before each piece (none once raised: the
 * output is then partial, and the executor reports the cancellation). */
#define J_PIECES(count, ...)                                                                                          \
    for (int64_t j0 = 0; j0 < (count) && !gr_cancelled(k->cancel); j0 += GR_CHUNK_ELEMS) {                           \
        int64_t j1 = (count) - j0 < GR_CHUNK_ELEMS ? (count) : j0 + GR_CHUNK_ELEMS;                                   \
        for (int64_t j = j0; j < j1; j++) __VA_ARGS__;                                                                \
    }

/* y = softmax (logmode 0) or log_softmax (logmode 1) along stride inner. */
#define SOFTMAX_LOOP(T, EXP, LOG)                                                                                     \
    do {                                                                                                              \
        const T *x = k->in[0];                                                                                        \
        T *y = k->out;                                                                                                \
        for (int64_t o = 0; o < outer; o++)                                                                           \
            for (int64_t i = 0; i < inner; i++) {                                                                     \
                if (gr_cancelled(k->cancel)) return;                                                                  \
                const T *xr = x + o * len * inner + i;                                                                \
                T *yr = y + o * len * inner + i;                                                                      \
                T mx = -INFINITY;                                                                                     \
                J_PIECES(len, if (xr[j * inner] > mx || xr[j * inner] != xr[j * inner]) mx = xr[j * inner])          \
                if (mx == -INFINITY) mx = 0; /* all -inf: keep exp finite */                                          \
                double sum = 0;                                                                                       \
                J_PIECES(len, {                                                                                       \
                    T e = EXP(xr[j * inner] - mx);                                                                    \
                    if (!logmode) yr[j * inner] = e;                                                                  \
                    sum += e;                                                                                         \
                })                                                                                                    \
                if (logmode) {                                                                                        \
                    T lse = mx + (T)log(sum);                                                                         \
                    J_PIECES(len, yr[j * inner] = xr[j * inner] - lse)                                                \
                } else {                                                                                              \
                    T inv = (T)(1.0 / sum);                                                                           \
                    J_PIECES(len, yr[j * inner] *= inv)                                                               \
                }                                                                                                     \
            }                                                                                                         \
    } while (0)

static void softmax_run(const gr_kernel *k, int logmode) {
    int64_t outer, len, inner;
    axis_view(k->n, &k->g->nodes[k->n->in[0]].shape, &outer, &len, &inner);
    if (k->dt == GR_F32) SOFTMAX_LOOP(float, expf, logf);
    else SOFTMAX_LOOP(double, exp, log);
}

static gr_status softmax_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    softmax_run(k, 0);
    return GR_OK;
}

static gr_status log_softmax_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    softmax_run(k, 1);
    return GR_OK;
}

static int sum_axis_keep(gr_graph *g, int id, int a) {
    int ax = 0, axis = (g->nodes[id].attrs.set & A(GR_ATTR_AXIS)) ? g->nodes[id].attrs.axis : -1;
    gr_axis_norm(axis, g->nodes[id].shape.rank, &ax);
    return gr_build_sum(g, a, &ax, 1, 1);
}

/* The softmax Jacobian diag(y) - y y^T is symmetric: VJP and JVP are both
 * v -> y * (v - sum(v * y)). */
static int softmax_apply_jacobian(gr_graph *g, int id, int v) {
    int v_dot_y = sum_axis_keep(g, id, gr_build_binary(g, &gr_op_mul, v, id));
    return gr_build_binary(g, &gr_op_mul, id, gr_build_binary(g, &gr_op_sub, v, v_dot_y));
}
static void softmax_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    grads[0] = softmax_apply_jacobian(g, id, grad);
}
static int softmax_jvp(gr_graph *g, int id, const int *t) { return softmax_apply_jacobian(g, id, t[0]); }

/* log_softmax: J = I - 1 s^T, with s = exp(y). */
static void log_softmax_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    int s = gr_build_unary(g, &gr_op_exp, id);
    grads[0] = gr_build_binary(g, &gr_op_sub, grad, gr_build_binary(g, &gr_op_mul, s, sum_axis_keep(g, id, grad)));
}
static int log_softmax_jvp(gr_graph *g, int id, const int *t) {
    int s = gr_build_unary(g, &gr_op_exp, id);
    return gr_build_binary(g, &gr_op_sub, t[0], sum_axis_keep(g, id, gr_build_binary(g, &gr_op_mul, s, t[0])));
}

static int64_t softmax_flops(const gr_graph *g, const gr_node *n) { (void)g; return 4 * n->numel; }

const gr_op gr_op_softmax = {
    .name = "softmax", .arity = 1, .attrs = A(GR_ATTR_AXIS),
    .doc = "y = exp(x) / sum(exp(x)) along axis (default -1); dx = y * (g - sum(g * y, axis))",
    .infer = softmax_infer, .forward = softmax_forward, .vjp = softmax_vjp, .jvp = softmax_jvp, .flops = softmax_flops,
};
const gr_op gr_op_log_softmax = {
    .name = "log_softmax", .arity = 1, .attrs = A(GR_ATTR_AXIS),
    .doc = "y = x - log(sum(exp(x))) along axis (default -1); dx = g - exp(y) * sum(g, axis)",
    .infer = softmax_infer, .forward = log_softmax_forward, .vjp = log_softmax_vjp, .jvp = log_softmax_jvp,
    .flops = softmax_flops,
};

/* ---- labels ---------------------------------------------------------- */

/* Read label i as a class index in [0, classes); GR_E_VALUE otherwise. */
static gr_status read_label(const gr_kernel *k, int operand, int64_t i, int64_t classes, int64_t *out, gr_error *err) {
    double v = k->dt == GR_F32 ? (double)((const float *)k->in[operand])[i] : ((const double *)k->in[operand])[i];
    if (!(v >= 0 && v < (double)classes) || v != floor(v)) {
        char buf[32];
        return gr_fail(err, GR_E_VALUE, gr_node_name(k->g, (int)(k->n - k->g->nodes), buf, sizeof buf), operand,
                       "%s: label %lld is %g; labels must be whole numbers in [0, %lld)", k->n->op->name,
                       (long long)i, v, (long long)classes);
    }
    *out = (int64_t)v;
    return GR_OK;
}

/* ---- cross_entropy(logits [..., C], labels [...]) -------------------- */

static gr_status cross_entropy_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0), *y = IN_SHAPE(g, id, 1);
    char a[160], b[160];
    if (x->rank < 1) return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "logits need rank >= 1 (classes last)");
    gr_shape want = *x;
    want.rank--;
    if (!gr_shape_equal(&want, y))
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL, "labels have shape %s; logits %s need labels of shape %s",
                       gr_shape_str(y, a, sizeof a), gr_shape_str(x, b, sizeof b), gr_shape_str(&want, a, sizeof a));
    if (x->dims[x->rank - 1] == 0 && g->nodes[g->nodes[id].in[1]].numel > 0)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "logits have 0 classes");
    gr_shape s = {0};
    return gr_node_set_shape(g, id, &s, err);
}

#define CE_LOOP(T, EXP)                                                                                               \
    do {                                                                                                              \
        const T *x = k->in[0];                                                                                        \
        for (int64_t r = 0; r < rows; r++) {                                                                          \
            if ((r & 255) == 0 && gr_cancelled(k->cancel)) return GR_E_CANCELLED; /* the executor reports it */       \
            const T *xr = x + r * classes;                                                                            \
            int64_t label = 0;                                                                                            \
            gr_status st = read_label(k, 1, r, classes, &label, err);                                                 \
            if (st != GR_OK) return st;                                                                               \
            T mx = xr[0];                                                                                             \
            J_PIECES(classes, if (j > 0 && xr[j] > mx) mx = xr[j])                                                    \
            double s = 0;                                                                                             \
            J_PIECES(classes, s += EXP(xr[j] - mx))                                                                   \
            total += (double)mx + log(s) - (double)xr[label];                                                         \
        }                                                                                                             \
    } while (0)

/* 1 when node n sums its rows (reduction='sum'), 0 for the mean (the default). */
static int ce_sums(const gr_node *n) {
    return (n->attrs.set & A(GR_ATTR_REDUCTION)) && strcmp(n->attrs.reduction, "sum") == 0;
}

static gr_status cross_entropy_forward(const gr_kernel *k, gr_error *err) {
    const gr_shape *xs = &k->g->nodes[k->n->in[0]].shape;
    int64_t classes = xs->dims[xs->rank - 1];
    int64_t rows = k->g->nodes[k->n->in[1]].numel;
    double total = 0;
    if (k->dt == GR_F32) CE_LOOP(float, expf);
    else CE_LOOP(double, exp);
    double y = ce_sums(k->n) ? total : rows ? total / (double)rows : NAN;
    if (k->dt == GR_F32) *(float *)k->out = (float)y;
    else *(double *)k->out = y;
    return GR_OK;
}

static int one_hot_of(gr_graph *g, int labels, int64_t classes) {
    gr_attrs at = {0};
    at.set = A(GR_ATTR_NUM_CLASSES);
    at.num_classes = classes;
    return gr_build_apply(g, &gr_op_one_hot, labels, -1, -1, &at);
}

/* softmax(logits) - one_hot(labels), and 1/rows (1 when the rows are summed). */
static int ce_residual(gr_graph *g, int id, double *inv_rows) {
    int x = g->nodes[id].in[0], y = g->nodes[id].in[1];
    /* Read everything before building: new nodes can move g->nodes. */
    const gr_shape *xs = gr_shape_of(g, x);
    int64_t rows = g->nodes[y].numel, classes = xs->dims[xs->rank - 1];
    *inv_rows = ce_sums(&g->nodes[id]) ? 1.0 : rows ? 1.0 / (double)rows : 0;
    int probs = gr_build_unary(g, &gr_op_softmax, x);
    return gr_build_binary(g, &gr_op_sub, probs, one_hot_of(g, y, classes));
}

static void cross_entropy_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    double inv;
    int r = ce_residual(g, id, &inv);
    grads[0] = gr_build_binary(g, &gr_op_mul, r, gr_build_binary(g, &gr_op_mul, grad, gr_build_scalar(g, inv)));
}

static int cross_entropy_jvp(gr_graph *g, int id, const int *t) {
    double inv;
    int r = ce_residual(g, id, &inv);
    return gr_build_binary(g, &gr_op_mul, gr_build_sum(g, gr_build_binary(g, &gr_op_mul, r, t[0]), NULL, 0, 0),
                           gr_build_scalar(g, inv));
}

static int64_t cross_entropy_flops(const gr_graph *g, const gr_node *n) { return 4 * g->nodes[n->in[0]].numel; }

const gr_op gr_op_cross_entropy = {
    .name = "cross_entropy", .arity = 2, .nondiff = 2, .attrs = A(GR_ATTR_REDUCTION),
    .doc = "y = mean (reduction='sum': sum) over rows of logsumexp(logits) - logits[label] (labels: class indices, "
           "no gradient); dlogits = (softmax(logits) - one_hot(labels)) * g / rows (sum: * g)",
    .infer = cross_entropy_infer, .forward = cross_entropy_forward, .vjp = cross_entropy_vjp,
    .jvp = cross_entropy_jvp, .flops = cross_entropy_flops,
};

/* ---- one_hot(labels) -------------------------------------------------- */

static gr_status one_hot_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *y = IN_SHAPE(g, id, 0);
    int64_t c = g->nodes[id].attrs.num_classes;
    if (c < 0) return gr_fail_op(g, err, GR_E_ARG, id, -1, "num_classes", "num_classes is %lld", (long long)c);
    if (y->rank + 1 > GR_MAX_RANK) return gr_fail_op(g, err, GR_E_LIMIT, id, 0, NULL, "result rank too large");
    gr_shape s = *y;
    s.dims[s.rank++] = c;
    return gr_node_set_shape(g, id, &s, err);
}

static gr_status one_hot_forward(const gr_kernel *k, gr_error *err) {
    int64_t rows = k->g->nodes[k->n->in[0]].numel, classes = k->n->attrs.num_classes;
    memset(k->out, 0, (size_t)k->n->numel * gr_dtype_size(k->dt));
    for (int64_t r = 0; r < rows; r++) {
        int64_t label = 0;
        gr_status st = read_label(k, 0, r, classes, &label, err);
        if (st != GR_OK) return st;
        if (k->dt == GR_F32) ((float *)k->out)[r * classes + label] = 1;
        else ((double *)k->out)[r * classes + label] = 1;
    }
    return GR_OK;
}

const gr_op gr_op_one_hot = {
    .name = "one_hot", .arity = 1, .nondiff = 1, .attrs = A(GR_ATTR_NUM_CLASSES), .required = A(GR_ATTR_NUM_CLASSES),
    .doc = "y[..., c] = 1 where c == label else 0; no gradient",
    .infer = one_hot_infer, .forward = one_hot_forward,
};

/* ---- mse(a, b) -------------------------------------------------------- */

static gr_status mse_infer(gr_graph *g, int id, gr_error *err) {
    gr_status st = gr_infer_broadcast(g, id, err);
    if (st != GR_OK) return st;
    gr_shape s = {0};
    return gr_node_set_shape(g, id, &s, err);
}

/* Broadcast shape of the operands (the node itself is a scalar). */
static gr_shape mse_shape(const gr_graph *g, const gr_node *n) {
    gr_shape s;
    gr_shape_broadcast(&g->nodes[n->in[0]].shape, &g->nodes[n->in[1]].shape, &s, NULL);
    return s;
}

/* What the squared-difference rows share: the running sum, and the
 * kernel's cancel flag (a long row stops between two pieces once it is
 * raised; pieces in order into one sum, so results do not depend on them). */
typedef struct sqdiff_ctx {
    double acc;
    const volatile int *cancel;
} sqdiff_ctx;

#define SQDIFF_ROW(FN, T)                                                                                             \
    static void FN(void *ctx, char *const *p, const int64_t *s, int64_t n) {                                          \
        sqdiff_ctx *c = ctx;                                                                                          \
        const T *a = (const T *)p[0], *b = (const T *)p[1];                                                           \
        double acc = 0;                                                                                               \
        for (int64_t i0 = 0; i0 < n && !gr_cancelled(c->cancel); i0 += GR_CHUNK_ELEMS) {                             \
            int64_t i1 = n - i0 < GR_CHUNK_ELEMS ? n : i0 + GR_CHUNK_ELEMS;                                           \
            for (int64_t i = i0; i < i1; i++) {                                                                       \
                double d = (double)a[i * s[0]] - (double)b[i * s[1]];                                                 \
                acc += d * d;                                                                                         \
            }                                                                                                         \
        }                                                                                                             \
        c->acc += acc;                                                                                                \
    }
SQDIFF_ROW(sqdiff_row_f32, float)
SQDIFF_ROW(sqdiff_row_f64, double)

static gr_status mse_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    const gr_graph *g = k->g;
    gr_shape it = mse_shape(g, k->n);
    const gr_shape *shapes[2] = {&g->nodes[k->n->in[0]].shape, &g->nodes[k->n->in[1]].shape};
    void *base[2] = {(void *)(uintptr_t)k->in[0], (void *)(uintptr_t)k->in[1]};
    int64_t count = 1;
    for (int i = 0; i < it.rank; i++) count *= it.dims[i];
    sqdiff_ctx c = {0, k->cancel};
    gr_loop L;
    gr_loop_broadcast(&L, &it, 2, shapes);
    L.cancel = k->cancel;
    gr_loop_run(&L, base, gr_dtype_size(k->dt), k->dt == GR_F32 ? sqdiff_row_f32 : sqdiff_row_f64, &c);
    double mean = count ? c.acc / (double)count : NAN;
    if (k->dt == GR_F32) *(float *)k->out = (float)mean;
    else *(double *)k->out = mean;
    return GR_OK;
}

static double mse_scale(const gr_graph *g, int id) {
    gr_shape s = mse_shape(g, &g->nodes[id]);
    int64_t count = 1;
    for (int i = 0; i < s.rank; i++) count *= s.dims[i];
    return count ? 2.0 / (double)count : 0;
}

static void mse_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    int d = gr_build_binary(g, &gr_op_sub, g->nodes[id].in[0], g->nodes[id].in[1]);
    int ga =
        gr_build_binary(g, &gr_op_mul, d, gr_build_binary(g, &gr_op_mul, grad, gr_build_scalar(g, mse_scale(g, id))));
    if (need[0]) grads[0] = ga;
    if (need[1]) grads[1] = gr_build_unary(g, &gr_op_neg, ga);
}

static int mse_jvp(gr_graph *g, int id, const int *t) {
    int d = gr_build_binary(g, &gr_op_sub, g->nodes[id].in[0], g->nodes[id].in[1]);
    int dt = t[0] >= 0 && t[1] >= 0 ? gr_build_binary(g, &gr_op_sub, t[0], t[1])
             : t[0] >= 0            ? t[0]
                                    : gr_build_unary(g, &gr_op_neg, t[1]);
    return gr_build_binary(g, &gr_op_mul, gr_build_sum(g, gr_build_binary(g, &gr_op_mul, d, dt), NULL, 0, 0),
                     gr_build_scalar(g, mse_scale(g, id)));
}

static int64_t mse_flops(const gr_graph *g, const gr_node *n) {
    gr_shape s = mse_shape(g, n);
    int64_t c = 3;
    for (int i = 0; i < s.rank; i++) c *= s.dims[i];
    return c;
}

const gr_op gr_op_mse = {
    .name = "mse", .arity = 2,
    .doc = "y = mean((a - b)^2) over the broadcast shape; da = 2 (a - b) g / count, db = -da",
    .infer = mse_infer, .forward = mse_forward, .vjp = mse_vjp, .jvp = mse_jvp, .flops = mse_flops,
};

const gr_op *const gr_ops_nn[] = {&gr_op_softmax, &gr_op_log_softmax, &gr_op_cross_entropy, &gr_op_mse,
                                  &gr_op_one_hot, NULL};
