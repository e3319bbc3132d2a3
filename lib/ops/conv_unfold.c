/* conv_unfold.c -- the convolutions' data movement (conv.h): which kernel
 * taps read only padding and the weight without them, and im2col, col2im
 * and the channel-major copy of y that the GEMMs of conv.c work on. */
#include "conv.h"

#include <string.h>

/* ---- trimmed taps ----------------------------------------------------- */

/* The taps [*t0, *t1) of a kernel axis of k taps that read an input element
 * for at least one of the out outputs (input length len, stride s, padding
 * p, dilation d); the others read only padding. They are contiguous: the
 * window slides monotonically with the tap. */
static void taps_used(int64_t len, int64_t out, int64_t k, int64_t s, int64_t p, int64_t d, int64_t *t0,
                      int64_t *t1) {
    *t0 = *t1 = 0;
    for (int64_t t = 0; t < k; t++) {
        int64_t off = t * d - p, o = off >= 0 ? 0 : (-off + s - 1) / s; /* first output with input >= 0 */
        if (o < out && o * s + off < len) {
            if (*t1 == 0) *t0 = t;
            *t1 = t + 1;
        }
    }
    if (*t1 == 0) *t0 = 0;
}

/* The kernels' geometry: c with the taps that read only padding dropped, a
 * convolution with the kernel w[:, :, i0:i0+kh, j0:j0+kw] and the padding
 * shifted by as much. On small maps this is most of the work: resnet18's
 * last stage on 32x32 images is 1x1, where a 3x3 kernel with padding 1 has
 * one tap of nine that reads x. A dropped tap adds padding zeros times w
 * to y (and times y to dw), which is 0 unless that factor is inf or NaN:
 * PyTorch's float64 convolution then gives NaN, so conv and conv_weight
 * keep every tap when it is (conv_transpose's dropped taps land only in the
 * padding, never in its result). */
conv_geom gr_conv_trim_taps(conv_geom c) {
    int64_t i1, j1;
    taps_used(c.h, c.oh, c.fkh, c.sh, c.ph, c.dh, &c.i0, &i1);
    taps_used(c.w, c.ow, c.fkw, c.sw, c.pw, c.dw, &c.j0, &j1);
    c.kh = i1 - c.i0;
    c.kw = j1 - c.j0;
    c.ph -= c.i0 * c.dh;
    c.pw -= c.j0 * c.dw;
    c.kg = c.cig * c.kh * c.kw;
    return c;
}

/* 1 when every element of a (n of them) is finite: no exponent of all
 * ones, tested on the bits so that the loop vectorizes. */
int gr_conv_all_finite(gr_dtype dt, const void *a, int64_t n) {
    unsigned bad = 0;
    if (dt == GR_F32) {
        const uint32_t *u = a;
        for (int64_t i = 0; i < n; i++) bad |= (u[i] & 0x7f800000u) == 0x7f800000u;
    } else {
        const uint64_t *u = a;
        for (int64_t i = 0; i < n; i++) bad |= (u[i] & 0x7ff0000000000000u) == 0x7ff0000000000000u;
    }
    return !bad;
}

/* Filters ([fkh, fkw] taps each) per block of trim_weight: a block's
 * weights stay in the L1 cache between its two passes, so the weight is
 * read (or written) from memory once. */
#define TRIM_BLOCK 256

/* Between the weight w [cout, cig, fkh, fkw] and its trimmed taps t
 * [cout, cig, kh, kw]: to_trimmed copies w's taps into t, and returns 0
 * when check is set and w holds an inf or NaN (t is then unusable), else
 * 1; otherwise t goes into w's taps and zeros into the others. */
#define TRIM_WEIGHT(T)                                                                                                \
    static int trim_weight_##T(const conv_geom *c, T *w, T *t, int to_trimmed, int check) {                           \
        int64_t taps = c->fkh * c->fkw, kept = c->kh * c->kw, filters = c->cout * c->cig;                             \
        for (int64_t f0 = 0; f0 < filters; f0 += TRIM_BLOCK) {                                                        \
            int64_t f1 = filters - f0 < TRIM_BLOCK ? filters : f0 + TRIM_BLOCK;                                       \
            T *wb = w + f0 * taps;                                                                                    \
            if (to_trimmed && check && !gr_conv_all_finite(sizeof(T) == 4 ? GR_F32 : GR_F64, wb, (f1 - f0) * taps))   \
                return 0;                                                                                             \
            if (!to_trimmed) memset(wb, 0, (size_t)((f1 - f0) * taps) * sizeof(T));                                  \
            for (int64_t f = f0; f < f1; f++) {                                                                       \
                T *wf = w + f * taps + c->i0 * c->fkw + c->j0, *tf = t + f * kept;                                    \
                for (int64_t i = 0; i < c->kh; i++)                                                                   \
                    for (int64_t j = 0; j < c->kw; j++) {                                                             \
                        if (to_trimmed) tf[i * c->kw + j] = wf[i * c->fkw + j];                                       \
                        else wf[i * c->fkw + j] = tf[i * c->kw + j];                                                  \
                    }                                                                                                 \
            }                                                                                                         \
        }                                                                                                             \
        return 1;                                                                                                     \
    }
TRIM_WEIGHT(float)
TRIM_WEIGHT(double)

/* Each direction called with constant flags, so the compiler builds a
 * loop for each without the flags' branches (the weights of resnet18's
 * last stage are 9.4 MB: a general loop cost it about 2 ms a step). */
int gr_conv_trim_weight(const conv_geom *c, gr_dtype dt, void *w, void *t, int to_trimmed, int check) {
    if (dt == GR_F32)
        return !to_trimmed ? trim_weight_float(c, w, t, 0, 0)
                           : check ? trim_weight_float(c, w, t, 1, 1) : trim_weight_float(c, w, t, 1, 0);
    return !to_trimmed ? trim_weight_double(c, w, t, 0, 0)
                       : check ? trim_weight_double(c, w, t, 1, 1) : trim_weight_double(c, w, t, 1, 0);
}

/* ---- im2col and col2im ------------------------------------------------ */

/* Columns ow in [*lo, *hi) of one output row read input column
 * ow * sw + iw0 inside [0, w); the others read padding. */
static void valid_cols(const conv_geom *c, int64_t iw0, int64_t *lo, int64_t *hi) {
    int64_t l = iw0 >= 0 ? 0 : (-iw0 + c->sw - 1) / c->sw;
    int64_t h = c->w - iw0 <= 0 ? 0 : (c->w - iw0 + c->sw - 1) / c->sw;
    if (h > c->ow) h = c->ow;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* 1 when output rows are input rows shifted (stride 1, as wide as the
 * input: "same" padding): a tap's column row is then the input plane
 * shifted by a constant, copied in one piece. */
static int same_rows(const conv_geom *c) { return c->sh == 1 && c->sw == 1 && c->ow == c->w; }

/* The column row r (oh * ow entries) of tap (i, j) for one image plane when
 * same_rows(c): output rows whose input row lies inside are one shifted copy
 * of the plane, then their columns outside [lo, hi) (which read the
 * neighbouring rows) and the rows outside become zeros. */
#define SHIFTED_PLANE(T, c, plane, r, i, iw0, lo, hi)                                                                 \
    do {                                                                                                              \
        int64_t r_lo = (c)->ph - (i) * (c)->dh, r_hi = (c)->h + (c)->ph - (i) * (c)->dh;                              \
        r_lo = r_lo < 0 ? 0 : r_lo > (c)->oh ? (c)->oh : r_lo;                                                        \
        r_hi = r_hi > (c)->oh ? (c)->oh : r_hi < r_lo ? r_lo : r_hi;                                                  \
        int64_t shift = ((i) * (c)->dh - (c)->ph) * (c)->w + (iw0);                                                   \
        memset((r), 0, (size_t)(r_lo * (c)->ow) * sizeof(T));                                                        \
        if (r_lo < r_hi && (lo) < (hi)) {                                                                             \
            int64_t first = r_lo * (c)->ow + (lo), end = (r_hi - 1) * (c)->ow + (hi);                                 \
            memcpy((r) + first, (plane) + first + shift, (size_t)(end - first) * sizeof(T));                          \
        }                                                                                                             \
        for (int64_t oh = r_lo; oh < r_hi; oh++) {                                                                    \
            T *rr = (r) + oh * (c)->ow;                                                                               \
            for (int64_t o = 0; o < (lo); o++) rr[o] = 0;                                                             \
            for (int64_t o = (hi) < (lo) ? (lo) : (hi); o < (c)->ow; o++) rr[o] = 0;                                  \
        }                                                                                                             \
        memset((r) + r_hi * (c)->ow, 0, (size_t)(((c)->oh - r_hi) * (c)->ow) * sizeof(T));                            \
    } while (0)

/* im2col: col[(ci * kh + i) * kw + j][b * p + oh * ow + o] = x[n0 + b, group * cig + ci,
 * oh * sh - ph + i * dh, o * sw - pw + j * dw], 0 in the padding, for b < nb.
 * col2im: the adjoint, x[...] += col[...] over the same index map. */
#define UNFOLD(T)                                                                                                     \
    static void im2col_##T(const conv_geom *c, const T *x, int64_t n0, int64_t nb, int64_t group, T *col) {          \
        int64_t len = nb * c->p;                                                                                      \
        for (int64_t ci = 0; ci < c->cig; ci++)                                                                       \
            for (int64_t i = 0; i < c->kh; i++)                                                                       \
                for (int64_t j = 0; j < c->kw; j++) {                                                                 \
                    T *row = col + ((ci * c->kh + i) * c->kw + j) * len;                                              \
                    int64_t iw0 = j * c->dw - c->pw, lo, hi;                                                          \
                    valid_cols(c, iw0, &lo, &hi);                                                                     \
                    for (int64_t b = 0; b < nb; b++) {                                                                \
                        const T *plane = x + ((n0 + b) * c->cin + group * c->cig + ci) * c->h * c->w;                 \
                        if (same_rows(c)) {                                                                           \
                            SHIFTED_PLANE(T, c, plane, row + b * c->p, i, iw0, lo, hi);                               \
                            continue;                                                                                 \
                        }                                                                                             \
                        for (int64_t oh = 0; oh < c->oh; oh++) {                                                      \
                            T *r = row + b * c->p + oh * c->ow;                                                       \
                            int64_t ih = oh * c->sh - c->ph + i * c->dh;                                              \
                            if (ih < 0 || ih >= c->h) {                                                               \
                                memset(r, 0, (size_t)c->ow * sizeof(T));                                              \
                                continue;                                                                             \
                            }                                                                                         \
                            const T *in = plane + ih * c->w;                                                          \
                            for (int64_t o = 0; o < lo; o++) r[o] = 0;                                                \
                            if (c->sw == 1) memcpy(r + lo, in + iw0 + lo, (size_t)(hi - lo) * sizeof(T));             \
                            else                                                                                      \
                                for (int64_t o = lo; o < hi; o++) r[o] = in[o * c->sw + iw0];                         \
                            for (int64_t o = hi; o < c->ow; o++) r[o] = 0;                                            \
                        }                                                                                             \
                    }                                                                                                 \
                }                                                                                                     \
    }                                                                                                                 \
    static void col2im_##T(const conv_geom *c, const T *col, int64_t n0, int64_t nb, int64_t group, T *x) {          \
        int64_t len = nb * c->p;                                                                                      \
        for (int64_t ci = 0; ci < c->cig; ci++)                                                                       \
            for (int64_t i = 0; i < c->kh; i++)                                                                       \
                for (int64_t j = 0; j < c->kw; j++) {                                                                 \
                    const T *row = col + ((ci * c->kh + i) * c->kw + j) * len;                                        \
                    int64_t iw0 = j * c->dw - c->pw, lo, hi;                                                          \
                    valid_cols(c, iw0, &lo, &hi);                                                                     \
                    for (int64_t b = 0; b < nb; b++) {                                                                \
                        T *plane = x + ((n0 + b) * c->cin + group * c->cig + ci) * c->h * c->w;                       \
                        for (int64_t oh = 0; oh < c->oh; oh++) {                                                      \
                            int64_t ih = oh * c->sh - c->ph + i * c->dh;                                              \
                            if (ih < 0 || ih >= c->h) continue;                                                       \
                            const T *r = row + b * c->p + oh * c->ow;                                                 \
                            T *out = plane + ih * c->w;                                                               \
                            if (c->sw == 1)                                                                           \
                                for (int64_t o = lo; o < hi; o++) out[o + iw0] += r[o];                               \
                            else                                                                                      \
                                for (int64_t o = lo; o < hi; o++) out[o * c->sw + iw0] += r[o];                       \
                        }                                                                                             \
                    }                                                                                                 \
                }                                                                                                     \
    }
UNFOLD(float)
UNFOLD(double)

void gr_conv_im2col(gr_dtype dt, const conv_geom *c, const void *x, int64_t n0, int64_t nb, int64_t group,
                    void *col) {
    if (dt == GR_F32) im2col_float(c, x, n0, nb, group, col);
    else im2col_double(c, x, n0, nb, group, col);
}

void gr_conv_col2im(gr_dtype dt, const conv_geom *c, const void *col, int64_t n0, int64_t nb, int64_t group,
                    void *x) {
    if (dt == GR_F32) col2im_float(c, col, n0, nb, group, x);
    else col2im_double(c, col, n0, nb, group, x);
}

/* Between y [N, Cout, p] and the channel-major chunk ym [cog, nb * p] of one
 * group: to_chunk copies y into ym, else ym into y. */
void gr_conv_y_chunk(const conv_geom *c, size_t esz, int64_t n0, int64_t nb, int64_t group, char *y, char *ym,
                     int to_chunk) {
    size_t row = (size_t)c->p * esz;
    for (int64_t o = 0; o < c->cog; o++)
        for (int64_t b = 0; b < nb; b++) {
            char *py = y + (size_t)((n0 + b) * c->cout + group * c->cog + o) * row;
            char *pm = ym + (size_t)(o * nb + b) * row;
            if (to_chunk) memcpy(pm, py, row);
            else memcpy(py, pm, row);
        }
}
