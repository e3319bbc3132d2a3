/* memory.c -- the memory requests in flight may take, big buffers kept
 * between requests, and freed memory going back. A request with a body
 * reserves what the body and its JSON tree may cost against
 * --max-inflight-bytes from its headers to its completion (http.c answers
 * 413 or 503 past it); the kept buffers hold that budget too, until a
 * request needs it; once the daemon is idle, the watchdog frees them and
 * gives malloc's freed pages back (srv_mem_trim). */
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

/* ---- big buffers kept between requests ---------------------------------
 * The first time the kernel reads or writes a page of a process (a send
 * from it, a write() of it) costs far more on this project's VMs than a
 * copy: the daemon sent a 45 MB answer from freshly allocated memory in
 * 44-59 ms, a C program the same bytes from a buffer it had sent before in
 * 9-15 ms (its first send: 38-221 ms), and a write() of such a fresh
 * answer to a memfd alone took 53 ms. With these buffers kept, the daemon
 * sends it in 8-14 ms. Buffers of
 * KEPT_MIN_BYTES or more that a request is done with (its body, its
 * binary answer) are kept for the next requests, at most SRV_KEPT_COUNT. They
 * hold --max-inflight-bytes as requests do (the budget bounds the daemon's
 * memory either way), are freed when a request needs that room, and once
 * the daemon is idle (srv_mem_trim). */
#define KEPT_MIN_BYTES ((size_t)8 << 20)

/* Take bytes of --max-inflight-bytes: 0, or -1 (nothing taken) past it. */
static int budget_take(server *s, int64_t bytes) {
    long long have = atomic_load(&s->inflight_bytes);
    do {
        if (have + bytes > s->cfg.max_inflight_bytes) return -1;
    } while (!atomic_compare_exchange_weak(&s->inflight_bytes, &have, have + bytes));
    return 0;
}

void *srv_kept_take(server *s, size_t n, size_t *cap) {
    void *p = NULL;
    if (n > 0 && n < KEPT_MIN_BYTES) return NULL;
    pthread_mutex_lock(&s->kept_mu);
    int best = -1;
    /* the smallest that holds n, if not over twice n (a request's
     * reservation covers what it asked for); n 0: the biggest */
    for (int i = 0; i < s->n_kept; i++)
        if (n ? s->kept_cap[i] >= n && s->kept_cap[i] / 2 <= n && (best < 0 || s->kept_cap[i] < s->kept_cap[best])
              : best < 0 || s->kept_cap[i] > s->kept_cap[best])
            best = i;
    if (best >= 0) {
        p = s->kept[best];
        *cap = s->kept_cap[best];
        s->n_kept--;
        s->kept[best] = s->kept[s->n_kept];
        s->kept_cap[best] = s->kept_cap[s->n_kept];
        atomic_fetch_sub(&s->inflight_bytes, (long long)*cap);
        atomic_fetch_sub(&s->kept_bytes, (long long)*cap);
    }
    pthread_mutex_unlock(&s->kept_mu);
    return p;
}

void srv_kept_give(server *s, void *p, size_t cap) {
    if (!p) return;
    if (cap >= KEPT_MIN_BYTES && cap <= (size_t)INT64_MAX) {
        pthread_mutex_lock(&s->kept_mu);
        int keep = s->n_kept < SRV_KEPT_COUNT && budget_take(s, (int64_t)cap) == 0;
        if (keep) {
            s->kept[s->n_kept] = p;
            s->kept_cap[s->n_kept++] = cap;
            atomic_fetch_add(&s->kept_bytes, (long long)cap);
        }
        pthread_mutex_unlock(&s->kept_mu);
        if (keep) return;
    }
    free(p);
}

void srv_kept_drop(server *s) {
    pthread_mutex_lock(&s->kept_mu);
    for (int i = 0; i < s->n_kept; i++) {
        free(s->kept[i]);
        atomic_fetch_sub(&s->inflight_bytes, (long long)s->kept_cap[i]);
        atomic_fetch_sub(&s->kept_bytes, (long long)s->kept_cap[i]);
    }
    s->n_kept = 0;
    pthread_mutex_unlock(&s->kept_mu);
}

void *srv_body_alloc(server *s, size_t n, size_t *cap) {
    void *p = srv_kept_take(s, n, cap);
    if (p) return p;
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
    if (budget_take(s, bytes) < 0) { /* the kept buffers' room first */
        if (atomic_load(&s->kept_bytes) == 0) return -1;
        srv_kept_drop(s);
        if (budget_take(s, bytes) < 0) return -1;
    }
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
    if (idle) srv_kept_drop(s);
    malloc_trim(0);
    s->t_trimmed = gd_now_ms();
}
