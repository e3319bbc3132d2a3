#!/usr/bin/python3
"""ONNX's backend conformance tests through gradd's forward route.

Each test of Debian's libonnx-testdata (data/node/*, data/pytorch-converted/*,
data/pytorch-operator/*, data/simple/*: a model.onnx and test_data_set_*/
{input,output}_*.pb TensorProtos) is sent to `gradd run forward` as
{"graph": {"onnx": <base64>}, "inputs": {...}, "outputs": [...]} and the
answer compared with the expected outputs at ONNX's tolerances (rtol 1e-3,
atol 1e-7; integer and bool outputs exactly).

A test is "unsupported" when gradd answers 422 unknown_op (the model uses
an op type gradd does not lower) or the test has a tensor type gradd has no
use for (strings, complex); "failed" otherwise when the answer is an error
or differs. Prints passed / failed / unsupported per op type (the node
tests are named test_<op>_...) and in total, and the op types still
unsupported with the number of tests each would unlock.

  tests/onnx/run_node_tests.py --gradd build/gradd [-k substring] [-v]
                               [--known tests/onnx/known_failures.txt]

Exits 1 when a test fails that is not listed in the known-failures file
(one test name a line, '#' comments: each with the reason it fails), or a
listed one passes (so the list only shrinks), or gradd crashes (5xx).
"""
import argparse
import base64
import collections
import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = "/usr/share/libonnx-testdata/data"
SUITES = ["node", "pytorch-converted", "pytorch-operator", "simple"]
FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}
NO_TYPES = {onnx.TensorProto.STRING, onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128}


def to_json(a):
    """A numpy array as a gradd tensor value ({"shape", "data"})."""
    a = np.asarray(a)
    flat = [float(v) if np.isfinite(v) else ("NaN" if np.isnan(v) else ("Infinity" if v > 0 else "-Infinity"))
            for v in a.astype(np.float64).ravel()]
    return {"shape": list(a.shape), "data": flat}


def from_json(v):
    if isinstance(v, dict):
        return np.array([float(x) for x in v["data"]], dtype=np.float64).reshape(v["shape"])
    def conv(x):
        if isinstance(x, list):
            return [conv(y) for y in x]
        return float(x)
    return np.array(conv(v), dtype=np.float64)


def load_tensor(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return t


def run_one(gradd, d):
    model_path = os.path.join(d, "model.onnx")
    model = onnx.load(model_path)
    g = model.graph
    inits = {i.name for i in g.initializer}
    ins = [i for i in g.input if i.name not in inits]
    sets = sorted(glob.glob(os.path.join(d, "test_data_set_*")))
    if not sets:
        return "unsupported", "no data set", None
    ds = sets[0]
    inputs, expect = {}, {}
    for vi in list(ins) + list(g.output):
        if not vi.type.HasField("tensor_type"):
            return "unsupported", "a value that is not a tensor (sequence, map, optional)", None
    for k, vi in enumerate(ins):
        p = os.path.join(ds, "input_%d.pb" % k)
        if not os.path.exists(p):
            continue
        t = load_tensor(p)
        if t.data_type in NO_TYPES:
            return "unsupported", "input of type %s" % onnx.TensorProto.DataType.Name(t.data_type), None
        inputs[vi.name] = to_json(numpy_helper.to_array(t))
    types = {}
    for k, vo in enumerate(g.output):
        p = os.path.join(ds, "output_%d.pb" % k)
        if not os.path.exists(p):
            continue
        t = load_tensor(p)
        if t.data_type in NO_TYPES or t.data_type == 0:
            return "unsupported", "output of type %s" % onnx.TensorProto.DataType.Name(t.data_type), None
        expect[vo.name] = numpy_helper.to_array(t)
        types[vo.name] = t.data_type
    with open(model_path, "rb") as f:
        b64 = base64.b64encode(f.read()).decode()
    req = {"graph": {"onnx": b64}, "inputs": inputs, "outputs": list(expect), "encoding": "flat"}
    if any(t == onnx.TensorProto.DOUBLE for t in types.values()):
        req["graph"]["dtype"] = "float64"
    proc = subprocess.run([gradd, "run", "forward"], input=json.dumps(req).encode(), capture_output=True,
                          timeout=120)
    if proc.returncode < 0:
        return "crashed", "gradd died with signal %d" % -proc.returncode, types
    if proc.returncode not in (0, 1) or proc.stderr:  # a sanitizer's report (leaks, UB) under a SAN build
        return "crashed", "gradd exited %d: %s" % (proc.returncode, proc.stderr.decode()[-400:]), types
    try:
        ans = json.loads(proc.stdout.decode())
    except ValueError:
        return "crashed", "no JSON answer: %r" % proc.stdout[:200], types
    if "error" in ans:
        if ans.get("code") == "unknown_op":
            return "unsupported", ans["error"], types
        if ans.get("code") == "internal":
            return "crashed", ans["error"], types
        return "failed", "%s: %s" % (ans.get("code"), ans["error"][:300]), types
    for name, want in expect.items():
        got = from_json(ans["values"][name])
        if got.shape != want.shape:
            return "failed", "%s: shape %s, expected %s" % (name, got.shape, want.shape), types
        if types[name] in FLOAT_TYPES:
            w = want.astype(np.float64)
            ok = np.allclose(got, w, rtol=1e-3, atol=1e-7, equal_nan=True)
        else:
            ok = np.array_equal(got, want.astype(np.float64))
        if not ok:
            err = np.nanmax(np.abs(got - want.astype(np.float64))) if got.size else 0
            return "failed", "%s: values differ (max abs diff %.3g)" % (name, err), types
    return "passed", "", types


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gradd", default="build/gradd")
    ap.add_argument("-k", default="")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--known", default=os.path.join(os.path.dirname(__file__), "known_failures.txt"))
    a = ap.parse_args()
    known = {}
    if os.path.exists(a.known):
        for line in open(a.known):
            line = line.split("#", 1)
            name = line[0].strip()
            if name:
                known[name] = line[1].strip() if len(line) > 1 else ""
    if not os.path.isdir(ROOT):
        print("onnx-node-tests: %s is missing (Debian's libonnx-testdata)" % ROOT)
        return 1
    per_op = collections.defaultdict(collections.Counter)
    total = collections.Counter()
    float_total = collections.Counter()
    unsupported_ops = collections.Counter()
    bad = []
    for suite in SUITES:
        for d in sorted(glob.glob(os.path.join(ROOT, suite, "*"))):
            name = suite + "/" + os.path.basename(d)
            if a.k not in name or not os.path.exists(os.path.join(d, "model.onnx")):
                continue
            model = onnx.load(os.path.join(d, "model.onnx"), load_external_data=False)
            ops = sorted({n.op_type for n in model.graph.node})
            op = model.graph.node[0].op_type if suite == "node" and len(ops) == 1 else suite if suite != "node" else "+".join(ops)
            try:
                status, why, types = run_one(a.gradd, d)
            except subprocess.TimeoutExpired:
                status, why, types = "failed", "timed out", None
            except (ValueError, onnx.onnx_cpp2py_export.checker.ValidationError, KeyError) as ex:
                status, why, types = "unsupported", "test data gradd cannot read (sequence or optional?): %s" % ex, None
            if status == "unsupported":
                m = re.findall(r"(?:^|: |; )([A-Za-z0-9_:.]+) \(\d+ node", why)
                if not m:  # one node's feature: "node "n" (Type): what"
                    m = ["%s: %s" % x for x in re.findall(r'\(([A-Za-z]+)\): (.{0,40})', why)[:1]]
                for t in set(m) or {why[:40]}:
                    unsupported_ops[t] += 1
            per_op[op][status] += 1
            total[status] += 1
            if types is not None and all(t in FLOAT_TYPES for t in types.values()):
                float_total[status] += 1
            if status in ("failed", "crashed"):
                if name in known and status == "failed":
                    per_op[op]["known"] += 1
                else:
                    bad.append((name, why))
            elif status == "passed" and name in known:
                bad.append((name, "passes now: remove it from %s" % a.known))
            if a.v:
                print("%-70s %s %s" % (name, status, why[:160]))
    print("%-34s %7s %7s %12s" % ("op", "passed", "failed", "unsupported"))
    for op in sorted(per_op):
        c = per_op[op]
        if c["passed"] or c["failed"] or c["crashed"]:
            print("%-34s %7d %7d %12d" % (op[:34], c["passed"], c["failed"] + c["crashed"], c["unsupported"]))
    print("total: %d passed, %d failed (%d known), %d crashed, %d unsupported" %
          (total["passed"], total["failed"], sum(c["known"] for c in per_op.values()), total["crashed"],
           total["unsupported"]))
    print("tests with only float outputs: %d of %d pass" % (float_total["passed"], sum(float_total.values())))
    print("op types gradd does not lower, by tests each would unlock:")
    print("  " + ", ".join("%s %d" % (t, n) for t, n in unsupported_ops.most_common()))
    for name, why in bad:
        print("FAIL %s: %s" % (name, why))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
