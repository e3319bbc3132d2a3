/* onnx_impl.h -- what the ONNX front-end's files share (not for the rest
 * of api/): the decoded model, host tensors (constants the lowering reads
 * and folds), and the tensor and attribute readers of onnx_read.c. */
#ifndef GRADD_ONNX_IMPL_H
#define GRADD_ONNX_IMPL_H

#include "onnx.h"
#include "onnx.pb-c.h"

/* ONNX TensorProto.DataType values gradd reads. */
enum {
    OX_FLOAT = 1, OX_UINT8 = 2, OX_INT8 = 3, OX_UINT16 = 4, OX_INT16 = 5, OX_INT32 = 6, OX_INT64 = 7,
    OX_STRING = 8, OX_BOOL = 9, OX_FLOAT16 = 10, OX_DOUBLE = 11, OX_UINT32 = 12, OX_UINT64 = 13,
    OX_BFLOAT16 = 16
};

/* A tensor held by the lowering, not by the graph: an integer
 * initializer, a Constant, or a folded shape computation. Values are
 * doubles (int64 values exactly up to 2^53). */
typedef struct ox_tensor {
    int rank;
    int64_t dims[GR_MAX_RANK];      /* (rank) */
    int64_t n;                      /* elements */
    double *v;                      /* (n) owned */
    int is_int;                     /* of an integer or bool type: arithmetic truncates */
} ox_tensor;

/* A set of names (borrowed strings), sorted for O(log n) lookups: the
 * checks over a model's initializers and inputs stay O(n log n) however
 * many it has. */
typedef struct ox_nameset {
    const char **v;                 /* (n) sorted by strcmp */
    size_t n, cap;
} ox_nameset;

/* Add name (not copied): 0, or -1 out of memory. Sort once after the
 * last add, before lookups. */
int gd_ox_nameset_add(ox_nameset *s, const char *name);
void gd_ox_nameset_sort(ox_nameset *s);
int gd_ox_nameset_has(const ox_nameset *s, const char *name);
/* How many times name was added. */
size_t gd_ox_nameset_count(const ox_nameset *s, const char *name);
void gd_ox_nameset_free(ox_nameset *s);

/* What an initializer becomes. */
typedef enum ox_init_role {
    OX_INIT_PARAM,                  /* a float initializer: a trainable param leaf */
    OX_INIT_CONST,                  /* frozen: a const leaf */
    OX_INIT_BUFFER,                 /* a BatchNormalization running statistic: an input leaf (not
                                       differentiated) that step updates and hands back as a buffer */
    OX_INIT_HOST                    /* an integer or bool initializer: a host constant */
} ox_init_role;

struct gd_onnx {
    Onnx__ModelProto *model;        /* unpacked under the request's budget, or parsed's (read only) */
    struct gd_onnx *parsed;         /* NULL, or the holder of model: a stored graph's, unpacked once
                                       for every request (gd_stored_parsed), or one this request
                                       unpacked from it alone (parsed_owned) */
    int parsed_owned;
    const Onnx__GraphProto *graph;
    int64_t opset;                  /* of the default domain */
    int64_t alloc_bytes;            /* what the unpacked model holds */
    int64_t alloc_cap;
    ox_init_role *roles;            /* (graph->n_initializer) */
    ox_nameset inits;               /* the initializers' names */
    ox_nameset bn_stats;            /* the names feeding BatchNormalization's running mean and var (once
                                       per use: a name two nodes share is in twice) */
    ox_nameset int_inputs;          /* graph inputs of an integer or bool type */
    const char **outputs;           /* (noutputs) the model's output names */
    int noutputs;
    char *loss_expr;                /* "loss" that names no model value, or NULL */
    size_t loss_len;
};

/* Read tensor t (an initializer or attribute value) into *out, at most
 * max_elements elements. 0, or -1 with why (cap bytes) saying what is
 * wrong: external data, strings, an unknown type, a data length that
 * does not match the dims. */
int gd_ox_tensor_read(const Onnx__TensorProto *t, int64_t max_elements, ox_tensor *out, char *why, size_t cap);
void gd_ox_tensor_free(ox_tensor *t);
/* 1 for the float types gradd computes in (float, double, float16, bfloat16). */
int gd_ox_is_float_type(int32_t data_type);

/* What names node n in messages: its name, else its first output. */
const char *gd_ox_node_label(const Onnx__NodeProto *n);

/* The attribute named name of node n, or NULL. */
const Onnx__AttributeProto *gd_ox_attr(const Onnx__NodeProto *n, const char *name);

/* Unpack the n bytes at p as a ModelProto into *m, allocating at most cap
 * bytes. 0, or -1 with why set. */
int gd_ox_model_unpack(gd_onnx *m, const uint8_t *p, size_t n, int64_t cap, char *why, size_t why_cap);

#endif
