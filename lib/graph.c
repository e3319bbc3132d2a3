/* graph.c -- the graph IR: named single-assignment nodes, a name index,
 * finalize (resolve names, reject cycles, order, infer shapes) and the
 * node accessors. Nothing here recurses, so depth is unbounded. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- name index (open addressing, FNV-1a) ---------------------------- */

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int htab_find(const gr_graph *g, const char *name) {
    if (!g->hcap) return -1;
    for (size_t i = name_hash(name) & (g->hcap - 1);; i = (i + 1) & (g->hcap - 1)) {
        int id = g->htab[i];
        if (id < 0) return -1;
        if (strcmp(g->nodes[id].name, name) == 0) return id;
    }
}

static int htab_insert(gr_graph *g, int id) {
    if ((g->hused + 1) * 2 > g->hcap) {
        size_t ncap = g->hcap ? g->hcap * 2 : 64;
        int *nt = malloc(ncap * sizeof *nt);
        if (!nt) return 0;
        for (size_t i = 0; i < ncap; i++) nt[i] = -1;
        for (size_t i = 0; i < g->hcap; i++) {
            int v = g->htab[i];
            if (v < 0) continue;
            size_t j = name_hash(g->nodes[v].name) & (ncap - 1);
            while (nt[j] >= 0) j = (j + 1) & (ncap - 1);
            nt[j] = v;
        }
        free(g->htab);
        g->htab = nt;
        g->hcap = ncap;
    }
    size_t j = name_hash(g->nodes[id].name) & (g->hcap - 1);
    while (g->htab[j] >= 0) j = (j + 1) & (g->hcap - 1);
    g->htab[j] = id;
    g->hused++;
    return 1;
}

/* ---- life cycle ------------------------------------------------------ */

/* Free what a node owns for its operands: the pending names and the
 * operand array of a node with more than GR_MAX_OPERANDS operands. */
static void node_free_operands(gr_node *n) {
    if (n->in_names)
        for (int k = 0; k < n->n_in; k++) free(n->in_names[k]);
    free(n->in_names);
    free(n->in_all);
    n->in_names = NULL;
    n->in_all = NULL;
}

gr_graph *gr_graph_new(gr_dtype dt, const gr_limits *limits) {
    gr_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->dt = dt;
    g->lim = limits ? *limits : gr_limits_default();
    if (g->lim.max_rank > GR_MAX_RANK || g->lim.max_rank < 0) g->lim.max_rank = GR_MAX_RANK;
    gr_error_clear(&g->berr);
    return g;
}

void gr_graph_free(gr_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n; i++) {
        gr_node *n = &g->nodes[i];
        free(n->name);
        free(n->cdata);
        node_free_operands(n);
    }
    free(g->nodes);
    free(g->order);
    free(g->htab);
    free(g->scalar_keys);
    free(g->scalar_ids);
    gr_attr_pool_free(g);
    free(g);
}

gr_dtype gr_graph_dtype(const gr_graph *g) { return g->dt; }
int gr_graph_node_count(const gr_graph *g) { return g->n; }

int64_t gr_graph_bytes(const gr_graph *g) {
    int64_t bytes = (int64_t)sizeof *g + (int64_t)g->cap * (int64_t)(sizeof *g->nodes + sizeof *g->order) +
                    (int64_t)g->hcap * (int64_t)sizeof *g->htab +
                    (int64_t)g->scalar_cap * (int64_t)(sizeof *g->scalar_keys + sizeof *g->scalar_ids) +
                    gr_attr_pool_bytes(g);
    int64_t width = g->dt == GR_F32 ? 4 : 8;
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        if (n->name) bytes += (int64_t)strlen(n->name) + 1;
        if (n->cdata) bytes += n->numel * width;
        if (n->in_all) bytes += (int64_t)n->n_in * (int64_t)sizeof *n->in_all;
    }
    return bytes;
}

void gr_graph_set_plan_limit(gr_graph *g, int64_t max_plan_bytes) { g->lim.max_plan_bytes = max_plan_bytes; }

/* Append a blank node named name (NULL: anonymous). Checks the name and
 * the node limit. Returns the id or -1. */
static int node_new(gr_graph *g, const char *name, gr_node_kind kind, gr_error *err) {
    if (name) {
        size_t len = strlen(name);
        if (len == 0 || len >= GR_NAME_MAX || name[0] == '%') {
            gr_fail(err, GR_E_ARG, name, -1,
                    "node name '%.64s' is invalid: names are 1 to %d bytes and do not start with '%%'", name,
                    GR_NAME_MAX - 1);
            return -1;
        }
        if (htab_find(g, name) >= 0) {
            gr_fail(err, GR_E_DUPLICATE, name, -1, "node '%s' is defined more than once", name);
            return -1;
        }
    }
    if (g->n >= g->lim.max_nodes) {
        gr_fail(err, GR_E_LIMIT, name, -1, "the graph would exceed the limit of %lld nodes",
                (long long)g->lim.max_nodes);
        return -1;
    }
    if (g->n == g->cap) {
        int ncap = g->cap ? g->cap * 2 : 64;
        gr_node *nn = realloc(g->nodes, (size_t)ncap * sizeof *nn);
        if (!nn) goto nomem;
        g->nodes = nn;
        int *no = realloc(g->order, (size_t)ncap * sizeof *no);
        if (!no) goto nomem;
        g->order = no;
        g->cap = ncap;
    }
    gr_node *n = &g->nodes[g->n];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->attrs = &gr_attrs_none;
    for (int k = 0; k < GR_MAX_OPERANDS; k++) n->in[k] = -1;
    if (name) {
        n->name = strdup(name);
        if (!n->name) goto nomem;
        if (!htab_insert(g, g->n)) {
            free(n->name);
            n->name = NULL;
            goto nomem;
        }
    }
    return g->n++;
nomem:
    gr_fail(err, GR_E_NOMEM, name, -1, "out of memory adding a node");
    return -1;
}

/* Remove the last node (one that failed to build), name and all. */
static void node_pop(gr_graph *g) {
    int id = g->n - 1;
    gr_node *n = &g->nodes[id];
    if (n->name) {
        size_t j = name_hash(n->name) & (g->hcap - 1);
        while (g->htab[j] != id) j = (j + 1) & (g->hcap - 1);
        g->htab[j] = -1;
        g->hused--;
        /* Re-insert the rest of the probe cluster so lookups still find it. */
        for (size_t k = (j + 1) & (g->hcap - 1); g->htab[k] >= 0; k = (k + 1) & (g->hcap - 1)) {
            int v = g->htab[k];
            g->htab[k] = -1;
            g->hused--;
            htab_insert(g, v); /* cannot grow: the table only lost an entry */
        }
        free(n->name);
    }
    free(n->cdata);
    node_free_operands(n);
    g->n--;
}

/* Leaves have no operands, so they can be ordered at once. */
static int leaf_new(gr_graph *g, const char *name, gr_node_kind kind, const gr_shape *shape, gr_error *err) {
    if (!name && kind != GR_CONST) {
        gr_fail(err, GR_E_ARG, NULL, -1, "inputs and params need a name");
        return -1;
    }
    gr_shape s = *shape; /* shape may point into g->nodes, which node_new can move */
    int id = node_new(g, name, kind, err);
    if (id < 0) return -1;
    if (gr_node_set_shape(g, id, &s, err) != GR_OK) {
        node_pop(g);
        return -1;
    }
    g->order[g->n_order++] = id;
    return id;
}

int gr_graph_input(gr_graph *g, const char *name, const gr_shape *shape, gr_error *err) {
    return leaf_new(g, name, GR_INPUT, shape, err);
}

int gr_graph_param(gr_graph *g, const char *name, const gr_shape *shape, gr_error *err) {
    return leaf_new(g, name, GR_PARAM, shape, err);
}

int gr_graph_const(gr_graph *g, const char *name, const gr_shape *shape, const void *data, gr_error *err) {
    int id = leaf_new(g, name, GR_CONST, shape, err);
    if (id < 0) return -1;
    gr_node *n = &g->nodes[id];
    size_t bytes = (size_t)n->numel * gr_dtype_size(g->dt);
    n->cdata = malloc(bytes ? bytes : 1);
    if (!n->cdata) {
        gr_fail(err, GR_E_NOMEM, name, -1, "out of memory for a constant");
        g->n_order--;
        node_pop(g);
        return -1;
    }
    if (bytes) memcpy(n->cdata, data, bytes);
    return id;
}

/* Check operand count and attributes against op's entry, and each
 * attribute's value against its row of the attribute table. */
static gr_status check_signature(const gr_op *op, const char *name, int n_operands, const gr_attrs *attrs,
                                 gr_error *err) {
    if (op->arity == GR_VARIADIC) {
        if (n_operands < op->min_operands || n_operands > GR_MAX_VARIADIC)
            return gr_fail(err, GR_E_ARG, name, -1, "op '%s' takes %d to %d operands, got %d", op->name,
                           op->min_operands, GR_MAX_VARIADIC, n_operands);
    } else if (n_operands != op->arity) {
        return gr_fail(err, GR_E_ARG, name, -1, "op '%s' takes %d operand%s, got %d", op->name, op->arity,
                       op->arity == 1 ? "" : "s", n_operands);
    }
    gr_attr_mask set = attrs ? attrs->set : 0;
    gr_attr_mask extra = set & ~op->attrs, missing = op->required & ~set;
    for (int i = 0; i < GR_ATTR_COUNT; i++) {
        if (extra & GR_ATTR_BIT(i)) {
            gr_fail(err, GR_E_OP, name, -1, "op '%s' has no attribute '%s'", op->name, gr_attr_name(i));
            if (err) snprintf(err->attr, sizeof err->attr, "%s", gr_attr_name(i));
            return GR_E_OP;
        }
        if (missing & GR_ATTR_BIT(i)) {
            gr_fail(err, GR_E_ARG, name, -1, "op '%s' needs attribute '%s'", op->name, gr_attr_name(i));
            if (err) snprintf(err->attr, sizeof err->attr, "%s", gr_attr_name(i));
            return GR_E_ARG;
        }
    }
    if (gr_attrs_check(attrs, err) != GR_OK) { /* the table's range rule */
        if (err) snprintf(err->node, sizeof err->node, "%s", name ? name : "");
        return GR_E_ARG;
    }
    return GR_OK;
}

/* A new op node of op with n_operands (unset, -1) operands and attrs,
 * after checking the signature; more than GR_MAX_OPERANDS operands get
 * their own array (in_all). Returns the id or -1. */
static int op_node_new(gr_graph *g, const char *name, const gr_op *op, int n_operands, const gr_attrs *attrs,
                       gr_error *err) {
    if (!op) {
        gr_fail(err, GR_E_OP, name, -1, "no op given");
        return -1;
    }
    if (check_signature(op, name, n_operands, attrs, err) != GR_OK) return -1;
    const gr_attrs *a = gr_attrs_intern(g, attrs, err); /* attrs may point into g->nodes, which node_new moves */
    if (!a) return -1;
    int id = node_new(g, name, GR_OPNODE, err);
    if (id < 0) return -1;
    gr_node *n = &g->nodes[id];
    n->op = op;
    n->n_in = n_operands;
    n->attrs = a;
    if (n_operands > GR_MAX_OPERANDS) {
        n->in_all = malloc((size_t)n_operands * sizeof *n->in_all);
        if (!n->in_all) {
            gr_fail(err, GR_E_NOMEM, name, -1, "out of memory for %d operands", n_operands);
            node_pop(g);
            return -1;
        }
        for (int k = 0; k < n_operands; k++) n->in_all[k] = -1;
    }
    return id;
}

int gr_graph_node(gr_graph *g, const char *name, const gr_op *op, const char *const *operand_names,
                  int n_operands, const gr_attrs *attrs, gr_error *err) {
    if (g->finalized) {
        gr_fail(err, GR_E_STATE, name, -1, "nodes by name can only be added before finalize");
        return -1;
    }
    if (!name) {
        gr_fail(err, GR_E_ARG, NULL, -1, "op nodes added by name need a name");
        return -1;
    }
    int id = op_node_new(g, name, op, n_operands, attrs, err);
    if (id < 0) return -1;
    gr_node *n = &g->nodes[id];
    n->in_names = n_operands > 0 ? calloc((size_t)n_operands, sizeof *n->in_names) : NULL;
    if (n_operands > 0 && !n->in_names) {
        gr_fail(err, GR_E_NOMEM, name, -1, "out of memory");
        node_pop(g);
        return -1;
    }
    for (int k = 0; k < n_operands; k++) {
        n->in_names[k] = strdup(operand_names[k] ? operand_names[k] : "");
        if (!n->in_names[k]) {
            gr_fail(err, GR_E_NOMEM, name, k, "out of memory");
            node_pop(g);
            return -1;
        }
    }
    return id;
}

/* ---- finalize -------------------------------------------------------- */

/* Describe one cycle among the nodes still holding in-degree: walk operands
 * that are themselves unfinished until a node repeats. */
static gr_status report_cycle(gr_graph *g, const int *indeg, gr_error *err) {
    int start = -1;
    for (int i = 0; i < g->n; i++)
        if (indeg[i] > 0) { start = i; break; }
    int *seen = calloc((size_t)g->n, sizeof *seen);
    if (!seen) return gr_fail(err, GR_E_CYCLE, g->nodes[start].name, -1, "the graph has a cycle");
    int v = start, step = 1;
    while (!seen[v]) {
        seen[v] = step++;
        const gr_node *n = &g->nodes[v];
        const int *in = gr_node_inputs(n);
        int next = -1;
        for (int k = 0; k < n->n_in; k++)
            if (indeg[in[k]] > 0) { next = in[k]; break; }
        v = next;
    }
    /* v is on the cycle; list it (up to a few names). */
    char path[256];
    size_t len = 0;
    int u = v, count = 0;
    do {
        const gr_node *n = &g->nodes[u];
        if (count < 6) len += (size_t)snprintf(path + len, sizeof path - len, "%s%s", count ? " <- " : "", n->name);
        count++;
        const int *in = gr_node_inputs(n);
        int next = -1;
        for (int k = 0; k < n->n_in; k++)
            if (indeg[in[k]] > 0 && seen[in[k]]) { next = in[k]; break; }
        u = next;
    } while (u != v && u >= 0 && count < 1000000 && len < sizeof path);
    if (count > 6 && len < sizeof path) snprintf(path + len, sizeof path - len, " <- ...");
    free(seen);
    return gr_fail(err, GR_E_CYCLE, g->nodes[v].name, -1, "the graph has a cycle: %s <- %s", path, g->nodes[v].name);
}

void gr_graph_set_cancel(gr_graph *g, const volatile int *flag) { g->cancel = flag; }

/* 1 when the graph's cancel flag is raised, looked at on every
 * GR_CHUNK_NODES-th step i of a loop over nodes. */
static int cancel_due(const gr_graph *g, size_t i) { return i % GR_CHUNK_NODES == 0 && gr_cancelled(g->cancel); }

static gr_status finalize_cancelled(gr_error *err) {
    return gr_fail(err, GR_E_CANCELLED, NULL, -1, "finalizing the graph was cancelled");
}

gr_status gr_graph_finalize(gr_graph *g, gr_error *err) {
    gr_status st = GR_OK;
    int *indeg = NULL, *users_off = NULL, *users = NULL, *queue = NULL;
    if (g->finalized) return gr_fail(err, GR_E_STATE, NULL, -1, "the graph is already finalized");

    /* 1. Resolve operand names. */
    for (int i = 0; i < g->n; i++) {
        if (cancel_due(g, (size_t)i)) return finalize_cancelled(err);
        gr_node *n = &g->nodes[i];
        if (!n->in_names) continue;
        for (int k = 0; k < n->n_in; k++) {
            if (!n->in_names[k]) continue;
            int id = htab_find(g, n->in_names[k]);
            if (id < 0)
                return gr_fail_node(err, GR_E_NAME, g, (int)(n - g->nodes), k, "'%.100s' is not defined",
                                    n->in_names[k]);
            gr_node_set_input(n, k, id);
            free(n->in_names[k]);
            n->in_names[k] = NULL;
        }
        free(n->in_names);
        n->in_names = NULL;
    }

    /* 2. Kahn's algorithm over op nodes (leaves are already ordered). */
    size_t nn = (size_t)(unsigned)g->n;
    indeg = calloc(nn + 1, sizeof *indeg);
    users_off = calloc(nn + 1, sizeof *users_off);
    queue = malloc(nn * sizeof *queue + 1);
    if (!indeg || !users_off || !queue) goto nomem;
    size_t edges = 0;
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        const int *in = gr_node_inputs(n);
        for (int k = 0; k < n->n_in; k++) {
            users_off[in[k] + 1]++;
            indeg[i]++;
            edges++;
        }
    }
    for (size_t i = 0; i < nn; i++) users_off[i + 1] += users_off[i];
    users = malloc(edges * sizeof *users + 1);
    if (!users) goto nomem;
    {
        int *fill = calloc(nn, sizeof *fill);
        if (!fill) goto nomem;
        for (int i = 0; i < g->n; i++) {
            const gr_node *n = &g->nodes[i];
            const int *in = gr_node_inputs(n);
            for (int k = 0; k < n->n_in; k++) users[users_off[in[k]] + fill[in[k]]++] = i;
        }
        free(fill);
    }
    size_t head = 0, tail = 0;
    for (int i = 0; i < g->n; i++)
        if (indeg[i] == 0) queue[tail++] = i;
    g->n_order = 0;
    while (head < tail) {
        if (cancel_due(g, head)) {
            st = finalize_cancelled(err);
            goto out;
        }
        int v = queue[head++];
        g->order[g->n_order++] = v;
        for (int j = users_off[v]; j < users_off[v + 1]; j++) {
            /* A node using v twice holds two edges: decrement per edge. */
            if (--indeg[users[j]] == 0) queue[tail++] = users[j];
        }
    }
    if (g->n_order != g->n) {
        st = report_cycle(g, indeg, err);
        g->n_order = 0;
        for (int i = 0; i < g->n; i++)
            if (g->nodes[i].kind != GR_OPNODE) g->order[g->n_order++] = i;
        goto out;
    }

    /* 3. Infer shapes in order. */
    for (int i = 0; i < g->n_order; i++) {
        if (cancel_due(g, (size_t)i)) {
            st = finalize_cancelled(err);
            goto out;
        }
        int id = g->order[i];
        const gr_node *n = &g->nodes[id];
        if (n->kind != GR_OPNODE) continue;
        st = n->op->infer(g, id, err);
        if (st != GR_OK) goto out;
    }
    g->finalized = 1;
out:
    free(indeg);
    free(users_off);
    free(users);
    free(queue);
    return st;
nomem:
    st = gr_fail(err, GR_E_NOMEM, NULL, -1, "out of memory finalizing the graph");
    goto out;
}

int gr_graph_apply(gr_graph *g, const char *name, const gr_op *op, const int *operands, int n_operands,
                   const gr_attrs *attrs, gr_error *err) {
    if (!g->finalized) {
        gr_fail(err, GR_E_STATE, name, -1, "nodes by id can only be added after finalize");
        return -1;
    }
    for (int k = 0; k < n_operands; k++)
        if (operands[k] < 0 || operands[k] >= g->n) {
            gr_fail(err, GR_E_ARG, name, k, "operand %d is not a node id", k);
            return -1;
        }
    int id = op_node_new(g, name, op, n_operands, attrs, err);
    if (id < 0) return -1;
    gr_node *n = &g->nodes[id];
    for (int k = 0; k < n_operands; k++) gr_node_set_input(n, k, operands[k]);
    if (op->infer(g, id, err) != GR_OK) {
        node_pop(g);
        return -1;
    }
    g->order[g->n_order++] = id;
    return id;
}

/* ---- accessors ------------------------------------------------------- */

int gr_graph_find(const gr_graph *g, const char *name) { return name ? htab_find(g, name) : -1; }

const char *gr_node_name(const gr_graph *g, int id, char *buf, size_t cap) {
    if (id < 0 || id >= g->n) {
        snprintf(buf, cap, "%%invalid");
        return buf;
    }
    if (g->nodes[id].name) return g->nodes[id].name;
    snprintf(buf, cap, "%%%d", id);
    return buf;
}

gr_node_kind gr_node_kind_of(const gr_graph *g, int id) { return g->nodes[id].kind; }
const gr_op *gr_node_op(const gr_graph *g, int id) { return g->nodes[id].op; }
int gr_node_operand_count(const gr_graph *g, int id) { return g->nodes[id].n_in; }
int gr_node_operand(const gr_graph *g, int id, int i) { return gr_node_inputs(&g->nodes[id])[i]; }
const gr_attrs *gr_node_attrs(const gr_graph *g, int id) { return g->nodes[id].attrs; }
const gr_shape *gr_node_shape(const gr_graph *g, int id) { return &g->nodes[id].shape; }
int64_t gr_node_numel(const gr_graph *g, int id) { return g->nodes[id].numel; }
const void *gr_node_const_data(const gr_graph *g, int id) { return g->nodes[id].cdata; }

int64_t gr_node_flops(const gr_graph *g, int id) {
    const gr_node *n = &g->nodes[id];
    if (n->kind != GR_OPNODE) return 0;
    return n->op->flops ? n->op->flops(g, n) : n->numel;
}

const int *gr_graph_order(const gr_graph *g, int *n) {
    *n = g->n_order;
    return g->order;
}
