/* test_graph.c -- the graph IR on bad and extreme input: every failure is
 * an error status naming the node and operand, never a crash or a huge
 * allocation; a 100,000-node chain finalizes, differentiates and runs. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const gr_op *op(const char *name) {
    const gr_op *o = gr_op_find(name);
    assert_non_null(o);
    return o;
}

static void test_shape_overflow_and_limits(void **state) {
    (void)state;
    gr_error err;
    gr_shape s;
    int64_t n;
    int64_t big[3] = {INT64_C(1) << 40, INT64_C(1) << 40, 2};
    assert_int_equal(gr_shape_make(&s, 3, big, &err), GR_OK);
    assert_int_equal(gr_shape_numel(&s, INT64_MAX, &n, &err), GR_E_OVERFLOW);
    int64_t neg[1] = {-3};
    assert_int_equal(gr_shape_make(&s, 1, neg, &err), GR_E_ARG);
    assert_int_equal(gr_shape_make(&s, GR_MAX_RANK + 1, big, &err), GR_E_ARG);

    /* An input over the element limit is refused before anything is sized by it. */
    gr_limits lim = gr_limits_default();
    lim.max_elements = 1000;
    gr_graph *g = gr_graph_new(GR_F32, &lim);
    gr_shape huge = tu_shape(2, 1000000, 1000000);
    assert_int_equal(gr_graph_input(g, "x", &huge, &err), -1);
    assert_int_equal(err.code, GR_E_LIMIT);
    assert_string_equal(err.node, "x");
    /* The failed name is free again. */
    gr_shape ok = tu_shape(1, 10);
    assert_true(gr_graph_input(g, "x", &ok, &err) >= 0);
    /* An op whose result is over the limit names the op node. */
    gr_shape col = tu_shape(2, 100, 1), row = tu_shape(2, 1, 100);
    gr_graph_input(g, "c", &col, &err);
    gr_graph_input(g, "r", &row, &err);
    assert_true(gr_graph_node(g, "outer", op("mul"), (const char *[]){"c", "r"}, 2, NULL, &err) >= 0);
    assert_int_equal(gr_graph_finalize(g, &err), GR_E_LIMIT);
    assert_string_equal(err.node, "outer");
    gr_graph_free(g);

    /* Rank limit. */
    lim = gr_limits_default();
    lim.max_rank = 2;
    g = gr_graph_new(GR_F64, &lim);
    gr_shape r3 = tu_shape(3, 1, 1, 1);
    assert_int_equal(gr_graph_input(g, "x", &r3, &err), -1);
    assert_int_equal(err.code, GR_E_LIMIT);
    gr_graph_free(g);
}

static void test_broadcast_rules(void **state) {
    (void)state;
    gr_shape a = tu_shape(3, 2, 1, 4), b = tu_shape(2, 3, 1), out;
    gr_error err;
    assert_int_equal(gr_shape_broadcast(&a, &b, &out, &err), GR_OK);
    gr_shape want = tu_shape(3, 2, 3, 4);
    assert_true(gr_shape_equal(&out, &want));
    gr_shape c = tu_shape(1, 5);
    assert_int_equal(gr_shape_broadcast(&a, &c, &out, &err), GR_E_SHAPE);
    assert_non_null(strstr(err.message, "[2, 1, 4]"));
    assert_non_null(strstr(err.message, "[5]"));
    /* Zero-size dims broadcast like any other size. */
    gr_shape z = tu_shape(2, 0, 4), one = tu_shape(1, 4);
    assert_int_equal(gr_shape_broadcast(&z, &one, &out, &err), GR_OK);
    assert_int_equal(out.dims[0], 0);
}

static void test_names(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_shape s = tu_shape(0);
    assert_true(gr_graph_input(g, "x", &s, &err) >= 0);
    assert_int_equal(gr_graph_param(g, "x", &s, &err), -1);
    assert_int_equal(err.code, GR_E_DUPLICATE);
    assert_string_equal(err.node, "x");
    assert_int_equal(gr_graph_input(g, "", &s, &err), -1);
    assert_int_equal(err.code, GR_E_ARG);
    assert_int_equal(gr_graph_input(g, "%1", &s, &err), -1);
    assert_int_equal(gr_graph_node(g, "x", op("neg"), (const char *[]){"x"}, 1, NULL, &err), -1);
    assert_int_equal(err.code, GR_E_DUPLICATE);
    /* Unknown operand: named with the operand index. */
    assert_true(gr_graph_node(g, "y", op("add"), (const char *[]){"x", "nope"}, 2, NULL, &err) >= 0);
    assert_int_equal(gr_graph_finalize(g, &err), GR_E_NAME);
    assert_string_equal(err.node, "y");
    assert_int_equal(err.operand, 1);
    assert_non_null(strstr(err.message, "nope"));
    gr_graph_free(g);
}

static void test_signature_errors(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_shape s = tu_shape(1, 3);
    gr_graph_input(g, "x", &s, &err);
    /* Wrong arity. */
    assert_int_equal(gr_graph_node(g, "y", op("add"), (const char *[]){"x"}, 1, NULL, &err), -1);
    assert_int_equal(err.code, GR_E_ARG);
    /* An attribute the op does not take. */
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_AXIS, 0);
    assert_int_equal(gr_graph_node(g, "y", op("neg"), (const char *[]){"x"}, 1, &at, &err), -1);
    assert_int_equal(err.code, GR_E_OP);
    assert_string_equal(err.attr, "axis");
    /* A required attribute missing. */
    assert_int_equal(gr_graph_node(g, "y", op("reshape"), (const char *[]){"x"}, 1, NULL, &err), -1);
    assert_string_equal(err.attr, "shape");
    /* Out-of-range axes name the attribute. */
    gr_attrs ax = {0};
    int64_t axes[1] = {5};
    assert_int_equal(gr_attrs_set_ints(&ax, GR_ATTR_AXES, axes, 1, &err), GR_OK);
    assert_true(gr_graph_node(g, "s", op("sum"), (const char *[]){"x"}, 1, &ax, &err) >= 0);
    assert_int_equal(gr_graph_finalize(g, &err), GR_E_ARG);
    assert_string_equal(err.node, "s");
    assert_string_equal(err.attr, "axes");
    gr_graph_free(g);

    /* axis and axes together are ambiguous. */
    g = gr_graph_new(GR_F64, NULL);
    gr_graph_input(g, "x", &s, &err);
    gr_attrs both = {0};
    int64_t one[1] = {0};
    gr_attrs_set_ints(&both, GR_ATTR_AXES, one, 1, &err);
    gr_attrs_set_int(&both, GR_ATTR_AXIS, 0);
    assert_true(gr_graph_node(g, "s", op("sum"), (const char *[]){"x"}, 1, &both, &err) >= 0);
    assert_int_equal(gr_graph_finalize(g, &err), GR_E_ARG);
    assert_string_equal(err.attr, "axis");
    gr_graph_free(g);
}

static void test_shape_errors_name_both_shapes(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_shape a = tu_shape(2, 2, 3), b = tu_shape(2, 4, 5);
    gr_graph_input(g, "a", &a, &err);
    gr_graph_input(g, "b", &b, &err);
    gr_graph_node(g, "p", op("matmul"), (const char *[]){"a", "b"}, 2, NULL, &err);
    assert_int_equal(gr_graph_finalize(g, &err), GR_E_SHAPE);
    assert_string_equal(err.node, "p");
    assert_int_equal(err.operand, 1);
    assert_non_null(strstr(err.message, "[2, 3]"));
    assert_non_null(strstr(err.message, "[4, 5]"));
    gr_graph_free(g);

    g = gr_graph_new(GR_F64, NULL);
    gr_graph_input(g, "a", &a, &err);
    gr_graph_input(g, "b", &b, &err);
    gr_graph_node(g, "s", op("add"), (const char *[]){"a", "b"}, 2, NULL, &err);
    assert_int_equal(gr_graph_finalize(g, &err), GR_E_SHAPE);
    assert_string_equal(err.node, "s");
    assert_non_null(strstr(err.message, "[2, 3]"));
    assert_non_null(strstr(err.message, "[4, 5]"));
    gr_graph_free(g);

    /* max over an empty axis is undefined; sum of it is 0, mean is NaN. */
    g = gr_graph_new(GR_F64, NULL);
    gr_shape e = tu_shape(2, 0, 3);
    int x = gr_graph_input(g, "x", &e, &err);
    gr_graph_node(g, "m", op("max"), (const char *[]){"x"}, 1, NULL, &err);
    assert_int_equal(gr_graph_finalize(g, &err), GR_E_SHAPE);
    gr_graph_free(g);
    g = gr_graph_new(GR_F64, NULL);
    x = gr_graph_input(g, "x", &e, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    int outs[2] = {tu_op1(g, "sum", x), tu_op1(g, "mean", x)};
    tu_bind bnd = {x, NULL};
    double *r = tu_eval(g, &bnd, 1, outs, 2);
    assert_true(r[0] == 0 && isnan(r[1]));
    free(r);
    gr_graph_free(g);
}

static void test_cycle(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_shape s = tu_shape(0);
    gr_graph_input(g, "x", &s, &err);
    gr_graph_node(g, "a", op("add"), (const char *[]){"x", "c"}, 2, NULL, &err);
    gr_graph_node(g, "b", op("neg"), (const char *[]){"a"}, 1, NULL, &err);
    gr_graph_node(g, "c", op("exp"), (const char *[]){"b"}, 1, NULL, &err);
    gr_graph_node(g, "d", op("exp"), (const char *[]){"x"}, 1, NULL, &err);
    assert_int_equal(gr_graph_finalize(g, &err), GR_E_CYCLE);
    /* The message lists the nodes on the cycle, not the innocent d. */
    assert_non_null(strstr(err.message, "a"));
    assert_non_null(strstr(err.message, "b"));
    assert_non_null(strstr(err.message, "c"));
    assert_null(strstr(err.message, "d"));
    gr_graph_free(g);

    /* A self loop. */
    g = gr_graph_new(GR_F64, NULL);
    gr_graph_node(g, "s", op("neg"), (const char *[]){"s"}, 1, NULL, &err);
    assert_int_equal(gr_graph_finalize(g, &err), GR_E_CYCLE);
    assert_string_equal(err.node, "s");
    gr_graph_free(g);
}

/* A 100,000-node chain h_i = sin(h_{i-1}), given by name in reverse order:
 * finalize, differentiate, compile and run without deep recursion, and
 * check the derivative against the product of cosines. */
static void test_deep_chain(void **state) {
    (void)state;
    enum { N = 100000 };
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    char name[32], prev[32];
    const gr_op *sin_op = op("sin");
    for (int i = N; i >= 1; i--) {
        snprintf(name, sizeof name, "h%d", i);
        snprintf(prev, sizeof prev, i == 1 ? "x" : "h%d", i - 1);
        const char *operands[1] = {prev};
        assert_true(gr_graph_node(g, name, sin_op, operands, 1, NULL, &err) >= 0);
    }
    gr_shape s = tu_shape(0);
    int x = gr_graph_input(g, "x", &s, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    snprintf(name, sizeof name, "h%d", N);
    int h = gr_graph_find(g, name), dh;
    TU_OK(gr_grad(g, h, &x, 1, &dh, &err), err);
    double x0 = 1.0;
    tu_bind b = {x, &x0};
    int outs[2] = {h, dh};
    double *r = tu_eval(g, &b, 1, outs, 2);
    double v = x0, d = 1;
    for (int i = 0; i < N; i++) {
        d *= cos(v);
        v = sin(v);
    }
    tu_close(r[0], v, 1e-15, 1e-12, "h");
    tu_close(r[1], d, 1e-18, 1e-9, "dh/dx");
    free(r);
    gr_graph_free(g);
}

static void test_node_limit(void **state) {
    (void)state;
    gr_limits lim = gr_limits_default();
    lim.max_nodes = 10;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, &lim);
    gr_shape s = tu_shape(0);
    int x = gr_graph_input(g, "x", &s, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    int h = x;
    for (int i = 0; i < 5; i++) h = tu_op1(g, "sin", h);
    /* The gradient needs more nodes than the limit allows: a clean error. */
    int dh = -1;
    assert_int_equal(gr_grad(g, h, &x, 1, &dh, &err), GR_E_LIMIT);
    gr_graph_free(g);
}

static void test_grad_errors(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_shape s = tu_shape(1, 3);
    int x = gr_graph_input(g, "x", &s, &err);
    int y = -1;
    assert_int_equal(gr_grad(g, x, &x, 1, &y, &err), GR_E_STATE);
    TU_OK(gr_graph_finalize(g, &err), err);
    int e = tu_op1(g, "exp", x);
    assert_int_equal(gr_grad(g, e, &x, 1, &y, &err), GR_E_NOT_SCALAR);
    assert_non_null(strstr(err.message, "[3]"));
    int bad = 12345;
    assert_int_equal(gr_grad(g, tu_op1(g, "sum", e), &bad, 1, &y, &err), GR_E_ARG);
    /* A wrt node the loss does not depend on gets zeros. */
    gr_shape s0 = tu_shape(0);
    int z = gr_graph_input(g, "z", &s0, &err);
    int loss = tu_op1(g, "sum", e), gz;
    TU_OK(gr_grad(g, loss, &z, 1, &gz, &err), err);
    double xv[3] = {1, 2, 3}, zv = 4;
    tu_bind b[2] = {{x, xv}, {z, &zv}};
    double *r = tu_eval1(g, b, 2, gz);
    assert_true(r[0] == 0);
    free(r);
    gr_graph_free(g);
}

/* Forward mode on a seed example: d/dt of z = x*y + sin(x) along (1, 0)
 * is dz/dx; and a Hessian-vector product of a cubic. */
static void test_jvp_and_hvp(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_shape s = tu_shape(0), v3 = tu_shape(1, 3);
    int x = gr_graph_input(g, "x", &s, &err), y = gr_graph_input(g, "y", &s, &err);
    int tx = gr_graph_input(g, "tx", &s, &err);
    int w = gr_graph_param(g, "w", &v3, &err), vec = gr_graph_input(g, "v", &v3, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    int z = tu_op2(g, "add", tu_op2(g, "mul", x, y), tu_op1(g, "sin", x));
    int tz;
    TU_OK(gr_jvp(g, &x, &tx, 1, &z, 1, &tz, &err), err);
    /* f(w) = sum(w^3): H = diag(6w), so Hv = 6 w v. */
    int f = tu_op1(g, "sum", tu_op2(g, "mul", tu_op1(g, "square", w), w));
    int hv;
    TU_OK(gr_hvp(g, f, &w, &vec, 1, &hv, &err), err);
    double xv = 0.5, yv = 4.2, txv = 1, wv[3] = {1, -2, 0.5}, vv[3] = {0.3, 1, -2};
    tu_bind b[5] = {{x, &xv}, {y, &yv}, {tx, &txv}, {w, wv}, {vec, vv}};
    int outs[2] = {tz, hv};
    double *r = tu_eval(g, b, 5, outs, 2);
    assert_true(r[0] == 4.2 + cos(0.5));
    for (int i = 0; i < 3; i++) tu_close(r[1 + i], 6 * wv[i] * vv[i], 1e-14, 1e-14, "Hv");
    free(r);
    gr_graph_free(g);
}

/* Accessor pointers handed back to the graph while it grows: the node
 * array moves at each doubling, and the API must copy before it does. */
static void test_pointers_into_growing_graph(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_shape s = tu_shape(2, 4, 5), sl = tu_shape(1, 4);
    int x = gr_graph_input(g, "x", &s, &err), y = gr_graph_input(g, "y", &sl, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    gr_attrs ax = {0};
    int64_t axes[1] = {1};
    gr_attrs_set_ints(&ax, GR_ATTR_AXES, axes, 1, &err);
    int h = x;
    double w[20];
    for (int i = 0; i < 20; i++) w[i] = i;
    for (int i = 0; i < 300; i++) {
        /* 1 to 3 nodes first, so the calls below land on every doubling */
        for (int k = 0; k <= i % 3; k++) h = tu_op1(g, "neg", h);
        /* shape and attrs pointers from the graph itself */
        int c = gr_graph_const(g, NULL, gr_node_shape(g, h), w, &err);
        assert_true(c >= 0);
        int s1 = tu_apply(g, "sum", &h, 1, &ax);
        assert_true(tu_apply(g, "sum", &h, 1, gr_node_attrs(g, s1)) >= 0);
    }
    /* cross_entropy's gradient rule builds several nodes from one operand
     * shape; with the array near a doubling it must still be right. */
    int operands[2] = {h, y};
    int loss = tu_apply(g, "cross_entropy", operands, 2, NULL), gx;
    TU_OK(gr_grad(g, loss, &x, 1, &gx, &err), err);
    double xv[20] = {0}, yv[4] = {0, 1, 2, 3};
    tu_bind b[2] = {{x, xv}, {y, yv}};
    double *r = tu_eval1(g, b, 2, gx);
    /* all-zero logits: softmax is 1/5; dx = (-1)^negs (1/5 - onehot) / 4, 600 negs */
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 5; j++) tu_close(r[i * 5 + j], (0.2 - (j == i)) / 4, 1e-16, 1e-15, "dx");
    free(r);
    gr_graph_free(g);
}

static void test_op_table(void **state) {
    (void)state;
    const char *required[] = {"neg", "exp", "log", "sin", "cos", "tanh", "sigmoid", "relu", "softplus", "sqrt",
                              "abs", "square", "reciprocal", "add", "sub", "mul", "div", "pow", "maximum",
                              "minimum", "greater", "less", "equal", "where", "matmul", "transpose", "reshape",
                              "sum", "mean", "max", "softmax", "log_softmax", "cross_entropy", "mse"};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
        const gr_op *o = gr_op_find(required[i]);
        if (!o) fail_msg("op '%s' missing from the table", required[i]);
        assert_non_null(gr_op_doc(o));
        assert_true(strlen(gr_op_doc(o)) > 10);
    }
    /* Names are unique, and find/at agree. */
    for (int i = 0; i < gr_op_count(); i++) {
        const gr_op *o = gr_op_at(i);
        assert_ptr_equal(gr_op_find(gr_op_name(o)), o);
    }
    assert_null(gr_op_find("nope"));
    assert_null(gr_op_at(gr_op_count()));
    for (int i = 0; i < GR_ATTR_COUNT; i++) assert_int_equal(gr_attr_lookup(gr_attr_name(i)), i);
    assert_int_equal(gr_attr_lookup("bogus"), -1);
}

/* A node costs little whatever the attribute table holds: nodes point at
 * one shared copy of equal attribute sets. 20,000 reductions over axis 0
 * (one set) and 20,000 adds (none) take under 400 bytes a node, all the
 * graph's tables included; with a kilobyte-sized gr_attrs in every node it
 * was over 1,500. */
static void test_nodes_share_their_attributes(void **state) {
    (void)state;
    gr_limits lim = gr_limits_default();
    gr_graph *g = gr_graph_new(GR_F64, &lim);
    gr_error err;
    gr_shape s = {1, {4}};
    int x = gr_graph_input(g, "x", &s, &err);
    assert_true(x >= 0);
    assert_int_equal(gr_graph_finalize(g, &err), GR_OK);
    gr_attrs at;
    memset(&at, 0, sizeof at);
    gr_attrs_set_int(&at, GR_ATTR_AXIS, 0);
    gr_attrs_set_int(&at, GR_ATTR_KEEPDIMS, 1);
    int h = x, n = 20000;
    for (int i = 0; i < n; i++) {
        int r = gr_graph_apply(g, NULL, gr_op_find("sum"), &h, 1, &at, &err);
        if (r < 0) fail_msg("%s", err.message);
        int ab[2] = {r, x};
        h = gr_graph_apply(g, NULL, gr_op_find("add"), ab, 2, NULL, &err);
        assert_true(h >= 0);
    }
    double per_node = (double)gr_graph_bytes(g) / gr_graph_node_count(g);
    printf("# %d nodes, %.0f bytes a node (graph tables included)\n", gr_graph_node_count(g), per_node);
    assert_true(per_node < 400);
    assert_int_equal(gr_node_attrs(g, h - 1)->axis, 0); /* the sum before the last add */
    assert_true(gr_node_attrs(g, h - 1) == gr_node_attrs(g, 1)); /* one shared copy */
    gr_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_overflow_and_limits),
        cmocka_unit_test(test_nodes_share_their_attributes),
        cmocka_unit_test(test_broadcast_rules),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_signature_errors),
        cmocka_unit_test(test_shape_errors_name_both_shapes),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_deep_chain),
        cmocka_unit_test(test_node_limit),
        cmocka_unit_test(test_grad_errors),
        cmocka_unit_test(test_jvp_and_hvp),
        cmocka_unit_test(test_pointers_into_growing_graph),
        cmocka_unit_test(test_op_table),
    };
    return cmocka_run_group_tests_name("graph", tests, NULL, NULL);
}
