/* handle.c -- gd_handle: one request in, one response out. Looks the
 * route's spec up (spec.c), decodes the request and lowers its graph,
 * runs the route's handler, and turns any failure into the error object
 * with its status. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

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

/* r's binary answer as runs of bytes, in order: a tensor in the lent
 * binary section where it lies, the others in tail (bin's bytes); runs
 * that follow each other in memory are one (params sent and answered in
 * the same order are one run). NULL when out of memory. */
static gd_piece *pieces_of(const gd_req *r, const char *tail, int *n, int *uses_binary) {
    gd_piece *pc = malloc((size_t)r->nrefs * sizeof *pc);
    if (!pc) return NULL;
    *n = 0;
    for (int i = 0; i < r->nrefs; i++) {
        const gd_bin_ref *f = &r->refs[i];
        if (f->len == 0) continue;
        const char *p = f->src ? f->src : tail + f->off;
        *uses_binary |= f->src != NULL;
        if (*n && pc[*n - 1].p + pc[*n - 1].len == p) pc[*n - 1].len += f->len;
        else pc[(*n)++] = (gd_piece){p, f->len};
    }
    return pc;
}

void gd_handle_call(const gd_call *call, gd_response *out) {
    const char *route = call->route;
    memset(out, 0, sizeof *out);
    gd_err e;
    memset(&e, 0, sizeof e);
    const gd_route_spec *rt = gd_route_spec_find(route);
    if (!rt) {
        char list[256] = "";
        for (int i = 0; i < gd_route_count(); i++) {
            cd_join(list + strlen(list), sizeof list - strlen(list), i ? ", " : "", gd_route_name(i));
        }
        gd_fail(&e, GD_E_UNKNOWN_ROUTE, "", "there is no route /v1/%.64s (%s)", route ? route : "", list);
        error_response(out, &e);
        free(call->bin_buf);
        return;
    }
    if (rt->store) { /* the graph store's routes: no request object */
        gd_route_graphs(call, rt, out);
        free(call->bin_buf);
        return;
    }
    cd_buf b = {0};
    if (!rt->handler) {
        double t0 = gd_now_ms();
        gd_route_ops(&b);
        out->timing.encode_ms = gd_now_ms() - t0;
        finish(out, &b, 200);
        free(call->bin_buf);
        return;
    }
    gd_req r;
    gd_timing t = {0};
    double t0 = gd_now_ms();
    int rc = gd_req_open(&r, call, rt, &e);
    if (call->bin_buf) r.bin = (cd_buf){call->bin_buf, 0, call->bin_cap, 0}; /* r's now: gd_req_close frees it */
    if (!rt->cached) r.cache = NULL; /* no key to make, no miss to count */
    r.deadline_ms = call->deadline_ms;
    r.on_line = call->on_line;
    r.line_ctx = call->line_ctx;
    if (rc == 0) rc = gd_req_build(&r);
    if (rc == 0 && rt->handler == gd_route_step) r.ndjson = r.args.stream || call->stream;
    if (r.g) gr_graph_set_cancel(r.g, r.cancel); /* autodiff and compile stop at the deadline */
    t.decode_ms = gd_now_ms() - t0;
    if (rc == 0) rc = rt->handler(&r, &b, &t);
    if (r.ndjson && (rc == 0 || r.nlines > 0) && !r.deferred && !b.oom) { /* NDJSON: the final line */
        if (rc < 0) { /* after a first line, an error is the last line; the status is 200 */
            cd_buf_free(&b);
            gd_err_write(&b, &e);
        }
        cd_buf_putc(&b, '\n');
        cd_buf lines = r.lines; /* the progress lines not given to on_line, then the final one */
        memset(&r.lines, 0, sizeof r.lines);
        cd_buf_put(&lines, b.p, b.len);
        if (b.oom) lines.oom = 1;
        cd_buf_free(&b);
        b = lines;
        out->ndjson = 1;
        out->streamed = r.on_line && r.nlines > 0;
        rc = 0; /* e stays filled: gd_req_close keeps no program of a failed run */
    }
    cd_buf_free(&r.lines);
    size_t json_len = b.len;
    int deferred = rc < 0 && r.deferred;
    char *tail = NULL;
    size_t tail_len = 0;
    size_t tail_cap = r.bin.cap;
    gd_piece *pieces = NULL;
    int npieces = 0, uses_binary = 0;
    if (rc == 0 && r.nrefs && !r.bin.oom && !r.ndjson) { /* pieces: in the lent binary section, or in tail */
        if (r.bin.p) tail = cd_buf_take(&r.bin, &tail_len); /* even empty: a lent bin_buf goes back to the caller */
        if (!(pieces = pieces_of(&r, tail, &npieces, &uses_binary))) b.oom = 1;
    } else if (rc == 0 && r.bin.len && call->split_binary && !r.bin.oom && !r.ndjson) {
        tail = cd_buf_take(&r.bin, &tail_len);
    } else if (rc == 0 && r.bin.len) {
        cd_buf_put(&b, r.bin.p, r.bin.len); /* binary tensors after the JSON */
    }
    if (r.bin.oom) b.oom = 1;
    /* A graph and program kept in the cache must not point at this call's flag. */
    if (r.g) gr_graph_set_cancel(r.g, NULL);
    if (r.plan && r.plan->ex) gr_exec_set_cancel(r.plan->ex, NULL);
    gd_req_close(&r);
    out->timing = t;
    if (deferred || rc < 0 || b.oom) {
        free(tail);
        free(pieces);
    }
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
    int ndjson = out->ndjson, streamed = out->streamed;
    finish(out, &b, 200);
    out->json_len = json_len;
    if (out->status == 200 && out->body) {
        out->tail = tail;
        out->tail_len = tail_len;
        out->tail_cap = tail_cap;
        out->pieces = pieces;
        out->npieces = npieces;
        out->uses_binary = uses_binary;
    } else {
        free(tail); /* out of memory writing the JSON: the fixed reply alone */
        free(pieces);
    }
    out->ndjson = ndjson;
    out->streamed = streamed;
}

void gd_response_free(gd_response *r) {
    free(r->body);
    free(r->tail);
    free(r->pieces);
    memset(r, 0, sizeof *r);
}
