"""Tests of the gradd Python client against a live daemon.

The daemon: GRADD_URL (and, for the API-key tests, GRADD_AUTH_URL with
GRADD_API_KEY); when GRADD_URL is unset, the tests start GRADD_BIN (default
build/gradd of this repository) themselves on free ports and stop it after.
GRADD_TEST_EXPECT_NUMPY=1 or 0 makes the tests check which path they are
on (with numpy, or with numpy hidden), so a wrong set-up fails instead of
testing the other path twice.

Expected answers are worked by hand (in the comments), not taken from gradd.
"""

import math
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the package in clients/python

import gradd  # noqa: E402
from gradd import tensors  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
_started = []
URL = AUTH_URL = API_KEY = None


def _start_daemon(extra):
    binary = os.environ.get("GRADD_BIN") or os.path.join(REPO, "build", "gradd")
    proc = subprocess.Popen([binary, "serve", "--port", "0", "--bind", "127.0.0.1"] + extra, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    _started.append(proc)
    line = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(30)
    m = re.search(r"listening on [^:]+:(\d+)", line[0] if line else "")
    if not m:
        raise RuntimeError("gradd printed no port: %r" % (line,))
    return "http://127.0.0.1:%s" % m.group(1)


def setUpModule():
    global URL, AUTH_URL, API_KEY
    URL = os.environ.get("GRADD_URL")
    AUTH_URL = os.environ.get("GRADD_AUTH_URL")
    API_KEY = os.environ.get("GRADD_API_KEY")
    if not URL:
        URL = _start_daemon([])
        API_KEY = "test-key-1"
        AUTH_URL = _start_daemon(["--api-keys", API_KEY + ",test-key-2"])


def tearDownModule():
    for p in _started:
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def as_list(x):
    """ndarray -> nested lists; anything else as it is."""
    return x.tolist() if tensors.is_array(x) else x


def arr(x):
    """A tensor in this path's preferred form (an ndarray with numpy)."""
    return tensors.np.asarray(x, dtype=float) if gradd.HAVE_NUMPY else x


class Close:
    def assertClose(self, got, want, tol=1e-12, where=""):
        got = as_list(got)
        if isinstance(want, list):
            self.assertIsInstance(got, list, where)
            self.assertEqual(len(got), len(want), where)
            for i, (g, w) in enumerate(zip(got, want)):
                self.assertClose(g, w, tol, "%s[%d]" % (where, i))
            return
        if isinstance(want, float) and math.isnan(want):
            self.assertTrue(math.isnan(got), "%s: %r, want NaN" % (where, got))
            return
        self.assertTrue(got == want or abs(got - want) <= tol * (1 + abs(want)),
                        "%s: %r, want %r" % (where, got, want))


class TestSetup(unittest.TestCase):
    def test_numpy_path_is_the_expected_one(self):
        want = os.environ.get("GRADD_TEST_EXPECT_NUMPY")
        if want is None:
            self.skipTest("GRADD_TEST_EXPECT_NUMPY not set")
        self.assertEqual(gradd.HAVE_NUMPY, want == "1")

    def test_timeout_must_be_positive(self):
        with self.assertRaises(ValueError):
            gradd.Client(URL, timeout=0)


class TestRoutes(unittest.TestCase, Close):
    def setUp(self):
        self.c = gradd.Client(URL, timeout=30)

    def test_gradient_seed000_sum_product(self):
        # e = (a+b)(b+1) at a=2, b=1: e = 6, de/da = b+1 = 2, de/db = (a+b)+(b+1) = 5
        r = self.c.gradient("(a+b)*(b+1)", inputs={"a": 2, "b": 1})
        self.assertEqual(r["values"], {"f": 6})
        self.assertEqual(r["gradients"], {"a": 2, "b": 5})
        self.assertIn("nodes", r["stats"])

    def test_forward(self):
        # x*y + sin(x) at x=0: 0
        r = self.c.forward("x*y + sin(x)", inputs={"x": 0, "y": 4.2})
        self.assertClose(r["values"]["f"], 0.0)

    def test_forward_tensor_and_nonfinite(self):
        # 2x elementwise; NaN and Infinity go out as strings and come back
        r = self.c.forward("x*2", inputs={"x": [[1.5, float("nan")], [float("inf"), -1]]})
        self.assertClose(r["values"]["f"], [[3.0, float("nan")], [float("inf"), -2.0]])
        if gradd.HAVE_NUMPY:
            self.assertIsInstance(r["values"]["f"], tensors.np.ndarray)
        else:
            self.assertIsInstance(r["values"]["f"], list)

    def test_step_sgd_and_momentum_state_round_trip(self):
        # L = (w x - y)^2 at w=1, x=2, y=3: L = 1, dL/dw = 2(wx-y)x = -4
        graph = "(w*x - y)^2"
        opt = {"name": "sgd", "lr": 0.25, "momentum": 0.9}
        r = self.c.step(graph, params={"w": 1}, inputs={"x": 2, "y": 3}, optimizer=opt)
        # first step: velocity = g = -4, w = 1 - 0.25 * -4 = 2
        self.assertClose(r["params"]["w"], 2.0)
        self.assertClose(r["losses"], [1.0])
        # second step from the returned state: g = 2(2*2-3)*2 = 4,
        # velocity = 0.9 * -4 + 4 = 0.4, w = 2 - 0.25 * 0.4 = 1.9
        r2 = self.c.step(graph, params=r["params"], state=r["state"], inputs={"x": 2, "y": 3}, optimizer=opt)
        self.assertClose(r2["params"]["w"], 1.9)
        self.assertClose(r2["losses"], [1.0])

    def test_jvp(self):
        # d/dx (x*y + sin x) = y + cos x = 4.2 + 1 at x = 0
        r = self.c.jvp("x*y + sin(x)", inputs={"x": 0, "y": 4.2}, tangents={"x": 1})
        self.assertClose(r["tangents"]["f"], 5.2)

    def test_hvp(self):
        # f = x^3: f'' = 6x = 12 at x = 2
        r = self.c.hvp("x*x*x", params={"x": 2}, vector={"x": 1})
        self.assertClose(r["values"]["f"], 8.0)
        self.assertClose(r["hvp"]["x"], 12.0)

    def test_check(self):
        r = self.c.check("x*y", inputs={"x": 3, "y": 4})
        self.assertClose(r["values"]["f"], 12.0)
        self.assertEqual(r["check"]["x"]["elements"], 1)
        self.assertLess(r["check"]["y"]["max_abs_error"], 1e-6)

    def test_gradient_graph_posted_back(self):
        r = self.c.gradient_graph("(a+b)*(b+1)", inputs={"a": 2, "b": 1})
        ga, gb = r["gradients"]["a"], r["gradients"]["b"]
        fw = self.c.forward(r["graph"], inputs={"a": 2, "b": 1}, outputs=[ga, gb])
        self.assertClose(fw["values"][ga], 2.0)
        self.assertClose(fw["values"][gb], 5.0)

    def test_ops(self):
        names = [op["name"] for op in self.c.ops()["ops"]]
        self.assertIn("matmul", names)
        self.assertIn("sigmoid", names)

    def test_float32_graph(self):
        # float32 in, float32 out: 2 * float32(0.1) is exactly float32(0.2)
        graph = {"dtype": "float32", "inputs": {"x": [2]}, "nodes": [{"name": "y", "expr": "x*2"}], "loss": "y"}
        r = self.c.forward(graph, inputs={"x": arr([0.1, 0.5])}, outputs=["y"])
        def f32(v):
            return struct.unpack("<f", struct.pack("<f", v))[0]

        y = as_list(r["values"]["y"])
        # nested lists print float32 in its shortest form ("0.2"), which reads
        # back as float64 0.2: round it to float32 to compare
        self.assertEqual([f32(v) for v in y], [f32(0.1) * 2, 1.0])
        if gradd.HAVE_NUMPY:
            self.assertEqual(r["values"]["y"].dtype, tensors.np.float32)

    def test_b64_both_ways(self):
        body = tensors.encode({"x": arr([1.0, 2.0])})
        if gradd.HAVE_NUMPY:  # numpy float arrays travel as base64
            self.assertEqual(body["x"], {"shape": [2], "datatype": "FP64", "b64": "AAAAAAAA8D8AAAAAAAAAQA=="})
        r = self.c.forward("x*2", inputs={"x": {"shape": [2], "b64": "AAAAAAAA8D8AAAAAAAAAQA=="}}, encoding="b64")
        self.assertClose(r["values"]["f"], [2.0, 4.0], tol=0)

    def test_flat_encoding(self):
        r = self.c.forward("x+1", inputs={"x": {"shape": [2, 2], "data": [1, 2, 3, 4]}}, encoding="flat")
        f = r["values"]["f"]
        if gradd.HAVE_NUMPY:
            self.assertClose(f, [[2.0, 3.0], [4.0, 5.0]])
        else:
            self.assertEqual(f, {"shape": [2, 2], "data": [2.0, 3.0, 4.0, 5.0]})


class TestErrors(unittest.TestCase):
    def test_422_carries_status_code_path(self):
        with self.assertRaises(gradd.GraddError) as cm:
            gradd.Client(URL).forward("x + y", inputs={"x": [1, 2, 3], "y": [1, 2]})
        e = cm.exception
        self.assertEqual((e.status, e.code), (422, "shape_mismatch"))
        self.assertIsInstance(e.path, str)
        self.assertTrue(e.message)

    def test_400_unknown_field(self):
        with self.assertRaises(gradd.GraddError) as cm:
            gradd.Client(URL).forward("x*2", inputs={"x": 1}, output=["f"])
        e = cm.exception
        self.assertEqual((e.status, e.code, e.path), (400, "unknown_field", "/output"))

    def test_unreachable(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        with self.assertRaises(gradd.GraddError) as cm:
            gradd.Client("http://127.0.0.1:%d" % port, timeout=5).ops()
        self.assertEqual((cm.exception.status, cm.exception.code), (0, "unreachable"))

    def test_timeout(self):
        # a listener that accepts and never answers: the client gives up
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        try:
            c = gradd.Client("http://127.0.0.1:%d" % srv.getsockname()[1], timeout=0.3)
            with self.assertRaises(gradd.GraddError) as cm:
                c.gradient("x", inputs={"x": 1})
            self.assertEqual((cm.exception.status, cm.exception.code), (0, "timeout"))
        finally:
            srv.close()


class TestApiKeys(unittest.TestCase):
    def setUp(self):
        if not AUTH_URL or not API_KEY:
            self.skipTest("no daemon with API keys (GRADD_AUTH_URL, GRADD_API_KEY)")

    def test_missing_and_wrong_key_401(self):
        for key in (None, "wrong"):
            with self.assertRaises(gradd.GraddError) as cm:
                gradd.Client(AUTH_URL, api_key=key).gradient("x*x", inputs={"x": 3})
            self.assertEqual((cm.exception.status, cm.exception.code), (401, "unauthorized"))

    def test_right_key(self):
        r = gradd.Client(AUTH_URL, api_key=API_KEY).gradient("x*x", inputs={"x": 3})
        self.assertEqual(r["gradients"]["x"], 6)  # 2x


# ---- data parallelism -----------------------------------------------------

N, D = 10, 3
X = [[((i * 3 + j * 5) % 7 - 3) / 2 for j in range(D)] for i in range(N)]
Y = [[(i % 4) - 1.5] for i in range(N)]
W = [[0.5], [-1.0], [0.25]]
B = [0.1]
LINREG = "mean((X@w + b - y)^2)"


def linreg_gradient_by_hand(reduction):
    """L = mean_i r_i^2 (or sum), r = X w + b - y: dL/dw_j = c sum_i 2 r_i X_ij,
    dL/db = c sum_i 2 r_i, dL/dX_ij = c 2 r_i w_j, with c = 1/N (mean) or 1."""
    c = 1.0 / N if reduction == "mean" else 1.0
    r = [sum(X[i][j] * W[j][0] for j in range(D)) + B[0] - Y[i][0] for i in range(N)]
    loss = c * sum(v * v for v in r)
    gw = [[c * sum(2 * r[i] * X[i][j] for i in range(N))] for j in range(D)]
    gb = [c * sum(2 * r[i] for i in range(N))]
    gx = [[c * 2 * r[i] * W[j][0] for j in range(D)] for i in range(N)]
    return loss, {"w": gw, "b": gb, "X": gx}


class TestDataParallel(unittest.TestCase, Close):
    def setUp(self):
        self.c = gradd.Client(URL, timeout=30)

    def test_shard_sizes(self):
        self.assertEqual(gradd.shard_sizes(10, 3), [4, 3, 3])
        self.assertEqual(gradd.shard_sizes(2, 5), [1, 1])
        self.assertEqual(sum(gradd.shard_sizes(1001, 7)), 1001)

    def _run(self, graph, reduction, shards):
        return gradd.data_parallel_gradient(self.c, graph, batch={"X": arr(X), "y": arr(Y)}, shards=shards,
                                            params={"w": arr(W), "b": arr(B)}, reduction=reduction,
                                            wrt=["w", "b", "X"])

    def test_sharded_equals_whole_batch(self):
        whole = self.c.gradient(LINREG, inputs={"X": arr(X), "y": arr(Y)}, params={"w": arr(W), "b": arr(B)},
                                wrt=["w", "b", "X"])
        loss, hand = linreg_gradient_by_hand("mean")
        for name in ("w", "b", "X"):  # the whole batch in one request is right
            self.assertClose(whole["gradients"][name], hand[name], 1e-12, name)
        for shards in (1, 3, 4, 10):  # 3 shards are uneven: 4, 3, 3
            got = self._run(LINREG, "mean", shards)
            self.assertEqual(sum(got["shards"]), N)
            self.assertClose(got["values"]["f"], loss, 1e-12, "loss")
            for name in ("w", "b", "X"):
                self.assertClose(got["gradients"][name], as_list(whole["gradients"][name]), 1e-12,
                                 "%s with %d shards" % (name, shards))

    def test_weighting_matters(self):
        # a plain average of uneven shards' gradients is not the batch's
        got = self._run(LINREG, "mean", 3)
        sizes, start, parts = got["shards"], 0, []
        for s in sizes:
            r = self.c.gradient(LINREG, inputs={"X": arr(X[start:start + s]), "y": arr(Y[start:start + s])},
                                params={"w": arr(W), "b": arr(B)}, wrt=["b"])
            parts.append(as_list(r["gradients"]["b"])[0])
            start += s
        plain = sum(parts) / len(parts)
        _, hand = linreg_gradient_by_hand("mean")
        self.assertGreater(abs(plain - hand["b"][0]), 1e-3)
        self.assertClose(got["gradients"]["b"], hand["b"], 1e-12)

    def test_sum_reduction(self):
        loss, hand = linreg_gradient_by_hand("sum")
        got = self._run("sum((X@w + b - y)^2)", "sum", 3)
        self.assertClose(got["values"]["f"], loss, 1e-12)
        for name in ("w", "b", "X"):
            self.assertClose(got["gradients"][name], hand[name], 1e-12, name)

    def test_a_failing_shard_raises(self):
        with self.assertRaises(gradd.GraddError) as cm:
            gradd.data_parallel_gradient(self.c, "mean((X@w - y)^2)", batch={"X": arr(X), "y": arr(Y)}, shards=2,
                                         params={"w": arr([[1.0], [2.0]])})  # w is 2x1, X is 10x3
        self.assertEqual(cm.exception.status, 422)


if __name__ == "__main__":
    unittest.main()
