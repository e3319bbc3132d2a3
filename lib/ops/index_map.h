/* index_map.h -- gathers and scatter-adds through one index map per axis.
 *
 * flip, roll, tile, repeat and pad all read output element (o_0, ..., o_r-1)
 * from source element (src_0(o_0), ..., src_r-1(o_r-1)): each axis maps
 * independently. A map may say "no source" (pad's constant border), and
 * the gather then writes a fill value. The scatter-add is the adjoint of the
 * gather (every output element adds into its source), which is pad's VJP.
 * Private to lib/ops/. */
#ifndef GRAD_INDEX_MAP_H
#define GRAD_INDEX_MAP_H

#include "ops.h"

typedef enum gr_map_kind {
    GR_MAP_IDENT,        /* src = j */
    GR_MAP_FLIP,         /* src = d - 1 - j */
    GR_MAP_ROLL,         /* src = (j - param) mod d, param in [0, d) */
    GR_MAP_TILE,         /* src = j mod d */
    GR_MAP_REPEAT,       /* src = j / param (param >= 1) */
    GR_MAP_PAD_CONSTANT, /* src = j - param when in [0, d), else none */
    GR_MAP_PAD_REFLECT,  /* src = j - param mirrored at 0 and d - 1 without repeating them (pads < d) */
    GR_MAP_PAD_EDGE      /* src = j - param clamped to [0, d - 1] (d >= 1) */
} gr_map_kind;

/* How one output axis reads its source axis. */
typedef struct gr_axis_map {
    gr_map_kind kind;
    int64_t d;      /* length of the source axis */
    int64_t param;  /* roll: the shift in [0, d); repeat: the count; pad: the padding before */
} gr_axis_map;

/* Source index of output index j along m, or -1 for none (pad's border). */
static inline int64_t gr_axis_src(const gr_axis_map *m, int64_t j) {
    int64_t s;
    switch (m->kind) {
    case GR_MAP_FLIP: return m->d - 1 - j;
    case GR_MAP_ROLL: s = j - m->param; return s < 0 ? s + m->d : s;
    case GR_MAP_TILE: return j % m->d;
    case GR_MAP_REPEAT: return j / m->param;
    case GR_MAP_PAD_CONSTANT: s = j - m->param; return s >= 0 && s < m->d ? s : -1;
    case GR_MAP_PAD_REFLECT:
        s = j - m->param;
        return s < 0 ? -s : s >= m->d ? 2 * (m->d - 1) - s : s;
    case GR_MAP_PAD_EDGE: s = j - m->param; return s < 0 ? 0 : s >= m->d ? m->d - 1 : s;
    default: return j;
    }
}

/* out (shape out_shape) from in (shape in_shape, same rank) through maps
 * (one per axis): out[o] = in[src(o)], or fill where an axis has no
 * source. Looks at k's cancel flag about every GR_CHUNK_ELEMS elements. */
void gr_gather_maps(const gr_kernel *k, const gr_shape *out_shape, void *out, const gr_shape *in_shape,
                    const void *in, const gr_axis_map *maps, double fill);

/* The adjoint: dst (shape dst_shape) = 0, then dst[src(o)] += src_data[o]
 * for every element o of src_shape that has a source (maps as for the
 * gather from dst_shape to src_shape). */
void gr_scatter_add_maps(const gr_kernel *k, const gr_shape *src_shape, const void *src_data,
                         const gr_shape *dst_shape, void *dst, const gr_axis_map *maps);

#endif
