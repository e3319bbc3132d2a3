#!/usr/bin/python3
"""tests/parity/run.py -- gradd against PyTorch, value for value.

Usage (from the repository root, with Debian's python3-torch):
    /usr/bin/python3 tests/parity/run.py [--gradd build/gradd] [-k TEXT]...
                                         [--dtype float64|float32] [-v]

Reads every tests/parity/cases_*.py. Each defines CASES, a list of dicts:

    {"name": "gelu-tanh",                    # unique across all files
     "expr": 'gelu(x, approximate="tanh")',  # gradd expression over the inputs
     "inputs": {"x": (3, 4)},                # a shape tuple -> random values,
                                             # or explicit values (a number or
                                             # nested lists; floats incl. inf,
                                             # -inf, nan, -0.0)
     "torch": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
     # optional:
     "domain": {"x": "pos"},   # per input: "any" (default, [-2,2)),
                               # "pos" ([0.5,2)), "away0" (+-[0.5,2)),
                               # "distinct" (pairwise distinct, well apart,
                               # in [-2,2)), ("int", lo, hi) (integers
                               # lo <= v < hi, as range() and randint),
                               # ("uniform", lo, hi) ([lo,hi))
     "nondiff": ["labels"],    # inputs without a gradient
     "dtypes": ["float64"],    # default both float64 and float32
     "grad": False,            # default True
     "signed_zeros": False}    # default True: zeros must also agree in sign

The lambda receives the inputs positionally, in the order of "inputs", as
torch tensors of the case's dtype (integer-valued arguments are converted
by the lambda itself, e.g. idx.long()); gradd receives the same numbers.

For each case and dtype the runner computes y = torch(inputs) and the
gradient of sum(y * W) (W a fixed random tensor of y's shape, in [-1, 1))
with respect to every input not in "nondiff", then asks gradd the same
through one long-form graph
    [parity_y = expr, parity_loss = sum(parity_y * parity_w)]
(parity_w a constant) posted to POST /v1/gradient of one `gradd serve`
process (POST /v1/forward when there is no gradient to compare). A torch
output that is not floating point (bool from isnan) is compared as 0/1 in
the case's dtype, and its gradient, which torch does not have, as zeros.

Tolerances: float64 |gradd - torch| <= 1e-9 * |torch| + 1e-12; float32
<= 1e-4 * |torch| + 1e-5. NaN must meet NaN, an infinity the same
infinity, and shapes must agree, and a zero must have torch's sign (a
masked gradient is +0 in PyTorch's where(mask, grad, 0)) unless the case
says "signed_zeros": False.

One line per failing (case, dtype, tensor) with its max absolute and
relative error and the worst element; then a summary. Exit status 1 on
any failure (an error response is a failure too), 2 on a bad case file.
"""

import argparse
import glob
import http.client
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import warnings
import zlib

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DTYPES = {"float64": torch.float64, "float32": torch.float32}
TOL = {"float64": (1e-9, 1e-12), "float32": (1e-4, 1e-5)}  # (rel, abs)
KEYS = {"name", "expr", "inputs", "torch", "domain", "nondiff", "dtypes", "grad", "signed_zeros"}
Y, W, LOSS = "parity_y", "parity_w", "parity_loss"


class CaseError(Exception):
    """A malformed case (exit status 2)."""


def load_cases(pattern):
    """Every CASES entry of the files matching pattern, checked for shape
    and for names unique across the files; a list of (file, case)."""
    out, seen = [], {}
    for path in sorted(glob.glob(pattern)):
        spec = importlib.util.spec_from_file_location(
            "parity_" + os.path.basename(path)[:-3], path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        cases = getattr(mod, "CASES", None)
        if not isinstance(cases, list):
            raise CaseError(f"{path}: defines no CASES list")
        for c in cases:
            where = f"{os.path.basename(path)}: case {c.get('name', '?')!r}"
            if not isinstance(c, dict):
                raise CaseError(f"{path}: a case is not a dict")
            extra = set(c) - KEYS
            if extra:
                raise CaseError(f"{where}: unknown keys {sorted(extra)}")
            for k in ("name", "expr", "inputs", "torch"):
                if k not in c:
                    raise CaseError(f"{where}: missing {k!r}")
            if c["name"] in seen:
                raise CaseError(f"{where}: name also used in {seen[c['name']]}")
            seen[c["name"]] = os.path.basename(path)
            for k in c.get("domain", {}):
                if k not in c["inputs"]:
                    raise CaseError(f"{where}: domain names unknown input {k!r}")
            for k in c.get("nondiff", []):
                if k not in c["inputs"]:
                    raise CaseError(f"{where}: nondiff names unknown input {k!r}")
            for d in c.get("dtypes", DTYPES):
                if d not in DTYPES:
                    raise CaseError(f"{where}: unknown dtype {d!r}")
            out.append((path, c))
    return out


def random_values(shape, domain, rng, where):
    """float64 numpy array of shape drawn from domain (see the header)."""
    n = int(np.prod(shape, dtype=np.int64))
    if domain == "any":
        v = rng.uniform(-2.0, 2.0, n)
    elif domain == "pos":
        v = rng.uniform(0.5, 2.0, n)
    elif domain == "away0":
        v = rng.uniform(0.5, 2.0, n) * rng.choice([-1.0, 1.0], n)
    elif domain == "distinct":
        step = 4.0 / max(n, 1)
        v = -2.0 + step * (rng.permutation(n) + 0.25 + 0.5 * rng.uniform(0, 1, n))
    elif isinstance(domain, tuple) and len(domain) == 3 and domain[0] == "int":
        lo, hi = int(domain[1]), int(domain[2])
        if hi <= lo and n:
            raise CaseError(f"{where}: empty integer domain {domain}")
        v = rng.integers(lo, hi, n).astype(np.float64) if n else np.zeros(0)
    elif isinstance(domain, tuple) and len(domain) == 3 and domain[0] == "uniform":
        v = rng.uniform(float(domain[1]), float(domain[2]), n)
    else:
        raise CaseError(f"{where}: unknown domain {domain!r}")
    return v.reshape(shape)


def case_inputs(case, dtype, rng):
    """{name: float64 numpy array already rounded to dtype}, in case order."""
    vals = {}
    for name, spec in case["inputs"].items():
        where = f"case {case['name']!r} input {name!r}"
        if isinstance(spec, tuple):
            a = random_values(spec, case.get("domain", {}).get(name, "any"), rng, where)
        else:
            a = np.array(spec, dtype=np.float64)
        with np.errstate(over="ignore"):  # 1e300 is inf in float32, as in torch
            vals[name] = a.astype(np.dtype(dtype)).astype(np.float64)
    return vals


def as_number(x):
    """A float for gradd's JSON: non-finite numbers as its strings."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def as_value(a):
    """A numpy array as gradd's flat value {"shape", "data"}."""
    return {"shape": list(a.shape), "data": [as_number(float(x)) for x in a.reshape(-1)]}


def from_value(v):
    """gradd's flat value back to a float64 numpy array."""
    if isinstance(v, dict):
        data = [float(x) if isinstance(x, str) else x for x in v["data"]]
        return np.array(data, dtype=np.float64).reshape(v["shape"])
    if isinstance(v, str):
        return np.array(float(v))
    return np.array(v, dtype=np.float64)


def torch_side(case, dtype, vals, want_grad, wrt, rng):
    """y, W and {name: gradient} (float64 numpy) computed by PyTorch."""
    td = DTYPES[dtype]
    ts = []
    for name, a in vals.items():
        t = torch.tensor(a, dtype=td)
        if want_grad and name in wrt:
            t.requires_grad_(True)
        ts.append(t)
    y = case["torch"](*ts)
    if not isinstance(y, torch.Tensor):
        y = torch.tensor(y, dtype=td)
    wv = rng.uniform(-1.0, 1.0, tuple(y.shape)).astype(np.dtype(dtype)).astype(np.float64)
    grads = {}
    if want_grad:
        wt = torch.tensor(wv, dtype=td)
        if y.requires_grad:
            loss = (y * wt).sum()
            gs = torch.autograd.grad(loss, [t for n, t in zip(vals, ts) if n in wrt],
                                     allow_unused=True)
        else:
            gs = [None] * len(wrt)
        for name, t, g in zip([n for n in vals if n in wrt],
                              [t for n, t in zip(vals, ts) if n in wrt], gs):
            grads[name] = (np.zeros(tuple(t.shape)) if g is None
                           else g.detach().to(torch.float64).numpy())
    yv = y.detach()
    if not yv.is_floating_point():
        yv = yv.to(td)
    return yv.to(torch.float64).numpy(), wv, grads


def gradd_request(case, dtype, vals, wv, want_grad, wrt):
    """(route, body) of the long-form request for this case."""
    graph = {"dtype": dtype,
             "inputs": {n: list(a.shape) for n, a in vals.items()},
             "constants": {W: as_value(wv)},
             "nodes": [{"name": Y, "expr": case["expr"]},
                       {"name": LOSS, "expr": f"sum({Y} * {W})"}],
             "loss": LOSS}
    body = {"graph": graph, "inputs": {n: as_value(a) for n, a in vals.items()},
            "outputs": [Y], "encoding": "flat"}
    if want_grad:
        body["wrt"] = list(wrt)
        return "gradient", body
    return "forward", body


def compare(got, want, dtype, signed_zeros=False):
    """None when got matches want within dtype's tolerance (and, with
    signed_zeros, each zero has want's sign), else a message."""
    if got.shape != want.shape:
        return f"shape {list(got.shape)}, torch {list(want.shape)}"
    if got.size == 0:
        return None
    rel, floor = TOL[dtype]
    g, w = got.reshape(-1), want.reshape(-1)
    gn, wn = np.isnan(g), np.isnan(w)
    bad_nan = gn != wn
    both_inf = np.isinf(g) | np.isinf(w)
    bad_inf = both_inf & ~(gn | wn) & (g != w)
    fin = ~(gn | wn | both_inf)
    err = np.zeros(g.shape)
    err[fin] = np.abs(g[fin] - w[fin])
    bad_fin = err > rel * np.abs(np.where(fin, w, 0)) + floor
    bad = bad_nan | bad_inf | bad_fin
    if signed_zeros:
        sign = (g == 0) & (w == 0) & (np.signbit(g) != np.signbit(w))
        if sign.any() and not bad.any():
            i = int(np.argmax(sign))
            return (f"{int(sign.sum())}/{g.size} zeros of the other sign, first at flat index {i}: "
                    f"gradd {g[i]!r} torch {w[i]!r}")
    if not bad.any():
        return None
    relerr = np.where(fin, err / np.maximum(np.abs(np.where(fin, w, 1)), 1e-300), 0)
    i = int(np.argmax(np.where(bad, np.where(bad_fin, err, np.inf), -1)))
    return (f"max abs err {err.max():.3g} rel err {relerr.max():.3g}; "
            f"{int(bad.sum())}/{g.size} elements off, worst at flat index {i}: "
            f"gradd {g[i]!r} torch {w[i]!r}")


class Daemon:
    """One `gradd serve` on a free local port, spoken to over one
    keep-alive HTTP connection."""

    def __init__(self, binary):
        self.binary = binary
        self.start()

    def restart(self):
        """A fresh daemon after one died or hung."""
        self.close()
        self.start()

    def start(self):
        binary = self.binary
        self.proc = subprocess.Popen(
            [binary, "serve", "--port", "0", "--bind", "127.0.0.1", "--workers", "1",
             "--cache-entries", "0", "--web-root", "/nonexistent", "--log-format", "text"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            text=True)
        self.port = None
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"listening on [^\s:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.close()
            raise RuntimeError(f"{binary} serve printed no port")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # drain
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def post(self, route, body):
        """(status, parsed JSON) of POST /v1/route."""
        data = json.dumps(body, allow_nan=False).encode()
        for attempt in (0, 1):
            try:
                self.conn.request("POST", "/v1/" + route, data,
                                  {"Content-Type": "application/json"})
                r = self.conn.getresponse()
                return r.status, json.loads(r.read())
            except (http.client.HTTPException, ConnectionError):
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def close(self):
        if getattr(self, "conn", None):
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_case(daemon, case, dtype, verbose):
    """The failure lines of one (case, dtype) and how many tensors it compared."""
    label = f"{case['name']} [{dtype}]"
    rng = np.random.default_rng(zlib.crc32(f"{case['name']}/{dtype}".encode()))
    vals = case_inputs(case, dtype, rng)
    nondiff = set(case.get("nondiff", []))
    wrt = [n for n in vals if n not in nondiff]
    want_grad = case.get("grad", True) and bool(wrt)
    try:
        yv, wv, grads = torch_side(case, dtype, vals, want_grad, wrt, rng)
    except Exception as e:  # a broken lambda is the case's fault
        return [f"FAIL {label}: torch raised {type(e).__name__}: {e}"], 0
    route, body = gradd_request(case, dtype, vals, wv, want_grad, wrt)
    try:
        status, resp = daemon.post(route, body)
    except (OSError, http.client.HTTPException, ValueError) as e:
        code = daemon.proc.poll()
        daemon.restart()
        why = f"gradd exited with status {code}" if code is not None else f"no answer ({e})"
        return [f"FAIL {label}: {why}; daemon restarted"], 0
    if status != 200:
        msg = resp.get("error", resp) if isinstance(resp, dict) else resp
        return [f"FAIL {label}: gradd answered {status} {resp.get('code', '')}: {msg}"], 0
    try:
        checks = [(Y, from_value(resp["values"][Y]), yv)]
        for n in grads:
            checks.append((f"d/d{n}", from_value(resp["gradients"][n]), grads[n]))
    except (KeyError, TypeError, ValueError) as e:
        return [f"FAIL {label}: gradd's answer lacks or garbles {e}: {json.dumps(resp)[:200]}"], 0
    fails = []
    for what, got, want in checks:
        m = compare(got, want, dtype, case.get("signed_zeros", True))
        if m:
            fails.append(f"FAIL {label} {what}: {m}")
        elif verbose:
            print(f"ok   {label} {what}")
    return fails, len(checks)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gradd", default="build/gradd")
    ap.add_argument("--cases", default=os.path.join(HERE, "cases_*.py"))
    ap.add_argument("-k", action="append", default=[],
                    help="run only cases whose name contains TEXT (repeatable)")
    ap.add_argument("--dtype", choices=list(DTYPES), help="only this dtype")
    ap.add_argument("-v", action="store_true", help="print passing comparisons too")
    args = ap.parse_args()

    torch.set_num_threads(1)
    # torch's advice to users (kl_div's reduction, ...) is not a result
    warnings.filterwarnings("ignore", category=UserWarning)
    try:
        cases = load_cases(args.cases)
    except CaseError as e:
        print(f"parity: bad case: {e}", file=sys.stderr)
        return 2
    if args.k:
        cases = [(p, c) for p, c in cases if any(k in c["name"] for k in args.k)]
    if not cases:
        print("parity: no cases", file=sys.stderr)
        return 2 if not args.k else 1

    t0 = time.time()
    daemon = Daemon(args.gradd)
    runs = comparisons = 0
    failed_runs, lines = set(), []
    try:
        for _, case in cases:
            for dtype in case.get("dtypes", list(DTYPES)):
                if args.dtype and dtype != args.dtype:
                    continue
                try:
                    fails, n = run_case(daemon, case, dtype, args.v)
                except CaseError as e:
                    print(f"parity: bad case: {e}", file=sys.stderr)
                    return 2
                runs += 1
                comparisons += n
                if fails:
                    failed_runs.add((case["name"], dtype))
                    for f in fails:
                        print(f, flush=True)
                    lines += fails
    finally:
        daemon.close()
    files = len({p for p, _ in cases})
    print(f"parity: {len(cases)} cases from {files} files, {runs} case-dtype runs, "
          f"{comparisons} tensor comparisons; {len(failed_runs)} runs failed "
          f"({len(lines)} failure lines) in {time.time() - t0:.1f} s")
    return 1 if failed_runs else 0


if __name__ == "__main__":
    sys.exit(main())
