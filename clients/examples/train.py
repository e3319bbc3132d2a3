#!/usr/bin/env python3
"""Train one of the example models on a running gradd with the Python client.

    PYTHONPATH=clients/python python3 clients/examples/train.py cnn-step http://127.0.0.1:8080
    PYTHONPATH=clients/python python3 clients/examples/train.py gpt-step http://127.0.0.1:8080 --steps 20

The model is clients/examples/<name>.graph.json (gradd's long form). The
weights are drawn here with numpy (the workload's scales: normal * 0.1 for
the CNN, * 0.02 for the transformer, biases 0, LayerNorm weights 1) on a
random batch; each request runs --steps SGD steps (lr 0.1) on it through
POST /v1/step and the script prints the losses. Needs numpy.
"""
import argparse, json, os, sys

import numpy as np

import gradd

HERE = os.path.dirname(os.path.abspath(__file__))


def initial(graph, rng):
    """Weights for the graph's declared params, and a batch for its inputs."""
    scale = 0.1 if "w3" in graph["params"] else 0.02
    params = {}
    for name, shape in graph["params"].items():
        if name.startswith("ln") and name.endswith("w"):
            params[name] = np.ones(shape, np.float32)
        elif len(shape) == 1:
            params[name] = np.zeros(shape, np.float32)
        else:
            params[name] = (rng.standard_normal(shape) * scale).astype(np.float32)
    if "x" in graph["inputs"]:  # the CNN: 64 images 28x28 and their classes
        inputs = {"x": rng.standard_normal((64, 1, 28, 28)).astype(np.float32),
                  "labels": rng.integers(0, 10, 64).astype(np.float32)}
    else:  # the transformer: 8 sequences of 65 token ids, each predicting the next
        tok = rng.integers(0, 256, (8, 65))
        inputs = {"ids": tok[:, :64].astype(np.float32), "targets": tok[:, 1:].reshape(-1).astype(np.float32)}
    return params, inputs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=["cnn-step", "gpt-step"])
    ap.add_argument("url", nargs="?", default="http://127.0.0.1:8080")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--requests", type=int, default=2)
    a = ap.parse_args()
    with open(os.path.join(HERE, a.model + ".graph.json")) as f:
        graph = json.load(f)
    params, inputs = initial(graph, np.random.default_rng(0))
    client = gradd.Client(a.url)
    for r in range(a.requests):  # the service keeps no state: params go out and come back
        out = client.step(graph, params=params, inputs=inputs, steps=a.steps,
                          optimizer={"name": "sgd", "lr": 0.1})
        params = out["params"]
        print("request %d: losses %s" % (r, " ".join("%.4f" % x for x in out["losses"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
