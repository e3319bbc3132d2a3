/* serve.c -- gradd serve: start libmicrohttpd with http.c's callbacks and
 * the compute pool, run the watchdog, and on SIGTERM or SIGINT drain and
 * stop (the sequence is described at the top of http.c; signals.h catches
 * the signals on any thread). The watchdog, every 5 ms: cancels requests
 * past their deadline or whose client left, then lets conn.c police the
 * connections and memory.c trim. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "cache.h"
#include "config.h"
#include "openapi.h"
#include "pool.h"
#include "server.h"
#include "signals.h"

/* The watchdog thread (arg: the server), until server.stopping: every
 * 5 ms, raises the cancel flag of each request in flight past its
 * deadline or whose client has left, then runs conn.c's policing and
 * memory.c's trim (each keeps its own pace). */
static void *watchdog(void *arg) {
    server *s = arg;
    while (!atomic_load(&s->stopping)) {
        double t = gd_now_ms();
        pthread_mutex_lock(&s->mu);
        for (req *r = s->active; r; r = r->next) {
            if (t > r->deadline) r->cancel = 1;
            /* A suspended connection never notices its client leave: peek. */
            const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->c, MHD_CONNECTION_INFO_CONNECTION_FD);
            char byte;
            if (!r->cancel && ci && recv(ci->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) r->cancel = 1;
        }
        pthread_mutex_unlock(&s->mu);
        srv_conn_police(s);
        srv_conn_reap_closed_uploads(s);
        srv_mem_trim(s, gd_now_ms());
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* The OpenAPI description at path (YAML or JSON, openapi.h) as compact
 * JSON (*len bytes, the caller's to free), or NULL: the file is missing
 * (quietly), or does not parse (said on stderr); the daemon then answers
 * 404 at /openapi.json. */
static char *load_openapi(const char *path, size_t *len) {
    if (access(path, R_OK) != 0) return NULL;
    char err[256];
    json_t *j = srv_openapi_load(path, err, sizeof err);
    if (!j) {
        fprintf(stderr, "gradd: %s: %s\n", path, err);
        return NULL;
    }
    char *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (out) *len = strlen(out);
    return out;
}

int srv_serve(int argc, char **argv) {
    server *s = calloc(1, sizeof *s);
    if (!s) return 1;
    int rc = srv_config_load(&s->cfg, argc, argv);
    if (rc != 0) {
        free(s);
        return rc > 0 ? 0 : 2;
    }
    srv_config *cfg = &s->cfg;
    /* Signals are caught on whatever thread gets them (OpenBLAS's started
     * before main) and read here from a pipe (signals.h). The threads made
     * below start with them blocked; the main thread unblocks them once
     * they are all up. */
    if (srv_signals_install() < 0) {
        fprintf(stderr, "gradd: cannot install signal handlers: %s\n", strerror(errno));
        free(s);
        return 1;
    }
    srv_signals_block(1);
    gd_init();
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->conn_mu, NULL);
    pthread_mutex_init(&s->kept_mu, NULL);
    s->id_base = (uint32_t)getpid() ^ (uint32_t)time(NULL);
    s->openapi = load_openapi(cfg->openapi, &s->openapi_len);
    s->cache = gd_cache_new(cfg->cache_entries, cfg->cache_bytes);
    if (srv_gdir_open(s) < 0) {
        srv_gdir_close(s);
        gd_cache_free(s->cache);
        free(s);
        return 2;
    }
    if (cfg->graph_store_bytes + cfg->cache_bytes + cfg->max_inflight_bytes > srv_memory_allowed())
        fprintf(stderr, "gradd: warning: --graph-store-bytes, --cache-bytes and --max-inflight-bytes add up to %lld "
                "bytes, more than the %lld this process may use\n",
                (long long)(cfg->graph_store_bytes + cfg->cache_bytes + cfg->max_inflight_bytes),
                (long long)srv_memory_allowed());
    s->pool = srv_pool_new(cfg->workers, cfg->workers + cfg->queue, cfg->blas_threads);
    if (!s->pool || !s->cache) {
        fprintf(stderr, "gradd: cannot start %d workers\n", cfg->workers);
        return 1;
    }
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    struct sockaddr *addr;
    /* poll(), not epoll: libmicrohttpd 0.9.75's MHD_quiesce_daemon, which
     * the drain below needs, removes the listen socket from each I/O
     * thread's epoll set from the calling thread while that I/O thread may
     * remove it too; the loser's EPOLL_CTL_DEL fails with ENOENT and MHD
     * aborts the process ("Failed to remove listen FD from epoll set", seen
     * after SIGTERM; tests/http/test_overload.c widens the window to show
     * it). With poll() each I/O thread leaves the listen socket out of its
     * own set once it sees the quiesce, woken through its ITC. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
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
    s->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, srv_http_on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, srv_log_mhd_message, s, /* first: MHD warns otherwise */
                            MHD_OPTION_SOCK_ADDR, addr,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->io_threads,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->connection_buffer_bytes,
                            MHD_OPTION_NOTIFY_COMPLETED, srv_http_on_completed, s,
                            MHD_OPTION_URI_LOG_CALLBACK, srv_http_on_uri, s,
                            MHD_OPTION_NOTIFY_CONNECTION, srv_conn_notify, s,
                            MHD_OPTION_END);
    if (!s->d) {
        fprintf(stderr, "gradd: cannot listen on %s:%d: %s\n", cfg->bind, cfg->port, strerror(errno));
        srv_pool_free(s->pool);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    int port = info ? info->port : cfg->port;
    pthread_create(&s->watchdog, NULL, watchdog, s);
    const char *core = gr_blas_core();
    printf("gradd: listening on %s:%d (workers %d, blas threads %d, float32 GEMM %s, OpenBLAS kernels %s, cpus %d, "
           "queue %d)\n",
           cfg->bind, port, cfg->workers, cfg->blas_threads, gr_sgemm_kernel(), core ? core : "unknown", cfg->cpus,
           cfg->queue);
    fflush(stdout);

    srv_signals_block(0);

    /* SIGTERM or SIGINT drains; SIGQUIT stops at once (below). SIGHUP,
     * SIGUSR1 and SIGUSR2 are logged and change nothing (the log is
     * stderr: there is no file to reopen). */
    int sig;
    while ((sig = srv_signals_wait(-1)) != SIGTERM && sig != SIGINT && sig != SIGQUIT)
        if (sig) fprintf(stderr, "gradd: %s: ignored\n", srv_signal_name(sig));
    /* Drain: not ready at once, no new connections, finish what is here. */
    atomic_store(&s->draining, 1);
    int stops = 1, now_please = sig == SIGQUIT;
    fprintf(stderr, "gradd: %s: %s (grace %d s)\n", srv_signal_name(sig), now_please ? "stopping now" : "draining",
            cfg->grace_s);
    /* The listen socket stops taking connections now (new ones are
     * refused), but its descriptor stays ours until MHD_stop_daemon: an I/O
     * thread may still be in poll() on it, and a closed (or reused) number
     * there is a fatal error in libmicrohttpd 0.9.75. */
    MHD_socket lsock = MHD_quiesce_daemon(s->d);
    if (lsock != MHD_INVALID_SOCKET) shutdown(lsock, SHUT_RDWR);
    double until = gd_now_ms() + cfg->grace_s * 1e3;
    /* Requests accepted before the signal finish, those still uploading
     * their body included; requests that come on open connections get 503.
     * A second SIGTERM/SIGINT changes nothing (a preStop hook and the
     * kubelet may both send one); a third, or SIGQUIT, ends the grace
     * period at once: what is in flight is cancelled and answers 504. */
    while (!now_please && (atomic_load(&s->in_flight) > 0 || atomic_load(&s->accepted) > 0) && gd_now_ms() < until) {
        int more = srv_signals_wait(10);
        if (more == SIGQUIT || ((more == SIGTERM || more == SIGINT) && ++stops >= 3)) {
            now_please = 1;
            fprintf(stderr, "gradd: %s: stopping now: requests in flight are cancelled\n", srv_signal_name(more));
        } else if (more == SIGTERM || more == SIGINT) {
            fprintf(stderr, "gradd: %s: already draining (a third one, or SIGQUIT, stops at once)\n",
                    srv_signal_name(more));
        } else if (more) {
            fprintf(stderr, "gradd: %s: ignored\n", srv_signal_name(more));
        }
    }
    if (atomic_load(&s->in_flight) > 0) { /* out of grace: cancel what is left, it answers 504 */
        pthread_mutex_lock(&s->mu);
        for (req *r = s->active; r; r = r->next) r->cancel = 1;
        pthread_mutex_unlock(&s->mu);
        while (atomic_load(&s->in_flight) > 0) {
            int more = srv_signals_wait(10); /* cancelled work stops within ~100 ms; signals only logged */
            if (more) fprintf(stderr, "gradd: %s: already stopping\n", srv_signal_name(more));
        }
    }
    srv_pool_free(s->pool); /* every job has finished: joins the idle workers */
    MHD_stop_daemon(s->d);
    if (lsock != MHD_INVALID_SOCKET) close(lsock);
    atomic_store(&s->stopping, 1);
    pthread_join(s->watchdog, NULL);
    free(s->openapi);
    gd_cache_free(s->cache);
    srv_gdir_close(s);
    srv_kept_drop(s);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->conn_mu);
    pthread_mutex_destroy(&s->kept_mu);
    fprintf(stderr, "gradd: stopped\n");
    free(s);
    return 0;
bad_bind:
    fprintf(stderr, "gradd: --bind %s is not an IPv4 or IPv6 address\n", cfg->bind);
    srv_pool_free(s->pool);
    free(s);
    return 2;
}
