/* onnx_train.c -- ONNX's training ops (domain ai.onnx.preview.training,
 * version 1) as graphs of elementwise libgrad ops, following ONNX's
 * definitions exactly (the pseudo code of each op's schema and the
 * reference functions of ONNX's backend tests):
 *
 *   Adam(R, T, X..., G..., V..., H...) -> X_new..., V_new..., H_new...
 *     g = norm_coefficient * X + G
 *     V_new = alpha * V + (1 - alpha) * g
 *     H_new = beta * H + (1 - beta) * g * g
 *     R_adj = T > 0 ? R * sqrt(1 - beta^T) / (1 - alpha^T) : R
 *     X_new = (1 - norm_coefficient_post) * (X - R_adj * V_new / (sqrt(H_new) + epsilon))
 *   Adagrad(R, T, X..., G..., H...) -> X_new..., H_new...
 *     g = norm_coefficient * X + G;  H_new = H + g * g
 *     X_new = X - R / (1 + T * decay_factor) * g / (sqrt(H_new) + epsilon)
 *   Momentum(R, T, X..., G..., V...) -> X_new..., V_new...
 *     g = norm_coefficient * X + G;  V_new = alpha * V + (T > 0 ? beta : 1) * g
 *     standard: X_new = X - R * V_new;  nesterov: X_new = X - R * (g + alpha * V_new)
 *   Gradient(xs..., zs...; xs, zs, y) -> dy/dxs...
 *     reverse mode over the model's graph (gr_grad), y a one-element value.
 *
 * T (int64) is a constant of the lowering (an integer graph input is one),
 * so the branches on T > 0 and the powers are folded on the host; R stays
 * a run-time tensor. How these differ from PyTorch's optimizers and from
 * gradd's own step is written down in README.md. */
#include "onnx_nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* c * x, or x itself when c is 1. */
static int scale(ox_low *L, int x, double c) {
    return c == 1 ? x : gd_ox_bin(L, "mul", gd_ox_scalar(L, c), x);
}

/* The update count T (input 1) as a host number; NAN (error set) when it
 * is missing or not a constant scalar. */
static double read_count(ox_low *L) {
    const ox_tensor *t = gd_ox_has(L, 1) ? gd_ox_cin_value(L, 1) : NULL;
    if (!t || t->n != 1) return gd_ox_fail(L, "T must be a constant scalar (the update count)"), NAN;
    return t->v[0];
}

/* The number of optimized tensors of a node with 2 + per * n inputs and
 * outs * n outputs; -1 (error set) when the counts do not fit. */
static int tensor_count(ox_low *L, int per, int outs) {
    int n = (L->nin - 2) / per;
    if (L->nin < 2 + per || L->nin != 2 + per * n || L->nout > outs * n)
        return gd_ox_fail(L, "takes R, T and %d lists of the same length as inputs (%d inputs given)", per, L->nin);
    return n;
}

/* g = norm_coefficient * X + G (the gradient of 0.5 * norm * ||X||^2 added). */
static int regularized(ox_low *L, int x, int g, double norm) {
    return gd_ox_bin(L, "add", gd_ox_bin(L, "mul", gd_ox_scalar(L, norm), x), g);
}

/* An attribute ONNX requires (Momentum's): its value, or NAN (error set). */
static double required_float(ox_low *L, const char *name) {
    if (!gd_ox_attr(L->node, name)) return gd_ox_fail(L, "attribute %s is required", name), NAN;
    return gd_ox_af(L, name, 0);
}

static int lw_Adam(ox_low *L) {
    int n = tensor_count(L, 4, 3);
    double t = n < 0 ? NAN : read_count(L);
    if (isnan(t)) return -1;
    double alpha = gd_ox_af(L, "alpha", 0.9), beta = gd_ox_af(L, "beta", 0.999), eps = gd_ox_af(L, "epsilon", 1e-6);
    double norm = gd_ox_af(L, "norm_coefficient", 0), post = gd_ox_af(L, "norm_coefficient_post", 0);
    double adjust = t > 0 ? sqrt(1 - pow(beta, t)) / (1 - pow(alpha, t)) : 1;
    int r = scale(L, gd_ox_in(L, 0), adjust);
    for (int i = 0; i < n; i++) {
        int x = gd_ox_in(L, 2 + i), g = regularized(L, x, gd_ox_in(L, 2 + n + i), norm);
        int v = gd_ox_bin(L, "add", scale(L, gd_ox_in(L, 2 + 2 * n + i), alpha), scale(L, g, 1 - alpha));
        int gg = gd_ox_bin(L, "mul", g, g);
        int h = gd_ox_bin(L, "add", scale(L, gd_ox_in(L, 2 + 3 * n + i), beta), scale(L, gg, 1 - beta));
        int root = gd_ox_bin(L, "add", gd_ox_un(L, "sqrt", h, NULL), gd_ox_scalar(L, eps));
        int step = gd_ox_bin(L, "mul", r, gd_ox_bin(L, "div", v, root));
        int xn = scale(L, gd_ox_bin(L, "sub", x, step), 1 - post);
        if (xn < 0 || h < 0) return -1;
        gd_ox_out(L, i, xn);
        gd_ox_out(L, n + i, v);
        gd_ox_out(L, 2 * n + i, h);
    }
    return 0;
}

static int lw_Adagrad(ox_low *L) {
    int n = tensor_count(L, 3, 2);
    double t = n < 0 ? NAN : read_count(L);
    if (isnan(t)) return -1;
    double decay = gd_ox_af(L, "decay_factor", 0), eps = gd_ox_af(L, "epsilon", 1e-6);
    double norm = gd_ox_af(L, "norm_coefficient", 0);
    int r = gd_ox_bin(L, "div", gd_ox_in(L, 0), gd_ox_scalar(L, 1 + t * decay));
    for (int i = 0; i < n; i++) {
        int x = gd_ox_in(L, 2 + i), g = regularized(L, x, gd_ox_in(L, 2 + n + i), norm);
        int h = gd_ox_bin(L, "add", gd_ox_in(L, 2 + 2 * n + i), gd_ox_bin(L, "mul", g, g));
        int root = gd_ox_bin(L, "add", gd_ox_un(L, "sqrt", h, NULL), gd_ox_scalar(L, eps));
        int xn = gd_ox_bin(L, "sub", x, gd_ox_bin(L, "div", gd_ox_bin(L, "mul", r, g), root));
        if (xn < 0) return -1;
        gd_ox_out(L, i, xn);
        gd_ox_out(L, n + i, h);
    }
    return 0;
}

static int lw_Momentum(ox_low *L) {
    int n = tensor_count(L, 3, 2);
    double t = n < 0 ? NAN : read_count(L);
    double alpha = isnan(t) ? NAN : required_float(L, "alpha"), beta = isnan(alpha) ? NAN : required_float(L, "beta");
    double norm = isnan(beta) ? NAN : required_float(L, "norm_coefficient");
    if (isnan(norm)) return -1;
    char buf[16];
    const char *mode = gd_ox_as(L, "mode", "", buf, sizeof buf);
    int nesterov = !strcmp(mode, "nesterov");
    if (!nesterov && strcmp(mode, "standard"))
        return gd_ox_fail(L, "mode must be \"standard\" or \"nesterov\"%s",
                          gd_ox_attr(L->node, "mode") ? "" : " (it is required)");
    int r = gd_ox_in(L, 0);
    for (int i = 0; i < n; i++) {
        int x = gd_ox_in(L, 2 + i), g = regularized(L, x, gd_ox_in(L, 2 + n + i), norm);
        int v = gd_ox_bin(L, "add", scale(L, gd_ox_in(L, 2 + 2 * n + i), alpha), scale(L, g, t > 0 ? beta : 1));
        int dir = nesterov ? gd_ox_bin(L, "add", g, scale(L, v, alpha)) : v;
        int xn = gd_ox_bin(L, "sub", x, gd_ox_bin(L, "mul", r, dir));
        if (xn < 0) return -1;
        gd_ox_out(L, i, xn);
        gd_ox_out(L, n + i, v);
    }
    return 0;
}

/* The strings of attribute name (count, or -1 when absent) into out. */
static int string_list(ox_low *L, const char *name, char out[][GR_NAME_MAX], int max) {
    const Onnx__AttributeProto *a = gd_ox_attr(L->node, name);
    if (!a) return -1;
    if (a->n_strings > (size_t)max) return gd_ox_fail(L, "attribute %s names more than %d values", name, max), -2;
    for (size_t i = 0; i < a->n_strings; i++)
        snprintf(out[i], GR_NAME_MAX, "%.*s", (int)a->strings[i].len, (const char *)a->strings[i].data);
    return (int)a->n_strings;
}

/* Gradient: dy/dx for each x named in xs, by reverse mode over the
 * scratch graph. The node's inputs must be the values xs and zs name
 * themselves (the gradient at those values; ONNX also allows feeding
 * other values, which gradd does not do). */
static int lw_Gradient(ox_low *L) {
    char xs[OX_MAX_IO][GR_NAME_MAX], zs[OX_MAX_IO][GR_NAME_MAX], y[GR_NAME_MAX];
    int nx = string_list(L, "xs", xs, OX_MAX_IO), nz = string_list(L, "zs", zs, OX_MAX_IO);
    if (nx < -1 || nz < -1) return -1;
    if (nx < 1) return gd_ox_fail(L, "attribute xs (the names to differentiate with respect to) is required");
    if (nz < 0) nz = 0;
    const char *ys = gd_ox_as(L, "y", "", y, sizeof y);
    if (!ys[0]) return gd_ox_fail(L, "attribute y (the name of the value to differentiate) is required");
    if (L->nin != nx + nz || nx + nz > OX_MAX_IO) return gd_ox_fail(L, "the inputs must be xs followed by zs");
    for (int k = 0; k < L->nin; k++)
        if (strcmp(L->node->input[k], k < nx ? xs[k] : zs[k - nx]))
            return gd_ox_fail(L, "input %d is \"%.64s\" but %s names \"%.64s\": gradd computes the gradient at the "
                              "values xs and zs name only", k, L->node->input[k], k < nx ? "xs" : "zs",
                              k < nx ? xs[k] : zs[k - nx]);
    if (L->folding) return gd_ox_fail(L, "xs are all constants: there is nothing to differentiate");
    int yid = gd_ox_value_id(L, ys), wrt[OX_MAX_IO], grads[OX_MAX_IO];
    if (yid < 0) return gd_ox_fail(L, "y \"%.64s\" is no value computed before the node", ys);
    const gr_shape *s = gd_ox_shape(L, yid);
    int64_t numel = 1;
    for (int i = 0; i < s->rank; i++) numel *= s->dims[i];
    if (numel != 1)
        return gd_ox_fail(L, "y \"%.64s\" must have one element (gradd computes gradients of scalars)", ys);
    for (int k = 0; k < nx; k++)
        if ((wrt[k] = gd_ox_in(L, k)) < 0) return -1;
    gr_error ge;
    if (gr_grad(L->g, yid, wrt, nx, grads, &ge) != GR_OK) return gd_ox_fail(L, "%s", ge.message);
    for (int k = 0; k < nx; k++) gd_ox_out(L, k, grads[k]);
    return 0;
}

#define H(T) {#T, lw_##T}
static const ox_handler train_handlers[] = {H(Adam), H(Adagrad), H(Momentum), H(Gradient), {NULL, NULL}};
#undef H

const ox_handler *gd_ox_train_handler(const char *type) {
    for (const ox_handler *h = train_handlers; type && h->type; h++)
        if (!strcmp(h->type, type)) return h;
    return NULL;
}
