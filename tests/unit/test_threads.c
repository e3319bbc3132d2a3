/* test_threads.c -- the kernels that split across gr_set_threads' pool
 * (elementwise rows, broadcasting ones and reductions by slabs of a
 * dimension of their output, the vectorized float32 rows, softmax,
 * layer_norm and its backward, the convolutions' image chunks with their
 * per-thread workspace and partial weight sums, max pooling's planes,
 * batched matmuls and a matmul's blocks of rows and columns (with a bias too; their weight
 * gradients cut along the shared dim, the parts added in order), attention's
 * batch entries, softmax_backward's rows, concat's, the strided copies of
 * transpose and slice, cross_entropy's row groups) give the one-thread answer
 * with two threads, at sizes above the split threshold; a run with two
 * threads still stops at the cancel flag; and a parallel loop's parts
 * cover its range once, in as many parts as its rule says, taken by
 * whichever thread is free (a slot job's too, each in its thread's own
 * slot). */
#include "testutil.h"
#include "internal.h" /* gr_parallel_for */

#include <math.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kernel threads from here on: n (checked). */
static void use_threads(int n) {
    gr_error err;
    gr_error_clear(&err);
    TU_OK(gr_set_threads(n, &err), err);
}

/* The value and gradients (wrt each leaf) of sum(y * y) for y built by
 * build from the graph's n_leaves leaves of the given shapes, at fixed
 * random values, run with the given threads. Returns all outputs concatenated
 * (caller frees) and their count in *count. */
typedef int (*build_fn)(gr_graph *g, const int *leaves);

static double *run_case(int threads, const gr_shape *shapes, int n_leaves, build_fn build, int64_t *count) {
    use_threads(threads);
    gr_error err;
    gr_error_clear(&err);
    gr_graph *g = gr_graph_new(GR_F32, NULL);
    assert_non_null(g);
    int leaves[4], grads[4], outs[5];
    tu_bind binds[4];
    double *data[4];
    tu_seed(12345);
    for (int i = 0; i < n_leaves; i++) {
        char name[8] = {'p', (char)('0' + i), 0};
        leaves[i] = gr_graph_param(g, name, &shapes[i], &err);
        assert_true(leaves[i] >= 0);
    }
    TU_OK(gr_graph_finalize(g, &err), err);
    int y = build(g, leaves);
    int64_t total = 0;
    for (int i = 0; i < n_leaves; i++) {
        int64_t n = 1;
        for (int d = 0; d < shapes[i].rank; d++) n *= shapes[i].dims[d];
        data[i] = malloc((size_t)n * sizeof(double));
        for (int64_t j = 0; j < n; j++) data[i][j] = tu_uniform(-2, 2);
        binds[i] = (tu_bind){leaves[i], data[i]};
        total += n;
    }
    int loss = tu_op1(g, "sum", tu_op2(g, "mul", y, y));
    TU_OK(gr_grad(g, loss, leaves, n_leaves, grads, &err), err);
    outs[0] = loss;
    memcpy(outs + 1, grads, (size_t)n_leaves * sizeof *grads);
    double *v = tu_eval(g, binds, n_leaves, outs, n_leaves + 1);
    *count = 1 + total;
    for (int i = 0; i < n_leaves; i++) free(data[i]);
    gr_graph_free(g);
    return v;
}

/* The same case with one and with two threads: equal within float32's
 * rounding of sums taken in another order. */
static void same_with_two_threads(const char *what, const gr_shape *shapes, int n_leaves, build_fn build) {
    int64_t n1, n2;
    double *one = run_case(1, shapes, n_leaves, build, &n1);
    double *two = run_case(2, shapes, n_leaves, build, &n2);
    assert_int_equal(n1, n2);
    double scale = 0;
    for (int64_t i = 0; i < n1; i++) scale = fmax(scale, fabs(one[i]));
    for (int64_t i = 0; i < n1; i++) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s: output element %lld", what, (long long)i);
        tu_close(two[i], one[i], 1e-5 * scale, 1e-4, msg);
    }
    free(one);
    free(two);
    use_threads(1);
}

static int build_elementwise(gr_graph *g, const int *p) {
    gr_attrs tanh_form = {0};
    tanh_form.set = GR_ATTR_BIT(GR_ATTR_APPROXIMATE);
    strcpy(tanh_form.approximate, "tanh");
    int e = tu_op1(g, "exp", tu_op2(g, "mul", p[0], p[1]));
    int gl = tu_op1(g, "gelu", p[0]);
    int gt = tu_apply(g, "gelu", &p[1], 1, &tanh_form);
    return tu_op2(g, "add", tu_op2(g, "add", e, tu_op1(g, "erf", gl)), gt);
}

/* Broadcasting: a bias over rows, a column over columns, an outer sum. */
static int build_broadcast(gr_graph *g, const int *p) {
    int bias = tu_op2(g, "add", p[0], p[1]);     /* [600, 500] + [500] */
    int col = tu_op2(g, "mul", bias, p[2]);      /* * [600, 1] */
    return tu_op2(g, "sub", col, tu_op2(g, "mul", p[2], p[1])); /* - [600, 1] * [500] */
}

/* Reductions along a kept outer dim and a kept inner one: sum over the
 * rows (a bias gradient), max along each row (ties: the one-thread rule). */
static int build_reductions(gr_graph *g, const int *p) {
    gr_attrs rows = {0}, cols = {0};
    gr_attrs_set_int(&rows, GR_ATTR_AXIS, 0);
    gr_attrs_set_int(&cols, GR_ATTR_AXIS, 1);
    int sq = tu_op2(g, "mul", p[0], p[0]);
    int s0 = tu_apply(g, "sum", &sq, 1, &rows);  /* [500] */
    int m1 = tu_apply(g, "max", &sq, 1, &cols);  /* [600] */
    return tu_op2(g, "add", tu_apply(g, "sum", &s0, 1, NULL), tu_apply(g, "sum", &m1, 1, NULL));
}

static int build_rows(gr_graph *g, const int *p) {
    int ln_ops[3] = {p[0], p[1], p[2]};
    int ln = tu_apply(g, "layer_norm", ln_ops, 3, NULL);
    return tu_op1(g, "softmax", tu_op2(g, "mul", ln, ln));
}

static int build_conv(gr_graph *g, const int *p) {
    gr_attrs pad = {0};
    int64_t one = 1;
    gr_error err;
    gr_error_clear(&err);
    TU_OK(gr_attrs_set_ints(&pad, GR_ATTR_PADDING, &one, 1, &err), err);
    gr_attrs pool = {0};
    int64_t two = 2;
    TU_OK(gr_attrs_set_ints(&pool, GR_ATTR_KERNEL_SIZE, &two, 1, &err), err);
    int ops[2] = {p[0], p[1]};
    int h = tu_op1(g, "relu", tu_apply(g, "conv2d", ops, 2, &pad));
    return tu_apply(g, "max_pool2d", &h, 1, &pool);
}

static int build_batched_matmul(gr_graph *g, const int *p) { return tu_op2(g, "matmul", p[0], p[1]); }

/* A linear layer: the GEMM fused with its bias, each thread's rows
 * starting as the bias row. */
static int build_linear(gr_graph *g, const int *p) { return tu_op2(g, "add", tu_op2(g, "matmul", p[0], p[1]), p[2]); }

/* Causal attention: its forward kernel and, in the gradient, the
 * probabilities' and softmax_backward's kernels, each over the batch
 * entries or rows. */
static int build_attention(gr_graph *g, const int *p) {
    gr_attrs causal = {0};
    causal.set = GR_ATTR_BIT(GR_ATTR_IS_CAUSAL);
    causal.is_causal = 1;
    int ops[3] = {p[0], p[1], p[2]};
    return tu_apply(g, "scaled_dot_product_attention", ops, 3, &causal);
}

static void test_elementwise(void **state) {
    (void)state;
    gr_shape s[2] = {tu_shape(1, 300001), tu_shape(1, 300001)};
    same_with_two_threads("elementwise", s, 2, build_elementwise);
}

static void test_broadcast(void **state) {
    (void)state;
    gr_shape s[3] = {tu_shape(2, 600, 500), tu_shape(1, 500), tu_shape(2, 600, 1)};
    same_with_two_threads("broadcasting binary ops", s, 3, build_broadcast);
}

static void test_reductions(void **state) {
    (void)state;
    gr_shape s[1] = {tu_shape(2, 600, 500)};
    same_with_two_threads("sum over rows, max along rows", s, 1, build_reductions);
}

/* A bias gradient, [13, 16, 30, 30] summed to [16, 1, 1] (sum_to in 8
 * parts of the 13 images, uneven, each into a partial added in part
 * order), and the loss summed to one element the same way: the same bits
 * with one and two threads, and the sums a double loop gives. */
static double *bias_case(int threads, const double *x, const double *b) {
    use_threads(threads);
    gr_error err;
    gr_error_clear(&err);
    gr_graph *g = gr_graph_new(GR_F32, NULL);
    assert_non_null(g);
    gr_shape sx = tu_shape(4, 13, 16, 30, 30), sb = tu_shape(3, 16, 1, 1);
    int px = gr_graph_param(g, "x", &sx, &err), pb = gr_graph_param(g, "b", &sb, &err);
    assert_true(px >= 0 && pb >= 0);
    TU_OK(gr_graph_finalize(g, &err), err);
    int y = tu_op2(g, "add", px, pb);
    int loss = tu_op1(g, "sum", tu_op2(g, "mul", y, y)), gb;
    TU_OK(gr_grad(g, loss, &pb, 1, &gb, &err), err);
    tu_bind binds[2] = {{px, x}, {pb, b}};
    int outs[2] = {loss, gb};
    double *v = tu_eval(g, binds, 2, outs, 2);
    gr_graph_free(g);
    use_threads(1);
    return v;
}

static void test_bias_gradient_in_parts(void **state) {
    (void)state;
    enum { N = 13, C = 16, P = 900 };
    double *x = malloc(sizeof(double) * N * C * P), b[C];
    assert_non_null(x);
    tu_seed(777);
    for (int64_t i = 0; i < N * C * P; i++) x[i] = (float)tu_uniform(-2, 2);
    for (int c = 0; c < C; c++) b[c] = (float)tu_uniform(-1, 1);
    double *one = bias_case(1, x, b), *two = bias_case(2, x, b);
    assert_memory_equal(one, two, sizeof(double) * (1 + C));
    double loss = 0;
    for (int c = 0; c < C; c++) {
        double gb = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < P; i++) {
                double y = (double)(float)(x[(n * C + c) * P + i] + b[c]);
                gb += 2 * y;
                loss += y * y;
            }
        tu_close(one[1 + c], gb, 1e-6 * N * P, 1e-5, "the bias gradient");
    }
    tu_close(one[0], loss, 0, 1e-5, "the loss");
    free(one);
    free(two);
    free(x);
}

/* concat along the last axis (q, k and v's gradients into qkv's): the
 * outer rows shared by the threads. */
static int build_concat(gr_graph *g, const int *p) {
    gr_attrs at = {0};
    at.set = GR_ATTR_BIT(GR_ATTR_AXIS);
    at.axis = 1;
    int ops[3] = {tu_op1(g, "tanh", p[0]), p[1], p[2]};
    return tu_apply(g, "concat", ops, 3, &at);
}

static void test_concat(void **state) {
    (void)state;
    gr_shape s[3] = {tu_shape(2, 700, 128), tu_shape(2, 700, 64), tu_shape(2, 700, 128)};
    same_with_two_threads("concat", s, 3, build_concat);
}

/* Copies shared by slabs of their output (transpose, a reversing and
 * strided slice), then cross_entropy's rows in fixed groups, with class
 * labels (argmax) and with probability targets. */
static int build_copies_and_cross_entropy(gr_graph *g, const int *p) {
    gr_attrs perm = {0}, cut = {0}, rows = {0}, last = {0};
    gr_error err;
    gr_error_clear(&err);
    int64_t order[3] = {1, 0, 2}, starts[2] = {-1, 1}, ends[2] = {-65, 96}, axes[2] = {0, 2}, steps[2] = {-1, 2},
            flat[2] = {2048, 48};
    TU_OK(gr_attrs_set_ints(&perm, GR_ATTR_PERM, order, 3, &err), err);
    TU_OK(gr_attrs_set_ints(&cut, GR_ATTR_STARTS, starts, 2, &err), err);
    TU_OK(gr_attrs_set_ints(&cut, GR_ATTR_ENDS, ends, 2, &err), err);
    TU_OK(gr_attrs_set_ints(&cut, GR_ATTR_AXES, axes, 2, &err), err);
    TU_OK(gr_attrs_set_ints(&cut, GR_ATTR_STEPS, steps, 2, &err), err);
    TU_OK(gr_attrs_set_ints(&rows, GR_ATTR_SHAPE, flat, 2, &err), err);
    gr_attrs_set_int(&last, GR_ATTR_AXIS, 1);
    int t = tu_apply(g, "transpose", &p[0], 1, &perm);         /* [64, 32, 96] */
    int s = tu_apply(g, "slice", &t, 1, &cut);                 /* [64, 32, 48], axis 0 reversed */
    int logits = tu_apply(g, "reshape", &s, 1, &rows);         /* [2048, 48] */
    int labels = tu_apply(g, "argmax", &p[1], 1, &last);       /* [2048] */
    int probs = tu_apply(g, "softmax", &p[1], 1, &last);
    int by_class[2] = {logits, labels}, by_probs[2] = {logits, probs};
    return tu_op2(g, "add", tu_apply(g, "cross_entropy", by_class, 2, NULL),
                  tu_apply(g, "cross_entropy", by_probs, 2, NULL));
}

static void test_copies_and_cross_entropy(void **state) {
    (void)state;
    gr_shape s[2] = {tu_shape(3, 32, 64, 96), tu_shape(2, 2048, 48)};
    same_with_two_threads("transpose, slice, cross_entropy", s, 2, build_copies_and_cross_entropy);
}

static void test_softmax_and_layer_norm(void **state) {
    (void)state;
    gr_shape s[3] = {tu_shape(2, 512, 257), tu_shape(1, 257), tu_shape(1, 257)};
    same_with_two_threads("layer_norm + softmax", s, 3, build_rows);
}

static void test_conv2d(void **state) {
    (void)state;
    gr_shape s[2] = {tu_shape(4, 16, 3, 32, 32), tu_shape(4, 8, 3, 3, 3)};
    same_with_two_threads("conv2d + max_pool2d", s, 2, build_conv);
}

/* One product big enough to be shared by rows (its gradient's products
 * read a transposed operand each). */
static void test_matmul_by_rows(void **state) {
    (void)state;
    gr_shape s[2] = {tu_shape(2, 300, 200), tu_shape(2, 200, 150)};
    same_with_two_threads("matmul shared by rows", s, 2, build_batched_matmul);
}

static void test_linear_by_rows(void **state) {
    (void)state;
    gr_shape s[3] = {tu_shape(2, 300, 200), tu_shape(2, 200, 150), tu_shape(1, 150)};
    same_with_two_threads("matmul + bias shared by rows", s, 3, build_linear);
}

/* Wide enough to be cut by columns too: a block's B (and B^T in the
 * gradient) starts at its first column, its bias row at that column. */
static void test_linear_by_blocks(void **state) {
    (void)state;
    gr_shape s[3] = {tu_shape(2, 300, 260), tu_shape(2, 260, 300), tu_shape(1, 300)};
    same_with_two_threads("matmul + bias shared by blocks", s, 3, build_linear);
}

/* op(A) = A^T and op(B) = B^T, the shared dim big enough to be cut: the
 * forward product itself goes by parts of k (B's offset a column, not a
 * row), and so do its gradients' A^T products. */
static int build_transposed_matmul(gr_graph *g, const int *p) {
    gr_attrs at = {0};
    at.set = GR_ATTR_BIT(GR_ATTR_TRANSPOSE_A) | GR_ATTR_BIT(GR_ATTR_TRANSPOSE_B);
    at.transpose_a = at.transpose_b = 1;
    int ops[2] = {p[0], p[1]};
    return tu_apply(g, "matmul", ops, 2, &at);
}

static void test_matmul_transposed_by_k(void **state) {
    (void)state;
    gr_shape s[2] = {tu_shape(2, 300, 200), tu_shape(2, 150, 300)}; /* A [k, m], B [n, k] */
    same_with_two_threads("A^T B^T cut along k", s, 2, build_transposed_matmul);
}

static void test_batched_matmul(void **state) {
    (void)state;
    gr_shape s[2] = {tu_shape(4, 5, 4, 24, 16), tu_shape(4, 5, 4, 16, 24)};
    same_with_two_threads("batched matmul", s, 2, build_batched_matmul);
}

static void test_attention(void **state) {
    (void)state;
    gr_shape s[3] = {tu_shape(4, 3, 4, 64, 16), tu_shape(4, 3, 4, 64, 16), tu_shape(4, 3, 4, 64, 16)};
    same_with_two_threads("causal attention", s, 3, build_attention);
}

static void test_set_threads_checks_its_argument(void **state) {
    (void)state;
    gr_error err;
    gr_error_clear(&err);
    assert_int_equal(gr_set_threads(0, &err), GR_E_ARG);
    assert_int_equal(gr_set_threads(65, &err), GR_E_ARG);
    use_threads(1);
    assert_int_equal(gr_threads(), 1);
}

/* A raised flag stops a two-thread run: each part looks at it. */
static void test_two_threads_stop_at_the_flag(void **state) {
    (void)state;
    use_threads(2);
    gr_error err;
    gr_error_clear(&err);
    gr_graph *g = gr_graph_new(GR_F32, NULL);
    gr_shape s = tu_shape(1, 1 << 20);
    int x = gr_graph_input(g, "x", &s, &err);
    TU_OK(gr_graph_finalize(g, &err), err);
    int y = tu_op1(g, "exp", x);
    gr_exec *e = gr_compile(g, &y, 1, &err);
    assert_non_null(e);
    float *xd = calloc(1 << 20, sizeof *xd);
    TU_OK(gr_exec_bind(e, x, xd, &err), err);
    volatile int flag = 1;
    gr_exec_set_cancel(e, &flag);
    assert_int_equal(gr_exec_run(e, &err), GR_E_CANCELLED);
    free(xd);
    gr_exec_free(e);
    gr_graph_free(g);
    use_threads(1);
}

/* What the parts of one parallel loop did. */
enum { LOG_N = 1000 };
typedef struct parts_log {
    atomic_int covered[LOG_N]; /* times index i was in a part */
    atomic_int calls;
    atomic_int slow_done;      /* the slow part has finished */
    atomic_int while_slow;     /* parts that finished while the slow one ran */
} parts_log;

/* A part: the one starting at 0 takes 200 ms, the others count whether
 * they ran meanwhile (the other thread took them all). */
static void log_part(void *ctx, int64_t i0, int64_t i1) {
    parts_log *L = ctx;
    if (i0 == 0) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        atomic_store(&L->slow_done, 1);
    } else if (!atomic_load(&L->slow_done)) {
        atomic_fetch_add(&L->while_slow, 1);
    }
    for (int64_t i = i0; i < i1; i++) atomic_fetch_add(&L->covered[i], 1);
    atomic_fetch_add(&L->calls, 1);
}

static void test_parts_are_taken_by_the_free_thread(void **state) {
    (void)state;
    use_threads(2);
    static parts_log L;
    memset(&L, 0, sizeof L);
    gr_parallel_for(LOG_N, 10, log_part, &L); /* 100 parts of 10 allowed: 4 per thread */
    assert_int_equal(atomic_load(&L.calls), 8);
    for (int i = 0; i < LOG_N; i++) assert_int_equal(atomic_load(&L.covered[i]), 1);
    /* the seven others ran on the other thread while the first slept */
    assert_int_equal(atomic_load(&L.while_slow), 7);
    memset(&L, 0, sizeof L);
    gr_parallel_for_gemms(LOG_N, 10, log_part, &L); /* BLAS parts: one per thread */
    assert_int_equal(atomic_load(&L.calls), 2);
    for (int i = 0; i < LOG_N; i++) assert_int_equal(atomic_load(&L.covered[i]), 1);
    memset(&L, 0, sizeof L);
    gr_parallel_for(50, 10, log_part, &L); /* 5 parts of 10 allowed: 4, as many in each thread's block */
    assert_int_equal(atomic_load(&L.calls), 4);
    for (int i = 0; i < 50; i++) assert_int_equal(atomic_load(&L.covered[i]), 1);
    memset(&L, 0, sizeof L);
    gr_parallel_for(15, 10, log_part, &L); /* under two grains: one part */
    assert_int_equal(atomic_load(&L.calls), 1);
    use_threads(1);
}

/* A slot job's part: logged as log_part does, and checked to run in a
 * slot of the job's [0, slots) that no other part holds meanwhile. */
typedef struct slot_log {
    parts_log parts;
    int64_t slots;
    atomic_int busy[4];   /* a part is running in slot s */
    atomic_int used[4];   /* parts run in slot s */
    atomic_int clashes;   /* parts that found their slot busy, or out of range */
} slot_log;

static void slot_log_part(void *ctx, int64_t i0, int64_t i1) {
    slot_log *L = ctx;
    int s = gr_parallel_slot();
    if (s < 0 || s >= L->slots || atomic_exchange(&L->busy[s], 1) != 0) {
        atomic_fetch_add(&L->clashes, 1);
        return;
    }
    log_part(&L->parts, i0, i1);
    atomic_fetch_add(&L->used[s], 1);
    atomic_store(&L->busy[s], 0);
}

/* The thread on a slow core (here: the part that sleeps) holds up only
 * its part: the other thread takes all the others, its own block's and
 * then the slow thread's (a job cut in one part per thread, as the
 * convolutions' were, lasts as long as the slow half). Each part runs in
 * its thread's slot, at most `slots` threads take part, and a slot job
 * started inside a part runs alone in slot 0. */
static void nested_slot_part(void *ctx, int64_t i0, int64_t i1) {
    slot_log *L = ctx;
    (void)i0, (void)i1;
    slot_log inner;
    memset(&inner, 0, sizeof inner);
    inner.slots = 2;
    gr_parallel_for_slots(LOG_N, 10, 2, slot_log_part, &inner);
    if (atomic_load(&inner.parts.calls) != 1 || atomic_load(&inner.used[0]) != 1 || atomic_load(&inner.clashes) != 0)
        atomic_fetch_add(&L->clashes, 1);
}

/* Parts of a job over [0, 22) whose range crosses 11, the middle. */
typedef struct halves_log {
    atomic_int calls, straddles;
} halves_log;

static void halves_part(void *ctx, int64_t i0, int64_t i1) {
    halves_log *L = ctx;
    atomic_fetch_add(&L->calls, 1);
    if (i0 < 11 && i1 > 11) atomic_fetch_add(&L->straddles, 1);
}

/* Each thread's own block of parts is its half of the range, whatever
 * the part sizes: 22 chunks in 16 parts are 8 parts over [0, 11) and 8
 * over [11, 22) (cut as 16 parts of [0, 22), the first block held 14
 * chunks and its sixth part crossed the middle). */
static void test_blocks_are_equal_slabs(void **state) {
    (void)state;
    use_threads(2);
    static halves_log H;
    memset(&H, 0, sizeof H);
    gr_parallel_for_slots(22, 1, 2, halves_part, &H);
    assert_int_equal(atomic_load(&H.calls), 16);
    assert_int_equal(atomic_load(&H.straddles), 0);
    use_threads(1);
}

static void test_slot_jobs_go_to_the_free_thread(void **state) {
    (void)state;
    use_threads(2);
    static slot_log L;
    memset(&L, 0, sizeof L);
    L.slots = 2;
    gr_parallel_for_slots(LOG_N, 10, 2, slot_log_part, &L); /* 100 parts of 10 allowed: 8 per thread */
    assert_int_equal(atomic_load(&L.clashes), 0);
    assert_int_equal(atomic_load(&L.parts.calls), 16);
    for (int i = 0; i < LOG_N; i++) assert_int_equal(atomic_load(&L.parts.covered[i]), 1);
    assert_int_equal(atomic_load(&L.parts.while_slow), 15);
    assert_int_equal(atomic_load(&L.used[0]) + atomic_load(&L.used[1]), 16);

    use_threads(3); /* more threads than slots: two take part */
    memset(&L, 0, sizeof L);
    L.slots = 2;
    gr_parallel_for_slots(LOG_N, 10, 2, slot_log_part, &L);
    assert_int_equal(atomic_load(&L.clashes), 0);
    assert_int_equal(atomic_load(&L.parts.calls), 16);
    for (int i = 0; i < LOG_N; i++) assert_int_equal(atomic_load(&L.parts.covered[i]), 1);

    memset(&L, 0, sizeof L); /* one slot: the caller alone, one part */
    L.slots = 1;
    gr_parallel_for_slots(LOG_N, 10, 1, slot_log_part, &L);
    assert_int_equal(atomic_load(&L.clashes), 0);
    assert_int_equal(atomic_load(&L.parts.calls), 1);
    assert_int_equal(atomic_load(&L.used[0]), 1);

    memset(&L, 0, sizeof L); /* a slot job inside a worker's part */
    L.slots = 2;
    gr_parallel_for_slots(4, 1, 2, nested_slot_part, &L);
    assert_int_equal(atomic_load(&L.clashes), 0);
    use_threads(1);
}

/* Many short jobs in a row, on three threads: every part of every job runs
 * exactly once, whichever thread is awake, asleep or late (a worker that
 * wakes after its job is over must not run a part of the next one twice
 * or skip it). */
typedef struct count_log {
    atomic_int covered[64];
} count_log;

static void count_part(void *ctx, int64_t i0, int64_t i1) {
    count_log *L = ctx;
    for (int64_t i = i0; i < i1; i++) atomic_fetch_add(&L->covered[i], 1);
}

static void test_many_short_jobs(void **state) {
    (void)state;
    use_threads(3);
    static count_log L;
    for (int job = 0; job < 20000; job++) {
        memset(&L, 0, sizeof L);
        int64_t n = 1 + job % 64;
        if (job % 3 == 2) gr_parallel_for_gemms(n, 1, count_part, &L);
        else if (job % 6 == 1) gr_parallel_for_slots(n, 1, 1 + job % 4, count_part, &L);
        else gr_parallel_for(n, 1 + job % 5, count_part, &L);
        for (int64_t i = 0; i < 64; i++) assert_int_equal(atomic_load(&L.covered[i]), i < n ? 1 : 0);
        if (job % 4000 == 3999) { /* let the workers fall asleep now and then */
            struct timespec ts = {0, 2 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    use_threads(1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_broadcast),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_bias_gradient_in_parts),
        cmocka_unit_test(test_matmul_transposed_by_k),
        cmocka_unit_test(test_softmax_and_layer_norm),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_copies_and_cross_entropy),
        cmocka_unit_test(test_conv2d),
        cmocka_unit_test(test_batched_matmul),
        cmocka_unit_test(test_matmul_by_rows),
        cmocka_unit_test(test_linear_by_rows),
        cmocka_unit_test(test_linear_by_blocks),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_set_threads_checks_its_argument),
        cmocka_unit_test(test_two_threads_stop_at_the_flag),
        cmocka_unit_test(test_parts_are_taken_by_the_free_thread),
        cmocka_unit_test(test_slot_jobs_go_to_the_free_thread),
        cmocka_unit_test(test_blocks_are_equal_slabs),
        cmocka_unit_test(test_many_short_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
