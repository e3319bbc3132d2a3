/* api.h -- gradd's JSON API as a pure function from a request to a
 * response. The daemon (POST /v1/<route>) and the command line (gradd run)
 * both call gd_handle; nothing here does I/O or keeps state between calls.
 *
 * Responses are JSON. Errors are {"error": "<sentence>", "code": "<stable
 * code>", "path": "<JSON pointer to the field at fault>"} with the HTTP
 * status the daemon answers with: 400 malformed JSON or request, 404
 * unknown route, 413 over a limit, 422 valid JSON that makes no sense as a
 * graph (unknown op or name, cycle, shape mismatch, non-scalar loss, bad
 * run-time value). */
#ifndef GRADD_API_H
#define GRADD_API_H

#include <stddef.h>
#include <stdint.h>

/* Every limit is checked before anything is sized by the request. */
typedef struct gd_limits {
    size_t max_body_bytes;     /* request body */
    int max_depth;             /* JSON nesting */
    int64_t max_nodes;         /* graph nodes, gradient nodes included */
    int max_rank;              /* tensor rank */
    int64_t max_elements;      /* elements of one tensor */
    int64_t max_total_bytes;   /* bytes of all tensors of a request plus the plan's arena and its JSON tree */
    int64_t max_tree_bytes;    /* bytes the parsed JSON may take (estimated; at most 24 x the body + 1 MiB) */
    size_t max_expr_len;       /* bytes of one expression */
    int64_t max_steps;         /* optimizer steps (steps x batches) in one request */
    int64_t max_check_elements;/* elements a finite-difference check may perturb */
} gd_limits;

/* 64 MiB body, depth 64, 1M nodes, rank 8, 2^26 elements, 2 GiB total,
 * 256 MiB of JSON tree, 64 KiB expressions, 10,000 steps, 100,000 check elements. */
gd_limits gd_limits_default(void);

/* The memory the parsed JSON of a body of body_len bytes may take: 24
 * bytes a body byte plus 1 MiB, at most max_tree_bytes and
 * max_total_bytes. What a daemon should hold in reserve for a body besides
 * the body itself. */
int64_t gd_tree_bytes_max(const gd_limits *lim, size_t body_len);

/* Milliseconds of CLOCK_MONOTONIC: the one clock of the API and the
 * daemon (phase timings, deadlines). */
double gd_now_ms(void);

/* Wall-clock milliseconds of each phase of one request. */
typedef struct gd_timing {
    double decode_ms, compile_ms, execute_ms, encode_ms;
} gd_timing;

/* A run of a binary answer's bytes. */
typedef struct gd_piece {
    const char *p;
    size_t len;
} gd_piece;

typedef struct gd_response {
    int status;          /* HTTP status */
    char *body;          /* JSON text, malloc'd, NUL-terminated; binary tensors follow it */
    size_t len;          /* bytes of body without the NUL */
    size_t json_len;     /* bytes of JSON at the start of body (== len unless binary) */
    char *tail;          /* gd_call.split_binary: the binary tensors (tail_len bytes, malloc'd), sent
                            after body, which then holds the JSON alone; else NULL */
    size_t tail_len;
    size_t tail_cap;     /* bytes of tail's buffer (gd_call.bin_buf's, when it held the tensors) */
    gd_piece *pieces;    /* NULL, or (with gd_call.split_binary and binary_writable) the binary tensors
                            as npieces runs, in order, each in tail or in the call's binary section
                            (malloc'd; tail is then only where they point) */
    int npieces;
    int uses_binary;     /* a piece lies in the call's binary section: it must outlive the answer */
    int ndjson;          /* 1: body is newline-delimited JSON (a streamed step): the lines not
                            given to gd_call.on_line yet, the final one at least; status 200 */
    int streamed;        /* 1: lines went to gd_call.on_line before this body (status 200 was
                            committed with the first of them) */
    gd_timing timing;
} gd_response;

/* Where a streamed answer's lines go as they are made: line is one JSON
 * object and its "\n" (len bytes, not NUL-terminated), valid during the
 * call. Called on the thread computing the request. */
typedef void (*gd_line_fn)(void *ctx, const char *line, size_t len);

/* One request in full. binary is Triton's binary section (the bytes after
 * the JSON header, Inference-Header-Content-Length long), or NULL. */
typedef struct gd_call {
    const char *route;
    const char *body;            /* the JSON */
    size_t len;
    const char *binary;
    size_t binary_len;
    int binary_writable;         /* 1: binary is lent to the call, to write and to point into: tensors
                                    whose bytes are their values are used where they lie (no copy), a
                                    step updates its params there, and with split_binary the answer
                                    sends them from there (gd_response.uses_binary: binary must then
                                    live until the answer is sent) */
    const gd_limits *lim;        /* NULL: defaults */
    const volatile int *cancel;  /* NULL: never cancelled */
    struct gd_cache *cache;      /* compiled programs to reuse (cache.h), or NULL */
    int split_binary;            /* 1: a binary answer's tensors come in gd_response.tail, not
                                    copied after the JSON in body (the daemon sends the two as
                                    one response, from where they are) */
    int64_t work_budget;         /* 0: unbounded. Else the most work (estimated flops plus
                                    arena bytes / 8, summed over every run) the call may
                                    do; a request that needs more stops before running
                                    past it and answers GD_DEFERRED, for the caller to
                                    run again without a budget (the daemon: on a worker
                                    instead of its I/O thread) */
    double deadline_ms;          /* 0: none. Else when *cancel will be raised, in ms of
                                    CLOCK_MONOTONIC (gd_now_ms): when the request's first
                                    run's estimated time (at GD_PEAK_FLOPS_PER_MS, far
                                    above what this machine does) clearly cannot fit in
                                    the time left, it is refused before it starts, 504
                                    "deadline_exceeded" */
    int stream;                  /* 1: the client asked for NDJSON (Accept: application/x-ndjson);
                                    as "stream": true in a step request's body. Routes that do not
                                    stream ignore it */
    gd_line_fn on_line;          /* NULL: a streamed answer's lines all come in the response body.
                                    Else each progress line goes here as it is made, and the
                                    response (ndjson, streamed) holds the final line */
    void *line_ctx;              /* on_line's ctx */
    struct gd_store *store;      /* the graph store (store.h): POST /v1/graphs keeps graphs in it,
                                    GET /v1/graphs/{ref} and "graph": {"ref"} read it; NULL: none */
    const char *content_type;    /* POST /v1/graphs: the body's media type, "application/onnx" or
                                    "application/json" (NULL: JSON) */
    const char *path_ref;        /* GET /v1/graphs/{ref}: the ref of the path */
    char *bin_buf;               /* NULL, or a malloc'd buffer of bin_cap bytes for a binary answer's
                                    tensors, which the call takes: it comes back as gd_response.tail
                                    (tail_cap its size) or is freed. The daemon offers buffers the
                                    kernel has sent from before (server/memory.c says why) */
    size_t bin_cap;
} gd_call;

/* The throughput the deadline estimate assumes: 1 TFLOP/s, over ten times
 * one core's measured sgemm peak (about 85 GFLOP/s), so only a request
 * that could not finish on any machine of this kind is refused unrun. */
#define GD_PEAK_FLOPS_PER_MS 1e9

/* gd_response.status of a call that went over its work_budget: nothing
 * was answered (body NULL). */
#define GD_DEFERRED 0

/* gd_handle with everything: tensors may be {"shape", "parameters":
 * {"binary_data_size": K}}, their K bytes taken from the binary section in
 * the order such objects appear in the JSON; "binary_data_output": true
 * writes every response tensor that way (json_len < len then). */
void gd_handle_call(const gd_call *call, gd_response *out);

/* The routes, by name: "forward", "gradient", "step", "jvp", "hvp",
 * "check", "gradient-graph", "ops". 1 when route is one of them. */
int gd_route_known(const char *route);
/* 1 when route takes a body (all but "ops"). */
int gd_route_has_body(const char *route);
/* The routes in their table's order: gd_route_name(i) for 0 <= i <
 * gd_route_count() (the daemon's metrics labels and usage text read it). */
int gd_route_count(void);
const char *gd_route_name(int i);

/* Handle one request: route, body (len bytes, need not be terminated; may
 * be NULL for "ops"), limits (NULL: defaults). Always fills *out; the
 * caller frees it with gd_response_free. Never aborts on bad input. */
void gd_handle(const char *route, const char *body, size_t len, const gd_limits *lim, gd_response *out);

/* gd_handle that stops computing, and answers 504 "cancelled", once
 * *cancel becomes non-zero (set by another thread: a deadline). */
void gd_handle_cancellable(const char *route, const char *body, size_t len, const gd_limits *lim,
                           const volatile int *cancel, gd_response *out);
void gd_response_free(gd_response *r);

/* Seed jansson's hash function; call once at start-up before threads. */
void gd_init(void);

#endif
