/* nn.c -- the losses and normalisers of a classifier: softmax and
 * log_softmax over an axis, cross_entropy (fused and stable; class-index
 * labels with ignore_index or probability targets, label_smoothing,
 * reduction 'mean', 'sum' or 'none'), mse, and one_hot, which
 * cross_entropy's gradient is built from. */
#include "groups.h"
#include "loss.h"

#include <math.h>
#include <string.h>

#include "../vmath.h"

/* Elements of shape s. */
static int64_t numel_of_shape(const gr_shape *s) {
    int64_t c = 1;
    for (int i = 0; i < s->rank; i++) c *= s->dims[i];
    return c;
}

/* ---- softmax / log_softmax ------------------------------------------- */

static gr_status softmax_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0);
    int ax, axis = (g->nodes[id].attrs->set & A(GR_ATTR_AXIS)) ? g->nodes[id].attrs->axis : -1;
    if (!gr_axis_norm(axis, x->rank, &ax))
        return gr_fail_op(g, err, GR_E_ARG, id, 0, "axis", "axis %d is out of range for rank %d", axis, x->rank);
    return gr_infer_same(g, id, err);
}

/* View x as (outer, n, inner) around the softmax axis. */
static void axis_view(const gr_node *n, const gr_shape *x, int64_t *outer, int64_t *len, int64_t *inner) {
    int ax = 0, axis = (n->attrs->set & A(GR_ATTR_AXIS)) ? n->attrs->axis : -1;
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

/* Elements per block of a float32 row's exponentials (a stack buffer). */
#define EXP_BLOCK 256

/* y[j] = e^(x[j] - shift) for j < n: gr_vexp_f32's double twin (libm). */
static void exp_row_f64(const double *x, double *y, int64_t n, double shift) {
    for (int64_t j = 0; j < n; j++) y[j] = exp(x[j] - shift);
}

/* sum of e^(x[j] - shift) over j < n, in double: float32 through
 * gr_vexp_f32 a block at a time. */
static double exp_sum_f32(const float *x, int64_t n, float shift) {
    float e[EXP_BLOCK];
    double s = 0;
    for (int64_t j0 = 0; j0 < n; j0 += EXP_BLOCK) {
        int64_t m = n - j0 < EXP_BLOCK ? n - j0 : EXP_BLOCK;
        gr_vexp_f32(x + j0, e, m, shift);
        s += gr_vsum_f32(e, m);
    }
    return s;
}
static double exp_sum_f64(const double *x, int64_t n, double shift) {
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += exp(x[j] - shift);
    return s;
}

/* y = softmax (logmode 0) or log_softmax (logmode 1) along stride inner. */
#define SOFTMAX_LOOP(T, EXP, EXP_ROW, LOG)                                                                                     \
    do {                                                                                                              \
        const T *x = k->in[0];                                                                                        \
        T *y = k->out;                                                                                                \
        for (int64_t o = o0; o < o1; o++)                                                                             \
            for (int64_t i = 0; i < inner; i++) {                                                                     \
                if (gr_cancelled(k->cancel)) return;                                                                  \
                const T *xr = x + o * len * inner + i;                                                                \
                T *yr = y + o * len * inner + i;                                                                      \
                T mx = -INFINITY;                                                                                     \
                J_PIECES(len, if (xr[j * inner] > mx || xr[j * inner] != xr[j * inner]) mx = xr[j * inner])          \
                if (mx == -INFINITY) mx = 0; /* all -inf: keep exp finite */                                          \
                double sum = 0; /* the exponentials go to y first (then overwritten in log mode) */                  \
                if (inner == 1) /* contiguous: the vectorized row, in pieces */                                       \
                    for (int64_t j0 = 0; j0 < len && !gr_cancelled(k->cancel); j0 += GR_CHUNK_ELEMS)                  \
                        EXP_ROW(xr + j0, yr + j0, len - j0 < GR_CHUNK_ELEMS ? len - j0 : GR_CHUNK_ELEMS, mx);         \
                else J_PIECES(len, yr[j * inner] = EXP(xr[j * inner] - mx))                                           \
                J_PIECES(len, sum += yr[j * inner])                                                                   \
                if (logmode) {                                                                                        \
                    T lse = mx + (T)log(sum);                                                                         \
                    J_PIECES(len, yr[j * inner] = xr[j * inner] - lse)                                                \
                } else {                                                                                              \
                    T inv = (T)(1.0 / sum);                                                                           \
                    J_PIECES(len, yr[j * inner] *= inv)                                                               \
                }                                                                                                     \
            }                                                                                                         \
    } while (0)

typedef struct softmax_job {
    const gr_kernel *k;
    int logmode;
    int64_t len, inner; /* the axis' length, and the elements after it */
} softmax_job;

/* Outer blocks [o0, o1) of a softmax job (split across threads). */
static void softmax_part(void *ctx, int64_t o0, int64_t o1) {
    const softmax_job *J = ctx;
    const gr_kernel *k = J->k;
    int logmode = J->logmode;
    int64_t len = J->len, inner = J->inner;
    if (k->dt == GR_F32 && inner == 1 && len <= GR_CHUNK_ELEMS) { /* contiguous rows: the vectorized row */
        const float *x = k->in[0];
        float *y = k->out;
        for (int64_t o = o0; o < o1; o++) {
            if (((o - o0) & 63) == 63 && gr_cancelled(k->cancel)) return;
            const float *xr = x + o * len;
            float *yr = y + o * len;
            if (!logmode) {
                gr_vsoftmax_row_f32(xr, yr, len);
                continue;
            }
            float mx = gr_vmax_f32(xr, len);
            if (mx == -INFINITY) mx = 0;
            gr_vexp_f32(xr, yr, len, mx);
            float lse = mx + (float)log(gr_vsum_f32(yr, len));
            for (int64_t j = 0; j < len; j++) yr[j] = xr[j] - lse;
        }
        return;
    }
    if (k->dt == GR_F32) SOFTMAX_LOOP(float, expf, gr_vexp_f32, logf);
    else SOFTMAX_LOOP(double, exp, exp_row_f64, log);
}

static void softmax_run(const gr_kernel *k, int logmode) {
    softmax_job J = {.k = k, .logmode = logmode};
    int64_t outer;
    axis_view(k->n, &k->g->nodes[k->n->in[0]].shape, &outer, &J.len, &J.inner);
    int64_t block = J.len * J.inner > 0 ? J.len * J.inner : 1; /* elements per outer block */
    gr_parallel_for(outer, (GR_PAR_GRAIN + block - 1) / block, softmax_part, &J);
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
    int ax = 0, axis = (g->nodes[id].attrs->set & A(GR_ATTR_AXIS)) ? g->nodes[id].attrs->axis : -1;
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

/* ---- cross_entropy(logits [..., C], target) --------------------------- */

/* The target is class indices of shape [...] (labels) or probabilities of
 * the logits' shape [..., C] (probs). */
static int ce_probs(const gr_graph *g, const gr_node *n) {
    return gr_shape_equal(&g->nodes[n->in[0]].shape, &g->nodes[n->in[1]].shape);
}

static double ce_smoothing(const gr_node *n) {
    return (n->attrs->set & A(GR_ATTR_LABEL_SMOOTHING)) ? n->attrs->label_smoothing : 0;
}

static gr_status cross_entropy_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0), *y = IN_SHAPE(g, id, 1);
    const gr_node *n = &g->nodes[id];
    if (x->rank < 1) return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "logits need rank >= 1 (classes last)");
    gr_shape rows = *x;
    rows.rank--;
    int probs = gr_shape_equal(x, y);
    if (!probs && !gr_shape_equal(&rows, y)) {
        char a[160], b[160], c[160];
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL,
                          "labels have shape %s; logits %s need class indices of shape %s or probabilities of "
                          "shape %s",
                          gr_shape_str(y, a, sizeof a), gr_shape_str(x, b, sizeof b),
                          gr_shape_str(&rows, c, sizeof c), b);
    }
    gr_reduction red = gr_node_reduction(n);
    if (red == GR_RED_BATCHMEAN)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "reduction", "reduction 'batchmean' is kl_div's alone");
    double eps = ce_smoothing(n);
    if (!(eps >= 0 && eps <= 1))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "label_smoothing", "label_smoothing is %g, outside [0, 1]", eps);
    if (probs && (n->attrs->set & A(GR_ATTR_IGNORE_INDEX)))
        return gr_fail_op(g, err, GR_E_ARG, id, 1, "ignore_index",
                          "ignore_index applies to class-index labels, not to probability targets");
    if (x->dims[x->rank - 1] == 0 && numel_of_shape(&rows) > 0)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "logits have 0 classes");
    gr_shape s = {0};
    return gr_node_set_shape(g, id, red == GR_RED_NONE ? &rows : &s, err);
}

/* The loss of one row xr (C classes): class-index form with label (-1:
 * ignored, 0), or probability form with target row tr. lse is shifted by
 * the row's max (NaN propagates). */
/* The largest of x[0..n), -inf for none, NaN passed over. */
static float max_row_float(const float *x, int64_t n) { return gr_vmax_f32(x, n); }
static double max_row_double(const double *x, int64_t n) {
    double m = -INFINITY;
    for (int64_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

/* With the softmax wanted too (p: the row of gr_kernel.side), the sum of
 * e^(x - max) over row x while p = softmax(x) as the softmax op gives it
 * (an inf max: p is NaN, and the sum is taken with shift 0, as
 * cross_entropy's rows take it). The sum goes in exp_sum_f32's blocks, so
 * the loss does not depend on the side; past EXP_BLOCK classes p may then
 * differ from the softmax op's in the last bit. */
static double side_exp_sum_float(const float *x, float *p, int64_t n, float mx) {
    if (mx == INFINITY) {
        for (int64_t j = 0; j < n; j++) p[j] = NAN;
        return exp_sum_f32(x, n, 0);
    }
    float shift = mx == -INFINITY ? 0 : mx;
    double s = 0;
    for (int64_t j0 = 0; j0 < n; j0 += EXP_BLOCK) {
        int64_t m = n - j0 < EXP_BLOCK ? n - j0 : EXP_BLOCK;
        gr_vexp_f32(x + j0, p + j0, m, shift);
        s += gr_vsum_f32(p + j0, m);
    }
    gr_vscale_f32(p, n, (float)(1.0 / s));
    return s;
}
static double side_exp_sum_double(const double *x, double *p, int64_t n, double mx) {
    if (mx == INFINITY) {
        for (int64_t j = 0; j < n; j++) p[j] = NAN;
        return exp_sum_f64(x, n, 0);
    }
    exp_row_f64(x, p, n, mx == -INFINITY ? 0 : mx);
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += p[j];
    double inv = 1.0 / s;
    for (int64_t j = 0; j < n; j++) p[j] *= inv;
    return s;
}

#define CE_ROW(T, EXP_SUM)                                                                                            \
    do {                                                                                                              \
        const T *xr = (const T *)k->in[0] + r * classes;                                                              \
        T raw = max_row_##T(xr, classes), mx = raw; /* NaN passed over: it reaches the sum, so the loss is NaN */    \
        if (mx == -INFINITY || mx == INFINITY) mx = 0;                                                                \
        double s = k->side ? side_exp_sum_##T(xr, (T *)k->side + r * classes, classes, raw)                           \
                           : EXP_SUM(xr, classes, mx),                                                                \
               sx = 0, lse;                                                                                           \
        lse = (double)mx + log(s);                                                                                    \
        if (!probs) {                                                                                                 \
            if (eps > 0) J_PIECES(classes, sx += (double)xr[j])                                                       \
            /* -log_softmax at the label, as PyTorch's nll of it (-0 for a certain row) */                         \
            loss = label < 0 ? 0                                                                                      \
                   : eps > 0 ? lse - (1 - eps) * (double)xr[label] - eps / (double)classes * sx                       \
                             : -(((double)xr[label] - (double)mx) - log(s));                                          \
        } else {                                                                                                      \
            const T *tr = (const T *)k->in[1] + r * classes;                                                          \
            double acc = 0;                                                                                           \
            J_PIECES(classes, {                                                                                       \
                double q = (1 - eps) * (double)tr[j] + eps / (double)classes;                                         \
                acc += q * (lse - (double)xr[j]); /* 0 * inf is NaN, as PyTorch's sum(t * log_softmax) */  \
            })                                                                                                        \
            loss = acc;                                                                                               \
        }                                                                                                             \
    } while (0)

/* Row groups of cross_entropy's forward: fixed by the row count alone, so
 * the total (summed group by group, in order) does not depend on the
 * threads that ran them. */
#define CE_GROUPS 64

typedef struct ce_job {
    const gr_kernel *k;
    int64_t rows, classes, ignore, groups;
    int probs;
    double eps;
    gr_reduction red;
    double total[CE_GROUPS];   /* each group's summed losses */
    int64_t counted[CE_GROUPS]; /* each group's rows not ignored */
    int64_t bad[CE_GROUPS];     /* each group's first row with a bad label, or -1 */
} ce_job;

/* Groups [g0, g1): each row's loss, put (reduction none) or summed into
 * its group. A bad label stops the group; the caller reports it. */
static void ce_part(void *ctx, int64_t g0, int64_t g1) {
    ce_job *J = ctx;
    const gr_kernel *k = J->k;
    int64_t classes = J->classes;
    int probs = J->probs;
    double eps = J->eps;
    for (int64_t gi = g0; gi < g1; gi++) {
        int64_t r0 = J->rows * gi / J->groups, r1 = J->rows * (gi + 1) / J->groups;
        double total = 0;
        int64_t counted = 0;
        J->bad[gi] = -1;
        for (int64_t r = r0; r < r1; r++) {
            if (gr_cancelled(k->cancel)) break;
            int64_t label = -1;
            if (!probs) {
                int got = gr_read_class(k, 1, r, classes, &J->ignore, &label, NULL);
                if (got < 0) {
                    J->bad[gi] = r;
                    break;
                }
                if (!got) label = -1;
                counted += got;
            }
            double loss = 0;
            if (probs || label >= 0 || k->side) { /* the side's softmax has every row */
                if (k->dt == GR_F32) CE_ROW(float, exp_sum_f32);
                else CE_ROW(double, exp_sum_f64);
            }
            if (J->red == GR_RED_NONE) gr_put(k->dt, k->out, r, loss);
            else total += loss;
        }
        J->total[gi] = total;
        J->counted[gi] = counted;
    }
}

static gr_status cross_entropy_forward(const gr_kernel *k, gr_error *err) {
    const gr_shape *xs = &k->g->nodes[k->n->in[0]].shape;
    ce_job J = {.k = k, .classes = xs->dims[xs->rank - 1], .probs = ce_probs(k->g, k->n), .eps = ce_smoothing(k->n),
                .ignore = gr_node_ignore_index(k->n), .red = gr_node_reduction(k->n)};
    gr_shape row_shape = *xs;
    row_shape.rank--;
    J.rows = numel_of_shape(&row_shape);
    J.groups = J.rows < CE_GROUPS ? J.rows : CE_GROUPS;
    int64_t per_group = J.groups > 0 ? J.rows / J.groups * (J.classes > 0 ? J.classes : 1) : 1;
    if (J.groups > 0) gr_parallel_for(J.groups, (GR_PAR_GRAIN + per_group - 1) / per_group, ce_part, &J);
    if (gr_cancelled(k->cancel)) return GR_E_CANCELLED; /* the executor reports it */
    double total = 0;
    int64_t counted = 0;
    for (int64_t gi = 0; gi < J.groups; gi++) {
        if (J.bad[gi] >= 0) { /* the first bad label, read again for its message */
            int64_t label;
            gr_read_class(k, 1, J.bad[gi], J.classes, &J.ignore, &label, err);
            return err ? err->code : GR_E_VALUE;
        }
        total += J.total[gi];
        counted += J.counted[gi];
    }
    if (J.red == GR_RED_NONE) return GR_OK;
    /* 'mean' divides by the counted rows (probability targets: all rows); over none it is 0/0 = NaN. */
    double den = J.probs ? (double)J.rows : (double)counted;
    gr_put(k->dt, k->out, 0, J.red == GR_RED_SUM ? total : total / den);
    return GR_OK;
}

extern const gr_op gr_op_stop_gradient, gr_op_maximum;

static int one_hot_of(gr_graph *g, int labels, int64_t classes, int64_t ignore) {
    gr_attrs at = {0};
    at.set = A(GR_ATTR_NUM_CLASSES) | A(GR_ATTR_IGNORE_INDEX);
    at.num_classes = classes;
    at.ignore_index = ignore;
    return gr_build_apply(g, &gr_op_one_hot, labels, -1, -1, &at);
}

/* The one_hot of the class-index labels of node id (cross_entropy or its
 * backward), *mass its row sums [..., 1] (1 on counted rows, 0 on ignored
 * ones) and *den what 'mean' divides by: the counted rows, at least 1 (with
 * every row ignored the gradient is 0, PyTorch's, not 0 * (g / 0)). */
static int ce_label_one_hot(gr_graph *g, int id, int *mass, int *den) {
    int x = g->nodes[id].in[0], y = g->nodes[id].in[1], last = gr_shape_of(g, x)->rank - 1;
    int64_t classes = gr_shape_of(g, x)->dims[last], ignore = gr_node_ignore_index(&g->nodes[id]);
    int oh = one_hot_of(g, y, classes, ignore);
    *mass = gr_build_sum(g, oh, &last, 1, 1);
    *den = gr_build_binary(g, &gr_op_maximum, gr_build_sum(g, *mass, NULL, 0, 0), gr_build_scalar(g, 1));
    return oh;
}

/* d loss_row / d logits for every row, [..., C]: softmax(x) * sum(q) - q,
 * with q the smoothed target (labels: (1 - eps) one_hot + eps/C on counted
 * rows, 0 on ignored ones; probabilities: (1 - eps) t + eps/C). *den is
 * what 'mean' divides by: the counted rows (a node) or -1 with *rows set. */
static int ce_row_grad(gr_graph *g, int id, int *den) {
    int x = g->nodes[id].in[0], y = g->nodes[id].in[1];
    const gr_node *n = &g->nodes[id];
    int probs = ce_probs(g, n), last = gr_shape_of(g, x)->rank - 1;
    double eps = ce_smoothing(n);
    int64_t classes = gr_shape_of(g, x)->dims[last];
    int q, mass;
    if (probs) {
        y = gr_build_unary(g, &gr_op_stop_gradient, y); /* the target is nondiff at every order */
        q = eps > 0 ? gr_build_binary(g, &gr_op_add, gr_build_binary(g, &gr_op_mul, y, gr_build_scalar(g, 1 - eps)),
                                      gr_build_scalar(g, eps / (double)classes))
                    : y;
        mass = gr_build_sum(g, q, &last, 1, 1);
        *den = -1;
    } else {
        int oh = ce_label_one_hot(g, id, &mass, den);
        q = eps > 0 ? gr_build_binary(g, &gr_op_add, gr_build_binary(g, &gr_op_mul, oh, gr_build_scalar(g, 1 - eps)),
                                      gr_build_binary(g, &gr_op_mul, mass, gr_build_scalar(g, eps / (double)classes)))
                    : oh;
    }
    int probs_x = gr_build_unary(g, &gr_op_softmax, x);
    return gr_build_binary(g, &gr_op_sub, gr_build_binary(g, &gr_op_mul, probs_x, mass), q);
}

/* v (the shape of node id's loss: [] or the rows) scaled by the reduction:
 * 'none' reshapes it to [..., 1], 'mean' divides by den (a node) or by the
 * rows. */
static int ce_scale(gr_graph *g, int id, int v, int den) {
    gr_reduction red = gr_node_reduction(&g->nodes[id]);
    if (red == GR_RED_NONE) {
        gr_shape s = *gr_shape_of(g, v);
        s.dims[s.rank++] = 1;
        return gr_build_reshape(g, v, &s);
    }
    if (red == GR_RED_SUM) return v;
    if (den >= 0) return gr_build_binary(g, &gr_op_div, v, den);
    gr_shape row_shape = *gr_shape_of(g, g->nodes[id].in[0]);
    row_shape.rank--;
    int64_t rows = numel_of_shape(&row_shape);
    return gr_build_binary(g, &gr_op_mul, v, gr_build_scalar(g, rows ? 1.0 / (double)rows : NAN));
}

extern const gr_op gr_op_cross_entropy_backward;

/* Class-index labels: cross_entropy_backward of softmax(x), which the
 * forward kernel writes as it goes (writes_side); probability targets: the
 * row gradient times the scaled upstream. */
static void cross_entropy_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    if (!ce_probs(g, &g->nodes[id])) {
        int p = gr_build_unary(g, &gr_op_softmax, g->nodes[id].in[0]), y = g->nodes[id].in[1];
        grads[0] = gr_build_apply(g, &gr_op_cross_entropy_backward, p, y, grad, g->nodes[id].attrs);
        return;
    }
    int den, r = ce_row_grad(g, id, &den);
    grads[0] = gr_build_binary(g, &gr_op_mul, r, ce_scale(g, id, grad, den));
}

static int cross_entropy_jvp(gr_graph *g, int id, const int *t) {
    int den, r = ce_row_grad(g, id, &den);
    int last = gr_shape_of(g, g->nodes[id].in[0])->rank - 1;
    int rt = gr_build_binary(g, &gr_op_mul, r, t[0]);
    if (gr_node_reduction(&g->nodes[id]) == GR_RED_NONE) return gr_build_sum(g, rt, &last, 1, 0);
    return ce_scale(g, id, gr_build_sum(g, rt, NULL, 0, 0), den);
}

static int64_t cross_entropy_flops(const gr_graph *g, const gr_node *n) { return 4 * g->nodes[n->in[0]].numel; }

/* 1 when node p is the softmax over the classes of cross_entropy n's
 * logits: n's kernel computes it anyway, and writes it to gr_kernel.side. */
static int ce_writes_softmax(const gr_graph *g, const gr_node *n, const gr_node *p) {
    if (p->op != &gr_op_softmax || p->in[0] != n->in[0]) return 0;
    int rank = g->nodes[n->in[0]].shape.rank, ax = 0, axis = (p->attrs->set & A(GR_ATTR_AXIS)) ? p->attrs->axis : -1;
    return gr_axis_norm(axis, rank, &ax) && ax == rank - 1;
}

const gr_op gr_op_cross_entropy = {
    .name = "cross_entropy", .arity = 2, .nondiff = 2,
    .attrs = A(GR_ATTR_REDUCTION) | A(GR_ATTR_IGNORE_INDEX) | A(GR_ATTR_LABEL_SMOOTHING),
    .doc = "per row of logits x [..., C] (classes last): class-index labels [...] give lse(x) - (1 - s) x[label] - "
           "(s/C) sum(x), 0 where the label is ignore_index (default -100); probability targets [..., C] give "
           "sum_c q_c (lse(x) - x_c) with q = (1 - s) t + s/C (s = label_smoothing, default 0). reduction 'mean' "
           "(default: over the counted rows, NaN when none is; probability targets: over all rows), 'sum' or "
           "'none' (one per row). The target gets no gradient (PyTorch gives probability targets one); dx = "
           "(softmax(x) sum(q) - q) * g, divided as the reduction divides",
    .infer = cross_entropy_infer, .forward = cross_entropy_forward, .vjp = cross_entropy_vjp,
    .jvp = cross_entropy_jvp, .flops = cross_entropy_flops, .writes_side = ce_writes_softmax,
};

/* ---- cross_entropy_backward(p [..., C], labels [...], g) --------------- */

/* cross_entropy's VJP for class-index labels from p = softmax(x), in one
 * pass (instead of one_hot, its row sums and three products):
 * dx = (p m - q) c per row, with m = 1 on counted rows and 0 on ignored
 * ones, q = (1 - eps) one_hot + (eps/C) m, and c the upstream g as the
 * reduction scales it ('mean': g / max(counted rows, 1); 'sum': g; 'none':
 * g of the row). */

static gr_status ceb_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0), *y = IN_SHAPE(g, id, 1), *u = IN_SHAPE(g, id, 2);
    const gr_node *n = &g->nodes[id];
    char a[160], b[160], c[160];
    if (x->rank < 1) return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "p needs rank >= 1 (classes last)");
    gr_shape rows = *x, none = {0};
    rows.rank--;
    if (!gr_shape_equal(&rows, y))
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL, "labels have shape %s; p %s needs class indices of shape %s",
                          gr_shape_str(y, a, sizeof a), gr_shape_str(x, b, sizeof b), gr_shape_str(&rows, c, sizeof c));
    gr_reduction red = gr_node_reduction(n);
    if (red == GR_RED_BATCHMEAN)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "reduction", "reduction 'batchmean' is kl_div's alone");
    const gr_shape *want = red == GR_RED_NONE ? &rows : &none;
    if (!gr_shape_equal(u, want))
        return gr_fail_op(g, err, GR_E_SHAPE, id, 2, NULL, "the upstream gradient has shape %s; the loss has shape %s",
                          gr_shape_str(u, a, sizeof a), gr_shape_str(want, b, sizeof b));
    double eps = ce_smoothing(n);
    if (!(eps >= 0 && eps <= 1))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "label_smoothing", "label_smoothing is %g, outside [0, 1]", eps);
    if (x->dims[x->rank - 1] == 0 && numel_of_shape(&rows) > 0)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "p has 0 classes");
    gr_shape s = *x;
    return gr_node_set_shape(g, id, &s, err);
}

typedef struct ceb_job {
    const gr_kernel *k;
    int64_t classes, ignore;
    double eps, c; /* c: the scale of every row ('mean', 'sum') */
    int per_row;   /* 'none': row r's scale is g[r] */
} ceb_job;

/* Rows [r0, r1) of a job whose labels ceb_forward has checked:
 * y = p c - (eps/C) c, and at the label (p - (1 - eps) - eps/C) c; an
 * ignored row is 0. */
static void ceb_part(void *ctx, int64_t r0, int64_t r1) {
    const ceb_job *J = ctx;
    const gr_kernel *k = J->k;
    int64_t C = J->classes;
    for (int64_t r = r0; r < r1; r++) {
        if (((r - r0) & 63) == 63 && gr_cancelled(k->cancel)) return;
        int64_t label = 0;
        if (gr_read_class(k, 1, r, C, &J->ignore, &label, NULL) <= 0) { /* ignored: +0, as PyTorch's */
            memset((char *)k->out + r * C * (int64_t)gr_dtype_size(k->dt), 0, (size_t)C * gr_dtype_size(k->dt));
            continue;
        }
        double c = J->per_row ? gr_get(k->dt, k->in[2], r) : J->c, e = J->eps / (double)C;
        /* + 0.0: a zero is +0, as PyTorch's g - softmax sum(g) makes it */
        if (k->dt == GR_F32) {
            const float *p = (const float *)k->in[0] + r * C;
            float *y = (float *)k->out + r * C;
            gr_vaffine_f32(p, y, C, (float)c, (float)(-e * c) + 0.0f);
            y[label] = (float)(((double)p[label] - ((1 - J->eps) + e)) * c + 0.0);
        } else {
            const double *p = (const double *)k->in[0] + r * C;
            double *y = (double *)k->out + r * C;
            for (int64_t j = 0; j < C; j++) y[j] = (p[j] - e) * c + 0.0;
            y[label] = (p[label] - ((1 - J->eps) + e)) * c + 0.0;
        }
    }
}

static gr_status ceb_forward(const gr_kernel *k, gr_error *err) {
    const gr_node *n = k->n;
    const gr_shape *xs = &k->g->nodes[n->in[0]].shape;
    ceb_job J = {.k = k, .classes = xs->dims[xs->rank - 1], .ignore = gr_node_ignore_index(n), .eps = ce_smoothing(n)};
    gr_shape row_shape = *xs;
    row_shape.rank--;
    int64_t rows = numel_of_shape(&row_shape), counted = 0;
    for (int64_t r = 0; r < rows; r++) { /* every label checked before any row is written */
        int64_t label;
        int got = gr_read_class(k, 1, r, J.classes, &J.ignore, &label, err);
        if (got < 0) return err ? err->code : GR_E_VALUE;
        counted += got;
    }
    gr_reduction red = gr_node_reduction(n);
    J.per_row = red == GR_RED_NONE;
    double g0 = J.per_row ? 0 : gr_get(k->dt, k->in[2], 0);
    J.c = red == GR_RED_MEAN ? g0 / (double)(counted > 0 ? counted : 1) : g0;
    int64_t width = J.classes > 0 ? J.classes : 1;
    gr_parallel_for(rows, (GR_PAR_GRAIN + width - 1) / width, ceb_part, &J);
    return GR_OK;
}

/* Its derivative (second order only), linear in p and in g: y = (p m - q)
 * c(g), so dp = m c(g) elementwise and dg is the reduction of y at g = 1. */
static int ceb_scaled_mass(gr_graph *g, int id) {
    int mass, den, u = g->nodes[id].in[2];
    ce_label_one_hot(g, id, &mass, &den);
    return gr_build_binary(g, &gr_op_mul, ce_scale(g, id, u, den), mass);
}

static void ceb_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    int p = g->nodes[id].in[0], y = g->nodes[id].in[1], u = g->nodes[id].in[2];
    if (need[0]) grads[0] = gr_build_binary(g, &gr_op_mul, grad, ceb_scaled_mass(g, id));
    if (need[2]) {
        int ones = gr_build_fill(g, gr_shape_of(g, u), 1.0);
        int r = gr_build_apply(g, &gr_op_cross_entropy_backward, p, y, ones, g->nodes[id].attrs);
        int ur = gr_build_binary(g, &gr_op_mul, grad, r), last = gr_shape_of(g, p)->rank - 1;
        grads[2] = gr_node_reduction(&g->nodes[id]) == GR_RED_NONE ? gr_build_sum(g, ur, &last, 1, 0)
                                                                   : gr_build_sum(g, ur, NULL, 0, 0);
    }
}

static int ceb_jvp(gr_graph *g, int id, const int *t) {
    int p = g->nodes[id].in[0], y = g->nodes[id].in[1], out = -1;
    if (t[0] >= 0) out = gr_build_binary(g, &gr_op_mul, t[0], ceb_scaled_mass(g, id));
    if (t[2] >= 0) {
        int r = gr_build_apply(g, &gr_op_cross_entropy_backward, p, y, t[2], g->nodes[id].attrs);
        out = out < 0 ? r : gr_build_binary(g, &gr_op_add, out, r);
    }
    return out;
}

const gr_op gr_op_cross_entropy_backward = {
    .name = "cross_entropy_backward", .arity = 3, .nondiff = 2, .flags = GR_OPF_INTERNAL,
    .attrs = A(GR_ATTR_REDUCTION) | A(GR_ATTR_IGNORE_INDEX) | A(GR_ATTR_LABEL_SMOOTHING),
    .doc = "cross_entropy's gradient for class-index labels, inserted by autodiff: cross_entropy_backward(p, "
           "labels, g) = (p m - q) c per row of p = softmax(logits) [..., C], m = 1 on counted rows (0 where the "
           "label is ignore_index), q = (1 - s) one_hot(label) + (s/C) m, c the upstream g scaled as the reduction "
           "scales ('mean': g / max(counted rows, 1); 'none': g of the row); linear in p and g. cross_entropy's "
           "kernel writes the softmax as it computes the loss. PyTorch: log_softmax_backward of nll_loss_backward",
    .infer = ceb_infer, .forward = ceb_forward, .vjp = ceb_vjp, .jvp = ceb_jvp, .flops = cross_entropy_flops,
};

/* ---- one_hot(labels) -------------------------------------------------- */

static gr_status one_hot_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *y = IN_SHAPE(g, id, 0);
    int64_t c = g->nodes[id].attrs->num_classes;
    if (c < 0) return gr_fail_op(g, err, GR_E_ARG, id, -1, "num_classes", "num_classes is %lld", (long long)c);
    if (y->rank + 1 > GR_MAX_RANK) return gr_fail_op(g, err, GR_E_LIMIT, id, 0, NULL, "result rank too large");
    gr_shape s = *y;
    s.dims[s.rank++] = c;
    return gr_node_set_shape(g, id, &s, err);
}

static gr_status one_hot_forward(const gr_kernel *k, gr_error *err) {
    int64_t rows = k->g->nodes[k->n->in[0]].numel, classes = k->n->attrs->num_classes;
    const int64_t *ignore = (k->n->attrs->set & A(GR_ATTR_IGNORE_INDEX)) ? &k->n->attrs->ignore_index : NULL;
    memset(k->out, 0, (size_t)k->n->numel * gr_dtype_size(k->dt));
    for (int64_t r = 0; r < rows; r++) {
        int64_t label = 0;
        int got = gr_read_class(k, 0, r, classes, ignore, &label, err);
        if (got < 0) return err ? err->code : GR_E_VALUE;
        if (got) gr_put(k->dt, k->out, r * classes + label, 1);
    }
    return GR_OK;
}

const gr_op gr_op_one_hot = {
    .name = "one_hot", .arity = 1, .nondiff = 1, .flags = GR_OPF_PREDICATE,
    .attrs = A(GR_ATTR_NUM_CLASSES) | A(GR_ATTR_IGNORE_INDEX),
    .required = A(GR_ATTR_NUM_CLASSES),
    .doc = "y[..., c] = 1 where c == label else 0; a label equal to ignore_index (when given) gives a zero row; "
           "no gradient",
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
                                  &gr_op_one_hot, &gr_op_cross_entropy_backward, NULL};
