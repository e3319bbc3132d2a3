// The JS client and the graph store (node --test): uploadGraph, a ref in a
// request, and the automatic upload-and-resend when a replica lacks the
// ref, against two daemons where only one has the graph (GRADD_URL and
// GRADD_AUTH_URL with GRADD_API_KEY as tests/clients/run.sh starts them;
// started here from GRADD_BIN when GRADD_URL is unset).
// loss = sum((x*w)^2) at x = [1, 2], w = [3, 4] is 73; d loss/dw = 2 x^2 w = [6, 32].
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Client, GraddError } from "../gradd.js";
import { startDaemon } from "./daemon.mjs";

const started = [];
let URL_ = process.env.GRADD_URL;
let AUTH_URL = process.env.GRADD_AUTH_URL;
let API_KEY = process.env.GRADD_API_KEY;


before(async () => {
  if (!URL_) {
    URL_ = await startDaemon([], started);
    API_KEY = "js-key-1";
    AUTH_URL = await startDaemon(["--api-keys", API_KEY], started);
  }
});

after(async () => {
  for (const p of started) {
    const gone = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    await gone;
  }
});

const graph = (salt) => ({
  inputs: { x: [2] }, params: { w: [2] }, constants: { [`salt_${salt}_${process.pid}_${Date.now()}`]: 0 },
  nodes: [{ name: "y", op: "mul", inputs: ["x", "w"] }, { name: "loss", expr: "sum(y*y)" }], loss: "loss",
});
const values = { inputs: { x: [1, 2] }, params: { w: [3, 4] } };

test("uploadGraph, then a ref on gradient", async () => {
  const c = new Client(URL_);
  const g = graph("js-upload");
  const s = await c.uploadGraph(g);
  assert.equal(s.ref, "sha256:" + createHash("sha256").update(JSON.stringify(g)).digest("hex"));
  assert.equal(s.format, "json");
  assert.deepEqual(s.params, { w: [2] });
  assert.equal((await c.graphSummary(s.ref)).ref, s.ref);
  const r = await c.gradient({ graph: { ref: s.ref }, ...values });
  assert.equal(r.values.loss, 73);
  assert.deepEqual(r.gradients.w, [6, 32]);
});

test("an unknown ref is graph_not_found, not retried", async () => {
  const c = new Client(URL_);
  await assert.rejects(c.forward({ graph: { ref: "sha256:" + "1".repeat(64) }, ...values }),
    (e) => e instanceof GraddError && e.status === 404 && e.code === "graph_not_found");
});

test("two replicas, only one has the graph: upload and resend by itself", async () => {
  const g = graph("js-replicas");
  const one = new Client(URL_);
  const ref = (await one.uploadGraph(g)).ref;
  const two = new Client(AUTH_URL, { apiKey: API_KEY });
  await assert.rejects(two.graphSummary(ref), (e) => e.code === "graph_not_found");
  assert.equal(await two.rememberGraph(g), ref);
  const r = await two.gradient({ graph: { ref }, ...values });
  assert.deepEqual(r.gradients.w, [6, 32]);
  assert.equal((await two.graphSummary(ref)).ref, ref);
});

test("stepStream on a replica without the graph: upload and resend by itself", async () => {
  // sgd lr 0.01 from w = [3, 4]: loss 73, gradient [6, 32], w -> [2.94, 3.68];
  // then loss (1*2.94)^2 + (2*3.68)^2 = 62.8132 and w -> w - 0.01 * 2 x^2 w.
  const g = graph("js-stream-replicas");
  const one = new Client(URL_);
  const ref = (await one.uploadGraph(g)).ref;
  const two = new Client(AUTH_URL, { apiKey: API_KEY });
  assert.equal(await two.rememberGraph(g), ref);
  const lines = [];
  for await (const line of two.stepStream({ graph: { ref }, ...values, steps: 2, optimizer: { name: "sgd", lr: 0.01 } })) {
    lines.push(line);
  }
  const final = lines.at(-1);
  assert.equal(final.completed_steps, 2);
  assert.deepEqual(lines.slice(0, -1).map((l) => l.step), [1, 2]);
  assert.deepEqual(final.losses.map((v) => Math.round(v * 1e10) / 1e10), [73, 62.8132]);
  const want = [2.94 - 0.01 * 2 * 2.94, 3.68 - 0.01 * 8 * 3.68];
  final.params.w.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-12, `w[${i}] = ${v}, want ${want[i]}`));
  assert.equal((await two.graphSummary(ref)).ref, ref); // uploaded by the retry
});

test("stepStream: a ref this client never saw stays graph_not_found", async () => {
  const c = new Client(URL_);
  const stream = c.stepStream({ graph: { ref: "sha256:" + "2".repeat(64) }, ...values, steps: 1,
    optimizer: { name: "sgd", lr: 0.1 } });
  await assert.rejects(async () => { for await (const _ of stream) { /* none */ } },
    (e) => e instanceof GraddError && e.status === 404 && e.code === "graph_not_found");
});
