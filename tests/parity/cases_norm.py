"""Parity cases of lib/ops/norm.c, dropout.c and attention.c (see run.py).

torch 1.13 (Debian's) has neither F.rms_norm nor
F.scaled_dot_product_attention: their lambdas write out the definitions of
torch 2.x (rms_norm's eps=None is the dtype's machine epsilon; attention's
is_causal mask is tril(ones(L, S)), top-left aligned). gradd's dropout mask
is a counter-based hash of (seed, element index), not torch's generator, so
its lambdas rebuild that mask in Python (the hash of lib/ops/dropout.c).
"""

import math

import torch

F = torch.nn.functional

_M64 = (1 << 64) - 1


def _mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _dropout(x, p, seed):
    """gradd's dropout: keep element i when u(seed, i) >= p, scale by 1/(1-p)."""
    key = _mix64(seed)
    keep = [((_mix64((key + 0x9E3779B97F4A7C15 * (i + 1)) & _M64) >> 11) * 2.0**-53) >= p
            for i in range(x.numel())]
    mask = torch.tensor(keep, dtype=x.dtype).reshape(x.shape)
    return x * mask * (1.0 / (1.0 - p))


def _rms_norm(x, w, dims, eps=None):
    if eps is None:
        eps = torch.finfo(x.dtype).eps
    axes = tuple(range(-dims, 0))
    return x * torch.rsqrt(x.pow(2).mean(axes, keepdim=True) + eps) * w


def _sdpa(q, k, v, causal=False, scale=None, mask=None):
    if scale is None:
        scale = 1 / math.sqrt(q.shape[-1])
    s = q @ k.transpose(-2, -1) * scale
    if mask is not None:
        s = s + mask
    if causal:
        L, S = q.shape[-2], k.shape[-2]
        keep = torch.ones(L, S, dtype=torch.bool).tril()
        s = s.masked_fill(~keep, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


CASES = [
    # ---- layer_norm -----------------------------------------------------
    {"name": "layer_norm-last",
     "expr": "layer_norm(x, w, b)",
     "inputs": {"x": (3, 5), "w": (5,), "b": (5,)},
     "torch": lambda x, w, b: F.layer_norm(x, (5,), w, b)},
    {"name": "layer_norm-3d",
     "expr": "layer_norm(x, w, b)",
     "inputs": {"x": (2, 4, 8), "w": (8,), "b": (8,)},
     "torch": lambda x, w, b: F.layer_norm(x, (8,), w, b)},
    {"name": "layer_norm-two-dims-eps",
     "expr": "layer_norm(x, w, b, normalized_shape=[3, 4], eps=0.01)",
     "inputs": {"x": (2, 3, 4), "w": (3, 4), "b": (3, 4)},
     "torch": lambda x, w, b: F.layer_norm(x, (3, 4), w, b, eps=0.01)},
    {"name": "layer_norm-constant-rows",  # variance 0: xhat = 0, rstd = 1/sqrt(eps)
     "expr": "layer_norm(x, w, b)",
     "inputs": {"x": [[1.5, 1.5, 1.5, 1.5], [0.0, 0.0, 0.0, 0.0], [-2.0, 0.5, 1.0, 3.0]],
                "w": (4,), "b": (4,)},
     "torch": lambda x, w, b: F.layer_norm(x, (4,), w, b)},
    {"name": "layer_norm-one-element-rows",  # xhat = 0 exactly; torch's float32 kernel leaves ~3e-5
     "expr": "layer_norm(x, w, b)",
     "inputs": {"x": (3, 1), "w": (1,), "b": (1,)},
     "torch": lambda x, w, b: F.layer_norm(x, (1,), w, b),
     "dtypes": ["float64"]},
    {"name": "layer_norm-vector",
     "expr": "layer_norm(x, w, b)",
     "inputs": {"x": (6,), "w": (6,), "b": (6,)},
     "torch": lambda x, w, b: F.layer_norm(x, (6,), w, b)},
    {"name": "layer_norm-empty-batch",
     "expr": "layer_norm(x, w, b)",
     "inputs": {"x": (0, 4), "w": (4,), "b": (4,)},
     "torch": lambda x, w, b: F.layer_norm(x, (4,), w, b)},
    {"name": "layer_norm-no-affine",
     "expr": "layer_norm(x)",
     "inputs": {"x": (3, 5)},
     "torch": lambda x: F.layer_norm(x, (5,))},
    {"name": "layer_norm-weight-only",
     "expr": "layer_norm(x, w, normalized_shape=[2, 3])",
     "inputs": {"x": (4, 2, 3), "w": (2, 3)},
     "torch": lambda x, w: F.layer_norm(x, (2, 3), w)},
    # ---- rms_norm -------------------------------------------------------
    {"name": "rms_norm-last",
     "expr": "rms_norm(x, w)",
     "inputs": {"x": (3, 5), "w": (5,)},
     "torch": lambda x, w: _rms_norm(x, w, 1)},
    {"name": "rms_norm-two-dims-eps",
     "expr": "rms_norm(x, w, normalized_shape=[3, 4], eps=1e-3)",
     "inputs": {"x": (2, 3, 4), "w": (3, 4)},
     "torch": lambda x, w: _rms_norm(x, w, 2, 1e-3)},
    {"name": "rms_norm-zero-row",  # mean(x^2) = 0: x * rsqrt(eps)
     "expr": "rms_norm(x, w)",
     "inputs": {"x": [[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]], "w": (3,)},
     "torch": lambda x, w: _rms_norm(x, w, 1)},
    {"name": "rms_norm-no-weight",
     "expr": "rms_norm(x, eps=1e-6)",
     "inputs": {"x": (4, 6)},
     "torch": lambda x: _rms_norm(x, 1.0, 1, 1e-6)},
    # ---- group_norm -----------------------------------------------------
    {"name": "group_norm-3d",
     "expr": "group_norm(x, w, b, num_groups=2)",
     "inputs": {"x": (2, 4, 5), "w": (4,), "b": (4,)},
     "torch": lambda x, w, b: F.group_norm(x, 2, w, b)},
    {"name": "group_norm-4d",
     "expr": "group_norm(x, w, b, num_groups=3, eps=1e-3)",
     "inputs": {"x": (2, 6, 3, 3), "w": (6,), "b": (6,)},
     "torch": lambda x, w, b: F.group_norm(x, 3, w, b, eps=1e-3)},
    {"name": "group_norm-one-group-per-channel",
     "expr": "group_norm(x, w, b, num_groups=4)",
     "inputs": {"x": (3, 4, 2, 2), "w": (4,), "b": (4,)},
     "torch": lambda x, w, b: F.group_norm(x, 4, w, b)},
    {"name": "group_norm-2d",
     "expr": "group_norm(x, w, b, num_groups=1)",
     "inputs": {"x": (3, 6), "w": (6,), "b": (6,)},
     "torch": lambda x, w, b: F.group_norm(x, 1, w, b)},
    {"name": "group_norm-no-affine",
     "expr": "group_norm(x, num_groups=2)",
     "inputs": {"x": (2, 4, 3)},
     "torch": lambda x: F.group_norm(x, 2)},
    # ---- batch_norm (training mode, batch statistics) --------------------
    {"name": "batch_norm-2d",
     "expr": "batch_norm(x, w, b)",
     "inputs": {"x": (6, 3), "w": (3,), "b": (3,)},
     "torch": lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)},
    {"name": "batch_norm-4d",
     "expr": "batch_norm(x, w, b, eps=1e-3)",
     "inputs": {"x": (4, 3, 2, 3), "w": (3,), "b": (3,)},
     "torch": lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=1e-3)},
    {"name": "batch_norm-batch-1-spatial",  # a batch of 1 is fine with spatial dims
     "expr": "batch_norm(x, w, b)",
     "inputs": {"x": (1, 2, 3), "w": (2,), "b": (2,)},
     "torch": lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)},
    {"name": "batch_norm-constant-channel",
     "expr": "batch_norm(x, w, b)",
     "inputs": {"x": [[1.0, 2.0], [1.0, -1.0], [1.0, 0.5]], "w": (2,), "b": (2,)},
     "torch": lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)},
    {"name": "batch_norm-no-affine",
     "expr": "batch_norm(x)",
     "inputs": {"x": (5, 2, 3)},
     "torch": lambda x: F.batch_norm(x, None, None, training=True)},
    # inference mode: the running statistics (operands 4 and 5) normalise
    {"name": "batch_norm-eval",
     "expr": "batch_norm(x, w, b, rm, rv, training=false)",
     "inputs": {"x": (4, 3, 2), "w": (3,), "b": (3,), "rm": (3,), "rv": (3,)},
     "domain": {"rv": "pos"},
     "nondiff": ["rm", "rv"],
     "torch": lambda x, w, b, rm, rv: F.batch_norm(x, rm, rv, w, b, training=False)},
    {"name": "batch_norm-eval-batch-1",  # one value per channel is fine with given statistics
     "expr": "batch_norm(x, w, b, rm, rv, training=false, eps=0.01)",
     "inputs": {"x": (1, 3), "w": (3,), "b": (3,), "rm": (3,), "rv": (3,)},
     "domain": {"rv": "pos"},
     "nondiff": ["rm", "rv"],
     "torch": lambda x, w, b, rm, rv: F.batch_norm(x, rm, rv, w, b, training=False, eps=0.01)},
    # training mode with running statistics given: they are not read (stateless)
    {"name": "batch_norm-train-ignores-running",
     "expr": "batch_norm(x, w, b, rm, rv, training=true)",
     "inputs": {"x": (4, 3), "w": (3,), "b": (3,), "rm": (3,), "rv": (3,)},
     "domain": {"rv": "pos"},
     "nondiff": ["rm", "rv"],
     "torch": lambda x, w, b, rm, rv: F.batch_norm(x, rm.clone(), rv.clone(), w, b, training=True)},
    # ---- dropout ---------------------------------------------------------
    {"name": "dropout-p0-identity",
     "expr": "dropout(x, p=0)",
     "inputs": {"x": (3, 4)},
     "torch": lambda x: F.dropout(x, 0.0)},
    {"name": "dropout-p1-zeros",
     "expr": "dropout(x, p=1, seed=3)",
     "inputs": {"x": (3, 4)},
     "torch": lambda x: F.dropout(x, 1.0)},
    {"name": "dropout-eval-identity",
     "expr": "dropout(x, p=0.5, training=false)",
     "inputs": {"x": (3, 4)},
     "torch": lambda x: F.dropout(x, 0.5, training=False)},
    {"name": "dropout-half-seed0",
     "expr": "dropout(x)",
     "inputs": {"x": (4, 5)},
     "torch": lambda x: _dropout(x, 0.5, 0)},
    {"name": "dropout-p0.2-seed42",
     "expr": "dropout(x, p=0.2, seed=42)",
     "inputs": {"x": (2, 3, 7)},
     "torch": lambda x: _dropout(x, 0.2, 42)},
    {"name": "dropout-inf-nan",
     "expr": "dropout(x, p=0.5, seed=1)",
     "inputs": {"x": [float("inf"), float("-inf"), float("nan"), -0.0, 1.0, 2.0, 3.0, 4.0]},
     "torch": lambda x: _dropout(x, 0.5, 1)},
    {"name": "dropout-p1-inf",  # torch's p = 1 is x * 0: inf and nan give nan
     "expr": "dropout(x, p=1)",
     "inputs": {"x": [float("inf"), float("nan"), -0.0, 1.0]},
     "torch": lambda x: F.dropout(x, 1.0)},
    # ---- scaled_dot_product_attention -------------------------------------
    {"name": "sdpa-3d",
     "expr": "scaled_dot_product_attention(q, k, v)",
     "inputs": {"q": (2, 3, 4), "k": (2, 5, 4), "v": (2, 5, 3)},
     "torch": lambda q, k, v: _sdpa(q, k, v)},
    {"name": "sdpa-heads-causal",
     "expr": "scaled_dot_product_attention(q, k, v, is_causal=true)",
     "inputs": {"q": (2, 2, 6, 4), "k": (2, 2, 6, 4), "v": (2, 2, 6, 4)},
     "torch": lambda q, k, v: _sdpa(q, k, v, causal=True)},
    {"name": "sdpa-causal-L-ne-S",
     "expr": "scaled_dot_product_attention(q, k, v, is_causal=true)",
     "inputs": {"q": (1, 3, 4), "k": (1, 5, 4), "v": (1, 5, 2)},
     "torch": lambda q, k, v: _sdpa(q, k, v, causal=True)},
    {"name": "sdpa-causal-seq1",
     "expr": "scaled_dot_product_attention(q, k, v, is_causal=true)",
     "inputs": {"q": (2, 1, 4), "k": (2, 1, 4), "v": (2, 1, 3)},
     "torch": lambda q, k, v: _sdpa(q, k, v, causal=True)},
    {"name": "sdpa-scale-2d",
     "expr": "scaled_dot_product_attention(q, k, v, scale=0.3)",
     "inputs": {"q": (4, 3), "k": (6, 3), "v": (6, 5)},
     "torch": lambda q, k, v: _sdpa(q, k, v, scale=0.3)},
    {"name": "sdpa-additive-mask",
     "expr": "scaled_dot_product_attention(q, k, v, m)",
     "inputs": {"q": (2, 3, 4), "k": (2, 5, 4), "v": (2, 5, 3), "m": (3, 5)},
     "torch": lambda q, k, v, m: _sdpa(q, k, v, mask=m)},
    {"name": "sdpa-mask-and-causal",
     "expr": "scaled_dot_product_attention(q, k, v, m, is_causal=true)",
     "inputs": {"q": (2, 2, 4, 3), "k": (2, 2, 4, 3), "v": (2, 2, 4, 2), "m": (2, 1, 4, 4)},
     "torch": lambda q, k, v, m: _sdpa(q, k, v, causal=True, mask=m)},
    {"name": "sdpa-boolean-mask-as-inf",  # a boolean mask passed as where(m, 0, -inf)
     "expr": "scaled_dot_product_attention(q, k, v, m)",
     "inputs": {"q": (3, 2), "k": (3, 2), "v": (3, 2),
                "m": [[0.0, float("-inf"), 0.0], [float("-inf"), 0.0, 0.0], [0.0, 0.0, float("-inf")]]},
     "nondiff": ["m"],
     "torch": lambda q, k, v, m: _sdpa(q, k, v, mask=m)},
    {"name": "sdpa-fully-masked-row",  # softmax of all -inf: NaN, as torch
     "expr": "scaled_dot_product_attention(q, k, v, m)",
     "inputs": {"q": (2, 2), "k": (2, 2), "v": (2, 2),
                "m": [[float("-inf"), float("-inf")], [0.0, 0.0]]},
     "nondiff": ["m"],
     "torch": lambda q, k, v, m: _sdpa(q, k, v, mask=m)},
]
