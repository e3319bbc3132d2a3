#!/usr/bin/python3
"""ONNX GridSample through gradd against torch's grid_sample, values and
gradients, in float64.

For every mode (bilinear, nearest, bicubic), padding mode (zeros, border,
reflection) and align_corners (0, 1): a model holding X [2, 3, 5, 6] and a
grid [2, 4, 7, 2] as initializers (so both are params), with points
reaching past [-1, 1] so that every padding rule is used. gradd's
`gradient` of sum(y * r) (r a new input) with respect to X and the grid
must equal torch's: values and gradients within 1e-9 of the largest
(nearest's grid gradient is 0 in both). ONNX's node tests check the
forward values at ONNX's tolerances; this checks the derivatives.

Then the special points: a grid holding +inf, -inf and NaN coordinates
(and points exactly on pixel centres and on the image's edges) through
`forward`, in float64 and float32: the values must equal torch's, NaN
where torch's are NaN (zeros padding and bicubic give NaN or 0 there; an
inf point under border padding reads its edge, a NaN one, or a
reflected inf, coordinate 0, as torch's clip does).

  tests/onnx/gridsample_vs_torch.py --gradd build/gradd
"""
import argparse
import base64
import itertools
import json
import subprocess
import sys

import numpy as np
import torch
from onnx import TensorProto, helper, numpy_helper


def gradd_gradient(gradd, model, r):
    req = {"graph": {"onnx": base64.b64encode(model.SerializeToString()).decode(), "dtype": "float64",
                     "loss": "sum(y * r)"},
           "inputs": {"r": r.tolist()}, "outputs": ["y"], "encoding": "flat"}
    p = subprocess.run([gradd, "run", "gradient"], input=json.dumps(req).encode(), capture_output=True, timeout=120)
    ans = json.loads(p.stdout.decode())
    if "error" in ans:
        raise RuntimeError("%s %s" % (ans.get("code"), ans["error"]))

    def arr(v):
        return np.array(v["data"]).reshape(v["shape"])
    return arr(ans["values"]["y"]), {k: arr(v) for k, v in ans["gradients"].items()}


def gradd_forward(gradd, model, dtype, inputs):
    req = {"graph": {"onnx": base64.b64encode(model.SerializeToString()).decode(), "dtype": dtype},
           "inputs": inputs, "encoding": "flat"}
    p = subprocess.run([gradd, "run", "forward"], input=json.dumps(req).encode(), capture_output=True, timeout=120)
    ans = json.loads(p.stdout.decode())
    if "error" in ans:
        raise RuntimeError("%s %s" % (ans.get("code"), ans["error"]))
    v = ans["values"]["y"]
    return np.array([float(e) for e in v["data"]]).reshape(v["shape"])


def special_points(gradd):
    """Non-finite and boundary grid points against torch; the count of
    combinations that differ."""
    x = np.arange(24.0).reshape(1, 2, 3, 4) - 7.5
    pts = [(np.inf, 0.0), (-np.inf, 0.2), (np.nan, 0.1), (0.3, np.inf), (0.1, np.nan), (np.inf, np.inf),
           (-1.0, -1.0), (1.0, 1.0), (-0.75, 1.0 / 3), (0.0, 0.0), (1.25, -1.5), (-3.0, 2.5)]
    grid = np.array(pts).reshape(1, 2, 6, 2)
    enc = lambda v: "Infinity" if v == np.inf else "-Infinity" if v == -np.inf else "NaN" if v != v else v
    bad = 0
    for mode, pad, align, dtype in itertools.product(("bilinear", "nearest", "bicubic"),
                                                     ("zeros", "border", "reflection"), (0, 1),
                                                     ("float64", "float32")):
        node = helper.make_node("GridSample", ["x", "grid"], ["y"], mode=mode, padding_mode=pad, align_corners=align)
        g = helper.make_graph([node], "gs", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 2, 3, 4]),
                                             helper.make_tensor_value_info("grid", TensorProto.DOUBLE, [1, 2, 6, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 16)])
        y = gradd_forward(gradd, model, dtype, {"x": x.tolist(),
                                                "grid": [[[[enc(v) for v in p] for p in row] for row in grid[0]]]})
        td = torch.float64 if dtype == "float64" else torch.float32
        ty = torch.nn.functional.grid_sample(torch.tensor(x, dtype=td), torch.tensor(grid, dtype=td), mode=mode,
                                             padding_mode=pad, align_corners=bool(align)).double().numpy()
        tol = 1e-9 if dtype == "float64" else 1e-4
        same_nan = np.array_equal(np.isnan(y), np.isnan(ty))
        fin = ~np.isnan(ty)
        err = float(np.abs(y[fin] - ty[fin]).max()) if fin.any() else 0.0
        ok = same_nan and err <= tol * max(1.0, float(np.abs(ty[fin]).max()))
        bad += not ok
        if not ok:
            print("special points: %s %s align %d %s differ from torch: NaN positions %s, worst %.1e"
                  % (mode, pad, align, dtype, "equal" if same_nan else "differ", err))
    print("special points (inf, NaN, centres, edges): %d of 36 combinations differ from torch" % bad)
    return bad


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gradd", default="build/gradd")
    args = ap.parse_args()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 6))
    grid = rng.uniform(-1.6, 1.6, (2, 4, 7, 2))
    r = rng.standard_normal((2, 3, 4, 7))
    bad = 0
    for mode, pad, align in itertools.product(("bilinear", "nearest", "bicubic"), ("zeros", "border", "reflection"),
                                              (0, 1)):
        node = helper.make_node("GridSample", ["x", "grid"], ["y"], mode=mode, padding_mode=pad, align_corners=align)
        g = helper.make_graph([node], "gs", [], [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)],
                              [numpy_helper.from_array(x, "x"), numpy_helper.from_array(grid, "grid")])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 16)])
        y, grads = gradd_gradient(args.gradd, model, r)
        tx = torch.tensor(x, requires_grad=True)
        tg = torch.tensor(grid, requires_grad=True)
        ty = torch.nn.functional.grid_sample(tx, tg, mode=mode, padding_mode=pad, align_corners=bool(align))
        (ty * torch.tensor(r)).sum().backward()
        errs = (rel(y, ty.detach().numpy()), rel(grads["x"], tx.grad.numpy()),
                float(np.abs(grads["grid"] - tg.grad.numpy()).max() / max(np.abs(tg.grad.numpy()).max(), 1.0)))
        ok = max(errs) <= 1e-9
        bad += not ok
        print("%-9s %-10s align %d  %s  value %.1e, dX %.1e, dgrid %.1e" % (mode, pad, align, "ok  " if ok else "FAIL",
                                                                             *errs))
    print("gridsample_vs_torch: %d of 18 differ" % bad)
    bad += special_points(args.gradd)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
