/* onnx_write.c -- ONNX models out, packed by protobuf-c.
 *
 * The training graph (gd_onnx_write_training): the live nodes of the
 * request's graph in its order, each written by onnx_emit.c as standard
 * ONNX nodes or as one node of domain "ai.gradd"; leaves and outputs as
 * the header says. The structs are built by hand, every allocation kept
 * in the writer and freed together once packed.
 *
 * The updated model (gd_onnx_write_updated): the request's own unpacked
 * model, its param initializers swapped for new ones holding the params'
 * values while it is packed, then swapped back (the request frees the
 * model it unpacked). */
#include "onnx_emit.h"

#include "codec/b64.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- allocation ------------------------------------------------------- */

int gd_ow_push(ox_w *W, ox_vec *v, void *x) {
    if (!x) return W->oom = 1, -1;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        void **p = realloc(v->v, cap * sizeof *p);
        if (!p) return W->oom = 1, -1;
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return 0;
}

void *gd_ow_alloc(ox_w *W, size_t size) {
    if ((int64_t)size >= W->left) return W->oom = 1, NULL; /* over the request's memory budget */
    W->left -= (int64_t)size + 1;
    void *p = calloc(1, size ? size : 1);
    if (!p || gd_ow_push(W, &W->blocks, p) < 0) {
        free(p);
        W->oom = 1;
        return NULL;
    }
    return p;
}

char *gd_ow_strdup(ox_w *W, const char *s) {
    size_t n = strlen(s);
    char *p = gd_ow_alloc(W, n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

static void writer_free(ox_w *W) {
    for (size_t i = 0; i < W->blocks.n; i++) free(W->blocks.v[i]);
    free(W->blocks.v);
    free(W->nodes.v);
    free(W->inits.v);
    free(W->inputs.v);
    free(W->outputs.v);
    free(W->infos.v);
    free(W->names);
}

/* ---- nodes and attributes ----------------------------------------------- */

const char *gd_ow_tmp(ox_w *W) {
    char buf[GR_NAME_MAX + 32];
    int n = snprintf(buf, sizeof buf, "%s:%d", W->cur ? W->cur : "export", ++W->tmpk);
    if (n >= GR_NAME_MAX) snprintf(buf, sizeof buf, "export#%lld", (long long)W->ntmp); /* a name gradd reads back */
    W->ntmp++;
    return gd_ow_strdup(W, buf);
}

Onnx__NodeProto *gd_ow_node(ox_w *W, const char *type, const char *domain, const char *const *in, int nin,
                            const char *out) {
    Onnx__NodeProto *n = gd_ow_alloc(W, sizeof *n);
    char **ins = gd_ow_alloc(W, (size_t)(nin ? nin : 1) * sizeof *ins);
    char **outs = gd_ow_alloc(W, sizeof *outs);
    if (!n || !ins || !outs || !out) return NULL;
    *n = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    for (int k = 0; k < nin; k++)
        if (!in[k] || !(ins[k] = gd_ow_strdup(W, in[k]))) return NULL;
    outs[0] = gd_ow_strdup(W, out);
    n->n_input = (size_t)nin;
    n->input = ins;
    n->n_output = 1;
    n->output = outs;
    n->op_type = gd_ow_strdup(W, type);
    if (domain) n->domain = gd_ow_strdup(W, domain);
    if (!outs[0] || !n->op_type || (domain && !n->domain) || gd_ow_push(W, &W->nodes, n) < 0) return NULL;
    return n;
}

const char *gd_ow_tmp_node(ox_w *W, const char *type, const char *const *in, int nin, Onnx__NodeProto **node) {
    const char *t = gd_ow_tmp(W);
    Onnx__NodeProto *n = t ? gd_ow_node(W, type, NULL, in, nin, t) : NULL;
    if (node) *node = n;
    return n ? t : NULL;
}

static Onnx__AttributeProto *new_attr(ox_w *W, Onnx__NodeProto *n, const char *name, int type) {
    if (!n) return NULL;
    Onnx__AttributeProto *a = gd_ow_alloc(W, sizeof *a);
    Onnx__AttributeProto **list = gd_ow_alloc(W, (n->n_attribute + 1) * sizeof *list);
    if (!a || !list) return NULL;
    *a = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    if (!(a->name = gd_ow_strdup(W, name))) return NULL;
    a->has_type = 1;
    a->type = (Onnx__AttributeProto__AttributeType)type;
    if (n->n_attribute) memcpy(list, n->attribute, n->n_attribute * sizeof *list); /* the old list stays in W */
    list[n->n_attribute++] = a;
    n->attribute = list;
    return a;
}

void gd_ow_attr_int(ox_w *W, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *a = new_attr(W, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) a->has_i = 1, a->i = v;
}

void gd_ow_attr_ints(ox_w *W, Onnx__NodeProto *n, const char *name, const int64_t *v, int count) {
    Onnx__AttributeProto *a = new_attr(W, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *p = a ? gd_ow_alloc(W, (size_t)(count ? count : 1) * sizeof *p) : NULL;
    if (!p) return;
    if (count) memcpy(p, v, (size_t)count * sizeof *p);
    a->n_ints = (size_t)count;
    a->ints = p;
}

void gd_ow_attr_float(ox_w *W, Onnx__NodeProto *n, const char *name, float v) {
    Onnx__AttributeProto *a = new_attr(W, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a) a->has_f = 1, a->f = v;
}

void gd_ow_attr_str(ox_w *W, Onnx__NodeProto *n, const char *name, const char *s) {
    Onnx__AttributeProto *a = new_attr(W, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    char *p = a ? gd_ow_strdup(W, s) : NULL;
    if (p) a->has_s = 1, a->s.data = (uint8_t *)p, a->s.len = strlen(p);
}

void gd_ow_attr_tensor(ox_w *W, Onnx__NodeProto *n, const char *name, Onnx__TensorProto *t) {
    Onnx__AttributeProto *a = t ? new_attr(W, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR) : NULL;
    if (a) a->t = t;
}

/* ---- tensors and constants ---------------------------------------------- */

Onnx__TensorProto *gd_ow_tensor(ox_w *W, const char *name, int32_t type, int rank, const int64_t *dims,
                                const void *raw, size_t bytes) {
    Onnx__TensorProto *t = gd_ow_alloc(W, sizeof *t);
    int64_t *d = gd_ow_alloc(W, (size_t)(rank ? rank : 1) * sizeof *d);
    uint8_t *data = gd_ow_alloc(W, bytes);
    if (!t || !d || !data) return NULL;
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    if (rank) memcpy(d, dims, (size_t)rank * sizeof *d);
    if (bytes) memcpy(data, raw, bytes);
    t->n_dims = (size_t)rank;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = type;
    t->has_raw_data = 1;
    t->raw_data.data = data;
    t->raw_data.len = bytes;
    if (name && !(t->name = gd_ow_strdup(W, name))) return NULL;
    return t;
}

static const char *constant_node(ox_w *W, Onnx__TensorProto *t) {
    if (!t) return NULL;
    Onnx__NodeProto *n;
    const char *out = gd_ow_tmp_node(W, "Constant", NULL, 0, &n);
    gd_ow_attr_tensor(W, n, "value", t);
    return W->oom ? NULL : out;
}

const char *gd_ow_i64s(ox_w *W, const int64_t *v, int n) {
    int64_t dims[1] = {n};
    return constant_node(W, gd_ow_tensor(W, NULL, OX_INT64, 1, dims, v, (size_t)n * sizeof *v));
}

/* n copies of v in the graph's dtype, as raw bytes (malloc'd). */
static void *filled_raw(ox_w *W, int64_t n, double v, size_t *bytes) {
    size_t es = W->elem == OX_FLOAT ? sizeof(float) : sizeof(double);
    void *p = (int64_t)((size_t)n * es) < W->left ? malloc((size_t)(n ? n : 1) * es) : NULL;
    if (!p) return W->oom = 1, NULL;
    for (int64_t i = 0; i < n; i++) {
        if (W->elem == OX_FLOAT) ((float *)p)[i] = (float)v;
        else ((double *)p)[i] = v;
    }
    *bytes = (size_t)n * es;
    return p;
}

const char *gd_ow_filled(ox_w *W, const gr_shape *s, double v) {
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= s->dims[i];
    size_t bytes;
    void *raw = filled_raw(W, n, v, &bytes);
    if (!raw) return NULL;
    Onnx__TensorProto *t = gd_ow_tensor(W, NULL, W->elem, s->rank, s->dims, raw, bytes);
    free(raw);
    return constant_node(W, t);
}

const char *gd_ow_scalar(ox_w *W, double v) {
    gr_shape s = {.rank = 0};
    return gd_ow_filled(W, &s, v);
}

/* ---- graph inputs, outputs, leaves ---------------------------------------- */

Onnx__ValueInfoProto *gd_ow_value_info(ox_w *W, const char *name, const gr_shape *s) {
    Onnx__ValueInfoProto *vi = gd_ow_alloc(W, sizeof *vi);
    Onnx__TypeProto *tp = gd_ow_alloc(W, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = gd_ow_alloc(W, sizeof *tt);
    Onnx__TensorShapeProto *sp = gd_ow_alloc(W, sizeof *sp);
    Onnx__TensorShapeProto__Dimension **dims = gd_ow_alloc(W, (size_t)(s->rank ? s->rank : 1) * sizeof *dims);
    if (!vi || !tp || !tt || !sp || !dims) return NULL;
    *vi = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    *tp = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    *tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    *sp = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    for (int i = 0; i < s->rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = gd_ow_alloc(W, sizeof *d);
        if (!d) return NULL;
        *d = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d->dim_value = s->dims[i];
        dims[i] = d;
    }
    sp->n_dim = (size_t)s->rank;
    sp->dim = dims;
    tt->has_elem_type = 1;
    tt->elem_type = W->elem;
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    return (vi->name = gd_ow_strdup(W, name)) ? vi : NULL;
}

/* Leaf id: an input becomes a graph input; a param, or an ONNX model's
 * buffer (an input leaf), a graph input and an initializer holding its
 * value; a constant a Constant node. */
static int write_leaf(ox_w *W, int id, const char *name) {
    const gr_shape *s = gr_node_shape(W->g, id);
    gr_node_kind kind = gr_node_kind_of(W->g, id);
    if (kind == GR_INPUT && !gd_onnx_is_buffer(W->r, name)) return gd_ow_push(W, &W->inputs, gd_ow_value_info(W, name, s));
    const void *data = NULL;
    if (kind == GR_CONST) {
        data = gr_node_const_data(W->g, id);
    } else {
        gd_leaf *l = gd_req_leaf(W->r, name);
        if (!l || !l->has_value) return gd_ow_push(W, &W->inputs, gd_ow_value_info(W, name, s)); /* no value */
        data = l->value.data;
    }
    size_t bytes = (size_t)gr_node_numel(W->g, id) * gr_dtype_size(gr_graph_dtype(W->g));
    Onnx__TensorProto *t = gd_ow_tensor(W, name, W->elem, s->rank, s->dims, NULL, 0);
    if (t) t->raw_data = (ProtobufCBinaryData){.len = bytes, .data = (uint8_t *)data}; /* borrowed until packed */
    if (kind != GR_CONST)
        return gd_ow_push(W, &W->inputs, gd_ow_value_info(W, name, s)) < 0 ? -1 : gd_ow_push(W, &W->inits, t);
    if (!t) return -1;
    W->cur = name;
    Onnx__NodeProto *n = gd_ow_node(W, "Constant", NULL, NULL, 0, name);
    t->name = NULL;
    gd_ow_attr_tensor(W, n, "value", t);
    return W->oom ? -1 : 0;
}

/* The ONNX name of node id: a named node keeps its name, except the
 * names the ONNX reader makes for its helper nodes ("onnx#12", which a
 * re-read would make again), written "onnx_12"; autodiff's nodes are
 * "grad#<id>" and anonymous constants "const#<id>", as the JSON export. */
static char *value_name(ox_w *W, int id) {
    char buf[GR_NAME_MAX + 16];
    const char *n = gr_node_name(W->g, id, buf, sizeof buf);
    char out[GR_NAME_MAX + 16];
    if (n[0] == '%') snprintf(out, sizeof out, "%s#%d", gr_node_kind_of(W->g, id) == GR_CONST ? "const" : "grad", id);
    else if (!strncmp(n, "onnx#", 5)) snprintf(out, sizeof out, "onnx_%s", n + 5);
    else snprintf(out, sizeof out, "%s", n);
    return gd_ow_strdup(W, out);
}

/* ---- the training graph --------------------------------------------------- */

/* Output k: the value named want, computing from node id (an Identity
 * when id's value has another name). */
static int write_output(ox_w *W, int id, const char *want) {
    if (strcmp(W->names[id], want)) {
        W->cur = want;
        if (!gd_ow_node(W, "Identity", NULL, (const char *const[]){W->names[id]}, 1, want)) return -1;
    }
    return gd_ow_push(W, &W->outputs, gd_ow_value_info(W, want, gr_node_shape(W->g, id)));
}

static Onnx__OperatorSetIdProto *opset(ox_w *W, const char *domain, int64_t version) {
    Onnx__OperatorSetIdProto *o = gd_ow_alloc(W, sizeof *o);
    if (!o) return NULL;
    *o = (Onnx__OperatorSetIdProto)ONNX__OPERATOR_SET_ID_PROTO__INIT;
    o->domain = gd_ow_strdup(W, domain);
    o->has_version = 1;
    o->version = version;
    return o->domain ? o : NULL;
}

/* Pack the graph W made into *bytes. */
static int pack_model(ox_w *W, uint8_t **bytes, size_t *len) {
    Onnx__GraphProto *g = gd_ow_alloc(W, sizeof *g);
    Onnx__ModelProto *m = gd_ow_alloc(W, sizeof *m);
    Onnx__OperatorSetIdProto **ops = gd_ow_alloc(W, 2 * sizeof *ops);
    if (!g || !m || !ops) return -1;
    *g = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
    *m = (Onnx__ModelProto)ONNX__MODEL_PROTO__INIT;
    g->name = gd_ow_strdup(W, "gradd_training_graph");
    g->n_node = W->nodes.n, g->node = (Onnx__NodeProto **)W->nodes.v;
    g->n_initializer = W->inits.n, g->initializer = (Onnx__TensorProto **)W->inits.v;
    g->n_input = W->inputs.n, g->input = (Onnx__ValueInfoProto **)W->inputs.v;
    g->n_output = W->outputs.n, g->output = (Onnx__ValueInfoProto **)W->outputs.v;
    g->n_value_info = W->infos.n, g->value_info = (Onnx__ValueInfoProto **)W->infos.v;
    ops[0] = opset(W, "", OX_EXPORT_OPSET);
    ops[1] = W->custom ? opset(W, OX_GRADD_DOMAIN, 1) : NULL;
    m->has_ir_version = 1;
    m->ir_version = 8; /* the IR of opset 17 */
    m->n_opset_import = W->custom ? 2 : 1;
    m->opset_import = ops;
    m->producer_name = gd_ow_strdup(W, "gradd");
    m->graph = g;
    if (W->oom) return -1;
    *len = onnx__model_proto__get_packed_size(m);
    if ((int64_t)*len >= W->left || !(*bytes = malloc(*len ? *len : 1))) return W->oom = 1, -1;
    onnx__model_proto__pack(m, *bytes);
    return 0;
}

int gd_onnx_write_training(gd_req *r, const int *grads, const char *const *wnames, int n, const char *live,
                           uint8_t **bytes, size_t *len) {
    ox_w W = {.r = r, .g = r->g, .elem = r->dt == GR_F32 ? OX_FLOAT : OX_DOUBLE, .left = r->budget};
    int count, rc = -1;
    const int *order = gr_graph_order(r->g, &count);
    char msg[320] = "";
    *bytes = NULL;
    W.names = calloc((size_t)gr_graph_node_count(r->g) + 1, sizeof *W.names);
    if (!W.names) goto out;
    for (int i = 0; i < count && !W.oom; i++) {
        int id = order[i];
        if (!live[id]) continue;
        if (!(W.names[id] = value_name(&W, id))) break;
        W.cur = W.names[id];
        W.tmpk = 0;
        if (gr_node_kind_of(r->g, id) != GR_OPNODE) {
            if (write_leaf(&W, id, W.names[id]) < 0) break;
            continue;
        }
        int k = gr_node_operand_count(r->g, id);
        const char **in = malloc((size_t)(k ? k : 1) * sizeof *in);
        if (!in) goto out;
        for (int j = 0; j < k; j++) in[j] = W.names[gr_node_operand(r->g, id, j)];
        int e = gd_ow_emit(&W, id, in, k, W.names[id], msg, sizeof msg);
        free(in);
        if (e == 0) gd_ow_push(&W, &W.infos, gd_ow_value_info(&W, W.names[id], gr_node_shape(r->g, id)));
        if (e < 0 && !W.oom) {
            gd_fail(r->e, GD_E_INVALID_ARGUMENT, "/format", "node \"%.64s\" (%s) cannot be written as ONNX: %s",
                    W.names[id], gr_op_name(gr_node_op(r->g, id)), msg);
            goto out;
        }
    }
    if (W.oom || write_output(&W, r->loss, r->loss_name) < 0) goto out;
    for (int k = 0; k < n; k++) {
        char want[GR_NAME_MAX + 8];
        snprintf(want, sizeof want, "grad_%s", wnames[k]);
        int taken = gr_graph_find(r->g, want);
        if (taken >= 0 || !strcmp(want, r->loss_name)) {
            gd_fail(r->e, GD_E_INVALID_ARGUMENT, "/format", "the gradient output \"%.64s\" would take the name of a "
                    "node of the graph", want);
            goto out;
        }
        if (write_output(&W, grads[k], want) < 0) goto out;
    }
    rc = pack_model(&W, bytes, len);
out:
    if (rc < 0 && !r->e->status)
        gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/format", "the ONNX model does not fit in the request's memory budget");
    writer_free(&W);
    return rc;
}

/* ---- the updated model ---------------------------------------------------- */

/* Round v to the nearest float16 (IEEE half: ties to even; over the range:
 * infinity). */
static uint16_t to_half(float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    float a = fabsf(v);
    if (a != a) return sign | 0x7e00;
    if (a >= 65520.0f) return sign | 0x7c00;
    if (a < 6.103515625e-05f) return sign | (uint16_t)lrintf(a * 16777216.0f); /* subnormal: units of 2^-24 */
    int e;
    float f = frexpf(a, &e);                                                 /* a = f * 2^e, f in [0.5, 1) */
    long mant = lrintf(ldexpf(f, 11));                                       /* 11 bits, ties to even */
    if (mant == 2048) mant = 1024, e++;
    return sign | (uint16_t)(((e + 14) << 10) | (mant - 1024));
}

/* Param leaf l's values in data type ty, a new tensor like old. */
static Onnx__TensorProto *updated_tensor(ox_w *W, const Onnx__TensorProto *old, const gd_leaf *l) {
    int64_t n = l->value.n;
    size_t es = old->data_type == OX_DOUBLE ? 8 : old->data_type == OX_FLOAT ? 4 : 2;
    if ((int64_t)((size_t)n * es) >= W->left) return W->oom = 1, NULL;
    uint8_t *raw = malloc((size_t)(n ? n : 1) * es);
    if (!raw) return W->oom = 1, NULL;
    for (int64_t i = 0; i < n; i++) {
        double v = W->r->dt == GR_F32 ? ((const float *)l->value.data)[i] : ((const double *)l->value.data)[i];
        float f = (float)v;
        uint32_t u;
        memcpy(&u, &f, 4);
        uint16_t h = old->data_type == OX_BFLOAT16 ? (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16) : to_half(f);
        if (es == 8) memcpy(raw + i * 8, &v, 8);
        else if (es == 4) memcpy(raw + i * 4, &f, 4);
        else memcpy(raw + i * 2, &h, 2);
    }
    Onnx__TensorProto *t = gd_ow_tensor(W, old->name, old->data_type, (int)old->n_dims, old->dims, raw, (size_t)n * es);
    free(raw);
    if (t && old->doc_string) t->doc_string = old->doc_string;
    return t;
}

int gd_onnx_write_updated(gd_req *r, uint8_t **bytes, size_t *len) {
    if (!r->onnx) return gd_fail(r->e, GD_E_INVALID_REQUEST, "/export", "\"export\": \"onnx\" needs an ONNX graph "
                                 "(\"graph\": {\"onnx\": ...} or a stored ONNX ref)");
    ox_w W = {.r = r, .elem = r->dt == GR_F32 ? OX_FLOAT : OX_DOUBLE, .left = r->budget};
    /* The request's model may be the graph store's, read by other
     * requests at once: the updated one is a copy of its top two levels
     * whose initializer list is the request's own. */
    Onnx__ModelProto mp = *r->onnx->model;
    Onnx__GraphProto g0 = *mp.graph, *g = &g0;
    mp.graph = g;
    Onnx__TensorProto **inits = calloc(g->n_initializer + 1, sizeof *inits);
    int rc = -1;
    *bytes = NULL;
    if (!inits) goto out;
    memcpy(inits, g->initializer, g->n_initializer * sizeof *inits);
    g->initializer = inits;
    for (size_t i = 0; i < g->n_initializer && !W.oom; i++) {
        const Onnx__TensorProto *t = r->onnx->model->graph->initializer[i];
        gd_leaf *l = t->name ? gd_req_leaf(r, t->name) : NULL;
        /* params, and buffers (BatchNormalization's running statistics, which step updates) */
        ox_init_role role = r->onnx->roles[i];
        if (!l || !l->has_value || (role != OX_INIT_PARAM && role != OX_INIT_BUFFER)) continue;
        Onnx__TensorProto *nt = updated_tensor(&W, t, l);
        if (nt) inits[i] = nt;
    }
    if (!W.oom) {
        *len = onnx__model_proto__get_packed_size(&mp);
        if ((int64_t)*len < W.left && (*bytes = malloc(*len ? *len : 1))) {
            onnx__model_proto__pack(&mp, *bytes);
            rc = 0;
        }
    }
out:
    free(inits);
    writer_free(&W);
    if (rc < 0) gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/export", "the ONNX model does not fit in the request's memory budget");
    return rc;
}

void gd_onnx_put_b64(cd_buf *b, const uint8_t *bytes, size_t len, int first) {
    cd_buf_key(b, "onnx", first);
    size_t n = cd_b64_encoded_len(len);
    cd_buf_putc(b, '"');
    if (!cd_buf_reserve(b, n + 2)) return;
    b->len += cd_b64_encode(bytes, len, b->p + b->len);
    cd_buf_putc(b, '"');
}
