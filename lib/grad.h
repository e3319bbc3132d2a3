/* grad.h -- libgrad, the autodiff core of gradd.
 *
 * A graph of named single-assignment nodes (inputs, params, constants and op
 * applications) is built, finalized (names resolved, cycles rejected, shapes
 * inferred), differentiated by adding gradient nodes to the same graph
 * (reverse mode, forward mode, and therefore second order), compiled into a
 * linear program with a planned arena, and run many times.
 *
 * libgrad does no I/O and never aborts or prints on bad input: every function
 * that can fail on user input returns an error status and fills a gr_error
 * that names the node, the operand and the attribute at fault.
 *
 * Ownership: a gr_graph owns its nodes, names and constant data. A gr_exec
 * borrows its graph (the graph must outlive it and must not change while it
 * is used) and owns its arena. Caller memory bound with gr_exec_bind is
 * borrowed for the duration of each run.
 *
 * Threads: distinct graphs and execs may be used from distinct threads. One
 * gr_exec runs on one thread at a time. A finalized graph that no longer
 * changes may be shared read-only by several execs.
 */
#ifndef GRAD_H
#define GRAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GR_VERSION "0.1.0"
#define GR_MAX_RANK 8        /* rank 0..8 */
#define GR_MAX_OPERANDS 3    /* where(cond, a, b) is the widest fixed-arity op */
#define GR_VARIADIC (-1)     /* the arity of an op over a list of operands (concat, stack) */
#define GR_MAX_VARIADIC 65536 /* most operands of one variadic node */
#define GR_NAME_MAX 128      /* longest node or attribute name, bytes */

/* ---- errors ---------------------------------------------------------- */

typedef enum gr_status {
    GR_OK = 0,
    GR_E_ARG,          /* a bad argument or attribute value */
    GR_E_NOMEM,        /* the allocator said no */
    GR_E_LIMIT,        /* a caller-given limit (elements, bytes, nodes, rank) */
    GR_E_OVERFLOW,     /* shape arithmetic overflowed int64 */
    GR_E_SHAPE,        /* operand shapes do not fit the op */
    GR_E_DTYPE,        /* a dtype the graph does not use */
    GR_E_NAME,         /* an unknown name */
    GR_E_DUPLICATE,    /* a name defined twice */
    GR_E_CYCLE,        /* the graph has a cycle */
    GR_E_OP,           /* an unknown op or attribute */
    GR_E_STATE,        /* a call out of order (e.g. compile before finalize) */
    GR_E_NOT_SCALAR,   /* a loss that is not a single element */
    GR_E_VALUE,        /* a bad value at run time (e.g. a label out of range) */
    GR_E_CANCELLED,    /* the run was cancelled through its cancel flag */
    GR_STATUS_COUNT
} gr_status;

/* What went wrong and where. node is the node's name ("" when no node is at
 * fault), operand the 0-based operand index (-1 for none), attr the attribute
 * name ("" for none). message is a full sentence for a person. */
typedef struct gr_error {
    gr_status code;
    int node_id;            /* the node at fault, or -1 (then node may still name it) */
    int operand;
    char node[GR_NAME_MAX];
    char attr[32];
    char message[384];
} gr_error;

/* Stable lower-case identifier of a status ("shape_mismatch", ...). */
const char *gr_status_name(gr_status s);

/* Reset *err to "no error". err may be NULL. */
void gr_error_clear(gr_error *err);

/* ---- shapes and dtypes ----------------------------------------------- */

typedef enum gr_dtype { GR_F64 = 0, GR_F32 = 1 } gr_dtype;

/* Bytes per element of dtype (8 or 4). */
size_t gr_dtype_size(gr_dtype dt);
/* "float64" or "float32". */
const char *gr_dtype_name(gr_dtype dt);

typedef struct gr_shape {
    int rank;                    /* 0..GR_MAX_RANK */
    int64_t dims[GR_MAX_RANK];   /* each >= 0; dims[rank..] unused */
} gr_shape;

/* Build a shape from rank dims. Returns GR_E_ARG for rank out of range or a
 * negative dim. */
gr_status gr_shape_make(gr_shape *out, int rank, const int64_t *dims, gr_error *err);

/* Element count of s into *numel. GR_E_OVERFLOW when the product overflows
 * int64; GR_E_LIMIT when it exceeds max_elements (pass INT64_MAX for none). */
gr_status gr_shape_numel(const gr_shape *s, int64_t max_elements, int64_t *numel, gr_error *err);

/* 1 when a and b are the same shape, else 0. */
int gr_shape_equal(const gr_shape *a, const gr_shape *b);

/* NumPy broadcasting of a and b into *out (dims aligned from the right; a
 * dim of 1 stretches). GR_E_SHAPE when they do not broadcast. */
gr_status gr_shape_broadcast(const gr_shape *a, const gr_shape *b, gr_shape *out, gr_error *err);

/* Write "[2, 3]" into buf (always terminated). Returns buf. */
char *gr_shape_str(const gr_shape *s, char *buf, size_t cap);

/* ---- limits ---------------------------------------------------------- */

typedef struct gr_limits {
    int64_t max_nodes;        /* nodes in a graph, gradient nodes included */
    int64_t max_elements;     /* elements of any one tensor */
    int64_t max_plan_bytes;   /* arena bytes a compiled program may plan */
    int max_rank;             /* <= GR_MAX_RANK */
} gr_limits;

/* Generous defaults: 1M nodes, 2^28 elements, 4 GiB plan, rank 8. */
gr_limits gr_limits_default(void);

/* ---- ops and attributes ---------------------------------------------- */

typedef struct gr_op gr_op;   /* one entry of the op table (lib/ops/) */

typedef enum gr_attr_id {
    GR_ATTR_AXES = 0,     /* ints: reduction axes (absent: all axes) */
    GR_ATTR_KEEPDIMS,     /* bool: keep reduced axes as size 1 */
    GR_ATTR_AXIS,         /* int: softmax / log_softmax axis (default -1); one reduction axis */
    GR_ATTR_SHAPE,        /* ints: target shape (reshape allows one -1) */
    GR_ATTR_PERM,         /* ints: transpose permutation (default reversed) */
    GR_ATTR_TRANSPOSE_A,  /* bool: matmul uses the transpose of operand 0 */
    GR_ATTR_TRANSPOSE_B,  /* bool: matmul uses the transpose of operand 1 */
    GR_ATTR_VALUE,        /* number: fill value */
    GR_ATTR_NUM_CLASSES,  /* int: one_hot width */
    GR_ATTR_REDUCTION,    /* string: how cross_entropy reduces its rows, 'mean' (default) or 'sum' */
    GR_ATTR_STRIDE,       /* ints: conv/pool stride per spatial dim (one entry: all dims) */
    GR_ATTR_PADDING,      /* ints: conv/pool zero padding per spatial dim (one entry: all dims) */
    GR_ATTR_DILATION,     /* ints: conv/pool kernel dilation per spatial dim (one entry: all dims) */
    GR_ATTR_GROUPS,       /* int: conv channel groups (default 1) */
    GR_ATTR_KERNEL_SIZE,  /* ints: pooling window per spatial dim (one entry: all dims) */
    GR_ATTR_OUTPUT_PADDING, /* ints: conv_transpose extra size at the end per spatial dim */
    GR_ATTR_CEIL_MODE,    /* bool: pooling output size rounds up */
    GR_ATTR_COUNT_INCLUDE_PAD, /* bool: avg_pool2d divides by the window with its padding */
    GR_ATTR_EPS,          /* number: the normalisers' epsilon added to the variance */
    GR_ATTR_NORMALIZED_SHAPE, /* ints: layer_norm / rms_norm normalise over these last dims */
    GR_ATTR_NUM_GROUPS,   /* int: group_norm's number of channel groups */
    GR_ATTR_TRAINING,     /* bool: batch_norm uses batch statistics (true) or the running ones */
    GR_ATTR_P,            /* number: dropout probability in [0, 1] */
    GR_ATTR_SEED,         /* int: dropout's mask seed (stateless, counter-based) */
    GR_ATTR_IS_CAUSAL,    /* bool: attention masks keys after the query */
    GR_ATTR_SCALE,        /* number: attention's score scale (absent: 1/sqrt(head dim)) */
    GR_ATTR_START_DIM,    /* int: flatten's first axis (default 0) */
    GR_ATTR_END_DIM,      /* int: flatten's last axis (default -1) */
    GR_ATTR_SHIFTS,       /* ints: roll's shift per axis of axes (or of the flattened tensor) */
    GR_ATTR_REPS,         /* ints: tile's repetitions per axis (NumPy's rule) */
    GR_ATTR_REPEATS,      /* int: repeat's count per element */
    GR_ATTR_PADS,         /* ints: pad's (before, after) pairs, one pair per padded axis */
    GR_ATTR_MODE,         /* string: pad's mode, 'constant' (default), 'reflect' or 'edge' */
    GR_ATTR_K,            /* int: tril, triu, eye diagonal offset (default 0) */
    GR_ATTR_OFFSET,       /* int: diagonal's offset (default 0) */
    GR_ATTR_AXIS1,        /* int: diagonal's first matrix axis (default 0) */
    GR_ATTR_AXIS2,        /* int: diagonal's second matrix axis (default 1) */
    GR_ATTR_START,        /* number: arange's first value (default 0) */
    GR_ATTR_STOP,         /* number: arange's end, excluded (required) */
    GR_ATTR_STEP,         /* number: arange's spacing (default 1, not 0) */
    GR_ATTR_N,            /* int: eye's rows (required) */
    GR_ATTR_M,            /* int: eye's columns (default n) */
    GR_ATTR_APPROXIMATE,  /* string: gelu's form, 'none' (default, erf) or 'tanh' */
    GR_ATTR_ALPHA,        /* number: elu / celu scale of the negative branch (default 1) */
    GR_ATTR_NEGATIVE_SLOPE, /* number: leaky_relu's slope below 0 (default 0.01) */
    GR_ATTR_MIN_VAL,      /* number: hardtanh's lower bound (default -1) */
    GR_ATTR_MAX_VAL,      /* number: hardtanh's upper bound (default 1) */
    GR_ATTR_BETA,         /* number: softplus's beta (default 1) */
    GR_ATTR_THRESHOLD,    /* number: softplus is linear where beta*x > threshold (default 20) */
    GR_ATTR_MIN,          /* number: clip's lower bound (absent: none) */
    GR_ATTR_MAX,          /* number: clip's upper bound (absent: none) */
    GR_ATTR_CORRECTION,   /* number: var / std divide by count - correction (default 1) */
    GR_ATTR_ORD,          /* number: norm's order p (default 2; inf and -inf allowed) */
    GR_ATTR_IGNORE_INDEX, /* int: nll_loss / cross_entropy / one_hot label that counts for nothing (-100) */
    GR_ATTR_LABEL_SMOOTHING, /* number: cross_entropy's smoothing in [0, 1] (default 0) */
    GR_ATTR_DELTA,        /* number: huber_loss's threshold (default 1, > 0) */
    GR_ATTR_LOG_TARGET,   /* bool: kl_div's target is given as log-probabilities */
    GR_ATTR_EQUATION,     /* string: einsum's subscripts, "ij,jk->ik" */
    GR_ATTR_STARTS,       /* ints: slice's first index per axis of axes (ONNX Slice) */
    GR_ATTR_ENDS,         /* ints: slice's end index (excluded) per axis of axes */
    GR_ATTR_STEPS,        /* ints: slice's step per axis of axes (default 1; not 0) */
    GR_ATTR_PADDING_IDX,  /* int: embedding row that gets no gradient (absent: none) */
    GR_ATTR_LARGEST,      /* bool: topk takes the largest (default true) or the smallest */
    GR_ATTR_COORDINATE_TRANSFORMATION_MODE, /* string: interpolate's output-to-input coordinate map (ONNX's) */
    GR_ATTR_ALIGN_CORNERS, /* bool: interpolate's align_corners (torch's) */
    GR_ATTR_SIZE,         /* ints: interpolate's output size per resized axis */
    GR_ATTR_SCALE_FACTOR, /* number: interpolate's scale of every resized axis (> 0) */
    GR_ATTR_NEAREST_MODE, /* string: how interpolate's nearest mode rounds (ONNX's nearest_mode) */
    GR_ATTR_CUBIC_COEFF_A, /* number: the a of interpolate's cubic kernel (default -0.75) */
    GR_ATTR_EXCLUDE_OUTSIDE, /* bool: interpolate's cubic taps outside the input get weight 0 (ONNX's) */
    GR_ATTR_COUNT
} gr_attr_id;

typedef enum gr_attr_type {
    GR_ATTR_INT,          /* one integer */
    GR_ATTR_INTS,         /* a list of at most GR_MAX_RANK integers */
    GR_ATTR_BOOL,         /* true or false */
    GR_ATTR_NUMBER,       /* a finite double */
    GR_ATTR_STRING        /* a short string, under GR_ATTR_STR_MAX bytes */
} gr_attr_type;

#define GR_ATTR_STR_MAX 64   /* bytes of a string attribute, the terminator included (einsum equations) */

/* A set of attributes: bit GR_ATTR_BIT(id) for each gr_attr_id in it. 128
 * bits (GCC's unsigned __int128; the 64 of a uint64_t ran out), aligned as
 * a uint64_t so a gr_attrs in any 8-aligned memory stays aligned. */
typedef unsigned __int128 gr_attr_mask __attribute__((aligned(8)));
#define GR_ATTR_MASK_BITS 128
#define GR_ATTR_BIT(id) ((gr_attr_mask)1 << (id))

/* The attributes of one node. */
typedef struct gr_attrs {
    gr_attr_mask set;        /* the attributes given */
    int naxes;              /* GR_ATTR_AXES */
    int axes[GR_MAX_RANK];
    int keepdims;           /* GR_ATTR_KEEPDIMS */
    int axis;               /* GR_ATTR_AXIS */
    gr_shape shape;         /* GR_ATTR_SHAPE (may hold one -1 for reshape) */
    int nperm;              /* GR_ATTR_PERM */
    int perm[GR_MAX_RANK];
    int transpose_a;        /* GR_ATTR_TRANSPOSE_A */
    int transpose_b;        /* GR_ATTR_TRANSPOSE_B */
    double value;           /* GR_ATTR_VALUE */
    int64_t num_classes;    /* GR_ATTR_NUM_CLASSES */
    char reduction[GR_ATTR_STR_MAX]; /* GR_ATTR_REDUCTION, terminated */
    int nstride;            /* GR_ATTR_STRIDE: entries used (1 or one per spatial dim) */
    int stride[GR_MAX_RANK];
    int npadding;           /* GR_ATTR_PADDING */
    int padding[GR_MAX_RANK];
    int ndilation;          /* GR_ATTR_DILATION */
    int dilation[GR_MAX_RANK];
    int groups;             /* GR_ATTR_GROUPS */
    int nkernel_size;       /* GR_ATTR_KERNEL_SIZE */
    int kernel_size[GR_MAX_RANK];
    int noutput_padding;    /* GR_ATTR_OUTPUT_PADDING */
    int output_padding[GR_MAX_RANK];
    int ceil_mode;          /* GR_ATTR_CEIL_MODE */
    int count_include_pad;  /* GR_ATTR_COUNT_INCLUDE_PAD */
    double eps;             /* GR_ATTR_EPS */
    int nnormalized_shape;  /* GR_ATTR_NORMALIZED_SHAPE: entries used */
    int64_t normalized_shape[GR_MAX_RANK];
    int64_t num_groups;     /* GR_ATTR_NUM_GROUPS */
    int training;           /* GR_ATTR_TRAINING */
    double p;               /* GR_ATTR_P */
    int64_t seed;           /* GR_ATTR_SEED */
    int is_causal;          /* GR_ATTR_IS_CAUSAL */
    double scale;           /* GR_ATTR_SCALE */
    int start_dim;          /* GR_ATTR_START_DIM */
    int end_dim;            /* GR_ATTR_END_DIM */
    int nshifts;            /* GR_ATTR_SHIFTS: entries used */
    int64_t shifts[GR_MAX_RANK];
    int nreps;              /* GR_ATTR_REPS: entries used */
    int64_t reps[GR_MAX_RANK];
    int64_t repeats;        /* GR_ATTR_REPEATS */
    int npads;              /* GR_ATTR_PADS: entries used (even) */
    int64_t pads[GR_MAX_RANK];
    char mode[GR_ATTR_STR_MAX]; /* GR_ATTR_MODE, terminated */
    int64_t k;              /* GR_ATTR_K */
    int64_t offset;         /* GR_ATTR_OFFSET */
    int axis1;              /* GR_ATTR_AXIS1 */
    int axis2;              /* GR_ATTR_AXIS2 */
    double start;           /* GR_ATTR_START */
    double stop;            /* GR_ATTR_STOP */
    double step;            /* GR_ATTR_STEP */
    int64_t n;              /* GR_ATTR_N */
    int64_t m;              /* GR_ATTR_M */
    char approximate[GR_ATTR_STR_MAX]; /* GR_ATTR_APPROXIMATE, terminated */
    double alpha;           /* GR_ATTR_ALPHA */
    double negative_slope;  /* GR_ATTR_NEGATIVE_SLOPE */
    double min_val;         /* GR_ATTR_MIN_VAL */
    double max_val;         /* GR_ATTR_MAX_VAL */
    double beta;            /* GR_ATTR_BETA */
    double threshold;       /* GR_ATTR_THRESHOLD */
    double clip_min;        /* GR_ATTR_MIN */
    double clip_max;        /* GR_ATTR_MAX */
    double correction;      /* GR_ATTR_CORRECTION */
    double ord;             /* GR_ATTR_ORD (may be +-inf) */
    int64_t ignore_index;   /* GR_ATTR_IGNORE_INDEX */
    double label_smoothing; /* GR_ATTR_LABEL_SMOOTHING */
    double delta;           /* GR_ATTR_DELTA */
    int log_target;         /* GR_ATTR_LOG_TARGET */
    char equation[GR_ATTR_STR_MAX]; /* GR_ATTR_EQUATION, terminated */
    int nstarts;            /* GR_ATTR_STARTS: entries used */
    int64_t starts[GR_MAX_RANK];
    int nends;              /* GR_ATTR_ENDS: entries used */
    int64_t ends[GR_MAX_RANK];
    int nsteps;             /* GR_ATTR_STEPS: entries used */
    int64_t steps[GR_MAX_RANK];
    int64_t padding_idx;    /* GR_ATTR_PADDING_IDX */
    int largest;            /* GR_ATTR_LARGEST */
    char coordinate_transformation_mode[GR_ATTR_STR_MAX]; /* GR_ATTR_COORDINATE_TRANSFORMATION_MODE, terminated */
    int align_corners;      /* GR_ATTR_ALIGN_CORNERS */
    int nsize;              /* GR_ATTR_SIZE: entries used */
    int64_t size[GR_MAX_RANK];
    double scale_factor;    /* GR_ATTR_SCALE_FACTOR */
    char nearest_mode[GR_ATTR_STR_MAX]; /* GR_ATTR_NEAREST_MODE, terminated */
    double cubic_coeff_a;   /* GR_ATTR_CUBIC_COEFF_A */
    int exclude_outside;    /* GR_ATTR_EXCLUDE_OUTSIDE */
} gr_attrs;

/* One row of the attribute table: everything about an attribute is said
 * here once (lib/attr.c), and the readers, the writer, the catalogue and
 * the range rule all read it. A new attribute is one row, one gr_attr_id
 * and (when no field fits) one gr_attrs field. */
typedef struct gr_attr_def {
    const char *name;       /* "axes" */
    gr_attr_type type;
    int id;                 /* its gr_attr_id: the bit in gr_attrs.set */
    size_t off;             /* of its value in gr_attrs (a list: of entry 0) */
    size_t count_off;       /* GR_ATTR_INTS: of the int entry count in gr_attrs */
    size_t width;           /* GR_ATTR_INT, GR_ATTR_INTS, GR_ATTR_BOOL: bytes of one stored
                               integer (sizeof int or int64_t) */
    int64_t min, max;       /* the valid range: GR_ATTR_INT and each GR_ATTR_INTS entry, both
                               inclusive; GR_ATTR_STRING: bytes of the string; GR_ATTR_NUMBER:
                               max 1 admits +-inf (NaN never), 0 finite numbers only */
    const char *def;        /* what absence means, as JSON text ("false", "-1"), or NULL when
                               the description says it (all axes, reversed, required) */
    const char *doc;        /* one line for the catalogue */
    const char *const *choices; /* GR_ATTR_STRING: the values allowed (NULL-terminated), or
                                   NULL: any */
} gr_attr_def;

/* One typed attribute value, as the readers produce and the writer takes. */
typedef struct gr_attr_value {
    gr_attr_type type;
    int64_t i;                    /* GR_ATTR_INT; GR_ATTR_BOOL (0 or 1) */
    double f;                     /* GR_ATTR_NUMBER */
    int n;                        /* GR_ATTR_INTS: entries used */
    int64_t ints[GR_MAX_RANK];    /* GR_ATTR_INTS (n) */
    char str[GR_ATTR_STR_MAX];    /* GR_ATTR_STRING, terminated */
} gr_attr_value;

/* The row of id, or NULL for an id out of range. */
const gr_attr_def *gr_attr_def_of(gr_attr_id id);
/* Attribute table: name ("axes", ...) and type of id; id by name or -1. */
const char *gr_attr_name(gr_attr_id id);
gr_attr_type gr_attr_type_of(gr_attr_id id);
int gr_attr_lookup(const char *name);
/* "int", "ints", "bool", "number", "string". */
const char *gr_attr_type_name(gr_attr_type t);

/* The range rule, the one place it lives: v has d's type, an int (each
 * entry of a list) lies in [d->min, d->max], a list has at most
 * GR_MAX_RANK entries, a number is finite (or +-inf where the row allows it), a string's length lies in
 * [d->min, d->max] and it is one of d->choices when the row has them. GR_E_ARG otherwise, err->attr naming the attribute and
 * err->message saying the value and the range ("attribute 'axis' is 9,
 * outside -8 to 7"). */
gr_status gr_attr_check(const gr_attr_def *d, const gr_attr_value *v, gr_error *err);

/* Store v as attribute d of *a after gr_attr_check, and mark it set. */
gr_status gr_attrs_put(gr_attrs *a, const gr_attr_def *d, const gr_attr_value *v, gr_error *err);
/* Attribute d of a into *out; returns 1, or 0 (out untouched) when unset. */
int gr_attrs_get(const gr_attrs *a, const gr_attr_def *d, gr_attr_value *out);
/* gr_attr_check of every attribute set in a. */
gr_status gr_attrs_check(const gr_attrs *a, gr_error *err);

/* Setters that also mark the attribute as set, for code that builds
 * attributes by hand. An int that does not fit its field saturates there
 * (gr_graph_node's range check then refuses it). The list setter returns
 * GR_E_ARG when gr_attr_check refuses the list. */
void gr_attrs_set_int(gr_attrs *a, gr_attr_id id, int64_t v);
void gr_attrs_set_number(gr_attrs *a, gr_attr_id id, double v);
gr_status gr_attrs_set_ints(gr_attrs *a, gr_attr_id id, const int64_t *v, int n, gr_error *err);

/* The op table. gr_op_count() entries, gr_op_at(i) for i in [0, count);
 * gr_op_find("relu") returns NULL for an unknown name. */
int gr_op_count(void);
const gr_op *gr_op_at(int i);
const gr_op *gr_op_find(const char *name);

/* Catalogue data of an op. Arity is the number of tensor operands, or
 * GR_VARIADIC for an op over a list of tensors. The
 * accepted attributes are the bits of gr_op_attrs. gr_op_doc is the
 * derivative rule in words. gr_op_nondiff is the mask of operands that get
 * no gradient (labels, conditions). gr_op_internal is 1 for ops the autodiff
 * passes insert (expand, sum_to, one_hot, fill) that users may still name. */
const char *gr_op_name(const gr_op *op);
int gr_op_arity(const gr_op *op);
/* The fewest operands op takes: its arity, or for a GR_VARIADIC op its
 * minimum (it takes up to GR_MAX_VARIADIC). */
int gr_op_min_operands(const gr_op *op);
gr_attr_mask gr_op_attrs(const gr_op *op);
gr_attr_mask gr_op_required_attrs(const gr_op *op);
const char *gr_op_doc(const gr_op *op);
unsigned gr_op_nondiff(const gr_op *op);

/* ---- graphs ---------------------------------------------------------- */

typedef struct gr_graph gr_graph;

typedef enum gr_node_kind { GR_INPUT, GR_PARAM, GR_CONST, GR_OPNODE } gr_node_kind;

/* A new empty graph of dtype dt under limits (NULL: gr_limits_default()).
 * NULL when out of memory. */
gr_graph *gr_graph_new(gr_dtype dt, const gr_limits *limits);
/* Free g and everything it owns. NULL is allowed. */
void gr_graph_free(gr_graph *g);

gr_dtype gr_graph_dtype(const gr_graph *g);
/* Number of nodes (ids are 0..count-1, stable for the graph's life). */
int gr_graph_node_count(const gr_graph *g);
/* Bytes g holds: its node table, names, index and constant data. */
int64_t gr_graph_bytes(const gr_graph *g);
/* Change limits.max_plan_bytes for programs compiled from g from now on
 * (a caller compiling several programs from one graph splits its budget). */
void gr_graph_set_plan_limit(gr_graph *g, int64_t max_plan_bytes);

/* Add an input (data of one request) or a param (trainable) named name with
 * shape. Returns the node id, or -1 with *err set (bad or duplicate name,
 * rank or element limit, node limit). Allowed before and after finalize. */
int gr_graph_input(gr_graph *g, const char *name, const gr_shape *shape, gr_error *err);
int gr_graph_param(gr_graph *g, const char *name, const gr_shape *shape, gr_error *err);

/* Add a constant holding a copy of numel(shape) elements of the graph's
 * dtype from data. name may be NULL for an anonymous constant. Returns the
 * id or -1. */
int gr_graph_const(gr_graph *g, const char *name, const gr_shape *shape, const void *data, gr_error *err);

/* Add an op node by names, before finalize: operands are named and may be
 * defined later (any order). attrs may be NULL. Returns the id or -1 (unknown
 * or duplicate name, wrong arity, attribute the op does not take). */
int gr_graph_node(gr_graph *g, const char *name, const gr_op *op, const char *const *operand_names,
                  int n_operands, const gr_attrs *attrs, gr_error *err);

/* Optional cancellation of the graph's long transformations: once *flag
 * becomes non-zero, gr_graph_finalize, gr_grad, gr_jvp, gr_hvp and
 * gr_compile stop within a few thousand nodes with GR_E_CANCELLED (the
 * graph is then unusable: free it). NULL (the default) turns it off. The
 * flag must outlive the graph's use. */
void gr_graph_set_cancel(gr_graph *g, const volatile int *flag);

/* Resolve names, reject cycles (naming the nodes on one), order the nodes
 * topologically and infer every shape. Iterative: depth is unbounded.
 * GR_E_STATE when called twice. */
gr_status gr_graph_finalize(gr_graph *g, gr_error *err);

/* Add an op node by ids after finalize; its shape is inferred at once.
 * name may be NULL (it is then shown as "%<id>"). Returns the id or -1. */
int gr_graph_apply(gr_graph *g, const char *name, const gr_op *op, const int *operands, int n_operands,
                   const gr_attrs *attrs, gr_error *err);

/* Id of the node named name, or -1. */
int gr_graph_find(const gr_graph *g, const char *name);

/* Node accessors (id must be valid). gr_node_name writes "%<id>" for
 * anonymous nodes into a per-call buffer of the caller's: pass buf, cap. */
const char *gr_node_name(const gr_graph *g, int id, char *buf, size_t cap);
gr_node_kind gr_node_kind_of(const gr_graph *g, int id);
const gr_op *gr_node_op(const gr_graph *g, int id);          /* NULL unless GR_OPNODE */
int gr_node_operand_count(const gr_graph *g, int id);
int gr_node_operand(const gr_graph *g, int id, int i);
const gr_attrs *gr_node_attrs(const gr_graph *g, int id);
const gr_shape *gr_node_shape(const gr_graph *g, int id);    /* valid after finalize */
int64_t gr_node_numel(const gr_graph *g, int id);
const void *gr_node_const_data(const gr_graph *g, int id);   /* GR_CONST only */
/* Estimated floating-point operations of one evaluation of node id. */
int64_t gr_node_flops(const gr_graph *g, int id);

/* The nodes in a topological order (after finalize), count in *n. */
const int *gr_graph_order(const gr_graph *g, int *n);

/* ---- autodiff: graph transformations --------------------------------- */

/* Reverse mode. Adds to g the nodes of d(loss)/d(wrt[i]) for each i and
 * writes their ids to grads[i]. loss must have exactly one element. Every
 * path is accumulated; only nodes on a path from a wrt node to loss get
 * gradient nodes. A wrt node that loss does not depend on gets zeros. Any
 * node (input, param, intermediate) may be in wrt. */
gr_status gr_grad(gr_graph *g, int loss, const int *wrt, int n_wrt, int *grads, gr_error *err);

/* Forward mode. For seeds[i] with tangent node tangents[i] (same shape),
 * adds the tangent nodes of each outputs[j] and writes their ids to
 * out_tangents[j] (zeros when outputs[j] does not depend on any seed). */
gr_status gr_jvp(gr_graph *g, const int *seeds, const int *tangents, int n_seeds, const int *outputs,
                 int n_outputs, int *out_tangents, gr_error *err);

/* Hessian-vector product of scalar loss w.r.t. wrt[i] along vectors[i]
 * (nodes of the same shapes): hv[i] = sum_j H_ij v_j. Reverse over reverse. */
gr_status gr_hvp(gr_graph *g, int loss, const int *wrt, const int *vectors, int n, int *hv, gr_error *err);

/* ---- executor -------------------------------------------------------- */

typedef struct gr_exec gr_exec;

/* Compile the part of finalized g needed for outputs into a linear program
 * with a planned arena: a buffer is reused after its last use. GR_E_LIMIT
 * when the arena would exceed limits.max_plan_bytes (checked before it is
 * allocated). NULL with *err set on failure. */
gr_exec *gr_compile(const gr_graph *g, const int *outputs, int n_outputs, gr_error *err);
void gr_exec_free(gr_exec *e);

/* Point input or param node id at caller memory holding numel elements of
 * the graph's dtype. Must be done for every input and param the program
 * reads before gr_exec_run. GR_E_ARG for another kind of node. */
gr_status gr_exec_bind(gr_exec *e, int id, const void *data, gr_error *err);

/* 1 when the program reads node id (so it must be bound), else 0. */
int gr_exec_needs(const gr_exec *e, int id);

/* Optional cancellation: when *flag becomes non-zero the run stops with
 * GR_E_CANCELLED, between two instructions or inside a long kernel (large
 * products, elementwise passes and reductions look at the flag about every
 * millisecond of work; outputs are then partly written). NULL turns it
 * off. */
void gr_exec_set_cancel(gr_exec *e, const volatile int *flag);

/* Threads the kernels of every run may use, the calling thread included
 * (default 1: none started). Process-wide, like openblas_set_num_threads,
 * which a caller sets alongside: the big elementwise, row and convolution
 * loops split across them. Concurrent runs share the pool: one at a time
 * gets it, the others run their loops alone. GR_E_ARG outside [1, 64]. */
gr_status gr_set_threads(int n, gr_error *err);
int gr_threads(void);

/* The name of OpenBLAS's kernel set in use ("Haswell", "SkylakeX", ...):
 * chosen when OpenBLAS loads, from the CPU or from OPENBLAS_CORETYPE. And
 * who runs the float32 products: "libgrad AVX-512" where the CPU has
 * AVX-512 and OpenBLAS's set is not written for it (lib/sgemm.c), else
 * "OpenBLAS". For start-up lines and benchmark headers. */
const char *gr_blas_core(void);
const char *gr_sgemm_kernel(void);

/* Run the program once. Allocates nothing, but for one thing per thread:
 * the first float32 product a thread runs on libgrad's AVX-512 GEMM takes
 * its packing buffers (2.2 MB, kept until the thread ends; without them
 * the product goes to OpenBLAS). GR_E_VALUE (naming the node and operand)
 * for bad run-time values such as an out-of-range label; GR_E_STATE when
 * an input is unbound. */
gr_status gr_exec_run(gr_exec *e, gr_error *err);

/* Value of output node id after a run (numel elements, graph dtype); valid
 * until the next run or free. NULL for a node that is not an output. */
const void *gr_exec_value(const gr_exec *e, int id);

typedef struct gr_exec_stats {
    int64_t instructions;   /* op nodes executed per run */
    int64_t arena_bytes;    /* planned peak of intermediate buffers */
    int64_t unplanned_bytes;/* what one buffer per node would take */
    int64_t flops;          /* estimated per run */
} gr_exec_stats;
void gr_exec_get_stats(const gr_exec *e, gr_exec_stats *st);

/* ---- optimizers (state in plain tensors the caller keeps) ------------ */

typedef struct gr_sgd {
    double lr;            /* >= 0 */
    double momentum;      /* [0, 1) */
    double weight_decay;  /* >= 0, L2 added to the gradient */
    int nesterov;         /* needs momentum > 0 */
} gr_sgd;

typedef struct gr_adam {
    double lr, beta1, beta2, eps;  /* lr >= 0, betas in [0,1), eps > 0 */
    double weight_decay;           /* >= 0 */
    int decoupled;                 /* 1: AdamW (decay the weights), 0: L2 in the gradient */
} gr_adam;

gr_sgd gr_sgd_default(void);   /* lr 0.01, no momentum, no decay */
gr_adam gr_adam_default(void); /* lr 0.001, betas 0.9/0.999, eps 1e-8 */

/* Validate a configuration (GR_E_ARG names the field in err->attr). */
gr_status gr_sgd_check(const gr_sgd *c, gr_error *err);
gr_status gr_adam_check(const gr_adam *c, gr_error *err);

/* One SGD step on n elements, in place, PyTorch's semantics:
 * g' = grad + wd*p; buf = momentum*buf + g'; step = nesterov ? g' +
 * momentum*buf : buf; p -= lr*step. velocity (n elements) may be NULL only
 * when momentum is 0; a zeroed velocity is a fresh start. */
gr_status gr_sgd_update(gr_dtype dt, int64_t n, void *param, const void *grad, void *velocity,
                        const gr_sgd *c, gr_error *err);

/* One Adam/AdamW step on n elements, in place. m and v are the moment
 * tensors (zeroed for a fresh start); step is the 1-based number of this
 * step (the caller keeps the count). */
gr_status gr_adam_update(gr_dtype dt, int64_t n, void *param, const void *grad, void *m, void *v,
                         int64_t step, const gr_adam *c, gr_error *err);

/* What an update would leave, found without making it (the probes): the
 * gradient has an inf or NaN; else an updated param would be inf or NaN;
 * else all finite. A service that must not take a step that leaves
 * non-finite params probes every param first, then updates. */
typedef enum gr_update_probe {
    GR_PROBE_FINITE = 0,
    GR_PROBE_GRAD_NOT_FINITE,
    GR_PROBE_PARAM_NOT_FINITE,
} gr_update_probe;

/* gr_sgd_update's and gr_adam_update's arguments and validation; nothing
 * is written but *out. The values they test are bit for bit the ones the
 * update stores. */
gr_status gr_sgd_probe(gr_dtype dt, int64_t n, const void *param, const void *grad, const void *velocity,
                       const gr_sgd *c, gr_update_probe *out, gr_error *err);
gr_status gr_adam_probe(gr_dtype dt, int64_t n, const void *param, const void *grad, const void *m, const void *v,
                        int64_t step, const gr_adam *c, gr_update_probe *out, gr_error *err);

/* Many tensors in one call, as PyTorch's foreach optimizers take them:
 * tensor k has n[k] elements at param[k] and grad[k], and its state at
 * s1[k] (SGD's velocity, Adam's m) and s2[k] (Adam's v); s1 and s2 may be
 * NULL where the one-tensor call takes NULL. The elements of all of them
 * are one loop, split across gr_set_threads' threads (a step's update no
 * longer runs on one core while the other waits); each element's result
 * is the one-tensor call's, bit for bit. */
typedef struct gr_update_set {
    int count;
    const int64_t *n;        /* [count] elements of each tensor */
    void *const *param;      /* [count] */
    const void *const *grad; /* [count] */
    void *const *s1;         /* [count] or NULL */
    void *const *s2;         /* [count] or NULL */
} gr_update_set;

gr_status gr_sgd_update_set(gr_dtype dt, const gr_update_set *set, const gr_sgd *c, gr_error *err);
gr_status gr_adam_update_set(gr_dtype dt, const gr_update_set *set, int64_t step, const gr_adam *c, gr_error *err);
/* The probes of a set: out[k] is tensor k's (out has count entries). */
gr_status gr_sgd_probe_set(gr_dtype dt, const gr_update_set *set, const gr_sgd *c, gr_update_probe *out,
                           gr_error *err);
gr_status gr_adam_probe_set(gr_dtype dt, const gr_update_set *set, int64_t step, const gr_adam *c,
                            gr_update_probe *out, gr_error *err);

#ifdef __cplusplus
}
#endif
#endif /* GRAD_H */
