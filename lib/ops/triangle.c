/* triangle.c -- the matrix-structure ops: tril and triu (keep one side of
 * a diagonal of the last two axes, zero the other), diagonal (read a
 * diagonal of two axes) and diagonal_backward (write one into zeros, the
 * transpose of diagonal). All are linear: tril and triu are their own
 * transposes, and diagonal and diagonal_backward are each other's. */
#include "ops.h"

#include <string.h>

extern const gr_op gr_op_tril, gr_op_triu, gr_op_diagonal, gr_op_diagonal_backward;

/* The JVP of every op here: the op itself on the tangent. */
static int same_op_jvp(gr_graph *g, int id, const int *t) {
    gr_attrs at = *g->nodes[id].attrs;
    return gr_build_apply(g, g->nodes[id].op, t[0], -1, -1, &at);
}

/* ---- tril, triu ------------------------------------------------------ */

static gr_status triangle_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0);
    if (x->rank < 2)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "the operand has rank %d; it needs two axes (a matrix)",
                          x->rank);
    return gr_infer_same(g, id, err);
}

/* Copy the matrices of k's operand keeping, in row i, columns j with
 * j - i <= k (lower) or j - i >= k (upper), zeroing the others. */
#define TRIANGLE_ROWS(T)                                                                                              \
    do {                                                                                                              \
        const T *x = k->in[0];                                                                                        \
        T *o = k->out;                                                                                                \
        for (int64_t b = 0; b < batch && !(b > 0 && gr_cancelled(k->cancel)); b++)                                   \
            for (int64_t i = 0; i < rows; i++, x += cols, o += cols) {                                                \
                int64_t cut = lower ? i + diag + 1 : i + diag; /* first column of the upper part */                  \
                cut = cut < 0 ? 0 : cut > cols ? cols : cut;                                                          \
                for (int64_t j = 0; j < cols; j++) o[j] = (j < cut) == lower ? x[j] : (T)0;                           \
            }                                                                                                         \
    } while (0)

static gr_status triangle_forward(const gr_kernel *k, int lower) {
    const gr_shape *s = &k->n->shape;
    int64_t rows = s->dims[s->rank - 2], cols = s->dims[s->rank - 1], diag = k->n->attrs->k;
    int64_t batch = rows > 0 && cols > 0 ? k->n->numel / (rows * cols) : 0;
    if (k->dt == GR_F32) TRIANGLE_ROWS(float);
    else TRIANGLE_ROWS(double);
    return GR_OK;
}

static gr_status tril_forward(const gr_kernel *k, gr_error *err) { (void)err; return triangle_forward(k, 1); }
static gr_status triu_forward(const gr_kernel *k, gr_error *err) { (void)err; return triangle_forward(k, 0); }

/* Masking is symmetric: the VJP masks g the same way. */
static void triangle_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_attrs at = *g->nodes[id].attrs;
    grads[0] = gr_build_apply(g, g->nodes[id].op, grad, -1, -1, &at);
}

const gr_op gr_op_tril = {
    .name = "tril", .arity = 1, .attrs = A(GR_ATTR_K),
    .doc = "y = x with the elements above diagonal k of the last two axes zeroed: y[..., i, j] = x[..., i, j] "
           "where j - i <= k, else 0 (np.tril; torch.tril calls k diagonal); rank >= 2 (NumPy would also take a "
           "vector); k beyond the matrix keeps all or nothing. dx = tril(g, k), dy = tril(dx, k).",
    .infer = triangle_infer, .forward = tril_forward, .vjp = triangle_vjp, .jvp = same_op_jvp,
};

const gr_op gr_op_triu = {
    .name = "triu", .arity = 1, .attrs = A(GR_ATTR_K),
    .doc = "y = x with the elements below diagonal k of the last two axes zeroed: y[..., i, j] = x[..., i, j] "
           "where j - i >= k, else 0 (np.triu; torch.triu calls k diagonal); rank >= 2; k beyond the matrix "
           "keeps all or nothing. dx = triu(g, k), dy = triu(dx, k).",
    .infer = triangle_infer, .forward = triu_forward, .vjp = triangle_vjp, .jvp = same_op_jvp,
};

/* ---- diagonal, diagonal_backward ------------------------------------- */

/* Where a diagonal lies in a tensor of shape x. */
typedef struct diag_geom {
    gr_shape out;              /* x without axis1 and axis2, then the diagonal's length */
    int64_t st[GR_MAX_RANK];   /* (out.rank) strides in x of each axis of out */
    int64_t base;              /* offset in x of the diagonal's first element */
} diag_geom;

/* The geometry of node id's diagonal over a tensor of shape x. */
static gr_status diag_geometry(gr_graph *g, int id, const gr_shape *x, diag_geom *dg, gr_error *err) {
    const gr_attrs *at = g->nodes[id].attrs;
    int r = x->rank, a1, a2, r1 = (at->set & A(GR_ATTR_AXIS1)) ? at->axis1 : 0,
        r2 = (at->set & A(GR_ATTR_AXIS2)) ? at->axis2 : 1;
    int64_t off = (at->set & A(GR_ATTR_OFFSET)) ? at->offset : 0, xs[GR_MAX_RANK];
    if (r < 2)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "a tensor of rank %d has no diagonal (it needs two axes)",
                          r);
    if (!gr_axis_norm(r1, r, &a1))
        return gr_fail_op(g, err, GR_E_ARG, id, 0, "axis1", "axis1 %d is out of range for rank %d", r1, r);
    if (!gr_axis_norm(r2, r, &a2))
        return gr_fail_op(g, err, GR_E_ARG, id, 0, "axis2", "axis2 %d is out of range for rank %d", r2, r);
    if (a1 == a2) return gr_fail_op(g, err, GR_E_ARG, id, -1, "axis2", "axis1 and axis2 are both axis %d", a1);
    gr_shape_strides(x, xs);
    int64_t d1 = x->dims[a1], d2 = x->dims[a2];
    int64_t len = off >= 0 ? (d1 < d2 - off ? d1 : d2 - off) : (d1 + off < d2 ? d1 + off : d2);
    memset(dg, 0, sizeof *dg);
    for (int a = 0; a < r; a++)
        if (a != a1 && a != a2) {
            dg->st[dg->out.rank] = xs[a];
            dg->out.dims[dg->out.rank++] = x->dims[a];
        }
    dg->st[dg->out.rank] = xs[a1] + xs[a2];
    dg->out.dims[dg->out.rank++] = len > 0 ? len : 0;
    dg->base = len > 0 ? (off >= 0 ? off * xs[a2] : -off * xs[a1]) : 0;
    return GR_OK;
}

static gr_status diagonal_infer(gr_graph *g, int id, gr_error *err) {
    diag_geom dg;
    gr_status st = diag_geometry(g, id, IN_SHAPE(g, id, 0), &dg, err);
    if (st != GR_OK) return st;
    return gr_node_set_shape(g, id, &dg.out, err);
}

/* Copy between a diagonal (dense, shape dg->out) and its place in x:
 * into the diagonal when to_diag, else into x (whose other elements the
 * caller has set). */
static void diag_copy(const gr_kernel *k, const diag_geom *dg, void *diag, void *x, int to_diag) {
    size_t esz = gr_dtype_size(k->dt);
    int64_t st[2][GR_MAX_RANK];
    gr_shape_strides(&dg->out, st[to_diag ? 0 : 1]);
    memcpy(st[to_diag ? 1 : 0], dg->st, sizeof dg->st);
    void *xb = (char *)x + (size_t)dg->base * esz;
    void *base[2] = {to_diag ? diag : xb, to_diag ? xb : diag};
    gr_loop L;
    gr_loop_strided(&L, &dg->out, 2, (const int64_t(*)[GR_MAX_RANK])st);
    L.cancel = k->cancel;
    gr_loop_run_shared(&L, base, esz, gr_copy_row(k->dt), NULL);
}

static gr_status diagonal_forward(const gr_kernel *k, gr_error *err) {
    gr_graph *g = (gr_graph *)k->g;
    diag_geom dg;
    diag_geometry(g, (int)(k->n - g->nodes), &g->nodes[k->n->in[0]].shape, &dg, err); /* validated */
    diag_copy(k, &dg, k->out, (void *)(uintptr_t)k->in[0], 1);
    return GR_OK;
}

/* The transpose of diagonal: g written into zeros of x's shape. */
static void diagonal_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_attrs at = *g->nodes[id].attrs;
    at.set |= A(GR_ATTR_SHAPE);
    at.shape = *IN_SHAPE(g, id, 0);
    grads[0] = gr_build_apply(g, &gr_op_diagonal_backward, grad, -1, -1, &at);
}

#define DIAG_ATTRS (A(GR_ATTR_OFFSET) | A(GR_ATTR_AXIS1) | A(GR_ATTR_AXIS2))

const gr_op gr_op_diagonal = {
    .name = "diagonal", .arity = 1, .attrs = DIAG_ATTRS,
    .doc = "y = the diagonal of x over axes axis1 and axis2 (defaults 0 and 1) at offset (> 0 above the main "
           "diagonal): y[..., i] = x[..., i, i + offset] with those two axes removed and the diagonal appended "
           "last, as np.diagonal and torch.diagonal (dim1, dim2); an offset beyond the matrix gives an empty "
           "diagonal. dx = diagonal_backward(g): g written on that diagonal of zeros, dy = diagonal(dx).",
    .infer = diagonal_infer, .forward = diagonal_forward, .vjp = diagonal_vjp, .jvp = same_op_jvp,
};

static gr_status diagonal_backward_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *x = &g->nodes[id].attrs->shape, *gs = IN_SHAPE(g, id, 0);
    for (int a = 0; a < x->rank; a++)
        if (x->dims[a] < 0) return gr_fail_op(g, err, GR_E_ARG, id, -1, "shape", "dims must be >= 0");
    diag_geom dg;
    gr_status st = diag_geometry(g, id, x, &dg, err);
    if (st != GR_OK) return st;
    if (!gr_shape_equal(&dg.out, gs)) {
        char a[100], b[100], c[100];
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, "shape", "the operand has shape %s; the diagonal of %s has %s",
                          gr_shape_str(gs, a, sizeof a), gr_shape_str(x, b, sizeof b),
                          gr_shape_str(&dg.out, c, sizeof c));
    }
    return gr_node_set_shape(g, id, x, err);
}

static gr_status diagonal_backward_forward(const gr_kernel *k, gr_error *err) {
    gr_graph *g = (gr_graph *)k->g;
    diag_geom dg;
    diag_geometry(g, (int)(k->n - g->nodes), &k->n->shape, &dg, err); /* validated */
    gr_fill_chunked(k, k->out, k->n->numel, 0.0);
    diag_copy(k, &dg, (void *)(uintptr_t)k->in[0], k->out, 0);
    return GR_OK;
}

static void diagonal_backward_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_attrs at = *g->nodes[id].attrs;
    at.set &= ~A(GR_ATTR_SHAPE);
    grads[0] = gr_build_apply(g, &gr_op_diagonal, grad, -1, -1, &at);
}

const gr_op gr_op_diagonal_backward = {
    .name = "diagonal_backward", .arity = 1, .attrs = DIAG_ATTRS | A(GR_ATTR_SHAPE), .required = A(GR_ATTR_SHAPE),
    .flags = GR_OPF_INTERNAL,
    .doc = "y = zeros of shape with g written on the diagonal that diagonal (same offset, axis1, axis2) reads "
           "(diagonal's VJP, torch's diagonal_backward). Linear: dg = diagonal(gy), dy = diagonal_backward(dg).",
    .infer = diagonal_backward_infer, .forward = diagonal_backward_forward, .vjp = diagonal_backward_vjp,
    .jvp = same_op_jvp,
};

const gr_op *const gr_ops_triangle[] = {&gr_op_tril, &gr_op_triu, &gr_op_diagonal, &gr_op_diagonal_backward, NULL};
