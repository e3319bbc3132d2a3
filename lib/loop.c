/* loop.c -- the strided iteration every broadcasting, reducing and
 * permuting kernel runs on. Dims are merged first, so a bias add over
 * [B, H] is B rows of H, and a plain elementwise op is one row. */
#include "internal.h"

#include <string.h>

/* Drop size-1 dims and merge adjacent dims whose strides chain for every
 * operand. Always leaves rank >= 1. */
static void loop_compact(gr_loop *L) {
    int r = 0;
    for (int d = 0; d < L->rank; d++) {
        if (L->dims[d] == 1) continue;
        if (r > 0) {
            int merge = 1;
            for (int k = 0; k < L->nops; k++)
                if (L->st[k][r - 1] != L->st[k][d] * L->dims[d]) merge = 0;
            if (merge) {
                L->dims[r - 1] *= L->dims[d];
                for (int k = 0; k < L->nops; k++) L->st[k][r - 1] = L->st[k][d];
                continue;
            }
        }
        L->dims[r] = L->dims[d];
        for (int k = 0; k < L->nops; k++) L->st[k][r] = L->st[k][d];
        r++;
    }
    if (r == 0) {
        L->dims[0] = 1;
        for (int k = 0; k < L->nops; k++) L->st[k][0] = 0;
        r = 1;
    }
    L->rank = r;
}

void gr_loop_broadcast(gr_loop *L, const gr_shape *it, int nops, const gr_shape *const *shapes) {
    memset(L, 0, sizeof *L);
    L->rank = it->rank;
    L->nops = nops;
    for (int d = 0; d < it->rank; d++) L->dims[d] = it->dims[d];
    for (int k = 0; k < nops; k++) {
        const gr_shape *s = shapes[k];
        int64_t st = 1;
        for (int d = it->rank - 1; d >= 0; d--) {
            int ds = s->rank - it->rank + d;
            int64_t dim = ds >= 0 ? s->dims[ds] : 1;
            L->st[k][d] = (dim == 1) ? 0 : st;
            st *= dim;
        }
    }
    loop_compact(L);
}

void gr_loop_strided(gr_loop *L, const gr_shape *it, int nops, const int64_t (*strides)[GR_MAX_RANK]) {
    memset(L, 0, sizeof *L);
    L->rank = it->rank;
    L->nops = nops;
    for (int d = 0; d < it->rank; d++) {
        L->dims[d] = it->dims[d];
        for (int k = 0; k < nops; k++) L->st[k][d] = strides[k][d];
    }
    loop_compact(L);
}

void gr_loop_run(const gr_loop *L, void *const *base, size_t esz, gr_row_fn fn, void *ctx) {
    int r = L->rank, nops = L->nops;
    int64_t idx[GR_MAX_RANK] = {0};
    char *p[4];
    int64_t inner[4];
    for (int d = 0; d < r; d++)
        if (L->dims[d] == 0) return;
    for (int k = 0; k < nops; k++) {
        p[k] = (char *)base[k];
        inner[k] = L->st[k][r - 1];
    }
    int64_t since_look = 0; /* elements done since the cancel flag was last read */
    for (;;) {
        fn(ctx, p, inner, L->dims[r - 1]);
        if (L->cancel && (since_look += L->dims[r - 1]) >= GR_CHUNK_ELEMS) {
            if (*L->cancel) return;
            since_look = 0;
        }
        int d = r - 2;
        for (; d >= 0; d--) {
            idx[d]++;
            for (int k = 0; k < nops; k++) p[k] += L->st[k][d] * (int64_t)esz;
            if (idx[d] < L->dims[d]) break;
            for (int k = 0; k < nops; k++) p[k] -= L->st[k][d] * L->dims[d] * (int64_t)esz;
            idx[d] = 0;
        }
        if (d < 0) break;
    }
}

/* Bytes of a row each part of a loop cut along its rows gets at least. */
#define SLAB_MIN_SEGMENT 2048

/* A loop cut along dim `dim` into slabs for the threads. */
typedef struct slab_job {
    const gr_loop *L;
    void *const *base;
    size_t esz;
    gr_row_fn fn;
    void *ctx;
    int dim;
} slab_job;

void gr_loop_run_slab(const gr_loop *L, int dim, int64_t a, int64_t b, void *const *base, size_t esz, gr_row_fn fn,
                      void *ctx) {
    gr_loop S = *L;
    void *at[4];
    S.dims[dim] = b - a;
    for (int k = 0; k < S.nops; k++) at[k] = (char *)base[k] + (size_t)(a * S.st[k][dim]) * esz;
    gr_loop_run(&S, at, esz, fn, ctx);
}

/* Indices [a, b) of the cut dim: the same loop over that slab. */
static void slab_part(void *job, int64_t a, int64_t b) {
    const slab_job *J = job;
    gr_loop_run_slab(J->L, J->dim, a, b, J->base, J->esz, J->fn, J->ctx);
}

void gr_loop_run_shared(const gr_loop *L, void *const *base, size_t esz, gr_row_fn fn, void *ctx) {
    int64_t numel = 1;
    for (int d = 0; d < L->rank; d++) numel *= L->dims[d];
    /* a dim whose halves each span a few cache lines of operand 0: threads
     * writing into one line over and over would pass it back and forth (a
     * conv's bias gradient, 16 floats cut by channel, took 1.9x as long on
     * two threads as on one) */
    int dim = 0;
    while (dim < L->rank && (L->st[0][dim] == 0 || L->dims[dim] < 2 ||
                             L->dims[dim] / 2 * L->st[0][dim] * (int64_t)esz < 256))
        dim++;
    if (numel < 2 * GR_PAR_GRAIN || dim == L->rank) {
        gr_loop_run(L, base, esz, fn, ctx);
        return;
    }
    int64_t per_index = numel / L->dims[dim]; /* elements in one index of the cut dim */
    int64_t grain = (GR_PAR_GRAIN + per_index - 1) / per_index;
    /* Cut along the rows themselves, each part reads a segment of every
     * row: below 2 KiB a segment the strided reads cost more than the
     * second thread saves (gpt-step's bias gradient, [512, 512] summed to
     * [512] in 8 parts of 64 columns, took 3x as long on two threads). */
    if (dim == L->rank - 1 && grain * (int64_t)esz < SLAB_MIN_SEGMENT) grain = SLAB_MIN_SEGMENT / (int64_t)esz;
    slab_job J = {L, base, esz, fn, ctx, dim};
    gr_parallel_for(L->dims[dim], grain, slab_part, &J);
}
