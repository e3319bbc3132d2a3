/* onnx_write.h -- ONNX out: the training graph of /v1/gradient-graph
 * ("format": "onnx") and the updated model of /v1/step ("export": "onnx"),
 * packed as ModelProto bytes by protobuf-c (onnx_write.c, onnx_emit.c).
 * This header is for api/: it names no protobuf type. */
#ifndef GRADD_ONNX_WRITE_H
#define GRADD_ONNX_WRITE_H

#include "../request.h"

/* The training graph of r as an ONNX model (opset 17, plus domain
 * "ai.gradd" version 1 for the libgrad ops without a standard form):
 * graph inputs are r's live inputs with their shapes and its params
 * (which are initializers too, holding their values, so the model runs
 * as is); constants are Constant nodes; the outputs are the loss
 * (r->loss_name) and, for each k < n, the gradient grads[k] of the param
 * wnames[k], named "grad_<param>". live marks the nodes the loss and the
 * gradients need (export.c's walk). On success *bytes (malloc'd, the
 * caller frees) holds *len bytes; else -1 with r->e set: 422 naming a
 * node that cannot be written, 413 out of memory. */
int gd_onnx_write_training(gd_req *r, const int *grads, const char *const *wnames, int n, const char *live,
                           uint8_t **bytes, size_t *len);

/* The request's ONNX model (r->onnx) with each initializer that is a
 * param replaced by the param's current value (after a step), in the
 * initializer's own data type; nodes, names, opsets and everything else
 * as they were. 0 with *bytes (malloc'd) and *len, or -1 with r->e set
 * (400 when the request's graph is no ONNX model). */
int gd_onnx_write_updated(gd_req *r, uint8_t **bytes, size_t *len);

/* "onnx": the bytes in base64, as a member of a JSON object (a comma
 * first unless first). */
void gd_onnx_put_b64(cd_buf *b, const uint8_t *bytes, size_t len, int first);

#endif
