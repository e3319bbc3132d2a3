/* test_winograd.c -- lib/ops/conv_winograd.c: the float32 F(2x2, 3x3)
 * convolution gives the direct sum's values (computed here in double, the
 * definition written out) for conv2d, conv_transpose2d and the weight
 * gradient (conv_weight), at odd and even
 * sizes, paddings 0 to 2, one image or many chunks of them, one thread or
 * two; it declines the geometries and the values it is not for (an inf or
 * NaN, magnitudes whose transforms would overflow float32) without writing
 * anything; and through the op table a conv2d or conv_transpose2d node
 * gives the direct sum either way, also with a per-channel bias added
 * (which the executor folds into the convolution's kernel). */
#include "testutil.h"
#include "ops/conv.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A stride-1 3x3 convolution: x [n, cin, h, w] by w [cout, cin, 3, 3]
 * with padding (ph, pw), as conv.c's geometry. */
static conv_geom geom(int64_t n, int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t ph, int64_t pw) {
    conv_geom c = {.n = n, .cin = cin, .cout = cout, .groups = 1, .cig = cin, .cog = cout, .h = h, .w = w,
                   .kh = 3, .kw = 3, .fkh = 3, .fkw = 3, .sh = 1, .sw = 1, .ph = ph, .pw = pw, .dh = 1, .dw = 1};
    c.oh = h + 2 * ph - 2;
    c.ow = w + 2 * pw - 2;
    c.kg = cin * 9;
    c.p = c.oh * c.ow;
    return c;
}

/* The direct sums in double. conv: y [n, cout, oh, ow] from x and w;
 * transpose: x [n, cin, h, w] from y [n, cout, oh, ow] and w (each x
 * element gets every y element whose window reads it). */
static double *direct(const conv_geom *c, const float *in, const float *w, int transpose) {
    int64_t out_n = transpose ? c->n * c->cin * c->h * c->w : c->n * c->cout * c->p;
    double *out = calloc((size_t)out_n, sizeof *out);
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->cout; o++)
            for (int64_t i = 0; i < c->cin; i++)
                for (int64_t r = 0; r < c->oh; r++)
                    for (int64_t s = 0; s < c->ow; s++)
                        for (int64_t a = 0; a < 3; a++)
                            for (int64_t b = 0; b < 3; b++) {
                                int64_t xr = r + a - c->ph, xs = s + b - c->pw;
                                if (xr < 0 || xr >= c->h || xs < 0 || xs >= c->w) continue;
                                double wv = w[((o * c->cin + i) * 3 + a) * 3 + b];
                                int64_t xi = ((n * c->cin + i) * c->h + xr) * c->w + xs;
                                int64_t yi = ((n * c->cout + o) * c->oh + r) * c->ow + s;
                                if (transpose) out[xi] += wv * in[yi];
                                else out[yi] += wv * in[xi];
                            }
    return out;
}

/* The weight gradient's direct sums in double: dw [cout, cin, 3, 3] from
 * x [n, cin, h, w] and dy [n, cout, oh, ow]. */
static double *direct_weight(const conv_geom *c, const float *x, const float *dy) {
    double *dw = calloc((size_t)(c->cout * c->cin * 9), sizeof *dw);
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->cout; o++)
            for (int64_t i = 0; i < c->cin; i++)
                for (int64_t r = 0; r < c->oh; r++)
                    for (int64_t s = 0; s < c->ow; s++)
                        for (int64_t a = 0; a < 3; a++)
                            for (int64_t b = 0; b < 3; b++) {
                                int64_t xr = r + a - c->ph, xs = s + b - c->pw;
                                if (xr < 0 || xr >= c->h || xs < 0 || xs >= c->w) continue;
                                dw[((o * c->cin + i) * 3 + a) * 3 + b] +=
                                    (double)dy[((n * c->cout + o) * c->oh + r) * c->ow + s] *
                                    x[((n * c->cin + i) * c->h + xr) * c->w + xs];
                            }
    return dw;
}

/* Run convolution c (transpose: its conv_transpose) by Winograd on
 * random values and compare with the direct sums. */
static void check_case(const conv_geom *c, int transpose, int threads) {
    gr_wino p;
    assert_true(gr_conv_winograd_plan(c, GR_F32, transpose, &p));
    tu_set_threads(threads);
    int64_t in_n = transpose ? c->n * c->cout * c->p : c->n * c->cin * c->h * c->w;
    int64_t out_n = transpose ? c->n * c->cin * c->h * c->w : c->n * c->cout * c->p;
    int64_t work_n = gr_conv_winograd_workspace(&p, threads, 0);
    float *in = tu_random_floats(in_n, -2, 2), *w = tu_random_floats(c->cout * c->cin * 9, -1, 1);
    float *out = malloc((size_t)out_n * sizeof *out), *work = malloc((size_t)work_n * sizeof *work);
    for (int64_t i = 0; i < out_n; i++) out[i] = NAN; /* every element must be written */
    assert_int_equal(gr_conv_winograd_run(&p, in, w, NULL, 0, out, work, work_n, NULL), 1);
    double *want = direct(c, in, w, transpose);
    for (int64_t i = 0; i < out_n; i++) {
        char what[160];
        snprintf(what, sizeof what, "%s n%lld %lldx%lld pad %lld,%lld threads %d: element %lld",
                 transpose ? "conv_transpose" : "conv", (long long)c->n, (long long)c->h, (long long)c->w,
                 (long long)c->ph, (long long)c->pw, threads, (long long)i);
        tu_close(out[i], want[i], 1e-5, 1e-4, what);
    }
    free(in), free(w), free(out), free(work), free(want);
    tu_set_threads(1);
}

static void test_conv_matches_the_direct_sum(void **state) {
    (void)state;
    tu_seed(7);
    conv_geom cases[] = {
        geom(1, 8, 8, 6, 6, 1, 1),    /* one image, even size */
        geom(3, 8, 12, 7, 9, 1, 1),   /* odd sizes: the last tiles are cut */
        geom(2, 9, 8, 10, 8, 0, 0),   /* no padding */
        geom(2, 8, 10, 5, 7, 2, 2),   /* padding 2 */
        geom(2, 8, 9, 9, 8, 2, 0),    /* different padding per axis */
        geom(21, 16, 8, 14, 14, 1, 1) /* many chunks, the last one short */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        check_case(&cases[i], 0, 1);
        check_case(&cases[i], 0, 2);
    }
}

static void test_conv_transpose_matches_the_direct_sum(void **state) {
    (void)state;
    tu_seed(8);
    conv_geom cases[] = {
        geom(2, 8, 12, 7, 9, 1, 1),   /* conv padding 1: Winograd's padding 1 */
        geom(2, 9, 8, 10, 8, 0, 0),   /* 0: 2 */
        geom(2, 8, 10, 7, 7, 2, 2),   /* 2: 0 */
        geom(19, 8, 16, 14, 14, 1, 1) /* many chunks */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        check_case(&cases[i], 1, 1);
        check_case(&cases[i], 1, 2);
    }
}

/* The weight gradient of c by Winograd on random values against the
 * direct sums: each element within 1e-4 of the largest (the sums run
 * over every tile of every image, in another order). */
static void check_weight_case(const conv_geom *c, int threads) {
    gr_wino p;
    assert_true(gr_conv_winograd_plan(c, GR_F32, 0, &p));
    tu_set_threads(threads);
    int64_t xn = c->n * c->cin * c->h * c->w, yn = c->n * c->cout * c->p, wn = c->cout * c->cin * 9;
    int64_t work_n = gr_conv_winograd_workspace(&p, threads, 1);
    float *x = tu_random_floats(xn, -2, 2), *dy = tu_random_floats(yn, -1, 1);
    float *dw = malloc((size_t)wn * sizeof *dw), *work = malloc((size_t)work_n * sizeof *work);
    for (int64_t i = 0; i < wn; i++) dw[i] = NAN;
    assert_int_equal(gr_conv_winograd_weight(&p, x, dy, dw, work, work_n, NULL), 1);
    double *want = direct_weight(c, x, dy), scale = 0;
    for (int64_t i = 0; i < wn; i++) scale = fmax(scale, fabs(want[i]));
    for (int64_t i = 0; i < wn; i++) {
        char what[160];
        snprintf(what, sizeof what, "conv_weight n%lld %lldx%lld pad %lld,%lld threads %d: element %lld",
                 (long long)c->n, (long long)c->h, (long long)c->w, (long long)c->ph, (long long)c->pw, threads,
                 (long long)i);
        tu_close(dw[i], want[i], 1e-5 * scale, 1e-4, what);
    }
    free(x), free(dy), free(dw), free(work), free(want);
    tu_set_threads(1);
}

static void test_weight_gradient_matches_the_direct_sum(void **state) {
    (void)state;
    tu_seed(10);
    conv_geom cases[] = {
        geom(1, 8, 8, 6, 6, 1, 1),    /* one image */
        geom(3, 8, 12, 7, 9, 1, 1),   /* odd sizes: the cut tiles' missing outputs add nothing */
        geom(2, 9, 8, 10, 8, 0, 0),   /* no padding */
        geom(2, 8, 10, 5, 7, 2, 2),   /* padding 2 */
        geom(21, 16, 8, 14, 14, 1, 1) /* many chunks: partial sums per thread */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        check_weight_case(&cases[i], 1);
        check_weight_case(&cases[i], 2);
    }
    /* conv_transpose's geometry has no weight gradient here */
    gr_wino p;
    assert_true(gr_conv_winograd_plan(&cases[0], GR_F32, 1, &p));
    float one = 1;
    assert_int_equal(gr_conv_winograd_weight(&p, &one, &one, &one, &one, 1, NULL), 0);
}

static void test_other_geometries_are_declined(void **state) {
    (void)state;
    gr_wino p;
    conv_geom c = geom(2, 8, 8, 8, 8, 1, 1);
    assert_true(gr_conv_winograd_plan(&c, GR_F32, 0, &p));
    assert_false(gr_conv_winograd_plan(&c, GR_F64, 0, &p)); /* float64 keeps the direct products */
    conv_geom s = c;
    s.sh = 2;
    assert_false(gr_conv_winograd_plan(&s, GR_F32, 0, &p));
    s = c, s.dw = 2;
    assert_false(gr_conv_winograd_plan(&s, GR_F32, 0, &p));
    s = c, s.groups = 2, s.cig = 4, s.cog = 4;
    assert_false(gr_conv_winograd_plan(&s, GR_F32, 0, &p));
    s = geom(2, 4, 8, 8, 8, 1, 1); /* too few channels in */
    assert_false(gr_conv_winograd_plan(&s, GR_F32, 0, &p));
    s = geom(2, 8, 8, 8, 8, 3, 3); /* padding 3: a tile would start 3 before x */
    assert_false(gr_conv_winograd_plan(&s, GR_F32, 0, &p));
    assert_false(gr_conv_winograd_plan(&s, GR_F32, 1, &p)); /* transpose: padding -1 */
    s = geom(2, 8, 8, 8, 3, 1, 1); /* 3 columns out: 2 tiles a row, too narrow */
    assert_false(gr_conv_winograd_plan(&s, GR_F32, 0, &p));
    s = c, s.fkh = s.fkw = 5, s.kh = s.kw = 5;
    assert_false(gr_conv_winograd_plan(&s, GR_F32, 0, &p));
}

/* Run c by Winograd with x and w filled with the given values (the first
 * x element set to x0): 0 and out untouched when it declines. */
static int run_filled(const conv_geom *c, float xv, float x0, float wv, float *out) {
    gr_wino p;
    assert_true(gr_conv_winograd_plan(c, GR_F32, 0, &p));
    int64_t in_n = c->n * c->cin * c->h * c->w, out_n = c->n * c->cout * c->p, work_n = gr_conv_winograd_workspace(&p, 1, 0);
    float *in = malloc((size_t)in_n * sizeof *in), *w = malloc((size_t)(c->cout * c->cin * 9) * sizeof *w);
    float *work = malloc((size_t)work_n * sizeof *work);
    for (int64_t i = 0; i < in_n; i++) in[i] = xv;
    in[0] = x0;
    for (int64_t i = 0; i < c->cout * c->cin * 9; i++) w[i] = wv;
    for (int64_t i = 0; i < out_n; i++) out[i] = -1;
    int ran = gr_conv_winograd_run(&p, in, w, NULL, 0, out, work, work_n, NULL);
    free(in), free(w), free(work);
    return ran;
}

static void untouched(const float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) assert_true(out[i] == -1);
}

static void test_values_the_transforms_would_change_are_declined(void **state) {
    (void)state;
    conv_geom c = geom(1, 8, 8, 6, 6, 1, 1);
    int64_t out_n = c.cout * c.p;
    float *out = malloc((size_t)out_n * sizeof *out);
    assert_int_equal(run_filled(&c, 1, INFINITY, 1, out), 0); /* d1 - d1 would be NaN beside an inf */
    untouched(out, out_n);
    assert_int_equal(run_filled(&c, 1, NAN, 1, out), 0);
    untouched(out, out_n);
    /* 2e38 + 2e38 overflows float32 in B^T d B; the direct sums of
     * 2e38 * 1e-3 do not. */
    assert_int_equal(run_filled(&c, 2e38f, 2e38f, 1e-3f, out), 0);
    untouched(out, out_n);
    assert_int_equal(run_filled(&c, 1, 1, 1, out), 1);
    assert_true(out[c.ow + 1] == 72); /* an interior output: 8 channels of 9 ones */
    /* the weight gradient: an inf in dy, or x and dy whose transforms
     * would overflow */
    gr_wino p;
    assert_true(gr_conv_winograd_plan(&c, GR_F32, 0, &p));
    int64_t xn = c.cin * c.h * c.w, wn = c.cout * c.cin * 9, work_n = gr_conv_winograd_workspace(&p, 1, 1);
    float *x = malloc((size_t)xn * sizeof *x), *dy = malloc((size_t)out_n * sizeof *dy);
    float *dw = malloc((size_t)wn * sizeof *dw), *work = malloc((size_t)work_n * sizeof *work);
    for (int64_t i = 0; i < xn; i++) x[i] = 1;
    for (int64_t i = 0; i < out_n; i++) dy[i] = 1;
    dy[5] = INFINITY;
    for (int64_t i = 0; i < wn; i++) dw[i] = -1;
    assert_int_equal(gr_conv_winograd_weight(&p, x, dy, dw, work, work_n, NULL), 0);
    dy[5] = 1;
    for (int64_t i = 0; i < xn; i++) x[i] = 1e38f; /* B^T d B sums four of them: inf */
    for (int64_t i = 0; i < out_n; i++) dy[i] = 1e-3f;
    assert_int_equal(gr_conv_winograd_weight(&p, x, dy, dw, work, work_n, NULL), 0);
    untouched(dw, wn);
    for (int64_t i = 0; i < xn; i++) x[i] = 1;
    for (int64_t i = 0; i < out_n; i++) dy[i] = 1;
    assert_int_equal(gr_conv_winograd_weight(&p, x, dy, dw, work, work_n, NULL), 1);
    assert_true(dw[4] == 36); /* the centre tap reads x at all 6x6 outputs */
    free(x), free(dy), free(dw), free(work);
    free(out);
}

/* conv_transpose2d of y [2, 8, 6, 6] by w [8, 8, 3, 3], padding 1, with
 * y's values set by fill, through the graph (which picks Winograd or the
 * direct GEMMs by the values). */
static double *graph_conv_transpose(const double *y, const double *w) {
    gr_error err;
    gr_error_clear(&err);
    gr_graph *g = gr_graph_new(GR_F32, NULL);
    assert_non_null(g);
    gr_shape ys = tu_shape(4, 2, 8, 6, 6), ws = tu_shape(4, 8, 8, 3, 3);
    int yi = gr_graph_param(g, "y", &ys, &err), wi = gr_graph_param(g, "w", &ws, &err);
    assert_true(yi >= 0 && wi >= 0);
    TU_OK(gr_graph_finalize(g, &err), err);
    gr_attrs pad = {0};
    int64_t one = 1;
    TU_OK(gr_attrs_set_ints(&pad, GR_ATTR_PADDING, &one, 1, &err), err);
    int ops[2] = {yi, wi};
    int x = tu_apply(g, "conv_transpose2d", ops, 2, &pad);
    tu_bind binds[2] = {{yi, y}, {wi, w}};
    double *v = tu_eval1(g, binds, 2, x);
    gr_graph_free(g);
    return v;
}

static void test_the_ops_give_the_direct_sums_with_and_without_winograd(void **state) {
    (void)state;
    tu_seed(9);
    conv_geom c = geom(2, 8, 8, 6, 6, 1, 1);
    int64_t yn = 2 * 8 * 36, xn = 2 * 8 * 36;
    double *y = malloc((size_t)yn * sizeof *y), *w = malloc(8 * 8 * 9 * sizeof *w);
    float *yf = malloc((size_t)yn * sizeof *yf), *wf = malloc(8 * 8 * 9 * sizeof *wf);
    for (int inf_at = -1; inf_at <= 40; inf_at += 41) { /* finite (Winograd), then one inf (direct) */
        for (int64_t i = 0; i < yn; i++) yf[i] = (float)tu_uniform(-2, 2), y[i] = yf[i];
        for (int64_t i = 0; i < 8 * 8 * 9; i++) wf[i] = (float)tu_uniform(-1, 1), w[i] = wf[i];
        if (inf_at >= 0) yf[inf_at] = INFINITY, y[inf_at] = INFINITY;
        double *got = graph_conv_transpose(y, w), *want = direct(&c, yf, wf, 1);
        for (int64_t i = 0; i < xn; i++) {
            char what[160];
            snprintf(what, sizeof what, "conv_transpose2d (inf at %d): element %lld", inf_at, (long long)i);
            if (isnan(want[i])) assert_true(isnan(got[i]));
            else if (isinf(want[i])) assert_true(got[i] == want[i]);
            else tu_close(got[i], want[i], 1e-5, 1e-4, what);
        }
        free(got), free(want);
    }
    free(y), free(w), free(yf), free(wf);
}

/* conv2d(x [2, 8, 6, 7], w [cout, 8, 3, 3], padding 1) + b, b of shape bs
 * (broadcast), in dtype dt, against the direct sum plus b. */
static void check_conv_plus_bias(gr_dtype dt, int64_t cout, gr_shape bs) {
    gr_error err;
    gr_error_clear(&err);
    gr_graph *g = gr_graph_new(dt, NULL);
    assert_non_null(g);
    gr_shape xs = tu_shape(4, 2, 8, 6, 7), ws = tu_shape(4, cout, 8, 3, 3);
    int xi = gr_graph_param(g, "x", &xs, &err), wi = gr_graph_param(g, "w", &ws, &err);
    int bi = gr_graph_param(g, "b", &bs, &err);
    assert_true(xi >= 0 && wi >= 0 && bi >= 0);
    TU_OK(gr_graph_finalize(g, &err), err);
    gr_attrs pad = {0};
    int64_t one = 1;
    TU_OK(gr_attrs_set_ints(&pad, GR_ATTR_PADDING, &one, 1, &err), err);
    int ops[2] = {xi, wi};
    int y = tu_op2(g, "add", tu_apply(g, "conv2d", ops, 2, &pad), bi);
    conv_geom c = geom(2, 8, cout, 6, 7, 1, 1);
    int64_t xn = 2 * 8 * 42, wn = cout * 8 * 9, bn = 1;
    for (int d = 0; d < bs.rank; d++) bn *= bs.dims[d];
    double *x = malloc((size_t)xn * sizeof *x), *w = malloc((size_t)wn * sizeof *w), *b = malloc((size_t)bn * sizeof *b);
    float *xf = malloc((size_t)xn * sizeof *xf), *wf = malloc((size_t)wn * sizeof *wf);
    for (int64_t i = 0; i < xn; i++) xf[i] = (float)tu_uniform(-2, 2), x[i] = xf[i];
    for (int64_t i = 0; i < wn; i++) wf[i] = (float)tu_uniform(-1, 1), w[i] = wf[i];
    for (int64_t i = 0; i < bn; i++) b[i] = 10 + i; /* far from 0: a missing bias shows */
    tu_bind binds[3] = {{xi, x}, {wi, w}, {bi, b}};
    double *got = tu_eval1(g, binds, 3, y), *want = direct(&c, xf, wf, 0);
    int64_t per_bias = bn == 1 ? c.n * cout * c.p : c.p; /* output elements per bias value, in order */
    for (int64_t i = 0; i < c.n * cout * c.p; i++) {
        char what[160];
        snprintf(what, sizeof what, "%s conv2d + bias[%lld]: element %lld", dt == GR_F32 ? "float32" : "float64",
                 (long long)bn, (long long)i);
        tu_close(got[i], want[i] + b[(i / per_bias) % bn], 1e-5, dt == GR_F32 ? 1e-4 : 1e-12, what);
    }
    free(got), free(want), free(x), free(w), free(b), free(xf), free(wf);
    gr_graph_free(g);
}

static void test_conv_plus_bias(void **state) {
    (void)state;
    tu_seed(11);
    check_conv_plus_bias(GR_F32, 12, tu_shape(3, 12, 1, 1));    /* Winograd, bias in its output transform */
    check_conv_plus_bias(GR_F64, 12, tu_shape(3, 12, 1, 1));    /* im2col, bias after each chunk */
    check_conv_plus_bias(GR_F32, 12, tu_shape(4, 1, 12, 1, 1)); /* [1, Cout, 1, 1] */
    check_conv_plus_bias(GR_F32, 4, tu_shape(3, 4, 1, 1));      /* 4 channels out: im2col in float32 */
    check_conv_plus_bias(GR_F32, 12, tu_shape(1, 1));           /* one value: a plain broadcast add */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_matches_the_direct_sum),
        cmocka_unit_test(test_conv_transpose_matches_the_direct_sum),
        cmocka_unit_test(test_weight_gradient_matches_the_direct_sum),
        cmocka_unit_test(test_other_geometries_are_declined),
        cmocka_unit_test(test_values_the_transforms_would_change_are_declined),
        cmocka_unit_test(test_the_ops_give_the_direct_sums_with_and_without_winograd),
        cmocka_unit_test(test_conv_plus_bias),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
