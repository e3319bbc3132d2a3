"""Parity cases of the elementwise ops of one operand: unary.c, math.c and
activation.c (see run.py for the format). Every op runs at random points
of its domain and at its special points: +-0, the kinks and bounds it
defines, +-inf, NaN, large |x| and tiny |x|."""
import torch
import torch.nn.functional as F

inf, nan = float("inf"), float("nan")

# Points where most functions of one operand change behaviour.
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.0, -3.0, 6.0, -6.0,
           20.0, 25.0, -25.0, 800.0, -800.0, 1e-10, -1e-10, 1e300, -1e300, inf, -inf, nan]
# The same without 0, for functions with a pole or a torch reference that
# is NaN there.
NONZERO = [v for v in SPECIAL if v != 0.0]


def cbrt(x):
    """NumPy's real cube root (torch 1.13 has none)."""
    return torch.sign(x) * torch.abs(x).pow(1.0 / 3.0)


class HardsigmoidExact(torch.autograd.Function):
    """F.hardsigmoid with the exact 1/6 slope: torch 1.13 multiplies by
    float32's 1/6 in float64 too (0.1666666716), gradd uses 1/6."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return F.hardsigmoid(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ((x > -3) & (x < 3)).to(g.dtype) / 6


def scalarwise(fn):
    """fn applied to each element alone. torch 1.13's CPU kernels run a
    vectorized loop over most of a tensor and a scalar loop over the rest,
    and the two disagree at some special points (the gradient for NaN of
    hardtanh, relu6 and the elu family, hardswish's at 3); gradd follows the
    scalar loop, ATen's reference, which one element at a time always takes."""
    def apply(x):
        if x.numel() == 0:
            return fn(x)
        return torch.stack([fn(v) for v in x.reshape(-1).unbind()]).reshape(x.shape)
    return apply


def op(name, expr, fn, domain="any", special=SPECIAL, shape=(3, 4), grad=True, signed_zeros=True):
    """A random case over shape and a special-point case of one unary op."""
    out = [{"name": name, "expr": expr, "inputs": {"x": shape}, "torch": fn,
            "domain": {"x": domain}, "grad": grad, "signed_zeros": signed_zeros}]
    if special:
        out.append({"name": name + "-special", "expr": expr, "inputs": {"x": list(special)},
                    "torch": scalarwise(fn), "grad": grad, "signed_zeros": signed_zeros})
    return out


CASES = []
# unary.c
CASES += op("neg", "neg(x)", torch.neg)
CASES += op("exp", "exp(x)", torch.exp)
CASES += op("log", "log(x)", torch.log, "pos")
CASES += op("sin", "sin(x)", torch.sin)
CASES += op("cos", "cos(x)", torch.cos)
CASES += op("tanh", "tanh(x)", torch.tanh)
CASES += op("sigmoid", "sigmoid(x)", torch.sigmoid)
CASES += op("relu", "relu(x)", torch.relu)
CASES += op("sqrt", "sqrt(x)", torch.sqrt, "pos")
CASES += op("abs", "abs(x)", torch.abs)
CASES += op("square", "square(x)", torch.square)
CASES += op("reciprocal", "reciprocal(x)", torch.reciprocal, "away0")
CASES += op("softplus", "softplus(x)", F.softplus)
CASES += op("softplus-beta", "softplus(x, beta=2, threshold=5)", lambda x: F.softplus(x, beta=2, threshold=5),
            special=SPECIAL + [2.4, 2.5000001, 2.6])
CASES += op("softplus-beta-neg", "softplus(x, beta=-0.5, threshold=1)",
            lambda x: F.softplus(x, beta=-0.5, threshold=1), special=SPECIAL + [-2.0, -1.9, -2.1])
# math.c
CASES += op("log1p", "log1p(x)", torch.log1p, ("uniform", -0.9, 2.0), SPECIAL + [-0.999999, 1e-300])
CASES += op("expm1", "expm1(x)", torch.expm1)
CASES += op("log2", "log2(x)", torch.log2, "pos")
CASES += op("log10", "log10(x)", torch.log10, "pos")
CASES += op("exp2", "exp2(x)", torch.exp2, special=SPECIAL + [1024.0, -1075.0])
CASES += op("erf", "erf(x)", torch.erf)
CASES += op("erfc", "erfc(x)", torch.erfc)
CASES += op("tan", "tan(x)", torch.tan, ("uniform", -1.4, 1.4))
CASES += op("asin", "asin(x)", torch.asin, ("uniform", -0.99, 0.99), SPECIAL + [0.999999, -0.999999])
CASES += op("acos", "acos(x)", torch.acos, ("uniform", -0.99, 0.99), SPECIAL + [0.999999, -0.999999])
CASES += op("atan", "atan(x)", torch.atan)
CASES += op("sinh", "sinh(x)", torch.sinh)
CASES += op("cosh", "cosh(x)", torch.cosh)
CASES += op("asinh", "asinh(x)", torch.asinh)
CASES += op("acosh", "acosh(x)", torch.acosh, ("uniform", 1.01, 4.0), SPECIAL + [1.000001])
CASES += op("atanh", "atanh(x)", torch.atanh, ("uniform", -0.99, 0.99), SPECIAL + [0.999999, -0.999999])
CASES += op("rsqrt", "rsqrt(x)", torch.rsqrt, "pos", SPECIAL + [1e-300, 4.0])
# (the reference's sign(x) |x|^(1/3) is +0 at -0 and its gradient's zeros
# take other signs; gradd's cbrt(-0) is NumPy's and C's, -0)
CASES += op("cbrt", "cbrt(x)", cbrt, "away0", NONZERO + [27.0, -8.0], signed_zeros=False)
CASES += [{"name": "cbrt-tiny", "expr": "cbrt(x)", "inputs": {"x": [1e-300, -1e-300, 5e-324]}, "torch": cbrt,
           "dtypes": ["float64"]}]
CASES += op("cbrt-zero", "cbrt(x)", cbrt, special=[0.0, -0.0, 8.0, -27.0], grad=False, signed_zeros=False)
CASES += op("sign", "sign(x)", torch.sign)
CASES += op("floor", "floor(x)", torch.floor, ("uniform", -5.0, 5.0))
CASES += op("ceil", "ceil(x)", torch.ceil, ("uniform", -5.0, 5.0))
CASES += op("round", "round(x)", torch.round, ("uniform", -5.0, 5.0),
            SPECIAL + [0.49999999999999994, 3.5, -3.5, 4.5, -4.5, 2.5000001, 4503599627370497.0])
CASES += op("trunc", "trunc(x)", torch.trunc, ("uniform", -5.0, 5.0))
CASES += op("isnan", "isnan(x)", torch.isnan)
CASES += op("isinf", "isinf(x)", torch.isinf)
CASES += op("logical_not", "logical_not(x)", torch.logical_not, special=SPECIAL + [0.0, 0.0])
CASES += op("stop_gradient", "stop_gradient(x)", lambda x: x.detach())
CASES += op("stop_gradient-chain", "stop_gradient(x) * x", lambda x: x.detach() * x, special=None)
# activation.c
CASES += op("gelu", "gelu(x)", F.gelu)
CASES += op("gelu-none", "gelu(x, approximate='none')", lambda x: F.gelu(x, approximate="none"), special=None)
CASES += op("gelu-tanh", 'gelu(x, approximate="tanh")', lambda x: F.gelu(x, approximate="tanh"))
CASES += op("silu", "silu(x)", F.silu)
CASES += op("elu", "elu(x)", F.elu)
CASES += op("elu-alpha", "elu(x, alpha=0.5)", lambda x: F.elu(x, alpha=0.5))
CASES += op("selu", "selu(x)", F.selu)
CASES += op("celu", "celu(x)", F.celu)
CASES += op("celu-alpha", "celu(x, alpha=2)", lambda x: F.celu(x, alpha=2.0))
CASES += op("leaky_relu", "leaky_relu(x)", F.leaky_relu)
CASES += op("leaky_relu-slope", "leaky_relu(x, negative_slope=0.2)", lambda x: F.leaky_relu(x, 0.2))
CASES += op("relu6", "relu6(x)", F.relu6, ("uniform", -2.0, 8.0))
CASES += op("hardtanh", "hardtanh(x)", F.hardtanh)
CASES += op("hardtanh-bounds", "hardtanh(x, min_val=-0.5, max_val=2)", lambda x: F.hardtanh(x, -0.5, 2.0),
            special=SPECIAL + [2.0, -2.0])
CASES += op("hardtanh-equal-bounds", "hardtanh(x, min_val=0.5, max_val=0.5)",
            lambda x: F.hardtanh(x, 0.5, 0.5))
CASES += op("hardsigmoid", "hardsigmoid(x)", HardsigmoidExact.apply, ("uniform", -4.0, 4.0))
CASES += op("hardswish", "hardswish(x)", F.hardswish, ("uniform", -4.0, 4.0))
CASES += op("mish", "mish(x)", F.mish)
CASES += op("logsigmoid", "logsigmoid(x)", F.logsigmoid)
CASES += op("softsign", "softsign(x)", F.softsign)
CASES += op("clip", "clip(x, min=-1, max=1)", lambda x: torch.clamp(x, -1.0, 1.0))
CASES += op("clip-min", "clip(x, min=0.5)", lambda x: torch.clamp(x, min=0.5))
CASES += op("clip-max", "clip(x, max=-0.5)", lambda x: torch.clamp(x, max=-0.5), special=SPECIAL + [-0.5])
CASES += op("clip-crossed", "clip(x, min=1, max=-1)", lambda x: torch.clamp(x, 1.0, -1.0))
CASES += op("clamp", "clamp(x, min=-2.5, max=3)", lambda x: torch.clamp(x, -2.5, 3.0))
# An infinite gradient arriving where the mask is 0: PyTorch's where(mask,
# grad, 0) gives 0 there, a product 0 * inf would give NaN.
CASES += [{"name": "clip-infinite-upstream", "expr": "clip(x, min=0, max=1) * s",
           "inputs": {"x": [-1.0, 0.5, 2.0, -0.0, 0.25, 3.0], "s": [inf, -inf, inf, -inf, inf, -inf]},
           "nondiff": ["s"], "torch": lambda x, s: torch.clamp(x, 0.0, 1.0) * s},
          {"name": "hardtanh-infinite-upstream", "expr": "hardtanh(x) * s",
           "inputs": {"x": [-2.0, 0.5, 2.0, -0.0, nan, 3.0], "s": [inf, -inf, inf, -inf, inf, -inf]},
           "nondiff": ["s"], "torch": lambda x, s: scalarwise(F.hardtanh)(x) * s}]

# Shapes beyond (3, 4): a scalar, an empty tensor, a rank-3 tensor.
for name, expr, fn in [("gelu", "gelu(x)", F.gelu), ("erf", "erf(x)", torch.erf),
                       ("clip", "clip(x, min=0)", lambda x: torch.clamp(x, min=0.0)),
                       ("round", "round(x)", torch.round), ("softplus", "softplus(x)", F.softplus)]:
    CASES += op(name + "-scalar", expr, fn, shape=(), special=None)
    CASES += op(name + "-empty", expr, fn, shape=(2, 0), special=None)
CASES += op("mish-rank3", "mish(x)", F.mish, shape=(2, 3, 4), special=None)

# Compositions: the derivative graphs chain (and broadcast) correctly.
CASES += [
    {"name": "compose-gelu-erf-mul", "expr": "gelu(x) * erf(y) + softsign(x * y)",
     "inputs": {"x": (3, 4), "y": (4,)},
     "torch": lambda x, y: F.gelu(x) * torch.erf(y) + F.softsign(x * y)},
    {"name": "compose-clip-stop", "expr": "clip(x, min=-1, max=1) * stop_gradient(y) + log1p(abs(y))",
     "inputs": {"x": (2, 3), "y": (2, 3)},
     "torch": lambda x, y: torch.clamp(x, -1.0, 1.0) * y.detach() + torch.log1p(torch.abs(y))},
]
