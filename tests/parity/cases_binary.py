"""Parity cases of the binary and ternary elementwise ops (binary.c's pow at
its special points, compare.c, binary_math.c), matmul with 1-D operands,
outer and einsum: random points and the special points each op defines.
Read by tests/parity/run.py."""

import torch

inf, nan = float("inf"), float("nan")

# pow's special points: zero bases with zero, positive, negative and
# fractional exponents, x^0 at x = 0, negative bases with whole exponents.
POW_A = [0.0, 0.0, 0.0, 0.0, 0.0, -0.0, 2.0, -1.5, -2.0, 0.5, 3.0, 1.0]
POW_B = [0.0, 2.0, 0.5, -1.0, 1.0, 3.0, 0.0, 2.0, 3.0, -2.0, 0.0, 7.5]

# ties and NaN for the comparisons
CMP_A = [1.0, 2.0, -1.0, 0.0, -0.0, nan, inf, -inf, 3.0]
CMP_B = [1.0, 1.0, 2.0, -0.0, 0.0, 1.0, inf, 0.0, nan]

# fmod / remainder / floor_divide with every sign combination, exact
# multiples and zeros
DIV_A = [5.5, -5.5, 5.5, -5.5, 6.0, -6.0, 0.0, -0.0, 1.0, 7.25, -0.5, 2.0]
DIV_B = [2.0, 2.0, -2.0, -2.0, 3.0, 3.0, 2.0, -2.0, 0.75, -1.5, 3.0, -0.25]

CASES = [
    # ---- pow at PyTorch's special points ----
    {"name": "pow-random", "expr": "pow(a, b)", "inputs": {"a": (3, 4), "b": (3, 4)},
     "domain": {"a": "pos"}, "torch": lambda a, b: torch.pow(a, b)},
    {"name": "pow-broadcast", "expr": "a ^ b", "inputs": {"a": (3, 1), "b": (4,)},
     "domain": {"a": "pos"}, "torch": lambda a, b: a ** b},
    {"name": "pow-special", "expr": "pow(a, b)", "inputs": {"a": POW_A, "b": POW_B},
     "torch": lambda a, b: torch.pow(a, b)},
    {"name": "pow-zero-base-grid", "expr": "pow(a, b)",
     "inputs": {"a": [0.0, 0.0, 0.0, 1e-3], "b": [0.0, 1.0, 2.0, 0.0]},
     "torch": lambda a, b: torch.pow(a, b)},
    # ---- comparisons and logic (0/1, no gradient) ----
    {"name": "greater_equal-ties", "expr": "greater_equal(a, b)", "inputs": {"a": CMP_A, "b": CMP_B},
     "grad": False, "torch": lambda a, b: torch.greater_equal(a, b)},
    {"name": "less_equal-ties", "expr": "less_equal(a, b)", "inputs": {"a": CMP_A, "b": CMP_B},
     "grad": False, "torch": lambda a, b: torch.less_equal(a, b)},
    {"name": "not_equal-ties", "expr": "not_equal(a, b)", "inputs": {"a": CMP_A, "b": CMP_B},
     "grad": False, "torch": lambda a, b: torch.not_equal(a, b)},
    {"name": "greater_equal-random", "expr": "greater_equal(a, b)", "inputs": {"a": (3, 4), "b": (4,)},
     "grad": False, "torch": lambda a, b: torch.greater_equal(a, b)},
    {"name": "less_equal-int", "expr": "less_equal(a, b)", "inputs": {"a": (4, 3), "b": (4, 1)},
     "domain": {"a": ("int", -2, 3), "b": ("int", -2, 3)},
     "grad": False, "torch": lambda a, b: torch.less_equal(a, b)},
    {"name": "logical_and", "expr": "logical_and(a, b)",
     "inputs": {"a": [0.0, 0.0, 1.0, 1.0, -0.0, nan, 2.5, -3.0], "b": [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, -0.5, 0.0]},
     "grad": False, "torch": lambda a, b: torch.logical_and(a, b)},
    {"name": "logical_or", "expr": "logical_or(a, b)",
     "inputs": {"a": [0.0, 0.0, 1.0, 1.0, -0.0, nan, 2.5, -3.0], "b": [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, -0.5, 0.0]},
     "grad": False, "torch": lambda a, b: torch.logical_or(a, b)},
    {"name": "logical_or-broadcast", "expr": "logical_or(a, b)", "inputs": {"a": (3, 1), "b": (4,)},
     "domain": {"a": ("int", 0, 2), "b": ("int", 0, 2)},
     "grad": False, "torch": lambda a, b: torch.logical_or(a, b)},
    # ---- atan2 ----
    {"name": "atan2-random", "expr": "atan2(a, b)", "inputs": {"a": (3, 4), "b": (3, 4)},
     "domain": {"a": "away0", "b": "away0"}, "torch": lambda a, b: torch.atan2(a, b)},
    {"name": "atan2-broadcast", "expr": "atan2(a, b)", "inputs": {"a": (2, 3, 1), "b": (4,)},
     "domain": {"a": "away0", "b": "away0"}, "torch": lambda a, b: torch.atan2(a, b)},
    {"name": "atan2-special", "expr": "atan2(a, b)",
     "inputs": {"a": [0.0, 0.0, -0.0, -0.0, 1.0, 0.0, inf, -inf, inf, 1.0, 0.0],
                "b": [0.0, -0.0, 0.0, -0.0, 0.0, 1.0, 1.0, inf, -inf, inf, -2.0]},
     "torch": lambda a, b: torch.atan2(a, b)},
    # ---- copysign ----
    {"name": "copysign-random", "expr": "copysign(a, b)", "inputs": {"a": (3, 4), "b": (3, 4)},
     "domain": {"a": "away0", "b": "away0"}, "nondiff": ["b"], "torch": lambda a, b: torch.copysign(a, b)},
    {"name": "copysign-special", "expr": "copysign(a, b)",
     "inputs": {"a": [0.0, -0.0, 0.0, 2.0, -2.0, 3.0, inf, 1.5],
                "b": [-1.0, 1.0, -0.0, -0.0, 0.0, nan, -1.0, -inf]},
     "nondiff": ["b"], "torch": lambda a, b: torch.copysign(a, b)},
    # ---- logaddexp ----
    {"name": "logaddexp-random", "expr": "logaddexp(a, b)", "inputs": {"a": (3, 4), "b": (4,)},
     "torch": lambda a, b: torch.logaddexp(a, b)},
    {"name": "logaddexp-large", "expr": "logaddexp(a, b)",
     "inputs": {"a": [800.0, -800.0, 30.0, 1.0], "b": [799.0, -801.0, -30.0, 1.0]},
     "torch": lambda a, b: torch.logaddexp(a, b)},
    {"name": "logaddexp-inf", "expr": "logaddexp(a, b)",
     "inputs": {"a": [-inf, -inf, 0.0, inf, inf, -inf], "b": [0.0, -inf, -inf, 1.0, inf, inf]},
     "torch": lambda a, b: torch.logaddexp(a, b)},
    # ---- fmod, remainder, floor_divide ----
    {"name": "fmod-random", "expr": "fmod(a, b)", "inputs": {"a": (3, 4), "b": (3, 4)},
     "domain": {"b": "away0"}, "torch": lambda a, b: torch.fmod(a, b)},
    {"name": "fmod-signs", "expr": "fmod(a, b)", "inputs": {"a": DIV_A, "b": DIV_B},
     "torch": lambda a, b: torch.fmod(a, b)},
    {"name": "remainder-random", "expr": "remainder(a, b)", "inputs": {"a": (3, 4), "b": (4,)},
     "domain": {"b": "away0"}, "torch": lambda a, b: torch.remainder(a, b)},
    {"name": "remainder-signs", "expr": "remainder(a, b)", "inputs": {"a": DIV_A, "b": DIV_B},
     "torch": lambda a, b: torch.remainder(a, b)},
    {"name": "fmod-zero-divisor", "expr": "fmod(a, b)", "inputs": {"a": [1.0, -1.0, 0.0], "b": [0.0, 0.0, 0.0]},
     "grad": False, "torch": lambda a, b: torch.fmod(a, b)},
    {"name": "remainder-zero-divisor", "expr": "remainder(a, b)",
     "inputs": {"a": [1.0, -1.0, 0.0], "b": [0.0, 0.0, 0.0]},
     "grad": False, "torch": lambda a, b: torch.remainder(a, b)},
    {"name": "floor_divide-random", "expr": "floor_divide(a, b)", "inputs": {"a": (3, 4), "b": (3, 4)},
     "domain": {"b": "away0"}, "grad": False, "torch": lambda a, b: torch.floor_divide(a, b)},
    {"name": "floor_divide-signs", "expr": "floor_divide(a, b)",
     "inputs": {"a": DIV_A + [1.0, -1.0, 0.0], "b": DIV_B + [0.0, 0.0, 0.0]},
     "grad": False, "torch": lambda a, b: torch.floor_divide(a, b)},
    # ---- lerp ----
    {"name": "lerp-random", "expr": "lerp(a, b, w)", "inputs": {"a": (3, 4), "b": (3, 4), "w": (3, 4)},
     "torch": lambda a, b, w: torch.lerp(a, b, w)},
    {"name": "lerp-broadcast", "expr": "lerp(a, b, w)", "inputs": {"a": (3, 1), "b": (4,), "w": (3, 4)},
     "torch": lambda a, b, w: torch.lerp(a, b, w)},
    {"name": "lerp-ends", "expr": "lerp(a, b, w)",
     "inputs": {"a": [1.0, 1.0, 1.0, -2.0, 5.0, 0.25], "b": [3.0, 3.0, 3.0, 7.0, 5.0, 1e10],
                "w": [0.0, 1.0, 0.5, -1.0, 2.0, 0.4999]},
     "torch": lambda a, b, w: torch.lerp(a, b, w)},
    # ---- matmul with 1-D operands, as NumPy ----
    {"name": "matmul-mat-vec", "expr": "A @ v", "inputs": {"A": (3, 4), "v": (4,)},
     "torch": lambda A, v: torch.matmul(A, v)},
    {"name": "matmul-vec-mat", "expr": "v @ A", "inputs": {"v": (3,), "A": (3, 5)},
     "torch": lambda v, A: torch.matmul(v, A)},
    {"name": "matmul-vec-vec", "expr": "u @ v", "inputs": {"u": (6,), "v": (6,)},
     "torch": lambda u, v: torch.matmul(u, v)},
    {"name": "matmul-batch-vec", "expr": "A @ v", "inputs": {"A": (2, 3, 4), "v": (4,)},
     "torch": lambda A, v: torch.matmul(A, v)},
    {"name": "matmul-vec-batch", "expr": "v @ A", "inputs": {"v": (4,), "A": (2, 2, 4, 3)},
     "torch": lambda v, A: torch.matmul(v, A)},
    {"name": "matmul-2d-still", "expr": "A @ B", "inputs": {"A": (2, 3, 4), "B": (4, 5)},
     "torch": lambda A, B: torch.matmul(A, B)},
    {"name": "matmul-vec-empty", "expr": "A @ v", "inputs": {"A": (3, 0), "v": (0,)},
     "torch": lambda A, v: torch.matmul(A, v)},
    # ---- outer ----
    {"name": "outer-random", "expr": "outer(a, b)", "inputs": {"a": (3,), "b": (5,)},
     "torch": lambda a, b: torch.outer(a, b)},
    {"name": "outer-special", "expr": "outer(a, b)", "inputs": {"a": [0.0, inf, -1.0], "b": [2.0, 0.0]},
     "torch": lambda a, b: torch.outer(a, b)},
]

# ---- einsum: (equation, operand shapes) as einsum users write them ----
EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),          # matmul (BLAS)
    ("ij,kj->ik", [(3, 4), (5, 4)]),          # A B^T (BLAS, transposed)
    ("ji,jk->ik", [(4, 3), (4, 5)]),          # A^T B
    ("ij,jk->ki", [(3, 4), (4, 5)]),          # (A B)^T (BLAS, swapped)
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), # batched matmul
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),  # attention scores
    ("bij,jk->bik", [(2, 3, 4), (4, 5)]),     # batch against a shared matrix
    ("ij,jk", [(3, 4), (4, 5)]),              # implicit output
    ("ij->ji", [(3, 4)]),                     # transpose
    ("ij->", [(3, 4)]),                       # sum
    ("ij->j", [(3, 4)]),                      # column sums
    ("ii->i", [(4, 4)]),                      # diagonal
    ("ii", [(4, 4)]),                         # trace
    ("i,i->", [(5,), (5,)]),                  # dot
    ("i,j->ij", [(3,), (4,)]),                # outer
    ("ij,ij->i", [(3, 4), (3, 4)]),           # rowwise dot
    ("ij,ij->ij", [(3, 4), (3, 4)]),          # Hadamard
    ("ijk,ikj->i", [(2, 3, 4), (2, 4, 3)]),   # batched trace of a product
    ("bi,bj->bij", [(2, 3), (2, 4)]),         # batched outer
    ("iij->ij", [(3, 3, 2)]),                 # diagonal with a batch dim
    ("ij,jk->k", [(3, 4), (4, 5)]),           # a label summed within one operand
    ("...ij->...ji", [(2, 3, 4)]),            # ellipsis transpose
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),  # ellipsis batch matmul
    ("b...i,bi->b...", [(2, 3, 4), (2, 4)]),  # ellipsis in the middle
    ("ij,j->i", [(3, 4), (4,)]),              # matrix-vector
    ("ij,jk->ik", [(3, 0), (0, 5)]),          # empty contraction: zeros
    (",ij->ij", [(), (2, 3)]),                # a scalar operand
    ("ii,jj->ij", [(3, 3), (3, 3)]),          # two diagonals
    ("bij,bij->bi", [(2, 1, 4), (1, 3, 4)]),  # size-1 dims broadcast
    ("ba,ab->", [(3, 4), (4, 3)]),            # trace of a product
    ("aBc,cB->a", [(2, 3, 4), (4, 3)]),       # upper-case letters
    ("Ab,bc", [(2, 3), (3, 4)]),              # implicit: 'A' sorts before 'c'
    ("ij->i", [(0, 3)]),                      # empty output
    ("bqd,bkd->bqk", [(2, 8, 16), (2, 8, 16)]),  # larger attention scores
    ("i,ij,j->", [(3,), (3, 4), (4,)]),      # a bilinear form: three operands
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),  # a chain of three
    ("bi,bj,bk->bijk", [(2, 2), (2, 3), (2, 2)]),
    ("bhqd,bkhd->bhqk", [(2, 3, 4, 5), (2, 6, 3, 5)]),  # small: the loop
    ("bhqd,bkhd->bhqk", [(2, 2, 8, 8), (2, 8, 2, 8)]),  # permuted into GEMM order
    ("ijk,jil->kl", [(3, 4, 5), (4, 3, 2)]),  # contraction labels in two orders
    ("ijk,jil->kl", [(4, 8, 5), (8, 4, 6)]),  # the same, permuted GEMM
    ("bij,bjk->kbi", [(2, 3, 4), (2, 4, 5)]),  # output permuted after the GEMM
    ("bij,bjk->kbi", [(2, 8, 8), (2, 8, 9)]),
    ("ib,bj->", [(3, 2), (2, 3)]),            # everything summed
]


def _einsum_case(i, eq, shapes):
    names = "abcd"[: len(shapes)]
    return {"name": "einsum-%02d-%s" % (i, eq.replace("->", "_to_").replace(",", "_").replace("...", "E")),
            "expr": "einsum(%s, equation=\"%s\")" % (", ".join(names), eq),
            "inputs": {n: s for n, s in zip(names, shapes)},
            "torch": (lambda e: lambda *xs: torch.einsum(e, *xs))(eq)}


CASES += [_einsum_case(i, eq, shapes) for i, (eq, shapes) in enumerate(EINSUM)]
