"""Parity cases of topk and topk_indices (lib/ops/topk.c), read by
tests/parity/run.py: random distinct values against torch.topk itself
(values, indices and the gradient), along the last axis, an inner axis
and axis 0, largest and smallest, k = 0 and k = the whole axis; and the
special points -- ties, NaN, infinities, signed zeros -- against a stable
descending (ascending) torch.sort cut at k, which is gradd's order (the
lower index first among equals; torch.topk leaves the order of ties
unspecified, its values are the same)."""

import torch

inf, nan = float("inf"), float("nan")


def stable_topk(x, k, dim=-1, largest=True):
    """torch.topk with ties broken towards the lower index (a stable sort:
    NaN is the largest, as torch.topk)."""
    v, i = torch.sort(x, dim=dim, descending=largest, stable=True)
    return v.narrow(dim, 0, k), i.narrow(dim, 0, k)


def as_float(f):
    """An index-valued torch function made floating point in x's dtype."""
    return lambda x: f(x).to(x.dtype)


TIES = [[3.0, 1.0, 3.0, 2.0, 3.0], [0.0, -0.0, 0.0, 5.0, 5.0], [1.0, 1.0, 1.0, 1.0, 1.0]]
SPECIAL = [[1.0, nan, 3.0, nan, -1.0], [inf, 2.0, -inf, inf, 0.0], [nan, nan, nan, 0.5, -inf]]

CASES = [
    {"name": "topk-last", "expr": "topk(x, k=2)", "inputs": {"x": (3, 5)}, "domain": {"x": "distinct"},
     "torch": lambda x: torch.topk(x, 2).values},
    {"name": "topk-axis1-smallest", "expr": "topk(x, k=3, axis=1, largest=false)", "inputs": {"x": (2, 4, 3)},
     "domain": {"x": "distinct"}, "torch": lambda x: torch.topk(x, 3, dim=1, largest=False).values},
    {"name": "topk-axis0-all", "expr": "topk(x, k=4, axis=0)", "inputs": {"x": (4, 3)}, "domain": {"x": "distinct"},
     "torch": lambda x: torch.topk(x, 4, dim=0).values},
    {"name": "topk-negative-axis", "expr": "topk(x, k=1, axis=-2)", "inputs": {"x": (3, 4, 2)},
     "domain": {"x": "distinct"}, "torch": lambda x: torch.topk(x, 1, dim=-2).values},
    {"name": "topk-k0", "expr": "topk(x, k=0)", "inputs": {"x": (3, 4)},
     "torch": lambda x: torch.topk(x, 0).values},
    {"name": "topk-empty-rows", "expr": "topk(x, k=2)", "inputs": {"x": (0, 4)},
     "torch": lambda x: torch.topk(x, 2).values},
    {"name": "topk-indices", "expr": "topk_indices(x, k=3)", "inputs": {"x": (3, 5)}, "domain": {"x": "distinct"},
     "grad": False, "torch": as_float(lambda x: torch.topk(x, 3).indices)},
    {"name": "topk-indices-smallest-axis0", "expr": "topk_indices(x, k=2, axis=0, largest=false)",
     "inputs": {"x": (4, 3)}, "domain": {"x": "distinct"}, "grad": False,
     "torch": as_float(lambda x: torch.topk(x, 2, dim=0, largest=False).indices)},
    # ---- special points: ties (lower index first), signed zeros, NaN, infinities ----
    {"name": "topk-ties", "expr": "topk(x, k=3)", "inputs": {"x": TIES},
     "torch": lambda x: stable_topk(x, 3)[0]},
    {"name": "topk-ties-values-torch", "expr": "topk(x, k=3)", "inputs": {"x": TIES}, "grad": False,
     "torch": lambda x: torch.topk(x, 3).values},
    {"name": "topk-ties-smallest", "expr": "topk(x, k=4, largest=false)", "inputs": {"x": TIES},
     "torch": lambda x: stable_topk(x, 4, largest=False)[0]},
    {"name": "topk-indices-ties", "expr": "topk_indices(x, k=3)", "inputs": {"x": TIES}, "grad": False,
     "torch": as_float(lambda x: stable_topk(x, 3)[1])},
    {"name": "topk-nan-inf", "expr": "topk(x, k=3)", "inputs": {"x": SPECIAL},
     "torch": lambda x: stable_topk(x, 3)[0]},
    {"name": "topk-nan-inf-torch", "expr": "topk(x, k=2)", "inputs": {"x": SPECIAL}, "grad": False,
     "torch": lambda x: torch.topk(x, 2).values},
    {"name": "topk-nan-inf-smallest", "expr": "topk(x, k=4, largest=false)", "inputs": {"x": SPECIAL},
     "torch": lambda x: stable_topk(x, 4, largest=False)[0]},
    {"name": "topk-indices-nan-smallest", "expr": "topk_indices(x, k=5, largest=false)", "inputs": {"x": SPECIAL},
     "grad": False, "torch": as_float(lambda x: stable_topk(x, 5, largest=False)[1])},
]
