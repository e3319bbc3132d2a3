"""Tensors between Python and gradd's JSON.

Requests: numpy float arrays become {"shape", "b64"} (little-endian bytes
in the graph's dtype); torch tensors go out as their numpy arrays; other
numpy arrays and numpy scalars become plain JSON; non-finite floats
become "NaN", "Infinity" and "-Infinity".

Responses: {"shape", "b64"} objects are always decoded (to a numpy array,
or without numpy to nested lists); with numpy every tensor of a tensor map
becomes an ndarray (or a torch tensor when the client asks for torch). A
rank-0 tensor comes back as a Python float.
"""

from __future__ import annotations

import base64
import json
import math
import os
import struct
import sys
from typing import Any, Dict, List, Optional

HAVE_NUMPY = False
np = None
if os.environ.get("GRADD_NO_NUMPY", "") in ("", "0"):
    try:
        import numpy as np  # noqa: F811

        HAVE_NUMPY = True
    except ImportError:
        np = None

torch = None  # imported on first need: importing torch takes a second


def import_torch() -> Any:
    """The torch module (ImportError with a hint when it is missing)."""
    global torch
    if torch is None:
        try:
            import torch as _torch
        except ImportError:
            raise ImportError("gradd: tensor_type='torch' needs PyTorch (apt-get install python3-torch)") from None
        torch = _torch
    return torch


def is_torch(x: Any) -> bool:
    """True for a torch.Tensor, without importing torch."""
    return "torch" in sys.modules and isinstance(x, sys.modules["torch"].Tensor)


# Response fields whose values are {name: tensor} maps.
TENSOR_MAPS = ("values", "gradients", "tangents", "hvp", "params", "buffers")

_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def is_array(x: Any) -> bool:
    """True for a numpy ndarray (False when numpy is not available)."""
    return HAVE_NUMPY and isinstance(x, np.ndarray)


def _float_text(x: float) -> Any:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


class Prepared(dict):
    """A request value already made JSON-ready (plain JSON, no tensors):
    encode() passes it through without walking it. gradd.Model sends its
    graph this way, so a long-form graph is walked once, not per step."""


def prepare(value: Any, dtype: str = "float64") -> Any:
    """value encoded once (tensors as b64) and marked Prepared when it is
    a dict; a string as it is."""
    return Prepared(encode(value, dtype)) if isinstance(value, dict) else value


def encode(value: Any, dtype: str = "float64", chunks: Optional[list] = None) -> Any:
    """A request value made JSON-ready. Dicts and lists are walked; numpy
    arrays of numbers (and torch tensors) become {"shape", "b64"} in dtype
    ("float64"/"float32"), or, when chunks is a list, Triton binary
    tensors {"shape", "parameters": {"binary_data_size"}} whose bytes are
    appended to chunks in the order they appear in the JSON text."""
    if isinstance(value, Prepared):
        return value
    if isinstance(value, dict):
        return {k: encode(v, dtype, chunks) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v, dtype, chunks) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return _float_text(value)
    if is_torch(value):
        value = value.detach().cpu()
        return encode(value.numpy() if HAVE_NUMPY else value.tolist(), dtype, chunks)
    if HAVE_NUMPY:
        if isinstance(value, np.ndarray):
            if value.dtype.kind == "f" or (chunks is not None and value.dtype.kind in "iub"):
                le = "<f4" if dtype == "float32" else "<f8"
                arr = np.ascontiguousarray(value, dtype=le)
                wire = "FP32" if le == "<f4" else "FP64"  # the daemon converts to the graph's dtype
                if chunks is not None:  # the array's own bytes when it is already in le: no copy
                    chunks.append(memoryview(arr).cast("B") if arr.size else b"")
                    return {"shape": list(value.shape), "datatype": wire,
                            "parameters": {"binary_data_size": arr.nbytes}}
                return {"shape": list(value.shape), "datatype": wire,
                        "b64": base64.b64encode(arr.tobytes()).decode("ascii")}
            return encode(value.tolist(), dtype, chunks)
        if isinstance(value, np.generic):
            return encode(value.item(), dtype, chunks)
    raise TypeError("gradd: cannot send a %s as a tensor" % type(value).__name__)


def parse_binary_answer(text: bytes, data: bytes) -> Any:
    """A binary-extension answer's JSON text parsed, each {"shape",
    "parameters": {"binary_data_size"}} object given its bytes (as
    "_bytes"), taken from data in the order the objects appear in the text;
    decode_tensor then reads them. The bytes are handed out while parsing
    (a JSON object is complete, and its hook called, in text order among
    tensors), so a key that appears twice cannot shift the later tensors'
    bytes as it would after the parse, which keeps one of the two."""
    view = memoryview(data)
    at = 0

    def on_object(pairs: List[Any]) -> Dict[str, Any]:
        nonlocal at
        obj = dict(pairs)
        p = obj.get("parameters")
        if isinstance(p, dict) and "binary_data_size" in p and "shape" in obj:
            n = int(p["binary_data_size"])
            if at + n > len(view):
                raise ValueError("gradd: the answer's binary tensors need more bytes than it has")
            obj = {"shape": obj["shape"], "_bytes": view[at:at + n]}
            at += n
        return obj

    return json.loads(text.decode("utf-8"), object_pairs_hook=on_object)


def _number(x: Any) -> float:
    if isinstance(x, str):
        if x in _NONFINITE:
            return _NONFINITE[x]
        raise ValueError("gradd: unexpected string %r in a tensor" % x)
    return float(x)


def _nested_numbers(x: Any) -> Any:
    if isinstance(x, list):
        return [_nested_numbers(v) for v in x]
    return _number(x)


def _reshape(flat: List[float], shape: List[int]) -> Any:
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    step = len(flat) // shape[0] if shape[0] else 0
    return [_reshape(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def _b64_tensor(obj: Dict[str, Any]) -> Any:
    raw = obj["_bytes"] if "_bytes" in obj else base64.b64decode(obj["b64"])
    shape = [int(d) for d in obj["shape"]]
    count = 1
    for d in shape:
        count *= d
    if count == 0:
        width = 8
    elif len(raw) == 8 * count:
        width = 8
    elif len(raw) == 4 * count:
        width = 4
    else:
        raise ValueError("gradd: %d bytes of base64 for shape %s" % (len(raw), shape))
    if HAVE_NUMPY:
        arr = np.frombuffer(raw, dtype="<f8" if width == 8 else "<f4").reshape(shape)
        # native and writable: a view of a binary answer's own (writable)
        # buffer as it is on a little-endian machine, else a copy
        arr = arr.astype(arr.dtype.newbyteorder("="), copy=not arr.flags.writeable)
        return float(arr) if not shape else arr
    flat = list(struct.unpack("<%d%s" % (count, "d" if width == 8 else "f"), bytes(raw)))
    return _reshape(flat, shape)


def decode_tensor(x: Any) -> Any:
    """One tensor of a response, in the form this Python prefers."""
    if isinstance(x, dict) and ("b64" in x or "_bytes" in x) and "shape" in x:
        return _b64_tensor(x)
    if isinstance(x, dict) and "data" in x and "shape" in x:
        data = _nested_numbers(x["data"])
        if HAVE_NUMPY:
            arr = np.asarray(data, dtype=np.float64).reshape(x["shape"])
            return float(arr) if not x["shape"] else arr
        return {"shape": x["shape"], "data": data}
    if isinstance(x, list):
        nested = _nested_numbers(x)
        return np.asarray(nested, dtype=np.float64) if HAVE_NUMPY else nested
    if isinstance(x, (int, float, str)) and not isinstance(x, bool):
        return _number(x)
    return x


def to_torch(x: Any) -> Any:
    """An ndarray as a torch tensor (sharing its memory); anything else as
    it is (a rank-0 result stays a float)."""
    if is_array(x):
        return import_torch().from_numpy(x)
    return x


def _decode_map(m: Any, tensor_type: str = "numpy") -> Any:
    if not isinstance(m, dict):
        return m
    if tensor_type == "torch":
        return {k: to_torch(decode_tensor(v)) for k, v in m.items()}
    return {k: decode_tensor(v) for k, v in m.items()}


def decode_response(body: Any, tensor_type: str = "numpy") -> Any:
    """A response dict with its tensors decoded (same keys as the JSON):
    numpy arrays, torch tensors (tensor_type "torch") or nested lists
    (without numpy)."""
    if not isinstance(body, dict):
        return body
    out = dict(body)
    for key in TENSOR_MAPS:
        if key in out:
            out[key] = _decode_map(out[key], tensor_type)
    state = out.get("state")
    if isinstance(state, dict):
        # optimizer state: {"step": n, "m": {param: tensor}, ...}
        out["state"] = {k: _decode_map(v, tensor_type) if isinstance(v, dict) else v for k, v in state.items()}
    if isinstance(out.get("losses"), list):
        out["losses"] = [_number(v) for v in out["losses"]]
    return out


def graph_dtype(body: Dict[str, Any]) -> str:
    """The dtype a request's tensors are in: its "dtype", its long-form
    graph's "dtype", else float64."""
    if body.get("dtype"):
        return body["dtype"]
    graph = body.get("graph")
    if isinstance(graph, dict) and graph.get("dtype"):
        return graph["dtype"]
    return "float64"
