/* test_optim.c -- SGD and Adam/AdamW against PyTorch 1.13's own results
 * (torch.optim, float64, three steps with the gradients below, printed by
 * a reference script and copied here), their argument checks, and the
 * probes that tell whether an update would leave a non-finite param. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double p0[3] = {0.5, -1.25, 2.0};
static const double grads[3][3] = {{0.1, -0.2, 0.3}, {0.4, 0.05, -0.6}, {-0.3, 0.2, 0.1}};

typedef struct optim_case {
    const char *name;
    int adam;          /* 0: SGD */
    gr_sgd sgd;
    gr_adam adam_cfg;
    double want[3];    /* PyTorch's parameters after three steps */
} optim_case;

static const optim_case cases[] = {
    {.name = "sgd", .sgd = {.lr = 0.1}, .want = {0.48000000000000004, -1.255, 2.02}},
    {.name = "sgd_mom_wd", .sgd = {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01},
     .want = {0.42417538949999994, -1.2183644787499999, 2.011543568}},
    {.name = "sgd_nesterov", .sgd = {.lr = 0.1, .momentum = 0.9, .nesterov = 1},
     .want = {0.41420999999999997, -1.2327700000000001, 2.04043}},
    {.name = "adam", .adam = 1, .adam_cfg = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
     .want = {0.47938915337896526, -1.2371522149176535, 1.9955176275124389}},
    {.name = "adam_l2", .adam = 1, .adam_cfg = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1},
     .want = {0.47755785114206317, -1.227084028230267, 1.9863302871029778}},
    {.name = "adamw", .adam = 1, .adam_cfg = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1, .decoupled = 1},
     .want = {0.47791948664156875, -1.233430648348044, 1.9895399544765793}},
};

static void run_case(const optim_case *c, gr_dtype dt, double tol) {
    gr_error err;
    double p[3], s1[3] = {0}, s2[3] = {0};
    float pf[3], gf[3], s1f[3] = {0}, s2f[3] = {0};
    memcpy(p, p0, sizeof p);
    for (int i = 0; i < 3; i++) pf[i] = (float)p0[i];
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < 3; i++) gf[i] = (float)grads[step][i];
        void *pp = dt == GR_F32 ? (void *)pf : (void *)p;
        const void *gp = dt == GR_F32 ? (const void *)gf : (const void *)grads[step];
        void *a = dt == GR_F32 ? (void *)s1f : (void *)s1, *b = dt == GR_F32 ? (void *)s2f : (void *)s2;
        if (c->adam) TU_OK(gr_adam_update(dt, 3, pp, gp, a, b, step + 1, &c->adam_cfg, &err), err);
        else TU_OK(gr_sgd_update(dt, 3, pp, gp, a, &c->sgd, &err), err);
    }
    for (int i = 0; i < 3; i++) tu_close(dt == GR_F32 ? pf[i] : p[i], c->want[i], tol, tol, c->name);
}

static void test_against_pytorch(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        run_case(&cases[i], GR_F64, 1e-15);
        run_case(&cases[i], GR_F32, 2e-6);
    }
}

static void test_checks(void **state) {
    (void)state;
    gr_error err;
    gr_sgd s = gr_sgd_default();
    s.lr = -1;
    assert_int_equal(gr_sgd_check(&s, &err), GR_E_ARG);
    assert_string_equal(err.attr, "lr");
    s = gr_sgd_default();
    s.momentum = 1;
    assert_int_equal(gr_sgd_check(&s, &err), GR_E_ARG);
    assert_string_equal(err.attr, "momentum");
    s = gr_sgd_default();
    s.nesterov = 1;
    assert_int_equal(gr_sgd_check(&s, &err), GR_E_ARG);
    assert_string_equal(err.attr, "nesterov");
    s = gr_sgd_default();
    s.lr = NAN;
    assert_int_equal(gr_sgd_check(&s, &err), GR_E_ARG);
    s = gr_sgd_default();
    s.momentum = 0.5;
    double p = 1, g = 1;
    assert_int_equal(gr_sgd_update(GR_F64, 1, &p, &g, NULL, &s, &err), GR_E_ARG); /* no velocity */
    assert_true(p == 1);                                                          /* untouched */

    gr_adam a = gr_adam_default();
    a.eps = 0;
    assert_int_equal(gr_adam_check(&a, &err), GR_E_ARG);
    assert_string_equal(err.attr, "eps");
    a = gr_adam_default();
    a.beta2 = 1;
    assert_int_equal(gr_adam_check(&a, &err), GR_E_ARG);
    assert_string_equal(err.attr, "beta2");
    a = gr_adam_default();
    double m = 0, v = 0;
    assert_int_equal(gr_adam_update(GR_F64, 1, &p, &g, &m, &v, 0, &a, &err), GR_E_ARG); /* step 0 */
}

/* N elements: long enough for the vector loops (AVX2: 8 floats), with a
 * tail; element i holds case element i % 3. */
#define N 37

/* One optimizer step of case c on n elements of dtype dt (arrays of that
 * dtype). */
static gr_status step_case(const optim_case *c, gr_dtype dt, int64_t n, void *p, const void *g, void *a, void *b,
                           int step, gr_error *err) {
    return c->adam ? gr_adam_update(dt, n, p, g, a, b, step, &c->adam_cfg, err)
                   : gr_sgd_update(dt, n, p, g, c->sgd.momentum > 0 ? a : NULL, &c->sgd, err);
}

static gr_status probe_case(const optim_case *c, gr_dtype dt, int64_t n, const void *p, const void *g,
                            const void *a, const void *b, int step, gr_update_probe *out, gr_error *err) {
    return c->adam ? gr_adam_probe(dt, n, p, g, a, b, step, &c->adam_cfg, out, err)
                   : gr_sgd_probe(dt, n, p, g, c->sgd.momentum > 0 ? a : NULL, &c->sgd, out, err);
}

/* The vector loops give the scalar ones' bits (no contraction, IEEE sqrt
 * and division), and a probe before each step finds it finite and writes
 * nothing. */
static void test_long_rows_and_probes(void **state) {
    (void)state;
    gr_error err;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const optim_case *c = &cases[ci];
        double p[N], s1[N] = {0}, s2[N] = {0}, g[N];
        float pf[N], s1f[N] = {0}, s2f[N] = {0}, gf[N];
        for (int i = 0; i < N; i++) pf[i] = (float)(p[i] = p0[i % 3]);
        for (int step = 0; step < 3; step++) {
            for (int i = 0; i < N; i++) gf[i] = (float)(g[i] = grads[step][i % 3]);
            double before[N];
            memcpy(before, p, sizeof p);
            gr_update_probe pr = GR_PROBE_PARAM_NOT_FINITE;
            TU_OK(probe_case(c, GR_F64, N, p, g, s1, s2, step + 1, &pr, &err), err);
            assert_int_equal(pr, GR_PROBE_FINITE);
            assert_memory_equal(before, p, sizeof p);
            TU_OK(probe_case(c, GR_F32, N, pf, gf, s1f, s2f, step + 1, &pr, &err), err);
            assert_int_equal(pr, GR_PROBE_FINITE);
            TU_OK(step_case(c, GR_F64, N, p, g, s1, s2, step + 1, &err), err);
            TU_OK(step_case(c, GR_F32, N, pf, gf, s1f, s2f, step + 1, &err), err);
        }
        for (int i = 0; i < N; i++) {
            tu_close(p[i], c->want[i % 3], 1e-15, 1e-15, c->name);
            assert_true(p[i] == p[i % 3]);
            assert_true(pf[i] == pf[i % 3]);
        }
    }
}

/* A non-finite gradient element anywhere is named as the gradient, even
 * where the param also overflows; an update that overflows a param with a
 * finite gradient is named as the param, and the update then really
 * leaves that param infinite. */
static void test_probe_non_finite(void **state) {
    (void)state;
    gr_error err;
    gr_update_probe pr;
    float p[N], g[N], m[N] = {0}, v[N] = {0};
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const optim_case *c = &cases[ci];
        for (int at = 0; at < N; at += 11) {
            for (int i = 0; i < N; i++) p[i] = 1, g[i] = 0.5f;
            g[at] = (at & 1) ? NAN : -INFINITY;
            p[N - 1] = 3e38f;
            g[N - 1] = -3e38f;
            TU_OK(probe_case(c, GR_F32, N, p, g, m, v, 1, &pr, &err), err);
            assert_int_equal(pr, GR_PROBE_GRAD_NOT_FINITE);
        }
    }
    /* SGD, lr 1: 3e38 - (-3e38) overflows float32 at element 20 */
    const optim_case *sgd = &cases[0];
    gr_sgd one = sgd->sgd;
    one.lr = 1;
    for (int i = 0; i < N; i++) p[i] = 1, g[i] = 0.5f;
    p[20] = 3e38f;
    g[20] = -3e38f;
    TU_OK(gr_sgd_probe(GR_F32, N, p, g, NULL, &one, &pr, &err), err);
    assert_int_equal(pr, GR_PROBE_PARAM_NOT_FINITE);
    assert_true(p[20] == 3e38f);
    TU_OK(gr_sgd_update(GR_F32, N, p, g, NULL, &one, &err), err);
    assert_true(isinf(p[20]) && isfinite(p[19]));
    /* Adam, lr 1e38: a param at -3e38 steps past -FLT_MAX */
    gr_adam big = cases[3].adam_cfg;
    big.lr = 1e38;
    for (int i = 0; i < N; i++) p[i] = 1, g[i] = 0.5f;
    p[9] = -3e38f;
    TU_OK(gr_adam_probe(GR_F32, N, p, g, m, v, 1, &big, &pr, &err), err);
    assert_int_equal(pr, GR_PROBE_PARAM_NOT_FINITE);
    TU_OK(gr_adam_update(GR_F32, N, p, g, m, v, 1, &big, &err), err);
    assert_false(isfinite(p[9]));
    /* a probe checks its arguments as the update does */
    gr_sgd mom = gr_sgd_default();
    mom.momentum = 0.5;
    assert_int_equal(gr_sgd_probe(GR_F32, N, p, g, NULL, &mom, &pr, &err), GR_E_ARG);
    gr_adam a = gr_adam_default();
    assert_int_equal(gr_adam_probe(GR_F32, N, p, g, m, v, 0, &a, &pr, &err), GR_E_ARG);
}

/* A set's tensors, one loop split across two threads: sizes that put
 * part boundaries inside tensors (the parts are 32768 elements or more),
 * an empty one, and a short one. Element i of each holds case element
 * i % 3, so after three steps every element is PyTorch's. */
enum { SET_TENSORS = 5 };
static const int64_t set_n[SET_TENSORS] = {3, 0, 70001, 100000, 37};

static void test_sets_split_across_threads(void **state) {
    (void)state;
    gr_error err;
    tu_set_threads(2);
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const optim_case *c = &cases[ci];
        for (int f32 = 0; f32 < 2; f32++) {
            gr_dtype dt = f32 ? GR_F32 : GR_F64;
            size_t es = f32 ? sizeof(float) : sizeof(double);
            void *p[SET_TENSORS], *g[SET_TENSORS], *a[SET_TENSORS], *b[SET_TENSORS];
            for (int k = 0; k < SET_TENSORS; k++) {
                size_t bytes = (size_t)(set_n[k] ? set_n[k] : 1) * es;
                p[k] = malloc(bytes), g[k] = malloc(bytes), a[k] = calloc(1, bytes), b[k] = calloc(1, bytes);
                assert_true(p[k] && g[k] && a[k] && b[k]);
                for (int64_t i = 0; i < set_n[k]; i++) {
                    if (f32) ((float *)p[k])[i] = (float)p0[i % 3];
                    else ((double *)p[k])[i] = p0[i % 3];
                }
            }
            const gr_update_set set = {SET_TENSORS, set_n, p, (const void *const *)g, a, b};
            for (int step = 0; step < 3; step++) {
                for (int k = 0; k < SET_TENSORS; k++)
                    for (int64_t i = 0; i < set_n[k]; i++) {
                        if (f32) ((float *)g[k])[i] = (float)grads[step][i % 3];
                        else ((double *)g[k])[i] = grads[step][i % 3];
                    }
                gr_update_probe pr[SET_TENSORS];
                for (int k = 0; k < SET_TENSORS; k++) pr[k] = GR_PROBE_PARAM_NOT_FINITE;
                TU_OK(c->adam ? gr_adam_probe_set(dt, &set, step + 1, &c->adam_cfg, pr, &err)
                              : gr_sgd_probe_set(dt, &set, &c->sgd, pr, &err), err);
                for (int k = 0; k < SET_TENSORS; k++) assert_int_equal(pr[k], GR_PROBE_FINITE);
                TU_OK(c->adam ? gr_adam_update_set(dt, &set, step + 1, &c->adam_cfg, &err)
                              : gr_sgd_update_set(dt, &set, &c->sgd, &err), err);
            }
            for (int k = 0; k < SET_TENSORS; k++) {
                for (int64_t i = 0; i < set_n[k]; i++) {
                    double got = f32 ? ((float *)p[k])[i] : ((double *)p[k])[i];
                    if (!(fabs(got - c->want[i % 3]) <= (f32 ? 2e-6 : 1e-15) * (1 + fabs(c->want[i % 3]))))
                        fail_msg("%s %s: tensor %d element %lld is %.17g, want %.17g", c->name, f32 ? "f32" : "f64", k,
                                 (long long)i, got, c->want[i % 3]);
                }
                free(p[k]), free(g[k]), free(a[k]), free(b[k]);
            }
        }
    }
    tu_set_threads(1);
}

/* A set's probes name each tensor by itself, whichever thread's part
 * found it: a non-finite gradient near the end of a long tensor (in the
 * second thread's part), an overflowing param in another, both in a
 * third (the gradient named), and more tensors than the probes' flags
 * keep on the stack. */
static void test_set_probes(void **state) {
    (void)state;
    gr_error err;
    tu_set_threads(2);
    enum { T = 20, BIG = 200000 };
    int64_t n[T];
    float *p[T], *g[T];
    for (int k = 0; k < T; k++) {
        n[k] = k == 1 ? BIG : 10;
        p[k] = malloc((size_t)n[k] * sizeof(float)), g[k] = malloc((size_t)n[k] * sizeof(float));
        assert_true(p[k] && g[k]);
        for (int64_t i = 0; i < n[k]; i++) p[k][i] = 1, g[k][i] = 0.5f;
    }
    g[1][BIG - 5] = NAN;
    p[2][3] = 3e38f, g[2][3] = -3e38f; /* lr 1: 3e38 + 3e38 overflows */
    p[17][0] = 3e38f, g[17][0] = -3e38f;
    g[17][9] = INFINITY;
    gr_sgd one = gr_sgd_default();
    one.lr = 1;
    const gr_update_set set = {T, n, (void *const *)p, (const void *const *)g, NULL, NULL};
    gr_update_probe pr[T];
    TU_OK(gr_sgd_probe_set(GR_F32, &set, &one, pr, &err), err);
    for (int k = 0; k < T; k++)
        assert_int_equal(pr[k], k == 1 || k == 17 ? GR_PROBE_GRAD_NOT_FINITE : k == 2 ? GR_PROBE_PARAM_NOT_FINITE
                                                                                       : GR_PROBE_FINITE);
    assert_true(p[2][3] == 3e38f); /* a probe writes nothing */
    /* a set's state is checked tensor by tensor */
    gr_sgd mom = one;
    mom.momentum = 0.9;
    assert_int_equal(gr_sgd_update_set(GR_F32, &set, &mom, &err), GR_E_ARG);
    assert_true(p[0][0] == 1);
    for (int k = 0; k < T; k++) free(p[k]), free(g[k]);
    tu_set_threads(1);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_against_pytorch), cmocka_unit_test(test_checks),
                                       cmocka_unit_test(test_long_rows_and_probes),
                                       cmocka_unit_test(test_probe_non_finite),
                                       cmocka_unit_test(test_sets_split_across_threads),
                                       cmocka_unit_test(test_set_probes)};
    return cmocka_run_group_tests_name("optim", tests, NULL, NULL);
}
