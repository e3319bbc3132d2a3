/* autodiff.c -- differentiation as a graph transformation (symbol to
 * symbol): the gradient and tangent of a node are ordinary nodes added to
 * the same graph, so they compile, run, and differentiate again like any
 * other node.
 *
 * Broadcasting is handled here, once, for every op: a rule returns its
 * contribution at the output's (broadcast) shape and fit_shape() sums it
 * down to the operand's shape (reverse) or expands a tangent up to the
 * output's shape (forward). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Make node a have shape s: expand when a broadcasts to s, else sum over
 * the axes s broadcasts along. */
static int fit_shape(gr_graph *g, int a, const gr_shape *s) {
    if (a < 0) return -1;
    const gr_shape *as = gr_shape_of(g, a);
    if (gr_shape_equal(as, s)) return a;
    gr_shape b;
    if (gr_shape_broadcast(as, s, &b, NULL) == GR_OK && gr_shape_equal(&b, s)) return gr_build_expand(g, a, s);
    return gr_build_sum_to(g, a, s);
}

/* a + c for two gradient contributions (a < 0: none yet): the op's
 * add_merge when both are nodes of one op that has it, else an add. */
static int accumulate(gr_graph *g, int a, int c) {
    if (a < 0 || c < 0) return a < 0 ? c : a;
    const gr_node *na = &g->nodes[a], *nc = &g->nodes[c];
    if (na->kind == GR_OPNODE && nc->kind == GR_OPNODE && na->op == nc->op && na->op->add_merge) {
        int m = na->op->add_merge(g, a, c);
        if (m >= 0) return m;
    }
    return gr_build_binary(g, &gr_op_add, a, c);
}

static gr_status check_ids(const gr_graph *g, const int *ids, int n, const char *what, gr_error *err) {
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= g->n)
            return gr_fail(err, GR_E_ARG, NULL, i, "%s %d is not a node of the graph", what, i);
    return GR_OK;
}

/* Take the builder's sticky error, if any, into err. */
static gr_status builder_status(gr_graph *g, gr_error *err) {
    if (!g->failed) return GR_OK;
    if (err) *err = g->berr;
    g->failed = 0;
    gr_status st = g->berr.code ? g->berr.code : GR_E_STATE;
    gr_error_clear(&g->berr);
    return st;
}

/* Stopped at the cancel flag: the nodes built so far stay in g (unused). */
static gr_status cancelled(gr_graph *g, gr_error *err) {
    builder_status(g, NULL);
    return gr_fail(err, GR_E_CANCELLED, NULL, -1, "differentiating the graph was cancelled");
}

/* Nodes reachable forward from the marked ones, over the first n_order
 * entries of the order. mark has g->n entries and holds the seeds. */
static void mark_forward(const gr_graph *g, int n_order, char *mark) {
    for (int i = 0; i < n_order; i++) {
        int v = g->order[i];
        const gr_node *n = &g->nodes[v];
        const int *in = gr_node_inputs(n);
        for (int k = 0; k < n->n_in && !mark[v]; k++)
            if (mark[in[k]] && !gr_op_nondiff_at(n->op, k)) mark[v] = 1;
    }
}

/* Nodes the marked ones depend on (through differentiable operands). */
static void mark_backward(const gr_graph *g, int n_order, char *mark) {
    for (int i = n_order - 1; i >= 0; i--) {
        int v = g->order[i];
        const gr_node *n = &g->nodes[v];
        if (!mark[v]) continue;
        const int *in = gr_node_inputs(n);
        for (int k = 0; k < n->n_in; k++)
            if (!gr_op_nondiff_at(n->op, k)) mark[in[k]] = 1;
    }
}

/* The most operands of any node among the first n_order of the order
 * (at least GR_MAX_OPERANDS): the size of a rule's per-operand arrays. */
static int widest_node(const gr_graph *g, int n_order) {
    int w = GR_MAX_OPERANDS;
    for (int i = 0; i < n_order; i++)
        if (g->nodes[g->order[i]].n_in > w) w = g->nodes[g->order[i]].n_in;
    return w;
}

gr_status gr_grad(gr_graph *g, int loss, const int *wrt, int n_wrt, int *grads, gr_error *err) {
    gr_status st;
    if (!g->finalized) return gr_fail(err, GR_E_STATE, NULL, -1, "finalize the graph before differentiating it");
    if ((st = check_ids(g, &loss, 1, "the loss", err)) != GR_OK) return st;
    if ((st = check_ids(g, wrt, n_wrt, "wrt entry", err)) != GR_OK) return st;
    if (g->nodes[loss].numel != 1) {
        char buf[160];
        return gr_fail_node(err, GR_E_NOT_SCALAR, g, loss, -1,
                            "the loss must have exactly one element; its shape is %s",
                            gr_shape_str(&g->nodes[loss].shape, buf, sizeof buf));
    }

    int n = g->n, n_order = g->n_order, wide = widest_node(g, n_order);
    char *fwd = calloc((size_t)n, 1), *bwd = calloc((size_t)n, 1);
    int *adj = malloc((size_t)n * sizeof *adj);
    /* a rule's operands, which need a gradient, and its contributions */
    int *in = malloc((size_t)wide * sizeof *in), *need = malloc((size_t)wide * sizeof *need),
        *contrib = malloc((size_t)wide * sizeof *contrib);
    if (!fwd || !bwd || !adj || !in || !need || !contrib) {
        st = gr_fail(err, GR_E_NOMEM, NULL, -1, "out of memory differentiating the graph");
        goto out;
    }
    /* Algorithm 5 of seed 003: only nodes between the wrt set and the loss. */
    for (int i = 0; i < n_wrt; i++) fwd[wrt[i]] = 1;
    mark_forward(g, n_order, fwd);
    bwd[loss] = 1;
    mark_backward(g, n_order, bwd);
    for (int i = 0; i < n; i++) {
        fwd[i] = fwd[i] && bwd[i];
        adj[i] = -1;
    }

    if (fwd[loss]) adj[loss] = gr_build_fill(g, gr_shape_of(g, loss), 1.0);
    for (int i = n_order - 1; i >= 0 && !g->failed; i--) {
        if ((n_order - 1 - i) % GR_CHUNK_NODES == 0 && gr_cancelled(g->cancel)) {
            st = cancelled(g, err);
            goto out;
        }
        int v = g->order[i];
        /* Copy what the rule needs: building nodes may move g->nodes. */
        const gr_node *nd = &g->nodes[v];
        if (!fwd[v] || adj[v] < 0 || nd->kind != GR_OPNODE) continue;
        const gr_op *op = nd->op;
        int n_in = nd->n_in, any = 0;
        const int *nd_in = gr_node_inputs(nd);
        for (int k = 0; k < n_in; k++) {
            in[k] = nd_in[k];
            need[k] = fwd[in[k]] && !gr_op_nondiff_at(op, k);
            contrib[k] = -1;
            any |= need[k];
        }
        if (!any) continue;
        if (op->partial) {
            for (int k = 0; k < n_in; k++)
                if (need[k]) contrib[k] = gr_build_mul_partial(g, adj[v], op->partial(g, v, k));
        } else {
            op->vjp(g, v, adj[v], need, contrib);
        }
        for (int k = 0; k < n_in; k++) {
            if (!need[k] || contrib[k] < 0) continue;
            int c = fit_shape(g, contrib[k], gr_shape_of(g, in[k]));
            adj[in[k]] = accumulate(g, adj[in[k]], c);
        }
    }
    for (int i = 0; i < n_wrt && !g->failed; i++)
        grads[i] = adj[wrt[i]] >= 0 ? adj[wrt[i]] : gr_build_fill(g, gr_shape_of(g, wrt[i]), 0.0);
    st = builder_status(g, err);
out:
    free(fwd);
    free(bwd);
    free(adj);
    free(in);
    free(need);
    free(contrib);
    return st;
}

gr_status gr_jvp(gr_graph *g, const int *seeds, const int *tangents, int n_seeds, const int *outputs, int n_outputs,
                 int *out_tangents, gr_error *err) {
    gr_status st;
    if (!g->finalized) return gr_fail(err, GR_E_STATE, NULL, -1, "finalize the graph before differentiating it");
    if ((st = check_ids(g, seeds, n_seeds, "seed", err)) != GR_OK) return st;
    if ((st = check_ids(g, tangents, n_seeds, "tangent", err)) != GR_OK) return st;
    if ((st = check_ids(g, outputs, n_outputs, "output", err)) != GR_OK) return st;
    for (int i = 0; i < n_seeds; i++)
        if (!gr_shape_equal(gr_shape_of(g, seeds[i]), gr_shape_of(g, tangents[i]))) {
            char a[160], b[160];
            return gr_fail_node(err, GR_E_SHAPE, g, seeds[i], -1, "the tangent has shape %s but the node has shape %s",
                                gr_shape_str(gr_shape_of(g, tangents[i]), a, sizeof a),
                                gr_shape_str(gr_shape_of(g, seeds[i]), b, sizeof b));
        }

    int n = g->n, n_order = g->n_order;
    char *fwd = calloc((size_t)n, 1), *bwd = calloc((size_t)n, 1), *seeded = calloc((size_t)n, 1);
    int *tan = malloc((size_t)n * sizeof *tan);
    int *t_in = malloc((size_t)widest_node(g, n_order) * sizeof *t_in); /* a rule's operand tangents */
    if (!fwd || !bwd || !seeded || !tan || !t_in) {
        st = gr_fail(err, GR_E_NOMEM, NULL, -1, "out of memory differentiating the graph");
        goto out;
    }
    for (int i = 0; i < n; i++) tan[i] = -1;
    for (int i = 0; i < n_seeds; i++) {
        int s = seeds[i];
        fwd[s] = seeded[s] = 1;
        tan[s] = tan[s] < 0 ? tangents[i] : gr_build_binary(g, &gr_op_add, tan[s], tangents[i]);
    }
    mark_forward(g, n_order, fwd);
    for (int i = 0; i < n_outputs; i++) bwd[outputs[i]] = 1;
    mark_backward(g, n_order, bwd);

    for (int i = 0; i < n_order && !g->failed; i++) {
        if (i % GR_CHUNK_NODES == 0 && gr_cancelled(g->cancel)) {
            st = cancelled(g, err);
            goto out;
        }
        int v = g->order[i];
        if (!fwd[v] || !bwd[v] || seeded[v] || g->nodes[v].kind != GR_OPNODE) continue;
        const gr_op *op = g->nodes[v].op;
        int n_in = g->nodes[v].n_in, any = 0;
        const int *v_in = gr_node_inputs(&g->nodes[v]);
        for (int k = 0; k < n_in; k++) {
            t_in[k] = gr_op_nondiff_at(op, k) ? -1 : tan[v_in[k]];
            any |= t_in[k] >= 0;
        }
        if (!any) continue;
        int t = -1;
        if (op->partial) {
            for (int k = 0; k < n_in; k++) {
                if (t_in[k] < 0) continue;
                int term = gr_build_mul_partial(g, t_in[k], op->partial(g, v, k));
                t = t < 0 ? term : gr_build_binary(g, &gr_op_add, t, term);
            }
        } else {
            t = op->jvp(g, v, t_in);
        }
        tan[v] = fit_shape(g, t, gr_shape_of(g, v));
    }
    for (int i = 0; i < n_outputs && !g->failed; i++)
        out_tangents[i] = tan[outputs[i]] >= 0 ? tan[outputs[i]] : gr_build_fill(g, gr_shape_of(g, outputs[i]), 0.0);
    st = builder_status(g, err);
out:
    free(fwd);
    free(bwd);
    free(seeded);
    free(tan);
    free(t_in);
    return st;
}

gr_status gr_hvp(gr_graph *g, int loss, const int *wrt, const int *vectors, int n, int *hv, gr_error *err) {
    gr_status st;
    if ((st = check_ids(g, vectors, n, "vector", err)) != GR_OK) return st;
    int *grads = malloc((size_t)(n > 0 ? n : 1) * sizeof *grads);
    if (!grads) return gr_fail(err, GR_E_NOMEM, NULL, -1, "out of memory");
    st = gr_grad(g, loss, wrt, n, grads, err);
    if (st != GR_OK) goto out;
    for (int i = 0; i < n; i++)
        if (!gr_shape_equal(gr_shape_of(g, vectors[i]), gr_shape_of(g, wrt[i]))) {
            char a[160], b[160];
            st = gr_fail_node(err, GR_E_SHAPE, g, wrt[i], -1, "the vector has shape %s but the node has shape %s",
                              gr_shape_str(gr_shape_of(g, vectors[i]), a, sizeof a),
                              gr_shape_str(gr_shape_of(g, wrt[i]), b, sizeof b));
            goto out;
        }
    /* H v = d/dw <grad(w), v>, with v held constant. */
    int dot = -1;
    for (int i = 0; i < n; i++) {
        int term = gr_build_sum(g, gr_build_binary(g, &gr_op_mul, grads[i], vectors[i]), NULL, 0, 0);
        dot = dot < 0 ? term : gr_build_binary(g, &gr_op_add, dot, term);
    }
    if (dot < 0 && n == 0) goto out;
    if ((st = builder_status(g, err)) != GR_OK) goto out;
    st = gr_grad(g, dot, wrt, n, hv, err);
out:
    free(grads);
    return st;
}
