"""Parity cases of the variadic and indexing ops (lib/ops/join.c: concat,
stack; lib/ops/index.c: slice, slice_scatter, take, take_along_axis,
scatter_add, embedding), read by tests/parity/run.py: random points and
the edge cases each op defines -- repeated indices (the gradient's
scatter-add accumulates), negative indices (NumPy's rule for take,
take_along_axis and scatter_add), broadcasting indices, negative steps,
clamped and empty slices, empty operands, a single-operand concat, and
infinities and NaN passing through."""

import torch
import torch.nn.functional as F

inf, nan = float("inf"), float("nan")


def wrap(idx, n):
    """NumPy's negative indices: idx (float) as longs in [0, n)."""
    i = idx.long()
    return torch.where(i < 0, i + n, i)


def np_take(x, idx, axis=None):
    """np.take(x, idx, axis) (axis None: of the flattened x)."""
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis %= x.dim()
    i = wrap(idx, x.shape[axis])
    y = torch.index_select(x, axis, i.reshape(-1))
    return y.reshape(tuple(x.shape[:axis]) + tuple(idx.shape) + tuple(x.shape[axis + 1:]))


def np_take_along_axis(x, idx, axis):
    """np.take_along_axis: indices broadcast against x outside axis."""
    axis %= x.dim()
    i = wrap(idx, x.shape[axis])
    shape = [max(a, b) if d != axis else b for d, (a, b) in enumerate(zip(x.shape, i.shape))]
    xs = list(shape)
    xs[axis] = x.shape[axis]
    return torch.gather(x.expand(xs), axis, i.expand(shape))


def scatter_add(x, idx, u, axis):
    """gradd's scatter_add: y = x; y[p with axis = idx[p]] += u[p], with x,
    idx and u broadcast (x's size-1 dims accumulate)."""
    axis %= x.dim()
    i = wrap(idx, x.shape[axis])
    space = [max(a, b, c) if d != axis else max(b, c)
             for d, (a, b, c) in enumerate(zip(x.shape, i.shape, u.shape))]
    base = list(space)
    base[axis] = x.shape[axis]
    acc = torch.zeros(base, dtype=x.dtype).scatter_add(axis, i.expand(space), u.expand(space))
    for d in range(x.dim()):
        if d != axis and x.shape[d] == 1 and acc.shape[d] != 1:
            acc = acc.sum(d, keepdim=True)
    return x + acc


def np_slice(x, starts, ends, axes=None, steps=None):
    """ONNX Slice / NumPy basic slicing, negative steps included (torch has
    none): the indices Python's slice picks, per axis, by index_select."""
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    for s, e, a, st in zip(starts, ends, axes, steps):
        a %= x.dim()
        pick = list(range(x.shape[a]))[slice(s, e, st)]
        x = torch.index_select(x, a, torch.tensor(pick, dtype=torch.long))
    return x


def slice_scatter(x, src, starts, ends, axes=None, steps=None):
    """x with the slice np_slice reads replaced by src."""
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.dim()
    picks = []
    for s, e, a, st in zip(starts, ends, axes, steps):
        a %= x.dim()
        picks.append((a, torch.tensor(list(range(x.shape[a]))[slice(s, e, st)], dtype=torch.long)))
    mask = torch.ones_like(x)
    y = x
    # place src through index_put on the meshgrid of the picked indices
    grids = [torch.arange(n) for n in x.shape]
    for a, p in picks:
        grids[a] = p
    mesh = torch.meshgrid(*grids, indexing="ij")
    mask = mask.index_put(mesh, torch.zeros_like(src))
    y = x * mask
    return y.index_put(mesh, src, accumulate=True)


CASES = [
    # ---- concat ----
    {"name": "concat-axis0", "expr": "concat([a, b, c], axis=0)", "inputs": {"a": (2, 3), "b": (1, 3), "c": (4, 3)},
     "torch": lambda a, b, c: torch.cat([a, b, c], 0)},
    {"name": "concat-axis-neg", "expr": "concat([a, b], axis=-1)", "inputs": {"a": (2, 3, 2), "b": (2, 3, 1)},
     "torch": lambda a, b: torch.cat([a, b], -1)},
    {"name": "concat-default-axis", "expr": "concat([a, b])", "inputs": {"a": (2, 2), "b": (3, 2)},
     "torch": lambda a, b: torch.cat([a, b])},
    {"name": "concat-single", "expr": "concat([a], axis=1)", "inputs": {"a": (2, 3)},
     "torch": lambda a: torch.cat([a], 1)},
    {"name": "concat-many", "expr": "concat([a, b, a, c, b, a], axis=1)",
     "inputs": {"a": (2, 1), "b": (2, 2), "c": (2, 3)},
     "torch": lambda a, b, c: torch.cat([a, b, a, c, b, a], 1)},
    {"name": "concat-positional", "expr": "concat(a, b, c, d, axis=0)",
     "inputs": {"a": (1,), "b": (2,), "c": (3,), "d": (1,)},
     "torch": lambda a, b, c, d: torch.cat([a, b, c, d], 0)},
    {"name": "concat-with-empty", "expr": "concat([a, e, b], axis=0)", "inputs": {"a": (2, 3), "e": (0, 3), "b": (1, 3)},
     "torch": lambda a, e, b: torch.cat([a, e, b], 0)},
    {"name": "concat-all-empty", "expr": "concat([a, b], axis=1)", "inputs": {"a": (0, 2), "b": (0, 3)},
     "torch": lambda a, b: torch.cat([a, b], 1)},
    {"name": "concat-special", "expr": "concat([a, b])", "inputs": {"a": [inf, -inf], "b": [nan, -0.0]},
     "torch": lambda a, b: torch.cat([a, b])},
    {"name": "concat-of-exprs", "expr": "concat([a * 2, exp(b), a - b], axis=0)", "inputs": {"a": (3,), "b": (3,)},
     "torch": lambda a, b: torch.cat([a * 2, torch.exp(b), a - b], 0)},
    # ---- stack ----
    {"name": "stack-axis0", "expr": "stack([a, b, c])", "inputs": {"a": (2, 3), "b": (2, 3), "c": (2, 3)},
     "torch": lambda a, b, c: torch.stack([a, b, c])},
    {"name": "stack-axis-last", "expr": "stack([a, b], axis=-1)", "inputs": {"a": (2, 3), "b": (2, 3)},
     "torch": lambda a, b: torch.stack([a, b], -1)},
    {"name": "stack-axis-mid", "expr": "stack([a, b, a, b], axis=1)", "inputs": {"a": (2, 3), "b": (2, 3)},
     "torch": lambda a, b: torch.stack([a, b, a, b], 1)},
    {"name": "stack-scalars", "expr": "stack([a, b, a])", "inputs": {"a": 1.5, "b": -2.0},
     "torch": lambda a, b: torch.stack([a, b, a])},
    {"name": "stack-single", "expr": "stack([a], axis=1)", "inputs": {"a": (3, 2)},
     "torch": lambda a: torch.stack([a], 1)},
    {"name": "stack-empty", "expr": "stack([a, b])", "inputs": {"a": (0, 2), "b": (0, 2)},
     "torch": lambda a, b: torch.stack([a, b])},
    # ---- slice ----
    {"name": "slice-basic", "expr": "slice(x, starts=[1], ends=[3])", "inputs": {"x": (5, 3)},
     "torch": lambda x: x[1:3]},
    {"name": "slice-axes-negative", "expr": "slice(x, starts=[-3, 0], ends=[-1, 2], axes=[-1, 0])",
     "inputs": {"x": (3, 5)}, "torch": lambda x: x[0:2, -3:-1]},
    {"name": "slice-steps", "expr": "slice(x, starts=[0, 1], ends=[5, 100], steps=[2, 3])", "inputs": {"x": (5, 7)},
     "torch": lambda x: x[0:5:2, 1::3]},
    {"name": "slice-negative-step", "expr": "slice(x, starts=[-1], ends=[-100], steps=[-1])", "inputs": {"x": (6,)},
     "torch": lambda x: np_slice(x, [-1], [-100], None, [-1])},
    {"name": "slice-negative-step-2", "expr": "slice(x, starts=[4, 100], ends=[0, -100], axes=[1, 0], steps=[-2, -1])",
     "inputs": {"x": (3, 6)}, "torch": lambda x: np_slice(x, [4, 100], [0, -100], [1, 0], [-2, -1])},
    {"name": "slice-clamped", "expr": "slice(x, starts=[-100], ends=[100])", "inputs": {"x": (4, 2)},
     "torch": lambda x: x[-100:100]},
    {"name": "slice-empty", "expr": "slice(x, starts=[3], ends=[1], axes=[1])", "inputs": {"x": (2, 4)},
     "torch": lambda x: x[:, 3:1]},
    {"name": "slice-empty-negative-step", "expr": "slice(x, starts=[1], ends=[3], steps=[-1])", "inputs": {"x": (4,)},
     "torch": lambda x: np_slice(x, [1], [3], None, [-1])},
    {"name": "slice-int64-ends", "expr": "slice(x, starts=[1], ends=[9223372036854775807], axes=[1])",
     "inputs": {"x": (2, 4)}, "torch": lambda x: x[:, 1:]},
    {"name": "slice-of-empty", "expr": "slice(x, starts=[0], ends=[2])", "inputs": {"x": (0, 3)},
     "torch": lambda x: x[0:2]},
    {"name": "slice-special", "expr": "slice(x, starts=[1], ends=[4])", "inputs": {"x": [0.0, inf, -inf, nan, -0.0]},
     "torch": lambda x: x[1:4]},
    # ---- slice_scatter ----
    # (the reference's x * mask gives -0 where torch.slice_scatter's own
    # gradient, and gradd's, is +0: the case below uses torch's op)
    {"name": "slice-scatter", "signed_zeros": False,
     "expr": "slice_scatter(x, s, starts=[1, -1], ends=[3, -6], axes=[0, 1], steps=[1, -2])",
     "inputs": {"x": (4, 5), "s": (2, 3)},
     "torch": lambda x, s: slice_scatter(x, s, [1, -1], [3, -6], [0, 1], [1, -2])},
    {"name": "slice-scatter-rows", "expr": "slice_scatter(x, s, starts=[0], ends=[4], steps=[2])",
     "inputs": {"x": (4, 3), "s": (2, 3)}, "torch": lambda x, s: torch.slice_scatter(x, s, 0, 0, 4, 2)},
    # ---- take ----
    {"name": "take-axis0-repeats", "expr": "take(x, i, axis=0)", "inputs": {"x": (4, 3), "i": [0, 2, 2, 3, 0, 2]},
     "nondiff": ["i"], "torch": lambda x, i: np_take(x, i, 0)},
    {"name": "take-axis1-2d-indices", "expr": "take(x, i, axis=1)", "inputs": {"x": (2, 5, 3), "i": (3, 4)},
     "domain": {"i": ("int", 0, 5)}, "nondiff": ["i"], "torch": lambda x, i: np_take(x, i, 1)},
    {"name": "take-negative", "expr": "take(x, i, axis=-1)", "inputs": {"x": (3, 4), "i": [-1, -4, 3, 0, -1]},
     "nondiff": ["i"], "torch": lambda x, i: np_take(x, i, -1)},
    {"name": "take-flat", "expr": "take(x, i)", "inputs": {"x": (3, 4), "i": (2, 5)},
     "domain": {"i": ("int", -12, 12)}, "nondiff": ["i"], "torch": lambda x, i: np_take(x, i)},
    {"name": "take-scalar-index", "expr": "take(x, i, axis=0)", "inputs": {"x": (4, 3), "i": 2.0},
     "nondiff": ["i"], "torch": lambda x, i: np_take(x, i, 0)},
    {"name": "take-empty-indices", "expr": "take(x, i, axis=0)", "inputs": {"x": (4, 3), "i": (0,)},
     "nondiff": ["i"], "torch": lambda x, i: np_take(x, i, 0)},
    {"name": "take-special", "expr": "take(x, i)", "inputs": {"x": [inf, -inf, nan, -0.0], "i": [3, 2, 1, 0, 1]},
     "nondiff": ["i"], "torch": lambda x, i: np_take(x, i)},
    # ---- take_along_axis ----
    {"name": "take-along-axis", "expr": "take_along_axis(x, i, axis=1)", "inputs": {"x": (3, 4), "i": (3, 6)},
     "domain": {"i": ("int", -4, 4)}, "nondiff": ["i"], "torch": lambda x, i: np_take_along_axis(x, i, 1)},
    {"name": "take-along-axis-broadcast-i", "expr": "take_along_axis(x, i, axis=0)", "inputs": {"x": (3, 4), "i": (5, 1)},
     "domain": {"i": ("int", 0, 3)}, "nondiff": ["i"], "torch": lambda x, i: np_take_along_axis(x, i, 0)},
    {"name": "take-along-axis-broadcast-x", "expr": "take_along_axis(x, i, axis=-1)", "inputs": {"x": (1, 4), "i": (3, 5)},
     "domain": {"i": ("int", 0, 4)}, "nondiff": ["i"], "torch": lambda x, i: np_take_along_axis(x, i, -1)},
    {"name": "take-along-axis-argmax-style", "expr": "take_along_axis(x, i, axis=1)", "inputs": {"x": (4, 5), "i": (4, 1)},
     "domain": {"i": ("int", 0, 5)}, "nondiff": ["i"], "torch": lambda x, i: np_take_along_axis(x, i, 1)},
    # ---- scatter_add ----
    {"name": "scatter-add", "expr": "scatter_add(x, i, u, axis=1)", "inputs": {"x": (3, 4), "i": (3, 6), "u": (3, 6)},
     "domain": {"i": ("int", 0, 4)}, "nondiff": ["i"], "torch": lambda x, i, u: scatter_add(x, i, u, 1)},
    {"name": "scatter-add-repeats", "expr": "scatter_add(x, i, u, axis=0)",
     "inputs": {"x": (3, 2), "i": [[1, 1], [1, 0], [1, 1], [-1, 1]], "u": (4, 2)},
     "nondiff": ["i"], "torch": lambda x, i, u: scatter_add(x, i, u, 0)},
    {"name": "scatter-add-broadcast", "expr": "scatter_add(x, i, u, axis=0)", "inputs": {"x": (3, 4), "i": (2, 4), "u": (2, 1)},
     "domain": {"i": ("int", -3, 3)}, "nondiff": ["i"], "torch": lambda x, i, u: scatter_add(x, i, u, 0)},
    {"name": "scatter-add-into-size1", "expr": "scatter_add(x, i, u, axis=1)", "inputs": {"x": (1, 4), "i": (3, 2), "u": (3, 2)},
     "domain": {"i": ("int", 0, 4)}, "nondiff": ["i"], "torch": lambda x, i, u: scatter_add(x, i, u, 1)},
    # ---- embedding ----
    {"name": "embedding", "expr": "embedding(w, i)", "inputs": {"w": (6, 4), "i": (2, 5)},
     "domain": {"i": ("int", 0, 6)}, "nondiff": ["i"], "torch": lambda w, i: F.embedding(i.long(), w)},
    {"name": "embedding-repeats", "expr": "embedding(w, i)", "inputs": {"w": (4, 3), "i": [1, 1, 1, 3, 0, 1]},
     "nondiff": ["i"], "torch": lambda w, i: F.embedding(i.long(), w)},
    {"name": "embedding-padding", "expr": "embedding(w, i, padding_idx=2)", "inputs": {"w": (4, 3), "i": [[2, 0, 2], [1, 2, 3]]},
     "nondiff": ["i"], "torch": lambda w, i: F.embedding(i.long(), w, padding_idx=2)},
    {"name": "embedding-padding-negative", "expr": "embedding(w, i, padding_idx=-1)", "inputs": {"w": (4, 3), "i": [3, 0, 3, 1]},
     "nondiff": ["i"], "torch": lambda w, i: F.embedding(i.long(), w, padding_idx=-1)},
    {"name": "embedding-scalar-index", "expr": "embedding(w, i)", "inputs": {"w": (5, 2), "i": 4.0},
     "nondiff": ["i"], "torch": lambda w, i: F.embedding(i.long(), w)},
    {"name": "embedding-empty", "expr": "embedding(w, i)", "inputs": {"w": (5, 2), "i": (0, 3)},
     "nondiff": ["i"], "torch": lambda w, i: F.embedding(i.long(), w)},
    {"name": "embedding-3d-weight", "expr": "embedding(w, i)", "inputs": {"w": (5, 2, 3), "i": (4,)},
     "domain": {"i": ("int", 0, 5)}, "nondiff": ["i"],
     "torch": lambda w, i: F.embedding(i.long(), w.reshape(5, 6)).reshape(4, 2, 3)},
]

# A model concatenates dozens of tensors: 40 operands, far past three.
_MANY = ["t%d" % k for k in range(40)]
CASES.append({"name": "concat-40", "expr": "concat([%s], axis=1)" % ", ".join(_MANY),
              "inputs": {n: (2, 1 + k % 3) for k, n in enumerate(_MANY)},
              "torch": lambda *xs: torch.cat(xs, 1)})
CASES.append({"name": "stack-40", "expr": "stack([%s], axis=0)" % ", ".join(_MANY),
              "inputs": {n: (3,) for n in _MANY},
              "torch": lambda *xs: torch.stack(xs, 0)})
