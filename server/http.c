/* http.c -- the daemon. libmicrohttpd does the HTTP I/O on its own epoll
 * threads; compute runs on the bounded pool (pool.c). A request's life:
 *
 *   first callback   headers only: route, auth, CORS, content type, and the
 *                    body's size from Content-Length (413 before any of it
 *                    is read; 400 and close for duplicate Content-Length or
 *                    Content-Length with Transfer-Encoding); the memory the
 *                    body and its JSON tree may take is reserved against
 *                    --max-inflight-bytes (503 and close, before any of the
 *                    body is read, past it)
 *   body callbacks   copied out, bounded by the body limit (a chunked body
 *                    reserves as it grows)
 *   last callback    a small body whose work turns out tiny is answered
 *                    right here (try_inline: no hand-off to a worker);
 *                    else queued on the pool (503 at once when it is
 *                    full) and the connection suspended
 *   worker           gd_handle_cancellable, then resume
 *   last callback    (again, after resume) the response is queued
 *   completed        one log line, metrics, free, the reservation given
 *                    back
 *
 * A watchdog raises a request's cancel flag at its deadline (504), since a
 * suspended connection never times out by itself; compile and long
 * kernels look at the flag, so the 504 comes within about 100 ms of the
 * deadline, and work estimated to need more than the time left is refused
 * before it runs (504 deadline_exceeded). Once no request is in flight,
 * the watchdog gives malloc's freed memory back (malloc_trim); it also
 * closes uploads whose client left (reap_closed_uploads). SIGTERM (or
 * SIGINT) turns /readyz to 503, stops accepting connections, lets requests in flight
 * (from their headers on: an upload too) finish within the grace period,
 * and exits 0; a second one changes nothing, a third or SIGQUIT cancels
 * what is in flight (504) and exits 0 at once. SIGHUP, SIGUSR1 and
 * SIGUSR2 are logged and ignored. Signals are caught on any thread
 * (signals.h), so none takes its default action on a library's thread. */
#define _GNU_SOURCE
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "cache.h"
#include "config.h"
#include "metrics.h"
#include "openapi.h"
#include "out.h"
#include "pool.h"
#include "signals.h"

/* R_DONE: answered by a worker (counted in in_flight). A request answered
 * on the I/O thread (try_inline) stays R_READ. */
typedef enum { R_READ, R_QUEUED, R_DONE } req_state;

typedef struct server server;

/* What a connection waits for. The watchdog holds C_HEADERS, C_IDLE and
 * C_BODY to deadlines (police_connections); C_BUSY (a request being
 * computed or answered) has none here. */
typedef enum { C_HEADERS, C_IDLE, C_BODY, C_LINGER, C_BUSY } conn_phase;

/* One open connection (MHD's socket context), from accept to close, on
 * server.conns. phase and t_phase change on the connection's I/O thread
 * under server.conn_mu; the watchdog reads them under it. */
typedef struct conn {
    struct MHD_Connection *c;
    int fd;                   /* the socket: the watchdog shutdown()s it, never closes it */
    conn_phase phase;
    double t_phase;           /* monotonic ms the phase began */
    atomic_size_t body_bytes; /* C_BODY: body bytes received so far */
    int has_req;              /* a request line came and its request is not completed */
    const char *shut;         /* NULL, or why the watchdog shut the socket (a gd_metrics_rejected reason) */
    struct conn *prev, *next;
} conn;

typedef struct req {
    server *s;
    struct MHD_Connection *c;
    conn *conn;               /* its connection's record, or NULL */
    int first_done;           /* the first access-handler call (headers complete) has run */
    int deferred_get;         /* a bodiless GET/HEAD of a non-API path: answered at the last callback,
                                 so the connection stays open (MHD closes after an answer queued earlier) */
    int raw_answered;         /* the 413 went straight to the socket (chunked body over the limit) */
    size_t discarded;         /* body bytes thrown away after that 413 */
    double t_linger;          /* monotonic ms when that 413 went out */
    char id[72];              /* X-Request-ID, given or made */
    char route[32];           /* API route, "" for other paths */
    char method[8];
    char url[256];
    char origin[256];         /* an allowed Origin to echo, or "" */
    char *body;               /* (cap) the request body */
    size_t len, cap;
    long long json_len;       /* Inference-Header-Content-Length, or -1: all JSON */
    int too_large;
    int64_t reserved;         /* bytes of server.inflight_bytes this request holds (inflight_reserve) */
    int over_budget;          /* a chunked body outgrew --max-inflight-bytes: dropped, then 503 */
    req_state state;
    int accepted;             /* counted in server.accepted */
    double t_start, t_queued, t_started, t_done;   /* monotonic ms */
    double deadline;
    volatile int cancel;      /* raised by the watchdog at the deadline */
    gd_response res;
    int status;
    size_t out_bytes;
    struct req *prev, *next;  /* the active list the watchdog scans */
} req;

struct server {
    gd_config cfg;
    struct MHD_Daemon *d;
    gd_pool *pool;
    gd_cache *cache;          /* compiled programs (--cache-entries) */
    atomic_int draining;
    atomic_int in_flight;     /* queued or computing */
    atomic_int accepted;      /* /v1 requests past their headers, not yet completed
                                 (uploading, queued, computing or answering): a drain
                                 waits for them */
    atomic_int stopping;      /* the watchdog stops */
    atomic_llong inflight_bytes; /* reserved by requests from their headers to their completion, at most
                                    cfg.max_inflight_bytes */
    atomic_int trim_wanted;   /* a request that may have left freed memory in malloc's arenas completed */
    atomic_llong t_last_done; /* monotonic ms of the last request completed */
    double t_trimmed;         /* the watchdog's last malloc_trim, monotonic ms */
    double t_reaped;          /* the watchdog's last reap_closed_uploads, monotonic ms */
    char *openapi;            /* /openapi.json, or NULL */
    size_t openapi_len;
    pthread_mutex_t mu;       /* guards active */
    req *active;
    pthread_t watchdog;
    pthread_mutex_t conn_mu;  /* guards conns and each conn's phase */
    conn *conns;              /* every open connection */
    double t_policed;         /* the watchdog's last police_connections, monotonic ms */
    atomic_ullong next_id;
    uint32_t id_base;         /* request ids: pid ^ start time */
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- responses ------------------------------------------------------- */

static void add_common_headers(req *r, struct MHD_Response *resp) {
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
    add_common_headers(r, resp);
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

static enum MHD_Result reply_error(req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum MHD_Result reply_error(req *r, int status, const char *code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gd_buf b = {0};
    gd_buf_puts(&b, "{\"error\":");
    gd_buf_str(&b, msg);
    gd_buf_puts(&b, ",\"code\":");
    gd_buf_str(&b, code);
    gd_buf_puts(&b, ",\"path\":\"\"}");
    size_t len;
    char *body = gd_buf_take(&b, &len);
    if (!body) return MHD_NO;
    int close = status == 400 || status == 413 || status == 408;
    return reply(r, status, "application/json", body, len, 1, close);
}

/* ---- headers --------------------------------------------------------- */

typedef struct header_scan {
    int content_length;       /* how many Content-Length headers */
    int conflicting;          /* values that differ */
    char first_cl[32];
    int transfer_encoding;
} header_scan;

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    header_scan *h = cls;
    if (!strcasecmp(key, "Content-Length")) {
        if (h->content_length++ == 0) gd_join(h->first_cl, sizeof h->first_cl, value ? value : "", "");
        else if (strcmp(h->first_cl, value ? value : "")) h->conflicting = 1;
    } else if (!strcasecmp(key, "Transfer-Encoding")) {
        h->transfer_encoding = 1;
    }
    return MHD_YES;
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
    const char *origin = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Origin");
    const char *list = r->s->cfg.cors_origins;
    if (!origin || !list[0] || strlen(origin) >= sizeof r->origin) return;
    size_t olen = strlen(origin);
    for (const char *k = list; *k;) {
        while (*k == ' ') k++;
        const char *end = strchr(k, ',');
        size_t klen = end ? (size_t)(end - k) : strlen(k);
        while (klen && k[klen - 1] == ' ') klen--;
        if ((klen == 1 && *k == '*') || (klen == olen && !strncmp(k, origin, olen))) {
            gd_join(r->origin, sizeof r->origin, origin, "");
            return;
        }
        if (!end) break;
        k = end + 1;
    }
}

static void request_id(req *r) {
    const char *given = r->c ? MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "X-Request-ID") : NULL;
    int ok = given && strlen(given) > 0 && strlen(given) < 64;
    for (const char *p = given; ok && *p; p++) ok = *p > 0x20 && *p < 0x7f && *p != '"' && *p != '\\';
    if (ok) {
        gd_join(r->id, sizeof r->id, given, "");
        return;
    }
    /* 16 hex digits: the daemon's start (pid ^ time) in the high half, a
     * counter in the low half */
    unsigned long long n = atomic_fetch_add(&r->s->next_id, 1);
    uint64_t v = (uint64_t)r->s->id_base << 32 | (uint32_t)n;
    for (int i = 15; i >= 0; i--, v >>= 4) r->id[i] = "0123456789abcdef"[v & 15];
    r->id[16] = 0;
}

/* ---- memory: bodies in flight, and freed memory going back ------------ */

/* What a request may cost while its body is held, beyond the body itself:
 * the JSON tree the API may build from it. api/request.c lets a tree take
 * 24 bytes per body byte plus 1 MiB (GD_TREE_BYTES_PER_BODY_BYTE,
 * GD_TREE_BYTES_MIN), at most --max-tree-bytes and --max-total-bytes: keep
 * these in step with it. Plans and tensors are not charged here: they are
 * bounded per computing request by --max-total-bytes, and only workers
 * compute. */
#define INFLIGHT_TREE_BYTES_PER_BODY_BYTE 24
#define INFLIGHT_TREE_BYTES_MIN ((int64_t)1 << 20)
/* Charged to every request with a body whatever its size: the connection's
 * buffers (MHD's 32 KiB memory pool) and the request's own state. */
#define INFLIGHT_BYTES_PER_REQUEST ((int64_t)64 << 10)
/* A chunked body (no Content-Length) reserves in steps of this many body
 * bytes as it grows. */
#define INFLIGHT_CHUNK_STEP ((size_t)1 << 20)

/* Bytes a request with a body of body bytes reserves: the body, its tree
 * and INFLIGHT_BYTES_PER_REQUEST. */
static int64_t inflight_need(const server *s, size_t body) {
    const gd_limits *l = &s->cfg.limits;
    int64_t cap = l->max_tree_bytes < l->max_total_bytes ? l->max_tree_bytes : l->max_total_bytes;
    int64_t b = body < ((size_t)1 << 56) ? (int64_t)body : (int64_t)1 << 56;
    int64_t tree = b > (cap - INFLIGHT_TREE_BYTES_MIN) / INFLIGHT_TREE_BYTES_PER_BODY_BYTE
                       ? cap
                       : b * INFLIGHT_TREE_BYTES_PER_BODY_BYTE + INFLIGHT_TREE_BYTES_MIN;
    if (tree > cap) tree = cap;
    return b + tree + INFLIGHT_BYTES_PER_REQUEST;
}

/* Reserve bytes more for r against --max-inflight-bytes: 0, or -1 with
 * nothing reserved when the daemon would go past it. */
static int inflight_reserve(req *r, int64_t bytes) {
    server *s = r->s;
    long long have = atomic_load(&s->inflight_bytes);
    do {
        if (have + bytes > s->cfg.max_inflight_bytes) return -1;
    } while (!atomic_compare_exchange_weak(&s->inflight_bytes, &have, have + bytes));
    r->reserved += bytes;
    return 0;
}

/* Give back all r holds. */
static void inflight_release(req *r) {
    if (r->reserved) atomic_fetch_sub(&r->s->inflight_bytes, r->reserved);
    r->reserved = 0;
}

/* r's body is about to be len bytes: 0 when its reservation covers that
 * (grown by INFLIGHT_CHUNK_STEP at a time), -1 when the budget is out. A
 * body with a Content-Length reserved all of it with its headers. */
static int inflight_grow(req *r, size_t len) {
    int64_t need = inflight_need(r->s, len);
    if (need <= r->reserved) return 0;
    size_t step = (len / INFLIGHT_CHUNK_STEP + 1) * INFLIGHT_CHUNK_STEP;
    int64_t want = inflight_need(r->s, step);
    return inflight_reserve(r, want - r->reserved);
}

/* glibc keeps what a large request freed (per-thread arenas, fragments
 * between live blocks): measured here, six distinct 100,000-node chains
 * left the daemon at 532 MB with its cache off, from 8 MB idle.
 * malloc_trim(0) gives the free pages of every arena back (it took 1 ms
 * with little to give, up to 360 ms after a 500 MB peak), so it runs from
 * the watchdog once no /v1 request has been in flight for TRIM_IDLE_MS,
 * or every TRIM_BUSY_MS when the daemon is never idle. Only requests that
 * reached a worker or had a body of TRIM_BODY_BYTES ask for it. */
#define TRIM_IDLE_MS 200
#define TRIM_BUSY_MS 30000
#define TRIM_BODY_BYTES ((size_t)64 << 10)

/* A request that may have left memory behind has completed. */
static void trim_want(req *r) {
    server *s = r->s;
    atomic_store(&s->t_last_done, (long long)now_ms());
    if (r->state == R_DONE || r->len >= TRIM_BODY_BYTES || r->reserved > inflight_need(s, TRIM_BODY_BYTES))
        atomic_store(&s->trim_wanted, 1);
}

/* From the watchdog: trim when asked and the daemon is idle (or has not
 * been for TRIM_BUSY_MS). */
static void trim_memory(server *s, double t) {
    if (s->t_trimmed == 0) s->t_trimmed = t;
    if (!atomic_load(&s->trim_wanted)) return;
    int idle = !atomic_load(&s->accepted) && !atomic_load(&s->in_flight) &&
               t - (double)atomic_load(&s->t_last_done) >= TRIM_IDLE_MS;
    if (!idle && t - s->t_trimmed < TRIM_BUSY_MS) return;
    atomic_store(&s->trim_wanted, 0);
    malloc_trim(0);
    s->t_trimmed = now_ms();
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

/* The API call for r's body. */
static gd_call call_of(req *r) {
    server *s = r->s;
    gd_call call = {.route = r->route, .body = r->body, .len = r->len, .lim = &s->cfg.limits, .cancel = &r->cancel,
                    .cache = s->cache, .deadline_ms = r->deadline};
    if (r->json_len >= 0) { /* split at the header's length */
        call.len = (size_t)r->json_len;
        call.binary = r->body + r->json_len;
        call.binary_len = r->len - (size_t)r->json_len;
    }
    return call;
}

static void compute(void *arg) {
    req *r = arg;
    server *s = r->s;
    r->t_started = now_ms();
    if (r->cancel || r->t_started > r->deadline) { /* expired while waiting */
        r->cancel = 1;
    }
    gd_call call = call_of(r);
    gd_handle_call(&call, &r->res);
    r->t_done = now_ms();
    active_remove(s, r);
    r->state = R_DONE;
    gd_pool_done(s->pool); /* the slot is free before the client can send again */
    MHD_resume_connection(r->c);
}

/* Work a request may do on the I/O thread: about 0.1 ms. Past it the
 * call stops before running (GD_DEFERRED) and goes to a worker. */
#define INLINE_WORK_BUDGET (256 * 1024)

/* A small request answered right here, with no hand-off to a worker and
 * back: 1 when r->res holds the answer, 0 when it needs a worker. The
 * body bound (--inline-max-bytes) bounds decoding and compiling; the work
 * budget bounds running. */
static int try_inline(req *r) {
    server *s = r->s;
    if (!s->cfg.inline_max_bytes || r->len > (size_t)s->cfg.inline_max_bytes) return 0;
    r->t_queued = r->t_started = now_ms();
    gd_call call = call_of(r);
    call.work_budget = INLINE_WORK_BUDGET;
    gd_handle_call(&call, &r->res);
    if (r->res.status == GD_DEFERRED) {
        gd_response_free(&r->res);
        r->t_queued = r->t_started = 0;
        return 0;
    }
    r->t_done = now_ms();
    return 1;
}

/* ---- connections: header and body deadlines, room for new clients ---- */

/* After a 413 sent straight to the socket (answer_413_now), the rest of the
 * body is read and dropped for at most this long and this much, then the
 * connection is closed. */
#define LINGER_MS 2000
#define LINGER_BYTES ((size_t)4 << 20)
/* Under connection pressure, a connection is closed to make room only
 * after it has waited this long for headers (or for its next request). */
#define EVICT_MIN_AGE_MS 1000

/* c's record (MHD's socket context), or NULL. */
static conn *conn_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* k (may be NULL) enters phase p now. */
static void conn_enter(server *s, conn *k, conn_phase p) {
    if (!k) return;
    pthread_mutex_lock(&s->conn_mu);
    k->phase = p;
    k->t_phase = now_ms();
    if (p == C_BODY) atomic_store(&k->body_bytes, 0);
    pthread_mutex_unlock(&s->conn_mu);
}

/* When k's phase runs out, monotonic ms (1e300: never). Headers get
 * header_timeout_s from the accept; a kept-alive connection gets
 * idle_timeout_s for its next request to start plus header_timeout_s for
 * its headers (MHD's own idle timeout restarts at every byte, so a client
 * trickling one byte at a time never meets it). A body gets body_timeout_s
 * plus one second per min_body_rate bytes received (Apache's
 * mod_reqtimeout rule). Caller holds conn_mu. */
static double conn_deadline(const server *s, conn *k) {
    const gd_config *cfg = &s->cfg;
    switch (k->phase) {
    case C_HEADERS:
        return k->t_phase + cfg->header_timeout_s * 1e3;
    case C_IDLE:
        return k->t_phase + (cfg->idle_timeout_s + cfg->header_timeout_s) * 1e3;
    case C_BODY:
        return k->t_phase + cfg->body_timeout_s * 1e3 + (double)atomic_load(&k->body_bytes) * 1e3 / cfg->min_body_rate;
    case C_LINGER:
        return k->t_phase + LINGER_MS;
    default:
        return 1e300;
    }
}

/* Shut k's socket both ways: its I/O thread reads the end of the stream and
 * closes the connection as if the client had gone (no response: nginx's
 * client_header_timeout does the same; the request, if one had started, is
 * logged 408). The fd itself stays MHD's: it is closed only after
 * NOTIFY_CLOSED, which takes conn_mu first, so it is never another
 * connection's socket here. why: a gd_metrics_rejected reason, or NULL to
 * count nothing. Caller holds conn_mu. */
static void conn_shut(conn *k, const char *why) {
    if (k->shut) return;
    k->shut = why ? why : "linger";
    shutdown(k->fd, SHUT_RDWR);
    if (why) gd_metrics_rejected(why);
}

/* From the watchdog, every 50 ms: close connections whose headers or body
 * outran their deadline; then, while fewer than a tenth of max_connections
 * (at least one) are free, close the connection that has waited longest
 * for its headers or its next request (at least EVICT_MIN_AGE_MS), so a new
 * client is still accepted while slow ones hold the rest. */
static void police_connections(server *s) {
    double t = now_ms();
    if (t - s->t_policed < 50) return;
    s->t_policed = t;
    int max = s->cfg.max_connections, reserve = max / 10 > 1 ? max / 10 : 1, open = 0;
    pthread_mutex_lock(&s->conn_mu);
    for (conn *k = s->conns; k; k = k->next) {
        if (!k->shut && t > conn_deadline(s, k))
            conn_shut(k, k->phase == C_BODY ? "body_timeout" : k->phase == C_LINGER ? NULL : "header_timeout");
        if (!k->shut) open++;
    }
    for (int evicted = 0; open > max - reserve && evicted < 64; evicted++, open--) {
        conn *oldest = NULL;
        for (conn *k = s->conns; k; k = k->next)
            if (!k->shut && (k->phase == C_HEADERS || k->phase == C_IDLE) && t - k->t_phase >= EVICT_MIN_AGE_MS &&
                (!oldest || k->t_phase < oldest->t_phase))
                oldest = k;
        if (!oldest) break;
        conn_shut(oldest, "evicted");
    }
    pthread_mutex_unlock(&s->conn_mu);
}

/* libmicrohttpd 0.9.75 (epoll) may miss a client's close in the middle of
 * a large body: the socket sits in CLOSE-WAIT with nothing left to read
 * until the idle timeout (30 s; measured with 4 MiB of an 8 MiB body sent),
 * and the request holds its --max-inflight-bytes reservation all that
 * time. Every 50 ms, peek at each connection reading a body: at the end of
 * its stream, shut the socket, which wakes its I/O thread (the request is
 * logged 499, the client having left). */
static void reap_closed_uploads(server *s) {
    double t = now_ms();
    if (t - s->t_reaped < 50) return;
    s->t_reaped = t;
    pthread_mutex_lock(&s->conn_mu);
    for (conn *k = s->conns; k; k = k->next) {
        char byte;
        if (k->phase == C_BODY && !k->shut && recv(k->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
            shutdown(k->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&s->conn_mu);
}

static void *watchdog(void *arg) {
    server *s = arg;
    while (!atomic_load(&s->stopping)) {
        double t = now_ms();
        pthread_mutex_lock(&s->mu);
        for (req *r = s->active; r; r = r->next) {
            if (t > r->deadline) r->cancel = 1;
            /* A suspended connection never notices its client leave: peek. */
            const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->c, MHD_CONNECTION_INFO_CONNECTION_FD);
            char byte;
            if (!r->cancel && ci && recv(ci->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) r->cancel = 1;
        }
        pthread_mutex_unlock(&s->mu);
        police_connections(s);
        reap_closed_uploads(s);
        trim_memory(s, now_ms());
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ---- static files ---------------------------------------------------- */

static const char *mime_of(const char *path) {
    const char *dot = strrchr(path, '.');
    static const char *const map[][2] = {{".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
                                         {".css", "text/css; charset=utf-8"},   {".json", "application/json"},
                                         {".svg", "image/svg+xml"},             {".png", "image/png"},
                                         {".ico", "image/x-icon"},              {".txt", "text/plain; charset=utf-8"}};
    for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(dot, map[i][0])) return map[i][1];
    return "application/octet-stream";
}

/* The playground's policy: its own scripts, styles and images only, API
 * calls to the same origin, never framed. style-src-attr allows the one
 * style attribute clients/web sets (ui.js, the clipboard fallback). */
#define WEB_CSP                                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self'; " \
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "            \
    "frame-ancestors 'none'"

/* Open rel ("/a/b.js") under the directory root one component at a time,
 * each with O_NOFOLLOW: a symbolic link anywhere below the root is refused,
 * so nothing outside it can be reached through one (the root itself may be
 * a link: it is configuration). O_NONBLOCK: a FIFO never blocks the I/O
 * thread. The open file, or -1. */
static int open_under(const char *root, const char *rel) {
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *p = rel;
    while (dir >= 0) {
        while (*p == '/') p++;
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        char part[256];
        if (n == 0 || n >= sizeof part) break;
        memcpy(part, p, n);
        part[n] = '\0';
        int fd = openat(dir, part, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (slash ? O_DIRECTORY : 0));
        close(dir);
        if (fd < 0 || !slash) return fd;
        dir = fd;
        p = slash + 1;
    }
    if (dir >= 0) close(dir);
    return -1;
}

/* GET of a file under web_root; no "..", no hidden files, no symbolic
 * links. The playground's files are not versioned in their names
 * (index.html loads js/main.js), so they are sent with Cache-Control:
 * no-cache and a validator: the browser keeps its copy and asks each time,
 * and an unchanged file costs a 304 with no body (If-None-Match). */
static enum MHD_Result serve_file(req *r, const char *url) {
    const char *rel = !strcmp(url, "/") ? "/index.html" : url;
    if (!r->s->cfg.web_root[0] || strstr(rel, "..") || strstr(rel, "/.") || strlen(rel) > 200)
        return reply_error(r, 404, "not_found", "there is nothing at %s", url);
    int fd = open_under(r->s->cfg.web_root, rel);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        return reply_error(r, 404, "not_found", "there is nothing at %s", url);
    }
    char etag[64], modified[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull + (unsigned long long)st.st_mtim.tv_nsec);
    struct tm tm;
    gmtime_r(&st.st_mtim.tv_sec, &tm);
    strftime(modified, sizeof modified, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    const char *inm = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "If-None-Match");
    int fresh = inm && (strstr(inm, etag) || !strcmp(inm, "*"));
    struct MHD_Response *resp = fresh ? MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT)
                                      : MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (fresh || !resp) close(fd);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", mime_of(rel));
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Last-Modified", modified);
    MHD_add_response_header(resp, "Content-Security-Policy", WEB_CSP);
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    add_common_headers(r, resp);
    r->status = fresh ? 304 : 200;
    r->out_bytes = fresh ? 0 : (size_t)st.st_size;
    enum MHD_Result ok = MHD_queue_response(r->c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
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
        gd_buf b = {0};
        int running = gd_pool_running(s->pool), queued = gd_pool_queued(s->pool);
        unsigned long long hits = 0, misses = 0;
        gd_cache_stats(s->cache, &hits, &misses);
        gd_metrics_render(&b, running, queued, s->cfg.workers, hits, misses);
        gd_metrics_render_memory(&b, atomic_load(&s->inflight_bytes), s->cfg.max_inflight_bytes);
        int cache_entries;
        int64_t cache_bytes;
        gd_cache_size(s->cache, &cache_entries, &cache_bytes);
        gd_metrics_render_cache(&b, cache_entries, (long long)cache_bytes, (long long)s->cfg.cache_bytes);
        size_t len;
        char *body = gd_buf_take(&b, &len);
        if (!body) return MHD_NO;
        return reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", body, len, 1, 0);
    }
    if (!strcmp(url, "/openapi.json")) {
        if (!s->openapi) return reply_error(r, 404, "not_found", "the OpenAPI description was not loaded");
        return reply(r, 200, "application/json", s->openapi, s->openapi_len, 0, 0);
    }
    return serve_file(r, url);
}

/* Reserve what a body of len bytes may take, with the headers, before any
 * of it is read: 0, or -1 with *refused the answer: 503 "overloaded"
 * (Retry-After, and the connection closed, as MHD closes any connection
 * answered before its body) while other requests hold the budget, 413 when
 * this one alone needs more than all of it. */
static int inflight_admit(req *r, size_t len, enum MHD_Result *refused) {
    server *s = r->s;
    int64_t need = inflight_need(s, len);
    if (need > s->cfg.max_inflight_bytes) {
        gd_metrics_rejected("too_large");
        *refused = reply_error(r, 413, "limit_exceeded",
                               "a body of %zu bytes may take %lld bytes of memory with its JSON tree, over "
                               "--max-inflight-bytes (%lld)",
                               len, (long long)need, (long long)s->cfg.max_inflight_bytes);
        return -1;
    }
    if (inflight_reserve(r, need) == 0) return 0;
    gd_metrics_rejected("memory");
    *refused = reply_error(r, 503, "overloaded",
                           "requests in flight hold the memory this server allows them (--max-inflight-bytes, "
                           "%lld bytes); retry shortly",
                           (long long)s->cfg.max_inflight_bytes);
    return -1;
}

/* The first callback of a request: everything that needs only headers. */
static enum MHD_Result first_call(req *r, const char *url, const char *method) {
    server *s = r->s;
    request_id(r);
    cors_origin(r);
    gd_join(r->method, sizeof r->method, method, "");
    gd_join(r->url, sizeof r->url, url, "");
    int is_api = !strncmp(url, "/v1/", 4);
    if (is_api && gd_route_known(url + 4)) gd_join(r->route, sizeof r->route, url + 4, "");

    if (!strcmp(method, "OPTIONS")) { /* CORS preflight */
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        if (!resp) return MHD_NO;
        add_common_headers(r, resp);
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
        header_scan h = {0};
        MHD_get_connection_values(r->c, MHD_HEADER_KIND, scan_header, &h);
        if (h.content_length > 1 || (h.content_length && h.transfer_encoding)) {
            gd_metrics_rejected("bad_headers");
            return reply_error(r, 400, "bad_headers", "conflicting Content-Length or Transfer-Encoding headers");
        }
        if (strcmp(method, "GET") && strcmp(method, "HEAD"))
            return reply_error(r, 405, "method_not_allowed", "%s takes GET", url);
        /* Answered at the last callback when there is no body: MHD closes
         * a connection whose answer was queued with its headers. */
        if (!h.transfer_encoding && (!h.content_length || !strcmp(h.first_cl, "0"))) {
            r->deferred_get = 1;
            return MHD_YES;
        }
        return get_path(r, url);
    }
    if (!r->route[0]) return reply_error(r, 404, "unknown_route", "there is no route %s", url);
    if (!authorized(s, MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Authorization"))) {
        gd_metrics_rejected("unauthorized");
        return reply_error(r, 401, "unauthorized", "this server needs Authorization: Bearer <key>");
    }
    int has_body = gd_route_has_body(r->route);
    if (strcmp(method, has_body ? "POST" : "GET"))
        return reply_error(r, 405, "method_not_allowed", "%s takes %s", url, has_body ? "POST" : "GET");
    if (atomic_load(&s->draining)) {
        gd_metrics_rejected("draining");
        return reply_error(r, 503, "draining", "the server is shutting down; retry on another replica");
    }
    /* Headers that would let a second request hide in the body: checked
     * for every route, bodiless ones too. */
    header_scan h = {0};
    MHD_get_connection_values(r->c, MHD_HEADER_KIND, scan_header, &h);
    if (h.content_length > 1) {
        gd_metrics_rejected("bad_headers");
        return reply_error(r, 400, "bad_headers", "the request has %d Content-Length headers%s", h.content_length,
                           h.conflicting ? " that disagree" : "");
    }
    if (h.content_length && h.transfer_encoding) {
        gd_metrics_rejected("bad_headers");
        return reply_error(r, 400, "bad_headers", "the request has both Content-Length and Transfer-Encoding");
    }
    if (!has_body) return MHD_YES; /* GET /v1/ops: computed at the last callback */
    if (!h.content_length) { /* chunked, or no body: reserves as it grows */
        enum MHD_Result refused;
        if (inflight_admit(r, 0, &refused) < 0) return refused;
    }
    if (h.content_length) {
        char *end;
        errno = 0;
        unsigned long long cl = strtoull(h.first_cl, &end, 10);
        if (errno || end == h.first_cl || *end) {
            gd_metrics_rejected("bad_headers");
            return reply_error(r, 400, "bad_headers", "Content-Length is not a number");
        }
        if (cl > s->cfg.limits.max_body_bytes) { /* before any of the body is read */
            gd_metrics_rejected("too_large");
            return reply_error(r, 413, "limit_exceeded", "the body has %llu bytes, over the limit of %zu", cl,
                               s->cfg.limits.max_body_bytes);
        }
        enum MHD_Result refused;
        if (inflight_admit(r, (size_t)cl, &refused) < 0) return refused;
        /* One allocation for most bodies; a client that declares a big one
         * gets memory only as its bytes arrive. */
        size_t first = (size_t)cl + 1 < ((size_t)4 << 20) ? (size_t)cl + 1 : ((size_t)4 << 20);
        r->body = malloc(first);
        r->cap = r->body ? first : 0;
    }
    const char *ct = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Content-Type");
    const char *ihcl = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Inference-Header-Content-Length");
    r->json_len = -1;
    if (ihcl) { /* Triton's binary extension: JSON, then raw tensor bytes */
        char *end;
        errno = 0;
        long long hl = strtoll(ihcl, &end, 10);
        if (errno || end == ihcl || *end || hl < 0)
            return reply_error(r, 400, "bad_headers", "Inference-Header-Content-Length is not a byte count");
        r->json_len = hl;
        if (ct && !strncasecmp(ct, "application/octet-stream", 24)) return MHD_YES;
    }
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';' && ct[16] != ' '))
        return reply_error(r, 415, "unsupported_media_type",
                           "send Content-Type: application/json (with curl: --json or -H 'Content-Type: "
                           "application/json'); got %.64s",
                           ct ? ct : "none");
    return MHD_YES;
}

/* Queue r->res, the API's answer: JSON, or JSON then binary tensors. */
static enum MHD_Result send_answer(req *r) {
    char *body = r->res.body;
    size_t len = r->res.len;
    r->res.body = NULL;
    if (r->res.json_len == len) return reply(r, r->res.status, "application/json", body, len, 1, 0);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) return free(body), MHD_NO;
    char hl[32];
    snprintf(hl, sizeof hl, "%zu", r->res.json_len);
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    MHD_add_response_header(resp, "Inference-Header-Content-Length", hl);
    add_common_headers(r, resp);
    r->status = r->res.status;
    r->out_bytes = len;
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
    gd_metrics_rejected("too_large");
    char body[192], msg[1024];
    int blen = snprintf(body, sizeof body,
                        "{\"error\":\"the body is over the limit of %zu bytes\",\"code\":\"limit_exceeded\",\"path\":\"\"}",
                        s->cfg.limits.max_body_bytes);
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\nX-Request-ID: %s\r\nX-Content-Type-Options: nosniff\r\n%s%s%s%s\r\n%s",
                     blen, r->id, r->origin[0] ? "Access-Control-Allow-Origin: " : "", r->origin,
                     r->origin[0] ? "\r\nAccess-Control-Expose-Headers: X-Request-ID, Inference-Header-Content-Length\r\n" : "",
                     s->cfg.cors_origins[0] ? "Vary: Origin\r\n" : "", body);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || n <= 0 || n >= (int)sizeof msg) return MHD_NO;
    ssize_t sent = send(ci->connect_fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(ci->connect_fd, SHUT_WR);
    r->status = 413;
    r->out_bytes = sent == n ? (size_t)blen : 0;
    r->raw_answered = 1;
    r->t_linger = now_ms();
    conn_enter(s, r->conn, C_LINGER);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **req_cls) {
    (void)version;
    server *s = cls;
    req *r = *req_cls;
    if (!r || !r->first_done) { /* made by on_uri, or not (out of memory there) */
        if (!r) {
            r = calloc(1, sizeof *r);
            if (!r) return MHD_NO;
            r->s = s;
            r->c = c;
            r->conn = conn_of(c);
            *req_cls = r;
        }
        r->first_done = 1;
        r->t_start = now_ms();
        enum MHD_Result rc = first_call(r, url, method);
        if (rc == MHD_YES && !r->status && r->route[0]) {
            r->accepted = 1;
            atomic_fetch_add(&s->accepted, 1);
        }
        conn_enter(s, r->conn, r->status ? C_BUSY : C_BODY);
        return rc;
    }
    if (r->raw_answered) { /* the 413 is out: drop what follows for a moment, then close */
        r->discarded += *upload_size;
        int more = *upload_size && r->discarded <= LINGER_BYTES && now_ms() - r->t_linger < LINGER_MS;
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
        if (r->over_budget || inflight_grow(r, r->len + n) < 0) { /* chunked, past --max-inflight-bytes: drop it */
            r->over_budget = 1;
            inflight_release(r);
            free(r->body);
            r->body = NULL;
            r->cap = 0;
            r->len += n;
            return MHD_YES;
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n + 1) cap *= 2;
            char *nb = realloc(r->body, cap);
            if (!nb) return MHD_NO;
            r->body = nb;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        return MHD_YES;
    }
    if (r->state == R_DONE) return send_answer(r); /* resumed: the worker's answer */
    conn_enter(s, r->conn, C_BUSY); /* the whole request is here */
    if (r->deferred_get) return get_path(r, url);
    if (r->json_len > (long long)r->len)
        return reply_error(r, 400, "bad_headers", "Inference-Header-Content-Length (%lld) is more than the body (%zu)",
                           r->json_len, r->len);
    if (r->too_large) {
        gd_metrics_rejected("too_large");
        return reply_error(r, 413, "limit_exceeded", "the body is over the limit of %zu bytes",
                           s->cfg.limits.max_body_bytes);
    }
    if (r->over_budget) {
        gd_metrics_rejected("memory");
        return reply_error(r, 503, "overloaded",
                           "requests in flight hold the memory this server allows them (--max-inflight-bytes, "
                           "%lld bytes); retry shortly",
                           (long long)s->cfg.max_inflight_bytes);
    }
    if (try_inline(r)) return send_answer(r);
    /* The whole body is here: to a worker, or 503 at once. */
    r->t_queued = now_ms();
    r->deadline = r->t_queued + s->cfg.deadline_ms;
    r->state = R_QUEUED;
    atomic_fetch_add(&s->in_flight, 1);
    active_add(s, r);
    MHD_suspend_connection(c);
    if (gd_pool_submit(s->pool, compute, r) < 0) {
        MHD_resume_connection(c);
        active_remove(s, r);
        atomic_fetch_sub(&s->in_flight, 1);
        r->state = R_READ;
        gd_metrics_rejected(atomic_load(&s->draining) ? "draining" : "overloaded");
        return reply_error(r, 503, "overloaded", "all %d workers are busy and the queue is full; retry shortly",
                           s->cfg.workers);
    }
    return MHD_YES;
}

/* ms with three decimals, as the log shows it (no printf: the log line is
 * on every request's path). */
static void put_ms(gd_buf *b, double ms) {
    long long us = ms > 0 ? (long long)(ms * 1e3 + 0.5) : 0;
    char frac[4] = {(char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10), (char)('0' + us % 10), 0};
    gd_buf_i64(b, us / 1000);
    gd_buf_putc(b, '.');
    gd_buf_puts(b, frac);
}

/* The UTC time of this second, ISO 8601; formatted once a second per thread. */
static const char *timestamp(void) {
    static _Thread_local time_t last = -1;
    static _Thread_local char ts[32];
    time_t t = time(NULL);
    if (t != last) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        last = t;
    }
    return ts;
}

/* s into the text log with each byte that could end the line, fake a
 * field or drive a terminal (controls, space, '"', '\\', DEL and bytes
 * above it) as \xHH, as nginx escapes its access log. The JSON log's
 * strings are escaped by gd_buf_str. */
static void put_escaped(gd_buf *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if (*q > 0x20 && *q < 0x7f && *q != '"' && *q != '\\') {
            gd_buf_putc(b, (char)*q);
        } else {
            char e[4] = {'\\', 'x', hex[*q >> 4], hex[*q & 15]};
            gd_buf_put(b, e, sizeof e);
        }
    }
}

/* One line per request on stderr, text or JSON:
 *   <time> <method> <path> <status> in=N out=N read_ms=X queue_ms=X compute_ms=X total_ms=X id=ID
 * read_ms: from the headers to the last byte of the body. */
static void log_line(const req *r) {
    double read_ms = r->t_queued > 0 ? r->t_queued - r->t_start : 0;
    double queue_ms = r->t_started > 0 ? r->t_started - r->t_queued : 0;
    double compute_ms = r->t_done > 0 ? r->t_done - r->t_started : 0;
    double total_ms = now_ms() - r->t_start;
    int json = !strcmp(r->s->cfg.log_format, "json");
    gd_buf b = {0};
    if (json) {
        gd_buf_puts(&b, "{\"time\":");
        gd_buf_str(&b, timestamp());
        gd_buf_puts(&b, ",\"id\":");
        gd_buf_str(&b, r->id);
        gd_buf_puts(&b, ",\"method\":");
        gd_buf_str(&b, r->method[0] ? r->method : "-");
        gd_buf_puts(&b, ",\"path\":");
        gd_buf_str(&b, r->url[0] ? r->url : "-");
        gd_buf_puts(&b, ",\"status\":");
    } else {
        gd_buf_puts(&b, timestamp());
        gd_buf_putc(&b, ' ');
        put_escaped(&b, r->method[0] ? r->method : "-");
        gd_buf_putc(&b, ' ');
        put_escaped(&b, r->url[0] ? r->url : "-");
        gd_buf_putc(&b, ' ');
    }
    gd_buf_i64(&b, r->status);
    gd_buf_puts(&b, json ? ",\"bytes_in\":" : " in=");
    gd_buf_i64(&b, (int64_t)r->len);
    gd_buf_puts(&b, json ? ",\"bytes_out\":" : " out=");
    gd_buf_i64(&b, (int64_t)r->out_bytes);
    gd_buf_puts(&b, json ? ",\"read_ms\":" : " read_ms=");
    put_ms(&b, read_ms);
    gd_buf_puts(&b, json ? ",\"queue_ms\":" : " queue_ms=");
    put_ms(&b, queue_ms);
    gd_buf_puts(&b, json ? ",\"compute_ms\":" : " compute_ms=");
    put_ms(&b, compute_ms);
    gd_buf_puts(&b, json ? ",\"total_ms\":" : " total_ms=");
    put_ms(&b, total_ms);
    if (json) {
        gd_buf_puts(&b, "}\n");
    } else {
        gd_buf_puts(&b, " id=");
        gd_buf_puts(&b, r->id);
        gd_buf_putc(&b, '\n');
    }
    if (!b.oom) fwrite(b.p, 1, b.len, stderr);
    gd_buf_free(&b);
}

/* The status libmicrohttpd itself answered on this thread and has not been
 * logged yet (0: none): set from its "Error processing request" message,
 * taken by the request's on_completed, or by on_connection's close when
 * the request never got as far as its URI (414, 505). */
static _Thread_local unsigned mhd_error_status;

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode why) {
    server *s = cls;
    conn *k = conn_of(c);
    const char *shut = NULL;
    if (k) { /* the connection now waits for its next request */
        pthread_mutex_lock(&s->conn_mu);
        shut = k->shut;
        k->has_req = 0;
        k->phase = C_IDLE;
        k->t_phase = now_ms();
        pthread_mutex_unlock(&s->conn_mu);
    }
    req *r = *req_cls;
    if (!r) return;
    if (why == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED) gd_metrics_rejected("timeout");
    if (r->state == R_DONE) atomic_fetch_sub(&r->s->in_flight, 1);
    if (r->accepted) atomic_fetch_sub(&r->s->accepted, 1);
    if (!r->id[0]) request_id(r); /* the headers never reached on_request */
    int by_mhd = 0;
    if (!r->status) { /* libmicrohttpd answered by itself: 431, 400 for a bad Content-Length, ... */
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
        if (ci && ci->http_status) {
            r->status = (int)ci->http_status;
            by_mhd = 1;
            mhd_error_status = 0;
            gd_metrics_rejected("bad_headers");
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
    gd_metrics_request(r->route[0] ? r->route : NULL, r->status,
                       r->t_started > 0 ? (r->t_started - r->t_queued) / 1e3 : 0,
                       r->t_done > 0 ? (r->t_done - r->t_started) / 1e3 : -1, r->len, r->out_bytes);
    log_line(r);
    gd_response_free(&r->res);
    free(r->body);
    trim_want(r);
    inflight_release(r);
    free(r);
    *req_cls = NULL;
}

/* MHD_OPTION_URI_LOG_CALLBACK: a request's line has come (its headers
 * not yet). Its req is made here, so that one MHD answers by itself (431
 * for headers over the memory limit, 400 for a bad Content-Length) still
 * reaches on_completed with its path, and gets its log line and metrics.
 * The method is not known yet ("-" until on_request). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    server *s = cls;
    conn *k = conn_of(c);
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
    r->t_start = now_ms();
    size_t n = strcspn(uri, "?");
    if (n >= sizeof r->url) n = sizeof r->url - 1;
    memcpy(r->url, uri, n);
    r->url[n] = '\0';
    return r;
}

/* MHD_OPTION_NOTIFY_CONNECTION: a conn record from accept to close, on
 * server.conns for the watchdog. At the close, a status MHD answered
 * before any request line was whole (414, 505) gets its log line. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn *k = ci ? calloc(1, sizeof *k) : NULL;
        *socket_context = k;
        if (!k) return;
        k->c = c;
        k->fd = ci->connect_fd;
        k->phase = C_HEADERS;
        k->t_phase = now_ms();
        pthread_mutex_lock(&s->conn_mu);
        k->next = s->conns;
        if (s->conns) s->conns->prev = k;
        s->conns = k;
        pthread_mutex_unlock(&s->conn_mu);
        return;
    }
    conn *k = *socket_context;
    if (!k) return;
    pthread_mutex_lock(&s->conn_mu);
    if (k->prev) k->prev->next = k->next;
    else s->conns = k->next;
    if (k->next) k->next->prev = k->prev;
    pthread_mutex_unlock(&s->conn_mu);
    if (!k->has_req && mhd_error_status) {
        req r = {.s = s, .status = (int)mhd_error_status, .t_start = now_ms()};
        mhd_error_status = 0;
        request_id(&r);
        gd_metrics_rejected("bad_headers");
        gd_metrics_request(NULL, r.status, 0, -1, 0, 0);
        log_line(&r);
    }
    free(k);
    *socket_context = NULL;
}

/* MHD_OPTION_EXTERNAL_LOGGER: libmicrohttpd's messages as lines of the
 * daemon's log, in its format (text or JSON), control bytes escaped. Its
 * "Error processing request (HTTP response code is N ...)" is not printed:
 * that request's own line says it. */
static void on_mhd_message(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void on_mhd_message(void *cls, const char *fmt, va_list ap) {
    server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    unsigned status;
    if (sscanf(msg, "Error processing request (HTTP response code is %u", &status) == 1) {
        mhd_error_status = status;
        return;
    }
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    gd_buf b = {0};
    if (!strcmp(s->cfg.log_format, "json")) {
        gd_buf_puts(&b, "{\"time\":");
        gd_buf_str(&b, timestamp());
        gd_buf_puts(&b, ",\"level\":\"warn\",\"source\":\"libmicrohttpd\",\"msg\":");
        gd_buf_str(&b, msg);
        gd_buf_puts(&b, "}\n");
    } else {
        static const char hex[] = "0123456789abcdef";
        gd_buf_puts(&b, timestamp());
        gd_buf_puts(&b, " libmicrohttpd: ");
        for (const unsigned char *q = (const unsigned char *)msg; *q; q++) {
            if (*q >= 0x20 && *q != 0x7f && *q != '\\') {
                gd_buf_putc(&b, (char)*q);
            } else {
                char e[4] = {'\\', 'x', hex[*q >> 4], hex[*q & 15]};
                gd_buf_put(&b, e, sizeof e);
            }
        }
        gd_buf_putc(&b, '\n');
    }
    if (!b.oom) fwrite(b.p, 1, b.len, stderr);
    gd_buf_free(&b);
}

/* ---- start, drain, stop ---------------------------------------------- */

static char *load_openapi(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL, err[256];
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nt = realloc(text, cap);
            if (!nt) break;
            text = nt;
        }
        size_t got = fread(text + n, 1, cap - n, f);
        n += got;
        if (!got) break;
    }
    fclose(f);
    json_t *j = text ? gd_openapi_json(text, n, err, sizeof err) : NULL;
    free(text);
    if (!j) {
        fprintf(stderr, "gradd: %s: %s\n", path, err);
        return NULL;
    }
    char *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (out) *len = strlen(out);
    return out;
}

int gd_serve(int argc, char **argv) {
    server *s = calloc(1, sizeof *s);
    if (!s) return 1;
    int rc = gd_config_load(&s->cfg, argc, argv);
    if (rc != 0) {
        free(s);
        return rc > 0 ? 0 : 2;
    }
    gd_config *cfg = &s->cfg;
    /* Signals are caught on whatever thread gets them (OpenBLAS's started
     * before main) and read here from a pipe (signals.h). The threads made
     * below start with them blocked; the main thread unblocks them once
     * they are all up. */
    if (gd_signals_install() < 0) {
        fprintf(stderr, "gradd: cannot install signal handlers: %s\n", strerror(errno));
        free(s);
        return 1;
    }
    gd_signals_block(1);
    gd_init();
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->conn_mu, NULL);
    s->id_base = (uint32_t)getpid() ^ (uint32_t)time(NULL);
    s->openapi = load_openapi(cfg->openapi, &s->openapi_len);
    s->cache = gd_cache_new(cfg->cache_entries, cfg->cache_bytes);
    s->pool = gd_pool_new(cfg->workers, cfg->workers + cfg->queue, cfg->blas_threads);
    if (!s->pool || !s->cache) {
        fprintf(stderr, "gradd: cannot start %d workers\n", cfg->workers);
        return 1;
    }
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    struct sockaddr *addr;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    memset(&a6, 0, sizeof a6);
    memset(&a4, 0, sizeof a4);
    if (strchr(cfg->bind, ':')) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)cfg->port);
        if (inet_pton(AF_INET6, cfg->bind, &a6.sin6_addr) != 1) goto bad_bind;
        addr = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)cfg->port);
        if (inet_pton(AF_INET, cfg->bind, &a4.sin_addr) != 1) goto bad_bind;
        addr = (struct sockaddr *)&a4;
    }
    s->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_message, s, /* first: MHD warns otherwise */
                            MHD_OPTION_SOCK_ADDR, addr,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->io_threads,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_END);
    if (!s->d) {
        fprintf(stderr, "gradd: cannot listen on %s:%d: %s\n", cfg->bind, cfg->port, strerror(errno));
        gd_pool_free(s->pool);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    int port = info ? info->port : cfg->port;
    pthread_create(&s->watchdog, NULL, watchdog, s);
    printf("gradd: listening on %s:%d (workers %d, blas threads %d, cpus %d, queue %d)\n", cfg->bind, port,
           cfg->workers, cfg->blas_threads, cfg->cpus, cfg->queue);
    fflush(stdout);

    gd_signals_block(0);

    /* SIGTERM or SIGINT drains; SIGQUIT stops at once (below). SIGHUP,
     * SIGUSR1 and SIGUSR2 are logged and change nothing (the log is
     * stderr: there is no file to reopen). */
    int sig;
    while ((sig = gd_signals_wait(-1)) != SIGTERM && sig != SIGINT && sig != SIGQUIT)
        if (sig) fprintf(stderr, "gradd: %s: ignored\n", gd_signal_name(sig));
    /* Drain: not ready at once, no new connections, finish what is here. */
    atomic_store(&s->draining, 1);
    int stops = 1, now_please = sig == SIGQUIT;
    fprintf(stderr, "gradd: %s: %s (grace %d s)\n", gd_signal_name(sig), now_please ? "stopping now" : "draining",
            cfg->grace_s);
    MHD_socket lsock = MHD_quiesce_daemon(s->d);
    if (lsock != MHD_INVALID_SOCKET) close(lsock);
    double until = now_ms() + cfg->grace_s * 1e3;
    /* Requests accepted before the signal finish, those still uploading
     * their body included; requests that come on open connections get 503.
     * A second SIGTERM/SIGINT changes nothing (a preStop hook and the
     * kubelet may both send one); a third, or SIGQUIT, ends the grace
     * period at once: what is in flight is cancelled and answers 504. */
    while (!now_please && (atomic_load(&s->in_flight) > 0 || atomic_load(&s->accepted) > 0) && now_ms() < until) {
        int more = gd_signals_wait(10);
        if (more == SIGQUIT || ((more == SIGTERM || more == SIGINT) && ++stops >= 3)) {
            now_please = 1;
            fprintf(stderr, "gradd: %s: stopping now: requests in flight are cancelled\n", gd_signal_name(more));
        } else if (more == SIGTERM || more == SIGINT) {
            fprintf(stderr, "gradd: %s: already draining (a third one, or SIGQUIT, stops at once)\n",
                    gd_signal_name(more));
        } else if (more) {
            fprintf(stderr, "gradd: %s: ignored\n", gd_signal_name(more));
        }
    }
    if (atomic_load(&s->in_flight) > 0) { /* out of grace: cancel what is left, it answers 504 */
        pthread_mutex_lock(&s->mu);
        for (req *r = s->active; r; r = r->next) r->cancel = 1;
        pthread_mutex_unlock(&s->mu);
        while (atomic_load(&s->in_flight) > 0) {
            int more = gd_signals_wait(10); /* cancelled work stops within ~100 ms; signals only logged */
            if (more) fprintf(stderr, "gradd: %s: already stopping\n", gd_signal_name(more));
        }
    }
    gd_pool_free(s->pool); /* every job has finished: joins the idle workers */
    MHD_stop_daemon(s->d);
    atomic_store(&s->stopping, 1);
    pthread_join(s->watchdog, NULL);
    free(s->openapi);
    gd_cache_free(s->cache);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->conn_mu);
    fprintf(stderr, "gradd: stopped\n");
    free(s);
    return 0;
bad_bind:
    fprintf(stderr, "gradd: --bind %s is not an IPv4 or IPv6 address\n", cfg->bind);
    gd_pool_free(s->pool);
    free(s);
    return 2;
}

/* ---- gradd health ---------------------------------------------------- */

int gd_health(int argc, char **argv) {
    /* default: this machine's daemon on $GRADD_PORT (as gradd serve reads it) */
    char def[64] = "http://127.0.0.1:8080/readyz";
    const char *env_port = getenv("GRADD_PORT");
    if (env_port && *env_port && strlen(env_port) < 6 && strspn(env_port, "0123456789") == strlen(env_port)) {
        gd_join(def, sizeof def, "http://127.0.0.1:", env_port);
        gd_join(def + strlen(def), sizeof def - strlen(def), "/readyz", "");
    }
    const char *url = argc > 0 ? argv[0] : def;
    char host[256], path[512] = "/readyz";
    int port = 80;
    if (sscanf(url, "http://%255[^:/]:%d%511s", host, &port, path) < 2 &&
        sscanf(url, "http://%255[^:/]%511s", host, path) < 1) {
        fprintf(stderr, "gradd health: URL must be http://host[:port]/path\n");
        return 2;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (!strcmp(host, "localhost")) snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "gradd health: host must be an IPv4 address or localhost\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        fprintf(stderr, "gradd health: cannot connect to %s:%d\n", host, port);
        if (fd >= 0) close(fd);
        return 1;
    }
    char reqbuf[1024], resp[64] = {0};
    int n = snprintf(reqbuf, sizeof reqbuf, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
    if (write(fd, reqbuf, (size_t)n) != n || read(fd, resp, sizeof resp - 1) < 12) {
        close(fd);
        fprintf(stderr, "gradd health: no answer\n");
        return 1;
    }
    close(fd);
    int status = atoi(resp + 9);
    printf("%d\n", status);
    return status == 200 ? 0 : 1;
}
