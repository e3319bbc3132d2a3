/* onnx_ops.c -- the ONNX op table: each supported op_type of the default
 * domain and how it lowers to libgrad ops (elementwise, comparison,
 * reductions, shape and indexing ops, constants; the neural-network ops
 * are in onnx_nn.c). Semantics are ONNX's (opsets 1 to 18 as each op's
 * attributes and inputs moved); where an ONNX op has no libgrad op of its
 * own it is composed of several. Inputs that shape the graph (Reshape's
 * shape, Slice's starts, axes given as inputs, pads) must be constants,
 * which the shape sub-graphs torch exports are once folded. */
#include "onnx_nn.h"
#include "onnx_resize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- attribute helpers ------------------------------------------------ */

void gd_ox_set_ints(gr_attrs *a, gr_attr_id id, const int64_t *v, int n) {
    gr_error ge;
    (void)gr_attrs_set_ints(a, id, v, n, &ge); /* a refused list is refused again by the op */
}

void gd_ox_set_str(gr_attrs *a, gr_attr_id id, const char *s) {
    gr_attr_value v = {.type = GR_ATTR_STRING};
    gr_error ge;
    snprintf(v.str, sizeof v.str, "%s", s);
    (void)gr_attrs_put(a, gr_attr_def_of(id), &v, &ge);
}

int gd_ox_un(ox_low *L, const char *op, int x, const gr_attrs *at) { return gd_ox_op(L, op, &x, 1, at); }

int gd_ox_bin(ox_low *L, const char *op, int a, int b) { return gd_ox_op(L, op, (int[]){a, b}, 2, NULL); }

/* Set output 0 to id; 0 or -1. */
static int out0(ox_low *L, int id) {
    if (id < 0) return -1;
    gd_ox_out(L, 0, id);
    return 0;
}

/* ---- elementwise ------------------------------------------------------- */

static int unary(ox_low *L, const char *op) { return out0(L, gd_ox_un(L, op, gd_ox_in(L, 0), NULL)); }
static int binary(ox_low *L, const char *op) { return out0(L, gd_ox_bin(L, op, gd_ox_in(L, 0), gd_ox_in(L, 1))); }

#define UNARY(T, op) static int lw_##T(ox_low *L) { return unary(L, op); }
#define BINARY(T, op) static int lw_##T(ox_low *L) { return binary(L, op); }
UNARY(Relu, "relu") UNARY(Sigmoid, "sigmoid") UNARY(Tanh, "tanh") UNARY(Exp, "exp") UNARY(Log, "log")
UNARY(Sqrt, "sqrt") UNARY(Abs, "abs") UNARY(Neg, "neg") UNARY(Erf, "erf") UNARY(Reciprocal, "reciprocal")
UNARY(Floor, "floor") UNARY(Ceil, "ceil") UNARY(Round, "round") UNARY(Sign, "sign") UNARY(Sin, "sin")
UNARY(Cos, "cos") UNARY(Tan, "tan") UNARY(Asin, "asin") UNARY(Acos, "acos") UNARY(Atan, "atan")
UNARY(Sinh, "sinh") UNARY(Cosh, "cosh") UNARY(Asinh, "asinh") UNARY(Acosh, "acosh") UNARY(Atanh, "atanh")
UNARY(Softplus, "softplus") UNARY(Softsign, "softsign") UNARY(Mish, "mish") UNARY(HardSwish, "hardswish")
UNARY(IsNaN, "isnan") UNARY(Not, "logical_not")
BINARY(Add, "add") BINARY(Sub, "sub") BINARY(Mul, "mul") BINARY(Pow, "pow") BINARY(Equal, "equal")
BINARY(Less, "less") BINARY(Greater, "greater") BINARY(LessOrEqual, "less_equal")
BINARY(GreaterOrEqual, "greater_equal") BINARY(And, "logical_and") BINARY(Or, "logical_or")
BINARY(Xor, "not_equal") BINARY(MatMul, "matmul")

/* Integer Div truncates (C's rule, as ONNX's reference). */
static int lw_Div(ox_low *L) {
    int q = gd_ox_bin(L, "div", gd_ox_in(L, 0), gd_ox_in(L, 1));
    if (q >= 0 && gd_ox_in_int(L, 0) && gd_ox_in_int(L, 1)) q = gd_ox_un(L, "trunc", q, NULL);
    return out0(L, q);
}

static int lw_Mod(ox_low *L) { return binary(L, gd_ox_ai(L, "fmod", 0) ? "fmod" : "remainder"); }

static int lw_Where(ox_low *L) {
    return out0(L, gd_ox_op(L, "where", (int[]){gd_ox_in(L, 0), gd_ox_in(L, 1), gd_ox_in(L, 2)}, 3, NULL));
}

/* Max, Min, Sum, Mean: an operator over any number of inputs. */
static int chain(ox_low *L, const char *op) {
    int y = gd_ox_in(L, 0);
    for (int k = 1; k < L->nin && y >= 0; k++) y = gd_ox_bin(L, op, y, gd_ox_in(L, k));
    return y;
}
static int lw_Max(ox_low *L) { return out0(L, chain(L, "maximum")); }
static int lw_Min(ox_low *L) { return out0(L, chain(L, "minimum")); }
static int lw_Sum(ox_low *L) { return out0(L, chain(L, "add")); }
static int lw_Mean(ox_low *L) {
    int s = chain(L, "add");
    return out0(L, s < 0 ? -1 : gd_ox_bin(L, "div", s, gd_ox_scalar(L, L->nin)));
}

static int with_number(ox_low *L, const char *op, gr_attr_id id, double v) {
    gr_attrs at = {0};
    gr_attrs_set_number(&at, id, v);
    return out0(L, gd_ox_un(L, op, gd_ox_in(L, 0), &at));
}
static int lw_LeakyRelu(ox_low *L) { return with_number(L, "leaky_relu", GR_ATTR_NEGATIVE_SLOPE, gd_ox_af(L, "alpha", 0.01)); }
static int lw_Elu(ox_low *L) { return with_number(L, "elu", GR_ATTR_ALPHA, gd_ox_af(L, "alpha", 1)); }
static int lw_Celu(ox_low *L) { return with_number(L, "celu", GR_ATTR_ALPHA, gd_ox_af(L, "alpha", 1)); }

/* gamma * elu(x, alpha) */
static int lw_Selu(ox_low *L) {
    gr_attrs at = {0};
    gr_attrs_set_number(&at, GR_ATTR_ALPHA, gd_ox_af(L, "alpha", 1.67326319217681884765625));
    int e = gd_ox_un(L, "elu", gd_ox_in(L, 0), &at);
    return out0(L, gd_ox_bin(L, "mul", e, gd_ox_scalar(L, gd_ox_af(L, "gamma", 1.05070102214813232421875))));
}

/* clip(alpha x + beta, 0, 1) */
static int lw_HardSigmoid(ox_low *L) {
    int y = gd_ox_bin(L, "mul", gd_ox_in(L, 0), gd_ox_scalar(L, gd_ox_af(L, "alpha", 0.2)));
    y = gd_ox_bin(L, "add", y, gd_ox_scalar(L, gd_ox_af(L, "beta", 0.5)));
    gr_attrs at = {0};
    gr_attrs_set_number(&at, GR_ATTR_MIN, 0);
    gr_attrs_set_number(&at, GR_ATTR_MAX, 1);
    return out0(L, gd_ox_un(L, "clip", y, &at));
}

/* max(0, x) + slope * min(0, x), as torch's prelu. */
static int lw_PRelu(ox_low *L) {
    int x = gd_ox_in(L, 0), zero = gd_ox_scalar(L, 0), slope = gd_ox_in(L, 1);
    if (x < 0 || slope < 0) return -1;
    const gr_shape *xs = gd_ox_shape(L, x), *ss = gd_ox_shape(L, slope);
    if (ss->rank == 1 && xs->rank >= 3 && ss->dims[0] == xs->dims[1] && ss->dims[0] != xs->dims[xs->rank - 1]) {
        int64_t shape[GR_MAX_RANK] = {ss->dims[0]}; /* a per-channel slope (before opset 7's broadcasting) */
        for (int i = 1; i < xs->rank - 1; i++) shape[i] = 1;
        slope = gd_ox_reshape(L, slope, shape, xs->rank - 1);
    }
    int neg = gd_ox_bin(L, "mul", gd_ox_bin(L, "minimum", x, zero), slope);
    return out0(L, gd_ox_bin(L, "add", gd_ox_un(L, "relu", x, NULL), neg));
}

/* x where x > alpha, else 0 */
static int lw_ThresholdedRelu(ox_low *L) {
    int x = gd_ox_in(L, 0);
    return out0(L, gd_ox_bin(L, "mul", x, gd_ox_bin(L, "greater", x, gd_ox_scalar(L, gd_ox_af(L, "alpha", 1)))));
}

static int lw_IsInf(ox_low *L) {
    int x = gd_ox_in(L, 0), y = gd_ox_un(L, "isinf", x, NULL);
    int pos = (int)gd_ox_ai(L, "detect_positive", 1), neg = (int)gd_ox_ai(L, "detect_negative", 1);
    if (pos && neg) return out0(L, y);
    int side = gd_ox_bin(L, pos ? "greater" : "less", x, gd_ox_scalar(L, 0));
    return out0(L, pos || neg ? gd_ox_bin(L, "logical_and", y, side) : gd_ox_bin(L, "mul", y, gd_ox_scalar(L, 0)));
}

/* Clip: bounds as attributes (opset < 11) or inputs; constant bounds go
 * to clip, computed ones to maximum / minimum. */
static int lw_Clip(ox_low *L) {
    int x = gd_ox_in(L, 0);
    gr_attrs at = {0};
    int any = 0;
    if (L->m->opset < 11) {
        gr_attrs_set_number(&at, GR_ATTR_MIN, gd_ox_af(L, "min", -INFINITY));
        gr_attrs_set_number(&at, GR_ATTR_MAX, gd_ox_af(L, "max", INFINITY));
        return out0(L, gd_ox_un(L, "clip", x, &at));
    }
    for (int k = 1; k <= 2; k++) {
        if (!gd_ox_has(L, k)) continue;
        const ox_tensor *c = gd_ox_cin(L, k);
        if (c && c->n == 1) {
            gr_attrs_set_number(&at, k == 1 ? GR_ATTR_MIN : GR_ATTR_MAX, c->v[0]);
            any = 1;
        } else {
            x = gd_ox_bin(L, k == 1 ? "maximum" : "minimum", x, gd_ox_in(L, k));
        }
    }
    return out0(L, any ? gd_ox_un(L, "clip", x, &at) : x);
}

/* Cast: to a float type is the value itself (gradd computes in one float
 * type), to an integer type truncates, to bool tests for nonzero. */
static int lw_Cast(ox_low *L) {
    int64_t to = gd_ox_ai(L, "to", OX_FLOAT);
    int x = gd_ox_in(L, 0);
    L->out_int[0] = !gd_ox_is_float_type((int32_t)to);
    if (to == OX_STRING) return gd_ox_fail(L, "gradd has no string tensors");
    if (gd_ox_is_float_type((int32_t)to)) return out0(L, x);
    if (to == OX_BOOL) return out0(L, gd_ox_bin(L, "not_equal", x, gd_ox_scalar(L, 0)));
    return out0(L, gd_ox_un(L, "trunc", x, NULL));
}

/* CastLike: as Cast to input 1's type (float, or integer: truncated). */
static int lw_CastLike(ox_low *L) {
    int x = gd_ox_in(L, 0);
    L->out_int[0] = gd_ox_in_int(L, 1);
    return out0(L, L->out_int[0] ? gd_ox_un(L, "trunc", x, NULL) : x);
}

static int lw_Identity(ox_low *L) { return out0(L, gd_ox_in(L, 0)); }

/* Dropout: the identity at inference (training_mode absent or false, or
 * ratio 0); in training mode libgrad's dropout, whose stateless mask is
 * not torch's. The mask output is not supported. */
static int lw_Dropout(ox_low *L) {
    double ratio = L->m->opset < 12 ? gd_ox_af(L, "ratio", 0.5) : 0.5;
    if (gd_ox_has(L, 1)) {
        const ox_tensor *r = gd_ox_cin_value(L, 1);
        if (!r || r->n != 1) return gd_ox_fail(L, "ratio must be a constant");
        ratio = r->v[0];
    }
    int training = 0;
    if (gd_ox_has(L, 2)) {
        const ox_tensor *t = gd_ox_cin_value(L, 2);
        if (!t || t->n != 1) return gd_ox_fail(L, "training_mode must be a constant");
        training = t->v[0] != 0;
    }
    int x = gd_ox_in(L, 0);
    if (!training || ratio == 0) {
        if (L->nout > 1 && L->node->output[1][0]) { /* nothing dropped: a mask of ones */
            int ones = gd_ox_un(L, "ones_like", x, NULL);
            if (ones < 0) return -1;
            gd_ox_out(L, 1, ones);
            L->out_int[1] = 1;
        }
        return out0(L, x);
    }
    gr_attrs at = {0};
    gr_attrs_set_number(&at, GR_ATTR_P, ratio);
    if (L->nout > 1 && L->node->output[1][0]) { /* the same mask: where dropout keeps a one */
        int kept = gd_ox_un(L, "dropout", gd_ox_un(L, "ones_like", x, NULL), &at);
        int mask = gd_ox_bin(L, "not_equal", kept, gd_ox_scalar(L, 0));
        if (mask < 0) return -1;
        gd_ox_out(L, 1, mask);
        L->out_int[1] = 1;
    }
    return out0(L, gd_ox_un(L, "dropout", x, &at));
}

/* ---- constants and shapes --------------------------------------------- */

static int lw_Constant(ox_low *L) {
    const Onnx__AttributeProto *a = L->node->n_attribute ? L->node->attribute[0] : NULL;
    if (!a || !a->name) return gd_ox_fail(L, "a Constant needs a value");
    ox_tensor *t = NULL;
    if (!strcmp(a->name, "value") && a->t) {
        t = calloc(1, sizeof *t);
        char why[160];
        if (!t) return gd_ox_fail(L, "out of memory");
        if (gd_ox_tensor_read(a->t, L->r->lim.max_elements, t, why, sizeof why) < 0) {
            free(t);
            return gd_ox_fail(L, "value: %s", why);
        }
    } else if (!strcmp(a->name, "value_float") || !strcmp(a->name, "value_int")) {
        t = gd_ox_tensor_new(0, NULL);
        if (t) t->v[0] = a->has_f ? a->f : (double)a->i, t->is_int = a->name[6] == 'i';
    } else if (!strcmp(a->name, "value_floats") || !strcmp(a->name, "value_ints")) {
        int is_int = a->name[6] == 'i';
        int64_t n = is_int ? (int64_t)a->n_ints : (int64_t)a->n_floats;
        t = gd_ox_tensor_new(1, &n);
        for (int64_t i = 0; t && i < n; i++) t->v[i] = is_int ? (double)a->ints[i] : a->floats[i];
        if (t) t->is_int = is_int;
    } else {
        return gd_ox_fail(L, "a Constant's %s is not supported (sparse or string)", a->name);
    }
    if (!t) return gd_ox_fail(L, "out of memory");
    gd_ox_out_const(L, 0, t);
    return 0;
}

/* The shape of input 0: of its constant, or of its node. */
static int input_dims(ox_low *L, int k, int64_t *dims) {
    const ox_tensor *c = gd_ox_cin(L, k);
    if (c) {
        memcpy(dims, c->dims, sizeof c->dims);
        return c->rank;
    }
    int id = gd_ox_in(L, k);
    if (id < 0) return -1;
    const gr_shape *s = gd_ox_shape(L, id);
    memcpy(dims, s->dims, (size_t)s->rank * sizeof *dims);
    return s->rank;
}

static ox_tensor *int_vector(const int64_t *v, int64_t n) {
    ox_tensor *t = gd_ox_tensor_new(1, &n);
    for (int64_t i = 0; t && i < n; i++) t->v[i] = (double)v[i];
    if (t) t->is_int = 1;
    return t;
}

static int lw_Shape(ox_low *L) {
    int64_t dims[GR_MAX_RANK];
    int rank = input_dims(L, 0, dims);
    if (rank < 0) return -1;
    int64_t start = gd_ox_ai(L, "start", 0), end = gd_ox_ai(L, "end", rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = start < 0 ? 0 : start > rank ? rank : start;
    end = end < start ? start : end > rank ? rank : end;
    ox_tensor *t = int_vector(dims + start, end - start);
    if (!t) return gd_ox_fail(L, "out of memory");
    gd_ox_out_const(L, 0, t);
    return 0;
}

static int lw_Size(ox_low *L) {
    int64_t dims[GR_MAX_RANK], n = 1;
    int rank = input_dims(L, 0, dims);
    if (rank < 0) return -1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    ox_tensor *t = gd_ox_tensor_new(0, NULL);
    if (!t) return gd_ox_fail(L, "out of memory");
    t->v[0] = (double)n;
    t->is_int = 1;
    gd_ox_out_const(L, 0, t);
    return 0;
}

static int lw_ConstantOfShape(ox_low *L) {
    int64_t dims[GR_MAX_RANK];
    int rank = gd_ox_ints_in(L, 0, dims, GR_MAX_RANK);
    if (rank < 0) return -1;
    double v = 0;
    int is_int = 0;
    const Onnx__TensorProto *vt = gd_ox_at(L, "value");
    if (vt) {
        ox_tensor x;
        char why[160];
        if (gd_ox_tensor_read(vt, 1, &x, why, sizeof why) < 0 || x.n != 1) {
            gd_ox_tensor_free(&x);
            return gd_ox_fail(L, "value must hold one number");
        }
        v = x.v[0];
        is_int = x.is_int;
        gd_ox_tensor_free(&x);
    }
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || (dims[i] && n > L->r->lim.max_elements / dims[i])) return gd_ox_fail(L, "shape is too large");
        n *= dims[i];
    }
    ox_tensor *t = gd_ox_tensor_new(rank, dims);
    if (!t) return gd_ox_fail(L, "out of memory");
    for (int64_t i = 0; i < t->n; i++) t->v[i] = v;
    t->is_int = is_int;
    gd_ox_out_const(L, 0, t);
    return 0;
}

static int lw_Range(ox_low *L) {
    const ox_tensor *s = gd_ox_cin_value(L, 0), *e = gd_ox_cin_value(L, 1), *d = gd_ox_cin_value(L, 2);
    if (!s || !e || !d || s->n != 1 || e->n != 1 || d->n != 1) return gd_ox_fail(L, "start, limit and delta must be constant scalars");
    double n = ceil((e->v[0] - s->v[0]) / d->v[0]);
    if (!(n >= 0)) n = 0;
    if (n > (double)L->r->lim.max_elements) return gd_ox_fail(L, "the range is too long");
    int64_t len = (int64_t)n;
    ox_tensor *t = gd_ox_tensor_new(1, &len);
    if (!t) return gd_ox_fail(L, "out of memory");
    for (int64_t i = 0; i < len; i++) t->v[i] = s->v[0] + (double)i * d->v[0];
    t->is_int = s->is_int && e->is_int && d->is_int;
    gd_ox_out_const(L, 0, t);
    return 0;
}

/* ---- shape ops ----------------------------------------------------------- */

static int lw_Reshape(ox_low *L) {
    int x = gd_ox_in(L, 0);
    int64_t shape[GR_MAX_RANK];
    int n = L->m->opset < 5 ? gd_ox_aints(L, "shape", shape, GR_MAX_RANK) : gd_ox_ints_in(L, 1, shape, GR_MAX_RANK);
    if (x < 0 || n < 0) return n == -1 && L->m->opset < 5 ? gd_ox_fail(L, "no shape") : -1;
    const gr_shape *s = gd_ox_shape(L, x);
    if (!gd_ox_ai(L, "allowzero", 0))
        for (int i = 0; i < n; i++)
            if (shape[i] == 0) {
                if (i >= s->rank) return gd_ox_fail(L, "shape entry %d is 0 but the input has rank %d", i, s->rank);
                shape[i] = s->dims[i];
            }
    gr_attrs at = {0};
    gd_ox_set_ints(&at, GR_ATTR_SHAPE, shape, n);
    return out0(L, gd_ox_un(L, "reshape", x, &at));
}

int gd_ox_reshape(ox_low *L, int x, const int64_t *shape, int n) {
    gr_attrs at = {0};
    gd_ox_set_ints(&at, GR_ATTR_SHAPE, shape, n);
    return gd_ox_un(L, "reshape", x, &at);
}

/* Flatten: [prod(dims before axis), prod(dims from axis)]. */
static int lw_Flatten(ox_low *L) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    const gr_shape *s = gd_ox_shape(L, x);
    int64_t axis = gd_ox_ai(L, "axis", 1);
    if (axis < 0) axis += s->rank;
    if (axis < 0 || axis > s->rank) return gd_ox_fail(L, "axis %lld is out of range", (long long)axis);
    int64_t shape[2] = {1, 1};
    for (int i = 0; i < s->rank; i++) shape[i >= axis] *= s->dims[i];
    return out0(L, gd_ox_reshape(L, x, shape, 2));
}

static int lw_Transpose(ox_low *L) {
    int64_t perm[GR_MAX_RANK];
    int n = gd_ox_aints(L, "perm", perm, GR_MAX_RANK);
    if (n < -1) return -1;
    gr_attrs at = {0};
    if (n >= 0) gd_ox_set_ints(&at, GR_ATTR_PERM, perm, n);
    return out0(L, gd_ox_un(L, "transpose", gd_ox_in(L, 0), &at));
}

/* Axes from the attribute (before opset since) or from input k. Count,
 * -1 when absent, < -1 on failure. */
int gd_ox_axes(ox_low *L, int64_t since, int k, int64_t *axes) {
    if (L->m->opset < since) return gd_ox_aints(L, "axes", axes, GR_MAX_RANK);
    if (!gd_ox_has(L, k)) return -1;
    int n = gd_ox_ints_in(L, k, axes, GR_MAX_RANK);
    return n < 0 ? -2 : n;
}

static int lw_Squeeze(ox_low *L) {
    int64_t axes[GR_MAX_RANK];
    int n = gd_ox_axes(L, 13, 1, axes);
    if (n < -1) return -1;
    gr_attrs at = {0};
    if (n >= 0) gd_ox_set_ints(&at, GR_ATTR_AXES, axes, n);
    return out0(L, gd_ox_un(L, "squeeze", gd_ox_in(L, 0), &at));
}

static int lw_Unsqueeze(ox_low *L) {
    int64_t axes[GR_MAX_RANK];
    int n = gd_ox_axes(L, 13, 1, axes);
    if (n < 0) return n == -1 ? gd_ox_fail(L, "Unsqueeze needs axes") : -1;
    gr_attrs at = {0};
    gd_ox_set_ints(&at, GR_ATTR_AXES, axes, n);
    return out0(L, gd_ox_un(L, "expand_dims", gd_ox_in(L, 0), &at));
}

static int lw_Concat(ox_low *L) {
    int ids[OX_MAX_IO];
    for (int k = 0; k < L->nin; k++)
        if ((ids[k] = gd_ox_in(L, k)) < 0) return -1;
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_AXIS, gd_ox_ai(L, "axis", 0));
    return out0(L, gd_ox_op(L, "concat", ids, L->nin, &at));
}

/* One slice along axis: [start, end). */
int gd_ox_slice1(ox_low *L, int x, int64_t axis, int64_t start, int64_t end) {
    gr_attrs at = {0};
    gd_ox_set_ints(&at, GR_ATTR_AXES, &axis, 1);
    gd_ox_set_ints(&at, GR_ATTR_STARTS, &start, 1);
    gd_ox_set_ints(&at, GR_ATTR_ENDS, &end, 1);
    return gd_ox_un(L, "slice", x, &at);
}

static int lw_Split(ox_low *L) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    const gr_shape *s = gd_ox_shape(L, x);
    int64_t axis = gd_ox_ai(L, "axis", 0), split[OX_MAX_IO];
    if (axis < 0) axis += s->rank;
    if (axis < 0 || axis >= s->rank) return gd_ox_fail(L, "axis is out of range");
    int n = L->m->opset < 13 ? gd_ox_aints(L, "split", split, OX_MAX_IO)
                             : gd_ox_has(L, 1) ? gd_ox_ints_in(L, 1, split, OX_MAX_IO) : -1;
    if (n < -1) return -1;
    if (n == -1) { /* equal parts, the last one smaller */
        int64_t d = s->dims[axis], parts = L->nout, each = (d + parts - 1) / parts;
        n = L->nout;
        for (int i = 0; i < n; i++) split[i] = each * (i + 1) <= d ? each : d - each * i > 0 ? d - each * i : 0;
    }
    if (n != L->nout) return gd_ox_fail(L, "split has %d sizes for %d outputs", n, L->nout);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        int y = gd_ox_slice1(L, x, axis, at, at + split[i]);
        if (y < 0) return -1;
        gd_ox_out(L, i, y);
        at += split[i];
    }
    return 0;
}

static int lw_Slice(ox_low *L) {
    int64_t st[GR_MAX_RANK], en[GR_MAX_RANK], ax[GR_MAX_RANK], sp[GR_MAX_RANK];
    int n, na = -1, ns = -1;
    if (L->m->opset < 10) {
        n = gd_ox_aints(L, "starts", st, GR_MAX_RANK);
        if (n < 0 || gd_ox_aints(L, "ends", en, GR_MAX_RANK) != n) return n < -1 ? -1 : gd_ox_fail(L, "starts and ends are needed");
        na = gd_ox_aints(L, "axes", ax, GR_MAX_RANK);
    } else {
        n = gd_ox_ints_in(L, 1, st, GR_MAX_RANK);
        if (n < 0 || gd_ox_ints_in(L, 2, en, GR_MAX_RANK) != n) return n < 0 ? -1 : gd_ox_fail(L, "starts and ends differ in length");
        if (gd_ox_has(L, 3) && (na = gd_ox_ints_in(L, 3, ax, GR_MAX_RANK)) < 0) return -1;
        if (gd_ox_has(L, 4) && (ns = gd_ox_ints_in(L, 4, sp, GR_MAX_RANK)) < 0) return -1;
    }
    if ((na >= 0 && na != n) || (ns >= 0 && ns != n)) return gd_ox_fail(L, "axes or steps differ from starts in length");
    gr_attrs at = {0};
    gd_ox_set_ints(&at, GR_ATTR_STARTS, st, n);
    gd_ox_set_ints(&at, GR_ATTR_ENDS, en, n);
    if (na >= 0) gd_ox_set_ints(&at, GR_ATTR_AXES, ax, na);
    if (ns >= 0) gd_ox_set_ints(&at, GR_ATTR_STEPS, sp, ns);
    return out0(L, gd_ox_un(L, "slice", gd_ox_in(L, 0), &at));
}

static int lw_Gather(ox_low *L) {
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_AXIS, gd_ox_ai(L, "axis", 0));
    return out0(L, gd_ox_op(L, "take", (int[]){gd_ox_in(L, 0), gd_ox_in(L, 1)}, 2, &at));
}

static int lw_GatherElements(ox_low *L) {
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_AXIS, gd_ox_ai(L, "axis", 0));
    return out0(L, gd_ox_op(L, "take_along_axis", (int[]){gd_ox_in(L, 0), gd_ox_in(L, 1)}, 2, &at));
}

/* Expand broadcasts both ways: to the broadcast of x's shape and shape. */
static int lw_Expand(ox_low *L) {
    int x = gd_ox_in(L, 0);
    int64_t shape[GR_MAX_RANK];
    int n = gd_ox_ints_in(L, 1, shape, GR_MAX_RANK);
    if (x < 0 || n < 0) return -1;
    gr_shape want, got;
    gr_error ge;
    if (gr_shape_make(&want, n, shape, &ge) != GR_OK || gr_shape_broadcast(gd_ox_shape(L, x), &want, &got, &ge) != GR_OK)
        return gd_ox_fail(L, "%s", ge.message);
    if (gr_shape_equal(&got, gd_ox_shape(L, x))) return out0(L, x);
    gr_attrs at = {0};
    gd_ox_set_ints(&at, GR_ATTR_SHAPE, got.dims, got.rank);
    return out0(L, gd_ox_un(L, "expand", x, &at));
}

static int lw_Tile(ox_low *L) {
    int64_t reps[GR_MAX_RANK];
    int n = gd_ox_ints_in(L, 1, reps, GR_MAX_RANK);
    if (n < 0) return -1;
    gr_attrs at = {0};
    gd_ox_set_ints(&at, GR_ATTR_REPS, reps, n);
    return out0(L, gd_ox_un(L, "tile", gd_ox_in(L, 0), &at));
}

static int lw_Trilu(ox_low *L) {
    int64_t k = 0;
    if (gd_ox_has(L, 1) && gd_ox_ints_in(L, 1, &k, 1) < 0) return -1;
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_K, k);
    return out0(L, gd_ox_un(L, gd_ox_ai(L, "upper", 1) ? "triu" : "tril", gd_ox_in(L, 0), &at));
}

static int lw_CumSum(ox_low *L) {
    int64_t axis;
    if (gd_ox_ints_in(L, 1, &axis, 1) != 1) return L->err[0] ? -1 : gd_ox_fail(L, "axis must be one integer");
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_AXIS, axis);
    int x = gd_ox_in(L, 0);
    int y = gd_ox_un(L, gd_ox_ai(L, "reverse", 0) ? "cumsum_reverse" : "cumsum", x, &at);
    if (gd_ox_ai(L, "exclusive", 0)) y = gd_ox_bin(L, "sub", y, x);
    return out0(L, y);
}

static int lw_Einsum(ox_low *L) {
    char eq[GR_ATTR_STR_MAX];
    int ids[OX_MAX_IO];
    if (!gd_ox_as(L, "equation", NULL, eq, sizeof eq)) return gd_ox_fail(L, "Einsum needs an equation");
    for (int k = 0; k < L->nin; k++)
        if ((ids[k] = gd_ox_in(L, k)) < 0) return -1;
    gr_attrs at = {0};
    gd_ox_set_str(&at, GR_ATTR_EQUATION, eq);
    return out0(L, gd_ox_op(L, "einsum", ids, L->nin, &at));
}

/* x where x < -lambd, shifted by bias towards 0; 0 in [-lambd, lambd]. */
static int lw_Shrink(ox_low *L) {
    int x = gd_ox_in(L, 0);
    double lambd = gd_ox_af(L, "lambd", 0.5), bias = gd_ox_af(L, "bias", 0);
    int lo = gd_ox_bin(L, "less", x, gd_ox_scalar(L, -lambd)), hi = gd_ox_bin(L, "greater", x, gd_ox_scalar(L, lambd));
    int up = gd_ox_bin(L, "add", x, gd_ox_scalar(L, bias)), down = gd_ox_bin(L, "sub", x, gd_ox_scalar(L, bias));
    int inner = gd_ox_op(L, "where", (int[]){hi, down, gd_ox_scalar(L, 0)}, 3, NULL);
    return out0(L, gd_ox_op(L, "where", (int[]){lo, up, inner}, 3, NULL));
}

/* DepthToSpace / SpaceToDepth on [N, C, H, W] with blocksize b: a
 * reshape, a transpose, a reshape (DCR or CRD order). */
static int depth_space(ox_low *L, int to_space) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    const gr_shape *s = gd_ox_shape(L, x);
    if (s->rank != 4) return gd_ox_fail(L, "the input must be [N, C, H, W]");
    int64_t b = gd_ox_ai(L, "blocksize", 0), n = s->dims[0], c = s->dims[1], h = s->dims[2], w = s->dims[3];
    if (b < 1 || (to_space && c % (b * b)) || (!to_space && (h % b || w % b)))
        return gd_ox_fail(L, "blocksize %lld does not divide the input", (long long)b);
    char buf[8];
    int crd = to_space && !strcmp(gd_ox_as(L, "mode", "DCR", buf, sizeof buf), "CRD");
    int64_t six[6], perm[6], out[4];
    if (to_space) {
        int64_t dcr[6] = {n, b, b, c / (b * b), h, w}, crd6[6] = {n, c / (b * b), b, b, h, w};
        int64_t pd[6] = {0, 3, 4, 1, 5, 2}, pc[6] = {0, 1, 4, 2, 5, 3};
        memcpy(six, crd ? crd6 : dcr, sizeof six);
        memcpy(perm, crd ? pc : pd, sizeof perm);
        out[0] = n, out[1] = c / (b * b), out[2] = h * b, out[3] = w * b;
    } else {
        int64_t s6[6] = {n, c, h / b, b, w / b, b}, p[6] = {0, 3, 5, 1, 2, 4};
        memcpy(six, s6, sizeof six);
        memcpy(perm, p, sizeof perm);
        out[0] = n, out[1] = c * b * b, out[2] = h / b, out[3] = w / b;
    }
    gr_attrs at = {0};
    gd_ox_set_ints(&at, GR_ATTR_PERM, perm, 6);
    return out0(L, gd_ox_reshape(L, gd_ox_un(L, "transpose", gd_ox_reshape(L, x, six, 6), &at), out, 4));
}
static int lw_DepthToSpace(ox_low *L) { return depth_space(L, 1); }
static int lw_SpaceToDepth(ox_low *L) { return depth_space(L, 0); }

/* ---- the table ---------------------------------------------------------- */

#define H(T) {#T, lw_##T}
#define HN(T) {#T, gd_ox_lw_##T}
const ox_handler gd_ox_handlers[] = {
    H(Relu), H(Sigmoid), H(Tanh), H(Exp), H(Log), H(Sqrt), H(Abs), H(Neg), H(Erf), H(Reciprocal), H(Floor),
    H(Ceil), H(Round), H(Sign), H(Sin), H(Cos), H(Tan), H(Asin), H(Acos), H(Atan), H(Sinh), H(Cosh), H(Asinh),
    H(Acosh), H(Atanh), H(Softplus), H(Softsign), H(Mish), H(HardSwish), H(IsNaN), H(Not), H(IsInf),
    H(Add), H(Sub), H(Mul), H(Div), H(Pow), H(Mod), H(Equal), H(Less), H(Greater), H(LessOrEqual),
    H(GreaterOrEqual), H(And), H(Or), H(Xor), H(Where), H(Max), H(Min), H(Sum), H(Mean), H(MatMul),
    H(LeakyRelu), H(Elu), H(Celu), H(Selu), H(HardSigmoid), H(PRelu), H(ThresholdedRelu), H(Clip), H(Cast), H(CastLike),
    H(Identity), H(Dropout), H(Constant), H(Shape), H(Size), H(ConstantOfShape), H(Range), H(Reshape),
    H(Flatten), H(Transpose), H(Squeeze), H(Unsqueeze), H(Concat), H(Split), H(Slice), H(Gather),
    H(GatherElements), H(Expand), H(Tile), H(Trilu), H(CumSum), H(Einsum), H(Shrink),
    H(DepthToSpace), H(SpaceToDepth),
    HN(Gemm), HN(Conv), HN(ConvTranspose), HN(MaxPool), HN(AveragePool), HN(GlobalAveragePool),
    HN(GlobalMaxPool), HN(BatchNormalization), HN(LayerNormalization), HN(InstanceNormalization),
    HN(Softmax), HN(LogSoftmax), HN(ReduceSum), HN(ReduceMean), HN(ReduceMax), HN(ReduceMin), HN(ReduceProd),
    HN(ReduceL1), HN(ReduceL2), HN(ReduceSumSquare), HN(ReduceLogSum), HN(ReduceLogSumExp), HN(ArgMax),
    HN(ArgMin), HN(Pad), HN(NegativeLogLikelihoodLoss), HN(SoftmaxCrossEntropyLoss),
    HN(Hardmax), HN(EyeLike), HN(Resize), HN(Upsample),
    {NULL, NULL}};

const ox_handler *gd_ox_handler(const char *type) {
    for (const ox_handler *h = gd_ox_handlers; type && h->type; h++)
        if (!strcmp(h->type, type)) return h;
    return gd_ox_more_handler(type);
}
