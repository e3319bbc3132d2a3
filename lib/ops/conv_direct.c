/* conv_direct.c -- 3x3 convolutions whose groups each read one input
 * channel (a first layer on grey images, as cnn-step's 1 -> 16; depthwise
 * convolutions), in float32 at stride 1 and dilation 1, summed directly.
 *
 * By im2col such a convolution unfolds each plane nine times and runs
 * GEMMs nine deep: [16, 9] x [9, 50176] for cnn-step's first layer, which
 * spend their time moving the column matrix (0.42 ms forward, 0.49 ms for
 * the weight gradient). Here each input plane is padded once into the
 * workspace and every output row is nine multiply-adds per element over
 * three of its rows (forward), or every output-gradient row is nine dot
 * products with them (weight gradient), in vector loops.
 *
 * The products are those of the direct sum (padding zeros included, so an
 * inf weight against padding gives NaN as the im2col path does); the
 * forward pass adds them in tap order, the weight gradient in eight lanes
 * per row, each plane's lanes then in double. The images are shared by the
 * threads, each with its own slot of the workspace: the padded plane, a
 * row buffer and (weight gradient) its partial sums in double. */
#include "conv.h"
#include "../vmath.h"

#include <string.h>

#define LANES 8 /* the rows' blocks: one AVX2 vector of floats */

/* ow rounded up to whole blocks. */
static int64_t row_blocks(const conv_geom *c) { return (c->ow + LANES - 1) / LANES * LANES; }

/* Floats of a padded plane's row: the blocks and the two taps past them. */
static int64_t padded_row(const conv_geom *c) { return row_blocks(c) + LANES; }

/* Floats of one thread's slot: the padded plane [h + 2 ph, padded_row]
 * and an output (gradient) plane in whole blocks [oh, row_blocks]. */
static int64_t plane_floats(const conv_geom *c) {
    return (c->h + 2 * c->ph) * padded_row(c) + c->oh * row_blocks(c);
}

/* The weight gradient's groups of images, each with its partial sums
 * (cout * 9 doubles: 2 cout * 9 floats) (gr_parallel_groups). */
static int64_t sum_floats(const conv_geom *c) { return 2 * c->cout * 9; }
static int64_t weight_groups(const conv_geom *c, int64_t slots) {
    return gr_parallel_groups(c->n, slots, sum_floats(c) * (int64_t)sizeof(float));
}

/* Most floats of a slot's planes: bigger images keep im2col's chunks,
 * whose workspace is bounded (a slot's planes stay in the L2 cache). */
#define DIRECT_MAX_PLANES ((int64_t)1 << 16)

int gr_conv_direct_fits(const conv_geom *c, gr_dtype dt) {
    return dt == GR_F32 && c->cig == 1 && c->fkh == 3 && c->fkw == 3 && !gr_conv_trimmed(c) && c->sh == 1 &&
           c->sw == 1 && c->dh == 1 && c->dw == 1 && c->ph <= 2 && c->pw <= 2 && c->n > 0 && c->p > 0 &&
           c->h <= DIRECT_MAX_PLANES && c->w <= DIRECT_MAX_PLANES && plane_floats(c) <= DIRECT_MAX_PLANES;
}

/* The workspace: (the weight gradient's) groups' sums, then the slots. */
int64_t gr_conv_direct_workspace(const conv_geom *c, int weight, int64_t slots) {
    if (slots > c->n) slots = c->n;
    if (slots < 1) slots = 1;
    return (weight ? weight_groups(c, slots) * sum_floats(c) : 0) + slots * plane_floats(c);
}

/* Slots the workspace holds (weight: with the groups' sums), at most the
 * threads and the images; 0 when none. */
static int64_t job_slots(const conv_geom *c, int weight, int64_t work_elems) {
    int64_t slots = gr_threads();
    if (slots > c->n) slots = c->n;
    while (slots > 0 && gr_conv_direct_workspace(c, weight, slots) > work_elems) slots--;
    return slots;
}

/* Input plane x [h, w] into xp with ph rows and pw columns of zeros before
 * it and zeros after (each row padded_row long). */
static void pad_plane(const conv_geom *c, const float *x, float *xp) {
    int64_t W = padded_row(c), hp = c->h + 2 * c->ph;
    memset(xp, 0, (size_t)(hp * W) * sizeof *xp);
    for (int64_t r = 0; r < c->h; r++) memcpy(xp + (r + c->ph) * W + c->pw, x + r * c->w, (size_t)c->w * sizeof *xp);
}

/* One output element: the 3x3 filter f at column j of rows r0, r1, r2,
 * the nine products added in tap order (im2col's GEMM adds them in that
 * order too: mobilenet_v2's float32 gradients, which batch norm makes
 * sensitive to the last bits, moved 50 times further from float64 with
 * the rows summed apart). */
static inline float filter_at(const float *restrict r0, const float *restrict r1, const float *restrict r2,
                              const float *restrict f, int64_t j) {
    return f[0] * r0[j] + f[1] * r0[j + 1] + f[2] * r0[j + 2] + f[3] * r1[j] + f[4] * r1[j + 1] + f[5] * r1[j + 2] +
           f[6] * r2[j] + f[7] * r2[j + 1] + f[8] * r2[j + 2];
}

/* y [oh, ow] = the 3x3 filter f over the padded plane xp (rows W apart),
 * plus b (-0 for none: v + -0 is v, also for v = -0): whole blocks of each
 * row into yb [oh, nb] (through relu when relu is set), then copied. */
GR_ROW_CLONES static void filter_plane(const float *restrict xp, int64_t W, const float *restrict f, float b,
                                       float *restrict yb, int64_t nb, int relu, float *restrict y, int64_t oh,
                                       int64_t ow) {
    for (int64_t i = 0; i < oh; i++) {
        const float *restrict r0 = xp + i * W, *restrict r1 = r0 + W, *restrict r2 = r1 + W;
        for (int64_t j = 0; j < nb; j++) {
            float v = filter_at(r0, r1, r2, f, j) + b;
            yb[i * nb + j] = relu ? GR_RELU(v) : v;
        }
    }
    for (int64_t i = 0; i < oh; i++)
        for (int64_t j = 0; j < ow; j++) y[i * ow + j] = yb[i * nb + j];
}

/* acc[t][l] += the products of the output gradient d [oh, ow] with the
 * padded plane xp at tap t = 3 di + dj, lane l = column mod LANES: d's
 * rows first into db [oh, nb], whose columns past ow stay 0. */
GR_ROW_CLONES static void dot_plane(const float *restrict xp, int64_t W, const float *restrict d,
                                    float *restrict db, int64_t nb, int64_t oh, int64_t ow, float acc[9][LANES]) {
    for (int64_t i = 0; i < oh; i++)
        for (int64_t j = 0; j < ow; j++) db[i * nb + j] = d[i * ow + j];
    for (int64_t i = 0; i < oh; i++) {
        const float *restrict r0 = xp + i * W, *restrict r1 = r0 + W, *restrict r2 = r1 + W;
        const float *restrict dr = db + i * nb;
        for (int64_t j0 = 0; j0 < nb; j0 += LANES)
            for (int l = 0; l < LANES; l++) {
                int64_t j = j0 + l;
                float v = dr[j];
                acc[0][l] += v * r0[j];
                acc[1][l] += v * r0[j + 1];
                acc[2][l] += v * r0[j + 2];
                acc[3][l] += v * r1[j];
                acc[4][l] += v * r1[j + 1];
                acc[5][l] += v * r1[j + 2];
                acc[6][l] += v * r2[j];
                acc[7][l] += v * r2[j + 1];
                acc[8][l] += v * r2[j + 2];
            }
    }
}

typedef struct direct_job {
    const conv_geom *c;
    const float *x, *w, *bias, *dy; /* forward: x, w, bias (or NULL); weight gradient: x, dy */
    int relu;                       /* forward: out = relu(the convolution + bias) */
    float *out;
    float *slot0;                   /* the threads' slots, plane_floats each */
    double *sums;                   /* the weight gradient's groups' sums [groups][cout * 9] */
    int64_t groups;
    const volatile int *cancel;
} direct_job;

/* Images [n0, n1), in the thread's slot. */
static void forward_part(void *ctx, int64_t n0, int64_t n1) {
    const direct_job *J = ctx;
    const conv_geom *c = J->c;
    int64_t W = padded_row(c), nb = row_blocks(c);
    float *xp = J->slot0 + gr_parallel_slot() * plane_floats(c), *yb = xp + (c->h + 2 * c->ph) * W;
    for (int64_t n = n0; n < n1 && !gr_cancelled(J->cancel); n++)
        for (int64_t g = 0; g < c->groups; g++) {
            pad_plane(c, J->x + (n * c->cin + g) * c->h * c->w, xp);
            for (int64_t o = g * c->cog; o < (g + 1) * c->cog; o++)
                filter_plane(xp, W, J->w + o * 9, J->bias ? J->bias[o] : -0.0f, yb, nb, J->relu,
                             J->out + (n * c->cout + o) * c->p, c->oh, c->ow);
        }
}

int gr_conv_direct_run(const conv_geom *c, const float *x, const float *w, const float *bias, int relu, float *y,
                       float *work, int64_t work_elems, const volatile int *cancel) {
    int64_t slots = job_slots(c, 0, work_elems);
    if (slots < 1) return 0;
    direct_job J = {.c = c, .x = x, .w = w, .bias = bias, .relu = relu, .out = y, .slot0 = work, .cancel = cancel};
    gr_parallel_for_slots(c->n, 1, slots, forward_part, &J);
    return 1;
}

/* Group grp's sums from images [n0, n1), in the thread's slot. */
static void group_weight(const direct_job *J, int64_t grp, int64_t n0, int64_t n1) {
    const conv_geom *c = J->c;
    int64_t W = padded_row(c), nb = row_blocks(c);
    float *xp = J->slot0 + gr_parallel_slot() * plane_floats(c), *db = xp + (c->h + 2 * c->ph) * W;
    double *sum = J->sums + grp * c->cout * 9;
    memset(db, 0, (size_t)(c->oh * nb) * sizeof *db); /* past ow: zeros that add nothing */
    memset(sum, 0, (size_t)(c->cout * 9) * sizeof *sum);
    for (int64_t n = n0; n < n1 && !gr_cancelled(J->cancel); n++)
        for (int64_t g = 0; g < c->groups; g++) {
            pad_plane(c, J->x + (n * c->cin + g) * c->h * c->w, xp);
            for (int64_t o = g * c->cog; o < (g + 1) * c->cog; o++) {
                float acc[9][LANES] = {{0}};
                dot_plane(xp, W, J->dy + (n * c->cout + o) * c->p, db, nb, c->oh, c->ow, acc);
                for (int t = 0; t < 9; t++) {
                    double s = 0;
                    for (int l = 0; l < LANES; l++) s += acc[t][l];
                    sum[o * 9 + t] += s;
                }
            }
        }
}

/* Groups [g0, g1) of the weight gradient. */
static void weight_part(void *ctx, int64_t g0, int64_t g1) {
    const direct_job *J = ctx;
    for (int64_t g = g0; g < g1; g++) group_weight(J, g, J->c->n * g / J->groups, J->c->n * (g + 1) / J->groups);
}

int gr_conv_direct_weight(const conv_geom *c, const float *x, const float *dy, float *dw, float *work,
                          int64_t work_elems, const volatile int *cancel) {
    int64_t slots = job_slots(c, 1, work_elems);
    if (slots < 1) return 0;
    int64_t groups = weight_groups(c, slots);
    direct_job J = {.c = c, .x = x, .dy = dy, .out = dw, .slot0 = work + groups * sum_floats(c),
                    .sums = (double *)(void *)work, .groups = groups, .cancel = cancel};
    gr_parallel_for_slots(groups, 1, slots, weight_part, &J);
    /* The groups' sums in group order, so the result does not depend on
     * which thread ran which. */
    for (int64_t k = 0; k < c->cout * 9; k++) {
        double s = 0;
        for (int64_t g = 0; g < groups; g++) s += J.sums[g * c->cout * 9 + k];
        dw[k] = (float)s;
    }
    return 1;
}
