/* index_map.c -- the gather and scatter-add of index_map.h: an odometer
 * over the output's outer axes finds each row's source row, and the
 * innermost axis maps element by element. */
#include "index_map.h"

#include <string.h>

/* Offset of the source row of outer index idx (r - 1 entries) in a tensor
 * with strides st, or -1 when some axis has no source. */
static int64_t row_offset(int r, const int64_t *idx, const gr_axis_map *maps, const int64_t *st) {
    int64_t off = 0;
    for (int a = 0; a + 1 < r; a++) {
        int64_t s = gr_axis_src(&maps[a], idx[a]);
        if (s < 0) return -1;
        off += s * st[a];
    }
    return off;
}

/* Advance the odometer idx over the first r - 1 dims of s; 0 when done. */
static int next_row(int r, int64_t *idx, const gr_shape *s) {
    for (int a = r - 2; a >= 0; a--) {
        if (++idx[a] < s->dims[a]) return 1;
        idx[a] = 0;
    }
    return 0;
}

#define GATHER_ROWS(T)                                                                                                \
    do {                                                                                                              \
        T *o = out;                                                                                                   \
        const T *x = in;                                                                                              \
        T f = (T)fill;                                                                                                \
        do {                                                                                                          \
            int64_t base = row_offset(r, idx, maps, st);                                                              \
            if (base < 0) {                                                                                           \
                for (int64_t j = 0; j < n; j++) o[j] = f;                                                             \
            } else if (last->kind == GR_MAP_IDENT) {                                                                  \
                memcpy(o, x + base, (size_t)n * sizeof(T));                                                           \
            } else {                                                                                                  \
                for (int64_t j = 0; j < n; j++) {                                                                     \
                    int64_t s = gr_axis_src(last, j);                                                                 \
                    o[j] = s < 0 ? f : x[base + s];                                                                   \
                }                                                                                                     \
            }                                                                                                         \
            o += n;                                                                                                   \
            if ((done += n) >= GR_CHUNK_ELEMS) {                                                                      \
                if (gr_cancelled(k->cancel)) return;                                                                  \
                done = 0;                                                                                             \
            }                                                                                                         \
        } while (next_row(r, idx, out_shape));                                                                        \
    } while (0)

void gr_gather_maps(const gr_kernel *k, const gr_shape *out_shape, void *out, const gr_shape *in_shape,
                    const void *in, const gr_axis_map *maps, double fill) {
    int r = out_shape->rank;
    int64_t numel = 1, st[GR_MAX_RANK], idx[GR_MAX_RANK] = {0}, done = 0;
    for (int a = 0; a < r; a++) numel *= out_shape->dims[a];
    if (numel == 0) return;
    if (r == 0) {
        memcpy(out, in, gr_dtype_size(k->dt));
        return;
    }
    gr_shape_strides(in_shape, st);
    const gr_axis_map *last = &maps[r - 1];
    int64_t n = out_shape->dims[r - 1];
    if (k->dt == GR_F32) GATHER_ROWS(float);
    else GATHER_ROWS(double);
}

#define SCATTER_ROWS(T)                                                                                               \
    do {                                                                                                              \
        const T *g = src_data;                                                                                        \
        T *d = dst;                                                                                                   \
        do {                                                                                                          \
            int64_t base = row_offset(r, idx, maps, st);                                                              \
            if (base >= 0)                                                                                            \
                for (int64_t j = 0; j < n; j++) {                                                                     \
                    int64_t s = gr_axis_src(last, j);                                                                 \
                    if (s >= 0) d[base + s] += g[j];                                                                  \
                }                                                                                                     \
            g += n;                                                                                                   \
            if ((done += n) >= GR_CHUNK_ELEMS) {                                                                      \
                if (gr_cancelled(k->cancel)) return;                                                                  \
                done = 0;                                                                                             \
            }                                                                                                         \
        } while (next_row(r, idx, src_shape));                                                                        \
    } while (0)

void gr_scatter_add_maps(const gr_kernel *k, const gr_shape *src_shape, const void *src_data,
                         const gr_shape *dst_shape, void *dst, const gr_axis_map *maps) {
    int r = src_shape->rank;
    int64_t numel = 1, dst_numel = 1, st[GR_MAX_RANK], idx[GR_MAX_RANK] = {0}, done = 0;
    for (int a = 0; a < r; a++) numel *= src_shape->dims[a];
    for (int a = 0; a < dst_shape->rank; a++) dst_numel *= dst_shape->dims[a];
    gr_fill_chunked(k, dst, dst_numel, 0.0);
    if (numel == 0) return;
    if (r == 0) {
        memcpy(dst, src_data, gr_dtype_size(k->dt));
        return;
    }
    gr_shape_strides(dst_shape, st);
    const gr_axis_map *last = &maps[r - 1];
    int64_t n = src_shape->dims[r - 1];
    if (k->dt == GR_F32) SCATTER_ROWS(float);
    else SCATTER_ROWS(double);
}
