/* optim.c -- SGD (momentum, Nesterov, weight decay) and Adam/AdamW with
 * PyTorch's update rules. The state is plain arrays the caller owns, so a
 * stateless service can hand it back and forth. */
#include "internal.h"
#include "vmath.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
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

static gr_status adam_args(int64_t step, const gr_adam *c, gr_error *err) {
    gr_status st = gr_adam_check(c, err);
    if (st != GR_OK) return st;
    if (step < 1) return gr_fail(err, GR_E_ARG, NULL, -1, "Adam's step count must be >= 1, got %lld", (long long)step);
    return GR_OK;
}

/* One job of updates (or probes) over the elements of a set's tensors,
 * taken as one loop: a part's range [i0, i1) falls on pieces of one or
 * more tensors, each updated by its dtype's loop, so each element's
 * result is the same whichever part and thread take it. */
typedef struct update_job {
    gr_dtype dt;
    const gr_update_set *set;
    const gr_sgd *sgd;   /* the rule: SGD's, or */
    const gr_adam *adam; /* Adam's */
    int64_t step;        /* Adam's 1-based step */
    atomic_int *flags;   /* NULL: update. Else probe: [count] bits of what the parts found (probe_flag) */
} update_job;

/* A probe's result as a bit, so parts' findings on one tensor OR together:
 * a non-finite gradient anywhere in it outranks a non-finite param. */
static int probe_flag(gr_update_probe p) { return p == GR_PROBE_GRAD_NOT_FINITE ? 1 : p == GR_PROBE_PARAM_NOT_FINITE ? 2 : 0; }

static gr_update_probe flag_probe(int f) {
    return f & 1 ? GR_PROBE_GRAD_NOT_FINITE : f & 2 ? GR_PROBE_PARAM_NOT_FINITE : GR_PROBE_FINITE;
}

/* Elements [at, at + len) of tensor k. */
static void update_piece(const update_job *j, int k, int64_t at, int64_t len) {
    const gr_update_set *s = j->set;
    size_t off = (size_t)at * gr_dtype_size(j->dt);
    char *p = (char *)s->param[k] + off;
    const char *g = (const char *)s->grad[k] + off;
    char *a = s->s1 && s->s1[k] ? (char *)s->s1[k] + off : NULL, *b = s->s2 && s->s2[k] ? (char *)s->s2[k] + off : NULL;
    int f32 = j->dt == GR_F32;
    gr_update_probe r = GR_PROBE_FINITE;
    if (j->sgd) {
        if (j->sgd->momentum == 0) a = NULL;
        if (!j->flags) f32 ? sgd_update_f32(len, (float *)p, (const float *)g, (float *)a, j->sgd)
                           : sgd_update_f64(len, (double *)p, (const double *)g, (double *)a, j->sgd);
        else r = f32 ? sgd_probe_f32(len, (const float *)p, (const float *)g, (const float *)a, j->sgd)
                     : sgd_probe_f64(len, (const double *)p, (const double *)g, (const double *)a, j->sgd);
    } else {
        if (!j->flags) f32 ? adam_update_f32(len, (float *)p, (const float *)g, (float *)a, (float *)b, j->step, j->adam)
                           : adam_update_f64(len, (double *)p, (const double *)g, (double *)a, (double *)b, j->step, j->adam);
        else r = f32 ? adam_probe_f32(len, (const float *)p, (const float *)g, (const float *)a, (const float *)b, j->step,
                                      j->adam)
                     : adam_probe_f64(len, (const double *)p, (const double *)g, (const double *)a, (const double *)b,
                                      j->step, j->adam);
    }
    if (r != GR_PROBE_FINITE) atomic_fetch_or_explicit(&j->flags[k], probe_flag(r), memory_order_relaxed);
}

static void update_part(void *ctx, int64_t i0, int64_t i1) {
    const update_job *j = ctx;
    int64_t at = 0; /* the first element of tensor k */
    for (int k = 0; k < j->set->count && at < i1; at += j->set->n[k], k++) {
        int64_t lo = i0 > at ? i0 : at, hi = i1 < at + j->set->n[k] ? i1 : at + j->set->n[k];
        if (lo < hi) update_piece(j, k, lo - at, hi - lo);
    }
}

/* The set's shape: counts and pointers, and the state the rule needs
 * (SGD with momentum a velocity, Adam both moments) for every tensor
 * with elements. */
static gr_status set_args(const gr_update_set *s, int moments, gr_error *err) {
    if (!s || s->count < 0 || (s->count > 0 && (!s->n || !s->param || !s->grad)))
        return gr_fail(err, GR_E_ARG, NULL, -1, "an update set needs its counts, params and gradients");
    for (int k = 0; k < s->count; k++) {
        if (s->n[k] < 0)
            return gr_fail(err, GR_E_ARG, NULL, -1, "tensor %d of the update set has %lld elements", k, (long long)s->n[k]);
        if (s->n[k] == 0) continue;
        if (!s->param[k] || !s->grad[k])
            return gr_fail(err, GR_E_ARG, NULL, -1, "tensor %d of the update set has no param or gradient", k);
        if (moments >= 1 && !(s->s1 && s->s1[k]))
            return gr_fail(err, GR_E_ARG, NULL, -1, moments == 1 ? "SGD with momentum needs a velocity buffer"
                                                                 : "Adam needs its two moment buffers");
        if (moments >= 2 && !(s->s2 && s->s2[k]))
            return gr_fail(err, GR_E_ARG, NULL, -1, "Adam needs its two moment buffers");
    }
    return GR_OK;
}

/* Run j over the set's elements; a probe fills out[count]. */
static gr_status update_run(update_job *j, gr_update_probe *out, gr_error *err) {
    const gr_update_set *s = j->set;
    int64_t total = 0;
    for (int k = 0; k < s->count; k++) total += s->n[k];
    atomic_int few[16], *flags = NULL;
    if (out) {
        flags = s->count <= 16 ? few : malloc((size_t)s->count * sizeof *flags);
        if (!flags) return gr_fail(err, GR_E_NOMEM, NULL, -1, "out of memory probing %d tensors", s->count);
        for (int k = 0; k < s->count; k++) atomic_init(&flags[k], 0);
    }
    j->flags = flags;
    gr_parallel_for(total, GR_PAR_GRAIN, update_part, j);
    for (int k = 0; out && k < s->count; k++) out[k] = flag_probe(atomic_load(&flags[k]));
    if (flags != few) free(flags);
    return GR_OK;
}

static gr_status sgd_set(gr_dtype dt, const gr_update_set *s, const gr_sgd *c, gr_update_probe *out, gr_error *err) {
    gr_status st = gr_sgd_check(c, err);
    if (st == GR_OK) st = set_args(s, c->momentum > 0, err);
    if (st != GR_OK) return st;
    update_job j = {.dt = dt, .set = s, .sgd = c};
    return update_run(&j, out, err);
}

static gr_status adam_set(gr_dtype dt, const gr_update_set *s, int64_t step, const gr_adam *c, gr_update_probe *out,
                          gr_error *err) {
    gr_status st = adam_args(step, c, err);
    if (st == GR_OK) st = set_args(s, 2, err);
    if (st != GR_OK) return st;
    update_job j = {.dt = dt, .set = s, .adam = c, .step = step};
    return update_run(&j, out, err);
}

gr_status gr_sgd_update_set(gr_dtype dt, const gr_update_set *s, const gr_sgd *c, gr_error *err) {
    return sgd_set(dt, s, c, NULL, err);
}

gr_status gr_sgd_probe_set(gr_dtype dt, const gr_update_set *s, const gr_sgd *c, gr_update_probe *out, gr_error *err) {
    return sgd_set(dt, s, c, out, err);
}

gr_status gr_adam_update_set(gr_dtype dt, const gr_update_set *s, int64_t step, const gr_adam *c, gr_error *err) {
    return adam_set(dt, s, step, c, NULL, err);
}

gr_status gr_adam_probe_set(gr_dtype dt, const gr_update_set *s, int64_t step, const gr_adam *c, gr_update_probe *out,
                            gr_error *err) {
    return adam_set(dt, s, step, c, out, err);
}

/* The one-tensor calls: a set of one, its arrays in one. (The probes'
 * pointers lose their const here; a probe writes nothing through them.) */
typedef struct one_tensor {
    int64_t n[1];
    void *p[1], *s1[1], *s2[1];
    const void *g[1];
    gr_update_set set;
} one_tensor;

static const gr_update_set *one_of(one_tensor *o, int64_t n, const void *param, const void *grad, const void *s1,
                                   const void *s2) {
    o->n[0] = n;
    o->p[0] = (void *)param;
    o->g[0] = grad;
    o->s1[0] = (void *)s1;
    o->s2[0] = (void *)s2;
    o->set = (gr_update_set){1, o->n, o->p, o->g, o->s1, o->s2};
    return &o->set;
}

gr_status gr_sgd_update(gr_dtype dt, int64_t n, void *param, const void *grad, void *velocity, const gr_sgd *c,
                        gr_error *err) {
    one_tensor o;
    return sgd_set(dt, one_of(&o, n, param, grad, velocity, NULL), c, NULL, err);
}

gr_status gr_sgd_probe(gr_dtype dt, int64_t n, const void *param, const void *grad, const void *velocity,
                       const gr_sgd *c, gr_update_probe *out, gr_error *err) {
    one_tensor o;
    return sgd_set(dt, one_of(&o, n, param, grad, velocity, NULL), c, out, err);
}

gr_status gr_adam_update(gr_dtype dt, int64_t n, void *param, const void *grad, void *m, void *v, int64_t step,
                         const gr_adam *c, gr_error *err) {
    one_tensor o;
    return adam_set(dt, one_of(&o, n, param, grad, m, v), step, c, NULL, err);
}

gr_status gr_adam_probe(gr_dtype dt, int64_t n, const void *param, const void *grad, const void *m, const void *v,
                        int64_t step, const gr_adam *c, gr_update_probe *out, gr_error *err) {
    one_tensor o;
    return adam_set(dt, one_of(&o, n, param, grad, m, v), step, c, out, err);
}
