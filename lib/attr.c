/* attr.c -- the attribute table (see gr_attr_def in grad.h): one row per
 * attribute with its name, type, storage in gr_attrs, valid range, default
 * and description; the range rule; and the generic store and load that
 * replace per-attribute switches. */
#include "internal.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define AT(field) offsetof(gr_attrs, field)
#define WIDTH(field) sizeof(((gr_attrs *)0)->field)
/* An integer, a list of integers (entries at field[0], count at count) or a
 * bool stored in field. */
#define INT_ROW(id, field) id, AT(field), 0, WIDTH(field)
#define LIST_ROW(id, field, count) id, AT(field), AT(count), WIDTH(field[0])

static const char *const reductions[] = {"mean", "sum", NULL};

_Static_assert(GR_ATTR_COUNT <= 64, "gr_attr_mask has 64 bits");

static const gr_attr_def table[GR_ATTR_COUNT] = {
    [GR_ATTR_AXES] = {"axes", GR_ATTR_INTS, LIST_ROW(GR_ATTR_AXES, axes, naxes), -GR_MAX_RANK, GR_MAX_RANK - 1, NULL,
                      "reduction axes of sum, mean, max; absent: all axes; negative axes count from the end"},
    [GR_ATTR_KEEPDIMS] = {"keepdims", GR_ATTR_BOOL, INT_ROW(GR_ATTR_KEEPDIMS, keepdims), 0, 1, "false",
                          "keep reduced axes as size 1"},
    [GR_ATTR_AXIS] = {"axis", GR_ATTR_INT, INT_ROW(GR_ATTR_AXIS, axis), -GR_MAX_RANK, GR_MAX_RANK - 1, NULL,
                      "one axis: softmax and log_softmax use -1 when absent; sum, mean, max reduce it (absent: all)"},
    [GR_ATTR_SHAPE] = {"shape", GR_ATTR_INTS, LIST_ROW(GR_ATTR_SHAPE, shape.dims, shape.rank), -1, INT64_MAX, NULL,
                       "target shape of reshape (one -1 allowed), expand, sum_to, fill"},
    [GR_ATTR_PERM] = {"perm", GR_ATTR_INTS, LIST_ROW(GR_ATTR_PERM, perm, nperm), -GR_MAX_RANK, GR_MAX_RANK - 1, NULL,
                      "transpose permutation; absent: the axes reversed"},
    [GR_ATTR_TRANSPOSE_A] = {"transpose_a", GR_ATTR_BOOL, INT_ROW(GR_ATTR_TRANSPOSE_A, transpose_a), 0, 1, "false",
                             "matmul uses the transpose of its first operand"},
    [GR_ATTR_TRANSPOSE_B] = {"transpose_b", GR_ATTR_BOOL, INT_ROW(GR_ATTR_TRANSPOSE_B, transpose_b), 0, 1, "false",
                             "matmul uses the transpose of its second operand"},
    [GR_ATTR_VALUE] = {"value", GR_ATTR_NUMBER, GR_ATTR_VALUE, AT(value), 0, 0, 0, 0, NULL,
                       "the value of fill"},
    [GR_ATTR_NUM_CLASSES] = {"num_classes", GR_ATTR_INT, INT_ROW(GR_ATTR_NUM_CLASSES, num_classes), 0, INT64_MAX,
                             NULL, "the width of one_hot"},
    [GR_ATTR_REDUCTION] = {"reduction", GR_ATTR_STRING, GR_ATTR_REDUCTION, AT(reduction), 0, 0, 1, GR_ATTR_STR_MAX - 1,
                           "\"mean\"", "how cross_entropy reduces its rows: their mean or their sum", reductions},
};

const gr_attr_def *gr_attr_def_of(gr_attr_id id) { return (unsigned)id < GR_ATTR_COUNT ? &table[id] : NULL; }
const char *gr_attr_name(gr_attr_id id) { return (unsigned)id < GR_ATTR_COUNT ? table[id].name : "?"; }
gr_attr_type gr_attr_type_of(gr_attr_id id) { return (unsigned)id < GR_ATTR_COUNT ? table[id].type : GR_ATTR_INT; }

int gr_attr_lookup(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < GR_ATTR_COUNT; i++)
        if (strcmp(table[i].name, name) == 0) return i;
    return -1;
}

const char *gr_attr_type_name(gr_attr_type t) {
    static const char *const names[] = {[GR_ATTR_INT] = "int", [GR_ATTR_INTS] = "ints", [GR_ATTR_BOOL] = "bool",
                                        [GR_ATTR_NUMBER] = "number", [GR_ATTR_STRING] = "string"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* Fail with GR_E_ARG naming attribute d. */
static gr_status attr_fail(gr_error *err, const gr_attr_def *d, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static gr_status attr_fail(gr_error *err, const gr_attr_def *d, const char *fmt, ...) {
    if (!err) return GR_E_ARG;
    char msg[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gr_fail(err, GR_E_ARG, NULL, -1, "%s", msg);
    snprintf(err->attr, sizeof err->attr, "%s", d->name);
    return GR_E_ARG;
}

gr_status gr_attr_check(const gr_attr_def *d, const gr_attr_value *v, gr_error *err) {
    if (!d || !v) return GR_E_ARG;
    if (v->type != d->type)
        return attr_fail(err, d, "attribute '%s' takes a value of type %s, not %s", d->name,
                         gr_attr_type_name(d->type), gr_attr_type_name(v->type));
    switch (d->type) {
    case GR_ATTR_INT:
        if (v->i < d->min || v->i > d->max)
            return attr_fail(err, d, "attribute '%s' is %lld, outside its range %lld to %lld", d->name,
                             (long long)v->i, (long long)d->min, (long long)d->max);
        break;
    case GR_ATTR_INTS:
        if (v->n < 0 || v->n > GR_MAX_RANK)
            return attr_fail(err, d, "attribute '%s' has %d entries, at most %d are allowed", d->name, v->n,
                             GR_MAX_RANK);
        for (int k = 0; k < v->n; k++)
            if (v->ints[k] < d->min || v->ints[k] > d->max)
                return attr_fail(err, d, "attribute '%s' entry %d is %lld, outside its range %lld to %lld", d->name, k,
                                 (long long)v->ints[k], (long long)d->min, (long long)d->max);
        break;
    case GR_ATTR_BOOL:
        if (v->i != 0 && v->i != 1) return attr_fail(err, d, "attribute '%s' is neither true nor false", d->name);
        break;
    case GR_ATTR_NUMBER:
        if (!isfinite(v->f)) return attr_fail(err, d, "attribute '%s' is not a finite number", d->name);
        break;
    case GR_ATTR_STRING: {
        size_t n = strnlen(v->str, GR_ATTR_STR_MAX);
        if (n == GR_ATTR_STR_MAX || (int64_t)n < d->min || (int64_t)n > d->max)
            return attr_fail(err, d, "attribute '%s' is %zu bytes long, outside its range %lld to %lld", d->name, n,
                             (long long)d->min,
                             (long long)(d->max < GR_ATTR_STR_MAX - 1 ? d->max : GR_ATTR_STR_MAX - 1));
        if (d->choices) {
            char list[160] = "";
            size_t k = 0;
            for (int i = 0; d->choices[i]; i++) {
                if (!strcmp(v->str, d->choices[i])) return GR_OK;
                if (k < sizeof list)
                    k += (size_t)snprintf(list + k, sizeof list - k, "%s'%s'", i ? ", " : "", d->choices[i]);
            }
            return attr_fail(err, d, "attribute '%s' is '%s', not one of %s", d->name, v->str, list);
        }
        break;
    }
    }
    return GR_OK;
}

/* Integer v into the width-byte integer at p, saturating to what fits. */
static void store_int(void *p, size_t width, int64_t v) {
    if (width == sizeof(int64_t)) {
        memcpy(p, &v, sizeof v);
        return;
    }
    int x = v < INT_MIN ? INT_MIN : v > INT_MAX ? INT_MAX : (int)v;
    memcpy(p, &x, sizeof x);
}

static int64_t load_int(const void *p, size_t width) {
    if (width == sizeof(int64_t)) {
        int64_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    int x;
    memcpy(&x, p, sizeof x);
    return x;
}

/* Store v as d in *a without the range check (the type must match). */
static void store(gr_attrs *a, const gr_attr_def *d, const gr_attr_value *v) {
    char *base = (char *)a;
    switch (d->type) {
    case GR_ATTR_INT:
    case GR_ATTR_BOOL: store_int(base + d->off, d->width, v->i); break;
    case GR_ATTR_INTS: {
        int n = v->n < 0 ? 0 : v->n > GR_MAX_RANK ? GR_MAX_RANK : v->n;
        for (int k = 0; k < GR_MAX_RANK; k++)
            store_int(base + d->off + (size_t)k * d->width, d->width, k < n ? v->ints[k] : 0);
        memcpy(base + d->count_off, &n, sizeof n);
        break;
    }
    case GR_ATTR_NUMBER: memcpy(base + d->off, &v->f, sizeof v->f); break;
    case GR_ATTR_STRING: {
        char *s = base + d->off;
        size_t n = strnlen(v->str, GR_ATTR_STR_MAX - 1);
        memcpy(s, v->str, n);
        memset(s + n, 0, GR_ATTR_STR_MAX - n);
        break;
    }
    }
    if (d->id >= 0 && d->id < 64) a->set |= GR_ATTR_BIT(d->id);
}

gr_status gr_attrs_put(gr_attrs *a, const gr_attr_def *d, const gr_attr_value *v, gr_error *err) {
    gr_status st = gr_attr_check(d, v, err);
    if (st != GR_OK) return st;
    if (!a) return GR_E_ARG;
    store(a, d, v);
    return GR_OK;
}

int gr_attrs_get(const gr_attrs *a, const gr_attr_def *d, gr_attr_value *out) {
    if (!a || !d || d->id < 0 || d->id >= 64 || !(a->set & GR_ATTR_BIT(d->id))) return 0;
    const char *base = (const char *)a;
    memset(out, 0, sizeof *out);
    out->type = d->type;
    switch (d->type) {
    case GR_ATTR_INT:
    case GR_ATTR_BOOL: out->i = load_int(base + d->off, d->width); break;
    case GR_ATTR_INTS:
        memcpy(&out->n, base + d->count_off, sizeof out->n);
        if (out->n < 0 || out->n > GR_MAX_RANK) out->n = GR_MAX_RANK + 1; /* refused by the check */
        for (int k = 0; k < out->n && k < GR_MAX_RANK; k++)
            out->ints[k] = load_int(base + d->off + (size_t)k * d->width, d->width);
        break;
    case GR_ATTR_NUMBER: memcpy(&out->f, base + d->off, sizeof out->f); break;
    case GR_ATTR_STRING:
        memcpy(out->str, base + d->off, GR_ATTR_STR_MAX);
        out->str[GR_ATTR_STR_MAX - 1] = '\0';
        break;
    }
    return 1;
}

gr_status gr_attrs_check(const gr_attrs *a, gr_error *err) {
    if (!a) return GR_OK;
    for (int i = 0; i < GR_ATTR_COUNT; i++) {
        gr_attr_value v;
        if (gr_attrs_get(a, &table[i], &v)) {
            gr_status st = gr_attr_check(&table[i], &v, err);
            if (st != GR_OK) return st;
        }
    }
    return GR_OK;
}

/* ---- setters for hand-built attributes -------------------------------- */

void gr_attrs_set_int(gr_attrs *a, gr_attr_id id, int64_t v) {
    const gr_attr_def *d = gr_attr_def_of(id);
    if (!a || !d) return;
    gr_attr_value x = {.type = d->type};
    if (d->type == GR_ATTR_BOOL) x.i = v != 0;
    else if (d->type == GR_ATTR_INT) x.i = v;
    else if (d->type == GR_ATTR_NUMBER) x.f = (double)v;
    else return;
    store(a, d, &x);
}

void gr_attrs_set_number(gr_attrs *a, gr_attr_id id, double v) {
    const gr_attr_def *d = gr_attr_def_of(id);
    if (!a || !d || d->type != GR_ATTR_NUMBER) return;
    gr_attr_value x = {.type = GR_ATTR_NUMBER, .f = v};
    store(a, d, &x);
}

gr_status gr_attrs_set_ints(gr_attrs *a, gr_attr_id id, const int64_t *v, int n, gr_error *err) {
    const gr_attr_def *d = gr_attr_def_of(id);
    if (!d) return gr_fail(err, GR_E_ARG, NULL, -1, "no attribute has id %d", (int)id);
    if (d->type != GR_ATTR_INTS) return attr_fail(err, d, "attribute '%s' is not a list", d->name);
    if (n < 0 || n > GR_MAX_RANK)
        return attr_fail(err, d, "attribute '%s' has %d entries, at most %d are allowed", d->name, n, GR_MAX_RANK);
    gr_attr_value x = {.type = GR_ATTR_INTS, .n = n};
    for (int k = 0; k < n; k++) x.ints[k] = v[k];
    return gr_attrs_put(a, d, &x, err);
}
