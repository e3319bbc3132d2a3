/* norm.c -- the normalisation layers: layer_norm, rms_norm, group_norm and
 * batch_norm, as PyTorch's torch.nn.functional defines them.
 *
 * Each normaliser splits x into statistics groups (a row of layer_norm,
 * a (sample, group) block of group_norm, a channel of batch_norm), computes
 * xhat = (x - mean) * rstd with rstd = 1 / sqrt(var + eps) (the biased
 * variance; rms_norm does not centre: xhat = x * rsqrt(mean(x^2) + eps)),
 * and returns xhat * weight + bias.
 *
 * The forward pass is one fused kernel (statistics in double). With P the
 * projection v -> v - mean(v) - xhat * mean(v * xhat) over each group
 * (rms_norm drops the mean(v) term), d xhat = rstd * P(d x); P is
 * symmetric, so the VJP and the JVP apply the same rule. Groups along
 * trailing axes (layer_norm, rms_norm, group_norm) apply it with the fused
 * internal ops layer_norm_backward / rms_norm_backward, batch statistics
 * (per channel) with batch_norm_backward, and get xhat from the normaliser
 * itself without weight; running statistics are constants, so the rule is
 * a product with rstd, built from elementary ops. Every op used is
 * differentiable, so HVP works. */
#include "ops.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "../vmath.h"

extern const gr_op gr_op_sqrt;          /* unary.c */
extern const gr_op gr_op_stop_gradient; /* math.c */

typedef enum norm_kind { NORM_LAYER, NORM_RMS, NORM_GROUP, NORM_BATCH } norm_kind;

/* Operands: x, then the optional weight and bias (rms_norm: weight only);
 * batch_norm's inference mode adds running_mean and running_var. */
enum { SLOT_WEIGHT = 1, SLOT_BIAS = 2, SLOT_RUNNING_MEAN = 3, SLOT_RUNNING_VAR = 4 };
static const int max_operands[] = {[NORM_LAYER] = 3, [NORM_RMS] = 2, [NORM_GROUP] = 3, [NORM_BATCH] = 5};

static norm_kind kind_of(const gr_node *n);

/* Operand ids of n. */
static const int *ins(const gr_node *n) { return gr_node_inputs(n); }

/* 1 when batch_norm node n normalises with the given running statistics. */
static int uses_running(const gr_node *n) {
    return kind_of(n) == NORM_BATCH && (n->attrs->set & A(GR_ATTR_TRAINING)) && !n->attrs->training;
}

/* ---- layout: which elements form one statistics group ----------------- */

/* Group r (of R) of x starts at element (r / R2) * sa + (r % R2) * sb and is
 * nblk blocks of blen contiguous elements, bstride apart. Element j of a
 * block takes weight and bias entry (r % R2) * sab + j / div. */
typedef struct norm_layout {
    int64_t R, R2, sa, sb, sab, div;
    int64_t nblk, blen, bstride;
} norm_layout;

/* Number of trailing dims layer_norm and rms_norm normalise over. */
static int trailing_dims(const gr_attrs *a) {
    return (a->set & A(GR_ATTR_NORMALIZED_SHAPE)) ? a->nnormalized_shape : 1;
}

/* eps of node n: the attribute, else 1e-5, or for rms_norm the dtype's machine
 * epsilon (torch's eps=None). */
static double eps_of(const gr_node *n, gr_dtype dt) {
    if (n->attrs->set & A(GR_ATTR_EPS)) return n->attrs->eps;
    if (kind_of(n) == NORM_RMS) return dt == GR_F32 ? (double)FLT_EPSILON : DBL_EPSILON;
    return 1e-5;
}

/* The layout of node n (its shape checked by infer). */
static norm_layout layout_of(const gr_graph *g, const gr_node *n) {
    const gr_shape *x = &g->nodes[ins(n)[0]].shape;
    norm_layout L = {0};
    norm_kind kind = kind_of(n);
    if (kind == NORM_LAYER || kind == NORM_RMS) {
        int k = trailing_dims(n->attrs);
        int64_t m = 1, rows = 1;
        for (int i = 0; i < x->rank; i++) {
            if (i < x->rank - k) rows *= x->dims[i];
            else m *= x->dims[i];
        }
        L = (norm_layout){.R = rows, .R2 = 1, .sa = m, .sb = 0, .sab = 0, .div = 1, .nblk = 1, .blen = m};
    } else {
        int64_t N = x->dims[0], C = x->dims[1], S = 1;
        for (int i = 2; i < x->rank; i++) S *= x->dims[i];
        if (kind == NORM_GROUP) {
            int64_t G = n->attrs->num_groups, cg = C / G;
            L = (norm_layout){.R = N * G, .R2 = G, .sa = C * S, .sb = cg * S, .sab = cg, .div = S > 0 ? S : 1,
                              .nblk = 1, .blen = cg * S};
        } else {
            L = (norm_layout){.R = C, .R2 = C, .sa = 0, .sb = S, .sab = 1, .div = S > 0 ? S : 1,
                              .nblk = N, .blen = S, .bstride = C * S};
        }
    }
    return L;
}

/* ---- shape inference --------------------------------------------------- */

/* Operand k (weight or bias) must have shape want. */
static gr_status check_param(gr_graph *g, int id, int k, const gr_shape *want, const char *what, gr_error *err) {
    const gr_shape *s = &g->nodes[ins(&g->nodes[id])[k]].shape;
    if (gr_shape_equal(s, want)) return GR_OK;
    char a[160], b[160];
    return gr_fail_op(g, err, GR_E_SHAPE, id, k, NULL, "%s has shape %s; it must be %s", what,
                      gr_shape_str(s, a, sizeof a), gr_shape_str(want, b, sizeof b));
}

/* The shape weight and bias must have: the normalised trailing dims, or [C]. */
static gr_shape param_shape(const gr_graph *g, const gr_node *n) {
    const gr_shape *x = &g->nodes[ins(n)[0]].shape;
    gr_shape p = {0};
    if (kind_of(n) == NORM_LAYER || kind_of(n) == NORM_RMS) {
        int k = trailing_dims(n->attrs);
        p.rank = k;
        for (int i = 0; i < k; i++) p.dims[i] = x->dims[x->rank - k + i];
    } else {
        p.rank = 1;
        p.dims[0] = x->dims[1];
    }
    return p;
}

/* Check a normaliser's operand count, attributes and shapes (weight, bias
 * and running statistics must have param_shape); y has x's shape. */
static gr_status norm_infer(gr_graph *g, int id, gr_error *err) {
    const gr_node *n = &g->nodes[id];
    const gr_shape *x = &g->nodes[ins(n)[0]].shape;
    norm_kind kind = kind_of(n);
    char a[160];
    if (n->n_in > max_operands[kind])
        return gr_fail_op(g, err, GR_E_ARG, id, max_operands[kind], NULL, "%s takes at most %d operands, got %d",
                          n->op->name, max_operands[kind], n->n_in);
    if (uses_running(n) && n->n_in != 5)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "training",
                          "batch_norm with training=false takes 5 operands (x, weight, bias, running_mean, "
                          "running_var), got %d", n->n_in);
    if ((n->attrs->set & A(GR_ATTR_EPS)) && !(n->attrs->eps >= 0))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "eps", "eps is %g; it must be >= 0", n->attrs->eps);
    if (kind == NORM_LAYER || kind == NORM_RMS) {
        int k = trailing_dims(n->attrs);
        if (x->rank < k)
            return gr_fail_op(g, err, GR_E_SHAPE, id, 0, "normalized_shape",
                              "x has shape %s: too few dims to normalise over the last %d", gr_shape_str(x, a, sizeof a),
                              k);
        if (n->attrs->set & A(GR_ATTR_NORMALIZED_SHAPE))
            for (int i = 0; i < k; i++)
                if (x->dims[x->rank - k + i] != n->attrs->normalized_shape[i])
                    return gr_fail_op(g, err, GR_E_SHAPE, id, 0, "normalized_shape",
                                      "x has shape %s, whose trailing dims are not normalized_shape",
                                      gr_shape_str(x, a, sizeof a));
    } else {
        if (x->rank < 2)
            return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "x has shape %s; it needs [N, C, ...]",
                              gr_shape_str(x, a, sizeof a));
        if (kind == NORM_GROUP && x->dims[1] % n->attrs->num_groups != 0)
            return gr_fail_op(g, err, GR_E_SHAPE, id, 0, "num_groups", "%lld channels do not split into %lld groups",
                              (long long)x->dims[1], (long long)n->attrs->num_groups);
        if (kind == NORM_BATCH && !uses_running(n)) {
            int64_t per_channel = x->dims[0];
            for (int i = 2; i < x->rank; i++) per_channel *= x->dims[i];
            if (per_channel == 1)
                return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL,
                                  "x has shape %s: batch statistics need more than 1 value per channel (as torch)",
                                  gr_shape_str(x, a, sizeof a));
        }
    }
    gr_shape p = param_shape(g, n);
    static const char *const what[] = {"", "the weight", "the bias", "running_mean", "running_var"};
    for (int k = 1; k < n->n_in; k++) {
        gr_status st = check_param(g, id, k, &p, what[k], err);
        if (st != GR_OK) return st;
    }
    gr_shape s = *x;
    return gr_node_set_shape(g, id, &s, err);
}

/* ---- forward ------------------------------------------------------------ */

/* Sums of a contiguous block in double: of x, and of (x - mean)^2. Four
 * partial sums break the add chain. */
#define BLOCK_SUMS(T)                                                                                                 \
    static double sum_##T(const T *x, int64_t n) {                                                                    \
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                                                        \
        int64_t j = 0;                                                                                                \
        for (; j + 4 <= n; j += 4) {                                                                                  \
            a0 += x[j];                                                                                               \
            a1 += x[j + 1];                                                                                           \
            a2 += x[j + 2];                                                                                           \
            a3 += x[j + 3];                                                                                           \
        }                                                                                                             \
        for (; j < n; j++) a0 += x[j];                                                                                \
        return (a0 + a1) + (a2 + a3);                                                                                 \
    }                                                                                                                 \
    static double sqdev_##T(const T *x, int64_t n, double mean) {                                                     \
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                                                        \
        int64_t j = 0;                                                                                                \
        for (; j + 4 <= n; j += 4) {                                                                                  \
            double d0 = x[j] - mean, d1 = x[j + 1] - mean, d2 = x[j + 2] - mean, d3 = x[j + 3] - mean;                \
            a0 += d0 * d0;                                                                                            \
            a1 += d1 * d1;                                                                                            \
            a2 += d2 * d2;                                                                                            \
            a3 += d3 * d3;                                                                                            \
        }                                                                                                             \
        for (; j < n; j++) a0 += (x[j] - mean) * (x[j] - mean);                                                       \
        return (a0 + a1) + (a2 + a3);                                                                                 \
    }
BLOCK_SUMS(float)
BLOCK_SUMS(double)

/* y = (x - mean) * rstd * weight + bias over every statistics group;
 * blocks whose elements share one weight entry (div > 1) hoist it. */
#define NORM_LOOP(T)                                                                                                  \
    do {                                                                                                              \
        const T *x = k->in_all[0], *w = nin > SLOT_WEIGHT ? k->in_all[SLOT_WEIGHT] : NULL;                          \
        const T *b = nin > SLOT_BIAS ? k->in_all[SLOT_BIAS] : NULL;                                                   \
        const T *rm = running ? k->in_all[SLOT_RUNNING_MEAN] : NULL, *rv = running ? k->in_all[SLOT_RUNNING_VAR] : NULL; \
        T *y = k->out, *xhat = k->side; /* side: xhat as well (layer_norm, rms_norm: div 1) */                       \
        for (int64_t r = r0; r < r1; r++) {                                                                           \
            if (((r - r0) & 63) == 0 && gr_cancelled(k->cancel)) return;                                              \
            int64_t base = (r / L.R2) * L.sa + (r % L.R2) * L.sb, ab = (r % L.R2) * L.sab;                            \
            double mean = 0, var = 0, rstd;                                                                           \
            if (running) {                                                                                            \
                mean = rm[r];                                                                                         \
                rstd = 1 / sqrt((double)rv[r] + eps);                                                                 \
            } else {                                                                                                  \
                if (center) {                                                                                         \
                    for (int64_t q = 0; q < L.nblk; q++) mean += sum_##T(x + base + q * L.bstride, L.blen);           \
                    mean /= (double)count;                                                                            \
                }                                                                                                     \
                for (int64_t q = 0; q < L.nblk; q++) var += sqdev_##T(x + base + q * L.bstride, L.blen, mean);        \
                rstd = 1 / sqrt(var / (double)count + eps);                                                           \
            }                                                                                                         \
            for (int64_t q = 0; q < L.nblk; q++) {                                                                    \
                const T *xb = x + base + q * L.bstride;                                                               \
                T *yb = y + base + q * L.bstride;                                                                     \
                if (L.div == 1) {                                                                                     \
                    for (int64_t j = 0; j < L.blen; j++) {                                                            \
                        double v = (xb[j] - mean) * rstd;                                                             \
                        if (xhat) xhat[base + q * L.bstride + j] = (T)v;                                              \
                        if (w) v *= w[ab + j];                                                                        \
                        if (b) v += b[ab + j];                                                                        \
                        yb[j] = (T)v;                                                                                 \
                    }                                                                                                 \
                    continue;                                                                                         \
                }                                                                                                     \
                for (int64_t c0 = 0, j0 = 0; j0 < L.blen; c0++, j0 += L.div) {                                        \
                    double wc = w ? w[ab + c0] : 1, bc = b ? b[ab + c0] : 0;                                          \
                    int64_t j1 = L.blen - j0 < L.div ? L.blen : j0 + L.div;                                           \
                    for (int64_t j = j0; j < j1; j++) yb[j] = (T)((xb[j] - mean) * rstd * wc + bc);                   \
                }                                                                                                     \
            }                                                                                                         \
        }                                                                                                             \
    } while (0)

/* NORM_LOOP for float32 rows of one block each (layer_norm and rms_norm
 * over the trailing dims, weight and bias per element): the statistics in
 * double, the row itself in float (lib/vmath.c). */
static void norm_rows_f32(const gr_kernel *k, const norm_layout *L, int center, double eps, int64_t r0, int64_t r1) {
    int nin = k->n->n_in;
    const float *x = k->in_all[0], *w = nin > SLOT_WEIGHT ? k->in_all[SLOT_WEIGHT] : NULL;
    const float *b = nin > SLOT_BIAS ? k->in_all[SLOT_BIAS] : NULL;
    float *y = k->out;
    int64_t n = L->blen;
    for (int64_t r = r0; r < r1; r++) {
        if (((r - r0) & 63) == 0 && gr_cancelled(k->cancel)) return;
        int64_t base = (r / L->R2) * L->sa + (r % L->R2) * L->sb, ab = (r % L->R2) * L->sab;
        double mean = center ? gr_vsum_f32(x + base, n) / (double)n : 0;
        double rstd = 1 / sqrt(gr_vsqdev_f32(x + base, n, mean) / (double)n + eps);
        gr_vnorm_f32(x + base, y + base, n, (float)mean, (float)rstd, w ? w + ab : NULL, b ? b + ab : NULL);
        if (k->side) gr_vnorm_f32(x + base, (float *)k->side + base, n, (float)mean, (float)rstd, NULL, NULL);
    }
}

/* The fused forward pass of every normaliser (NORM_LOOP). */
/* Rows [r0, r1) of a normaliser (NORM_LOOP), split across threads: rows
 * write disjoint parts of y. */
static void norm_part(void *ctx, int64_t r0, int64_t r1) {
    const gr_kernel *k = ctx;
    const gr_node *n = k->n;
    norm_kind kind = kind_of(n);
    norm_layout L = layout_of(k->g, n);
    int64_t count = L.nblk * L.blen;
    int center = kind != NORM_RMS;
    double eps = eps_of(n, k->dt);
    int nin = n->n_in, running = uses_running(n);
    if (k->dt == GR_F32 && L.nblk == 1 && L.div == 1 && !running) {
        norm_rows_f32(k, &L, center, eps, r0, r1);
        return;
    }
    if (k->dt == GR_F32) NORM_LOOP(float);
    else NORM_LOOP(double);
}

static gr_status norm_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    norm_layout L = layout_of(k->g, k->n);
    int64_t row = L.nblk * L.blen > 0 ? L.nblk * L.blen : 1; /* elements per row */
    gr_parallel_for(L.R, (GR_PAR_GRAIN + row - 1) / row, norm_part, (void *)(uintptr_t)k);
    return GR_OK;
}

/* About 8 operations an element: two statistics passes and the affine. */
static int64_t norm_flops(const gr_graph *g, const gr_node *n) { (void)g; return 8 * n->numel; }

/* ---- derivative ----------------------------------------------------------- */

/* x as the derivative sees it: viewed as vshape, reduced over axes. */
typedef struct norm_view {
    gr_shape xshape;               /* x's shape */
    gr_shape vshape;               /* the view whose axes hold one group: group_norm [N, G, C/G * S] */
    int axes[GR_MAX_RANK], naxes;  /* the reduced axes of vshape */
    gr_shape pshape;               /* weight and bias reshaped to broadcast against x */
    gr_shape wshape;               /* weight and bias as given */
    int center;                    /* subtract the mean (all but rms_norm) */
    int running;                   /* batch_norm with the given running statistics */
    int batch;                     /* batch_norm with the batch's statistics: per channel */
    double eps;
    int x, w, b, rm, rv;           /* operand nodes (-1: absent) */
} norm_view;

/* The view of node id's x its derivative rules work on. */
static void view_of(const gr_graph *g, int id, norm_view *v) {
    const gr_node *n = &g->nodes[id];
    const int *in = ins(n);
    norm_kind kind = kind_of(n);
    memset(v, 0, sizeof *v);
    v->xshape = v->vshape = g->nodes[in[0]].shape;
    v->wshape = v->pshape = param_shape(g, n);
    v->center = kind != NORM_RMS;
    v->running = uses_running(n);
    v->batch = kind == NORM_BATCH && !v->running;
    v->eps = eps_of(n, g->dt);
    v->x = in[0];
    v->w = n->n_in > SLOT_WEIGHT ? in[SLOT_WEIGHT] : -1;
    v->b = n->n_in > SLOT_BIAS ? in[SLOT_BIAS] : -1;
    v->rm = v->running ? in[SLOT_RUNNING_MEAN] : -1;
    v->rv = v->running ? in[SLOT_RUNNING_VAR] : -1;
    const gr_shape *x = &v->xshape;
    if (kind == NORM_LAYER || kind == NORM_RMS) {
        int k = trailing_dims(n->attrs);
        for (int i = 0; i < k; i++) v->axes[v->naxes++] = x->rank - k + i;
        return;
    }
    /* Channel parameters broadcast as [C, 1, ..., 1]. */
    v->pshape.rank = x->rank - 1;
    v->pshape.dims[0] = x->dims[1];
    for (int i = 1; i < v->pshape.rank; i++) v->pshape.dims[i] = 1;
    if (kind == NORM_GROUP) {
        int64_t G = n->attrs->num_groups, rest = x->dims[1] / G;
        for (int i = 2; i < x->rank; i++) rest *= x->dims[i];
        v->vshape = (gr_shape){.rank = 3, .dims = {x->dims[0], G, rest}};
        v->axes[v->naxes++] = 2;
    } else {
        for (int i = 0; i < x->rank; i++)
            if (i != 1) v->axes[v->naxes++] = i;
    }
}

/* 1 / sqrt(var + eps). */
static int rsqrt_eps(gr_graph *g, const norm_view *v, int var) {
    int std = gr_build_unary(g, &gr_op_sqrt, gr_build_binary(g, &gr_op_add, var, gr_build_scalar(g, v->eps)));
    return gr_build_unary(g, &gr_op_reciprocal, std);
}

/* The pieces a derivative rule of node v uses. Groups along trailing
 * axes (layer_norm, rms_norm, group_norm viewed as [N, G, M]) use the
 * fused ops: xhat = layer_norm or rms_norm of x's view without weight, and
 * the Jacobian through layer_norm_backward or rms_norm_backward; batch
 * statistics per channel use batch_norm without weight and
 * batch_norm_backward. Running statistics are constants, built from
 * elementary ops. Nodes are built on first use (-1: not yet). */
typedef struct norm_parts {
    int xv;          /* x in the view's shape */
    int xhat;        /* xhat in x's shape */
    int xhat_v;      /* running statistics: xhat in x's shape */
    int rstd;        /* running statistics: 1 / sqrt(var + eps), [C, 1, ...] */
} norm_parts;

extern const gr_op gr_op_layer_norm, gr_op_rms_norm, gr_op_layer_norm_backward, gr_op_rms_norm_backward;
extern const gr_op gr_op_batch_norm, gr_op_batch_norm_backward;

/* Only eps, for the ops over channels. */
static gr_attrs eps_attrs(double eps) {
    gr_attrs at = {0};
    at.set = A(GR_ATTR_EPS);
    at.eps = eps;
    return at;
}

/* xhat of x [N, C, ...] with the batch's statistics per channel:
 * batch_norm(x) without weight (training mode is its default). */
static int build_batch_xhat(gr_graph *g, int x, double eps) {
    gr_attrs at = eps_attrs(eps);
    return gr_build_apply_n(g, &gr_op_batch_norm, &x, 1, &at);
}

/* The attributes of the fused ops over the view's trailing group axes. */
static gr_attrs row_attrs(const norm_view *v) {
    gr_attrs at = {0};
    at.set = A(GR_ATTR_NORMALIZED_SHAPE) | A(GR_ATTR_EPS);
    at.nnormalized_shape = v->naxes;
    for (int i = 0; i < v->naxes; i++) at.normalized_shape[i] = v->vshape.dims[v->vshape.rank - v->naxes + i];
    at.eps = v->eps;
    return at;
}

/* Fill p for view v (running statistics: their xhat and rstd). */
static void parts_init(gr_graph *g, const norm_view *v, norm_parts *p) {
    p->xv = gr_build_reshape(g, v->x, &v->vshape);
    p->xhat = p->xhat_v = p->rstd = -1;
    if (!v->running) return;
    /* the statistics are nondiff at every order (HVP too) */
    int mean = gr_build_unary(g, &gr_op_stop_gradient, gr_build_reshape(g, v->rm, &v->pshape));
    int var = gr_build_unary(g, &gr_op_stop_gradient, gr_build_reshape(g, v->rv, &v->pshape));
    p->rstd = rsqrt_eps(g, v, var);
    p->xhat_v = gr_build_binary(g, &gr_op_mul, gr_build_binary(g, &gr_op_sub, v->x, mean), p->rstd);
}

/* xhat in x's shape. */
static int parts_xhat(gr_graph *g, const norm_view *v, norm_parts *p) {
    if (p->xhat >= 0) return p->xhat;
    if (!v->running) {
        gr_attrs at = row_attrs(v);
        int xh = v->batch ? build_batch_xhat(g, v->x, v->eps)
                          : gr_build_apply_n(g, v->center ? &gr_op_layer_norm : &gr_op_rms_norm, &p->xv, 1, &at);
        p->xhat = gr_build_reshape(g, xh, &v->xshape);
    } else {
        p->xhat = gr_build_reshape(g, p->xhat_v, &v->xshape);
    }
    return p->xhat;
}

/* d xhat for a change t of x (x's shape): rstd * P(t), back in x's shape
 * (running statistics are constants: rstd * t). */
static int apply_jacobian(gr_graph *g, const norm_view *v, const norm_parts *p, int t) {
    if (v->running) return gr_build_binary(g, &gr_op_mul, t, p->rstd);
    int tv = gr_build_reshape(g, t, &v->vshape);
    gr_attrs at = v->batch ? eps_attrs(v->eps) : row_attrs(v);
    const gr_op *op = v->batch ? &gr_op_batch_norm_backward
                      : v->center ? &gr_op_layer_norm_backward : &gr_op_rms_norm_backward;
    return gr_build_reshape(g, gr_build_apply(g, op, p->xv, tv, -1, &at), &v->xshape);
}

/* a (x's shape) summed down to a parameter's shape. */
static int to_param(gr_graph *g, const norm_view *v, int a) {
    return gr_build_reshape(g, gr_build_sum_to(g, a, &v->pshape), &v->wshape);
}

/* dx = J(g * weight), dweight = sum of g * xhat, dbias = sum of g (over
 * everything but the parameter's dims); running statistics get none. */
static void norm_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    norm_view v;
    norm_parts p;
    view_of(g, id, &v);
    parts_init(g, &v, &p);
    if (need[0]) {
        int gw = v.w >= 0 ? gr_build_binary(g, &gr_op_mul, grad, gr_build_reshape(g, v.w, &v.pshape)) : grad;
        grads[0] = apply_jacobian(g, &v, &p, gw);
    }
    if (v.w >= 0 && need[SLOT_WEIGHT])
        grads[SLOT_WEIGHT] = to_param(g, &v, gr_build_binary(g, &gr_op_mul, grad, parts_xhat(g, &v, &p)));
    if (v.b >= 0 && need[SLOT_BIAS]) grads[SLOT_BIAS] = to_param(g, &v, grad);
}

/* acc + term, where acc -1 is zero. */
static int add_term(gr_graph *g, int acc, int term) {
    return acc < 0 ? term : gr_build_binary(g, &gr_op_add, acc, term);
}

/* dy = J(tx) * weight + tweight * xhat + tbias. */
static int norm_jvp(gr_graph *g, int id, const int *t) {
    norm_view v;
    norm_parts p;
    view_of(g, id, &v);
    parts_init(g, &v, &p);
    int out = -1;
    if (t[0] >= 0) {
        int d = apply_jacobian(g, &v, &p, t[0]);
        if (v.w >= 0) d = gr_build_binary(g, &gr_op_mul, d, gr_build_reshape(g, v.w, &v.pshape));
        out = add_term(g, out, d);
    }
    if (v.w >= 0 && t[SLOT_WEIGHT] >= 0)
        out = add_term(g, out,
                       gr_build_binary(g, &gr_op_mul, gr_build_reshape(g, t[SLOT_WEIGHT], &v.pshape),
                                       parts_xhat(g, &v, &p)));
    if (v.b >= 0 && t[SLOT_BIAS] >= 0) out = add_term(g, out, gr_build_reshape(g, t[SLOT_BIAS], &v.pshape));
    return out;
}

/* ---- layer_norm_backward(x, v), rms_norm_backward(x, v) ------------------ */

/* B(x, v) = rstd * P(v) over each row of the trailing normalized_shape dims,
 * with P(v) = v - mean(v) - xhat * mean(v * xhat) (rms: no mean(v) term):
 * the normaliser's Jacobian, symmetric, applied to v. Linear in v, so its
 * v-derivative is B(x, .) again. Its x-derivative, with r2n = rstd^2 / N
 * and <a, b> the row sums of a * b:
 *   VJP  dx = -r2n * (xhat <u, P v> + <u, xhat> P v + <v, xhat> P u)
 *   JVP  dB = -r2n * (<xhat, t> P v + <P v, t> xhat + <v, xhat> P t)
 * built from elementary ops and the fused xhat (second order only). */

/* 1 for rms_norm_backward (no centring), 0 for layer_norm_backward. */
static int is_rms_backward(const gr_node *n) { return n->op == &gr_op_rms_norm_backward; }

/* 1 for batch_norm_backward: groups per channel of [N, C, ...]. */
static int is_batch_backward(const gr_node *n) { return n->op == &gr_op_batch_norm_backward; }

/* The statistics groups of a backward node n (shape [N, C, ...] for
 * batch_norm_backward, else rows of the trailing normalized_shape dims):
 * the forward ops' layout without weight. */
static norm_layout normbw_layout(const gr_node *n) {
    const gr_shape *x = &n->shape;
    if (is_batch_backward(n)) {
        int64_t N = x->dims[0], C = x->dims[1], S = 1;
        for (int i = 2; i < x->rank; i++) S *= x->dims[i];
        return (norm_layout){.R = C, .R2 = C, .sa = 0, .sb = S, .div = 1, .nblk = N, .blen = S, .bstride = C * S};
    }
    int kd = trailing_dims(n->attrs);
    int64_t m = 1;
    for (int i = x->rank - kd; i < x->rank; i++) m *= x->dims[i];
    return (norm_layout){.R = m ? n->numel / m : 0, .R2 = 1, .sa = m, .div = 1, .nblk = 1, .blen = m};
}

/* x and v of one shape, with at least the normalised dims; y has it too. */
static gr_status normbw_infer(gr_graph *g, int id, gr_error *err) {
    const gr_node *n = &g->nodes[id];
    const gr_shape *x = IN_SHAPE(g, id, 0), *u = IN_SHAPE(g, id, 1);
    char a[160], b[160];
    if (!gr_shape_equal(x, u))
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL, "x has shape %s and v %s; they must be equal",
                          gr_shape_str(x, a, sizeof a), gr_shape_str(u, b, sizeof b));
    int k = is_batch_backward(n) ? 2 : trailing_dims(n->attrs);
    if (x->rank < k)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, is_batch_backward(n) ? NULL : "normalized_shape",
                          "x has shape %s: fewer than %d dims", gr_shape_str(x, a, sizeof a), k);
    if ((n->attrs->set & A(GR_ATTR_EPS)) && !(n->attrs->eps >= 0))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "eps", "eps is %g; it must be >= 0", n->attrs->eps);
    return gr_infer_same(g, id, err);
}

/* B(x, v) over group r of layout L, in double: the statistics of x, the
 * sums of v and v * (x - mean) over the group's blocks, then each block. */
#define NORMBW_LOOP(T)                                                                                                \
    do {                                                                                                              \
        const T *x = k->in[0], *v = k->in[1];                                                                         \
        T *y = k->out;                                                                                                \
        double count = (double)(L.nblk * L.blen);                                                                     \
        for (int64_t r = r0; r < r1; r++) {                                                                           \
            if (((r - r0) & 63) == 0 && gr_cancelled(k->cancel)) return;                                              \
            int64_t base = (r / L.R2) * L.sa + (r % L.R2) * L.sb;                                                     \
            double mean = 0, var = 0, vs = 0, vx = 0;                                                                 \
            if (center) {                                                                                             \
                for (int64_t q = 0; q < L.nblk; q++) mean += sum_##T(x + base + q * L.bstride, L.blen);               \
                mean /= count;                                                                                        \
            }                                                                                                         \
            for (int64_t q = 0; q < L.nblk; q++) {                                                                    \
                const T *xb = x + base + q * L.bstride, *vb = v + base + q * L.bstride;                               \
                var += sqdev_##T(xb, L.blen, mean);                                                                   \
                for (int64_t j = 0; j < L.blen; j++) {                                                                \
                    vs += vb[j];                                                                                      \
                    vx += vb[j] * (xb[j] - mean);                                                                     \
                }                                                                                                     \
            }                                                                                                         \
            double rstd = 1 / sqrt(var / count + eps);                                                                \
            double a = center ? vs / count : 0, c = vx * rstd / count; /* mean(v), mean(v * xhat) */                  \
            for (int64_t q = 0; q < L.nblk; q++) {                                                                    \
                const T *xb = x + base + q * L.bstride, *vb = v + base + q * L.bstride;                               \
                T *yb = y + base + q * L.bstride;                                                                     \
                for (int64_t j = 0; j < L.blen; j++) yb[j] = (T)(rstd * (vb[j] - a - (xb[j] - mean) * rstd * c));   \
            }                                                                                                         \
        }                                                                                                             \
    } while (0)

/* NORMBW_LOOP for float32: the sums in double, each block in float
 * (lib/vmath.c). */
static void normbw_groups_f32(const gr_kernel *k, const norm_layout *L, int center, double eps, int64_t r0,
                              int64_t r1) {
    const float *x = k->in[0], *v = k->in[1];
    float *y = k->out;
    double count = (double)(L->nblk * L->blen);
    for (int64_t r = r0; r < r1; r++) {
        if (((r - r0) & 63) == 0 && gr_cancelled(k->cancel)) return;
        int64_t base = (r / L->R2) * L->sa + (r % L->R2) * L->sb;
        double mean = 0, var = 0, vs = 0, vx = 0;
        if (center) {
            for (int64_t q = 0; q < L->nblk; q++) mean += gr_vsum_f32(x + base + q * L->bstride, L->blen);
            mean /= count;
        }
        for (int64_t q = 0; q < L->nblk; q++) {
            const float *xb = x + base + q * L->bstride;
            double s, d;
            var += gr_vsqdev_f32(xb, L->blen, mean);
            gr_vsum_dot_f32(v + base + q * L->bstride, xb, L->blen, mean, &s, &d);
            vs += s;
            vx += d;
        }
        double rstd = 1 / sqrt(var / count + eps);
        double a = center ? vs / count : 0, c = vx * rstd / count; /* mean(v), mean(v * xhat) */
        for (int64_t q = 0; q < L->nblk; q++) {
            int64_t o = base + q * L->bstride;
            gr_vnormbw_f32(x + o, v + o, y + o, L->blen, (float)mean, (float)rstd, (float)a, (float)c);
        }
    }
}

/* Groups [r0, r1) of B, split across threads (each writes its own). */
static void normbw_part(void *ctx, int64_t r0, int64_t r1) {
    const gr_kernel *k = ctx;
    const gr_node *n = k->n;
    int center = !is_rms_backward(n);
    norm_layout L = normbw_layout(n);
    double eps = (n->attrs->set & A(GR_ATTR_EPS)) ? n->attrs->eps : 1e-5;
    if (k->dt == GR_F32) {
        normbw_groups_f32(k, &L, center, eps, r0, r1);
        return;
    }
    NORMBW_LOOP(double);
}

static gr_status normbw_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    norm_layout L = normbw_layout(k->n);
    int64_t m = L.nblk * L.blen;
    gr_parallel_for(L.R, m > 0 ? (GR_PAR_GRAIN + m - 1) / m : 1, normbw_part, (void *)(uintptr_t)k);
    return GR_OK;
}

/* What the x-derivative of B needs. */
typedef struct normbw_parts {
    int center;
    int axes[GR_MAX_RANK], naxes;
    int xhat;       /* x's xhat (the fused op) */
    int r2n;        /* rstd^2 / N, keepdims */
} normbw_parts;

/* Row sums (keepdims) over the normalised axes, and of a * b. */
static int row_sum(gr_graph *g, const normbw_parts *q, int a) { return gr_build_sum(g, a, q->axes, q->naxes, 1); }
static int row_dot(gr_graph *g, const normbw_parts *q, int a, int b) {
    return row_sum(g, q, gr_build_binary(g, &gr_op_mul, a, b));
}

/* xhat (the fused normaliser without weight) and rstd^2 / N of node id's
 * x, from elementary ops. */
static void normbw_parts_of(gr_graph *g, int id, normbw_parts *q) {
    const gr_node *n = &g->nodes[id];
    int x = n->in[0], batch = is_batch_backward(n);
    gr_shape xs = n->shape;
    gr_attrs at = *n->attrs;
    double eps = (at.set & A(GR_ATTR_EPS)) ? at.eps : 1e-5, count = 1;
    q->center = !is_rms_backward(n);
    q->naxes = 0;
    for (int i = 0; i < xs.rank; i++)
        if (batch ? i != 1 : i >= xs.rank - trailing_dims(&at)) {
            q->axes[q->naxes++] = i;
            count *= (double)xs.dims[i];
        }
    if (batch) {
        q->xhat = build_batch_xhat(g, x, eps);
    } else {
        int kd = q->naxes;
        at.set = A(GR_ATTR_NORMALIZED_SHAPE) | A(GR_ATTR_EPS);
        at.nnormalized_shape = kd;
        for (int i = 0; i < kd; i++) at.normalized_shape[i] = xs.dims[xs.rank - kd + i];
        at.eps = eps;
        q->xhat = gr_build_apply_n(g, q->center ? &gr_op_layer_norm : &gr_op_rms_norm, &x, 1, &at);
    }
    int inv_n = gr_build_scalar(g, count > 0 ? 1 / count : 0);
    int xc = x;
    if (q->center) xc = gr_build_binary(g, &gr_op_sub, x, gr_build_binary(g, &gr_op_mul, row_sum(g, q, x), inv_n));
    int var = gr_build_binary(g, &gr_op_mul, row_sum(g, q, gr_build_unary(g, &gr_op_square, xc)), inv_n);
    int var_eps_n = gr_build_binary(g, &gr_op_mul, gr_build_binary(g, &gr_op_add, var, gr_build_scalar(g, eps)),
                                    gr_build_scalar(g, count));
    q->r2n = gr_build_unary(g, &gr_op_reciprocal, var_eps_n);
}

/* P(v) = v - mean(v) - xhat * mean(v * xhat), without rstd. */
static int project(gr_graph *g, const normbw_parts *q, int v, double inv_n) {
    int s = gr_build_scalar(g, inv_n);
    int r = v;
    if (q->center) r = gr_build_binary(g, &gr_op_sub, r, gr_build_binary(g, &gr_op_mul, row_sum(g, q, v), s));
    int c = gr_build_binary(g, &gr_op_mul, row_dot(g, q, v, q->xhat), s);
    return gr_build_binary(g, &gr_op_sub, r, gr_build_binary(g, &gr_op_mul, q->xhat, c));
}

/* -r2n * (a1 * b1 + a2 * b2 + a3 * b3) with the b's row sums. */
static int three_terms(gr_graph *g, const normbw_parts *q, int a1, int b1, int a2, int b2, int a3, int b3) {
    int s = gr_build_binary(g, &gr_op_add, gr_build_binary(g, &gr_op_mul, a1, b1), gr_build_binary(g, &gr_op_mul, a2, b2));
    s = gr_build_binary(g, &gr_op_add, s, gr_build_binary(g, &gr_op_mul, a3, b3));
    return gr_build_unary(g, &gr_op_neg, gr_build_binary(g, &gr_op_mul, q->r2n, s));
}

/* 1 / N, N the elements of one group (0 for empty groups). */
static double inv_count(const gr_graph *g, int id) {
    norm_layout L = normbw_layout(&g->nodes[id]);
    double count = (double)(L.nblk * L.blen);
    return count > 0 ? 1 / count : 0;
}

/* dv = B(x, g); dx by the formula above. */
static void normbw_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    int x = g->nodes[id].in[0], v = g->nodes[id].in[1];
    gr_attrs at = *g->nodes[id].attrs;
    const gr_op *op = g->nodes[id].op;
    double inv_n = inv_count(g, id);
    if (need[1]) grads[1] = gr_build_apply(g, op, x, grad, -1, &at);
    if (need[0]) {
        normbw_parts q;
        normbw_parts_of(g, id, &q);
        int pv = project(g, &q, v, inv_n), pu = project(g, &q, grad, inv_n);
        grads[0] = three_terms(g, &q, q.xhat, row_dot(g, &q, grad, pv), pv, row_dot(g, &q, grad, q.xhat), pu,
                               row_dot(g, &q, v, q.xhat));
    }
}

/* B(x, tv) + the x-directional derivative above along tx. */
static int normbw_jvp(gr_graph *g, int id, const int *t) {
    int x = g->nodes[id].in[0], v = g->nodes[id].in[1], out = -1;
    gr_attrs at = *g->nodes[id].attrs;
    const gr_op *op = g->nodes[id].op;
    double inv_n = inv_count(g, id);
    if (t[1] >= 0) out = gr_build_apply(g, op, x, t[1], -1, &at);
    if (t[0] >= 0) {
        normbw_parts q;
        normbw_parts_of(g, id, &q);
        int pv = project(g, &q, v, inv_n), pt = project(g, &q, t[0], inv_n);
        out = add_term(g, out, three_terms(g, &q, pv, row_dot(g, &q, q.xhat, t[0]), q.xhat, row_dot(g, &q, pv, t[0]),
                                           pt, row_dot(g, &q, v, q.xhat)));
    }
    return out;
}

/* ---- the entries ------------------------------------------------------------ */

#define NORM_FNS .infer = norm_infer, .forward = norm_forward, .vjp = norm_vjp, .jvp = norm_jvp, .flops = norm_flops

/* 1 when node h is the xhat a derivative of layer_norm or rms_norm node n
 * reads: the same op on the same x without weight, over as many trailing
 * dims, with the same eps. n's kernel then writes it to gr_kernel.side. */
static int norm_writes_xhat(const gr_graph *g, const gr_node *n, const gr_node *h) {
    return h->op == n->op && h->n_in == 1 && ins(h)[0] == ins(n)[0] &&
           trailing_dims(h->attrs) == trailing_dims(n->attrs) && eps_of(h, g->dt) == eps_of(n, g->dt);
}

const gr_op gr_op_layer_norm = {
    .name = "layer_norm", .arity = GR_VARIADIC, .min_operands = 1,
    .attrs = A(GR_ATTR_NORMALIZED_SHAPE) | A(GR_ATTR_EPS),
    .doc = "layer_norm(x[, weight[, bias]]): torch.nn.functional.layer_norm over the trailing dims "
           "normalized_shape (absent: the last axis; weight and bias have exactly that shape). y = (x - mean) / "
           "sqrt(var + eps) * weight + bias, mean and biased var over those dims, eps default 1e-5. dx = rstd * "
           "P(g * weight) with P(v) = v - mean(v) - xhat * mean(v * xhat) over each row; dweight = sum of g * "
           "xhat, dbias = sum of g over the other dims. A constant row has var 0: xhat = 0, rstd = 1/sqrt(eps), "
           "as torch.",
    NORM_FNS, .writes_side = norm_writes_xhat,
};

const gr_op gr_op_rms_norm = {
    .name = "rms_norm", .arity = GR_VARIADIC, .min_operands = 1,
    .attrs = A(GR_ATTR_NORMALIZED_SHAPE) | A(GR_ATTR_EPS),
    .doc = "rms_norm(x[, weight]): torch.nn.functional.rms_norm (torch 2.4) over the trailing dims "
           "normalized_shape (absent: the last axis). y = x / sqrt(mean(x^2) + eps) * weight, eps default the "
           "dtype's machine epsilon (torch's eps=None). dx = rstd * P(g * weight) with P(v) = v - xhat * mean(v * "
           "xhat); dweight = sum of g * xhat. A zero row gives 0 (x * 1/sqrt(eps)).",
    NORM_FNS, .writes_side = norm_writes_xhat,
};

const gr_op gr_op_group_norm = {
    .name = "group_norm", .arity = GR_VARIADIC, .min_operands = 1, .attrs = A(GR_ATTR_NUM_GROUPS) | A(GR_ATTR_EPS),
    .required = A(GR_ATTR_NUM_GROUPS),
    .doc = "group_norm(x [N, C, ...][, weight [C][, bias [C]]]): torch.nn.functional.group_norm. The C channels "
           "split into num_groups groups; each (sample, group) is normalised with its mean and biased var, eps "
           "default 1e-5, then y = xhat * weight[c] + bias[c]. Derivative as layer_norm's, over each (sample, "
           "group).",
    NORM_FNS,
};

const gr_op gr_op_batch_norm = {
    .name = "batch_norm", .arity = GR_VARIADIC, .min_operands = 1, .attrs = A(GR_ATTR_EPS) | A(GR_ATTR_TRAINING),
    .nondiff = (1u << SLOT_RUNNING_MEAN) | (1u << SLOT_RUNNING_VAR),
    .doc = "batch_norm(x [N, C, ...][, weight [C], bias [C][, running_mean [C], running_var [C]]]): "
           "torch.nn.functional.batch_norm (note the operand order: the running statistics come last). training "
           "(default true): each channel is normalised with the batch's mean and biased var over N and the "
           "spatial dims, as torch's training mode; stateless, so the running statistics, if given, are neither "
           "read nor updated; one value per channel is an error, as torch; derivative as layer_norm's over each "
           "channel. training=false (all 5 operands): y = (x - running_mean) / sqrt(running_var + eps) * weight "
           "+ bias, dx = g * weight / sqrt(running_var + eps); the running statistics get no gradient (as torch). "
           "eps default 1e-5.",
    NORM_FNS,
};

const gr_op gr_op_layer_norm_backward = {
    .name = "layer_norm_backward", .arity = 2, .flags = GR_OPF_INTERNAL,
    .attrs = A(GR_ATTR_NORMALIZED_SHAPE) | A(GR_ATTR_EPS),
    .doc = "layer_norm_backward(x, v) = rstd * (v - mean(v) - xhat * mean(v * xhat)) over each row of the trailing "
           "normalized_shape dims (eps default 1e-5): layer_norm's Jacobian (symmetric) applied to v, which its "
           "derivative uses. dv = layer_norm_backward(x, g); dx = -rstd^2/N * (xhat <g, Pv> + <g, xhat> Pv + <v, "
           "xhat> Pg), <.,.> row sums, P(v) = v - mean(v) - xhat mean(v xhat).",
    .infer = normbw_infer, .forward = normbw_forward, .vjp = normbw_vjp, .jvp = normbw_jvp, .flops = norm_flops,
};

const gr_op gr_op_batch_norm_backward = {
    .name = "batch_norm_backward", .arity = 2, .flags = GR_OPF_INTERNAL, .attrs = A(GR_ATTR_EPS),
    .doc = "batch_norm_backward(x, v) = rstd * (v - mean(v) - xhat * mean(v * xhat)) over each channel of x "
           "[N, C, ...] (its N and spatial elements; eps default 1e-5): training-mode batch_norm's Jacobian "
           "applied to v, one pass per channel instead of the composite's ten. Its derivative is "
           "layer_norm_backward's over those groups.",
    .infer = normbw_infer, .forward = normbw_forward, .vjp = normbw_vjp, .jvp = normbw_jvp, .flops = norm_flops,
};

const gr_op gr_op_rms_norm_backward = {
    .name = "rms_norm_backward", .arity = 2, .flags = GR_OPF_INTERNAL,
    .attrs = A(GR_ATTR_NORMALIZED_SHAPE) | A(GR_ATTR_EPS),
    .doc = "rms_norm_backward(x, v) = rstd * (v - xhat * mean(v * xhat)) over each row of the trailing "
           "normalized_shape dims (eps default 1e-5; rms_norm passes its own): rms_norm's Jacobian applied to v. dv "
           "= rms_norm_backward(x, g); dx as layer_norm_backward's with P(v) = v - xhat mean(v xhat).",
    .infer = normbw_infer, .forward = normbw_forward, .vjp = normbw_vjp, .jvp = normbw_jvp, .flops = norm_flops,
};

/* Which normaliser node n is (layer_norm for anything else). */
static norm_kind kind_of(const gr_node *n) {
    if (n->op == &gr_op_rms_norm) return NORM_RMS;
    if (n->op == &gr_op_group_norm) return NORM_GROUP;
    if (n->op == &gr_op_batch_norm) return NORM_BATCH;
    return NORM_LAYER;
}

const gr_op *const gr_ops_norm[] = {&gr_op_layer_norm,          &gr_op_rms_norm,          &gr_op_group_norm,
                                    &gr_op_batch_norm,          &gr_op_layer_norm_backward, &gr_op_rms_norm_backward,
                                    &gr_op_batch_norm_backward, NULL};
