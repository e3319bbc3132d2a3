/* binary_math.c -- elementwise math of two operands beyond the arithmetic
 * of binary.c (atan2, copysign, logaddexp, fmod, remainder, floor_divide),
 * and lerp of three, with NumPy broadcasting. Each op gives its kernel and
 * its partial derivatives as graph nodes (autodiff makes the VJP, the JVP
 * and undoes broadcasting); values and derivatives follow PyTorch's,
 * special points included (its derivatives.yaml formulas). An operand
 * PyTorch gives a zero gradient (copysign's sign, floor_divide's both) is
 * nondiff here: its gradient is exactly 0. */
#include "ops.h"

#include <tgmath.h>

/* Python's floor division of floats, as PyTorch computes it: a division by
 * 0 is IEEE's a/b; otherwise (a - fmod(a, b)) / b, one less when the
 * remainder's sign differs from b's, rounded to the nearest whole number;
 * a zero quotient takes the sign of a/b. */
#define FLOOR_DIV_FN(NAME, T)                                                                                         \
    static inline T NAME(T a, T b) {                                                                                  \
        if (b == 0) return a / b;                                                                                     \
        T mod = fmod(a, b), div = (a - mod) / b;                                                                      \
        if (mod != 0 && (b < 0) != (mod < 0)) div -= 1;                                                               \
        if (div == 0) return copysign((T)0, a / b);                                                                   \
        T fl = floor(div);                                                                                            \
        return div - fl > (T)0.5 ? fl + 1 : fl;                                                                       \
    }
FLOOR_DIV_FN(floor_div_f, float)
FLOOR_DIV_FN(floor_div_d, double)
#define FLOOR_DIV(x, y) _Generic((x), float: floor_div_f, default: floor_div_d)(x, y)

/* Python's remainder: fmod moved into the sign of the divisor. */
#define REMAINDER_FN(NAME, T)                                                                                         \
    static inline T NAME(T a, T b) {                                                                                  \
        T mod = fmod(a, b);                                                                                           \
        return (mod != 0 && (b < 0) != (mod < 0)) ? mod + b : mod;                                                    \
    }
REMAINDER_FN(remainder_f, float)
REMAINDER_FN(remainder_d, double)
#define REMAINDER(x, y) _Generic((x), float: remainder_f, default: remainder_d)(x, y)

/* log(e^a + e^b) without overflow; two equal infinities give themselves
 * (not inf - inf), as PyTorch. */
#define LOGADDEXP(x, y)                                                                                               \
    ((isinf(x) && (x) == (y)) ? (x) : (((x) > (y) ? (x) : (y)) + log1p(exp(-fabs((x) - (y))))))

BINARY_KERNEL(atan2, atan2(x, y))
BINARY_KERNEL(copysign, copysign(x, y))
BINARY_KERNEL(logaddexp, LOGADDEXP(x, y))
BINARY_KERNEL(fmod, fmod(x, y))
BINARY_KERNEL(remainder, REMAINDER(x, y))
BINARY_KERNEL(floor_divide, FLOOR_DIV(x, y))
BINARY_KERNEL(trunc_divide, trunc(x / y))

#define IN(g, id, k) ((g)->nodes[id].in[k])

/* Defined below; the derivatives of fmod and remainder use them. */
extern const gr_op gr_op_floor_divide, gr_op_trunc_divide;

/* d atan2(a, b)/da = b/(a^2+b^2), d/db = -a/(a^2+b^2): NaN at (0, 0), as
 * PyTorch's atan2_backward (0 * inf). */
static int atan2_partial(gr_graph *g, int id, int k) {
    int a = IN(g, id, 0), b = IN(g, id, 1);
    int recip = gr_build_unary(
        g, &gr_op_reciprocal,
        gr_build_binary(g, &gr_op_add, gr_build_unary(g, &gr_op_square, a), gr_build_unary(g, &gr_op_square, b)));
    if (k == 0) return gr_build_binary(g, &gr_op_mul, b, recip);
    return gr_build_binary(g, &gr_op_mul, gr_build_unary(g, &gr_op_neg, a), recip);
}

/* d copysign(a, b)/da = y/a where a != 0, else 0 (PyTorch's
 * copysign_tensor_self_backward); b is nondiff. */
static int copysign_partial(gr_graph *g, int id, int k) {
    (void)k;
    int a = IN(g, id, 0), zero = gr_build_scalar(g, 0);
    return gr_build_apply(g, &gr_op_where, gr_build_binary(g, &gr_op_equal, a, zero), zero,
                          gr_build_binary(g, &gr_op_div, id, a), NULL);
}

/* d/da = 1/(1 + e^(b-a)) = sigmoid(a - b), d/db = sigmoid(b - a). */
static int logaddexp_partial(gr_graph *g, int id, int k) {
    int a = IN(g, id, k), b = IN(g, id, 1 - k);
    return gr_build_unary(g, &gr_op_sigmoid, gr_build_binary(g, &gr_op_sub, a, b));
}

/* d fmod(a, b)/da = 1, d/db = -trunc(a/b); remainder: 1 and -floor(a/b). */
static int fmod_partial(gr_graph *g, int id, int k) {
    if (k == 0) return GR_PARTIAL_ONE;
    return gr_build_unary(g, &gr_op_neg, gr_build_binary(g, &gr_op_trunc_divide, IN(g, id, 0), IN(g, id, 1)));
}
static int remainder_partial(gr_graph *g, int id, int k) {
    if (k == 0) return GR_PARTIAL_ONE;
    return gr_build_unary(g, &gr_op_neg, gr_build_binary(g, &gr_op_floor_divide, IN(g, id, 0), IN(g, id, 1)));
}

#define MATH_OP(NAME, NONDIFF, DOC)                                                                                   \
    const gr_op gr_op_##NAME = {                                                                                      \
        .name = #NAME, .arity = 2, .nondiff = NONDIFF, .doc = DOC, .infer = gr_infer_broadcast,                       \
        .forward = NAME##_forward, .partial = NAME##_partial,                                                         \
    };
#define STEP_OP(NAME, FLAGS, DOC)                                                                                     \
    const gr_op gr_op_##NAME = {                                                                                      \
        .name = #NAME, .arity = 2, .nondiff = 3, .flags = FLAGS, .doc = DOC, .infer = gr_infer_broadcast,             \
        .forward = NAME##_forward,                                                                                    \
    };

MATH_OP(atan2, 0,
        "y = atan2(a, b), the angle of (b, a) in [-pi, pi] (atan2(0, -0) = pi, as C and torch); "
        "dy/da = b/(a^2+b^2), dy/db = -a/(a^2+b^2), NaN at a = b = 0 as torch")
MATH_OP(copysign, 2,
        "y = |a| with the sign of b (-0 and NaN signs count, as C and torch); dy/da = y/a where a != 0, "
        "0 at a = 0 (torch); b gets a zero gradient")
MATH_OP(logaddexp, 0,
        "y = ln(e^a + e^b), computed as max + log1p(e^-|a-b|); equal infinities give themselves; "
        "dy/da = sigmoid(a-b), dy/db = sigmoid(b-a) (NaN when a = b = +-inf, as torch)")
MATH_OP(fmod, 0,
        "y = a - trunc(a/b) b, the sign of a (C fmod, torch.fmod; NaN for b = 0); dy/da = 1, "
        "dy/db = -trunc(a/b)")
MATH_OP(remainder, 0,
        "y = a - floor(a/b) b, the sign of b (Python's %, torch.remainder, np.remainder; NaN for b = 0); "
        "dy/da = 1, dy/db = -floor_divide(a, b)")
STEP_OP(floor_divide, 0,
        "y = floor(a/b) as Python's // (torch.floor_divide, np.floor_divide): (a - fmod(a, b))/b adjusted "
        "to the floor, a/b when b = 0; piecewise constant: both gradients are 0, as torch")
STEP_OP(trunc_divide, GR_OPF_INTERNAL,
        "y = trunc(a/b) (torch.div with rounding_mode='trunc'; fmod's derivative w.r.t. b); piecewise "
        "constant: no gradient")

/* ---- lerp(start, end, weight) ------------------------------------------ */

/* PyTorch's form: start + w (end - start) for |w| < 0.5, else
 * end - (end - start)(1 - w), exact at both ends. */
#define LERP_ROW(FN, T)                                                                                               \
    static void FN(void *ctx, char *const *p, const int64_t *s, int64_t n) {                                          \
        (void)ctx;                                                                                                    \
        T *o = (T *)p[0];                                                                                             \
        const T *a = (const T *)p[1], *b = (const T *)p[2], *w = (const T *)p[3];                                     \
        for (int64_t i = 0; i < n; i++) {                                                                             \
            T x = a[i * s[1]], y = b[i * s[2]], t = w[i * s[3]];                                                      \
            o[i * s[0]] = fabs(t) < (T)0.5 ? x + t * (y - x) : y - (y - x) * (1 - t);                                 \
        }                                                                                                             \
    }
LERP_ROW(lerp_row_f32, float)
LERP_ROW(lerp_row_f64, double)

static gr_status lerp_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    gr_run_broadcast(k, lerp_row_f32, lerp_row_f64);
    return GR_OK;
}

/* d/dstart = 1 - w, d/dend = w, d/dw = end - start. */
static int lerp_partial(gr_graph *g, int id, int k) {
    int a = IN(g, id, 0), b = IN(g, id, 1), w = IN(g, id, 2);
    if (k == 0) return gr_build_binary(g, &gr_op_sub, gr_build_scalar(g, 1), w);
    if (k == 1) return w;
    return gr_build_binary(g, &gr_op_sub, b, a);
}

const gr_op gr_op_lerp = {
    .name = "lerp", .arity = 3,
    .doc = "y = start + weight (end - start) (torch.lerp with a weight tensor, computed as end - (end - start)"
           "(1 - weight) when |weight| >= 0.5); d/dstart = 1 - weight, d/dend = weight, d/dweight = end - start",
    .infer = gr_infer_broadcast, .forward = lerp_forward, .partial = lerp_partial,
};

const gr_op *const gr_ops_binary_math[] = {&gr_op_atan2,     &gr_op_copysign,     &gr_op_logaddexp,
                                           &gr_op_fmod,      &gr_op_remainder,    &gr_op_floor_divide,
                                           &gr_op_trunc_divide, &gr_op_lerp,      NULL};
