/* test_cancel.c -- cancellation that holds inside long work: a large
 * product runs in tiles (and gives the same values as one GEMM would, for
 * every transpose, with the fused bias and with the shared dim cut), and
 * long kernels (matmul, pow, sum, softmax) stop within milliseconds of the
 * flag; finalize, autodiff and compile stop at the graph's flag. Timing
 * checks are skipped under AddressSanitizer. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static gr_attrs transposes(int ta, int tb) {
    gr_attrs at = {0};
    at.set = GR_ATTR_BIT(GR_ATTR_TRANSPOSE_A) | GR_ATTR_BIT(GR_ATTR_TRANSPOSE_B);
    at.transpose_a = ta;
    at.transpose_b = tb;
    return at;
}

/* op(a) @ op(b) (+ bias) of 800 x 2500 by 2500 x 800: 3.2 GFLOP, past the
 * one-call limit, so it runs in tiles with the shared dim cut in two.
 * Sampled entries must match a plain double-precision sum. */
static void check_tiled_product(gr_dtype dt, int ta, int tb, int with_bias) {
    enum { M = 800, N = 800, K = 2500 };
    gr_error err;
    gr_graph *g = gr_graph_new(dt, NULL);
    gr_shape sa = ta ? tu_shape(2, K, M) : tu_shape(2, M, K), sb = tb ? tu_shape(2, N, K) : tu_shape(2, K, N);
    gr_shape sbias = tu_shape(1, N);
    int a = gr_graph_input(g, "a", &sa, &err), b = gr_graph_input(g, "b", &sb, &err);
    int bias = gr_graph_input(g, "bias", &sbias, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    gr_attrs at = transposes(ta, tb);
    int ops[2] = {a, b};
    int y = tu_apply(g, "matmul", ops, 2, &at);
    if (with_bias) y = tu_op2(g, "add", y, bias);
    double *av = malloc((size_t)M * K * sizeof *av), *bv = malloc((size_t)K * N * sizeof *bv), bias_v[N];
    tu_seed(7);
    for (int i = 0; i < M * K; i++) av[i] = tu_uniform(-1, 1);
    for (int i = 0; i < K * N; i++) bv[i] = tu_uniform(-1, 1);
    for (int i = 0; i < N; i++) bias_v[i] = tu_uniform(-1, 1);
    tu_bind binds[3] = {{a, av}, {b, bv}, {bias, bias_v}};
    double *out = tu_eval1(g, binds, 3, y);
    for (int s = 0; s < 300; s++) {
        int i = (int)(tu_rand64() % M), j = (int)(tu_rand64() % N);
        double want = with_bias ? bias_v[j] : 0;
        for (int k = 0; k < K; k++)
            want += (ta ? av[k * M + i] : av[i * K + k]) * (tb ? bv[j * K + k] : bv[k * N + j]);
        char what[96];
        snprintf(what, sizeof what, "%s ta=%d tb=%d bias=%d C[%d,%d]", gr_dtype_name(dt), ta, tb, with_bias, i, j);
        tu_close(out[i * N + j], want, dt == GR_F32 ? 2e-3 : 1e-9, dt == GR_F32 ? 1e-4 : 1e-12, what);
    }
    free(out);
    free(av);
    free(bv);
    gr_graph_free(g);
}

static void test_tiled_matmul_matches(void **state) {
    (void)state;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) check_tiled_product(GR_F32, ta, tb, 0);
    check_tiled_product(GR_F32, 0, 0, 1); /* fused bias: the first piece of the shared dim adds to it */
    check_tiled_product(GR_F32, 1, 1, 1);
    check_tiled_product(GR_F64, 0, 1, 1);
}

/* ---- a run cancelled from another thread ----------------------------- */

typedef struct raiser {
    volatile int *flag;
    int after_ms;
    double raised_at;
} raiser;

static void *raise_later(void *arg) {
    raiser *r = arg;
    struct timespec ts = {r->after_ms / 1000, (long)(r->after_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    r->raised_at = now_ms();
    *r->flag = 1;
    return NULL;
}

/* Run node out of g (input x bound to xv, y to yv when y >= 0) with the
 * flag raised after 30 ms: it must answer GR_E_CANCELLED, and within 150
 * ms of the flag (the whole run takes seconds). */
static void expect_prompt_cancel(gr_graph *g, int out, int x, void *xv, int y, void *yv, const char *what) {
    gr_error err;
    gr_exec *e = gr_compile(g, &out, 1, &err);
    assert_non_null(e);
    TU_OK(gr_exec_bind(e, x, xv, &err), err);
    if (y >= 0) TU_OK(gr_exec_bind(e, y, yv, &err), err);
    volatile int flag = 0;
    gr_exec_set_cancel(e, &flag);
    raiser r = {&flag, 30, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, raise_later, &r), 0);
    gr_status st = gr_exec_run(e, &err);
    double done = now_ms();
    pthread_join(th, NULL);
    double late = done - r.raised_at;
    printf("# %s: cancelled %.1f ms after the flag%s\n", what, late, UNDER_ASAN ? " (ASan: not timed)" : "");
    if (st != GR_E_CANCELLED) fail_msg("%s: status %s, want cancelled", what, gr_status_name(st));
    if (!UNDER_ASAN && late > 150) fail_msg("%s: stopped %.0f ms after the flag, want <= 150", what, late);
    gr_exec_free(e);
}

static void test_long_kernels_stop_at_the_flag(void **state) {
    (void)state;
    gr_error err;
    enum { MM = 4096 };
    /* matmul: 4096^3 in float32, about 1.5 s in one call */
    {
        gr_graph *g = gr_graph_new(GR_F32, NULL);
        gr_shape s = tu_shape(2, MM, MM);
        int a = gr_graph_input(g, "a", &s, &err), b = gr_graph_input(g, "b", &s, &err);
        TU_OK(gr_graph_finalize(g, &err), err);
        int y = tu_op2(g, "matmul", a, b);
        float *av = calloc((size_t)MM * MM, sizeof *av), *bv = calloc((size_t)MM * MM, sizeof *bv);
        expect_prompt_cancel(g, y, a, av, b, bv, "matmul 4096^3");
        free(av);
        free(bv);
        gr_graph_free(g);
    }
    /* pow, sum and softmax over 2^24 float64 elements (one row each) */
    const int64_t n = (int64_t)1 << 24;
    double *xv = malloc((size_t)n * sizeof *xv);
    for (int64_t i = 0; i < n; i++) xv[i] = 1.0 + (double)(i % 1000) * 1e-3;
    for (int kind = 0; kind < 3; kind++) {
        gr_graph *g = gr_graph_new(GR_F64, NULL);
        gr_shape s = tu_shape(2, (int64_t)1, n);
        int x = gr_graph_input(g, "x", &s, &err), y = gr_graph_input(g, "y", &s, &err);
        TU_OK(gr_graph_finalize(g, &err), err);
        int out = kind == 0 ? tu_op2(g, "pow", x, y) : kind == 1 ? tu_op1(g, "sum", x) : tu_op1(g, "softmax", x);
        /* sum is quick per element: make it several passes of the same row */
        if (kind == 1) {
            int acc = out;
            for (int r = 0; r < 40; r++) acc = tu_op2(g, "add", acc, tu_op1(g, "sum", x));
            out = acc;
        }
        const char *names[3] = {"pow 2^24", "sum 2^24 (x41)", "softmax 2^24"};
        expect_prompt_cancel(g, out, x, xv, kind == 0 ? y : -1, xv, names[kind]);
        gr_graph_free(g);
    }
    free(xv);
}

/* ---- graph transformations ------------------------------------------- */

static void test_transformations_stop_at_the_flag(void **state) {
    (void)state;
    gr_error err;
    volatile int flag = 1;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_shape s = tu_shape(0);
    gr_graph_input(g, "x", &s, &err);
    char name[32], prev[32] = "x";
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof name, "h%d", i);
        const char *in[1] = {prev};
        assert_true(gr_graph_node(g, name, gr_op_find("sin"), in, 1, NULL, &err) >= 0);
        memcpy(prev, name, sizeof prev);
    }
    gr_graph_set_cancel(g, &flag);
    assert_int_equal(gr_graph_finalize(g, &err), GR_E_CANCELLED);
    gr_graph_free(g);

    /* the same graph, finalized; then autodiff and compile at the flag */
    g = gr_graph_new(GR_F64, NULL);
    int x = gr_graph_input(g, "x", &s, &err), h = x;
    TU_OK(gr_graph_finalize(g, &err), err);
    for (int i = 0; i < 20000; i++) h = tu_op1(g, "sin", h);
    gr_graph_set_cancel(g, &flag);
    int grad = -1;
    assert_int_equal(gr_grad(g, h, &x, 1, &grad, &err), GR_E_CANCELLED);
    int seed = gr_graph_input(g, "t", &s, &err), tan = -1;
    assert_int_equal(gr_jvp(g, &x, &seed, 1, &h, 1, &tan, &err), GR_E_CANCELLED);
    assert_null(gr_compile(g, &h, 1, &err));
    assert_int_equal(err.code, GR_E_CANCELLED);
    /* lowered, everything works again */
    flag = 0;
    TU_OK(gr_grad(g, h, &x, 1, &grad, &err), err);
    gr_exec *e = gr_compile(g, &grad, 1, &err);
    assert_non_null(e);
    gr_exec_free(e);
    gr_graph_set_cancel(g, NULL);
    gr_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiled_matmul_matches),
        cmocka_unit_test(test_long_kernels_stop_at_the_flag),
        cmocka_unit_test(test_transformations_stop_at_the_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
