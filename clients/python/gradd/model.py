"""gradd.Model: training on a gradd daemon the way a training loop reads.

    model = gradd.Model(client, graph, params, optimizer={"name": "adam", "lr": 1e-3})
    model.fit(X_train, y_train, epochs=10, batch_size=32)
    predictions = model.predict(X_test).argmax(axis=1)
    model.save("mlp.npz")

The daemon keeps nothing between requests, so the Model holds what a
training loop holds: the graph, the params and the optimizer's state. Each
minibatch is one POST /v1/step (or several minibatches per request with
batches_per_request); the params and state that come back are sent with
the next one. Needs numpy.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, TextIO, Union

from . import tensors
from .client import Client, Graph
from .errors import GraddError

DEFAULT_OPTIMIZER = {"name": "sgd", "lr": 0.1}


def _np() -> Any:
    if not tensors.HAVE_NUMPY:
        raise ImportError("gradd.Model needs numpy (apt-get install python3-numpy)")
    return tensors.np


class Model:
    """A graph with its params and optimizer state, trained on a daemon.

    client: a gradd.Client.
    graph: a long-form graph (dict with "inputs", "params", "nodes",
        "loss") or an expression whose value is the loss.
    params: {name: array} initial values (numpy arrays, torch tensors or
        lists); kept as numpy arrays in self.params.
    optimizer: the step route's optimizer object (default SGD, lr 0.1).
    inputs: the names fit(X, y, ...) and predict(X) bind their positional
        arrays to, in order (default: the long-form graph's declared
        inputs in declaration order).
    output: the node predict() returns (default: a node named "logits"
        when the graph has one, else the node feeding the loss).
    state: optimizer state to continue from (from a previous step, or
        load()).
    buffers: values a step updates without differentiating them (an ONNX
        model's BatchNormalization running statistics), to continue from;
        by default the model's own.

    Attributes after fit: params, state, buffers, losses (every step's
    loss, in order), history (each epoch's mean loss).
    """

    def __init__(self, client: Client, graph: Graph, params: Mapping[str, Any], *,
                 optimizer: Optional[Mapping[str, Any]] = None, inputs: Optional[Sequence[str]] = None,
                 output: Optional[str] = None, state: Optional[Dict[str, Any]] = None,
                 buffers: Optional[Dict[str, Any]] = None) -> None:
        np = _np()
        self.client = client
        self.dtype = graph.get("dtype", "float64") if isinstance(graph, dict) else "float64"
        self.graph = tensors.prepare(graph, self.dtype)  # walked once, not per request
        self.params: Dict[str, Any] = {k: np.array(_numpy(v), dtype=self.dtype) for k, v in params.items()}
        self.optimizer = dict(optimizer or DEFAULT_OPTIMIZER)
        self.state = state
        self.buffers = buffers
        if inputs is None:
            declared = graph.get("inputs") if isinstance(graph, dict) else None
            inputs = list(declared) if isinstance(declared, dict) else []
        self.input_names: List[str] = list(inputs)
        self.output = output or _default_output(graph)
        self.losses: List[float] = []
        self.history: List[float] = []

    def __repr__(self) -> str:
        shapes = ", ".join("%s%s" % (k, list(v.shape)) for k, v in self.params.items())
        return "gradd.Model(%s; %s; optimizer %s)" % (shapes, self.client.url, self.optimizer.get("name"))

    # ---- data ---------------------------------------------------------

    def _bind(self, arrays: Sequence[Any], named: Mapping[str, Any], what: str) -> Dict[str, Any]:
        """{input name: numpy array} from positional and named arrays."""
        np = _np()
        if len(arrays) > len(self.input_names):
            raise ValueError("gradd.Model.%s: %d arrays for the %d inputs %s" % (
                what, len(arrays), len(self.input_names), self.input_names))
        data = dict(zip(self.input_names, arrays))
        data.update(named)
        out = {k: np.asarray(_numpy(v)) for k, v in data.items()}
        if not out:
            raise ValueError("gradd.Model.%s: no data (pass arrays for %s)" % (what, self.input_names))
        rows = {k: (v.shape[0] if v.ndim else None) for k, v in out.items()}
        if None in rows.values() or len(set(rows.values())) != 1:
            raise ValueError("gradd.Model.%s: every array needs the same number of rows, got %s" % (what, rows))
        return out

    # ---- training -----------------------------------------------------

    def fit(self, *arrays: Any, epochs: int = 1, batch_size: int = 32, shuffle: bool = True, seed: int = 0,
            batches_per_request: int = 1, progress: Union[bool, TextIO] = True, **named: Any) -> List[float]:
        """Train: `epochs` passes over the data in minibatches of
        batch_size rows (the last one smaller), shuffled each epoch with a
        seeded generator. arrays bind to self.input_names in order; named
        arrays bind by name. Each request takes batches_per_request
        optimizer steps (the step route's "batches"). progress: True writes
        a progress line to stderr, a file writes it there, False is quiet.
        Returns each epoch's mean loss (also appended to self.history);
        every step's loss is appended to self.losses. A GraddError
        (after the client's retries) leaves params and state at the last
        completed request."""
        np = _np()
        data = self._bind(arrays, named, "fit")
        n = next(iter(data.values())).shape[0]
        if batch_size < 1 or epochs < 0 or batches_per_request < 1:
            raise ValueError("gradd.Model.fit: batch_size and batches_per_request must be >= 1, epochs >= 0")
        out = _progress_stream(progress)
        rng = np.random.default_rng(seed)
        epoch_losses = []
        for epoch in range(epochs):
            order = rng.permutation(n) if shuffle else np.arange(n)
            starts = list(range(0, n, batch_size))
            t0, losses = time.perf_counter(), []
            for k in range(0, len(starts), batches_per_request):
                batches = []
                for s in starts[k:k + batches_per_request]:
                    idx = order[s:s + batch_size]
                    batches.append({name: v[idx] for name, v in data.items()})
                losses.extend(self._step(batches))
                if out is not None and out.isatty():
                    out.write("\repoch %d/%d  %d/%d batches  loss %.4f" % (
                        epoch + 1, epochs, min(k + batches_per_request, len(starts)), len(starts), losses[-1]))
                    out.flush()
            mean = float(np.mean(losses)) if losses else float("nan")
            epoch_losses.append(mean)
            self.history.append(mean)
            if out is not None:
                out.write("%sepoch %d/%d  loss %.4f  (%d steps, %.2f s)\n" % (
                    "\r" if out.isatty() else "", epoch + 1, epochs, mean, len(losses), time.perf_counter() - t0))
                out.flush()
        return epoch_losses

    def _step(self, batches: List[Dict[str, Any]]) -> List[float]:
        """One /v1/step request over the minibatches; updates params and
        state and returns the losses."""
        fields: Dict[str, Any] = {"params": self.params, "optimizer": self.optimizer}
        if len(batches) == 1:
            fields["inputs"] = batches[0]
        else:
            fields["batches"] = batches
        if self.state is not None:
            fields["state"] = self.state
        if self.buffers is not None:
            fields["buffers"] = self.buffers
        r = self.client.step(self.graph, **fields)
        self.params = {k: _numpy(v) for k, v in r["params"].items()}
        self.state = r.get("state")
        if r.get("buffers"):
            self.buffers = {k: _numpy(v) for k, v in r["buffers"].items()}
        losses = [float(x) for x in r.get("losses", [])]
        self.losses.extend(losses)
        return losses

    # ---- inference ----------------------------------------------------

    def predict(self, *arrays: Any, batch_size: Optional[int] = None, output: Optional[str] = None,
                **named: Any) -> Any:
        """The output node's value (a numpy array) for the data, with the
        current params, through POST /v1/forward; batch_size splits it
        into several requests (rows concatenated back in order). Inputs
        the output does not depend on need no value."""
        np = _np()
        data = self._bind(arrays, named, "predict")
        name = output or self.output
        if not name:
            raise ValueError("gradd.Model.predict: name the output node (output=...)")
        n = next(iter(data.values())).shape[0]
        size = batch_size or max(n, 1)
        parts = []
        for s in range(0, max(n, 1), size):
            chunk = {k: v[s:s + size] for k, v in data.items()}
            r = self._forward(chunk, name)
            parts.append(np.asarray(_numpy(r["values"][name])))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def _forward(self, chunk: Dict[str, Any], name: str) -> Dict[str, Any]:
        try:
            return self.client.forward(self.graph, params=self.params, inputs=chunk, outputs=[name])
        except GraddError as e:
            # A daemon that still wants every declared input: give the
            # ones the output does not read zeros of the batch's length.
            missing = [k for k in self.input_names if k not in chunk]
            if e.code not in ("missing_value", "unknown_name") or not missing or not isinstance(self.graph, dict):
                raise
            np = _np()
            rows = next(iter(chunk.values())).shape[0]
            filled = dict(chunk)
            for k in missing:
                shape = [rows if d == -1 else d for d in self.graph["inputs"][k]]
                filled[k] = np.zeros(shape)
            return self.client.forward(self.graph, params=self.params, inputs=filled, outputs=[name])

    # ---- saving -------------------------------------------------------

    def save(self, path: str) -> None:
        """Write params (by name), the optimizer state (as "state/<key>"
        and "state/<key>/<param>") and the buffers (as "buffers/<name>") to
        a .npz file."""
        np = _np()
        arrays = {k: np.asarray(v) for k, v in self.params.items()}
        for name, value in (self.buffers or {}).items():
            arrays["buffers/" + name] = np.asarray(_numpy(value))
        for key, value in (self.state or {}).items():
            if isinstance(value, dict):
                for p, t in value.items():
                    arrays["state/%s/%s" % (key, p)] = np.asarray(_numpy(t))
            else:
                arrays["state/%s" % key] = np.asarray(value)
        np.savez(path, **arrays)

    def load(self, path: str) -> "Model":
        """Read params, optimizer state and buffers written by save()
        (replacing the current ones); returns self."""
        np = _np()
        params: Dict[str, Any] = {}
        state: Dict[str, Any] = {}
        buffers: Dict[str, Any] = {}
        with np.load(path) as f:
            for name in f.files:
                if name.startswith("buffers/"):
                    buffers[name[len("buffers/"):]] = np.array(f[name], dtype=self.dtype)
                elif name.startswith("state/"):
                    parts = name.split("/", 2)
                    if len(parts) == 3:
                        state.setdefault(parts[1], {})[parts[2]] = f[name]
                    else:
                        v = f[name]
                        state[parts[1]] = v.item() if v.ndim == 0 else v
                else:
                    params[name] = np.array(f[name], dtype=self.dtype)
        self.params = params
        self.state = state or None
        self.buffers = buffers or None
        return self


def _numpy(x: Any) -> Any:
    """A torch tensor as a numpy array; anything else as it is."""
    if tensors.is_torch(x):
        return x.detach().cpu().numpy()
    return x


def _default_output(graph: Graph) -> Optional[str]:
    if not isinstance(graph, dict):
        return None
    nodes = graph.get("nodes") or []
    names = [n.get("name") for n in nodes if isinstance(n, dict)]
    if "logits" in names:
        return "logits"
    loss = graph.get("loss")
    for n in nodes:
        if isinstance(n, dict) and n.get("name") == loss:
            ins = n.get("inputs")
            if isinstance(ins, list) and ins and isinstance(ins[0], str):
                return ins[0]
    named = [x for x in names if x and x != loss]
    return named[-1] if named else None


def _progress_stream(progress: Union[bool, TextIO]) -> Optional[TextIO]:
    if progress is True:
        return sys.stderr
    if not progress:
        return None
    return progress  # a file-like object
