"""Tensors between Python and gradd's JSON.

Requests: numpy float arrays become {"shape", "b64"} (little-endian bytes
in the graph's dtype); other numpy arrays and numpy scalars become plain
JSON; non-finite floats become "NaN", "Infinity" and "-Infinity".

Responses: {"shape", "b64"} objects are always decoded (to a numpy array,
or without numpy to nested lists); with numpy every tensor of a tensor map
becomes an ndarray. A rank-0 tensor comes back as a Python float.
"""

import base64
import math
import os
import struct

HAVE_NUMPY = False
np = None
if os.environ.get("GRADD_NO_NUMPY", "") in ("", "0"):
    try:
        import numpy as np  # noqa: F811

        HAVE_NUMPY = True
    except ImportError:
        np = None

# Response fields whose values are {name: tensor} maps.
TENSOR_MAPS = ("values", "gradients", "tangents", "hvp", "params")

_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def is_array(x):
    """True for a numpy ndarray (False when numpy is not available)."""
    return HAVE_NUMPY and isinstance(x, np.ndarray)


def _float_text(x):
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def encode(value, dtype="float64"):
    """A request value made JSON-ready. Dicts and lists are walked; numpy
    float arrays become {"shape", "b64"} in dtype ("float64"/"float32")."""
    if isinstance(value, dict):
        return {k: encode(v, dtype) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v, dtype) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return _float_text(value)
    if HAVE_NUMPY:
        if isinstance(value, np.ndarray):
            if value.dtype.kind == "f":
                le = "<f4" if dtype == "float32" else "<f8"
                raw = np.ascontiguousarray(value, dtype=le).tobytes()
                return {"shape": list(value.shape), "b64": base64.b64encode(raw).decode("ascii")}
            return encode(value.tolist(), dtype)
        if isinstance(value, np.generic):
            return encode(value.item(), dtype)
    raise TypeError("gradd: cannot send a %s as a tensor" % type(value).__name__)


def _number(x):
    if isinstance(x, str):
        if x in _NONFINITE:
            return _NONFINITE[x]
        raise ValueError("gradd: unexpected string %r in a tensor" % x)
    return float(x)


def _nested_numbers(x):
    if isinstance(x, list):
        return [_nested_numbers(v) for v in x]
    return _number(x)


def _reshape(flat, shape):
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    step = len(flat) // shape[0] if shape[0] else 0
    return [_reshape(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def _b64_tensor(obj):
    raw = base64.b64decode(obj["b64"])
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
        arr = arr.astype(arr.dtype.newbyteorder("="))  # native, writable
        return float(arr) if not shape else arr
    flat = list(struct.unpack("<%d%s" % (count, "d" if width == 8 else "f"), raw))
    return _reshape(flat, shape)


def decode_tensor(x):
    """One tensor of a response, in the form this Python prefers."""
    if isinstance(x, dict) and "b64" in x and "shape" in x:
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


def _decode_map(m):
    if not isinstance(m, dict):
        return m
    return {k: decode_tensor(v) for k, v in m.items()}


def decode_response(body):
    """A response dict with its tensors decoded (same keys as the JSON)."""
    if not isinstance(body, dict):
        return body
    out = dict(body)
    for key in TENSOR_MAPS:
        if key in out:
            out[key] = _decode_map(out[key])
    state = out.get("state")
    if isinstance(state, dict):
        # optimizer state: {"step": n, "m": {param: tensor}, ...}
        out["state"] = {k: _decode_map(v) if isinstance(v, dict) else v for k, v in state.items()}
    if isinstance(out.get("losses"), list):
        out["losses"] = [_number(v) for v in out["losses"]]
    return out


def graph_dtype(body):
    """The dtype a request's tensors are in: its "dtype", its long-form
    graph's "dtype", else float64."""
    if body.get("dtype"):
        return body["dtype"]
    graph = body.get("graph")
    if isinstance(graph, dict) and graph.get("dtype"):
        return graph["dtype"]
    return "float64"
