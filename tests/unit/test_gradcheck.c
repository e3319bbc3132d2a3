/* test_gradcheck.c -- every op of the op table against central finite
 * differences, in float64.
 *
 * Contract checked, for each row of the case table below: with operands x
 * drawn from the row's domains and a fixed random weight W of the output's
 * shape, the scalar loss L = sum(op(x) * W) has
 *   - gr_grad: dL/dx[k][j] = (L(x + e u) - L(x - e u)) / 2e for each operand
 *     element (u the unit vector of that element);
 *   - gr_jvp: the tangent of op(x) seeded by t on operand k alone, and by
 *     tangents on all operands at once, equals (op(x + e t) - op(x - e t)) /
 *     2e, element by element;
 *   - gr_hvp along v: H v = (grad(x + e v) - grad(x - e v)) / 2e, where grad
 *     is the first-order gradient graph evaluated forward;
 *   - operands the row marks nondiff (labels, conditions, comparison inputs)
 *     get a gradient, tangent and Hessian product that are exactly 0, and
 *     the row's nondiff mask is the op's (gr_op_nondiff);
 *   - fill, which has no operands, holds its value.
 * Expected values come from forward evaluations only. Domains keep samples
 * away from kinks (relu, abs at 0; ties of maximum, minimum, max) and in the
 * domain of log, sqrt, reciprocal, div and pow. One test fails when an op of
 * the table (gr_op_count / gr_op_at) has no row here, so a new op cannot land
 * untested; another repeats the elementwise ops on random broadcast shapes. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIT(id) GR_ATTR_BIT(id)
#define AX BIT(GR_ATTR_AXES)
#define KD BIT(GR_ATTR_KEEPDIMS)
#define AXIS BIT(GR_ATTR_AXIS)
#define SHP BIT(GR_ATTR_SHAPE)
#define PERM BIT(GR_ATTR_PERM)
#define TA BIT(GR_ATTR_TRANSPOSE_A)
#define TB BIT(GR_ATTR_TRANSPOSE_B)
#define VAL BIT(GR_ATTR_VALUE)
#define NCLS BIT(GR_ATTR_NUM_CLASSES)
#define RED BIT(GR_ATTR_REDUCTION)

/* A central difference with step eps is off by about eps^2 |f'''| / 6 plus
 * 1e-16 |f| / eps: at most a few 1e-10 here, where a wrong derivative is
 * off by O(1). Rows with large high derivatives (1/x, log, pow near 0.5)
 * take tol 1e-6. */
#define EPS_DEFAULT 1e-5 /* central-difference step */
#define TOL_DEFAULT 1e-7 /* absolute + relative tolerance */

/* Where an operand's values are drawn from. */
typedef enum domain {
    D_ANY = 0, /* uniform in [-2, 2) */
    D_POS,     /* uniform in [0.5, 2): log, sqrt, reciprocal, denominators, pow bases */
    D_AWAY0,   /* [-2, 2) with |x| >= 0.05: the kink of relu and abs */
    D_DISTINCT,/* all D_DISTINCT elements of a case pairwise >= 0.05 apart: ties */
    D_LABEL,   /* whole class indices in [0, C): not perturbed */
    D_COND,    /* 0 or 1: not perturbed */
    D_UNIT,    /* uniform in [0.1, 0.9): probabilities (binary_cross_entropy) */
    D_GT1      /* uniform in [1.1, 3): acosh */
} domain;

/* One row: op, operand shapes and domains, which operands the op must give
 * no gradient (bit k = operand k), attributes, eps and tol (0: default).
 * Rows read {"op", .shape = {...}, {domains}, nondiff, .attrs = {...}};
 * omitted fields are 0 (D_ANY, no nondiff operand, no attribute). */
#define GC_MAX_OPERANDS 5 /* most operands of a row (a variadic op's list included) */

typedef struct gc_case {
    const char *op;   /* the operand count is the op's arity (a variadic op's: noperands) */
    gr_shape shape[GC_MAX_OPERANDS];
    domain dom[GC_MAX_OPERANDS];
    unsigned nondiff;
    gr_attrs attrs;
    double eps, tol;
    int noperands;    /* a GR_VARIADIC op's operand count, at most GC_MAX_OPERANDS (0: the
                         leading shapes of rank > 0, at least the op's minimum) */
    int64_t classes;  /* > 0: D_LABEL values lie in [0, classes) (indices of take, embedding) */
} gc_case;

#define S0 {0, {0}}
#define S1(a) {1, {a}}
#define S2(a, b) {2, {a, b}}
#define S3(a, b, c) {3, {a, b, c}}
#define S4(a, b, c, d) {4, {a, b, c, d}}

static const gc_case cases[] = {
    /* unary */
    {"neg", .shape = {S2(2, 3)}},
    {"exp", .shape = {S2(2, 3)}},
    {"exp", .shape = {S0}},
    {"log", .shape = {S2(2, 3)}, {D_POS}, .tol = 1e-6},
    {"sin", .shape = {S2(2, 3)}},
    {"cos", .shape = {S2(2, 3)}},
    {"tanh", .shape = {S2(2, 3)}},
    {"tanh", .shape = {S1(4)}},
    {"sigmoid", .shape = {S2(2, 3)}},
    {"relu", .shape = {S2(2, 3)}, {D_AWAY0}},
    {"relu", .shape = {S3(2, 3, 4)}, {D_AWAY0}},
    /* relu's fused derivative: linear in v, no gradient for x */
    {"relu_backward", .shape = {S2(2, 3), S2(2, 3)}, {D_ANY, D_AWAY0}, 2},
    {"relu_backward", .shape = {S2(3, 4), S1(4)}, {D_ANY, D_AWAY0}, 2},
    {"softplus", .shape = {S2(2, 3)}},
    {"sqrt", .shape = {S2(2, 3)}, {D_POS}},
    {"abs", .shape = {S2(2, 3)}, {D_AWAY0}},
    {"square", .shape = {S2(2, 3)}},
    {"reciprocal", .shape = {S2(2, 3)}, {D_POS}, .tol = 1e-6},
    /* binary, each with equal shapes and three kinds of broadcasting */
    {"add", .shape = {S2(2, 3), S2(2, 3)}},
    {"add", .shape = {S2(3, 4), S1(4)}},
    {"add", .shape = {S2(3, 1), S2(1, 4)}},
    {"add", .shape = {S0, S2(2, 3)}},
    {"sub", .shape = {S2(2, 3), S2(2, 3)}},
    {"sub", .shape = {S2(3, 4), S1(4)}},
    {"sub", .shape = {S2(3, 1), S2(1, 4)}},
    {"sub", .shape = {S0, S2(2, 3)}},
    {"mul", .shape = {S2(2, 3), S2(2, 3)}},
    {"mul", .shape = {S2(3, 4), S1(4)}},
    {"mul", .shape = {S2(3, 1), S2(1, 4)}},
    {"mul", .shape = {S0, S2(2, 3)}},
    {"div", .shape = {S2(2, 3), S2(2, 3)}, {D_ANY, D_POS}, .tol = 1e-6},
    {"div", .shape = {S2(3, 4), S1(4)}, {D_ANY, D_POS}, .tol = 1e-6},
    {"div", .shape = {S2(3, 1), S2(1, 4)}, {D_ANY, D_POS}, .tol = 1e-6},
    {"div", .shape = {S0, S2(2, 3)}, {D_ANY, D_POS}, .tol = 1e-6},
    {"pow", .shape = {S2(2, 3), S2(2, 3)}, {D_POS, D_ANY}, .tol = 1e-6},
    {"pow", .shape = {S2(3, 4), S1(4)}, {D_POS, D_ANY}, .tol = 1e-6},
    {"pow", .shape = {S2(3, 1), S2(1, 4)}, {D_POS, D_ANY}, .tol = 1e-6},
    {"pow", .shape = {S0, S2(2, 3)}, {D_POS, D_ANY}, .tol = 1e-6},
    {"maximum", .shape = {S2(2, 3), S2(2, 3)}, {D_DISTINCT, D_DISTINCT}},
    {"maximum", .shape = {S2(3, 4), S1(4)}, {D_DISTINCT, D_DISTINCT}},
    {"maximum", .shape = {S2(3, 1), S2(1, 4)}, {D_DISTINCT, D_DISTINCT}},
    {"maximum", .shape = {S0, S2(2, 3)}, {D_DISTINCT, D_DISTINCT}},
    {"minimum", .shape = {S2(2, 3), S2(2, 3)}, {D_DISTINCT, D_DISTINCT}},
    {"minimum", .shape = {S2(3, 4), S1(4)}, {D_DISTINCT, D_DISTINCT}},
    {"minimum", .shape = {S2(3, 1), S2(1, 4)}, {D_DISTINCT, D_DISTINCT}},
    {"minimum", .shape = {S0, S2(2, 3)}, {D_DISTINCT, D_DISTINCT}},
    {"greater", .shape = {S2(3, 4), S1(4)}, {D_DISTINCT, D_DISTINCT}, 3},
    {"less", .shape = {S2(3, 1), S2(1, 4)}, {D_DISTINCT, D_DISTINCT}, 3},
    {"equal", .shape = {S0, S2(2, 3)}, {D_COND, D_COND}, 3}, /* 0/1 values: ties happen */
    {"where", .shape = {S2(3, 4), S2(3, 4), S2(3, 4)}, {D_COND}, 1},
    {"where", .shape = {S2(3, 1), S1(4), S0}, {D_COND}, 1},
    {"where", .shape = {S0, S2(2, 3), S1(3)}, {D_COND}, 1},
    /* reductions over [2, 3, 4] */
    {"sum", .shape = {S3(2, 3, 4)}},
    {"sum", .shape = {S3(2, 3, 4)}, .attrs = {.set = KD, .keepdims = 1}},
    {"sum", .shape = {S3(2, 3, 4)}, .attrs = {.set = AX, .naxes = 1, .axes = {1}}},
    {"sum", .shape = {S3(2, 3, 4)}, .attrs = {.set = AXIS, .axis = -2}}, /* NumPy's one-axis spelling */
    {"max", .shape = {S2(3, 4)}, {D_DISTINCT}, .attrs = {.set = AXIS | KD, .axis = 0, .keepdims = 1}},
    {"sum", .shape = {S3(2, 3, 4)}, .attrs = {.set = AX | KD, .naxes = 1, .axes = {-1}, .keepdims = 1}},
    {"sum", .shape = {S3(2, 3, 4)}, .attrs = {.set = AX | KD, .naxes = 2, .axes = {0, 2}, .keepdims = 0}},
    {"mean", .shape = {S3(2, 3, 4)}},
    {"mean", .shape = {S3(2, 3, 4)}, .attrs = {.set = KD, .keepdims = 1}},
    {"mean", .shape = {S3(2, 3, 4)}, .attrs = {.set = AX, .naxes = 1, .axes = {1}}},
    {"mean", .shape = {S3(2, 3, 4)}, .attrs = {.set = AX | KD, .naxes = 1, .axes = {-1}, .keepdims = 1}},
    {"mean", .shape = {S3(2, 3, 4)}, .attrs = {.set = AX | KD, .naxes = 2, .axes = {0, 2}, .keepdims = 1}},
    {"max", .shape = {S3(2, 3, 4)}, {D_DISTINCT}},
    {"max", .shape = {S3(2, 3, 4)}, {D_DISTINCT}, .attrs = {.set = KD, .keepdims = 1}},
    {"max", .shape = {S3(2, 3, 4)}, {D_DISTINCT}, .attrs = {.set = AX, .naxes = 1, .axes = {1}}},
    {"max", .shape = {S3(2, 3, 4)}, {D_DISTINCT}, .attrs = {.set = AX | KD, .naxes = 1, .axes = {-1}, .keepdims = 1}},
    {"max", .shape = {S3(2, 3, 4)}, {D_DISTINCT}, .attrs = {.set = AX | KD, .naxes = 2, .axes = {0, 2}, .keepdims = 0}},
    {"sum_to", .shape = {S2(3, 4)}, .attrs = {.set = SHP, .shape = S1(4)}},
    {"sum_to", .shape = {S3(2, 3, 4)}, .attrs = {.set = SHP, .shape = S2(3, 1)}},
    {"sum_to", .shape = {S2(2, 3)}, .attrs = {.set = SHP, .shape = S0}},
    /* movement */
    {"reshape", .shape = {S3(2, 3, 4)}, .attrs = {.set = SHP, .shape = S2(4, -1)}},
    {"reshape", .shape = {S1(6)}, .attrs = {.set = SHP, .shape = S2(2, 3)}},
    {"expand", .shape = {S2(3, 1)}, .attrs = {.set = SHP, .shape = S3(2, 3, 4)}},
    {"expand", .shape = {S0}, .attrs = {.set = SHP, .shape = S2(2, 3)}},
    {"transpose", .shape = {S3(2, 3, 4)}},
    {"transpose", .shape = {S3(2, 3, 4)}, .attrs = {.set = PERM, .nperm = 3, .perm = {2, 0, 1}}},
    {"transpose", .shape = {S3(2, 3, 4)}, .attrs = {.set = PERM, .nperm = 3, .perm = {1, -1, 0}}},
    {"fill", .attrs = {.set = SHP | VAL, .shape = S2(2, 3), .value = 1.5}},
    /* matmul: the four transpose combinations, batched, batch-broadcast */
    {"matmul", .shape = {S2(3, 4), S2(4, 5)}},
    {"matmul", .shape = {S2(4, 3), S2(4, 5)}, .attrs = {.set = TA | TB, .transpose_a = 1}},
    {"matmul", .shape = {S2(3, 4), S2(5, 4)}, .attrs = {.set = TA | TB, .transpose_b = 1}},
    {"matmul", .shape = {S2(4, 3), S2(5, 4)}, .attrs = {.set = TA | TB, .transpose_a = 1, .transpose_b = 1}},
    {"matmul", .shape = {S3(2, 3, 4), S3(2, 4, 5)}},
    {"matmul", .shape = {S3(2, 3, 4), S2(4, 5)}},
    {"matmul", .shape = {S2(3, 4), S3(2, 4, 5)}},
    {"matmul", .shape = {S4(2, 1, 4, 3), S3(3, 5, 4)}, .attrs = {.set = TA | TB, .transpose_a = 1, .transpose_b = 1}},
    /* nn */
    {"softmax", .shape = {S2(3, 4)}, .attrs = {.set = AXIS, .axis = 0}},
    {"softmax", .shape = {S2(3, 4)}, .attrs = {.set = AXIS, .axis = -1}},
    {"softmax", .shape = {S3(2, 3, 4)}, .attrs = {.set = AXIS, .axis = 1}},
    {"softmax", .shape = {S1(5)}},
    {"log_softmax", .shape = {S2(3, 4)}, .attrs = {.set = AXIS, .axis = 0}},
    {"log_softmax", .shape = {S2(3, 4)}, .attrs = {.set = AXIS, .axis = -1}},
    {"log_softmax", .shape = {S3(2, 3, 4)}, .attrs = {.set = AXIS, .axis = 1}},
    {"cross_entropy", .shape = {S2(4, 5), S1(4)}, {D_ANY, D_LABEL}, 2},
    {"cross_entropy", .shape = {S3(2, 3, 4), S2(2, 3)}, {D_ANY, D_LABEL}, 2},
    {"cross_entropy", .shape = {S1(5), S0}, {D_ANY, D_LABEL}, 2},
    {"cross_entropy", .shape = {S2(4, 5), S1(4)}, {D_ANY, D_LABEL}, 2, .attrs = {.set = RED, .reduction = "sum"}},
    {"cross_entropy", .shape = {S3(2, 3, 4), S2(2, 3)}, {D_ANY, D_LABEL}, 2, .attrs = {.set = RED, .reduction = "mean"}},
    {"mse", .shape = {S2(2, 3), S2(2, 3)}},
    {"mse", .shape = {S2(3, 4), S1(4)}},
    {"one_hot", .shape = {S2(2, 3)}, {D_LABEL}, 1, .attrs = {.set = NCLS, .num_classes = 5}},
#include "gradcheck_norm.inc"
#include "gradcheck_binary.inc"
#include "gradcheck_movement.inc"
#include "gradcheck_conv.inc"
#include "gradcheck_reduce.inc"
#include "gradcheck_unary.inc"
#include "gradcheck_index.inc"
#include "gradcheck_perf.inc"
#include "gradcheck_resize.inc"
#include "gradcheck_topk.inc"
#include "gradcheck_det.inc"
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* ---- what a case owns ------------------------------------------------- */

/* Everything the running case allocated. A failed check longjmps out of
 * the test, so release_all() runs from the teardown and before each case. */
static struct {
    gr_graph *g;
    gr_exec *probe;
    void *mem[48];
    int nmem;
} live;

/* Record p (malloc'd, non-NULL) as owned by the running case; returns p. */
static void *own(void *p) {
    assert_non_null(p);
    assert_true(live.nmem < (int)(sizeof live.mem / sizeof live.mem[0]));
    live.mem[live.nmem++] = p;
    return p;
}

/* n zeroed doubles owned by the running case (n may be 0). */
static double *own_doubles(int64_t n) { return own(calloc((size_t)n + 1, sizeof(double))); }

/* Free the running case's graph, program and buffers. */
static void release_all(void) {
    gr_exec_free(live.probe);
    gr_graph_free(live.g);
    for (int i = 0; i < live.nmem; i++) free(live.mem[i]);
    memset(&live, 0, sizeof live);
}

/* cmocka teardown of every case test: release_all(). */
static int release_teardown(void **state) {
    (void)state;
    release_all();
    return 0;
}

/* ---- a case instantiated ---------------------------------------------- */

/* One case instantiated: its graph (owned by live), the base point, the
 * derivative nodes, their values at the base point (an_*), and the probe
 * program the finite differences run. */
typedef struct gc_run {
    const gc_case *c;
    const char *name;
    gr_graph *g;
    double eps, tol;
    int n, y, loss;
    int64_t ny, numel[GC_MAX_OPERANDS];
    int x[GC_MAX_OPERANDS], grad[GC_MAX_OPERANDS], jvp[GC_MAX_OPERANDS], hv[GC_MAX_OPERANDS];
    int jvp_all; /* tangent of y with every operand seeded at once */
    double *base[GC_MAX_OPERANDS]; /* operand values at the base point */
    double *work[GC_MAX_OPERANDS]; /* what the probe reads: base plus a step */
    double *tan[GC_MAX_OPERANDS];  /* jvp tangents */
    double *vec[GC_MAX_OPERANDS];  /* hvp vectors */
    double *an_grad[GC_MAX_OPERANDS], *an_jvp[GC_MAX_OPERANDS], *an_hv[GC_MAX_OPERANDS], *an_jvp_all;
    gr_exec *probe; /* computes y, loss and the gradients from work */
} gc_run;

/* Operand count of c: its op's arity (0 for an op not in the table). */
static int case_arity(const gc_case *c) {
    const gr_op *op = gr_op_find(c->op);
    if (op && gr_op_arity(op) == GR_VARIADIC) {
        if (c->noperands > 0) return c->noperands;
        /* unsaid: the leading shapes of rank > 0, at least the op's minimum */
        int n = 0;
        while (n < GC_MAX_OPERANDS && c->shape[n].rank > 0) n++;
        return n > gr_op_min_operands(op) ? n : gr_op_min_operands(op);
    }
    return op ? gr_op_arity(op) : 0;
}

/* 1 when operand k may be perturbed (labels and conditions may not). */
static int perturbable(const gc_case *c, int k) { return c->dom[k] != D_LABEL && c->dom[k] != D_COND; }

/* Number of classes a D_LABEL operand indexes: classes, num_classes, else the last
 * dim of operand 0 (cross_entropy's logits). */
static int64_t label_classes(const gc_case *c) {
    if (c->classes > 0) return c->classes;
    if (c->attrs.set & NCLS) return c->attrs.num_classes;
    return c->shape[0].rank ? c->shape[0].dims[c->shape[0].rank - 1] : 1;
}

/* Fill every D_DISTINCT operand of r from one shuffled grid with spacing
 * >= 0.1 and jitter of at most 0.2 spacing, so any two of their elements
 * are at least 0.05 apart (no ties for max, maximum, minimum). */
static void fill_distinct(gc_run *r) {
    int64_t total = 0;
    for (int k = 0; k < r->n; k++)
        if (r->c->dom[k] == D_DISTINCT) total += r->numel[k];
    if (!total) return;
    int64_t *slot = own(malloc((size_t)total * sizeof *slot));
    for (int64_t i = 0; i < total; i++) slot[i] = i;
    for (int64_t i = total - 1; i > 0; i--) {
        int64_t j = (int64_t)tu_uniform(0, (double)(i + 1)), t = slot[i];
        slot[i] = slot[j];
        slot[j] = t;
    }
    double step = fmax(0.1, 4.0 / (double)total), lo = -step * (double)total / 2;
    int64_t s = 0;
    for (int k = 0; k < r->n; k++)
        if (r->c->dom[k] == D_DISTINCT)
            for (int64_t j = 0; j < r->numel[k]; j++)
                r->base[k][j] = lo + step * ((double)slot[s++] + 0.5 + tu_uniform(-0.2, 0.2));
}

/* Fill operand k of r (not D_DISTINCT) from its domain. */
static void fill_operand(gc_run *r, int k) {
    for (int64_t j = 0; j < r->numel[k]; j++) {
        double v;
        switch (r->c->dom[k]) {
        case D_POS: v = tu_uniform(0.5, 2); break;
        case D_AWAY0:
            do v = tu_uniform(-2, 2);
            while (fabs(v) < 0.05);
            break;
        case D_LABEL: v = floor(tu_uniform(0, (double)label_classes(r->c))); break;
        case D_COND: v = tu_uniform(0, 1) < 0.5 ? 0 : 1; break;
        case D_UNIT: v = tu_uniform(0.1, 0.9); break;
        case D_GT1: v = tu_uniform(1.1, 3); break;
        default: v = tu_uniform(-2, 2); break;
        }
        r->base[k][j] = v;
    }
}

/* A const node of shape s holding n uniform values in [-1, 1), which are
 * also written to *vals (owned). */
static int random_const(gc_run *r, const gr_shape *s, int64_t n, double **vals) {
    gr_error err;
    *vals = own_doubles(n);
    for (int64_t j = 0; j < n; j++) (*vals)[j] = tu_uniform(-1, 1);
    int id = gr_graph_const(r->g, NULL, s, *vals, &err);
    if (id < 0) fail_msg("%s: const: %s", r->name, err.message);
    return id;
}

/* Build r's graph from r->c: inputs, y = op(x), loss = sum(y * W), the
 * gradients, one jvp per operand, the hvp; draw the base point. */
static void build(gc_run *r) {
    const gc_case *c = r->c;
    gr_error err;
    gr_error_clear(&err);
    r->g = live.g = gr_graph_new(GR_F64, NULL);
    assert_non_null(r->g);
    for (int k = 0; k < r->n; k++) {
        char nm[16];
        snprintf(nm, sizeof nm, "x%d", k);
        r->x[k] = gr_graph_input(r->g, nm, &c->shape[k], &err);
        if (r->x[k] < 0) fail_msg("%s: input: %s", r->name, err.message);
        r->numel[k] = gr_node_numel(r->g, r->x[k]);
        r->base[k] = own_doubles(r->numel[k]);
        r->work[k] = own_doubles(r->numel[k]);
    }
    TU_OK(gr_graph_finalize(r->g, &err), err);
    for (int k = 0; k < r->n; k++)
        if (c->dom[k] != D_DISTINCT) fill_operand(r, k);
    fill_distinct(r);

    r->y = tu_apply(r->g, c->op, r->x, r->n, &c->attrs);
    r->ny = gr_node_numel(r->g, r->y);
    double *w;
    int wid = random_const(r, gr_node_shape(r->g, r->y), r->ny, &w);
    r->loss = tu_op1(r->g, "sum", tu_op2(r->g, "mul", r->y, wid));
    TU_OK(gr_grad(r->g, r->loss, r->x, r->n, r->grad, &err), err);
    int t[GC_MAX_OPERANDS];
    for (int k = 0; k < r->n; k++) {
        t[k] = random_const(r, &c->shape[k], r->numel[k], &r->tan[k]);
        TU_OK(gr_jvp(r->g, &r->x[k], &t[k], 1, &r->y, 1, &r->jvp[k], &err), err);
    }
    TU_OK(gr_jvp(r->g, r->x, t, r->n, &r->y, 1, &r->jvp_all, &err), err);
    int v[GC_MAX_OPERANDS];
    for (int k = 0; k < r->n; k++) v[k] = random_const(r, &c->shape[k], r->numel[k], &r->vec[k]);
    TU_OK(gr_hvp(r->g, r->loss, r->x, v, r->n, r->hv, &err), err);
}

/* Evaluate the derivative nodes once at the base point (tu_eval) and
 * compile the probe that the finite differences run. */
static void evaluate(gc_run *r) {
    int outs[3 * GC_MAX_OPERANDS + 1];
    tu_bind binds[GC_MAX_OPERANDS];
    for (int k = 0; k < r->n; k++) {
        outs[k] = r->grad[k];
        outs[r->n + k] = r->jvp[k];
        outs[2 * r->n + k] = r->hv[k];
        binds[k] = (tu_bind){r->x[k], r->base[k]};
    }
    outs[3 * r->n] = r->jvp_all;
    double *p = own(tu_eval(r->g, binds, r->n, outs, 3 * r->n + 1));
    for (int k = 0; k < r->n; k++) {
        r->an_grad[k] = p;
        p += r->numel[k];
    }
    for (int k = 0; k < r->n; k++) {
        r->an_jvp[k] = p;
        p += r->ny;
    }
    for (int k = 0; k < r->n; k++) {
        r->an_hv[k] = p;
        p += r->numel[k];
    }
    r->an_jvp_all = p;

    gr_error err;
    gr_error_clear(&err);
    int pouts[2 + GC_MAX_OPERANDS] = {r->y, r->loss};
    for (int k = 0; k < r->n; k++) pouts[2 + k] = r->grad[k];
    r->probe = live.probe = gr_compile(r->g, pouts, 2 + r->n, &err);
    if (!r->probe) fail_msg("%s: compile: %s", r->name, err.message);
    for (int k = 0; k < r->n; k++)
        if (gr_exec_needs(r->probe, r->x[k])) TU_OK(gr_exec_bind(r->probe, r->x[k], r->work[k], &err), err);
}

/* Run the probe with operands at base + s * dir (dir[k] NULL: operand k
 * stays at base). */
static void probe_run(gc_run *r, double s, double *const *dir) {
    gr_error err;
    gr_error_clear(&err);
    for (int k = 0; k < r->n; k++)
        for (int64_t j = 0; j < r->numel[k]; j++) r->work[k][j] = r->base[k][j] + (dir[k] ? s * dir[k][j] : 0);
    TU_OK(gr_exec_run(r->probe, &err), err);
}

/* out[0..n) = central difference of probe output id (n values) along dir. */
static void central_diff(gc_run *r, double *const *dir, int id, int64_t n, double *out) {
    probe_run(r, r->eps, dir);
    const double *v = gr_exec_value(r->probe, id);
    assert_non_null(v);
    memcpy(out, v, (size_t)n * sizeof *out);
    probe_run(r, -r->eps, dir);
    v = gr_exec_value(r->probe, id);
    for (int64_t i = 0; i < n; i++) out[i] = (out[i] - v[i]) / (2 * r->eps);
}

/* Fail unless got is within tol (absolute plus relative) of want; the rest
 * is printf-style detail for the message. */
__attribute__((format(printf, 4, 5))) static void expect_close(const gc_run *r, double got, double want,
                                                                const char *fmt, ...) {
    char what[320];
    int len = snprintf(what, sizeof what, "%s: ", r->name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what + len, sizeof what - (size_t)len, fmt, ap);
    va_end(ap);
    tu_close(got, want, r->tol, r->tol, what);
}

/* Fail unless got is exactly 0: a derivative through a nondiff operand. */
static void expect_zero(const gc_run *r, double got, const char *what, int k, int64_t j) {
    if (got != 0)
        fail_msg("%s: %s through nondiff operand %d [%lld] is %.17g, want 0", r->name, what, k, (long long)j, got);
}

/* ---- the three checks ------------------------------------------------- */

/* gr_grad against the central difference of the loss, element by element. */
static void check_vjp(gc_run *r) {
    double *dir[GC_MAX_OPERANDS] = {NULL}, fd;
    for (int k = 0; k < r->n; k++) {
        double *unit = own_doubles(r->numel[k]);
        for (int64_t j = 0; j < r->numel[k]; j++) {
            double got = r->an_grad[k][j];
            if (r->c->nondiff & BIT(k)) expect_zero(r, got, "gradient", k, j);
            if (!perturbable(r->c, k)) continue;
            unit[j] = 1;
            dir[k] = unit;
            central_diff(r, dir, r->loss, 1, &fd);
            dir[k] = NULL;
            unit[j] = 0;
            expect_close(r, got, fd, "dL/dx%d[%lld]", k, (long long)j);
        }
    }
}

/* gr_jvp seeded on one operand at a time, then on all at once, against
 * the central difference of y along the tangents (a nondiff operand's
 * tangent must not matter), every output element. */
static void check_jvp(gc_run *r) {
    double *fd = own_doubles(r->ny), *all[GC_MAX_OPERANDS] = {NULL};
    for (int k = 0; k < r->n; k++) {
        if (r->c->nondiff & BIT(k))
            for (int64_t i = 0; i < r->ny; i++) expect_zero(r, r->an_jvp[k][i], "tangent", k, i);
        if (!perturbable(r->c, k)) continue;
        double *dir[GC_MAX_OPERANDS] = {NULL};
        dir[k] = all[k] = r->tan[k];
        central_diff(r, dir, r->y, r->ny, fd);
        for (int64_t i = 0; i < r->ny; i++)
            expect_close(r, r->an_jvp[k][i], fd[i], "jvp along x%d: y[%lld]", k, (long long)i);
    }
    central_diff(r, all, r->y, r->ny, fd);
    for (int64_t i = 0; i < r->ny; i++)
        expect_close(r, r->an_jvp_all[i], fd[i], "jvp along all operands: y[%lld]", (long long)i);
}

/* gr_hvp against the central difference of the gradient graph along the
 * hvp vectors of the perturbable operands (a nondiff operand's vector must
 * not matter, and its Hessian product must be 0). */
static void check_hvp(gc_run *r) {
    double *dir[GC_MAX_OPERANDS] = {NULL};
    for (int k = 0; k < r->n; k++) dir[k] = perturbable(r->c, k) ? r->vec[k] : NULL;
    for (int k = 0; k < r->n; k++) {
        if (r->c->nondiff & BIT(k))
            for (int64_t j = 0; j < r->numel[k]; j++) expect_zero(r, r->an_hv[k][j], "hvp", k, j);
        if (!perturbable(r->c, k)) continue;
        double *fd = own_doubles(r->numel[k]);
        central_diff(r, dir, r->grad[k], r->numel[k], fd);
        for (int64_t j = 0; j < r->numel[k]; j++)
            expect_close(r, r->an_hv[k][j], fd[j], "hvp w.r.t. x%d[%lld]", k, (long long)j);
    }
}

/* An op with no operands (fill): every element holds the value attribute. */
static void check_nullary(gc_run *r) {
    r->g = live.g = gr_graph_new(GR_F64, NULL);
    gr_error err;
    TU_OK(gr_graph_finalize(r->g, &err), err);
    int y = tu_apply(r->g, r->c->op, NULL, 0, &r->c->attrs);
    assert_true(gr_shape_equal(gr_node_shape(r->g, y), &r->c->attrs.shape));
    double *v = own(tu_eval1(r->g, NULL, 0, y));
    for (int64_t i = 0; i < gr_node_numel(r->g, y); i++)
        if (v[i] != r->c->attrs.value)
            fail_msg("%s: y[%lld] is %g, want %g", r->name, (long long)i, v[i], r->c->attrs.value);
}

/* Seed the generator from a small number k: splitmix64 first, since
 * xorshift from a small state starts with a run of tiny values. */
static void seed_from(uint64_t k) {
    uint64_t z = k + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    tu_seed(z ^ (z >> 31));
}

/* Run every check of case c under name with the generator seeded by seed. */
static void check_case(const gc_case *c, uint64_t seed, const char *name) {
    release_all();
    seed_from(seed);
    gc_run r;
    memset(&r, 0, sizeof r);
    r.c = c;
    r.name = name;
    r.eps = c->eps > 0 ? c->eps : EPS_DEFAULT;
    r.tol = c->tol > 0 ? c->tol : TOL_DEFAULT;
    if (!gr_op_find(c->op)) fail_msg("%s: no op '%s'", name, c->op);
    r.n = case_arity(c);
    if (r.n == 0) {
        check_nullary(&r);
    } else {
        build(&r);
        evaluate(&r);
        check_vjp(&r);
        check_jvp(&r);
        check_hvp(&r);
    }
    release_all();
}

/* ---- naming ----------------------------------------------------------- */

/* Append "[d0,d1]" of s to buf (capacity cap). */
static void put_shape(char *buf, size_t cap, const gr_shape *s) {
    size_t len = strlen(buf);
    len += (size_t)snprintf(buf + len, cap - len, "[");
    for (int i = 0; i < s->rank && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? "," : "", (long long)s->dims[i]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* A readable name of c, e.g. "sum [2,3,4] axes=-1 keepdims=1". */
static void describe(const gc_case *c, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", c->op);
    for (int k = 0; k < case_arity(c); k++) {
        strncat(buf, " ", cap - strlen(buf) - 1);
        put_shape(buf, cap, &c->shape[k]);
    }
    const gr_attrs *a = &c->attrs;
    size_t len = strlen(buf);
    if (a->set & AX) {
        len += (size_t)snprintf(buf + len, cap - len, " axes=");
        for (int i = 0; i < a->naxes && len < cap; i++)
            len += (size_t)snprintf(buf + len, cap - len, "%s%d", i ? "," : "", a->axes[i]);
    }
    if ((a->set & KD) && len < cap) len += (size_t)snprintf(buf + len, cap - len, " keepdims=%d", a->keepdims);
    if ((a->set & AXIS) && len < cap) len += (size_t)snprintf(buf + len, cap - len, " axis=%d", a->axis);
    if ((a->set & PERM) && len < cap) {
        len += (size_t)snprintf(buf + len, cap - len, " perm=");
        for (int i = 0; i < a->nperm && len < cap; i++)
            len += (size_t)snprintf(buf + len, cap - len, "%s%d", i ? "," : "", a->perm[i]);
    }
    if ((a->set & (TA | TB)) && len < cap)
        len += (size_t)snprintf(buf + len, cap - len, " ta=%d tb=%d", a->transpose_a, a->transpose_b);
    if ((a->set & SHP) && len + 7 < cap) {
        strncat(buf, " shape=", cap - len - 1);
        put_shape(buf, cap, &a->shape);
    }
}

/* ---- tests ------------------------------------------------------------ */

static char case_names[NCASES][128];

/* One row of the table; *state is the row. */
static void test_case_row(void **state) {
    const gc_case *c = *state;
    int row = (int)(c - cases);
    check_case(c, 0x5eed0000u + (uint64_t)row, case_names[row]);
}

/* Every op of the table has at least one row, and the row's nondiff mask
 * is the op's; every row names a known op. */
static void test_every_op_has_a_case(void **state) {
    (void)state;
    assert_true(gr_op_count() > 0);
    char missing[512] = "";
    for (int i = 0; i < gr_op_count(); i++) {
        const gr_op *op = gr_op_at(i);
        assert_non_null(op);
        int rows = 0;
        for (int r = 0; r < NCASES; r++) {
            if (strcmp(cases[r].op, gr_op_name(op)) != 0) continue;
            rows++;
            if (cases[r].nondiff != gr_op_nondiff(op))
                fail_msg("row %d: %s: nondiff mask is %#x in the table, %#x in the op table", r, cases[r].op,
                         cases[r].nondiff, gr_op_nondiff(op));
        }
        if (!rows) {
            strncat(missing, " ", sizeof missing - strlen(missing) - 1);
            strncat(missing, gr_op_name(op), sizeof missing - strlen(missing) - 1);
        }
    }
    if (missing[0]) fail_msg("ops with no gradcheck row:%s", missing);
    for (int r = 0; r < NCASES; r++)
        if (!gr_op_find(cases[r].op)) fail_msg("row %d names '%s', which is not in the op table", r, cases[r].op);
}

/* A random shape of rank 1..3 and dims in [1, 4] for the broadcast
 * result, and for operand shape[k] that shape with (sometimes) leading
 * dims dropped and some dims set to 1: the operands always broadcast. */
static void random_broadcast_shapes(int n, gr_shape *shape) {
    gr_shape out = tu_shape(0);
    out.rank = 1 + (int)tu_uniform(0, 3);
    for (int i = 0; i < out.rank; i++) out.dims[i] = 1 + (int64_t)tu_uniform(0, 4);
    for (int k = 0; k < n; k++) {
        int drop = tu_uniform(0, 1) < 0.3 ? (int)tu_uniform(0, out.rank + 1) : 0;
        shape[k] = tu_shape(0);
        shape[k].rank = out.rank - drop;
        for (int i = 0; i < shape[k].rank; i++)
            shape[k].dims[i] = tu_uniform(0, 1) < 0.25 ? 1 : out.dims[drop + i];
    }
}

/* The elementwise ops again on random broadcast shapes, taking domains,
 * nondiff mask and tolerances from each op's first row. */
static void test_random_broadcast(void **state) {
    (void)state;
    static const char *const ops[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                      "greater", "less", "equal", "where", "mse"};
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        const gc_case *row = NULL;
        for (int r = 0; r < NCASES && !row; r++)
            if (strcmp(cases[r].op, ops[o]) == 0) row = &cases[r];
        assert_non_null(row);
        for (int trial = 0; trial < 6; trial++) {
            gc_case c = *row;
            char name[160];
            seed_from(0xb0ad0000u + o * 64 + (uint64_t)trial);
            random_broadcast_shapes(case_arity(&c), c.shape);
            describe(&c, name, sizeof name);
            check_case(&c, 0xca5e0000u + o * 64 + (uint64_t)trial, name);
        }
    }
}

int main(void) {
    static struct CMUnitTest tests[NCASES + 2];
    tests[0] = (struct CMUnitTest){.name = "every op has a case", .test_func = test_every_op_has_a_case};
    tests[1] = (struct CMUnitTest){
        .name = "random broadcast shapes", .test_func = test_random_broadcast, .teardown_func = release_teardown};
    for (int r = 0; r < NCASES; r++) {
        char d[112];
        describe(&cases[r], d, sizeof d);
        snprintf(case_names[r], sizeof case_names[r], "%02d %s", r, d);
        tests[2 + r] = (struct CMUnitTest){.name = case_names[r],
                                           .test_func = test_case_row,
                                           .teardown_func = release_teardown,
                                           .initial_state = (void *)(uintptr_t)&cases[r]};
    }
    return _cmocka_run_group_tests("gradcheck", tests, NCASES + 2, NULL, NULL);
}
