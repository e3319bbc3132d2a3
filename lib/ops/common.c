/* common.c -- shape inference and loop drivers shared by the op families. */
#include "ops.h"

#include <stdio.h>
#include <string.h>

gr_status gr_fail_op(gr_graph *g, gr_error *err, gr_status code, int id, int operand, const char *attr,
                  const char *fmt, ...) {
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gr_fail_node(err, code, g, id, operand, "%s: %s", g->nodes[id].op->name, msg);
    if (err && attr) snprintf(err->attr, sizeof err->attr, "%s", attr);
    return code;
}

gr_status gr_infer_same(gr_graph *g, int id, gr_error *err) {
    gr_shape s = *IN_SHAPE(g, id, 0);
    return gr_node_set_shape(g, id, &s, err);
}

gr_status gr_infer_broadcast(gr_graph *g, int id, gr_error *err) {
    const gr_node *n = &g->nodes[id];
    gr_shape s = *IN_SHAPE(g, id, 0);
    for (int k = 1; k < n->n_in; k++) {
        gr_shape t;
        if (gr_shape_broadcast(&s, IN_SHAPE(g, id, k), &t, NULL) != GR_OK) {
            char a[160], b[160];
            return gr_fail_op(g, err, GR_E_SHAPE, id, k, NULL,
                           "operand %d has shape %s, which does not broadcast with %s", k,
                           gr_shape_str(IN_SHAPE(g, id, k), a, sizeof a), gr_shape_str(&s, b, sizeof b));
        }
        s = t;
    }
    return gr_node_set_shape(g, id, &s, err);
}

gr_status gr_infer_broadcast_attr(gr_graph *g, int id, int expand, gr_error *err) {
    const gr_shape *x = IN_SHAPE(g, id, 0), *t = &g->nodes[id].attrs->shape;
    const gr_shape *small = expand ? x : t, *big = expand ? t : x;
    gr_shape b;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0) return gr_fail_op(g, err, GR_E_ARG, id, -1, "shape", "target dims must be >= 0");
    if (gr_shape_broadcast(small, big, &b, NULL) != GR_OK || !gr_shape_equal(&b, big)) {
        char a[160], c[160];
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, "shape", "%s %s does not broadcast to %s %s",
                       expand ? "the operand's shape" : "the target", gr_shape_str(small, a, sizeof a),
                       expand ? "the target" : "the operand's shape", gr_shape_str(big, c, sizeof c));
    }
    return gr_node_set_shape(g, id, t, err);
}

/* A flat elementwise loop: row over operands of one layout (stride 1) or
 * one element (stride 0), shared by the threads that split it. */
typedef struct flat_job {
    gr_row_fn row;
    void *base[4];
    int64_t st[4];
    int nops;
    size_t esz;
    const volatile int *cancel;
} flat_job;

/* Elements [a, b) of a flat job, in pieces that look at the cancel flag. */
static void flat_part(void *ctx, int64_t a, int64_t b) {
    const flat_job *J = ctx;
    for (int64_t i0 = a; i0 < b && !(i0 > a && gr_cancelled(J->cancel)); i0 += GR_CHUNK_ELEMS) {
        char *p[4];
        for (int j = 0; j < J->nops; j++) p[j] = (char *)J->base[j] + (size_t)(i0 * J->st[j]) * J->esz;
        J->row(NULL, p, J->st, b - i0 < GR_CHUNK_ELEMS ? b - i0 : GR_CHUNK_ELEMS);
    }
}

void gr_run_broadcast(const gr_kernel *k, gr_row_fn row_f32, gr_row_fn row_f64) {
    const gr_node *n = k->n;
    const gr_shape *shapes[4] = {&n->shape};
    void *base[4] = {k->out};
    int64_t st[4] = {1};
    int flat = 1;
    for (int j = 0; j < n->n_in; j++) {
        const gr_node *in = &k->g->nodes[n->in[j]];
        shapes[j + 1] = &in->shape;
        base[j + 1] = (void *)(uintptr_t)k->in[j];
        /* An operand that broadcasts to the output with as many elements
         * has its layout; one with one element is a scalar. */
        st[j + 1] = in->numel == n->numel ? 1 : 0;
        flat &= in->numel == n->numel || in->numel == 1;
    }
    gr_row_fn row = k->dt == GR_F32 ? row_f32 : row_f64;
    if (flat && n->numel < 2 * GR_PAR_GRAIN) { /* one row: most ops, and every scalar op */
        row(NULL, (char *const *)base, st, n->numel);
        return;
    }
    if (flat) { /* one long row, split across the threads, in pieces that look at the cancel flag */
        flat_job J = {.row = row, .nops = n->n_in + 1, .esz = gr_dtype_size(k->dt), .cancel = k->cancel};
        for (int j = 0; j < J.nops; j++) {
            J.base[j] = base[j];
            J.st[j] = st[j];
        }
        gr_parallel_for(n->numel, GR_PAR_GRAIN, flat_part, &J);
        return;
    }
    gr_loop L;
    gr_loop_broadcast(&L, &n->shape, n->n_in + 1, shapes);
    L.cancel = k->cancel;
    gr_loop_run_shared(&L, base, gr_dtype_size(k->dt), row, NULL); /* by slabs of the output's outer dim */
}

void gr_fill_chunked(const gr_kernel *k, void *out, int64_t n, double v) {
    for (int64_t i0 = 0; i0 < n && !(i0 > 0 && gr_cancelled(k->cancel)); i0 += GR_CHUNK_ELEMS) {
        int64_t i1 = n - i0 < GR_CHUNK_ELEMS ? n : i0 + GR_CHUNK_ELEMS;
        if (k->dt == GR_F32) {
            float *o = out, fv = (float)v;
            for (int64_t i = i0; i < i1; i++) o[i] = fv;
        } else {
            double *o = out;
            for (int64_t i = i0; i < i1; i++) o[i] = v;
        }
    }
}

typedef struct f32_rows_job {
    const gr_kernel *k;
    void (*row)(const float *x, float *y, int64_t n);                /* or: */
    void (*pair)(const float *x, float *y, float *z, int64_t n);     /* z: k->side */
} f32_rows_job;

static void f32_rows_part(void *ctx, int64_t a, int64_t b) {
    const f32_rows_job *J = ctx;
    const float *x = J->k->in[0];
    float *y = J->k->out, *z = J->k->side;
    for (int64_t i0 = a; i0 < b && !(i0 > a && gr_cancelled(J->k->cancel)); i0 += GR_CHUNK_ELEMS) {
        int64_t n = b - i0 < GR_CHUNK_ELEMS ? b - i0 : GR_CHUNK_ELEMS;
        if (J->pair) J->pair(x + i0, y + i0, z + i0, n);
        else J->row(x + i0, y + i0, n);
    }
}

void gr_run_f32_rows(const gr_kernel *k, void (*row)(const float *x, float *y, int64_t n)) {
    f32_rows_job J = {k, row, NULL};
    gr_parallel_for(k->n->numel, GR_PAR_GRAIN, f32_rows_part, &J);
}

void gr_run_f32_row_pairs(const gr_kernel *k, void (*pair)(const float *x, float *y, float *z, int64_t n)) {
    f32_rows_job J = {k, NULL, pair};
    gr_parallel_for(k->n->numel, GR_PAR_GRAIN, f32_rows_part, &J);
}

typedef struct add_parts_job {
    gr_dtype dt;
    void *out;
    const void *parts;
    int64_t nparts, n;
} add_parts_job;

/* Elements [i0, i1) of out, plus each part's in part order. */
static void add_parts_range(void *ctx, int64_t i0, int64_t i1) {
    const add_parts_job *J = ctx;
    for (int64_t p = 0; p < J->nparts; p++) {
        if (J->dt == GR_F32) {
            const float *q = (const float *)J->parts + p * J->n;
            float *o = J->out;
            for (int64_t i = i0; i < i1; i++) o[i] += q[i];
        } else {
            const double *q = (const double *)J->parts + p * J->n;
            double *o = J->out;
            for (int64_t i = i0; i < i1; i++) o[i] += q[i];
        }
    }
}

void gr_add_parts(gr_dtype dt, void *out, const void *parts, int64_t nparts, int64_t n) {
    if (nparts < 1) return;
    add_parts_job J = {dt, out, parts, nparts, n};
    gr_parallel_for(n, (GR_PAR_GRAIN + nparts - 1) / nparts, add_parts_range, &J);
}

void gr_copy_chunked(const gr_kernel *k, void *out, const void *in, int64_t n) {
    size_t esz = gr_dtype_size(k->dt);
    for (int64_t i0 = 0; i0 < n && !(i0 > 0 && gr_cancelled(k->cancel)); i0 += GR_CHUNK_ELEMS) {
        int64_t len = n - i0 < GR_CHUNK_ELEMS ? n - i0 : GR_CHUNK_ELEMS;
        memcpy((char *)out + (size_t)i0 * esz, (const char *)in + (size_t)i0 * esz, (size_t)len * esz);
    }
}

#define COPY_ROW(FN, T)                                                                                               \
    static void FN(void *ctx, char *const *p, const int64_t *s, int64_t n) {                                          \
        (void)ctx;                                                                                                    \
        T *o = (T *)p[0];                                                                                             \
        const T *a = (const T *)p[1];                                                                                 \
        if (s[1] == 0) {                                                                                              \
            for (int64_t i = 0; i < n; i++) o[i * s[0]] = a[0];                                                       \
        } else if (s[0] == 1 && s[1] == 1) {                                                                          \
            memcpy(o, a, (size_t)n * sizeof(T));                                                                      \
        } else {                                                                                                      \
            for (int64_t i = 0; i < n; i++) o[i * s[0]] = a[i * s[1]];                                                \
        }                                                                                                             \
    }
COPY_ROW(copy_row_f32, float)
COPY_ROW(copy_row_f64, double)

gr_row_fn gr_copy_row(gr_dtype dt) { return dt == GR_F32 ? copy_row_f32 : copy_row_f64; }

void gr_broadcast_copy(gr_dtype dt, const gr_shape *out_shape, void *out, const gr_shape *in_shape, const void *in,
                       const volatile int *cancel) {
    const gr_shape *shapes[2] = {out_shape, in_shape};
    void *base[2] = {out, (void *)(uintptr_t)in};
    gr_loop L;
    gr_loop_broadcast(&L, out_shape, 2, shapes);
    L.cancel = cancel;
    gr_loop_run_shared(&L, base, gr_dtype_size(dt), gr_copy_row(dt), NULL);
}
