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

#define GD_PATH_MAX 2048

typedef enum gd_leaf_kind { GD_INPUT, GD_PARAM, GD_CONST } gd_leaf_kind;

typedef struct gd_leaf {
    char *name;
    gd_leaf_kind kind;
    int ndims;                      /* declared shape (-1 = any size); -1: taken from the value */
    int64_t dims[GR_MAX_RANK];
    gd_tensor value;                /* bound at run time */
    int has_value;
    int node;                       /* graph node id, -1 before the build */
    char path[GD_PATH_MAX];         /* where the value came from (or the declaration) */
} gd_leaf;

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
    int binary_out;                 /* "binary_data_output": true */
    cd_buf bin;                     /* binary response tensors */
    gd_cache *cache;                /* NULL: no reuse */
    char *key;                      /* the request minus its values (cache key), or NULL */
    size_t key_len;
    gd_plan *plan;                  /* the program in use: taken from the cache, or made to go into it */
    const json_t *inputs_from;      /* step: read inputs from this object (the first batch) */
    char inputs_from_path[GD_PATH_MAX];
} gd_req;

/* Parse the body and check its top-level fields against the route's
 * (allowed: a NULL-terminated list), and lay out the binary section.
 * Returns 0 or -1 with r->e set. */
int gd_req_open(gd_req *r, const gd_call *call, const char *const *allowed, gd_err *e);
/* Decode "graph", "inputs", "params" (and the values of every declared
 * leaf), then build and finalize the graph. */
int gd_req_build(gd_req *r);
void gd_req_close(gd_req *r);
/* (Re)build and finalize the graph from the leaves' current values: a
 * batch with other shapes rebuilds it. */
int gd_req_graph(gd_req *r);
/* Decode v (at path) as the new value of leaf l, checking its declared
 * shape. */
int gd_req_set_value(gd_req *r, gd_leaf *l, const json_t *v, const char *path);

/* Hand ex (compiled for outs[0..n)) and the graph to a plan that goes to
 * the cache when the request closes. Returns 1 when kept (the caller must
 * not free ex), 0 when there is no cache. */
int gd_req_keep(gd_req *r, gr_exec *ex, const int *outs, int n);

/* Set r->key: everything the program depends on (key.c). Returns 0, or
 * -1 out of memory (then no cache is used). */
int gd_req_key(gd_req *r);

/* A leaf by name, or NULL. */
gd_leaf *gd_req_leaf(gd_req *r, const char *name);
/* Report a libgrad error at the right JSON pointer. Returns -1. */
int gd_req_lib_error(gd_req *r, const gr_error *ge);
/* Resolve a list of node names at field key (e.g. "outputs") into ids;
 * returns the count or -1. */
int gd_req_node_list(gd_req *r, const char *key, int *ids, char **names, int max);
/* A valid node or leaf name? */
int gd_name_ok(const char *s);

#endif
