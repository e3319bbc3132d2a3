"""HTTP for the gradd client: one keep-alive HTTP/1.1 connection per
thread, and retries with backoff.

Every gradd route is a pure function of its request (nothing is kept
between requests), so a request that got no answer, or a 503 (the daemon's
queue or memory budget was full), is safe to send again. Transport retries
those; every other status is the caller's answer.
"""

from __future__ import annotations

import mmap
import random
import socket
import sys
import threading
import time
import urllib.parse
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import GraddError

# Errors that mean "the request got no answer": connection refused or
# reset, a keep-alive socket the server closed, a broken pipe mid-send.
_CONNECTION_ERRORS = (ConnectionError, OSError)


class RetryPolicy:
    """When and how long to wait before sending a request again.

    retries: attempts after the first (0: never retry).
    backoff: seconds before the first retry; doubled for each further one,
        capped at max_backoff, with up to 25% random jitter added.
    A 503's Retry-After (seconds) replaces the computed wait when it is
    larger, capped at max_retry_after.
    """

    def __init__(self, retries: int = 4, backoff: float = 0.05, max_backoff: float = 2.0,
                 max_retry_after: float = 30.0) -> None:
        if retries < 0 or backoff < 0 or max_backoff < 0:
            raise ValueError("gradd: retries, backoff and max_backoff must not be negative")
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.max_retry_after = float(max_retry_after)

    def delay(self, attempt: int, retry_after: Optional[float] = None) -> float:
        """Seconds to wait before retry number `attempt` (1 = the first)."""
        wait = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        wait += wait * 0.25 * random.random()
        if retry_after is not None and retry_after > wait:
            wait = min(retry_after, self.max_retry_after)
        return wait

    def __repr__(self) -> str:
        return "RetryPolicy(retries=%d, backoff=%g, max_backoff=%g)" % (self.retries, self.backoff, self.max_backoff)


# A request body: one buffer, or several sent one after the other (the
# JSON text, then binary tensors straight from their arrays' memory).
Buffer = Union[bytes, bytearray, memoryview]
Body = Union[Buffer, Sequence[Buffer]]
# Parts under this many bytes are joined with their neighbours into one
# write (a copy costs less than another segment); bigger ones go alone.
_JOIN_BELOW = 1 << 20


class Response:
    """One HTTP answer: status, headers (lower-cased names) and the body
    bytes (None for a streamed answer until read(); lines() yields it)."""

    def __init__(self, status: int, headers: Dict[str, str], body: Optional[Buffer],
                 chunks: Optional[Iterator[bytes]] = None, on_done: Optional[Callable[[bool], None]] = None):
        self.status = status
        self.headers = headers
        self.body = body
        self._chunks = chunks
        self._on_done = on_done

    def lines(self) -> Iterator[bytes]:
        """The lines of a streamed body as they arrive (without the "\\n",
        empty lines skipped); the connection goes back to its thread when
        the body ends."""
        ok = False
        try:
            pending = b""
            for chunk in self._chunks or ():
                pending += chunk
                while True:
                    i = pending.find(b"\n")
                    if i < 0:
                        break
                    line, pending = pending[:i].rstrip(b"\r"), pending[i + 1:]
                    if line:
                        yield line
            if pending.strip():
                yield pending.strip()
            ok = True
        finally:
            self.close(reusable=ok)

    def read(self) -> bytes:
        """The whole body (a streamed answer is read to its end)."""
        if self.body is None:
            ok = False
            try:
                self.body = b"".join(self._chunks or ())
                ok = True
            finally:
                self.close(reusable=ok)
        return self.body

    def close(self, reusable: bool = False) -> None:
        """Done with a streamed answer; the connection is dropped unless the
        body was read to its end."""
        if self._on_done is not None:
            done, self._on_done = self._on_done, None
            done(reusable)


# Answers from this many bytes on are received into a kept mapping.
_MAPPED_FROM = 4 << 20
# Mappings a connection keeps for its next answers.
_KEEP_MAPPINGS = 2


def _new_mapping(n: int) -> mmap.mmap:
    """An anonymous mapping of n bytes, advised for transparent huge pages
    where the system has them."""
    m = mmap.mmap(-1, n)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            m.madvise(mmap.MADV_HUGEPAGE)
        except OSError:
            pass  # advice only
    return m


class _ReceiveBuffers:
    """Writable buffers for a connection's answers. A big answer goes into
    an anonymous mapping that is kept and handed out again once nothing
    views it: fresh memory faults once per 4 KiB page as the answer is
    written into it, about 12-15 us a fault on virtual machines (a 45 MB
    answer: 11,000 faults, 140-170 ms), and such machines often give no
    huge pages for the advice. The numpy arrays of a binary answer view
    its buffer without a copy, so a training loop that replaces its params
    with each answer's uses two mappings in turn. At most _KEEP_MAPPINGS
    are kept (dropping one that is still viewed leaves it to its views)."""

    def __init__(self) -> None:
        self.kept: List[mmap.mmap] = []

    def get(self, n: int) -> Buffer:
        if n < _MAPPED_FROM:
            return bytearray(n)
        free = [i for i in range(len(self.kept)) if len(self.kept[i]) >= n and not self._viewed(i)]
        if free:
            best = min(free, key=lambda i: len(self.kept[i]))
            return memoryview(self.kept[best])[:n]
        # Room to spare: the next answer's JSON part may be a few bytes
        # longer (pages never written cost nothing).
        self.kept.append(_new_mapping(-(-(n + n // 8) // _MAPPED_FROM) * _MAPPED_FROM))
        if len(self.kept) > _KEEP_MAPPINGS:
            unviewed = [i for i in range(len(self.kept) - 1) if not self._viewed(i)]
            del self.kept[unviewed[0] if unviewed else 0]
        return memoryview(self.kept[-1])[:n]

    def _viewed(self, i: int) -> bool:
        """Mapping i has views (memoryviews, numpy arrays) besides this
        list's reference (counted: the list's and getrefcount's own); on
        a Python without reference counts, always."""
        count = getattr(sys, "getrefcount", None)
        return count is None or count(self.kept[i]) > 2


class _Connection:
    """One HTTP/1.1 keep-alive connection (plain or TLS), written for
    gradd's small fixed exchanges: a request is one write (TCP_NODELAY),
    an answer has Content-Length, is chunked, or runs to the close."""

    def __init__(self, scheme: str, host: str, port: int, timeout: float) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if scheme == "https":
            import ssl
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self.file = sock.makefile("rb")
        self.host_header = host if port in (80, 443) else "%s:%d" % (host, port)
        self.used = False  # True once an exchange completed on it
        self.buffers = _ReceiveBuffers()

    def close(self) -> None:
        try:
            self.file.close()
        finally:
            self.sock.close()

    def __del__(self) -> None:
        # a thread's connection is dropped with the thread's locals
        try:
            self.close()
        except Exception:  # noqa: BLE001 -- nothing to report at collection
            pass

    def send(self, method: str, target: str, body: Optional[Body], headers: Dict[str, str]) -> None:
        parts = [body] if isinstance(body, (bytes, bytearray, memoryview)) else list(body or [])
        head = ["%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, target, self.host_header)]
        for k, v in headers.items():
            head.append("%s: %s\r\n" % (k, v))
        if body is not None:
            head.append("Content-Length: %d\r\n" % sum(memoryview(p).nbytes for p in parts))
        head.append("\r\n")
        data = "".join(head).encode("latin-1")
        # One write for the head and every run of small parts; a big part
        # (a tensor of a MiB or more) is sent from its own memory.
        run = [data]
        for part in parts:
            if memoryview(part).nbytes < _JOIN_BELOW:
                run.append(part)
                continue
            self.sock.sendall(b"".join(run))
            self.sock.sendall(part)
            run = []
        if run:
            self.sock.sendall(b"".join(run))

    def _line(self) -> bytes:
        line = self.file.readline(65537)
        if not line:
            raise ConnectionResetError("the server closed the connection")
        return line

    def head(self) -> Tuple[int, Dict[str, str]]:
        """The status and headers of the next answer (1xx skipped)."""
        while True:
            status_line = self._line().decode("latin-1")
            parts = status_line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                raise ConnectionResetError("not an HTTP answer: %r" % status_line[:80])
            status = int(parts[1])
            headers: Dict[str, str] = {}
            while True:
                line = self._line()
                if line in (b"\r\n", b"\n"):
                    break
                k, _, v = line.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            if status >= 200:
                return status, headers

    def chunks(self, headers: Dict[str, str], status: int = 200, method: str = "GET") -> Iterator[bytes]:
        """The body's bytes as they arrive (none for HEAD, 204 and 304)."""
        if method == "HEAD" or status in (204, 304):
            return
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size = int(self._line().split(b";")[0].strip(), 16)
                if size == 0:
                    while self._line() not in (b"\r\n", b"\n"):
                        pass  # trailers
                    return
                data = self.file.read(size)
                if len(data) < size:
                    raise ConnectionResetError("the answer ended inside a chunk")
                self._line()
                yield data
        elif "content-length" in headers:
            n = int(headers["content-length"])
            data = self.buffers.get(n)  # writable: numpy arrays of a binary answer view it, no copy
            got = self.file.readinto(data) if n else 0
            if got < n:
                raise ConnectionResetError("the answer ended after %d of %d bytes" % (got, n))
            yield data
        else:
            yield self.file.read()


def retry_after_seconds(headers: Mapping[str, str]) -> Optional[float]:
    """A Retry-After header in seconds (the HTTP-date form is not used by
    gradd and reads as None)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class Transport:
    """Requests to one gradd base URL over keep-alive connections.

    Each thread gets its own connection, opened on first use and reopened
    when the server has closed it, so one Transport (and the Client around
    it) may be shared by threads.
    """

    def __init__(self, url: str, timeout: float, retry: RetryPolicy,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("gradd: the URL must be http://host[:port] or https://host[:port], not %r" % url)
        self.url = url
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self.sleep = sleep
        self._local = threading.local()

    # ---- connections --------------------------------------------------

    def _connection(self, timeout: float) -> _Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _Connection(self.scheme, self.host, self.port, timeout)
            self._local.conn = conn
        else:
            conn.sock.settimeout(timeout)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close this thread's connection (others close when their thread
        ends or the Transport is collected)."""
        self._drop()

    # ---- one exchange -------------------------------------------------

    def _exchange(self, method: str, path: str, body: Optional[Body], headers: Dict[str, str],
                  timeout: float, stream: bool) -> Response:
        conn = self._connection(timeout)
        conn.send(method, self.prefix + path, body, headers)
        status, hdrs = conn.head()
        closing = hdrs.get("connection", "").lower() == "close"
        if stream and 200 <= status < 300:
            self._local.conn = None  # the stream holds it; requests meanwhile open another

            def done(reusable: bool) -> None:
                if not reusable or closing or getattr(self._local, "conn", None) is not None:
                    conn.close()
                else:
                    conn.used = True
                    self._local.conn = conn
            return Response(status, hdrs, None, conn.chunks(hdrs, status, method), done)
        parts = list(conn.chunks(hdrs, status, method))
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        conn.used = True
        delimited = "content-length" in hdrs or "chunked" in hdrs.get("transfer-encoding", "") \
            or method == "HEAD" or status in (204, 304)
        if closing or not delimited:
            self._drop()
        return Response(status, hdrs, data)

    def send(self, method: str, path: str, body: Optional[Body] = None,
             headers: Optional[Dict[str, str]] = None, timeout: Optional[float] = None,
             stream: bool = False) -> Response:
        """Send one request, retrying per the policy; the final Response
        (any status but a retried 503). Raises GraddError with status 0
        (code "unreachable" or "timeout") when no answer came at all.

        A connection error on a reused keep-alive socket (the server closed
        it while idle) is retried at once, without counting as a retry.
        A timeout is not retried: the same request would take as long.
        """
        limit = self.timeout if timeout is None else float(timeout)
        hdrs = dict(headers or {})
        attempt = 0
        while True:
            conn = getattr(self._local, "conn", None)
            reused = conn is not None and conn.used
            try:
                resp = self._exchange(method, path, body, hdrs, limit, stream)
            except (socket.timeout, TimeoutError) as e:
                self._drop()
                raise GraddError(0, "timeout", "", "no answer from %s within %g s (%s)" % (self.url, limit, e)) from None
            except _CONNECTION_ERRORS as e:
                self._drop()
                if reused:
                    continue  # a stale keep-alive socket: reconnect, no wait
                attempt += 1
                if attempt > self.retry.retries:
                    raise GraddError(0, "unreachable", "", "cannot reach %s: %s" % (self.url, e or type(e).__name__)) from None
                self.sleep(self.retry.delay(attempt))
                continue
            if resp.status == 503 and attempt < self.retry.retries:
                resp.close(reusable=resp.body is not None)
                attempt += 1
                self.sleep(self.retry.delay(attempt, retry_after_seconds(resp.headers)))
                continue
            return resp


def split_binary(resp: Response) -> Tuple[bytes, Buffer]:
    """A binary-extension answer's JSON part and its tensor bytes (the
    whole body and b"" for a plain JSON answer)."""
    body = resp.body or b""
    n = resp.headers.get("inference-header-content-length")
    if n is None:
        return bytes(body), b""
    size = int(n)
    if size < 0 or size > len(body):
        raise GraddError(resp.status, "bad_response", "",
                         "Inference-Header-Content-Length %d is over the body's %d bytes" % (size, len(body)))
    return bytes(body[:size]), memoryview(body)[size:]  # the tensors' bytes are not copied
