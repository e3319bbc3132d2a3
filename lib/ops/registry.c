/* registry.c -- the op table as the rest of libgrad and the API see it:
 * the families of lib/ops/ concatenated, looked up by name, plus the
 * attribute table. Adding an op to a family array needs nothing here. */
#include "../internal.h"

#include <string.h>

static const gr_op *const *const families[] = {gr_ops_unary,    gr_ops_binary, gr_ops_reduce,
                                                gr_ops_movement, gr_ops_linalg, gr_ops_nn};
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
unsigned gr_op_attrs(const gr_op *op) { return op->attrs; }
unsigned gr_op_required_attrs(const gr_op *op) { return op->required; }
const char *gr_op_doc(const gr_op *op) { return op->doc; }
unsigned gr_op_nondiff(const gr_op *op) { return op->nondiff; }

static const struct {
    const char *name;
    gr_attr_type type;
} attr_table[GR_ATTR_COUNT] = {
    [GR_ATTR_AXES] = {"axes", GR_ATTR_INTS},
    [GR_ATTR_KEEPDIMS] = {"keepdims", GR_ATTR_BOOL},
    [GR_ATTR_AXIS] = {"axis", GR_ATTR_INT},
    [GR_ATTR_SHAPE] = {"shape", GR_ATTR_INTS},
    [GR_ATTR_PERM] = {"perm", GR_ATTR_INTS},
    [GR_ATTR_TRANSPOSE_A] = {"transpose_a", GR_ATTR_BOOL},
    [GR_ATTR_TRANSPOSE_B] = {"transpose_b", GR_ATTR_BOOL},
    [GR_ATTR_VALUE] = {"value", GR_ATTR_NUMBER},
    [GR_ATTR_NUM_CLASSES] = {"num_classes", GR_ATTR_INT},
};

const char *gr_attr_name(gr_attr_id id) { return (unsigned)id < GR_ATTR_COUNT ? attr_table[id].name : "?"; }
gr_attr_type gr_attr_type_of(gr_attr_id id) { return attr_table[id].type; }

int gr_attr_lookup(const char *name) {
    for (int i = 0; i < GR_ATTR_COUNT; i++)
        if (strcmp(attr_table[i].name, name) == 0) return i;
    return -1;
}

void gr_attrs_set_int(gr_attrs *a, gr_attr_id id, int64_t v) {
    a->set |= 1u << id;
    switch (id) {
    case GR_ATTR_KEEPDIMS: a->keepdims = v != 0; break;
    case GR_ATTR_AXIS: a->axis = (int)(v < -1000 ? -1000 : v > 1000 ? 1000 : v); break;
    case GR_ATTR_TRANSPOSE_A: a->transpose_a = v != 0; break;
    case GR_ATTR_TRANSPOSE_B: a->transpose_b = v != 0; break;
    case GR_ATTR_NUM_CLASSES: a->num_classes = v; break;
    case GR_ATTR_VALUE: a->value = (double)v; break;
    default: a->set &= ~(1u << id); break;
    }
}

void gr_attrs_set_number(gr_attrs *a, gr_attr_id id, double v) {
    if (id == GR_ATTR_VALUE) {
        a->set |= 1u << id;
        a->value = v;
    }
}

gr_status gr_attrs_set_ints(gr_attrs *a, gr_attr_id id, const int64_t *v, int n, gr_error *err) {
    if (n < 0 || n > GR_MAX_RANK) {
        gr_fail(err, GR_E_ARG, NULL, -1, "attribute '%s' has %d entries, at most %d are allowed", gr_attr_name(id), n,
                GR_MAX_RANK);
        if (err) strcpy(err->attr, gr_attr_name(id));
        return GR_E_ARG;
    }
    for (int i = 0; i < n; i++) {
        /* Axes and permutations are small; shape entries are >= -1. */
        int64_t lo = id == GR_ATTR_SHAPE ? -1 : -GR_MAX_RANK - 1000, hi = id == GR_ATTR_SHAPE ? INT64_MAX : 1000;
        if (v[i] < lo || v[i] > hi) {
            gr_fail(err, GR_E_ARG, NULL, -1, "attribute '%s' entry %d (%lld) is out of range", gr_attr_name(id), i,
                    (long long)v[i]);
            if (err) strcpy(err->attr, gr_attr_name(id));
            return GR_E_ARG;
        }
    }
    switch (id) {
    case GR_ATTR_AXES:
        a->naxes = n;
        for (int i = 0; i < n; i++) a->axes[i] = (int)v[i];
        break;
    case GR_ATTR_PERM:
        a->nperm = n;
        for (int i = 0; i < n; i++) a->perm[i] = (int)v[i];
        break;
    case GR_ATTR_SHAPE:
        memset(&a->shape, 0, sizeof a->shape);
        a->shape.rank = n;
        for (int i = 0; i < n; i++) a->shape.dims[i] = v[i];
        break;
    default:
        gr_fail(err, GR_E_ARG, NULL, -1, "attribute '%s' is not a list", gr_attr_name(id));
        return GR_E_ARG;
    }
    a->set |= 1u << id;
    return GR_OK;
}
