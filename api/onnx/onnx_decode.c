/* onnx_decode.c -- "graph": {"onnx": "<base64>", "dtype", "frozen",
 * "nodes", "loss"} into the request's leaves: graph inputs are inputs
 * with their declared shapes (symbolic dims -1), float initializers are
 * params keyed by their names (their model values unless the request's
 * "params" gives others), frozen ones are constants, BatchNormalization's
 * running statistics are buffers (input leaves, their model values unless
 * the request's "buffers" gives others), integer initializers stay with
 * the lowering as host constants. */
#include "onnx_impl.h"

#include "codec/b64.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int oom(gd_req *r) { return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/graph/onnx", "out of memory decoding the model"); }

/* Is name an output of some node, or a graph input or initializer? */
static int model_has_value(const Onnx__GraphProto *g, const char *name) {
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_output; k++)
            if (!strcmp(g->node[i]->output[k], name)) return 1;
    for (size_t i = 0; i < g->n_input; i++)
        if (g->input[i]->name && !strcmp(g->input[i]->name, name)) return 1;
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name)) return 1;
    return 0;
}

/* The name sets of m: initializers, BatchNormalization's running
 * statistics, integer graph inputs. */
static int index_names(gd_req *r, gd_onnx *m) {
    const Onnx__GraphProto *g = m->graph;
    int bad = 0;
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name) bad |= gd_ox_nameset_add(&m->inits, g->initializer[i]->name);
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (!n->op_type || strcmp(n->op_type, "BatchNormalization")) continue;
        for (size_t k = 3; k < n->n_input && k < 5; k++) bad |= gd_ox_nameset_add(&m->bn_stats, n->input[k]);
    }
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (vi->name && vi->type && vi->type->tensor_type && !gd_ox_is_float_type(vi->type->tensor_type->elem_type))
            bad |= gd_ox_nameset_add(&m->int_inputs, vi->name);
    }
    if (bad) return oom(r);
    gd_ox_nameset_sort(&m->inits);
    gd_ox_nameset_sort(&m->bn_stats);
    gd_ox_nameset_sort(&m->int_inputs);
    return 0;
}

/* The checks the whole model needs before its parts are read. */
static int check_model(gd_req *r, gd_onnx *m) {
    const Onnx__ModelProto *mp = m->model;
    if (!mp->graph) return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/onnx", "the model has no graph");
    m->graph = mp->graph;
    m->opset = 0;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if ((!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx")) && o->has_version) m->opset = o->version;
    }
    if (m->opset == 0) m->opset = mp->n_opset_import ? 1 : 13;
    if (m->graph->n_sparse_initializer)
        return gd_fail(r->e, GD_E_INVALID_ARGUMENT, "/graph/onnx", "the model has sparse initializers; gradd has no "
                       "sparse tensors");
    if ((int64_t)m->graph->n_node > r->lim.max_nodes)
        return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/graph/onnx", "the model has more than %lld nodes",
                       (long long)r->lim.max_nodes);
    return 0;
}

/* The graph's dtype: "dtype" when given, else the model's float type
 * (the first float initializer's or input's), float32 when it has none. */
static int choose_dtype(gd_req *r, const gd_onnx *m, const json_t *dt) {
    if (dt) {
        const char *s = json_is_string(dt) ? json_string_value(dt) : "";
        if (!strcmp(s, "float64")) r->dt = GR_F64;
        else if (!strcmp(s, "float32")) r->dt = GR_F32;
        else return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/dtype", "dtype must be \"float64\" or \"float32\"");
        return 0;
    }
    r->dt = GR_F32;
    const Onnx__GraphProto *g = m->graph;
    for (size_t i = 0; i < g->n_initializer; i++)
        if (gd_ox_is_float_type(g->initializer[i]->data_type)) {
            r->dt = g->initializer[i]->data_type == OX_DOUBLE ? GR_F64 : GR_F32;
            return 0;
        }
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__TypeProto *t = g->input[i]->type;
        if (t && t->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && t->tensor_type &&
            gd_ox_is_float_type(t->tensor_type->elem_type)) {
            r->dt = t->tensor_type->elem_type == OX_DOUBLE ? GR_F64 : GR_F32;
            return 0;
        }
    }
    return 0;
}

/* Graph inputs that are not initializers: inputs with declared shapes. */
static int declare_inputs(gd_req *r, const gd_onnx *m) {
    const Onnx__GraphProto *g = m->graph;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (!vi->name || gd_ox_nameset_has(&m->inits, vi->name)) continue;
        const Onnx__TypeProto *t = vi->type;
        if (t && t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
            return gd_fail(r->e, GD_E_INVALID_ARGUMENT, "/graph/onnx", "input \"%.64s\" is not a tensor (sequences, "
                           "maps, optionals and sparse tensors are not supported)", vi->name);
        if (t && t->tensor_type && t->tensor_type->elem_type == OX_STRING)
            return gd_fail(r->e, GD_E_INVALID_ARGUMENT, "/graph/onnx", "input \"%.64s\" is a string tensor; gradd "
                           "has no string tensors", vi->name);
        gd_leaf *l = gd_req_add_leaf(r, vi->name, GD_INPUT, "/graph/onnx");
        if (!l) return -1;
        const Onnx__TensorShapeProto *s = t && t->tensor_type ? t->tensor_type->shape : NULL;
        if (!s) continue; /* any shape */
        if ((int)s->n_dim > r->lim.max_rank || s->n_dim > GR_MAX_RANK)
            return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/graph/onnx", "input \"%.64s\" has rank %zu, over the limit",
                           vi->name, s->n_dim);
        l->ndims = (int)s->n_dim;
        for (size_t k = 0; k < s->n_dim; k++) {
            const Onnx__TensorShapeProto__Dimension *d = s->dim[k];
            int known = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0;
            l->dims[k] = known ? d->dim_value : -1;
        }
    }
    return 0;
}

/* data (n doubles) as a tensor of the graph's dtype, charged to the budget. */
static int to_tensor(gd_req *r, const ox_tensor *x, gd_tensor *t) {
    gr_shape s;
    gr_error ge;
    if (gr_shape_make(&s, x->rank, x->dims, &ge) != GR_OK)
        return gd_fail(r->e, GD_E_INVALID_ARGUMENT, "/graph/onnx", "%s", ge.message);
    if (gd_tensor_zeros(&s, r->dt, &r->budget, "/graph/onnx", t, r->e) < 0) return -1;
    for (int64_t i = 0; i < x->n; i++) {
        if (r->dt == GR_F32) ((float *)t->data)[i] = (float)x->v[i];
        else ((double *)t->data)[i] = x->v[i];
    }
    return 0;
}

/* Float initializers: params and buffers (BN statistics: input leaves;
 * values later, unless the request's), or const leaves holding their
 * values now (frozen). A buffer stays a buffer when frozen. */
static int declare_initializers(gd_req *r, gd_onnx *m, const ox_nameset *frozen) {
    const Onnx__GraphProto *g = m->graph;
    m->roles = calloc(g->n_initializer + 1, sizeof *m->roles);
    if (!m->roles) return oom(r);
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        if (!t->name || !t->name[0])
            return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/onnx", "initializer %zu has no name", i);
        if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
            return gd_fail(r->e, GD_E_INVALID_ARGUMENT, "/graph/onnx", "initializer \"%.64s\" keeps its data "
                           "outside the model (data_location EXTERNAL); gradd reads no files: embed the data",
                           t->name);
        if (!gd_ox_is_float_type(t->data_type)) {
            m->roles[i] = OX_INIT_HOST;
            continue;
        }
        int is_buffer = gd_ox_nameset_has(&m->bn_stats, t->name);
        int is_const = !is_buffer && gd_ox_nameset_has(frozen, t->name);
        m->roles[i] = is_buffer ? OX_INIT_BUFFER : is_const ? OX_INIT_CONST : OX_INIT_PARAM;
        gd_leaf *l = gd_req_add_leaf(r, t->name, is_buffer ? GD_INPUT : is_const ? GD_CONST : GD_PARAM, "/graph/onnx");
        if (!l) return -1;
        if ((int)t->n_dims > r->lim.max_rank || t->n_dims > GR_MAX_RANK)
            return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/graph/onnx", "initializer \"%.64s\" has rank %zu, over the "
                           "limit", t->name, t->n_dims);
        l->ndims = (int)t->n_dims;
        for (size_t k = 0; k < t->n_dims; k++) l->dims[k] = t->dims[k];
        if (!is_const) continue;
        ox_tensor x;
        char why[160];
        if (gd_ox_tensor_read(t, r->lim.max_elements, &x, why, sizeof why) < 0)
            return gd_fail(r->e, GD_E_INVALID_ARGUMENT, "/graph/onnx", "initializer \"%.64s\": %s", t->name, why);
        int rc = to_tensor(r, &x, &l->value);
        gd_ox_tensor_free(&x);
        if (rc < 0) return -1;
        l->has_value = 1;
    }
    return 0;
}

/* "frozen": initializer names, into the set *out. */
static int read_frozen(gd_req *r, const gd_onnx *m, const json_t *frozen, ox_nameset *out) {
    if (!frozen) return 0;
    if (!json_is_array(frozen) || gd_doc_packed(&r->doc, frozen))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/frozen", "frozen must be a list of initializer names");
    for (size_t i = 0; i < json_array_size(frozen); i++) {
        const json_t *x = json_array_get(frozen, i);
        char p[GD_PATH_MAX] = "/graph/frozen";
        gd_path_index(p, sizeof p, (long)i);
        if (!json_is_string(x) || !gd_ox_nameset_has(&m->inits, json_string_value(x)))
            return gd_fail(r->e, GD_E_UNKNOWN_NAME, p, "frozen names an initializer of the model");
        if (gd_ox_nameset_add(out, json_string_value(x)) < 0) return oom(r);
    }
    gd_ox_nameset_sort(out);
    return 0;
}

/* "loss": a model value's name, or an expression over the model's values
 * and new inputs (lowered as the node "loss"). */
static int read_loss(gd_req *r, gd_onnx *m, const json_t *loss) {
    if (!loss) return 0;
    if (!json_is_string(loss))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/loss", "loss must be a node name or an expression");
    const char *s = json_string_value(loss);
    int is_node = model_has_value(m->graph, s);
    for (size_t i = 0; !is_node && r->nodes && i < json_array_size(r->nodes); i++) {
        const json_t *nm = json_object_get(json_array_get(r->nodes, i), "name");
        is_node = json_is_string(nm) && !strcmp(json_string_value(nm), s);
    }
    if (!is_node) {
        m->loss_len = json_string_length(loss);
        m->loss_expr = malloc(m->loss_len + 1);
        if (!m->loss_expr) return oom(r);
        memcpy(m->loss_expr, s, m->loss_len + 1);
        s = "loss";
    }
    r->loss_name = strdup(s);
    return r->loss_name ? 0 : oom(r);
}

/* A stored model unpacked for the store (gd_stored_parsed): its holder,
 * or NULL. The model was read whole when it was stored, so it fits. */
static void *unpack_stored(const gd_stored *g, int64_t *bytes) {
    gd_onnx *h = calloc(1, sizeof *h);
    char why[160];
    if (!h || gd_ox_model_unpack(h, (const uint8_t *)g->body, g->len, 4 * (int64_t)g->len + (1 << 20), why,
                                 sizeof why) < 0) {
        gd_onnx_free(h);
        return NULL;
    }
    *bytes = h->alloc_bytes;
    return h;
}

static void free_unpacked(void *h) { gd_onnx_free(h); }

/* m's model from the stored graph r->stored, unpacked once for all the
 * requests that use it (resnet18's 45 MB took 3 ms and as many fresh
 * pages each time); 0, or -1 when it cannot be (then unpacked as a
 * request's own). */
static int use_stored_model(gd_req *r, gd_onnx *m) {
    int yours = 0;
    gd_onnx *h = r->store ? gd_stored_parsed(r->store, r->stored, unpack_stored, free_unpacked, &yours) : NULL;
    if (!h) return -1;
    if (yours && h->alloc_bytes > r->budget) {
        gd_onnx_free(h);
        return -1;
    }
    m->model = h->model;
    m->parsed = h;
    m->parsed_owned = yours;
    if (yours) r->budget -= h->alloc_bytes;
    return 0;
}

int gd_onnx_decode(gd_req *r, const json_t *graph) {
    static const char *const fields[] = {"onnx", "ref", "dtype", "frozen", "nodes", "loss", NULL};
    if (gd_only_fields(graph, fields, "/graph", "an ONNX graph", r->e) < 0) return -1;
    if (json_object_get(r->doc.json.root, "dtype"))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/dtype", "give the dtype inside the graph object");
    const json_t *b64 = json_object_get(graph, "onnx");
    if (!r->stored && !json_is_string(b64))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/onnx", "onnx must be the model's bytes in base64");
    size_t len = 0; /* "ref": the graph store's model (decode.c looked it up), else the base64 */
    const char *text = r->stored ? "" : gd_doc_text(&r->doc, b64, &len);
    size_t cap = r->stored ? 0 : cd_b64_decoded_len(text, len), n = 0;
    if ((int64_t)cap > r->budget)
        return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/graph/onnx", "the model is over the request's memory budget");
    /* A stored model is read where it is (the request holds a reference
     * to it); base64 is decoded into a buffer of the request's. */
    uint8_t *bytes = r->stored ? NULL : malloc(cap ? cap : 1);
    if (!r->stored && !bytes) return oom(r);
    if (!r->stored && cd_b64_decode(text, len, bytes, cap, &n) < 0) {
        free(bytes);
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/onnx", "onnx is not valid base64");
    }
    const uint8_t *model = r->stored ? (const uint8_t *)r->stored->body : bytes;
    if (r->stored) n = r->stored->len;
    gd_onnx *m = r->onnx = calloc(1, sizeof *m);
    if (!m) {
        free(bytes);
        return oom(r);
    }
    if (!r->stored || use_stored_model(r, m) < 0) {
        char why[160];
        int rc = gd_ox_model_unpack(m, model, n, r->budget - (int64_t)cap, why, sizeof why);
        free(bytes);
        if (rc < 0)
            return gd_fail(r->e, m->alloc_bytes ? GD_E_LIMIT_EXCEEDED : GD_E_INVALID_REQUEST, "/graph/onnx", "%s", why);
        r->budget -= m->alloc_bytes;
    }
    if (check_model(r, m) < 0 || index_names(r, m) < 0 || choose_dtype(r, m, json_object_get(graph, "dtype")) < 0)
        return -1;
    const json_t *frozen = json_object_get(graph, "frozen");
    r->nodes = json_object_get(graph, "nodes");
    if (r->nodes && !json_is_array(r->nodes))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/nodes", "nodes must be a list");
    ox_nameset fz = {0};
    int bad = read_frozen(r, m, frozen, &fz) < 0 || declare_inputs(r, m) < 0 || declare_initializers(r, m, &fz) < 0;
    gd_ox_nameset_free(&fz);
    if (bad) return -1;
    const Onnx__GraphProto *g = m->graph;
    m->outputs = calloc(g->n_output + 1, sizeof *m->outputs);
    if (!m->outputs) return oom(r);
    for (size_t i = 0; i < g->n_output; i++)
        if (g->output[i]->name) m->outputs[m->noutputs++] = g->output[i]->name;
    return read_loss(r, m, json_object_get(graph, "loss"));
}

int gd_onnx_fill(gd_req *r) {
    gd_onnx *m = r->onnx;
    const Onnx__GraphProto *g = m->graph;
    for (size_t i = 0; i < g->n_initializer; i++) {
        if (m->roles[i] != OX_INIT_PARAM && m->roles[i] != OX_INIT_BUFFER) continue;
        gd_leaf *l = gd_req_leaf(r, g->initializer[i]->name);
        if (!l || l->has_value) continue;
        ox_tensor x;
        char why[160];
        if (gd_ox_tensor_read(g->initializer[i], r->lim.max_elements, &x, why, sizeof why) < 0)
            return gd_fail(r->e, GD_E_INVALID_ARGUMENT, "/graph/onnx", "initializer \"%.64s\": %s", l->name, why);
        int rc = to_tensor(r, &x, &l->value);
        gd_ox_tensor_free(&x);
        if (rc < 0) return -1;
        l->has_value = 1;
    }
    gd_names *o = &r->args.outputs;
    if (!o->given && !r->loss_name && m->noutputs > 0) {
        o->names = calloc((size_t)m->noutputs, sizeof *o->names);
        if (!o->names) return oom(r);
        o->given = 1;
        for (int i = 0; i < m->noutputs; i++) o->names[o->n++] = m->outputs[i];
    }
    return 0;
}

int gd_onnx_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= GR_NAME_MAX || s[0] == '%' || s[0] == '`') return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '`') return 0;
    return 1;
}

int gd_onnx_is_buffer(const gd_req *r, const char *name) {
    const gd_onnx *m = r->onnx; /* float initializers feeding BN statistics (those are never integers) */
    return m && m->roles && gd_ox_nameset_has(&m->bn_stats, name) && gd_ox_nameset_has(&m->inits, name);
}

int gd_onnx_buffer_next_name(const char *buffer, char *out, size_t cap) {
    return (size_t)snprintf(out, cap, "%s#next", buffer) < cap ? 0 : -1;
}

const char *const *gd_onnx_outputs(const gd_req *r, int *n) {
    *n = r->onnx ? r->onnx->noutputs : 0;
    return r->onnx ? r->onnx->outputs : NULL;
}

const char *gd_onnx_loss_expr(const gd_req *r, size_t *len) {
    *len = r->onnx ? r->onnx->loss_len : 0;
    return r->onnx ? r->onnx->loss_expr : NULL;
}
