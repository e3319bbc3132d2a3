/* onnx_quant.c -- lowering ONNX's linear quantization ops (opset 13's
 * definitions) to libgrad ops, the integers held as float values as for
 * every integer tensor of the lowering:
 *   DequantizeLinear: y = (x - zero_point) * scale;
 *   QuantizeLinear: y = clip(round(x / scale) + zero_point, lo, hi), with
 *     round half to even and [lo, hi] the range of zero_point's type
 *     (uint8 [0, 255] when it is absent, int8 [-128, 127]);
 *   DynamicQuantizeLinear: uint8, scale = (max(x, 0) - min(x, 0)) / 255,
 *     zero_point = round(clip(-min(x, 0) / scale, 0, 255)), then as
 *     QuantizeLinear.
 * A scale and zero point are scalars, or 1-D along `axis` (per channel).
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

int gd_ox_lw_DequantizeLinear(ox_low *L) {
    int x = gd_ox_in(L, 0);
    int64_t axis = gd_ox_ai(L, "axis", 1);
    int scale = along_axis(L, gd_ox_in(L, 1), x, axis);
    if (gd_ox_has(L, 2)) x = gd_ox_bin(L, "sub", x, along_axis(L, gd_ox_in(L, 2), x, axis));
    int y = gd_ox_bin(L, "mul", x, scale);
    if (y < 0) return -1;
    L->out_int[0] = 0;
    gd_ox_out(L, 0, y);
    return 0;
}

int gd_ox_lw_QuantizeLinear(ox_low *L) {
    int x = gd_ox_in(L, 0);
    int64_t axis = gd_ox_ai(L, "axis", 1);
    int scale = along_axis(L, gd_ox_in(L, 1), x, axis), zp = -1;
    int32_t type = OX_UINT8;
    if (gd_ox_has(L, 2)) {
        zp = along_axis(L, gd_ox_in(L, 2), x, axis);
        type = elem_type_of(L, L->node->input[2]);
        if (zp < 0) return -1;
    }
    if (type != OX_UINT8 && type != OX_INT8)
        return gd_ox_fail(L, "the zero point must be uint8 or int8 (ONNX type %d)", (int)type);
    int y = quantize(L, x, scale, zp, type == OX_UINT8 ? 0 : -128, type == OX_UINT8 ? 255 : 127);
    if (y < 0) return -1;
    L->out_int[0] = 1;
    gd_ox_out(L, 0, y);
    return 0;
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
    for (int k = 0; k < 3 && k < L->nout; k++) {
        L->out_int[k] = is_int[k];
        gd_ox_out(L, k, outs[k]);
    }
    return 0;
}
