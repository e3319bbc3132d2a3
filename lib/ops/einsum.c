/* einsum.c -- Einstein summation over 1 to ES_MAX_OPS operands with an
 * equation string (NumPy's and torch.einsum's notation).
 *
 * einsum reads its equation into labels: one per letter, plus one per
 * ellipsis dim (named by a letter the equation does not use, so derived
 * equations can be written back as text). A label's size is the size of
 * its dims; a dim of 1 broadcasts against a larger one, and a label
 * repeated within one operand walks its diagonal. Labels of the output
 * are kept, all others summed.
 *
 * Kernels: a product of two operands whose labels split into batch (both
 * operands and the output), m (first operand and output), n (second and
 * output) and k (both operands, summed), each group contiguous in memory,
 * runs as one GEMM per batch entry (transposes as BLAS flags, the output's
 * [n, m] order as C^T = B^T A^T); everything else runs a strided loop with
 * double accumulators.
 *
 * Derivatives are einsums again: the gradient of operand k contracts the
 * output gradient with the other operands onto k's distinct labels; the
 * labels k alone sums are restored by broadcasting and a diagonal by a 0/1
 * mask, so the rules compose to any order. */
#include "einsum.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const gr_op gr_op_einsum; /* defined below; its derivatives build it */

/* The einsum node id's spec (its shapes were checked at inference). */
static void spec_of(const gr_graph *g, const gr_node *n, es_spec *sp) {
    const gr_shape *shapes[ES_MAX_OPS];
    const int *in = gr_node_inputs(n);
    int nops = n->n_in < ES_MAX_OPS ? n->n_in : ES_MAX_OPS;
    for (int k = 0; k < nops; k++) shapes[k] = &g->nodes[in[k]].shape;
    char msg[160];
    gr_einsum_parse(n->attrs->equation, nops, shapes, sp, msg, sizeof msg);
}

static gr_status einsum_infer(gr_graph *g, int id, gr_error *err) {
    const gr_node *n = &g->nodes[id];
    const gr_shape *shapes[ES_MAX_OPS] = {NULL};
    const int *in = gr_node_inputs(n);
    for (int k = 0; k < n->n_in && k < ES_MAX_OPS; k++) shapes[k] = &g->nodes[in[k]].shape;
    es_spec sp;
    char msg[200];
    int rc = gr_einsum_parse(n->attrs->equation, n->n_in, shapes, &sp, msg, sizeof msg);
    if (rc < 0)
        return gr_fail_op(g, err, rc == -2 ? GR_E_SHAPE : GR_E_ARG, id, -1, "equation", "'%s': %s",
                          n->attrs->equation, msg);
    gr_shape s = {0};
    s.rank = sp.out_rank;
    for (int i = 0; i < sp.out_rank; i++) s.dims[i] = sp.size[sp.out[i]];
    return gr_node_set_shape(g, id, &s, err);
}

/* ---- the GEMM plan ------------------------------------------------------ */

/* A two-operand einsum as batch x (op(A) [m, k] @ op(B) [k, n]). */
typedef struct es_gemm {
    int swap;                /* compute C^T = B^T A^T (the output is [batch, n, m]) */
    int ta, tb;              /* operand stored as [k, m] / [n, k] */
    int64_t batch, m, n, k;
} es_gemm;

/* Products of fewer multiply-adds per batch entry run faster in the loop
 * than as BLAS calls (a Hadamard product would be one 1x1x1 GEMM per
 * element). */
#define ES_BLAS_MIN_WORK 512

static int worth_blas(const es_gemm *p) {
    double work = (double)p->m * (double)p->n * (double)p->k;
    return work >= ES_BLAS_MIN_WORK || (p->m == 0 || p->n == 0 || p->k == 0);
}

/* 1 when seq[0..cnt) equals want[0..cnt). */
static int same_labels(const int *seq, const int *want, int cnt) {
    for (int i = 0; i < cnt; i++)
        if (seq[i] != want[i]) return 0;
    return 1;
}

/* 1 when sp runs as a batched GEMM, with the plan in *p. */
static int es_gemm_plan(const es_spec *sp, const gr_shape *const *shapes, es_gemm *p) {
    if (sp->nops != 2) return 0;
    char where[ES_MAX_LABELS] = {0}; /* bit 0: in A, 1: in B, 2: in the output */
    for (int k = 0; k < 2; k++)
        for (int a = 0; a < sp->rank[k]; a++) {
            int l = sp->sub[k][a];
            if (where[l] & (1 << k)) return 0; /* a diagonal */
            if (shapes[k]->dims[a] != sp->size[l]) return 0; /* a broadcast dim */
            where[l] |= (char)(1 << k);
        }
    for (int a = 0; a < sp->out_rank; a++) where[sp->out[a]] |= 4;
    int nb = 0, M[GR_MAX_RANK], N[GR_MAX_RANK], K[GR_MAX_RANK], nm = 0, nn = 0, nk = 0;
    memset(p, 0, sizeof *p);
    p->batch = p->m = p->n = p->k = 1;
    for (int l = 0; l < sp->nlabels; l++)
        if (where[l] == 1 || where[l] == 2) return 0; /* summed within one operand */
    /* batch labels lead every term, in one order */
    while (nb < sp->out_rank && where[sp->out[nb]] == 7) nb++;
    for (int a = nb; a < sp->out_rank; a++)
        if (where[sp->out[a]] == 7) return 0;
    if (sp->rank[0] < nb || sp->rank[1] < nb || !same_labels(sp->sub[0], sp->out, nb) ||
        !same_labels(sp->sub[1], sp->out, nb))
        return 0;
    for (int a = 0; a < nb; a++) p->batch *= sp->size[sp->out[a]];
    /* the output's rest: [M.., N..] or [N.., M..] */
    const int *o = sp->out + nb;
    int orest = sp->out_rank - nb;
    int first = orest ? where[o[0]] : 5;
    for (int a = 0; a < orest; a++) {
        if (where[o[a]] == 5) M[nm++] = o[a];
        else N[nn++] = o[a];
    }
    if (orest && !(first == 5 ? same_labels(o + nm, N, nn) : same_labels(o + nn, M, nm))) return 0;
    p->swap = first == 6;
    /* A's rest: [M.., K..] or [K.., M..]; K in A's order */
    const int *ar = sp->sub[0] + nb, *br = sp->sub[1] + nb;
    int arank = sp->rank[0] - nb, brank = sp->rank[1] - nb;
    nk = arank - nm;
    if (nk < 0 || brank != nk + nn) return 0;
    if (same_labels(ar, M, nm)) {
        memcpy(K, ar + nm, (size_t)nk * sizeof *K);
    } else if (same_labels(ar + nk, M, nm)) {
        memcpy(K, ar, (size_t)nk * sizeof *K);
        p->ta = 1;
    } else {
        return 0;
    }
    for (int i = 0; i < nk; i++)
        if (where[K[i]] != 3) return 0;
    if (same_labels(br, K, nk) && same_labels(br + nk, N, nn)) p->tb = 0;
    else if (same_labels(br, N, nn) && same_labels(br + nn, K, nk)) p->tb = 1;
    else return 0;
    for (int i = 0; i < nm; i++) p->m *= sp->size[M[i]];
    for (int i = 0; i < nn; i++) p->n *= sp->size[N[i]];
    for (int i = 0; i < nk; i++) p->k *= sp->size[K[i]];
    return p->m <= INT32_MAX && p->n <= INT32_MAX && p->k <= INT32_MAX && worth_blas(p);
}

/* c = op(a) @ op(b), row-major, [m, n] from [m, k] (or [k, m]) and [k, n]
 * (or [n, k]). */
static void es_gemm_one(gr_dtype dt, int ta, int tb, int64_t m, int64_t n, int64_t k, const void *a, const void *b,
                        void *c) {
    blasint lda = (blasint)(ta ? m : k), ldb = (blasint)(tb ? k : n), ldc = (blasint)n;
    if (lda < 1) lda = 1;
    if (ldb < 1) ldb = 1;
    if (ldc < 1) ldc = 1;
    enum CBLAS_TRANSPOSE oa = ta ? CblasTrans : CblasNoTrans, ob = tb ? CblasTrans : CblasNoTrans;
    if (dt == GR_F32)
        gr_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    else
        cblas_dgemm(CblasRowMajor, oa, ob, (blasint)m, (blasint)n, (blasint)k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
}

/* c = a @ b per plan p: batch GEMMs over contiguous matrices. */
static void es_run_gemm(const gr_kernel *k, const es_gemm *p, const char *a, const char *b, char *c) {
    size_t esz = gr_dtype_size(k->dt);
    int64_t m = p->m, n = p->n, kk = p->k;
    if (m == 0 || n == 0 || p->batch == 0) return;
    if (kk == 0) {
        gr_fill_chunked(k, c, p->batch * m * n, 0);
        return;
    }
    for (int64_t t = 0; t < p->batch && !gr_cancelled(k->cancel); t++) {
        const char *pa = a + (size_t)(t * m * kk) * esz, *pb = b + (size_t)(t * kk * n) * esz;
        char *pc = c + (size_t)(t * m * n) * esz;
        if (p->swap) /* C^T [n, m] = op(B)^T op(A)^T */
            es_gemm_one(k->dt, !p->tb, !p->ta, n, m, kk, pb, pa, pc);
        else
            es_gemm_one(k->dt, p->ta, p->tb, m, n, kk, pa, pb, pc);
    }
}

/* ---- permute, then GEMM ------------------------------------------------- */

/* A two-operand contraction whose labels are all batch, m, n or k (no
 * diagonal, broadcast dim or label summed within one operand) but whose
 * layouts are not GEMM's: the operands are copied into the workspace as
 * A [batch, M, K] and B [batch, K, N], the product is taken there, and C
 * [batch, M, N] is copied into the output's order when that differs. */
typedef struct es_canon {
    int a[GR_MAX_RANK], b[GR_MAX_RANK], c[GR_MAX_RANK]; /* the labels of the canonical layouts */
    int ra, rb, rc;
    int c_direct;            /* the output already has C's order */
    es_gemm plan;            /* over the canonical layouts (no transposes, no swap) */
} es_canon;

/* dst[*r..] = src[0..cnt), *r += cnt. */
static void append_labels(int *dst, int *r, const int *src, int cnt) {
    for (int i = 0; i < cnt; i++) dst[(*r)++] = src[i];
}

/* 1 when sp is a two-operand contraction the permuted path takes, with
 * its canonical layouts in *c. */
static int es_canon_plan(const es_spec *sp, const gr_shape *const *shapes, es_canon *c) {
    if (sp->nops != 2) return 0;
    char where[ES_MAX_LABELS] = {0};
    for (int q = 0; q < 2; q++)
        for (int a = 0; a < sp->rank[q]; a++) {
            int l = sp->sub[q][a];
            if ((where[l] & (1 << q)) || shapes[q]->dims[a] != sp->size[l]) return 0;
            where[l] |= (char)(1 << q);
        }
    for (int a = 0; a < sp->out_rank; a++) where[sp->out[a]] |= 4;
    for (int l = 0; l < sp->nlabels; l++)
        if (where[l] == 1 || where[l] == 2) return 0;
    memset(c, 0, sizeof *c);
    int bl[GR_MAX_RANK], ml[GR_MAX_RANK], nl[GR_MAX_RANK], kl[GR_MAX_RANK], nb = 0, nm = 0, nn = 0, nk = 0;
    for (int a = 0; a < sp->out_rank; a++) {
        int l = sp->out[a];
        if (where[l] == 7) bl[nb++] = l;
        else if (where[l] == 5) ml[nm++] = l;
        else nl[nn++] = l;
    }
    for (int a = 0; a < sp->rank[0]; a++)
        if (where[sp->sub[0][a]] == 3) kl[nk++] = sp->sub[0][a];
    es_gemm *p = &c->plan;
    p->batch = p->m = p->n = p->k = 1;
    for (int i = 0; i < nb; i++) p->batch *= sp->size[bl[i]];
    for (int i = 0; i < nm; i++) p->m *= sp->size[ml[i]];
    for (int i = 0; i < nn; i++) p->n *= sp->size[nl[i]];
    for (int i = 0; i < nk; i++) p->k *= sp->size[kl[i]];
    if (p->m > INT32_MAX || p->n > INT32_MAX || p->k > INT32_MAX || !worth_blas(p)) return 0;
    append_labels(c->a, &c->ra, bl, nb);
    append_labels(c->a, &c->ra, ml, nm);
    append_labels(c->a, &c->ra, kl, nk);
    append_labels(c->b, &c->rb, bl, nb);
    append_labels(c->b, &c->rb, kl, nk);
    append_labels(c->b, &c->rb, nl, nn);
    append_labels(c->c, &c->rc, bl, nb);
    append_labels(c->c, &c->rc, ml, nm);
    append_labels(c->c, &c->rc, nl, nn);
    c->c_direct = same_labels(c->c, sp->out, sp->out_rank);
    return 1;
}

/* Elements of the labels' layout. */
static int64_t es_numel(const es_spec *sp, const int *labels, int rank) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= sp->size[labels[i]];
    return n;
}

/* Copy src (row-major over src_labels) into dst (row-major over
 * dst_labels, the same labels in another order). */
static void es_permute(const gr_kernel *k, const es_spec *sp, void *dst, const int *dst_labels, const void *src,
                       const int *src_labels, int rank) {
    gr_shape it = {0}, ss = {0};
    int64_t st[2][GR_MAX_RANK], src_st[GR_MAX_RANK];
    it.rank = ss.rank = rank;
    for (int i = 0; i < rank; i++) {
        it.dims[i] = sp->size[dst_labels[i]];
        ss.dims[i] = sp->size[src_labels[i]];
    }
    gr_shape_strides(&it, st[0]);
    gr_shape_strides(&ss, src_st);
    for (int i = 0; i < rank; i++)
        for (int j = 0; j < rank; j++)
            if (src_labels[j] == dst_labels[i]) st[1][i] = src_st[j];
    if (rank == 0) {
        memcpy(dst, src, gr_dtype_size(k->dt));
        return;
    }
    gr_loop L;
    gr_loop_strided(&L, &it, 2, (const int64_t(*)[GR_MAX_RANK])st);
    L.cancel = k->cancel;
    void *base[2] = {dst, (void *)(uintptr_t)src};
    gr_loop_run_shared(&L, base, gr_dtype_size(k->dt), gr_copy_row(k->dt), NULL);
}

/* Workspace bytes of the permuted path: both operands and, when the
 * output's order is not C's, C. */
static int64_t es_canon_bytes(const es_spec *sp, const es_canon *c, gr_dtype dt) {
    int64_t n = es_numel(sp, c->a, c->ra) + es_numel(sp, c->b, c->rb) + (c->c_direct ? 0 : es_numel(sp, c->c, c->rc));
    return n * (int64_t)gr_dtype_size(dt);
}

static void es_run_canon(const gr_kernel *k, const es_spec *sp, const es_canon *c) {
    size_t esz = gr_dtype_size(k->dt);
    char *wa = k->work, *wb = wa + (size_t)es_numel(sp, c->a, c->ra) * esz;
    char *wc = c->c_direct ? k->out : wb + (size_t)es_numel(sp, c->b, c->rb) * esz;
    es_permute(k, sp, wa, c->a, k->in[0], sp->sub[0], c->ra);
    es_permute(k, sp, wb, c->b, k->in[1], sp->sub[1], c->rb);
    es_run_gemm(k, &c->plan, wa, wb, wc);
    if (!c->c_direct) es_permute(k, sp, k->out, sp->out, wc, c->c, c->rc);
}

/* ---- the strided loop ---------------------------------------------------- */

/* out[o] = sum over the summed labels of prod_q in_q[...], labels ordered
 * output first; each operand's stride per label is the sum of its axes'
 * strides with that label (a diagonal), 0 for a broadcast dim. The last
 * summed label is the inner loop. */
#define ES_LOOP(FN, T)                                                                                                \
    static void FN(const gr_kernel *k, const es_spec *sp) {                                                           \
        int order[ES_MAX_LABELS], nl = 0, is_out[ES_MAX_LABELS] = {0}, nq = sp->nops;                                 \
        for (int a = 0; a < sp->out_rank; a++) {                                                                      \
            order[nl++] = sp->out[a];                                                                                 \
            is_out[sp->out[a]] = 1;                                                                                   \
        }                                                                                                             \
        for (int l = 0; l < sp->nlabels; l++)                                                                         \
            if (!is_out[l]) order[nl++] = l;                                                                          \
        int64_t st[ES_MAX_OPS][ES_MAX_LABELS] = {{0}}, dim[ES_MAX_LABELS] = {0}, sj[ES_MAX_OPS] = {0};                \
        const int *in = gr_node_inputs(k->n);                                                                         \
        const T *P[ES_MAX_OPS];                                                                                       \
        for (int q = 0; q < nq; q++) {                                                                                \
            const gr_shape *s = &k->g->nodes[in[q]].shape;                                                            \
            int64_t str[GR_MAX_RANK];                                                                                 \
            gr_shape_strides(s, str);                                                                                 \
            for (int i = 0; i < nl; i++)                                                                              \
                for (int a = 0; a < sp->rank[q]; a++)                                                                 \
                    if (sp->sub[q][a] == order[i] && s->dims[a] != 1) st[q][i] += str[a];                             \
            P[q] = k->in_all ? (const T *)k->in_all[q] : (const T *)k->in[q];                                         \
        }                                                                                                             \
        for (int i = 0; i < nl; i++) dim[i] = sp->size[order[i]];                                                     \
        int no = sp->out_rank, ns = nl - no;                                                                          \
        int64_t inner = ns ? dim[nl - 1] : 1, outer_sum = 1;                                                          \
        for (int q = 0; q < nq && ns; q++) sj[q] = st[q][nl - 1];                                                     \
        for (int i = no; i < nl - 1; i++) outer_sum *= dim[i];                                                        \
        T *out = k->out;                                                                                              \
        int64_t idx[ES_MAX_LABELS] = {0};                                                                             \
        for (int64_t o = 0; o < k->n->numel; o++) {                                                                   \
            if ((o & 4095) == 0 && o && gr_cancelled(k->cancel)) return;                                              \
            int64_t base[ES_MAX_OPS] = {0}, sidx[ES_MAX_LABELS] = {0};                                                \
            for (int q = 0; q < nq; q++)                                                                              \
                for (int i = 0; i < no; i++) base[q] += idx[i] * st[q][i];                                            \
            double acc = 0;                                                                                           \
            for (int64_t r = 0; r < outer_sum && inner > 0; r++) {                                                    \
                const T *p[ES_MAX_OPS];                                                                               \
                for (int q = 0; q < nq; q++) {                                                                        \
                    int64_t off = base[q];                                                                            \
                    for (int i = no; i < nl - 1; i++) off += sidx[i] * st[q][i];                                      \
                    p[q] = P[q] + off;                                                                                \
                }                                                                                                     \
                if (nq == 1) {                                                                                        \
                    for (int64_t j = 0; j < inner; j++) acc += (double)p[0][j * sj[0]];                               \
                } else if (nq == 2) {                                                                                 \
                    for (int64_t j = 0; j < inner; j++) acc += (double)p[0][j * sj[0]] * (double)p[1][j * sj[1]];     \
                } else {                                                                                              \
                    for (int64_t j = 0; j < inner; j++) {                                                             \
                        double prod = 1;                                                                              \
                        for (int q = 0; q < nq; q++) prod *= (double)p[q][j * sj[q]];                                 \
                        acc += prod;                                                                                  \
                    }                                                                                                 \
                }                                                                                                     \
                for (int i = nl - 2; i >= no; i--) {                                                                  \
                    if (++sidx[i] < dim[i]) break;                                                                    \
                    sidx[i] = 0;                                                                                      \
                }                                                                                                     \
            }                                                                                                         \
            out[o] = (T)acc;                                                                                          \
            for (int i = no - 1; i >= 0; i--) {                                                                       \
                if (++idx[i] < dim[i]) break;                                                                         \
                idx[i] = 0;                                                                                           \
            }                                                                                                         \
        }                                                                                                             \
    }
ES_LOOP(es_loop_f32, float)
ES_LOOP(es_loop_f64, double)

static gr_status einsum_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    es_spec sp;
    spec_of(k->g, k->n, &sp);
    const int *in = gr_node_inputs(k->n);
    const gr_shape *shapes[ES_MAX_OPS] = {NULL};
    for (int q = 0; q < sp.nops; q++) shapes[q] = &k->g->nodes[in[q]].shape;
    es_gemm plan;
    es_canon canon;
    if (es_gemm_plan(&sp, shapes, &plan)) {
        es_run_gemm(k, &plan, k->in[0], k->in[1], k->out);
    } else if (k->work && es_canon_plan(&sp, shapes, &canon)) {
        es_run_canon(k, &sp, &canon);
    } else if (k->dt == GR_F32) {
        es_loop_f32(k, &sp);
    } else {
        es_loop_f64(k, &sp);
    }
    return GR_OK;
}

/* ---- derivatives ---------------------------------------------------------- */

/* Append the letters of labels[0..n) to buf at *len. */
static void put_labels(char *buf, size_t *len, const es_spec *sp, const int *labels, int n) {
    for (int i = 0; i < n && *len + 1 < GR_ATTR_STR_MAX; i++) buf[(*len)++] = sp->name[labels[i]];
    buf[*len] = '\0';
}

/* An einsum node over ops[0..n) with the equation of terms[0..n) -> out. */
static int build_einsum(gr_graph *g, const es_spec *sp, const int *ops, const int *const *terms, const int *ranks,
                        int n, const int *out, int out_rank) {
    gr_attrs at = {0};
    size_t len = 0;
    for (int q = 0; q < n; q++) {
        if (q) at.equation[len++] = ',';
        put_labels(at.equation, &len, sp, terms[q], ranks[q]);
    }
    at.equation[len++] = '-';
    at.equation[len++] = '>';
    put_labels(at.equation, &len, sp, out, out_rank);
    at.set = A(GR_ATTR_EQUATION);
    return gr_build_apply_n(g, &gr_op_einsum, ops, n, &at);
}

/* The gradient of operand q of einsum node id from the output gradient. */
static int einsum_grad_of(gr_graph *g, int id, int grad, int q) {
    es_spec sp;
    spec_of(g, &g->nodes[id], &sp);
    const int *in = gr_node_inputs(&g->nodes[id]);
    int nops = sp.nops;
    char used[ES_MAX_LABELS] = {0}; /* in the output or another operand */
    for (int a = 0; a < sp.out_rank; a++) used[sp.out[a]] = 1;
    for (int r = 0; r < nops; r++)
        for (int a = 0; a < sp.rank[r] && r != q; a++) used[sp.sub[r][a]] = 1;
    /* q's distinct labels that the gradient einsum can produce, in order */
    int kept[GR_MAX_RANK], nkept = 0, repeated = 0, dropped = 0;
    gr_shape s1 = {0}, full = {0}, mask = {0};
    s1.rank = full.rank = mask.rank = sp.rank[q];
    for (int a = 0; a < sp.rank[q]; a++) {
        int l = sp.sub[q][a], first = 1, reps = 0;
        for (int b = 0; b < sp.rank[q]; b++)
            if (sp.sub[q][b] == l) {
                if (b < a) first = 0;
                reps++;
            }
        repeated |= reps > 1;
        full.dims[a] = sp.size[l];
        mask.dims[a] = reps > 1 ? sp.size[l] : 1;
        s1.dims[a] = 1;
        if (first && used[l]) {
            kept[nkept++] = l;
            s1.dims[a] = sp.size[l];
        } else if (first) {
            dropped = 1;
        }
    }
    /* the gradient einsum: g and every other operand, onto kept */
    int ops[ES_MAX_OPS] = {grad}, ranks[ES_MAX_OPS] = {sp.out_rank}, nin = 1;
    const int *terms[ES_MAX_OPS] = {sp.out};
    for (int r = 0; r < nops; r++) {
        if (r == q) continue;
        ops[nin] = in[r];
        terms[nin] = sp.sub[r];
        ranks[nin++] = sp.rank[r];
    }
    int t = build_einsum(g, &sp, ops, terms, ranks, nin, kept, nkept);
    if (!repeated && !dropped) return t; /* autodiff sums broadcast dims down */
    t = gr_build_expand(g, gr_build_reshape(g, t, &s1), &full);
    if (!repeated || t < 0) return t;
    /* the diagonal: 1 where every repeated label's axes agree */
    int64_t nmask = 1;
    for (int a = 0; a < mask.rank; a++) nmask *= mask.dims[a];
    double *m = malloc((size_t)(nmask ? nmask : 1) * sizeof *m);
    float *mf = malloc((size_t)(nmask ? nmask : 1) * sizeof *mf);
    if (!m || !mf) {
        free(m);
        free(mf);
        g->failed = 1;
        gr_fail(&g->berr, GR_E_NOMEM, NULL, -1, "out of memory building einsum's derivative");
        return -1;
    }
    int64_t idx[GR_MAX_RANK] = {0};
    for (int64_t i = 0; i < nmask; i++) {
        int on = 1;
        for (int a = 0; a < mask.rank && on; a++)
            for (int b = 0; b < a; b++)
                if (mask.dims[a] > 1 && sp.sub[q][a] == sp.sub[q][b] && idx[a] != idx[b]) on = 0;
        m[i] = on;
        mf[i] = (float)on;
        for (int a = mask.rank - 1; a >= 0; a--) {
            if (++idx[a] < mask.dims[a]) break;
            idx[a] = 0;
        }
    }
    int c = gr_graph_const(g, NULL, &mask, g->dt == GR_F32 ? (const void *)mf : (const void *)m, &g->berr);
    free(m);
    free(mf);
    if (c < 0) {
        g->failed = 1;
        return -1;
    }
    return gr_build_apply(g, &gr_op_where, c, t, gr_build_scalar(g, 0), NULL); /* +0 off it, as PyTorch */
}

static void einsum_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    int n = g->nodes[id].n_in;
    for (int q = 0; q < n && q < ES_MAX_OPS; q++)
        if (need[q]) grads[q] = einsum_grad_of(g, id, grad, q);
}

/* Multilinear: the tangent is the sum over operands of the einsum with
 * that operand replaced by its tangent. */
static int einsum_jvp(gr_graph *g, int id, const int *t) {
    gr_attrs at = *g->nodes[id].attrs;
    int n = g->nodes[id].n_in, ops[ES_MAX_OPS], sum = -1;
    for (int q = 0; q < n && q < ES_MAX_OPS; q++) {
        if (t[q] < 0) continue;
        const int *in = gr_node_inputs(&g->nodes[id]);
        for (int r = 0; r < n; r++) ops[r] = r == q ? t[q] : in[r];
        int term = gr_build_apply_n(g, &gr_op_einsum, ops, n, &at);
        sum = sum < 0 ? term : gr_build_binary(g, &gr_op_add, sum, term);
    }
    return sum;
}

/* The permuted GEMM path's scratch; none for the other paths. */
static int64_t einsum_workspace(const gr_graph *g, const gr_node *n) {
    es_spec sp;
    spec_of(g, n, &sp);
    const int *in = gr_node_inputs(n);
    const gr_shape *shapes[ES_MAX_OPS] = {NULL};
    for (int q = 0; q < sp.nops; q++) shapes[q] = &g->nodes[in[q]].shape;
    es_gemm plan;
    es_canon canon;
    if (es_gemm_plan(&sp, shapes, &plan) || !es_canon_plan(&sp, shapes, &canon)) return 0;
    return es_canon_bytes(&sp, &canon, g->dt);
}

static int64_t einsum_flops(const gr_graph *g, const gr_node *n) {
    es_spec sp;
    spec_of(g, n, &sp);
    double f = 2;
    for (int l = 0; l < sp.nlabels; l++) f *= (double)sp.size[l];
    return f > 9e18 ? INT64_MAX : (int64_t)f;
}

const gr_op gr_op_einsum = {
    .name = "einsum", .arity = GR_VARIADIC, .min_operands = 1, .attrs = A(GR_ATTR_EQUATION),
    .required = A(GR_ATTR_EQUATION),
    .doc = "y = einsum(equation, a[, b]) as NumPy and torch.einsum: 'ij,jk->ik' (matmul), 'bij,bkj->bik', "
           "'ij->ji', 'ii->i' (diagonal), 'ii' (trace), 'i,j->ij', '...ij->...ji'; without '->' the output is "
           "the ellipsis then the letters used once, sorted; size-1 dims broadcast; 1 to 8 operands. A product "
           "of two that is a (batched) matmul runs on BLAS. The gradient of operand q is the einsum of g and the "
           "other operands onto q's letters, broadcast over letters only q has and masked to q's diagonal",
    .infer = einsum_infer, .forward = einsum_forward, .vjp = einsum_vjp, .jvp = einsum_jvp,
    .flops = einsum_flops, .workspace = einsum_workspace,
};

const gr_op *const gr_ops_einsum[] = {&gr_op_einsum, NULL};
