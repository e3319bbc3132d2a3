/* shape.c -- overflow-safe shape arithmetic, broadcasting and axes. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

size_t gr_dtype_size(gr_dtype dt) { return dt == GR_F32 ? 4 : 8; }
const char *gr_dtype_name(gr_dtype dt) { return dt == GR_F32 ? "float32" : "float64"; }

gr_limits gr_limits_default(void) {
    gr_limits l = {.max_nodes = 1 << 20,
                   .max_elements = (int64_t)1 << 28,
                   .max_plan_bytes = (int64_t)4 << 30,
                   .max_rank = GR_MAX_RANK};
    return l;
}

gr_status gr_shape_make(gr_shape *out, int rank, const int64_t *dims, gr_error *err) {
    memset(out, 0, sizeof *out);
    if (rank < 0 || rank > GR_MAX_RANK)
        return gr_fail(err, GR_E_ARG, NULL, -1, "rank %d is outside 0..%d", rank, GR_MAX_RANK);
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) return gr_fail(err, GR_E_ARG, NULL, -1, "dimension %d is negative (%lld)", i, (long long)dims[i]);
        out->dims[i] = dims[i];
    }
    out->rank = rank;
    return GR_OK;
}

gr_status gr_shape_numel(const gr_shape *s, int64_t max_elements, int64_t *numel, gr_error *err) {
    int64_t n = 1;
    char buf[160];
    for (int i = 0; i < s->rank; i++) {
        if (!gr_mul_ok(n, s->dims[i], &n))
            return gr_fail(err, GR_E_OVERFLOW, NULL, -1, "shape %s has more elements than fit in 64 bits",
                           gr_shape_str(s, buf, sizeof buf));
    }
    if (n > max_elements)
        return gr_fail(err, GR_E_LIMIT, NULL, -1, "shape %s has %lld elements, over the limit of %lld",
                       gr_shape_str(s, buf, sizeof buf), (long long)n, (long long)max_elements);
    *numel = n;
    return GR_OK;
}

int gr_shape_equal(const gr_shape *a, const gr_shape *b) {
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

gr_status gr_shape_broadcast(const gr_shape *a, const gr_shape *b, gr_shape *out, gr_error *err) {
    gr_shape r;
    memset(&r, 0, sizeof r);
    r.rank = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r.rank; i++) {
        int ia = a->rank - r.rank + i, ib = b->rank - r.rank + i;
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da == db || db == 1) r.dims[i] = da;
        else if (da == 1) r.dims[i] = db;
        else {
            char sa[160], sb[160];
            return gr_fail(err, GR_E_SHAPE, NULL, -1, "shapes %s and %s do not broadcast (axis %d: %lld vs %lld)",
                           gr_shape_str(a, sa, sizeof sa), gr_shape_str(b, sb, sizeof sb), i - r.rank,
                           (long long)da, (long long)db);
        }
    }
    *out = r;
    return GR_OK;
}

char *gr_shape_str(const gr_shape *s, char *buf, size_t cap) {
    size_t k = 0;
    if (cap == 0) return buf;
    buf[0] = '\0';
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int i = 0; i < s->rank && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %lld" : "%lld", (long long)s->dims[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

int gr_axis_norm(int axis, int rank, int *out) {
    int a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) return 0;
    *out = a;
    return 1;
}

gr_status gr_axes_mask(const gr_attrs *a, int rank, unsigned *mask, gr_error *err, const char *node) {
    unsigned m = 0;
    gr_attrs one;
    if ((a->set & (GR_ATTR_BIT(GR_ATTR_AXES))) && (a->set & (GR_ATTR_BIT(GR_ATTR_AXIS)))) {
        gr_fail(err, GR_E_ARG, node, -1, "give either axis or axes, not both");
        if (err) snprintf(err->attr, sizeof err->attr, "axis");
        return GR_E_ARG;
    }
    const char *attr = (a->set & (GR_ATTR_BIT(GR_ATTR_AXIS))) ? "axis" : "axes"; /* as the caller spelled it */
    if (a->set & (GR_ATTR_BIT(GR_ATTR_AXIS))) { /* NumPy's spelling for one axis */
        one = *a;
        one.naxes = 1;
        one.axes[0] = a->axis;
        one.set |= GR_ATTR_BIT(GR_ATTR_AXES);
        a = &one;
    }
    if (!(a->set & (GR_ATTR_BIT(GR_ATTR_AXES)))) {
        *mask = rank ? (1u << rank) - 1 : 0;
        return GR_OK;
    }
    for (int i = 0; i < a->naxes; i++) {
        int ax;
        if (!gr_axis_norm(a->axes[i], rank, &ax)) {
            gr_fail(err, GR_E_ARG, node, 0, "axis %d is out of range for rank %d", a->axes[i], rank);
            if (err) snprintf(err->attr, sizeof err->attr, "%s", attr);
            return GR_E_ARG;
        }
        if (m & (1u << ax)) {
            gr_fail(err, GR_E_ARG, node, 0, "axis %d is repeated", a->axes[i]);
            if (err) snprintf(err->attr, sizeof err->attr, "%s", attr);
            return GR_E_ARG;
        }
        m |= 1u << ax;
    }
    *mask = m;
    return GR_OK;
}

gr_shape gr_shape_keep(const gr_shape *s, unsigned mask) {
    gr_shape r = *s;
    for (int i = 0; i < s->rank; i++)
        if (mask & (1u << i)) r.dims[i] = 1;
    return r;
}

gr_shape gr_shape_drop(const gr_shape *s, unsigned mask) {
    gr_shape r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < s->rank; i++)
        if (!(mask & (1u << i))) r.dims[r.rank++] = s->dims[i];
    return r;
}

void gr_shape_strides(const gr_shape *s, int64_t *strides) {
    int64_t st = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        strides[i] = st;
        st *= s->dims[i];
    }
}

gr_status gr_node_set_shape(gr_graph *g, int id, const gr_shape *s, gr_error *err) {
    gr_node *n = &g->nodes[id];
    int64_t numel = 0;
    if (s->rank > g->lim.max_rank)
        return gr_fail_node(err, GR_E_LIMIT, g, id, -1, "result has rank %d, over the limit of %d", s->rank,
                            g->lim.max_rank);
    gr_status st = gr_shape_numel(s, g->lim.max_elements, &numel, err);
    if (st != GR_OK) {
        if (err) {
            char buf[32];
            snprintf(err->node, sizeof err->node, "%s", gr_node_name(g, id, buf, sizeof buf));
        }
        return st;
    }
    n->shape = *s;
    n->numel = numel;
    return GR_OK;
}
