/* test_variadic.c -- ops over a list of operands (concat, stack) in the
 * graph IR: a node's operands are not capped at GR_MAX_OPERANDS, whether
 * added by name before finalize or by id after it; names resolve, cycles
 * through the long list are found, the accessors see every operand, the
 * gradient and tangent reach each one, and the operand count is checked
 * against the op's minimum. Also the run-time index errors of take and
 * embedding. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIDE 100 /* operands of the wide nodes: far past GR_MAX_OPERANDS */

static const gr_op *op(const char *name) {
    const gr_op *o = gr_op_find(name);
    assert_non_null(o);
    return o;
}

/* concat of WIDE inputs x0..x99 (x_k of shape [k % 3 + 1]) added by name,
 * before the inputs exist; forward values, gradients and the tangent. */
static void test_wide_concat_by_name(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    assert_non_null(g);
    char names[WIDE][16];
    const char *operands[WIDE];
    for (int k = 0; k < WIDE; k++) {
        snprintf(names[k], sizeof names[k], "x%d", k);
        operands[k] = names[k];
    }
    int y = gr_graph_node(g, "y", op("concat"), operands, WIDE, NULL, &err);
    assert_true(y >= 0);
    const char *sum_in[1] = {"y"};
    int loss = gr_graph_node(g, "loss", op("sum"), sum_in, 1, NULL, &err);
    assert_true(loss >= 0);
    int x[WIDE];
    int64_t total = 0;
    for (int k = 0; k < WIDE; k++) {
        gr_shape s = tu_shape(1, k % 3 + 1);
        x[k] = gr_graph_input(g, names[k], &s, &err);
        assert_true(x[k] >= 0);
        total += k % 3 + 1;
    }
    TU_OK(gr_graph_finalize(g, &err), err);
    assert_int_equal(gr_node_operand_count(g, y), WIDE);
    for (int k = 0; k < WIDE; k++) assert_int_equal(gr_node_operand(g, y, k), x[k]);
    assert_int_equal(gr_node_shape(g, y)->dims[0], total);

    /* y = [0, 1, ..., total-1] when x_k holds its offsets */
    double *vals = calloc((size_t)total, sizeof *vals);
    tu_bind binds[WIDE];
    int64_t off = 0;
    for (int k = 0; k < WIDE; k++) {
        binds[k] = (tu_bind){x[k], vals + off};
        for (int j = 0; j < k % 3 + 1; j++, off++) vals[off] = (double)off;
    }
    double *yv = tu_eval1(g, binds, WIDE, y);
    for (int64_t i = 0; i < total; i++) assert_true(yv[i] == (double)i);
    free(yv);

    /* d sum(y) / d x_k = 1 everywhere; the tangent along x_7 alone */
    int grads[WIDE];
    TU_OK(gr_grad(g, loss, x, WIDE, grads, &err), err);
    double *gv = tu_eval(g, binds, WIDE, grads, WIDE);
    for (int64_t i = 0; i < total; i++) assert_true(gv[i] == 1.0);
    free(gv);
    gr_shape s7 = *gr_node_shape(g, x[7]);
    double one[3] = {1, 1, 1};
    int t7 = gr_graph_const(g, NULL, &s7, one, &err), ty;
    assert_true(t7 >= 0);
    TU_OK(gr_jvp(g, &x[7], &t7, 1, &y, 1, &ty, &err), err);
    double *tv = tu_eval1(g, binds, WIDE, ty);
    off = 0;
    for (int k = 0; k < WIDE; k++)
        for (int j = 0; j < k % 3 + 1; j++, off++) assert_true(tv[off] == (k == 7 ? 1.0 : 0.0));
    free(tv);
    free(vals);
    gr_graph_free(g);
}

/* stack by ids after finalize with WIDE operands, the same node many
 * times; the graph's byte count includes the operand array. */
static void test_wide_stack_by_id(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F32, NULL);
    gr_shape s = tu_shape(2, 2, 3);
    int a = gr_graph_input(g, "a", &s, &err), b = gr_graph_input(g, "b", &s, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    int64_t before = gr_graph_bytes(g);
    int ops[WIDE];
    for (int k = 0; k < WIDE; k++) ops[k] = k % 2 ? b : a;
    gr_attrs at;
    memset(&at, 0, sizeof at);
    gr_attrs_set_int(&at, GR_ATTR_AXIS, 1);
    int y = gr_graph_apply(g, "y", op("stack"), ops, WIDE, &at, &err);
    assert_true(y >= 0);
    assert_true(gr_graph_bytes(g) - before >= WIDE * (int64_t)sizeof(int));
    const gr_shape *ys = gr_node_shape(g, y);
    assert_int_equal(ys->rank, 3);
    assert_int_equal(ys->dims[0], 2);
    assert_int_equal(ys->dims[1], WIDE);
    assert_int_equal(ys->dims[2], 3);
    double av[6] = {1, 2, 3, 4, 5, 6}, bv[6] = {-1, -2, -3, -4, -5, -6};
    tu_bind binds[2] = {{a, av}, {b, bv}};
    double *yv = tu_eval1(g, binds, 2, y);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < WIDE; k++)
            for (int j = 0; j < 3; j++) assert_true(yv[(i * WIDE + k) * 3 + j] == (k % 2 ? bv : av)[i * 3 + j]);
    free(yv);
    /* the gradient of sum(y) reaches a and b once per use: WIDE / 2 each */
    int loss = tu_op1(g, "sum", y), wrt[2] = {a, b}, grads[2];
    TU_OK(gr_grad(g, loss, wrt, 2, grads, &err), err);
    double *gv = tu_eval(g, binds, 2, grads, 2);
    for (int i = 0; i < 12; i++) assert_true(gv[i] == WIDE / 2);
    free(gv);
    gr_graph_free(g);
}

/* Too few operands, an unknown name deep in the list, a cycle through it. */
static void test_wide_errors(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    assert_int_equal(gr_graph_apply(g, "e", op("concat"), NULL, 0, NULL, &err), -1);
    assert_int_equal(gr_graph_node(g, "e", op("concat"), NULL, 0, NULL, &err), -1);
    assert_int_equal(err.code, GR_E_ARG);
    assert_non_null(strstr(err.message, "concat"));
    gr_graph_free(g);

    g = gr_graph_new(GR_F64, NULL);
    gr_shape s = tu_shape(1, 2);
    assert_true(gr_graph_input(g, "a", &s, &err) >= 0);
    const char *ins[6] = {"a", "a", "a", "a", "a", "nope"};
    assert_true(gr_graph_node(g, "y", op("concat"), ins, 6, NULL, &err) >= 0);
    assert_int_equal(gr_graph_finalize(g, &err), GR_E_NAME);
    assert_int_equal(err.operand, 5);
    gr_graph_free(g);

    g = gr_graph_new(GR_F64, NULL);
    assert_true(gr_graph_input(g, "a", &s, &err) >= 0);
    const char *ins2[5] = {"a", "a", "a", "a", "z"};
    assert_true(gr_graph_node(g, "y", op("concat"), ins2, 5, NULL, &err) >= 0);
    const char *zin[1] = {"y"};
    assert_true(gr_graph_node(g, "z", op("neg"), zin, 1, NULL, &err) >= 0);
    assert_int_equal(gr_graph_finalize(g, &err), GR_E_CYCLE);
    gr_graph_free(g);
}

/* An index out of range is a run-time error naming the node and operand 1. */
static void test_index_errors_at_run_time(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_shape ws = tu_shape(2, 3, 2), is = tu_shape(1, 2);
    int w = gr_graph_input(g, "w", &ws, &err), i = gr_graph_input(g, "i", &is, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    int ops[2] = {w, i};
    int e = gr_graph_apply(g, "e", op("embedding"), ops, 2, NULL, &err);
    gr_attrs at;
    memset(&at, 0, sizeof at);
    gr_attrs_set_int(&at, GR_ATTR_AXIS, 0);
    int t = gr_graph_apply(g, "t", op("take"), ops, 2, &at, &err);
    assert_true(e >= 0 && t >= 0);
    double wv[6] = {0}, bad[3][2] = {{0, 3}, {-1, 0}, {0.5, 1}};
    for (int c = 0; c < 3; c++) {
        for (int which = 0; which < 2; which++) {
            int out = which ? t : e;
            /* take allows -1 (NumPy); embedding does not (torch) */
            int want_error = !(which == 1 && c == 1);
            gr_exec *x = gr_compile(g, &out, 1, &err);
            assert_non_null(x);
            TU_OK(gr_exec_bind(x, w, wv, &err), err);
            TU_OK(gr_exec_bind(x, i, bad[c], &err), err);
            gr_status st = gr_exec_run(x, &err);
            if (want_error) {
                assert_int_equal(st, GR_E_VALUE);
                assert_string_equal(err.node, which ? "t" : "e");
                assert_int_equal(err.operand, 1);
            } else {
                assert_int_equal(st, GR_OK);
            }
            gr_exec_free(x);
        }
    }
    gr_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wide_concat_by_name),
        cmocka_unit_test(test_wide_stack_by_id),
        cmocka_unit_test(test_wide_errors),
        cmocka_unit_test(test_index_errors_at_run_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
