/* pool.c -- 2-D pooling over the last two dims of [N, C, H, W] (or
 * unbatched [C, H, W]) tensors, as PyTorch's max_pool2d (and its
 * indices, max_pool2d_indices: return_indices=True) and avg_pool2d, and
 * the internal ops their derivatives are built from:
 *   max_pool2d_backward(x, g): g scattered (added) to the argmax of each
 *     window of x, x-shaped;
 *   max_pool2d_select(x, h): h read at the argmax of each window of x,
 *     pooled-shaped; the two are each other's adjoint in their second
 *     operand, and x's windows only choose positions (no gradient);
 *   avg_pool2d_backward(g): the adjoint of avg_pool2d, x-shaped (the shape
 *     attribute).
 * Global average pooling is mean(x, axes=[-2, -1], keepdims=true), which
 * equals PyTorch's adaptive_avg_pool2d(x, 1); there is no separate op. */
#include "window.h"

#include <math.h>
#include <string.h>

typedef struct pool_geom {
    int64_t planes;        /* N * C: independent [H, W] planes */
    int64_t h, w;          /* input plane */
    int64_t oh, ow;        /* output plane */
    int64_t kh, kw;        /* window */
    int64_t sh, sw;        /* stride (default: the window) */
    int64_t ph, pw;        /* padding on both sides */
    int64_t dh, dw;        /* dilation (max_pool2d; 1 for avg_pool2d) */
    int ceil_mode;         /* output size rounds up */
    int count_include_pad; /* avg_pool2d divides by the window with its padding */
} pool_geom;

/* PyTorch's pooling_output_shape: floor (or ceil) of (len + 2p - d(k - 1)
 * - 1) / s, plus one; with ceil_mode, a last window that would start in
 * the right padding is dropped. -1 when it is below 1. */
static int64_t pool_out_len(int64_t len, int64_t k, int64_t s, int64_t p, int64_t d, int ceil_mode) {
    int64_t span, num;
    if (!gr_mul_ok(d, k - 1, &span) || !gr_add_ok(len, 2 * p, &num)) return -1;
    num = num - span - 1 + (ceil_mode ? s - 1 : 0);
    if (num < 0) return -1;
    int64_t out = num / s + 1;
    if (ceil_mode && (out - 1) * s >= len + p) out--;
    return out < 1 ? -1 : out;
}

/* The geometry of pooling node n over an input of shape x (no checks). */
static pool_geom geom_of(const gr_node *n, const gr_shape *x) {
    pool_geom c;
    int64_t v[2];
    c.h = x->dims[x->rank - 2];
    c.w = x->dims[x->rank - 1];
    c.planes = 1;
    for (int i = 0; i < x->rank - 2; i++) c.planes *= x->dims[i];
    gr_window_attr_of(n, GR_ATTR_KERNEL_SIZE, 2, 1, 1, v);
    c.kh = v[0], c.kw = v[1];
    if (n->attrs->set & A(GR_ATTR_STRIDE)) {
        gr_window_attr_of(n, GR_ATTR_STRIDE, 2, 1, 1, v);
        c.sh = v[0], c.sw = v[1];
    } else {
        c.sh = c.kh, c.sw = c.kw;
    }
    gr_window_attr_of(n, GR_ATTR_PADDING, 2, 0, 0, v);
    c.ph = v[0], c.pw = v[1];
    gr_window_attr_of(n, GR_ATTR_DILATION, 2, 1, 1, v);
    c.dh = v[0], c.dw = v[1];
    c.ceil_mode = (n->attrs->set & A(GR_ATTR_CEIL_MODE)) && n->attrs->ceil_mode;
    c.count_include_pad = !(n->attrs->set & A(GR_ATTR_COUNT_INCLUDE_PAD)) || n->attrs->count_include_pad;
    c.oh = pool_out_len(c.h, c.kh, c.sh, c.ph, c.dh, c.ceil_mode);
    c.ow = pool_out_len(c.w, c.kw, c.sw, c.pw, c.dw, c.ceil_mode);
    return c;
}

/* Check node id's pooling of an x-shaped input (operand xk, or -1 for the
 * shape attribute) and write the pooled shape to *out. */
static gr_status pool_check(gr_graph *g, int id, const gr_shape *x, int xk, gr_shape *out, gr_error *err) {
    int64_t v[2];
    if (x->rank != 3 && x->rank != 4)
        return gr_fail_op(g, err, GR_E_SHAPE, id, xk, xk < 0 ? "shape" : NULL,
                          "the input must be [N, C, H, W] or [C, H, W], not of rank %d", x->rank);
    static const gr_attr_id lists[] = {GR_ATTR_KERNEL_SIZE, GR_ATTR_STRIDE, GR_ATTR_PADDING, GR_ATTR_DILATION};
    for (int i = 0; i < 4; i++) {
        gr_status st = gr_window_attr(g, id, lists[i], 2, 1, 1, v, err);
        if (st != GR_OK) return st;
    }
    pool_geom c = geom_of(&g->nodes[id], x);
    if (c.ph > c.kh / 2 || c.pw > c.kw / 2)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "padding",
                          "padding (%lld, %lld) must be at most half the kernel size (%lld, %lld)",
                          (long long)c.ph, (long long)c.pw, (long long)c.kh, (long long)c.kw);
    if (c.oh < 1 || c.ow < 1)
        return gr_fail_op(g, err, GR_E_SHAPE, id, xk, xk < 0 ? "shape" : NULL,
                          "an input plane of %lld x %lld is smaller than the dilated window",
                          (long long)c.h, (long long)c.w);
    *out = *x;
    out->dims[x->rank - 2] = c.oh;
    out->dims[x->rank - 1] = c.ow;
    return GR_OK;
}

/* max_pool2d(x), avg_pool2d(x): the pooled shape. */
static gr_status pool_infer(gr_graph *g, int id, gr_error *err) {
    gr_shape x = *IN_SHAPE(g, id, 0), y;
    gr_status st = pool_check(g, id, &x, 0, &y, err);
    return st != GR_OK ? st : gr_node_set_shape(g, id, &y, err);
}

/* operand 1 must have the shape operand 0 pools to (select) or operand 0's
 * own shape (backward); the result has operand 0's shape (backward) or the
 * pooled one (select). */
static gr_status pool_pair_infer(gr_graph *g, int id, int pooled_result, gr_error *err) {
    gr_shape x = *IN_SHAPE(g, id, 0), y, h = *IN_SHAPE(g, id, 1);
    gr_status st = pool_check(g, id, &x, 0, &y, err);
    if (st != GR_OK) return st;
    const gr_shape *want = pooled_result ? &x : &y;
    char a[160], b[160];
    if (!gr_shape_equal(&h, want))
        return gr_fail_op(g, err, GR_E_SHAPE, id, 1, NULL, "operand 1 has shape %s; it needs %s",
                          gr_shape_str(&h, a, sizeof a), gr_shape_str(want, b, sizeof b));
    return gr_node_set_shape(g, id, pooled_result ? &y : &x, err);
}
static gr_status max_backward_infer(gr_graph *g, int id, gr_error *err) { return pool_pair_infer(g, id, 0, err); }
static gr_status max_select_infer(gr_graph *g, int id, gr_error *err) { return pool_pair_infer(g, id, 1, err); }

/* avg_pool2d_backward(g): g must be the pooled shape of the shape attribute. */
static gr_status avg_backward_infer(gr_graph *g, int id, gr_error *err) {
    gr_shape x = g->nodes[id].attrs->shape, y, gs = *IN_SHAPE(g, id, 0);
    for (int i = 0; i < x.rank; i++)
        if (x.dims[i] < 0)
            return gr_fail_op(g, err, GR_E_ARG, id, -1, "shape", "a negative dim in 'shape'");
    gr_status st = pool_check(g, id, &x, -1, &y, err);
    if (st != GR_OK) return st;
    char a[160], b[160];
    if (!gr_shape_equal(&gs, &y))
        return gr_fail_op(g, err, GR_E_SHAPE, id, 0, NULL, "the gradient has shape %s; it needs %s",
                          gr_shape_str(&gs, a, sizeof a), gr_shape_str(&y, b, sizeof b));
    return gr_node_set_shape(g, id, &x, err);
}

/* ---- max pooling -------------------------------------------------------- */

/* The taps k in [*lo, *hi) of a window starting at s0 with dilation d and
 * k taps that fall inside [0, len). */
static inline void taps_inside(int64_t s0, int64_t k, int64_t d, int64_t len, int64_t *lo, int64_t *hi) {
    int64_t l, h;
    if (d == 1) { /* no division, the common case */
        l = s0 >= 0 ? 0 : -s0;
        h = len - s0;
    } else {
        l = s0 >= 0 ? 0 : (-s0 + d - 1) / d;
        h = len - s0 <= 0 ? 0 : (len - s0 + d - 1) / d;
    }
    if (h > k) h = k;
    *lo = l;
    *hi = h > l ? h : l;
}

/* mask (all ones or zero) ? a : b, on the bits, without a branch. */
static inline float select_float(int64_t mask, float a, float b) {
    uint32_t ua, ub, m = (uint32_t)mask;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, sizeof a);
    return a;
}
static inline double select_double(int64_t mask, double a, double b) {
    uint64_t ua, ub, m = (uint64_t)mask;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, sizeof a);
    return a;
}

/* A plane larger than this many elements looks at the cancel flag before
 * each plane, smaller ones every 64 planes. */
#define POOL_LOOK_ELEMS 65536

/* Output columns per pass of the row kernels (a stack buffer each). */
#define POOL_COLS 128

/* The argmax of each window of output row oy, columns [ox0, ox1) (at most
 * POOL_COLS), into idx[ox - ox0]: the index in the plane xp of the window's
 * maximum, as PyTorch's CPU kernel picks it: scanning the window row by
 * row, a value replaces the running maximum when it is greater or NaN (so
 * the first of tied maxima wins, and the last NaN); when no value is
 * greater than -inf, the first element of the window inside the input; -1
 * for a window with nothing inside the input. Windows wholly inside the
 * row run tap by tap across the columns (independent chains, branch-free
 * selects: random data would mispredict every branch); the others one by
 * one. */
#define ARGMAX_ROW(T)                                                                                                 \
    static void argmax_row_##T(const pool_geom *c, const T *xp, int64_t oy, int64_t ox0, int64_t ox1,               \
                               int64_t *idx) {                                                                        \
        int64_t ih0 = oy * c->sh - c->ph, i_lo, i_hi;                                                                 \
        taps_inside(ih0, c->kh, c->dh, c->h, &i_lo, &i_hi);                                                           \
        if (i_lo >= i_hi) {                                                                                           \
            for (int64_t ox = ox0; ox < ox1; ox++) idx[ox - ox0] = -1;                                                \
            return;                                                                                                   \
        }                                                                                                             \
        /* Columns whose whole window lies inside: ox * sw - pw >= 0 and                                            \
         * ox * sw - pw + (kw - 1) * dw < w. */                                                                       \
        int64_t in_lo = (c->pw + c->sw - 1) / c->sw, last = c->w - 1 + c->pw - (c->kw - 1) * c->dw;                   \
        int64_t in_hi = last < 0 ? in_lo : last / c->sw + 1;                                                          \
        in_lo = in_lo < ox0 ? ox0 : in_lo > ox1 ? ox1 : in_lo;                                                        \
        in_hi = in_hi < in_lo ? in_lo : in_hi > ox1 ? ox1 : in_hi;                                                    \
        T mx[POOL_COLS];                                                                                              \
        for (int64_t ox = ox0; ox < ox1; ox++) {                                                                      \
            if (ox == in_lo && in_lo < in_hi) { /* the inside columns, tap-major */                                   \
                int64_t n = in_hi - in_lo, first = (ih0 + i_lo * c->dh) * c->w - c->pw + in_lo * c->sw;               \
                for (int64_t t = 0; t < n; t++) {                                                                     \
                    mx[t] = -INFINITY;                                                                                \
                    idx[in_lo - ox0 + t] = first + t * c->sw;                                                         \
                }                                                                                                     \
                for (int64_t i = i_lo; i < i_hi; i++)                                                                 \
                    for (int64_t j = 0; j < c->kw; j++) {                                                             \
                        int64_t off = (ih0 + i * c->dh) * c->w - c->pw + j * c->dw + in_lo * c->sw;                   \
                        int64_t *id = idx + (in_lo - ox0);                                                            \
                        for (int64_t t = 0; t < n; t++) {                                                             \
                            int64_t pos = off + t * c->sw;                                                            \
                            T v = xp[pos];                                                                            \
                            int64_t take = -(int64_t)((v > mx[t]) | (v != v));                                        \
                            id[t] = (id[t] & ~take) | (pos & take);                                                   \
                            mx[t] = select_##T(take, v, mx[t]);                                                       \
                        }                                                                                             \
                    }                                                                                                 \
                ox = in_hi - 1;                                                                                       \
                continue;                                                                                             \
            }                                                                                                         \
            int64_t iw0 = ox * c->sw - c->pw, j_lo, j_hi, best = -1;                                                  \
            taps_inside(iw0, c->kw, c->dw, c->w, &j_lo, &j_hi);                                                       \
            if (j_lo < j_hi) {                                                                                        \
                T m = -INFINITY;                                                                                      \
                best = (ih0 + i_lo * c->dh) * c->w + iw0 + j_lo * c->dw;                                              \
                for (int64_t i = i_lo; i < i_hi; i++)                                                                 \
                    for (int64_t j = j_lo; j < j_hi; j++) {                                                           \
                        int64_t pos = (ih0 + i * c->dh) * c->w + iw0 + j * c->dw;                                     \
                        T v = xp[pos];                                                                                \
                        if (v > m || v != v) {                                                                        \
                            m = v;                                                                                    \
                            best = pos;                                                                               \
                        }                                                                                             \
                    }                                                                                                 \
            }                                                                                                         \
            idx[ox - ox0] = best;                                                                                     \
        }                                                                                                             \
    }
ARGMAX_ROW(float)
ARGMAX_ROW(double)

/* 1 for the most common pooling, 2x2 windows at stride 2 without padding or
 * dilation, every window inside the input: the kernels below unroll it. */
static int pool_2x2(const pool_geom *c) {
    return c->kh == 2 && c->kw == 2 && c->sh == 2 && c->sw == 2 && c->ph == 0 && c->pw == 0 && c->dh == 1 &&
           c->dw == 1 && 2 * c->oh <= c->h && 2 * c->ow <= c->w;
}

/* pool_2x2: argmax_row's rule for one output row in two branch-free
 * passes the compiler can vectorize: the window maxima (NaN when the window
 * holds one), then the first element equal to its maximum (the first of
 * tied maxima; -inf windows pick their first element) or, for a NaN, the
 * last NaN. */
#define ARGMAX_2X2(T)                                                                                                 \
    static void argmax_2x2_##T(const pool_geom *c, const T *xp, int64_t oy, int64_t ox0, int64_t ox1,               \
                               int64_t *idx) {                                                                        \
        int64_t base = 2 * oy * c->w, w = c->w, n = ox1 - ox0;                                                        \
        const T *r0 = xp + base + 2 * ox0, *r1 = r0 + w;                                                              \
        T mx[POOL_COLS];                                                                                              \
        int nan[POOL_COLS];                                                                                           \
        for (int64_t t = 0; t < n; t++) {                                                                             \
            T a = r0[2 * t], b = r0[2 * t + 1], d = r1[2 * t], e = r1[2 * t + 1];                                     \
            T m0 = b > a ? b : a, m1 = e > d ? e : d;                                                                 \
            mx[t] = m1 > m0 ? m1 : m0;                                                                                \
            nan[t] = (a != a) | (b != b) | (d != d) | (e != e);                                                       \
        }                                                                                                             \
        for (int64_t t = 0; t < n; t++) {                                                                             \
            T a = r0[2 * t], b = r0[2 * t + 1], d = r1[2 * t], e = r1[2 * t + 1], m = mx[t];                          \
            /* Arithmetic on the comparisons, not branches: random data mispredicts them. */                        \
            int64_t ea = a == m, eb = b == m, ed = d == m, nb = b != b, nd = d != d, ne = e != e, isn = nan[t];       \
            int64_t first = (1 - ea) * (eb + (1 - eb) * (w + 1 - ed));                                                \
            int64_t last_nan = ne * (w + 1) + (1 - ne) * (nd * w + (1 - nd) * nb);                                    \
            idx[t] = base + 2 * (ox0 + t) + isn * last_nan + (1 - isn) * first;                                       \
        }                                                                                                             \
    }
ARGMAX_2X2(float)
ARGMAX_2X2(double)

/* The window maxima of one plane (y = x at the argmax, without the argmax:
 * NaN when the window holds one, -inf when it holds nothing inside the
 * input; of tied maxima the first, which tells -0 from +0 as PyTorch
 * does); branch-free, so the compiler may vectorize it. */
#define MAX_VALUES(T)                                                                                                 \
    static void max_values_##T(const pool_geom *pc, const T *xp, T *yp) {                                             \
        const pool_geom c = *pc;                                                                                      \
        if (pool_2x2(&c)) {                                                                                           \
            for (int64_t oy = 0; oy < c.oh; oy++) {                                                                   \
                const T *r0 = xp + 2 * oy * c.w, *r1 = r0 + c.w;                                                      \
                T *y = yp + oy * c.ow;                                                                                \
                for (int64_t ox = 0; ox < c.ow; ox++) {                                                               \
                    T a = r0[2 * ox], b = r0[2 * ox + 1], d = r1[2 * ox], e = r1[2 * ox + 1];                         \
                    T m0 = b > a ? b : a, m1 = e > d ? e : d;                                                         \
                    int nan = (a != a) | (b != b) | (d != d) | (e != e);                                              \
                    y[ox] = nan ? (T)NAN : m1 > m0 ? m1 : m0;                                                         \
                }                                                                                                     \
            }                                                                                                         \
            return;                                                                                                   \
        }                                                                                                             \
        for (int64_t oy = 0; oy < c.oh; oy++) {                                                                       \
            int64_t ih0 = oy * c.sh - c.ph, i_lo, i_hi;                                                               \
            taps_inside(ih0, c.kh, c.dh, c.h, &i_lo, &i_hi);                                                          \
            for (int64_t ox = 0; ox < c.ow; ox++) {                                                                   \
                int64_t iw0 = ox * c.sw - c.pw, j_lo, j_hi;                                                           \
                taps_inside(iw0, c.kw, c.dw, c.w, &j_lo, &j_hi);                                                      \
                T mx = -INFINITY;                                                                                     \
                int nan = 0;                                                                                          \
                for (int64_t i = i_lo; i < i_hi; i++) {                                                               \
                    const T *row = xp + (ih0 + i * c.dh) * c.w + iw0;                                                 \
                    for (int64_t j = j_lo; j < j_hi; j++) {                                                           \
                        T v = row[j * c.dw];                                                                          \
                        mx = v > mx ? v : mx;                                                                         \
                        nan |= v != v;                                                                                \
                    }                                                                                                 \
                }                                                                                                     \
                yp[oy * c.ow + ox] = nan ? (T)NAN : mx;                                                               \
            }                                                                                                         \
        }                                                                                                             \
    }
MAX_VALUES(float)
MAX_VALUES(double)

/* pool_2x2's backward over one plane: each window's gradient h goes to
 * its argmax (argmax_2x2's rule) and 0 to its three other elements,
 * written as selects (no scatter), so the compiler may vectorize it; the
 * rows and columns no window covers are not written (the caller zeroes
 * them). With relu_mask, a gradient stays only where the argmax's x is
 * above 0 or NaN. */
#define MAX_BACKWARD_2X2(T)                                                                                           \
    static void max_backward_2x2_##T(const pool_geom *c, const T *xp, const T *hp, T *gp, int relu_mask) {          \
        int64_t w = c->w;                                                                                             \
        for (int64_t oy = 0; oy < c->oh; oy++) {                                                                      \
            const T *r0 = xp + 2 * oy * w, *r1 = r0 + w, *h = hp + oy * c->ow;                                        \
            T *g0 = gp + 2 * oy * w, *g1 = g0 + w;                                                                    \
            for (int64_t t = 0; t < c->ow; t++) {                                                                     \
                T a = r0[2 * t], b = r0[2 * t + 1], d = r1[2 * t], e = r1[2 * t + 1], v = h[t];                       \
                T m0 = b > a ? b : a, m1 = e > d ? e : d, m = m1 > m0 ? m1 : m0;                                      \
                int na = a != a, nb = b != b, nd = d != d, ne = e != e, isn = na | nb | nd | ne;                      \
                /* the first maximum; with a NaN, the last NaN (argmax_2x2) */                                       \
                int pa = isn ? na & !nb & !nd & !ne : a == m;                                                         \
                int pb = isn ? nb & !nd & !ne : !pa & (b == m);                                                       \
                int pd = isn ? nd & !ne : !pa & !pb & (d == m);                                                       \
                int pe = isn ? ne : !pa & !pb & !pd;                                                                  \
                v = relu_mask && !isn && !(m > 0) ? (T)0 : v;                                                         \
                g0[2 * t] = pa ? v : (T)0;                                                                            \
                g0[2 * t + 1] = pb ? v : (T)0;                                                                        \
                g1[2 * t] = pd ? v : (T)0;                                                                            \
                g1[2 * t + 1] = pe ? v : (T)0;                                                                        \
            }                                                                                                         \
        }                                                                                                             \
    }
MAX_BACKWARD_2X2(float)
MAX_BACKWARD_2X2(double)

/* The max kernels for element type T: mode 0 forward (the window maxima),
 * 1 backward (out x-shaped, h added at each argmax), 2 select (out = h at
 * each argmax), 3 indices (out = each argmax's index in its plane, -1 for
 * a window with nothing inside the input). */
#define MAX_KERNEL(T)                                                                                                 \
    static void max_run_##T(const gr_kernel *k, const pool_geom *c, int mode, int64_t p0, int64_t p1) {               \
        const T *x = k->in[0], *h = mode == 1 || mode == 2 ? (const T *)k->in[1] : NULL;                              \
        T *out = k->out;                                                                                              \
        int64_t in_plane = c->h * c->w, out_plane = c->oh * c->ow, idx[POOL_COLS];                                    \
        int fast = pool_2x2(c);                                                                                       \
        /* float32 2x2 windows: pool_avx512.c's kernels where the CPU runs them */                                  \
        int vec = fast && sizeof(T) == sizeof(float) && gr_cpu_avx512();                                              \
        if (mode == 1 && !fast) memset(out + p0 * in_plane, 0, (size_t)((p1 - p0) * in_plane) * sizeof(T));          \
        for (int64_t pl = p0; pl < p1; pl++) {                                                                        \
            if ((((pl - p0) & 63) == 0 || in_plane > POOL_LOOK_ELEMS) && gr_cancelled(k->cancel)) return;             \
            const T *xp = x + pl * in_plane;                                                                          \
            if (mode == 0) {                                                                                          \
                T *yp = out + pl * out_plane;                                                                         \
                if (!(vec && gr_pool_max_2x2_f32((const float *)xp, c->h, c->w, c->oh, c->ow, (float *)yp)))          \
                    max_values_##T(c, xp, yp);                                                                        \
                continue;                                                                                             \
            }                                                                                                         \
            if (mode == 1 && fast) {                                                                                  \
                T *gp = out + pl * in_plane;                                                                          \
                const T *hp = h + pl * out_plane;                                                                     \
                if (2 * c->oh < c->h || 2 * c->ow < c->w) memset(gp, 0, (size_t)in_plane * sizeof(T));               \
                if (!(vec && gr_pool_max_2x2_backward_f32((const float *)xp, (const float *)hp, c->w, c->oh, c->ow,    \
                                                          k->relu_mask, (float *)gp)))                                \
                    max_backward_2x2_##T(c, xp, hp, gp, k->relu_mask);                                                \
                continue;                                                                                             \
            }                                                                                                         \
            for (int64_t oy = 0; oy < c->oh; oy++)                                                                    \
                for (int64_t ox0 = 0; ox0 < c->ow; ox0 += POOL_COLS) {                                                \
                    int64_t ox1 = c->ow - ox0 < POOL_COLS ? c->ow : ox0 + POOL_COLS, o = pl * out_plane + oy * c->ow; \
                    if (fast) argmax_2x2_##T(c, xp, oy, ox0, ox1, idx);                                               \
                    else argmax_row_##T(c, xp, oy, ox0, ox1, idx);                                                    \
                    if (mode == 1) {                                                                                  \
                        T *gp = out + pl * in_plane;                                                                  \
                        for (int64_t ox = ox0; ox < ox1; ox++) {                                                      \
                            int64_t i = idx[ox - ox0];                                                                \
                            if (i >= 0 && (!k->relu_mask || xp[i] > 0 || xp[i] != xp[i])) gp[i] += h[o + ox];         \
                        }                                                                                             \
                    } else if (mode == 3) {                                                                           \
                        for (int64_t ox = ox0; ox < ox1; ox++) out[o + ox] = (T)idx[ox - ox0];                        \
                    } else {                                                                                          \
                        const T *hp = h + pl * in_plane;                                                              \
                        for (int64_t ox = ox0; ox < ox1; ox++)                                                        \
                            out[o + ox] = idx[ox - ox0] < 0 ? (T)0 : hp[idx[ox - ox0]];                               \
                    }                                                                                                 \
                }                                                                                                     \
        }                                                                                                             \
    }
MAX_KERNEL(float)
MAX_KERNEL(double)

/* A max kernel's planes, shared by the threads (each plane's output is
 * its own: the backward's x-shaped plane too). */
typedef struct max_job {
    const gr_kernel *k;
    pool_geom c;
    int mode;
} max_job;

static void max_part(void *ctx, int64_t p0, int64_t p1) {
    const max_job *J = ctx;
    if (J->k->dt == GR_F32) max_run_float(J->k, &J->c, J->mode, p0, p1);
    else max_run_double(J->k, &J->c, J->mode, p0, p1);
}

static gr_status max_run(const gr_kernel *k, int mode) {
    max_job J = {.k = k, .c = geom_of(k->n, &k->g->nodes[k->n->in[0]].shape), .mode = mode};
    int64_t plane = J.c.h * J.c.w > 0 ? J.c.h * J.c.w : 1; /* elements of x per plane */
    gr_parallel_for(J.c.planes, (GR_PAR_GRAIN + plane - 1) / plane, max_part, &J);
    return GR_OK;
}
static gr_status max_forward(const gr_kernel *k, gr_error *err) { (void)err; return max_run(k, 0); }
static gr_status max_backward_forward(const gr_kernel *k, gr_error *err) { (void)err; return max_run(k, 1); }
static gr_status max_select_forward(const gr_kernel *k, gr_error *err) { (void)err; return max_run(k, 2); }
static gr_status max_indices_forward(const gr_kernel *k, gr_error *err) { (void)err; return max_run(k, 3); }

/* ---- average pooling ------------------------------------------------------- */

/* Each window of PyTorch's avg_pool2d: the rows [*h0, *h1) and columns
 * [*w0, *w1) inside the input, and the divisor (the window clipped to the
 * padded input with count_include_pad, else the elements inside). */
static double avg_window(const pool_geom *c, int64_t oy, int64_t ox, int64_t *h0, int64_t *h1, int64_t *w0,
                         int64_t *w1) {
    int64_t hs = oy * c->sh - c->ph, ws = ox * c->sw - c->pw;
    int64_t he = hs + c->kh < c->h + c->ph ? hs + c->kh : c->h + c->ph;
    int64_t we = ws + c->kw < c->w + c->pw ? ws + c->kw : c->w + c->pw;
    int64_t padded = (he - hs) * (we - ws);
    *h0 = hs < 0 ? 0 : hs;
    *w0 = ws < 0 ? 0 : ws;
    *h1 = he < c->h ? he : c->h;
    *w1 = we < c->w ? we : c->w;
    int64_t inside = (*h1 - *h0) * (*w1 - *w0);
    return (double)(c->count_include_pad ? padded : inside);
}

/* mode 0: out (pooled) = window sums of in / divisor; mode 1: out
 * (x-shaped) = the adjoint, each in element spread over its window. */
#define AVG_KERNEL(T)                                                                                                 \
    static void avg_run_##T(const gr_kernel *k, const pool_geom *c, int mode) {                                      \
        const T *in = k->in[0];                                                                                       \
        T *out = k->out;                                                                                              \
        int64_t in_plane = c->h * c->w, out_plane = c->oh * c->ow;                                                    \
        if (mode == 1) memset(out, 0, (size_t)(c->planes * in_plane) * sizeof(T));                                    \
        for (int64_t pl = 0; pl < c->planes; pl++) {                                                                  \
            if (((pl & 63) == 0 || in_plane > POOL_LOOK_ELEMS) && gr_cancelled(k->cancel)) return;                    \
            for (int64_t oy = 0; oy < c->oh; oy++)                                                                    \
                for (int64_t ox = 0; ox < c->ow; ox++) {                                                              \
                    int64_t h0, h1, w0, w1, o = pl * out_plane + oy * c->ow + ox;                                     \
                    double div = avg_window(c, oy, ox, &h0, &h1, &w0, &w1);                                           \
                    if (h0 >= h1 || w0 >= w1) {                                                                       \
                        if (mode == 0) out[o] = 0;                                                                    \
                        continue;                                                                                     \
                    }                                                                                                 \
                    if (mode == 0) {                                                                                  \
                        T s = 0;                                                                                      \
                        for (int64_t i = h0; i < h1; i++)                                                             \
                            for (int64_t j = w0; j < w1; j++) s += in[pl * in_plane + i * c->w + j];                  \
                        out[o] = s / (T)div;                                                                          \
                    } else {                                                                                          \
                        T v = in[o] / (T)div;                                                                         \
                        for (int64_t i = h0; i < h1; i++)                                                             \
                            for (int64_t j = w0; j < w1; j++) out[pl * in_plane + i * c->w + j] += v;                 \
                    }                                                                                                 \
                }                                                                                                     \
        }                                                                                                             \
    }
AVG_KERNEL(float)
AVG_KERNEL(double)

static gr_status avg_run(const gr_kernel *k, const gr_shape *x, int mode) {
    pool_geom c = geom_of(k->n, x);
    if (k->dt == GR_F32) avg_run_float(k, &c, mode);
    else avg_run_double(k, &c, mode);
    return GR_OK;
}
static gr_status avg_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    return avg_run(k, &k->g->nodes[k->n->in[0]].shape, 0);
}
static gr_status avg_backward_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    return avg_run(k, &k->n->shape, 1);
}

/* ---- derivative rules --------------------------------------------------- */

extern const gr_op gr_op_max_pool2d, gr_op_max_pool2d_backward, gr_op_max_pool2d_select, gr_op_avg_pool2d,
    gr_op_avg_pool2d_backward;

/* The window attributes of n (everything but shape). */
static gr_attrs pool_attrs(const gr_node *n) {
    gr_attrs a = *n->attrs;
    a.set &= ~A(GR_ATTR_SHAPE);
    return a;
}

/* y = max_pool2d(x): dx = max_pool2d_backward(x, g); ty = max_pool2d_select(x, tx). */
static void max_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_attrs a = pool_attrs(&g->nodes[id]);
    grads[0] = gr_build_apply(g, &gr_op_max_pool2d_backward, g->nodes[id].in[0], grad, -1, &a);
}
static int max_jvp(gr_graph *g, int id, const int *t) {
    gr_attrs a = pool_attrs(&g->nodes[id]);
    return gr_build_apply(g, &gr_op_max_pool2d_select, g->nodes[id].in[0], t[0], -1, &a);
}

/* backward(x, g) and select(x, h) are linear in operand 1 and adjoint to
 * each other; x gets no gradient (it only picks positions). */
static void max_backward_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    gr_attrs a = pool_attrs(&g->nodes[id]);
    if (need[1]) grads[1] = gr_build_apply(g, &gr_op_max_pool2d_select, g->nodes[id].in[0], grad, -1, &a);
}
static void max_select_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    gr_attrs a = pool_attrs(&g->nodes[id]);
    if (need[1]) grads[1] = gr_build_apply(g, &gr_op_max_pool2d_backward, g->nodes[id].in[0], grad, -1, &a);
}
static int max_pair_jvp(gr_graph *g, int id, const int *t) {
    if (t[1] < 0) return -1;
    gr_attrs a = *g->nodes[id].attrs;
    return gr_build_apply(g, g->nodes[id].op, g->nodes[id].in[0], t[1], -1, &a);
}

/* y = avg_pool2d(x): dx = avg_pool2d_backward(g) (shape = x's); linear. */
static void avg_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_attrs a = pool_attrs(&g->nodes[id]);
    a.set |= A(GR_ATTR_SHAPE);
    a.shape = *gr_shape_of(g, g->nodes[id].in[0]);
    grads[0] = gr_build_apply(g, &gr_op_avg_pool2d_backward, grad, -1, -1, &a);
}
static void avg_backward_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_attrs a = pool_attrs(&g->nodes[id]);
    grads[0] = gr_build_apply(g, &gr_op_avg_pool2d, grad, -1, -1, &a);
}
static int same_op_jvp(gr_graph *g, int id, const int *t) {
    gr_attrs a = *g->nodes[id].attrs;
    return gr_build_apply(g, g->nodes[id].op, t[0], -1, -1, &a);
}

/* kh * kw reads per output element. */
static int64_t pool_flops(const gr_graph *g, const gr_node *n) {
    const gr_node *x = &g->nodes[n->in[0]];
    pool_geom c = geom_of(n, n->op == &gr_op_avg_pool2d_backward ? &n->shape : &x->shape);
    int64_t f;
    return gr_mul_ok(c.planes * c.oh * c.ow, c.kh * c.kw, &f) ? f : INT64_MAX;
}

/* ---- the entries -------------------------------------------------------- */

#define MAX_ATTRS                                                                                                     \
    (A(GR_ATTR_KERNEL_SIZE) | A(GR_ATTR_STRIDE) | A(GR_ATTR_PADDING) | A(GR_ATTR_DILATION) | A(GR_ATTR_CEIL_MODE))
#define AVG_ATTRS                                                                                                     \
    (A(GR_ATTR_KERNEL_SIZE) | A(GR_ATTR_STRIDE) | A(GR_ATTR_PADDING) | A(GR_ATTR_CEIL_MODE) |                        \
     A(GR_ATTR_COUNT_INCLUDE_PAD))

const gr_op gr_op_max_pool2d = {
    .name = "max_pool2d", .arity = 1, .attrs = MAX_ATTRS, .required = A(GR_ATTR_KERNEL_SIZE),
    .doc = "y[..., i, j] = the maximum of x over the window kernel_size at (i * stride - padding, j * stride - "
           "padding) with dilation, over the last two dims of [N, C, H, W] or [C, H, W], as PyTorch's max_pool2d "
           "(padding counts as -inf and at most half the window; stride defaults to kernel_size; ceil_mode as "
           "PyTorch); dx = g added at each window's argmax (max_pool2d_backward), the tangent is tx read there "
           "(max_pool2d_select); ties: the first maximum in row-major window order gets the gradient (PyTorch's "
           "CPU kernel), NaN wins (the last NaN of a window), an all -inf window picks its first element; a window "
           "with no element inside the input (dilation wider than input plus padding) is -inf with no gradient "
           "(PyTorch's CPU kernel sends that gradient to an element outside the window: not followed)",
    .infer = pool_infer, .forward = max_forward, .vjp = max_vjp, .jvp = max_jvp, .flops = pool_flops,
};
const gr_op gr_op_max_pool2d_backward = {
    .name = "max_pool2d_backward", .arity = 2, .nondiff = 1, .attrs = MAX_ATTRS, .required = A(GR_ATTR_KERNEL_SIZE),
    .flags = GR_OPF_INTERNAL,
    .doc = "out (x's shape) = 0 plus g[..., i, j] added at the argmax of window (i, j) of x (max_pool2d's rule, "
           "ties to the first maximum); linear in g: dg = max_pool2d_select(x, G); x only picks positions (no "
           "gradient)",
    .infer = max_backward_infer, .forward = max_backward_forward, .vjp = max_backward_vjp, .jvp = max_pair_jvp,
    .flops = pool_flops,
};
const gr_op gr_op_max_pool2d_select = {
    .name = "max_pool2d_select", .arity = 2, .nondiff = 1, .attrs = MAX_ATTRS, .required = A(GR_ATTR_KERNEL_SIZE),
    .flags = GR_OPF_INTERNAL,
    .doc = "y (pooled shape)[..., i, j] = h at the argmax of window (i, j) of x (max_pool2d's rule, ties to the "
           "first maximum); linear in h: dh = max_pool2d_backward(x, G); x only picks positions (no gradient)",
    .infer = max_select_infer, .forward = max_select_forward, .vjp = max_select_vjp, .jvp = max_pair_jvp,
    .flops = pool_flops,
};
const gr_op gr_op_max_pool2d_indices = {
    .name = "max_pool2d_indices", .arity = 1, .nondiff = 1, .attrs = MAX_ATTRS, .required = A(GR_ATTR_KERNEL_SIZE),
    .doc = "y (max_pool2d's shape)[..., i, j] = the index h * W + w, in its [H, W] plane of x, of window (i, j)'s "
           "maximum, as the indices of PyTorch's max_pool2d(..., return_indices=True): max_pool2d's rule (the "
           "first maximum in row-major window order, the last NaN, an all -inf window's first element inside the "
           "input); -1 for a window with nothing inside the input (PyTorch's CPU kernel gives an index outside "
           "the window: not followed); no gradient",
    .infer = pool_infer, .forward = max_indices_forward, .flops = pool_flops,
};
const gr_op gr_op_avg_pool2d = {
    .name = "avg_pool2d", .arity = 1, .attrs = AVG_ATTRS, .required = A(GR_ATTR_KERNEL_SIZE),
    .doc = "y[..., i, j] = the sum of x over the window kernel_size at (i * stride - padding, j * stride - padding) "
           "divided by the window's size clipped to the padded input (count_include_pad, the default) or by the "
           "input elements it covers, as PyTorch's avg_pool2d (zero padding at most half the window; stride "
           "defaults to kernel_size; ceil_mode as PyTorch); linear: dx = avg_pool2d_backward(g), each g spread "
           "evenly over its window",
    .infer = pool_infer, .forward = avg_forward, .vjp = avg_vjp, .jvp = same_op_jvp, .flops = pool_flops,
};
const gr_op gr_op_avg_pool2d_backward = {
    .name = "avg_pool2d_backward", .arity = 1, .attrs = AVG_ATTRS | A(GR_ATTR_SHAPE),
    .required = A(GR_ATTR_KERNEL_SIZE) | A(GR_ATTR_SHAPE), .flags = GR_OPF_INTERNAL,
    .doc = "the adjoint of avg_pool2d for an input of the shape attribute: out = 0 plus g[..., i, j] / divisor "
           "added over window (i, j); linear: dg = avg_pool2d(G)",
    .infer = avg_backward_infer, .forward = avg_backward_forward, .vjp = avg_backward_vjp, .jvp = same_op_jvp,
    .flops = pool_flops,
};

const gr_op *const gr_ops_pool[] = {&gr_op_max_pool2d,  &gr_op_max_pool2d_backward, &gr_op_max_pool2d_select,
                                    &gr_op_max_pool2d_indices, &gr_op_avg_pool2d, &gr_op_avg_pool2d_backward,
                                    NULL};
