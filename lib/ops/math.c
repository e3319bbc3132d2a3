/* math.c -- elementwise math functions of one operand beyond unary.c:
 * logarithms and exponentials, the error function, trigonometric and
 * hyperbolic functions and their inverses, rsqrt and cbrt (each with its
 * derivative as one partial d y / d x built from differentiable ops, so
 * autodiff makes the VJP, the JVP and, by differentiating again, the HVP);
 * rounding and sign (piecewise constant: nondiff, their gradient is exactly
 * 0, as PyTorch's zeros_like); the predicates isnan, isinf, logical_not
 * (0/1 outputs, no gradient); and stop_gradient (the identity, with a zero
 * gradient).
 *
 * Values follow PyTorch (C's libm in the graph's dtype) and the partials are
 * PyTorch's derivatives.yaml formulas written the same way, so special
 * points (poles, the ends of a domain, infinities, NaN) give the same
 * infinities and NaNs. */
#include "ops.h"

#include <tgmath.h>

#include "../vmath.h"

#define LN2 0.693147180559945309417232121458176568
#define LN10 2.30258509299404568401799145468436421
#define TWO_OVER_SQRTPI 1.12837916709551257389615890312154517

/* x of node id, and scalar constants. */
#define X(g, id) ((g)->nodes[id].in[0])
#define C(g, v) gr_build_scalar(g, v)

/* sign as PyTorch: NaN gives 0 (NumPy gives NaN). */
#define SIGN(x) ((x) > 0 ? 1 : (x) < 0 ? -1 : 0)

UNARY_KERNEL(log1p, log1p(x))
UNARY_KERNEL(expm1, expm1(x))
UNARY_KERNEL(log2, log2(x))
UNARY_KERNEL(log10, log10(x))
UNARY_KERNEL(exp2, exp2(x))
UNARY_KERNEL(erf_libm, erf(x))
/* float32: vmath.h's vectorized row. */
static gr_status erf_forward(const gr_kernel *k, gr_error *err) {
    if (k->dt != GR_F32) return erf_libm_forward(k, err);
    gr_run_f32_rows(k, gr_verf_f32);
    return GR_OK;
}
UNARY_KERNEL(erfc, erfc(x))
UNARY_KERNEL(tan, tan(x))
UNARY_KERNEL(asin, asin(x))
UNARY_KERNEL(acos, acos(x))
UNARY_KERNEL(atan, atan(x))
UNARY_KERNEL(sinh, sinh(x))
UNARY_KERNEL(cosh, cosh(x))
UNARY_KERNEL(asinh, asinh(x))
UNARY_KERNEL(acosh, acosh(x))
UNARY_KERNEL(atanh, atanh(x))
UNARY_KERNEL(rsqrt, 1 / sqrt(x))
UNARY_KERNEL(cbrt, cbrt(x))
UNARY_KERNEL(sign, SIGN(x))
UNARY_KERNEL(floor, floor(x))
UNARY_KERNEL(ceil, ceil(x))
UNARY_KERNEL(round, rint(x)) /* the default rounding mode: half to even */
UNARY_KERNEL(trunc, trunc(x))
UNARY_KERNEL(isnan, x != x ? 1 : 0)
UNARY_KERNEL(isinf, isinf(x) ? 1 : 0)
UNARY_KERNEL(logical_not, x == 0 ? 1 : 0)

static gr_status stop_gradient_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    if (k->out != k->in[0]) gr_copy_chunked(k, k->out, k->in[0], k->n->numel);
    return GR_OK;
}

/* ---- partial derivatives (PyTorch's formulas) ------------------------- */

static int build_add(gr_graph *g, int a, int b) { return gr_build_binary(g, &gr_op_add, a, b); }
static int build_sub(gr_graph *g, int a, int b) { return gr_build_binary(g, &gr_op_sub, a, b); }
static int build_mul(gr_graph *g, int a, int b) { return gr_build_binary(g, &gr_op_mul, a, b); }
static int build_square(gr_graph *g, int a) { return gr_build_unary(g, &gr_op_square, a); }
static int build_recip(gr_graph *g, int a) { return gr_build_unary(g, &gr_op_reciprocal, a); }
static int build_rsqrt(gr_graph *g, int a) { return gr_build_unary(g, &gr_op_rsqrt, a); }

/* 1 / (1 + x) */
static int log1p_partial(gr_graph *g, int id, int k) {
    (void)k;
    return build_recip(g, build_add(g, X(g, id), C(g, 1)));
}
/* y + 1 */
static int expm1_partial(gr_graph *g, int id, int k) { (void)k; return build_add(g, id, C(g, 1)); }
/* 1 / (x ln 2) */
static int log2_partial(gr_graph *g, int id, int k) {
    (void)k;
    return build_recip(g, build_mul(g, X(g, id), C(g, LN2)));
}
/* 1 / (x ln 10) */
static int log10_partial(gr_graph *g, int id, int k) {
    (void)k;
    return build_recip(g, build_mul(g, X(g, id), C(g, LN10)));
}
/* y ln 2 */
static int exp2_partial(gr_graph *g, int id, int k) { (void)k; return build_mul(g, id, C(g, LN2)); }
/* s 2/sqrt(pi) e^(-x^2), s = 1 for erf, -1 for erfc */
static int gaussian(gr_graph *g, int id, double s) {
    int e = gr_build_unary(g, &gr_op_exp, gr_build_unary(g, &gr_op_neg, build_square(g, X(g, id))));
    return build_mul(g, C(g, s * TWO_OVER_SQRTPI), e);
}
static int erf_partial(gr_graph *g, int id, int k) { (void)k; return gaussian(g, id, 1); }
static int erfc_partial(gr_graph *g, int id, int k) { (void)k; return gaussian(g, id, -1); }
/* 1 + y^2 */
static int tan_partial(gr_graph *g, int id, int k) { (void)k; return build_add(g, C(g, 1), build_square(g, id)); }
/* rsqrt(1 - x^2), negated for acos */
static int asin_partial(gr_graph *g, int id, int k) {
    (void)k;
    return build_rsqrt(g, build_sub(g, C(g, 1), build_square(g, X(g, id))));
}
static int acos_partial(gr_graph *g, int id, int k) {
    return gr_build_unary(g, &gr_op_neg, asin_partial(g, id, k));
}
/* 1 / (x^2 + 1) */
static int atan_partial(gr_graph *g, int id, int k) {
    (void)k;
    return build_recip(g, build_add(g, build_square(g, X(g, id)), C(g, 1)));
}
static int sinh_partial(gr_graph *g, int id, int k) { (void)k; return gr_build_unary(g, &gr_op_cosh, X(g, id)); }
static int cosh_partial(gr_graph *g, int id, int k) { (void)k; return gr_build_unary(g, &gr_op_sinh, X(g, id)); }
/* rsqrt(x^2 + 1) */
static int asinh_partial(gr_graph *g, int id, int k) {
    (void)k;
    return build_rsqrt(g, build_add(g, build_square(g, X(g, id)), C(g, 1)));
}
/* rsqrt(x^2 - 1) */
static int acosh_partial(gr_graph *g, int id, int k) {
    (void)k;
    return build_rsqrt(g, build_sub(g, build_square(g, X(g, id)), C(g, 1)));
}
/* 1 / (1 - x^2) */
static int atanh_partial(gr_graph *g, int id, int k) {
    (void)k;
    return build_recip(g, build_sub(g, C(g, 1), build_square(g, X(g, id))));
}
/* -y^3 / 2 */
static int rsqrt_partial(gr_graph *g, int id, int k) {
    (void)k;
    return build_mul(g, C(g, -0.5), build_mul(g, id, build_square(g, id)));
}
/* 1 / (3 y^2) */
static int cbrt_partial(gr_graph *g, int id, int k) {
    (void)k;
    return build_recip(g, build_mul(g, C(g, 3), build_square(g, id)));
}

#define MATH_OP(NAME, DOC)                                                                                            \
    const gr_op gr_op_##NAME = {                                                                                      \
        .name = #NAME, .arity = 1, .doc = DOC, .infer = gr_infer_same, .forward = NAME##_forward,                     \
        .partial = NAME##_partial,                                                                                    \
    };
/* A piecewise-constant op or a predicate: no gradient (exactly 0). */
#define FLAT_OP_FLAGS(NAME, FLAGS, DOC)                                                                               \
    const gr_op gr_op_##NAME = {                                                                                      \
        .name = #NAME, .arity = 1, .nondiff = 1, .flags = FLAGS, .doc = DOC, .infer = gr_infer_same,                  \
        .forward = NAME##_forward,                                                                                    \
    };
#define FLAT_OP(NAME, DOC) FLAT_OP_FLAGS(NAME, 0, DOC)

MATH_OP(log1p, "y = ln(1 + x); dy/dx = 1/(1 + x) (inf at -1, NaN below)")
MATH_OP(expm1, "y = e^x - 1; dy/dx = y + 1")
MATH_OP(log2, "y = log2 x; dy/dx = 1/(x ln 2) (inf at 0, NaN for x < 0)")
MATH_OP(log10, "y = log10 x; dy/dx = 1/(x ln 10) (inf at 0, NaN for x < 0)")
MATH_OP(exp2, "y = 2^x; dy/dx = y ln 2")
MATH_OP(erf, "y = erf x; dy/dx = 2/sqrt(pi) e^(-x^2)")
MATH_OP(erfc, "y = erfc x = 1 - erf x; dy/dx = -2/sqrt(pi) e^(-x^2)")
MATH_OP(tan, "y = tan x; dy/dx = 1 + y^2")
MATH_OP(asin, "y = asin x; dy/dx = rsqrt(1 - x^2) (inf at +-1, NaN for |x| > 1, as PyTorch)")
MATH_OP(acos, "y = acos x; dy/dx = -rsqrt(1 - x^2) (-inf at +-1, NaN for |x| > 1, as PyTorch)")
MATH_OP(atan, "y = atan x; dy/dx = 1/(x^2 + 1)")
MATH_OP(sinh, "y = sinh x; dy/dx = cosh x")
MATH_OP(cosh, "y = cosh x; dy/dx = sinh x")
MATH_OP(asinh, "y = asinh x; dy/dx = rsqrt(x^2 + 1) (0 at +-inf and where x^2 overflows, as PyTorch)")
MATH_OP(acosh, "y = acosh x; dy/dx = rsqrt(x^2 - 1) (inf at 1, NaN below 1; 0 where x^2 overflows, as PyTorch)")
MATH_OP(atanh, "y = atanh x; dy/dx = 1/(1 - x^2) (inf at +-1, negative beyond, as PyTorch's formula)")
MATH_OP(rsqrt, "y = 1/sqrt x; dy/dx = -y^3/2 (y = inf and dy/dx = -inf at +0; -inf and +inf at -0; NaN for x < 0)")
MATH_OP(cbrt, "y = the real cube root of x (negative for x < 0, as NumPy's cbrt; PyTorch has none); "
              "dy/dx = 1/(3 y^2) (inf at 0)")
FLAT_OP(sign, "y = 1 for x > 0, -1 for x < 0, 0 at +-0 and for NaN (PyTorch; NumPy gives NaN); gradient 0")
FLAT_OP(floor, "y = the largest whole number <= x; gradient 0 (PyTorch's zeros_like, also at whole numbers)")
FLAT_OP(ceil, "y = the smallest whole number >= x; gradient 0 (PyTorch's zeros_like)")
FLAT_OP(round, "y = x rounded to the nearest whole number, halves to even (PyTorch's and NumPy's round: "
               "round(0.5) = 0, round(1.5) = 2, round(-2.5) = -2); gradient 0")
FLAT_OP(trunc, "y = x rounded toward 0; gradient 0")
FLAT_OP_FLAGS(isnan, GR_OPF_PREDICATE, "y = 1 where x is NaN else 0; no gradient")
FLAT_OP_FLAGS(isinf, GR_OPF_PREDICATE, "y = 1 where x is +inf or -inf else 0; no gradient")
FLAT_OP_FLAGS(logical_not, GR_OPF_PREDICATE,
              "y = 1 where x == 0 (either sign) else 0 (NaN counts as true: 0, as PyTorch); no gradient")
const gr_op gr_op_stop_gradient = {
    .name = "stop_gradient", .arity = 1, .nondiff = 1, .flags = GR_OPF_VIEW,
    .doc = "y = x; its gradient is 0 (PyTorch's x.detach(), JAX's stop_gradient): VJP, JVP and HVP see a constant",
    .infer = gr_infer_same, .forward = stop_gradient_forward,
};

const gr_op *const gr_ops_math[] = {
    &gr_op_log1p, &gr_op_expm1, &gr_op_log2,  &gr_op_log10, &gr_op_exp2,  &gr_op_erf,         &gr_op_erfc,
    &gr_op_tan,   &gr_op_asin,  &gr_op_acos,  &gr_op_atan,  &gr_op_sinh,  &gr_op_cosh,        &gr_op_asinh,
    &gr_op_acosh, &gr_op_atanh, &gr_op_rsqrt, &gr_op_cbrt,  &gr_op_sign,  &gr_op_floor,       &gr_op_ceil,
    &gr_op_round, &gr_op_trunc, &gr_op_isnan, &gr_op_isinf, &gr_op_logical_not, &gr_op_stop_gradient, NULL};
