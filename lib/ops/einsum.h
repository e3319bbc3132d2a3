/* einsum.h -- einsum's equation read against operand shapes: the labels
 * (letters, and one per ellipsis dim), their sizes, and which label each
 * axis of each operand and of the output carries (lib/ops/einsum_spec.c).
 * Shared by the einsum op (lib/ops/einsum.c). */
#ifndef GRAD_EINSUM_H
#define GRAD_EINSUM_H

#include "ops.h"

#define ES_MAX_OPS 8 /* operands of one einsum */
#define ES_MAX_LABELS 64 /* 52 letters and at most GR_MAX_RANK ellipsis dims */

/* An equation read against operand shapes. */
typedef struct es_spec {
    int nops;
    int rank[ES_MAX_OPS];
    int sub[ES_MAX_OPS][GR_MAX_RANK];   /* (nops, rank[k]) label of each operand axis */
    int out_rank;
    int out[GR_MAX_RANK];               /* (out_rank) label of each output axis */
    int nlabels;
    int64_t size[ES_MAX_LABELS];        /* (nlabels) the label's size */
    char name[ES_MAX_LABELS];           /* (nlabels) the label's letter */
} es_spec;

/* Read equation eq for nops operands of the given shapes into *sp. 0; -1
 * for a malformed equation, -2 for operand shapes that do not fit it; a
 * sentence in msg (capacity cap) either way. Labels 0..E-1 are the
 * ellipsis dims (aligned right across the operands), named by letters the
 * equation does not use; a dim of 1 broadcasts; without "->" the output is
 * the ellipsis, then the letters used exactly once, in ASCII order. */
int gr_einsum_parse(const char *eq, int nops, const gr_shape *const *shapes, es_spec *sp, char *msg, size_t cap);

#endif
