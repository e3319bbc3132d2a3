/* http.c -- a request's life in the daemon. libmicrohttpd does the HTTP
 * I/O on its own threads (poll); compute runs on the bounded pool (pool.c).
 * A request's life:
 *
 *   first callback   headers only, read in one pass (read_headers, into
 *                    req.hdr): route, auth, CORS, content type, and the
 *                    body's size from Content-Length (413 before any of it
 *                    is read; 400 and close for duplicate Content-Length or
 *                    Content-Length with Transfer-Encoding); the memory the
 *                    body and its JSON tree may take is reserved against
 *                    --max-inflight-bytes (503 and close, before any of the
 *                    body is read, past it; memory.c)
 *   body callbacks   copied out, bounded by the body limit (a chunked body
 *                    reserves as it grows)
 *   last callback    a small body whose work turns out tiny is answered
 *                    right here (try_inline: no hand-off to a worker);
 *                    else queued on the pool (503 at once when it is
 *                    full) and the connection suspended
 *   worker           gd_handle_call (compute), then resume
 *   last callback    (again, after resume) the response is queued
 *   completed        one log line (access_log.c), metrics, free, the
 *                    reservation given back
 *
 * GET of a path outside /v1/ is routed by get_path: health, readiness,
 * metrics, the OpenAPI description, else the playground's files
 * (static.c). Each connection has a record (conn.c) whose phase this file
 * moves along: waiting for headers, reading a body, busy.
 *
 * A watchdog (serve.c) raises a request's cancel flag at its deadline
 * (504), since a suspended connection never times out by itself; compile
 * and long kernels look at the flag, so the 504 comes within about 100 ms
 * of the deadline, and work estimated to need more than the time left is
 * refused before it runs (504 deadline_exceeded). It also holds headers
 * and bodies to their deadlines and closes uploads whose client left
 * (conn.c), and once no request is in flight gives malloc's freed memory
 * back (memory.c). SIGTERM (or SIGINT) turns /readyz to 503, stops
 * accepting connections, lets requests in flight (from their headers on:
 * an upload too) finish within the grace period, and exits 0; a second one
 * changes nothing, a third or SIGQUIT cancels what is in flight (504) and
 * exits 0 at once. SIGHUP, SIGUSR1 and SIGUSR2 are logged and ignored
 * (serve.c). Signals are caught on any thread (signals.h), so none takes
 * its default action on a library's thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api.h"
#include "cache.h"
#include "metrics.h"
#include "codec/buf.h"
#include "pool.h"
#include "server.h"
#include "store.h"

/* ---- responses ------------------------------------------------------- */

void srv_http_common_headers(req *r, struct MHD_Response *resp) {
    MHD_add_response_header(resp, "X-Request-ID", r->id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->origin[0]) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Request-ID, Inference-Header-Content-Length");
    }
    if (r->s->cfg.cors_origins[0]) MHD_add_response_header(resp, "Vary", "Origin");
}

/* Queue body (len bytes; taken over when owned) with status and type. */
static enum MHD_Result reply(req *r, int status, const char *ctype, char *body, size_t len, int owned, int close) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        if (owned) free(body);
        return MHD_NO;
    }
    if (ctype) MHD_add_response_header(resp, "Content-Type", ctype);
    srv_http_common_headers(r, resp);
    if (close || atomic_load(&r->s->draining)) MHD_add_response_header(resp, "Connection", "close");
    if (status == 503) MHD_add_response_header(resp, "Retry-After", "1");
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (status == 405)
        MHD_add_response_header(resp, "Allow", gd_route_has_body(r->route) ? "POST, OPTIONS" : "GET, OPTIONS");
    r->status = status;
    r->out_bytes = len;
    enum MHD_Result ok = MHD_queue_response(r->c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

enum MHD_Result srv_http_reply_error(req *r, gd_code id, const char *fmt, ...) {
    int status = gd_error_row_of(id)->status;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gd_err e = {0};
    gd_fail(&e, id, "", "%s", msg);
    cd_buf b = {0};
    gd_err_write(&b, &e);
    size_t len;
    char *body = cd_buf_take(&b, &len);
    if (!body) return MHD_NO;
    int close = status == 400 || status == 413 || status == 408 || status == 414 || status == 431;
    return reply(r, status, "application/json", body, len, 1, close);
}

/* ---- headers --------------------------------------------------------- */

/* One header of the pass below: counted (Content-Length,
 * Transfer-Encoding) or kept when it is the first of its name. */
static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    req_headers *h = cls;
    if (!value) value = "";
    h->bytes += strlen(key) + strlen(value) + 4;
    const char **keep = NULL;
    if (!strcasecmp(key, "Content-Length")) {
        if (h->content_length++ == 0) h->content_length_value = value;
        else if (strcmp(h->content_length_value, value)) h->content_length_differ = 1;
    } else if (!strcasecmp(key, "Transfer-Encoding")) {
        h->transfer_encoding = 1;
    } else if (!strcasecmp(key, "Content-Type")) {
        keep = &h->content_type;
    } else if (!strcasecmp(key, "Authorization")) {
        keep = &h->authorization;
    } else if (!strcasecmp(key, "Origin")) {
        keep = &h->origin;
    } else if (!strcasecmp(key, "X-Request-ID")) {
        keep = &h->request_id;
    } else if (!strcasecmp(key, "Inference-Header-Content-Length")) {
        keep = &h->json_length;
    } else if (!strcasecmp(key, "If-None-Match")) {
        keep = &h->if_none_match;
    } else if (!strcasecmp(key, "Accept")) {
        keep = &h->accept;
    }
    if (keep && !*keep) *keep = value;
    return MHD_YES;
}

/* Fill r->hdr with one pass over r's headers (once; nothing when r has
 * no connection). */
static void read_headers(req *r) {
    if (r->hdr.read || !r->c) return;
    MHD_get_connection_values(r->c, MHD_HEADER_KIND, scan_header, &r->hdr);
    r->hdr.read = 1;
}

/* Constant-time comparison of the bearer token with each configured key.
 * The keys are comma-separated; blanks around each are trimmed ("k1, k2"),
 * as --cors-origins does. */
static int authorized(const server *s, const char *header) {
    if (!s->cfg.api_keys[0]) return 1;
    if (!header || strncasecmp(header, "Bearer ", 7) != 0) return 0;
    const char *tok = header + 7;
    size_t tlen = strlen(tok);
    int ok = 0;
    const char *k = s->cfg.api_keys;
    while (*k) {
        const char *end = strchr(k, ',');
        size_t klen = end ? (size_t)(end - k) : strlen(k);
        const char *key = k;
        size_t len = klen;
        while (len && (*key == ' ' || *key == '\t')) key++, len--;
        while (len && (key[len - 1] == ' ' || key[len - 1] == '\t')) len--;
        unsigned diff = (unsigned)(len ^ tlen);
        for (size_t i = 0; i < len; i++) diff |= (unsigned char)key[i] ^ (unsigned char)(i < tlen ? tok[i] : 0);
        ok |= len > 0 && diff == 0;
        k += klen + (end ? 1 : 0);
    }
    return ok;
}

/* Echo the Origin when it is configured ("*" allows any). */
static void cors_origin(req *r) {
    const char *origin = r->hdr.origin;
    const char *list = r->s->cfg.cors_origins;
    if (!origin || !list[0] || strlen(origin) >= sizeof r->origin) return;
    size_t olen = strlen(origin);
    for (const char *k = list; *k;) {
        while (*k == ' ') k++;
        const char *end = strchr(k, ',');
        size_t klen = end ? (size_t)(end - k) : strlen(k);
        while (klen && k[klen - 1] == ' ') klen--;
        if ((klen == 1 && *k == '*') || (klen == olen && !strncmp(k, origin, olen))) {
            cd_join(r->origin, sizeof r->origin, origin, "");
            return;
        }
        if (!end) break;
        k = end + 1;
    }
}

void srv_http_request_id(req *r) {
    read_headers(r);
    const char *given = r->hdr.request_id;
    int ok = given && strlen(given) > 0 && strlen(given) < 64;
    for (const char *p = given; ok && *p; p++) ok = *p > 0x20 && *p < 0x7f && *p != '"' && *p != '\\';
    if (ok) {
        cd_join(r->id, sizeof r->id, given, "");
        return;
    }
    /* 16 hex digits: the daemon's start (pid ^ time) in the high half, a
     * counter in the low half */
    unsigned long long n = atomic_fetch_add(&r->s->next_id, 1);
    uint64_t v = (uint64_t)r->s->id_base << 32 | (uint32_t)n;
    for (int i = 15; i >= 0; i--, v >>= 4) r->id[i] = "0123456789abcdef"[v & 15];
    r->id[16] = 0;
}

/* ---- compute --------------------------------------------------------- */

static void active_add(server *s, req *r) {
    pthread_mutex_lock(&s->mu);
    r->next = s->active;
    if (s->active) s->active->prev = r;
    s->active = r;
    pthread_mutex_unlock(&s->mu);
}

static void active_remove(server *s, req *r) {
    pthread_mutex_lock(&s->mu);
    if (r->prev) r->prev->next = r->next;
    else s->active = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
    pthread_mutex_unlock(&s->mu);
}

/* The binary section of a body (Triton's extension) starts on this many
 * bytes: its tensors are then used where they lie, no copy made. */
#define BODY_ALIGN 64

/* The start of r's body's allocation (cap bytes). */
static char *body_base(const req *r) { return r->body ? r->body - r->body_shift : NULL; }

/* The API call for r's body. */
static gd_call call_of(req *r) {
    server *s = r->s;
    gd_call call = {.route = r->route, .body = r->body, .len = r->len, .lim = &s->cfg.limits, .cancel = &r->cancel,
                    .cache = s->cache, .deadline_ms = r->deadline, .stream = r->wants_ndjson,
                    .split_binary = 1};
    if (r->json_len >= 0) { /* split at the header's length */
        call.len = (size_t)r->json_len;
        call.binary = r->body + r->json_len;
        call.binary_len = r->len - (size_t)r->json_len;
        call.binary_writable = 1; /* the body is the request's: tensors are used, and params updated, in it */
    }
    call.store = s->store;
    call.content_type = r->hdr.content_type;
    call.path_ref = r->ref;
    return call;
}

static void compute(void *arg) {
    req *r = arg;
    server *s = r->s;
    req_stream *st = &r->stream;
    r->t_started = gd_now_ms();
    if (r->cancel || r->t_started > r->deadline) { /* expired while waiting */
        r->cancel = 1;
    }
    gd_call call = call_of(r);
    if (st->inited) {
        call.on_line = srv_stream_line;
        call.line_ctx = r;
    }
    /* a binary request's answer is written into a kept buffer, the
     * biggest (a step's answer is about its body's size) */
    if (r->json_len >= 0) call.bin_buf = srv_kept_take(s, 0, &call.bin_cap);
    gd_handle_call(&call, &r->res);
    r->t_done = gd_now_ms();
    r->phases = r->res.timing;
    active_remove(s, r);
    srv_pool_done(s->pool); /* the slot is free before the client can send again */
    struct MHD_Connection *c = r->c;
    if (!st->inited) {
        r->state = R_DONE;
        MHD_resume_connection(c);
        return;
    }
    pthread_mutex_lock(&st->mu);
    int resume = 1;
    r->state = R_DONE;
    if (st->started) { /* the final line goes after the streamed ones */
        srv_stream_append(st, r->res.body ? r->res.body : "", r->res.body ? r->res.len : 0);
        if (!r->res.ndjson) srv_stream_append(st, "\n", 1); /* an error the API could not make a line of */
        gd_response_free(&r->res);
        st->finished = 1;
        resume = st->reader_waits;
        st->reader_waits = 0;
    }
    st->worker_done = 1; /* from here on r may be freed by its completion */
    pthread_cond_broadcast(&st->done_cv);
    pthread_mutex_unlock(&st->mu);
    if (resume) MHD_resume_connection(c); /* suspended, so not completed: still valid */
}

/* Work a request may do on the I/O thread: about 0.1 to 0.2 ms of one
 * core (4M estimated flops: the digits MLP's training step on a batch of
 * 32 is 1.9M). Past it the call stops before running (GD_DEFERRED) and
 * goes to a worker. The hand-off costs about 0.07 ms (suspend, queue,
 * wake, resume: the access log's queue_ms and what follows compute_ms),
 * so work this small is answered sooner here, and the I/O thread is
 * never held for long. */
#define INLINE_WORK_BUDGET (4 * 1024 * 1024)

/* A small request answered right here, with no hand-off to a worker and
 * back: 1 when r->res holds the answer, 0 when it needs a worker. The
 * body bound (--inline-max-bytes for the JSON text, 8 times that for
 * binary tensors) bounds decoding and compiling; the work budget bounds
 * running. */
static int try_inline(req *r) {
    server *s = r->s;
    size_t text = r->json_len >= 0 ? (size_t)r->json_len : r->len, max = (size_t)s->cfg.inline_max_bytes;
    /* JSON text is parsed number by number; binary tensors (Triton's
     * extension) are copied whole, at memcpy speed: 8 times as many bytes */
    if (!max || text > max || r->len - text > 8 * max) return 0;
    r->t_queued = r->t_started = gd_now_ms();
    gd_call call = call_of(r);
    call.work_budget = INLINE_WORK_BUDGET;
    gd_handle_call(&call, &r->res);
    if (r->res.status == GD_DEFERRED) {
        gd_response_free(&r->res);
        r->t_queued = r->t_started = 0;
        return 0;
    }
    r->t_done = gd_now_ms();
    r->phases = r->res.timing;
    return 1;
}

/* ---- routing --------------------------------------------------------- */

static enum MHD_Result get_path(req *r, const char *url) {
    server *s = r->s;
    if (!strcmp(url, "/healthz") || !strcmp(url, "/v2/health/live"))
        return reply(r, 200, "application/json", url[1] == 'h' ? "{\"status\":\"alive\"}" : "", url[1] == 'h' ? 18 : 0,
                     0, 0);
    if (!strcmp(url, "/readyz") || !strcmp(url, "/v2/health/ready")) {
        int ready = !atomic_load(&s->draining);
        const char *b = url[1] == 'r' ? (ready ? "{\"status\":\"ready\"}" : "{\"status\":\"draining\"}") : "";
        return reply(r, ready ? 200 : 503, "application/json", (char *)b, strlen(b), 0, 0);
    }
    if (!strcmp(url, "/metrics")) {
        cd_buf b = {0};
        int running = srv_pool_running(s->pool), queued = srv_pool_queued(s->pool);
        unsigned long long hits = 0, misses = 0;
        gd_cache_stats(s->cache, &hits, &misses);
        srv_metrics_render(&b, running, queued, s->cfg.workers, hits, misses);
        long long kept = atomic_load(&s->kept_bytes);
        srv_metrics_render_memory(&b, atomic_load(&s->inflight_bytes) - kept, kept, s->cfg.max_inflight_bytes);
        int cache_entries;
        int64_t cache_bytes;
        gd_cache_size(s->cache, &cache_entries, &cache_bytes);
        srv_metrics_render_cache(&b, cache_entries, (long long)cache_bytes, (long long)s->cfg.cache_bytes);
        int64_t store_max;
        gd_store_size(s->store, &cache_entries, &cache_bytes, &store_max);
        srv_metrics_render_store(&b, cache_entries, (long long)cache_bytes, (long long)store_max);
        size_t len;
        char *body = cd_buf_take(&b, &len);
        if (!body) return MHD_NO;
        return reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", body, len, 1, 0);
    }
    if (!strcmp(url, "/openapi.json")) {
        if (!s->openapi) return srv_http_reply_error(r, GD_E_NOT_FOUND, "the OpenAPI description was not loaded");
        return reply(r, 200, "application/json", s->openapi, s->openapi_len, 0, 0);
    }
    return srv_static_serve(r, url);
}

/* Reserve what a body of len bytes may take, with the headers, before any
 * of it is read: 0, or -1 with *refused the answer: 503 "overloaded"
 * (Retry-After, and the connection closed, as MHD closes any connection
 * answered before its body) while other requests hold the budget, 413 when
 * this one alone needs more than all of it. */
static int inflight_admit(req *r, size_t len, enum MHD_Result *refused) {
    server *s = r->s;
    int64_t need = srv_mem_need(s, len);
    if (need > s->cfg.max_inflight_bytes) {
        srv_metrics_rejected("too_large");
        *refused = srv_http_reply_error(r, GD_E_LIMIT_EXCEEDED,
                                        "a body of %zu bytes may take %lld bytes of memory with its JSON tree, over "
                                        "--max-inflight-bytes (%lld)",
                                        len, (long long)need, (long long)s->cfg.max_inflight_bytes);
        return -1;
    }
    if (srv_mem_reserve(r, need) == 0) return 0;
    srv_metrics_rejected("memory");
    *refused = srv_http_reply_error(r, GD_E_OVERLOADED,
                                    "requests in flight hold the memory this server allows them (--max-inflight-bytes, "
                                    "%lld bytes); retry shortly",
                                    (long long)s->cfg.max_inflight_bytes);
    return -1;
}

/* The first callback of a request: everything that needs only headers. */
static enum MHD_Result first_call(req *r, const char *url, const char *method) {
    server *s = r->s;
    read_headers(r);
    const req_headers *h = &r->hdr;
    srv_http_request_id(r);
    cors_origin(r);
    cd_join(r->method, sizeof r->method, method, "");
    cd_join(r->url, sizeof r->url, url, "");
    int is_api = !strncmp(url, "/v1/", 4);
    if (is_api && gd_route_known(url + 4)) cd_join(r->route, sizeof r->route, url + 4, "");
    if (is_api && !strncmp(url + 4, "graphs/", 7)) { /* the store's path parameter: GET /v1/graphs/{ref} */
        cd_join(r->route, sizeof r->route, "graphs/{ref}", "");
        cd_join(r->ref, sizeof r->ref, url + 11, "");
    }
    r->wants_ndjson = h->accept && strcasestr(h->accept, "application/x-ndjson") != NULL;
    /* The header limit, here rather than libmicrohttpd's: its buffer per
     * connection is also the one bodies are read through, and is sized
     * for them (--connection-buffer-bytes). */
    size_t max_header = (size_t)s->cfg.max_header_bytes, line = strlen(method) + r->uri_len + 11; /* " HTTP/1.1\r\n" */
    if (r->uri_len > max_header) {
        srv_metrics_rejected("bad_headers"); /* as libmicrohttpd's own 431 and 414 */
        return srv_http_reply_error(r, GD_E_URI_TOO_LONG, "the URI is %zu bytes, over the limit of %zu", r->uri_len,
                                    max_header);
    }
    if (line + h->bytes > max_header) {
        srv_metrics_rejected("bad_headers"); /* as libmicrohttpd's own 431 and 414 */
        return srv_http_reply_error(r, GD_E_HEADERS_TOO_LARGE,
                                    "the request line and headers are %zu bytes, over the limit of %zu",
                                    line + h->bytes, max_header);
    }

    if (!strcmp(method, "OPTIONS")) { /* CORS preflight */
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        if (!resp) return MHD_NO;
        srv_http_common_headers(r, resp);
        if (r->origin[0]) {
            MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
            MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                    "Content-Type, Authorization, X-Request-ID, Inference-Header-Content-Length");
            MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
        }
        r->status = 204;
        enum MHD_Result ok = MHD_queue_response(r->c, 204, resp);
        MHD_destroy_response(resp);
        return ok;
    }
    if (!is_api) {
        if (h->content_length > 1 || (h->content_length && h->transfer_encoding)) {
            srv_metrics_rejected("bad_headers");
            return srv_http_reply_error(r, GD_E_BAD_HEADERS,
                                        "conflicting Content-Length or Transfer-Encoding headers");
        }
        if (strcmp(method, "GET") && strcmp(method, "HEAD"))
            return srv_http_reply_error(r, GD_E_METHOD_NOT_ALLOWED, "%s takes GET", url);
        /* Answered at the last callback when there is no body: MHD closes
         * a connection whose answer was queued with its headers. */
        if (!h->transfer_encoding && (!h->content_length || !strcmp(h->content_length_value, "0"))) {
            r->deferred_get = 1;
            return MHD_YES;
        }
        return get_path(r, url);
    }
    if (!r->route[0]) return srv_http_reply_error(r, GD_E_UNKNOWN_ROUTE, "there is no route %s", url);
    if (!authorized(s, h->authorization)) {
        srv_metrics_rejected("unauthorized");
        return srv_http_reply_error(r, GD_E_UNAUTHORIZED, "this server needs Authorization: Bearer <key>");
    }
    int has_body = gd_route_has_body(r->route);
    if (strcmp(method, has_body ? "POST" : "GET"))
        return srv_http_reply_error(r, GD_E_METHOD_NOT_ALLOWED, "%s takes %s", url, has_body ? "POST" : "GET");
    if (atomic_load(&s->draining)) {
        srv_metrics_rejected("draining");
        return srv_http_reply_error(r, GD_E_DRAINING, "the server is shutting down; retry on another replica");
    }
    /* Headers that would let a second request hide in the body: checked
     * for every route, bodiless ones too. */
    if (h->content_length > 1) {
        srv_metrics_rejected("bad_headers");
        return srv_http_reply_error(r, GD_E_BAD_HEADERS, "the request has %d Content-Length headers%s",
                                    h->content_length, h->content_length_differ ? " that disagree" : "");
    }
    if (h->content_length && h->transfer_encoding) {
        srv_metrics_rejected("bad_headers");
        return srv_http_reply_error(r, GD_E_BAD_HEADERS, "the request has both Content-Length and Transfer-Encoding");
    }
    if (!has_body) return MHD_YES; /* GET /v1/ops: computed at the last callback */
    if (!h->content_length) { /* chunked, or no body: reserves as it grows */
        enum MHD_Result refused;
        if (inflight_admit(r, 0, &refused) < 0) return refused;
    }
    if (h->content_length) {
        char *end;
        errno = 0;
        unsigned long long cl = strtoull(h->content_length_value, &end, 10);
        if (errno || end == h->content_length_value || *end) {
            srv_metrics_rejected("bad_headers");
            return srv_http_reply_error(r, GD_E_BAD_HEADERS, "Content-Length is not a number");
        }
        if (cl > s->cfg.limits.max_body_bytes) { /* before any of the body is read */
            srv_metrics_rejected("too_large");
            return srv_http_reply_error(r, GD_E_LIMIT_EXCEEDED, "the body has %llu bytes, over the limit of %zu", cl,
                                        s->cfg.limits.max_body_bytes);
        }
        enum MHD_Result refused;
        if (inflight_admit(r, (size_t)cl, &refused) < 0) return refused;
        /* One allocation, reserved above: its pages are only touched (and
         * so only taken) as the bytes arrive. */
        r->body = srv_body_alloc(r->s, (size_t)cl + 1 + BODY_ALIGN, &r->cap);
    }
    const char *ct = h->content_type, *ihcl = h->json_length;
    r->json_len = -1;
    if (!strcmp(r->route, "graphs")) return MHD_YES; /* a graph's bytes: the store checks the media type */
    if (ihcl) { /* Triton's binary extension: JSON, then raw tensor bytes */
        char *end;
        errno = 0;
        long long hl = strtoll(ihcl, &end, 10);
        if (errno || end == ihcl || *end || hl < 0)
            return srv_http_reply_error(r, GD_E_BAD_HEADERS, "Inference-Header-Content-Length is not a byte count");
        r->json_len = hl;
        if (r->body && r->len == 0) { /* nothing read yet: the binary section on BODY_ALIGN bytes */
            r->body_shift = (BODY_ALIGN - ((uintptr_t)r->body + (size_t)hl) % BODY_ALIGN) % BODY_ALIGN;
            r->body += r->body_shift;
        }
        if (ct && !strncasecmp(ct, "application/octet-stream", 24)) return MHD_YES;
    }
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';' && ct[16] != ' '))
        return srv_http_reply_error(r, GD_E_UNSUPPORTED_MEDIA_TYPE,
                                    "send Content-Type: application/json (with curl: --json or -H 'Content-Type: "
                                    "application/json'); got %.64s",
                                    ct ? ct : "none");
    return MHD_YES;
}

/* The buffers of a binary answer, freed when MHD is done sending (the
 * big ones kept for a later request: srv_kept_give): the JSON, the
 * tensors, and the request's body when tensors are sent from it. */
typedef struct answer_parts {
    server *s;
    char *json, *tensors;
    size_t tensors_cap;
    char *body;          /* NULL, or the allocation (body_cap bytes) of a body pieces point into */
    size_t body_cap;
} answer_parts;

static void free_answer_parts(void *cls) {
    answer_parts *a = cls;
    free(a->json);
    srv_kept_give(a->s, a->tensors, a->tensors_cap);
    srv_kept_give(a->s, a->body, a->body_cap);
    free(a);
}

/* A response of the JSON and then the binary tensors (a buffer of
 * tensors_cap bytes), sent from where they are (resnet18's params are 45
 * MB: one copy fewer per request). */
static struct MHD_Response *binary_response(server *s, char *json, size_t json_len, char *tensors, size_t tensors_len,
                                            size_t tensors_cap) {
    answer_parts *a = malloc(sizeof *a);
    if (!a) return free(json), free(tensors), NULL;
    *a = (answer_parts){s, json, tensors, tensors_cap, NULL, 0};
    struct MHD_IoVec iov[2] = {{json, json_len}, {tensors, tensors_len}};
    struct MHD_Response *resp = MHD_create_response_from_iovec(iov, 2, free_answer_parts, a);
    if (!resp) free_answer_parts(a);
    return resp;
}

/* The same for an answer in pieces (gd_response.pieces): the tensors
 * the API answered from the body (params updated in place) are sent from
 * there, so the body goes with the response when any piece is in it. */
static struct MHD_Response *pieces_response(req *r, char *json, size_t json_len, size_t *tensors_len) {
    gd_response *res = &r->res;
    answer_parts *a = malloc(sizeof *a);
    struct MHD_IoVec *iov = malloc((size_t)(res->npieces + 1) * sizeof *iov);
    if (!a || !iov) {
        free(a), free(iov), free(json), free(res->tail);
        res->tail = NULL;
        return NULL;
    }
    *a = (answer_parts){r->s, json, res->tail, res->tail_cap, NULL, 0};
    res->tail = NULL;
    if (res->uses_binary) { /* the body is the answer's now: freed (or kept) when it is sent */
        a->body = body_base(r);
        a->body_cap = r->cap;
        r->body = NULL;
        r->cap = r->body_shift = 0;
    }
    iov[0] = (struct MHD_IoVec){json, json_len};
    *tensors_len = 0;
    for (int i = 0; i < res->npieces; i++) {
        iov[i + 1] = (struct MHD_IoVec){res->pieces[i].p, res->pieces[i].len};
        *tensors_len += res->pieces[i].len;
    }
    struct MHD_Response *resp = MHD_create_response_from_iovec(iov, (unsigned)res->npieces + 1, free_answer_parts, a);
    free(iov); /* MHD keeps a copy */
    if (!resp) free_answer_parts(a);
    return resp;
}

/* Queue r->res, the API's answer: JSON, or JSON then binary tensors (in
 * body after json_len bytes, or in tail). */
static enum MHD_Result send_answer(req *r) {
    char *body = r->res.body, *tail = r->res.tail;
    size_t len = r->res.len, tail_len = r->res.tail_len;
    r->res.body = r->res.tail = NULL;
    if (r->res.ndjson) return reply(r, r->res.status, "application/x-ndjson", body, len, 1, 0);
    if (!tail && !r->res.pieces && r->res.json_len == len)
        return reply(r, r->res.status, "application/json", body, len, 1, 0);
    struct MHD_Response *resp;
    if (r->res.pieces) {
        r->res.tail = tail; /* pieces_response takes it */
        resp = pieces_response(r, body, len, &tail_len);
        if (!resp) return MHD_NO;
    } else {
        resp = tail ? binary_response(r->s, body, len, tail, tail_len, r->res.tail_cap)
                    : MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp) return tail ? MHD_NO : (free(body), MHD_NO);
    }
    char hl[32];
    snprintf(hl, sizeof hl, "%zu", r->res.json_len);
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    MHD_add_response_header(resp, "Inference-Header-Content-Length", hl);
    srv_http_common_headers(r, resp);
    r->status = r->res.status;
    r->out_bytes = len + tail_len;
    enum MHD_Result ok = MHD_queue_response(r->c, (unsigned)r->res.status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* A chunked body passed the limit (a Content-Length over it was refused
 * with the headers). A response queued now would go out only after MHD had
 * read the whole body, however long, so the 413 is written straight to the
 * socket, which is then half-closed; MHD has nothing queued on this
 * connection to interleave with it. The rest of the body is read and
 * dropped for at most LINGER_MS or LINGER_BYTES (a lingering close, as
 * nginx does: closing with unread bytes would reset the connection and the
 * client could lose the 413), then the connection is closed. */
static enum MHD_Result answer_413_now(req *r) {
    server *s = r->s;
    srv_metrics_rejected("too_large");
    const gd_error_row *row = gd_error_row_of(GD_E_LIMIT_EXCEEDED);
    gd_err e = {0};
    gd_fail(&e, GD_E_LIMIT_EXCEEDED, "", "the body is over the limit of %zu bytes", s->cfg.limits.max_body_bytes);
    cd_buf eb = {0};
    gd_err_write(&eb, &e);
    size_t blen_z;
    char *body = cd_buf_take(&eb, &blen_z), msg[1024];
    if (!body) return MHD_NO;
    int blen = (int)blen_z;
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 %d Payload Too Large\r\nConnection: close\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\nX-Request-ID: %s\r\nX-Content-Type-Options: nosniff\r\n%s%s%s%s\r\n%s",
                     row->status, blen, r->id, r->origin[0] ? "Access-Control-Allow-Origin: " : "", r->origin,
                     r->origin[0] ? "\r\nAccess-Control-Expose-Headers: X-Request-ID, Inference-Header-Content-Length\r\n" : "",
                     s->cfg.cors_origins[0] ? "Vary: Origin\r\n" : "", body);
    free(body);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || n <= 0 || n >= (int)sizeof msg) return MHD_NO;
    ssize_t sent = send(ci->connect_fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(ci->connect_fd, SHUT_WR);
    r->status = row->status;
    r->out_bytes = sent == n ? (size_t)blen : 0;
    r->raw_answered = 1;
    r->t_linger = gd_now_ms();
    srv_conn_enter(s, r->conn, C_LINGER);
    return MHD_YES;
}

enum MHD_Result srv_http_on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                    const char *version, const char *upload, size_t *upload_size, void **req_cls) {
    (void)version;
    server *s = cls;
    req *r = *req_cls;
    if (!r || !r->first_done) { /* made by srv_http_on_uri, or not (out of memory there) */
        if (!r) {
            r = calloc(1, sizeof *r);
            if (!r) return MHD_NO;
            r->s = s;
            r->c = c;
            r->conn = srv_conn_of(c);
            *req_cls = r;
        }
        r->first_done = 1;
        r->t_start = gd_now_ms();
        enum MHD_Result rc = first_call(r, url, method);
        if (rc == MHD_YES && !r->status && r->route[0]) {
            r->accepted = 1;
            atomic_fetch_add(&s->accepted, 1);
        }
        srv_conn_enter(s, r->conn, r->status ? C_BUSY : C_BODY);
        return rc;
    }
    if (r->raw_answered) { /* the 413 is out: drop what follows for a moment, then close */
        r->discarded += *upload_size;
        int more = *upload_size && r->discarded <= LINGER_BYTES && gd_now_ms() - r->t_linger < LINGER_MS;
        *upload_size = 0;
        return more ? MHD_YES : MHD_NO;
    }
    if (r->status) { /* answered early: drop the rest of the body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) { /* copy the body out, up to the limit */
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->conn) atomic_fetch_add(&r->conn->body_bytes, n);
        if (r->too_large || r->len + n > s->cfg.limits.max_body_bytes) {
            r->too_large = 1;
            return answer_413_now(r);
        }
        if (r->over_budget || srv_mem_grow(r, r->len + n) < 0) { /* chunked, past --max-inflight-bytes: drop it */
            r->over_budget = 1;
            srv_mem_release(r);
            srv_kept_give(s, body_base(r), r->cap);
            r->body = NULL;
            r->cap = r->body_shift = 0;
            r->len += n;
            return MHD_YES;
        }
        if (r->body_shift + r->len + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->body_shift + r->len + n + 1) cap *= 2;
            char *nb = realloc(body_base(r), cap);
            if (!nb) return MHD_NO;
            r->body = nb + r->body_shift;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        return MHD_YES;
    }
    if (r->stream.inited && r->stream.started) return srv_stream_start(r); /* resumed by the first line */
    if (r->state == R_DONE) return send_answer(r); /* resumed: the worker's answer */
    srv_conn_enter(s, r->conn, C_BUSY); /* the whole request is here */
    if (r->deferred_get) return get_path(r, url);
    if (r->json_len > (long long)r->len)
        return srv_http_reply_error(r, GD_E_BAD_HEADERS,
                                    "Inference-Header-Content-Length (%lld) is more than the body (%zu)", r->json_len,
                                    r->len);
    if (r->too_large) {
        srv_metrics_rejected("too_large");
        return srv_http_reply_error(r, GD_E_LIMIT_EXCEEDED, "the body is over the limit of %zu bytes",
                                    s->cfg.limits.max_body_bytes);
    }
    if (r->over_budget) {
        srv_metrics_rejected("memory");
        return srv_http_reply_error(r, GD_E_OVERLOADED,
                                    "requests in flight hold the memory this server allows them (--max-inflight-bytes, "
                                    "%lld bytes); retry shortly",
                                    (long long)s->cfg.max_inflight_bytes);
    }
    if (try_inline(r)) return send_answer(r);
    /* The whole body is here: to a worker, or 503 at once. */
    r->t_queued = gd_now_ms();
    r->deadline = r->t_queued + s->cfg.deadline_ms;
    r->state = R_QUEUED;
    if (!strcmp(r->route, "step") && !r->stream.inited) { /* its answer may be a stream */
        r->stream.inited = pthread_mutex_init(&r->stream.mu, NULL) == 0;
        if (r->stream.inited && pthread_cond_init(&r->stream.done_cv, NULL) != 0) {
            pthread_mutex_destroy(&r->stream.mu);
            r->stream.inited = 0;
        }
    }
    atomic_fetch_add(&s->in_flight, 1);
    active_add(s, r);
    MHD_suspend_connection(c);
    if (srv_pool_submit(s->pool, compute, r) < 0) {
        r->stream.worker_done = 1; /* no worker will hold r */
        MHD_resume_connection(c);
        active_remove(s, r);
        atomic_fetch_sub(&s->in_flight, 1);
        r->state = R_READ;
        srv_metrics_rejected(atomic_load(&s->draining) ? "draining" : "overloaded");
        return srv_http_reply_error(r, GD_E_OVERLOADED,
                                    "all %d workers are busy and the queue is full; retry shortly", s->cfg.workers);
    }
    return MHD_YES;
}

/* MHD_OPTION_NOTIFY_COMPLETED: the request is over (answered, or its
 * client left or timed out first): its status settled, then counted,
 * logged and freed, and its memory reservation given back. */
void srv_http_on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode why) {
    server *s = cls;
    conn *k = srv_conn_of(c);
    const char *shut = NULL;
    if (k) { /* the connection now waits for its next request */
        pthread_mutex_lock(&s->conn_mu);
        shut = k->shut;
        k->has_req = 0;
        k->phase = C_IDLE;
        k->t_phase = gd_now_ms();
        pthread_mutex_unlock(&s->conn_mu);
    }
    req *r = *req_cls;
    if (!r) return;
    srv_stream_finish(r); /* a streaming worker lets go of r first */
    if (why == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED) srv_metrics_rejected("timeout");
    if (r->state == R_DONE) atomic_fetch_sub(&r->s->in_flight, 1);
    if (r->accepted) atomic_fetch_sub(&r->s->accepted, 1);
    if (!r->id[0]) srv_http_request_id(r); /* the headers never reached srv_http_on_request */
    int by_mhd = 0;
    if (!r->status) { /* libmicrohttpd answered by itself: 431, 400 for a bad Content-Length, ... */
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
        if (ci && ci->http_status) {
            r->status = (int)ci->http_status;
            by_mhd = 1;
            (void)srv_log_take_mhd_status(); /* this request logs it */
            srv_metrics_rejected("bad_headers");
        }
    }
    /* No answer went out: the client left (or timed out) first. 499 is
     * nginx's "client closed request": not a server error. The watchdog
     * shut it, or MHD timed it out before its headers were in: 408, as
     * nginx logs its client_header_timeout. */
    if (r->raw_answered) r->status = 413;
    else if (shut && (!r->status || why != MHD_REQUEST_TERMINATED_COMPLETED_OK)) r->status = 408;
    else if (!r->first_done && why == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED) r->status = 408;
    else if (!r->status || (why != MHD_REQUEST_TERMINATED_COMPLETED_OK && !by_mhd)) r->status = 499;
    srv_metrics_request(r->route[0] ? r->route : NULL, r->status,
                       r->t_started > 0 ? (r->t_started - r->t_queued) / 1e3 : 0,
                       r->t_done > 0 ? (r->t_done - r->t_started) / 1e3 : -1, r->len, r->out_bytes);
    srv_log_line(r);
    gd_response_free(&r->res);
    srv_mem_trim_want(r);
    srv_mem_release(r);
    srv_kept_give(s, body_base(r), r->cap); /* after its reservation is given back: room to keep it */
    free(r);
    *req_cls = NULL;
}

/* MHD_OPTION_URI_LOG_CALLBACK: a request's line has come (its headers
 * not yet). Its req is made here, so that one MHD answers by itself (431
 * for headers over the memory limit, 400 for a bad Content-Length) still
 * reaches srv_http_on_completed with its path, and gets its log line and metrics.
 * The method is not known yet ("-" until srv_http_on_request). */
void *srv_http_on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    server *s = cls;
    conn *k = srv_conn_of(c);
    if (k) {
        pthread_mutex_lock(&s->conn_mu);
        k->has_req = 1;
        pthread_mutex_unlock(&s->conn_mu);
    }
    req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->s = s;
    r->c = c;
    r->conn = k;
    r->t_start = gd_now_ms();
    r->uri_len = strlen(uri);
    size_t n = strcspn(uri, "?");
    if (n >= sizeof r->url) n = sizeof r->url - 1;
    memcpy(r->url, uri, n);
    r->url[n] = '\0';
    return r;
}
