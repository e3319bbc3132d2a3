/* onnx_lower.c -- lowering an ONNX model's nodes into libgrad nodes.
 *
 * Nodes are lowered in the model's order (ONNX requires a topological
 * one) into a finalized scratch graph, by id, so every value's shape is
 * known when the next node needs it (Flatten, Shape, Reshape's 0s, ...).
 * A node whose inputs are all host constants (integer initializers,
 * Constants, Shape's results) is lowered into a throwaway float64 graph
 * and evaluated there at once: its outputs become host constants too.
 * That folds the shape sub-graphs torch exports. Once every node is
 * lowered, the scratch graph's nodes are replayed by name into the
 * request's graph: a node that is an ONNX output keeps the model's name,
 * the others are named onnx#<id>. */
#include "onnx_lower.h"

#include "onnx_emit.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the value table ------------------------------------------------- */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static ox_value *val_find(ox_low *L, const char *name) {
    if (!L->hcap) return NULL;
    for (uint64_t i = hash_str(name) & (uint64_t)(L->hcap - 1);; i = (i + 1) & (uint64_t)(L->hcap - 1)) {
        int k = L->hash[i];
        if (k < 0) return NULL;
        if (!strcmp(L->vals[k].name, name)) return &L->vals[k];
    }
}

static int rehash(ox_low *L, int cap) {
    int *h = malloc((size_t)cap * sizeof *h);
    if (!h) return -1;
    for (int i = 0; i < cap; i++) h[i] = -1;
    for (int k = 0; k < L->nvals; k++) {
        uint64_t i = hash_str(L->vals[k].name) & (uint64_t)(cap - 1);
        while (h[i] >= 0) i = (i + 1) & (uint64_t)(cap - 1);
        h[i] = k;
    }
    free(L->hash);
    L->hash = h;
    L->hcap = cap;
    return 0;
}

/* Define value name (a new one, or redefine it: the last definition wins,
 * as a later node's output shadows nothing in valid ONNX). */
static ox_value *val_put(ox_low *L, const char *name, int sid, ox_tensor *c) {
    ox_value *v = val_find(L, name);
    if (v) {
        if (v->c) gd_ox_tensor_free(v->c), free(v->c);
        if (v->lc) gd_ox_tensor_free(v->lc), free(v->lc);
        *v = (ox_value){name, sid, c, NULL, c && c->is_int};
        return v;
    }
    if (L->nvals == L->capvals) {
        int cap = L->capvals ? L->capvals * 2 : 64;
        ox_value *nv = realloc(L->vals, (size_t)cap * sizeof *nv);
        if (!nv) return NULL;
        L->vals = nv;
        L->capvals = cap;
    }
    if ((L->nvals + 1) * 2 > L->hcap && rehash(L, L->hcap ? L->hcap * 2 : 128) < 0) return NULL;
    L->vals[L->nvals] = (ox_value){name, sid, c, NULL, c && c->is_int};
    uint64_t i = hash_str(name) & (uint64_t)(L->hcap - 1);
    while (L->hash[i] >= 0) i = (i + 1) & (uint64_t)(L->hcap - 1);
    L->hash[i] = L->nvals;
    return &L->vals[L->nvals++];
}

/* ---- helpers for the op lowerings ------------------------------------ */

int gd_ox_fail(ox_low *L, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, sizeof L->err, fmt, ap);
    va_end(ap);
    if (!L->code) L->code = GD_E_INVALID_ARGUMENT;
    return -1;
}

static int fail_lib(ox_low *L, const gr_error *ge) {
    L->code = gd_lib_code(ge->code);
    return gd_ox_fail(L, "%s", ge->message);
}

ox_tensor *gd_ox_tensor_new(int rank, const int64_t *dims) {
    ox_tensor *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->rank = rank;
    t->n = 1;
    for (int i = 0; i < rank; i++) {
        t->dims[i] = dims[i];
        t->n *= dims[i] > 0 ? dims[i] : 0;
    }
    if (t->n > (int64_t)1 << 34 || !(t->v = calloc((size_t)(t->n ? t->n : 1), sizeof *t->v))) {
        free(t);
        return NULL;
    }
    return t;
}

static ox_value *in_value(ox_low *L, int k) {
    return k < L->nin && L->node->input[k][0] ? val_find(L, L->node->input[k]) : NULL;
}

int gd_ox_has(ox_low *L, int k) { return k < L->nin && L->node->input[k][0]; }

int gd_ox_value_id(ox_low *L, const char *name) {
    ox_value *v = val_find(L, name);
    return v ? v->sid : -1;
}

const ox_tensor *gd_ox_cin(ox_low *L, int k) {
    ox_value *v = in_value(L, k);
    return v ? v->c : NULL;
}

int gd_ox_in_int(ox_low *L, int k) {
    ox_value *v = in_value(L, k);
    return v && v->is_int;
}

/* Leaf sid's request value as a host tensor (owned), or NULL. */
static ox_tensor *leaf_tensor(ox_low *L, int sid, int is_int) {
    const gd_leaf *l = &L->r->leaves[sid];
    if (!l->has_value) return NULL;
    ox_tensor *t = gd_ox_tensor_new(l->value.shape.rank, l->value.shape.dims);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->n; i++)
        t->v[i] = L->r->dt == GR_F32 ? ((const float *)l->value.data)[i] : ((const double *)l->value.data)[i];
    t->is_int = is_int;
    return t;
}

const ox_tensor *gd_ox_cin_value(ox_low *L, int k) {
    ox_value *v = in_value(L, k);
    if (!v || v->c) return v ? v->c : NULL;
    if (!v->lc && v->sid >= 0 && v->sid < L->r->nleaves && L->r->leaves[v->sid].kind == GD_INPUT)
        v->lc = leaf_tensor(L, v->sid, v->is_int);
    if (v->lc) L->r->cache = NULL; /* the program depends on the value */
    return v->lc;
}

const gr_shape *gd_ox_shape(ox_low *L, int id) { return gr_node_shape(L->g, id); }

int gd_ox_const(ox_low *L, const ox_tensor *t) {
    gr_shape s;
    gr_error ge;
    if (gr_shape_make(&s, t->rank, t->dims, &ge) != GR_OK) return fail_lib(L, &ge);
    int id;
    if (gr_graph_dtype(L->g) == GR_F32) {
        float *f = malloc((size_t)(t->n ? t->n : 1) * sizeof *f);
        if (!f) return gd_ox_fail(L, "out of memory");
        for (int64_t i = 0; i < t->n; i++) f[i] = (float)t->v[i];
        id = gr_graph_const(L->g, NULL, &s, f, &ge);
        free(f);
    } else {
        id = gr_graph_const(L->g, NULL, &s, t->v, &ge);
    }
    return id < 0 ? fail_lib(L, &ge) : id;
}

int gd_ox_scalar(ox_low *L, double v) {
    ox_tensor t = {.rank = 0, .n = 1, .v = &v};
    return gd_ox_const(L, &t);
}

int gd_ox_in(ox_low *L, int k) {
    if (k >= OX_MAX_IO || !gd_ox_has(L, k)) return gd_ox_fail(L, "input %d is missing", k);
    if (L->in_ids[k] >= 0) return L->in_ids[k];
    ox_value *v = in_value(L, k);
    if (!v) return gd_ox_fail(L, "input %d \"%.64s\" is not defined before the node", k, L->node->input[k]);
    if (!L->folding && v->sid >= 0) return L->in_ids[k] = v->sid;
    if (!v->c) return gd_ox_fail(L, "input %d \"%.64s\" has no value", k, L->node->input[k]);
    int id = gd_ox_const(L, v->c);
    if (id >= 0 && !L->folding) v->sid = id; /* made once */
    return L->in_ids[k] = id;
}

int gd_ox_ints_in(ox_low *L, int k, int64_t *out, int max) {
    const ox_tensor *t = gd_ox_cin_value(L, k);
    if (!t) return gd_ox_fail(L, "input %d (\"%.64s\") must be a constant: gradd needs it to build the graph", k,
                              gd_ox_has(L, k) ? L->node->input[k] : "");
    if (t->n > max) return gd_ox_fail(L, "input %d has %lld values, more than %d", k, (long long)t->n, max);
    for (int64_t i = 0; i < t->n; i++) {
        double v = t->v[i];
        if (v != v) return gd_ox_fail(L, "input %d holds NaN where integers belong", k);
        out[i] = v >= 9.2e18 ? INT64_MAX : v <= -9.2e18 ? -INT64_MAX : (int64_t)v; /* INT64_MAX: "to the end" */
    }
    return (int)t->n;
}

int gd_ox_op(ox_low *L, const char *op, const int *ids, int n, const gr_attrs *at) {
    const gr_op *o = gr_op_find(op);
    if (!o) return gd_ox_fail(L, "gradd has no op %s", op);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0) return -1;
    gr_error ge;
    int id = gr_graph_apply(L->g, NULL, o, ids, n, at, &ge);
    return id < 0 ? fail_lib(L, &ge) : id;
}

void gd_ox_out(ox_low *L, int k, int id) {
    if (k < L->nout) L->out_ids[k] = id;
}

int gd_ox_out_typed(ox_low *L, int k, int id, int is_int) {
    if (id < 0) return -1;
    if (k < L->nout) L->out_int[k] = is_int;
    gd_ox_out(L, k, id);
    return 0;
}

void gd_ox_out_const(ox_low *L, int k, ox_tensor *t) {
    if (k < L->nout && !L->out_c[k]) L->out_c[k] = t;
    else if (t) gd_ox_tensor_free(t), free(t);
}

int64_t gd_ox_ai(ox_low *L, const char *name, int64_t def) {
    const Onnx__AttributeProto *a = gd_ox_attr(L->node, name);
    return a && a->has_i ? a->i : def;
}

/* A float32 attribute as the decimal the exporter meant: the shortest
 * decimal that rounds to it (torch writes eps=1e-5 as the float32
 * 9.99999974737875e-06; computing with 1e-5 in float64 is torch's). */
static double shortest_decimal(float f) {
    char buf[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f) return d;
    }
    return f;
}

double gd_ox_af(ox_low *L, const char *name, double def) {
    const Onnx__AttributeProto *a = gd_ox_attr(L->node, name);
    return a && a->has_f ? shortest_decimal(a->f) : a && a->has_i ? (double)a->i : def;
}

int gd_ox_aints(ox_low *L, const char *name, int64_t *out, int max) {
    const Onnx__AttributeProto *a = gd_ox_attr(L->node, name);
    if (!a) return -1;
    if (a->n_ints > (size_t)max) return gd_ox_fail(L, "attribute %s has more than %d values", name, max), -2;
    for (size_t i = 0; i < a->n_ints; i++) out[i] = a->ints[i];
    return (int)a->n_ints;
}

const char *gd_ox_as(ox_low *L, const char *name, const char *def, char *buf, size_t cap) {
    const Onnx__AttributeProto *a = gd_ox_attr(L->node, name);
    if (!a || !a->has_s) return def;
    size_t n = a->s.len < cap - 1 ? a->s.len : cap - 1;
    memcpy(buf, a->s.data, n);
    buf[n] = '\0';
    return buf;
}

const Onnx__TensorProto *gd_ox_at(ox_low *L, const char *name) {
    const Onnx__AttributeProto *a = gd_ox_attr(L->node, name);
    return a ? a->t : NULL;
}

/* ---- one node -------------------------------------------------------- */

/* Every present input is a host constant (and there is at least one, or
 * the node has no inputs). */
static int all_constant(ox_low *L) {
    for (int k = 0; k < L->nin; k++)
        if (gd_ox_has(L, k) && !gd_ox_cin(L, k)) return 0;
    return 1;
}

static int inputs_int(ox_low *L) {
    int any = 0;
    for (int k = 0; k < L->nin; k++) {
        if (!gd_ox_has(L, k)) continue;
        if (!gd_ox_in_int(L, k)) return 0;
        any = 1;
    }
    return any;
}

/* Evaluate the fold graph's output k into a host constant. */
static int fold_output(ox_low *L, int k, int as_int) {
    int id = L->out_ids[k];
    const gr_shape *s = gr_node_shape(L->g, id);
    ox_tensor *t = gd_ox_tensor_new(s->rank, s->dims);
    if (!t) return gd_ox_fail(L, "out of memory folding a constant");
    const double *data = NULL;
    gr_exec *ex = NULL;
    gr_error ge;
    if (gr_node_kind_of(L->g, id) == GR_CONST) {
        data = gr_node_const_data(L->g, id);
    } else {
        ex = gr_compile(L->g, &id, 1, &ge);
        if (!ex || gr_exec_run(ex, &ge) != GR_OK) {
            gr_exec_free(ex);
            gd_ox_tensor_free(t), free(t);
            return fail_lib(L, &ge);
        }
        data = gr_exec_value(ex, id);
    }
    for (int64_t i = 0; i < t->n; i++) t->v[i] = as_int ? trunc(data[i]) : data[i];
    t->is_int = as_int;
    gr_exec_free(ex);
    L->out_c[k] = t;
    L->out_ids[k] = -1;
    return 0;
}

/* The name scratch node sid gets in the request's graph. */
int gd_ox_name(ox_low *L, int sid, const char *name) {
    if (sid >= L->cap_names) {
        int cap = L->cap_names ? L->cap_names : 256;
        while (cap <= sid) cap *= 2;
        char **p = realloc(L->names, (size_t)cap * sizeof *p);
        if (!p) return -1;
        memset(p + L->cap_names, 0, (size_t)(cap - L->cap_names) * sizeof *p);
        L->names = p;
        L->cap_names = cap;
    }
    if (L->names[sid]) return 0;
    return (L->names[sid] = strdup(name)) ? 0 : -1;
}

static int lower_node(ox_low *L, const ox_handler *h) {
    const Onnx__NodeProto *n = L->node;
    L->nin = (int)n->n_input;
    L->nout = (int)n->n_output;
    if (L->nin > OX_MAX_IO || L->nout > OX_MAX_IO) return gd_ox_fail(L, "more than %d inputs or outputs", OX_MAX_IO);
    for (int k = 0; k < OX_MAX_IO; k++) {
        L->in_ids[k] = L->out_ids[k] = -1;
        L->out_c[k] = NULL;
        L->out_int[k] = -1;
    }
    L->folding = all_constant(L);
    gr_graph *fg = NULL;
    if (L->folding) {
        gr_error ge;
        fg = gr_graph_new(GR_F64, NULL);
        if (!fg || gr_graph_finalize(fg, &ge) != GR_OK) {
            gr_graph_free(fg);
            return gd_ox_fail(L, "out of memory");
        }
        L->g = fg;
    } else {
        L->g = L->sg;
    }
    int rc = h->fn(L);
    int as_int = inputs_int(L);
    for (int k = 0; rc == 0 && k < L->nout; k++) {
        if (!n->output[k][0]) continue;
        if (L->out_ids[k] < 0 && !L->out_c[k]) {
            rc = gd_ox_fail(L, "output %d (\"%.64s\") is not supported", k, n->output[k]);
            break;
        }
        if (L->folding && L->out_ids[k] >= 0)
            rc = fold_output(L, k, L->out_int[k] >= 0 ? L->out_int[k] : as_int);
    }
    for (int k = 0; k < L->nout; k++) {
        if (rc == 0 && n->output[k][0]) {
            int sid = L->out_ids[k];
            ox_value *v = val_put(L, n->output[k], sid, L->out_c[k]);
            if (!v || (sid >= L->r->nleaves && gd_ox_name(L, sid, n->output[k]) < 0))
                rc = gd_ox_fail(L, "out of memory");
            else
                v->is_int = v->c ? v->c->is_int : L->out_int[k] >= 0 ? L->out_int[k] : as_int;
            L->out_c[k] = NULL;
        } else if (L->out_c[k]) {
            gd_ox_tensor_free(L->out_c[k]), free(L->out_c[k]);
            L->out_c[k] = NULL;
        }
    }
    gr_graph_free(fg);
    L->g = L->sg;
    return rc;
}

/* ---- the whole model -------------------------------------------------- */

/* The lowering of node n by its domain and op type, or NULL: the default
 * domain's table (onnx_ops.c), ai.onnx.preview.training's (onnx_train.c). */
static const ox_handler *node_handler(const Onnx__NodeProto *n) {
    const char *t = n->op_type ? n->op_type : "";
    if (!n->domain || !n->domain[0] || !strcmp(n->domain, "ai.onnx")) return gd_ox_handler(t);
    if (!strcmp(n->domain, OX_TRAINING_DOMAIN)) return gd_ox_train_handler(t);
    if (gd_ox_is_gradd_node(n)) return &gd_ox_gradd_handler; /* ai.gradd: a libgrad op by name (onnx_emit.c) */
    return NULL;
}

/* 422 listing every op type gradd cannot lower (the first dozen), with
 * the first nodes using each. One pass over the nodes per listed type. */
static int check_supported(ox_low *L) {
    const Onnx__GraphProto *g = L->m->graph;
    enum { MAX_LISTED = 12 };
    const char *listed[MAX_LISTED];
    int nlisted = 0, more = 0;
    char msg[1024] = "";
    size_t at = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        const char *t = n->op_type ? n->op_type : "";
        int other_domain = n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx");
        if (node_handler(n)) continue;
        int seen = 0;
        for (int j = 0; j < nlisted && !seen; j++) seen = !strcmp(listed[j], t);
        if (seen) continue;
        if (nlisted == MAX_LISTED) {
            more = 1;
            break;
        }
        listed[nlisted++] = t;
        int uses = 0;
        char nodes[200] = "";
        for (size_t j = i; j < g->n_node; j++)
            if (g->node[j]->op_type && !strcmp(g->node[j]->op_type, t) && uses++ < 3)
                snprintf(nodes + strlen(nodes), sizeof nodes - strlen(nodes), "%s\"%.40s\"", uses > 1 ? ", " : "",
                         gd_ox_node_label(g->node[j]));
        if (at < sizeof msg)
            at += (size_t)snprintf(msg + at, sizeof msg - at, "%s%s%s%.40s (%d node%s: %s%s)", nlisted > 1 ? "; " : "",
                                   other_domain ? n->domain : "", other_domain ? "::" : "", t, uses,
                                   uses == 1 ? "" : "s", nodes, uses > 3 ? ", ..." : "");
    }
    if (!nlisted) return 0;
    return gd_fail(L->r->e, GD_E_UNKNOWN_OP, "/graph/onnx", "the model uses op%s gradd cannot lower: %s%s",
                   nlisted > 1 ? "s" : "", msg, more ? "; and more" : "");
}

/* The scratch graph's leaves: the request's, in its order (so leaf i has
 * id i in both graphs), each also a value of the model. */
static int add_leaves(ox_low *L) {
    gd_req *r = L->r;
    gr_error ge;
    /* The request's graph limits: a node that lowers to many (an RNN
     * unrolled over its sequence) stays within the node and memory budget. */
    gr_limits gl = gd_req_graph_limits(r);
    L->sg = gr_graph_new(r->dt, &gl);
    if (!L->sg) return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/graph/onnx", "out of memory");
    for (int i = 0; i < r->nleaves; i++) {
        gd_leaf *l = &r->leaves[i];
        int id = l->kind == GD_INPUT   ? gr_graph_input(L->sg, l->name, &l->value.shape, &ge)
                 : l->kind == GD_PARAM ? gr_graph_param(L->sg, l->name, &l->value.shape, &ge)
                                       : gr_graph_const(L->sg, l->name, &l->value.shape, l->value.data, &ge);
        if (id != i) return gd_fail(r->e, gd_lib_code(ge.code), l->path, "%s", ge.message);
        int is_int = l->kind == GD_INPUT && gd_ox_nameset_has(&L->m->int_inputs, l->name);
        ox_tensor *c = NULL;
        if (is_int) { /* an integer input is a constant of the lowering: its value shapes the program */
            if (!(c = leaf_tensor(L, i, 1))) return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/graph/onnx", "out of memory");
            r->cache = NULL;
        }
        ox_value *v = val_put(L, l->name, id, c);
        if (!v) return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/graph/onnx", "out of memory");
        v->is_int = is_int;
    }
    if (gr_graph_finalize(L->sg, &ge) != GR_OK) return gd_req_lib_error(r, &ge);
    const Onnx__GraphProto *g = L->m->graph;
    for (size_t i = 0; i < g->n_initializer; i++) {
        if (L->m->roles[i] != OX_INIT_HOST) continue;
        ox_tensor *t = calloc(1, sizeof *t);
        char why[160];
        if (!t) return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/graph/onnx", "out of memory");
        if (gd_ox_tensor_read(g->initializer[i], r->lim.max_elements, t, why, sizeof why) < 0) {
            free(t);
            return gd_fail(r->e, GD_E_INVALID_ARGUMENT, "/graph/onnx", "initializer \"%.64s\": %s",
                           g->initializer[i]->name, why);
        }
        if (!val_put(L, g->initializer[i]->name, -1, t)) return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/graph/onnx", "oom");
    }
    return 0;
}

/* Model outputs that are no node of their own (a host constant, a leaf
 * or another value passed through Identity) get one, so the request can
 * name them: a copy (x * 1). */
static int name_outputs(ox_low *L) {
    for (int i = 0; i < L->m->noutputs; i++) {
        const char *name = L->m->outputs[i];
        ox_value *v = val_find(L, name);
        if (!v) return gd_fail(L->r->e, GD_E_INVALID_ARGUMENT, "/graph/onnx", "the model's output \"%.64s\" is "
                               "computed by no node", name);
        if (v->sid >= 0 && v->sid < L->cap_names && L->names[v->sid] && !strcmp(L->names[v->sid], name)) continue;
        L->g = L->sg;
        L->folding = 0;
        int src = v->sid;
        if (src < 0) {
            src = gd_ox_const(L, v->c);
            if (src >= 0) v->sid = src;
        }
        int one = src >= 0 ? gd_ox_scalar(L, 1) : -1;
        int id = one >= 0 ? gd_ox_op(L, "mul", (int[]){src, one}, 2, NULL) : -1;
        if (id < 0 || gd_ox_name(L, id, name) < 0)
            return gd_fail(L->r->e, L->code ? L->code : GD_E_LIMIT_EXCEEDED, "/graph/onnx", "output \"%.64s\": %s",
                           name, L->err);
        v->sid = id;
    }
    return 0;
}

/* Replay the scratch graph's non-leaf nodes into the request's graph by
 * name. */
static int replay(ox_low *L) {
    gd_req *r = L->r;
    int n = gr_graph_node_count(L->sg);
    char gen[GR_NAME_MAX];
    gr_error ge;
    for (int id = r->nleaves; id < n; id++) {
        if (id >= L->cap_names || !L->names[id]) {
            snprintf(gen, sizeof gen, "onnx#%d", id);
            if (gd_ox_name(L, id, gen) < 0) return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/graph/onnx", "out of memory");
        }
        const char *name = L->names[id];
        int made;
        if (gr_node_kind_of(L->sg, id) == GR_CONST) {
            made = gr_graph_const(r->g, name, gr_node_shape(L->sg, id), gr_node_const_data(L->sg, id), &ge);
        } else {
            int k = gr_node_operand_count(L->sg, id);
            const char *few[GR_MAX_OPERANDS], **ops = few;
            if (k > GR_MAX_OPERANDS && !(ops = malloc((size_t)k * sizeof *ops)))
                return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/graph/onnx", "out of memory");
            for (int j = 0; j < k; j++) {
                int o = gr_node_operand(L->sg, id, j);
                ops[j] = o < r->nleaves ? r->leaves[o].name : L->names[o];
            }
            made = gr_graph_node(r->g, name, gr_node_op(L->sg, id), ops, k, gr_node_attrs(L->sg, id), &ge);
            if (ops != few) free(ops);
        }
        if (made < 0) {
            if (ge.code == GR_E_DUPLICATE)
                return gd_fail(r->e, GD_E_DUPLICATE_NAME, "/graph/onnx", "the model's value \"%.64s\" has the name "
                               "of another value of the request", name);
            return gd_fail(r->e, gd_lib_code(ge.code), "/graph/onnx", "%s", ge.message);
        }
    }
    return 0;
}

static void low_free(ox_low *L) {
    for (int i = 0; i < L->nvals; i++) {
        if (L->vals[i].c) gd_ox_tensor_free(L->vals[i].c), free(L->vals[i].c);
        if (L->vals[i].lc) gd_ox_tensor_free(L->vals[i].lc), free(L->vals[i].lc);
    }
    for (int i = 0; i < L->cap_names; i++) free(L->names[i]);
    free(L->names);
    free(L->vals);
    free(L->hash);
    gr_graph_free(L->sg);
}

int gd_onnx_lower(gd_req *r) {
    ox_low L = {.r = r, .m = r->onnx};
    int rc = -1;
    if (check_supported(&L) < 0 || add_leaves(&L) < 0) goto out;
    const Onnx__GraphProto *g = L.m->graph;
    for (size_t i = 0; i < g->n_node; i++) {
        L.node = g->node[i];
        L.err[0] = '\0';
        L.code = 0;
        if ((i & 1023) == 1023 && r->cancel && *r->cancel) {
            gd_fail(r->e, GD_E_CANCELLED, "", "the request was cancelled while its graph was being built");
            goto out;
        }
        if (lower_node(&L, node_handler(L.node)) < 0) {
            gd_fail(r->e, L.code ? L.code : GD_E_INVALID_ARGUMENT, "/graph/onnx", "node \"%.64s\" (%.64s): %s",
                    gd_ox_node_label(L.node), L.node->op_type, L.err);
            goto out;
        }
    }
    if (name_outputs(&L) < 0 || replay(&L) < 0) goto out;
    rc = 0;
out:
    low_free(&L);
    return rc;
}
