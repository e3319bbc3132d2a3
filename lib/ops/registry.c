/* registry.c -- the op table as the rest of libgrad and the API see it:
 * the families of lib/ops/ concatenated, looked up by name (the attribute
 * table is lib/attr.c). Adding an op to a family array needs nothing here. */
#include "../internal.h"

#include <string.h>

static const gr_op *const *const families[] = {gr_ops_unary,    gr_ops_binary, gr_ops_reduce, gr_ops_join, gr_ops_index,
                                                gr_ops_movement, gr_ops_linalg, gr_ops_nn,
                                                gr_ops_rearrange, gr_ops_pad, gr_ops_triangle, gr_ops_constant,
                                                gr_ops_compare, gr_ops_binary_math, gr_ops_einsum,
                                                gr_ops_stats, gr_ops_scan, gr_ops_arg, gr_ops_loss,
                                                gr_ops_norm, gr_ops_dropout, gr_ops_attention,
                                                gr_ops_conv, gr_ops_pool, gr_ops_math, gr_ops_activation,
                                                gr_ops_topk, gr_ops_resize, gr_ops_det};
#define NFAMILIES ((int)(sizeof families / sizeof families[0]))

int gr_op_count(void) {
    int n = 0;
    for (int f = 0; f < NFAMILIES; f++)
        for (int i = 0; families[f][i]; i++) n++;
    return n;
}

const gr_op *gr_op_at(int idx) {
    if (idx < 0) return NULL;
    for (int f = 0; f < NFAMILIES; f++)
        for (int i = 0; families[f][i]; i++)
            if (idx-- == 0) return families[f][i];
    return NULL;
}

const gr_op *gr_op_find(const char *name) {
    if (!name) return NULL;
    for (int f = 0; f < NFAMILIES; f++)
        for (int i = 0; families[f][i]; i++)
            if (strcmp(families[f][i]->name, name) == 0) return families[f][i];
    return NULL;
}

const char *gr_op_name(const gr_op *op) { return op->name; }
int gr_op_arity(const gr_op *op) { return op->arity; }
int gr_op_min_operands(const gr_op *op) { return op->arity == GR_VARIADIC ? op->min_operands : op->arity; }
gr_attr_mask gr_op_attrs(const gr_op *op) { return op->attrs; }
gr_attr_mask gr_op_required_attrs(const gr_op *op) { return op->required; }
const char *gr_op_doc(const gr_op *op) { return op->doc; }
unsigned gr_op_nondiff(const gr_op *op) { return op->nondiff; }
