/* resize.c -- interpolate (torch's F.interpolate, ONNX's Resize and
 * Upsample) and its adjoint interpolate_backward.
 *
 * Resizing is separable: along each resized axis, output index o reads a
 * few input indices ("taps", 1 for nearest, 2 for linear, 4 for cubic)
 * with weights that depend only on the sizes and the attributes, never on
 * the data, and several axes are resized one after another (the weights
 * of bilinear, bicubic and trilinear are the tensor products of the 1-D
 * ones). So y = A x for a fixed sparse A; interpolate_backward applies
 * A^T (each output's gradient added to the taps it read), and the two ops
 * are each other's transposes: their derivatives are the two ops again.
 *
 * A node's tap tables and the intermediate tensors between the axes live
 * in its workspace (planned in the arena): the kernels allocate nothing. */
#include "ops.h"

#include <math.h>
#include <string.h>

extern const gr_op gr_op_interpolate, gr_op_interpolate_backward;

typedef enum rs_kind { RS_NEAREST, RS_LINEAR, RS_CUBIC } rs_kind;
typedef enum rs_map { MAP_HALF_PIXEL, MAP_PYTORCH_HALF_PIXEL, MAP_ALIGN_CORNERS, MAP_ASYMMETRIC, MAP_TF_HALF_PIXEL } rs_map;
typedef enum rs_round { ROUND_FLOOR, ROUND_CEIL, ROUND_PREFER_FLOOR, ROUND_PREFER_CEIL } rs_round;

/* Everything a node's attributes and shapes say about its resampling. */
typedef struct rs_spec {
    rs_kind kind;
    rs_map map;
    rs_round round;             /* RS_NEAREST */
    double a;                   /* RS_CUBIC: Keys' coefficient */
    int exclude;                /* RS_CUBIC: taps outside the input weigh 0, the rest renormalised */
    int torch_nearest;          /* torch's 'nearest' (no map or rounding given): its shortcuts apply */
    int has_scale;
    double scale;               /* scale_factor (has_scale) */
    int naxes;
    int axes[GR_MAX_RANK];      /* (naxes) the resized axes, in the order they are resized */
    gr_shape in, out;           /* the forward map's input and output shapes */
} rs_spec;

/* Taps per output index of kind. */
static int rs_ntaps(rs_kind k) { return k == RS_NEAREST ? 1 : k == RS_LINEAR ? 2 : 4; }

/* The kind, map, rounding and cubic parameters of node id into *s; checks
 * the combinations. */
static gr_status rs_modes(gr_graph *g, int id, rs_spec *s, gr_error *err) {
    const gr_attrs *at = g->nodes[id].attrs;
    const char *mode = (at->set & A(GR_ATTR_MODE)) ? at->mode : "nearest";
    int exact = 0;
    if (!strcmp(mode, "nearest")) s->kind = RS_NEAREST;
    else if (!strcmp(mode, "nearest-exact")) s->kind = RS_NEAREST, exact = 1;
    else if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear") || !strcmp(mode, "trilinear")) s->kind = RS_LINEAR;
    else if (!strcmp(mode, "cubic") || !strcmp(mode, "bicubic")) s->kind = RS_CUBIC;
    else
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "mode",
                          "mode '%s' is pad's; interpolate's are 'nearest', 'nearest-exact', 'linear' ('bilinear', "
                          "'trilinear') and 'cubic' ('bicubic')",
                          mode);
    int ac = (at->set & A(GR_ATTR_ALIGN_CORNERS)) && at->align_corners;
    if (at->set & A(GR_ATTR_COORDINATE_TRANSFORMATION_MODE)) {
        static const char *const names[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                            "tf_half_pixel_for_nn"};
        s->map = MAP_HALF_PIXEL;
        for (int i = 0; i < 5; i++)
            if (!strcmp(at->coordinate_transformation_mode, names[i])) s->map = (rs_map)i;
        if (ac && s->map != MAP_ALIGN_CORNERS)
            return gr_fail_op(g, err, GR_E_ARG, id, -1, "align_corners",
                              "align_corners contradicts coordinate_transformation_mode '%s'",
                              at->coordinate_transformation_mode);
    } else {
        s->map = ac ? MAP_ALIGN_CORNERS : s->kind == RS_NEAREST && !exact ? MAP_ASYMMETRIC : MAP_HALF_PIXEL;
    }
    s->round = exact ? ROUND_PREFER_CEIL : ROUND_FLOOR;
    if (at->set & A(GR_ATTR_NEAREST_MODE)) {
        if (s->kind != RS_NEAREST || exact)
            return gr_fail_op(g, err, GR_E_ARG, id, -1, "nearest_mode", "nearest_mode is for mode 'nearest' only");
        const char *nm = at->nearest_mode;
        s->round = !strcmp(nm, "ceil")                 ? ROUND_CEIL
                   : !strcmp(nm, "round_prefer_floor") ? ROUND_PREFER_FLOOR
                   : !strcmp(nm, "round_prefer_ceil")  ? ROUND_PREFER_CEIL
                                                       : ROUND_FLOOR;
    }
    s->torch_nearest = s->kind == RS_NEAREST && !exact && s->map == MAP_ASYMMETRIC &&
                       !(at->set & (A(GR_ATTR_COORDINATE_TRANSFORMATION_MODE) | A(GR_ATTR_NEAREST_MODE)));
    s->a = -0.75;
    if (at->set & (A(GR_ATTR_CUBIC_COEFF_A) | A(GR_ATTR_EXCLUDE_OUTSIDE))) {
        if (s->kind != RS_CUBIC)
            return gr_fail_op(g, err, GR_E_ARG, id, -1,
                              (at->set & A(GR_ATTR_CUBIC_COEFF_A)) ? "cubic_coeff_a" : "exclude_outside",
                              "cubic_coeff_a and exclude_outside are for mode 'cubic' only");
        if (at->set & A(GR_ATTR_CUBIC_COEFF_A)) s->a = at->cubic_coeff_a;
        s->exclude = (at->set & A(GR_ATTR_EXCLUDE_OUTSIDE)) && at->exclude_outside;
    }
    s->has_scale = (at->set & A(GR_ATTR_SCALE_FACTOR)) != 0;
    s->scale = at->scale_factor;
    if (s->has_scale && !(s->scale > 0))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "scale_factor", "scale_factor is %g; it must be > 0", s->scale);
    return GR_OK;
}

/* The resized axes of node id over an operand of rank rank: axes, else the
 * last len(size) axes, else every axis from 2 (torch's N, C, spatial...). */
static gr_status rs_axes(gr_graph *g, int id, int rank, rs_spec *s, gr_error *err) {
    const gr_attrs *at = g->nodes[id].attrs;
    int has_size = (at->set & A(GR_ATTR_SIZE)) != 0;
    if (at->set & A(GR_ATTR_AXES)) {
        unsigned seen = 0;
        s->naxes = at->naxes;
        for (int i = 0; i < at->naxes; i++) {
            if (!gr_axis_norm(at->axes[i], rank, &s->axes[i]))
                return gr_fail_op(g, err, GR_E_ARG, id, 0, "axes", "axis %d is out of range for rank %d", at->axes[i],
                                  rank);
            if (seen & (1u << s->axes[i]))
                return gr_fail_op(g, err, GR_E_ARG, id, 0, "axes", "axis %d is repeated", at->axes[i]);
            seen |= 1u << s->axes[i];
        }
    } else if (has_size) {
        if (at->nsize > rank)
            return gr_fail_op(g, err, GR_E_SHAPE, id, 0, "size", "size has %d entries for an operand of rank %d",
                              at->nsize, rank);
        s->naxes = at->nsize;
        for (int i = 0; i < s->naxes; i++) s->axes[i] = rank - s->naxes + i;
    } else {
        if (rank < 3)
            return gr_fail_op(g, err, GR_E_SHAPE, id, 0, "axes",
                              "an operand of rank %d has no spatial axes (torch's N, C, ...): give axes or size", rank);
        s->naxes = rank - 2;
        for (int i = 0; i < s->naxes; i++) s->axes[i] = 2 + i;
    }
    if (has_size && at->nsize != s->naxes)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "size", "size has %d entries for %d resized axes", at->nsize,
                          s->naxes);
    return GR_OK;
}

/* The spec of node id, interpolate (backward 0: its operand is the input,
 * its result the output) or interpolate_backward (1: its operand has the
 * output's shape, its result the input's, whose sizes on the axes are
 * size, required there). */
static gr_status rs_spec_of(gr_graph *g, int id, int backward, rs_spec *s, gr_error *err) {
    const gr_attrs *at = g->nodes[id].attrs;
    const gr_shape *x = IN_SHAPE(g, id, 0);
    memset(s, 0, sizeof *s);
    gr_status st = rs_modes(g, id, s, err);
    if (st == GR_OK) st = rs_axes(g, id, x->rank, s, err);
    if (st != GR_OK) return st;
    if (!backward && !(at->set & (A(GR_ATTR_SIZE) | A(GR_ATTR_SCALE_FACTOR))))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "size", "give size or scale_factor");
    if (backward && !(at->set & A(GR_ATTR_SIZE)))
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "size", "interpolate_backward needs size (the input's sizes)");
    s->in = s->out = *x;
    for (int i = 0; i < s->naxes; i++) {
        int ax = s->axes[i];
        int64_t n;
        if (at->set & A(GR_ATTR_SIZE)) {
            n = at->size[i];
        } else {
            double f = floor((double)x->dims[ax] * s->scale);
            if (!(f < 9.0e15))
                return gr_fail_op(g, err, GR_E_OVERFLOW, id, -1, "scale_factor", "axis %d would have %g elements", ax,
                                  f);
            n = (int64_t)f;
        }
        if (backward) s->in.dims[ax] = n;
        else s->out.dims[ax] = n;
        if (s->in.dims[ax] < 1 || s->out.dims[ax] < 1)
            return gr_fail_op(g, err, GR_E_SHAPE, id, 0, s->out.dims[ax] < 1 ? "scale_factor" : NULL,
                              "axis %d would resize %lld elements to %lld; both must be at least 1 (as torch)", ax,
                              (long long)s->in.dims[ax], (long long)s->out.dims[ax]);
    }
    return GR_OK;
}

/* ---- the 1-D weights ---------------------------------------------------- */

/* The input coordinate of output index o on an axis of in -> out elements.
 * With no scale the ratio is in / out, computed from integers so that
 * exact coordinates stay exact (nearest's rounding depends on it). */
static double rs_coord(const rs_spec *s, int64_t o, int64_t in, int64_t out) {
    double od = (double)o, ind = (double)in, outd = (double)out;
    switch (s->map) {
    case MAP_ALIGN_CORNERS: return out > 1 ? od * (ind - 1) / (outd - 1) : 0;
    case MAP_ASYMMETRIC: return s->has_scale ? od / s->scale : od * ind / outd;
    case MAP_TF_HALF_PIXEL: return s->has_scale ? (od + 0.5) / s->scale : (2 * od + 1) * ind / (2 * outd);
    case MAP_PYTORCH_HALF_PIXEL:
        if (out == 1) return 0;
        /* fall through */
    case MAP_HALF_PIXEL:
    default: return s->has_scale ? (od + 0.5) / s->scale - 0.5 : ((2 * od + 1) * ind - outd) / (2 * outd);
    }
}

static int64_t clamp_index(double i, int64_t n) { return i < 0 ? 0 : i > (double)(n - 1) ? n - 1 : (int64_t)i; }

/* Keys' cubic convolution kernel at distance d in [0, 2] (torch's
 * cubic_convolution1 for d <= 1, cubic_convolution2 beyond). */
static double keys(double d, double a) {
    if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
    return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
}

/* The taps of the axis of in -> out elements: idx[o * nt + j] and
 * w[o * nt + j] for each output index o, nt = rs_ntaps(s->kind). */
static void rs_taps(const rs_spec *s, int64_t in, int64_t out, int64_t *idx, double *w) {
    int nt = rs_ntaps(s->kind);
    for (int64_t o = 0; o < out; o++) {
        int64_t *ix = idx + o * nt;
        double *wt = w + o * nt;
        double x = rs_coord(s, o, in, out);
        if (s->kind == RS_NEAREST) {
            double r = s->round == ROUND_FLOOR          ? floor(x)
                       : s->round == ROUND_CEIL         ? ceil(x)
                       : s->round == ROUND_PREFER_FLOOR ? ceil(x - 0.5)
                                                        : floor(x + 0.5);
            if (s->torch_nearest && out == in) r = (double)o; /* torch's shortcuts, whatever the scale */
            if (s->torch_nearest && out == 2 * in) r = (double)(o >> 1);
            ix[0] = clamp_index(r, in);
            wt[0] = 1;
            continue;
        }
        if (s->kind == RS_LINEAR && x < 0) x = 0; /* torch's: then c0 + 1 weighs 0 (a NaN there still shows) */
        double f = floor(x), t = x - f;
        if (s->kind == RS_LINEAR) {
            ix[0] = clamp_index(f, in), ix[1] = clamp_index(f + 1, in);
            wt[0] = 1 - t, wt[1] = t;
            continue;
        }
        double sum = 0;
        for (int j = 0; j < 4; j++) {
            double at = f - 1 + j;
            wt[j] = keys(fabs(x - at), s->a);
            ix[j] = clamp_index(at, in);
            if (s->exclude && (at < 0 || at > (double)(in - 1))) wt[j] = 0;
            sum += wt[j];
        }
        if (s->exclude && sum != 0)
            for (int j = 0; j < 4; j++) wt[j] /= sum;
    }
}

/* ---- plan and workspace ---------------------------------------------- */

/* The passes of a node: pass p resizes axis axes[p] from shape[p] to
 * shape[p + 1] (interpolate: in to out, axis by axis; interpolate_backward
 * applies the transposes in reverse, out to in). */
typedef struct rs_plan {
    rs_spec s;
    int backward;
    int npass;
    int axis[GR_MAX_RANK];          /* (npass) */
    int64_t n_out[GR_MAX_RANK];     /* (npass) the forward map's output size of the pass's axis */
    int64_t n_in[GR_MAX_RANK];      /* (npass) its input size */
    gr_shape shape[GR_MAX_RANK + 1];/* (npass + 1) the tensor before and after each pass */
    int64_t tap_off[GR_MAX_RANK];   /* (npass) of the pass's taps in the tables, in taps */
    int64_t ntaps;                  /* taps of all passes */
    int64_t inter;                  /* elements of the largest intermediate tensor (0: none) */
} rs_plan;

static int64_t numel_of(const gr_shape *s) {
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= s->dims[i];
    return n;
}

/* The plan of node id; GR_OK unless its attributes are bad (checked at
 * inference, so the kernels' call cannot fail). */
static gr_status rs_plan_of(gr_graph *g, int id, int backward, rs_plan *p, gr_error *err) {
    gr_status st = rs_spec_of(g, id, backward, &p->s, err);
    if (st != GR_OK) return st;
    const rs_spec *s = &p->s;
    int nt = rs_ntaps(s->kind);
    p->backward = backward;
    p->npass = 0;
    p->ntaps = 0;
    p->inter = 0;
    p->shape[0] = backward ? s->out : s->in;
    for (int i = 0; i < s->naxes; i++) {
        int ax = s->axes[backward ? s->naxes - 1 - i : i];
        if (s->in.dims[ax] == s->out.dims[ax] && s->torch_nearest) continue; /* torch's nearest copies an axis it does not resize */
        int k = p->npass++;
        p->axis[k] = ax;
        p->n_in[k] = s->in.dims[ax];
        p->n_out[k] = s->out.dims[ax];
        p->tap_off[k] = p->ntaps;
        p->ntaps += p->n_out[k] * nt;
        p->shape[k + 1] = p->shape[k];
        p->shape[k + 1].dims[ax] = backward ? p->n_in[k] : p->n_out[k];
    }
    for (int k = 1; k < p->npass; k++) {
        int64_t n = numel_of(&p->shape[k]);
        if (n > p->inter) p->inter = n;
    }
    return GR_OK;
}

/* Workspace bytes of a plan: the tap tables (int64 indices, double
 * weights), then two intermediate tensors (one when there are two passes). */
static int64_t plan_bytes(const rs_plan *p, size_t esz) {
    int nbuf = p->npass > 2 ? 2 : p->npass == 2 ? 1 : 0;
    return p->ntaps * (int64_t)(sizeof(int64_t) + sizeof(double)) + nbuf * p->inter * (int64_t)esz;
}

static int64_t rs_workspace_of(const gr_graph *g, const gr_node *n, int backward) {
    rs_plan p;
    if (rs_plan_of((gr_graph *)g, (int)(n - g->nodes), backward, &p, NULL) != GR_OK) return 0;
    return plan_bytes(&p, gr_dtype_size(g->dt));
}
static int64_t interpolate_workspace(const gr_graph *g, const gr_node *n) { return rs_workspace_of(g, n, 0); }
static int64_t interpolate_backward_workspace(const gr_graph *g, const gr_node *n) { return rs_workspace_of(g, n, 1); }

static int64_t rs_flops_of(const gr_graph *g, const gr_node *n, int backward) {
    rs_plan p;
    if (rs_plan_of((gr_graph *)g, (int)(n - g->nodes), backward, &p, NULL) != GR_OK) return n->numel;
    int64_t f = 0, nt = rs_ntaps(p.s.kind);
    for (int k = 0; k < p.npass; k++) {
        int64_t big = numel_of(&p.shape[backward ? k : k + 1]);
        f += 2 * nt * big;
    }
    return f;
}
static int64_t interpolate_flops(const gr_graph *g, const gr_node *n) { return rs_flops_of(g, n, 0); }
static int64_t interpolate_backward_flops(const gr_graph *g, const gr_node *n) { return rs_flops_of(g, n, 1); }

/* ---- kernels ------------------------------------------------------------ */

/* One pass over a tensor viewed as [outer, n, inner]: gather (dst has
 * n_out along the axis: dst[o] = sum_j w[o, j] src[idx[o, j]]) or, for the
 * transpose, scatter (dst has n_in: dst[idx[o, j]] += w[o, j] src[o]). */
typedef struct rs_pass {
    const void *src;
    void *dst;
    int64_t inner, n_in, n_out;
    int nt;
    const int64_t *idx;
    const double *w;
    int transpose;
    gr_dtype dt;
    const volatile int *cancel;
} rs_pass;

#define RS_PASS_PART(NAME, T)                                                                                         \
    static void NAME(const rs_pass *P, int64_t b0, int64_t b1) {                                                      \
        const int64_t inner = P->inner, nt = P->nt;                                                                   \
        for (int64_t b = b0; b < b1; b++) {                                                                           \
            if (b > b0 && gr_cancelled(P->cancel)) return;                                                            \
            if (!P->transpose) {                                                                                      \
                const T *src = (const T *)P->src + b * P->n_in * inner;                                               \
                T *dst = (T *)P->dst + b * P->n_out * inner;                                                          \
                for (int64_t o = 0; o < P->n_out; o++) {                                                              \
                    const int64_t *ix = P->idx + o * nt;                                                              \
                    const double *wt = P->w + o * nt;                                                                 \
                    T *d = dst + o * inner;                                                                           \
                    if (nt == 1) {                                                                                    \
                        memcpy(d, src + ix[0] * inner, (size_t)inner * sizeof(T));                                    \
                        continue;                                                                                     \
                    }                                                                                                 \
                    for (int64_t i = 0; i < inner; i++) d[i] = -0.0; /* keeps -0 sums -0, as torch's */           \
                    for (int64_t j = 0; j < nt; j++) {                                                                \
                        const T wj = (T)wt[j], *sj = src + ix[j] * inner;                                             \
                        for (int64_t i = 0; i < inner; i++) d[i] += wj * sj[i];                                       \
                    }                                                                                                 \
                }                                                                                                     \
            } else {                                                                                                  \
                const T *src = (const T *)P->src + b * P->n_out * inner;                                              \
                T *dst = (T *)P->dst + b * P->n_in * inner;                                                           \
                for (int64_t i = 0; i < P->n_in * inner; i++) dst[i] = 0;                                             \
                for (int64_t o = 0; o < P->n_out; o++) {                                                              \
                    const int64_t *ix = P->idx + o * nt;                                                              \
                    const double *wt = P->w + o * nt;                                                                 \
                    const T *s = src + o * inner;                                                                     \
                    for (int64_t j = 0; j < nt; j++) {                                                                \
                        const T wj = (T)wt[j];                                                                        \
                        T *dj = dst + ix[j] * inner;                                                                  \
                        for (int64_t i = 0; i < inner; i++) dj[i] += wj * s[i];                                       \
                    }                                                                                                 \
                }                                                                                                     \
            }                                                                                                         \
        }                                                                                                             \
    }
RS_PASS_PART(pass_part_f32, float)
RS_PASS_PART(pass_part_f64, double)

static void pass_part(void *ctx, int64_t b0, int64_t b1) {
    const rs_pass *P = ctx;
    if (P->dt == GR_F32) pass_part_f32(P, b0, b1);
    else pass_part_f64(P, b0, b1);
}

/* Run node k's passes from its operand to its output through the
 * workspace's intermediates. */
static gr_status rs_run(const gr_kernel *k, int backward, gr_error *err) {
    gr_graph *g = (gr_graph *)k->g;
    rs_plan p;
    if (rs_plan_of(g, (int)(k->n - g->nodes), backward, &p, err) != GR_OK) return GR_E_STATE;
    if (k->n->numel == 0) return GR_OK;
    if (p.npass == 0) { /* nothing resized (torch's nearest at equal sizes) */
        gr_copy_chunked(k, k->out, k->in[0], k->n->numel);
        return GR_OK;
    }
    size_t esz = gr_dtype_size(k->dt);
    char *work = k->work;
    int64_t *idx = (int64_t *)work;
    double *w = (double *)(work + p.ntaps * (int64_t)sizeof(int64_t));
    char *buf[2] = {work + p.ntaps * (int64_t)(sizeof(int64_t) + sizeof(double)), NULL};
    buf[1] = buf[0] + p.inter * (int64_t)esz;
    int nt = rs_ntaps(p.s.kind);
    for (int q = 0; q < p.npass; q++) rs_taps(&p.s, p.n_in[q], p.n_out[q], idx + p.tap_off[q], w + p.tap_off[q]);
    const void *src = k->in[0];
    for (int q = 0; q < p.npass; q++) {
        if (gr_cancelled(k->cancel)) return GR_OK;
        void *dst = q == p.npass - 1 ? k->out : buf[q % 2];
        const gr_shape *from = &p.shape[q];
        int ax = p.axis[q];
        int64_t outer = 1, inner = 1;
        for (int i = 0; i < ax; i++) outer *= from->dims[i];
        for (int i = ax + 1; i < from->rank; i++) inner *= from->dims[i];
        rs_pass P = {src, dst, inner, p.n_in[q], p.n_out[q], nt, idx + p.tap_off[q], w + p.tap_off[q], backward,
                     k->dt, k->cancel};
        int64_t row = (backward ? p.n_in[q] + p.n_out[q] * nt : p.n_out[q] * nt) * inner;
        if (outer > 0 && inner > 0) gr_parallel_for(outer, row > 0 ? (GR_PAR_GRAIN + row - 1) / row : outer, pass_part, &P);
        src = dst;
    }
    return GR_OK;
}

static gr_status interpolate_forward(const gr_kernel *k, gr_error *err) { return rs_run(k, 0, err); }
static gr_status interpolate_backward_forward(const gr_kernel *k, gr_error *err) { return rs_run(k, 1, err); }

/* ---- shapes and derivatives -------------------------------------------- */

static gr_status interpolate_infer(gr_graph *g, int id, gr_error *err) {
    rs_spec s;
    gr_status st = rs_spec_of(g, id, 0, &s, err);
    return st != GR_OK ? st : gr_node_set_shape(g, id, &s.out, err);
}

static gr_status interpolate_backward_infer(gr_graph *g, int id, gr_error *err) {
    rs_spec s;
    gr_status st = rs_spec_of(g, id, 1, &s, err);
    return st != GR_OK ? st : gr_node_set_shape(g, id, &s.in, err);
}

/* Node id's attributes with axes explicit and size the sizes of shape on
 * them: the partner op's attributes (interpolate's size is its output's,
 * interpolate_backward's its result's, the forward input's). */
static gr_attrs partner_attrs(gr_graph *g, int id, int backward, const gr_shape *sized) {
    rs_spec s;
    gr_attrs at = *g->nodes[id].attrs;
    if (rs_spec_of(g, id, backward, &s, NULL) != GR_OK) return at; /* cannot happen after inference */
    int64_t axes[GR_MAX_RANK], size[GR_MAX_RANK];
    for (int i = 0; i < s.naxes; i++) axes[i] = s.axes[i], size[i] = sized->dims[s.axes[i]];
    gr_attrs_set_ints(&at, GR_ATTR_AXES, axes, s.naxes, NULL);
    gr_attrs_set_ints(&at, GR_ATTR_SIZE, size, s.naxes, NULL);
    return at;
}

static void interpolate_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_shape x = *IN_SHAPE(g, id, 0);
    gr_attrs at = partner_attrs(g, id, 0, &x);
    grads[0] = gr_build_apply(g, &gr_op_interpolate_backward, grad, -1, -1, &at);
}

static int interpolate_jvp(gr_graph *g, int id, const int *t) {
    gr_attrs at = *g->nodes[id].attrs;
    return gr_build_apply(g, &gr_op_interpolate, t[0], -1, -1, &at);
}

static void interpolate_backward_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_shape y = *IN_SHAPE(g, id, 0);
    gr_attrs at = partner_attrs(g, id, 1, &y);
    grads[0] = gr_build_apply(g, &gr_op_interpolate, grad, -1, -1, &at);
}

static int interpolate_backward_jvp(gr_graph *g, int id, const int *t) {
    gr_attrs at = *g->nodes[id].attrs;
    return gr_build_apply(g, &gr_op_interpolate_backward, t[0], -1, -1, &at);
}

#define RS_ATTRS                                                                                                      \
    (A(GR_ATTR_MODE) | A(GR_ATTR_SIZE) | A(GR_ATTR_SCALE_FACTOR) | A(GR_ATTR_AXES) | A(GR_ATTR_ALIGN_CORNERS) |      \
     A(GR_ATTR_COORDINATE_TRANSFORMATION_MODE) | A(GR_ATTR_NEAREST_MODE) | A(GR_ATTR_CUBIC_COEFF_A) |               \
     A(GR_ATTR_EXCLUDE_OUTSIDE))

const gr_op gr_op_interpolate = {
    .name = "interpolate", .arity = 1, .attrs = RS_ATTRS,
    .doc = "y = x resized along axes (absent: with size, the last len(size) axes; else every axis from 2, torch's "
           "spatial axes of N, C, ...) to size, or to floor(n * scale_factor) (torch's F.interpolate, ONNX's "
           "Resize and Upsample; one scale_factor for every resized axis: chain two for different ones; torch's "
           "recompute_scale_factor=True is size alone; its antialias is not offered). Output "
           "index o reads input coordinate c by coordinate_transformation_mode (ONNX's formulas, s = "
           "scale_factor when given, else out / in; absent: 'align_corners' with align_corners, else "
           "'asymmetric' c = o / s for mode 'nearest' and 'half_pixel' c = (o + 0.5) / s - 0.5 otherwise, as "
           "torch). mode 'nearest' (the default) reads index round(c) by nearest_mode (absent: floor, torch's; "
           "ONNX's default round_prefer_floor is set by its importer); when neither coordinate_transformation_mode nor "
           "nearest_mode is given, an axis whose output has the input's length is copied and one of twice it "
           "repeats each element (torch's rule, whatever the scale). 'nearest-exact' rounds halves up, c from 'half_pixel' (torch's). 'linear' "
           "('bilinear', 'trilinear') weighs c0 = floor(c) by 1 - t and c0 + 1 by t, t = c - c0; 'cubic' "
           "('bicubic') weighs c0 - 1 .. c0 + 2 by Keys' kernel with a = cubic_coeff_a (default -0.75, torch's "
           "and ONNX's): (a + 2)|d|^3 - (a + 3)|d|^2 + 1 for |d| <= 1, a|d|^3 - 5a|d|^2 + 8a|d| - 4a for |d| < 2. "
           "Linear takes c < 0 as 0 (torch's rule; ONNX's edge padding gives the same finite values). An index "
           "outside the input reads the edge element (torch's clamp, ONNX's edge padding), except with exclude_outside (cubic, ONNX's): such taps weigh "
           "0 and the others are renormalised to sum 1. Several axes are resized one after another (the weights "
           "are tensor products, as torch's and ONNX's). Every resized axis must have at least one element in "
           "and out (as torch). Linear in x: dx = interpolate_backward(g), each output's gradient added to the "
           "elements it read with their weights; dy = interpolate(dx).",
    .infer = interpolate_infer, .forward = interpolate_forward, .vjp = interpolate_vjp, .jvp = interpolate_jvp,
    .flops = interpolate_flops, .workspace = interpolate_workspace,
};

const gr_op gr_op_interpolate_backward = {
    .name = "interpolate_backward", .arity = 1, .attrs = RS_ATTRS, .required = A(GR_ATTR_SIZE),
    .flags = GR_OPF_INTERNAL,
    .doc = "y = the transpose of interpolate applied to g (interpolate's VJP): g has interpolate's output shape, "
           "y its input's, whose sizes on the resized axes are size (required); the other attributes are "
           "interpolate's, scale_factor included (the coordinate map uses it). Each element of g is added to the "
           "input elements its output read, times their weights. Linear: dg = interpolate(gy) (size then the "
           "sizes of g), dy = interpolate_backward(dg).",
    .infer = interpolate_backward_infer, .forward = interpolate_backward_forward, .vjp = interpolate_backward_vjp,
    .jvp = interpolate_backward_jvp, .flops = interpolate_backward_flops, .workspace = interpolate_backward_workspace,
};

const gr_op *const gr_ops_resize[] = {&gr_op_interpolate, &gr_op_interpolate_backward, NULL};
