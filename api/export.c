/* export.c -- /v1/gradient-graph writes the graph with its gradient nodes
 * in the request's own graph language, so it can be posted back to
 * /v1/forward; /v1/ops writes the op catalogue from lib's op table and
 * attribute table (attributes written by attrs.h). */
#include "routes.h"

#include "attrs.h"
#include "onnx/onnx_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The exported name of node id: its own, or grad#<id> for the nodes
 * autodiff made (the request's names cannot start with '%'). */
static const char *export_name(const gr_graph *g, int id, char *buf, size_t cap) {
    const char *n = gr_node_name(g, id, buf, cap);
    if (n[0] != '%') return n;
    snprintf(buf, cap, "grad#%d", id);
    return buf;
}

static void put_dims(cd_buf *b, const gr_shape *s) {
    cd_buf_putc(b, '[');
    for (int i = 0; i < s->rank; i++) {
        if (i) cd_buf_putc(b, ',');
        cd_buf_i64(b, s->dims[i]);
    }
    cd_buf_putc(b, ']');
}

/* One section of leaves of kind ("inputs": {name: shape}, "constants":
 * {name: value}) among the live nodes. */
static void put_leaves(cd_buf *b, gd_req *r, const char *key, gr_node_kind kind, const char *live) {
    char buf[GR_NAME_MAX + 16];
    int n, first = 1;
    const int *order = gr_graph_order(r->g, &n);
    cd_buf_key(b, key, 0);
    cd_buf_putc(b, '{');
    for (int i = 0; i < n; i++) {
        int id = order[i];
        if (!live[id] || gr_node_kind_of(r->g, id) != kind) continue;
        const char *name = gr_node_name(r->g, id, buf, sizeof buf);
        if (name[0] == '%') snprintf(buf, sizeof buf, "const#%d", id), name = buf;
        cd_buf_key(b, name, first);
        first = 0;
        if (kind == GR_CONST) gd_put_tensor(b, r, gr_node_shape(r->g, id), gr_node_const_data(r->g, id));
        else put_dims(b, gr_node_shape(r->g, id));
    }
    cd_buf_putc(b, '}');
}

/* Names of operands, exported the same way as the nodes they name. */
static const char *operand_name(const gr_graph *g, int id, char *buf, size_t cap) {
    const char *n = gr_node_name(g, id, buf, cap);
    if (n[0] != '%') return n;
    snprintf(buf, cap, gr_node_kind_of(g, id) == GR_CONST ? "const#%d" : "grad#%d", id);
    return buf;
}

/* "format": "onnx": the training graph as an ONNX model, in base64, with
 * the names of its loss and gradient outputs. */
static int put_onnx(gd_req *r, cd_buf *b, const int *grads, const char *const *wnames, int n, const char *live) {
    uint8_t *bytes;
    size_t len;
    if (gd_onnx_write_training(r, grads, wnames, n, live, &bytes, &len) < 0) return -1;
    cd_buf_puts(b, "{\"format\":\"onnx\"");
    gd_onnx_put_b64(b, bytes, len, 0);
    free(bytes);
    cd_buf_puts(b, ",\"loss\":");
    cd_buf_str(b, r->loss_name);
    cd_buf_puts(b, ",\"gradients\":{");
    for (int k = 0; k < n; k++) {
        char out[GR_NAME_MAX + 8];
        snprintf(out, sizeof out, "grad_%s", wnames[k]);
        cd_buf_key(b, wnames[k], k == 0);
        cd_buf_str(b, out);
    }
    cd_buf_putc(b, '}');
    return 0;
}

int gd_route_gradient_graph(gd_req *r, cd_buf *b, gd_timing *t) {
    int wrt[GD_MAX_LIST], grads[GD_MAX_LIST];
    const char *wnames[GD_MAX_LIST];
    if (gd_need_loss(r) < 0) return -1;
    int n = gd_wrt(r, wrt, wnames, GD_MAX_LIST);
    if (n < 0) return -1;
    double t0 = gd_now_ms();
    gr_error ge;
    if (gr_grad(r->g, r->loss, wrt, n, grads, &ge) != GR_OK) return gd_req_lib_error(r, &ge);
    t->compile_ms += gd_now_ms() - t0;
    t0 = gd_now_ms();
    /* Only what the loss and the gradients need. */
    int count, nn = gr_graph_node_count(r->g);
    const int *order = gr_graph_order(r->g, &count);
    char *live = calloc((size_t)nn + 1, 1);
    if (!live) return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "", "out of memory");
    live[r->loss] = 1;
    for (int k = 0; k < n; k++) live[grads[k]] = 1;
    for (int i = count - 1; i >= 0; i--)
        if (live[order[i]])
            for (int k = 0; k < gr_node_operand_count(r->g, order[i]); k++) live[gr_node_operand(r->g, order[i], k)] = 1;

    if (r->args.onnx) {
        int rc = put_onnx(r, b, grads, wnames, n, live);
        free(live);
        if (rc < 0) return -1;
        t->encode_ms += gd_now_ms() - t0;
        gd_put_stats(b, r, NULL, t);
        return 0;
    }
    char buf[GR_NAME_MAX + 16], obuf[GR_NAME_MAX + 16];
    cd_buf_puts(b, "{\"graph\":{\"dtype\":");
    cd_buf_str(b, gr_dtype_name(r->dt));
    put_leaves(b, r, "inputs", GR_INPUT, live);
    put_leaves(b, r, "params", GR_PARAM, live);
    put_leaves(b, r, "constants", GR_CONST, live);
    cd_buf_puts(b, ",\"nodes\":[");
    int first = 1;
    for (int i = 0; i < count; i++) {
        int id = order[i];
        if (!live[id] || gr_node_kind_of(r->g, id) != GR_OPNODE) continue;
        cd_buf_puts(b, first ? "{\"name\":" : ",{\"name\":");
        first = 0;
        cd_buf_str(b, export_name(r->g, id, buf, sizeof buf));
        cd_buf_puts(b, ",\"op\":");
        cd_buf_str(b, gr_op_name(gr_node_op(r->g, id)));
        cd_buf_puts(b, ",\"inputs\":[");
        for (int k = 0; k < gr_node_operand_count(r->g, id); k++) {
            if (k) cd_buf_putc(b, ',');
            cd_buf_str(b, operand_name(r->g, gr_node_operand(r->g, id, k), obuf, sizeof obuf));
        }
        cd_buf_putc(b, ']');
        if (gr_node_attrs(r->g, id)->set) {
            cd_buf_puts(b, ",\"attrs\":");
            gd_attrs_write(b, gr_node_attrs(r->g, id));
        }
        cd_buf_putc(b, '}');
    }
    cd_buf_puts(b, "],\"loss\":");
    cd_buf_str(b, r->loss_name);
    cd_buf_puts(b, "},\"gradients\":{");
    for (int k = 0; k < n; k++) {
        cd_buf_key(b, wnames[k], k == 0);
        cd_buf_str(b, operand_name(r->g, grads[k], buf, sizeof buf));
    }
    cd_buf_putc(b, '}');
    free(live);
    t->encode_ms += gd_now_ms() - t0;
    gd_put_stats(b, r, NULL, t);
    return 0;
}

void gd_route_ops(cd_buf *b) {
    cd_buf_puts(b, "{\"ops\":[");
    for (int i = 0; i < gr_op_count(); i++) {
        const gr_op *op = gr_op_at(i);
        cd_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        cd_buf_str(b, gr_op_name(op));
        cd_buf_puts(b, ",\"arity\":");
        cd_buf_i64(b, gr_op_arity(op));
        cd_buf_puts(b, ",\"attrs\":[");
        int first = 1;
        for (int a = 0; a < GR_ATTR_COUNT; a++) {
            if (!(gr_op_attrs(op) & GR_ATTR_BIT(a))) continue;
            if (!first) cd_buf_putc(b, ',');
            first = 0;
            gd_attr_write_info(b, gr_attr_def_of((gr_attr_id)a), (gr_op_required_attrs(op) & GR_ATTR_BIT(a)) != 0);
        }
        cd_buf_puts(b, "],\"no_gradient\":[");
        first = 1;
        int listed = gr_op_arity(op) == GR_VARIADIC ? 32 : gr_op_arity(op); /* the mask's operands */
        for (int k = 0; k < listed; k++)
            if (gr_op_nondiff(op) & (1u << k)) {
                if (!first) cd_buf_putc(b, ',');
                first = 0;
                cd_buf_i64(b, k);
            }
        cd_buf_puts(b, "],\"derivative\":");
        cd_buf_str(b, gr_op_doc(op));
        cd_buf_putc(b, '}');
    }
    cd_buf_puts(b, "]}");
}
