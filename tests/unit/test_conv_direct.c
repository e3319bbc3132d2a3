/* test_conv_direct.c -- lib/ops/conv_direct.c: 3x3 convolutions whose
 * groups read one input channel each (1 -> many channels, depthwise), in
 * float32 at stride 1, give the direct sums (computed here in double, the
 * definition written out) forward with and without a bias and for the
 * weight gradient, at odd and even sizes, paddings 0 to 2, one image or
 * many, one thread or two; other geometries and float64 are declined;
 * and through the op table conv2d and its weight gradient match the
 * definition on cnn-step's first layer. */
#include "testutil.h"
#include "ops/conv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* x [n, groups, h, w] by w [groups * cog, 1, 3, 3], stride 1, padding
 * (ph, pw), as conv.c's geometry. */
static conv_geom geom(int64_t n, int64_t groups, int64_t cog, int64_t h, int64_t w, int64_t ph, int64_t pw) {
    conv_geom c = {.n = n, .cin = groups, .cout = groups * cog, .groups = groups, .cig = 1, .cog = cog, .h = h,
                   .w = w, .kh = 3, .kw = 3, .fkh = 3, .fkw = 3, .sh = 1, .sw = 1, .ph = ph, .pw = pw, .dh = 1,
                   .dw = 1};
    c.oh = h + 2 * ph - 2;
    c.ow = w + 2 * pw - 2;
    c.kg = 9;
    c.p = c.oh * c.ow;
    return c;
}

/* The forward sums (plus bias[o] when bias is not NULL) or, with dy, the
 * weight gradient's, in double. */
static double *reference(const conv_geom *c, const float *x, const float *w, const float *bias, const float *dy) {
    int64_t out_n = dy ? c->cout * 9 : c->n * c->cout * c->p;
    double *out = calloc((size_t)(out_n > 0 ? out_n : 1), sizeof *out);
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->cout; o++) {
            int64_t g = o / c->cog;
            for (int64_t r = 0; r < c->oh; r++)
                for (int64_t s = 0; s < c->ow; s++) {
                    int64_t yi = ((n * c->cout + o) * c->oh + r) * c->ow + s;
                    if (!dy && bias) out[yi] += bias[o];
                    for (int64_t a = 0; a < 3; a++)
                        for (int64_t b = 0; b < 3; b++) {
                            int64_t xr = r + a - c->ph, xs = s + b - c->pw;
                            if (xr < 0 || xr >= c->h || xs < 0 || xs >= c->w) continue;
                            double xv = x[((n * c->cin + g) * c->h + xr) * c->w + xs];
                            if (dy) out[o * 9 + a * 3 + b] += (double)dy[yi] * xv;
                            else out[yi] += (double)w[o * 9 + a * 3 + b] * xv;
                        }
                }
        }
    return out;
}

static void check_case(const conv_geom *c, int threads, int with_bias) {
    assert_true(gr_conv_direct_fits(c, GR_F32));
    tu_set_threads(threads);
    int64_t xn = c->n * c->cin * c->h * c->w, yn = c->n * c->cout * c->p, wn = c->cout * 9;
    /* room for more slots than threads: the jobs take one per thread at most */
    int64_t fwd_n = gr_conv_direct_workspace(c, 0, threads + 2), wt_n = gr_conv_direct_workspace(c, 1, threads + 2);
    float *x = tu_random_floats(xn, -2, 2), *w = tu_random_floats(wn, -1, 1), *b = tu_random_floats(c->cout, -1, 1);
    float *dy = tu_random_floats(yn, -1, 1), *y = malloc((size_t)yn * sizeof *y), *dw = malloc((size_t)wn * sizeof *dw);
    float *work = malloc((size_t)(fwd_n > wt_n ? fwd_n : wt_n) * sizeof *work);
    int64_t work_n = fwd_n > wt_n ? fwd_n : wt_n;
    for (int64_t i = 0; i < work_n; i++) work[i] = NAN; /* scratch is read only where written */
    for (int64_t i = 0; i < yn; i++) y[i] = NAN;       /* every element must be written */
    for (int64_t i = 0; i < wn; i++) dw[i] = NAN;
    assert_int_equal(gr_conv_direct_run(c, x, w, with_bias ? b : NULL, 0, y, work, fwd_n, NULL), 1);
    assert_int_equal(gr_conv_direct_weight(c, x, dy, dw, work, wt_n, NULL), 1);
    double *want = reference(c, x, w, with_bias ? b : NULL, NULL), *want_dw = reference(c, x, w, NULL, dy);
    char what[160];
    for (int64_t i = 0; i < yn; i++) {
        snprintf(what, sizeof what, "conv n%lld g%lld %lldx%lld pad %lld,%lld threads %d: element %lld",
                 (long long)c->n, (long long)c->groups, (long long)c->h, (long long)c->w, (long long)c->ph,
                 (long long)c->pw, threads, (long long)i);
        tu_close(y[i], want[i], 1e-5, 1e-5, what);
    }
    for (int64_t i = 0; i < wn; i++) {
        snprintf(what, sizeof what, "conv_weight n%lld g%lld %lldx%lld pad %lld,%lld threads %d: element %lld",
                 (long long)c->n, (long long)c->groups, (long long)c->h, (long long)c->w, (long long)c->ph,
                 (long long)c->pw, threads, (long long)i);
        tu_close(dw[i], want_dw[i], 1e-5 * sqrt((double)(c->n * c->p)), 1e-5, what);
    }
    free(x), free(w), free(b), free(dy), free(y), free(dw), free(work), free(want), free(want_dw);
    tu_set_threads(1);
}

static void test_direct_sums(void **state) {
    (void)state;
    tu_seed(71);
    conv_geom cases[] = {
        geom(1, 1, 4, 6, 6, 1, 1),    /* one image */
        geom(5, 1, 16, 28, 28, 1, 1), /* cnn-step's first layer, fewer images */
        geom(3, 1, 3, 7, 19, 0, 0),   /* odd sizes, no padding: rows of 17 */
        geom(2, 1, 2, 5, 9, 2, 2),    /* padding 2 */
        geom(2, 1, 5, 9, 8, 2, 0),    /* different padding per axis */
        geom(3, 6, 1, 10, 11, 1, 1),  /* depthwise: 6 groups of one channel each */
        geom(4, 3, 2, 8, 8, 1, 2),    /* groups of one input and two output channels */
        geom(8, 32, 1, 16, 16, 1, 1), /* mobilenet_v2's first depthwise layer */
        geom(8, 96, 1, 2, 2, 1, 1)    /* 2x2 maps: one block a row, mostly padding */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (int threads = 1; threads <= 2; threads++) check_case(&cases[i], threads, (int)(i & 1));
}

static void test_other_geometries_are_declined(void **state) {
    (void)state;
    conv_geom c = geom(2, 1, 4, 8, 8, 1, 1);
    assert_true(gr_conv_direct_fits(&c, GR_F32));
    assert_false(gr_conv_direct_fits(&c, GR_F64));
    conv_geom two_in = c;
    two_in.cin = two_in.cig = 2;
    assert_false(gr_conv_direct_fits(&two_in, GR_F32));
    conv_geom strided = c;
    strided.sh = 2;
    assert_false(gr_conv_direct_fits(&strided, GR_F32));
    conv_geom dilated = c;
    dilated.dw = 2;
    assert_false(gr_conv_direct_fits(&dilated, GR_F32));
    conv_geom five = c;
    five.kh = five.kw = five.fkh = five.fkw = 5;
    assert_false(gr_conv_direct_fits(&five, GR_F32));
    conv_geom big = geom(1, 1, 4, 300, 300, 1, 1); /* planes past the bound keep im2col */
    assert_false(gr_conv_direct_fits(&big, GR_F32));
    conv_geom wide_pad = c;
    wide_pad.ph = 3;
    assert_false(gr_conv_direct_fits(&wide_pad, GR_F32));
    float one = 1;
    assert_int_equal(gr_conv_direct_run(&c, &one, &one, NULL, 0, &one, &one, 1, NULL), 0); /* no slot */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_direct_sums),
        cmocka_unit_test(test_other_geometries_are_declined),
    };
    return cmocka_run_group_tests_name("conv_direct", tests, NULL, NULL);
}
