/* trace.c -- /v1/gradient with "trace": true: besides the values and
 * gradients, every node the loss depends on, in evaluation order, with
 * its value and its adjoint (d loss / d node), as the seeds' worked tables
 * show a reverse pass:
 *
 *   "trace": [{"node": "f#3", "expr": "w*x", "value": ..., "adjoint": ...}]
 *
 * "node" is the graph's name of the node (the expression's internal nodes
 * are named f#k); "expr" is its expression text, written from the graph:
 * an operand the graph names (a leaf, a long-form node, the short form's
 * f) appears by its name, an internal one as its own expression, so each
 * line reads as the source does. "adjoint" is null for a node the loss
 * does not differentiate through (integer labels, an op's index operand):
 * every path from it to the loss passes an operand the op gives no
 * gradient. The trace's nodes and adjoints are outputs of the program, so
 * "trace" shapes the program (it is in the cache key). */
#include "routes.h"

#include "attrs.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRACE_MAX_NODES 10000 /* nodes one trace may list */
#define EXPR_TEXT_MAX 240     /* bytes of one node's expression text, "..." past it */
#define EXPR_DEPTH_MAX 48     /* operands written inline, nested */

/* An infix operator of the expression language: its op, its text and
 * its precedence (higher binds tighter). */
typedef struct infix {
    const char *op, *text;
    int prec;
} infix;

static const infix infixes[] = {{"add", " + ", 1}, {"sub", " - ", 1}, {"mul", "*", 2}, {"div", "/", 2},
                                {"matmul", " @ ", 2}, {"neg", "-", 3}, {"pow", "^", 4}};
#define PREC_ATOM 5

static const infix *infix_of(const gr_graph *g, int id) {
    if (gr_node_kind_of(g, id) != GR_OPNODE) return NULL;
    const char *name = gr_op_name(gr_node_op(g, id));
    for (size_t i = 0; i < sizeof infixes / sizeof infixes[0]; i++)
        if (!strcmp(infixes[i].op, name)) return &infixes[i];
    return NULL;
}

/* 1 when the graph names node id (a name of the request, not one made
 * for an expression's internal node or by autodiff). */
static int is_named(const gr_graph *g, int id) {
    char buf[GR_NAME_MAX + 16];
    const char *n = gr_node_name(g, id, buf, sizeof buf);
    return n[0] != '%' && !strchr(n, '#');
}

/* The attributes of node id as the expression language writes them:
 * ", axis=1, keepdims=true". */
static void put_attrs(cd_buf *out, const gr_graph *g, int id) {
    const gr_attrs *a = gr_node_attrs(g, id);
    if (!a->set) return;
    cd_buf tmp = {0};
    gd_attrs_write(&tmp, a);
    cd_buf_putc(&tmp, '\0');
    json_t *o = tmp.oom ? NULL : json_loads(tmp.p, 0, NULL);
    cd_buf_free(&tmp);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        cd_buf_puts(out, ", ");
        cd_buf_puts(out, k);
        cd_buf_putc(out, '=');
        if (text) cd_buf_puts(out, text);
        free(text);
    }
    json_decref(o);
}

/* Write node id's expression into out: its name when the graph names it
 * and it is an operand (top 0), else its definition. */
static void put_expr(cd_buf *out, const gr_graph *g, int id, int top, int depth) {
    char buf[GR_NAME_MAX + 16];
    if (out->len > EXPR_TEXT_MAX) return;
    gr_node_kind kind = gr_node_kind_of(g, id);
    if ((!top && is_named(g, id)) || kind == GR_INPUT || kind == GR_PARAM) {
        cd_buf_puts(out, gr_node_name(g, id, buf, sizeof buf));
        return;
    }
    if (kind == GR_CONST) {
        const gr_shape *s = gr_node_shape(g, id);
        if (is_named(g, id)) cd_buf_puts(out, gr_node_name(g, id, buf, sizeof buf));
        else if (s->rank == 0 && gr_graph_dtype(g) == GR_F32) cd_buf_f32(out, *(const float *)gr_node_const_data(g, id));
        else if (s->rank == 0) cd_buf_f64(out, *(const double *)gr_node_const_data(g, id));
        else cd_buf_puts(out, "const");
        return;
    }
    if (depth > EXPR_DEPTH_MAX) {
        cd_buf_puts(out, "...");
        return;
    }
    const infix *in = infix_of(g, id);
    int nops = gr_node_operand_count(g, id);
    if (in && nops == (in->prec == 3 ? 1 : 2)) {
        for (int k = 0; k < nops; k++) {
            int x = gr_node_operand(g, id, k);
            const infix *xin = is_named(g, x) ? NULL : infix_of(g, x);
            int xp = xin ? xin->prec : PREC_ATOM;
            /* a - (b - c), a / (b * c), (a ^ b) ^ c, -(a + b) keep their parentheses */
            int paren = xp < in->prec || (xp == in->prec && (k == 1 ? in->prec != 4 && (in->op[0] == 's' || in->op[0] == 'd') : in->prec == 4));
            if (k || nops == 1) cd_buf_puts(out, in->text);
            if (paren) cd_buf_putc(out, '(');
            put_expr(out, g, x, 0, depth + 1);
            if (paren) cd_buf_putc(out, ')');
        }
        return;
    }
    cd_buf_puts(out, gr_op_name(gr_node_op(g, id)));
    cd_buf_putc(out, '(');
    for (int k = 0; k < nops; k++) {
        if (k) cd_buf_puts(out, ", ");
        put_expr(out, g, gr_node_operand(g, id, k), 0, depth + 1);
    }
    put_attrs(out, g, id);
    cd_buf_putc(out, ')');
}

/* The nodes the loss depends on, in evaluation order, into *nodes (n of
 * them), and which of them the loss differentiates through (*through,
 * indexed by node id: a program taken from the cache lists its nodes in
 * the order of the run that made it). Returns n, or -1 with r->e set. */
static int trace_nodes(gd_req *r, int **nodes, char **through_out) {
    int count, nn = gr_graph_node_count(r->g);
    const int *order = gr_graph_order(r->g, &count);
    char *live = calloc((size_t)nn + 1, 1), *through = calloc((size_t)nn + 1, 1);
    int *list = NULL, n = 0;
    if (!live || !through) goto oom;
    live[r->loss] = through[r->loss] = 1;
    for (int i = count - 1; i >= 0; i--) {
        int id = order[i];
        if (!live[id]) continue;
        n++;
        if (gr_node_kind_of(r->g, id) != GR_OPNODE) continue;
        unsigned nondiff = gr_op_nondiff(gr_node_op(r->g, id));
        for (int k = 0; k < gr_node_operand_count(r->g, id); k++) {
            int x = gr_node_operand(r->g, id, k);
            live[x] = 1;
            if (through[id] && !(k < 32 && (nondiff & (1u << k)))) through[x] = 1;
        }
    }
    if (n > TRACE_MAX_NODES) {
        free(live);
        free(through);
        return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/trace", "a trace lists at most %d nodes, and this loss depends on %d",
                       TRACE_MAX_NODES, n);
    }
    list = malloc((size_t)(n ? n : 1) * sizeof *list);
    if (!list) goto oom;
    n = 0;
    for (int i = 0; i < count; i++)
        if (live[order[i]]) list[n++] = order[i];
    free(live);
    *nodes = list;
    *through_out = through;
    return n;
oom:
    free(live);
    free(through);
    free(list);
    return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/trace", "out of memory");
}

int gd_route_gradient_trace(gd_req *r, cd_buf *b, gd_timing *t) {
    int wrt[GD_MAX_LIST], nval = 1, rc = -1;
    const char *wnames[GD_MAX_LIST], *vnames[GD_MAX_LIST + 1];
    int *tnodes = NULL, *outs = NULL, *adj = NULL;
    char *diff = NULL;
    gr_exec *ex = NULL;
    if (gd_need_loss(r) < 0) return -1;
    int n = gd_wrt(r, wrt, wnames, GD_MAX_LIST);
    if (n < 0) return -1;
    int nt = trace_nodes(r, &tnodes, &diff);
    if (nt < 0) return -1;
    int nd = 0;
    for (int i = 0; i < nt; i++) nd += diff[tnodes[i]];
    /* outputs: loss, further values, gradients, the traced nodes, their adjoints */
    outs = malloc((size_t)(1 + GD_MAX_LIST + n + nt + nd) * sizeof *outs);
    adj = malloc((size_t)(nd ? nd : 1) * sizeof *adj);
    if (!outs || !adj) {
        gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/trace", "out of memory");
        goto out;
    }
    outs[0] = r->loss;
    vnames[0] = r->loss_name;
    if (r->args.outputs.given) {
        int m = gd_outputs(r, outs + 1, vnames + 1, GD_MAX_LIST);
        if (m < 0) goto out;
        nval += m;
    }
    for (int i = 0, j = 0; i < nt; i++)
        if (diff[tnodes[i]]) adj[j++] = tnodes[i];
    double t0 = gd_now_ms();
    gr_error ge;
    if (!r->plan && (gr_grad(r->g, r->loss, wrt, n, outs + nval, &ge) != GR_OK ||
                     (nd && gr_grad(r->g, r->loss, adj, nd, outs + nval + n + nt, &ge) != GR_OK))) {
        gd_req_lib_error(r, &ge);
        goto out;
    }
    t->compile_ms += gd_now_ms() - t0;
    memcpy(outs + nval + n, tnodes, (size_t)nt * sizeof *outs);
    int *ids = outs, nids = nval + n + nt + nd;
    ex = gd_program(r, &ids, &nids, t);
    if (!ex || gd_run(r, ex, t) < 0) goto out;
    t0 = gd_now_ms();
    cd_buf_putc(b, '{');
    gd_put_map(b, r, ex, "values", vnames, ids, nval, 1);
    gd_put_map(b, r, ex, "gradients", wnames, ids + nval, n, 0);
    cd_buf_puts(b, ",\"trace\":[");
    char buf[GR_NAME_MAX + 16];
    for (int i = 0, j = 0; i < nt; i++) {
        int id = ids[nval + n + i];
        cd_buf_puts(b, i ? ",{\"node\":" : "{\"node\":");
        cd_buf_str(b, gr_node_name(r->g, id, buf, sizeof buf));
        cd_buf_puts(b, ",\"expr\":");
        cd_buf text = {0};
        put_expr(&text, r->g, id, 1, 0);
        if (text.len > EXPR_TEXT_MAX) { /* cut at a character's first byte */
            text.len = EXPR_TEXT_MAX;
            while (text.len && ((unsigned char)text.p[text.len] & 0xC0) == 0x80) text.len--;
            cd_buf_puts(&text, "...");
        }
        cd_buf_putc(&text, '\0');
        cd_buf_str(b, text.oom ? "" : text.p);
        cd_buf_free(&text);
        cd_buf_puts(b, ",\"value\":");
        gd_put_tensor(b, r, gr_node_shape(r->g, id), gr_exec_value(ex, id));
        cd_buf_puts(b, ",\"adjoint\":");
        if (diff[id]) { /* adjoints follow the traced nodes' order in the program */
            int a = ids[nval + n + nt + j++];
            gd_put_tensor(b, r, gr_node_shape(r->g, a), gr_exec_value(ex, a));
        } else {
            cd_buf_puts(b, "null");
        }
        cd_buf_putc(b, '}');
    }
    cd_buf_putc(b, ']');
    gd_put_stats(b, r, ex, t);
    t->encode_ms += gd_now_ms() - t0;
    rc = 0;
out:
    gd_program_done(r, ex);
    free(tnodes);
    free(diff);
    free(outs);
    free(adj);
    return rc;
}
