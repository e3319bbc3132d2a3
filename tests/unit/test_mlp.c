/* test_mlp.c -- train the MLP of seed 003 (section 6.5.7): hidden ReLU
 * layers, softmax cross-entropy, and a weight-decay term lambda * sum(W^2)
 * in the loss itself, differentiated by libgrad and stepped with SGD.
 * The data are two interleaved spirals (not linearly separable); the loss
 * must fall below a stated threshold and training accuracy rise above
 * one, in float32 and float64. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 200, D = 2, H = 32, C = 2, STEPS = 1500 };
#define LAMBDA 1e-4
#define LOSS_THRESHOLD 0.05 /* the untrained loss is ln 2 = 0.693 */
#define ACC_THRESHOLD 0.95

/* Two spirals, N/2 points each, labels 0/1. */
static void spirals(double *x, double *y) {
    for (int i = 0; i < N; i++) {
        int cls = i % 2;
        double t = (double)(i / 2) / (N / 2) * 3.0 + 0.3;
        double sgn = cls ? -1 : 1;
        x[i * 2] = sgn * t * cos(2.2 * t) / 3.3 + tu_uniform(-0.02, 0.02);
        x[i * 2 + 1] = sgn * t * sin(2.2 * t) / 3.3 + tu_uniform(-0.02, 0.02);
        y[i] = cls;
    }
}

static void train(gr_dtype dt) {
    gr_error err;
    gr_graph *g = gr_graph_new(dt, NULL);
    gr_shape sx = tu_shape(2, N, D), sy = tu_shape(1, N);
    gr_shape s1 = tu_shape(2, D, H), sb1 = tu_shape(1, H), s2 = tu_shape(2, H, H), sb2 = tu_shape(1, H);
    gr_shape s3 = tu_shape(2, H, C), sb3 = tu_shape(1, C);
    int x = gr_graph_input(g, "x", &sx, &err), y = gr_graph_input(g, "y", &sy, &err);
    int p[6] = {gr_graph_param(g, "W1", &s1, &err), gr_graph_param(g, "b1", &sb1, &err),
                gr_graph_param(g, "W2", &s2, &err), gr_graph_param(g, "b2", &sb2, &err),
                gr_graph_param(g, "W3", &s3, &err), gr_graph_param(g, "b3", &sb3, &err)};
    TU_OK(gr_graph_finalize(g, &err), err);

    int h1 = tu_op1(g, "relu", tu_op2(g, "add", tu_op2(g, "matmul", x, p[0]), p[1]));
    int h2 = tu_op1(g, "relu", tu_op2(g, "add", tu_op2(g, "matmul", h1, p[2]), p[3]));
    int logits = tu_op2(g, "add", tu_op2(g, "matmul", h2, p[4]), p[5]);
    int ce = tu_op2(g, "cross_entropy", logits, y);
    double lam = LAMBDA;
    float lamf = (float)lam;
    int lambda = gr_graph_const(g, NULL, &(gr_shape){0}, dt == GR_F32 ? (void *)&lamf : (void *)&lam, &err);
    int omega = tu_op2(g, "add", tu_op2(g, "add", tu_op1(g, "sum", tu_op1(g, "square", p[0])),
                                        tu_op1(g, "sum", tu_op1(g, "square", p[2]))),
                       tu_op1(g, "sum", tu_op1(g, "square", p[4])));
    int loss = tu_op2(g, "add", ce, tu_op2(g, "mul", lambda, omega));
    int grads[6];
    TU_OK(gr_grad(g, loss, p, 6, grads, &err), err);
    int outs[8];
    outs[0] = loss;
    outs[1] = logits;
    memcpy(outs + 2, grads, sizeof grads);
    gr_exec *e = gr_compile(g, outs, 8, &err);
    assert_non_null(e);

    /* Data and He-style initial weights, converted to the dtype. */
    size_t esz = gr_dtype_size(dt);
    double xv[N * D], yv[N];
    tu_seed(42);
    spirals(xv, yv);
    void *xb = malloc(sizeof xv), *yb = malloc(sizeof yv), *pb[6], *vel[6];
    for (int i = 0; i < N * D; i++) dt == GR_F32 ? (void)(((float *)xb)[i] = (float)xv[i]) : (void)(((double *)xb)[i] = xv[i]);
    for (int i = 0; i < N; i++) dt == GR_F32 ? (void)(((float *)yb)[i] = (float)yv[i]) : (void)(((double *)yb)[i] = yv[i]);
    for (int k = 0; k < 6; k++) {
        int64_t n = gr_node_numel(g, p[k]);
        const gr_shape *ps = gr_node_shape(g, p[k]);
        double scale = ps->rank == 2 ? sqrt(2.0 / (double)ps->dims[0]) : 0;
        pb[k] = malloc((size_t)n * esz);
        vel[k] = calloc((size_t)n, esz);
        for (int64_t i = 0; i < n; i++) {
            double v = scale * tu_uniform(-1.7, 1.7);
            if (dt == GR_F32) ((float *)pb[k])[i] = (float)v;
            else ((double *)pb[k])[i] = v;
        }
        TU_OK(gr_exec_bind(e, p[k], pb[k], &err), err);
    }
    TU_OK(gr_exec_bind(e, x, xb, &err), err);
    TU_OK(gr_exec_bind(e, y, yb, &err), err);

    gr_sgd sgd = {.lr = 0.1, .momentum = 0.9};
    double first = 0, last = 0;
    for (int step = 0; step < STEPS; step++) {
        TU_OK(gr_exec_run(e, &err), err);
        const void *lv = gr_exec_value(e, loss);
        last = dt == GR_F32 ? *(const float *)lv : *(const double *)lv;
        if (step == 0) first = last;
        for (int k = 0; k < 6; k++)
            TU_OK(gr_sgd_update(dt, gr_node_numel(g, p[k]), pb[k], gr_exec_value(e, grads[k]), vel[k], &sgd, &err),
                  err);
    }
    /* Accuracy from the logits of the last run. */
    const void *lg = gr_exec_value(e, logits);
    int correct = 0;
    for (int i = 0; i < N; i++) {
        double a = dt == GR_F32 ? ((const float *)lg)[2 * i] : ((const double *)lg)[2 * i];
        double b = dt == GR_F32 ? ((const float *)lg)[2 * i + 1] : ((const double *)lg)[2 * i + 1];
        correct += (b > a) == (yv[i] == 1);
    }
    double acc = (double)correct / N;
    printf("# mlp %s: loss %.4f -> %.4f, accuracy %.3f after %d steps\n", gr_dtype_name(dt), first, last, acc, STEPS);
    assert_true(first > 0.5);
    if (!(last < LOSS_THRESHOLD)) fail_msg("loss %.4f did not fall below %.2f", last, LOSS_THRESHOLD);
    if (!(acc >= ACC_THRESHOLD)) fail_msg("accuracy %.3f below %.2f", acc, ACC_THRESHOLD);

    for (int k = 0; k < 6; k++) {
        free(pb[k]);
        free(vel[k]);
    }
    free(xb);
    free(yb);
    gr_exec_free(e);
    gr_graph_free(g);
}

static void test_mlp_f64(void **state) { (void)state; train(GR_F64); }
static void test_mlp_f32(void **state) { (void)state; train(GR_F32); }

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_mlp_f64), cmocka_unit_test(test_mlp_f32)};
    return cmocka_run_group_tests_name("mlp", tests, NULL, NULL);
}
