/* conv.h -- what conv.c (the convolutions' shapes, GEMMs and derivative
 * rules) and conv_unfold.c (their data movement) share: the geometry of
 * one convolution and the unfolding functions. Private to lib/ops/. */
#ifndef GRAD_OPS_CONV_H
#define GRAD_OPS_CONV_H

#include "window.h"

typedef struct conv_geom {
    int64_t n;              /* images */
    int64_t cin, cout;      /* channels of x and of y */
    int64_t groups;
    int64_t cig, cog;       /* channels per group: cin / groups, cout / groups */
    int64_t h, w;           /* spatial size of x (1-D: h = 1) */
    int64_t oh, ow;         /* spatial size of y */
    int64_t kh, kw;         /* kernel */
    int64_t sh, sw;         /* stride */
    int64_t ph, pw;         /* zero padding on both sides */
    int64_t dh, dw;         /* dilation */
    int64_t kg;             /* rows of one group's column matrix: cig * kh * kw */
    int64_t p;              /* oh * ow: columns per image */
    int64_t fkh, fkw;       /* the weight's kernel; kh, kw are its taps in [i0, i0 + kh) x */
    int64_t i0, j0;         /* [j0, j0 + kw) once trim_taps dropped those reading only padding */
} conv_geom;

/* c with the kernel taps that read only padding dropped (kh, kw, i0, j0,
 * the padding and kg changed; fkh, fkw kept). */
conv_geom gr_conv_trim_taps(conv_geom c);

/* 1 when gr_conv_trim_taps dropped taps. */
static inline int gr_conv_trimmed(const conv_geom *c) { return c->kh != c->fkh || c->kw != c->fkw; }

/* Elements of a trimmed weight [cout, cig, kh, kw] (0 when not trimmed). */
static inline int64_t gr_conv_trimmed_weight_elems(const conv_geom *c) {
    return gr_conv_trimmed(c) ? c->cout * c->kg : 0;
}

/* 1 when all n elements of a are finite. */
int gr_conv_all_finite(gr_dtype dt, const void *a, int64_t n);

/* Between the weight w [cout, cig, fkh, fkw] and its trimmed taps t
 * [cout, cig, kh, kw] (to_trimmed: w into t; else t into w's taps, zeros
 * into the others); 0 when check is set and w holds an inf or NaN. */
int gr_conv_trim_weight(const conv_geom *c, gr_dtype dt, void *w, void *t, int to_trimmed, int check);

/* im2col of images [n0, n0 + nb) of group `group` of x into col
 * [kg, nb * p]; col2im, its adjoint, adds col into x. */
void gr_conv_im2col(gr_dtype dt, const conv_geom *c, const void *x, int64_t n0, int64_t nb, int64_t group,
                    void *col);
void gr_conv_col2im(gr_dtype dt, const conv_geom *c, const void *col, int64_t n0, int64_t nb, int64_t group,
                    void *x);

/* Between y [N, Cout, p] and one group's channel-major chunk ym
 * [cog, nb * p]: to_chunk copies y into ym, else ym into y. */
void gr_conv_y_chunk(const conv_geom *c, size_t esz, int64_t n0, int64_t nb, int64_t group, char *y, char *ym,
                     int to_chunk);

/* conv_winograd.c: a stride-1 3x3 convolution in float32 by F(2x2, 3x3),
 * for conv2d's forward pass and conv_transpose2d's. */
typedef struct gr_wino {
    int64_t n, a, b;   /* images; channels of the convolution's input and output */
    int64_t h, w;      /* input plane */
    int64_t oh, ow;    /* output plane */
    int64_t ph, pw;    /* zeros before the input's first row and column (at most 2) */
    int64_t th, tw;    /* 2x2 tiles of the output: ceil(oh / 2), ceil(ow / 2) */
    int transpose;     /* conv_transpose's weight [a, b, 3, 3], read flipped */
} gr_wino;

/* 1, with *p set, when convolution c (transpose: its conv_transpose) can
 * run by Winograd: float32, one group, a 3x3 kernel with no taps trimmed,
 * stride and dilation 1, padding at most 2 (transpose: at least 0), and
 * enough channels each side. */
int gr_conv_winograd_plan(const conv_geom *c, gr_dtype dt, int transpose, gr_wino *p);
/* Workspace floats for up to `slots` threads (weight: the weight
 * gradient's, with its partial sums). */
int64_t gr_conv_winograd_workspace(const gr_wino *p, int64_t slots, int weight);
/* y = the convolution of x by w, plus bias [b] (NULL: none), through
 * relu when relu is set; 0, with
 * nothing written, when the
 * values need the direct sums (an inf or NaN, or magnitudes near
 * float32's range) or work holds no slot. The planned workspace sets the
 * thread count: one slot each. */
int gr_conv_winograd_run(const gr_wino *p, const float *x, const float *w, const float *bias, int relu, float *y,
                         float *work, int64_t work_elems, const volatile int *cancel);
/* dw [b, a, 3, 3] = the convolution's weight gradient from its input x
 * and output gradient dy (p not transposed); 0 as above. */
int gr_conv_winograd_weight(const gr_wino *p, const float *x, const float *dy, float *dw, float *work,
                            int64_t work_elems, const volatile int *cancel);

/* conv_direct.c: a 3x3 convolution whose groups each read one input
 * channel (cin / groups = 1), float32, stride and dilation 1, padding at
 * most 2, summed directly for conv2d's forward pass and conv_weight. */
int gr_conv_direct_fits(const conv_geom *c, gr_dtype dt);
/* Workspace floats for up to `slots` threads (weight: conv_weight's). */
int64_t gr_conv_direct_workspace(const conv_geom *c, int weight, int64_t slots);
/* y = the convolution of x by w, plus bias [cout] (NULL: none), through
 * relu when relu is set; 0, with
 * nothing written, when work holds no slot. One thread a slot. */
int gr_conv_direct_run(const conv_geom *c, const float *x, const float *w, const float *bias, int relu, float *y,
                       float *work, int64_t work_elems, const volatile int *cancel);
/* dw [cout, 1, 3, 3] = the weight gradient from x and the output gradient
 * dy; 0 as above. */
int gr_conv_direct_weight(const conv_geom *c, const float *x, const float *dy, float *dw, float *work,
                          int64_t work_elems, const volatile int *cancel);

#endif
