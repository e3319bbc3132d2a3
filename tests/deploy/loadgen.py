#!/usr/bin/env python3
"""tests/deploy/loadgen.py -- steady load on gradd through a load balancer.

    python3 loadgen.py --url http://127.0.0.1:PORT --clients 6 \
        --stop-file FILE --max-seconds 120

Each client thread keeps one keep-alive connection (http.client) and POSTs
requests in a loop until FILE exists (or --max-seconds pass). Every answer
is checked, not only its status: the JSON body must hold the values and
gradients (or the trained parameter) that the request implies. Two kinds
of request alternate:
  - gradient: f = (a+b)*(b+1) at random small integers a, b:
      f = (a+b)(b+1), df/da = b+1, df/db = a+2b+1, all exact in float64;
  - step: 2000 SGD steps on (w*x - y)^2 with x = 2, y = 2t, lr 0.05, which
      converges to w = t; it keeps a replica busy for about a millisecond,
      so that some requests are in flight when a replica is stopped.
With --slow, it sends one request instead, directly to a replica, that
computes for about a second (300 SGD steps of a 256x256 matmul whose
result is exact: w goes down by 1 per step), and checks its answer: that
request is in flight when the replica is told to stop. With --big, one
request of about 1.5 MB (sum(x*x) over 300,000 numbers; the gradient is 2x),
larger than nginx keeps in memory.
A failed request (connection error, timeout, non-200 status, wrong body)
is counted and logged, and the client opens a new connection. The last
line printed is "loadgen: sent N, ok N, failed N"; the exit status is 1
when any request failed or none was sent.
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse


def gradient_case(rng):
    a, b = rng.randint(-50, 50), rng.randint(-50, 50)
    body = {"graph": "(a+b)*(b+1)", "inputs": {"a": a, "b": b}}

    def check(resp):
        want_f = (a + b) * (b + 1)
        want_g = {"a": b + 1, "b": a + 2 * b + 1}
        if resp.get("values") != {"f": want_f}:
            return "values %r, want f=%r" % (resp.get("values"), want_f)
        if resp.get("gradients") != want_g:
            return "gradients %r, want %r" % (resp.get("gradients"), want_g)
        return None

    return "/v1/gradient", body, check


def step_case(rng):
    t = rng.randint(-20, 20)
    steps = 2000
    body = {"graph": "(w*x - y)^2", "params": {"w": 1}, "inputs": {"x": 2, "y": 2 * t},
            "optimizer": {"name": "sgd", "lr": 0.05}, "steps": steps}

    def check(resp):
        w = resp.get("params", {}).get("w")
        losses = resp.get("losses")
        if not isinstance(w, (int, float)) or abs(w - t) > 1e-9:
            return "params.w %r, want %r" % (w, t)
        if not isinstance(losses, list) or len(losses) != steps or losses[-1] > 1e-18:
            return "losses: %d entries ending %r" % (len(losses or []), (losses or [None])[-1])
        return None

    return "/v1/step", body, check


def slow_case(rng):
    steps, n = 300, 256
    # loss = sum(W @ X) with W, X all w and all x: n^3 * w * x; with x = 1
    # and lr = 1 / n^3 each step takes 1 off w, exactly.
    body = {"graph": "sum(expand(w, shape=[%d,%d]) @ expand(x, shape=[%d,%d]))" % (n, n, n, n),
            "params": {"w": 1}, "inputs": {"x": 1},
            "optimizer": {"name": "sgd", "lr": 1.0 / n ** 3}, "steps": steps}

    def check(resp):
        if resp.get("params") != {"w": 1 - steps}:
            return "params %r, want w=%d" % (resp.get("params"), 1 - steps)
        if resp.get("losses") != [n ** 3 * (1 - k) for k in range(steps)]:
            return "losses differ from n^3 * (1 - k)"
        return None

    return "/v1/step", body, check


def big_case(rng):
    # About 1.5 MB of JSON: more than nginx keeps in memory
    # (client_body_buffer_size), so the body goes through its temp files.
    x = [rng.randint(-99, 99) for _ in range(300000)]
    body = {"graph": "sum(x*x)", "inputs": {"x": x}}

    def check(resp):
        if resp.get("values") != {"f": sum(v * v for v in x)}:
            return "values %r" % resp.get("values")
        if resp.get("gradients") != {"x": [2 * v for v in x]}:
            return "gradients differ from 2x"
        return None

    return "/v1/gradient", body, check


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = self.ok = self.failed = 0
        self.errors = []

    def add(self, err):
        with self.lock:
            self.sent += 1
            if err is None:
                self.ok += 1
            else:
                self.failed += 1
                if len(self.errors) < 20:
                    self.errors.append(err)
                print("loadgen: FAILED: %s" % err, file=sys.stderr, flush=True)


def client(idx, host, port, args, stats, done):
    rng = random.Random(1000 + idx)
    conn = None
    while not done.is_set():
        if conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=args.timeout)
        path, body, check = (step_case if rng.random() < args.step_share else gradient_case)(rng)
        data = json.dumps(body).encode()
        err = None
        try:
            conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            raw = resp.read()
            if resp.status != 200:
                err = "%s: status %d: %s" % (path, resp.status, " ".join(raw[:200].decode(errors="replace").split()))
            else:
                msg = check(json.loads(raw))
                if msg:
                    err = "%s: %s" % (path, msg)
            if resp.will_close:
                conn.close()
                conn = None
        except Exception as e:  # connection reset, timeout, bad JSON: all failures
            err = "%s: %s: %s" % (path, type(e).__name__, e)
        if err is not None and conn is not None:
            conn.close()
            conn = None
        stats.add(err)
    if conn is not None:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="http://host:port of the load balancer")
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--stop-file", help="stop once this file exists")
    ap.add_argument("--max-seconds", type=float, default=60)
    ap.add_argument("--timeout", type=float, default=30, help="per request, seconds")
    ap.add_argument("--step-share", type=float, default=0.25, help="share of step requests")
    ap.add_argument("--progress-file", help="rewritten once a second with the counts so far")
    ap.add_argument("--slow", action="store_true", help="send one slow request and check it")
    ap.add_argument("--big", action="store_true", help="send one request of 1.5 MB and check it")
    args = ap.parse_args()
    u = urllib.parse.urlsplit(args.url)
    stats, done = Stats(), threading.Event()
    if args.slow or args.big:
        t0 = time.monotonic()
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=args.timeout)
        path, body, check = (slow_case if args.slow else big_case)(random.Random(7))
        try:
            conn.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            raw = resp.read()
            err = check(json.loads(raw)) if resp.status == 200 else "status %d: %s" % (resp.status, raw[:200])
        except Exception as e:
            err = "%s: %s" % (type(e).__name__, e)
        print("loadgen: %s request (%d bytes): %s after %.2f s"
              % ("slow" if args.slow else "big", len(json.dumps(body)), err or "ok", time.monotonic() - t0))
        return 1 if err else 0
    threads = [threading.Thread(target=client, args=(i, u.hostname, u.port, args, stats, done))
               for i in range(args.clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    while time.monotonic() - t0 < args.max_seconds:
        if args.stop_file and os.path.exists(args.stop_file):
            break
        if args.progress_file:
            with stats.lock:
                line = "%d %d %d\n" % (stats.sent, stats.ok, stats.failed)
            with open(args.progress_file + ".new", "w") as f:
                f.write(line)
            os.replace(args.progress_file + ".new", args.progress_file)
        time.sleep(0.2)
    done.set()
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    print("loadgen: %d clients for %.1f s, %.0f requests/s" % (args.clients, secs, stats.sent / secs))
    for e in stats.errors:
        print("loadgen: error: %s" % e)
    print("loadgen: sent %d, ok %d, failed %d" % (stats.sent, stats.ok, stats.failed))
    return 0 if stats.failed == 0 and stats.sent > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
