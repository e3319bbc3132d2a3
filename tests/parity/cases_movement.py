"""Parity cases of the movement ops and constants (lib/ops/movement.c's
squeeze, expand_dims, flatten; rearrange.c; pad.c; triangle.c;
constant.c): random points and the edge cases each op defines (empty
results, negative axes, k beyond the matrix, size-1 axes, shifts beyond the
axis). Read by tests/parity/run.py.

Constants are multiplied by an input x of shape (1,) so that the lambda
knows the dtype and the gradient through the constant is checked too."""

import numpy as np
import torch
import torch.nn.functional as F

inf, nan = float("inf"), float("nan")

TORCH_MODE = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}


def tpad(x, pads, mode="constant", value=0.0, axes=None):
    """gradd's pad(x, pads, mode, value, axes) written with torch's F.pad:
    pairs (before, after) in axis order for axes (default: the last axes)."""
    pairs = [(pads[i], pads[i + 1]) for i in range(0, len(pads), 2)]
    nd, r = len(pairs), x.dim()
    axes = list(range(r - nd, r)) if axes is None else [a % r for a in axes]
    rest = [a for a in range(r) if a not in axes]
    perm = rest + axes
    y = x.permute(perm)
    flat = []
    for b, a in reversed(pairs):
        flat += [b, a]
    if mode == "constant":
        y = F.pad(y, flat, mode="constant", value=value)
    else:  # reflect and replicate want (N, C, *spatial) with 1 to 3 spatial axes
        lead = y.shape[:r - nd]
        z = y.reshape((1, int(np.prod(lead, dtype=np.int64))) + tuple(y.shape[r - nd:]))
        z = F.pad(z, flat, mode=TORCH_MODE[mode])
        y = z.reshape(tuple(lead) + tuple(z.shape[2:]))
    inv = [perm.index(a) for a in range(r)]
    return y.permute(inv)


def const(x, a):
    """numpy array a as a torch tensor of x's dtype."""
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=x.dtype)


CASES = [
    # ---- squeeze, expand_dims, flatten ----
    {"name": "squeeze-all", "expr": "squeeze(x)", "inputs": {"x": (2, 1, 3, 1)},
     "torch": lambda x: torch.squeeze(x)},
    {"name": "squeeze-axis-negative", "expr": "squeeze(x, axis=-1)", "inputs": {"x": (2, 1, 3, 1)},
     "torch": lambda x: x.squeeze(-1)},
    {"name": "squeeze-axes", "expr": "squeeze(x, axes=[1, 3])", "inputs": {"x": (2, 1, 3, 1)},
     "torch": lambda x: x.squeeze(3).squeeze(1)},
    {"name": "squeeze-to-scalar", "expr": "squeeze(x)", "inputs": {"x": (1, 1)},
     "torch": lambda x: torch.squeeze(x)},
    {"name": "squeeze-empty", "expr": "squeeze(x)", "inputs": {"x": (0, 1, 2)},
     "torch": lambda x: torch.squeeze(x)},
    {"name": "squeeze-none-size-1", "expr": "squeeze(x)", "inputs": {"x": (2, 3)},
     "torch": lambda x: torch.squeeze(x)},
    {"name": "expand_dims-front", "expr": "expand_dims(x, axis=0)", "inputs": {"x": (2, 3)},
     "torch": lambda x: x.unsqueeze(0)},
    {"name": "expand_dims-negative", "expr": "expand_dims(x, axis=-1)", "inputs": {"x": (2, 3)},
     "torch": lambda x: x.unsqueeze(-1)},
    {"name": "expand_dims-middle", "expr": "expand_dims(x, axis=1)", "inputs": {"x": (2, 3)},
     "torch": lambda x: x.unsqueeze(1)},
    {"name": "expand_dims-axes", "expr": "expand_dims(x, axes=[0, 3])", "inputs": {"x": (2, 3)},
     "torch": lambda x: x.unsqueeze(0).unsqueeze(3)},
    {"name": "expand_dims-scalar", "expr": "expand_dims(x, axis=0)", "inputs": {"x": ()},
     "torch": lambda x: x.unsqueeze(0)},
    {"name": "flatten-all", "expr": "flatten(x)", "inputs": {"x": (2, 3, 4)},
     "torch": lambda x: torch.flatten(x)},
    {"name": "flatten-start", "expr": "flatten(x, start_dim=1)", "inputs": {"x": (2, 3, 4)},
     "torch": lambda x: torch.flatten(x, 1)},
    {"name": "flatten-middle", "expr": "flatten(x, start_dim=1, end_dim=-2)", "inputs": {"x": (2, 3, 4, 2)},
     "torch": lambda x: torch.flatten(x, 1, -2)},
    {"name": "flatten-one-axis", "expr": "flatten(x, start_dim=-1)", "inputs": {"x": (2, 3)},
     "torch": lambda x: torch.flatten(x, -1)},
    {"name": "flatten-scalar", "expr": "flatten(x)", "inputs": {"x": ()},
     "torch": lambda x: torch.flatten(x)},
    {"name": "flatten-empty", "expr": "flatten(x, start_dim=1)", "inputs": {"x": (2, 0, 3)},
     "torch": lambda x: torch.flatten(x, 1)},
    # ---- flip ----
    {"name": "flip-all", "expr": "flip(x)", "inputs": {"x": (2, 3, 4)},
     "torch": lambda x: torch.flip(x, list(range(x.dim())))},
    {"name": "flip-axis", "expr": "flip(x, axis=1)", "inputs": {"x": (3, 4)},
     "torch": lambda x: torch.flip(x, [1])},
    {"name": "flip-axes-negative", "expr": "flip(x, axes=[0, -1])", "inputs": {"x": (2, 3, 4)},
     "torch": lambda x: torch.flip(x, [0, -1])},
    {"name": "flip-size-1", "expr": "flip(x, axes=[0, 1])", "inputs": {"x": (1, 5)},
     "torch": lambda x: torch.flip(x, [0, 1])},
    {"name": "flip-empty", "expr": "flip(x)", "inputs": {"x": (0, 3)},
     "torch": lambda x: torch.flip(x, [0, 1])},
    {"name": "flip-scalar", "expr": "flip(x)", "inputs": {"x": ()},
     "torch": lambda x: x.clone()},
    # ---- roll ----
    {"name": "roll-flat", "expr": "roll(x, shifts=[5])", "inputs": {"x": (3, 4)},
     "torch": lambda x: torch.roll(x, 5)},
    {"name": "roll-flat-negative", "expr": "roll(x, shifts=[-7])", "inputs": {"x": (2, 3, 2)},
     "torch": lambda x: torch.roll(x, -7)},
    {"name": "roll-two-axes", "expr": "roll(x, shifts=[1, -3], axes=[1, 2])", "inputs": {"x": (2, 3, 4)},
     "torch": lambda x: torch.roll(x, (1, -3), (1, 2))},
    {"name": "roll-axis-negative", "expr": "roll(x, shifts=[-1], axis=-2)", "inputs": {"x": (3, 4)},
     "torch": lambda x: torch.roll(x, -1, -2)},
    {"name": "roll-beyond-axis", "expr": "roll(x, shifts=[11], axis=1)", "inputs": {"x": (3, 4)},
     "torch": lambda x: torch.roll(x, 11, 1)},
    {"name": "roll-repeated-axis", "expr": "roll(x, shifts=[1, 2], axes=[0, 0])", "inputs": {"x": (5, 2)},
     "torch": lambda x: torch.roll(x, 3, 0)},
    {"name": "roll-one-shift-two-axes", "expr": "roll(x, shifts=[1], axes=[0, 1])", "inputs": {"x": (3, 4)},
     "torch": lambda x: torch.roll(x, (1, 1), (0, 1))},
    {"name": "roll-empty", "expr": "roll(x, shifts=[2], axis=1)", "inputs": {"x": (0, 3)},
     "torch": lambda x: x.clone()},
    # ---- tile ----
    {"name": "tile-2d", "expr": "tile(x, reps=[2, 3])", "inputs": {"x": (2, 3)},
     "torch": lambda x: torch.tile(x, (2, 3))},
    {"name": "tile-promote-x", "expr": "tile(x, reps=[2, 1, 2])", "inputs": {"x": (3,)},
     "torch": lambda x: torch.tile(x, (2, 1, 2))},
    {"name": "tile-short-reps", "expr": "tile(x, reps=[2])", "inputs": {"x": (2, 1, 3)},
     "torch": lambda x: torch.tile(x, (2,))},
    {"name": "tile-zero", "expr": "tile(x, reps=[0, 2])", "inputs": {"x": (2, 3)},
     "torch": lambda x: torch.tile(x, (0, 2))},
    {"name": "tile-size-1", "expr": "tile(x, reps=[3, 1])", "inputs": {"x": (1, 4)},
     "torch": lambda x: torch.tile(x, (3, 1))},
    {"name": "tile-scalar", "expr": "tile(x, reps=[3])", "inputs": {"x": ()},
     "torch": lambda x: torch.tile(x, (3,))},
    # ---- repeat ----
    {"name": "repeat-flat", "expr": "repeat(x, repeats=2)", "inputs": {"x": (2, 3)},
     "torch": lambda x: torch.repeat_interleave(x, 2)},
    {"name": "repeat-axis", "expr": "repeat(x, repeats=3, axis=1)", "inputs": {"x": (2, 3, 2)},
     "torch": lambda x: torch.repeat_interleave(x, 3, dim=1)},
    {"name": "repeat-axis-negative", "expr": "repeat(x, repeats=2, axis=-1)", "inputs": {"x": (3, 2)},
     "torch": lambda x: torch.repeat_interleave(x, 2, dim=-1)},
    {"name": "repeat-zero", "expr": "repeat(x, repeats=0, axis=0)", "inputs": {"x": (2, 3)},
     "torch": lambda x: torch.repeat_interleave(x, 0, dim=0)},
    {"name": "repeat-scalar", "expr": "repeat(x, repeats=4)", "inputs": {"x": ()},
     "torch": lambda x: torch.repeat_interleave(x, 4)},
    # ---- pad ----
    {"name": "pad-constant", "expr": "pad(x, pads=[1, 2, 0, 3])", "inputs": {"x": (3, 4)},
     "torch": lambda x: tpad(x, [1, 2, 0, 3])},
    {"name": "pad-constant-value", "expr": 'pad(x, pads=[2, 1], mode="constant", value=1.5)',
     "inputs": {"x": (3, 4)}, "torch": lambda x: tpad(x, [2, 1], value=1.5)},
    {"name": "pad-reflect-2d", "expr": 'pad(x, pads=[2, 1, 3, 2], mode="reflect")', "inputs": {"x": (3, 4)},
     "torch": lambda x: tpad(x, [2, 1, 3, 2], "reflect")},
    {"name": "pad-reflect-last", "expr": 'pad(x, pads=[3, 3], mode="reflect")', "inputs": {"x": (2, 3, 4)},
     "torch": lambda x: tpad(x, [3, 3], "reflect")},
    {"name": "pad-reflect-3-axes", "expr": 'pad(x, pads=[1, 0, 0, 2, 1, 1], mode="reflect")',
     "inputs": {"x": (2, 3, 3)}, "torch": lambda x: tpad(x, [1, 0, 0, 2, 1, 1], "reflect")},
    {"name": "pad-edge", "expr": 'pad(x, pads=[2, 3], mode="edge")', "inputs": {"x": (2, 3)},
     "torch": lambda x: tpad(x, [2, 3], "edge")},
    {"name": "pad-edge-axes", "expr": 'pad(x, pads=[2, 3, 1, 0], mode="edge", axes=[1, 0])',
     "inputs": {"x": (2, 3, 2)}, "torch": lambda x: tpad(x, [2, 3, 1, 0], "edge", axes=[1, 0])},
    {"name": "pad-edge-size-1", "expr": 'pad(x, pads=[4, 2], mode="edge")', "inputs": {"x": (3, 1)},
     "torch": lambda x: tpad(x, [4, 2], "edge")},
    {"name": "pad-constant-axes-negative", "expr": "pad(x, pads=[1, 1], axes=[-2], value=-3)",
     "inputs": {"x": (2, 3, 2)}, "torch": lambda x: tpad(x, [1, 1], value=-3.0, axes=[-2])},
    {"name": "pad-constant-empty-axis", "expr": "pad(x, pads=[1, 2, 0, 0])", "inputs": {"x": (0, 3)},
     "torch": lambda x: tpad(x, [1, 2, 0, 0])},
    {"name": "pad-zero-width", "expr": 'pad(x, pads=[0, 0], mode="reflect")', "inputs": {"x": (2, 3)},
     "torch": lambda x: x.clone()},
    # ---- tril, triu ----
    {"name": "tril", "expr": "tril(x)", "inputs": {"x": (3, 4)}, "torch": lambda x: torch.tril(x)},
    {"name": "tril-k-negative-batched", "expr": "tril(x, k=-1)", "inputs": {"x": (2, 3, 4)},
     "torch": lambda x: torch.tril(x, -1)},
    {"name": "triu-k", "expr": "triu(x, k=1)", "inputs": {"x": (4, 3)}, "torch": lambda x: torch.triu(x, 1)},
    {"name": "triu-batched", "expr": "triu(x)", "inputs": {"x": (2, 3, 3)}, "torch": lambda x: torch.triu(x)},
    {"name": "tril-k-beyond", "expr": "tril(x, k=10)", "inputs": {"x": (3, 4)}, "torch": lambda x: torch.tril(x, 10)},
    {"name": "tril-k-below", "expr": "tril(x, k=-10)", "inputs": {"x": (3, 4)},
     "torch": lambda x: torch.tril(x, -10)},
    {"name": "triu-k-beyond", "expr": "triu(x, k=10)", "inputs": {"x": (3, 4)}, "torch": lambda x: torch.triu(x, 10)},
    {"name": "triu-k-below", "expr": "triu(x, k=-5)", "inputs": {"x": (3, 4)}, "torch": lambda x: torch.triu(x, -5)},
    {"name": "tril-empty", "expr": "tril(x)", "inputs": {"x": (0, 3)}, "torch": lambda x: torch.tril(x)},
    {"name": "triu-size-1", "expr": "triu(x, k=1)", "inputs": {"x": (1, 4)}, "torch": lambda x: torch.triu(x, 1)},
    # ---- diagonal ----
    {"name": "diagonal", "expr": "diagonal(x)", "inputs": {"x": (3, 4)}, "torch": lambda x: torch.diagonal(x)},
    {"name": "diagonal-offset-axes", "expr": "diagonal(x, offset=1, axis1=-1, axis2=0)", "inputs": {"x": (2, 3, 4)},
     "torch": lambda x: torch.diagonal(x, 1, -1, 0)},
    {"name": "diagonal-offset-negative", "expr": "diagonal(x, offset=-1, axis1=0, axis2=2)",
     "inputs": {"x": (3, 2, 4)}, "torch": lambda x: torch.diagonal(x, -1, 0, 2)},
    {"name": "diagonal-batched-last", "expr": "diagonal(x, axis1=-2, axis2=-1)", "inputs": {"x": (2, 4, 3)},
     "torch": lambda x: torch.diagonal(x, 0, -2, -1)},
    {"name": "diagonal-offset-beyond", "expr": "diagonal(x, offset=5)", "inputs": {"x": (3, 4)},
     "torch": lambda x: torch.diagonal(x, 5)},
    {"name": "diagonal-offset-below", "expr": "diagonal(x, offset=-3)", "inputs": {"x": (3, 4)},
     "torch": lambda x: torch.diagonal(x, -3)},
    {"name": "diagonal-trace", "expr": "sum(diagonal(x))", "inputs": {"x": (4, 4)},
     "torch": lambda x: torch.trace(x)},
    # ---- constants, times x of shape (1,) ----
    {"name": "arange-stop", "expr": "x * arange(stop=5)", "inputs": {"x": (1,)},
     "torch": lambda x: x * torch.arange(5, dtype=x.dtype)},
    {"name": "arange-fraction", "expr": "x * arange(start=1, stop=1.3, step=0.1)", "inputs": {"x": (1,)},
     "torch": lambda x: x * torch.arange(1, 1.3, 0.1, dtype=x.dtype)},
    {"name": "arange-negative-step", "expr": "x * arange(start=3, stop=-2, step=-1.5)", "inputs": {"x": (1,)},
     "torch": lambda x: x * torch.arange(3, -2, -1.5, dtype=x.dtype)},
    {"name": "arange-long", "expr": "x * arange(start=-2.5, stop=40.25, step=0.37)", "inputs": {"x": (1,)},
     "torch": lambda x: x * torch.arange(-2.5, 40.25, 0.37, dtype=x.dtype)},
    # NumPy's rule: a step pointing away from stop gives an empty tensor (torch refuses)
    {"name": "arange-empty", "expr": "x * arange(start=5, stop=1)", "inputs": {"x": (1,)},
     "torch": lambda x: x * const(x, np.arange(5, 1))},
    {"name": "eye", "expr": "x * eye(n=3)", "inputs": {"x": (1,)},
     "torch": lambda x: x * torch.eye(3, dtype=x.dtype)},
    {"name": "eye-rect-k", "expr": "x * eye(n=2, m=4, k=1)", "inputs": {"x": (1,)},
     "torch": lambda x: x * const(x, np.eye(2, 4, 1))},
    {"name": "eye-k-negative", "expr": "x * eye(n=3, m=2, k=-1)", "inputs": {"x": (1,)},
     "torch": lambda x: x * const(x, np.eye(3, 2, -1))},
    {"name": "eye-k-beyond", "expr": "x * eye(n=2, m=3, k=4)", "inputs": {"x": (1,)},
     "torch": lambda x: x * const(x, np.eye(2, 3, 4))},
    {"name": "eye-empty", "expr": "x * eye(n=0, m=3)", "inputs": {"x": (1,)},
     "torch": lambda x: x * torch.eye(0, 3, dtype=x.dtype)},
    {"name": "zeros", "expr": "x * zeros(shape=[2, 3])", "inputs": {"x": (1,)},
     "torch": lambda x: x * torch.zeros(2, 3, dtype=x.dtype)},
    {"name": "ones", "expr": "x * ones(shape=[2, 3])", "inputs": {"x": (1,)},
     "torch": lambda x: x * torch.ones(2, 3, dtype=x.dtype)},
    {"name": "ones-empty", "expr": "x * ones(shape=[0, 3])", "inputs": {"x": (1,)},
     "torch": lambda x: x * torch.ones(0, 3, dtype=x.dtype)},
    {"name": "full", "expr": "x * full(shape=[3], value=-2.5)", "inputs": {"x": (1,)},
     "torch": lambda x: x * torch.full((3,), -2.5, dtype=x.dtype)},
    {"name": "zeros_like", "expr": "zeros_like(x)", "inputs": {"x": (2, 3)},
     "torch": lambda x: torch.zeros_like(x)},
    {"name": "ones_like", "expr": "ones_like(x)", "inputs": {"x": (2, 3)},
     "torch": lambda x: torch.ones_like(x)},
    {"name": "full_like", "expr": "full_like(x, value=3.25)", "inputs": {"x": (4,)},
     "torch": lambda x: torch.full_like(x, 3.25)},
    {"name": "ones_like-times-x", "expr": "x * ones_like(x) + full_like(x, value=2)", "inputs": {"x": (2, 3)},
     "torch": lambda x: x * torch.ones_like(x) + torch.full_like(x, 2)},
    # ---- non-finite values and signed zeros pass through unchanged ----
    {"name": "tril-nonfinite", "expr": "tril(x)", "inputs": {"x": [[nan, inf, 1.0], [-inf, -0.0, nan], [2.0, nan, inf]]},
     "torch": lambda x: torch.tril(x)},
    {"name": "triu-nonfinite", "expr": "triu(x, k=-1)", "inputs": {"x": [[nan, inf, 1.0], [-inf, -0.0, nan], [2.0, nan, inf]]},
     "torch": lambda x: torch.triu(x, -1)},
    {"name": "pad-reflect-nonfinite", "expr": 'pad(x, pads=[2, 2], mode="reflect")',
     "inputs": {"x": [inf, -0.0, nan, -inf]}, "torch": lambda x: tpad(x, [2, 2], "reflect")},
    {"name": "pad-edge-nonfinite", "expr": 'pad(x, pads=[1, 2], mode="edge")',
     "inputs": {"x": [[-inf, 0.0], [nan, -0.0]]}, "torch": lambda x: tpad(x, [1, 2], "edge")},
    {"name": "flip-roll-nonfinite", "expr": "roll(flip(x), shifts=[1])", "inputs": {"x": [nan, -0.0, inf, 1.0, -inf]},
     "torch": lambda x: torch.roll(torch.flip(x, [0]), 1)},
    {"name": "diagonal-nonfinite", "expr": "diagonal(x, offset=-1)", "inputs": {"x": [[nan, 1.0], [inf, -0.0], [2.0, -inf]]},
     "torch": lambda x: torch.diagonal(x, -1)},
    {"name": "full-like-nonfinite", "expr": "full_like(tile(x, reps=[2]), value=-0.5) + tile(x, reps=[2])",
     "inputs": {"x": [nan, inf]}, "torch": lambda x: torch.full_like(torch.tile(x, (2,)), -0.5) + torch.tile(x, (2,))},
    # ---- identities: size-1 and unit settings ----
    {"name": "diagonal-1x1", "expr": "diagonal(x)", "inputs": {"x": (1, 1)}, "torch": lambda x: torch.diagonal(x)},
    {"name": "repeat-once", "expr": "repeat(x, repeats=1, axis=0)", "inputs": {"x": (3, 2)},
     "torch": lambda x: torch.repeat_interleave(x, 1, dim=0)},
    {"name": "tile-ones", "expr": "tile(x, reps=[1, 1])", "inputs": {"x": (3, 2)},
     "torch": lambda x: torch.tile(x, (1, 1))},
    {"name": "roll-zero", "expr": "roll(x, shifts=[0], axis=0)", "inputs": {"x": (3, 2)},
     "torch": lambda x: torch.roll(x, 0, 0)},
    {"name": "squeeze-axis-size-1-only", "expr": "squeeze(x, axis=-3)", "inputs": {"x": (1, 1, 2)},
     "torch": lambda x: x.squeeze(-3)},
    # ---- in combination: a causal mask, a padded convolution-like sum ----
    {"name": "combo-causal-mask", "expr": "x * tril(ones(shape=[4, 4]))", "inputs": {"x": (2, 4, 4)},
     "torch": lambda x: x * torch.tril(torch.ones(4, 4, dtype=x.dtype))},
    {"name": "combo-flip-roll-tile", "expr": "tile(roll(flip(x, axis=0), shifts=[1], axis=1), reps=[2, 1])",
     "inputs": {"x": (3, 4)},
     "torch": lambda x: torch.tile(torch.roll(torch.flip(x, [0]), 1, 1), (2, 1))},
    {"name": "combo-pad-reflect-square", "expr": 'pad(x, pads=[1, 1], mode="reflect") ^ 2',
     "inputs": {"x": (2, 4)}, "torch": lambda x: tpad(x, [1, 1], "reflect") ** 2},
]
