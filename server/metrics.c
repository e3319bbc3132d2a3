/* metrics.c -- see metrics.h. Fixed label sets (routes, statuses,
 * reasons) in arrays under one mutex: the cost per request is a lock and a
 * few increments. */
#include "metrics.h"

#include "api.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Labels: the API's routes (api.h's table, read once), then "other". */
#define MAX_ROUTES 32
static const char *routes[MAX_ROUTES];
static int nroutes;
static pthread_once_t routes_once = PTHREAD_ONCE_INIT;

static void load_routes(void) {
    for (int i = 0; i < gd_route_count() && nroutes < MAX_ROUTES - 1; i++) routes[nroutes++] = gd_route_name(i);
    routes[nroutes++] = "other";
}
static const int statuses[] = {200, 304, 400, 401, 404, 405, 408, 413, 414, 415, 422, 431, 499, 500, 503, 504, 505};
#define NSTATUS ((int)(sizeof statuses / sizeof statuses[0]))
static const char *const reasons[] = {"overloaded",  "draining",       "too_large",    "unauthorized",
                                      "bad_headers", "timeout",        "header_timeout", "body_timeout",
                                      "evicted",     "memory"};
#define NREASONS ((int)(sizeof reasons / sizeof reasons[0]))
/* Histogram bounds in seconds, from 100 us to 60 s. */
static const double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10, 30, 60};
#define NBOUNDS ((int)(sizeof bounds / sizeof bounds[0]))

typedef struct histogram {
    unsigned long long buckets[NBOUNDS + 1]; /* the last is +Inf */
    double sum;
    unsigned long long count;
} histogram;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long requests[MAX_ROUTES][NSTATUS + 1]; /* the last column: any other status */
static histogram queue_h[MAX_ROUTES], compute_h[MAX_ROUTES];
static unsigned long long rejected[NREASONS], bytes_in, bytes_out;

static int route_index(const char *route) {
    pthread_once(&routes_once, load_routes);
    for (int i = 0; route && i < nroutes - 1; i++)
        if (!strcmp(routes[i], route)) return i;
    return nroutes - 1;
}

static void observe(histogram *h, double v) {
    int i = 0;
    while (i < NBOUNDS && v > bounds[i]) i++;
    h->buckets[i]++;
    h->sum += v;
    h->count++;
}

void srv_metrics_request(const char *route, int status, double queue_s, double compute_s, size_t in, size_t out) {
    int r = route_index(route), s = 0;
    while (s < NSTATUS && statuses[s] != status) s++;
    pthread_mutex_lock(&mu);
    requests[r][s]++;
    if (compute_s >= 0) {
        observe(&queue_h[r], queue_s);
        observe(&compute_h[r], compute_s);
    }
    bytes_in += in;
    bytes_out += out;
    pthread_mutex_unlock(&mu);
}

void srv_metrics_rejected(const char *reason) {
    for (int i = 0; i < NREASONS; i++)
        if (!strcmp(reasons[i], reason)) {
            pthread_mutex_lock(&mu);
            rejected[i]++;
            pthread_mutex_unlock(&mu);
        }
}

static void line(cd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(cd_buf *b, const char *fmt, ...) {
    char t[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t, sizeof t, fmt, ap);
    va_end(ap);
    if (n > 0) cd_buf_put(b, t, (size_t)(n < (int)sizeof t ? n : (int)sizeof t - 1));
}

static void histo(cd_buf *b, const char *name, const char *help, const histogram *h) {
    line(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int r = 0; r < nroutes; r++) {
        unsigned long long cum = 0;
        for (int i = 0; i <= NBOUNDS; i++) {
            cum += h[r].buckets[i];
            if (i < NBOUNDS) line(b, "%s_bucket{route=\"%s\",le=\"%g\"} %llu\n", name, routes[r], bounds[i], cum);
            else line(b, "%s_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", name, routes[r], cum);
        }
        line(b, "%s_sum{route=\"%s\"} %.9g\n%s_count{route=\"%s\"} %llu\n", name, routes[r], h[r].sum, name, routes[r],
             h[r].count);
    }
}

void srv_metrics_render(cd_buf *b, int in_flight, int queued, int workers, unsigned long long cache_hits,
                       unsigned long long cache_misses) {
    pthread_once(&routes_once, load_routes);
    pthread_mutex_lock(&mu);
    line(b, "# HELP gradd_requests_total Requests answered, by route and HTTP status.\n"
            "# TYPE gradd_requests_total counter\n");
    for (int r = 0; r < nroutes; r++)
        for (int s = 0; s <= NSTATUS; s++)
            if (requests[r][s] || s == 0)
                line(b, "gradd_requests_total{route=\"%s\",status=\"%s%d\"} %llu\n", routes[r], s < NSTATUS ? "" : "other",
                     s < NSTATUS ? statuses[s] : 0, requests[r][s]);
    histo(b, "gradd_queue_wait_seconds", "Time a request waited for a compute worker.", queue_h);
    histo(b, "gradd_compute_seconds", "Time a worker spent on a request (decode, compile, run, encode).", compute_h);
    line(b, "# HELP gradd_rejected_total Requests refused before compute, by reason.\n"
            "# TYPE gradd_rejected_total counter\n");
    for (int i = 0; i < NREASONS; i++) line(b, "gradd_rejected_total{reason=\"%s\"} %llu\n", reasons[i], rejected[i]);
    line(b, "# HELP gradd_graph_cache_hits_total Compiled-graph cache hits.\n# TYPE gradd_graph_cache_hits_total counter\n"
            "gradd_graph_cache_hits_total %llu\n", cache_hits);
    line(b, "# HELP gradd_graph_cache_misses_total Compiled-graph cache misses.\n# TYPE gradd_graph_cache_misses_total counter\n"
            "gradd_graph_cache_misses_total %llu\n", cache_misses);
    line(b, "# HELP gradd_request_bytes_total Request body bytes received.\n# TYPE gradd_request_bytes_total counter\n"
            "gradd_request_bytes_total %llu\n", bytes_in);
    line(b, "# HELP gradd_response_bytes_total Response body bytes sent.\n# TYPE gradd_response_bytes_total counter\n"
            "gradd_response_bytes_total %llu\n", bytes_out);
    pthread_mutex_unlock(&mu);
    line(b, "# HELP gradd_in_flight_requests Requests being computed.\n# TYPE gradd_in_flight_requests gauge\n"
            "gradd_in_flight_requests %d\n", in_flight);
    line(b, "# HELP gradd_queue_depth Requests waiting for a compute worker.\n# TYPE gradd_queue_depth gauge\n"
            "gradd_queue_depth %d\n", queued);
    line(b, "# HELP gradd_workers Compute workers.\n# TYPE gradd_workers gauge\ngradd_workers %d\n", workers);
}

void srv_metrics_render_memory(cd_buf *b, long long inflight_bytes, long long kept_bytes, long long inflight_limit) {
    line(b, "# HELP gradd_inflight_request_bytes Memory reserved by requests in flight: their bodies and the JSON "
            "trees they may become.\n# TYPE gradd_inflight_request_bytes gauge\ngradd_inflight_request_bytes %lld\n",
         inflight_bytes);
    line(b, "# HELP gradd_kept_buffer_bytes Big buffers kept for the next requests' bodies and answers, within "
            "--max-inflight-bytes; freed when a request needs the room and once the daemon is idle.\n"
            "# TYPE gradd_kept_buffer_bytes gauge\ngradd_kept_buffer_bytes %lld\n",
         kept_bytes);
    line(b, "# HELP gradd_inflight_request_bytes_limit --max-inflight-bytes: past it a request gets 503.\n"
            "# TYPE gradd_inflight_request_bytes_limit gauge\ngradd_inflight_request_bytes_limit %lld\n",
         inflight_limit);
    /* statm: size resident shared ... in pages */
    long long pages = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%*s %lld", &pages) != 1) pages = -1;
        fclose(f);
    }
    long page = sysconf(_SC_PAGESIZE);
    if (pages >= 0 && page > 0)
        line(b, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %lld\n",
             pages * page);
}

void srv_metrics_render_cache(cd_buf *b, int entries, long long bytes, long long limit) {
    line(b, "# HELP gradd_graph_cache_entries Compiled graphs kept.\n# TYPE gradd_graph_cache_entries gauge\n"
            "gradd_graph_cache_entries %d\n", entries);
    line(b, "# HELP gradd_graph_cache_bytes Memory the kept graphs hold, programs and arenas included.\n"
            "# TYPE gradd_graph_cache_bytes gauge\ngradd_graph_cache_bytes %lld\n", bytes);
    line(b, "# HELP gradd_graph_cache_bytes_limit --cache-bytes.\n# TYPE gradd_graph_cache_bytes_limit gauge\n"
            "gradd_graph_cache_bytes_limit %lld\n", limit);
}

void srv_metrics_render_store(cd_buf *b, int entries, long long bytes, long long limit) {
    line(b, "# HELP gradd_graph_store_entries Graphs kept by POST /v1/graphs.\n# TYPE gradd_graph_store_entries gauge\n"
            "gradd_graph_store_entries %d\n", entries);
    line(b, "# HELP gradd_graph_store_bytes Memory the stored graphs hold.\n# TYPE gradd_graph_store_bytes gauge\n"
            "gradd_graph_store_bytes %lld\n", bytes);
    line(b, "# HELP gradd_graph_store_bytes_limit --graph-store-bytes.\n# TYPE gradd_graph_store_bytes_limit gauge\n"
            "gradd_graph_store_bytes_limit %lld\n", limit);
}
