/* decode.c -- the typed decode phase: every field of a request's body,
 * read by its type in its route spec's order (spec.c), before any graph is
 * built. The graph's declarations and the leaves' values go into the
 * request's leaves; everything else into gd_args. Types, ranges, shapes
 * given in the body and limits are checked here, so a request that fails
 * here fails the same way whatever its graph; names are resolved against
 * the graph later (lowering), and shapes against the graph's nodes after
 * shape inference. */
#include "request.h"
#include "routes.h"
#include "onnx/onnx.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int oom(gd_req *r) { return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "", "out of memory decoding the request"); }

void gd_sub_path(char *out, const char *base, const char *token) {
    cd_join(out, GD_PATH_MAX, base, "");
    gd_path_push(out, GD_PATH_MAX, token);
}

/* ---- the graph: dtype, declared leaves, constants, nodes, loss ---------- */

static int read_dtype(gd_req *r, const json_t *v, const char *path) {
    r->dt = GR_F64;
    if (!v) return 0;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (!strcmp(s, "float64")) r->dt = GR_F64;
    else if (!strcmp(s, "float32")) r->dt = GR_F32;
    else return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "dtype must be \"float64\" or \"float32\"");
    return 0;
}

/* Declared leaves of the long form: "inputs" / "params": {name: shape}. */
static int declare(gd_req *r, const json_t *graph, const char *key, gd_leaf_kind kind) {
    const json_t *m = json_object_get(graph, key);
    char base[GD_PATH_MAX], p[GD_PATH_MAX];
    gd_sub_path(base, "/graph", key);
    if (!m) return 0;
    if (!json_is_object(m)) return gd_fail(r->e, GD_E_INVALID_REQUEST, base, "expected an object of name: shape");
    const char *name;
    json_t *shape;
    json_object_foreach((json_t *)m, name, shape) {
        gd_sub_path(p, base, name);
        gd_leaf *l = gd_req_add_leaf(r, name, kind, p);
        if (!l) return -1;
        int n = gd_read_dims(&r->doc, shape, r->lim.max_rank < GR_MAX_RANK ? r->lim.max_rank : GR_MAX_RANK,
                             kind == GD_INPUT, l->dims, p, r->e);
        if (n < 0) return -1;
        l->ndims = n;
    }
    return 0;
}

static int read_constants(gd_req *r, const json_t *graph) {
    const json_t *m = json_object_get(graph, "constants");
    char p[GD_PATH_MAX];
    if (!m) return 0;
    if (!json_is_object(m))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/constants", "expected an object of name: value");
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)m, name, v) {
        gd_sub_path(p, "/graph/constants", name);
        gd_leaf *l = gd_req_add_leaf(r, name, GD_CONST, p);
        if (!l) return -1;
        if (gd_tensor_decode(&r->doc, v, r->dt, &r->lim, &r->budget, p, &l->value, r->e) < 0) return -1;
        l->has_value = 1;
    }
    return 0;
}

static int read_graph_decl(gd_req *r, const json_t *graph) {
    static const char *const graph_fields[] = {"dtype", "inputs", "params", "constants", "nodes", "loss", NULL};
    if (gd_only_fields(graph, graph_fields, "/graph", "the graph", r->e) < 0) return -1;
    if (json_object_get(r->doc.json.root, "dtype"))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/dtype", "give the dtype inside the graph object");
    if (read_dtype(r, json_object_get(graph, "dtype"), "/graph/dtype") < 0) return -1;
    if (declare(r, graph, "inputs", GD_INPUT) < 0 || declare(r, graph, "params", GD_PARAM) < 0) return -1;
    if (read_constants(r, graph) < 0) return -1;
    r->nodes = json_object_get(graph, "nodes");
    if (r->nodes && !json_is_array(r->nodes))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/nodes", "nodes must be a list");
    if (r->nodes && (int64_t)json_array_size(r->nodes) > r->lim.max_nodes)
        return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/graph/nodes", "the graph has more than %lld nodes",
                       (long long)r->lim.max_nodes);
    const json_t *loss = json_object_get(graph, "loss");
    if (loss) {
        if (!json_is_string(loss))
            return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/loss", "loss must be a node name");
        r->loss_name = strdup(json_string_value(loss));
        if (!r->loss_name) return oom(r);
    }
    return 0;
}

/* Is name a node or leaf of the graph decoded so far? */
static int names_node(gd_req *r, const char *name) {
    if (gd_req_leaf(r, name)) return 1;
    for (size_t i = 0; r->nodes && i < json_array_size(r->nodes); i++) {
        const json_t *nm = json_object_get(json_array_get(r->nodes, i), "name");
        if (json_is_string(nm) && !strcmp(json_string_value(nm), name)) return 1;
    }
    return 0;
}

/* A stored graph's "loss" that names no node: an expression over its
 * nodes, appended as the node "loss" (as the ONNX form does). */
static int append_loss_expr(gd_req *r, const json_t *expr) {
    if (names_node(r, "loss"))
        return gd_fail(r->e, GD_E_DUPLICATE_NAME, "/graph/loss", "the stored graph has a node \"loss\" already: "
                       "write the expression as a node of \"nodes\" and name it in loss");
    if (!r->ref_nodes) { /* the stored nodes, then the new one */
        r->ref_nodes = json_array();
        if (!r->ref_nodes) return oom(r);
        for (size_t i = 0; r->nodes && i < json_array_size(r->nodes); i++)
            if (json_array_append(r->ref_nodes, json_array_get(r->nodes, i)) < 0) return oom(r);
        r->nodes = r->ref_nodes;
    }
    json_t *node = json_pack("{s:s, s:O}", "name", "loss", "expr", (json_t *)expr);
    if (!node || json_array_append_new(r->ref_nodes, node) < 0) return oom(r);
    return 0;
}

/* "graph": {"ref": "sha256:...", "nodes", "loss"} (and the ONNX form's
 * "dtype", "frozen" for a stored model): the graph store's graph used as
 * if it had been sent, a JSON graph with the request's "nodes" after its
 * own and the request's "loss" in place of its own (a node name, or an
 * expression over the graph's names, lowered as the node "loss", as the
 * ONNX form's). The stored graph is
 * held until the request closes; its JSON is parsed here, under the
 * request's limits and budget, into r->ref_doc. */
static int decode_ref(gd_req *r, const json_t *graph) {
    const json_t *ref = json_object_get(graph, "ref");
    const char *s = json_string_value(ref);
    if (!s || !gd_ref_ok(s))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/ref", "ref must be \"sha256:\" and 64 lowercase hex digits, as "
                       "POST /v1/graphs answers");
    if (json_object_get(graph, "onnx"))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/onnx", "give either ref or onnx");
    r->stored = gd_store_get(r->store, s);
    if (!r->stored)
        return gd_fail(r->e, GD_E_GRAPH_NOT_FOUND, "/graph/ref", "this replica holds no graph %s: upload it with POST "
                       "/v1/graphs and send the request again", s);
    if (r->stored->format == GD_GRAPH_ONNX) return gd_onnx_decode(r, graph);
    static const char *const fields[] = {"ref", "nodes", "loss", NULL};
    if (gd_only_fields(graph, fields, "/graph", "a stored JSON graph", r->e) < 0) return -1;
    static const char *const graph_fields[] = {"dtype", "inputs", "params", "constants", "nodes", "loss", NULL};
    gd_doc_opts jo = {.max_depth = r->lim.max_depth,
                      .max_bytes = gd_tree_bytes_max(&r->lim, r->stored->len),
                      .top_fields = graph_fields,
                      .top_what = "the stored graph",
                      .cancel = r->cancel};
    if (gd_doc_parse(r->stored->body, r->stored->len, &jo, &r->ref_doc, r->e) < 0) return -1;
    r->budget -= r->ref_doc.json.bytes;
    r->doc.also = &r->ref_doc;
    if (!json_is_object(r->ref_doc.json.root))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/ref", "the stored graph is not a graph object");
    if (read_graph_decl(r, r->ref_doc.json.root) < 0) return -1;
    const json_t *more = json_object_get(graph, "nodes"), *loss = json_object_get(graph, "loss");
    if (more) {
        if (!json_is_array(more)) return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/nodes", "nodes must be a list");
        r->ref_nodes = json_array();
        if (!r->ref_nodes) return oom(r);
        for (size_t i = 0; r->nodes && i < json_array_size(r->nodes); i++)
            if (json_array_append(r->ref_nodes, json_array_get(r->nodes, i)) < 0) return oom(r);
        for (size_t i = 0; i < json_array_size(more); i++)
            if (json_array_append(r->ref_nodes, json_array_get(more, i)) < 0) return oom(r);
        if ((int64_t)json_array_size(r->ref_nodes) > r->lim.max_nodes)
            return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/graph/nodes", "the graph has more than %lld nodes",
                           (long long)r->lim.max_nodes);
        r->nodes = r->ref_nodes;
    }
    if (loss) {
        if (!json_is_string(loss))
            return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph/loss", "loss must be a node name or an expression");
        const char *ls = json_string_value(loss);
        if (!names_node(r, ls) && append_loss_expr(r, loss) < 0) return -1;
        free(r->loss_name);
        r->loss_name = strdup(names_node(r, ls) ? ls : "loss");
        if (!r->loss_name) return oom(r);
    }
    return 0;
}

static int decode_graph(gd_req *r, const gd_field_spec *f, const json_t *graph, const char *path) {
    (void)f;
    if (!graph) return gd_fail(r->e, GD_E_MISSING_FIELD, path, "the request needs a \"graph\"");
    if (json_is_string(graph)) {
        if (read_dtype(r, json_object_get(r->doc.json.root, "dtype"), "/dtype") < 0) return -1;
        r->short_expr = json_string_value(graph);
        r->short_len = json_string_length(graph);
        r->loss_name = strdup("f");
        return r->loss_name ? 0 : oom(r);
    }
    if (json_is_object(graph) && json_object_get(graph, "ref")) return decode_ref(r, graph);
    if (json_is_object(graph) && json_object_get(graph, "onnx")) return gd_onnx_decode(r, graph);
    if (json_is_object(graph)) return read_graph_decl(r, graph);
    return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "graph must be an expression string or a graph object");
}

/* ---- leaf values -------------------------------------------------------- */

static int check_shape(gd_req *r, gd_leaf *l, const char *path) {
    const gr_shape *s = &l->value.shape;
    int ok = l->ndims < 0 || l->ndims == s->rank;
    for (int i = 0; ok && l->ndims >= 0 && i < s->rank; i++) ok = l->dims[i] < 0 || l->dims[i] == s->dims[i];
    if (ok) return 0;
    char got[160], want[160] = "[";
    for (int i = 0; i < l->ndims; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), i ? ", %lld" : "%lld", (long long)l->dims[i]);
    strcat(want, "]");
    return gd_fail(r->e, GD_E_SHAPE_MISMATCH, path, "\"%s\" has shape %s; the graph declares %s", l->name,
                   gr_shape_str(s, got, sizeof got), want);
}

/* Give leaf l the value t (at path): owned, or borrowed from a batch. */
static int set_leaf(gd_req *r, gd_leaf *l, gd_tensor t, int borrowed, const char *path) {
    if (!l->borrowed) gd_tensor_free(&l->value);
    l->value = t;
    l->has_value = 1;
    l->borrowed = borrowed;
    cd_join(l->path, sizeof l->path, path, "");
    return check_shape(r, l, path);
}

int gd_req_set_value(gd_req *r, gd_leaf *l, const json_t *v, const char *path) {
    gd_tensor t;
    if (gd_tensor_decode(&r->doc, v, r->dt, &r->lim, &r->budget, path, &t, r->e) < 0) return -1;
    return set_leaf(r, l, t, 0, path);
}

int gd_req_set_batch_value(gd_req *r, gd_leaf *l, const gd_named *x) { return set_leaf(r, l, x->value, 1, x->path); }

/* The leaf a value named name (at p, under key) is for: declared by the
 * graph, or declared by the value in the short form. NULL with r->e set. */
static gd_leaf *leaf_for_value(gd_req *r, const char *name, gd_leaf_kind kind, const char *key, const char *p) {
    gd_leaf *l = gd_req_leaf(r, name);
    if (!l && (r->short_expr || (r->onnx && kind == GD_INPUT))) l = gd_req_add_leaf(r, name, kind, p);
    else if (!l) return gd_fail(r->e, GD_E_UNKNOWN_FIELD, p, "the graph declares no %s \"%.64s\"", key, name), NULL;
    if (!l) return NULL;
    if (l->kind != kind)
        return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "\"%s\" is declared as %s, so its value belongs under %s", name,
                       l->kind == GD_PARAM ? "a param" : "an input", l->kind == GD_PARAM ? "params" : "inputs"),
               NULL;
    if (l->has_value)
        return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "\"%s\" is given twice (in inputs and in batches)", name), NULL;
    return l;
}

/* "inputs", "params", or "buffers" (an ONNX model's BatchNormalization
 * running statistics: input leaves, onnx/onnx.h). */
static int decode_leaves(gd_req *r, const gd_field_spec *f, const json_t *m, const char *base) {
    gd_leaf_kind kind = !strcmp(f->name, "params") ? GD_PARAM : GD_INPUT;
    int buffers = !strcmp(f->name, "buffers");
    char p[GD_PATH_MAX];
    if (!m) return 0;
    if (!json_is_object(m)) return gd_fail(r->e, GD_E_INVALID_REQUEST, base, "expected an object of name: value");
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)m, name, v) {
        gd_sub_path(p, base, name);
        if (kind == GD_INPUT && gd_onnx_is_buffer(r, name) != buffers)
            return gd_fail(r->e, buffers ? GD_E_UNKNOWN_FIELD : GD_E_INVALID_REQUEST, p, buffers ?
                           "\"%.64s\" is no buffer of the model (buffers are the running statistics of its "
                           "BatchNormalization nodes)" : "\"%.64s\" is a buffer of the model: its value belongs under "
                           "buffers", name);
        gd_leaf *l = leaf_for_value(r, name, kind, f->name, p);
        if (!l || gd_req_set_value(r, l, v, p) < 0) return -1;
    }
    return 0;
}

/* ---- how the answer is written ------------------------------------------ */

static int decode_encoding(gd_req *r, const gd_field_spec *f, const json_t *v, const char *path) {
    (void)f;
    if (!v) return 0;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (!strcmp(s, "nested")) r->enc = GD_ENC_NESTED;
    else if (!strcmp(s, "flat")) r->enc = GD_ENC_FLAT;
    else if (!strcmp(s, "b64")) r->enc = GD_ENC_B64;
    else return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "encoding must be \"nested\", \"flat\" or \"b64\"");
    return 0;
}

static int decode_bool(gd_req *r, const gd_field_spec *f, const json_t *v, const char *path) {
    if (v && !json_is_boolean(v)) return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "%s must be true or false", f->name);
    if (v && f->offset) *(int *)((char *)&r->args + f->offset) = json_is_true(v);
    return 0;
}

static int decode_binary(gd_req *r, const gd_field_spec *f, const json_t *v, const char *path) {
    if (decode_bool(r, f, v, path) < 0) return -1;
    if (!json_is_true(v)) return 0;
    if (json_object_get(r->doc.json.root, "encoding"))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/encoding", "give either encoding or binary_data_output");
    r->binary_out = 1;
    r->enc = GD_ENC_BINARY;
    return 0;
}

/* ---- route arguments ---------------------------------------------------- */

static int decode_names(gd_req *r, const gd_field_spec *f, const json_t *v, const char *path) {
    gd_names *out = (gd_names *)((char *)&r->args + f->offset);
    if (!v) return 0;
    if (!json_is_array(v) || gd_doc_packed(&r->doc, v))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "%s must be a list of node names", f->name);
    size_t n = json_array_size(v);
    if (n > GD_MAX_LIST) return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, path, "%s names more than %d nodes", f->name, GD_MAX_LIST);
    out->names = calloc(n ? n : 1, sizeof *out->names);
    if (!out->names) return oom(r);
    out->given = 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(v, i);
        char q[GD_PATH_MAX];
        cd_join(q, sizeof q, path, "");
        gd_path_index(q, sizeof q, (long)i);
        if (!json_is_string(x)) return gd_fail(r->e, GD_E_INVALID_REQUEST, q, "expected a node name");
        const char *s = json_string_value(x);
        for (int j = 0; j < out->n; j++)
            if (!strcmp(out->names[j], s))
                return gd_fail(r->e, GD_E_INVALID_REQUEST, q, "\"%.64s\" is named twice in %s", s, f->name);
        out->names[out->n++] = s;
    }
    return 0;
}

/* {name: tensor} at path into *m, each value decoded in the graph's dtype
 * (shapes are checked against the nodes they are for later). */
static int read_tensor_map(gd_req *r, const json_t *v, const char *path, const char *what, gd_tensor_map *m) {
    if (!json_is_object(v)) return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "%s", what);
    if (json_object_size(v) > GD_MAX_LIST) return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, path, "too many entries");
    m->items = calloc(json_object_size(v) + 1, sizeof *m->items);
    if (!m->items) return oom(r);
    m->given = 1;
    const char *name;
    json_t *x;
    json_object_foreach((json_t *)v, name, x) {
        char p[GD_PATH_MAX];
        gd_sub_path(p, path, name);
        gd_named *it = &m->items[m->n];
        it->name = name;
        it->path = strdup(p);
        if (!it->path) return oom(r);
        m->n++;
        if (gd_tensor_decode(&r->doc, x, r->dt, &r->lim, &r->budget, p, &it->value, r->e) < 0) return -1;
    }
    return 0;
}

static int decode_tensors(gd_req *r, const gd_field_spec *f, const json_t *v, const char *path) {
    gd_tensor_map *m = (gd_tensor_map *)((char *)&r->args + f->offset);
    if (!v) return 0;
    char what[64];
    snprintf(what, sizeof what, "%s must be an object of name: value", f->name);
    return read_tensor_map(r, v, path, what, m);
}

static int read_number(gd_req *r, const json_t *o, const char *key, double *v) {
    const json_t *x = json_object_get(o, key);
    if (!x) return 0;
    char p[GD_PATH_MAX];
    gd_sub_path(p, "/optimizer", key);
    if (json_is_string(x)) { /* the fix depends on what the string holds */
        const char *s = json_string_value(x);
        char *end;
        double d = strtod(s, &end);
        if (*s && !*end && d == d && d - d == 0)
            return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "%s must be a JSON number: write %.32s without quotes", key, s);
        if (*s && !*end)
            return gd_fail(r->e, GD_E_INVALID_REQUEST, p,
                           "%s must be a finite number, and \"%.32s\" is not: it would make every param NaN; give a "
                           "number such as 0.01",
                           key, s);
        return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "%s must be a number such as 0.01, not the string \"%.32s\"", key,
                       s);
    }
    if (!json_is_number(x)) return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "%s must be a number such as 0.01", key);
    *v = json_number_value(x);
    return 0;
}

static int decode_optimizer(gd_req *r, const gd_field_spec *f, const json_t *j, const char *path) {
    (void)f;
    gd_optimizer *o = &r->args.optimizer;
    if (!j) return 0; /* plain SGD, lr 0.01 */
    if (!json_is_object(j)) return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "optimizer must be an object");
    const json_t *name = json_object_get(j, "name");
    const char *nm = json_is_string(name) ? json_string_value(name) : "sgd";
    if (name && !json_is_string(name))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/optimizer/name", "name must be a string");
    static const char *const sgd_keys[] = {"name", "lr", "momentum", "nesterov", "weight_decay", NULL};
    static const char *const adam_keys[] = {"name", "lr", "beta1", "beta2", "eps", "weight_decay", NULL};
    if (!strcmp(nm, "adam") || !strcmp(nm, "adamw")) {
        o->adam = 1;
        o->ad.decoupled = nm[4] == 'w';
    } else if (strcmp(nm, "sgd")) {
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/optimizer/name", "optimizer \"%.32s\" is not one of sgd, adam, adamw",
                       nm);
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v) {
        int ok = 0;
        for (const char *const *k = o->adam ? adam_keys : sgd_keys; *k; k++) ok |= !strcmp(*k, key);
        if (!ok) {
            char p[GD_PATH_MAX];
            gd_sub_path(p, "/optimizer", key);
            return gd_fail(r->e, GD_E_UNKNOWN_FIELD, p, "%s takes no \"%.32s\"", nm, key);
        }
    }
    gr_error ge;
    if (o->adam) {
        if (read_number(r, j, "lr", &o->ad.lr) || read_number(r, j, "beta1", &o->ad.beta1) ||
            read_number(r, j, "beta2", &o->ad.beta2) || read_number(r, j, "eps", &o->ad.eps) ||
            read_number(r, j, "weight_decay", &o->ad.weight_decay))
            return -1;
        if (gr_adam_check(&o->ad, &ge) == GR_OK) return 0;
    } else {
        const json_t *nest = json_object_get(j, "nesterov");
        if (nest && !json_is_boolean(nest))
            return gd_fail(r->e, GD_E_INVALID_REQUEST, "/optimizer/nesterov", "nesterov must be true or false");
        o->sgd.nesterov = json_is_true(nest);
        if (read_number(r, j, "lr", &o->sgd.lr) || read_number(r, j, "momentum", &o->sgd.momentum) ||
            read_number(r, j, "weight_decay", &o->sgd.weight_decay))
            return -1;
        if (gr_sgd_check(&o->sgd, &ge) == GR_OK) return 0;
    }
    char p[GD_PATH_MAX];
    gd_sub_path(p, "/optimizer", ge.attr);
    return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "%s", ge.message);
}

/* The optimizer state: "velocity" (SGD) or "step", "m", "v" (Adam), each
 * tensor map {param: value}; which params they must name is checked by
 * the step (it knows what is trained). Decoded after the optimizer. */
static int decode_state(gd_req *r, const gd_field_spec *f, const json_t *st, const char *path) {
    (void)f;
    gd_state *s = &r->args.state;
    int adam = r->args.optimizer.adam;
    const char *k1 = adam ? "m" : "velocity", *k2 = adam ? "v" : NULL;
    if (!st) return 0;
    if (!json_is_object(st)) return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "state must be an object");
    s->given = 1;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)st, key, v) {
        if (strcmp(key, k1) && (!k2 || strcmp(key, k2)) && !(adam && !strcmp(key, "step"))) {
            char p[GD_PATH_MAX];
            gd_sub_path(p, path, key);
            const json_t *oname = json_object_get(r->doc.json.root, "optimizer");
            oname = json_is_object(oname) ? json_object_get(oname, "name") : NULL;
            const char *nm = json_is_string(oname) ? json_string_value(oname) : "sgd";
            if (!adam && (!strcmp(key, "step") || !strcmp(key, "m") || !strcmp(key, "v")))
                return gd_fail(r->e, GD_E_INVALID_REQUEST, p,
                               "\"%s\" is Adam's state, but this request's optimizer is %s: send the optimizer the "
                               "state came from (\"optimizer\": {\"name\": \"adam\", ...}), or leave \"state\" out "
                               "to start %s afresh",
                               key, nm, nm);
            if (adam && !strcmp(key, "velocity"))
                return gd_fail(r->e, GD_E_INVALID_REQUEST, p,
                               "\"velocity\" is SGD's state (momentum), but this request's optimizer is %s: send "
                               "\"optimizer\": {\"name\": \"sgd\", \"momentum\": ...} with it, or leave \"state\" "
                               "out to start %s afresh",
                               nm, nm);
            return gd_fail(r->e, GD_E_UNKNOWN_FIELD, p, "unknown optimizer state \"%.32s\" (%s)", key,
                           adam ? "step, m, v" : "velocity");
        }
    }
    const json_t *step = json_object_get(st, "step");
    if (step && (!json_is_integer(step) || json_integer_value(step) < 0))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/state/step", "step must be an integer >= 0");
    if (step) s->step = json_integer_value(step);
    for (int pass = 0; pass < 2; pass++) {
        const char *k = pass ? k2 : k1;
        const json_t *m = k ? json_object_get(st, k) : NULL;
        if (!m) continue;
        char base[GD_PATH_MAX];
        gd_sub_path(base, path, k);
        if (read_tensor_map(r, m, base, "expected {param: value}", pass ? &s->second : &s->first) < 0) return -1;
    }
    return 0;
}

static int decode_count(gd_req *r, const gd_field_spec *f, const json_t *v, const char *path) {
    int64_t *out = (int64_t *)((char *)&r->args + f->offset);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "%s must be an integer >= 1", f->name);
    if (json_integer_value(v) > r->lim.max_steps)
        return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, path, "%lld %s is over the limit of %lld",
                       (long long)json_integer_value(v), f->name, (long long)r->lim.max_steps);
    *out = json_integer_value(v);
    return 0;
}

static int decode_non_finite(gd_req *r, const gd_field_spec *f, const json_t *v, const char *path) {
    if (!v) return 0;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (strcmp(s, "stop") && strcmp(s, "continue"))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "%s must be \"stop\" or \"continue\"", f->name);
    *(int *)((char *)&r->args + f->offset) = !strcmp(s, "continue");
    return 0;
}

/* "json" (the default) or "onnx": into an int, 1 for "onnx". */
static int decode_format(gd_req *r, const gd_field_spec *f, const json_t *v, const char *path) {
    if (!v) return 0;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (strcmp(s, "json") && strcmp(s, "onnx"))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "%s must be \"json\" or \"onnx\"", f->name);
    *(int *)((char *)&r->args + f->offset) = !strcmp(s, "onnx");
    return 0;
}

static int decode_fraction(gd_req *r, const gd_field_spec *f, const json_t *v, const char *path) {
    if (!v) return 0;
    if (!json_is_number(v) || !(json_number_value(v) > 0) || json_number_value(v) > 1)
        return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "%s must be a number in (0, 1]", f->name);
    *(double *)((char *)&r->args + f->offset) = json_number_value(v);
    return 0;
}

/* Batches: a non-empty list of {input: value}; steps x batches within the
 * step limit before any is decoded. Decoded after "steps". */
static int decode_batches(gd_req *r, const gd_field_spec *f, const json_t *v, const char *path) {
    (void)f;
    if (!v) return 0;
    int64_t nb = json_is_array(v) ? (int64_t)json_array_size(v) : 0;
    if (nb == 0) return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "batches must be a non-empty list of input objects");
    if (nb > r->lim.max_steps || nb * r->args.steps > r->lim.max_steps)
        return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/steps", "%lld steps is over the limit of %lld",
                       (long long)(nb * r->args.steps), (long long)r->lim.max_steps);
    r->args.batches = calloc((size_t)nb, sizeof *r->args.batches);
    if (!r->args.batches) return oom(r);
    r->args.nbatches = (int)nb;
    for (int64_t i = 0; i < nb; i++) {
        char p[GD_PATH_MAX];
        cd_join(p, sizeof p, path, "");
        gd_path_index(p, sizeof p, (long)i);
        if (read_tensor_map(r, json_array_get(v, (size_t)i), p, "a batch is an object of input name: value",
                            &r->args.batches[i]) < 0)
            return -1;
    }
    return 0;
}

/* The first batch's values are the inputs the graph is built for; every
 * batch may name inputs of the graph only. */
static int bind_batches(gd_req *r) {
    for (int b = 0; b < r->args.nbatches; b++)
        for (int i = 0; i < r->args.batches[b].n; i++) {
            const gd_named *x = &r->args.batches[b].items[i];
            gd_leaf *l = b == 0 ? leaf_for_value(r, x->name, GD_INPUT, "inputs", x->path) : gd_req_leaf(r, x->name);
            if (b == 0 && !l) return -1;
            if (!l || l->kind != GD_INPUT)
                return gd_fail(r->e, GD_E_UNKNOWN_FIELD, x->path, "the graph has no input \"%.64s\"", x->name);
            if (b == 0 && gd_req_set_batch_value(r, l, x) < 0) return -1;
        }
    return 0;
}

/* Every declared input and param needs a value; forward's long form
 * excepted, for inputs its outputs do not need (lowering checks that). */
static int check_values(gd_req *r) {
    int forward = r->spec->handler == gd_route_forward && r->nodes && !r->onnx;
    for (int i = 0; i < r->nleaves; i++) {
        gd_leaf *l = &r->leaves[i];
        if (l->has_value || (forward && l->kind == GD_INPUT)) continue;
        char p[GD_PATH_MAX] = "";
        gd_path_push(p, sizeof p, l->kind == GD_PARAM ? "params" : "inputs");
        gd_path_push(p, sizeof p, l->name);
        return gd_fail(r->e, GD_E_MISSING_VALUE, p, "no value was given for %s \"%s\"",
                       l->kind == GD_PARAM ? "param" : "input", l->name);
    }
    return 0;
}

typedef int (*field_decoder)(gd_req *r, const gd_field_spec *f, const json_t *v, const char *path);

static const field_decoder decoders[GD_FIELD_TYPE_COUNT] = {
    [GD_FIELD_GRAPH] = decode_graph,       [GD_FIELD_DTYPE] = NULL, /* read with the graph */
    [GD_FIELD_LEAVES] = decode_leaves,     [GD_FIELD_ENCODING] = decode_encoding,
    [GD_FIELD_BINARY] = decode_binary,     [GD_FIELD_BOOL] = decode_bool,
    [GD_FIELD_NAMES] = decode_names,       [GD_FIELD_TENSORS] = decode_tensors,
    [GD_FIELD_OPTIMIZER] = decode_optimizer, [GD_FIELD_STATE] = decode_state,
    [GD_FIELD_COUNT] = decode_count,       [GD_FIELD_FRACTION] = decode_fraction,
    [GD_FIELD_BATCHES] = decode_batches,   [GD_FIELD_NON_FINITE] = decode_non_finite,
    [GD_FIELD_FORMAT] = decode_format,
};

int gd_req_decode(gd_req *r) {
    gd_args *a = &r->args;
    a->optimizer.sgd = gr_sgd_default();
    a->optimizer.ad = gr_adam_default();
    a->steps = 1;
    a->report_every = 1;
    for (int i = 0; i < r->spec->nfields; i++) {
        const gd_field_spec *f = &r->spec->fields[i];
        char path[GD_PATH_MAX] = "";
        gd_path_push(path, sizeof path, f->name);
        if (decoders[f->type] && decoders[f->type](r, f, json_object_get(r->doc.json.root, f->name), path) < 0)
            return -1;
    }
    if (bind_batches(r) < 0) return -1;
    if (r->onnx && gd_onnx_fill(r) < 0) return -1;
    return check_values(r);
}

static void free_map(gd_tensor_map *m) {
    for (int i = 0; i < m->n; i++) {
        free(m->items[i].path);
        gd_tensor_free(&m->items[i].value);
    }
    free(m->items);
}

void gd_args_free(gd_args *a) {
    free(a->wrt.names);
    free(a->outputs.names);
    free_map(&a->tangents);
    free_map(&a->vector);
    free_map(&a->state.first);
    free_map(&a->state.second);
    for (int b = 0; b < a->nbatches; b++) free_map(&a->batches[b]);
    free(a->batches);
    memset(a, 0, sizeof *a);
}
