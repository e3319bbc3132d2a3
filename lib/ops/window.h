/* window.h -- what convolution (conv.c) and pooling (pool.c) share: the
 * per-spatial-dim attributes (stride, padding, dilation, kernel_size,
 * output_padding), read from a list of one entry (all dims) or one entry
 * per spatial dim. Spatial dims are the last one (1-D) or two (2-D) of an
 * NCHW tensor; a 1-D window is held as a 2-D one of height 1. */
#ifndef GRAD_OPS_WINDOW_H
#define GRAD_OPS_WINDOW_H

#include "ops.h"

/* The value of list attribute id of node n for nsp spatial dims (1 or 2)
 * into out[2] (out[0] the height, out[1] the width; a 1-D op gets out[0]
 * = fallback_h and out[1] the value). Absent: def for every dim. Returns
 * GR_OK, or GR_E_ARG naming the attribute when the list has neither 1 nor
 * nsp entries. */
gr_status gr_window_attr(gr_graph *g, int id, gr_attr_id attr, int nsp, int64_t def, int64_t fallback_h,
                         int64_t out[2], gr_error *err);

/* Same, for a node known to be valid (after its infer succeeded). */
void gr_window_attr_of(const gr_node *n, gr_attr_id attr, int nsp, int64_t def, int64_t fallback_h, int64_t out[2]);

#endif
