/* reduce.c -- sum, mean, max, min, prod over axes (keepdims or not) and
 * sum_to, the reduction autodiff uses to undo broadcasting. One kernel
 * serves them all: iterate over the input with the output's keepdims shape
 * broadcast against it, so reduced axes get output stride 0. prod_others
 * (internal) is prod's derivative: the product of the other elements of
 * each element's group, exact where the input holds zeros. */
#include "groups.h"

#include <math.h>
#include <string.h>

#include "../vmath.h"

/* ---- shape inference ------------------------------------------------- */

/* The reduction mask of node id over its operand. */
static gr_status reduce_mask(gr_graph *g, int id, unsigned *mask, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0);
    char buf[32];
    return gr_axes_mask(g->nodes[id].attrs, x->rank, mask, err, gr_node_name(g, id, buf, sizeof buf));
}

static gr_status infer_reduce(gr_graph *g, int id, gr_error *err) {
    unsigned mask;
    gr_status st = reduce_mask(g, id, &mask, err);
    if (st != GR_OK) return st;
    const gr_shape *x = IN_SHAPE(g, id, 0);
    gr_shape s = g->nodes[id].attrs->keepdims ? gr_shape_keep(x, mask) : gr_shape_drop(x, mask);
    return gr_node_set_shape(g, id, &s, err);
}

static gr_status infer_max(gr_graph *g, int id, gr_error *err) {
    unsigned mask;
    gr_status st = reduce_mask(g, id, &mask, err);
    if (st != GR_OK) return st;
    const gr_shape *x = IN_SHAPE(g, id, 0);
    for (int i = 0; i < x->rank; i++)
        if ((mask & (1u << i)) && x->dims[i] == 0)
            return gr_fail_op(g, err, GR_E_SHAPE, id, 0,
                           (g->nodes[id].attrs->set & A(GR_ATTR_AXIS)) ? "axis" : "axes",
                           "axis %d has size 0: the %s of nothing is undefined", i, g->nodes[id].op->name);
    return infer_reduce(g, id, err);
}

static gr_status infer_sum_to(gr_graph *g, int id, gr_error *err) { return gr_infer_broadcast_attr(g, id, 0, err); }

/* ---- kernels --------------------------------------------------------- */

/* Row kernels of the reductions. ctx is the kernel's cancel flag (may be
 * NULL): a long row is done in pieces of GR_CHUNK_ELEMS with a look at it
 * between two, and left unfinished once it is raised. The pieces run in
 * the row's order into the same accumulator, so results do not depend on
 * them. */
#define ROW_PIECES(n, ...)                                                                                             \
    for (int64_t i0 = 0; i0 < (n) && !gr_cancelled((const volatile int *)ctx); i0 += GR_CHUNK_ELEMS) {                 \
        int64_t i1 = (n) - i0 < GR_CHUNK_ELEMS ? (n) : i0 + GR_CHUNK_ELEMS;                                           \
        for (int64_t i = i0; i < i1; i++) __VA_ARGS__;                                                                \
    }

/* acc plus the sum of a contiguous row, in double: float32 in 8 partial
 * sums (lib/vmath.c; this is a bias gradient's inner loop), float64 one
 * value after the other, as before. */
static double row_sum_float(double acc, const float *a, int64_t n) { return acc + gr_vsum_f32(a, n); }
static double row_sum_double(double acc, const double *a, int64_t n) {
    for (int64_t i = 0; i < n; i++) acc += a[i];
    return acc;
}

#define SUM_ROW(FN, T)                                                                                                \
    static void FN(void *ctx, char *const *p, const int64_t *s, int64_t n) {                                          \
        T *o = (T *)p[0];                                                                                             \
        const T *a = (const T *)p[1];                                                                                 \
        if (s[0] == 0 && s[1] == 1) { /* along a contiguous row */                                                   \
            double acc = 0;                                                                                           \
            for (int64_t i0 = 0; i0 < n && !gr_cancelled((const volatile int *)ctx); i0 += GR_CHUNK_ELEMS)           \
                acc = row_sum_##T(acc, a + i0, n - i0 < GR_CHUNK_ELEMS ? n - i0 : GR_CHUNK_ELEMS);                    \
            o[0] += (T)acc;                                                                                           \
        } else if (s[0] == 0) { /* reduce along the row: accumulate in double */                                     \
            double acc = 0;                                                                                           \
            ROW_PIECES(n, acc += a[i * s[1]])                                                                         \
            o[0] += (T)acc;                                                                                           \
        } else if (s[0] == 1 && s[1] == 1) {                                                                          \
            ROW_PIECES(n, o[i] += a[i])                                                                               \
        } else {                                                                                                      \
            ROW_PIECES(n, o[i * s[0]] += a[i * s[1]])                                                                 \
        }                                                                                                             \
    }
SUM_ROW(sum_row_f32, float)
SUM_ROW(sum_row_f64, double)

#define MAX_ROW(FN, T)                                                                                                \
    static void FN(void *ctx, char *const *p, const int64_t *s, int64_t n) {                                          \
        T *o = (T *)p[0];                                                                                             \
        const T *a = (const T *)p[1];                                                                                 \
        ROW_PIECES(n, {                                                                                               \
            T v = a[i * s[1]], *d = &o[i * s[0]];                                                                     \
            if (v > *d || v != v) *d = v;                                                                             \
        })                                                                                                            \
    }
MAX_ROW(max_row_f32, float)
MAX_ROW(max_row_f64, double)

#define MIN_ROW(FN, T)                                                                                                \
    static void FN(void *ctx, char *const *p, const int64_t *s, int64_t n) {                                          \
        T *o = (T *)p[0];                                                                                             \
        const T *a = (const T *)p[1];                                                                                 \
        ROW_PIECES(n, {                                                                                               \
            T v = a[i * s[1]], *d = &o[i * s[0]];                                                                     \
            if (v < *d || v != v) *d = v;                                                                             \
        })                                                                                                            \
    }
MIN_ROW(min_row_f32, float)
MIN_ROW(min_row_f64, double)

#define PROD_ROW(FN, T)                                                                                               \
    static void FN(void *ctx, char *const *p, const int64_t *s, int64_t n) {                                          \
        T *o = (T *)p[0];                                                                                             \
        const T *a = (const T *)p[1];                                                                                 \
        if (s[0] == 0) { /* reduce along the row: accumulate in double */                                            \
            double acc = 1;                                                                                           \
            ROW_PIECES(n, acc *= a[i * s[1]])                                                                         \
            o[0] *= (T)acc;                                                                                           \
        } else {                                                                                                      \
            ROW_PIECES(n, o[i * s[0]] *= a[i * s[1]])                                                                 \
        }                                                                                                             \
    }
PROD_ROW(prod_row_f32, float)
PROD_ROW(prod_row_f64, double)

/* Reduce operand 0 of k into its output, whose keepdims shape is keep. */
static void reduce_into(const gr_kernel *k, const gr_shape *keep, gr_row_fn f32, gr_row_fn f64) {
    const gr_shape *x = &k->g->nodes[k->n->in[0]].shape;
    const gr_shape *shapes[2] = {keep, x};
    void *base[2] = {k->out, (void *)(uintptr_t)k->in[0]};
    gr_loop L;
    gr_loop_broadcast(&L, x, 2, shapes);
    L.cancel = k->cancel;
    /* by slabs of a kept dim: each output element's sum keeps its order */
    gr_loop_run_shared(&L, base, gr_dtype_size(k->dt), k->dt == GR_F32 ? f32 : f64, (void *)(uintptr_t)k->cancel);
}

static gr_shape keep_shape(const gr_kernel *k) {
    const gr_shape *x = &k->g->nodes[k->n->in[0]].shape;
    unsigned mask;
    gr_axes_mask(k->n->attrs, x->rank, &mask, NULL, NULL); /* validated at inference */
    return gr_shape_keep(x, mask);
}

static void fill_out(const gr_kernel *k, double v) { gr_fill_chunked(k, k->out, k->n->numel, v); }

static gr_status sum_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    gr_shape keep = keep_shape(k);
    fill_out(k, 0);
    reduce_into(k, &keep, sum_row_f32, sum_row_f64);
    return GR_OK;
}

/* Elements reduced into each output element. */
static int64_t reduced_count(const gr_graph *g, const gr_node *n) {
    int64_t in = g->nodes[n->in[0]].numel;
    return n->numel ? in / n->numel : 0;
}

static gr_status mean_forward(const gr_kernel *k, gr_error *err) {
    sum_forward(k, err);
    int64_t count = reduced_count(k->g, k->n);
    /* The mean of nothing is NaN, as in NumPy and PyTorch; no 0/0 is done. */
    double scale = count ? 1.0 / (double)count : NAN;
    int64_t n = k->n->numel;
    if (k->dt == GR_F32)
        for (int64_t i = 0; i < n; i++) ((float *)k->out)[i] = count ? ((float *)k->out)[i] * (float)scale : NAN;
    else
        for (int64_t i = 0; i < n; i++) ((double *)k->out)[i] = count ? ((double *)k->out)[i] * scale : NAN;
    return GR_OK;
}

static gr_status max_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    gr_shape keep = keep_shape(k);
    fill_out(k, -INFINITY);
    reduce_into(k, &keep, max_row_f32, max_row_f64);
    return GR_OK;
}

static gr_status min_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    gr_shape keep = keep_shape(k);
    fill_out(k, INFINITY);
    reduce_into(k, &keep, min_row_f32, min_row_f64);
    return GR_OK;
}

/* The product of nothing is 1, as in NumPy and PyTorch. */
static gr_status prod_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    gr_shape keep = keep_shape(k);
    fill_out(k, 1);
    reduce_into(k, &keep, prod_row_f32, prod_row_f64);
    return GR_OK;
}

/* prod_others: per group, with no zero y = prod / x (PyTorch's result /
 * input); with one zero, the product of the non-zeros at the zero and 0
 * elsewhere; with two or more, 0 everywhere. A 0 has the sign of the
 * product of the others (of their sign bits, -0's too), as PyTorch's
 * prefix-times-suffix products give it. */
static gr_status prod_others_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    gr_groups G;
    gr_groups_init(&G, &k->g->nodes[k->n->in[0]].shape, gr_node_reduce_mask(k->g, k->n));
    const void *x = k->in[0];
    for (int64_t o = 0; o < G.n_groups; o++) {
        if ((o & 255) == 0 && gr_cancelled(k->cancel)) return GR_OK;
        int64_t base = gr_groups_base(&G, o), zeros = 0;
        double all = 1, nonzero = 1;
        int negative = 0; /* the parity of the sign bits */
        GROUP_FOR(&G, base, r, off, {
            double v = gr_get(k->dt, x, off);
            all *= v;
            negative ^= signbit(v) != 0;
            if (v == 0) zeros++;
            else nonzero *= v;
        });
        GROUP_FOR(&G, base, r, off, {
            double v = gr_get(k->dt, x, off);
            double y = zeros == 0 ? all / v : zeros == 1 && v == 0 ? nonzero : negative ^ (signbit(v) != 0) ? -0.0 : 0.0;
            gr_put(k->dt, k->out, off, y);
        });
    }
    return GR_OK;
}

/* ---- sum_to in parts ----------------------------------------------------
 * A bias gradient sums a big operand into a few elements (cnn-step's:
 * [64, 16, 28, 28] into [16, 1, 1]). Cut by the result's elements
 * (gr_loop_run_shared), two threads would keep passing the result's one
 * cache line back and forth, so it ran on one thread, which then read the
 * half of the operand the other core had just written (at a third of the
 * speed of its own) and left that half shared in its cache, slowing the
 * other core's next writes there. So when the operand's outermost loop
 * dim is summed, it is cut along that dim into SUM_PARTS parts, in the
 * images' order the convolutions and poolings give the threads; each
 * part sums its slab into a partial result of its own (the workspace),
 * and the partials are added in part order: the same sums whatever the
 * thread count. */
enum { SUM_PARTS = 8, SUM_PARTS_MAX_OUT = 4096 };

/* The loop of sum_to node n over its operand of shape x. */
static void sum_to_loop(const gr_node *n, const gr_shape *x, gr_loop *L) {
    const gr_shape *shapes[2] = {&n->shape, x};
    gr_loop_broadcast(L, x, 2, shapes);
}

/* The parts of loop L into a result of out elements; 0: not cut. */
static int64_t sum_parts_of(const gr_loop *L, int64_t out) {
    int64_t numel = 1;
    for (int d = 0; d < L->rank; d++) numel *= L->dims[d];
    if (out > SUM_PARTS_MAX_OUT || numel < 2 * GR_PAR_GRAIN || L->st[0][0] != 0 || L->dims[0] < 2) return 0;
    return L->dims[0] < SUM_PARTS ? L->dims[0] : SUM_PARTS;
}

static int64_t sum_to_workspace(const gr_graph *g, const gr_node *n) {
    gr_loop L;
    sum_to_loop(n, &g->nodes[n->in[0]].shape, &L);
    return sum_parts_of(&L, n->numel) * n->numel * (int64_t)gr_dtype_size(g->dt);
}

typedef struct sum_job {
    const gr_kernel *k;
    const gr_loop *L;
    int64_t parts;
} sum_job;

/* Parts [p0, p1): each its slab of the outermost dim into its partial. */
static void sum_part(void *ctx, int64_t p0, int64_t p1) {
    const sum_job *J = ctx;
    const gr_kernel *k = J->k;
    size_t esz = gr_dtype_size(k->dt);
    for (int64_t p = p0; p < p1; p++) {
        char *partial = (char *)k->work + (size_t)(p * k->n->numel) * esz;
        memset(partial, 0, (size_t)k->n->numel * esz);
        void *base[2] = {partial, (void *)(uintptr_t)k->in[0]}; /* the partial does not move: its stride is 0 */
        gr_loop_run_slab(J->L, 0, J->L->dims[0] * p / J->parts, J->L->dims[0] * (p + 1) / J->parts, base, esz,
                         k->dt == GR_F32 ? sum_row_f32 : sum_row_f64, (void *)(uintptr_t)k->cancel);
    }
}

static gr_status sum_to_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    fill_out(k, 0);
    gr_loop L;
    sum_to_loop(k->n, &k->g->nodes[k->n->in[0]].shape, &L);
    L.cancel = k->cancel;
    int64_t parts = k->work ? sum_parts_of(&L, k->n->numel) : 0;
    if (parts == 0) {
        reduce_into(k, &k->n->shape, sum_row_f32, sum_row_f64);
        return GR_OK;
    }
    sum_job J = {k, &L, parts};
    gr_parallel_for(parts, 1, sum_part, &J);
    gr_add_parts(k->dt, k->out, k->work, parts, k->n->numel);
    return GR_OK;
}

/* ---- derivatives ----------------------------------------------------- */

extern const gr_op gr_op_prod, gr_op_prod_others;

/* The keepdims shape of node id's reduction, for reshaping g back. */
static gr_shape node_keep(gr_graph *g, int id) {
    unsigned mask;
    const gr_shape *x = IN_SHAPE(g, id, 0);
    gr_axes_mask(g->nodes[id].attrs, x->rank, &mask, NULL, NULL);
    return gr_shape_keep(x, mask);
}

/* Returning g at the keepdims shape lets autodiff expand it to x. */
static void sum_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_shape keep = node_keep(g, id);
    grads[0] = gr_build_reshape(g, grad, &keep);
}

static void mean_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_shape keep = node_keep(g, id);
    int64_t count = reduced_count(g, &g->nodes[id]);
    grads[0] = gr_build_binary(g, &gr_op_mul, gr_build_reshape(g, grad, &keep),
                               gr_build_scalar(g, count ? 1.0 / (double)count : 0));
}

/* Weights of max: 1/(number of ties) where x equals the max, else 0. */
static int max_weights(gr_graph *g, int id) {
    gr_shape keep = node_keep(g, id);
    int x = g->nodes[id].in[0];
    unsigned mask;
    gr_axes_mask(g->nodes[id].attrs, gr_shape_of(g, x)->rank, &mask, NULL, NULL);
    int is_max = gr_build_binary(g, &gr_op_equal, x, gr_build_reshape(g, id, &keep));
    int axes[GR_MAX_RANK], naxes = 0;
    for (int i = 0; i < GR_MAX_RANK; i++)
        if (mask & (1u << i)) axes[naxes++] = i;
    int ties = naxes ? gr_build_sum(g, is_max, axes, naxes, 1) : gr_build_scalar(g, 1);
    return gr_build_binary(g, &gr_op_div, is_max, ties);
}

static void max_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_shape keep = node_keep(g, id);
    grads[0] = gr_build_binary(g, &gr_op_mul, max_weights(g, id), gr_build_reshape(g, grad, &keep));
}

/* prod_others(x) with node id's reduction attributes. */
static int prod_others_of(gr_graph *g, int id) {
    gr_attrs at = *g->nodes[id].attrs;
    return gr_build_apply(g, &gr_op_prod_others, g->nodes[id].in[0], -1, -1, &at);
}

static void prod_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_shape keep = node_keep(g, id);
    grads[0] = gr_build_binary(g, &gr_op_mul, prod_others_of(g, id), gr_build_reshape(g, grad, &keep));
}

static int prod_jvp(gr_graph *g, int id, const int *t) {
    gr_attrs at = *g->nodes[id].attrs;
    return gr_build_apply(g, &gr_op_sum, gr_build_binary(g, &gr_op_mul, prod_others_of(g, id), t[0]), -1, -1, &at);
}

/* sum of a over node id's reduction axes, keepdims. */
static int sum_group_keep(gr_graph *g, int id, int a) {
    gr_attrs at = *g->nodes[id].attrs;
    at.set |= A(GR_ATTR_KEEPDIMS);
    at.keepdims = 1;
    return gr_build_apply(g, &gr_op_sum, a, -1, -1, &at);
}

/* H v for prod_others node id, where H[k][m] = product of the group
 * without x_k and x_m (0 for k == m) is symmetric, so this is both the VJP
 * (v = g) and the JVP (v = t). Exact with zeros: with u = x where x != 0
 * else 1, P' = prod(u) and Z the group's zero count,
 *   at x_m != 0: (sum(v po) - v_m po_m) / x_m
 *   at x_m == 0: P' sum over non-zeros of v / x if Z = 1,
 *                P' (v at the other zero) if Z = 2, 0 beyond. */
static int prod_others_apply(gr_graph *g, int id, int v) {
    int x = g->nodes[id].in[0], zero = gr_build_scalar(g, 0), one = gr_build_scalar(g, 1);
    int is0 = gr_build_binary(g, &gr_op_equal, x, zero);
    int u = gr_build_apply(g, &gr_op_where, is0, one, x, NULL);
    int vpo = gr_build_binary(g, &gr_op_mul, v, id);
    int at_nonzero = gr_build_binary(g, &gr_op_div, gr_build_binary(g, &gr_op_sub, sum_group_keep(g, id, vpo), vpo), u);
    gr_attrs at = *g->nodes[id].attrs;
    at.set |= A(GR_ATTR_KEEPDIMS);
    at.keepdims = 1;
    int p_nonzero = gr_build_apply(g, &gr_op_prod, u, -1, -1, &at);
    int zeros = sum_group_keep(g, id, is0);
    int nonzero = gr_build_binary(g, &gr_op_sub, one, is0);
    int v_over_u = gr_build_binary(g, &gr_op_div, gr_build_binary(g, &gr_op_mul, v, nonzero), u);
    int one_zero = gr_build_binary(g, &gr_op_mul, gr_build_binary(g, &gr_op_equal, zeros, one),
                                   sum_group_keep(g, id, v_over_u));
    int other_zero = gr_build_binary(g, &gr_op_sub, sum_group_keep(g, id, gr_build_binary(g, &gr_op_mul, v, is0)), v);
    int two_zeros = gr_build_binary(g, &gr_op_mul, gr_build_binary(g, &gr_op_equal, zeros, gr_build_scalar(g, 2)),
                                    other_zero);
    int at_zero = gr_build_binary(g, &gr_op_mul, p_nonzero, gr_build_binary(g, &gr_op_add, one_zero, two_zeros));
    return gr_build_apply(g, &gr_op_where, is0, at_zero, at_nonzero, NULL);
}

static void prod_others_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    grads[0] = prod_others_apply(g, id, grad);
}

static int prod_others_jvp(gr_graph *g, int id, const int *t) { return prod_others_apply(g, id, t[0]); }

static gr_status infer_prod_others(gr_graph *g, int id, gr_error *err) {
    unsigned mask;
    gr_status st = reduce_mask(g, id, &mask, err);
    if (st != GR_OK) return st;
    return gr_infer_same(g, id, err);
}

static void sum_to_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)g, (void)id, (void)need;
    grads[0] = grad; /* autodiff expands it back to the operand's shape */
}

/* Linear ops: the tangent goes through the op itself. */
static int same_op_jvp(gr_graph *g, int id, const int *t) {
    gr_attrs at = *g->nodes[id].attrs;
    return gr_build_apply(g, g->nodes[id].op, t[0], -1, -1, &at);
}

static int max_jvp(gr_graph *g, int id, const int *t) {
    gr_attrs at = *g->nodes[id].attrs;
    return gr_build_apply(g, &gr_op_sum, gr_build_binary(g, &gr_op_mul, max_weights(g, id), t[0]), -1, -1, &at);
}

static int64_t reduce_flops(const gr_graph *g, const gr_node *n) { return g->nodes[n->in[0]].numel; }

#define RED_ATTRS (A(GR_ATTR_AXES) | A(GR_ATTR_AXIS) | A(GR_ATTR_KEEPDIMS))

const gr_op gr_op_sum = {
    .name = "sum", .arity = 1, .attrs = RED_ATTRS,
    .doc = "y = sum of x over axis or axes (all when absent); dx = g expanded back over the summed axes",
    .infer = infer_reduce, .forward = sum_forward, .vjp = sum_vjp, .jvp = same_op_jvp, .flops = reduce_flops,
};
const gr_op gr_op_mean = {
    .name = "mean", .arity = 1, .attrs = RED_ATTRS,
    .doc = "y = mean of x over axes (NaN over zero elements); dx = g expanded back, divided by the count",
    .infer = infer_reduce, .forward = mean_forward, .vjp = mean_vjp, .jvp = same_op_jvp, .flops = reduce_flops,
};
const gr_op gr_op_max = {
    .name = "max", .arity = 1, .attrs = RED_ATTRS,
    .doc = "y = max of x over axes (NaN if any is NaN; an empty axis is an error); dx = g where x equals the max, "
           "split evenly among ties (torch.amax's rule; torch.max(x, dim) would give it all to one index)",
    .infer = infer_max, .forward = max_forward, .vjp = max_vjp, .jvp = max_jvp, .flops = reduce_flops,
};
const gr_op gr_op_min = {
    .name = "min", .arity = 1, .attrs = RED_ATTRS,
    .doc = "y = min of x over axes (NaN if any is NaN; an empty axis is an error); dx = g where x equals the min, "
           "split evenly among ties (torch.amin's rule; torch.min(x, dim) would give it all to one index)",
    .infer = infer_max, .forward = min_forward, .vjp = max_vjp, .jvp = max_jvp, .flops = reduce_flops,
};
const gr_op gr_op_prod = {
    .name = "prod", .arity = 1, .attrs = RED_ATTRS,
    .doc = "y = product of x over axes (1 over zero elements); dx = g * (product of the other elements of the "
           "group): y / x without zeros, the product of the rest at a single zero, 0 with two or more zeros "
           "(PyTorch's prod_backward)",
    .infer = infer_reduce, .forward = prod_forward, .vjp = prod_vjp, .jvp = prod_jvp, .flops = reduce_flops,
};
const gr_op gr_op_prod_others = {
    .name = "prod_others", .arity = 1, .attrs = RED_ATTRS, .flags = GR_OPF_INTERNAL,
    .doc = "y[k] = product of the other elements of x[k]'s group over axes (prod's derivative; zeros exact), "
           "shape of x; dx[m] = sum over k != m of g[k] times the group's product without x[k] and x[m]: (sum(g y) - "
           "g[m] y[m]) / x[m] at non-zeros, from the product of the non-zeros at zeros (exact with zeros)",
    .infer = infer_prod_others, .forward = prod_others_forward, .vjp = prod_others_vjp, .jvp = prod_others_jvp,
    .flops = reduce_flops,
};
const gr_op gr_op_sum_to = {
    .name = "sum_to", .arity = 1, .attrs = A(GR_ATTR_SHAPE), .required = A(GR_ATTR_SHAPE), .flags = GR_OPF_INTERNAL,
    .doc = "y = x summed down to shape (the inverse of broadcasting); dx = g expanded back to x's shape",
    .infer = infer_sum_to, .forward = sum_to_forward, .vjp = sum_to_vjp, .jvp = same_op_jvp, .flops = reduce_flops,
    .workspace = sum_to_workspace,
};

const gr_op *const gr_ops_reduce[] = {&gr_op_sum,  &gr_op_mean,        &gr_op_max,    &gr_op_min,
                                      &gr_op_prod, &gr_op_prod_others, &gr_op_sum_to, NULL};
