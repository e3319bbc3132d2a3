/* request.c -- decoding a request's graph and values into a finalized
 * libgrad graph. The order matters for clear errors and for limits: the
 * JSON is parsed (depth-limited), the top-level fields checked, the leaves
 * declared, their values decoded (each charged to the byte budget before
 * it is allocated), and only then is the graph built. */
#include "request.h"

#include "attrs.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gd_limits gd_limits_default(void) {
    gd_limits l = {.max_body_bytes = (size_t)64 << 20,
                   .max_depth = 64,
                   .max_nodes = 1 << 20,
                   .max_rank = GR_MAX_RANK,
                   .max_elements = (int64_t)1 << 26,
                   .max_total_bytes = (int64_t)2 << 30,
                   .max_tree_bytes = (int64_t)256 << 20,
                   .max_expr_len = 64 << 10,
                   .max_steps = 10000,
                   .max_check_elements = 100000};
    return l;
}

int gd_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= GR_NAME_MAX || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || strchr("_.:/#-", s[i]))) return 0;
    return 1;
}

/* A body's JSON tree may take this many bytes per byte of body, plus
 * GD_TREE_BYTES_MIN, and never more than max_tree_bytes or
 * max_total_bytes. Tensors sent as rectangular arrays are packed into 8
 * bytes a number, less than their text; structure costs more: a long-form
 * node such as {"name":"n7","op":"add","inputs":["n6","c"]} takes about 900
 * bytes in jansson, 20 times its text. */
#define GD_TREE_BYTES_PER_BODY_BYTE 24
#define GD_TREE_BYTES_MIN ((int64_t)1 << 20)

/* What a graph node costs at most, for the node limit a request's budget
 * allows: a 336-byte gr_node in a table that doubles, its name and index
 * entries, and the compiler's per-node tables (measured: about 800). */
#define GD_NODE_BYTES 1024

int64_t gd_tree_bytes_max(const gd_limits *lim, size_t body_len) {
    int64_t cap = lim->max_tree_bytes < lim->max_total_bytes ? lim->max_tree_bytes : lim->max_total_bytes;
    if (cap <= GD_TREE_BYTES_MIN || body_len >= (size_t)((cap - GD_TREE_BYTES_MIN) / GD_TREE_BYTES_PER_BODY_BYTE))
        return cap;
    int64_t t = (int64_t)body_len * GD_TREE_BYTES_PER_BODY_BYTE + GD_TREE_BYTES_MIN;
    return t < cap ? t : cap;
}

static void sub_path(char *out, const char *base, const char *token) {
    cd_join(out, GD_PATH_MAX, base, "");
    gd_path_push(out, GD_PATH_MAX, token);
}

int gd_req_set_value(gd_req *r, gd_leaf *l, const json_t *v, const char *path);
static int use_plan(gd_req *r);

/* ---- open ------------------------------------------------------------ */

/* Lay out Triton's binary section: the objects holding "parameters", in
 * text order, own consecutive runs of binary_data_size bytes that must add
 * up to the section exactly. */
static int binary_layout(gd_req *r) {
    gd_doc *d = &r->doc;
    d->binary = r->binary;
    if (d->json.nrecords == 0) {
        if (r->binary_len)
            return gd_fail(r->e, GD_E_BAD_BINARY, "", "%zu bytes follow the JSON, but no tensor names them with "
                           "\"parameters\": {\"binary_data_size\"}", r->binary_len);
        return 0;
    }
    d->binoff = calloc((size_t)d->json.nrecords, sizeof *d->binoff);
    if (!d->binoff) return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "", "out of memory");
    int64_t at = 0;
    for (int i = 0; i < d->json.nrecords; i++) {
        const json_t *p = json_object_get(d->json.records[i], "parameters");
        const json_t *size = json_is_object(p) ? json_object_get(p, "binary_data_size") : NULL;
        if (!json_is_integer(size) || json_integer_value(size) < 0 || json_object_size(p) != 1)
            return gd_fail(r->e, GD_E_BAD_BINARY, "", "\"parameters\" must be {\"binary_data_size\": bytes}");
        d->binoff[i] = at;
        if (json_integer_value(size) > (json_int_t)r->binary_len - at)
            return gd_fail(r->e, GD_E_BAD_BINARY, "", "the binary_data_size values add up to more than the %zu bytes "
                           "after the JSON", r->binary_len);
        at += json_integer_value(size);
    }
    if ((size_t)at != r->binary_len)
        return gd_fail(r->e, GD_E_BAD_BINARY, "", "the binary_data_size values add up to %lld bytes, but %zu bytes "
                       "follow the JSON", (long long)at, r->binary_len);
    return 0;
}

int gd_req_open(gd_req *r, const gd_call *call, const char *const *allowed, gd_err *e) {
    memset(r, 0, sizeof *r);
    const char *body = call->body;
    size_t len = call->len;
    r->route = call->route;
    r->lim = call->lim ? *call->lim : gd_limits_default();
    r->e = e;
    r->loss = -1;
    r->cancel = call->cancel;
    r->work_left = call->work_budget;
    r->cache = call->cache;
    r->binary = call->binary;
    r->binary_len = call->binary ? call->binary_len : 0;
    r->budget = r->lim.max_total_bytes;
    if (len + r->binary_len > r->lim.max_body_bytes)
        return gd_fail(e, GD_E_LIMIT_EXCEEDED, "", "the body has %zu bytes, over the limit of %zu",
                       len + r->binary_len, r->lim.max_body_bytes);
    char what[64];
    cd_join(what, sizeof what, "a /v1/", r->route);
    cd_join(what + strlen(what), sizeof what - strlen(what), " request", "");
    /* The tree may take a small multiple of the body (tensors are packed
     * and take less than their text); what it takes comes out of the
     * request's budget for tensors and plans. */
    gd_doc_opts jo = {.max_depth = r->lim.max_depth,
                      .max_bytes = gd_tree_bytes_max(&r->lim, len),
                      .top_fields = allowed,
                      .top_what = what,
                      .cancel = r->cancel};
    if (gd_doc_parse(body ? body : "", len, &jo, &r->doc, e) < 0) return -1;
    r->budget -= r->doc.json.bytes;
    if (binary_layout(r) < 0) return -1;
    const json_t *root = r->doc.json.root;
    if (!json_is_object(root)) return gd_fail(e, GD_E_INVALID_REQUEST, "", "the body must be a JSON object");
    const json_t *enc = json_object_get(root, "encoding");
    if (enc) {
        const char *s = json_is_string(enc) ? json_string_value(enc) : "";
        if (!strcmp(s, "nested")) r->enc = GD_ENC_NESTED;
        else if (!strcmp(s, "flat")) r->enc = GD_ENC_FLAT;
        else if (!strcmp(s, "b64")) r->enc = GD_ENC_B64;
        else return gd_fail(e, GD_E_INVALID_REQUEST, "/encoding", "encoding must be \"nested\", \"flat\" or \"b64\"");
    }
    const json_t *bo = json_object_get(root, "binary_data_output");
    if (bo && !json_is_boolean(bo))
        return gd_fail(e, GD_E_INVALID_REQUEST, "/binary_data_output", "binary_data_output must be true or false");
    if (json_is_true(bo)) {
        if (enc) return gd_fail(e, GD_E_INVALID_REQUEST, "/encoding", "give either encoding or binary_data_output");
        r->binary_out = 1;
        r->enc = GD_ENC_BINARY;
    }
    return 0;
}

void gd_req_close(gd_req *r) {
    for (int i = 0; i < r->nleaves; i++) {
        free(r->leaves[i].name);
        gd_tensor_free(&r->leaves[i].value);
    }
    free(r->leaves);
    free(r->loss_name);
    if (r->plan) { /* the graph and program go (back) to the cache, unless the request failed */
        r->plan->g = r->g;
        r->g = NULL;
        if (r->e && r->e->status) gd_plan_free(r->plan);
        else gd_cache_put(r->cache, r->plan);
    }
    free(r->key);
    gr_graph_free(r->g);
    gd_doc_free(&r->doc);
    cd_buf_free(&r->bin);
    memset(r, 0, sizeof *r);
}

/* ---- bookkeeping ----------------------------------------------------- */

static int oom(gd_req *r) { return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "", "out of memory decoding the request"); }

gd_leaf *gd_req_leaf(gd_req *r, const char *name) {
    for (int i = 0; i < r->nleaves; i++)
        if (!strcmp(r->leaves[i].name, name)) return &r->leaves[i];
    return NULL;
}

static gd_leaf *add_leaf(gd_req *r, const char *name, gd_leaf_kind kind, const char *path) {
    if (!gd_name_ok(name)) {
        gd_fail(r->e, GD_E_INVALID_NAME, path,
                "\"%.64s\" is not a valid name: names start with a letter or '_' and hold letters, digits and _.:/#-",
                name);
        return NULL;
    }
    if (gd_req_leaf(r, name)) {
        gd_fail(r->e, GD_E_DUPLICATE_NAME, path, "\"%s\" is declared twice", name);
        return NULL;
    }
    if (r->nleaves == r->cap_leaves) {
        int cap = r->cap_leaves ? r->cap_leaves * 2 : 8;
        gd_leaf *nl = realloc(r->leaves, (size_t)cap * sizeof *nl);
        if (!nl) return oom(r), NULL;
        r->leaves = nl;
        r->cap_leaves = cap;
    }
    gd_leaf *l = &r->leaves[r->nleaves];
    memset(l, 0, sizeof *l);
    l->name = strdup(name);
    if (!l->name) return oom(r), NULL;
    l->kind = kind;
    l->ndims = -1;
    l->node = -1;
    cd_join(l->path, sizeof l->path, path, "");
    r->nleaves++;
    return l;
}

/* The index in "nodes" of the node named name, or -1. Only errors ask,
 * so a scan is fine. */
static long node_index(const gd_req *r, const char *name) {
    for (size_t i = 0; r->nodes && i < json_array_size(r->nodes); i++) {
        const json_t *nm = json_object_get(json_array_get(r->nodes, i), "name");
        if (json_is_string(nm) && !strcmp(json_string_value(nm), name)) return (long)i;
    }
    return -1;
}

int gd_req_lib_error(gd_req *r, const gr_error *ge) {
    char path[GD_PATH_MAX] = "", owner[GR_NAME_MAX];
    cd_join(owner, sizeof owner, ge->node, "");
    char *hash = strchr(owner, '#');
    int from_expr = hash != NULL; /* a node an expression made: report the expression */
    if (hash) *hash = '\0';
    gd_leaf *leaf = gd_req_leaf(r, ge->node);
    long idx = leaf ? -1 : node_index(r, owner);
    if (ge->code == GR_E_VALUE && ge->operand >= 0 && r->g) { /* bad data: point at the value holding it */
        int id = gr_graph_find(r->g, ge->node);
        int src = id >= 0 && ge->operand < gr_node_operand_count(r->g, id) ? gr_node_operand(r->g, id, ge->operand) : -1;
        for (int i = 0; src >= 0 && i < r->nleaves; i++)
            if (r->leaves[i].node == src) leaf = &r->leaves[i];
    }
    if (ge->code == GR_E_NOT_SCALAR) { /* the field that chose this loss */
        cd_join(path, sizeof path, r->short_expr ? "/graph" : "/graph/loss", "");
    } else if (leaf) {
        cd_join(path, sizeof path, leaf->path, "");
    } else if (r->short_expr && !strcmp(owner, "f")) {
        cd_join(path, sizeof path, "/graph", "");
    } else if (idx >= 0) {
        const json_t *nd = json_array_get(r->nodes, (size_t)idx);
        cd_join(path, sizeof path, "/graph/nodes", "");
        gd_path_index(path, sizeof path, idx);
        if (json_object_get(nd, "expr") || from_expr) {
            gd_path_push(path, sizeof path, "expr");
        } else if (ge->attr[0]) {
            gd_path_push(path, sizeof path, "attrs");
            gd_path_push(path, sizeof path, ge->attr);
        } else if (ge->operand >= 0) {
            gd_path_push(path, sizeof path, "inputs");
            gd_path_index(path, sizeof path, ge->operand);
        }
    }
    /* Nodes an expression made have internal names: leave them out. */
    const char *cut = from_expr ? strstr(ge->message, " (used by node") : NULL;
    int mlen = cut ? (int)(cut - ge->message) : (int)strlen(ge->message);
    return gd_fail(r->e, gd_lib_code(ge->code), path, "%.*s", mlen, ge->message);
}

/* ---- declarations and values ----------------------------------------- */

/* Declared leaves of the long form: "inputs" / "params": {name: shape}. */
static int declare(gd_req *r, const json_t *graph, const char *key, gd_leaf_kind kind) {
    const json_t *m = json_object_get(graph, key);
    char base[GD_PATH_MAX], p[GD_PATH_MAX];
    sub_path(base, "/graph", key);
    if (!m) return 0;
    if (!json_is_object(m)) return gd_fail(r->e, GD_E_INVALID_REQUEST, base, "expected an object of name: shape");
    const char *name;
    json_t *shape;
    json_object_foreach((json_t *)m, name, shape) {
        sub_path(p, base, name);
        gd_leaf *l = add_leaf(r, name, kind, p);
        if (!l) return -1;
        int n = gd_read_dims(&r->doc, shape, r->lim.max_rank < GR_MAX_RANK ? r->lim.max_rank : GR_MAX_RANK,
                             kind == GD_INPUT, l->dims, p, r->e);
        if (n < 0) return -1;
        l->ndims = n;
    }
    return 0;
}

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

/* Values under root[key] for leaves of kind; in the short form each value
 * declares its leaf. */
static int read_values_at(gd_req *r, const json_t *m, const char *base, gd_leaf_kind kind, int declare_new) {
    const char *key = kind == GD_PARAM ? "params" : "inputs";
    char p[GD_PATH_MAX];
    if (!m) return 0;
    if (!json_is_object(m)) return gd_fail(r->e, GD_E_INVALID_REQUEST, base, "expected an object of name: value");
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)m, name, v) {
        sub_path(p, base, name);
        gd_leaf *l = gd_req_leaf(r, name);
        if (!l && declare_new) l = add_leaf(r, name, kind, p);
        else if (!l) return gd_fail(r->e, GD_E_UNKNOWN_FIELD, p, "the graph declares no %s \"%.64s\"", key, name);
        if (!l) return -1;
        if (l->kind != kind)
            return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "\"%s\" is declared as %s, so its value belongs under %s",
                           name, l->kind == GD_PARAM ? "a param" : "an input", l->kind == GD_PARAM ? "params" : "inputs");
        if (l->has_value)
            return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "\"%s\" is given twice (in inputs and in batches)", name);
        if (gd_req_set_value(r, l, v, p) < 0) return -1;
    }
    return 0;
}

static int read_values(gd_req *r, const char *key, gd_leaf_kind kind, int declare_new) {
    char base[GD_PATH_MAX] = "";
    gd_path_push(base, sizeof base, key);
    return read_values_at(r, json_object_get(r->doc.json.root, key), base, kind, declare_new);
}

int gd_req_set_value(gd_req *r, gd_leaf *l, const json_t *v, const char *path) {
    gd_tensor t;
    if (gd_tensor_decode(&r->doc, v, r->dt, &r->lim, &r->budget, path, &t, r->e) < 0) return -1;
    gd_tensor_free(&l->value);
    l->value = t;
    l->has_value = 1;
    cd_join(l->path, sizeof l->path, path, "");
    return check_shape(r, l, path);
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
        sub_path(p, "/graph/constants", name);
        gd_leaf *l = add_leaf(r, name, GD_CONST, p);
        if (!l) return -1;
        if (gd_tensor_decode(&r->doc, v, r->dt, &r->lim, &r->budget, p, &l->value, r->e) < 0) return -1;
        l->has_value = 1;
    }
    return 0;
}

/* ---- nodes ----------------------------------------------------------- */

/* Read attrs object a (at path) into *at for op, each value through the
 * attribute reader (attrs.h), the one the expression form uses. */
static int read_attrs(gd_req *r, const gr_op *op, const json_t *a, const char *path, gr_attrs *at) {
    char p[GD_PATH_MAX];
    memset(at, 0, sizeof *at);
    if (!a) return 0;
    if (!json_is_object(a)) return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "attrs must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)a, key, v) {
        sub_path(p, path, key);
        gd_attr_error ae;
        gr_attr_value val;
        const gr_attr_def *d = gd_attr_find(op, key, strlen(key), &ae);
        gd_attr_src src = {.json = v, .json_packed = gd_doc_packed(&r->doc, v) != NULL};
        if (!d || gd_attr_read(op, d, &src, &val, &ae) < 0) {
            if (d && ae.entry >= 0) gd_path_index(p, sizeof p, ae.entry);
            return gd_fail(r->e, ae.code, p, "%s", ae.message);
        }
        gr_attrs_put(at, d, &val, NULL); /* already checked */
    }
    return 0;
}

/* Add the nodes of expression src as node name (the root) and name#k. */
static int add_expr(gd_req *r, const char *name, const char *src, size_t len, const char *path) {
    gd_expr ex;
    gd_expr_error xe;
    gd_expr_limits xl = gd_expr_limits_default();
    xl.max_len = r->lim.max_expr_len;
    if (gd_expr_parse(src, len, &xl, &ex, &xe) < 0) {
        static const gd_code kinds[] = {[GD_EXPR_SYNTAX] = GD_E_BAD_EXPRESSION,
                                         [GD_EXPR_LIMIT] = GD_E_LIMIT_EXCEEDED,
                                         [GD_EXPR_UNKNOWN_OP] = GD_E_UNKNOWN_OP,
                                         [GD_EXPR_SIGNATURE] = GD_E_INVALID_ARGUMENT};
        return gd_fail(r->e, xe.fault == GD_EXPR_ATTR ? xe.code : kinds[xe.fault], path, "%s", xe.message);
    }
    int rc = -1;
    char (*names)[GR_NAME_MAX] = calloc((size_t)ex.n + 1, sizeof *names);
    gr_error ge;
    if (!names) {
        oom(r);
        goto out;
    }
    for (int k = 0; k < ex.n; k++) {
        const gd_ex_node *x = &ex.nodes[k];
        if (k == ex.root) cd_join(names[k], GR_NAME_MAX, name, "");
        else { /* name#k */
            char num[24];
            cd_i64_text(num, k);
            cd_join(names[k], GR_NAME_MAX, name, "#");
            size_t at = strlen(names[k]);
            cd_join(names[k] + at, GR_NAME_MAX - at, num, "");
        }
        if (x->kind == GD_EX_NAME) {
            if (x->name_len >= GR_NAME_MAX) {
                gd_fail(r->e, GD_E_BAD_EXPRESSION, path, "a name in the expression is too long");
                goto out;
            }
            if (k != ex.root) {
                memcpy(names[k], x->name, x->name_len);
                names[k][x->name_len] = '\0';
                continue;
            }
            /* the expression is just a name: an identity node, name = ref * 1 */
            char ref[GR_NAME_MAX], one[GR_NAME_MAX + 8];
            memcpy(ref, x->name, x->name_len);
            ref[x->name_len] = '\0';
            snprintf(one, sizeof one, "%s#one", name);
            double v1 = 1;
            float f1 = 1;
            gr_shape s0 = {0};
            if (gr_graph_const(r->g, one, &s0, r->dt == GR_F32 ? (const void *)&f1 : (const void *)&v1, &ge) < 0 ||
                gr_graph_node(r->g, name, gr_op_find("mul"), (const char *[]){ref, one}, 2, NULL, &ge) < 0) {
                gd_req_lib_error(r, &ge);
                goto out;
            }
            continue;
        }
        if (x->kind == GD_EX_NUM) {
            gr_shape s0 = {0};
            float f = (float)x->value;
            if (gr_graph_const(r->g, names[k], &s0, r->dt == GR_F32 ? (const void *)&f : (const void *)&x->value, &ge) <
                0) {
                gd_req_lib_error(r, &ge);
                goto out;
            }
            continue;
        }
        const char *operands[GR_MAX_OPERANDS];
        for (int j = 0; j < x->nargs; j++) operands[j] = names[x->args[j]];
        if (gr_graph_node(r->g, names[k], x->op, operands, x->nargs, &x->attrs, &ge) < 0) {
            gd_req_lib_error(r, &ge);
            goto out;
        }
    }
    rc = 0;
out:
    free(names);
    gd_expr_free(&ex);
    return rc;
}

static int add_node(gd_req *r, const json_t *nd, long i) {
    char base[GD_PATH_MAX] = "/graph/nodes", p[GD_PATH_MAX];
    gd_path_index(base, sizeof base, i);
    if (!json_is_object(nd))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, base, "a node is an object: {name, op, inputs, attrs} or {name, expr}");
    static const char *const node_fields[] = {"name", "op", "inputs", "attrs", "expr", NULL};
    if (gd_only_fields(nd, node_fields, base, "a node", r->e) < 0) return -1;
    const json_t *name = json_object_get(nd, "name"), *op = json_object_get(nd, "op"),
                 *expr = json_object_get(nd, "expr");
    sub_path(p, base, "name");
    if (!json_is_string(name)) return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "a node needs a string \"name\"");
    const char *nm = json_string_value(name);
    if (!gd_name_ok(nm))
        return gd_fail(r->e, GD_E_INVALID_NAME, p,
                       "\"%.64s\" is not a valid name: names start with a letter or '_' and hold letters, digits and _.:/#-",
                       nm);
    if (!op == !expr) return gd_fail(r->e, GD_E_INVALID_REQUEST, base, "a node has either \"op\" or \"expr\"");
    if (expr) {
        sub_path(p, base, "expr");
        if (json_object_get(nd, "inputs") || json_object_get(nd, "attrs"))
            return gd_fail(r->e, GD_E_INVALID_REQUEST, base, "an expression node takes no \"inputs\" or \"attrs\"");
        if (!json_is_string(expr)) return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "expr must be a string");
        if (gr_graph_find(r->g, nm) >= 0) {
            sub_path(p, base, "name");
            return gd_fail(r->e, GD_E_DUPLICATE_NAME, p, "node '%s' is defined more than once", nm);
        }
        return add_expr(r, nm, json_string_value(expr), json_string_length(expr), p);
    }
    sub_path(p, base, "op");
    const gr_op *o = json_is_string(op) ? gr_op_find(json_string_value(op)) : NULL;
    if (!o)
        return gd_fail(r->e, GD_E_UNKNOWN_OP, p, "unknown op \"%.64s\" (GET /v1/ops lists them)",
                       json_is_string(op) ? json_string_value(op) : "");
    const json_t *ins = json_object_get(nd, "inputs");
    sub_path(p, base, "inputs");
    const char *operands[GR_MAX_OPERANDS];
    size_t nin = ins ? json_array_size(ins) : 0;
    if (ins && !json_is_array(ins)) return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "inputs must be a list of names");
    if ((int)nin != gr_op_arity(o) || nin > GR_MAX_OPERANDS)
        return gd_fail(r->e, GD_E_INVALID_ARGUMENT, p, "%s takes %d operand%s, got %zu", gr_op_name(o),
                       gr_op_arity(o), gr_op_arity(o) == 1 ? "" : "s", nin);
    for (size_t k = 0; k < nin; k++) {
        const json_t *x = json_array_get(ins, k);
        if (!json_is_string(x)) {
            gd_path_index(p, sizeof p, (long)k);
            return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "expected a node name");
        }
        operands[k] = json_string_value(x);
    }
    gr_attrs at;
    sub_path(p, base, "attrs");
    if (read_attrs(r, o, json_object_get(nd, "attrs"), p, &at) < 0) return -1;
    gr_error ge;
    if (gr_graph_node(r->g, nm, o, operands, (int)nin, &at, &ge) < 0) {
        if (ge.code == GR_E_DUPLICATE) {
            sub_path(p, base, "name");
            return gd_fail(r->e, GD_E_DUPLICATE_NAME, p, "%s", ge.message);
        }
        return gd_req_lib_error(r, &ge);
    }
    return 0;
}

/* ---- build ----------------------------------------------------------- */

static int read_dtype(gd_req *r, const json_t *v, const char *path) {
    r->dt = GR_F64;
    if (!v) return 0;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (!strcmp(s, "float64")) r->dt = GR_F64;
    else if (!strcmp(s, "float32")) r->dt = GR_F32;
    else return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "dtype must be \"float64\" or \"float32\"");
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

/* Every declared input and param needs a value. */
static int check_values(gd_req *r) {
    for (int i = 0; i < r->nleaves; i++) {
        gd_leaf *l = &r->leaves[i];
        if (l->has_value) continue;
        char p[GD_PATH_MAX] = "";
        gd_path_push(p, sizeof p, l->kind == GD_PARAM ? "params" : "inputs");
        gd_path_push(p, sizeof p, l->name);
        return gd_fail(r->e, GD_E_MISSING_VALUE, p, "no value was given for %s \"%s\"",
                       l->kind == GD_PARAM ? "param" : "input", l->name);
    }
    return 0;
}

int gd_req_build(gd_req *r) {
    const json_t *graph = json_object_get(r->doc.json.root, "graph");
    if (!graph) return gd_fail(r->e, GD_E_MISSING_FIELD, "/graph", "the request needs a \"graph\"");
    int short_form = json_is_string(graph);
    if (short_form) {
        if (read_dtype(r, json_object_get(r->doc.json.root, "dtype"), "/dtype") < 0) return -1;
        r->short_expr = json_string_value(graph);
        r->short_len = json_string_length(graph);
        r->loss_name = strdup("f");
        if (!r->loss_name) return oom(r);
    } else if (json_is_object(graph)) {
        if (read_graph_decl(r, graph) < 0) return -1;
    } else {
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/graph", "graph must be an expression string or a graph object");
    }
    /* step with batches: the first batch's inputs shape the graph */
    if (r->inputs_from && read_values_at(r, r->inputs_from, r->inputs_from_path, GD_INPUT, short_form) < 0) return -1;
    if (read_values(r, "inputs", GD_INPUT, short_form) < 0 || read_values(r, "params", GD_PARAM, short_form) < 0)
        return -1;
    if (check_values(r) < 0) return -1;
    if (r->cache && !json_object_get(r->doc.json.root, "batches") && gd_req_key(r) == 0 && use_plan(r)) return 0;
    return gd_req_graph(r);
}

/* A cached program for this key: adopt its graph (leaves have the same
 * names, so the same node ids). 1 when there was one. */
static int use_plan(gd_req *r) {
    r->plan = gd_cache_take(r->cache, r->key, r->key_len);
    if (!r->plan) return 0;
    r->g = r->plan->g;
    r->plan->g = NULL;
    for (int i = 0; i < r->nleaves; i++) r->leaves[i].node = gr_graph_find(r->g, r->leaves[i].name);
    r->loss = r->loss_name ? gr_graph_find(r->g, r->loss_name) : -1;
    return 1;
}

int gd_req_keep(gd_req *r, gr_exec *ex, const int *outs, int n) {
    if (!r->cache || !r->key || r->plan) return 0;
    gd_plan *p = calloc(1, sizeof *p);
    int *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    if (!p || !ids) {
        free(p);
        free(ids);
        return 0;
    }
    memcpy(ids, outs, (size_t)n * sizeof *ids);
    p->ids = ids;
    p->nids = n;
    p->ex = ex;
    p->key = r->key;
    p->key_len = r->key_len;
    r->key = NULL;
    r->plan = p;
    return 1;
}

int gd_req_graph(gd_req *r) {
    int short_form = r->short_expr != NULL;
    gr_graph_free(r->g);
    r->g = NULL;
    r->loss = -1;
    /* Nodes take memory too (the node table doubles as it grows; autodiff
     * and the compiler add per-node tables): at most the budget's worth. */
    int64_t budget_nodes = r->budget > 0 ? r->budget / GD_NODE_BYTES : 0;
    gr_limits gl = {.max_nodes = r->lim.max_nodes < budget_nodes ? r->lim.max_nodes : budget_nodes,
                    .max_elements = r->lim.max_elements,
                    .max_plan_bytes = r->budget,
                    .max_rank = r->lim.max_rank};
    r->g = gr_graph_new(r->dt, &gl);
    if (!r->g) return oom(r);
    gr_graph_set_cancel(r->g, r->cancel);
    gr_error ge;
    for (int i = 0; i < r->nleaves; i++) {
        gd_leaf *l = &r->leaves[i];
        const gr_shape *s = &l->value.shape;
        l->node = l->kind == GD_INPUT   ? gr_graph_input(r->g, l->name, s, &ge)
                  : l->kind == GD_PARAM ? gr_graph_param(r->g, l->name, s, &ge)
                                        : gr_graph_const(r->g, l->name, s, l->value.data, &ge);
        if (l->node < 0) return gd_fail(r->e, gd_lib_code(ge.code), l->path, "%s", ge.message);
    }
    if (short_form) {
        if (gd_req_leaf(r, "f"))
            return gd_fail(r->e, GD_E_DUPLICATE_NAME, gd_req_leaf(r, "f")->path,
                           "the short form names its expression f, so no value may be called f");
        if (add_expr(r, "f", r->short_expr, r->short_len, "/graph") < 0) return -1;
    } else if (r->nodes) {
        for (size_t i = 0; i < json_array_size(r->nodes); i++) {
            if ((i & 4095) == 4095 && r->cancel && *r->cancel)
                return gd_fail(r->e, GD_E_CANCELLED, "", "the request was cancelled while its graph was being built");
            if (add_node(r, json_array_get(r->nodes, i), (long)i) < 0) return -1;
        }
    }
    if (gr_graph_finalize(r->g, &ge) != GR_OK) return gd_req_lib_error(r, &ge);
    if (short_form) { /* every value must be used by the expression: a typo is an error */
        for (int i = 0; i < r->nleaves; i++) {
            int used = 0, n;
            const int *order = gr_graph_order(r->g, &n);
            for (int k = 0; k < n && !used; k++)
                for (int j = 0; j < gr_node_operand_count(r->g, order[k]); j++)
                    used |= gr_node_operand(r->g, order[k], j) == r->leaves[i].node;
            if (!used)
                return gd_fail(r->e, GD_E_UNKNOWN_FIELD, r->leaves[i].path,
                               "\"%s\" is not used by the expression", r->leaves[i].name);
        }
    }
    if (r->loss_name) {
        r->loss = gr_graph_find(r->g, r->loss_name);
        if (r->loss < 0)
            return gd_fail(r->e, GD_E_UNKNOWN_NAME, "/graph/loss", "the loss \"%.64s\" is not a node of the graph",
                           r->loss_name);
    }
    return 0;
}

int gd_req_node_list(gd_req *r, const char *key, int *ids, char **names, int max) {
    const json_t *v = json_object_get(r->doc.json.root, key);
    char p[GD_PATH_MAX] = "";
    gd_path_push(p, sizeof p, key);
    if (!json_is_array(v) || gd_doc_packed(&r->doc, v))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "%s must be a list of node names", key);
    if ((int)json_array_size(v) > max)
        return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, p, "%s names more than %d nodes", key, max);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *x = json_array_get(v, i);
        char q[GD_PATH_MAX];
        cd_join(q, sizeof q, p, "");
        gd_path_index(q, sizeof q, (long)i);
        if (!json_is_string(x)) return gd_fail(r->e, GD_E_INVALID_REQUEST, q, "expected a node name");
        ids[i] = gr_graph_find(r->g, json_string_value(x));
        names[i] = (char *)json_string_value(x);
        if (ids[i] < 0)
            return gd_fail(r->e, GD_E_UNKNOWN_NAME, q, "\"%.64s\" is not a node of the graph", json_string_value(x));
        for (size_t j = 0; j < i; j++)
            if (ids[j] == ids[i])
                return gd_fail(r->e, GD_E_INVALID_REQUEST, q, "\"%.64s\" is named twice in %s", names[i], key);
    }
    return (int)json_array_size(v);
}
