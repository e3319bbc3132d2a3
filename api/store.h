/* store.h -- the content-addressed graph store (POST /v1/graphs): graphs
 * kept by "sha256:<hex of the body>", each with the summary its upload was
 * answered with, so any route can take "graph": {"ref": "sha256:..."}.
 *
 * It is a cache, not a database: bounded in bytes (a graph's body and its
 * summary), least recently used first out; a graph larger than the bound
 * is never kept. Entries are counted by reference, so a request keeps
 * using the graph it looked up while another evicts it. Thread-safe (one
 * mutex, as cache.h). No I/O here: the daemon persists graphs through the
 * hooks (server/graph_dir.c). */
#ifndef GRADD_STORE_H
#define GRADD_STORE_H

#include <stddef.h>
#include <stdint.h>

#define GD_REF_LEN 71 /* "sha256:" and 64 hex digits */

typedef enum gd_graph_format { GD_GRAPH_JSON, GD_GRAPH_ONNX } gd_graph_format;

/* One stored graph. Read-only once in the store. */
typedef struct gd_stored {
    char ref[GD_REF_LEN + 1];   /* "sha256:<hex>" */
    gd_graph_format format;
    char *body;                 /* (len) the bytes as uploaded, owned, NUL after them */
    size_t len;
    char *summary;              /* (summary_len) the JSON answer of POST and GET, owned */
    size_t summary_len;
    int64_t bytes;              /* what the entry holds: body, summary, the record, parsed */
    void *parsed;               /* the body as every request reads it (an ONNX model unpacked), made by
                                   the first request that needs it (gd_stored_parsed), or NULL */
    void (*parsed_free)(void *);
    int refs;                   /* holders: the store while listed, and each gd_store_get */
    int listed;                 /* in the store's list */
    struct gd_stored *prev, *next;
} gd_stored;

/* What the daemon does when the store changes (each called outside the
 * store's lock; either may be NULL). */
typedef struct gd_store_hooks {
    void *ctx;
    void (*added)(void *ctx, const gd_stored *g);   /* a new graph was kept */
    void (*evicted)(void *ctx, const char *ref);    /* a graph went out */
} gd_store_hooks;

typedef struct gd_store gd_store;

/* A store of at most max_bytes (0: it keeps nothing; every ref is then
 * unknown). hooks may be NULL. */
gd_store *gd_store_new(int64_t max_bytes, const gd_store_hooks *hooks);
void gd_store_free(gd_store *s);

/* A new entry owning body and summary (both malloc'd; freed with the
 * entry, also on failure). NULL out of memory. */
gd_stored *gd_stored_new(const char *ref, gd_graph_format format, char *body, size_t len, char *summary,
                         size_t summary_len);

/* Put g in the store. Returns 1 when kept (the store owns it; the added
 * hook ran), 0 when the ref was there already (g freed, the stored one
 * made most recent), -1 when g alone is over the bound (g freed). Older
 * graphs go out until the store is within its bound. */
int gd_store_put(gd_store *s, gd_stored *g);

/* The graph of ref, made most recent, with a reference the caller gives
 * back with gd_stored_release; NULL when the store has none. */
gd_stored *gd_store_get(gd_store *s, const char *ref);
/* Let go of g (s: the store it came from, or NULL for an entry never put). */
void gd_stored_release(gd_store *s, gd_stored *g);

/* g's parsed form, made once for all the requests that use g: the
 * first call runs parse(g, &bytes) (outside the lock) and keeps what it
 * made with g, counted in its bytes (older graphs go out as for a put),
 * while g is in the store and the store has room for it; later calls get
 * the kept one. *yours is 1 when what comes back was not kept (no room,
 * or g is out of the store): the caller frees it with free_fn. NULL when
 * parse failed. */
void *gd_stored_parsed(gd_store *s, gd_stored *g, void *(*parse)(const gd_stored *g, int64_t *bytes),
                       void (*free_fn)(void *), int *yours);

/* Graphs and bytes held now, and the bound. */
void gd_store_size(gd_store *s, int *entries, int64_t *bytes, int64_t *max_bytes);

struct gd_limits;
struct gd_err;

/* ---- graphs.c ---- */
/* The summary of a graph body (the JSON answer of POST and GET
 * /v1/graphs, malloc'd into *summary) and its ref, checking the body as
 * graphs.c describes. 0, or -1 with e set. lim NULL: the defaults. */
int gd_graph_summarize(gd_graph_format format, const char *body, size_t len, const struct gd_limits *lim,
                       char **summary, size_t *summary_len, char ref[GD_REF_LEN + 1], struct gd_err *e);
/* Keep body in s unless it is there: *out is the stored graph, with a
 * reference for the caller (gd_stored_release). Returns 1 when it was
 * kept now, 0 when it was there, 2 when s is NULL (*out is then the
 * caller's alone), or -1 with e set (a bad body, 413 over the store's
 * bound). */
int gd_graph_ingest(gd_store *s, gd_graph_format format, const char *body, size_t len,
                    const struct gd_limits *lim, gd_stored **out, struct gd_err *e);

/* 1 when ref is "sha256:" and 64 lowercase hex digits. */
int gd_ref_ok(const char *ref);

#endif
