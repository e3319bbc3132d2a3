#!/usr/bin/python3
"""Models exported by torch.onnx.export, through gradd, against torch.

Each model (random initial weights, no downloads) is exported in training
mode (BatchNormalization with batch statistics, Dropout off: p = 0) and
sent as {"graph": {"onnx": <base64>, "loss": "cross_entropy(`out`,
labels)"}} to `gradd run forward` (the model's outputs) and `gradd run
gradient` (the gradient of the loss with respect to every initializer,
keyed by the state_dict names), in float32 and in float64. float32:
forward values within 1e-4 of torch's (relative to the largest), each
gradient tensor within 1e-4 of the tensor's largest absolute gradient, or
within 3 times torch's own float32 error (its float32 gradient against
its float64 one) where that is larger: mobilenet_v2's batch norms over
1x1 maps amplify rounding to about 1e-3 in torch itself. float64: within
1e-6. Five SGD steps (lr 0.01) through `gradd run step` give torch's
losses: float64 within 1e-6 relative; float32 within 1e-4 of torch's
float64 losses, or 3 times torch's own float32 drift from them where
that is larger. resnet18 and mobilenet_v2 on 8 images amplify rounding
as they train, so much that the drift says more about which rounding
than about its size: torch's own float32 drift is taken over its two
memory formats (its default kernels and channels_last), which for
resnet18 were 2.7e-4 and 9.8e-3 in the losses (8.9e-5 and 8.2e-3 in the
buffers), and gradd's float32 drift moved between 1.7e-4 and 6.7e-3 when
only its GEMM's blocking of the shared dim changed (128 to 512: each
product as accurate). A gradient that is 0 in exact arithmetic (a conv bias before batch
norm) is rounding noise: the tolerance is relative to at least 1e-3.
The batch norms' running statistics step answers under "buffers" follow
torch's running_mean and running_var (torch's model starting from the
exported model's values): after one step (the params still equal, so
this checks the update rule) within 1e-9 of each tensor's largest value
in float64; after five steps within 1e-4 in float64 (mobilenet_v2's
float64 training drifts from torch's by 2e-7 in its losses, 2e-6 in its
buffers), and in float32 within 1e-4 of torch's float64 buffers or 3
times torch's own float32 drift (over its two memory formats, as for
the losses; the worst tensor).

  tests/onnx/run_models.py --gradd build/gradd [-k resnet] [-v]
"""
import argparse
import base64
import io
import json
import subprocess
import sys
import time

import numpy as np
import torch


def mlp():
    m = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    return m, torch.randn(8, 16)


def small_cnn():
    m = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 10))
    return m, torch.randn(8, 3, 16, 16)


def resnet18():
    import torchvision
    return torchvision.models.resnet18(num_classes=10), torch.randn(8, 3, 32, 32)


def mobilenet_v2():
    import torchvision
    m = torchvision.models.mobilenet_v2(num_classes=10)
    m.classifier[0].p = 0.0  # torch's dropout masks come from its generator: off for the comparison
    return m, torch.randn(8, 3, 32, 32)


class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.TransformerEncoderLayer(d_model=64, nhead=4, batch_first=True, dropout=0.0)
        self.head = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.head(self.layer(x).mean(dim=1))


def transformer():
    return Encoder(), torch.randn(8, 12, 64)


class Recurrent(torch.nn.Module):
    """A two-layer bidirectional recurrent net over [batch, time, 16]
    (exported as ONNX LSTM, GRU or RNN nodes with torch's gate reordering
    around them), its outputs averaged over time, and a linear head."""
    def __init__(self, cell, **kw):
        super().__init__()
        self.rnn = cell(16, 24, num_layers=2, bidirectional=True, batch_first=True, **kw)
        self.head = torch.nn.Linear(48, 10)

    def forward(self, x):
        return self.head(self.rnn(x)[0].mean(dim=1))


def recurrent(cell, **kw):
    return lambda: (Recurrent(cell, **kw), torch.randn(8, 12, 16))


MODELS = [("mlp", mlp), ("small_cnn", small_cnn), ("resnet18", resnet18), ("mobilenet_v2", mobilenet_v2),
          ("transformer_encoder", transformer), ("lstm", recurrent(torch.nn.LSTM)), ("gru", recurrent(torch.nn.GRU)),
          ("rnn_relu", recurrent(torch.nn.RNN, nonlinearity="relu"))]


def gradd_run(gradd, route, req):
    p = subprocess.run([gradd, "run", route], input=json.dumps(req).encode(), capture_output=True, timeout=600)
    ans = json.loads(p.stdout.decode())
    if "error" in ans:
        raise RuntimeError("%s: %s %s (at %s)" % (route, ans.get("code"), ans["error"], ans.get("path")))
    return ans


def flat(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().numpy().astype(np.float64).ravel()]}


def arr(v):
    return np.array(v["data"], dtype=np.float64).reshape(v["shape"])


def torch_grads(model, x, labels):
    model.zero_grad()
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    return logits.detach().double().numpy(), loss.item(), {k: p.grad.double().numpy().copy()
                                                         for k, p in model.named_parameters()}


def gradd_grads(gradd, b64, x, labels, dtype):
    graph = {"onnx": b64, "dtype": dtype}
    fw = gradd_run(gradd, "forward", {"graph": graph, "inputs": {"x": flat(x)}, "outputs": ["logits"],
                                      "encoding": "flat"})
    graph = dict(graph, loss="cross_entropy(logits, labels)")
    gr = gradd_run(gradd, "gradient", {"graph": graph, "inputs": {"x": flat(x), "labels": [float(v) for v in labels]},
                                       "encoding": "flat"})
    return (arr(fw["values"]["logits"]), float(arr(gr["values"]["loss"])),
            {k: arr(v) for k, v in gr["gradients"].items()})


def unb64(v, dtype):
    return np.frombuffer(base64.b64decode(v["b64"]), dtype=dtype).astype(np.float64).reshape(v["shape"])


def onnx_buffers(model_bytes):
    """The exported model's BatchNormalization running statistics."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load_from_string(model_bytes)
    stats = {n.input[k] for n in m.graph.node if n.op_type == "BatchNormalization" for k in (3, 4)}
    return {i.name: numpy_helper.to_array(i) for i in m.graph.initializer if i.name in stats}


def rel(a, b, floor=1e-30):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), floor)) if np.size(b) else 0.0


def check(name, make, gradd, verbose):
    """float32: gradd against torch, per tensor within 1e-4 of its max
    gradient, or, where torch's own float32 result is further than that
    from its float64 one (batch norm over few values amplifies rounding),
    within 3 times torch's own float32 error. float64: within 1e-6."""
    torch.manual_seed(0)
    model, x = make()
    model.train()
    labels = torch.randint(0, 10, (x.shape[0],))
    buf = io.BytesIO()
    torch.onnx.export(model, (x,), buf, input_names=["x"], output_names=["logits"], opset_version=15,
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    b64 = base64.b64encode(buf.getvalue()).decode()
    t32 = torch_grads(model, x, labels)
    t64 = torch_grads(model.double(), x.double(), labels)
    t0 = time.time()
    g32 = gradd_grads(gradd, b64, x, labels, "float32")
    dt = time.time() - t0
    g64 = gradd_grads(gradd, b64, x, labels, "float64")
    bad = []
    worst32 = worst64 = 0.0
    for tag, g, t, tol in (("float32", g32, t32, 1e-4), ("float64", g64, t64, 1e-6)):
        if rel(g[0], t[0]) > tol:
            bad.append("%s forward differs: %.3g relative" % (tag, rel(g[0], t[0])))
        if abs(g[1] - t[1]) > tol * abs(t[1]):
            bad.append("%s loss differs: %.3g vs %.3g" % (tag, g[1], t[1]))
        for k, ref in t[2].items():
            if k not in g[2]:
                bad.append("%s: no gradient for %s" % (tag, k))
                continue
            # a gradient that is 0 in exact arithmetic (a conv bias before
            # batch norm) is rounding noise: a floor of 1e-3 under the max
            e = rel(g[2][k], ref, 1e-3)
            allowed = tol
            if tag == "float32":
                allowed = max(tol, 3 * rel(t32[2][k], t64[2][k], 1e-3))
                worst32 = max(worst32, e)
            else:
                worst64 = max(worst64, e)
            if e > allowed:
                bad.append("%s %s: gradient differs by %.3g of its max (allowed %.3g)" % (tag, k, e, allowed))
            if verbose:
                print("  %s %-40s %.2e (allowed %.2e)" % (tag, k, e, allowed))
    # five SGD steps through /v1/step follow torch's losses: in float64
    # within 1e-6; in float32 within 1e-4, or within 3 times torch's own
    # float32 drift from its float64 losses (training amplifies rounding)
    initial = onnx_buffers(buf.getvalue())

    def torch_losses(double, channels_last=False):
        torch.manual_seed(0)
        mm, _ = make()
        mm.train()
        if channels_last:  # the same model, its convolutions by other kernels (oneDNN's NHWC ones)
            mm = mm.to(memory_format=torch.channels_last)
        with torch.no_grad():  # the running statistics the exported model holds (its export ran the model once)
            for k, b in mm.named_buffers():
                if k in initial:
                    b.copy_(torch.from_numpy(initial[k].copy()))
        xx = x.double() if double else x
        if channels_last:
            xx = xx.contiguous(memory_format=torch.channels_last)
        if double:
            mm.double()
        opt = torch.optim.SGD(mm.parameters(), lr=0.01)
        out, after1 = [], None
        for _ in range(5):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(mm(xx), labels)
            out.append(loss.item())
            loss.backward()
            opt.step()
            if after1 is None:
                after1 = {k: b.double().numpy().copy() for k, b in mm.named_buffers() if k in initial}
        return np.array(out), {k: b.double().numpy().copy() for k, b in mm.named_buffers() if k in initial}, after1

    def gradd_losses(dtype, one_step_too):
        """Five steps: the losses, the buffers after the last step and
        (one_step_too: from a second request) after the first."""
        np_dtype = np.float32 if dtype == "float32" else np.float64
        req = {"graph": {"onnx": b64, "loss": "cross_entropy(logits, labels)", "dtype": dtype},
               "inputs": {"x": flat(x), "labels": [float(v) for v in labels]},
               "optimizer": {"name": "sgd", "lr": 0.01}, "steps": 5, "encoding": "b64"}
        first = None
        if one_step_too:
            st = gradd_run(gradd, "step", dict(req, steps=1))
            first = {k: unb64(v, np_dtype) for k, v in st.get("buffers", {}).items()}
        st = gradd_run(gradd, "step", req)
        return np.array(st["losses"]), {k: unb64(v, np_dtype) for k, v in st.get("buffers", {}).items()}, first

    (l64, b64t, b64t1) = torch_losses(True)
    # torch's own float32 runs: its default kernels and, for images, its
    # channels_last ones, two equally valid roundings of the same steps
    t32_runs = [torch_losses(False)] + ([torch_losses(False, True)] if x.dim() == 4 else [])
    (g64l, g64b, g64b1), (g32l, g32b, _) = gradd_losses("float64", True), gradd_losses("float32", False)

    def loss_drift(losses):
        return float(np.max(np.abs(losses - l64) / np.abs(l64)))

    def buffer_drift(bufs):
        return max([rel(bufs[k], b64t[k], 1e-3) for k in b64t] or [0.0])

    step64 = loss_drift(g64l)
    step_err = loss_drift(g32l)
    step_own = max(loss_drift(r[0]) for r in t32_runs)
    if step64 > 1e-6:
        bad.append("float64 SGD losses differ by %.3g relative" % step64)
    if step_err > max(1e-4, 3 * step_own):
        bad.append("float32 SGD losses drift %.3g relative from float64's (torch's own float32 drift %.3g)" %
                   (step_err, step_own))
    # the running statistics after the five steps
    buf_own = max(buffer_drift(r[1]) for r in t32_runs)
    worst = {}
    for tag, got, want, allowed in (("float64 after one step", g64b1, b64t1, 1e-9),
                                    ("float64", g64b, b64t, 1e-4), ("float32", g32b, b64t, max(1e-4, 3 * buf_own))):
        worst[tag] = 0.0
        if set(got) != set(want):
            bad.append("%s buffers: gradd answers %d, torch has %d" % (tag, len(got), len(want)))
            continue
        for k, ref in want.items():
            e = rel(got[k], ref, 1e-3)
            worst[tag] = max(worst[tag], e)
            if e > allowed:
                bad.append("%s buffer %s differs by %.3g of its max (allowed %.3g)" % (tag, k, e, allowed))
    own = max(rel(t32[2][k], t64[2][k], 1e-3) for k in t64[2])
    print("%-20s %-4s float32: forward %.1e, worst gradient %.1e (torch's own float32 error %.1e); "
          "float64: worst gradient %.1e; 5 SGD steps: float32 losses within %.1e (torch's own drift %.1e), "
          "float64 within %.1e; %d buffers within %.1e after one step (float64), after five %.1e (float64), "
          "%.1e (float32; torch's own drift %.1e); %d params; float32 forward+gradient %.1f s%s" %
          (name, "ok" if not bad else "FAIL", rel(g32[0], t32[0]), worst32, own, worst64, step_err, step_own, step64,
           len(b64t), worst["float64 after one step"], worst["float64"], worst["float32"], buf_own, len(t32[2]), dt,
           "" if not bad else "\n    " + "\n    ".join(bad[:8])))
    return not bad


def parse_args():
    """The command line this runner and test_export.py share: --gradd
    BIN, -k SUBSTRING of the model names, -v. Torch runs on one thread."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--gradd", default="build/gradd")
    ap.add_argument("-k", default="")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    return a


def main():
    a = parse_args()
    ok = True
    for name, make in MODELS:
        if a.k in name:
            try:
                ok &= check(name, make, a.gradd, a.v)
            except Exception as ex:  # an error answer or an export failure
                print("%-22s FAIL %s" % (name, ex))
                ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
