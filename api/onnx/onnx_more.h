/* onnx_more.h -- the lowerings of onnx_more.c (TopK, the scatters, GatherND,
 * OneHot, ReverseSequence, Compress, Det, MaxUnpool), onnx_more_fold.c (NonZero, Unique,
 * LRN, MeanVarianceNormalization, the window generators), onnx_rnn.c (RNN,
 * GRU, LSTM), onnx_quant.c (the linear quantization ops) and onnx_dft.c (DFT, STFT,
 * MelWeightMatrix) and onnx_gridsample.c, reached
 * through gd_ox_more_handler. */
#ifndef GRADD_ONNX_MORE_H
#define GRADD_ONNX_MORE_H

#include "onnx_lower.h"

#define OX_MORE(T) int gd_ox_lw_##T(ox_low *L);
OX_MORE(TopK) OX_MORE(ScatterElements) OX_MORE(Scatter) OX_MORE(ScatterND) OX_MORE(GatherND) OX_MORE(OneHot)
OX_MORE(ReverseSequence) OX_MORE(Compress) OX_MORE(NonZero) OX_MORE(Unique) OX_MORE(LRN)
OX_MORE(MeanVarianceNormalization) OX_MORE(HannWindow) OX_MORE(HammingWindow) OX_MORE(BlackmanWindow) OX_MORE(Det)
OX_MORE(MaxUnpool) OX_MORE(RNN) OX_MORE(GRU) OX_MORE(LSTM) OX_MORE(QuantizeLinear) OX_MORE(DequantizeLinear)
OX_MORE(DynamicQuantizeLinear) OX_MORE(DFT) OX_MORE(MatMulInteger) OX_MORE(ConvInteger)
OX_MORE(QLinearMatMul) OX_MORE(QLinearConv) OX_MORE(STFT) OX_MORE(MelWeightMatrix)
OX_MORE(GridSample)
#undef OX_MORE

#endif
