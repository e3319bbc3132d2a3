/* loss.h -- what the losses (loss.c, and cross_entropy in nn.c) share: the
 * reduction attribute read as an enum, and the label that counts for
 * nothing. */
#ifndef GRAD_OPS_LOSS_H
#define GRAD_OPS_LOSS_H

#include "ops.h"

#include <stdio.h>
#include <string.h>

typedef enum gr_reduction { GR_RED_MEAN, GR_RED_SUM, GR_RED_NONE, GR_RED_BATCHMEAN } gr_reduction;

/* Node n's reduction: 'mean' when absent. */
static inline gr_reduction gr_node_reduction(const gr_node *n) {
    if (!(n->attrs->set & GR_ATTR_BIT(GR_ATTR_REDUCTION))) return GR_RED_MEAN;
    if (!strcmp(n->attrs->reduction, "sum")) return GR_RED_SUM;
    if (!strcmp(n->attrs->reduction, "none")) return GR_RED_NONE;
    if (!strcmp(n->attrs->reduction, "batchmean")) return GR_RED_BATCHMEAN;
    return GR_RED_MEAN;
}

/* Node n's ignore_index: PyTorch's -100 when absent. */
static inline int64_t gr_node_ignore_index(const gr_node *n) {
    return (n->attrs->set & GR_ATTR_BIT(GR_ATTR_IGNORE_INDEX)) ? n->attrs->ignore_index : -100;
}

/* Read label i of operand `operand` of kernel k (classes wide). Returns 1
 * with the class in *out, 0 for a label equal to *ignore (ignore may be
 * NULL: none), or -1 with *err set (GR_E_VALUE naming the node and operand)
 * for anything else that is not a whole number in [0, classes). */
static inline int gr_read_class(const gr_kernel *k, int operand, int64_t i, int64_t classes, const int64_t *ignore,
                                int64_t *out, gr_error *err) {
    double v = k->dt == GR_F32 ? (double)((const float *)k->in[operand])[i] : ((const double *)k->in[operand])[i];
    if (ignore && v == (double)*ignore) return 0;
    if (!(v >= 0 && v < (double)classes) || v != (double)(int64_t)v) {
        char buf[32], also[64] = "";
        if (ignore) snprintf(also, sizeof also, " (or ignore_index %lld)", (long long)*ignore);
        gr_fail(err, GR_E_VALUE, gr_node_name(k->g, (int)(k->n - k->g->nodes), buf, sizeof buf), operand,
                "%s: label %lld is %g; labels must be whole numbers in [0, %lld)%s", k->n->op->name, (long long)i, v,
                (long long)classes, also);
        return -1;
    }
    *out = (int64_t)v;
    return 1;
}

#endif
