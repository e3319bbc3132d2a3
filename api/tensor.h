/* tensor.h -- tensor values in requests and responses. A value is a number,
 * nested arrays, {"shape": [...], "data": [flat]} or {"shape": [...],
 * "b64": "<little-endian bytes of the graph's dtype>"}; non-finite numbers
 * are the strings "NaN", "Infinity", "-Infinity" both ways. */
#ifndef GRADD_TENSOR_H
#define GRADD_TENSOR_H

#include "api.h"
#include "doc.h"
#include "codec/buf.h"

/* A tensor's data is its own (malloc'd), or, for a float64 tensor decoded
 * from a packed JSON array, the doc's numbers themselves (shared: a
 * reference to their block, no copy; see cd_numbers in codec/json.h).
 * Shared data is also what the doc, and any other tensor decoded from the
 * same JSON value, reads: write into it only when nothing reads that
 * value again (gd_tensor_own first otherwise). gd_tensor_free releases
 * either kind. */
typedef struct gd_tensor {
    gr_shape shape;
    int64_t n;            /* elements */
    void *data;           /* (n) elements of the dtype: owned, or in shared, or in the binary section */
    cd_numbers *shared;   /* NULL (data owned), or the block data lies in (one reference held) */
    int in_binary;        /* data lies in the call's binary section, lent (gd_call.binary_writable) */
} gd_tensor;

typedef enum gd_encoding { GD_ENC_NESTED = 0, GD_ENC_FLAT, GD_ENC_B64, GD_ENC_BINARY } gd_encoding;

/* Decode v (found at path) as a tensor of dtype dt into *t, with one copy
 * from the body at most: a float64 packed array (nested lists, or "data")
 * is shared with the doc, whose reader already parsed it (no copy); b64
 * decodes straight into t's buffer; Triton binary data is one memcpy from
 * the body, or none when the call lends its binary section
 * (doc->binary_rw) and the bytes are the dtype's, aligned: t's data is
 * then there (in_binary). Rank, element and byte limits are checked before allocating;
 * *budget (bytes left for the request's tensors) is charged t's bytes,
 * shared or not. 400 bad_tensor / 413 on failure, with nothing left
 * allocated in *t. */
int gd_tensor_decode(const gd_doc *doc, const json_t *v, gr_dtype dt, const gd_limits *lim, int64_t *budget,
                     const char *path, gd_tensor *t, gd_err *e);
/* A zeroed tensor of shape s (charged to *budget). */
int gd_tensor_zeros(const gr_shape *s, gr_dtype dt, int64_t *budget, const char *path, gd_tensor *t, gd_err *e);
/* Give t data of its own (a copy) when it is shared: 0, or -1 when out of
 * memory (t unchanged). */
int gd_tensor_own(gd_tensor *t, gr_dtype dt);
void gd_tensor_free(gd_tensor *t);

/* Write data (shape s, dtype dt) in encoding enc; GD_ENC_BINARY writes
 * {"shape", "parameters": {"binary_data_size"}} and appends the bytes to bin. */
void gd_tensor_encode(cd_buf *b, gr_dtype dt, const gr_shape *s, const void *data, gd_encoding enc, cd_buf *bin);
/* GD_ENC_BINARY's JSON for a tensor of shape s alone (its bytes go
 * elsewhere); returns their count. */
size_t gd_tensor_binary_header(cd_buf *b, gr_dtype dt, const gr_shape *s);

/* Read a list of non-negative ints (or -1 where allow_neg1) of length <=
 * max into dims: shapes and the like. Returns the count or -1. */
int gd_read_dims(const gd_doc *doc, const json_t *v, int max, int allow_neg1, int64_t *dims, const char *path, gd_err *e);

#endif
