/* test_exec.c -- the executor: memory planning keeps the arena near the
 * live set, runs repeat on new values, bad run-time values and unbound
 * inputs are errors naming the node, cancellation stops a run, limits on
 * the plan are checked before the arena is allocated. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A chain of 200 elementwise ops on a [1000] vector: the live set is two
 * buffers, so the plan must be far below one buffer per node. */
static void test_plan_reuses_buffers(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_shape s = tu_shape(1, 1000);
    int x = gr_graph_input(g, "x", &s, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    int h = x;
    for (int i = 0; i < 200; i++) h = tu_op1(g, i % 2 ? "sin" : "cos", h);
    gr_exec *e = gr_compile(g, &h, 1, &err);
    assert_non_null(e);
    gr_exec_stats st;
    gr_exec_get_stats(e, &st);
    assert_int_equal(st.instructions, 200);
    assert_true(st.unplanned_bytes >= 200 * 8000);
    assert_true(st.arena_bytes <= 2 * 8064); /* two live buffers, aligned */
    /* Values are right despite the reuse. */
    double xv[1000];
    for (int i = 0; i < 1000; i++) xv[i] = i * 0.001;
    TU_OK(gr_exec_bind(e, x, xv, &err), err);
    TU_OK(gr_exec_run(e, &err), err);
    const double *out = gr_exec_value(e, h);
    for (int i = 0; i < 1000; i += 97) {
        double v = xv[i];
        for (int k = 0; k < 200; k++) v = k % 2 ? sin(v) : cos(v);
        assert_true(out[i] == v);
    }
    gr_exec_free(e);
    gr_graph_free(g);
}

/* An MLP-like backward graph: arena below the unplanned sum. */
static void test_plan_on_gradient_graph(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F32, NULL);
    gr_shape sx = tu_shape(2, 64, 32), sw = tu_shape(2, 32, 32);
    int x = gr_graph_input(g, "x", &sx, &err);
    int w[4];
    for (int i = 0; i < 4; i++) {
        char name[8] = {'w', (char)('0' + i), 0};
        w[i] = gr_graph_param(g, name, &sw, &err);
    }
    TU_OK(gr_graph_finalize(g, &err), err);
    int h = x;
    for (int i = 0; i < 4; i++) h = tu_op1(g, "relu", tu_op2(g, "matmul", h, w[i]));
    int loss = tu_op1(g, "sum", h), grads[4];
    TU_OK(gr_grad(g, loss, w, 4, grads, &err), err);
    gr_exec *e = gr_compile(g, grads, 4, &err);
    assert_non_null(e);
    gr_exec_stats st;
    gr_exec_get_stats(e, &st);
    assert_true(st.arena_bytes < st.unplanned_bytes * 2 / 3);
    assert_true(st.flops >= 2LL * 3 * 4 * 64 * 32 * 32 - 2 * 64 * 32 * 32); /* fwd + 2 bwd GEMMs, minus dx of layer 0 */
    gr_exec_free(e);
    gr_graph_free(g);
}

static void test_rerun_with_new_values(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F32, NULL);
    gr_shape s = tu_shape(2, 2, 3), sb = tu_shape(1, 3);
    int a = gr_graph_input(g, "a", &s, &err), b = gr_graph_param(g, "b", &sb, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    int y = tu_op2(g, "add", a, b);
    gr_exec *e = gr_compile(g, &y, 1, &err);
    float av[6] = {1, 2, 3, 4, 5, 6}, bv[3] = {10, 20, 30};
    TU_OK(gr_exec_bind(e, a, av, &err), err);
    /* Unbound param: a clean error naming it. */
    assert_int_equal(gr_exec_run(e, &err), GR_E_STATE);
    assert_string_equal(err.node, "b");
    TU_OK(gr_exec_bind(e, b, bv, &err), err);
    for (int rep = 0; rep < 3; rep++) {
        av[0] = (float)rep;
        TU_OK(gr_exec_run(e, &err), err);
        const float *o = gr_exec_value(e, y);
        assert_true(o[0] == rep + 10 && o[5] == 36);
    }
    assert_null(gr_exec_value(e, a)); /* not an output */
    assert_int_equal(gr_exec_bind(e, y, av, &err), GR_E_ARG);
    gr_exec_free(e);
    gr_graph_free(g);
}

static void test_label_errors_at_run_time(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_shape sl = tu_shape(2, 2, 3), sy = tu_shape(1, 2);
    int logits = gr_graph_input(g, "logits", &sl, &err), labels = gr_graph_input(g, "labels", &sy, &err);
    const gr_op *ce = gr_op_find("cross_entropy");
    TU_OK(gr_graph_finalize(g, &err), err);
    int operands[2] = {logits, labels};
    int loss = gr_graph_apply(g, "loss", ce, operands, 2, NULL, &err);
    gr_exec *e = gr_compile(g, &loss, 1, &err);
    double lv[6] = {0, 0, 0, 1, 2, 3}, yv[2] = {0, 3};
    gr_exec_bind(e, logits, lv, &err);
    gr_exec_bind(e, labels, yv, &err);
    assert_int_equal(gr_exec_run(e, &err), GR_E_VALUE);
    assert_string_equal(err.node, "loss");
    assert_int_equal(err.operand, 1);
    yv[1] = 1.5;
    assert_int_equal(gr_exec_run(e, &err), GR_E_VALUE);
    yv[1] = NAN;
    assert_int_equal(gr_exec_run(e, &err), GR_E_VALUE);
    yv[1] = 2;
    TU_OK(gr_exec_run(e, &err), err);
    /* log(3) for the uniform row; 3 - logsumexp(1,2,3) for the other. */
    double want = (log(3.0) + (log(exp(1.0) + exp(2.0) + exp(3.0)) - 3)) / 2;
    tu_close(*(const double *)gr_exec_value(e, loss), want, 1e-15, 1e-15, "cross_entropy");
    gr_exec_free(e);
    gr_graph_free(g);
}

static void test_cancel_and_plan_limit(void **state) {
    (void)state;
    gr_error err;
    gr_limits lim = gr_limits_default();
    lim.max_plan_bytes = 100000;
    gr_graph *g = gr_graph_new(GR_F64, &lim);
    gr_shape s = tu_shape(1, 10000);
    int x = gr_graph_input(g, "x", &s, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    int a = tu_op1(g, "exp", x), b = tu_op1(g, "sin", x);
    int outs[2] = {a, b};
    /* Two live 80 KB outputs exceed a 100 KB plan: refused at compile. */
    assert_null(gr_compile(g, outs, 2, &err));
    assert_int_equal(err.code, GR_E_LIMIT);
    gr_exec *e = gr_compile(g, &a, 1, &err);
    assert_non_null(e);
    static double xv[10000];
    gr_exec_bind(e, x, xv, &err);
    volatile int flag = 1;
    gr_exec_set_cancel(e, &flag);
    assert_int_equal(gr_exec_run(e, &err), GR_E_CANCELLED);
    flag = 0;
    TU_OK(gr_exec_run(e, &err), err);
    gr_exec_free(e);
    gr_graph_free(g);
}

/* Zero-size tensors flow through every kind of kernel. */
static void test_zero_size(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_shape sa = tu_shape(2, 0, 3), sw = tu_shape(2, 3, 4), sk = tu_shape(2, 2, 0), sk2 = tu_shape(2, 0, 5);
    int a = gr_graph_input(g, "a", &sa, &err), w = gr_graph_param(g, "w", &sw, &err);
    int k = gr_graph_input(g, "k", &sk, &err), k2 = gr_graph_input(g, "k2", &sk2, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    int p = tu_op2(g, "matmul", a, w);             /* [0, 4] */
    int q = tu_op2(g, "matmul", k, k2);            /* [2, 5] of zeros: empty inner dim */
    int loss = tu_op1(g, "sum", tu_op1(g, "softmax", p));
    int gw;
    TU_OK(gr_grad(g, loss, &w, 1, &gw, &err), err);
    double wv[12];
    for (int i = 0; i < 12; i++) wv[i] = i;
    tu_bind b[4] = {{a, NULL}, {w, wv}, {k, NULL}, {k2, NULL}};
    int outs[3] = {loss, gw, q};
    double *r = tu_eval(g, b, 4, outs, 3);
    assert_true(r[0] == 0);
    for (int i = 0; i < 12; i++) assert_true(r[1 + i] == 0);
    for (int i = 0; i < 10; i++) assert_true(r[13 + i] == 0);
    free(r);
    gr_graph_free(g);
}

/* NaN propagates through relu, maximum, minimum and max, as in PyTorch. */
static void test_nan_propagates(void **state) {
    (void)state;
    gr_error err;
    for (int d = 0; d < 2; d++) {
        gr_graph *g = gr_graph_new(d ? GR_F32 : GR_F64, NULL);
        gr_shape s = tu_shape(1, 3);
        int x = gr_graph_input(g, "x", &s, &err);
        TU_OK(gr_graph_finalize(g, &err), err);
        int zero = gr_graph_const(g, NULL, &(gr_shape){0}, d ? (void *)&(float){0} : (void *)&(double){0}, &err);
        int outs[5] = {tu_op1(g, "relu", x), tu_op2(g, "maximum", x, zero), tu_op2(g, "maximum", zero, x),
                       tu_op2(g, "minimum", x, zero), tu_op1(g, "max", x)};
        double xv[3] = {-1, NAN, 2};
        tu_bind b = {x, xv};
        double *r = tu_eval(g, &b, 1, outs, 5);
        for (int k = 0; k < 4; k++) {
            assert_true(isnan(r[k * 3 + 1]));
            assert_false(isnan(r[k * 3]) || isnan(r[k * 3 + 2]));
        }
        assert_true(r[0] == 0 && r[2] == 2);
        assert_true(isnan(r[12]));
        free(r);
        gr_graph_free(g);
    }
}

/* add(matmul(a, b), bias) runs as one GEMM from the bias; the result
 * must equal the two-step computation (forced by making the matmul an
 * output too, which forbids the fusion) for every bias shape (a row of
 * the product's columns starts each row; the others are copied whole
 * first), a single product, a batch folded into rows, a batch of
 * products, and an empty contraction (k = 0: the bias alone). */
static void test_matmul_bias_fusion(void **state) {
    (void)state;
    gr_error err;
    const gr_shape bias_shapes[4] = {tu_shape(1, 5), tu_shape(2, 1, 5), tu_shape(0), tu_shape(2, 4, 1)};
    const gr_shape a_shapes[4] = {tu_shape(2, 4, 3), tu_shape(3, 2, 4, 3), tu_shape(3, 2, 4, 3), tu_shape(2, 4, 0)};
    const gr_shape b_shapes[4] = {tu_shape(2, 3, 5), tu_shape(2, 3, 5), tu_shape(3, 2, 3, 5), tu_shape(2, 0, 5)};
    for (int v = 0; v < 4; v++)
        for (int bi = 0; bi < 4; bi++) {
            gr_graph *g = gr_graph_new(GR_F64, NULL);
            int a = gr_graph_input(g, "a", &a_shapes[v], &err), b = gr_graph_param(g, "b", &b_shapes[v], &err);
            int c = gr_graph_param(g, "c", &bias_shapes[bi], &err);
            TU_OK(gr_graph_finalize(g, &err), err);
            int m = tu_op2(g, "matmul", a, b);
            int y = bi % 2 ? tu_op2(g, "add", c, m) : tu_op2(g, "add", m, c);
            double av[24], bv[30], cv[20];
            tu_seed(3 + (uint64_t)bi);
            for (int i = 0; i < 24; i++) av[i] = tu_uniform(-1, 1);
            for (int i = 0; i < 30; i++) bv[i] = tu_uniform(-1, 1);
            for (int i = 0; i < 20; i++) cv[i] = tu_uniform(-1, 1);
            tu_bind bd[3] = {{a, av}, {b, bv}, {c, cv}};
            double *fused = tu_eval1(g, bd, 3, y);
            int both[2] = {y, m};
            double *plain = tu_eval(g, bd, 3, both, 2);
            int64_t n = gr_node_numel(g, y);
            for (int64_t i = 0; i < n; i++) assert_true(fused[i] == plain[i]);
            if (v == 3) /* no terms: y is the bias, broadcast */
                for (int64_t i = 0; i < n; i++)
                    assert_true(fused[i] == (bi == 2 ? cv[0] : bi == 3 ? cv[i / 5] : cv[i % 5]));
            /* and it really fused: one instruction instead of two */
            gr_exec *e = gr_compile(g, &y, 1, &err);
            gr_exec_stats st;
            gr_exec_get_stats(e, &st);
            assert_int_equal(st.instructions, 1);
            gr_exec_free(e);
            free(fused);
            free(plain);
            gr_graph_free(g);
        }
}

/* The stats of graph g's program for outs (n of them). */
static gr_exec_stats stats_of(const gr_graph *g, const int *outs, int n) {
    gr_error err;
    gr_exec *e = gr_compile(g, outs, n, &err);
    assert_non_null(e);
    gr_exec_stats st;
    gr_exec_get_stats(e, &st);
    gr_exec_free(e);
    return st;
}

/* Instructions of graph g's program for outs (n of them). */
static int instructions_of(const gr_graph *g, const int *outs, int n) { return (int)stats_of(g, outs, n).instructions; }

/* The gradient of sum(max_pool2d(relu(c)) * r) in c is relu_backward(
 * max_pool2d_backward(relu(c), r), c): one instruction, the pooling's
 * backward keeping a gradient only where relu(c) is above 0 or NaN. It
 * must equal the two-step result (forced by making the pooling's backward
 * an output too) bit for bit: with zeros, negative windows, ties and NaN
 * in c, for the 2x2 kernel and for the general one (3x3, stride 2,
 * padding 1), in float32 and float64. */
static void test_relu_pool_backward_fusion(void **state) {
    (void)state;
    gr_error err;
    for (int dt = 0; dt < 2; dt++)
        for (int general = 0; general < 2; general++) {
            gr_graph *g = gr_graph_new(dt ? GR_F64 : GR_F32, NULL);
            gr_shape cs = tu_shape(4, 2, 3, 6, 6), rs = tu_shape(4, 2, 3, 3, 3); /* both pool 6x6 to 3x3 */
            int c = gr_graph_param(g, "c", &cs, &err), r = gr_graph_param(g, "r", &rs, &err);
            TU_OK(gr_graph_finalize(g, &err), err);
            gr_attrs pool = {0};
            int64_t k = general ? 3 : 2, two = 2, one = 1;
            TU_OK(gr_attrs_set_ints(&pool, GR_ATTR_KERNEL_SIZE, &k, 1, &err), err);
            if (general) {
                TU_OK(gr_attrs_set_ints(&pool, GR_ATTR_STRIDE, &two, 1, &err), err);
                TU_OK(gr_attrs_set_ints(&pool, GR_ATTR_PADDING, &one, 1, &err), err);
            }
            int h = tu_op1(g, "relu", c);
            int pooled = tu_apply(g, "max_pool2d", &h, 1, &pool);
            int loss = tu_op1(g, "sum", tu_op2(g, "mul", pooled, r));
            int dc;
            TU_OK(gr_grad(g, loss, &c, 1, &dc, &err), err);
            assert_string_equal(gr_op_name(gr_node_op(g, dc)), "relu_backward");
            int v = gr_node_operand(g, dc, 0);
            assert_string_equal(gr_op_name(gr_node_op(g, v)), "max_pool2d_backward");
            double cv[216], rv[54];
            tu_seed(21 + (uint64_t)(2 * dt + general));
            for (int i = 0; i < 216; i++) {
                int kind = (int)(tu_rand64() % 8);
                cv[i] = kind == 0 ? 0 : kind == 1 ? -0.5 : kind == 2 ? 0.25 : tu_uniform(-1, 1); /* ties, zeros */
            }
            for (int i = 0; i < 36; i++) cv[i] = -fabs(cv[i]); /* a plane of windows at or below 0 */
            cv[100] = NAN;
            cv[151] = NAN;
            for (int i = 0; i < 54; i++) rv[i] = tu_uniform(-1, 1);
            tu_bind bd[2] = {{c, cv}, {r, rv}};
            double *fused = tu_eval1(g, bd, 2, dc);
            int both[2] = {dc, v};
            double *plain = tu_eval(g, bd, 2, both, 2);
            int nonzero = 0;
            for (int i = 0; i < 216; i++) {
                assert_true(fused[i] == plain[i] || (isnan(fused[i]) && isnan(plain[i])));
                nonzero += fused[i] != 0;
            }
            assert_true(nonzero > 10);
            for (int i = 0; i < 36; i++) assert_true(fused[i] == 0); /* relu(c) is 0 there: no gradient */
            assert_int_equal(instructions_of(g, &dc, 1) + 1, instructions_of(g, both, 2)); /* it really fused */
            free(fused);
            free(plain);
            gr_graph_free(g);
        }
}

/* relu(conv(x, w) + b): the convolution's kernel writes relu of its
 * result and relu's instruction becomes a view of it (fuse_relu), when
 * nothing else reads conv + b but relu_backward. The loss sum(relu(.) * q)
 * and its gradients in x, w and b must equal, bit for bit, the program
 * where conv + b is an output too (which keeps relu a pass of its own),
 * on values with zeros, negatives and ties: for each path of the
 * convolution (float32 by Winograd, 16 -> 8 channels; float32 direct, one
 * input channel; float64 by im2col; float32 conv1d by im2col), with a
 * max pooling after relu (whose backward takes relu_backward in) and
 * without. The fused program needs one buffer fewer. */
static void test_relu_folds_into_convolution(void **state) {
    (void)state;
    gr_error err;
    struct {
        int f64, conv1d, cin, cout, pool;
    } cases[] = {{0, 0, 16, 8, 0}, {0, 0, 16, 8, 1}, {0, 0, 1, 4, 0}, {0, 0, 1, 4, 1}, {1, 0, 3, 4, 0}, {1, 0, 3, 4, 1},
                 {0, 1, 3, 4, 0}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int f64 = cases[ci].f64, conv1d = cases[ci].conv1d, cin = cases[ci].cin, cout = cases[ci].cout;
        int pool = cases[ci].pool;
        gr_graph *g = gr_graph_new(f64 ? GR_F64 : GR_F32, NULL);
        enum { N = 2, H = 8, W = 8 };
        gr_shape xs = conv1d ? tu_shape(3, N, cin, W) : tu_shape(4, N, cin, H, W);
        gr_shape ws = conv1d ? tu_shape(3, cout, cin, 3) : tu_shape(4, cout, cin, 3, 3);
        gr_shape bs = conv1d ? tu_shape(2, cout, 1) : tu_shape(3, cout, 1, 1);
        int64_t qn = (int64_t)N * cout * (conv1d ? W : pool ? H * W / 4 : H * W);
        gr_shape qs = conv1d ? tu_shape(3, N, cout, W) : pool ? tu_shape(4, N, cout, H / 2, W / 2)
                                                              : tu_shape(4, N, cout, H, W);
        int x = gr_graph_input(g, "x", &xs, &err), w = gr_graph_param(g, "w", &ws, &err);
        int b = gr_graph_param(g, "b", &bs, &err), q = gr_graph_input(g, "q", &qs, &err);
        TU_OK(gr_graph_finalize(g, &err), err);
        gr_attrs pad = {0}, pk = {0};
        int64_t one = 1, two = 2;
        TU_OK(gr_attrs_set_ints(&pad, GR_ATTR_PADDING, &one, 1, &err), err);
        TU_OK(gr_attrs_set_ints(&pk, GR_ATTR_KERNEL_SIZE, &two, 1, &err), err);
        int xw[2] = {x, w};
        int h = tu_op2(g, "add", tu_apply(g, conv1d ? "conv1d" : "conv2d", xw, 2, &pad), b);
        int r = tu_op1(g, "relu", h);
        if (pool) r = tu_apply(g, "max_pool2d", &r, 1, &pk);
        int loss = tu_op1(g, "sum", tu_op2(g, "mul", r, q));
        int wrt[3] = {x, w, b}, d[3];
        TU_OK(gr_grad(g, loss, wrt, 3, d, &err), err);
        int64_t xn = (int64_t)N * cin * (conv1d ? W : H * W), wn = (int64_t)cout * cin * (conv1d ? 3 : 9);
        double *xv = malloc((size_t)xn * sizeof *xv), *wv = malloc((size_t)wn * sizeof *wv);
        double bv[16], *qv = malloc((size_t)qn * sizeof *qv);
        tu_seed(40 + ci);
        for (int64_t i = 0; i < xn; i++) {
            int kind = (int)(tu_rand64() % 6);
            xv[i] = kind == 0 ? 0 : kind == 1 ? 0.5 : tu_uniform(-1, 1);
        }
        for (int64_t i = 0; i < wn; i++) wv[i] = tu_uniform(-1, 1);
        for (int i = 0; i < cout; i++) bv[i] = i % 3 == 0 ? 0 : tu_uniform(-0.5, 0.5);
        for (int64_t i = 0; i < qn; i++) qv[i] = tu_uniform(-1, 1);
        tu_bind bd[4] = {{x, xv}, {w, wv}, {b, bv}, {q, qv}};
        int outs[5] = {loss, d[0], d[1], d[2], h};
        double *fused = tu_eval(g, bd, 4, outs, 4), *plain = tu_eval(g, bd, 4, outs, 5);
        for (int64_t i = 0; i < 1 + xn + wn + cout; i++)
            if (memcmp(&fused[i], &plain[i], sizeof fused[i]) != 0)
                fail_msg("case %zu: element %lld: %.17g fused, %.17g apart", ci, (long long)i, fused[i], plain[i]);
        int64_t h_bytes = (int64_t)N * cout * (conv1d ? W : H * W) * (f64 ? 8 : 4);
        int64_t folded = stats_of(g, outs, 4).unplanned_bytes, apart = stats_of(g, outs, 5).unplanned_bytes;
        if (folded > apart - h_bytes)
            fail_msg("case %zu: relu did not fold (%lld bytes unplanned, %lld with conv + b an output)", ci,
                     (long long)folded, (long long)apart);
        free(fused), free(plain), free(xv), free(wv), free(qv);
        gr_graph_free(g);
    }
}

/* cross_entropy's kernel writes the softmax its gradient reads
 * (cross_entropy_backward of softmax(x)) when the loss itself is computed:
 * that program has as many instructions as the one for the gradient alone,
 * where the softmax runs by itself, and gives the same bits. Rows: ordinary,
 * an ignored label, an inf, a NaN, all -inf, large values; float32 and
 * float64. The gradient is (p - one_hot) / counted rows by the softmax
 * op's p. */
static void test_cross_entropy_writes_its_softmax(void **state) {
    (void)state;
    gr_error err;
    enum { R = 6, C = 5 };
    for (int dt = 0; dt < 2; dt++) {
        gr_graph *g = gr_graph_new(dt ? GR_F64 : GR_F32, NULL);
        gr_shape xs = tu_shape(2, R, C), ls = tu_shape(1, R);
        int x = gr_graph_param(g, "x", &xs, &err), y = gr_graph_input(g, "y", &ls, &err);
        TU_OK(gr_graph_finalize(g, &err), err);
        int loss = tu_op2(g, "cross_entropy", x, y), dx;
        TU_OK(gr_grad(g, loss, &x, 1, &dx, &err), err);
        int p = tu_op1(g, "softmax", x);
        double xv[R * C], yv[R] = {2, -100, 0, 4, 1, 3};
        tu_seed(31 + (uint64_t)dt);
        for (int i = 0; i < R * C; i++) xv[i] = tu_uniform(-3, 3);
        xv[2 * C + 1] = INFINITY;
        xv[3 * C + 2] = NAN;
        for (int j = 0; j < C; j++) xv[4 * C + j] = -INFINITY, xv[5 * C + j] = 80 + j;
        tu_bind bd[2] = {{x, xv}, {y, yv}};
        int both[2] = {loss, dx};
        double *fused = tu_eval(g, bd, 2, both, 2), *alone = tu_eval1(g, bd, 2, dx);
        double *loss_alone = tu_eval1(g, bd, 2, loss), *pv = tu_eval1(g, bd, 2, p);
        /* the softmax is no instruction of its own */
        assert_int_equal(instructions_of(g, both, 2), instructions_of(g, &dx, 1));
        assert_true(fused[0] == loss_alone[0] || (isnan(fused[0]) && isnan(loss_alone[0])));
        double tol = dt ? 1e-15 : 1e-7;
        for (int i = 0; i < R * C; i++) {
            double got = fused[1 + i], want = (pv[i] - (i % C == yv[i / C])) / 5; /* 5 counted rows */
            if (yv[i / C] < 0) want = pv[i] * 0;
            assert_true(got == alone[i] || (isnan(got) && isnan(alone[i])));
            if (isnan(want)) assert_true(isnan(got));
            else assert_true(fabs(got - want) <= tol);
        }
        for (int j = 0; j < C; j++) assert_true(isnan(fused[1 + 2 * C + j]) && isnan(fused[1 + 4 * C + j]));
        assert_true(fabs(fused[1 + 5 * C + 3] - (pv[5 * C + 3] - 1) / 5) <= tol); /* large logits stay finite */
        free(fused);
        free(alone);
        free(loss_alone);
        free(pv);
        gr_graph_free(g);
    }
}

/* layer_norm and rms_norm with a weight write the xhat their weight's
 * gradient reads (the normaliser of x without weight): a program for y
 * and dweight has as many instructions as one for dweight alone (where
 * xhat runs by itself), with the same bits. float32 (the vectorized rows)
 * and float64, one and two normalised dims, a constant row. */
static void test_norm_writes_its_xhat(void **state) {
    (void)state;
    gr_error err;
    for (int dt = 0; dt < 2; dt++)
        for (int rms = 0; rms < 2; rms++)
            for (int dims = 1; dims <= 2; dims++) {
                gr_graph *g = gr_graph_new(dt ? GR_F64 : GR_F32, NULL);
                gr_shape xs = tu_shape(3, 4, 3, 5), ws = dims == 1 ? tu_shape(1, 5) : tu_shape(2, 3, 5);
                int x = gr_graph_input(g, "x", &xs, &err), w = gr_graph_param(g, "w", &ws, &err);
                int r = gr_graph_input(g, "r", &xs, &err);
                TU_OK(gr_graph_finalize(g, &err), err);
                gr_attrs at = {0};
                int64_t nshape[2] = {3, 5};
                if (dims == 2) TU_OK(gr_attrs_set_ints(&at, GR_ATTR_NORMALIZED_SHAPE, nshape, 2, &err), err);
                int xw[2] = {x, w};
                int y = tu_apply(g, rms ? "rms_norm" : "layer_norm", xw, 2, &at);
                int loss = tu_op1(g, "sum", tu_op2(g, "mul", y, r)), dw;
                TU_OK(gr_grad(g, loss, &w, 1, &dw, &err), err);
                double xv[60], wv[15], rv[60];
                tu_seed(41 + (uint64_t)(4 * dt + 2 * rms + dims));
                for (int i = 0; i < 60; i++) xv[i] = tu_uniform(-2, 2), rv[i] = tu_uniform(-1, 1);
                for (int i = 0; i < 15; i++) wv[i] = tu_uniform(-1, 1);
                for (int i = 0; i < 15; i++) xv[i] = 0.75; /* a constant row (the first 3x5 block) */
                tu_bind bd[3] = {{x, xv}, {w, wv}, {r, rv}};
                int both[2] = {y, dw};
                double *fused = tu_eval(g, bd, 3, both, 2), *alone = tu_eval1(g, bd, 3, dw);
                /* xhat is no instruction of its own */
                assert_int_equal(instructions_of(g, both, 2), instructions_of(g, &dw, 1));
                int nonzero = 0, nw = dims == 1 ? 5 : 15;
                for (int i = 0; i < nw; i++) {
                    assert_true(fused[60 + i] == alone[i]);
                    nonzero += alone[i] != 0;
                }
                assert_true(nonzero == nw);
                free(fused);
                free(alone);
                gr_graph_free(g);
            }
}

/* The gradients of step-1 slices along one axis sum without adds where
 * their ranges meet: q, k, v sliced from one tensor give dx = concat(dq,
 * dk, dv) (autodiff's add_merge); two slices meeting in the middle give
 * their concat put into zeros; slices apart keep the add. Each slice of x
 * is weighed by the same slice of r, so dx is r where a slice covers x and
 * 0 elsewhere (a -0 in r stays -0), in float32 and float64. */
static void test_slice_gradients_join(void **state) {
    (void)state;
    gr_error err;
    enum { X = 2 * 3 * 6 };
    static const int64_t starts[3][3] = {{4, 2, 0}, {1, 3, -1}, {0, 4, -1}}; /* -1: no third slice */
    static const char *const want_op[3] = {"concat", "slice_scatter", "add"};
    for (int dt = 0; dt < 2; dt++)
        for (int c = 0; c < 3; c++) {
            gr_graph *g = gr_graph_new(dt ? GR_F64 : GR_F32, NULL);
            gr_shape xs = tu_shape(3, 2, 3, 6);
            int x = gr_graph_param(g, "x", &xs, &err), r = gr_graph_input(g, "r", &xs, &err);
            TU_OK(gr_graph_finalize(g, &err), err);
            int loss = -1, covered[6] = {0};
            for (int i = 0; i < 3 && starts[c][i] >= 0; i++) {
                int64_t start = starts[c][i], end = start + 2, axis = -1;
                covered[start] = covered[start + 1] = 1;
                gr_attrs at = {0};
                TU_OK(gr_attrs_set_ints(&at, GR_ATTR_STARTS, &start, 1, &err), err);
                TU_OK(gr_attrs_set_ints(&at, GR_ATTR_ENDS, &end, 1, &err), err);
                TU_OK(gr_attrs_set_ints(&at, GR_ATTR_AXES, &axis, 1, &err), err);
                int xsl = tu_apply(g, "slice", &x, 1, &at), rsl = tu_apply(g, "slice", &r, 1, &at);
                int part = tu_op1(g, "sum", tu_op2(g, "mul", xsl, rsl));
                loss = loss < 0 ? part : tu_op2(g, "add", loss, part);
            }
            int dx;
            TU_OK(gr_grad(g, loss, &x, 1, &dx, &err), err);
            assert_string_equal(gr_op_name(gr_node_op(g, dx)), want_op[c]);
            double xv[X], rv[X];
            tu_seed(51 + (uint64_t)(3 * dt + c));
            for (int i = 0; i < X; i++) xv[i] = tu_uniform(-1, 1), rv[i] = tu_uniform(-1, 1);
            rv[7] = -0.0;
            tu_bind bd[2] = {{x, xv}, {r, rv}};
            double *got = tu_eval1(g, bd, 2, dx);
            for (int i = 0; i < X; i++) {
                double want = !covered[i % 6] ? 0 : dt ? rv[i] : (double)(float)rv[i];
                assert_true(got[i] == want);
                if (c < 2 && covered[i % 6]) assert_true(signbit(got[i]) == signbit(want));
            }
            free(got);
            gr_graph_free(g);
        }
}

/* float32 gelu writes the gelu_derivative its gradient reads, erf taken
 * once: a program for y and dx has as many instructions as one for dx alone
 * (where the derivative runs by itself), and both give the same bits at
 * ordinary and special points (0, -0, +-inf, NaN, large); float64 and the
 * tanh form keep two instructions. */
static void test_gelu_writes_its_derivative(void **state) {
    (void)state;
    gr_error err;
    enum { N = 203 };
    for (int dt = 0; dt < 2; dt++)
        for (int tanh_form = 0; tanh_form < 2; tanh_form++) {
            gr_graph *g = gr_graph_new(dt ? GR_F64 : GR_F32, NULL);
            gr_shape xs = tu_shape(1, N);
            int x = gr_graph_param(g, "x", &xs, &err), r = gr_graph_input(g, "r", &xs, &err);
            TU_OK(gr_graph_finalize(g, &err), err);
            gr_attrs at = {0};
            if (tanh_form) {
                at.set = GR_ATTR_BIT(GR_ATTR_APPROXIMATE);
                strcpy(at.approximate, "tanh");
            }
            int y = tu_apply(g, "gelu", &x, 1, &at), dx;
            int loss = tu_op1(g, "sum", tu_op2(g, "mul", y, r));
            TU_OK(gr_grad(g, loss, &x, 1, &dx, &err), err);
            double xv[N], rv[N];
            tu_seed(61 + (uint64_t)(2 * dt + tanh_form));
            for (int i = 0; i < N; i++) xv[i] = tu_uniform(-6, 6), rv[i] = tu_uniform(-1, 1);
            xv[0] = 0, xv[1] = -0.0, xv[2] = INFINITY, xv[3] = -INFINITY, xv[4] = NAN, xv[5] = 1e30, xv[6] = -1e30;
            xv[100] = -3.92, xv[101] = 3.92, xv[102] = 1e-30;
            tu_bind bd[2] = {{x, xv}, {r, rv}};
            int both[2] = {y, dx};
            double *fused = tu_eval(g, bd, 2, both, 2), *alone = tu_eval1(g, bd, 2, dx);
            /* fused in float32 'none' */
            assert_int_equal(instructions_of(g, both, 2), instructions_of(g, &dx, 1) + (dt || tanh_form));
            for (int i = 0; i < N; i++)
                assert_true(fused[N + i] == alone[i] || (isnan(fused[N + i]) && isnan(alone[i])));
            assert_true(isnan(alone[2]) && isnan(alone[3]) && isnan(alone[4])); /* PyTorch's NaN at +-inf */
            free(fused);
            free(alone);
            gr_graph_free(g);
        }
}

static int reshape_to(gr_graph *g, int x, int64_t d0, int64_t d1) {
    const int64_t dims[2] = {d0, d1};
    gr_attrs at = {0};
    gr_error err;
    TU_OK(gr_attrs_set_ints(&at, GR_ATTR_SHAPE, dims, d1 ? 2 : 1, &err), err);
    return tu_apply(g, "reshape", &x, 1, &at);
}

/* Views (reshape, expand_dims, stop_gradient...) share their operand's
 * buffer: a chain of them allocates nothing, and the operand's block stays
 * until the view's last reader. Here a = sin(x) is read directly only by
 * the reshape; were its block freed there, b = cos(x) would take it and
 * the sum would read cos twice. A view of the bound input and a view that
 * is an output (which gets a buffer of its own) are checked too. */
static void test_views_share_buffers(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_shape s = tu_shape(1, 1000);
    int x = gr_graph_input(g, "x", &s, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    int a = tu_op1(g, "sin", x);
    int r = tu_op1(g, "stop_gradient", reshape_to(g, a, 10, 100));
    int b = tu_op1(g, "cos", reshape_to(g, x, 1000, 0)); /* a view of the bound input */
    int y = tu_op2(g, "add", reshape_to(g, r, 1000, 0), b);
    int view_out = reshape_to(g, b, 100, 10);
    int outs[2] = {y, view_out};
    gr_exec *e = gr_compile(g, outs, 2, &err);
    assert_non_null(e);
    gr_exec_stats st;
    gr_exec_get_stats(e, &st);
    assert_int_equal(st.unplanned_bytes, 4 * 8000); /* a, b, y and the output view; no other view */
    gr_exec_free(e);

    double xv[1000];
    for (int i = 0; i < 1000; i++) xv[i] = i * 0.01 - 5;
    tu_bind bd[1] = {{x, xv}};
    double *out = tu_eval(g, bd, 1, outs, 2);
    for (int i = 0; i < 1000; i++) {
        assert_true(out[i] == sin(xv[i]) + cos(xv[i]));
        assert_true(out[1000 + i] == cos(xv[i]));
    }
    free(out);
    gr_graph_free(g);
}

/* An sdpa and an attention_probs node on the same q and k (what sdpa's
 * derivative reads) run as one instruction: the sdpa kernel writes the
 * probabilities too. They must equal those of a program computing them
 * alone, also when v has no features (nothing to weigh, the probabilities
 * still wanted), and a probs node on another k keeps its own instruction. */
static void test_attention_probs_shared(void **state) {
    (void)state;
    gr_error err;
    for (int ev = 0; ev <= 3; ev += 3) {
        gr_graph *g = gr_graph_new(GR_F32, NULL);
        gr_shape sq = tu_shape(3, 2, 4, 5), sv = tu_shape(3, 2, 4, ev);
        int q = gr_graph_input(g, "q", &sq, &err), k = gr_graph_input(g, "k", &sq, &err);
        int k2 = gr_graph_input(g, "k2", &sq, &err), v = gr_graph_input(g, "v", &sv, &err);
        TU_OK(gr_graph_finalize(g, &err), err);
        gr_attrs causal = {0};
        gr_attrs_set_int(&causal, GR_ATTR_IS_CAUSAL, 1);
        int qkv[3] = {q, k, v}, qk[2] = {q, k}, qk2[2] = {q, k2};
        int y = tu_apply(g, "scaled_dot_product_attention", qkv, 3, &causal);
        int p = tu_apply(g, "attention_probs", qk, 2, &causal);
        int other = tu_apply(g, "attention_probs", qk2, 2, &causal);
        int outs[3] = {y, p, other};
        gr_exec *e = gr_compile(g, outs, 3, &err);
        assert_non_null(e);
        gr_exec_stats st;
        gr_exec_get_stats(e, &st);
        assert_int_equal(st.instructions, 2); /* sdpa with p, and the other probs */
        gr_exec_free(e);
        double qv[40], kv[40], k2v[40], vv[24];
        tu_seed(11 + (uint64_t)ev);
        for (int i = 0; i < 40; i++) qv[i] = tu_uniform(-1, 1), kv[i] = tu_uniform(-1, 1), k2v[i] = tu_uniform(-1, 1);
        for (int i = 0; i < 24; i++) vv[i] = tu_uniform(-1, 1);
        tu_bind bd[4] = {{q, qv}, {k, kv}, {k2, k2v}, {v, vv}};
        double *both = tu_eval(g, bd, 4, outs, 3);
        double *alone = tu_eval1(g, bd, 4, p);
        double *alone2 = tu_eval1(g, bd, 4, other);
        int64_t ny = gr_node_numel(g, y);
        for (int i = 0; i < 32; i++) {
            assert_true(both[ny + i] == alone[i]);
            assert_true(both[ny + 32 + i] == alone2[i]);
        }
        assert_true(both[ny + 1] == 0 && both[ny] == 1); /* causal: row 0 sees key 0 alone */
        free(both);
        free(alone);
        free(alone2);
        gr_graph_free(g);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_reuses_buffers),  cmocka_unit_test(test_plan_on_gradient_graph),
        cmocka_unit_test(test_rerun_with_new_values), cmocka_unit_test(test_label_errors_at_run_time),
        cmocka_unit_test(test_cancel_and_plan_limit), cmocka_unit_test(test_zero_size),
        cmocka_unit_test(test_nan_propagates),
        cmocka_unit_test(test_matmul_bias_fusion),   cmocka_unit_test(test_relu_pool_backward_fusion),
        cmocka_unit_test(test_relu_folds_into_convolution),   cmocka_unit_test(test_views_share_buffers),
        cmocka_unit_test(test_attention_probs_shared), cmocka_unit_test(test_cross_entropy_writes_its_softmax),
        cmocka_unit_test(test_norm_writes_its_xhat), cmocka_unit_test(test_slice_gradients_join),
        cmocka_unit_test(test_gelu_writes_its_derivative),
    };
    return cmocka_run_group_tests_name("exec", tests, NULL, NULL);
}
