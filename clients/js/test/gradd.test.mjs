// Tests of clients/js/gradd.js against a live daemon (node --test).
//
// The daemon: GRADD_URL (and GRADD_AUTH_URL with GRADD_API_KEY for the API
// keys); when GRADD_URL is unset the tests start GRADD_BIN (default
// build/gradd of this repository) on free ports and stop it after.
// Expected answers are worked by hand (comments), not taken from gradd.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import {
  Client, GraddError, b64Tensor, fromB64Tensor, float64ToBase64, base64ToFloat64, float32ToBase64, base64ToFloat32,
} from "../gradd.js";
import { startDaemon } from "./daemon.mjs";

const started = [];
let URL_ = process.env.GRADD_URL;
let AUTH_URL = process.env.GRADD_AUTH_URL;
let API_KEY = process.env.GRADD_API_KEY;


before(async () => {
  if (!URL_) {
    URL_ = await startDaemon([], started);
    API_KEY = "js-key-1";
    AUTH_URL = await startDaemon(["--api-keys", `${API_KEY},js-key-2`], started);
  }
});

after(async () => {
  for (const p of started) {
    const gone = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), 20000);
    await gone;
    clearTimeout(t);
  }
});

const close = (got, want, tol = 1e-12) =>
  assert.ok(Math.abs(got - want) <= tol * (1 + Math.abs(want)), `${got}, want ${want}`);

test("gradient: seed000 e = (a+b)(b+1) at a=2, b=1", async () => {
  // e = 6, de/da = b+1 = 2, de/db = (a+b) + (b+1) = 5
  const r = await new Client(URL_).gradient({ graph: "(a+b)*(b+1)", inputs: { a: 2, b: 1 } });
  assert.deepEqual(r.values, { f: 6 });
  assert.deepEqual(r.gradients, { a: 2, b: 5 });
  assert.equal(typeof r.stats.nodes, "number");
});

test("forward, jvp, hvp, check", async () => {
  const c = new Client(URL_, { timeoutMs: 10000 });
  // x*y + sin(x) at x=0: 0; its derivative along x: y + cos x = 5.2
  assert.equal((await c.forward({ graph: "x*y + sin(x)", inputs: { x: 0, y: 4.2 } })).values.f, 0);
  const j = await c.jvp({ graph: "x*y + sin(x)", inputs: { x: 0, y: 4.2 }, tangents: { x: 1 } });
  close(j.tangents.f, 5.2);
  // x^3 at 2: 8, f'' = 6x = 12
  const h = await c.hvp({ graph: "x*x*x", params: { x: 2 }, vector: { x: 1 } });
  assert.equal(h.values.f, 8);
  close(h.hvp.x, 12);
  const k = await c.check({ graph: "x*y", inputs: { x: 3, y: 4 } });
  assert.equal(k.values.f, 12);
  assert.ok(k.check.x.max_abs_error < 1e-6);
});

test("step: SGD with momentum, state sent back", async () => {
  const c = new Client(URL_);
  const req = { graph: "(w*x - y)^2", inputs: { x: 2, y: 3 }, optimizer: { name: "sgd", lr: 0.25, momentum: 0.9 } };
  // L = (wx-y)^2 = 1 at w=1, dL/dw = 2(wx-y)x = -4: velocity -4, w = 1 + 1 = 2
  const r1 = await c.step({ ...req, params: { w: 1 } });
  close(r1.params.w, 2);
  assert.deepEqual(r1.losses, [1]);
  // at w=2: g = 4, velocity = 0.9*-4 + 4 = 0.4, w = 2 - 0.1 = 1.9
  const r2 = await c.step({ ...req, params: r1.params, state: r1.state });
  close(r2.params.w, 1.9);
});

test("gradient-graph posted back to forward gives the gradient", async () => {
  const c = new Client(URL_);
  const g = await c.gradientGraph({ graph: "(a+b)*(b+1)", inputs: { a: 2, b: 1 } });
  const { a, b } = g.gradients;
  const f = await c.forward({ graph: g.graph, inputs: { a: 2, b: 1 }, outputs: [a, b] });
  assert.equal(f.values[a], 2);
  assert.equal(f.values[b], 5);
});

test("ops: the catalogue", async () => {
  const names = (await new Client(URL_).ops()).ops.map((o) => o.name);
  assert.ok(names.includes("matmul") && names.includes("softmax"));
});

test("errors carry status, code and path", async () => {
  const c = new Client(URL_);
  await assert.rejects(c.forward({ graph: "x + y", inputs: { x: [1, 2, 3], y: [1, 2] } }), (e) => {
    assert.ok(e instanceof GraddError);
    assert.equal(e.status, 422);
    assert.equal(e.code, "shape_mismatch");
    assert.equal(typeof e.path, "string");
    return true;
  });
  await assert.rejects(c.forward({ graph: "x*2", inputs: { x: 1 }, output: ["f"] }), (e) => {
    assert.deepEqual([e.status, e.code, e.path], [400, "unknown_field", "/output"]);
    return true;
  });
});

test("unreachable and timeout", async () => {
  // a port nobody listens on
  const probe = net.createServer();
  await new Promise((r) => probe.listen(0, "127.0.0.1", r));
  const port = probe.address().port;
  await new Promise((r) => probe.close(r));
  await assert.rejects(new Client(`http://127.0.0.1:${port}`).ops(), (e) => e.status === 0 && e.code === "unreachable");
  // a listener that never answers: aborted after the timeout
  const sockets = [];
  const silent = net.createServer((s) => sockets.push(s));
  await new Promise((r) => silent.listen(0, "127.0.0.1", r));
  try {
    const c = new Client(`http://127.0.0.1:${silent.address().port}`, { timeoutMs: 300 });
    await assert.rejects(c.gradient({ graph: "x", inputs: { x: 1 } }), (e) => e.status === 0 && e.code === "timeout");
  } finally {
    sockets.forEach((s) => s.destroy());
    await new Promise((r) => silent.close(r));
  }
  assert.throws(() => new Client(URL_, { timeoutMs: 0 }), RangeError);
});

test("API keys: 401 without or with a wrong key, 200 with the right one", async () => {
  for (const apiKey of [null, "wrong"]) {
    await assert.rejects(new Client(AUTH_URL, { apiKey }).gradient({ graph: "x*x", inputs: { x: 3 } }),
      (e) => e.status === 401 && e.code === "unauthorized");
  }
  const r = await new Client(AUTH_URL, { apiKey: API_KEY }).gradient({ graph: "x*x", inputs: { x: 3 } });
  assert.equal(r.gradients.x, 6); // 2x
});

test("b64 helpers: known bytes", () => {
  // 1.0 and 2.0 as little-endian float64: 00..f03f, 00..0040
  assert.equal(float64ToBase64(new Float64Array([1, 2])), "AAAAAAAA8D8AAAAAAAAAQA==");
  assert.deepEqual([...base64ToFloat64("AAAAAAAA8D8AAAAAAAAAQA==")], [1, 2]);
  // as float32: 0000803f 00000040
  assert.equal(float32ToBase64(new Float32Array([1, 2])), "AACAPwAAAEA=");
  assert.deepEqual([...base64ToFloat32("AACAPwAAAEA=")], [1, 2]);
  const odd = new Float64Array([NaN, -Infinity, 0.1, -0]);
  const back = base64ToFloat64(float64ToBase64(odd));
  assert.ok(Number.isNaN(back[0]) && back[1] === -Infinity && back[2] === 0.1 && Object.is(back[3], -0));
  assert.throws(() => b64Tensor(new Float64Array(3), [2, 2]), RangeError);
});

test("b64 tensors both ways through the daemon, float64 and float32", async () => {
  const c = new Client(URL_);
  const x = new Float64Array([1, 2.5, -4]);
  const r = await c.forward({ graph: "x*2", inputs: { x: b64Tensor(x) }, encoding: "b64" });
  assert.deepEqual(r.values.f.shape, [3]);
  assert.deepEqual([...fromB64Tensor(r.values.f)], [2, 5, -8]);
  const graph = { dtype: "float32", inputs: { x: [2, 2] }, nodes: [{ name: "y", expr: "x*2" }], loss: "y" };
  const x32 = new Float32Array([0.1, 1, 2, 3]);
  const r32 = await c.forward({ graph, inputs: { x: b64Tensor(x32, [2, 2]) }, outputs: ["y"], encoding: "b64" });
  const y = fromB64Tensor(r32.values.y, "float32");
  assert.ok(y instanceof Float32Array);
  assert.deepEqual([...y], [Math.fround(0.1) * 2, 2, 4, 6]);
  // a Float64Array sent to the float32 graph: its datatype says FP64, the daemon converts
  const r64 = await c.forward({ graph, inputs: { x: b64Tensor(new Float64Array([0.5, 1, 2, 3]), [2, 2]) },
                                outputs: ["y"], encoding: "b64" });
  assert.deepEqual([...fromB64Tensor(r64.values.y, "float32")], [1, 2, 4, 6]);
});

test("stepStream against the daemon: a line per step, then params", async () => {
  // f = (w x - y)^2 at x = 2, y = 3, w = 1: f = 1, df/dw = 2(wx - y)x = -4; SGD lr 0.1
  // gives w = 1.4, then f = (2.8 - 3)^2 = 0.04, df/dw = -0.8 and w = 1.48
  const c = new Client(URL_);
  const lines = [];
  for await (const l of c.stepStream({ graph: "(w*x - y)^2", params: { w: 1 }, inputs: { x: 2, y: 3 }, steps: 2,
    optimizer: { name: "sgd", lr: 0.1 } })) lines.push(l);
  const final = lines[lines.length - 1];
  close(Number(final.losses[0]), 1);
  close(Number(final.losses[1]), 0.04);
  close(Number(final.params.w), 1.48);
  const progress = lines.filter((l) => l.params === undefined);
  if (progress.length) {
    assert.deepEqual(progress.map((l) => l.step), [1, 2]);
    assert.equal(final.completed_steps, 2);
  }
});
