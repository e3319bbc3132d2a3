/* unary.c -- elementwise unary ops. Each entry gives its kernel and one
 * partial derivative d y / d x as graph nodes; autodiff turns that single
 * rule into the VJP (g * partial) and the JVP (t * partial). */
#include "ops.h"

#include <tgmath.h>

#include "../vmath.h"

/* Stable form: no overflow of exp for large |x|. */
#define SIGMOID(x) ((x) >= 0 ? 1 / (1 + exp(-(x))) : exp(x) / (1 + exp(x)))

UNARY_KERNEL(neg, -x)
UNARY_KERNEL(exp_libm, exp(x))
static void exp_row_f32(const float *x, float *y, int64_t n) { gr_vexp_f32(x, y, n, 0); }
/* float32: vmath.h's vectorized row. */
static gr_status exp_forward(const gr_kernel *k, gr_error *err) {
    if (k->dt != GR_F32) return exp_libm_forward(k, err);
    gr_run_f32_rows(k, exp_row_f32);
    return GR_OK;
}
UNARY_KERNEL(log, log(x))
UNARY_KERNEL(sin, sin(x))
UNARY_KERNEL(cos, cos(x))
UNARY_KERNEL(tanh, tanh(x))
UNARY_KERNEL(sigmoid, SIGMOID(x))
/* NaN propagates, as in PyTorch; written without a branch so it vectorizes. */
UNARY_KERNEL(relu, GR_RELU(x))
void gr_relu_row_f32(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = GR_RELU(v);
    }
}
void gr_relu_row_f64(const double *x, double *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = GR_RELU(v);
    }
}
/* softplus with PyTorch's beta and threshold (defaults 1 and 20): x itself
 * where beta x > threshold, else log1p(e^(beta x)) / beta, in the dtype. */
static double softplus_attr(const gr_attrs *a, gr_attr_id id, double def) {
    if (!(a->set & GR_ATTR_BIT(id))) return def;
    return id == GR_ATTR_BETA ? a->beta : a->threshold;
}
#define SOFTPLUS_ROW(FN, T)                                                                                           \
    static void FN(const gr_attrs *a, const T *in, T *out, int64_t i0, int64_t i1) {                                  \
        const T beta = (T)softplus_attr(a, GR_ATTR_BETA, 1), threshold = (T)softplus_attr(a, GR_ATTR_THRESHOLD, 20);  \
        for (int64_t i = i0; i < i1; i++) {                                                                           \
            T x = in[i], bx = x * beta;                                                                               \
            out[i] = bx > threshold ? x : log1p(exp(bx)) / beta;                                                      \
        }                                                                                                             \
    }
SOFTPLUS_ROW(softplus_row_f32, float)
SOFTPLUS_ROW(softplus_row_f64, double)
static gr_status softplus_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    int64_t n = k->n->numel;
    for (int64_t i0 = 0; i0 < n && !(i0 > 0 && gr_cancelled(k->cancel)); i0 += GR_CHUNK_ELEMS) {
        int64_t i1 = n - i0 < GR_CHUNK_ELEMS ? n : i0 + GR_CHUNK_ELEMS;
        if (k->dt == GR_F32) softplus_row_f32(k->n->attrs, k->in[0], k->out, i0, i1);
        else softplus_row_f64(k->n->attrs, k->in[0], k->out, i0, i1);
    }
    return GR_OK;
}
UNARY_KERNEL(sqrt, sqrt(x))
UNARY_KERNEL(abs, fabs(x))
UNARY_KERNEL(square, x * x)
UNARY_KERNEL(reciprocal, 1 / x)

#define X(g, id) ((g)->nodes[id].in[0])

static int neg_partial(gr_graph *g, int id, int k) { (void)g, (void)id, (void)k; return GR_PARTIAL_NEG_ONE; }
static int exp_partial(gr_graph *g, int id, int k) { (void)g, (void)k; return id; }
static int log_partial(gr_graph *g, int id, int k) { (void)k; return gr_build_unary(g, &gr_op_reciprocal, X(g, id)); }
static int sin_partial(gr_graph *g, int id, int k) { (void)k; return gr_build_unary(g, &gr_op_cos, X(g, id)); }
static int cos_partial(gr_graph *g, int id, int k) {
    (void)k;
    return gr_build_unary(g, &gr_op_neg, gr_build_unary(g, &gr_op_sin, X(g, id)));
}
static int tanh_partial(gr_graph *g, int id, int k) {
    (void)k;
    return gr_build_binary(g, &gr_op_sub, gr_build_scalar(g, 1), gr_build_unary(g, &gr_op_square, id));
}
static int sigmoid_partial(gr_graph *g, int id, int k) {
    (void)k;
    return gr_build_binary(g, &gr_op_mul, id, gr_build_binary(g, &gr_op_sub, gr_build_scalar(g, 1), id));
}
/* relu's VJP and JVP are one fused pass, relu_backward(v, x) = v where
 * x > 0 else 0, instead of a mask and a multiply. */
static void relu_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    grads[0] = gr_build_binary(g, &gr_op_relu_backward, grad, X(g, id));
}
static int relu_jvp(gr_graph *g, int id, const int *t) {
    return gr_build_binary(g, &gr_op_relu_backward, t[0], X(g, id));
}
/* beta x > threshold ? 1 : sigmoid(beta x) (PyTorch's softplus_backward;
 * NaN gives NaN) */
static int softplus_partial(gr_graph *g, int id, int k) {
    (void)k;
    const gr_attrs *a = g->nodes[id].attrs;
    double beta = softplus_attr(a, GR_ATTR_BETA, 1), threshold = softplus_attr(a, GR_ATTR_THRESHOLD, 20);
    int x = X(g, id);
    int bx = beta == 1 ? x : gr_build_binary(g, &gr_op_mul, x, gr_build_scalar(g, beta));
    int linear = gr_build_binary(g, &gr_op_greater, bx, gr_build_scalar(g, threshold));
    return gr_build_apply(g, &gr_op_where, linear, gr_build_scalar(g, 1), gr_build_unary(g, &gr_op_sigmoid, bx), NULL);
}
static int sqrt_partial(gr_graph *g, int id, int k) {
    (void)k;
    return gr_build_binary(g, &gr_op_div, gr_build_scalar(g, 0.5), id);
}
static int abs_partial(gr_graph *g, int id, int k) {
    (void)k;
    int zero = gr_build_scalar(g, 0);
    return gr_build_binary(g, &gr_op_sub, gr_build_binary(g, &gr_op_greater, X(g, id), zero),
                     gr_build_binary(g, &gr_op_less, X(g, id), zero));
}
static int square_partial(gr_graph *g, int id, int k) {
    (void)k;
    return gr_build_binary(g, &gr_op_mul, X(g, id), gr_build_scalar(g, 2));
}
static int reciprocal_partial(gr_graph *g, int id, int k) {
    (void)k;
    return gr_build_unary(g, &gr_op_neg, gr_build_unary(g, &gr_op_square, id));
}

#define UNARY_OP(NAME, DOC)                                                                                           \
    const gr_op gr_op_##NAME = {                                                                                      \
        .name = #NAME, .arity = 1, .doc = DOC, .infer = gr_infer_same, .forward = NAME##_forward,                     \
        .partial = NAME##_partial,                                                                                    \
    };

UNARY_OP(neg, "y = -x; dy/dx = -1")
UNARY_OP(exp, "y = e^x; dy/dx = y")
UNARY_OP(log, "y = ln x; dy/dx = 1/x")
UNARY_OP(sin, "y = sin x; dy/dx = cos x")
UNARY_OP(cos, "y = cos x; dy/dx = -sin x")
UNARY_OP(tanh, "y = tanh x; dy/dx = 1 - y^2")
UNARY_OP(sigmoid, "y = 1/(1+e^-x); dy/dx = y(1-y)")
const gr_op gr_op_relu = {
    .name = "relu", .arity = 1,
    .doc = "y = max(x, 0) (NaN stays NaN, -0 stays -0, as PyTorch); dx = g where x > 0 or x is NaN (as PyTorch), "
           "else 0 (0 at 0)",
    .infer = gr_infer_same, .forward = relu_forward, .vjp = relu_vjp, .jvp = relu_jvp,
};

/* relu_backward(v, x): linear in v, and piecewise constant in x, so its
 * own derivatives are relu_backward again (for v) and zero (for x). */
/* NaN passes v, as PyTorch's threshold_backward (it zeroes where the
 * result is <= 0, which NaN is not). */
BINARY_KERNEL(relu_backward, (y > 0 || y != y) ? x : 0)
static void relu_backward_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    grads[0] = gr_build_binary(g, &gr_op_relu_backward, grad, g->nodes[id].in[1]);
}
static int relu_backward_jvp(gr_graph *g, int id, const int *t) {
    return gr_build_binary(g, &gr_op_relu_backward, t[0], g->nodes[id].in[1]);
}
const gr_op gr_op_relu_backward = {
    .name = "relu_backward", .arity = 2, .nondiff = 2, .flags = GR_OPF_INTERNAL,
    .doc = "y = v where x > 0 or x is NaN, else 0 (relu's derivative applied to v); dv = relu_backward(g, x), "
           "none for x",
    .infer = gr_infer_broadcast, .forward = relu_backward_forward, .vjp = relu_backward_vjp, .jvp = relu_backward_jvp,
};
const gr_op gr_op_softplus = {
    .name = "softplus", .arity = 1, .attrs = A(GR_ATTR_BETA) | A(GR_ATTR_THRESHOLD),
    .doc = "y = ln(1 + e^(beta x)) / beta, and y = x where beta x > threshold (beta 1, threshold 20 by default, "
           "as PyTorch); dy/dx = sigmoid(beta x), and 1 where beta x > threshold; NaN gives NaN",
    .infer = gr_infer_same, .forward = softplus_forward, .partial = softplus_partial,
};
UNARY_OP(sqrt, "y = sqrt x; dy/dx = 1/(2y)")
UNARY_OP(abs, "y = |x|; dy/dx = sign(x) (0 at 0)")
UNARY_OP(square, "y = x^2; dy/dx = 2x")
UNARY_OP(reciprocal, "y = 1/x; dy/dx = -y^2")

const gr_op *const gr_ops_unary[] = {&gr_op_neg,     &gr_op_exp,      &gr_op_log,  &gr_op_sin, &gr_op_cos,
                                     &gr_op_tanh,    &gr_op_sigmoid,  &gr_op_relu, &gr_op_relu_backward, &gr_op_softplus,
                                     &gr_op_sqrt,    &gr_op_abs,      &gr_op_square, &gr_op_reciprocal, NULL};
