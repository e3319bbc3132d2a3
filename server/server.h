/* server.h -- what the daemon's modules share; private to server/ (main.c
 * sees only serve.h and health.h). The files, one idea each:
 *
 *   http.c        a request's life: libmicrohttpd's callbacks, routing,
 *                 answers, the hand-off to the compute pool (pool.c)
 *   conn.c        connection records: header and body deadlines, room for
 *                 new clients, uploads whose client left
 *   memory.c      --max-inflight-bytes reservations; malloc_trim when idle
 *   static.c      the playground's files under --web-root
 *   access_log.c  one log line per request; libmicrohttpd's own messages
 *   serve.c       srv_serve: start, the watchdog, drain on signals, stop
 *   health.c      srv_health: the `gradd health` client
 *
 * Each module's functions here are named srv_<module>_ (srv_http_,
 * srv_conn_, srv_mem_, srv_static_, srv_log_); every symbol server/
 * exports starts with srv_ (tools/check-symbols), api's with gd_. */
#ifndef GRADD_SERVER_H
#define GRADD_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "api.h"
#include "cache.h"
#include "config.h"
#include "err.h"
#include "pool.h"

/* R_DONE: answered by a worker (counted in in_flight). A request answered
 * on the I/O thread (try_inline) stays R_READ. */
typedef enum { R_READ, R_QUEUED, R_DONE } req_state;

/* A streamed answer (NDJSON from a step request): the worker appends
 * lines, the connection's content reader (http.c) sends them. Everything
 * here is under mu. The connection is suspended while the reader waits for
 * lines (reader_waits) and resumed by the worker that brings them. */
typedef struct req_stream {
    int inited;               /* mu and done_cv are initialised (a step request handed to a worker) */
    pthread_mutex_t mu;
    pthread_cond_t done_cv;   /* signalled when worker_done is set */
    int started;              /* the first line came: the answer is a stream (status 200) */
    int reader_waits;         /* the connection is suspended until more lines come */
    int finished;             /* the last line is in buf */
    int worker_done;          /* the worker no longer touches the request */
    char *buf;                /* (len, cap) lines not yet sent, from sent on */
    size_t len, cap, sent;
} req_stream;

/* Big buffers a daemon keeps between requests, at most (memory.c). */
#define SRV_KEPT_COUNT 4

typedef struct server server;

/* What a connection waits for. The watchdog holds C_HEADERS, C_IDLE and
 * C_BODY to deadlines (srv_conn_police); C_BUSY (a request being
 * computed or answered) has none here. */
typedef enum { C_HEADERS, C_IDLE, C_BODY, C_LINGER, C_BUSY } conn_phase;

/* One open connection (MHD's socket context), from accept to close, on
 * server.conns. phase and t_phase change on the connection's I/O thread
 * under server.conn_mu; the watchdog reads them under it. */
typedef struct conn {
    struct MHD_Connection *c; /* MHD's, borrowed */
    int fd;                   /* the socket: the watchdog shutdown()s it, never closes it */
    conn_phase phase;
    double t_phase;           /* monotonic ms the phase began */
    atomic_size_t body_bytes; /* C_BODY: body bytes received so far */
    int has_req;              /* a request line came and its request is not completed */
    const char *shut;         /* NULL, or why the watchdog shut the socket (a srv_metrics_rejected reason) */
    struct conn *prev, *next;
} conn;

/* A request's headers, read in one pass over libmicrohttpd's list
 * (http.c's read_headers) before anything looks at them. The strings are
 * MHD's, valid until the request completes; each is the first of its name
 * (names compared without case), NULL when the request has none. */
typedef struct req_headers {
    int read;                   /* the pass has run */
    int content_length;         /* how many Content-Length headers */
    int content_length_differ;  /* their values are not all the same */
    const char *content_length_value; /* the first one's */
    int transfer_encoding;      /* a Transfer-Encoding header came */
    const char *content_type;
    const char *authorization;
    const char *origin;
    const char *request_id;     /* X-Request-ID */
    const char *json_length;    /* Inference-Header-Content-Length (Triton's binary extension) */
    const char *if_none_match;
    const char *accept;
    size_t bytes;               /* of the header lines, as sent: "name: value" and CRLF each */
} req_headers;

typedef struct req {
    server *s;                /* borrowed */
    struct MHD_Connection *c; /* MHD's, borrowed */
    conn *conn;               /* its connection's record, or NULL */
    int first_done;           /* the first access-handler call (headers complete) has run */
    int deferred_get;         /* a bodiless GET/HEAD of a non-API path: answered at the last callback,
                                 so the connection stays open (MHD closes after an answer queued earlier) */
    int raw_answered;         /* the 413 went straight to the socket (chunked body over the limit) */
    size_t discarded;         /* body bytes thrown away after that 413 */
    double t_linger;          /* monotonic ms when that 413 went out */
    req_headers hdr;          /* its headers, once read_headers has run */
    char id[72];              /* X-Request-ID, given or made */
    char route[32];           /* API route, "" for other paths */
    char method[8];           /* "" until the first access-handler call */
    char url[256];            /* the path, no query string */
    size_t uri_len;           /* bytes of the request line's URI, query string included */
    char ref[80];             /* GET /v1/graphs/{ref}: the ref of the path */
    char origin[256];         /* an allowed Origin to echo, or "" */
    char *body;               /* (cap) the request body, owned; freed at completion */
    size_t len, cap;          /* body bytes received (dropped ones too, once over_budget), and body's size */
    long long json_len;       /* Inference-Header-Content-Length, or -1: all JSON */
    size_t body_shift;        /* body starts this far into its allocation (of cap bytes), so that
                                 its binary section falls on 64 bytes: tensors are used in place */
    int too_large;            /* the body went over --max-body-bytes */
    int64_t reserved;         /* bytes of server.inflight_bytes this request holds (srv_mem_reserve) */
    int over_budget;          /* a chunked body outgrew --max-inflight-bytes: dropped, then 503 */
    req_state state;
    int accepted;             /* counted in server.accepted */
    double t_start, t_queued, t_started, t_done;   /* monotonic ms */
    gd_timing phases;         /* the API's decode, compile, execute and encode ms of compute_ms */
    double deadline;          /* monotonic ms: t_queued + --deadline-ms */
    volatile int cancel;      /* raised by the watchdog at the deadline */
    gd_response res;          /* the API's answer, owned; gd_response_free at completion */
    int wants_ndjson;         /* Accept: application/x-ndjson */
    req_stream stream;        /* a streamed answer's lines (mu initialised with the req) */
    int status;               /* the HTTP status answered, 0 until one is */
    size_t out_bytes;         /* response body bytes */
    struct req *prev, *next;  /* the active list the watchdog scans */
} req;

struct server {
    srv_config cfg;
    struct MHD_Daemon *d;
    srv_pool *pool;            /* the compute workers */
    gd_cache *cache;          /* compiled programs (--cache-entries) */
    struct gd_store *store;   /* the graph store (--graph-store-bytes; api/store.h) */
    int graph_dir_fd;         /* --graph-dir opened, or -1 (graph_dir.c) */
    atomic_int graph_dir_loading; /* loading the directory at start: nothing is written back */
    atomic_int draining;
    atomic_int in_flight;     /* queued or computing */
    atomic_int accepted;      /* /v1 requests past their headers, not yet completed
                                 (uploading, queued, computing or answering): a drain
                                 waits for them */
    atomic_int stopping;      /* the watchdog stops */
    atomic_llong inflight_bytes; /* reserved by requests from their headers to their completion, and by
                                    the kept buffers (memory.c); at most cfg.max_inflight_bytes */
    atomic_llong kept_bytes;  /* of which the kept buffers hold */
    pthread_mutex_t kept_mu;  /* guards the kept buffers below */
    void *kept[SRV_KEPT_COUNT];      /* (n_kept) big buffers kept between requests (memory.c) */
    size_t kept_cap[SRV_KEPT_COUNT]; /* (n_kept) their sizes */
    int n_kept;
    atomic_int trim_wanted;   /* a request that may have left freed memory in malloc's arenas completed */
    atomic_llong t_last_done; /* monotonic ms of the last request completed */
    double t_trimmed;         /* the watchdog's last malloc_trim, monotonic ms */
    double t_reaped;          /* the watchdog's last srv_conn_reap_closed_uploads, monotonic ms */
    char *openapi;            /* (openapi_len) /openapi.json, owned, or NULL */
    size_t openapi_len;
    pthread_mutex_t mu;       /* guards active */
    req *active;              /* (list on req.prev/next) requests queued or computing */
    pthread_t watchdog;
    pthread_mutex_t conn_mu;  /* guards conns and each conn's phase */
    conn *conns;              /* (list on conn.prev/next) every open connection, each owned */
    double t_policed;         /* the watchdog's last srv_conn_police, monotonic ms */
    atomic_ullong next_id;    /* the next made request id's counter */
    uint32_t id_base;         /* request ids: pid ^ start time */
};

/* Every t_ field and deadline above is in gd_now_ms's monotonic
 * milliseconds, the clock gd_call.deadline_ms is given in. */

/* After a 413 sent straight to the socket (http.c's answer_413_now), the
 * rest of the body is read and dropped for at most this long and this
 * much, then the connection is closed (conn.c holds it to LINGER_MS). */
#define LINGER_MS 2000
#define LINGER_BYTES ((size_t)4 << 20)

/* ---- http.c: a request's life ---------------------------------------- */

/* libmicrohttpd's callbacks (cls: the server): the access handler, the
 * request's completion, and its request line (where its req is made). */
enum MHD_Result srv_http_on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                    const char *version, const char *upload, size_t *upload_size, void **req_cls);
void srv_http_on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode why);
void *srv_http_on_uri(void *cls, const char *uri, struct MHD_Connection *c);
/* X-Request-ID, X-Content-Type-Options and CORS headers on every answer. */
void srv_http_common_headers(req *r, struct MHD_Response *resp);

/* ---- stream.c: a streamed answer ---- */
/* Append len bytes to st's lines (the caller holds st->mu). */
void srv_stream_append(req_stream *st, const char *p, size_t len);
/* gd_call.on_line of a streaming request (ctx: the req). */
void srv_stream_line(void *ctx, const char *line, size_t len);
/* Queue the streamed answer: 200, chunked NDJSON. */
enum MHD_Result srv_stream_start(req *r);
/* At completion: cancel and wait for a streaming worker, free the lines. */
void srv_stream_finish(req *r);
/* Queue a JSON error answer {"error": fmt..., "code": its code, "path": ""}
 * with the status of id's row of the error table (api/err.h; 400, 408 and
 * 413 close the connection). */
enum MHD_Result srv_http_reply_error(req *r, gd_code id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* r->id: its valid X-Request-ID (r->hdr, read first when r->c is set and
 * they have not been), or one made. */
void srv_http_request_id(req *r);

/* ---- conn.c: connections --------------------------------------------- */

/* MHD_OPTION_NOTIFY_CONNECTION (cls: the server). */
void srv_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode code);
/* c's record (MHD's socket context), or NULL. */
conn *srv_conn_of(struct MHD_Connection *c);
/* k (may be NULL) enters phase p now (under conn_mu). */
void srv_conn_enter(server *s, conn *k, conn_phase p);
/* From the watchdog: each does its work at most every 50 ms. */
void srv_conn_police(server *s);
void srv_conn_reap_closed_uploads(server *s);

/* ---- memory.c: in-flight bytes and malloc_trim ----------------------- */

/* Bytes a request with a body of body bytes reserves (body, JSON tree,
 * per-request overhead). */
int64_t srv_mem_need(const server *s, size_t body);
/* Reserve bytes more for r: 0, or -1 (nothing reserved) past the limit. */
int srv_mem_reserve(req *r, int64_t bytes);
/* Give back all r holds. */
void srv_mem_release(req *r);
/* Grow r's reservation for a body of len bytes: 0, or -1 past the limit. */
/* A buffer for a request body of n bytes, *cap set to its size (0 when
 * out of memory): a kept one (srv_kept_take) when there is one; else from
 * 4 MiB on, 2 MiB-aligned and advised to the kernel for transparent huge
 * pages, so a 45 MB body takes 23 page faults instead of 11,000 (each
 * costly in a VM). Freed with free() or srv_kept_give. */
void *srv_body_alloc(server *s, size_t n, size_t *cap);
/* A kept buffer (memory.c says why) with its size in *cap: the smallest
 * of n to 2n bytes, or with n 0 the biggest; NULL when none. */
void *srv_kept_take(server *s, size_t n, size_t *cap);
/* Done with the malloc'd buffer p of cap bytes: kept for a later request
 * when big enough and the in-flight budget has room, else freed. p may
 * be NULL. */
void srv_kept_give(server *s, void *p, size_t cap);
/* Free every kept buffer, their budget given back. */
void srv_kept_drop(server *s);
int srv_mem_grow(req *r, size_t len);
/* r, which may have left freed memory behind, has completed. */
void srv_mem_trim_want(req *r);
/* From the watchdog at monotonic ms t: malloc_trim when asked and idle. */
void srv_mem_trim(server *s, double t);

/* ---- graph_dir.c: --graph-dir, the graph store on disk ---------------- */

/* Open --graph-dir (when set), load every graph it holds into s->store
 * (each file checked: a regular file, not a symlink, named by the sha256
 * of its bytes, a graph the store accepts; others skipped with a line on
 * stderr), and hook the store so graphs kept later are written there
 * (temp file, then rename) and evicted ones removed. 0, or -1 with a
 * message on stderr when the directory cannot be opened. */
int srv_gdir_open(server *s);
void srv_gdir_close(server *s);

/* ---- static.c: files under --web-root -------------------------------- */

/* Answer GET url with the file under --web-root, 304, or 404. */
enum MHD_Result srv_static_serve(req *r, const char *url);

/* ---- access_log.c: the request log ----------------------------------- */

/* r's line on stderr, text or JSON (--log-format). */
void srv_log_line(const req *r);
/* MHD_OPTION_EXTERNAL_LOGGER (cls: the server). */
void srv_log_mhd_message(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* The status libmicrohttpd itself answered on this thread and has not been
 * logged yet (0: none); taking it clears it. */
unsigned srv_log_take_mhd_status(void);

#endif
