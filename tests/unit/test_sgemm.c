/* test_sgemm.c -- lib/sgemm_avx512.c, libgrad's AVX-512 float32 GEMM:
 * C = alpha op(A) op(B) + beta C against the sums in double, over shapes
 * that cut every block and panel of its blocking short or pass it (rows
 * past MR and MC, columns past NR and NC, the shared dim past KC), both
 * transposes, leading dims wider than the rows, alpha and beta; the
 * columns between n and ldc untouched; beta 0 never reading C (a NaN
 * there does not reach the result, as BLAS); a product cut into slabs of
 * rows giving the same bits as in one call (linalg.c shares rows out to
 * threads); op(B) packed once and C computed from it by blocks the
 * same bits too; and gr_sgemm, the entry every product takes, the same
 * bits as the kernel it chose. Skipped on a CPU without AVX-512, and in clang's
 * builds (no kernel). */
#include "testutil.h"
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gemm_case {
    int ta, tb;
    int64_t m, n, k;
    int64_t pad; /* extra elements per row of A, B and C */
    float alpha, beta;
} gemm_case;

/* Rows of A as stored: op(A) is m x k, A itself k x m when transposed. */
static int64_t a_rows(const gemm_case *g) { return g->ta ? g->k : g->m; }
static int64_t lda_of(const gemm_case *g) { return (g->ta ? g->m : g->k) + g->pad; }
static int64_t b_rows(const gemm_case *g) { return g->tb ? g->n : g->k; }
static int64_t ldb_of(const gemm_case *g) { return (g->tb ? g->k : g->n) + g->pad; }
static int64_t ldc_of(const gemm_case *g) { return g->n + g->pad; }

static void check_case(const gemm_case *g) {
    int64_t lda = lda_of(g), ldb = ldb_of(g), ldc = ldc_of(g);
    float *a = tu_random_floats(a_rows(g) * lda, -1, 1), *b = tu_random_floats(b_rows(g) * ldb, -1, 1);
    float *c0 = tu_random_floats(g->m * ldc, -1, 1), *c = malloc(sizeof(float) * (size_t)(g->m * ldc));
    memcpy(c, c0, sizeof(float) * (size_t)(g->m * ldc));
    assert_int_equal(gr_sgemm_avx512(g->ta, g->tb, g->m, g->n, g->k, g->alpha, a, lda, b, ldb, g->beta, c, ldc), 1);
    double worst = 0;
    for (int64_t i = 0; i < g->m; i++)
        for (int64_t j = 0; j < ldc; j++) {
            if (j >= g->n) { /* past the product's columns: untouched */
                assert_memory_equal(&c[i * ldc + j], &c0[i * ldc + j], sizeof(float));
                continue;
            }
            double s = 0, mag = 0;
            for (int64_t p = 0; p < g->k; p++) {
                double x = g->ta ? a[p * lda + i] : a[i * lda + p], y = g->tb ? b[j * ldb + p] : b[p * ldb + j];
                s += x * y;
                mag += fabs(x * y);
            }
            double want = g->alpha * s + (g->beta != 0 ? g->beta * (double)c0[i * ldc + j] : 0);
            /* float32 sums of k products: within k ulps of their magnitude */
            double tol = 4e-7 * (double)(g->k + 2) * (fabs(g->alpha) * mag + fabs(g->beta) + 1);
            double err = fabs(c[i * ldc + j] - want);
            if (err > worst) worst = err;
            if (!(err <= tol))
                fail_msg("ta %d tb %d m %ld n %ld k %ld: c[%ld, %ld] = %.9g, want %.9g", g->ta, g->tb, (long)g->m,
                         (long)g->n, (long)g->k, (long)i, (long)j, c[i * ldc + j], want);
        }
    free(a);
    free(b);
    free(c0);
    free(c);
}

static void test_products(void **state) {
    (void)state;
    if (!gr_cpu_avx512()) skip();
    static const int64_t sizes[][3] = {
        {1, 1, 1},     {12, 32, 5},  {13, 33, 7},   {11, 31, 1},   {5, 100, 300}, {150, 40, 257},
        {145, 70, 513}, {64, 64, 32}, {70, 2100, 9}, {300, 17, 64}, {2, 2049, 3},  {33, 1, 40},
    };
    static const float alphas[] = {1, 0.25f}, betas[] = {0, 1, 0.5f};
    int n = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int t = 0; t < 4; t++) {
            gemm_case g = {t & 1, t >> 1, sizes[s][0], sizes[s][1], sizes[s][2], (int64_t)(s % 3),
                           alphas[(s + t) % 2], betas[(s + t) % 3]};
            check_case(&g);
            n++;
        }
    assert_int_equal(n, 48);
}

/* beta 0: C is written, not read (NaN and inf there do not reach it). */
static void test_beta_zero_does_not_read_c(void **state) {
    (void)state;
    if (!gr_cpu_avx512()) skip();
    int64_t m = 20, n = 40, k = 9;
    float *a = tu_random_floats(m * k, -1, 1), *b = tu_random_floats(k * n, -1, 1), *c = malloc(sizeof(float) * 800);
    for (int64_t i = 0; i < m * n; i++) c[i] = i % 2 ? NAN : INFINITY;
    assert_int_equal(gr_sgemm_avx512(0, 0, m, n, k, 1, a, k, b, n, 0, c, n), 1);
    for (int64_t i = 0; i < m * n; i++) assert_true(isfinite(c[i]));
    free(a);
    free(b);
    free(c);
}

/* Rows [0, m) in one call or as slabs cut anywhere: the same bits, and
 * gr_sgemm (which picks this kernel here) the same as the kernel. */
static void test_slabs_give_the_same_bits(void **state) {
    (void)state;
    if (!gr_cpu_avx512()) skip();
    int64_t m = 200, n = 90, k = 600;
    float *a = tu_random_floats(m * k, -1, 1), *b = tu_random_floats(n * k, -1, 1);
    float *whole = calloc((size_t)(m * n), sizeof(float)), *slabs = calloc((size_t)(m * n), sizeof(float));
    float *entry = calloc((size_t)(m * n), sizeof(float));
    assert_int_equal(gr_sgemm_avx512(0, 1, m, n, k, 1, a, k, b, k, 0, whole, n), 1);
    static const int64_t cuts[] = {0, 7, 19, 100, 101, 200};
    for (int i = 0; i + 1 < 6; i++)
        assert_int_equal(gr_sgemm_avx512(0, 1, cuts[i + 1] - cuts[i], n, k, 1, a + cuts[i] * k, k, b, k, 0,
                                         slabs + cuts[i] * n, n),
                         1);
    assert_memory_equal(whole, slabs, sizeof(float) * (size_t)(m * n));
    gr_sgemm(0, 1, m, n, k, 1, a, k, b, k, 0, entry, n);
    if (gr_sgemm_own()) assert_memory_equal(whole, entry, sizeof(float) * (size_t)(m * n));
    free(a);
    free(b);
    free(whole);
    free(slabs);
    free(entry);
}

/* op(B) packed once (in two runs of its units) and C computed by blocks
 * of rows and columns from it: the bits of one call, with beta 0 and
 * with C's rows starting as a bias row (beta 1), for both transposes, the
 * shared dim past two KC blocks and the last panel short. */
static void check_packed(int ta, int tb, int64_t m, int64_t n, int64_t k) {
    int64_t lda = ta ? m : k, ldb = tb ? k : n;
    float *a = tu_random_floats(m * k, -1, 1), *b = tu_random_floats(n * k, -1, 1), *row = tu_random_floats(n, -1, 1);
    size_t packed_bytes = (size_t)gr_sgemm_avx512_packed_floats(n, k) * sizeof(float);
    float *packed = aligned_alloc(64, (packed_bytes + 63) / 64 * 64);
    for (size_t i = 0; i < packed_bytes / sizeof(float); i++) packed[i] = NAN; /* every float is written */
    int64_t units = gr_sgemm_avx512_pack_units(n, k);
    gr_sgemm_avx512_pack_b(tb, n, k, b, ldb, packed, 0, units / 3);
    gr_sgemm_avx512_pack_b(tb, n, k, b, ldb, packed, units / 3, units);
    for (size_t i = 0; i < packed_bytes / sizeof(float); i++) assert_false(isnan(packed[i]));
    float *whole = malloc(sizeof(float) * (size_t)(m * n)), *blocks = malloc(sizeof(float) * (size_t)(m * n));
    for (int beta = 0; beta <= 1; beta++) {
        for (int64_t i = 0; i < m; i++) memcpy(whole + i * n, row, sizeof(float) * (size_t)n);
        memcpy(blocks, whole, sizeof(float) * (size_t)(m * n));
        assert_int_equal(gr_sgemm_avx512(ta, tb, m, n, k, 1, a, lda, b, ldb, (float)beta, whole, n), 1);
        const int64_t rows[] = {0, 12, 60, m}, cols[] = {0, 32, n > 128 ? 128 : n, n};
        for (int r = 0; r < 3; r++)
            for (int q = 0; q < 3; q++) {
                int64_t i0 = rows[r], i1 = rows[r + 1], j0 = cols[q], j1 = cols[q + 1];
                if (i1 <= i0 || j1 <= j0) continue;
                const float *ab = ta ? a + i0 : a + i0 * lda;
                assert_int_equal(gr_sgemm_avx512_packed(ta, i1 - i0, j1 - j0, k, ab, lda, packed, n, j0, (float)beta,
                                                        blocks + i0 * n + j0, n),
                                 1);
            }
        assert_memory_equal(whole, blocks, sizeof(float) * (size_t)(m * n));
    }
    free(a), free(b), free(row), free(packed), free(whole), free(blocks);
}

static void test_packed_b_by_blocks(void **state) {
    (void)state;
    if (!gr_cpu_avx512()) skip();
    for (int t = 0; t < 4; t++) {
        check_packed(t & 1, t >> 1, 150, 300, 600);
        check_packed(t & 1, t >> 1, 70, 45, 9);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_products),
        cmocka_unit_test(test_beta_zero_does_not_read_c),
        cmocka_unit_test(test_slabs_give_the_same_bits),
        cmocka_unit_test(test_packed_b_by_blocks),
    };
    return cmocka_run_group_tests_name("sgemm", tests, NULL, NULL);
}
