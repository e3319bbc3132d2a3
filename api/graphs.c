/* graphs.c -- the graph store's routes (store.h): POST /v1/graphs keeps a
 * graph (an ONNX model, Content-Type application/onnx, or a gradd JSON
 * graph object, application/json) under "sha256:<hex of the body>" and
 * answers its summary, 201 when it is new and 200 when it was there; GET
 * /v1/graphs/{ref} answers the summary again, 404 graph_not_found for a
 * ref the store does not have. The summary:
 *
 *   {"ref", "format": "onnx" | "json", "bytes", "dtype",
 *    "inputs": {name: shape}, "outputs": {name: shape or null},
 *    "params": {name: shape}, "buffers" (onnx), "ops": {op: count},
 *    "opset" (onnx)}
 *
 * A body is checked before it is kept: within the body limit (413), an
 * ONNX model unpacked under the request byte budget (400 malformed, 413
 * over it), a JSON graph parsed under the depth and tree limits with only
 * the graph object's fields, well-formed declarations and nodes of known
 * ops (400), and no Triton binary tensors (the store keeps one body). The
 * graph itself is lowered when a route uses it by ref (decode.c). */
#include "attrs.h"
#include "routes.h"
#include "store.h"
#include "onnx/onnx.h"
#include "codec/sha256.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void answer(gd_response *out, int status, cd_buf *b) {
    out->status = status;
    out->body = cd_buf_take(b, &out->len);
    out->json_len = out->len;
    if (!out->body) {
        static const char oom[] = "{\"error\":\"out of memory writing the response\",\"code\":\"limit_exceeded\","
                                  "\"path\":\"\"}";
        out->status = gd_error_row_of(GD_E_LIMIT_EXCEEDED)->status;
        out->body = strdup(oom);
        out->len = out->json_len = out->body ? sizeof oom - 1 : 0;
    }
}

static void answer_error(gd_response *out, const gd_err *e) {
    cd_buf b = {0};
    gd_err_write(&b, e);
    answer(out, gd_error_row_of(e->status ? e->id : GD_E_INTERNAL)->status, &b);
}

static void answer_summary(gd_response *out, int status, const gd_stored *g) {
    cd_buf b = {0};
    cd_buf_put(&b, g->summary, g->summary_len);
    answer(out, status, &b);
}

/* ---- JSON graphs ------------------------------------------------------ */

/* Is name used as an operand by some node: an op node's input, or a word
 * of an expression node (a name of letters, digits and _.:/#- between
 * characters that cannot be in one)? */
static int is_used(const json_t *nodes, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        const json_t *node = json_array_get(nodes, i), *ins = json_object_get(node, "inputs");
        for (size_t k = 0; k < json_array_size(ins); k++)
            if (!strcmp(json_string_value(json_array_get(ins, k)), name)) return 1;
        const char *x = json_string_value(json_object_get(node, "expr"));
        for (const char *p = x ? strstr(x, name) : NULL; p; p = strstr(p + 1, name)) {
            int before = p == x || !(p[-1] == '_' || strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                            "0123456789.:/#-", p[-1]) != NULL);
            char c = p[n];
            int after = !c || !(c == '_' || strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                   "0123456789.:/#", c) != NULL);
            if (before && after) return 1;
        }
    }
    return 0;
}

/* "inputs"/"params" of graph: {name: shape}, checked, written to b. */
static int put_declared(cd_buf *b, const gd_doc *d, const json_t *graph, const char *key, const gd_limits *lim,
                        gd_err *e) {
    const json_t *m = json_object_get(graph, key);
    char base[GD_PATH_MAX] = "";
    gd_path_push(base, sizeof base, key);
    cd_buf_key(b, key, 0);
    cd_buf_putc(b, '{');
    if (m && !json_is_object(m)) return gd_fail(e, GD_E_INVALID_REQUEST, base, "expected an object of name: shape");
    const char *name;
    json_t *shape;
    int first = 1;
    json_object_foreach((json_t *)m, name, shape) {
        char p[GD_PATH_MAX];
        gd_sub_path(p, base, name);
        if (!gd_name_ok(name)) return gd_fail(e, GD_E_INVALID_NAME, p, "\"%.64s\" is not a valid name", name);
        int64_t dims[GR_MAX_RANK];
        int n = gd_read_dims(d, shape, lim->max_rank < GR_MAX_RANK ? lim->max_rank : GR_MAX_RANK,
                             !strcmp(key, "inputs"), dims, p, e);
        if (n < 0) return -1;
        cd_buf_key(b, name, first);
        first = 0;
        cd_buf_putc(b, '[');
        for (int k = 0; k < n; k++) {
            if (k) cd_buf_putc(b, ',');
            cd_buf_i64(b, dims[k]);
        }
        cd_buf_putc(b, ']');
    }
    cd_buf_putc(b, '}');
    return 0;
}

/* The summary members of a JSON graph object, after "format". */
static int json_summary(const char *body, size_t len, const gd_limits *lim, cd_buf *b, gd_err *e) {
    static const char *const fields[] = {"dtype", "inputs", "params", "constants", "nodes", "loss", NULL};
    gd_doc_opts jo = {.max_depth = lim->max_depth,
                      .max_bytes = gd_tree_bytes_max(lim, len),
                      .top_fields = fields,
                      .top_what = "a graph object"};
    gd_doc d;
    memset(&d, 0, sizeof d);
    if (gd_doc_parse(body, len, &jo, &d, e) < 0) return -1;
    const json_t *g = d.json.root;
    int rc = 0;
    const json_t *nodes = json_object_get(g, "nodes"), *loss = json_object_get(g, "loss");
    const json_t *dt = json_object_get(g, "dtype");
    if (!json_is_object(g)) rc = gd_fail(e, GD_E_INVALID_REQUEST, "", "a JSON graph is a graph object");
    else if (d.json.nrecords)
        rc = gd_fail(e, GD_E_INVALID_REQUEST, "", "a stored graph carries its constants inline, not as binary tensors");
    else if (dt && !(json_is_string(dt) && (!strcmp(json_string_value(dt), "float64") ||
                                            !strcmp(json_string_value(dt), "float32"))))
        rc = gd_fail(e, GD_E_INVALID_REQUEST, "/dtype", "dtype must be \"float64\" or \"float32\"");
    else if (!json_is_array(nodes) || json_array_size(nodes) == 0)
        rc = gd_fail(e, GD_E_INVALID_REQUEST, "/nodes", "a stored graph needs a non-empty list of nodes");
    else if ((int64_t)json_array_size(nodes) > lim->max_nodes)
        rc = gd_fail(e, GD_E_LIMIT_EXCEEDED, "/nodes", "the graph has more than %lld nodes", (long long)lim->max_nodes);
    else if (loss && !json_is_string(loss))
        rc = gd_fail(e, GD_E_INVALID_REQUEST, "/loss", "loss must be a node name");
    else if (json_object_get(g, "constants") && !json_is_object(json_object_get(g, "constants")))
        rc = gd_fail(e, GD_E_INVALID_REQUEST, "/constants", "expected an object of name: value");
    for (size_t i = 0; rc == 0 && i < json_array_size(nodes); i++) {
        const json_t *node = json_array_get(nodes, i), *name = json_object_get(node, "name");
        const json_t *op = json_object_get(node, "op"), *ex = json_object_get(node, "expr");
        const json_t *ins = json_object_get(node, "inputs");
        char p[GD_PATH_MAX] = "/nodes";
        gd_path_index(p, sizeof p, (long)i);
        if (!json_is_object(node) || !json_is_string(name) || !(json_is_string(op) || json_is_string(ex)))
            rc = gd_fail(e, GD_E_INVALID_REQUEST, p, "a node is {\"name\", \"op\", \"inputs\", \"attrs\"} or "
                         "{\"name\", \"expr\"}");
        else if (op && !gr_op_find(json_string_value(op)))
            rc = gd_fail(e, GD_E_UNKNOWN_OP, p, "there is no op \"%.64s\" (GET /v1/ops)", json_string_value(op));
        for (size_t k = 0; rc == 0 && ins && k < json_array_size(ins); k++)
            if (!json_is_string(json_array_get(ins, k)))
                rc = gd_fail(e, GD_E_INVALID_REQUEST, p, "a node's inputs are names");
        if (rc == 0 && ins && !json_is_array(ins)) rc = gd_fail(e, GD_E_INVALID_REQUEST, p, "inputs must be a list");
    }
    if (rc == 0) {
        cd_buf_puts(b, ",\"dtype\":");
        cd_buf_str(b, dt ? json_string_value(dt) : "float64");
        if (put_declared(b, &d, g, "inputs", lim, e) < 0 || put_declared(b, &d, g, "params", lim, e) < 0) rc = -1;
    }
    if (rc == 0) { /* the loss, else every node no other node uses */
        cd_buf_puts(b, ",\"outputs\":{");
        if (loss) {
            cd_buf_key(b, json_string_value(loss), 1);
            cd_buf_puts(b, "[]");
        }
        int first = 1;
        for (size_t i = 0; !loss && i < json_array_size(nodes); i++) {
            const char *name = json_string_value(json_object_get(json_array_get(nodes, i), "name"));
            if (is_used(nodes, name)) continue;
            cd_buf_key(b, name, first);
            first = 0;
            cd_buf_puts(b, "null");
        }
        cd_buf_puts(b, "},\"ops\":{");
        first = 1;
        for (size_t i = 0; i < json_array_size(nodes); i++) {
            const json_t *op = json_object_get(json_array_get(nodes, i), "op");
            const char *name = op ? json_string_value(op) : "expr";
            size_t seen = 0;
            for (; seen < i; seen++) {
                const json_t *o = json_object_get(json_array_get(nodes, seen), "op");
                if (!strcmp(o ? json_string_value(o) : "expr", name)) break;
            }
            if (seen < i) continue;
            int64_t count = 0;
            for (size_t k = i; k < json_array_size(nodes); k++) {
                const json_t *o = json_object_get(json_array_get(nodes, k), "op");
                count += !strcmp(o ? json_string_value(o) : "expr", name);
            }
            cd_buf_key(b, name, first);
            first = 0;
            cd_buf_i64(b, count);
        }
        cd_buf_putc(b, '}');
    }
    gd_doc_free(&d);
    return rc;
}

/* ---- the store's entry points ---------------------------------------- */

/* The ref of body: "sha256:" and the hex of its SHA-256. */
static void ref_of(const char *body, size_t len, char ref[GD_REF_LEN + 1]) {
    char hex[65];
    cd_sha256_hex(body, len, hex);
    cd_join(ref, GD_REF_LEN + 1, "sha256:", hex);
}

/* gd_graph_summarize with body's ref already known (hashing a 45 MB
 * model takes a while: once per upload is enough). */
static int summarize(gd_graph_format format, const char *body, size_t len, const gd_limits *lim, const char *ref,
                     char **summary, size_t *summary_len, gd_err *e) {
    gd_limits dl = gd_limits_default();
    if (!lim) lim = &dl;
    if (len > lim->max_body_bytes)
        return gd_fail(e, GD_E_LIMIT_EXCEEDED, "", "the body has %zu bytes, over the limit of %zu", len,
                       lim->max_body_bytes);
    cd_buf b = {0};
    cd_buf_puts(&b, "{\"ref\":");
    cd_buf_str(&b, ref);
    cd_buf_puts(&b, ",\"format\":");
    cd_buf_str(&b, format == GD_GRAPH_ONNX ? "onnx" : "json");
    cd_buf_puts(&b, ",\"bytes\":");
    cd_buf_i64(&b, (int64_t)len);
    int rc;
    if (format == GD_GRAPH_ONNX) {
        cd_buf_putc(&b, ',');
        rc = gd_onnx_summary(body, len, lim, &b, e);
    } else {
        rc = json_summary(body, len, lim, &b, e);
    }
    cd_buf_putc(&b, '}');
    if (rc == 0 && b.oom) rc = gd_fail(e, GD_E_LIMIT_EXCEEDED, "", "out of memory writing the summary");
    if (rc < 0) {
        cd_buf_free(&b);
        return -1;
    }
    *summary = cd_buf_take(&b, summary_len);
    return *summary ? 0 : gd_fail(e, GD_E_LIMIT_EXCEEDED, "", "out of memory writing the summary");
}

int gd_graph_summarize(gd_graph_format format, const char *body, size_t len, const gd_limits *lim, char **summary,
                       size_t *summary_len, char ref[GD_REF_LEN + 1], gd_err *e) {
    ref_of(body, len, ref);
    return summarize(format, body, len, lim, ref, summary, summary_len, e);
}

int gd_graph_ingest(gd_store *s, gd_graph_format format, const char *body, size_t len, const gd_limits *lim,
                    gd_stored **out, gd_err *e) {
    char ref[GD_REF_LEN + 1];
    *out = NULL;
    ref_of(body, len, ref);
    gd_stored *g = gd_store_get(s, ref);
    if (g) {
        *out = g;
        return 0;
    }
    char *summary, *copy;
    size_t summary_len;
    if (summarize(format, body, len, lim, ref, &summary, &summary_len, e) < 0) return -1;
    copy = malloc(len + 1);
    if (!copy) {
        free(summary);
        return gd_fail(e, GD_E_LIMIT_EXCEEDED, "", "out of memory keeping the graph");
    }
    memcpy(copy, body, len);
    copy[len] = '\0';
    g = gd_stored_new(ref, format, copy, len, summary, summary_len);
    if (!g) return gd_fail(e, GD_E_LIMIT_EXCEEDED, "", "out of memory keeping the graph");
    if (!s) {
        *out = g; /* no store: the caller has the only reference */
        return 2;
    }
    int64_t max;
    gd_store_size(s, NULL, NULL, &max);
    int64_t need = g->bytes;
    g->refs++; /* ours, beside the store's */
    int kept = gd_store_put(s, g);
    if (kept < 0) {
        return gd_fail(e, GD_E_LIMIT_EXCEEDED, "", "the graph takes %lld bytes, more than the graph store holds "
                       "(--graph-store-bytes %lld)", (long long)need, (long long)max);
    }
    if (kept == 0) { /* stored meanwhile by another request: g is gone */
        *out = gd_store_get(s, ref);
        return *out ? 0 : gd_fail(e, GD_E_INTERNAL, "", "the graph left the store at once");
    }
    *out = g;
    return 1;
}

/* ---- the routes ------------------------------------------------------- */

/* The format a Content-Type names: application/onnx (or
 * application/octet-stream) is a model, application/json (or none, as
 * gradd run sends) a graph object. -1 for any other. */
static int format_of(const char *ct) {
    if (!ct || !*ct) return GD_GRAPH_JSON;
    size_t n = strcspn(ct, "; ");
    if ((n == 16 && !strncasecmp(ct, "application/json", 16))) return GD_GRAPH_JSON;
    if ((n == 16 && !strncasecmp(ct, "application/onnx", 16)) ||
        (n == 24 && !strncasecmp(ct, "application/octet-stream", 24)))
        return GD_GRAPH_ONNX;
    return -1;
}

void gd_route_graphs(const gd_call *call, const gd_route_spec *rt, gd_response *out) {
    gd_err e;
    memset(&e, 0, sizeof e);
    memset(out, 0, sizeof *out);
    double t0 = gd_now_ms();
    if (!strcmp(rt->method, "GET")) {
        const char *ref = call->path_ref ? call->path_ref : "";
        gd_stored *g = gd_ref_ok(ref) ? gd_store_get(call->store, ref) : NULL;
        char q[GD_QUOTE_CAP];
        gd_quote(ref, strlen(ref), '"', q, sizeof q);
        if (!gd_ref_ok(ref))
            gd_fail(&e, GD_E_INVALID_REQUEST, "", "%s is not a graph ref: sha256: and 64 lowercase hex digits", q);
        else if (!g)
            gd_fail(&e, GD_E_GRAPH_NOT_FOUND, "", "this replica holds no graph %s: upload it with POST /v1/graphs", ref);
        if (g) answer_summary(out, 200, g);
        else answer_error(out, &e);
        gd_stored_release(call->store, g);
        out->timing.encode_ms = gd_now_ms() - t0;
        return;
    }
    int format = format_of(call->content_type);
    if (format < 0) {
        gd_fail(&e, GD_E_UNSUPPORTED_MEDIA_TYPE, "",
                "POST /v1/graphs takes Content-Type application/onnx (a model's bytes) or application/json (a graph "
                "object); got %.64s",
                call->content_type);
        answer_error(out, &e);
        return;
    }
    if (call->binary) {
        gd_fail(&e, GD_E_BAD_BINARY, "", "POST /v1/graphs takes the graph's bytes alone, no binary tensors");
        answer_error(out, &e);
        return;
    }
    gd_stored *g = NULL;
    int rc = gd_graph_ingest(call->store, (gd_graph_format)format, call->body ? call->body : "", call->len, call->lim,
                             &g, &e);
    out->timing.decode_ms = gd_now_ms() - t0;
    if (rc < 0) answer_error(out, &e);
    else answer_summary(out, rc == 1 ? 201 : 200, g);
    gd_stored_release(rc == 2 ? NULL : call->store, g);
}
