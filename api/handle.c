/* handle.c -- gd_handle: one request in, one response out. Looks the
 * route up, decodes and builds the request, runs the route, and turns any
 * failure into the error object with its status. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

#define COMMON "graph", "dtype", "inputs", "params", "encoding", "binary_data_output"

typedef int (*route_fn)(gd_req *r, cd_buf *b, gd_timing *t);

static const char *const forward_fields[] = {COMMON, "outputs", NULL};
static const char *const gradient_fields[] = {COMMON, "wrt", "outputs", NULL};
static const char *const step_fields[] = {COMMON, "wrt", "optimizer", "state", "steps", "batches", "return_gradients", NULL};
static const char *const jvp_fields[] = {COMMON, "tangents", "outputs", NULL};
static const char *const hvp_fields[] = {COMMON, "wrt", "vector", NULL};
static const char *const check_fields[] = {COMMON, "wrt", "eps", NULL};
static const char *const graph_fields[] = {COMMON, "wrt", NULL};

static const struct route {
    const char *name;
    route_fn fn;
    const char *const *fields;
    int cached;         /* keeps its compiled programs (gd_program) */
} routes[] = {
    {"forward", gd_route_forward, forward_fields, 1},
    {"gradient", gd_route_gradient, gradient_fields, 1},
    {"step", gd_route_step, step_fields, 1},
    {"jvp", gd_route_jvp, jvp_fields, 0},
    {"hvp", gd_route_hvp, hvp_fields, 0},
    {"check", gd_route_check, check_fields, 0},
    {"gradient-graph", gd_route_gradient_graph, graph_fields, 0},
    {"ops", NULL, NULL, 0},
};
#define NROUTES ((int)(sizeof routes / sizeof routes[0]))

static const struct route *find_route(const char *name) {
    for (int i = 0; name && i < NROUTES; i++)
        if (!strcmp(routes[i].name, name)) return &routes[i];
    return NULL;
}

int gd_route_known(const char *route) { return find_route(route) != NULL; }
int gd_route_count(void) { return NROUTES; }
const char *gd_route_name(int i) { return i >= 0 && i < NROUTES ? routes[i].name : NULL; }
int gd_route_has_body(const char *route) { return find_route(route) && strcmp(route, "ops") != 0; }

void gd_init(void) { json_object_seed(0); }

static void finish(gd_response *out, cd_buf *b, int status) {
    out->status = status;
    out->body = cd_buf_take(b, &out->len);
    out->json_len = out->len;
    if (!out->body) { /* out of memory writing: a fixed reply */
        const gd_error_row *row = gd_error_row_of(GD_E_LIMIT_EXCEEDED);
        char msg[128];
        int n = snprintf(msg, sizeof msg,
                         "{\"error\":\"out of memory writing the response\",\"code\":\"%s\",\"path\":\"\"}", row->code);
        out->status = row->status;
        out->body = strdup(msg);
        out->len = out->body ? (size_t)n : 0;
    }
}

static void error_response(gd_response *out, const gd_err *e) {
    cd_buf b = {0};
    gd_err_write(&b, e);
    finish(out, &b, gd_error_row_of(e->status ? e->id : GD_E_INTERNAL)->status); /* none filled: a bug */
}

void gd_handle(const char *route, const char *body, size_t len, const gd_limits *lim, gd_response *out) {
    gd_call call = {.route = route, .body = body, .len = len, .lim = lim};
    gd_handle_call(&call, out);
}

void gd_handle_cancellable(const char *route, const char *body, size_t len, const gd_limits *lim,
                           const volatile int *cancel, gd_response *out) {
    gd_call call = {.route = route, .body = body, .len = len, .lim = lim, .cancel = cancel};
    gd_handle_call(&call, out);
}

void gd_handle_call(const gd_call *call, gd_response *out) {
    const char *route = call->route;
    memset(out, 0, sizeof *out);
    gd_err e;
    memset(&e, 0, sizeof e);
    const struct route *rt = find_route(route);
    if (!rt) {
        gd_fail(&e, GD_E_UNKNOWN_ROUTE, "", "there is no route /v1/%.64s (forward, gradient, step, jvp, hvp, check, "
                                              "gradient-graph, ops)",
                route ? route : "");
        error_response(out, &e);
        return;
    }
    cd_buf b = {0};
    if (!rt->fn) {
        double t0 = gd_now_ms();
        gd_route_ops(&b);
        out->timing.encode_ms = gd_now_ms() - t0;
        finish(out, &b, 200);
        return;
    }
    gd_req r;
    gd_timing t = {0};
    double t0 = gd_now_ms();
    int rc = gd_req_open(&r, call, rt->fields, &e);
    if (!rt->cached) r.cache = NULL; /* no key to make, no miss to count */
    r.deadline_ms = call->deadline_ms;
    if (rc == 0 && rt->fn == gd_route_step) { /* the first batch shapes the graph */
        const json_t *batches = json_object_get(r.doc.json.root, "batches");
        if (json_is_array(batches) && json_array_size(batches) > 0) {
            r.inputs_from = json_array_get(batches, 0);
            cd_join(r.inputs_from_path, sizeof r.inputs_from_path, "/batches/0", "");
            if (!json_is_object(r.inputs_from))
                rc = gd_fail(&e, GD_E_INVALID_REQUEST, "/batches/0", "a batch is an object of input name: value");
        }
    }
    if (rc == 0) rc = gd_req_build(&r);
    if (r.g) gr_graph_set_cancel(r.g, r.cancel); /* autodiff and compile stop at the deadline */
    t.decode_ms = gd_now_ms() - t0;
    if (rc == 0) rc = rt->fn(&r, &b, &t);
    size_t json_len = b.len;
    int deferred = rc < 0 && r.deferred;
    if (rc == 0 && r.bin.len) cd_buf_put(&b, r.bin.p, r.bin.len); /* binary tensors after the JSON */
    if (r.bin.oom) b.oom = 1;
    /* A graph and program kept in the cache must not point at this call's flag. */
    if (r.g) gr_graph_set_cancel(r.g, NULL);
    if (r.plan && r.plan->ex) gr_exec_set_cancel(r.plan->ex, NULL);
    gd_req_close(&r);
    out->timing = t;
    if (deferred) {
        cd_buf_free(&b);
        memset(out, 0, sizeof *out); /* status GD_DEFERRED, no body */
        return;
    }
    if (rc < 0 || b.oom) {
        cd_buf_free(&b);
        if (!e.status) gd_fail(&e, GD_E_LIMIT_EXCEEDED, "", "out of memory writing the response");
        error_response(out, &e);
        out->timing = t;
        return;
    }
    finish(out, &b, 200);
    out->json_len = json_len;
}

void gd_response_free(gd_response *r) {
    free(r->body);
    memset(r, 0, sizeof *r);
}
