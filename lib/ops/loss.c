/* loss.c -- PyTorch's losses besides cross_entropy (nn.c):
 *   elementwise losses of an input a and a target b (NumPy broadcasting),
 *   one term e(a, b) per element, then reduction 'mean' (default), 'sum'
 *   or 'none' (kl_div also 'batchmean'): l1_loss, smooth_l1_loss (beta),
 *   huber_loss (delta), binary_cross_entropy, binary_cross_entropy_with_logits,
 *   kl_div (log_target);
 *   nll_loss on log-probabilities [..., C] (classes last, as gradd's
 *   cross_entropy and log_softmax's default axis) with integer targets and
 *   ignore_index.
 * An elementwise loss gives its term as a C function (the kernel) and its
 * partial derivatives d e / d a, d e / d b as graph nodes; one VJP and one
 * JVP scale them by the reduction. */
#include "groups.h"
#include "loss.h"

#include <math.h>

extern const gr_op gr_op_abs, gr_op_maximum, gr_op_softplus, gr_op_stop_gradient;
extern const gr_op gr_op_kl_div, gr_op_smooth_l1_loss, gr_op_huber_loss;

/* An attribute that is a number, or def when absent. */
static double num_attr(const gr_attrs *at, gr_attr_id id, double field, double def) {
    return (at->set & A(id)) ? field : def;
}
#define BETA(at) num_attr(at, GR_ATTR_BETA, (at)->beta, 1)
#define DELTA(at) num_attr(at, GR_ATTR_DELTA, (at)->delta, 1)

/* ---- the terms --------------------------------------------------------- */

/* The term of one element: input a, target b, and w the third operand
 * (binary_cross_entropy_with_logits' pos_weight) or 1 without one. */
typedef double (*term_fn)(double a, double b, double w, const gr_attrs *at);

static double l1_term(double a, double b, double w, const gr_attrs *at) {
    (void)at, (void)w;
    return fabs(a - b);
}
static double smooth_l1_term(double a, double b, double w, const gr_attrs *at) {
    (void)w;
    double z = fabs(a - b), beta = BETA(at);
    return beta == 0 ? z : z < beta ? 0.5 * z * z / beta : z - 0.5 * beta;
}
static double huber_term(double a, double b, double w, const gr_attrs *at) {
    (void)w;
    double z = fabs(a - b), delta = DELTA(at);
    return z < delta ? 0.5 * z * z : delta * (z - 0.5 * delta);
}
/* log clamped below at -100, as PyTorch (NaN stays NaN). */
static double log_clamped(double v) {
    double l = log(v);
    return l < -100 ? -100 : l;
}
static double bce_term(double p, double y, double w, const gr_attrs *at) {
    (void)at, (void)w;
    return (y - 1) * log_clamped(1 - p) - y * log_clamped(p);
}
/* PyTorch's form: (1 - y) x + (1 + (w - 1) y) (log(e^-m + e^(-x-m)) + m),
 * m = max(-x, 0), w the pos_weight (1: none). */
static double bce_logits_term(double x, double y, double w, const gr_attrs *at) {
    (void)at;
    double m = -x > 0 ? -x : 0;
    return (1 - y) * x + ((w - 1) * y + 1) * (log(exp(-m) + exp(-x - m)) + m);
}
static double kl_div_term(double x, double t, double w, const gr_attrs *at) {
    (void)w;
    if (at->log_target) return exp(t) * (t - x);
    return (t == 0 ? 0 : t * log(t)) - t * x; /* xlogy(t, t) - t x */
}

/* ---- shapes ------------------------------------------------------------ */

/* Broadcast shape of node n's operands (two, or three with a weight). */
static gr_shape pair_shape(const gr_graph *g, const gr_node *n) {
    gr_shape s;
    gr_shape_broadcast(&g->nodes[n->in[0]].shape, &g->nodes[n->in[1]].shape, &s, NULL);
    if (n->n_in > 2) gr_shape_broadcast(&s, &g->nodes[n->in[2]].shape, &s, NULL);
    return s;
}

static int64_t numel_of(const gr_shape *s) {
    int64_t c = 1;
    for (int i = 0; i < s->rank; i++) c *= s->dims[i];
    return c;
}

/* What the mean divides by: every term, or (batchmean) the first dim. */
static double mean_count(const gr_shape *s, gr_reduction red) {
    if (red == GR_RED_BATCHMEAN) return s->rank ? (double)s->dims[0] : 1;
    return (double)numel_of(s);
}

static gr_status pair_loss_infer(gr_graph *g, int id, gr_error *err) {
    const gr_node *n = &g->nodes[id];
    gr_reduction red = gr_node_reduction(n);
    if (n->n_in > 3)
        return gr_fail_op(g, err, GR_E_ARG, id, 3, NULL,
                          "%s takes at most 3 operands (input, target, pos_weight), got %d", n->op->name, n->n_in);
    if (red == GR_RED_BATCHMEAN && n->op != &gr_op_kl_div)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "reduction", "reduction 'batchmean' is kl_div's alone");
    if (n->op == &gr_op_smooth_l1_loss && BETA(n->attrs) < 0)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "beta", "smooth_l1_loss needs beta >= 0, not %g",
                          BETA(n->attrs));
    if (n->op == &gr_op_huber_loss && !(DELTA(n->attrs) > 0))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "delta", "huber_loss needs delta > 0, not %g",
                          DELTA(n->attrs));
    gr_status st = gr_infer_broadcast(g, id, err);
    if (st != GR_OK || red == GR_RED_NONE) return st;
    gr_shape s = {0};
    return gr_node_set_shape(g, id, &s, err);
}

/* ---- kernel ------------------------------------------------------------ */

typedef struct pair_ctx {
    term_fn f;
    const gr_attrs *at;
    int none;     /* write each term (loop operands: out, a, b[, w]), else add them up (a, b[, w]) */
    int weighted; /* a third operand w */
    double acc;
} pair_ctx;

#define PAIR_ROW(FN, T)                                                                                               \
    static void FN(void *ctx, char *const *p, const int64_t *s, int64_t n) {                                          \
        pair_ctx *c = ctx;                                                                                            \
        int q = c->none; /* loop operand of a */                                                                   \
        const T *a = (const T *)p[q], *b = (const T *)p[q + 1], *w = c->weighted ? (const T *)p[q + 2] : NULL;      \
        double acc = 0;                                                                                               \
        for (int64_t i = 0; i < n; i++) {                                                                             \
            double e = c->f(a[i * s[q]], b[i * s[q + 1]], w ? (double)w[i * s[q + 2]] : 1, c->at);                    \
            if (c->none) ((T *)p[0])[i * s[0]] = (T)e;                                                                \
            else acc += e;                                                                                            \
        }                                                                                                             \
        c->acc += acc;                                                                                                \
    }
PAIR_ROW(pair_row_f32, float)
PAIR_ROW(pair_row_f64, double)

static gr_status pair_loss_run(const gr_kernel *k, term_fn f) {
    const gr_graph *g = k->g;
    gr_shape it = pair_shape(g, k->n);
    gr_reduction red = gr_node_reduction(k->n);
    pair_ctx c = {f, k->n->attrs, red == GR_RED_NONE, k->n->n_in > 2, 0};
    const gr_shape *shapes[4];
    void *base[4];
    int nops = 0;
    if (c.none) {
        shapes[nops] = &it;
        base[nops++] = k->out;
    }
    for (int i = 0; i < k->n->n_in; i++) {
        shapes[nops] = &g->nodes[k->n->in[i]].shape;
        base[nops++] = (void *)(uintptr_t)k->in[i];
    }
    gr_loop L;
    gr_loop_broadcast(&L, &it, nops, shapes);
    L.cancel = k->cancel;
    gr_loop_run(&L, base, gr_dtype_size(k->dt), k->dt == GR_F32 ? pair_row_f32 : pair_row_f64, &c);
    /* The mean of nothing is NaN (0/0), as PyTorch. */
    if (!c.none) gr_put(k->dt, k->out, 0, red == GR_RED_SUM ? c.acc : c.acc / mean_count(&it, red));
    return GR_OK;
}

/* ---- derivatives ------------------------------------------------------- */

typedef int (*partial_fn)(gr_graph *g, int id, int k);

#define IN0(g, id) ((g)->nodes[id].in[0])
#define IN1(g, id) ((g)->nodes[id].in[1])

static int sign_of(gr_graph *g, int x) {
    int zero = gr_build_scalar(g, 0);
    return gr_build_binary(g, &gr_op_sub, gr_build_binary(g, &gr_op_greater, x, zero),
                           gr_build_binary(g, &gr_op_less, x, zero));
}
/* The losses of a - b are odd functions f of it: d/da = f'(a - b), and
 * d/db is f'(b - a) or -f'(a - b), equal but for the sign of a zero, which
 * follows PyTorch's formula for the target: smooth_l1 and huber run theirs
 * with the operands swapped, l1 negates. */
static int diff(gr_graph *g, int id, int k) {
    int a = IN0(g, id), b = IN1(g, id);
    return k == 0 ? gr_build_binary(g, &gr_op_sub, a, b) : gr_build_binary(g, &gr_op_sub, b, a);
}

static int l1_partial(gr_graph *g, int id, int k) {
    int p = sign_of(g, diff(g, id, 0));
    return k == 0 ? p : gr_build_unary(g, &gr_op_neg, p);
}

static int smooth_l1_partial(gr_graph *g, int id, int k) {
    double beta = BETA(g->nodes[id].attrs);
    int d = diff(g, id, k);
    if (beta == 0) return sign_of(g, d);
    int inside = gr_build_binary(g, &gr_op_less, gr_build_unary(g, &gr_op_abs, d), gr_build_scalar(g, beta));
    return gr_build_apply(g, &gr_op_where, inside, gr_build_binary(g, &gr_op_mul, d, gr_build_scalar(g, 1 / beta)),
                          sign_of(g, d), NULL);
}

static int huber_partial(gr_graph *g, int id, int k) {
    double delta = DELTA(g->nodes[id].attrs);
    int d = diff(g, id, k);
    int outside = gr_build_binary(g, &gr_op_greater, gr_build_unary(g, &gr_op_abs, d), gr_build_scalar(g, delta));
    return gr_build_apply(g, &gr_op_where, outside, gr_build_binary(g, &gr_op_mul, sign_of(g, d), gr_build_scalar(g, delta)),
                          d, NULL);
}

/* d/dp = (p - y) / max(p (1 - p), 1e-12); d/dy = log(1 - p) - log(p). */
static int bce_partial(gr_graph *g, int id, int k) {
    int p = IN0(g, id), y = IN1(g, id);
    int one_minus_p = gr_build_binary(g, &gr_op_sub, gr_build_scalar(g, 1), p);
    if (k == 1)
        return gr_build_binary(g, &gr_op_sub, gr_build_unary(g, &gr_op_log, one_minus_p),
                               gr_build_unary(g, &gr_op_log, p));
    int den = gr_build_binary(g, &gr_op_maximum, gr_build_binary(g, &gr_op_mul, p, one_minus_p),
                              gr_build_scalar(g, (double)1e-12f)); /* PyTorch's float EPSILON */
    return gr_build_binary(g, &gr_op_div, gr_build_binary(g, &gr_op_sub, p, y), den);
}

/* d/dx = sigmoid(x) - y; d/dy = -x. With pos_weight w (PyTorch's):
 * d/dx = (w y + 1 - y) sigmoid(x) - w y; d/dy = w softplus(-x) -
 * softplus(x) (log_sigmoid(-x) - w log_sigmoid(x)); none for w. */
static int bce_logits_partial(gr_graph *g, int id, int k) {
    int x = IN0(g, id), y = IN1(g, id);
    if (g->nodes[id].n_in < 3) {
        if (k == 1) return gr_build_unary(g, &gr_op_neg, x);
        return gr_build_binary(g, &gr_op_sub, gr_build_unary(g, &gr_op_sigmoid, x), y);
    }
    int w = gr_build_unary(g, &gr_op_stop_gradient, g->nodes[id].in[2]); /* nondiff at every order */
    if (k == 1)
        return gr_build_binary(g, &gr_op_sub,
                               gr_build_binary(g, &gr_op_mul, w, gr_build_unary(g, &gr_op_softplus,
                                                                                gr_build_unary(g, &gr_op_neg, x))),
                               gr_build_unary(g, &gr_op_softplus, x));
    int wy = gr_build_binary(g, &gr_op_mul, w, y);
    int scale = gr_build_binary(g, &gr_op_sub, gr_build_binary(g, &gr_op_add, wy, gr_build_scalar(g, 1)), y);
    return gr_build_binary(g, &gr_op_sub, gr_build_binary(g, &gr_op_mul, scale, gr_build_unary(g, &gr_op_sigmoid, x)),
                           wy);
}

/* d/dx = -t (log_target: -e^t); d/dt = xlogy'(t) + t/t - x: log t + 1 - x,
 * NaN where t is 0 (PyTorch's autograd through xlogy gives 0/0 there;
 * log_target: e^t (t + 1 - x)). */
static int kl_div_partial(gr_graph *g, int id, int k) {
    int x = IN0(g, id), t = IN1(g, id), one = gr_build_scalar(g, 1), zero = gr_build_scalar(g, 0);
    int log_target = g->nodes[id].attrs->log_target;
    if (k == 0) return gr_build_unary(g, &gr_op_neg, log_target ? gr_build_unary(g, &gr_op_exp, t) : t);
    if (log_target)
        return gr_build_binary(g, &gr_op_mul, gr_build_unary(g, &gr_op_exp, t),
                               gr_build_binary(g, &gr_op_sub, gr_build_binary(g, &gr_op_add, t, one), x));
    int log_t = gr_build_apply(g, &gr_op_where, gr_build_binary(g, &gr_op_equal, t, zero), zero,
                               gr_build_unary(g, &gr_op_log, t), NULL);
    int t_over_t = gr_build_binary(g, &gr_op_div, t, t);
    return gr_build_binary(g, &gr_op_sub, gr_build_binary(g, &gr_op_add, log_t, t_over_t), x);
}

/* 1/count for 'mean' and 'batchmean', 1 otherwise. */
static double reduce_scale(const gr_graph *g, int id) {
    gr_reduction red = gr_node_reduction(&g->nodes[id]);
    if (red == GR_RED_SUM || red == GR_RED_NONE) return 1;
    gr_shape s = pair_shape(g, &g->nodes[id]);
    double c = mean_count(&s, red);
    return c > 0 ? 1 / c : 0;
}

static void pair_vjp(gr_graph *g, int id, int grad, const int *need, int *grads, partial_fn pf) {
    double scale = reduce_scale(g, id);
    int gs = scale == 1 ? grad : gr_build_binary(g, &gr_op_mul, grad, gr_build_scalar(g, scale));
    for (int k = 0; k < 2; k++)
        if (need[k]) grads[k] = gr_build_binary(g, &gr_op_mul, pf(g, id, k), gs);
}

static int pair_jvp(gr_graph *g, int id, const int *t, partial_fn pf) {
    int e = -1;
    for (int k = 0; k < 2; k++) {
        if (t[k] < 0) continue;
        int term = gr_build_binary(g, &gr_op_mul, pf(g, id, k), t[k]);
        e = e < 0 ? term : gr_build_binary(g, &gr_op_add, e, term);
    }
    if (e < 0 || gr_node_reduction(&g->nodes[id]) == GR_RED_NONE) return e;
    gr_shape s = pair_shape(g, &g->nodes[id]);
    int total = gr_build_sum(g, gr_build_expand(g, e, &s), NULL, 0, 0);
    double scale = reduce_scale(g, id);
    return scale == 1 ? total : gr_build_binary(g, &gr_op_mul, total, gr_build_scalar(g, scale));
}

static int64_t pair_flops(const gr_graph *g, const gr_node *n) {
    gr_shape s = pair_shape(g, n);
    return 4 * numel_of(&s);
}

#define PAIR_LOSS_OP(NAME, TERM, PARTIAL, ATTRS, ARITY, NONDIFF, DOC)                                                 \
    static gr_status NAME##_forward(const gr_kernel *k, gr_error *err) {                                              \
        (void)err;                                                                                                    \
        return pair_loss_run(k, TERM);                                                                                \
    }                                                                                                                 \
    static void NAME##_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {                              \
        pair_vjp(g, id, grad, need, grads, PARTIAL);                                                                  \
    }                                                                                                                 \
    static int NAME##_jvp(gr_graph *g, int id, const int *t) { return pair_jvp(g, id, t, PARTIAL); }                  \
    const gr_op gr_op_##NAME = {                                                                                      \
        .name = #NAME, .arity = (ARITY), .min_operands = 2, .nondiff = (NONDIFF),                                    \
        .attrs = A(GR_ATTR_REDUCTION) | (ATTRS), .doc = DOC,                                                         \
        .infer = pair_loss_infer, .forward = NAME##_forward, .vjp = NAME##_vjp, .jvp = NAME##_jvp,                    \
        .flops = pair_flops,                                                                                          \
    };

#define PAIR_LOSS(NAME, TERM, PARTIAL, ATTRS, DOC) PAIR_LOSS_OP(NAME, TERM, PARTIAL, ATTRS, 2, 0, DOC)

#define RED_DOC " over the broadcast of a and b, then reduction 'mean' (default), 'sum' or 'none'"

PAIR_LOSS(l1_loss, l1_term, l1_partial, 0,
          "e = |a - b|" RED_DOC "; de/da = sign(a - b) (0 at a = b, as PyTorch), de/db = -de/da")
PAIR_LOSS(smooth_l1_loss, smooth_l1_term, smooth_l1_partial, A(GR_ATTR_BETA),
          "e = 0.5 (a - b)^2 / beta where |a - b| < beta, else |a - b| - 0.5 beta (beta default 1; 0 is "
          "l1_loss)" RED_DOC
          "; de/da = (a - b) / beta inside, sign(a - b) outside, de/db = -de/da")
PAIR_LOSS(huber_loss, huber_term, huber_partial, A(GR_ATTR_DELTA),
          "e = 0.5 (a - b)^2 where |a - b| < delta, else delta (|a - b| - 0.5 delta) (delta default 1)" RED_DOC
          "; de/da = clip(a - b, -delta, delta), de/db = -de/da")
PAIR_LOSS(binary_cross_entropy, bce_term, bce_partial, 0,
          "e = -(y log p + (1 - y) log(1 - p)) for probabilities p (operand 0) and targets y, each log clamped "
          "at -100 (PyTorch); p outside [0, 1] gives NaN where PyTorch refuses it" RED_DOC
          "; de/dp = (p - y) / max(p (1 - p), 1e-12), de/dy = log(1 - p) - log(p)")
PAIR_LOSS_OP(binary_cross_entropy_with_logits, bce_logits_term, bce_logits_partial, 0, GR_VARIADIC, 4,
             "e = (1 - y) x + (1 + (w - 1) y) log(1 + e^-x), computed stably, for logits x, targets y and an "
             "optional third operand w, pos_weight (PyTorch's; absent: 1)" RED_DOC "; de/dx = (w y + 1 - y) "
             "sigmoid(x) - w y (w = 1: sigmoid(x) - y), de/dy = w softplus(-x) - softplus(x) (w = 1: -x); none "
             "for pos_weight (PyTorch refuses it one)")
PAIR_LOSS(kl_div, kl_div_term, kl_div_partial, A(GR_ATTR_LOG_TARGET),
          "e = t (log t - x) (0 where t = 0, xlogy) for log-probabilities x and probabilities t; log_target: "
          "e^t (t - x)" RED_DOC " or 'batchmean' (the sum over the first dim's size); de/dx = -t (-e^t), de/dt = "
          "log t + 1 - x (NaN where t = 0, as PyTorch's autograd through xlogy; log_target: e^t (t + 1 - x))")

/* ---- nll_loss(logp [..., C], target [...]) ----------------------------- */

static gr_status nll_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0), *y = IN_SHAPE(g, id, 1);
    if (x->rank < 1)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "log-probabilities need rank >= 1 (classes last)");
    gr_shape want = *x;
    want.rank--;
    if (!gr_shape_equal(&want, y)) {
        char a[160], b[160], c[160];
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL,
                          "targets have shape %s; log-probabilities %s need targets of shape %s",
                          gr_shape_str(y, a, sizeof a), gr_shape_str(x, b, sizeof b), gr_shape_str(&want, c, sizeof c));
    }
    gr_reduction red = gr_node_reduction(&g->nodes[id]);
    if (red == GR_RED_BATCHMEAN)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "reduction", "reduction 'batchmean' is kl_div's alone");
    if (x->dims[x->rank - 1] == 0 && g->nodes[g->nodes[id].in[1]].numel > 0)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "log-probabilities have 0 classes");
    gr_shape s = {0};
    return gr_node_set_shape(g, id, red == GR_RED_NONE ? &want : &s, err);
}

static gr_status nll_forward(const gr_kernel *k, gr_error *err) {
    const gr_shape *xs = &k->g->nodes[k->n->in[0]].shape;
    int64_t classes = xs->dims[xs->rank - 1], rows = k->g->nodes[k->n->in[1]].numel, counted = 0;
    int64_t ignore = gr_node_ignore_index(k->n);
    gr_reduction red = gr_node_reduction(k->n);
    double total = 0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t label = 0;
        int got = gr_read_class(k, 1, r, classes, &ignore, &label, err);
        if (got < 0) return err ? err->code : GR_E_VALUE;
        double v = got ? -gr_get(k->dt, k->in[0], r * classes + label) : 0;
        counted += got;
        if (red == GR_RED_NONE) gr_put(k->dt, k->out, r, v);
        else total += v;
    }
    /* The mean over no counted row is 0/0 = NaN, as PyTorch. */
    if (red != GR_RED_NONE) gr_put(k->dt, k->out, 0, red == GR_RED_SUM ? total : total / (double)counted);
    return GR_OK;
}

extern const gr_op gr_op_one_hot;

/* one_hot(target) with the node's ignore_index (ignored rows all zero). */
static int nll_one_hot(gr_graph *g, int id) {
    const gr_shape *xs = gr_shape_of(g, IN0(g, id));
    gr_attrs at = {0};
    at.set = A(GR_ATTR_NUM_CLASSES) | A(GR_ATTR_IGNORE_INDEX);
    at.num_classes = xs->dims[xs->rank - 1];
    at.ignore_index = gr_node_ignore_index(&g->nodes[id]);
    return gr_build_apply(g, &gr_op_one_hot, IN1(g, id), -1, -1, &at);
}

/* The rows one_hot oh counts, at least 1: with none counted the gradient
 * is 0 (PyTorch's), not 0 * (g / 0). */
static int counted_rows(gr_graph *g, int oh) {
    return gr_build_binary(g, &gr_op_maximum, gr_build_sum(g, oh, NULL, 0, 0), gr_build_scalar(g, 1));
}

/* -one_hot scaled by the reduction: v (a scalar, or [...] for 'none')
 * reshaped to broadcast over the classes, divided by the counted rows for
 * 'mean'. */
static int nll_scaled(gr_graph *g, int id, int oh, int v) {
    gr_reduction red = gr_node_reduction(&g->nodes[id]);
    if (red == GR_RED_NONE) {
        gr_shape s = *gr_shape_of(g, IN1(g, id));
        s.dims[s.rank++] = 1;
        v = gr_build_reshape(g, v, &s);
    } else if (red == GR_RED_MEAN) {
        v = gr_build_binary(g, &gr_op_div, v, counted_rows(g, oh));
    }
    return gr_build_mul_partial(g, gr_build_unary(g, &gr_op_neg, v), oh); /* +0 off the labels, as PyTorch */
}

static void nll_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    grads[0] = nll_scaled(g, id, nll_one_hot(g, id), grad);
}

static int nll_jvp(gr_graph *g, int id, const int *t) {
    int oh = nll_one_hot(g, id);
    int picked = gr_build_mul_partial(g, t[0], oh); /* the labels' tangents alone */
    gr_reduction red = gr_node_reduction(&g->nodes[id]);
    if (red == GR_RED_NONE) {
        int last = gr_shape_of(g, IN0(g, id))->rank - 1;
        return gr_build_unary(g, &gr_op_neg, gr_build_sum(g, picked, &last, 1, 0));
    }
    int total = gr_build_unary(g, &gr_op_neg, gr_build_sum(g, picked, NULL, 0, 0));
    return red == GR_RED_SUM ? total : gr_build_binary(g, &gr_op_div, total, counted_rows(g, oh));
}

static int64_t nll_flops(const gr_graph *g, const gr_node *n) { return g->nodes[n->in[1]].numel; }

const gr_op gr_op_nll_loss = {
    .name = "nll_loss", .arity = 2, .nondiff = 2,
    .attrs = A(GR_ATTR_REDUCTION) | A(GR_ATTR_IGNORE_INDEX),
    .doc = "y = -logp[..., target] per row (classes last, as gradd's cross_entropy; PyTorch puts them on axis 1 "
           "for rank >= 3), rows whose target is ignore_index (default -100) give 0; reduction 'mean' (default: "
           "over the counted rows, NaN when none is), 'sum' or 'none'; targets are whole numbers in [0, C), no "
           "gradient; dlogp = -one_hot(target) * g (/ counted rows for 'mean')",
    .infer = nll_infer, .forward = nll_forward, .vjp = nll_vjp, .jvp = nll_jvp, .flops = nll_flops,
};

const gr_op *const gr_ops_loss[] = {&gr_op_nll_loss,
                                    &gr_op_l1_loss,
                                    &gr_op_smooth_l1_loss,
                                    &gr_op_huber_loss,
                                    &gr_op_binary_cross_entropy,
                                    &gr_op_binary_cross_entropy_with_logits,
                                    &gr_op_kl_div,
                                    NULL};
