/* onnx_gridsample.c -- lowering ONNX's GridSample (opset 16, torch's
 * grid_sample) to libgrad ops: X [N, C, H, W] read at the points of grid
 * [N, Ho, Wo, 2] (x, y in [-1, 1]) gives [N, C, Ho, Wo].
 *
 * A point unnormalizes to pixel coordinates: with align_corners, -1 and 1
 * are the corner pixels' centres, ((g + 1) / 2) (size - 1); without, the
 * image's edges, ((g + 1) size - 1) / 2. Each mode reads taps around it:
 * nearest one (round half to even), bilinear 2x2, bicubic 4x4 (cubic
 * convolution, A = -0.75), weighted by the point's fraction. A tap outside
 * the image reads 0 (padding zeros), the nearest edge (border) or its
 * mirror image (reflection: about the corner pixels' centres with
 * align_corners, about the image's edges without). Bilinear and nearest
 * pad the point's coordinates; bicubic pads each tap's, as torch does.
 *
 * Every tap is one take_along_axis of X [N, C, H W] at flat offsets
 * y W + x: its gradient scatters into X, the weights' carries to the
 * grid (the floor and round of a coordinate are constants, as in torch). */
#include "onnx_more.h"
#include "onnx_nn.h"

#include <string.h>

enum { PAD_ZEROS, PAD_BORDER, PAD_REFLECTION };

typedef struct sampler {
    int64_t N, C, H, W, Ho, Wo;
    int align, pad;
    int flat;                       /* X as [N, C, H W] */
} sampler;

static int num(ox_low *L, double v) { return gd_ox_scalar(L, v); }
static int add(ox_low *L, int a, int b) { return gd_ox_bin(L, "add", a, b); }
static int sub(ox_low *L, int a, int b) { return gd_ox_bin(L, "sub", a, b); }
static int mul(ox_low *L, int a, int b) { return gd_ox_bin(L, "mul", a, b); }

static int clip(ox_low *L, int x, double lo, double hi) {
    gr_attrs at = {0};
    gr_attrs_set_number(&at, GR_ATTR_MIN, lo);
    gr_attrs_set_number(&at, GR_ATTR_MAX, hi);
    return gd_ox_un(L, "clip", x, &at);
}

/* Grid coordinate g ([N, Ho, Wo]) in pixels of an axis of size n. */
static int unnormalize(ox_low *L, const sampler *S, int g, int64_t n) {
    if (S->align) return mul(L, add(L, g, num(L, 1)), num(L, (double)(n - 1) / 2));
    return gd_ox_bin(L, "div", sub(L, mul(L, add(L, g, num(L, 1)), num(L, (double)n)), num(L, 1)), num(L, 2));
}

/* Coordinate c reflected into [lo, hi]: |c - lo| folded by the span. */
static int reflect(ox_low *L, int c, double lo, double hi) {
    double span = hi - lo;
    if (span <= 0) return mul(L, c, num(L, 0));
    int d = gd_ox_un(L, "abs", sub(L, c, num(L, lo)), NULL);
    int flips = gd_ox_un(L, "floor", gd_ox_bin(L, "div", d, num(L, span)), NULL);
    int extra = sub(L, d, mul(L, flips, num(L, span)));                         /* d mod span */
    int odd = sub(L, flips, mul(L, gd_ox_un(L, "floor", mul(L, flips, num(L, 0.5)), NULL), num(L, 2)));
    /* even flips: lo + extra; odd: hi - extra */
    return add(L, add(L, num(L, lo), extra), mul(L, odd, sub(L, num(L, span), mul(L, extra, num(L, 2)))));
}

/* c clipped to [0, n - 1], NaN to 0 (torch's clip_coordinates: an inf
 * grid point goes to its edge, a NaN one, or an inf one reflected, to 0). */
static int clip_coordinate(ox_low *L, int c, int64_t n) {
    c = gd_ox_op(L, "where", (int[]){gd_ox_un(L, "isnan", c, NULL), num(L, 0), c}, 3, NULL);
    return clip(L, c, 0, (double)(n - 1));
}

/* Coordinate c padded as the mode says for an axis of size n (zeros:
 * unchanged; the bounds mask takes care of it). */
static int pad_coordinate(ox_low *L, const sampler *S, int c, int64_t n) {
    if (S->pad == PAD_BORDER) return clip_coordinate(L, c, n);
    if (S->pad == PAD_REFLECTION)
        return clip_coordinate(L, S->align ? reflect(L, c, 0, (double)(n - 1)) : reflect(L, c, -0.5, (double)n - 0.5), n);
    return c;
}

/* c where it is finite, else 0: a coordinate from an inf or NaN grid
 * point reads a valid element, which its weight (NaN, or 0 outside the
 * image) then takes care of. */
static int finite_or_0(ox_low *L, int c) {
    int bad = add(L, gd_ox_un(L, "isnan", c, NULL), gd_ox_un(L, "isinf", c, NULL));
    return gd_ox_op(L, "where", (int[]){bad, num(L, 0), c}, 3, NULL);
}

/* 1 where integer coordinate c is inside [0, n), else 0. */
static int inside(ox_low *L, int c, int64_t n) {
    return mul(L, gd_ox_bin(L, "greater_equal", c, num(L, 0)), gd_ox_bin(L, "less", c, num(L, (double)n)));
}

/* X at integer coordinates (x, y) ([N, Ho, Wo] each), times weight w
 * ([N, Ho, Wo]) where the tap is inside the image, 0 elsewhere (zeros
 * padding; with the others only a weight-0 tap past a clipped edge is
 * outside): [N, C, Ho Wo]. */
static int tap(ox_low *L, const sampler *S, int x, int y, int w) {
    w = mul(L, w, mul(L, inside(L, x, S->W), inside(L, y, S->H)));
    x = clip(L, finite_or_0(L, x), 0, (double)(S->W - 1));
    y = clip(L, finite_or_0(L, y), 0, (double)(S->H - 1));
    int off = gd_ox_reshape(L, add(L, mul(L, y, num(L, (double)S->W)), x), (int64_t[]){S->N, 1, S->Ho * S->Wo}, 3);
    gr_attrs at = {0};
    gr_attrs_set_int(&at, GR_ATTR_AXIS, 2);
    int v = gd_ox_op(L, "take_along_axis", (int[]){S->flat, off}, 2, &at);
    return mul(L, v, gd_ox_reshape(L, w, (int64_t[]){S->N, 1, S->Ho * S->Wo}, 3));
}

/* Cubic convolution weight of a tap at distance d (A = -0.75): |d| <= 1:
 * (A + 2) d^3 - (A + 3) d^2 + 1; 1 < |d| < 2: A d^3 - 5A d^2 + 8A d - 4A. */
static int cubic(ox_low *L, int d, int far) {
    const double A = -0.75;
    int d2 = mul(L, d, d), d3 = mul(L, d2, d);
    if (!far) return add(L, sub(L, mul(L, d3, num(L, A + 2)), mul(L, d2, num(L, A + 3))), num(L, 1));
    return sub(L, add(L, sub(L, mul(L, d3, num(L, A)), mul(L, d2, num(L, 5 * A))), mul(L, d, num(L, 8 * A))),
               num(L, 4 * A));
}

int gd_ox_lw_GridSample(ox_low *L) {
    int x = gd_ox_in(L, 0), grid = gd_ox_in(L, 1);
    if (x < 0 || grid < 0) return -1;
    const gr_shape *xs = gd_ox_shape(L, x), *gs = gd_ox_shape(L, grid);
    if (xs->rank != 4 || gs->rank != 4 || gs->dims[0] != xs->dims[0] || gs->dims[3] != 2)
        return gd_ox_fail(L, "X must be [N, C, H, W] and grid [N, Ho, Wo, 2] (2-D sampling only)");
    sampler S = {.N = xs->dims[0], .C = xs->dims[1], .H = xs->dims[2], .W = xs->dims[3], .Ho = gs->dims[1],
                 .Wo = gs->dims[2], .align = gd_ox_ai(L, "align_corners", 0) != 0};
    if (S.H < 1 || S.W < 1) return gd_ox_fail(L, "X's image is empty: nothing to sample");
    char mb[16], pb[16];
    const char *mode = gd_ox_as(L, "mode", "bilinear", mb, sizeof mb), *pad = gd_ox_as(L, "padding_mode", "zeros", pb, sizeof pb);
    S.pad = !strcmp(pad, "zeros") ? PAD_ZEROS : !strcmp(pad, "border") ? PAD_BORDER : !strcmp(pad, "reflection") ? PAD_REFLECTION : -1;
    if (S.pad < 0) return gd_ox_fail(L, "padding_mode '%s' is unknown", pad);
    int m = !strcmp(mode, "bilinear") ? 0 : !strcmp(mode, "nearest") ? 1 : !strcmp(mode, "bicubic") ? 2 : -1;
    if (m < 0) return gd_ox_fail(L, "mode '%s' is unknown (bilinear, nearest, bicubic)", mode);
    S.flat = gd_ox_reshape(L, x, (int64_t[]){S.N, S.C, S.H * S.W}, 3);
    int gx = gd_ox_reshape(L, gd_ox_slice1(L, grid, 3, 0, 1), (int64_t[]){S.N, S.Ho, S.Wo}, 3);
    int gy = gd_ox_reshape(L, gd_ox_slice1(L, grid, 3, 1, 2), (int64_t[]){S.N, S.Ho, S.Wo}, 3);
    int ix = unnormalize(L, &S, gx, S.W), iy = unnormalize(L, &S, gy, S.H), y = -1;
    if (m == 0 || m == 1) {
        ix = pad_coordinate(L, &S, ix, S.W);
        iy = pad_coordinate(L, &S, iy, S.H);
    }
    if (m == 1) {
        y = tap(L, &S, gd_ox_un(L, "round", ix, NULL), gd_ox_un(L, "round", iy, NULL), gd_ox_un(L, "ones_like", ix, NULL));
    } else {
        int x0 = gd_ox_un(L, "floor", ix, NULL), y0 = gd_ox_un(L, "floor", iy, NULL);
        int tx = sub(L, ix, x0), ty = sub(L, iy, y0);
        int taps = m == 0 ? 2 : 4, first = m == 0 ? 0 : -1;
        int wx[4], wy[4];
        for (int k = 0; k < taps; k++) {
            int j = first + k; /* tap offset from the floor */
            if (m == 0) {
                wx[k] = j == 0 ? sub(L, num(L, 1), tx) : tx;
                wy[k] = j == 0 ? sub(L, num(L, 1), ty) : ty;
            } else { /* distance from the point: t - j */
                wx[k] = cubic(L, gd_ox_un(L, "abs", sub(L, tx, num(L, j)), NULL), j == -1 || j == 2);
                wy[k] = cubic(L, gd_ox_un(L, "abs", sub(L, ty, num(L, j)), NULL), j == -1 || j == 2);
            }
        }
        for (int a = 0; a < taps; a++)
            for (int b = 0; b < taps; b++) {
                int cx = add(L, x0, num(L, first + b)), cy = add(L, y0, num(L, first + a));
                if (m == 2) { /* bicubic pads each tap */
                    cx = pad_coordinate(L, &S, cx, S.W);
                    cy = pad_coordinate(L, &S, cy, S.H);
                }
                int t = tap(L, &S, cx, cy, mul(L, wx[b], wy[a]));
                y = y < 0 && a + b == 0 ? t : add(L, y, t);
            }
    }
    return gd_ox_out_typed(L, 0, gd_ox_reshape(L, y, (int64_t[]){S.N, S.C, S.Ho, S.Wo}, 4), 0);
}
