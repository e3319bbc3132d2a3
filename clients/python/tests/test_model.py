"""Tests of gradd.Model (fit, predict, save, load), torch tensors and the
streamed step against a live daemon (the one test_gradd.py uses: GRADD_URL,
or GRADD_BIN started on a free port).

Expected numbers are worked by hand or by numpy here, never taken from
gradd.
"""

import io
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the package in clients/python
sys.path.insert(0, HERE)

import gradd  # noqa: E402
import test_gradd  # noqa: E402  -- its daemon set-up
from gradd import tensors  # noqa: E402

try:
    import torch  # noqa: F401
    HAVE_TORCH = tensors.HAVE_NUMPY
except ImportError:
    HAVE_TORCH = False


def setUpModule():
    test_gradd.setUpModule()


def tearDownModule():
    test_gradd.tearDownModule()


# A linear regression y = x w + b with the mean squared error.
GRAPH = {
    "inputs": {"x": [-1, 2], "y": [-1, 1]},
    "params": {"w": [2, 1], "b": [1]},
    "nodes": [{"name": "pred", "expr": "x @ w + b"},
              {"name": "loss", "expr": "mean((pred - y)^2)"}],
    "loss": "loss",
}


@unittest.skipUnless(tensors.HAVE_NUMPY, "gradd.Model needs numpy")
class ModelTests(unittest.TestCase):
    def setUp(self):
        self.np = tensors.np
        self.client = gradd.Client(test_gradd.URL)
        rng = self.np.random.default_rng(1)
        self.x = rng.standard_normal((40, 2))
        self.y = self.x @ self.np.array([[2.0], [-1.0]]) + 0.5

    def tearDown(self):
        self.client.close()

    def test_one_sgd_step_equals_the_hand_worked_one(self):
        # one batch of all rows, w = 0, b = 0: grad w = 2/n x^T (xw+b-y) = -2/n x^T y,
        # grad b = -2/n sum(y); SGD lr 0.1 moves against them
        np = self.np
        m = gradd.Model(self.client, GRAPH, {"w": np.zeros((2, 1)), "b": np.zeros(1)},
                        optimizer={"name": "sgd", "lr": 0.1})
        m.fit(self.x, self.y, epochs=1, batch_size=40, shuffle=False, progress=False)
        n = len(self.x)
        np.testing.assert_allclose(m.params["w"], 0.1 * 2 / n * self.x.T @ self.y, rtol=1e-12)
        np.testing.assert_allclose(m.params["b"], [0.1 * 2 / n * self.y.sum()], rtol=1e-12)
        self.assertAlmostEqual(m.losses[0], float(np.mean(self.y ** 2)), places=12)

    def test_fit_learns_and_predict_reads_only_the_inputs_it_needs(self):
        np = self.np
        m = gradd.Model(self.client, GRAPH, {"w": np.zeros((2, 1)), "b": np.zeros(1)},
                        optimizer={"name": "adam", "lr": 0.1}, output="pred")
        out = io.StringIO()
        history = m.fit(self.x, self.y, epochs=30, batch_size=8, progress=out)
        self.assertEqual(len(history), 30)
        self.assertEqual(len(m.losses), 30 * 5)
        self.assertLess(history[-1], history[0] / 20)
        self.assertIn("epoch 30/30", out.getvalue())
        self.assertEqual(m.state["step"], 150)
        pred = m.predict(self.x)  # no y given
        self.assertEqual(pred.shape, (40, 1))
        np.testing.assert_allclose(pred, self.x @ m.params["w"] + m.params["b"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(m.predict(self.x, batch_size=7), pred, rtol=1e-12, atol=1e-12)

    def test_batches_per_request_takes_the_same_steps(self):
        np = self.np
        a = gradd.Model(self.client, GRAPH, {"w": np.zeros((2, 1)), "b": np.zeros(1)},
                        optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9})
        b = gradd.Model(self.client, GRAPH, {"w": np.zeros((2, 1)), "b": np.zeros(1)},
                        optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9})
        a.fit(self.x, self.y, epochs=2, batch_size=8, progress=False)
        b.fit(self.x, self.y, epochs=2, batch_size=8, batches_per_request=3, progress=False)
        np.testing.assert_allclose(a.losses, b.losses, rtol=1e-12)
        np.testing.assert_allclose(a.params["w"], b.params["w"], rtol=1e-12)

    def test_save_and_load_continue_where_training_stopped(self):
        np = self.np
        m = gradd.Model(self.client, GRAPH, {"w": np.zeros((2, 1)), "b": np.zeros(1)},
                        optimizer={"name": "adam", "lr": 0.05})
        m.fit(self.x, self.y, epochs=2, batch_size=10, progress=False)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "model.npz")
            m.save(path)
            other = gradd.Model(self.client, GRAPH, {"w": np.ones((2, 1)), "b": np.ones(1)},
                                optimizer={"name": "adam", "lr": 0.05}).load(path)
        np.testing.assert_array_equal(other.params["w"], m.params["w"])
        self.assertEqual(other.state["step"], m.state["step"])
        np.testing.assert_array_equal(other.state["m"]["w"], m.state["m"]["w"])
        # both go on identically
        m.fit(self.x, self.y, epochs=1, batch_size=10, seed=5, progress=False)
        other.fit(self.x, self.y, epochs=1, batch_size=10, seed=5, progress=False)
        np.testing.assert_array_equal(other.params["w"], m.params["w"])

    def test_float32_graph_keeps_float32(self):
        np = self.np
        g = dict(GRAPH, dtype="float32")
        m = gradd.Model(self.client, g, {"w": np.zeros((2, 1)), "b": np.zeros(1)})
        m.fit(self.x, self.y, epochs=1, batch_size=20, progress=False)
        self.assertEqual(m.params["w"].dtype, np.float32)

    def test_bad_data_is_refused_before_any_request(self):
        np = self.np
        m = gradd.Model(self.client, GRAPH, {"w": np.zeros((2, 1)), "b": np.zeros(1)})
        with self.assertRaises(ValueError):
            m.fit(self.x, self.y[:5], progress=False)
        with self.assertRaises(ValueError):
            m.fit(self.x, self.y, self.y, progress=False)


@unittest.skipUnless(HAVE_TORCH, "python3-torch is not installed")
class TorchTensors(unittest.TestCase):
    def test_torch_in_torch_out(self):
        import torch
        c = gradd.Client(test_gradd.URL, tensor_type="torch")
        x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
        r = c.gradient("sum(x * x)", inputs={"x": x})
        self.assertIsInstance(r["gradients"]["x"], torch.Tensor)
        self.assertTrue(torch.equal(r["gradients"]["x"], 2 * x))  # d/dx sum x^2 = 2x
        self.assertEqual(r["values"]["f"], 30.0)  # 1 + 4 + 9 + 16
        c.close()

    def test_a_torch_tensor_needs_no_conversion_with_numpy_out(self):
        import torch
        c = gradd.Client(test_gradd.URL)
        r = c.forward("x * 3", inputs={"x": torch.tensor([1.0, -2.0], requires_grad=True)})
        tensors.np.testing.assert_array_equal(r["values"]["f"], [3.0, -6.0])
        c.close()


@unittest.skipUnless(HAVE_TORCH, "python3-torch is not installed")
class BatchNormBuffers(unittest.TestCase):
    """An ONNX model with BatchNormalization in training mode: Model.fit
    carries its running statistics from step to step (as "buffers"), as
    torch's own training loop does, and save/load keeps them."""

    def test_fit_carries_the_running_statistics(self):
        import warnings
        import torch
        np = tensors.np
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)).double().train()
        f = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, torch.zeros(2, 3, dtype=torch.float64), f, input_names=["x"],
                              output_names=["h"], dynamic_axes={"x": {0: "batch"}},
                              training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
        import base64
        graph = {"onnx": base64.b64encode(f.getvalue()).decode(), "loss": "mean(h * h)"}
        rng = np.random.default_rng(2)
        x = rng.standard_normal((8, 3))
        params = {k: v.detach().numpy().copy() for k, v in net.named_parameters()}
        c = gradd.Client(test_gradd.URL)
        m = gradd.Model(c, graph, params, optimizer={"name": "sgd", "lr": 0.1}, inputs=["x"])
        m.fit(x, epochs=3, batch_size=4, shuffle=False, progress=False)  # six steps
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        xt = torch.tensor(x)
        for _ in range(3):
            for i in range(0, 8, 4):
                opt.zero_grad()
                torch.mean(net(xt[i:i + 4]) ** 2).backward()
                opt.step()
        np.testing.assert_allclose(m.buffers["1.running_mean"], net[1].running_mean.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(m.buffers["1.running_var"], net[1].running_var.numpy(), rtol=1e-9, atol=1e-12)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bn.npz")
            m.save(path)
            back = gradd.Model(c, graph, params, inputs=["x"]).load(path)
            np.testing.assert_array_equal(back.buffers["1.running_var"], m.buffers["1.running_var"])
        c.close()


class LiveStream(unittest.TestCase):
    def test_streamed_step_against_the_daemon(self):
        # f = (w x - y)^2 at x = 2, y = 3, w = 1: f = 1, df/dw = 2 (wx - y) x = -4;
        # SGD lr 0.1: w = 1.4, then f = (2.8 - 3)^2 = 0.04
        c = gradd.Client(test_gradd.URL)
        try:
            lines = list(c.step_stream("(w*x - y)^2", params={"w": 1}, inputs={"x": 2, "y": 3}, steps=2,
                                       optimizer={"name": "sgd", "lr": 0.1}))
        except gradd.GraddError as e:
            if e.status == 400 and "stream" in (e.path + e.message):
                self.skipTest("this daemon does not stream /v1/step yet: %s" % e)
            raise
        final = lines[-1]
        losses = [float(v) for v in final["losses"]]
        self.assertAlmostEqual(losses[0], 1.0, places=12)
        self.assertAlmostEqual(losses[1], 0.04, places=12)
        progress = [x for x in lines if "params" not in x]
        if progress:  # a streaming daemon: one line per step
            self.assertEqual([x["step"] for x in progress], [1, 2])
            self.assertEqual(final.get("completed_steps"), 2)
        c.close()


if __name__ == "__main__":
    unittest.main()
