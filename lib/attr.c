/* attr.c -- the attribute table (see gr_attr_def in grad.h): one row per
 * attribute with its name, type, storage in gr_attrs, valid range, default
 * and description; the range rule; and the generic store and load that
 * replace per-attribute switches. */
#include "internal.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define AT(field) offsetof(gr_attrs, field)
#define WIDTH(field) sizeof(((gr_attrs *)0)->field)
/* An integer, a list of integers (entries at field[0], count at count) or a
 * bool stored in field. */
#define INT_ROW(id, field) id, AT(field), 0, WIDTH(field)
#define LIST_ROW(id, field, count) id, AT(field), AT(count), WIDTH(field[0])

static const char *const reductions[] = {"mean", "sum", "none", "batchmean", NULL};
static const char *const gelu_forms[] = {"none", "tanh", NULL};
/* pad's modes and interpolate's (shortest first: test_attrs reuses one buffer) */
static const char *const modes[] = {"edge", "cubic", "linear", "reflect", "bicubic", "nearest", "bilinear", "constant",
                                    "trilinear", "nearest-exact", NULL};
static const char *const coordinate_maps[] = {"asymmetric", "half_pixel", "align_corners", "pytorch_half_pixel",
                                              "tf_half_pixel_for_nn", NULL};
static const char *const nearest_modes[] = {"ceil", "floor", "round_prefer_ceil", "round_prefer_floor", NULL};

_Static_assert(GR_ATTR_COUNT < GR_ATTR_MASK_BITS, "gr_attr_mask has a bit per attribute and one spare (test_attrs)");

static const gr_attr_def table[GR_ATTR_COUNT] = {
    [GR_ATTR_AXES] = {"axes", GR_ATTR_INTS, LIST_ROW(GR_ATTR_AXES, axes, naxes), -GR_MAX_RANK, GR_MAX_RANK - 1, NULL,
                      "reduction axes of sum, mean, max, min, prod, logsumexp, var, std, norm; the axes of squeeze, "
                      "flip, roll, pad, slice; absent: all axes (pad: the last ones; slice: the first len(starts)); "
                      "negative axes count from the end"},
    [GR_ATTR_KEEPDIMS] = {"keepdims", GR_ATTR_BOOL, INT_ROW(GR_ATTR_KEEPDIMS, keepdims), 0, 1, "false",
                          "keep reduced axes as size 1"},
    [GR_ATTR_AXIS] = {"axis", GR_ATTR_INT, INT_ROW(GR_ATTR_AXIS, axis), -GR_MAX_RANK, GR_MAX_RANK - 1, NULL,
                      "one axis: softmax and log_softmax use -1 when absent; the reductions (sum, mean, max, min, "
                      "prod, logsumexp, var, std, norm) and argmax, argmin reduce it (absent: all); cumsum, cumprod "
                      "run along it (required); squeeze, expand_dims, flip, roll, repeat move along it; concat and "
                      "stack join along it (default 0); take (absent: of the flattened tensor), take_along_axis "
                      "and scatter_add (required) index along it"},
    [GR_ATTR_SHAPE] = {"shape", GR_ATTR_INTS, LIST_ROW(GR_ATTR_SHAPE, shape.dims, shape.rank), -1, INT64_MAX, NULL,
                       "target shape of reshape (one -1 allowed), expand, sum_to, fill, zeros, ones, full; "
                       "diagonal_backward's result"},
    [GR_ATTR_PERM] = {"perm", GR_ATTR_INTS, LIST_ROW(GR_ATTR_PERM, perm, nperm), -GR_MAX_RANK, GR_MAX_RANK - 1, NULL,
                      "transpose permutation; absent: the axes reversed"},
    [GR_ATTR_TRANSPOSE_A] = {"transpose_a", GR_ATTR_BOOL, INT_ROW(GR_ATTR_TRANSPOSE_A, transpose_a), 0, 1, "false",
                             "matmul uses the transpose of its first operand"},
    [GR_ATTR_TRANSPOSE_B] = {"transpose_b", GR_ATTR_BOOL, INT_ROW(GR_ATTR_TRANSPOSE_B, transpose_b), 0, 1, "false",
                             "matmul uses the transpose of its second operand"},
    [GR_ATTR_VALUE] = {"value", GR_ATTR_NUMBER, GR_ATTR_VALUE, AT(value), 0, 0, 0, 0, NULL,
                       "the value of fill, full, full_like and of pad's constant mode (default 0 there)"},
    [GR_ATTR_NUM_CLASSES] = {"num_classes", GR_ATTR_INT, INT_ROW(GR_ATTR_NUM_CLASSES, num_classes), 0, INT64_MAX,
                             NULL, "the width of one_hot"},
    [GR_ATTR_REDUCTION] = {"reduction", GR_ATTR_STRING, GR_ATTR_REDUCTION, AT(reduction), 0, 0, 1, GR_ATTR_STR_MAX - 1,
                           "\"mean\"",
                           "how a loss reduces its terms: their mean, their sum, none (one per row or element), or "
                           "'batchmean' (kl_div only: the sum over the first dim's size)",
                           reductions},
    [GR_ATTR_STRIDE] = {"stride", GR_ATTR_INTS, LIST_ROW(GR_ATTR_STRIDE, stride, nstride), 1, INT32_MAX, NULL,
                        "conv and pooling step per spatial dim, one entry for all; absent: 1 (conv), "
                        "kernel_size (pooling)"},
    [GR_ATTR_PADDING] = {"padding", GR_ATTR_INTS, LIST_ROW(GR_ATTR_PADDING, padding, npadding), 0, INT32_MAX, "[0]",
                         "implicit padding on both sides of each spatial dim (zeros for conv and avg_pool2d, -inf "
                         "for max_pool2d), one entry for all"},
    [GR_ATTR_DILATION] = {"dilation", GR_ATTR_INTS, LIST_ROW(GR_ATTR_DILATION, dilation, ndilation), 1, INT32_MAX,
                          "[1]", "spacing of the kernel taps per spatial dim, one entry for all"},
    [GR_ATTR_GROUPS] = {"groups", GR_ATTR_INT, INT_ROW(GR_ATTR_GROUPS, groups), 1, INT32_MAX, "1",
                        "conv channel groups: input and output channels split into this many independent convs"},
    [GR_ATTR_KERNEL_SIZE] = {"kernel_size", GR_ATTR_INTS, LIST_ROW(GR_ATTR_KERNEL_SIZE, kernel_size, nkernel_size), 1,
                             INT32_MAX, NULL, "pooling window per spatial dim, one entry for all; required"},
    [GR_ATTR_OUTPUT_PADDING] = {"output_padding", GR_ATTR_INTS,
                                LIST_ROW(GR_ATTR_OUTPUT_PADDING, output_padding, noutput_padding), 0, INT32_MAX, "[0]",
                                "conv_transpose: size added at the end of each spatial dim of the output (less than "
                                "stride or dilation), one entry for all"},
    [GR_ATTR_CEIL_MODE] = {"ceil_mode", GR_ATTR_BOOL, INT_ROW(GR_ATTR_CEIL_MODE, ceil_mode), 0, 1, "false",
                           "pooling output size rounds up (a last window may start in the input or left padding)"},
    [GR_ATTR_COUNT_INCLUDE_PAD] = {"count_include_pad", GR_ATTR_BOOL,
                                   INT_ROW(GR_ATTR_COUNT_INCLUDE_PAD, count_include_pad), 0, 1, "true",
                                   "avg_pool2d divides by the window size with its padding (true) or by the input "
                                   "elements it covers"},
    [GR_ATTR_EPS] = {"eps", GR_ATTR_NUMBER, GR_ATTR_EPS, AT(eps), 0, 0, 0, 0, NULL,
                     "added to the variance by layer_norm, group_norm, batch_norm (default 1e-5) and rms_norm "
                     "(default: the dtype's machine epsilon, as torch); >= 0"},
    [GR_ATTR_NORMALIZED_SHAPE] = {"normalized_shape", GR_ATTR_INTS,
                                  LIST_ROW(GR_ATTR_NORMALIZED_SHAPE, normalized_shape, nnormalized_shape), 0,
                                  INT64_MAX, NULL,
                                  "the trailing dims layer_norm and rms_norm normalise over; absent: the last axis"},
    [GR_ATTR_NUM_GROUPS] = {"num_groups", GR_ATTR_INT, INT_ROW(GR_ATTR_NUM_GROUPS, num_groups), 1, INT64_MAX, NULL,
                            "group_norm's number of channel groups (divides the channels); required"},
    [GR_ATTR_TRAINING] = {"training", GR_ATTR_BOOL, INT_ROW(GR_ATTR_TRAINING, training), 0, 1, "true",
                          "batch_norm normalises with the batch's statistics (true) or with the given running "
                          "mean and variance (false); dropout drops only when true"},
    [GR_ATTR_P] = {"p", GR_ATTR_NUMBER, GR_ATTR_P, AT(p), 0, 0, 0, 0, "0.5",
                   "dropout's probability of zeroing an element, in [0, 1]"},
    [GR_ATTR_SEED] = {"seed", GR_ATTR_INT, INT_ROW(GR_ATTR_SEED, seed), 0, INT64_MAX, "0",
                      "dropout's mask seed: the same seed and shape give the same mask (stateless)"},
    [GR_ATTR_IS_CAUSAL] = {"is_causal", GR_ATTR_BOOL, INT_ROW(GR_ATTR_IS_CAUSAL, is_causal), 0, 1, "false",
                           "scaled_dot_product_attention lets query i see keys j <= i only"},
    [GR_ATTR_SCALE] = {"scale", GR_ATTR_NUMBER, GR_ATTR_SCALE, AT(scale), 0, 0, 0, 0, NULL,
                       "scaled_dot_product_attention's score scale; absent: 1/sqrt(the head dim)"},
    [GR_ATTR_APPROXIMATE] = {"approximate", GR_ATTR_STRING, GR_ATTR_APPROXIMATE, AT(approximate), 0, 0, 1,
                             GR_ATTR_STR_MAX - 1, "\"none\"",
                             "gelu's form: 'none' (exact, with erf) or 'tanh' (the tanh approximation)",
                             gelu_forms},
    [GR_ATTR_ALPHA] = {"alpha", GR_ATTR_NUMBER, GR_ATTR_ALPHA, AT(alpha), 0, 0, 0, 0, "1",
                       "elu and celu: the negative branch's scale (celu: not 0)"},
    [GR_ATTR_NEGATIVE_SLOPE] = {"negative_slope", GR_ATTR_NUMBER, GR_ATTR_NEGATIVE_SLOPE, AT(negative_slope), 0, 0, 0,
                                0, "0.01", "leaky_relu's slope for x < 0"},
    [GR_ATTR_MIN_VAL] = {"min_val", GR_ATTR_NUMBER, GR_ATTR_MIN_VAL, AT(min_val), 0, 0, 0, 0, "-1",
                         "hardtanh's lower bound"},
    [GR_ATTR_MAX_VAL] = {"max_val", GR_ATTR_NUMBER, GR_ATTR_MAX_VAL, AT(max_val), 0, 0, 0, 0, "1",
                         "hardtanh's upper bound (at least min_val)"},
    [GR_ATTR_BETA] = {"beta", GR_ATTR_NUMBER, GR_ATTR_BETA, AT(beta), 0, 0, 0, 0, "1",
                      "softplus computes log(1 + e^(beta x)) / beta; smooth_l1_loss is quadratic where "
                      "|a - b| < beta (>= 0; 0 is l1_loss)"},
    [GR_ATTR_THRESHOLD] = {"threshold", GR_ATTR_NUMBER, GR_ATTR_THRESHOLD, AT(threshold), 0, 0, 0, 0, "20",
                           "softplus is x itself where beta x > threshold"},
    [GR_ATTR_MIN] = {"min", GR_ATTR_NUMBER, GR_ATTR_MIN, AT(clip_min), 0, 0, 0, 0, NULL,
                     "clip (clamp): the lower bound; absent: none"},
    [GR_ATTR_MAX] = {"max", GR_ATTR_NUMBER, GR_ATTR_MAX, AT(clip_max), 0, 0, 0, 0, NULL,
                     "clip (clamp): the upper bound; absent: none"},
    [GR_ATTR_START_DIM] = {"start_dim", GR_ATTR_INT, INT_ROW(GR_ATTR_START_DIM, start_dim), -GR_MAX_RANK,
                           GR_MAX_RANK - 1, "0", "flatten's first axis to merge (torch's name)"},
    [GR_ATTR_END_DIM] = {"end_dim", GR_ATTR_INT, INT_ROW(GR_ATTR_END_DIM, end_dim), -GR_MAX_RANK, GR_MAX_RANK - 1,
                         "-1", "flatten's last axis to merge (torch's name)"},
    [GR_ATTR_SHIFTS] = {"shifts", GR_ATTR_INTS, LIST_ROW(GR_ATTR_SHIFTS, shifts, nshifts), -INT64_MAX, INT64_MAX,
                        NULL, "roll's shift per entry of axes, or one shift of the flattened tensor; required"},
    [GR_ATTR_REPS] = {"reps", GR_ATTR_INTS, LIST_ROW(GR_ATTR_REPS, reps, nreps), 0, INT32_MAX, NULL,
                      "tile's repetitions per axis, aligned to the last axes (NumPy's rule); required"},
    [GR_ATTR_REPEATS] = {"repeats", GR_ATTR_INT, INT_ROW(GR_ATTR_REPEATS, repeats), 0, INT32_MAX, NULL,
                         "repeat's count for each element along axis (absent axis: of the flattened tensor); "
                         "required"},
    [GR_ATTR_PADS] = {"pads", GR_ATTR_INTS, LIST_ROW(GR_ATTR_PADS, pads, npads), 0, INT32_MAX, NULL,
                      "pad's (before, after) pairs in axis order, for the axes given or else the last axes; "
                      "required"},
    [GR_ATTR_MODE] = {"mode", GR_ATTR_STRING, GR_ATTR_MODE, AT(mode), 0, 0, 1, GR_ATTR_STR_MAX - 1, NULL,
                      "pad's mode: 'constant' (value; the default), 'reflect' (mirror without the edge), 'edge' "
                      "(repeat the edge); interpolate's: 'nearest' (the default), 'nearest-exact', 'linear' (alias "
                      "'bilinear', 'trilinear'), 'cubic' (alias 'bicubic')",
                      modes},
    [GR_ATTR_K] = {"k", GR_ATTR_INT, INT_ROW(GR_ATTR_K, k), -INT32_MAX, INT32_MAX, "0",
                   "the diagonal of tril, triu and eye: 0 the main one, > 0 above it, < 0 below it; topk's count "
                   "(0 to the axis' size, required)"},
    [GR_ATTR_OFFSET] = {"offset", GR_ATTR_INT, INT_ROW(GR_ATTR_OFFSET, offset), -INT32_MAX, INT32_MAX, "0",
                        "diagonal's offset from the main diagonal (> 0 above it)"},
    [GR_ATTR_AXIS1] = {"axis1", GR_ATTR_INT, INT_ROW(GR_ATTR_AXIS1, axis1), -GR_MAX_RANK, GR_MAX_RANK - 1, "0",
                       "diagonal's row axis"},
    [GR_ATTR_AXIS2] = {"axis2", GR_ATTR_INT, INT_ROW(GR_ATTR_AXIS2, axis2), -GR_MAX_RANK, GR_MAX_RANK - 1, "1",
                       "diagonal's column axis"},
    [GR_ATTR_START] = {"start", GR_ATTR_NUMBER, GR_ATTR_START, AT(start), 0, 0, 0, 0, "0", "arange's first value"},
    [GR_ATTR_STOP] = {"stop", GR_ATTR_NUMBER, GR_ATTR_STOP, AT(stop), 0, 0, 0, 0, NULL,
                      "arange's end (excluded); required"},
    [GR_ATTR_STEP] = {"step", GR_ATTR_NUMBER, GR_ATTR_STEP, AT(step), 0, 0, 0, 0, "1",
                      "arange's spacing, not 0"},
    [GR_ATTR_N] = {"n", GR_ATTR_INT, INT_ROW(GR_ATTR_N, n), 0, INT64_MAX, NULL, "eye's rows; required"},
    [GR_ATTR_M] = {"m", GR_ATTR_INT, INT_ROW(GR_ATTR_M, m), 0, INT64_MAX, NULL, "eye's columns; absent: n"},
    [GR_ATTR_CORRECTION] = {"correction", GR_ATTR_NUMBER, GR_ATTR_CORRECTION, AT(correction), 0, 0, 0, 0, "1",
                            "var and std divide the sum of squares by count - correction (torch's name; 0: the "
                            "population variance)"},
    [GR_ATTR_ORD] = {"ord", GR_ATTR_NUMBER, GR_ATTR_ORD, AT(ord), 0, 0, 0, 1, "2",
                     "norm's order p: (sum |x|^p)^(1/p); inf the largest |x|, -inf the smallest, 0 the count of "
                     "non-zeros"},
    [GR_ATTR_IGNORE_INDEX] = {"ignore_index", GR_ATTR_INT, INT_ROW(GR_ATTR_IGNORE_INDEX, ignore_index), INT64_MIN,
                              INT64_MAX, "-100",
                              "a label of nll_loss and cross_entropy that adds nothing and is not counted by the "
                              "mean; one_hot gives such a label a zero row (absent there: none)"},
    [GR_ATTR_LABEL_SMOOTHING] = {"label_smoothing", GR_ATTR_NUMBER, GR_ATTR_LABEL_SMOOTHING, AT(label_smoothing), 0,
                                 0, 0, 0, "0",
                                 "cross_entropy's target mixes (1 - s) of the label with s spread evenly over the "
                                 "classes; in [0, 1]"},
    [GR_ATTR_DELTA] = {"delta", GR_ATTR_NUMBER, GR_ATTR_DELTA, AT(delta), 0, 0, 0, 0, "1",
                       "huber_loss is quadratic where |a - b| <= delta, linear beyond (> 0)"},
    [GR_ATTR_LOG_TARGET] = {"log_target", GR_ATTR_BOOL, INT_ROW(GR_ATTR_LOG_TARGET, log_target), 0, 1, "false",
                            "kl_div's target is given as log-probabilities"},
    [GR_ATTR_EQUATION] = {"equation", GR_ATTR_STRING, GR_ATTR_EQUATION, AT(equation), 0, 0, 1, GR_ATTR_STR_MAX - 1,
                          NULL, "einsum's subscripts as NumPy and torch write them: \"ij,jk->ik\", \"bij,bkj\", "
                          "\"ii->i\", \"...ij->...ji\"; required", NULL},
    [GR_ATTR_STARTS] = {"starts", GR_ATTR_INTS, LIST_ROW(GR_ATTR_STARTS, starts, nstarts), -INT64_MAX, INT64_MAX,
                        NULL, "slice's first index per entry of axes (ONNX Slice: negative counts from the end, "
                        "clamped to the dim); required"},
    [GR_ATTR_ENDS] = {"ends", GR_ATTR_INTS, LIST_ROW(GR_ATTR_ENDS, ends, nends), -INT64_MAX, INT64_MAX, NULL,
                      "slice's end index (excluded) per entry of axes, as starts; required"},
    [GR_ATTR_STEPS] = {"steps", GR_ATTR_INTS, LIST_ROW(GR_ATTR_STEPS, steps, nsteps), -INT64_MAX, INT64_MAX, NULL,
                       "slice's step per entry of axes, not 0 (negative walks backwards); absent: 1"},
    [GR_ATTR_PADDING_IDX] = {"padding_idx", GR_ATTR_INT, INT_ROW(GR_ATTR_PADDING_IDX, padding_idx), -INT64_MAX,
                             INT64_MAX, NULL,
                             "embedding's row that gets no gradient (negative counts from the end); absent: none"},
    [GR_ATTR_LARGEST] = {"largest", GR_ATTR_BOOL, INT_ROW(GR_ATTR_LARGEST, largest), 0, 1, "true",
                         "topk and topk_indices take the k largest (true) or the k smallest (false)"},
    [GR_ATTR_COORDINATE_TRANSFORMATION_MODE] = {
        "coordinate_transformation_mode", GR_ATTR_STRING, GR_ATTR_COORDINATE_TRANSFORMATION_MODE,
        AT(coordinate_transformation_mode), 0, 0, 1, GR_ATTR_STR_MAX - 1, NULL,
        "interpolate's map from an output index o to an input coordinate (ONNX Resize's, s the scale): "
        "'half_pixel' (o + 0.5) / s - 0.5, 'pytorch_half_pixel' the same but 0 for an output of size 1, "
        "'align_corners' o (in - 1) / (out - 1), 'asymmetric' o / s, 'tf_half_pixel_for_nn' (o + 0.5) / s; "
        "absent: 'align_corners' with align_corners, else 'asymmetric' for mode 'nearest' and 'half_pixel' "
        "otherwise (torch's)",
        coordinate_maps},
    [GR_ATTR_ALIGN_CORNERS] = {"align_corners", GR_ATTR_BOOL, INT_ROW(GR_ATTR_ALIGN_CORNERS, align_corners), 0, 1,
                               "false",
                               "interpolate maps the corner pixels' centres onto each other (torch's "
                               "align_corners; coordinate_transformation_mode 'align_corners')"},
    [GR_ATTR_SIZE] = {"size", GR_ATTR_INTS, LIST_ROW(GR_ATTR_SIZE, size, nsize), 1, INT64_MAX, NULL,
                      "interpolate's output size per resized axis (torch's size, ONNX Resize's sizes); absent: "
                      "floor(input size * scale_factor)"},
    [GR_ATTR_SCALE_FACTOR] = {"scale_factor", GR_ATTR_NUMBER, GR_ATTR_SCALE_FACTOR, AT(scale_factor), 0, 0, 0, 0,
                              NULL,
                              "interpolate's scale s of every resized axis (> 0; torch's scale_factor, ONNX's "
                              "scales): output size floor(in * s) unless size is given, and the coordinate map "
                              "uses s (absent: out / in)"},
    [GR_ATTR_NEAREST_MODE] = {"nearest_mode", GR_ATTR_STRING, GR_ATTR_NEAREST_MODE, AT(nearest_mode), 0, 0, 1,
                              GR_ATTR_STR_MAX - 1, NULL,
                              "how interpolate's mode 'nearest' rounds a coordinate x to an index (ONNX's): "
                              "'floor' (torch's; the default), 'ceil', 'round_prefer_floor' (halves down), "
                              "'round_prefer_ceil' (halves up: mode 'nearest-exact')",
                              nearest_modes},
    [GR_ATTR_CUBIC_COEFF_A] = {"cubic_coeff_a", GR_ATTR_NUMBER, GR_ATTR_CUBIC_COEFF_A, AT(cubic_coeff_a), 0, 0, 0, 0,
                               "-0.75", "the a of interpolate's cubic convolution kernel (Keys; torch -0.75, "
                               "ONNX's default -0.75, TensorFlow -0.5)"},
    [GR_ATTR_EXCLUDE_OUTSIDE] = {"exclude_outside", GR_ATTR_BOOL, INT_ROW(GR_ATTR_EXCLUDE_OUTSIDE, exclude_outside), 0,
                                 1, "false",
                                 "interpolate (cubic) gives the taps outside the input weight 0 and renormalises "
                                 "the others to sum 1 (ONNX's); false: they read the edge element (torch's)"},
};

const gr_attr_def *gr_attr_def_of(gr_attr_id id) { return (unsigned)id < GR_ATTR_COUNT ? &table[id] : NULL; }
const char *gr_attr_name(gr_attr_id id) { return (unsigned)id < GR_ATTR_COUNT ? table[id].name : "?"; }
gr_attr_type gr_attr_type_of(gr_attr_id id) { return (unsigned)id < GR_ATTR_COUNT ? table[id].type : GR_ATTR_INT; }

int gr_attr_lookup(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < GR_ATTR_COUNT; i++)
        if (strcmp(table[i].name, name) == 0) return i;
    return -1;
}

const char *gr_attr_type_name(gr_attr_type t) {
    static const char *const names[] = {[GR_ATTR_INT] = "int", [GR_ATTR_INTS] = "ints", [GR_ATTR_BOOL] = "bool",
                                        [GR_ATTR_NUMBER] = "number", [GR_ATTR_STRING] = "string"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* Fail with GR_E_ARG naming attribute d. */
static gr_status attr_fail(gr_error *err, const gr_attr_def *d, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static gr_status attr_fail(gr_error *err, const gr_attr_def *d, const char *fmt, ...) {
    if (!err) return GR_E_ARG;
    char msg[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gr_fail(err, GR_E_ARG, NULL, -1, "%s", msg);
    snprintf(err->attr, sizeof err->attr, "%s", d->name);
    return GR_E_ARG;
}

gr_status gr_attr_check(const gr_attr_def *d, const gr_attr_value *v, gr_error *err) {
    if (!d || !v) return GR_E_ARG;
    if (v->type != d->type)
        return attr_fail(err, d, "attribute '%s' takes a value of type %s, not %s", d->name,
                         gr_attr_type_name(d->type), gr_attr_type_name(v->type));
    switch (d->type) {
    case GR_ATTR_INT:
        if (v->i < d->min || v->i > d->max)
            return attr_fail(err, d, "attribute '%s' is %lld, outside its range %lld to %lld", d->name,
                             (long long)v->i, (long long)d->min, (long long)d->max);
        break;
    case GR_ATTR_INTS:
        if (v->n < 0 || v->n > GR_MAX_RANK)
            return attr_fail(err, d, "attribute '%s' has %d entries, at most %d are allowed", d->name, v->n,
                             GR_MAX_RANK);
        for (int k = 0; k < v->n; k++)
            if (v->ints[k] < d->min || v->ints[k] > d->max)
                return attr_fail(err, d, "attribute '%s' entry %d is %lld, outside its range %lld to %lld", d->name, k,
                                 (long long)v->ints[k], (long long)d->min, (long long)d->max);
        break;
    case GR_ATTR_BOOL:
        if (v->i != 0 && v->i != 1) return attr_fail(err, d, "attribute '%s' is neither true nor false", d->name);
        break;
    case GR_ATTR_NUMBER:
        if (!isfinite(v->f) && !(d->max == 1 && isinf(v->f)))
            return attr_fail(err, d, "attribute '%s' is not a finite number", d->name);
        break;
    case GR_ATTR_STRING: {
        size_t n = strnlen(v->str, GR_ATTR_STR_MAX);
        if (n == GR_ATTR_STR_MAX || (int64_t)n < d->min || (int64_t)n > d->max)
            return attr_fail(err, d, "attribute '%s' is %zu bytes long, outside its range %lld to %lld", d->name, n,
                             (long long)d->min,
                             (long long)(d->max < GR_ATTR_STR_MAX - 1 ? d->max : GR_ATTR_STR_MAX - 1));
        if (d->choices) {
            char list[160] = "";
            size_t k = 0;
            for (int i = 0; d->choices[i]; i++) {
                if (!strcmp(v->str, d->choices[i])) return GR_OK;
                if (k < sizeof list)
                    k += (size_t)snprintf(list + k, sizeof list - k, "%s'%s'", i ? ", " : "", d->choices[i]);
            }
            return attr_fail(err, d, "attribute '%s' is '%s', not one of %s", d->name, v->str, list);
        }
        break;
    }
    }
    return GR_OK;
}

/* Integer v into the width-byte integer at p, saturating to what fits. */
static void store_int(void *p, size_t width, int64_t v) {
    if (width == sizeof(int64_t)) {
        memcpy(p, &v, sizeof v);
        return;
    }
    int x = v < INT_MIN ? INT_MIN : v > INT_MAX ? INT_MAX : (int)v;
    memcpy(p, &x, sizeof x);
}

static int64_t load_int(const void *p, size_t width) {
    if (width == sizeof(int64_t)) {
        int64_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    int x;
    memcpy(&x, p, sizeof x);
    return x;
}

/* Store v as d in *a without the range check (the type must match). */
static void store(gr_attrs *a, const gr_attr_def *d, const gr_attr_value *v) {
    char *base = (char *)a;
    switch (d->type) {
    case GR_ATTR_INT:
    case GR_ATTR_BOOL: store_int(base + d->off, d->width, v->i); break;
    case GR_ATTR_INTS: {
        int n = v->n < 0 ? 0 : v->n > GR_MAX_RANK ? GR_MAX_RANK : v->n;
        for (int k = 0; k < GR_MAX_RANK; k++)
            store_int(base + d->off + (size_t)k * d->width, d->width, k < n ? v->ints[k] : 0);
        memcpy(base + d->count_off, &n, sizeof n);
        break;
    }
    case GR_ATTR_NUMBER: memcpy(base + d->off, &v->f, sizeof v->f); break;
    case GR_ATTR_STRING: {
        char *s = base + d->off;
        size_t n = strnlen(v->str, GR_ATTR_STR_MAX - 1);
        memcpy(s, v->str, n);
        memset(s + n, 0, GR_ATTR_STR_MAX - n);
        break;
    }
    }
    if (d->id >= 0 && d->id < GR_ATTR_MASK_BITS) a->set |= GR_ATTR_BIT(d->id);
}

gr_status gr_attrs_put(gr_attrs *a, const gr_attr_def *d, const gr_attr_value *v, gr_error *err) {
    gr_status st = gr_attr_check(d, v, err);
    if (st != GR_OK) return st;
    if (!a) return GR_E_ARG;
    store(a, d, v);
    return GR_OK;
}

int gr_attrs_get(const gr_attrs *a, const gr_attr_def *d, gr_attr_value *out) {
    if (!a || !d || d->id < 0 || d->id >= GR_ATTR_MASK_BITS || !(a->set & GR_ATTR_BIT(d->id))) return 0;
    const char *base = (const char *)a;
    memset(out, 0, sizeof *out);
    out->type = d->type;
    switch (d->type) {
    case GR_ATTR_INT:
    case GR_ATTR_BOOL: out->i = load_int(base + d->off, d->width); break;
    case GR_ATTR_INTS:
        memcpy(&out->n, base + d->count_off, sizeof out->n);
        if (out->n < 0 || out->n > GR_MAX_RANK) out->n = GR_MAX_RANK + 1; /* refused by the check */
        for (int k = 0; k < out->n && k < GR_MAX_RANK; k++)
            out->ints[k] = load_int(base + d->off + (size_t)k * d->width, d->width);
        break;
    case GR_ATTR_NUMBER: memcpy(&out->f, base + d->off, sizeof out->f); break;
    case GR_ATTR_STRING:
        memcpy(out->str, base + d->off, GR_ATTR_STR_MAX);
        out->str[GR_ATTR_STR_MAX - 1] = '\0';
        break;
    }
    return 1;
}

gr_status gr_attrs_check(const gr_attrs *a, gr_error *err) {
    if (!a) return GR_OK;
    for (int i = 0; i < GR_ATTR_COUNT; i++) {
        gr_attr_value v;
        if (gr_attrs_get(a, &table[i], &v)) {
            gr_status st = gr_attr_check(&table[i], &v, err);
            if (st != GR_OK) return st;
        }
    }
    return GR_OK;
}

/* ---- setters for hand-built attributes -------------------------------- */

void gr_attrs_set_int(gr_attrs *a, gr_attr_id id, int64_t v) {
    const gr_attr_def *d = gr_attr_def_of(id);
    if (!a || !d) return;
    gr_attr_value x = {.type = d->type};
    if (d->type == GR_ATTR_BOOL) x.i = v != 0;
    else if (d->type == GR_ATTR_INT) x.i = v;
    else if (d->type == GR_ATTR_NUMBER) x.f = (double)v;
    else return;
    store(a, d, &x);
}

void gr_attrs_set_number(gr_attrs *a, gr_attr_id id, double v) {
    const gr_attr_def *d = gr_attr_def_of(id);
    if (!a || !d || d->type != GR_ATTR_NUMBER) return;
    gr_attr_value x = {.type = GR_ATTR_NUMBER, .f = v};
    store(a, d, &x);
}

gr_status gr_attrs_set_ints(gr_attrs *a, gr_attr_id id, const int64_t *v, int n, gr_error *err) {
    const gr_attr_def *d = gr_attr_def_of(id);
    if (!d) return gr_fail(err, GR_E_ARG, NULL, -1, "no attribute has id %d", (int)id);
    if (d->type != GR_ATTR_INTS) return attr_fail(err, d, "attribute '%s' is not a list", d->name);
    if (n < 0 || n > GR_MAX_RANK)
        return attr_fail(err, d, "attribute '%s' has %d entries, at most %d are allowed", d->name, n, GR_MAX_RANK);
    gr_attr_value x = {.type = GR_ATTR_INTS, .n = n};
    for (int k = 0; k < n; k++) x.ints[k] = v[k];
    return gr_attrs_put(a, d, &x, err);
}
