/* onnx_resize.h -- the lowerings of onnx_resize.c: ONNX's Resize and
 * Upsample as libgrad's interpolate. */
#ifndef GRADD_ONNX_RESIZE_H
#define GRADD_ONNX_RESIZE_H

#include "onnx_lower.h"

int gd_ox_lw_Resize(ox_low *L);
int gd_ox_lw_Upsample(ox_low *L);

#endif
