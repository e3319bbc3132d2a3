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


if __name__ == "__main__":
    unittest.main()
