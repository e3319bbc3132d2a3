/* bench_gpt.c -- the gpt-step workload of ../shared/bench/torch_steps.py,
 * built in C as clients/examples/gpt-step.graph.json writes it in gradd's
 * language: one pre-LayerNorm transformer block, float32, B=8 sequences of
 * T=64 token ids (vocabulary 256), d=128, 4 heads:
 *
 *   x0     = embedding(wte, ids) + wpe
 *   qkv    = layer_norm(x0, ln1w, ln1b) @ wqkv + bqkv
 *   q,k,v  = transpose(reshape(slice(qkv, thirds of the last axis), [B,T,H,hd]), [0,2,1,3])
 *   att    = reshape(transpose(scaled_dot_product_attention(q, k, v, is_causal), [0,2,1,3]), [B,T,d])
 *   x1     = x0 + (att @ wo + bo)
 *   x2     = x1 + (gelu(layer_norm(x1, ln2w, ln2b) @ w1 + b1) @ w2 + b2)
 *   logits = reshape(layer_norm(x2, lnfw, lnfb) @ head, [B*T, vocab])
 *   loss   = cross_entropy(logits, targets)   (the next token, mean)
 *
 * then the gradients of the 17 parameters and one SGD step (lr 0.1) on
 * each. Data as torch_steps.py: matrices randn * 0.02, LayerNorm weights 1
 * and biases 0, token ids uniform in [0, vocab). The first loss is checked
 * against a plain C forward pass in double (gpt_ref_loss). */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { B = 8, T = 64, D = 128, H = 4, HD = D / H, V = 256, NTOK = B * T, NP = 17 };

/* The parameters in torch_steps.py's order: name, rank, dims, init (0: randn * 0.02, 1: ones, 2: zeros). */
static const struct {
    const char *name;
    int rank;
    int64_t dims[2];
    int init;
} params[NP] = {
    {"wte", 2, {V, D}, 0},      {"wpe", 2, {T, D}, 0},      {"ln1w", 1, {D}, 1},       {"ln1b", 1, {D}, 2},
    {"ln2w", 1, {D}, 1},        {"ln2b", 1, {D}, 2},        {"lnfw", 1, {D}, 1},       {"lnfb", 1, {D}, 2},
    {"wqkv", 2, {D, 3 * D}, 0}, {"bqkv", 1, {3 * D}, 2},    {"wo", 2, {D, D}, 0},      {"bo", 1, {D}, 2},
    {"w1", 2, {D, 4 * D}, 0},   {"b1", 1, {4 * D}, 2},      {"w2", 2, {4 * D, D}, 0},  {"b2", 1, {D}, 2},
    {"head", 2, {D, V}, 0},
};
enum { WTE, WPE, LN1W, LN1B, LN2W, LN2B, LNFW, LNFB, WQKV, BQKV, WO, BO, W1, B1, W2, B2, HEAD };

typedef struct gpt_ctx {
    gr_exec *e;
    int ids, targets, p[NP], gp[NP], loss;
    float *idd, *tgd, *pd[NP]; /* ids [B,T], targets [B*T] (numbers), parameters */
    int64_t pn[NP];            /* elements of each parameter */
    gr_sgd sgd;
} gpt_ctx;

static void gpt_step(void *p) {
    gpt_ctx *c = p;
    bench_bind(c->e, c->ids, c->idd);
    bench_bind(c->e, c->targets, c->tgd);
    for (int i = 0; i < NP; i++) bench_bind(c->e, c->p[i], c->pd[i]);
    bench_run(c->e);
    bench_sgd(c->e, NP, c->pd, c->pn, c->gp, &c->sgd);
}

/* ---- graph building ------------------------------------------------------ */

static int op1(gr_graph *g, const char *name, int a, const gr_attrs *at) { return bench_apply(g, name, &a, 1, at); }
static int op2(gr_graph *g, const char *name, int a, int b) {
    int ops[2] = {a, b};
    return bench_apply(g, name, ops, 2, NULL);
}
static int op3(gr_graph *g, const char *name, int a, int b, int c, const gr_attrs *at) {
    int ops[3] = {a, b, c};
    return bench_apply(g, name, ops, 3, at);
}

static gr_attrs ints_attr(gr_attr_id id, const int64_t *v, int n) {
    gr_attrs at = {0};
    gr_error err;
    gr_error_clear(&err);
    bench_check(gr_attrs_set_ints(&at, id, v, n, &err), &err, "attribute");
    return at;
}

static int reshape(gr_graph *g, int x, const int64_t *dims, int rank) {
    gr_attrs at = ints_attr(GR_ATTR_SHAPE, dims, rank);
    return op1(g, "reshape", x, &at);
}

static int swap_heads(gr_graph *g, int x) { /* perm [0, 2, 1, 3] */
    static const int64_t perm[4] = {0, 2, 1, 3};
    gr_attrs at = ints_attr(GR_ATTR_PERM, perm, 4);
    return op1(g, "transpose", x, &at);
}

/* Third `part` of qkv's last axis as [B, H, T, HD]. */
static int head_part(gr_graph *g, int qkv, int part) {
    int64_t start = part * D, end = (part + 1) * D, axis = 2;
    static const int64_t split[4] = {B, T, H, HD};
    gr_attrs at = ints_attr(GR_ATTR_STARTS, &start, 1);
    gr_error err;
    gr_error_clear(&err);
    bench_check(gr_attrs_set_ints(&at, GR_ATTR_ENDS, &end, 1, &err), &err, "ends");
    bench_check(gr_attrs_set_ints(&at, GR_ATTR_AXES, &axis, 1, &err), &err, "axes");
    return swap_heads(g, reshape(g, op1(g, "slice", qkv, &at), split, 4));
}

static int layer_norm(gr_graph *g, int x, int w, int b) { return op3(g, "layer_norm", x, w, b, NULL); }

/* The forward graph of the file comment; returns the loss node. */
static int gpt_forward(gr_graph *g, const gpt_ctx *c) {
    const int *p = c->p;
    int x0 = op2(g, "add", op2(g, "embedding", p[WTE], c->ids), p[WPE]);
    int qkv = op2(g, "add", op2(g, "matmul", layer_norm(g, x0, p[LN1W], p[LN1B]), p[WQKV]), p[BQKV]);
    gr_attrs causal = {0};
    gr_attrs_set_int(&causal, GR_ATTR_IS_CAUSAL, 1);
    int y = op3(g, "scaled_dot_product_attention", head_part(g, qkv, 0), head_part(g, qkv, 1), head_part(g, qkv, 2),
                &causal);
    static const int64_t btd[3] = {B, T, D}, logits_shape[2] = {NTOK, V};
    int att = reshape(g, swap_heads(g, y), btd, 3);
    int x1 = op2(g, "add", x0, op2(g, "add", op2(g, "matmul", att, p[WO]), p[BO])); /* x + Linear(att), torch's order */
    int u = op2(g, "add", op2(g, "matmul", layer_norm(g, x1, p[LN2W], p[LN2B]), p[W1]), p[B1]);
    int x2 = op2(g, "add", x1, op2(g, "add", op2(g, "matmul", op1(g, "gelu", u, NULL), p[W2]), p[B2]));
    int logits = reshape(g, op2(g, "matmul", layer_norm(g, x2, p[LNFW], p[LNFB]), p[HEAD]), logits_shape, 2);
    return op2(g, "cross_entropy", logits, c->targets);
}

/* ---- the independent check ----------------------------------------------- */

/* y[n, :] = layer_norm(x[n, :]) * w + b over rows of D, eps 1e-5, in double. */
static void ref_layer_norm(const double *x, const float *w, const float *b, int64_t rows, double *y) {
    for (int64_t n = 0; n < rows; n++) {
        const double *r = x + n * D;
        double mean = 0, var = 0;
        for (int j = 0; j < D; j++) mean += r[j];
        mean /= D;
        for (int j = 0; j < D; j++) var += (r[j] - mean) * (r[j] - mean);
        double rstd = 1 / sqrt(var / D + 1e-5);
        for (int j = 0; j < D; j++) y[n * D + j] = (r[j] - mean) * rstd * w[j] + b[j];
    }
}

/* y[rows, m] = x[rows, k] @ w[k, m] + bias (bias may be NULL), in double. */
static void ref_linear(const double *x, const float *w, const float *bias, int64_t rows, int64_t k, int64_t m,
                       double *y) {
    for (int64_t n = 0; n < rows; n++)
        for (int64_t j = 0; j < m; j++) {
            double s = bias ? bias[j] : 0;
            for (int64_t i = 0; i < k; i++) s += x[n * k + i] * w[i * m + j];
            y[n * m + j] = s;
        }
}

/* The loss at the current weights by direct loops in double, written from
 * torch_steps.py's gpt_step (no libgrad op involved). */
static double gpt_ref_loss(const gpt_ctx *c) {
    float *const *P = c->pd;
    double *x = bench_xmalloc(sizeof *x * NTOK * D), *h = bench_xmalloc(sizeof *h * NTOK * D);
    double *qkv = bench_xmalloc(sizeof *qkv * NTOK * 3 * D), *a = bench_xmalloc(sizeof *a * NTOK * D);
    double *u = bench_xmalloc(sizeof *u * NTOK * 4 * D), *lg = bench_xmalloc(sizeof *lg * NTOK * V);
    for (int64_t n = 0; n < NTOK; n++)
        for (int j = 0; j < D; j++) x[n * D + j] = P[WTE][(int64_t)c->idd[n] * D + j] + P[WPE][(n % T) * D + j];
    ref_layer_norm(x, P[LN1W], P[LN1B], NTOK, h);
    ref_linear(h, P[WQKV], P[BQKV], NTOK, D, 3 * D, qkv);
    for (int b = 0; b < B; b++)
        for (int hh = 0; hh < H; hh++)
            for (int i = 0; i < T; i++) {
                const double *q = qkv + (b * T + i) * 3 * D + hh * HD;
                double s[T], mx = -INFINITY, z = 0;
                for (int j = 0; j <= i; j++) { /* causal: keys up to the query */
                    const double *k = qkv + (b * T + j) * 3 * D + D + hh * HD;
                    double dot = 0;
                    for (int e = 0; e < HD; e++) dot += q[e] * k[e];
                    s[j] = dot / sqrt((double)HD);
                    mx = s[j] > mx ? s[j] : mx;
                }
                for (int j = 0; j <= i; j++) z += (s[j] = exp(s[j] - mx));
                for (int e = 0; e < HD; e++) {
                    double acc = 0;
                    for (int j = 0; j <= i; j++) acc += s[j] / z * qkv[(b * T + j) * 3 * D + 2 * D + hh * HD + e];
                    a[(b * T + i) * D + hh * HD + e] = acc;
                }
            }
    ref_linear(a, P[WO], P[BO], NTOK, D, D, h);
    for (int64_t i = 0; i < NTOK * D; i++) x[i] += h[i];
    ref_layer_norm(x, P[LN2W], P[LN2B], NTOK, h);
    ref_linear(h, P[W1], P[B1], NTOK, D, 4 * D, u);
    for (int64_t i = 0; i < NTOK * 4 * D; i++) u[i] = 0.5 * u[i] * (1 + erf(u[i] / sqrt(2.0)));
    ref_linear(u, P[W2], P[B2], NTOK, 4 * D, D, h);
    for (int64_t i = 0; i < NTOK * D; i++) x[i] += h[i];
    ref_layer_norm(x, P[LNFW], P[LNFB], NTOK, h);
    ref_linear(h, P[HEAD], NULL, NTOK, D, V, lg);
    double total = 0;
    for (int64_t n = 0; n < NTOK; n++) {
        const double *r = lg + n * V;
        double mx = r[0], s = 0;
        for (int j = 1; j < V; j++) mx = r[j] > mx ? r[j] : mx;
        for (int j = 0; j < V; j++) s += exp(r[j] - mx);
        total += mx + log(s) - r[(int64_t)c->tgd[n]];
    }
    free(x);
    free(h);
    free(qkv);
    free(a);
    free(u);
    free(lg);
    return total / NTOK;
}

/* ---- the workload ------------------------------------------------------- */

void bench_gpt(double min_time, result *r) {
    gpt_ctx c;
    memset(&c, 0, sizeof c);
    c.sgd = gr_sgd_default();
    c.sgd.lr = 0.1;
    for (int i = 0; i < NP; i++) {
        c.pn[i] = params[i].dims[0] * (params[i].rank == 2 ? params[i].dims[1] : 1);
        c.pd[i] = bench_xmalloc((size_t)c.pn[i] * sizeof(float));
        for (int64_t j = 0; j < c.pn[i]; j++)
            c.pd[i][j] = params[i].init == 0 ? (float)(bench_randn() * 0.02) : params[i].init == 1 ? 1.0f : 0.0f;
    }
    /* Token ids [B, T+1]: the inputs are the first T, the targets the last T. */
    c.idd = bench_xmalloc(NTOK * sizeof(float));
    c.tgd = bench_xmalloc(NTOK * sizeof(float));
    for (int b = 0; b < B; b++) {
        int64_t tok[T + 1];
        for (int t = 0; t <= T; t++) {
            int64_t k = (int64_t)(bench_uniform01() * V);
            tok[t] = k < V ? k : V - 1;
        }
        for (int t = 0; t < T; t++) {
            c.idd[b * T + t] = (float)tok[t];
            c.tgd[b * T + t] = (float)tok[t + 1];
        }
    }

    double t0 = bench_now();
    gr_graph *g = bench_new_graph(GR_F32);
    static const int64_t ids_dims[2] = {B, T}, tg_dims[1] = {NTOK};
    gr_shape sids = bench_shape(2, ids_dims), stg = bench_shape(1, tg_dims);
    c.ids = bench_leaf(g, 0, "ids", &sids);
    c.targets = bench_leaf(g, 0, "targets", &stg);
    for (int i = 0; i < NP; i++) {
        gr_shape s = bench_shape(params[i].rank, params[i].dims);
        c.p[i] = bench_leaf(g, 1, params[i].name, &s);
    }
    bench_finalize(g);
    c.loss = gpt_forward(g, &c);
    double t1 = bench_now();
    bench_grad(g, c.loss, c.p, NP, c.gp);
    double t2 = bench_now();
    int outs[NP + 1] = {c.loss};
    memcpy(outs + 1, c.gp, sizeof c.gp);
    c.e = bench_compile(g, outs, NP + 1);
    bench_phases(r, t0, t1, t2, bench_now());

    bench_bind(c.e, c.ids, c.idd);
    bench_bind(c.e, c.targets, c.tgd);
    for (int i = 0; i < NP; i++) bench_bind(c.e, c.p[i], c.pd[i]);
    bench_train(r, "gpt", c.e, c.loss, gpt_ref_loss(&c), gpt_step, &c, min_time);
    r->flops = 6.0 * NTOK * (D * 3 * D + D * D + 2 * D * 4 * D + D * V) + 6.0 * B * H * T * T * HD * 2;
    gr_exec_get_stats(c.e, &r->stats);
    r->nodes = gr_graph_node_count(g);
    gr_exec_free(c.e);
    gr_graph_free(g);
    for (int i = 0; i < NP; i++) free(c.pd[i]);
    free(c.idd);
    free(c.tgd);
}
