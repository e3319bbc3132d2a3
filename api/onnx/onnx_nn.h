/* onnx_nn.h -- the lowerings of onnx_nn.c (neural-network ops, reductions,
 * Pad) and the small helpers both op files share. */
#ifndef GRADD_ONNX_NN_H
#define GRADD_ONNX_NN_H

#include "onnx_lower.h"

void gd_ox_set_ints(gr_attrs *a, gr_attr_id id, const int64_t *v, int n);
void gd_ox_set_str(gr_attrs *a, gr_attr_id id, const char *s);
/* One op over x (with attrs, or NULL), or over a and b. -1 on failure. */
int gd_ox_un(ox_low *L, const char *op, int x, const gr_attrs *at);
int gd_ox_bin(ox_low *L, const char *op, int a, int b);
int gd_ox_reshape(ox_low *L, int x, const int64_t *shape, int n);
int gd_ox_slice1(ox_low *L, int x, int64_t axis, int64_t start, int64_t end);
/* The node's convolution (Conv's attributes: pads, strides, dilations,
 * group, auto_pad) of x by w, without a bias. -1 on failure. */
int gd_ox_conv(ox_low *L, int x, int w);
/* The node's axes: attribute "axes" before opset since, else input k.
 * Count, -1 when absent, < -1 on failure. */
int gd_ox_axes(ox_low *L, int64_t since, int k, int64_t *axes);

#define OX_NN(T) int gd_ox_lw_##T(ox_low *L);
OX_NN(Gemm) OX_NN(Conv) OX_NN(ConvTranspose) OX_NN(MaxPool) OX_NN(AveragePool) OX_NN(GlobalAveragePool)
OX_NN(GlobalMaxPool) OX_NN(BatchNormalization) OX_NN(LayerNormalization) OX_NN(InstanceNormalization)
OX_NN(Softmax) OX_NN(LogSoftmax) OX_NN(ReduceSum) OX_NN(ReduceMean) OX_NN(ReduceMax) OX_NN(ReduceMin)
OX_NN(ReduceProd) OX_NN(ReduceL1) OX_NN(ReduceL2) OX_NN(ReduceSumSquare) OX_NN(ReduceLogSum)
OX_NN(ReduceLogSumExp) OX_NN(ArgMax) OX_NN(ArgMin) OX_NN(Pad) OX_NN(NegativeLogLikelihoodLoss)
OX_NN(SoftmaxCrossEntropyLoss) OX_NN(Hardmax) OX_NN(EyeLike)
#undef OX_NN

#endif
