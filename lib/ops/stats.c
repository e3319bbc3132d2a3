/* stats.c -- reductions with a statistic per group: logsumexp, var, std
 * (with torch's correction) and the vector norm of order ord. Axes and
 * keepdims as sum's. Kernels walk one group at a time (groups.h) and
 * accumulate in double; derivatives are graphs of elementwise ops, so they
 * differentiate again. */
#include "groups.h"

#include <math.h>

#include "../vmath.h"

extern const gr_op gr_op_abs, gr_op_sqrt, gr_op_maximum;

#define RED_ATTRS (A(GR_ATTR_AXES) | A(GR_ATTR_AXIS) | A(GR_ATTR_KEEPDIMS))

/* ---- shapes ---------------------------------------------------------- */

static gr_status stats_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0);
    unsigned mask;
    char buf[32];
    gr_status st = gr_axes_mask(g->nodes[id].attrs, x->rank, &mask, err, gr_node_name(g, id, buf, sizeof buf));
    if (st != GR_OK) return st;
    gr_shape s = g->nodes[id].attrs->keepdims ? gr_shape_keep(x, mask) : gr_shape_drop(x, mask);
    return gr_node_set_shape(g, id, &s, err);
}

/* ord of a norm node: 2 when absent. */
static double norm_ord(const gr_node *n) { return (n->attrs->set & A(GR_ATTR_ORD)) ? n->attrs->ord : 2; }

/* The infinity norms of nothing are undefined (PyTorch refuses them). */
static gr_status norm_infer(gr_graph *g, int id, gr_error *err) {
    gr_status st = stats_infer(g, id, err);
    if (st != GR_OK) return st;
    int64_t in = g->nodes[g->nodes[id].in[0]].numel;
    if (isinf(norm_ord(&g->nodes[id])) && in == 0)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, "ord", "the %s norm of an empty tensor is undefined",
                          norm_ord(&g->nodes[id]) > 0 ? "inf" : "-inf");
    return GR_OK;
}

/* Elements in each group of node n's reduction. */
static int64_t group_len(const gr_graph *g, const gr_node *n) {
    gr_groups G;
    gr_groups_init(&G, &g->nodes[n->in[0]].shape, gr_node_reduce_mask(g, n));
    return G.len;
}

/* count - correction, the divisor of var (torch's: max(0, count - correction)). */
static double var_dof(const gr_graph *g, const gr_node *n) {
    double c = (n->attrs->set & A(GR_ATTR_CORRECTION)) ? n->attrs->correction : 1;
    return (double)group_len(g, n) - c;
}

/* ---- kernels --------------------------------------------------------- */

typedef enum stat_kind { ST_LOGSUMEXP, ST_VAR, ST_STD, ST_NORM } stat_kind;

/* The statistic of one group: G's group at base of x (dtype dt). */
static double group_stat(const gr_groups *G, int64_t base, gr_dtype dt, const void *x, stat_kind kind, double p,
                         double dof) {
    double acc = 0;
    if (kind == ST_LOGSUMEXP) {
        double mx = -INFINITY;
        GROUP_FOR(G, base, r, off, {
            double v = gr_get(dt, x, off);
            if (v > mx || v != v) mx = v;
        });
        if (isinf(mx)) mx = 0; /* all -inf gives -inf, a +inf gives +inf (PyTorch's rule) */
        GROUP_FOR(G, base, r, off, acc += exp(gr_get(dt, x, off) - mx));
        return log(acc) + mx;
    }
    if (kind == ST_VAR || kind == ST_STD) {
        double mean = 0;
        GROUP_FOR(G, base, r, off, mean += gr_get(dt, x, off));
        mean /= (double)G->len; /* NaN for an empty group */
        GROUP_FOR(G, base, r, off, {
            double d = gr_get(dt, x, off) - mean;
            acc += d * d;
        });
        double v = acc / (dof > 0 ? dof : 0);
        return kind == ST_STD ? sqrt(v) : v;
    }
    if (isinf(p)) { /* the largest (smallest) |x|; NaN wins */
        acc = p > 0 ? 0 : INFINITY;
        GROUP_FOR(G, base, r, off, {
            double v = fabs(gr_get(dt, x, off));
            if (v != v || (p > 0 ? v > acc : v < acc)) acc = v;
            if (acc != acc) break;
        });
        return acc;
    }
    if (p == 0) {
        GROUP_FOR(G, base, r, off, acc += gr_get(dt, x, off) != 0);
        return acc;
    }
    if (p == 1) {
        GROUP_FOR(G, base, r, off, acc += fabs(gr_get(dt, x, off)));
        return acc;
    }
    if (p == 2) {
        GROUP_FOR(G, base, r, off, {
            double v = gr_get(dt, x, off);
            acc += v * v;
        });
        return sqrt(acc);
    }
    GROUP_FOR(G, base, r, off, acc += pow(fabs(gr_get(dt, x, off)), p));
    return pow(acc, 1 / p);
}

/* The contiguous runs of G's groups: *runs is G without its innermost
 * reduced dims that lie one after the other in memory (len counts runs),
 * and the run length is returned (1: no run longer than an element). */
static int64_t contiguous_runs(const gr_groups *G, gr_groups *runs) {
    *runs = *G;
    int64_t run = 1;
    while (runs->nred > 0 && runs->rstr[runs->nred - 1] == run) {
        run *= runs->rdims[runs->nred - 1];
        runs->nred--;
    }
    runs->len = run > 0 ? G->len / run : 0;
    return run;
}

/* var and std of one float32 group made of runs of run elements: each run
 * summed by vmath.h's vectorized rows, in double (batch norm's running
 * variance over N, H, W per channel: H * W in a run). */
static double var_runs_f32(const gr_groups *R, int64_t run, int64_t base, const float *x, int64_t count, double dof,
                           stat_kind kind) {
    double sum = 0, sq = 0;
    GROUP_FOR(R, base, r, off, sum += gr_vsum_f32(x + off, run));
    double mean = sum / (double)count; /* NaN for an empty group */
    GROUP_FOR(R, base, r, off, sq += gr_vsqdev_f32(x + off, run, mean));
    double v = sq / (dof > 0 ? dof : 0);
    return kind == ST_STD ? sqrt(v) : v;
}

static gr_status stat_run(const gr_kernel *k, stat_kind kind) {
    gr_groups G, R;
    gr_groups_init(&G, &k->g->nodes[k->n->in[0]].shape, gr_node_reduce_mask(k->g, k->n));
    double p = norm_ord(k->n), dof = kind == ST_VAR || kind == ST_STD ? var_dof(k->g, k->n) : 0;
    int64_t run = contiguous_runs(&G, &R);
    int runs = k->dt == GR_F32 && (kind == ST_VAR || kind == ST_STD) && run >= 8 && G.len > 0;
    for (int64_t o = 0; o < G.n_groups; o++) {
        if ((o & 255) == 0 && gr_cancelled(k->cancel)) return GR_OK;
        int64_t base = gr_groups_base(&G, o);
        double v = runs ? var_runs_f32(&R, run, base, k->in[0], G.len, dof, kind)
                        : group_stat(&G, base, k->dt, k->in[0], kind, p, dof);
        gr_put(k->dt, k->out, o, v);
    }
    return GR_OK;
}

static gr_status logsumexp_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    return stat_run(k, ST_LOGSUMEXP);
}
static gr_status var_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    return stat_run(k, ST_VAR);
}
static gr_status std_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    return stat_run(k, ST_STD);
}
static gr_status norm_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    return stat_run(k, ST_NORM);
}

/* ---- derivatives ----------------------------------------------------- */

/* Node a (of node id's output shape) reshaped to the keepdims shape. */
static int keep_of(gr_graph *g, int id, int a) {
    unsigned mask = gr_node_reduce_mask(g, &g->nodes[id]);
    gr_shape keep = gr_shape_keep(gr_shape_of(g, g->nodes[id].in[0]), mask);
    return gr_build_reshape(g, a, &keep);
}

/* a summed over node id's axes, with its keepdims: the JVP's reduction. */
static int sum_like(gr_graph *g, int id, int a) {
    gr_attrs at = *g->nodes[id].attrs;
    at.set &= RED_ATTRS;
    return gr_build_apply(g, &gr_op_sum, a, -1, -1, &at);
}

/* a summed over node id's axes, keepdims. */
static int sum_keep(gr_graph *g, int id, int a) {
    gr_attrs at = *g->nodes[id].attrs;
    at.set &= RED_ATTRS;
    at.set |= A(GR_ATTR_KEEPDIMS);
    at.keepdims = 1;
    return gr_build_apply(g, &gr_op_sum, a, -1, -1, &at);
}

/* logsumexp: dy/dx = exp(x - y) (softmax over the group). */
static int logsumexp_dydx(gr_graph *g, int id) {
    return gr_build_unary(g, &gr_op_exp, gr_build_binary(g, &gr_op_sub, g->nodes[id].in[0], keep_of(g, id, id)));
}
static void logsumexp_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    grads[0] = gr_build_binary(g, &gr_op_mul, logsumexp_dydx(g, id), keep_of(g, id, grad));
}
static int logsumexp_jvp(gr_graph *g, int id, const int *t) {
    return sum_like(g, id, gr_build_binary(g, &gr_op_mul, logsumexp_dydx(g, id), t[0]));
}

/* var: dy/dx = 2 (x - mean) / dof; torch's dim rule where dof <= 0 (2/0 =
 * inf: NaN where x equals the mean, +-inf elsewhere). */
static int var_dydx(gr_graph *g, int id) {
    int x = g->nodes[id].in[0];
    double dof = var_dof(g, &g->nodes[id]);
    gr_attrs at = *g->nodes[id].attrs;
    at.set &= RED_ATTRS;
    at.set |= A(GR_ATTR_KEEPDIMS);
    at.keepdims = 1;
    int mean = gr_build_apply(g, &gr_op_mean, x, -1, -1, &at);
    return gr_build_binary(g, &gr_op_mul, gr_build_binary(g, &gr_op_sub, x, mean),
                           gr_build_scalar(g, dof > 0 ? 2 / dof : INFINITY));
}

/* std = sqrt(var): the var rule with g / (2 std), 0 where std is 0 (PyTorch). */
static int std_outer(gr_graph *g, int id, int v) {
    int zero = gr_build_scalar(g, 0);
    int is0 = gr_build_binary(g, &gr_op_equal, id, zero);
    int half_inv = gr_build_binary(g, &gr_op_div, v, gr_build_binary(g, &gr_op_mul, id, gr_build_scalar(g, 2)));
    return gr_build_apply(g, &gr_op_where, is0, zero, half_inv, NULL);
}

static void var_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    grads[0] = gr_build_binary(g, &gr_op_mul, var_dydx(g, id), keep_of(g, id, grad));
}
static int var_jvp(gr_graph *g, int id, const int *t) {
    return sum_like(g, id, gr_build_binary(g, &gr_op_mul, var_dydx(g, id), t[0]));
}
static void std_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    grads[0] = gr_build_binary(g, &gr_op_mul, var_dydx(g, id), keep_of(g, id, std_outer(g, id, grad)));
}
static int std_jvp(gr_graph *g, int id, const int *t) {
    return std_outer(g, id, sum_like(g, id, gr_build_binary(g, &gr_op_mul, var_dydx(g, id), t[0])));
}

/* sign(x): 1, -1, or 0 at 0. */
static int sign_of(gr_graph *g, int x) {
    int zero = gr_build_scalar(g, 0);
    return gr_build_binary(g, &gr_op_sub, gr_build_binary(g, &gr_op_greater, x, zero),
                           gr_build_binary(g, &gr_op_less, x, zero));
}

/* v * dy/dx of norm node id, v at the keepdims shape (PyTorch's
 * norm_backward, case by case); -1 (zero) for ord 0. */
static int norm_times(gr_graph *g, int id, int v) {
    double p = norm_ord(&g->nodes[id]);
    int x = g->nodes[id].in[0], y = keep_of(g, id, id), zero = gr_build_scalar(g, 0);
    if (p == 0) return -1;
    if (p == 1) return gr_build_binary(g, &gr_op_mul, sign_of(g, x), v);
    int y_is0 = gr_build_binary(g, &gr_op_equal, y, zero);
    if (p == 2) {
        int r = gr_build_apply(g, &gr_op_where, y_is0, zero, gr_build_binary(g, &gr_op_div, x, y), NULL);
        return gr_build_binary(g, &gr_op_mul, v, r);
    }
    int ax = gr_build_unary(g, &gr_op_abs, x);
    if (isinf(p)) { /* the gradient is split evenly among the elements at the max (min) |x|, NaNs included */
        int is_nan = gr_build_binary(g, &gr_op_sub, gr_build_scalar(g, 1), gr_build_binary(g, &gr_op_equal, x, x));
        int mask = gr_build_binary(g, &gr_op_maximum, gr_build_binary(g, &gr_op_equal, ax, y), is_nan);
        int share = gr_build_binary(g, &gr_op_div, v, sum_keep(g, id, mask));
        return gr_build_binary(g, &gr_op_mul, sign_of(g, x), gr_build_binary(g, &gr_op_mul, share, mask));
    }
    if (p < 1) {
        int x_is0 = gr_build_binary(g, &gr_op_equal, x, zero);
        int scaled = gr_build_apply(
            g, &gr_op_where, x_is0, zero,
            gr_build_binary(g, &gr_op_mul, sign_of(g, x),
                            gr_build_binary(g, &gr_op_pow, ax, gr_build_scalar(g, p - 1))),
            NULL);
        return gr_build_binary(g, &gr_op_mul, scaled,
                               gr_build_binary(g, &gr_op_mul, v,
                                               gr_build_binary(g, &gr_op_pow, y, gr_build_scalar(g, 1 - p))));
    }
    int scaled = p < 2 ? gr_build_binary(g, &gr_op_mul, sign_of(g, x),
                                         gr_build_binary(g, &gr_op_pow, ax, gr_build_scalar(g, p - 1)))
                       : gr_build_binary(g, &gr_op_mul, x,
                                         gr_build_binary(g, &gr_op_pow, ax, gr_build_scalar(g, p - 2)));
    int scale = gr_build_apply(
        g, &gr_op_where, y_is0, zero,
        gr_build_binary(g, &gr_op_div, v, gr_build_binary(g, &gr_op_pow, y, gr_build_scalar(g, p - 1))), NULL);
    return gr_build_binary(g, &gr_op_mul, scaled, scale);
}

static void norm_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    grads[0] = norm_times(g, id, keep_of(g, id, grad));
}
static int norm_jvp(gr_graph *g, int id, const int *t) {
    int d = norm_times(g, id, gr_build_scalar(g, 1));
    return d < 0 ? -1 : sum_like(g, id, gr_build_binary(g, &gr_op_mul, d, t[0]));
}

static int64_t stats_flops(const gr_graph *g, const gr_node *n) { return 3 * g->nodes[n->in[0]].numel; }

const gr_op gr_op_logsumexp = {
    .name = "logsumexp", .arity = 1, .attrs = RED_ATTRS,
    .doc = "y = log(sum(exp(x))) over axes, shifted by the max (all -inf gives -inf, +inf gives +inf, nothing "
           "gives -inf, as PyTorch); dx = g * exp(x - y)",
    .infer = stats_infer, .forward = logsumexp_forward, .vjp = logsumexp_vjp, .jvp = logsumexp_jvp,
    .flops = stats_flops,
};
const gr_op gr_op_var = {
    .name = "var", .arity = 1, .attrs = RED_ATTRS | A(GR_ATTR_CORRECTION),
    .doc = "y = sum((x - mean)^2) / (N - correction) over axes (correction default 1, as PyTorch; NumPy's ddof "
           "is the same number with default 0); N - correction <= 0 divides by 0 (inf, or NaN for 0/0); dx = g * "
           "2 (x - mean) / (N - correction)",
    .infer = stats_infer, .forward = var_forward, .vjp = var_vjp, .jvp = var_jvp, .flops = stats_flops,
};
const gr_op gr_op_std = {
    .name = "std", .arity = 1, .attrs = RED_ATTRS | A(GR_ATTR_CORRECTION),
    .doc = "y = sqrt(var(x, correction)) over axes (correction default 1, as PyTorch); dx = g * (x - mean) / "
           "((N - correction) y), 0 where y is 0 (PyTorch's rule)",
    .infer = stats_infer, .forward = std_forward, .vjp = std_vjp, .jvp = std_jvp, .flops = stats_flops,
};
const gr_op gr_op_norm = {
    .name = "norm", .arity = 1, .attrs = RED_ATTRS | A(GR_ATTR_ORD),
    .doc = "vector norm over axes (all when absent; torch.linalg.vector_norm): y = (sum |x|^p)^(1/p), p = ord "
           "(default 2); inf: max |x|, -inf: min |x| (NaN wins; undefined over nothing), 0: count of non-zeros. "
           "dx: ord 2 g x / y (0 where y is 0); 1 g sign(x); inf/-inf g sign(x) split evenly among the elements "
           "at the max (min); 0 none; p < 1 g sign(x) |x|^(p-1) y^(1-p) (0 at x = 0); other p g sign(x) "
           "|x|^(p-1) / y^(p-1) (0 where y is 0) -- PyTorch's norm_backward",
    .infer = norm_infer, .forward = norm_forward, .vjp = norm_vjp, .jvp = norm_jvp, .flops = stats_flops,
};

const gr_op *const gr_ops_stats[] = {&gr_op_logsumexp, &gr_op_var, &gr_op_std, &gr_op_norm, NULL};
