/* attention.c -- scaled_dot_product_attention(q, k, v[, mask]), as
 * torch.nn.functional.scaled_dot_product_attention without dropout:
 *
 *   s = q k^T * scale + mask (+ causal mask), p = softmax(s, -1), y = p v
 *
 * q [..., L, E], k [..., S, E], v [..., S, Ev] with the same leading
 * (batch, head) dims; y [..., L, Ev]; mask an additive float mask that
 * broadcasts to the scores [..., L, S] (a boolean mask m is where(m, 0,
 * -inf)).
 *
 * The forward pass is one kernel: per batch entry a GEMM into an L x S
 * scratch from the planned arena, a stable softmax of each row in place,
 * and a second GEMM. The derivative is built from two internal ops with
 * fused kernels, each differentiable again (HVP):
 *   attention_probs(q, k[, mask]) = p, the softmax of the scores;
 *   softmax_backward(p, u) = p * (u - sum(u * p, -1)), softmax's Jacobian
 *     (symmetric) at p applied to u;
 * and matmul: dv = p^T g, dmask = softmax_backward(p, g v^T),
 * dq = dmask k * scale, dk = dmask^T q * scale. */
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "../vmath.h"

extern const gr_op gr_op_attention_probs, gr_op_softmax_backward, gr_op_scaled_dot_product_attention;

/* ---- what attention nodes share ------------------------------------------ */

/* The sizes of an attention node (scaled_dot_product_attention or
 * attention_probs): batch entries, L, S, E, and Ev (attention_probs: S). */
typedef struct attn_dims {
    int64_t batch, L, S, E, Ev;
} attn_dims;

/* 1 for attention_probs, 0 for scaled_dot_product_attention. */
static int is_probs(const gr_node *n) { return n->op == &gr_op_attention_probs; }
/* The operand slot of the mask: after v, or after k for attention_probs. */
static int mask_slot(const gr_node *n) { return is_probs(n) ? 2 : 3; }
static int has_mask(const gr_node *n) { return n->n_in > mask_slot(n); }

/* The sizes of attention node n (its shapes checked by attn_infer). */
static attn_dims dims_of(const gr_graph *g, const gr_node *n) {
    const int *in = gr_node_inputs(n);
    const gr_shape *q = &g->nodes[in[0]].shape, *k = &g->nodes[in[1]].shape;
    attn_dims d = {1, q->dims[q->rank - 2], k->dims[k->rank - 2], q->dims[q->rank - 1], 0};
    d.Ev = is_probs(n) ? d.S : g->nodes[in[2]].shape.dims[q->rank - 1];
    for (int i = 0; i < q->rank - 2; i++) d.batch *= q->dims[i];
    return d;
}

/* The score scale: the attribute, or 1/sqrt(E) as torch. */
static double scale_of(const gr_graph *g, const gr_node *n) {
    if (n->attrs->set & A(GR_ATTR_SCALE)) return n->attrs->scale;
    const gr_shape *q = &g->nodes[gr_node_inputs(n)[0]].shape;
    return 1 / sqrt((double)q->dims[q->rank - 1]);
}

/* 1 when node n has is_causal=true. */
static int causal_of(const gr_node *n) { return (n->attrs->set & A(GR_ATTR_IS_CAUSAL)) && n->attrs->is_causal; }

/* 1 when node p (attention_probs) is the probabilities node s
 * (scaled_dot_product_attention) computes: the same q, k and mask, scale
 * and causal flag. s's kernel then writes them to gr_kernel.side. */
static int sdpa_writes_probs(const gr_graph *g, const gr_node *s, const gr_node *p) {
    if (s->op != &gr_op_scaled_dot_product_attention || p->op != &gr_op_attention_probs) return 0;
    const int *a = gr_node_inputs(s), *b = gr_node_inputs(p);
    if (a[0] != b[0] || a[1] != b[1] || has_mask(s) != has_mask(p)) return 0;
    if (has_mask(s) && a[mask_slot(s)] != b[mask_slot(p)]) return 0;
    return scale_of(g, s) == scale_of(g, p) && causal_of(s) == causal_of(p);
}

/* The scores' shape [..., L, S] of node n. */
static gr_shape scores_shape(const gr_graph *g, const gr_node *n) {
    const int *in = gr_node_inputs(n);
    gr_shape s = g->nodes[in[0]].shape;
    s.dims[s.rank - 1] = g->nodes[in[1]].shape.dims[s.rank - 2];
    return s;
}

/* Check q, k (, v) and the mask: rank >= 2, equal leading dims, matching
 * feature and key counts, a mask broadcasting to the scores. y is
 * [..., L, Ev] (attention_probs: the scores' shape). */
static gr_status attn_infer(gr_graph *g, int id, gr_error *err) {
    const gr_node *n = &g->nodes[id];
    const int *in = gr_node_inputs(n);
    int probs = is_probs(n), nt = probs ? 2 : 3; /* q, k (, v) */
    if (n->n_in > nt + 1)
        return gr_fail_op(g, err, GR_E_ARG, id, nt + 1, NULL, "%s takes %s and an optional mask, got %d operands",
                          n->op->name, probs ? "q, k" : "q, k, v", n->n_in);
    static const char *const names[3] = {"q", "k", "v"};
    const gr_shape *q = &g->nodes[in[0]].shape;
    char a[160], b[160];
    for (int i = 0; i < nt; i++) {
        const gr_shape *s = &g->nodes[in[i]].shape;
        if (s->rank < 2)
            return gr_fail_op(g, err, GR_E_SHAPE, id, i, NULL, "%s has shape %s; it needs [..., rows, features]",
                              names[i], gr_shape_str(s, a, sizeof a));
        if (s->rank != q->rank)
            return gr_fail_op(g, err, GR_E_SHAPE, id, i, NULL, "%s has rank %d but q has rank %d", names[i], s->rank,
                              q->rank);
        for (int j = 0; j < q->rank - 2; j++)
            if (s->dims[j] != q->dims[j])
                return gr_fail_op(g, err, GR_E_SHAPE, id, i, NULL,
                                  "%s has shape %s and q %s: their leading (batch) dims differ", names[i],
                                  gr_shape_str(s, a, sizeof a), gr_shape_str(q, b, sizeof b));
    }
    int r = q->rank;
    const gr_shape *k = &g->nodes[in[1]].shape;
    if (k->dims[r - 1] != q->dims[r - 1])
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL, "k has %lld features per row but q has %lld",
                          (long long)k->dims[r - 1], (long long)q->dims[r - 1]);
    if (!probs && g->nodes[in[2]].shape.dims[r - 2] != k->dims[r - 2])
        return gr_fail_op(g, err, GR_E_SHAPE, id, 2, NULL, "v has %lld rows but k has %lld",
                          (long long)g->nodes[in[2]].shape.dims[r - 2], (long long)k->dims[r - 2]);
    gr_shape sc = scores_shape(g, n);
    if (has_mask(n)) {
        const gr_shape *m = &g->nodes[in[mask_slot(n)]].shape;
        gr_shape bc;
        if (gr_shape_broadcast(m, &sc, &bc, NULL) != GR_OK || !gr_shape_equal(&bc, &sc))
            return gr_fail_op(g, err, GR_E_SHAPE, id, mask_slot(n), NULL,
                              "the mask has shape %s; it must broadcast to the scores %s", gr_shape_str(m, a, sizeof a),
                              gr_shape_str(&sc, b, sizeof b));
    }
    if (probs) return gr_node_set_shape(g, id, &sc, err);
    gr_shape o = *q;
    o.dims[r - 1] = g->nodes[in[2]].shape.dims[r - 1];
    return gr_node_set_shape(g, id, &o, err);
}

/* ---- the probabilities kernel ----------------------------------------------- */

/* Where the mask of node n sits for the scores [..., L, S]: strides per
 * dim of the scores (0 along broadcast dims). */
typedef struct mask_view {
    int64_t strides[GR_MAX_RANK];
    gr_shape scores;
} mask_view;

/* The strides of node n's mask against its scores. */
static void mask_view_of(const gr_graph *g, const gr_node *n, mask_view *mv) {
    const gr_shape *m = &g->nodes[gr_node_inputs(n)[mask_slot(n)]].shape;
    mv->scores = scores_shape(g, n);
    int64_t st = 1;
    for (int i = mv->scores.rank - 1, j = m->rank - 1; i >= 0; i--, j--) {
        int64_t dim = j >= 0 ? m->dims[j] : 1;
        mv->strides[i] = dim == 1 ? 0 : st;
        st *= dim;
    }
}

/* The element offset of batch entry b's [L, S] block of the mask. */
static int64_t mask_offset(const mask_view *mv, int64_t b) {
    int64_t off = 0;
    for (int i = mv->scores.rank - 3; i >= 0; i--) {
        off += (b % mv->scores.dims[i]) * mv->strides[i];
        b /= mv->scores.dims[i];
    }
    return off;
}

/* Batch entry b of an attention node's probabilities into p [L, S]:
 * softmax(q k^T * scale + mask (causal: -inf above the diagonal)), rows
 * of -inf only giving NaN, as torch. */
#define PROBS_ENTRY(T, GEMM, SOFTMAX_ROW)                                                                                     \
    static void probs_entry_##T(const gr_kernel *k, const attn_dims *d, const mask_view *mv, int64_t b, T *p) {       \
        const T *qb = (const T *)k->in_all[0] + b * d->L * d->E, *kb = (const T *)k->in_all[1] + b * d->S * d->E;   \
        double scale = scale_of(k->g, k->n);                                                                          \
        int causal = causal_of(k->n);                                                                                 \
        const T *mb = NULL;                                                                                           \
        int64_t ms_row = 0, ms_col = 0;                                                                               \
        if (has_mask(k->n)) {                                                                                         \
            mb = (const T *)k->in_all[mask_slot(k->n)] + mask_offset(mv, b);                                          \
            ms_row = mv->strides[mv->scores.rank - 2];                                                                \
            ms_col = mv->strides[mv->scores.rank - 1];                                                                \
        }                                                                                                             \
        if (d->L == 0 || d->S == 0) return;                                                                          \
        if (d->E > 0)                                                                                                 \
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)d->L, (blasint)d->S, (blasint)d->E, (T)scale, qb, \
                 (blasint)d->E, kb, (blasint)d->E, (T)0, p, (blasint)d->S);                                           \
        else                                                                                                          \
            memset(p, 0, (size_t)(d->L * d->S) * sizeof(T));                                                          \
        for (int64_t i = 0; i < d->L; i++) {                                                                          \
            T *row = p + i * d->S;                                                                                    \
            if (mb)                                                                                                   \
                for (int64_t j = 0; j < d->S; j++) row[j] += mb[i * ms_row + j * ms_col];                             \
            int64_t seen = causal && i + 1 < d->S ? i + 1 : d->S; /* keys j < seen take part */                       \
            SOFTMAX_ROW(row, row, seen);                                                                              \
            for (int64_t j = seen; j < d->S; j++) row[j] = 0;                                                         \
        }                                                                                                             \
    }
/* A softmax row in place, gr_vsoftmax_row_f32's double twin: a NaN score
 * is passed over by the max but reaches the sum; every key masked (max
 * -inf) gives 0/0, NaN. */
static double softmax_row_f64(const double *x, double *y, int64_t n) {
    double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    if (mx == -INFINITY) mx = 0;
    for (int64_t j = 0; j < n; j++) sum += y[j] = exp(x[j] - mx);
    double inv = 1 / sum;
    for (int64_t j = 0; j < n; j++) y[j] *= inv;
    return sum;
}
/* gr_sgemm in cblas_sgemm's terms, for PROBS_ENTRY. */
static void sgemm_rowmajor(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, blasint m,
                           blasint n, blasint k, float alpha, const float *a, blasint lda, const float *b, blasint ldb,
                           float beta, float *c, blasint ldc) {
    (void)order;
    gr_sgemm(ta == CblasTrans, tb == CblasTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
PROBS_ENTRY(float, sgemm_rowmajor, gr_vsoftmax_row_f32)
PROBS_ENTRY(double, cblas_dgemm, softmax_row_f64)

/* ---- scaled_dot_product_attention ------------------------------------------- */

/* Threads that can share a kernel's batch entries: gr_threads(), at most
 * one per entry; each gets an L x S slot of the workspace. */
static int64_t attn_slots(const attn_dims *d) {
    int64_t t = gr_threads();
    return t < d->batch ? t : d->batch > 0 ? d->batch : 1;
}

static int64_t sdpa_workspace(const gr_graph *g, const gr_node *n) {
    attn_dims d = dims_of(g, n);
    return attn_slots(&d) * d.L * d.S * (int64_t)gr_dtype_size(g->dt);
}

/* Two GEMMs (one for attention_probs) and the softmax. */
static int64_t attn_flops(const gr_graph *g, const gr_node *n) {
    attn_dims d = dims_of(g, n);
    return d.batch * (2 * d.L * d.S * d.E + (is_probs(n) ? 0 : 2 * d.L * d.S * d.Ev) + 5 * d.L * d.S);
}

/* The batch entries of one attention kernel, shared by the threads: a
 * part takes entries [b0, b1), each by `entry` with its thread's
 * workspace slot (sdpa) or straight into the output (probs). */
typedef struct attn_job attn_job;
struct attn_job {
    const gr_kernel *k;
    attn_dims d;
    mask_view mv;
    int64_t slots;
    void (*entry)(const attn_job *J, int64_t slot, int64_t b);
};

/* Entries [b0, b1), one after the other. */
static void attn_part(void *ctx, int64_t b0, int64_t b1) {
    const attn_job *J = ctx;
    int64_t slot = gr_parallel_slot();
    for (int64_t b = b0; b < b1; b++) {
        if (b > b0 && gr_cancelled(J->k->cancel)) return;
        J->entry(J, slot, b);
    }
}

/* y = p v for entry b, p in workspace slot `slot`, or kept in k->side
 * (the probabilities node the program reads too) at entry b's place. */
static void sdpa_entry(const attn_job *J, int64_t slot, int64_t b) {
    const gr_kernel *k = J->k;
    const attn_dims *d = &J->d;
    int64_t at = (k->side ? b : slot) * d->L * d->S;
    if (k->dt == GR_F32) {
        float *p = (float *)(k->side ? k->side : k->work) + at, *yb = (float *)k->out + b * d->L * d->Ev;
        probs_entry_float(k, d, &J->mv, b, p);
        gr_sgemm(0, 0, d->L, d->Ev, d->S, 1.0f, p, d->S, (const float *)k->in_all[2] + b * d->S * d->Ev, d->Ev, 0.0f, yb,
                 d->Ev);
    } else {
        double *p = (double *)(k->side ? k->side : k->work) + at, *yb = (double *)k->out + b * d->L * d->Ev;
        probs_entry_double(k, d, &J->mv, b, p);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)d->L, (blasint)d->Ev, (blasint)d->S, 1.0, p,
                    (blasint)d->S, (const double *)k->in_all[2] + b * d->S * d->Ev, (blasint)d->Ev, 0.0, yb,
                    (blasint)d->Ev);
    }
}

/* p for entry b into dst [batch, L, S]. */
static void probs_into(const attn_job *J, void *dst, int64_t b) {
    const gr_kernel *k = J->k;
    const attn_dims *d = &J->d;
    if (k->dt == GR_F32) probs_entry_float(k, d, &J->mv, b, (float *)dst + b * d->L * d->S);
    else probs_entry_double(k, d, &J->mv, b, (double *)dst + b * d->L * d->S);
}

/* p for entry b, straight into the output. */
static void probs_entry(const attn_job *J, int64_t slot, int64_t b) {
    (void)slot;
    probs_into(J, J->k->out, b);
}

/* p for entry b into k->side (sdpa with no values to weigh). */
static void probs_entry_side(const attn_job *J, int64_t slot, int64_t b) {
    (void)slot;
    probs_into(J, J->k->side, b);
}

/* The job of attention kernel k over slots slots, entry by entry. */
static attn_job attn_job_of(const gr_kernel *k, int64_t slots, void (*entry)(const attn_job *, int64_t, int64_t)) {
    attn_job J = {.k = k, .d = dims_of(k->g, k->n), .slots = slots, .entry = entry};
    if (has_mask(k->n)) mask_view_of(k->g, k->n, &J.mv);
    return J;
}

/* y = p v per batch entry, the entries shared by the threads (as many as
 * the planned workspace has slots: a thread count raised after the
 * compile cannot use more). */
static gr_status sdpa_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    attn_dims d = dims_of(k->g, k->n);
    if (d.S == 0 || d.L == 0 || d.Ev == 0) { /* no keys: a sum of nothing, 0 */
        memset(k->out, 0, (size_t)k->n->numel * gr_dtype_size(k->dt));
        if (k->side && d.batch > 0) { /* the probabilities are still wanted */
            attn_job J = attn_job_of(k, 1, probs_entry_side);
            gr_parallel_for_slots(J.d.batch, 1, J.slots, attn_part, &J);
        }
        return GR_OK;
    }
    int64_t slot_bytes = d.L * d.S * (int64_t)gr_dtype_size(k->dt), slots = k->work_bytes / slot_bytes;
    if (slots > d.batch) slots = d.batch;
    if (slots < 1) slots = 1;
    attn_job J = attn_job_of(k, slots, sdpa_entry);
    gr_parallel_for_slots(J.d.batch, 1, J.slots, attn_part, &J);
    return GR_OK;
}

/* p per batch entry, the entries shared by the threads. */
static gr_status probs_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    attn_dims d = dims_of(k->g, k->n);
    if (d.batch == 0) return GR_OK;
    attn_job J = attn_job_of(k, attn_slots(&d), probs_entry);
    gr_parallel_for_slots(J.d.batch, 1, J.slots, attn_part, &J);
    return GR_OK;
}

/* ---- derivatives ------------------------------------------------------------ */

/* matmul(a, b) with the transpose flags. */
static int mm(gr_graph *g, int a, int b, int ta, int tb) {
    gr_attrs at = {0};
    at.set = A(GR_ATTR_TRANSPOSE_A) | A(GR_ATTR_TRANSPOSE_B);
    at.transpose_a = ta;
    at.transpose_b = tb;
    return gr_build_apply(g, &gr_op_matmul, a, b, -1, &at);
}

/* sum of a over its last axis, keepdims. */
static int sum_last_keep(gr_graph *g, int a) {
    int ax = -1;
    return gr_build_sum(g, a, &ax, 1, 1);
}

/* acc + term, either -1 meaning zero. */
static int add_term(gr_graph *g, int acc, int term) {
    if (term < 0) return acc;
    return acc < 0 ? term : gr_build_binary(g, &gr_op_add, acc, term);
}

/* a * scale (a itself for 1). */
static int scaled(gr_graph *g, int a, double scale) {
    return scale == 1 ? a : gr_build_binary(g, &gr_op_mul, a, gr_build_scalar(g, scale));
}

/* softmax_backward(p, u). */
static int softmax_backward_of(gr_graph *g, int p, int u) { return gr_build_binary(g, &gr_op_softmax_backward, p, u); }

/* p = attention_probs of node id's q, k and mask, with its attributes. */
static int probs_of(gr_graph *g, int id) {
    const gr_node *n = &g->nodes[id];
    const int *in = gr_node_inputs(n);
    int ops[3] = {in[0], in[1], has_mask(n) ? in[mask_slot(n)] : -1};
    gr_attrs at = *n->attrs;
    return gr_build_apply_n(g, &gr_op_attention_probs, ops, has_mask(n) ? 3 : 2, &at);
}

/* Gradients of the probabilities p of node id (q, k and the mask at
 * slot ms) given ds = softmax_backward(p, d loss / d p): the scores'
 * gradient. */
static void scores_vjp(gr_graph *g, int id, int ds, int ms, const int *need, int *grads) {
    const int *in = gr_node_inputs(&g->nodes[id]);
    int q = in[0], k = in[1], masked = has_mask(&g->nodes[id]);
    double scale = scale_of(g, &g->nodes[id]);
    if (masked && need[ms]) grads[ms] = ds; /* summed to the mask's shape by autodiff */
    if (need[0]) grads[0] = scaled(g, mm(g, ds, k, 0, 0), scale);
    if (need[1]) grads[1] = scaled(g, mm(g, ds, q, 1, 0), scale);
}

/* The scores' tangent from the tangents of q, k and the mask (slot ms). */
static int scores_jvp(gr_graph *g, int id, const int *t, int ms) {
    const int *in = gr_node_inputs(&g->nodes[id]);
    int q = in[0], k = in[1], ts = -1;
    if (t[0] >= 0) ts = mm(g, t[0], k, 0, 1);
    if (t[1] >= 0) ts = add_term(g, ts, mm(g, q, t[1], 0, 1));
    if (ts >= 0) ts = scaled(g, ts, scale_of(g, &g->nodes[id]));
    if (has_mask(&g->nodes[id]) && t[ms] >= 0) { /* a broadcast mask's tangent, at the scores' shape */
        gr_shape sc = scores_shape(g, &g->nodes[id]);
        ts = add_term(g, ts, gr_build_expand(g, t[ms], &sc));
    }
    return ts;
}

/* dv = p^T g; q, k and the mask through the scores (scores_vjp). */
static void sdpa_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    int v = gr_node_inputs(&g->nodes[id])[2];
    int p = probs_of(g, id);
    if (need[2]) grads[2] = mm(g, p, grad, 1, 0);
    if (!need[0] && !need[1] && !(has_mask(&g->nodes[id]) && need[3])) return;
    scores_vjp(g, id, softmax_backward_of(g, p, mm(g, grad, v, 0, 1)), 3, need, grads);
}

/* dy = softmax_backward(p, ds) v + p tv. */
static int sdpa_jvp(gr_graph *g, int id, const int *t) {
    int v = gr_node_inputs(&g->nodes[id])[2];
    int p = probs_of(g, id), out = -1;
    int ts = scores_jvp(g, id, t, 3);
    if (ts >= 0) out = mm(g, softmax_backward_of(g, p, ts), v, 0, 0);
    if (t[2] >= 0) out = add_term(g, out, mm(g, p, t[2], 0, 0));
    return out;
}

/* The scores' gradient is softmax_backward(p, g). */
static void probs_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    scores_vjp(g, id, softmax_backward_of(g, id, grad), 2, need, grads);
}

/* dp = softmax_backward(p, ds). */
static int probs_jvp(gr_graph *g, int id, const int *t) {
    int ts = scores_jvp(g, id, t, 2);
    return ts < 0 ? -1 : softmax_backward_of(g, id, ts);
}

/* ---- softmax_backward(p, u) = p * (u - sum(u * p, -1)) ----------------------- */

/* p and u of one shape, rank >= 1; y has it too. */
static gr_status softmax_backward_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *p = IN_SHAPE(g, id, 0), *u = IN_SHAPE(g, id, 1);
    char a[160], b[160];
    if (p->rank < 1 || !gr_shape_equal(p, u))
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL, "p has shape %s and u %s; they must be equal, rank >= 1",
                          gr_shape_str(p, a, sizeof a), gr_shape_str(u, b, sizeof b));
    return gr_infer_same(g, id, err);
}

#define SOFTMAX_BACKWARD_ROWS(T)                                                                                      \
    do {                                                                                                              \
        const T *p = k->in[0], *u = k->in[1];                                                                         \
        T *y = k->out;                                                                                                \
        for (int64_t r = r0; r < r1; r++) {                                                                           \
            if (((r - r0) & 255) == 255 && gr_cancelled(k->cancel)) return;                                           \
            const T *pr = p + r * len, *ur = u + r * len;                                                             \
            T *yr = y + r * len;                                                                                      \
            double s = 0;                                                                                             \
            for (int64_t j = 0; j < len; j++) s += (double)ur[j] * pr[j];                                             \
            T st = (T)s;                                                                                              \
            for (int64_t j = 0; j < len; j++) yr[j] = pr[j] * (ur[j] - st);                                           \
        }                                                                                                             \
    } while (0)

/* Rows [r0, r1): one pass per row, the dot product, then the update. */
static void softmax_backward_part(void *ctx, int64_t r0, int64_t r1) {
    const gr_kernel *k = ctx;
    const gr_shape *shape = &k->n->shape;
    int64_t len = shape->dims[shape->rank - 1];
    if (k->dt == GR_F32) SOFTMAX_BACKWARD_ROWS(float);
    else SOFTMAX_BACKWARD_ROWS(double);
}

/* The rows shared by the threads. */
static gr_status softmax_backward_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    const gr_shape *shape = &k->n->shape;
    int64_t len = shape->dims[shape->rank - 1], rows = len ? k->n->numel / len : 0;
    gr_parallel_for(rows, len > 0 ? (GR_PAR_GRAIN + len - 1) / len : 1, softmax_backward_part, (void *)(uintptr_t)k);
    return GR_OK;
}

/* y = p * (u - s), s = sum(u * p): linear in u with a symmetric Jacobian
 * (du: softmax_backward(p, g)); dp = g * (u - s) - u * sum(g * p). */
static void softmax_backward_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    int p = g->nodes[id].in[0], u = g->nodes[id].in[1];
    if (need[1]) grads[1] = softmax_backward_of(g, p, grad);
    if (need[0]) {
        int s = sum_last_keep(g, gr_build_binary(g, &gr_op_mul, u, p));
        int a = gr_build_binary(g, &gr_op_mul, grad, gr_build_binary(g, &gr_op_sub, u, s));
        int c = gr_build_binary(g, &gr_op_mul, u, sum_last_keep(g, gr_build_binary(g, &gr_op_mul, grad, p)));
        grads[0] = gr_build_binary(g, &gr_op_sub, a, c);
    }
}

/* softmax_backward(p, tu) + tp * (u - s) - p * sum(u * tp). */
static int softmax_backward_jvp(gr_graph *g, int id, const int *t) {
    int p = g->nodes[id].in[0], u = g->nodes[id].in[1], out = -1;
    if (t[1] >= 0) out = softmax_backward_of(g, p, t[1]);
    if (t[0] >= 0) {
        int s = sum_last_keep(g, gr_build_binary(g, &gr_op_mul, u, p));
        int a = gr_build_binary(g, &gr_op_mul, t[0], gr_build_binary(g, &gr_op_sub, u, s));
        int c = gr_build_binary(g, &gr_op_mul, p, sum_last_keep(g, gr_build_binary(g, &gr_op_mul, u, t[0])));
        out = add_term(g, out, gr_build_binary(g, &gr_op_sub, a, c));
    }
    return out;
}

/* About 4 operations an element. */
static int64_t softmax_backward_flops(const gr_graph *g, const gr_node *n) { (void)g; return 4 * n->numel; }

/* ---- the entries --------------------------------------------------------------- */

const gr_op gr_op_scaled_dot_product_attention = {
    .name = "scaled_dot_product_attention", .arity = GR_VARIADIC, .min_operands = 3,
    .attrs = A(GR_ATTR_IS_CAUSAL) | A(GR_ATTR_SCALE),
    .doc = "scaled_dot_product_attention(q [..., L, E], k [..., S, E], v [..., S, Ev][, mask]) -> [..., L, Ev], as "
           "torch.nn.functional.scaled_dot_product_attention without dropout (leading dims equal, not broadcast): "
           "p = softmax(q k^T * scale + mask + M), y = p v; scale default 1/sqrt(E); mask is additive (a float "
           "mask as torch's; for a boolean mask m pass where(m, 0, -inf)) and broadcasts to [..., L, S]; "
           "is_causal: M is 0 where key j <= query i and -inf elsewhere (torch's top-left aligned tril). dv = p^T "
           "g, dmask = p * (g v^T - sum(g v^T * p, -1)), dq = dmask k * scale, dk = dmask^T q * scale. A row "
           "whose keys are all masked gives NaN, as torch. No keys (S = 0): y = 0.",
    .infer = attn_infer, .forward = sdpa_forward, .vjp = sdpa_vjp, .jvp = sdpa_jvp, .flops = attn_flops,
    .writes_side = sdpa_writes_probs,
    .workspace = sdpa_workspace,
};

const gr_op gr_op_attention_probs = {
    .name = "attention_probs", .arity = GR_VARIADIC, .min_operands = 2, .flags = GR_OPF_INTERNAL,
    .attrs = A(GR_ATTR_IS_CAUSAL) | A(GR_ATTR_SCALE),
    .doc = "attention_probs(q [..., L, E], k [..., S, E][, mask]) -> p [..., L, S] = softmax(q k^T * scale + mask "
           "+ M, -1), the probabilities of scaled_dot_product_attention (same attributes), which its derivative "
           "uses. dmask = softmax_backward(p, g), dq = dmask k * scale, dk = dmask^T q * scale.",
    .infer = attn_infer, .forward = probs_forward, .vjp = probs_vjp, .jvp = probs_jvp, .flops = attn_flops,
};

const gr_op gr_op_softmax_backward = {
    .name = "softmax_backward", .arity = 2, .flags = GR_OPF_INTERNAL,
    .doc = "softmax_backward(p, u) = p * (u - sum(u * p, -1)): softmax's Jacobian at p (symmetric) applied to u, "
           "over the last axis. du = softmax_backward(p, g); dp = g * (u - sum(u * p, -1)) - u * sum(g * p, -1).",
    .infer = softmax_backward_infer, .forward = softmax_backward_forward, .vjp = softmax_backward_vjp,
    .jvp = softmax_backward_jvp, .flops = softmax_backward_flops,
};

const gr_op *const gr_ops_attention[] = {&gr_op_scaled_dot_product_attention, &gr_op_attention_probs,
                                         &gr_op_softmax_backward, NULL};
