// Tests of gradd.js's retries and streamed step against a tiny fake
// server (node --test; no daemon needed): a 503 is retried honouring
// Retry-After, other refusals are not, an unreachable daemon is retried
// then reported, and stepStream yields NDJSON lines as they arrive.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { Client, GraddError } from "../gradd.js";

/** A server answering from `script`: each item {status, headers, body}
 * where body is a string or an array of strings sent as separate chunks. */
async function fake(script) {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    let body = "";
    for await (const c of req) body += c;
    requests.push({ url: req.url, headers: req.headers, body });
    const a = script.shift() ?? { status: 200, body: "{}" };
    res.writeHead(a.status, { "Content-Type": "application/json", ...a.headers });
    if (Array.isArray(a.body)) {
      for (const part of a.body) {
        res.write(part);
        await new Promise((r) => setTimeout(r, 5));
      }
      res.end();
    } else res.end(a.body);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

const json = (obj, status = 200, headers = {}) => ({ status, headers, body: JSON.stringify(obj) });
const busy = (retryAfter) => json({ error: "the queue is full", code: "overloaded", path: "" }, 503,
  retryAfter === undefined ? {} : { "Retry-After": String(retryAfter) });

function recordingClient(url, options = {}) {
  const c = new Client(url, options);
  c.waits = [];
  c.sleep = async (ms) => { c.waits.push(ms); };
  return c;
}

test("503 is retried, honouring Retry-After", async () => {
  const s = await fake([busy(1), busy(1), json({ values: { f: 6 } })]);
  try {
    const c = recordingClient(s.url, { backoffMs: 10 });
    const r = await c.forward({ graph: "x", inputs: { x: 6 } });
    assert.equal(r.values.f, 6);
    assert.equal(s.requests.length, 3);
    assert.equal(c.waits.length, 2);
    assert.ok(c.waits.every((w) => w >= 1000), String(c.waits));
  } finally { await s.close(); }
});

test("503 after the last retry rejects with its envelope", async () => {
  const s = await fake([busy(2), busy(2), busy(2)]);
  try {
    const c = recordingClient(s.url, { retries: 2 });
    await assert.rejects(c.forward({ graph: "x", inputs: { x: 1 } }), (e) => {
      assert.ok(e instanceof GraddError);
      assert.deepEqual([e.status, e.code, e.retryAfter], [503, "overloaded", 2]);
      return true;
    });
    assert.equal(s.requests.length, 3);
  } finally { await s.close(); }
});

test("other refusals are not retried", async () => {
  const s = await fake([json({ error: "no", code: "shape_mismatch", path: "/graph" }, 422), json({})]);
  try {
    const c = recordingClient(s.url);
    await assert.rejects(c.forward({ graph: "x" }), (e) => e.status === 422 && e.code === "shape_mismatch");
    assert.equal(s.requests.length, 1);
    assert.deepEqual(c.waits, []);
  } finally { await s.close(); }
});

test("backoff doubles up to its cap", () => {
  const c = new Client("http://x", { backoffMs: 100, maxBackoffMs: 500 });
  [100, 200, 400, 500, 500].forEach((base, i) => {
    const w = c.retryDelayMs(i + 1);
    assert.ok(w >= base && w <= base * 1.25, `${w} for ${base}`);
  });
  assert.ok(c.retryDelayMs(1, 3) >= 3000);
});

test("an unreachable daemon is retried, then reported", async () => {
  const probe = net.createServer();
  await new Promise((r) => probe.listen(0, "127.0.0.1", r));
  const port = probe.address().port;
  await new Promise((r) => probe.close(r));
  const c = recordingClient(`http://127.0.0.1:${port}`, { retries: 3 });
  await assert.rejects(c.ops(), (e) => e.status === 0 && e.code === "unreachable");
  assert.equal(c.waits.length, 3);
});

const ndjson = (lines) => ({
  status: 200, headers: { "Content-Type": "application/x-ndjson" },
  body: lines.map((l) => JSON.stringify(l) + "\n"),
});

test("stepStream yields progress lines, then the final answer", async () => {
  const final = { params: { w: 1.5 }, state: { step: 2 }, losses: [4, 1], completed_steps: 2, stats: {} };
  const s = await fake([ndjson([{ step: 1, loss: 4, elapsed_ms: 0.1 }, { step: 2, loss: 1, elapsed_ms: 0.2 }, final])]);
  try {
    const c = recordingClient(s.url);
    const lines = [];
    for await (const line of c.stepStream({ graph: "(w*x-y)^2", params: { w: 1 }, steps: 2 }, { reportEvery: 1 })) {
      lines.push(line);
    }
    assert.deepEqual(lines.map((l) => l.step), [1, 2, undefined]);
    assert.deepEqual(lines[2], final);
    const sent = JSON.parse(s.requests[0].body);
    assert.deepEqual([sent.stream, sent.report_every], [true, 1]);
    assert.equal(s.requests[0].headers.accept, "application/x-ndjson");
  } finally { await s.close(); }
});

test("stepStream: a line split across chunks is put back together", async () => {
  const text = JSON.stringify({ step: 1, loss: 2, elapsed_ms: 0 }) + "\n" + JSON.stringify({ params: {}, losses: [2] });
  const s = await fake([{ status: 200, headers: { "Content-Type": "application/x-ndjson" },
    body: [text.slice(0, 7), text.slice(7, 30), text.slice(30)] }]);
  try {
    const lines = [];
    for await (const l of recordingClient(s.url).stepStream({ graph: "x" })) lines.push(l);
    assert.equal(lines.length, 2);
    assert.deepEqual(lines[1].losses, [2]);
  } finally { await s.close(); }
});

test("stepStream: an error line throws; a refusal throws before any line", async () => {
  const s = await fake([
    ndjson([{ step: 1, loss: 4, elapsed_ms: 0.1 }, { error: "cancelled after 1 of 9 steps", code: "deadline_exceeded", path: "" }]),
    json({ error: "lr must be a number", code: "invalid_request", path: "/optimizer/lr" }, 400),
    busy(0), json({ params: { w: 2 }, losses: [1] }),
  ]);
  try {
    const c = recordingClient(s.url);
    const got = [];
    await assert.rejects((async () => { for await (const l of c.stepStream({ graph: "x" })) got.push(l); })(),
      (e) => e.code === "deadline_exceeded");
    assert.equal(got.length, 1);
    await assert.rejects((async () => { for await (const l of c.stepStream({ graph: "x" })) got.push(l); })(),
      (e) => e.status === 400 && e.path === "/optimizer/lr");
    // a 503 before the stream starts is retried; a one-piece answer is one line
    const lines = [];
    for await (const l of c.stepStream({ graph: "x" })) lines.push(l);
    assert.deepEqual(lines, [{ params: { w: 2 }, losses: [1] }]);
  } finally { await s.close(); }
});
