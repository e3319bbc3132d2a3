/* test_seeds.c -- the worked examples of the five seed documents, in
 * float64, through the whole pipeline: build, finalize, differentiate as a
 * graph transformation, compile, run. Expected values are the documents'
 * own hand computations (and, for 000's second point, the mathematics). */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

/* A float64 graph with scalar inputs named by names[0..n). */
static gr_graph *scalars(int n, const char *const *names, int *ids) {
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_error err;
    gr_shape s = tu_shape(0);
    for (int i = 0; i < n; i++) {
        ids[i] = gr_graph_input(g, names[i], &s, &err);
        assert_true(ids[i] >= 0);
    }
    TU_OK(gr_graph_finalize(g, &err), err);
    return g;
}

/* Value of f and its gradients w.r.t. ids at vals: out[0] = f, out[1..]. */
static double *value_and_grad(gr_graph *g, int f, const int *ids, int n, const double *vals) {
    gr_error err;
    int outs[8];
    outs[0] = f;
    TU_OK(gr_grad(g, f, ids, n, outs + 1, &err), err);
    tu_bind b[8];
    for (int i = 0; i < n; i++) b[i] = (tu_bind){ids[i], &vals[i]};
    return tu_eval(g, b, n, outs, n + 1);
}

/* 000: e = (a + b) * (b + 1). */
static void test_000_sum_product(void **state) {
    (void)state;
    int v[2];
    gr_graph *g = scalars(2, (const char *[]){"a", "b"}, v);
    int one = gr_graph_const(g, NULL, &(gr_shape){0}, &(double){1}, NULL);
    int e = tu_op2(g, "mul", tu_op2(g, "add", v[0], v[1]), tu_op2(g, "add", v[1], one));
    double *r = value_and_grad(g, e, v, 2, (double[]){2, 1});
    assert_true(r[0] == 6 && r[1] == 2 && r[2] == 5);
    free(r);
    /* At a=3, b=6 the document prints 126; (3+6)*(6+1) is 63. */
    r = value_and_grad(g, e, v, 2, (double[]){3, 6});
    assert_true(r[0] == 63 && r[1] == 7 && r[2] == 16);
    free(r);
    gr_graph_free(g);
}

/* 000: f(x, y) = 1 / (y + e^-x) at (0, 1). */
static void test_000_reciprocal_exp(void **state) {
    (void)state;
    int v[2];
    gr_graph *g = scalars(2, (const char *[]){"x", "y"}, v);
    int f = tu_op1(g, "reciprocal", tu_op2(g, "add", v[1], tu_op1(g, "exp", tu_op1(g, "neg", v[0]))));
    double *r = value_and_grad(g, f, v, 2, (double[]){0, 1});
    assert_true(r[0] == 0.5 && r[1] == 0.25 && r[2] == -0.25);
    free(r);
    gr_graph_free(g);
}

/* 000: f = [max(wx, 0) - y]^2 + z at x=1, y=0, z=-2, w=3. */
static void test_000_relu_square(void **state) {
    (void)state;
    int v[4];
    gr_graph *g = scalars(4, (const char *[]){"x", "y", "z", "w"}, v);
    int zero = gr_graph_const(g, NULL, &(gr_shape){0}, &(double){0}, NULL);
    int q = tu_op2(g, "maximum", tu_op2(g, "mul", v[3], v[0]), zero);
    int f = tu_op2(g, "add", tu_op1(g, "square", tu_op2(g, "sub", q, v[1])), v[2]);
    double *r = value_and_grad(g, f, v, 4, (double[]){1, 0, -2, 3});
    assert_true(r[0] == 7);
    assert_true(r[1] == 18 && r[2] == -6 && r[3] == 1 && r[4] == 6); /* dx dy dz dw */
    free(r);
    gr_graph_free(g);
}

/* 000: w = x^2 + 3x has dw/dx = 2x + 3 (x fans out to two paths). */
static void test_000_fan_out(void **state) {
    (void)state;
    int v[1];
    gr_graph *g = scalars(1, (const char *[]){"x"}, v);
    int three = gr_graph_const(g, NULL, &(gr_shape){0}, &(double){3}, NULL);
    int w = tu_op2(g, "add", tu_op1(g, "square", v[0]), tu_op2(g, "mul", three, v[0]));
    for (double x = -3; x <= 3; x += 0.5) {
        double *r = value_and_grad(g, w, v, 1, &x);
        assert_true(r[0] == x * x + 3 * x && r[1] == 2 * x + 3);
        free(r);
    }
    gr_graph_free(g);
}

/* 002: z = x*y + sin(x) at (0.5, 4.2). */
static void test_002_xy_sin(void **state) {
    (void)state;
    int v[2];
    gr_graph *g = scalars(2, (const char *[]){"x", "y"}, v);
    int z = tu_op2(g, "add", tu_op2(g, "mul", v[0], v[1]), tu_op1(g, "sin", v[0]));
    double *r = value_and_grad(g, z, v, 2, (double[]){0.5, 4.2});
    tu_close(r[0], 2.579425538604203, 1e-15, 0, "z");
    assert_true(r[1] == 4.2 + cos(0.5)); /* dz/dx = y + cos x */
    assert_true(r[2] == 0.5);            /* dz/dy = x */
    free(r);
    gr_graph_free(g);
}

/* 004: the diamond h1 = x*y, h2 = y*z, h = h1*h2, o = h*h at (3, 2, 1),
 * with the adjoints of the intermediate nodes asked for by name. */
static void test_004_diamond(void **state) {
    (void)state;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_error err;
    gr_shape s = tu_shape(0);
    const gr_op *mul = gr_op_find("mul");
    /* Defined out of order, by name, to exercise finalize's ordering. */
    assert_true(gr_graph_node(g, "o", mul, (const char *[]){"h", "h"}, 2, NULL, &err) >= 0);
    assert_true(gr_graph_node(g, "h", mul, (const char *[]){"h1", "h2"}, 2, NULL, &err) >= 0);
    assert_true(gr_graph_node(g, "h1", mul, (const char *[]){"x", "y"}, 2, NULL, &err) >= 0);
    assert_true(gr_graph_node(g, "h2", mul, (const char *[]){"y", "z"}, 2, NULL, &err) >= 0);
    int x = gr_graph_input(g, "x", &s, &err), y = gr_graph_input(g, "y", &s, &err), z = gr_graph_input(g, "z", &s, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    const char *names[6] = {"h", "h1", "h2", "x", "y", "z"};
    int wrt[6], grads[6];
    for (int i = 0; i < 6; i++) wrt[i] = gr_graph_find(g, names[i]);
    int o = gr_graph_find(g, "o");
    TU_OK(gr_grad(g, o, wrt, 6, grads, &err), err);
    int outs[7] = {o};
    for (int i = 0; i < 6; i++) outs[i + 1] = grads[i];
    tu_bind b[3] = {{x, (double[]){3}}, {y, (double[]){2}}, {z, (double[]){1}}};
    double *r = tu_eval(g, b, 3, outs, 7);
    const double want[7] = {144, 24, 48, 144, 96, 288, 288};
    for (int i = 0; i < 7; i++) tu_close(r[i], want[i], 0, 0, i ? names[i - 1] : "o");
    free(r);
    gr_graph_free(g);
}

/* 004: y = x*x, z = y*y at x = 3: dz/dx = 108 and dy/dx = 6. */
static void test_004_chain(void **state) {
    (void)state;
    int v[1];
    gr_graph *g = scalars(1, (const char *[]){"x"}, v);
    int y = tu_op2(g, "mul", v[0], v[0]);
    int z = tu_op2(g, "mul", y, y);
    double *r = value_and_grad(g, z, v, 1, (double[]){3});
    assert_true(r[0] == 81 && r[1] == 108);
    free(r);
    r = value_and_grad(g, y, v, 1, (double[]){3});
    assert_true(r[1] == 6);
    free(r);
    gr_graph_free(g);
}

/* 000, batched: P = X@W, Q = max(P, 0), R = Q - y, S = R^2, T = S + z,
 * with dT = ones: the document derives dX = dP W^T, dW = X^T dP,
 * dy = -sum_rows(dR), dz = sum_rows(dT), dP = (P > 0) * 2R. */
static void test_000_batched(void **state) {
    (void)state;
    enum { B = 4, N = 3, H = 2 };
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_error err;
    gr_shape sx = tu_shape(2, B, N), sw = tu_shape(2, N, H), sh = tu_shape(1, H);
    int X = gr_graph_input(g, "X", &sx, &err), W = gr_graph_param(g, "W", &sw, &err);
    int y = gr_graph_input(g, "y", &sh, &err), z = gr_graph_input(g, "z", &sh, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    int zero = gr_graph_const(g, NULL, &(gr_shape){0}, &(double){0}, NULL);
    int P = tu_op2(g, "matmul", X, W);
    int Q = tu_op2(g, "maximum", P, zero);
    int R = tu_op2(g, "sub", Q, y);
    int T = tu_op2(g, "add", tu_op1(g, "square", R), z);
    int L = tu_op1(g, "sum", T); /* sum(T) makes dT a matrix of ones */
    int wrt[4] = {X, W, y, z}, grads[4];
    TU_OK(gr_grad(g, L, wrt, 4, grads, &err), err);

    double xv[B * N], wv[N * H], yv[H] = {0.3, -0.2}, zv[H] = {1, 2};
    tu_seed(7);
    for (int i = 0; i < B * N; i++) xv[i] = tu_uniform(-1, 1);
    for (int i = 0; i < N * H; i++) wv[i] = tu_uniform(-1, 1);
    tu_bind b[4] = {{X, xv}, {W, wv}, {y, yv}, {z, zv}};
    double *r = tu_eval(g, b, 4, grads, 4);
    const double *dX = r, *dW = r + B * N, *dy = dW + N * H, *dz = dy + H;

    /* The document's backward pass, by hand. */
    double Pv[B][H], dP[B][H], edy[H] = {0}, edz[H] = {0};
    for (int i = 0; i < B; i++)
        for (int j = 0; j < H; j++) {
            Pv[i][j] = 0;
            for (int k = 0; k < N; k++) Pv[i][j] += xv[i * N + k] * wv[k * H + j];
            double Rv = (Pv[i][j] > 0 ? Pv[i][j] : 0) - yv[j];
            double dR = 2 * Rv;
            dP[i][j] = (Pv[i][j] > 0) * dR;
            edy[j] -= dR;
            edz[j] += 1;
        }
    for (int i = 0; i < B; i++)
        for (int k = 0; k < N; k++) {
            double want = 0;
            for (int j = 0; j < H; j++) want += dP[i][j] * wv[k * H + j];
            tu_close(dX[i * N + k], want, 1e-15, 1e-14, "dX");
        }
    for (int k = 0; k < N; k++)
        for (int j = 0; j < H; j++) {
            double want = 0;
            for (int i = 0; i < B; i++) want += xv[i * N + k] * dP[i][j];
            tu_close(dW[k * H + j], want, 1e-15, 1e-14, "dW");
        }
    for (int j = 0; j < H; j++) {
        tu_close(dy[j], edy[j], 1e-15, 1e-14, "dy");
        assert_true(dz[j] == edz[j]);
    }
    free(r);
    gr_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_000_sum_product), cmocka_unit_test(test_000_reciprocal_exp),
        cmocka_unit_test(test_000_relu_square), cmocka_unit_test(test_000_fan_out),
        cmocka_unit_test(test_002_xy_sin),      cmocka_unit_test(test_004_diamond),
        cmocka_unit_test(test_004_chain),       cmocka_unit_test(test_000_batched),
    };
    return cmocka_run_group_tests_name("seeds", tests, NULL, NULL);
}
