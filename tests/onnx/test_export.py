#!/usr/bin/python3
"""ONNX export: /v1/gradient-graph "format": "onnx" and /v1/step "export": "onnx".

For the MLP, the small CNN and the transformer encoder of run_models.py
(exported by torch.onnx.export in training mode, random weights), in
float64 and float32:
  - the training graph gradd exports passes onnx.checker.check_model(m,
    full_check=True); its inputs are the model's input and labels and
    every param (also an initializer), its outputs the loss and
    grad_<param> for each param;
  - posted back to gradd's forward, it gives the JSON gradient route's
    loss and gradients (float64 within 1e-9 of each tensor's largest
    gradient, float32 within 1e-5);
  - where every node is standard ONNX (the MLP), ONNX's own semantics
    give the same gradients: onnx.reference.ReferenceEvaluator when this
    onnx has it (1.13 on), else the small NumPy evaluator below, written
    from the operator specs (float64 within 1e-9, float32 within 1e-4).
The step export (MLP and CNN, float32, two SGD steps): the returned model
has the request's nodes, opsets and names; its initializers hold the
returned params (and BatchNormalization buffers when the answer has
them), which equal torch's own params and running statistics after the
same two steps from the model's initializers (within 1e-5 of each
tensor's largest value); torch with those weights and gradd
running the updated model give the same logits (within 1e-4), and for the
MLP the NumPy evaluator runs the updated model as is.

  tests/onnx/test_export.py --gradd build/gradd [-k cnn] [-v]
"""
import base64
import io
import json
import math
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_models as rm  # noqa: E402  (the model builders and the gradd runner)

MODELS = [("mlp", rm.mlp), ("small_cnn", rm.small_cnn), ("transformer_encoder", rm.transformer)]


# ---- ONNX's semantics for the standard ops the exports use ------------------

def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sce(node, a, scores, labels):
    logp = np.log(_softmax(scores, 1))
    ignore = a.get("ignore_index")
    keep = np.ones(labels.shape, bool) if ignore is None else labels != ignore
    picked = -np.take_along_axis(logp, np.where(keep, labels, 0)[:, None], 1)[:, 0] * keep
    red = a.get("reduction", b"mean").decode()
    return picked.sum() / keep.sum() if red == "mean" else picked.sum() if red == "sum" else picked


def _reduce(fn):
    def run(node, a, x, axes=None):
        ax = a.get("axes", None if axes is None else list(axes))
        return fn(x, axis=None if ax is None or len(ax) == 0 else tuple(int(i) for i in ax),
                  keepdims=bool(a.get("keepdims", 1)))
    return run


def _slice(node, a, x, starts, ends, axes=None, steps=None):
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    idx = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        idx[int(ax)] = slice(int(s), int(e), int(st))  # Python's clamping is ONNX's for in-range steps
    return x[tuple(idx)]


def _gemm(node, a, x, w, c=None):
    x = x.T if a.get("transA", 0) else x
    w = w.T if a.get("transB", 0) else w
    y = a.get("alpha", 1.0) * (x @ w)
    return y if c is None else y + a.get("beta", 1.0) * c


CASTS = {1: np.float32, 11: np.float64, 7: np.int64, 9: np.bool_}
OPS = {
    "Identity": lambda n, a, x: x, "MatMul": lambda n, a, x, y: x @ y, "Gemm": _gemm,
    "Add": lambda n, a, x, y: x + y, "Sub": lambda n, a, x, y: x - y, "Mul": lambda n, a, x, y: x * y,
    "Div": lambda n, a, x, y: x / y, "Max": lambda n, a, *xs: np.maximum.reduce(np.broadcast_arrays(*xs)),
    "Neg": lambda n, a, x: -x, "Exp": lambda n, a, x: np.exp(x), "Log": lambda n, a, x: np.log(x),
    "Sqrt": lambda n, a, x: np.sqrt(x), "Reciprocal": lambda n, a, x: 1 / x, "Pow": lambda n, a, x, y: x ** y,
    "Relu": lambda n, a, x: np.maximum(x, 0).astype(x.dtype), "Not": lambda n, a, x: ~x,
    "Equal": lambda n, a, x, y: x == y, "LessOrEqual": lambda n, a, x, y: x <= y, "And": lambda n, a, x, y: x & y,
    "Where": lambda n, a, c, x, y: np.where(c, x, y),
    "Cast": lambda n, a, x: x.astype(CASTS[a["to"]]),
    "Transpose": lambda n, a, x: np.transpose(x, a.get("perm")),
    "Reshape": lambda n, a, x, s: x.reshape([int(v) for v in s]),
    "Expand": lambda n, a, x, s: x * np.ones([int(v) for v in s], x.dtype),
    "Unsqueeze": lambda n, a, x, ax: np.expand_dims(x, tuple(int(i) for i in ax)),
    "ConstantOfShape": lambda n, a, s: np.full([int(v) for v in s], a["value"][0], a["value"].dtype),
    "ReduceSum": _reduce(np.sum), "ReduceMean": _reduce(np.mean),
    "Softmax": lambda n, a, x: _softmax(x, a.get("axis", -1)),
    "LogSoftmax": lambda n, a, x: np.log(_softmax(x, a.get("axis", -1))),
    "Min": lambda n, a, *xs: np.minimum.reduce(np.broadcast_arrays(*xs)),
    "Less": lambda n, a, x, y: x < y, "Greater": lambda n, a, x, y: x > y,
    "GreaterOrEqual": lambda n, a, x, y: x >= y,
    "Sigmoid": lambda n, a, x: 1 / (1 + np.exp(-x)), "Tanh": lambda n, a, x: np.tanh(x),
    "Abs": lambda n, a, x: np.abs(x), "Sin": lambda n, a, x: np.sin(x), "Cos": lambda n, a, x: np.cos(x),
    "ReduceMax": _reduce(np.max), "ReduceMin": _reduce(np.min), "Slice": _slice,
    "IsNaN": lambda n, a, x: np.isnan(x), "Or": lambda n, a, x, y: x | y,
    "Floor": lambda n, a, x: np.floor(x), "Ceil": lambda n, a, x: np.ceil(x), "Round": lambda n, a, x: np.round(x),
    "Atan": lambda n, a, x: np.arctan(x), "Erf": lambda n, a, x: np.vectorize(math.erf, otypes=[x.dtype])(x),
    "Concat": lambda n, a, *xs: np.concatenate(xs, a["axis"]),
    "Tile": lambda n, a, x, r: np.tile(x, [int(v) for v in r]),
    "Clip": lambda n, a, x, lo=None, hi=None: np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi),
    "LeakyRelu": lambda n, a, x: np.where(x > 0, x, x * x.dtype.type(a.get("alpha", 0.01))),
    "Elu": lambda n, a, x: np.where(x <= 0, x.dtype.type(a.get("alpha", 1.0)) * np.expm1(x), x),
    "SoftmaxCrossEntropyLoss": _sce,
}


def _attrs(node):
    out = {}
    for at in node.attribute:
        v = onnx.helper.get_attribute_value(at)
        out[at.name] = onnx.numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else v
    return out


def run_standard(model, feeds):
    """The model's outputs by ONNX's definitions (ReferenceEvaluator when
    available), as {name: array}."""
    names = [o.name for o in model.graph.output]
    try:
        from onnx.reference import ReferenceEvaluator
        return dict(zip(names, ReferenceEvaluator(model).run(None, feeds)))
    except ImportError:
        pass
    env = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    env.update(feeds)
    for node in model.graph.node:
        a = _attrs(node)
        if node.op_type == "Constant":
            env[node.output[0]] = a["value"]
            continue
        if node.domain not in ("", "ai.onnx") or node.op_type not in OPS:
            raise KeyError("no NumPy evaluator for %s::%s" % (node.domain, node.op_type))
        y = OPS[node.op_type](node, a, *[env[i] if i else None for i in node.input])
        env[node.output[0]] = np.asarray(y)
    return {k: env[k] for k in names}


# ---- helpers ----------------------------------------------------------------

def export_torch(model, x):
    buf = io.BytesIO()
    torch.onnx.export(model, (x,), buf, input_names=["x"], output_names=["logits"], opset_version=15,
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    return buf.getvalue()


def rel(a, b, floor=1e-30):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), floor)) if b.size else 0.0


class Check:
    def __init__(self, verbose):
        self.bad, self.verbose = [], verbose

    def __call__(self, ok, what):
        if not ok:
            self.bad.append(what)
        elif self.verbose:
            print("    ok:", what)


def check_training_graph(gradd, name, b64, x, labels, dtype, ck):
    graph = {"onnx": b64, "dtype": dtype, "loss": "cross_entropy(logits, labels)"}
    inputs = {"x": rm.flat(x), "labels": [float(v) for v in labels]}
    ref = rm.gradd_run(gradd, "gradient", {"graph": graph, "inputs": inputs, "encoding": "flat"})
    ans = rm.gradd_run(gradd, "gradient-graph", {"graph": graph, "inputs": inputs, "format": "onnx"})
    ck(ans.get("format") == "onnx", "%s %s: format onnx" % (name, dtype))
    model = onnx.load_from_string(base64.b64decode(ans["onnx"]))
    try:
        onnx.checker.check_model(model, full_check=True)
        ck(True, "%s %s: check_model(full_check=True)" % (name, dtype))
    except Exception as ex:  # the checker's own error type varies across versions
        ck(False, "%s %s: check_model: %s" % (name, dtype, str(ex)[:300]))
    params = sorted(ref["gradients"])
    outs = [o.name for o in model.graph.output]
    ck(outs == ["loss"] + ["grad_" + p for p in ans["gradients"]] and
       sorted(ans["gradients"]) == params and all(ans["gradients"][p] == "grad_" + p for p in params),
       "%s %s: outputs are loss and grad_<param>" % (name, dtype))
    inits = {t.name for t in model.graph.initializer}
    ins = {i.name for i in model.graph.input}
    ck(set(params) <= inits and set(params) <= ins and {"x", "labels"} <= ins,
       "%s %s: params are inputs and initializers" % (name, dtype))
    # posted back to forward: the JSON route's loss and gradients
    back = rm.gradd_run(gradd, "forward", {"graph": {"onnx": ans["onnx"], "dtype": dtype}, "inputs": inputs,
                                           "encoding": "flat"})
    tol = 1e-9 if dtype == "float64" else 1e-5
    worst = max(rel(rm.arr(back["values"]["grad_" + p]), rm.arr(ref["gradients"][p]), 1e-3) for p in params)
    ck(worst <= tol and rel(rm.arr(back["values"]["loss"]), rm.arr(ref["values"]["loss"])) <= tol,
       "%s %s: posted back, gradients within %.1e (worst %.1e)" % (name, dtype, tol, worst))
    custom = sorted({n.op_type for n in model.graph.node if n.domain not in ("", "ai.onnx")})
    if name == "mlp":
        ck(not custom, "mlp %s: every node is standard ONNX (found ai.gradd %s)" % (dtype, custom))
    if not custom:
        np_dt = np.float64 if dtype == "float64" else np.float32
        feeds = {"x": x.double().numpy().astype(np_dt), "labels": labels.double().numpy().astype(np_dt)}
        got = run_standard(model, feeds)
        tol = 1e-9 if dtype == "float64" else 1e-4
        worst = max(rel(got["grad_" + p], rm.arr(ref["gradients"][p]), 1e-3) for p in params)
        ck(worst <= tol, "%s %s: ONNX semantics give the gradients within %.1e (worst %.1e)" % (name, dtype, tol, worst))
    return custom


def check_step_export(gradd, name, make, onnx_bytes, x, labels, ck):
    torch.manual_seed(0)
    model, _ = make()
    model.train()
    b64 = base64.b64encode(onnx_bytes).decode()
    ans = rm.gradd_run(gradd, "step", {
        "graph": {"onnx": b64, "loss": "cross_entropy(logits, labels)", "dtype": "float32"},
        "inputs": {"x": rm.flat(x), "labels": [float(v) for v in labels]},
        "optimizer": {"name": "sgd", "lr": 0.1}, "steps": 2, "export": "onnx", "encoding": "flat"})
    orig, upd = onnx.load_from_string(onnx_bytes), onnx.load_from_string(base64.b64decode(ans["onnx"]))
    ck([n.SerializeToString() for n in orig.graph.node] == [n.SerializeToString() for n in upd.graph.node] and
       list(orig.opset_import) == list(upd.opset_import) and
       [i.name for i in orig.graph.input] == [i.name for i in upd.graph.input] and
       [o.name for o in orig.graph.output] == [o.name for o in upd.graph.output],
       "%s step: the updated model keeps nodes, opsets, inputs and outputs" % name)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in upd.graph.initializer}
    given = dict(ans["params"], **ans.get("buffers", {}))
    ck(all(inits[k].dtype == np.float32 and np.array_equal(inits[k], rm.arr(v).astype(np.float32))
           for k, v in given.items()) and set(ans["params"]) <= set(inits),
       "%s step: initializers hold the returned params%s" % (name, " and buffers" if "buffers" in ans else ""))
    # torch's own two steps from the model's start (the export's trace ran
    # one forward, which moved the running statistics it wrote)
    start = {t.name: onnx.numpy_helper.to_array(t) for t in orig.graph.initializer}
    model.load_state_dict({k: torch.from_numpy(np.array(start[k])) if k in start else v
                           for k, v in model.state_dict().items()})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), labels).backward()
        opt.step()
    state = model.state_dict()
    worst = max(rel(inits[k], state[k].numpy(), 1e-3) for k in given)
    ck(worst <= 1e-5, "%s step: params%s equal torch's after two SGD steps (worst %.1e)" %
       (name, " and running statistics" if "buffers" in ans else "", worst))
    # the updated model runs: torch with its weights, gradd on it as is
    model.load_state_dict({k: torch.from_numpy(np.array(inits[k])) if k in inits else v for k, v in state.items()})
    with torch.no_grad():
        want = model(x).double().numpy()
    fw = rm.gradd_run(gradd, "forward", {"graph": {"onnx": ans["onnx"]}, "inputs": {"x": rm.flat(x)},
                                         "outputs": ["logits"], "encoding": "flat"})
    err = rel(rm.arr(fw["values"]["logits"]), want)
    ck(err <= 1e-4, "%s step: gradd runs the updated model as torch does (%.1e)" % (name, err))
    if name == "mlp":
        got = run_standard(upd, {"x": x.numpy()})["logits"]
        err = rel(got, want)
        ck(err <= 1e-4, "mlp step: ONNX semantics run the updated model as torch does (%.1e)" % err)


def _value(v, np_dt):
    """A request's tensor (nested lists, or {"shape", "data"}) as an array, or None for other encodings."""
    if isinstance(v, dict):
        return np.array(v["data"], np_dt).reshape(v["shape"]) if isinstance(v.get("data"), list) else None
    return np.array(v, np_dt)


def _close(got, want, tol):
    """Within tol of want's largest magnitude (at least 1e-3), NaN where want is NaN, infinities equal."""
    got, want = np.atleast_1d(np.asarray(got, np.float64)), np.atleast_1d(np.asarray(want, np.float64))
    if got.shape != want.shape:
        return False
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    finite = np.isfinite(want) & np.isfinite(got)
    if not np.all(same | finite):
        return False
    scale = max(np.abs(want[np.isfinite(want)]).max(initial=0), 1e-3)
    with np.errstate(invalid="ignore"):
        return bool(np.all(same | (np.abs(got - want) <= tol * scale)))


def check_golden_cases(gradd, cases_dir, ck, filt):
    """Every golden gradient, hvp, check, step and seed case's graph: its
    training graph exported, checked, posted back and (when all standard
    ONNX ops the NumPy evaluator knows) run by ONNX's semantics, against
    the JSON gradient route. Returns the number of cases."""
    count = 0
    for name in sorted(os.listdir(cases_dir)):
        path = os.path.join(cases_dir, name, "request.json")
        if not name.startswith(("gradient", "hvp", "check", "step", "seed")) or filt not in name or \
                not os.path.exists(path):
            continue
        with open(path) as f:
            req = json.load(f)
        base = {k: v for k, v in req.items() if k in ("graph", "inputs", "params", "wrt")}
        for dtype in ("float64", "float32"):
            r = dict(base)
            if isinstance(r["graph"], dict):
                r["graph"] = dict(r["graph"], dtype=dtype)
            else:
                r["dtype"] = dtype
            try:
                ref = rm.gradd_run(gradd, "gradient", dict(r, encoding="flat"))
            except RuntimeError:
                break  # a case whose graph has no gradient as given (a batched step)
            ans = rm.gradd_run(gradd, "gradient-graph", dict(r, format="onnx"))
            model = onnx.load_from_string(base64.b64decode(ans["onnx"]))
            try:
                onnx.checker.check_model(model, full_check=True)
            except Exception as ex:  # the checker's own error type varies across versions
                ck(False, "case %s %s: check_model: %s" % (name, dtype, str(ex)[:300]))
            back = rm.gradd_run(gradd, "forward", {"graph": {"onnx": ans["onnx"], "dtype": dtype},
                                                   "inputs": r.get("inputs", {}), "encoding": "flat"})
            tol = 1e-9 if dtype == "float64" else 1e-5
            bad = [p for p, out in ans["gradients"].items()
                   if not _close(rm.arr(back["values"][out]), rm.arr(ref["gradients"][p]), tol)]
            ck(not bad, "case %s %s: posted back, the gradients agree%s" % (name, dtype, " but for %s" % bad if bad else ""))
            if all(n.domain in ("", "ai.onnx") and (n.op_type in OPS or n.op_type == "Constant") for n in model.graph.node):
                np_dt = np.float64 if dtype == "float64" else np.float32
                feeds = {k: _value(v, np_dt) for k, v in r.get("inputs", {}).items()}
                if any(v is None for v in feeds.values()):
                    continue
                with np.errstate(all="ignore"):
                    got = run_standard(model, feeds)
                tol = 1e-9 if dtype == "float64" else 1e-4
                bad = [p for p, out in ans["gradients"].items() if not _close(got[out], rm.arr(ref["gradients"][p]), tol)]
                ck(not bad, "case %s %s: by ONNX's semantics the gradients agree%s" % (name, dtype,
                                                                                      " but for %s" % bad if bad else ""))
        count += 1
    return count


def main():
    a = rm.parse_args()
    ok = True
    for name, make in MODELS:
        if a.k not in name:
            continue
        ck = Check(a.v)
        try:
            torch.manual_seed(0)
            model, x = make()
            model.train()
            labels = torch.randint(0, 10, (x.shape[0],))
            onnx_bytes = export_torch(model, x)
            b64 = base64.b64encode(onnx_bytes).decode()
            custom = []
            for dtype in ("float64", "float32"):
                custom = check_training_graph(a.gradd, name, b64, x, labels, dtype, ck)
            if name != "transformer_encoder":
                check_step_export(a.gradd, name, make, onnx_bytes, x, labels, ck)
        except Exception as ex:  # an error answer or an export failure
            ck(False, "%s: %s: %s" % (name, type(ex).__name__, ex))
        print("export %-20s %s%s%s" % (name, "ok" if not ck.bad else "FAIL",
                                        " (ai.gradd nodes: %s)" % ", ".join(custom) if custom else "",
                                        "" if not ck.bad else "\n    " + "\n    ".join(ck.bad)))
        ok &= not ck.bad
    ck = Check(a.v)
    cases = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api", "cases")
    try:
        n = check_golden_cases(a.gradd, cases, ck, a.k)
    except Exception as ex:  # an error answer
        n = -1
        ck(False, "%s: %s" % (type(ex).__name__, ex))
    print("export of %d golden cases' graphs %s%s" % (n, "ok" if not ck.bad else "FAIL",
                                                      "" if not ck.bad else "\n    " + "\n    ".join(ck.bad)))
    ok &= not ck.bad
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
