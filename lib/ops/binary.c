/* binary.c -- elementwise ops on two (where: three) operands with NumPy
 * broadcasting. Each entry gives its kernel and the partial derivative
 * w.r.t. each operand at the broadcast shape; autodiff sums a broadcast
 * operand's gradient over its broadcast axes, once for all these ops. */
#include "ops.h"

#include <tgmath.h>

BINARY_KERNEL(add, x + y)
BINARY_KERNEL(sub, x - y)
BINARY_KERNEL(mul, x * y)
BINARY_KERNEL(div, x / y)
BINARY_KERNEL(pow, pow(x, y))
/* NaN propagates, as in NumPy and PyTorch. */
BINARY_KERNEL(maximum, (x > y || x != x) ? x : y)
BINARY_KERNEL(minimum, (x < y || x != x) ? x : y)
BINARY_KERNEL(greater, x > y ? 1 : 0)
BINARY_KERNEL(less, x < y ? 1 : 0)
BINARY_KERNEL(equal, x == y ? 1 : 0)

#define IN(g, id, k) ((g)->nodes[id].in[k])

static int add_partial(gr_graph *g, int id, int k) { (void)g, (void)id, (void)k; return GR_PARTIAL_ONE; }
static int sub_partial(gr_graph *g, int id, int k) {
    (void)g, (void)id;
    return k == 0 ? GR_PARTIAL_ONE : GR_PARTIAL_NEG_ONE;
}
static int mul_partial(gr_graph *g, int id, int k) { return IN(g, id, 1 - k); }
static int div_partial(gr_graph *g, int id, int k) {
    /* d(a/b)/da = 1/b; d(a/b)/db = -a/b^2 = -y/b */
    if (k == 0) return gr_build_unary(g, &gr_op_reciprocal, IN(g, id, 1));
    return gr_build_unary(g, &gr_op_neg, gr_build_binary(g, &gr_op_div, id, IN(g, id, 1)));
}
/* PyTorch's pow_backward_self and pow_backward_exponent: the base's
 * partial is 0 where the exponent is 0 (x^0 is constant even at x = 0), and
 * the exponent's is 0 where the base is 0 and the exponent >= 0 (instead of
 * 0 * -inf or NaN). */
static int pow_partial(gr_graph *g, int id, int k) {
    int a = IN(g, id, 0), b = IN(g, id, 1), zero = gr_build_scalar(g, 0);
    if (k == 0) {
        int b_minus_1 = gr_build_binary(g, &gr_op_sub, b, gr_build_scalar(g, 1));
        int d = gr_build_binary(g, &gr_op_mul, b, gr_build_binary(g, &gr_op_pow, a, b_minus_1));
        return gr_build_masked_partial(g, gr_build_binary(g, &gr_op_not_equal, b, zero), d);
    }
    int masked = gr_build_binary(g, &gr_op_logical_and, gr_build_binary(g, &gr_op_equal, a, zero),
                                 gr_build_binary(g, &gr_op_greater_equal, b, zero));
    int d = gr_build_binary(g, &gr_op_mul, id, gr_build_unary(g, &gr_op_log, a));
    return gr_build_apply(g, &gr_op_where, masked, zero, d, NULL);
}
/* Ties split the gradient evenly between the operands (as PyTorch does). */
static int select_partial(gr_graph *g, int id, const gr_op *wins) {
    int a = IN(g, id, 0), b = IN(g, id, 1);
    int tie = gr_build_binary(g, &gr_op_mul, gr_build_binary(g, &gr_op_equal, a, b), gr_build_scalar(g, 0.5));
    return gr_build_binary(g, &gr_op_add, gr_build_binary(g, wins, a, b), tie);
}
static int maximum_partial(gr_graph *g, int id, int k) {
    return k == 0 ? select_partial(g, id, &gr_op_greater) : select_partial(g, id, &gr_op_less);
}
static int minimum_partial(gr_graph *g, int id, int k) {
    return k == 0 ? select_partial(g, id, &gr_op_less) : select_partial(g, id, &gr_op_greater);
}

#define BINARY_OP(NAME, DOC)                                                                                          \
    const gr_op gr_op_##NAME = {                                                                                      \
        .name = #NAME, .arity = 2, .doc = DOC, .infer = gr_infer_broadcast, .forward = NAME##_forward,                \
        .partial = NAME##_partial,                                                                                    \
    };
#define COMPARE_OP(NAME, DOC)                                                                                         \
    const gr_op gr_op_##NAME = {                                                                                      \
        .name = #NAME, .arity = 2, .nondiff = 3, .flags = GR_OPF_PREDICATE, .doc = DOC, .infer = gr_infer_broadcast,  \
        .forward = NAME##_forward,                                                                                    \
    };

BINARY_OP(add, "y = a + b; dy/da = 1, dy/db = 1 (summed over broadcast axes)")
BINARY_OP(sub, "y = a - b; dy/da = 1, dy/db = -1")
BINARY_OP(mul, "y = a * b; dy/da = b, dy/db = a")
BINARY_OP(div, "y = a / b; dy/da = 1/b, dy/db = -a/b^2")
BINARY_OP(pow, "y = a^b (C pow: 0^0 = 1, NaN for a negative base and a fractional exponent); "
              "dy/da = b a^(b-1), 0 where b = 0; dy/db = ln(a) a^b, 0 where a = 0 and b >= 0 (both as torch)")
BINARY_OP(maximum, "y = max(a, b); the gradient goes to the larger operand, split evenly on ties")
BINARY_OP(minimum, "y = min(a, b); the gradient goes to the smaller operand, split evenly on ties")
COMPARE_OP(greater, "y = 1 where a > b else 0; no gradient")
COMPARE_OP(less, "y = 1 where a < b else 0; no gradient")
COMPARE_OP(equal, "y = 1 where a == b else 0; no gradient")

/* ---- where(cond, a, b) ----------------------------------------------- */

#define WHERE_ROW(FN, T)                                                                                              \
    static void FN(void *ctx, char *const *p, const int64_t *s, int64_t n) {                                          \
        (void)ctx;                                                                                                    \
        T *o = (T *)p[0];                                                                                             \
        const T *c = (const T *)p[1], *a = (const T *)p[2], *b = (const T *)p[3];                                     \
        for (int64_t i = 0; i < n; i++) o[i * s[0]] = c[i * s[1]] != 0 ? a[i * s[2]] : b[i * s[3]];                   \
    }
WHERE_ROW(where_row_f32, float)
WHERE_ROW(where_row_f64, double)

static gr_status where_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    gr_run_broadcast(k, where_row_f32, where_row_f64);
    return GR_OK;
}

static void where_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    int c = IN(g, id, 0), zero = gr_build_scalar(g, 0);
    if (need[1]) grads[1] = gr_build_apply(g, &gr_op_where, c, grad, zero, NULL);
    if (need[2]) grads[2] = gr_build_apply(g, &gr_op_where, c, zero, grad, NULL);
}

static int where_jvp(gr_graph *g, int id, const int *t) {
    int zero = gr_build_scalar(g, 0);
    return gr_build_apply(g, &gr_op_where, IN(g, id, 0), t[1] >= 0 ? t[1] : zero, t[2] >= 0 ? t[2] : zero, NULL);
}

const gr_op gr_op_where = {
    .name = "where", .arity = 3, .nondiff = 1,
    .doc = "y = a where cond != 0 else b; the gradient flows to the chosen operand, none to cond",
    .infer = gr_infer_broadcast, .forward = where_forward, .vjp = where_vjp, .jvp = where_jvp,
};

const gr_op *const gr_ops_binary[] = {&gr_op_add,     &gr_op_sub,     &gr_op_mul,     &gr_op_div,  &gr_op_pow,
                                      &gr_op_maximum, &gr_op_minimum, &gr_op_greater, &gr_op_less, &gr_op_equal,
                                      &gr_op_where,   NULL};
