"""Parity cases of lib/ops/resize.c (see run.py): interpolate against
torch.nn.functional.interpolate in modes nearest, nearest-exact, linear,
bilinear, bicubic and trilinear; output sizes and scale factors (integer,
fractional, up and down, where torch's coordinate map uses 1 / scale_factor
rather than in / out), align_corners true and false, outputs of one
element, an axis left as it is, an empty batch, and infinities and NaN
(a weight of 0 on an infinite tap gives NaN, as torch; the gradient does
not depend on x, the op being linear)."""

import torch

F = torch.nn.functional
inf, nan = float("inf"), float("nan")


def case(name, shape, torch_kwargs, expr_args, **extra):
    """One case: interpolate(x, expr_args) against F.interpolate(x, **torch_kwargs)."""
    c = {"name": "interpolate-" + name, "expr": "interpolate(x, %s)" % expr_args, "inputs": {"x": shape},
         "torch": lambda x: F.interpolate(x, **torch_kwargs)}
    c.update(extra)
    return c


CASES = [
    # ---- nearest (torch's: asymmetric, floor)
    case("nearest-1d-x2", (2, 3, 5), dict(scale_factor=2), "scale_factor=2"),
    case("nearest-2d-size-up", (2, 2, 3, 4), dict(size=(5, 7)), "size=[5, 7]"),
    case("nearest-2d-size-down", (1, 2, 5, 7), dict(size=(2, 3)), "size=[2, 3]"),
    case("nearest-2d-scale-1.5", (1, 2, 4, 6), dict(scale_factor=1.5), "scale_factor=1.5"),
    case("nearest-2d-scale-0.5", (1, 1, 6, 7), dict(scale_factor=0.5), "scale_factor=0.5"),
    case("nearest-2d-scale-1.7", (1, 1, 5, 3), dict(scale_factor=1.7), "scale_factor=1.7"),
    case("nearest-2d-same-h", (1, 2, 4, 3), dict(size=(4, 6)), 'size=[4, 6], mode="nearest"'),
    # torch's shortcuts, whatever the scale: an axis kept at its length is copied, one doubled repeats
    case("nearest-scale-1.2-same-length", (1, 1, 2, 5), dict(scale_factor=1.2), "scale_factor=1.2"),
    case("nearest-scale-2.3-doubled", (1, 1, 3, 3), dict(scale_factor=2.3), "scale_factor=2.3"),
    case("nearest-3d-x2", (1, 1, 2, 3, 2), dict(scale_factor=2), "scale_factor=2"),
    case("nearest-3d-size", (1, 2, 3, 2, 4), dict(size=(5, 3, 2)), "size=[5, 3, 2]"),
    # ---- nearest-exact (torch's: half-pixel centres, halves rounded up)
    case("nearest-exact-up", (1, 2, 3, 4), dict(size=(7, 9), mode="nearest-exact"), 'size=[7, 9], mode="nearest-exact"'),
    case("nearest-exact-down", (1, 1, 7, 9), dict(size=(3, 4), mode="nearest-exact"),
         'size=[3, 4], mode="nearest-exact"'),
    case("nearest-exact-scale", (2, 1, 4, 5), dict(scale_factor=1.5, mode="nearest-exact"),
         'scale_factor=1.5, mode="nearest-exact"'),
    # ---- linear (1-D)
    case("linear-size", (2, 3, 4), dict(size=7, mode="linear"), 'size=[7], mode="linear"'),
    case("linear-down", (2, 3, 9), dict(size=4, mode="linear"), 'size=[4], mode="linear"'),
    case("linear-align", (2, 3, 4), dict(size=7, mode="linear", align_corners=True),
         'size=[7], mode="linear", align_corners=true'),
    case("linear-scale-2.5", (1, 2, 4), dict(scale_factor=2.5, mode="linear"), 'scale_factor=2.5, mode="linear"'),
    case("linear-scale-0.6-align", (1, 2, 7), dict(scale_factor=0.6, mode="linear", align_corners=True),
         'scale_factor=0.6, mode="linear", align_corners=true'),
    # ---- bilinear
    case("bilinear-up", (2, 3, 4, 5), dict(size=(7, 9), mode="bilinear"), 'size=[7, 9], mode="bilinear"'),
    case("bilinear-down", (1, 2, 8, 9), dict(size=(3, 5), mode="bilinear"), 'size=[3, 5], mode="bilinear"'),
    case("bilinear-align-up", (2, 2, 4, 5), dict(size=(7, 8), mode="bilinear", align_corners=True),
         'size=[7, 8], mode="bilinear", align_corners=true'),
    case("bilinear-align-down", (1, 2, 7, 8), dict(size=(3, 4), mode="bilinear", align_corners=True),
         'size=[3, 4], mode="bilinear", align_corners=true'),
    case("bilinear-scale-2", (1, 3, 3, 4), dict(scale_factor=2, mode="bilinear"), 'scale_factor=2, mode="bilinear"'),
    case("bilinear-scale-0.6", (1, 1, 7, 6), dict(scale_factor=0.6, mode="bilinear"),
         'scale_factor=0.6, mode="bilinear"'),
    case("bilinear-scale-1.3-align", (1, 2, 5, 4), dict(scale_factor=1.3, mode="bilinear", align_corners=True),
         'scale_factor=1.3, mode="bilinear", align_corners=true'),
    case("bilinear-to-1x1", (2, 2, 4, 5), dict(size=(1, 1), mode="bilinear"), 'size=[1, 1], mode="bilinear"'),
    case("bilinear-to-1x1-align", (2, 2, 4, 5), dict(size=(1, 1), mode="bilinear", align_corners=True),
         'size=[1, 1], mode="bilinear", align_corners=true'),
    case("bilinear-from-1x1", (1, 2, 1, 1), dict(size=(3, 4), mode="bilinear"), 'size=[3, 4], mode="bilinear"'),
    # ---- bicubic (a = -0.75, edge taps clamped)
    case("bicubic-up", (2, 2, 4, 5), dict(size=(7, 9), mode="bicubic"), 'size=[7, 9], mode="bicubic"'),
    case("bicubic-down", (1, 2, 9, 8), dict(size=(4, 3), mode="bicubic"), 'size=[4, 3], mode="bicubic"'),
    case("bicubic-align-up", (1, 3, 4, 4), dict(size=(6, 7), mode="bicubic", align_corners=True),
         'size=[6, 7], mode="cubic", align_corners=true'),
    case("bicubic-align-down", (1, 1, 8, 7), dict(size=(3, 5), mode="bicubic", align_corners=True),
         'size=[3, 5], mode="bicubic", align_corners=true'),
    case("bicubic-scale-1.3", (1, 2, 5, 4), dict(scale_factor=1.3, mode="bicubic"), 'scale_factor=1.3, mode="bicubic"'),
    case("bicubic-scale-0.7", (1, 1, 6, 7), dict(scale_factor=0.7, mode="bicubic"), 'scale_factor=0.7, mode="bicubic"'),
    case("bicubic-small-input", (1, 1, 2, 1), dict(size=(5, 3), mode="bicubic"), 'size=[5, 3], mode="bicubic"'),
    # ---- trilinear
    case("trilinear-up", (1, 2, 2, 3, 4), dict(size=(3, 5, 6), mode="trilinear"), 'size=[3, 5, 6], mode="trilinear"'),
    case("trilinear-align", (1, 1, 3, 3, 2), dict(size=(4, 2, 5), mode="trilinear", align_corners=True),
         'size=[4, 2, 5], mode="trilinear", align_corners=true'),
    case("trilinear-scale-2", (1, 1, 2, 2, 3), dict(scale_factor=2, mode="trilinear"),
         'scale_factor=2, mode="trilinear"'),
    # ---- special points: an empty batch; infinities and NaN
    case("bilinear-empty-batch", (0, 2, 3, 4), dict(size=(5, 6), mode="bilinear"), 'size=[5, 6], mode="bilinear"'),
    case("nearest-empty-batch", (0, 1, 3), dict(scale_factor=2), "scale_factor=2"),
    {"name": "interpolate-bilinear-inf-nan", "expr": 'interpolate(x, size=[3, 5], mode="bilinear")',
     "inputs": {"x": [[[[1.0, inf, -2.0], [nan, 0.5, -0.0]]]]},
     "torch": lambda x: F.interpolate(x, size=(3, 5), mode="bilinear")},
    {"name": "interpolate-bicubic-inf", "expr": 'interpolate(x, size=[2, 6], mode="bicubic", align_corners=true)',
     "inputs": {"x": [[[[1.0, 2.0, -inf, 3.0], [0.0, -1.0, 2.0, 4.0]]]]},
     "torch": lambda x: F.interpolate(x, size=(2, 6), mode="bicubic", align_corners=True)},
    {"name": "interpolate-nearest-inf-nan", "expr": "interpolate(x, size=[5])",
     "inputs": {"x": [[[inf, nan, -inf]]]},
     "torch": lambda x: F.interpolate(x, size=5)},
]
