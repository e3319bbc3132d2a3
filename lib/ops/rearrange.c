/* rearrange.c -- ops that reorder or repeat elements along axes: flip,
 * roll, tile and repeat. Each is a gather through per-axis index maps
 * (index_map.h). flip and roll are permutations, so their VJP is the
 * inverse permutation (flip itself, roll by the negated shifts); tile and
 * repeat copy elements, so their VJP sums the copies (a reshape that puts
 * the copies on an axis of their own, and a sum over it). Every JVP is the
 * op applied to the tangent: all four are linear. */
#include "index_map.h"

#include <string.h>

extern const gr_op gr_op_flip, gr_op_roll;

#define X_SHAPE(g, id) IN_SHAPE(g, id, 0)

/* The axes of node id in the order given, normalised against rank, from
 * axis (one) or axes (a list; repeats allowed when allow_repeat); *n = -1
 * when neither is set. */
static gr_status node_axes_list(gr_graph *g, int id, int rank, int allow_repeat, int *axes, int *n,
                                gr_error *err) {
    const gr_attrs *at = g->nodes[id].attrs;
    int has_axis = (at->set & A(GR_ATTR_AXIS)) != 0, has_axes = (at->set & A(GR_ATTR_AXES)) != 0;
    const char *name = has_axis ? "axis" : "axes";
    if (has_axis && has_axes) return gr_fail_op(g, err, GR_E_ARG, id, -1, "axis", "give either axis or axes, not both");
    if (!has_axis && !has_axes) {
        *n = -1;
        return GR_OK;
    }
    int cnt = has_axis ? 1 : at->naxes;
    unsigned seen = 0;
    for (int i = 0; i < cnt; i++) {
        int raw = has_axis ? at->axis : at->axes[i], ax;
        if (!gr_axis_norm(raw, rank, &ax))
            return gr_fail_op(g, err, GR_E_ARG, id, 0, name, "axis %d is out of range for rank %d", raw, rank);
        if (!allow_repeat && (seen & (1u << ax)))
            return gr_fail_op(g, err, GR_E_ARG, id, 0, name, "axis %d is repeated", raw);
        seen |= 1u << ax;
        axes[i] = ax;
    }
    *n = cnt;
    return GR_OK;
}

/* r mod d in [0, d) for d > 0. */
static int64_t mod_pos(int64_t r, int64_t d) {
    int64_t m = r % d;
    return m < 0 ? m + d : m;
}

/* Apply op to a with the attributes at (the tangent or gradient of a
 * linear op). */
static int apply_with(gr_graph *g, const gr_op *op, int a, const gr_attrs *at) {
    return gr_build_apply(g, op, a, -1, -1, at);
}

/* The JVP of every op here: the op itself on the tangent. */
static int same_op_jvp(gr_graph *g, int id, const int *t) {
    gr_attrs at = *g->nodes[id].attrs;
    return apply_with(g, g->nodes[id].op, t[0], &at);
}

/* ---- flip ------------------------------------------------------------ */

static gr_status flip_mask(gr_graph *g, int id, unsigned *mask, gr_error *err) {
    char buf[32];
    return gr_axes_mask(g->nodes[id].attrs, X_SHAPE(g, id)->rank, mask, err, gr_node_name(g, id, buf, sizeof buf));
}

static gr_status flip_infer(gr_graph *g, int id, gr_error *err) {
    unsigned mask;
    gr_status st = flip_mask(g, id, &mask, err);
    if (st != GR_OK) return st;
    return gr_infer_same(g, id, err);
}

static gr_status flip_forward(const gr_kernel *k, gr_error *err) {
    (void)err;
    const gr_shape *x = &k->g->nodes[k->n->in[0]].shape;
    unsigned mask;
    gr_axes_mask(k->n->attrs, x->rank, &mask, NULL, NULL); /* validated at inference */
    gr_axis_map maps[GR_MAX_RANK];
    for (int a = 0; a < x->rank; a++)
        maps[a] = (gr_axis_map){(mask & (1u << a)) ? GR_MAP_FLIP : GR_MAP_IDENT, x->dims[a], 0};
    gr_gather_maps(k, &k->n->shape, k->out, x, k->in[0], maps, 0);
    return GR_OK;
}

/* flip is its own inverse and its own transpose. */
static void flip_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_attrs at = *g->nodes[id].attrs;
    grads[0] = apply_with(g, &gr_op_flip, grad, &at);
}

const gr_op gr_op_flip = {
    .name = "flip", .arity = 1, .attrs = A(GR_ATTR_AXES) | A(GR_ATTR_AXIS),
    .doc = "y = x with the order of elements reversed along axis or axes (absent: all axes), as np.flip "
           "(torch.flip names them dims and needs them); y[..., i, ...] = x[..., d-1-i, ...]; dx = flip(g), "
           "dy = flip(dx). Empty and size-1 axes are unchanged.",
    .infer = flip_infer, .forward = flip_forward, .vjp = flip_vjp, .jvp = same_op_jvp,
};

/* ---- roll ------------------------------------------------------------ */

/* The shift of each axis of node id (flat: the whole tensor as one axis,
 * shift[0]), reduced mod the axis length; validates the attributes. */
static gr_status roll_shifts(gr_graph *g, int id, int *flat, int64_t *shift, gr_error *err) {
    const gr_attrs *at = g->nodes[id].attrs;
    const gr_shape *x = X_SHAPE(g, id);
    int axes[GR_MAX_RANK], naxes = -1, ns = at->nshifts;
    gr_status st = node_axes_list(g, id, x->rank, 1, axes, &naxes, err);
    if (st != GR_OK) return st;
    if (ns < 1) return gr_fail_op(g, err, GR_E_ARG, id, -1, "shifts", "shifts needs at least one entry");
    for (int a = 0; a < GR_MAX_RANK; a++) shift[a] = 0;
    if (naxes < 0) { /* NumPy: roll the flattened tensor by the sum of the shifts */
        int64_t n = g->nodes[g->nodes[id].in[0]].numel;
        *flat = 1;
        for (int i = 0; i < ns && n > 0; i++) shift[0] = mod_pos(shift[0] + mod_pos(at->shifts[i], n), n);
        return GR_OK;
    }
    *flat = 0;
    if (ns != naxes && ns != 1 && naxes != 1)
        return gr_fail_op(g, err, GR_E_ARG, id, -1, "shifts", "shifts has %d entries for %d axes", ns, naxes);
    int pairs = ns > naxes ? ns : naxes;
    for (int i = 0; i < pairs; i++) { /* one entry on either side broadcasts, as in NumPy */
        int ax = axes[naxes == 1 ? 0 : i];
        int64_t s = at->shifts[ns == 1 ? 0 : i], d = x->dims[ax];
        if (d > 0) shift[ax] = mod_pos(shift[ax] + mod_pos(s, d), d);
    }
    return GR_OK;
}

static gr_status roll_infer(gr_graph *g, int id, gr_error *err) {
    int flat;
    int64_t shift[GR_MAX_RANK];
    gr_status st = roll_shifts(g, id, &flat, shift, err);
    if (st != GR_OK) return st;
    return gr_infer_same(g, id, err);
}

static gr_status roll_forward(const gr_kernel *k, gr_error *err) {
    gr_graph *g = (gr_graph *)k->g;
    int id = (int)(k->n - g->nodes), flat;
    int64_t shift[GR_MAX_RANK];
    roll_shifts(g, id, &flat, shift, err); /* validated at inference */
    const gr_shape *x = &g->nodes[k->n->in[0]].shape;
    gr_axis_map maps[GR_MAX_RANK];
    if (flat) {
        gr_shape line = {1, {k->n->numel}};
        maps[0] = (gr_axis_map){GR_MAP_ROLL, k->n->numel, shift[0]};
        gr_gather_maps(k, &line, k->out, &line, k->in[0], maps, 0);
        return GR_OK;
    }
    for (int a = 0; a < x->rank; a++)
        maps[a] = (gr_axis_map){shift[a] ? GR_MAP_ROLL : GR_MAP_IDENT, x->dims[a], shift[a]};
    gr_gather_maps(k, &k->n->shape, k->out, x, k->in[0], maps, 0);
    return GR_OK;
}

/* The inverse (and transpose) of a roll is the roll by the negated shifts. */
static void roll_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_attrs at = *g->nodes[id].attrs;
    for (int i = 0; i < at.nshifts; i++) at.shifts[i] = -at.shifts[i]; /* |shift| <= INT64_MAX */
    grads[0] = apply_with(g, &gr_op_roll, grad, &at);
}

const gr_op gr_op_roll = {
    .name = "roll", .arity = 1, .attrs = A(GR_ATTR_SHIFTS) | A(GR_ATTR_AXES) | A(GR_ATTR_AXIS),
    .required = A(GR_ATTR_SHIFTS),
    .doc = "y = x rolled: y[..., (i + s) mod d, ...] = x[..., i, ...] along each axis of axis or axes with the "
           "matching entry of shifts (one entry on either side applies to all; a repeated axis adds its shifts), "
           "as np.roll and torch.roll; without axes the flattened tensor rolls by the sum of shifts (NumPy; torch "
           "takes one shift there). dx = roll(g, -shifts), dy = roll(dx, shifts).",
    .infer = roll_infer, .forward = roll_forward, .vjp = roll_vjp, .jvp = same_op_jvp,
};

/* ---- tile ------------------------------------------------------------ */

/* NumPy's tile rule for node id: the operand's shape promoted to
 * max(rank, len(reps)) axes by leading 1s (*xp), reps promoted the same
 * way (reps), and the result's shape (*out). */
static gr_status tile_shapes(gr_graph *g, int id, gr_shape *xp, int64_t *reps, gr_shape *out, gr_error *err) {
    const gr_attrs *at = g->nodes[id].attrs;
    const gr_shape *x = X_SHAPE(g, id);
    int r = x->rank > at->nreps ? x->rank : at->nreps;
    memset(xp, 0, sizeof *xp);
    memset(out, 0, sizeof *out);
    xp->rank = out->rank = r;
    for (int a = 0; a < r; a++) {
        int ax = a - (r - x->rank), ar = a - (r - at->nreps);
        xp->dims[a] = ax >= 0 ? x->dims[ax] : 1;
        reps[a] = ar >= 0 ? at->reps[ar] : 1;
        if (!gr_mul_ok(xp->dims[a], reps[a], &out->dims[a]))
            return gr_fail_op(g, err, GR_E_OVERFLOW, id, -1, "reps", "the tiled shape overflows");
    }
    return GR_OK;
}

static gr_status tile_infer(gr_graph *g, int id, gr_error *err) {
    gr_shape xp, out;
    int64_t reps[GR_MAX_RANK];
    gr_status st = tile_shapes(g, id, &xp, reps, &out, err);
    if (st != GR_OK) return st;
    if (out.rank > g->lim.max_rank)
        return gr_fail_op(g, err, GR_E_LIMIT, id, -1, "reps", "the result would have rank %d, over %d", out.rank,
                          g->lim.max_rank);
    return gr_node_set_shape(g, id, &out, err);
}

static gr_status tile_forward(const gr_kernel *k, gr_error *err) {
    gr_graph *g = (gr_graph *)k->g;
    gr_shape xp, out;
    int64_t reps[GR_MAX_RANK];
    tile_shapes(g, (int)(k->n - g->nodes), &xp, reps, &out, err);
    gr_axis_map maps[GR_MAX_RANK];
    for (int a = 0; a < xp.rank; a++) maps[a] = (gr_axis_map){reps[a] == 1 ? GR_MAP_IDENT : GR_MAP_TILE, xp.dims[a], 0};
    gr_gather_maps(k, &k->n->shape, k->out, &xp, k->in[0], maps, 0);
    return GR_OK;
}

/* Product of dims [lo, hi) of s. */
static int64_t dims_prod(const gr_shape *s, int lo, int hi) {
    int64_t p = 1;
    for (int a = lo; a < hi; a++) p *= s->dims[a];
    return p;
}

/* Sum the copies of a tiled gradient, one axis at a time: along axis a the
 * result holds reps copies of d elements, so the gradient viewed as
 * [before, reps, d * after] summed over its axis 1 is that axis's
 * gradient. */
static void tile_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_shape xp, cur, x = *X_SHAPE(g, id);
    int64_t reps[GR_MAX_RANK];
    tile_shapes(g, id, &xp, reps, &cur, NULL);
    int acc = grad;
    for (int a = 0; a < cur.rank; a++) {
        if (reps[a] == 1) continue;
        gr_shape split = {3, {dims_prod(&cur, 0, a), reps[a], xp.dims[a] * dims_prod(&cur, a + 1, cur.rank)}};
        int axis1 = 1;
        acc = gr_build_sum(g, gr_build_reshape(g, acc, &split), &axis1, 1, 0);
        cur.dims[a] = xp.dims[a];
        acc = gr_build_reshape(g, acc, &cur);
    }
    grads[0] = gr_build_reshape(g, acc, &x);
}

const gr_op gr_op_tile = {
    .name = "tile", .arity = 1, .attrs = A(GR_ATTR_REPS), .required = A(GR_ATTR_REPS),
    .doc = "y = x repeated reps[i] times along each axis as whole blocks (np.tile; torch.tile): the shorter of "
           "x's shape and reps is padded with leading 1s; reps of 0 give an empty axis. dx = the sum of g's "
           "blocks (g viewed as [reps, d] per axis, summed over reps), dy = tile(dx).",
    .infer = tile_infer, .forward = tile_forward, .vjp = tile_vjp, .jvp = same_op_jvp,
};

/* ---- repeat ---------------------------------------------------------- */

/* The axis repeat runs along (the only axis of the flattened operand when
 * axis is absent) and the operand viewed that way (*xv). */
static gr_status repeat_view(gr_graph *g, int id, gr_shape *xv, int *axis, gr_error *err) {
    const gr_attrs *at = g->nodes[id].attrs;
    const gr_shape *x = X_SHAPE(g, id);
    if (!(at->set & A(GR_ATTR_AXIS))) {
        *xv = (gr_shape){1, {g->nodes[g->nodes[id].in[0]].numel}};
        *axis = 0;
        return GR_OK;
    }
    if (!gr_axis_norm(at->axis, x->rank, axis))
        return gr_fail_op(g, err, GR_E_ARG, id, 0, "axis", "axis %d is out of range for rank %d", at->axis, x->rank);
    *xv = *x;
    return GR_OK;
}

static gr_status repeat_infer(gr_graph *g, int id, gr_error *err) {
    gr_shape xv;
    int axis;
    gr_status st = repeat_view(g, id, &xv, &axis, err);
    if (st != GR_OK) return st;
    if (!gr_mul_ok(xv.dims[axis], g->nodes[id].attrs->repeats, &xv.dims[axis]))
        return gr_fail_op(g, err, GR_E_OVERFLOW, id, -1, "repeats", "the repeated shape overflows");
    return gr_node_set_shape(g, id, &xv, err);
}

static gr_status repeat_forward(const gr_kernel *k, gr_error *err) {
    gr_graph *g = (gr_graph *)k->g;
    gr_shape xv;
    int axis;
    repeat_view(g, (int)(k->n - g->nodes), &xv, &axis, err);
    gr_axis_map maps[GR_MAX_RANK];
    for (int a = 0; a < xv.rank; a++)
        maps[a] = (gr_axis_map){a == axis ? GR_MAP_REPEAT : GR_MAP_IDENT, xv.dims[a], k->n->attrs->repeats};
    gr_gather_maps(k, &k->n->shape, k->out, &xv, k->in[0], maps, 0);
    return GR_OK;
}

/* g viewed as [before, d, repeats, after], summed over its axis 2. */
static void repeat_vjp(gr_graph *g, int id, int grad, const int *need, int *grads) {
    (void)need;
    gr_shape xv, x = *X_SHAPE(g, id);
    int axis, axis2 = 2;
    repeat_view(g, id, &xv, &axis, NULL);
    gr_shape split = {4, {dims_prod(&xv, 0, axis), xv.dims[axis], g->nodes[id].attrs->repeats,
                          dims_prod(&xv, axis + 1, xv.rank)}};
    int acc = gr_build_sum(g, gr_build_reshape(g, grad, &split), &axis2, 1, 0);
    grads[0] = gr_build_reshape(g, acc, &x);
}

const gr_op gr_op_repeat = {
    .name = "repeat", .arity = 1, .attrs = A(GR_ATTR_REPEATS) | A(GR_ATTR_AXIS), .required = A(GR_ATTR_REPEATS),
    .doc = "y = each element of x repeated repeats times in a row along axis (absent: of the flattened tensor, "
           "giving 1-D), as np.repeat with an integer count and torch.repeat_interleave (not torch's "
           "Tensor.repeat, which is tile); repeats 0 gives an empty axis. dx = g viewed as [..., d, repeats, ...] "
           "summed over the copies, dy = repeat(dx).",
    .infer = repeat_infer, .forward = repeat_forward, .vjp = repeat_vjp, .jvp = same_op_jvp,
};

const gr_op *const gr_ops_rearrange[] = {&gr_op_flip, &gr_op_roll, &gr_op_tile, &gr_op_repeat, NULL};
