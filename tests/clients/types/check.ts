// check.ts -- compiled (never run) by tsc --strict against
// clients/js/gradd.d.ts: the declarations must accept the client as its
// README uses it and reject misuse (the @ts-expect-error lines).
import {
  Client, GraddError, b64Tensor, fromB64Tensor, float64ToBase64, base64ToFloat32,
  type StepResponse, type StepStreamLine, type LongGraph,
} from "../../../clients/js/gradd.js";

async function usage(): Promise<number> {
  const client = new Client("http://localhost:8080", { apiKey: null, timeoutMs: 30000, retries: 3, backoffMs: 20 });
  const r = await client.gradient({ graph: "(a+b)*(b+1)", inputs: { a: 2, b: 1 } });
  const ga: unknown = r.gradients.a;

  const out = await client.forward({ graph: "x*2", inputs: { x: b64Tensor(new Float64Array([1, 2.5])) }, encoding: "b64" });
  const f = out.values.f;
  if (typeof f === "object" && !Array.isArray(f)) fromB64Tensor(f).length;

  const graph: LongGraph = {
    inputs: { x: [-1, 2] }, params: { w: [2, 1] },
    nodes: [{ name: "loss", expr: "sum((x @ w)^2)" }], loss: "loss",
  };
  let last: StepResponse | null = null;
  for await (const line of client.stepStream({ graph, params: { w: [[1], [2]] }, inputs: { x: [[1, 1]] }, steps: 5 },
    { reportEvery: 1 })) {
    const l: StepStreamLine = line;
    if ("params" in l) last = l;
    else console.log(l.step, l.loss, l.elapsed_ms);
  }
  const s = await client.step({ graph, params: last?.params, state: last?.state, optimizer: { name: "sgd", lr: 0.1 } });
  try {
    await client.ops();
  } catch (e) {
    if (e instanceof GraddError) console.log(e.status, e.code, e.path, e.error, e.retryAfter);
  }
  float64ToBase64([1, 2]);
  base64ToFloat32("AAAAAA==");
  // @ts-expect-error the graph is required
  await client.forward({ inputs: { x: 1 } });
  // @ts-expect-error timeoutMs is a number
  new Client("http://x", { timeoutMs: "fast" });
  // @ts-expect-error jvp needs tangents
  await client.jvp({ graph: "x" });
  void ga;
  return s.losses.length;
}
void usage;
