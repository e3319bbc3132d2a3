/* bench_lib.c -- in-process benchmark of libgrad on the workloads of
 * ../shared/bench/torch_steps.py (the PyTorch peer), defined exactly as
 * there:
 *
 *   seed-scalar      f(x, y) = 1 / (y + exp(-x)) at (0, 1), value and both
 *                    partials, float64
 *   mlp-mnist-step   x[256,784] -> relu(x W1 + b1) -> (. W2 + b2) ->
 *                    cross_entropy (integer labels, mean) -> grads of
 *                    W1 b1 W2 b2 -> SGD lr 0.1 in place; float32
 *   mlp-wide-step    the same, 1024-1024-1024-10, batch 512
 *   deep-scalar-10k  h = x = 0.5; 10,000 times h = sin(h)*0.5 + h*0.3 (even
 *                    i) or tanh(h) + 0.1 (odd i); h and dh/dx; float64
 *   cnn-step         x[64,1,28,28] -> conv2d 3x3 (1->16, padding 1) + bias ->
 *                    relu -> max_pool2d 2 -> conv2d 3x3 (16->32, padding 1) +
 *                    bias -> relu -> max_pool2d 2 -> flatten -> @ w3 + b3 ->
 *                    cross_entropy -> grads of the six params -> SGD lr 0.1;
 *                    float32 (the first loss checked against direct loops)
 *   gpt-step         one pre-LayerNorm transformer block and an SGD step
 *                    (bench_gpt.c; its first loss checked likewise)
 *
 * Each graph is built, differentiated and compiled once ("compile": graph
 * build + gr_grad + gr_compile, timed once); then a step (bind + run, plus
 * the SGD update for the MLPs) is timed like torch_steps.py's timeit: one
 * warm-up call, then 5 reps that each run for at least min_time/5 seconds,
 * and the median of the reps' per-step means.
 *
 * Output, per workload:
 *   <name> <median> ms
 *   <name> compile <ms> ms
 *   # <name> ...            (plan sizes, GFLOP/s, checks)
 * Usage: bench_lib [--only NAME] [--min-time SECONDS] [--threads N]
 * --min-time overrides the per-workload minimum (torch_steps.py's 1.5 s,
 * 3 s for deep-scalar-10k), for quick or profiling runs. --threads N
 * (default 1) gives OpenBLAS and libgrad's kernels (gr_set_threads) N
 * threads, as the daemon's --blas-threads N does.
 *
 * Checks (outside the timing): seed-scalar against its exact values,
 * deep-scalar-10k against the recurrence in plain C, the MLPs', cnn-step's
 * and gpt-step's first loss against a plain C forward pass in double and a
 * falling loss over the timed steps.
 * Exits non-zero with a message on any libgrad error or failed check. */
#include "bench.h"
#include "grad.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* OpenBLAS: --threads of them (default 1), like the peer's --threads. */
void openblas_set_num_threads(int);

#define REPS 5

/* ---- errors ---------------------------------------------------------- */


static void check(gr_status st, const gr_error *err, const char *what) {
    if (st == GR_OK) return;
    bench_die("%s: %s: %s%s%s%s", what, gr_status_name(st), err->message, err->node[0] ? " (node '" : "", err->node,
        err->node[0] ? "')" : "");
}

/* ---- time ------------------------------------------------------------ */

static double now(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) bench_die("clock_gettime failed");
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* torch_steps.py's timeit: seconds per step, median over REPS reps. */
static double time_step(void (*step)(void *), void *ctx, double min_time, long *total_steps) {
    double per[REPS];
    step(ctx); /* warm-up */
    *total_steps = 1;
    for (int r = 0; r < REPS; r++) {
        long n = 0;
        double t0 = now(), dt;
        for (;;) {
            step(ctx);
            n++;
            dt = now() - t0;
            if (dt >= min_time / REPS) break;
        }
        per[r] = dt / (double)n;
        *total_steps += n;
    }
    qsort(per, REPS, sizeof per[0], cmp_double);
    return per[REPS / 2];
}

/* ---- data ------------------------------------------------------------ */

#define RNG_SEED 0x9e3779b97f4a7c15ull
static uint64_t rng = RNG_SEED; /* reset per workload: --only gives the same data */

static double uniform01(void) { /* (0, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

static double randn(void) { /* Box-Muller */
    double u = uniform01(), v = uniform01();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) bench_die("out of memory (%zu bytes)", n);
    return p;
}

/* ---- graph building helpers ------------------------------------------ */

static gr_shape shape_of(int rank, int64_t d0, int64_t d1) {
    gr_shape s;
    gr_error err;
    int64_t dims[2] = {d0, d1};
    gr_error_clear(&err);
    check(gr_shape_make(&s, rank, dims, &err), &err, "shape");
    return s;
}

static const gr_op *op_named(const char *name) {
    const gr_op *op = gr_op_find(name);
    if (!op) bench_die("libgrad has no op '%s'", name);
    return op;
}

static int apply(gr_graph *g, const char *opname, int a, int b) {
    gr_error err;
    gr_error_clear(&err);
    int ops[2] = {a, b};
    const gr_op *op = op_named(opname);
    int id = gr_graph_apply(g, NULL, op, ops, gr_op_arity(op), NULL, &err);
    if (id < 0) check(err.code ? err.code : GR_E_STATE, &err, opname);
    return id;
}

static int leaf(gr_graph *g, int param, const char *name, const gr_shape *s) {
    gr_error err;
    gr_error_clear(&err);
    int id = param ? gr_graph_param(g, name, s, &err) : gr_graph_input(g, name, s, &err);
    if (id < 0) check(err.code ? err.code : GR_E_STATE, &err, name);
    return id;
}

static int scalar_const(gr_graph *g, double v) {
    gr_error err;
    gr_error_clear(&err);
    gr_shape s = shape_of(0, 0, 0);
    float f = (float)v;
    const void *data = gr_graph_dtype(g) == GR_F32 ? (const void *)&f : (const void *)&v;
    int id = gr_graph_const(g, NULL, &s, data, &err);
    if (id < 0) check(err.code ? err.code : GR_E_STATE, &err, "constant");
    return id;
}

static gr_graph *new_graph(gr_dtype dt) {
    gr_graph *g = gr_graph_new(dt, NULL);
    if (!g) bench_die("gr_graph_new: out of memory");
    return g;
}

static void finalize(gr_graph *g) {
    gr_error err;
    gr_error_clear(&err);
    check(gr_graph_finalize(g, &err), &err, "finalize");
}

static void grad(gr_graph *g, int loss, const int *wrt, int n, int *grads) {
    gr_error err;
    gr_error_clear(&err);
    check(gr_grad(g, loss, wrt, n, grads, &err), &err, "gr_grad");
}

static gr_exec *compile(const gr_graph *g, const int *outs, int n) {
    gr_error err;
    gr_error_clear(&err);
    gr_exec *e = gr_compile(g, outs, n, &err);
    if (!e) check(err.code ? err.code : GR_E_STATE, &err, "gr_compile");
    return e;
}

static void bind(gr_exec *e, int id, const void *data) {
    gr_error err;
    gr_error_clear(&err);
    check(gr_exec_bind(e, id, data, &err), &err, "gr_exec_bind");
}

static void run(gr_exec *e) {
    gr_error err;
    gr_error_clear(&err);
    check(gr_exec_run(e, &err), &err, "gr_exec_run");
}

static const void *value(const gr_exec *e, int id) {
    const void *v = gr_exec_value(e, id);
    if (!v) bench_die("gr_exec_value: node %d is not an output", id);
    return v;
}

/* ---- workloads ------------------------------------------------------- */


/* Compile phases: t0 graph_new, t1 forward built, t2 gr_grad done, t3
 * gr_compile done. */
static void phases(result *r, double t0, double t1, double t2, double t3) {
    r->build_ms = (t1 - t0) * 1e3;
    r->grad_ms = (t2 - t1) * 1e3;
    r->plan_ms = (t3 - t2) * 1e3;
    r->compile_ms = (t3 - t0) * 1e3;
}

/* seed-scalar --------------------------------------------------------- */

typedef struct scalar_ctx {
    gr_exec *e;
    int x, y;
    double xv, yv;
} scalar_ctx;

static void scalar_step(void *p) {
    scalar_ctx *c = p;
    bind(c->e, c->x, &c->xv);
    bind(c->e, c->y, &c->yv);
    run(c->e);
}

static void bench_seed_scalar(double min_time, result *r) {
    scalar_ctx c = {.xv = 0, .yv = 1};
    double t0 = now();
    gr_graph *g = new_graph(GR_F64);
    gr_shape s0 = shape_of(0, 0, 0);
    c.x = leaf(g, 0, "x", &s0);
    c.y = leaf(g, 0, "y", &s0);
    finalize(g);
    int f = apply(g, "reciprocal", apply(g, "add", c.y, apply(g, "exp", apply(g, "neg", c.x, -1), -1)), -1);
    int wrt[2] = {c.x, c.y}, outs[3] = {f, -1, -1};
    double t1 = now();
    grad(g, f, wrt, 2, outs + 1);
    double t2 = now();
    c.e = compile(g, outs, 3);
    phases(r, t0, t1, t2, now());

    r->step_ms = time_step(scalar_step, &c, min_time, &r->steps) * 1e3;
    double fv = *(const double *)value(c.e, outs[0]), dx = *(const double *)value(c.e, outs[1]),
           dy = *(const double *)value(c.e, outs[2]);
    if (fabs(fv - 0.5) > 1e-15 || fabs(dx - 0.25) > 1e-15 || fabs(dy + 0.25) > 1e-15)
        bench_die("seed-scalar: got f=%.17g df/dx=%.17g df/dy=%.17g, want 0.5 0.25 -0.25", fv, dx, dy);
    snprintf(r->note, sizeof r->note, "f=%g df/dx=%g df/dy=%g (checked)", fv, dx, dy);
    gr_exec_get_stats(c.e, &r->stats);
    r->nodes = gr_graph_node_count(g);
    gr_exec_free(c.e);
    gr_graph_free(g);
}

/* deep-scalar-10k ------------------------------------------------------- */

enum { DEEP_N = 10000 };

typedef struct deep_ctx {
    gr_exec *e;
    int x;
    double xv;
} deep_ctx;

static void deep_step(void *p) {
    deep_ctx *c = p;
    bind(c->e, c->x, &c->xv);
    run(c->e);
}

static void bench_deep_scalar(double min_time, result *r) {
    deep_ctx c = {.xv = 0.5};
    double t0 = now();
    gr_graph *g = new_graph(GR_F64);
    gr_shape s0 = shape_of(0, 0, 0);
    c.x = leaf(g, 0, "x", &s0);
    finalize(g);
    int c05 = scalar_const(g, 0.5), c03 = scalar_const(g, 0.3), c01 = scalar_const(g, 0.1);
    int h = c.x;
    for (int i = 0; i < DEEP_N; i++) {
        if (i % 2 == 0)
            h = apply(g, "add", apply(g, "mul", apply(g, "sin", h, -1), c05), apply(g, "mul", h, c03));
        else
            h = apply(g, "add", apply(g, "tanh", h, -1), c01);
    }
    int outs[2] = {h, -1};
    double t1 = now();
    grad(g, h, &c.x, 1, outs + 1);
    double t2 = now();
    c.e = compile(g, outs, 2);
    phases(r, t0, t1, t2, now());

    r->step_ms = time_step(deep_step, &c, min_time, &r->steps) * 1e3;

    /* Reference: the same recurrence with the derivative carried forward. */
    double hv = 0.5, dh = 1;
    for (int i = 0; i < DEEP_N; i++) {
        if (i % 2 == 0) {
            dh = (cos(hv) * 0.5 + 0.3) * dh;
            hv = sin(hv) * 0.5 + hv * 0.3;
        } else {
            double t = tanh(hv);
            dh = (1 - t * t) * dh;
            hv = t + 0.1;
        }
    }
    double got_h = *(const double *)value(c.e, outs[0]), got_d = *(const double *)value(c.e, outs[1]);
    if (fabs(got_h - hv) > 1e-12 * fabs(hv) || fabs(got_d - dh) > 1e-9 * fabs(dh) + 1e-300)
        bench_die("deep-scalar-10k: got h=%.17g dh/dx=%.17g, want %.17g %.17g", got_h, got_d, hv, dh);
    /* dh/dx is a product of 10,000 factors near 0.93: it ends subnormal (a
     * few ulps above 0), for torch too, so only h is a sharp check. */
    snprintf(r->note, sizeof r->note, "h=%.15g dh/dx=%.3g (checked against a forward-mode C loop; subnormal)", got_h,
             got_d);
    gr_exec_get_stats(c.e, &r->stats);
    r->nodes = gr_graph_node_count(g);
    gr_exec_free(c.e);
    gr_graph_free(g);
}

/* mlp-*-step ------------------------------------------------------------ */

enum { MLP_MAX_LAYERS = 3 };

typedef struct mlp_ctx {
    int nl;                                  /* weight layers */
    int64_t sizes[MLP_MAX_LAYERS + 1], batch;
    gr_exec *e;
    int x, y, W[MLP_MAX_LAYERS], b[MLP_MAX_LAYERS], loss;
    int gW[MLP_MAX_LAYERS], gb[MLP_MAX_LAYERS];
    float *xd, *yd, *Wd[MLP_MAX_LAYERS], *bd[MLP_MAX_LAYERS];
    gr_sgd sgd;
} mlp_ctx;

static void mlp_step(void *p) {
    mlp_ctx *c = p;
    bind(c->e, c->x, c->xd);
    bind(c->e, c->y, c->yd);
    for (int l = 0; l < c->nl; l++) {
        bind(c->e, c->W[l], c->Wd[l]);
        bind(c->e, c->b[l], c->bd[l]);
    }
    run(c->e);
    float *params[2 * MLP_MAX_LAYERS];
    int64_t n[2 * MLP_MAX_LAYERS];
    int grads[2 * MLP_MAX_LAYERS];
    for (int l = 0; l < c->nl; l++) {
        params[2 * l] = c->Wd[l], n[2 * l] = c->sizes[l] * c->sizes[l + 1], grads[2 * l] = c->gW[l];
        params[2 * l + 1] = c->bd[l], n[2 * l + 1] = c->sizes[l + 1], grads[2 * l + 1] = c->gb[l];
    }
    bench_sgd(c->e, 2 * c->nl, params, n, grads, &c->sgd);
}

/* Plain C forward pass and loss at the current weights, in double (checks
 * the graph's forward; the falling loss over the timed steps checks the
 * gradients and the update). */
static double mlp_ref_loss(const mlp_ctx *c) {
    int64_t B = c->batch, maxw = 0;
    for (int l = 0; l <= c->nl; l++)
        if (c->sizes[l] > maxw) maxw = c->sizes[l];
    double *a = xmalloc((size_t)(B * maxw) * sizeof *a), *z = xmalloc((size_t)(B * maxw) * sizeof *z);
    for (int64_t i = 0; i < B * c->sizes[0]; i++) a[i] = c->xd[i];
    for (int l = 0; l < c->nl; l++) {
        int64_t in = c->sizes[l], out = c->sizes[l + 1];
        for (int64_t r = 0; r < B; r++) {
            for (int64_t j = 0; j < out; j++) z[r * out + j] = c->bd[l][j];
            for (int64_t k = 0; k < in; k++) {
                double av = a[r * in + k];
                const float *w = c->Wd[l] + k * out;
                for (int64_t j = 0; j < out; j++) z[r * out + j] += av * w[j];
            }
        }
        for (int64_t i = 0; i < B * out; i++) a[i] = (l < c->nl - 1 && z[i] < 0) ? 0 : z[i];
    }
    int64_t C = c->sizes[c->nl];
    double total = 0;
    for (int64_t r = 0; r < B; r++) {
        const double *row = a + r * C;
        double mx = row[0], s = 0;
        for (int64_t j = 1; j < C; j++) mx = row[j] > mx ? row[j] : mx;
        for (int64_t j = 0; j < C; j++) s += exp(row[j] - mx);
        total += mx + log(s) - row[(int64_t)c->yd[r]];
    }
    free(a);
    free(z);
    return total / (double)B;
}

static void bench_mlp(const int64_t *sizes, int nl, int64_t batch, double min_time, result *r) {
    mlp_ctx c;
    memset(&c, 0, sizeof c);
    c.nl = nl;
    c.batch = batch;
    memcpy(c.sizes, sizes, (size_t)(nl + 1) * sizeof *sizes);
    c.sgd = gr_sgd_default();
    c.sgd.lr = 0.1;

    /* Data as in torch_steps.py: W = randn * 0.05, b = 0, x = randn, labels
     * uniform class indices (held in a float tensor). */
    double flops = 0;
    for (int l = 0; l < nl; l++) {
        int64_t in = sizes[l], out = sizes[l + 1];
        c.Wd[l] = xmalloc((size_t)(in * out) * sizeof(float));
        for (int64_t i = 0; i < in * out; i++) c.Wd[l][i] = (float)(randn() * 0.05);
        c.bd[l] = xmalloc((size_t)out * sizeof(float));
        for (int64_t i = 0; i < out; i++) c.bd[l][i] = 0;
        flops += 6.0 * (double)batch * (double)in * (double)out;
    }
    c.xd = xmalloc((size_t)(batch * sizes[0]) * sizeof(float));
    for (int64_t i = 0; i < batch * sizes[0]; i++) c.xd[i] = (float)randn();
    c.yd = xmalloc((size_t)batch * sizeof(float));
    for (int64_t i = 0; i < batch; i++) {
        int64_t k = (int64_t)(uniform01() * (double)sizes[nl]);
        c.yd[i] = (float)(k < sizes[nl] ? k : sizes[nl] - 1);
    }

    double t0 = now();
    gr_graph *g = new_graph(GR_F32);
    gr_shape sx = shape_of(2, batch, sizes[0]), sy = shape_of(1, batch, 0);
    c.x = leaf(g, 0, "x", &sx);
    c.y = leaf(g, 0, "labels", &sy);
    for (int l = 0; l < nl; l++) {
        char name[16];
        gr_shape sw = shape_of(2, sizes[l], sizes[l + 1]), sb = shape_of(1, sizes[l + 1], 0);
        snprintf(name, sizeof name, "W%d", l + 1);
        c.W[l] = leaf(g, 1, name, &sw);
        snprintf(name, sizeof name, "b%d", l + 1);
        c.b[l] = leaf(g, 1, name, &sb);
    }
    finalize(g);
    int h = c.x;
    for (int l = 0; l < nl; l++) {
        h = apply(g, "add", apply(g, "matmul", h, c.W[l]), c.b[l]);
        if (l < nl - 1) h = apply(g, "relu", h, -1);
    }
    c.loss = apply(g, "cross_entropy", h, c.y);
    int wrt[2 * MLP_MAX_LAYERS], grads[2 * MLP_MAX_LAYERS], outs[2 * MLP_MAX_LAYERS + 1];
    for (int l = 0; l < nl; l++) {
        wrt[2 * l] = c.W[l];
        wrt[2 * l + 1] = c.b[l];
    }
    double t1 = now();
    grad(g, c.loss, wrt, 2 * nl, grads);
    double t2 = now();
    outs[0] = c.loss;
    for (int l = 0; l < nl; l++) {
        c.gW[l] = outs[1 + 2 * l] = grads[2 * l];
        c.gb[l] = outs[2 + 2 * l] = grads[2 * l + 1];
    }
    c.e = compile(g, outs, 2 * nl + 1);
    phases(r, t0, t1, t2, now());

    /* Check the initial loss (one run, no update) against plain C. */
    bind(c.e, c.x, c.xd);
    bind(c.e, c.y, c.yd);
    for (int l = 0; l < nl; l++) {
        bind(c.e, c.W[l], c.Wd[l]);
        bind(c.e, c.b[l], c.bd[l]);
    }
    run(c.e);
    double loss0 = *(const float *)value(c.e, c.loss);
    if (!isfinite(loss0)) bench_die("%s: the initial loss is %g", "mlp", loss0);
    double want = mlp_ref_loss(&c);
    if (fabs(loss0 - want) > 1e-4 * fabs(want) + 1e-5) bench_die("mlp: initial loss %.9g, plain C says %.9g", loss0, want);

    r->step_ms = time_step(mlp_step, &c, min_time, &r->steps) * 1e3;
    double loss_end = *(const float *)value(c.e, c.loss);
    if (!(loss_end < loss0)) bench_die("mlp: the loss did not fall over %ld SGD steps (%g -> %g)", r->steps, loss0, loss_end);
    snprintf(r->note, sizeof r->note, "loss %.5f at the start (plain C: %.5f), %.4g after %ld SGD steps", loss0, want,
             loss_end,
             r->steps);
    r->flops = flops;
    gr_exec_get_stats(c.e, &r->stats);
    r->nodes = gr_graph_node_count(g);

    gr_exec_free(c.e);
    gr_graph_free(g);
    for (int l = 0; l < nl; l++) {
        free(c.Wd[l]);
        free(c.bd[l]);
    }
    free(c.xd);
    free(c.yd);
}

static void bench_mlp_mnist(double min_time, result *r) {
    static const int64_t sizes[] = {784, 256, 10};
    bench_mlp(sizes, 2, 256, min_time, r);
}

static void bench_mlp_wide(double min_time, result *r) {
    static const int64_t sizes[] = {1024, 1024, 1024, 10};
    bench_mlp(sizes, 3, 512, min_time, r);
}

/* cnn-step ------------------------------------------------------------- */

/* x[64,1,28,28] -> conv2d 3x3 (1->16, padding 1) + bias -> relu -> max_pool2d 2 -> conv2d 3x3 (16->32,
 * padding 1) + bias -> relu -> max_pool2d 2 -> flatten [64,1568] -> @ w3 + b3 -> cross_entropy -> SGD lr 0.1,
 * float32, as torch_steps.py's cnn_step. */
enum { CNN_B = 64, CNN_NP = 6 };

typedef struct cnn_ctx {
    gr_exec *e;
    int x, y, p[CNN_NP], gp[CNN_NP], loss;
    float *xd, *yd, *pd[CNN_NP];
    int64_t pn[CNN_NP]; /* elements of each parameter */
    gr_sgd sgd;
} cnn_ctx;

static void cnn_step(void *p) {
    cnn_ctx *c = p;
    bind(c->e, c->x, c->xd);
    bind(c->e, c->y, c->yd);
    for (int i = 0; i < CNN_NP; i++) bind(c->e, c->p[i], c->pd[i]);
    run(c->e);
    bench_sgd(c->e, CNN_NP, c->pd, c->pn, c->gp, &c->sgd);
}

/* One node of op name with operands a, b (b < 0: unary) and attributes at. */
static int apply_attrs(gr_graph *g, const char *opname, int a, int b, const gr_attrs *at) {
    gr_error err;
    gr_error_clear(&err);
    int ops[2] = {a, b};
    const gr_op *op = op_named(opname);
    int id = gr_graph_apply(g, NULL, op, ops, gr_op_arity(op), at, &err);
    if (id < 0) check(err.code ? err.code : GR_E_STATE, &err, opname);
    return id;
}

/* relu(conv2d(h, w, padding=[1]) + reshape(b, [C, 1, 1])), then max_pool2d 2. */
static int cnn_block(gr_graph *g, int h, int w, int b, int64_t channels) {
    gr_error err;
    gr_error_clear(&err);
    gr_attrs pad = {0}, pool = {0}, col = {0};
    int64_t one = 1, two = 2, cdims[3] = {channels, 1, 1};
    check(gr_attrs_set_ints(&pad, GR_ATTR_PADDING, &one, 1, &err), &err, "padding");
    check(gr_attrs_set_ints(&pool, GR_ATTR_KERNEL_SIZE, &two, 1, &err), &err, "kernel_size");
    check(gr_attrs_set_ints(&col, GR_ATTR_SHAPE, cdims, 3, &err), &err, "shape");
    int z = apply_attrs(g, "add", apply_attrs(g, "conv2d", h, w, &pad), apply_attrs(g, "reshape", b, -1, &col), NULL);
    return apply_attrs(g, "max_pool2d", apply(g, "relu", z, -1), -1, &pool);
}

/* The loss at the current weights by direct loops in double. */
static double cnn_ref_loss(const cnn_ctx *c) {
    static const int64_t cin[2] = {1, 16}, cout[2] = {16, 32}, side[2] = {28, 14};
    double *a = xmalloc((size_t)(CNN_B * 16 * 28 * 28) * sizeof *a), *z = xmalloc(sizeof *z * CNN_B * 16 * 28 * 28);
    for (int64_t i = 0; i < CNN_B * 28 * 28; i++) a[i] = c->xd[i];
    for (int l = 0; l < 2; l++) {
        int64_t S = side[l], Ci = cin[l], Co = cout[l], H = S / 2;
        const float *w = c->pd[2 * l], *b = c->pd[2 * l + 1];
        for (int64_t n = 0; n < CNN_B; n++)
            for (int64_t o = 0; o < Co; o++)
                for (int64_t i = 0; i < S; i++)
                    for (int64_t j = 0; j < S; j++) {
                        double s = b[o];
                        for (int64_t ci = 0; ci < Ci; ci++)
                            for (int64_t di = 0; di < 3; di++)
                                for (int64_t dj = 0; dj < 3; dj++) {
                                    int64_t ii = i + di - 1, jj = j + dj - 1;
                                    if (ii >= 0 && ii < S && jj >= 0 && jj < S)
                                        s += a[((n * Ci + ci) * S + ii) * S + jj] *
                                             w[((o * Ci + ci) * 3 + di) * 3 + dj];
                                }
                        z[((n * Co + o) * S + i) * S + j] = s > 0 ? s : 0;
                    }
        for (int64_t n = 0; n < CNN_B * Co; n++)
            for (int64_t i = 0; i < H; i++)
                for (int64_t j = 0; j < H; j++) {
                    const double *q = z + n * S * S + 2 * i * S + 2 * j;
                    double m = q[0] > q[1] ? q[0] : q[1], m2 = q[S] > q[S + 1] ? q[S] : q[S + 1];
                    a[n * H * H + i * H + j] = m > m2 ? m : m2;
                }
    }
    double total = 0;
    for (int64_t n = 0; n < CNN_B; n++) {
        double lg[10], mx = -INFINITY, s = 0;
        for (int k = 0; k < 10; k++) {
            lg[k] = c->pd[5][k];
            for (int64_t f = 0; f < 1568; f++) lg[k] += a[n * 1568 + f] * c->pd[4][f * 10 + k];
            mx = lg[k] > mx ? lg[k] : mx;
        }
        for (int k = 0; k < 10; k++) s += exp(lg[k] - mx);
        total += mx + log(s) - lg[(int)c->yd[n]];
    }
    free(a);
    free(z);
    return total / CNN_B;
}

static void bench_cnn(double min_time, result *r) {
    cnn_ctx c;
    memset(&c, 0, sizeof c);
    c.sgd = gr_sgd_default();
    c.sgd.lr = 0.1;
    static const int64_t pdims[CNN_NP][4] = {{16, 1, 3, 3}, {16}, {32, 16, 3, 3}, {32}, {1568, 10}, {10}};
    static const int prank[CNN_NP] = {4, 1, 4, 1, 2, 1};
    static const char *const pname[CNN_NP] = {"w1", "b1", "w2", "b2", "w3", "b3"};
    /* Data as in torch_steps.py: weights randn * 0.1, biases 0, x randn, uniform labels. */
    for (int i = 0; i < CNN_NP; i++) {
        c.pn[i] = 1;
        for (int k = 0; k < prank[i]; k++) c.pn[i] *= pdims[i][k];
        c.pd[i] = xmalloc((size_t)c.pn[i] * sizeof(float));
        for (int64_t j = 0; j < c.pn[i]; j++) c.pd[i][j] = prank[i] == 1 ? 0.0f : (float)(randn() * 0.1);
    }
    c.xd = xmalloc((size_t)(CNN_B * 28 * 28) * sizeof(float));
    for (int64_t i = 0; i < CNN_B * 28 * 28; i++) c.xd[i] = (float)randn();
    c.yd = xmalloc(CNN_B * sizeof(float));
    for (int64_t i = 0; i < CNN_B; i++) {
        int64_t k = (int64_t)(uniform01() * 10);
        c.yd[i] = (float)(k < 10 ? k : 9);
    }

    double t0 = now();
    gr_graph *g = new_graph(GR_F32);
    gr_error err;
    gr_error_clear(&err);
    gr_shape sx, sy = shape_of(1, CNN_B, 0), sp;
    int64_t xdims[4] = {CNN_B, 1, 28, 28};
    check(gr_shape_make(&sx, 4, xdims, &err), &err, "shape");
    c.x = leaf(g, 0, "x", &sx);
    c.y = leaf(g, 0, "labels", &sy);
    for (int i = 0; i < CNN_NP; i++) {
        check(gr_shape_make(&sp, prank[i], pdims[i], &err), &err, "shape");
        c.p[i] = leaf(g, 1, pname[i], &sp);
    }
    finalize(g);
    int h = cnn_block(g, c.x, c.p[0], c.p[1], 16);
    h = cnn_block(g, h, c.p[2], c.p[3], 32);
    gr_attrs flat = {0};
    int64_t fdims[2] = {CNN_B, 1568};
    check(gr_attrs_set_ints(&flat, GR_ATTR_SHAPE, fdims, 2, &err), &err, "shape");
    h = apply_attrs(g, "reshape", h, -1, &flat);
    c.loss = apply(g, "cross_entropy", apply(g, "add", apply(g, "matmul", h, c.p[4]), c.p[5]), c.y);
    double t1 = now();
    grad(g, c.loss, c.p, CNN_NP, c.gp);
    double t2 = now();
    int outs[CNN_NP + 1] = {c.loss};
    memcpy(outs + 1, c.gp, sizeof c.gp);
    c.e = compile(g, outs, CNN_NP + 1);
    phases(r, t0, t1, t2, now());

    bind(c.e, c.x, c.xd);
    bind(c.e, c.y, c.yd);
    for (int i = 0; i < CNN_NP; i++) bind(c.e, c.p[i], c.pd[i]);
    bench_train(r, "cnn", c.e, c.loss, cnn_ref_loss(&c), cnn_step, &c, min_time);
    r->flops = 2.0 * CNN_B * (16 * 1 * 9 * 28 * 28 * 2 + 32 * 16 * 9 * 14 * 14 * 3 + 32 * 7 * 7 * 10 * 3);
    gr_exec_get_stats(c.e, &r->stats);
    r->nodes = gr_graph_node_count(g);
    gr_exec_free(c.e);
    gr_graph_free(g);
    for (int i = 0; i < CNN_NP; i++) free(c.pd[i]);
    free(c.xd);
    free(c.yd);
}

/* ---- the helpers other workload files use (bench.h) ----------------- */

void bench_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_lib: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}
void bench_check(gr_status st, const gr_error *err, const char *what) { check(st, err, what); }
double bench_now(void) { return now(); }
double bench_time_step(void (*step)(void *), void *ctx, double min_time, long *total_steps) {
    return time_step(step, ctx, min_time, total_steps);
}
void bench_phases(result *r, double t0, double t1, double t2, double t3) { phases(r, t0, t1, t2, t3); }
double bench_uniform01(void) { return uniform01(); }
double bench_randn(void) { return randn(); }
void *bench_xmalloc(size_t n) { return xmalloc(n); }
gr_graph *bench_new_graph(gr_dtype dt) { return new_graph(dt); }
gr_shape bench_shape(int rank, const int64_t *dims) {
    gr_shape s;
    gr_error err;
    gr_error_clear(&err);
    check(gr_shape_make(&s, rank, dims, &err), &err, "shape");
    return s;
}
int bench_leaf(gr_graph *g, int param, const char *name, const gr_shape *s) { return leaf(g, param, name, s); }
void bench_finalize(gr_graph *g) { finalize(g); }
int bench_apply(gr_graph *g, const char *opname, const int *operands, int n, const gr_attrs *at) {
    gr_error err;
    gr_error_clear(&err);
    int id = gr_graph_apply(g, NULL, op_named(opname), operands, n, at, &err);
    if (id < 0) check(err.code ? err.code : GR_E_STATE, &err, opname);
    return id;
}
void bench_grad(gr_graph *g, int loss, const int *wrt, int n, int *grads) { grad(g, loss, wrt, n, grads); }
gr_exec *bench_compile(const gr_graph *g, const int *outs, int n) { return compile(g, outs, n); }
void bench_bind(gr_exec *e, int id, const void *data) { bind(e, id, data); }
void bench_run(gr_exec *e) { run(e); }

void bench_train(result *r, const char *name, gr_exec *e, int loss, double want, void (*step)(void *), void *ctx,
                 double min_time) {
    run(e);
    double loss0 = *(const float *)value(e, loss);
    if (!isfinite(loss0) || fabs(loss0 - want) > 1e-4 * fabs(want) + 1e-5)
        bench_die("%s: initial loss %.9g, plain C says %.9g", name, loss0, want);
    r->step_ms = time_step(step, ctx, min_time, &r->steps) * 1e3;
    double loss_end = *(const float *)value(e, loss);
    if (!(loss_end < loss0))
        bench_die("%s: the loss did not fall over %ld SGD steps (%g -> %g)", name, r->steps, loss0, loss_end);
    snprintf(r->note, sizeof r->note, "loss %.5f at the start (plain C: %.5f), %.4g after %ld SGD steps", loss0, want,
             loss_end, r->steps);
}
const void *bench_value(const gr_exec *e, int id) { return value(e, id); }

enum { BENCH_MAX_PARAMS = 32 };

void bench_sgd(const gr_exec *e, int count, float *const *params, const int64_t *n, const int *grads, const gr_sgd *c) {
    const void *g[BENCH_MAX_PARAMS];
    if (count > BENCH_MAX_PARAMS) bench_die("bench_sgd: %d params, at most %d", count, BENCH_MAX_PARAMS);
    for (int k = 0; k < count; k++) g[k] = value(e, grads[k]);
    const gr_update_set set = {count, n, (void *const *)params, g, NULL, NULL};
    gr_error err;
    gr_error_clear(&err);
    check(gr_sgd_update_set(GR_F32, &set, c, &err), &err, "gr_sgd_update_set");
}

/* ---- driver ---------------------------------------------------------- */

typedef struct workload {
    const char *name;
    void (*fn)(double min_time, result *r);
    double min_time; /* torch_steps.py: 3.0 s for deep, else 1.5 s */
} workload;

static const workload workloads[] = {
    {"seed-scalar", bench_seed_scalar, 1.5},
    {"mlp-mnist-step", bench_mlp_mnist, 1.5},
    {"mlp-wide-step", bench_mlp_wide, 1.5},
    {"deep-scalar-10k", bench_deep_scalar, 3.0},
    {"cnn-step", bench_cnn, 1.5},
    {"gpt-step", bench_gpt, 1.5},
};
#define NWORK ((int)(sizeof workloads / sizeof workloads[0]))

static void usage(FILE *f) {
    fprintf(f, "usage: bench_lib [--only NAME] [--min-time SECONDS] [--threads N]\nworkloads:");
    for (int i = 0; i < NWORK; i++) fprintf(f, " %s", workloads[i].name);
    fputc('\n', f);
}

int main(int argc, char **argv) {
    const char *only = NULL;
    double min_time = 0; /* 0: each workload's own */
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 1 || t > 64) {
                fprintf(stderr, "bench_lib: --threads needs a number in [1, 64]\n");
                return 2;
            }
            threads = (int)t;
        } else if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc) {
            char *end;
            min_time = strtod(argv[++i], &end);
            if (*end || !(min_time > 0)) {
                fprintf(stderr, "bench_lib: --min-time needs a positive number of seconds\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    int found = 0;
    for (int i = 0; i < NWORK; i++) found |= !only || strcmp(only, workloads[i].name) == 0;
    if (!found) {
        fprintf(stderr, "bench_lib: no workload named '%s'\n", only);
        usage(stderr);
        return 2;
    }

    /* OpenBLAS's GEMMs and libgrad's kernels both get the threads. */
    openblas_set_num_threads(threads);
    gr_error terr;
    gr_error_clear(&terr);
    check(gr_set_threads(threads, &terr), &terr, "gr_set_threads");
    printf("# threads %d (OpenBLAS and libgrad's kernels), float32 GEMM %s, OpenBLAS kernels %s\n", threads,
           gr_sgemm_kernel(), gr_blas_core());
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < NWORK; i++) {
        const workload *w = &workloads[i];
        if (only && strcmp(only, w->name) != 0) continue;
        result r;
        memset(&r, 0, sizeof r);
        rng = RNG_SEED;
        w->fn(min_time > 0 ? min_time : w->min_time, &r);
        printf("%s %.6f ms\n", w->name, r.step_ms);
        printf("%s compile %.3f ms\n", w->name, r.compile_ms);
        printf("# %s compile = build %.3f ms + gr_grad %.3f ms + gr_compile %.3f ms\n", w->name, r.build_ms,
               r.grad_ms, r.plan_ms);
        printf("# %s graph %d nodes, program %lld instructions, arena %lld bytes (unplanned %lld), %ld steps timed\n",
               w->name, r.nodes, (long long)r.stats.instructions, (long long)r.stats.arena_bytes,
               (long long)r.stats.unplanned_bytes, r.steps);
        if (r.flops > 0)
            printf("# %s %.1f GFLOP/s by torch_steps.py's count (6*batch*in*out per layer, %.3g flop/step); "
                   "%.1f GFLOP/s by libgrad's estimate of what runs (%.3g flop/step)\n",
                   w->name, r.flops / (r.step_ms * 1e-3) / 1e9, r.flops,
                   (double)r.stats.flops / (r.step_ms * 1e-3) / 1e9, (double)r.stats.flops);
        printf("# %s %s\n", w->name, r.note);
    }
    return 0;
}
