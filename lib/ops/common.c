/* common.c -- shape inference and loop drivers shared by the op families. */
#include "ops.h"

#include <stdio.h>

gr_status op_fail(gr_graph *g, gr_error *err, gr_status code, int id, int operand, const char *attr,
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

gr_status infer_same(gr_graph *g, int id, gr_error *err) {
    gr_shape s = *IN_SHAPE(g, id, 0);
    return gr_node_set_shape(g, id, &s, err);
}

gr_status infer_broadcast(gr_graph *g, int id, gr_error *err) {
    const gr_node *n = &g->nodes[id];
    gr_shape s = *IN_SHAPE(g, id, 0);
    for (int k = 1; k < n->n_in; k++) {
        gr_shape t;
        if (gr_shape_broadcast(&s, IN_SHAPE(g, id, k), &t, NULL) != GR_OK) {
            char a[160], b[160];
            return op_fail(g, err, GR_E_SHAPE, id, k, NULL,
                           "operand %d has shape %s, which does not broadcast with %s", k,
                           gr_shape_str(IN_SHAPE(g, id, k), a, sizeof a), gr_shape_str(&s, b, sizeof b));
        }
        s = t;
    }
    return gr_node_set_shape(g, id, &s, err);
}

void run_broadcast(const gr_kernel *k, gr_row_fn row_f32, gr_row_fn row_f64) {
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
    if (flat) { /* one row: no loop set-up (most ops, and every scalar op) */
        (k->dt == GR_F32 ? row_f32 : row_f64)(NULL, (char *const *)base, st, n->numel);
        return;
    }
    gr_loop L;
    gr_loop_broadcast(&L, &n->shape, n->n_in + 1, shapes);
    gr_loop_run(&L, base, gr_dtype_size(k->dt), k->dt == GR_F32 ? row_f32 : row_f64, NULL);
}
