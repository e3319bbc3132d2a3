/* det.c -- det and inv of square matrices over the last two dims, batch
 * dims first (torch.linalg.det, torch.linalg.inv; ONNX Det).
 *
 * Both factor each matrix in float64 with partial pivoting (LU for det,
 * Gauss-Jordan for inv), whatever the graph's dtype, and round the result
 * to it. A 0x0 matrix has det 1 and an empty inverse. A singular matrix
 * has det 0 (or its rounding residue); its inverse is non-finite (torch
 * and NumPy raise an error there; gradd answers inf or NaN, which the
 * step route treats as a non-finite value). Derivatives are graphs of
 * det, inv, matmul, transpose and where, so they differentiate again:
 *   inv: dA = -Y^T g Y^T (Y = inv(A)); tangent -Y dA Y.
 *   det: dA = g det(A) inv(A)^T; tangent det(A) trace(inv(A) dA); both 0
 *        where det(A) = 0 (torch's answer at a singular matrix). */
#include "groups.h"

#include <math.h>
#include <string.h>

/* x of rank >= 2 with equal last two dims; det drops them. */
static gr_status square_infer(gr_graph *g, int id, int drop, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0);
    char a[160];
    if (x->rank < 2 || x->dims[x->rank - 1] != x->dims[x->rank - 2])
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "x %s is not a (batch of) square matrices [..., n, n]",
                          gr_shape_str(x, a, sizeof a));
    gr_shape y = *x;
    if (drop) y.rank -= 2;
    return gr_node_set_shape(g, id, &y, err);
}

static gr_status det_infer(gr_graph *g, int id, gr_error *err) { return square_infer(g, id, 1, err); }
static gr_status inv_infer(gr_graph *g, int id, gr_error *err) { return square_infer(g, id, 0, err); }

/* n of node n's matrices [..., n, n] and their count. */
static int64_t order_of(const gr_graph *g, const gr_node *n, int64_t *count) {
    const gr_shape *x = &g->nodes[n->in[0]].shape;
    *count = 1;
    for (int d = 0; d < x->rank - 2; d++) *count *= x->dims[d];
    return x->dims[x->rank - 1];
}

static int64_t det_workspace(const gr_graph *g, const gr_node *n) {
    int64_t c, m = order_of(g, n, &c);
    return m * m * (int64_t)sizeof(double);
}

static int64_t inv_workspace(const gr_graph *g, const gr_node *n) {
    int64_t c, m = order_of(g, n, &c);
    return 2 * m * m * (int64_t)sizeof(double);
}

static int64_t cubic_flops(const gr_graph *g, const gr_node *n) {
    int64_t c, m = order_of(g, n, &c);
    return c * (m * m * m + 1);
}

/* Matrix b of operand 0 into a (m x m doubles). */
static void load(const gr_kernel *k, int64_t b, int64_t m, double *a) {
    for (int64_t i = 0; i < m * m; i++) a[i] = gr_get(k->dt, k->in[0], b * m * m + i);
}

/* LU with partial pivoting of a (m x m, row-major) in place: the
 * determinant, the product of the pivots times the permutation's sign. */
static double lu_det(double *a, int64_t m) {
    double det = 1;
    for (int64_t c = 0; c < m; c++) {
        int64_t p = c;
        for (int64_t r = c + 1; r < m; r++)
            if (fabs(a[r * m + c]) > fabs(a[p * m + c])) p = r;
        if (p != c) {
            for (int64_t j = 0; j < m; j++) {
                double t = a[c * m + j];
                a[c * m + j] = a[p * m + j];
                a[p * m + j] = t;
            }
            det = -det;
        }
        double piv = a[c * m + c];
        det *= piv;
        if (piv == 0) return det * 0; /* singular (NaN stays NaN) */
        for (int64_t r = c + 1; r < m; r++) {
            double f = a[r * m + c] / piv;
            for (int64_t j = c + 1; j < m; j++) a[r * m + j] -= f * a[c * m + j];
        }
    }
    return det;
}

static gr_status det_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    int64_t count, m = order_of(k->g, k->n, &count);
    double *a = k->work;
    for (int64_t b = 0; b < count; b++) {
        if ((b & 63) == 0 && gr_cancelled(k->cancel)) return GR_OK;
        load(k, b, m, a);
        gr_put(k->dt, k->out, b, m ? lu_det(a, m) : 1.0);
    }
    return GR_OK;
}

/* Gauss-Jordan with partial pivoting: a (m x m) becomes I and e (I at the
 * start) becomes inv(a). A zero pivot divides by zero: inf or NaN. */
static void gauss_jordan(double *a, double *e, int64_t m) {
    for (int64_t c = 0; c < m; c++) {
        int64_t p = c;
        for (int64_t r = c + 1; r < m; r++)
            if (fabs(a[r * m + c]) > fabs(a[p * m + c])) p = r;
        if (p != c)
            for (int64_t j = 0; j < m; j++) {
                double t = a[c * m + j];
                a[c * m + j] = a[p * m + j], a[p * m + j] = t;
                t = e[c * m + j];
                e[c * m + j] = e[p * m + j], e[p * m + j] = t;
            }
        double piv = a[c * m + c];
        for (int64_t j = 0; j < m; j++) a[c * m + j] /= piv, e[c * m + j] /= piv;
        for (int64_t r = 0; r < m; r++) {
            if (r == c) continue;
            double f = a[r * m + c];
            if (f == 0) continue;
            for (int64_t j = 0; j < m; j++) a[r * m + j] -= f * a[c * m + j], e[r * m + j] -= f * e[c * m + j];
        }
    }
}

static gr_status inv_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    int64_t count, m = order_of(k->g, k->n, &count);
    double *a = k->work, *e = a + m * m;
    for (int64_t b = 0; b < count && m; b++) {
        if ((b & 63) == 0 && gr_cancelled(k->cancel)) return GR_OK;
        load(k, b, m, a);
        memset(e, 0, (size_t)(m * m) * sizeof *e);
        for (int64_t i = 0; i < m; i++) e[i * m + i] = 1;
        gauss_jordan(a, e, m);
        for (int64_t i = 0; i < m * m; i++) gr_put(k->dt, k->out, b * m * m + i, e[i]);
    }
    return GR_OK;
}

/* ---- derivatives ------------------------------------------------------- */

/* matmul's attributes with transpose_a (or transpose_b) set. */
static gr_attrs transposed_operand(gr_attr_id id) {
    gr_attrs at;
    memset(&at, 0, sizeof at);
    at.set = A(id);
    if (id == GR_ATTR_TRANSPOSE_A) at.transpose_a = 1;
    else at.transpose_b = 1;
    return at;
}

/* a with its last two dims swapped (rank r >= 2). */
static int swap_last(gr_graph *g, int a, int r) {
    gr_attrs at;
    memset(&at, 0, sizeof at);
    at.set = A(GR_ATTR_PERM);
    at.nperm = r;
    for (int i = 0; i < r; i++) at.perm[i] = i;
    at.perm[r - 2] = r - 1, at.perm[r - 1] = r - 2;
    return gr_build_apply(g, &gr_op_transpose, a, -1, -1, &at);
}

/* -op(Y) m op(Y) with Y = inv node id: the VJP (transposed) or the JVP. */
static int sandwich(gr_graph *g, int y, int mid, int transposed) {
    gr_attrs ta = transposed_operand(GR_ATTR_TRANSPOSE_A), tb = transposed_operand(GR_ATTR_TRANSPOSE_B);
    int left = gr_build_apply(g, &gr_op_matmul, y, mid, -1, transposed ? &ta : NULL);
    return gr_build_unary(g, &gr_op_neg, gr_build_apply(g, &gr_op_matmul, left, y, -1, transposed ? &tb : NULL));
}

static void inv_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    if (need[0]) grads[0] = sandwich(g, id, grad, 1);
}

static int inv_jvp(gr_graph *g, int id, const int *t) { return t[0] < 0 ? -1 : sandwich(g, id, t[0], 0); }

/* det node id's value (or v of its shape) as [..., 1, 1] over x's rank. */
static int as_matrix_batch(gr_graph *g, int v, const gr_shape *x) {
    gr_shape s = *x;
    s.dims[s.rank - 1] = s.dims[s.rank - 2] = 1;
    return gr_build_reshape(g, v, &s);
}

/* 0 where det(x) = 0, else v (broadcast against the det's shape cond). */
static int zero_where_singular(gr_graph *g, int det, int v) {
    int singular = gr_build_binary(g, &gr_op_equal, det, gr_build_scalar(g, 0.0));
    return gr_build_apply(g, &gr_op_where, singular, gr_build_scalar(g, 0.0), v, NULL);
}

static void det_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    if (!need[0]) return;
    gr_shape xs = *IN_SHAPE(g, id, 0);
    int x = g->nodes[id].in[0];
    int inv_t = swap_last(g, gr_build_unary(g, &gr_op_inv, x), xs.rank);
    int gd = as_matrix_batch(g, gr_build_binary(g, &gr_op_mul, grad, id), &xs);
    grads[0] = zero_where_singular(g, as_matrix_batch(g, id, &xs), gr_build_binary(g, &gr_op_mul, gd, inv_t));
}

static int det_jvp(gr_graph *g, int id, const int *t) {
    if (t[0] < 0) return -1;
    gr_shape xs = *IN_SHAPE(g, id, 0);
    int x = g->nodes[id].in[0];
    int inv_t = swap_last(g, gr_build_unary(g, &gr_op_inv, x), xs.rank);
    int axes[2] = {xs.rank - 2, xs.rank - 1};
    int tr = gr_build_sum(g, gr_build_binary(g, &gr_op_mul, inv_t, t[0]), axes, 2, 0);
    return zero_where_singular(g, id, gr_build_binary(g, &gr_op_mul, id, tr));
}

const gr_op gr_op_det = {
    .name = "det", .arity = 1,
    .doc = "y = det(x) of each square matrix over the last two dims [..., n, n] -> [...] (torch.linalg.det, ONNX "
           "Det), by LU with partial pivoting in float64; a 0x0 matrix has det 1. dx = g det(x) inv(x)^T, and 0 "
           "where det(x) = 0 (torch's answer at a singular matrix); the JVP is det(x) trace(inv(x) t), 0 there too",
    .infer = det_infer, .forward = det_forward, .vjp = det_vjp, .jvp = det_jvp, .flops = cubic_flops,
    .workspace = det_workspace,
};

const gr_op gr_op_inv = {
    .name = "inv", .arity = 1,
    .doc = "y = x^-1 of each square matrix over the last two dims (torch.linalg.inv), by Gauss-Jordan with "
           "partial pivoting in float64. A singular matrix gives inf or NaN (torch and NumPy raise an error). "
           "dx = -y^T g y^T; the JVP is -y t y",
    .infer = inv_infer, .forward = inv_forward, .vjp = inv_vjp, .jvp = inv_jvp, .flops = cubic_flops,
    .workspace = inv_workspace,
};

const gr_op *const gr_ops_det[] = {&gr_op_det, &gr_op_inv, NULL};
