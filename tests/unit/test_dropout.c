/* test_dropout.c -- dropout's stateless mask (lib/ops/dropout.c).
 *
 * Contract checked, in float64 and float32:
 *   - each element is either 0 or x / (1 - p), and the kept fraction of a
 *     large tensor is 1 - p within 5 standard deviations, for several p;
 *   - the same seed gives the same mask in a fresh graph (no state between
 *     runs), distinct seeds give distinct masks, and the mask does not
 *     repeat along the tensor (two halves differ);
 *   - p = 0 and training=false are the identity; p = 1 gives x * 0;
 *   - the gradient of sum(dropout(x) * c) is c * mask / (1 - p): the VJP
 *     uses the forward's mask. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N 20000

static gr_attrs dropout_attrs(double p, int64_t seed) {
    gr_attrs at = {0};
    at.set = GR_ATTR_BIT(GR_ATTR_P) | GR_ATTR_BIT(GR_ATTR_SEED);
    at.p = p;
    at.seed = seed;
    return at;
}

/* dropout(ones[N]) in dtype dt: the mask times 1 / (1 - p). Caller frees. */
static double *mask_of(gr_dtype dt, const gr_attrs *at) {
    gr_error err;
    gr_graph *g = gr_graph_new(dt, NULL);
    assert_non_null(g);
    gr_shape s = tu_shape(1, (int64_t)N);
    int x = gr_graph_input(g, "x", &s, &err);
    assert_true(x >= 0);
    TU_OK(gr_graph_finalize(g, &err), err);
    int y = tu_apply(g, "dropout", &x, 1, at);
    double *ones = malloc(N * sizeof *ones);
    assert_non_null(ones);
    for (int i = 0; i < N; i++) ones[i] = 1;
    tu_bind b = {x, ones};
    double *out = tu_eval1(g, &b, 1, y);
    free(ones);
    gr_graph_free(g);
    return out;
}

static void test_kept_fraction_and_scale(void **state) {
    (void)state;
    static const double ps[] = {0.1, 0.5, 0.9};
    for (int d = 0; d < 2; d++)
        for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
            double p = ps[k];
            gr_attrs at = dropout_attrs(p, 11);
            double *m = mask_of(d ? GR_F32 : GR_F64, &at);
            double scale = d ? (double)(float)(1 / (1 - p)) : 1 / (1 - p);
            int kept = 0;
            for (int i = 0; i < N; i++) {
                if (m[i] != 0 && m[i] != scale) fail_msg("p %g: element %d is %.17g, not 0 or %.17g", p, i, m[i], scale);
                kept += m[i] != 0;
            }
            double want = N * (1 - p), sd = sqrt(N * p * (1 - p));
            if (fabs(kept - want) > 5 * sd) fail_msg("p %g: %d of %d kept, want %g +- %g", p, kept, N, want, 5 * sd);
            free(m);
        }
}

static void test_same_seed_same_mask(void **state) {
    (void)state;
    gr_attrs a = dropout_attrs(0.5, 42), b = dropout_attrs(0.5, 43);
    double *m1 = mask_of(GR_F64, &a), *m2 = mask_of(GR_F64, &a), *m3 = mask_of(GR_F64, &b);
    assert_memory_equal(m1, m2, N * sizeof *m1);
    int differ = 0, halves = 0;
    for (int i = 0; i < N; i++) differ += (m1[i] != 0) != (m3[i] != 0);
    for (int i = 0; i < N / 2; i++) halves += (m1[i] != 0) != (m1[i + N / 2] != 0);
    /* independent masks at p = 0.5 disagree on about half the elements */
    if (differ < N / 3) fail_msg("seeds 42 and 43 differ on %d of %d elements", differ, N);
    if (halves < N / 6) fail_msg("the mask's halves differ on %d of %d elements", halves, N / 2);
    free(m1);
    free(m2);
    free(m3);
}

static void test_identity_and_zero(void **state) {
    (void)state;
    gr_attrs p0 = dropout_attrs(0, 5), eval = dropout_attrs(0.7, 5), p1 = dropout_attrs(1, 5);
    eval.set |= GR_ATTR_BIT(GR_ATTR_TRAINING);
    eval.training = 0;
    double *a = mask_of(GR_F64, &p0), *b = mask_of(GR_F64, &eval), *c = mask_of(GR_F32, &p1);
    for (int i = 0; i < N; i++) {
        if (a[i] != 1 || b[i] != 1) fail_msg("element %d: p=0 gives %g, training=false %g; want 1", i, a[i], b[i]);
        if (c[i] != 0) fail_msg("element %d: p=1 gives %g; want 0", i, c[i]);
    }
    free(a);
    free(b);
    free(c);
}

static void test_gradient_uses_the_mask(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    assert_non_null(g);
    gr_shape s = tu_shape(1, (int64_t)N);
    int x = gr_graph_input(g, "x", &s, &err), c = gr_graph_input(g, "c", &s, &err);
    assert_true(x >= 0 && c >= 0);
    TU_OK(gr_graph_finalize(g, &err), err);
    gr_attrs at = dropout_attrs(0.3, 9);
    int y = tu_apply(g, "dropout", &x, 1, &at);
    int loss = tu_op1(g, "sum", tu_op2(g, "mul", y, c));
    int grad;
    TU_OK(gr_grad(g, loss, &x, 1, &grad, &err), err);
    double *xv = malloc(N * sizeof *xv), *cv = malloc(N * sizeof *cv);
    assert_true(xv && cv);
    tu_seed(3);
    for (int i = 0; i < N; i++) {
        xv[i] = tu_uniform(-2, 2);
        cv[i] = tu_uniform(-1, 1);
    }
    tu_bind b[2] = {{x, xv}, {c, cv}};
    int outs[2] = {y, grad};
    double *out = tu_eval(g, b, 2, outs, 2);
    for (int i = 0; i < N; i++) {
        double kept = out[i] != 0, want = kept ? cv[i] / 0.7 : 0;
        tu_close(out[N + i], want, 1e-15, 1e-15, "gradient of a dropped or kept element");
    }
    free(out);
    free(xv);
    free(cv);
    gr_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept_fraction_and_scale),
        cmocka_unit_test(test_same_seed_same_mask),
        cmocka_unit_test(test_identity_and_zero),
        cmocka_unit_test(test_gradient_uses_the_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
