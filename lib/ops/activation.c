/* activation.c -- the activation functions of neural networks (gelu, silu,
 * the elu family, leaky_relu, hardtanh and relu6, hardsigmoid, hardswish,
 * mish, logsigmoid, softsign) and clip with its alias clamp.
 *
 * Each is elementwise: a kernel for both dtypes and one partial d y / d x
 * built from differentiable ops, from which autodiff makes the VJP, the JVP
 * and (differentiating the partial again) the HVP. Values and derivatives
 * are PyTorch's (ATen's CPU kernels and derivatives.yaml, torch 1.13), at
 * the kinks and at infinities and NaN too; each op's doc states its rules.
 * Where a rule tests x against a bound, the partial is built from the same
 * comparison PyTorch makes, so NaN takes the branch PyTorch's takes. Where
 * torch 1.13's vectorized CPU loop disagrees with its scalar loop (the
 * gradient for NaN of hardtanh, relu6 and the elu family; hardswish's at 3),
 * gradd follows the scalar loop: ATen's reference lambda, and what torch
 * gives for a tensor of one element. */
#include "ops.h"

#include <string.h>
#include <tgmath.h>

#include "../vmath.h"

#define SQRT1_2 0.707106781186547524400844362104849039        /* 1/sqrt(2) */
#define INV_SQRT_2PI 0.398942280401432677939946059934381868   /* 1/sqrt(2 pi) */
#define SQRT_2_OVER_PI 0.797884560802865355879892119868763737 /* sqrt(2/pi) */
#define GELU_KAPPA 0.044715
#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946

/* Entries the shared kernels and rules below tell apart. */
extern const gr_op gr_op_selu, gr_op_celu, gr_op_relu6, gr_op_hardtanh, gr_op_gelu_derivative;

/* ---- attributes --------------------------------------------------------- */

/* The number attribute id of a, or def when it is absent. */
static double num_attr(const gr_attrs *a, gr_attr_id id, double def) {
    if (!(a->set & GR_ATTR_BIT(id))) return def;
    switch (id) {
    case GR_ATTR_ALPHA: return a->alpha;
    case GR_ATTR_NEGATIVE_SLOPE: return a->negative_slope;
    case GR_ATTR_MIN_VAL: return a->min_val;
    case GR_ATTR_MAX_VAL: return a->max_val;
    case GR_ATTR_MIN: return a->clip_min;
    case GR_ATTR_MAX: return a->clip_max;
    default: return def;
    }
}

/* 1 when gelu node attributes ask for the tanh approximation. */
static int gelu_is_tanh(const gr_attrs *a) {
    return (a->set & GR_ATTR_BIT(GR_ATTR_APPROXIMATE)) && strcmp(a->approximate, "tanh") == 0;
}

/* The elu family, as ATen's one kernel: y = x <= 0 ? (e^(x*in_scale) - 1) *
 * neg : x * pos, where elu(alpha) has (neg, pos, in_scale) = (alpha, 1, 1),
 * selu (SCALE*ALPHA, SCALE, 1) and celu(alpha) (alpha, 1, 1/alpha). */
typedef struct elu_coefs {
    double neg, pos, in_scale;
} elu_coefs;

static elu_coefs elu_coefs_of(const gr_op *op, const gr_attrs *a);

/* The bounds of clip / hardtanh / relu6: lo, hi (an absent clip bound is
 * -inf or +inf). */
typedef struct bounds {
    double lo, hi;
} bounds;

static bounds bounds_of(const gr_op *op, const gr_attrs *a);

/* ---- kernels -------------------------------------------------------------- */

/* A kernel whose expression EXPR reads x and the constants PARAMS(T)
 * declares from the node's attributes `at`, in the element type T (which
 * EXPR calls `real`). */
#define PARAM_ROW(FN, T, PARAMS, EXPR)                                                                                 \
    static void FN(const gr_node *node, const T *in, T *out, int64_t i0, int64_t i1) {                                 \
        typedef T real; /* EXPR's element type */                                                                      \
        const gr_attrs *at = node->attrs;                                                                             \
        (void)at;                                                                                                      \
        PARAMS(T)                                                                                                      \
        for (int64_t i = i0; i < i1; i++) {                                                                            \
            real x = in[i];                                                                                            \
            out[i] = (EXPR);                                                                                           \
        }                                                                                                              \
    }
#define PARAM_KERNEL(NAME, PARAMS, EXPR)                                                                               \
    PARAM_ROW(NAME##_row_f32, float, PARAMS, EXPR)                                                                     \
    PARAM_ROW(NAME##_row_f64, double, PARAMS, EXPR)                                                                    \
    static void NAME##_part(void *ctx, int64_t a, int64_t b) { /* elements [a, b), split across threads */            \
        const gr_kernel *k = ctx;                                                                                      \
        for (int64_t i0 = a; i0 < b && !(i0 > a && gr_cancelled(k->cancel)); i0 += GR_CHUNK_ELEMS) {                   \
            int64_t i1 = b - i0 < GR_CHUNK_ELEMS ? b : i0 + GR_CHUNK_ELEMS;                                            \
            if (k->dt == GR_F32) NAME##_row_f32(k->n, k->in[0], k->out, i0, i1);                                       \
            else NAME##_row_f64(k->n, k->in[0], k->out, i0, i1);                                                       \
        }                                                                                                              \
    }                                                                                                                  \
    static gr_status NAME##_forward(const gr_kernel *k, gr_error *err) {                                               \
        (void)err;                                                                                                     \
        gr_parallel_for(k->n->numel, GR_PAR_GRAIN, NAME##_part, (void *)(uintptr_t)k);                                 \
        return GR_OK;                                                                                                  \
    }

#define NO_PARAMS(T)
#define GELU_PARAMS(T) const int tanh_form = gelu_is_tanh(at);
#define ELU_PARAMS(T)                                                                                                  \
    const elu_coefs c = elu_coefs_of(node->op, at);                                                                    \
    const T neg = (T)c.neg, pos = (T)c.pos, in_scale = (T)c.in_scale;
#define SLOPE_PARAMS(T) const T slope = (T)num_attr(at, GR_ATTR_NEGATIVE_SLOPE, 0.01);
#define BOUND_PARAMS(T)                                                                                                \
    const bounds b = bounds_of(node->op, at);                                                                          \
    const T lo = (T)b.lo, hi = (T)b.hi;

/* min(max(x, lo), hi) keeping NaN, as PyTorch's clamp (lo > hi gives hi). */
#define CLAMP(x, lo, hi) ((x) < (lo) ? ((lo) > (hi) ? (hi) : (lo)) : (x) > (hi) ? (hi) : (x))

PARAM_KERNEL(gelu_libm, GELU_PARAMS,
             tanh_form ? (real)0.5 * x * (1 + tanh((real)SQRT_2_OVER_PI * (x + (real)GELU_KAPPA * (x * x * x))))
                       : x * (real)0.5 * (1 + erf(x * (real)SQRT1_2)))
/* gelu's exact derivative Phi(x) + x phi(x) in one pass, in the order of
 * the composite it replaces (each step rounded to the dtype). */
PARAM_KERNEL(gelu_derivative_libm, NO_PARAMS,
             (real)0.5 * (1 + erf(x * (real)SQRT1_2)) + x * ((real)INV_SQRT_2PI * exp((real)-0.5 * (x * x))))

/* float32's exact gelu and its derivative: vmath.h's vectorized rows; with
 * the derivative wanted too (gelu_writes_derivative), both in one pass. */
static gr_status gelu_forward(const gr_kernel *k, gr_error *err) {
    if (k->dt != GR_F32 || gelu_is_tanh(k->n->attrs)) return gelu_libm_forward(k, err);
    if (k->side) gr_run_f32_row_pairs(k, gr_vgelu_both_f32);
    else gr_run_f32_rows(k, gr_vgelu_f32);
    return GR_OK;
}

/* 1 when node d is the exact gelu_derivative of float32 gelu node n's x
 * (what its gradient reads): n's kernel computes the erf both need once
 * and writes d to gr_kernel.side. */
static int gelu_writes_derivative(const gr_graph *g, const gr_node *n, const gr_node *d) {
    return g->dt == GR_F32 && !gelu_is_tanh(n->attrs) && d->op == &gr_op_gelu_derivative && d->in[0] == n->in[0];
}
static gr_status gelu_derivative_forward(const gr_kernel *k, gr_error *err) {
    if (k->dt != GR_F32) return gelu_derivative_libm_forward(k, err);
    gr_run_f32_rows(k, gr_vgelu_derivative_f32);
    return GR_OK;
}
PARAM_KERNEL(silu, NO_PARAMS, x / (1 + exp(-x)))
PARAM_KERNEL(elu, ELU_PARAMS, x <= 0 ? (exp(x * in_scale) - 1) * neg : x * pos)
PARAM_KERNEL(leaky_relu, SLOPE_PARAMS, x > 0 ? x : x * slope)
PARAM_KERNEL(hardtanh, BOUND_PARAMS, CLAMP(x, lo, hi))
PARAM_KERNEL(clip, BOUND_PARAMS, CLAMP(x, lo, hi))
PARAM_KERNEL(hardsigmoid, NO_PARAMS, CLAMP(x + 3, (real)0, (real)6) / 6)
PARAM_KERNEL(hardswish, NO_PARAMS, x * CLAMP(x + 3, (real)0, (real)6) / 6)
PARAM_KERNEL(mish, NO_PARAMS, x * tanh(log1p(exp(x))))
/* -softplus(-x) = -(log1p(e^-|x|) + max(-x, 0)): no overflow, -inf at -inf. */
PARAM_KERNEL(logsigmoid, NO_PARAMS, (x < 0 ? x : 0) - log1p(exp(-fabs(x)))) /* min(x, 0) - ...: +0 at +inf, as PyTorch */
PARAM_KERNEL(softsign, NO_PARAMS, x / (fabs(x) + 1))

/* ---- the attributes of the shared kernels, and their checks -------------------- */

static elu_coefs elu_coefs_of(const gr_op *op, const gr_attrs *a) {
    if (op == &gr_op_selu) return (elu_coefs){SELU_SCALE * SELU_ALPHA, SELU_SCALE, 1};
    double alpha = num_attr(a, GR_ATTR_ALPHA, 1);
    if (op == &gr_op_celu) return (elu_coefs){alpha, 1, 1 / alpha};
    return (elu_coefs){alpha, 1, 1};
}

static bounds bounds_of(const gr_op *op, const gr_attrs *a) {
    if (op == &gr_op_relu6) return (bounds){0, 6};
    if (op == &gr_op_hardtanh) return (bounds){num_attr(a, GR_ATTR_MIN_VAL, -1), num_attr(a, GR_ATTR_MAX_VAL, 1)};
    return (bounds){num_attr(a, GR_ATTR_MIN, -INFINITY), num_attr(a, GR_ATTR_MAX, INFINITY)};
}

/* celu divides by alpha: 0 is refused, as PyTorch does. */
static gr_status celu_infer(gr_graph *g, int id, gr_error *err) {
    if (num_attr(g->nodes[id].attrs, GR_ATTR_ALPHA, 1) == 0)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "alpha", "alpha must not be 0 (celu divides by it)");
    return gr_infer_same(g, id, err);
}

/* clip needs a bound, as PyTorch's clamp ("at least one of min or max"). */
static gr_status clip_infer(gr_graph *g, int id, gr_error *err) {
    const gr_node *n = &g->nodes[id];
    if (!(n->attrs->set & (GR_ATTR_BIT(GR_ATTR_MIN) | GR_ATTR_BIT(GR_ATTR_MAX))))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "min", "give min, max or both");
    return gr_infer_same(g, id, err);
}

/* ---- partial derivatives ----------------------------------------------------- */

#define X(g, id) ((g)->nodes[id].in[0])
#define C(g, v) gr_build_scalar(g, v)
static int add(gr_graph *g, int a, int b) { return gr_build_binary(g, &gr_op_add, a, b); }
static int sub(gr_graph *g, int a, int b) { return gr_build_binary(g, &gr_op_sub, a, b); }
static int mul(gr_graph *g, int a, int b) { return gr_build_binary(g, &gr_op_mul, a, b); }
static int div_(gr_graph *g, int a, int b) { return gr_build_binary(g, &gr_op_div, a, b); }
static int un(gr_graph *g, const gr_op *op, int a) { return gr_build_unary(g, op, a); }
static int where(gr_graph *g, int c, int a, int b) { return gr_build_apply(g, &gr_op_where, c, a, b, NULL); }
/* 1 where a >= b else 0 (0 with NaN). */
static int ge(gr_graph *g, int a, int b) { return gr_build_binary(g, &gr_op_greater_equal, a, b); }

/* exact: Phi(x) + x phi(x) = 0.5 (1 + erf(x/sqrt 2)) + x e^(-x^2/2)/sqrt(2 pi);
 * tanh: 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 kappa x^2) with
 * t = tanh(sqrt(2/pi) (x + kappa x^3)) (ATen's GeluBackward). */
static int gelu_partial(gr_graph *g, int id, int k) {
    (void)k;
    int x = X(g, id);
    if (!gelu_is_tanh(g->nodes[id].attrs)) return un(g, &gr_op_gelu_derivative, x); /* one pass, not ten */
    int x2 = un(g, &gr_op_square, x);
    int inner = mul(g, C(g, SQRT_2_OVER_PI), add(g, x, mul(g, C(g, GELU_KAPPA), mul(g, x2, x))));
    int t = un(g, &gr_op_tanh, inner);
    int left = mul(g, C(g, 0.5), add(g, C(g, 1), t));
    int right = mul(g, mul(g, mul(g, C(g, 0.5), x), sub(g, C(g, 1), un(g, &gr_op_square, t))),
                    mul(g, C(g, SQRT_2_OVER_PI), add(g, C(g, 1), mul(g, C(g, 3 * GELU_KAPPA), x2))));
    return add(g, left, right);
}

/* d/dx (Phi(x) + x phi(x)) = phi(x) (2 - x^2), for the HVP. */
static int gelu_derivative_partial(gr_graph *g, int id, int k) {
    (void)k;
    int x = X(g, id), x2 = un(g, &gr_op_square, x);
    int pdf = mul(g, C(g, INV_SQRT_2PI), un(g, &gr_op_exp, mul(g, C(g, -0.5), x2)));
    return mul(g, pdf, sub(g, C(g, 2), x2));
}

/* s (1 + x (1 - s)), s = sigmoid(x) */
static int silu_partial(gr_graph *g, int id, int k) {
    (void)k;
    int x = X(g, id), s = un(g, &gr_op_sigmoid, x);
    return mul(g, s, add(g, C(g, 1), mul(g, x, sub(g, C(g, 1), s))));
}

/* x <= 0 ? neg in_scale e^(x in_scale) : pos (NaN: pos) */
static int elu_partial(gr_graph *g, int id, int k) {
    (void)k;
    elu_coefs c = elu_coefs_of(g->nodes[id].op, g->nodes[id].attrs);
    int x = X(g, id);
    int xs = c.in_scale == 1 ? x : mul(g, x, C(g, c.in_scale));
    int negative = mul(g, C(g, c.in_scale * c.neg), un(g, &gr_op_exp, xs));
    return where(g, ge(g, C(g, 0), x), negative, C(g, c.pos));
}

/* x > 0 ? 1 : slope (slope at 0 and for NaN) */
static int leaky_relu_partial(gr_graph *g, int id, int k) {
    (void)k;
    double slope = num_attr(g->nodes[id].attrs, GR_ATTR_NEGATIVE_SLOPE, 0.01);
    int x = X(g, id);
    return where(g, gr_build_binary(g, &gr_op_greater, x, C(g, 0)), C(g, 1), C(g, slope));
}

/* 1 where lo < x < hi or x is NaN, else 0 (0 at the bounds: ATen's
 * hardtanh_backward zeroes x <= lo or x >= hi) */
static int hardtanh_partial(gr_graph *g, int id, int k) {
    (void)k;
    bounds b = bounds_of(g->nodes[id].op, g->nodes[id].attrs);
    int x = X(g, id);
    int inside = gr_build_binary(g, &gr_op_logical_and, gr_build_binary(g, &gr_op_greater, x, C(g, b.lo)),
                                 gr_build_binary(g, &gr_op_less, x, C(g, b.hi)));
    return gr_build_binary(g, &gr_op_logical_or, inside, un(g, &gr_op_isnan, x));
}

/* -3 < x < 3 ? 1/6 : 0 (0 at +-3 and for NaN) */
static int hardsigmoid_partial(gr_graph *g, int id, int k) {
    (void)k;
    int x = X(g, id);
    int inside = mul(g, gr_build_binary(g, &gr_op_greater, x, C(g, -3)), gr_build_binary(g, &gr_op_less, x, C(g, 3)));
    return div_(g, inside, C(g, 6));
}

/* x < -3 ? 0 : x <= 3 ? x/3 + 1/2 : 1 (-1/2 at -3, 3/2 at 3, 1 for NaN:
 * ATen's scalar hardswish_backward) */
static int hardswish_partial(gr_graph *g, int id, int k) {
    (void)k;
    int x = X(g, id);
    int mid = add(g, div_(g, x, C(g, 3)), C(g, 0.5));
    int upper = where(g, ge(g, C(g, 3), x), mid, C(g, 1));
    return gr_build_masked_partial(g, un(g, &gr_op_logical_not, gr_build_binary(g, &gr_op_less, x, C(g, -3))), upper);
}

/* t + x s (1 - t^2), t = tanh(softplus(x)), s = sigmoid(x) */
static int mish_partial(gr_graph *g, int id, int k) {
    (void)k;
    int x = X(g, id);
    int t = un(g, &gr_op_tanh, un(g, &gr_op_softplus, x));
    int s = un(g, &gr_op_sigmoid, x);
    return add(g, t, mul(g, mul(g, x, s), sub(g, C(g, 1), un(g, &gr_op_square, t))));
}

/* sigmoid(-x) */
static int logsigmoid_partial(gr_graph *g, int id, int k) {
    (void)k;
    return un(g, &gr_op_sigmoid, un(g, &gr_op_neg, X(g, id)));
}

/* PyTorch differentiates x / (|x| + 1) as a composite: 1/a - (x/a)/a sign(x),
 * a = |x| + 1 (1 at 0; NaN at +-inf, where y is NaN too) */
static int softsign_partial(gr_graph *g, int id, int k) {
    (void)k;
    int x = X(g, id);
    int a = add(g, un(g, &gr_op_abs, x), C(g, 1));
    return sub(g, un(g, &gr_op_reciprocal, a), mul(g, div_(g, div_(g, x, a), a), un(g, &gr_op_sign, x)));
}

/* (x >= min) (x <= max), an absent bound always true (NaN: 0); PyTorch's
 * clamp_backward passes the gradient at the bounds themselves */
static int clip_partial(gr_graph *g, int id, int k) {
    (void)k;
    const gr_attrs *a = g->nodes[id].attrs;
    int has_lo = (a->set & GR_ATTR_BIT(GR_ATTR_MIN)) != 0, has_hi = (a->set & GR_ATTR_BIT(GR_ATTR_MAX)) != 0;
    double lo = a->clip_min, hi = a->clip_max;
    int x = X(g, id);
    int above = has_lo ? ge(g, x, C(g, lo)) : -1, below = has_hi ? ge(g, C(g, hi), x) : -1;
    if (above >= 0 && below >= 0) return gr_build_binary(g, &gr_op_logical_and, above, below);
    return above >= 0 ? above : below;
}

/* ---- the entries ---------------------------------------------------------- */

#define ACT_OP(NAME, ATTRS, INFER, DOC)                                                                                \
    const gr_op gr_op_##NAME = {                                                                                       \
        .name = #NAME, .arity = 1, .attrs = ATTRS, .doc = DOC, .infer = INFER, .forward = NAME##_forward,              \
        .partial = NAME##_partial,                                                                                     \
    };
/* An op that computes as another op's kernel and partial. */
#define ACT_OP_AS(NAME, IMPL, ATTRS, INFER, DOC)                                                                       \
    const gr_op gr_op_##NAME = {                                                                                       \
        .name = #NAME, .arity = 1, .attrs = ATTRS, .doc = DOC, .infer = INFER, .forward = IMPL##_forward,              \
        .partial = IMPL##_partial,                                                                                     \
    };

const gr_op gr_op_gelu = {
    .name = "gelu", .arity = 1, .attrs = A(GR_ATTR_APPROXIMATE), .infer = gr_infer_same, .forward = gelu_forward,
    .partial = gelu_partial, .writes_side = gelu_writes_derivative,
    .doc = "approximate='none': y = x Phi(x) = x/2 (1 + erf(x/sqrt 2)), dy/dx = Phi(x) + x phi(x); "
           "approximate='tanh': y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), dy/dx its derivative. "
           "As PyTorch: y and dy/dx are NaN at -inf (inf * 0) and dy/dx is NaN at +inf",
};
const gr_op gr_op_gelu_derivative = {
    .name = "gelu_derivative", .arity = 1, .flags = GR_OPF_INTERNAL, .infer = gr_infer_same,
    .forward = gelu_derivative_forward, .partial = gelu_derivative_partial,
    .doc = "gelu's exact derivative, inserted by autodiff: y = Phi(x) + x phi(x) = (1 + erf(x/sqrt 2))/2 + x "
           "e^(-x^2/2)/sqrt(2 pi) in one pass; dy/dx = phi(x) (2 - x^2). NaN at +inf (inf * 0), as PyTorch's "
           "gelu_backward",
};
ACT_OP(silu, 0, gr_infer_same,
       "y = x sigmoid(x) = x / (1 + e^-x); dy/dx = s (1 + x (1 - s)), s = sigmoid(x). As PyTorch: y is NaN at -inf, "
       "dy/dx NaN at +-inf")
ACT_OP(elu, A(GR_ATTR_ALPHA), gr_infer_same,
       "y = x for x > 0, alpha (e^x - 1) for x <= 0 (alpha default 1); dy/dx = 1 for x > 0 and for NaN, "
       "alpha e^x for x <= 0 (alpha at 0, PyTorch's x <= 0 test; 1 for NaN as ATen's scalar loop)")
ACT_OP_AS(selu, elu, 0, gr_infer_same,
          "y = scale (x for x > 0, alpha (e^x - 1) for x <= 0), alpha = 1.6732632423543772, scale = "
          "1.0507009873554805; dy/dx = scale for x > 0 and for NaN, scale alpha e^x for x <= 0 (at 0 too)")
ACT_OP_AS(celu, elu, A(GR_ATTR_ALPHA), celu_infer,
          "y = x for x > 0, alpha (e^(x/alpha) - 1) for x <= 0 (alpha default 1, not 0); dy/dx = 1 for x > 0 and "
          "for NaN, e^(x/alpha) for x <= 0 (1 at 0)")
ACT_OP(leaky_relu, A(GR_ATTR_NEGATIVE_SLOPE), gr_infer_same,
       "y = x for x > 0 else negative_slope x (default 0.01); dy/dx = 1 for x > 0, negative_slope for x <= 0 "
       "(negative_slope at 0 and for NaN, as PyTorch)")
ACT_OP_AS(relu6, hardtanh, 0, gr_infer_same,
          "y = min(max(x, 0), 6) (NaN stays NaN); dy/dx = 1 for 0 < x < 6, 0 for x <= 0 or x >= 6 (0 at both "
          "kinks), 1 for NaN (ATen's scalar hardtanh_backward; its vectorized loop gives 0)")
ACT_OP(hardtanh, A(GR_ATTR_MIN_VAL) | A(GR_ATTR_MAX_VAL), gr_infer_same,
       "y = min(max(x, min_val), max_val) (defaults -1, 1; NaN stays NaN; min_val > max_val gives max_val); "
       "dy/dx = 1 for min_val < x < max_val, 0 for x <= min_val or x >= max_val (0 at the bounds), 1 for NaN "
       "(ATen's scalar hardtanh_backward; its vectorized loop gives 0); selected as a mask: +0 where it is 0")
ACT_OP(hardsigmoid, 0, gr_infer_same,
       "y = min(max(x + 3, 0), 6) / 6 (NaN stays NaN); dy/dx = 1/6 for -3 < x < 3, else 0 (0 at +-3 and for "
       "NaN, as PyTorch; torch 1.13 gives float32's 1/6 even in float64, gradd the exact 1/6)")
ACT_OP(hardswish, 0, gr_infer_same,
       "y = x min(max(x + 3, 0), 6) / 6 (NaN at -inf, as PyTorch); dy/dx = 0 for x < -3, x/3 + 1/2 for "
       "-3 <= x <= 3 (-1/2 at -3, 3/2 at 3), 1 for x > 3 and for NaN, as ATen's scalar hardswish_backward "
       "(torch 1.13's vectorized loop gives 1 at 3 and NaN for NaN)")
ACT_OP(mish, 0, gr_infer_same,
       "y = x tanh(softplus(x)); dy/dx = t + x sigmoid(x) (1 - t^2), t = tanh(softplus(x)). As PyTorch: y is "
       "NaN at -inf, dy/dx NaN at +-inf")
ACT_OP(logsigmoid, 0, gr_infer_same,
       "y = log(sigmoid(x)) = -softplus(-x), computed without overflow (-inf at -inf, 0 at +inf); "
       "dy/dx = sigmoid(-x) (1 at -inf, 0 at +inf)")
ACT_OP(softsign, 0, gr_infer_same,
       "y = x / (1 + |x|); dy/dx = 1/(1 + |x|)^2, computed as PyTorch's composite 1/a - (x/a)/a sign(x), "
       "a = 1 + |x|: 1 at 0; y and dy/dx NaN at +-inf (inf/inf), as PyTorch")
ACT_OP(clip, A(GR_ATTR_MIN) | A(GR_ATTR_MAX), clip_infer,
       "y = min(max(x, min), max), an absent bound left out (at least one is needed); NaN stays NaN; min > max "
       "gives max everywhere (NumPy's clip and PyTorch's clamp); dy/dx = 1 where min <= x <= max (1 at the "
       "bounds, as PyTorch's clamp_backward), else 0 (0 for NaN); the gradient is selected, not multiplied: +0 "
       "where the mask is 0, also for an infinite incoming gradient. clamp is the same op")
ACT_OP_AS(clamp, clip, A(GR_ATTR_MIN) | A(GR_ATTR_MAX), clip_infer,
          "clip under PyTorch's name: y = min(max(x, min), max), an absent bound left out; dy/dx = 1 where "
          "min <= x <= max (also at the bounds), else 0 (0 for NaN)")

const gr_op *const gr_ops_activation[] = {
    &gr_op_gelu,        &gr_op_silu,      &gr_op_elu,  &gr_op_selu,       &gr_op_celu,     &gr_op_leaky_relu,
    &gr_op_relu6,       &gr_op_hardtanh,  &gr_op_hardsigmoid, &gr_op_hardswish, &gr_op_mish, &gr_op_logsigmoid,
    &gr_op_softsign,    &gr_op_clip,      &gr_op_clamp, &gr_op_gelu_derivative, NULL};
