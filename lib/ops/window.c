/* window.c -- the per-spatial-dim attributes of convolution and pooling
 * (see window.h). */
#include "window.h"

/* Entries and values of list attribute attr in a (NULL when it is not a
 * window attribute). */
static const int *window_list(const gr_attrs *a, gr_attr_id attr, int *count) {
    switch (attr) {
    case GR_ATTR_STRIDE: *count = a->nstride; return a->stride;
    case GR_ATTR_PADDING: *count = a->npadding; return a->padding;
    case GR_ATTR_DILATION: *count = a->ndilation; return a->dilation;
    case GR_ATTR_KERNEL_SIZE: *count = a->nkernel_size; return a->kernel_size;
    case GR_ATTR_OUTPUT_PADDING: *count = a->noutput_padding; return a->output_padding;
    default: *count = 0; return NULL;
    }
}

void gr_window_attr_of(const gr_node *n, gr_attr_id attr, int nsp, int64_t def, int64_t fallback_h, int64_t out[2]) {
    int count = 0;
    const int *v = window_list(n->attrs, attr, &count);
    int given = v && (n->attrs->set & GR_ATTR_BIT(attr)) && count > 0;
    if (nsp == 1) {
        out[0] = fallback_h;
        out[1] = given ? v[0] : def;
        return;
    }
    out[0] = given ? v[0] : def;
    out[1] = given ? v[count > 1 ? 1 : 0] : def;
}

gr_status gr_window_attr(gr_graph *g, int id, gr_attr_id attr, int nsp, int64_t def, int64_t fallback_h,
                         int64_t out[2], gr_error *err) {
    const gr_node *n = &g->nodes[id];
    int count = 0;
    window_list(n->attrs, attr, &count);
    if ((n->attrs->set & GR_ATTR_BIT(attr)) && count != 1 && count != nsp)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, gr_attr_name(attr),
                          "'%s' has %d entries; give one (for every spatial dim) or %d",
                          gr_attr_name(attr), count, nsp);
    gr_window_attr_of(n, attr, nsp, def, fallback_h, out);
    return GR_OK;
}
