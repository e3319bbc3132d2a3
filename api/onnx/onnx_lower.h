/* onnx_lower.h -- the lowering's state and the helpers an op's lowering
 * (onnx_ops.c) uses. A lowering reads its node's inputs as ids of the
 * current graph (materializing host constants on demand) or as host
 * constants (attribute-like inputs: shapes, axes, pads), makes libgrad
 * nodes with gd_ox_op (their shapes are known at once) and sets its
 * outputs. The driver (onnx_lower.c) runs it on the scratch graph, or on
 * a throwaway float64 graph when every input is a host constant, and then
 * evaluates the outputs into host constants (constant folding). */
#ifndef GRADD_ONNX_LOWER_H
#define GRADD_ONNX_LOWER_H

#include "onnx_impl.h"

#define OX_MAX_IO 64            /* inputs or outputs of one node gradd lowers */

typedef struct ox_value {
    const char *name;           /* the model's name of the value */
    int sid;                    /* node id in the scratch graph, or -1 */
    ox_tensor *c;               /* host constant (owned), or NULL */
    ox_tensor *lc;              /* a float input's request value, read as a constant (owned), or NULL */
    int is_int;                 /* of an integer or bool type */
} ox_value;

typedef struct ox_low {
    gd_req *r;
    gd_onnx *m;
    gr_graph *sg;               /* the scratch graph: finalized, leaves as r's, nodes by id */
    gr_graph *g;                /* where the current node's ops go: sg or a fold graph */
    int folding;                /* g is a fold graph (float64; inputs all host constants) */
    ox_value *vals;             /* (nvals, capvals) by name, hashed in hash (hcap slots, -1 free) */
    int nvals, capvals;
    int *hash, hcap;
    char **names;               /* (cap_names) the name given to scratch node i in the request's graph, or NULL */
    int cap_names;
    /* the node being lowered */
    const Onnx__NodeProto *node;
    int nin, nout;
    int in_ids[OX_MAX_IO];      /* its inputs' ids in g, -1 until asked for */
    int out_ids[OX_MAX_IO];     /* its outputs' ids in g, or -1 */
    ox_tensor *out_c[OX_MAX_IO];/* its outputs as host constants, or NULL */
    int out_int[OX_MAX_IO];     /* folded output k is integer (1), float (0), or as its inputs (-1) */
    char err[320];              /* why the node could not be lowered */
    gd_code code;               /* and its error code */
} ox_low;

typedef int (*ox_lower_fn)(ox_low *L);

typedef struct ox_handler {
    const char *type;           /* ONNX op_type (default domain) */
    ox_lower_fn fn;
} ox_handler;

/* The op table of onnx_ops.c, ending with {NULL, NULL}. */
extern const ox_handler gd_ox_handlers[];
const ox_handler *gd_ox_handler(const char *type);
/* The op types of onnx_more.c and onnx_more_fold.c (TopK, the scatters, ...), or NULL. */
const ox_handler *gd_ox_more_handler(const char *type);

/* ONNX's training ops (Adam, Adagrad, Momentum, Gradient: onnx_train.c). */
#define OX_TRAINING_DOMAIN "ai.onnx.preview.training"
const ox_handler *gd_ox_train_handler(const char *type);

/* Input k is given (present and not the empty name). */
int gd_ox_has(ox_low *L, int k);
/* Input k as a node of L->g, or -1 (error set). */
int gd_ox_in(ox_low *L, int k);
/* The scratch node holding the model's value name (lowered so far), or -1
 * (no such value, or a host constant). */
int gd_ox_value_id(ox_low *L, const char *name);
/* Input k as a host constant, or NULL when it is computed at run time. */
const ox_tensor *gd_ox_cin(ox_low *L, int k);
/* gd_ox_cin, or else the request's value of input k when it is a graph
 * input (a request that reads one so is not cached: its program depends
 * on the value). */
const ox_tensor *gd_ox_cin_value(ox_low *L, int k);
/* Input k is of an integer or bool type. */
int gd_ox_in_int(ox_low *L, int k);
/* Input k, which must be a constant, as at most max integers into out;
 * the count, or -1 (error set). */
int gd_ox_ints_in(ox_low *L, int k, int64_t *out, int max);
const gr_shape *gd_ox_shape(ox_low *L, int id);
/* A node of op name over ids with attrs (NULL: none) in L->g, or -1. */
int gd_ox_op(ox_low *L, const char *op, const int *ids, int n, const gr_attrs *at);
/* A constant of L->g holding t, or a scalar v. -1 on failure. */
int gd_ox_const(ox_low *L, const ox_tensor *t);
int gd_ox_scalar(ox_low *L, double v);
/* Set output k to node id, or to host constant t (taken). */
void gd_ox_out(ox_low *L, int k, int id);
/* gd_ox_out of node id as a value of an integer (is_int) or float type:
 * 0, or -1 when id is -1 (its error set). */
int gd_ox_out_typed(ox_low *L, int k, int id, int is_int);
void gd_ox_out_const(ox_low *L, int k, ox_tensor *t);
/* Attributes of the node: int, float, ints (count or -1 when absent),
 * string (into buf), tensor. */
int64_t gd_ox_ai(ox_low *L, const char *name, int64_t def);
double gd_ox_af(ox_low *L, const char *name, double def);
int gd_ox_aints(ox_low *L, const char *name, int64_t *out, int max);
const char *gd_ox_as(ox_low *L, const char *name, const char *def, char *buf, size_t cap);
const Onnx__TensorProto *gd_ox_at(ox_low *L, const char *name);
/* Fail the node: 422 invalid_argument with the message. Returns -1. */
int gd_ox_fail(ox_low *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Give scratch node sid the name name in the request's graph (the first
 * name given wins; nodes not named are onnx#<id>). 0, or -1 out of memory. */
int gd_ox_name(ox_low *L, int sid, const char *name);
/* A host tensor of rank dims (n elements), zeroed; NULL out of memory. */
ox_tensor *gd_ox_tensor_new(int rank, const int64_t *dims);

#endif
