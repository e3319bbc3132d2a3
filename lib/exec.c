/* exec.c -- compile a graph into a linear program over one planned arena,
 * then run it many times with no allocation in the run loop.
 *
 * Planning simulates an allocator at compile time: nodes are visited in
 * program order, each output gets a best-fit block of the arena, and an
 * operand's block returns to the free list right after its last reader, so
 * the arena's size is the peak of the live set, not the sum of all nodes.
 * A view (reshape, squeeze...) gets no block: it reads its operand's, whose
 * last reader is then the last reader of any view of it. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64

struct gr_exec {
    const gr_graph *g;
    int n_nodes;              /* graph size at compile time */
    int *prog;                /* (n_prog) op node ids in program order */
    int *fused;               /* (n_prog) matmul folded into this add, or -1 */
    char *view;               /* (n_prog) 1: the result is operand 0's buffer (GR_OPF_VIEW) */
    char *relu;               /* (n_prog) RELU_WRITES: a convolution writing relu of its result
                                 (fuse_relu); RELU_VIEW: that relu, a view of it */
    int *side;                /* (n_prog) a second node instruction p computes (its kernel's
                                 gr_kernel.side: its op's writes_side accepted it), or -1 */
    int n_prog;
    void **work;              /* (n_prog) scratch of instruction p (op->workspace), or NULL */
    int64_t *work_bytes;      /* (n_prog) its planned size */
    void **data;              /* (n_nodes) buffer of each node the program touches */
    char *role;               /* (n_nodes) ROLE_* */
    int *binds;               /* (n_binds) input and param nodes the program reads */
    int n_binds;
    unsigned char *arena;     /* (arena_bytes) intermediate buffers */
    const void **in_data;     /* (widest) operand data of the running instruction */
    gr_exec_stats stats;
    const volatile int *cancel;
};

enum { ROLE_NONE = 0, ROLE_LIVE = 1, ROLE_OUTPUT = 2, ROLE_BOUND = 4 };
enum { RELU_NONE = 0, RELU_WRITES = 1, RELU_VIEW = 2 };

/* ---- the compile-time allocator -------------------------------------- */

typedef struct block { int64_t off, size; } block;
typedef struct planner {
    block *free;     /* (nfree) free blocks sorted by offset */
    int nfree, cap;
    int64_t end;     /* arena size so far */
} planner;

static int64_t align_up(int64_t v) { return (v + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN; }

/* Best fit among free blocks, else grow the end (absorbing a free tail). */
static int plan_alloc(planner *p, int64_t size, int64_t *off) {
    int best = -1;
    for (int i = 0; i < p->nfree; i++)
        if (p->free[i].size >= size && (best < 0 || p->free[i].size < p->free[best].size)) best = i;
    if (best >= 0) {
        *off = p->free[best].off;
        p->free[best].off += size;
        p->free[best].size -= size;
        if (p->free[best].size == 0) {
            memmove(&p->free[best], &p->free[best + 1], (size_t)(p->nfree - best - 1) * sizeof(block));
            p->nfree--;
        }
        return 1;
    }
    if (p->nfree > 0 && p->free[p->nfree - 1].off + p->free[p->nfree - 1].size == p->end) {
        block *t = &p->free[--p->nfree];
        *off = t->off;
        p->end = t->off + size;
        return 1;
    }
    *off = p->end;
    return gr_add_ok(p->end, size, &p->end);
}

static int plan_release(planner *p, int64_t off, int64_t size) {
    if (size == 0) return 1;
    int i = 0;
    while (i < p->nfree && p->free[i].off < off) i++;
    int merge_prev = i > 0 && p->free[i - 1].off + p->free[i - 1].size == off;
    int merge_next = i < p->nfree && off + size == p->free[i].off;
    if (merge_prev && merge_next) {
        p->free[i - 1].size += size + p->free[i].size;
        memmove(&p->free[i], &p->free[i + 1], (size_t)(p->nfree - i - 1) * sizeof(block));
        p->nfree--;
    } else if (merge_prev) {
        p->free[i - 1].size += size;
    } else if (merge_next) {
        p->free[i].off = off;
        p->free[i].size += size;
    } else {
        if (p->nfree == p->cap) {
            int ncap = p->cap ? p->cap * 2 : 16;
            block *nb = realloc(p->free, (size_t)ncap * sizeof *nb);
            if (!nb) return 0;
            p->free = nb;
            p->cap = ncap;
        }
        memmove(&p->free[i + 1], &p->free[i], (size_t)(p->nfree - i) * sizeof(block));
        p->free[i].off = off;
        p->free[i].size = size;
        p->nfree++;
    }
    return 1;
}

/* ---- fusion ---------------------------------------------------------- */

/* The nodes instruction p reads into *ops: the node's operands, or for a
 * fused matmul (or convolution) + bias its two operands and the bias, and
 * for a fused max_pool2d_backward its two operands, written to fused_ops
 * (3 entries). Returns the count. */
static int instr_operands(const gr_exec *e, int p, int *fused_ops, const int **ops) {
    const gr_node *n = &e->g->nodes[e->prog[p]];
    if (e->fused[p] < 0) {
        *ops = gr_node_inputs(n);
        return n->n_in;
    }
    const gr_node *f = &e->g->nodes[e->fused[p]];
    fused_ops[0] = f->in[0];
    fused_ops[1] = f->in[1];
    *ops = fused_ops;
    if (f->op == &gr_op_max_pool2d_backward) return 2;
    fused_ops[2] = n->in[0] == e->fused[p] ? n->in[1] : n->in[0];
    return 3;
}

/* 1 when node m can take add(m, other)'s bias: a matmul (its GEMM starts
 * from the bias), or a convolution with one value per output channel
 * (its kernel adds them as it writes). */
static int takes_bias(const gr_node *m, const gr_shape *other) {
    if (m->kind != GR_OPNODE) return 0;
    if (m->op == &gr_op_matmul) return 1;
    return (m->op == &gr_op_conv2d || m->op == &gr_op_conv1d) && gr_conv_bias_fits(m, other);
}

/* The node instruction n can run as with its own work folded in, or -1:
 * for add(m, bias), m when it takes the bias (takes_bias) and has the
 * add's shape; for relu_backward(v, x) of a relu's max pooling,
 * v = max_pool2d_backward(relu(x), g), whose kernel then keeps only the
 * gradients at elements of relu(x) above 0 (or NaN), which are x's. */
static int foldable(const gr_graph *g, const gr_node *n) {
    if (n->op == &gr_op_add) {
        for (int side = 0; side < 2; side++) {
            const gr_node *m = &g->nodes[n->in[side]];
            if (n->in[1 - side] != n->in[side] && takes_bias(m, &g->nodes[n->in[1 - side]].shape) &&
                gr_shape_equal(&m->shape, &n->shape))
                return n->in[side];
        }
        return -1;
    }
    if (n->op != &gr_op_relu_backward) return -1;
    const gr_node *v = &g->nodes[n->in[0]];
    if (v->kind != GR_OPNODE || v->op != &gr_op_max_pool2d_backward || !gr_shape_equal(&v->shape, &n->shape))
        return -1;
    const gr_node *h = &g->nodes[v->in[0]];
    return h->kind == GR_OPNODE && h->op == &gr_op_relu && h->in[0] == n->in[1] ? n->in[0] : -1;
}

/* Fold into each instruction the node foldable names when it has no other
 * reader and is not an output: that node's buffer and one pass over it
 * disappear. Then drop the folded nodes from the program. */
static int fuse_kernels(gr_exec *e) {
    const gr_graph *g = e->g;
    int *readers = calloc((size_t)g->n + 1, sizeof *readers);
    if (!readers) return 0;
    for (int p = 0; p < e->n_prog; p++) {
        const gr_node *n = &g->nodes[e->prog[p]];
        const int *in = gr_node_inputs(n);
        for (int k = 0; k < n->n_in; k++) readers[in[k]]++;
    }
    for (int p = 0; p < e->n_prog; p++) {
        int m = foldable(g, &g->nodes[e->prog[p]]);
        e->fused[p] = -1;
        if (m >= 0 && readers[m] == 1 && !(e->role[m] & ROLE_OUTPUT)) {
            e->fused[p] = m;
            readers[m] = -1; /* folded: not an instruction of its own */
        }
    }
    int w = 0;
    for (int p = 0; p < e->n_prog; p++) {
        if (readers[e->prog[p]] == -1) continue;
        e->prog[w] = e->prog[p];
        e->fused[w] = e->fused[p];
        w++;
    }
    e->n_prog = w;
    free(readers);
    return 1;
}

/* Let an instruction also write a later node on its first operand when its
 * op's writes_side accepts that node, and drop that node's instruction:
 * scaled_dot_product_attention writes the attention_probs its derivative
 * reads (gpt-step: 0.24 ms of 10), cross_entropy the softmax of its
 * gradient. The writer is the latest instruction on that operand whose op
 * has the hook. */
static int fuse_side_results(gr_exec *e) {
    const gr_graph *g = e->g;
    int *writer_of = malloc(((size_t)g->n + 1) * sizeof *writer_of);
    char *dropped = calloc((size_t)e->n_prog + 1, 1);
    if (!writer_of || !dropped) {
        free(writer_of);
        free(dropped);
        return 0;
    }
    for (int i = 0; i < g->n; i++) writer_of[i] = -1;
    for (int p = 0; p < e->n_prog; p++) {
        const gr_node *n = &g->nodes[e->prog[p]];
        e->side[p] = -1;
        if (n->n_in == 0 || e->fused[p] >= 0) continue;
        int first = gr_node_inputs(n)[0], s = writer_of[first];
        if (s >= 0 && e->side[s] < 0 && g->nodes[e->prog[s]].op->writes_side(g, &g->nodes[e->prog[s]], n))
            e->side[s] = e->prog[p], dropped[p] = 1;
        else if (n->op->writes_side) writer_of[first] = p;
    }
    int w = 0;
    for (int p = 0; p < e->n_prog; p++) {
        if (dropped[p]) continue;
        e->prog[w] = e->prog[p];
        e->fused[w] = e->fused[p];
        e->side[w] = e->side[p];
        w++;
    }
    e->n_prog = w;
    free(writer_of);
    free(dropped);
    return 1;
}

/* 1 when instruction p's kernel is a convolution's forward pass (its bias
 * add folded in or not), which can write relu of its result. */
static int conv_kernel(const gr_exec *e, int p) {
    const gr_node *k = &e->g->nodes[e->fused[p] >= 0 ? e->fused[p] : e->prog[p]];
    return k->kind == GR_OPNODE && (k->op == &gr_op_conv2d || k->op == &gr_op_conv1d);
}

/* relu(h) where a convolution's instruction computes h: that instruction
 * writes relu(h) into h's buffer and relu's becomes a view of it, so h
 * never takes a pass of its own (cnn-step: 0.16 + 0.08 ms of 4.5). Only
 * when neither is an output and nothing else reads h but
 * relu_backward(v, h), whose rule (v where h is above 0 or NaN) gives the
 * same on relu(h); a relu_backward that max pooling's backward took in
 * (fuse_kernels) reads h no more. Readers are counted on the program as
 * folded so far. */
static int fuse_relu(gr_exec *e) {
    const gr_graph *g = e->g;
    int *producer = malloc(((size_t)g->n + 1) * sizeof *producer), *relus = calloc((size_t)g->n + 1, sizeof *relus);
    char *other = calloc((size_t)g->n + 1, 1); /* read by an instruction that needs h itself */
    if (!producer || !relus || !other) {
        free(producer), free(relus), free(other);
        return 0;
    }
    for (int i = 0; i < g->n; i++) producer[i] = -1;
    for (int p = 0; p < e->n_prog; p++) {
        const gr_node *n = &g->nodes[e->prog[p]];
        int fused_ops[3];
        const int *ops;
        int nops = instr_operands(e, p, fused_ops, &ops), plain = e->fused[p] < 0 && e->side[p] < 0;
        producer[e->prog[p]] = p;
        e->relu[p] = RELU_NONE;
        for (int k = 0; k < nops; k++) {
            if (plain && n->op == &gr_op_relu) relus[ops[k]]++;
            else if (!(plain && n->op == &gr_op_relu_backward && k == 1 && ops[0] != ops[1])) other[ops[k]] = 1;
        }
    }
    for (int p = 0; p < e->n_prog; p++) {
        int r = e->prog[p];
        const gr_node *n = &g->nodes[r];
        if (n->op != &gr_op_relu || e->fused[p] >= 0 || e->side[p] >= 0 || (e->role[r] & ROLE_OUTPUT)) continue;
        int h = n->in[0], q = producer[h];
        if (q < 0 || other[h] || relus[h] != 1 || (e->role[h] & ROLE_OUTPUT) || e->side[q] >= 0 || !conv_kernel(e, q))
            continue;
        e->relu[q] = RELU_WRITES;
        e->relu[p] = RELU_VIEW;
    }
    free(producer), free(relus), free(other);
    return 1;
}

/* Mark the views among the instructions (not outputs: a caller may keep an
 * output past a change of what it would share); root[v] is the node whose
 * buffer v reads, and last[r] the last instruction reading buffer r
 * (through any view of it), or -1. */
static void plan_views(gr_exec *e, int *root, int *last) {
    const gr_graph *g = e->g;
    for (int i = 0; i < g->n; i++) root[i] = i, last[i] = -1;
    for (int p = 0; p < e->n_prog; p++) {
        int v = e->prog[p];
        const gr_node *n = &g->nodes[v];
        e->view[p] = (e->fused[p] < 0 && (n->op->flags & GR_OPF_VIEW) && !(e->role[v] & ROLE_OUTPUT)) ||
                     e->relu[p] == RELU_VIEW;
        if (e->view[p]) root[v] = root[n->in[0]];
    }
    for (int p = 0; p < e->n_prog; p++) {
        int fused_ops[3];
        const int *ops;
        int nops = instr_operands(e, p, fused_ops, &ops);
        for (int k = 0; k < nops; k++) last[root[ops[k]]] = p;
    }
}

/* ---- compile --------------------------------------------------------- */

gr_exec *gr_compile(const gr_graph *g, const int *outputs, int n_outputs, gr_error *err) {
    gr_exec *e = NULL;
    int *last = NULL;
    int64_t *offset = NULL;
    int *root = NULL; /* (n_nodes) whose buffer each node reads: itself unless a view */
    int widest = GR_MAX_OPERANDS; /* most operands of an instruction */
    int64_t *work_off = NULL; /* (n_prog) arena offset of instruction p's scratch, or -1 */
    planner pl = {0};
    const char *oom = "out of memory compiling the graph";

    if (!g->finalized) {
        gr_fail(err, GR_E_STATE, NULL, -1, "finalize the graph before compiling it");
        return NULL;
    }
    for (int i = 0; i < n_outputs; i++)
        if (outputs[i] < 0 || outputs[i] >= g->n) {
            gr_fail(err, GR_E_ARG, NULL, i, "output %d is not a node of the graph", i);
            return NULL;
        }
    e = calloc(1, sizeof *e);
    if (!e) goto nomem;
    e->g = g;
    e->n_nodes = g->n;
    size_t nn = (size_t)g->n;
    e->data = calloc(nn + 1, sizeof *e->data);
    e->role = calloc(nn + 1, 1);
    e->prog = malloc((nn + 1) * sizeof *e->prog);
    e->fused = malloc((nn + 1) * sizeof *e->fused);
    e->view = malloc(nn + 1);
    e->relu = malloc(nn + 1);
    e->side = malloc((nn + 1) * sizeof *e->side);
    root = malloc((nn + 1) * sizeof *root);
    e->binds = malloc((nn + 1) * sizeof *e->binds);
    last = malloc((nn + 1) * sizeof *last);
    offset = calloc(nn + 1, sizeof *offset);
    work_off = malloc((nn + 1) * sizeof *work_off);
    e->work = calloc(nn + 1, sizeof *e->work);
    e->work_bytes = calloc(nn + 1, sizeof *e->work_bytes);
    if (!work_off || !e->work || !e->work_bytes || !e->data || !e->role || !e->prog || !e->fused || !e->binds || !last || !offset ||
        !e->view || !e->relu || !e->side || !root)
        goto nomem;

    /* Live set: what the outputs need, found backwards over the order. */
    for (int i = 0; i < n_outputs; i++) e->role[outputs[i]] |= ROLE_LIVE | ROLE_OUTPUT;
    for (int i = g->n_order - 1; i >= 0; i--) {
        if ((g->n_order - 1 - i) % GR_CHUNK_NODES == 0 && gr_cancelled(g->cancel)) goto cancelled;
        int v = g->order[i];
        if (!(e->role[v] & ROLE_LIVE)) continue;
        const int *in = gr_node_inputs(&g->nodes[v]);
        for (int k = 0; k < g->nodes[v].n_in; k++) e->role[in[k]] |= ROLE_LIVE;
    }
    for (int i = 0; i < g->n_order; i++) {
        int v = g->order[i];
        const gr_node *n = &g->nodes[v];
        if (!(e->role[v] & ROLE_LIVE)) continue;
        if (n->kind == GR_OPNODE) {
            if (n->n_in > widest) widest = n->n_in;
            e->prog[e->n_prog++] = v;
            e->stats.flops += gr_node_flops(g, v);
        } else if (n->kind == GR_CONST) {
            e->data[v] = n->cdata;
        } else {
            e->binds[e->n_binds++] = v;
        }
    }
    e->in_data = malloc((size_t)widest * sizeof *e->in_data);
    if (!e->in_data || !fuse_kernels(e) || !fuse_side_results(e) || !fuse_relu(e)) goto nomem;
    plan_views(e, root, last);
    e->stats.instructions = e->n_prog;

    /* Plan: allocate each result, then release operands read for the last time. */
    size_t esz = gr_dtype_size(g->dt);
    for (int p = 0; p < e->n_prog; p++) {
        /* every instruction: a best-fit search may walk a long free list */
        if (gr_cancelled(g->cancel)) goto cancelled;
        const gr_node *n = &g->nodes[e->prog[p]];
        int64_t bytes = align_up(n->numel * (int64_t)esz);
        if (!e->view[p] && (!gr_add_ok(e->stats.unplanned_bytes, bytes, &e->stats.unplanned_bytes) ||
                            !plan_alloc(&pl, bytes, &offset[e->prog[p]])))
            goto toobig; /* a view has no block: its root stays until the view's last reader */
        int side = e->side[p]; /* a second result: its block from now to its last reader */
        int64_t side_bytes = side >= 0 ? align_up(g->nodes[side].numel * (int64_t)esz) : 0;
        if (side >= 0 && (!gr_add_ok(e->stats.unplanned_bytes, side_bytes, &e->stats.unplanned_bytes) ||
                          !plan_alloc(&pl, side_bytes, &offset[side])))
            goto toobig;
        /* Scratch lives beside the result and the operands, for this instruction only. */
        const gr_node *run = e->fused[p] >= 0 ? &g->nodes[e->fused[p]] : n; /* whose kernel runs */
        int64_t work = run->op->workspace ? align_up(run->op->workspace(g, run)) : 0;
        work_off[p] = -1;
        e->work_bytes[p] = work;
        if (work > 0 && (!gr_add_ok(e->stats.unplanned_bytes, work, &e->stats.unplanned_bytes) ||
                         !plan_alloc(&pl, work, &work_off[p])))
            goto toobig;
        if (work > 0 && !plan_release(&pl, work_off[p], work)) goto nomem;
        int fused_ops[3];
        const int *ops;
        int nops = instr_operands(e, p, fused_ops, &ops);
        for (int k = 0; k < nops; k++) {
            int u = root[ops[k]];
            if (last[u] != p || g->nodes[u].kind != GR_OPNODE || (e->role[u] & ROLE_OUTPUT)) continue;
            last[u] = -1; /* an operand used twice by this node is released once */
            if (!plan_release(&pl, offset[u], align_up(g->nodes[u].numel * (int64_t)esz))) goto nomem;
        }
        /* A result nobody reads (only possible for outputs) stays. */
    }
    e->stats.arena_bytes = pl.end;
    if (pl.end > g->lim.max_plan_bytes) goto toobig;
    e->arena = aligned_alloc(ARENA_ALIGN, (size_t)(pl.end > 0 ? pl.end : ARENA_ALIGN));
    if (!e->arena) goto nomem;
    for (int p = 0; p < e->n_prog; p++) {
        if (!e->view[p]) e->data[e->prog[p]] = e->arena + offset[e->prog[p]];
        if (e->side[p] >= 0) e->data[e->side[p]] = e->arena + offset[e->side[p]];
        e->work[p] = work_off[p] >= 0 ? e->arena + work_off[p] : NULL;
    }

    free(pl.free);
    free(last);
    free(offset);
    free(root);
    free(work_off);
    return e;

toobig:
    gr_fail(err, GR_E_LIMIT, NULL, -1, "the program needs %lld bytes of intermediate buffers, over the limit of %lld",
            (long long)(pl.end > e->stats.unplanned_bytes ? pl.end : e->stats.unplanned_bytes),
            (long long)g->lim.max_plan_bytes);
    goto fail;
nomem:
    gr_fail(err, GR_E_NOMEM, NULL, -1, "%s", oom);
    goto fail;
cancelled:
    gr_fail(err, GR_E_CANCELLED, NULL, -1, "compiling the graph was cancelled");
fail:
    free(pl.free);
    free(last);
    free(offset);
    free(root);
    free(work_off);
    gr_exec_free(e);
    return NULL;
}

void gr_exec_free(gr_exec *e) {
    if (!e) return;
    free(e->prog);
    free(e->fused);
    free(e->view);
    free(e->relu);
    free(e->side);
    free(e->work);
    free(e->work_bytes);
    free(e->data);
    free(e->role);
    free(e->binds);
    free(e->arena);
    free(e->in_data);
    free(e);
}

gr_status gr_exec_bind(gr_exec *e, int id, const void *data, gr_error *err) {
    if (id < 0 || id >= e->n_nodes) return gr_fail(err, GR_E_ARG, NULL, -1, "node %d is not in the program", id);
    gr_node_kind k = e->g->nodes[id].kind;
    if (k != GR_INPUT && k != GR_PARAM)
        return gr_fail_node(err, GR_E_ARG, e->g, id, -1, "only inputs and params can be bound");
    if (!data && e->g->nodes[id].numel > 0) return gr_fail_node(err, GR_E_ARG, e->g, id, -1, "no data to bind");
    e->data[id] = (void *)(uintptr_t)data;
    e->role[id] |= ROLE_BOUND;
    return GR_OK;
}

int gr_exec_needs(const gr_exec *e, int id) {
    if (id < 0 || id >= e->n_nodes) return 0;
    gr_node_kind k = e->g->nodes[id].kind;
    return (k == GR_INPUT || k == GR_PARAM) && (e->role[id] & ROLE_LIVE);
}

void gr_exec_set_cancel(gr_exec *e, const volatile int *flag) { e->cancel = flag; }

/* The run stopped at the cancel flag during (or just after) instruction p. */
static gr_status cancelled_during(const gr_exec *e, int p, gr_error *err) {
    return gr_fail(err, GR_E_CANCELLED, NULL, -1, "the run was cancelled at step %d of %d", p + 1, e->n_prog);
}

gr_status gr_exec_run(gr_exec *e, gr_error *err) {
    static const char empty[ARENA_ALIGN];
    const gr_graph *g = e->g;
    for (int i = 0; i < e->n_binds; i++) {
        int v = e->binds[i];
        if (!(e->role[v] & ROLE_BOUND))
            return gr_fail_node(err, GR_E_STATE, g, v, -1, "no value was bound to '%s'", g->nodes[v].name);
    }
    gr_kernel k;
    k.g = g;
    k.dt = g->dt;
    const volatile int *cancel = e->cancel;
    k.cancel = cancel;
    if (gr_cancelled(cancel))
        return gr_fail(err, GR_E_CANCELLED, NULL, -1, "the run was cancelled after 0 of %d steps", e->n_prog);
    gr_parallel_wake();
    /* The flag is looked at after each instruction (and inside long ones). */
    for (int p = 0; p < e->n_prog; p++) {
        const gr_node *n = &g->nodes[e->prog[p]];
        k.bias = NULL;
        k.relu_mask = 0;
        k.relu_out = e->relu[p] == RELU_WRITES;
        if (e->fused[p] >= 0) {
            int fused_ops[3] = {-1, -1, -1};
            const int *ops;
            instr_operands(e, p, fused_ops, &ops);
            const gr_node *f = &g->nodes[e->fused[p]];
            if (f->op == &gr_op_matmul) {
                gr_matmul_bias(g, f, e->data[ops[0]], e->data[ops[1]], &g->nodes[ops[2]].shape, e->data[ops[2]],
                               e->data[e->prog[p]], e->work[p], e->work_bytes[p], cancel);
                if (gr_cancelled(cancel)) return cancelled_during(e, p, err);
                continue;
            }
            /* A convolution's kernel writes the add's result, bias added;
             * max pooling's backward the relu_backward's, masked. */
            if (f->op == &gr_op_max_pool2d_backward) k.relu_mask = 1;
            else k.bias = e->data[ops[2]] ? e->data[ops[2]] : empty;
            n = f;
        } else if (e->view[p]) { /* set at run time: operand 0 may be a bound buffer */
            e->data[e->prog[p]] = e->data[n->in[0]];
            continue;
        }
        k.n = n;
        const int *in = gr_node_inputs(n);
        for (int j = 0; j < n->n_in; j++) {
            const void *d = e->data[in[j]];
            e->in_data[j] = d ? d : empty; /* a bound zero-size tensor may be NULL */
            if (j < GR_MAX_OPERANDS) k.in[j] = e->in_data[j];
        }
        k.in_all = e->in_data;
        k.out = e->data[e->prog[p]];
        k.work = e->work[p];
        k.work_bytes = e->work_bytes[p];
        k.side = e->side[p] >= 0 ? e->data[e->side[p]] : NULL;
        gr_status st = n->op->forward(&k, err);
        /* A long kernel that saw the flag stopped early: its output is partial. */
        if (gr_cancelled(cancel)) return cancelled_during(e, p, err);
        if (st != GR_OK) return st;
    }
    return GR_OK;
}

const void *gr_exec_value(const gr_exec *e, int id) {
    if (id < 0 || id >= e->n_nodes || !(e->role[id] & ROLE_OUTPUT)) return NULL;
    return e->data[id];
}

void gr_exec_get_stats(const gr_exec *e, gr_exec_stats *st) { *st = e->stats; }
