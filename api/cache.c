/* cache.c -- see cache.h. A doubly linked list in recency order (most
 * recent first) under one mutex; lookups compare whole keys, so no two
 * different requests can ever share a plan. */
#include "cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct gd_cache {
    pthread_mutex_t mu;
    int capacity, count;
    int64_t max_bytes, bytes;
    gd_plan *head, *tail;
    unsigned long long hits, misses;
};

gd_cache *gd_cache_new(int capacity, int64_t max_bytes) {
    gd_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->capacity = capacity > 0 && max_bytes > 0 ? capacity : 0;
    c->max_bytes = max_bytes > 0 ? max_bytes : 0;
    return c;
}

/* What plan p holds: its key, its graph (nodes, names, constants), and its
 * program with the arena (about 32 bytes of program a node). */
static int64_t plan_bytes(const gd_plan *p) {
    gr_exec_stats st = {0};
    if (p->ex) gr_exec_get_stats(p->ex, &st);
    int64_t nodes = p->g ? gr_graph_node_count(p->g) : 0;
    return (int64_t)sizeof *p + (int64_t)p->key_len + (int64_t)p->nids * (int64_t)sizeof *p->ids +
           (p->g ? gr_graph_bytes(p->g) : 0) + st.arena_bytes + nodes * 32;
}

void gd_plan_free(gd_plan *p) {
    if (!p) return;
    gr_exec_free(p->ex);
    gr_graph_free(p->g);
    free(p->ids);
    free(p->origins);
    free(p->key);
    free(p);
}

static void unlink_plan(gd_cache *c, gd_plan *p) {
    if (p->prev) p->prev->next = p->next;
    else c->head = p->next;
    if (p->next) p->next->prev = p->prev;
    else c->tail = p->prev;
    p->prev = p->next = NULL;
    c->count--;
    c->bytes -= p->bytes;
}

void gd_cache_free(gd_cache *c) {
    if (!c) return;
    while (c->head) {
        gd_plan *p = c->head;
        unlink_plan(c, p);
        gd_plan_free(p);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

gd_plan *gd_cache_take(gd_cache *c, const char *key, size_t len) {
    pthread_mutex_lock(&c->mu);
    gd_plan *p = c->head;
    while (p && !(p->key_len == len && memcmp(p->key, key, len) == 0)) p = p->next;
    if (p) {
        unlink_plan(c, p);
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->mu);
    return p;
}

void gd_cache_put(gd_cache *c, gd_plan *p) {
    gd_plan *evicted = NULL; /* a list of what goes, freed outside the lock: freeing a big arena takes time */
    if (!p->bytes) p->bytes = plan_bytes(p); /* a kept plan's graph and program never change */
    pthread_mutex_lock(&c->mu);
    if (c->capacity == 0 || p->bytes > c->max_bytes) {
        p->next = NULL;
        evicted = p;
    } else {
        p->prev = NULL;
        p->next = c->head;
        if (c->head) c->head->prev = p;
        else c->tail = p;
        c->head = p;
        c->count++;
        c->bytes += p->bytes;
        while (c->count > c->capacity || c->bytes > c->max_bytes) {
            gd_plan *old = c->tail;
            unlink_plan(c, old);
            old->next = evicted;
            evicted = old;
        }
    }
    pthread_mutex_unlock(&c->mu);
    while (evicted) {
        gd_plan *next = evicted->next;
        gd_plan_free(evicted);
        evicted = next;
    }
}

void gd_cache_stats(gd_cache *c, unsigned long long *hits, unsigned long long *misses) {
    pthread_mutex_lock(&c->mu);
    *hits = c->hits;
    *misses = c->misses;
    pthread_mutex_unlock(&c->mu);
}

void gd_cache_size(gd_cache *c, int *entries, int64_t *bytes) {
    pthread_mutex_lock(&c->mu);
    *entries = c->count;
    *bytes = c->bytes;
    pthread_mutex_unlock(&c->mu);
}
