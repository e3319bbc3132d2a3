/* optim.c -- SGD (momentum, Nesterov, weight decay) and Adam/AdamW with
 * PyTorch's update rules. The state is plain arrays the caller owns, so a
 * stateless service can hand it back and forth. */
#include "internal.h"

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

/* One loop body per dtype: T is the element type. The three cases are
 * separate loops so each vectorizes. */
#define SGD_LOOP(T)                                                                                                   \
    do {                                                                                                              \
        T *p = param, *buf = velocity;                                                                                \
        const T *gr = grad;                                                                                           \
        const T lr = (T)c->lr, mu = (T)c->momentum, wd = (T)c->weight_decay;                                          \
        if (!buf) {                                                                                                   \
            for (int64_t i = 0; i < n; i++) p[i] -= lr * (gr[i] + wd * p[i]);                                         \
        } else if (!c->nesterov) {                                                                                    \
            for (int64_t i = 0; i < n; i++) {                                                                         \
                buf[i] = mu * buf[i] + (gr[i] + wd * p[i]);                                                           \
                p[i] -= lr * buf[i];                                                                                  \
            }                                                                                                         \
        } else {                                                                                                      \
            for (int64_t i = 0; i < n; i++) {                                                                         \
                T d = gr[i] + wd * p[i];                                                                              \
                buf[i] = mu * buf[i] + d;                                                                             \
                p[i] -= lr * (d + mu * buf[i]);                                                                       \
            }                                                                                                         \
        }                                                                                                             \
    } while (0)

gr_status gr_sgd_update(gr_dtype dt, int64_t n, void *param, const void *grad, void *velocity, const gr_sgd *c,
                        gr_error *err) {
    gr_status st = gr_sgd_check(c, err);
    if (st != GR_OK) return st;
    if (c->momentum > 0 && !velocity && n > 0)
        return gr_fail(err, GR_E_ARG, NULL, -1, "SGD with momentum needs a velocity buffer");
    if (c->momentum == 0) velocity = NULL;
    if (dt == GR_F32) SGD_LOOP(float);
    else SGD_LOOP(double);
    return GR_OK;
}

#define ADAM_LOOP(T, SQRT)                                                                                            \
    do {                                                                                                              \
        T *p = param, *m1 = m, *m2 = v;                                                                               \
        const T *gr = grad;                                                                                           \
        const T b1 = (T)c->beta1, b2 = (T)c->beta2, eps = (T)c->eps, wd = (T)c->weight_decay;                         \
        const T step_size = (T)(c->lr / bc1), inv_sqrt_bc2 = (T)(1.0 / sqrt(bc2));                                  \
        const T decay = (T)(1.0 - c->lr * c->weight_decay);                                                           \
        for (int64_t i = 0; i < n; i++) {                                                                             \
            T d = gr[i];                                                                                              \
            if (c->decoupled) p[i] *= decay;                                                                          \
            else d += wd * p[i];                                                                                      \
            m1[i] = b1 * m1[i] + (1 - b1) * d;                                                                        \
            m2[i] = b2 * m2[i] + (1 - b2) * d * d;                                                                    \
            p[i] -= step_size * m1[i] / (SQRT(m2[i]) * inv_sqrt_bc2 + eps);                                           \
        }                                                                                                             \
    } while (0)

gr_status gr_adam_update(gr_dtype dt, int64_t n, void *param, const void *grad, void *m, void *v, int64_t step,
                         const gr_adam *c, gr_error *err) {
    gr_status st = gr_adam_check(c, err);
    if (st != GR_OK) return st;
    if (step < 1) return gr_fail(err, GR_E_ARG, NULL, -1, "Adam's step count must be >= 1, got %lld", (long long)step);
    double bc1 = 1.0 - pow(c->beta1, (double)step), bc2 = 1.0 - pow(c->beta2, (double)step);
    if (dt == GR_F32) ADAM_LOOP(float, sqrtf);
    else ADAM_LOOP(double, sqrt);
    return GR_OK;
}
