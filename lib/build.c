/* build.c -- the graph builder derivative rules are written in. Errors are
 * sticky (g->failed, g->berr): a rule just composes calls, and autodiff
 * checks once at the end of each rule. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

int gr_build_apply(gr_graph *g, const gr_op *op, int a, int b, int c, const gr_attrs *attrs) {
    int ops[3] = {a, b, c};
    if (g->failed) return -1;
    for (int k = 0; k < op->arity; k++)
        if (ops[k] < 0) {
            g->failed = 1;
            gr_fail(&g->berr, GR_E_STATE, NULL, k, "internal: a derivative rule used a missing node for '%s'",
                    op->name);
            return -1;
        }
    int id = gr_graph_apply(g, NULL, op, ops, op->arity, attrs, &g->berr);
    if (id < 0) g->failed = 1;
    return id;
}

int gr_build_apply_n(gr_graph *g, const gr_op *op, const int *ids, int n, const gr_attrs *attrs) {
    if (g->failed) return -1;
    for (int k = 0; k < n; k++)
        if (ids[k] < 0) {
            g->failed = 1;
            gr_fail(&g->berr, GR_E_STATE, NULL, k, "internal: a derivative rule used a missing node for '%s'",
                    op->name);
            return -1;
        }
    int id = gr_graph_apply(g, NULL, op, ids, n, attrs, &g->berr);
    if (id < 0) g->failed = 1;
    return id;
}

int gr_build_unary(gr_graph *g, const gr_op *op, int a) { return gr_build_apply(g, op, a, -1, -1, NULL); }
int gr_build_binary(gr_graph *g, const gr_op *op, int a, int b) { return gr_build_apply(g, op, a, b, -1, NULL); }

/* Slot of key in the scalar cache (its id or an empty slot). */
static size_t scalar_slot(const gr_graph *g, uint64_t key) {
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (g->scalar_cap - 1);
    while (g->scalar_ids[i] >= 0 && g->scalar_keys[i] != key) i = (i + 1) & (g->scalar_cap - 1);
    return i;
}

/* Grow the cache to twice its size (16 to start). 0 when out of memory. */
static int scalar_grow(gr_graph *g) {
    size_t old_cap = g->scalar_cap, cap = old_cap ? old_cap * 2 : 16;
    uint64_t *keys = malloc(cap * sizeof *keys), *old_keys = g->scalar_keys;
    int *ids = malloc(cap * sizeof *ids), *old_ids = g->scalar_ids;
    if (!keys || !ids) {
        free(keys);
        free(ids);
        return 0;
    }
    for (size_t i = 0; i < cap; i++) ids[i] = -1;
    g->scalar_keys = keys;
    g->scalar_ids = ids;
    g->scalar_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old_ids[i] < 0) continue;
        size_t j = scalar_slot(g, old_keys[i]);
        keys[j] = old_keys[i];
        ids[j] = old_ids[i];
    }
    free(old_keys);
    free(old_ids);
    return 1;
}

int gr_build_scalar(gr_graph *g, double v) {
    if (g->failed) return -1;
    float f = (float)v;
    if (g->dt == GR_F32) v = f; /* one node per distinct value of the dtype */
    uint64_t key;
    memcpy(&key, &v, sizeof key);
    if ((g->scalar_used + 1) * 2 > g->scalar_cap && !scalar_grow(g)) {
        g->failed = 1;
        gr_fail(&g->berr, GR_E_NOMEM, NULL, -1, "out of memory building derivative nodes");
        return -1;
    }
    size_t slot = scalar_slot(g, key);
    if (g->scalar_ids[slot] >= 0) return g->scalar_ids[slot];
    gr_shape s = {0};
    int id = gr_graph_const(g, NULL, &s, g->dt == GR_F32 ? (const void *)&f : (const void *)&v, &g->berr);
    if (id < 0) {
        g->failed = 1;
        return -1;
    }
    g->scalar_keys[slot] = key;
    g->scalar_ids[slot] = id;
    g->scalar_used++;
    return id;
}

int gr_build_fill(gr_graph *g, const gr_shape *s, double v) {
    gr_attrs at = {0};
    at.set = (GR_ATTR_BIT(GR_ATTR_SHAPE)) | (GR_ATTR_BIT(GR_ATTR_VALUE));
    at.shape = *s;
    at.value = v;
    return gr_build_apply(g, &gr_op_fill, -1, -1, -1, &at);
}

static int shaped(gr_graph *g, const gr_op *op, int a, const gr_shape *s) {
    if (a < 0 || g->failed) return -1;
    if (gr_shape_equal(gr_shape_of(g, a), s)) return a;
    gr_attrs at = {0};
    at.set = GR_ATTR_BIT(GR_ATTR_SHAPE);
    at.shape = *s;
    return gr_build_apply(g, op, a, -1, -1, &at);
}

int gr_build_reshape(gr_graph *g, int a, const gr_shape *s) { return shaped(g, &gr_op_reshape, a, s); }
int gr_build_expand(gr_graph *g, int a, const gr_shape *s) { return shaped(g, &gr_op_expand, a, s); }
int gr_build_sum_to(gr_graph *g, int a, const gr_shape *s) { return shaped(g, &gr_op_sum_to, a, s); }

int gr_build_sum(gr_graph *g, int a, const int *axes, int naxes, int keepdims) {
    gr_attrs at = {0};
    if (naxes > 0) {
        at.set |= GR_ATTR_BIT(GR_ATTR_AXES);
        at.naxes = naxes;
        memcpy(at.axes, axes, (size_t)naxes * sizeof *axes);
    }
    at.set |= GR_ATTR_BIT(GR_ATTR_KEEPDIMS);
    at.keepdims = keepdims;
    return gr_build_apply(g, &gr_op_sum, a, -1, -1, &at);
}

/* 1 when node id's values are 0s and 1s by its op (a comparison). */
static int is_predicate(const gr_graph *g, int id) {
    const gr_node *n = &g->nodes[id];
    return n->kind == GR_OPNODE && (n->op->flags & GR_OPF_PREDICATE);
}

int gr_build_masked_partial(gr_graph *g, int mask, int d) { return gr_build_binary(g, &gr_op_mul, mask, d); }

/* a times the partial derivative p. Where a rule makes the partial 0, the
 * result is +0, as PyTorch's backward formulas make it (where(mask, grad,
 * 0)): a product would give -0 for a negative a, and NaN for an infinite or
 * NaN one. So a p of 0s and 1s (a comparison: clip's or hardtanh's mask)
 * selects a, and a p built by gr_build_masked_partial(mask, d) is a d
 * selected by mask. (Other zeros are products, as PyTorch's are where its
 * formula multiplies: pow's exponent at a zero base, copysign at 0.) */
int gr_build_mul_partial(gr_graph *g, int a, int partial) {
    if (partial == GR_PARTIAL_ONE) return a;
    if (partial == GR_PARTIAL_NEG_ONE) return gr_build_unary(g, &gr_op_neg, a);
    if (is_predicate(g, partial)) return gr_build_apply(g, &gr_op_where, partial, a, gr_build_scalar(g, 0), NULL);
    const gr_node *p = &g->nodes[partial];
    if (p->kind == GR_OPNODE && p->op == &gr_op_mul && is_predicate(g, p->in[0])) {
        int mask = p->in[0], d = p->in[1]; /* p moves as nodes are added */
        return gr_build_apply(g, &gr_op_where, mask, gr_build_mul_partial(g, a, d), gr_build_scalar(g, 0), NULL);
    }
    return gr_build_binary(g, &gr_op_mul, a, partial);
}
