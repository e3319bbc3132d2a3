"""Parity cases of det and inv (lib/ops/det.c) against torch.linalg.det and
torch.linalg.inv, read by tests/parity/run.py: random matrices and batches
(float64; float32 on fixed well-conditioned ones, since random matrices
near singular amplify float32 rounding beyond any fixed tolerance), 1x1
and 0x0 matrices (det 1), and singular matrices, where torch's det
gradient is 0 and gradd's too."""

import torch

WELL = [[[4.0, 1.0, -0.5], [0.5, 3.0, 1.0], [-1.0, 0.25, 5.0]],
        [[2.0, -1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 3.0]]]
SINGULAR = [[[1.0, 2.0], [2.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]], [[3.0, 1.0], [1.0, 2.0]]]
SINGULAR3 = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]

CASES = [
    {"name": "det-3x3", "expr": "det(x)", "inputs": {"x": (3, 3)}, "dtypes": ["float64"],
     "torch": torch.linalg.det},
    {"name": "det-batch", "expr": "det(x)", "inputs": {"x": (2, 3, 4, 4)}, "dtypes": ["float64"],
     "torch": torch.linalg.det},
    {"name": "det-well-conditioned", "expr": "det(x)", "inputs": {"x": WELL}, "torch": torch.linalg.det},
    {"name": "det-1x1", "expr": "det(x)", "inputs": {"x": (3, 1, 1)}, "torch": torch.linalg.det},
    {"name": "det-0x0", "expr": "det(x)", "inputs": {"x": (2, 0, 0)}, "torch": torch.linalg.det},
    # singular matrices: det 0, and torch's gradient there is 0
    # (torch differentiates a singular det through its own decomposition;
    # some of its zero entries take the other sign than gradd's cofactors)
    {"name": "det-singular", "signed_zeros": False,
     "expr": "det(x)", "inputs": {"x": SINGULAR}, "torch": torch.linalg.det},
    {"name": "det-singular-3x3", "expr": "det(x)", "inputs": {"x": SINGULAR3}, "dtypes": ["float64"],
     "grad": False, "torch": torch.linalg.det},
    {"name": "inv-3x3", "expr": "inv(x)", "inputs": {"x": (3, 3)}, "dtypes": ["float64"],
     "torch": torch.linalg.inv},
    {"name": "inv-batch", "expr": "inv(x)", "inputs": {"x": (2, 2, 4, 4)}, "dtypes": ["float64"],
     "torch": torch.linalg.inv},
    {"name": "inv-well-conditioned", "expr": "inv(x)", "inputs": {"x": WELL}, "torch": torch.linalg.inv},
    {"name": "inv-1x1", "expr": "inv(x)", "inputs": {"x": (3, 1, 1)}, "domain": {"x": "pos"},
     "torch": torch.linalg.inv},
    {"name": "inv-0x0", "expr": "inv(x)", "inputs": {"x": (2, 0, 0)}, "torch": torch.linalg.inv},
    {"name": "det-of-inv", "expr": "det(inv(x)) * det(x)", "inputs": {"x": WELL}, "dtypes": ["float64"],
     "torch": lambda x: torch.linalg.det(torch.linalg.inv(x)) * torch.linalg.det(x)},
]
