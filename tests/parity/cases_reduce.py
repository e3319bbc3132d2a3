"""Parity cases of the reductions (min, max ties, prod, logsumexp, var, std,
norm, argmax, argmin, empty sums and products), the scans (cumsum, cumprod)
and the losses (nll_loss, cross_entropy's options, binary_cross_entropy
with and without logits, l1_loss, smooth_l1_loss, huber_loss, kl_div): random
points and the special points each op defines (ties, zeros, infinities,
ignored rows, probability targets with zeros, empty tensors). Read by
tests/parity/run.py."""

import torch
import torch.nn.functional as F

inf, nan = float("inf"), float("nan")

# ties: the gradient is split evenly among the elements at the max (min)
TIES = [[1.0, 3.0, 3.0, 0.5], [2.0, 2.0, 2.0, 2.0], [-1.0, -4.0, -4.0, 5.0]]
# zeros in prod and cumprod: none, one, two, a zero first and last
ZEROS = [[1.5, -2.0, 3.0, 0.5], [2.0, 0.0, 3.0, -1.5], [0.0, 2.0, 0.0, 4.0], [0.0, 1.5, 2.0, 3.0],
         [1.5, 2.0, -3.0, 0.0]]
# logsumexp's infinities: all -inf, one -inf, +inf
LSE_INF = [[-inf, -inf, -inf], [0.0, -inf, 1.0], [inf, 1.0, 2.0]]
# norms at zero rows and zero elements, and |x| ties
NORM_SPECIAL = [[0.0, 0.0, 0.0], [3.0, -3.0, 1.0], [0.0, 2.0, -1.0]]

LABELS = ("int", 0, 5)


def lam(f):
    """A torch function whose result is made floating point (argmax, argmin
    give int64) in the input's dtype."""
    return lambda x: f(x).to(x.dtype)


def reduce_cases():
    c = []
    for name, expr, dim, keep in [("all", "{}(x)", None, False), ("axis1", "{}(x, axis=1)", 1, False),
                                  ("axes02-keep", "{}(x, axes=[0, 2], keepdims=true)", (0, 2), True)]:
        for op, fn, dom in [("min", torch.amin, "distinct"), ("logsumexp", torch.logsumexp, "any"),
                            ("var", torch.var, "any"), ("std", torch.std, "any")]:
            def f(x, fn=fn, dim=dim, keep=keep, op=op):
                if dim is None:
                    return fn(x, (0, 1, 2)) if op == "logsumexp" else fn(x)
                return fn(x, dim, keepdim=keep)
            c.append({"name": f"{op}-{name}", "expr": expr.format(op), "inputs": {"x": (2, 3, 4)},
                      "domain": {"x": dom}, "torch": f})
    c += [
        # ---- max / min ties (torch.amax / amin: split evenly) ----
        {"name": "max-ties", "expr": "max(x, axis=1)", "inputs": {"x": TIES}, "torch": lambda x: torch.amax(x, 1)},
        {"name": "min-ties", "expr": "min(x, axis=1)", "inputs": {"x": TIES}, "torch": lambda x: torch.amin(x, 1)},
        {"name": "min-ties-all", "expr": "min(x)", "inputs": {"x": TIES}, "torch": lambda x: torch.amin(x)},
        {"name": "max-ties-axis0", "expr": "max(x, axis=0, keepdims=true)", "inputs": {"x": TIES},
         "torch": lambda x: torch.amax(x, 0, keepdim=True)},
        {"name": "min-inf", "expr": "min(x, axis=1)", "inputs": {"x": [[inf, 1.0], [-inf, 0.0], [inf, inf]]},
         "torch": lambda x: torch.amin(x, 1)},
        # ---- prod ----
        {"name": "prod-axis1", "expr": "prod(x, axis=1)", "inputs": {"x": (3, 4)},
         "torch": lambda x: torch.prod(x, 1)},
        {"name": "prod-all", "expr": "prod(x)", "inputs": {"x": (2, 3, 2)}, "torch": lambda x: torch.prod(x)},
        {"name": "prod-axis0-keep", "expr": "prod(x, axis=0, keepdims=true)", "inputs": {"x": (3, 4)},
         "torch": lambda x: torch.prod(x, 0, keepdim=True)},
        {"name": "prod-axes", "expr": "prod(x, axes=[0, 2])", "inputs": {"x": (2, 3, 2)},
         "torch": lambda x: torch.prod(x.permute(1, 0, 2).reshape(3, 4), 1)},
        {"name": "prod-zeros", "expr": "prod(x, axis=1)", "inputs": {"x": ZEROS},
         "torch": lambda x: torch.prod(x, 1)},
        {"name": "prod-zeros-axis0", "expr": "prod(x, axis=0)", "inputs": {"x": ZEROS},
         "torch": lambda x: torch.prod(x, 0)},
        {"name": "prod-one-zero-all", "expr": "prod(x)", "inputs": {"x": [1.5, 0.0, -2.0, 3.0]},
         "torch": lambda x: torch.prod(x)},
        # (torch's prod over all elements with two or more zeros returns
        # zeros_like, +0, outside grad mode; per axis, and in gradd, the zeros
        # are grad times the others' signed product)
        {"name": "prod-two-zeros-all", "signed_zeros": False,
         "expr": "prod(x)", "inputs": {"x": [1.5, 0.0, -2.0, 0.0]},
         "torch": lambda x: torch.prod(x)},
        # ---- empty tensors ----
        {"name": "sum-empty", "expr": "sum(x)", "inputs": {"x": (0, 3)}, "torch": lambda x: torch.sum(x)},
        {"name": "prod-empty", "expr": "prod(x)", "inputs": {"x": (0, 3)}, "torch": lambda x: torch.prod(x)},
        {"name": "prod-empty-axis0", "expr": "prod(x, axis=0)", "inputs": {"x": (0, 3)},
         "torch": lambda x: torch.prod(x, 0)},
        {"name": "logsumexp-empty-axis0", "expr": "logsumexp(x, axis=0)", "inputs": {"x": (0, 3)},
         "torch": lambda x: torch.logsumexp(x, 0)},
        # ---- logsumexp at infinities ----
        {"name": "logsumexp-inf", "expr": "logsumexp(x, axis=1)", "inputs": {"x": LSE_INF},
         "torch": lambda x: torch.logsumexp(x, 1)},
        {"name": "logsumexp-large", "expr": "logsumexp(x, axis=1)", "inputs": {"x": [[1000.0, 1000.0], [-1000.0, 0.0]]},
         "torch": lambda x: torch.logsumexp(x, 1)},
        # ---- var / std with corrections and too few elements ----
        # groups of contiguous runs (the float32 kernel sums each run vectorized): batch norm's
        # running variance over N, H, W per channel, and a run of 16 in strided groups
        {"name": "var-bn-axes", "expr": "var(x, axes=[0, 2, 3])", "inputs": {"x": (3, 2, 4, 5)},
         "torch": lambda x: torch.var(x, (0, 2, 3))},
        {"name": "std-runs-keep", "expr": "std(x, axes=[0, 2], keepdims=true, correction=0)",
         "inputs": {"x": (2, 3, 16)}, "torch": lambda x: torch.std(x, (0, 2), keepdim=True, unbiased=False)},
        {"name": "var-correction0", "expr": "var(x, axis=1, correction=0)", "inputs": {"x": (3, 4)},
         "torch": lambda x: torch.var(x, 1, correction=0)},
        {"name": "std-correction2", "expr": "std(x, axis=0, correction=2)", "inputs": {"x": (3, 4)},
         "torch": lambda x: torch.std(x, 0, correction=2)},
        {"name": "var-one-element", "expr": "var(x, axis=1)", "inputs": {"x": (3, 1)},
         "torch": lambda x: torch.var(x, 1)},
        {"name": "std-one-element", "expr": "std(x, axis=1)", "inputs": {"x": [[1.5], [-2.0]]},
         "torch": lambda x: torch.std(x, 1), "grad": False},
        {"name": "var-dof0", "expr": "var(x, axis=1, correction=2)", "inputs": {"x": [[1.0, 3.0], [2.0, 2.0]]},
         "torch": lambda x: torch.var(x, 1, correction=2)},
        {"name": "std-constant", "expr": "std(x, axis=1)", "inputs": {"x": [[1.0, 1.0, 1.0], [2.0, 0.5, 1.0]]},
         "torch": lambda x: torch.std(x, 1)},
        {"name": "var-empty-axis", "expr": "var(x, axis=0)", "inputs": {"x": (0, 3)},
         "torch": lambda x: torch.var(x, 0), "grad": False},
        # ---- norm of each order ----
        {"name": "norm-2", "expr": "norm(x)", "inputs": {"x": (3, 4)},
         "torch": lambda x: torch.linalg.vector_norm(x)},
        {"name": "norm-2-axis-keep", "expr": "norm(x, axis=1, keepdims=true)", "inputs": {"x": (3, 4)},
         "torch": lambda x: torch.linalg.vector_norm(x, 2, 1, keepdim=True)},
        {"name": "norm-1", "expr": "norm(x, ord=1, axis=0)", "inputs": {"x": (3, 4)},
         "torch": lambda x: torch.linalg.vector_norm(x, 1, 0)},
        {"name": "norm-3", "expr": "norm(x, ord=3, axis=1)", "inputs": {"x": (3, 4)},
         "torch": lambda x: torch.linalg.vector_norm(x, 3, 1)},
        {"name": "norm-1.5", "expr": "norm(x, ord=1.5, axes=[0, 1])", "inputs": {"x": (3, 4)},
         "torch": lambda x: torch.linalg.vector_norm(x, 1.5, (0, 1))},
        {"name": "norm-0.5", "expr": "norm(x, ord=0.5, axis=1)", "inputs": {"x": (3, 4)}, "domain": {"x": "away0"},
         "torch": lambda x: torch.linalg.vector_norm(x, 0.5, 1)},
        {"name": "norm-inf", "expr": "norm(x, ord=1e999, axis=1)", "inputs": {"x": (3, 4)},
         "domain": {"x": "distinct"}, "torch": lambda x: torch.linalg.vector_norm(x, inf, 1)},
        {"name": "norm-neginf", "expr": "norm(x, ord=-1e999)", "inputs": {"x": (3, 4)},
         "domain": {"x": "distinct"}, "torch": lambda x: torch.linalg.vector_norm(x, -inf)},
        {"name": "norm-0", "expr": "norm(x, ord=0, axis=1)", "inputs": {"x": NORM_SPECIAL},
         "torch": lambda x: torch.linalg.vector_norm(x, 0, 1)},
        {"name": "norm-2-zeros", "expr": "norm(x, axis=1)", "inputs": {"x": NORM_SPECIAL},
         "torch": lambda x: torch.linalg.vector_norm(x, 2, 1)},
        {"name": "norm-1-zeros", "expr": "norm(x, ord=1, axis=1)", "inputs": {"x": NORM_SPECIAL},
         "torch": lambda x: torch.linalg.vector_norm(x, 1, 1)},
        {"name": "norm-3-zeros", "expr": "norm(x, ord=3, axis=1)", "inputs": {"x": NORM_SPECIAL},
         "torch": lambda x: torch.linalg.vector_norm(x, 3, 1)},
        {"name": "norm-1.5-zeros", "expr": "norm(x, ord=1.5, axis=1)", "inputs": {"x": NORM_SPECIAL},
         "torch": lambda x: torch.linalg.vector_norm(x, 1.5, 1)},
        {"name": "norm-0.5-zeros", "expr": "norm(x, ord=0.5, axis=1)", "inputs": {"x": NORM_SPECIAL},
         "torch": lambda x: torch.linalg.vector_norm(x, 0.5, 1)},
        {"name": "norm-inf-ties", "expr": "norm(x, ord=1e999, axis=1)", "inputs": {"x": NORM_SPECIAL},
         "torch": lambda x: torch.linalg.vector_norm(x, inf, 1)},
        {"name": "norm-neginf-ties", "expr": "norm(x, ord=-1e999, axis=1)", "inputs": {"x": NORM_SPECIAL},
         "torch": lambda x: torch.linalg.vector_norm(x, -inf, 1)},
        # ---- argmax / argmin: first index on ties, NaN wins ----
        {"name": "argmax-flat", "expr": "argmax(x)", "inputs": {"x": (3, 4)}, "grad": False,
         "torch": lam(lambda x: torch.argmax(x))},
        {"name": "argmax-axis1", "expr": "argmax(x, axis=1)", "inputs": {"x": (3, 4)}, "grad": False,
         "torch": lam(lambda x: torch.argmax(x, 1))},
        {"name": "argmin-axis0-keep", "expr": "argmin(x, axis=0, keepdims=true)", "inputs": {"x": (3, 4)},
         "grad": False, "torch": lam(lambda x: torch.argmin(x, 0, keepdim=True))},
        {"name": "argmax-ties", "expr": "argmax(x, axis=1)", "inputs": {"x": TIES}, "grad": False,
         "torch": lam(lambda x: torch.argmax(x, 1))},
        {"name": "argmin-ties", "expr": "argmin(x, axis=1)", "inputs": {"x": TIES}, "grad": False,
         "torch": lam(lambda x: torch.argmin(x, 1))},
        {"name": "argmax-nan", "expr": "argmax(x, axis=1)", "inputs": {"x": [[1.0, nan, 3.0, nan], [inf, 2.0, inf, 0.0]]},
         "grad": False, "torch": lam(lambda x: torch.argmax(x, 1))},
        {"name": "argmin-nan", "expr": "argmin(x, axis=1)", "inputs": {"x": [[1.0, nan, -3.0], [-inf, 2.0, -inf]]},
         "grad": False, "torch": lam(lambda x: torch.argmin(x, 1))},
        # ---- scans ----
        {"name": "cumsum-axis1", "expr": "cumsum(x, axis=1)", "inputs": {"x": (3, 4)},
         "torch": lambda x: torch.cumsum(x, 1)},
        {"name": "cumsum-axis0", "expr": "cumsum(x, axis=0)", "inputs": {"x": (2, 3, 4)},
         "torch": lambda x: torch.cumsum(x, 0)},
        {"name": "cumprod-axis1", "expr": "cumprod(x, axis=1)", "inputs": {"x": (3, 4)},
         "torch": lambda x: torch.cumprod(x, 1)},
        {"name": "cumprod-axis-neg", "expr": "cumprod(x, axis=-2)", "inputs": {"x": (2, 3, 4)},
         "torch": lambda x: torch.cumprod(x, -2)},
        {"name": "cumsum-scalar", "expr": "cumsum(x, axis=0)", "inputs": {"x": 1.5},
         "torch": lambda x: torch.cumsum(x, 0)},
        {"name": "cumprod-scalar", "expr": "cumprod(x, axis=-1)", "inputs": {"x": -2.5},
         "torch": lambda x: torch.cumprod(x, -1)},
        {"name": "cumprod-empty", "expr": "cumprod(x, axis=1)", "inputs": {"x": (2, 0)},
         "torch": lambda x: torch.cumprod(x, 1)},
        {"name": "cumprod-zeros", "expr": "cumprod(x, axis=1)", "inputs": {"x": ZEROS},
         "torch": lambda x: torch.cumprod(x, 1)},
        {"name": "cumprod-zeros-axis0", "expr": "cumprod(x, axis=0)", "inputs": {"x": ZEROS},
         "torch": lambda x: torch.cumprod(x, 0)},
    ]
    return c


# cross_entropy / nll_loss targets with ignored rows (-100 and a chosen index)
IGN_T = [0.0, -100.0, 3.0, 2.0, -100.0]
# probability targets with zeros (rows need not sum to 1)
PROBS = [[0.0, 0.5, 0.5, 0.0], [1.0, 0.0, 0.0, 0.0], [0.2, 0.3, 0.1, 0.4]]


def loss_cases():
    c = []
    for red in ("mean", "sum", "none"):
        r = f', reduction="{red}"'
        c += [
            {"name": f"nll_loss-{red}", "expr": f"nll_loss(log_softmax(x), t{r})",
             "inputs": {"x": (4, 5), "t": (4,)}, "domain": {"t": LABELS}, "nondiff": ["t"],
             "torch": (lambda red: lambda x, t: F.nll_loss(F.log_softmax(x, -1), t.long(), reduction=red))(red)},
            {"name": f"l1_loss-{red}", "expr": f"l1_loss(a, b{r})", "inputs": {"a": (3, 4), "b": (3, 4)},
             "torch": (lambda red: lambda a, b: F.l1_loss(a, b, reduction=red))(red)},
            {"name": f"smooth_l1_loss-{red}", "expr": f"smooth_l1_loss(a, b, beta=0.5{r})",
             "inputs": {"a": (3, 4), "b": (3, 4)},
             "torch": (lambda red: lambda a, b: F.smooth_l1_loss(a, b, reduction=red, beta=0.5))(red)},
            {"name": f"huber_loss-{red}", "expr": f"huber_loss(a, b, delta=0.7{r})",
             "inputs": {"a": (3, 4), "b": (3, 4)},
             "torch": (lambda red: lambda a, b: F.huber_loss(a, b, reduction=red, delta=0.7))(red)},
            {"name": f"binary_cross_entropy-{red}", "expr": f"binary_cross_entropy(sigmoid(p), y{r})",
             "inputs": {"p": (3, 4), "y": (3, 4)}, "domain": {"y": ("uniform", 0, 1)},
             "torch": (lambda red: lambda p, y: F.binary_cross_entropy(torch.sigmoid(p), y, reduction=red))(red)},
            {"name": f"bce_with_logits-{red}", "expr": f"binary_cross_entropy_with_logits(x, y{r})",
             "inputs": {"x": (3, 4), "y": (3, 4)}, "domain": {"y": ("uniform", 0, 1)},
             "torch": (lambda red: lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction=red))(red)},
            {"name": f"kl_div-{red}", "expr": f"kl_div(log_softmax(x), t{r})",
             "inputs": {"x": (3, 4), "t": (3, 4)}, "domain": {"t": ("uniform", 0, 1)},
             "torch": (lambda red: lambda x, t: F.kl_div(F.log_softmax(x, -1), t, reduction=red))(red)},
            {"name": f"cross_entropy-probs-{red}", "expr": f"cross_entropy(x, t{r})",
             "inputs": {"x": (3, 4), "t": PROBS}, "nondiff": ["t"],
             "torch": (lambda red: lambda x, t: F.cross_entropy(x, t, reduction=red))(red)},
            {"name": f"cross_entropy-ignore-{red}", "expr": f"cross_entropy(x, t{r})",
             "inputs": {"x": (5, 4), "t": IGN_T}, "nondiff": ["t"],
             "torch": (lambda red: lambda x, t: F.cross_entropy(x, t.long(), reduction=red))(red)},
            {"name": f"cross_entropy-smooth-{red}", "expr": f"cross_entropy(x, t, label_smoothing=0.2{r})",
             "inputs": {"x": (5, 4), "t": IGN_T}, "nondiff": ["t"],
             "torch": (lambda red: lambda x, t: F.cross_entropy(x, t.long(), reduction=red,
                                                                label_smoothing=0.2))(red)},
        ]
    c += [
        # ---- nll_loss / cross_entropy: ignore_index, smoothing, probabilities ----
        {"name": "nll_loss-ignore-index", "expr": "nll_loss(log_softmax(x), t, ignore_index=3)",
         "inputs": {"x": (5, 4), "t": [0.0, 3.0, 3.0, 1.0, 2.0]}, "nondiff": ["t"],
         "torch": lambda x, t: F.nll_loss(F.log_softmax(x, -1), t.long(), ignore_index=3)},
        {"name": "nll_loss-default-ignore", "expr": "nll_loss(x, t)",
         "inputs": {"x": (5, 4), "t": IGN_T}, "nondiff": ["t"],
         "torch": lambda x, t: F.nll_loss(x, t.long())},
        {"name": "nll_loss-all-ignored-sum", "expr": "nll_loss(x, t, reduction=\"sum\")",
         "inputs": {"x": (2, 3), "t": [-100.0, -100.0]}, "nondiff": ["t"],
         "torch": lambda x, t: F.nll_loss(x, t.long(), reduction="sum")},
        {"name": "nll_loss-all-ignored-mean", "expr": "nll_loss(x, t)",
         "inputs": {"x": (2, 3), "t": [-100.0, -100.0]}, "nondiff": ["t"],
         "torch": lambda x, t: F.nll_loss(x, t.long())},
        {"name": "cross_entropy-all-ignored-mean", "expr": "cross_entropy(x, t)",
         "inputs": {"x": (2, 3), "t": [-100.0, -100.0]}, "nondiff": ["t"],
         "torch": lambda x, t: F.cross_entropy(x, t.long())},
        {"name": "cross_entropy-empty-sum", "expr": "cross_entropy(x, t, reduction=\"sum\")",
         "inputs": {"x": (0, 3), "t": (0,)}, "nondiff": ["t"],
         "torch": lambda x, t: F.cross_entropy(x, t.long(), reduction="sum")},
        {"name": "nll_loss-1d", "expr": "nll_loss(x, t)", "inputs": {"x": (5,), "t": 2.0}, "nondiff": ["t"],
         "torch": lambda x, t: F.nll_loss(x, t.long())},
        {"name": "cross_entropy-ignore-index-smooth", "expr": "cross_entropy(x, t, ignore_index=1, label_smoothing=0.3)",
         "inputs": {"x": (5, 4), "t": [1.0, 0.0, 1.0, 3.0, 2.0]}, "nondiff": ["t"],
         "torch": lambda x, t: F.cross_entropy(x, t.long(), ignore_index=1, label_smoothing=0.3)},
        {"name": "cross_entropy-neg-inf-logit", "expr": "cross_entropy(x, t, reduction=\"none\")",
         "inputs": {"x": [[-inf, 0.0, 1.0], [0.0, 1.0, 2.0], [1000.0, -1000.0, 0.0]], "t": [1.0, 2.0, 0.0]},
         "nondiff": ["t"], "torch": lambda x, t: F.cross_entropy(x, t.long(), reduction="none")},
        # (probability targets: gradd's gradient is (softmax m - q) g, -0 where
        # softmax and q are 0 and g < 0; PyTorch's g - softmax sum(g) gives +0)
        {"name": "cross_entropy-probs-neg-inf-logit", "signed_zeros": False,
         "expr": "cross_entropy(x, t, reduction=\"none\")",
         "inputs": {"x": [[-inf, 0.0, 1.0], [0.0, 1.0, 2.0]], "t": [[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]]},
         "nondiff": ["t"], "torch": lambda x, t: F.cross_entropy(x, t, reduction="none")},
        {"name": "cross_entropy-probs-smooth", "expr": "cross_entropy(x, t, label_smoothing=0.1)",
         "inputs": {"x": (3, 4), "t": PROBS}, "nondiff": ["t"],
         "torch": lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1)},
        {"name": "cross_entropy-probs-random", "expr": "cross_entropy(x, softmax(t))",
         "inputs": {"x": (4, 6), "t": (4, 6)}, "nondiff": ["t"],
         "torch": lambda x, t: F.cross_entropy(x, torch.softmax(t, -1).detach())},
        {"name": "cross_entropy-labels-random", "expr": "cross_entropy(x, t)",
         "inputs": {"x": (6, 5), "t": (6,)}, "domain": {"t": LABELS}, "nondiff": ["t"],
         "torch": lambda x, t: F.cross_entropy(x, t.long())},
        {"name": "cross_entropy-smooth-random", "expr": "cross_entropy(x, t, label_smoothing=0.15, reduction=\"sum\")",
         "inputs": {"x": (6, 5), "t": (6,)}, "domain": {"t": LABELS}, "nondiff": ["t"],
         "torch": lambda x, t: F.cross_entropy(x, t.long(), label_smoothing=0.15, reduction="sum")},
        # ---- elementwise losses at their kinks and edges ----
        {"name": "l1_loss-ties", "expr": "l1_loss(a, b, reduction=\"none\")",
         "inputs": {"a": [1.0, 2.0, -0.5, 0.0], "b": [1.0, 3.0, -0.5, -1.0]},
         "torch": lambda a, b: F.l1_loss(a, b, reduction="none")},
        {"name": "l1_loss-broadcast", "expr": "l1_loss(a, b)", "inputs": {"a": (3, 4), "b": (4,)},
         "torch": lambda a, b: F.l1_loss(*torch.broadcast_tensors(a, b))},
        {"name": "smooth_l1_loss-kinks", "expr": "smooth_l1_loss(a, b, reduction=\"none\")",
         "inputs": {"a": [0.0, 1.0, -1.0, 2.5, 0.3], "b": [0.0, 0.0, 0.0, 0.5, 0.0]},
         "torch": lambda a, b: F.smooth_l1_loss(a, b, reduction="none")},
        {"name": "smooth_l1_loss-beta0", "expr": "smooth_l1_loss(a, b, beta=0)", "inputs": {"a": (3, 4), "b": (3, 4)},
         "torch": lambda a, b: F.smooth_l1_loss(a, b, beta=0.0)},
        {"name": "huber_loss-kinks", "expr": "huber_loss(a, b, delta=1.5, reduction=\"none\")",
         "inputs": {"a": [0.0, 1.5, -1.5, 2.5, 0.3], "b": [0.0, 0.0, 0.0, 0.5, 0.0]},
         "torch": lambda a, b: F.huber_loss(a, b, delta=1.5, reduction="none")},
        {"name": "binary_cross_entropy-edges", "expr": "binary_cross_entropy(p, y, reduction=\"none\")",
         "inputs": {"p": [0.0, 1.0, 0.5, 1e-60, 1.0, 0.0], "y": [0.0, 1.0, 0.3, 1.0, 0.0, 1.0]},
         "torch": lambda p, y: F.binary_cross_entropy(p, y, reduction="none")},
        {"name": "bce_with_logits-large", "expr": "binary_cross_entropy_with_logits(x, y, reduction=\"none\")",
         "inputs": {"x": [100.0, -100.0, 0.0, 30.0, -30.0], "y": [0.0, 1.0, 0.5, 1.0, 0.0]},
         "torch": lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction="none")},
        {"name": "bce_with_logits-pos_weight", "expr": "binary_cross_entropy_with_logits(x, y, w)",
         "inputs": {"x": (3, 4), "y": (3, 4), "w": (4,)}, "domain": {"y": ("uniform", 0, 1), "w": "pos"},
         "nondiff": ["w"], "torch": lambda x, y, w: F.binary_cross_entropy_with_logits(x, y, pos_weight=w)},
        {"name": "bce_with_logits-pos_weight-none", "expr": "binary_cross_entropy_with_logits(x, y, w, reduction=\"none\")",
         "inputs": {"x": [100.0, -100.0, 0.0, 30.0, -30.0], "y": [0.0, 1.0, 0.5, 1.0, 0.25], "w": [2.0, 0.5, 3.0, 0.0, 1.5]},
         "nondiff": ["w"],
         "torch": lambda x, y, w: F.binary_cross_entropy_with_logits(x, y, pos_weight=w, reduction="none")},
        {"name": "bce_with_logits-pos_weight-sum", "expr": "binary_cross_entropy_with_logits(x, y, w, reduction=\"sum\")",
         "inputs": {"x": (2, 3, 4), "y": (2, 3, 4), "w": (4,)}, "domain": {"y": ("uniform", 0, 1), "w": "pos"},
         "nondiff": ["w"],
         "torch": lambda x, y, w: F.binary_cross_entropy_with_logits(x, y, pos_weight=w, reduction="sum")},
        {"name": "kl_div-zero-targets", "expr": "kl_div(x, t, reduction=\"none\")",
         "inputs": {"x": (3, 4), "t": PROBS},
         "torch": lambda x, t: F.kl_div(x, t, reduction="none")},
        {"name": "kl_div-batchmean", "expr": "kl_div(log_softmax(x), t, reduction=\"batchmean\")",
         "inputs": {"x": (3, 4), "t": (3, 4)}, "domain": {"t": ("uniform", 0, 1)},
         "torch": lambda x, t: F.kl_div(F.log_softmax(x, -1), t, reduction="batchmean")},
        {"name": "kl_div-log-target", "expr": "kl_div(x, t, log_target=true, reduction=\"sum\")",
         "inputs": {"x": (3, 4), "t": (3, 4)},
         "torch": lambda x, t: F.kl_div(x, t, reduction="sum", log_target=True)},
        {"name": "kl_div-log-target-none", "expr": "kl_div(x, t, log_target=true, reduction=\"none\")",
         "inputs": {"x": (3, 4), "t": (3, 4)},
         "torch": lambda x, t: F.kl_div(x, t, reduction="none", log_target=True)},
    ]
    return c


CASES = reduce_cases() + loss_cases()
