/* onnx.h -- the ONNX front-end: "graph": {"onnx": "<base64 of a model>"}
 * on every route. A second way into the request's leaves and graph,
 * beside the expression and long forms:
 *
 *   decode (onnx_read.c + onnx_decode.c): the model's bytes are unpacked
 *   by protobuf-c (code generated at build time from Debian's onnx.proto)
 *   under the request's byte budget; graph inputs become inputs with their
 *   declared shapes (symbolic dims -1), float initializers params keyed by
 *   their names (PyTorch's state_dict names) unless listed in "frozen"
 *   (then constants); those feeding BatchNormalization's running
 *   statistics are buffers (input leaves step updates); integer
 *   initializers are host constants of the lowering (shape arithmetic),
 *   not leaves.
 *
 *   lower (onnx_lower.c, onnx_ops.c): each node through the op table into
 *   libgrad ops, shapes known as it goes (a finalized scratch graph);
 *   nodes whose inputs are all constants (the shape sub-graphs torch
 *   exports: Shape, Gather, Unsqueeze, Concat, ConstantOfShape, Range, ...)
 *   are evaluated at once and become constants. The result is replayed,
 *   node by node and by name, into the request's graph, where the long
 *   form's appended "nodes" and the "loss" expression can use the model's
 *   value names (quoted with backquotes in expressions when they are not
 *   identifiers: `input.1`, `/layer1/Conv_output_0`). */
#ifndef GRADD_ONNX_H
#define GRADD_ONNX_H

#include "../request.h"

typedef struct gd_onnx gd_onnx;

/* Decode graph object graph (at "/graph") holding "onnx": the model, its
 * leaves (declared in r), its dtype (the graph's "dtype", else the
 * model's float type) and the "frozen", "loss" and "nodes" fields. 0, or
 * -1 with r->e set (400 for bytes that are no model, 413 over a limit,
 * 422 for what gradd cannot run: external data, sparse or string
 * tensors). */
int gd_onnx_decode(gd_req *r, const json_t *graph);

/* After the request's values are decoded: give every initializer leaf the
 * request did not give a value its value from the model, and make the
 * model's outputs the default "outputs" when the graph names no loss. */
int gd_onnx_fill(gd_req *r);

/* Lower the model into r->g (not yet finalized; its leaves added). 0 or
 * -1 with r->e set (422 naming every unsupported op type and its nodes,
 * or the node whose lowering failed). */
int gd_onnx_lower(gd_req *r);

/* The model's output names (*n of them), which the graph names (so the
 * shapes route lists them and a misspelled name gets a suggestion). */
const char *const *gd_onnx_outputs(const gd_req *r, int *n);

/* The loss expression of the graph ("loss" naming no model value), or
 * NULL; *len its length. */
const char *gd_onnx_loss_expr(const gd_req *r, size_t *len);

void gd_onnx_free(gd_onnx *m);

/* name is a buffer of r's model: an initializer feeding a
 * BatchNormalization's running mean or variance. Buffers are input leaves
 * (never differentiated unless named in "wrt"), valued from the model
 * unless the request's "buffers" gives them; step updates them. */
int gd_onnx_is_buffer(const gd_req *r, const char *name);

/* The name of the node holding buffer's value after one training step
 * (PyTorch's rule: (1 - m) * running + m * batch statistic, the unbiased
 * batch variance for the variance), which the lowering makes for every
 * BatchNormalization in training mode: "<buffer>#next" into out (cap
 * bytes). 0, or -1 when it does not fit (such a buffer is not updated). */
int gd_onnx_buffer_next_name(const char *buffer, char *out, size_t cap);

/* A name an ONNX graph's value may have in gradd: the model's names as
 * they are (PyTorch's "0.weight", "input.1", "/fc/Gemm_output_0"), 1 to
 * GR_NAME_MAX - 1 printable ASCII bytes not starting with '%' (libgrad's
 * anonymous nodes) or '`' (the expressions' quote). */
int gd_onnx_name_ok(const char *s);

/* The graph store's summary of the model in bytes[0..n) (onnx_summary.c):
 * the members "inputs", "outputs", "params", "buffers", "ops" and "opset"
 * of a JSON object, written to b (without its braces). 0, or -1 with e
 * set: 400 for bytes that are no model, 413 over lim, 422 external data. */
int gd_onnx_summary(const char *bytes, size_t n, const gd_limits *lim, cd_buf *b, gd_err *e);

#endif
