/* test_pool.c -- max pooling's values at tied signed zeros, as PyTorch's,
 * through a graph in float64 and float32 (pool.c's kernels and
 * pool_avx512.c's); and lib/ops/pool_avx512.c, max pooling's 2x2 windows
 * at stride 2 in float32 with AVX-512, against the rules written out here
 * one window at a time: the forward value is the window's first maximum
 * in the order a b / d e (PyTorch's: -0 then +0 gives -0), NaN when the
 * window holds one; the backward sends the gradient to the window's first
 * element equal to that maximum (in the order a b / d e), or with a NaN to
 * its last NaN, 0 to the others, and with relu_mask only where the
 * maximum is above 0 or the window holds a NaN. Values drawn from a small
 * set (ties, -0 and +0, infinities, NaN); planes whose rows hold 1 to 33
 * windows (one vector step, several, an exact 16) and odd sizes whose last
 * row and column no window covers (left untouched). Each plane sits in a
 * buffer of its exact size (the sanitizer build sees a read past it).
 * Compared bit for bit. Skipped where the kernels do not run (no AVX-512,
 * or clang's builds). */
#include "testutil.h"
#include "ops/ops.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const float values[] = {-1.0f, 0.0f, -0.0f, 0.5f, 0.5f, 2.0f, 2.0f, 3.0f, -2.0f, 1e-3f};

static float draw(int special) {
    uint64_t r = tu_rand64();
    if (special && r % 23 == 0) return NAN;
    if (special && r % 29 == 1) return INFINITY;
    if (special && r % 31 == 2) return -INFINITY;
    return values[(r >> 8) % (sizeof values / sizeof values[0])];
}


static uint32_t bits(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

/* The window at output (oy, ox): its four elements' indices in the plane. */
static void window(int64_t w, int64_t oy, int64_t ox, int64_t at[4]) {
    at[0] = 2 * oy * w + 2 * ox;
    at[1] = at[0] + 1;
    at[2] = at[0] + w;
    at[3] = at[2] + 1;
}

static void check_plane(int64_t h, int64_t w, int special, int relu_mask) {
    int64_t oh = h / 2, ow = w / 2, n = h * w;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)(oh * ow) * sizeof *y);
    float *gh = malloc((size_t)(oh * ow) * sizeof *gh), *g = malloc((size_t)n * sizeof *g);
    assert_non_null(x), assert_non_null(y), assert_non_null(gh), assert_non_null(g);
    for (int64_t i = 0; i < n; i++) x[i] = draw(special);
    for (int64_t i = 0; i < oh * ow; i++) gh[i] = (float)(i + 1) * 0.25f;
    for (int64_t i = 0; i < n; i++) g[i] = 77.0f; /* what no window covers stays */
    assert_int_equal(gr_pool_max_2x2_f32(x, h, w, oh, ow, y), 1);
    assert_int_equal(gr_pool_max_2x2_backward_f32(x, gh, w, oh, ow, relu_mask, g), 1);
    char *covered = calloc((size_t)n, 1);
    assert_non_null(covered);
    for (int64_t oy = 0; oy < oh; oy++)
        for (int64_t ox = 0; ox < ow; ox++) {
            int64_t at[4];
            window(w, oy, ox, at);
            float e[4] = {x[at[0]], x[at[1]], x[at[2]], x[at[3]]};
            int nan = isnan(e[0]) || isnan(e[1]) || isnan(e[2]) || isnan(e[3]);
            float m = e[0];
            for (int q = 1; q < 4; q++) m = e[q] > m ? e[q] : m; /* the first of tied maxima stays */
            float want = nan ? NAN : m;
            if (bits(y[oy * ow + ox]) != bits(want))
                fail_msg("forward %lldx%lld window (%lld, %lld): %g, want %g", (long long)h, (long long)w,
                         (long long)oy, (long long)ox, (double)y[oy * ow + ox], (double)want);
            int pick = -1;
            for (int q = 0; q < 4; q++)
                if (nan ? isnan(e[q]) : pick < 0 && e[q] == m) pick = q; /* the last NaN, or the first maximum */
            float v = gh[oy * ow + ox];
            if (relu_mask && !nan && !(m > 0)) v = 0;
            for (int q = 0; q < 4; q++) {
                float got = g[at[q]], exp = q == pick ? v : 0.0f;
                covered[at[q]] = 1;
                if (bits(got) != bits(exp))
                    fail_msg("backward %lldx%lld relu_mask %d window (%lld, %lld) element %d: %g, want %g",
                             (long long)h, (long long)w, relu_mask, (long long)oy, (long long)ox, q, (double)got,
                             (double)exp);
            }
        }
    for (int64_t i = 0; i < n; i++)
        if (!covered[i] && g[i] != 77.0f) fail_msg("backward %lldx%lld wrote element %lld, which no window covers",
                                                   (long long)h, (long long)w, (long long)i);
    free(covered), free(x), free(y), free(gh), free(g);
}

static void test_against_the_rules(void **state) {
    (void)state;
    if (!gr_cpu_avx512()) skip();
    static const int64_t shapes[][2] = {{2, 2},  {4, 14}, {28, 28}, {14, 14}, {3, 5},  {5, 3},
                                        {6, 34}, {4, 66}, {2, 32},  {7, 31},  {2, 30}, {9, 65}};
    tu_seed(7);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int special = 0; special < 2; special++)
            for (int relu_mask = 0; relu_mask < 2; relu_mask++)
                for (int rep = 0; rep < 4; rep++) check_plane(shapes[s][0], shapes[s][1], special, relu_mask);
}

/* max_pool2d(x, 2) of four windows of -0, +0 and -1: PyTorch 1.13 gives
 * -0, +0, -0, +0 (the first of the tied maxima, in row-major order within
 * the window), in float64 and float32 alike; pool.c's 2x2 loop gave +0
 * for the first window. */
static void test_tied_zeros_keep_the_first(void **state) {
    (void)state;
    static const double xv[16] = {-0.0, 0.0,  0.0,  -0.0, -1.0, -0.0, -1.0, -1.0,
                                  -1.0, -1.0, -1.0, -1.0, 0.0,  -1.0, 0.0,  -0.0};
    static const int want_negative[4] = {1, 0, 1, 0};
    gr_error err;
    for (int dt = 0; dt < 2; dt++) {
        gr_graph *g = gr_graph_new(dt ? GR_F32 : GR_F64, NULL);
        gr_shape xs = tu_shape(4, 1, 1, 2, 8);
        int x = gr_graph_input(g, "x", &xs, &err);
        TU_OK(gr_graph_finalize(g, &err), err);
        gr_attrs pool = {0};
        int64_t two = 2;
        TU_OK(gr_attrs_set_ints(&pool, GR_ATTR_KERNEL_SIZE, &two, 1, &err), err);
        int y = tu_apply(g, "max_pool2d", &x, 1, &pool);
        tu_bind bd[1] = {{x, xv}};
        double *yv = tu_eval1(g, bd, 1, y);
        for (int i = 0; i < 4; i++) {
            if (yv[i] != 0 || !!signbit(yv[i]) != want_negative[i])
                fail_msg("%s window %d: %g, want %s0", dt ? "float32" : "float64", i, yv[i],
                         want_negative[i] ? "-" : "+");
        }
        free(yv);
        gr_graph_free(g);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tied_zeros_keep_the_first),
        cmocka_unit_test(test_against_the_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
