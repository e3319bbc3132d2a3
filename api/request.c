/* request.c -- decoding a request's graph and values into a finalized
 * libgrad graph. The order matters for clear errors and for limits: the
 * JSON is parsed (depth-limited), the top-level fields checked, the leaves
 * declared, their values decoded (each charged to the byte budget before
 * it is allocated), and only then is the graph built. */
#include "request.h"

#include "attrs.h"
#include "onnx/onnx.h"
#include "store.h"

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


int64_t gd_tree_bytes_max(const gd_limits *lim, size_t body_len) {
    int64_t cap = lim->max_tree_bytes < lim->max_total_bytes ? lim->max_tree_bytes : lim->max_total_bytes;
    if (cap <= GD_TREE_BYTES_MIN || body_len >= (size_t)((cap - GD_TREE_BYTES_MIN) / GD_TREE_BYTES_PER_BODY_BYTE))
        return cap;
    int64_t t = (int64_t)body_len * GD_TREE_BYTES_PER_BODY_BYTE + GD_TREE_BYTES_MIN;
    return t < cap ? t : cap;
}

static int use_plan(gd_req *r);

/* ---- open ------------------------------------------------------------ */

/* Lay out Triton's binary section: the objects holding "parameters", in
 * text order, own consecutive runs of binary_data_size bytes that must add
 * up to the section exactly. */
static int binary_layout(gd_req *r) {
    gd_doc *d = &r->doc;
    d->binary = r->binary;
    d->binary_rw = r->binary_rw;
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

int gd_req_open(gd_req *r, const gd_call *call, const gd_route_spec *spec, gd_err *e) {
    memset(r, 0, sizeof *r);
    r->spec = spec;
    const char *body = call->body;
    size_t len = call->len;
    r->route = call->route;
    r->lim = call->lim ? *call->lim : gd_limits_default();
    r->e = e;
    r->loss = -1;
    r->cancel = call->cancel;
    r->work_left = call->work_budget;
    r->cache = call->cache;
    r->store = call->store;
    r->binary = call->binary;
    r->binary_len = call->binary ? call->binary_len : 0;
    r->binary_rw = call->binary && call->binary_writable ? (char *)call->binary : NULL; /* lent: ours to write */
    r->answer_pieces = r->binary_rw && call->split_binary;
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
    const char *allowed[GD_MAX_FIELDS + 1];
    int nf = 0;
    for (int i = 0; i < spec->nfields && nf < GD_MAX_FIELDS; i++) allowed[nf++] = spec->fields[i].name;
    allowed[nf] = NULL;
    gd_doc_opts jo = {.max_depth = r->lim.max_depth,
                      .max_bytes = gd_tree_bytes_max(&r->lim, len),
                      .top_fields = allowed,
                      .top_what = what,
                      .cancel = r->cancel};
    if (gd_doc_parse(body ? body : "", len, &jo, &r->doc, e) < 0) return -1;
    r->budget -= r->doc.json.bytes;
    if (binary_layout(r) < 0) return -1;
    if (!json_is_object(r->doc.json.root))
        return gd_fail(e, GD_E_INVALID_REQUEST, "", "the body must be a JSON object");
    return 0;
}

void gd_req_close(gd_req *r) {
    for (int i = 0; i < r->nleaves; i++) {
        free(r->leaves[i].name);
        if (!r->leaves[i].borrowed) gd_tensor_free(&r->leaves[i].value);
    }
    gd_args_free(&r->args);
    free(r->leaves);
    free(r->loss_name);
    gd_onnx_free(r->onnx);
    json_decref(r->ref_nodes);
    if (r->plan) { /* the graph and program go (back) to the cache, unless the request failed */
        r->plan->g = r->g;
        r->g = NULL;
        free(r->plan->origins); /* the graph's origins go with it */
        r->plan->origins = r->origins;
        r->plan->norigins = r->norigins;
        r->origins = NULL;
        if (r->e && r->e->status) gd_plan_free(r->plan);
        else gd_cache_put(r->cache, r->plan);
    }
    free(r->key);
    free(r->origins);
    free(r->refs);
    free(r->named);
    gr_graph_free(r->g);
    gd_doc_free(&r->doc);
    gd_doc_free(&r->ref_doc); /* after everything that read the stored graph's tree */
    gd_stored_release(r->store, r->stored);
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

gd_leaf *gd_req_add_leaf(gd_req *r, const char *name, gd_leaf_kind kind, const char *path) {
    if (r->onnx ? !gd_onnx_name_ok(name) : !gd_name_ok(name)) {
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

/* ---- build ----------------------------------------------------------- */

int gd_req_build(gd_req *r) {
    if (gd_req_decode(r) < 0) return -1;
    if (r->cache && r->args.nbatches == 0 && gd_req_key(r) == 0 && use_plan(r)) return 0;
    return gd_req_graph(r);
}

/* A cached program for this key: adopt its graph (leaves have the same
 * names, so the same node ids). 1 when there was one. */
static int use_plan(gd_req *r) {
    r->plan = gd_cache_take(r->cache, r->key, r->key_len);
    if (!r->plan) return 0;
    r->g = r->plan->g;
    r->plan->g = NULL;
    r->origins = r->plan->origins;
    r->norigins = r->cap_origins = r->plan->norigins;
    r->plan->origins = NULL;
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

