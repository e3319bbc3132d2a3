/* onnx_emit.h -- what the ONNX writer's two files share: the model being
 * written (ox_w: protobuf-c structs, every allocation kept for one free),
 * the node builders, and the op emitters of onnx_emit.c (one libgrad node
 * into standard ONNX nodes, or one "ai.gradd" node). Also the reader's
 * side of "ai.gradd": such a node lowers to the libgrad op of its name. */
#ifndef GRADD_ONNX_EMIT_H
#define GRADD_ONNX_EMIT_H

#include "onnx_lower.h"
#include "onnx_write.h"

#define OX_GRADD_DOMAIN "ai.gradd"
#define OX_EXPORT_OPSET 17

/* A growable array of pointers. */
typedef struct ox_vec {
    void **v;                       /* (n, cap) */
    size_t n, cap;
} ox_vec;

typedef struct ox_w {
    gd_req *r;
    const gr_graph *g;
    int32_t elem;                   /* OX_FLOAT or OX_DOUBLE: the graph's dtype */
    ox_vec blocks;                  /* every allocation of the model, freed together */
    ox_vec nodes;                   /* Onnx__NodeProto *, in order */
    ox_vec inits;                   /* Onnx__TensorProto * */
    ox_vec inputs, outputs;         /* Onnx__ValueInfoProto * */
    ox_vec infos;                   /* Onnx__ValueInfoProto *: each written node's value, its type and shape */
    char **names;                   /* (node count) the ONNX value name of each graph node, or NULL */
    int custom;                     /* some node is in domain ai.gradd */
    int oom;                        /* out of memory, or over left */
    int64_t left;                   /* bytes the request's memory budget still allows the model */
    const char *cur;                /* the output of the node being written: temp names extend it */
    int tmpk;                       /* temps made for it so far */
    int64_t ntmp;                   /* temps made in all */
} ox_w;

/* Allocation kept in W (zeroed, charged to W->left), NULL when out of
 * memory or over the budget (W->oom set). */
void *gd_ow_alloc(ox_w *W, size_t size);
char *gd_ow_strdup(ox_w *W, const char *s);
int gd_ow_push(ox_w *W, ox_vec *v, void *x);

/* A fresh value name for the node being written: "<out>:<k>". */
const char *gd_ow_tmp(ox_w *W);
/* A node of op type (default domain, or domain) over in[0..nin) with one
 * output out; appended. NULL out of memory. */
Onnx__NodeProto *gd_ow_node(ox_w *W, const char *type, const char *domain, const char *const *in, int nin,
                            const char *out);
/* gd_ow_node with the output a fresh temp: its name, or NULL. */
const char *gd_ow_tmp_node(ox_w *W, const char *type, const char *const *in, int nin, Onnx__NodeProto **node);
/* Attributes of node n. */
void gd_ow_attr_int(ox_w *W, Onnx__NodeProto *n, const char *name, int64_t v);
void gd_ow_attr_ints(ox_w *W, Onnx__NodeProto *n, const char *name, const int64_t *v, int count);
void gd_ow_attr_float(ox_w *W, Onnx__NodeProto *n, const char *name, float v);
void gd_ow_attr_str(ox_w *W, Onnx__NodeProto *n, const char *name, const char *s);
void gd_ow_attr_tensor(ox_w *W, Onnx__NodeProto *n, const char *name, Onnx__TensorProto *t);
/* The type (the graph's dtype) and shape s of value name. */
Onnx__ValueInfoProto *gd_ow_value_info(ox_w *W, const char *name, const gr_shape *s);
/* A tensor of data type type and dims (rank) holding the raw little-endian
 * bytes (copied), named name (may be NULL). */
Onnx__TensorProto *gd_ow_tensor(ox_w *W, const char *name, int32_t type, int rank, const int64_t *dims,
                                const void *raw, size_t bytes);
/* Constants as Constant nodes (temps): int64 values (a 1-D list), one
 * number of the graph's dtype (a scalar), a tensor of the graph's dtype
 * of shape s holding n copies of v. Their names, or NULL. */
const char *gd_ow_i64s(ox_w *W, const int64_t *v, int n);
const char *gd_ow_scalar(ox_w *W, double v);
const char *gd_ow_filled(ox_w *W, const gr_shape *s, double v);

/* Write graph node id (an op node) whose operands are named in[0..nin)
 * as nodes computing the value named out. 0, or -1 (W->oom, or a node
 * that cannot be written: msg says why, cap bytes). */
int gd_ow_emit(ox_w *W, int id, const char *const *in, int nin, const char *out, char *msg, size_t cap);

/* The reader's side: 1 when n is an "ai.gradd" node naming a libgrad op. */
int gd_ox_is_gradd_node(const Onnx__NodeProto *n);
/* The handler of such nodes: the libgrad op of the node's op_type over its
 * inputs, its attributes read through lib's attribute table. */
extern const ox_handler gd_ox_gradd_handler;

#endif
