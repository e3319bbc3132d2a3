/* conv_winograd.c -- a stride-1 3x3 convolution in float32 by Winograd's
 * minimal filtering F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for
 * Convolutional Neural Networks", 2016). y is cut into 2x2 tiles, each
 * computed from a 4x4 tile d of the input; in the transformed domain a
 * tile costs 16 products per pair of channels instead of 36:
 *
 *   U = G g G^T   each 3x3 filter g as 4x4          G   = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
 *   V = B^T d B   each 4x4 input tile as 4x4        B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   M[xi] = U[xi] V[xi]  one GEMM [b, a] x [a, tiles] for each of the 16 positions xi
 *   y tile = A^T M A     4x4 back to 2x2             A^T = [1 1 1 0; 0 1 -1 -1]
 *
 * conv2d runs its forward pass this way, conv_transpose2d (a conv2d's
 * input gradient) as the convolution of y with the flipped, transposed
 * weight, and conv_weight (its weight gradient) by the adjoints of the
 * same transforms: dU = the sum over tiles of (A dy A^T)(B^T d B) per
 * position, dw = G^T dU G. All keep the im2col path of conv.c for
 * everything else: float64
 * (its products stay those of the direct sum), other kernels, strides,
 * dilations and groups, few channels (the GEMMs would be too thin), and
 * values for which the transforms' sums could differ from the direct
 * ones: an inf or NaN (d1 - d1 is NaN where the direct sum has inf) or
 * magnitudes that could overflow on the way.
 *
 * The tiles are cut in chunks of whole images; each thread takes chunks,
 * with its own slot of the workspace: V [16, a, T], M [16, b, T] and the
 * planes the transforms go through. U [16, b, a] comes first, shared. */
#include "conv.h"
#include "../vmath.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

/* Tiles per chunk: V and M of a chunk then stay in the L2 cache between
 * the transforms and the GEMMs. cnn-step's second layer (16 -> 32
 * channels, 14x14) took 1.15 ms forward and 1.24 ms transposed with 112
 * or 196 tiles, 1.31 and 1.35 ms with 392, 1.47 and 1.54 ms with 768. */
#define WINO_TILES 160

/* Fewest channels on either side: below it the GEMMs are too thin to gain
 * from the transforms (cnn-step's first layer, 1 channel in, stays on
 * im2col). */
#define WINO_MIN_CHANNELS 8

/* Fewest tiles in a row of y: each row carries one tile more through the
 * GEMMs (so that the transforms run over whole planes), which at 2 a row
 * costs more than the transforms save (resnet18's 4x4 maps, 128
 * channels: 1.0 ms a convolution against 0.55 ms by im2col). */
#define WINO_MIN_TILE_COLS 3

/* Tiles per image in V and M: th rows of tw + 1. */
static int64_t tiles_per_image(const gr_wino *p) { return p->th * (p->tw + 1); }

static int64_t chunk_images_of(const gr_wino *p) {
    int64_t per = tiles_per_image(p), nb = per > 0 ? WINO_TILES / per : p->n;
    if (nb < 1) nb = 1;
    return nb > p->n ? p->n : nb;
}

/* Floats of the padded plane by parity (pe, po), each [th + 1, 2 tp] and
 * 4 more that the last tile's loads reach. */
static int64_t half_plane_elems(const gr_wino *p) { return (p->th + 1) * 2 * (p->tw + 1) + 4; }

/* The scratch of the transforms: the padded plane (two halves), its row
 * transform [4, 2, th + 1, tp], and the output's rows [2, th, 2 tp]. */
static int64_t plane_elems(const gr_wino *p) {
    return 2 * half_plane_elems(p) + 8 * (p->th + 1) * (p->tw + 1) + 4 * tiles_per_image(p);
}

/* The distance between two positions' [rows, T] matrices in V, M or Z:
 * one cache line more than the matrix, so that the transforms' 16
 * streams, one per position, fall in different sets of the L1 cache
 * (cnn-step's M, 32 x 112 floats a position, is 14336 bytes: half the
 * streams would share each set). */
static int64_t pos_stride(int64_t rows, int64_t T) { return rows * T + 16; }

/* A thread's slot: V [16, a, T], M (or the gradient's Z) [16, b, T] (each
 * position pos_stride apart) and the planes' scratch. */
static int64_t slot_elems(const gr_wino *p) {
    int64_t T = chunk_images_of(p) * tiles_per_image(p);
    return 16 * (pos_stride(p->a, T) + pos_stride(p->b, T)) + plane_elems(p);
}

static int64_t chunks_of(const gr_wino *p) { return (p->n + chunk_images_of(p) - 1) / chunk_images_of(p); }

/* The weight gradient's groups of chunks, each summed into a partial dU
 * [16, a, b] of its own (gr_parallel_groups). */
static int64_t weight_groups(const gr_wino *p, int64_t slots) {
    return gr_parallel_groups(chunks_of(p), slots, 16 * p->a * p->b * (int64_t)sizeof(float));
}

int gr_conv_winograd_plan(const conv_geom *c, gr_dtype dt, int transpose, gr_wino *p) {
    if (dt != GR_F32 || c->groups != 1 || c->fkh != 3 || c->fkw != 3 || gr_conv_trimmed(c)) return 0;
    if (c->sh != 1 || c->sw != 1 || c->dh != 1 || c->dw != 1) return 0;
    if (c->cin < WINO_MIN_CHANNELS || c->cout < WINO_MIN_CHANNELS || c->n == 0 || c->p == 0) return 0;
    gr_wino q = {.n = c->n, .transpose = transpose};
    if (!transpose) {
        q.a = c->cin, q.b = c->cout, q.h = c->h, q.w = c->w, q.oh = c->oh, q.ow = c->ow;
        q.ph = c->ph, q.pw = c->pw;
    } else {
        /* x = conv_transpose(y, w) is conv(y, w flipped and transposed)
         * with padding 2 - p, when that is no negative and gives x's size
         * (no output_padding: stride 1 allows none). */
        q.a = c->cout, q.b = c->cin, q.h = c->oh, q.w = c->ow, q.oh = c->h, q.ow = c->w;
        q.ph = 2 - c->ph, q.pw = 2 - c->pw;
        if (q.ph < 0 || q.pw < 0 || q.oh != q.h + 2 * q.ph - 2 || q.ow != q.w + 2 * q.pw - 2) return 0;
    }
    if (q.ph > 2 || q.pw > 2) return 0;
    q.th = (q.oh + 1) / 2;
    q.tw = (q.ow + 1) / 2;
    if (q.tw < WINO_MIN_TILE_COLS) return 0;
    *p = q;
    return 1;
}

/* The workspace: U (or the first group's dU, then the sum) [16, a, b],
 * the slots, then (the weight gradient's) other groups' partials. */
int64_t gr_conv_winograd_workspace(const gr_wino *p, int64_t slots, int weight) {
    if (slots > chunks_of(p)) slots = chunks_of(p);
    if (slots < 1) slots = 1;
    return 16 * p->a * p->b + slots * slot_elems(p) + (weight ? (weight_groups(p, slots) - 1) * 16 * p->a * p->b : 0);
}

/* The largest |v| of n floats as bits without the sign, whose integer
 * order is the magnitudes' order (a loop that vectorizes; a float max
 * would not without -ffast-math); >= 0x7f800000 when one is inf or NaN. */
GR_ROW_CLONES static uint32_t max_abs_bits(const uint32_t *u, int64_t n) {
    uint32_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t b = u[i] & 0x7fffffffu;
        m = b > m ? b : m;
    }
    return m;
}

typedef struct max_abs_job {
    const uint32_t *u;
    _Atomic uint32_t most; /* the parts' largest */
} max_abs_job;

static void max_abs_part(void *ctx, int64_t i0, int64_t i1) {
    max_abs_job *J = ctx;
    uint32_t m = max_abs_bits(J->u + i0, i1 - i0), seen = atomic_load_explicit(&J->most, memory_order_relaxed);
    while (m > seen && !atomic_compare_exchange_weak_explicit(&J->most, &seen, m, memory_order_relaxed,
                                                              memory_order_relaxed)) {
    }
}

/* The largest |v| of n floats, or inf when one is inf or NaN. The scan is
 * shared by the threads (a layer's input and output gradient, 1.6 MB in
 * cnn-step, were read on one core while the other waited), each taking
 * the slab of the planes its kernels wrote. */
static float max_abs(const void *v, int64_t n) {
    max_abs_job J = {.u = v};
    atomic_init(&J.most, 0);
    gr_parallel_for(n, GR_PAR_GRAIN, max_abs_part, &J);
    uint32_t m = atomic_load_explicit(&J.most, memory_order_relaxed);
    if (m >= 0x7f800000u) return INFINITY;
    float f;
    memcpy(&f, &m, sizeof f);
    return f;
}

/* 1 when the transforms' sums stay finite wherever the direct sums do:
 * both factors finite, and terms times the product of their largest
 * magnitudes (a bound on every intermediate) within float32's range. */
static int values_fit(const float *x, int64_t nx, const float *w, int64_t nw, double terms) {
    double mx = max_abs(x, nx), mw = max_abs(w, nw);
    return isfinite(mx) && isfinite(mw) && mx * mw * terms < FLT_MAX / 2;
}

/* U [16, b, a] from the weight: conv's w [b, a, 3, 3]; conv_transpose's
 * w [a, b, 3, 3], each filter flipped in both axes. */
static void transform_weight(const gr_wino *p, const float *w, float *u) {
    int64_t ab = p->a * p->b;
    for (int64_t o = 0; o < p->b; o++)
        for (int64_t i = 0; i < p->a; i++) {
            const float *f = p->transpose ? w + (i * p->b + o) * 9 : w + (o * p->a + i) * 9;
            float g[3][3], t[4][3];
            for (int r = 0; r < 3; r++)
                for (int s = 0; s < 3; s++) g[r][s] = p->transpose ? f[(2 - r) * 3 + (2 - s)] : f[r * 3 + s];
            for (int s = 0; s < 3; s++) { /* G g */
                t[0][s] = g[0][s];
                t[1][s] = 0.5f * (g[0][s] + g[1][s] + g[2][s]);
                t[2][s] = 0.5f * (g[0][s] - g[1][s] + g[2][s]);
                t[3][s] = g[2][s];
            }
            for (int r = 0; r < 4; r++) { /* (G g) G^T */
                float *ur = u + (int64_t)(4 * r) * ab + o * p->a + i;
                ur[0] = t[r][0];
                ur[ab] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
                ur[2 * ab] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
                ur[3 * ab] = t[r][2];
            }
        }
}

/* The padded input plane, by row parity: row R of the padding's frame
 * (x's row R - ph) is row R / 2 of pe (R even) or po, each row 2 tp long
 * with x's row at column pw; zeros elsewhere, written once per part. */
static void pad_plane(const gr_wino *p, const float *x, float *pe, float *po) {
    int64_t S = 2 * (p->tw + 1);
    for (int64_t r = 0; r < p->h; r++) {
        int64_t R = r + p->ph;
        memcpy((R & 1 ? po : pe) + (R >> 1) * S + p->pw, x + r * p->w, (size_t)p->w * sizeof *pe);
    }
}

/* One plane's V (tile (ty, tx) of position (r, c) at v[(4 r + c) ldv +
 * ty tp + tx], tp = tw + 1: each tile row has one tile more, which the
 * GEMMs carry and the output drops, so every loop runs over a whole plane):
 * d B along the rows of each parity into hb [4, 2, th + 1, tp], then B^T
 * along the columns (rows 2 ty .. 2 ty + 3 of a tile are rows ty and
 * ty + 1 of each parity). */
GR_ROW_CLONES static void transform_input(const gr_wino *p, const float *restrict pe, const float *restrict po,
                                          float *restrict hb, float *restrict v, int64_t ldv) {
    int64_t tp = p->tw + 1, hs = (p->th + 1) * tp, per = p->th * tp;
    for (int par = 0; par < 2; par++) {
        const float *restrict d = par ? po : pe;
        float *restrict h0 = hb + par * hs, *restrict h1 = h0 + 2 * hs, *restrict h2 = h1 + 2 * hs,
                        *restrict h3 = h2 + 2 * hs;
        for (int64_t u = 0; u < hs; u++) {
            float d0 = d[2 * u], d1 = d[2 * u + 1], d2 = d[2 * u + 2], d3 = d[2 * u + 3];
            h0[u] = d0 - d2;
            h1[u] = d1 + d2;
            h2[u] = d2 - d1;
            h3[u] = d1 - d3;
        }
    }
    for (int c = 0; c < 4; c++) {
        const float *restrict he = hb + 2 * c * hs, *restrict ho = he + hs;
        float *restrict v0 = v + c * ldv, *restrict v1 = v0 + 4 * ldv, *restrict v2 = v1 + 4 * ldv,
                        *restrict v3 = v2 + 4 * ldv;
        for (int64_t j = 0; j < per; j++) {
            float r0 = he[j], r1 = ho[j], r2 = he[j + tp], r3 = ho[j + tp];
            v0[j] = r0 - r2;
            v1[j] = r1 + r2;
            v2[j] = r2 - r1;
            v3[j] = r1 - r3;
        }
    }
}

/* One output plane y [oh, ow] from its channel's row of M (position xi at
 * m + xi ldm, tiles as in V): A^T M A for every tile, plus *bias unless
 * bias is NULL, the tile rows' even and odd output rows interleaved into
 * ye and yo [th, 2 tp] (through relu when relu is set: conv2d's folded
 * relu), then copied into y without the extra tile. */
GR_ROW_CLONES static void transform_output(const gr_wino *p, const float *restrict m, int64_t ldm,
                                           float *restrict ye, float *restrict yo, const float *bias, int relu,
                                           float *restrict y) {
    int64_t tp = p->tw + 1, per = p->th * tp;
    float b = bias ? *bias : -0.0f; /* v + -0 is v, also for v = -0 (v + +0 is not) */
    for (int64_t j = 0; j < per; j++) {
        float a[2][4];
        for (int c = 0; c < 4; c++) {
            float m0 = m[c * ldm + j], m1 = m[(4 + c) * ldm + j], m2 = m[(8 + c) * ldm + j],
                  m3 = m[(12 + c) * ldm + j];
            a[0][c] = m0 + m1 + m2;
            a[1][c] = m1 - m2 - m3;
        }
        float y00 = a[0][0] + a[0][1] + a[0][2] + b, y01 = a[0][1] - a[0][2] - a[0][3] + b;
        float y10 = a[1][0] + a[1][1] + a[1][2] + b, y11 = a[1][1] - a[1][2] - a[1][3] + b;
        ye[2 * j] = relu ? GR_RELU(y00) : y00;
        ye[2 * j + 1] = relu ? GR_RELU(y01) : y01;
        yo[2 * j] = relu ? GR_RELU(y10) : y10;
        yo[2 * j + 1] = relu ? GR_RELU(y11) : y11;
    }
    for (int64_t r = 0; r < p->oh; r++)
        memcpy(y + r * p->ow, (r & 1 ? yo : ye) + (r >> 1) * 2 * tp, (size_t)p->ow * sizeof *y);
}

/* Z = A dy A^T for every tile of one plane of dy [oh, ow] (the adjoint of
 * transform_output): dy's rows by parity into ye and yo [th, 2 tp] (zeros
 * past oh, ow and in the extra tile, written by no one), dy A^T along
 * them into hb [4, 2, th, tp], then A along the columns into z [16, ldz];
 * each loop runs over a whole plane. */
GR_ROW_CLONES static void transform_grad(const gr_wino *p, const float *restrict dy, float *restrict ye,
                                         float *restrict yo, float *restrict hb, float *restrict z, int64_t ldz) {
    int64_t tp = p->tw + 1, per = p->th * tp;
    for (int64_t r = 0; r < p->oh; r++)
        memcpy((r & 1 ? yo : ye) + (r >> 1) * 2 * tp, dy + r * p->ow, (size_t)p->ow * sizeof *dy);
    for (int par = 0; par < 2; par++) {
        const float *restrict d = par ? yo : ye;
        float *restrict h0 = hb + par * per, *restrict h1 = h0 + 2 * per, *restrict h2 = h1 + 2 * per,
                        *restrict h3 = h2 + 2 * per;
        for (int64_t j = 0; j < per; j++) {
            float y0 = d[2 * j], y1 = d[2 * j + 1];
            h0[j] = y0;
            h1[j] = y0 + y1;
            h2[j] = y0 - y1;
            h3[j] = -y1;
        }
    }
    for (int c = 0; c < 4; c++) {
        const float *restrict he = hb + 2 * c * per, *restrict ho = he + per;
        float *restrict z0 = z + c * ldz, *restrict z1 = z0 + 4 * ldz, *restrict z2 = z1 + 4 * ldz,
                        *restrict z3 = z2 + 4 * ldz;
        for (int64_t j = 0; j < per; j++) {
            float e = he[j], o = ho[j];
            z0[j] = e;
            z1[j] = e + o;
            z2[j] = e - o;
            z3[j] = -o;
        }
    }
}

/* dw [b, a, 3, 3] = G^T dU G for each pair of channels (the adjoint of
 * transform_weight), from du [16, a, b] (input channel first). */
static void weight_from_transform(const gr_wino *p, const float *du, float *dw) {
    int64_t ab = p->a * p->b;
    for (int64_t k = 0; k < ab; k++) {
        float u[4][4], t[3][4];
        int64_t o = k / p->a, i = k % p->a;
        for (int xi = 0; xi < 16; xi++) u[xi / 4][xi % 4] = du[xi * ab + i * p->b + o];
        for (int c = 0; c < 4; c++) { /* G^T dU */
            t[0][c] = u[0][c] + 0.5f * (u[1][c] + u[2][c]);
            t[1][c] = 0.5f * (u[1][c] - u[2][c]);
            t[2][c] = 0.5f * (u[1][c] + u[2][c]) + u[3][c];
        }
        float *g = dw + k * 9;
        for (int r = 0; r < 3; r++) { /* (G^T dU) G */
            g[r * 3] = t[r][0] + 0.5f * (t[r][1] + t[r][2]);
            g[r * 3 + 1] = 0.5f * (t[r][1] - t[r][2]);
            g[r * 3 + 2] = 0.5f * (t[r][1] + t[r][2]) + t[r][3];
        }
    }
}

typedef struct wino_job {
    const gr_wino *p;
    const float *x, *u;        /* u: U, or the weight gradient's dy */
    const float *bias;         /* [b] added to y, or NULL */
    int relu;                  /* y = relu(the convolution + bias) */
    float *y, *slot0;          /* y: the convolution's output (unused by the weight gradient) */
    float *du0, *du;           /* the weight gradient's first group's dU [16, a, b], the others' [groups - 1][..] */
    int64_t nb, slots, groups; /* images per chunk; workspace slots; the weight gradient's groups */
    const volatile int *cancel;
} wino_job;

/* A thread's slot: where V, M (or Z) and the planes' scratch start. */
typedef struct wino_slot {
    float *v, *m, *pe, *po, *hb, *ye, *yo;
} wino_slot;

static wino_slot slot_of(const wino_job *J, int64_t s) {
    const gr_wino *p = J->p;
    int64_t T = J->nb * tiles_per_image(p);
    wino_slot S;
    S.v = J->slot0 + s * slot_elems(p);
    S.m = S.v + 16 * pos_stride(p->a, T);
    S.pe = S.m + 16 * pos_stride(p->b, T);
    S.po = S.pe + half_plane_elems(p);
    S.hb = S.po + half_plane_elems(p);
    S.ye = S.hb + 8 * (p->th + 1) * (p->tw + 1);
    S.yo = S.ye + 2 * tiles_per_image(p);
    return S;
}

/* Zeros where the padded planes pe and po are never written. */
static void clear_planes(const wino_job *J, const wino_slot *S) {
    memset(S->pe, 0, (size_t)(2 * half_plane_elems(J->p)) * sizeof *S->pe);
}

/* V of images [n0, n0 + nb) of x. */
static void chunk_input(const wino_job *J, const wino_slot *S, int64_t n0, int64_t nb) {
    const gr_wino *p = J->p;
    int64_t per = tiles_per_image(p), T = J->nb * per;
    for (int64_t i = 0; i < nb; i++)
        for (int64_t c = 0; c < p->a; c++) {
            pad_plane(p, J->x + ((n0 + i) * p->a + c) * p->h * p->w, S->pe, S->po);
            transform_input(p, S->pe, S->po, S->hb, S->v + c * T + i * per, pos_stride(p->a, T));
        }
}

/* The convolution of chunks [c0, c1), in the thread's slot. */
static void wino_part(void *ctx, int64_t c0, int64_t c1) {
    const wino_job *J = ctx;
    const gr_wino *p = J->p;
    int64_t per = tiles_per_image(p), T = J->nb * per;
    wino_slot S = slot_of(J, gr_parallel_slot());
    clear_planes(J, &S);
    for (int64_t ch = c0; ch < c1 && !gr_cancelled(J->cancel); ch++) {
        int64_t n0 = ch * J->nb, nb = p->n - n0 < J->nb ? p->n - n0 : J->nb;
        chunk_input(J, &S, n0, nb);
        for (int xi = 0; xi < 16; xi++)
            gr_sgemm(0, 0, p->b, nb * per, p->a, 1.0f, J->u + xi * p->a * p->b, p->a, S.v + xi * pos_stride(p->a, T), T,
                     0.0f, S.m + xi * pos_stride(p->b, T), T);
        for (int64_t i = 0; i < nb; i++)
            for (int64_t c = 0; c < p->b; c++)
                transform_output(p, S.m + c * T + i * per, pos_stride(p->b, T), S.ye, S.yo, J->bias ? J->bias + c : NULL,
                                 J->relu, J->y + ((n0 + i) * p->b + c) * p->oh * p->ow);
    }
}

/* Group g's partial dU^T from chunks [c0, c1), in slot S. */
static void group_weight(const wino_job *J, const wino_slot *S, int64_t g, int64_t c0, int64_t c1) {
    const gr_wino *p = J->p;
    int64_t per = tiles_per_image(p), T = J->nb * per;
    float *du = g == 0 ? J->du0 : J->du + (g - 1) * 16 * p->a * p->b;
    memset(du, 0, (size_t)(16 * p->a * p->b) * sizeof *du);
    for (int64_t ch = c0; ch < c1 && !gr_cancelled(J->cancel); ch++) {
        int64_t n0 = ch * J->nb, nb = p->n - n0 < J->nb ? p->n - n0 : J->nb;
        chunk_input(J, S, n0, nb);
        for (int64_t i = 0; i < nb; i++)
            for (int64_t c = 0; c < p->b; c++)
                transform_grad(p, J->u + ((n0 + i) * p->b + c) * p->oh * p->ow, S->ye, S->yo, S->hb, S->m + c * T + i * per,
                               pos_stride(p->b, T));
        for (int xi = 0; xi < 16; xi++)
            gr_sgemm(0, 1, p->a, p->b, nb * per, 1.0f, S->v + xi * pos_stride(p->a, T), T,
                     S->m + xi * pos_stride(p->b, T), T, 1.0f, du + xi * p->a * p->b, p->b);
    }
}

/* The weight gradient of groups [g0, g1): group g's partial dU^T = the
 * sum over its chunks of V Z^T per position, in the thread's slot. Input
 * channels are the GEMM's rows: cnn-step's [16, 32] blocks over 112
 * tiles took 1.85 us on libgrad's kernel, its [32, 16] ones 2.0 us on
 * OpenBLAS. */
static void wino_weight_part(void *ctx, int64_t g0, int64_t g1) {
    const wino_job *J = ctx;
    const gr_wino *p = J->p;
    int64_t per = tiles_per_image(p), chunks = chunks_of(p);
    wino_slot S = slot_of(J, gr_parallel_slot());
    clear_planes(J, &S);
    memset(S.ye, 0, (size_t)(4 * per) * sizeof *S.ye); /* ye and yo */
    for (int64_t g = g0; g < g1; g++) group_weight(J, &S, g, chunks * g / J->groups, chunks * (g + 1) / J->groups);
}

/* Slots the workspace holds for the job (weight: the weight gradient's,
 * with its partials), at most the threads and the chunks; 0 when none. */
static int64_t job_slots(const gr_wino *p, int64_t work_elems, int weight) {
    int64_t slots = gr_threads();
    if (slots > chunks_of(p)) slots = chunks_of(p);
    while (slots > 0 && gr_conv_winograd_workspace(p, slots, weight) > work_elems) slots--;
    return slots;
}

/* Bounds on the transforms' growth: |V| <= 4 |x|, |U| <= 9/4 |w|,
 * |A^T M A| <= 9 |M| and |Z| <= 4 |dy|, |G^T dU G| <= 4 |dU|. */
int gr_conv_winograd_run(const gr_wino *p, const float *x, const float *w, const float *bias, int relu, float *y,
                         float *work, int64_t work_elems, const volatile int *cancel) {
    int64_t slots = job_slots(p, work_elems, 0);
    if (slots < 1 || !values_fit(x, p->n * p->a * p->h * p->w, w, p->a * p->b * 9, 4 * 2.25 * 9 * 16 * (double)p->a))
        return 0;
    transform_weight(p, w, work);
    wino_job J = {.p = p, .x = x, .u = work, .bias = bias, .relu = relu, .y = y, .slot0 = work + 16 * p->a * p->b,
                  .nb = chunk_images_of(p), .slots = slots, .cancel = cancel};
    gr_parallel_for_slots(chunks_of(p), 1, slots, wino_part, &J);
    return 1;
}

int gr_conv_winograd_weight(const gr_wino *p, const float *x, const float *dy, float *dw, float *work,
                            int64_t work_elems, const volatile int *cancel) {
    int64_t slots = job_slots(p, work_elems, 1), tiles = p->n * tiles_per_image(p);
    if (p->transpose || slots < 1 ||
        !values_fit(x, p->n * p->a * p->h * p->w, dy, p->n * p->b * p->oh * p->ow, 4.0 * 4 * 16 * 4 * (double)tiles))
        return 0;
    int64_t n = 16 * p->a * p->b;
    wino_job J = {.p = p, .x = x, .u = dy, .slot0 = work + n, .du0 = work, .du = work + n + slots * slot_elems(p),
                  .nb = chunk_images_of(p), .slots = slots, .groups = weight_groups(p, slots), .cancel = cancel};
    gr_parallel_for_slots(J.groups, 1, slots, wino_weight_part, &J);
    gr_add_parts(GR_F32, work, J.du, J.groups - 1, n); /* in group order: the sum does not depend on the threads */
    weight_from_transform(p, work, dw);
    return 1;
}
