/* memory.c -- the memory requests in flight may take, and freed memory
 * going back. A request with a body reserves what the body and its JSON
 * tree may cost against --max-inflight-bytes from its headers to its
 * completion (http.c answers 413 or 503 past it); once the daemon is idle,
 * the watchdog gives malloc's freed pages back (srv_mem_trim). */
#define _GNU_SOURCE /* MADV_HUGEPAGE */
#include <malloc.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <stdatomic.h>

#include "server.h"

/* What a request may cost while its body is held, beyond the body itself,
 * is the JSON tree the API may build from it: gd_tree_bytes_max. Plans and
 * tensors are not charged here: they are bounded per computing request by
 * --max-total-bytes, and only workers compute. */
/* Charged to every request with a body whatever its size: the connection's
 * buffers (MHD's 32 KiB memory pool) and the request's own state. */
#define INFLIGHT_BYTES_PER_REQUEST ((int64_t)64 << 10)
/* A chunked body (no Content-Length) reserves in steps of this many body
 * bytes as it grows. */
#define INFLIGHT_CHUNK_STEP ((size_t)1 << 20)

/* Bytes a request with a body of body bytes reserves: the body, its tree
 * and INFLIGHT_BYTES_PER_REQUEST. */
int64_t srv_mem_need(const server *s, size_t body) {
    int64_t b = body < ((size_t)1 << 56) ? (int64_t)body : (int64_t)1 << 56;
    return b + gd_tree_bytes_max(&s->cfg.limits, body) + INFLIGHT_BYTES_PER_REQUEST;
}

#define HUGE_PAGE ((size_t)2 << 20)

void *srv_body_alloc(size_t n, size_t *cap) {
    void *p;
    if (n < 2 * HUGE_PAGE) {
        p = malloc(n);
    } else {
        n = (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        p = aligned_alloc(HUGE_PAGE, n);
        if (p) madvise(p, n, MADV_HUGEPAGE); /* advice only: no huge pages is no error */
    }
    *cap = p ? n : 0;
    return p;
}

/* Reserve bytes more for r against --max-inflight-bytes: 0, or -1 with
 * nothing reserved when the daemon would go past it. */
int srv_mem_reserve(req *r, int64_t bytes) {
    server *s = r->s;
    long long have = atomic_load(&s->inflight_bytes);
    do {
        if (have + bytes > s->cfg.max_inflight_bytes) return -1;
    } while (!atomic_compare_exchange_weak(&s->inflight_bytes, &have, have + bytes));
    r->reserved += bytes;
    return 0;
}

/* Give back all r holds. */
void srv_mem_release(req *r) {
    if (r->reserved) atomic_fetch_sub(&r->s->inflight_bytes, r->reserved);
    r->reserved = 0;
}

/* r's body is about to be len bytes: 0 when its reservation covers that
 * (grown by INFLIGHT_CHUNK_STEP at a time), -1 when the budget is out. A
 * body with a Content-Length reserved all of it with its headers. */
int srv_mem_grow(req *r, size_t len) {
    int64_t need = srv_mem_need(r->s, len);
    if (need <= r->reserved) return 0;
    size_t step = (len / INFLIGHT_CHUNK_STEP + 1) * INFLIGHT_CHUNK_STEP;
    int64_t want = srv_mem_need(r->s, step);
    return srv_mem_reserve(r, want - r->reserved);
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
void srv_mem_trim_want(req *r) {
    server *s = r->s;
    atomic_store(&s->t_last_done, (long long)gd_now_ms());
    if (r->state == R_DONE || r->len >= TRIM_BODY_BYTES || r->reserved > srv_mem_need(s, TRIM_BODY_BYTES))
        atomic_store(&s->trim_wanted, 1);
}

/* From the watchdog: trim when asked and the daemon is idle (or has not
 * been for TRIM_BUSY_MS). */
void srv_mem_trim(server *s, double t) {
    if (s->t_trimmed == 0) s->t_trimmed = t;
    if (!atomic_load(&s->trim_wanted)) return;
    int idle = !atomic_load(&s->accepted) && !atomic_load(&s->in_flight) &&
               t - (double)atomic_load(&s->t_last_done) >= TRIM_IDLE_MS;
    if (!idle && t - s->t_trimmed < TRIM_BUSY_MS) return;
    atomic_store(&s->trim_wanted, 0);
    malloc_trim(0);
    s->t_trimmed = gd_now_ms();
}
