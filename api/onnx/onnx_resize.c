/* onnx_resize.c -- ONNX's Resize (opsets 10 to 19) and Upsample (7 to 9)
 * lowered to libgrad's interpolate (lib/ops/resize.c).
 *
 * ONNX gives one scale or size per axis; interpolate takes one
 * scale_factor for all its axes, so the axes are grouped by scale and
 * resized group after group (resizing is separable: the result is the
 * same up to rounding). Sizes give the scale out / in, which interpolate
 * computes itself. The coordinate map, the nearest rounding, the cubic
 * coefficient and exclude_outside are passed as they are. roi, scales and
 * sizes must be constants (initializers, Constant nodes, folded shape
 * computations, or graph inputs read as constants).
 *
 * Not lowered (422 naming the node): 'tf_crop_and_resize' (its roi has no
 * interpolate attribute) and antialias when it would act (linear or cubic
 * downsampling); 'half_pixel_symmetric' (opset 19) is refused too. */
#include "onnx_resize.h"

#include "onnx_nn.h"

#include <math.h>
#include <string.h>

/* One resized axis: its input and output sizes and the scale its
 * coordinate map uses (has_scale 0: out / in). */
typedef struct ox_axis_resize {
    int axis;
    int64_t in, out;
    int has_scale;
    double scale;
    const char *map;            /* its coordinate_transformation_mode */
} ox_axis_resize;

/* Resize x along the n axes of r with the node attributes base (mode and
 * the rest), one interpolate per distinct scale. Axes that stay as they
 * are (same size, scale 1, a map that is then the identity) are skipped. */
static int resize_groups(ox_low *L, int x, const ox_axis_resize *r, int n, const gr_attrs *base, int identity_ok) {
    int done[GR_MAX_RANK] = {0};
    for (int i = 0; i < n; i++)
        if (identity_ok && r[i].in == r[i].out && (!r[i].has_scale || r[i].scale == 1)) done[i] = 1;
    for (int i = 0; i < n && x >= 0; i++) {
        if (done[i]) continue;
        int64_t axes[GR_MAX_RANK], size[GR_MAX_RANK];
        int m = 0;
        for (int j = i; j < n; j++) {
            if (done[j] || r[j].has_scale != r[i].has_scale || (r[i].has_scale && r[j].scale != r[i].scale) ||
                strcmp(r[j].map, r[i].map))
                continue;
            axes[m] = r[j].axis, size[m] = r[j].out, m++;
            done[j] = 1;
        }
        gr_attrs at = *base;
        gd_ox_set_ints(&at, GR_ATTR_AXES, axes, m);
        gd_ox_set_ints(&at, GR_ATTR_SIZE, size, m);
        if (r[i].has_scale) gr_attrs_set_number(&at, GR_ATTR_SCALE_FACTOR, r[i].scale);
        gd_ox_set_str(&at, GR_ATTR_COORDINATE_TRANSFORMATION_MODE, r[i].map);
        x = gd_ox_un(L, "interpolate", x, &at);
    }
    return x;
}

/* floor(in * scale) as ONNX's reference computes it (in float64), or -1. */
static int64_t scaled_size(double in, double scale) {
    double f = floor(in * scale);
    return f >= 0 && f < 9.0e15 ? (int64_t)f : -1;
}

/* The sizes and scales of the node into r: from scales (input ks, or the
 * attribute "scales" when ks < 0) or sizes (input kz, -1 for none) over
 * the axes given (naxes < 0: all of rank). Count, or -1 (error set). */
static int resize_axes(ox_low *L, const gr_shape *xs, int ks, int kz, const int64_t *axes, int naxes,
                       const char *policy, ox_axis_resize *r) {
    int rank = xs->rank, n = naxes < 0 ? rank : naxes;
    double scales[GR_MAX_RANK];
    int64_t sizes[GR_MAX_RANK];
    int nscales = -1, nsizes = -1;
    if (ks < 0) {
        const Onnx__AttributeProto *a = gd_ox_attr(L->node, "scales");
        if (!a || a->n_floats > GR_MAX_RANK) return gd_ox_fail(L, "Upsample needs scales, one per axis");
        nscales = (int)a->n_floats;
        for (int i = 0; i < nscales; i++) scales[i] = a->floats[i];
    } else if (gd_ox_has(L, ks)) {
        const ox_tensor *t = gd_ox_cin_value(L, ks);
        if (!t) return gd_ox_fail(L, "scales must be a constant: gradd needs them to build the graph");
        if (t->n > GR_MAX_RANK) return gd_ox_fail(L, "scales has %lld values", (long long)t->n);
        nscales = (int)t->n;
        for (int i = 0; i < nscales; i++) scales[i] = t->v[i];
        if (nscales == 0) nscales = -1; /* an empty scales: sizes are used */
    }
    if (kz >= 0 && gd_ox_has(L, kz)) {
        nsizes = gd_ox_ints_in(L, kz, sizes, GR_MAX_RANK);
        if (nsizes < 0) return -1;
        if (nsizes == 0) nsizes = -1;
    }
    if ((nscales < 0) == (nsizes < 0)) return gd_ox_fail(L, "give exactly one of scales and sizes");
    if ((nscales >= 0 ? nscales : nsizes) != n)
        return gd_ox_fail(L, "%s has %d values for %d axes", nscales >= 0 ? "scales" : "sizes",
                          nscales >= 0 ? nscales : nsizes, n);
    unsigned seen = 0;
    for (int i = 0; i < n; i++) {
        int64_t ax = naxes < 0 ? i : axes[i];
        if (ax < 0) ax += rank;
        if (ax < 0 || ax >= rank || (seen & (1u << ax))) return gd_ox_fail(L, "axes are out of range or repeated");
        seen |= 1u << ax;
        r[i] = (ox_axis_resize){(int)ax, xs->dims[ax], 0, 0, 0, "asymmetric"};
    }
    if (nscales >= 0) {
        for (int i = 0; i < n; i++) {
            if (!(scales[i] > 0) || !isfinite(scales[i])) return gd_ox_fail(L, "scale %g is not > 0", scales[i]);
            r[i].out = scaled_size((double)r[i].in, scales[i]);
            r[i].has_scale = 1;
            r[i].scale = scales[i];
        }
    } else if (!strcmp(policy, "stretch")) {
        for (int i = 0; i < n; i++) r[i].out = sizes[i];
    } else { /* not_larger / not_smaller: one scale keeps the aspect ratio */
        int larger = !strcmp(policy, "not_smaller");
        double s = 0;
        for (int i = 0; i < n; i++) {
            if (r[i].in < 1) return gd_ox_fail(L, "cannot keep the aspect ratio of an empty axis");
            double si = (double)sizes[i] / (double)r[i].in;
            if (i == 0 || (larger ? si > s : si < s)) s = si;
        }
        for (int i = 0; i < n; i++) {
            r[i].out = (int64_t)floor((double)r[i].in * s + 0.5);
            r[i].has_scale = 1;
            r[i].scale = s;
        }
    }
    for (int i = 0; i < n; i++)
        if (r[i].out < 1 || r[i].in < 1)
            return gd_ox_fail(L, "axis %d would resize %lld elements to %lld; both must be at least 1", r[i].axis,
                              (long long)r[i].in, (long long)r[i].out);
    return n;
}

int gd_ox_lw_Resize(ox_low *L) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    gr_shape xs = *gd_ox_shape(L, x);
    char mbuf[16], ctm[32], nm[32], pbuf[16];
    const char *mode = gd_ox_as(L, "mode", "nearest", mbuf, sizeof mbuf);
    int opset10 = L->m->opset < 11;
    const char *map = opset10 ? "asymmetric" : gd_ox_as(L, "coordinate_transformation_mode", "half_pixel", ctm, sizeof ctm);
    const char *round = opset10 ? "floor" : gd_ox_as(L, "nearest_mode", "round_prefer_floor", nm, sizeof nm);
    const char *policy = gd_ox_as(L, "keep_aspect_ratio_policy", "stretch", pbuf, sizeof pbuf);
    if (strcmp(mode, "nearest") && strcmp(mode, "linear") && strcmp(mode, "cubic"))
        return gd_ox_fail(L, "mode '%s' is not nearest, linear or cubic", mode);
    if (!strcmp(map, "tf_crop_and_resize") || !strcmp(map, "half_pixel_symmetric"))
        return gd_ox_fail(L, "coordinate_transformation_mode '%s' is not supported", map);
    if (strcmp(policy, "stretch") && strcmp(policy, "not_larger") && strcmp(policy, "not_smaller"))
        return gd_ox_fail(L, "keep_aspect_ratio_policy '%s' is unknown", policy);
    int64_t axes[GR_MAX_RANK];
    int naxes = gd_ox_aints(L, "axes", axes, GR_MAX_RANK);
    if (naxes < -1) return -1;
    ox_axis_resize r[GR_MAX_RANK];
    int n = opset10 ? resize_axes(L, &xs, 1, -1, NULL, -1, "stretch", r)
                    : resize_axes(L, &xs, 2, 3, axes, naxes, policy, r);
    if (n < 0) return -1;
    if (gd_ox_ai(L, "antialias", 0) && strcmp(mode, "nearest"))
        for (int i = 0; i < n; i++)
            if (r[i].out < r[i].in)
                return gd_ox_fail(L, "antialias (a %s filter widened to downsample axis %d) is not supported", mode,
                                  r[i].axis);
    for (int i = 0; i < n; i++) {
        r[i].map = map;
        /* ONNX's align_corners with scales divides by in * scale - 1, the unfloored output length less 1:
         * the map o / s' of 'asymmetric' with s' = (in s - 1) / (in - 1); with sizes (or an exact product)
         * it is interpolate's own */
        double len = (double)r[i].in * r[i].scale;
        if (!strcmp(map, "align_corners") && r[i].has_scale) {
            if (len != (double)r[i].out && r[i].in > 1 && r[i].out > 1)
                r[i].map = "asymmetric", r[i].scale = (len - 1) / (double)(r[i].in - 1);
            else
                r[i].has_scale = 0;
        }
    }
    gr_attrs at = {0};
    gd_ox_set_str(&at, GR_ATTR_MODE, mode);
    if (!strcmp(mode, "nearest")) gd_ox_set_str(&at, GR_ATTR_NEAREST_MODE, round);
    if (!strcmp(mode, "cubic")) {
        gr_attrs_set_number(&at, GR_ATTR_CUBIC_COEFF_A, gd_ox_af(L, "cubic_coeff_a", -0.75));
        gr_attrs_set_int(&at, GR_ATTR_EXCLUDE_OUTSIDE, gd_ox_ai(L, "exclude_outside", 0) != 0);
    }
    int y = resize_groups(L, x, r, n, &at, strcmp(map, "tf_half_pixel_for_nn") != 0);
    if (y < 0) return -1;
    gd_ox_out(L, 0, y);
    return 0;
}

/* Upsample: Resize with 'asymmetric' coordinates, nearest rounding down;
 * scales an attribute before opset 9, an input from it. */
int gd_ox_lw_Upsample(ox_low *L) {
    int x = gd_ox_in(L, 0);
    if (x < 0) return -1;
    gr_shape xs = *gd_ox_shape(L, x);
    char mbuf[16];
    const char *mode = gd_ox_as(L, "mode", "nearest", mbuf, sizeof mbuf);
    if (!strcmp(mode, "bilinear")) mode = "linear";
    if (strcmp(mode, "nearest") && strcmp(mode, "linear")) return gd_ox_fail(L, "mode '%s' is not nearest or linear", mode);
    ox_axis_resize r[GR_MAX_RANK];
    int n = resize_axes(L, &xs, L->m->opset < 9 ? -1 : 1, -1, NULL, -1, "stretch", r);
    if (n < 0) return -1;
    gr_attrs at = {0};
    gd_ox_set_str(&at, GR_ATTR_MODE, mode);
    if (!strcmp(mode, "nearest")) gd_ox_set_str(&at, GR_ATTR_NEAREST_MODE, "floor");
    int y = resize_groups(L, x, r, n, &at, 1);
    if (y < 0) return -1;
    gd_ox_out(L, 0, y);
    return 0;
}
