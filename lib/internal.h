/* internal.h -- libgrad's private structures: nodes, graphs, op entries,
 * the graph builder the derivative rules use, and the strided loop every
 * broadcasting kernel runs on. Not installed. */
#ifndef GRAD_INTERNAL_H
#define GRAD_INTERNAL_H

#include "grad.h"

#include <stdarg.h>

/* ---- nodes and graphs ------------------------------------------------ */

typedef struct gr_node {
    char *name;                        /* NULL: anonymous, shown as %<id> */
    gr_node_kind kind;
    const gr_op *op;                   /* GR_OPNODE only */
    int n_in;                          /* operand count */
    int in[GR_MAX_OPERANDS];           /* operand ids, -1 until resolved; of a node with more
                                          operands (a variadic op), the first GR_MAX_OPERANDS */
    int *in_all;                       /* (n_in) every operand id when n_in > GR_MAX_OPERANDS
                                          (owned), else NULL: read them with gr_node_inputs */
    char **in_names;                   /* (n_in) pending operand names before finalize (owned),
                                          NULL once resolved or for nodes added by id */
    const gr_attrs *attrs;             /* never NULL: interned in the graph (attr_pool.c), shared by
                                          every node with the same attributes; &gr_attrs_none when
                                          it has none */
    gr_shape shape;                    /* inferred; rank 0 is a scalar */
    int64_t numel;                     /* product of shape.dims */
    void *cdata;                       /* GR_CONST: numel elements of dtype */
} gr_node;

/* The operand ids of n, n->n_in of them, whatever the count. */
static inline const int *gr_node_inputs(const gr_node *n) { return n->in_all ? n->in_all : n->in; }
/* Set operand k of n to id (in both in[] and in_all[] as they hold it). */
static inline void gr_node_set_input(gr_node *n, int k, int id) {
    if (n->in_all) n->in_all[k] = id;
    if (k < GR_MAX_OPERANDS) n->in[k] = id;
}

struct gr_graph {
    gr_dtype dt;
    gr_limits lim;
    gr_node *nodes;       /* (cap) nodes[0..n) */
    int n, cap;
    int *order;           /* (cap) topological order, n_order entries */
    int n_order;
    int finalized;
    int *htab;            /* (hcap) open-addressed name index: node id or -1 */
    size_t hcap, hused;
    /* Sticky error of the builder the derivative rules use: once a build
     * step fails, every later step returns -1 and failed stays set. */
    int failed;
    gr_error berr;
    /* Scalar constants the builder made, by value bits, so a rule that
     * needs 1.0 ten thousand times makes one node. */
    uint64_t *scalar_keys;   /* (scalar_cap) */
    int *scalar_ids;         /* (scalar_cap) node id, or -1 for empty */
    size_t scalar_cap, scalar_used;
    const volatile int *cancel;  /* gr_graph_set_cancel: stop transforming when non-zero (NULL: never) */
    /* Each distinct attribute set once (attr_pool.c): a gr_attrs is over a
     * kilobyte, and most nodes share theirs with many others. */
    gr_attrs **attr_sets;    /* (attr_cap) owned copies, attr_n used */
    int attr_n, attr_cap;
    int *attr_htab;          /* (attr_hcap) open-addressed index into attr_sets, -1 empty */
    size_t attr_hcap;
};

/* The attributes of a node that has none. */
extern const gr_attrs gr_attrs_none;
/* The graph's copy of a (NULL: none), holding only the attributes a sets
 * (every other field zero), shared with every node whose attributes are
 * equal. NULL with err filled when out of memory. */
const gr_attrs *gr_attrs_intern(gr_graph *g, const gr_attrs *a, gr_error *err);
/* Bytes the graph's attribute sets take; free them. */
int64_t gr_attr_pool_bytes(const gr_graph *g);
void gr_attr_pool_free(gr_graph *g);

/* Elements a kernel processes between two looks at the cancel flag: about a
 * millisecond of the cheapest work, so a look costs nothing measurable. */
#define GR_CHUNK_ELEMS ((int64_t)1 << 18)
/* Nodes a graph transformation visits between two looks at the flag. */
#define GR_CHUNK_NODES 256

/* 1 when the (optional) cancel flag is raised. */
static inline int gr_cancelled(const volatile int *flag) { return flag && *flag; }

/* One part [i0, i1) of a parallel loop; looks at the run's cancel flag
 * itself (in its usual pieces). */
typedef void (*gr_par_fn)(void *ctx, int64_t i0, int64_t i1);
/* fn over [0, n) split in contiguous parts of at least grain (up to four
 * per thread of gr_set_threads', lib/threads.c), which the caller and the
 * pool's threads take one by one until none is left; returns when all are
 * done. The parts depend on n, grain and the thread count only, never on
 * which thread runs them. One part (the caller alone) when n < 2 grain,
 * with one thread, or while another run holds the pool. */
void gr_parallel_for(int64_t n, int64_t grain, gr_par_fn fn, void *ctx);
/* The same for parts that each call BLAS, one part per thread: while they
 * run in parallel, OpenBLAS runs one thread per call (each part's GEMMs on
 * its own core, not OpenBLAS's threads nested in the pool's), restored
 * after. For many small GEMMs (a convolution's per-image products) that
 * OpenBLAS would otherwise split, and serialize, call by call. */
void gr_parallel_for_gemms(int64_t n, int64_t grain, gr_par_fn fn, void *ctx);
/* fn over [0, n) in parts of at least grain (up to eight per thread), run
 * by at most slots threads, OpenBLAS at one thread each as above. The
 * parts are handed out as threads come free, so a thread on a faster core
 * runs more of them: for jobs whose parts write their own outputs, or
 * partial sums of their own (never a thread's). A part's thread has its
 * slot in [0, slots) from gr_parallel_slot(): scratch of the job's no
 * other thread uses while it runs. */
void gr_parallel_for_slots(int64_t n, int64_t grain, int64_t slots, gr_par_fn fn, void *ctx);
int gr_parallel_slot(void);
/* Workers asleep (no job for a while: between runs) start polling for
 * the next job now, so a run that begins with kernels on one thread does
 * not then wait for their wake-up (tens of microseconds in a VM). Cheap
 * when none sleeps. */
void gr_parallel_wake(void);
/* Groups of a sum over n items (a weight gradient's images) that up to
 * slots threads share, each group summed into a partial of its own of
 * partial_bytes and the partials added in group order: fixed by n, slots
 * and partial_bytes alone, so the sum never depends on which thread ran
 * which group. 1 for one slot; else up to four per slot, while the
 * partials take at most GR_PARTIALS_BYTES (but at least one per slot),
 * at most n. Group g's items are [n g / groups, n (g + 1) / groups). */
int64_t gr_parallel_groups(int64_t n, int64_t slots, int64_t partial_bytes);
#define GR_PARTIALS_BYTES ((int64_t)1 << 20)
/* C (m x n, leading dim ldc) = alpha op(A) op(B) + beta C in float32,
 * row-major (op: transposed when ta / tb), as cblas_sgemm: OpenBLAS's,
 * or libgrad's AVX-512 kernel where the CPU has AVX-512 and OpenBLAS's
 * set is not written for it (lib/sgemm.c). gr_sgemm_own: 1 when
 * libgrad's kernel is the one in use. */
void gr_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
              const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
int gr_sgemm_own(void);
/* 1 when the CPU (and the OS) run the AVX-512 kernels libgrad has. */
int gr_cpu_avx512(void);
/* libgrad's AVX-512 kernel for gr_sgemm (m, n, k >= 1); 0 when it cannot
 * run (no packing buffers for this thread), C untouched. */
int gr_sgemm_avx512(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
/* op(B) [k, n] packed once for products that threads share by blocks of
 * C (sgemm_avx512.c): the floats it takes, and its units of work (k
 * blocks x column panels); gr_sgemm_avx512_pack_b packs units [u0, u1). */
int64_t gr_sgemm_avx512_packed_floats(int64_t n, int64_t k);
int64_t gr_sgemm_avx512_pack_units(int64_t n, int64_t k);
void gr_sgemm_avx512_pack_b(int tb, int64_t n, int64_t k, const float *b, int64_t ldb, float *packed, int64_t u0,
                            int64_t u1);
/* C (m x n) = op(A) op(B) + beta C (beta 0 or 1) for columns [j0, j0 + n)
 * of a packed op(B) of n_all columns, j0 a multiple of 32 (the panels'
 * width); 0 when it cannot run (no packing buffers), C untouched. */
int gr_sgemm_avx512_packed(int ta, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *packed,
                           int64_t n_all, int64_t j0, float beta, float *c, int64_t ldc);
/* Kernel threads at most (gr_set_threads). */
#define GR_THREADS_MAX 64

/* Elements per part of an elementwise loop: below it a thread's wake-up
 * costs more than it saves. */
#define GR_PAR_GRAIN ((int64_t)1 << 15)

/* Fill err with code, node, operand and a printf-style message; returns
 * code. err may be NULL. */
gr_status gr_fail(gr_error *err, gr_status code, const char *node, int operand, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Same, naming the node by id (anonymous nodes as %<id>). */
gr_status gr_fail_node(gr_error *err, gr_status code, const gr_graph *g, int id, int operand, const char *fmt,
                       ...) __attribute__((format(printf, 6, 7)));

/* ---- op entries ------------------------------------------------------ */

/* What a forward kernel sees: operand and output buffers of node n. */
typedef struct gr_kernel {
    const gr_graph *g;
    const gr_node *n;
    gr_dtype dt;
    const void *in[GR_MAX_OPERANDS];  /* operand data, numel of each operand (the first
                                         GR_MAX_OPERANDS operands) */
    const void *const *in_all;        /* (n->n_in) every operand's data: what a variadic
                                         op's kernel reads */
    void *out;                        /* n->numel elements */
    const volatile int *cancel;       /* a long kernel stops early once it is non-zero
                                         (NULL: never); the executor then reports
                                         GR_E_CANCELLED */
    void *work;                       /* scratch of op->workspace(g, n) bytes from the planned
                                         arena, live during this kernel only (NULL when the op
                                         asks for none) */
    int64_t work_bytes;               /* op->workspace(g, n) as planned at compile time (the
                                         thread count may have changed since) */
    const void *bias;                 /* a per-channel bias the kernel adds to its result (the
                                         executor's fused add, gr_conv_bias_fits), or NULL */
    int relu_mask;                    /* max_pool2d_backward: keep the gradient only where x is
                                         above 0 or NaN (the executor's fused relu_backward) */
    int relu_out;                     /* conv2d, conv1d: write relu of the result, relu's own rule
                                         (GR_RELU: 0 below 0, else x); the executor's folded relu */
    void *side;                       /* a second result the kernel writes as it goes, or NULL:
                                         the node its op's writes_side accepted (attention's
                                         probabilities, cross_entropy's softmax) */
} gr_kernel;

/* Sentinels a partial-derivative rule may return instead of a node id. */
#define GR_PARTIAL_ONE (-2)       /* d out / d operand is 1 */
#define GR_PARTIAL_NEG_ONE (-3)   /* d out / d operand is -1 */

#define GR_OPF_INTERNAL 1u   /* inserted by autodiff; still usable by name */
#define GR_OPF_VIEW 2u       /* the output is operand 0's bytes as they are (reshape, squeeze...):
                                the planner lets it share operand 0's buffer */
#define GR_OPF_PREDICATE 4u  /* the values are 0 and 1 only (comparisons, logical ops): a partial
                                derivative that is one selects the gradient (gr_build_mul_partial) */

struct gr_op {
    const char *name;
    int arity;           /* operand count, or GR_VARIADIC */
    int min_operands;    /* GR_VARIADIC: the fewest operands (at most GR_MAX_VARIADIC) */
    gr_attr_mask attrs;  /* accepted attributes */
    gr_attr_mask required;   /* attributes that must be given */
    unsigned nondiff;    /* operands with no gradient, bit i = operand i (i < 32; read it
                            with gr_op_nondiff_at) */
    unsigned flags;      /* GR_OPF_* */
    const char *doc;     /* the derivative rule in words */

    /* Check operands and attributes of node id and set its shape. */
    gr_status (*infer)(gr_graph *g, int id, gr_error *err);
    /* Compute the node. Returns GR_OK or GR_E_VALUE for bad run-time data. */
    gr_status (*forward)(const gr_kernel *k, gr_error *err);

    /* Elementwise ops give one partial-derivative builder: node id of
     * d out / d operand (broadcastable to the output), or a GR_PARTIAL_*
     * sentinel. autodiff turns it into both the VJP and the JVP. */
    int (*partial)(gr_graph *g, int id, int operand);
    /* Other ops give explicit rules. vjp writes into grads[i] the node of
     * the gradient w.r.t. operand i for each i with need[i] (shape of the
     * output or broadcastable to the operand: autodiff sums a broadcast
     * gradient down to the operand in one place), or -1 for zero. */
    void (*vjp)(gr_graph *g, int id, int grad, const int *need, int *grads);
    /* jvp returns the tangent of the output given operand tangents (-1 is
     * zero), or -1 when it is zero. */
    int (*jvp)(gr_graph *g, int id, const int *tangents);
    /* Estimated flops of one evaluation; NULL means numel. */
    int64_t (*flops)(const gr_graph *g, const gr_node *n);
    /* Bytes of scratch the forward kernel needs (gr_kernel.work), planned in
     * the arena next to the node's output and freed right after it runs;
     * NULL means none. Depends on shapes and attributes only. */
    int64_t (*workspace)(const gr_graph *g, const gr_node *n);
    /* 1 when node n's forward kernel can also write node other's value (to
     * gr_kernel.side) as it runs, other being on n's first operand; the
     * executor then drops other's instruction. NULL means never. */
    int (*writes_side)(const gr_graph *g, const gr_node *n, const gr_node *other);
    /* The node of a + b, both nodes of this op and of one shape, when the
     * sum has a cheaper form than an add, or -1: autodiff sums gradient
     * contributions with it (adjacent slices into zeros become one concat).
     * NULL means never. */
    int (*add_merge)(gr_graph *g, int a, int b);
};

/* 1 when operand k of op gets no gradient (operands past bit 31 all do). */
static inline int gr_op_nondiff_at(const gr_op *op, int k) { return k < 32 && ((op->nondiff >> k) & 1u); }

/* The op families (one array each, NULL-terminated) and the ops that
 * derivative rules build with. */
extern const gr_op *const gr_ops_unary[];
extern const gr_op *const gr_ops_binary[];
extern const gr_op *const gr_ops_reduce[];
extern const gr_op *const gr_ops_movement[];
extern const gr_op *const gr_ops_linalg[];
extern const gr_op *const gr_ops_nn[];
extern const gr_op *const gr_ops_rearrange[];    /* rearrange.c: flip roll tile repeat */
extern const gr_op *const gr_ops_pad[];          /* pad.c: pad pad_backward */
extern const gr_op *const gr_ops_triangle[];     /* triangle.c: tril triu diagonal diagonal_backward */
extern const gr_op *const gr_ops_constant[];     /* constant.c: arange eye zeros ones full and the _like forms */
extern const gr_op *const gr_ops_compare[];      /* compare.c */
extern const gr_op *const gr_ops_binary_math[];  /* binary_math.c */
extern const gr_op *const gr_ops_einsum[];       /* einsum.c */
extern const gr_op *const gr_ops_stats[];        /* stats.c: logsumexp var std norm */
extern const gr_op *const gr_ops_scan[];         /* scan.c: cumsum cumprod */
extern const gr_op *const gr_ops_arg[];          /* arg.c: argmax argmin */
extern const gr_op *const gr_ops_loss[];         /* loss.c: nll_loss and the elementwise losses */
extern const gr_op *const gr_ops_norm[];         /* norm.c: layer_norm rms_norm group_norm batch_norm */
extern const gr_op *const gr_ops_dropout[];      /* dropout.c */
extern const gr_op *const gr_ops_attention[];    /* attention.c: scaled_dot_product_attention */
extern const gr_op *const gr_ops_conv[];         /* conv.c: conv1d conv2d conv_transpose1d/2d conv_weight */
extern const gr_op *const gr_ops_pool[];         /* pool.c: max_pool2d avg_pool2d and their adjoints */
extern const gr_op *const gr_ops_math[];         /* math.c: log1p ... cbrt, rounding, predicates, stop_gradient */
extern const gr_op *const gr_ops_activation[];   /* activation.c: gelu silu elu ... clip clamp */
extern const gr_op *const gr_ops_resize[];       /* resize.c: interpolate interpolate_backward */
extern const gr_op *const gr_ops_topk[];         /* topk.c: topk topk_indices */
extern const gr_op gr_op_topk, gr_op_topk_indices;
extern const gr_op *const gr_ops_det[];          /* det.c: det inv */
extern const gr_op gr_op_det, gr_op_inv;

extern const gr_op gr_op_neg, gr_op_exp, gr_op_log, gr_op_sin, gr_op_cos, gr_op_square, gr_op_reciprocal,
    gr_op_sigmoid, gr_op_relu, gr_op_relu_backward;
extern const gr_op gr_op_add, gr_op_sub, gr_op_mul, gr_op_div, gr_op_pow, gr_op_greater, gr_op_less,
    gr_op_equal, gr_op_where;
extern const gr_op gr_op_sum, gr_op_mean, gr_op_sum_to;
extern const gr_op gr_op_reshape, gr_op_expand, gr_op_transpose, gr_op_fill;
extern const gr_op gr_op_matmul, gr_op_scaled_dot_product_attention;
extern const gr_op gr_op_conv1d, gr_op_conv2d, gr_op_max_pool2d_backward;
extern const gr_op gr_op_greater_equal, gr_op_logical_and, gr_op_logical_or, gr_op_not_equal; /* compare.c */
extern const gr_op gr_op_softmax, gr_op_one_hot;
extern const gr_op *const gr_ops_join[];   /* join.c: concat stack (variadic) */
extern const gr_op *const gr_ops_index[];  /* index.c: slice take take_along_axis scatter_add embedding */
extern const gr_op gr_op_concat, gr_op_stack, gr_op_slice, gr_op_slice_scatter, gr_op_take, gr_op_take_along_axis,
    gr_op_scatter_add, gr_op_embedding;
extern const gr_op gr_op_tanh, gr_op_softplus, gr_op_abs; /* unary.c */
extern const gr_op gr_op_erf, gr_op_sinh, gr_op_cosh, gr_op_rsqrt, gr_op_sign, gr_op_isnan,
    gr_op_logical_not; /* math.c */

/* ---- graph builder for derivative rules (lib/build.c) ---------------- */
/* Each returns the new node id, or -1 once g->failed is set (any operand
 * of -1 also gives -1 without a new node), so rules need no checks. */

int gr_build_apply(gr_graph *g, const gr_op *op, int a, int b, int c, const gr_attrs *attrs);
/* op over n operands ids[0..n) (a variadic op's, or any op's). */
int gr_build_apply_n(gr_graph *g, const gr_op *op, const int *ids, int n, const gr_attrs *attrs);
int gr_build_unary(gr_graph *g, const gr_op *op, int a);
int gr_build_binary(gr_graph *g, const gr_op *op, int a, int b);
int gr_build_scalar(gr_graph *g, double v);                 /* rank-0 constant */
int gr_build_fill(gr_graph *g, const gr_shape *s, double v);
int gr_build_reshape(gr_graph *g, int a, const gr_shape *s); /* a itself when equal */
int gr_build_expand(gr_graph *g, int a, const gr_shape *s);  /* a itself when equal */
int gr_build_sum_to(gr_graph *g, int a, const gr_shape *s);  /* a itself when equal */
/* sum over axes (naxes 0: all), keepdims. */
int gr_build_sum(gr_graph *g, int a, const int *axes, int naxes, int keepdims);
/* Multiply a by a partial that may be a GR_PARTIAL_* sentinel (a mask,
 * or a masked partial, selects instead: build.c). */
int gr_build_mul_partial(gr_graph *g, int a, int partial);
/* The partial d where mask (a comparison) is 1, and exactly +0 where it is
 * 0 whatever d is there (PyTorch's where(mask, grad * d, 0)). */
int gr_build_masked_partial(gr_graph *g, int mask, int d);

/* Shape of node id; valid for any built node, but only until the next node
 * is added (the node array can move): copy it before building with it. */
static inline const gr_shape *gr_shape_of(const gr_graph *g, int id) { return &g->nodes[id].shape; }

/* ---- shape helpers (lib/shape.c) ------------------------------------- */

/* Normalise axis (may be negative) against rank into *out; GR_E_ARG when
 * out of range. */
int gr_axis_norm(int axis, int rank, int *out);
/* Reduction axes of attrs (all when unset) as a mask over rank dims;
 * GR_E_ARG for out-of-range or repeated axes. */
gr_status gr_axes_mask(const gr_attrs *a, int rank, unsigned *mask, gr_error *err, const char *node);
/* The keepdims form of s reduced over mask. */
gr_shape gr_shape_keep(const gr_shape *s, unsigned mask);
/* s without the axes in mask. */
gr_shape gr_shape_drop(const gr_shape *s, unsigned mask);
/* Row-major strides of s in elements. */
void gr_shape_strides(const gr_shape *s, int64_t *strides);
/* Set node id's shape and numel, enforcing the graph's limits. */
gr_status gr_node_set_shape(gr_graph *g, int id, const gr_shape *s, gr_error *err);

/* ---- strided loops (lib/loop.c) -------------------------------------- */

/* An iteration space with up to 4 operands (operand 0 usually the output),
 * each with element strides per dim; dims of size 1 are dropped and
 * adjacent dims merged where every operand allows it. */
typedef struct gr_loop {
    int rank;                       /* >= 1 after init */
    int nops;
    int64_t dims[GR_MAX_RANK];
    int64_t st[4][GR_MAX_RANK];     /* (nops, rank) strides in elements */
    const volatile int *cancel;     /* gr_loop_run stops between rows once it is non-zero
                                       (NULL, as the init functions leave it: never) */
} gr_loop;

/* Iterate over shape it; operand k has shape shapes[k], broadcast to it
 * (aligned right, size-1 or missing dims get stride 0). */
void gr_loop_broadcast(gr_loop *L, const gr_shape *it, int nops, const gr_shape *const *shapes);
/* Iterate over it with explicit strides (nops x it->rank). */
void gr_loop_strided(gr_loop *L, const gr_shape *it, int nops, const int64_t (*strides)[GR_MAX_RANK]);

/* Row kernel: n elements; p[k] points at operand k's first element, s[k] is
 * its stride in elements. */
typedef void (*gr_row_fn)(void *ctx, char *const *p, const int64_t *s, int64_t n);
/* Call fn once per innermost row. base[k] is operand k's data; esz the
 * element size. Does nothing when any dim is 0. With L->cancel set it
 * looks at the flag about every GR_CHUNK_ELEMS elements (rows are never
 * split, so results do not depend on it) and returns early when raised. */
void gr_loop_run(const gr_loop *L, void *const *base, size_t esz, gr_row_fn fn, void *ctx);
/* gr_loop_run over the slab [a, b) of dim `dim` alone (each operand's
 * base moved to index a of it). */
void gr_loop_run_slab(const gr_loop *L, int dim, int64_t a, int64_t b, void *const *base, size_t esz, gr_row_fn fn,
                      void *ctx);
/* gr_loop_run with the loop shared by the kernel threads: the outermost
 * dim along which operand 0 (written) has a non-zero stride and whose
 * halves span a few cache lines of it is cut into slabs, so no two
 * threads write one element (nor keep writing one line), and each element
 * of operand 0 sees its rows in the one-thread order (results do not
 * depend on the thread count). Loops under
 * 2 * GR_PAR_GRAIN elements, or with no such dim, run on the calling
 * thread. fn must be safe to call from
 * several threads at once on disjoint rows. */
void gr_loop_run_shared(const gr_loop *L, void *const *base, size_t esz, gr_row_fn fn, void *ctx);

/* Copy in (shape in_shape) into out (shape out_shape), broadcasting;
 * stops early once *cancel (may be NULL) is raised. */
void gr_broadcast_copy(gr_dtype dt, const gr_shape *out_shape, void *out, const gr_shape *in_shape, const void *in,
                       const volatile int *cancel);

/* out = bias + op(a) @ op(b) for matmul node mm, in one GEMM: out is
 * prefilled with bias broadcast to mm's shape, then GEMM adds with beta 1
 * (lib/ops/linalg.c; the executor fuses matmul + bias this way), with
 * mm's workspace (work_bytes at work, may be NULL). A large product runs
 * in chunks and stops early once *cancel (may be NULL) is raised. */
void gr_matmul_bias(const gr_graph *g, const gr_node *mm, const void *a, const void *b, const gr_shape *bias_shape,
                    const void *bias, void *out, void *work, int64_t work_bytes, const volatile int *cancel);

/* 1 when conv1d/conv2d node conv plus a tensor of shape bias (broadcast)
 * is the convolution with one value per output channel added: bias holds
 * Cout values along the channel dim (or one), 1 elsewhere. The executor
 * then runs the add as the convolution's kernel with gr_kernel.bias. */
int gr_conv_bias_fits(const gr_node *conv, const gr_shape *bias);

/* ---- misc ------------------------------------------------------------ */

/* Checked multiply/add of non-negative int64: 0 on overflow. */
static inline int gr_mul_ok(int64_t a, int64_t b, int64_t *r) { return !__builtin_mul_overflow(a, b, r); }
static inline int gr_add_ok(int64_t a, int64_t b, int64_t *r) { return !__builtin_add_overflow(a, b, r); }

#endif /* GRAD_INTERNAL_H */
