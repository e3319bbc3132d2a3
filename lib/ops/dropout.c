/* dropout.c -- dropout with a stateless, counter-based mask: element i of
 * the tensor is kept when a hash of (seed, i) mapped to [0, 1) is at least
 * p, so the same request always draws the same mask and no generator state
 * is kept between runs. Kept elements are scaled by 1 / (1 - p).
 *
 * Dropout is linear in x with a mask fixed by (seed, shape, p), so its
 * VJP and JVP are dropout itself, with the same attributes, applied to the
 * gradient or tangent: the same mask, and differentiable again (HVP). */
#include "ops.h"

#include <math.h>

/* p of node n (default 0.5) and whether it drops at all. */
static double p_of(const gr_node *n) { return (n->attrs->set & A(GR_ATTR_P)) ? n->attrs->p : 0.5; }
static int active(const gr_node *n) { return !(n->attrs->set & A(GR_ATTR_TRAINING)) || n->attrs->training; }

/* p must lie in [0, 1]; y has x's shape. */
static gr_status dropout_infer(gr_graph *g, int id, gr_error *err) {
    const gr_node *n = &g->nodes[id];
    if ((n->attrs->set & A(GR_ATTR_P)) && !(n->attrs->p >= 0 && n->attrs->p <= 1))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "p", "p is %g; it must lie in [0, 1]", n->attrs->p);
    return gr_infer_same(g, id, err);
}

/* SplitMix64's finaliser: a bijection of 64-bit words that mixes well. */
static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The uniform draw in [0, 1) of element i under seed: 53 bits of
 * mix64(mix64(seed) + golden * (i + 1)). tests/parity/cases_norm.py
 * recomputes it in Python. */
static inline double draw(uint64_t seed_key, int64_t i) {
    uint64_t h = mix64(seed_key + 0x9E3779B97F4A7C15ull * ((uint64_t)i + 1));
    return (double)(h >> 11) * 0x1.0p-53;
}

#define DROPOUT_LOOP(T)                                                                                               \
    do {                                                                                                              \
        const T *x = k->in[0];                                                                                        \
        T *y = k->out;                                                                                                \
        const T sc = (T)scale;                                                                                        \
        for (int64_t i0 = 0; i0 < n; i0 += GR_CHUNK_ELEMS) {                                                          \
            if (i0 > 0 && gr_cancelled(k->cancel)) return GR_OK;                                                      \
            int64_t i1 = n - i0 < GR_CHUNK_ELEMS ? n : i0 + GR_CHUNK_ELEMS;                                           \
            for (int64_t i = i0; i < i1; i++) y[i] = x[i] * (draw(key, i) >= p ? sc : (T)0);                          \
        }                                                                                                             \
    } while (0)

/* y = x * (kept ? 1 / (1 - p) : 0), or a copy when inactive or p = 0. */
static gr_status dropout_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    const gr_node *nd = k->n;
    int64_t n = nd->numel;
    double p = p_of(nd);
    if (!active(nd) || p == 0) {
        gr_copy_chunked(k, k->out, k->in[0], n);
        return GR_OK;
    }
    /* p = 1 drops everything: a scale of 0 (the draws are < 1), so that
     * inf and NaN become NaN, as torch's x * 0. */
    uint64_t key = mix64((uint64_t)((nd->attrs->set & A(GR_ATTR_SEED)) ? nd->attrs->seed : 0));
    double scale = p < 1 ? 1 / (1 - p) : 0;
    if (k->dt == GR_F32) DROPOUT_LOOP(float);
    else DROPOUT_LOOP(double);
    return GR_OK;
}

/* The same mask and scale applied to v. */
static int same_dropout(gr_graph *g, int id, int v) {
    gr_attrs at = *g->nodes[id].attrs;
    return gr_build_apply(g, g->nodes[id].op, v, -1, -1, &at);
}
/* dx = dropout(g), dy = dropout(tx): the same mask. */
static void dropout_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    grads[0] = same_dropout(g, id, grad);
}
static int dropout_jvp(gr_graph *g, int id, const int *t) { return same_dropout(g, id, t[0]); }

/* The hash and the multiply: about 4 operations an element. */
static int64_t dropout_flops(const gr_graph *g, const gr_node *n) { (void)g; return 4 * n->numel; }

const gr_op gr_op_dropout = {
    .name = "dropout", .arity = 1, .attrs = A(GR_ATTR_P) | A(GR_ATTR_SEED) | A(GR_ATTR_TRAINING),
    .doc = "y = x * mask / (1 - p) (torch.nn.functional.dropout), p default 0.5; element i is kept when "
           "u(seed, i) >= p, u a counter-based hash of the seed (default 0) and the flat index mapped to [0, 1): "
           "the same seed and shape give the same mask, with no state between requests (torch's masks come from "
           "its generator and differ). A dropped element is x * 0, as torch (inf and NaN give NaN). p = 0 or "
           "training=false: identity; p = 1: x * 0. dx = dropout(g) with the same mask (it is linear in x).",
    .infer = dropout_infer, .forward = dropout_forward, .vjp = dropout_vjp, .jvp = dropout_jvp, .flops = dropout_flops,
};

const gr_op *const gr_ops_dropout[] = {&gr_op_dropout, NULL};
