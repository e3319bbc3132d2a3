/* linalg.c -- matmul through cblas_sgemm/cblas_dgemm (cblas_?gemv when the
 * product is a matrix times a vector). Transposes are BLAS flags, never
 * copies; leading (batch) dims broadcast like NumPy's matmul, and one GEMM
 * runs per batch entry. 1-D operands are NumPy's: a row or a column.
 * And outer, the product of two vectors. */
#include "ops.h"

#include <cblas.h>
#include <string.h>

extern const gr_op gr_op_outer; /* defined below; its derivative builds it */

/* Rows and columns of an operand as the product sees it. */
typedef struct mm_dims {
    int64_t m, n, k;        /* out is (m, n); the shared dim is k */
    int64_t a_rows, a_cols; /* stored matrix of a */
    int64_t b_rows, b_cols; /* stored matrix of b */
    int64_t c_cols;         /* row length of the whole output (n); a tile of it keeps it */
} mm_dims;

static mm_dims mm_dims_of(const gr_shape *a, const gr_shape *b, const gr_attrs *at) {
    mm_dims d;
    d.a_rows = a->dims[a->rank - 2];
    d.a_cols = a->dims[a->rank - 1];
    d.b_rows = b->dims[b->rank - 2];
    d.b_cols = b->dims[b->rank - 1];
    d.m = at->transpose_a ? d.a_cols : d.a_rows;
    d.k = at->transpose_a ? d.a_rows : d.a_cols;
    d.n = at->transpose_b ? d.b_rows : d.b_cols;
    d.c_cols = d.n;
    return d;
}

/* NumPy's matmul of vectors: a 1-D a is the matrix [1, k] and a 1-D b the
 * matrix [k, 1]; the result drops that 1 again. The promoted shapes have
 * the same memory layout, so the kernels only ever see matrices. */
static void mm_promote(const gr_shape *a, const gr_shape *b, gr_shape *pa, gr_shape *pb) {
    *pa = *a;
    *pb = *b;
    if (a->rank == 1) {
        pa->rank = 2;
        pa->dims[0] = 1;
        pa->dims[1] = a->dims[0];
    }
    if (b->rank == 1) {
        pb->rank = 2;
        pb->dims[1] = 1;
    }
}

/* The promoted output shape of matmul node n (its shape with the dropped
 * 1s back in place). */
static gr_shape mm_promoted_out(const gr_graph *g, const gr_node *n) {
    gr_shape o = n->shape;
    int a1 = g->nodes[n->in[0]].shape.rank == 1, b1 = g->nodes[n->in[1]].shape.rank == 1;
    if (a1 && b1) {
        o.rank = 2;
        o.dims[0] = o.dims[1] = 1;
    } else if (a1) { /* [..., n] -> [..., 1, n] */
        o.dims[o.rank] = o.dims[o.rank - 1];
        o.dims[o.rank - 1] = 1;
        o.rank++;
    } else if (b1) { /* [..., m] -> [..., m, 1] */
        o.dims[o.rank++] = 1;
    }
    return o;
}

static gr_status matmul_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *a0 = IN_SHAPE(g, id, 0), *b0 = IN_SHAPE(g, id, 1);
    const gr_attrs *at = g->nodes[id].attrs;
    char sa[160], sb[160];
    for (int k = 0; k < 2; k++)
        if ((k ? b0 : a0)->rank < 1)
            return gr_fail_op(g, err, GR_E_SHAPE, id, k, NULL, "operand %d is a scalar; matmul needs rank >= 1", k);
    if ((a0->rank == 1 && at->transpose_a) || (b0->rank == 1 && at->transpose_b))
        return gr_fail_op(g, err, GR_E_ARG, id, a0->rank == 1 && at->transpose_a ? 0 : 1,
                          a0->rank == 1 && at->transpose_a ? "transpose_a" : "transpose_b",
                          "a 1-D operand has no transpose");
    gr_shape pa, pb;
    mm_promote(a0, b0, &pa, &pb);
    const gr_shape *a = &pa, *b = &pb;
    mm_dims d = mm_dims_of(a, b, at);
    int64_t kb = g->nodes[id].attrs->transpose_b ? d.b_cols : d.b_rows;
    if (d.k != kb)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL, "inner dimensions differ: %s @ %s (%lld vs %lld)",
                       gr_shape_str(a, sa, sizeof sa), gr_shape_str(b, sb, sizeof sb), (long long)d.k, (long long)kb);
    /* OpenBLAS's blasint is 32-bit here. */
    const int64_t blas_max = INT32_MAX;
    if (d.m > blas_max || d.n > blas_max || d.k > blas_max)
        return gr_fail_op(g, err, GR_E_LIMIT, id, -1, NULL, "a matrix dimension is 2^31 or more");
    gr_shape ba = *a, bb = *b, batch;
    ba.rank -= 2;
    bb.rank -= 2;
    if (gr_shape_broadcast(&ba, &bb, &batch, NULL) != GR_OK)
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL, "batch dimensions of %s and %s do not broadcast",
                       gr_shape_str(a, sa, sizeof sa), gr_shape_str(b, sb, sizeof sb));
    if (batch.rank + 2 > GR_MAX_RANK) return gr_fail_op(g, err, GR_E_LIMIT, id, -1, NULL, "result rank too large");
    if (a0->rank > 1) batch.dims[batch.rank++] = d.m;
    if (b0->rank > 1) batch.dims[batch.rank++] = d.n;
    return gr_node_set_shape(g, id, &batch, err);
}

/* c (+)= op(a) @ op(b) where the product has one column (n = 1: op(a) x)
 * or one row (m = 1: op(b)^T x), with the vector operand and c contiguous
 * (gemm() checks); lda and ldb are gemm()'s. */
static void gemv(gr_dtype dt, const gr_attrs *at, const mm_dims *d, const void *a, const void *b, void *c, int beta,
                 blasint lda, blasint ldb) {
    const void *mat = a, *vec = b;
    blasint rows = (blasint)(at->transpose_a ? d->k : d->m), cols = (blasint)(at->transpose_a ? d->m : d->k);
    blasint ld = lda;
    enum CBLAS_TRANSPOSE t = at->transpose_a ? CblasTrans : CblasNoTrans;
    if (d->n != 1) { /* m = 1: c^T = op(b)^T a^T */
        mat = b;
        vec = a;
        rows = (blasint)(at->transpose_b ? d->n : d->k);
        cols = (blasint)(at->transpose_b ? d->k : d->n);
        ld = ldb;
        t = at->transpose_b ? CblasNoTrans : CblasTrans;
    }
    if (dt == GR_F32)
        cblas_sgemv(CblasRowMajor, t, rows, cols, 1.0f, mat, ld, vec, 1, (float)beta, c, 1);
    else
        cblas_dgemv(CblasRowMajor, t, rows, cols, 1.0, mat, ld, vec, 1, (double)beta, c, 1);
}

static void gemm(gr_dtype dt, const gr_attrs *at, const mm_dims *d, const void *a, const void *b, void *c, int beta) {
    enum CBLAS_TRANSPOSE ta = at->transpose_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = at->transpose_b ? CblasTrans : CblasNoTrans;
    /* Leading dims must be >= 1 even for empty matrices. */
    blasint lda = (blasint)(d->a_cols > 1 ? d->a_cols : 1), ldb = (blasint)(d->b_cols > 1 ? d->b_cols : 1);
    blasint ldc = (blasint)(d->c_cols > 1 ? d->c_cols : 1);
    /* A matrix times a vector (1-D operands): GEMV, no packing. The
     * vector and c must be contiguous, which a tile of a wider product's
     * column or a transposed a's column is not. */
    if ((d->n == 1 && d->c_cols == 1) || (d->m == 1 && (!at->transpose_a || d->a_cols == 1))) {
        gemv(dt, at, d, a, b, c, beta, lda, ldb);
        return;
    }
    if (dt == GR_F32)
        gr_sgemm(at->transpose_a, at->transpose_b, d->m, d->n, d->k, 1.0f, a, lda, b, ldb, (float)beta, c, ldc);
    else
        cblas_dgemm(CblasRowMajor, ta, tb, (blasint)d->m, (blasint)d->n, (blasint)d->k, 1.0, a, lda, b, ldb, (double)beta, c,
                    ldc);
}

/* A product of up to GEMM_SPLIT_FLOPS (about 25 ms at 85 GFLOP/s, one
 * thread) is one BLAS call. A larger one runs as tiles of C (rows x cols,
 * the shared dim cut in pieces of at most GEMM_TILE_K) of about
 * GEMM_TILE_FLOPS each, about 13 ms, with a look at the cancel flag
 * between two tiles. Tiles this size run at the speed of one big call
 * (measured with OpenBLAS 0.3.21: 4096^3 sgemm in 512x1024x1024 tiles at
 * 90 GFLOP/s, as one call). */
#define GEMM_SPLIT_FLOPS ((double)(1ll << 31))
#define GEMM_TILE_FLOPS ((double)(1ll << 30))
/* A product of between these many flops (and 64 rows or more) is shared
 * among the kernel threads by rows, one BLAS thread each, when there are
 * several: OpenBLAS's own threads scale less on products this small (the
 * gpt-step workload's, 50-70 Mflop: 2 threads took 0.77x of one thread's
 * time with OpenBLAS's split, 0.69x with this one); bigger ones keep them
 * (mlp-wide-step's 1 Gflop products: 0.53x with OpenBLAS's, 0.61x by rows). */
#define GEMM_ROWS_SPLIT_FLOPS 1e6
#define GEMM_ROWS_SPLIT_MAX_FLOPS 3e8
#define GEMM_TILE_K 2048
#define GEMM_TILE_N 1024

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* c (+)= op(a) @ op(b) like gemm(), in tiles when the product is large;
 * stops between two tiles once *cancel is raised. */
/* One GEMM's blocks of C shared by the kernel threads (blocks_part). */
typedef struct blocks_job {
    gr_dtype dt;
    const gr_attrs *at;
    const mm_dims *d;
    const void *a, *b;
    void *c;
    int beta;
    const void *row; /* [n]: C's rows start as it (beta 1), or NULL */
    int64_t row_blocks, col_blocks;
    float *packed;         /* each slot's op(B) packed whole (gr_sgemm_avx512_pack_b), packed_floats apart, or NULL */
    int64_t packed_floats;
    unsigned char ready[GR_THREADS_MAX]; /* slot s has packed its copy in this job */
} blocks_job;

/* rows rows of n elements at c, each a copy of row. */
static void fill_rows(void *c, const void *row, int64_t rows, int64_t n, size_t esz) {
    for (int64_t r = 0; r < rows; r++) memcpy((char *)c + (size_t)(r * n) * esz, row, (size_t)n * esz);
}

/* ---- a product shared by blocks of C --------------------------------------
 * C cut in row_blocks x col_blocks blocks, each the same GEMM on its slab
 * of op(A), its columns of op(B) and its block of C, which starts as the
 * bias row when there is one (written by the thread that reads it back).
 * Each element of C is one GEMM's sum whoever computes it. The blocks are
 * handed out as threads come free (a core slowed by another tenant takes
 * fewer), rows first, so that a thread's own blocks are rows it wrote in
 * the kernels before. A block packs its own op(B) columns: rows and
 * columns of at least GEMM_BLOCK_MIN keep that within a few percent (one
 * thread, op(B) [128, 384]: 150 GFLOP/s by 64 rows, 167 by 128, 170 by
 * 512). */
#define GEMM_BLOCK_MIN 128
#define GEMM_BLOCKS_PER_THREAD 8
#define GEMM_MIN_BLOCKS_PER_THREAD 4
/* With op(B) packed whole (float32 on libgrad's kernel), a block packs
 * only its rows of op(A): blocks of 48 rows (four of the kernel's tiles)
 * and 128 columns cost no more than big ones. At most
 * GEMM_PACKED_MAX_BYTES of packed op(B) per thread, in the matmul's
 * workspace. */
#define GEMM_PACKED_MIN_ROWS 48
#define GEMM_PACKED_MAX_BYTES (16ll << 20)

static void blocks_of(const mm_dims *d, int64_t threads, int64_t min_rows, int64_t *row_blocks, int64_t *col_blocks) {
    int64_t want = threads * GEMM_BLOCKS_PER_THREAD, rb_max = d->m / min_rows, cb_max = d->n / GEMM_BLOCK_MIN;
    int64_t best_rb = 0, best_cb = 1;
    if (rb_max > want) rb_max = want;
    if (cb_max < 1) cb_max = 1;
    /* A multiple of the thread count, up to want blocks (each thread's
     * own share the same number, one a part): the fewest column blocks
     * (each packs its rows of op(A) again) that give every thread
     * GEMM_MIN_BLOCKS_PER_THREAD, then the most blocks. */
    for (int64_t cb = 1; cb <= cb_max && best_rb * best_cb < threads * GEMM_MIN_BLOCKS_PER_THREAD; cb++)
        for (int64_t rb = min64(rb_max, want / cb); rb >= 1; rb--)
            if ((rb * cb) % threads == 0) {
                if (rb * cb > best_rb * best_cb) best_rb = rb, best_cb = cb;
                break;
            }
    /* no such cut (a narrow product of few rows): slabs of 32 rows, one
     * per thread (alone, a product OpenBLAS takes would run on OpenBLAS's
     * threads: cnn-step's [64, 1568] x [1568, 10] took 0.16 ms so, 0.05
     * in two slabs) */
    if (best_rb == 0) best_rb = d->m / 32 < threads ? d->m / 32 : threads, best_cb = 1;
    *row_blocks = best_rb < 1 ? 1 : best_rb;
    *col_blocks = best_cb;
}

/* Edge q of `blocks` blocks over n: in whole units (the kernel's tiles'
 * rows, 12, or its panels' columns, 32), but the last. */
static int64_t block_edge(int64_t n, int64_t q, int64_t blocks, int64_t unit) {
    return q == blocks ? n : n * q / blocks / unit * unit;
}

/* The running slot's op(B) packed whole, packed on its first block. */
static const float *slot_packed_b(blocks_job *J) {
    int s = gr_parallel_slot();
    float *mine = J->packed + s * J->packed_floats;
    if (!J->ready[s]) {
        gr_sgemm_avx512_pack_b(J->at->transpose_b, J->d->n, J->d->k, J->b, J->d->b_cols, mine, 0,
                               gr_sgemm_avx512_pack_units(J->d->n, J->d->k));
        J->ready[s] = 1;
    }
    return mine;
}

/* Blocks [p0, p1) of the job's C. */
static void blocks_part(void *ctx, int64_t p0, int64_t p1) {
    blocks_job *J = ctx;
    const mm_dims *d = J->d;
    size_t esz = gr_dtype_size(J->dt);
    int64_t unit = J->packed ? 12 : 1; /* the packed path's rows in whole tiles */
    const float *packed = J->packed ? slot_packed_b(J) : NULL;
    for (int64_t p = p0; p < p1; p++) {
        int64_t r = p / J->col_blocks, q = p % J->col_blocks;
        int64_t i0 = block_edge(d->m, r, J->row_blocks, unit), i1 = block_edge(d->m, r + 1, J->row_blocks, unit);
        int64_t j0 = block_edge(d->n, q, J->col_blocks, 32), j1 = block_edge(d->n, q + 1, J->col_blocks, 32);
        if (i1 <= i0 || j1 <= j0) continue;
        mm_dims t = *d;
        t.m = i1 - i0;
        t.n = j1 - j0;
        int64_t oa = J->at->transpose_a ? i0 : i0 * d->a_cols;
        int64_t ob = J->at->transpose_b ? j0 * d->b_cols : j0;
        char *c = (char *)J->c + (size_t)(i0 * d->c_cols + j0) * esz;
        if (J->row)
            for (int64_t i = 0; i < t.m; i++)
                memcpy(c + (size_t)(i * d->c_cols) * esz, (const char *)J->row + (size_t)j0 * esz, (size_t)t.n * esz);
        int beta = J->row ? 1 : J->beta;
        if (packed && gr_sgemm_avx512_packed(J->at->transpose_a, t.m, t.n, t.k, (const float *)J->a + oa, d->a_cols,
                                             packed, d->n, j0, (float)beta, (float *)(void *)c, d->c_cols))
            continue;
        gemm(J->dt, J->at, &t, (const char *)J->a + (size_t)oa * esz, (const char *)J->b + (size_t)ob * esz, c, beta);
    }
}

/* Bytes of one copy of op(B) packed whole, a whole number of cache lines,
 * when the threads share the product d by blocks (float32 on libgrad's
 * kernel), or 0 when its blocks pack their own. */
static int64_t packed_b_bytes(gr_dtype dt, const mm_dims *d) {
    if (dt != GR_F32 || !gr_sgemm_own() || d->m < 2 * GEMM_PACKED_MIN_ROWS || d->n < 1 || d->k < 1) return 0;
    int64_t bytes = (gr_sgemm_avx512_packed_floats(d->n, d->k) * (int64_t)sizeof(float) + 63) / 64 * 64;
    return bytes <= GEMM_PACKED_MAX_BYTES ? bytes : 0;
}

/* c = op(a) @ op(b) (+ the row, or beta c) by blocks of C shared by the
 * threads. With room in work for a copy per thread, each thread packs
 * op(b) whole into its own before its first block: packed once and
 * shared, half of it was written by the other core, whose copy each
 * thread then read and the next product's packing had to take back
 * (gpt-step's products spent 3.7x the one-thread packing time so). */
static void gemm_blocks(gr_dtype dt, const gr_attrs *at, const mm_dims *d, const void *a, const void *b, void *c,
                        int beta, const void *row, void *work, int64_t work_bytes) {
    int64_t threads = gr_threads(), packed = packed_b_bytes(dt, d);
    blocks_job J = {.dt = dt, .at = at, .d = d, .a = a, .b = b, .c = c, .beta = beta, .row = row};
    if (packed > 0 && work && work_bytes >= threads * packed) {
        J.packed = work;
        J.packed_floats = packed / (int64_t)sizeof(float);
    }
    blocks_of(d, threads, J.packed ? GEMM_PACKED_MIN_ROWS : GEMM_BLOCK_MIN, &J.row_blocks, &J.col_blocks);
    gr_parallel_for_slots(J.row_blocks * J.col_blocks, 1, threads, blocks_part, &J);
}

/* The most flops of a product the kernel threads share (libgrad's own
 * sgemm has no threads of its own: every product up to the tiled ones). */
static double rows_split_max(gr_dtype dt) {
    return dt == GR_F32 && gr_sgemm_own() ? GEMM_SPLIT_FLOPS : GEMM_ROWS_SPLIT_MAX_FLOPS;
}

/* 1 when `threads` threads share product d by blocks of C. */
static int shared_by_blocks(gr_dtype dt, const mm_dims *d, int64_t threads) {
    double flops = 2.0 * (double)d->m * (double)d->n * (double)d->k;
    return flops >= GEMM_ROWS_SPLIT_FLOPS && flops < rows_split_max(dt) && d->m >= 64 && threads > 1;
}

/* ---- a weight gradient's product, cut along its shared dim ---------------
 * op(A) = A^T with A stored [k, m]: a weight gradient X^T dY, whose shared
 * dim k is the batch's rows, which the kernels before it wrote by halves,
 * one per thread. Cut by rows of C, each thread would read every row of X
 * and dY, half of them from the other core's cache (at about a third of
 * the speed of its own); cut along k, each thread takes its own rows into
 * a C of its own (the first part into out, the others into the
 * workspace), and these are added in part order. gpt-step at two threads:
 * 4.56-5.57 ms -> 4.27-4.41 (three alternated runs). The sums' order then
 * depends on the thread count, as conv_weight's does. */
#define GEMM_K_SPLIT_MIN_K 128                /* rows of the shared dim per part, at least */
#define GEMM_K_SPLIT_MAX_BYTES (16ll << 20)   /* the other parts' C, at most */

static int64_t k_split_parts(gr_dtype dt, const gr_attrs *at, const mm_dims *d, int64_t threads) {
    double flops = 2.0 * (double)d->m * (double)d->n * (double)d->k;
    if (!at->transpose_a || threads < 2 || flops < GEMM_ROWS_SPLIT_FLOPS || flops >= rows_split_max(dt)) return 0;
    int64_t parts = d->k / GEMM_K_SPLIT_MIN_K, c_bytes = d->m * d->n * (int64_t)gr_dtype_size(dt);
    if (parts > threads) parts = threads;
    if (c_bytes > 0 && parts - 1 > GEMM_K_SPLIT_MAX_BYTES / c_bytes) parts = 1 + GEMM_K_SPLIT_MAX_BYTES / c_bytes;
    return parts < 2 ? 0 : parts;
}

typedef struct k_split_job {
    gr_dtype dt;
    const gr_attrs *at;
    const mm_dims *d;
    const void *a, *b;
    void *c, *work; /* part 0's C, then the others' */
    int64_t parts;
} k_split_job;

static void k_split_part(void *ctx, int64_t p0, int64_t p1) {
    const k_split_job *J = ctx;
    size_t esz = gr_dtype_size(J->dt);
    for (int64_t p = p0; p < p1; p++) {
        int64_t k0 = J->d->k * p / J->parts, k1 = J->d->k * (p + 1) / J->parts;
        mm_dims t = *J->d;
        t.k = k1 - k0;
        const char *a = (const char *)J->a + (size_t)(k0 * J->d->a_cols) * esz;
        const char *b = (const char *)J->b + (size_t)(J->at->transpose_b ? k0 : k0 * J->d->b_cols) * esz;
        void *c = p == 0 ? J->c : (char *)J->work + (size_t)((p - 1) * J->d->m * J->d->n) * esz;
        gemm(J->dt, J->at, &t, a, b, c, 0);
    }
}

/* c = op(a) @ op(b) in parts along k (parts from k_split_parts). */
static void gemm_k_split(gr_dtype dt, const gr_attrs *at, const mm_dims *d, const void *a, const void *b, void *c,
                         void *work, int64_t parts) {
    k_split_job J = {dt, at, d, a, b, c, work, parts};
    gr_parallel_for_gemms(parts, 1, k_split_part, &J);
    gr_add_parts(dt, c, work, parts - 1, d->m * d->n);
}

/* work (work_bytes, may be 0) holds the other parts' C of a product cut
 * along k (matmul_workspace planned it). */
static void gemm_chunked(gr_dtype dt, const gr_attrs *at, const mm_dims *d, const void *a, const void *b, void *c,
                         int beta, const void *row, void *work, int64_t work_bytes, const volatile int *cancel) {
    double flops = 2.0 * (double)d->m * (double)d->n * (double)d->k;
    size_t esz = gr_dtype_size(dt);
    int64_t parts = beta || row || !work ? 0 : k_split_parts(dt, at, d, gr_threads());
    int64_t room = d->m * d->n > 0 ? 1 + work_bytes / (d->m * d->n * (int64_t)esz) : 0; /* parts the workspace holds */
    if (parts > room) parts = room;
    if (parts >= 2) {
        gemm_k_split(dt, at, d, a, b, c, work, parts);
        return;
    }
    if (shared_by_blocks(dt, d, gr_threads())) {
        gemm_blocks(dt, at, d, a, b, c, beta, row, work, work_bytes);
        return;
    }
    if (row) {
        fill_rows(c, row, d->m, d->n, esz);
        beta = 1;
    }
    if (flops <= GEMM_SPLIT_FLOPS) {
        gemm(dt, at, d, a, b, c, beta);
        return;
    }
    int64_t lda = d->a_cols, ldb = d->b_cols, ldc = d->n;
    /* Even pieces: kb <= GEMM_TILE_K, then nb, then mb filling the tile's flops. */
    int64_t kb = ceil_div(d->k, ceil_div(d->k, GEMM_TILE_K));
    int64_t nb = min64(d->n, GEMM_TILE_N);
    int64_t mb = (int64_t)(GEMM_TILE_FLOPS / (2.0 * (double)nb * (double)kb));
    if (mb < 1) mb = 1;
    if (mb >= d->m) { /* few rows: widen the tile instead */
        mb = d->m;
        nb = (int64_t)(GEMM_TILE_FLOPS / (2.0 * (double)mb * (double)kb));
        nb = nb < 1 ? 1 : min64(nb, d->n);
    }
    mb = ceil_div(d->m, ceil_div(d->m, mb));
    nb = ceil_div(d->n, ceil_div(d->n, nb));
    for (int64_t i0 = 0; i0 < d->m; i0 += mb)
        for (int64_t j0 = 0; j0 < d->n; j0 += nb)
            for (int64_t k0 = 0; k0 < d->k; k0 += kb) {
                if (gr_cancelled(cancel)) return;
                mm_dims t = *d;
                t.m = min64(mb, d->m - i0);
                t.n = min64(nb, d->n - j0);
                t.k = min64(kb, d->k - k0);
                /* Row-major offsets of op(A)[i0, k0], op(B)[k0, j0] and C[i0, j0];
                 * leading dims stay those of the whole matrices. */
                int64_t oa = at->transpose_a ? k0 * lda + i0 : i0 * lda + k0;
                int64_t ob = at->transpose_b ? j0 * ldb + k0 : k0 * ldb + j0;
                gemm(dt, at, &t, (const char *)a + (size_t)oa * esz, (const char *)b + (size_t)ob * esz,
                     (char *)c + (size_t)(i0 * ldc + j0) * esz, k0 > 0 ? 1 : beta);
            }
}

/* The batch entries of one matmul, shared by the threads. */
typedef struct batch_job {
    gr_dtype dt;
    const gr_attrs *at;
    mm_dims d;
    const void *a, *b;
    void *out;
    int beta;
    const volatile int *cancel;
    int br;                                /* batch dims of the output */
    const gr_shape *os;                    /* the promoted output shape */
    int64_t sa[GR_MAX_RANK], sb[GR_MAX_RANK]; /* batch strides (in matrices) of a and b, 0 where broadcast */
    int64_t a_mat, b_mat, c_mat;           /* elements of one matrix of a, b and out */
    size_t esz;
} batch_job;

/* Entries [t0, t1) of a batch job. */
static void batch_part(void *ctx, int64_t t0, int64_t t1) {
    const batch_job *J = ctx;
    int64_t idx[GR_MAX_RANK] = {0}, rest = t0;
    for (int i = J->br - 1; i >= 0; i--) { /* t0's index over the batch dims */
        idx[i] = rest % J->os->dims[i];
        rest /= J->os->dims[i];
    }
    const char *pa = J->a, *pb = J->b;
    char *pc = J->out;
    for (int64_t t = t0; t < t1 && !gr_cancelled(J->cancel); t++) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < J->br; i++) {
            oa += idx[i] * J->sa[i];
            ob += idx[i] * J->sb[i];
        }
        gemm_chunked(J->dt, J->at, &J->d, pa + (size_t)(oa * J->a_mat) * J->esz, pb + (size_t)(ob * J->b_mat) * J->esz,
                     pc + (size_t)(t * J->c_mat) * J->esz, J->beta, NULL, NULL, 0, J->cancel);
        for (int i = J->br - 1; i >= 0; i--) {
            if (++idx[i] < J->os->dims[i]) break;
            idx[i] = 0;
        }
    }
}

/* 1, with *d its dims, when matmul node n is one product: one matrix, or
 * b shared by every batch entry and a's entries stacked rows of one
 * matrix (not transposed, no broadcast): one GEMM of batch * m rows, as
 * PyTorch folds x[B, T, k] @ W[k, n]. */
static int one_product(const gr_graph *g, const gr_node *n, mm_dims *d) {
    gr_shape a2, b2, o2 = mm_promoted_out(g, n);
    mm_promote(&g->nodes[n->in[0]].shape, &g->nodes[n->in[1]].shape, &a2, &b2);
    *d = mm_dims_of(&a2, &b2, n->attrs);
    if (d->m == 0 || d->n == 0) return 0;
    int64_t batch = n->numel / (d->m * d->n);
    if (batch == 1) return 1;
    int br = o2.rank - 2;
    int64_t a_entries = 1;
    for (int i = 0; i < br; i++) {
        int ia = a2.rank - 2 - br + i, ib = b2.rank - 2 - br + i;
        if (ib >= 0 && b2.dims[ib] != 1) return 0; /* b not shared */
        a_entries *= ia >= 0 ? a2.dims[ia] : 1;
    }
    if (n->attrs->transpose_a || a_entries != batch) return 0;
    d->m *= batch;
    d->a_rows *= batch;
    return 1;
}

/* out (beta 0) or out + (beta 1) op(a) @ op(b) for matmul node n, or
 * with row ([n], not NULL) each row of op(a) @ op(b) plus row, with the
 * node's workspace (may be NULL); stops early once *cancel (may be NULL)
 * is raised. */
static void matmul_run(const gr_graph *g, const gr_node *n, const void *a, const void *b, void *out, int beta,
                       const void *row, void *work, int64_t work_bytes, const volatile int *cancel) {
    gr_shape a2, b2, o2 = mm_promoted_out(g, n);
    mm_promote(&g->nodes[n->in[0]].shape, &g->nodes[n->in[1]].shape, &a2, &b2);
    const gr_shape *as = &a2, *bs = &b2, *os = &o2;
    mm_dims d = mm_dims_of(as, bs, n->attrs);
    size_t esz = gr_dtype_size(g->dt);
    if (d.m == 0 || d.n == 0) return;
    int64_t batch = n->numel / (d.m * d.n);
    if (d.k == 0) { /* an empty sum, without asking BLAS */
        if (row) fill_rows(out, row, n->numel / d.n, d.n, esz);
        else if (!beta) memset(out, 0, (size_t)n->numel * esz);
        return;
    }
    int64_t a_mat = d.a_rows * d.a_cols, b_mat = d.b_rows * d.b_cols, c_mat = d.m * d.n;
    mm_dims one;
    if (one_product(g, n, &one)) {
        gemm_chunked(g->dt, n->attrs, &one, a, b, out, beta, row, work, work_bytes, cancel);
        return;
    }
    /* Batch strides (in matrices) of a and b, 0 along broadcast dims. */
    int br = os->rank - 2;
    int64_t sa[GR_MAX_RANK], sb[GR_MAX_RANK], idx[GR_MAX_RANK] = {0};
    int64_t ta = 1, tb = 1;
    for (int i = br - 1; i >= 0; i--) {
        int ia = as->rank - 2 - br + i, ib = bs->rank - 2 - br + i;
        int64_t da = ia >= 0 ? as->dims[ia] : 1, db = ib >= 0 ? bs->dims[ib] : 1;
        sa[i] = da == 1 ? 0 : ta;
        sb[i] = db == 1 ? 0 : tb;
        ta *= da;
        tb *= db;
    }
    (void)idx;
    if (row) { /* every entry's rows start as the bias row */
        fill_rows(out, row, batch * d.m, d.n, esz);
        beta = 1;
    }
    batch_job J = {.dt = g->dt, .at = n->attrs, .d = d, .a = a, .b = b, .out = out, .beta = beta, .cancel = cancel,
                   .br = br, .os = os, .a_mat = a_mat, .b_mat = b_mat, .c_mat = c_mat, .esz = esz};
    memcpy(J.sa, sa, sizeof sa);
    memcpy(J.sb, sb, sizeof sb);
    /* Entries split across threads when each is small (OpenBLAS would
     * split them one by one); a big entry keeps OpenBLAS's threads. */
    double entry_flops = 2.0 * (double)d.m * (double)d.n * (double)d.k;
    if (entry_flops < 4e6) gr_parallel_for_slots(batch, 1, gr_threads(), batch_part, &J);
    else batch_part(&J, 0, batch);
}

static gr_status matmul_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    matmul_run(k->g, k->n, k->in[0], k->in[1], k->out, 0, NULL, k->work, k->work_bytes, k->cancel);
    return GR_OK;
}

/* The workspace of one product (matmul_run's single or folded one): the
 * other parts' C when it is cut along k, or a copy of op(B) packed whole
 * per thread when the threads share it by blocks. */
static int64_t matmul_workspace(const gr_graph *g, const gr_node *n) {
    mm_dims d;
    int64_t threads = gr_threads();
    if (!one_product(g, n, &d)) return 0; /* a batch of products */
    int64_t parts = k_split_parts(g->dt, n->attrs, &d, threads);
    if (parts >= 2) return (parts - 1) * n->numel * (int64_t)gr_dtype_size(g->dt);
    return shared_by_blocks(g->dt, &d, threads) ? threads * packed_b_bytes(g->dt, &d) : 0;
}

/* A bias that is one row of the product (every dim 1 but the last, which
 * is the product's last, its columns; b not a vector): each row of the
 * product starts as it. */
static int bias_is_row(const gr_graph *g, const gr_node *mm, const gr_shape *bias_shape) {
    const gr_shape *o = &mm->shape, *bs = &g->nodes[mm->in[1]].shape;
    if (o->rank < 2 || bs->rank < 2 || bias_shape->rank < 1) return 0;
    for (int i = 0; i < bias_shape->rank - 1; i++)
        if (bias_shape->dims[i] != 1) return 0;
    return bias_shape->dims[bias_shape->rank - 1] == o->dims[o->rank - 1];
}

void gr_matmul_bias(const gr_graph *g, const gr_node *mm, const void *a, const void *b, const gr_shape *bias_shape,
                    const void *bias, void *out, void *work, int64_t work_bytes, const volatile int *cancel) {
    if (bias_is_row(g, mm, bias_shape)) { /* the rows filled as the GEMM gets to them */
        matmul_run(g, mm, a, b, out, 1, bias, work, work_bytes, cancel);
        return;
    }
    gr_broadcast_copy(g->dt, &mm->shape, out, bias_shape, bias, cancel);
    if (!gr_cancelled(cancel)) matmul_run(g, mm, a, b, out, 1, NULL, work, work_bytes, cancel);
}

static int mm(gr_graph *g, int a, int b, int ta, int tb) {
    gr_attrs at = {0};
    at.set = A(GR_ATTR_TRANSPOSE_A) | A(GR_ATTR_TRANSPOSE_B);
    at.transpose_a = ta;
    at.transpose_b = tb;
    return gr_build_apply(g, &gr_op_matmul, a, b, -1, &at);
}

/* C = op(A) op(B). Each case reads the transpose flags instead of copying:
 *   (0,0) dA = g B^T    dB = A^T g      (0,1) dA = g B      dB = g^T A
 *   (1,0) dA = B g^T    dB = A g        (1,1) dA = B^T g^T  dB = g^T A^T
 * A 1-D operand (never transposed) and g take their promoted matrix shapes
 * (reshapes, no copies); its gradient is summed over the batch dims to the
 * promoted shape and reshaped back to a vector. */
static void matmul_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    int a = g->nodes[id].in[0], b = g->nodes[id].in[1];
    int ta = g->nodes[id].attrs->transpose_a, tb = g->nodes[id].attrs->transpose_b;
    gr_shape a0 = *gr_shape_of(g, a), b0 = *gr_shape_of(g, b), pa, pb;
    gr_shape po = mm_promoted_out(g, &g->nodes[id]);
    mm_promote(&a0, &b0, &pa, &pb);
    a = gr_build_reshape(g, a, &pa);
    b = gr_build_reshape(g, b, &pb);
    grad = gr_build_reshape(g, grad, &po);
    if (need[0]) {
        grads[0] = !ta ? (tb ? mm(g, grad, b, 0, 0) : mm(g, grad, b, 0, 1))
                       : (tb ? mm(g, b, grad, 1, 1) : mm(g, b, grad, 0, 1));
        if (a0.rank == 1) grads[0] = gr_build_reshape(g, gr_build_sum_to(g, grads[0], &pa), &a0);
    }
    if (need[1] && b0.rank == 2 && pa.rank > 2 && !ta) {
        /* A 2-D b shared by a's batch: db is one product over the stacked
         * rows, [k, batch * m] @ [batch * m, n], not a batch of products
         * summed afterwards. */
        gr_shape rows_a = {.rank = 2, .dims = {pa.dims[0], pa.dims[pa.rank - 1]}};
        gr_shape rows_g = {.rank = 2, .dims = {pa.dims[0], po.dims[po.rank - 1]}};
        for (int i = 1; i < pa.rank - 1; i++) rows_a.dims[0] *= pa.dims[i];
        rows_g.dims[0] = rows_a.dims[0];
        int a_rows = gr_build_reshape(g, a, &rows_a), g_rows = gr_build_reshape(g, grad, &rows_g);
        grads[1] = tb ? mm(g, g_rows, a_rows, 1, 0) : mm(g, a_rows, g_rows, 1, 0);
    } else if (need[1]) {
        grads[1] = !tb ? (ta ? mm(g, a, grad, 0, 0) : mm(g, a, grad, 1, 0))
                       : (ta ? mm(g, grad, a, 1, 1) : mm(g, grad, a, 1, 0));
        if (b0.rank == 1) grads[1] = gr_build_reshape(g, gr_build_sum_to(g, grads[1], &pb), &b0);
    }
}

static int matmul_jvp(gr_graph *g, int id, const int *t) {
    int a = g->nodes[id].in[0], b = g->nodes[id].in[1];
    gr_attrs at = *g->nodes[id].attrs;
    int l = t[0] >= 0 ? gr_build_apply(g, &gr_op_matmul, t[0], b, -1, &at) : -1;
    int r = t[1] >= 0 ? gr_build_apply(g, &gr_op_matmul, a, t[1], -1, &at) : -1;
    if (l >= 0 && r >= 0) return gr_build_binary(g, &gr_op_add, l, r);
    return l >= 0 ? l : r;
}

static int64_t matmul_flops(const gr_graph *g, const gr_node *n) {
    gr_shape pa, pb;
    mm_promote(&g->nodes[n->in[0]].shape, &g->nodes[n->in[1]].shape, &pa, &pb);
    mm_dims d = mm_dims_of(&pa, &pb, n->attrs);
    int64_t f;
    return gr_mul_ok(n->numel, 2 * d.k, &f) ? f : INT64_MAX;
}

const gr_op gr_op_matmul = {
    .name = "matmul", .arity = 2, .attrs = A(GR_ATTR_TRANSPOSE_A) | A(GR_ATTR_TRANSPOSE_B),
    .doc = "y = op(a) @ op(b) over the last two dims, batch dims broadcast; as NumPy, a 1-D a is a row [1, k] "
           "and a 1-D b a column [k, 1] whose 1 the result drops (A @ v, v @ A, v @ v, batched; 1-D operands take "
           "no transpose); da = g @ op(b)^T, db = op(a)^T @ g, summed over batch dims for a 1-D operand",
    .infer = matmul_infer, .forward = matmul_forward, .vjp = matmul_vjp, .jvp = matmul_jvp, .flops = matmul_flops,
    .workspace = matmul_workspace,
};

/* ---- outer(a, b) ------------------------------------------------------- */

static gr_status outer_infer(gr_graph *g, int id, gr_error *err) {
    const gr_shape *a = IN_SHAPE(g, id, 0), *b = IN_SHAPE(g, id, 1);
    for (int k = 0; k < 2; k++)
        if ((k ? b : a)->rank != 1)
            return gr_fail_op(g, err, GR_E_SHAPE, id, k, NULL, "operand %d has rank %d; outer takes vectors", k,
                              (k ? b : a)->rank);
    gr_shape s = {2, {a->dims[0], b->dims[0]}};
    return gr_node_set_shape(g, id, &s, err);
}

#define OUTER_KERNEL(FN, T)                                                                                           \
    static void FN(const gr_kernel *k) {                                                                              \
        const T *a = k->in[0], *b = k->in[1];                                                                         \
        T *o = k->out;                                                                                                \
        int64_t m = k->n->shape.dims[0], n = k->n->shape.dims[1];                                                     \
        for (int64_t i = 0; i < m; i++) {                                                                             \
            if ((i & 255) == 0 && i && gr_cancelled(k->cancel)) return;                                               \
            for (int64_t j = 0; j < n; j++) o[i * n + j] = a[i] * b[j];                                               \
        }                                                                                                             \
    }
OUTER_KERNEL(outer_f32, float)
OUTER_KERNEL(outer_f64, double)

static gr_status outer_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    if (k->dt == GR_F32) outer_f32(k);
    else outer_f64(k);
    return GR_OK;
}

/* da = g @ b, db = a @ g (matmul with a vector). */
static void outer_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    int a = g->nodes[id].in[0], b = g->nodes[id].in[1];
    if (need[0]) grads[0] = gr_build_binary(g, &gr_op_matmul, grad, b);
    if (need[1]) grads[1] = gr_build_binary(g, &gr_op_matmul, a, grad);
}

static int outer_jvp(gr_graph *g, int id, const int *t) {
    int a = g->nodes[id].in[0], b = g->nodes[id].in[1];
    int l = t[0] >= 0 ? gr_build_binary(g, &gr_op_outer, t[0], b) : -1;
    int r = t[1] >= 0 ? gr_build_binary(g, &gr_op_outer, a, t[1]) : -1;
    if (l >= 0 && r >= 0) return gr_build_binary(g, &gr_op_add, l, r);
    return l >= 0 ? l : r;
}

const gr_op gr_op_outer = {
    .name = "outer", .arity = 2,
    .doc = "y[i, j] = a[i] b[j] for vectors a, b (torch.outer, np.outer of 1-D operands); da = g @ b, db = a @ g",
    .infer = outer_infer, .forward = outer_forward, .vjp = outer_vjp, .jvp = outer_jvp,
};

const gr_op *const gr_ops_linalg[] = {&gr_op_matmul, &gr_op_outer, NULL};
