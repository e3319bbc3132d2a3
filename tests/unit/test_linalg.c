/* test_linalg.c -- matmul's kernels against plain double-precision sums,
 * where the gradient checks cannot see them (they use small shapes):
 *   - a product too large for one BLAS call runs in tiles of C; with more
 *     than GEMM_TILE_N (1024) columns the tiles are narrower than C, and
 *     each must write C with C's own row length (this was once wrong);
 *   - NumPy's 1-D operands (A @ v, v @ A, v @ v, batched) run as GEMV,
 *     with and without the other operand transposed;
 *   - einsum's GEMM lowerings (direct, and with the operands permuted
 *     into GEMM's order) equal its strided loop on the same product (a
 *     size-1 label only one operand has forces the loop).
 * Sampled entries of the result must match within float rounding. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Random values in [-1, 1) for n elements (caller frees). */
static double *random_values(int64_t n) {
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++) v[i] = tu_uniform(-1, 1);
    return v;
}

/* matmul(a, b) with the given transposes, its shapes and values; the
 * result's sampled entries against sums over the stored layouts. a is
 * [m, k] ([k, m] transposed) or [k] when m is 0; b is [k, n] ([n, k]) or
 * [k] when n is 0 (NumPy's vectors); batch > 1 prepends a batch dim to a. */
static void check_product(gr_dtype dt, int64_t batch, int64_t m, int64_t k, int64_t n, int ta, int tb, int samples) {
    gr_error err;
    gr_graph *g = gr_graph_new(dt, NULL);
    assert_non_null(g);
    gr_shape sa = m ? (ta ? tu_shape(2, k, m) : tu_shape(2, m, k)) : tu_shape(1, k);
    gr_shape sb = n ? (tb ? tu_shape(2, n, k) : tu_shape(2, k, n)) : tu_shape(1, k);
    if (batch > 1) {
        memmove(sa.dims + 1, sa.dims, (size_t)sa.rank * sizeof sa.dims[0]);
        sa.dims[0] = batch;
        sa.rank++;
    }
    int a = gr_graph_input(g, "a", &sa, &err), b = gr_graph_input(g, "b", &sb, &err);
    assert_true(a >= 0 && b >= 0);
    TU_OK(gr_graph_finalize(g, &err), err);
    gr_attrs at = {0};
    at.set = GR_ATTR_BIT(GR_ATTR_TRANSPOSE_A) | GR_ATTR_BIT(GR_ATTR_TRANSPOSE_B);
    at.transpose_a = ta;
    at.transpose_b = tb;
    int ops[2] = {a, b};
    int y = tu_apply(g, "matmul", ops, 2, &at);
    int64_t mm = m ? m : 1, nn = n ? n : 1;
    double *av = random_values(batch * mm * k), *bv = random_values(k * nn);
    tu_bind binds[2] = {{a, av}, {b, bv}};
    double *out = tu_eval1(g, binds, 2, y);
    for (int s = 0; s < samples; s++) {
        int64_t t = (int64_t)(tu_rand64() % (uint64_t)batch), i = (int64_t)(tu_rand64() % (uint64_t)mm);
        int64_t j = (int64_t)(tu_rand64() % (uint64_t)nn);
        double want = 0;
        for (int64_t q = 0; q < k; q++) {
            double x = av[t * mm * k + (ta ? q * mm + i : i * k + q)], w = bv[tb ? j * k + q : q * nn + j];
            want += x * w;
        }
        char what[128];
        snprintf(what, sizeof what, "%s [%lld] %lldx%lldx%lld ta=%d tb=%d C[%lld,%lld,%lld]", gr_dtype_name(dt),
                 (long long)batch, (long long)m, (long long)k, (long long)n, ta, tb, (long long)t, (long long)i,
                 (long long)j);
        tu_close(out[(t * mm + i) * nn + j], want, dt == GR_F32 ? 2e-3 : 1e-9, dt == GR_F32 ? 1e-4 : 1e-12, what);
    }
    free(out);
    free(av);
    free(bv);
    gr_graph_free(g);
}

/* 256 x 2048 x 4096 in float32: 4.3 GFLOP, tiled into column pieces of
 * 1024 of C's 4096. */
static void test_tiles_narrower_than_the_output(void **state) {
    (void)state;
    tu_seed(11);
    check_product(GR_F32, 1, 256, 2048, 4096, 0, 0, 200);
    check_product(GR_F32, 1, 256, 2048, 4096, 1, 1, 200);
}

static void test_vector_operands(void **state) {
    (void)state;
    tu_seed(12);
    for (int dt = 0; dt < 2; dt++) {
        gr_dtype d = dt ? GR_F32 : GR_F64;
        check_product(d, 1, 37, 53, 0, 0, 0, 37);  /* A @ v */
        check_product(d, 1, 37, 53, 0, 1, 0, 37);  /* A^T @ v */
        check_product(d, 1, 0, 53, 41, 0, 0, 41);  /* v @ B */
        check_product(d, 1, 0, 53, 41, 0, 1, 41);  /* v @ B^T */
        check_product(d, 1, 0, 53, 0, 0, 0, 1);    /* v @ v */
        check_product(d, 3, 7, 9, 0, 0, 0, 21);    /* batched A @ v */
        check_product(d, 1, 1, 64, 5, 1, 0, 5);    /* [1, k] stored as [k, 1], transposed */
        check_product(d, 1, 5, 64, 1, 0, 1, 5);    /* [k, 1] stored as [1, k], transposed */
    }
}

/* einsum's GEMM paths against its strided loop: each equation is run as
 * given and with a size-1 label 'z' appended to operand 0 (a label only one
 * operand has, which only the loop takes), in both dtypes. The equations
 * take the direct GEMM (with transposes or the swapped output) and the
 * permuted one (operands and output copied into GEMM's order); each has
 * at least ES_BLAS_MIN_WORK (512) multiply-adds per batch entry, below
 * which einsum keeps to the loop. */
typedef struct es_case {
    const char *eq, *eq_loop;
    gr_shape a, b;
} es_case;

static void test_einsum_gemm_matches_loop(void **state) {
    (void)state;
    const es_case cases[] = {
        {"ij,jk->ik", "ijz,jk->ik", {2, {19, 23}}, {2, {23, 17}}},
        {"ij,kj->ki", "ijz,kj->ki", {2, {19, 23}}, {2, {17, 23}}},
        {"bhqd,bkhd->bhqk", "bhqdz,bkhd->bhqk", {4, {2, 3, 9, 8}}, {4, {2, 10, 3, 8}}},
        {"ijk,jil->kl", "ijkz,jil->kl", {3, {6, 8, 5}}, {3, {8, 6, 7}}},
        {"bij,bjk->kbi", "bijz,bjk->kbi", {3, {2, 9, 8}}, {3, {2, 8, 10}}},
    };
    tu_seed(13);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int dt = 0; dt < 2; dt++) {
            gr_error err;
            gr_graph *g = gr_graph_new(dt ? GR_F32 : GR_F64, NULL);
            gr_shape sa1 = cases[c].a;
            sa1.dims[sa1.rank++] = 1;
            int a = gr_graph_input(g, "a", &cases[c].a, &err), a1 = gr_graph_input(g, "a1", &sa1, &err);
            int b = gr_graph_input(g, "b", &cases[c].b, &err);
            TU_OK(gr_graph_finalize(g, &err), err);
            gr_attrs at = {0};
            at.set = GR_ATTR_BIT(GR_ATTR_EQUATION);
            strcpy(at.equation, cases[c].eq);
            int ops[2] = {a, b}, outs[2];
            outs[0] = tu_apply(g, "einsum", ops, 2, &at);
            strcpy(at.equation, cases[c].eq_loop);
            ops[0] = a1;
            outs[1] = tu_apply(g, "einsum", ops, 2, &at);
            int64_t na = gr_node_numel(g, a), nb = gr_node_numel(g, b), ny = gr_node_numel(g, outs[0]);
            double *av = random_values(na), *bv = random_values(nb);
            tu_bind binds[3] = {{a, av}, {a1, av}, {b, bv}};
            double *out = tu_eval(g, binds, 3, outs, 2);
            for (int64_t i = 0; i < ny; i++)
                tu_close(out[i], out[ny + i], dt ? 1e-5 : 1e-13, dt ? 1e-5 : 1e-13, cases[c].eq);
            free(out);
            free(av);
            free(bv);
            gr_graph_free(g);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiles_narrower_than_the_output),
        cmocka_unit_test(test_vector_operands),
        cmocka_unit_test(test_einsum_gemm_matches_loop),
    };
    return cmocka_run_group_tests_name("linalg", tests, NULL, NULL);
}
