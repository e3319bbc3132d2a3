/* constant.c -- tensors made from attributes alone: arange, eye, zeros,
 * ones, full, and zeros_like, ones_like, full_like, which take only the
 * shape of their operand. None has a gradient: the nullary ones have no
 * operand, and the _like ones mark theirs nondiff (its values are never
 * read, so no path runs through it). */
#include "ops.h"

#include <math.h>

/* ---- arange ---------------------------------------------------------- */

static double arange_start(const gr_attrs *at) { return (at->set & A(GR_ATTR_START)) ? at->start : 0.0; }
static double arange_step(const gr_attrs *at) { return (at->set & A(GR_ATTR_STEP)) ? at->step : 1.0; }

static gr_status arange_infer(gr_graph *g, int id, gr_error *err) {
    const gr_attrs *at = g->nodes[id].attrs;
    double start = arange_start(at), step = arange_step(at);
    if (step == 0) return gr_fail_op(g, err, GR_E_ARG, id, -1, "step", "step must not be 0");
    double len = ceil((at->stop - start) / step); /* NumPy's and torch's count, in double */
    if (!(len < (double)g->lim.max_elements + 1) && len > 0) /* also catches an infinite quotient */
        return gr_fail_op(g, err, GR_E_LIMIT, id, -1, "stop", "arange would have %.17g elements, over the limit of %lld",
                          len, (long long)g->lim.max_elements);
    gr_shape s = {1, {len > 0 ? (int64_t)len : 0}};
    return gr_node_set_shape(g, id, &s, err);
}

static gr_status arange_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    double start = arange_start(k->n->attrs), step = arange_step(k->n->attrs);
    int64_t n = k->n->numel;
    if (k->dt == GR_F32)
        for (int64_t i = 0; i < n; i++) ((float *)k->out)[i] = (float)(start + step * (double)i);
    else
        for (int64_t i = 0; i < n; i++) ((double *)k->out)[i] = start + step * (double)i;
    return GR_OK;
}

const gr_op gr_op_arange = {
    .name = "arange", .arity = 0, .attrs = A(GR_ATTR_START) | A(GR_ATTR_STOP) | A(GR_ATTR_STEP),
    .required = A(GR_ATTR_STOP),
    .doc = "y[i] = start + i * step (computed in double, as torch) for i < ceil((stop - start) / step): "
           "np.arange and torch.arange with start 0 and step 1 by default; step 0 is an error; a step pointing "
           "away from stop gives an empty tensor (NumPy; torch refuses it). No operands, no gradient.",
    .infer = arange_infer, .forward = arange_forward,
};

/* ---- eye ------------------------------------------------------------- */

static int64_t eye_cols(const gr_attrs *at) { return (at->set & A(GR_ATTR_M)) ? at->m : at->n; }

static gr_status eye_infer(gr_graph *g, int id, gr_error *err) {
    const gr_attrs *at = g->nodes[id].attrs;
    gr_shape s = {2, {at->n, eye_cols(at)}};
    return gr_node_set_shape(g, id, &s, err);
}

static gr_status eye_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    const gr_attrs *at = k->n->attrs;
    int64_t rows = at->n, cols = eye_cols(at), diag = (at->set & A(GR_ATTR_K)) ? at->k : 0;
    gr_fill_chunked(k, k->out, k->n->numel, 0.0);
    for (int64_t i = diag < 0 ? -diag : 0; i < rows && i + diag < cols; i++) {
        if (k->dt == GR_F32) ((float *)k->out)[i * cols + i + diag] = 1;
        else ((double *)k->out)[i * cols + i + diag] = 1;
    }
    return GR_OK;
}

const gr_op gr_op_eye = {
    .name = "eye", .arity = 0, .attrs = A(GR_ATTR_N) | A(GR_ATTR_M) | A(GR_ATTR_K), .required = A(GR_ATTR_N),
    .doc = "y = the [n, m] matrix (m defaults to n) with ones on diagonal k (y[i, i + k] = 1) and zeros "
           "elsewhere, as np.eye (torch.eye has no k); k beyond the matrix gives zeros. No operands, no gradient.",
    .infer = eye_infer, .forward = eye_forward,
};

/* ---- zeros, ones, full ----------------------------------------------- */

static gr_status shaped_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *t = &g->nodes[id].attrs->shape;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0)
            return gr_fail_op(g, err, GR_E_ARG, id, -1, "shape", "dimension %d is %lld; dims must be >= 0", i,
                              (long long)t->dims[i]);
    return gr_node_set_shape(g, id, t, err);
}

static gr_status zeros_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    gr_fill_chunked(k, k->out, k->n->numel, 0.0);
    return GR_OK;
}

static gr_status ones_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    gr_fill_chunked(k, k->out, k->n->numel, 1.0);
    return GR_OK;
}

static gr_status full_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    gr_fill_chunked(k, k->out, k->n->numel, k->n->attrs->value);
    return GR_OK;
}

const gr_op gr_op_zeros = {
    .name = "zeros", .arity = 0, .attrs = A(GR_ATTR_SHAPE), .required = A(GR_ATTR_SHAPE),
    .doc = "y = a tensor of shape holding 0 (np.zeros, torch.zeros). No operands, no gradient.",
    .infer = shaped_infer, .forward = zeros_forward,
};

const gr_op gr_op_ones = {
    .name = "ones", .arity = 0, .attrs = A(GR_ATTR_SHAPE), .required = A(GR_ATTR_SHAPE),
    .doc = "y = a tensor of shape holding 1 (np.ones, torch.ones). No operands, no gradient.",
    .infer = shaped_infer, .forward = ones_forward,
};

const gr_op gr_op_full = {
    .name = "full", .arity = 0, .attrs = A(GR_ATTR_SHAPE) | A(GR_ATTR_VALUE),
    .required = A(GR_ATTR_SHAPE) | A(GR_ATTR_VALUE),
    .doc = "y = a tensor of shape holding value (np.full's fill_value, torch.full's fill_value). No operands, "
           "no gradient.",
    .infer = shaped_infer, .forward = full_forward,
};

/* ---- zeros_like, ones_like, full_like -------------------------------- */

const gr_op gr_op_zeros_like = {
    .name = "zeros_like", .arity = 1, .nondiff = 1,
    .doc = "y = zeros of x's shape (np.zeros_like, torch.zeros_like); x's values are not read and get no "
           "gradient.",
    .infer = gr_infer_same, .forward = zeros_forward,
};

const gr_op gr_op_ones_like = {
    .name = "ones_like", .arity = 1, .nondiff = 1,
    .doc = "y = ones of x's shape (np.ones_like, torch.ones_like); x's values are not read and get no gradient.",
    .infer = gr_infer_same, .forward = ones_forward,
};

const gr_op gr_op_full_like = {
    .name = "full_like", .arity = 1, .attrs = A(GR_ATTR_VALUE), .required = A(GR_ATTR_VALUE), .nondiff = 1,
    .doc = "y = value in x's shape (np.full_like, torch.full_like); x's values are not read and get no gradient.",
    .infer = gr_infer_same, .forward = full_forward,
};

const gr_op *const gr_ops_constant[] = {&gr_op_arange,     &gr_op_eye,       &gr_op_zeros,     &gr_op_ones,
                                        &gr_op_full,       &gr_op_zeros_like, &gr_op_ones_like, &gr_op_full_like,
                                        NULL};
