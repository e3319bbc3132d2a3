/* spec.h -- the route specs: one row per route with its name, method,
 * handler, whether it keeps compiled programs, and the fields its body
 * takes, each with its type and whether it shapes the compiled program.
 * The dispatcher (handle.c), the typed decode (decode.c), the cache key
 * (key.c), the daemon's metrics and usage text, and the OpenAPI
 * consistency test all read this one table: a new route is one spec here
 * and one handler. */
#ifndef GRADD_SPEC_H
#define GRADD_SPEC_H

#include <stddef.h>

struct gd_req;
struct cd_buf;
struct gd_timing;

/* What a field's value is, and so how decode.c reads it. */
typedef enum gd_field_type {
    GD_FIELD_GRAPH,     /* an expression string or a graph object; reads "dtype" too */
    GD_FIELD_DTYPE,     /* "float64" | "float32" (the short form's; read with the graph) */
    GD_FIELD_LEAVES,    /* {name: tensor}: values of the graph's inputs or params */
    GD_FIELD_ENCODING,  /* "nested" | "flat" | "b64" */
    GD_FIELD_BINARY,    /* binary_data_output: true | false */
    GD_FIELD_BOOL,      /* true | false */
    GD_FIELD_NAMES,     /* [node name, ...] */
    GD_FIELD_TENSORS,   /* {node name: tensor} */
    GD_FIELD_OPTIMIZER, /* {"name": "sgd" | "adam" | "adamw", hyper-parameters} */
    GD_FIELD_STATE,     /* the optimizer's state: {"step", "m", "v"} or {"velocity"} */
    GD_FIELD_COUNT,     /* an integer >= 1 */
    GD_FIELD_FRACTION,  /* a number in (0, 1] */
    GD_FIELD_BATCHES,   /* [{input name: tensor}, ...] */
    GD_FIELD_NON_FINITE,/* "stop" | "continue": what a step does when the loss or a param turns non-finite */
    GD_FIELD_FORMAT,    /* "json" | "onnx": gradient-graph's "format", step's "export" (onnx/onnx_write.h) */
    GD_FIELD_TYPE_COUNT
} gd_field_type;

typedef struct gd_field_spec {
    const char *name;        /* the top-level key */
    gd_field_type type;
    size_t offset;           /* of its decoded value in gd_args (request.h); 0 for fields
                                decoded into the request itself (graph, values, encoding) */
    int shapes_program;      /* 1: the compiled program depends on it, so it is in the cache
                                key; 0: a run-time value, or how the answer is written */
} gd_field_spec;

typedef int (*gd_route_fn)(struct gd_req *r, struct cd_buf *b, struct gd_timing *t);

typedef struct gd_route_spec {
    const char *name;               /* /v1/<name> */
    const char *method;             /* "POST" (a body) or "GET" */
    gd_route_fn handler;            /* NULL for ops, answered without a request */
    const gd_field_spec *fields;    /* (nfields) in decode order, "graph" first */
    int nfields;
    int cached;                     /* keeps its compiled programs between requests */
    int store;                      /* a graph store route (graphs.c): POST takes a graph's bytes (not a
                                       request object), GET a ref in its path ("graphs/{ref}") */
} gd_route_spec;

/* The spec of route name, or NULL. */
const gd_route_spec *gd_route_spec_find(const char *name);
/* Spec i for 0 <= i < gd_route_count() (api.h), else NULL. */
const gd_route_spec *gd_route_spec_at(int i);
/* The field of spec s named name, or NULL. */
const gd_field_spec *gd_route_field(const gd_route_spec *s, const char *name);
/* The JSON type of a field type, as OpenAPI spells it ("object", ...). */
const char *gd_field_json_type(gd_field_type t);

#endif
