"""gradd.Client: one method per route of the gradd API.

Requests go over keep-alive connections (one per thread, transport.py)
and are retried on a 503 or when no answer came; tensors go out as numpy
arrays, torch tensors or nested lists and come back in the form the
client was made for (tensors.py).
"""

from __future__ import annotations

import hashlib
import json
import socket
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from . import tensors
from .errors import GraddError
from .transport import Response, RetryPolicy, Transport, retry_after_seconds, split_binary

DEFAULT_TIMEOUT = 30.0

# Routes that compute tensors: with numpy they ask for base64 tensors.
_TENSOR_ROUTES = ("forward", "gradient", "step", "jvp", "hvp", "check")

Graph = Union[str, Dict[str, Any]]
Json = Dict[str, Any]


class Client:
    """A client of the gradd daemon at url (e.g. "http://localhost:8080").

    api_key: sent as "Authorization: Bearer <key>" when given.
    timeout: seconds allowed for each request (connect and read); a route
        method also takes timeout=... for one request.
    retries, backoff, max_backoff: a request that got no answer, or a 503
        (the daemon's queue was full), is sent again up to `retries` times,
        waiting backoff * 2^k seconds (at most max_backoff, or the 503's
        Retry-After when longer). Every route is a pure function of its
        request, so this is always safe. retries=0 turns it off.
    tensor_type: what tensors come back as: "numpy" (the default when numpy
        is installed; a rank-0 tensor is a float), "torch" (torch tensors,
        float64 or float32 as the graph's dtype) or "list" (nested lists;
        the default without numpy). numpy arrays, torch tensors and nested
        lists are all accepted going out.
    binary: send and receive tensors in Triton's binary extension (raw
        little-endian bytes after the JSON, no base64): the default with
        numpy; False sends {"shape", "b64"} tensors instead. A request
        that names its own "encoding" is sent as JSON either way.

    Each route method takes the graph (an expression string or a long-form
    graph dict) and the route's fields as keyword arguments, and returns
    the response as a dict shaped like the JSON. Errors raise GraddError.
    One Client may be shared by threads: each thread keeps its own
    connection.
    """

    def __init__(self, url: str, api_key: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT, *,
                 retries: int = 4, backoff: float = 0.05, max_backoff: float = 2.0,
                 tensor_type: Optional[str] = None, binary: Optional[bool] = None) -> None:
        if not url:
            raise ValueError("gradd.Client needs a URL")
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = float(timeout)
        if not self.timeout > 0:
            raise ValueError("gradd.Client: the timeout must be a positive number of seconds")
        if tensor_type is None:
            tensor_type = "numpy" if tensors.HAVE_NUMPY else "list"
        if tensor_type not in ("numpy", "torch", "list"):
            raise ValueError('gradd.Client: tensor_type is "numpy", "torch" or "list"')
        if tensor_type in ("numpy", "torch") and not tensors.HAVE_NUMPY:
            raise ValueError("gradd.Client: tensor_type=%r needs numpy, which is not installed" % tensor_type)
        if tensor_type == "torch":
            tensors.import_torch()
        self.tensor_type = tensor_type
        self.binary = tensors.HAVE_NUMPY if binary is None else bool(binary) and tensors.HAVE_NUMPY
        self.retry = RetryPolicy(retries, backoff, max_backoff)
        self._transport = Transport(self.url, self.timeout, self.retry)
        self._graphs: Dict[str, Tuple[bytes, str]] = {}  # ref -> (body, Content-Type), for re-uploads
        self._dtypes: Dict[str, str] = {}  # ref -> the dtype its summary gives, to send tensors in

    def __repr__(self) -> str:
        return "gradd.Client(%r)" % self.url

    def close(self) -> None:
        """Close the calling thread's connection (a later request reopens it)."""
        self._transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transport ----------------------------------------------------

    def _headers(self, accept: str = "application/json") -> Dict[str, str]:
        h = {"Accept": accept}
        if self.api_key:
            h["Authorization"] = "Bearer " + self.api_key
        return h

    def _send(self, method: str, path: str, body: Optional[Json], timeout: Optional[float],
              accept: str = "application/json", stream: bool = False,
              chunks: Optional[List[bytes]] = None) -> Response:
        """Send body (JSON, followed by the binary tensors' chunks when
        given); the 2xx Response, else a GraddError."""
        data = None
        headers = self._headers(accept)
        if body is not None:
            data = json.dumps(body, allow_nan=False, separators=(",", ":")).encode("utf-8")
            if chunks is not None:
                headers["Content-Type"] = "application/octet-stream"
                headers["Inference-Header-Content-Length"] = str(len(data))
                data = [data] + chunks  # sent one after the other, not joined
            else:
                headers["Content-Type"] = "application/json"
        resp = self._transport.send(method, path, data, headers, timeout, stream)
        if resp.status >= 300:
            raise _http_error(resp)
        return resp

    def request(self, method: str, path: str, body: Optional[Json] = None,
                timeout: Optional[float] = None) -> Any:
        """One request (retried as the client's policy says); the parsed
        JSON response, tensors not decoded. Raises GraddError for any
        status but 2xx and when no response came."""
        return _parse_json(self._send(method, path, body, timeout))

    def _body(self, route: str, graph: Graph, fields: Dict[str, Any], binary: bool = False,
              timeout: Optional[float] = None) -> Tuple[Json, Optional[List[bytes]]]:
        """The request body and, in binary mode, its tensors' bytes. Float
        tensors go out in the graph's dtype (_dtype)."""
        body: Json = {"graph": graph}
        body.update(fields)
        tensor_route = tensors.HAVE_NUMPY and route in _TENSOR_ROUTES and "encoding" not in body \
            and "binary_data_output" not in body
        chunks: Optional[List[bytes]] = None
        if tensor_route and binary:
            chunks = []
            body["binary_data_output"] = True
        elif tensor_route:
            body["encoding"] = "b64"
        dtype = self._dtype(body, timeout) if tensors.HAVE_NUMPY else "float64"
        return tensors.encode(body, dtype, chunks), chunks

    def _dtype(self, body: Json, timeout: Optional[float]) -> str:
        """The dtype the request computes in, which its tensors must be
        sent in: the request's "dtype", its graph's "dtype", else for a
        stored graph {"ref"} the "dtype" of the ref's summary (asked once
        per ref; a replica without the graph gets it uploaded first when
        this client knows it), else float64."""
        graph = body.get("graph")
        ref = graph.get("ref") if isinstance(graph, dict) else None
        if body.get("dtype") or not isinstance(ref, str) or graph.get("dtype"):
            return tensors.graph_dtype(body)
        if ref not in self._dtypes:
            try:
                self.graph_summary(ref, timeout)
            except GraddError as e:
                if e.code != "graph_not_found" or ref not in self._graphs:
                    return "float64"  # the request itself will say what is wrong
                self._upload_known(ref, timeout)
            self._dtypes.setdefault(ref, "float64")  # a daemon whose summary gives no dtype: asked once
        return self._dtypes[ref]

    def call(self, route: str, graph: Graph, **fields: Any) -> Json:
        """POST /v1/<route> with {"graph": graph, **fields}; the decoded
        response. fields may hold numpy arrays, torch tensors and
        non-finite floats; timeout=... bounds this one request."""
        timeout = fields.pop("timeout", None)
        body, chunks = self._body(route, graph, fields, self.binary, timeout)
        try:
            resp = self._send("POST", "/v1/" + route, body, timeout, chunks=chunks)
        except GraddError as e:
            if not self._reupload(e, graph, timeout):
                raise
            resp = self._send("POST", "/v1/" + route, body, timeout, chunks=chunks)
        text, data = split_binary(resp)
        if not data or route not in _TENSOR_ROUTES:
            # gradient-graph answers with a graph and node names, no tensors
            answer = _parse_json(resp)
            return answer if route not in _TENSOR_ROUTES else tensors.decode_response(answer, self.tensor_type)
        try:
            answer = tensors.parse_binary_answer(text, data)
        except ValueError as e:
            raise GraddError(resp.status, "bad_response", "", "the response is not JSON: %s" % e) from None
        return tensors.decode_response(answer, self.tensor_type)

    # ---- the graph store ----------------------------------------------

    def upload_graph(self, graph: Any, timeout: Optional[float] = None) -> Json:
        """POST /v1/graphs: keep graph in the daemon's graph store and
        return its summary {"ref", "format", "inputs", "outputs", "params",
        "ops", ...}. graph: an ONNX model (its bytes, or an onnx.ModelProto)
        or a long-form graph dict. Then name it in any request with
        graph={"ref": summary["ref"]} (extended with "nodes" and "loss" if
        need be). The client remembers what it uploaded: a replica that
        does not hold the ref (404 graph_not_found: another replica behind
        a load balancer, a restart, an eviction) gets the graph again and
        the request is sent once more, by itself."""
        return self._upload_known(self.remember_graph(graph), timeout)

    def _upload_known(self, ref: str, timeout: Optional[float]) -> Json:
        """POST /v1/graphs with the remembered graph of ref; its summary
        (whose dtype is kept for the requests naming ref)."""
        data, ctype = self._graphs[ref]
        headers = self._headers()
        headers["Content-Type"] = ctype
        resp = self._transport.send("POST", "/v1/graphs", data, headers, timeout, False)
        if resp.status >= 300:
            raise _http_error(resp)
        return self._keep_dtype(ref, _parse_json(resp))

    def _keep_dtype(self, ref: str, summary: Any) -> Any:
        """summary, its "dtype" kept for the requests naming ref."""
        if isinstance(summary, dict) and summary.get("dtype") in ("float64", "float32"):
            self._dtypes[ref] = summary["dtype"]
        return summary

    def remember_graph(self, graph: Any) -> str:
        """The ref graph has (or will have) in the graph store, without
        uploading it: the first request naming {"ref": ref} that a replica
        answers with graph_not_found uploads it there and is sent again.
        graph: as upload_graph takes."""
        if hasattr(graph, "SerializeToString"):
            graph = graph.SerializeToString()
        if isinstance(graph, (bytes, bytearray, memoryview)):
            data, ctype = bytes(graph), "application/onnx"
        elif isinstance(graph, dict):
            data = json.dumps(graph, allow_nan=False, separators=(",", ":")).encode("utf-8")
            ctype = "application/json"
        else:
            raise TypeError("a stored graph is an ONNX model (bytes or ModelProto) or a graph dict")
        ref = "sha256:" + hashlib.sha256(data).hexdigest()
        self._graphs[ref] = (data, ctype)
        if isinstance(graph, dict):  # as the daemon's summary will say
            self._dtypes[ref] = graph.get("dtype") or "float64"
        return ref

    def graph_summary(self, ref: str, timeout: Optional[float] = None) -> Json:
        """GET /v1/graphs/{ref}: the summary of a stored graph (GraddError
        graph_not_found when this replica does not hold it)."""
        return self._keep_dtype(ref, _parse_json(self._send("GET", "/v1/graphs/" + ref, None, timeout)))

    def _reupload(self, err: GraddError, graph: Graph, timeout: Optional[float]) -> bool:
        """After err: when it is graph_not_found for a ref this client
        uploaded, upload the graph again; True when the request should be
        sent once more."""
        ref = graph.get("ref") if isinstance(graph, dict) else None
        if err.code != "graph_not_found" or not isinstance(ref, str) or ref not in self._graphs:
            return False
        self._upload_known(ref, timeout)
        return True

    # ---- the routes ---------------------------------------------------

    def forward(self, graph: Graph, **fields: Any) -> Json:
        """POST /v1/forward: {"values", "stats"}."""
        return self.call("forward", graph, **fields)

    def gradient(self, graph: Graph, **fields: Any) -> Json:
        """POST /v1/gradient: {"values", "gradients", "stats"}."""
        return self.call("gradient", graph, **fields)

    def step(self, graph: Graph, **fields: Any) -> Json:
        """POST /v1/step: {"params", "state", "losses", "stats"}."""
        return self.call("step", graph, **fields)

    def step_stream(self, graph: Graph, report_every: Optional[int] = None, **fields: Any) -> Iterator[Json]:
        """POST /v1/step with "stream": true; yields each line of the
        answer as it arrives: progress lines {"step", "loss",
        "elapsed_ms"}, then the final line (params, state, losses, stats,
        completed_steps, and "stopped" when the daemon stopped early), its
        tensors decoded. An error line {"error", "code", "path"} raises
        GraddError. A daemon that answers in one piece (no streaming) gives
        just the final line. The request is retried only before its first
        line arrived (on a 503, no answer, or graph_not_found for a graph
        this client knows, which it uploads first, as call() does)."""
        timeout = fields.pop("timeout", None)
        fields["stream"] = True
        if report_every is not None:
            fields["report_every"] = int(report_every)
        body, _ = self._body("step", graph, fields, timeout=timeout)
        try:
            resp = self._send("POST", "/v1/step", body, timeout, accept="application/x-ndjson", stream=True)
        except GraddError as e:  # a replica without the stored graph: upload it, send once more
            if not self._reupload(e, graph, timeout):
                raise
            resp = self._send("POST", "/v1/step", body, timeout, accept="application/x-ndjson", stream=True)
        if "ndjson" not in resp.headers.get("content-type", ""):
            resp.read()  # a daemon without streaming answers in one piece
            yield tensors.decode_response(_parse_json(resp), self.tensor_type)
            return
        yield from _stream_lines(resp, self.tensor_type)

    def jvp(self, graph: Graph, **fields: Any) -> Json:
        """POST /v1/jvp (needs tangents=...): {"values", "tangents", "stats"}."""
        return self.call("jvp", graph, **fields)

    def hvp(self, graph: Graph, **fields: Any) -> Json:
        """POST /v1/hvp (needs vector=...): {"values", "hvp", "stats"}."""
        return self.call("hvp", graph, **fields)

    def check(self, graph: Graph, **fields: Any) -> Json:
        """POST /v1/check: {"values", "check", "stats"}."""
        return self.call("check", graph, **fields)

    def gradient_graph(self, graph: Graph, **fields: Any) -> Json:
        """POST /v1/gradient-graph: {"graph", "gradients", "stats"}."""
        return self.call("gradient-graph", graph, **fields)

    def shapes(self, graph: Graph, **fields: Any) -> Json:
        """POST /v1/shapes: every leaf's and named node's shape."""
        return self.call("shapes", graph, **fields)

    def ops(self) -> Json:
        """GET /v1/ops: {"ops": [...]}, the catalogue."""
        return self.request("GET", "/v1/ops")


def _lines(resp: Response) -> Iterator[bytes]:
    """resp's lines, a broken or stalled stream raised as GraddError."""
    try:
        yield from resp.lines()
    except (socket.timeout, TimeoutError) as e:
        raise GraddError(0, "timeout", "", "the stream stalled: %s" % e) from None
    except OSError as e:
        raise GraddError(0, "unreachable", "", "the stream broke off: %s" % e) from None


def _stream_lines(resp: Response, tensor_type: str) -> Iterator[Json]:
    """The decoded NDJSON lines of a streamed step answer."""
    for raw in _lines(resp):
        try:
            line = json.loads(raw.decode("utf-8"))
        except ValueError as e:
            resp.close()
            raise GraddError(resp.status, "bad_response", "", "a streamed line is not JSON: %s" % e) from None
        if not isinstance(line, dict):
            resp.close()
            raise GraddError(resp.status, "bad_response", "", "a streamed line is not a JSON object")
        if "error" in line:
            resp.close()
            raise GraddError(int(line.get("status", 0) or 0), str(line.get("code", "error")),
                             str(line.get("path", "")), str(line["error"]))
        if "loss" in line and "params" not in line:
            line["loss"] = tensors.decode_tensor(line["loss"])
            yield line
        else:
            yield tensors.decode_response(line, tensor_type)


def _parse_json(resp: Response) -> Any:
    text, _ = split_binary(resp)
    try:
        return json.loads(text.decode("utf-8"))
    except ValueError as e:
        raise GraddError(resp.status, "bad_response", "", "the response is not JSON: %s" % e) from None


def _http_error(resp: Response) -> GraddError:
    """The GraddError for a refused request (its JSON envelope when it has
    one, else the bare status)."""
    resp.read()
    code, path, message = "http_%d" % resp.status, "", "HTTP status %d" % resp.status
    try:
        body = json.loads(bytes(resp.body or b"").decode("utf-8"))
        if isinstance(body, dict):
            code = body.get("code", code)
            path = body.get("path", path)
            message = body.get("error", message)
    except ValueError:
        pass
    return GraddError(resp.status, code, path, message, retry_after_seconds(resp.headers))
