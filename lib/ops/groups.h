/* groups.h -- a tensor seen as groups of the elements that one reduction
 * folds together: the kernels of min/prod's helpers, logsumexp, var, std,
 * norm, argmax/argmin, cumsum and cumprod walk a group at a time. Group o
 * is output element o of the reduction (kept dims in row-major order); its
 * elements come in row-major order of the reduced dims, so "first" and
 * "along the axis" mean what they say. */
#ifndef GRAD_OPS_GROUPS_H
#define GRAD_OPS_GROUPS_H

#include "ops.h"

typedef struct gr_groups {
    int64_t n_groups;               /* product of the kept dims (1 when none) */
    int64_t len;                    /* product of the reduced dims (1 when none) */
    int nkept, nred;
    int64_t kdims[GR_MAX_RANK];     /* (nkept) kept dims and their element strides in x */
    int64_t kstr[GR_MAX_RANK];
    int64_t rdims[GR_MAX_RANK];     /* (nred) reduced dims and their element strides in x */
    int64_t rstr[GR_MAX_RANK];
} gr_groups;

/* Split x (row-major) into the groups of a reduction over the axes in mask. */
static inline void gr_groups_init(gr_groups *G, const gr_shape *x, unsigned mask) {
    int64_t st[GR_MAX_RANK];
    gr_shape_strides(x, st);
    G->n_groups = G->len = 1;
    G->nkept = G->nred = 0;
    for (int i = 0; i < x->rank; i++) {
        if (mask & (1u << i)) {
            G->rdims[G->nred] = x->dims[i];
            G->rstr[G->nred++] = st[i];
            G->len *= x->dims[i];
        } else {
            G->kdims[G->nkept] = x->dims[i];
            G->kstr[G->nkept++] = st[i];
            G->n_groups *= x->dims[i];
        }
    }
}

/* Element offset in x of group o's first element. */
static inline int64_t gr_groups_base(const gr_groups *G, int64_t o) {
    int64_t off = 0;
    for (int d = G->nkept - 1; d >= 0; d--) {
        off += (o % G->kdims[d]) * G->kstr[d];
        o /= G->kdims[d];
    }
    return off;
}

/* for each element of the group starting at offset base: BODY with OFF its
 * offset in x and R its index in the group (0 .. len-1). */
#define GROUP_FOR(G, base, R, OFF, ...)                                                                               \
    do {                                                                                                              \
        int64_t idx_[GR_MAX_RANK] = {0}, OFF = (base);                                                                \
        for (int64_t R = 0; R < (G)->len; R++) {                                                                      \
            __VA_ARGS__;                                                                                              \
            for (int d_ = (G)->nred - 1; d_ >= 0; d_--) {                                                             \
                OFF += (G)->rstr[d_];                                                                                 \
                if (++idx_[d_] < (G)->rdims[d_]) break;                                                               \
                OFF -= (G)->rstr[d_] * (G)->rdims[d_];                                                                \
                idx_[d_] = 0;                                                                                         \
            }                                                                                                         \
        }                                                                                                             \
    } while (0)

/* Element i of a buffer of dtype dt, as a double, and stored from one. */
static inline double gr_get(gr_dtype dt, const void *p, int64_t i) {
    return dt == GR_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}
static inline void gr_put(gr_dtype dt, void *p, int64_t i, double v) {
    if (dt == GR_F32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

/* The reduction mask of node id (axis or axes; all when neither) over its
 * operand 0, validated at inference. */
static inline unsigned gr_node_reduce_mask(const gr_graph *g, const gr_node *n) {
    unsigned mask = 0;
    gr_axes_mask(n->attrs, g->nodes[n->in[0]].shape.rank, &mask, NULL, NULL);
    return mask;
}

#endif
