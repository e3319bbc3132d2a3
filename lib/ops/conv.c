/* conv.c -- convolution, NCHW, PyTorch's layouts: conv1d and conv2d,
 * conv_transpose1d and conv_transpose2d, and conv_weight (the gradient of a
 * convolution with respect to its weight), on OpenBLAS GEMMs.
 *
 * All five compute with one geometry, the convolution's view of the
 * problem: an input x [N, Cin, H, W] convolved with a weight
 * w [Cout, Cin/groups, kH, kW] gives y [N, Cout, Ho, Wo]. conv computes y
 * from (x, w); conv_transpose computes x-shaped results from (y, w) (the
 * adjoint in x); conv_weight computes w-shaped results from (x, y) (the
 * adjoint in w). Each is bilinear, and the derivative of each is the other
 * two, so the derivative graphs are themselves differentiable (HVP). A 1-D
 * convolution is a 2-D one of height 1.
 *
 * The kernels go through im2col: a chunk of images of one group is unfolded
 * into a column matrix col [Cin/groups * kH * kW, images * Ho * Wo], and one
 * GEMM per chunk and group does the work. A chunk holds as many images as
 * keep it in the L2 cache (often one: its rows of y are then the GEMM's
 * output, no copy); a "same" convolution (stride 1, output as wide as the
 * input) unfolds each tap of a plane with one shifted copy. The column
 * matrix and the channel-major copy of y live in the node's workspace,
 * planned in the executor's arena (gr_op.workspace), never allocated per
 * run. The unfolding, and the kernel taps dropped where they read only
 * padding, are conv_unfold.c's.
 *
 * In float32, a 3x3 convolution at stride 1 with enough channels runs by
 * Winograd's F(2x2, 3x3) instead (conv_winograd.c): conv's forward pass,
 * conv_transpose and conv_weight, each falling back on the GEMMs above for
 * values the transforms would treat differently (inf, NaN, magnitudes
 * near float32's range). A per-channel bias the executor folds into a
 * conv (gr_conv_bias_fits) is added as the result is written. */
#include "conv.h"

#include <cblas.h>
#include <string.h>

/* ---- geometry --------------------------------------------------------- */

/* Height (1 for a 1-D shape) and width of an [N, C, (H,) W] shape. */
static int64_t sp_h(const gr_shape *s) { return s->rank == 4 ? s->dims[2] : 1; }
static int64_t sp_w(const gr_shape *s) { return s->dims[s->rank - 1]; }

static int64_t node_groups(const gr_node *n) { return (n->attrs->set & A(GR_ATTR_GROUPS)) ? n->attrs->groups : 1; }

/* The geometry of conv-family node n with the convolution's x, w and y
 * shapes (whichever of them are its operands and its result). */
static conv_geom geom_of(const gr_node *n, const gr_shape *x, const gr_shape *w, const gr_shape *y) {
    conv_geom c;
    int nsp = x->rank - 2;
    int64_t v[2];
    c.n = x->dims[0];
    c.cin = x->dims[1];
    c.cout = w->dims[0];
    c.groups = node_groups(n);
    c.cig = w->dims[1];
    c.cog = c.cout / c.groups;
    c.h = sp_h(x);
    c.w = sp_w(x);
    c.oh = sp_h(y);
    c.ow = sp_w(y);
    c.kh = sp_h(w);
    c.kw = sp_w(w);
    gr_window_attr_of(n, GR_ATTR_STRIDE, nsp, 1, 1, v);
    c.sh = v[0], c.sw = v[1];
    gr_window_attr_of(n, GR_ATTR_PADDING, nsp, 0, 0, v);
    c.ph = v[0], c.pw = v[1];
    gr_window_attr_of(n, GR_ATTR_DILATION, nsp, 1, 1, v);
    c.dh = v[0], c.dw = v[1];
    c.kg = c.cig * c.kh * c.kw;
    c.p = c.oh * c.ow;
    c.fkh = c.kh, c.fkw = c.kw;
    c.i0 = c.j0 = 0;
    return c;
}

/* The output length of a convolution over len elements, or -1 when the
 * effective kernel does not fit (or the arithmetic overflows). */
static int64_t conv_out_len(int64_t len, int64_t k, int64_t s, int64_t p, int64_t d) {
    int64_t span, padded;
    if (!gr_mul_ok(d, k - 1, &span) || !gr_add_ok(len, 2 * p, &padded)) return -1;
    int64_t num = padded - span - 1;
    return num < 0 ? -1 : num / s + 1;
}

/* Stride, padding and dilation of node id for nsp spatial dims, checked. */
static gr_status window_params(gr_graph *g, int id, int nsp, int64_t s[2], int64_t p[2], int64_t d[2],
                               gr_error *err) {
    gr_status st = gr_window_attr(g, id, GR_ATTR_STRIDE, nsp, 1, 1, s, err);
    if (st == GR_OK) st = gr_window_attr(g, id, GR_ATTR_PADDING, nsp, 0, 0, p, err);
    if (st == GR_OK) st = gr_window_attr(g, id, GR_ATTR_DILATION, nsp, 1, 1, d, err);
    return st;
}

/* The operand k of node id must have rank nsp + 2: [N, C, (H,) W]. */
static gr_status need_rank(gr_graph *g, int id, int k, int nsp, const char *what, gr_error *err) {
    const gr_shape *s = IN_SHAPE(g, id, k);
    if (s->rank == nsp + 2) return GR_OK;
    return gr_fail_op(g, err, GR_E_SHAPE, id, k, NULL, "%s must have rank %d (%s), not %d", what, nsp + 2,
                      nsp == 2 ? (k == 1 ? "[Cout, Cin/groups, kH, kW]" : "[N, C, H, W]")
                               : (k == 1 ? "[Cout, Cin/groups, kW]" : "[N, C, W]"),
                      s->rank);
}

/* The spatial dims of the convolution's y for x-spatial xsp and kernel k;
 * GR_E_SHAPE when a dim is not positive. */
static gr_status conv_out_dims(gr_graph *g, int id, int nsp, const int64_t xsp[2], const int64_t k[2],
                               int64_t out[2], gr_error *err) {
    int64_t s[2], p[2], d[2];
    gr_status st = window_params(g, id, nsp, s, p, d, err);
    if (st != GR_OK) return st;
    for (int i = 2 - nsp; i < 2; i++) {
        out[i] = conv_out_len(xsp[i], k[i], s[i], p[i], d[i]);
        if (out[i] < 1)
            return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL,
                              "spatial size %lld with padding %lld is smaller than the dilated kernel %lld",
                              (long long)xsp[i], (long long)p[i], (long long)(d[i] * (k[i] - 1) + 1));
    }
    if (nsp == 1) out[0] = 1;
    return GR_OK;
}

/* The GEMMs' dims must fit OpenBLAS's 32-bit ints: the rows of a column
 * matrix (Cin/groups * kernel taps, from the weight w) and its columns per
 * image (the spatial size of y). */
static gr_status blas_dims(gr_graph *g, int id, const gr_shape *w, const gr_shape *y, gr_error *err) {
    int64_t kg = 1, p = 1;
    for (int i = 1; i < w->rank; i++) kg *= w->dims[i];
    for (int i = 2; i < y->rank; i++) p *= y->dims[i];
    if (kg > INT32_MAX || p > INT32_MAX || w->dims[0] > INT32_MAX)
        return gr_fail_op(g, err, GR_E_LIMIT, id, -1, NULL, "a convolution matrix dimension is 2^31 or more");
    return GR_OK;
}

/* A [N, C, (H,) W] shape of nsp spatial dims. */
static gr_shape nchw(int nsp, int64_t n, int64_t c, const int64_t sp[2]) {
    gr_shape s = {0};
    s.rank = nsp + 2;
    s.dims[0] = n;
    s.dims[1] = c;
    if (nsp == 2) s.dims[2] = sp[0];
    s.dims[s.rank - 1] = sp[1];
    return s;
}

/* Groups of node id, checked to divide the weight's output channels. */
static gr_status groups_of(gr_graph *g, int id, int64_t channels, int operand, int64_t *groups, gr_error *err) {
    *groups = node_groups(&g->nodes[id]);
    if (channels % *groups != 0)
        return gr_fail_op(g, err, GR_E_SHAPE, id, operand, "groups", "%lld channels do not split into %lld groups",
                          (long long)channels, (long long)*groups);
    return GR_OK;
}

/* conv1d / conv2d (x [N, Cin, ...], w [Cout, Cin/groups, ...]) -> [N, Cout, ...]. */
static gr_status conv_infer_nsp(gr_graph *g, int id, int nsp, gr_error *err) {
    gr_status st = need_rank(g, id, 0, nsp, "the input", err);
    if (st == GR_OK) st = need_rank(g, id, 1, nsp, "the weight", err);
    if (st != GR_OK) return st;
    gr_shape x = *IN_SHAPE(g, id, 0), w = *IN_SHAPE(g, id, 1);
    int64_t groups;
    if ((st = groups_of(g, id, w.dims[0], 1, &groups, err)) != GR_OK) return st;
    if (w.dims[1] * groups != x.dims[1])
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL,
                          "the input has %lld channels; a weight of %lld input channels per group in %lld groups "
                          "needs %lld", (long long)x.dims[1], (long long)w.dims[1], (long long)groups,
                          (long long)(w.dims[1] * groups));
    int64_t xsp[2] = {sp_h(&x), sp_w(&x)}, k[2] = {sp_h(&w), sp_w(&w)}, ysp[2];
    if ((st = conv_out_dims(g, id, nsp, xsp, k, ysp, err)) != GR_OK) return st;
    gr_shape y = nchw(nsp, x.dims[0], w.dims[0], ysp);
    if ((st = blas_dims(g, id, &w, &y, err)) != GR_OK) return st;
    return gr_node_set_shape(g, id, &y, err);
}
static gr_status conv1d_infer(gr_graph *g, int id, gr_error *err) { return conv_infer_nsp(g, id, 1, err); }
static gr_status conv2d_infer(gr_graph *g, int id, gr_error *err) { return conv_infer_nsp(g, id, 2, err); }

/* conv_transpose (y [N, Cin_t, ...], w [Cin_t, Cout_t/groups, ...]) -> [N, Cout_t, ...] with
 * size (i - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1. */
static gr_status conv_transpose_infer_nsp(gr_graph *g, int id, int nsp, gr_error *err) {
    gr_status st = need_rank(g, id, 0, nsp, "the input", err);
    if (st == GR_OK) st = need_rank(g, id, 1, nsp, "the weight", err);
    if (st != GR_OK) return st;
    gr_shape y = *IN_SHAPE(g, id, 0), w = *IN_SHAPE(g, id, 1);
    int64_t groups, s[2], p[2], d[2], op[2];
    if ((st = groups_of(g, id, w.dims[0], 1, &groups, err)) != GR_OK) return st;
    if (w.dims[0] != y.dims[1])
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL,
                          "the input has %lld channels; the weight [Cin, Cout/groups, ...] has %lld",
                          (long long)y.dims[1], (long long)w.dims[0]);
    if ((st = window_params(g, id, nsp, s, p, d, err)) != GR_OK) return st;
    if ((st = gr_window_attr(g, id, GR_ATTR_OUTPUT_PADDING, nsp, 0, 0, op, err)) != GR_OK) return st;
    int64_t ysp[2] = {sp_h(&y), sp_w(&y)}, k[2] = {sp_h(&w), sp_w(&w)}, xsp[2] = {1, 1};
    for (int i = 2 - nsp; i < 2; i++) {
        if (op[i] >= s[i])
            return gr_fail_op(g, err, GR_E_ARG, id, -1, "output_padding",
                              "output_padding %lld must be less than the stride %lld",
                              (long long)op[i], (long long)s[i]);
        int64_t a, b;
        if (ysp[i] < 1 || !gr_mul_ok(ysp[i] - 1, s[i], &a) || !gr_mul_ok(d[i], k[i] - 1, &b) ||
            !gr_add_ok(a, b, &a) || !gr_add_ok(a, op[i] + 1, &a) || (xsp[i] = a - 2 * p[i]) < 1)
            return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL,
                              "an input of spatial size %lld gives an output size below 1 or too large",
                              (long long)ysp[i]);
    }
    gr_shape x = nchw(nsp, y.dims[0], w.dims[1] * groups, xsp);
    if ((st = blas_dims(g, id, &w, &y, err)) != GR_OK) return st;
    return gr_node_set_shape(g, id, &x, err);
}
static gr_status conv_transpose1d_infer(gr_graph *g, int id, gr_error *err) {
    return conv_transpose_infer_nsp(g, id, 1, err);
}
static gr_status conv_transpose2d_infer(gr_graph *g, int id, gr_error *err) {
    return conv_transpose_infer_nsp(g, id, 2, err);
}

/* conv_weight (x [N, Cin, ...], y [N, Cout, ...]) -> the shape attribute,
 * the weight [Cout, Cin/groups, ...]; y must be the convolution's output
 * size for x. */
static gr_status conv_weight_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *xs = IN_SHAPE(g, id, 0);
    int nsp = xs->rank - 2;
    if (nsp != 1 && nsp != 2)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "the input must have rank 3 or 4, not %d",
                          xs->rank);
    gr_status st = need_rank(g, id, 1, nsp, "the output gradient", err);
    if (st != GR_OK) return st;
    gr_shape x = *xs, y = *IN_SHAPE(g, id, 1), w = g->nodes[id].attrs->shape;
    if (w.rank != nsp + 2)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "shape", "the weight shape must have rank %d",
                          nsp + 2);
    for (int i = 0; i < w.rank; i++)
        if (w.dims[i] < 0) return gr_fail_op(g, err, GR_E_ARG, id, -1, "shape", "a negative weight dim");
    int64_t groups;
    if ((st = groups_of(g, id, w.dims[0], -1, &groups, err)) != GR_OK) return st;
    int64_t xsp[2] = {sp_h(&x), sp_w(&x)}, k[2] = {sp_h(&w), sp_w(&w)}, ysp[2];
    if ((st = conv_out_dims(g, id, nsp, xsp, k, ysp, err)) != GR_OK) return st;
    gr_shape want = nchw(nsp, x.dims[0], w.dims[0], ysp);
    char a[160], b[160];
    if (w.dims[1] * groups != x.dims[1] || !gr_shape_equal(&want, &y))
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL,
                          "the output gradient has shape %s; input and weight need %s",
                          gr_shape_str(&y, a, sizeof a), gr_shape_str(&want, b, sizeof b));
    if ((st = blas_dims(g, id, &w, &y, err)) != GR_OK) return st;
    return gr_node_set_shape(g, id, &w, err);
}

/* ---- GEMM and the workspace ------------------------------------------- */

/* C (m x n, leading dim ldc) = op(A) op(B) + beta C, row-major. k = 0
 * leaves beta C (0 when beta is 0) without asking BLAS. */
static void gemm(gr_dtype dt, int ta, int tb, int64_t m, int64_t n, int64_t k, const void *a, int64_t lda,
                 const void *b, int64_t ldb, double beta, void *c, int64_t ldc) {
    if (m == 0 || n == 0) return;
    if (k == 0) {
        if (beta == 0)
            for (int64_t i = 0; i < m; i++) memset((char *)c + (size_t)(i * ldc) * gr_dtype_size(dt), 0,
                                                   (size_t)n * gr_dtype_size(dt));
        return;
    }
    enum CBLAS_TRANSPOSE at = ta ? CblasTrans : CblasNoTrans, bt = tb ? CblasTrans : CblasNoTrans;
    if (dt == GR_F32)
        gr_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, (float)beta, c, ldc);
    else
        cblas_dgemm(CblasRowMajor, at, bt, (blasint)m, (blasint)n, (blasint)k, 1.0, a, (blasint)lda, b,
                    (blasint)ldb, beta, c, (blasint)ldc);
}

/* Elements of the workspace a kernel may use: 64 Ki (256 KiB in float32),
 * so a chunk's column matrix stays in the L2 cache (measured on the
 * cnn-step layers: one image per GEMM beat 64 images per GEMM by 10-40%,
 * as the bigger chunk's column matrix left the cache). */
#ifndef CONV_WORK_ELEMS
#define CONV_WORK_ELEMS ((int64_t)1 << 16)
#endif

/* Columns a chunk's GEMM gets at least, when the maps are small: a product
 * a few columns wide runs far below the BLAS's speed (resnet18's 2x2 maps:
 * [256, 2304] x [2304, 24] and [.., 8] for chunks of 6 and 2 images; as one
 * chunk of 8, its conv2d went 1.20 -> 1.08 ms and conv_transpose2d 1.06 ->
 * 0.84 ms). */
#define CONV_MIN_COLS 64

/* Images per chunk: as many as fit the workspace with their column matrix
 * and output rows, but enough for CONV_MIN_COLS columns, at least one, and
 * with a chunk's columns within BLAS's 32-bit dims. */
static int64_t chunk_images(const conv_geom *c) {
    int64_t per = (c->kg + c->cog) * c->p;
    int64_t nb = per > 0 ? CONV_WORK_ELEMS / per : c->n;
    if (c->p > 0 && nb * c->p < CONV_MIN_COLS) nb = (CONV_MIN_COLS + c->p - 1) / c->p;
    if (c->p > 0 && nb > INT32_MAX / c->p) nb = INT32_MAX / c->p;
    if (nb > c->n) nb = c->n;
    return nb < 1 ? 1 : nb;
}

/* One thread's scratch: its chunk's column matrix and channel-major y. */
static int64_t work_elems(const conv_geom *c) {
    if (c->n == 0 || c->p == 0) return 0;
    int64_t nb = chunk_images(c);
    return (c->kg + (nb > 1 ? c->cog : 0)) * c->p * nb; /* one image needs no copy of y */
}

static int64_t chunks_of(const conv_geom *c) { return c->n > 0 ? (c->n + chunk_images(c) - 1) / chunk_images(c) : 0; }

/* Threads that can share a kernel's chunks: gr_threads(), at most one per
 * chunk. Each gets a slot of the workspace. */
static int64_t work_slots(const conv_geom *c) {
    int64_t chunks = chunks_of(c), t = gr_threads();
    return t < chunks ? t : chunks > 0 ? chunks : 1;
}

/* conv_weight's groups of chunks, each summing into a partial w of its
 * own (gr_parallel_groups): the first into w, the others into the
 * workspace after the slots. */
static int64_t weight_groups(const conv_geom *c, gr_dtype dt, int64_t slots) {
    return gr_parallel_groups(chunks_of(c), slots, c->cout * c->kg * (int64_t)gr_dtype_size(dt));
}

/* Workspace elements of a job by `slots` threads (weight: conv_weight's):
 * the trimmed weight (when taps were dropped), the slots, then
 * conv_weight's other groups' partial sums. */
static int64_t job_elems(const conv_geom *c, gr_dtype dt, int weight, int64_t slots) {
    if (work_elems(c) == 0) return 0;
    int64_t partials = weight ? (weight_groups(c, dt, slots) - 1) * c->cout * c->kg : 0;
    return gr_conv_trimmed_weight_elems(c) + slots * work_elems(c) + partials;
}

/* The chunks of one conv kernel, shared by the threads: a part takes
 * chunks [c0, c1) in its thread's slot (conv_weight: groups [g0, g1)). */
typedef struct conv_job {
    const gr_kernel *k;
    conv_geom c;
    int64_t slots, groups;     /* workspace slots; conv_weight's groups */
    int64_t nb;                /* images per chunk */
    char *weight;              /* [cout, cig, kh, kw] of the trimmed taps: w itself or its copy */
    char *slot0;               /* the first slot, after the copy of the trimmed weight */
    char *partials;            /* conv_weight's groups after the first, after the slots */
} conv_job;

/* Slots the planned workspace holds (a thread count raised after the
 * compile cannot use more), at most the job's chunks. */
static int64_t planned_slots(const gr_kernel *k, const conv_geom *c, int weight) {
    int64_t slots = work_slots(c), elems = k->work_bytes / (int64_t)gr_dtype_size(k->dt);
    while (slots > 1 && job_elems(c, k->dt, weight, slots) > elems) slots--;
    return slots;
}

/* The thread's slot of job J: its chunk's column matrix, then its y. */
static char *slot_of(const conv_job *J, size_t esz) {
    return J->slot0 + (size_t)(gr_parallel_slot() * work_elems(&J->c)) * esz;
}

/* The geometry of node n of each kind (in the graph g); the kernels and
 * their workspace use it through trim_taps. */
static conv_geom conv_node_geom(const gr_graph *g, const gr_node *n) {
    return geom_of(n, &g->nodes[n->in[0]].shape, &g->nodes[n->in[1]].shape, &n->shape);
}
static conv_geom transpose_node_geom(const gr_graph *g, const gr_node *n) {
    return geom_of(n, &n->shape, &g->nodes[n->in[1]].shape, &g->nodes[n->in[0]].shape);
}
static conv_geom weight_node_geom(const gr_graph *g, const gr_node *n) {
    return geom_of(n, &g->nodes[n->in[0]].shape, &n->shape, &g->nodes[n->in[1]].shape);
}

/* Elements of a Winograd run of convolution c (transpose: its
 * conv_transpose), or 0 when it has none. */
static int64_t winograd_elems(const conv_geom *c, gr_dtype dt, int transpose, int weight) {
    gr_wino p;
    return gr_conv_winograd_plan(c, dt, transpose, &p) ? gr_conv_winograd_workspace(&p, gr_threads(), weight) : 0;
}

/* Elements of a direct run of convolution c (weight: its conv_weight),
 * or 0 when it has none. */
static int64_t direct_elems(const conv_geom *c, gr_dtype dt, int weight) {
    return gr_conv_direct_fits(c, dt) ? gr_conv_direct_workspace(c, weight, gr_threads()) : 0;
}

/* The workspace holds the job with the taps trimmed, or with all of them
 * (conv and conv_weight keep all when a dropped tap meets inf or NaN), or
 * a Winograd run (which falls back on the job for some values), or a
 * direct one. */
static int64_t conv_workspace(const gr_graph *g, const gr_node *n) {
    conv_geom full = conv_node_geom(g, n), c = gr_conv_trim_taps(full);
    int64_t e = job_elems(&c, g->dt, 0, work_slots(&c)), f = job_elems(&full, g->dt, 0, work_slots(&full));
    int64_t wino = winograd_elems(&c, g->dt, 0, 0), direct = direct_elems(&c, g->dt, 0);
    e = e > f ? e : f;
    e = e > wino ? e : wino;
    return (e > direct ? e : direct) * (int64_t)gr_dtype_size(g->dt);
}
static int64_t transpose_workspace(const gr_graph *g, const gr_node *n) {
    conv_geom c = gr_conv_trim_taps(transpose_node_geom(g, n));
    int64_t e = job_elems(&c, g->dt, 0, work_slots(&c)), wino = winograd_elems(&c, g->dt, 1, 0);
    return (e > wino ? e : wino) * (int64_t)gr_dtype_size(g->dt);
}

/* Kernel k's convolution c by Winograd (transpose: conv_transpose's;
 * weight: conv_weight's), when it has one and its operands allow; 0 when
 * nothing was written. */
static int run_winograd(const gr_kernel *k, const conv_geom *c, int transpose, int weight) {
    gr_wino p;
    if (!gr_conv_winograd_plan(c, k->dt, transpose, &p)) return 0;
    int64_t work_elems = k->work_bytes / (int64_t)sizeof(float);
    if (weight) return gr_conv_winograd_weight(&p, k->in[0], k->in[1], k->out, k->work, work_elems, k->cancel);
    return gr_conv_winograd_run(&p, k->in[0], k->in[1], transpose ? NULL : k->bias, !transpose && k->relu_out, k->out,
                                k->work, work_elems, k->cancel);
}

/* Kernel k's convolution c (weight: conv_weight's) by direct sums, when
 * it has them; 0 when nothing was written. */
static int run_direct(const gr_kernel *k, const conv_geom *c, int weight) {
    if (!gr_conv_direct_fits(c, k->dt)) return 0;
    int64_t work_elems = k->work_bytes / (int64_t)sizeof(float);
    if (weight) return gr_conv_direct_weight(c, k->in[0], k->in[1], k->out, k->work, work_elems, k->cancel);
    return gr_conv_direct_run(c, k->in[0], k->in[1], k->bias, k->relu_out, k->out, k->work, work_elems, k->cancel);
}
static int64_t weight_workspace(const gr_graph *g, const gr_node *n) {
    conv_geom full = weight_node_geom(g, n), c = gr_conv_trim_taps(full);
    int64_t e = job_elems(&c, g->dt, 1, work_slots(&c)), f = job_elems(&full, g->dt, 1, work_slots(&full));
    int64_t wino = winograd_elems(&c, g->dt, 0, 1), direct = direct_elems(&c, g->dt, 1);
    e = e > f ? e : f;
    e = e > wino ? e : wino;
    return (e > direct ? e : direct) * (int64_t)gr_dtype_size(g->dt);
}

/* 2 * kg multiply-adds for each element of y. */
static int64_t conv_flops_of(const conv_geom *c) {
    int64_t f;
    return gr_mul_ok(c->n * c->cout * c->p, 2 * c->kg, &f) ? f : INT64_MAX;
}
static int64_t conv_flops(const gr_graph *g, const gr_node *n) {
    conv_geom c = conv_node_geom(g, n);
    return conv_flops_of(&c);
}
static int64_t transpose_flops(const gr_graph *g, const gr_node *n) {
    conv_geom c = transpose_node_geom(g, n);
    return conv_flops_of(&c);
}
static int64_t weight_flops(const gr_graph *g, const gr_node *n) {
    conv_geom c = weight_node_geom(g, n);
    return conv_flops_of(&c);
}

/* ---- kernels ---------------------------------------------------------- */

/* A job over kernel k's chunks of geometry c (is_weight: conv_weight's,
 * by groups), shared by the threads part by part. */
static conv_job run_conv_job(const gr_kernel *k, const conv_geom *c, int is_weight, char *weight, gr_par_fn part) {
    size_t esz = gr_dtype_size(k->dt);
    conv_job J = {.k = k, .c = *c, .nb = chunk_images(c), .weight = weight, .groups = 1};
    if (c->n == 0 || c->p == 0) return J;
    J.slots = planned_slots(k, c, is_weight);
    J.slot0 = (char *)k->work + (size_t)gr_conv_trimmed_weight_elems(c) * esz;
    J.partials = J.slot0 + (size_t)(J.slots * work_elems(c)) * esz;
    if (is_weight) J.groups = weight_groups(c, k->dt, J.slots);
    gr_parallel_for_slots(is_weight ? J.groups : chunks_of(c), 1, J.slots, part, &J);
    return J;
}

/* The weight operand w as the kernels read it: w, or its trimmed taps
 * copied to the start of the workspace. conv (keep_nonfinite) goes back
 * to the full kernel *c = full when w holds an inf or NaN (which a dropped
 * tap would turn into NaN). */
static char *weight_operand(const gr_kernel *k, conv_geom *c, const conv_geom *full, int keep_nonfinite) {
    char *w = (char *)(uintptr_t)k->in[1];
    if (!gr_conv_trimmed(c)) return w;
    if (gr_conv_trim_weight(c, k->dt, w, k->work, 1, keep_nonfinite)) return k->work;
    *c = *full;
    return w;
}

int gr_conv_bias_fits(const gr_node *conv, const gr_shape *bias) {
    const gr_shape *y = &conv->shape;
    int off = y->rank - bias->rank; /* bias's dims right-aligned with y's */
    if (off < 0) return 0;
    for (int d = 0; d < bias->rank; d++)
        if (bias->dims[d] != (off + d == 1 ? y->dims[1] : 1)) return 0;
    return off <= 1; /* the channel dim is bias's own */
}

/* Images [n0, n0 + m) of group gi of y [N, Cout, p] plus their channels'
 * bias values. */
#define ADD_BIAS(T)                                                                                                   \
    static void add_bias_##T(const conv_geom *c, T *y, const T *bias, int64_t n0, int64_t m, int64_t gi) {            \
        for (int64_t i = n0; i < n0 + m; i++)                                                                         \
            for (int64_t o = gi * c->cog; o < (gi + 1) * c->cog; o++) {                                               \
                T b = bias[o], *plane = y + (i * c->cout + o) * c->p;                                                 \
                for (int64_t j = 0; j < c->p; j++) plane[j] += b;                                                     \
            }                                                                                                         \
    }
ADD_BIAS(float)
ADD_BIAS(double)

/* y = conv(x, w): per chunk and group, col = im2col(x); y_g = w_g @ col
 * (plus the fused bias, gr_kernel.bias, while the chunk is in cache). */
static void conv_part(void *ctx, int64_t c0, int64_t c1) {
    const conv_job *J = ctx;
    const gr_kernel *k = J->k;
    conv_geom c = J->c;
    size_t esz = gr_dtype_size(k->dt);
    int64_t nb = J->nb;
    char *col = slot_of(J, esz), *ym = col + (size_t)(c.kg * nb * c.p) * esz;
    for (int64_t n0 = c0 * nb; n0 < c.n && n0 < c1 * nb && !gr_cancelled(k->cancel); n0 += nb) {
        int64_t m = c.n - n0 < nb ? c.n - n0 : nb, len = m * c.p;
        for (int64_t gi = 0; gi < c.groups; gi++) {
            const char *wg = J->weight + (size_t)(gi * c.cog * c.kg) * esz;
            char *yg = (char *)k->out + (size_t)((n0 * c.cout + gi * c.cog) * c.p) * esz;
            gr_conv_im2col(k->dt, &c, k->in[0], n0, m, gi, col);
            /* One image: its rows of y are the product's rows already. */
            gemm(k->dt, 0, 0, c.cog, len, c.kg, wg, c.kg, col, len, 0, m == 1 ? yg : ym, len);
            if (m > 1) gr_conv_y_chunk(&c, esz, n0, m, gi, k->out, ym, 0);
            if (k->bias && k->dt == GR_F32) add_bias_float(&c, k->out, k->bias, n0, m, gi);
            else if (k->bias) add_bias_double(&c, k->out, k->bias, n0, m, gi);
        }
    }
}

/* k's output through relu's rule, in place, shared by the threads. */
static void relu_part(void *ctx, int64_t a, int64_t b) {
    const gr_kernel *k = ctx;
    if (k->dt == GR_F32) gr_relu_row_f32((float *)k->out + a, (float *)k->out + a, b - a);
    else gr_relu_row_f64((double *)k->out + a, (double *)k->out + a, b - a);
}

static void relu_in_place(const gr_kernel *k) {
    gr_parallel_for(k->n->numel, GR_PAR_GRAIN, relu_part, (void *)(uintptr_t)k);
}

static gr_status conv_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    conv_geom full = conv_node_geom(k->g, k->n), c = gr_conv_trim_taps(full);
    if (run_winograd(k, &c, 0, 0) || run_direct(k, &c, 0)) return GR_OK;
    char *w = weight_operand(k, &c, &full, 1);
    run_conv_job(k, &c, 0, w, conv_part);
    if (k->relu_out) relu_in_place(k); /* the GEMM path: relu as a pass of its own */
    return GR_OK;
}

/* x = conv_transpose(y, w): per chunk and group, col = w_g^T @ y_g; x +=
 * col2im(col). A chunk's images are its own rows of x: threads never
 * share one. */
static void conv_transpose_part(void *ctx, int64_t c0, int64_t c1) {
    const conv_job *J = ctx;
    const gr_kernel *k = J->k;
    conv_geom c = J->c;
    size_t esz = gr_dtype_size(k->dt);
    int64_t nb = J->nb;
    char *col = slot_of(J, esz), *ym = col + (size_t)(c.kg * nb * c.p) * esz;
    for (int64_t n0 = c0 * nb; n0 < c.n && n0 < c1 * nb && !gr_cancelled(k->cancel); n0 += nb) {
        int64_t m = c.n - n0 < nb ? c.n - n0 : nb, len = m * c.p;
        for (int64_t gi = 0; gi < c.groups; gi++) {
            const char *wg = J->weight + (size_t)(gi * c.cog * c.kg) * esz;
            const char *yg = (const char *)k->in[0] + (size_t)((n0 * c.cout + gi * c.cog) * c.p) * esz;
            if (m > 1) gr_conv_y_chunk(&c, esz, n0, m, gi, (char *)(uintptr_t)k->in[0], ym, 1);
            gemm(k->dt, 1, 0, c.kg, len, c.cog, wg, c.kg, m == 1 ? yg : ym, len, 0, col, len);
            gr_conv_col2im(k->dt, &c, col, n0, m, gi, k->out);
        }
    }
}

static gr_status conv_transpose_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    conv_geom full = transpose_node_geom(k->g, k->n), c = gr_conv_trim_taps(full);
    if (run_winograd(k, &c, 1, 0)) return GR_OK;
    memset(k->out, 0, (size_t)k->n->numel * gr_dtype_size(k->dt));
    char *w = weight_operand(k, &c, &full, 0);
    run_conv_job(k, &c, 0, w, conv_transpose_part);
    return GR_OK;
}

/* w = conv_weight(x, y): per chunk and group, w_g += y_g @ im2col(x)^T;
 * group g of the chunks sums into its own partial w (the first into w),
 * the partials added to w in group order once all are done. */
static void group_weight(const conv_job *J, int64_t grp, int64_t c0, int64_t c1) {
    const gr_kernel *k = J->k;
    conv_geom c = J->c;
    size_t esz = gr_dtype_size(k->dt);
    int64_t nb = J->nb;
    char *col = slot_of(J, esz), *ym = col + (size_t)(c.kg * nb * c.p) * esz;
    size_t w_bytes = (size_t)(c.cout * c.kg) * esz;
    char *w = grp == 0 ? J->weight : J->partials + (size_t)(grp - 1) * w_bytes;
    memset(w, 0, w_bytes);
    for (int64_t n0 = c0 * nb; n0 < c.n && n0 < c1 * nb && !gr_cancelled(k->cancel); n0 += nb) {
        int64_t m = c.n - n0 < nb ? c.n - n0 : nb, len = m * c.p;
        for (int64_t gi = 0; gi < c.groups; gi++) {
            char *wg = w + (size_t)(gi * c.cog * c.kg) * esz;
            const char *yg = (const char *)k->in[1] + (size_t)((n0 * c.cout + gi * c.cog) * c.p) * esz;
            gr_conv_im2col(k->dt, &c, k->in[0], n0, m, gi, col);
            if (m > 1) gr_conv_y_chunk(&c, esz, n0, m, gi, (char *)(uintptr_t)k->in[1], ym, 1);
            gemm(k->dt, 0, 1, c.cog, c.kg, len, m == 1 ? yg : ym, len, col, len, 1, wg, c.kg);
        }
    }
}

static void conv_weight_part(void *ctx, int64_t g0, int64_t g1) {
    const conv_job *J = ctx;
    int64_t chunks = chunks_of(&J->c);
    for (int64_t g = g0; g < g1; g++) group_weight(J, g, chunks * g / J->groups, chunks * (g + 1) / J->groups);
}

static gr_status conv_weight_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    conv_geom full = weight_node_geom(k->g, k->n), c = gr_conv_trim_taps(full);
    size_t esz = gr_dtype_size(k->dt);
    if (run_winograd(k, &c, 0, 1) || run_direct(k, &c, 1)) return GR_OK;
    if (gr_conv_trimmed(&c) && !gr_conv_all_finite(k->dt, k->in[1], k->g->nodes[k->n->in[1]].numel)) c = full;
    if (c.n == 0 || c.p == 0) {
        memset(k->out, 0, (size_t)k->n->numel * esz);
        return GR_OK;
    }
    char *w = gr_conv_trimmed(&c) ? k->work : k->out; /* the trimmed taps' sum, spread into out at the end */
    conv_job J = run_conv_job(k, &c, 1, w, conv_weight_part);
    gr_add_parts(k->dt, w, J.partials, J.groups - 1, c.cout * c.kg); /* in group order */
    if (gr_conv_trimmed(&c)) gr_conv_trim_weight(&c, k->dt, k->out, w, 0, 0);
    return GR_OK;
}

/* ---- derivative rules ------------------------------------------------- */

extern const gr_op gr_op_conv1d, gr_op_conv2d, gr_op_conv_transpose1d, gr_op_conv_transpose2d, gr_op_conv_weight;

/* stride, padding, dilation and groups of node n, as given. */
static gr_attrs window_attrs(const gr_node *n) {
    gr_attrs a = {0};
    const gr_attrs *s = n->attrs;
    a.set = s->set & (A(GR_ATTR_STRIDE) | A(GR_ATTR_PADDING) | A(GR_ATTR_DILATION) | A(GR_ATTR_GROUPS));
    a.nstride = s->nstride;
    a.npadding = s->npadding;
    a.ndilation = s->ndilation;
    memcpy(a.stride, s->stride, sizeof a.stride);
    memcpy(a.padding, s->padding, sizeof a.padding);
    memcpy(a.dilation, s->dilation, sizeof a.dilation);
    a.groups = s->groups;
    return a;
}

/* conv(x, w) with n's window (operand ids; x decides 1-D or 2-D). */
static int build_conv(gr_graph *g, const gr_node *n, int x, int w) {
    if (x < 0 || w < 0) return -1;
    gr_attrs a = window_attrs(n);
    return gr_build_apply(g, gr_shape_of(g, x)->rank == 3 ? &gr_op_conv1d : &gr_op_conv2d, x, w, -1, &a);
}

/* conv_transpose(y, w) with n's window, sized to xs: the adjoint of the
 * convolution of an xs-shaped input, whose geometry is c. */
static int build_conv_transpose(gr_graph *g, const gr_node *n, const conv_geom *c, int y, int w, int nsp) {
    if (y < 0 || w < 0) return -1;
    gr_attrs a = window_attrs(n);
    int64_t op[2] = {c->h + 2 * c->ph - c->dh * (c->kh - 1) - 1 - (c->oh - 1) * c->sh,
                     c->w + 2 * c->pw - c->dw * (c->kw - 1) - 1 - (c->ow - 1) * c->sw};
    gr_attrs_set_ints(&a, GR_ATTR_OUTPUT_PADDING, nsp == 2 ? op : op + 1, nsp, NULL);
    return gr_build_apply(g, nsp == 2 ? &gr_op_conv_transpose2d : &gr_op_conv_transpose1d, y, w, -1, &a);
}

/* conv_weight(x, y) with n's window for a weight of shape ws. */
static int build_conv_weight(gr_graph *g, const gr_node *n, int x, int y, const gr_shape *ws) {
    if (x < 0 || y < 0) return -1;
    gr_attrs a = window_attrs(n);
    a.set |= A(GR_ATTR_SHAPE);
    a.shape = *ws;
    return gr_build_apply(g, &gr_op_conv_weight, x, y, -1, &a);
}

static int add_tangents(gr_graph *g, int l, int r) {
    if (l >= 0 && r >= 0) return gr_build_binary(g, &gr_op_add, l, r);
    return l >= 0 ? l : r;
}

/* y = conv(x, w): dx = conv_transpose(g, w), dw = conv_weight(x, g). */
static void conv_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    gr_node n = g->nodes[id]; /* a copy: building moves g->nodes */
    conv_geom c = conv_node_geom(g, &n);
    gr_shape ws = *gr_shape_of(g, n.in[1]);
    int nsp = n.shape.rank - 2;
    if (need[0]) grads[0] = build_conv_transpose(g, &n, &c, grad, n.in[1], nsp);
    if (need[1]) grads[1] = build_conv_weight(g, &n, n.in[0], grad, &ws);
}
static int conv_jvp(gr_graph *g, int id, const int *t) {
    gr_node n = g->nodes[id];
    int l = t[0] >= 0 ? build_conv(g, &n, t[0], n.in[1]) : -1;
    int r = t[1] >= 0 ? build_conv(g, &n, n.in[0], t[1]) : -1;
    return add_tangents(g, l, r);
}

/* x = conv_transpose(y, w): dy = conv(g, w), dw = conv_weight(g, y). */
static void conv_transpose_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    gr_node n = g->nodes[id];
    gr_shape ws = *gr_shape_of(g, n.in[1]);
    if (need[0]) grads[0] = build_conv(g, &n, grad, n.in[1]);
    if (need[1]) grads[1] = build_conv_weight(g, &n, grad, n.in[0], &ws);
}
static int conv_transpose_jvp(gr_graph *g, int id, const int *t) {
    gr_node n = g->nodes[id];
    int l = t[0] >= 0 ? gr_build_apply(g, n.op, t[0], n.in[1], -1, n.attrs) : -1;
    int r = t[1] >= 0 ? gr_build_apply(g, n.op, n.in[0], t[1], -1, n.attrs) : -1;
    return add_tangents(g, l, r);
}

/* w = conv_weight(x, y): dx = conv_transpose(y, g), dy = conv(x, g). */
static void conv_weight_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    gr_node n = g->nodes[id];
    conv_geom c = weight_node_geom(g, &n);
    int nsp = gr_shape_of(g, n.in[0])->rank - 2;
    if (need[0]) grads[0] = build_conv_transpose(g, &n, &c, n.in[1], grad, nsp);
    if (need[1]) grads[1] = build_conv(g, &n, n.in[0], grad);
}
static int conv_weight_jvp(gr_graph *g, int id, const int *t) {
    gr_node n = g->nodes[id];
    int l = t[0] >= 0 ? gr_build_apply(g, n.op, t[0], n.in[1], -1, n.attrs) : -1;
    int r = t[1] >= 0 ? gr_build_apply(g, n.op, n.in[0], t[1], -1, n.attrs) : -1;
    return add_tangents(g, l, r);
}

/* ---- the entries -------------------------------------------------------- */

#define WINDOW_ATTRS (A(GR_ATTR_STRIDE) | A(GR_ATTR_PADDING) | A(GR_ATTR_DILATION) | A(GR_ATTR_GROUPS))

#define CONV_DOC(D, SHAPES)                                                                                           \
    "y[n, o, " SHAPES "] = sum over c in o's group and kernel taps k of w[o, c, k] * x[n, c, stride * out + "         \
    "dilation * k - padding] (cross-correlation, as PyTorch's conv" D "; zero padding); x [N, Cin, " SHAPES           \
    "], w [Cout, Cin/groups, k...]; stride, padding, dilation: one entry or one per spatial dim; add a bias "        \
    "as a separate add of b reshaped to [Cout, 1...]; dx = conv_transpose" D "(g, w) (output_padding sized to x), "   \
    "dw = conv_weight(x, g); bilinear, no special points (NaN and inf propagate through the products as in "         \
    "PyTorch's CPU convolution: a padded zero times an infinite weight is NaN)"

const gr_op gr_op_conv1d = {
    .name = "conv1d", .arity = 2, .attrs = WINDOW_ATTRS,
    .doc = CONV_DOC("1d", "w"),
    .infer = conv1d_infer, .forward = conv_forward, .vjp = conv_vjp, .jvp = conv_jvp, .flops = conv_flops,
    .workspace = conv_workspace,
};
const gr_op gr_op_conv2d = {
    .name = "conv2d", .arity = 2, .attrs = WINDOW_ATTRS,
    .doc = CONV_DOC("2d", "h, w"),
    .infer = conv2d_infer, .forward = conv_forward, .vjp = conv_vjp, .jvp = conv_jvp, .flops = conv_flops,
    .workspace = conv_workspace,
};

#define CONV_TRANSPOSE_DOC(D)                                                                                         \
    "y = the adjoint of conv" D " in its input, as PyTorch's conv_transpose" D ": input [N, Cin, ...], weight "       \
    "[Cin, Cout/groups, k...], output [N, Cout, ...] of size (i - 1) * stride - 2 * padding + dilation * (k - 1) "   \
    "+ output_padding + 1 (output_padding less than stride; PyTorch also allows it below dilation); "                \
    "dinput = conv" D "(g, w), dw = conv_weight(g, input); bilinear, no special points"

const gr_op gr_op_conv_transpose1d = {
    .name = "conv_transpose1d", .arity = 2, .attrs = WINDOW_ATTRS | A(GR_ATTR_OUTPUT_PADDING),
    .doc = CONV_TRANSPOSE_DOC("1d"),
    .infer = conv_transpose1d_infer, .forward = conv_transpose_forward, .vjp = conv_transpose_vjp,
    .jvp = conv_transpose_jvp, .flops = transpose_flops, .workspace = transpose_workspace,
};
const gr_op gr_op_conv_transpose2d = {
    .name = "conv_transpose2d", .arity = 2, .attrs = WINDOW_ATTRS | A(GR_ATTR_OUTPUT_PADDING),
    .doc = CONV_TRANSPOSE_DOC("2d"),
    .infer = conv_transpose2d_infer, .forward = conv_transpose_forward, .vjp = conv_transpose_vjp,
    .jvp = conv_transpose_jvp, .flops = transpose_flops, .workspace = transpose_workspace,
};

const gr_op gr_op_conv_weight = {
    .name = "conv_weight", .arity = 2, .attrs = WINDOW_ATTRS | A(GR_ATTR_SHAPE), .required = A(GR_ATTR_SHAPE),
    .flags = GR_OPF_INTERNAL,
    .doc = "the gradient of conv1d/conv2d in its weight: w[o, c, k] = sum over n and outputs of y[n, o, out] * "
           "x[n, c, stride * out + dilation * k - padding], for x [N, Cin, ...], y [N, Cout, ...] the convolution's "
           "output size, shape the weight's [Cout, Cin/groups, k...]; dx = conv_transpose(y, g), dy = conv(x, g); "
           "bilinear, no special points",
    .infer = conv_weight_infer, .forward = conv_weight_forward, .vjp = conv_weight_vjp, .jvp = conv_weight_jvp,
    .flops = weight_flops, .workspace = weight_workspace,
};

const gr_op *const gr_ops_conv[] = {&gr_op_conv1d, &gr_op_conv2d, &gr_op_conv_transpose1d, &gr_op_conv_transpose2d,
                                    &gr_op_conv_weight, NULL};
