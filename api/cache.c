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
    gd_plan *head, *tail;
    unsigned long long hits, misses;
};

gd_cache *gd_cache_new(int capacity) {
    gd_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->capacity = capacity > 0 ? capacity : 0;
    return c;
}

void gd_plan_free(gd_plan *p) {
    if (!p) return;
    gr_exec_free(p->ex);
    gr_graph_free(p->g);
    free(p->ids);
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
    gd_plan *evicted = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->capacity == 0) {
        evicted = p;
    } else {
        p->prev = NULL;
        p->next = c->head;
        if (c->head) c->head->prev = p;
        else c->tail = p;
        c->head = p;
        c->count++;
        if (c->count > c->capacity) {
            evicted = c->tail;
            unlink_plan(c, evicted);
        }
    }
    pthread_mutex_unlock(&c->mu);
    gd_plan_free(evicted); /* outside the lock: freeing a big arena takes time */
}

void gd_cache_stats(gd_cache *c, unsigned long long *hits, unsigned long long *misses) {
    pthread_mutex_lock(&c->mu);
    *hits = c->hits;
    *misses = c->misses;
    pthread_mutex_unlock(&c->mu);
}
