"""gradd.Client: one method per route of the gradd API, over urllib."""

import json
import socket
import urllib.error
import urllib.request

from . import tensors

DEFAULT_TIMEOUT = 30.0

# Routes that compute tensors: with numpy they ask for b64 responses.
_TENSOR_ROUTES = ("forward", "gradient", "step", "jvp", "hvp", "check")


class GraddError(Exception):
    """A request gradd refused or that did not reach it.

    status: the HTTP status (400, 401, 413, 415, 422, 503, 504, ...), or 0
        when no response came (then code is "unreachable" or "timeout").
    code: gradd's machine-readable code ("shape_mismatch", ...).
    path: the JSON pointer to the part of the request at fault ("" for all).
    message: gradd's sentence.
    retry_after: seconds from a 503's Retry-After header, else None.
    """

    def __init__(self, status, code, path, message, retry_after=None):
        super().__init__("%s (%s %s at %r)" % (message, status, code, path))
        self.status = status
        self.code = code
        self.path = path
        self.message = message
        self.retry_after = retry_after


class Client:
    """A client of the gradd daemon at url (e.g. "http://localhost:8080").

    api_key: sent as "Authorization: Bearer <key>" when given.
    timeout: seconds allowed for each request (connect and read); a route
        method also takes timeout=... for one request.

    Each route method takes the graph (an expression string or a long-form
    graph dict) and the route's fields as keyword arguments, and returns
    the response as a dict shaped like the JSON. Errors raise GraddError.
    A Client holds no connection, so one may be shared between threads.
    """

    def __init__(self, url, api_key=None, timeout=DEFAULT_TIMEOUT):
        if not url:
            raise ValueError("gradd.Client needs a URL")
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = float(timeout)
        if not self.timeout > 0:
            raise ValueError("gradd.Client: the timeout must be a positive number of seconds")

    def __repr__(self):
        return "gradd.Client(%r)" % self.url

    # ---- transport ----------------------------------------------------

    def _headers(self):
        h = {"Accept": "application/json"}
        if self.api_key:
            h["Authorization"] = "Bearer " + self.api_key
        return h

    def request(self, method, path, body=None, timeout=None):
        """One request; the parsed JSON response (not decoded). Raises
        GraddError for any status but 2xx and when no response came."""
        data = None
        headers = self._headers()
        if body is not None:
            data = json.dumps(body, allow_nan=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        limit = self.timeout if timeout is None else float(timeout)
        try:
            with urllib.request.urlopen(req, timeout=limit) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise _http_error(e) from None
        except (socket.timeout, TimeoutError) as e:
            raise GraddError(0, "timeout", "", "no answer from %s within %g s (%s)" % (self.url, limit, e)) from None
        except urllib.error.URLError as e:
            reason = e.reason
            code = "timeout" if isinstance(reason, (socket.timeout, TimeoutError)) else "unreachable"
            raise GraddError(0, code, "", "cannot reach %s: %s" % (self.url, reason)) from None
        except (ConnectionError, OSError) as e:
            raise GraddError(0, "unreachable", "", "cannot reach %s: %s" % (self.url, e)) from None
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError as e:
            raise GraddError(200, "bad_response", "", "the response is not JSON: %s" % e) from None

    def call(self, route, graph, **fields):
        """POST /v1/<route> with {"graph": graph, **fields}; the decoded
        response. fields may hold numpy arrays and non-finite floats."""
        body = {"graph": graph}
        body.update(fields)
        timeout = body.pop("timeout", None)
        if tensors.HAVE_NUMPY and route in _TENSOR_ROUTES and "encoding" not in body:
            body["encoding"] = "b64"
        body = tensors.encode(body, tensors.graph_dtype(body))
        answer = self.request("POST", "/v1/" + route, body, timeout)
        # gradient-graph answers with a graph and node names, no tensors
        return tensors.decode_response(answer) if route in _TENSOR_ROUTES else answer

    # ---- the routes ---------------------------------------------------

    def forward(self, graph, **fields):
        """POST /v1/forward: {"values", "stats"}."""
        return self.call("forward", graph, **fields)

    def gradient(self, graph, **fields):
        """POST /v1/gradient: {"values", "gradients", "stats"}."""
        return self.call("gradient", graph, **fields)

    def step(self, graph, **fields):
        """POST /v1/step: {"params", "state", "losses", "stats"}."""
        return self.call("step", graph, **fields)

    def jvp(self, graph, **fields):
        """POST /v1/jvp (needs tangents=...): {"values", "tangents", "stats"}."""
        return self.call("jvp", graph, **fields)

    def hvp(self, graph, **fields):
        """POST /v1/hvp (needs vector=...): {"values", "hvp", "stats"}."""
        return self.call("hvp", graph, **fields)

    def check(self, graph, **fields):
        """POST /v1/check: {"values", "check", "stats"}."""
        return self.call("check", graph, **fields)

    def gradient_graph(self, graph, **fields):
        """POST /v1/gradient-graph: {"graph", "gradients", "stats"}."""
        return self.call("gradient-graph", graph, **fields)

    def ops(self):
        """GET /v1/ops: {"ops": [...]}, the catalogue."""
        return self.request("GET", "/v1/ops")


def _http_error(e):
    status = e.code
    code, path, message = "http_%d" % status, "", str(e.reason)
    try:
        body = json.loads(e.read().decode("utf-8"))
        if isinstance(body, dict):
            code = body.get("code", code)
            path = body.get("path", path)
            message = body.get("error", message)
    except (ValueError, OSError):
        pass
    retry = None
    ra = e.headers.get("Retry-After") if e.headers else None
    if ra:
        try:
            retry = float(ra)
        except ValueError:
            retry = None
    e.close()
    return GraddError(status, code, path, message, retry)
