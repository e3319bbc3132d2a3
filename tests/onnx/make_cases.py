#!/usr/bin/python3
"""Write the ONNX front-end's golden API cases (tests/api/cases/onnx-*).

Small models built with onnx.helper (float64 initializers, so the expected
values need no float32 rounding), their expected answers computed with
torch in float64, never by gradd. Run again after changing a case:

  /usr/bin/python3 tests/onnx/make_cases.py
"""
import base64
import json
import os

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "..", "api", "cases")
D = TensorProto.DOUBLE


def b64(model):
    return base64.b64encode(model.SerializeToString()).decode()


def write(name, route, request, response=None, error=None):
    d = os.path.join(CASES, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "route"), "w") as f:
        f.write(route + "\n")
    with open(os.path.join(d, "request.json"), "w") as f:
        json.dump(request, f, indent=1)
        f.write("\n")
    for fname, body in (("response.json", response), ("error.json", error)):
        path = os.path.join(d, fname)
        if body is None:
            if os.path.exists(path):
                os.remove(path)
            continue
        with open(path, "w") as f:
            json.dump(body, f, indent=1)
            f.write("\n")


def model_of(nodes, inputs, outputs, inits, opset=15):
    g = helper.make_graph(nodes, "case", inputs, outputs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def tolist(t):
    return t.detach().numpy().tolist()


def mlp_case():
    """Gemm -> Relu -> Gemm with torch's names ("input.1", "0.weight",
    "/2/Gemm_output_0"); the loss is an expression over the model's output
    (quoted) and a new input."""
    rng = np.random.default_rng(13)
    w0, b0 = rng.standard_normal((4, 3)), rng.standard_normal(4)
    w2, b2 = rng.standard_normal((2, 4)), rng.standard_normal(2)
    x = rng.standard_normal((3, 3))
    labels = [1, 0, 1]
    nodes = [helper.make_node("Gemm", ["input.1", "0.weight", "0.bias"], ["/0/Gemm_output_0"], transB=1),
             helper.make_node("Relu", ["/0/Gemm_output_0"], ["/1/Relu_output_0"]),
             helper.make_node("Gemm", ["/1/Relu_output_0", "2.weight", "2.bias"], ["/2/Gemm_output_0"], transB=1)]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w0, "0.weight"), (b0, "0.bias"), (w2, "2.weight"),
                                                       (b2, "2.bias"))]
    m = model_of(nodes, [helper.make_tensor_value_info("input.1", D, ["batch", 3])],
                 [helper.make_tensor_value_info("/2/Gemm_output_0", D, ["batch", 2])], inits)
    tw = {n: torch.tensor(a, requires_grad=True) for n, a in (("0.weight", w0), ("0.bias", b0),
                                                                ("2.weight", w2), ("2.bias", b2))}
    h = torch.relu(torch.tensor(x) @ tw["0.weight"].T + tw["0.bias"])
    y = h @ tw["2.weight"].T + tw["2.bias"]
    loss = torch.nn.functional.cross_entropy(y, torch.tensor(labels))
    loss.backward()
    write("onnx-gradient-mlp", "gradient",
          {"graph": {"onnx": b64(m), "loss": "cross_entropy(`/2/Gemm_output_0`, labels)"},
           "inputs": {"input.1": x.tolist(), "labels": labels}},
          {"values": {"loss": loss.item()}, "gradients": {n: tolist(t.grad) for n, t in tw.items()},
           "tolerance": {"abs": 1e-12}})
    # the same model's forward: its outputs by default; "0.bias" overridden, "2.bias" frozen
    b0_new = np.array([0.5, -0.5, 0.25, 0.0])
    h = np.maximum(x @ w0.T + b0_new, 0)
    write("onnx-forward-params-override", "forward",
          {"graph": {"onnx": b64(m), "frozen": ["2.bias"]}, "inputs": {"input.1": x.tolist()},
           "params": {"0.bias": b0_new.tolist()}},
          {"values": {"/2/Gemm_output_0": (h @ w2.T + b2).tolist()}, "tolerance": {"abs": 1e-12}})


def folding_case():
    """The shape sub-graph torch exports for x.view(x.size(0), -1), folded:
    Shape -> Gather -> Unsqueeze -> Concat -> Reshape, then Softmax."""
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 10
    i64 = TensorProto.INT64
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Constant", [], ["zero"], value=helper.make_tensor("z", i64, [], [0])),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Constant", [], ["ax"], value=helper.make_tensor("a", i64, [1], [0])),
             helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
             helper.make_node("Constant", [], ["m1"], value=helper.make_tensor("m", i64, [1], [-1])),
             helper.make_node("Concat", ["n1", "m1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["flat"]),
             helper.make_node("Softmax", ["flat"], ["y"], axis=-1)]
    m = model_of(nodes, [helper.make_tensor_value_info("x", D, [2, 3, 4])],
                 [helper.make_tensor_value_info("y", D, [2, 12])], [])
    y = torch.softmax(torch.tensor(x).reshape(2, -1), dim=-1)
    write("onnx-forward-shape-folding", "forward", {"graph": {"onnx": b64(m)}, "inputs": {"x": x.tolist()}},
          {"values": {"y": tolist(y)}, "tolerance": {"abs": 1e-15}})


def batchnorm_step_case():
    """Two SGD steps on a training-mode BatchNormalization (as torch exports
    it: momentum 0.9, ONNX's weight of the old value): the running
    statistics sent under "buffers" are updated as torch's BatchNorm1d
    (momentum 0.1, the unbiased batch variance) and answered beside the
    params. A model running the same module twice updates its statistics
    twice a step, in order, as torch does."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 2, 3))
    t = rng.standard_normal((4, 2, 3))
    gamma, beta = np.array([1.5, 0.5]), np.array([0.1, -0.2])
    mean0, var0 = np.array([0.3, -0.1]), np.array([2.0, 0.5])
    nodes = [helper.make_node("BatchNormalization", ["x", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"],
                              ["y", "", ""], epsilon=1e-5, momentum=0.9, training_mode=1)]
    inits = [numpy_helper.from_array(a, n) for a, n in ((gamma, "bn.weight"), (beta, "bn.bias"),
                                                       (np.zeros(2), "bn.running_mean"),
                                                       (np.ones(2), "bn.running_var"))]
    m = model_of(nodes, [helper.make_tensor_value_info("x", D, [4, 2, 3])],
                 [helper.make_tensor_value_info("y", D, [4, 2, 3])], inits)
    bn = torch.nn.BatchNorm1d(2, eps=1e-5, momentum=0.1).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
        bn.running_mean.copy_(torch.tensor(mean0))
        bn.running_var.copy_(torch.tensor(var0))
    bn.train()
    opt = torch.optim.SGD(bn.parameters(), lr=0.1)
    losses = []
    for _ in range(2):
        opt.zero_grad()
        loss = (bn(torch.tensor(x)) * torch.tensor(t)).sum()
        losses.append(loss.item())
        loss.backward()
        opt.step()
    write("onnx-step-batchnorm-buffers", "step",
          {"graph": {"onnx": b64(m), "loss": "sum(y * t)"}, "inputs": {"x": x.tolist(), "t": t.tolist()},
           "buffers": {"bn.running_mean": mean0.tolist(), "bn.running_var": var0.tolist()},
           "optimizer": {"name": "sgd", "lr": 0.1}, "steps": 2},
          {"params": {"bn.weight": tolist(bn.weight), "bn.bias": tolist(bn.bias)}, "state": {},
           "buffers": {"bn.running_mean": tolist(bn.running_mean), "bn.running_var": tolist(bn.running_var)},
           "losses": losses, "tolerance": {"abs": 1e-12}})
    # a module torch runs twice (its running statistics updated twice a step)
    nodes = [helper.make_node("BatchNormalization", ["x", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"],
                              ["y1"], epsilon=1e-5, momentum=0.9, training_mode=1),
             helper.make_node("Mul", ["y1", "x"], ["z"]),
             helper.make_node("BatchNormalization", ["z", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"],
                              ["y"], epsilon=1e-5, momentum=0.9, training_mode=1)]
    twice = model_of(nodes, [helper.make_tensor_value_info("x", D, [4, 2, 3])],
                     [helper.make_tensor_value_info("y", D, [4, 2, 3])], inits)
    bn = torch.nn.BatchNorm1d(2, eps=1e-5, momentum=0.1).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
    bn.train()
    opt = torch.optim.SGD(bn.parameters(), lr=0.1)
    losses = []
    for _ in range(2):
        opt.zero_grad()
        tx = torch.tensor(x)
        loss = (bn(bn(tx) * tx) * torch.tensor(t)).sum()
        losses.append(loss.item())
        loss.backward()
        opt.step()
    write("onnx-step-batchnorm-twice", "step",
          {"graph": {"onnx": b64(twice), "loss": "sum(y * t)"}, "inputs": {"x": x.tolist(), "t": t.tolist()},
           "optimizer": {"name": "sgd", "lr": 0.1}, "steps": 2},
          {"params": {"bn.weight": tolist(bn.weight), "bn.bias": tolist(bn.bias)}, "state": {},
           "buffers": {"bn.running_mean": tolist(bn.running_mean), "bn.running_var": tolist(bn.running_var)},
           "losses": losses, "tolerance": {"abs": 1e-12}})
    write("onnx-err-buffer-under-inputs", "step",
          {"graph": {"onnx": b64(m), "loss": "sum(y * t)"},
           "inputs": {"x": x.tolist(), "t": t.tolist(), "bn.running_mean": mean0.tolist()}},
          error={"status": 400, "code": "invalid_request", "path": "/inputs/bn.running_mean",
                 "message_contains": "its value belongs under buffers"})


def error_cases():
    nodes = [helper.make_node("NonMaxSuppression", ["x", "k"], ["v"], name="top"),
             helper.make_node("RoiAlign", ["v"], ["r"], name="resize1"),
             helper.make_node("RoiAlign", ["r"], ["y"], name="resize2")]
    m = model_of(nodes, [helper.make_tensor_value_info("x", D, [4])], [helper.make_tensor_value_info("y", D, None)],
                 [numpy_helper.from_array(np.array([2], dtype=np.int64), "k")])
    write("onnx-err-unsupported-ops", "forward", {"graph": {"onnx": b64(m)}, "inputs": {"x": [1, 2, 3, 4]}},
          error={"status": 422, "code": "unknown_op", "path": "/graph/onnx",
                 "message_contains": "NonMaxSuppression (1 node: \"top\"); RoiAlign (2 nodes: \"resize1\", \"resize2\")"})
    write("onnx-err-malformed", "forward",
          {"graph": {"onnx": base64.b64encode(b"\x0a\xff\xff\xff\xff\x0f not a model").decode()}, "inputs": {}},
          error={"status": 400, "code": "invalid_request", "path": "/graph/onnx",
                 "message_contains": "not an ONNX ModelProto"})
    w = TensorProto(name="w", data_type=D, dims=[2])
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value="/etc/passwd")
    external = model_of([helper.make_node("Mul", ["x", "w"], ["y"])], [helper.make_tensor_value_info("x", D, [2])],
                        [helper.make_tensor_value_info("y", D, [2])], [w])
    m = model_of([helper.make_node("Relu", ["x"], ["y.1"])], [helper.make_tensor_value_info("x", D, [2])],
                 [helper.make_tensor_value_info("y.1", D, [2])], [])
    write("onnx-err-loss-unclosed-quote", "gradient",
          {"graph": {"onnx": b64(m), "loss": "sum(`y.1)"}, "inputs": {"x": [1, 2]}},
          error={"status": 400, "code": "bad_expression", "path": "/graph/loss",
                 "message_contains": "no closing `"})
    nodes = [helper.make_node("Relu", ["x"], ["s"]), helper.make_node("Reshape", ["x", "s"], ["y"], name="r")]
    m = model_of(nodes, [helper.make_tensor_value_info("x", D, [2])], [helper.make_tensor_value_info("y", D, None)], [])
    write("onnx-err-shape-not-constant", "forward", {"graph": {"onnx": b64(m)}, "inputs": {"x": [1, 2]}},
          error={"status": 422, "code": "invalid_argument", "path": "/graph/onnx",
                 "message_contains": "node \"r\" (Reshape): input 1 (\"s\") must be a constant"})
    # ai.onnx.preview.training's Gradient at values other than those xs names
    g = helper.make_graph([helper.make_node("Mul", ["a", "b"], ["c"]),
                           helper.make_node("Gradient", ["b", "b"], ["dc_da", "dc_db"], name="grad",
                                            domain="ai.onnx.preview.training", xs=["a", "b"], y="c")],
                          "case", [helper.make_tensor_value_info(n, D, []) for n in "ab"],
                          [helper.make_tensor_value_info("dc_da", D, [])], [])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 15),
                                            helper.make_opsetid("ai.onnx.preview.training", 1)])
    write("onnx-err-gradient-other-values", "forward", {"graph": {"onnx": b64(m)}, "inputs": {"a": 1, "b": 2}},
          error={"status": 422, "code": "invalid_argument", "path": "/graph/onnx",
                 "message_contains": "node \"grad\" (Gradient): input 0 is \"b\" but xs names \"a\""})
    # MaxPool's Indices: flattened over [N, C, H, W] only (a 1-D pooling's are refused)
    m = model_of([helper.make_node("MaxPool", ["x"], ["y", "i"], name="mp", kernel_shape=[2])],
                 [helper.make_tensor_value_info("x", D, [1, 1, 4])],
                 [helper.make_tensor_value_info("y", D, [1, 1, 2]),
                  helper.make_tensor_value_info("i", TensorProto.INT64, [1, 1, 2])], [])
    write("onnx-err-maxpool-indices-1d", "forward",
          {"graph": {"onnx": b64(m)}, "inputs": {"x": [[[1, 2, 3, 4]]]}, "outputs": ["i"]},
          error={"status": 422, "code": "invalid_argument", "path": "/graph/onnx",
                 "message_contains": "node \"mp\" (MaxPool): the Indices output is supported over [N, C, H, W]"})
    # recurrent ops: sequences shorter than the sequence, and activations gradd has no op for
    F = TensorProto.FLOAT
    lstm_in = [helper.make_tensor_value_info("x", F, [2, 2, 1]), helper.make_tensor_value_info("w", F, [1, 4, 1]),
               helper.make_tensor_value_info("r", F, [1, 4, 1])]
    lens = numpy_helper.from_array(np.array([2, 1], dtype=np.int32), "lens")
    m = model_of([helper.make_node("LSTM", ["x", "w", "r", "", "lens"], ["", "h"], name="lstm", hidden_size=1)],
                 lstm_in, [helper.make_tensor_value_info("h", F, [1, 2, 1])], [lens])
    ins = {"x": [[[1], [2]], [[3], [4]]], "w": [[[1], [1], [1], [1]]], "r": [[[1], [1], [1], [1]]]}
    write("onnx-err-lstm-short-sequence", "forward", {"graph": {"onnx": b64(m)}, "inputs": ins},
          error={"status": 422, "code": "invalid_argument", "path": "/graph/onnx",
                 "message_contains": "node \"lstm\" (LSTM): sequence_lens[1] is 1: sequences shorter than 2 steps"})
    m = model_of([helper.make_node("GRU", ["x", "w", "r"], ["", "h"], name="gru", hidden_size=1,
                                   activations=["HardSigmoid", "Tanh"])],
                 [helper.make_tensor_value_info("x", F, [2, 2, 1]), helper.make_tensor_value_info("w", F, [1, 3, 1]),
                  helper.make_tensor_value_info("r", F, [1, 3, 1])], [helper.make_tensor_value_info("h", F, [1, 2, 1])],
                 [])
    ins = {"x": [[[1], [2]], [[3], [4]]], "w": [[[1], [1], [1]]], "r": [[[1], [1], [1]]]}
    write("onnx-err-gru-activation", "forward", {"graph": {"onnx": b64(m)}, "inputs": ins},
          error={"status": 422, "code": "invalid_argument", "path": "/graph/onnx",
                 "message_contains": "node \"gru\" (GRU): activation 'HardSigmoid' is not supported"})
    write("onnx-err-external-data", "forward", {"graph": {"onnx": b64(external)}, "inputs": {"x": [1, 2]}},
          error={"status": 422, "code": "invalid_argument", "path": "/graph/onnx",
                 "message_contains": "data_location EXTERNAL"})


def indexing_case():
    """onnx_more.c's indexing op types in one model, differentiated:
    TopK's values (ties to the lower index), ScatterElements with a
    repeated index under reduction none (the last update wins, the
    earlier one gets no gradient), GatherND with a batch dim and OneHot
    scaling the rows; the gradient of the loss w.r.t. the param x."""
    i64 = TensorProto.INT64
    x = np.array([[3.0, 1.0, 3.0, -2.0, 0.5], [0.25, 4.0, -1.0, 2.0, 4.0]])
    idx = np.array([[4, 0, 4], [1, 1, 2]], dtype=np.int64)
    gidx = np.array([[[0], [2]], [[4], [1]]], dtype=np.int64)
    labels = np.array([2, 0], dtype=np.int64)
    nodes = [helper.make_node("TopK", ["x", "k"], ["v", "vi"], axis=1),
             helper.make_node("ScatterElements", ["x", "idx", "v"], ["s"], axis=1),
             helper.make_node("GatherND", ["s", "gidx"], ["g"], batch_dims=1),
             helper.make_node("OneHot", ["labels", "depth", "onoff"], ["h"], axis=-1),
             helper.make_node("Mul", ["s", "h"], ["sh"]),
             helper.make_node("ReduceSum", ["sh"], ["r"], keepdims=0),
             helper.make_node("Mul", ["g", "g"], ["g2"]),
             helper.make_node("ReduceSum", ["g2"], ["q"], keepdims=0),
             helper.make_node("Add", ["r", "q"], ["y"])]
    inits = [numpy_helper.from_array(x, "x"), numpy_helper.from_array(np.array([3], dtype=np.int64), "k"),
             numpy_helper.from_array(idx, "idx"), numpy_helper.from_array(gidx, "gidx"),
             numpy_helper.from_array(labels, "labels"), numpy_helper.from_array(np.array(5, dtype=np.int64), "depth"),
             numpy_helper.from_array(np.array([0.5, 3.0]), "onoff")]
    m = model_of(nodes, [], [helper.make_tensor_value_info("y", D, [])], inits, opset=18)
    tx = torch.tensor(x, requires_grad=True)
    v = torch.sort(tx, dim=1, descending=True, stable=True).values[:, :3]
    s = tx.clone()
    for a in range(2):
        for b in range(3):
            s = s.index_put((torch.tensor(a), torch.tensor(int(idx[a, b]))), v[a, b])
    g = torch.stack([s[b][gidx[b, :, 0]] for b in range(2)])
    h = torch.nn.functional.one_hot(torch.tensor(labels), 5).double() * 2.5 + 0.5
    y = (s * h).sum() + (g * g).sum()
    y.backward()
    write("onnx-gradient-indexing-ops", "gradient",
          {"graph": {"onnx": b64(m), "loss": "y"}, "inputs": {}, "wrt": ["x"]},
          {"values": {"y": y.item()}, "gradients": {"x": tolist(tx.grad)}, "tolerance": {"abs": 1e-12}})


def sig(v):
    return 1 / (1 + np.exp(-v))


def lstm_ref(x, w, r, b, clip, reverse):
    """ONNX's LSTM equations for one direction, in float64 (gates i, o, f,
    c; clip applied to each gate's input): all hidden states, last c."""
    hsz = r.shape[1]
    h, c, ys = np.zeros((x.shape[1], hsz)), np.zeros((x.shape[1], hsz)), [None] * x.shape[0]
    cl = (lambda v: np.clip(v, -clip, clip)) if clip else (lambda v: v)
    for t in (reversed(range(x.shape[0])) if reverse else range(x.shape[0])):
        a = x[t] @ w.T + h @ r.T + b[:4 * hsz] + b[4 * hsz:]
        i, o, f, cc = (a[:, k * hsz:(k + 1) * hsz] for k in range(4))
        c = sig(cl(f)) * c + sig(cl(i)) * np.tanh(cl(cc))
        h = sig(cl(o)) * np.tanh(cl(c))
        ys[t] = h
    return np.stack(ys), h, c


def gru_ref(x, w, r, b, reverse):
    """ONNX's GRU with linear_before_reset 0 (torch's GRU is 1): the reset
    gate scales H_{t-1} before its product with R_h."""
    hsz = r.shape[1]
    h, ys = np.zeros((x.shape[1], hsz)), [None] * x.shape[0]
    wb, rb = b[:3 * hsz], b[3 * hsz:]
    for t in (reversed(range(x.shape[0])) if reverse else range(x.shape[0])):
        xw = x[t] @ w.T + wb
        z = sig(xw[:, :hsz] + h @ r[:hsz].T + rb[:hsz])
        rr = sig(xw[:, hsz:2 * hsz] + h @ r[hsz:2 * hsz].T + rb[hsz:2 * hsz])
        hh = np.tanh(xw[:, 2 * hsz:] + (rr * h) @ r[2 * hsz:].T + rb[2 * hsz:])
        h = (1 - z) * hh + z * h
        ys[t] = h
    return np.stack(ys), h


def recurrent_cases():
    """A bidirectional LSTM with clip and a reverse GRU without
    linear_before_reset, against the float64 references above (ONNX's
    node tests cover neither; torch's exports are forward or
    bidirectional with linear_before_reset 1)."""
    rng = np.random.default_rng(5)
    T, B, I, H = 4, 2, 3, 2
    x = rng.standard_normal((T, B, I))
    w, r, b = rng.standard_normal((2, 4 * H, I)), rng.standard_normal((2, 4 * H, H)), rng.standard_normal((2, 8 * H))
    y0, h0, c0 = lstm_ref(x, w[0], r[0], b[0], 0.5, False)
    y1, h1, c1 = lstm_ref(x, w[1], r[1], b[1], 0.5, True)
    m = model_of([helper.make_node("LSTM", ["x", "w", "r", "b"], ["y", "h", "c"], hidden_size=H, clip=0.5,
                                   direction="bidirectional")],
                 [helper.make_tensor_value_info(n, D, None) for n in ("x", "w", "r", "b")],
                 [helper.make_tensor_value_info(n, D, None) for n in ("y", "h", "c")], [])
    write("onnx-lstm-bidirectional-clip", "forward",
          {"graph": {"onnx": b64(m), "dtype": "float64"},
           "inputs": {"x": x.tolist(), "w": w.tolist(), "r": r.tolist(), "b": b.tolist()}, "outputs": ["y", "h", "c"]},
          response={"values": {"y": np.stack([y0, y1], axis=1).tolist(), "h": np.stack([h0, h1]).tolist(),
                               "c": np.stack([c0, c1]).tolist()}, "tolerance": {"abs": 1e-12}})
    w, r, b = rng.standard_normal((1, 3 * H, I)), rng.standard_normal((1, 3 * H, H)), rng.standard_normal((1, 6 * H))
    y, h = gru_ref(x, w[0], r[0], b[0], True)
    m = model_of([helper.make_node("GRU", ["x", "w", "r", "b"], ["y", "h"], hidden_size=H, direction="reverse")],
                 [helper.make_tensor_value_info(n, D, None) for n in ("x", "w", "r", "b")],
                 [helper.make_tensor_value_info(n, D, None) for n in ("y", "h")], [])
    write("onnx-gru-reverse", "forward",
          {"graph": {"onnx": b64(m), "dtype": "float64"},
           "inputs": {"x": x.tolist(), "w": w.tolist(), "r": r.tolist(), "b": b.tolist()}, "outputs": ["y", "h"]},
          response={"values": {"y": y[:, None].tolist(), "h": h[None].tolist()}, "tolerance": {"abs": 1e-12}})


def quantize_cases():
    """QuantizeLinear to int8 per channel (round half to even, saturation
    at -128 and 127) then DequantizeLinear back, against numpy; an int32
    zero point is refused."""
    x = np.array([[[-300.0, -2.5, 0.5], [1.5, 2.5, 300.0]], [[-0.7, 7.0, 9.0], [11.0, -13.0, 100.0]]])  # [2, 2, 3]
    scale, zp = np.array([1.0, 2.0]), np.array([3, -4], dtype=np.int8)  # along axis 1
    q = np.clip(np.round(x / scale[None, :, None]) + zp[None, :, None], -128, 127)
    deq = (q - zp[None, :, None]) * scale[None, :, None]
    m = model_of([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
                  helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
                 [helper.make_tensor_value_info("x", D, [2, 2, 3])],
                 [helper.make_tensor_value_info("q", TensorProto.INT8, [2, 2, 3]),
                  helper.make_tensor_value_info("y", D, [2, 2, 3])],
                 [numpy_helper.from_array(scale, "s"), numpy_helper.from_array(zp, "z")], opset=13)
    write("onnx-quantize-int8-per-channel", "forward",
          {"graph": {"onnx": b64(m), "dtype": "float64"}, "inputs": {"x": x.tolist()}, "outputs": ["q", "y"]},
          response={"values": {"q": q.tolist(), "y": deq.tolist()}})
    m = model_of([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q32")],
                 [helper.make_tensor_value_info("x", D, [2])], [helper.make_tensor_value_info("q", TensorProto.INT32, [2])],
                 [numpy_helper.from_array(np.array(1.0), "s"), numpy_helper.from_array(np.array(0, dtype=np.int32), "z")],
                 opset=13)
    write("onnx-err-quantize-int32", "forward", {"graph": {"onnx": b64(m)}, "inputs": {"x": [1, 2]}},
          error={"status": 422, "code": "invalid_argument", "path": "/graph/onnx",
                 "message_contains": "node \"q32\" (QuantizeLinear): the zero point must be uint8 or int8"})


def unpool_cases():
    """MaxPool's values and Indices through MaxUnpool, with an output_shape
    one larger than the unpooled size (zeros at the end), against numpy;
    an output_shape smaller than the unpooled size is refused."""
    rng = np.random.default_rng(9)
    x = rng.permutation(2 * 3 * 4 * 4).astype(np.float64).reshape(2, 3, 4, 4)  # distinct: one argmax per window
    win = x.reshape(2, 3, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 2, 2, 4)
    pooled = win.max(-1)
    u = np.zeros((2, 3, 5, 5))
    for idx in np.ndindex(2, 3, 2, 2):
        a = int(win[idx].argmax())
        u[idx[0], idx[1], 2 * idx[2] + a // 2, 2 * idx[3] + a % 2] = pooled[idx]
    m = model_of([helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2], strides=[2, 2]),
                  helper.make_node("MaxUnpool", ["y", "i", "s"], ["u"], kernel_shape=[2, 2], strides=[2, 2])],
                 [helper.make_tensor_value_info("x", D, [2, 3, 4, 4])], [helper.make_tensor_value_info("u", D, None)],
                 [numpy_helper.from_array(np.array([2, 3, 5, 5], dtype=np.int64), "s")])
    write("onnx-maxunpool-output-shape", "forward",
          {"graph": {"onnx": b64(m), "dtype": "float64"}, "inputs": {"x": x.tolist()}, "outputs": ["u"]},
          response={"values": {"u": u.tolist()}})
    m = model_of([helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2], strides=[2, 2]),
                  helper.make_node("MaxUnpool", ["y", "i", "s"], ["u"], name="unpool", kernel_shape=[2, 2],
                                   strides=[2, 2])],
                 [helper.make_tensor_value_info("x", D, [2, 3, 4, 4])], [helper.make_tensor_value_info("u", D, None)],
                 [numpy_helper.from_array(np.array([2, 3, 3, 4], dtype=np.int64), "s")])
    write("onnx-err-maxunpool-output-shape-small", "forward",
          {"graph": {"onnx": b64(m)}, "inputs": {"x": x.tolist()}, "outputs": ["u"]},
          error={"status": 422, "code": "invalid_argument", "path": "/graph/onnx",
                 "message_contains": "node \"unpool\" (MaxUnpool): output_shape[2] is 3"})


def dft_cases():
    """DFT against numpy: a real signal, onesided, zero-padded by dft_length
    (rfft with n); a complex one, inverse, cut by dft_length (ifft with n),
    along axis 2."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 6, 1))
    want = np.fft.rfft(x[..., 0], n=8, axis=1)
    m = model_of([helper.make_node("DFT", ["x", "n"], ["y"], axis=1, onesided=1)],
                 [helper.make_tensor_value_info("x", D, [2, 6, 1])], [helper.make_tensor_value_info("y", D, None)],
                 [numpy_helper.from_array(np.array(8, dtype=np.int64), "n")], opset=17)
    write("onnx-dft-onesided-padded", "forward",
          {"graph": {"onnx": b64(m), "dtype": "float64"}, "inputs": {"x": x.tolist()}},
          response={"values": {"y": np.stack([want.real, want.imag], -1).tolist()}, "tolerance": {"abs": 1e-12}})
    z = rng.standard_normal((1, 2, 7, 2))
    want = np.fft.ifft(z[..., 0] + 1j * z[..., 1], n=5, axis=2)
    m = model_of([helper.make_node("DFT", ["x", "n"], ["y"], axis=2, inverse=1)],
                 [helper.make_tensor_value_info("x", D, [1, 2, 7, 2])], [helper.make_tensor_value_info("y", D, None)],
                 [numpy_helper.from_array(np.array(5, dtype=np.int64), "n")], opset=17)
    write("onnx-dft-inverse-cut", "forward",
          {"graph": {"onnx": b64(m), "dtype": "float64"}, "inputs": {"x": z.tolist()}},
          response={"values": {"y": np.stack([want.real, want.imag], -1).tolist()}, "tolerance": {"abs": 1e-12}})


def qlinear_cases():
    """MatMulInteger with per-row and per-column zero points, and
    QLinearConv with per-channel weight scales, an int32 bias and an int8
    output, against numpy (round half to even, saturation)."""
    rng = np.random.default_rng(13)
    A = rng.integers(0, 256, (3, 4)).astype(np.uint8)
    B = rng.integers(-128, 128, (4, 2)).astype(np.int8)
    azp, bzp = np.array([1, 2, 3], dtype=np.uint8), np.array([-5, 7], dtype=np.int8)
    want = (A.astype(np.int64) - azp[:, None]) @ (B.astype(np.int64) - bzp[None, :])
    m = model_of([helper.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["y"])],
                 [helper.make_tensor_value_info("a", TensorProto.UINT8, [3, 4])],
                 [helper.make_tensor_value_info("y", TensorProto.INT32, [3, 2])],
                 [numpy_helper.from_array(B, "b"), numpy_helper.from_array(azp, "az"),
                  numpy_helper.from_array(bzp, "bz")], opset=13)
    write("onnx-matmulinteger-per-row-column", "forward",
          {"graph": {"onnx": b64(m), "dtype": "float64"}, "inputs": {"a": A.tolist()}},
          response={"values": {"y": want.tolist()}})
    x = rng.integers(0, 256, (1, 2, 4, 4)).astype(np.uint8)
    w = rng.integers(-128, 128, (3, 2, 3, 3)).astype(np.int8)
    xs, xz, ws, wz, ys, yz = 0.05, np.uint8(128), np.array([0.01, 0.02, 0.03]), np.array([0, 1, -1], dtype=np.int8), 0.5, np.int8(-3)
    bias = np.array([100, -200, 300], dtype=np.int32)
    xc, wc = x.astype(np.float64) - float(xz), w.astype(np.float64) - wz[:, None, None, None].astype(np.float64)
    acc = np.zeros((1, 3, 4, 4))
    xp = np.pad(xc, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for o in range(3):
        for i in range(4):
            for j in range(4):
                acc[0, o, i, j] = (xp[0, :, i:i + 3, j:j + 3] * wc[o]).sum()
    acc += bias[None, :, None, None]
    q = np.clip(np.round(acc * (xs * ws[None, :, None, None]) / ys) + yz, -128, 127)
    m = model_of([helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"],
                                   pads=[1, 1, 1, 1])],
                 [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 2, 4, 4])],
                 [helper.make_tensor_value_info("y", TensorProto.INT8, [1, 3, 4, 4])],
                 [numpy_helper.from_array(np.array(xs), "xs"), numpy_helper.from_array(np.array(xz), "xz"),
                  numpy_helper.from_array(w, "w"), numpy_helper.from_array(ws, "ws"), numpy_helper.from_array(wz, "wz"),
                  numpy_helper.from_array(np.array(ys), "ys"), numpy_helper.from_array(np.array(yz), "yz"),
                  numpy_helper.from_array(bias, "b")], opset=13)
    write("onnx-qlinearconv-per-channel", "forward",
          {"graph": {"onnx": b64(m), "dtype": "float64"}, "inputs": {"x": x.tolist()}},
          response={"values": {"y": q.tolist()}})


def stft_cases():
    """STFT against numpy: a real signal with a Hann window and a step
    shorter than the frame (onesided), and a complex one, two-sided."""
    rng = np.random.default_rng(17)
    x = rng.standard_normal((2, 20, 1))
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(8) / 8)
    frames = np.stack([x[:, f * 3:f * 3 + 8, 0] * win for f in range(1 + (20 - 8) // 3)], 1)
    want = np.fft.rfft(frames, axis=-1)
    m = model_of([helper.make_node("STFT", ["x", "s", "w"], ["y"])],
                 [helper.make_tensor_value_info("x", D, [2, 20, 1])], [helper.make_tensor_value_info("y", D, None)],
                 [numpy_helper.from_array(np.array(3, dtype=np.int64), "s"), numpy_helper.from_array(win, "w")], opset=17)
    write("onnx-stft-window", "forward", {"graph": {"onnx": b64(m), "dtype": "float64"}, "inputs": {"x": x.tolist()}},
          response={"values": {"y": np.stack([want.real, want.imag], -1).tolist()}, "tolerance": {"abs": 1e-12}})
    z = rng.standard_normal((1, 9, 2))
    frames = np.stack([z[:, f * 2:f * 2 + 5, 0] + 1j * z[:, f * 2:f * 2 + 5, 1] for f in range(1 + (9 - 5) // 2)], 1)
    want = np.fft.fft(frames, axis=-1)
    m = model_of([helper.make_node("STFT", ["x", "s", "", "n"], ["y"], onesided=0)],
                 [helper.make_tensor_value_info("x", D, [1, 9, 2])], [helper.make_tensor_value_info("y", D, None)],
                 [numpy_helper.from_array(np.array(2, dtype=np.int64), "s"),
                  numpy_helper.from_array(np.array(5, dtype=np.int64), "n")], opset=17)
    write("onnx-stft-complex-two-sided", "forward",
          {"graph": {"onnx": b64(m), "dtype": "float64"}, "inputs": {"x": z.tolist()}},
          response={"values": {"y": np.stack([want.real, want.imag], -1).tolist()}, "tolerance": {"abs": 1e-12}})


if __name__ == "__main__":
    mlp_case()
    folding_case()
    batchnorm_step_case()
    error_cases()
    indexing_case()
    recurrent_cases()
    quantize_cases()
    unpool_cases()
    dft_cases()
    qlinear_cases()
    stft_cases()
