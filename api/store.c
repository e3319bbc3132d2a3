/* store.c -- see store.h. A doubly linked list in recency order (most
 * recent first) under one mutex, looked up by whole ref; an entry is freed
 * when its last holder lets it go (the store, or a request using it). */
#include "store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct gd_store {
    pthread_mutex_t mu;
    int64_t max_bytes, bytes;
    int count;
    gd_stored *head, *tail;
    gd_store_hooks hooks;
};

int gd_ref_ok(const char *ref) {
    if (!ref || strncmp(ref, "sha256:", 7) || strlen(ref) != GD_REF_LEN) return 0;
    for (const char *p = ref + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

gd_store *gd_store_new(int64_t max_bytes, const gd_store_hooks *hooks) {
    gd_store *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_init(&s->mu, NULL);
    s->max_bytes = max_bytes > 0 ? max_bytes : 0;
    if (hooks) s->hooks = *hooks;
    return s;
}

static void entry_free(gd_stored *g) {
    if (g->parsed) g->parsed_free(g->parsed);
    free(g->body);
    free(g->summary);
    free(g);
}

gd_stored *gd_stored_new(const char *ref, gd_graph_format format, char *body, size_t len, char *summary,
                         size_t summary_len) {
    gd_stored *g = calloc(1, sizeof *g);
    if (!g || !ref || strlen(ref) > GD_REF_LEN) {
        free(g);
        free(body);
        free(summary);
        return NULL;
    }
    memcpy(g->ref, ref, strlen(ref) + 1);
    g->format = format;
    g->body = body;
    g->len = len;
    g->summary = summary;
    g->summary_len = summary_len;
    g->bytes = (int64_t)sizeof *g + (int64_t)len + 1 + (int64_t)summary_len + 1;
    g->refs = 1;
    return g;
}

static void unlink_entry(gd_store *s, gd_stored *g) {
    if (g->prev) g->prev->next = g->next;
    else s->head = g->next;
    if (g->next) g->next->prev = g->prev;
    else s->tail = g->prev;
    g->prev = g->next = NULL;
    g->listed = 0;
    s->count--;
    s->bytes -= g->bytes;
}

static void push_front(gd_store *s, gd_stored *g) {
    g->prev = NULL;
    g->next = s->head;
    if (s->head) s->head->prev = g;
    else s->tail = g;
    s->head = g;
    g->listed = 1;
    s->count++;
    s->bytes += g->bytes;
}

static gd_stored *find(gd_store *s, const char *ref) {
    gd_stored *g = s->head;
    while (g && strcmp(g->ref, ref)) g = g->next;
    return g;
}

void gd_store_free(gd_store *s) {
    if (!s) return;
    while (s->head) {
        gd_stored *g = s->head;
        unlink_entry(s, g);
        if (--g->refs == 0) entry_free(g);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Let the least recent entries but keep go until the store is within its
 * bound; they go on *evicted, through their next links (under the lock). */
static void evict_over(gd_store *s, const gd_stored *keep, gd_stored **evicted) {
    while (s->bytes > s->max_bytes && s->tail && s->tail != keep) {
        gd_stored *t = s->tail;
        unlink_entry(s, t);
        t->next = *evicted;
        *evicted = t;
    }
}

/* The evicted entries' hook calls and the store's references (outside the lock). */
static void release_evicted(gd_store *s, gd_stored *evicted) {
    while (evicted) {
        gd_stored *next = evicted->next;
        if (s->hooks.evicted) s->hooks.evicted(s->hooks.ctx, evicted->ref);
        gd_stored_release(s, evicted);
        evicted = next;
    }
}

int gd_store_put(gd_store *s, gd_stored *g) {
    gd_stored *evicted = NULL; /* the entries the store let go, on their next links */
    int rc;
    pthread_mutex_lock(&s->mu);
    gd_stored *old = find(s, g->ref);
    if (old) {
        unlink_entry(s, old);
        push_front(s, old);
        rc = 0;
    } else if (g->bytes > s->max_bytes) {
        rc = -1;
    } else {
        push_front(s, g);
        g->refs++; /* held by the hook call below until it returns */
        evict_over(s, g, &evicted);
        rc = 1;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != 1) entry_free(g);
    if (rc == 1 && s->hooks.added) s->hooks.added(s->hooks.ctx, g);
    release_evicted(s, evicted);
    if (rc == 1) gd_stored_release(s, g);
    return rc;
}

void *gd_stored_parsed(gd_store *s, gd_stored *g, void *(*parse)(const gd_stored *g, int64_t *bytes),
                       void (*free_fn)(void *), int *yours) {
    *yours = 0;
    pthread_mutex_lock(&s->mu);
    void *have = g->parsed; /* set once, under the lock, and kept until g is freed */
    pthread_mutex_unlock(&s->mu);
    if (have) return have;
    int64_t bytes = 0;
    void *p = parse(g, &bytes);
    if (!p) return NULL;
    gd_stored *evicted = NULL;
    pthread_mutex_lock(&s->mu);
    if (!g->parsed && g->listed && g->bytes + bytes <= s->max_bytes) {
        g->parsed = p;
        g->parsed_free = free_fn;
        g->bytes += bytes;
        s->bytes += bytes;
        evict_over(s, g, &evicted);
        p = NULL;
    }
    have = g->parsed;
    pthread_mutex_unlock(&s->mu);
    release_evicted(s, evicted);
    if (!p) return have;
    if (have) { /* another request kept its own first */
        free_fn(p);
        return have;
    }
    *yours = 1;
    return p;
}

gd_stored *gd_store_get(gd_store *s, const char *ref) {
    if (!s || !ref) return NULL;
    pthread_mutex_lock(&s->mu);
    gd_stored *g = find(s, ref);
    if (g) {
        unlink_entry(s, g);
        push_front(s, g);
        g->refs++;
    }
    pthread_mutex_unlock(&s->mu);
    return g;
}

void gd_stored_release(gd_store *s, gd_stored *g) {
    if (!g) return;
    if (s) pthread_mutex_lock(&s->mu);
    int last = --g->refs == 0;
    if (s) pthread_mutex_unlock(&s->mu);
    if (last) entry_free(g);
}

void gd_store_size(gd_store *s, int *entries, int64_t *bytes, int64_t *max_bytes) {
    pthread_mutex_lock(&s->mu);
    if (entries) *entries = s->count;
    if (bytes) *bytes = s->bytes;
    if (max_bytes) *max_bytes = s->max_bytes;
    pthread_mutex_unlock(&s->mu);
}
