/* onnx_emit.c -- one libgrad node as ONNX nodes (opset 17, ai.onnx), and
 * the "ai.gradd" domain both ways.
 *
 * Each op with a standard equivalent has an emitter that writes it with
 * the same semantics (values of the graph's float dtype throughout:
 * comparisons are cast back from bool, labels cast to int64 where ONNX
 * wants indices). An emitter first decides whether it can (returning 1
 * before writing anything when, e.g., an attribute has no ONNX spelling),
 * then writes. Every other op, and an op whose emitter declines, is one
 * node of domain "ai.gradd" named after the libgrad op, its attributes as
 * ONNX attributes (a number that float32 does not hold exactly as a
 * double scalar tensor). gradd's ONNX reader lowers such a node back to
 * the op of its name (gd_ox_gradd_handler below). */
#include "onnx_emit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The node being written. */
typedef struct ox_e {
    ox_w *W;
    const gr_graph *g;
    int id;
    const gr_attrs *a;
    const char *const *in;          /* (nin) its operands' ONNX names */
    int nin;
    const char *out;                /* its value's ONNX name */
    const char *onnx;               /* the table's ONNX op type, or NULL */
} ox_e;

typedef int (*ox_emit_fn)(ox_e *E);

static int has(const ox_e *E, gr_attr_id id) { return (E->a->set & GR_ATTR_BIT(id)) != 0; }
static const gr_shape *in_shape(const ox_e *E, int k) { return gr_node_shape(E->g, gr_node_operand(E->g, E->id, k)); }
static const gr_shape *out_shape(const ox_e *E) { return gr_node_shape(E->g, E->id); }
static int done(ox_e *E, const void *last) { return last && !E->W->oom ? 0 : -1; }

/* The final node of the op: type over in, writing E->out. */
static Onnx__NodeProto *final(ox_e *E, const char *type, const char *const *in, int nin) {
    return gd_ow_node(E->W, type, NULL, in, nin, E->out);
}

/* x cast to ONNX data type to (a temp). */
static const char *cast(ox_e *E, const char *x, int32_t to) {
    Onnx__NodeProto *n;
    const char *t = gd_ow_tmp_node(E->W, "Cast", &x, 1, &n);
    gd_ow_attr_int(E->W, n, "to", to);
    return t;
}

/* ---- elementwise ------------------------------------------------------------ */

/* The table's ONNX op over the same operands. */
static int e_same(ox_e *E) { return done(E, final(E, E->onnx, E->in, E->nin)); }

static int e_square(ox_e *E) { return done(E, final(E, "Mul", (const char *const[]){E->in[0], E->in[0]}, 2)); }

/* A comparison: bool, cast back to the graph's dtype (gradd's 0 and 1). */
static int e_compare(ox_e *E) {
    const char *b = gd_ow_tmp_node(E->W, E->onnx, E->in, 2, NULL);
    Onnx__NodeProto *n = b ? final(E, "Cast", &b, 1) : NULL;
    gd_ow_attr_int(E->W, n, "to", E->W->elem);
    return done(E, n);
}

static int e_not_equal(ox_e *E) {
    const char *eq = gd_ow_tmp_node(E->W, "Equal", E->in, 2, NULL);
    const char *ne = eq ? gd_ow_tmp_node(E->W, "Not", &eq, 1, NULL) : NULL;
    Onnx__NodeProto *n = ne ? final(E, "Cast", &ne, 1) : NULL;
    gd_ow_attr_int(E->W, n, "to", E->W->elem);
    return done(E, n);
}

/* isnan: IsNaN, cast back. */
static int e_isnan(ox_e *E) {
    const char *b = gd_ow_tmp_node(E->W, "IsNaN", E->in, 1, NULL);
    Onnx__NodeProto *n = b ? final(E, "Cast", &b, 1) : NULL;
    gd_ow_attr_int(E->W, n, "to", E->W->elem);
    return done(E, n);
}

/* logical_and, logical_or, logical_not: operands != 0 (NaN is true, as
 * Cast to bool), the result cast back. */
static int e_logical(ox_e *E) {
    const char *b[2] = {NULL, NULL};
    for (int k = 0; k < E->nin; k++)
        if (!(b[k] = cast(E, E->in[k], OX_BOOL))) return -1;
    const char *y = gd_ow_tmp_node(E->W, E->onnx, b, E->nin, NULL);
    Onnx__NodeProto *n = y ? final(E, "Cast", &y, 1) : NULL;
    gd_ow_attr_int(E->W, n, "to", E->W->elem);
    return done(E, n);
}

/* where(cond, a, b): cond != 0 (NaN counts as true, as Cast to bool). */
static int e_where(ox_e *E) {
    const char *c = cast(E, E->in[0], OX_BOOL);
    return done(E, c ? final(E, "Where", (const char *const[]){c, E->in[1], E->in[2]}, 3) : NULL);
}

/* relu_backward(v, x): v where x > 0 or x is NaN (not x <= 0), else 0. */
static int e_relu_backward(ox_e *E) {
    const char *zero = gd_ow_scalar(E->W, 0);
    const char *le = zero ? gd_ow_tmp_node(E->W, "LessOrEqual", (const char *const[]){E->in[1], zero}, 2, NULL) : NULL;
    const char *pass = le ? gd_ow_tmp_node(E->W, "Not", &le, 1, NULL) : NULL;
    return done(E, pass ? final(E, "Where", (const char *const[]){pass, E->in[0], zero}, 3) : NULL);
}

/* ---- linear algebra and movement ---------------------------------------------- */

/* The last two axes of x (rank r) swapped (a temp). */
static const char *swap_last(ox_e *E, const char *x, int r) {
    int64_t perm[GR_MAX_RANK];
    for (int i = 0; i < r; i++) perm[i] = i;
    perm[r - 2] = r - 1, perm[r - 1] = r - 2;
    Onnx__NodeProto *n;
    const char *t = gd_ow_tmp_node(E->W, "Transpose", &x, 1, &n);
    gd_ow_attr_ints(E->W, n, "perm", perm, r);
    return t;
}

static int e_matmul(ox_e *E) {
    int ta = has(E, GR_ATTR_TRANSPOSE_A) && E->a->transpose_a, tb = has(E, GR_ATTR_TRANSPOSE_B) && E->a->transpose_b;
    int ra = in_shape(E, 0)->rank, rb = in_shape(E, 1)->rank;
    if ((ta && ra < 2) || (tb && rb < 2)) return 1;
    const char *a = ta ? swap_last(E, E->in[0], ra) : E->in[0], *b = tb ? swap_last(E, E->in[1], rb) : E->in[1];
    return done(E, a && b ? final(E, "MatMul", (const char *const[]){a, b}, 2) : NULL);
}

static int e_transpose(ox_e *E) {
    int r = in_shape(E, 0)->rank;
    int64_t perm[GR_MAX_RANK];
    for (int i = 0; i < r; i++) perm[i] = has(E, GR_ATTR_PERM) ? E->a->perm[i] : r - 1 - i;
    Onnx__NodeProto *n = final(E, "Transpose", E->in, 1);
    gd_ow_attr_ints(E->W, n, "perm", perm, r);
    return done(E, n);
}

/* reshape: to the node's own (fully known) shape; a 0 there is a 0
 * (allowzero), not ONNX's "copy the input's". */
static int e_reshape(ox_e *E) {
    const gr_shape *s = out_shape(E);
    int zero = 0;
    for (int i = 0; i < s->rank; i++) zero |= s->dims[i] == 0;
    const char *shape = gd_ow_i64s(E->W, s->dims, s->rank);
    Onnx__NodeProto *n = shape ? final(E, "Reshape", (const char *const[]){E->in[0], shape}, 2) : NULL;
    if (zero) gd_ow_attr_int(E->W, n, "allowzero", 1);
    return done(E, n);
}

/* squeeze, expand_dims, flatten: a Reshape to the node's shape. */
static int e_to_shape(ox_e *E) { return e_reshape(E); }

static int e_concat(ox_e *E) {
    Onnx__NodeProto *n = final(E, "Concat", E->in, E->nin);
    gd_ow_attr_int(E->W, n, "axis", has(E, GR_ATTR_AXIS) ? E->a->axis : 0);
    return done(E, n);
}

/* tile: Tile when reps gives one count per axis (NumPy pads the shorter). */
static int e_tile(ox_e *E) {
    if (E->a->nreps != in_shape(E, 0)->rank) return 1;
    int64_t reps[GR_MAX_RANK];
    for (int i = 0; i < E->a->nreps; i++) reps[i] = E->a->reps[i];
    const char *r = gd_ow_i64s(E->W, reps, E->a->nreps);
    return done(E, r ? final(E, "Tile", (const char *const[]){E->in[0], r}, 2) : NULL);
}

static int e_expand(ox_e *E) {
    const gr_shape *s = out_shape(E);
    const char *shape = gd_ow_i64s(E->W, s->dims, s->rank);
    return done(E, shape ? final(E, "Expand", (const char *const[]){E->in[0], shape}, 2) : NULL);
}

static int e_fill(ox_e *E) {
    const gr_shape *s = out_shape(E);
    int64_t one = 1;
    double v = has(E, GR_ATTR_VALUE) ? E->a->value : 0;
    float f = (float)v;
    const void *raw = E->W->elem == OX_FLOAT ? (const void *)&f : (const void *)&v;
    Onnx__TensorProto *t = gd_ow_tensor(E->W, NULL, E->W->elem, 1, &one, raw, E->W->elem == OX_FLOAT ? 4 : 8);
    const char *shape = gd_ow_i64s(E->W, s->dims, s->rank);
    Onnx__NodeProto *n = shape && t ? final(E, "ConstantOfShape", &shape, 1) : NULL;
    gd_ow_attr_tensor(E->W, n, "value", t);
    return done(E, n);
}

/* slice: ONNX Slice's rule already. */
static int e_slice(ox_e *E) {
    const gr_attrs *a = E->a;
    const char *in[5] = {E->in[0], gd_ow_i64s(E->W, a->starts, a->nstarts), gd_ow_i64s(E->W, a->ends, a->nends)};
    int n = 3;
    if (has(E, GR_ATTR_AXES) || has(E, GR_ATTR_STEPS)) {
        int64_t axes[GR_MAX_RANK];
        for (int i = 0; i < a->nstarts; i++) axes[i] = has(E, GR_ATTR_AXES) ? a->axes[i] : i;
        in[n++] = gd_ow_i64s(E->W, axes, a->nstarts);
    }
    if (has(E, GR_ATTR_STEPS)) in[n++] = gd_ow_i64s(E->W, a->steps, a->nsteps);
    for (int i = 0; i < n; i++)
        if (!in[i]) return -1;
    return done(E, final(E, "Slice", in, n));
}

/* ---- reductions ------------------------------------------------------------------ */

/* The reduced axes (all: -1), keepdims. 1 when the attributes have no
 * ONNX spelling (an empty axes list). */
static int red_axes(const ox_e *E, int64_t *axes, int *n, int *keep) {
    *keep = has(E, GR_ATTR_KEEPDIMS) && E->a->keepdims;
    *n = -1;
    if (has(E, GR_ATTR_AXES)) {
        if (E->a->naxes == 0) return 1;
        *n = E->a->naxes;
        for (int i = 0; i < *n; i++) axes[i] = E->a->axes[i];
    } else if (has(E, GR_ATTR_AXIS)) {
        *n = 1;
        axes[0] = E->a->axis;
    }
    return 0;
}

/* sum: ReduceSum takes its axes as an input (opset 13 on). */
static int e_sum(ox_e *E) {
    int64_t axes[GR_MAX_RANK];
    int n, keep;
    if (red_axes(E, axes, &n, &keep)) return 1;
    const char *in[2] = {E->in[0], n >= 0 ? gd_ow_i64s(E->W, axes, n) : NULL};
    if (n >= 0 && !in[1]) return -1;
    Onnx__NodeProto *node = final(E, "ReduceSum", in, n >= 0 ? 2 : 1);
    gd_ow_attr_int(E->W, node, "keepdims", keep);
    return done(E, node);
}

/* mean, max, min: their axes are an attribute until opset 18. */
static int e_reduce_attr(ox_e *E) {
    int64_t axes[GR_MAX_RANK];
    int n, keep;
    if (red_axes(E, axes, &n, &keep)) return 1;
    Onnx__NodeProto *node = final(E, E->onnx, E->in, 1);
    if (n >= 0) gd_ow_attr_ints(E->W, node, "axes", axes, n);
    gd_ow_attr_int(E->W, node, "keepdims", keep);
    return done(E, node);
}

/* sum_to: ReduceSum (keepdims) over the axes broadcasting made, then a
 * Reshape to the target shape. */
static int e_sum_to(ox_e *E) {
    const gr_shape *x = in_shape(E, 0), *t = out_shape(E);
    int64_t axes[GR_MAX_RANK];
    int n = 0, lead = x->rank - t->rank;
    for (int i = 0; i < x->rank; i++)
        if (i < lead || (t->dims[i - lead] == 1 && x->dims[i] != 1)) axes[n++] = i;
    const char *s = E->in[0];
    if (n) {
        const char *ax = gd_ow_i64s(E->W, axes, n);
        Onnx__NodeProto *r = NULL;
        s = ax ? gd_ow_tmp_node(E->W, "ReduceSum", (const char *const[]){E->in[0], ax}, 2, &r) : NULL;
        gd_ow_attr_int(E->W, r, "keepdims", 1);
    }
    const char *shape = s ? gd_ow_i64s(E->W, t->dims, t->rank) : NULL;
    int zero = 0;
    for (int i = 0; i < t->rank; i++) zero |= t->dims[i] == 0;
    Onnx__NodeProto *node = shape ? final(E, "Reshape", (const char *const[]){s, shape}, 2) : NULL;
    if (zero) gd_ow_attr_int(E->W, node, "allowzero", 1);
    return done(E, node);
}

static int e_softmax(ox_e *E) {
    Onnx__NodeProto *n = final(E, E->onnx, E->in, 1);
    gd_ow_attr_int(E->W, n, "axis", has(E, GR_ATTR_AXIS) ? E->a->axis : -1);
    return done(E, n);
}

/* ---- classes ------------------------------------------------------------------------- */

/* labels[..., None] into *col and labels[..., None] == [0, 1, ..., C-1]
 * (bool), a label equal to ignore (when it is a class and has_ignore is
 * set) giving a zero row. Labels that are no class give a zero row here
 * (gradd's ops refuse them). NULL when out of memory. */
static const char *one_hot_bool(ox_e *E, const char *labels, int64_t c, int has_ignore, int64_t ig, const char **col) {
    ox_w *W = E->W;
    int64_t minus1 = -1;
    size_t es = W->elem == OX_FLOAT ? 4 : 8;
    uint8_t *raw = malloc((size_t)(c ? c : 1) * es);
    if (!raw) return W->oom = 1, NULL;
    for (int64_t i = 0; i < c; i++) {
        float f = (float)i;
        double d = (double)i;
        memcpy(raw + (size_t)i * es, es == 4 ? (const void *)&f : (const void *)&d, es);
    }
    Onnx__TensorProto *classes = gd_ow_tensor(W, NULL, W->elem, 1, &c, raw, (size_t)c * es);
    free(raw);
    const char *range = NULL, *ax = gd_ow_i64s(W, &minus1, 1);
    if (classes && ax) {
        Onnx__NodeProto *k;
        range = gd_ow_tmp_node(W, "Constant", NULL, 0, &k);
        gd_ow_attr_tensor(W, k, "value", classes);
    }
    *col = range ? gd_ow_tmp_node(W, "Unsqueeze", (const char *const[]){labels, ax}, 2, NULL) : NULL;
    const char *hot = *col ? gd_ow_tmp_node(W, "Equal", (const char *const[]){*col, range}, 2, NULL) : NULL;
    if (hot && has_ignore && ig >= 0 && ig < c) {
        const char *igv = gd_ow_scalar(W, (double)ig);
        const char *is = igv ? gd_ow_tmp_node(W, "Equal", (const char *const[]){*col, igv}, 2, NULL) : NULL;
        const char *keep = is ? gd_ow_tmp_node(W, "Not", &is, 1, NULL) : NULL;
        hot = keep ? gd_ow_tmp_node(W, "And", (const char *const[]){hot, keep}, 2, NULL) : NULL;
    }
    return hot;
}

/* one_hot(labels): one_hot_bool, cast to the graph's float type. */
static int e_one_hot(ox_e *E) {
    const char *col, *hot = one_hot_bool(E, E->in[0], E->a->num_classes, has(E, GR_ATTR_IGNORE_INDEX),
                                         E->a->ignore_index, &col);
    Onnx__NodeProto *n = hot ? final(E, "Cast", &hot, 1) : NULL;
    gd_ow_attr_int(E->W, n, "to", E->W->elem);
    return done(E, n);
}

/* cross_entropy_backward(p, labels, g) = (p m - q) c: m = the rows whose
 * label is not ignore_index (default -100), q = (1 - s) one_hot + (s/C) m,
 * c = g / max(sum m, 1) ('mean'), g ('sum') or g[..., None] ('none'). */
static int e_cross_entropy_backward(ox_e *E) {
    ox_w *W = E->W;
    const gr_shape *ps = in_shape(E, 0);
    int64_t c = ps->dims[ps->rank - 1], minus1 = -1;
    int64_t ig = has(E, GR_ATTR_IGNORE_INDEX) ? E->a->ignore_index : -100;
    double eps = has(E, GR_ATTR_LABEL_SMOOTHING) ? E->a->label_smoothing : 0;
    const char *red = has(E, GR_ATTR_REDUCTION) ? E->a->reduction : "mean";
    const char *col, *hot = one_hot_bool(E, E->in[1], c, 1, ig, &col);
    const char *igv = hot ? gd_ow_scalar(W, (double)ig) : NULL;
    const char *is = igv ? gd_ow_tmp_node(W, "Equal", (const char *const[]){col, igv}, 2, NULL) : NULL;
    const char *keep = is ? gd_ow_tmp_node(W, "Not", &is, 1, NULL) : NULL;
    const char *m = keep ? cast(E, keep, W->elem) : NULL, *q = hot ? cast(E, hot, W->elem) : NULL;
    if (q && m && eps > 0) {
        const char *a = gd_ow_scalar(W, 1 - eps), *b = gd_ow_scalar(W, eps / (double)c);
        const char *qa = a ? gd_ow_tmp_node(W, "Mul", (const char *const[]){q, a}, 2, NULL) : NULL;
        const char *mb = b ? gd_ow_tmp_node(W, "Mul", (const char *const[]){m, b}, 2, NULL) : NULL;
        q = qa && mb ? gd_ow_tmp_node(W, "Add", (const char *const[]){qa, mb}, 2, NULL) : NULL;
    }
    const char *pm = m ? gd_ow_tmp_node(W, "Mul", (const char *const[]){E->in[0], m}, 2, NULL) : NULL;
    const char *r = pm && q ? gd_ow_tmp_node(W, "Sub", (const char *const[]){pm, q}, 2, NULL) : NULL;
    const char *scale = E->in[2];
    if (!strcmp(red, "none")) {
        const char *ax = gd_ow_i64s(W, &minus1, 1);
        scale = ax ? gd_ow_tmp_node(W, "Unsqueeze", (const char *const[]){E->in[2], ax}, 2, NULL) : NULL;
    } else if (strcmp(red, "sum")) {
        Onnx__NodeProto *rs = NULL;
        const char *count = m ? gd_ow_tmp_node(W, "ReduceSum", &m, 1, &rs) : NULL, *one = gd_ow_scalar(W, 1);
        gd_ow_attr_int(W, rs, "keepdims", 0);
        const char *den = count && one ? gd_ow_tmp_node(W, "Max", (const char *const[]){count, one}, 2, NULL) : NULL;
        scale = den ? gd_ow_tmp_node(W, "Div", (const char *const[]){E->in[2], den}, 2, NULL) : NULL;
    }
    return done(E, r && scale ? final(E, "Mul", (const char *const[]){r, scale}, 2) : NULL);
}

/* cross_entropy(logits [N, C], labels [N]) with class labels and no
 * smoothing: SoftmaxCrossEntropyLoss over int64 labels. */
static int e_cross_entropy(ox_e *E) {
    if (in_shape(E, 0)->rank != 2 || in_shape(E, 1)->rank != 1) return 1;
    if (has(E, GR_ATTR_LABEL_SMOOTHING) && E->a->label_smoothing != 0) return 1;
    const char *red = has(E, GR_ATTR_REDUCTION) ? E->a->reduction : "mean";
    if (strcmp(red, "mean") && strcmp(red, "sum") && strcmp(red, "none")) return 1;
    const char *labels = cast(E, E->in[1], OX_INT64);
    Onnx__NodeProto *n = labels ? final(E, "SoftmaxCrossEntropyLoss", (const char *const[]){E->in[0], labels}, 2) : NULL;
    gd_ow_attr_str(E->W, n, "reduction", red);
    gd_ow_attr_int(E->W, n, "ignore_index", has(E, GR_ATTR_IGNORE_INDEX) ? E->a->ignore_index : -100);
    return done(E, n);
}

/* ---- convolution, pooling, normalisation ----------------------------------------------- */

/* A window attribute (one entry: every spatial dim) for nd dims, or def. */
static void window(const ox_e *E, gr_attr_id id, int count, const int *v, int nd, int64_t def, int64_t *out) {
    for (int i = 0; i < nd; i++) out[i] = !has(E, id) || count == 0 ? def : v[count == 1 ? 0 : i];
}

/* The attributes Conv, ConvTranspose and MaxPool share. */
static void window_attrs(ox_e *E, Onnx__NodeProto *n, int nd, const int64_t *kernel, int64_t stride_def) {
    const gr_attrs *a = E->a;
    int64_t st[GR_MAX_RANK], pad[GR_MAX_RANK], dil[GR_MAX_RANK], pads[2 * GR_MAX_RANK];
    window(E, GR_ATTR_STRIDE, a->nstride, a->stride, nd, stride_def, st);
    for (int i = 0; i < nd; i++)
        if (st[i] < 0) st[i] = kernel[i]; /* max_pool2d: the stride defaults to the kernel */
    window(E, GR_ATTR_PADDING, a->npadding, a->padding, nd, 0, pad);
    window(E, GR_ATTR_DILATION, a->ndilation, a->dilation, nd, 1, dil);
    for (int i = 0; i < nd; i++) pads[i] = pads[nd + i] = pad[i];
    gd_ow_attr_ints(E->W, n, "kernel_shape", kernel, nd);
    gd_ow_attr_ints(E->W, n, "strides", st, nd);
    gd_ow_attr_ints(E->W, n, "pads", pads, 2 * nd);
    gd_ow_attr_ints(E->W, n, "dilations", dil, nd);
}

/* conv1d/conv2d and conv_transpose1d/2d: weights in torch's layouts,
 * which are ONNX's. */
static int e_conv(ox_e *E) {
    const gr_shape *w = in_shape(E, 1);
    int nd = w->rank - 2;
    Onnx__NodeProto *n = final(E, E->onnx, E->in, 2);
    window_attrs(E, n, nd, w->dims + 2, 1);
    gd_ow_attr_int(E->W, n, "group", has(E, GR_ATTR_GROUPS) ? E->a->groups : 1);
    if (!strcmp(E->onnx, "ConvTranspose")) {
        int64_t op[GR_MAX_RANK];
        window(E, GR_ATTR_OUTPUT_PADDING, E->a->noutput_padding, E->a->output_padding, nd, 0, op);
        gd_ow_attr_ints(E->W, n, "output_padding", op, nd);
    }
    return done(E, n);
}

/* max_pool2d over [N, C, H, W]: MaxPool (stride defaults to the kernel). */
static int e_max_pool(ox_e *E) {
    if (in_shape(E, 0)->rank != 4) return 1;
    int64_t k[2];
    window(E, GR_ATTR_KERNEL_SIZE, E->a->nkernel_size, E->a->kernel_size, 2, 1, k);
    Onnx__NodeProto *n = final(E, "MaxPool", E->in, 1);
    window_attrs(E, n, 2, k, -1);
    gd_ow_attr_int(E->W, n, "ceil_mode", has(E, GR_ATTR_CEIL_MODE) && E->a->ceil_mode);
    return done(E, n);
}

/* The float32 attribute gradd's reader reads back as exactly v (the
 * shortest decimal of the float32), or 0 when there is none. */
static int float_attr_exact(double v, float *out) {
    char buf[32];
    *out = (float)v;
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)*out);
        double d = strtod(buf, NULL);
        if ((float)d == *out) return d == v;
    }
    return (double)*out == v;
}

/* batch_norm(x[, w, b[, running_mean, running_var]]): BatchNormalization;
 * the missing scale and bias are ones and zeros; in training mode the
 * running statistics are not read (zeros and ones stand in). */
static int e_batch_norm(ox_e *E) {
    int training = !has(E, GR_ATTR_TRAINING) || E->a->training;
    float eps;
    if ((E->nin != 1 && E->nin != 3 && E->nin != 5) || (!training && E->nin != 5) || in_shape(E, 0)->rank < 2 ||
        !float_attr_exact(has(E, GR_ATTR_EPS) ? E->a->eps : 1e-5, &eps))
        return 1;
    gr_shape c = {.rank = 1, .dims = {in_shape(E, 0)->dims[1]}};
    const char *in[5] = {E->in[0]};
    for (int k = 1; k < 5; k++) in[k] = k < E->nin ? E->in[k] : gd_ow_filled(E->W, &c, k == 1 || k == 4 ? 1 : 0);
    for (int k = 1; k < 5; k++)
        if (!in[k]) return -1;
    Onnx__NodeProto *n = final(E, "BatchNormalization", in, 5);
    gd_ow_attr_float(E->W, n, "epsilon", eps);
    if (training) { /* ONNX wants the running statistics' outputs too (unused here) */
        gd_ow_attr_int(E->W, n, "training_mode", 1);
        char **outs = n ? gd_ow_alloc(E->W, 3 * sizeof *outs) : NULL;
        if (!outs) return -1;
        outs[0] = n->output[0];
        outs[1] = (char *)gd_ow_tmp(E->W);
        outs[2] = (char *)gd_ow_tmp(E->W);
        n->output = outs;
        n->n_output = 3;
    }
    return done(E, n);
}

/* clip: Clip with its bounds as scalar inputs ("" when absent). */
static int e_clip(ox_e *E) {
    const char *in[3] = {E->in[0], "", ""};
    if (has(E, GR_ATTR_MIN) && !(in[1] = gd_ow_scalar(E->W, E->a->clip_min))) return -1;
    if (has(E, GR_ATTR_MAX) && !(in[2] = gd_ow_scalar(E->W, E->a->clip_max))) return -1;
    return done(E, final(E, "Clip", in, has(E, GR_ATTR_MAX) ? 3 : has(E, GR_ATTR_MIN) ? 2 : 1));
}

/* leaky_relu, elu: their one number as the float attribute alpha, when
 * gradd's reader reads it back exactly. */
static int e_alpha(ox_e *E) {
    int slope = !strcmp(E->onnx, "LeakyRelu");
    gr_attr_id id = slope ? GR_ATTR_NEGATIVE_SLOPE : GR_ATTR_ALPHA;
    float alpha;
    if (!float_attr_exact(has(E, id) ? (slope ? E->a->negative_slope : E->a->alpha) : slope ? 0.01 : 1, &alpha))
        return 1;
    Onnx__NodeProto *n = final(E, E->onnx, E->in, 1);
    gd_ow_attr_float(E->W, n, "alpha", alpha);
    return done(E, n);
}

/* ---- the table -------------------------------------------------------------------------- */

typedef struct ox_emitter {
    const char *op;                 /* libgrad's */
    const char *onnx;               /* ONNX op type the emitter uses, or NULL */
    ox_emit_fn fn;
} ox_emitter;

static const ox_emitter emitters[] = {
    {"add", "Add", e_same}, {"sub", "Sub", e_same}, {"mul", "Mul", e_same}, {"div", "Div", e_same},
    {"pow", "Pow", e_same}, {"maximum", "Max", e_same}, {"minimum", "Min", e_same}, {"neg", "Neg", e_same},
    {"exp", "Exp", e_same}, {"log", "Log", e_same}, {"sqrt", "Sqrt", e_same}, {"reciprocal", "Reciprocal", e_same},
    {"relu", "Relu", e_same}, {"sigmoid", "Sigmoid", e_same}, {"tanh", "Tanh", e_same}, {"erf", "Erf", e_same},
    {"abs", "Abs", e_same}, {"sin", "Sin", e_same}, {"cos", "Cos", e_same}, {"square", NULL, e_square},
    {"equal", "Equal", e_compare}, {"greater", "Greater", e_compare}, {"less", "Less", e_compare},
    {"greater_equal", "GreaterOrEqual", e_compare}, {"less_equal", "LessOrEqual", e_compare},
    {"not_equal", NULL, e_not_equal}, {"where", NULL, e_where}, {"relu_backward", NULL, e_relu_backward},
    {"matmul", NULL, e_matmul}, {"transpose", NULL, e_transpose}, {"reshape", NULL, e_reshape},
    {"expand", NULL, e_expand}, {"fill", NULL, e_fill}, {"slice", NULL, e_slice}, {"sum", NULL, e_sum},
    {"mean", "ReduceMean", e_reduce_attr}, {"max", "ReduceMax", e_reduce_attr}, {"min", "ReduceMin", e_reduce_attr},
    {"sum_to", NULL, e_sum_to}, {"softmax", "Softmax", e_softmax}, {"log_softmax", "LogSoftmax", e_softmax},
    {"one_hot", NULL, e_one_hot}, {"cross_entropy", NULL, e_cross_entropy},
    {"cross_entropy_backward", NULL, e_cross_entropy_backward}, {"conv1d", "Conv", e_conv},
    {"conv2d", "Conv", e_conv}, {"conv_transpose1d", "ConvTranspose", e_conv},
    {"conv_transpose2d", "ConvTranspose", e_conv}, {"max_pool2d", NULL, e_max_pool},
    {"batch_norm", NULL, e_batch_norm}, {"isnan", NULL, e_isnan}, {"logical_and", "And", e_logical},
    {"logical_or", "Or", e_logical}, {"logical_not", "Not", e_logical}, {"squeeze", NULL, e_to_shape},
    {"expand_dims", NULL, e_to_shape}, {"flatten", NULL, e_to_shape}, {"concat", NULL, e_concat},
    {"tile", NULL, e_tile}, {"floor", "Floor", e_same}, {"ceil", "Ceil", e_same}, {"round", "Round", e_same},
    {"atan", "Atan", e_same}, {"clip", NULL, e_clip}, {"leaky_relu", "LeakyRelu", e_alpha},
    {"elu", "Elu", e_alpha},
};

/* The node as one "ai.gradd" node: the op's name, every attribute set. */
static int e_gradd(ox_e *E, const char *op) {
    Onnx__NodeProto *n = gd_ow_node(E->W, op, OX_GRADD_DOMAIN, E->in, E->nin, E->out);
    for (int id = 0; n && id < GR_ATTR_COUNT; id++) {
        const gr_attr_def *d = gr_attr_def_of((gr_attr_id)id);
        gr_attr_value v;
        if (!has(E, (gr_attr_id)id) || !gr_attrs_get(E->a, d, &v)) continue;
        float f = (float)v.f;
        switch (d->type) {
        case GR_ATTR_INT: case GR_ATTR_BOOL: gd_ow_attr_int(E->W, n, d->name, v.i); break;
        case GR_ATTR_INTS: gd_ow_attr_ints(E->W, n, d->name, v.ints, v.n); break;
        case GR_ATTR_STRING: gd_ow_attr_str(E->W, n, d->name, v.str); break;
        case GR_ATTR_NUMBER:
            if ((double)f == v.f || isinf(v.f)) gd_ow_attr_float(E->W, n, d->name, f);
            else gd_ow_attr_tensor(E->W, n, d->name, gd_ow_tensor(E->W, NULL, OX_DOUBLE, 0, NULL, &v.f, 8));
            break;
        }
    }
    E->W->custom = 1;
    return done(E, n);
}

int gd_ow_emit(ox_w *W, int id, const char *const *in, int nin, const char *out, char *msg, size_t cap) {
    const char *op = gr_op_name(gr_node_op(W->g, id));
    if (nin > OX_MAX_IO)
        return snprintf(msg, cap, "it has %d operands, and gradd's ONNX reader takes at most %d per node", nin,
                        OX_MAX_IO), -1;
    ox_e E = {W, W->g, id, gr_node_attrs(W->g, id), in, nin, out, NULL};
    for (size_t i = 0; i < sizeof emitters / sizeof emitters[0]; i++)
        if (!strcmp(emitters[i].op, op)) {
            E.onnx = emitters[i].onnx;
            int rc = emitters[i].fn(&E);
            if (rc <= 0) return rc;
            break;
        }
    return e_gradd(&E, op);
}

/* ---- reading "ai.gradd" back ----------------------------------------------------------------- */

int gd_ox_is_gradd_node(const Onnx__NodeProto *n) {
    return n->domain && !strcmp(n->domain, OX_GRADD_DOMAIN) && n->op_type && gr_op_find(n->op_type);
}

/* ONNX attribute a as attribute d's value. 0, or -1 (why in L). */
static int read_attr(ox_low *L, const Onnx__AttributeProto *a, const gr_attr_def *d, gr_attr_value *v) {
    *v = (gr_attr_value){.type = d->type};
    switch (d->type) {
    case GR_ATTR_INT: case GR_ATTR_BOOL:
        if (!a->has_i) return gd_ox_fail(L, "attribute %s must be an int", d->name);
        v->i = a->i;
        return 0;
    case GR_ATTR_INTS:
        if (a->n_ints > GR_MAX_RANK) return gd_ox_fail(L, "attribute %s has more than %d values", d->name, GR_MAX_RANK);
        v->n = (int)a->n_ints;
        for (size_t i = 0; i < a->n_ints; i++) v->ints[i] = a->ints[i];
        return 0;
    case GR_ATTR_STRING:
        if (!a->has_s || a->s.len >= GR_ATTR_STR_MAX) return gd_ox_fail(L, "attribute %s must be a short string", d->name);
        memcpy(v->str, a->s.data, a->s.len);
        v->str[a->s.len] = '\0';
        return 0;
    case GR_ATTR_NUMBER:
        if (a->has_f) {
            v->f = a->f;
            return 0;
        }
        if (a->t) {
            ox_tensor t;
            char why[160];
            if (gd_ox_tensor_read(a->t, 1, &t, why, sizeof why) < 0 || t.n != 1) {
                gd_ox_tensor_free(&t);
                return gd_ox_fail(L, "attribute %s must be one number", d->name);
            }
            v->f = t.v[0];
            gd_ox_tensor_free(&t);
            return 0;
        }
        return gd_ox_fail(L, "attribute %s must be a float or a one-number tensor", d->name);
    }
    return gd_ox_fail(L, "attribute %s has an unknown type", d->name);
}

static int lower_gradd(ox_low *L) {
    const gr_op *op = gr_op_find(L->node->op_type);
    int ids[OX_MAX_IO];
    for (int k = 0; k < L->nin; k++)
        if ((ids[k] = gd_ox_in(L, k)) < 0) return -1;
    gr_attrs at = {0};
    for (size_t i = 0; i < L->node->n_attribute; i++) {
        const Onnx__AttributeProto *a = L->node->attribute[i];
        int aid = a->name ? gr_attr_lookup(a->name) : -1;
        if (aid < 0 || !(gr_op_attrs(op) & GR_ATTR_BIT(aid)))
            return gd_ox_fail(L, "%s has no attribute %.64s", gr_op_name(op), a->name ? a->name : "(unnamed)");
        const gr_attr_def *d = gr_attr_def_of((gr_attr_id)aid);
        gr_attr_value v;
        gr_error ge;
        if (read_attr(L, a, d, &v) < 0) return -1;
        if (gr_attrs_put(&at, d, &v, &ge) != GR_OK) return gd_ox_fail(L, "%s", ge.message);
    }
    int y = gd_ox_op(L, gr_op_name(op), ids, L->nin, &at);
    if (y < 0) return -1;
    gd_ox_out(L, 0, y);
    return 0;
}

const ox_handler gd_ox_gradd_handler = {"ai.gradd", lower_gradd};
