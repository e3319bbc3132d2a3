/* optim.c -- SGD (momentum, Nesterov, weight decay) and Adam/AdamW with
 * PyTorch's update rules. The state is plain arrays the caller owns, so a
 * stateless service can hand it back and forth. */
#include "internal.h"
#include "vmath.h"

#include <math.h>
#include <string.h>

gr_sgd gr_sgd_default(void) {
    gr_sgd c = {.lr = 0.01, .momentum = 0, .weight_decay = 0, .nesterov = 0};
    return c;
}

gr_adam gr_adam_default(void) {
    gr_adam c = {.lr = 0.001, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0, .decoupled = 0};
    return c;
}

static gr_status bad(gr_error *err, const char *field, const char *why, double v) {
    gr_fail(err, GR_E_ARG, NULL, -1, "optimizer field '%s' is %g; it must be %s", field, v, why);
    if (err) strncpy(err->attr, field, sizeof err->attr - 1);
    return GR_E_ARG;
}

gr_status gr_sgd_check(const gr_sgd *c, gr_error *err) {
    if (!(c->lr >= 0 && isfinite(c->lr))) return bad(err, "lr", "finite and >= 0", c->lr);
    if (!(c->momentum >= 0 && c->momentum < 1)) return bad(err, "momentum", "in [0, 1)", c->momentum);
    if (!(c->weight_decay >= 0 && isfinite(c->weight_decay)))
        return bad(err, "weight_decay", "finite and >= 0", c->weight_decay);
    if (c->nesterov && c->momentum <= 0) return bad(err, "nesterov", "off when momentum is 0", 1);
    return GR_OK;
}

gr_status gr_adam_check(const gr_adam *c, gr_error *err) {
    if (!(c->lr >= 0 && isfinite(c->lr))) return bad(err, "lr", "finite and >= 0", c->lr);
    if (!(c->beta1 >= 0 && c->beta1 < 1)) return bad(err, "beta1", "in [0, 1)", c->beta1);
    if (!(c->beta2 >= 0 && c->beta2 < 1)) return bad(err, "beta2", "in [0, 1)", c->beta2);
    if (!(c->eps > 0 && isfinite(c->eps))) return bad(err, "eps", "finite and > 0", c->eps);
    if (!(c->weight_decay >= 0 && isfinite(c->weight_decay)))
        return bad(err, "weight_decay", "finite and >= 0", c->weight_decay);
    return GR_OK;
}

/* Each rule computes one element's new param pn (and new state) from the
 * old values p[i], gr[i] and the state, in the order PyTorch's update
 * does; the updates store them, the probes only test them, so the two
 * agree on every bit. */
#define SGD_PLAIN_RULE(T) const T pn = p[i] - lr * (gr[i] + wd * p[i]);
#define SGD_MOMENTUM_RULE(T)                                                                                          \
    const T bn = mu * buf[i] + (gr[i] + wd * p[i]);                                                                   \
    const T pn = p[i] - lr * bn;
#define SGD_NESTEROV_RULE(T)                                                                                          \
    const T d = gr[i] + wd * p[i];                                                                                    \
    const T bn = mu * buf[i] + d;                                                                                     \
    const T pn = p[i] - lr * (d + mu * bn);
#define ADAM_RULE(T, SQRT)                                                                                            \
    T d = gr[i], p1 = p[i];                                                                                           \
    if (decoupled) p1 *= decay;                                                                                       \
    else d += wd * p1;                                                                                                \
    const T m1n = b1 * m1[i] + (1 - b1) * d;                                                                          \
    const T m2n = b2 * m2[i] + (1 - b2) * d * d;                                                                      \
    const T pn = p1 - step_size * m1n / (SQRT(m2n) * inv_sqrt_bc2 + eps);

/* x is neither infinite nor NaN (x - x is then exactly 0); branch-free,
 * so the probes vectorize. */
#define NOT_FINITE(x) ((x) - (x) != 0)

/* The loops, a function per dtype, built for AVX2 and the baseline
 * (GR_ROW_CLONES). An update stores each rule's results; a probe tells
 * whether a gradient element is not finite, else whether an updated param
 * would not be (gr_update_probe). The SGD variants are separate loops so
 * each vectorizes. */
#define PROBE_RESULT return bad_g ? GR_PROBE_GRAD_NOT_FINITE : bad_p ? GR_PROBE_PARAM_NOT_FINITE : GR_PROBE_FINITE

#define SGD_LOOPS(T, SUFFIX)                                                                                          \
    GR_ROW_CLONES static void sgd_update_##SUFFIX(int64_t n, T *p, const T *gr, T *buf, const gr_sgd *c) {          \
        const T lr = (T)c->lr, mu = (T)c->momentum, wd = (T)c->weight_decay;                                          \
        if (!buf)                                                                                                     \
            for (int64_t i = 0; i < n; i++) {                                                                         \
                SGD_PLAIN_RULE(T)                                                                                     \
                p[i] = pn;                                                                                            \
            }                                                                                                         \
        else if (!c->nesterov)                                                                                        \
            for (int64_t i = 0; i < n; i++) {                                                                         \
                SGD_MOMENTUM_RULE(T)                                                                                  \
                buf[i] = bn;                                                                                          \
                p[i] = pn;                                                                                            \
            }                                                                                                         \
        else                                                                                                          \
            for (int64_t i = 0; i < n; i++) {                                                                         \
                SGD_NESTEROV_RULE(T)                                                                                  \
                buf[i] = bn;                                                                                          \
                p[i] = pn;                                                                                            \
            }                                                                                                         \
    }                                                                                                                 \
    GR_ROW_CLONES static gr_update_probe sgd_probe_##SUFFIX(int64_t n, const T *p, const T *gr, const T *buf,        \
                                                            const gr_sgd *c) {                                        \
        const T lr = (T)c->lr, mu = (T)c->momentum, wd = (T)c->weight_decay;                                          \
        int bad_g = 0, bad_p = 0;                                                                                     \
        if (!buf)                                                                                                     \
            for (int64_t i = 0; i < n; i++) {                                                                         \
                SGD_PLAIN_RULE(T)                                                                                     \
                bad_g |= NOT_FINITE(gr[i]);                                                                           \
                bad_p |= NOT_FINITE(pn);                                                                              \
            }                                                                                                         \
        else if (!c->nesterov)                                                                                        \
            for (int64_t i = 0; i < n; i++) {                                                                         \
                SGD_MOMENTUM_RULE(T)                                                                                  \
                bad_g |= NOT_FINITE(gr[i]);                                                                           \
                bad_p |= NOT_FINITE(pn);                                                                              \
            }                                                                                                         \
        else                                                                                                          \
            for (int64_t i = 0; i < n; i++) {                                                                         \
                SGD_NESTEROV_RULE(T)                                                                                  \
                bad_g |= NOT_FINITE(gr[i]);                                                                           \
                bad_p |= NOT_FINITE(pn);                                                                              \
            }                                                                                                         \
        PROBE_RESULT;                                                                                                 \
    }
SGD_LOOPS(float, f32)
SGD_LOOPS(double, f64)

/* Adam's constants for one step (bias corrections from the 1-based step). */
#define ADAM_CONSTANTS(T)                                                                                             \
    const double bc1 = 1.0 - pow(c->beta1, (double)step), bc2 = 1.0 - pow(c->beta2, (double)step);                 \
    const T b1 = (T)c->beta1, b2 = (T)c->beta2, eps = (T)c->eps, wd = (T)c->weight_decay;                             \
    const T step_size = (T)(c->lr / bc1), inv_sqrt_bc2 = (T)(1.0 / sqrt(bc2));                                      \
    const T decay = (T)(1.0 - c->lr * c->weight_decay);                                                               \
    const int decoupled = c->decoupled;

#define ADAM_LOOPS(T, SUFFIX, SQRT)                                                                                   \
    GR_ROW_CLONES static void adam_update_##SUFFIX(int64_t n, T *p, const T *gr, T *m1, T *m2, int64_t step,        \
                                                   const gr_adam *c) {                                                \
        ADAM_CONSTANTS(T)                                                                                             \
        for (int64_t i = 0; i < n; i++) {                                                                             \
            ADAM_RULE(T, SQRT)                                                                                        \
            m1[i] = m1n;                                                                                              \
            m2[i] = m2n;                                                                                              \
            p[i] = pn;                                                                                                \
        }                                                                                                             \
    }                                                                                                                 \
    GR_ROW_CLONES static gr_update_probe adam_probe_##SUFFIX(int64_t n, const T *p, const T *gr, const T *m1,       \
                                                             const T *m2, int64_t step, const gr_adam *c) {           \
        ADAM_CONSTANTS(T)                                                                                             \
        int bad_g = 0, bad_p = 0;                                                                                     \
        for (int64_t i = 0; i < n; i++) {                                                                             \
            ADAM_RULE(T, SQRT)                                                                                        \
            bad_g |= NOT_FINITE(gr[i]);                                                                               \
            bad_p |= NOT_FINITE(pn);                                                                                  \
        }                                                                                                             \
        PROBE_RESULT;                                                                                                 \
    }
ADAM_LOOPS(float, f32, sqrtf)
ADAM_LOOPS(double, f64, sqrt)

static gr_status sgd_args(int64_t n, const void *velocity, const gr_sgd *c, gr_error *err) {
    gr_status st = gr_sgd_check(c, err);
    if (st != GR_OK) return st;
    if (c->momentum > 0 && !velocity && n > 0)
        return gr_fail(err, GR_E_ARG, NULL, -1, "SGD with momentum needs a velocity buffer");
    return GR_OK;
}

static gr_status adam_args(int64_t step, const gr_adam *c, gr_error *err) {
    gr_status st = gr_adam_check(c, err);
    if (st != GR_OK) return st;
    if (step < 1) return gr_fail(err, GR_E_ARG, NULL, -1, "Adam's step count must be >= 1, got %lld", (long long)step);
    return GR_OK;
}

gr_status gr_sgd_update(gr_dtype dt, int64_t n, void *param, const void *grad, void *velocity, const gr_sgd *c,
                        gr_error *err) {
    gr_status st = sgd_args(n, velocity, c, err);
    if (st != GR_OK) return st;
    if (c->momentum == 0) velocity = NULL;
    if (dt == GR_F32) sgd_update_f32(n, param, grad, velocity, c);
    else sgd_update_f64(n, param, grad, velocity, c);
    return GR_OK;
}

gr_status gr_sgd_probe(gr_dtype dt, int64_t n, const void *param, const void *grad, const void *velocity,
                       const gr_sgd *c, gr_update_probe *out, gr_error *err) {
    gr_status st = sgd_args(n, velocity, c, err);
    if (st != GR_OK) return st;
    if (c->momentum == 0) velocity = NULL;
    *out = dt == GR_F32 ? sgd_probe_f32(n, param, grad, velocity, c) : sgd_probe_f64(n, param, grad, velocity, c);
    return GR_OK;
}

gr_status gr_adam_update(gr_dtype dt, int64_t n, void *param, const void *grad, void *m, void *v, int64_t step,
                         const gr_adam *c, gr_error *err) {
    gr_status st = adam_args(step, c, err);
    if (st != GR_OK) return st;
    if (dt == GR_F32) adam_update_f32(n, param, grad, m, v, step, c);
    else adam_update_f64(n, param, grad, m, v, step, c);
    return GR_OK;
}

gr_status gr_adam_probe(gr_dtype dt, int64_t n, const void *param, const void *grad, const void *m, const void *v,
                        int64_t step, const gr_adam *c, gr_update_probe *out, gr_error *err) {
    gr_status st = adam_args(step, c, err);
    if (st != GR_OK) return st;
    *out = dt == GR_F32 ? adam_probe_f32(n, param, grad, m, v, step, c) : adam_probe_f64(n, param, grad, m, v, step, c);
    return GR_OK;
}
