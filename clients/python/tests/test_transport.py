"""Tests of the Python client's transport against a tiny fake server:
keep-alive, reconnecting, retries on 503 (Retry-After) and on refused
connections, and the streamed /v1/step (NDJSON) answer.

The fake server answers from a script, so the tests need no daemon and
check exactly what the client sent and how often it connected.
"""

import http.server
import json
import os
import socket
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the package in clients/python

import gradd  # noqa: E402
from gradd import tensors, transport  # noqa: E402


class FakeGradd:
    """An HTTP/1.1 server on a free port. Each request takes the next
    answer of `script` (status, headers, body or a list of chunks to send
    chunked); connections and requests are counted."""

    def __init__(self, script):
        self.script = list(script)
        self.connections = 0
        self.requests = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                fake.connections += 1
                super().setup()

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                fake.requests.append((self.path, dict(self.headers), body))
                status, headers, payload = fake.script.pop(0) if fake.script else (200, {}, b"{}")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if isinstance(payload, list):  # chunked, one chunk per item
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for part in payload:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                if headers.get("Connection") == "close":
                    self.close_connection = True

            do_GET = do_POST

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def ok(obj):
    return (200, {"Content-Type": "application/json"}, json.dumps(obj).encode())


def refused(obj, status, extra=None):
    h = {"Content-Type": "application/json"}
    h.update(extra or {})
    return (status, h, json.dumps(obj).encode())


class Sleeps:
    """A fake time.sleep that records the waits."""

    def __init__(self):
        self.waits = []

    def __call__(self, s):
        self.waits.append(s)


def client_for(fake, **kw):
    c = gradd.Client(fake.url, **kw)
    c._transport.sleep = Sleeps()
    return c


class KeepAlive(unittest.TestCase):
    def test_one_connection_for_many_requests(self):
        fake = FakeGradd([ok({"values": {"f": i}}) for i in range(5)])
        try:
            c = client_for(fake)
            got = [c.forward("x", inputs={"x": 1})["values"]["f"] for _ in range(5)]
            self.assertEqual(got, [0.0, 1.0, 2.0, 3.0, 4.0])
            self.assertEqual(fake.connections, 1)
        finally:
            fake.close()

    def test_reconnects_when_the_server_closed_the_connection(self):
        # the first answer closes the connection: the second request opens
        # a new one at once, with no backoff wait
        fake = FakeGradd([(200, {"Connection": "close", "Content-Type": "application/json"}, b'{"values":{}}'),
                          ok({"values": {"f": 2}})])
        try:
            c = client_for(fake)
            c.forward("x", inputs={"x": 1})
            self.assertEqual(c.forward("x", inputs={"x": 1})["values"]["f"], 2.0)
            self.assertEqual(fake.connections, 2)
            self.assertEqual(c._transport.sleep.waits, [])
        finally:
            fake.close()

    def test_stale_socket_is_reopened_without_a_retry(self):
        fake = FakeGradd([ok({"values": {"f": 1}}), ok({"values": {"f": 2}})])
        try:
            c = client_for(fake, retries=0)
            c.forward("x", inputs={"x": 1})
            # the server side goes away under the idle connection: its
            # socket is swapped for one whose peer has closed
            conn = c._transport._local.conn
            mine, theirs = socket.socketpair()
            theirs.close()
            conn.sock.close()
            conn.file.close()
            conn.sock, conn.file = mine, mine.makefile("rb")
            self.assertEqual(c.forward("x", inputs={"x": 1})["values"]["f"], 2.0)
        finally:
            fake.close()

    def test_threads_each_have_a_connection(self):
        fake = FakeGradd([ok({"values": {"f": 1}}) for _ in range(8)])
        try:
            c = client_for(fake)
            errors = []

            def work():
                try:
                    for _ in range(2):
                        c.forward("x", inputs={"x": 1})
                except Exception as e:  # noqa: BLE001 -- reported below
                    errors.append(e)
            ts = [threading.Thread(target=work) for _ in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(30)
            self.assertEqual(errors, [])
            self.assertEqual(fake.connections, 4)
        finally:
            fake.close()


class Retries(unittest.TestCase):
    def test_503_is_retried_honouring_retry_after(self):
        busy = refused({"error": "the queue is full", "code": "overloaded", "path": ""}, 503, {"Retry-After": "1"})
        fake = FakeGradd([busy, busy, ok({"values": {"f": 6}})])
        try:
            c = client_for(fake, backoff=0.01)
            self.assertEqual(c.forward("x", inputs={"x": 1})["values"]["f"], 6.0)
            self.assertEqual(len(fake.requests), 3)
            waits = c._transport.sleep.waits
            self.assertEqual(len(waits), 2)
            self.assertTrue(all(w >= 1.0 for w in waits), waits)  # Retry-After: 1 beats backoff 0.01
        finally:
            fake.close()

    def test_503_after_the_last_retry_is_raised(self):
        busy = refused({"error": "the queue is full", "code": "overloaded", "path": ""}, 503, {"Retry-After": "2"})
        fake = FakeGradd([busy, busy, busy])
        try:
            c = client_for(fake, retries=2)
            with self.assertRaises(gradd.GraddError) as cm:
                c.forward("x", inputs={"x": 1})
            e = cm.exception
            self.assertEqual((e.status, e.code, e.retry_after), (503, "overloaded", 2.0))
            self.assertEqual(len(fake.requests), 3)
        finally:
            fake.close()

    def test_backoff_doubles_up_to_its_cap(self):
        p = gradd.RetryPolicy(retries=6, backoff=0.1, max_backoff=0.5)
        waits = [p.delay(k) for k in range(1, 6)]
        for w, base in zip(waits, [0.1, 0.2, 0.4, 0.5, 0.5]):
            self.assertTrue(base <= w <= base * 1.25, (w, base))

    def test_other_refusals_are_not_retried(self):
        fake = FakeGradd([refused({"error": "no", "code": "shape_mismatch", "path": "/graph"}, 422), ok({})])
        try:
            c = client_for(fake)
            with self.assertRaises(gradd.GraddError) as cm:
                c.forward("x", inputs={"x": 1})
            self.assertEqual((cm.exception.status, cm.exception.code), (422, "shape_mismatch"))
            self.assertEqual(len(fake.requests), 1)
        finally:
            fake.close()

    def test_refused_connection_is_retried_then_reported(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        c = gradd.Client("http://127.0.0.1:%d" % port, retries=3, backoff=0.01)
        c._transport.sleep = Sleeps()
        with self.assertRaises(gradd.GraddError) as cm:
            c.forward("x", inputs={"x": 1})
        self.assertEqual((cm.exception.status, cm.exception.code), (0, "unreachable"))
        self.assertEqual(len(c._transport.sleep.waits), 3)


class Streaming(unittest.TestCase):
    def ndjson(self, lines):
        return (200, {"Content-Type": "application/x-ndjson"}, [json.dumps(x).encode() + b"\n" for x in lines])

    def test_lines_are_yielded_then_the_final_answer(self):
        final = {"params": {"w": 1.5}, "state": {"step": 2}, "losses": [4, 1], "completed_steps": 2,
                 "stats": {}}
        fake = FakeGradd([self.ndjson([{"step": 1, "loss": 4, "elapsed_ms": 0.1},
                                       {"step": 2, "loss": 1, "elapsed_ms": 0.2}, final]),
                          ok({"values": {"f": 1}})])
        try:
            c = client_for(fake)
            lines = list(c.step_stream("(w*x-y)^2", params={"w": 1}, inputs={"x": 2, "y": 3}, steps=2,
                                       optimizer={"name": "sgd", "lr": 0.1}, report_every=1))
            self.assertEqual([x.get("step") for x in lines[:2]], [1, 2])
            self.assertEqual([x["loss"] for x in lines[:2]], [4.0, 1.0])
            self.assertEqual(lines[2]["params"]["w"], 1.5)
            self.assertEqual(lines[2]["completed_steps"], 2)
            sent = json.loads(fake.requests[0][2])
            self.assertEqual((sent["stream"], sent["report_every"]), (True, 1))
            self.assertEqual(fake.requests[0][1].get("Accept"), "application/x-ndjson")
            # the connection went back for the next request
            c.forward("x", inputs={"x": 1})
            self.assertEqual(fake.connections, 1)
        finally:
            fake.close()

    def test_an_error_line_raises(self):
        fake = FakeGradd([self.ndjson([{"step": 1, "loss": 4, "elapsed_ms": 0.1},
                                       {"error": "cancelled after 1 of 9 steps", "code": "deadline_exceeded",
                                        "path": ""}])])
        try:
            c = client_for(fake)
            it = c.step_stream("(w*x-y)^2", params={"w": 1}, inputs={"x": 2, "y": 3}, steps=9)
            self.assertEqual(next(it)["step"], 1)
            with self.assertRaises(gradd.GraddError) as cm:
                next(it)
            self.assertEqual(cm.exception.code, "deadline_exceeded")
        finally:
            fake.close()

    def test_a_daemon_without_streaming_gives_one_final_answer(self):
        fake = FakeGradd([ok({"params": {"w": 1.5}, "state": {}, "losses": [4], "stats": {}})])
        try:
            c = client_for(fake)
            lines = list(c.step_stream("(w*x-y)^2", params={"w": 1}, inputs={"x": 2, "y": 3}))
            self.assertEqual(len(lines), 1)
            self.assertEqual(lines[0]["params"]["w"], 1.5)
        finally:
            fake.close()

    def test_a_refused_stream_raises_before_any_line(self):
        fake = FakeGradd([refused({"error": "lr must be a number", "code": "invalid_request",
                                   "path": "/optimizer/lr"}, 400)])
        try:
            c = client_for(fake)
            with self.assertRaises(gradd.GraddError) as cm:
                list(c.step_stream("(w*x-y)^2", params={"w": 1}, inputs={"x": 2, "y": 3}))
            self.assertEqual((cm.exception.status, cm.exception.path), (400, "/optimizer/lr"))
        finally:
            fake.close()


@unittest.skipUnless(tensors.HAVE_NUMPY, "binary tensors need numpy")
class BinaryTensors(unittest.TestCase):
    def test_request_and_answer_in_the_binary_extension(self):
        np = tensors.np
        out = np.array([[1.5, -2.0]], dtype="<f8").tobytes()
        header = json.dumps({"values": {"f": {"shape": [1, 2], "parameters": {"binary_data_size": 16}}}}).encode()
        fake = FakeGradd([(200, {"Content-Type": "application/octet-stream",
                                 "Inference-Header-Content-Length": str(len(header))}, header + out)])
        try:
            c = client_for(fake)
            r = c.forward("x*2", inputs={"x": np.array([[0.75, -1.0]]), "n": 3})
            np.testing.assert_array_equal(r["values"]["f"], [[1.5, -2.0]])
            path, headers, body = fake.requests[0]
            n = int(headers["Inference-Header-Content-Length"])
            sent = json.loads(body[:n])
            self.assertEqual(sent["binary_data_output"], True)
            self.assertEqual(sent["inputs"]["x"], {"shape": [1, 2], "datatype": "FP64",
                                                   "parameters": {"binary_data_size": 16}})
            self.assertEqual(sent["inputs"]["n"], 3)
            self.assertEqual(body[n:], np.array([0.75, -1.0], "<f8").tobytes())
        finally:
            fake.close()

    def test_big_tensors_go_and_come_back_whole(self):
        """Tensors past the one-write size are sent from their arrays'
        memory after the JSON; an answer over 4 MiB lands in a mapped
        buffer; the arrays handed back are writable and the bytes right."""
        np = tensors.np
        big = np.arange(1 << 20, dtype="<f8") * 0.5  # 8 MiB
        small = np.array([1.0, 2.0])
        header = json.dumps({"values": {"f": {"shape": [1 << 20], "parameters": {"binary_data_size": big.nbytes}},
                                        "g": {"shape": [2], "parameters": {"binary_data_size": 16}}}}).encode()
        fake = FakeGradd([(200, {"Content-Type": "application/octet-stream",
                                 "Inference-Header-Content-Length": str(len(header))},
                           header + big.tobytes() + small.tobytes())])
        try:
            c = client_for(fake)
            r = c.forward("a+b", inputs={"a": big, "b": small})
            f, g = r["values"]["f"], r["values"]["g"]
            np.testing.assert_array_equal(f, big)
            np.testing.assert_array_equal(g, small)
            self.assertTrue(f.flags.writeable and g.flags.writeable)
            f[0] = 7.0  # a view of the answer's buffer, not of the request's array
            self.assertEqual(big[0], 0.0)
            path, headers, body = fake.requests[0]
            n = int(headers["Inference-Header-Content-Length"])
            self.assertEqual(int(headers["Content-Length"]), len(body))
            self.assertEqual(body[n:], big.tobytes() + small.tobytes())
        finally:
            fake.close()

    def test_a_big_json_answer_and_a_big_refusal(self):
        """Answers of 4 MiB or more are read into a mapped buffer: a plain
        JSON one still parses, and a refusal's envelope still reads."""
        n = 1_000_000
        text = json.dumps({"values": {"f": {"shape": [n], "data": [0.5] * n}}}).encode()
        self.assertGreater(len(text), 4 << 20)
        refusal = json.dumps({"error": "x" * (5 << 20), "code": "invalid_request", "path": "/inputs"}).encode()
        fake = FakeGradd([(200, {"Content-Type": "application/json"}, text),
                          (400, {"Content-Type": "application/json"}, refusal)])
        try:
            c = client_for(fake)
            r = c.forward("x", inputs={"x": 1.0}, encoding="flat")
            self.assertEqual(r["values"]["f"].shape, (n,))
            self.assertEqual(float(r["values"]["f"][-1]), 0.5)
            with self.assertRaises(gradd.GraddError) as cm:
                c.forward("x", inputs={"x": 1.0})
            self.assertEqual((cm.exception.status, cm.exception.code, cm.exception.path), (400, "invalid_request", "/inputs"))
        finally:
            fake.close()


    def test_answer_buffers_are_reused_once_nothing_views_them(self):
        """A big answer's mapping is kept for the next answers: one still
        viewed by an array is never written over, one no longer viewed is
        used again (also for an answer a few bytes longer), and at most
        two are kept."""
        np = tensors.np

        def answer(k, pad):
            data = np.full(1 << 20, float(k), dtype="<f8")  # 8 MiB
            header = json.dumps({"values": {"f": {"shape": [1 << 20], "parameters": {"binary_data_size": data.nbytes}}},
                                 "pad": "x" * pad}).encode()
            return (200, {"Content-Type": "application/octet-stream",
                          "Inference-Header-Content-Length": str(len(header))}, header + data.tobytes())

        fake = FakeGradd([answer(k, pad) for k, pad in [(1, 0), (2, 0), (3, 5), (4, 9), (5, 0), (6, 0)]])
        made = []
        new_mapping = transport._new_mapping

        def counted(n):
            made.append(n)
            return new_mapping(n)

        transport._new_mapping = counted
        try:
            c = client_for(fake)

            def call():
                return c.forward("x", inputs={"x": 1.0})["values"]["f"]

            f1 = call()
            f2 = call()
            self.assertEqual((float(f1.min()), float(f1.max())), (1.0, 1.0))  # f1's mapping was not reused
            self.assertEqual(len(made), 2)
            del f1
            f3 = call()  # a longer answer, into f1's old mapping
            self.assertEqual(len(made), 2)
            self.assertEqual((float(f2.min()), float(f3.min()), float(f3.max())), (2.0, 3.0, 3.0))
            held = [f2, f3]
            for k in (4, 5, 6):  # every mapping viewed: a new one each, never more than two kept
                held.append(call())
                self.assertLessEqual(len(c._transport._local.conn.buffers.kept), 2)
            self.assertEqual(len(made), 5)
            self.assertEqual([float(f.min()) for f in held], [2.0, 3.0, 4.0, 5.0, 6.0])
            self.assertEqual([float(f.max()) for f in held], [2.0, 3.0, 4.0, 5.0, 6.0])
        finally:
            transport._new_mapping = new_mapping
            fake.close()


if __name__ == "__main__":
    unittest.main()
