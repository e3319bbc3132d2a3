/* ops.h -- what the op families share: shape inference for elementwise
 * ops and the macros that stamp out a kernel for both dtypes. Kernel files
 * include <tgmath.h>, so one expression serves float and double. */
#ifndef GRAD_OPS_H
#define GRAD_OPS_H

#include "../internal.h"

/* Shape of operand k of node id. */
#define IN_SHAPE(g, id, k) (&(g)->nodes[(g)->nodes[id].in[k]].shape)

/* Result has the shape of operand 0. */
gr_status gr_infer_same(gr_graph *g, int id, gr_error *err);
/* Result is the broadcast of all operands. */
gr_status gr_infer_broadcast(gr_graph *g, int id, gr_error *err);
/* Result has the shape attribute. expand: operand 0 must broadcast to it;
 * otherwise (sum_to) it must broadcast to operand 0. */
gr_status gr_infer_broadcast_attr(gr_graph *g, int id, int expand, gr_error *err);
/* Fail for node id with code, naming the attribute attr (may be NULL). */
gr_status gr_fail_op(gr_graph *g, gr_error *err, gr_status code, int id, int operand, const char *attr,
                  const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* Run row over the broadcast of the node's operands: operand 0 of the loop
 * is the output, then the node's operands in order. */
void gr_run_broadcast(const gr_kernel *k, gr_row_fn row_f32, gr_row_fn row_f64);

/* Elementwise passes over n elements in chunks of GR_CHUNK_ELEMS that stop
 * once k's cancel flag is raised: out[i] = v, and out = in (memcpy). */
void gr_fill_chunked(const gr_kernel *k, void *out, int64_t n, double v);
void gr_copy_chunked(const gr_kernel *k, void *out, const void *in, int64_t n);
/* out[i] += parts[p * n + i] for p = 0 .. nparts - 1, in that order: the
 * partial results of a job cut in parts, added the same way whatever ran
 * them; the elements shared by the threads. */
void gr_add_parts(gr_dtype dt, void *out, const void *parts, int64_t nparts, int64_t n);

/* k->out = row(operand 0) for a float32 elementwise unary node (the
 * vectorized rows of vmath.h), in chunks of GR_CHUNK_ELEMS that stop once
 * k's cancel flag is raised. */
void gr_run_f32_rows(const gr_kernel *k, void (*row)(const float *x, float *y, int64_t n));
/* The same for a row that writes k->out and k->side (z) at once. */
void gr_run_f32_row_pairs(const gr_kernel *k, void (*pair)(const float *x, float *y, float *z, int64_t n));

/* The row kernel that copies operand 1 into operand 0 (strides may be 0). */
gr_row_fn gr_copy_row(gr_dtype dt);

/* A row kernel for a binary elementwise op: EXPR reads x and y. */
#define BINARY_ROW(FN, T, EXPR)                                                                                       \
    static void FN(void *ctx, char *const *p, const int64_t *s, int64_t n) {                                          \
        (void)ctx;                                                                                                    \
        T *o = (T *)p[0];                                                                                             \
        const T *a = (const T *)p[1], *b = (const T *)p[2];                                                           \
        int64_t sa = s[1], sb = s[2];                                                                                 \
        if (sa == 1 && sb == 1) {                                                                                     \
            for (int64_t i = 0; i < n; i++) { T x = a[i], y = b[i]; o[i] = (EXPR); }                                  \
        } else if (sa == 1 && sb == 0) {                                                                              \
            const T y = b[0];                                                                                         \
            for (int64_t i = 0; i < n; i++) { T x = a[i]; o[i] = (EXPR); }                                            \
        } else if (sa == 0 && sb == 1) {                                                                              \
            const T x = a[0];                                                                                         \
            for (int64_t i = 0; i < n; i++) { T y = b[i]; o[i] = (EXPR); }                                            \
        } else {                                                                                                      \
            for (int64_t i = 0; i < n; i++) { T x = a[i * sa], y = b[i * sb]; o[i * s[0]] = (EXPR); }                 \
        }                                                                                                             \
    }

/* The forward kernel of a binary elementwise op. */
#define BINARY_KERNEL(NAME, EXPR)                                                                                     \
    BINARY_ROW(NAME##_row_f32, float, EXPR)                                                                           \
    BINARY_ROW(NAME##_row_f64, double, EXPR)                                                                          \
    static gr_status NAME##_forward(const gr_kernel *k, gr_error *err) {                                              \
        (void)err;                                                                                                    \
        gr_run_broadcast(k, NAME##_row_f32, NAME##_row_f64);                                                          \
        return GR_OK;                                                                                                 \
    }

/* The forward kernel of a unary elementwise op: EXPR reads x. */
#define UNARY_KERNEL(NAME, EXPR)                                                                                      \
    static void NAME##_part(void *ctx, int64_t a, int64_t b) { /* elements [a, b), split across threads */           \
        const gr_kernel *k = ctx;                                                                                     \
        for (int64_t i0 = a; i0 < b && !(i0 > a && gr_cancelled(k->cancel));                                          \
             i0 += GR_CHUNK_ELEMS) { /* the first piece does not look */                                              \
            int64_t i1 = b - i0 < GR_CHUNK_ELEMS ? b : i0 + GR_CHUNK_ELEMS;                                           \
            if (k->dt == GR_F32) {                                                                                    \
                const float *in = k->in[0];                                                                           \
                float *out = k->out;                                                                                  \
                for (int64_t i = i0; i < i1; i++) { float x = in[i]; out[i] = (EXPR); }                               \
            } else {                                                                                                  \
                const double *in = k->in[0];                                                                          \
                double *out = k->out;                                                                                 \
                for (int64_t i = i0; i < i1; i++) { double x = in[i]; out[i] = (EXPR); }                              \
            }                                                                                                         \
        }                                                                                                             \
    }                                                                                                                 \
    static gr_status NAME##_forward(const gr_kernel *k, gr_error *err) {                                              \
        (void)err;                                                                                                    \
        gr_parallel_for(k->n->numel, GR_PAR_GRAIN, NAME##_part, (void *)(uintptr_t)k);                                \
        return GR_OK;                                                                                                 \
    }

/* pool_avx512.c: max pooling with 2x2 windows at stride 2 inside the
 * input, float32, one plane of x [h, w] into y [oh, ow] (the window
 * maxima), or (backward) the gradient h [oh, ow] into g, x-shaped: h at
 * each window's argmax, 0 at its three other elements (with relu_mask,
 * only where the maximum is above 0 or the window holds a NaN); pool.c's
 * rules bit for bit. 0, with nothing written, where the build has no
 * AVX-512 kernels; the caller checks gr_cpu_avx512() first. */
int gr_pool_max_2x2_f32(const float *x, int64_t h, int64_t w, int64_t oh, int64_t ow, float *y);
int gr_pool_max_2x2_backward_f32(const float *x, const float *h, int64_t w, int64_t oh, int64_t ow, int relu_mask,
                                 float *g);

/* relu's rule, PyTorch's: 0 for x below 0, else x (NaN stays NaN, -0
 * stays -0), as one compare (a NaN is not < 0): written as x > 0 || x != x,
 * the convolutions' epilogues that apply it ran 1.3-2x slower (cnn-step).
 * The relu op's kernel, the rows below, and those epilogues, for the relu
 * the executor folds into them (unary.c). */
#define GR_RELU(x) ((x) < 0 ? 0 : (x))
void gr_relu_row_f32(const float *x, float *y, int64_t n);
void gr_relu_row_f64(const double *x, double *y, int64_t n);

/* Attribute bits. */
#define A(id) GR_ATTR_BIT(id)

#endif
