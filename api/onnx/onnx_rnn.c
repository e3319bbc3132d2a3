/* onnx_rnn.c -- lowering ONNX's recurrent ops, RNN, GRU and LSTM (opset
 * 14's definitions), to libgrad ops unrolled over the sequence, whose
 * length is static in gradd: each step is a few matmuls, slices and
 * elementwise ops, so values, gradients (through time) and the other
 * routes come from libgrad's rules as for any graph.
 *
 * The input projection of every step is one product, X [T B, I] @ W^T,
 * with both biases added (GRU's recurrent h-gate bias stays separate when
 * linear_before_reset is set); each step adds H_{t-1} @ R^T. Gate orders
 * are ONNX's: GRU z, r, h; LSTM i, o, f, c (peepholes i, o, f).
 *
 * Supported: directions forward, reverse and bidirectional; layout 0 and
 * 1; initial_h and initial_c; peepholes; clip; the activations Sigmoid,
 * Tanh and Relu in any slot. Refused with a clear error: other
 * activations, LSTM's input_forget, and sequence_lens shorter than the
 * sequence (a length equal to it everywhere is accepted). */
#include "onnx_more.h"
#include "onnx_nn.h"

#include <stdio.h>
#include <string.h>

enum { RNN_PLAIN, RNN_GRU, RNN_LSTM };

/* Longest sequence unrolled (each step is some ten nodes; the request's
 * node limit applies as well). */
#define OX_RNN_MAX_STEPS 1024

/* Activations per direction: RNN 1 (f), GRU 2 (f, g), LSTM 3 (f, g, h). */
static const int n_acts[] = {1, 2, 3};
static const char *const default_acts[3][3] = {{"tanh"}, {"sigmoid", "tanh"}, {"sigmoid", "tanh", "tanh"}};

typedef struct rnn {
    int kind, gates;            /* RNN_*, 1 / 3 / 4 */
    int64_t T, B, I, H, D;      /* sequence, batch, input size, hidden size, directions */
    int reverse_only;           /* direction "reverse" */
    int layout;                 /* 1: batch first (X [B, T, I], initial states [B, D, H]) */
    int lbr;                    /* GRU's linear_before_reset */
    double clip;                /* > 0: the gates' inputs are clipped to [-clip, clip] */
    const char *act[2][3];      /* libgrad op of each activation slot, per direction */
} rnn;

/* libgrad's op for ONNX activation name s, or NULL. */
static const char *act_op(const char *s, size_t n) {
    static const char *const map[][2] = {{"Sigmoid", "sigmoid"}, {"Tanh", "tanh"}, {"Relu", "relu"}};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strlen(map[i][0]) == n && !memcmp(s, map[i][0], n)) return map[i][1];
    return NULL;
}

static int read_activations(ox_low *L, rnn *R) {
    int per = n_acts[R->kind];
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < per; k++) R->act[d][k] = default_acts[R->kind][k];
    const Onnx__AttributeProto *a = gd_ox_attr(L->node, "activations");
    if (!a || a->n_strings == 0) return 0;
    if (a->n_strings != (size_t)(per * R->D))
        return gd_ox_fail(L, "activations has %zu names; %lld directions need %d", a->n_strings, (long long)R->D,
                          per * (int)R->D);
    for (size_t i = 0; i < a->n_strings; i++) {
        const char *op = act_op((const char *)a->strings[i].data, a->strings[i].len);
        if (!op)
            return gd_ox_fail(L, "activation '%.*s' is not supported (Sigmoid, Tanh and Relu are)",
                              (int)(a->strings[i].len > 40 ? 40 : a->strings[i].len), (const char *)a->strings[i].data);
        R->act[i / (size_t)per][i % (size_t)per] = op;
    }
    if (gd_ox_attr(L->node, "activation_alpha") || gd_ox_attr(L->node, "activation_beta"))
        return gd_ox_fail(L, "activation_alpha and activation_beta are not supported");
    return 0;
}

/* act(clip(x)) for activation slot k of direction d. */
static int activate(ox_low *L, const rnn *R, int d, int k, int x) {
    if (R->clip > 0) {
        gr_attrs at = {0};
        gr_attrs_set_number(&at, GR_ATTR_MIN, -R->clip);
        gr_attrs_set_number(&at, GR_ATTR_MAX, R->clip);
        x = gd_ox_un(L, "clip", x, &at);
    }
    return gd_ox_un(L, R->act[d][k], x, NULL);
}

/* Columns [g H, (g + 1) H) of x [rows, G H]: gate g. */
static int gate(ox_low *L, const rnn *R, int x, int g) {
    if (x < 0) return -1;
    int axis = gd_ox_shape(L, x)->rank - 1;
    return gd_ox_slice1(L, x, axis, (int64_t)g * R->H, (int64_t)(g + 1) * R->H);
}

/* a @ b^T */
static int matmul_t(ox_low *L, int a, int b) {
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_TRANSPOSE_B, 1);
    return gd_ox_op(L, "matmul", (int[]){a, b}, 2, &at);
}

/* Entry d of x's first axis, that axis dropped: x [D, rest...] -> [rest...]. */
static int entry(ox_low *L, int x, int64_t d) {
    if (x < 0) return -1;
    const gr_shape *s = gd_ox_shape(L, x);
    int64_t dims[GR_MAX_RANK];
    for (int i = 1; i < s->rank; i++) dims[i - 1] = s->dims[i];
    int rank = s->rank - 1;
    return gd_ox_reshape(L, gd_ox_slice1(L, x, 0, d, d + 1), dims, rank);
}

/* Zeros [B, H] (a node: the arena holds them, within the request's
 * memory budget), or direction d of input k (initial_h, initial_c:
 * [D, B, H], layout 1 [B, D, H]). */
static int initial_state(ox_low *L, const rnn *R, int k, int64_t d) {
    if (gd_ox_has(L, k)) {
        int v = gd_ox_in(L, k);
        if (!R->layout) return entry(L, v, d);
        return gd_ox_reshape(L, gd_ox_slice1(L, v, 1, d, d + 1), (int64_t[]){R->B, R->H}, 2);
    }
    gr_attrs at = {0};
    gd_ox_set_ints(&at, GR_ATTR_SHAPE, (int64_t[]){R->B, R->H}, 2);
    return gd_ox_op(L, "zeros", NULL, 0, &at);
}

/* One direction: the hidden state of every step [T, B, H] in time order,
 * the last one's state h (and c, for LSTM) into *h_last, *c_last. */
static int direction(ox_low *L, const rnn *R, int64_t d, int x2, int *h_last, int *c_last) {
    int64_t GH = R->gates * R->H;
    int w = entry(L, gd_ox_in(L, 1), d), r = entry(L, gd_ox_in(L, 2), d); /* [G H, I], [G H, H] */
    int xw = matmul_t(L, x2, w);                                             /* [T B, G H] */
    int rbh = -1;                                                            /* GRU: R's h-gate bias, kept apart */
    if (gd_ox_has(L, 3)) {
        int b = entry(L, gd_ox_in(L, 3), d); /* [2 G H]: Wb then Rb */
        int wb = gd_ox_slice1(L, b, 0, 0, GH), rb = gd_ox_slice1(L, b, 0, GH, 2 * GH);
        if (R->kind == RNN_GRU && R->lbr) {
            rbh = gd_ox_slice1(L, rb, 0, 2 * R->H, 3 * R->H);
            ox_tensor *mask = gd_ox_tensor_new(1, &GH); /* Rb's z and r gates only */
            if (!mask) return gd_ox_fail(L, "out of memory");
            for (int64_t i = 0; i < 2 * R->H; i++) mask->v[i] = 1;
            rb = gd_ox_bin(L, "mul", rb, gd_ox_const(L, mask));
            gd_ox_tensor_free(mask), free(mask);
        }
        xw = gd_ox_bin(L, "add", xw, gd_ox_bin(L, "add", wb, rb));
    }
    xw = gd_ox_reshape(L, xw, (int64_t[]){R->T, R->B, GH}, 3);
    int reverse = R->reverse_only || d == 1;
    int h = initial_state(L, R, 5, d), c = R->kind == RNN_LSTM ? initial_state(L, R, 6, d) : -1;
    int peep[3] = {-1, -1, -1}; /* LSTM's P: i, o, f */
    if (R->kind == RNN_LSTM && gd_ox_has(L, 7)) {
        int p = entry(L, gd_ox_in(L, 7), d);
        for (int k = 0; k < 3; k++) peep[k] = gd_ox_slice1(L, p, 0, k * R->H, (k + 1) * R->H);
    }
    int r_zr = R->kind == RNN_GRU ? gd_ox_slice1(L, r, 0, 0, 2 * R->H) : -1;
    int r_h = R->kind == RNN_GRU ? gd_ox_slice1(L, r, 0, 2 * R->H, 3 * R->H) : -1;
    int steps[OX_RNN_MAX_STEPS];
    for (int64_t s = 0; s < R->T; s++) {
        int64_t t = reverse ? R->T - 1 - s : s;
        int xt = entry(L, xw, t); /* [B, G H] */
        if (R->kind == RNN_PLAIN) {
            h = activate(L, R, (int)d, 0, gd_ox_bin(L, "add", xt, matmul_t(L, h, r)));
        } else if (R->kind == RNN_GRU) {
            int zr = gd_ox_bin(L, "add", gd_ox_slice1(L, xt, 1, 0, 2 * R->H), matmul_t(L, h, r_zr));
            int z = activate(L, R, (int)d, 0, gate(L, R, zr, 0)), rg = activate(L, R, (int)d, 0, gate(L, R, zr, 1));
            int hh;
            if (R->lbr) {
                int rh = matmul_t(L, h, r_h);
                if (rbh >= 0) rh = gd_ox_bin(L, "add", rh, rbh);
                hh = gd_ox_bin(L, "add", gate(L, R, xt, 2), gd_ox_bin(L, "mul", rg, rh));
            } else {
                hh = gd_ox_bin(L, "add", gate(L, R, xt, 2), matmul_t(L, gd_ox_bin(L, "mul", rg, h), r_h));
            }
            hh = activate(L, R, (int)d, 1, hh);
            h = gd_ox_bin(L, "add", hh, gd_ox_bin(L, "mul", z, gd_ox_bin(L, "sub", h, hh))); /* (1-z) hh + z h */
        } else {
            int a = gd_ox_bin(L, "add", xt, matmul_t(L, h, r));
            int gi = gate(L, R, a, 0), go = gate(L, R, a, 1), gf = gate(L, R, a, 2), gc = gate(L, R, a, 3);
            if (peep[0] >= 0) {
                gi = gd_ox_bin(L, "add", gi, gd_ox_bin(L, "mul", peep[0], c));
                gf = gd_ox_bin(L, "add", gf, gd_ox_bin(L, "mul", peep[2], c));
            }
            int i = activate(L, R, (int)d, 0, gi), f = activate(L, R, (int)d, 0, gf);
            c = gd_ox_bin(L, "add", gd_ox_bin(L, "mul", f, c), gd_ox_bin(L, "mul", i, activate(L, R, (int)d, 1, gc)));
            if (peep[1] >= 0) go = gd_ox_bin(L, "add", go, gd_ox_bin(L, "mul", peep[1], c));
            h = gd_ox_bin(L, "mul", activate(L, R, (int)d, 0, go), activate(L, R, (int)d, 2, c));
        }
        if (h < 0) return -1;
        steps[t] = h;
    }
    *h_last = h;
    *c_last = c;
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_AXIS, 0);
    return gd_ox_op(L, "stack", steps, (int)R->T, &at);
}

/* Optional input k, when given, has shape dims (rank n). */
static int check_input(ox_low *L, int k, const char *what, const int64_t *dims, int n) {
    if (!gd_ox_has(L, k)) return 0;
    int id = gd_ox_in(L, k);
    if (id < 0) return -1;
    const gr_shape *s = gd_ox_shape(L, id);
    int ok = s->rank == n;
    for (int i = 0; ok && i < n; i++) ok = s->dims[i] == dims[i];
    if (ok) return 0;
    char want[96];
    int o = 0;
    for (int i = 0; i < n && o < 80; i++) o += snprintf(want + o, sizeof want - (size_t)o, "%s%lld", i ? ", " : "", (long long)dims[i]);
    return gd_ox_fail(L, "%s must have shape [%s]", what, want);
}

/* The optional inputs' shapes: B [D, 2 G H], initial_h and initial_c
 * [D, B, H] (layout 1: [B, D, H]), P [D, 3 H]. */
static int check_inputs(ox_low *L, const rnn *R) {
    int64_t bias[2] = {R->D, 2 * R->gates * R->H}, state[3] = {R->D, R->B, R->H}, peep[2] = {R->D, 3 * R->H};
    if (R->layout) state[0] = R->B, state[1] = R->D;
    if (check_input(L, 3, "B", bias, 2) < 0 || check_input(L, 5, "initial_h", state, 3) < 0) return -1;
    if (R->kind == RNN_LSTM && (check_input(L, 6, "initial_c", state, 3) < 0 || check_input(L, 7, "P", peep, 2) < 0))
        return -1;
    return 0;
}

/* The sequence lengths, when given, must all be the sequence's. */
static int check_lengths(ox_low *L, const rnn *R) {
    if (!gd_ox_has(L, 4)) return 0;
    const ox_tensor *len = gd_ox_cin_value(L, 4);
    if (!len) return gd_ox_fail(L, "sequence_lens must be known when the graph is built");
    if (len->n != R->B) return gd_ox_fail(L, "sequence_lens has %lld entries for a batch of %lld", (long long)len->n,
                                          (long long)R->B);
    for (int64_t b = 0; b < len->n; b++)
        if (len->v[b] != (double)R->T)
            return gd_ox_fail(L, "sequence_lens[%lld] is %g: sequences shorter than %lld steps are not supported",
                              (long long)b, len->v[b], (long long)R->T);
    return 0;
}

static int lower_rnn(ox_low *L, int kind) {
    rnn R = {.kind = kind, .gates = kind == RNN_PLAIN ? 1 : kind == RNN_GRU ? 3 : 4};
    int x = gd_ox_in(L, 0), w = gd_ox_in(L, 1), r = gd_ox_in(L, 2);
    if (x < 0 || w < 0 || r < 0) return -1;
    const gr_shape *xs = gd_ox_shape(L, x), *ws = gd_ox_shape(L, w), *rs = gd_ox_shape(L, r);
    if (xs->rank != 3 || ws->rank != 3 || rs->rank != 3) return gd_ox_fail(L, "X, W and R must have rank 3");
    int layout = (int)gd_ox_ai(L, "layout", 0);
    if (layout != 0 && layout != 1) return gd_ox_fail(L, "layout must be 0 or 1");
    R.T = xs->dims[layout ? 1 : 0], R.B = xs->dims[layout ? 0 : 1], R.I = xs->dims[2];
    R.H = gd_ox_ai(L, "hidden_size", rs->dims[2]);
    if (R.H < 1) return gd_ox_fail(L, "hidden_size must be at least 1");
    char buf[32];
    const char *dir = gd_ox_as(L, "direction", "forward", buf, sizeof buf);
    R.D = !strcmp(dir, "bidirectional") ? 2 : 1;
    R.reverse_only = !strcmp(dir, "reverse");
    if (R.D == 1 && !R.reverse_only && strcmp(dir, "forward")) return gd_ox_fail(L, "direction '%s' is unknown", dir);
    if (ws->dims[0] != R.D || ws->dims[1] != R.gates * R.H || ws->dims[2] != R.I || rs->dims[0] != R.D ||
        rs->dims[1] != R.gates * R.H || rs->dims[2] != R.H)
        return gd_ox_fail(L, "W and R must be [%lld, %lld, %lld] and [%lld, %lld, %lld]", (long long)R.D,
                          (long long)(R.gates * R.H), (long long)R.I, (long long)R.D, (long long)(R.gates * R.H),
                          (long long)R.H);
    if (R.T < 1 || R.T > OX_RNN_MAX_STEPS)
        return gd_ox_fail(L, "a sequence of %lld steps: gradd unrolls 1 to %d", (long long)R.T, OX_RNN_MAX_STEPS);
    R.lbr = kind == RNN_GRU && gd_ox_ai(L, "linear_before_reset", 0) != 0;
    R.clip = gd_ox_af(L, "clip", 0);
    if (kind == RNN_LSTM && gd_ox_ai(L, "input_forget", 0)) return gd_ox_fail(L, "input_forget is not supported");
    R.layout = layout;
    if (read_activations(L, &R) < 0 || check_lengths(L, &R) < 0 || check_inputs(L, &R) < 0) return -1;
    if (layout) {
        gr_attrs at = {0};
        gd_ox_set_ints(&at, GR_ATTR_PERM, (int64_t[]){1, 0, 2}, 3);
        x = gd_ox_un(L, "transpose", x, &at);
    }
    int x2 = gd_ox_reshape(L, x, (int64_t[]){R.T * R.B, R.I}, 2);
    int ys[2], hs[2], cs[2];
    for (int64_t d = 0; d < R.D; d++)
        if ((ys[d] = direction(L, &R, d, x2, &hs[d], &cs[d])) < 0) return -1;
    /* Y [T, D, B, H] (layout 1: [B, T, D, H]); Y_h, Y_c [D, B, H] ([B, D, H]) */
    if (layout) {
        gr_attrs at = {0};
        gd_ox_set_ints(&at, GR_ATTR_PERM, (int64_t[]){1, 0, 2}, 3);
        for (int64_t d = 0; d < R.D; d++) ys[d] = gd_ox_un(L, "transpose", ys[d], &at);
    }
    gr_attrs axis = {0};
    gr_attrs_set_int(&axis, GR_ATTR_AXIS, layout ? 2 : 1);
    int y = gd_ox_op(L, "stack", ys, (int)R.D, &axis);
    gr_attrs_set_int(&axis, GR_ATTR_AXIS, layout ? 1 : 0);
    int yh = gd_ox_op(L, "stack", hs, (int)R.D, &axis);
    int yc = kind == RNN_LSTM ? gd_ox_op(L, "stack", cs, (int)R.D, &axis) : -1;
    if (y < 0 || yh < 0 || (kind == RNN_LSTM && yc < 0)) return -1;
    int outs[3] = {y, yh, yc};
    for (int k = 0; k < L->nout && k < 3; k++) gd_ox_out(L, k, outs[k]);
    return 0;
}

int gd_ox_lw_RNN(ox_low *L) { return lower_rnn(L, RNN_PLAIN); }
int gd_ox_lw_GRU(ox_low *L) { return lower_rnn(L, RNN_GRU); }
int gd_ox_lw_LSTM(ox_low *L) { return lower_rnn(L, RNN_LSTM); }
