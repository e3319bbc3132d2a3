/* request.h -- a decoded request: its JSON, dtype, the declared leaves
 * (inputs, params, constants) with their values, and the libgrad graph
 * built from them. Every graph error is reported at the JSON pointer of
 * the field that caused it. */
#ifndef GRADD_REQUEST_H
#define GRADD_REQUEST_H

#include "api.h"
#include "cache.h"
#include "expr.h"
#include "doc.h"
#include "tensor.h"
#include "spec.h"

#define GD_PATH_MAX 2048
#define GD_MAX_FIELDS 32   /* top-level fields of one route */
#define GD_MAX_LIST 1024   /* names in "outputs", "wrt" and the like */

typedef struct gd_origin gd_origin;

typedef enum gd_leaf_kind { GD_INPUT, GD_PARAM, GD_CONST } gd_leaf_kind;

typedef struct gd_leaf {
    char *name;
    gd_leaf_kind kind;
    int ndims;                      /* declared shape (-1 = any size); -1: taken from the value */
    int64_t dims[GR_MAX_RANK];
    gd_tensor value;                /* bound at run time */
    int has_value;
    int borrowed;                   /* value belongs to a batch (gd_args), not to the leaf */
    int node;                       /* graph node id, -1 before the build */
    char path[GD_PATH_MAX];         /* where the value came from (or the declaration) */
} gd_leaf;

/* A list of node names as the request gives them ("wrt", "outputs"). */
typedef struct gd_names {
    int given;
    int n;
    const char **names;             /* (n) strings of the parsed body */
} gd_names;

/* Tensors by name ("tangents", "vector", one batch, optimizer state). */
typedef struct gd_named {
    const char *name;               /* a key of the parsed body */
    char *path;                     /* JSON pointer of the value, owned */
    gd_tensor value;                /* owned */
} gd_named;

typedef struct gd_tensor_map {
    int given;
    int n;
    gd_named *items;                /* (n) owned */
} gd_tensor_map;

typedef struct gd_optimizer {
    int adam;                       /* 0: SGD */
    gr_sgd sgd;
    gr_adam ad;
} gd_optimizer;

/* The optimizer state a step request carries in. */
typedef struct gd_state {
    int given;
    int64_t step;                   /* Adam's count of steps already taken */
    gd_tensor_map first;            /* SGD "velocity", or Adam "m" */
    gd_tensor_map second;           /* Adam "v" */
} gd_state;

/* Everything a route reads from its body besides the graph and the leaf
 * values, decoded and type-checked before any graph is built (decode.c).
 * Route handlers read these, never the JSON. */
typedef struct gd_args {
    gd_names wrt, outputs;
    gd_tensor_map tangents, vector;
    gd_optimizer optimizer;         /* SGD, lr 0.01, when absent */
    gd_state state;
    int64_t steps;                  /* 1 when absent */
    int nbatches;                   /* 0: no "batches" */
    gd_tensor_map *batches;         /* (nbatches) input values of each batch */
    int return_gradients;
    double eps;                     /* 0 when absent: the dtype's default */
    int stream;                     /* step: "stream": true, answer NDJSON lines */
    int64_t report_every;           /* step: a progress line every k steps (1 when absent) */
    int non_finite_continue;        /* step: "on_non_finite": "continue" (default "stop") */
    int trace;                      /* gradient: "trace": true, every node's value and adjoint */
    int onnx;                       /* gradient-graph "format", step "export": "onnx" (else "json") */
} gd_args;

/* One tensor of a binary answer given in pieces: len bytes at src (in the
 * lent binary section), or at offset off of gd_req.bin when src is NULL. */
typedef struct gd_bin_ref {
    const char *src;
    size_t off, len;
} gd_bin_ref;

typedef struct gd_req {
    const char *route;
    gd_doc doc;
    gd_limits lim;
    gd_err *e;
    gr_dtype dt;
    gd_encoding enc;
    int64_t budget;                 /* bytes left for tensors, the graph and programs */
    int64_t plans_bytes;            /* arenas of the programs this request holds now (gd_compile) */
    gd_leaf *leaves;                /* (nleaves) */
    int nleaves, cap_leaves;
    const json_t *nodes;            /* long form "nodes", or NULL */
    const char *short_expr;         /* short form expression, or NULL */
    size_t short_len;
    char *loss_name;                /* NULL when the graph names no loss */
    gr_graph *g;
    int loss;                       /* node id or -1 */
    const volatile int *cancel;     /* stop when non-zero (may be NULL) */
    int64_t work_left;              /* of gd_call.work_budget; 0: unbounded */
    int deferred;                   /* stopped at the work budget */
    double deadline_ms;             /* of gd_call.deadline_ms (set by gd_handle_call); 0: none, or
                                       the first run was judged against it already */
    const char *binary;             /* Triton's binary section, or NULL */
    size_t binary_len;
    char *binary_rw;                /* binary, when the call lends it (gd_call.binary_writable); else NULL */
    int binary_out;                 /* "binary_data_output": true */
    cd_buf bin;                     /* binary response tensors */
    int answer_pieces;              /* the binary answer goes out as pieces (gd_call.split_binary with
                                       binary_rw): a tensor whose values lie in binary_rw (a param updated
                                       in place) is answered from there, the others from bin */
    gd_bin_ref *refs;               /* answer_pieces: the binary answer's tensors in order */
    int nrefs, refs_cap;
    gd_cache *cache;                /* NULL: no reuse */
    char *key;                      /* the request minus its values (cache key), or NULL */
    size_t key_len;
    gd_plan *plan;                  /* the program in use: taken from the cache, or made to go into it */
    const gd_route_spec *spec;
    gd_args args;
    int ndjson;                     /* the answer is NDJSON lines (a streamed step) */
    gd_line_fn on_line;             /* of gd_call: where progress lines go, or NULL */
    void *line_ctx;
    cd_buf lines;                   /* progress lines kept for the body when on_line is NULL */
    int64_t nlines;                 /* progress lines made so far (the status is committed after one) */
    struct gd_origin *origins;      /* (norigins, cap_origins) where node i came from (lower.c) */
    struct gd_onnx *onnx;           /* "graph": {"onnx": ...}: the model (onnx/onnx.h), or NULL */
    struct gd_store *store;         /* of gd_call: the graph store, or NULL */
    struct gd_stored *stored;       /* "graph": {"ref": ...}: the stored graph, held until close */
    gd_doc ref_doc;                 /* a stored JSON graph, parsed (r->doc.also points at it) */
    json_t *ref_nodes;              /* the stored graph's nodes and the request's "nodes" after them */
    int norigins, cap_origins;
    int *named;                     /* (nnamed, cap_named) the nodes the graph names: each long-form
                                       node, or the short form's f, in their order (lower.c) */
    int nnamed, cap_named;
} gd_req;

/* Parse the body and check its top-level fields against spec's, and lay
 * out the binary section. Returns 0 or -1 with r->e set. */
int gd_req_open(gd_req *r, const gd_call *call, const gd_route_spec *spec, gd_err *e);
/* Decode every field (decode.c), then take the program from the cache or
 * lower the graph (lower.c). */
int gd_req_build(gd_req *r);
void gd_req_close(gd_req *r);

/* ---- decode.c ---- */
/* Decode the body's fields in the spec's order: the graph's declarations
 * and the leaves' values into r, the rest into r->args. */
int gd_req_decode(gd_req *r);
void gd_args_free(gd_args *a);
/* Decode v (at path) as the new value of leaf l, checking its declared
 * shape; or give it a batch's value (borrowed). */
int gd_req_set_value(gd_req *r, gd_leaf *l, const json_t *v, const char *path);
int gd_req_set_batch_value(gd_req *r, gd_leaf *l, const gd_named *x);
/* out = base + "/" + token (escaped), GD_PATH_MAX bytes. */
void gd_sub_path(char *out, const char *base, const char *token);

/* ---- lower.c ---- */
/* The limits of the request's graphs: its node, element, rank and plan
 * limits, nodes also bounded by the memory budget. */
gr_limits gd_req_graph_limits(const gd_req *r);
/* (Re)build and finalize the graph from the leaves' current values: a
 * batch with other shapes rebuilds it. */
int gd_req_graph(gd_req *r);
/* Report a libgrad error at the JSON pointer of the field its node came
 * from. Returns -1. */
int gd_req_lib_error(gd_req *r, const gr_error *ge);
/* The node ids of names (given at field, e.g. "wrt") into ids; returns
 * the count or -1 (422 unknown_name at field/i). */
int gd_req_resolve(gd_req *r, const char *field, const gd_names *names, int *ids);

/* ---- request.c ---- */
/* Hand ex (compiled for outs[0..n)) and the graph to a plan that goes to
 * the cache when the request closes. Returns 1 when kept (the caller must
 * not free ex), 0 when there is no cache. */
int gd_req_keep(gd_req *r, gr_exec *ex, const int *outs, int n);
/* Set r->key: everything the program depends on (key.c). Returns 0, or
 * -1 out of memory (then no cache is used). */
int gd_req_key(gd_req *r);
/* A leaf by name, or NULL. */
gd_leaf *gd_req_leaf(gd_req *r, const char *name);
/* Declare a leaf (checking its name is valid and new); NULL with r->e set. */
gd_leaf *gd_req_add_leaf(gd_req *r, const char *name, gd_leaf_kind kind, const char *path);
/* A valid node or leaf name? */
int gd_name_ok(const char *s);

#endif
