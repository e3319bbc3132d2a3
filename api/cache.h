/* cache.h -- compiled programs kept between requests. An entry is a
 * finalized graph with its derivative nodes, the program compiled from it
 * (its arena included), and the node ids the route reads; its key is
 * everything about a request except its run-time values (key.c), so two
 * requests with the same key compute the same program on different
 * numbers. A request takes an entry out while it runs (an exec is not
 * shared between threads) and puts it back after, only when it succeeded;
 * the least recently used entries beyond the capacity in entries or in
 * bytes are freed, and an entry larger than the byte capacity is never
 * kept. Thread-safe. */
#ifndef GRADD_CACHE_H
#define GRADD_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "grad.h"

typedef struct gd_cache gd_cache;

typedef struct gd_plan {
    char *key;          /* owned */
    size_t key_len;
    gr_graph *g;        /* owned */
    gr_exec *ex;        /* owned */
    int *ids;           /* (nids) the route's output node ids, owned */
    struct gd_origin *origins; /* (norigins) where each node of g came from (lower.c), owned */
    int norigins;
    int nids;
    int64_t bytes;      /* what the entry holds: key, graph, program and arena (set by the first gd_cache_put) */
    struct gd_plan *prev, *next;
} gd_plan;

/* A cache of at most capacity plans holding at most max_bytes in all (0
 * for either: nothing is kept). */
gd_cache *gd_cache_new(int capacity, int64_t max_bytes);
void gd_cache_free(gd_cache *c);

/* Take the plan for key out of the cache, or NULL (counted as a miss). */
gd_plan *gd_cache_take(gd_cache *c, const char *key, size_t len);
/* Put a plan (back) in; the cache owns it afterwards. */
void gd_cache_put(gd_cache *c, gd_plan *p);
void gd_plan_free(gd_plan *p);

/* Hits and misses so far. */
void gd_cache_stats(gd_cache *c, unsigned long long *hits, unsigned long long *misses);
/* Entries and bytes held now. */
void gd_cache_size(gd_cache *c, int *entries, int64_t *bytes);

#endif
