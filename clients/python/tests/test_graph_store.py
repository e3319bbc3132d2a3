"""The Python client and the graph store: upload_graph, a ref in a request,
and the automatic upload-and-resend when a replica lacks the ref, against
two daemons where only one has the graph (GRADD_URL and GRADD_AUTH_URL with
GRADD_API_KEY, as tests/clients/run.sh starts them; started here from
GRADD_BIN when GRADD_URL is unset).

Expected answers are worked by hand: loss = sum((x*w)^2) at x = [1, 2],
w = [3, 4] is 9 + 64 = 73, d loss/dw = 2 x^2 w = [6, 32].
"""

import hashlib
import json
import os
import sys
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # the package in clients/python

import gradd  # noqa: E402
from gradd import tensors  # noqa: E402
import test_gradd  # noqa: E402  (its daemons, when none is given)

GRAPH = {"inputs": {"x": [2]}, "params": {"w": [2]},
         "nodes": [{"name": "y", "op": "mul", "inputs": ["x", "w"]}, {"name": "loss", "expr": "sum(y*y)"}],
         "loss": "loss"}


def setUpModule():
    test_gradd.setUpModule()


def tearDownModule():
    test_gradd.tearDownModule()


def as_list(v):
    return v.tolist() if hasattr(v, "tolist") else v


class GraphStoreTest(unittest.TestCase):
    def graph(self, salt):
        """A graph of its own for each test and run (another constant: another
        ref; the daemons may be shared by several runs)."""
        g = json.loads(json.dumps(GRAPH))
        g["constants"] = {"salt_%s_%s" % (salt, uuid.uuid4().hex): 0}
        return g

    def test_upload_and_use(self):
        c = gradd.Client(test_gradd.URL, tensor_type="list")
        g = self.graph("upload")
        s = c.upload_graph(g)
        body = json.dumps(g, separators=(",", ":")).encode()
        self.assertEqual(s["ref"], "sha256:" + hashlib.sha256(body).hexdigest())
        self.assertEqual(s["format"], "json")
        self.assertEqual(s["params"], {"w": [2]})
        self.assertEqual(c.upload_graph(g)["ref"], s["ref"])  # 200 the second time, same summary
        self.assertEqual(c.graph_summary(s["ref"])["ref"], s["ref"])
        r = c.gradient({"ref": s["ref"]}, inputs={"x": [1, 2]}, params={"w": [3, 4]})
        self.assertEqual(as_list(r["values"]["loss"]), 73)
        self.assertEqual(as_list(r["gradients"]["w"]), [6, 32])

    def test_unknown_ref_is_graph_not_found(self):
        c = gradd.Client(test_gradd.URL, tensor_type="list")
        with self.assertRaises(gradd.GraddError) as e:
            c.graph_summary("sha256:" + "0" * 64)
        self.assertEqual((e.exception.status, e.exception.code), (404, "graph_not_found"))
        with self.assertRaises(gradd.GraddError) as e:  # a ref this client never saw: no retry
            c.forward({"ref": "sha256:" + "1" * 64}, inputs={"x": [1, 2]}, params={"w": [3, 4]})
        self.assertEqual(e.exception.code, "graph_not_found")

    def test_two_replicas_only_one_has_the_graph(self):
        g = self.graph("replicas")
        one = gradd.Client(test_gradd.URL, tensor_type="list")
        ref = one.upload_graph(g)["ref"]
        two = gradd.Client(test_gradd.AUTH_URL, api_key=test_gradd.API_KEY, tensor_type="list")
        with self.assertRaises(gradd.GraddError) as e:
            two.graph_summary(ref)  # the other replica does not have it
        self.assertEqual(e.exception.code, "graph_not_found")
        # a client that knows the graph (as one behind a load balancer would)
        self.assertEqual(two.remember_graph(g), ref)
        r = two.gradient({"ref": ref}, inputs={"x": [1, 2]}, params={"w": [3, 4]})
        self.assertEqual(as_list(r["gradients"]["w"]), [6, 32])
        self.assertEqual(two.graph_summary(ref)["ref"], ref)  # uploaded by the retry
        # extended: a node after the stored ones and a loss naming it
        r = one.forward({"ref": ref, "nodes": [{"name": "l3", "expr": "3*loss"}], "loss": "l3"},
                        inputs={"x": [1, 2]}, params={"w": [3, 4]})
        self.assertEqual(as_list(r["values"]["l3"]), 219)

    def test_stream_two_replicas_only_one_has_the_graph(self):
        """step_stream re-uploads on graph_not_found, as the plain routes do.
        sgd lr 0.01 from w = [3, 4]: the first step's loss is 73 and its
        gradient [6, 32], so w becomes [2.94, 3.68]; the second step's loss
        is (1*2.94)^2 + (2*3.68)^2 = 8.6436 + 54.1696 = 62.8132."""
        g = self.graph("stream-replicas")
        one = gradd.Client(test_gradd.URL, tensor_type="list")
        ref = one.upload_graph(g)["ref"]
        two = gradd.Client(test_gradd.AUTH_URL, api_key=test_gradd.API_KEY, tensor_type="list")
        self.assertEqual(two.remember_graph(g), ref)
        lines = list(two.step_stream({"ref": ref}, inputs={"x": [1, 2]}, params={"w": [3, 4]}, steps=2,
                                     optimizer={"name": "sgd", "lr": 0.01}))
        final = lines[-1]
        self.assertEqual(final["completed_steps"], 2)
        for got, want in zip(as_list(final["params"]["w"]), [2.94 - 0.01 * 2 * 2.94, 3.68 - 0.01 * 8 * 3.68]):
            self.assertAlmostEqual(got, want, places=12)
        self.assertEqual([round(v, 10) for v in final["losses"]], [73, 62.8132])
        self.assertEqual([line["step"] for line in lines[:-1]], [1, 2])
        self.assertEqual(two.graph_summary(ref)["ref"], ref)  # uploaded by the retry


def onnx_model(salt):
    """y = x @ fc.weight, x [2, 3] and fc.weight [[1, 2], [3, 4], [5, 6]],
    all float32, opset 17 (written by onnx.helper), its ModelProto's
    doc_string (field 6) set to salt so each test has a ref of its own."""
    doc = salt.encode()
    return MATMUL_F32_ONNX + bytes([0x32, len(doc)]) + doc


MATMUL_F32_ONNX = bytes.fromhex(
    "08083a750a190a01780a0966632e77656967687412017922064d61744d756c1201672a2b080308021001420966632e7765696768"
    "744a180000803f0000004000004040000080400000a0400000c0405a130a0178120e0a0c080112080a0208020a02080362130a01"
    "79120e0a0c080112080a0208020a02080242040a001011")


@unittest.skipUnless(gradd.HAVE_NUMPY, "numpy tensors")
class GraphDtypeTest(unittest.TestCase):
    """float64 numpy arrays sent to a float32 ONNX model go out as float32
    (the graph's dtype, from its summary). x = [[0, 1, 2], [3, 4, 5]]:
    y = x @ W = [[13, 16], [40, 52]], sum(y) = 121, and d sum(y)/dW =
    x^T @ ones(2, 2) = [[3, 3], [5, 5], [7, 7]]."""

    def check(self, r):
        np = tensors.np
        self.assertEqual(r["values"]["y"].dtype, np.float32)
        self.assertEqual(r["values"]["y"].tolist(), [[13, 16], [40, 52]])
        self.assertEqual(r["gradients"]["fc.weight"].tolist(), [[3, 3], [5, 5], [7, 7]])

    def test_float64_inputs_to_a_float32_model(self):
        np = tensors.np
        model = onnx_model("dtype-%s" % uuid.uuid4().hex)
        x = np.arange(6.0).reshape(2, 3)
        for binary in (True, False):
            c = gradd.Client(test_gradd.URL, binary=binary)
            s = c.upload_graph(model)
            self.assertEqual(s["dtype"], "float32")
            graph = {"ref": s["ref"], "nodes": [{"name": "loss", "expr": "sum(y)"}], "loss": "loss"}
            # outputs naming the loss: the answer has "loss" twice in "values"
            # (the loss, then the output), which must not shift y's bytes
            r = c.gradient(graph, inputs={"x": x}, outputs=["y", "loss"])
            self.check(r)
            # params given as float64 override the model's, cast the same way
            r = c.gradient(graph, inputs={"x": x}, params={"fc.weight": np.arange(1.0, 7.0).reshape(3, 2)},
                           outputs=["y", "loss"])
            self.check(r)

    def test_float64_inputs_a_replica_without_the_model(self):
        """The other replica lacks the model: the client uploads it (it
        remembers the bytes) and sends float32, with no 400 on the way."""
        np = tensors.np
        model = onnx_model("dtype-replica-%s" % uuid.uuid4().hex)
        two = gradd.Client(test_gradd.AUTH_URL, api_key=test_gradd.API_KEY)
        ref = two.remember_graph(model)
        graph = {"ref": ref, "nodes": [{"name": "loss", "expr": "sum(y)"}], "loss": "loss"}
        self.check(two.gradient(graph, inputs={"x": np.arange(6.0).reshape(2, 3)}, outputs=["y", "loss"]))
        lines = list(two.step_stream(graph, inputs={"x": np.arange(6.0).reshape(2, 3)}, steps=1,
                                     optimizer={"name": "sgd", "lr": 0.5}))
        w = lines[-1]["params"]["fc.weight"]  # W - 0.5 * dW
        self.assertEqual(w.dtype, np.float32)
        self.assertEqual(w.tolist(), [[-0.5, 0.5], [0.5, 1.5], [1.5, 2.5]])

    def test_a_graph_dtype_given_wins(self):
        """{"ref", "dtype": "float64"} computes in float64: tensors go as float64."""
        np = tensors.np
        c = gradd.Client(test_gradd.URL)
        ref = c.upload_graph(onnx_model("dtype-given-%s" % uuid.uuid4().hex))["ref"]
        r = c.forward({"ref": ref, "dtype": "float64"}, inputs={"x": np.arange(6.0).reshape(2, 3) / 3})
        self.assertEqual(r["values"]["y"].dtype, np.float64)
        self.assertAlmostEqual(r["values"]["y"][0, 0], (1 * 3 + 2 * 5) / 3, places=14)


if __name__ == "__main__":
    unittest.main()
