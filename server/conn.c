/* conn.c -- each open connection's record, from accept to close
 * (srv_conn_notify), and the watchdog's policing of them: headers and
 * bodies held to deadlines (a slow client cannot hold a connection for
 * ever: MHD's idle timeout restarts at every byte), the longest-waiting
 * idle connection closed to make room for new clients, and uploads whose
 * client left shut (MHD may miss the close). http.c moves a connection
 * through its phases (srv_conn_enter). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "metrics.h"
#include "server.h"

/* Under connection pressure, a connection is closed to make room only
 * after it has waited this long for headers (or for its next request). */
#define EVICT_MIN_AGE_MS 1000

/* c's record (MHD's socket context), or NULL. */
conn *srv_conn_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* k (may be NULL) enters phase p now. */
void srv_conn_enter(server *s, conn *k, conn_phase p) {
    if (!k) return;
    pthread_mutex_lock(&s->conn_mu);
    k->phase = p;
    k->t_phase = gd_now_ms();
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
    const srv_config *cfg = &s->cfg;
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
 * connection's socket here. why: a srv_metrics_rejected reason, or NULL to
 * count nothing. Caller holds conn_mu. */
static void conn_shut(conn *k, const char *why) {
    if (k->shut) return;
    k->shut = why ? why : "linger";
    shutdown(k->fd, SHUT_RDWR);
    if (why) srv_metrics_rejected(why);
}

/* From the watchdog, every 50 ms: close connections whose headers or body
 * outran their deadline; then, while fewer than a tenth of max_connections
 * (at least one) are free, close the connection that has waited longest
 * for its headers or its next request (at least EVICT_MIN_AGE_MS), so a new
 * client is still accepted while slow ones hold the rest. */
void srv_conn_police(server *s) {
    double t = gd_now_ms();
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

/* libmicrohttpd 0.9.75 (measured in its epoll mode) may miss a client's close in the middle of
 * a large body: the socket sits in CLOSE-WAIT with nothing left to read
 * until the idle timeout (30 s; measured with 4 MiB of an 8 MiB body sent),
 * and the request holds its --max-inflight-bytes reservation all that
 * time. Every 50 ms, peek at each connection reading a body: at the end of
 * its stream, shut the socket, which wakes its I/O thread (the request is
 * logged 499, the client having left). */
void srv_conn_reap_closed_uploads(server *s) {
    double t = gd_now_ms();
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

/* MHD_OPTION_NOTIFY_CONNECTION: a conn record from accept to close, on
 * server.conns for the watchdog. At the close, a status MHD answered
 * before any request line was whole (414, 505) gets its log line. */
void srv_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
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
        k->t_phase = gd_now_ms();
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
    unsigned mhd_status = k->has_req ? 0 : srv_log_take_mhd_status();
    if (mhd_status) {
        req r = {.s = s, .status = (int)mhd_status, .t_start = gd_now_ms()};
        srv_http_request_id(&r);
        srv_metrics_rejected("bad_headers");
        srv_metrics_request(NULL, r.status, 0, -1, 0, 0);
        srv_log_line(&r);
    }
    free(k);
    *socket_context = NULL;
}
