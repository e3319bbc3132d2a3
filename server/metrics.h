/* metrics.h -- what GET /metrics reports, in Prometheus text format:
 * requests by route and status, latency histograms split into queue wait
 * and compute, in-flight requests and queue depth, compiled-graph cache
 * hits and misses, and rejected requests by reason. */
#ifndef GRADD_METRICS_H
#define GRADD_METRICS_H

#include <stddef.h>

#include "codec/buf.h"

/* Count one finished request: its route ("" or NULL for no route), HTTP
 * status, seconds waiting for a worker and seconds computing (negative
 * when it never reached a worker), and body bytes in and out. */
void srv_metrics_request(const char *route, int status, double queue_s, double compute_s, size_t in, size_t out);
/* One request refused before any compute, by reason: overloaded,
 * draining, too_large, unauthorized, bad_headers (libmicrohttpd's own 400,
 * 414, 431, 505 included), timeout (MHD's idle timeout), header_timeout
 * (headers not whole by --header-timeout-s), body_timeout (a body slower
 * than --body-timeout-s and --min-body-rate allow), evicted (a slow
 * connection closed to make room for new clients), memory (over
 * --max-inflight-bytes). */
void srv_metrics_rejected(const char *reason);
/* Write the exposition; the gauges and the cache's counts are sampled by
 * the caller. */
void srv_metrics_render(cd_buf *b, int in_flight, int queued, int workers, unsigned long long cache_hits,
                       unsigned long long cache_misses);
/* The memory gauges: bytes reserved by requests in flight, by the kept
 * buffers (memory.c) and their limit (--max-inflight-bytes), and the
 * process's resident memory
 * (process_resident_memory_bytes, as Prometheus's process collector names
 * it; read from /proc/self/statm). */
void srv_metrics_render_memory(cd_buf *b, long long inflight_bytes, long long kept_bytes, long long inflight_limit);

/* The compiled-graph cache's size now: entries, bytes, and --cache-bytes. */
void srv_metrics_render_cache(cd_buf *b, int entries, long long bytes, long long limit);
/* The graph store's gauges (POST /v1/graphs). */
void srv_metrics_render_store(cd_buf *b, int entries, long long bytes, long long limit);

#endif
