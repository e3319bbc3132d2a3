/* onnx_quant.c -- lowering ONNX's quantization ops to libgrad ops, the
 * integers held as float values as for every integer tensor of the
 * lowering (exact while sums stay within the float type's integers:
 * 2^24 in float32, 2^53 in float64):
 *   DequantizeLinear: y = (x - zero_point) * scale;
 *   QuantizeLinear: y = clip(round(x / scale) + zero_point, lo, hi), with
 *     round half to even and [lo, hi] the range of zero_point's type
 *     (uint8 [0, 255] when it is absent, int8 [-128, 127]);
 *   DynamicQuantizeLinear: uint8, scale = (max(x, 0) - min(x, 0)) / 255,
 *     zero_point = round(clip(-min(x, 0) / scale, 0, 255)), then as
 *     QuantizeLinear.
 *   MatMulInteger, ConvInteger: (A - a_zero_point) @ (B - b_zero_point),
 *     the convolution likewise, as int32;
 *   QLinearMatMul, QLinearConv: the product (convolution, plus its int32
 *     bias at scale x_scale w_scale) of the dequantized operands,
 *     quantized with y_scale and y_zero_point.
 * A scale and zero point are scalars, or 1-D along `axis` (per channel):
 * per row of A, per column of B, per output channel of W.
 * Rounding has no gradient: quantized values are constants to autodiff,
 * as in ONNX Runtime (a straight-through estimator is a training choice
 * a graph spells out itself). */
#include "onnx_more.h"
#include "onnx_nn.h"

#include <string.h>

/* The ONNX element type of value name in the model: a graph input,
 * initializer, value_info or output, or a Cast's or Constant's result;
 * 0 when none says. */
static int32_t elem_type_of(const ox_low *L, const char *name) {
    const Onnx__GraphProto *g = L->m->graph;
    const Onnx__ValueInfoProto *const *lists[3] = {(const Onnx__ValueInfoProto *const *)g->input,
                                                   (const Onnx__ValueInfoProto *const *)g->value_info,
                                                   (const Onnx__ValueInfoProto *const *)g->output};
    size_t counts[3] = {g->n_input, g->n_value_info, g->n_output};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < counts[l]; i++) {
            const Onnx__ValueInfoProto *v = lists[l][i];
            if (v->name && !strcmp(v->name, name) && v->type && v->type->tensor_type &&
                v->type->tensor_type->has_elem_type)
                return v->type->tensor_type->elem_type;
        }
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name)) return g->initializer[i]->data_type;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (n->n_output < 1 || !n->output[0] || strcmp(n->output[0], name)) continue;
        const Onnx__AttributeProto *a = gd_ox_attr(n, n->op_type && !strcmp(n->op_type, "Cast") ? "to" : "value");
        if (a && a->has_i) return (int32_t)a->i;
        if (a && a->t) return a->t->data_type;
    }
    return 0;
}

/* v (a scale or zero point: a scalar, or [C] along axis of x) shaped to
 * broadcast against x. */
static int along_axis(ox_low *L, int v, int x, int64_t axis) {
    if (v < 0 || x < 0) return -1;
    const gr_shape *vs = gd_ox_shape(L, v), *xs = gd_ox_shape(L, x);
    if (vs->rank == 0 || (vs->rank == 1 && vs->dims[0] == 1)) return v;
    if (axis < 0) axis += xs->rank;
    if (vs->rank != 1 || axis < 0 || axis >= xs->rank || vs->dims[0] != xs->dims[axis])
        return gd_ox_fail(L, "a scale or zero point must be a scalar or 1-D of the size of x's axis %lld",
                          (long long)axis);
    int64_t dims[GR_MAX_RANK];
    for (int i = 0; i < xs->rank; i++) dims[i] = i == axis ? vs->dims[0] : 1;
    return gd_ox_reshape(L, v, dims, xs->rank);
}

/* clip(round(x / scale) + zp, lo, hi); zp < 0: none. */
static int quantize(ox_low *L, int x, int scale, int zp, double lo, double hi) {
    int q = gd_ox_un(L, "round", gd_ox_bin(L, "div", x, scale), NULL);
    if (zp >= 0) q = gd_ox_bin(L, "add", q, zp);
    gr_attrs at = {0};
    gr_attrs_set_number(&at, GR_ATTR_MIN, lo);
    gr_attrs_set_number(&at, GR_ATTR_MAX, hi);
    return gd_ox_un(L, "clip", q, &at);
}

/* The integer range [*lo, *hi] of the type of input k's value (a zero
 * point; absent: uint8). -1 (error set) for other types. */
static int zero_point_range(ox_low *L, int k, double *lo, double *hi) {
    int32_t type = gd_ox_has(L, k) ? elem_type_of(L, L->node->input[k]) : OX_UINT8;
    if (type != OX_UINT8 && type != OX_INT8)
        return gd_ox_fail(L, "the zero point must be uint8 or int8 (ONNX type %d)", (int)type);
    *lo = type == OX_UINT8 ? 0 : -128;
    *hi = type == OX_UINT8 ? 255 : 127;
    return 0;
}

/* x - zero point k (shaped by along_axis on axis), or x when absent. */
static int centered(ox_low *L, int x, int k, int64_t axis) {
    return gd_ox_has(L, k) ? gd_ox_bin(L, "sub", x, along_axis(L, gd_ox_in(L, k), x, axis)) : x;
}

/* The zero point or scale k of a convolution's weight (scalar or per
 * output channel) shaped to its output [N, M, spatial...]. */
static int per_out_channel(ox_low *L, int k, int y) {
    return along_axis(L, gd_ox_in(L, k), y, 1);
}

int gd_ox_lw_MatMulInteger(ox_low *L) {
    int a = gd_ox_in(L, 0), b = gd_ox_in(L, 1);
    if (a < 0 || b < 0) return -1;
    int y = gd_ox_op(L, "matmul", (int[]){centered(L, a, 2, gd_ox_shape(L, a)->rank - 2), centered(L, b, 3, -1)}, 2,
                     NULL);
    return gd_ox_out_typed(L, 0, y, 1);
}

int gd_ox_lw_ConvInteger(ox_low *L) {
    int x = gd_ox_in(L, 0), w = gd_ox_in(L, 1);
    if (x < 0 || w < 0) return -1;
    int y = gd_ox_conv(L, centered(L, x, 2, 1), centered(L, w, 3, 0));
    return gd_ox_out_typed(L, 0, y, 1);
}

int gd_ox_lw_QLinearMatMul(ox_low *L) {
    int a = gd_ox_in(L, 0), b = gd_ox_in(L, 3);
    double lo = 0, hi = 255;
    if (a < 0 || b < 0 || zero_point_range(L, 7, &lo, &hi) < 0) return -1;
    int ra = gd_ox_shape(L, a)->rank - 2;
    int da = gd_ox_bin(L, "mul", centered(L, a, 2, ra), along_axis(L, gd_ox_in(L, 1), a, ra));
    int db = gd_ox_bin(L, "mul", centered(L, b, 5, -1), along_axis(L, gd_ox_in(L, 4), b, -1));
    int y = gd_ox_op(L, "matmul", (int[]){da, db}, 2, NULL);
    y = quantize(L, y, gd_ox_in(L, 6), gd_ox_in(L, 7), lo, hi);
    return gd_ox_out_typed(L, 0, y, 1);
}

int gd_ox_lw_QLinearConv(ox_low *L) {
    int x = gd_ox_in(L, 0), w = gd_ox_in(L, 3);
    double lo = 0, hi = 255;
    if (x < 0 || w < 0 || zero_point_range(L, 7, &lo, &hi) < 0) return -1;
    int acc = gd_ox_conv(L, centered(L, x, 2, 1), centered(L, w, 5, 0)); /* int32 in ONNX */
    if (gd_ox_has(L, 8)) {
        int bias = gd_ox_in(L, 8), rank = acc < 0 ? 0 : gd_ox_shape(L, acc)->rank;
        int64_t shape[GR_MAX_RANK];
        for (int i = 0; i < rank - 1; i++) shape[i] = i == 0 && bias >= 0 ? gd_ox_shape(L, bias)->dims[0] : 1;
        acc = gd_ox_bin(L, "add", acc, bias < 0 ? -1 : gd_ox_reshape(L, bias, shape, rank - 1));
    }
    if (acc < 0) return -1;
    int scale = gd_ox_bin(L, "mul", gd_ox_in(L, 1), per_out_channel(L, 4, acc));
    int y = quantize(L, gd_ox_bin(L, "mul", acc, scale), gd_ox_in(L, 6), gd_ox_in(L, 7), lo, hi);
    return gd_ox_out_typed(L, 0, y, 1);
}

int gd_ox_lw_DequantizeLinear(ox_low *L) {
    int x = gd_ox_in(L, 0);
    int64_t axis = gd_ox_ai(L, "axis", 1);
    int scale = along_axis(L, gd_ox_in(L, 1), x, axis);
    if (gd_ox_has(L, 2)) x = gd_ox_bin(L, "sub", x, along_axis(L, gd_ox_in(L, 2), x, axis));
    int y = gd_ox_bin(L, "mul", x, scale);
    return gd_ox_out_typed(L, 0, y, 0);
}

int gd_ox_lw_QuantizeLinear(ox_low *L) {
    int x = gd_ox_in(L, 0);
    int64_t axis = gd_ox_ai(L, "axis", 1);
    int scale = along_axis(L, gd_ox_in(L, 1), x, axis), zp = -1;
    double lo = 0, hi = 255;
    if (gd_ox_has(L, 2) && (zp = along_axis(L, gd_ox_in(L, 2), x, axis)) < 0) return -1;
    if (zero_point_range(L, 2, &lo, &hi) < 0) return -1;
    int y = quantize(L, x, scale, zp, lo, hi);
    return gd_ox_out_typed(L, 0, y, 1);
}

int gd_ox_lw_DynamicQuantizeLinear(ox_low *L) {
    int x = gd_ox_in(L, 0), zero = gd_ox_scalar(L, 0);
    int lo = gd_ox_bin(L, "minimum", gd_ox_un(L, "min", x, NULL), zero);
    int hi = gd_ox_bin(L, "maximum", gd_ox_un(L, "max", x, NULL), zero);
    int scale = gd_ox_bin(L, "div", gd_ox_bin(L, "sub", hi, lo), gd_ox_scalar(L, 255));
    gr_attrs at = {0};
    gr_attrs_set_number(&at, GR_ATTR_MIN, 0);
    gr_attrs_set_number(&at, GR_ATTR_MAX, 255);
    int zp_fp = gd_ox_un(L, "clip", gd_ox_bin(L, "sub", zero, gd_ox_bin(L, "div", lo, scale)), &at);
    int zp = gd_ox_un(L, "round", zp_fp, NULL);
    int y = quantize(L, x, scale, zp, 0, 255);
    if (y < 0 || zp < 0) return -1;
    int outs[3] = {y, scale, zp}, is_int[3] = {1, 0, 1};
    for (int k = 0; k < 3 && k < L->nout; k++) gd_ox_out_typed(L, k, outs[k], is_int[k]);
    return 0;
}
